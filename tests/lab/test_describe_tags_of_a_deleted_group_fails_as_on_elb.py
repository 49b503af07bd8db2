"""The lab answers DescribeTags as ELB does when a target group is gone, and the fault
proxy can make a group vanish between DescribeTargetGroups and DescribeTags."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError

from testlab.peers import REGION, create_target_group


def not_found(call) -> ClientError:
    with pytest.raises(ClientError) as raised:
        call()
    return raised.value


def test_describe_tags_of_a_deleted_group_fails_the_whole_call(elbv2):
    # ELB's API reference: DescribeTags errors with TargetGroupNotFound (HTTP 400).
    kept = create_target_group(elbv2, "kept")
    gone = create_target_group(elbv2, "gone")
    elbv2.add_tags(
        ResourceArns=[kept, gone],
        Tags=[{"Key": "tgsync:hostname", "Value": "logs.example.internal"}],
    )
    elbv2.delete_target_group(TargetGroupArn=gone)
    error = not_found(lambda: elbv2.describe_tags(ResourceArns=[kept, gone]))
    assert error.response["Error"]["Code"] == "TargetGroupNotFound"
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert elbv2.describe_tags(ResourceArns=[kept])["TagDescriptions"][0]["Tags"]


def test_describe_tags_of_a_deleted_load_balancer_fails_too(elbv2):
    arn = create_target_group(elbv2)
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = elbv2.describe_target_groups(TargetGroupArns=[arn])["TargetGroups"][0]["VpcId"]
    subnets = [
        ec2.create_subnet(
            VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{REGION}{zone}"
        )["Subnet"]["SubnetId"]
        for i, zone in ((200, "a"), (201, "b"))
    ]
    alb = elbv2.create_load_balancer(
        Name="front", Subnets=subnets, Scheme="internal", Type="application"
    )["LoadBalancers"][0]["LoadBalancerArn"]
    elbv2.delete_load_balancer(LoadBalancerArn=alb)
    error = not_found(lambda: elbv2.describe_tags(ResourceArns=[arn, alb]))
    assert error.response["Error"]["Code"] == "LoadBalancerNotFound"


def test_the_proxy_deletes_a_group_between_describe_target_groups_and_describe_tags(elbv2, proxy):
    kept = create_target_group(elbv2, "kept")
    gone = create_target_group(elbv2, "gone")
    client = boto3.client("elbv2", region_name=REGION, endpoint_url=proxy.endpoint)
    proxy.delete_after("DescribeTargetGroups", gone)
    listed = [g["TargetGroupArn"] for g in client.describe_target_groups()["TargetGroups"]]
    assert sorted(listed) == sorted([kept, gone])  # the listing still had it
    error = not_found(lambda: client.describe_tags(ResourceArns=listed))
    assert error.response["Error"]["Code"] == "TargetGroupNotFound"
    assert proxy.calls() == ["DescribeTargetGroups", "DescribeTags"]
    assert not proxy.hook_errors
    again = [g["TargetGroupArn"] for g in client.describe_target_groups()["TargetGroups"]]
    assert again == [kept]  # the hook ran once


def test_a_hook_that_fails_is_kept_and_the_client_still_gets_its_answer(elbv2, proxy):
    arn = create_target_group(elbv2)
    client = boto3.client("elbv2", region_name=REGION, endpoint_url=proxy.endpoint)

    def refuse() -> None:
        raise RuntimeError("ResourceInUse")

    proxy.after("DescribeTargetGroups", refuse)
    assert client.describe_target_groups()["TargetGroups"][0]["TargetGroupArn"] == arn
    assert [str(e) for e in proxy.hook_errors] == ["ResourceInUse"]
