"""What invoked the function: the schedule, an OpenSearch event, a person. Pure.

The Lambda handler runs a cycle for the schedule (the stack's EventBridge Scheduler
input ``{"source": "tgsync.schedule"}``, or a classic EventBridge "Scheduled Event"),
for a direct invocation (``{}``, ``{"dry_run": true}``, ``{"check": true}``) and for
the Amazon OpenSearch Service events the stack subscribes to (parameter
``DomainArns``): the service's notifications (software update, Auto-Tune, cluster
status, domain update, node retirement) and the CloudTrail records of the API calls
that start a blue/green deployment. An OpenSearch event also *announces* the change to
the mappings whose hostname is that domain's endpoint, so they are followed for
``TGSYNC_FOLLOW_FOR`` seconds even before DNS moves (see :mod:`tgsync.follow`).

An event of a kind tgsync does not know is ignored with a log line: a stray event
must not raise the Errors alarm, nor change a target group. A direct invocation whose
``dry_run`` or ``check`` is not a boolean is refused (:func:`direct_options`), naming
the key: it must never be taken for a real sync. None of these events says which
IPs changed; they are triggers, the schedule stays the backstop.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tgsync.errors import EventError
from tgsync.settings import parse_bool

#: Sources of the schedule's own input (ours, and Scheduler's name for itself).
SCHEDULE_SOURCES = frozenset({"tgsync.schedule", "aws.scheduler"})
#: Keys a direct invocation may carry.
DIRECT_KEYS = frozenset({"dry_run", "check", "source"})
#: Event sources of Amazon OpenSearch Service (the second is the newer API's).
OPENSEARCH_SOURCES = frozenset({"aws.es", "aws.opensearchservice"})
#: The service's own notifications, new and legacy names (EventBridge events reference).
OPENSEARCH_NOTIFICATIONS = frozenset({
    "Amazon OpenSearch Service Software Update Notification",
    "Amazon OpenSearch Service Auto-Tune Notification",
    "Amazon OpenSearch Service Cluster Status Notification",
    "Amazon OpenSearch Service Domain Update Notification",
    "Amazon OpenSearch Service Notification",  # node retirement
    "Amazon ES Service Software Update Notification",
    "Amazon ES Auto-Tune Notification",
})
API_CALL = "AWS API Call via CloudTrail"
#: The configuration API calls that start a blue/green deployment.
OPENSEARCH_API_CALLS = frozenset({"UpdateDomainConfig", "UpgradeDomain",
                                  "StartServiceSoftwareUpdate"})

_DOMAIN_ARN = re.compile(r"^arn:[a-z-]+:es:([a-z0-9-]+):(\d{12}):domain/([a-z0-9-]+)$")
#: The account in a target group's ARN.
_ACCOUNT = re.compile(r"^arn:[a-z-]+:elasticloadbalancing:[a-z0-9-]+:(\d{12}):")
#: Characters of an event's description kept in a log line.
WHAT_LIMIT = 120


@dataclass(frozen=True, slots=True)
class Domain:
    """An OpenSearch domain an event is about."""

    region: str
    name: str
    #: The domain's account, when the event says it.
    account: str | None = None

    def serves(self, hostname: str, target_group_arn: str = "") -> bool:
        """True if ``hostname`` is this domain's endpoint (VPC or public), as OpenSearch
        names it: ``vpc-<name>-<id>.<region>.es.amazonaws.com``, and the domain is in the
        target group's account (a same-named domain of another account is not it)."""
        pattern = (rf"^(vpc|search)-{re.escape(self.name)}-[a-z0-9]+\."
                   rf"{re.escape(self.region)}\.es\.amazonaws\.com(\.cn)?$")
        if re.match(pattern, hostname.lower().rstrip(".")) is None:
            return False
        group_account = _ACCOUNT.match(target_group_arn)
        return (self.account is None or group_account is None
                or group_account.group(1) == self.account)


@dataclass(frozen=True, slots=True)
class Trigger:
    """Why the function runs. ``kind`` is ``schedule``, ``direct``, ``opensearch`` or
    ``ignored``; ``what`` names it for the log; ``domains`` are the domains an
    OpenSearch event is about."""

    kind: str
    what: str
    domains: tuple[Domain, ...] = ()

    @property
    def runs(self) -> bool:
        """True if the function should run a cycle."""
        return self.kind != "ignored"


def classify(event: Any) -> Trigger:
    """The trigger an invocation's event describes."""
    if not isinstance(event, Mapping):
        return Trigger("ignored", f"an event that is not a JSON object ({type(event).__name__})")
    source = event.get("source")
    if isinstance(source, str) and source in SCHEDULE_SOURCES:
        return Trigger("schedule", source)
    if "detail-type" in event and "source" in event:
        return _eventbridge(event)
    if source is None and set(event) <= DIRECT_KEYS:
        return Trigger("direct", "direct invocation")
    keys = ", ".join(sorted(map(str, event)))
    return Trigger("ignored", _short(f"an event tgsync does not know (keys: {keys})"))


def direct_options(event: Any) -> tuple[bool, bool]:
    """``(check, dry_run)`` an event asks for (both false when it names neither), whatever
    its source: a schedule-shaped payload with ``"dry_run": true`` must not sync for real.

    A value that is not a boolean is an :class:`~tgsync.errors.EventError` naming the
    key: ``{"dry_run": "maybe"}`` must never be taken as a real sync. An event may turn
    dry-run on, never off: ``False`` here means "not asked", and the function's own
    ``TGSYNC_DRY_RUN`` still holds.
    """
    if not isinstance(event, Mapping):  # any object's keys count, the schedule's too
        return False, False
    found = {}
    for name in ("check", "dry_run"):
        try:
            found[name] = parse_bool(event.get(name, False))
        except ValueError as exc:
            raise EventError(f"the event's {name!r} key: {exc} (e.g. "
                             f'{{"{name}": true}}); nothing was changed') from None
    return found["check"], found["dry_run"]


def _short(text: str) -> str:
    """``text`` cut to :data:`WHAT_LIMIT` characters: an event's fields are not ours to
    log whole (a 200 KB detail-type must not become a 200 KB log line)."""
    return text if len(text) <= WHAT_LIMIT else text[:WHAT_LIMIT - 1] + "…"


def _eventbridge(event: Mapping[str, Any]) -> Trigger:
    source, kind = event.get("source"), event.get("detail-type")
    if not isinstance(source, str) or not isinstance(kind, str):
        return Trigger("ignored", "an EventBridge-shaped event whose source or detail-type "
                                  "is not a string")
    account = event.get("account") if isinstance(event.get("account"), str) else None
    if source == "aws.events" and kind == "Scheduled Event":
        return Trigger("schedule", "EventBridge Scheduled Event")
    if source in OPENSEARCH_SOURCES and kind in OPENSEARCH_NOTIFICATIONS:
        arns = event.get("resources")
        domains = tuple(d for d in map(_domain, arns if isinstance(arns, list) else [])
                        if d is not None)
        return Trigger("opensearch", kind, domains)
    detail = event.get("detail")
    if source in OPENSEARCH_SOURCES and kind == API_CALL and isinstance(detail, Mapping):
        name = detail.get("eventName")
        if isinstance(name, str) and name in OPENSEARCH_API_CALLS:
            params = detail.get("requestParameters")
            domain = params.get("domainName") if isinstance(params, Mapping) else None
            region = detail.get("awsRegion") or event.get("region")
            caller = detail.get("recipientAccountId") or account
            domains = ((Domain(region, domain.lower(),
                               caller if isinstance(caller, str) else None),)
                       if isinstance(domain, str) and isinstance(region, str) else ())
            return Trigger("opensearch", f"{API_CALL}: {name}", domains)
        return Trigger("ignored", _short(f"{API_CALL}: {name} (not a call that moves nodes)"))
    return Trigger("ignored", _short(f"EventBridge event {kind!r} from {source!r} (not one "
                                     "tgsync acts on)"))


def _domain(arn: Any) -> Domain | None:
    match = _DOMAIN_ARN.match(arn) if isinstance(arn, str) else None
    return Domain(match.group(1), match.group(3), match.group(2)) if match else None
