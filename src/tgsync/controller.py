"""Controller: one sync cycle per mapping (resolve, observe, plan, apply, report).

Everything that talks to the world is injected: a provider for the target group, a
registry for the memory, a source per nameserver list, and a clock. Dry runs are
decided at the very last step, after every intended change has been logged.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from tgsync.config import Config, InvalidMapping, MappingConfig, Nameserver
from tgsync.errors import ProviderError
from tgsync.guard import Refusal, screen
from tgsync.model import TargetGroupFacts
from tgsync.plan import Action, Decision, Plan, Policy, apply_policy, plan
from tgsync.provider import Provider
from tgsync.registry import Recalled, TagRegistry
from tgsync.report import logger
from tgsync.source import Source

#: Stop starting new mappings when the Lambda has less time left than this.
DEADLINE_MARGIN_SECONDS = 10.0


@dataclass
class MappingReport:
    """What one cycle saw and did for one mapping."""

    label: str
    hostname: str
    target_group_arn: str
    port: int | None = None
    ok: bool = True
    error: str | None = None
    resolved: bool = False
    observed: bool = False
    wanted: list[str] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    registered: int = 0
    healthy: int = 0
    registered_ips: list[str] = field(default_factory=list)
    deregistered_ips: list[str] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    dns_queries: int = 0
    dry_run: bool = False

    @property
    def target_group_name(self) -> str:
        """The target group's name, from its ARN."""
        part = self.target_group_arn.split(":targetgroup/", 1)
        return part[1].split("/", 1)[0] if len(part) == 2 else self.target_group_arn

    def fail(self, error: str) -> MappingReport:
        """Mark the mapping failed with ``error`` and return it."""
        self.ok = False
        self.error = error
        return self

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary."""
        return {
            "mapping": self.label,
            "target_group_arn": self.target_group_arn,
            "port": self.port,
            "ok": self.ok,
            "error": self.error,
            "resolved": self.resolved,
            "wanted": self.wanted,
            "refused": [{"answer": r.answer, "reason": r.reason} for r in self.refused],
            "registered_targets": self.registered,
            "healthy_targets": self.healthy,
            "registered": self.registered_ips,
            "deregistered": self.deregistered_ips,
            "dns_queries": self.dns_queries,
            "dry_run": self.dry_run,
        }


@dataclass
class CycleReport:
    """All mappings of one cycle."""

    mappings: list[MappingReport]
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        """True when every mapping synced."""
        return all(m.ok for m in self.mappings)

    @property
    def failed(self) -> list[MappingReport]:
        """The mappings that failed."""
        return [m for m in self.mappings if not m.ok]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary: what the Lambda handler returns."""
        return {
            "ok": self.ok,
            "dry_run": self.dry_run,
            "failed": len(self.failed),
            "registered": sum(len(m.registered_ips) for m in self.mappings),
            "deregistered": sum(len(m.deregistered_ips) for m in self.mappings),
            "mappings": [m.to_dict() for m in self.mappings],
        }


class Controller:
    """Runs sync cycles. Keep one per process: its adapters cache per cold start."""

    def __init__(
        self,
        provider: Provider,
        source_for: Callable[[tuple[Nameserver, ...]], Source],
        *,
        registry: TagRegistry | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.provider = provider
        self.registry = registry or TagRegistry(provider)
        self._source_for = source_for
        self._clock = clock
        self._alb_checked: set[str] = set()
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ one mapping

    def sync_mapping(self, mapping: MappingConfig, *, dry_run: bool = False) -> MappingReport:
        """One cycle for one mapping; never raises for DNS or AWS faults."""
        report = MappingReport(mapping.label, mapping.hostname, mapping.target_group_arn,
                               port=mapping.port, dry_run=dry_run)
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
        wanted, failure = self._desired(mapping, facts, report)

        # 2. actual state
        targets = self.provider.targets(arn)
        report.observed = True
        ours = [t for t in targets if t.port == port]
        report.registered = len(ours)
        report.healthy = sum(1 for t in ours if t.state == "healthy")

        # 3. memory, only where it can matter
        remember = wanted is not None and mapping.policy is Policy.SYNC
        recalled = Recalled({})
        if wanted is not None and remember:
            missing = any(t.ip not in wanted for t in ours)
            recalled = self.registry.recall(arn, port, something_missing=missing)
            for key in recalled.unreadable:
                logger.warning("unreadable tag left alone", extra={"mapping": report.label,
                                                                   "tag": key})

        # 4. plan
        result = apply_policy(
            plan(wanted=wanted, targets=targets, port=port, memory=recalled.memory,
                 now=self._clock(), stale_after=mapping.stale_after),
            mapping.policy,
        )
        report.decisions = list(result.decisions)
        self._log_plan(report, result, dry_run)

        # 5. act
        if not dry_run:
            self._apply(arn, port, result, report)
            if remember:
                try:
                    self.registry.save(arn, port, recalled.memory, result.memory)
                except ProviderError:
                    self.registry.forget(arn)
                    raise
        if failure:
            logger.error("DNS resolution failed: nothing changed",
                         extra={"mapping": report.label, "error": failure})
            report.fail(f"DNS resolution failed, nothing changed: {failure}")
        return report

    def _desired(self, mapping: MappingConfig, facts: TargetGroupFacts, report: MappingReport
                 ) -> tuple[frozenset[str] | None, str | None]:
        """Resolve and screen: (allowed IPs, None), or (None, why resolution failed)."""
        resolution = self._source_for(mapping.dns_servers).resolve(
            mapping.hostname, facts.record_type, mapping.lookups)
        report.dns_queries = resolution.queries
        allowed, refused = screen(resolution.answers, mapping.allowed_cidrs)
        report.refused = list(refused)
        for refusal in refused:
            logger.warning("REFUSED", extra={"mapping": report.label, "answer": refusal.answer,
                                             "reason": refusal.reason})
        failure = resolution.error
        if failure is None and not allowed:
            failure = (f"no usable {facts.record_type} answer for {mapping.hostname}"
                       + (": every answer was refused" if refused else ""))
        report.resolved = failure is None
        report.wanted = sorted(allowed) if failure is None else []
        return (None, failure) if failure else (allowed, None)

    def _apply(self, arn: str, port: int, result: Plan, report: MappingReport) -> None:
        register = [d.ip for d in result.register]
        deregister = [d.ip for d in result.deregister]
        if register:
            self.provider.register(arn, register, port)
            report.registered_ips = register
        if deregister:
            self.provider.deregister(arn, deregister, port)
            report.deregistered_ips = deregister

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
        names = {arn.split("/")[-2] for arn in attached if arn.count("/") >= 2}
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
    ) -> CycleReport:
        """One cycle over every mapping, ``config.concurrency`` at a time.

        ``time_left`` (seconds) lets the Lambda handler skip mappings it could not
        finish before the function times out; they are reported as failed.
        """
        dry = config.dry_run if dry_run is None else dry_run

        def one(mapping: MappingConfig) -> MappingReport:
            if time_left is not None and time_left() < DEADLINE_MARGIN_SECONDS:
                report = MappingReport(mapping.label, mapping.hostname,
                                       mapping.target_group_arn, mapping.port, dry_run=dry)
                return report.fail("skipped: the function was about to time out; raise its "
                                   "timeout or TGSYNC_CONCURRENCY")
            return self.sync_mapping(mapping, dry_run=dry)

        mappings: Sequence[MappingConfig] = config.mappings
        if len(mappings) > 1:  # a cold start with many groups: batch the one-off reads
            arns = [m.target_group_arn for m in mappings]
            self.provider.prefetch(arns)
            self.registry.prefetch([m.target_group_arn for m in mappings
                                    if m.policy is Policy.SYNC])
        if len(mappings) <= 1 or config.concurrency <= 1:
            reports = [one(m) for m in mappings]
        else:
            with ThreadPoolExecutor(max_workers=min(config.concurrency, len(mappings))) as pool:
                reports = list(pool.map(one, mappings))
        reports.extend(_invalid_report(bad, dry) for bad in config.invalid)
        cycle = CycleReport(reports, dry_run=dry)
        for report in reports:
            logger.info("mapping summary", extra=report.to_dict())
        return cycle


def _invalid_report(bad: InvalidMapping, dry_run: bool) -> MappingReport:
    logger.error("invalid mapping skipped", extra={"mapping": bad.label,
                                                   "problems": list(bad.problems)})
    return MappingReport(bad.label, "", "", dry_run=dry_run).fail(
        "invalid configuration: " + "; ".join(bad.problems))
