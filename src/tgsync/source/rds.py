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

Calls are paced, retried and given the time that is left as the ELB provider's (see
:mod:`tgsync.provider.elbv2`); endpoint and credentials come from boto3's standard
settings (``AWS_ENDPOINT_URL``, ``AWS_ENDPOINT_URL_RDS``), the region from the hostname.
A failed call changes nothing: the resolution carries an error naming the call and the
permission.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import boto3
from botocore import xform_name
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

from tgsync.errors import NO_TIME_LEFT
from tgsync.pacing import Pacer, unpaced
from tgsync.provider.errors import (
    TOTAL_MAX_ATTEMPTS,
    error_code,
    error_message,
    is_access_denied,
    is_throttled,
    retried,
)
from tgsync.report import logger
from tgsync.source import Resolution, Source, rds_problem
from tgsync.source.rds_endpoint import RdsEndpoint, Role, parse_rds_endpoint

#: Every RDS operation the source calls (all reads): the role allows exactly these.
OPERATIONS = ("DescribeDBClusters", "DescribeDBInstances", "DescribeDBClusterEndpoints")
CONNECT_TIMEOUT_SECONDS = 2
READ_TIMEOUT_SECONDS = 5
ATTEMPT_SECONDS = CONNECT_TIMEOUT_SECONDS + READ_TIMEOUT_SECONDS
MAX_BACKOFF_SECONDS = 2.0
#: The shortest attempt worth making: with less time left, the call is not made.
MIN_ATTEMPT_SECONDS = 1.0
_NOT_FOUND = frozenset({"DBClusterNotFoundFault", "DBClusterEndpointNotFoundFault",
                        "DBInstanceNotFound", "DBInstanceNotFoundFault"})


class RdsError(Exception):
    """An RDS call failed or was not made; the message names the call and the fix."""

    def __init__(self, message: str, *, operation: str = "", code: str = "") -> None:
        self.operation = operation
        self.code = code
        super().__init__(message)

    @property
    def out_of_time(self) -> bool:
        """Not called: too little time was left before the invocation's deadline."""
        return self.code == NO_TIME_LEFT


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


def boto_config(*, connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
                read_timeout: float = READ_TIMEOUT_SECONDS) -> BotoConfig:
    """The botocore settings of every RDS client: one attempt (tgsync retries itself,
    within the deadline)."""
    return BotoConfig(retries={"mode": "standard", "total_max_attempts": 1},
                      connect_timeout=connect_timeout, read_timeout=read_timeout,
                      user_agent_extra="tgsync")


def make_client(region: str, **timeouts: float) -> Any:
    """An RDS client for ``region``, endpoint and credentials the standard boto3 way."""
    return boto3.session.Session().client("rds", region_name=region,
                                          config=boto_config(**timeouts))


class RdsApi:
    """The RDS reads, one client per region, paced by ``pacer``, each result kept for
    the cycle that ``cycle()`` names (a new value: a new cycle, read again), so the
    mappings of one cluster cost one read per cycle. Thread-safe: concurrent mappings of
    one cluster wait for one call."""

    def __init__(self, client_for_region: Callable[[str], Any] = make_client,
                 pacer: Pacer = unpaced, *, cycle: Callable[[], object] = object,
                 sleep: Callable[[float], object] = time.sleep) -> None:
        self._client_for_region = client_for_region
        self._pacer = pacer
        self._cycle = cycle
        self._sleep = sleep
        self._clients: dict[tuple[str, float], Any] = {}
        self._lock = threading.Lock()
        self._token: object = None
        self._kept: dict[tuple[str, ...], tuple[bool, Any]] = {}
        self._locks: dict[tuple[str, ...], threading.Lock] = {}

    def selection(self, endpoint: RdsEndpoint, time_left: float) -> Selection:
        """The members ``endpoint`` stands for now; raises :class:`RdsError`."""
        ends = time.monotonic() + time_left
        custom = None
        cluster_id = endpoint.identifier
        if endpoint.role is Role.CUSTOM:
            custom = self._custom(endpoint, ends)
            cluster_id = str(custom.get("DBClusterIdentifier", ""))
        cluster, instances = self._cluster(endpoint.region, cluster_id, ends)
        return select_members(endpoint, cluster, instances, custom)

    def _cluster(self, region: str, ident: str, ends: float
                 ) -> tuple[Mapping[str, Any], list[Mapping[str, Any]]]:
        def read() -> tuple[Mapping[str, Any], list[Mapping[str, Any]]]:
            about = f"cluster {ident}"
            found = self._call(region, "DescribeDBClusters", about, ends,
                               DBClusterIdentifier=ident).get("DBClusters", [])
            if not found:
                raise RdsError(f"DescribeDBClusters: cluster {ident} not found in {region}",
                               operation="DescribeDBClusters", code="DBClusterNotFoundFault")
            instances: list[Mapping[str, Any]] = []
            marker: str | None = None
            while True:  # 100 to a page by default: a cluster has at most 16 members
                page = self._call(region, "DescribeDBInstances", about, ends, Filters=[
                    {"Name": "db-cluster-id", "Values": [ident]}],
                    **({"Marker": marker} if marker else {}))
                instances.extend(page.get("DBInstances", []))
                marker = page.get("Marker")
                if not marker:
                    return found[0], instances
        result: tuple[Mapping[str, Any], list[Mapping[str, Any]]] = self._once(
            ("cluster", region, ident), read)
        return result

    def _custom(self, endpoint: RdsEndpoint, ends: float) -> Mapping[str, Any]:
        def read() -> Mapping[str, Any]:
            found = self._call(endpoint.region, "DescribeDBClusterEndpoints",
                               f"custom endpoint {endpoint.identifier}", ends,
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
            ("custom", endpoint.region, endpoint.identifier), read)
        return result

    def _once(self, key: tuple[str, ...], read: Callable[[], Any]) -> Any:
        """``read()``'s result (or its error) for this cycle: the first caller reads."""
        with self._lock:
            token = self._cycle()
            if token is not self._token:
                self._token, self._kept, self._locks = token, {}, {}
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

    def _call(self, region: str, operation: str, about: str, ends: float,
              **params: Any) -> Any:
        """One call, paced, retried within the deadline, its failure an RdsError."""
        for attempt in range(1, TOTAL_MAX_ATTEMPTS + 1):
            if not self._pacer.acquire(within=ends - time.monotonic() - MIN_ATTEMPT_SECONDS):
                raise _no_time(operation, about, ends)
            client = self._client_within(region, operation, about, ends)
            try:
                return getattr(client, xform_name(operation))(**params)
            except (ClientError, BotoCoreError) as exc:
                backoff = random.uniform(0, min(MAX_BACKOFF_SECONDS, 0.5 * 2 ** attempt))  # noqa: S311
                if (attempt == TOTAL_MAX_ATTEMPTS or not retried(exc)
                        or ends - time.monotonic() < backoff + MIN_ATTEMPT_SECONDS):
                    raise explain(operation, about, region, exc) from exc
            self._sleep(backoff)
        raise AssertionError("unreachable")  # pragma: no cover

    def _client_within(self, region: str, operation: str, about: str, ends: float) -> Any:
        """The region's client, or one whose timeouts end before the deadline."""
        left = ends - time.monotonic()
        if left < MIN_ATTEMPT_SECONDS:
            raise _no_time(operation, about, ends)
        budget = math.inf if left >= ATTEMPT_SECONDS else math.floor(left * 2) / 2
        with self._lock:
            if (region, budget) not in self._clients:
                if budget == math.inf:
                    self._clients[(region, budget)] = self._client_for_region(region)
                else:
                    usual = self._clients.get((region, math.inf)) or self._client_for_region(
                        region)
                    connect = min(float(CONNECT_TIMEOUT_SECONDS), budget / 3)
                    self._clients[(region, budget)] = boto3.session.Session().client(
                        "rds", region_name=usual.meta.region_name,
                        endpoint_url=usual.meta.endpoint_url,
                        config=usual.meta.config.merge(BotoConfig(
                            connect_timeout=connect, read_timeout=budget - connect)))
            return self._clients[(region, budget)]


def _no_time(operation: str, about: str, ends: float) -> RdsError:
    return RdsError(f"{operation} for {about} not attempted: "
                    f"{max(ends - time.monotonic(), 0):.1f}s left before the invocation's "
                    "deadline; the next invocation carries on", operation=operation,
                    code=NO_TIME_LEFT)


def explain(operation: str, about: str, region: str, exc: Exception) -> RdsError:
    """A botocore failure of an RDS read in words: the call, what about, and the fix."""
    if isinstance(exc, ClientError):
        code, message = error_code(exc), error_message(exc)
        if is_access_denied(exc):
            text = (f"rds:{operation} was denied for {about}: add it to the function's role "
                    f"({message})")
        elif is_throttled(exc):
            text = (f"rds:{operation} for {about} throttled by RDS after "
                    f"{TOTAL_MAX_ATTEMPTS} attempts; look for other heavy RDS API callers")
        elif code in _NOT_FOUND:
            text = (f"rds:{operation}: {about} not found in {region} (deleted, renamed, or in "
                    f"another account?) ({message})")
        else:
            text = f"rds:{operation} failed for {about}: {code}: {message}"
        return RdsError(text, operation=operation, code=code)
    if isinstance(exc, NoCredentialsError):
        return RdsError(f"rds:{operation}: no AWS credentials were found", operation=operation,
                        code="NoCredentials")
    if isinstance(exc, NoRegionError):  # pragma: no cover - the region is the hostname's
        return RdsError(f"rds:{operation}: no AWS region", operation=operation, code="NoRegion")
    return RdsError(f"rds:{operation} failed for {about}: {exc}; is the rds endpoint of "
                    f"{region} reachable (VPC interface endpoint with private DNS, security "
                    "group on 443)?", operation=operation)


# --------------------------------------------------------------------------- the source


class RdsSource:
    """A :class:`~tgsync.source.Source` for ``resolve=rds``: the members from ``api``,
    their instance endpoints through ``dns`` (the mapping's nameservers)."""

    def __init__(self, api: RdsApi, dns: Source) -> None:
        self.api = api
        self._dns = dns

    def resolve(self, hostname: str, record_type: str, lookups: int, *,
                time_left: float = float("inf")) -> Resolution:
        """The addresses of the members ``hostname`` stands for; never raises for RDS
        or DNS faults. ``lookups`` is not used: each instance endpoint has one address."""
        del lookups
        endpoint = parse_rds_endpoint(hostname)
        if endpoint is None or not endpoint.names_cluster:  # a discovered group's tags
            return Resolution(error=rds_problem(hostname, "rds"))
        ends = time.monotonic() + time_left
        try:
            selection = self.api.selection(endpoint, time_left)
        except RdsError as exc:
            return Resolution(error=str(exc), out_of_time=exc.out_of_time,
                              api_failed=bool(exc.operation) and not exc.out_of_time)
        if selection.fallback:
            logger.warning("no available reader: the writer stands in, as on RDS's reader "
                           "endpoint", extra={"hostname": hostname, "note": selection.note})
        answers: set[str] = set()
        queries = 0
        for ident, address in selection.members:
            found = self._dns.resolve(address, record_type, 1,
                                      time_left=ends - time.monotonic())
            queries += found.queries
            if found.error:
                return Resolution(frozenset(answers), queries,
                                  f"instance {ident} of {hostname}: {found.error}",
                                  out_of_time=found.out_of_time, note=selection.note)
            answers |= found.answers
        return Resolution(frozenset(answers), queries, largest=len(answers),
                          authoritative=True, note=selection.note)

