"""Preflight: ``tgsync check`` and the Lambda event ``{"check": true}``.

Reports one line per check, OK / FAIL / UNVERIFIED with the fix, and changes nothing.
Most failed deployments of a function like this come from the network and IAM, so
the checks follow a cycle's path: the ELB endpoint, each target group, the read
permissions, the name through the configured DNS servers, and the write permissions.

Writes are checked only with requests that cannot change anything:

- ``DeregisterTargets`` of ``192.0.2.1`` (TEST-NET-1, a public address ELB never
  accepts as a target, so it is never registered; deregistering an unknown target
  succeeds and does nothing);
- ``RegisterTargets`` of a target already registered on the port and not draining,
  exactly as ELB reported it (registering a registered target changes nothing);
- ``RemoveTags`` of the key ``tgsync:missing:check``, after checking the group has no
  such tag;
- ``AddTags`` of one of tgsync's own memory tags with the value it already has.

Where no such request exists (an empty group, no memory tag), the permission is
reported UNVERIFIED, plainly, rather than risking a change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from botocore.exceptions import ClientError

from tgsync.arn import load_balancer_name
from tgsync.config import Config, Discovery, MappingConfig
from tgsync.discovery import adopt
from tgsync.errors import ProviderError
from tgsync.guard import screen
from tgsync.model import Target, TargetGroupFacts
from tgsync.provider.elbv2 import Elbv2Provider, is_access_denied
from tgsync.registry import TAG_PREFIX
from tgsync.source import Nameserver, Source

OK, FAIL, UNVERIFIED = "OK", "FAIL", "UNVERIFIED"
#: TEST-NET-1: public, so ELB never registers it; deregistering it changes nothing.
NEVER_A_TARGET = "192.0.2.1"
#: Under tgsync's own prefix, so that a discovery role (RemoveTags of tgsync:missing:*
#: only) may remove it; no mapping reads it (its port is not a number).
CHECK_TAG = "tgsync:missing:check"


@dataclass(frozen=True, slots=True)
class Check:
    """The outcome of one check."""

    status: str
    name: str
    detail: str

    def line(self) -> str:
        """``OK    name: detail``, as the CLI prints it."""
        return f"{self.status:<10} {self.name}: {self.detail}"


def run(config: Config, provider: Elbv2Provider,
        source_for: Callable[[tuple[Nameserver, ...]], Source]) -> list[Check]:
    """Every check for every mapping; never raises for AWS or DNS faults."""
    checks: list[Check] = []
    mappings = list(config.mappings)
    if config.discovery is not None:
        mappings += _discovery_checks(config.discovery, provider, checks)
    for mapping in mappings:
        checks.extend(_mapping_checks(mapping, provider, source_for))
    for bad in config.invalid:
        checks.append(Check(FAIL, bad.label, "; ".join(bad.problems)))
    return checks


def _discovery_checks(discovery: Discovery, provider: Elbv2Provider, checks: list[Check]
                      ) -> list[MappingConfig]:
    """List the region's groups as discovery does; the adopted ones are checked next."""
    name = f"discovery in {discovery.region}"
    try:
        found = adopt(provider.discover(discovery.region), discovery)
    except ProviderError as exc:
        checks.append(Check(FAIL, name, _denied_or_failed(exc, "DescribeTargetGroups")))
        return []
    owner = f"owner {discovery.owner}" if discovery.owner else "no owner tag"
    checks.append(Check(OK, name, f"{found.read} group(s) read, {len(found.mappings)} "
                        f"adopted ({owner}), {len(found.others)} of other owners"))
    checks.extend(Check(FAIL, bad.label, "; ".join(bad.problems)) for bad in found.refused)
    return list(found.mappings)


def _denied_or_failed(exc: ProviderError, action: str) -> str:
    cause = exc.__cause__
    if isinstance(cause, ClientError) and is_access_denied(cause):
        return f"denied: allow elasticloadbalancing:{action} on this group in the role"
    return str(exc)


def _mapping_checks(mapping: MappingConfig, provider: Elbv2Provider,
                    source_for: Callable[[tuple[Nameserver, ...]], Source]) -> Iterator[Check]:
    group = mapping.target_group_name
    try:
        facts = provider.facts(mapping.target_group_arn)
    except ProviderError as exc:
        yield Check(FAIL, f"target group {group}",
                    _denied_or_failed(exc, "DescribeTargetGroups"))
        return
    yield _group_check(mapping, facts)
    yield from _dns_check(mapping, facts, source_for)
    port = mapping.port or facts.port
    arn = mapping.target_group_arn
    try:
        targets = provider.targets(arn)
        yield Check(OK, f"read {group}", f"DescribeTargetHealth: {len(targets)} target(s)")
        tags = provider.tags(arn)
        yield Check(OK, f"read {group}", f"DescribeTags: {len(tags)} tag(s)")
    except ProviderError as exc:
        action = "DescribeTags" if "DescribeTags" in str(exc) else "DescribeTargetHealth"
        yield Check(FAIL, f"read {group}", _denied_or_failed(exc, action))
        return
    yield _write(f"write {group}", "DeregisterTargets",
                 lambda: provider.deregister(arn, [Target(NEVER_A_TARGET, port)]),
                 f"allowed (checked with {NEVER_A_TARGET}, which is never a target)")
    settled = [t for t in targets if t.port == port and not t.is_draining]
    if settled:
        target = settled[0]
        yield _write(f"write {group}", "RegisterTargets",
                     lambda: _register_again(provider, arn, target),
                     f"allowed (checked by registering {target.ip}:{port} again, as it is)")
    else:
        yield Check(UNVERIFIED, f"write {group}", "RegisterTargets: no target on the port to "
                    "register again without a change; it is checked at the first sync")
    if CHECK_TAG in tags:
        yield Check(UNVERIFIED, f"write {group}", f"RemoveTags: the group has a tag "
                    f"{CHECK_TAG}, which a check must not remove")
    else:
        yield _write(f"write {group}", "RemoveTags",
                     lambda: provider.change_tags(arn, {}, [CHECK_TAG]),
                     f"allowed (checked by removing {CHECK_TAG}, which the group does not have)")
    ours = sorted(k for k in tags if k.startswith(TAG_PREFIX))
    if ours:
        key = ours[0]
        yield _write(f"write {group}", "AddTags",
                     lambda: provider.change_tags(arn, {key: tags[key]}, []),
                     f"allowed (checked by writing {key} with the value it has)")
    else:
        yield Check(UNVERIFIED, f"write {group}", "AddTags: no tag of tgsync's to write again "
                    "without a change; it is checked when a healthy IP first leaves DNS")


def _register_again(provider: Elbv2Provider, arn: str, target: Target) -> None:
    rejected = provider.register(arn, [target.ip], target.port)
    if rejected:  # ELB refused what it already holds: say so in ELB's words
        raise ProviderError(rejected[0].message)


def _write(name: str, action: str, call: Callable[[], object], ok: str) -> Check:
    try:
        call()
    except ProviderError as exc:
        return Check(FAIL, name, f"{action}: {_denied_or_failed(exc, action)}")
    return Check(OK, name, f"{action}: {ok}")


def _group_check(mapping: MappingConfig, facts: TargetGroupFacts) -> Check:
    name = f"target group {facts.name}"
    if facts.target_type != "ip":
        return Check(FAIL, name, f"target type {facts.target_type!r}; tgsync needs a group of "
                     "type ip: create one with --target-type ip")
    attached = ", ".join(load_balancer_name(a) for a in facts.load_balancer_arns) or "none"
    detail = (f"type ip, {facts.protocol}:{mapping.port or facts.port}, {facts.vpc_id}, "
              f"{facts.ip_address_type}, load balancer(s): {attached}")
    if not facts.load_balancer_arns:
        return Check(FAIL, name, detail + "; attach it to a listener rule of your load "
                     "balancer, or nothing reaches the targets")
    if mapping.alb_id and mapping.alb_id not in facts.load_balancer_arns and mapping.alb_id \
            not in {load_balancer_name(a) for a in facts.load_balancer_arns}:
        return Check(FAIL, name, detail + f"; not attached to AlbId {mapping.alb_id}")
    return Check(OK, name, detail)


def _dns_check(mapping: MappingConfig, facts: TargetGroupFacts,
               source_for: Callable[[tuple[Nameserver, ...]], Source]) -> Iterator[Check]:
    servers = ", ".join(str(s) for s in mapping.dns_servers) or "the system resolver"
    name = f"DNS {mapping.hostname}"
    resolution = source_for(mapping.dns_servers).resolve(
        mapping.hostname, facts.record_type, mapping.lookups)
    if resolution.error:
        yield Check(FAIL, name, f"{resolution.error} (asked {servers}); allow UDP and TCP 53 "
                    "to the resolver in the function's security group")
        return
    allowed, refused = screen(resolution.answers, mapping.allowed_cidrs,
                                 mapping.narrowed_cidrs)
    for refusal in refused:
        yield Check(FAIL if not allowed else OK, name,
                    f"{refusal.answer} would be refused: {refusal.reason}")
    if allowed:
        yield Check(OK, name, f"{facts.record_type} {', '.join(sorted(allowed))} via {servers}")
    else:
        yield Check(FAIL, name, "no answer the guard allows; check TGSYNC_ALLOWED_CIDRS")
