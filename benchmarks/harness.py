"""What every stage shares: figures with their spread, the one place a tgsync controller
is built, fresh interpreters for the measurements that need one, progress on stderr and
the table writer.

Importing this module loads tgsync (and so boto3) but none of the test lab's servers: the
child programs import it too, and their peak RSS is part of what they measure. The peers
(moto, DNS, the counting proxy) are in :mod:`benchmarks.peers`.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from tgsync.config import Config
from tgsync.controller import Controller
from tgsync.provider.elbv2 import Elbv2Provider
from tgsync.registry import TagRegistry
from tgsync.report import CycleReport, InvocationReport
from tgsync.source import Source
from tgsync.wiring import Sources, build_provider

ROOT = Path(__file__).resolve().parent.parent
HOST = "vpc-bench-abc123.eu-west-1.es.amazonaws.com"
IPS = ["10.0.1.10", "10.0.2.10", "10.0.3.10"]
MINUTES_PER_MONTH = 60 * 24 * 30
#: Lambda prices (us-east-1, per GB-second and per request), for the cost notes only.
PRICE_GB_SECOND = {"arm64": 0.0000133334, "x86_64": 0.0000166667}
PRICE_REQUEST = 0.20 / 1_000_000
#: ELB's Describe budget per account and region: bursts of 40, about 10 a second.
DESCRIBE_BURST, DESCRIBE_RATE = 40, 10.0
MEMORY_GB = 0.25  # the stack's MemorySize: 256 MB
#: A clock that stands still: back-to-back cycles on it are one minute's.
STILL = 1_700_000_000.0

#: One table row: figure, tgsync, original function, ratio or note.
Row = tuple[str, str, str, str]
T = TypeVar("T")


# --------------------------------------------------------------------------- figures


@dataclass
class Figure:
    """A measured quantity: the samples, summarised as median and min to max."""

    samples: list[float] = field(default_factory=list)

    def add(self, value: float) -> None:
        """Record one sample."""
        self.samples.append(value)

    @property
    def median(self) -> float:
        """The median sample (NaN without samples)."""
        return statistics.median(self.samples) if self.samples else float("nan")

    def show(self, unit: str = "", digits: int = 0) -> str:
        """``median unit``, followed by ``(min to max)`` when they differ as shown."""
        if not self.samples:
            return "n/a"
        low, high = min(self.samples), max(self.samples)
        text = f"{self.median:.{digits}f}{unit}"
        if high - low > 10**-digits / 2:
            text += f" ({low:.{digits}f} to {high:.{digits}f})"
        return text


def ratio(ours: Figure, theirs: Figure) -> str:
    """``x<ours / theirs>`` of the medians, or nothing if there is no ratio to show."""
    if not ours.samples or not theirs.samples or theirs.median == 0:
        return ""
    return f"x{ours.median / theirs.median:.2f}"


def throttled(
    times: Sequence[float], burst: int = DESCRIBE_BURST, rate: float = DESCRIBE_RATE
) -> tuple[int, float]:
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


@dataclass
class Section:
    """What one stage adds to the page: its heading, its table's rows, the notes under
    the table."""

    title: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- tgsync


@dataclass(frozen=True)
class Tgsync:
    """A controller with its configuration bound: ``run_once(**options)`` is one cycle,
    ``run(**options)`` one invocation (a cycle and its follow-ups)."""

    run_once: Callable[..., CycleReport]
    run: Callable[..., InvocationReport]


def controller(
    cfg: Config,
    clock: Callable[[], float] = time.time,
    provider: Elbv2Provider | None = None,
    sources: Callable[[Elbv2Provider], Callable[..., Source]] | None = None,
) -> Tgsync:
    """tgsync on ``cfg`` and ``clock``, over ``provider`` (default: the deployed one,
    paced) and ``sources(provider)`` (default: the deployed ones: DNS, and the RDS API
    for ``resolve=rds``). The only place the bench builds or calls a Controller."""
    provider = provider or build_provider(cfg)
    source_for = (sources or (lambda made: Sources(made.aws)))(provider)
    made = Controller(provider, TagRegistry(provider), source_for, config=cfg, clock=clock)
    return Tgsync(run_once=made.run_once, run=made.run)


# --------------------------------------------------------------------------- processes


def child(module: str, *args: str, env: dict[str, str], timeout: float = 120) -> dict[str, Any]:
    """Run ``python -m module args`` in a fresh interpreter with ``env``: the JSON object
    its last line of output holds."""
    path = [str(ROOT), *filter(None, [env.get("PYTHONPATH")])]
    env = {**env, "PYTHONPATH": os.pathsep.join(path)}
    done = subprocess.run(
        [sys.executable, "-m", module, *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode:
        raise RuntimeError(f"python -m {module} failed ({done.returncode}): {done.stderr[-2000:]}")
    found: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def steered(
    module: str,
    *args: str,
    env: dict[str, str],
    answer: Callable[[dict[str, Any]], dict[str, Any]],
    timeout: float = 600,
) -> dict[str, Any]:
    """Run ``python -m module args`` as :func:`child` does, answering the questions it
    asks over a socket on 127.0.0.1 (its address in ``BENCH_STEER``; one JSON object a
    line each way) with ``answer``: the JSON object its last line of output holds."""
    ends = time.monotonic() + timeout
    path = [str(ROOT), *filter(None, [env.get("PYTHONPATH")])]
    with (
        socket.create_server(("127.0.0.1", 0)) as server,
        tempfile.TemporaryFile("w+") as out,
        tempfile.TemporaryFile("w+") as err,
    ):
        server.settimeout(1.0)
        env = {
            **env,
            "PYTHONPATH": os.pathsep.join(path),
            "BENCH_STEER": f"127.0.0.1:{server.getsockname()[1]}",
        }
        process = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=err,
            text=True,
        )
        try:
            _converse(server, process, answer, ends)
            code = process.wait(timeout=max(1.0, ends - time.monotonic()))
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        out.seek(0)
        err.seek(0)
        if code:
            raise RuntimeError(f"python -m {module} failed ({code}): {err.read()[-2000:]}")
        found: dict[str, Any] = json.loads(out.read().strip().splitlines()[-1])
        return found


def _converse(
    server: socket.socket,
    process: subprocess.Popen[str],
    answer: Callable[[dict[str, Any]], dict[str, Any]],
    ends: float,
) -> None:
    """Answer the child's questions until it hangs up (or dies before asking any)."""
    while True:
        try:
            connection, _ = server.accept()
            break
        except TimeoutError:
            if process.poll() is not None or time.monotonic() > ends:
                return
    with connection, connection.makefile("rw", encoding="utf-8") as talk:
        connection.settimeout(max(1.0, ends - time.monotonic()))
        for line in talk:
            talk.write(json.dumps(answer(json.loads(line))) + "\n")
            talk.flush()


# --------------------------------------------------------------------------- progress


class Progress:
    """``bench [i/N] title ...`` on stderr when a stage starts, ``done in S s`` when it
    ends."""

    def __init__(self, total: int) -> None:
        self.total, self.number = total, 0

    def stage(self, title: str, run: Callable[..., T], *args: Any) -> T:
        """``run(*args)`` as the next stage, announced as ``title``."""
        self.number += 1
        tag = f"bench [{self.number}/{self.total}]"
        print(f"{tag} {title} ...", file=sys.stderr, flush=True)
        begun = time.monotonic()
        result = run(*args)
        print(f"{tag} done in {time.monotonic() - begun:.0f} s", file=sys.stderr, flush=True)
        return result


# --------------------------------------------------------------------------- the table


#: The level of each stage's heading: the page is included under a heading of the
#: docs' Benchmarks page (docs/benchmarks.md), which has the page's one title.
HEADING = "###"


def render(sections: Sequence[Section], repeats: int, elapsed: float) -> str:
    """The markdown: how it was measured, then each stage under its heading, its table
    and the notes that explain it."""
    lines = [
        f"Measured by `make bench` on {time.strftime('%Y-%m-%d')}, {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, against moto's "
        "server and a DNS server on 127.0.0.1 (so wall times leave out the network to "
        f"AWS), {repeats} runs per figure: median (min to max). Took {elapsed:.0f} s.",
    ]
    for section in sections:
        lines += [
            "",
            f"{HEADING} {section.title}",
            "",
            "| figure | tgsync | original function | ratio / note |",
            "|---|---|---|---|",
        ]
        lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in section.rows]
        if section.notes:
            lines += ["", *[f"- {note}" for note in section.notes]]
    return "\n".join([*lines, ""])
