"""Whole cycles at ELB's real edges: duplicate mappings, a full tag set, an IP ELB
refuses, the zone on deregister, IPv6 spellings, and capped DNS answers.

Each test names the promise it keeps; the test lab (``testlab/moto_server.py``) is as
strict as ELB about every rule these promises depend on.
"""

from __future__ import annotations

import json

import pytest

from conftest import HOSTNAME, registered
from testlab.peers import create_target_group
from tgsync import config
from tgsync.memory_codec import MAX_TAGS, decode

OTHER_HOST = "db.internal.example.com"


def tags_of(elbv2, arn):
    found = elbv2.describe_tags(ResourceArns=[arn])["TagDescriptions"][0]["Tags"]
    return {t["Key"]: t["Value"] for t in found}


def ips(elbv2, arn):
    return {ip for ip, _port in registered(elbv2, arn)}


def user_tags(elbv2, arn, count):
    for start in range(0, count, 20):
        elbv2.add_tags(
            ResourceArns=[arn],
            Tags=[
                {"Key": f"team-{i}", "Value": "search"}
                for i in range(start, min(count, start + 20))
            ],
        )


class TestDuplicateMappings:
    def test_an_unset_port_and_the_groups_own_port_clash_and_neither_syncs(
        self, cycle, dns, elbv2, target_group
    ):
        other = create_target_group(elbv2, "other")
        dns.set(HOSTNAME, a=["10.0.1.5"])
        dns.set(OTHER_HOST, a=["10.0.2.5"])
        elbv2.register_targets(TargetGroupArn=target_group, Targets=[{"Id": "10.0.9.9"}])
        controller, _ = cycle(target_group)
        cfg = config.load(
            {
                config.DNS_SERVERS: dns.address,
                config.MAPPINGS: json.dumps(
                    [
                        {"hostname": HOSTNAME, "target_group_arn": target_group},
                        {"hostname": "not a host", "target_group_arn": target_group},
                        {"hostname": OTHER_HOST, "target_group_arn": target_group, "port": 443},
                        {"hostname": OTHER_HOST, "target_group_arn": other},
                    ]
                ),
            }
        )
        reports = {m.label: m for m in controller.with_config(cfg).run_once().mappings}
        first = reports[f"{HOSTNAME} -> opensearch"]
        third = reports[f"{OTHER_HOST} -> opensearch"]
        for report in (first, third):
            assert not report.ok
            assert "TGSYNC_MAPPINGS[0] and TGSYNC_MAPPINGS[2]" in report.error
        assert ips(elbv2, target_group) == {"10.0.9.9"}  # untouched
        assert reports[f"{OTHER_HOST} -> other"].ok
        assert ips(elbv2, other) == {"10.0.2.5"}

    def test_the_same_group_on_two_ports_is_no_clash(self, cycle, dns, elbv2, target_group):
        dns.set(HOSTNAME, a=["10.0.1.5"])
        controller, _ = cycle(target_group)
        cfg = config.load(
            {
                config.DNS_SERVERS: dns.address,
                config.MAPPINGS: json.dumps(
                    [
                        {"hostname": HOSTNAME, "target_group_arn": target_group},
                        {"hostname": HOSTNAME, "target_group_arn": target_group, "port": 9200},
                    ]
                ),
            }
        )
        cycle_report = controller.with_config(cfg).run_once()
        assert cycle_report.ok  # (moto keys targets by IP alone, so the group is not read)
        assert [(m.port, m.registered_ips) for m in cycle_report.mappings] == [
            (443, ["10.0.1.5"]),
            (9200, ["10.0.1.5"]),
        ]


class TestAFullTagSet:
    def test_a_full_tag_set_swapping_one_missing_ip_for_another_still_retires(
        self, cycle, dns, elbv2, target_group, clock
    ):
        user_tags(elbv2, target_group, MAX_TAGS - 1)
        elbv2.register_targets(
            TargetGroupArn=target_group, Targets=[{"Id": "10.0.1.5"}, {"Id": "10.0.2.5"}]
        )
        dns.set(HOSTNAME, a=["10.0.2.5"])
        controller, _cfg = cycle(target_group, TGSYNC_STALE_AFTER=120)
        assert controller.run_once().ok  # 10.0.1.5 missing: remembered (tag 50)
        clock.now += 60
        dns.set(HOSTNAME, a=["10.0.1.5"])  # swapped: 10.0.2.5 is the missing one now
        assert controller.run_once().ok
        for _ in range(2):
            clock.now += 60
            report = controller.run_once().mappings[0]
            assert report.ok, report.error
        assert ips(elbv2, target_group) == {"10.0.1.5"}
        assert len(tags_of(elbv2, target_group)) == MAX_TAGS - 1  # memory cleared

    def test_a_30_node_blue_green_fits_beside_40_tags_of_the_users_own(
        self, cycle, dns, elbv2, target_group, clock
    ):
        blue = [f"10.0.{i // 10 + 1}.{i % 10 + 10}" for i in range(30)]
        green = [f"10.0.{i // 10 + 4}.{i % 10 + 10}" for i in range(30)]
        user_tags(elbv2, target_group, 40)
        dns.set(HOSTNAME, a=blue)
        controller, _cfg = cycle(target_group, TGSYNC_STALE_AFTER=120)
        assert controller.run_once().ok
        dns.set(HOSTNAME, a=green)
        for _ in range(3):
            clock.now += 60
            report = controller.run_once().mappings[0]
            assert report.ok, report.error
        assert ips(elbv2, target_group) == set(green)

    def test_when_space_truly_runs_out_nothing_healthy_goes_early_and_the_error_says_whose(
        self, cycle, dns, moto, elbv2, target_group, clock
    ):
        user_tags(elbv2, target_group, MAX_TAGS)
        elbv2.register_targets(
            TargetGroupArn=target_group,
            Targets=[{"Id": "10.0.1.5"}, {"Id": "10.0.2.5"}, {"Id": "10.0.3.5"}],
        )
        moto.set_health("10.0.3.5", "unhealthy", "Target.FailedHealthChecks")
        dns.set(HOSTNAME, a=["10.0.1.5"])
        controller, _cfg = cycle(target_group, TGSYNC_STALE_AFTER=120)
        for _ in range(5):
            report = controller.run_once().mappings[0]
            assert not report.ok
            assert "tgsync's own are tgsync:missing:*" in report.error
            assert "10.0.2.5" in ips(elbv2, target_group)  # never retired without memory
            clock.now += 60
        assert "10.0.3.5" not in ips(elbv2, target_group)  # not serving: retired anyway


class TestAnIpElbRefuses:
    def test_one_refused_ip_does_not_freeze_the_group(self, cycle, dns, moto, elbv2, target_group):
        elbv2.register_targets(
            TargetGroupArn=target_group, Targets=[{"Id": "10.0.9.9"}, {"Id": "10.0.8.8"}]
        )
        moto.set_health("10.0.9.9", "unhealthy", "Target.FailedHealthChecks")
        # 10.0.0.2 is the resolver of the group's VPC (10.0.0.0/16): ELB refuses it.
        dns.set(HOSTNAME, a=["10.0.0.2", "10.0.1.5", "10.0.2.5"])
        controller, _cfg = cycle(target_group)
        report = controller.run_once().mappings[0]
        assert not report.ok
        assert "RegisterTargets refused 10.0.0.2: The IP address '10.0.0.2'" in report.error
        assert ips(elbv2, target_group) == {"10.0.1.5", "10.0.2.5", "10.0.8.8"}
        assert set(decode(tags_of(elbv2, target_group), 443).memory) == {"10.0.8.8"}

    def test_a_draining_ip_elb_will_not_take_back_yet_is_a_wait(
        self, cycle, dns, moto, elbv2, target_group
    ):
        moto.update_control(draining_seconds=300, refuse_draining=True)
        elbv2.register_targets(
            TargetGroupArn=target_group, Targets=[{"Id": "10.0.1.5"}, {"Id": "10.0.2.5"}]
        )
        elbv2.deregister_targets(
            TargetGroupArn=target_group, Targets=[{"Id": "10.0.1.5", "Port": 443}]
        )
        dns.set(HOSTNAME, a=["10.0.1.5", "10.0.2.5"])
        controller, _cfg = cycle(target_group)
        report = controller.run_once().mappings[0]
        assert report.ok, report.error
        (decision,) = [d for d in report.decisions if d.ip == "10.0.1.5"]
        assert decision.action == "WAIT" and "will not take it back yet" in decision.reason


class TestOutsideTheVpc:
    def test_an_ip_outside_the_vpc_is_registered_and_later_retired(
        self, cycle, dns, moto, elbv2, target_group
    ):
        moto.update_control(
            outside_vpc=["192.168.0.0/16"],
            zone_message="The IP address '{ip}' is not within any of the "
            "subnets of the target group's VPC",
        )
        dns.set(HOSTNAME, a=["10.0.1.5", "192.168.7.7"])
        controller, cfg = cycle(target_group, TGSYNC_OUTSIDE_VPC="allow")
        assert controller.run_once().ok
        assert ips(elbv2, target_group) == {"10.0.1.5", "192.168.7.7"}
        dns.set(HOSTNAME, a=["10.0.1.5"])
        moto.set_health("192.168.7.7", "unhealthy", "Target.Timeout")
        fresh, _ = cycle(target_group, TGSYNC_OUTSIDE_VPC="allow")  # a cold start
        report = fresh.with_config(cfg).run_once().mappings[0]
        assert report.ok, report.error
        assert ips(elbv2, target_group) == {"10.0.1.5"}

    def test_outside_the_vpc_is_refused_unless_allowed_naming_the_setting(
        self, cycle, dns, moto, elbv2, target_group
    ):
        moto.update_control(
            outside_vpc=["192.168.0.0/16"],
            zone_message="The IP address '{ip}' is not within any of the "
            "subnets of the target group's VPC",
        )
        dns.set(HOSTNAME, a=["10.0.1.5", "192.168.7.7"])
        controller, _cfg = cycle(target_group)
        report = controller.run_once().mappings[0]
        assert not report.ok
        assert "TGSYNC_OUTSIDE_VPC=allow" in report.error
        assert ips(elbv2, target_group) == {"10.0.1.5"}  # the rest registered


class TestIpv6Spellings:
    def test_an_ipv6_target_registered_in_a_long_form_is_one_target(self, cycle, dns, moto, elbv2):
        arn = create_target_group(elbv2, "v6", ip_type="ipv6")
        elbv2.register_targets(
            TargetGroupArn=arn, Targets=[{"Id": "fd00:0db8:0000::0001"}, {"Id": "fd00:0db8::0009"}]
        )
        moto.set_health("fd00:0db8::0009", "unhealthy")
        dns.set(HOSTNAME, aaaa=["fd00:db8::1"])
        controller, _cfg = cycle(arn)
        report = controller.run_once().mappings[0]
        assert report.ok, report.error
        assert report.registered_ips == []
        assert report.deregistered_ips == ["fd00:db8::9"]
        assert ips(elbv2, arn) == {"fd00:0db8:0000::0001"}


class TestCappedAnswers:
    NODES = tuple(f"10.0.{i // 10 + 1}.{i % 10 + 10}" for i in range(24))

    @pytest.mark.parametrize("sticky", [False, True])
    def test_no_live_node_is_retired_behind_answers_of_8(
        self, cycle, dns, moto, elbv2, target_group, clock, sticky
    ):
        dns.set(HOSTNAME, a=self.NODES, subset=8, sticky=sticky)
        controller, _cfg = cycle(target_group, TGSYNC_STALE_AFTER=120)
        for _ in range(30):
            report = controller.run_once().mappings[0]
            assert report.ok, report.error
            assert report.deregistered_ips == []
            dns.reshuffle(HOSTNAME)
            clock.now += 60
        assert ips(elbv2, target_group) == set(self.NODES)
