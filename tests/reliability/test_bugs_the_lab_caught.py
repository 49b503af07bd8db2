"""Bugs of tgsync the lab's invariants caught, each as the shortest run of the lab that
shows it. An open one is a strict xfail until its fix merges, when it passes (XPASS) and
so fails, to say: remove the mark, and the bug's entry in ``testlab/stateful/known.py``
if it has one (then the default runs look for it too). Fixed ones stay, as the tests
that fail if the bug comes back."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from testlab.soak import quiet_logs
from testlab.stateful import InvariantBroken, Lab, new_lab
from testlab.stateful.known import TOLERATED


def open_bug(reason: str) -> pytest.MarkDecorator:
    return pytest.mark.xfail(strict=True, raises=InvariantBroken, reason=reason)


@contextlib.contextmanager
def caught_by(number: int) -> Iterator[None]:
    """Let only a breach of invariant ``number`` through as what the xfail expects."""
    try:
        with quiet_logs():
            yield
    except InvariantBroken as exc:
        if not str(exc).startswith(f"invariant {number} "):
            raise RuntimeError(f"another invariant broke: {exc}") from exc
        raise


def lab_without(moto, dns, proxy, bug: str = "") -> Lab:
    """A lab that tolerates every open bug of known.py but ``bug``."""
    with quiet_logs():
        return new_lab(moto, dns, proxy, tolerate=TOLERATED - {bug})


def test_a_mapping_naming_another_cluster_s_endpoint_registers_nothing(moto, dns, proxy):
    """Issue 29, item 1: the cluster id of an RDS hostname was dropped."""
    with caught_by(10):
        lab_without(moto, dns, proxy).quiet()


def test_another_owner_s_record_on_a_retire_all_group_holds_only_retirements(moto, dns, proxy):
    """Issue 29, item 4: another owner's record blocked registrations too."""
    lab = lab_without(moto, dns, proxy)
    lab.world.plant_record(True)
    lab.world.dns_replace("alpha", ["10.0.1.13", "10.0.2.13"])
    with caught_by(11):
        lab.quiet()  # the new nodes must be registered


def test_invocations_near_their_deadline_create_no_client_per_second_left(moto, dns, proxy):
    """Issue 29, item 5: a new boto3 client per half-second of time left."""
    lab = lab_without(moto, dns, proxy)
    with caught_by(12):
        for tick in range(6):  # each slowed near its deadline, a little differently
            lab.world.dns_replace("alpha", [("10.0.1.13", "10.0.2.13")[tick % 2]])
            lab.fault("slow", "*", 9 + tick % 3, then_tick=True)


def test_an_ip_registered_while_its_record_could_not_be_written_goes_when_it_leaves(
    moto, dns, proxy
):
    """Issue 29, item 3: a throttled AddTags registered an owned IP without its record."""
    lab = lab_without(moto, dns, proxy)
    world = lab.world
    staying = sorted(world.names["epsilon"].records)
    joining = next(ip for ip in ("10.0.1.15", "10.0.2.15") if ip not in staying)
    world.dns_replace("epsilon", [*staying, joining])
    with caught_by(11):
        lab.fault("throttle", "AddTags", 3, then_tick=True)  # its record is not written
        world.dns_replace("epsilon", staying)
        lab.quiet()  # it left the answer: retired within the stale period


def test_an_ip_let_go_while_the_other_hostname_s_lookup_fails_is_still_retired(moto, dns, proxy):
    lab = lab_without(moto, dns, proxy)
    world = lab.world
    leaving = "10.0.1.13"
    world.dns_replace("delta", [leaving])
    world.dns_replace("gamma", ["10.0.2.14"])
    with caught_by(11):
        lab.tick()  # delta registers and records it
        world.dns_mode("gamma", "servfail")
        world.health(leaving, "unhealthy")
        world.dns_replace("delta", ["10.0.1.14"])
        lab.tick()  # delta retires it at once (unhealthy), gamma's lookup failing
        world.dns_mode("gamma", "answer")
        lab.quiet()


def test_another_mapping_s_old_record_does_not_make_every_follow_up_write_the_tags(
    moto, dns, proxy
):
    """Found by the bounded tag writes invariant: a record another mapping keeps on a
    shared port, once a minute old, made every save write the tags."""
    lab = lab_without(moto, dns, proxy)
    world = lab.world
    world.dns_replace("delta", ["10.0.1.13"])
    world.dns_replace("gamma", ["10.0.2.14", "10.0.2.15"])
    with caught_by(13):
        lab.tick()
        world.dns_replace("delta", ["10.0.1.14"])
        lab.tick()  # delta's record of 10.0.1.13, waiting out the stale period
        world.dns_mode("delta", "servfail")
        lab.tick()
        lab.tick()  # that record is over a minute old, and delta cannot refresh it
        world.dns_replace("gamma", ["10.0.2.15"])
        lab.tick()  # gamma waits on 10.0.2.14, followed every second
