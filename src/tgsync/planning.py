"""Planning with the group's records: what the pure planner (:mod:`tgsync.plan`) needs
from the target group's tags, read only when it matters, then the plan.

- The missing-since memory (:mod:`tgsync.registry`), read afresh when a plan waits on it.
- With ``retire=owned``, the ownership records (:mod:`tgsync.ownership`), read afresh
  before any retirement or change of records (another process may have written them),
  and the answers of the other owned mappings of this process on the group and port: an
  IP moving from one to another is never retired in between.
- With ``retire=all``, another owner's records on the port (another process's owned
  mapping, a renamed hostname's leftover, an unreadable tag) hold every *retirement*:
  this mapping would retire their targets. Registrations still happen, so a blue/green's
  new nodes are added; the hold is reported, naming the records and how to clear them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from tgsync.config import MappingConfig
from tgsync.guard import screen
from tgsync.model import Target
from tgsync.ownership import Owned, owner_id
from tgsync.plan import (
    Answers,
    MissingSince,
    Ownership,
    Plan,
    apply_policy,
    plan,
    wait_instead,
)
from tgsync.registry import TagRegistry
from tgsync.report import logger
from tgsync.round import Round
from tgsync.source import Source, source_of


@dataclass(frozen=True, slots=True)
class Planned:
    """A plan and what it was made from: the ownership records as read (owned mode),
    why retirements are held (``retire=all`` beside another owner's records), and the
    records whose MAC did not verify (a record key is set: not trusted, reported)."""

    plan: Plan
    owned: Owned | None = None
    held: str | None = None
    unverified: tuple[str, ...] = ()


class Planner:
    """Plans a round with the records it needs, read through ``registry``."""

    def __init__(self, registry: TagRegistry, source_for: Callable[..., Source]) -> None:
        self._registry = registry
        self._source_for = source_for

    def __call__(
        self, rnd: Round, targets: Sequence[Target], sharers: Sequence[MappingConfig] = ()
    ) -> Planned:
        """The round's plan. ``sharers``: the owned mappings of this process on the same
        group and port. Raises ``AwsError`` if the records cannot be read (or verified)."""
        if rnd.view.wanted is None:  # nothing changes: no record is needed
            return Planned(_plan(rnd, targets))
        if rnd.owner is not None:
            return self._owned(rnd, targets, sharers)
        reads = self._registry.reads(rnd.arn)
        result = self._with_memory(rnd, targets, _plan(rnd, targets), fresh_records=False)
        # Records read before a retirement are this round's (unless planning just read them).
        fresh = bool(result.deregister) and self._registry.reads(rnd.arn) == reads
        records = self._registry.recall_owned(rnd.arn, rnd.port, fresh=fresh, deadline=rnd.deadline)
        _warn_unverified(rnd, records.unverified)
        held = shared_with_others(records, rnd)
        if held is None:
            return Planned(result, unverified=records.unverified)
        return Planned(
            wait_instead(
                result,
                {
                    d.ip: f"{d.reason}; held: tgsync:owned records "
                    "of another owner are on the port (see the error)"
                    for d in result.deregister
                },
            ),
            held=held,
            unverified=records.unverified,
        )

    def _owned(
        self, rnd: Round, targets: Sequence[Target], sharers: Sequence[MappingConfig]
    ) -> Planned:
        """Owned mode: the records (afresh before a change), the sharers' answers."""
        owner = rnd.owner or ""  # set: the caller checked
        owned = self._registry.recall_owned(rnd.arn, rnd.port, fresh=False, deadline=rnd.deadline)
        probe = _plan(rnd, targets, owned=owned)
        fresh = bool(probe.deregister or probe.owned != owned.mine(owner) or probe.waiting)
        if fresh:  # another process may have written the records since they were read
            owned = self._registry.recall_owned(
                rnd.arn, rnd.port, fresh=True, deadline=rnd.deadline
            )
        held = Held({}, frozenset())
        if probe.deregister:  # an IP moving to a sharer is not retired in between
            held = held_by_sharers(
                [s for s in sharers if s.hostname != rnd.mapping.hostname],
                rnd,
                {d.ip for d in probe.deregister},
                source=lambda other: source_of(
                    self._source_for, other.dns_servers, other.resolve, other.rds_role_arn
                ),
            )
        _warn_unreadable(rnd, owned.unreadable)
        _warn_unverified(rnd, owned.unverified)
        result = _plan(rnd, targets, owned=owned, held=held)
        result = self._with_memory(
            rnd, targets, result, fresh_records=fresh, owned=owned, held=held
        )
        return Planned(result, owned, unverified=owned.unverified)

    def _with_memory(
        self,
        rnd: Round,
        targets: Sequence[Target],
        result: Plan,
        *,
        fresh_records: bool,
        owned: Owned | None = None,
        held: Held | None = None,
    ) -> Plan:
        """The plan again with the memory, when there is any (read afresh when the plan
        waits on it and the tags were not just read)."""
        recalled = self._registry.recall(
            rnd.arn, rnd.port, fresh=result.waiting and not fresh_records, deadline=rnd.deadline
        )
        _warn_unreadable(rnd, recalled.unreadable)
        if not recalled.memory:
            return result
        return _plan(rnd, targets, recalled.memory, owned=owned, held=held)


def _plan(
    rnd: Round,
    targets: Sequence[Target],
    memory: Mapping[str, MissingSince] | None = None,
    *,
    owned: Owned | None = None,
    held: Held | None = None,
) -> Plan:
    """The pure plan of the round, through the mapping's policy."""
    view, mapping, owner = rnd.view, rnd.mapping, rnd.owner
    ownership = None
    if owned is not None and owner is not None:
        answered, unanswered = held or Held({}, frozenset())
        ownership = Ownership(owned.mine(owner), {**answered, **owned.others(owner)}, unanswered)
    return apply_policy(
        plan(
            wanted=view.wanted,
            targets=targets,
            port=rnd.port,
            memory=memory or {},
            now=rnd.now,
            stale_after=0 if view.authoritative else mapping.stale_after,
            answers=Answers(view.distinct, view.largest, view.origin),
            ownership=ownership,
        ),
        mapping.policy,
    )


def _warn_unreadable(rnd: Round, tags: Sequence[str]) -> None:
    for tag in tags:
        logger.warning("unreadable tag left alone", extra={"mapping": rnd.label, "tag": tag})


def _warn_unverified(rnd: Round, tags: Sequence[str]) -> None:
    for tag in tags:
        logger.warning(
            "ownership record without a valid MAC: not trusted, left alone "
            "(someone without the record key wrote it)",
            extra={"mapping": rnd.label, "target_group": rnd.arn, "tag": tag},
        )


def shared_with_others(records: Owned, rnd: Round) -> str | None:
    """Why a ``retire=all`` mapping must hold its retirements: another owner's records on
    its port (``None``: there are none; unverified records hold nothing)."""
    mapping, port = rnd.mapping, rnd.port
    sharers = sorted(set(records.by_owner) - {owner_id(mapping.hostname)})
    if not sharers:
        return None
    keys = sorted({k for o in sharers for k in records.keys.get(o, ())} | set(records.unreadable))
    return (
        f"port {port} of {mapping.target_group_name} is shared: tgsync:owned records of "
        f"{', '.join(sharers)} are on it ({', '.join(keys)}), and this mapping retires "
        "all, so it retires nothing while they are there (new IPs are still registered): "
        "set retire=owned here too, or, if no mapping keeps those hostnames any more (an "
        "owner id is the first 8 hex digits of a hostname's SHA-256), remove those tags"
    )


class Held(NamedTuple):
    """What the sharers of a group and port hold of the IPs a mapping would retire: those
    their answers return, with their owner ids, and all of them while a sharer's lookup
    fails (``unanswered``: nothing is retired on a partial view)."""

    answered: Mapping[str, frozenset[str]]
    unanswered: frozenset[str]


def held_by_sharers(
    sharers: Sequence[MappingConfig],
    rnd: Round,
    leaving: set[str],
    *,
    source: Callable[[MappingConfig], Source],
) -> Held:
    """Those of ``leaving`` that another owned mapping sharing the group and port returns
    now (it may not have recorded them yet), or may return (its lookup failed)."""
    held: dict[str, set[str]] = {}
    unanswered: set[str] = set()
    for other in sharers:
        found = source(other).resolve(
            other.hostname, rnd.view.record_type, other.lookups, deadline=rnd.deadline
        )
        if found.error:
            unanswered |= leaving
            continue
        answers = set(screen(found.answers, other.allowed_cidrs, other.narrowed_cidrs)[0])
        for ip in leaving & answers:
            held.setdefault(ip, set()).add(owner_id(other.hostname))
    return Held({ip: frozenset(owners) for ip, owners in held.items()}, frozenset(unanswered))
