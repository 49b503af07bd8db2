"""Follow mode: which mappings an invocation keeps re-checking, and for how long. Pure.

A schedule ticks once a minute at best. While a mapping *moves* (its last cycle
registered or retired a target, or left something pending: a WAIT, a target still
``initial`` or ``draining``, a failed lookup) or an OpenSearch event announced a change
of its domain, the same invocation runs follow-up cycles for it every
``TGSYNC_FOLLOW_INTERVAL`` seconds. Steady mappings are not re-read.

The cost is bounded twice. A mapping is followed only within ``TGSYNC_FOLLOW_FOR``
seconds of its last change (or event), however long something stays pending (a node
in DNS that never becomes healthy); and an invocation stops following when its
remaining time could not hold one more interval, one more cycle and a margin. The
record of a mapping outlives the invocation (the controller keeps it per process), so
the next scheduled tick carries on where this one stopped, within the same window.

AWS failures (a denied or throttled call) are not followed: the next tick retries, and
retrying a throttled API every few seconds would only deepen the throttling.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tgsync.plan import Action, Decision

#: Target states that change by themselves within seconds to minutes.
PENDING_STATES = frozenset({"initial", "draining"})


@dataclass(frozen=True, slots=True)
class Motion:
    """A mapping in motion: since when (its last change, or the first sight of something
    pending), and until when an event's announcement keeps it followed while still."""

    since: float
    announced_until: float = float("-inf")


def is_pending(decisions: Iterable[Decision], lookup_failed: bool) -> bool:
    """True if a cycle left something that may change by itself soon."""
    # A foreign target's state is someone else's business: it never keeps us following.
    return lookup_failed or any(
        d.action is Action.WAIT or (d.state in PENDING_STATES and d.action is not Action.FOREIGN)
        for d in decisions
    )


def observe(before: Motion | None, *, changed: bool, pending: bool, now: float) -> Motion | None:
    """The motion record after a cycle of the mapping (``None``: it is still).

    A change restarts the window; something pending keeps the record it had (so a
    target pending forever does not extend it); an announcement lasts its window even
    while nothing moves yet (OpenSearch announces before DNS changes).
    """
    until = before.announced_until if before else float("-inf")
    if changed:
        return Motion(now, until)
    if pending:
        return before or Motion(now)
    if before is not None and now < until:
        return before
    return None


def announce(now: float, follow_for: float) -> Motion:
    """The record of a mapping whose domain an event says is changing: followed for
    ``follow_for`` from now, moving or not (whatever record it had before)."""
    return Motion(now, now + follow_for)


def followed(motion: Motion | None, now: float, follow_for: float) -> bool:
    """True if the mapping is within its follow window."""
    # A clock that went back follows nothing: the window must not stretch with it.
    return motion is not None and (
        0 <= now - motion.since < follow_for
        or motion.announced_until - follow_for <= now < motion.announced_until
    )


def room_for_another(
    time_left: float | None, interval: float, cycle_seconds: float, margin: float
) -> bool:
    """True if one more interval and one more cycle (as long as the last) fit in the
    time left with ``margin`` to spare (``None``: no deadline)."""
    return time_left is None or time_left - interval - cycle_seconds >= margin
