"""The ELBv2 provider against moto's server on 127.0.0.1."""

from __future__ import annotations

import pytest

from conftest import registered
from testlab.counting import CountingProvider
from testlab.peers import create_target_group
from tgsync.errors import ProviderError


@pytest.fixture
def provider(elbv2):
    """A provider allowed to reach outside the group's VPC (TGSYNC_OUTSIDE_VPC=allow)."""
    return CountingProvider(outside_vpc=True)


def test_facts_are_read_once_per_process(provider, target_group):
    first = provider.facts(target_group)
    second = provider.facts(target_group)
    assert first is second
    assert (first.port, first.protocol, first.ip_address_type, first.target_type) == (
        443,
        "HTTPS",
        "ipv4",
        "ip",
    )
    assert first.record_type == "A"
    assert provider.calls["DescribeTargetGroups"] == 1


def test_an_ipv6_group_wants_aaaa_records(provider, elbv2):
    arn = create_target_group(elbv2, "v6", ip_type="ipv6")
    assert provider.facts(arn).record_type == "AAAA"


def test_register_and_deregister_use_the_port(provider, elbv2, target_group):
    provider.register(target_group, ["10.0.1.5", "10.0.2.5"], 9200)
    assert registered(elbv2, target_group) == {
        ("10.0.1.5", 9200): "healthy",
        ("10.0.2.5", 9200): "healthy",
    }
    provider.deregister(
        target_group, [t for t in provider.targets(target_group) if t.ip == "10.0.1.5"]
    )
    assert registered(elbv2, target_group) == {("10.0.2.5", 9200): "healthy"}


def test_targets_carry_the_health_the_checks_found(provider, moto, target_group):
    provider.register(target_group, ["10.0.1.5", "10.0.2.5"], 443)
    moto.set_health("10.0.2.5", "unhealthy", "Target.FailedHealthChecks")
    found = {t.ip: t for t in provider.targets(target_group)}
    assert found["10.0.1.5"].state == "healthy"
    assert found["10.0.2.5"].describe_state() == "unhealthy (Target.FailedHealthChecks)"
    assert provider.calls["DescribeTargetHealth"] == 1


def test_ips_outside_the_vpc_are_registered_with_availability_zone_all(
    provider, moto, elbv2, target_group
):
    moto.update_control(outside_vpc=["192.168.0.0/16"])
    provider.register(target_group, ["10.0.1.5", "192.168.7.7", "192.168.8.8"], 443)
    assert set(registered(elbv2, target_group)) == {
        ("10.0.1.5", 443),
        ("192.168.7.7", 443),
        ("192.168.8.8", 443),
    }
    # Learnt once: the next registration of a known outside IP needs one call.
    before = provider.calls["RegisterTargets"]
    provider.register(target_group, ["192.168.7.7"], 443)
    assert provider.calls["RegisterTargets"] == before + 1


def test_an_ip_outside_the_vpc_is_deregistered_with_the_zone_elb_reported(
    provider, moto, elbv2, target_group
):
    moto.update_control(outside_vpc=["192.168.0.0/16"])
    provider.register(target_group, ["192.168.7.7"], 443)
    (target,) = provider.targets(target_group)
    assert target.availability_zone == "all"
    provider.deregister(target_group, [target])
    assert registered(elbv2, target_group) == {}


def test_the_test_lab_requires_the_zone_on_deregister_outside_the_vpc(moto, elbv2, target_group):
    moto.update_control(outside_vpc=["192.168.0.0/16"])
    elbv2.register_targets(
        TargetGroupArn=target_group,
        Targets=[{"Id": "192.168.7.7", "Port": 443, "AvailabilityZone": "all"}],
    )
    with pytest.raises(elbv2.exceptions.ClientError, match="Availability Zone is required"):
        elbv2.deregister_targets(
            TargetGroupArn=target_group, Targets=[{"Id": "192.168.7.7", "Port": 443}]
        )


@pytest.mark.parametrize(
    "wording",
    [
        "The Availability Zone must be 'all' for IP address '{ip}' when not within the VPC",
        "The IP address '{ip}' is not within any of the subnets of the target group's VPC",
    ],
)
def test_any_zone_wording_that_quotes_the_ip_is_retried_with_zone_all(
    provider, moto, elbv2, target_group, wording
):
    moto.update_control(outside_vpc=["192.168.0.0/16"], zone_message=wording)
    assert provider.register(target_group, ["10.0.1.5", "192.168.7.7"], 443) == []
    assert set(registered(elbv2, target_group)) == {("10.0.1.5", 443), ("192.168.7.7", 443)}


def test_an_address_elb_refuses_is_set_aside_and_the_rest_registered(
    provider, moto, elbv2, target_group
):
    # The target group's VPC is 10.0.0.0/16: 10.0.0.2 is its DNS resolver.
    moto.update_control(refuse={"10.0.1.9": "Target '10.0.1.9' cannot be used"})
    rejected = provider.register(
        target_group, ["10.0.0.2", "10.0.1.5", "10.0.1.9", "10.0.2.5"], 443
    )
    assert [(r.ip, "'" + r.ip + "'" in r.message) for r in rejected] == [
        ("10.0.0.2", True),
        ("10.0.1.9", True),
    ]
    assert set(registered(elbv2, target_group)) == {("10.0.1.5", 443), ("10.0.2.5", 443)}


def test_a_refusal_that_names_no_ip_is_narrowed_down_one_target_at_a_time(
    provider, moto, elbv2, target_group
):
    moto.update_control(refuse={"10.0.1.9": "That target is not allowed"})
    rejected = provider.register(target_group, ["10.0.1.5", "10.0.1.9", "10.0.2.5"], 443)
    assert [(r.ip, r.message) for r in rejected] == [("10.0.1.9", "That target is not allowed")]
    assert set(registered(elbv2, target_group)) == {("10.0.1.5", 443), ("10.0.2.5", 443)}


def test_ipv6_ids_are_compared_canonically_and_sent_back_as_elb_knows_them(provider, elbv2):
    arn = create_target_group(elbv2, "v6", ip_type="ipv6")
    elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": "fd00:0db8::0001", "Port": 443}])
    (target,) = provider.targets(arn)
    assert (target.ip, target.id) == ("fd00:db8::1", "fd00:0db8::0001")
    provider.deregister(arn, [target])
    assert registered(elbv2, arn) == {}


def test_tags_round_trip(provider, target_group):
    provider.change_tags(target_group, {"tgsync:missing:443:1": "10.0.1.5=1/2/1", "a": "b"}, [])
    provider.change_tags(target_group, {}, ["a"])
    assert provider.tags(target_group) == {"tgsync:missing:443:1": "10.0.1.5=1/2/1"}


def test_a_full_tag_set_makes_room_before_adding(provider, elbv2, target_group):
    elbv2.add_tags(
        ResourceArns=[target_group], Tags=[{"Key": f"user-{i}", "Value": "x"} for i in range(50)]
    )
    provider.change_tags(target_group, {"tgsync:missing:443:1": "10.0.1.6=3/3/1"}, ["user-0"])
    assert "tgsync:missing:443:1" in provider.tags(target_group)


class TestTheLabIsAsStrictAsElbAboutTags:
    def test_a_51st_tag_is_refused(self, elbv2, target_group):
        elbv2.add_tags(
            ResourceArns=[target_group],
            Tags=[{"Key": f"user-{i}", "Value": "x"} for i in range(50)],
        )
        with pytest.raises(elbv2.exceptions.ClientError, match="TooManyTags"):
            elbv2.add_tags(ResourceArns=[target_group], Tags=[{"Key": "one-more", "Value": ""}])

    @pytest.mark.parametrize(
        ("key", "value"), [("aws:owner", "x"), ("k" * 129, "x"), ("key", "v" * 257), ("key", "a,b")]
    )
    def test_keys_and_values_elb_refuses_are_refused(self, elbv2, target_group, key, value):
        with pytest.raises(elbv2.exceptions.ClientError, match="ValidationError"):
            elbv2.add_tags(ResourceArns=[target_group], Tags=[{"Key": key, "Value": value}])


def test_a_missing_target_group_is_a_clear_error(provider, target_group):
    gone = target_group.replace(target_group.rsplit("/", 1)[1], "00000000deadbeef")
    with pytest.raises(ProviderError, match=r"not found \(deleted, or in another account") as err:
        provider.targets(gone)
    assert (err.value.operation, err.value.target_group, err.value.code) == (
        "DescribeTargetHealth",
        gone,
        "TargetGroupNotFound",
    )
    assert "TGSYNC_TARGET_GROUP_ARN" not in str(err.value)  # the setting may not be in use


def test_calls_near_the_deadline_use_a_fixed_few_clients_whatever_the_time_left(
    elbv2, target_group, monkeypatch
):
    """Issue 29, item 5: each half-second of time left under 7 s once made a boto3 client
    of its own, on a new session, kept for the process's life (8 to 12 MB each): a long
    blue/green or failover storm grew the function by 200 MB. The one AWS call path keeps
    a fixed few tiers per service and region."""
    import boto3

    from tgsync.aws import TIERS
    from tgsync.deadline import Deadline

    made = []
    real = boto3.session.Session.client

    def counting(self, *args, **kwargs):
        made.append(args[0] if args else kwargs.get("service_name"))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(boto3.session.Session, "client", counting)
    from tgsync.provider.elbv2 import Elbv2Provider

    provider = Elbv2Provider()
    left = 6.95
    while left > 1.0:  # every 100 ms of time left, from just under a full attempt to 1 s
        provider.targets(target_group, deadline=Deadline(lambda s=left: s, margin=0))
        left -= 0.1
    assert 1 < len(made) <= len(TIERS)
