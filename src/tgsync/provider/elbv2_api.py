"""ELB as the one AWS call path knows it: the operations the role allows, the API's
batch limits, and the shapes of its requests and answers. :mod:`tgsync.provider.elbv2`
makes the calls.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.config import Config as BotoConfig

from tgsync.arn import region_of
from tgsync.aws import CONNECT_TIMEOUT_SECONDS, DEFAULT_POOL, READ_TIMEOUT_SECONDS, Aws
from tgsync.aws import boto_config as aws_boto_config
from tgsync.aws_service import Service
from tgsync.errors import ProviderError
from tgsync.model import TargetGroupFacts

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
T = TypeVar("T")
#: ELB as the one AWS call path knows it.
ELBV2 = Service(
    "elbv2",
    "elasticloadbalancing",
    "ELB",
    OPERATIONS,
    writes=frozenset(WRITE_OPERATIONS),
    not_found=frozenset({"TargetGroupNotFound"}),
    error=ProviderError,
)


def boto_config(max_pool_connections: int = DEFAULT_POOL, **timeouts: float) -> BotoConfig:
    """The botocore settings every client uses (see :func:`tgsync.aws.boto_config`)."""
    return aws_boto_config(max_pool_connections, **timeouts)


def make_client(
    region: str,
    max_pool_connections: int = DEFAULT_POOL,
    *,
    connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
    read_timeout: float = READ_TIMEOUT_SECONDS,
) -> ElasticLoadBalancingv2Client:
    """An ELBv2 client for ``region`` with these settings, the standard boto3 way (a
    test's own client; the function's come from :class:`tgsync.aws.Aws`)."""
    client: ElasticLoadBalancingv2Client = Aws(
        pool=max_pool_connections, connect_timeout=connect_timeout, read_timeout=read_timeout
    ).client(ELBV2, region)
    return client


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """Split ``items`` into consecutive slices of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def facts_of(group: TargetGroupTypeDef) -> TargetGroupFacts:
    """A DescribeTargetGroups entry as the facts tgsync keeps."""
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


def batches_by_region(arns: Sequence[str]) -> Iterator[Sequence[str]]:
    """ARNs grouped by region (one client each), in chunks a batch call accepts."""
    regions: dict[str, list[str]] = {}
    for arn in dict.fromkeys(arns):
        regions.setdefault(region_of(arn), []).append(arn)
    for same_region in regions.values():
        yield from chunks(same_region, ARNS_PER_CALL)


def target_description(ip: str, port: int, zone: str | None) -> TargetDescriptionTypeDef:
    """A target as RegisterTargets takes it (a zone for one outside the VPC)."""
    if zone:
        return {"Id": ip, "Port": port, "AvailabilityZone": zone}
    return {"Id": ip, "Port": port}
