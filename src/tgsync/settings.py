"""Every setting of tgsync, once: its names on every surface, default, bounds and help.

This table is the single source of truth. :mod:`tgsync.config` parses the environment
with it, the CLI builds its flags from it, discovery reads its tag overrides from it,
the CDK construct takes its keywords and checks from it, and the configuration page of
the docs is generated from it. The CloudFormation and SAM templates are checked against
it by a test (defaults, bounds, allowed values). Adding a setting touches this table and
the code that uses it.

Pure: no I/O. The parsers live in :mod:`tgsync.parsers`; each raises ``ValueError``
with a message that names the fix. What a row is lives in :mod:`tgsync.settings_schema`,
the stack's own settings (schedule, memory, ...) in :mod:`tgsync.stack_settings`.
"""

from __future__ import annotations

from collections.abc import Iterator

from tgsync.guard import DEFAULT_ALLOWED_CIDRS, parse_networks
from tgsync.model import Resolve, Retire
from tgsync.parsers import (
    parse_bool,
    parse_choice,
    parse_cidrs,
    parse_discover,
    parse_event_bus,
    parse_exact_choice,
    parse_group_prefix,
    parse_int,
    parse_kms_key,
    parse_nameservers,
    parse_owner,
    parse_policy,
    parse_rate,
    parse_role_arn,
    parse_seconds,
    parse_text,
)
from tgsync.plan import Policy
from tgsync.settings_schema import Setting

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
RESOLVE_CHOICES = tuple(r.value for r in Resolve)
RETIRE_CHOICES = tuple(r.value for r in Retire)
DISCOVER_CHOICES = ("", "tags")


SETTINGS: tuple[Setting, ...] = (
    # -- what to keep (the hostname and group are parsed by tgsync.config itself)
    Setting(
        "hostname",
        "TGSYNC_HOSTNAME",
        "name to resolve",
        parse_text,
        scope="mapping",
        flag="--hostname",
        cfn="Hostname",
        metavar="HOST",
        legacy_env="DomainEndpoint",
    ),
    Setting(
        "target_group_arn",
        "TGSYNC_TARGET_GROUP_ARN",
        "ARN of the ip target group to keep",
        parse_text,
        scope="mapping",
        flag="--target-group-arn",
        metavar="ARN",
        cfn="TargetGroupArn",
        legacy_env="AlbTargetGroupId",
    ),
    Setting(
        "port",
        "TGSYNC_PORT",
        "port to register targets on (default: the target group's own)",
        lambda v: parse_int(v, 1, 65535),
        scope="mapping",
        flag="--port",
        metavar="PORT",
        tag="tgsync:port",
        cfn="Port",
        cdk="port",
        low=1,
        high=65535,
    ),
    Setting(
        "alb_id",
        "TGSYNC_ALB_ID",
        "load balancer ARN or name; a warning when the group is not attached to it",
        parse_text,
        scope="mapping",
        flag="--alb-id",
        metavar="ARN|NAME",
        cfn="AlbId",
        cdk="alb_id",
        legacy_env="AlbId",
    ),
    Setting(
        "mappings",
        "TGSYNC_MAPPINGS",
        "JSON list of {hostname, target_group_arn, ...} "
        "for many groups (or @FILE on the command line)",
        parse_text,
        flag="--mappings",
        metavar="JSON|@FILE",
        cfn="Mappings",
    ),
    # -- how to decide, per mapping
    Setting(
        "dns_servers",
        "TGSYNC_DNS_SERVERS",
        "comma-separated host[:port], IPv6 as [addr]:port (default: the system resolver)",
        parse_nameservers,
        scope="mapping",
        flag="--dns-servers",
        metavar="HOST[:PORT],...",
        cfn="DnsServers",
        cdk="dns_servers",
    ),
    Setting(
        "lookups",
        "TGSYNC_LOOKUPS",
        "DNS queries per cycle whose answers are united (stops early once an answer repeats)",
        lambda v: parse_int(v, 1, MAX_LOOKUPS),
        3,
        scope="mapping",
        flag="--lookups",
        metavar="N",
        tag="tgsync:lookups",
        cfn="Lookups",
        cdk="lookups",
        low=1,
        high=MAX_LOOKUPS,
    ),
    Setting(
        "stale_after",
        "TGSYNC_STALE_AFTER",
        "seconds an IP must be missing from DNS before a still-healthy target is retired",
        lambda v: parse_seconds(v, MAX_STALE_AFTER),
        180.0,
        scope="mapping",
        flag="--stale-after",
        metavar="SECONDS",
        tag="tgsync:stale-after",
        cfn="StaleAfter",
        cdk="stale_after",
        low=0,
        high=MAX_STALE_AFTER,
    ),
    Setting(
        "allowed_cidrs",
        "TGSYNC_ALLOWED_CIDRS",
        "networks DNS answers must fall in (a tag may only narrow them: an answer must pass both)",
        parse_cidrs,
        parse_networks(DEFAULT_ALLOWED_CIDRS),
        scope="mapping",
        flag="--allowed-cidrs",
        metavar="CIDR,...",
        tag="tgsync:allowed-cidrs",
        cfn="AllowedCidrs",
        cdk="allowed_cidrs",
        shown_default=",".join(DEFAULT_ALLOWED_CIDRS),
    ),
    Setting(
        "policy",
        "TGSYNC_POLICY",
        "sync, or upsert-only to register and never retire",
        parse_policy,
        Policy.SYNC,
        scope="mapping",
        flag="--policy",
        metavar="sync|upsert-only",
        tag="tgsync:policy",
        cfn="Policy",
        cdk="policy",
        choices=tuple(p.value for p in Policy),
    ),
    Setting(
        "resolve",
        "TGSYNC_RESOLVE",
        "dns: the hostname's DNS answers; rds: an Aurora or "
        "Multi-AZ DB cluster endpoint's members from the RDS API (each member's instance "
        "endpoint resolved through DNS)",
        lambda v: Resolve(parse_exact_choice(v, RESOLVE_CHOICES)),
        Resolve.DNS,
        scope="mapping",
        flag="--resolve",
        metavar="dns|rds",
        tag="tgsync:resolve",
        cfn="Resolve",
        cdk="resolve",
        choices=RESOLVE_CHOICES,
    ),
    Setting(
        "rds_role_arn",
        "TGSYNC_RDS_ROLE_ARN",
        "with resolve=rds: an IAM role to assume "
        "for the RDS reads, for a cluster in another account (no tag sets it: a tag would "
        "let whoever may tag a target group choose the role tgsync acts as, and so whose "
        "database the group points at)",
        parse_role_arn,
        scope="mapping",
        flag="--rds-role-arn",
        metavar="ARN",
        cfn="RdsRoleArn",
        cdk="rds_role_arn",
    ),
    Setting(
        "retire",
        "TGSYNC_RETIRE",
        "all: retire any target on the port the answer does "
        "not hold; owned: only targets tgsync registered (a shared group)",
        lambda v: Retire(parse_choice(v, RETIRE_CHOICES)),
        Retire.ALL,
        scope="mapping",
        flag="--retire",
        metavar="all|owned",
        tag="tgsync:retire",
        cfn="Retire",
        cdk="retire",
        choices=RETIRE_CHOICES,
    ),
    # -- the whole function
    Setting(
        "dry_run",
        "TGSYNC_DRY_RUN",
        "plan and report, change nothing (an event may turn it on, never off)",
        parse_bool,
        False,
        flag="--dry-run",
        cfn="DryRun",
        cdk="dry_run",
        choices=("true", "false"),
        shown_default="false",
    ),
    Setting(
        "concurrency",
        "TGSYNC_CONCURRENCY",
        "target groups synced in parallel",
        lambda v: parse_int(v, 1, MAX_CONCURRENCY),
        4,
        flag="--concurrency",
        metavar="N",
        cfn="Concurrency",
        cdk="concurrency",
        low=1,
        high=MAX_CONCURRENCY,
    ),
    Setting(
        "api_rate",
        "TGSYNC_API_RATE",
        "ELB API calls per second at most (Describe calls and writes each)",
        lambda v: parse_rate(v, MIN_API_RATE, MAX_API_RATE),
        8.0,
        flag="--api-rate",
        metavar="CALLS/S",
        cfn="ApiRate",
        cdk="api_rate",
        low=MIN_API_RATE,
        high=MAX_API_RATE,
    ),
    Setting(
        "resync_every",
        "TGSYNC_RESYNC_EVERY",
        "seconds after which a settled group is "
        "read again though nothing changed in DNS (0: every group every cycle)",
        lambda v: parse_seconds(v, MAX_RESYNC_EVERY),
        300.0,
        flag="--resync-every",
        metavar="SECONDS",
        cfn="ResyncEvery",
        cdk="resync_every",
        low=0,
        high=MAX_RESYNC_EVERY,
    ),
    Setting(
        "discover",
        "TGSYNC_DISCOVER",
        "tags: also keep every ip target group of the region tagged tgsync:hostname",
        parse_discover,
        False,
        flag="--discover",
        metavar="tags|off",
        cfn="Discover",
        cdk="discover",
        choices=DISCOVER_CHOICES,
        shown_default="",
    ),
    Setting(
        "owner",
        "TGSYNC_OWNER",
        "with discovery: manage only groups tagged tgsync:owner "
        "with this value (unset: only groups with no owner tag)",
        parse_owner,
        flag="--owner",
        metavar="OWNER",
        cfn="Owner",
        cdk="owner",
    ),
    Setting(
        "discover_prefix",
        "TGSYNC_DISCOVER_PREFIX",
        "with discovery (required): adopt "
        "only groups whose name starts with this, a scope no tag can change; * adopts any "
        "group that carries the tag, so that anyone who may tag a group can hand it over",
        parse_group_prefix,
        "",
        flag="--discover-prefix",
        metavar="PREFIX",
        cfn="DiscoverPrefix",
        cdk="discover_prefix",
        shown_default="",
    ),
    Setting(
        "discover_every",
        "TGSYNC_DISCOVER_EVERY",
        "seconds between discovery reads (every cold start reads too)",
        lambda v: parse_seconds(v, MAX_DISCOVER_EVERY, MIN_DISCOVER_EVERY),
        300.0,
        flag="--discover-every",
        metavar="SECONDS",
        cfn="DiscoverEvery",
        cdk="discover_every",
        low=MIN_DISCOVER_EVERY,
        high=MAX_DISCOVER_EVERY,
    ),
    Setting(
        "outside_vpc",
        "TGSYNC_OUTSIDE_VPC",
        "allow: register answers outside the group's "
        "VPC (peered or on-premises hosts) with zone all; refuse: report them",
        lambda v: parse_choice(v, OUTSIDE_VPC_CHOICES) == "allow",
        False,
        flag="--outside-vpc",
        metavar="refuse|allow",
        cfn="OutsideVpc",
        cdk="outside_vpc",
        choices=OUTSIDE_VPC_CHOICES,
        shown_default="refuse",
    ),
    Setting(
        "follow_interval",
        "TGSYNC_FOLLOW_INTERVAL",
        "while a mapping moves, seconds between the follow-up cycles of one invocation (0: off)",
        lambda v: parse_seconds(v, MAX_FOLLOW_INTERVAL, MIN_FOLLOW_INTERVAL, zero_ok=True),
        10.0,
        flag="--follow-interval",
        metavar="SECONDS",
        cfn="FollowInterval",
        cdk="follow_interval",
        low=0,
        high=MAX_FOLLOW_INTERVAL,
    ),
    Setting(
        "follow_for",
        "TGSYNC_FOLLOW_FOR",
        "seconds after a mapping's last change (or "
        "event) that it is followed while something stays pending",
        lambda v: parse_seconds(v, MAX_FOLLOW_FOR),
        120.0,
        flag="--follow-for",
        metavar="SECONDS",
        cfn="FollowFor",
        cdk="follow_for",
        low=0,
        high=MAX_FOLLOW_FOR,
    ),
    Setting(
        "record_key",
        "TGSYNC_RECORD_KEY",
        "a KMS HMAC key (HMAC_256, GENERATE_VERIFY_MAC) "
        "that signs tgsync's ownership records: a record without its valid MAC is never "
        "trusted (no tag sets it: the key is what tags cannot forge)",
        parse_kms_key,
        flag="--record-key",
        metavar="KEY",
        cfn="RecordKey",
        cdk="record_key",
    ),
    Setting(
        "event_bus",
        "TGSYNC_EVENT_BUS",
        "an EventBridge event bus (name or ARN) that gets "
        "an event for every registration, retirement, refusal and foreign target seen "
        "(unset: no events; no tag sets it: a tag would let whoever may tag a target "
        "group choose where tgsync tells of your targets)",
        parse_event_bus,
        flag="--event-bus",
        metavar="NAME|ARN",
        cfn="ChangeEventBus",
        cdk="event_bus",
    ),
)

BY_KEY: dict[str, Setting] = {s.key: s for s in SETTINGS}
BY_ENV: dict[str, Setting] = {s.env: s for s in SETTINGS}


def setting(key: str) -> Setting:
    """The setting named ``key``."""
    return BY_KEY[key]


def legacy_settings() -> Iterator[Setting]:
    """The settings the original Go function named otherwise, still read under that
    name (``DomainEndpoint``, ``AlbTargetGroupId``, ``AlbId``)."""
    return (s for s in SETTINGS if s.legacy_env is not None)


def mapping_settings() -> Iterator[Setting]:
    """The settings a mapping may carry, hostname and group excluded."""
    return (
        s
        for s in SETTINGS
        if s.scope == "mapping" and s.key not in ("hostname", "target_group_arn")
    )


def tag_settings() -> Iterator[Setting]:
    """The settings a discovered group's tags may override."""
    return (s for s in SETTINGS if s.tag is not None)
