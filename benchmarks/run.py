"""Benchmarks: what tgsync costs, side by side with the original function's behaviour.

``make bench`` (or ``python -m benchmarks.run``) starts moto's server, a counting
proxy in front of it and a real DNS server, all on 127.0.0.1, and measures in one
process:

- ELB API requests and DNS queries per steady and per changing cycle;
- wall time of those cycles;
- cold start (import the handler and run the first cycle in a fresh interpreter)
  against the cost of importing boto3 alone, and that process's peak RSS;
- scale: 1, 10, 100 and 500 target groups in one invocation, checked against ELB's
  Describe budget (bursts of 40, about 10 a second);
- following: how soon a node joining DNS during a blue/green is registered, with and
  without follow mode, and what following costs in GB-seconds (a simulated clock for
  the schedule and the follow interval; every cycle real);
- the deployable zip's size, and a monthly cost note.

The baseline is the original Go function's call sequence, re-created here with boto3
(see :class:`Original`) and run against the same servers, so every figure is a ratio
measured side by side. Each figure is the median over repeated runs, with its spread
(min to max). The table is printed and written to ``out/benchmarks.md`` (``--output
benchmarks/results.md``, i.e. ``make bench-update``, refreshes the tracked copy).
Each stage says on stderr when it starts and how long it took.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import boto3
import dns.resolver

from testlab.faultproxy import FaultProxy
from testlab.peers import (
    REGION,
    DnsPeer,
    MotoPeer,
    attach_to_load_balancer,
    create_target_group,
)
from tgsync import config
from tgsync.controller import Controller
from tgsync.pacing import DEFAULT_BURST
from tgsync.registry import TagRegistry
from tgsync.report import logger
from tgsync.wiring import build_controller, build_provider, dns_source

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent.parent / "out" / "benchmarks.md"
HOST = "vpc-bench-abc123.eu-west-1.es.amazonaws.com"
IPS = ["10.0.1.10", "10.0.2.10", "10.0.3.10"]
MINUTES_PER_MONTH = 60 * 24 * 30
#: Lambda prices (us-east-1, per GB-second and per request), for the cost note only.
PRICE_GB_SECOND = {"arm64": 0.0000133334, "x86_64": 0.0000166667}
PRICE_REQUEST = 0.20 / 1_000_000
DESCRIBE_BURST, DESCRIBE_RATE = 40, 10.0
MEMORY_GB = 0.25  # the stack's MemorySize: 256 MB


# --------------------------------------------------------------------------- figures


@dataclass
class Figure:
    """A measured quantity: the samples, summarised as median and min to max."""

    samples: list[float] = field(default_factory=list)

    def add(self, value: float) -> None:
        self.samples.append(value)

    @property
    def median(self) -> float:
        return statistics.median(self.samples) if self.samples else float("nan")

    def show(self, unit: str = "", digits: int = 0) -> str:
        if not self.samples:
            return "n/a"
        low, high = min(self.samples), max(self.samples)
        text = f"{self.median:.{digits}f}{unit}"
        if high - low > 10 ** -digits / 2:
            text += f" ({low:.{digits}f} to {high:.{digits}f})"
        return text


def throttled(times: Sequence[float], burst: int = DESCRIBE_BURST,
              rate: float = DESCRIBE_RATE) -> tuple[int, float]:
    """Replay request times through ELB's token bucket: (would be throttled, lowest level)."""
    tokens, last, denied, lowest = float(burst), None, 0, float(burst)
    for at in sorted(times):
        if last is not None:
            tokens = min(burst, tokens + (at - last) * rate)
        last = at
        if tokens >= 1:
            tokens -= 1
            lowest = min(lowest, tokens)
        else:
            denied += 1
    return denied, lowest


# --------------------------------------------------------------------------- baseline


class Original:
    """The original Go function's cycle, call for call (see the seed article).

    Resolve and keep the first IPv4 answer; DescribeLoadBalancers; DescribeTargetGroups
    of that load balancer; DescribeTargetHealth to see if the IP is registered;
    RegisterTargets on port 443 if not; DescribeTargetHealth again; one
    DeregisterTargets per unhealthy target.
    """

    def __init__(self, hostname: str, alb_arn: str, target_group_arn: str,
                 nameserver: tuple[str, int]) -> None:
        self.hostname, self.alb_arn, self.arn = hostname, alb_arn, target_group_arn
        self.elbv2 = boto3.client("elbv2", region_name=REGION)
        self.resolver = dns.resolver.Resolver(configure=False)
        self.resolver.nameservers = [nameserver[0]]
        self.resolver.port = nameserver[1]
        self.resolver.cache = None

    def cycle(self) -> None:
        ip = self.resolver.resolve(self.hostname, "A")[0].to_text()
        lb = self.elbv2.describe_load_balancers(LoadBalancerArns=[self.alb_arn])
        lb_arn = lb["LoadBalancers"][0]["LoadBalancerArn"]
        groups = self.elbv2.describe_target_groups(LoadBalancerArn=lb_arn)["TargetGroups"]
        arn = next(g["TargetGroupArn"] for g in groups if g["TargetGroupArn"] == self.arn)
        health = self.elbv2.describe_target_health(TargetGroupArn=arn)
        if not any(d["Target"]["Id"] == ip for d in health["TargetHealthDescriptions"]):
            self.elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": ip, "Port": 443}])
        health = self.elbv2.describe_target_health(TargetGroupArn=arn)
        for description in health["TargetHealthDescriptions"]:
            if description["TargetHealth"]["State"] == "unhealthy":
                self.elbv2.deregister_targets(TargetGroupArn=arn,
                                              Targets=[description["Target"]])


# --------------------------------------------------------------------------- the bench


class Bench:
    def __init__(self, workdir: Path, repeats: int) -> None:
        self.repeats = repeats
        self.moto = MotoPeer(workdir).start()
        self.dns = DnsPeer(seed=1).start()
        self.proxy = FaultProxy(self.moto.port).start()
        os.environ.update(self.moto.environ())
        os.environ["AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2"] = self.proxy.endpoint
        self.rows: list[tuple[str, str, str, str]] = []
        self.notes: list[str] = []

    def stop(self) -> None:
        self.proxy.stop()
        self.dns.stop()
        self.moto.stop()

    # ------------------------------------------------------------------ fixtures

    def fresh_group(self, name: str = "bench") -> tuple[str, str]:
        """A clean moto with an ALB forwarding to an ip target group: (alb, group)."""
        self.moto.reset()
        elbv2 = boto3.client("elbv2", region_name=REGION, endpoint_url=self.moto.endpoint)
        arn = create_target_group(elbv2, name)
        return attach_to_load_balancer(elbv2, arn, "alb"), arn

    def many_groups(self, size: int) -> tuple[Any, list[dict[str, str]]]:
        """A clean moto with ``size`` groups in one VPC, a name for each in DNS."""
        self.moto.reset()
        elbv2 = boto3.client("elbv2", region_name=REGION, endpoint_url=self.moto.endpoint)
        vpc = boto3.client("ec2", region_name=REGION).create_vpc(
            CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        mappings = []
        for i in range(size):
            arn = create_target_group(elbv2, f"tg-{i}", vpc_id=vpc)
            hostname = f"vpc-d{i}-abc.eu-west-1.es.amazonaws.com"
            self.dns.set(hostname, a=[f"10.{1 + i // 250}.{i % 250}.10"])
            mappings.append({"hostname": hostname, "target_group_arn": arn})
        return elbv2, mappings

    def tgsync(self, arn: str, hostname: str = HOST,
               clock: Callable[[], float] = lambda: 1_700_000_000.0,
               **env: str) -> tuple[Controller, config.Config]:
        """A controller on ``clock`` (by default one that stands still: back-to-back
        cycles are one minute's), with ``env`` added to its configuration."""
        cfg = config.load({config.HOSTNAME: hostname, config.TARGET_GROUP_ARN: arn,
                           config.DNS_SERVERS: self.dns.address, **env})
        provider = build_provider(cfg)
        return Controller(provider, TagRegistry(provider), dns_source, clock=clock), cfg

    def measure(self, run: Callable[[], Any]) -> tuple[float, Counter[str], int]:
        """(seconds, ELB requests by operation, DNS queries) of one call of ``run``."""
        mark, queries = self.proxy.mark(), len(self.dns.queries)
        started = time.perf_counter()
        run()
        seconds = time.perf_counter() - started
        requests = Counter(r.action for r in self.proxy.since(mark))
        return seconds, requests, len(self.dns.queries) - queries

    # ------------------------------------------------------------------ cycles

    def cycles(self) -> None:
        figures: dict[str, dict[str, Figure]] = {}
        for who in ("tgsync", "original"):
            for kind in ("steady", "changing"):
                seconds, calls, queries = Figure(), Figure(), Figure()
                for _ in range(self.repeats):
                    alb, arn = self.fresh_group()
                    self.dns.set(HOST, a=IPS)
                    run: Callable[[], object]
                    if who == "tgsync":
                        controller, cfg = self.tgsync(arn)
                        run = functools.partial(controller.run_once, cfg)
                    else:
                        run = Original(HOST, alb, arn, ("127.0.0.1", self.dns.port)).cycle
                    run()
                    run()  # warm: clients, caches and moto's backends are loaded
                    if kind == "changing":  # blue/green of one node: new IP, old one fails
                        self.dns.set(HOST, a=["10.0.1.20", *IPS[1:]])
                        self.moto.set_health(IPS[0], "unhealthy", "Target.FailedHealthChecks")
                    took, requests, asked = self.measure(run)
                    seconds.add(took * 1000)
                    calls.add(sum(requests.values()))
                    queries.add(asked)
                figures[f"{who} {kind}"] = {"ms": seconds, "calls": calls, "dns": queries}
        for kind in ("steady", "changing"):
            ours, theirs = figures[f"tgsync {kind}"], figures[f"original {kind}"]
            self.rows.append((f"ELB API requests per {kind} cycle, per target group",
                              ours["calls"].show(), theirs["calls"].show(),
                              _ratio(ours["calls"], theirs["calls"])))
            self.rows.append((f"DNS queries per {kind} cycle", ours["dns"].show(),
                              theirs["dns"].show(), _ratio(ours["dns"], theirs["dns"])))
            self.rows.append((f"wall time of a {kind} cycle", ours["ms"].show(" ms", 1),
                              theirs["ms"].show(" ms", 1), _ratio(ours["ms"], theirs["ms"])))
        self.steady_ms = figures["tgsync steady"]["ms"].median
        self.original_steady_ms = figures["original steady"]["ms"].median
        self.steady_calls = figures["tgsync steady"]["calls"].median
        self.original_steady_calls = figures["original steady"]["calls"].median
        self.notes.append(
            "The original registers only the first IPv4 answer, so its steady cycle "
            "keeps one of the three IPs; its changing cycle registers the new first IP "
            "and deregisters the failed one, each with its own call.")

    # ------------------------------------------------------------------ cold start

    def cold_start(self) -> None:
        _, arn = self.fresh_group()
        self.dns.set(HOST, a=IPS)
        env = {**os.environ, "TGSYNC_HOSTNAME": HOST, "TGSYNC_TARGET_GROUP_ARN": arn,
               "TGSYNC_DNS_SERVERS": self.dns.address, "POWERTOOLS_LOG_LEVEL": "WARNING",
               "POWERTOOLS_METRICS_DISABLED": "true"}
        boto_import, handler_import, first, total, rss, boto_rss = (Figure() for _ in range(6))
        for _ in range(self.repeats):
            result = _child(COLD_START_SCRIPT, env)
            handler_import.add(result["import"] * 1000)
            first.add(result["first_cycle"] * 1000)
            total.add((result["import"] + result["first_cycle"]) * 1000)
            rss.add(result["rss_kb"] / 1024)
            baseline = _child(BOTO_IMPORT_SCRIPT, env)
            boto_import.add(baseline["import"] * 1000)
            boto_rss.add(baseline["rss_kb"] / 1024)
        self.rows.append(("cold start: import the handler module", handler_import.show(" ms"),
                          f"import boto3 alone: {boto_import.show(' ms')}",
                          _ratio(handler_import, boto_import)))
        self.rows.append(("cold start: first cycle (facts, tags, health, register)",
                          first.show(" ms"), "", ""))
        self.rows.append(("cold start: import + first cycle", total.show(" ms"), "", ""))
        self.rows.append(("peak RSS of that process (target: under 64 MB)",
                          rss.show(" MB", 1), f"boto3 alone: {boto_rss.show(' MB', 1)}", ""))

    # ------------------------------------------------------------------ following

    def following(self) -> None:
        """A node joins DNS at a random moment of the minute after another one did (a
        blue/green under way): how long until it is registered, with following and
        without, and the GB-seconds the invocations took."""
        rng = random.Random(7)
        phases = [rng.uniform(0, 60) for _ in range(self.repeats)]
        figures = {}
        for follow in (True, False):
            reaction, busy, longest = Figure(), Figure(), Figure()
            for phase in phases:
                seconds, used, invocation = self._join_during_blue_green(phase, follow)
                reaction.add(seconds)
                busy.add(used * MEMORY_GB)
                longest.add(invocation)
            figures[follow] = (reaction, busy, longest)
        (on, on_gbs, on_longest), (off, off_gbs, _) = figures[True], figures[False]
        self.rows.append(("following: seconds from a node joining DNS (mid blue/green) to "
                          "its registration, median (min to max)",
                          f"following on: {on.show(' s', 1)}",
                          f"following off: {off.show(' s', 1)}", _ratio(on, off)))
        extra = Figure([a - b for a, b in zip(on_gbs.samples, off_gbs.samples, strict=True)])
        self.rows.append(("following: extra Lambda GB-seconds per blue/green join (256 MB)",
                          extra.show(" GB-s", 1),
                          f"${extra.median * PRICE_GB_SECOND['arm64']:.5f} a join", ""))
        worst = MINUTES_PER_MONTH * max(on_longest.samples) * MEMORY_GB
        self.rows.append(("following: worst case a month, every invocation following to "
                          "its limit (DNS changing every minute, forever)",
                          f"{worst:,.0f} GB-s, ${worst * PRICE_GB_SECOND['arm64']:.2f}",
                          "", f"longest invocation {max(on_longest.samples):.1f} s"))
        self.notes.append(
            "Following: the schedule ticks every 60 s and the function times out at 55 s "
            "(the stack's values) on a simulated clock, follow-ups every 10 s; the first "
            "new node is registered at a tick, the second joins DNS at a random moment of "
            "the next minute (the same moments with and without following) while the "
            "first is still initial (healthy 90 s after registration). Cycles are real "
            "(moto and DNS on 127.0.0.1); their wall time is added to the simulated one.")

    def _join_during_blue_green(self, phase: float, follow: bool) -> tuple[float, float,
                                                                             float]:
        """(seconds from B joining DNS to its registration, invocation seconds over
        eight minutes, the longest invocation)."""
        _, arn = self.fresh_group()
        first, second = "10.0.1.20", "10.0.2.20"
        for ip in IPS:
            self.moto.set_health(ip, "healthy")
        self.moto.update_control(default_state="initial")
        self.dns.set(HOST, a=IPS)
        clock = [1_700_000_000.0]
        controller, cfg = self.tgsync(arn, clock=lambda: clock[0], **{
            config.FOLLOW_INTERVAL: "10" if follow else "0"})
        settle = replace(cfg, follow_interval=0.0)
        controller.run(settle)
        clock[0] += 60
        controller.run(settle)
        start = clock[0] + 60
        joins_at = start + phase
        registered_at: dict[str, float] = {}
        self.dns.set(HOST, a=[*IPS, first])

        def world() -> None:
            if clock[0] >= joins_at:
                self.dns.set(HOST, a=[*IPS, first, second])
            for ip, at in registered_at.items():
                if clock[0] >= at + 90:
                    self.moto.set_health(ip, "healthy")

        def sleep(seconds: float) -> None:
            clock[0] += seconds
            world()

        def seen(cycle: Any) -> None:
            for report in cycle.mappings:
                for ip in report.registered_ips:
                    registered_at.setdefault(ip, clock[0] + time.perf_counter() - began[0])

        busy, longest, began = 0.0, 0.0, [0.0]
        for minute in range(8):
            clock[0] = start + 60 * minute
            world()
            def time_left(deadline: float = clock[0] + 55) -> float:
                return deadline - clock[0]

            began[0], at = time.perf_counter(), clock[0]
            controller.run(cfg, sleep=sleep, on_cycle=seen, time_left=time_left)
            took = clock[0] - at + time.perf_counter() - began[0]
            busy, longest = busy + took, max(longest, took)
        self.moto.update_control(default_state="healthy")
        return registered_at[second] - joins_at, busy, longest

    # ------------------------------------------------------------------ scale

    def scale(self, sizes: Sequence[int]) -> None:
        for size in sizes:
            elbv2, mappings = self.many_groups(size)
            cfg = config.load({config.MAPPINGS: json.dumps(mappings),
                               config.DNS_SERVERS: self.dns.address})
            controller = build_controller(cfg)
            for label in ("first (cold)", "steady"):
                if label == "steady":  # a minute passes between ticks: the pacer refills
                    time.sleep(DEFAULT_BURST / cfg.api_rate)
                mark = self.proxy.mark()
                started = time.perf_counter()
                cycle = controller.run_once(cfg)
                seconds = time.perf_counter() - started
                requests = self.proxy.since(mark)
                describes = [r.at for r in requests if r.action.startswith("Describe")]
                denied, _ = throttled(describes)
                budget = ("yes" if not denied else f"no: {denied} would be throttled")
                self.rows.append((
                    f"{size} target group(s), {label} cycle",
                    f"{seconds:.1f} s, {len(requests)} requests, "
                    f"{'all ok' if cycle.ok else f'{len(cycle.failed)} failed'}",
                    "", f"inside Describe budget: {budget}"))
            if size >= 10:
                self._original_at_scale(size, elbv2, mappings)
        self.notes.append(
            f"Scale runs use the defaults: {config.DEFAULT_CONCURRENCY} target groups in "
            f"parallel and at most {config.DEFAULT_API_RATE:.0f} ELB calls a second in "
            "bursts of 20, so that a whole cycle stays inside ELB's Describe budget "
            f"(bursts of {DESCRIBE_BURST}, about {DESCRIBE_RATE:.0f} a second, per account "
            "and region) with room left for other callers.")

    def thousands(self, size: int) -> None:
        """One function keeping ``size`` groups found by discovery (a Lambda function's
        environment could not list them): steady minutes, and its cold start."""
        elbv2, mappings = self.many_groups(size)
        for mapping in mappings:  # so many groups declare themselves: discovery finds them
            elbv2.add_tags(ResourceArns=[mapping["target_group_arn"]], Tags=[
                {"Key": "tgsync:hostname", "Value": mapping["hostname"]}])
        # Re-reads of settled groups are what a steady minute costs: groups x 60 /
        # TGSYNC_RESYNC_EVERY Describe calls. At the default pace (8 a second) they take
        # under 30 s for RESYNC_EVERY >= groups / 4 s: 900 s for 3,000 groups.
        resync = max(config.DEFAULT_RESYNC_EVERY, 300 * math.ceil(size / 4 / 300))
        env = {**os.environ, "PYTHONPATH": str(ROOT), config.DISCOVER: "tags",
               "AWS_REGION": REGION, config.DNS_SERVERS: self.dns.address,
               config.RESYNC_EVERY: str(resync), "POWERTOOLS_LOG_LEVEL": "ERROR"}
        before = len(self.dns.queries)
        found = _child(THOUSANDS_SCRIPT, env, timeout=1800)
        queries = (len(self.dns.queries) - before) / found["cycles"]
        minute = Figure()
        calls = Figure()
        for took, made in zip(found["minutes"], found["calls"], strict=True):
            minute.add(took)
            calls.add(made)
        cold: dict[str, int] = found["cold"]
        rss = found["rss_kb"] / 1024
        self.rows.append((
            f"steady minute with {size:,} target groups (one function, "
            f"TGSYNC_RESYNC_EVERY={resync:.0f})",
            f"{minute.show(' s', 1)}, {calls.show()} ELB calls, {queries:,.0f} DNS queries",
            "", "targets: under 30 s, at most 600 calls"))
        self.rows.append((
            f"peak RSS of one function process keeping {size:,} groups (target: under 96 MB)",
            f"{rss:.1f} MB", "", ""))
        original = getattr(self, "original_steady_calls", 4.0)
        self.rows.append((
            f"{size:,} target groups, original, steady minute (computed)", "",
            f"{size:,} functions, {size * original:,.0f} Describe calls on the minute",
            f"ELB's Describe budget: about {DESCRIBE_RATE * 60:.0f} a minute"))
        describes = sum(n for op, n in cold.items() if op.startswith("Describe"))
        usable = 55 - 10  # the function's timeout less the margin it keeps
        rate = config.DEFAULT_API_RATE
        minutes = max(1, math.ceil(describes / rate / usable))
        self.rows.append((
            f"cold start with {size:,} target groups: minutes until every group was read",
            f"{minutes:.0f} ({describes:,} Describe calls at {rate:.0f} a second, "
            f"{usable} s an invocation)", "",
            "paced, never a burst: the rest is deferred to the next invocation"))

    def discovery(self, size: int) -> None:
        """What a discovery read of ``size`` groups costs (a tenth of them tagged)."""
        self.moto.reset()
        elbv2 = boto3.client("elbv2", region_name=REGION, endpoint_url=self.moto.endpoint)
        vpc = boto3.client("ec2", region_name=REGION).create_vpc(
            CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        for i in range(size):
            arn = create_target_group(elbv2, f"tg-{i}", vpc_id=vpc)
            if i % 10 == 0:
                elbv2.add_tags(ResourceArns=[arn], Tags=[{"Key": "tgsync:hostname",
                                                          "Value": f"vpc-d{i}-abc.example"}])
        cfg = config.load({config.DISCOVER: "tags", "AWS_REGION": REGION})
        provider = build_provider(cfg)
        seconds, requests, _ = self.measure(lambda: provider.discover(REGION))
        self.rows.append((
            f"discovery read of {size} target groups ({size // 10} tagged)",
            f"{seconds:.1f} s, {sum(requests.values())} requests "
            f"({requests['DescribeTargetGroups']} DescribeTargetGroups, "
            f"{requests['DescribeTags']} DescribeTags)",
            "", f"once per TGSYNC_DISCOVER_EVERY ({config.DEFAULT_DISCOVER_EVERY:.0f} s)"))

    def _original_at_scale(self, size: int, elbv2: Any, mappings: list[dict[str, str]]) -> None:
        """The original needs one function per target group, all firing on the minute."""
        alb = attach_to_load_balancer(elbv2, [m["target_group_arn"] for m in mappings],
                                      "alb-scale")
        functions = [Original(m["hostname"], alb, m["target_group_arn"],
                              ("127.0.0.1", self.dns.port)) for m in mappings]
        for function in functions:
            function.cycle()  # first ticks: register
        mark = self.proxy.mark()
        started = time.perf_counter()
        for function in functions:
            function.cycle()
        seconds = time.perf_counter() - started
        requests = self.proxy.since(mark)
        denied, _ = throttled([r.at for r in requests if r.action.startswith("Describe")])
        budget = "yes" if not denied else f"no: {denied} would be throttled"
        self.rows.append((f"{size} target groups, original, steady minute",
                          "", f"{size} functions, {len(requests)} requests in {seconds:.1f} s",
                          f"inside Describe budget: {budget}"))

    # ------------------------------------------------------------------ artifact, cost

    def artifact(self) -> None:
        sys.path.insert(0, str(ROOT / "deploy"))
        try:
            import package  # noqa: PLC0415 - deploy/ is not a package
            with tempfile.TemporaryDirectory() as work:
                path = package.build("arm64", Path(work) / "tgsync.zip")
                size = path.stat().st_size
        except Exception as exc:  # no PyPI here: report, do not fail
            self.rows.append(("deployable zip (arm64)", f"n/a ({exc})", "", ""))
            return
        self.rows.append(("deployable zip (arm64)", f"{size / 1e6:.2f} MB", "", ""))

    def cost(self) -> None:
        memory_gb = MEMORY_GB
        original_gb = 0.125  # the original set none: Lambda's default, 128 MB
        ours = MINUTES_PER_MONTH * max(1.0, self.steady_ms) / 1000 * memory_gb
        theirs = MINUTES_PER_MONTH * max(1.0, self.original_steady_ms) / 1000 * original_gb
        requests = MINUTES_PER_MONTH * PRICE_REQUEST
        self.rows.append((
            "per month at one cycle a minute: Lambda GB-seconds (steady cycles)",
            f"{ours:.0f} GB-s, ${ours * PRICE_GB_SECOND['arm64'] + requests:.3f}",
            f"{theirs:.0f} GB-s, ${theirs * PRICE_GB_SECOND['x86_64'] + requests:.3f}", ""))
        resyncs = MINUTES_PER_MONTH * 60 / config.DEFAULT_RESYNC_EVERY
        ours_calls = self.steady_calls * MINUTES_PER_MONTH + resyncs
        self.rows.append((
            "per month: ELB API calls per target group (steady), i.e. CloudTrail "
            "management events", f"{ours_calls:,.0f}",
            f"{self.original_steady_calls * MINUTES_PER_MONTH:,.0f}",
            f"steady cycles plus one read per TGSYNC_RESYNC_EVERY "
            f"({config.DEFAULT_RESYNC_EVERY:.0f} s)"))
        self.notes.append(
            f"Cost note: {MINUTES_PER_MONTH:,} invocations a month; GB-seconds = "
            "invocations x measured steady-cycle time here (on AWS add the round trip to "
            "the ELB endpoint, typically a few ms a call, and the runtime's own overhead) "
            "x memory (tgsync 256 MB on arm64 at $0.0000133334/GB-s; the original 128 MB "
            "on x86_64 at $0.0000166667/GB-s; us-east-1 prices), plus $0.20 per million "
            "requests. Both stay inside Lambda's monthly free tier. ELB API calls cost "
            "nothing but draw on the account's throttling budget, shared with every other "
            "ELB caller.")


def _ratio(ours: Figure, theirs: Figure) -> str:
    if not ours.samples or not theirs.samples or theirs.median == 0:
        return ""
    return f"x{ours.median / theirs.median:.2f}"


def _child(script: str, env: dict[str, str], timeout: float = 120) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=timeout, check=True)
    found: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


# Peak RSS from VmHWM: getrusage's ru_maxrss can carry the parent's peak across exec.
COLD_START_SCRIPT = """
import json, time
started = time.perf_counter()
import tgsync.lambda_handler as handler
imported = time.perf_counter()
handler.handler({}, None)
done = time.perf_counter()
hwm = next(l for l in open("/proc/self/status") if l.startswith("VmHWM"))
print(json.dumps({"import": imported - started, "first_cycle": done - imported,
                  "rss_kb": int(hwm.split()[1])}))
"""

# One function keeping many groups, in a process of its own (so its RSS is its own):
# a cold start (unpaced here; paced it takes minutes, computed by the caller), a
# settling cycle, then five steady minutes on a simulated clock, paced as deployed.
THOUSANDS_SCRIPT = """
import json, os, time
from testlab.counting import CountingProvider
from tgsync import config
from tgsync.controller import Controller
from tgsync.pacing import TokenBucket
from tgsync.provider.elbv2 import make_client
from tgsync.registry import TagRegistry
from tgsync.wiring import dns_source
cfg = config.load(os.environ)
clock = [1_700_000_000.0]
provider = CountingProvider(client_for_region=lambda r: make_client(r, max_pool_connections=10))
controller = Controller(provider, TagRegistry(provider), dns_source, clock=lambda: clock[0])
controller.run_once(cfg)
cold = dict(provider.calls)
clock[0] += 60
controller.run_once(cfg)
provider._pacer = TokenBucket(rate=cfg.api_rate)
provider._write_pacer = TokenBucket(rate=cfg.api_rate)
minutes, calls = [], []
for _ in range(5):
    clock[0] += 60
    before = sum(provider.calls.values())
    started = time.perf_counter()
    controller.run_once(cfg)
    minutes.append(time.perf_counter() - started)
    calls.append(sum(provider.calls.values()) - before)
hwm = next(l for l in open("/proc/self/status") if l.startswith("VmHWM"))
print(json.dumps({"cold": cold, "minutes": minutes, "calls": calls, "cycles": 7,
                  "rss_kb": int(hwm.split()[1])}))
"""

BOTO_IMPORT_SCRIPT = """
import json, time
started = time.perf_counter()
import boto3
boto3.client("elbv2", region_name="eu-west-1")
hwm = next(l for l in open("/proc/self/status") if l.startswith("VmHWM"))
print(json.dumps({"import": time.perf_counter() - started, "rss_kb": int(hwm.split()[1])}))
"""


def render(bench: Bench, elapsed: float) -> str:
    lines = [
        "# tgsync benchmarks",
        "",
        f"Measured by `make bench` on {time.strftime('%Y-%m-%d')}, {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, against moto's "
        "server and a DNS server on 127.0.0.1 (so wall times leave out the network to "
        f"AWS), {bench.repeats} runs per figure: median (min to max). Took "
        f"{elapsed:.0f} s.",
        "",
        "| figure | tgsync | original function | ratio / note |",
        "|---|---|---|---|",
    ]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in bench.rows]
    lines += ["", *[f"- {note}" for note in bench.notes], ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--scale", type=int, nargs="*", default=[1, 10, 100, 500])
    parser.add_argument("--quick", action="store_true",
                        help="3 repeats, 1 and 10 target groups, no zip (a smoke run)")
    parser.add_argument("--thousands", type=int, default=3000,
                        help="target groups for the one-function steady minute (0: skip)")
    parser.add_argument("--discover", type=int, default=1000,
                        help="target groups for the discovery read (default 1000)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.scale, args.discover, args.thousands = 3, [1, 10], 100, 50
    logger.setLevel("ERROR")  # the bench prints its own table
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="tgsync-bench-") as workdir:
        bench = Bench(Path(workdir), args.repeats)
        stages: list[tuple[str, Callable[[], object]]] = [
            (f"steady and changing cycles, {args.repeats} runs each", bench.cycles),
            (f"cold start, {args.repeats} fresh interpreters", bench.cold_start),
            (f"scale: {', '.join(map(str, args.scale))} target groups (paced: the biggest "
             "takes minutes)", lambda: bench.scale(args.scale)),
        ]
        stages.append((f"following a blue/green, {args.repeats} joins with and without",
                       bench.following))
        if args.thousands:
            stages.append((f"{args.thousands:,} target groups, steady minutes",
                           lambda: bench.thousands(args.thousands)))
        stages.append((f"discovery read of {args.discover} target groups",
                       lambda: bench.discovery(args.discover)))
        if not args.quick:
            stages.append(("the deployable zip", bench.artifact))
        stages.append(("monthly cost", bench.cost))
        try:
            for number, (title, stage) in enumerate(stages, start=1):
                print(f"bench [{number}/{len(stages)}] {title} ...", file=sys.stderr,
                      flush=True)
                begun = time.monotonic()
                stage()
                print(f"bench [{number}/{len(stages)}] done in "
                      f"{time.monotonic() - begun:.0f} s", file=sys.stderr, flush=True)
        finally:
            bench.stop()
    text = render(bench, time.monotonic() - started)
    print(text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    print(f"written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
