"""What the lab checks: each promise of tgsync one class, its docstring the promise.

:class:`Invariant` is the shape: hooks at an invocation's start, after it, and after a
check; a breach raises :class:`InvariantBroken` naming the invariant, where and what.
This module holds the safety invariants (1 to 9: nothing wrong is ever done);
:mod:`testlab.stateful.liveness` the ones about doing the right thing in the end (10 and
11), :mod:`testlab.stateful.resources` the bounded resources (12 to 14).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, NoReturn

from testlab.faultproxy import Request
from testlab.stateful.layout import ALLOWED, PREFIX, Group, Snapshot, Tags, hostname, inside
from testlab.stateful.requests import group_of, ids, passed, targets_of
from testlab.stateful.world import World
from tgsync import permission_checks
from tgsync.model import NOT_SERVING_STATES
from tgsync.pacing import DEFAULT_BURST
from tgsync.provider.elbv2 import OPERATIONS, READ_OPERATIONS, WRITE_OPERATIONS
from tgsync.report import CycleReport, InvocationReport
from tgsync.source.rds import OPERATIONS as RDS_OPERATIONS

RATE = 1.0  # TGSYNC_API_RATE at its minimum: the pacing bites
CHECK_TAG_KEYS = {permission_checks.CHECK_TAG}


class InvariantBroken(AssertionError):
    """An invariant did not hold; the message says which and where."""


@dataclass
class Seen:
    """What one invocation (or one check, ``report`` ``None``) did, as the lab saw it."""

    #: Where, for messages: "invocation 12, t=300s".
    where: str
    #: The execution environment that ran it ("function #2", "check #3").
    function: str
    #: Every request through the proxy, from the start.
    requests: list[Request]
    #: The groups' targets and tags before it.
    before: Snapshot
    tags: Tags
    report: InvocationReport | None = None
    #: Proxy log positions: the start, then the end of each cycle.
    marks: list[int] = field(default_factory=list)
    #: Cycles run before it, and the count when the writer's flip window last ended.
    cycles_before: int = 0
    settled_after_cycle: int = 0

    @property
    def cycles(self) -> list[CycleReport]:
        """The invocation's cycles (none for a check)."""
        return self.report.cycles if self.report is not None else []

    def during(self, cycle: int) -> list[Request]:
        """The requests of the ``cycle``-th cycle."""
        return self.requests[
            self.marks[cycle] - self.marks[0] : self.marks[cycle + 1] - self.marks[0]
        ]


class Invariant:
    """A promise of tgsync; the subclass's docstring says which. Hooks run at an
    invocation's start (:meth:`before_sync`), after it (:meth:`after_sync`) and after a
    check (:meth:`after_check`)."""

    number: ClassVar[int] = 0

    def __init__(self, world: World) -> None:
        self.world = world

    def before_sync(self, before: Snapshot, tags: Tags) -> None:
        """An invocation starts, the world as ``before`` and ``tags`` say."""

    def after_sync(self, seen: Seen) -> None:
        """An invocation ended."""

    def after_check(self, seen: Seen) -> None:
        """A check (``{"check": true}``) ended."""

    def fail(self, where: str, message: str) -> NoReturn:
        """Raise :class:`InvariantBroken`."""
        raise InvariantBroken(
            f"invariant {self.number} ({type(self).__name__}), {where}: {message}"
        )


def _by_arn(groups: list[Group]) -> dict[str, Group]:
    return {g.arn: g for g in groups}


class NothingInDnsRetired(Invariant):
    """Nothing DNS returns (and the guard allows) is retired, and a failed lookup retires
    nothing. (A shared group's version is :class:`RecordsHoldWhileAnswered`: which
    mapping retired an IP the request does not say.)"""

    number = 1

    def after_sync(self, seen: Seen) -> None:
        groups = _by_arn(self.world.live())
        for request in passed(seen.requests, "DeregisterTargets"):
            group = groups.get(group_of(request))
            if group is None or len(group.domains) > 1:
                continue
            wanted = self.world.allowed(group)
            for ip in ids(request):
                if wanted is None:
                    self.fail(seen.where, f"{group.name}: retired {ip} while its lookup fails")
                if ip in wanted:
                    self.fail(
                        seen.where,
                        f"{group.name}: retired {ip}, which DNS returns ({sorted(wanted)})",
                    )


class NothingServingRetiredEarly(Invariant):
    """Nothing serving is retired before its stale period, counted here from the world's
    own view (the first time this lab saw a target registered and not wanted, at an
    invocation's start: tgsync, which reads the world later, can only count later)."""

    number = 2

    def __init__(self, world: World) -> None:
        super().__init__(world)
        #: (group ARN, ip) -> when this lab first saw it registered and not wanted.
        self.first_missing: dict[tuple[str, str], float] = {}

    def before_sync(self, before: Snapshot, tags: Tags) -> None:
        now = self.world.clock.now
        for group in self.world.live():
            if not group.served or (kept := self.world.kept(group, tags)) is None:
                continue
            wanted, held = kept
            present = before[group.arn]
            for key in [k for k in self.first_missing if k[0] == group.arn]:
                if key[1] in held:
                    continue
                if key[1] in wanted or key[1] not in present:
                    del self.first_missing[key]
                else:  # a clock that jumped back: count from now at the latest
                    self.first_missing[key] = min(self.first_missing[key], now)
            for ip in present:
                if ip not in wanted and ip not in held:
                    self.first_missing.setdefault((group.arn, ip), now)

    def after_sync(self, seen: Seen) -> None:
        groups = _by_arn(self.world.live())
        for request in passed(seen.requests, "DeregisterTargets"):
            group = groups.get(group_of(request))
            if group is None:
                continue
            at, _ = self.world.clock.at(request.at)
            for ip in ids(request):
                state = seen.before[group.arn].get(ip, (ip, 0, None, "unknown"))[3]
                first = self.first_missing.pop((group.arn, ip), at)
                if state not in NOT_SERVING_STATES and at - first < group.stale_after:
                    self.fail(
                        seen.where,
                        f"{group.name}: retired {ip} ({state}) after "
                        f"{at - first:.0f}s missing, stale after "
                        f"{group.stale_after:.0f}s",
                    )


class CheckWritesNothing(Invariant):
    """The check writes nothing a sync writes: tags only ``tgsync:missing:check``,
    RegisterTargets only of an address ELB never takes (``192.0.2.1``), DeregisterTargets
    only of it, and every group is as it was (``tgsync:owned:*`` included)."""

    number = 3

    def after_check(self, seen: Seen) -> None:
        for request in (r for r in seen.requests if r.action in WRITE_OPERATIONS):
            arn = group_of(request)
            if request.action in ("AddTags", "RemoveTags"):
                keys = set(ids(request, "Tags" if request.action == "AddTags" else "TagKeys"))
                if not keys <= CHECK_TAG_KEYS:
                    self.fail(
                        seen.where, f"the check's {request.action} on {arn} names {sorted(keys)}"
                    )
                continue
            named = (
                {t[0] for t in targets_of(request)}
                if request.action == "RegisterTargets"
                else set(ids(request))
            )
            if named != {permission_checks.NEVER_A_TARGET}:
                self.fail(
                    seen.where, f"the check's {request.action} named {sorted(named)} in {arn}"
                )

        # The check's own tag may stay behind when its removal failed: the check says so.
        def others(tags: Tags) -> Tags:
            return {
                a: {k: v for k, v in t.items() if k not in CHECK_TAG_KEYS} for a, t in tags.items()
            }

        after, tags_after = self.world.snapshot(), others(self.world.tags())
        for arn, targets in after.items():
            if set(targets) != set(seen.before.get(arn, {})):
                self.fail(
                    seen.where,
                    f"the check changed the targets of {arn}: "
                    f"{sorted(seen.before.get(arn, {}))} -> {sorted(targets)}",
                )
            if tags_after.get(arn) != others(seen.tags).get(arn):
                self.fail(
                    seen.where,
                    f"the check changed the tags of {arn}: "
                    f"{others(seen.tags).get(arn)} -> {tags_after.get(arn)}",
                )


class NoFollowAfterAwsFailure(Invariant):
    """No follow-up cycle, and no call about its group, for a mapping whose cycle failed
    at AWS earlier in the same invocation (retrying a throttled API every second would
    only deepen it)."""

    number = 4

    def after_sync(self, seen: Seen) -> None:
        halted: set[str] = set()
        for index, cycle in enumerate(seen.cycles):
            if index:
                again = {m.mapping_key for m in cycle.mappings if m.mapping_key} & halted
                if again:
                    self.fail(
                        seen.where,
                        f"follow-up cycle {index} ran {sorted(again)} "
                        "after an AWS failure in this invocation",
                    )
                arns = {k.rsplit(":", 1)[0] for k in halted}
                touched = {
                    group_of(r) for r in seen.during(index) if r.action != "DescribeTargetGroups"
                } & arns
                if touched:
                    self.fail(
                        seen.where,
                        f"follow-up cycle {index} called ELB about "
                        f"{sorted(touched)} after an AWS failure in this "
                        "invocation",
                    )
            halted |= {k for m in cycle.mappings if m.aws_failed and (k := m.mapping_key)}


class PacedWithinBudget(Invariant):
    """ELB and RDS requests (retries and refused ones included) stay within the pacing
    budget per execution environment and bucket (Describe calls, writes, RDS reads): at
    most ``burst + rate * t`` in any ``t`` seconds of simulated time up to a minute."""

    number = 5

    def __init__(self, world: World) -> None:
        super().__init__(world)
        #: Simulated (time, epoch) of each request, by (environment, bucket).
        self.paced: dict[tuple[str, str], list[tuple[float, int]]] = {}

    def after_sync(self, seen: Seen) -> None:
        self._pacing(seen)

    def after_check(self, seen: Seen) -> None:
        self._pacing(seen)

    def _pacing(self, seen: Seen) -> None:
        for bucket, operations in (
            ("Describe", READ_OPERATIONS),
            ("write", WRITE_OPERATIONS),
            ("RDS", RDS_OPERATIONS),
        ):
            history = self.paced.setdefault((seen.function, bucket), [])
            for request in (r for r in seen.requests if r.action in operations):
                at, epoch = self.world.clock.at(request.at)
                history.append((at, epoch))
                for count, (earlier, era) in enumerate(reversed(history), start=1):
                    if era != epoch or at - earlier >= 60.0:
                        break
                    if count > DEFAULT_BURST + RATE * (at - earlier) + 1e-6:
                        self.fail(
                            seen.where,
                            f"{seen.function}: {count} {bucket} requests "
                            f"in {at - earlier:.1f}s of simulated time "
                            f"(budget {DEFAULT_BURST} + {RATE:g}/s)",
                        )
            del history[:-200]
        # A check's environment is never paced again once it ended.
        for key in [k for k in self.paced if k[0].startswith("check") and k[0] != seen.function]:
            del self.paced[key]


class ServedBehindLoadBalancer(Invariant):
    """Every group tgsync serves is behind a load balancer, so ELB publishes its
    HealthyHostCount every minute for the no-healthy-target alarm; and tgsync calls
    nothing but its own ELB and RDS operations (what its role allows)."""

    number = 6

    def __init__(self, world: World) -> None:
        super().__init__(world)
        self.attached: dict[str, bool] = {}

    def after_sync(self, seen: Seen) -> None:
        unknown = {r.action for r in seen.requests} - set(OPERATIONS) - set(RDS_OPERATIONS)
        if unknown:
            self.fail(seen.where, f"tgsync called {sorted(unknown)}, which the role does not allow")
        served = {
            m.target_group_arn
            for c in seen.cycles
            for m in c.mappings
            if m.hostname and m.target_group_arn
        }
        live = {g.arn for g in self.world.live()}
        for arn in sorted(served & live):
            if arn not in self.attached:  # the lab never attaches nor detaches a group later
                group = self.world.truth.describe_target_groups(TargetGroupArns=[arn])[
                    "TargetGroups"
                ][0]
                self.attached[arn] = bool(group.get("LoadBalancerArns"))
            if not self.attached[arn]:
                self.fail(
                    seen.where,
                    f"tgsync serves {self._name(arn)}, which no load "
                    "balancer uses: no HealthyHostCount reaches the alarm",
                )

    def _name(self, arn: str) -> str:
        return next((g.name for g in self.world.groups if g.arn == arn), arn)


class OnlyAllowedTouched(Invariant):
    """No answer outside ``TGSYNC_ALLOWED_CIDRS`` (or a group's narrowing tag) is ever
    registered, whatever a tag says; no group outside ``TGSYNC_DISCOVER_PREFIX`` (and not
    mapped explicitly) is ever written to."""

    number = 7

    def after_sync(self, seen: Seen) -> None:
        self._touched(seen, sync=True)

    def after_check(self, seen: Seen) -> None:
        self._touched(seen, sync=False)

    def _touched(self, seen: Seen, *, sync: bool) -> None:
        groups = _by_arn(self.world.groups)
        for request in (r for r in seen.requests if r.action in WRITE_OPERATIONS):
            group = groups.get(group_of(request))
            if group is None:
                continue
            if group.kind == "outside":
                self.fail(
                    seen.where,
                    f"{request.action} on {group.name}, outside TGSYNC_DISCOVER_PREFIX {PREFIX!r}",
                )
            if sync and request.action == "RegisterTargets":
                for ip in ids(request):
                    if not inside(ip, [ALLOWED]) or (
                        group.narrowed and not inside(ip, group.narrowed)
                    ):
                        self.fail(
                            seen.where,
                            f"registered {ip} in {group.name}, outside "
                            f"{ALLOWED} and the group's {group.narrowed}",
                        )


class RecordsHoldWhileAnswered(Invariant):
    """Owned mode (``retire=owned``: an explicit group two hostnames share, a discovered
    group): a target tgsync did not register (by hand, or before ownership: the lab's
    ``foreign`` record) is never deregistered, whatever its health and DNS; and an IP a
    mapping's records hold (the group's tags before the invocation) is never
    deregistered while that mapping's answer holds it or its lookup fails, by it or
    another mapping of the group. (Invariants 1 and 2 hold there for the IPs tgsync
    owns; :class:`CheckWritesNothing` covers ``tgsync:owned:*``: the check writes none.)"""

    number = 8

    def before_sync(self, before: Snapshot, tags: Tags) -> None:
        world = self.world
        for group in world.owned_groups():
            if not group.served or world.kept(group, tags) is None:
                continue
            # A foreign target an owned mapping's answer now holds is adopted: tgsync's.
            answers = {ip for d in group.domains for ip in world.allowed(group, d) or ()}
            mine = [ip for arn, ip in world.foreign if arn == group.arn]
            world.foreign -= {
                (group.arn, ip) for ip in answers | (set(mine) - set(before[group.arn]))
            }

    def after_sync(self, seen: Seen) -> None:
        groups = _by_arn(self.world.owned_groups())
        for request in passed(seen.requests, "DeregisterTargets"):
            group = groups.get(group_of(request))
            if group is None:
                continue
            records = self.world.records(group, seen.tags)
            for ip in ids(request):
                if (group.arn, ip) in self.world.foreign:
                    self.fail(
                        seen.where, f"{group.name}: retired {ip}, which tgsync did not register"
                    )
                for domain, mine in records.items():
                    answer = self.world.allowed(group, domain)
                    if ip in mine and (answer is None or ip in answer):
                        self.fail(
                            seen.where,
                            f"{group.name}: retired {ip}, which "
                            f"{hostname(domain)}'s records hold and its "
                            "answer " + ("holds" if answer else "failed to give"),
                        )


class WriterAloneAfterFlip(Invariant):
    """An Aurora cluster (a writer group, ``stale_after`` 0, and a reader group,
    ``resolve=rds``, through the RDS API behind the fault proxy): once the writer
    endpoint's flip window is over and a writer cycle has run with every request
    answered, the writer group holds the writer alone; a cycle whose RDS read failed
    retires nothing from a ``resolve=rds`` group. (RDS reads keep the pacing budget:
    :class:`PacedWithinBudget`.)"""

    number = 9

    def after_sync(self, seen: Seen) -> None:
        world = self.world
        writer = next(g for g in world.groups if g.aurora == "writer")
        rds_groups = {g.arn for g in world.groups if g.aurora in ("reader", "elsewhere")}
        rds_failed = False
        clean_after_flip = False
        for index, cycle in enumerate(seen.cycles):
            during = seen.during(index)
            last = {r.action: r.outcome for r in during if r.action in RDS_OPERATIONS}
            if last:  # no read: the cycle's kept (cached) result, failed or not
                rds_failed = any(outcome != "passed" for outcome in last.values())
            if rds_failed:
                for request in passed(during, "DeregisterTargets"):
                    if group_of(request) in rds_groups:
                        self.fail(
                            seen.where,
                            f"retired {ids(request)} from a resolve=rds "
                            "group in a cycle whose RDS read failed",
                        )
            number = seen.cycles_before + index + 1
            # Read and synced, not deferred to the next invocation for lack of time.
            synced = any(
                m.target_group_arn == writer.arn
                and m.ok
                and m.resolved
                and m.observed
                and not m.deferred
                for m in cycle.mappings
            )
            if (
                synced
                and number > seen.settled_after_cycle
                and all(r.outcome == "passed" for r in during)
            ):
                clean_after_flip = True
        if clean_after_flip and world.aurora.flipping is None:
            held = {
                ip
                for ip, (_, _, _, state) in world.snapshot([writer])[writer.arn].items()
                if state != "draining"
            }
            if held != {world.writer_ip()}:
                self.fail(
                    seen.where,
                    f"{writer.name} holds {sorted(held)} after the flip "
                    f"window and a clean cycle; the writer is "
                    f"{world.writer_ip()}",
                )
