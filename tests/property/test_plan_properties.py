"""Invariants of the planner, for any DNS answer, any target group and any memory."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tgsync.model import Target
from tgsync.plan import (
    CONTINUITY_WINDOW_SECONDS,
    Action,
    Answers,
    MissingSince,
    Ownership,
    Policy,
    apply_policy,
    plan,
)

PORT = 443
STATES = [
    "initial",
    "healthy",
    "unhealthy",
    "unhealthy.draining",
    "unused",
    "draining",
    "unavailable",
    "unknown",
]
ips = st.sampled_from([f"10.0.0.{i}" for i in range(1, 13)])
times = st.floats(min_value=0, max_value=1e6, allow_nan=False)
targets = st.lists(
    st.builds(
        Target, ip=ips, port=st.sampled_from([PORT, PORT, 9200]), state=st.sampled_from(STATES)
    ),
    unique_by=lambda t: (t.ip, t.port),
    max_size=12,
)
memories = st.dictionaries(ips, st.builds(MissingSince, first=times, last=times), max_size=12)
wanted_sets = st.frozensets(ips, max_size=12)
stale = st.floats(min_value=0, max_value=10_000, allow_nan=False)


@given(wanted_sets, targets, memories, times, stale)
def test_no_ip_that_dns_returns_is_ever_deregistered(wanted, found, memory, now, stale_after):
    result = plan(
        wanted=wanted, targets=found, port=PORT, memory=memory, now=now, stale_after=stale_after
    )
    assert not {d.ip for d in result.deregister} & wanted


@given(wanted_sets, targets, memories, times, stale)
def test_after_the_plan_every_wanted_ip_is_registered_and_serving(
    wanted, found, memory, now, stale_after
):
    result = plan(
        wanted=wanted, targets=found, port=PORT, memory=memory, now=now, stale_after=stale_after
    )
    ours = {t.ip: t for t in found if t.port == PORT}
    for ip in wanted:
        decision = next(d for d in result.decisions if d.ip == ip)
        if decision.action is not Action.REGISTER:
            assert ip in ours and not ours[ip].is_draining


@given(targets, memories, times, stale)
def test_a_failed_resolution_changes_nothing(found, memory, now, stale_after):
    result = plan(
        wanted=None, targets=found, port=PORT, memory=memory, now=now, stale_after=stale_after
    )
    assert not result.has_changes and dict(result.memory) == memory


@given(wanted_sets, targets, memories, times, stale)
def test_only_our_port_is_touched_and_only_what_is_needed(wanted, found, memory, now, stale_after):
    result = plan(
        wanted=wanted, targets=found, port=PORT, memory=memory, now=now, stale_after=stale_after
    )
    ours = {t.ip for t in found if t.port == PORT}
    assert all(d.port == PORT for d in result.decisions)
    assert {d.ip for d in result.register} <= wanted
    assert {d.ip for d in result.deregister} <= ours
    assert set(result.memory) <= ours - wanted
    assert all(rec.first <= rec.last == now for rec in result.memory.values())


@given(wanted_sets, targets, memories, times, stale)
def test_upsert_only_never_deregisters(wanted, found, memory, now, stale_after):
    result = apply_policy(
        plan(
            wanted=wanted, targets=found, port=PORT, memory=memory, now=now, stale_after=stale_after
        ),
        Policy.UPSERT_ONLY,
    )
    assert not result.deregister


@settings(max_examples=300)
@given(
    wanted_sets.filter(bool),
    targets,
    memories,
    times,
    stale,
    st.lists(st.floats(min_value=1, max_value=120), min_size=1, max_size=40),
)
def test_a_healthy_missing_target_goes_exactly_when_the_stale_period_is_over(
    wanted, found, memory, start, stale_after, steps
):
    """Cycle after cycle, a serving IP missing from DNS is retired in the first cycle at
    least ``stale_after`` after it was first missing (by this run's count, or by the
    record handed in where the continuity rule trusts it), never before; a target
    that is not serving goes at once; and the group ends up holding every wanted IP."""
    group = {t.ip: t for t in found if t.port == PORT}
    now = start
    first_missing: dict[str, float] = {}
    for index, step in enumerate([0.0, *steps]):
        now += step
        handed_in = memory
        result = plan(
            wanted=wanted,
            targets=group.values(),
            port=PORT,
            memory=handed_in,
            now=now,
            stale_after=stale_after,
        )
        retired = {d.ip for d in result.deregister}
        for ip, target in group.items():
            if ip in wanted or target.is_draining:
                continue
            if target.is_not_serving:
                assert ip in retired, f"{ip} is {target.state} and not in DNS: retire it"
                continue
            if ip not in first_missing:
                record = handed_in.get(ip) if index == 0 else None
                trusted = (
                    record is not None
                    and record.first <= now
                    and record.last <= now
                    and now - record.last <= CONTINUITY_WINDOW_SECONDS
                )
                first_missing[ip] = record.first if trusted and record else now
            due = now - first_missing[ip] >= stale_after
            assert (ip in retired) == due, (
                f"{ip}: missing for {now - first_missing[ip]}s, stale after {stale_after}s, "
                f"{'retired' if ip in retired else 'kept'}"
            )
        for ip in retired:
            del group[ip]
        for decision in result.register:
            group[decision.ip] = Target(decision.ip, PORT, "healthy")
        memory = result.memory
    assert wanted <= set(group)


@given(
    st.one_of(st.none(), wanted_sets),
    targets,
    memories,
    times,
    stale,
    st.integers(1, 4),
    st.one_of(st.none(), st.integers(1, 12)),
)
def test_every_decision_reports_the_facts_it_was_made_on(
    wanted, found, memory, now, stale_after, answers, largest
):
    result = plan(
        wanted=wanted,
        targets=found,
        port=PORT,
        memory=memory,
        now=now,
        stale_after=stale_after,
        answers=Answers(answers, largest),
    )
    ours = {t.ip: t for t in found if t.port == PORT}
    ips = [d.ip for d in result.decisions]
    assert ips == sorted(set(ours) | (wanted or set()), key=lambda ip: int(ip.split(".")[-1]))
    assert result.resolved is (wanted is not None)
    for decision in result.decisions:
        assert decision.port == PORT and decision.reason
        assert decision.in_dns is (wanted is not None and decision.ip in wanted)
        assert decision.state == (ours[decision.ip].state if decision.ip in ours else None)
        if decision.action is Action.WAIT:
            assert decision.ip in result.memory and decision.ip not in result.retiring
        if decision.action is Action.DEREGISTER:
            assert decision.ip not in result.memory


@given(wanted_sets, targets, memories, times, stale)
def test_planning_is_deterministic(wanted, found, memory, now, stale_after):
    def once():
        return plan(
            wanted=wanted, targets=found, port=PORT, memory=memory, now=now, stale_after=stale_after
        )

    assert once() == once()


# --------------------------------------------------------------------------- retire=owned

ip_sets = st.frozensets(ips, max_size=12)
owners = st.dictionaries(
    ips,
    st.frozensets(st.sampled_from(["abcdef01", "12345678"]), min_size=1, max_size=2),
    max_size=12,
)
policies = st.sampled_from(list(Policy))
views = st.tuples(st.integers(1, 4), st.one_of(st.none(), st.integers(1, 12)))


@settings(max_examples=300)
@given(
    st.one_of(st.none(), wanted_sets),
    targets,
    memories,
    times,
    stale,
    ip_sets,
    owners,
    policies,
    views,
    ip_sets,
)
def test_owned_mode_never_retires_or_waits_on_what_is_not_the_mappings_alone(
    wanted, found, memory, now, stale_after, mine, others, policy, view, unanswered
):
    """A target another owner holds, or one a sharer whose lookup failed may hold
    (``unanswered``), is neither retired nor waited on; the latter stays recorded."""
    result = apply_policy(
        plan(
            wanted=wanted,
            targets=found,
            port=PORT,
            memory=memory,
            now=now,
            stale_after=stale_after,
            answers=Answers(*view),
            ownership=Ownership(mine, others, unanswered),
        ),
        policy,
    )
    only_mine = mine - set(others) - unanswered
    touched = {d.ip for d in result.decisions if d.action in (Action.DEREGISTER, Action.WAIT)}
    assert touched <= only_mine
    assert set(result.memory) <= only_mine | (set(memory) if wanted is None else set())
    ours = {t.ip for t in found if t.port == PORT}
    assert set(result.foreign) == (ours - (wanted or set()) - mine if wanted is not None else set())
    if wanted is None:
        assert result.owned is None
    else:
        held = mine & unanswered & ours
        assert result.owned is not None and wanted | held <= result.owned
        assert not result.owned & {d.ip for d in result.deregister}
        assert result.owned <= wanted | ((only_mine | held) & ours)


@given(wanted_sets, targets, memories, times, stale, views, policies)
def test_owned_mode_owning_everything_alone_plans_exactly_as_retire_all(
    wanted, found, memory, now, stale_after, view, policy
):
    """retire=all is owned mode where every target is the mapping's alone: the same
    decisions, the same memory; and retire=all records no ownership."""

    def planned(**owned):
        return apply_policy(
            plan(
                wanted=wanted,
                targets=found,
                port=PORT,
                memory=memory,
                now=now,
                stale_after=stale_after,
                answers=Answers(*view),
                **owned,
            ),
            policy,
        )

    everything = frozenset(t.ip for t in found)
    today, owned = planned(), planned(ownership=Ownership(everything))
    assert today.owned is None
    assert (today.decisions, today.memory, today.retiring) == (
        owned.decisions,
        owned.memory,
        owned.retiring,
    )
