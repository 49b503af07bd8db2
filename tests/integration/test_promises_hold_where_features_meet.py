"""Promises that hold when features meet: following against AWS failures, the stale
wait under following, the preflight beside syncs, discovery with a vanished group, and
the deadline of every call. Each test failed on the code before its fix."""

from __future__ import annotations

import json
import time

import boto3

from conftest import HOSTNAME, registered
from testlab.counting import CountingProvider
from testlab.faultproxy import Fault
from testlab.peers import REGION, attach_to_load_balancer, create_target_group
from tgsync import config
from tgsync.controller import Controller
from tgsync.permission_checks import CHECK_TAG, NEVER_A_TARGET
from tgsync.preflight import run as run_checks
from tgsync.provider.elbv2 import boto_config, make_client
from tgsync.registry import TagRegistry
from tgsync.source.resolver import DnsSource

OLD = ["10.0.1.5", "10.0.2.5"]


class Sleeper:
    """A sleep that moves the fake clock."""

    def __init__(self, clock):
        self.clock = clock

    def __call__(self, seconds):
        self.clock.now += seconds


def test_a_throttled_follow_up_ends_following_for_that_mapping(
    cycle, dns, moto, proxy, target_group, clock
):
    moto.update_control(default_state="initial")  # the new targets stay pending
    dns.set(HOSTNAME, a=OLD)
    controller, _cfg = cycle(target_group)
    proxy.inject(Fault("throttle", "DescribeTargetHealth", times=1000))
    proxy.faults.clear()  # the first cycle reads and registers
    first = {"n": 0}

    def sleep(seconds):
        clock.now += seconds
        first["n"] += 1
        if first["n"] == 1:  # from the first follow-up on, ELB throttles every read
            proxy.inject(Fault("throttle", "DescribeTargetHealth", times=1000))

    run = controller.run(sleep=sleep)
    proxy.faults.clear()
    # One cycle, one follow-up that failed, and no more (the next tick retries): on the
    # code before, following went on through the throttling, a read every 10 s.
    assert controller.provider.calls["DescribeTargetHealth"] == 2
    assert len(run.cycles) == 2
    assert run.stopped == "nothing moves"


def test_waiting_out_the_stale_period_writes_the_memory_at_most_once_a_minute(
    cycle, dns, moto, proxy, target_group, clock
):
    dns.set(HOSTNAME, a=OLD)
    controller, _cfg = cycle(target_group, TGSYNC_FOLLOW_FOR=120)
    controller.run(sleep=Sleeper(clock))  # registered; healthy by default: settled
    dns.set(HOSTNAME, a=OLD[:1])  # a healthy IP leaves DNS: a WAIT only time ends
    clock.now += 60
    mark, started = proxy.mark(), clock.now
    run = controller.run(sleep=Sleeper(clock))
    writes = [r for r in proxy.since(mark) if r.action in ("AddTags", "RemoveTags")]
    minutes = (clock.now - started) / 60
    assert len(run.cycles) > 10 and minutes >= 2  # followed (pending) every 10 s
    # The record is written when the IP first goes missing, then refreshed once a minute
    # (on the code before: one AddTags per cycle, every 10 s).
    assert [r.action for r in writes] == ["AddTags"] * (1 + int(minutes))


def test_the_check_writes_no_memory_tag_and_registers_no_target_the_group_holds(
    moto, dns, proxy, elbv2, clock
):
    arn = create_target_group(elbv2, "v6check", ip_type="ipv6")
    attach_to_load_balancer(elbv2, arn, name="front6")
    elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": "fd00:0db8::0001"}])
    elbv2.add_tags(
        ResourceArns=[arn], Tags=[{"Key": "tgsync:missing:443:1", "Value": "fd00:db8::9=1/2/1"}]
    )
    dns.set(HOSTNAME, aaaa=["fd00:db8::1"])
    cfg = config.load(
        {config.HOSTNAME: HOSTNAME, config.TARGET_GROUP_ARN: arn, config.DNS_SERVERS: dns.address}
    )
    mark = proxy.mark()
    checks = run_checks(cfg, _provider(), lambda s: DnsSource(s, timeout=0.2, lifetime=0.5))
    assert not [c for c in checks if c.status == "FAIL"], [c.line() for c in checks]
    calls = proxy.since(mark)
    for request in calls:
        if request.action in ("AddTags", "RemoveTags"):
            keys = [
                v[0]
                for k, v in request.params.items()
                if k.endswith(".Key") or k.startswith("TagKeys.member")
            ]
            assert keys == [CHECK_TAG], (request.action, keys)  # never a sync's key
        if request.action == "RegisterTargets":  # never a target the group holds
            assert request.params["Targets.member.1.Id"] == [NEVER_A_TARGET]
        if request.action == "DeregisterTargets":
            assert request.params["Targets.member.1.Id"] == [NEVER_A_TARGET]
    tags = elbv2.describe_tags(ResourceArns=[arn])["TagDescriptions"][0]["Tags"]
    assert {t["Key"]: t["Value"] for t in tags} == {"tgsync:missing:443:1": "fd00:db8::9=1/2/1"}
    assert set(registered(elbv2, arn)) == {("fd00:0db8::0001", 443)}


def test_the_check_answers_before_its_deadline_naming_the_groups_left(moto, dns, elbv2):
    arns = [create_target_group(elbv2, f"late-{i}") for i in range(3)]
    dns.set(HOSTNAME, a=OLD)
    cfg = config.load(
        {
            config.DNS_SERVERS: dns.address,
            config.MAPPINGS: json.dumps(
                [{"hostname": HOSTNAME, "target_group_arn": arn} for arn in arns]
            ),
        }
    )
    provider = _provider()
    ends = time.monotonic() + 10 + 30  # margin 10 s + room for about one group

    def time_left():  # after the first group's reads, the deadline is near
        return ends - time.monotonic() - (100 if provider.calls["DescribeTags"] else 0)

    checks = run_checks(cfg, provider, lambda s: DnsSource(s, timeout=0.2, lifetime=0.5), time_left)
    (late,) = [c for c in checks if c.name == "not checked"]
    assert "late-1" in late.detail and "late-2" in late.detail
    assert "late-0" not in late.detail


def test_the_check_still_checks_dns_when_elb_cannot_be_reached(moto, dns, elbv2):
    arns = [create_target_group(elbv2, f"dark-{i}") for i in range(2)]
    dns.set(HOSTNAME, a=OLD)
    cfg = config.load(
        {
            config.DNS_SERVERS: dns.address,
            config.MAPPINGS: json.dumps(
                [{"hostname": HOSTNAME, "target_group_arn": arn} for arn in arns]
            ),
        }
    )
    nowhere = CountingProvider(
        client_for_region=lambda region: boto3.client(
            "elbv2",
            region_name=region,
            endpoint_url="http://127.0.0.1:9",  # nothing listens
            config=boto_config(connect_timeout=0.2, read_timeout=0.2),
        ),
        sleep=lambda _s: None,
    )
    checks = run_checks(cfg, nowhere, lambda s: DnsSource(s, timeout=0.2, lifetime=0.5))
    dns_lines = [c for c in checks if c.name == f"DNS {HOSTNAME}"]
    assert len(dns_lines) == 2 and all(c.status == "OK" for c in dns_lines)
    assert [c.status for c in checks if c.name == "ELB endpoint"] == ["FAIL"]
    assert nowhere.calls["DescribeTargetGroups"] == 1  # not once per group


def test_a_group_deleted_between_listing_and_tags_leaves_discovery_standing(
    cycle, dns, proxy, elbv2
):
    kept = create_target_group(elbv2, "stays")
    gone = create_target_group(elbv2, "goes")
    for arn in (kept, gone):
        elbv2.add_tags(ResourceArns=[arn], Tags=[{"Key": "tgsync:hostname", "Value": HOSTNAME}])
    dns.set(HOSTNAME, a=OLD)
    controller, _ = cycle(kept)
    cfg = config.load(
        {
            config.DISCOVER: "tags",
            "AWS_REGION": REGION,
            config.DISCOVER_PREFIX: "*",
            config.DNS_SERVERS: dns.address,
        }
    )
    proxy.delete_after("DescribeTargetGroups", gone)
    cycle_report = controller.with_config(cfg).run_once()
    adopted = cycle_report.discovery.adopted
    assert kept in adopted and gone not in adopted
    assert {ip for ip, _ in registered(elbv2, kept)} == set(OLD)
    assert not [m for m in cycle_report.mappings if m.label == "discovery"]


def test_a_missing_group_names_the_setting_in_use(cycle, dns, target_group):
    gone = target_group.replace(target_group.rsplit("/", 1)[1], "00000000deadbeef")
    dns.set(HOSTNAME, a=OLD)
    controller, _ = cycle(target_group)
    cfg = config.load(
        {
            config.DNS_SERVERS: dns.address,
            config.MAPPINGS: json.dumps([{"hostname": HOSTNAME, "target_group_arn": gone}]),
        }
    )
    (report,) = controller.with_config(cfg).run_once().mappings
    assert "check TGSYNC_MAPPINGS[0]" in report.error
    assert "TGSYNC_TARGET_GROUP_ARN" not in report.error


def test_a_hanging_elb_call_ends_before_the_invocation_s_deadline(moto, dns, proxy, target_group):
    dns.set(HOSTNAME, a=OLD)
    cfg = config.load(
        {
            config.HOSTNAME: HOSTNAME,
            config.TARGET_GROUP_ARN: target_group,
            config.DNS_SERVERS: dns.address,
        }
    )
    provider = CountingProvider(sleep=lambda _s: None)  # the usual 2 s + 5 s timeouts
    controller = Controller(
        provider,
        TagRegistry(provider),
        lambda s: DnsSource(s, timeout=0.2, lifetime=0.5),
        config=cfg,
    )
    controller.run_once()  # facts cached; now every read answers after 6 s
    proxy.inject(Fault("delay", "DescribeTargetHealth", times=10, seconds=6.0))
    dns.set(HOSTNAME, a=[*OLD, "10.0.3.5"])
    started = time.monotonic()
    ends = started + 10 + 3.0  # the 10 s margin, and 3 s of work (a cycle needs 2.5)
    report = controller.run_once(time_left=lambda: ends - time.monotonic()).mappings[0]
    proxy.faults.clear()
    # The read got the time that was left (timeouts ending within 3 s), not the usual
    # 5 s to read and two more attempts: the cycle ended in time, unchanged.
    assert time.monotonic() - started < 3.5
    assert report.registered_ips == []


def _provider():
    return CountingProvider(
        client_for_region=lambda region: make_client(region, connect_timeout=0.5, read_timeout=0.5),
        sleep=lambda _s: None,
    )


def test_a_group_is_never_emptied_when_elb_refuses_every_new_ip(
    cycle, dns, moto, elbv2, target_group, clock
):
    dns.set(HOSTNAME, a=OLD)
    controller, _cfg = cycle(target_group, TGSYNC_STALE_AFTER=0)
    assert controller.run_once().ok
    moto.update_control(outside_vpc=["192.168.0.0/16"])
    dns.set(HOSTNAME, a=["192.168.7.7", "192.168.8.8"])  # outside the VPC: refused
    for _ in range(3):
        clock.now += 60
        report = controller.run_once().mappings[0]
        assert not report.ok and "TGSYNC_OUTSIDE_VPC=allow" in report.error
    # Retiring the healthy old targets would leave nothing: they stay until a new IP is
    # taken (on the code before, the group was empty after the first cycle).
    assert {ip for ip, _ in registered(elbv2, target_group)} == set(OLD)
