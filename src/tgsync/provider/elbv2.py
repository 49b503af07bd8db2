"""ELBv2 provider: the target group through boto3.

Thin on purpose: each method is one API call (or a few, batched), errors become
:class:`~tgsync.errors.ProviderError` with the operation, the cause and the fix. The
endpoint comes from boto3's standard settings (``AWS_ENDPOINT_URL``,
``AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2``), retries from botocore's standard
mode with bounded attempts and timeouts far inside the function's own.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError

from tgsync.arn import region_of
from tgsync.discovery import Candidate
from tgsync.errors import ProviderError
from tgsync.model import Rejection, Target, TargetGroupFacts, canonical_ip
from tgsync.pacing import Pacer, unpaced

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
#: Tags per AddTags call, and resource ARNs per DescribeTags call (API maximum 20).
TAG_CHUNK = 20
#: Requests per API call, first try included; retried: throttling, 5xx, resets.
TOTAL_MAX_ATTEMPTS = 3
CONNECT_TIMEOUT_SECONDS = 2
READ_TIMEOUT_SECONDS = 5

#: Error codes with which ELB refuses one target of a batch.
TARGET_ERRORS = ("ValidationError", "InvalidTarget")
#: An IP literal in quotes, as ELB quotes the target it refuses.
_QUOTED = re.compile(r"""['"]([0-9A-Fa-f:.]+)['"]""")
#: Words of every known "Availability Zone required / not allowed" wording (all name
#: the VPC or the zone): "... because it is not in the VPC", "... is outside the VPC",
#: "... must be 'all' ... when not within the VPC", "... not within any of the subnets
#: of the target group's VPC", "... is within the VPC, and cannot have its Availability
#: Zone overridden to 'all'".
_ZONE_WORDS = re.compile(r"\bvpc\b|availability zone", re.IGNORECASE)

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


def error_message(exc: ClientError) -> str:
    """ELB's own words for a ``ClientError``."""
    return str(exc.response.get("Error", {}).get("Message", ""))


def refused_target(exc: ClientError, batch: Iterable[str]) -> str | None:
    """The IP of ``batch`` that ELB's error quotes, for errors about one target."""
    if error_code(exc) not in TARGET_ERRORS:
        return None
    members = {canonical_ip(ip) for ip in batch}
    for quoted in _QUOTED.findall(error_message(exc)):
        if canonical_ip(quoted) in members:
            return canonical_ip(quoted)
    return None


def is_zone_error(exc: ClientError) -> bool:
    """ELB's error is about the Availability Zone of an IP inside or outside the VPC."""
    return error_code(exc) == "ValidationError" and bool(_ZONE_WORDS.search(error_message(exc)))


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
                "keeps its memory of IPs missing from DNS in tags named tgsync:missing:*: "
                "remove other tags you no longer need (until then, healthy IPs missing "
                "from DNS are not retired)")
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
        write_pacer: Pacer | None = None,
    ) -> None:
        self._client_for_region = client_for_region
        self._clients: dict[str, ElasticLoadBalancingv2Client] = {}
        self._facts: dict[str, TargetGroupFacts] = {}
        self._outside: dict[str, set[str]] = {}
        # ELB throttles Describe calls and writes in separate buckets: pace them so.
        self._pacer = pacer
        self._write_pacer = write_pacer or pacer
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ plumbing

    def _client(self, arn: str) -> ElasticLoadBalancingv2Client:
        return self._client_in(region_of(arn))

    def _client_in(self, region: str) -> ElasticLoadBalancingv2Client:
        with self._lock:
            if region not in self._clients:
                self._clients[region] = self._client_for_region(region)
            return self._clients[region]

    @contextlib.contextmanager
    def _calling(self, operation: str, arn: str) -> Iterator[ElasticLoadBalancingv2Client]:
        """Pace one call of ``operation`` and turn its failure into a ProviderError.

        ``arn`` names what the call is about (its region picks the client); a call
        about a whole region passes ``arn:aws:elasticloadbalancing:REGION``.
        """
        if operation not in OPERATIONS:
            raise ValueError(f"{operation} is not in OPERATIONS: the role would not allow it")
        client = self._client(arn)
        (self._pacer if operation in READ_OPERATIONS else self._write_pacer).acquire()
        try:
            yield client
        except (ClientError, BotoCoreError) as exc:
            raise explain(operation, arn, exc) from exc

    # ------------------------------------------------------------------ reads

    def facts(self, arn: str) -> TargetGroupFacts:
        """DescribeTargetGroups, once per process and target group."""
        cached = self._facts.get(arn)
        if cached is not None:
            return cached
        with self._calling("DescribeTargetGroups", arn) as client:
            response = client.describe_target_groups(TargetGroupArns=[arn])
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
                with self._calling("DescribeTargetGroups", batch[0]) as client:
                    response = client.describe_target_groups(TargetGroupArns=list(batch),
                                                             PageSize=len(batch))
            except ProviderError:
                continue
            for group in response.get("TargetGroups", []):
                self._facts[group["TargetGroupArn"]] = _facts(group)

    def discover(self, region: str) -> list[Candidate]:
        """Every target group of ``region`` with its tags: DescribeTargetGroups 400 to a
        page, DescribeTags 20 groups to a call, all paced. Facts are cached on the way."""
        where = f"arn:aws:elasticloadbalancing:{region}"
        groups: list[TargetGroupTypeDef] = []
        marker: str | None = None
        while True:
            with self._calling("DescribeTargetGroups", where) as client:
                page = (client.describe_target_groups(PageSize=DISCOVERY_PAGE, Marker=marker)
                        if marker else client.describe_target_groups(PageSize=DISCOVERY_PAGE))
            groups.extend(page.get("TargetGroups", []))
            marker = page.get("NextMarker")
            if not marker:
                break
        for group in groups:
            self._facts[group["TargetGroupArn"]] = _facts(group)
        tags = self.tags_many([g["TargetGroupArn"] for g in groups])
        return [Candidate(g["TargetGroupArn"], g.get("TargetGroupName", ""),
                          g.get("TargetType", ""), tags.get(g["TargetGroupArn"], {}))
                for g in groups]

    def targets(self, arn: str) -> list[Target]:
        """DescribeTargetHealth: one call, every target on every port."""
        with self._calling("DescribeTargetHealth", arn) as client:
            response = client.describe_target_health(TargetGroupArn=arn)
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
            self._outside.setdefault(arn, set()).update(outside)
        return found

    def tags(self, arn: str) -> dict[str, str]:
        """DescribeTags of the group."""
        return self.tags_many([arn]).get(arn, {})

    def tags_many(self, arns: Sequence[str]) -> dict[str, dict[str, str]]:
        """DescribeTags of many groups, 20 to a call."""
        found: dict[str, dict[str, str]] = {}
        for batch in _batches_by_region(arns):
            with self._calling("DescribeTags", batch[0]) as client:
                response = client.describe_tags(ResourceArns=list(batch))
            for description in response.get("TagDescriptions", []):
                found[description.get("ResourceArn", "")] = {
                    t["Key"]: t.get("Value", "") for t in description.get("Tags", [])}
        return found

    # ------------------------------------------------------------------ writes

    def register(self, arn: str, ips: Iterable[str], port: int) -> list[Rejection]:
        """RegisterTargets with the port; ``AvailabilityZone: all`` for IPs outside the VPC.

        Which IPs are outside the VPC is learnt from ELB itself: a ValidationError about
        the zone that quotes an IP is retried with the zone flipped, and remembered.
        Any other refusal of one target (an address ELB does not take) sets that IP
        aside and registers the rest; the refused IPs are returned with ELB's words.
        """
        rejected: dict[str, str] = {}
        outside = self._outside.setdefault(arn, set())
        for batch in chunks(sorted({canonical_ip(ip) for ip in ips}), TARGET_CHUNK):
            self._register_batch(arn, list(batch), port, outside, rejected)
        return [Rejection(ip, message) for ip, message in sorted(rejected.items())]

    def _register_batch(self, arn: str, batch: list[str], port: int, outside: set[str],
                        rejected: dict[str, str]) -> None:
        todo = list(batch)
        flipped: dict[str, str] = {}  # IP -> ELB's first words, once its zone was flipped
        while todo:
            try:
                with self._calling("RegisterTargets", arn) as client:
                    client.register_targets(TargetGroupArn=arn, Targets=[
                        _target(ip, port, "all" if ip in outside else None) for ip in todo])
                return
            except ProviderError as exc:
                cause = exc.__cause__
                if not isinstance(cause, ClientError) or error_code(cause) not in TARGET_ERRORS:
                    raise
                ip = refused_target(cause, todo)
                if ip is None:  # ELB named no IP: find the refused ones one at a time
                    if len(todo) == 1:
                        rejected[todo[0]] = error_message(cause)
                        return
                    for one in todo:
                        self._register_batch(arn, [one], port, outside, rejected)
                    return
                if ip not in flipped and is_zone_error(cause):
                    flipped[ip] = error_message(cause)
                    outside ^= {ip}
                    continue
                if ip in flipped:
                    outside ^= {ip}  # neither zone worked: as it was
                rejected[ip] = flipped.get(ip, error_message(cause))
                todo.remove(ip)

    def deregister(self, arn: str, targets: Sequence[Target]) -> None:
        """DeregisterTargets with each target's port (without it ELB silently does
        nothing) and the zone ELB reported for it (required outside the VPC)."""
        for batch in chunks(sorted(targets, key=lambda t: (t.ip, t.port)), TARGET_CHUNK):
            with self._calling("DeregisterTargets", arn) as client:
                client.deregister_targets(TargetGroupArn=arn, Targets=[
                    _target(t.id, t.port, t.availability_zone) for t in batch])

    def change_tags(self, arn: str, add: Mapping[str, str], remove: Sequence[str]) -> None:
        """RemoveTags, then AddTags, each batched: a full tag set must first make room."""
        for keys in chunks(sorted(remove), TAG_CHUNK):
            with self._calling("RemoveTags", arn) as client:
                client.remove_tags(ResourceArns=[arn], TagKeys=list(keys))
        for batch in chunks(sorted(add.items()), TAG_CHUNK):
            with self._calling("AddTags", arn) as client:
                client.add_tags(ResourceArns=[arn], Tags=[{"Key": k, "Value": v}
                                                          for k, v in batch])


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
        yield from chunks(same_region, TAG_CHUNK)


def _target(ip: str, port: int, zone: str | None) -> TargetDescriptionTypeDef:
    if zone:
        return {"Id": ip, "Port": port, "AvailabilityZone": zone}
    return {"Id": ip, "Port": port}
