"""Review 2 (adversarial): shared groups (``retire=owned``) where they meet following,
events and the clash rule. Each test states a promise and fails while it is broken."""

from __future__ import annotations

import json

from conftest import HOSTNAME, registered
from tgsync import config
from tgsync.controller import Controller
from tgsync.events import Domain, Trigger
from tgsync.ownership import OWNED_PREFIX, owner_id

OTHER_HOST = "search.internal.example.com"
THEIRS = "10.0.7.7"  # registered by the owned mapping on OTHER_HOST
MINE = "10.0.1.5"


class Sleeper:
    """Sleep that moves the fake clock."""

    def __init__(self, clock):
        self.clock, self.slept = clock, []

    def __call__(self, seconds):
        self.slept.append(seconds)
        self.clock.now += seconds


def ips(elbv2, arn):
    return {ip for (ip, _port) in registered(elbv2, arn)}


def test_a_clash_refused_in_the_full_cycle_is_not_synced_by_a_follow_up(
    cycle, dns, elbv2, moto, target_group, clock
):
    """Promise (issue 23, the duplicate rule): a mapping retiring ``all`` and one retiring
    ``owned`` on one group and port clash, so *neither* is synced and the owned one's
    targets are never retired by the other. The full cycle refuses both; but an event
    announcing the ``all`` mapping makes the follow-up cycle run it alone (the clash is
    computed over the follow-up's subset only), and it retires the other's targets."""
    dns.set(OTHER_HOST, a=[THEIRS])
    dns.set(HOSTNAME, a=[MINE])
    base, _ = cycle(target_group)
    owned_alone = config.load(
        {
            config.DNS_SERVERS: dns.address,
            config.MAPPINGS: json.dumps(
                [{"hostname": OTHER_HOST, "target_group_arn": target_group, "retire": "owned"}]
            ),
        }
    )
    assert base.with_config(owned_alone).run_once().ok
    moto.set_health(THEIRS, "healthy")
    assert ips(elbv2, target_group) == {THEIRS}

    # A new deployment adds a retire=all mapping on the same group and port: a clash.
    both = config.load(
        {
            config.DNS_SERVERS: dns.address,
            config.MAPPINGS: json.dumps(
                [
                    {
                        "hostname": HOSTNAME,
                        "target_group_arn": target_group,
                        "port": 443,
                        "stale_after": 0,
                    },
                    {"hostname": OTHER_HOST, "target_group_arn": target_group, "retire": "owned"},
                ]
            ),
        }
    )
    fresh, _ = cycle(target_group)  # a cold start: nothing remembered
    controller = Controller(
        fresh.provider, fresh.registry, fresh.source_for, config=both, clock=clock
    )
    event = Trigger(
        "opensearch",
        "Amazon OpenSearch Service Software Update Notification",
        (Domain("eu-west-1", "logs"),),
    )
    run = controller.run(trigger=event, sleep=Sleeper(clock))
    assert not any(m.ok for m in run.cycles[0].mappings)  # the full cycle refuses both
    retired = [ip for c in run.cycles[1:] for m in c.mappings for ip in m.deregistered_ips]
    assert retired == [], f"a follow-up retired the owned mapping's target {retired}"
    synced = [m.label for c in run.cycles[1:] for m in c.mappings if m.observed]
    assert synced == [], f"a follow-up synced a mapping the clash rule refused: {synced}"


def test_an_ip_moving_between_two_owned_mappings_is_not_deregistered(
    cycle, dns, elbv2, moto, target_group, clock
):
    """Promise (issue 23): "an IP two hostnames return is kept while either returns it,
    and one mapping never retires another's targets". When an IP moves from one owned
    mapping's answer to the other's (a freed IP reused, two clusters behind one group)
    with ``stale_after=0`` (the writer-endpoint setting, or ``resolve=rds`` which implies
    it), the mapping that lost it runs first, still sees it as its own alone (the other
    has not recorded it yet) and deregisters it, although the other's answer holds it:
    a healthy target drained, then registered again."""
    x, y = "10.0.1.5", "10.0.2.5"
    dns.set(HOSTNAME, a=[x])
    dns.set(OTHER_HOST, a=[y])
    base, _ = cycle(target_group)
    cfg = config.load(
        {
            config.DNS_SERVERS: dns.address,
            config.CONCURRENCY: "1",
            config.MAPPINGS: json.dumps(
                [
                    {
                        "hostname": HOSTNAME,
                        "target_group_arn": target_group,
                        "retire": "owned",
                        "stale_after": 0,
                    },
                    {
                        "hostname": OTHER_HOST,
                        "target_group_arn": target_group,
                        "retire": "owned",
                        "stale_after": 0,
                    },
                ]
            ),
        }
    )
    controller = base.with_config(cfg)
    assert controller.run_once().ok
    for ip in (x, y):
        moto.set_health(ip, "healthy")
    assert controller.run_once().ok
    owners = {
        v.split()[0]: set(v.split()[1:])
        for k, v in _tags(elbv2, target_group).items()
        if k.startswith(OWNED_PREFIX)
    }
    assert owners == {owner_id(HOSTNAME): {x}, owner_id(OTHER_HOST): {y}}

    dns.set(HOSTNAME, a=[y])  # the two answers swap
    dns.set(OTHER_HOST, a=[x])
    clock.now += 60
    report = controller.run_once()
    retired = [ip for m in report.mappings for ip in m.deregistered_ips]
    assert retired == [], f"deregistered {retired} although the other mapping's answer holds it"


def _tags(elbv2, arn):
    found = elbv2.describe_tags(ResourceArns=[arn])["TagDescriptions"][0]["Tags"]
    return {t["Key"]: t["Value"] for t in found}


def test_a_retire_all_mapping_in_another_process_does_not_retire_an_owned_mapping_s_targets(
    cycle, dns, elbv2, moto, target_group, clock
):
    """Promise (issue 23): the ownership records live in the group's tags "so a new
    function, a second region or a crashed run knows it too"; two mappings clash on one
    group and port when either retires ``all``, and one mapping never retires another's
    targets. The clash is only found among one process's mappings: a second function
    (or region, or the CLI) keeping the group with ``retire=all`` ignores the other
    owner's records on its port and retires that owner's healthy targets, emptying the
    owned mapping's share of the group. It should refuse (a clash with the owner the
    tags name) instead."""
    dns.set(OTHER_HOST, a=[THEIRS])
    dns.set(HOSTNAME, a=[MINE])
    first, _ = cycle(target_group)
    owned = config.load(
        {
            config.DNS_SERVERS: dns.address,
            config.MAPPINGS: json.dumps(
                [{"hostname": OTHER_HOST, "target_group_arn": target_group, "retire": "owned"}]
            ),
        }
    )
    assert first.with_config(owned).run_once().ok
    moto.set_health(THEIRS, "healthy")
    assert any(k.startswith(OWNED_PREFIX) for k in _tags(elbv2, target_group))

    second, _ = cycle(target_group, **{config.STALE_AFTER: 0})  # another function: all
    report = second.run_once().mappings[0]
    assert THEIRS not in report.deregistered_ips, (
        "a retire=all mapping retired the targets another mapping's records own"
    )
    assert THEIRS in ips(elbv2, target_group)
