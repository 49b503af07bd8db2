"""Steady and changing cycles, tgsync against the original: ELB requests, DNS queries
and wall time of one cycle on one target group."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from benchmarks.harness import HOST, IPS, STILL, Figure, Section, controller, ratio
from benchmarks.original import Original
from benchmarks.peers import Peers
from tgsync import config


@dataclass(frozen=True)
class Steady:
    """Medians of the steady cycles, which the cost and scale stages build on."""

    ms: float
    calls: float
    original_ms: float
    original_calls: float


def stage(peers: Peers, repeats: int) -> tuple[Section, Steady]:
    """The cycle rows, and the steady medians."""
    figures: dict[str, dict[str, Figure]] = {}
    for who in ("tgsync", "original"):
        for kind in ("steady", "changing"):
            seconds, calls, queries = Figure(), Figure(), Figure()
            for _ in range(repeats):
                run = _cycle(peers, who)
                run()
                run()  # warm: clients, caches and moto's backends are loaded
                if kind == "changing":  # blue/green of one node: new IP, old one fails
                    peers.dns.set(HOST, a=["10.0.1.20", *IPS[1:]])
                    peers.moto.set_health(IPS[0], "unhealthy", "Target.FailedHealthChecks")
                took, requests, asked = peers.measure(run)
                seconds.add(took * 1000)
                calls.add(sum(requests.values()))
                queries.add(asked)
            figures[f"{who} {kind}"] = {"ms": seconds, "calls": calls, "dns": queries}
    section = Section("One target group, cycle by cycle")
    for kind in ("steady", "changing"):
        ours, theirs = figures[f"tgsync {kind}"], figures[f"original {kind}"]
        section.rows.append(
            (
                f"ELB API requests per {kind} cycle, per target group",
                ours["calls"].show(),
                theirs["calls"].show(),
                ratio(ours["calls"], theirs["calls"]),
            )
        )
        section.rows.append(
            (
                f"DNS queries per {kind} cycle",
                ours["dns"].show(),
                theirs["dns"].show(),
                ratio(ours["dns"], theirs["dns"]),
            )
        )
        section.rows.append(
            (
                f"wall time of a {kind} cycle",
                ours["ms"].show(" ms", 1),
                theirs["ms"].show(" ms", 1),
                ratio(ours["ms"], theirs["ms"]),
            )
        )
    section.notes.append(
        "The original registers only the first IPv4 answer, so its steady cycle keeps one "
        "of the three IPs; its changing cycle registers the new first IP and deregisters "
        "the failed one, each with its own call."
    )
    ours, theirs = figures["tgsync steady"], figures["original steady"]
    return section, Steady(
        ms=ours["ms"].median,
        calls=ours["calls"].median,
        original_ms=theirs["ms"].median,
        original_calls=theirs["calls"].median,
    )


def _cycle(peers: Peers, who: str) -> Callable[[], object]:
    """One cycle of ``who`` on a fresh target group whose host answers :data:`IPS`."""
    alb, arn = peers.fresh_group()
    peers.dns.set(HOST, a=IPS)
    if who == "original":
        return Original(HOST, alb, arn, peers.nameserver).cycle
    cfg = config.load(
        {config.HOSTNAME: HOST, config.TARGET_GROUP_ARN: arn, config.DNS_SERVERS: peers.dns.address}
    )
    return controller(cfg, clock=lambda: STILL).run_once
