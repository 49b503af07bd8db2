"""The checks of one target group's permissions (``tgsync check``): its reads, and its
writes with requests that change nothing a sync relies on (an address ELB never takes,
a tag only the check uses); the outcome of every check (:class:`Check`).
:mod:`tgsync.preflight` runs them with the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from tgsync.aws import ATTEMPT_SECONDS
from tgsync.config import MappingConfig
from tgsync.deadline import Deadline
from tgsync.errors import ProviderError
from tgsync.memory_codec import MAX_TAGS
from tgsync.model import Retire, Target, TargetGroupFacts
from tgsync.ownership import decode_owned, owner_id
from tgsync.provider import Provider
from tgsync.provider.errors import TARGET_ERRORS

OK, FAIL, UNVERIFIED, WARN = "OK", "FAIL", "UNVERIFIED", "WARN"
#: TEST-NET-1: public, so ELB never registers it; deregistering it changes nothing.
NEVER_A_TARGET = "192.0.2.1"
#: Under tgsync's own prefix, so that the role's ``tgsync:missing:*`` condition allows
#: it; no mapping reads or writes it (its port is not a number).
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


def denied_or_failed(exc: ProviderError) -> str:
    """An ELB failure as a check's detail: the permission to allow, or ELB's words."""
    if exc.denied:
        return f"denied: allow elasticloadbalancing:{exc.operation} on this group in the role"
    return str(exc)


def _foreign_check(
    group: str, mapping: MappingConfig, targets: list[Target], tags: dict[str, str], port: int
) -> Check:
    """retire=owned: the targets on the port this mapping did not record as its own."""
    mine = decode_owned(tags, port).mine(owner_id(mapping.hostname))
    foreign = sorted({t.ip for t in targets if t.port == port} - mine)
    if not foreign:
        return Check(
            OK,
            f"targets of {group}",
            f"retire=owned: every target on port {port} is recorded as this mapping's",
        )
    return Check(
        OK,
        f"targets of {group}",
        (
            f"retire=owned: {len(foreign)} foreign target(s) on port {port}, left alone unless "
            f"DNS returns them: {', '.join(foreign)}"
        ),
    )


def permission_checks(
    mapping: MappingConfig, facts: TargetGroupFacts, provider: Provider, deadline: Deadline
) -> Iterator[Check]:
    """The group's reads (its targets, its tags; the foreign targets for retire=owned),
    then its writes, each with a request that changes nothing."""
    group = mapping.target_group_name
    port = mapping.port or facts.port
    arn = mapping.target_group_arn
    try:
        targets = provider.targets(arn, deadline=deadline)
        yield Check(OK, f"read {group}", f"DescribeTargetHealth: {len(targets)} target(s)")
        tags = provider.tags(arn, deadline=deadline)
        yield Check(OK, f"read {group}", f"DescribeTags: {len(tags)} tag(s)")
        if mapping.retire is Retire.OWNED:
            yield _foreign_check(group, mapping, targets, tags, port)
    except ProviderError as exc:
        yield Check(FAIL, f"read {group}", denied_or_failed(exc))
        return
    name = f"write {group}"
    yield from _target_writes(name, provider, arn, port, deadline)
    yield from _tag_writes(name, provider, arn, tags, deadline)


def _target_writes(
    name: str, provider: Provider, arn: str, port: int, deadline: Deadline
) -> Iterator[Check]:
    """RegisterTargets and DeregisterTargets, with an address ELB never takes."""
    yield _write(
        name,
        "RegisterTargets",
        lambda: _register_nothing(provider, arn, port, deadline),
        f"allowed (checked with {NEVER_A_TARGET}, an address ELB never takes)",
    )
    yield _write(
        name,
        "DeregisterTargets",
        lambda: provider.deregister(arn, [Target(NEVER_A_TARGET, port)], deadline=deadline),
        f"allowed (checked with {NEVER_A_TARGET}, which is never a target)",
    )


def _tag_writes(
    name: str, provider: Provider, arn: str, tags: dict[str, str], deadline: Deadline
) -> Iterator[Check]:
    """RemoveTags, then AddTags, with a tag only the check uses (removed again)."""
    if CHECK_TAG in tags:
        yield Check(
            UNVERIFIED,
            name,
            f"RemoveTags and AddTags: the group has a tag "
            f"{CHECK_TAG} (left by an interrupted check?), which a check must not "
            "touch; remove it by hand",
        )
        return
    removal = _write(
        name,
        "RemoveTags",
        lambda: provider.change_tags(arn, {}, [CHECK_TAG], deadline=deadline),
        f"allowed (checked by removing {CHECK_TAG}, which the group does not have)",
    )
    yield removal
    if removal.status != OK:  # a tag added now could not be removed again
        yield Check(
            UNVERIFIED,
            name,
            "AddTags: not checked, since the tag it adds could "
            "not be removed; allow RemoveTags first",
        )
        return
    if not deadline.allows(2 * ATTEMPT_SECONDS):
        yield Check(
            UNVERIFIED,
            name,
            "AddTags: not checked, too little time was left to "
            "add and remove a tag before the invocation's deadline",
        )
        return
    if len(tags) >= MAX_TAGS:
        yield Check(
            UNVERIFIED,
            name,
            f"AddTags: the group has all {MAX_TAGS} tags ELB allows, "
            "so none can be written without a change; free some for tgsync's memory",
        )
        return
    yield _write(
        name,
        "AddTags",
        lambda: _add_and_remove(provider, arn, deadline),
        f"allowed (checked by adding {CHECK_TAG}, which only the check uses, and removing it)",
    )


def _register_nothing(provider: Provider, arn: str, port: int, deadline: Deadline) -> None:
    """RegisterTargets of an address ELB refuses: allowed unless IAM denies it."""
    try:
        provider.register_as_reported(arn, Target(NEVER_A_TARGET, port), deadline=deadline)
    except ProviderError as exc:
        if exc.denied or exc.code not in TARGET_ERRORS:
            raise


def _add_and_remove(provider: Provider, arn: str, deadline: Deadline) -> None:
    provider.change_tags(arn, {CHECK_TAG: "preflight"}, [], deadline=deadline)
    provider.change_tags(arn, {}, [CHECK_TAG], deadline=deadline)


def _write(name: str, action: str, call: Callable[[], object], ok: str) -> Check:
    try:
        call()
    except ProviderError as exc:
        return Check(FAIL, name, f"{action}: {denied_or_failed(exc)}")
    return Check(OK, name, f"{action}: {ok}")
