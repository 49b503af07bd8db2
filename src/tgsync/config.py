"""Configuration: environment variable names, parsing and validation.

Every setting is an environment variable; the CLI's flags feed the same names into
the same parser, so there is one set of rules and one set of error messages. Every
problem is collected and reported at once, each naming the setting, the bad value
and the fix. A problem inside one entry of ``TGSYNC_MAPPINGS`` fails that mapping
alone; the others still sync.

Every setting, its name on each surface, default, bounds and help live once, in
:mod:`tgsync.settings`; this module applies them to an environment. The names of the
environment variables are kept here as constants for the code that reads them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from tgsync.errors import ConfigError
from tgsync.mapping import (
    DEFAULT_API_RATE,
    DEFAULT_CONCURRENCY,
    DEFAULT_DISCOVER_EVERY,
    DEFAULT_FOLLOW_FOR,
    DEFAULT_FOLLOW_INTERVAL,
    DEFAULT_LOOKUPS,
    DEFAULT_RESYNC_EVERY,
    DEFAULT_STALE_AFTER,
    EVERY_GROUP,
    Config,
    Discovery,
    InvalidMapping,
    MappingConfig,
)
from tgsync.model import EventBus, Resolve
from tgsync.parsers import (
    normalize_hostname,
    parse_arn,
    parse_bool,
    parse_cidrs,
    parse_int,
    parse_nameservers,
    parse_owner,
    parse_policy,
    parse_seconds,
)
from tgsync.settings import MAX_LOOKUPS, MAX_STALE_AFTER, mapping_settings, setting
from tgsync.source import rds_problem, stale_problem

__all__ = [  # the parsers and the values other modules use are re-exported from here
    "DEFAULT_API_RATE",
    "DEFAULT_CONCURRENCY",
    "DEFAULT_DISCOVER_EVERY",
    "DEFAULT_FOLLOW_FOR",
    "DEFAULT_FOLLOW_INTERVAL",
    "DEFAULT_LOOKUPS",
    "DEFAULT_RESYNC_EVERY",
    "DEFAULT_STALE_AFTER",
    "EVERY_GROUP",
    "MAX_LOOKUPS",
    "MAX_STALE_AFTER",
    "Config",
    "Discovery",
    "InvalidMapping",
    "MappingConfig",
    "parse_bool",
    "parse_cidrs",
    "parse_int",
    "parse_nameservers",
    "parse_owner",
    "parse_policy",
    "parse_seconds",
]

HOSTNAME = setting("hostname").env
TARGET_GROUP_ARN = setting("target_group_arn").env
PORT = setting("port").env
DNS_SERVERS = setting("dns_servers").env
LOOKUPS = setting("lookups").env
STALE_AFTER = setting("stale_after").env
ALLOWED_CIDRS = setting("allowed_cidrs").env
POLICY = setting("policy").env
DRY_RUN = setting("dry_run").env
MAPPINGS = setting("mappings").env
CONCURRENCY = setting("concurrency").env
API_RATE = setting("api_rate").env
DISCOVER = setting("discover").env
RESYNC_EVERY = setting("resync_every").env
OWNER = setting("owner").env
DISCOVER_PREFIX = setting("discover_prefix").env
DISCOVER_EVERY = setting("discover_every").env
OUTSIDE_VPC = setting("outside_vpc").env
FOLLOW_INTERVAL = setting("follow_interval").env
FOLLOW_FOR = setting("follow_for").env
EVENT_BUS = setting("event_bus").env
# The original Go function's names keep working.
LEGACY_HOSTNAME: str = setting("hostname").legacy_env or ""
LEGACY_TARGET_GROUP_ARN: str = setting("target_group_arn").legacy_env or ""
ALB_ID = setting("alb_id").env

MAX_MAPPINGS = 1000

#: Keys an entry of TGSYNC_MAPPINGS may have; anything else is a typo and an error.
MAPPING_KEYS = ("hostname", "target_group_arn", *(s.key for s in mapping_settings()))

# --------------------------------------------------------------------------- loading


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
        problems.items.append(
            f"{new} and {old} are both set, to different values "
            f"({value_new!r}, {value_old!r}); keep only {new}"
        )
    return value_new or value_old


def _defaults(env: Mapping[str, str], problems: _Problems) -> dict[str, Any]:
    """Global per-mapping defaults from the environment."""
    defaults: dict[str, Any] = {}
    for item in mapping_settings():
        raw = (
            _either(env, item.env, item.legacy_env, problems)
            if item.legacy_env
            else _env(env, item.env)
        )
        if item.key == "alb_id":  # any text: an ARN or a name
            if raw is not None:
                defaults["alb_id"] = raw.strip()
            continue
        if raw is not None:
            defaults[item.key] = problems.parse(item.env, raw, item.parse)
    return defaults


def _mapping_from_json(
    index: int, entry: Any, defaults: dict[str, Any]
) -> MappingConfig | InvalidMapping:
    where = f"{MAPPINGS}[{index}]"
    if not isinstance(entry, dict):
        return InvalidMapping(
            index,
            where,
            (
                f"{where}: is {type(entry).__name__}, not an "
                "object with hostname and target_group_arn",
            ),
        )
    problems = _Problems()
    unknown = sorted(set(entry) - set(MAPPING_KEYS))
    if unknown:
        problems.items.append(
            f"{where}: unknown key(s) {', '.join(unknown)}; allowed: " + ", ".join(MAPPING_KEYS)
        )
    values = dict(defaults)
    for item in mapping_settings():
        if item.key in entry and item.key != "alb_id":
            values[item.key] = problems.parse(f"{where}.{item.key}", entry[item.key], item.parse)
    hostname = _required(problems, where, entry, "hostname", normalize_hostname)
    arn = _required(problems, where, entry, "target_group_arn", parse_arn)
    if "alb_id" in entry:
        if isinstance(entry["alb_id"], str):
            values["alb_id"] = entry["alb_id"].strip() or None
        else:
            problems.items.append(f"{where}.alb_id: must be a string (ARN or name)")
    label = f"{where} ({hostname or entry.get('hostname', '?')})"
    if hostname and (rds := rds_problem(hostname, values.get("resolve"))):
        problems.items.append(f"{where}.resolve: {rds}")
    if hostname and (
        stale := stale_problem(
            hostname, values.get("resolve"), values.get("stale_after", DEFAULT_STALE_AFTER)
        )
    ):
        problems.items.append(f"{where}.stale_after: {stale}")
    if "rds_role_arn" in entry and values.get("resolve") is not Resolve.RDS:
        problems.items.append(
            f"{where}.rds_role_arn: applies to resolve=rds only (the RDS "
            'reads); add "resolve": "rds" or drop rds_role_arn'
        )
    if problems.items or hostname is None or arn is None:
        return InvalidMapping(index, label, tuple(problems.items))
    return MappingConfig(hostname=hostname, target_group_arn=arn, source=where, **_present(values))


def _required(
    problems: _Problems, where: str, entry: dict[str, Any], key: str, parser: Callable[[str], str]
) -> str | None:
    """A required string key of a mapping entry, parsed; one problem at most."""
    value = entry.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        problems.items.append(
            f"{where}.{key}: missing; every mapping needs hostname and target_group_arn"
        )
        return None
    if not isinstance(value, str):
        problems.items.append(
            f"{where}.{key}: must be a string, not {type(value).__name__} ({value!r})"
        )
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

    def function_setting(key: str) -> Any:
        item = setting(key)
        raw = _env(env, item.env)
        return item.default if raw is None else problems.parse(item.env, raw, item.parse)

    values = {
        key: function_setting(key)
        for key in (
            "dry_run",
            "concurrency",
            "api_rate",
            "resync_every",
            "follow_interval",
            "follow_for",
            "outside_vpc",
            "record_key",
        )
    }
    discovery = _discovery(env, defaults, problems)
    event_bus = _event_bus(env, problems)
    results = _mappings(env, defaults, discovery is not None, problems)
    if problems.items:
        raise ConfigError(problems.items)
    return Config(
        mappings=tuple(r for r in results if isinstance(r, MappingConfig)),
        invalid=tuple(r for r in results if isinstance(r, InvalidMapping)),
        discovery=discovery,
        event_bus=event_bus,
        **values,
    )


def _mappings(
    env: Mapping[str, str], defaults: dict[str, Any], discovering: bool, problems: _Problems
) -> list[MappingConfig | InvalidMapping]:
    """The mappings ``TGSYNC_MAPPINGS`` lists, or the single one the hostname and group
    variables name (not both); with neither, discovery must be on."""
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
        results = [
            _mapping_from_json(index, entry, defaults)
            for index, entry in enumerate(
                problems.parse(MAPPINGS, raw_mappings, _parse_mapping_list) or []
            )
        ]
    elif hostname is None and arn is None and not discovering:
        problems.items.append(
            f"nothing to sync: set {HOSTNAME} (or {LEGACY_HOSTNAME}) and {TARGET_GROUP_ARN} "
            f"(or {LEGACY_TARGET_GROUP_ARN}), or {MAPPINGS}, or {DISCOVER}=tags"
        )
    elif hostname is not None or arn is not None:
        results.extend(_single_mapping(env, hostname, arn, defaults, problems))
    return results


def _region(env: Mapping[str, str]) -> str:
    """The process's region, from the environment (Lambda sets ``AWS_REGION``)."""
    return (_env(env, "AWS_REGION") or _env(env, "AWS_DEFAULT_REGION") or "").strip()


def _event_bus(env: Mapping[str, str], problems: _Problems) -> EventBus | None:
    """Where change events go, or ``None`` when ``TGSYNC_EVENT_BUS`` is unset."""
    raw = _env(env, EVENT_BUS)
    bus = None if raw is None else problems.parse(EVENT_BUS, raw, setting("event_bus").parse)
    region = bus.split(":")[3] if bus and bus.startswith("arn:") else _region(env)
    if bus and not region:
        problems.items.append(
            f"{EVENT_BUS}={bus} needs the region of the bus: set "
            "AWS_REGION (Lambda sets it) or AWS_DEFAULT_REGION, or give "
            "the bus's ARN"
        )
    return EventBus(bus, region) if bus and region else None


def _discovery(
    env: Mapping[str, str], defaults: dict[str, Any], problems: _Problems
) -> Discovery | None:
    """The discovery settings, or ``None`` when discovery is off."""
    on = setting("discover")
    if not problems.parse(on.env, env.get(on.env, ""), on.parse):
        for key in ("owner", "discover_prefix"):
            if _env(env, setting(key).env) is not None:
                problems.items.append(
                    f"{setting(key).env} is set but {DISCOVER} is not: set "
                    f"{DISCOVER}=tags or unset {setting(key).env}"
                )
        return None

    def value(key: str) -> Any:
        item = setting(key)
        raw = _env(env, item.env)
        return item.default if raw is None else problems.parse(item.env, raw, item.parse)

    region = _region(env)
    if not region:
        problems.items.append(
            f"{DISCOVER}=tags needs the region to look in: set AWS_REGION "
            "(Lambda sets it) or AWS_DEFAULT_REGION"
        )
    prefix = value("discover_prefix")
    if not prefix:  # a tag alone must never bring in a group the deployer did not choose
        problems.items.append(
            f"{DISCOVER}=tags needs {DISCOVER_PREFIX}: the start of the names of the target "
            "groups this function may adopt (e.g. tgsync-), so that whoever may tag a group "
            "cannot hand tgsync a group you did not choose; or * to adopt any group of the "
            "region that carries the tag (then anyone who may tag a group can)"
        )
    return Discovery(
        owner=value("owner"),
        prefix=prefix or EVERY_GROUP,
        every=value("discover_every"),
        region=region,
        defaults=tuple(sorted(defaults.items())),
    )


def _single_mapping(
    env: Mapping[str, str],
    hostname: str | None,
    arn: str | None,
    defaults: dict[str, Any],
    problems: _Problems,
) -> list[MappingConfig]:
    """The mapping the single-mapping variables describe (new or original names)."""
    if hostname is None:
        problems.items.append(
            f"{HOSTNAME} (or {LEGACY_HOSTNAME}): missing; set the name to resolve"
        )
    if arn is None:
        problems.items.append(
            f"{TARGET_GROUP_ARN} (or {LEGACY_TARGET_GROUP_ARN}): missing; set the target group ARN"
        )
    name = HOSTNAME if _env(env, HOSTNAME) else LEGACY_HOSTNAME
    host = problems.parse(name, hostname, normalize_hostname) if hostname else None
    arn_name = TARGET_GROUP_ARN if _env(env, TARGET_GROUP_ARN) else LEGACY_TARGET_GROUP_ARN
    group = problems.parse(arn_name, arn, parse_arn) if arn else None
    if host and (rds := rds_problem(host, defaults.get("resolve"))):
        problems.items.append(f"{setting('resolve').env} (mapping {name}): {rds}")
    elif host and (
        stale := stale_problem(
            host, defaults.get("resolve"), defaults.get("stale_after", DEFAULT_STALE_AFTER)
        )
    ):
        problems.items.append(f"{setting('stale_after').env} (mapping {name}): {stale}")
    elif host and group:
        return [MappingConfig(hostname=host, target_group_arn=group, source=name, **defaults)]
    return []


def _parse_mapping_list(raw: str) -> list[Any]:
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"is not valid JSON ({exc.msg} at line {exc.lineno} column "
            f"{exc.colno}); give a list such as "
            '[{"hostname": "...", "target_group_arn": "..."}]'
        ) from None
    if not isinstance(value, list) or not value:
        raise ValueError(
            "must be a non-empty JSON list of objects with hostname and target_group_arn"
        )
    if len(value) > MAX_MAPPINGS:
        raise ValueError(f"has {len(value)} entries; at most {MAX_MAPPINGS} are supported")
    return value
