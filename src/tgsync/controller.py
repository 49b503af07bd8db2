"""Controller: one sync cycle per mapping (resolve, observe, plan, apply, report).

Everything that talks to the world is injected: a provider for the target group, a
registry for the memory, a source per nameserver list, and a clock. Dry runs are
decided at the very last step, after every intended change has been logged.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from tgsync.arn import load_balancer_name
from tgsync.config import Config, Discovery, InvalidMapping, MappingConfig, clashes
from tgsync.discovery import Discovered, adopt
from tgsync.errors import ProviderError
from tgsync.events import Trigger
from tgsync.follow import Motion, announce, followed, is_pending, observe, room_for_another
from tgsync.guard import screen
from tgsync.model import Target, TargetGroupFacts
from tgsync.plan import Action, MissingSince, Plan, apply_policy, plan
from tgsync.provider import Provider
from tgsync.registry import TagRegistry
from tgsync.report import (
    CycleReport,
    DiscoveryReport,
    InvocationReport,
    MappingReport,
    logger,
)
from tgsync.resync import Settled, is_settled, may_skip, settle
from tgsync.source import Nameserver, Source

#: Stop starting new mappings when the Lambda has less time left than this.
DEADLINE_MARGIN_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class _DnsView:
    """One cycle's desired state: allowed IPs (``None`` if resolution failed) and how
    many distinct answers gave them, the largest of how many records."""

    wanted: frozenset[str] | None
    failure: str | None
    distinct: int = 1
    largest: int | None = None


class Controller:
    """Runs sync cycles. Keep one per process: its adapters cache per cold start."""

    def __init__(
        self,
        provider: Provider,
        registry: TagRegistry,
        source_for: Callable[[tuple[Nameserver, ...]], Source],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.provider = provider
        self.registry = registry
        self._source_for = source_for
        self._clock = clock
        self._alb_checked: set[str] = set()
        self._lock = threading.Lock()
        self._discovery: Discovered | None = None
        self._settled: dict[str, Settled] = {}
        self._last_read: dict[str, float] = {}
        self._resync_every = 0.0
        self._discovery_report: DiscoveryReport | None = None
        self._motion: dict[str, Motion] = {}
        self._mappings: Sequence[MappingConfig] = ()

    # ------------------------------------------------------------------ one mapping

    def sync_mapping(self, mapping: MappingConfig, *, dry_run: bool = False) -> MappingReport:
        """One cycle for one mapping; never raises for DNS or AWS faults."""
        report = MappingReport(mapping.label, mapping.hostname, mapping.target_group_arn,
                               port=mapping.port, dry_run=dry_run, origins=list(mapping.origins))
        try:
            return self._sync(mapping, report, dry_run)
        except ProviderError as exc:
            logger.error("mapping failed", extra={"mapping": report.label, "error": str(exc)})
            return report.fail(str(exc))
        except Exception as exc:  # a bug must fail one mapping, not the others
            logger.exception("mapping crashed", extra={"mapping": report.label})
            return report.fail(f"internal error: {type(exc).__name__}: {exc}")

    def _sync(self, mapping: MappingConfig, report: MappingReport, dry_run: bool
              ) -> MappingReport:
        arn = mapping.target_group_arn
        facts = self.provider.facts(arn)
        if facts.target_type != "ip":
            return report.fail(f"target group {facts.name} has target type "
                               f"{facts.target_type!r}; tgsync needs a target group of type ip")
        self._check_alb(mapping, facts)
        port = report.port = mapping.port or facts.port

        # 1. desired state
        view = self._desired(mapping, facts, report)
        key = f"{arn}:{port}"
        now = self._clock()
        if not dry_run and may_skip(self._settled.get(key), view.wanted, now):
            report.read_skipped = True  # settled, same answer, not yet due: trust it
            self._note_motion(key, report, now)
            return report

        # 2. actual state
        targets = self.provider.targets(arn)
        report.observed = True
        self._last_read[key] = now
        ours = {t.ip: t for t in targets if t.port == port}
        report.registered = len(ours)
        report.healthy = sum(1 for t in ours.values() if t.state == "healthy")

        # 3. plan; memory is read only when the plan waits on it (or to clear it)
        def planned(memory: Mapping[str, MissingSince]) -> Plan:
            return apply_policy(plan(
                wanted=view.wanted, targets=targets, port=port, memory=memory,
                now=now, stale_after=mapping.stale_after, answers=view.distinct,
                largest_answer=view.largest), mapping.policy)

        result = planned({})
        if view.wanted is not None:
            recalled = self.registry.recall(arn, port, fresh=result.waiting)
            for tag in recalled.unreadable:
                logger.warning("unreadable tag left alone", extra={"mapping": report.label,
                                                                   "tag": tag})
            if recalled.memory:
                result = planned(recalled.memory)

        # 4. act
        problems: list[str] = []
        if not dry_run:
            result, problems = self._apply(arn, port, ours, result, report)
        report.decisions = list(result.decisions)
        self._log_plan(report, result, dry_run)
        if not dry_run and view.wanted is not None:
            try:
                self.registry.save(arn, port, result.memory)
            except ProviderError as exc:
                problems.append(str(exc))
        if view.failure:
            logger.error("DNS resolution failed: nothing changed",
                         extra={"mapping": report.label, "error": view.failure})
            problems.insert(0, f"DNS resolution failed, nothing changed: {view.failure}")
        if problems:
            report.fail("; ".join(problems))
        settled = not problems and not dry_run and is_settled(result, ours.values())
        self._note_settled(key, view.wanted if settled else None, now)
        if not dry_run:
            self._note_motion(key, report, now)
        return report

    def _note_motion(self, key: str, report: MappingReport, now: float) -> None:
        """Update the mapping's follow record (see :mod:`tgsync.follow`) after a cycle."""
        changed = bool(report.registered_ips or report.deregistered_ips)
        pending = is_pending(report.decisions, report.lookup_failed)
        with self._lock:
            after = observe(self._motion.get(key), changed=changed, pending=pending, now=now)
            if after is None:
                self._motion.pop(key, None)
            else:
                self._motion[key] = after

    def _note_settled(self, key: str, wanted: frozenset[str] | None, now: float) -> None:
        """Remember a group that a fresh read found settled for ``wanted``, or forget it."""
        with self._lock:
            if self._resync_every > 0 and wanted is not None:
                self._settled[key] = settle(key, wanted, now, self._resync_every,
                                            self._settled.get(key))
            else:
                self._settled.pop(key, None)

    def _desired(self, mapping: MappingConfig, facts: TargetGroupFacts, report: MappingReport
                 ) -> _DnsView:
        """Resolve and screen: the allowed IPs, or why resolution failed."""
        resolution = self._source_for(mapping.dns_servers).resolve(
            mapping.hostname, facts.record_type, mapping.lookups)
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
        report.wanted = sorted(allowed) if failure is None else []
        if failure:
            return _DnsView(None, failure)
        return _DnsView(allowed, None, resolution.distinct, resolution.largest)

    def _apply(self, arn: str, port: int, ours: Mapping[str, Target], result: Plan,
               report: MappingReport) -> tuple[Plan, list[str]]:
        """Register, then retire; one refused IP or failed call does not stop the rest.

        Returns the plan as carried out (decisions that could not be done become WAIT,
        with their memory kept) and what went wrong.
        """
        problems: list[str] = []
        waits: dict[str, str] = {}
        register_failed = False
        if result.register:
            try:
                rejections = self.provider.register(arn, [d.ip for d in result.register], port)
            except ProviderError as exc:
                problems.append(str(exc))
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
        retire = [d for d in result.deregister
                  if not (register_failed and not ours[d.ip].is_not_serving)]
        for decision in result.deregister:
            if decision not in retire:
                waits[decision.ip] = (f"{decision.reason}; not retired while registration "
                                      "fails")
        if retire:
            try:
                self.provider.deregister(arn, [ours[d.ip] for d in retire])
                report.deregistered_ips = [d.ip for d in retire]
            except ProviderError as exc:
                problems.append(str(exc))
                waits.update({d.ip: f"{d.reason}; DeregisterTargets failed" for d in retire})
        if not waits:
            return result, problems
        decisions = tuple(replace(d, action=Action.WAIT, reason=waits[d.ip])
                          if d.ip in waits else d for d in result.decisions)
        memory = {**result.memory, **{ip: record for ip, record in result.retiring.items()
                                      if ip in waits}}
        return replace(result, decisions=decisions, memory=memory), problems

    def _log_plan(self, report: MappingReport, result: Plan, dry_run: bool) -> None:
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
        if result.resolved and not result.has_changes:
            logger.debug("up to date", extra={"mapping": report.label})

    def _check_alb(self, mapping: MappingConfig, facts: TargetGroupFacts) -> None:
        """Warn once per process when the group is not attached to ``AlbId``."""
        if not mapping.alb_id:
            return
        with self._lock:
            if facts.arn in self._alb_checked:
                return
            self._alb_checked.add(facts.arn)
        attached = facts.load_balancer_arns
        names = {load_balancer_name(arn) for arn in attached}
        if mapping.alb_id not in attached and mapping.alb_id not in names:
            logger.warning("target group is not attached to AlbId", extra={
                "mapping": mapping.label, "alb_id": mapping.alb_id,
                "attached_to": list(attached),
            })

    # ------------------------------------------------------------------ all mappings

    def run_once(
        self,
        config: Config,
        *,
        dry_run: bool | None = None,
        time_left: Callable[[], float] | None = None,
        only: frozenset[str] | None = None,
    ) -> CycleReport:
        """One cycle over every mapping, ``config.concurrency`` at a time.

        ``time_left`` (seconds) lets the Lambda handler skip mappings it could not
        finish before the function times out; they are reported as failed. ``only``
        limits the cycle to the mappings with these keys (a follow-up cycle).
        """
        dry = config.dry_run if dry_run is None else dry_run
        self._resync_every = config.resync_every
        mappings: Sequence[MappingConfig] = config.mappings
        found: list[MappingReport] = []
        if config.discovery is not None:
            discovered, found = self._discovered(config, config.discovery, dry)
            mappings = [*mappings, *discovered]
        if only is None:
            self._mappings = mappings
        else:
            mappings = [m for m in mappings if self._key(m) in only]
            found = []
        if len(mappings) > 1:  # a cold start with many groups: batch the one-off reads
            arns = [m.target_group_arn for m in mappings]
            self.provider.prefetch(arns)
            self.registry.prefetch(arns)
        refused = self._clashes(mappings)
        # Groups read longest ago first: a cold start spreads its first reads over as
        # many cycles as the time allows, and no group falls behind for long.
        order = sorted(range(len(mappings)), key=lambda i: self._read_at(mappings[i]))
        now = self._clock()

        def one(index: int) -> MappingReport:
            mapping = mappings[index]
            report = MappingReport(mapping.label, mapping.hostname, mapping.target_group_arn,
                                   mapping.port, dry_run=dry)
            if index in refused:
                logger.error("mappings clash: none of them is synced",
                             extra={"mapping": mapping.label, "error": refused[index]})
                return report.fail(refused[index])
            if time_left is not None and time_left() < DEADLINE_MARGIN_SECONDS:
                last = self._read_at(mapping)
                if now - last <= max(config.resync_every, 0) or last == float("-inf"):
                    report.deferred = True  # read soon enough: next cycle carries on
                    return report
                return report.fail("skipped: the function was about to time out and this "
                                   f"group was last read {now - last:.0f}s ago; raise the "
                                   "function's timeout, TGSYNC_API_RATE or TGSYNC_CONCURRENCY")
            return self.sync_mapping(mapping, dry_run=dry)

        if len(mappings) <= 1 or config.concurrency <= 1:
            done = {i: one(i) for i in order}
        else:
            with ThreadPoolExecutor(max_workers=min(config.concurrency, len(mappings))) as pool:
                done = dict(zip(order, pool.map(one, order), strict=True))
        reports = [done[i] for i in range(len(mappings))]
        deferred = sum(1 for r in reports if r.deferred)
        if deferred:
            logger.warning("not every group could be read in this invocation: the next "
                           "carries on", extra={"deferred": deferred,
                                                "read": len(reports) - deferred})
        if only is None:
            reports.extend(_invalid_report(bad, dry) for bad in config.invalid)
        reports.extend(found)
        cycle = CycleReport(reports, dry_run=dry, discovery=self._discovery_report)
        for report in reports:
            logger.info("mapping summary", extra=report.to_dict())
        return cycle

    # ------------------------------------------------------------------ following

    def run(
        self,
        config: Config,
        *,
        dry_run: bool | None = None,
        time_left: Callable[[], float] | None = None,
        follow_within: Callable[[], float] | None = None,
        trigger: Trigger | None = None,
        sleep: Callable[[float], object] = time.sleep,
        stopping: Callable[[], bool] = lambda: False,
        margin: float = DEADLINE_MARGIN_SECONDS,
        on_cycle: Callable[[CycleReport], object] = lambda _cycle: None,
    ) -> InvocationReport:
        """One invocation: a cycle over every mapping, then follow-up cycles every
        ``config.follow_interval`` seconds for the mappings that move (see
        :mod:`tgsync.follow`) while they move and the time allows: ``follow_within()``
        seconds (default ``time_left``, the invocation's deadline; ``None``: no limit but
        the follow window) less ``margin``. ``on_cycle`` sees each cycle as it ends."""
        limit = follow_within or time_left
        dry = config.dry_run if dry_run is None else dry_run
        started = self._clock()
        cycles = [self.run_once(config, dry_run=dry, time_left=time_left)]
        seconds = self._clock() - started
        on_cycle(cycles[0])
        announced: list[str] = []
        if trigger is not None and trigger.domains and not dry:
            announced = self._announce(trigger, config.follow_for)
        if dry or config.follow_interval <= 0:
            stopped = "dry run" if dry else "following is off"
            return InvocationReport(cycles, stopped, announced)
        while True:
            keys = self._following(config.follow_for)
            if not keys:
                stopped = "nothing moves"
                break
            if not room_for_another(limit() if limit else None,
                                    config.follow_interval, seconds, margin):
                stopped = "no time left in this invocation: the next one carries on"
                break
            sleep(config.follow_interval)
            if stopping():  # a signal during the sleep: no new cycle
                stopped = "stopped"
                break
            logger.info("follow-up cycle", extra={"mappings": len(keys)})
            started = self._clock()
            cycles.append(self.run_once(config, dry_run=dry, time_left=time_left, only=keys))
            seconds = self._clock() - started
            on_cycle(cycles[-1])
        logger.info("following done", extra={"cycles": len(cycles), "stopped": stopped})
        return InvocationReport(cycles, stopped, announced)

    def _following(self, follow_for: float) -> frozenset[str]:
        """Keys of the mappings of the last full cycle within their follow window."""
        now = self._clock()
        keys = [self._key(mapping) for mapping in self._mappings]  # may read facts: unlocked
        with self._lock:
            return frozenset(key for key in keys
                             if followed(self._motion.get(key), now, follow_for))

    def _announce(self, trigger: Trigger, follow_for: float) -> list[str]:
        """Mark the mappings whose hostname is an event's domain as moving."""
        now = self._clock()
        labels = []
        for mapping in self._mappings:
            if any(domain.serves(mapping.hostname) for domain in trigger.domains):
                key = self._key(mapping)
                with self._lock:
                    self._motion[key] = announce(now, follow_for)
                labels.append(mapping.label)
        logger.info("event announced a change", extra={
            "event": trigger.what, "domains": [d.name for d in trigger.domains],
            "followed": labels})
        return labels

    # ------------------------------------------------------------------ discovery

    def _discovered(self, config: Config, discovery: Discovery, dry_run: bool
                    ) -> tuple[list[MappingConfig], list[MappingReport]]:
        """The discovered mappings that no explicit mapping covers, and reports for the
        groups refused. Read at the first cycle and then every ``discovery.every``
        seconds; a failed read keeps the last good one (and is reported)."""
        now = self._clock()
        failure: MappingReport | None = None
        last = self._discovery
        if last is None or not 0 <= now - last.at < discovery.every:
            try:
                candidates = self.provider.discover(discovery.region)
                fresh = adopt(candidates, discovery, at=now)
                # The listing read every group's tags: the memory needs no read of its own.
                self.registry.remember({c.arn: dict(c.tags) for c in candidates
                                        if c.arn in fresh.arns})
            except ProviderError as exc:
                logger.error("discovery failed: keeping the groups found before",
                             extra={"error": str(exc)})
                failure = MappingReport("discovery", "", "", dry_run=dry_run).fail(
                    f"discovery failed, the groups found before are kept: {exc}")
            else:
                self._adopted(last, fresh, dry_run)
                self._discovery = last = fresh
        elif self._discovery_report is not None:  # the read of an earlier cycle
            self._discovery_report = replace(self._discovery_report, read=0, new=[],
                                             let_go=[])
        if last is None:
            return [], [failure] if failure else []
        # Ports are compared only where a group is both explicit and discovered: reading
        # facts for every explicit mapping here would come before their batched prefetch.
        both = {m.target_group_arn for m in config.mappings} & last.arns
        explicit = {(m.target_group_arn, self._port_of(m)) for m in config.mappings
                    if m.target_group_arn in both}
        kept = [m for m in last.mappings if m.target_group_arn not in both
                or (m.target_group_arn, self._port_of(m)) not in explicit]
        refused = [MappingReport(bad.label, "", bad.target_group_arn, dry_run=dry_run).fail(
            "; ".join(bad.problems)) for bad in last.refused]
        return kept, [*refused, *([failure] if failure else [])]

    def _adopted(self, before: Discovered | None, after: Discovered, dry_run: bool) -> None:
        """Log what changed, and let go of groups no longer discovered: their targets
        stay as they are, tgsync stops acting on them and removes its memory tags."""
        old = {m.target_group_arn: m for m in before.mappings} if before else {}
        new = {m.target_group_arn: m for m in after.mappings}
        self._discovery_report = DiscoveryReport(
            read=after.read, adopted=sorted(new), new=sorted(set(new) - set(old)),
            let_go=sorted(set(old) - set(new)), refused=[b.label for b in after.refused],
            others=len(after.others))
        logger.info("discovery", extra=self._discovery_report.to_dict())
        for arn in self._discovery_report.let_go:
            if dry_run:
                continue
            port = old[arn].port or self._port_of(old[arn])
            try:
                self.registry.recall(arn, port, fresh=True)
                self.registry.save(arn, port, {})
            except ProviderError as exc:  # deleted, or denied: nothing of ours to keep
                logger.warning("let go, but its memory tags could not be removed",
                               extra={"target_group": arn, "error": str(exc)})

    def _read_at(self, mapping: MappingConfig) -> float:
        """When this process last read the mapping's group (-inf: never)."""
        return self._last_read.get(self._key(mapping), float("-inf"))

    def _key(self, mapping: MappingConfig) -> str:
        """The mapping's key in the per-process records: its group and port."""
        return f"{mapping.target_group_arn}:{mapping.port or self._port_of(mapping)}"

    def _port_of(self, mapping: MappingConfig) -> int:
        """The port a mapping keeps: its own, or its group's (0 if the group is unknown)."""
        if mapping.port:
            return mapping.port
        try:
            return self.provider.facts(mapping.target_group_arn).port
        except ProviderError:
            return 0

    def _clashes(self, mappings: Sequence[MappingConfig]) -> dict[int, str]:
        """Mappings that share a target group and its effective port (see
        :func:`tgsync.config.clashes`); group facts are read only for shared groups."""
        shared = {arn for arn, n in Counter(m.target_group_arn for m in mappings).items()
                  if n > 1}

        def group_port(arn: str) -> int | None:
            if arn not in shared:
                return None
            try:
                return self.provider.facts(arn).port
            except ProviderError:
                return None  # each mapping reports the failure itself

        return clashes(mappings, group_port)


def _invalid_report(bad: InvalidMapping, dry_run: bool) -> MappingReport:
    logger.error("invalid mapping skipped", extra={"mapping": bad.label,
                                                   "problems": list(bad.problems)})
    return MappingReport(bad.label, "", bad.target_group_arn, dry_run=dry_run).fail(
        "invalid configuration: " + "; ".join(bad.problems))
