"""The lab's world steps never crash the lab: a step a real service would refuse is a
world event without effect, as it would be on AWS."""

from __future__ import annotations

from testlab.stateful import new_lab
from testlab.stateful.layout import POISON


def test_a_public_address_registered_by_hand_is_refused_and_changes_nothing(moto, dns, proxy):
    world = new_lab(moto, dns, proxy).world
    owned = next(i for i, g in enumerate(world.groups) if g.retire == "owned")
    before = world.snapshot()
    for index in (0, owned):  # a retire=all group and an owned one
        world.hand_register(index, POISON[1])  # 198.51.100.7: ELB refuses public addresses
    assert world.snapshot() == before
    assert not any(ip == POISON[1] for _, ip in world.foreign)
