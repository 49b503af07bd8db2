"""The lab's simulated clock."""

from __future__ import annotations

import bisect
import math
import threading
import time

from testlab.stateful.layout import START


class SimClock:
    """The simulated clock every part of the environment reads; it remembers when (in
    real monotonic time) it changed, so a proxy request can be dated in simulated time."""

    def __init__(self, now: float = START) -> None:
        self._lock = threading.Lock()
        self.now = now
        self.epoch = 0  # bumped when the clock steps back: pacing is counted per epoch
        self._monotonic = 0.0
        self._changes: list[tuple[float, float, int]] = [(time.monotonic(), now, 0)]

    def __call__(self) -> float:
        return self.now

    def monotonic(self) -> float:
        """The process's monotonic clock: it moves with the wall clock, but a step back
        (NTP) leaves it where it is, as Linux's CLOCK_MONOTONIC, which tgsync's pacing
        reads (a pacer on a clock going back would owe tokens for as long)."""
        return self._monotonic

    def advance(self, seconds: float) -> None:
        """Move by ``seconds`` (back if negative)."""
        with self._lock:
            self.now += seconds
            self._monotonic += max(seconds, 0.0)
            if seconds < 0:
                self.epoch += 1
            self._changes.append((time.monotonic(), self.now, self.epoch))

    def sleep(self, seconds: float) -> None:
        """A sleep that takes no real time."""
        self.advance(max(seconds, 0.0))

    def at(self, monotonic: float) -> tuple[float, int]:
        """The simulated time and epoch at real ``monotonic`` time."""
        with self._lock:
            index = bisect.bisect_right(self._changes, (monotonic, math.inf, math.inf)) - 1
            _, now, epoch = self._changes[max(index, 0)]
            return now, epoch

    def forget_before(self, monotonic: float) -> None:
        """Drop the changes no request from before real ``monotonic`` time will ask about
        (the last one before it stays: it dates everything up to the next)."""
        with self._lock:
            index = bisect.bisect_right(self._changes, (monotonic, math.inf, math.inf)) - 1
            del self._changes[: max(index, 0)]
