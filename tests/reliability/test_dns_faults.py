"""DNS faults through a whole cycle: the target group only ever moves towards what
DNS really returned, and a failed lookup moves nothing."""

from __future__ import annotations

import pytest

from conftest import HOSTNAME, registered

IPS = ["10.0.1.5", "10.0.2.5", "10.0.3.5"]


def ips(elbv2, arn):
    return {ip for ip, _port in registered(elbv2, arn)}


@pytest.fixture
def synced(dns, elbv2, target_group, cycle, moto):
    """A group in sync with IPS, one of them unhealthy, and a zero stale period: any
    wrong conclusion from a bad answer would show at once."""
    dns.set(HOSTNAME, a=IPS)
    controller, cfg = cycle(target_group, TGSYNC_STALE_AFTER=0)
    assert controller.run_once().ok
    moto.set_health(IPS[0], "unhealthy", "Target.FailedHealthChecks")
    return controller, cfg


@pytest.mark.parametrize("mode", ["timeout", "servfail", "refused", "nxdomain", "empty"])
def test_a_failed_lookup_moves_nothing(synced, dns, elbv2, target_group, proxy, mode):
    controller, cfg = synced
    dns.mode(HOSTNAME, mode)
    mark = proxy.mark()
    report = controller.with_config(cfg).run_once().mappings[0]
    assert not report.resolved
    assert "nothing changed" in report.error
    assert [r.action for r in proxy.since(mark)] == ["DescribeTargetHealth"]
    assert ips(elbv2, target_group) == set(IPS)


def test_a_truncated_answer_is_fetched_over_tcp(synced, dns, elbv2, target_group):
    controller, cfg = synced
    dns.set(HOSTNAME, a=[*IPS, "10.0.4.5"], mode="truncate")
    assert controller.with_config(cfg).run_once().ok
    assert "10.0.4.5" in ips(elbv2, target_group)


def test_answers_that_change_between_lookups_are_united(dns, elbv2, target_group, cycle):
    every = [f"10.0.{i}.5" for i in range(1, 9)]
    dns.set(HOSTNAME, a=every, subset=4)
    controller, _cfg = cycle(target_group, TGSYNC_LOOKUPS=10, TGSYNC_STALE_AFTER=0)
    report = controller.run_once().mappings[0]
    assert len(report.wanted) > 4
    assert set(report.wanted) <= ips(elbv2, target_group)


def test_answers_in_random_order_cause_no_churn(dns, elbv2, target_group, cycle, proxy):
    dns.set(HOSTNAME, a=IPS)  # the server shuffles every answer
    controller, _cfg = cycle(target_group)
    controller.run_once()
    mark = proxy.mark()
    for _ in range(5):
        assert controller.run_once().ok
    assert {r.action for r in proxy.since(mark)} == {"DescribeTargetHealth"}


def test_refused_addresses_mixed_in_are_dropped_the_rest_synced(synced, dns, elbv2, target_group):
    controller, cfg = synced
    dns.set(HOSTNAME, a=[*IPS, "8.8.8.8", "127.0.0.1", "169.254.169.254", "224.0.0.5"])
    report = controller.with_config(cfg).run_once().mappings[0]
    assert report.ok
    assert len(report.refused) == 4
    assert ips(elbv2, target_group) == set(IPS)


def test_a_dead_first_nameserver_falls_over_to_the_live_second(dns, elbv2, target_group, cycle):
    dns.set(HOSTNAME, a=IPS)
    controller, _cfg = cycle(target_group, servers=f"127.0.0.1:9,{dns.address}")
    assert controller.run_once().ok
    assert ips(elbv2, target_group) == set(IPS)
