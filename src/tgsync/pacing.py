"""Client-side pacing of ELB API calls, so many target groups stay inside the
account's ELB throttling budget (Describe calls: burst 40, about 10 per second)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

#: Tokens the bucket holds at most: a burst well under ELB's own 40.
DEFAULT_BURST = 20


class Pacer(Protocol):
    """Blocks until the next API call may go."""

    def acquire(self, within: float = float("inf")) -> bool:
        """Wait for a token; ``False`` (no token taken, no wait) if it would take longer
        than ``within`` seconds."""
        ...


class _Unpaced:
    def acquire(self, within: float = float("inf")) -> bool:
        return True


#: A pacer that never waits (tests, single target groups).
unpaced: Pacer = _Unpaced()


class TokenBucket:
    """A thread-safe token bucket: ``rate`` tokens a second, ``burst`` at most."""

    def __init__(
        self,
        rate: float,
        burst: int = DEFAULT_BURST,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be above 0 and burst at least 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(burst)
        self._stamp = clock()
        self._lock = threading.Lock()

    def acquire(self, within: float = float("inf")) -> bool:
        """Take one token, waiting for it if the bucket is empty; take none and return
        ``False`` at once if the wait would be longer than ``within`` seconds (a call
        that would start past its invocation's deadline)."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            wait = (1 - self._tokens) / self.rate if self._tokens < 1 else 0.0
            if wait > within:
                return False
            self._tokens -= 1
        if wait > 0:
            self._sleep(wait)
        return True
