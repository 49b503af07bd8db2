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

Calls go through the one AWS call path (:mod:`tgsync.aws`: paced, retried, given the time
that is left); endpoint and credentials come from boto3's standard settings
(``AWS_ENDPOINT_URL``, ``AWS_ENDPOINT_URL_RDS``), the region from the hostname. With
``rds_role_arn`` the reads act as that role (a cluster in another account). A failed
call changes nothing: the resolution carries an error naming the call and the
permission.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from tgsync.aws import Aws, boto_config
from tgsync.aws_service import Service
from tgsync.deadline import NONE, Deadline
from tgsync.model import Resolve
from tgsync.pacing import Pacer, unpaced
from tgsync.report import logger
from tgsync.source import Resolution, Source, rds_problem
from tgsync.source.rds_endpoint import Members, RdsEndpoint, Role, parse_rds_endpoint
from tgsync.source.rds_members import RdsError, Selection, select_members

__all__ = [
    "OPERATIONS",
    "RDS",
    "RdsApi",
    "RdsError",
    "RdsSource",
    "Selection",
    "boto_config",
    "select_members",
]

#: Every RDS operation the source calls (all reads): the role allows exactly these.
OPERATIONS = ("DescribeDBClusters", "DescribeDBInstances", "DescribeDBClusterEndpoints")
#: RDS as the one AWS call path knows it.
RDS = Service(
    "rds",
    "rds",
    "RDS",
    OPERATIONS,
    not_found=frozenset(
        {
            "DBClusterNotFoundFault",
            "DBClusterEndpointNotFoundFault",
            "DBInstanceNotFound",
            "DBInstanceNotFoundFault",
        }
    ),
    error=RdsError,
    not_found_hint="deleted, renamed, or in another account or region? for a cluster in "
    "another account set rds_role_arn",
)


class RdsApi:
    """The RDS reads through the one AWS call path, each result kept for the cycle whose
    deadline asked for it (the controller makes one deadline per cycle: a new deadline,
    a new read), so the mappings of one cluster cost one read per cycle. Thread-safe:
    concurrent mappings of one cluster wait for one call.

    Without ``aws``, one is made from ``client_for_region(region)`` and
    ``client_for_role(region, role_arn)`` (a test's clients) and ``pacer``."""

    def __init__(
        self,
        aws: Aws | None = None,
        *,
        client_for_region: Callable[[str], Any] | None = None,
        client_for_role: Callable[[str, str], Any] | None = None,
        pacer: Pacer = unpaced,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        if aws is None:
            own, roles = client_for_region, client_for_role
            made = (
                None
                if own is None and roles is None
                else (
                    lambda service, region, _c, role: (
                        None
                        if service != RDS.name
                        else (
                            roles(region, role) if role and roles else own(region) if own else None
                        )
                    )
                )
            )
            aws = Aws(pacers={RDS.name: pacer}, sleep=sleep, client_for=made)
        self.aws = aws
        self._lock = threading.Lock()
        self._token: object = None
        self._kept: dict[tuple[str | None, ...], tuple[bool, Any]] = {}
        self._locks: dict[tuple[str | None, ...], threading.Lock] = {}
        self._members: dict[tuple[str | None, str], Members] = {}

    def selection(
        self, endpoint: RdsEndpoint, deadline: Deadline = NONE, role_arn: str | None = None
    ) -> Selection:
        """The members ``endpoint`` stands for now, read as ``role_arn`` (``None``: the
        function's own account); raises :class:`RdsError`."""
        custom = None
        cluster_id = endpoint.identifier
        if endpoint.role is Role.CUSTOM:
            custom = self._custom(endpoint, deadline, role_arn)
            cluster_id = str(custom.get("DBClusterIdentifier", ""))
        cluster, instances = self._cluster(endpoint.region, cluster_id, deadline, role_arn)
        account = f"the account of role {role_arn}" if role_arn else "the function's account"
        selection = select_members(endpoint, cluster, instances, custom, account=account)
        with self._lock:
            self._members[(role_arn, endpoint.hostname)] = Members(
                cluster_id,
                frozenset(
                    str(m.get("DBInstanceIdentifier", ""))
                    for m in cluster.get("DBClusterMembers", [])
                ),
            )
        return selection

    def members(self, endpoint: RdsEndpoint, role_arn: str | None = None) -> Members | None:
        """The cluster ``endpoint`` was last read to be, and its members then (``None``:
        never read in this process). No call: an event's routing reads what the cycles
        read."""
        with self._lock:
            return self._members.get((role_arn, endpoint.hostname))

    def _cluster(
        self, region: str, ident: str, deadline: Deadline, role_arn: str | None
    ) -> tuple[Mapping[str, Any], list[Mapping[str, Any]]]:
        def read() -> tuple[Mapping[str, Any], list[Mapping[str, Any]]]:
            about = f"cluster {ident}"
            found = self._call(
                region, "DescribeDBClusters", about, deadline, role_arn, DBClusterIdentifier=ident
            ).get("DBClusters", [])
            if not found:
                raise RdsError(
                    f"DescribeDBClusters: cluster {ident} not found in {region}",
                    operation="DescribeDBClusters",
                    code="DBClusterNotFoundFault",
                )
            instances: list[Mapping[str, Any]] = []
            marker: str | None = None
            while True:  # 100 to a page by default: a cluster has at most 16 members
                page = self._call(
                    region,
                    "DescribeDBInstances",
                    about,
                    deadline,
                    role_arn,
                    Filters=[{"Name": "db-cluster-id", "Values": [ident]}],
                    **({"Marker": marker} if marker else {}),
                )
                instances.extend(page.get("DBInstances", []))
                marker = page.get("Marker")
                if not marker:
                    return found[0], instances

        result: tuple[Mapping[str, Any], list[Mapping[str, Any]]] = self._once(
            ("cluster", role_arn, region, ident), deadline, read
        )
        return result

    def _custom(
        self, endpoint: RdsEndpoint, deadline: Deadline, role_arn: str | None
    ) -> Mapping[str, Any]:
        def read() -> Mapping[str, Any]:
            found = self._call(
                endpoint.region,
                "DescribeDBClusterEndpoints",
                f"custom endpoint {endpoint.identifier}",
                deadline,
                role_arn,
                DBClusterEndpointIdentifier=endpoint.identifier,
            ).get("DBClusterEndpoints", [])
            if not found:
                raise RdsError(
                    f"DescribeDBClusterEndpoints: custom endpoint "
                    f"{endpoint.identifier} not found in {endpoint.region}",
                    operation="DescribeDBClusterEndpoints",
                    code="DBClusterEndpointNotFoundFault",
                )
            first: Mapping[str, Any] = found[0]
            return first

        result: Mapping[str, Any] = self._once(
            ("custom", role_arn, endpoint.region, endpoint.identifier), deadline, read
        )
        return result

    def _once(self, key: tuple[str | None, ...], cycle: object, read: Callable[[], Any]) -> Any:
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

    def _call(
        self,
        region: str,
        operation: str,
        about: str,
        deadline: Deadline,
        role_arn: str | None,
        **params: Any,
    ) -> Any:
        """One call (as ``role_arn``) through the one AWS call path."""
        return self.aws.call(
            RDS, operation, region=region, about=about, deadline=deadline, role=role_arn, **params
        )


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

    def resolve(
        self, hostname: str, record_type: str, lookups: int, *, deadline: Deadline = NONE
    ) -> Resolution:
        """The addresses of the members ``hostname`` stands for; never raises for RDS
        or DNS faults. ``lookups`` is not used: each instance endpoint has one address."""
        del lookups
        endpoint = parse_rds_endpoint(hostname)
        if endpoint is None or not endpoint.names_cluster:  # a discovered group's tags
            return Resolution(error=rds_problem(hostname, Resolve.RDS))
        try:
            selection = self.api.selection(endpoint, deadline, self.role_arn)
        except RdsError as exc:
            return Resolution(
                error=str(exc),
                out_of_time=exc.out_of_time,
                api_failed=bool(exc.operation) and not exc.out_of_time,
            )
        if selection.fallback:
            logger.warning(
                "no serving reader: the writer stands in, as on RDS's reader endpoint",
                extra={"hostname": hostname, "note": selection.note},
            )
        for what, status in selection.unknown:
            logger.warning(
                "a status RDS's tables do not list: taken as serving",
                extra={"hostname": hostname, "resource": what, "status": status},
            )
        answers: set[str] = set()
        queries = 0
        for ident, address in selection.members:
            found = self._dns.resolve(address, record_type, 1, deadline=deadline)
            queries += found.queries
            if found.error:
                return Resolution(
                    frozenset(answers),
                    queries,
                    f"instance {ident} of {hostname}: {found.error}",
                    out_of_time=found.out_of_time,
                    note=selection.note,
                )
            answers |= found.answers
        return Resolution(
            frozenset(answers),
            queries,
            largest=len(answers),
            authoritative=True,
            note=selection.note,
        )
