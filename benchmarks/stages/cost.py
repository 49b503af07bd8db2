"""A monthly cost note: Lambda GB-seconds and ELB calls at one cycle a minute, from the
steady cycles' medians."""

from __future__ import annotations

from benchmarks.harness import (
    MEMORY_GB,
    MINUTES_PER_MONTH,
    PRICE_GB_SECOND,
    PRICE_REQUEST,
    Section,
)
from benchmarks.stages.cycles import Steady
from tgsync import config

#: The original set no memory size: Lambda's default, 128 MB.
ORIGINAL_MEMORY_GB = 0.125


def stage(steady: Steady) -> Section:
    """The cost rows and note for steady cycles measured as ``steady``."""
    ours = MINUTES_PER_MONTH * max(1.0, steady.ms) / 1000 * MEMORY_GB
    theirs = MINUTES_PER_MONTH * max(1.0, steady.original_ms) / 1000 * ORIGINAL_MEMORY_GB
    requests = MINUTES_PER_MONTH * PRICE_REQUEST
    resyncs = MINUTES_PER_MONTH * 60 / config.DEFAULT_RESYNC_EVERY
    rows = [
        (
            "per month at one cycle a minute: Lambda GB-seconds (steady cycles)",
            f"{ours:.0f} GB-s, ${ours * PRICE_GB_SECOND['arm64'] + requests:.3f}",
            f"{theirs:.0f} GB-s, ${theirs * PRICE_GB_SECOND['x86_64'] + requests:.3f}",
            "",
        ),
        (
            "per month: ELB API calls per target group (steady), i.e. CloudTrail management events",
            f"{steady.calls * MINUTES_PER_MONTH + resyncs:,.0f}",
            f"{steady.original_calls * MINUTES_PER_MONTH:,.0f}",
            f"steady cycles plus one read per TGSYNC_RESYNC_EVERY "
            f"({config.DEFAULT_RESYNC_EVERY:.0f} s)",
        ),
    ]
    note = (
        f"Cost note: {MINUTES_PER_MONTH:,} invocations a month; GB-seconds = invocations x "
        "measured steady-cycle time here (on AWS add the round trip to the ELB endpoint, "
        "typically a few ms a call, and the runtime's own overhead) x memory (tgsync 256 MB "
        "on arm64 at $0.0000133334/GB-s; the original 128 MB on x86_64 at "
        "$0.0000166667/GB-s; us-east-1 prices), plus $0.20 per million requests. Both stay "
        "inside Lambda's monthly free tier. ELB API calls cost nothing but draw on the "
        "account's throttling budget, shared with every other ELB caller."
    )
    return Section("A month at one cycle a minute", rows=rows, notes=[note])
