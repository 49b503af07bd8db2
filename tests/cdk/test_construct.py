"""The CDK construct, synthesised: what it deploys matches deploy/tgsync.yaml in
substance, the role writes only to the groups given, bad options are named."""

from __future__ import annotations

import inspect
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

# CDK synthesis runs on Node.js (jsii): skip, saying so, only where it is truly absent.
if shutil.which("node") is None:
    pytest.skip(
        "Node.js is not installed: AWS CDK synthesis runs on Node.js (jsii); "
        "install it (apt-get install nodejs) to run the CDK tests",
        allow_module_level=True,
    )
# jsii warns on every synth about Node versions near their end of life: noise here.
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")

from aws_cdk import App, CfnParameter, Duration, Stack, assertions
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_events as events
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns

from tgsync import config
from tgsync.cdk import ELB_ACTIONS_TARGETS, HostnameTargetSync
from tgsync.cdk.environment import MAPPING_KEYWORDS
from tgsync.cdk.role import EVENTS_ACTIONS, RDS_ACTIONS
from tgsync.cdk.triggers import DOMAIN_ARN, RDS_ARN
from tgsync.changes import OPERATIONS as EVENTS_OPERATIONS
from tgsync.memory_codec import OWN_TAG_KEYS
from tgsync.provider.elbv2 import OPERATIONS, READ_OPERATIONS
from tgsync.settings import SETTINGS

REPO = Path(__file__).resolve().parents[2]
HOSTNAME = "vpc-logs-abc123.eu-west-1.es.amazonaws.com"
DOMAIN = "arn:aws:es:eu-west-1:111122223333:domain/logs"


def network(stack: Stack) -> tuple[ec2.Vpc, elbv2.ApplicationTargetGroup]:
    vpc = ec2.Vpc(
        stack,
        "Vpc",
        max_azs=2,
        nat_gateways=0,
        subnet_configuration=[
            ec2.SubnetConfiguration(name="isolated", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
        ],
    )
    group = elbv2.ApplicationTargetGroup(
        stack,
        "Group",
        vpc=vpc,
        port=443,
        protocol=elbv2.ApplicationProtocol.HTTPS,
        target_type=elbv2.TargetType.IP,
    )
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
    return finish(stack, vpc, group, code, **options)


def finish(stack, vpc, group, code, **options) -> tuple[dict, HostnameTargetSync, Stack]:
    options.setdefault("hostname", HOSTNAME)
    options.setdefault("target_group", group)
    sync = HostnameTargetSync(
        stack,
        "OpenSearch",
        vpc=vpc,
        code=code(),
        vpc_subnets=(ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)),
        **options,
    )
    return assertions.Template.from_stack(stack).to_json(), sync, stack


def of_type(template: dict, kind: str) -> list[dict]:
    return [r["Properties"] for r in template["Resources"].values() if r["Type"] == kind]


def statements(template: dict) -> list[dict]:
    return [
        s
        for policy in of_type(template, "AWS::IAM::Policy")
        for s in policy["PolicyDocument"]["Statement"]
    ]


@pytest.fixture(scope="module")
def five_lines(code):
    return synth(code)


def test_the_five_line_example_deploys_the_function_as_the_stack_does(five_lines):
    template, sync, _ = five_lines
    (function,) = of_type(template, "AWS::Lambda::Function")
    assert function["Runtime"] == "python3.13"
    assert function["Architectures"] == ["arm64"]
    assert function["Handler"] == "tgsync.lambda_handler.handler"
    assert (
        function["ReservedConcurrentExecutions"],
        function["Timeout"],
        function["MemorySize"],
    ) == (1, 55, 256)
    assert {k: v for k, v in function["LoggingConfig"].items() if k != "LogGroup"} == {
        "LogFormat": "JSON",
        "ApplicationLogLevel": "INFO",
        "SystemLogLevel": "WARN",
    }
    assert len(function["VpcConfig"]["SubnetIds"]) == 2
    mappings = function["Environment"]["Variables"]["TGSYNC_MAPPINGS"]["Fn::Join"][1]
    assert mappings[0] == f'[{{"hostname":"{HOSTNAME}","target_group_arn":"'
    assert mappings[1] == {
        "Ref": next(
            k
            for k, r in template["Resources"].items()
            if r["Type"] == "AWS::ElasticLoadBalancingV2::TargetGroup"
        )
    }
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


def test_only_the_schedule_group_of_the_schedule_may_use_its_role(five_lines):
    template, _, _ = five_lines
    (schedule,) = of_type(template, "AWS::Scheduler::Schedule")
    (group,) = of_type(template, "AWS::Scheduler::ScheduleGroup")
    assert schedule["GroupName"] == group["Name"]
    (role,) = [
        r
        for r in of_type(template, "AWS::IAM::Role")
        if "scheduler.amazonaws.com" in json.dumps(r["AssumeRolePolicyDocument"])
    ]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    condition = trust["Condition"]["StringEquals"]
    assert condition["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}
    # Scheduler reports the schedule group as the source, never the schedule itself.
    arn = condition["aws:SourceArn"]["Fn::Join"][1]
    assert arn[-2:] == [":schedule-group/", group["Name"]] or arn[-1].endswith(
        f":schedule-group/{group['Name']}"
    )


def test_the_role_reads_everywhere_but_writes_only_to_the_group_given(five_lines):
    template, _, _ = five_lines
    granted = {}
    for statement in statements(template):
        actions = statement["Action"]
        for action in [actions] if isinstance(actions, str) else actions:
            granted.setdefault(action, []).append(statement)
    elb = {a for a in granted if a.startswith("elasticloadbalancing:")}
    assert elb == {f"elasticloadbalancing:{op}" for op in OPERATIONS}
    for op in READ_OPERATIONS:
        assert [s["Resource"] for s in granted[f"elasticloadbalancing:{op}"]] == ["*"]
    for op in ("RegisterTargets", "DeregisterTargets"):  # no write action on "*"
        (statement,) = granted[f"elasticloadbalancing:{op}"]
        assert statement["Resource"] != "*" and "Ref" in statement["Resource"]
        assert "Condition" not in statement
    for op in ("AddTags", "RemoveTags"):  # and only tgsync's own memory tags
        (statement,) = granted[f"elasticloadbalancing:{op}"]
        assert "Ref" in statement["Resource"]
        assert statement["Condition"] == {
            "ForAllValues:StringLike": {"aws:TagKeys": list(OWN_TAG_KEYS)}
        }


def test_the_role_has_no_managed_policy_and_writes_only_its_own_logs(five_lines):
    template, _, _ = five_lines
    (role,) = [
        r
        for r in of_type(template, "AWS::IAM::Role")
        if "lambda.amazonaws.com" in json.dumps(r["AssumeRolePolicyDocument"])
    ]
    assert "ManagedPolicyArns" not in role
    by_sid = {s.get("Sid"): s for s in statements(template)}
    logs = by_sid["WriteOwnLogGroupOnly"]
    assert sorted(logs["Action"]) == ["logs:CreateLogStream", "logs:PutLogEvents"]
    (log_group,) = [
        k for k, r in template["Resources"].items() if r["Type"] == "AWS::Logs::LogGroup"
    ]
    assert logs["Resource"] == {"Fn::GetAtt": [log_group, "Arn"]}
    ec2_actions = {
        a: s
        for s in statements(template)
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
        if a.startswith("ec2:")
    }
    assert set(ec2_actions) == {
        "ec2:CreateNetworkInterface",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeSubnets",
        "ec2:DeleteNetworkInterface",
        "ec2:AssignPrivateIpAddresses",
        "ec2:UnassignPrivateIpAddresses",
    }
    for action, statement in ec2_actions.items():
        if action.startswith("ec2:Describe"):
            assert statement["Resource"] == "*"
        else:  # network interfaces of this account and region, never "*"
            resources = statement["Resource"]
            resources = resources if isinstance(resources, list) else [resources]
            assert "*" not in resources
            assert any(":network-interface/*" in json.dumps(r) for r in resources)
    create = json.dumps(ec2_actions["ec2:CreateNetworkInterface"]["Resource"])
    assert create.count(":subnet/") == 2 and create.count(":security-group/") == 1
    manage = ec2_actions["ec2:DeleteNetworkInterface"]  # in the function's subnets only
    assert list(manage["Condition"]) == ["ArnLike"]
    assert json.dumps(manage["Condition"]["ArnLike"]["ec2:Subnet"]).count(":subnet/") == 2


def health_query(namespace: str, where: str) -> str:
    """The Metrics Insights query of ELB's HealthyHostCount the brief asks for."""
    return (
        "SELECT MIN(HealthyHostCount) "  # noqa: S608 - CloudWatch's query, no database
        f'FROM SCHEMA("{namespace}", LoadBalancer, TargetGroup){where} '
        "GROUP BY LoadBalancer, TargetGroup ORDER BY MIN() ASC"
    )


def health_alarms(template: dict) -> dict[str, str]:
    """The Metrics Insights alarms: namespace -> query (a token's parts as <TOKEN>)."""
    found = {}
    for alarm in of_type(template, "AWS::CloudWatch::Alarm"):
        if "Metrics" not in alarm:
            continue
        (query,) = alarm["Metrics"]
        assert (query["Period"], query["ReturnData"]) == (60, True)
        assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (1, "LessThanThreshold")
        assert (alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (3, 3)
        assert alarm["TreatMissingData"] == "notBreaching"
        expression = query["Expression"]
        if isinstance(expression, dict):
            expression = "".join(
                part if isinstance(part, str) else "<TOKEN>" for part in expression["Fn::Join"][1]
            )
        namespace = expression.split('SCHEMA("')[1].split('"')[0]
        found[namespace] = expression
    assert set(found) == {"AWS/ApplicationELB", "AWS/NetworkELB"}
    return found


def test_the_alarms_of_the_stack_are_there(five_lines):
    template, _, _ = five_lines
    metrics = sorted(
        a["MetricName"] for a in of_type(template, "AWS::CloudWatch::Alarm") if "MetricName" in a
    )
    assert metrics == ["Errors", "Invocations", "ResolutionFailures"]
    (dashboard,) = of_type(template, "AWS::CloudWatch::Dashboard")
    body = json.dumps(dashboard["DashboardBody"])
    assert all(
        name in body
        for name in (
            "HealthyTargets",
            "MinHealthyTargets",
            "Registrations",
            "MappingFailures",
            "Throttles",
            "ChangeEventsFailed",
        )
    )


def test_no_healthy_target_alarms_read_elb_metric_for_the_one_group_kept(five_lines):
    template, _, _ = five_lines
    queries = health_alarms(template)
    for namespace, query in queries.items():
        assert query == health_query(namespace, " WHERE TargetGroup = '<TOKEN>'")
    (alarm, _) = [a for a in of_type(template, "AWS::CloudWatch::Alarm") if "Metrics" in a]
    (group,) = [
        k
        for k, r in template["Resources"].items()
        if r["Type"] == "AWS::ElasticLoadBalancingV2::TargetGroup"
    ]
    # targetgroup/name/id: the sixth field of the group's ARN.
    assert alarm["Metrics"][0]["Expression"]["Fn::Join"][1][1] == {
        "Fn::Select": [5, {"Fn::Split": [":", {"Ref": group}]}]
    }


@pytest.mark.parametrize(
    ("options", "where"),
    [
        ({"discover": True, "discover_prefix": "*"}, ""),
        (
            {
                "discover": True,
                "discover_prefix": "*",
                "health_alarm_filter": "LoadBalancer = 'app/search/0123'",
            },
            " WHERE LoadBalancer = 'app/search/0123'",
        ),
    ],
)
def test_no_healthy_target_alarms_without_one_group_take_the_filter(code, options, where):
    template, _, _ = synth(code, **options)
    for namespace, query in health_alarms(template).items():
        assert query == health_query(namespace, where)


def test_no_healthy_target_alarms_see_mappings_added_later(code):
    stack = Stack(App(), "Later")
    vpc, group = network(stack)
    other = elbv2.NetworkTargetGroup(
        stack, "Db", vpc=vpc, port=5432, target_type=elbv2.TargetType.IP
    )
    sync = HostnameTargetSync(
        stack, "Sync", vpc=vpc, code=code(), hostname=HOSTNAME, target_group=group
    )
    sync.add_mapping("db.internal.example.com", other)
    queries = health_alarms(assertions.Template.from_stack(stack).to_json())
    assert all("WHERE" not in query for query in queries.values())


def test_add_mapping_keeps_more_groups_and_scopes_writes_to_each(code):
    stack = Stack(App(), "Many")
    vpc, group = network(stack)
    other = elbv2.NetworkTargetGroup(
        stack, "Db", vpc=vpc, port=5432, target_type=elbv2.TargetType.IP
    )
    sync = HostnameTargetSync(
        stack, "Sync", vpc=vpc, code=code(), hostname=HOSTNAME, target_group=group
    )
    sync.add_mapping("db.internal.example.com", other, port=5432)
    template = assertions.Template.from_stack(stack).to_json()
    (function,) = of_type(template, "AWS::Lambda::Function")
    joined = function["Environment"]["Variables"]["TGSYNC_MAPPINGS"]["Fn::Join"][1]
    text = "".join(part if isinstance(part, str) else "ARN" for part in joined)
    assert json.loads(text) == [
        {"hostname": HOSTNAME, "target_group_arn": "ARN"},
        {"hostname": "db.internal.example.com", "target_group_arn": "ARN", "port": 5432},
    ]
    (writes,) = [s for s in statements(template) if ELB_ACTIONS_TARGETS[0] in s["Action"]]
    assert len(writes["Resource"]) == 2


RECORD_KEY = "arn:aws:kms:eu-west-1:123456789012:key/0123abcd-0123-4567-89ab-0123456789ab"
ROLE = "arn:aws:iam::111122223333:role/tgsync-rds-read"
#: A value for every CDK keyword of SETTINGS, and what the function's variable then holds.
GOOD = {
    "port": (9200, None),
    "alb_id": ("front", "front"),
    "stale_after": (Duration.minutes(5), "300"),
    "lookups": (5, "5"),
    "dns_servers": (["10.0.0.2", "[fd00::53]:5353"], "10.0.0.2,[fd00::53]:5353"),
    "allowed_cidrs": (["10.0.0.0/16"], "10.0.0.0/16"),
    "policy": ("upsert-only", "upsert-only"),
    "retire": ("owned", "owned"),
    "resolve": ("rds", "rds"),
    "rds_role_arn": (ROLE, ROLE),
    "record_key": (RECORD_KEY, RECORD_KEY),
    "dry_run": (True, "true"),
    "concurrency": (8, "8"),
    "api_rate": (4, "4"),
    "resync_every": (600, "600"),
    "discover": (True, "tags"),
    "owner": ("team-a", "team-a"),
    "discover_prefix": ("search-", "search-"),
    "discover_every": (Duration.minutes(10), "600"),
    "outside_vpc": ("allow", "allow"),
    "follow_interval": (Duration.seconds(5), "5"),
    "follow_for": (Duration.minutes(3), "180"),
    "event_bus": ("tgsync-changes", "tgsync-changes"),
}
#: A value the function refuses, for keywords with neither bounds nor choices.
BAD = {
    "dns_servers": ["dns.example.com"],
    "allowed_cidrs": ["10.0.0.0/33"],
    "owner": "team a!",
    "discover_prefix": "-search",
    "rds_role_arn": "arn:aws:iam::111122223333:user/tgsync",
    "record_key": "not-a-key",
    "event_bus": "tgsync changes",
}
#: Keywords the function takes any string for.
ANY_TEXT = {"alb_id"}
#: What a keyword needs beside it to be allowed at all.
NEEDS = {
    "owner": {"discover": True, "discover_prefix": "*"},
    "discover_prefix": {"discover": True},
    "discover": {"discover_prefix": "*"},
}
KEYWORDS = [item for item in SETTINGS if item.cdk is not None]


def refused(item) -> list:
    """Values of this setting the function refuses: just past each bound, a bad choice."""
    if item.low is not None:
        return [item.low - 1, item.high + 1]
    if item.choices is not None:
        return ["bogus"]
    return [] if item.cdk in ANY_TEXT else [BAD[item.cdk]]


def test_every_setting_with_a_cdk_name_is_a_keyword_with_a_test_value():
    parameters = inspect.signature(HostnameTargetSync.__init__).parameters
    for item in KEYWORDS:
        assert item.cdk in parameters, f"{item.cdk} ({item.env}) is no keyword of the construct"
        assert item.cdk in GOOD, f"give {item.cdk} a value in GOOD"
        assert refused(item) or item.cdk in ANY_TEXT


@pytest.mark.parametrize(
    ("keyword", "value"), [(item.cdk, value) for item in KEYWORDS for value in refused(item)]
)
def test_a_value_the_function_refuses_fails_the_synth_naming_the_keyword(code, keyword, value):
    with pytest.raises(ValueError, match=rf"^{keyword}=") as caught:
        synth(code, **NEEDS.get(keyword, {}), **{keyword: value})
    # Then what the function itself would say of its variable, which names the fix.
    text = (
        ",".join(value)
        if isinstance(value, list)
        else str(int(value))
        if isinstance(value, float) and value.is_integer()
        else str(value)
    )
    item = next(item for item in KEYWORDS if item.cdk == keyword)
    with pytest.raises(ValueError, match=r".") as parsed:
        item.parse(text)
    assert str(caught.value).endswith(f": {parsed.value}")


def test_every_setting_given_reaches_the_function_as_its_variable(code):
    stack = Stack(App(), "Options")
    vpc, group = network(stack)
    topic = sns.Topic(stack, "Alarms")
    HostnameTargetSync(
        stack,
        "Sync",
        vpc=vpc,
        code=code(),
        hostname=f"https://{HOSTNAME}/",
        target_group=group,
        **{keyword: value for keyword, (value, _) in GOOD.items()},
        schedule=Duration.minutes(2),
        memory_size=512,
        alarm_topic=topic,
        architecture=lambda_.Architecture.X86_64,
        log_level="DEBUG",
        log_encryption_key=kms.Key(stack, "Logs"),
    )
    template = assertions.Template.from_stack(stack).to_json()
    (function,) = of_type(template, "AWS::Lambda::Function")
    variables = function["Environment"]["Variables"]
    by_keyword = {item.cdk: item for item in KEYWORDS}
    assert {k: v for k, v in variables.items() if k != "TGSYNC_MAPPINGS"} == {
        **{
            by_keyword[keyword].env: text for keyword, (_, text) in GOOD.items() if text is not None
        },
        "POWERTOOLS_SERVICE_NAME": "tgsync",
        "POWERTOOLS_METRICS_NAMESPACE": "tgsync",
        "POWERTOOLS_LOG_LEVEL": "DEBUG",
    }
    assert function["LoggingConfig"]["ApplicationLogLevel"] == "DEBUG"
    # port is the first mapping's (add_mapping takes one per group).
    assert f'"hostname":"{HOSTNAME}"' in variables["TGSYNC_MAPPINGS"]["Fn::Join"][1][0]
    assert '"port":9200' in variables["TGSYNC_MAPPINGS"]["Fn::Join"][1][2]
    assert (function["MemorySize"], function["Architectures"]) == (512, ["x86_64"])
    (schedule,) = of_type(template, "AWS::Scheduler::Schedule")
    assert schedule["ScheduleExpression"] == "rate(2 minutes)"
    assert all(alarm["AlarmActions"] for alarm in of_type(template, "AWS::CloudWatch::Alarm"))
    (logs,) = of_type(template, "AWS::Logs::LogGroup")
    assert "Fn::GetAtt" in logs["KmsKeyId"]


@pytest.mark.parametrize(
    ("value", "text"), [(True, "allow"), (False, "refuse"), ("refuse", "refuse")]
)
def test_outside_vpc_takes_a_bool_or_the_stack_word(code, value, text):
    template, _, _ = synth(code, outside_vpc=value)
    (function,) = of_type(template, "AWS::Lambda::Function")
    assert function["Environment"]["Variables"]["TGSYNC_OUTSIDE_VPC"] == text


def test_domain_arns_add_both_event_rules_with_a_dead_letter_queue(code):
    template, _, _ = synth(code, domain_arns=[DOMAIN], create_elb_endpoint=True)
    rules = of_type(template, "AWS::Events::Rule")
    patterns = sorted((r["EventPattern"] for r in rules), key=json.dumps)
    assert patterns[0]["detail"]["requestParameters"] == {"domainName": ["logs"]}
    assert patterns[0]["detail"]["errorCode"] == [{"exists": False}]  # calls that failed: none
    assert patterns[1]["resources"] == [DOMAIN]
    assert all(r["Targets"][0]["DeadLetterConfig"] for r in rules)
    permissions = of_type(template, "AWS::Lambda::Permission")
    assert sorted(p["Principal"] for p in permissions) == ["events.amazonaws.com"] * 2
    (queue,) = of_type(template, "AWS::SQS::Queue")
    assert queue["SqsManagedSseEnabled"] is True
    (endpoint,) = of_type(template, "AWS::EC2::VPCEndpoint")
    assert "elasticloadbalancing" in json.dumps(endpoint["ServiceName"])


@pytest.mark.parametrize(
    ("owner", "owned"),
    [
        ("team-a", {"StringEquals": {"aws:ResourceTag/tgsync:owner": "team-a"}}),
        (None, {"Null": {"aws:ResourceTag/tgsync:owner": "true"}}),
    ],
)
def test_discovery_writes_only_where_the_tags_ask(code, owner, owned):
    template, _, _ = synth(
        code, hostname=None, target_group=None, discover=True, discover_prefix="*", owner=owner
    )
    by_sid = {s.get("Sid"): s for s in statements(template)}
    hostname = {"aws:ResourceTag/tgsync:hostname": "false"}
    asks = {"Null": hostname, **owned} if owner else {"Null": {**hostname, **owned["Null"]}}
    assert by_sid["ChangeOnlyGroupsThatAskForIt"]["Condition"] == asks
    own_keys = {"ForAllValues:StringLike": {"aws:TagKeys": list(OWN_TAG_KEYS)}}
    assert by_sid["WriteOnlyOwnMemoryTagsOnThoseGroups"]["Condition"] == {**asks, **own_keys}
    # Letting go: no hostname tag needed any more, but the owner still must match.
    assert by_sid["RemoveOnlyOwnMemoryTags"]["Condition"] == {**owned, **own_keys}
    assert "ChangeOnlyTheKeptTargetGroups" not in by_sid
    for sid in (
        "ChangeOnlyGroupsThatAskForIt",
        "WriteOnlyOwnMemoryTagsOnThoseGroups",
        "RemoveOnlyOwnMemoryTags",
    ):
        assert by_sid[sid]["Resource"]["Fn::Join"][1][-1].endswith(":targetgroup/*")
    (function,) = of_type(template, "AWS::Lambda::Function")
    assert function["Environment"]["Variables"].get("TGSYNC_OWNER") == owner


def test_a_discover_prefix_scopes_every_discovery_write_to_those_names(code):
    template, _, _ = synth(
        code, hostname=None, target_group=None, discover=True, discover_prefix="search-"
    )
    by_sid = {s.get("Sid"): s for s in statements(template)}
    for sid in (
        "ChangeOnlyGroupsThatAskForIt",
        "WriteOnlyOwnMemoryTagsOnThoseGroups",
        "RemoveOnlyOwnMemoryTags",
    ):
        assert by_sid[sid]["Resource"]["Fn::Join"][1][-1].endswith(":targetgroup/search-*")
    (function,) = of_type(template, "AWS::Lambda::Function")
    assert function["Environment"]["Variables"]["TGSYNC_DISCOVER_PREFIX"] == "search-"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"schedule": Duration.minutes(5)}, "schedule=300s: give 1 to 4 whole minutes"),
        ({"hostname": "ftp://logs.example.com"}, "hostname 'ftp://logs.example.com' has scheme"),
        ({"port": 70000}, "port=70000: 70000 is out of range; give a whole number from 1 to 65535"),
        (
            {"policy": "delete"},
            "policy='delete': 'delete' is not a policy; use one of: sync, upsert-only",
        ),
        ({"owner": "team-a"}, "owner is set but discover is not"),
        ({"discover_prefix": "search-"}, "discover_prefix is set but discover is not"),
        ({"discover": True}, "discover=True needs discover_prefix"),
        ({"hostname": None}, "give hostname and target_group together"),
        ({"log_level": "TRACE"}, "log_level='TRACE': use one of DEBUG, INFO, WARN, ERROR"),
        ({"memory_size": 64}, "memory_size=64: give a number from 128 to 1024"),
        (
            {"stale_after": Duration.days(8)},
            "stale_after=691200s: '691200' is out of range; give seconds from 0 to 604800",
        ),
        (
            {"follow_interval": 0.5},
            "follow_interval=0.5: '0.5' is out of range; give seconds "
            "from 1 to 60 (0 turns it off)",
        ),
    ],
)
def test_a_bad_option_is_named_with_its_fix(code, options, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")) as caught:
        synth(code, **options)
    assert message in str(caught.value)


def function_groups(template: dict) -> list[str]:
    """The logical IDs of the function's security groups."""
    (function,) = of_type(template, "AWS::Lambda::Function")
    return [ref["Fn::GetAtt"][0] for ref in function["VpcConfig"]["SecurityGroupIds"]]


def egress(template: dict) -> list[dict]:
    """The function's security group's egress rules, inline and separate."""
    (group_id,) = function_groups(template)
    rules = list(template["Resources"][group_id]["Properties"].get("SecurityGroupEgress", []))
    rules += [
        r
        for r in of_type(template, "AWS::EC2::SecurityGroupEgress")
        if r["GroupId"] == {"Fn::GetAtt": [group_id, "GroupId"]}
    ]
    return rules


def test_the_function_may_reach_the_elb_api_and_the_resolver_only(five_lines):
    template, _, _ = five_lines
    (vpc,) = [k for k, r in template["Resources"].items() if r["Type"] == "AWS::EC2::VPC"]
    cidr = {"Fn::GetAtt": [vpc, "CidrBlock"]}
    # base+2 (the resolver) and base+3 (reserved by AWS): the second /31 of the VPC.
    resolver = {"Fn::Select": [1, {"Fn::Cidr": [cidr, 2, "1"]}]}
    assert sorted(
        (
            (r["IpProtocol"], r["FromPort"], r["ToPort"], json.dumps(r["CidrIp"]))
            for r in egress(template)
        ),
        key=str,
    ) == sorted(
        [
            ("tcp", 443, 443, json.dumps(cidr)),
            ("udp", 53, 53, json.dumps(resolver)),
            ("tcp", 53, 53, json.dumps(resolver)),
        ],
        key=str,
    )
    (function,) = of_type(template, "AWS::Lambda::Function")
    assert len(function["VpcConfig"]["SecurityGroupIds"]) == 1


def test_a_looked_up_vpc_gets_its_resolver_address_and_dns_servers_their_own(code):
    stack = Stack(App(), "Looked")
    vpc = ec2.Vpc.from_vpc_attributes(
        stack,
        "Vpc",
        vpc_id="vpc-0123",
        vpc_cidr_block="10.20.0.0/16",
        availability_zones=["eu-west-1a"],
        isolated_subnet_ids=["subnet-0123"],
    )
    group = elbv2.ApplicationTargetGroup.from_target_group_attributes(
        stack,
        "Group",
        target_group_arn="arn:aws:elasticloadbalancing:eu-west-1:123456789012:"
        "targetgroup/search/0123456789abcdef",
    )
    template, _, _ = finish(stack, vpc, group, code)
    dns = {
        (r["IpProtocol"], r["FromPort"], r["CidrIp"])
        for r in egress(template)
        if r["FromPort"] != 443
    }
    assert dns == {("udp", 53, "10.20.0.2/32"), ("tcp", 53, "10.20.0.2/32")}
    query = health_alarms(template)["AWS/ApplicationELB"]
    assert "WHERE TargetGroup = 'targetgroup/search/0123456789abcdef'" in query

    stack = Stack(App(), "Servers")
    vpc, group = network(stack)
    template, _, _ = finish(stack, vpc, group, code, dns_servers=["10.0.0.2", "[fd00::53]:5353"])
    dns = {
        (r["IpProtocol"], r["FromPort"], r.get("CidrIp") or r.get("CidrIpv6"))
        for r in egress(template)
        if r["FromPort"] != 443
    }
    assert dns == {
        ("udp", 53, "10.0.0.2/32"),
        ("tcp", 53, "10.0.0.2/32"),
        ("udp", 5353, "fd00::53/128"),
        ("tcp", 5353, "fd00::53/128"),
    }


def test_the_elb_endpoint_admits_the_function_only_and_this_account_only(code):
    template, _, _ = synth(code, create_elb_endpoint=True)
    groups = {
        k: r["Properties"]
        for k, r in template["Resources"].items()
        if r["Type"] == "AWS::EC2::SecurityGroup"
    }
    (function_group,) = function_groups(template)
    (endpoint_group,) = [k for k in groups if k != function_group]
    assert "SecurityGroupIngress" not in groups[endpoint_group]  # no CIDR, least of all the VPC's
    (ingress,) = of_type(template, "AWS::EC2::SecurityGroupIngress")
    assert ingress["SourceSecurityGroupId"] == {"Fn::GetAtt": [function_group, "GroupId"]}
    assert (ingress["IpProtocol"], ingress["FromPort"], ingress["ToPort"]) == ("tcp", 443, 443)
    https = [r for r in egress(template) if r["FromPort"] == 443]
    assert [r.get("DestinationSecurityGroupId") for r in https] == [
        {"Fn::GetAtt": [endpoint_group, "GroupId"]}
    ]
    (endpoint,) = of_type(template, "AWS::EC2::VPCEndpoint")
    (statement,) = endpoint["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"AWS": "*"}
    assert statement["Condition"] == {
        "StringEquals": {
            "aws:PrincipalAccount": {"Ref": "AWS::AccountId"},
            "aws:ResourceAccount": {"Ref": "AWS::AccountId"},
        }
    }


def test_security_groups_given_are_used_as_they_are(code):
    stack = Stack(App(), "Own")
    vpc, group = network(stack)
    own = ec2.SecurityGroup(stack, "Own", vpc=vpc, description="the users own")
    template, sync, _ = finish(
        stack, vpc, group, code, security_groups=[own], create_elb_endpoint=True
    )
    assert sync.security_group is None
    assert function_groups(template) == [
        k
        for k, r in template["Resources"].items()
        if k.startswith("Own") and r["Type"] == "AWS::EC2::SecurityGroup"
    ]
    assert len(of_type(template, "AWS::EC2::SecurityGroup")) == 2  # the user's, the endpoint's
    (ingress,) = of_type(template, "AWS::EC2::SecurityGroupIngress")
    assert ingress["SourceSecurityGroupId"]["Fn::GetAtt"][0].startswith("Own")


def test_the_example_app_synthesises_the_alb_in_front_of_opensearch(tmp_path):
    app = Path(__file__).resolve().parents[2] / "deploy" / "cdk" / "app.py"
    done = subprocess.run(
        [sys.executable, str(app)],
        env={**os.environ, "CDK_OUTDIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (path,) = tmp_path.glob("*.template.json")
    template = json.loads(path.read_text())
    kinds = {r["Type"] for r in template["Resources"].values()}
    assert {
        "AWS::ElasticLoadBalancingV2::LoadBalancer",
        "AWS::ElasticLoadBalancingV2::Listener",
        "AWS::ElasticLoadBalancingV2::TargetGroup",
        "AWS::Lambda::Function",
        "AWS::Scheduler::Schedule",
    } <= kinds
    (balancer,) = of_type(template, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    assert balancer["Scheme"] == "internal"
    (listener,) = of_type(template, "AWS::ElasticLoadBalancingV2::Listener")
    assert (listener["Protocol"], listener["Port"]) == ("HTTPS", 443)
    (group,) = of_type(template, "AWS::ElasticLoadBalancingV2::TargetGroup")
    assert group["TargetType"] == "ip"
    # Isolated subnets, no NAT: the ELB API through the endpoint the construct creates.
    (endpoint,) = of_type(template, "AWS::EC2::VPCEndpoint")
    assert "elasticloadbalancing" in json.dumps(endpoint["ServiceName"])
    (function,) = of_type(template, "AWS::Lambda::Function")
    assert (
        function["VpcConfig"]["SubnetIds"]
        == endpoint["SubnetIds"]
        == ["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb"]
    )
    dns = [
        r
        for g in of_type(template, "AWS::EC2::SecurityGroup")
        for r in g.get("SecurityGroupEgress", [])
        if r["FromPort"] == 53
    ]
    assert {r["CidrIp"] for r in dns} == {"10.0.0.2/32"}


# ----------------------------------------------------------------------------- RDS

CLUSTER = "arn:aws:rds:eu-west-1:111122223333:cluster:orders"
INSTANCE = "arn:aws:rds:eu-west-1:111122223333:db:orders-1"


def rules_by_source(template: dict) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for rule in of_type(template, "AWS::Events::Rule"):
        found.setdefault(rule["EventPattern"]["source"][0], []).append(rule)
    return found


def test_event_source_arns_route_rds_and_opensearch_events_with_one_dead_letter_queue(code):
    template, _, _ = synth(code, event_source_arns=[CLUSTER, INSTANCE, DOMAIN])
    rules = rules_by_source(template)
    assert sorted((source, len(found)) for source, found in rules.items()) == [
        ("aws.es", 2),
        ("aws.rds", 1),
    ]
    (rds,) = rules["aws.rds"]
    assert rds["EventPattern"]["detail-type"] == ["RDS DB Cluster Event", "RDS DB Instance Event"]
    assert rds["EventPattern"]["detail"] == {
        "EventCategories": [
            "availability",
            "configuration change",
            "deletion",
            "failover",
            "failure",
            "maintenance",
        ],
        "SourceArn": [CLUSTER, INSTANCE],
    }
    notifications = [r for r in rules["aws.es"] if "resources" in r["EventPattern"]]
    assert notifications[0]["EventPattern"]["resources"] == [DOMAIN]
    assert len(of_type(template, "AWS::SQS::Queue")) == 1
    assert all(r["Targets"][0]["DeadLetterConfig"] for found in rules.values() for r in found)
    assert len(of_type(template, "AWS::Lambda::Permission")) == 3


def test_rds_arns_alone_make_only_the_rds_rule_and_domain_arns_still_work(code):
    template, _, _ = synth(code, event_source_arns=[CLUSTER])
    assert set(rules_by_source(template)) == {"aws.rds"}
    template, _, _ = synth(code, domain_arns=[DOMAIN], event_source_arns=[INSTANCE])
    assert sorted(len(found) for found in rules_by_source(template).values()) == [1, 2]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"event_source_arns": ["orders"]},
            "event_source_arns[0]='orders': not an OpenSearch domain, RDS DB cluster or RDS DB "
            "instance ARN; give",
        ),
        ({"event_source_arns": [CLUSTER, CLUSTER.replace("orders", "*")]}, "event_source_arns[1]="),
        (
            {"event_source_arns": [CLUSTER.replace(":cluster:", ":cluster-endpoint:")]},
            "event_source_arns[0]=",
        ),
        (
            {"domain_arns": [CLUSTER]},
            "domain_arns[0]='arn:aws:rds:eu-west-1:111122223333:cluster:orders': not an OpenSearch "
            "domain ARN; give arn:aws:es:REGION:ACCOUNT:domain/NAME (whole, no wildcards), or pass "
            "an RDS cluster or instance ARN in event_source_arns",
        ),
    ],
)
def test_an_event_source_that_is_not_a_whole_arn_is_named_with_its_fix(code, options, message):
    with pytest.raises(ValueError, match="arns") as caught:
        synth(code, **options)
    assert message in str(caught.value)


def rds_statements(template: dict) -> dict[str, dict]:
    return {
        s["Sid"]: s
        for s in statements(template)
        if any(
            a.startswith("rds:")
            for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
        )
    }


def test_the_role_reads_rds_only_when_resolve_rds_is_possible(code, five_lines):
    assert rds_statements(five_lines[0]) == {}
    assert rds_statements(synth(code, event_source_arns=[CLUSTER])[0]) == {}
    for options in (
        {"resolve": "rds"},
        {"discover": True, "discover_prefix": "*", "hostname": None, "target_group": None},
    ):
        found = rds_statements(synth(code, **options)[0])
        assert set(found) == {"ReadTheClusters", "ReadMembersAndCustomEndpoints"}, options
        assert found["ReadTheClusters"]["Action"] == "rds:DescribeDBClusters"
        assert sorted(found["ReadMembersAndCustomEndpoints"]["Action"]) == [
            "rds:DescribeDBClusterEndpoints",
            "rds:DescribeDBInstances",
        ]
        text = json.dumps(found["ReadTheClusters"]["Resource"])
        assert ":cluster:*" in text, text  # no cluster given: every one of the region


@pytest.mark.parametrize("sources", [[], [CLUSTER], [CLUSTER, INSTANCE, DOMAIN]])
def test_the_rds_reads_cover_every_cluster_whatever_event_source_arns_names(code, sources):
    """Event sources route events; naming one cluster there must not deny reading
    another that a mapping resolves (as the stack's role)."""
    template, _, _ = synth(code, resolve="rds", event_source_arns=sources)
    found = rds_statements(template)
    assert json.dumps(found["ReadTheClusters"]["Resource"]).endswith(':cluster:*"]]}')
    members = json.dumps(found["ReadMembersAndCustomEndpoints"]["Resource"])
    for kind in (":db:*", ":cluster:*", ":cluster-endpoint:*"):
        assert kind in members


WRITER = "orders.cluster-c1a2b3c4d5e6.eu-west-1.rds.amazonaws.com"
READER = "orders.cluster-ro-c1a2b3c4d5e6.eu-west-1.rds.amazonaws.com"


def mappings_of(template: dict) -> list[dict]:
    """TGSYNC_MAPPINGS as the function reads it, each group's ARN written ARN."""
    (function,) = of_type(template, "AWS::Lambda::Function")
    joined = function["Environment"]["Variables"]["TGSYNC_MAPPINGS"]["Fn::Join"][1]
    return json.loads("".join(part if isinstance(part, str) else "ARN" for part in joined))


def aurora(code, **reader) -> tuple[dict, HostnameTargetSync]:
    """A writer group on DNS with stale_after=0 and a reader group added with ``reader``."""
    stack = Stack(App(), "Aurora")
    vpc, writer = network(stack)
    readers = elbv2.NetworkTargetGroup(
        stack, "Readers", vpc=vpc, port=5432, target_type=elbv2.TargetType.IP
    )
    sync = HostnameTargetSync(
        stack, "Sync", vpc=vpc, code=code(), hostname=WRITER, target_group=writer, stale_after=0
    )
    sync.add_mapping(READER, readers, **reader)
    return assertions.Template.from_stack(stack).to_json(), sync


def test_add_mapping_takes_each_mapping_s_own_settings_and_rds_grants_the_reads(code):
    template, _ = aurora(
        code,
        resolve="rds",
        stale_after=Duration.minutes(2),
        retire="owned",
        lookups=2,
        policy="upsert-only",
        dns_servers=["10.0.0.2"],
        allowed_cidrs=["10.0.0.0/16"],
        alb_id="front",
    )
    entries = mappings_of(template)
    assert entries == [
        {"hostname": WRITER, "target_group_arn": "ARN"},
        {
            "hostname": READER,
            "target_group_arn": "ARN",
            "resolve": "rds",
            "stale_after": 120,
            "retire": "owned",
            "lookups": 2,
            "policy": "upsert-only",
            "dns_servers": "10.0.0.2",
            "allowed_cidrs": "10.0.0.0/16",
            "alb_id": "front",
        },
    ]
    # The function reads them so: the construct's stale_after=0 stays the default.
    arn = "arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/g/0123456789abcdef"
    text = json.dumps(entries).replace('"ARN"', f'"{arn}"')
    loaded = config.load({config.MAPPINGS: text, "TGSYNC_STALE_AFTER": "0"})
    assert loaded.invalid == ()
    writer, reader = loaded.mappings
    assert (writer.resolve, writer.stale_after) == ("dns", 0)
    assert (reader.resolve, reader.stale_after, reader.retire) == ("rds", 120, "owned")
    assert set(rds_statements(template)) == {"ReadTheClusters", "ReadMembersAndCustomEndpoints"}


def test_the_rds_reads_are_granted_once_and_only_when_a_mapping_resolves_rds(code):
    template, _ = aurora(code, resolve="dns")
    assert rds_statements(template) == {}
    stack = Stack(App(), "Twice")
    vpc, group = network(stack)
    sync = HostnameTargetSync(
        stack, "Sync", vpc=vpc, code=code(), hostname=WRITER, target_group=group, resolve="rds"
    )
    for index in range(2):
        other = elbv2.NetworkTargetGroup(
            stack, f"Other{index}", vpc=vpc, port=5432, target_type=elbv2.TargetType.IP
        )
        sync.add_mapping(READER, other, resolve="rds")
    sids = [
        s["Sid"]
        for s in statements(assertions.Template.from_stack(stack).to_json())
        if s.get("Sid", "").startswith("Read")
    ]
    assert sorted(sids) == ["ReadMembersAndCustomEndpoints", "ReadTheClusters"]


def test_a_token_for_a_mapping_s_resolve_grants_the_reads(code):
    stack = Stack(App(), "Token")
    vpc, group = network(stack)
    resolve = CfnParameter(stack, "Resolve").value_as_string
    sync = HostnameTargetSync(
        stack, "Sync", vpc=vpc, code=code(), hostname=WRITER, target_group=group
    )
    sync.add_mapping(READER, group, resolve=resolve)
    template = assertions.Template.from_stack(stack).to_json()
    assert set(rds_statements(template)) == {"ReadTheClusters", "ReadMembersAndCustomEndpoints"}


def test_add_mapping_takes_every_per_mapping_setting_with_a_cdk_name():
    parameters = inspect.signature(HostnameTargetSync.add_mapping).parameters
    mapping_keywords = {item.cdk for item in KEYWORDS if item.mapping_key}
    assert mapping_keywords == set(MAPPING_KEYWORDS)
    assert mapping_keywords <= set(parameters)
    assert {"resolve", "stale_after", "retire"} <= mapping_keywords


@pytest.mark.parametrize(
    ("keyword", "value"),
    [
        (item.cdk, value)
        for item in KEYWORDS
        if item.mapping_key and item.cdk != "port"
        for value in refused(item)
    ],
)
def test_a_mapping_setting_the_function_refuses_fails_the_synth_naming_it(code, keyword, value):
    with pytest.raises(ValueError, match=rf"^{keyword}="):
        aurora(code, **{keyword: value})


def test_the_rds_endpoint_admits_the_function_only_and_this_account_only(code):
    template, sync, _ = synth(code, resolve="rds", create_rds_endpoint=True)
    (endpoint,) = of_type(template, "AWS::EC2::VPCEndpoint")
    assert ".rds" in json.dumps(endpoint["ServiceName"])
    assert endpoint["PrivateDnsEnabled"] is True
    (statement,) = endpoint["PolicyDocument"]["Statement"]
    assert statement["Action"] == "rds:*"
    assert statement["Condition"] == {
        "StringEquals": {
            "aws:PrincipalAccount": {"Ref": "AWS::AccountId"},
            "aws:ResourceAccount": {"Ref": "AWS::AccountId"},
        }
    }
    assert sync.rds_endpoint is not None
    (function_group,) = function_groups(template)
    (endpoint_group,) = [
        k
        for k, r in template["Resources"].items()
        if r["Type"] == "AWS::EC2::SecurityGroup" and k != function_group
    ]
    (ingress,) = of_type(template, "AWS::EC2::SecurityGroupIngress")
    assert ingress["SourceSecurityGroupId"] == {"Fn::GetAtt": [function_group, "GroupId"]}
    https = [
        r.get("DestinationSecurityGroupId") or r.get("CidrIp")
        for r in egress(template)
        if r["FromPort"] == 443
    ]
    assert {"Fn::GetAtt": [endpoint_group, "GroupId"]} in https


def test_a_token_in_event_source_arns_is_taken_for_an_rds_resource(code):
    stack = Stack(App(), "Tokens")
    vpc, group = network(stack)
    cluster = CfnParameter(stack, "ClusterArn").value_as_string
    template, _, _ = finish(stack, vpc, group, code, event_source_arns=[cluster], resolve="rds")
    (rds,) = rules_by_source(template)["aws.rds"]
    assert rds["EventPattern"]["detail"]["SourceArn"] == [{"Ref": "ClusterArn"}]
    assert set(rules_by_source(template)) == {"aws.rds"}
    # The event sources never narrow the reads: every cluster of the region.
    assert ":cluster:*" in json.dumps(rds_statements(template)["ReadTheClusters"]["Resource"])


@pytest.mark.parametrize(
    "arn",
    [
        DOMAIN,
        CLUSTER,
        INSTANCE,
        "",
        "orders",
        CLUSTER + "*",
        CLUSTER.replace("orders", "*"),
        CLUSTER.replace(":cluster:", ":cluster-endpoint:"),
        DOMAIN.replace("logs", "Logs"),
        f"{CLUSTER},{INSTANCE}",
    ],
)
def test_the_construct_and_the_stack_take_the_same_event_source_arns(arn):
    class Loader(yaml.SafeLoader):  # CloudFormation's !Tags read as None
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    stack = yaml.load((REPO / "deploy" / "tgsync.yaml").read_text(), Loader=Loader)  # noqa: S506
    pattern = stack["Parameters"]["EventSourceArns"]["AllowedPattern"]
    in_stack = bool(arn) and re.fullmatch(pattern, arn) is not None
    assert in_stack is bool(DOMAIN_ARN.match(arn) or RDS_ARN.match(arn)), arn


CSC = "arn:aws:lambda:eu-west-1:123456789012:code-signing-config:csc-0123456789abcdef0"


def test_a_record_key_made_here_lets_only_the_function_role_sign(code):
    """Issue 30, item 2: the records are signed with a key whose policy lets only the
    function's role generate MACs; the kms endpoint serves that key's MACs only."""
    template, _, _ = synth(
        code, record_key=True, create_kms_endpoint=True, create_elb_endpoint=True
    )
    (key,) = of_type(template, "AWS::KMS::Key")
    assert (key["KeySpec"], key["KeyUsage"]) == ("HMAC_256", "GENERATE_VERIFY_MAC")
    grants = {s["Sid"]: s for s in key["KeyPolicy"]["Statement"]}
    assert set(grants["OnlyTheFunctionSigns"]["Action"]) == {"kms:GenerateMac", "kms:VerifyMac"}
    assert "Fn::GetAtt" in str(grants["OnlyTheFunctionSigns"]["Principal"])
    assert not any(
        a in ("kms:*", "kms:GenerateMac", "kms:VerifyMac")
        for a in grants["AdministerNotUse"]["Action"]
    )
    (function,) = of_type(template, "AWS::Lambda::Function")
    assert "Fn::GetAtt" in str(function["Environment"]["Variables"]["TGSYNC_RECORD_KEY"])
    endpoints = [
        e
        for e in of_type(template, "AWS::EC2::VPCEndpoint")
        if "kms" in json.dumps(e["ServiceName"])
    ]
    (statement,) = endpoints[0]["PolicyDocument"]["Statement"]
    assert set(statement["Action"]) == {"kms:GenerateMac", "kms:VerifyMac"}


def test_a_record_key_given_is_granted_its_two_operations_only(code):
    template, _, _ = synth(code, record_key=RECORD_KEY)
    (grant,) = [s for s in statements(template) if s.get("Sid") == "SignOwnershipRecords"]
    assert (sorted(grant["Action"]), grant["Resource"]) == (
        ["kms:GenerateMac", "kms:VerifyMac"],
        RECORD_KEY,
    )
    assert of_type(template, "AWS::KMS::Key") == []
    with pytest.raises(ValueError, match="create_kms_endpoint=True serves the record key"):
        synth(code, create_kms_endpoint=True, create_elb_endpoint=True)


def test_code_signing_config_arn_is_the_function_s_code_signing_config(code):
    template, _, _ = synth(code, code_signing_config_arn=CSC)
    (function,) = of_type(template, "AWS::Lambda::Function")
    assert function["CodeSigningConfigArn"] == CSC
    (plain,) = of_type(synth(code)[0], "AWS::Lambda::Function")
    assert "CodeSigningConfigArn" not in plain  # off unless asked for


def assume_statements(template: dict) -> list[dict]:
    return [s for s in statements(template) if s["Action"] == "sts:AssumeRole"]


def test_the_role_may_assume_exactly_the_rds_roles_given_and_none_without(code):
    template, _ = aurora(code, resolve="rds")
    assert assume_statements(template) == []
    other = ROLE.replace("tgsync-rds-read", "billing-read")
    stack = Stack(App(), "Roles")
    vpc, group = network(stack)
    sync = HostnameTargetSync(
        stack,
        "Sync",
        vpc=vpc,
        code=code(),
        hostname=WRITER,
        target_group=group,
        resolve="rds",
        rds_role_arn=ROLE,
    )
    for index, role in enumerate((other, ROLE)):
        more = elbv2.NetworkTargetGroup(
            stack, f"More{index}", vpc=vpc, port=5432, target_type=elbv2.TargetType.IP
        )
        sync.add_mapping(READER, more, rds_role_arn=role)
    template = assertions.Template.from_stack(stack).to_json()
    (assume,) = assume_statements(template)
    assert assume["Resource"] == [ROLE, other]
    assert [m.get("rds_role_arn") for m in mappings_of(template)] == [None, other, ROLE]
    (function,) = of_type(template, "AWS::Lambda::Function")
    assert function["Environment"]["Variables"]["TGSYNC_RDS_ROLE_ARN"] == ROLE


def test_a_mapping_s_rds_role_needs_resolve_rds(code):
    with pytest.raises(ValueError, match="rds_role_arn applies to resolve='rds' only"):
        aurora(code, rds_role_arn=ROLE)


def test_the_sts_endpoint_serves_only_assuming_the_roles_and_needs_one(code):
    template, _, _ = synth(
        code, resolve="rds", rds_role_arn=ROLE, create_sts_endpoint=True, create_rds_endpoint=True
    )
    endpoints = {
        e["ServiceName"]["Fn::Join"][1][-1]
        if isinstance(e["ServiceName"], dict)
        else e["ServiceName"]: e
        for e in of_type(template, "AWS::EC2::VPCEndpoint")
    }
    sts = next(e for name, e in endpoints.items() if name.endswith(".sts"))
    (statement,) = sts["PolicyDocument"]["Statement"]
    assert (statement["Action"], statement["Resource"]) == ("sts:AssumeRole", [ROLE])
    assert list(statement["Condition"]["StringEquals"]) == ["aws:PrincipalAccount"]
    rds = next(e for name, e in endpoints.items() if name.endswith(".rds"))
    reads = next(
        s for s in rds["PolicyDocument"]["Statement"] if s.get("Sid") == "TheRdsRolesReadOnly"
    )
    assert reads["Condition"] == {"ArnEquals": {"aws:PrincipalArn": [ROLE]}}
    assert sorted(reads["Action"]) == sorted(RDS_ACTIONS)
    with pytest.raises(
        Exception, match="create_sts_endpoint=True serves assuming rds_role_arn only"
    ):
        synth(code, resolve="rds", create_sts_endpoint=True)


BUS_ARN = "arn:aws:events:eu-west-1:111122223333:event-bus/tgsync-changes"


def put_statements(template: dict) -> list[dict]:
    return [s for s in statements(template) if str(s["Action"]).startswith("events:")]


def test_the_role_may_put_change_events_on_exactly_the_bus_given_and_none_without(code, five_lines):
    assert put_statements(five_lines[0]) == []
    assert EVENTS_ACTIONS == [f"events:{op}" for op in EVENTS_OPERATIONS] == ["events:PutEvents"]
    (named,) = put_statements(synth(code, event_bus="tgsync-changes")[0])
    assert named["Action"] == "events:PutEvents"
    assert named["Resource"] == {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                ":events:",
                {"Ref": "AWS::Region"},
                ":",
                {"Ref": "AWS::AccountId"},
                ":event-bus/tgsync-changes",
            ],
        ]
    }
    (by_arn,) = put_statements(synth(code, event_bus=BUS_ARN)[0])
    assert by_arn["Resource"] == BUS_ARN
    stack = Stack(App(), "Bus")
    vpc, group = network(stack)
    bus = events.EventBus(stack, "Changes")
    template, _, _ = finish(stack, vpc, group, code, event_bus=bus)
    (own,) = put_statements(template)
    (bus_id,) = [
        k for k, r in template["Resources"].items() if r["Type"] == "AWS::Events::EventBus"
    ]
    assert own["Resource"] == {"Fn::GetAtt": [bus_id, "Arn"]}
    (function,) = of_type(template, "AWS::Lambda::Function")
    assert function["Environment"]["Variables"]["TGSYNC_EVENT_BUS"] == {
        "Fn::GetAtt": [bus_id, "Arn"]
    }


def test_a_token_for_the_bus_is_a_name_or_an_arn_as_the_stack_decides(code):
    stack = Stack(App(), "Token")
    vpc, group = network(stack)
    given = CfnParameter(stack, "ChangeEventBus").value_as_string
    template, _, _ = finish(stack, vpc, group, code, event_bus=given)
    (put,) = put_statements(template)
    condition, arn, named = put["Resource"]["Fn::If"]
    assert arn == {"Ref": "ChangeEventBus"} and "event-bus/" in json.dumps(named)
    assert template["Conditions"][condition] == {
        "Fn::Not": [
            {
                "Fn::Equals": [
                    {"Fn::Select": [0, {"Fn::Split": [":", {"Ref": "ChangeEventBus"}]}]},
                    {"Ref": "ChangeEventBus"},
                ]
            }
        ]
    }


def test_the_events_endpoint_serves_only_putting_on_the_bus_and_needs_one(code):
    template, sync, _ = synth(code, event_bus=BUS_ARN, create_events_endpoint=True)
    (endpoint,) = of_type(template, "AWS::EC2::VPCEndpoint")
    assert ".events" in json.dumps(endpoint["ServiceName"])
    assert endpoint["PrivateDnsEnabled"] is True
    (statement,) = endpoint["PolicyDocument"]["Statement"]
    assert (statement["Action"], statement["Resource"]) == ("events:PutEvents", BUS_ARN)
    assert statement["Condition"] == {
        "StringEquals": {"aws:PrincipalAccount": {"Ref": "AWS::AccountId"}}
    }
    assert sync.events_endpoint is not None
    (function_group,) = function_groups(template)
    (endpoint_group,) = [
        k
        for k, r in template["Resources"].items()
        if r["Type"] == "AWS::EC2::SecurityGroup" and k != function_group
    ]
    https = [r.get("DestinationSecurityGroupId") for r in egress(template) if r["FromPort"] == 443]
    assert {"Fn::GetAtt": [endpoint_group, "GroupId"]} in https
    with pytest.raises(
        ValueError,
        match="create_events_endpoint=True serves putting change events on event_bus only",
    ):
        synth(code, create_events_endpoint=True)
