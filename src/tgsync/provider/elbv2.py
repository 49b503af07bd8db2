"""ELBv2 provider: the target group through boto3.

Thin on purpose: each method is one API call (or a few, batched), errors become
:class:`~tgsync.errors.ProviderError` with the operation, the cause and the fix. The
endpoint comes from boto3's standard settings (``AWS_ENDPOINT_URL``,
``AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2``), retries from botocore's standard
mode with bounded attempts and timeouts far inside the function's own.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError

from tgsync.errors import ProviderError
from tgsync.model import Target, TargetGroupFacts
from tgsync.pacing import Pacer, unpaced

if TYPE_CHECKING:
    from mypy_boto3_elbv2 import ElasticLoadBalancingv2Client
else:
    ElasticLoadBalancingv2Client = Any

#: Targets per RegisterTargets/DeregisterTargets call (no documented maximum).
TARGET_CHUNK = 200
#: Tags per AddTags call, and resource ARNs per DescribeTags call (API maximum 20).
TAG_CHUNK = 20
#: Requests per API call, first try included; retried: throttling, 5xx, resets.
TOTAL_MAX_ATTEMPTS = 3
CONNECT_TIMEOUT_SECONDS = 2
READ_TIMEOUT_SECONDS = 5

_OUTSIDE_VPC = re.compile(
    r"IP address '(?P<ip>[^']+)'.*(?:not in the VPC|outside the VPC)"
    r"|(?:not in the VPC|outside the VPC).*IP address '(?P<ip2>[^']+)'",
    re.IGNORECASE,
)

T = TypeVar("T")


def boto_config(
    max_pool_connections: int = 10,
    *,
    connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
    read_timeout: float = READ_TIMEOUT_SECONDS,
) -> BotoConfig:
    """The botocore settings every ELB client uses."""
    return BotoConfig(
        retries={"mode": "standard", "total_max_attempts": TOTAL_MAX_ATTEMPTS},
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        max_pool_connections=max_pool_connections,
        user_agent_extra="tgsync",
    )


def make_client(region: str, max_pool_connections: int = 10,
                **timeouts: float) -> ElasticLoadBalancingv2Client:
    """An ELBv2 client for ``region``, endpoint and credentials the standard boto3 way."""
    session = boto3.session.Session()
    return session.client("elbv2", region_name=region,
                          config=boto_config(max_pool_connections, **timeouts))


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """Split ``items`` into consecutive slices of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start:start + size]


def error_code(exc: ClientError) -> str:
    """The AWS error code of a ``ClientError``."""
    return str(exc.response.get("Error", {}).get("Code", ""))


def is_access_denied(exc: ClientError) -> bool:
    """IAM refused the call."""
    return error_code(exc) in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation")


def is_target_group_not_found(exc: ClientError) -> bool:
    """The target group does not exist (wrong ARN, deleted, other region or account)."""
    return error_code(exc) == "TargetGroupNotFound"


def is_throttled(exc: ClientError) -> bool:
    """ELB's throttling buckets are empty, even after botocore's retries."""
    return error_code(exc) in ("Throttling", "ThrottlingException", "RequestLimitExceeded")


def outside_vpc_ip(exc: ClientError) -> str | None:
    """The IP that ELB says needs ``AvailabilityZone: all`` (outside the group's VPC)."""
    if error_code(exc) != "ValidationError":
        return None
    match = _OUTSIDE_VPC.search(str(exc.response.get("Error", {}).get("Message", "")))
    return (match["ip"] or match["ip2"]) if match else None


def explain(operation: str, arn: str, exc: Exception) -> ProviderError:
    """Turn a botocore failure into an error that says what to do."""
    if isinstance(exc, ClientError):
        message = exc.response.get("Error", {}).get("Message", "")
        if is_access_denied(exc):
            return ProviderError(
                f"{operation} denied for {arn}: allow elasticloadbalancing:{operation} "
                f"in the function's IAM role ({message})")
        if is_target_group_not_found(exc):
            return ProviderError(
                f"{operation}: target group {arn} not found; check TGSYNC_TARGET_GROUP_ARN "
                "(deleted, or in another account or region?)")
        if error_code(exc) == "TooManyTags":
            return ProviderError(
                f"{operation}: target group {arn} has reached ELB's 50-tag limit; tgsync "
                "keeps one tag per registered IP missing from DNS: remove tags you no longer "
                "need (until then, healthy IPs missing from DNS are not retired)")
        if is_throttled(exc):
            return ProviderError(
                f"{operation} throttled by ELB after {TOTAL_MAX_ATTEMPTS} attempts; lower "
                "TGSYNC_API_RATE or TGSYNC_CONCURRENCY, or look for other heavy ELB callers")
        return ProviderError(f"{operation} failed for {arn}: {error_code(exc)}: {message}")
    return ProviderError(
        f"{operation} failed for {arn}: {exc}; is the elasticloadbalancing endpoint "
        "reachable (VPC interface endpoint with private DNS, security group on 443)?")


class Elbv2Provider:
    """A :class:`~tgsync.provider.Provider` over one ELBv2 client per region.

    Keep one instance per process: it caches target group facts, and which IPs
    proved to be outside the group's VPC, for the life of the execution environment.
    """

    def __init__(
        self,
        client_for_region: Callable[[str], ElasticLoadBalancingv2Client] = make_client,
        pacer: Pacer = unpaced,
    ) -> None:
        self._client_for_region = client_for_region
        self._clients: dict[str, ElasticLoadBalancingv2Client] = {}
        self._facts: dict[str, TargetGroupFacts] = {}
        self._outside: dict[str, set[str]] = {}
        self._pacer = pacer
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()

    # ------------------------------------------------------------------ plumbing

    def _client(self, arn: str) -> ElasticLoadBalancingv2Client:
        region = arn.split(":")[3]
        with self._lock:
            if region not in self._clients:
                self._clients[region] = self._client_for_region(region)
            return self._clients[region]

    def _call(self, operation: str, arn: str, **kwargs: Any) -> dict[str, Any]:
        client = self._client(arn)
        method = getattr(client, _snake(operation))
        self._pacer.acquire()
        with self._lock:
            self.calls[operation] += 1
        try:
            response: dict[str, Any] = method(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise explain(operation, arn, exc) from exc
        return response

    # ------------------------------------------------------------------ reads

    def facts(self, arn: str) -> TargetGroupFacts:
        """DescribeTargetGroups, once per process and target group."""
        cached = self._facts.get(arn)
        if cached is not None:
            return cached
        response = self._call("DescribeTargetGroups", arn, TargetGroupArns=[arn])
        groups = response.get("TargetGroups", [])
        if not groups:
            raise ProviderError(f"DescribeTargetGroups: target group {arn} not found")
        self._facts[arn] = _facts(groups[0])
        return self._facts[arn]

    def prefetch(self, arns: Sequence[str]) -> None:
        """Read the facts of many groups in batches (a cold start with many mappings).

        Best effort: a batch that fails (one ARN in it is wrong) is left for
        :meth:`facts` to read, and report, one group at a time.
        """
        for batch in _batches_by_region([a for a in arns if a not in self._facts]):
            try:
                response = self._call("DescribeTargetGroups", batch[0],
                                      TargetGroupArns=list(batch), PageSize=len(batch))
            except ProviderError:
                continue
            for group in response.get("TargetGroups", []):
                self._facts[group["TargetGroupArn"]] = _facts(group)

    def targets(self, arn: str) -> list[Target]:
        """DescribeTargetHealth: one call, every target on every port."""
        response = self._call("DescribeTargetHealth", arn, TargetGroupArn=arn)
        found = []
        for item in response.get("TargetHealthDescriptions", []):
            target = item.get("Target", {})
            health = item.get("TargetHealth", {})
            found.append(Target(
                ip=str(target.get("Id", "")),
                port=int(target.get("Port") or 0),
                state=str(health.get("State", "unknown")),
                reason=health.get("Reason"),
                availability_zone=target.get("AvailabilityZone"),
            ))
        outside = {t.ip for t in found if t.availability_zone == "all"}
        if outside:
            self._outside.setdefault(arn, set()).update(outside)
        return found

    def tags(self, arn: str) -> dict[str, str]:
        """DescribeTags of the group."""
        return self.tags_many([arn]).get(arn, {})

    def tags_many(self, arns: Sequence[str]) -> dict[str, dict[str, str]]:
        """DescribeTags of many groups, 20 to a call."""
        found: dict[str, dict[str, str]] = {}
        for batch in _batches_by_region(arns):
            response = self._call("DescribeTags", batch[0], ResourceArns=list(batch))
            for description in response.get("TagDescriptions", []):
                found[description.get("ResourceArn", "")] = {
                    t["Key"]: t.get("Value", "") for t in description.get("Tags", [])}
        return found

    # ------------------------------------------------------------------ writes

    def register(self, arn: str, ips: Iterable[str], port: int) -> None:
        """RegisterTargets with the port, ``AvailabilityZone: all`` for IPs outside the VPC.

        Which IPs are outside the VPC is learnt from ELB itself: its ValidationError
        names the IP, which is then retried with ``all`` and remembered.
        """
        wanted = sorted(ips)
        outside = self._outside.setdefault(arn, set())
        for batch in chunks(wanted, TARGET_CHUNK):
            for _ in range(len(batch) + 1):
                targets = [_target(ip, port, "all" if ip in outside else None) for ip in batch]
                try:
                    self._call("RegisterTargets", arn, TargetGroupArn=arn, Targets=targets)
                    break
                except ProviderError as exc:
                    cause = exc.__cause__
                    ip = outside_vpc_ip(cause) if isinstance(cause, ClientError) else None
                    if ip is None or ip in outside or ip not in batch:
                        raise
                    outside.add(ip)

    def deregister(self, arn: str, ips: Iterable[str], port: int) -> None:
        """DeregisterTargets with the port (without it ELB silently does nothing)."""
        for batch in chunks(sorted(ips), TARGET_CHUNK):
            self._call("DeregisterTargets", arn, TargetGroupArn=arn,
                       Targets=[_target(ip, port, None) for ip in batch])

    def change_tags(self, arn: str, add: Mapping[str, str], remove: Iterable[str]) -> None:
        """AddTags, then RemoveTags, each batched."""
        items = sorted(add.items())
        for batch in chunks(items, TAG_CHUNK):
            self._call("AddTags", arn, ResourceArns=[arn],
                       Tags=[{"Key": k, "Value": v} for k, v in batch])
        for keys in chunks(sorted(remove), TAG_CHUNK):
            self._call("RemoveTags", arn, ResourceArns=[arn], TagKeys=list(keys))


def _facts(group: Mapping[str, Any]) -> TargetGroupFacts:
    return TargetGroupFacts(
        arn=group["TargetGroupArn"],
        name=group.get("TargetGroupName", ""),
        port=int(group.get("Port") or 0),
        protocol=group.get("Protocol", ""),
        ip_address_type=group.get("IpAddressType") or "ipv4",
        vpc_id=group.get("VpcId", ""),
        target_type=group.get("TargetType", ""),
        load_balancer_arns=tuple(group.get("LoadBalancerArns", ())),
    )


def _batches_by_region(arns: Sequence[str]) -> Iterator[Sequence[str]]:
    """ARNs grouped by region (one client each), in chunks a batch call accepts."""
    regions: dict[str, list[str]] = {}
    for arn in dict.fromkeys(arns):
        regions.setdefault(arn.split(":")[3], []).append(arn)
    for same_region in regions.values():
        yield from chunks(same_region, TAG_CHUNK)


def _target(ip: str, port: int, zone: str | None) -> dict[str, Any]:
    target: dict[str, Any] = {"Id": ip, "Port": port}
    if zone:
        target["AvailabilityZone"] = zone
    return target


def _snake(operation: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower()
