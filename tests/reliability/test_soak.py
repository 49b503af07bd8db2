"""A short randomized soak on every change; ``make soak`` runs the long one."""

from __future__ import annotations

import os

import pytest

from testlab.soak import Soak, every_feature

pytestmark = pytest.mark.slow

#: CI runs a fixed seed so a red build replays exactly; ``make soak`` draws a new one.
SEED = int(os.environ.get("SOAK_SEED", "20261125"))
CYCLES = int(os.environ.get("SOAK_CYCLES", "300"))


def test_every_invariant_holds_through_a_randomized_history(moto, dns, proxy, monkeypatch):
    moto.reset()
    stats = Soak(moto, dns, proxy, SEED, episode=CYCLES // 3).run(CYCLES)
    assert stats.cycles >= CYCLES
    assert stats.big_cycles >= CYCLES // 3 and stats.churn == 0
    assert stats.dns_faults > 0
    assert stats.api_faults > 0
    assert stats.deregistered > 0
    assert stats.convergences >= CYCLES // 50


def test_every_feature_at_once_through_a_seeded_run(moto, dns, proxy):
    steps = int(os.environ.get("SOAK_STEPS", "150"))
    lab = every_feature(moto, dns, proxy, SEED, steps)
    assert lab.invocations >= steps // 4 and lab.checks > 0
