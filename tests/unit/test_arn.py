"""Target group ARNs: every partition AWS has, and a clear error for anything else."""

from __future__ import annotations

import pytest

from tgsync.arn import TargetGroupArn, load_balancer_name, partitions, target_group_name

TAIL = ":123456789012:targetgroup/opensearch/0123456789abcdef"


@pytest.mark.parametrize(
    ("partition", "region"),
    [
        ("aws", "eu-west-1"),
        ("aws-cn", "cn-north-1"),
        ("aws-us-gov", "us-gov-west-1"),
        ("aws-eusc", "eusc-de-east-1"),
        ("aws-iso-b", "us-isob-east-1"),
    ],
)
def test_every_partition_botocore_knows_is_accepted(partition, region):
    assert partition in partitions()
    arn = TargetGroupArn.parse(f"arn:{partition}:elasticloadbalancing:{region}{TAIL}")
    assert (arn.partition, arn.region, arn.name) == (partition, region, "opensearch")


def test_an_unknown_partition_is_refused_with_the_known_ones():
    with pytest.raises(ValueError, match=r"partition 'awz'.*aws-eusc"):
        TargetGroupArn.parse(f"arn:awz:elasticloadbalancing:eu-west-1{TAIL}")


@pytest.mark.parametrize(
    "text",
    [
        "opensearch",
        f"arn:aws:ec2:eu-west-1{TAIL}",
        "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/x/0123456789abcdef",
    ],
)
def test_anything_else_is_not_a_target_group_arn(text):
    with pytest.raises(ValueError, match="is not a target group ARN"):
        TargetGroupArn.parse(text)


def test_names_come_from_the_arns():
    assert target_group_name(f"arn:aws:elasticloadbalancing:eu-west-1{TAIL}") == "opensearch"
    assert target_group_name("") == ""
    assert (
        load_balancer_name(
            "arn:aws:elasticloadbalancing:eu-west-1:123456789012:"
            "loadbalancer/app/my-alb/0123456789abcdef"
        )
        == "my-alb"
    )
