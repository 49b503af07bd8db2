"""The construct's keywords as the function's environment, checked at synth time.

Every check runs the function's own parser (:data:`tgsync.settings.SETTINGS`), so a
value the function would refuse at run time fails ``cdk synth`` instead, with a
:class:`ValueError` that names the keyword and the fix. A token (known at deploy time
only) is passed through: the function checks it when it runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import Duration, Token

from tgsync.parsers import normalize_hostname
from tgsync.settings import SETTINGS
from tgsync.stack_settings import STACK_BY_CDK, check_stack_setting

#: The settings the construct takes as keywords: every one with a CDK name.
KEYWORD_SETTINGS = tuple(item for item in SETTINGS if item.cdk is not None)
#: The log levels the stack's LogLevel parameter allows.
LOG_LEVELS: tuple[str, ...] = STACK_BY_CDK["log_level"].choices or ()
#: How a bool keyword is written into the variable (off, on), as the stack writes it.
SWITCHES = {
    "dry_run": ("false", "true"),
    "discover": ("", "tags"),
    "outside_vpc": ("refuse", "allow"),
}
#: Settings that apply to discovery only: the function refuses them without it.
DISCOVERY_ONLY = ("owner", "discover_prefix")


def setting_variables(given: Mapping[str, Any]) -> dict[str, str]:
    """The function's variables for the setting keywords given (``None``: not given),
    each checked with the function's own parser; :class:`ValueError` names the keyword
    and the fix."""
    variables: dict[str, str] = {}
    for item in KEYWORD_SETTINGS:
        raw = given.get(item.cdk or "")
        if raw is None:
            continue
        text = as_text(item.key, raw)
        check_keyword(item.cdk or item.key, raw, text)
        variables[item.env] = text
    if not discover_on(given.get("discover")):
        for key in DISCOVERY_ONLY:
            if given.get(key) is not None:
                raise ValueError(
                    f"{key} is set but discover is not: set discover=True or drop {key}"
                )
    elif given.get("discover_prefix") is None:  # as the function refuses it (config)
        raise ValueError(
            "discover=True needs discover_prefix: the start of the names of the "
            "target groups this function may adopt (e.g. 'tgsync-'), so that "
            "whoever may tag a group cannot hand it a group you did not choose; "
            "or '*' to adopt any group of the region that carries the tag"
        )
    return variables


#: The settings :meth:`~tgsync.cdk.HostnameTargetSync.add_mapping` takes per mapping:
#: every per-mapping setting with a CDK name (each a key of a ``TGSYNC_MAPPINGS`` entry).
MAPPING_KEYWORDS = tuple(item.cdk for item in KEYWORD_SETTINGS if item.mapping_key)


def mapping_entry(given: Mapping[str, Any]) -> dict[str, Any]:
    """The keys of a ``TGSYNC_MAPPINGS`` entry for the per-mapping keywords given
    (``None``: not given), each checked with the function's own parser; numbers as JSON
    numbers, the rest as their variable's text. A token passes through as it is."""
    entry: dict[str, Any] = {}
    for item in KEYWORD_SETTINGS:
        raw = given.get(item.cdk or "")
        if raw is None or item.mapping_key is None:
            continue
        text = as_text(item.key, raw)
        check_keyword(item.cdk or item.key, raw, text)
        numeric = item.low is not None and not Token.is_unresolved(text)
        entry[item.mapping_key] = json_number(text) if numeric else text
    return entry


def json_number(text: str) -> int | float:
    """A checked number's text as a JSON number: whole ones as ints."""
    value = float(text)
    return int(value) if value.is_integer() else value


def discover_on(raw: Any) -> bool:
    """Whether the ``discover`` keyword turns discovery on (checked as the function does)."""
    if raw is None:
        return False
    return bool(check_keyword("discover", raw, as_text("discover", raw)))


def check_keyword(keyword: str, raw: Any, text: str) -> Any:
    """The value as the function parses ``text``, or a ValueError naming the keyword."""
    if Token.is_unresolved(text):  # known at deploy time only: the function checks it
        return text
    item = next(s for s in KEYWORD_SETTINGS if s.cdk == keyword)
    try:
        return item.parse(text)
    except ValueError as exc:
        raise ValueError(f"{keyword}={shown(raw)}: {exc}") from None


def as_text(key: str, value: Any) -> str:
    """A keyword's value as its variable holds it."""
    if isinstance(value, bool) and key in SWITCHES:
        return SWITCHES[key][value]
    if isinstance(value, Duration):
        return number_text(value.to_seconds())
    if isinstance(value, list | tuple):
        return ",".join(str(part) for part in value)
    return number_text(value)


def shown(value: Any) -> str:
    """A keyword's value as an error message quotes it."""
    if isinstance(value, Duration):
        return f"{value.to_seconds():g}s"
    return repr(value)


def number_text(value: Any) -> str:
    """``str(value)``, a whole float without its ``.0``."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def check_schedule(every: Duration) -> None:
    """Whole minutes within the stack's ScheduleRate (one to four: a memory record not
    confirmed for 300 s is not trusted)."""
    seconds, minute = every.to_seconds(), 60
    rate = STACK_BY_CDK["schedule"]
    if seconds % minute or not (rate.low or 1) <= seconds / minute <= (rate.high or 4):
        raise ValueError(
            f"schedule={seconds:.0f}s: give {rate.low:g} to {rate.high:g} "
            "whole minutes; a slower schedule would never retire a healthy "
            "stale IP"
        )


def check_log_level(log_level: str) -> None:
    """One of :data:`LOG_LEVELS`, as the stack's LogLevel parameter allows."""
    check_stack_setting("log_level", log_level)


def check_memory_size(memory_size: int) -> None:
    """Within the stack's MemorySize bounds."""
    check_stack_setting("memory_size", memory_size)


def check_health_alarm_filter(health_alarm_filter: str | None) -> None:
    """None, or a condition with some text in it."""
    if health_alarm_filter is not None and not health_alarm_filter.strip():
        raise ValueError(
            "health_alarm_filter is empty: give a Metrics Insights "
            "condition such as LoadBalancer = 'app/name/id', or None"
        )


def check_targets(*, hostname: bool, target_group: bool, port: bool, discover: bool) -> None:
    """Which of the first mapping's keywords were given (``True``): both of hostname and
    target_group, or neither with discovery on; port only with them."""
    if hostname != target_group or (not hostname and not discover):
        raise ValueError(
            "give hostname and target_group together (more with add_mapping), "
            "or discover=True to keep the groups tagged tgsync:hostname"
        )
    if port and not hostname:
        raise ValueError(
            "port applies to hostname and target_group: give them, or tag "
            "the discovered groups tgsync:port"
        )


def mapping_hostname(hostname: str) -> str:
    """A mapping's hostname as the function reads it; a token as it is (the function
    checks it)."""
    if Token.is_unresolved(hostname):
        return hostname
    try:
        return normalize_hostname(hostname)
    except ValueError as exc:
        raise ValueError(f"hostname {exc}") from None
