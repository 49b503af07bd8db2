"""Memory over a long followed change: the function's own process (a child interpreter,
:mod:`benchmarks.longrun`) kept warm through 25 simulated minutes with every mode on at
once, against the bench's moto, DNS server and fault proxy: its peak RSS, its RSS after
the first minutes against the end, and the boto3 clients it made.

The world the child sees lives here, on the child's simulated clock (the child tells it
each whole second it passes): blue/greens in DNS and health, a shared ``retire=owned``
group, discovered groups, an Aurora cluster failing over, and AWS failing now and then.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import json
import os
import random
from collections.abc import Callable
from typing import Any

import boto3

from benchmarks.harness import STILL, Section, steered
from benchmarks.peers import Peers
from testlab.aurora import Aurora, failover_event
from testlab.faultproxy import Fault
from testlab.peers import REGION, create_target_group
from tgsync import config
from tgsync.aws import ATTEMPT_SECONDS
from tgsync.deadline import MARGIN_SECONDS
from tgsync.settings import setting

#: The stack's schedule, function timeout and MemorySize; the row's target.
TICK, TIMEOUT, MEMORY_MB, TARGET_MB = 60.0, 55.0, 256, 96
#: Simulated minutes, and the early mark the end's RSS is compared with.
MINUTES, EARLY = 25, 5
#: Seconds between a DNS mapping's blue/greens at most (each mapping starts its own a
#: little after the one before), and when a blue/green's steps come after it starts: new
#: nodes checked healthy, the one that fails its first checks healthy, old nodes out of
#: DNS, old nodes shut down (failing their checks).
PERIOD = 240.0
HEALTHY, LATE_HEALTHY, OLD_GONE, OLD_DOWN = 45.0, 75.0, 120.0, 180.0
#: The seconds one AWS request takes on the simulated clock (a seeded draw).
LATENCY = (0.05, 0.3)
#: The chance, each time the child's clock passes a whole second (it tells the world),
#: that the next AWS request fails (ELB and RDS, both through the fault proxy), and the
#: kinds of failure by weight; one in ten fails three requests in a row (tgsync's
#: attempts per call).
FAULT_CHANCE = 0.3
FAULT_KINDS = ("throttle",) * 6 + ("500",) * 3 + ("503",)
#: The Aurora failovers, as fractions of the run; the RDS event comes this long before.
FAILOVERS, EVENT_LEAD = (0.3, 0.7), 12.0
#: Discovery adopts groups whose name starts with this; change events go to this bus.
PREFIX, BUS = "storm-disc-", "storm-changes"
#: Time left under which a call's attempt is shorter than usual: a deadline tier.
NEAR = MARGIN_SECONDS + ATTEMPT_SECONDS
SEED = 29


def stage(peers: Peers, minutes: int = MINUTES, early: int = EARLY) -> Section:
    """The memory rows: ``minutes`` simulated minutes, RSS compared after ``early``."""
    saved = peers.dns.seed
    world = World(peers, minutes, early)
    try:
        found = steered(
            "benchmarks.longrun", env=world.environ(), answer=world.answer, timeout=1800
        )
        writer_kept, failed = world.writer_kept(), world.failed_requests()
    finally:
        world.close()
        peers.dns.reseed(saved)
    return _section(found, world, minutes, early, writer_kept=writer_kept, failed=failed)


def _section(
    found: dict[str, Any], world: World, minutes: int, early: int, *, writer_kept: bool, failed: int
) -> Section:
    """The rows and the notes of one run."""
    peak, end = found["peak_kb"] / 1024, found["rss_kb"] / 1024
    then = found["early"]["rss_kb"] / 1024
    verdict = "met" if peak < TARGET_MB else "not met"
    # An older tgsync (PYTHONPATH) has no Aws.clients_made(): botocore's count stands in.
    clients = found["clients"] if found["clients"] is not None else found["clients_counted"]
    every = max(1, early)
    series = ", ".join(f"{kb / 1024:.1f}" for kb in found["minutes_kb"][every::every])
    errors = ", ".join(f"{n} {kind}" for kind, n in sorted(found["errors"].items()))
    work = NEAR - MARGIN_SECONDS
    rows = [
        (
            f"peak RSS over a {minutes}-minute followed change, every mode on "
            f"(target: under {TARGET_MB} MB)",
            f"{peak:.1f} MB",
            "",
            f"target under {TARGET_MB} MB: {verdict}",
        ),
        (
            f"RSS after the first {early} minutes, and at the end",
            f"{then:.1f} MB, then {end:.1f} MB",
            "",
            f"growth {end - then:+.1f} MB",
        ),
        (
            "boto3 clients the process made (Aws.clients_made())",
            f"{clients} (at most {max(found['clients_by_service'].values())} per service and "
            "region)",
            "",
            f"{found['early']['clients']} after {early} minutes",
        ),
        (
            f"AWS requests, and those sent with under {work:.0f} s of work left (through a "
            "deadline tier's client)",
            f"{found['requests']:,}, {found['near_deadline']:,} "
            f"of them (least {found['least_left'] - MARGIN_SECONDS:.1f} s)",
            "",
            f"{found['invocations']} invocations, {found['cycles']} cycles",
        ),
    ]
    how = (
        "Memory: one run of tgsync's Lambda handler in a process of its own, one "
        "invocation after another as in one warm execution environment: a scheduled one "
        f"every {TICK:.0f} s with a {TIMEOUT:.0f} s timeout, and the RDS event "
        f"{EVENT_LEAD:.0f} s before each failover; following every 10 s. The whole process "
        "runs on a simulated clock, which moves when tgsync waits (pacing, backoff, the "
        f"follow interval) and {LATENCY[0] * 1000:.0f} to {LATENCY[1] * 1000:.0f} ms for "
        "each AWS request, so that invocations follow into their last seconds (under "
        f"{work:.0f} s of work left, a call's attempt is cut short: a deadline tier). "
        f"Every mode at once: {world.described}. Every ELB and RDS request goes through "
        "the fault proxy, which fails the next one (throttling, 500 or 503; one in ten "
        "three in a row, as many as tgsync's attempts) at a random "
        f"{FAULT_CHANCE:.0%} of the simulated seconds in which tgsync works. Cycles are "
        "real (moto, the lab's DNS server). Peak RSS is the process's VmHWM (getrusage's "
        "ru_maxrss of a child carries its parent's peak across exec); the row's target is "
        f"under {TARGET_MB} MB, the stack's MemorySize {MEMORY_MB} MB."
    )
    seen = (
        f"In this run: {found['requests']:,} AWS requests, {failed:,} of them failed by "
        f"the proxy; invocations that ended in an error: {errors or 'none'}; the writer "
        f"group held the writer moto names at the end: {'yes' if writer_kept else 'no'}; "
        f"RSS every {every} minutes: {series} MB."
    )
    return Section("Memory over a long followed change", rows=rows, notes=[how, seen])


class World:
    """What the child's tgsync sees change, on its clock: fixtures made now, changes
    applied when the child says their time has come."""

    def __init__(self, peers: Peers, minutes: int, early: int) -> None:
        self.peers = peers
        self.span = minutes * TICK
        self.rng = random.Random(SEED)
        self.period = min(PERIOD, self.span / 2)
        self._changes: list[tuple[float, int, Callable[[], object]]] = []
        self._order = itertools.count()
        peers.moto.reset()
        peers.proxy.clear()
        peers.dns.reseed(SEED)
        peers.moto.update_control(default_state="initial")
        self.elbv2 = peers.elbv2()
        self.vpc = boto3.client("ec2", region_name=REGION).create_vpc(CidrBlock="10.0.0.0/16")[
            "Vpc"
        ]["VpcId"]
        self.mappings: list[dict[str, Any]] = []
        blue_greens = self._dns_mappings()
        self.lab = Aurora.create(
            boto3.client("rds", region_name=REGION, endpoint_url=peers.moto.endpoint),
            peers.dns,
            seed=SEED,
        )
        events = self._aurora()
        kms = boto3.client("kms", region_name=REGION, endpoint_url=peers.moto.endpoint)
        self.record_key = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")[
            "KeyMetadata"
        ]["Arn"]
        boto3.client(
            "events", region_name=REGION, endpoint_url=peers.moto.endpoint
        ).create_event_bus(Name=BUS)
        self.described = (
            f"{blue_greens} DNS mappings each in a blue/green every {self.period:.0f} s "
            f"(new nodes in DNS, initial then healthy {HEALTHY:.0f} s later, one failing "
            f"its checks until {LATE_HEALTHY:.0f} s; old nodes out of DNS at "
            f"{OLD_GONE:.0f} s and failing at {OLD_DOWN:.0f} s; one name's answers "
            "rotating), two of them retire=owned on one shared group, three found by "
            f"discovery (TGSYNC_DISCOVER=tags, TGSYNC_DISCOVER_PREFIX={PREFIX}), and a "
            "resolve=rds writer (TGSYNC_STALE_AFTER=0) and reader mapping on the Aurora "
            f"lab with {len(FAILOVERS)} failovers; ownership records signed with a KMS "
            f"HMAC key (TGSYNC_RECORD_KEY) and every change an event on a bus "
            f"(TGSYNC_EVENT_BUS={BUS})"
        )
        ticks = [
            [STILL + TICK * minute, {"source": "tgsync.schedule"}] for minute in range(minutes)
        ]
        self.plan = {
            "start": STILL,
            "timeout": TIMEOUT,
            "latency": LATENCY,
            "seed": SEED,
            "near": NEAR,
            "early": STILL + early * TICK,
            "invocations": sorted(ticks + events, key=lambda pair: pair[0]),
        }

    # ------------------------------------------------------------------ the child's view

    def environ(self) -> dict[str, str]:
        """The child's environment: the function's settings, RDS through the proxy (KMS
        and EventBridge speak JSON, which the proxy's faults do not: straight to moto)."""
        return {
            **os.environ,
            config.MAPPINGS: json.dumps(self.mappings),
            config.DNS_SERVERS: self.peers.dns.address,
            config.DISCOVER: "tags",
            config.DISCOVER_PREFIX: PREFIX,
            config.EVENT_BUS: BUS,
            setting("record_key").env: self.record_key,
            "AWS_REGION": REGION,
            "AWS_ENDPOINT_URL_RDS": self.peers.proxy.endpoint,
            "POWERTOOLS_SERVICE_NAME": "tgsync",
            "POWERTOOLS_METRICS_NAMESPACE": "tgsync",
            "POWERTOOLS_LOG_LEVEL": "INFO",
        }

    def answer(self, message: dict[str, Any]) -> dict[str, Any]:
        """The plan for ``hello``; for ``at``, the world brought up to that moment."""
        if message.get("hello"):
            return self.plan
        self._until(float(message["at"]) - STILL)
        return {}

    def _until(self, now: float) -> None:
        """Apply every change due by ``now`` (seconds into the run), and this second's
        fault, if any."""
        while self._changes and self._changes[0][0] <= now:
            _, _, change = heapq.heappop(self._changes)
            change()
        proxy = self.peers.proxy
        with proxy.lock:
            proxy.faults.clear()  # a fault not taken within its second is not kept
        if self.rng.random() < FAULT_CHANCE:
            times = 3 if self.rng.random() < 0.1 else 1
            proxy.inject(Fault(self.rng.choice(FAULT_KINDS), "*", times=times))

    def _at(self, when: float, change: Callable[[], object]) -> None:
        """Apply ``change`` once the run is ``when`` seconds in."""
        heapq.heappush(self._changes, (when, next(self._order), change))

    # ------------------------------------------------------------------ fixtures

    def _dns_mappings(self) -> int:
        """Three groups of their own, two mappings sharing one (retire=owned) and three
        discovered groups; a blue/green schedule for each name. Returns how many names
        change."""
        names = []
        for i in range(3):
            arn = self._group(f"storm-web-{i}")
            names.append(f"web-{i}.storm.example")
            self.mappings.append({"hostname": names[-1], "target_group_arn": arn})
        shared = self._group("storm-shared")
        for colour in ("blue", "green"):
            names.append(f"{colour}.storm.example")
            self.mappings.append(
                {"hostname": names[-1], "target_group_arn": shared, "retire": "owned"}
            )
        for i in range(3):
            names.append(f"disc-{i}.storm.example")
            self._group(f"{PREFIX}{i}", names[-1])
        for index, name in enumerate(names):
            self._blue_green(index, name, len(names), rotate=index == 2)
        return len(names)

    def _group(self, name: str, tagged: str | None = None, **kwargs: Any) -> str:
        """An ip target group in the run's VPC, tagged with ``tagged`` as its hostname."""
        arn = create_target_group(self.elbv2, name, vpc_id=self.vpc, **kwargs)
        if tagged:
            self.elbv2.add_tags(
                ResourceArns=[arn], Tags=[{"Key": "tgsync:hostname", "Value": tagged}]
            )
        return arn

    def _blue_green(self, index: int, name: str, names: int, *, rotate: bool) -> None:
        """``name`` answers three nodes, replaced by three new ones every period (the
        names take turns): see :data:`PERIOD` for the steps."""

        def nodes(generation: int) -> list[str]:
            return [f"10.0.{10 + index}.{10 + 3 * generation + i}" for i in range(3)]

        def serve(ips: list[str]) -> Callable[[], None]:
            return lambda: self.peers.dns.set(name, a=ips, subset=2 if rotate else None)

        def health(ips: list[str], state: str, reason: str | None = None) -> Callable[[], None]:
            def change() -> None:
                for ip in ips:
                    self.peers.moto.set_health(ip, state, reason)

            return change

        serve(nodes(0))()
        health(nodes(0), "healthy")()
        start, generation = 20 + index * self.period / names, 1
        while start < self.span:
            old, new = nodes(generation - 1), nodes(generation)
            self._at(start, serve(old + new))
            self._at(start, health(new[:1], "unhealthy", "Target.FailedHealthChecks"))
            self._at(start, health(new[1:], "initial", "Elb.InitialHealthChecking"))
            self._at(start + HEALTHY, health(new[1:], "healthy"))
            self._at(start + LATE_HEALTHY, health(new[:1], "healthy"))
            self._at(start + OLD_GONE, serve(new))
            self._at(start + OLD_DOWN, health(old, "unhealthy", "Target.FailedHealthChecks"))
            start, generation = start + self.period, generation + 1

    def _aurora(self) -> list[list[Any]]:
        """The writer and reader mappings, every member healthy, the failovers and the
        RDS event invocations that announce them."""
        lab = self.lab
        for instance in lab.instances.values():
            self.peers.moto.set_health(instance.ip, "healthy")
        writer = self._group("storm-writer", port=5432, protocol="TCP")
        self.writer_arn = writer
        readers = self._group("storm-readers", port=5432, protocol="TCP")
        self.mappings += [
            {
                "hostname": lab.endpoint,
                "target_group_arn": writer,
                "resolve": "rds",
                "stale_after": 0,
            },
            {"hostname": lab.reader_endpoint, "target_group_arn": readers, "resolve": "rds"},
        ]
        events = []
        for number, fraction in enumerate(FAILOVERS, 1):
            at = round(fraction * self.span) + 7
            self._at(at, functools.partial(self._failover, at))
            event = failover_event(lab, lab.readers()[0].identifier)
            event["id"] = f"storm-failover-{number}"
            events.append([STILL + at - EVENT_LEAD, event])
        return events

    def _failover(self, at: float) -> None:
        """Fail the cluster over at ``at``; its DNS settles after the lab's window."""
        window = self.lab.window()
        self.lab.failover()
        self._at(at + window, self.lab.settle)

    # ------------------------------------------------------------------ after the run

    def writer_kept(self) -> bool:
        """True if the writer group holds exactly the writer moto names."""
        held = {
            d["Target"]["Id"]
            for d in self.elbv2.describe_target_health(TargetGroupArn=self.writer_arn)[
                "TargetHealthDescriptions"
            ]
        }
        return held == {self.lab.writer().ip}

    def failed_requests(self) -> int:
        """Requests the proxy failed on purpose."""
        return sum(1 for r in self.peers.proxy.since(0) if r.outcome != "passed")

    def close(self) -> None:
        """Leave the peers as the other stages expect them."""
        self.lab.close()
        self.peers.proxy.clear()
        self.peers.moto.reset()
