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
no                      unhealthy / unused /         DEREGISTER at once
                        unavailable
no                      healthy / initial / unknown  WAIT until missing for
                                                     ``stale_after``, then DEREGISTER
DNS failed              anything                     KEEP: change nothing
======================  ===========================  =================================

"Missing since" times live in :class:`Missing` records that the caller stores (in the
target group's tags) and hands back next cycle. A record whose ``last`` sighting is
older than the continuity window (a stopped function, a jumping clock) or lies in the
future is not trusted: the count starts again, which can only delay a retirement.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

from tgsync.model import Target

#: A missing-since record is trusted only if it was confirmed this recently (or within
#: ``stale_after``, if longer). Longer gaps mean nobody watched: start counting again.
CONTINUITY_WINDOW_SECONDS = 300.0


class Action(StrEnum):
    """What the plan does with one IP."""

    REGISTER = "REGISTER"
    DEREGISTER = "DEREGISTER"
    KEEP = "KEEP"
    WAIT = "WAIT"


class Policy(StrEnum):
    """Which changes a plan may make (ExternalDNS's naming)."""

    SYNC = "sync"
    UPSERT_ONLY = "upsert-only"


@dataclass(frozen=True, slots=True)
class Missing:
    """When an IP that is still registered was first and last seen missing from DNS."""

    first: float
    last: float


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
    """The outcome of one planning round."""

    decisions: tuple[Decision, ...]
    memory: Mapping[str, Missing] = field(default_factory=dict)
    resolved: bool = True

    @property
    def register(self) -> tuple[Decision, ...]:
        """Decisions to register, sorted by IP."""
        return tuple(d for d in self.decisions if d.action is Action.REGISTER)

    @property
    def deregister(self) -> tuple[Decision, ...]:
        """Decisions to deregister, sorted by IP."""
        return tuple(d for d in self.decisions if d.action is Action.DEREGISTER)

    @property
    def has_changes(self) -> bool:
        """True if applying the plan would call RegisterTargets or DeregisterTargets."""
        return any(d.action in (Action.REGISTER, Action.DEREGISTER) for d in self.decisions)


def _sort_key(ip: str) -> tuple[int, str]:
    # IPv4 before IPv6, then numerically-ish by zero-padded groups: stable and readable.
    if ":" in ip:
        return (6, ":".join(part.zfill(4) for part in ip.split(":")))
    return (4, ".".join(part.zfill(3) for part in ip.split(".")))


def _missing_decision(
    target: Target,
    record: Missing | None,
    now: float,
    stale_after: float,
) -> tuple[Decision, Missing | None]:
    """Decide on a registered target that DNS no longer returns."""
    ip, port = target.ip, target.port
    if target.is_draining:
        return Decision(ip, port, Action.KEEP, "not in DNS; already draining", False,
                        target.state), None
    if target.is_not_serving:
        reason = f"not in DNS and {target.describe_state()}"
        return Decision(ip, port, Action.DEREGISTER, reason, False, target.state), None
    window = max(stale_after, CONTINUITY_WINDOW_SECONDS)
    if record is None or record.first > now or record.last > now or now - record.last > window:
        record = Missing(first=now, last=now)
    else:
        record = Missing(first=record.first, last=now)
    missing_for = now - record.first
    if missing_for >= stale_after:
        reason = (
            f"not in DNS for {missing_for:.0f}s (stale after {stale_after:.0f}s) though "
            f"{target.state}: a freed IP can be reused by another host"
        )
        return Decision(ip, port, Action.DEREGISTER, reason, False, target.state), None
    reason = (
        f"not in DNS for {missing_for:.0f}s and {target.state}; "
        f"retire after {stale_after:.0f}s"
    )
    return Decision(ip, port, Action.WAIT, reason, False, target.state), record


def plan(
    *,
    wanted: frozenset[str] | None,
    targets: Iterable[Target],
    port: int,
    memory: Mapping[str, Missing],
    now: float,
    stale_after: float,
) -> Plan:
    """Plan one cycle for one target group and port.

    ``wanted`` is the set of allowed IPs DNS returned, or ``None`` when resolution
    failed, in which case nothing changes and memory is kept as it is.
    """
    ours = {t.ip: t for t in targets if t.port == port}
    if wanted is None:
        unchanged = tuple(
            Decision(ip, port, Action.KEEP, "DNS resolution failed: changing nothing",
                     False, ours[ip].state)
            for ip in sorted(ours, key=_sort_key)
        )
        return Plan(unchanged, dict(memory), resolved=False)

    decisions: list[Decision] = []
    new_memory: dict[str, Missing] = {}
    for ip in sorted(set(ours) | wanted, key=_sort_key):
        target = ours.get(ip)
        if ip in wanted:
            if target is None:
                decisions.append(Decision(ip, port, Action.REGISTER, "in DNS, not registered",
                                          True, None))
            elif target.is_draining:
                decisions.append(Decision(ip, port, Action.REGISTER,
                                          "in DNS but draining: register again", True,
                                          target.state))
            else:
                decisions.append(Decision(ip, port, Action.KEEP,
                                          f"in DNS, {target.describe_state()}", True,
                                          target.state))
            continue
        assert target is not None  # every IP is wanted or registered
        decision, record = _missing_decision(target, memory.get(ip), now, stale_after)
        decisions.append(decision)
        if record is not None:
            new_memory[ip] = record
    return Plan(tuple(decisions), new_memory)


def apply_policy(result: Plan, policy: Policy) -> Plan:
    """Filter a finished plan through a policy; ``upsert-only`` never deregisters."""
    if policy is Policy.SYNC:
        return result
    decisions = tuple(
        replace(d, action=Action.KEEP, reason=f"{d.reason} (upsert-only: kept)")
        if d.action is Action.DEREGISTER
        else d
        for d in result.decisions
    )
    return replace(result, decisions=decisions)
