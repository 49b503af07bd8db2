"""The CDK construct, synthesised: what it deploys matches deploy/tgsync.yaml in
substance, the role writes only to the groups given, bad options are named."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

# CDK synthesis runs on Node.js (jsii): skip, saying so, only where it is truly absent.
if shutil.which("node") is None:
    pytest.skip("Node.js is not installed: AWS CDK synthesis runs on Node.js (jsii); "
                "install it (apt-get install nodejs) to run the CDK tests",
                allow_module_level=True)
# jsii warns on every synth about Node versions near their end of life: noise here.
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")

from aws_cdk import App, Duration, Stack, assertions
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns

from tgsync.cdk import ELB_ACTIONS_WRITE, HostnameTargetSync
from tgsync.provider.elbv2 import OPERATIONS, READ_OPERATIONS, WRITE_OPERATIONS

HOSTNAME = "vpc-logs-abc123.eu-west-1.es.amazonaws.com"
DOMAIN = "arn:aws:es:eu-west-1:111122223333:domain/logs"


def network(stack: Stack) -> tuple[ec2.Vpc, elbv2.ApplicationTargetGroup]:
    vpc = ec2.Vpc(stack, "Vpc", max_azs=2, nat_gateways=0, subnet_configuration=[
        ec2.SubnetConfiguration(name="isolated", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)])
    group = elbv2.ApplicationTargetGroup(stack, "Group", vpc=vpc, port=443,
                                         protocol=elbv2.ApplicationProtocol.HTTPS,
                                         target_type=elbv2.TargetType.IP)
    return vpc, group


class Placeholder:
    """Stands in for the zip (built for real by the deploy test): a fresh Code per use,
    as CDK asks for one per stack."""

    def __init__(self, folder: Path) -> None:
        (folder / "placeholder.py").write_text("")
        self.folder = str(folder)

    def __call__(self) -> lambda_.Code:
        return lambda_.Code.from_asset(self.folder)


@pytest.fixture(scope="module")
def code(tmp_path_factory) -> Placeholder:
    return Placeholder(tmp_path_factory.mktemp("code"))


def synth(code, **options) -> tuple[dict, HostnameTargetSync, Stack]:
    stack = Stack(App(), "Test")
    vpc, group = network(stack)
    options.setdefault("hostname", HOSTNAME)
    options.setdefault("target_group", group)
    sync = HostnameTargetSync(stack, "OpenSearch", vpc=vpc, code=code(), vpc_subnets=(
        ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)), **options)
    return assertions.Template.from_stack(stack).to_json(), sync, stack


def of_type(template: dict, kind: str) -> list[dict]:
    return [r["Properties"] for r in template["Resources"].values() if r["Type"] == kind]


def statements(template: dict) -> list[dict]:
    return [s for policy in of_type(template, "AWS::IAM::Policy")
            for s in policy["PolicyDocument"]["Statement"]]


@pytest.fixture(scope="module")
def five_lines(code):
    return synth(code)


def test_the_five_line_example_deploys_the_function_as_the_stack_does(five_lines):
    template, sync, _ = five_lines
    (function,) = of_type(template, "AWS::Lambda::Function")
    assert function["Runtime"] == "python3.13"
    assert function["Architectures"] == ["arm64"]
    assert function["Handler"] == "tgsync.lambda_handler.handler"
    assert (function["ReservedConcurrentExecutions"], function["Timeout"],
            function["MemorySize"]) == (1, 55, 256)
    assert function["LoggingConfig"]["LogFormat"] == "JSON"
    assert len(function["VpcConfig"]["SubnetIds"]) == 2
    mappings = function["Environment"]["Variables"]["TGSYNC_MAPPINGS"]["Fn::Join"][1]
    assert mappings[0] == f'[{{"hostname":"{HOSTNAME}","target_group_arn":"'
    assert mappings[1] == {"Ref": next(k for k, r in template["Resources"].items()
                                       if r["Type"] == "AWS::ElasticLoadBalancingV2::TargetGroup")}
    (invoke,) = of_type(template, "AWS::Lambda::EventInvokeConfig")
    assert (invoke["MaximumEventAgeInSeconds"], invoke["MaximumRetryAttempts"]) == (60, 0)
    (logs,) = of_type(template, "AWS::Logs::LogGroup")
    assert logs["RetentionInDays"] == 30
    assert sync.function is not None and sync.role is not None and sync.log_group is not None


def test_the_schedule_ticks_every_minute_and_drops_late_ticks(five_lines):
    template, _, _ = five_lines
    (schedule,) = of_type(template, "AWS::Scheduler::Schedule")
    assert schedule["ScheduleExpression"] == "rate(1 minute)"
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    target = schedule["Target"]
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 0, "MaximumEventAgeInSeconds": 60}
    assert json.loads(target["Input"]) == {"source": "tgsync.schedule"}


def test_the_role_reads_everywhere_but_writes_only_to_the_group_given(five_lines):
    template, _, _ = five_lines
    granted = {}
    for statement in statements(template):
        actions = statement["Action"]
        for action in [actions] if isinstance(actions, str) else actions:
            granted.setdefault(action, []).append(statement["Resource"])
    elb = {a for a in granted if a.startswith("elasticloadbalancing:")}
    assert elb == {f"elasticloadbalancing:{op}" for op in OPERATIONS}
    for op in READ_OPERATIONS:
        assert granted[f"elasticloadbalancing:{op}"] == ["*"]
    for op in WRITE_OPERATIONS:  # no write action on "*"
        (resource,) = granted[f"elasticloadbalancing:{op}"]
        assert resource != "*" and "Ref" in resource
    (role,) = [r for r in of_type(template, "AWS::IAM::Role")
               if "lambda.amazonaws.com" in json.dumps(r["AssumeRolePolicyDocument"])]
    assert "AWSLambdaVPCAccessExecutionRole" in json.dumps(role["ManagedPolicyArns"])


def test_the_alarms_of_the_stack_are_there(five_lines):
    template, _, _ = five_lines
    metrics = sorted(a["MetricName"] for a in of_type(template, "AWS::CloudWatch::Alarm"))
    assert metrics == ["Errors", "Invocations", "MinHealthyTargets", "ResolutionFailures"]
    (dashboard,) = of_type(template, "AWS::CloudWatch::Dashboard")
    body = json.dumps(dashboard["DashboardBody"])
    assert all(name in body for name in ("HealthyTargets", "Registrations", "MappingFailures",
                                         "Throttles"))


def test_add_mapping_keeps_more_groups_and_scopes_writes_to_each(code):
    stack = Stack(App(), "Many")
    vpc, group = network(stack)
    other = elbv2.NetworkTargetGroup(stack, "Db", vpc=vpc, port=5432,
                                     target_type=elbv2.TargetType.IP)
    sync = HostnameTargetSync(stack, "Sync", vpc=vpc, code=code(), hostname=HOSTNAME,
                              target_group=group)
    sync.add_mapping("db.internal.example.com", other, port=5432)
    template = assertions.Template.from_stack(stack).to_json()
    (function,) = of_type(template, "AWS::Lambda::Function")
    joined = function["Environment"]["Variables"]["TGSYNC_MAPPINGS"]["Fn::Join"][1]
    text = "".join(part if isinstance(part, str) else "ARN" for part in joined)
    assert json.loads(text) == [
        {"hostname": HOSTNAME, "target_group_arn": "ARN"},
        {"hostname": "db.internal.example.com", "target_group_arn": "ARN", "port": 5432}]
    (writes,) = [s for s in statements(template) if ELB_ACTIONS_WRITE[0] in s["Action"]]
    assert len(writes["Resource"]) == 2


def test_every_option_reaches_the_function_as_its_variable(code):
    topic_stack = Stack(App(), "Options")
    vpc, group = network(topic_stack)
    topic = sns.Topic(topic_stack, "Alarms")
    HostnameTargetSync(
        topic_stack, "Sync", vpc=vpc, code=code(), hostname=f"https://{HOSTNAME}/",
        target_group=group, port=9200, stale_after=Duration.minutes(5), lookups=5,
        dns_servers=["10.0.0.2"], allowed_cidrs=["10.0.0.0/16"], policy="upsert-only",
        dry_run=True, concurrency=8, api_rate=4, resync_every=Duration.minutes(10),
        follow_interval=Duration.seconds(5), follow_for=Duration.minutes(3),
        schedule=Duration.minutes(2), memory_size=512, alarm_topic=topic,
        architecture=lambda_.Architecture.X86_64, log_level="DEBUG", alb_id="front",
        log_encryption_key=kms.Key(topic_stack, "Logs"))
    template = assertions.Template.from_stack(topic_stack).to_json()
    (function,) = of_type(template, "AWS::Lambda::Function")
    variables = function["Environment"]["Variables"]
    assert {k: v for k, v in variables.items() if k != "TGSYNC_MAPPINGS"} == {
        "TGSYNC_STALE_AFTER": "300", "TGSYNC_LOOKUPS": "5", "TGSYNC_DNS_SERVERS": "10.0.0.2",
        "TGSYNC_ALLOWED_CIDRS": "10.0.0.0/16", "TGSYNC_POLICY": "upsert-only",
        "TGSYNC_DRY_RUN": "true", "TGSYNC_CONCURRENCY": "8", "TGSYNC_API_RATE": "4",
        "TGSYNC_RESYNC_EVERY": "600", "TGSYNC_FOLLOW_INTERVAL": "5",
        "TGSYNC_FOLLOW_FOR": "180", "AlbId": "front", "POWERTOOLS_SERVICE_NAME": "tgsync",
        "POWERTOOLS_METRICS_NAMESPACE": "tgsync", "POWERTOOLS_LOG_LEVEL": "DEBUG"}
    assert f'"hostname":"{HOSTNAME}"' in variables["TGSYNC_MAPPINGS"]["Fn::Join"][1][0]
    assert '"port":9200' in variables["TGSYNC_MAPPINGS"]["Fn::Join"][1][2]
    assert (function["MemorySize"], function["Architectures"]) == (512, ["x86_64"])
    (schedule,) = of_type(template, "AWS::Scheduler::Schedule")
    assert schedule["ScheduleExpression"] == "rate(2 minutes)"
    assert all(alarm["AlarmActions"] for alarm in of_type(template, "AWS::CloudWatch::Alarm"))
    (logs,) = of_type(template, "AWS::Logs::LogGroup")
    assert "Fn::GetAtt" in logs["KmsKeyId"]


def test_domain_arns_add_both_event_rules_with_a_dead_letter_queue(code):
    template, _, _ = synth(code, domain_arns=[DOMAIN], create_elb_endpoint=True)
    rules = of_type(template, "AWS::Events::Rule")
    patterns = sorted((r["EventPattern"] for r in rules), key=json.dumps)
    assert patterns[0]["detail"]["requestParameters"] == {"domainName": ["logs"]}
    assert patterns[1]["resources"] == [DOMAIN]
    assert all(r["Targets"][0]["DeadLetterConfig"] for r in rules)
    permissions = of_type(template, "AWS::Lambda::Permission")
    assert sorted(p["Principal"] for p in permissions) == ["events.amazonaws.com"] * 2
    (queue,) = of_type(template, "AWS::SQS::Queue")
    assert queue["SqsManagedSseEnabled"] is True
    (endpoint,) = of_type(template, "AWS::EC2::VPCEndpoint")
    assert "elasticloadbalancing" in json.dumps(endpoint["ServiceName"])


def test_discovery_writes_only_where_the_tags_ask(code):
    template, _, _ = synth(code, hostname=None, target_group=None, discover=True,
                           owner="team-a")
    by_sid = {s.get("Sid"): s for s in statements(template)}
    assert by_sid["ChangeOnlyGroupsThatAskForIt"]["Condition"] == {
        "Null": {"aws:ResourceTag/tgsync:hostname": "false"},
        "StringEquals": {"aws:ResourceTag/tgsync:owner": "team-a"}}
    assert by_sid["RemoveOnlyOwnMemoryTags"]["Condition"] == {
        "ForAllValues:StringLike": {"aws:TagKeys": ["tgsync:missing:*"]}}
    assert "ChangeOnlyTheKeptTargetGroups" not in by_sid
    (function,) = of_type(template, "AWS::Lambda::Function")
    assert function["Environment"]["Variables"]["TGSYNC_OWNER"] == "team-a"


@pytest.mark.parametrize(("options", "message"), [
    ({"schedule": Duration.minutes(5)}, "schedule=300s: give 1 to 4 whole minutes"),
    ({"hostname": "ftp://logs.example.com"}, "hostname 'ftp://logs.example.com' has scheme"),
    ({"port": 70000}, "port=70000: give a port from 1 to 65535"),
    ({"policy": "delete"}, "policy='delete': use 'sync' or 'upsert-only'"),
    ({"owner": "team-a"}, "owner is set but discover is not"),
    ({"hostname": None}, "give hostname and target_group together"),
])
def test_a_bad_option_is_named_with_its_fix(code, options, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")) as caught:
        synth(code, **options)
    assert message in str(caught.value)


def test_the_example_app_synthesises_the_alb_in_front_of_opensearch(tmp_path):
    app = Path(__file__).resolve().parents[2] / "deploy" / "cdk" / "app.py"
    done = subprocess.run([sys.executable, str(app)], env={**os.environ,
                          "CDK_OUTDIR": str(tmp_path)}, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    (path,) = tmp_path.glob("*.template.json")
    template = json.loads(path.read_text())
    kinds = {r["Type"] for r in template["Resources"].values()}
    assert {"AWS::ElasticLoadBalancingV2::LoadBalancer", "AWS::ElasticLoadBalancingV2::Listener",
            "AWS::ElasticLoadBalancingV2::TargetGroup", "AWS::Lambda::Function",
            "AWS::Scheduler::Schedule"} <= kinds
    (balancer,) = of_type(template, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    assert balancer["Scheme"] == "internal"
    (listener,) = of_type(template, "AWS::ElasticLoadBalancingV2::Listener")
    assert (listener["Protocol"], listener["Port"]) == ("HTTPS", 443)
    (group,) = of_type(template, "AWS::ElasticLoadBalancingV2::TargetGroup")
    assert group["TargetType"] == "ip"
