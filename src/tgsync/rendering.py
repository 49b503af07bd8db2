"""What a person reads: the lines of actions and reports, logged or printed, and the log
formatter that writes log records as such lines (the CLI's ``--log-format text``).

The structured reports themselves live in :mod:`tgsync.report`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import IO, Any, Literal

from tgsync.arn import target_group_name
from tgsync.plan import Action
from tgsync.report import MappingReport, logger

#: The log messages of actions on one target.
ACTIONS = ("REGISTER", "DEREGISTER", "WAIT")
#: Log messages whose content the CLI's report prints anyway (a mapping's error, its
#: summary): in text, each is said once, there.
REPORTED = frozenset(
    {
        "mapping failed",
        "DNS resolution failed: nothing changed",
        "RegisterTargets refused an IP",
        "mappings clash: none of them is synced",
        "invalid mapping skipped",
        "mapping summary",
    }
)
#: Log messages ``plan``'s table shows row by row.
PLANNED = frozenset({*ACTIONS, "FOREIGN", "REFUSED"})
#: What a JSON log line holds besides what its log call gave (Powertools' keys), and the
#: fields a line in words says otherwise.
_NOT_DETAILS = frozenset(
    {
        "level",
        "location",
        "timestamp",
        "service",
        "cold_start",
        "function_name",
        "function_memory_size",
        "function_arn",
        "function_request_id",
        "xray_trace_id",
        "sampling_rate",
        "message",
        "mapping",
        "target_group",
    }
)


def render_action(action: str, ip: object, port: object, group: str, reason: object) -> str:
    """One action on a target, naming its group: ``REGISTER   10.0.1.5:443 in opensearch:
    in DNS, not registered`` (``from`` for a DEREGISTER)."""
    where = "from" if action == "DEREGISTER" else "in"
    return f"{action:<10} {ip}:{port} {where} {group}: {reason}"


def group_of(record: Mapping[str, Any]) -> str:
    """The target group a log record is about, by name: from its ``target_group`` ARN,
    else from its mapping's label (``hostname -> group``); empty if neither."""
    if record.get("target_group"):
        return target_group_name(str(record["target_group"]))
    return str(record.get("mapping", "")).rpartition(" -> ")[2]


def render_record(record: Mapping[str, Any]) -> str:
    """A log record (a JSON log line's fields) as one line for a person: an action or a
    refused answer names its target group; anything else says its message, its group
    and its other fields."""
    message, group = str(record.get("message", "")), group_of(record)
    if message in ACTIONS:
        return render_action(
            message, record.get("ip"), record.get("port"), group, record.get("reason", "")
        )
    if message == "REFUSED":
        return f"{message:<10} {record.get('answer')} for {group}: {record.get('reason')}"
    if message == "FOREIGN":
        ips = ", ".join(map(str, record.get("ips", ())))
        return f"{message:<10} {ips} in {group}: {record.get('reason')}"
    rest = {k: v for k, v in record.items() if k not in _NOT_DETAILS}
    details = ", ".join(f"{k}={v}" for k, v in rest.items())
    return (
        message
        + (f" ({record.get('mapping')})" if group else "")
        + (f": {details}" if details else "")
    )


def render_line(report: MappingReport, stamp: str) -> str:
    """One mapping's outcome as one line: what ``sync`` and ``watch`` print."""
    if not report.ok:
        return f"{stamp} {report.label}: FAILED: {report.error}"
    if report.deferred:
        return f"{stamp} {report.label}: deferred to the next cycle (no time left)"
    if report.read_skipped:
        return (
            f"{stamp} {report.label}: unchanged, {len(report.wanted)} in DNS as at the "
            "last read (settled: not read this cycle)"
        )
    if report.dry_run:
        added = sum(1 for d in report.decisions if d.action is Action.REGISTER)
        retired = sum(1 for d in report.decisions if d.action is Action.DEREGISTER)
        done = f"would register {added}, would deregister {retired}"
    else:
        done = (
            f"registered {len(report.registered_ips)}, deregistered {len(report.deregistered_ips)}"
        )
    foreign = f", {len(report.foreign)} foreign (left alone)" if report.foreign else ""
    return (
        f"{stamp} {report.label}: {done}, {report.registered} target(s), "
        f"{report.healthy} healthy{foreign}"
    )


def render_table(report: MappingReport) -> str:
    """The plan of one mapping as a fixed-width table: what ``plan`` prints. A mapping
    that failed before it had anything to plan is its name and its error alone."""
    lines = [report.label + (f" (port {report.port})" if report.port else "")]
    if report.origins:
        lines.append(
            "  settings: "
            + ", ".join(f"{setting} from {origin}" for setting, origin in report.origins)
        )
    if report.error:
        lines.append(f"  {'FAILED' if not report.resolved else 'ERROR'}: {report.error}")
        if not report.decisions and not report.wanted:
            return "\n".join(lines)
    lines.append(f"  wanted (DNS): {', '.join(report.wanted) or '-'}")
    for refusal in report.refused:
        lines.append(f"  refused: {refusal.answer} ({refusal.reason})")
    rows = [("IP", "IN DNS", "STATE", "ACTION", "REASON")]
    rows += [
        (d.ip, "yes" if d.in_dns else "no", d.state or "-", d.action.value, d.reason)
        for d in report.decisions
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for row in rows:
        cells = [row[i].ljust(widths[i]) for i in range(4)]
        lines.append("  " + "  ".join([*cells, row[4]]).rstrip())
    if not report.decisions:
        lines.append("  (no targets, nothing to do)")
    if report.foreign:
        lines.append(
            f"  foreign (not registered by this mapping, left alone): {', '.join(report.foreign)}"
        )
    if report.unverified:
        lines.append(
            f"  not trusted (no valid MAC of the record key): {', '.join(report.unverified)}"
        )
    return "\n".join(lines)


LogFormat = Literal["text", "json"]
#: What a LogRecord holds of its own: the rest are the fields a log call gave.
_RECORD_ATTRIBUTES = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
}


class TextFormatter(logging.Formatter):
    """A log record as a line for a person (:func:`render_record`); a warning or an
    error says so (``tgsync: warning: ...``)."""

    def format(self, record: logging.LogRecord) -> str:
        fields = {
            k: v
            for k, v in record.__dict__.items()
            if k not in _RECORD_ATTRIBUTES and not k.startswith("_")
        }
        line = render_record({"message": record.getMessage(), **fields})
        warns = record.levelno >= logging.WARNING
        text = f"tgsync: {record.levelname.lower()}: {line}" if warns else line
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


class _Leave(logging.Filter):
    """Leaves out the records whose message is one of ``messages``."""

    def __init__(self, messages: frozenset[str]) -> None:
        super().__init__()
        self.messages = messages

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() not in self.messages


def log_to(
    stream: IO[str], log_format: LogFormat = "json", leave_out: frozenset[str] = frozenset()
) -> None:
    """Send log lines to ``stream`` (the CLI keeps stdout for its own output): JSON
    lines, as in Lambda, or ``text`` for a person, without the messages in ``leave_out``
    (what the CLI's own output says already)."""
    handler = logger.registered_handler
    if hasattr(handler, "setStream"):
        handler.setStream(stream)
    if log_format == "text":
        handler.setFormatter(TextFormatter())
        handler.addFilter(_Leave(leave_out))
