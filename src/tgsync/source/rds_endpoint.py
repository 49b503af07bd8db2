"""What an RDS hostname names: a cluster's writer or readers, a custom endpoint, an
instance. Pure: no I/O.

RDS builds every endpoint name the same way (RDS User Guide, "Amazon Aurora endpoint
connections", and "Multi-AZ DB cluster" connections)::

    <cluster>.cluster-<id>.<region>.rds.amazonaws.com          writer (cluster endpoint)
    <cluster>.cluster-ro-<id>.<region>.rds.amazonaws.com       readers (reader endpoint)
    <endpoint>.cluster-custom-<id>.<region>.rds.amazonaws.com  a custom endpoint's members
    <instance>.<id>.<region>.rds.amazonaws.com                 one DB instance

``<id>`` is the account's per-region identifier; China regions end in ``.com.cn``.
Identifiers are 1 to 63 letters, digits and hyphens starting with a letter (RDS lowers
them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    """Which members of a cluster an endpoint stands for."""

    WRITER = "writer"
    READER = "reader"
    CUSTOM = "custom"
    INSTANCE = "instance"


#: The roles that name a cluster (``resolve=rds`` takes its members from the RDS API).
CLUSTER_ROLES = frozenset({Role.WRITER, Role.READER, Role.CUSTOM})

_IDENT = r"[a-z][a-z0-9-]{0,62}"
_NAME = re.compile(
    rf"^(?P<ident>{_IDENT})\.(?:(?P<kind>cluster|cluster-ro|cluster-custom)-)?"
    r"(?P<account_id>[a-z0-9]+)\.(?P<region>[a-z]{2}(?:-[a-z]+)+-\d+)"
    r"\.rds\.amazonaws\.com(?:\.cn)?\.?$"
)
_ROLES = {
    "cluster": Role.WRITER,
    "cluster-ro": Role.READER,
    "cluster-custom": Role.CUSTOM,
    None: Role.INSTANCE,
}


@dataclass(frozen=True, slots=True)
class RdsEndpoint:
    """An RDS endpoint name, taken apart.

    ``identifier`` is the cluster's identifier for the writer and reader endpoints, the
    custom endpoint's identifier for a custom endpoint, the instance's for an instance.
    ``hostname`` is the whole name, in lower case without a trailing dot: the identifier
    alone does not say which cluster (the ``<id>`` part says whose), so the name is what
    a cluster's own endpoints are compared with (:func:`same_name`).
    """

    role: Role
    identifier: str
    region: str
    hostname: str = ""

    @property
    def names_cluster(self) -> bool:
        """True for the writer, reader and custom endpoints of a cluster."""
        return self.role in CLUSTER_ROLES


def parse_rds_endpoint(hostname: str) -> RdsEndpoint | None:
    """The RDS endpoint ``hostname`` names, or ``None`` when it is not an RDS name."""
    name = hostname.strip().lower()
    match = _NAME.match(name)
    if match is None:
        return None
    return RdsEndpoint(_ROLES[match["kind"]], match["ident"], match["region"], name.rstrip("."))


def same_name(one: object, other: object) -> bool:
    """True if both are the same DNS name: case-insensitive, a trailing dot ignored
    (``None`` or an empty name is no name)."""
    if not isinstance(one, str) or not isinstance(other, str):
        return False
    one, other = one.strip().lower().rstrip("."), other.strip().lower().rstrip(".")
    return bool(one) and one == other


@dataclass(frozen=True, slots=True)
class Members:
    """The cluster a cluster endpoint's name was last read to be, and its instances
    then (an RDS instance event moves the endpoints of its own cluster only)."""

    cluster: str
    instances: frozenset[str]
