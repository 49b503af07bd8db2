"""Shared target groups (``TGSYNC_RETIRE=owned``) through the real adapters: moto behind
the fault proxy, a real DNS server. tgsync retires only what it registered, several
hostnames feed one group and port, and an IP whose ownership could not be recorded is
never retired."""

from __future__ import annotations

import json
import threading

import pytest

from conftest import HOSTNAME, registered
from testlab.faultproxy import Fault
from testlab.peers import REGION, create_target_group
from tgsync import config, lambda_handler, ownership, preflight
from tgsync.errors import SyncFailed
from tgsync.memory_codec import MAX_TAGS, TAG_PREFIX
from tgsync.ownership import OWNED_PREFIX, owner_id
from tgsync.rendering import render_table
from tgsync.report import mapping_metrics

RETIRE = "TGSYNC_RETIRE"
OTHER_HOST = "search.internal.example.com"
OLD = ["10.0.1.5", "10.0.2.5"]
NEW = ["10.0.1.9", "10.0.2.9"]
HAND = "10.0.9.9"  # registered by a person, not by tgsync


def tags_of(elbv2, arn):
    found = elbv2.describe_tags(ResourceArns=[arn])["TagDescriptions"][0]["Tags"]
    return {t["Key"]: t["Value"] for t in found}


def owned_tags(elbv2, arn):
    return {k: v for k, v in tags_of(elbv2, arn).items() if k.startswith(OWNED_PREFIX)}


def memory_tags(elbv2, arn):
    return {k: v for k, v in tags_of(elbv2, arn).items() if k.startswith(TAG_PREFIX)}


def states(elbv2, arn):
    return {ip: state for (ip, _port), state in registered(elbv2, arn).items()}


def by_hand(elbv2, arn, *ips):
    elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": ip} for ip in ips])


def two_hostnames(dns, arn):
    return config.load(
        {
            config.DNS_SERVERS: dns.address,
            config.MAPPINGS: json.dumps(
                [
                    {"hostname": HOSTNAME, "target_group_arn": arn, "retire": "owned"},
                    {"hostname": OTHER_HOST, "target_group_arn": arn, "retire": "owned"},
                ]
            ),
        }
    )


def test_a_hand_registered_target_is_untouched_across_a_blue_green(
    cycle, dns, elbv2, moto, target_group, clock
):
    by_hand(elbv2, target_group, HAND)
    dns.set(HOSTNAME, a=OLD)
    controller, _ = cycle(target_group, **{RETIRE: "owned", config.STALE_AFTER: 60})
    first = controller.run_once().mappings[0]
    assert first.ok and first.registered_ips == OLD and first.foreign == [HAND]
    assert first.to_dict()["foreign"] == [HAND]
    assert dict(mapping_metrics(first))["ForeignTargets"] == 1
    assert owned_tags(elbv2, target_group) == {
        f"{OWNED_PREFIX}443:1": f"{owner_id(HOSTNAME)} {' '.join(OLD)}"
    }

    moto.set_health(HAND, "unhealthy", "Target.FailedHealthChecks")
    dns.set(HOSTNAME, a=NEW)
    clock.now += 60
    second = controller.run_once().mappings[0]
    assert second.ok and second.registered_ips == NEW and second.deregistered_ips == []
    for ip in OLD:
        moto.set_health(ip, "unhealthy", "Target.Timeout")
    clock.now += 60
    third = controller.run_once().mappings[0]
    assert third.ok and third.deregistered_ips == OLD and third.foreign == [HAND]
    assert states(elbv2, target_group) == {HAND: "unhealthy", NEW[0]: "healthy", NEW[1]: "healthy"}
    assert owned_tags(elbv2, target_group) == {
        f"{OWNED_PREFIX}443:1": f"{owner_id(HOSTNAME)} {' '.join(NEW)}"
    }
    for _ in range(3):  # whatever time passes, the foreign target stays
        clock.now += 600
        assert controller.run_once().mappings[0].deregistered_ips == []
    assert HAND in states(elbv2, target_group)


def test_two_hostnames_feed_one_group_and_port_without_fighting(
    cycle, dns, elbv2, moto, target_group
):
    both = "10.0.3.3"
    dns.set(HOSTNAME, a=["10.0.1.5", both])
    dns.set(OTHER_HOST, a=["10.0.2.5", both])
    base, _ = cycle(target_group)
    controller = base.with_config(two_hostnames(dns, target_group))
    first = controller.run_once()
    assert first.ok, first.failure_summary()
    assert set(states(elbv2, target_group)) == {"10.0.1.5", "10.0.2.5", both}
    steady = controller.run_once()
    assert steady.ok and not any(
        m.registered_ips or m.deregistered_ips or m.foreign == [] for m in steady.mappings
    )
    assert {m.hostname: m.foreign for m in steady.mappings} == {
        HOSTNAME: ["10.0.2.5"],
        OTHER_HOST: ["10.0.1.5"],
    }

    moto.set_health(both, "unhealthy", "Target.Timeout")
    dns.set(HOSTNAME, a=["10.0.1.5"])  # one lets go of the IP both returned ...
    for _ in range(2):
        assert controller.run_once().ok
        assert both in states(elbv2, target_group)  # ... the other still returns it
    dns.set(OTHER_HOST, a=["10.0.2.5"])  # now neither does: it goes
    report = controller.run_once()
    assert report.ok and [ip for m in report.mappings for ip in m.deregistered_ips] == [both]
    assert set(states(elbv2, target_group)) == {"10.0.1.5", "10.0.2.5"}
    mine = {v.split()[0]: set(v.split()[1:]) for v in owned_tags(elbv2, target_group).values()}
    assert mine == {owner_id(HOSTNAME): {"10.0.1.5"}, owner_id(OTHER_HOST): {"10.0.2.5"}}


def test_two_hostnames_retiring_all_on_one_group_and_port_still_clash(
    cycle, dns, elbv2, target_group
):
    dns.set(HOSTNAME, a=["10.0.1.5"])
    dns.set(OTHER_HOST, a=["10.0.2.5"])
    base, _ = cycle(target_group)
    cfg = config.load(
        {
            config.DNS_SERVERS: dns.address,
            config.MAPPINGS: json.dumps(
                [
                    {"hostname": HOSTNAME, "target_group_arn": target_group, "retire": "owned"},
                    {"hostname": OTHER_HOST, "target_group_arn": target_group},
                ]
            ),
        }
    )
    report = base.with_config(cfg).run_once()
    assert not any(m.ok for m in report.mappings)
    assert all("give both retire=owned" in (m.error or "") for m in report.mappings)
    assert states(elbv2, target_group) == {}


def test_switching_to_owned_adopts_the_answer_and_back_to_all_drops_the_records(
    cycle, dns, elbv2, moto, target_group, clock
):
    by_hand(elbv2, target_group, "10.0.1.5", HAND)
    dns.set(HOSTNAME, a=["10.0.1.5"])
    before, _ = cycle(target_group)  # retire=all: the healthy HAND waits, remembered
    assert before.run_once().ok and memory_tags(elbv2, target_group)
    owned, _ = cycle(target_group, **{RETIRE: "owned"})
    report = owned.run_once().mappings[0]
    assert report.ok and report.foreign == [HAND] and report.registered_ips == []
    assert owned_tags(elbv2, target_group) == {
        f"{OWNED_PREFIX}443:1": f"{owner_id(HOSTNAME)} 10.0.1.5"
    }
    assert memory_tags(elbv2, target_group) == {}  # nobody waits on a foreign target

    back, _ = cycle(target_group, **{config.STALE_AFTER: 0})  # retire=all, a new function
    moto.set_health(HAND, "unhealthy", "Target.Timeout")
    report = back.run_once().mappings[0]
    assert report.ok and report.deregistered_ips == [HAND] and report.foreign == []
    assert owned_tags(elbv2, target_group) == {}


def test_no_room_for_ownership_registers_nothing_until_tags_are_freed(
    cycle, dns, elbv2, moto, target_group, clock
):
    elbv2.add_tags(
        ResourceArns=[target_group],
        Tags=[{"Key": f"team-{i}", "Value": "search"} for i in range(20)],
    )
    elbv2.add_tags(
        ResourceArns=[target_group],
        Tags=[{"Key": f"team-{i}", "Value": "search"} for i in range(20, MAX_TAGS)],
    )
    dns.set(HOSTNAME, a=OLD)
    controller, _ = cycle(target_group, **{RETIRE: "owned", config.STALE_AFTER: 0})
    report = controller.run_once().mappings[0]
    assert report.registered_ips == [] and states(elbv2, target_group) == {}
    assert not report.ok and "10.0.1.5, 10.0.2.5" in report.error
    assert "not registered until their ownership can be recorded" in report.error
    assert "tgsync:owned:* and tgsync:missing:*" in report.error
    elbv2.remove_tags(ResourceArns=[target_group], TagKeys=["team-0"])
    clock.now += 60
    later = controller.run_once().mappings[0]
    assert later.ok and later.registered_ips == OLD
    assert owned_tags(elbv2, target_group) == {
        f"{OWNED_PREFIX}443:1": f"{owner_id(HOSTNAME)} {' '.join(OLD)}"
    }


@pytest.mark.parametrize("fault", ["denied", "throttle"])
def test_a_failed_ownership_write_registers_nothing_so_no_target_is_left_unrecorded(
    fault, dns, elbv2, moto, proxy, target_group, monkeypatch
):
    """Issue 29, item 3, through the handler: one failed AddTags at registration once
    registered the IP without its record; when the IP left DNS first, it was foreign to
    every mapping and stayed registered, unhealthy, forever."""
    monkeypatch.setenv("TGSYNC_HOSTNAME", HOSTNAME)
    monkeypatch.setenv("TGSYNC_TARGET_GROUP_ARN", target_group)
    monkeypatch.setenv("TGSYNC_DNS_SERVERS", dns.address)
    monkeypatch.setenv(RETIRE, "owned")
    monkeypatch.setattr(lambda_handler, "_controller", None)  # a cold start
    dns.set(HOSTNAME, a=[OLD[0]])
    proxy.inject(Fault(fault, "AddTags", times=3))  # every attempt of one call
    with pytest.raises(SyncFailed) as failed:
        lambda_handler.handler({}, None)
    assert states(elbv2, target_group) == {}  # nothing registered without its record
    error = failed.value.summary["mappings"][0]["error"]
    assert "could not record 10.0.1.5 as registered by it, so it did not register" in error
    proxy.clear()
    dns.set(HOSTNAME, a=[NEW[0]])  # the IP leaves DNS before any later cycle
    moto.set_health(OLD[0], "unhealthy", "Target.Timeout")
    for _ in range(3):
        lambda_handler.handler({}, None)
    assert states(elbv2, target_group) == {NEW[0]: "healthy"}
    assert owned_tags(elbv2, target_group) == {
        f"{OWNED_PREFIX}443:1": f"{owner_id(HOSTNAME)} {NEW[0]}"
    }


def test_a_steady_owned_group_with_a_foreign_target_settles(cycle, dns, elbv2, target_group, clock):
    by_hand(elbv2, target_group, HAND)
    dns.set(HOSTNAME, a=OLD)
    controller, _ = cycle(target_group, **{RETIRE: "owned"})
    controller.run_once()
    controller.run_once()
    key = f"{target_group}:443:{owner_id(HOSTNAME)}"
    assert controller.state.settled(key) is not None
    # Halfway to the (staggered) due time: the next cycle, a tick as long later, is
    # still not after it, so the read may be skipped whatever the stagger is.
    clock.now += (controller.state.settled(key).due - clock.now) / 2
    report = controller.run_once().mappings[0]
    assert report.read_skipped and report.ok


def test_a_discovered_group_may_retire_only_what_it_registered(cycle, dns, elbv2, moto):
    arn = create_target_group(elbv2, "shared")
    elbv2.add_tags(
        ResourceArns=[arn],
        Tags=[
            {"Key": "tgsync:hostname", "Value": HOSTNAME},
            {"Key": "tgsync:retire", "Value": "owned"},
        ],
    )
    by_hand(elbv2, arn, HAND)
    moto.set_health(HAND, "unhealthy", "Target.Timeout")
    dns.set(HOSTNAME, a=OLD)
    base, _ = cycle(
        "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/unused/0123456789abcdef"
    )
    cfg = config.load(
        {
            config.DISCOVER: "tags",
            "AWS_REGION": REGION,
            config.DISCOVER_PREFIX: "*",
            config.DNS_SERVERS: dns.address,
        }
    )
    report = base.with_config(cfg).run_once()
    (mapping,) = report.mappings
    assert mapping.ok and mapping.foreign == [HAND] and mapping.registered_ips == OLD
    assert ("retire", "tag tgsync:retire") in mapping.origins
    assert HAND in states(elbv2, arn)


def test_a_dry_run_plans_with_ownership_and_writes_nothing(cycle, dns, elbv2, target_group):
    by_hand(elbv2, target_group, HAND)
    dns.set(HOSTNAME, a=OLD)
    controller, _ = cycle(target_group, **{RETIRE: "owned"})
    report = controller.run_once(dry_run=True).mappings[0]
    assert report.foreign == [HAND] and owned_tags(elbv2, target_group) == {}
    assert states(elbv2, target_group) == {HAND: "healthy"}
    table = render_table(report)
    assert "FOREIGN" in table and "not registered by tgsync (retire=owned): left alone" in table
    assert "foreign (not registered by this mapping, left alone): 10.0.9.9" in table


def test_a_mapping_waiting_out_the_stale_period_keeps_its_memory_beside_another(
    cycle, dns, elbv2, target_group, clock
):
    dns.set(HOSTNAME, a=["10.0.1.5", "10.0.1.6"])
    dns.set(OTHER_HOST, a=["10.0.2.5"])
    base, _ = cycle(target_group)
    cfg = config.load(
        {
            config.DNS_SERVERS: dns.address,
            config.STALE_AFTER: "90",
            config.MAPPINGS: json.dumps(
                [
                    {"hostname": HOSTNAME, "target_group_arn": target_group, "retire": "owned"},
                    {"hostname": OTHER_HOST, "target_group_arn": target_group, "retire": "owned"},
                ]
            ),
        }
    )
    controller = base.with_config(cfg)
    assert controller.run_once().ok
    dns.set(HOSTNAME, a=["10.0.1.5"])  # 10.0.1.6 leaves DNS, still healthy
    retired_at = None
    for step in range(5):
        clock.now += 30
        report = controller.run_once()
        assert report.ok, report.failure_summary()
        if any(m.deregistered_ips for m in report.mappings):
            retired_at = step
            break
    assert retired_at == 3  # missing for 90 s: the other mapping's saves kept the count
    assert set(states(elbv2, target_group)) == {"10.0.1.5", "10.0.2.5"}


def test_an_unreadable_ownership_tag_is_left_alone_and_its_ips_never_retired(
    cycle, dns, elbv2, moto, target_group
):
    by_hand(elbv2, target_group, HAND)
    moto.set_health(HAND, "unhealthy", "Target.Timeout")
    bad = {"Key": f"{OWNED_PREFIX}443:1", "Value": f"{owner_id(HOSTNAME)} {HAND} 10.0.09.1"}
    elbv2.add_tags(ResourceArns=[target_group], Tags=[bad])
    dns.set(HOSTNAME, a=OLD)
    controller, _ = cycle(target_group, **{RETIRE: "owned", config.STALE_AFTER: 0})
    report = controller.run_once().mappings[0]
    assert report.ok and report.foreign == [HAND] and report.deregistered_ips == []
    assert owned_tags(elbv2, target_group) == {
        bad["Key"]: bad["Value"],
        f"{OWNED_PREFIX}443:2": f"{owner_id(HOSTNAME)} {' '.join(OLD)}",
    }


def test_the_check_says_which_targets_are_foreign(cycle, dns, elbv2, target_group):
    by_hand(elbv2, target_group, HAND)
    dns.set(HOSTNAME, a=OLD)
    controller, cfg = cycle(target_group, **{RETIRE: "owned"})
    assert controller.run_once().ok
    checks = preflight.run(cfg, controller.provider, controller.source_for)
    (line,) = [c.line() for c in checks if "retire=owned" in c.line()]
    assert f"1 foreign target(s) on port 443, left alone unless DNS returns them: {HAND}" in line


def test_mappings_sharing_a_group_and_port_take_turns_with_their_ownership(
    cycle, dns, elbv2, target_group
):
    """From reading ownership to the last write, one mapping of a group and port at a
    time: two letting go of one IP at once could otherwise both drop it (a leak)."""
    dns.set(HOSTNAME, a=["10.0.1.5"])
    dns.set(OTHER_HOST, a=["10.0.2.5"])
    base, _ = cycle(target_group)
    controller = base.with_config(two_hostnames(dns, target_group))
    registry = controller.cycle.registry
    recall, save = registry.recall_owned, registry.save
    guard, inside, peak, both = threading.Lock(), set(), [0], threading.Event()

    def recall_owned(*args, **kwargs):
        with guard:
            inside.add(threading.get_ident())
            peak[0] = max(peak[0], len(inside))
            if len(inside) > 1:
                both.set()
        both.wait(timeout=1.0)  # gives the other mapping every chance to come in too
        return recall(*args, **kwargs)

    def memory_save(*args, **kwargs):  # the last write of a mapping's turn
        try:
            return save(*args, **kwargs)
        finally:
            with guard:
                inside.discard(threading.get_ident())

    registry.recall_owned = recall_owned
    registry.save = memory_save
    report = controller.run_once()
    assert report.ok and peak[0] == 1 and not both.is_set()


def test_one_hostname_twice_on_one_group_and_port_clashes_even_when_owned():
    arn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/shared/0123456789abcdef"
    cfg = config.load(
        {
            config.MAPPINGS: json.dumps(
                [
                    {"hostname": HOSTNAME, "target_group_arn": arn, "retire": "owned"},
                    {"hostname": HOSTNAME.upper(), "target_group_arn": arn, "retire": "owned"},
                    {"hostname": OTHER_HOST, "target_group_arn": arn, "retire": "owned"},
                ]
            )
        }
    )
    refused = ownership.clashes(cfg.mappings, lambda _arn: 443)
    assert sorted(refused) == [0, 1]
    assert "keep the same hostname in the same target group (shared)" in refused[0]


def test_another_owner_s_record_holds_a_retire_all_mapping_s_retirements_not_its_registrations(
    dns, elbv2, moto, target_group, monkeypatch
):
    """Issue 29, item 4, through the handler: any tgsync:owned record not the mapping's
    own (a renamed hostname's leftover, another process's owned mapping, a planted tag)
    blocked every change of a retire=all mapping, so a blue/green's new nodes were never
    added. It holds the retirements only, and the error names the record."""
    monkeypatch.setenv("TGSYNC_HOSTNAME", HOSTNAME)
    monkeypatch.setenv("TGSYNC_TARGET_GROUP_ARN", target_group)
    monkeypatch.setenv("TGSYNC_DNS_SERVERS", dns.address)
    monkeypatch.setenv(config.STALE_AFTER, "0")
    monkeypatch.setattr(lambda_handler, "_controller", None)
    by_hand(elbv2, target_group, *OLD)
    elbv2.add_tags(
        ResourceArns=[target_group],
        Tags=[{"Key": f"{OWNED_PREFIX}443:1", "Value": f"0badc0de {OLD[0]}"}],
    )
    moto.set_health(OLD[1], "unhealthy", "Target.Timeout")
    dns.set(HOSTNAME, a=NEW)  # a blue/green: the new nodes must be added
    with pytest.raises(SyncFailed) as failed:
        lambda_handler.handler({}, None)
    assert set(states(elbv2, target_group)) == {*OLD, *NEW}  # added; nothing retired
    error = failed.value.summary["mappings"][0]["error"]
    assert f"{OWNED_PREFIX}443:1" in error and "0badc0de" in error
    assert "remove those tags" in error
