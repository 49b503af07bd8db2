"""Every feature on at once, as a hypothesis state machine over the real peers.

Explicit mappings and discovered groups (an owner, a DiscoverPrefix, a tag that tries
to widen the ranges, a group deleted mid-discovery), following every second, settled
groups skipped, OpenSearch events, the preflight check beside the syncs, DNS, health,
hand edits, ELB faults and clock steps; the invariants of :mod:`testlab.stateful` are
checked after every invocation and check. A short run here (``make check`` when this
directory is in it); ``make soak`` runs a long seeded one through the same steps.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule, run_state_machine_as_test

from testlab.faultproxy import FaultProxy
from testlab.peers import DnsPeer, MotoPeer
from testlab.soak import quiet_logs
from testlab.stateful import (
    CLOCK_STEPS,
    DNS_FAILURES,
    FAULTS,
    HEALTH,
    POISON,
    POOL,
    Lab,
    new_lab,
)
from tgsync.provider.elbv2 import OPERATIONS
from tgsync.provider.errors import TOTAL_MAX_ATTEMPTS

DOMAINS = ["alpha", "beta", "logs", "wide"]
#: Examples and steps of the short run; SOAK-like longer runs: raise them.
EXAMPLES = int(os.environ.get("STATEFUL_EXAMPLES", "3"))
STEPS = int(os.environ.get("STATEFUL_STEPS", "25"))

domains = st.sampled_from(DOMAINS)
ips = st.sampled_from(POOL)


def machine(moto: MotoPeer, dns: DnsPeer, proxy: FaultProxy) -> type[RuleBasedStateMachine]:
    """The state machine over these peers (a fresh lab per example)."""

    class EveryFeatureAtOnce(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.lab: Lab = new_lab(moto, dns, proxy)

        @rule(seconds=st.sampled_from([60.0, 60.0, 55.0, 65.0]))
        def tick(self, seconds: float) -> None:
            self.lab.tick(seconds)

        @rule(domain=domains, seconds=st.integers(1, 30))
        def opensearch_event(self, domain: str, seconds: int) -> None:
            self.lab.event(domain, float(seconds))

        @rule()
        def preflight_check(self) -> None:
            self.lab.check()

        @rule(domain=domains, ip=ips)
        def dns_add(self, domain: str, ip: str) -> None:
            self.lab.dns_add(domain, ip)

        @rule(domain=domains, ip=ips)
        def dns_remove(self, domain: str, ip: str) -> None:
            self.lab.dns_remove(domain, ip)

        @rule(domain=domains, new=st.sets(ips, min_size=1, max_size=4))
        def dns_blue_green(self, domain: str, new: set[str]) -> None:
            self.lab.dns_replace(domain, new)

        @rule(domain=domains, on=st.booleans())
        def dns_rotate(self, domain: str, on: bool) -> None:
            self.lab.dns_rotate(domain, on)

        @rule(domain=domains, mode=st.sampled_from(["answer", *DNS_FAILURES]))
        def dns_fail(self, domain: str, mode: str) -> None:
            self.lab.dns_mode(domain, mode)

        @rule(domain=domains, on=st.booleans())
        def dns_poison(self, domain: str, on: bool) -> None:
            self.lab.dns_poison(domain, on)

        @rule(ip=ips, state=st.sampled_from(HEALTH))
        def health(self, ip: str, state: str) -> None:
            self.lab.health(ip, state)

        @rule(state=st.sampled_from(["healthy", "initial"]))
        def default_health(self, state: str) -> None:
            self.lab.default_health(state)

        @rule(group=st.integers(0, 5), ip=st.sampled_from(POOL + POISON))
        def hand_register(self, group: int, ip: str) -> None:
            self.lab.hand_register(group, ip)

        @rule(group=st.integers(0, 5), ip=ips)
        def hand_deregister(self, group: int, ip: str) -> None:
            self.lab.hand_deregister(group, ip)

        @rule(kind=st.sampled_from(FAULTS), action=st.sampled_from([*OPERATIONS, "*"]),
              times=st.integers(1, TOTAL_MAX_ATTEMPTS))
        def elb_fault(self, kind: str, action: str, times: int) -> None:
            self.lab.fault(kind, action, times)

        @rule(seconds=st.sampled_from(CLOCK_STEPS))
        def clock_step(self, seconds: float) -> None:
            self.lab.step_clock(seconds)

        @rule()
        def cold_start(self) -> None:
            self.lab.cold_start()

        @rule()
        def group_deleted_mid_discovery(self) -> None:
            self.lab.delete_mid_discovery()

    return EveryFeatureAtOnce


def test_every_feature_at_once_keeps_every_invariant(moto, dns, proxy):
    with quiet_logs():
        run_state_machine_as_test(machine(moto, dns, proxy), settings=settings(
            max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None,
            derandomize=True, database=None, print_blob=True,
            suppress_health_check=list(HealthCheck)))


@pytest.mark.slow
def test_a_seeded_run_through_the_same_steps(moto, dns, proxy):
    import random

    lab = new_lab(moto, dns, proxy, seed=7)
    rng = random.Random(7)
    with quiet_logs():
        for _ in range(60):
            lab.random_step(rng)
    assert lab.invocations > 0
