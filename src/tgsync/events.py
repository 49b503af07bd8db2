"""What invoked the function: the schedule, an OpenSearch or RDS event, a person. Pure.

The Lambda handler runs a cycle for the schedule (the stack's EventBridge Scheduler
input ``{"source": "tgsync.schedule"}``, or a classic EventBridge "Scheduled Event"),
for a direct invocation (``{}``, ``{"dry_run": true}``, ``{"check": true}``) and for
the Amazon OpenSearch Service events the stack subscribes to (parameter
``DomainArns``): the service's notifications (software update, Auto-Tune, cluster
status, domain update, node retirement) and the CloudTrail records of the API calls
that start a blue/green deployment. An OpenSearch event also *announces* the change to
the mappings whose hostname is that domain's endpoint, so they are followed for
``TGSYNC_FOLLOW_FOR`` seconds even before DNS moves (see :mod:`tgsync.follow`).

Amazon RDS events (parameter ``EventSourceArns``: "RDS DB Cluster Event" and "RDS DB
Instance Event" in the categories of :data:`RDS_CATEGORIES`) do the same for the
mappings a cluster or instance serves (see :meth:`RdsSource.serves`). RDS delivers
them on a best-effort basis: the schedule stays the backstop. An instance event names
the instance only (its ``detail``: ``SourceIdentifier``, ``SourceArn``, ``SourceType``,
``EventCategories``, ``EventID``, ``Message``, ``Date``, ``Tags``; EventBridge events
reference, "Amazon RDS events"), not its cluster: which cluster it belongs to comes
from the last ``DescribeDBInstances`` read of a ``resolve=rds`` mapping's cluster
(:class:`~tgsync.source.rds_endpoint.Members`), never from a call made for the event.

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
from tgsync.parsers import parse_bool
from tgsync.source.rds_endpoint import Members, Role, parse_rds_endpoint

#: Sources of the schedule's own input (ours, and Scheduler's name for itself).
SCHEDULE_SOURCES = frozenset({"tgsync.schedule", "aws.scheduler"})
#: Keys a direct invocation may carry.
DIRECT_KEYS = frozenset({"dry_run", "check", "source"})
#: Event sources of Amazon OpenSearch Service (the second is the newer API's).
OPENSEARCH_SOURCES = frozenset({"aws.es", "aws.opensearchservice"})
#: The service's own notifications, new and legacy names (EventBridge events reference).
OPENSEARCH_NOTIFICATIONS = frozenset(
    {
        "Amazon OpenSearch Service Software Update Notification",
        "Amazon OpenSearch Service Auto-Tune Notification",
        "Amazon OpenSearch Service Cluster Status Notification",
        "Amazon OpenSearch Service Domain Update Notification",
        "Amazon OpenSearch Service Notification",  # node retirement
        "Amazon ES Service Software Update Notification",
        "Amazon ES Auto-Tune Notification",
    }
)
API_CALL = "AWS API Call via CloudTrail"
#: The configuration API calls that start a blue/green deployment.
OPENSEARCH_API_CALLS = frozenset(
    {"UpdateDomainConfig", "UpgradeDomain", "StartServiceSoftwareUpdate"}
)

#: Amazon RDS's event source and the detail-types of its cluster and instance events.
RDS_SOURCE = "aws.rds"
RDS_DETAIL_TYPES = {"RDS DB Cluster Event": "cluster", "RDS DB Instance Event": "instance"}
#: The event categories that can move a member or a role (RDS User Guide, "Amazon RDS
#: event categories and event messages"); others (backup, notification, low storage...)
#: move nothing tgsync follows, and the stack's rule does not route them.
RDS_CATEGORIES = frozenset(
    {"failover", "failure", "maintenance", "availability", "deletion", "configuration change"}
)

_RDS_ARN = re.compile(
    r"^arn:[a-z-]+:rds:([a-z0-9-]+):(\d{12}):(cluster|db):"
    r"([A-Za-z][A-Za-z0-9-]{0,62})$"
)
_RDS_KINDS = {"cluster": "cluster", "db": "instance"}
_DOMAIN_ARN = re.compile(r"^arn:[a-z-]+:es:([a-z0-9-]+):(\d{12}):domain/([a-z0-9-]+)$")
#: The account in an ARN (a target group's, or the role a cluster is read as).
_ACCOUNT = re.compile(r"^arn:[a-z-]+:[a-z0-9-]+:[a-z0-9-]*:(\d{12}):")
#: Characters of an event's description kept in a log line.
WHAT_LIMIT = 120


@dataclass(frozen=True, slots=True)
class Domain:
    """An OpenSearch domain an event is about."""

    region: str
    name: str
    #: The domain's account, when the event says it.
    account: str | None = None

    def serves(
        self, hostname: str, target_group_arn: str = "", members: Members | None = None
    ) -> bool:
        """True if ``hostname`` is this domain's endpoint (VPC or public), as OpenSearch
        names it: ``vpc-<name>-<id>.<region>.es.amazonaws.com``, and the domain is in the
        target group's account (a same-named domain of another account is not it).
        ``members`` is for RDS's events: a domain has none."""
        del members
        pattern = (
            rf"^(vpc|search)-{re.escape(self.name)}-[a-z0-9]+\."
            rf"{re.escape(self.region)}\.es\.amazonaws\.com(\.cn)?$"
        )
        if re.match(pattern, hostname.lower().rstrip(".")) is None:
            return False
        return _same_account(self.account, target_group_arn)


@dataclass(frozen=True, slots=True)
class RdsSource:
    """An RDS DB cluster or DB instance an event is about."""

    #: ``cluster`` or ``instance``.
    kind: str
    region: str
    identifier: str
    #: The resource's account, when the event says it.
    account: str | None = None

    @property
    def name(self) -> str:
        """``cluster:NAME`` or ``instance:NAME``, for the log."""
        return f"{self.kind}:{self.identifier}"

    def serves(
        self, hostname: str, target_group_arn: str = "", members: Members | None = None
    ) -> bool:
        """True if ``hostname`` is an RDS endpoint this event may move, in the same
        region and (when both say it) account as ``target_group_arn`` (the target
        group's, or for a cluster read as a role, the role's ARN).

        ``members`` is the cluster the hostname was last read to be and its instances
        (a ``resolve=rds`` mapping's last read; ``None``: not known). A cluster serves its
        writer and reader endpoints and its custom endpoints (any custom endpoint of the
        region while its cluster is not known: the name does not say it). An instance
        serves its own endpoint and the cluster endpoints of its own cluster: an instance
        event may be a member's failover, reboot or deletion, which moves its cluster's
        roles; while the membership is not known (a ``resolve=dns`` mapping, or one not
        read yet), every cluster endpoint of the region, as announcing costs a few
        cycles and missing a failover a minute. A cluster event does not serve instance
        endpoints: an instance endpoint names one instance, which a cluster's failover
        does not move (the instance's own events announce it).
        """
        endpoint = parse_rds_endpoint(hostname)
        if endpoint is None or endpoint.region != self.region:
            return False
        if not _same_account(self.account, target_group_arn):
            return False
        if endpoint.role is Role.INSTANCE:
            return self.kind == "instance" and endpoint.identifier == self.identifier
        if self.kind == "instance":
            return members is None or self.identifier in members.instances
        if endpoint.role is Role.CUSTOM:
            return members is None or members.cluster == self.identifier
        return endpoint.identifier == self.identifier


def _same_account(account: str | None, target_group_arn: str) -> bool:
    """False only when both the event and the target group say an account, and they
    differ (a same-named resource of another account is not ours)."""
    group_account = _ACCOUNT.match(target_group_arn)
    return account is None or group_account is None or group_account.group(1) == account


@dataclass(frozen=True, slots=True)
class Trigger:
    """Why the function runs. ``kind`` is ``schedule``, ``direct``, ``opensearch``,
    ``rds`` or ``ignored``; ``what`` names it for the log; ``domains`` are the domains
    an OpenSearch event is about, ``rds`` the clusters and instances an RDS event is
    about."""

    kind: str
    what: str
    domains: tuple[Domain, ...] = ()
    rds: tuple[RdsSource, ...] = ()

    @property
    def subjects(self) -> tuple[Domain | RdsSource, ...]:
        """What the event is about: each says which mappings it serves."""
        return (*self.domains, *self.rds)

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
            raise EventError(
                f'the event\'s {name!r} key: {exc} (e.g. {{"{name}": true}}); nothing was changed'
            ) from None
    return found["check"], found["dry_run"]


def _short(text: str) -> str:
    """``text`` cut to :data:`WHAT_LIMIT` characters: an event's fields are not ours to
    log whole (a 200 KB detail-type must not become a 200 KB log line)."""
    return text if len(text) <= WHAT_LIMIT else text[: WHAT_LIMIT - 1] + "…"


def _eventbridge(event: Mapping[str, Any]) -> Trigger:
    source, kind = event.get("source"), event.get("detail-type")
    if not isinstance(source, str) or not isinstance(kind, str):
        return Trigger(
            "ignored", "an EventBridge-shaped event whose source or detail-type is not a string"
        )
    account = event.get("account") if isinstance(event.get("account"), str) else None
    if source == "aws.events" and kind == "Scheduled Event":
        return Trigger("schedule", "EventBridge Scheduled Event")
    if source in OPENSEARCH_SOURCES and kind in OPENSEARCH_NOTIFICATIONS:
        arns = event.get("resources")
        domains = tuple(
            d for d in map(_domain, arns if isinstance(arns, list) else []) if d is not None
        )
        return Trigger("opensearch", kind, domains)
    detail = event.get("detail")
    if source == RDS_SOURCE and kind in RDS_DETAIL_TYPES:
        return _rds(event, kind, detail)
    if source in OPENSEARCH_SOURCES and kind == API_CALL and isinstance(detail, Mapping):
        return _opensearch_call(event, detail, account)
    return Trigger(
        "ignored", _short(f"EventBridge event {kind!r} from {source!r} (not one tgsync acts on)")
    )


def _domain(arn: Any) -> Domain | None:
    match = _DOMAIN_ARN.match(arn) if isinstance(arn, str) else None
    return Domain(match.group(1), match.group(3), match.group(2)) if match else None


def _opensearch_call(
    event: Mapping[str, Any], detail: Mapping[str, Any], account: str | None
) -> Trigger:
    """A CloudTrail record of an OpenSearch API call: runs when it starts a blue/green."""
    name = detail.get("eventName")
    if isinstance(name, str) and name in OPENSEARCH_API_CALLS:
        params = detail.get("requestParameters")
        domain = params.get("domainName") if isinstance(params, Mapping) else None
        region = detail.get("awsRegion") or event.get("region")
        caller = detail.get("recipientAccountId") or account
        domains = (
            (Domain(region, domain.lower(), caller if isinstance(caller, str) else None),)
            if isinstance(domain, str) and isinstance(region, str)
            else ()
        )
        return Trigger("opensearch", f"{API_CALL}: {name}", domains)
    return Trigger("ignored", _short(f"{API_CALL}: {name} (not a call that moves nodes)"))


def _rds(event: Mapping[str, Any], kind: str, detail: Any) -> Trigger:
    """An RDS cluster or instance event: runs and announces its source when one of its
    categories can move a member or a role; anything else is ignored."""
    if not isinstance(detail, Mapping):
        return Trigger("ignored", f"{kind} without a detail object")
    categories = detail.get("EventCategories")
    names = (
        [c.lower() for c in categories if isinstance(c, str)]
        if isinstance(categories, list)
        else []
    )
    event_id = detail.get("EventID")
    what = _short(
        f"{kind}: {event_id if isinstance(event_id, str) else '?'} "
        f"({', '.join(names) or 'no category'})"
    )
    if not RDS_CATEGORIES.intersection(names):
        return Trigger("ignored", _short(f"{what}, not a category that moves members"))
    arns = [detail.get("SourceArn")]
    resources = event.get("resources")
    arns += resources if isinstance(resources, list) else []
    expected = RDS_DETAIL_TYPES[kind]
    found = {s for s in map(_rds_source, arns) if s is not None and s.kind == expected}
    sources = tuple(sorted(found, key=lambda s: s.identifier))
    if not sources:  # an ARN we cannot read: run, announce nothing
        return Trigger("rds", what)
    return Trigger("rds", what, rds=sources)


def _rds_source(arn: Any) -> RdsSource | None:
    match = _RDS_ARN.match(arn) if isinstance(arn, str) else None
    if match is None:
        return None
    return RdsSource(
        _RDS_KINDS[match.group(3)], match.group(1), match.group(4).lower(), match.group(2)
    )
