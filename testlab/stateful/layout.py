"""What the lab's world is made of: its addresses, the kinds of target group, the names
DNS answers, and the ten groups every run starts with."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field

from testlab.peers import REGION
from tgsync.ownership import OWNED

START = 1_700_000_000.0
#: The function's own ranges; a tag may only narrow them.
ALLOWED = "10.0.0.0/16"
PREFIX = "tgs-"
OWNER = "team-a"
STALE_AFTER = 180.0
POOL = [f"10.0.{subnet}.{host}" for subnet in (1, 2) for host in range(10, 16)]
#: Answers a poisoned or misconfigured name adds: outside the function's ranges (the
#: first inside a tag's attempt to widen them; the second publicly routable, which ELB
#: refuses to register, by hand too).
POISON = ["10.9.0.5", "198.51.100.7"]
DNS_FAILURES = ["servfail", "refused", "nxdomain", "empty"]
HEALTH = ["healthy", "unhealthy", "initial", "unused", "unavailable"]
FAULTS = ["throttle", "500", "503", "reset", "denied", "not_found", "slow"]
#: How long a "slow" request takes, in simulated seconds: under the function's 5 s read
#: timeout, so it is answered, late (invocations near their deadline: the last seconds'
#: clients, the calls not made).
SLOW_SECONDS = 4.0
CLOCK_STEPS = [3600.0, -600.0, 300.0, 30.0]
#: A static (on-premises) target registered in the owned groups before tgsync owns them.
STATIC = "10.0.3.99"
#: The Aurora cluster's members (data addresses, apart from the OpenSearch pool).
AURORA_IPS = ["10.0.3.11", "10.0.3.12", "10.0.3.13"]
AURORA_PORT = 5432
#: Another cluster's reader endpoint: the same cluster name, another account's (or a
#: typo's) cluster id. No cluster of the lab's account *is* this endpoint, so its group
#: must stay as it is (issue 29, item 1).
ELSEWHERE_ID = "0therc1uster0"
#: The ``retire=all`` group on which another owner's record may appear (issue 29, item 4).
PLANTED_ON = "plain-alpha"
#: Whose health changes, and what hands register or deregister.
HEALTH_IPS = [*POOL, STATIC, *AURORA_IPS]
HAND_IPS = [*POOL, *POISON, STATIC]
#: Hand edits go to the first groups: every OpenSearch one (the Aurora groups' port differs).
HAND_EDITED = 8

#: ARN -> Id -> (Id, port, zone, state): a group's targets as moto holds them.
Snapshot = dict[str, dict[str, tuple[str, int, str | None, str]]]
#: ARN -> key -> value: the groups' tags.
Tags = dict[str, dict[str, str]]


def hostname(name: str) -> str:
    """An OpenSearch VPC endpoint for domain ``name`` (so events can announce it)."""
    return f"vpc-{name}-abc123.{REGION}.es.amazonaws.com"


def inside(ip: str, networks: Iterable[str]) -> bool:
    """True if ``ip`` is in one of ``networks``."""
    address = ipaddress.ip_address(ip)
    return any(address in ipaddress.ip_network(n) for n in networks)


@dataclass
class Group:
    """A target group of the lab: how tgsync should treat it."""

    name: str
    domain: str
    arn: str = ""
    #: explicit | adopted | theirs (another owner) | outside (outside the prefix) | gone
    kind: str = "adopted"
    stale_after: float = STALE_AFTER
    narrowed: tuple[str, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)
    retire: str = "all"
    #: The domains of the other owned mappings that share the group and port.
    also: tuple[str, ...] = ()
    #: The Aurora endpoint the group serves: "writer", "reader" or "elsewhere" (another
    #: cluster's reader endpoint); "": a domain's.
    aurora: str = ""
    port: int = 443

    @property
    def served(self) -> bool:
        """True if tgsync should keep this group."""
        return self.kind in ("explicit", "adopted")

    @property
    def domains(self) -> tuple[str, ...]:
        """The domains of every mapping that keeps the group."""
        return (self.domain, *self.also)


@dataclass
class Name:
    """What DNS serves for one domain's endpoint."""

    records: set[str]
    mode: str = "answer"
    poison: bool = False
    rotate: bool = False

    def answers(self) -> list[str]:
        """Every record the name answers with (a rotation hands out windows of them)."""
        return sorted(self.records) + (POISON if self.poison else [])


def first_groups() -> list[Group]:
    """The groups every run starts with (its own objects: a run changes them)."""
    return [
        Group("plain-alpha", "alpha", kind="explicit"),
        Group("plain-beta", "beta", kind="explicit", stale_after=60.0),
        Group(
            "tgs-logs",
            "logs",
            stale_after=120.0,
            narrowed=("10.0.1.0/24", "10.0.2.0/24"),
            tags={"tgsync:stale-after": "120", "tgsync:allowed-cidrs": "10.0.1.0/24 10.0.2.0/24"},
        ),
        # A tag that tries to widen the function's ranges: it may only narrow.
        Group(
            "tgs-wide", "wide", narrowed=("0.0.0.0/0",), tags={"tgsync:allowed-cidrs": "0.0.0.0/0"}
        ),
        Group("tgs-theirs", "logs", kind="theirs", tags={"tgsync:owner": "team-b"}),
        Group("outside-logs", "logs", kind="outside"),
        # Shared groups: two owned hostnames in one explicit group, and a discovered
        # group that retires only what tgsync registered.
        Group("plain-shared", "gamma", kind="explicit", retire=OWNED, also=("delta",)),
        Group(
            "tgs-owned",
            "epsilon",
            stale_after=120.0,
            retire=OWNED,
            tags={"tgsync:retire": OWNED, "tgsync:stale-after": "120"},
        ),
        # An Aurora cluster's writer (a single-answer name: stale_after 0) and readers
        # (the RDS API: authoritative, so retired at once as well).
        Group(
            "plain-writer",
            "aurora-writer",
            kind="explicit",
            stale_after=0.0,
            aurora="writer",
            port=AURORA_PORT,
        ),
        Group(
            "plain-reader",
            "aurora-reader",
            kind="explicit",
            stale_after=0.0,
            aurora="reader",
            port=AURORA_PORT,
        ),
    ]
