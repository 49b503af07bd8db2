"""The configuration's values: a mapping (one hostname kept in one target group), the
discovery settings, the whole configuration of a process. Plain frozen values; how they
are read from an environment is :mod:`tgsync.config`'s work, their defaults are the
settings table's (:mod:`tgsync.settings`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tgsync.arn import target_group_name
from tgsync.guard import DEFAULT_ALLOWED_CIDRS, IPNetwork, parse_networks
from tgsync.model import EventBus, Nameserver, Resolve, Retire
from tgsync.plan import Policy
from tgsync.settings import setting

__all__ = [
    "DEFAULT_API_RATE",
    "DEFAULT_CONCURRENCY",
    "DEFAULT_DISCOVER_EVERY",
    "DEFAULT_FOLLOW_FOR",
    "DEFAULT_FOLLOW_INTERVAL",
    "DEFAULT_LOOKUPS",
    "DEFAULT_RESYNC_EVERY",
    "DEFAULT_STALE_AFTER",
    "EVERY_GROUP",
    "Config",
    "Discovery",
    "InvalidMapping",
    "MappingConfig",
]

DEFAULT_LOOKUPS: int = setting("lookups").default
DEFAULT_STALE_AFTER: float = setting("stale_after").default
DEFAULT_CONCURRENCY: int = setting("concurrency").default
DEFAULT_API_RATE: float = setting("api_rate").default
DEFAULT_DISCOVER_EVERY: float = setting("discover_every").default
DEFAULT_RESYNC_EVERY: float = setting("resync_every").default
DEFAULT_FOLLOW_INTERVAL: float = setting("follow_interval").default
DEFAULT_FOLLOW_FOR: float = setting("follow_for").default
HOSTNAME = setting("hostname").env


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
    #: ``dns`` (the hostname's answers) or ``rds`` (a cluster endpoint's members).
    resolve: Resolve = Resolve.DNS
    #: With ``resolve=rds``: the role to read the cluster as (a cluster in another
    #: account); ``None``: the function's own account.
    rds_role_arn: str | None = None
    #: ``all`` (every target on the port is ours) or ``owned`` (only what tgsync
    #: registered: a shared group).
    retire: Retire = Retire.ALL
    #: Ranges a discovered group's ``tgsync:allowed-cidrs`` tag narrows the function's to:
    #: an answer must fall in ``allowed_cidrs`` *and* in one of these (empty: no tag).
    narrowed_cidrs: tuple[IPNetwork, ...] = ()
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


#: ``TGSYNC_DISCOVER_PREFIX=*``: discovery may adopt any group of the region that carries
#: the tag, chosen explicitly (whoever may tag a group can then hand it to tgsync).
EVERY_GROUP = "*"


@dataclass(frozen=True)
class Discovery:
    """Discovery by tags: whose groups, how often, and the defaults tags override."""

    owner: str | None = None
    #: Only groups whose name starts with this are adopted (``*``: every name, a choice
    #: the deployer made explicitly: see :data:`EVERY_GROUP`).
    prefix: str = EVERY_GROUP
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
    #: Register answers outside the group's VPC (with zone ``all``) instead of refusing.
    outside_vpc: bool = False
    #: The KMS key that signs the ownership records (``None``: records are trusted as
    #: written: see :mod:`tgsync.ownership`).
    record_key: str | None = None
    #: Where an event for every change goes (``None``: no events).
    event_bus: EventBus | None = None
