"""Change events: an EventBridge event for every change a cycle made or saw.

With ``TGSYNC_EVENT_BUS`` set, every registration and retirement, every refusal (a DNS
answer the allowed ranges refused, an IP ``RegisterTargets`` refused) and every foreign
target (``retire=owned``) is put on that bus as an event: ``source`` ``tgsync``,
``detail-type`` ``tgsync Target Change``, the target group's ARN in ``resources``, and a
``detail`` of :meth:`Change.detail`. A dry run's events say ``"dry_run": true``: what it
would register and retire. Refusals and foreign targets last from cycle to cycle, so
each is put once, when a cycle first sees it in this process (again if it left and came
back, and after a cold start); registrations and retirements each time they happen.

Building the events is pure (:func:`changes_of`, :func:`sightings`, :func:`entry`,
:func:`batches`). :class:`Publisher` sends them through the one AWS call path (paced in a
bucket of their own, retried within the invocation's deadline), at most
:data:`MAX_ENTRIES` and :data:`MAX_REQUEST_BYTES` a request. It never fails a sync: a put
that fails is logged and counted (:class:`~tgsync.report.Published`, the
``ChangeEventsFailed`` metric), and the cycle's outcome is what it was.

An event is data for others to read: tgsync never reads one back.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tgsync.aws import Aws
from tgsync.aws_service import Service
from tgsync.config import EVENT_BUS
from tgsync.deadline import NONE, Deadline
from tgsync.errors import AwsError
from tgsync.model import EventBus
from tgsync.plan import Action
from tgsync.process_state import ProcessState
from tgsync.report import CycleReport, MappingReport, Published, logger

SOURCE = "tgsync"
DETAIL_TYPE = "tgsync Target Change"
#: What ``PutEvents`` takes in one request (EventBridge API Reference, PutEvents; the
#: size as "Calculating PutEvents event entry size" in the EventBridge User Guide counts
#: it: Source, DetailType, Detail and Resources in UTF-8, 14 bytes for a Time).
MAX_ENTRIES = 10
MAX_REQUEST_BYTES = 256 * 1024
#: A reason is cut to this many characters: no event comes near the request's limit.
MAX_REASON = 1000
#: Entry error codes worth one more try (PutEventsResultEntry: "Retryable errors").
RETRIED_ENTRY_CODES = frozenset({"InternalFailure", "ThrottlingException"})
#: The one call tgsync makes to EventBridge: the role allows exactly this, on one bus.
OPERATIONS = ("PutEvents",)
EVENTBRIDGE = Service(
    "events",
    "events",
    "EventBridge",
    OPERATIONS,
    not_found=frozenset({"ResourceNotFoundException"}),
    not_found_hint=f"create it, or set {EVENT_BUS} to a bus that exists",
)

#: The actions of the events: the words of tgsync's log lines.
REGISTER, DEREGISTER, REFUSED, FOREIGN = "REGISTER", "DEREGISTER", "REFUSED", "FOREIGN"


@dataclass(frozen=True, slots=True)
class Change:
    """One event's content: what happened to which target of which mapping, and why."""

    action: str
    ip: str
    port: int | None
    reason: str
    report: MappingReport

    def detail(self) -> dict[str, Any]:
        """The event's ``detail`` (its schema: docs/change-events.md)."""
        report = self.report
        return {
            "action": self.action,
            "ip": self.ip,
            "port": self.port,
            "target_group_arn": report.target_group_arn,
            "target_group": report.target_group_name,
            "hostname": report.hostname,
            "mapping": report.label,
            "reason": self.reason[:MAX_REASON],
            "dry_run": report.dry_run,
        }


def changes_of(report: MappingReport) -> list[Change]:
    """The registrations and retirements of a mapping's cycle: those it made, or in a
    dry run those it would make, each with its decision's reason."""
    decisions = {(d.action, d.ip): d for d in report.decisions}
    if report.dry_run:
        done = [
            (d.action, d.ip)
            for d in report.decisions
            if d.action in (Action.REGISTER, Action.DEREGISTER)
        ]
    else:
        done = [
            *((Action.REGISTER, ip) for ip in report.registered_ips),
            *((Action.DEREGISTER, ip) for ip in report.deregistered_ips),
        ]
    found = []
    for action, ip in done:
        decision = decisions.get((action, ip))
        found.append(
            Change(
                action.value,
                ip,
                decision.port if decision else report.port,
                decision.reason if decision else "",
                report,
            )
        )
    return found


def sightings(report: MappingReport) -> dict[str, list[Change]]:
    """What lasts from cycle to cycle, by kind, for each kind this cycle looked at (a
    kind it did not look at is absent): the answers the allowed ranges refused, the IPs
    ``RegisterTargets`` refused, the foreign targets."""
    found: dict[str, list[Change]] = {}
    if report.resolved or report.refused:
        found["refused answers"] = [
            Change(
                REFUSED, refusal.answer, report.port, f"refused answer: {refusal.reason}", report
            )
            for refusal in report.refused
        ]
    if report.observed and not report.dry_run:
        done = set(report.registered_ips)
        found["refused registrations"] = [
            Change(REFUSED, d.ip, d.port, elb_refusal(report.error or "", d.ip), report)
            for d in report.decisions
            if d.action is Action.REGISTER and d.ip not in done
        ]
    if report.observed:
        found["foreign targets"] = [
            Change(FOREIGN, ip, report.port, "not registered by this mapping: left alone", report)
            for ip in report.foreign
        ]
    return found


def elb_refusal(error: str, ip: str) -> str:
    """Why ``RegisterTargets`` refused ``ip``, in ELB's words from the mapping's error."""
    head = f"RegisterTargets refused {ip}: "
    start = error.find(head)
    if start < 0:
        return "RegisterTargets refused it"
    words = error[start + len(head) :].split("; ", 1)[0]
    return f"RegisterTargets refused it: {words}"


def entry(change: Change, bus: str) -> dict[str, Any]:
    """The ``PutEvents`` entry of ``change`` for ``bus`` (a name or an ARN)."""
    return {
        "Source": SOURCE,
        "DetailType": DETAIL_TYPE,
        "EventBusName": bus,
        "Resources": [change.report.target_group_arn],
        "Detail": json.dumps(change.detail(), sort_keys=True),
    }


def entry_size(item: Mapping[str, Any]) -> int:
    """An entry's size as EventBridge counts it against the request's limit."""
    parts = [
        item.get("Source", ""),
        item.get("DetailType", ""),
        item.get("Detail", ""),
        *item.get("Resources", ()),
    ]
    return 14 * ("Time" in item) + sum(len(str(part).encode()) for part in parts)


def batches(
    entries: Iterable[dict[str, Any]], *, limit: int = MAX_REQUEST_BYTES
) -> list[list[dict[str, Any]]]:
    """``entries`` in order, in requests of at most :data:`MAX_ENTRIES` and ``limit``
    bytes (an entry over the limit alone goes alone: EventBridge refuses it, and says
    so in its result)."""
    found: list[list[dict[str, Any]]] = []
    size = 0
    for item in entries:
        grows = entry_size(item)
        if not found or len(found[-1]) == MAX_ENTRIES or size + grows > limit:
            found.append([])
            size = 0
        found[-1].append(item)
        size += grows
    return found


class Publisher:
    """Puts each cycle's change events on the bus (see the module's docstring)."""

    def __init__(self, aws: Aws, bus: EventBus, state: ProcessState) -> None:
        self._aws = aws
        self.bus = bus
        self._state = state

    def __call__(self, cycle: CycleReport, deadline: Deadline = NONE) -> Published:
        """Put the events of ``cycle`` before ``deadline``; never raises."""
        changes: list[Change] = []
        try:
            changes = self.changes(cycle)
            return self._send([entry(c, self.bus.bus) for c in changes], deadline)
        except Exception as exc:  # a fault here must never fail the sync
            logger.exception(
                "change events not sent",
                extra={"event_bus": self.bus.bus, "error": f"{type(exc).__name__}: {exc}"},
            )
            return Published(0, max(len(changes), 1))

    def changes(self, cycle: CycleReport) -> list[Change]:
        """The cycle's changes, with refusals and foreign targets only where this
        process sees them first."""
        found = []
        for report in cycle.mappings:
            found += changes_of(report)
            mapping_key = report.mapping_key or f"{report.target_group_arn}:{report.port}"
            dry = " (dry run)" if report.dry_run else ""
            for kind, seen in sightings(report).items():
                new = self._state.first_seen(mapping_key, kind + dry, (c.ip for c in seen))
                found += [c for c in seen if c.ip in new]
        return found

    def _send(self, entries: Sequence[dict[str, Any]], deadline: Deadline) -> Published:
        """Every batch of ``entries``; one warning for all that failed."""
        published, errors = Published(), list[str]()
        for batch in batches(entries):
            done, why = self._put(batch, deadline)
            published += done
            errors += why
        if published.failed:
            logger.warning(
                "change events not sent",
                extra={
                    "event_bus": self.bus.bus,
                    "failed": published.failed,
                    "sent": published.sent,
                    "errors": sorted(set(errors))[:5],
                },
            )
        return published

    def _put(self, batch: list[dict[str, Any]], deadline: Deadline) -> tuple[Published, list[str]]:
        """One ``PutEvents`` of ``batch``, and one more of its entries that failed for
        a reason worth another try (throttling, EventBridge's own failure)."""
        sent, lost, pending, errors = 0, 0, batch, list[str]()
        for last in (False, True):
            try:
                answer = self._aws.call(
                    EVENTBRIDGE,
                    "PutEvents",
                    region=self.bus.region,
                    about=f"event bus {self.bus.name}",
                    deadline=deadline,
                    resource=self.bus.bus,
                    Entries=pending,
                )
            except AwsError as exc:
                return Published(sent, lost + len(pending)), [*errors, str(exc)]
            retry: list[dict[str, Any]] = []
            for item, result in zip(pending, answer.get("Entries", []), strict=False):
                code = result.get("ErrorCode")
                if not code:
                    sent += 1
                elif not last and code in RETRIED_ENTRY_CODES:
                    retry.append(item)
                else:
                    lost += 1
                    errors.append(f"{code}: {result.get('ErrorMessage', '')}")
            pending = retry
            if not pending:
                return Published(sent, lost), errors
        raise AssertionError("unreachable")  # pragma: no cover
