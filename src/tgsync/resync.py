"""When a steady target group need not be read: the rules, pure.

A group is *settled* after a cycle that read it and found nothing to do: every target
on the port is one DNS returned and is ``healthy`` (or ``unused``, not yet behind a
listener), nothing waits, registers, drains or failed. While its DNS answer stays the
same, the next cycles skip ``DescribeTargetHealth`` for it until the group is *due*
again, at most ``TGSYNC_RESYNC_EVERY`` seconds after its last read, so that a target
someone added or removed by hand is repaired within that time. Whatever changes in
DNS, or anything short of settled, means a fresh read: nothing is ever retired on a
cached view.

The first time a group settles its next read is staggered across the interval (by a
hash of its ARN and port), so that many groups read at one cold start spread their
re-reads evenly over time instead of spiking every interval.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from tgsync.model import Target
from tgsync.plan import Action, Plan

#: Target states in which a group with nothing to do may go unread for a while.
SETTLED_STATES = frozenset({"healthy", "unused"})


@dataclass(frozen=True, slots=True)
class Settled:
    """A group found settled: the DNS answer it was settled for, and when to read again."""

    answer: frozenset[str]
    read_at: float
    due: float
    #: The latest moment the next read may come: ``read_at + TGSYNC_RESYNC_EVERY``
    #: (``due`` is earlier for a group's first, staggered, re-read).
    limit: float = float("inf")


def is_settled(result: Plan, ours: Iterable[Target]) -> bool:
    """True if a fresh read found nothing to do and nothing that may change by itself."""
    if not result.resolved or result.memory:
        return False
    # Foreign targets (retire=owned) are someone else's: they neither settle nor unsettle.
    foreign = set(result.foreign)
    if any(d.action is not Action.KEEP for d in result.decisions if d.ip not in foreign):
        return False
    targets = [t for t in ours if t.ip not in foreign]
    wanted = {d.ip for d in result.decisions if d.in_dns}
    return {t.ip for t in targets} == wanted and all(t.state in SETTLED_STATES for t in targets)


def stagger(key: str) -> float:
    """A stable fraction in [0, 1) for ``key``: where in the interval its re-read falls."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) / 2**32


def settle(
    key: str, answer: frozenset[str], now: float, every: float, before: Settled | None
) -> Settled:
    """The record of a group just read and found settled (``before``: it already was)."""
    due = now + every if before is not None else now + every * stagger(key)
    return Settled(answer, now, due, now + every)


def may_skip(
    record: Settled | None, answer: frozenset[str] | None, now: float, horizon: float = 0.0
) -> bool:
    """True if the group need not be read this cycle.

    ``horizon`` is how soon the next cycle is expected: a group is read in the last
    cycle before it falls due, not in the first one after, so re-reads are never
    further apart than ``TGSYNC_RESYNC_EVERY`` (a tick a little early must not push the
    read a whole tick late).
    """
    return (
        record is not None
        and answer is not None
        and answer == record.answer
        and record.read_at <= now < record.due
        and now + horizon <= record.limit
    )
