"""The planning core: desired IPs + current targets + memory + time -> a plan.

Pure: no I/O, no clock, no boto3. Every IP the planner looks at gets one
:class:`Decision` with a reason; the plan's register and deregister lists are derived
from those decisions. Only targets on the mapping's port are considered: a target on
another port belongs to someone else.

======================  ===========================  =================================
IP in DNS answer?       registered on the port as    decision
======================  ===========================  =================================
yes                     not registered               REGISTER
yes                     draining                     REGISTER (bring it back)
yes                     anything else                KEEP, whatever its health
no                      draining                     KEEP (already leaving)
no                      unhealthy / unused /         DEREGISTER at once (after enough
                        unavailable                  answers, if answers are capped)
no                      healthy / initial / unknown  WAIT until missing for
                                                     ``stale_after`` (and enough
                                                     answers), then DEREGISTER
DNS failed              anything                     KEEP: change nothing
======================  ===========================  =================================

**Owned mode** (``TGSYNC_RETIRE=owned``, a shared group): the caller passes the IPs this
mapping recorded as its own and those other mappings (or unreadable records) hold, and
the rules above apply only to targets the mapping alone owns. A registered target DNS
does not return and the mapping does not own is FOREIGN: left alone whatever its health,
never waited on or remembered. One the mapping owns with another is KEEP, and the
mapping lets go of it (the other decides). Every IP in the answer becomes the mapping's
(registering it records it; switching a group to owned adopts what the answer holds).
:attr:`Plan.owned` is the mapping's ownership after the plan: the answer, plus what it
alone owns and does not retire. With no ownership given (``retire=all``) the plan is
exactly the table above.

**Continuity.** "Missing since" times live in :class:`MissingSince` records that the
caller stores (in the target group's tags) and hands back next cycle. A record is
trusted only if it was confirmed at most :data:`CONTINUITY_WINDOW_SECONDS` ago and is
not dated in the future, whatever ``stale_after`` is: a longer gap means nobody
watched (a stopped function, a jumping clock), so the count starts again, which can
only delay a retirement. Schedules must therefore run at least every
:data:`MAX_CYCLE_INTERVAL_SECONDS`.

**Capped answers.** A resolver may hand out a subset of a big record set (Route 53
answers at most :data:`ANSWER_CAP` records for a multivalue name, and a caching
resolver repeats one subset for its TTL). Absence from a capped answer is weak
evidence, so a target missing from it is retired only once enough distinct answers
lacked it that a live node would have shown up in one of them except with probability
:data:`LIVE_NODE_MISS_RISK` (see :func:`required_absences`). Answers count as capped
when the cycle's queries disagreed, or when the largest answer held exactly
``ANSWER_CAP`` records while the group and DNS together know more IPs (an answer with
more records than that is not capped at Route 53's size).
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

from tgsync.model import Target

#: A missing-since record is trusted only if it was confirmed this recently.
CONTINUITY_WINDOW_SECONDS = 300.0
#: The longest interval between cycles that keeps records trusted, jitter included.
MAX_CYCLE_INTERVAL_SECONDS = 240.0
#: Records Route 53 puts in one answer for a multivalue name.
ANSWER_CAP = 8
#: Accepted chance that a live node was absent from every capped answer counted.
LIVE_NODE_MISS_RISK = 1e-9


class Action(StrEnum):
    """What the plan does with one IP."""

    REGISTER = "REGISTER"
    DEREGISTER = "DEREGISTER"
    KEEP = "KEEP"
    WAIT = "WAIT"
    #: Owned mode: a target the mapping did not register, left alone.
    FOREIGN = "FOREIGN"


class Policy(StrEnum):
    """Which changes a plan may make (ExternalDNS's naming)."""

    SYNC = "sync"
    UPSERT_ONLY = "upsert-only"


@dataclass(frozen=True, slots=True)
class MissingSince:
    """When a registered IP was first and last seen missing from DNS, and in how many
    distinct answers."""

    first: float
    last: float
    absent: int = 1


@dataclass(frozen=True, slots=True)
class Answers:
    """What a cycle's answers were: how many distinct ones its queries gave, the size of
    the largest (``None``: every answer was complete), and where they came from, in the
    words a reason uses (``DNS``, ``the RDS members``)."""

    distinct: int = 1
    largest: int | None = None
    origin: str = "DNS"


@dataclass(frozen=True, slots=True)
class Ownership:
    """Owned mode: the IPs this mapping recorded as its own on the port, every IP other
    owners hold, with their names, and those a sharer whose lookup failed may hold
    (``unanswered``: kept, and kept recorded, until it answers; let go, nobody would own
    them when its answer comes back without them)."""

    mine: frozenset[str] = frozenset()
    others: Mapping[str, frozenset[str]] = field(default_factory=dict)
    unanswered: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Decision:
    """The planner's verdict on one IP, with the reason a person would want."""

    ip: str
    port: int
    action: Action
    reason: str
    in_dns: bool
    state: str | None  # None: not registered on the port


@dataclass(frozen=True)
class Plan:
    """The outcome of one planning round.

    ``memory`` holds the records to keep for IPs still waiting; ``retiring`` the
    records of IPs this plan retires, to keep if their retirement fails. ``owned`` is
    the mapping's ownership once the plan is carried out (owned mode only; ``None``:
    no ownership to record, as in ``retire=all`` or when DNS failed).
    """

    decisions: tuple[Decision, ...]
    memory: Mapping[str, MissingSince] = field(default_factory=dict)
    resolved: bool = True
    retiring: Mapping[str, MissingSince] = field(default_factory=dict)
    owned: frozenset[str] | None = None

    @property
    def register(self) -> tuple[Decision, ...]:
        """Decisions to register, sorted by IP."""
        return tuple(d for d in self.decisions if d.action is Action.REGISTER)

    @property
    def deregister(self) -> tuple[Decision, ...]:
        """Decisions to deregister, sorted by IP."""
        return tuple(d for d in self.decisions if d.action is Action.DEREGISTER)

    @property
    def foreign(self) -> tuple[str, ...]:
        """The IPs left alone as someone else's (owned mode), sorted."""
        return tuple(d.ip for d in self.decisions if d.action is Action.FOREIGN)

    @property
    def has_changes(self) -> bool:
        """True if applying the plan would call RegisterTargets or DeregisterTargets."""
        return any(d.action in (Action.REGISTER, Action.DEREGISTER) for d in self.decisions)

    @property
    def waiting(self) -> bool:
        """True if a decision waits on a missing-since count (memory matters)."""
        return any(d.action is Action.WAIT for d in self.decisions)


def _sort_key(ip: str) -> tuple[int, int]:
    """IPv4 before IPv6, each in numeric order: stable and readable."""
    address = ipaddress.ip_address(ip)
    return (address.version, int(address))


def required_absences(largest_answer: int, population: int) -> int:
    """Distinct answers an IP must be absent from before absence counts as evidence.

    With answers of ``largest_answer`` records drawn from ``population`` IPs, a live
    node is missing from one answer with probability ``1 - largest/population``; this
    many answers in a row miss it with probability at most :data:`LIVE_NODE_MISS_RISK`.
    Complete answers need one.
    """
    if largest_answer <= 0 or largest_answer >= population:
        return 1
    miss = 1.0 - largest_answer / population
    return max(1, math.ceil(math.log(LIVE_NODE_MISS_RISK) / math.log(miss)))


def trusted(record: MissingSince, now: float) -> bool:
    """The continuity rule: confirmed within the window and not dated in the future."""
    # Not ``first <= last``: stored records round ``first`` up and ``last`` down.
    return max(record.first, record.last) <= now and now - record.last <= CONTINUITY_WINDOW_SECONDS


@dataclass(frozen=True, slots=True)
class _Evidence:
    """How much one cycle's answers say about absence."""

    answers: int  # distinct answers this cycle
    required: int  # distinct answers an IP must be absent from
    capped: bool
    origin: str = "DNS"


def _missing_decision(
    target: Target,
    record: MissingSince | None,
    now: float,
    stale_after: float,
    evidence: _Evidence,
) -> tuple[Decision, MissingSince | None]:
    """Decide on a registered target that DNS no longer returns."""
    ip, port = target.ip, target.port
    if target.is_draining:
        return Decision(
            ip,
            port,
            Action.KEEP,
            f"not in {evidence.origin}; already draining",
            False,
            target.state,
        ), None
    if record is not None and trusted(record, now):
        record = MissingSince(record.first, now, record.absent + evidence.answers)
    else:
        record = MissingSince(now, now, evidence.answers)
    enough = record.absent >= evidence.required
    capped = (
        f"; answers are capped: {record.absent} of {evidence.required} answers without it"
        if evidence.capped
        else ""
    )
    if target.is_not_serving:
        reason = f"not in {evidence.origin} and {target.describe_state()}"
        if enough:
            return Decision(ip, port, Action.DEREGISTER, reason + capped, False, target.state), None
        return Decision(ip, port, Action.WAIT, reason + capped, False, target.state), record
    missing_for = now - record.first
    if missing_for >= stale_after and enough:
        reason = (
            f"not in {evidence.origin} for {missing_for:.0f}s (stale after "
            f"{stale_after:.0f}s) though {target.state}: a freed IP can be reused by another "
            f"host{capped}"
            if stale_after > 0
            else f"not in {evidence.origin} though {target.state}: a consistent answer no longer "
            f"holds it (stale after 0: retired at once){capped}"
        )
        return Decision(ip, port, Action.DEREGISTER, reason, False, target.state), record
    reason = (
        f"not in {evidence.origin} for {missing_for:.0f}s and {target.state}; "
        f"retire after {stale_after:.0f}s{capped}"
    )
    return Decision(ip, port, Action.WAIT, reason, False, target.state), record


def plan(
    *,
    wanted: frozenset[str] | None,
    targets: Iterable[Target],
    port: int,
    memory: Mapping[str, MissingSince],
    now: float,
    stale_after: float,
    answers: Answers = Answers(),
    ownership: Ownership | None = None,
) -> Plan:
    """Plan one cycle for one target group and port.

    ``wanted`` is the set of allowed IPs the answers held, or ``None`` when resolution
    failed, in which case nothing changes and memory is kept as it is. ``answers`` says
    how many distinct answers there were and the largest, which tell whether answers
    are capped (see the module's docstring). ``ownership`` (owned mode) says what this
    mapping and the others recorded; ``None`` (``retire=all``): every target on the
    port is the mapping's.
    """
    ours = {t.ip: t for t in targets if t.port == port}
    if wanted is None:
        return _unresolved(ours, port, memory)
    mine = ownership.mine if ownership is not None else frozenset()
    others = ownership.others if ownership is not None else {}
    # Foreign targets say nothing about how capped this mapping's answers are.
    evidence = _evidence(
        wanted, [t for t in ours.values() if ownership is None or t.ip in mine], answers
    )
    decisions: list[Decision] = []
    new_memory: dict[str, MissingSince] = {}
    retiring: dict[str, MissingSince] = {}
    owned: set[str] = set()
    for ip in sorted(set(ours) | wanted, key=_sort_key):
        if ip in wanted:
            decisions.append(_wanted_decision(ip, port, ours.get(ip), answers.origin))
            owned.add(ip)
            continue
        target = ours[ip]
        if ownership is not None and (ip not in mine or ip in others or ip in ownership.unanswered):
            decisions.append(_not_only_mine(target, ownership, answers.origin))
            owned |= {ip} & mine & ownership.unanswered  # kept recorded until it answers
            continue
        decision, record = _missing_decision(target, memory.get(ip), now, stale_after, evidence)
        decisions.append(decision)
        if decision.action is not Action.DEREGISTER:
            owned.add(ip)
        if record is not None:
            (retiring if decision.action is Action.DEREGISTER else new_memory)[ip] = record
    return Plan(
        tuple(decisions),
        new_memory,
        retiring=retiring,
        owned=frozenset(owned) if ownership is not None else None,
    )


def _unresolved(ours: Mapping[str, Target], port: int, memory: Mapping[str, MissingSince]) -> Plan:
    """Resolution failed: every target kept as it is, and the memory with it."""
    unchanged = tuple(
        Decision(
            ip, port, Action.KEEP, "DNS resolution failed: changing nothing", False, ours[ip].state
        )
        for ip in sorted(ours, key=_sort_key)
    )
    return Plan(unchanged, dict(memory), resolved=False)


def _not_only_mine(target: Target, ownership: Ownership, origin: str) -> Decision:
    """Owned mode: a target missing from the answers that is not the mapping's alone."""
    ip = target.ip
    if ip in ownership.mine and ip in ownership.unanswered:
        return Decision(
            ip,
            target.port,
            Action.KEEP,
            f"not in {origin}; held: a mapping sharing the port could not be resolved",
            False,
            target.state,
        )
    names = ", ".join(sorted(ownership.others.get(ip, ())))
    if ip in ownership.mine:
        return Decision(
            ip,
            target.port,
            Action.KEEP,
            f"not in {origin}; also {names}'s: left to it",
            False,
            target.state,
        )
    reason = (
        f"registered by another mapping ({names}): left alone"
        if names
        else "not registered by tgsync (retire=owned): left alone"
    )
    return Decision(ip, target.port, Action.FOREIGN, reason, False, target.state)


def _wanted_decision(ip: str, port: int, target: Target | None, origin: str) -> Decision:
    if target is None:
        return Decision(ip, port, Action.REGISTER, f"in {origin}, not registered", True, None)
    if target.is_draining:
        return Decision(
            ip,
            port,
            Action.REGISTER,
            f"in {origin} but draining: register again",
            True,
            target.state,
        )
    return Decision(
        ip, port, Action.KEEP, f"in {origin}, {target.describe_state()}", True, target.state
    )


def _evidence(wanted: frozenset[str], ours: Iterable[Target], answers: Answers) -> _Evidence:
    """Whether this cycle's answers are capped, and what absence then takes."""
    distinct, largest = max(1, answers.distinct), answers.largest
    if largest is None:
        return _Evidence(distinct, 1, capped=False, origin=answers.origin)
    population = len(wanted | {t.ip for t in ours if not t.is_draining})
    capped = largest < population and (distinct > 1 or largest == ANSWER_CAP)
    if not capped:
        return _Evidence(distinct, 1, capped=False, origin=answers.origin)
    return _Evidence(
        distinct, required_absences(largest, population), capped=True, origin=answers.origin
    )


def apply_policy(result: Plan, policy: Policy) -> Plan:
    """Filter a finished plan through a policy.

    ``upsert-only`` never deregisters and so never waits to: both become KEEP with
    the reason, and nothing is remembered; what it keeps stays owned.
    """
    if policy is Policy.SYNC:
        return result
    decisions = tuple(
        replace(d, action=Action.KEEP, reason=f"{d.reason} (upsert-only: kept)")
        if d.action in (Action.DEREGISTER, Action.WAIT)
        else d
        for d in result.decisions
    )
    memory = result.memory if not result.resolved else {}
    owned = None if result.owned is None else result.owned | {d.ip for d in result.deregister}
    return replace(result, decisions=decisions, memory=memory, retiring={}, owned=owned)


def wait_instead(result: Plan, reasons: Mapping[str, str]) -> Plan:
    """The plan with the decisions on the IPs of ``reasons`` turned into WAIT, each with
    its reason: a change held or not done. A retirement held keeps its missing-since
    record (counting goes on) and its ownership; a registration not done stays wanted."""
    if not reasons:
        return result
    decisions = tuple(
        replace(d, action=Action.WAIT, reason=reasons[d.ip]) if d.ip in reasons else d
        for d in result.decisions
    )
    memory = {
        **result.memory,
        **{ip: record for ip, record in result.retiring.items() if ip in reasons},
    }
    retiring = {ip: record for ip, record in result.retiring.items() if ip not in reasons}
    owned = None if result.owned is None else result.owned | set(reasons)
    return replace(result, decisions=decisions, memory=memory, retiring=retiring, owned=owned)
