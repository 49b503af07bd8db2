"""Reporting: structured JSON logs and CloudWatch metrics in Embedded Metric Format.

Both follow Powertools for AWS Lambda: one JSON object per log line, metrics as EMF
blobs in the same stream, so no ``logs`` or ``monitoring`` endpoint is needed.
Namespace ``tgsync`` unless ``POWERTOOLS_METRICS_NAMESPACE`` says otherwise; log
level from ``POWERTOOLS_LOG_LEVEL`` (default INFO). The CLI logs as text for a person
unless told ``--log-format json`` (:func:`tgsync.rendering.log_to`); the lines a person
reads, logged or printed, come from :mod:`tgsync.rendering`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

from tgsync.arn import target_group_name
from tgsync.guard import Refusal
from tgsync.plan import Decision

SERVICE = "tgsync"
NAMESPACE = "tgsync"

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", SERVICE))


@dataclass(frozen=True)
class MappingReport:
    """What one cycle saw and did for one mapping (built by the cycle from what its
    stages returned; a value, never changed once made)."""

    label: str
    hostname: str
    target_group_arn: str
    port: int | None = None
    ok: bool = True
    error: str | None = None
    resolved: bool = False
    #: A lookup was made and failed (a failure of anything else leaves this False).
    lookup_failed: bool = False
    #: Why the lookup failed (``None``: it did not).
    lookup_error: str | None = None
    observed: bool = False
    wanted: list[str] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    registered: int = 0
    healthy: int = 0
    registered_ips: list[str] = field(default_factory=list)
    deregistered_ips: list[str] = field(default_factory=list)
    #: Targets on the port left alone as someone else's (``retire=owned``).
    foreign: list[str] = field(default_factory=list)
    #: Ownership records whose MAC did not verify (a record key is set): not trusted.
    unverified: list[str] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    dns_queries: int = 0
    dry_run: bool = False
    #: Where each setting came from (discovered mappings): (setting, origin) pairs.
    origins: list[tuple[str, str]] = field(default_factory=list)
    #: Settled and DNS unchanged: the group was not read this cycle (see tgsync.resync).
    read_skipped: bool = False
    #: Not reached in this invocation, in time: the next one carries on.
    deferred: bool = False
    #: An AWS call of this cycle failed (denied, throttled, unreachable, out of time).
    aws_failed: bool = False
    #: The mapping's key in the per-process records, when its port is known.
    mapping_key: str | None = None

    @property
    def target_group_name(self) -> str:
        """The target group's name, from its ARN."""
        return target_group_name(self.target_group_arn)

    @property
    def key(self) -> tuple[str, str, int | None]:
        """What identifies the mapping across the cycles of one invocation."""
        return (self.label, self.target_group_arn, self.port)

    def then(self, later: MappingReport) -> MappingReport:
        """``later`` (the same mapping, a later cycle), with this cycle's changes too."""
        return replace(
            later,
            registered_ips=[*self.registered_ips, *later.registered_ips],
            deregistered_ips=[*self.deregistered_ips, *later.deregistered_ips],
        )

    def fail(self, error: str) -> MappingReport:
        """This report, failed with ``error``."""
        return replace(self, ok=False, error=error)

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
            "foreign": self.foreign,
            "unverified_records": self.unverified,
            "dns_queries": self.dns_queries,
            "dry_run": self.dry_run,
            "read": "deferred"
            if self.deferred
            else (
                "skipped: settled" if self.read_skipped else "read" if self.observed else "not read"
            ),
        }


@dataclass
class DiscoveryReport:
    """What the last discovery read found: groups adopted (and newly), let go, refused."""

    read: int = 0
    adopted: list[str] = field(default_factory=list)
    new: list[str] = field(default_factory=list)
    let_go: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    others: int = 0  # groups with tgsync:hostname that belong to another owner

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary, with group names."""
        return {
            "groups_read": self.read,
            "adopted": [target_group_name(a) for a in self.adopted],
            "newly_adopted": [target_group_name(a) for a in self.new],
            "let_go": [target_group_name(a) for a in self.let_go],
            "refused": self.refused,
            "other_owners": self.others,
        }


@dataclass(frozen=True)
class Published:
    """A cycle's change events (see :mod:`tgsync.changes`): how many were sent, and how
    many could not be (each failure logged)."""

    sent: int = 0
    failed: int = 0

    def __add__(self, other: Published) -> Published:
        return Published(self.sent + other.sent, self.failed + other.failed)


@dataclass
class CycleReport:
    """All mappings of one cycle, the discovery read it used (if any), and its change
    events (``None``: no event bus)."""

    mappings: list[MappingReport]
    dry_run: bool = False
    discovery: DiscoveryReport | None = None
    published: Published | None = None

    @property
    def ok(self) -> bool:
        """True when every mapping synced."""
        return all(m.ok for m in self.mappings)

    @property
    def failed(self) -> list[MappingReport]:
        """The mappings that failed."""
        return [m for m in self.mappings if not m.ok]

    def failure_summary(self, limit: int = 300, *, causes: bool = True) -> str:
        """One line naming each failed mapping and its cause, shortened: what the
        Lambda invocation's error and the CLI's last line say. Without ``causes``, the
        names only (the causes were just printed above it)."""
        if not causes:
            return (
                f"{len(self.failed)} of {len(self.mappings)} mapping(s) failed (see "
                f"above): " + "; ".join(report.label for report in self.failed)
            )
        found = []
        for report in self.failed:
            cause = (report.error or "failed").replace(f" for {report.target_group_arn}", "")
            if report.target_group_arn:
                cause = cause.replace(report.target_group_arn, report.target_group_name)
            if len(cause) > limit:
                cause = cause[: limit - 1].rstrip() + "…"
            found.append(f"{report.label}: {cause}")
        return f"{len(self.failed)} of {len(self.mappings)} mapping(s) failed: " + "; ".join(found)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary: what the Lambda handler returns."""
        return {
            "ok": self.ok,
            "dry_run": self.dry_run,
            "failed": len(self.failed),
            "registered": sum(len(m.registered_ips) for m in self.mappings),
            "deregistered": sum(len(m.deregistered_ips) for m in self.mappings),
            "mappings": [m.to_dict() for m in self.mappings],
            **({"discovery": self.discovery.to_dict()} if self.discovery else {}),
            **(
                {"change_events": {"sent": self.published.sent, "failed": self.published.failed}}
                if self.published is not None
                else {}
            ),
        }


@dataclass
class InvocationReport:
    """One invocation: its first cycle (every mapping), the follow-up cycles (the
    mappings that moved), why following stopped, and the mappings an event announced."""

    cycles: list[CycleReport]
    stopped: str
    announced: list[str] = field(default_factory=list)

    @property
    def final(self) -> CycleReport:
        """Every mapping as its last cycle left it, with the changes of all cycles."""
        first = self.cycles[0]
        latest = {m.key: m for m in first.mappings}
        for cycle in self.cycles[1:]:
            for report in cycle.mappings:
                before = latest.get(report.key)
                latest[report.key] = before.then(report) if before else report
        sent = [c.published for c in self.cycles if c.published is not None]
        return replace(
            first,
            mappings=list(latest.values()),
            published=sum(sent, Published()) if sent else None,
        )

    @property
    def ok(self) -> bool:
        """True when every mapping's last cycle synced."""
        return self.final.ok

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary: the final cycle's, with how following went."""
        return {
            **self.final.to_dict(),
            "follow": {
                "cycles": len(self.cycles) - 1,
                "stopped": self.stopped,
                "announced": self.announced,
                "followed": [[m.label for m in c.mappings] for c in self.cycles[1:]],
            },
        }


def _namespace() -> str:
    return os.environ.get("POWERTOOLS_METRICS_NAMESPACE", NAMESPACE)


def _emit(dimensions: dict[str, str], values: Iterable[tuple[str, float]]) -> None:
    metrics = EphemeralMetrics(namespace=_namespace(), service=SERVICE)
    for dimension, label in dimensions.items():
        metrics.add_dimension(name=dimension, value=label)
    for name, value in values:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    metrics.flush_metrics()


def mapping_metrics(report: MappingReport) -> list[tuple[str, float]]:
    """The per-target-group figures of one cycle; target counts only after a fresh
    read (a settled group that was not read says nothing about its health)."""
    observed = [
        ("Registered", report.registered),
        ("HealthyTargets", report.healthy),
        ("ForeignTargets", len(report.foreign)),
        ("UnverifiedRecords", len(report.unverified)),
    ]
    return [
        ("Wanted", len(report.wanted)),
        *(observed if report.observed else []),
        ("GroupsRead", 1 if report.observed else 0),
        ("Registrations", len(report.registered_ips)),
        ("Deregistrations", len(report.deregistered_ips)),
        ("RefusedAnswers", len(report.refused)),
        ("ResolutionFailures", 1 if report.lookup_failed else 0),
        ("MappingFailures", 0 if report.ok else 1),
    ]


def emit_metrics(cycle: CycleReport) -> None:
    """One EMF blob per target group, and one of totals for service-wide alarms.

    ``ResolutionFailures`` counts lookups that failed, nothing else; every other
    failure (a missing group, a denied call, an invalid entry) is a ``MappingFailures``.

    ``MinHealthyTargets`` is the smallest healthy count of any target group whose state
    was read this cycle: an alarm on it fires when any group is left without a
    healthy target. With an event bus, ``ChangeEvents`` and ``ChangeEventsFailed``
    count the cycle's change events put and not put.
    """
    totals: dict[str, float] = {}
    for report in cycle.mappings:
        values = mapping_metrics(report)
        if report.target_group_name:  # an invalid entry has no group: totals only
            _emit({"TargetGroup": report.target_group_name}, values)
        for name, value in values:
            totals[name] = totals.get(name, 0) + value
    observed = [r.healthy for r in cycle.mappings if r.observed]
    values = sorted(totals.items())
    if observed:
        values.append(("MinHealthyTargets", min(observed)))
    values.append(("Mappings", len(cycle.mappings)))
    if cycle.discovery is not None:
        values += [
            ("DiscoveredGroups", len(cycle.discovery.adopted)),
            ("AdoptedGroups", len(cycle.discovery.new)),
            ("LetGoGroups", len(cycle.discovery.let_go)),
            ("RefusedGroups", len(cycle.discovery.refused)),
        ]
    if cycle.published is not None:
        values += [
            ("ChangeEvents", cycle.published.sent),
            ("ChangeEventsFailed", cycle.published.failed),
        ]
    _emit({}, values)
