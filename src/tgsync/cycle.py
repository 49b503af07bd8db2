"""One mapping's cycle: resolve, observe, plan, apply, report.

Each stage is a room of its own: the desired state comes from a source
(:mod:`tgsync.source`), the actual state from the provider, the plan with its records
from :mod:`tgsync.planning`, the writes, in their order and with the one dry-run
decision, from :mod:`tgsync.apply`. This module strings them together and builds the
report from what they returned. Everything that talks to the world is injected. A cycle
never raises for DNS or AWS faults: it reports them, and leaves the group as it was
wherever it could not act.

With ``retire=owned`` the group and port's turn is held from reading the ownership
records to writing them, so that two mappings sharing a group and port in one process
never interleave.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import replace

from tgsync.apply import Applied, Apply
from tgsync.arn import load_balancer_name
from tgsync.config import MappingConfig
from tgsync.deadline import NONE, Deadline
from tgsync.errors import AwsError
from tgsync.follow import is_pending
from tgsync.guard import screen
from tgsync.model import Resolve, Target, TargetGroupFacts
from tgsync.ownership import owner_of
from tgsync.planning import Planner
from tgsync.process_state import ProcessState, key
from tgsync.provider import Provider
from tgsync.registry import TagRegistry
from tgsync.report import MappingReport, logger
from tgsync.resync import is_settled
from tgsync.round import Round, View
from tgsync.source import Nameserver, Source, source_of


class MappingCycle:
    """Runs one mapping's cycle against the injected adapters."""

    def __init__(
        self,
        provider: Provider,
        registry: TagRegistry,
        source_for: Callable[[tuple[Nameserver, ...]], Source],
        state: ProcessState,
        clock: Callable[[], float],
        *,
        resync_every: float,
    ) -> None:
        self.provider = provider
        self.registry = registry
        self._source_for = source_for
        self._state = state
        self._clock = clock
        self._resync_every = resync_every
        self._plan = Planner(registry, source_for)
        self._apply = Apply(provider, registry)
        self._ports: dict[str, int] = {}  # the groups' own ports, as read

    def keep_only(self, arns: set[str]) -> None:
        """Forget the ports of groups no longer kept."""
        for arn in [a for a in self._ports if a not in arns]:
            del self._ports[arn]

    def port_of(self, mapping: MappingConfig, deadline: Deadline = NONE) -> int:
        """The port a mapping keeps: its own, or its group's (0 if the group is unknown)."""
        if mapping.port:
            return mapping.port
        try:
            return self.provider.facts(mapping.target_group_arn, deadline=deadline).port
        except AwsError:
            return 0

    def key_of(self, mapping: MappingConfig, deadline: Deadline = NONE) -> str:
        """The mapping's key in the per-process records (may read the group's facts)."""
        return key(mapping.target_group_arn, self.port_of(mapping, deadline), owner_of(mapping))

    def known_key(self, mapping: MappingConfig) -> str | None:
        """The mapping's key if its port is known without an AWS call (``None``: its
        group was never read)."""
        port = mapping.port or self._ports.get(mapping.target_group_arn)
        return key(mapping.target_group_arn, port, owner_of(mapping)) if port else None

    def run(
        self,
        mapping: MappingConfig,
        *,
        dry_run: bool = False,
        horizon: float = 0.0,
        deadline: Deadline = NONE,
        sharers: Sequence[MappingConfig] = (),
    ) -> MappingReport:
        """One cycle for one mapping; never raises for DNS or AWS faults. ``horizon``:
        seconds until the next full cycle is expected (see :func:`resync.may_skip`);
        ``deadline``: the invocation's; ``sharers``: the owned mappings of this process
        on the same group and port."""
        report = MappingReport(
            mapping.label,
            mapping.hostname,
            mapping.target_group_arn,
            port=mapping.port,
            dry_run=dry_run,
            origins=list(mapping.origins),
        )
        try:
            report = self._sync(mapping, report, horizon, deadline, sharers)
        except Exception as exc:  # a bug must fail one mapping, not the others
            logger.exception("mapping crashed", extra={"mapping": report.label})
            report = report.fail(f"internal error: {type(exc).__name__}: {exc}")
        return replace(report, mapping_key=self.known_key(mapping))

    def _sync(
        self,
        mapping: MappingConfig,
        report: MappingReport,
        horizon: float,
        deadline: Deadline,
        sharers: Sequence[MappingConfig],
    ) -> MappingReport:
        arn = mapping.target_group_arn
        try:
            facts = self.provider.facts(arn, deadline=deadline)
        except AwsError as exc:
            return _aws_failure(report, exc, mapping)
        if facts.target_type != "ip":
            return report.fail(
                f"target group {facts.name} has target type "
                f"{facts.target_type!r}; tgsync needs a target group of type ip"
            )
        check_alb(self._state, mapping, facts)
        self._ports[arn] = facts.port
        port = mapping.port or facts.port
        view = self._desired(mapping, facts, deadline)  # 1. desired state
        report = _with_view(replace(report, port=port), view)
        if view.out_of_time:  # not a DNS fault: the next cycle carries on, unchanged
            return replace(report, deferred=True, lookup_failed=False, lookup_error=None)
        rnd = Round(mapping, port, self._clock(), deadline, report.dry_run, view)
        mapping_key = key(arn, port, rnd.owner)
        if not rnd.dry_run and self._state.may_skip(mapping_key, view.wanted, rnd.now, horizon):
            report = replace(report, read_skipped=True)  # settled, same answer: trust it
            self._note_motion(mapping_key, report, rnd.now)
            return report
        try:
            return self._observe_and_act(rnd, mapping_key, report, sharers)
        except AwsError as exc:
            return _aws_failure(report, exc, mapping)

    def _observe_and_act(
        self, rnd: Round, mapping_key: str, report: MappingReport, sharers: Sequence[MappingConfig]
    ) -> MappingReport:
        """2. actual state, 3. plan, 4. apply, 5. report and remember."""
        targets = self.provider.targets(rnd.arn, deadline=rnd.deadline)
        self._state.note_read(mapping_key, rnd.now)
        ours = {t.ip: t for t in targets if t.port == rnd.port}
        # Mappings sharing the group and port take turns from here to the last write.
        with self.registry.turn(rnd.arn, rnd.port) if rnd.owner else nullcontext():
            planned = self._plan(rnd, targets, sharers)
            applied = self._apply(rnd, planned, ours)
        problems = list(applied.problems)
        if planned.held:
            problems.insert(0, planned.held)
        if rnd.view.failure:
            logger.error(
                "DNS resolution failed: nothing changed",
                extra={"mapping": rnd.label, "error": rnd.view.failure},
            )
            problems.insert(0, f"DNS resolution failed, nothing changed: {rnd.view.failure}")
        report = replace(
            _with_applied(report, list(ours.values()), applied), unverified=list(planned.unverified)
        )
        if problems:
            report = report.fail("; ".join(problems))
        settled = not problems and not rnd.dry_run and is_settled(applied.plan, ours.values())
        self._state.note_settled(
            mapping_key, rnd.view.wanted if settled else None, rnd.now, self._resync_every
        )
        if not rnd.dry_run:
            self._note_motion(mapping_key, report, rnd.now)
        return report

    def _note_motion(self, mapping_key: str, report: MappingReport, now: float) -> None:
        """Update the mapping's follow record (see :mod:`tgsync.follow`) after a cycle."""
        self._state.note_motion(
            mapping_key,
            changed=bool(report.registered_ips or report.deregistered_ips),
            pending=is_pending(report.decisions, report.lookup_failed),
            now=now,
        )

    def _desired(self, mapping: MappingConfig, facts: TargetGroupFacts, deadline: Deadline) -> View:
        """Resolve and screen: the allowed IPs, or why resolution failed."""
        resolution = source_of(
            self._source_for, mapping.dns_servers, mapping.resolve, mapping.rds_role_arn
        ).resolve(mapping.hostname, facts.record_type, mapping.lookups, deadline=deadline)
        allowed, refused = screen(resolution.answers, mapping.allowed_cidrs, mapping.narrowed_cidrs)
        for refusal in refused:
            logger.warning(
                "REFUSED",
                extra={
                    "mapping": mapping.label,
                    "answer": refusal.answer,
                    "reason": refusal.reason,
                },
            )
        failure = resolution.error
        if failure is None and not allowed:
            failure = f"no usable {facts.record_type} answer for {mapping.hostname}" + (
                ": every answer was refused" if refused else ""
            )
        view = View(
            None if failure else allowed,
            failure,
            refused=tuple(refused),
            queries=resolution.queries,
            api_failed=resolution.api_failed,
            record_type=facts.record_type,
            origin="the RDS members" if mapping.resolve is Resolve.RDS else "DNS",
        )
        if failure:
            return replace(view, out_of_time=resolution.out_of_time)
        if resolution.authoritative:  # complete and consistent: retire at once
            return replace(view, authoritative=True)
        return replace(view, distinct=resolution.distinct, largest=resolution.largest)


def _with_view(report: MappingReport, view: View) -> MappingReport:
    """The report with what the desired state's lookup found."""
    return replace(
        report,
        dns_queries=view.queries,
        refused=list(view.refused),
        resolved=view.failure is None,
        lookup_failed=view.failure is not None,
        lookup_error=view.failure,
        aws_failed=report.aws_failed or view.api_failed,
        wanted=sorted(view.wanted) if view.wanted is not None else [],
    )


def _with_applied(
    report: MappingReport, targets: Sequence[Target], applied: Applied
) -> MappingReport:
    """The report with the group as read and what the apply stage did."""
    return replace(
        report,
        observed=True,
        registered=len(targets),
        healthy=sum(1 for t in targets if t.state == "healthy"),
        registered_ips=list(applied.registered),
        deregistered_ips=list(applied.deregistered),
        decisions=list(applied.plan.decisions),
        foreign=list(applied.plan.foreign),
        deferred=report.deferred or applied.deferred,
        aws_failed=report.aws_failed or applied.aws_failed,
    )


def _aws_failure(report: MappingReport, exc: AwsError, mapping: MappingConfig) -> MappingReport:
    """The report of a cycle an AWS read stopped."""
    report = replace(report, aws_failed=True)
    if exc.out_of_time and report.lookup_error:  # the lookup failed first
        return report.fail(f"DNS resolution failed, nothing changed: {report.lookup_error}")
    if exc.out_of_time:  # nothing was changed: the next cycle carries on
        logger.warning("cut short by the deadline", extra={"mapping": report.label})
        return replace(report, deferred=True)
    logger.error("mapping failed", extra={"mapping": report.label, "error": str(exc)})
    if exc.not_found:
        return report.fail(f"{exc}; check {mapping.source}, which names it")
    return report.fail(str(exc))


def check_alb(state: ProcessState, mapping: MappingConfig, facts: TargetGroupFacts) -> None:
    """Warn once per process when the group is not attached to ``AlbId``."""
    if not mapping.alb_id or not state.first_check_of(facts.arn):
        return
    attached = facts.load_balancer_arns
    names = {load_balancer_name(arn) for arn in attached}
    if mapping.alb_id not in attached and mapping.alb_id not in names:
        logger.warning(
            "target group is not attached to AlbId",
            extra={
                "mapping": mapping.label,
                "alb_id": mapping.alb_id,
                "attached_to": list(attached),
            },
        )
