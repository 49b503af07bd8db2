"""A run of the lab replays from its seed: moto's identifiers are drawn from it, and the
simulated clock steps the wall clock the function reads, never the monotonic clock its
pacing reads (as on Linux), so a step back does not starve tgsync of API calls."""

from __future__ import annotations

from testlab.stateful import new_lab
from testlab.stateful.clock import SimClock


def test_a_step_back_moves_the_wall_clock_and_not_the_monotonic_one():
    clock = SimClock(1000.0)
    clock.advance(30.0)
    clock.advance(-600.0)
    clock.sleep(5.0)
    assert clock() == 435.0
    assert clock.monotonic() == 35.0


def test_after_a_step_back_the_next_invocation_reaches_every_group(moto, dns, proxy):
    lab = new_lab(moto, dns, proxy)
    lab.world.step_clock(-600.0)
    report = lab.tick()
    assert not [m.label for m in report.cycles[0].mappings if m.deferred]


def test_a_seed_replays_the_same_world_moto_identifiers_included(moto, dns, proxy):
    first = new_lab(moto, dns, proxy, seed=7).world
    arns = [g.arn for g in first.groups]
    endpoint = first.aurora.endpoint
    again = new_lab(moto, dns, proxy, seed=7).world
    assert [g.arn for g in again.groups] == arns
    assert again.aurora.endpoint == endpoint
