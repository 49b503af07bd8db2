"""Plain value types shared by every stage: targets and their health, target groups,
what discovery sees, nameservers."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class Resolve(StrEnum):
    """Where a mapping's desired IPs come from (``TGSYNC_RESOLVE``)."""

    #: The hostname's DNS answers.
    DNS = "dns"
    #: An Aurora or Multi-AZ DB cluster endpoint's members, from the RDS API.
    RDS = "rds"


class Retire(StrEnum):
    """Which targets a mapping may retire (``TGSYNC_RETIRE``)."""

    #: Any target on the port its answer does not hold.
    ALL = "all"
    #: Only the targets tgsync registered for it (a shared group).
    OWNED = "owned"


#: States in which the load balancer does not send traffic to a target, so that a
#: target missing from DNS can be retired at once.
NOT_SERVING_STATES = frozenset({"unhealthy", "unhealthy.draining", "unused", "unavailable"})
#: The target is already leaving the group.
DRAINING_STATES = frozenset({"draining"})


@dataclass(frozen=True, slots=True)
class Target:
    """A registered target on one port, with its health as ELB reports it."""

    ip: str
    port: int
    state: str = "unknown"
    reason: str | None = None
    availability_zone: str | None = None
    #: The Id exactly as ELB reported it, when it differs from the canonical ``ip``
    #: (an IPv6 address registered as ``2001:0db8::1``); calls about it must use it.
    elb_id: str | None = None

    @property
    def id(self) -> str:
        """The Id to send to ELB for this target."""
        return self.elb_id or self.ip

    @property
    def is_draining(self) -> bool:
        """True while deregistration is in progress."""
        return self.state in DRAINING_STATES

    @property
    def is_not_serving(self) -> bool:
        """True when ELB says the target takes no traffic; false when health is unknown."""
        return self.state in NOT_SERVING_STATES

    def describe_state(self) -> str:
        """The state with its reason, as people read it: ``unhealthy (Target.Timeout)``."""
        return f"{self.state} ({self.reason})" if self.reason else self.state


@dataclass(frozen=True, slots=True)
class TargetGroupFacts:
    """What does not change about a target group; read once per cold start."""

    arn: str
    name: str
    port: int
    protocol: str
    ip_address_type: str  # "ipv4" or "ipv6"
    vpc_id: str
    target_type: str
    load_balancer_arns: tuple[str, ...] = ()

    @property
    def record_type(self) -> str:
        """The DNS record type whose answers fit this group: ``A`` or ``AAAA``."""
        return "AAAA" if self.ip_address_type == "ipv6" else "A"


@dataclass(frozen=True, slots=True)
class Candidate:
    """A target group of the region as discovery sees it: what it is, and its tags."""

    arn: str
    name: str
    target_type: str
    tags: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Rejection:
    """An IP that ELB refused to register, with ELB's words."""

    ip: str
    message: str


def canonical_ip(text: str) -> str:
    """One spelling per address (``2001:0db8::1`` is ``2001:db8::1``); other text as is."""
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return text


@dataclass(frozen=True, slots=True)
class Nameserver:
    """A DNS server to ask: an IP literal and a port."""

    address: str
    port: int = 53

    def __str__(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class EventBus:
    """Where change events go: the bus as given (a name or an ARN, as ``PutEvents``
    takes either) and the region of its API (the ARN's, else the process's)."""

    bus: str
    region: str

    @property
    def name(self) -> str:
        """The bus's name (from its ARN, if it was given one)."""
        return self.bus.rpartition(":event-bus/")[2] if self.bus.startswith("arn:") else self.bus
