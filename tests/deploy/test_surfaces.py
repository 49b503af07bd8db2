"""The CloudFormation and SAM templates against tgsync.settings (one table of settings)
and the stack's security and alarm promises, read from the templates themselves.

A small evaluator resolves the intrinsic functions these checks need (Ref, Fn::If,
Fn::Sub, Fn::Select, Fn::Split, Fn::Join, Fn::FindInMap and the conditions) for given
parameter values, so a test sees what CloudFormation would make of a stack."""

from __future__ import annotations

import ipaddress
import itertools
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tgsync import config
from tgsync.changes import DETAIL_TYPE, SOURCE, Change
from tgsync.changes import OPERATIONS as EVENTS_OPERATIONS
from tgsync.events import RDS_CATEGORIES
from tgsync.memory_codec import OWN_TAG_KEYS
from tgsync.parsers import parse_group_prefix
from tgsync.report import MappingReport
from tgsync.settings import SETTINGS, setting
from tgsync.settings_schema import shown
from tgsync.stack_settings import STACK_SETTINGS

REPO = Path(__file__).resolve().parents[2]
MAIN = REPO / "deploy" / "tgsync.yaml"
SAM = REPO / "deploy" / "sam" / "template.yaml"
EXAMPLE = REPO / "deploy" / "example-opensearch-alb.yaml"
ACCOUNT, REGION = "123456789012", "eu-west-1"
GROUP = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/search/0123456789abcdef"

#: Parameters of the stack itself, not tgsync settings. A new parameter must be one
#: or the other, so that none drifts from the table unnoticed.
STACK_ONLY = {
    "MappedTargetGroupArns",
    "DomainArns",
    "EventSourceArns",
    "SubnetIds",
    "SecurityGroupIds",
    "CreateElbEndpoint",
    "CreateRdsEndpoint",
    "CreateStsEndpoint",
    "CreateKmsEndpoint",
    "CreateEventsEndpoint",
    "VpcId",
    "CodeBucket",
    "CodeBucketPrefix",
    "CodeKey",
    "CodeObjectVersion",
    "CodeSigningConfigArn",
    "Architecture",
    "MemorySize",
    "ScheduleRate",
    "LogRetentionDays",
    "LogKmsKeyArn",
    "LogLevel",
    "AlarmEmail",
    "AlarmTopicArn",
    "HealthAlarmFilter",
}
#: What the SAM template drops (sam build packages src/ itself).
NOT_IN_SAM = {"CodeBucket", "CodeBucketPrefix", "CodeKey", "CodeObjectVersion"}
CFN_SETTINGS = [s for s in SETTINGS if s.cfn]


# ----------------------------------------------------------------------------- loading


class _Loader(yaml.SafeLoader):
    """CloudFormation's short forms (!Ref, !Sub, ...) as their long JSON forms."""


def _construct(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "Condition":
        return {"Condition": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_Loader.add_multi_constructor("!", _construct)


def load(path: Path) -> dict[str, Any]:
    """The template as CloudFormation reads it."""
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506


TEMPLATES = {"tgsync.yaml": load(MAIN), "sam/template.yaml": load(SAM)}


@pytest.fixture(params=sorted(TEMPLATES))
def template(request: pytest.FixtureRequest) -> dict[str, Any]:
    return TEMPLATES[request.param]


# ----------------------------------------------------------------------------- evaluating


class Stack:
    """Resolves intrinsic functions for parameter values (the rest default)."""

    def __init__(self, template: dict[str, Any], **given: Any) -> None:
        self.template = template
        self.values: dict[str, Any] = {}
        for name, spec in template["Parameters"].items():
            value = given.get(name, spec.get("Default"))
            if spec["Type"] in ("CommaDelimitedList",) or spec["Type"].startswith("List<"):
                value = value if isinstance(value, list) else str(value or "").split(",")
            self.values[name] = value
        self.values.update(
            {
                "AWS::AccountId": ACCOUNT,
                "AWS::Region": REGION,
                "AWS::Partition": "aws",
                "AWS::StackName": "tgsync",
                "AWS::NoValue": None,
                "AWS::StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/tgsync/"
                "0f0e0d0c-0b0a-0908-0706-050403020100",
            }
        )

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.template["Conditions"][name]))

    def resolve(self, node: Any, scope: dict[str, Any] | None = None) -> Any:
        """``node`` with its intrinsic functions applied; AWS::NoValue dropped."""
        scope = scope or {}
        if isinstance(node, list):
            items = [self.resolve(item, scope) for item in node]
            return [item for item in items if item is not None]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            function = _FUNCTIONS.get(key)
            if function is not None:
                return function(self, arg, scope)
        resolved = {key: self.resolve(value, scope) for key, value in node.items()}
        return {key: value for key, value in resolved.items() if value is not None}

    def sub(self, arg: Any, scope: dict[str, Any]) -> str:
        """Fn::Sub, in its string and its list form."""
        text, extra = (arg, {}) if isinstance(arg, str) else arg
        names = {
            **self.values,
            **scope,
            **{key: self.resolve(value, scope) for key, value in extra.items()},
        }
        return re.sub(r"\$\{([^}!]+)\}", lambda m: str(names.get(m[1], f"<{m[1]}>")), text)


_Function = Callable[[Stack, Any, dict[str, Any]], Any]
_FUNCTIONS: dict[str, _Function] = {
    # A resource's Ref is its physical ID, written <Name> here.
    "Ref": lambda stack, arg, _: stack.values.get(arg, f"<{arg}>"),
    "Condition": lambda stack, arg, _: stack.condition(arg),
    "Fn::If": lambda stack, arg, scope: stack.resolve(
        arg[1] if stack.condition(arg[0]) else arg[2], scope
    ),
    "Fn::Equals": lambda stack, arg, scope: (
        stack.resolve(arg[0], scope) == stack.resolve(arg[1], scope)
    ),
    "Fn::Not": lambda stack, arg, scope: not stack.resolve(arg[0], scope),
    "Fn::And": lambda stack, arg, scope: all(stack.resolve(a, scope) for a in arg),
    "Fn::Or": lambda stack, arg, scope: any(stack.resolve(a, scope) for a in arg),
    "Fn::Sub": lambda stack, arg, scope: stack.sub(arg, scope),
    "Fn::Select": lambda stack, arg, scope: stack.resolve(arg[1], scope)[int(arg[0])],
    "Fn::Split": lambda stack, arg, scope: stack.resolve(arg[1], scope).split(arg[0]),
    "Fn::Join": lambda stack, arg, scope: arg[0].join(
        str(item) for item in stack.resolve(arg[1], scope)
    ),
    "Fn::FindInMap": lambda stack, arg, _: stack.template["Mappings"][arg[0]][arg[1]][arg[2]],
    "Fn::GetAtt": lambda stack, arg, _: f"<{'.'.join(arg)}>",
    "Fn::Cidr": lambda stack, arg, scope: [
        str(block)
        for block in itertools.islice(
            ipaddress.ip_network(stack.resolve(arg[0], scope)).subnets(new_prefix=32 - int(arg[2])),
            int(arg[1]),
        )
    ],
}


def resource(template: dict[str, Any], name: str) -> dict[str, Any]:
    return template["Resources"][name]


# ----------------------------------------------------------------------------- the table


@pytest.mark.parametrize("item", CFN_SETTINGS, ids=lambda s: s.cfn)
def test_each_setting_has_its_parameter_with_the_table_s_default_bounds_and_choices(
    template: dict[str, Any], item: Any
) -> None:
    parameters = template["Parameters"]
    assert item.cfn in parameters, f"{item.cfn} ({item.env}) is not a parameter"
    spec = parameters[item.cfn]
    default = spec.get("Default", "")
    assert str(default) == shown(item), (item.cfn, default, shown(item))
    if spec["Type"] == "Number":
        assert (spec.get("MinValue"), spec.get("MaxValue")) == (item.low, item.high), item.cfn
    if item.choices is not None:
        assert [str(v) for v in spec.get("AllowedValues", [])] == list(item.choices), item.cfn


#: A parameter whose value may name what the stack makes instead (RecordKey=create).
MADE_HERE = {"RecordKey": {"Fn::GetAtt": ["RecordKmsKey", "Arn"]}}


@pytest.mark.parametrize("item", CFN_SETTINGS, ids=lambda s: s.cfn)
def test_the_function_s_environment_maps_each_setting_to_its_parameter(
    template: dict[str, Any], item: Any
) -> None:
    variables = resource(template, "Function")["Properties"]["Environment"]["Variables"]
    assert item.env in variables, f"{item.env} is not in the function's environment"
    value = variables[item.env]
    if "Fn::If" in value:  # Hostname and group give way to Mappings, and back
        refs = [
            branch
            for branch in value["Fn::If"][1:]
            if branch != {"Ref": "AWS::NoValue"} and branch != MADE_HERE.get(item.cfn)
        ]
        assert refs == [{"Ref": item.cfn}], (item.env, value)
    else:
        assert value == {"Ref": item.cfn}, (item.env, value)


def test_every_parameter_is_a_setting_or_listed_as_the_stack_s_own(
    template: dict[str, Any],
) -> None:
    settings = {s.cfn for s in CFN_SETTINGS}
    declared = set(template["Parameters"])
    assert not declared & settings & STACK_ONLY
    assert declared - settings <= STACK_ONLY, sorted(declared - settings - STACK_ONLY)
    assert STACK_ONLY - declared <= NOT_IN_SAM


def test_every_parameter_is_in_one_group_of_the_console_s_interface(
    template: dict[str, Any],
) -> None:
    groups = template["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
    grouped = [name for group in groups for name in group["Parameters"]]
    assert sorted(grouped) == sorted(template["Parameters"])


def _matches(template: dict[str, Any], name: str, value: str) -> bool:
    return re.fullmatch(template["Parameters"][name]["AllowedPattern"], value) is not None


@pytest.mark.parametrize(
    ("value", "allowed"),
    [
        ("", True),
        ("1", True),
        ("443", True),
        ("65535", True),
        ("0", False),
        ("65536", False),
        ("99999", False),
        ("00443", False),
        ("-1", False),
        ("8o", False),
    ],
)
def test_port_takes_empty_or_1_to_65535_exactly(
    template: dict[str, Any], value: str, allowed: bool
) -> None:
    assert _matches(template, "Port", value) is allowed


@pytest.mark.parametrize(
    "value",
    ["", "tgsync-", "a", "A1-b", "x" * 32, "-tgsync", "x" * 33, "tg_sync", "tg sync", "tg*"],
)
def test_discover_prefix_takes_what_the_parser_takes(template: dict[str, Any], value: str) -> None:
    try:
        parse_group_prefix(value)
        parsed = True
    except ValueError:
        parsed = False
    assert _matches(template, "DiscoverPrefix", value) is (parsed or value == "")


@pytest.mark.parametrize(
    ("value", "allowed"),
    [
        ("", True),
        (GROUP, True),
        ("*", False),
        (f"{GROUP[: GROUP.index('/') + 1]}*", False),
        (GROUP.replace("/0123", "/*"), False),
        (GROUP.replace("search", "se?rch"), False),
        (GROUP.replace(REGION, "*"), False),
        (f"{GROUP},{GROUP}", False),
    ],
)
def test_each_mapped_target_group_arn_is_a_whole_arn_without_wildcards(
    template: dict[str, Any], value: str, allowed: bool
) -> None:
    # CloudFormation matches the pattern of a CommaDelimitedList against each entry.
    spec = template["Parameters"]["MappedTargetGroupArns"]
    assert spec["Type"] == "CommaDelimitedList"
    assert _matches(template, "MappedTargetGroupArns", value) is allowed


# ----------------------------------------------------------------------------- IAM


def _statements(stack: Stack, policy: str) -> dict[str, dict[str, Any]]:
    role = stack.resolve(resource(stack.template, "FunctionRole")["Properties"])
    (document,) = [p["PolicyDocument"] for p in role["Policies"] if p["PolicyName"] == policy]
    return {s["Sid"]: s for s in document["Statement"]}


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else action


def _resources(statement: dict[str, Any]) -> list[str]:
    found = statement["Resource"]
    return [found] if isinstance(found, str) else found


@pytest.mark.parametrize("prefix", ["", "tgsync-"])
@pytest.mark.parametrize("owner", ["", "team-a"])
def test_discovery_writes_only_groups_named_with_the_prefix_and_owned_as_configured(
    template: dict[str, Any], prefix: str, owner: str
) -> None:
    stack = Stack(template, Discover="tags", DiscoverPrefix=prefix, Owner=owner)
    statements = _statements(stack, "tgsync-elb")
    owned = (
        {"StringEquals": {"aws:ResourceTag/tgsync:owner": owner}}
        if owner
        else {"Null": {"aws:ResourceTag/tgsync:owner": "true"}}
    )
    our_keys = {"ForAllValues:StringLike": {"aws:TagKeys": list(OWN_TAG_KEYS)}}
    for sid in (
        "ChangeOnlyGroupsThatAskForIt",
        "WriteOnlyOwnMemoryTagsOnThoseGroups",
        "RemoveOnlyOwnMemoryTags",
    ):
        statement = statements[sid]
        assert _resources(statement) == [
            f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/{prefix}*"
        ], sid
        condition = statement["Condition"]
        for operator, keys in owned.items():  # the owner's condition on every write
            for key, value in keys.items():
                assert condition[operator][key] == value, (sid, condition)
    # Letting go happens after the user removed tgsync:hostname: RemoveTags does not
    # ask for it, but it asks for the owner, and allows tgsync's keys only.
    remove = statements["RemoveOnlyOwnMemoryTags"]["Condition"]
    assert remove == {**owned, **our_keys}
    add = statements["WriteOnlyOwnMemoryTagsOnThoseGroups"]["Condition"]
    assert add["ForAllValues:StringLike"] == our_keys["ForAllValues:StringLike"]
    assert add["Null"]["aws:ResourceTag/tgsync:hostname"] == "false"
    assert _actions(statements["RemoveOnlyOwnMemoryTags"]) == ["elasticloadbalancing:RemoveTags"]


def test_discovery_needs_a_prefix_or_an_explicit_star(template: dict[str, Any]) -> None:
    """Issue 30, item 1: with Discover=tags and no DiscoverPrefix, a tag alone brought
    any group of the region in (and the role could write every group)."""
    rule = template["Rules"]["DiscoverNeedsPrefix"]
    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "Discover"}, "tags"]}
    (assertion,) = rule["Assertions"]
    assert assertion["Assert"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "DiscoverPrefix"}, ""]}]}
    assert "DiscoverPrefix" in assertion["AssertDescription"]
    pattern = re.compile(template["Parameters"]["DiscoverPrefix"]["AllowedPattern"])
    assert pattern.match("*") and pattern.match("search-") and not pattern.match("-x")
    assert "required" in template["Parameters"]["DiscoverPrefix"]["Description"]


@pytest.mark.parametrize(
    "given",
    [
        {"Hostname": "h", "TargetGroupArn": GROUP},
        {"Mappings": "[]", "MappedTargetGroupArns": [GROUP, GROUP]},
    ],
)
def test_on_kept_groups_tags_are_limited_to_tgsync_s_own_keys(
    template: dict[str, Any], given: dict[str, Any]
) -> None:
    statements = _statements(Stack(template, **given), "tgsync-elb")
    tagging = [
        s
        for s in statements.values()
        if {"elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags"} & set(_actions(s))
    ]
    assert tagging, statements
    for statement in tagging:
        assert statement["Condition"] == {
            "ForAllValues:StringLike": {"aws:TagKeys": list(OWN_TAG_KEYS)}
        }, statement
        assert set(_resources(statement)) == {GROUP}


def test_one_list_of_tgsync_s_tag_keys_serves_every_tag_statement() -> None:
    text = MAIN.read_text(encoding="utf-8")
    assert load(MAIN)["Mappings"]["TgsyncTags"]["Keys"]["Own"] == list(OWN_TAG_KEYS)
    for key in OWN_TAG_KEYS:  # written once, found in the map elsewhere
        assert text.count(f'"{key}"') == 1, key


def test_the_role_has_no_managed_policy_and_logs_only_to_its_own_group(
    template: dict[str, Any],
) -> None:
    role = resource(template, "FunctionRole")["Properties"]
    assert "ManagedPolicyArns" not in role
    stack = Stack(
        template,
        Hostname="h",
        TargetGroupArn=GROUP,
        SubnetIds=["subnet-0a", "subnet-0b"],
        SecurityGroupIds=["sg-0c"],
    )
    statements = _statements(stack, "tgsync-runtime")
    logs = statements["WriteOwnLogGroup"]
    assert sorted(_actions(logs)) == ["logs:CreateLogStream", "logs:PutLogEvents"]
    group = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:<LogGroup>"
    assert _resources(logs) == [group, f"{group}:log-stream:*"]
    actions = {a: s for s in statements.values() for a in _actions(s)}
    assert set(actions) == {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "ec2:CreateNetworkInterface",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeSubnets",
        "ec2:DeleteNetworkInterface",
        "ec2:AssignPrivateIpAddresses",
        "ec2:UnassignPrivateIpAddresses",
    }
    # Only the Describe calls stay on "*" (EC2 scopes them to no resource).
    on_everything = {a for a, s in actions.items() if "*" in _resources(s)}
    assert on_everything == {"ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"}
    create = _resources(actions["ec2:CreateNetworkInterface"])
    assert create == [
        f"arn:aws:ec2:{REGION}:{ACCOUNT}:network-interface/*",
        "arn:*:ec2:*:*:subnet/subnet-0a",
        "arn:*:ec2:*:*:subnet/subnet-0b",
        "arn:*:ec2:*:*:security-group/sg-0c",
    ]
    for action in (
        "ec2:DeleteNetworkInterface",
        "ec2:AssignPrivateIpAddresses",
        "ec2:UnassignPrivateIpAddresses",
    ):
        assert _resources(actions[action]) == [
            f"arn:aws:ec2:{REGION}:{ACCOUNT}:network-interface/*"
        ], action
        # ... and only the interfaces in the stack's own subnets.
        assert actions[action]["Condition"] == {
            "ArnLike": {
                "ec2:Subnet": ["arn:*:ec2:*:*:subnet/subnet-0a", "arn:*:ec2:*:*:subnet/subnet-0b"]
            }
        }, action


def test_cloudwatch_may_use_the_alarm_key_only_for_this_account_s_alarms(
    template: dict[str, Any],
) -> None:
    stack = Stack(template, AlarmEmail="ops@example.com")
    policy = stack.resolve(resource(template, "AlarmKey")["Properties"])["KeyPolicy"]
    (cloudwatch,) = [
        s for s in policy["Statement"] if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert cloudwatch["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
        "ArnLike": {"aws:SourceArn": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:*"},
    }


def test_the_scheduler_role_trusts_only_this_stack_s_schedule_group(
    template: dict[str, Any],
) -> None:
    # Scheduler's confused-deputy guidance: aws:SourceArn is the schedule group's ARN.
    stack = Stack(template)
    group = stack.resolve(resource(template, "ScheduleGroup")["Properties"])["Name"]
    schedule = resource(template, "Schedule")["Properties"]
    trust = stack.resolve(resource(template, "SchedulerRole")["Properties"])[
        "AssumeRolePolicyDocument"
    ]
    (statement,) = trust["Statement"]
    assert len(group) <= 64
    assert schedule["GroupName"] == {"Ref": "ScheduleGroup"}  # its group holds it alone
    assert statement["Condition"]["StringEquals"] == {
        "aws:SourceAccount": ACCOUNT,
        "aws:SourceArn": f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule-group/{group}",
    }


def test_the_cloudtrail_rule_matches_only_successful_calls(template: dict[str, Any]) -> None:
    detail = resource(template, "DomainApiCallRule")["Properties"]["EventPattern"]["detail"]
    assert detail["errorCode"] == [{"exists": False}]


def test_the_dead_letter_queue_refuses_plain_http(template: dict[str, Any]) -> None:
    document = resource(template, "EventDeadLetterQueuePolicy")["Properties"]["PolicyDocument"]
    (deny,) = [s for s in document["Statement"] if s["Effect"] == "Deny"]
    assert deny["Principal"] == "*"
    assert deny["Action"] == "sqs:*"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_the_elb_endpoint_serves_only_this_account(template: dict[str, Any]) -> None:
    stack = Stack(template)
    document = stack.resolve(resource(template, "ElbEndpoint")["Properties"]["PolicyDocument"])
    (statement,) = document["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Condition"] == {
        "StringEquals": {"aws:PrincipalAccount": ACCOUNT, "aws:ResourceAccount": ACCOUNT}
    }


# ----------------------------------------------------------------------------- alarms


ALARMS = {"NoHealthyTargetAlarm": "AWS/ApplicationELB", "NoHealthyTargetNlbAlarm": "AWS/NetworkELB"}


def _query(namespace: str, where: str) -> str:
    # A Metrics Insights query, compared as text and never run (S608 is about SQL).
    head = f'SELECT MIN(HealthyHostCount) FROM SCHEMA("{namespace}", LoadBalancer, TargetGroup)'  # noqa: S608
    return f"{head} {where}GROUP BY LoadBalancer, TargetGroup ORDER BY MIN() ASC"


@pytest.mark.parametrize(
    ("given", "where"),
    [
        (
            {"Hostname": "h", "TargetGroupArn": GROUP},
            "WHERE TargetGroup = 'targetgroup/search/0123456789abcdef' ",
        ),
        (
            {"Hostname": "h", "TargetGroupArn": GROUP, "HealthAlarmFilter": "LoadBalancer = 'x'"},
            "WHERE TargetGroup = 'targetgroup/search/0123456789abcdef' ",
        ),
        ({"Mappings": "[]", "MappedTargetGroupArns": [GROUP]}, ""),
        (
            {
                "Mappings": "[]",
                "MappedTargetGroupArns": [GROUP],
                "HealthAlarmFilter": "LoadBalancer = 'app/x/123'",
            },
            "WHERE LoadBalancer = 'app/x/123' ",
        ),
        (
            {"Discover": "tags", "HealthAlarmFilter": "tag.\"tgsync:owner\" = 'team-a'"},
            "WHERE tag.\"tgsync:owner\" = 'team-a' ",
        ),
        ({"Discover": "tags", "Hostname": "h", "TargetGroupArn": GROUP}, ""),
    ],
)
def test_the_no_healthy_target_alarms_read_elb_s_own_metric_per_group(
    template: dict[str, Any], given: dict[str, Any], where: str
) -> None:
    stack = Stack(template, **given)
    for name, namespace in ALARMS.items():
        alarm = stack.resolve(resource(template, name)["Properties"])
        assert "MetricName" not in alarm and "Namespace" not in alarm
        (query,) = alarm["Metrics"]
        assert query["ReturnData"] is True
        assert query["Period"] == 60
        assert " ".join(query["Expression"].split()) == " ".join(_query(namespace, where).split())
        assert (
            alarm["EvaluationPeriods"],
            alarm["DatapointsToAlarm"],
            alarm["Threshold"],
            alarm["ComparisonOperator"],
            alarm["TreatMissingData"],
        ) == (3, 3, 1, "LessThanThreshold", "notBreaching")


def test_the_dashboard_keeps_tgsync_s_reads_and_shows_elb_s_count(template: dict[str, Any]) -> None:
    for given in (
        {"Hostname": "h", "TargetGroupArn": GROUP},
        {"Discover": "tags", "HealthAlarmFilter": "tag.\"a\" = 'b'"},
    ):
        stack = Stack(template, **given)
        body = json.loads(
            stack.resolve(resource(template, "Dashboard")["Properties"]["DashboardBody"])
        )
        lines = [line for widget in body["widgets"] for line in widget["properties"]["metrics"]]
        labels = [
            item.get("label", "") for line in lines for item in line if isinstance(item, dict)
        ]
        assert "MinHealthyTargets (from tgsync's reads)" in labels
        assert [".", "ChangeEventsFailed", ".", "."] in lines
        expressions = [
            item["expression"]
            for line in lines
            for item in line
            if isinstance(item, dict) and "expression" in item
        ]
        assert len(expressions) == 1
        assert 'SCHEMA("AWS/ApplicationELB", LoadBalancer, TargetGroup)' in expressions[0]


# ----------------------------------------------------------------------------- the example


def test_the_example_passes_the_new_settings_to_the_nested_stack() -> None:
    example = load(EXAMPLE)
    passed = resource(example, "Sync")["Properties"]["Parameters"]
    for name in ("DiscoverPrefix", "OutsideVpc"):
        assert passed[name] == {"Ref": name}
        assert example["Parameters"][name]["Default"] == load(MAIN)["Parameters"][name]["Default"]
    assert set(passed) <= set(load(MAIN)["Parameters"])


# ----------------------------------------------------------------------------- event sources


DOMAIN_ARN = f"arn:aws:es:{REGION}:{ACCOUNT}:domain/logs"
CLUSTER_ARN = f"arn:aws:rds:{REGION}:{ACCOUNT}:cluster:orders"
INSTANCE_ARN = f"arn:aws:rds:{REGION}:{ACCOUNT}:db:orders-1"
WRITER_ENDPOINT = "orders.cluster-c1a2b3c4d5e6.eu-west-1.rds.amazonaws.com"
READER_ENDPOINT = "orders.cluster-ro-c1a2b3c4d5e6.eu-west-1.rds.amazonaws.com"
EVENT_RULES = ("DomainEventRule", "DomainApiCallRule", "RdsEventRule")


def _present(stack: Stack, name: str) -> bool:
    condition = resource(stack.template, name).get("Condition")
    return condition is None or stack.condition(condition)


@pytest.mark.parametrize(
    ("value", "allowed"),
    [
        ("", True),
        (DOMAIN_ARN, True),
        (CLUSTER_ARN, True),
        (INSTANCE_ARN, True),
        (CLUSTER_ARN.replace("arn:aws:", "arn:aws-cn:"), True),
        (CLUSTER_ARN.replace(":cluster:", ":cluster-endpoint:"), False),
        (CLUSTER_ARN.replace("orders", "*"), False),
        (CLUSTER_ARN + "*", False),
        (CLUSTER_ARN.replace(ACCOUNT, "*"), False),
        (f"{CLUSTER_ARN},{INSTANCE_ARN}", False),
        ("orders", False),
        (GROUP, False),
    ],
)
def test_each_event_source_arn_is_a_whole_domain_cluster_or_instance_arn(
    template: dict[str, Any], value: str, allowed: bool
) -> None:
    assert template["Parameters"]["EventSourceArns"]["Type"] == "CommaDelimitedList"
    assert _matches(template, "EventSourceArns", value) is allowed


@pytest.mark.parametrize(
    ("given", "rules"),
    [
        ({}, set()),
        ({"DomainArns": [DOMAIN_ARN]}, {"DomainEventRule", "DomainApiCallRule"}),
        ({"EventSourceArns": [DOMAIN_ARN]}, {"DomainEventRule", "DomainApiCallRule"}),
        ({"EventSourceArns": [CLUSTER_ARN]}, {"RdsEventRule"}),
        ({"EventSourceArns": [INSTANCE_ARN]}, {"RdsEventRule"}),
        ({"EventSourceArns": [CLUSTER_ARN, DOMAIN_ARN]}, set(EVENT_RULES)),
        ({"DomainArns": [DOMAIN_ARN], "EventSourceArns": [CLUSTER_ARN]}, set(EVENT_RULES)),
    ],
)
def test_event_source_arns_make_the_rules_their_kinds_need(
    template: dict[str, Any], given: dict[str, Any], rules: set[str]
) -> None:
    stack = Stack(template, **given)
    assert {name for name in EVENT_RULES if _present(stack, name)} == rules
    for name in ("EventDeadLetterQueue", "EventDeadLetterQueuePolicy", "EventDeadLettersAlarm"):
        assert _present(stack, name) is bool(rules), name
    if rules:  # the dead-letter queue takes exactly the rules that exist
        policy = stack.resolve(resource(template, "EventDeadLetterQueuePolicy")["Properties"])
        (allow,) = [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
        assert allow["Condition"]["ArnEquals"]["aws:SourceArn"] == [
            f"<{name}.Arn>" for name in EVENT_RULES if name in rules
        ]
    for name in rules:  # each rule has its permission
        permission = name.replace("Rule", "Permission")
        assert _present(stack, permission), permission


def test_the_rds_rule_matches_the_given_resources_and_the_categories_that_move_members(
    template: dict[str, Any],
) -> None:
    stack = Stack(template, EventSourceArns=[CLUSTER_ARN, INSTANCE_ARN, DOMAIN_ARN])
    pattern = stack.resolve(resource(template, "RdsEventRule")["Properties"]["EventPattern"])
    assert pattern["source"] == ["aws.rds"]
    assert pattern["detail-type"] == ["RDS DB Cluster Event", "RDS DB Instance Event"]
    assert set(pattern["detail"]["EventCategories"]) == set(RDS_CATEGORIES)
    assert pattern["detail"]["SourceArn"] == [CLUSTER_ARN, INSTANCE_ARN, DOMAIN_ARN]


def test_the_opensearch_rules_take_domains_from_both_parameters(template: dict[str, Any]) -> None:
    other = DOMAIN_ARN.replace("logs", "metrics")
    stack = Stack(template, DomainArns=[DOMAIN_ARN], EventSourceArns=[other, CLUSTER_ARN])
    events = stack.resolve(resource(template, "DomainEventRule")["Properties"]["EventPattern"])
    assert events["resources"] == [DOMAIN_ARN, other, CLUSTER_ARN]
    calls = stack.resolve(resource(template, "DomainApiCallRule")["Properties"]["EventPattern"])
    names = calls["detail"]["requestParameters"]["domainName"]
    # Every domain's name; the rest has a colon, which no domain name has.
    assert [n for n in names if ":" not in n] == ["logs", "metrics"]


@pytest.mark.parametrize("given", [{"DomainArns": [DOMAIN_ARN]}, {"EventSourceArns": [DOMAIN_ARN]}])
def test_one_parameter_alone_leaves_no_empty_entry_in_the_patterns(
    template: dict[str, Any], given: dict[str, Any]
) -> None:
    stack = Stack(template, **given)
    events = stack.resolve(resource(template, "DomainEventRule")["Properties"]["EventPattern"])
    assert events["resources"] == [DOMAIN_ARN]
    calls = stack.resolve(resource(template, "DomainApiCallRule")["Properties"]["EventPattern"])
    assert calls["detail"]["requestParameters"]["domainName"] == [
        DOMAIN_ARN.rsplit("/", 1)[0],
        "logs",
    ]


RDS_ACTIONS = {
    "rds:DescribeDBClusters",
    "rds:DescribeDBInstances",
    "rds:DescribeDBClusterEndpoints",
}


@pytest.mark.parametrize(
    ("given", "may"),
    [
        ({"Hostname": "h", "TargetGroupArn": GROUP}, False),
        ({"Hostname": "h", "TargetGroupArn": GROUP, "EventSourceArns": [CLUSTER_ARN]}, False),
        ({"Hostname": "h", "TargetGroupArn": GROUP, "Resolve": "rds"}, True),
        ({"Discover": "tags"}, True),
        (
            {
                "Mappings": json.dumps(
                    [
                        {
                            "hostname": "orders.cluster-x.eu-west-1.rds.amazonaws.com",
                            "target_group_arn": GROUP,
                        }
                    ]
                ),
                "MappedTargetGroupArns": [GROUP],
            },
            False,
        ),
        (
            {
                "Mappings": json.dumps(
                    [{"hostname": "h", "target_group_arn": GROUP, "resolve": "rds"}]
                ),
                "MappedTargetGroupArns": [GROUP],
            },
            True,
        ),
        (
            {
                "Mappings": '[{"hostname":"h","target_group_arn":"x","resolve":"rds"}]',
                "MappedTargetGroupArns": [GROUP],
            },
            True,
        ),
        # The function refuses any other spelling (see the test below): no reads for it.
        (
            {
                "Mappings": '[{"hostname":"h","target_group_arn":"x","resolve":"RDS"}]',
                "MappedTargetGroupArns": [GROUP],
            },
            False,
        ),
    ],
)
def test_the_rds_reads_are_granted_only_when_resolve_rds_is_possible(
    template: dict[str, Any], given: dict[str, Any], may: bool
) -> None:
    stack = Stack(template, **given)
    statements = _statements(stack, "tgsync-elb")
    reads = {sid: s for sid, s in statements.items() if set(_actions(s)) & RDS_ACTIONS}
    assert set(reads) == ({"ReadTheClusters", "ReadMembersAndCustomEndpoints"} if may else set())
    assert {a for s in reads.values() for a in _actions(s)} == (RDS_ACTIONS if may else set())
    assert all(s["Effect"] == "Allow" and "*" not in _resources(s) for s in reads.values())
    runtime = _statements(stack, "tgsync-runtime")
    assert not {a for s in runtime.values() for a in _actions(s)} & RDS_ACTIONS


@pytest.mark.parametrize(
    "sources", [[], [INSTANCE_ARN, DOMAIN_ARN], [CLUSTER_ARN, DOMAIN_ARN], [CLUSTER_ARN]]
)
def test_the_rds_reads_cover_every_cluster_whatever_event_source_arns_names(
    template: dict[str, Any], sources: list[str]
) -> None:
    """EventSourceArns routes events; it must not narrow the reads: naming one cluster
    there would deny a resolve=rds mapping of another (every cycle of it denied)."""
    stack = Stack(
        template, Hostname="h", TargetGroupArn=GROUP, Resolve="rds", EventSourceArns=sources
    )
    statements = _statements(stack, "tgsync-elb")
    head = f"arn:aws:rds:{REGION}:{ACCOUNT}"
    assert _resources(statements["ReadTheClusters"]) == [f"{head}:cluster:*"]
    # The members are read with a db-cluster-id filter and a custom endpoint by its
    # name: RDS authorizes those on every instance and cluster of the account/region.
    assert _resources(statements["ReadMembersAndCustomEndpoints"]) == [
        f"{head}:db:*",
        f"{head}:cluster:*",
        f"{head}:cluster-endpoint:*",
    ]


def test_routing_one_cluster_s_events_does_not_deny_reading_another_cluster(
    template: dict[str, Any],
) -> None:
    """Two resolve=rds mappings of two clusters, the events of one routed: the role
    reads both clusters (review 2 of issue 21)."""
    head = f"arn:aws:rds:{REGION}:{ACCOUNT}"
    billing = GROUP.replace("search", "billing")
    text = json.dumps(
        [
            {"hostname": WRITER_ENDPOINT, "target_group_arn": GROUP, "resolve": "rds"},
            {
                "hostname": WRITER_ENDPOINT.replace("orders", "billing"),
                "target_group_arn": billing,
                "resolve": "rds",
            },
        ]
    )
    stack = Stack(
        template,
        Mappings=text,
        MappedTargetGroupArns=[GROUP, billing],
        EventSourceArns=[f"{head}:cluster:orders"],
    )
    allowed = _resources(_statements(stack, "tgsync-elb")["ReadTheClusters"])
    assert any(a in (f"{head}:cluster:billing", f"{head}:cluster:*") for a in allowed), allowed


@pytest.mark.parametrize("spelling", ["Rds", "rDs", "RDS", " rds", "rds "])
def test_a_mapping_resolves_rds_only_as_the_literal_the_stack_sees(spelling: str) -> None:
    """The stack grants the RDS reads when Mappings holds the literal ``"rds"``; the
    function must then refuse every other spelling of it, or a mapping would resolve rds
    on a role that cannot read RDS (each cycle of it denied)."""
    text = json.dumps(
        [{"hostname": WRITER_ENDPOINT, "target_group_arn": GROUP, "resolve": spelling}]
    )
    loaded = config.load({config.MAPPINGS: text})
    assert loaded.mappings == ()
    ((problem,),) = [entry.problems for entry in loaded.invalid]
    assert ".resolve" in problem
    with pytest.raises(config.ConfigError, match="TGSYNC_RESOLVE"):
        config.load(
            {
                config.HOSTNAME: WRITER_ENDPOINT,
                config.TARGET_GROUP_ARN: GROUP,
                setting("resolve").env: spelling,
            }
        )


def test_the_literal_rds_in_mappings_is_read_as_rds_and_grants_the_reads(
    template: dict[str, Any],
) -> None:
    text = json.dumps([{"hostname": WRITER_ENDPOINT, "target_group_arn": GROUP, "resolve": "rds"}])
    ((mapping,),) = [config.load({config.MAPPINGS: text}).mappings]
    assert mapping.resolve == "rds"
    statements = _statements(
        Stack(template, Mappings=text, MappedTargetGroupArns=[GROUP]), "tgsync-elb"
    )
    assert {"ReadTheClusters", "ReadMembersAndCustomEndpoints"} <= set(statements)


def _interface_endpoint(stack: Stack, name: str, service: str) -> list[dict[str, Any]]:
    """The ``name`` endpoint's policy statements, once its service, private DNS and
    security group (443 from the function's first group only) are checked."""
    assert _present(stack, name) and _present(stack, f"{name}SecurityGroup")
    endpoint = stack.resolve(resource(stack.template, name)["Properties"])
    assert endpoint["ServiceName"] == f"com.amazonaws.{REGION}.{service}"
    assert endpoint["PrivateDnsEnabled"] is True
    group = stack.resolve(resource(stack.template, f"{name}SecurityGroup")["Properties"])
    (ingress,) = group["SecurityGroupIngress"]
    assert (ingress["FromPort"], ingress["ToPort"], ingress["SourceSecurityGroupId"]) == (
        443,
        443,
        "sg-0c",
    )
    statements: list[dict[str, Any]] = endpoint["PolicyDocument"]["Statement"]
    return statements


def test_the_rds_endpoint_serves_only_this_account_from_the_function_only(
    template: dict[str, Any],
) -> None:
    assert not _present(Stack(template), "RdsEndpoint")
    stack = Stack(template, CreateRdsEndpoint="true", VpcId="vpc-0a", SecurityGroupIds=["sg-0c"])
    (statement,) = _interface_endpoint(stack, "RdsEndpoint", "rds")
    assert statement["Condition"] == {
        "StringEquals": {"aws:PrincipalAccount": ACCOUNT, "aws:ResourceAccount": ACCOUNT}
    }


ROLE = "arn:aws:iam::111122223333:role/tgsync-rds-read"


@pytest.mark.parametrize("role", ["", ROLE])
def test_the_function_may_assume_exactly_the_rds_role_and_only_when_one_is_given(
    template: dict[str, Any], role: str
) -> None:
    stack = Stack(
        template, Hostname=WRITER_ENDPOINT, TargetGroupArn=GROUP, Resolve="rds", RdsRoleArn=role
    )
    assumes = {
        sid: s
        for name in ("tgsync-elb", "tgsync-runtime")
        for sid, s in _statements(stack, name).items()
        if "sts:AssumeRole" in _actions(s)
    }
    if not role:
        assert assumes == {}
        return
    assert list(assumes) == ["AssumeTheRdsReadRole"]
    assert _actions(assumes["AssumeTheRdsReadRole"]) == ["sts:AssumeRole"]
    assert _resources(assumes["AssumeTheRdsReadRole"]) == [ROLE]
    variables = stack.resolve(resource(template, "Function")["Properties"])["Environment"][
        "Variables"
    ]
    assert variables["TGSYNC_RDS_ROLE_ARN"] == ROLE


@pytest.mark.parametrize(
    ("value", "allowed"),
    [
        ("", True),
        (ROLE, True),
        (ROLE.replace("arn:aws:", "arn:aws-us-gov:"), True),
        ("arn:aws:iam::111122223333:role/path/to/tgsync", True),
        ("arn:aws:iam::111122223333:role/*", False),
        (ROLE + "*", False),
        ("arn:aws:iam::*:role/tgsync", False),
        ("arn:aws:iam::111122223333:user/tgsync", False),
        ("arn:aws:sts::111122223333:assumed-role/tgsync/s", False),
        ("tgsync-rds-read", False),
    ],
)
def test_rds_role_arn_takes_a_whole_role_arn_as_the_function_does(
    template: dict[str, Any], value: str, allowed: bool
) -> None:
    pattern = template["Parameters"]["RdsRoleArn"]["AllowedPattern"]
    assert bool(re.match(pattern, value)) is allowed
    if value and allowed:
        assert setting("rds_role_arn").parse(value) == value
    elif value:
        with pytest.raises(ValueError, match="is not an IAM role ARN"):
            setting("rds_role_arn").parse(value)


def test_the_sts_endpoint_serves_only_assuming_the_rds_role_from_the_function_only(
    template: dict[str, Any],
) -> None:
    assert not _present(Stack(template, CreateStsEndpoint="true"), "StsEndpoint")  # no role
    stack = Stack(
        template,
        CreateStsEndpoint="true",
        VpcId="vpc-0a",
        RdsRoleArn=ROLE,
        SecurityGroupIds=["sg-0c"],
    )
    (statement,) = _interface_endpoint(stack, "StsEndpoint", "sts")
    assert (statement["Action"], statement["Resource"]) == ("sts:AssumeRole", ROLE)
    assert statement["Condition"] == {"StringEquals": {"aws:PrincipalAccount": ACCOUNT}}
    rule = template["Rules"]["StsEndpointNeedsTheRole"]
    assert stack.resolve(rule["Assertions"][0]["Assert"]) is True
    assert (
        Stack(template, CreateStsEndpoint="true").resolve(rule["Assertions"][0]["Assert"]) is False
    )


def test_the_rds_endpoint_admits_the_rds_role_s_reads_and_nothing_else_of_it(
    template: dict[str, Any],
) -> None:
    stack = Stack(template, CreateRdsEndpoint="true", VpcId="vpc-0a", RdsRoleArn=ROLE)
    statements = stack.resolve(resource(template, "RdsEndpoint")["Properties"])["PolicyDocument"][
        "Statement"
    ]
    role = next(s for s in statements if s.get("Sid") == "TheRdsRoleReadsOnly")
    assert set(role["Action"]) == RDS_ACTIONS
    assert role["Condition"] == {"ArnEquals": {"aws:PrincipalArn": ROLE}}


BUS = "tgsync-changes"
BUS_ARN = f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{BUS}"
OTHER_BUS = "arn:aws:events:us-east-1:111122223333:event-bus/central"


@pytest.mark.parametrize(
    ("bus", "arn"),
    [
        ("", None),
        (BUS, BUS_ARN),
        ("default", BUS_ARN.replace(BUS, "default")),
        (BUS_ARN, BUS_ARN),
        (OTHER_BUS, OTHER_BUS),
    ],
)
def test_the_role_may_put_change_events_on_exactly_the_bus_given_and_none_without(
    template: dict[str, Any], bus: str, arn: str | None
) -> None:
    stack = Stack(template, Hostname="h", TargetGroupArn=GROUP, ChangeEventBus=bus)
    puts = {
        sid: s
        for name in ("tgsync-elb", "tgsync-runtime")
        for sid, s in _statements(stack, name).items()
        if any(a.startswith("events:") for a in _actions(s))
    }
    variables = stack.resolve(resource(template, "Function")["Properties"])["Environment"][
        "Variables"
    ]
    assert variables["TGSYNC_EVENT_BUS"] == bus
    if arn is None:
        assert puts == {}
        return
    assert list(puts) == ["PutChangeEventsOnTheBusOnly"]
    (statement,) = puts.values()
    # The calls tgsync.changes makes, and no other; on that bus alone.
    assert _actions(statement) == [f"events:{op}" for op in EVENTS_OPERATIONS]
    assert _resources(statement) == [arn]
    assert (
        config.load(
            {
                config.HOSTNAME: "h",
                config.TARGET_GROUP_ARN: GROUP,
                config.EVENT_BUS: bus,
                "AWS_REGION": REGION,
            }
        ).event_bus
        is not None
    )


@pytest.mark.parametrize(
    "value",
    [
        "",
        BUS,
        "default",
        "a/b.c-d_e",
        BUS_ARN,
        OTHER_BUS,
        BUS_ARN.replace("arn:aws:", "arn:aws-cn:"),
        "*",
        "tgsync-*",
        f"{BUS_ARN[: -len(BUS)]}*",
        BUS_ARN.replace(ACCOUNT, "*"),
        "tgsync changes",
        "x" * 257,
        f"arn:aws:events:{REGION}:{ACCOUNT}:rule/x",
        f"{BUS},{BUS}",
    ],
)
def test_change_event_bus_takes_what_the_function_takes(
    template: dict[str, Any], value: str
) -> None:
    try:
        setting("event_bus").parse(value)
        parsed = True
    except ValueError:
        parsed = False
    assert _matches(template, "ChangeEventBus", value) is (parsed or value == "")


def test_the_events_endpoint_serves_only_putting_on_the_bus_from_the_function_only(
    template: dict[str, Any],
) -> None:
    assert not _present(Stack(template, CreateEventsEndpoint="true"), "EventsEndpoint")
    stack = Stack(
        template,
        CreateEventsEndpoint="true",
        VpcId="vpc-0a",
        ChangeEventBus=BUS,
        SecurityGroupIds=["sg-0c"],
    )
    (statement,) = _interface_endpoint(stack, "EventsEndpoint", "events")
    assert (statement["Action"], statement["Resource"]) == ("events:PutEvents", BUS_ARN)
    assert statement["Condition"] == {"StringEquals": {"aws:PrincipalAccount": ACCOUNT}}
    rule = template["Rules"]["EventsEndpointNeedsTheBus"]
    assert stack.resolve(rule["Assertions"][0]["Assert"]) is True
    assert (
        Stack(template, CreateEventsEndpoint="true").resolve(rule["Assertions"][0]["Assert"])
        is False
    )
    needs_vpc = template["Rules"]["EndpointNeedsVpc"]
    assert Stack(template, CreateEventsEndpoint="true").resolve(needs_vpc["RuleCondition"])


CHANGES = REPO / "deploy" / "example-change-events.yaml"


@pytest.mark.parametrize(("dry_runs", "detail"), [("false", {"dry_run": [False]}), ("true", None)])
def test_the_change_events_example_s_rule_matches_tgsync_s_events_only(
    dry_runs: str, detail: dict[str, Any] | None
) -> None:
    """The rule of docs/change-events.md: tgsync's source and detail-type (the pattern
    tests/integration/test_change_events.py routes with), dry runs left out unless asked."""
    example = load(CHANGES)
    stack = Stack(example, DryRuns=dry_runs, SlackWorkspaceId="T0", SlackChannelId="C0")
    rule = stack.resolve(resource(example, "ChangeRule")["Properties"])
    assert rule["EventPattern"] == {
        "source": [SOURCE],
        "detail-type": [DETAIL_TYPE],
        **({"detail": detail} if detail else {}),
    }
    topic, slack = rule["Targets"]
    assert "InputTransformer" not in topic  # the event as it is
    paths = slack["InputTransformer"]["InputPathsMap"].values()
    fields = set(
        Change("REGISTER", "10.0.1.5", 443, "why", MappingReport("l", "h", GROUP)).detail()
    )
    assert {path.removeprefix("$.detail.") for path in paths} <= fields
    template = json.loads(
        slack["InputTransformer"]["InputTemplate"].replace("<", "").replace(">", "")
    )
    assert (template["version"], template["source"]) == ("1.0", "custom")  # Chatbot's form
    bus = example["Parameters"]["BusName"]["Default"]
    assert setting("event_bus").parse(bus) == bus and _matches(load(MAIN), "ChangeEventBus", bus)


AURORA = REPO / "deploy" / "example-aurora-nlb.yaml"


@pytest.mark.parametrize("writer_resolve", ["rds", "dns"])
def test_the_aurora_example_s_mappings_are_what_the_function_reads(writer_resolve: str) -> None:
    example = load(AURORA)
    passed = resource(example, "Sync")["Properties"]["Parameters"]
    assert set(passed) <= set(load(MAIN)["Parameters"])
    stack = Stack(
        example,
        WriterEndpoint=WRITER_ENDPOINT,
        ReaderEndpoint=READER_ENDPOINT,
        WriterResolve=writer_resolve,
    )
    writer = GROUP.replace("search", "writer")
    reader = GROUP.replace("search", "reader")
    text = (
        stack.resolve(passed["Mappings"])
        .replace("<WriterGroup>", writer)
        .replace("<ReaderGroup>", reader)
    )
    loaded = config.load({config.MAPPINGS: text})
    assert loaded.invalid == ()
    by_host = {m.hostname: m for m in loaded.mappings}
    assert (
        by_host[WRITER_ENDPOINT].stale_after,
        by_host[WRITER_ENDPOINT].resolve,
        by_host[WRITER_ENDPOINT].target_group_arn,
    ) == (0, writer_resolve, writer)
    assert (by_host[READER_ENDPOINT].resolve, by_host[READER_ENDPOINT].target_group_arn) == (
        "rds",
        reader,
    )
    # The nested stack sees resolve=rds in the mappings: its role reads the cluster.
    nested = Stack(
        load(MAIN),
        Mappings=text,
        MappedTargetGroupArns=[writer, reader],
        EventSourceArns=[f"arn:aws:rds:{REGION}:{ACCOUNT}:cluster:orders"],
    )
    assert nested.condition("MayResolveRds") and nested.condition("HasRdsSources")
    assert passed["EventSourceArns"] == {"Ref": "ClusterArn"}


@pytest.mark.parametrize(
    ("name", "value", "allowed"),
    [
        ("WriterEndpoint", WRITER_ENDPOINT, True),
        ("WriterEndpoint", READER_ENDPOINT, False),
        ("ReaderEndpoint", READER_ENDPOINT, True),
        ("ReaderEndpoint", WRITER_ENDPOINT, False),
        ("ClusterArn", f"arn:aws:rds:{REGION}:{ACCOUNT}:cluster:orders", True),
        ("ClusterArn", f"arn:aws:rds:{REGION}:{ACCOUNT}:db:orders-1", False),
    ],
)
def test_the_aurora_example_takes_the_right_endpoint_in_each_parameter(
    name: str, value: str, allowed: bool
) -> None:
    assert _matches(load(AURORA), name, value) is allowed


@pytest.mark.parametrize("path", [AURORA, EXAMPLE])
def test_the_examples_read_only_outputs_the_nested_stack_has(path: Path) -> None:
    """Each ``Sync.Outputs.NAME`` an example reads is an output of the function stack;
    the Aurora example gives the log group to tail."""
    outputs = load(path)["Outputs"]
    read = {
        value["Fn::GetAtt"][1].split(".", 1)[1]
        for value in (output["Value"] for output in outputs.values())
        if isinstance(value, dict) and "Fn::GetAtt" in value and value["Fn::GetAtt"][0] == "Sync"
    }
    assert read and read <= set(load(MAIN)["Outputs"])
    if path == AURORA:
        assert outputs["LogGroupName"]["Value"] == {"Fn::GetAtt": ["Sync", "Outputs.LogGroupName"]}


def test_the_aurora_example_s_function_reaches_the_resolver_and_the_endpoints_only() -> None:
    """DNS to the VPC resolver's /31 (base+2, base+3), HTTPS to the endpoints' groups;
    the whole VPC on 443 only for endpoints the VPC had before the stack."""
    template = load(AURORA)
    stack = Stack(template, VpcCidr="10.20.0.0/16")
    group = stack.resolve(resource(template, "FunctionSecurityGroup")["Properties"])
    assert sorted(
        (r["IpProtocol"], r["FromPort"], r["ToPort"], r["CidrIp"])
        for r in group["SecurityGroupEgress"]
    ) == [("tcp", 53, 53, "10.20.0.2/31"), ("udp", 53, 53, "10.20.0.2/31")]
    assert not stack.condition("UsesExistingEndpoint")
    outputs = load(MAIN)["Outputs"]
    for name, output, condition in (
        ("FunctionToElbEndpoint", "ElbEndpointSecurityGroupId", "CreateElb"),
        ("FunctionToRdsEndpoint", "RdsEndpointSecurityGroupId", "CreateRds"),
    ):
        rule = resource(template, name)
        assert rule["Condition"] == condition and stack.condition(condition)
        assert rule["Properties"]["FromPort"] == rule["Properties"]["ToPort"] == 443
        assert rule["Properties"]["DestinationSecurityGroupId"] == {
            "Fn::GetAtt": ["Sync", f"Outputs.{output}"]
        }
        assert output in outputs
    assert Stack(template, CreateRdsEndpoint="false").condition("UsesExistingEndpoint")


def test_the_aurora_example_does_not_claim_the_cluster_arn_scopes_the_reads() -> None:
    description = load(AURORA)["Parameters"]["ClusterArn"]["Description"]
    assert "scopes" not in description
    assert "every cluster" in description


def test_code_signing_config_arn_is_the_function_s_when_given_and_off_when_empty(
    template: dict[str, Any],
) -> None:
    csc = f"arn:aws:lambda:{REGION}:{ACCOUNT}:code-signing-config:csc-0123456789abcdef0"
    function = resource(template, "Function")["Properties"]
    on = Stack(template, CodeSigningConfigArn=csc).resolve(function)
    assert on["CodeSigningConfigArn"] == csc
    assert "CodeSigningConfigArn" not in Stack(template).resolve(function)
    assert _matches(template, "CodeSigningConfigArn", csc)
    assert not _matches(template, "CodeSigningConfigArn", "csc-0123456789abcdef0")


def test_a_record_key_the_stack_makes_lets_only_the_function_s_role_sign(
    template: dict[str, Any],
) -> None:
    """Issue 30, item 2: the stack can create the record key; its policy lets only the
    function's role generate (and verify) MACs, the account manage but never use it; a
    key given is granted to the role for those two operations only."""
    key = resource(template, "RecordKmsKey")
    assert key["Condition"] == "CreateRecordKey"
    properties = key["Properties"]
    assert (properties["KeySpec"], properties["KeyUsage"]) == ("HMAC_256", "GENERATE_VERIFY_MAC")
    grants = {s["Sid"]: s for s in properties["KeyPolicy"]["Statement"]}
    assert set(grants) == {"AdministerNotUse", "OnlyTheFunctionSigns"}
    assert grants["OnlyTheFunctionSigns"]["Principal"] == {
        "AWS": {"Fn::GetAtt": ["FunctionRole", "Arn"]}
    }
    assert sorted(grants["OnlyTheFunctionSigns"]["Action"]) == ["kms:GenerateMac", "kms:VerifyMac"]
    assert not [
        a
        for a in grants["AdministerNotUse"]["Action"]
        if a in ("kms:*", "kms:GenerateMac", "kms:VerifyMac")
    ]
    pattern = re.compile(template["Parameters"]["RecordKey"]["AllowedPattern"])
    assert pattern.match("create") and pattern.match("")
    assert not pattern.match("alias/anything") and not pattern.match("arn:aws:kms:*")


@pytest.mark.parametrize("item", STACK_SETTINGS, ids=lambda s: s.cfn)
def test_the_stack_s_own_settings_are_the_table_s(template: dict[str, Any], item: Any) -> None:
    """The schedule, memory, log level, retention and architecture: one table
    (tgsync.stack_settings.STACK_SETTINGS) that the stack and the CDK's checks read."""
    spec = template["Parameters"][item.cfn]
    if item.cfn == "ScheduleRate":  # rate(N minute[s]) for N in the table's bounds
        minutes = range(int(item.low), int(item.high) + 1)
        assert spec["AllowedValues"] == [f"rate({n} minute{'s' if n > 1 else ''})" for n in minutes]
        assert spec["Default"] == f"rate({item.default} minute)"
        return
    assert str(spec["Default"]) == str(item.default)
    if item.choices is not None:
        assert [str(v) for v in spec["AllowedValues"]] == list(item.choices)
    else:
        assert (spec["MinValue"], spec["MaxValue"]) == (item.low, item.high)
