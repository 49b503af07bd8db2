"""ELBv2 provider: the target group through boto3.

Thin on purpose: each method is one API call (or a few, batched), errors become
:class:`~tgsync.errors.ProviderError` with the operation, the group, ELB's code and
the fix. The endpoint comes from boto3's standard settings (``AWS_ENDPOINT_URL``,
``AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2``).

Retries are tgsync's own, not botocore's, so that each attempt gets the time that is
left before the invocation's :class:`~tgsync.deadline.Deadline`: an attempt takes at
most ``ATTEMPT_SECONDS`` (2 s to connect, 5 s to read), or, with less time left, a
client whose timeouts end before the deadline; with under ``MIN_ATTEMPT_SECONDS`` left
the call is not made. Throttling, 5xx and network failures are retried up to
``TOTAL_MAX_ATTEMPTS`` with jittered backoff, within the same deadline.
"""

from __future__ import annotations

import math
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
)

from tgsync.arn import region_of
from tgsync.deadline import NONE, Deadline
from tgsync.discovery import Candidate
from tgsync.errors import NO_TIME_LEFT, ProviderError
from tgsync.model import Rejection, Target, TargetGroupFacts, canonical_ip
from tgsync.pacing import Pacer, unpaced
from tgsync.provider.errors import (
    TARGET_ERRORS,
    TOTAL_MAX_ATTEMPTS,
    explain,
    is_zone_error,
    refused_target,
    retried,
)

if TYPE_CHECKING:
    from mypy_boto3_elbv2 import ElasticLoadBalancingv2Client
    from mypy_boto3_elbv2.type_defs import TargetDescriptionTypeDef, TargetGroupTypeDef
else:
    ElasticLoadBalancingv2Client = TargetDescriptionTypeDef = TargetGroupTypeDef = Any

#: Every ELB operation the provider calls, reads then writes: the function's role
#: allows exactly these (the least-privilege test reads them from here).
READ_OPERATIONS = ("DescribeTargetGroups", "DescribeTargetHealth", "DescribeTags")
WRITE_OPERATIONS = ("RegisterTargets", "DeregisterTargets", "AddTags", "RemoveTags")
OPERATIONS = READ_OPERATIONS + WRITE_OPERATIONS
#: Target groups per DescribeTargetGroups page when listing a region (API maximum 400).
DISCOVERY_PAGE = 400
#: Targets per RegisterTargets/DeregisterTargets call (no documented maximum).
TARGET_CHUNK = 200
#: Tags per AddTags call and keys per RemoveTags call (API maximum 20 each).
TAGS_PER_CALL = 20
#: Groups per DescribeTags call (API maximum 20 ARNs) and per DescribeTargetGroups call
#: by ARN (batched alike, to read a cold start's facts and tags in step).
ARNS_PER_CALL = 20
CONNECT_TIMEOUT_SECONDS = 2
READ_TIMEOUT_SECONDS = 5
#: The longest one attempt can take; the longest backoff before the next.
ATTEMPT_SECONDS = CONNECT_TIMEOUT_SECONDS + READ_TIMEOUT_SECONDS
MAX_BACKOFF_SECONDS = 2.0
#: The shortest attempt worth making: with less time left, the call is not made.
MIN_ATTEMPT_SECONDS = 1.0
T = TypeVar("T")


def boto_config(
    max_pool_connections: int = 10,
    *,
    connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
    read_timeout: float = READ_TIMEOUT_SECONDS,
) -> BotoConfig:
    """The botocore settings every ELB client uses."""
    return BotoConfig(
        # One attempt per request: tgsync retries itself, within the deadline.
        retries={"mode": "standard", "total_max_attempts": 1},
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


class Elbv2Provider:
    """A :class:`~tgsync.provider.Provider` over one ELBv2 client per region.

    Keep one instance per process: it caches target group facts, and which IPs
    proved to be outside the group's VPC, for the life of the execution environment
    (pruned to the groups still kept, see :meth:`keep_only`).
    """

    def __init__(
        self,
        client_for_region: Callable[[str], ElasticLoadBalancingv2Client] = make_client,
        pacer: Pacer = unpaced,
        write_pacer: Pacer | None = None,
        *,
        outside_vpc: bool = False,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        self._client_for_region = client_for_region
        self._clients: dict[str, ElasticLoadBalancingv2Client] = {}
        self._hurried: dict[tuple[str, float], ElasticLoadBalancingv2Client] = {}
        self._facts: dict[str, TargetGroupFacts] = {}
        self._outside: dict[str, set[str]] = {}
        # ELB throttles Describe calls and writes in separate buckets: pace them so.
        self._pacer = pacer
        self._write_pacer = write_pacer or pacer
        self._outside_vpc = outside_vpc
        self._sleep = sleep
        self._lock = threading.Lock()
        self.deadline: Deadline = NONE

    # ------------------------------------------------------------------ plumbing

    def within(self, deadline: Deadline) -> None:
        """Make every later call respect ``deadline`` (one invocation's)."""
        self.deadline = deadline

    def keep_only(self, arns: Iterable[str]) -> None:
        """Forget what is cached about groups no longer kept (bounded memory over days)."""
        kept = set(arns)
        with self._lock:
            for cache in (self._facts, self._outside):
                for arn in [a for a in cache if a not in kept]:
                    del cache[arn]

    def _client_in(self, region: str) -> ElasticLoadBalancingv2Client:
        with self._lock:
            return self._client_in_unlocked(region)

    def _client_in_unlocked(self, region: str) -> ElasticLoadBalancingv2Client:
        if region not in self._clients:
            self._clients[region] = self._client_for_region(region)
        return self._clients[region]

    def _call(self, operation: str, arn: str, *, region: str | None = None,
              **params: Any) -> Any:
        """One call of ``operation`` with ``params``, paced, retried within the deadline,
        its failure a :class:`ProviderError`. ``arn`` names what the call is about (its
        region picks the client); a call about a whole region names it in words and
        passes ``region``.
        """
        if operation not in OPERATIONS:
            raise ValueError(f"{operation} is not in OPERATIONS: the role would not allow it")
        region = region or region_of(arn)
        pacer = self._pacer if operation in READ_OPERATIONS else self._write_pacer
        for attempt in range(1, TOTAL_MAX_ATTEMPTS + 1):
            if not pacer.acquire(within=self.deadline.left() - MIN_ATTEMPT_SECONDS):
                raise self._no_time(operation, arn)  # the queue ahead is past the deadline
            client = self._client_within(region, operation, arn)
            try:
                return getattr(client, _method(operation))(**params)
            except (ClientError, BotoCoreError) as exc:
                backoff = random.uniform(0, min(MAX_BACKOFF_SECONDS, 0.5 * 2 ** attempt))  # noqa: S311
                if (attempt == TOTAL_MAX_ATTEMPTS or not retried(exc)
                        or not self.deadline.allows(backoff + MIN_ATTEMPT_SECONDS)):
                    raise explain(operation, arn, exc) from exc
            # Full jitter, as botocore's standard mode, within a short cap.
            self._sleep(backoff)
        raise AssertionError("unreachable")  # pragma: no cover

    def _no_time(self, operation: str, arn: str) -> ProviderError:
        return ProviderError(
            f"{operation} for {arn} not attempted: {max(self.deadline.left(), 0):.1f}s left "
            "before the invocation's deadline; the next invocation carries on (raise the "
            "function's timeout, TGSYNC_API_RATE or lower TGSYNC_CONCURRENCY if this "
            "recurs)", operation=operation,
            target_group=arn if ":targetgroup/" in arn else "", code=NO_TIME_LEFT)

    def _client_within(self, region: str, operation: str, arn: str
                       ) -> ElasticLoadBalancingv2Client:
        """The region's client, or one whose timeouts end before the deadline."""
        left = self.deadline.left()
        if left >= ATTEMPT_SECONDS:
            return self._client_in(region)
        if left < MIN_ATTEMPT_SECONDS:
            raise self._no_time(operation, arn)
        budget = math.floor(left * 2) / 2  # half-second steps: a few clients at most
        key = (region, budget)
        with self._lock:
            if key not in self._hurried:
                usual = self._client_in_unlocked(region)
                connect = min(float(CONNECT_TIMEOUT_SECONDS), budget / 3)
                self._hurried[key] = boto3.session.Session().client(
                    "elbv2", region_name=usual.meta.region_name,
                    endpoint_url=usual.meta.endpoint_url,
                    config=usual.meta.config.merge(BotoConfig(
                        connect_timeout=connect, read_timeout=budget - connect)))
            return self._hurried[key]

    # ------------------------------------------------------------------ reads

    def facts(self, arn: str) -> TargetGroupFacts:
        """DescribeTargetGroups, once per process and target group."""
        cached = self._facts.get(arn)
        if cached is not None:
            return cached
        response = self._call("DescribeTargetGroups", arn, TargetGroupArns=[arn])
        groups = response.get("TargetGroups", [])
        if not groups:
            raise ProviderError(f"DescribeTargetGroups: target group {arn} not found",
                                operation="DescribeTargetGroups", target_group=arn,
                                code="TargetGroupNotFound")
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

    def discover(self, region: str) -> list[Candidate]:
        """Every target group of ``region`` with its tags: DescribeTargetGroups 400 to a
        page, DescribeTags 20 groups to a call, all paced. Facts are cached on the way.

        A group deleted between the listing and its tags is left out (ELB refuses the
        whole DescribeTags batch that names it: the batch is read again without it).
        """
        where = f"the target groups of {region}"
        groups: list[TargetGroupTypeDef] = []
        marker: str | None = None
        while True:
            paging = {"Marker": marker} if marker else {}
            page = self._call("DescribeTargetGroups", where, region=region,
                              PageSize=DISCOVERY_PAGE, **paging)
            groups.extend(page.get("TargetGroups", []))
            marker = page.get("NextMarker")
            if not marker:
                break
        for group in groups:
            self._facts[group["TargetGroupArn"]] = _facts(group)
        tags = self._tags_of_existing([g["TargetGroupArn"] for g in groups])
        return [Candidate(g["TargetGroupArn"], g.get("TargetGroupName", ""),
                          g.get("TargetType", ""), tags[g["TargetGroupArn"]])
                for g in groups if g["TargetGroupArn"] in tags]

    def _tags_of_existing(self, arns: Sequence[str]) -> dict[str, dict[str, str]]:
        """Tags of the groups of ``arns`` that still exist: a batch refused because one
        of its groups is gone is split in halves until the gone ones stand alone."""
        found: dict[str, dict[str, str]] = {}
        todo = list(_batches_by_region(arns))
        while todo:
            batch = todo.pop()
            try:
                found.update(self._describe_tags(batch))
            except ProviderError as exc:
                if not exc.not_found:
                    raise
                if len(batch) > 1:
                    half = len(batch) // 2
                    todo += [batch[:half], batch[half:]]
                else:
                    self._facts.pop(batch[0], None)
        return found

    def _describe_tags(self, batch: Sequence[str]) -> dict[str, dict[str, str]]:
        response = self._call("DescribeTags", batch[0], ResourceArns=list(batch))
        return {d.get("ResourceArn", ""): {t["Key"]: t.get("Value", "") for t in d.get("Tags", [])}
                for d in response.get("TagDescriptions", [])}

    def targets(self, arn: str) -> list[Target]:
        """DescribeTargetHealth: one call, every target on every port."""
        response = self._call("DescribeTargetHealth", arn, TargetGroupArn=arn)
        found = []
        for item in response.get("TargetHealthDescriptions", []):
            target = item.get("Target", {})
            health = item.get("TargetHealth", {})
            elb_id = str(target.get("Id", ""))
            ip = canonical_ip(elb_id)
            found.append(Target(
                ip=ip,
                port=int(target.get("Port") or 0),
                state=str(health.get("State", "unknown")),
                reason=health.get("Reason"),
                availability_zone=target.get("AvailabilityZone"),
                elb_id=elb_id if elb_id != ip else None,
            ))
        outside = {t.ip for t in found if t.availability_zone == "all"}
        if outside:
            with self._lock:
                self._outside.setdefault(arn, set()).update(outside)
        return found

    def tags(self, arn: str) -> dict[str, str]:
        """DescribeTags of the group."""
        return self.tags_many([arn]).get(arn, {})

    def tags_many(self, arns: Sequence[str]) -> dict[str, dict[str, str]]:
        """DescribeTags of many groups, 20 to a call."""
        found: dict[str, dict[str, str]] = {}
        for batch in _batches_by_region(arns):
            found.update(self._describe_tags(batch))
        return found

    # ------------------------------------------------------------------ writes

    def register(self, arn: str, ips: Iterable[str], port: int) -> list[Rejection]:
        """RegisterTargets with the port; IPs ELB refuses are set aside, with its words.

        An IP outside the group's VPC needs ``AvailabilityZone: all``; which IPs are
        outside is learnt from ELB itself (a ValidationError about the zone that quotes
        the IP). Registering them is an explicit choice (``TGSYNC_OUTSIDE_VPC=allow``):
        peered and on-premises hosts are where a poisoned answer does most harm.
        Otherwise such an IP is refused, naming the setting.
        """
        rejected: dict[str, str] = {}
        with self._lock:
            outside = self._outside.setdefault(arn, set()) if self._outside_vpc else set()
        for batch in chunks(sorted({canonical_ip(ip) for ip in ips}), TARGET_CHUNK):
            self._register_batch(arn, list(batch), port, outside, rejected)
        return [Rejection(ip, message) for ip, message in sorted(rejected.items())]

    def _register_batch(self, arn: str, batch: list[str], port: int, outside: set[str],
                        rejected: dict[str, str]) -> None:
        todo = list(batch)
        flipped: dict[str, str] = {}  # IP -> ELB's first words, once its zone was flipped
        while todo:
            try:
                self._call("RegisterTargets", arn, TargetGroupArn=arn, Targets=[
                    _target(ip, port, "all" if ip in outside else None) for ip in todo])
                return
            except ProviderError as exc:
                cause = exc.__cause__
                if not isinstance(cause, ClientError) or exc.code not in TARGET_ERRORS:
                    raise
                ip = refused_target(cause, todo)
                if ip is None:  # ELB named no IP: find the refused ones one at a time
                    if len(todo) == 1:
                        rejected[todo[0]] = exc.aws_message
                        return
                    for one in todo:
                        self._register_batch(arn, [one], port, outside, rejected)
                    return
                zone = is_zone_error(cause)
                if zone and not self._outside_vpc and ip not in outside:
                    rejected[ip] = (f"{exc.aws_message} (outside the target group's VPC: "
                                    "set TGSYNC_OUTSIDE_VPC=allow to register such addresses "
                                    "with AvailabilityZone all)")
                    todo.remove(ip)
                    continue
                if ip not in flipped and zone:
                    flipped[ip] = exc.aws_message
                    outside ^= {ip}
                    continue
                if ip in flipped:
                    outside ^= {ip}  # neither zone worked: as it was
                rejected[ip] = flipped.get(ip, exc.aws_message)
                todo.remove(ip)

    def register_as_reported(self, arn: str, target: Target) -> None:
        """RegisterTargets of one target exactly as ELB reported it (its Id spelling, port
        and zone): what a preflight sends to prove the permission without a change."""
        self._call("RegisterTargets", arn, TargetGroupArn=arn, Targets=[
            _target(target.id, target.port, target.availability_zone)])

    def deregister(self, arn: str, targets: Sequence[Target]) -> None:
        """DeregisterTargets with each target's port (without it ELB silently does
        nothing) and the zone ELB reported for it (required outside the VPC)."""
        for batch in chunks(sorted(targets, key=lambda t: (t.ip, t.port)), TARGET_CHUNK):
            self._call("DeregisterTargets", arn, TargetGroupArn=arn, Targets=[
                _target(t.id, t.port, t.availability_zone) for t in batch])

    def change_tags(self, arn: str, add: Mapping[str, str], remove: Sequence[str]) -> None:
        """RemoveTags, then AddTags, each batched: a full tag set must first make room."""
        for keys in chunks(sorted(remove), TAGS_PER_CALL):
            self._call("RemoveTags", arn, ResourceArns=[arn], TagKeys=list(keys))
        for batch in chunks(sorted(add.items()), TAGS_PER_CALL):
            self._call("AddTags", arn, ResourceArns=[arn],
                       Tags=[{"Key": k, "Value": v} for k, v in batch])


def _method(operation: str) -> str:
    """boto3's method for an API operation: ``DescribeTargetHealth`` ->
    ``describe_target_health``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower()


def _facts(group: TargetGroupTypeDef) -> TargetGroupFacts:
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
        regions.setdefault(region_of(arn), []).append(arn)
    for same_region in regions.values():
        yield from chunks(same_region, ARNS_PER_CALL)


def _target(ip: str, port: int, zone: str | None) -> TargetDescriptionTypeDef:
    if zone:
        return {"Id": ip, "Port": port, "AvailabilityZone": zone}
    return {"Id": ip, "Port": port}
