"""RDS source (``resolve=rds``): a cluster endpoint's members from the RDS API, each
member's instance endpoint resolved through DNS.

The writer endpoint stands for the member with ``IsClusterWriter``; the reader endpoint
for the other members whose instance is ``available`` or, with none, the writer (RDS
points the reader endpoint at the writer when a cluster has no reader, Aurora User
Guide, "Reader endpoint"); a custom endpoint for its static members, or every member
but the excluded ones (never the writer for a ``READER`` custom endpoint), available
ones only. The RDS API is authoritative: the answer is complete and consistent, so the
cycle retires a member that left the role at once (see ``Resolution.authoritative``).

Cost: per cycle and cluster, one ``DescribeDBClusters`` and one ``DescribeDBInstances``
(filtered by ``db-cluster-id``), however many mappings name the cluster, plus one
``DescribeDBClusterEndpoints`` per custom endpoint; then one DNS query per member.

Calls go through the one AWS call path (:mod:`tgsync.aws`: paced, retried, given the time
that is left); endpoint and credentials come from boto3's standard settings
(``AWS_ENDPOINT_URL``, ``AWS_ENDPOINT_URL_RDS``), the region from the hostname.
A failed call changes nothing: the resolution carries an error naming the call and the
permission.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tgsync.aws import Aws, Service, boto_config
from tgsync.deadline import NONE, Deadline
from tgsync.errors import AwsError
from tgsync.pacing import Pacer, unpaced
from tgsync.report import logger
from tgsync.source import Resolution, Source, rds_problem
from tgsync.source.rds_endpoint import RdsEndpoint, Role, parse_rds_endpoint

#: Every RDS operation the source calls (all reads): the role allows exactly these.
OPERATIONS = ("DescribeDBClusters", "DescribeDBInstances", "DescribeDBClusterEndpoints")
__all__ = ["OPERATIONS", "RDS", "RdsApi", "RdsError", "RdsSource", "Selection", "boto_config",
           "select_members"]


class RdsError(AwsError):
    """An RDS call failed or was not made, or the cluster does not give what the
    endpoint names; the message names the call and the fix."""

    def __init__(self, message: str, **fields: str) -> None:
        super().__init__(message, **{"service": "rds", **fields})


#: RDS as the one AWS call path knows it.
RDS = Service("rds", "rds", "RDS", OPERATIONS, not_found=frozenset({
    "DBClusterNotFoundFault", "DBClusterEndpointNotFoundFault", "DBInstanceNotFound",
    "DBInstanceNotFoundFault"}), error=RdsError,
    not_found_hint="deleted, renamed, or in another account or region?")


# --------------------------------------------------------------------------- selection


@dataclass(frozen=True, slots=True)
class Selection:
    """The members an endpoint stands for: (instance, its endpoint address) pairs, and
    why these, in words (``note``)."""

    members: tuple[tuple[str, str], ...]
    note: str
    #: The reader endpoint's writer, standing in for a cluster without available reader.
    fallback: bool = False


def select_members(endpoint: RdsEndpoint, cluster: Mapping[str, Any],
                   instances: Sequence[Mapping[str, Any]],
                   custom: Mapping[str, Any] | None = None) -> Selection:
    """The members ``endpoint`` stands for, from DescribeDBClusters' cluster, the
    cluster's DescribeDBInstances and, for a custom endpoint, its
    DescribeDBClusterEndpoints entry. Pure. Raises :class:`RdsError` when the endpoint
    stands for no instance (nothing must then change)."""
    name = str(cluster.get("DBClusterIdentifier", endpoint.identifier))
    by_id = {str(i.get("DBInstanceIdentifier", "")): i for i in instances}
    members = [str(m.get("DBInstanceIdentifier", "")) for m in cluster.get("DBClusterMembers", [])]
    writers = sorted(str(m.get("DBInstanceIdentifier", "")) for m in
                     cluster.get("DBClusterMembers", []) if m.get("IsClusterWriter"))

    def available(ident: str) -> bool:
        return by_id.get(ident, {}).get("DBInstanceStatus") == "available"

    fallback = False
    if endpoint.role is Role.WRITER:
        if not writers:
            raise RdsError(f"cluster {name} has no writer now (a failover in progress?): "
                           "nothing changed")
        chosen, note = writers, "writer " + ", ".join(writers)
    elif endpoint.role is Role.READER:
        chosen = sorted(m for m in members if m not in writers and available(m))
        note = "available readers " + ", ".join(chosen)
        if not chosen:
            if not writers:
                raise RdsError(f"cluster {name} has neither an available reader nor a writer: "
                               "nothing changed")
            chosen, fallback = writers, True
            note = ("no available reader: the writer " + ", ".join(writers)
                    + ", as RDS's reader endpoint then points at the writer")
    elif endpoint.role is Role.CUSTOM and custom is not None:
        chosen, note = _custom_members(
            f"custom endpoint {endpoint.identifier} of cluster {name}", members, writers,
            custom, available)
    else:
        raise RdsError(f"{endpoint.role} endpoint {endpoint.identifier} does not name a "
                       "cluster's members")
    return Selection(tuple((ident, _address(ident, by_id, name)) for ident in chosen), note,
                     fallback)


def _custom_members(what: str, members: list[str], writers: list[str],
                    custom: Mapping[str, Any], available: Callable[[str], bool]
                    ) -> tuple[list[str], str]:
    static = [str(m) for m in custom.get("StaticMembers") or ()]
    excluded = {str(m) for m in custom.get("ExcludedMembers") or ()}
    listed = static or [m for m in members if m not in excluded]
    if custom.get("CustomEndpointType") == "READER":  # only readers may serve it
        listed = [m for m in listed if m not in writers]
    chosen = sorted(m for m in set(listed) if m in members and available(m))
    if not chosen:
        raise RdsError(f"{what} has no available member: nothing changed")
    how = "static members" if static else "members not excluded"
    return chosen, f"custom endpoint's available {how} " + ", ".join(chosen)


def _address(ident: str, by_id: Mapping[str, Mapping[str, Any]], cluster: str) -> str:
    address = str((by_id.get(ident, {}).get("Endpoint") or {}).get("Address", ""))
    if not address:
        raise RdsError(f"instance {ident} of cluster {cluster} has no endpoint yet "
                       "(DescribeDBInstances): nothing changed")
    return address


# --------------------------------------------------------------------------- the API


class RdsApi:
    """The RDS reads through the one AWS call path, each result kept for the cycle whose
    deadline asked for it (the controller makes one deadline per cycle: a new deadline,
    a new read), so the mappings of one cluster cost one read per cycle. Thread-safe:
    concurrent mappings of one cluster wait for one call.

    Without ``aws``, one is made from ``client_for_region`` (a test's client) and
    ``pacer``."""

    def __init__(self, aws: Aws | None = None, *,
                 client_for_region: Callable[[str], Any] | None = None,
                 pacer: Pacer = unpaced, sleep: Callable[[float], object] = time.sleep,
                 cycle: object = None) -> None:
        del cycle  # the cycle is the deadline each call passes
        if aws is None:
            made = client_for_region
            aws = Aws(pacers={RDS.name: pacer}, sleep=sleep,
                      client_for=None if made is None else (lambda _s, region, _c: made(region)))
        self.aws = aws
        self._lock = threading.Lock()
        self._token: object = None
        self._kept: dict[tuple[str, ...], tuple[bool, Any]] = {}
        self._locks: dict[tuple[str, ...], threading.Lock] = {}

    def selection(self, endpoint: RdsEndpoint, deadline: Deadline = NONE) -> Selection:
        """The members ``endpoint`` stands for now; raises :class:`RdsError`."""
        custom = None
        cluster_id = endpoint.identifier
        if endpoint.role is Role.CUSTOM:
            custom = self._custom(endpoint, deadline)
            cluster_id = str(custom.get("DBClusterIdentifier", ""))
        cluster, instances = self._cluster(endpoint.region, cluster_id, deadline)
        return select_members(endpoint, cluster, instances, custom)

    def _cluster(self, region: str, ident: str, deadline: Deadline
                 ) -> tuple[Mapping[str, Any], list[Mapping[str, Any]]]:
        def read() -> tuple[Mapping[str, Any], list[Mapping[str, Any]]]:
            about = f"cluster {ident}"
            found = self._call(region, "DescribeDBClusters", about, deadline,
                               DBClusterIdentifier=ident).get("DBClusters", [])
            if not found:
                raise RdsError(f"DescribeDBClusters: cluster {ident} not found in {region}",
                               operation="DescribeDBClusters", code="DBClusterNotFoundFault")
            instances: list[Mapping[str, Any]] = []
            marker: str | None = None
            while True:  # 100 to a page by default: a cluster has at most 16 members
                page = self._call(region, "DescribeDBInstances", about, deadline, Filters=[
                    {"Name": "db-cluster-id", "Values": [ident]}],
                    **({"Marker": marker} if marker else {}))
                instances.extend(page.get("DBInstances", []))
                marker = page.get("Marker")
                if not marker:
                    return found[0], instances
        result: tuple[Mapping[str, Any], list[Mapping[str, Any]]] = self._once(
            ("cluster", region, ident), deadline, read)
        return result

    def _custom(self, endpoint: RdsEndpoint, deadline: Deadline) -> Mapping[str, Any]:
        def read() -> Mapping[str, Any]:
            found = self._call(endpoint.region, "DescribeDBClusterEndpoints",
                               f"custom endpoint {endpoint.identifier}", deadline,
                               DBClusterEndpointIdentifier=endpoint.identifier
                               ).get("DBClusterEndpoints", [])
            if not found:
                raise RdsError(f"DescribeDBClusterEndpoints: custom endpoint "
                               f"{endpoint.identifier} not found in {endpoint.region}",
                               operation="DescribeDBClusterEndpoints",
                               code="DBClusterEndpointNotFoundFault")
            first: Mapping[str, Any] = found[0]
            return first
        result: Mapping[str, Any] = self._once(
            ("custom", endpoint.region, endpoint.identifier), deadline, read)
        return result

    def _once(self, key: tuple[str, ...], cycle: object, read: Callable[[], Any]) -> Any:
        """``read()``'s result (or its error) for this cycle: the first caller reads."""
        with self._lock:
            if cycle is not self._token:
                self._token, self._kept, self._locks = cycle, {}, {}
            kept = self._kept  # this cycle's: a read that outlives it lands nowhere else
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in kept:
                try:
                    kept[key] = (True, read())
                except RdsError as exc:
                    kept[key] = (False, exc)
            ok, value = kept[key]
        if not ok:
            raise value
        return value

    def _call(self, region: str, operation: str, about: str, deadline: Deadline,
              **params: Any) -> Any:
        """One call through the one AWS call path."""
        return self.aws.call(RDS, operation, region=region, about=about, deadline=deadline,
                             **params)


# --------------------------------------------------------------------------- the source


class RdsSource:
    """A :class:`~tgsync.source.Source` for ``resolve=rds``: the members from ``api``,
    their instance endpoints through ``dns`` (the mapping's nameservers)."""

    def __init__(self, api: RdsApi, dns: Source) -> None:
        self.api = api
        self._dns = dns

    def resolve(self, hostname: str, record_type: str, lookups: int, *,
                deadline: Deadline = NONE) -> Resolution:
        """The addresses of the members ``hostname`` stands for; never raises for RDS
        or DNS faults. ``lookups`` is not used: each instance endpoint has one address."""
        del lookups
        endpoint = parse_rds_endpoint(hostname)
        if endpoint is None or not endpoint.names_cluster:  # a discovered group's tags
            return Resolution(error=rds_problem(hostname, "rds"))
        try:
            selection = self.api.selection(endpoint, deadline)
        except RdsError as exc:
            return Resolution(error=str(exc), out_of_time=exc.out_of_time,
                              api_failed=bool(exc.operation) and not exc.out_of_time)
        if selection.fallback:
            logger.warning("no available reader: the writer stands in, as on RDS's reader "
                           "endpoint", extra={"hostname": hostname, "note": selection.note})
        answers: set[str] = set()
        queries = 0
        for ident, address in selection.members:
            found = self._dns.resolve(address, record_type, 1, deadline=deadline)
            queries += found.queries
            if found.error:
                return Resolution(frozenset(answers), queries,
                                  f"instance {ident} of {hostname}: {found.error}",
                                  out_of_time=found.out_of_time, note=selection.note)
            answers |= found.answers
        return Resolution(frozenset(answers), queries, largest=len(answers),
                          authoritative=True, note=selection.note)

