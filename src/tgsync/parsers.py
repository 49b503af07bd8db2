"""The parsers of every setting: raw text (or JSON) in, a checked value out.

Pure: no I/O. A parser raises ``ValueError`` with a message that names the fix; the
caller prefixes the name the user wrote (an environment variable, a flag, a key, a tag).
The table of settings (:mod:`tgsync.settings`) says which parser reads which setting.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any
from urllib.parse import urlsplit

from tgsync.arn import TargetGroupArn
from tgsync.guard import IPNetwork, parse_networks
from tgsync.model import Nameserver
from tgsync.plan import Policy

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
_TAG_VALUE = re.compile(r"^[\w\s+\-=.:/@]{1,256}$")
#: ELB's target group names: letters, digits and hyphens, at most 32, no leading hyphen.
_GROUP_NAME_PREFIX = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,31}$")
#: An IAM role's ARN in any partition (aws, aws-cn, aws-us-gov, aws-iso-b...): a path of
#: its own characters, then a name of 1 to 64 (IAM User Guide, "IAM identifiers" and
#: "IAM and AWS STS quotas").
_ROLE_ARN = re.compile(r"^arn:aws(-[a-z]+)*:iam::\d{12}:role/([\w+=,.@-]+/)*[\w+=,.@-]{1,64}$")
#: An EventBridge event bus: its name, or its ARN in any partition (EventBridge API
#: Reference, PutEventsRequestEntry's EventBusName: a name of 1 to 256 of these).
_EVENT_BUS = re.compile(
    r"^(arn:aws(-[a-z]+)*:events:[a-z0-9-]+:\d{12}:event-bus/)?"
    r"[/.\-_A-Za-z0-9]{1,256}$"
)


def _number(raw: Any, what: str, example: str) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise ValueError(f"{raw!r} is not {what}; {example}")
    try:
        return float(str(raw).strip())
    except ValueError:
        raise ValueError(f"{raw!r} is not {what}; {example}") from None


def parse_int(raw: Any, low: int, high: int) -> int:
    """A whole number in ``[low, high]``."""
    hint = f"give one from {low} to {high}"
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise ValueError(f"{raw!r} is not a whole number; {hint}")
    try:
        value = int(str(raw).strip(), 10)
    except ValueError:
        raise ValueError(f"{raw!r} is not a whole number; {hint}") from None
    if not low <= value <= high:
        raise ValueError(f"{value} is out of range; give a whole number from {low} to {high}")
    return value


def parse_seconds(raw: Any, high: float, low: float = 0.0, *, zero_ok: bool = False) -> float:
    """A finite number of seconds in ``[low, high]`` (``0`` too when ``zero_ok``)."""
    span = f"{low:g} to {high:g}" + (" (0 turns it off)" if zero_ok else "")
    value = _number(raw, "a number of seconds", f"give one from {span}")
    if not (low <= value <= high or (zero_ok and value == 0)):  # also rejects nan, inf
        raise ValueError(f"{raw!r} is out of range; give seconds from {span}")
    return value


def parse_rate(raw: Any, low: float, high: float) -> float:
    """Calls per second in ``[low, high]``."""
    value = _number(raw, "a number", "give calls per second, e.g. 8")
    if not low <= value <= high:
        raise ValueError(f"{raw!r} is out of range; give calls per second from {low:g} to {high:g}")
    return value


def parse_bool(raw: Any) -> bool:
    """``true``/``false`` and the usual spellings."""
    if isinstance(raw, bool):
        return raw
    if not isinstance(raw, str | int):
        raise ValueError(f"{raw!r} is not a boolean; use true or false")
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"{raw!r} is not a boolean; use true or false")


def parse_choice(raw: Any, choices: tuple[str, ...]) -> str:
    """One of ``choices`` (case-insensitive)."""
    text = str(raw).strip().lower()
    if text not in choices:
        raise ValueError(f"{raw!r} is not one of: {', '.join(c or '(empty)' for c in choices)}")
    return text


def parse_exact_choice(raw: Any, choices: tuple[str, ...]) -> str:
    """One of ``choices``, exactly as written (no other case, no spaces): for a value the
    stack must recognise in ``TGSYNC_MAPPINGS`` to grant what it needs."""
    if not isinstance(raw, str) or raw not in choices:
        raise ValueError(f"{raw!r} is not one of: {', '.join(choices)} (exactly, in lower case)")
    return raw


def parse_owner(raw: Any) -> str:
    """An owner id: what a ``tgsync:owner`` tag value may hold."""
    text = str(raw).strip()
    if not _TAG_VALUE.match(text):
        raise ValueError(
            f"{raw!r} cannot be a tag value; use 1 to 256 letters, digits, "
            "spaces and + - = . _ : / @, e.g. team-search"
        )
    return text


def parse_group_prefix(raw: Any) -> str:
    """The start of a target group name: letters, digits and hyphens, 1 to 32; or ``*``,
    every name (an explicit choice)."""
    text = str(raw).strip()
    if text == "*":
        return text
    if not _GROUP_NAME_PREFIX.match(text):
        raise ValueError(
            f"{raw!r} cannot start a target group name; use 1 to 32 letters, "
            "digits and hyphens, not starting with a hyphen, e.g. tgsync- (or * "
            "for every group)"
        )
    return text


def parse_discover(raw: Any) -> bool:
    """A discovery mode: ``tags`` on; ``off`` or empty off."""
    text = str(raw).strip().lower()
    if text not in ("", "off", "tags"):  # "off" (or empty) leaves it off
        raise ValueError(f"{raw!r} is not a discovery mode; use tags (or off)")
    return text == "tags"


def parse_text(raw: Any) -> str:
    """A string (a name, an ARN, JSON), stripped; anything else is refused."""
    if not isinstance(raw, str):
        raise ValueError(f"must be a string, not {type(raw).__name__} ({raw!r})")
    return raw.strip()


def _whole(raw: Any, pattern: re.Pattern[str], refusal: str) -> str:
    """``raw`` stripped, if all of it matches ``pattern``; else a ValueError quoting it,
    then ``refusal``."""
    text = raw.strip() if isinstance(raw, str) else raw
    if not isinstance(text, str) or not pattern.match(text):
        raise ValueError(f"{raw!r} {refusal}")
    return text


def parse_role_arn(raw: Any) -> str:
    """An IAM role's ARN (any partition), whole: the role to assume."""
    return _whole(
        raw,
        _ROLE_ARN,
        "is not an IAM role ARN; give the whole ARN of the role to "
        "assume, e.g. arn:aws:iam::111122223333:role/tgsync-rds-read (no "
        "wildcards, no user or assumed-role ARN)",
    )


def parse_event_bus(raw: Any) -> str:
    """An EventBridge event bus: its name or its whole ARN."""
    return _whole(
        raw,
        _EVENT_BUS,
        "is not an event bus; give its name (letters, digits and "
        "/ . - _, e.g. tgsync-changes or default) or its whole ARN, e.g. "
        "arn:aws:events:eu-west-1:123456789012:event-bus/tgsync-changes",
    )


_KMS_KEY = re.compile(
    r"^(?:arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:(?:key/[0-9a-f-]{36}|alias/[\w/-]{1,250})"
    r"|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|alias/[\w/-]{1,250})$"
)


def parse_kms_key(raw: Any) -> str:
    """A KMS key: its id, ARN, alias (``alias/...``) or alias ARN."""
    return _whole(
        raw,
        _KMS_KEY,
        "is not a KMS key; give its ARN (arn:aws:kms:eu-west-1:"
        "123456789012:key/...), its id, or an alias (alias/tgsync-records) of an "
        "HMAC_256 key for GENERATE_VERIFY_MAC",
    )


def parse_policy(raw: Any) -> Policy:
    """``sync`` or ``upsert-only``."""
    try:
        return Policy(str(raw).strip().lower())
    except ValueError:
        choices = ", ".join(p.value for p in Policy)
        raise ValueError(f"{raw!r} is not a policy; use one of: {choices}") from None


def split_list(raw: Any) -> list[str]:
    """A comma-separated string or a JSON list of strings, stripped, empties dropped."""
    if isinstance(raw, list) and all(isinstance(x, str) for x in raw):
        return [x.strip() for x in raw if x.strip()]
    if isinstance(raw, str):
        return [x.strip() for x in raw.split(",") if x.strip()]
    raise ValueError(f"{raw!r} is not a list; give a comma-separated string or a JSON list")


def parse_nameservers(raw: Any) -> tuple[Nameserver, ...]:
    """``host``, ``host:port``, ``ipv6`` or ``[ipv6]:port``, comma-separated."""
    servers = []
    for item in split_list(raw):
        host, port = item, 53
        if item.startswith("["):
            host, _, rest = item[1:].partition("]")
            if rest:
                if not rest.startswith(":"):
                    raise ValueError(f"{item!r} is not host:port; write [addr]:port for IPv6")
                port = parse_int(rest[1:], 1, 65535)
        elif item.count(":") == 1:
            host, _, port_text = item.partition(":")
            port = parse_int(port_text, 1, 65535)
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            raise ValueError(
                f"{item!r}: nameserver must be an IP address (optionally with "
                ":port, IPv6 as [addr]:port), e.g. 10.0.0.2 or 127.0.0.1:5353"
            ) from None
        servers.append(Nameserver(str(address), port))
    if not servers:
        raise ValueError("lists no nameserver; unset it to use the system resolver")
    return tuple(servers)


def parse_cidrs(raw: Any) -> tuple[IPNetwork, ...]:
    """A non-empty list of networks."""
    networks = parse_networks(split_list(raw))
    if not networks:
        raise ValueError("lists no network; unset it for the default private ranges")
    return networks


MAX_HOSTNAME_LENGTH = 253  # RFC 1035, without the trailing dot
_LABEL = re.compile(r"^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$")


def normalize_hostname(raw: str) -> str:
    """Turn what users paste (URL, ``name:port``, trailing dot) into a bare hostname."""
    text = raw.strip()
    if not text:
        raise ValueError(
            "is empty; set it to a hostname such as vpc-logs-abc123.eu-west-1.es.amazonaws.com"
        )
    if "://" in text:
        parts = urlsplit(text)
        if parts.scheme not in ("http", "https"):
            raise ValueError(
                f"{raw!r} has scheme {parts.scheme!r}; give a bare hostname or an https:// URL"
            )
        text = parts.hostname or ""
    else:
        text = text.split("/", 1)[0]
        if text.count(":") == 1:
            text = text.split(":", 1)[0]
    text = text.strip("[]").lower().rstrip(".")
    try:
        ipaddress.ip_address(text)
    except ValueError:
        pass
    else:
        raise ValueError(
            f"{raw!r} is an IP address, not a hostname; register it in the target group directly"
        )
    labels_ok = all(_LABEL.match(label) for label in text.split("."))
    if not text or len(text) > MAX_HOSTNAME_LENGTH or not labels_ok:
        raise ValueError(
            f"{raw!r} is not a valid hostname; use letters, digits and hyphens "
            "(punycode for international names), e.g. vpc-logs-abc123.eu-west-1"
            ".es.amazonaws.com"
        )
    return text


def parse_arn(raw: str) -> str:
    """Check a target group ARN (any partition botocore knows) and return it stripped."""
    TargetGroupArn.parse(raw)
    return raw.strip()
