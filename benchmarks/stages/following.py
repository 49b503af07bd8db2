"""Following: how soon a node joining DNS during a blue/green is registered, with and
without follow mode, and what following costs in GB-seconds. The schedule and the
follow interval run on a simulated clock; every cycle is real."""

from __future__ import annotations

import random
import time

from benchmarks.harness import (
    HOST,
    IPS,
    MEMORY_GB,
    MINUTES_PER_MONTH,
    PRICE_GB_SECOND,
    Figure,
    Section,
    controller,
    ratio,
)
from benchmarks.peers import Peers
from tgsync import config
from tgsync.report import CycleReport

#: The stack's schedule and function timeout, and the follow interval measured.
TICK, TIMEOUT, FOLLOW_EVERY = 60.0, 55.0, 10.0
#: How long after registration moto reports a new target healthy.
HEALTHY_AFTER = 90.0
FIRST, SECOND = "10.0.1.20", "10.0.2.20"


def stage(peers: Peers, repeats: int) -> Section:
    """A node joins DNS at a random moment of the minute after another one did (a
    blue/green under way): seconds until it is registered, with following and without,
    and the GB-seconds the invocations took."""
    rng = random.Random(7)
    phases = [rng.uniform(0, TICK) for _ in range(repeats)]
    figures = {}
    for follow in (True, False):
        reaction, busy, longest = Figure(), Figure(), Figure()
        for phase in phases:
            seconds, used, invocation = _join_during_blue_green(peers, phase, follow)
            reaction.add(seconds)
            busy.add(used * MEMORY_GB)
            longest.add(invocation)
        figures[follow] = (reaction, busy, longest)
    (on, on_gbs, on_longest), (off, off_gbs, _) = figures[True], figures[False]
    extra = Figure([a - b for a, b in zip(on_gbs.samples, off_gbs.samples, strict=True)])
    worst = MINUTES_PER_MONTH * max(on_longest.samples) * MEMORY_GB
    rows = [
        (
            "following: seconds from a node joining DNS (mid blue/green) to its registration, "
            "median (min to max)",
            f"following on: {on.show(' s', 1)}",
            f"following off: {off.show(' s', 1)}",
            ratio(on, off),
        ),
        (
            "following: extra Lambda GB-seconds per blue/green join (256 MB)",
            extra.show(" GB-s", 1),
            f"${extra.median * PRICE_GB_SECOND['arm64']:.5f} a join",
            "",
        ),
        (
            "following: worst case a month, every invocation following to its limit (DNS "
            "changing every minute, forever)",
            f"{worst:,.0f} GB-s, ${worst * PRICE_GB_SECOND['arm64']:.2f}",
            "",
            f"longest invocation {max(on_longest.samples):.1f} s",
        ),
    ]
    note = (
        f"Following: the schedule ticks every {TICK:.0f} s and the function times out at "
        f"{TIMEOUT:.0f} s (the stack's values) on a simulated clock, follow-ups every "
        f"{FOLLOW_EVERY:.0f} s; the first new node is registered at a tick, the second "
        "joins DNS at a random moment of the next minute (the same moments with and "
        "without following) while the first is still initial (healthy "
        f"{HEALTHY_AFTER:.0f} s after registration). Cycles are real (moto and DNS on "
        "127.0.0.1); their wall time is added to the simulated one."
    )
    return Section("Following a blue/green", rows=rows, notes=[note])


def _join_during_blue_green(peers: Peers, phase: float, follow: bool) -> tuple[float, float, float]:
    """(seconds from the second node joining DNS to its registration, invocation seconds
    over eight minutes, the longest invocation)."""
    _, arn = peers.fresh_group()
    for ip in IPS:
        peers.moto.set_health(ip, "healthy")
    peers.moto.update_control(default_state="initial")
    peers.dns.set(HOST, a=IPS)
    clock = [1_700_000_000.0]
    cfg = config.load(
        {
            config.HOSTNAME: HOST,
            config.TARGET_GROUP_ARN: arn,
            config.DNS_SERVERS: peers.dns.address,
            config.FOLLOW_INTERVAL: str(FOLLOW_EVERY) if follow else "0",
        }
    )
    tgsync = controller(cfg, clock=lambda: clock[0])
    tgsync.run_once()  # settle: the three nodes are registered and healthy
    clock[0] += TICK
    tgsync.run_once()
    start = clock[0] + TICK
    joins_at = start + phase
    registered_at: dict[str, float] = {}
    began = [0.0]
    peers.dns.set(HOST, a=[*IPS, FIRST])

    def world() -> None:
        if clock[0] >= joins_at:
            peers.dns.set(HOST, a=[*IPS, FIRST, SECOND])
        for ip, at in registered_at.items():
            if clock[0] >= at + HEALTHY_AFTER:
                peers.moto.set_health(ip, "healthy")

    def sleep(seconds: float) -> None:
        clock[0] += seconds
        world()

    def seen(cycle: CycleReport) -> None:
        for report in cycle.mappings:
            for ip in report.registered_ips:
                registered_at.setdefault(ip, clock[0] + time.perf_counter() - began[0])

    busy, longest = 0.0, 0.0
    for minute in range(8):
        clock[0] = start + TICK * minute
        world()
        deadline = clock[0] + TIMEOUT
        began[0], at = time.perf_counter(), clock[0]
        tgsync.run(sleep=sleep, on_cycle=seen, time_left=lambda d=deadline: d - clock[0])
        took = clock[0] - at + time.perf_counter() - began[0]
        busy, longest = busy + took, max(longest, took)
    peers.moto.update_control(default_state="healthy")
    return registered_at[SECOND] - joins_at, busy, longest
