"""RDS source (``resolve=rds``): a cluster endpoint's members from the RDS API, each
member's instance endpoint resolved through DNS.

Which members an endpoint stands for, and the identity check that they come from the
cluster whose own endpoint the hostname is, live in :mod:`tgsync.source.rds_members`
(pure); which statuses serve in :mod:`tgsync.source.rds_status`. The RDS API is
authoritative: the answer is complete and consistent, so the cycle retires a member
that left the role at once (see ``Resolution.authoritative``).

Cost: per cycle and cluster, one ``DescribeDBClusters`` and one ``DescribeDBInstances``
(filtered by ``db-cluster-id``), however many mappings name the cluster, plus one
``DescribeDBClusterEndpoints`` per custom endpoint; then one DNS query per member.

Calls are paced, retried and given the time that is left as the ELB provider's (see
:mod:`tgsync.provider.elbv2`); endpoint and credentials come from boto3's standard
settings (``AWS_ENDPOINT_URL``, ``AWS_ENDPOINT_URL_RDS``), the region from the hostname.
With ``rds_role_arn`` the reads act as that role (a cluster in another account), its
credentials from :data:`tgsync.roles.ROLES`. A failed call changes nothing: the
resolution carries an error naming the call and the permission.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

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
from tgsync.roles import ROLES
from tgsync.source import Resolution, Source, rds_problem
from tgsync.source.rds_endpoint import Members, RdsEndpoint, Role, parse_rds_endpoint
from tgsync.source.rds_members import RdsError, Selection, select_members

__all__ = ["OPERATIONS", "RdsApi", "RdsError", "RdsSource", "Selection", "boto_config",
           "explain", "make_client", "select_members"]

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


# --------------------------------------------------------------------------- the API


def boto_config(*, connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
                read_timeout: float = READ_TIMEOUT_SECONDS) -> BotoConfig:
    """The botocore settings of every RDS client: one attempt (tgsync retries itself,
    within the deadline)."""
    return BotoConfig(retries={"mode": "standard", "total_max_attempts": 1},
                      connect_timeout=connect_timeout, read_timeout=read_timeout,
                      user_agent_extra="tgsync")


def make_client(region: str, role_arn: str | None = None, **timeouts: float) -> Any:
    """An RDS client for ``region``, endpoint and credentials the standard boto3 way, or
    acting as ``role_arn`` (:data:`tgsync.roles.ROLES`: one set of credentials per role
    for the process)."""
    return ROLES.client("rds", role_arn, region, config=boto_config(**timeouts))


class RdsApi:
    """The RDS reads, one client per region (and role), paced by ``pacer``, each result
    kept for the cycle that ``cycle()`` names (a new value: a new cycle, read again), so
    the mappings of one cluster cost one read per cycle. Thread-safe: concurrent
    mappings of one cluster wait for one call.

    ``client_for_region(region)`` makes the function's own clients,
    ``client_for_role(region, role_arn)`` those acting as a role (``rds_role_arn``)."""

    def __init__(self, client_for_region: Callable[[str], Any] = make_client,
                 pacer: Pacer = unpaced, *, cycle: Callable[[], object] = object,
                 sleep: Callable[[float], object] = time.sleep,
                 client_for_role: Callable[[str, str], Any] = make_client) -> None:
        self._client_for_region = client_for_region
        self._client_for_role = client_for_role
        self._pacer = pacer
        self._cycle = cycle
        self._sleep = sleep
        self._clients: dict[tuple[str, str | None, float], Any] = {}
        self._lock = threading.Lock()
        self._token: object = None
        self._kept: dict[tuple[str | None, ...], tuple[bool, Any]] = {}
        self._locks: dict[tuple[str | None, ...], threading.Lock] = {}
        self._members: dict[tuple[str | None, str], Members] = {}

    def selection(self, endpoint: RdsEndpoint, time_left: float,
                  role_arn: str | None = None) -> Selection:
        """The members ``endpoint`` stands for now, read as ``role_arn`` (``None``: the
        function's own account); raises :class:`RdsError`."""
        ends = time.monotonic() + time_left
        custom = None
        cluster_id = endpoint.identifier
        if endpoint.role is Role.CUSTOM:
            custom = self._custom(endpoint, ends, role_arn)
            cluster_id = str(custom.get("DBClusterIdentifier", ""))
        cluster, instances = self._cluster(endpoint.region, cluster_id, ends, role_arn)
        account = f"the account of role {role_arn}" if role_arn else "the function's account"
        selection = select_members(endpoint, cluster, instances, custom, account=account)
        with self._lock:
            self._members[(role_arn, endpoint.hostname)] = Members(cluster_id, frozenset(
                str(m.get("DBInstanceIdentifier", "")) for m in cluster.get(
                    "DBClusterMembers", [])))
        return selection

    def members(self, endpoint: RdsEndpoint, role_arn: str | None = None) -> Members | None:
        """The cluster ``endpoint`` was last read to be, and its members then (``None``:
        never read in this process). No call: an event's routing reads what the cycles
        read."""
        with self._lock:
            return self._members.get((role_arn, endpoint.hostname))

    def _cluster(self, region: str, ident: str, ends: float, role_arn: str | None
                 ) -> tuple[Mapping[str, Any], list[Mapping[str, Any]]]:
        def read() -> tuple[Mapping[str, Any], list[Mapping[str, Any]]]:
            about = f"cluster {ident}"
            found = self._call(region, "DescribeDBClusters", about, ends, role_arn,
                               DBClusterIdentifier=ident).get("DBClusters", [])
            if not found:
                raise RdsError(f"DescribeDBClusters: cluster {ident} not found in {region}",
                               operation="DescribeDBClusters", code="DBClusterNotFoundFault")
            instances: list[Mapping[str, Any]] = []
            marker: str | None = None
            while True:  # 100 to a page by default: a cluster has at most 16 members
                page = self._call(region, "DescribeDBInstances", about, ends, role_arn,
                                  Filters=[{"Name": "db-cluster-id", "Values": [ident]}],
                                  **({"Marker": marker} if marker else {}))
                instances.extend(page.get("DBInstances", []))
                marker = page.get("Marker")
                if not marker:
                    return found[0], instances
        result: tuple[Mapping[str, Any], list[Mapping[str, Any]]] = self._once(
            ("cluster", role_arn, region, ident), read)
        return result

    def _custom(self, endpoint: RdsEndpoint, ends: float, role_arn: str | None
                ) -> Mapping[str, Any]:
        def read() -> Mapping[str, Any]:
            found = self._call(endpoint.region, "DescribeDBClusterEndpoints",
                               f"custom endpoint {endpoint.identifier}", ends, role_arn,
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
            ("custom", role_arn, endpoint.region, endpoint.identifier), read)
        return result

    def _once(self, key: tuple[str | None, ...], read: Callable[[], Any]) -> Any:
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
              role_arn: str | None = None, **params: Any) -> Any:
        """One call (as ``role_arn``), paced, retried within the deadline, its failure an
        RdsError."""
        for attempt in range(1, TOTAL_MAX_ATTEMPTS + 1):
            if not self._pacer.acquire(within=ends - time.monotonic() - MIN_ATTEMPT_SECONDS):
                raise _no_time(operation, about, ends)
            client = self._client_within(region, operation, about, ends, role_arn)
            try:
                return getattr(client, xform_name(operation))(**params)
            except (ClientError, BotoCoreError) as exc:
                backoff = random.uniform(0, min(MAX_BACKOFF_SECONDS, 0.5 * 2 ** attempt))  # noqa: S311
                if (attempt == TOTAL_MAX_ATTEMPTS or not retried(exc)
                        or ends - time.monotonic() < backoff + MIN_ATTEMPT_SECONDS):
                    raise explain(operation, about, region, exc, role_arn) from exc
            self._sleep(backoff)
        raise AssertionError("unreachable")  # pragma: no cover

    def _client_within(self, region: str, operation: str, about: str, ends: float,
                       role_arn: str | None = None) -> Any:
        """The region's (and role's) client, or one whose timeouts end before the
        deadline."""
        left = ends - time.monotonic()
        if left < MIN_ATTEMPT_SECONDS:
            raise _no_time(operation, about, ends)
        budget = math.inf if left >= ATTEMPT_SECONDS else math.floor(left * 2) / 2
        key = (region, role_arn, budget)
        with self._lock:
            if key not in self._clients:
                usual = self._clients.get((region, role_arn, math.inf)) or (
                    self._client_for_region(region) if role_arn is None
                    else self._client_for_role(region, role_arn))
                if budget == math.inf:
                    self._clients[key] = usual
                else:
                    connect = min(float(CONNECT_TIMEOUT_SECONDS), budget / 3)
                    self._clients[key] = ROLES.client(
                        "rds", role_arn, usual.meta.region_name,
                        endpoint_url=usual.meta.endpoint_url,
                        config=usual.meta.config.merge(BotoConfig(
                            connect_timeout=connect, read_timeout=budget - connect)))
            return self._clients[key]


def _no_time(operation: str, about: str, ends: float) -> RdsError:
    return RdsError(f"{operation} for {about} not attempted: "
                    f"{max(ends - time.monotonic(), 0):.1f}s left before the invocation's "
                    "deadline; the next invocation carries on", operation=operation,
                    code=NO_TIME_LEFT)


def explain(operation: str, about: str, region: str, exc: Exception,
            role_arn: str | None = None) -> RdsError:
    """A botocore failure of an RDS read (as ``role_arn``, if given) in words: the call,
    what about, and the fix."""
    if role_arn and _of_sts(exc):
        return _explain_assume(operation, about, exc, role_arn)
    who = f"role {role_arn}'s policy (in its account)" if role_arn else "the function's role"
    if isinstance(exc, ClientError):
        code, message = error_code(exc), error_message(exc)
        if is_access_denied(exc):
            text = f"rds:{operation} was denied for {about}: add it to {who} ({message})"
        elif is_throttled(exc):
            text = (f"rds:{operation} for {about} throttled by RDS after "
                    f"{TOTAL_MAX_ATTEMPTS} attempts; look for other heavy RDS API callers")
        elif code in _NOT_FOUND:
            where = f"read as role {role_arn}" if role_arn else "in the function's account"
            text = (f"rds:{operation}: {about} not found in {region} ({where}; deleted, "
                    "renamed, or in another account? for a cluster in another account set "
                    f"rds_role_arn) ({message})")
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


def _of_sts(exc: Exception) -> bool:
    """The failure was the role's AssumeRole (made inside the RDS call), not RDS's."""
    if isinstance(exc, ClientError):
        return exc.operation_name == "AssumeRole"
    return "//sts." in str(getattr(exc, "kwargs", {}).get("endpoint_url", ""))


def _explain_assume(operation: str, about: str, exc: Exception, role_arn: str) -> RdsError:
    """A failed AssumeRole of ``rds_role_arn`` in words."""
    why = f"sts:AssumeRole of {role_arn} (to read {about} with rds:{operation})"
    if not isinstance(exc, ClientError):
        return RdsError(f"{why} failed: {exc}; is the sts endpoint reachable (VPC interface "
                        "endpoint with private DNS, CreateStsEndpoint, security group on 443)?",
                        operation="AssumeRole")
    code, message = error_code(exc), error_message(exc)
    if is_access_denied(exc):
        text = (f"{why} was denied: the function's role needs sts:AssumeRole on it (stack "
                f"parameter RdsRoleArn) and the role's trust policy must name the function's "
                f"role ({message})")
    elif is_throttled(exc):
        text = f"{why} throttled by STS after retries ({message})"
    else:
        text = f"{why} failed: {code}: {message}"
    return RdsError(text, operation="AssumeRole", code=code)


# --------------------------------------------------------------------------- the source


class RdsSource:
    """A :class:`~tgsync.source.Source` for ``resolve=rds``: the members from ``api``
    (read as ``role_arn``, if given), their instance endpoints through ``dns`` (the
    mapping's nameservers)."""

    def __init__(self, api: RdsApi, dns: Source, role_arn: str | None = None) -> None:
        self.api = api
        self._dns = dns
        self.role_arn = role_arn

    def members(self, hostname: str) -> Members | None:
        """The cluster ``hostname`` was last read to be, and its members then (``None``:
        not read yet, or not a cluster endpoint). Makes no call."""
        endpoint = parse_rds_endpoint(hostname)
        if endpoint is None or not endpoint.names_cluster:
            return None
        return self.api.members(endpoint, self.role_arn)

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
            selection = self.api.selection(endpoint, time_left, self.role_arn)
        except RdsError as exc:
            return Resolution(error=str(exc), out_of_time=exc.out_of_time,
                              api_failed=bool(exc.operation) and not exc.out_of_time)
        if selection.fallback:
            logger.warning("no serving reader: the writer stands in, as on RDS's reader "
                           "endpoint", extra={"hostname": hostname, "note": selection.note})
        for what, status in selection.unknown:
            logger.warning("a status RDS's tables do not list: taken as serving", extra={
                "hostname": hostname, "resource": what, "status": status})
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

