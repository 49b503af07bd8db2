"""Preflight: ``tgsync check`` and the Lambda event ``{"check": true}``.

Reports one line per check, OK / FAIL / UNVERIFIED with the fix, and never writes a key
or a target a sync may write. Most failed deployments of a function like this come
from the network and IAM, so the checks follow a cycle's path: the ELB endpoint, each
target group, the name through the configured DNS servers, the read permissions and
the write permissions. When the ELB endpoint cannot be reached, the DNS checks still
run, one line each. A ``resolve=rds`` mapping's name is checked through the RDS read
(read-only calls), the cluster's members for the role and each member's instance
endpoint.

Writes are checked only with requests that change nothing a sync relies on:

- ``RegisterTargets`` of ``192.0.2.1`` (TEST-NET-1, a public address ELB never accepts
  as a target: IAM allows or denies the call first, then ELB refuses the address, so a
  refusal of the *address* proves the permission and nothing is registered). Never a
  target the group holds: re-registering one that a sync retires meanwhile would bring
  a stale IP back;
- ``DeregisterTargets`` of ``192.0.2.1`` (never registered; deregistering an unknown
  target succeeds and does nothing);
- ``RemoveTags`` of the key ``tgsync:missing:check``, after checking the group has no
  such tag, and ``AddTags`` of that key followed by its removal: a key only the check
  uses (no mapping reads or writes it, its port is not a number), allowed by the
  role's ``tgsync:missing:*`` condition, and only while the group has a free tag.

Where no such request exists (an empty group, no free tag), the permission is reported
UNVERIFIED, plainly, rather than risking a change. The checks end before the
invocation's deadline: groups not reached are named in one line.

:func:`code_signing` (whether a function with a code signing configuration runs
signed code) is made from outside the function, by ``make deploy`` after every
deployment: see its docstring for why.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from botocore.exceptions import ClientError

from tgsync.arn import load_balancer_name
from tgsync.aws_service import Service
from tgsync.config import Config, Discovery, MappingConfig
from tgsync.deadline import Deadline
from tgsync.discovery import adopt
from tgsync.errors import AwsError, ProviderError
from tgsync.guard import screen
from tgsync.mapping import EVERY_GROUP
from tgsync.model import Resolve, Retire, TargetGroupFacts
from tgsync.permission_checks import (
    FAIL,
    OK,
    UNVERIFIED,
    WARN,
    Check,
    denied_or_failed,
    permission_checks,
)
from tgsync.provider import Provider
from tgsync.signatures import MacKey
from tgsync.source import Nameserver, Source, source_of
from tgsync.source.rds import OPERATIONS as RDS_OPERATIONS

#: Seconds one group's checks may take at worst with every call slow: a new group is
#: not started with less time left (its calls are also cut by the deadline).
GROUP_SECONDS = 10.0


def run(
    config: Config,
    provider: Provider,
    source_for: Callable[[tuple[Nameserver, ...]], Source],
    time_left: Callable[[], float] | None = None,
    record_key: MacKey | None = None,
) -> list[Check]:
    """Every check for every mapping, before ``time_left()`` runs out; never raises for
    AWS or DNS faults. ``record_key``: the key ``TGSYNC_RECORD_KEY`` names."""
    deadline = Deadline(time_left)
    checks: list[Check] = list(_record_key_checks(config, record_key, deadline))
    mappings = list(config.mappings)
    reachable = True
    if config.discovery is not None:
        found, reachable = _discovery_checks(config.discovery, provider, checks, deadline)
        mappings += found
    for index, mapping in enumerate(mappings):
        if deadline.bounded and not deadline.allows(GROUP_SECONDS):
            rest = ", ".join(m.target_group_name for m in mappings[index:])
            checks.append(
                Check(
                    UNVERIFIED,
                    "not checked",
                    f"no time left before the "
                    f"invocation's deadline for {len(mappings) - index} group(s): "
                    f"{rest}; run the check again, or raise the timeout",
                )
            )
            break
        group = list(_mapping_checks(mapping, provider, source_for, deadline, reachable))
        checks.extend(group)
        if any(c.name == "ELB endpoint" for c in group):
            reachable = False
    checks.extend(Check(FAIL, bad.label, "; ".join(bad.problems)) for bad in config.invalid)
    return checks


def _discovery_checks(
    discovery: Discovery, provider: Provider, checks: list[Check], deadline: Deadline
) -> tuple[list[MappingConfig], bool]:
    """List the region's groups as discovery does; the adopted ones are checked next.
    Returns them, and whether the ELB endpoint answered."""
    name = f"discovery in {discovery.region}"
    try:
        found = adopt(provider.discover(discovery.region, deadline=deadline), discovery)
    except ProviderError as exc:
        if exc.unreachable:
            checks.append(_unreachable(exc))
            return [], False
        checks.append(Check(FAIL, name, denied_or_failed(exc)))
        return [], True
    owner = f"owner {discovery.owner}" if discovery.owner else "no owner tag"
    prefix = (
        ", any name (prefix *)"
        if discovery.prefix == EVERY_GROUP
        else f", names starting {discovery.prefix!r}"
        if discovery.prefix
        else ""
    )
    checks.append(
        Check(
            OK,
            name,
            f"{found.read} group(s) read, {len(found.mappings)} "
            f"adopted ({owner}{prefix}), {len(found.others)} of other owners",
        )
    )
    checks.extend(Check(FAIL, bad.label, "; ".join(bad.problems)) for bad in found.refused)
    return list(found.mappings), True


def _unreachable(exc: ProviderError) -> Check:
    return Check(FAIL, "ELB endpoint", f"{exc}; the DNS checks below still ran")


def _mapping_checks(
    mapping: MappingConfig,
    provider: Provider,
    source_for: Callable[[tuple[Nameserver, ...]], Source],
    deadline: Deadline,
    reachable: bool,
) -> Iterator[Check]:
    group = mapping.target_group_name
    facts: TargetGroupFacts | None = None
    if reachable:
        try:
            facts = provider.facts(mapping.target_group_arn, deadline=deadline)
        except ProviderError as exc:
            if exc.unreachable:
                yield _unreachable(exc)
            else:
                yield Check(FAIL, f"target group {group}", denied_or_failed(exc))
    if facts is None:  # no group to read: the name is still worth checking
        yield from _dns_check(mapping, None, source_for, deadline)
        return
    yield _group_check(mapping, facts)
    yield from _dns_check(mapping, facts, source_for, deadline)
    yield from permission_checks(mapping, facts, provider, deadline)


def _group_check(mapping: MappingConfig, facts: TargetGroupFacts) -> Check:
    name = f"target group {facts.name}"
    if facts.target_type != "ip":
        return Check(
            FAIL,
            name,
            f"target type {facts.target_type!r}; tgsync needs a group of "
            "type ip: create one with --target-type ip",
        )
    attached = ", ".join(load_balancer_name(a) for a in facts.load_balancer_arns) or "none"
    detail = (
        f"type ip, {facts.protocol}:{mapping.port or facts.port}, {facts.vpc_id}, "
        f"{facts.ip_address_type}, load balancer(s): {attached}"
    )
    if not facts.load_balancer_arns:
        return Check(
            FAIL,
            name,
            detail + "; attach it to a listener rule of your load "
            "balancer, or nothing reaches the targets",
        )
    if (
        mapping.alb_id
        and mapping.alb_id not in facts.load_balancer_arns
        and mapping.alb_id not in {load_balancer_name(a) for a in facts.load_balancer_arns}
    ):
        return Check(FAIL, name, detail + f"; not attached to AlbId {mapping.alb_id}")
    return Check(OK, name, detail)


def _dns_check(
    mapping: MappingConfig,
    facts: TargetGroupFacts | None,
    source_for: Callable[[tuple[Nameserver, ...]], Source],
    deadline: Deadline,
) -> Iterator[Check]:
    """The name through the configured servers; without the group's facts (ELB not
    reached) its A records, as an ipv4 group would ask."""
    servers = ", ".join(str(s) for s in mapping.dns_servers) or "the system resolver"
    rds = mapping.resolve is Resolve.RDS
    name = f"{'RDS' if rds else 'DNS'} {mapping.hostname}"
    record_type = facts.record_type if facts else "A"
    resolution = source_of(
        source_for, mapping.dns_servers, mapping.resolve, mapping.rds_role_arn
    ).resolve(mapping.hostname, record_type, mapping.lookups, deadline=deadline)
    if resolution.error:
        yield Check(
            FAIL,
            name,
            _rds_failure(resolution.error, servers)
            if rds
            else _dns_failure(resolution.error, servers),
        )
        return
    if rds:  # the read, the members for the role, and each member's instance endpoint
        calls = RDS_OPERATIONS if ".cluster-custom-" in mapping.hostname else RDS_OPERATIONS[:2]
        yield Check(
            OK,
            name,
            f"{', '.join(calls)} allowed and answered: {resolution.note}; "
            "their instance endpoints resolve (below)",
        )
    allowed, refused = screen(resolution.answers, mapping.allowed_cidrs, mapping.narrowed_cidrs)
    for refusal in refused:
        yield Check(
            FAIL if not allowed else OK,
            name,
            f"{refusal.answer} would be refused: {refusal.reason}",
        )
    if allowed:
        yield Check(OK, name, f"{record_type} {', '.join(sorted(allowed))} via {servers}")
    else:
        yield Check(FAIL, name, "no answer the guard allows; check TGSYNC_ALLOWED_CIDRS")


def _dns_failure(error: str, servers: str) -> str:
    """A failed lookup, with the fix that fits it: a name the resolver says does not
    exist is not a network problem."""
    if error.startswith("NXDOMAIN"):
        return (
            f"{error} (asked {servers}): check the hostname's spelling, and that this "
            "resolver sees its zone (a private hosted zone must be associated with the VPC; "
            "a VPC endpoint's name resolves only inside the VPC)"
        )
    return (
        f"{error} (asked {servers}); allow UDP and TCP 53 to the resolver from where tgsync "
        "runs (in Lambda: the function's security group)"
    )


def _rds_failure(error: str, servers: str) -> str:
    """A failed ``resolve=rds`` check: an RDS call (its message names the call and the
    permission), the cluster's members, or an instance endpoint's lookup."""
    if error.startswith("rds:"):
        return error
    if error.startswith("instance "):
        return _dns_failure(error, servers)
    return error


def _record_key_checks(config: Config, key: MacKey | None, deadline: Deadline) -> Iterator[Check]:
    """The record key signs and verifies (a MAC made, then checked); without a key, where
    ownership records are read (retire=owned, or discovery, whose tags may ask for it),
    that they are trusted as written, and what must keep them so."""
    name = "ownership records"
    if key is None or config.record_key is None:
        if config.discovery is not None or any(m.retire is Retire.OWNED for m in config.mappings):
            yield Check(
                WARN,
                name,
                "not signed (no TGSYNC_RECORD_KEY): a tgsync:owned:* tag "
                "is trusted as written, and anyone with elasticloadbalancing:AddTags "
                "can write one; deny tgsync:* tag writes to everyone but tgsync and "
                "the people who may register targets (the SCP in the docs, IAM), or "
                "set TGSYNC_RECORD_KEY",
            )
        return
    message = b"tgsync check: the record key signs and verifies"
    try:
        verified = key.verify(message, key.mac(message, deadline), deadline)
    except AwsError as exc:
        yield Check(FAIL, name, f"signed with {config.record_key}: {exc}")
        return
    yield Check(
        OK if verified else FAIL,
        name,
        (
            f"signed with {config.record_key} (GenerateMac and VerifyMac allowed)"
            if verified
            else f"{config.record_key} made a MAC it does not verify: is it an HMAC_256 key "
            "for GENERATE_VERIFY_MAC?"
        ),
    )


#: The Lambda reads of the code signing check (``tgsync check --function``, ``make deploy``).
LAMBDA = Service(
    "lambda", "lambda", "Lambda", ("GetFunctionCodeSigningConfig", "GetFunctionConfiguration")
)


def code_signing(lambda_client: Any, function: str) -> Check:
    """Whether ``function``'s code is signed, when it has a code signing configuration.

    Made from outside the function (``make deploy``, with the deployer's credentials):
    code that checked its own signature would vouch for itself, and the function's role
    would need Lambda reads and a ``lambda`` endpoint in its subnets. It needs
    ``lambda:GetFunctionCodeSigningConfig`` and ``lambda:GetFunctionConfiguration`` on
    the function. Lambda itself refuses (``Enforce``) or logs (``Warn``) code signed by
    a profile the configuration does not trust; this reports what was deployed.
    """
    name = f"code signing of {function}"
    try:
        config = (
            lambda_client.get_function_code_signing_config(FunctionName=function).get(
                "CodeSigningConfigArn"
            )
            or ""
        )
        current = lambda_client.get_function_configuration(FunctionName=function)
    except ClientError as exc:
        return Check(
            UNVERIFIED,
            name,
            f"{exc.response.get('Error', {}).get('Code')}: allow "
            "lambda:GetFunctionCodeSigningConfig and lambda:GetFunctionConfiguration "
            "on the function to whoever runs the check",
        )
    if not config:
        return Check(
            UNVERIFIED,
            name,
            "off: no code signing configuration, so Lambda "
            "deploys unsigned code; set CodeSigningConfigArn (docs: Deploying)",
        )
    profile, job = current.get("SigningProfileVersionArn"), current.get("SigningJobArn")
    if not profile:
        return Check(
            FAIL,
            name,
            f"{config} is set, but the code is not signed (Lambda "
            "deployed it because the configuration's policy is Warn): sign the zip "
            "with AWS Signer (make deploy SIGNING_PROFILE=...) and set the policy "
            "to Enforce",
        )
    return Check(OK, name, f"signed by {profile} (job {job}), checked by Lambda against {config}")
