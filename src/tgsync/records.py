"""What a cycle keeps beside its plan: the ownership records of ``retire=owned`` (see
:mod:`tgsync.ownership`), and how a failed call of a cycle is noted.

The write order is the safety argument: an IP is recorded as the mapping's before it is
registered (a record of an IP not registered is harmless and dropped next cycle), and
dropped only after it was deregistered; a record that cannot be written leaves its IPs
unprovable, so never retired until it can be.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence, Set
from dataclasses import replace

from tgsync.config import MappingConfig
from tgsync.errors import ProviderError
from tgsync.guard import screen
from tgsync.model import Target
from tgsync.ownership import Owned, owner_id
from tgsync.plan import Action, Plan
from tgsync.registry import OwnershipNotRecorded, TagRegistry
from tgsync.report import MappingReport
from tgsync.source import Source


def record_ownership(registry: TagRegistry, arn: str, port: int, owner: str, ips: Set[str], *,
            stored: Set[str], problems: list[str], report: MappingReport) -> bool:
    """Write the mapping's ownership records (``stored``: what they held); False, a
    problem noted, if that failed."""
    try:
        registry.save_owned(arn, port, owner, ips)
    except OwnershipNotRecorded as exc:
        note_failure(exc, problems, report)
        return False
    except ProviderError as exc:
        note_failure(exc, problems, report)
        new = ", ".join(sorted(set(ips) - set(stored)))
        if new and not exc.out_of_time:
            problems[-1] += (f"; tgsync could not record that it registered {new}: "
                             "they are not retired until it can")
        return False
    return True


def disown(registry: TagRegistry, arn: str, port: int, mapping: MappingConfig, *,
            problems: list[str], report: MappingReport) -> None:
    """``retire=all``: drop the records the mapping kept when it was ``owned``."""
    owner = owner_id(mapping.hostname)
    if registry.cached_owned(arn, port).mine(owner):
        record_ownership(registry, arn, port, owner, frozenset(), stored=frozenset(),
                         problems=problems, report=report)


def planned_on(wanted: frozenset[str], ours: Mapping[str, Target], mine: frozenset[str],
               owned: Owned | None, owner: str | None) -> frozenset[str] | None:
    """The IPs whose memory records a mapping's save replaces (``None``: every IP's, as
    with ``retire=all``): its answer, what it owns, and registered IPs no other mapping
    owns (records left by ``retire=all``); other mappings' records are kept."""
    if owner is None or owned is None:
        return None
    others = owned.others(owner)
    return wanted | mine | {ip for ip in ours if ip not in others}


def unchanged(result: Plan) -> Plan:
    """The plan with every change and wait turned into a KEEP, its memory kept."""
    return replace(result, decisions=tuple(
        replace(d, action=Action.KEEP, reason=f"{d.reason}; not done (see the error)")
        if d.action in (Action.REGISTER, Action.DEREGISTER, Action.WAIT) else d
        for d in result.decisions), retiring={})


def owner_of(mapping: MappingConfig) -> str | None:
    """The mapping's owner id when it retires only what it registered (else ``None``)."""
    return owner_id(mapping.hostname) if mapping.retire == "owned" else None


def note_failure(exc: ProviderError, problems: list[str], report: MappingReport) -> None:
    """A failed call of a cycle: a problem, or, cut short by the deadline, a deferral
    (whatever it left undone only delays a change; the next cycle carries on)."""
    report.aws_failed = True
    if exc.out_of_time:
        report.deferred = True
    else:
        problems.append(str(exc))


def shared_with_others(registry: TagRegistry, mapping: MappingConfig, port: int, *,
                       fresh: bool) -> str | None:
    """Why a ``retire=all`` mapping must not act: another owner's records on its port
    (another process's owned mapping; the clash rule sees only this process's).
    ``fresh``: read the tags afresh (before any retirement)."""
    records = registry.recall_owned(mapping.target_group_arn, port, fresh=fresh)
    sharers = sorted(set(records.by_owner) - {owner_id(mapping.hostname)})
    if not sharers:
        return None
    return (f"port {port} of {mapping.target_group_name} is shared: tgsync:owned records "
            f"of {', '.join(sharers)} are on it, and this mapping retires all (it would "
            "retire their targets), so nothing was changed: set retire=owned here too, "
            "or, if no mapping keeps those hostnames any more (an owner id is the first 8 "
            f"hex digits of a hostname's SHA-256), remove their tgsync:owned:{port}:* tags")


def held_by_sharers(sharers: Sequence[MappingConfig], mapping: MappingConfig,
                    record_type: str, leaving: set[str], *,
                    source: Callable[[MappingConfig], Source], time_left: float
                    ) -> dict[str, frozenset[str]]:
    """Those of ``leaving`` that another owned mapping sharing the group and port returns
    now (it may not have recorded them yet), with its owner id; all of them when a
    sharer's lookup fails (nothing is retired on a partial view)."""
    held: dict[str, set[str]] = {}
    for other in sharers:
        if other.hostname == mapping.hostname:
            continue
        found = source(other).resolve(other.hostname, record_type, other.lookups,
                                      time_left=time_left)
        answers = (leaving if found.error else
                   set(screen(found.answers, other.allowed_cidrs, other.narrowed_cidrs)[0]))
        for ip in leaving & answers:
            held.setdefault(ip, set()).add(owner_id(other.hostname))
    return {ip: frozenset(owners) for ip, owners in held.items()}
