"""Scale: 1, 10, 100 and 500 target groups in one invocation, paced as deployed and
checked against ELB's Describe budget; the original needs a function per group."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from benchmarks.harness import DESCRIBE_BURST, DESCRIBE_RATE, Row, Section, controller, throttled
from benchmarks.original import Original
from benchmarks.peers import Peers, scale_hostname
from testlab.faultproxy import Request
from testlab.peers import attach_to_load_balancer
from tgsync import config
from tgsync.pacing import DEFAULT_BURST

#: The cycle after a cold start. It reads every group again (a group settles after one
#: read with nothing to do); from the next one on, settled groups cost DNS only.
SECOND = "second cycle (each group read once more)"


def stage(peers: Peers, sizes: Sequence[int]) -> Section:
    """A cold and the second cycle for each of ``sizes`` groups; the original's steady
    minute from 10 groups up."""
    section = Section("Many target groups in one invocation")
    for size in sizes:
        elbv2, mappings = peers.many_groups(size, name_for=scale_hostname)
        cfg = config.load(
            {config.MAPPINGS: json.dumps(mappings), config.DNS_SERVERS: peers.dns.address}
        )
        tgsync = controller(cfg)
        for label in ("first (cold) cycle", SECOND):
            if label == SECOND:  # a minute passes between ticks: the pacer refills
                time.sleep(DEFAULT_BURST / cfg.api_rate)
            mark = peers.proxy.mark()
            started = time.perf_counter()
            cycle = tgsync.run_once()
            seconds = time.perf_counter() - started
            requests = peers.proxy.since(mark)
            outcome = "all ok" if cycle.ok else f"{len(cycle.failed)} failed"
            section.rows.append(
                (
                    f"{size} target group(s), {label}",
                    f"{seconds:.1f} s, {len(requests)} requests, {outcome}",
                    "",
                    f"inside Describe budget: {_budget(requests)}",
                )
            )
        if size >= 10:
            section.rows.append(_original(peers, size, elbv2, mappings))
    section.notes.append(
        f"Scale runs use the defaults: {config.DEFAULT_CONCURRENCY} target groups in "
        f"parallel and at most {config.DEFAULT_API_RATE:.0f} ELB calls a second in "
        f"bursts of {DEFAULT_BURST}, so that a whole cycle stays inside ELB's Describe "
        f"budget (bursts of {DESCRIBE_BURST}, about {DESCRIBE_RATE:.0f} a second, per "
        "account and region) with room left for other callers."
    )
    return section


def _budget(requests: Sequence[Request]) -> str:
    """Whether ELB's Describe budget would have let these requests through."""
    denied, _ = throttled([r.at for r in requests if r.action.startswith("Describe")])
    return "yes" if not denied else f"no: {denied} would be throttled"


def _original(peers: Peers, size: int, elbv2: Any, mappings: list[dict[str, str]]) -> Row:
    """The original needs one function per target group, all firing on the minute."""
    alb = attach_to_load_balancer(elbv2, [m["target_group_arn"] for m in mappings], "alb-scale")
    functions = [
        Original(m["hostname"], alb, m["target_group_arn"], peers.nameserver) for m in mappings
    ]
    for function in functions:
        function.cycle()  # first ticks: register
    mark = peers.proxy.mark()
    started = time.perf_counter()
    for function in functions:
        function.cycle()
    seconds = time.perf_counter() - started
    requests = peers.proxy.since(mark)
    return (
        f"{size} target groups, original, steady minute",
        "",
        f"{size} functions, {len(requests)} requests in {seconds:.1f} s",
        f"inside Describe budget: {_budget(requests)}",
    )
