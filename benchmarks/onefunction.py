"""One function keeping many target groups, in a process of its own so that its peak RSS
is its own: ``python -m benchmarks.onefunction`` (configured by the environment, with
discovery). A cold start (unpaced here; paced it takes minutes, which the caller
computes), a settling cycle, then five steady minutes on a simulated clock, paced as
deployed. Prints one JSON object: the cold start's calls by operation, each steady
minute's seconds and calls, the cycles run and the peak RSS.
"""

from __future__ import annotations

import json
import os
import sys
import time

from benchmarks.coldstart import peak_rss_kb
from benchmarks.harness import STILL, controller
from testlab.counting import CountingProvider
from tgsync import config
from tgsync.pacing import Pacer, TokenBucket, unpaced
from tgsync.provider.elbv2 import make_client

STEADY_MINUTES = 5


class Switch:
    """A pacer that does not wait until :meth:`pace` sets the one it defers to: the cold
    start runs unpaced, the steady minutes paced as deployed."""

    def __init__(self) -> None:
        self.pacer: Pacer = unpaced

    def pace(self, pacer: Pacer) -> None:
        """Defer to ``pacer`` from now on."""
        self.pacer = pacer

    def acquire(self, within: float = float("inf")) -> bool:
        """Wait as the current pacer says."""
        return self.pacer.acquire(within)


def main() -> int:
    """Run the cold start, a settling cycle and the steady minutes; print the result."""
    cfg = config.load(os.environ)
    clock = [STILL]
    reads, writes = Switch(), Switch()
    provider = CountingProvider(
        client_for_region=lambda region: make_client(region, max_pool_connections=10),
        pacer=reads,
        write_pacer=writes,
    )
    tgsync = controller(cfg, clock=lambda: clock[0], provider=provider)
    tgsync.run_once()
    cold = dict(provider.calls)
    clock[0] += 60
    tgsync.run_once()
    reads.pace(TokenBucket(rate=cfg.api_rate))
    writes.pace(TokenBucket(rate=cfg.api_rate))
    minutes, calls = [], []
    for _ in range(STEADY_MINUTES):
        clock[0] += 60
        before = sum(provider.calls.values())
        started = time.perf_counter()
        tgsync.run_once()
        minutes.append(time.perf_counter() - started)
        calls.append(sum(provider.calls.values()) - before)
    print(
        json.dumps(
            {
                "cold": cold,
                "minutes": minutes,
                "calls": calls,
                "cycles": 2 + STEADY_MINUTES,
                "rss_kb": peak_rss_kb(),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
