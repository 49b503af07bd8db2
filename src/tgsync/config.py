"""Configuration: environment variable names, parsing and validation.

Every setting is an environment variable; the CLI's flags feed the same names into
the same parser, so there is one set of rules and one set of error messages. Every
problem is collected and reported at once, each naming the setting, the bad value
and the fix. A problem inside one entry of ``TGSYNC_MAPPINGS`` fails that mapping
alone; the others still sync.

Environment variables
---------------------
``TGSYNC_HOSTNAME`` (or the original ``DomainEndpoint``)
    Name to resolve. ``https://name/``, ``name:443`` and a trailing dot are accepted.
``TGSYNC_TARGET_GROUP_ARN`` (or the original ``AlbTargetGroupId``)
    ARN of an ELBv2 target group of type ``ip``.
``AlbId`` (original, optional)
    Load balancer ARN or name; a warning is logged once per cold start when the
    target group is not attached to it.
``TGSYNC_PORT``
    Port to register targets on (default: the target group's own port).
``TGSYNC_DNS_SERVERS``
    Comma-separated ``host``, ``host:port`` or ``[ipv6]:port`` (default: system resolver).
``TGSYNC_LOOKUPS``
    DNS queries per cycle whose answers are united (default 3; stops early once an
    answer repeats).
``TGSYNC_STALE_AFTER``
    Seconds an IP must be missing from DNS before a still-healthy target is retired
    (default 180).
``TGSYNC_ALLOWED_CIDRS``
    Comma-separated networks answers must fall in (default RFC 1918, RFC 6598, ULA).
``TGSYNC_POLICY``
    ``sync`` (default) or ``upsert-only`` (register, never retire).
``TGSYNC_DRY_RUN``
    ``true`` to plan and report without changing anything.
``TGSYNC_MAPPINGS``
    JSON list of objects with the keys in :data:`MAPPING_KEYS`; the single-mapping
    variables above are the shorthand for a list of one.
``TGSYNC_CONCURRENCY``
    Target groups synced in parallel (default 4).
``TGSYNC_API_RATE``
    ELB API calls per second across all mappings (default 8, bursts of up to 20), to
    stay inside the account's ELB throttling budget.
``TGSYNC_RESYNC_EVERY``
    Seconds after which a settled group is read again even if nothing changed in DNS
    (default 300; ``0`` reads every group every cycle). See :mod:`tgsync.resync`.
``TGSYNC_DISCOVER``
    ``tags`` to also keep every ``ip`` target group of the region that carries the tag
    ``tgsync:hostname`` (see :mod:`tgsync.discovery`); unset or ``off``: only the
    configured mappings.
``TGSYNC_OWNER``
    With discovery: manage only groups tagged ``tgsync:owner`` with this value
    (unset: only groups with no ``tgsync:owner`` tag).
``TGSYNC_DISCOVER_EVERY``
    Seconds between discovery reads (default 300; every cold start reads too).
``TGSYNC_FOLLOW_INTERVAL``
    While a mapping moves (something registered, retired or pending), seconds between
    the follow-up cycles the same invocation runs for it (default 10; ``0``: off).
    See :mod:`tgsync.follow`.
``TGSYNC_FOLLOW_FOR``
    Seconds after a mapping's last change (or event) that it is still followed while
    something stays pending (default 120).
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from tgsync.arn import TargetGroupArn, target_group_name
from tgsync.errors import ConfigError
from tgsync.guard import DEFAULT_ALLOWED_CIDRS, IPNetwork, parse_networks
from tgsync.plan import Policy
from tgsync.source import Nameserver

HOSTNAME = "TGSYNC_HOSTNAME"
TARGET_GROUP_ARN = "TGSYNC_TARGET_GROUP_ARN"
PORT = "TGSYNC_PORT"
DNS_SERVERS = "TGSYNC_DNS_SERVERS"
LOOKUPS = "TGSYNC_LOOKUPS"
STALE_AFTER = "TGSYNC_STALE_AFTER"
ALLOWED_CIDRS = "TGSYNC_ALLOWED_CIDRS"
POLICY = "TGSYNC_POLICY"
DRY_RUN = "TGSYNC_DRY_RUN"
MAPPINGS = "TGSYNC_MAPPINGS"
CONCURRENCY = "TGSYNC_CONCURRENCY"
API_RATE = "TGSYNC_API_RATE"
DISCOVER = "TGSYNC_DISCOVER"
RESYNC_EVERY = "TGSYNC_RESYNC_EVERY"
OWNER = "TGSYNC_OWNER"
DISCOVER_EVERY = "TGSYNC_DISCOVER_EVERY"
FOLLOW_INTERVAL = "TGSYNC_FOLLOW_INTERVAL"
FOLLOW_FOR = "TGSYNC_FOLLOW_FOR"
# The original Go function's names keep working.
LEGACY_HOSTNAME = "DomainEndpoint"
LEGACY_TARGET_GROUP_ARN = "AlbTargetGroupId"
ALB_ID = "AlbId"

DEFAULT_LOOKUPS = 3
MAX_LOOKUPS = 10
DEFAULT_STALE_AFTER = 180.0
MAX_STALE_AFTER = 7 * 24 * 3600.0
DEFAULT_CONCURRENCY = 4
MAX_CONCURRENCY = 32
DEFAULT_API_RATE = 8.0
MAX_API_RATE = 100.0
MAX_HOSTNAME_LENGTH = 253  # RFC 1035, without the trailing dot
MAX_MAPPINGS = 1000
DEFAULT_DISCOVER_EVERY = 300.0
DEFAULT_RESYNC_EVERY = 300.0
MAX_RESYNC_EVERY = 3600.0
MAX_DISCOVER_EVERY = 86_400.0
DEFAULT_FOLLOW_INTERVAL = 10.0
MAX_FOLLOW_INTERVAL = 60.0  # slower than the schedule's tick would never follow
DEFAULT_FOLLOW_FOR = 120.0
MAX_FOLLOW_FOR = 3600.0

#: Keys an entry of TGSYNC_MAPPINGS may have; anything else is a typo and an error.
MAPPING_KEYS = (
    "hostname", "target_group_arn", "port", "dns_servers", "lookups",
    "stale_after", "allowed_cidrs", "policy", "alb_id",
)

_LABEL = re.compile(r"^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class MappingConfig:
    """One hostname kept in one target group, with all its settings resolved."""

    hostname: str
    target_group_arn: str
    port: int | None = None
    dns_servers: tuple[Nameserver, ...] = ()
    lookups: int = DEFAULT_LOOKUPS
    stale_after: float = DEFAULT_STALE_AFTER
    allowed_cidrs: tuple[IPNetwork, ...] = field(
        default_factory=lambda: parse_networks(DEFAULT_ALLOWED_CIDRS)
    )
    policy: Policy = Policy.SYNC
    alb_id: str | None = None
    #: Where the user wrote it: ``TGSYNC_MAPPINGS[2]``, the single-mapping variable, or
    #: the tags of a discovered group.
    source: str = HOSTNAME
    #: Where each setting came from, for ``tgsync plan``: (setting, origin) pairs.
    origins: tuple[tuple[str, str], ...] = ()

    @property
    def target_group_name(self) -> str:
        """The target group's name, from its ARN."""
        return target_group_name(self.target_group_arn)

    @property
    def label(self) -> str:
        """A short name for logs and tables: ``hostname -> target-group-name``."""
        return f"{self.hostname} -> {self.target_group_name}"


@dataclass(frozen=True)
class InvalidMapping:
    """An entry of TGSYNC_MAPPINGS that cannot be used; it fails alone."""

    index: int
    label: str
    problems: tuple[str, ...]
    target_group_arn: str = ""


@dataclass(frozen=True)
class Discovery:
    """Discovery by tags: whose groups, how often, and the defaults tags override."""

    owner: str | None = None
    every: float = DEFAULT_DISCOVER_EVERY
    region: str = ""
    defaults: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class Config:
    """The whole, validated configuration of one process."""

    mappings: tuple[MappingConfig, ...]
    invalid: tuple[InvalidMapping, ...] = ()
    dry_run: bool = False
    concurrency: int = DEFAULT_CONCURRENCY
    api_rate: float = DEFAULT_API_RATE
    discovery: Discovery | None = None
    resync_every: float = DEFAULT_RESYNC_EVERY
    follow_interval: float = DEFAULT_FOLLOW_INTERVAL
    follow_for: float = DEFAULT_FOLLOW_FOR


# --------------------------------------------------------------------------- values


def normalize_hostname(raw: str) -> str:
    """Turn what users paste (URL, ``name:port``, trailing dot) into a bare hostname."""
    text = raw.strip()
    if not text:
        raise ValueError("is empty; set it to a hostname such as vpc-logs-abc123.eu-west-1"
                         ".es.amazonaws.com")
    if "://" in text:
        parts = urlsplit(text)
        if parts.scheme not in ("http", "https"):
            raise ValueError(f"{raw!r} has scheme {parts.scheme!r}; give a bare hostname "
                             "or an https:// URL")
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
        raise ValueError(f"{raw!r} is an IP address, not a hostname; register it in the "
                         "target group directly")
    labels_ok = all(_LABEL.match(label) for label in text.split("."))
    if not text or len(text) > MAX_HOSTNAME_LENGTH or not labels_ok:
        raise ValueError(f"{raw!r} is not a valid hostname; use letters, digits and hyphens "
                         "(punycode for international names), e.g. vpc-logs-abc123.eu-west-1"
                         ".es.amazonaws.com")
    return text


def parse_arn(raw: str) -> str:
    """Check a target group ARN (any partition botocore knows) and return it stripped."""
    TargetGroupArn.parse(raw)
    return raw.strip()


def parse_int(raw: Any, low: int, high: int) -> int:
    """A whole number in ``[low, high]``."""
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise ValueError(f"{raw!r} is not a whole number; give one from {low} to {high}")
    try:
        value = int(str(raw).strip(), 10)
    except ValueError:
        raise ValueError(f"{raw!r} is not a whole number; give one from {low} to {high}") from None
    if not low <= value <= high:
        raise ValueError(f"{value} is out of range; give a whole number from {low} to {high}")
    return value


def parse_seconds(raw: Any, high: float) -> float:
    """A finite number of seconds in ``[0, high]``."""
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise ValueError(f"{raw!r} is not a number of seconds; give one from 0 to {high:.0f}")
    try:
        value = float(str(raw).strip())
    except ValueError:
        raise ValueError(f"{raw!r} is not a number of seconds; give one from 0 to "
                         f"{high:.0f}") from None
    if not 0 <= value <= high:  # also rejects nan and inf
        raise ValueError(f"{raw!r} is out of range; give seconds from 0 to {high:.0f}")
    return value


def parse_rate(raw: Any) -> float:
    """API calls per second: a number above 0 and at most 100."""
    try:
        value = float(str(raw).strip())
    except ValueError:
        raise ValueError(f"{raw!r} is not a number; give calls per second, e.g. 8") from None
    if not 0 < value <= MAX_API_RATE:
        raise ValueError(f"{raw!r} is out of range; give calls per second above 0, at most "
                         f"{MAX_API_RATE:.0f}")
    return value


def parse_bool(raw: Any) -> bool:
    """``true``/``false`` and the usual spellings."""
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"{raw!r} is not a boolean; use true or false")


_TAG_VALUE = re.compile(r"^[\w\s+\-=.:/@]{1,256}$")


def parse_owner(raw: Any) -> str:
    """An owner id: what a ``tgsync:owner`` tag value may hold."""
    text = str(raw).strip()
    if not _TAG_VALUE.match(text):
        raise ValueError(f"{raw!r} cannot be a tag value; use 1 to 256 letters, digits, "
                         "spaces and + - = . _ : / @, e.g. team-search")
    return text


def parse_discover(raw: Any) -> bool:
    """``tags`` turns discovery on; ``off`` or empty leaves it off."""
    text = str(raw).strip().lower()
    if text in ("", "off"):
        return False
    if text == "tags":
        return True
    raise ValueError(f"{raw!r} is not a discovery mode; use tags (or off)")


def parse_policy(raw: Any) -> Policy:
    """``sync`` or ``upsert-only``."""
    text = str(raw).strip().lower()
    try:
        return Policy(text)
    except ValueError:
        choices = ", ".join(p.value for p in Policy)
        raise ValueError(f"{raw!r} is not a policy; use one of: {choices}") from None


def _split_list(raw: Any) -> list[str]:
    if isinstance(raw, list) and all(isinstance(x, str) for x in raw):
        return [x.strip() for x in raw if x.strip()]
    if isinstance(raw, str):
        return [x.strip() for x in raw.split(",") if x.strip()]
    raise ValueError(f"{raw!r} is not a list; give a comma-separated string or a JSON list")


def parse_nameservers(raw: Any) -> tuple[Nameserver, ...]:
    """``host``, ``host:port``, ``ipv6`` or ``[ipv6]:port``, comma-separated."""
    servers = []
    for item in _split_list(raw):
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
    networks = parse_networks(_split_list(raw))
    if not networks:
        raise ValueError("lists no network; unset it for the default private ranges")
    return networks


# --------------------------------------------------------------------------- loading

#: Per-mapping settings: (JSON key, environment variable, parser).
_MAPPING_SETTINGS: tuple[tuple[str, str, Callable[[Any], Any]], ...] = (
    ("port", PORT, lambda v: parse_int(v, 1, 65535)),
    ("dns_servers", DNS_SERVERS, parse_nameservers),
    ("lookups", LOOKUPS, lambda v: parse_int(v, 1, MAX_LOOKUPS)),
    ("stale_after", STALE_AFTER, lambda v: parse_seconds(v, MAX_STALE_AFTER)),
    ("allowed_cidrs", ALLOWED_CIDRS, parse_cidrs),
    ("policy", POLICY, parse_policy),
)


class _Problems:
    """Collects problems so that all of them are reported at once."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def parse(self, name: str, raw: Any, parser: Callable[[Any], Any]) -> Any:
        try:
            return parser(raw)
        except ValueError as exc:
            self.items.append(f"{name}: {exc}")
            return None


def _env(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    return value if value is not None and value.strip() != "" else None


def _either(env: Mapping[str, str], new: str, old: str, problems: _Problems) -> str | None:
    value_new, value_old = _env(env, new), _env(env, old)
    if value_new and value_old and value_new.strip() != value_old.strip():
        problems.items.append(f"{new} and {old} are both set, to different values "
                              f"({value_new!r}, {value_old!r}); keep only {new}")
    return value_new or value_old


def _defaults(env: Mapping[str, str], problems: _Problems) -> dict[str, Any]:
    """Global per-mapping defaults from the environment."""
    defaults: dict[str, Any] = {}
    for key, name, parser in _MAPPING_SETTINGS:
        raw = _env(env, name)
        if raw is not None:
            defaults[key] = problems.parse(name, raw, parser)
    if (alb := _env(env, ALB_ID)) is not None:
        defaults["alb_id"] = alb.strip()
    return defaults


def _mapping_from_json(
    index: int, entry: Any, defaults: dict[str, Any]
) -> MappingConfig | InvalidMapping:
    where = f"{MAPPINGS}[{index}]"
    if not isinstance(entry, dict):
        return InvalidMapping(index, where, (f"{where}: is {type(entry).__name__}, not an "
                                             "object with hostname and target_group_arn",))
    problems = _Problems()
    unknown = sorted(set(entry) - set(MAPPING_KEYS))
    if unknown:
        problems.items.append(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: "
                              + ", ".join(MAPPING_KEYS))
    values = dict(defaults)
    for key, _, parser in _MAPPING_SETTINGS:
        if key in entry:
            values[key] = problems.parse(f"{where}.{key}", entry[key], parser)
    hostname = _required(problems, where, entry, "hostname", normalize_hostname)
    arn = _required(problems, where, entry, "target_group_arn", parse_arn)
    if "alb_id" in entry:
        if isinstance(entry["alb_id"], str):
            values["alb_id"] = entry["alb_id"].strip() or None
        else:
            problems.items.append(f"{where}.alb_id: must be a string (ARN or name)")
    label = f"{where} ({hostname or entry.get('hostname', '?')})"
    if problems.items or hostname is None or arn is None:
        return InvalidMapping(index, label, tuple(problems.items))
    return MappingConfig(hostname=hostname, target_group_arn=arn, source=where,
                         **_present(values))


def _required(problems: _Problems, where: str, entry: dict[str, Any], key: str,
              parser: Callable[[str], str]) -> str | None:
    """A required string key of a mapping entry, parsed; one problem at most."""
    value = entry.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        problems.items.append(f"{where}.{key}: missing; every mapping needs hostname and "
                              "target_group_arn")
        return None
    if not isinstance(value, str):
        problems.items.append(f"{where}.{key}: must be a string, not {type(value).__name__} "
                              f"({value!r})")
        return None
    result: str | None = problems.parse(f"{where}.{key}", value, parser)
    return result


def _present(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def load(env: Mapping[str, str]) -> Config:
    """Build the configuration from environment variables.

    Raises :class:`ConfigError` listing every problem that affects all mappings.
    Problems confined to one entry of ``TGSYNC_MAPPINGS`` end up in ``Config.invalid``.
    """
    problems = _Problems()
    defaults = _present(_defaults(env, problems))
    dry_run = problems.parse(DRY_RUN, env.get(DRY_RUN, ""), parse_bool)
    concurrency = _setting(env, problems, CONCURRENCY, DEFAULT_CONCURRENCY,
                           lambda v: parse_int(v, 1, MAX_CONCURRENCY))
    api_rate = _setting(env, problems, API_RATE, DEFAULT_API_RATE, parse_rate)
    resync_every = _setting(env, problems, RESYNC_EVERY, DEFAULT_RESYNC_EVERY,
                            lambda v: parse_seconds(v, MAX_RESYNC_EVERY))
    follow_interval = _setting(env, problems, FOLLOW_INTERVAL, DEFAULT_FOLLOW_INTERVAL,
                               lambda v: parse_seconds(v, MAX_FOLLOW_INTERVAL))
    follow_for = _setting(env, problems, FOLLOW_FOR, DEFAULT_FOLLOW_FOR,
                          lambda v: parse_seconds(v, MAX_FOLLOW_FOR))

    discovery = _discovery(env, defaults, problems)
    hostname = _either(env, HOSTNAME, LEGACY_HOSTNAME, problems)
    arn = _either(env, TARGET_GROUP_ARN, LEGACY_TARGET_GROUP_ARN, problems)
    raw_mappings = _env(env, MAPPINGS)
    results: list[MappingConfig | InvalidMapping] = []
    if raw_mappings is not None:
        if hostname or arn:
            problems.items.append(
                f"{MAPPINGS} and the single-mapping variables ({HOSTNAME}/{LEGACY_HOSTNAME}, "
                f"{TARGET_GROUP_ARN}/{LEGACY_TARGET_GROUP_ARN}) are both set; move the single "
                f"mapping into {MAPPINGS} as one more entry"
            )
        results = [_mapping_from_json(index, entry, defaults) for index, entry in
                   enumerate(problems.parse(MAPPINGS, raw_mappings, _parse_mapping_list) or [])]
    elif hostname is None and arn is None and discovery is None:
        problems.items.append(
            f"nothing to sync: set {HOSTNAME} (or {LEGACY_HOSTNAME}) and {TARGET_GROUP_ARN} "
            f"(or {LEGACY_TARGET_GROUP_ARN}), or {MAPPINGS}, or {DISCOVER}=tags"
        )
    elif hostname is not None or arn is not None:
        results.extend(_single_mapping(env, hostname, arn, defaults, problems))

    if problems.items:
        raise ConfigError(problems.items)
    return Config(
        mappings=tuple(r for r in results if isinstance(r, MappingConfig)),
        invalid=tuple(r for r in results if isinstance(r, InvalidMapping)),
        dry_run=bool(dry_run),
        concurrency=concurrency,
        api_rate=api_rate,
        discovery=discovery,
        resync_every=resync_every,
        follow_interval=follow_interval,
        follow_for=follow_for,
    )


def _setting(env: Mapping[str, str], problems: _Problems, name: str, default: Any,
             parser: Callable[[Any], Any]) -> Any:
    """A global setting: its default when unset, parsed (a problem noted) when set."""
    raw = _env(env, name)
    return default if raw is None else problems.parse(name, raw, parser)


def _discovery(env: Mapping[str, str], defaults: dict[str, Any], problems: _Problems
               ) -> Discovery | None:
    """The discovery settings, or ``None`` when discovery is off."""
    if not problems.parse(DISCOVER, env.get(DISCOVER, ""), parse_discover):
        if _env(env, OWNER) is not None:
            problems.items.append(f"{OWNER} is set but {DISCOVER} is not: set {DISCOVER}=tags "
                                  f"or unset {OWNER}")
        return None
    owner = _setting(env, problems, OWNER, None, parse_owner)
    every = _setting(env, problems, DISCOVER_EVERY, DEFAULT_DISCOVER_EVERY,
                     lambda v: parse_seconds(v, MAX_DISCOVER_EVERY))
    region = (_env(env, "AWS_REGION") or _env(env, "AWS_DEFAULT_REGION") or "").strip()
    if not region:
        problems.items.append(f"{DISCOVER}=tags needs the region to look in: set AWS_REGION "
                              "(Lambda sets it) or AWS_DEFAULT_REGION")
    return Discovery(owner=owner, every=every, region=region,
                     defaults=tuple(sorted(defaults.items())))


def _single_mapping(env: Mapping[str, str], hostname: str | None, arn: str | None,
                    defaults: dict[str, Any], problems: _Problems) -> list[MappingConfig]:
    """The mapping the single-mapping variables describe (new or original names)."""
    if hostname is None:
        problems.items.append(f"{HOSTNAME} (or {LEGACY_HOSTNAME}): missing; set the name "
                              "to resolve")
    if arn is None:
        problems.items.append(f"{TARGET_GROUP_ARN} (or {LEGACY_TARGET_GROUP_ARN}): missing; "
                              "set the target group ARN")
    name = HOSTNAME if _env(env, HOSTNAME) else LEGACY_HOSTNAME
    host = problems.parse(name, hostname, normalize_hostname) if hostname else None
    arn_name = TARGET_GROUP_ARN if _env(env, TARGET_GROUP_ARN) else LEGACY_TARGET_GROUP_ARN
    group = problems.parse(arn_name, arn, parse_arn) if arn else None
    if host and group:
        return [MappingConfig(hostname=host, target_group_arn=group, source=name, **defaults)]
    return []


def _parse_mapping_list(raw: str) -> list[Any]:
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"is not valid JSON ({exc.msg} at line {exc.lineno} column "
                         f"{exc.colno}); give a list such as "
                         '[{"hostname": "...", "target_group_arn": "..."}]') from None
    if not isinstance(value, list) or not value:
        raise ValueError("must be a non-empty JSON list of objects with hostname and "
                         "target_group_arn")
    if len(value) > MAX_MAPPINGS:
        raise ValueError(f"has {len(value)} entries; at most {MAX_MAPPINGS} are supported")
    return value


def clashes(mappings: Sequence[MappingConfig], group_port: Callable[[str], int | None]
            ) -> dict[int, str]:
    """Mappings that keep the same target group on the same port, by index, with why.

    Two such mappings would undo each other's work (each treats the other's IPs as
    missing), so every one of them is refused. ``group_port`` gives a group's own port,
    which an unset ``port`` means, or ``None`` when it is not known: then only explicit
    ports are compared.
    """
    by_key: dict[tuple[str, int], list[int]] = {}
    for index, mapping in enumerate(mappings):
        port = mapping.port or group_port(mapping.target_group_arn)
        if port is not None:
            by_key.setdefault((mapping.target_group_arn, port), []).append(index)
    refused: dict[int, str] = {}
    for (_, port), indexes in by_key.items():
        if len(indexes) == 1:
            continue
        where = " and ".join(mappings[i].source for i in indexes)
        name = mappings[indexes[0]].target_group_name
        for index in indexes:
            refused[index] = (
                f"{where} keep the same target group ({name}) on the same port ({port}; an "
                "unset port means the group's own) and would undo each other's work, so "
                "none of them is synced: remove all but one, or give each its own port")
    return refused
