"""The lab's new invariants can fail: each catches tgsync broken on purpose in the way it
guards against (a check that cannot fail proves nothing)."""

from __future__ import annotations

from typing import Any

import pytest

import tgsync.registry
from testlab.stateful import InvariantBroken, new_lab
from testlab.stateful.resources import MemoryHoldsSteady
from tgsync.aws import Aws, boto_config
from tgsync.provider.elbv2 import Elbv2Provider

#: An address inside the function's ranges that no name of the lab ever answers.
STRANGER = "10.0.1.99"


def test_identity_catches_an_ip_from_outside_the_answer(moto, dns, proxy, monkeypatch):
    lab = new_lab(moto, dns, proxy)
    register = Elbv2Provider.register

    def with_a_stranger(
        self: Elbv2Provider, arn: str, ips: list[str], port: int, **kwargs: Any
    ) -> Any:
        return register(self, arn, [*ips, STRANGER], port, **kwargs)

    monkeypatch.setattr(Elbv2Provider, "register", with_a_stranger)
    lab.world.dns_replace("alpha", ["10.0.1.14", "10.0.2.14"])
    with pytest.raises(InvariantBroken, match=r"invariant 10 .*10\.0\.1\.99"):
        lab.tick()


def test_liveness_catches_a_retirement_that_never_reaches_elb(moto, dns, proxy, monkeypatch):
    lab = new_lab(moto, dns, proxy)
    monkeypatch.setattr(Elbv2Provider, "deregister", lambda *_args, **_kw: None)
    leaving = min(lab.world.names["alpha"].records)
    lab.world.health(leaving, "unhealthy")
    lab.world.dns_replace("alpha", ["10.0.2.15"])
    with pytest.raises(InvariantBroken, match=r"invariant 11 .*plain-alpha not converged"):
        lab.quiet()


def test_bounded_clients_catch_a_client_per_call(moto, dns, proxy, monkeypatch):
    lab = new_lab(moto, dns, proxy)
    monkeypatch.setattr(
        Aws,
        "client",
        lambda self, service, region, *_a, role=None: self._make(
            service.name, region, boto_config(), role
        ),
    )
    lab.cold_start()

    def ticks() -> None:
        for _ in range(5):  # each cycle makes a client per call
            lab.tick()

    with pytest.raises(InvariantBroken, match=r"invariant 12 .*elbv2 clients in eu-west-1"):
        ticks()


def test_bounded_tag_writes_catch_a_write_every_follow_up(moto, dns, proxy, monkeypatch):
    lab = new_lab(moto, dns, proxy)
    monkeypatch.setattr(tgsync.registry, "must_write", lambda *_args: True)
    lab.world.dns_replace("alpha", ["10.0.2.15"])  # the old nodes wait out the stale period
    with pytest.raises(InvariantBroken, match=r"invariant 13 .*plain-alpha"):
        lab.tick()


class _Still:
    """A world that is never looked at."""


@pytest.mark.parametrize(
    ("mib", "breaks"),
    [
        ([100, 104, 101, 103, 110, 108], False),  # noise, and a cache filling once
        ([100, 101, 102, 140, 160, 180], True),  # a leak that grows with the run
    ],
)
def test_memory_judges_the_second_half_against_the_first(mib, breaks):
    samples = iter(m * 2**20 for m in mib)
    memory = MemoryHoldsSteady(_Still(), measure=lambda: next(samples))  # type: ignore[arg-type]
    for _ in mib[:-1]:
        memory.sample("here")
    if breaks:
        with pytest.raises(InvariantBroken, match="invariant 14"):
            memory.sample("here")
    else:
        memory.sample("here")
