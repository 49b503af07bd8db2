"""Source: where the desired state comes from (the hostname's DNS answers, or with
``resolve=rds`` a cluster endpoint's members from the RDS API)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from tgsync.deadline import NONE, Deadline
from tgsync.model import Nameserver, Resolve
from tgsync.source.rds_endpoint import Role, parse_rds_endpoint

__all__ = [
    "Nameserver",
    "Resolution",
    "Source",
    "SourceFor",
    "rds_problem",
    "source_of",
    "stale_problem",
]


@dataclass(frozen=True, slots=True)
class Resolution:
    """The union of a cycle's DNS answers, or why there is none.

    ``error`` is set when any lookup failed: then ``answers`` must not be used to
    change anything.
    """

    answers: frozenset[str] = frozenset()
    queries: int = 0
    error: str | None = None
    #: Distinct answers among the queries, and the size of the largest: with rotating
    #: or capped answers, what the planner needs to weigh an IP's absence.
    distinct: int = 1
    largest: int = 0
    #: Not (fully) asked: too little time was left before the deadline. Not a DNS fault.
    out_of_time: bool = False
    #: The answer is complete and consistent (the RDS API's members): an IP it no longer
    #: holds is retired at once, healthy or not, as with ``stale_after=0``.
    authoritative: bool = False
    #: The failure was an AWS API call's (``resolve=rds``: denied, throttled, unreachable),
    #: not DNS's: like a failed ELB call, it is not followed within the invocation.
    api_failed: bool = False
    #: Why these answers, in words (``resolve=rds``: which members, e.g. the writer
    #: standing in for a cluster without an available reader).
    note: str | None = None


class Source(Protocol):
    """Resolves a hostname to the addresses a target group should hold."""

    def resolve(
        self, hostname: str, record_type: str, lookups: int, *, deadline: Deadline = NONE
    ) -> Resolution:
        """Ask ``lookups`` times at most, each query within the time ``deadline`` leaves;
        unite the answers; never raise for DNS faults."""
        ...


class SourceFor(Protocol):
    """Gives the source for a mapping's nameservers, ``resolve`` mode (``dns``, ``rds``)
    and, with ``rds``, the role to read the cluster as (``rds_role_arn``)."""

    def __call__(
        self, servers: tuple[Nameserver, ...], resolve: str = "dns", role_arn: str | None = None, /
    ) -> Source:
        """The source to ask."""
        ...


def source_of(
    source_for: Callable[..., Source],
    servers: tuple[Nameserver, ...],
    resolve: str,
    role_arn: str | None = None,
) -> Source:
    """The source for a mapping. A ``resolve=dns`` mapping asks with the nameservers
    alone, so a plain ``servers -> Source`` callable keeps serving DNS mappings, and a
    ``resolve=rds`` one without a role with ``(servers, resolve)``."""
    if resolve == Resolve.DNS:
        return source_for(servers)
    return (
        source_for(servers, resolve) if role_arn is None else source_for(servers, resolve, role_arn)
    )


def rds_problem(hostname: str, resolve: str | None) -> str | None:
    """Why ``resolve=rds`` cannot take its members for ``hostname`` (``None``: it can,
    or the mapping resolves through DNS)."""
    if resolve != Resolve.RDS:
        return None
    endpoint = parse_rds_endpoint(hostname)
    if endpoint is not None and endpoint.names_cluster:
        return None
    what = (
        f"is the endpoint of DB instance {endpoint.identifier}"
        if endpoint is not None
        else "is not an RDS endpoint name"
    )
    return (
        f"resolve=rds takes a cluster's members, and {hostname} {what}: give the "
        "cluster's writer (<cluster>.cluster-<id>.<region>.rds.amazonaws.com), reader "
        "(.cluster-ro-) or custom (.cluster-custom-) endpoint, or set resolve=dns (with "
        "stale_after=0 for a Multi-AZ DB instance's endpoint)"
    )


def stale_problem(hostname: str, resolve: str | None, stale_after: float) -> str | None:
    """Why ``stale_after=0`` must not be used for ``hostname`` through DNS (``None``: it
    may): a reader or custom endpoint answers one member per query, and a caching
    resolver repeats that one for its TTL, so the answer looks complete while it holds one
    member, and every other member would be retired at once, then the next, every TTL."""
    if resolve == Resolve.RDS or stale_after != 0:
        return None
    endpoint = parse_rds_endpoint(hostname)
    if endpoint is None or endpoint.role not in (Role.READER, Role.CUSTOM):
        return None
    return (
        f"stale_after=0 retires at once what an answer lacks, and {hostname} is a "
        f"{endpoint.role} endpoint, which answers one member per query (a caching "
        "resolver repeats one for its TTL): every other member would be retired. Set "
        "resolve=rds to take its members from the RDS API, or keep a stale period"
    )
