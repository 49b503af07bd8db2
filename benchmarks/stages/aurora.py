"""An Aurora failover: seconds from the writer endpoint's DNS flip to the writer group
holding only the new writer, with the RDS failover event (and following) and with the
schedule alone; the same with ``resolve=rds``, trusting one read (tgsync's rule) and,
to weigh it, retiring the old writer only once two reads in a row agree. The schedule,
the follow interval and the flip run on a simulated clock; every cycle is real (moto's
RDS and ELB, the lab's DNS server)."""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Callable
from typing import Any

import boto3

from benchmarks.harness import Figure, Section, controller, ratio
from benchmarks.peers import Peers
from testlab.aurora import Aurora, failover_event
from testlab.peers import REGION, create_target_group
from tgsync import config
from tgsync.deadline import NONE, Deadline
from tgsync.events import Trigger, classify
from tgsync.provider.elbv2 import Elbv2Provider
from tgsync.report import CycleReport
from tgsync.settings import setting
from tgsync.source import Nameserver, Resolution, Source
from tgsync.wiring import Sources

#: The stack's schedule and function timeout; the default follow interval.
TICK, TIMEOUT, FOLLOW_EVERY = 60.0, 55.0, 10.0
#: RDS sends RDS-EVENT-0073 when the failover starts, before DNS moves: the event lands
#: this many seconds before the flip at most (drawn per run).
EVENT_LEAD = 30.0
#: Minutes watched after the flip before a run counts as not settled.
MINUTES = 5
GOAL = 10.0


#: The ways the writer group is kept: (resolve, reads that must agree before retiring).
WAYS = (("dns", 1), ("rds", 1), ("rds", 2))


def stage(peers: Peers, repeats: int) -> Section:
    """The same failovers (flip moment in the minute, event lead, DNS window) with the
    event and without, each way of :data:`WAYS`: the seconds until the writer group
    holds only the new writer."""
    rng = random.Random(21)
    runs = [(rng.uniform(0, TICK), rng.uniform(0, EVENT_LEAD), seed) for seed in range(repeats)]
    figures: dict[tuple[str, int, bool], Figure] = {}
    ignored = False
    saved = peers.dns.seed  # each run reseeds DNS; the later stages get theirs back
    try:
        for resolve, reads in WAYS:
            for event in (True, False):
                figure = Figure()
                for phase, lead, seed in runs:
                    seconds, heard = _failover(
                        peers,
                        phase=phase,
                        lead=lead,
                        seed=seed,
                        event=event,
                        resolve=resolve,
                        reads=reads,
                    )
                    figure.add(seconds)
                    ignored = ignored or (event and not heard)
                figures[(resolve, reads, event)] = figure
    finally:
        peers.dns.reseed(saved)
    with_event, schedule = figures[("dns", 1, True)], figures[("dns", 1, False)]
    verdict = (
        f"goal <= {GOAL:.0f} s median with the event: "
        f"{'met' if with_event.median <= GOAL else 'not met'}"
    )
    if ignored:
        verdict = "this tgsync ignores aws.rds events: both are the schedule's; " + verdict
    rows = [
        (
            "Aurora failover: seconds from the writer endpoint's DNS flip to the writer "
            "group holding only the new writer (TGSYNC_STALE_AFTER=0), median (min to max)",
            f"with the event and following: {with_event.show(' s', 1)}",
            f"schedule alone: {schedule.show(' s', 1)}",
            f"{ratio(with_event, schedule)}; {verdict}",
        )
    ]
    for event, how in ((True, "with the event and following"), (False, "schedule alone")):
        one, two = figures[("rds", 1, event)], figures[("rds", 2, event)]
        rows.append(
            (
                f"Aurora failover with resolve=rds, {how}: seconds from the failover "
                "to the writer group holding only the new writer, median (min to max)",
                f"one read (tgsync): {one.show(' s', 1)}",
                f"two agreeing reads: {two.show(' s', 1)}",
                f"waiting for a second read costs {two.median - one.median:+.1f} s median",
            )
        )
    note = (
        f"Aurora failover: moto's FailoverDBCluster, then the lab's DNS flips the writer "
        f"endpoint; for a window of 1 to 4 s (seeded) its answers alternate between the old "
        f"and the new writer, and the old writer stays healthy (a reader still accepts TCP). "
        f"The flip lands at a random moment of the minute; the schedule ticks every "
        f"{TICK:.0f} s with a {TIMEOUT:.0f} s timeout and follow-ups every "
        f"{FOLLOW_EVERY:.0f} s (the stack's values) on a simulated clock. With the event, "
        f"the aws.rds RDS-EVENT-0073 (failover started) invokes the function 0 to "
        f"{EVENT_LEAD:.0f} s before the flip, one invocation after another (on AWS it may "
        "run beside a scheduled one). Cycles are real; their wall time is added. With "
        "resolve=rds the writer group follows moto's IsClusterWriter, which moves at the "
        "flip; 'two agreeing reads' retires the old writer only once two reads in a row "
        "lack it (a wrapper around tgsync's source, measured to weigh that rule; tgsync "
        "trusts one read)."
    )
    return Section("An Aurora failover", rows=rows, notes=[note])


class TwoReads:
    """A source whose answer is united with its previous read's: what two reads in a row
    agree is gone is retired, nothing sooner (the rule weighed here, not tgsync's)."""

    def __init__(self, inner: Source) -> None:
        self._inner = inner
        self._last: dict[str, frozenset[str]] = {}

    def resolve(
        self, hostname: str, record_type: str, lookups: int, *, deadline: Deadline = NONE
    ) -> Resolution:
        """The inner source's answer, with the last read's members kept one read more."""
        found = self._inner.resolve(hostname, record_type, lookups, deadline=deadline)
        if found.error:
            return found
        before = self._last.get(hostname, found.answers)
        self._last[hostname] = found.answers
        return dataclasses.replace(found, answers=found.answers | before)


def _sources(reads: int) -> Callable[[Elbv2Provider], Callable[..., Source]]:
    """The deployed sources, each wrapped in :class:`TwoReads` when two must agree."""

    def build(provider: Elbv2Provider) -> Callable[..., Source]:
        deployed = Sources(provider.aws)
        wrapped: dict[tuple[tuple[Nameserver, ...], str], Source] = {}

        def source_for(
            servers: tuple[Nameserver, ...], resolve: str = "dns", role_arn: str | None = None, /
        ) -> Source:
            inner = deployed(servers, resolve, role_arn)
            if reads == 1:
                return inner
            return wrapped.setdefault((servers, resolve), TwoReads(inner))

        return source_for

    return build


def _failover(
    peers: Peers,
    *,
    phase: float,
    lead: float,
    seed: int,
    event: bool,
    resolve: str = "dns",
    reads: int = 1,
) -> tuple[float, bool]:
    """(seconds from the flip to the writer group holding only the new writer, whether
    the event ran a cycle)."""
    peers.moto.reset()
    elbv2 = peers.elbv2()
    arn = create_target_group(elbv2, "aurora-writer", port=5432, protocol="TCP")
    peers.moto.update_control(default_state="healthy")
    peers.dns.reseed(seed)
    lab = Aurora.create(boto3.client("rds", region_name=REGION), peers.dns, seed=seed)
    window = lab.window()
    clock = [1_700_000_000.0]
    cfg = config.load(
        {
            config.HOSTNAME: lab.endpoint,
            config.TARGET_GROUP_ARN: arn,
            config.DNS_SERVERS: peers.dns.address,
            config.STALE_AFTER: "0",
            config.FOLLOW_INTERVAL: str(FOLLOW_EVERY),
            setting("resolve").env: resolve,
        }
    )
    tgsync = controller(cfg, clock=lambda: clock[0], sources=_sources(reads))
    tgsync.run_once()  # the writer is registered before anything moves
    start = clock[0] + TICK
    flip_at = start + phase
    state: dict[str, Any] = {"new": None, "settled": None}
    began = [0.0]

    def world() -> None:
        if state["new"] is None and clock[0] >= flip_at:
            _, state["new"] = lab.failover()
        if state["new"] is not None and lab.flipping and clock[0] >= flip_at + window:
            lab.settle()

    def sleep(seconds: float) -> None:
        clock[0] += seconds
        world()

    def seen(_cycle: CycleReport) -> None:
        if state["new"] is None or state["settled"] is not None:
            return
        held = {
            d["Target"]["Id"]
            for d in elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
        }
        if held == {state["new"].ip}:
            state["settled"] = clock[0] + time.perf_counter() - began[0]

    invocations: list[tuple[float, Trigger | None]] = [
        (start + TICK * minute, None) for minute in range(MINUTES + 1)
    ]
    heard = False
    if event:
        # The event names the new writer; moto's choice is the first reader.
        announced = classify(failover_event(lab, lab.readers()[0].identifier))
        heard = announced.runs
        if heard:
            invocations.append((flip_at - lead, announced))
    for at, trigger in sorted(invocations, key=lambda pair: pair[0]):
        if state["settled"] is not None:
            break
        clock[0] = max(clock[0], at)
        world()
        deadline = clock[0] + TIMEOUT
        began[0] = time.perf_counter()
        tgsync.run(
            sleep=sleep, on_cycle=seen, trigger=trigger, time_left=lambda d=deadline: d - clock[0]
        )
    lab.close()
    settled = state["settled"] if state["settled"] is not None else start + TICK * MINUTES
    return settled - flip_at, heard
