"""Derive ``deploy/terraform/settings.tf`` from :data:`tgsync.settings.SETTINGS`.

The Terraform module takes every setting the CDK construct takes, by the construct's
keyword names (``hostname``, ``target_group_arn`` and ``mappings`` by their keys), with
the table's defaults and bounds and ``validation`` blocks whose messages are the
function's own: each message is the parser's, read by calling it with a value it
refuses and putting the variable's value where that value was. A mapping's own settings
are optional attributes of ``mappings``' object type, checked the same way and named as
the function names them (``mappings[1].lookups: ...``). The file also holds
``local.setting_environment``: each function-wide setting as the function reads it; and
the stack's own settings (:data:`tgsync.stack_settings.STACK_SETTINGS`: schedule, memory, log
level, retention, architecture), each named as its stack parameter in snake case, with
the table's default and values.

Run ``make terraform-vars`` after changing the table; tests/deploy/test_terraform.py
fails while the committed file differs, and runs Terraform on it to check that it
refuses what the parsers refuse, with their messages.

    python deploy/terraform_gen.py            # rewrite deploy/terraform/settings.tf
    python deploy/terraform_gen.py --check    # exit 1 if it is stale
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "src"))

import generated  # noqa: E402 - deploy/, beside this script

from tgsync.parsers import parse_cidrs, parse_nameservers  # noqa: E402
from tgsync.settings import (  # noqa: E402 - needs src on the path first
    MIN_FOLLOW_INTERVAL,
    SETTINGS,
    mapping_settings,
)
from tgsync.settings_schema import Setting, shown  # noqa: E402
from tgsync.stack_settings import STACK_SETTINGS, StackSetting  # noqa: E402

MODULE = HERE / "terraform"
TARGET = MODULE / "settings.tf"

_HEADER = """\
# Generated from src/tgsync/settings.py by deploy/terraform_gen.py (make terraform-vars):
# do not edit. Every setting of the function that the CDK construct takes, by its
# keyword name, with the settings table's default and bounds; each validation message
# is the function's own for that value. Then the stack's own settings (schedule, memory,
# log level, retention, architecture), by their stack parameters' names.
"""

#: A whole target group ARN, as deploy/tgsync.yaml's TargetGroupArn pattern takes it: no
#: wildcard can widen the role's writes.
TARGET_GROUP_ARN = (
    r"^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:[0-9]{12}:"
    r"targetgroup/[A-Za-z0-9-]+/[0-9a-f]+$"
)
#: What the parsers of these texts take (RE2 reads these patterns as Python does).
PATTERNS = {
    "owner": r"^[\w\s+\-=.:/@]{1,256}$",
    "discover_prefix": r"^(\*|[A-Za-z0-9][A-Za-z0-9-]{0,31})$",
    "rds_role_arn": r"^arn:aws(-[a-z]+)*:iam::[0-9]{12}:role/([\w+=,.@-]+/)*"
    r"[\w+=,.@-]{1,64}$",
    "event_bus": r"^(arn:aws(-[a-z]+)*:events:[a-z0-9-]+:[0-9]{12}:event-bus/)?"
    r"[/.\-_A-Za-z0-9]{1,256}$",
}
#: A whole KMS key ARN, as deploy/tgsync.yaml's RecordKey pattern takes it beside create:
#: the role's statement and the kms endpoint's policy name the key, and no alias or key
#: id can be named there.
KMS_KEY_ARN = r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[0-9a-f-]{36}$"
#: Settings whose thing the module may make itself, and the local holding its ARN (the
#: one made, or the one given), which the function's variable gets.
MADE_HERE = {"record_key": "local.record_key_arn"}
#: Numbers from this to their high bound, or 0 to turn them off (between: refused).
ZERO_OR_FROM = {"follow_interval": MIN_FOLLOW_INTERVAL}
#: The settings that take a list (comma-separated in the function's variable).
LIST_PARSERS: tuple[Callable[[Any], Any], ...] = (parse_cidrs, parse_nameservers)

#: Values no parser takes, to read their messages: a number beyond every bound, and a
#: word no choice, name, address or tag value can be.
_BIG = 98765432
_WORD = "!bogus!"

#: An entry of a nameserver list: its host (brackets and port taken off), and its port.
_HOST = 'replace(@V@, "/^\\\\[([^\\\\]]*)\\\\](:.*)?$|^([^:\\\\[]*):[^:]*$/", "$1$3")'
_HAS_PORT = '"^(?:\\\\[[^\\\\]]*\\\\]|[^:\\\\[]*):([^:]*)$"'
_PORT = f"regex({_HAS_PORT}, @V@)[0]"
#: A network as ipaddress reads it: an address alone is its own /32 or /128.
_CIDR = 'strcontains(@V@, "/") ? @V@ : "${@V@}/${strcontains(@V@, ":") ? 128 : 32}"'


# ----------------------------------------------------------------------------- names


def tf_name(item: Setting) -> str:
    """The Terraform variable of a setting: the CDK keyword, else the setting's key."""
    return item.cdk or item.key


def tf_settings() -> list[Setting]:
    """The settings the module takes as variables: the CDK construct's, the mapping's
    hostname and group, and ``mappings``."""
    return [
        s
        for s in SETTINGS
        if s.cdk is not None or s.key in ("hostname", "target_group_arn", "mappings")
    ]


def mapping_attributes() -> list[Setting]:
    """The attributes of ``mappings``' objects: hostname and group (required), then the
    mapping's own settings the construct takes."""
    own = [s for s in SETTINGS if s.key in ("hostname", "target_group_arn")]
    return own + [s for s in mapping_settings() if s.cdk is not None]


# ----------------------------------------------------------------------------- kinds


def switch(item: Setting) -> tuple[str, str] | None:
    """``(off, on)`` as the function's variable writes them, for a setting the parser
    reads as a boolean (a Terraform ``bool``, as the construct's keyword); else ``None``."""
    if item.choices is None:
        return None
    parsed = {choice: item.parse(choice) for choice in item.choices}
    if sorted(parsed.values(), key=repr) != [False, True] or not all(
        isinstance(value, bool) for value in parsed.values()
    ):
        return None
    off = next(choice for choice, value in parsed.items() if value is False)
    on = next(choice for choice, value in parsed.items() if value is True)
    return off, on


def tf_type(item: Setting) -> str:
    """The variable's Terraform type (``mappings``' is :func:`mapping_type`)."""
    if switch(item) is not None:
        return "bool"
    if item.parse in LIST_PARSERS:
        return "list(string)"
    if item.low is not None:
        return "number"
    return "string"


def tf_default(item: Setting) -> Any:
    """The variable's default as a JSON value (``None``: null, the setting unset)."""
    text = shown(item)
    if item.key == "mappings":
        return []
    if switch(item) is not None:
        return bool(item.parse(text))
    if item.parse in LIST_PARSERS:
        return [part for part in text.split(",") if part]
    if item.low is not None and text:
        return json.loads(text)
    if item.default is None and not text:
        return None
    return text


# ----------------------------------------------------------------------------- rules


@dataclass(frozen=True)
class Rule:
    """One check of one value (an entry, for a list): ``condition`` holds when the value
    ``@V@`` (an HCL expression) is fine; ``message`` is an HCL template saying why not."""

    condition: str
    message: str

    def holds(self, value: str) -> str:
        """The condition for the expression ``value``."""
        return self.condition.replace("@V@", value)

    def says(self, value: str) -> str:
        """The message's template for the expression ``value``."""
        return self.message.replace("@V@", value)


def template(text: str) -> str:
    """``text`` as the literal part of an HCL string template."""
    escaped = json.dumps(text, ensure_ascii=False)[1:-1]
    return escaped.replace("${", "$${").replace("%{", "%%{")


def refusal(item: Setting, raw: Any, needle: str | None = None, value: str = "@V@") -> str:
    """The parser's message for ``raw`` as a template, the expression ``value`` where
    ``needle`` (how the message quotes ``raw``: ``repr`` for text, ``str`` for numbers)
    was."""
    try:
        item.parse(raw)
    except ValueError as exc:
        text = str(exc)
    else:
        raise SystemExit(f"terraform_gen.py: {item.key}'s parser takes {raw!r}")
    needle = needle or (repr(raw) if isinstance(raw, str) else str(raw))
    if text.count(needle) != 1:
        raise SystemExit(
            f"terraform_gen.py: {item.key}'s message for {raw!r} does not "
            f"quote {needle!r} once: {text!r}"
        )
    head, _, tail = text.partition(needle)
    quote = "'" if needle[0] == needle[-1] == "'" else ""
    return f"{template(head)}{quote}${{{value}}}{quote}{template(tail)}"


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _number_rules(item: Setting) -> list[Rule]:
    if item.low is None or item.high is None:
        return []
    rules = []
    half = item.high - 0.5
    try:
        item.parse(half)
    except ValueError:  # whole numbers only
        rules.append(Rule("floor(@V@) == @V@", refusal(item, half)))
    high = _num(item.high)
    if item.key in ZERO_OR_FROM:
        span = f"@V@ == 0 || (@V@ >= {_num(ZERO_OR_FROM[item.key])} && @V@ <= {high})"
    else:
        span = f"@V@ >= {_num(item.low)} && @V@ <= {high}"
    return [*rules, Rule(span, refusal(item, _BIG))]


def _choice_rules(item: Setting) -> list[Rule]:
    listed = item.choices or ()
    choices = "[" + ", ".join(json.dumps(c) for c in listed) + "]"
    try:  # a parser that takes any case, and spaces around: so does the check
        item.parse(f" {listed[0].upper()} ")
        value = "lower(trimspace(@V@))"
    except ValueError:
        value = "@V@"
    return [Rule(f"contains({choices}, {value})", refusal(item, _WORD))]


def _network_rules() -> list[Rule]:
    # ipaddress's own reason, in brackets in the parser's message, has no Terraform
    # counterpart: the message keeps the parser's hint (the network meant, or an example).
    network = f"cidrsubnet({_CIDR}, 0, 0)"
    return [
        Rule(
            f"can({network})",
            template("'")
            + "${@V@}"
            + template("' is not a network; write a network such as 10.0.0.0/8 or fd00::/8"),
        ),
        Rule(
            f"try({network} == ({_CIDR}), true)",
            template("'")
            + "${@V@}"
            + template("' is not a network; did you mean ")
            + "${"
            + network
            + "}?",
        ),
    ]


def _nameserver_rules(item: Setting) -> list[Rule]:
    # host[:port], [ipv6]:port or a bare IPv6 address, as parse_nameservers reads them;
    # each message is the parser's for an entry with that fault.
    entry = f"[::1]{_WORD}"
    return [
        Rule(
            '!startswith(@V@, "[") || can(regex("^\\\\[[^\\\\]]*\\\\](:.*)?$", @V@))',
            refusal(item, entry, repr(entry)),
        ),
        Rule(
            f'!can({_PORT}) || can(regex("^[0-9]+$", {_PORT}))',
            refusal(item, f"192.0.2.1:{_WORD}", repr(_WORD), _PORT),
        ),
        Rule(
            f"!can(tonumber({_PORT})) || (tonumber({_PORT}) >= 1 && tonumber({_PORT}) <= 65535)",
            refusal(item, f"192.0.2.1:{_BIG}", str(_BIG), _PORT),
        ),
        Rule(
            f'can(cidrhost("${{{_HOST}}}/${{strcontains({_HOST}, ":") ? 128 : 32}}", 0))',
            refusal(item, _WORD),
        ),
    ]


def _pattern_rules(item: Setting) -> list[Rule]:
    if item.key not in PATTERNS:
        return []
    pattern = json.dumps(PATTERNS[item.key])
    return [Rule(f"can(regex({pattern}, trimspace(@V@)))", refusal(item, _WORD))]


#: The checks of the mapping's own hostname and group (their parsers are the config's),
#: and of the record key, which the module may make ("create", as the stack's RecordKey).
_FIXED: dict[str, list[Rule]] = {
    "record_key": [
        Rule(
            f'trimspace(@V@) == "create" || can(regex({json.dumps(KMS_KEY_ARN)}, trimspace(@V@)))',
            "'${@V@}"
            + template(
                "' is neither create nor a whole KMS key ARN; give arn:aws:kms:REGION:ACCOUNT:"
                "key/ID (the role may use that key only: no alias, no key id), or create (the "
                "module makes an HMAC key only the function's role may use)"
            ),
        )
    ],
    "target_group_arn": [
        Rule(
            f"can(regex({json.dumps(TARGET_GROUP_ARN)}, @V@))",
            "'${@V@}"
            + template(
                "' is not a whole target group ARN; give arn:aws:elasticloadbalancing:REGION:"
                "ACCOUNT:targetgroup/NAME/ID (no wildcards)"
            ),
        )
    ],
    "hostname": [
        Rule(
            'trimspace(@V@) != ""',
            template(
                "is empty; set it to a hostname such as vpc-logs-abc123.eu-west-1.es.amazonaws.com"
            ),
        )
    ],
}
#: Which checks a setting gets, by the first kind it is of.
_KINDS: tuple[tuple[Callable[[Setting], bool], Callable[[Setting], list[Rule]]], ...] = (
    (lambda s: switch(s) is not None or s.key in ("alb_id", "mappings"), lambda s: []),
    (lambda s: s.parse is parse_cidrs, lambda s: _network_rules()),
    (lambda s: s.parse is parse_nameservers, _nameserver_rules),
    (lambda s: s.low is not None, _number_rules),
    (lambda s: s.choices is not None, _choice_rules),
)


def rules(item: Setting) -> list[Rule]:
    """The checks of one value (one entry, for a list) of ``item``."""
    if item.key in _FIXED:
        return list(_FIXED[item.key])
    make = next((make for applies, make in _KINDS if applies(item)), _pattern_rules)
    return make(item)


def empty_list_message(item: Setting) -> str | None:
    """The parser's message for an empty list, for a list that may not be empty."""
    if item.parse is not parse_cidrs:
        return None
    try:
        item.parse([])
    except ValueError as exc:
        return str(exc)
    return None


# ----------------------------------------------------------------------------- HCL


def _validation(condition: str, message: str) -> list[str]:
    return [
        "  validation {",
        f"    condition     = {condition}",
        f"    error_message = {message}",
        "  }",
    ]


def _unset(item: Setting, ref: str) -> str:
    """When the variable is unset (null, or an empty text, which the function reads as
    unset); ``""`` when it always has a value."""
    if tf_default(item) is None:
        return f"{ref} == null" + (f' || {ref} == ""' if tf_type(item) == "string" else "")
    if tf_type(item) == "string" and tf_default(item) == "":
        return f'{ref} == ""'
    return ""


def _scalar_validations(item: Setting, name: str) -> list[str]:
    lines: list[str] = []
    ref = f"var.{name}"
    for rule in rules(item):
        message = f'"{name}: {rule.says(ref)}"'
        if unset := _unset(item, ref):
            # Terraform evaluates the message even when the condition holds.
            condition = f"{unset} || try({rule.holds(ref)}, false)"
            message = f'{ref} == null ? "" : {message}'
        else:
            condition = rule.holds(ref)
        lines += _validation(condition, message)
    return lines


def _list_validations(item: Setting, name: str) -> list[str]:
    lines: list[str] = []
    ref = f"var.{name}"
    if (empty := empty_list_message(item)) is not None:
        lines += _validation(f"length({ref}) > 0", f'"{name}: {template(empty)}"')
    for rule in rules(item):
        good = rule.holds("e")
        lines += _validation(
            f"alltrue([for e in {ref} : {good}])",
            f'join("\\n", [for e in {ref} : "{name}: {rule.says("e")}" if !({good})])',
        )
    return lines


def _mapping_validations() -> list[str]:
    """The checks of every mapping's attributes, one message per bad entry."""
    lines: list[str] = []
    for item in mapping_attributes():
        key = tf_name(item)
        where = f"mappings[${{i}}].{key}"
        for rule in rules(item):
            if item.parse in LIST_PARSERS:
                good = rule.holds("e")
                entries = f"coalesce(m.{key}, [])"
                condition = (
                    f"alltrue(flatten([for m in var.mappings : [for e in {entries} : {good}]]))"
                )
                message = (
                    f'join("\\n", flatten([for i, m in var.mappings : [for e in {entries} : '
                    f'"{where}: {rule.says("e")}" if !({good})]]))'
                )
            else:
                ref = f"m.{key}"
                good = (
                    rule.holds(ref)
                    if item.key in ("hostname", "target_group_arn")
                    else f"{ref} == null || try({rule.holds(ref)}, false)"
                )
                condition = f"alltrue([for m in var.mappings : {good}])"
                message = (
                    f'join("\\n", [for i, m in var.mappings : "{where}: '
                    f'{rule.says(ref)}" if !({good})])'
                )
            lines += _validation(condition, message)
    return lines


def mapping_type() -> str:
    """``mappings``' type: hostname and group required, the mapping's own settings
    optional (unset: the variables')."""
    fields = [
        (
            tf_name(item),
            tf_type(item)
            if item.key in ("hostname", "target_group_arn")
            else f"optional({tf_type(item)})",
        )
        for item in mapping_attributes()
    ]
    width = max(len(name) for name, _ in fields)
    body = "\n".join(f"    {name:<{width}} = {kind}" for name, kind in fields)
    return "list(object({\n" + body + "\n  }))"


def description(item: Setting) -> str:
    """The variable's description: the table's help, and its names elsewhere."""
    if item.key == "mappings":
        return (
            "Many target groups from one function (TGSYNC_MAPPINGS; stack parameter "
            "Mappings): each entry's hostname and target_group_arn, and optionally its "
            "own settings, unset ones taking the variables'. Instead of hostname and "
            "target_group_arn."
        )
    text = item.help[0].upper() + item.help[1:]
    names = f"{item.env}; stack parameter {item.cfn}" if item.cfn else item.env
    if item.key in MADE_HERE:
        return (
            f"{text} ({names}): a key's whole ARN, or create: the module makes one whose "
            "policy lets only the function's role use it."
        )
    return f"{text} ({names})."


def _hcl_value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_hcl_value(v) for v in value) + "]"
    if isinstance(value, int | float):
        return _num(value)
    return f'"{template(str(value))}"'


def variable_block(item: Setting) -> list[str]:
    """One ``variable`` block."""
    name = tf_name(item)
    default = tf_default(item)
    lines = [f'variable "{name}" {{', f'  description = "{template(description(item))}"']
    if item.key == "mappings":  # as terraform fmt aligns around a multi-line type
        return [
            *lines,
            f"  type = {mapping_type()}",
            "  default  = []",
            "  nullable = false",
            *_mapping_validations(),
            "}",
        ]
    lines += [f"  type        = {tf_type(item)}", f"  default     = {_hcl_value(default)}"]
    if default is not None:
        lines.append("  nullable    = false")
    if item.parse in LIST_PARSERS:
        lines += _list_validations(item, name)
    else:
        lines += _scalar_validations(item, name)
    return [*lines, "}"]


def environment_expression(item: Setting) -> str:
    """The variable's value as the function reads it from its environment."""
    ref = f"var.{tf_name(item)}"
    if item.key in MADE_HERE:
        return f'{MADE_HERE[item.key]} == null ? "" : {MADE_HERE[item.key]}'
    if (pair := switch(item)) is not None:
        return f"{ref} ? {json.dumps(pair[1])} : {json.dumps(pair[0])}"
    if item.parse in LIST_PARSERS:
        return f'join(",", {ref})'
    if tf_default(item) is None:
        return f'{ref} == null ? "" : tostring({ref})'
    return f"tostring({ref})"


def environment_block() -> list[str]:
    """``local.setting_environment``: every function-wide setting's variable (the
    mappings themselves are main.tf's to write)."""
    items = [s for s in tf_settings() if s.cdk is not None]
    width = max(len(s.env) for s in items)
    lines = [
        "locals {",
        "  # Each setting as the function reads it from its environment (empty: unset).",
        "  setting_environment = {",
    ]
    lines += [f"    {s.env:<{width}} = {environment_expression(s)}" for s in items]
    return [*lines, "  }", "}"]


# ----------------------------------------------------------------------------- the stack's own


#: The stack setting the table holds in minutes, and the stack and the module as
#: EventBridge Scheduler's rate expression.
SCHEDULE = "ScheduleRate"


def stack_name(item: StackSetting) -> str:
    """The variable of a stack setting: its stack parameter in snake case, as every
    variable of the module's own (``ScheduleRate``: ``schedule_rate``)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", item.cfn).lower()


def rate(minutes: float) -> str:
    """EventBridge Scheduler's expression for every ``minutes`` minutes."""
    return f"rate({_num(minutes)} minute{'s' if minutes != 1 else ''})"


def stack_values(item: StackSetting) -> list[Any] | None:
    """The values the variable takes, as Terraform values (``None``: a range)."""
    if item.cfn == SCHEDULE:
        return [rate(n) for n in range(int(item.low or 1), int(item.high or 1) + 1)]
    if item.choices is None:
        return None
    return [json.loads(c) if isinstance(item.default, int | float) else c for c in item.choices]


def stack_default(item: StackSetting) -> Any:
    """The variable's default as a Terraform value."""
    return rate(item.default) if item.cfn == SCHEDULE else item.default


def stack_variable_block(item: StackSetting) -> list[str]:
    """One ``variable`` block of a stack setting, refusing what the stack refuses."""
    name = stack_name(item)
    ref = f"var.{name}"
    default = stack_default(item)
    kind = "number" if isinstance(default, int | float) else "string"
    schedule = item.cfn == SCHEDULE
    keyword = f"CDK keyword {item.cdk}" + (", in minutes" if schedule else "")
    lead = (
        "EventBridge Scheduler's rate expression: " + item.help
        if schedule
        else (item.help[0].upper() + item.help[1:])
    )
    text = f"{lead} (stack parameter {item.cfn}; {keyword})."
    lines = [
        f'variable "{name}" {{',
        f'  description = "{template(text)}"',
        f"  type        = {kind}",
        f"  default     = {_hcl_value(default)}",
        "  nullable    = false",
    ]
    shown = f"'${{{ref}}}'" if kind == "string" else f"${{{ref}}}"
    values = stack_values(item)
    if values is None:
        low, high = _num(item.low or 0), _num(item.high or 0)
        condition = f"{ref} >= {low} && {ref} <= {high} && floor({ref}) == {ref}"
        message = f"{shown} is out of range; give a whole number from {low} to {high}"
    else:
        listed = ", ".join(_num(v) if kind == "number" else v for v in values)
        condition = f"contains({_hcl_value(values)}, {ref})"
        message = f"{shown} is not one of: {listed}"
    lines += _validation(condition, f'"{name}: {message}; {template(item.help)}"')
    return [*lines, "}"]


def render() -> str:
    """The whole ``settings.tf``."""
    blocks = ["\n".join(variable_block(item)) for item in tf_settings()]
    blocks.append("\n".join(environment_block()))
    blocks += ["\n".join(stack_variable_block(item)) for item in STACK_SETTINGS]
    return _HEADER + "\n" + "\n\n".join(blocks) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Rewrite the file, or with ``--check`` report whether it is stale."""
    return generated.main(
        TARGET, render, remedy="make terraform-vars", description=__doc__.splitlines()[0], argv=argv
    )


if __name__ == "__main__":
    sys.exit(main())
