"""Invariants of the planner, for any DNS answer, any target group and any memory."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tgsync.model import Target
from tgsync.plan import Action, Missing, Policy, apply_policy, plan

PORT = 443
STATES = ["initial", "healthy", "unhealthy", "unhealthy.draining", "unused", "draining",
          "unavailable", "unknown"]
ips = st.sampled_from([f"10.0.0.{i}" for i in range(1, 13)])
times = st.floats(min_value=0, max_value=1e6, allow_nan=False)
targets = st.lists(st.builds(Target, ip=ips, port=st.sampled_from([PORT, PORT, 9200]),
                             state=st.sampled_from(STATES)),
                   unique_by=lambda t: (t.ip, t.port), max_size=12)
memories = st.dictionaries(ips, st.builds(Missing, first=times, last=times), max_size=12)
wanted_sets = st.frozensets(ips, max_size=12)
stale = st.floats(min_value=0, max_value=10_000, allow_nan=False)


@given(wanted_sets, targets, memories, times, stale)
def test_no_ip_that_dns_returns_is_ever_deregistered(wanted, found, memory, now, stale_after):
    result = plan(wanted=wanted, targets=found, port=PORT, memory=memory, now=now,
                  stale_after=stale_after)
    assert not {d.ip for d in result.deregister} & wanted


@given(wanted_sets, targets, memories, times, stale)
def test_after_the_plan_every_wanted_ip_is_registered_and_serving(
        wanted, found, memory, now, stale_after):
    result = plan(wanted=wanted, targets=found, port=PORT, memory=memory, now=now,
                  stale_after=stale_after)
    ours = {t.ip: t for t in found if t.port == PORT}
    for ip in wanted:
        decision = next(d for d in result.decisions if d.ip == ip)
        if decision.action is not Action.REGISTER:
            assert ip in ours and not ours[ip].is_draining


@given(targets, memories, times, stale)
def test_a_failed_resolution_changes_nothing(found, memory, now, stale_after):
    result = plan(wanted=None, targets=found, port=PORT, memory=memory, now=now,
                  stale_after=stale_after)
    assert not result.has_changes and dict(result.memory) == memory


@given(wanted_sets, targets, memories, times, stale)
def test_only_our_port_is_touched_and_only_what_is_needed(
        wanted, found, memory, now, stale_after):
    result = plan(wanted=wanted, targets=found, port=PORT, memory=memory, now=now,
                  stale_after=stale_after)
    ours = {t.ip for t in found if t.port == PORT}
    assert all(d.port == PORT for d in result.decisions)
    assert {d.ip for d in result.register} <= wanted
    assert {d.ip for d in result.deregister} <= ours
    assert set(result.memory) <= ours - wanted
    assert all(rec.first <= rec.last == now for rec in result.memory.values())


@given(wanted_sets, targets, memories, times, stale)
def test_upsert_only_never_deregisters(wanted, found, memory, now, stale_after):
    result = apply_policy(plan(wanted=wanted, targets=found, port=PORT, memory=memory, now=now,
                               stale_after=stale_after), Policy.UPSERT_ONLY)
    assert not result.deregister


@settings(max_examples=200)
@given(wanted_sets.filter(bool), targets, memories, times, stale,
       st.lists(st.floats(min_value=1, max_value=120), min_size=1, max_size=40))
def test_a_healthy_missing_target_outlives_the_stale_period_and_then_goes(
        wanted, found, memory, start, stale_after, steps):
    """Cycle after cycle, a healthy IP missing from DNS is retired no earlier than
    ``stale_after`` after this run first saw it missing, and, once the plan converged,
    the group holds exactly the wanted IPs plus those still waiting."""
    group = {t.ip: t for t in found if t.port == PORT}
    now = start
    first_missing: dict[str, float] = {}
    for step in [0.0, *steps]:
        now += step
        result = plan(wanted=wanted, targets=group.values(), port=PORT, memory=memory,
                      now=now, stale_after=stale_after)
        for ip, target in group.items():
            if ip not in wanted and not target.is_not_serving and not target.is_draining:
                first_missing.setdefault(ip, now)
        for decision in result.deregister:
            target = group[decision.ip]
            if not target.is_not_serving:
                assert now - first_missing[decision.ip] >= stale_after or (
                    decision.ip in memory)  # memory handed in may predate this run
            del group[decision.ip]
        for decision in result.register:
            group[decision.ip] = Target(decision.ip, PORT, "healthy")
        memory = result.memory
    assert wanted <= set(group)


@given(wanted_sets, targets, memories, times, stale)
def test_planning_is_deterministic(wanted, found, memory, now, stale_after):
    def once():
        return plan(wanted=wanted, targets=found, port=PORT, memory=memory, now=now,
                    stale_after=stale_after)
    assert once() == once()
