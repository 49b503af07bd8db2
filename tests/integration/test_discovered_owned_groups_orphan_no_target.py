"""Review 2 (adversarial): discovery with ``retire=owned`` (issue 23: "a discovered
group may carry tgsync:retire=owned"). Each test states a promise and fails while it is
broken."""

from __future__ import annotations

import boto3
import pytest

from conftest import HOSTNAME, registered
from testlab.peers import REGION, create_target_group
from tgsync import config

NEW_HOST = "db.internal.example.com"
OLD_IP, NEW_IP = "10.0.1.5", "10.0.2.5"


def tag(elbv2, arn, **tags):
    elbv2.add_tags(ResourceArns=[arn], Tags=[{"Key": k, "Value": v} for k, v in tags.items()])


def ips(elbv2, arn):
    return {ip for ip, _port in registered(elbv2, arn)}


@pytest.fixture
def discover(cycle, dns):
    def build(**env):
        controller, _ = cycle(
            "arn:aws:elasticloadbalancing:eu-west-1:123456789012:"
            "targetgroup/unused/0123456789abcdef"
        )
        values = {
            config.DISCOVER: "tags",
            "AWS_REGION": REGION,
            config.DISCOVER_PREFIX: "*",
            config.DNS_SERVERS: dns.address,
            config.STALE_AFTER: "120",
        }
        values.update({k: str(v) for k, v in env.items()})
        return controller.with_config(config.load(values))

    return build


@pytest.fixture
def vpc(moto):
    return boto3.client("ec2", region_name=REGION).create_vpc(CidrBlock="10.0.0.0/16")["Vpc"][
        "VpcId"
    ]


def test_retagging_an_owned_group_to_a_new_hostname_does_not_orphan_the_old_targets(
    discover, dns, moto, elbv2, vpc, clock
):
    """Promise (issue 23 and retire=all's default): tgsync retires what *it* registered
    once DNS no longer returns it and it is unhealthy; only targets of another live
    mapping or of a person are left alone. A discovered ``retire=owned`` group whose
    ``tgsync:hostname`` tag is changed is not let go (same ARN), so the old hostname's
    ownership records stay under the old owner id: the new mapping takes the old,
    unhealthy target for "another mapping's" and leaves it in the group forever (a freed
    IP another host may take next, served by the load balancer). Nothing ever removes
    the orphaned records; with retire=all the same retag retires it."""
    arn = create_target_group(elbv2, "logs", vpc_id=vpc)
    tag(elbv2, arn, **{"tgsync:hostname": HOSTNAME, "tgsync:retire": "owned"})
    dns.set(HOSTNAME, a=[OLD_IP])
    controller = discover(TGSYNC_DISCOVER_EVERY=60)
    assert controller.run_once().ok
    assert ips(elbv2, arn) == {OLD_IP}

    tag(elbv2, arn, **{"tgsync:hostname": NEW_HOST})  # the group now fronts another name
    dns.set(NEW_HOST, a=[NEW_IP])
    moto.set_health(OLD_IP, "unhealthy", "Target.Timeout")
    moto.set_health(NEW_IP, "healthy")
    foreign = []
    for _ in range(5):
        clock.now += 60
        report = controller.run_once()
        assert report.ok, report.failure_summary()
        foreign += report.mappings[0].foreign
    assert ips(elbv2, arn) == {NEW_IP}, (
        f"the old hostname's unhealthy target is kept as another mapping's: {foreign}"
    )
