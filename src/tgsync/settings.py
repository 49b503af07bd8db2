"""Every setting of tgsync, once: its names on every surface, default, bounds and help.

This table is the single source of truth. :mod:`tgsync.config` parses the environment
with it, the CLI builds its flags from it, discovery reads its tag overrides from it,
the CDK construct takes its keywords and checks from it, and the configuration page of
the docs is generated from it. The CloudFormation and SAM templates are checked against
it by a test (defaults, bounds, allowed values). Adding a setting touches this table and
the code that uses it.

Pure: no I/O. Parsers raise ``ValueError`` with a message that names the fix; the
caller prefixes the name the user wrote (an environment variable, a flag, a key, a tag).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from tgsync.guard import DEFAULT_ALLOWED_CIDRS, IPNetwork, parse_networks
from tgsync.model import Nameserver
from tgsync.plan import Policy

# ----------------------------------------------------------------------------- parsers

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
_EVENT_BUS = re.compile(r"^(arn:aws(-[a-z]+)*:events:[a-z0-9-]+:\d{12}:event-bus/)?"
                        r"[/.\-_A-Za-z0-9]{1,256}$")


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
        raise ValueError(f"{raw!r} is out of range; give calls per second from {low:g} to "
                         f"{high:g}")
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
        raise ValueError(f"{raw!r} is not one of: {', '.join(choices)} (exactly, in lower "
                         "case)")
    return raw


def parse_owner(raw: Any) -> str:
    """An owner id: what a ``tgsync:owner`` tag value may hold."""
    text = str(raw).strip()
    if not _TAG_VALUE.match(text):
        raise ValueError(f"{raw!r} cannot be a tag value; use 1 to 256 letters, digits, "
                         "spaces and + - = . _ : / @, e.g. team-search")
    return text


def parse_group_prefix(raw: Any) -> str:
    """The start of a target group name: letters, digits and hyphens, 1 to 32; or ``*``,
    every name (an explicit choice)."""
    text = str(raw).strip()
    if text == "*":
        return text
    if not _GROUP_NAME_PREFIX.match(text):
        raise ValueError(f"{raw!r} cannot start a target group name; use 1 to 32 letters, "
                         "digits and hyphens, not starting with a hyphen, e.g. tgsync- (or * "
                         "for every group)")
    return text


def _whole(raw: Any, pattern: re.Pattern[str], refusal: str) -> str:
    """``raw`` stripped, if all of it matches ``pattern``; else a ValueError quoting it,
    then ``refusal``."""
    text = raw.strip() if isinstance(raw, str) else raw
    if not isinstance(text, str) or not pattern.match(text):
        raise ValueError(f"{raw!r} {refusal}")
    return text


def parse_role_arn(raw: Any) -> str:
    """An IAM role's ARN (any partition), whole: the role to assume."""
    return _whole(raw, _ROLE_ARN, "is not an IAM role ARN; give the whole ARN of the role to "
                  "assume, e.g. arn:aws:iam::111122223333:role/tgsync-rds-read (no "
                  "wildcards, no user or assumed-role ARN)")


def parse_event_bus(raw: Any) -> str:
    """An EventBridge event bus: its name or its whole ARN."""
    return _whole(raw, _EVENT_BUS, "is not an event bus; give its name (letters, digits and "
                  "/ . - _, e.g. tgsync-changes or default) or its whole ARN, e.g. "
                  "arn:aws:events:eu-west-1:123456789012:event-bus/tgsync-changes")


_KMS_KEY = re.compile(
    r"^(?:arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:(?:key/[0-9a-f-]{36}|alias/[\w/-]{1,250})"
    r"|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|alias/[\w/-]{1,250})$")


def parse_kms_key(raw: Any) -> str:
    """A KMS key: its id, ARN, alias (``alias/...``) or alias ARN."""
    text = raw.strip() if isinstance(raw, str) else raw
    if not isinstance(text, str) or not _KMS_KEY.match(text):
        raise ValueError(f"{raw!r} is not a KMS key; give its ARN (arn:aws:kms:eu-west-1:"
                         "123456789012:key/...), its id, or an alias (alias/tgsync-records) "
                         "of an HMAC_256 key for GENERATE_VERIFY_MAC")
    return text


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
            raise ValueError(f"{item!r}: nameserver must be an IP address (optionally with "
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


# ----------------------------------------------------------------------------- the table


@dataclass(frozen=True, slots=True)
class Setting:
    """One setting and its name on every surface (``None``: not on that surface).

    ``scope`` is ``mapping`` for settings each mapping may have (a key of
    ``TGSYNC_MAPPINGS``, the environment variable being the default of every mapping) or
    ``function`` for settings of the whole function. ``low``/``high`` are the bounds of
    numbers, ``choices`` the values of enumerations, as every surface must take them.
    ``metavar`` names what a flag takes, in its help (``SECONDS``, ``HOST[:PORT],...``).
    """

    key: str
    env: str
    help: str
    parse: Callable[[Any], Any]
    default: Any = None
    scope: str = "function"
    flag: str | None = None
    tag: str | None = None
    cfn: str | None = None
    cdk: str | None = None
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] | None = None
    #: The original Go function's name for it, still read.
    legacy_env: str | None = None
    #: The default as written in the docs and the stack (``None``: empty).
    shown_default: str | None = None
    #: What the flag's value is, as ``--help`` shows it (``None``: no flag, or a switch).
    metavar: str | None = None

    @property
    def mapping_key(self) -> str | None:
        """The key of a ``TGSYNC_MAPPINGS`` entry, for per-mapping settings."""
        return self.key if self.scope == "mapping" else None


MAX_LOOKUPS = 10
MAX_STALE_AFTER = 7 * 24 * 3600.0
MAX_CONCURRENCY = 32
MIN_API_RATE, MAX_API_RATE = 1.0, 100.0
MIN_DISCOVER_EVERY, MAX_DISCOVER_EVERY = 60.0, 86_400.0
MAX_RESYNC_EVERY = 3600.0
#: Following faster than once a second only costs API calls: nothing moves that fast.
MIN_FOLLOW_INTERVAL = 1.0
MAX_FOLLOW_INTERVAL = 60.0  # slower than the schedule's tick would never follow
MAX_FOLLOW_FOR = 3600.0
OUTSIDE_VPC_CHOICES = ("refuse", "allow")
RESOLVE_CHOICES = ("dns", "rds")
RETIRE_CHOICES = ("all", "owned")
DISCOVER_CHOICES = ("", "tags")


def _parse_discover(raw: Any) -> bool:
    text = str(raw).strip().lower()
    if text not in ("", "off", "tags"):  # "off" (or empty) leaves it off
        raise ValueError(f"{raw!r} is not a discovery mode; use tags (or off)")
    return text == "tags"


def _is_text(raw: Any) -> str:
    if not isinstance(raw, str):
        raise ValueError(f"must be a string, not {type(raw).__name__} ({raw!r})")
    return raw.strip()


SETTINGS: tuple[Setting, ...] = (
    # -- what to keep (the hostname and group are parsed by tgsync.config itself)
    Setting("hostname", "TGSYNC_HOSTNAME", "name to resolve", _is_text, scope="mapping",
            flag="--hostname", cfn="Hostname", metavar="HOST", legacy_env="DomainEndpoint"),
    Setting("target_group_arn", "TGSYNC_TARGET_GROUP_ARN", "ARN of the ip target group to "
            "keep", _is_text, scope="mapping", flag="--target-group-arn", metavar="ARN",
            cfn="TargetGroupArn", legacy_env="AlbTargetGroupId"),
    Setting("port", "TGSYNC_PORT", "port to register targets on (default: the target "
            "group's own)", lambda v: parse_int(v, 1, 65535), scope="mapping", flag="--port",
            metavar="PORT", tag="tgsync:port", cfn="Port", cdk="port", low=1, high=65535),
    Setting("alb_id", "AlbId", "load balancer ARN or name; a warning when the group is not "
            "attached to it", _is_text, scope="mapping", flag="--alb-id", metavar="ARN|NAME",
            cfn="AlbId", cdk="alb_id"),
    Setting("mappings", "TGSYNC_MAPPINGS", "JSON list of {hostname, target_group_arn, ...} "
            "for many groups (or @FILE on the command line)", _is_text, flag="--mappings",
            metavar="JSON|@FILE", cfn="Mappings"),
    # -- how to decide, per mapping
    Setting("dns_servers", "TGSYNC_DNS_SERVERS", "comma-separated host[:port], IPv6 as "
            "[addr]:port (default: the system resolver)", parse_nameservers, scope="mapping",
            flag="--dns-servers", metavar="HOST[:PORT],...", cfn="DnsServers", cdk="dns_servers"),
    Setting("lookups", "TGSYNC_LOOKUPS", "DNS queries per cycle whose answers are united "
            "(stops early once an answer repeats)", lambda v: parse_int(v, 1, MAX_LOOKUPS),
            3, scope="mapping", flag="--lookups", metavar="N", tag="tgsync:lookups",
            cfn="Lookups", cdk="lookups", low=1, high=MAX_LOOKUPS),
    Setting("stale_after", "TGSYNC_STALE_AFTER", "seconds an IP must be missing from DNS "
            "before a still-healthy target is retired",
            lambda v: parse_seconds(v, MAX_STALE_AFTER), 180.0, scope="mapping",
            flag="--stale-after", metavar="SECONDS", tag="tgsync:stale-after", cfn="StaleAfter",
            cdk="stale_after", low=0, high=MAX_STALE_AFTER),
    Setting("allowed_cidrs", "TGSYNC_ALLOWED_CIDRS", "networks DNS answers must fall in "
            "(a tag may only narrow them: an answer must pass both)", parse_cidrs,
            parse_networks(DEFAULT_ALLOWED_CIDRS), scope="mapping", flag="--allowed-cidrs",
            metavar="CIDR,...", tag="tgsync:allowed-cidrs", cfn="AllowedCidrs", cdk="allowed_cidrs",
            shown_default=",".join(DEFAULT_ALLOWED_CIDRS)),
    Setting("policy", "TGSYNC_POLICY", "sync, or upsert-only to register and never retire",
            parse_policy, Policy.SYNC, scope="mapping", flag="--policy",
            metavar="sync|upsert-only", tag="tgsync:policy", cfn="Policy", cdk="policy",
            choices=tuple(p.value for p in Policy)),
    Setting("resolve", "TGSYNC_RESOLVE", "dns: the hostname's DNS answers; rds: an Aurora or "
            "Multi-AZ DB cluster endpoint's members from the RDS API (each member's instance "
            "endpoint resolved through DNS)", lambda v: parse_exact_choice(v, RESOLVE_CHOICES),
            "dns", scope="mapping", flag="--resolve", metavar="dns|rds", tag="tgsync:resolve",
            cfn="Resolve", cdk="resolve", choices=RESOLVE_CHOICES),
    Setting("rds_role_arn", "TGSYNC_RDS_ROLE_ARN", "with resolve=rds: an IAM role to assume "
            "for the RDS reads, for a cluster in another account (no tag sets it: a tag would "
            "let whoever may tag a target group choose the role tgsync acts as, and so whose "
            "database the group points at)", parse_role_arn, scope="mapping",
            flag="--rds-role-arn", metavar="ARN", cfn="RdsRoleArn", cdk="rds_role_arn"),
    Setting("retire", "TGSYNC_RETIRE", "all: retire any target on the port the answer does "
            "not hold; owned: only targets tgsync registered (a shared group)",
            lambda v: parse_choice(v, RETIRE_CHOICES), "all", scope="mapping",
            flag="--retire", metavar="all|owned", tag="tgsync:retire", cfn="Retire", cdk="retire",
            choices=RETIRE_CHOICES),
    # -- the whole function
    Setting("dry_run", "TGSYNC_DRY_RUN", "plan and report, change nothing (an event may turn "
            "it on, never off)", parse_bool, False, flag="--dry-run", cfn="DryRun",
            cdk="dry_run", choices=("true", "false"), shown_default="false"),
    Setting("concurrency", "TGSYNC_CONCURRENCY", "target groups synced in parallel",
            lambda v: parse_int(v, 1, MAX_CONCURRENCY), 4, flag="--concurrency", metavar="N",
            cfn="Concurrency", cdk="concurrency", low=1, high=MAX_CONCURRENCY),
    Setting("api_rate", "TGSYNC_API_RATE", "ELB API calls per second at most (Describe calls "
            "and writes each)", lambda v: parse_rate(v, MIN_API_RATE, MAX_API_RATE), 8.0,
            flag="--api-rate", metavar="CALLS/S", cfn="ApiRate", cdk="api_rate",
            low=MIN_API_RATE, high=MAX_API_RATE),
    Setting("resync_every", "TGSYNC_RESYNC_EVERY", "seconds after which a settled group is "
            "read again though nothing changed in DNS (0: every group every cycle)",
            lambda v: parse_seconds(v, MAX_RESYNC_EVERY), 300.0, flag="--resync-every",
            metavar="SECONDS", cfn="ResyncEvery", cdk="resync_every", low=0, high=MAX_RESYNC_EVERY),
    Setting("discover", "TGSYNC_DISCOVER", "tags: also keep every ip target group of the "
            "region tagged tgsync:hostname", _parse_discover, False, flag="--discover",
            metavar="tags|off", cfn="Discover", cdk="discover",
            choices=DISCOVER_CHOICES, shown_default=""),
    Setting("owner", "TGSYNC_OWNER", "with discovery: manage only groups tagged tgsync:owner "
            "with this value (unset: only groups with no owner tag)", parse_owner,
            flag="--owner", metavar="OWNER", cfn="Owner", cdk="owner"),
    Setting("discover_prefix", "TGSYNC_DISCOVER_PREFIX", "with discovery (required): adopt "
            "only groups whose name starts with this, a scope no tag can change; * adopts any "
            "group that carries the tag, so that anyone who may tag a group can hand it over",
            parse_group_prefix, "", flag="--discover-prefix", metavar="PREFIX",
            cfn="DiscoverPrefix", cdk="discover_prefix", shown_default=""),
    Setting("discover_every", "TGSYNC_DISCOVER_EVERY", "seconds between discovery reads "
            "(every cold start reads too)",
            lambda v: parse_seconds(v, MAX_DISCOVER_EVERY, MIN_DISCOVER_EVERY), 300.0,
            flag="--discover-every", metavar="SECONDS", cfn="DiscoverEvery",
            cdk="discover_every", low=MIN_DISCOVER_EVERY, high=MAX_DISCOVER_EVERY),
    Setting("outside_vpc", "TGSYNC_OUTSIDE_VPC", "allow: register answers outside the group's "
            "VPC (peered or on-premises hosts) with zone all; refuse: report them",
            lambda v: parse_choice(v, OUTSIDE_VPC_CHOICES) == "allow", False,
            flag="--outside-vpc", metavar="refuse|allow", cfn="OutsideVpc", cdk="outside_vpc",
            choices=OUTSIDE_VPC_CHOICES, shown_default="refuse"),
    Setting("follow_interval", "TGSYNC_FOLLOW_INTERVAL", "while a mapping moves, seconds "
            "between the follow-up cycles of one invocation (0: off)",
            lambda v: parse_seconds(v, MAX_FOLLOW_INTERVAL, MIN_FOLLOW_INTERVAL, zero_ok=True),
            10.0, flag="--follow-interval", metavar="SECONDS", cfn="FollowInterval",
            cdk="follow_interval", low=0, high=MAX_FOLLOW_INTERVAL),
    Setting("follow_for", "TGSYNC_FOLLOW_FOR", "seconds after a mapping's last change (or "
            "event) that it is followed while something stays pending",
            lambda v: parse_seconds(v, MAX_FOLLOW_FOR), 120.0, flag="--follow-for",
            metavar="SECONDS", cfn="FollowFor", cdk="follow_for", low=0, high=MAX_FOLLOW_FOR),
    Setting("record_key", "TGSYNC_RECORD_KEY", "a KMS HMAC key (HMAC_256, GENERATE_VERIFY_MAC) "
            "that signs tgsync's ownership records: a record without its valid MAC is never "
            "trusted (no tag sets it: the key is what tags cannot forge)", parse_kms_key,
            flag="--record-key", metavar="KEY", cfn="RecordKey", cdk="record_key"),
    Setting("event_bus", "TGSYNC_EVENT_BUS", "an EventBridge event bus (name or ARN) that gets "
            "an event for every registration, retirement, refusal and foreign target seen "
            "(unset: no events; no tag sets it: a tag would let whoever may tag a target "
            "group choose where tgsync tells of your targets)", parse_event_bus,
            flag="--event-bus", metavar="NAME|ARN", cfn="ChangeEventBus", cdk="event_bus"),
)

BY_KEY: dict[str, Setting] = {s.key: s for s in SETTINGS}
BY_ENV: dict[str, Setting] = {s.env: s for s in SETTINGS}


def setting(key: str) -> Setting:
    """The setting named ``key``."""
    return BY_KEY[key]


def mapping_settings() -> Iterator[Setting]:
    """The settings a mapping may carry, hostname and group excluded."""
    return (s for s in SETTINGS
            if s.scope == "mapping" and s.key not in ("hostname", "target_group_arn"))


def tag_settings() -> Iterator[Setting]:
    """The settings a discovered group's tags may override."""
    return (s for s in SETTINGS if s.tag is not None)


def shown(item: Setting) -> str:
    """The default as the docs and the stack write it (empty: none)."""
    if item.shown_default is not None:
        return item.shown_default
    if item.default is None:
        return ""
    if isinstance(item.default, float) and item.default.is_integer():
        return str(int(item.default))
    return str(getattr(item.default, "value", item.default))
