"""Every feature on at once, as a hypothesis state machine over the real peers.

Explicit mappings and discovered groups (an owner, a DiscoverPrefix, a tag that tries
to widen the ranges, a group deleted mid-discovery), shared groups (``retire=owned``:
two hostnames in one group, a discovered owned group, foreign targets), an Aurora
cluster (a writer group, a ``resolve=rds`` reader group, failovers with and without the
``aws.rds`` event, readers stopped), following every second, settled groups skipped,
OpenSearch events, the preflight check beside the syncs, DNS, health, hand edits, ELB
and RDS faults and clock steps; the invariants of :mod:`testlab.stateful` are
checked after every invocation and check, and a quiet phase (the world holds still
until every group converged: liveness) may come at any step and ends every example. A
short run here (``make check`` when this directory is in it); ``make soak`` runs a long
seeded one through the same steps.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule, run_state_machine_as_test

from testlab.faultproxy import FaultProxy
from testlab.peers import DnsPeer, MotoPeer
from testlab.soak import quiet_logs
from testlab.stateful import Lab, new_lab
from testlab.stateful.layout import (
    AURORA_IPS,
    CLOCK_STEPS,
    DNS_FAILURES,
    FAULTS,
    HAND_EDITED,
    HAND_IPS,
    HEALTH,
    HEALTH_IPS,
    POOL,
)
from tgsync.provider.elbv2 import OPERATIONS
from tgsync.provider.errors import TOTAL_MAX_ATTEMPTS
from tgsync.source.rds import OPERATIONS as RDS_OPERATIONS

DOMAINS = ["alpha", "beta", "logs", "wide", "gamma", "delta", "epsilon"]
#: Examples and steps of the short run; SOAK-like longer runs: raise them.
EXAMPLES = int(os.environ.get("STATEFUL_EXAMPLES", "4"))
STEPS = int(os.environ.get("STATEFUL_STEPS", "9"))
#: Shrinking replays steps against the real peers for minutes: on demand only (the
#: failing run's steps are printed either way).
SHRINK = os.environ.get("STATEFUL_SHRINK", "") == "1"

domains = st.sampled_from(DOMAINS)
ips = st.sampled_from(POOL)
# Hypothesis leans on the first of each list (its simplest): the changes that matter most
# come first, so that even a short run meets them.
ticks = st.sampled_from([True, False])
DNS_CHANGES = [
    "remove",
    "blue/green",
    "add",
    "rotate",
    "whole",
    "poison",
    "clean",
    "answer",
    *DNS_FAILURES,
]
ENVIRONMENT = [
    "default initial",
    "default healthy",
    "cold start",
    "group deleted mid-discovery",
    *(f"clock {s:+g}" for s in CLOCK_STEPS),
    "another owner's record",
    "that record cleared",
]
STATES = sorted(HEALTH, key=lambda state: state != "unhealthy")
ACTIONS = ["*", *OPERATIONS, *RDS_OPERATIONS[:2]]


def guarded(step: Callable[..., None]) -> Callable[..., None]:
    """A rule that marks the machine broken while it runs: a failed step's failure is the
    one to report, so the final quiet phase does not run after it."""

    @functools.wraps(step)
    def run(self: Any, **values: Any) -> None:
        self.broken = True
        step(self, **values)
        self.broken = False

    return run


def machine(moto: MotoPeer, dns: DnsPeer, proxy: FaultProxy) -> type[RuleBasedStateMachine]:
    """The state machine over these peers (a fresh lab per example)."""

    class EveryFeatureAtOnce(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.broken = False
            self.lab: Lab = new_lab(moto, dns, proxy)

        def teardown(self) -> None:
            """Every example ends with the world holding still: everything converges
            (not after a failed step, whose failure is the one to report)."""
            if not self.broken:
                self.lab.quiet()

        def then(self, tick: bool) -> None:
            """A change is often followed by the schedule's next tick: the invariants are
            checked at every invocation."""
            if tick:
                self.lab.tick()

        @rule(seconds=st.sampled_from([60.0, 60.0, 55.0, 65.0]), check=st.booleans())
        @guarded
        def tick(self, seconds: float, check: bool) -> None:
            if check:  # {"check": true} beside the syncs
                self.lab.check()
            self.lab.tick(seconds)

        @rule()
        @guarded
        def quiet(self) -> None:
            """The world stops changing: every group converges within its bound."""
            self.lab.quiet()

        @rule(domain=domains, seconds=st.integers(1, 30))
        @guarded
        def opensearch_event(self, domain: str, seconds: int) -> None:
            self.lab.event(domain, float(seconds))

        @rule(domain=domains, change=st.sampled_from(DNS_CHANGES), ip=ips, then=ticks)
        @guarded
        def dns_change(self, domain: str, change: str, ip: str, then: bool) -> None:
            lab = self.lab
            if change == "add":
                lab.world.dns_add(domain, ip)
            elif change == "remove":
                lab.world.dns_remove(domain, POOL.index(ip))
            elif change == "blue/green":
                first = POOL.index(ip)  # a new set of nodes, from ip on
                lab.world.dns_replace(domain, POOL[first : first + 1 + first % 3])
            elif change in ("rotate", "whole"):
                lab.world.dns_rotate(domain, change == "rotate")
            elif change in ("poison", "clean"):
                lab.world.dns_poison(domain, change == "poison")
            else:
                lab.world.dns_mode(domain, change)
            self.then(then)

        @rule(ip=st.sampled_from(HEALTH_IPS), state=st.sampled_from(STATES), then=ticks)
        @guarded
        def health(self, ip: str, state: str, then: bool) -> None:
            self.lab.world.health(ip, state)
            self.then(then)

        @rule(
            group=st.integers(0, HAND_EDITED - 1),
            ip=st.sampled_from(HAND_IPS),
            register=st.booleans(),
            then=ticks,
        )
        @guarded
        def hand_edit(self, group: int, ip: str, register: bool, then: bool) -> None:
            if register:
                self.lab.world.hand_register(group, ip)
            else:
                self.lab.world.hand_deregister(group, ip)
            self.then(then)

        @rule(
            kind=st.sampled_from(FAULTS),
            action=st.sampled_from(ACTIONS),
            times=st.integers(1, TOTAL_MAX_ATTEMPTS),
            then=ticks,
        )
        @guarded
        def elb_fault(self, kind: str, action: str, times: int, then: bool) -> None:
            self.lab.fault(kind, action, times)
            self.then(then)

        @rule(
            to=st.sampled_from([None, 0, 1]),
            event=st.sampled_from([None, 1.0, 3.0, 6.0]),
            then=ticks,
        )
        @guarded
        def aurora_failover(self, to: int | None, event: float | None, then: bool) -> None:
            """A failover; the ``aws.rds`` event (or none) within the flip window or
            after it."""
            self.lab.aurora_failover(to, event)
            self.then(then)

        @rule(which=st.integers(0, len(AURORA_IPS) - 1), stop=st.booleans(), then=ticks)
        @guarded
        def aurora_member(self, which: int, stop: bool, then: bool) -> None:
            self.lab.world.aurora_reader(which, stop)
            self.then(then)

        @rule(change=st.sampled_from(ENVIRONMENT), then=ticks)
        @guarded
        def environment(self, change: str, then: bool) -> None:
            lab = self.lab
            if change.startswith("clock"):
                lab.world.step_clock(float(change.split()[1]))
            elif change == "cold start":
                lab.cold_start()
            elif change == "group deleted mid-discovery":
                lab.world.delete_mid_discovery()
            elif change.endswith("record"):
                lab.world.plant_record(True)
            elif change.endswith("cleared"):
                lab.world.plant_record(False)
            else:
                lab.world.default_health(change.split()[1])
            self.then(then)

    return EveryFeatureAtOnce


def test_every_feature_at_once_keeps_every_invariant(moto, dns, proxy):
    with quiet_logs():
        run_state_machine_as_test(
            machine(moto, dns, proxy),
            settings=settings(
                max_examples=EXAMPLES,
                stateful_step_count=STEPS,
                deadline=None,
                derandomize=True,
                database=None,
                print_blob=True,
                phases=[p for p in Phase if SHRINK or p not in (Phase.shrink, Phase.explain)],
                suppress_health_check=list(HealthCheck),
            ),
        )
