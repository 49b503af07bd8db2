"""ELBv2 provider: the target group through boto3.

Thin on purpose: each method is one API call (or a few, batched), made through the one
AWS call path (:mod:`tgsync.aws`: paced, retried within the caller's deadline, which
every method takes), its failure a :class:`~tgsync.errors.ProviderError` with the
operation, the group, ELB's code and the fix. The endpoint comes from boto3's standard
settings (``AWS_ENDPOINT_URL``, ``AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2``). The
operations, the API's limits and shapes live in :mod:`tgsync.provider.elbv2_api`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from tgsync.arn import region_of
from tgsync.aws import ATTEMPT_SECONDS, MIN_ATTEMPT_SECONDS, Aws
from tgsync.deadline import NONE, Deadline
from tgsync.errors import ProviderError
from tgsync.model import Candidate, Rejection, Target, TargetGroupFacts, canonical_ip
from tgsync.pacing import Pacer, unpaced
from tgsync.provider.elbv2_api import (
    DISCOVERY_PAGE,
    ELBV2,
    OPERATIONS,
    READ_OPERATIONS,
    TAGS_PER_CALL,
    TARGET_CHUNK,
    WRITE_OPERATIONS,
    batches_by_region,
    boto_config,
    chunks,
    facts_of,
    make_client,
    target_description,
)
from tgsync.provider.errors import TARGET_ERRORS, is_zone_error, refused_target

if TYPE_CHECKING:
    from mypy_boto3_elbv2 import ElasticLoadBalancingv2Client
    from mypy_boto3_elbv2.type_defs import TargetDescriptionTypeDef, TargetGroupTypeDef
else:
    ElasticLoadBalancingv2Client = TargetDescriptionTypeDef = TargetGroupTypeDef = Any

__all__ = [
    "ATTEMPT_SECONDS",
    "ELBV2",
    "MIN_ATTEMPT_SECONDS",
    "OPERATIONS",
    "READ_OPERATIONS",
    "WRITE_OPERATIONS",
    "Elbv2Provider",
    "boto_config",
    "chunks",
    "make_client",
]


class Elbv2Provider:
    """A :class:`~tgsync.provider.Provider` over the process's :class:`~tgsync.aws.Aws`.

    Keep one instance per process: it caches target group facts, and which IPs
    proved to be outside the group's VPC, for the life of the execution environment
    (pruned to the groups still kept, see :meth:`keep_only`). Without ``aws``, one is
    made from ``client_for_region`` (a test's clients) and the two pacers (Describe
    calls, writes: ELB throttles them in separate buckets).
    """

    def __init__(
        self,
        aws: Aws | None = None,
        *,
        outside_vpc: bool = False,
        client_for_region: Callable[[str], ElasticLoadBalancingv2Client] | None = None,
        pacer: Pacer = unpaced,
        write_pacer: Pacer | None = None,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        if aws is None:
            made = client_for_region
            aws = Aws(
                pacers={ELBV2.name: pacer, ELBV2.bucket("AddTags"): write_pacer or pacer},
                client_for=None
                if made is None
                else (
                    lambda service, region, _c, _role: (
                        made(region) if service == ELBV2.name else None
                    )
                ),
                sleep=sleep,
            )
        self.aws = aws
        self._facts: dict[str, TargetGroupFacts] = {}
        self._outside: dict[str, set[str]] = {}
        self._outside_vpc = outside_vpc
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ plumbing

    def keep_only(self, arns: Iterable[str]) -> None:
        """Forget what is cached about groups no longer kept (bounded memory over days)."""
        kept = set(arns)
        with self._lock:
            for cache in (self._facts, self._outside):
                for arn in [a for a in cache if a not in kept]:
                    del cache[arn]

    def _call(
        self,
        operation: str,
        arn: str,
        *,
        deadline: Deadline = NONE,
        region: str | None = None,
        **params: Any,
    ) -> Any:
        """One call of ``operation`` with ``params`` through the one AWS call path.
        ``arn`` names what the call is about (its region picks the client); a call about
        a whole region names it in words and passes ``region``."""
        group = arn if ":targetgroup/" in arn else ""
        return self.aws.call(
            ELBV2,
            operation,
            region=region or region_of(arn),
            about=f"target group {arn}" if group else arn,
            deadline=deadline,
            resource=group,
            **params,
        )

    # ------------------------------------------------------------------ reads

    def facts(self, arn: str, *, deadline: Deadline = NONE) -> TargetGroupFacts:
        """DescribeTargetGroups, once per process and target group."""
        cached = self._facts.get(arn)
        if cached is not None:
            return cached
        response = self._call("DescribeTargetGroups", arn, deadline=deadline, TargetGroupArns=[arn])
        groups = response.get("TargetGroups", [])
        if not groups:
            raise ProviderError(
                f"DescribeTargetGroups: target group {arn} not found",
                operation="DescribeTargetGroups",
                target_group=arn,
                code="TargetGroupNotFound",
            )
        self._facts[arn] = facts_of(groups[0])
        return self._facts[arn]

    def prefetch(self, arns: Sequence[str], *, deadline: Deadline = NONE) -> None:
        """Read the facts of many groups in batches (a cold start with many mappings).

        Best effort: a batch that fails (one ARN in it is wrong) is left for
        :meth:`facts` to read, and report, one group at a time.
        """
        for batch in batches_by_region([a for a in arns if a not in self._facts]):
            try:
                response = self._call(
                    "DescribeTargetGroups",
                    batch[0],
                    deadline=deadline,
                    TargetGroupArns=list(batch),
                    PageSize=len(batch),
                )
            except ProviderError:
                continue
            for group in response.get("TargetGroups", []):
                self._facts[group["TargetGroupArn"]] = facts_of(group)

    def discover(self, region: str, *, deadline: Deadline = NONE) -> list[Candidate]:
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
            page = self._call(
                "DescribeTargetGroups",
                where,
                deadline=deadline,
                region=region,
                PageSize=DISCOVERY_PAGE,
                **paging,
            )
            groups.extend(page.get("TargetGroups", []))
            marker = page.get("NextMarker")
            if not marker:
                break
        for group in groups:
            self._facts[group["TargetGroupArn"]] = facts_of(group)
        tags = self._tags_of_existing([g["TargetGroupArn"] for g in groups], deadline)
        return [
            Candidate(
                g["TargetGroupArn"],
                g.get("TargetGroupName", ""),
                g.get("TargetType", ""),
                tags[g["TargetGroupArn"]],
            )
            for g in groups
            if g["TargetGroupArn"] in tags
        ]

    def _tags_of_existing(
        self, arns: Sequence[str], deadline: Deadline
    ) -> dict[str, dict[str, str]]:
        """Tags of the groups of ``arns`` that still exist: a batch refused because one
        of its groups is gone is split in halves until the gone ones stand alone."""
        found: dict[str, dict[str, str]] = {}
        todo = list(batches_by_region(arns))
        while todo:
            batch = todo.pop()
            try:
                found.update(self._describe_tags(batch, deadline))
            except ProviderError as exc:
                if not exc.not_found:
                    raise
                if len(batch) > 1:
                    half = len(batch) // 2
                    todo += [batch[:half], batch[half:]]
                else:
                    self._facts.pop(batch[0], None)
        return found

    def _describe_tags(self, batch: Sequence[str], deadline: Deadline) -> dict[str, dict[str, str]]:
        response = self._call("DescribeTags", batch[0], deadline=deadline, ResourceArns=list(batch))
        return {
            d.get("ResourceArn", ""): {t["Key"]: t.get("Value", "") for t in d.get("Tags", [])}
            for d in response.get("TagDescriptions", [])
        }

    def targets(self, arn: str, *, deadline: Deadline = NONE) -> list[Target]:
        """DescribeTargetHealth: one call, every target on every port."""
        response = self._call("DescribeTargetHealth", arn, deadline=deadline, TargetGroupArn=arn)
        found = []
        for item in response.get("TargetHealthDescriptions", []):
            target = item.get("Target", {})
            health = item.get("TargetHealth", {})
            elb_id = str(target.get("Id", ""))
            ip = canonical_ip(elb_id)
            found.append(
                Target(
                    ip=ip,
                    port=int(target.get("Port") or 0),
                    state=str(health.get("State", "unknown")),
                    reason=health.get("Reason"),
                    availability_zone=target.get("AvailabilityZone"),
                    elb_id=elb_id if elb_id != ip else None,
                )
            )
        outside = {t.ip for t in found if t.availability_zone == "all"}
        if outside:
            with self._lock:
                self._outside.setdefault(arn, set()).update(outside)
        return found

    def tags(self, arn: str, *, deadline: Deadline = NONE) -> dict[str, str]:
        """DescribeTags of the group."""
        return self.tags_many([arn], deadline=deadline).get(arn, {})

    def tags_many(
        self, arns: Sequence[str], *, deadline: Deadline = NONE
    ) -> dict[str, dict[str, str]]:
        """DescribeTags of many groups, 20 to a call."""
        found: dict[str, dict[str, str]] = {}
        for batch in batches_by_region(arns):
            found.update(self._describe_tags(batch, deadline))
        return found

    # ------------------------------------------------------------------ writes

    def register(
        self, arn: str, ips: Iterable[str], port: int, *, deadline: Deadline = NONE
    ) -> list[Rejection]:
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
            self._register_batch(
                arn, list(batch), port, outside, rejected=rejected, deadline=deadline
            )
        return [Rejection(ip, message) for ip, message in sorted(rejected.items())]

    def _register_batch(
        self,
        arn: str,
        batch: list[str],
        port: int,
        outside: set[str],
        *,
        rejected: dict[str, str],
        deadline: Deadline,
    ) -> None:
        todo = list(batch)
        flipped: dict[str, str] = {}  # IP -> ELB's first words, once its zone was flipped
        while todo:
            try:
                self._call(
                    "RegisterTargets",
                    arn,
                    deadline=deadline,
                    TargetGroupArn=arn,
                    Targets=[
                        target_description(ip, port, "all" if ip in outside else None)
                        for ip in todo
                    ],
                )
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
                        self._register_batch(
                            arn, [one], port, outside, rejected=rejected, deadline=deadline
                        )
                    return
                zone = is_zone_error(cause)
                if zone and not self._outside_vpc and ip not in outside:
                    rejected[ip] = (
                        f"{exc.aws_message} (outside the target group's VPC: "
                        "set TGSYNC_OUTSIDE_VPC=allow to register such addresses "
                        "with AvailabilityZone all)"
                    )
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

    def register_as_reported(self, arn: str, target: Target, *, deadline: Deadline = NONE) -> None:
        """RegisterTargets of one target exactly as ELB reported it (its Id spelling, port
        and zone): what a preflight sends to prove the permission without a change."""
        self._call(
            "RegisterTargets",
            arn,
            deadline=deadline,
            TargetGroupArn=arn,
            Targets=[target_description(target.id, target.port, target.availability_zone)],
        )

    def deregister(self, arn: str, targets: Sequence[Target], *, deadline: Deadline = NONE) -> None:
        """DeregisterTargets with each target's port (without it ELB silently does
        nothing) and the zone ELB reported for it (required outside the VPC)."""
        for batch in chunks(sorted(targets, key=lambda t: (t.ip, t.port)), TARGET_CHUNK):
            self._call(
                "DeregisterTargets",
                arn,
                deadline=deadline,
                TargetGroupArn=arn,
                Targets=[target_description(t.id, t.port, t.availability_zone) for t in batch],
            )

    def change_tags(
        self, arn: str, add: Mapping[str, str], remove: Sequence[str], *, deadline: Deadline = NONE
    ) -> None:
        """RemoveTags, then AddTags, each batched: a full tag set must first make room."""
        for keys in chunks(sorted(remove), TAGS_PER_CALL):
            self._call("RemoveTags", arn, deadline=deadline, ResourceArns=[arn], TagKeys=list(keys))
        for batch in chunks(sorted(add.items()), TAGS_PER_CALL):
            self._call(
                "AddTags",
                arn,
                deadline=deadline,
                ResourceArns=[arn],
                Tags=[{"Key": k, "Value": v} for k, v in batch],
            )
