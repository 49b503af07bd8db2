"""Reporting: structured JSON logs and CloudWatch metrics in Embedded Metric Format.

Both follow Powertools for AWS Lambda: one JSON object per log line, metrics as EMF
blobs in the same stream, so no ``logs`` or ``monitoring`` endpoint is needed.
Namespace ``tgsync`` unless ``POWERTOOLS_METRICS_NAMESPACE`` says otherwise; log
level from ``POWERTOOLS_LOG_LEVEL`` (default INFO).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import IO, TYPE_CHECKING

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

if TYPE_CHECKING:
    from tgsync.controller import CycleReport, MappingReport

SERVICE = "tgsync"
NAMESPACE = "tgsync"

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", SERVICE))


def log_to(stream: IO[str]) -> None:
    """Send log lines to ``stream`` (the CLI keeps stdout for its own output)."""
    handler = logger.registered_handler
    if hasattr(handler, "setStream"):
        handler.setStream(stream)


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
    """The per-target-group figures of one cycle."""
    return [
        ("Wanted", len(report.wanted)),
        ("Registered", report.registered),
        ("HealthyTargets", report.healthy),
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
    healthy target.
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
    _emit({}, values)
