"""Thousands of target groups kept by one function, found by discovery (a Lambda
function's environment could not list them): steady minutes, peak RSS and how long its
cold start takes to read every group; against the original's one function per group."""

from __future__ import annotations

import math
import os

from benchmarks.harness import DESCRIBE_RATE, Figure, Section, child
from benchmarks.peers import Peers, scale_hostname
from testlab.peers import REGION
from tgsync import config

#: The function's timeout less the margin it keeps for the last groups.
USABLE_SECONDS = 55 - 10


def stage(peers: Peers, size: int, original_calls: float) -> Section:
    """Rows for one function keeping ``size`` groups (see :mod:`benchmarks.onefunction`);
    ``original_calls``: the original's requests per steady cycle."""
    peers.many_groups(size, tag_every=1, name_for=scale_hostname)
    # Re-reads of settled groups are what a steady minute costs: groups x 60 /
    # TGSYNC_RESYNC_EVERY Describe calls. At the default pace (8 a second) they take
    # under 30 s for RESYNC_EVERY >= groups / 4 s: 900 s for 3,000 groups.
    resync = max(config.DEFAULT_RESYNC_EVERY, 300 * math.ceil(size / 4 / 300))
    env = {
        **os.environ,
        config.DISCOVER: "tags",
        "AWS_REGION": REGION,
        config.DISCOVER_PREFIX: "*",
        config.DNS_SERVERS: peers.dns.address,
        config.RESYNC_EVERY: str(resync),
        "POWERTOOLS_LOG_LEVEL": "ERROR",
    }
    before = len(peers.dns.queries)
    found = child("benchmarks.onefunction", env=env, timeout=1800)
    queries = (len(peers.dns.queries) - before) / found["cycles"]
    minute, calls = Figure(found["minutes"]), Figure(found["calls"])
    cold: dict[str, int] = found["cold"]
    describes = sum(n for op, n in cold.items() if op.startswith("Describe"))
    rate = config.DEFAULT_API_RATE
    minutes = max(1, math.ceil(describes / rate / USABLE_SECONDS))
    return Section(
        "Thousands of target groups in one function",
        rows=[
            (
                f"steady minute with {size:,} target groups (one function, "
                f"TGSYNC_RESYNC_EVERY={resync:.0f})",
                f"{minute.show(' s', 1)}, {calls.show()} ELB calls, {queries:,.0f} DNS queries",
                "",
                "targets: under 30 s, at most 600 calls",
            ),
            (
                f"peak RSS of one function process keeping {size:,} groups (target: under 96 MB)",
                f"{found['rss_kb'] / 1024:.1f} MB",
                "",
                "",
            ),
            (
                f"{size:,} target groups, original, steady minute (computed)",
                "",
                f"{size:,} functions, {size * original_calls:,.0f} Describe calls on the minute",
                f"ELB's Describe budget: about {DESCRIBE_RATE * 60:.0f} a minute",
            ),
            (
                f"cold start with {size:,} target groups: minutes until every group was read",
                f"{minutes:.0f} ({describes:,} Describe calls at {rate:.0f} a second, "
                f"{USABLE_SECONDS} s an invocation)",
                "",
                "paced, never a burst: the rest is deferred to the next invocation",
            ),
        ],
    )
