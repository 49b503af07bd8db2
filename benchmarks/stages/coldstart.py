"""Cold start: import the handler and run the first cycle in a fresh interpreter, against
importing boto3 alone; and that process's peak RSS."""

from __future__ import annotations

import os

from benchmarks.harness import HOST, IPS, Figure, Section, child, ratio
from benchmarks.peers import Peers


def stage(peers: Peers, repeats: int) -> Section:
    """The cold start rows (see :mod:`benchmarks.coldstart`)."""
    _, arn = peers.fresh_group()
    peers.dns.set(HOST, a=IPS)
    env = {
        **os.environ,
        "TGSYNC_HOSTNAME": HOST,
        "TGSYNC_TARGET_GROUP_ARN": arn,
        "TGSYNC_DNS_SERVERS": peers.dns.address,
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "POWERTOOLS_METRICS_DISABLED": "true",
    }
    boto_import, handler_import, first, total, rss, boto_rss = (Figure() for _ in range(6))
    for _ in range(repeats):
        result = child("benchmarks.coldstart", "handler", env=env)
        handler_import.add(result["import"] * 1000)
        first.add(result["first_cycle"] * 1000)
        total.add((result["import"] + result["first_cycle"]) * 1000)
        rss.add(result["rss_kb"] / 1024)
        baseline = child("benchmarks.coldstart", "boto3", env=env)
        boto_import.add(baseline["import"] * 1000)
        boto_rss.add(baseline["rss_kb"] / 1024)
    return Section(
        "Cold start",
        rows=[
            (
                "cold start: import the handler module",
                handler_import.show(" ms"),
                f"import boto3 alone: {boto_import.show(' ms')}",
                ratio(handler_import, boto_import),
            ),
            ("cold start: first cycle (facts, tags, health, register)", first.show(" ms"), "", ""),
            ("cold start: import + first cycle", total.show(" ms"), "", ""),
            (
                "peak RSS of that process (target: under 64 MB)",
                rss.show(" MB", 1),
                f"boto3 alone: {boto_rss.show(' MB', 1)}",
                "",
            ),
        ],
    )
