"""The construct's synthesised template, deployed into moto's CloudFormation the way
`cdk deploy` does it: assets published to the bootstrap bucket, then the stack."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import boto3
import pytest

from conftest import HOSTNAME
from testlab.peers import REGION

pytestmark = pytest.mark.slow

if shutil.which("node") is None:
    pytest.skip(
        "Node.js is not installed: AWS CDK synthesis runs on Node.js (jsii); "
        "install it (apt-get install nodejs) to run the CDK deploy test",
        allow_module_level=True,
    )
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
ACCOUNT = "123456789012"  # moto's account
CIDR = "10.0.0.0/16"


def synthesise(outdir: Path) -> Path:
    from aws_cdk import App, Environment, Stack
    from aws_cdk import aws_ec2 as ec2
    from aws_cdk import aws_elasticloadbalancingv2 as elbv2

    from tgsync.cdk import HostnameTargetSync

    app = App(outdir=str(outdir))
    stack = Stack(app, "CdkSync", env=Environment(account=ACCOUNT, region=REGION))
    zones = [f"{REGION}a", f"{REGION}b"]
    made = ec2.Vpc(
        stack,
        "Vpc",
        availability_zones=zones,
        nat_gateways=0,
        ip_addresses=ec2.IpAddresses.cidr(CIDR),
        restrict_default_security_group=False,
        subnet_configuration=[
            ec2.SubnetConfiguration(name="isolated", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
        ],
    )
    # moto's CloudFormation has no Fn::Cidr, which the construct needs to find the
    # resolver of a VPC whose CIDR is a token: give it the CIDR as a looked-up VPC does.
    vpc = ec2.Vpc.from_vpc_attributes(
        stack,
        "Network",
        vpc_id=made.vpc_id,
        vpc_cidr_block=CIDR,
        availability_zones=zones,
        isolated_subnet_ids=[subnet.subnet_id for subnet in made.isolated_subnets],
    )
    group = elbv2.ApplicationTargetGroup(
        stack,
        "Group",
        vpc=made,
        port=443,
        protocol=elbv2.ApplicationProtocol.HTTPS,
        target_type=elbv2.TargetType.IP,
    )
    HostnameTargetSync(stack, "OpenSearch", hostname=HOSTNAME, target_group=group, vpc=vpc)
    app.synth()  # the function's code: this package's zip, built now
    return outdir


def publish_assets(outdir: Path) -> None:
    """What `cdk bootstrap` and `cdk deploy` do before the stack: the bootstrap version
    parameter, the assets bucket, each file asset uploaded to its key."""
    boto3.client("ssm", region_name=REGION).put_parameter(
        Name="/cdk-bootstrap/hnb659fds/version", Value="27", Type="String", Overwrite=True
    )
    s3 = boto3.client("s3", region_name=REGION)
    manifest = json.loads((outdir / "CdkSync.assets.json").read_text())
    for asset in manifest["files"].values():
        for destination in asset["destinations"].values():
            bucket = (
                destination["bucketName"]
                .replace("${AWS::AccountId}", ACCOUNT)
                .replace("${AWS::Region}", REGION)
            )
            if bucket not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
                s3.create_bucket(
                    Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION}
                )
            s3.upload_file(str(outdir / asset["source"]["path"]), bucket, destination["objectKey"])


def test_the_synthesised_stack_deploys_and_its_function_is_the_package(moto, elbv2, tmp_path):
    outdir = synthesise(tmp_path / "cdk.out")
    publish_assets(outdir)
    template = (outdir / "CdkSync.template.json").read_text()
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    cloudformation.create_stack(
        StackName="CdkSync", TemplateBody=template, Capabilities=["CAPABILITY_IAM"]
    )
    stack = cloudformation.describe_stacks(StackName="CdkSync")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    functions = boto3.client("lambda", region_name=REGION).list_functions()["Functions"]
    (function,) = [f for f in functions if f["FunctionName"].startswith("CdkSync")]
    assert function["Runtime"] == "python3.13"
    assert function["Handler"] == "tgsync.lambda_handler.handler"
    mappings = json.loads(function["Environment"]["Variables"]["TGSYNC_MAPPINGS"])
    (group,) = elbv2.describe_target_groups()["TargetGroups"]
    assert mappings == [{"hostname": HOSTNAME, "target_group_arn": group["TargetGroupArn"]}]
    code = boto3.client("lambda", region_name=REGION).get_function(
        FunctionName=function["FunctionName"]
    )["Configuration"]["CodeSize"]
    assert 100_000 < code < 1_500_000  # the bundled zip, not a placeholder
