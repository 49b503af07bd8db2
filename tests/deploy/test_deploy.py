"""The deployment: one command against CloudFormation and S3 (moto's server), the
role's least privilege, and the reproducible zip."""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import subprocess
import sys
import urllib.parse
import zipfile
from pathlib import Path

import boto3
import pytest

from conftest import HOSTNAME
from testlab.peers import REGION, create_target_group
from tgsync.discovery import TAG_HOSTNAME, TAG_OWNER
from tgsync.memory_codec import OWN_TAG_KEYS, TAG_PREFIX
from tgsync.permission_checks import CHECK_TAG
from tgsync.provider.elbv2 import OPERATIONS, READ_OPERATIONS, WRITE_OPERATIONS

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy" / "deploy.py"
PACKAGE = REPO / "deploy" / "package.py"


def run(*args, env=None, cwd=REPO):
    # These deployments are about the stacks: a working tree with edits may build them.
    dirty = ["--allow-dirty"] if args[0] == DEPLOY and "--bucket" in args else []
    return subprocess.run(
        [sys.executable, *map(str, args), *dirty],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture
def network(moto, elbv2):
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.20.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="tgsync", Description="tgsync", VpcId=vpc)[
        "GroupId"
    ]
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(
        Bucket="tgsync-artifacts", CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    s3.put_bucket_versioning(
        Bucket="tgsync-artifacts",  # make deploy pins every object
        VersioningConfiguration={"Status": "Enabled"},
    )
    return {"vpc": vpc, "subnet": subnet, "group": group}


def deploy(network, target_group, *extra, stack="tgsync"):
    return run(
        DEPLOY,
        "--bucket",
        "tgsync-artifacts",
        "--stack-name",
        stack,
        "-p",
        f"Hostname=https://{HOSTNAME}/",
        "-p",
        f"TargetGroupArn={target_group}",
        "-p",
        f"SubnetIds={network['subnet']}",
        "-p",
        f"SecurityGroupIds={network['group']}",
        *extra,
        env=dict(os.environ),
    )


def test_one_command_deploys_the_stack_and_prints_its_outputs(network, target_group):
    done = deploy(network, target_group)
    assert done.returncode == 0, done.stderr + done.stdout
    assert "stack tgsync: CREATE_COMPLETE" in done.stdout
    assert re.search(r"FunctionName\s+\S+", done.stdout)
    fn = boto3.client("lambda", region_name=REGION).get_function(
        FunctionName=re.search(r"FunctionName\s+(\S+)", done.stdout)[1]
    )
    config = fn["Configuration"]
    assert config["Runtime"] == "python3.13"
    assert config["Handler"] == "tgsync.lambda_handler.handler"
    assert config["VpcConfig"]["SubnetIds"] == [network["subnet"]]
    variables = config["Environment"]["Variables"]
    assert variables["TGSYNC_HOSTNAME"] == f"https://{HOSTNAME}/"
    assert variables["TGSYNC_TARGET_GROUP_ARN"] == target_group
    assert str(variables["TGSYNC_STALE_AFTER"]) == "180"
    stack = boto3.client("cloudformation", region_name=REGION).describe_stacks(StackName="tgsync")[
        "Stacks"
    ][0]
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}
    assert parameters["Architecture"] == "arm64"  # moto drops Architectures itself
    assert parameters["CodeKey"].startswith("tgsync/tgsync-lambda-arm64-")
    groups = boto3.client("logs", region_name=REGION).describe_log_groups(
        logGroupNamePrefix="/aws/lambda/tgsync"
    )["logGroups"]
    assert [g.get("retentionInDays") for g in groups] == [30]
    again = deploy(network, target_group)
    assert again.returncode == 0, again.stderr
    assert "already up to date" in again.stdout or "UPDATE_COMPLETE" in again.stdout


def role_policy(stack="tgsync", name="tgsync-elb"):
    """One inline policy document of the function role, as CloudFormation made it."""
    iam = boto3.client("iam", region_name=REGION)
    role = next(
        r
        for r in iam.list_roles()["Roles"]
        if "FunctionRole" in r["RoleName"] and r["RoleName"].startswith(stack)
    )
    names = iam.list_role_policies(RoleName=role["RoleName"])["PolicyNames"]
    assert sorted(names) == ["tgsync-elb", "tgsync-runtime"]
    assert not iam.list_attached_role_policies(RoleName=role["RoleName"])["AttachedPolicies"]
    document = iam.get_role_policy(RoleName=role["RoleName"], PolicyName=name)["PolicyDocument"]
    if isinstance(document, str):  # moto keeps a CloudFormation-made policy as a repr
        document = ast.literal_eval(urllib.parse.unquote(document))
    # moto leaves AWS::NoValue in a list as None where CloudFormation drops the item.
    document["Statement"] = [s for s in document["Statement"] if s]
    return document


def test_the_role_allows_exactly_the_elb_calls_the_code_makes(network, target_group):
    assert deploy(network, target_group).returncode == 0
    document = role_policy()
    granted = {}
    for statement in document["Statement"]:
        resources = statement["Resource"]
        resources = [resources] if isinstance(resources, str) else resources
        for action in statement["Action"]:
            granted[action] = resources
    # The provider refuses any operation outside OPERATIONS (a test of the faults
    # suite sees a busy cycle use every one of them): the role grants exactly these.
    assert set(granted) == {f"elasticloadbalancing:{op}" for op in OPERATIONS}
    for op in WRITE_OPERATIONS:
        assert granted[f"elasticloadbalancing:{op}"] == [target_group]
    for op in READ_OPERATIONS:
        assert granted[f"elasticloadbalancing:{op}"] == ["*"]
    for statement in document["Statement"]:  # tags: tgsync's own keys only
        if "elasticloadbalancing:AddTags" in statement["Action"]:
            assert statement["Condition"] == {
                "ForAllValues:StringLike": {"aws:TagKeys": list(OWN_TAG_KEYS)}
            }
    # No managed policy: what Lambda needs for logs and VPC access, for this stack only.
    # (moto does not attach ManagedPolicyArns made by CloudFormation: read the template.)
    assert "policy/" not in (REPO / "deploy" / "tgsync.yaml").read_text()
    runtime = {s["Sid"]: s for s in role_policy(name="tgsync-runtime")["Statement"] if s}
    logs = runtime["WriteOwnLogGroup"]["Resource"]
    assert [r.split(":log-group:")[1] for r in logs] == [
        "/aws/lambda/tgsync",
        "/aws/lambda/tgsync:log-stream:*",
    ]
    create = runtime["CreateInterfacesInOwnSubnets"]["Resource"]
    assert create[1:] == [
        f"arn:*:ec2:*:*:subnet/{network['subnet']}",
        f"arn:*:ec2:*:*:security-group/{network['group']}",
    ]


def test_missing_credentials_are_named(tmp_path):
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "AWS_REGION": REGION,
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    done = run(DEPLOY, "--bucket", "b", env=env)
    assert done.returncode == 2
    assert "no AWS credentials" in done.stderr
    assert "AWS_PROFILE" in done.stderr


def test_missing_region_is_named(tmp_path):
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "y",
    }
    done = run(DEPLOY, "--bucket", "b", env=env)
    assert done.returncode == 2
    assert "no AWS region" in done.stderr


def test_a_missing_bucket_is_named(moto, elbv2):
    done = run(DEPLOY, "--bucket", "no-such-bucket", env=dict(os.environ))
    assert done.returncode == 2
    assert "bucket 'no-such-bucket' is not reachable" in done.stderr


def test_the_zip_is_reproducible_and_runs_a_cycle_on_its_own(tmp_path, moto, dns, elbv2):
    first, second = tmp_path / "a.zip", tmp_path / "b.zip"
    for path in (first, second):
        done = run(PACKAGE, "--output", path)
        assert done.returncode == 0, done.stderr
    assert (
        hashlib.sha256(first.read_bytes()).digest() == hashlib.sha256(second.read_bytes()).digest()
    )
    assert first.stat().st_size < 1_500_000
    unpacked = tmp_path / "function"
    with zipfile.ZipFile(first) as archive:
        # Synth-time code stays out.
        assert not [n for n in archive.namelist() if n.startswith("tgsync/cdk/")]
        archive.extractall(unpacked)
    # The Lambda runtime provides boto3 and botocore: give the clean interpreter only those.
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    for name in ("boto3", "botocore", "jmespath", "dateutil", "urllib3", "s3transfer", "six.py"):
        source = Path(__import__(name.removesuffix(".py")).__file__)
        source = source.parent if source.name == "__init__.py" else source
        (runtime / source.name).symlink_to(source)
    arn = create_target_group(elbv2, "from-zip")
    dns.set(HOSTNAME, a=["10.0.1.5"])
    script = (
        "import json, sys, tgsync.lambda_handler as h; "
        "assert h.__file__.startswith(sys.argv[1]), h.__file__; "
        "print(json.dumps(h.handler({}, None)))"
    )
    env = {
        **moto.environ(),
        "TGSYNC_HOSTNAME": HOSTNAME,
        "TGSYNC_TARGET_GROUP_ARN": arn,
        "TGSYNC_DNS_SERVERS": dns.address,
        "PYTHONPATH": f"{unpacked}:{runtime}",
    }
    done = subprocess.run(
        [sys.executable, "-S", "-c", script, str(unpacked)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert '"registered": 1' in done.stdout.splitlines()[-1]


def test_the_sam_template_is_generated_from_the_main_one():
    sys.path.insert(0, str(REPO / "deploy"))
    import sam_template

    expected = sam_template.render(sam_template.SOURCE.read_text())
    assert sam_template.TARGET.read_text() == expected, "run make sam-template"
    assert "Type: AWS::Serverless::Function" in expected
    assert "CodeUri: ../../src" in expected


def test_the_opensearch_example_deploys_with_the_sync_stack_wired_to_its_alb(network):
    ec2 = boto3.client("ec2", region_name=REGION)
    second = ec2.create_subnet(
        VpcId=network["vpc"], CidrBlock="10.20.2.0/24", AvailabilityZone=f"{REGION}b"
    )["Subnet"]["SubnetId"]
    certificate = boto3.client("acm", region_name=REGION).request_certificate(
        DomainName="search.example.com"
    )["CertificateArn"]
    parameters = {
        "VpcId": network["vpc"],
        "VpcCidr": "10.20.0.0/16",
        "AlbSubnetIds": f"{network['subnet']},{second}",
        "FunctionSubnetIds": network["subnet"],
        "DomainEndpoint": HOSTNAME,
        "DomainSecurityGroupId": network["group"],
        "ClientCidr": "10.0.0.0/8",
        "CertificateArn": certificate,
        "DomainArn": DOMAINS[0],
    }
    done = run(
        DEPLOY,
        "--bucket",
        "tgsync-artifacts",
        "--stack-name",
        "opensearch-alb",
        "--template",
        REPO / "deploy" / "example-opensearch-alb.yaml",
        *[arg for key, value in parameters.items() for arg in ("-p", f"{key}={value}")],
        env=dict(os.environ),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    elbv2 = boto3.client("elbv2", region_name=REGION)
    (alb,) = elbv2.describe_load_balancers()["LoadBalancers"]
    assert alb["Scheme"] == "internal"
    (group,) = elbv2.describe_target_groups(LoadBalancerArn=alb["LoadBalancerArn"])["TargetGroups"]
    assert (group["TargetType"], group["Protocol"], group["Port"]) == ("ip", "HTTPS", 443)
    assert group["Matcher"]["HttpCode"] == "200-401"
    (listener,) = elbv2.describe_listeners(LoadBalancerArn=alb["LoadBalancerArn"])["Listeners"]
    assert listener["Protocol"] == "HTTPS"
    (function,) = boto3.client("lambda", region_name=REGION).list_functions()["Functions"]
    variables = function["Environment"]["Variables"]
    assert variables["TGSYNC_TARGET_GROUP_ARN"] == group["TargetGroupArn"]
    assert variables["TGSYNC_HOSTNAME"] == HOSTNAME
    assert variables["TGSYNC_ALB_ID"] == alb["LoadBalancerArn"]
    rules = boto3.client("events", region_name=REGION).list_rules()["Rules"]
    patterns = [json.loads(rule["EventPattern"]) for rule in rules]
    assert [p["resources"] for p in patterns if "resources" in p] == [[DOMAINS[0]]]


WRITER = "orders.cluster-c1a2b3c4d5e6.eu-west-1.rds.amazonaws.com"
READER = "orders.cluster-ro-c1a2b3c4d5e6.eu-west-1.rds.amazonaws.com"


def test_the_aurora_example_deploys_an_nlb_with_writer_and_reader_groups_kept_by_tgsync(network):
    ec2 = boto3.client("ec2", region_name=REGION)
    second = ec2.create_subnet(
        VpcId=network["vpc"], CidrBlock="10.20.2.0/24", AvailabilityZone=f"{REGION}b"
    )["Subnet"]["SubnetId"]
    database = ec2.create_security_group(
        GroupName="aurora", Description="aurora", VpcId=network["vpc"]
    )["GroupId"]
    parameters = {
        "VpcId": network["vpc"],
        "VpcCidr": "10.20.0.0/16",
        "NlbSubnetIds": f"{network['subnet']},{second}",
        "FunctionSubnetIds": network["subnet"],
        "ClusterArn": "arn:aws:rds:eu-west-1:123456789012:cluster:orders",
        "WriterEndpoint": WRITER,
        "ReaderEndpoint": READER,
        "DatabaseSecurityGroupId": database,
        "ClientCidr": "10.0.0.0/8",
    }
    done = run(
        DEPLOY,
        "--bucket",
        "tgsync-artifacts",
        "--stack-name",
        "aurora-nlb",
        "--template",
        REPO / "deploy" / "example-aurora-nlb.yaml",
        *[arg for key, value in parameters.items() for arg in ("-p", f"{key}={value}")],
        env=dict(os.environ),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    elbv2 = boto3.client("elbv2", region_name=REGION)
    (nlb,) = elbv2.describe_load_balancers()["LoadBalancers"]
    assert (nlb["Type"], nlb["Scheme"]) == ("network", "internal")
    attributes = {
        a["Key"]: a["Value"]
        for a in elbv2.describe_load_balancer_attributes(LoadBalancerArn=nlb["LoadBalancerArn"])[
            "Attributes"
        ]
    }
    assert attributes["load_balancing.cross_zone.enabled"] == "true"
    listeners = elbv2.describe_listeners(LoadBalancerArn=nlb["LoadBalancerArn"])["Listeners"]
    assert sorted((x["Protocol"], x["Port"]) for x in listeners) == [("TCP", 5432), ("TCP", 5433)]
    groups = {
        g["TargetGroupArn"]: g
        for g in elbv2.describe_target_groups(LoadBalancerArn=nlb["LoadBalancerArn"])[
            "TargetGroups"
        ]
    }
    for group in groups.values():
        assert (
            group["TargetType"],
            group["Protocol"],
            group["Port"],
            group["HealthCheckProtocol"],
        ) == ("ip", "TCP", 5432, "TCP")
        delay = {
            a["Key"]: a["Value"]
            for a in elbv2.describe_target_group_attributes(TargetGroupArn=group["TargetGroupArn"])[
                "Attributes"
            ]
        }
        assert delay["deregistration_delay.timeout_seconds"] == "30"
    functions = boto3.client("lambda", region_name=REGION).list_functions()["Functions"]
    (function,) = [f for f in functions if f["FunctionName"].startswith("aurora-nlb")]
    mappings = json.loads(function["Environment"]["Variables"]["TGSYNC_MAPPINGS"])
    by_host = {m["hostname"]: m for m in mappings}
    assert by_host[WRITER]["stale_after"] == 0 and by_host[WRITER]["resolve"] == "rds"
    assert by_host[READER]["resolve"] == "rds"
    assert {m["target_group_arn"] for m in mappings} == set(groups)
    rules = [
        r
        for r in boto3.client("events", region_name=REGION).list_rules()["Rules"]
        if r["Name"].startswith("aurora-nlb")
    ]
    (rds,) = [json.loads(r["EventPattern"]) for r in rules if "aws.rds" in r["EventPattern"]]
    assert rds["detail"]["SourceArn"] == [parameters["ClusterArn"]]


@pytest.mark.parametrize(
    ("params", "template"),
    [
        ("tgsync.params.example.json", "tgsync.yaml"),
        ("example-opensearch-alb.params.example.json", "example-opensearch-alb.yaml"),
        ("example-aurora-nlb.params.example.json", "example-aurora-nlb.yaml"),
    ],
)
def test_each_example_parameter_file_fills_every_required_parameter(params, template):
    import yaml

    class Loader(yaml.SafeLoader):  # a safe loader that reads CloudFormation's !Tags as None
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    text = (REPO / "deploy" / template).read_text()
    declared = yaml.load(text, Loader=Loader)["Parameters"]  # noqa: S506 - SafeLoader's child
    given = json.loads((REPO / "deploy" / params).read_text())
    required = {name for name, spec in declared.items() if "Default" not in spec} - {
        "CodeBucket",
        "CodeKey",
        "CodeObjectVersion",
    }  # make deploy fills these in
    assert required <= set(given), required - set(given)
    assert set(given) <= set(declared)


def test_with_discovery_writes_need_the_tags_and_removal_only_our_own_keys(network):
    done = run(
        DEPLOY,
        "--bucket",
        "tgsync-artifacts",
        "--stack-name",
        "found",
        "-p",
        "Discover=tags",
        "-p",
        "Owner=team-a",
        "-p",
        "DiscoverPrefix=tgsync-",
        "-p",
        f"SubnetIds={network['subnet']}",
        "-p",
        f"SecurityGroupIds={network['group']}",
        env=dict(os.environ),
    )
    assert done.returncode == 0, done.stderr + done.stdout
    statements = {s["Sid"]: s for s in role_policy("found")["Statement"]}
    # A discovered group may carry tgsync:resolve=rds: the role reads the clusters too.
    assert set(statements) == {
        "ObserveTargetGroups",
        "ChangeOnlyGroupsThatAskForIt",
        "WriteOnlyOwnMemoryTagsOnThoseGroups",
        "RemoveOnlyOwnMemoryTags",
        "ReadTheClusters",
        "ReadMembersAndCustomEndpoints",
    }
    on_tagged = {f"aws:ResourceTag/{TAG_HOSTNAME}": "false"}
    owner = {f"aws:ResourceTag/{TAG_OWNER}": "team-a"}
    change = statements["ChangeOnlyGroupsThatAskForIt"]
    assert sorted(change["Action"]) == [
        "elasticloadbalancing:DeregisterTargets",
        "elasticloadbalancing:RegisterTargets",
    ]
    assert change["Condition"] == {"Null": on_tagged, "StringEquals": owner}
    our_keys = {"aws:TagKeys": list(OWN_TAG_KEYS)}
    add = statements["WriteOnlyOwnMemoryTagsOnThoseGroups"]
    assert add["Condition"] == {
        "Null": on_tagged,
        "StringEquals": owner,
        "ForAllValues:StringLike": our_keys,
    }
    remove = statements["RemoveOnlyOwnMemoryTags"]
    # No tgsync:hostname needed to let go (the user removed it), but the owner is.
    assert remove["Condition"] == {"StringEquals": owner, "ForAllValues:StringLike": our_keys}
    for statement in (change, add, remove):  # only groups named with the prefix
        assert statement["Resource"].endswith(":targetgroup/tgsync-*")
    # The preflight's RemoveTags check stays inside what this role allows.
    assert CHECK_TAG.startswith(TAG_PREFIX)


DOMAINS = [
    "arn:aws:es:eu-west-1:123456789012:domain/logs",
    "arn:aws:es:eu-west-1:123456789012:domain/search-2",
]


def test_domain_arns_subscribe_the_function_to_their_events_with_a_dead_letter_queue(
    network, target_group
):
    done = deploy(network, target_group, "-p", f"DomainArns={','.join(DOMAINS)}", stack="events")
    assert done.returncode == 0, done.stderr + done.stdout
    events = boto3.client("events", region_name=REGION)
    rules = {r["Name"]: r for r in events.list_rules()["Rules"] if "events" in r["Name"]}
    assert len(rules) == 2
    function = boto3.client("lambda", region_name=REGION).get_function(
        FunctionName=next(
            f["FunctionName"]
            for f in boto3.client("lambda", region_name=REGION).list_functions()["Functions"]
            if f["FunctionName"].startswith("events")
        )
    )["Configuration"]
    assert function["Environment"]["Variables"]["TGSYNC_FOLLOW_INTERVAL"] in ("10", 10)
    queues = boto3.client("sqs", region_name=REGION).list_queues()["QueueUrls"]
    (queue,) = [q for q in queues if "EventDeadLetterQueue" in q]
    queue_arn = boto3.client("sqs", region_name=REGION).get_queue_attributes(
        QueueUrl=queue, AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    matched = {}
    for name, rule in rules.items():
        (target,) = events.list_targets_by_rule(Rule=name)["Targets"]
        assert target["Arn"] == function["FunctionArn"]
        assert target["DeadLetterConfig"]["Arn"] == queue_arn
        pattern = rule["EventPattern"]
        for event in (
            _notification("logs"),
            _api_call("search-2"),
            _notification("other"),
            _api_call("other"),
            _api_call("logs", failed=True),
        ):
            result = events.test_event_pattern(EventPattern=pattern, Event=json.dumps(event))
            matched.setdefault(event["id"], []).append(result["Result"])
    # Each event of a served domain matches exactly one rule; another domain's none.
    assert {event: sorted(results) for event, results in matched.items()} == {
        "n-logs": [False, True],
        "c-search-2": [False, True],
        "n-other": [False, False],
        "c-other": [False, False],
        "c-logs-failed": [False, False],
    }  # a refused call starts no deployment
    statement = json.loads(
        boto3.client("lambda", region_name=REGION).get_policy(
            FunctionName=function["FunctionName"]
        )["Policy"]
    )["Statement"]
    assert {s["Principal"]["Service"] for s in statement} == {"events.amazonaws.com"}
    assert {s["Condition"]["ArnLike"]["AWS:SourceArn"] for s in statement} == {
        r["Arn"] for r in rules.values()
    }


def test_without_domain_arns_there_is_no_rule(network, target_group):
    assert deploy(network, target_group, stack="quiet").returncode == 0
    rules = boto3.client("events", region_name=REGION).list_rules()["Rules"]
    assert not [r for r in rules if r["Name"].startswith("quiet")]


def _notification(domain):
    return {
        "id": f"n-{domain}",
        "source": "aws.es",
        "account": "123456789012",
        "time": "2026-11-26T03:00:00Z",
        "region": REGION,
        "detail-type": "Amazon OpenSearch Service Software Update Notification",
        "resources": [f"arn:aws:es:eu-west-1:123456789012:domain/{domain}"],
        "detail": {"event": "Service Software Update", "status": "Started"},
    }


def _api_call(domain, failed=False):
    detail = {
        "eventSource": "es.amazonaws.com",
        "eventName": "UpdateDomainConfig",
        "awsRegion": REGION,
        "requestParameters": {"domainName": domain},
    }
    if failed:
        detail["errorCode"] = "AccessDenied"
    return {
        "id": f"c-{domain}" + ("-failed" if failed else ""),
        "source": "aws.es",
        "account": "123456789012",
        "time": "2026-11-26T03:00:00Z",
        "region": REGION,
        "resources": [],
        "detail-type": "AWS API Call via CloudTrail",
        "detail": detail,
    }


CLUSTER = "arn:aws:rds:eu-west-1:123456789012:cluster:orders"
INSTANCE = "arn:aws:rds:eu-west-1:123456789012:db:orders-1"


def _rds_event(arn, category="failover"):
    kind = "Cluster" if ":cluster:" in arn else "Instance"
    name = arn.rsplit(":", 1)[1]
    return {
        "id": f"r-{name}-{category}",
        "source": "aws.rds",
        "account": "123456789012",
        "time": "2026-11-26T03:00:00Z",
        "region": REGION,
        "detail-type": f"RDS DB {kind} Event",
        "resources": [arn],
        "detail": {
            "EventCategories": [category],
            "SourceArn": arn,
            "SourceIdentifier": name,
            "EventID": "RDS-EVENT-0072",
            "SourceType": "CLUSTER" if kind == "Cluster" else "DB_INSTANCE",
            "Message": "failover",
        },
    }


def test_event_source_arns_route_rds_and_opensearch_events_to_the_function(network, target_group):
    done = deploy(
        network,
        target_group,
        "-p",
        f"EventSourceArns={CLUSTER},{INSTANCE},{DOMAINS[0]}",
        "-p",
        f"DomainArns={DOMAINS[1]}",
        "-p",
        "Resolve=rds",
        stack="sources",
    )
    assert done.returncode == 0, done.stderr + done.stdout
    events = boto3.client("events", region_name=REGION)
    rules = {r["Name"]: r for r in events.list_rules()["Rules"] if r["Name"].startswith("sources")}
    assert len(rules) == 3
    cases = [
        _rds_event(CLUSTER),
        _rds_event(INSTANCE, "availability"),
        _rds_event(CLUSTER.replace("orders", "billing")),
        _rds_event(CLUSTER, "backup"),
        _notification("logs"),
        _api_call("search-2"),
        _notification("other"),
    ]
    matched = {
        event["id"]: sorted(
            events.test_event_pattern(EventPattern=rule["EventPattern"], Event=json.dumps(event))[
                "Result"
            ]
            for rule in rules.values()
        )
        for event in cases
    }
    once, never = [False, False, True], [False, False, False]
    assert matched == {
        "r-orders-failover": once,
        "r-orders-1-availability": once,
        "r-billing-failover": never,
        "r-orders-backup": never,
        "n-logs": once,
        "c-search-2": once,
        "n-other": never,
    }
    iam = boto3.client("iam", region_name=REGION)
    (role,) = [
        r["RoleName"]
        for r in iam.list_roles()["Roles"]
        if r["RoleName"].startswith("sources") and "FunctionRole" in r["RoleName"]
    ]
    # Resolve=rds: the role reads every cluster, whichever EventSourceArns names (moto
    # returns the document as given).
    document = iam.get_role_policy(RoleName=role, PolicyName="tgsync-elb")["PolicyDocument"]
    text = urllib.parse.unquote(document if isinstance(document, str) else json.dumps(document))
    every = CLUSTER.replace(":cluster:orders", ":cluster:*")
    assert "ReadTheClusters" in text and "rds:DescribeDBClusters" in text and every in text


def test_a_change_event_bus_gets_its_statement_variable_and_endpoint(network, target_group):
    done = deploy(
        network,
        target_group,
        "-p",
        "ChangeEventBus=tgsync-changes",
        "-p",
        "CreateEventsEndpoint=true",
        "-p",
        f"VpcId={network['vpc']}",
        stack="told",
    )
    assert done.returncode == 0, done.stderr + done.stdout
    statements = {s["Sid"]: s for s in role_policy("told")["Statement"]}
    put = statements["PutChangeEventsOnTheBusOnly"]
    assert (put["Action"], put["Resource"]) == (
        "events:PutEvents",
        f"arn:aws:events:{REGION}:123456789012:event-bus/tgsync-changes",
    )
    functions = boto3.client("lambda", region_name=REGION).list_functions()["Functions"]
    (told,) = [f for f in functions if f["FunctionName"].startswith("told")]
    assert told["Environment"]["Variables"]["TGSYNC_EVENT_BUS"] == "tgsync-changes"
    endpoints = boto3.client("ec2", region_name=REGION).describe_vpc_endpoints()["VpcEndpoints"]
    assert [e["ServiceName"] for e in endpoints] == [f"com.amazonaws.{REGION}.events"]
