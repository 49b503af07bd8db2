"""The ELBv2 provider against moto's server on 127.0.0.1."""

from __future__ import annotations

import pytest

from conftest import registered
from testlab.peers import create_target_group
from tgsync.errors import ProviderError
from tgsync.provider.elbv2 import Elbv2Provider


@pytest.fixture
def provider(elbv2):
    return Elbv2Provider()


def test_facts_are_read_once_per_process(provider, target_group):
    first = provider.facts(target_group)
    second = provider.facts(target_group)
    assert first is second
    assert (first.port, first.protocol, first.ip_address_type, first.target_type) == (
        443, "HTTPS", "ipv4", "ip")
    assert first.record_type == "A"
    assert provider.calls["DescribeTargetGroups"] == 1


def test_an_ipv6_group_wants_aaaa_records(provider, elbv2):
    arn = create_target_group(elbv2, "v6", ip_type="ipv6")
    assert provider.facts(arn).record_type == "AAAA"


def test_register_and_deregister_use_the_port(provider, elbv2, target_group):
    provider.register(target_group, ["10.0.1.5", "10.0.2.5"], 9200)
    assert registered(elbv2, target_group) == {("10.0.1.5", 9200): "healthy",
                                               ("10.0.2.5", 9200): "healthy"}
    provider.deregister(target_group, ["10.0.1.5"], 9200)
    assert registered(elbv2, target_group) == {("10.0.2.5", 9200): "healthy"}


def test_targets_carry_the_health_the_checks_found(provider, moto, target_group):
    provider.register(target_group, ["10.0.1.5", "10.0.2.5"], 443)
    moto.set_health("10.0.2.5", "unhealthy", "Target.FailedHealthChecks")
    found = {t.ip: t for t in provider.targets(target_group)}
    assert found["10.0.1.5"].state == "healthy"
    assert found["10.0.2.5"].describe_state() == "unhealthy (Target.FailedHealthChecks)"
    assert provider.calls["DescribeTargetHealth"] == 1


def test_ips_outside_the_vpc_are_registered_with_availability_zone_all(
        provider, moto, elbv2, target_group):
    moto.update_control(outside_vpc=["192.168.0.0/16"])
    provider.register(target_group, ["10.0.1.5", "192.168.7.7", "192.168.8.8"], 443)
    assert set(registered(elbv2, target_group)) == {
        ("10.0.1.5", 443), ("192.168.7.7", 443), ("192.168.8.8", 443)}
    # Learnt once: the next registration of a known outside IP needs one call.
    before = provider.calls["RegisterTargets"]
    provider.register(target_group, ["192.168.7.7"], 443)
    assert provider.calls["RegisterTargets"] == before + 1


def test_tags_round_trip(provider, target_group):
    provider.change_tags(target_group, {"tgsync:missing:443:10.0.1.5": "1/2", "a": "b"}, [])
    provider.change_tags(target_group, {}, ["a"])
    assert provider.tags(target_group) == {"tgsync:missing:443:10.0.1.5": "1/2"}


def test_a_missing_target_group_is_a_clear_error(provider, target_group):
    gone = target_group.replace(target_group.rsplit("/", 1)[1], "00000000deadbeef")
    with pytest.raises(ProviderError, match="not found; check TGSYNC_TARGET_GROUP_ARN"):
        provider.targets(gone)
