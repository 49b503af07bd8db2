"""Which members an RDS cluster endpoint stands for, from the RDS API's answers. Pure.

The writer endpoint stands for the member with ``IsClusterWriter``; the reader endpoint
for the other members whose instance serves (:mod:`tgsync.source.rds_status`) or, with
none, the writer (RDS points the reader endpoint at the writer when a cluster has no
reader, Aurora User Guide, "Reader endpoint"); a custom endpoint for its static
members, or every member but the excluded ones (never the writer for a ``READER``
custom endpoint), serving ones only.

**Identity.** The members come only from the cluster whose own endpoint *is* the
hostname: its ``Endpoint`` (writer), ``ReaderEndpoint`` (reader) or, for a custom
endpoint, the ``Endpoint`` DescribeDBClusterEndpoints answers. A cluster's identifier
is unique only per account and region, so ``orders.cluster-<another id>...`` names
another account's ``orders`` (or is mistyped), and reading this account's ``orders``
for it would put the wrong database behind the group. Anything else is an error
naming the hostname, the cluster found and the fix, and nothing changes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tgsync.errors import AwsError
from tgsync.source.rds_endpoint import RdsEndpoint, Role, same_name
from tgsync.source.rds_status import cluster_status, instance_status

#: What an identity error tells the user to do.
IDENTITY_FIX = (
    "give the cluster's own endpoint (DescribeDBClusters' Endpoint or "
    "ReaderEndpoint); for a cluster in another account set rds_role_arn "
    "(TGSYNC_RDS_ROLE_ARN) to a role there that may read it, or use "
    "resolve=dns"
)


class RdsError(AwsError):
    """An RDS call failed or was not made, or its answer cannot be used; the message
    names the call or the cluster, and the fix."""

    def __init__(self, message: str, **fields: str) -> None:
        super().__init__(message, **{"service": "rds", **fields})


@dataclass(frozen=True, slots=True)
class Selection:
    """The members an endpoint stands for: (instance, its endpoint address) pairs, and
    why these, in words (``note``)."""

    members: tuple[tuple[str, str], ...]
    note: str
    #: The reader endpoint's writer, standing in for a cluster without a serving reader.
    fallback: bool = False
    #: (what, status) for each status not in RDS's tables: taken as serving, to be logged.
    unknown: tuple[tuple[str, str], ...] = ()


def select_members(
    endpoint: RdsEndpoint,
    cluster: Mapping[str, Any],
    instances: Sequence[Mapping[str, Any]],
    custom: Mapping[str, Any] | None = None,
    *,
    account: str = "this account",
) -> Selection:
    """The members ``endpoint`` stands for, from DescribeDBClusters' cluster, the
    cluster's DescribeDBInstances and, for a custom endpoint, its
    DescribeDBClusterEndpoints entry (``account`` says whose, for the errors). Raises
    :class:`RdsError` when the cluster is not the endpoint's, does not serve, or the
    endpoint stands for no instance: nothing must then change."""
    name = str(cluster.get("DBClusterIdentifier", endpoint.identifier))
    check_identity(endpoint, cluster, custom, account)
    unknown = _check_cluster_status(name, cluster.get("Status"))
    by_id = {str(i.get("DBInstanceIdentifier", "")): i for i in instances}
    members = [str(m.get("DBInstanceIdentifier", "")) for m in cluster.get("DBClusterMembers", [])]
    writers = sorted(
        str(m.get("DBInstanceIdentifier", ""))
        for m in cluster.get("DBClusterMembers", [])
        if m.get("IsClusterWriter")
    )

    def serving(ident: str) -> bool:
        if ident not in by_id:  # not described (yet, or any more): not a member to use
            return False
        status = by_id[ident].get("DBInstanceStatus")
        row = instance_status(status)
        if row is None:
            unknown.append((f"instance {ident} of cluster {name}", str(status)))
            return True
        return row.serves

    fallback = False
    if endpoint.role is Role.WRITER:
        chosen, note = _writer(name, writers)
    elif endpoint.role is Role.READER:
        chosen, note, fallback = _readers(name, members, writers, serving)
    elif endpoint.role is Role.CUSTOM and custom is not None:
        chosen, note = _custom_members(
            f"custom endpoint {endpoint.identifier} of cluster {name}",
            members,
            writers,
            custom,
            serving,
        )
    else:
        raise RdsError(
            f"{endpoint.role} endpoint {endpoint.identifier} does not name a cluster's members"
        )
    return Selection(
        tuple((ident, _address(ident, by_id, name)) for ident in chosen),
        note,
        fallback,
        tuple(dict.fromkeys(unknown)),
    )


def _writer(name: str, writers: list[str]) -> tuple[list[str], str]:
    """The writer endpoint's members: the cluster's writer, or an RdsError without one."""
    if not writers:
        raise RdsError(
            f"cluster {name} has no writer now (a failover in progress?): nothing changed"
        )
    return writers, "writer " + ", ".join(writers)


def _readers(
    name: str, members: list[str], writers: list[str], serving: Callable[[str], bool]
) -> tuple[list[str], str, bool]:
    """The reader endpoint's members: the serving readers, or else the writer (as RDS's
    reader endpoint then points at it; the last item says so), or an RdsError."""
    chosen = sorted(m for m in members if m not in writers and serving(m))
    if chosen:
        return chosen, "serving readers " + ", ".join(chosen), False
    if not writers:
        raise RdsError(f"cluster {name} has neither a serving reader nor a writer: nothing changed")
    return (
        writers,
        (
            "no serving reader: the writer "
            + ", ".join(writers)
            + ", as RDS's reader endpoint then points at the writer"
        ),
        True,
    )


def check_identity(
    endpoint: RdsEndpoint,
    cluster: Mapping[str, Any],
    custom: Mapping[str, Any] | None,
    account: str,
) -> None:
    """Raise :class:`RdsError` unless the cluster's (or the custom endpoint's) own
    endpoint is ``endpoint``'s hostname."""
    name = str(cluster.get("DBClusterIdentifier", endpoint.identifier))
    if endpoint.role is Role.CUSTOM:
        own = (custom or {}).get("Endpoint")
        found = (
            f"its custom endpoint {endpoint.identifier} is {own or '(none)'}, of cluster "
            f"{(custom or {}).get('DBClusterIdentifier', '?')}"
        )
    else:
        own = cluster.get("Endpoint" if endpoint.role is Role.WRITER else "ReaderEndpoint")
        found = (
            f"cluster {name} has writer endpoint {cluster.get('Endpoint') or '(none)'} "
            f"and reader endpoint {cluster.get('ReaderEndpoint') or '(none)'}"
        )
    if not same_name(own, endpoint.hostname):
        raise RdsError(
            f"{endpoint.hostname} is not an endpoint of the cluster RDS describes "
            f"in {account} ({found}): the name's cluster id names another "
            f"account's cluster, or is mistyped; nothing changed. Fix: "
            f"{IDENTITY_FIX}"
        )


def _check_cluster_status(name: str, status: Any) -> list[tuple[str, str]]:
    """The unknown statuses so far (the cluster's, if RDS's table lacks it); raises
    :class:`RdsError` for a cluster that does not serve."""
    row = cluster_status(status)
    if row is None:
        return [(f"cluster {name}", str(status))]
    if not row.serves:
        raise RdsError(
            f"cluster {name} is {status} ({row.why}): nothing changed; the group "
            "keeps its targets until the cluster is available again"
        )
    return []


def _custom_members(
    what: str,
    members: list[str],
    writers: list[str],
    custom: Mapping[str, Any],
    serving: Callable[[str], bool],
) -> tuple[list[str], str]:
    static = [str(m) for m in custom.get("StaticMembers") or ()]
    excluded = {str(m) for m in custom.get("ExcludedMembers") or ()}
    listed = static or [m for m in members if m not in excluded]
    if custom.get("CustomEndpointType") == "READER":  # only readers may serve it
        listed = [m for m in listed if m not in writers]
    chosen = sorted(m for m in set(listed) if m in members and serving(m))
    if not chosen:
        raise RdsError(f"{what} has no serving member: nothing changed")
    how = "static members" if static else "members not excluded"
    return chosen, f"custom endpoint's serving {how} " + ", ".join(chosen)


def _address(ident: str, by_id: Mapping[str, Mapping[str, Any]], cluster: str) -> str:
    address = str((by_id.get(ident, {}).get("Endpoint") or {}).get("Address", ""))
    if not address:
        raise RdsError(
            f"instance {ident} of cluster {cluster} has no endpoint yet "
            "(DescribeDBInstances): nothing changed"
        )
    return address
