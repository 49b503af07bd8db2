"""One mapping's cycle: resolve, observe, plan, apply, report.

Everything that talks to the world is injected: a provider for the target group, a
registry for the memory kept in its tags, a source per nameserver list, the process's
:class:`~tgsync.memory.Memory` and a clock. Dry runs are decided at the very last step,
after every intended change has been logged. A cycle never raises for DNS or AWS
faults: it reports them, and leaves the group as it was wherever it could not act.

With ``retire=owned`` the cycle also reads and writes the mapping's ownership records
(see :mod:`tgsync.ownership` and, for the write order, :mod:`tgsync.registry`), holding
the group and port's turn from reading them to writing them, so that two mappings
sharing a group and port in one process never interleave.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, replace

from tgsync.arn import load_balancer_name
from tgsync.config import MappingConfig
from tgsync.deadline import NONE, Deadline
from tgsync.errors import ProviderError
from tgsync.follow import is_pending
from tgsync.guard import screen
from tgsync.memory import Memory, key
from tgsync.model import Target, TargetGroupFacts
from tgsync.ownership import Owned
from tgsync.plan import Action, MissingSince, Plan, apply_policy, plan
from tgsync.provider import Provider
from tgsync.records import (
    disown,
    held_by_sharers,
    note_failure,
    owner_of,
    planned_on,
    record_ownership,
    shared_with_others,
    unchanged,
)
from tgsync.registry import TagRegistry
from tgsync.report import MappingReport, logger
from tgsync.resync import is_settled
from tgsync.source import Nameserver, Source, source_of


@dataclass(frozen=True, slots=True)
class _DnsView:
    """One cycle's desired state: allowed IPs (``None`` if resolution failed) and how
    many distinct answers gave them, the largest of how many records."""

    wanted: frozenset[str] | None
    failure: str | None
    distinct: int = 1
    largest: int | None = None
    out_of_time: bool = False
    authoritative: bool = False
    record_type: str = "A"


class MappingCycle:
    """Runs one mapping's cycle against the injected adapters."""

    def __init__(self, provider: Provider, registry: TagRegistry,
                 source_for: Callable[[tuple[Nameserver, ...]], Source], memory: Memory,
                 clock: Callable[[], float], *, resync_every: float) -> None:
        self.provider = provider
        self.registry = registry
        self._source_for = source_for
        self._memory = memory
        self._clock = clock
        self._resync_every = resync_every
        #: The current invocation's deadline: lookups get the time that is left.
        self.deadline: Deadline = NONE
        self._ports: dict[str, int] = {}  # the groups' own ports, as read
        #: Owned mappings of this process sharing a group and port, by (group, port):
        #: set by the controller for every cycle.
        self.sharers: dict[tuple[str, int], list[MappingConfig]] = {}

    def keep_only(self, arns: set[str]) -> None:
        """Forget the ports of groups no longer kept."""
        for arn in [a for a in self._ports if a not in arns]:
            del self._ports[arn]

    def port_of(self, mapping: MappingConfig) -> int:
        """The port a mapping keeps: its own, or its group's (0 if the group is unknown)."""
        if mapping.port:
            return mapping.port
        try:
            return self.provider.facts(mapping.target_group_arn).port
        except ProviderError:
            return 0

    def key_of(self, mapping: MappingConfig) -> str:
        """The mapping's key in the per-process records (may read the group's facts)."""
        return key(mapping.target_group_arn, self.port_of(mapping), owner_of(mapping))

    def known_key(self, mapping: MappingConfig) -> str | None:
        """The mapping's key if its port is known without an AWS call (``None``: its
        group was never read)."""
        port = mapping.port or self._ports.get(mapping.target_group_arn)
        return key(mapping.target_group_arn, port, owner_of(mapping)) if port else None

    def run(self, mapping: MappingConfig, *, dry_run: bool = False,
            horizon: float = 0.0) -> MappingReport:
        """One cycle for one mapping; never raises for DNS or AWS faults. ``horizon``:
        seconds until the next full cycle is expected (see :func:`resync.may_skip`)."""
        report = MappingReport(mapping.label, mapping.hostname, mapping.target_group_arn,
                               port=mapping.port, dry_run=dry_run, origins=list(mapping.origins))
        try:
            self._sync(mapping, report, dry_run, horizon)
        except ProviderError as exc:
            report.aws_failed = True
            if exc.out_of_time and report.lookup_error:  # the lookup failed first
                report.fail(f"DNS resolution failed, nothing changed: {report.lookup_error}")
            elif exc.out_of_time:  # nothing was changed: the next cycle carries on
                logger.warning("cut short by the deadline", extra={"mapping": report.label})
                report.deferred = True
            else:
                logger.error("mapping failed", extra={"mapping": report.label,
                                                      "error": str(exc)})
                report.fail(_in_words_of(exc, mapping))
        except Exception as exc:  # a bug must fail one mapping, not the others
            logger.exception("mapping crashed", extra={"mapping": report.label})
            report.fail(f"internal error: {type(exc).__name__}: {exc}")
        report.mapping_key = self.known_key(mapping)
        return report

    def _sync(self, mapping: MappingConfig, report: MappingReport, dry_run: bool,
              horizon: float) -> MappingReport:
        arn = mapping.target_group_arn
        facts = self.provider.facts(arn)
        if facts.target_type != "ip":
            return report.fail(f"target group {facts.name} has target type "
                               f"{facts.target_type!r}; tgsync needs a target group of type ip")
        check_alb(self._memory, mapping, facts)
        self._ports[arn] = facts.port
        port = report.port = mapping.port or facts.port

        # 1. desired state
        view = self._desired(mapping, facts, report)
        if view.out_of_time:  # not a DNS fault: the next cycle carries on, unchanged
            report.deferred, report.lookup_failed, report.lookup_error = True, False, None
            return report
        owner = owner_of(mapping)
        mapping_key = key(arn, port, owner)
        now = self._clock()
        if not dry_run and self._memory.may_skip(mapping_key, view.wanted, now, horizon):
            report.read_skipped = True  # settled, same answer, not yet due: trust it
            self._note_motion(mapping_key, report, now)
            return report

        # 2. actual state
        targets = self.provider.targets(arn)
        report.observed = True
        self._memory.note_read(mapping_key, now)
        ours = {t.ip: t for t in targets if t.port == port}
        report.registered = len(ours)
        report.healthy = sum(1 for t in ours.values() if t.state == "healthy")

        # Mappings sharing the group and port take turns from here to the last write.
        with self.registry.turn(arn, port) if owner else nullcontext():
            result, problems = self._plan_and_act(mapping, view, targets, ours=ours, port=port,
                                                  now=now, report=report, dry_run=dry_run)
        if view.failure:
            logger.error("DNS resolution failed: nothing changed",
                         extra={"mapping": report.label, "error": view.failure})
            problems.insert(0, f"DNS resolution failed, nothing changed: {view.failure}")
        if problems:
            report.fail("; ".join(problems))
        settled = not problems and not dry_run and is_settled(result, ours.values())
        self._memory.note_settled(mapping_key, view.wanted if settled else None, now,
                                  self._resync_every)
        if not dry_run:
            self._note_motion(mapping_key, report, now)
        return report

    def _plan_and_act(self, mapping: MappingConfig, view: _DnsView, targets: list[Target], *,
                      ours: Mapping[str, Target], port: int, now: float,
                      report: MappingReport, dry_run: bool) -> tuple[Plan, list[str]]:
        """Plan (memory and ownership are read only when they matter), then act."""
        reads = self.registry.reads(mapping.target_group_arn)
        result, owned = self._plan(mapping, view, targets, port=port, now=now, report=report)
        # Records read before a retirement are this cycle's (unless planning just read them).
        fresh = bool(result.deregister) and self.registry.reads(mapping.target_group_arn) == reads
        if owner_of(mapping) is None and view.wanted is not None and (
                shared := shared_with_others(self.registry, mapping, port, fresh=fresh)):
            return unchanged(result), [shared]
        return self._act(mapping, view, result, owned, ours=ours, port=port, now=now,
                         report=report, dry_run=dry_run)

    def _plan(self, mapping: MappingConfig, view: _DnsView, targets: list[Target], *,
              port: int, now: float, report: MappingReport) -> tuple[Plan, Owned | None]:
        """The plan, with the memory and (``retire=owned``) the ownership records it
        needs, read afresh before any change of records or retirement."""
        arn, owner = mapping.target_group_arn, owner_of(mapping)
        owned: Owned | None = None
        held: dict[str, frozenset[str]] = {}  # what the sharers' answers hold now

        def planned(memory: Mapping[str, MissingSince]) -> Plan:
            return apply_policy(plan(
                wanted=view.wanted, targets=targets, port=port, memory=memory,
                now=now, stale_after=0 if view.authoritative else mapping.stale_after,
                answers=view.distinct, largest_answer=view.largest,
                owned_by_me=None if owned is None or owner is None else owned.mine(owner),
                owned_by_others=None if owned is None or owner is None
                else {**held, **owned.others(owner)}), mapping.policy)

        fresh = False
        if owner and view.wanted is not None:
            owned = self.registry.recall_owned(arn, port, fresh=False)
            probe = planned({})
            # Another process may have written the records since they were read.
            if probe.deregister or probe.owned != owned.mine(owner) or probe.waiting:
                owned, fresh = self.registry.recall_owned(arn, port, fresh=True), True
            if probe.deregister:  # an IP moving to a sharer is not retired in between
                held = held_by_sharers(
                    self.sharers.get((arn, port), []), mapping, view.record_type,
                    {d.ip for d in probe.deregister},
                    source=lambda other: source_of(self._source_for, other.dns_servers,
                                                   other.resolve, other.rds_role_arn),
                    time_left=self.deadline.left())
            for tag in owned.unreadable:
                logger.warning("unreadable tag left alone", extra={"mapping": report.label,
                                                                   "tag": tag})
        result = planned({})
        if view.wanted is not None:
            recalled = self.registry.recall(arn, port, fresh=result.waiting and not fresh)
            for tag in recalled.unreadable:
                logger.warning("unreadable tag left alone", extra={"mapping": report.label,
                                                                   "tag": tag})
            if recalled.memory:
                result = planned(recalled.memory)
        return result, owned

    def _act(self, mapping: MappingConfig, view: _DnsView, result: Plan, owned: Owned | None,
             *, ours: Mapping[str, Target], port: int, now: float, report: MappingReport,
             dry_run: bool) -> tuple[Plan, list[str]]:
        """Carry the plan out (nothing in a dry run), its records around it."""
        arn, owner = mapping.target_group_arn, owner_of(mapping)
        problems: list[str] = []
        recorded = True
        mine = owned.mine(owner) if owned is not None and owner else frozenset()
        if not dry_run and owner and result.owned is not None:
            # Record new IPs before registering them; drop retired ones only afterwards.
            recorded = record_ownership(self.registry, arn, port, owner, result.owned | (
                mine & {d.ip for d in result.deregister}), stored=mine, problems=problems,
                report=report)
        if not dry_run:
            result, more = self._apply(arn, port, ours, result, report)
            problems += more
        if not dry_run and owner and result.owned is not None and recorded:
            record_ownership(self.registry, arn, port, owner, result.owned, stored=mine,
                    problems=problems, report=report)
        if not dry_run and view.wanted is not None and not owner:
            disown(self.registry, arn, port, mapping, problems=problems, report=report)
        report.decisions = list(result.decisions)
        report.foreign = list(result.foreign)
        log_plan(report, result, dry_run)
        if not dry_run and view.wanted is not None:
            try:
                self.registry.save(arn, port, result.memory, now=now,
                                   planned=planned_on(view.wanted, ours, mine, owned, owner))
            except ProviderError as exc:
                note_failure(exc, problems, report)
        return result, problems

    def _note_motion(self, mapping_key: str, report: MappingReport, now: float) -> None:
        """Update the mapping's follow record (see :mod:`tgsync.follow`) after a cycle."""
        self._memory.note_motion(
            mapping_key, changed=bool(report.registered_ips or report.deregistered_ips),
            pending=is_pending(report.decisions, report.lookup_failed), now=now)

    def _desired(self, mapping: MappingConfig, facts: TargetGroupFacts, report: MappingReport
                 ) -> _DnsView:
        """Resolve and screen: the allowed IPs, or why resolution failed."""
        resolution = source_of(self._source_for, mapping.dns_servers, mapping.resolve,
                               mapping.rds_role_arn).resolve(
            mapping.hostname, facts.record_type, mapping.lookups, time_left=self.deadline.left())
        report.dns_queries = resolution.queries
        allowed, refused = screen(resolution.answers, mapping.allowed_cidrs,
                                  mapping.narrowed_cidrs)
        report.refused = list(refused)
        for refusal in refused:
            logger.warning("REFUSED", extra={"mapping": report.label, "answer": refusal.answer,
                                             "reason": refusal.reason})
        failure = resolution.error
        if failure is None and not allowed:
            failure = (f"no usable {facts.record_type} answer for {mapping.hostname}"
                       + (": every answer was refused" if refused else ""))
        report.resolved = failure is None
        report.lookup_failed = failure is not None
        report.lookup_error = failure
        report.aws_failed = report.aws_failed or resolution.api_failed
        report.wanted = sorted(allowed) if failure is None else []
        if failure:
            return _DnsView(None, failure, out_of_time=resolution.out_of_time)
        if resolution.authoritative:  # complete and consistent: retire at once
            return _DnsView(allowed, None, authoritative=True, record_type=facts.record_type)
        return _DnsView(allowed, None, resolution.distinct, resolution.largest,
                        record_type=facts.record_type)

    def _apply(self, arn: str, port: int, ours: Mapping[str, Target], result: Plan,
               report: MappingReport) -> tuple[Plan, list[str]]:
        """Register, then retire; one refused IP or failed call does not stop the rest.

        Returns the plan as carried out (decisions that could not be done become WAIT,
        with their memory kept) and what went wrong.
        """
        problems: list[str] = []
        waits: dict[str, str] = {}
        register_failed = False
        refused: dict[str, str] = {}
        wanted = {d.ip for d in result.decisions if d.in_dns}
        if result.register:
            try:
                rejections = self.provider.register(arn, [d.ip for d in result.register], port)
            except ProviderError as exc:
                note_failure(exc, problems, report)
                register_failed = True
                rejections = []
            refused = {r.ip: r.message for r in rejections}
            if not register_failed:
                report.registered_ips = [d.ip for d in result.register if d.ip not in refused]
            for ip, message in refused.items():
                target = ours.get(ip)
                if target is not None and target.is_draining:
                    waits[ip] = (f"in DNS but draining, and ELB will not take it back yet "
                                 f"({message}): registering again next cycle")
                else:
                    logger.error("RegisterTargets refused an IP", extra={
                        "mapping": report.label, "ip": ip, "error": message})
                    problems.append(f"RegisterTargets refused {ip}: {message}")
        # Serving targets are never retired while nothing takes their place: when the
        # registration failed, or ELB refused every new IP and no IP DNS returns is
        # registered and serving (retiring them would empty the group).
        accepted = {d.ip for d in result.register} - set(refused)
        replaced = accepted or any(t.ip in wanted and not t.is_not_serving
                                   for t in ours.values())
        hold = register_failed or (bool(result.register) and not replaced)
        retire = [d for d in result.deregister if not (hold and not ours[d.ip].is_not_serving)]
        for decision in result.deregister:
            if decision not in retire:
                waits[decision.ip] = (f"{decision.reason}; not retired while no new IP "
                                      "could be registered in its place")
        if retire:
            try:
                self.provider.deregister(arn, [ours[d.ip] for d in retire])
                report.deregistered_ips = [d.ip for d in retire]
            except ProviderError as exc:
                note_failure(exc, problems, report)
                waits.update({d.ip: f"{d.reason}; DeregisterTargets failed" for d in retire})
        if not waits:
            return result, problems
        decisions = tuple(replace(d, action=Action.WAIT, reason=waits[d.ip])
                          if d.ip in waits else d for d in result.decisions)
        memory = {**result.memory, **{ip: record for ip, record in result.retiring.items()
                                      if ip in waits}}
        owned = None if result.owned is None else result.owned | set(waits)
        return replace(result, decisions=decisions, memory=memory, owned=owned), problems

def log_plan(report: MappingReport, result: Plan, dry_run: bool) -> None:
    for decision in result.decisions:
        if decision.action in (Action.REGISTER, Action.DEREGISTER):
            logger.info(decision.action.value, extra={
                "mapping": report.label, "ip": decision.ip, "port": decision.port,
                "target_group": report.target_group_arn, "reason": decision.reason,
                "dry_run": dry_run,
            })
        elif decision.action is Action.WAIT:
            logger.info("WAIT", extra={"mapping": report.label, "ip": decision.ip,
                                       "port": decision.port, "reason": decision.reason})
    if result.foreign:
        logger.info("FOREIGN", extra={"mapping": report.label, "ips": list(result.foreign),
                                      "port": report.port,
                                      "reason": "not registered by this mapping: left alone"})
    if result.resolved and not result.has_changes:
        logger.debug("up to date", extra={"mapping": report.label})


def check_alb(memory: Memory, mapping: MappingConfig, facts: TargetGroupFacts) -> None:
    """Warn once per process when the group is not attached to ``AlbId``."""
    if not mapping.alb_id or not memory.first_check_of(facts.arn):
        return
    attached = facts.load_balancer_arns
    names = {load_balancer_name(arn) for arn in attached}
    if mapping.alb_id not in attached and mapping.alb_id not in names:
        logger.warning("target group is not attached to AlbId", extra={
            "mapping": mapping.label, "alb_id": mapping.alb_id,
            "attached_to": list(attached),
        })


def _in_words_of(exc: ProviderError, mapping: MappingConfig) -> str:
    """The error, naming where the user configured the group when it does not exist."""
    if exc.not_found:
        return f"{exc}; check {mapping.source}, which names it"
    return str(exc)
