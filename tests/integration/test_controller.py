"""Whole cycles through the real adapters: moto's server and a real DNS server."""

from __future__ import annotations

import json

import pytest

from conftest import HOSTNAME, registered
from testlab.counting import CountingProvider
from testlab.peers import create_target_group
from tgsync import config
from tgsync.controller import Controller
from tgsync.memory_codec import TAG_PREFIX
from tgsync.registry import TagRegistry
from tgsync.source.resolver import DnsSource

OLD = ["10.0.1.5", "10.0.2.5", "10.0.3.5"]
NEW = ["10.0.1.9", "10.0.2.9", "10.0.3.9"]


class Clock:
    def __init__(self, now=1_700_000_000.0):
        self.now = now

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def make(elbv2, dns, clock):
    """A fresh controller (a cold start) and the configuration for it."""

    def build(arn, **env):
        base = {
            config.HOSTNAME: HOSTNAME,
            config.TARGET_GROUP_ARN: arn,
            config.DNS_SERVERS: f"127.0.0.1:{dns.port}",
        }
        base.update({k: str(v) for k, v in env.items()})
        cfg = config.load(base)
        provider = CountingProvider()
        controller = Controller(provider, TagRegistry(provider), DnsSource, config=cfg, clock=clock)
        return controller, cfg

    return build


def states(elbv2, arn):
    return {ip: state for (ip, _port), state in registered(elbv2, arn).items()}


def test_first_cycle_registers_every_answer(make, dns, elbv2, target_group):
    dns.set(HOSTNAME, a=OLD)
    controller, _cfg = make(target_group)
    cycle = controller.run_once()
    assert cycle.ok
    assert set(states(elbv2, target_group)) == set(OLD)
    assert cycle.mappings[0].registered_ips == OLD


def test_blue_green_registers_new_nodes_and_retires_old_ones_that_fail(
    make, dns, moto, elbv2, target_group, clock
):
    dns.set(HOSTNAME, a=OLD)
    controller, _cfg = make(target_group)
    controller.run_once()
    dns.set(HOSTNAME, a=NEW)
    clock.now += 60
    cycle = controller.run_once()
    assert set(states(elbv2, target_group)) == set(OLD + NEW)
    assert cycle.mappings[0].deregistered_ips == []  # old ones still healthy: wait
    for ip in OLD:
        moto.set_health(ip, "unhealthy", "Target.FailedHealthChecks")
    clock.now += 60
    cycle = controller.run_once()
    assert cycle.mappings[0].deregistered_ips == OLD
    assert set(states(elbv2, target_group)) == set(NEW)


def test_a_healthy_stale_ip_is_retired_only_after_the_stale_period(
    make, dns, elbv2, target_group, clock
):
    dns.set(HOSTNAME, a=["10.0.1.5", "10.0.2.5"])
    controller, _cfg = make(target_group, TGSYNC_STALE_AFTER=180)
    controller.run_once()
    dns.set(HOSTNAME, a=["10.0.1.5"])
    clock.now += 60
    controller.run_once()  # first seen missing
    for step in (60, 60, 59):  # 179 s missing
        clock.now += step
        controller.run_once()
        assert "10.0.2.5" in states(elbv2, target_group)
    clock.now += 1  # 180 s missing
    cycle = controller.run_once()
    assert cycle.mappings[0].deregistered_ips == ["10.0.2.5"]
    assert "freed IP" in cycle.mappings[0].decisions[1].reason
    assert not any(k.startswith(TAG_PREFIX) for k in CountingProvider().tags(target_group))


def test_the_missing_clock_survives_a_cold_start_through_tags(
    make, dns, elbv2, target_group, clock
):
    dns.set(HOSTNAME, a=["10.0.1.5", "10.0.2.5"])
    controller, _cfg = make(target_group)
    controller.run_once()
    dns.set(HOSTNAME, a=["10.0.1.5"])
    clock.now += 60
    controller.run_once()  # 10.0.2.5 first seen missing now
    replacement, _cfg = make(target_group)  # a new execution environment
    clock.now += 180
    cycle = replacement.run_once()
    assert cycle.mappings[0].deregistered_ips == ["10.0.2.5"]


@pytest.mark.parametrize("mode", ["timeout", "servfail", "nxdomain", "empty", "refused"])
def test_a_failed_resolution_changes_nothing_and_fails_loudly(
    make, dns, moto, elbv2, target_group, clock, mode
):
    dns.set(HOSTNAME, a=OLD)
    controller, _cfg = make(target_group, TGSYNC_STALE_AFTER=0)
    controller.run_once()
    moto.set_health(OLD[0], "unhealthy", "Target.Timeout")
    dns.mode(HOSTNAME, mode)
    clock.now += 600
    cycle = controller.run_once()
    assert not cycle.ok
    assert "DNS resolution failed, nothing changed" in cycle.mappings[0].error
    assert set(states(elbv2, target_group)) == set(OLD)


def test_answers_outside_the_allowed_ranges_are_refused(make, dns, elbv2, target_group):
    dns.set(HOSTNAME, a=["10.0.1.5", "8.8.8.8", "169.254.169.254"])
    controller, _cfg = make(target_group)
    report = controller.run_once().mappings[0]
    assert set(states(elbv2, target_group)) == {"10.0.1.5"}
    assert {r.answer for r in report.refused} == {"8.8.8.8", "169.254.169.254"}


def test_only_refused_answers_is_a_failed_resolution(make, dns, elbv2, target_group):
    dns.set(HOSTNAME, a=["10.0.1.5"])
    controller, _cfg = make(target_group)
    controller.run_once()
    dns.set(HOSTNAME, a=["8.8.8.8"])
    cycle = controller.run_once()
    assert "every answer was refused" in cycle.mappings[0].error
    assert set(states(elbv2, target_group)) == {"10.0.1.5"}


def spent(controller, run):
    before = dict(controller.provider.calls)
    run()
    return {
        k: v - before.get(k, 0)
        for k, v in controller.provider.calls.items()
        if v - before.get(k, 0)
    }


def test_a_steady_cycle_costs_one_api_call_without_resync_trust(make, dns, target_group):
    dns.set(HOSTNAME, a=OLD)
    controller, _cfg = make(target_group, TGSYNC_RESYNC_EVERY=0)
    controller.run_once()
    for _ in range(3):
        assert spent(controller, controller.run_once) == {"DescribeTargetHealth": 1}


def test_dry_run_plans_but_changes_nothing(make, dns, elbv2, target_group):
    dns.set(HOSTNAME, a=OLD)
    controller, _cfg = make(target_group, TGSYNC_DRY_RUN="true")
    report = controller.run_once().mappings[0]
    assert states(elbv2, target_group) == {}
    assert [d.ip for d in report.decisions] == OLD and report.dry_run


def test_upsert_only_never_deregisters(make, dns, moto, elbv2, target_group):
    dns.set(HOSTNAME, a=OLD)
    controller, _cfg = make(target_group, TGSYNC_POLICY="upsert-only")
    controller.run_once()
    dns.set(HOSTNAME, a=NEW)
    for ip in OLD:
        moto.set_health(ip, "unhealthy")
    controller.run_once()
    controller.run_once()
    assert set(states(elbv2, target_group)) == set(OLD + NEW)
    # No WAIT means no memory: only the cold start's one read, which clears old records.
    assert controller.provider.calls["DescribeTags"] == 1
    assert controller.provider.calls["AddTags"] == 0


def test_the_configured_port_is_used_and_other_ports_are_left_alone(
    make, dns, moto, elbv2, target_group
):
    elbv2.register_targets(TargetGroupArn=target_group, Targets=[{"Id": "10.0.7.7", "Port": 22}])
    moto.set_health("10.0.7.7", "unhealthy")
    dns.set(HOSTNAME, a=["10.0.1.5"])
    controller, _cfg = make(target_group, TGSYNC_PORT=9200)
    controller.run_once()
    assert registered(elbv2, target_group) == {
        ("10.0.7.7", 22): "unhealthy",
        ("10.0.1.5", 9200): "healthy",
    }


def test_an_ipv6_group_is_kept_from_aaaa_records(make, dns, elbv2):
    arn = create_target_group(elbv2, "v6", ip_type="ipv6")
    dns.set(HOSTNAME, a=["10.0.1.5"], aaaa=["fd00::5"])
    controller, _cfg = make(arn)
    controller.run_once()
    assert states(elbv2, arn) == {"fd00::5": "healthy"}


def test_a_target_group_of_another_type_is_refused(make, dns, elbv2, target_group):
    vpc = elbv2.describe_target_groups(TargetGroupArns=[target_group])["TargetGroups"][0]["VpcId"]
    arn = elbv2.create_target_group(
        Name="inst", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="instance"
    )["TargetGroups"][0]["TargetGroupArn"]
    dns.set(HOSTNAME, a=["10.0.1.5"])
    controller, _cfg = make(arn)
    cycle = controller.run_once()
    assert "needs a target group of type ip" in cycle.mappings[0].error


def test_one_failing_mapping_does_not_stop_the_others(make, dns, elbv2, target_group):
    dns.set(HOSTNAME, a=["10.0.1.5"])
    gone = target_group.replace(target_group.rsplit("/", 1)[1], "00000000deadbeef")
    good = {"hostname": HOSTNAME, "target_group_arn": target_group}
    controller, _ = make(target_group)
    cfg = config.load(
        {
            config.DNS_SERVERS: f"127.0.0.1:{dns.port}",
            config.MAPPINGS: json.dumps(
                [
                    {"hostname": HOSTNAME, "target_group_arn": gone},
                    good,
                    {"hostname": "bad host", "target_group_arn": target_group},
                ]
            ),
        }
    )
    cycle = controller.with_config(cfg).run_once()
    assert [m.ok for m in cycle.mappings] == [False, True, False]
    assert "not found" in cycle.mappings[0].error
    assert "invalid configuration" in cycle.mappings[2].error
    assert set(states(elbv2, target_group)) == {"10.0.1.5"}


def test_alb_id_mismatch_warns_once_per_cold_start(make, dns, target_group, caplog):
    dns.set(HOSTNAME, a=["10.0.1.5"])
    controller, _cfg = make(
        target_group,
        AlbId="arn:aws:elasticloadbalancing:eu-west-1:"
        "123456789012:loadbalancer/app/other/0123456789abcdef",
    )
    controller.run_once()
    controller.run_once()
    message = "target group is not attached to AlbId"
    warnings = [r for r in caplog.records if r.getMessage() == message]
    assert len(warnings) == 1


def test_a_cold_start_with_many_groups_batches_the_one_off_reads(make, dns, elbv2):
    arns = [create_target_group(elbv2, f"tg-{i}") for i in range(25)]
    dns.set(HOSTNAME, a=["10.0.1.5"])
    controller, _ = make(arns[0])
    cfg = config.load(
        {
            config.DNS_SERVERS: f"127.0.0.1:{dns.port}",
            config.MAPPINGS: json.dumps(
                [{"hostname": HOSTNAME, "target_group_arn": arn} for arn in arns]
            ),
        }
    )
    assert controller.with_config(cfg).run_once().ok
    calls = controller.provider.calls
    assert calls["DescribeTargetGroups"] == 2  # 20 + 5
    assert calls["DescribeTags"] == 2
    assert calls["DescribeTargetHealth"] == 25


def test_one_wrong_arn_in_a_batch_fails_only_its_own_mapping(make, dns, elbv2, target_group):
    gone = target_group.replace(target_group.rsplit("/", 1)[1], "00000000deadbeef")
    dns.set(HOSTNAME, a=["10.0.1.5"])
    other = create_target_group(elbv2, "other")
    controller, _ = make(target_group)
    cfg = config.load(
        {
            config.DNS_SERVERS: f"127.0.0.1:{dns.port}",
            config.MAPPINGS: json.dumps(
                [
                    {"hostname": HOSTNAME, "target_group_arn": arn}
                    for arn in (target_group, gone, other)
                ]
            ),
        }
    )
    cycle = controller.with_config(cfg).run_once()
    assert [m.ok for m in cycle.mappings] == [True, False, True]
    assert "not found" in cycle.mappings[1].error


class TestTrustWhatNothingChanged:
    def settle(self, make, dns, target_group, **env):
        dns.set(HOSTNAME, a=OLD)
        controller, cfg = make(target_group, **env)
        controller.run_once()  # registers
        controller.run_once()  # reads: settled
        return controller, cfg

    def test_a_settled_group_costs_no_elb_call_until_it_is_due(
        self, make, dns, target_group, clock
    ):
        controller, _cfg = self.settle(make, dns, target_group)
        clock.now = controller.state.settled(f"{target_group}:443").due  # staggered
        assert spent(controller, controller.run_once) == {"DescribeTargetHealth": 1}
        for _ in range(4):  # a tick a minute: the next read is due 300 s after that one
            clock.now += 60
            assert spent(controller, controller.run_once) == {}
        clock.now += 60  # from now on, every TGSYNC_RESYNC_EVERY exactly
        assert spent(controller, controller.run_once) == {"DescribeTargetHealth": 1}

    def test_a_tick_that_comes_early_does_not_push_the_read_a_tick_late(
        self, make, dns, target_group, clock
    ):
        controller, _cfg = self.settle(make, dns, target_group)
        clock.now = controller.state.settled(f"{target_group}:443").due
        controller.run_once()  # read: due again in TGSYNC_RESYNC_EVERY (300 s)
        read_at = clock.now
        for now in (read_at + 60, read_at + 120, read_at + 180, read_at + 239):
            clock.now = now
            assert spent(controller, controller.run_once) == {}
        clock.now = read_at + 299  # a second early: the next tick would be at 359
        assert spent(controller, controller.run_once) == {"DescribeTargetHealth": 1}

    def test_a_group_with_a_tag_we_cannot_read_settles_too(
        self, make, dns, elbv2, target_group, clock
    ):
        elbv2.add_tags(
            ResourceArns=[target_group],
            Tags=[{"Key": "tgsync:missing:443:1", "Value": "not a record"}],
        )
        controller, _cfg = self.settle(make, dns, target_group)
        assert controller.state.settled(f"{target_group}:443") is not None
        record = controller.state.settled(f"{target_group}:443")
        clock.now = record.read_at + (record.due - record.read_at) / 4  # the next tick too
        assert controller.run_once().mappings[0].read_skipped

    def test_a_dns_change_is_read_at_once(self, make, dns, elbv2, target_group, clock):
        controller, _cfg = self.settle(make, dns, target_group)
        dns.set(HOSTNAME, a=[*OLD, "10.0.4.5"])
        clock.now += 1
        report = controller.run_once().mappings[0]
        assert report.observed and report.registered_ips == ["10.0.4.5"]

    def test_a_target_removed_by_hand_is_repaired_at_the_next_resync(
        self, make, dns, elbv2, target_group, clock
    ):
        controller, _cfg = self.settle(make, dns, target_group, TGSYNC_RESYNC_EVERY=120)
        elbv2.deregister_targets(TargetGroupArn=target_group, Targets=[{"Id": OLD[0], "Port": 443}])
        for _ in range(3):
            clock.now += 60
            controller.run_once()
        assert set(states(elbv2, target_group)) == set(OLD)

    def test_an_unhealthy_target_keeps_its_group_read_every_cycle(
        self, make, dns, moto, target_group, clock
    ):
        controller, _cfg = self.settle(make, dns, target_group)
        clock.now += 600  # due
        moto.set_health(OLD[1], "unhealthy", "Target.Timeout")
        for _ in range(3):
            clock.now += 60
            report = controller.run_once().mappings[0]
            assert report.observed and report.healthy == 2

    def test_a_dry_run_always_reads(self, make, dns, target_group, clock):
        controller, _cfg = self.settle(make, dns, target_group)
        clock.now += 1
        assert controller.run_once(dry_run=True).mappings[0].observed

    def test_a_skipped_read_reports_no_health(self, make, dns, target_group, clock):
        from tgsync.report import mapping_metrics

        controller, _cfg = self.settle(make, dns, target_group)
        record = controller.state.settled(f"{target_group}:443")
        clock.now = record.read_at + (record.due - record.read_at) / 4  # the next tick too
        report = controller.run_once().mappings[0]
        assert report.read_skipped and report.to_dict()["read"] == "skipped: settled"
        names = dict(mapping_metrics(report))
        assert "HealthyTargets" not in names and names["GroupsRead"] == 0


def test_a_cold_start_with_too_many_groups_defers_what_time_does_not_allow(make, dns, elbv2):
    arns = [create_target_group(elbv2, f"tg-{i}") for i in range(6)]
    dns.set(HOSTNAME, a=["10.0.1.5"])
    controller, _ = make(arns[0])
    cfg = config.load(
        {
            config.DNS_SERVERS: f"127.0.0.1:{dns.port}",
            config.CONCURRENCY: "1",
            config.MAPPINGS: json.dumps(
                [{"hostname": HOSTNAME, "target_group_arn": arn} for arn in arns]
            ),
        }
    )

    def budget() -> float:  # time for three groups, then none
        # A call is counted as it starts: the fourth group's registration is cut short.
        return 60.0 if controller.provider.calls["RegisterTargets"] < 4 else 1.0

    first = controller.with_config(cfg).run_once(time_left=budget)
    assert first.ok
    assert sum(1 for m in first.mappings if m.deferred) == 3
    deferred = {m.target_group_arn for m in first.mappings if m.deferred}
    second = controller.with_config(cfg).run_once()
    assert second.ok
    assert deferred <= {m.target_group_arn for m in second.mappings if m.observed}


def test_a_slow_name_cannot_keep_the_other_groups_last(elbv2, dns, proxy, clock):
    """Issue 30, item 3: tags may ask for a slow name and many lookups; groups whose
    lookup ran out of the invocation's time kept their place in front (ordered by the
    last read, which they never finished), and the groups after them were never reached.
    The mappings now take turns: who had one goes to the back."""
    import time

    slow = [create_target_group(elbv2, f"slow-{i}") for i in range(2)]
    quick = create_target_group(elbv2, "zz-quick")
    dns.set(
        "slow.example.com", a=[f"10.0.1.{i}" for i in range(1, 11)], subset=1, delay=0.4
    )  # ten rotating answers, each late: more than an invocation's time
    dns.set(HOSTNAME, a=["10.0.2.5"])
    cfg = config.load(
        {
            config.DNS_SERVERS: dns.address,
            config.CONCURRENCY: "1",
            config.MAPPINGS: json.dumps(
                [
                    {"hostname": "slow.example.com", "target_group_arn": arn, "lookups": 10}
                    for arn in slow
                ]
                + [{"hostname": HOSTNAME, "target_group_arn": quick}]
            ),
        }
    )
    provider = CountingProvider()
    controller = Controller(
        provider,
        TagRegistry(provider),
        lambda servers: DnsSource(servers, timeout=1.0, lifetime=2.0),
        config=cfg,
        clock=clock,
    )
    for _ in range(3):
        ends = time.monotonic() + 4.0 + 10.0  # 4 s past the reporting margin
        controller.run_once(time_left=lambda ends=ends: ends - time.monotonic())
        clock.now += 60
    assert registered(elbv2, quick) == {("10.0.2.5", 443): "healthy"}
