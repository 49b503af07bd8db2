"""Benchmarks: what tgsync costs, side by side with the original function's behaviour.

``make bench`` (or ``python -m benchmarks.run``) starts moto's server, a counting
proxy in front of it and a real DNS server, all on 127.0.0.1, and measures, one stage
each (:mod:`benchmarks.stages`):

- ELB API requests and DNS queries per steady and per changing cycle;
- wall time of those cycles;
- cold start (import the handler and run the first cycle in a fresh interpreter)
  against the cost of importing boto3 alone, and that process's peak RSS;
- scale: 1, 10, 100 and 500 target groups in one invocation, checked against ELB's
  Describe budget (bursts of 40, about 10 a second);
- following: how soon a node joining DNS during a blue/green is registered, with and
  without follow mode, and what following costs in GB-seconds (a simulated clock for
  the schedule and the follow interval; every cycle real);
- an Aurora failover: how soon the writer group holds only the new writer after the
  writer endpoint's DNS flip, with the RDS failover event and with the schedule alone;
- memory: the function's own process (a child interpreter) through 25 simulated minutes
  of a followed change with every mode on and AWS failing now and then: its peak RSS,
  its growth and the clients it made;
- thousands of groups kept by one function, and a discovery read;
- the deployable zip's size, and a monthly cost note.

The baseline is the original Go function's call sequence, re-created with boto3
(:class:`benchmarks.original.Original`) and run against the same servers, so every
figure is a ratio measured side by side. Each figure is the median over repeated runs,
with its spread (min to max). The page (a table per stage) is printed and written to
``out/benchmarks.md`` (``--output benchmarks/results.md``, i.e. ``make bench-update``,
refreshes the tracked copy). Each stage says on stderr when it starts and how long it
took.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.harness import ROOT, Progress, Section, render
from benchmarks.peers import Peers
from benchmarks.stages import (
    artifact,
    aurora,
    coldstart,
    cost,
    cycles,
    discovery,
    following,
    memory,
    scale,
    thousands,
)
from benchmarks.stages.cycles import Steady
from tgsync.report import logger

RESULTS = ROOT / "out" / "benchmarks.md"


def parse(argv: list[str] | None) -> argparse.Namespace:
    """The command line; ``--quick`` shrinks every stage to a smoke run."""
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--scale", type=int, nargs="*", default=[1, 10, 100, 500])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="3 repeats, 1 and 10 target groups, 6 minutes of memory, no zip (a smoke run)",
    )
    parser.add_argument(
        "--thousands",
        type=int,
        default=3000,
        help="target groups for the one-function steady minute (0: skip)",
    )
    parser.add_argument(
        "--discover",
        type=int,
        default=1000,
        help="target groups for the discovery read (default 1000)",
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    args.minutes, args.early = memory.MINUTES, memory.EARLY
    if args.quick:
        args.repeats, args.scale, args.discover, args.thousands = 3, [1, 10], 100, 50
        args.minutes, args.early = 6, 2
    return args


def measure(peers: Peers, args: argparse.Namespace) -> list[Section]:
    """Every stage in order, each announced on stderr. The cycles come first: the
    stages after them are handed the steady medians."""
    repeats = args.repeats
    later: list[tuple[str, Callable[[Steady], Section]]] = [
        (f"cold start, {repeats} fresh interpreters", lambda _: coldstart.stage(peers, repeats)),
        (
            f"scale: {', '.join(map(str, args.scale))} target groups (paced: the biggest "
            "takes minutes)",
            lambda _: scale.stage(peers, args.scale),
        ),
        (
            f"following a blue/green, {repeats} joins with and without",
            lambda _: following.stage(peers, repeats),
        ),
        (
            f"an Aurora failover, {repeats} flips with the RDS event and without",
            lambda _: aurora.stage(peers, repeats),
        ),
        (
            f"memory over a {args.minutes}-minute followed change, every mode on",
            lambda _: memory.stage(peers, args.minutes, args.early),
        ),
    ]
    if args.thousands:
        later.append(
            (
                f"{args.thousands:,} target groups, steady minutes",
                lambda steady: thousands.stage(peers, args.thousands, steady.original_calls),
            )
        )
    later.append(
        (
            f"discovery read of {args.discover} target groups",
            lambda _: discovery.stage(peers, args.discover),
        )
    )
    if not args.quick:
        later.append(("the deployable zip", lambda _: artifact.stage()))
    later.append(("monthly cost", cost.stage))
    progress = Progress(1 + len(later))
    first, steady = progress.stage(
        f"steady and changing cycles, {repeats} runs each", cycles.stage, peers, repeats
    )
    return [first, *(progress.stage(title, run, steady) for title, run in later)]


def main(argv: list[str] | None = None) -> int:
    """Run the bench; print the table and write it to ``--output``."""
    args = parse(argv)
    logger.setLevel("ERROR")  # the bench prints its own table
    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="tgsync-bench-") as workdir,
        Peers(Path(workdir)) as peers,
    ):
        sections = measure(peers, args)
    text = render(sections, args.repeats, time.monotonic() - started)
    print(text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    print(f"written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
