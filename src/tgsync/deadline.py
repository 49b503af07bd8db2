"""Deadlines: how long an invocation may still run, for every call that would outlast it.

A Lambda invocation, or a cycle of ``tgsync watch``, has a deadline. Checking the time
only before a mapping starts is not enough: one DNS query or ELB call started with too
little time left runs past it (the function is killed mid-write, or a watch cycle
outlives a container's stop timeout). So every lookup and every ELB attempt asks the
deadline first and gets the time that is left, less a margin for reporting.
"""

from __future__ import annotations

import time
from collections.abc import Callable

#: Seconds kept for logging the outcome and returning once the work stops.
MARGIN_SECONDS = 10.0


class Deadline:
    """When the current invocation must be done: ``time_left()`` seconds from now, less
    ``margin``. Without ``time_left`` there is no deadline (a local one-shot run)."""

    def __init__(
        self, time_left: Callable[[], float] | None = None, margin: float = MARGIN_SECONDS
    ) -> None:
        self._time_left = time_left
        self.margin = margin

    @classmethod
    def at(
        cls, moment: float, margin: float = 0.0, clock: Callable[[], float] = time.monotonic
    ) -> Deadline:
        """A deadline at ``moment`` on ``clock`` (``tgsync watch``: the next tick)."""
        return cls(lambda: moment - clock(), margin)

    @property
    def bounded(self) -> bool:
        """True if there is a deadline at all."""
        return self._time_left is not None

    def left(self) -> float:
        """Seconds left for work (the margin already taken off); ``inf`` if unbounded."""
        if self._time_left is None:
            return float("inf")
        return self._time_left() - self.margin

    def allows(self, seconds: float) -> bool:
        """True if something that may take ``seconds`` ends before the deadline."""
        return self.left() >= seconds


#: No deadline at all.
NONE = Deadline()
