"""The function's process over a long followed change, alone: ``python -m
benchmarks.longrun``, steered by :mod:`benchmarks.stages.memory` (which holds the world:
moto, DNS, the Aurora lab, the fault proxy) over a socket named by ``BENCH_STEER``.

The process runs tgsync's Lambda handler as Lambda does, one invocation after another in
one execution environment (its controller and clients kept between them), configured by
the environment, with a ``context`` whose time left runs down. Time is simulated for the
whole process: ``time.time``, ``time.monotonic`` and ``time.sleep`` read and move one
clock, which moves only when something waits (tgsync's pacing, its backoff, its follow
interval) or an AWS request is sent (each takes a latency drawn from a seed). Each whole
second it passes, the clock tells the world, which changes DNS, health, the Aurora
cluster and the faults due by then before the process goes on.

Prints one JSON object: peak RSS (VmHWM: ``getrusage``'s ``ru_maxrss`` can carry the
parent's peak across exec), RSS at the early mark and at the end, the clients made, the
AWS requests (and how many were sent within the deadline tiers' reach), the invocations
and cycles run and the errors they ended with.

Only the standard library, botocore and tgsync's handler are imported, and tgsync only
through the handler and ``getattr``: the same program measures an older tgsync on
``PYTHONPATH`` (``Aws.clients_made()`` is then absent, and the clients counted where
botocore creates them stand in).
"""

from __future__ import annotations

# Imported before the clock replaces time's functions, so that their own waits (a
# thread's join, a queue's get) stay real.
import concurrent.futures  # noqa: F401
import json
import math
import os
import queue  # noqa: F401
import random
import socket
import sys
import threading
import time
from collections import Counter
from typing import Any

import botocore.handlers
import botocore.session

from benchmarks.coldstart import peak_rss_kb

#: The variable that names the world's ``host:port``.
STEER = "BENCH_STEER"


def rss_kb() -> int:
    """This process's resident set now (VmRSS)."""
    with open("/proc/self/status", encoding="ascii") as status:
        return int(next(line for line in status if line.startswith("VmRSS")).split()[1])


class World:
    """The parent's end: one JSON line asked, one answered."""

    def __init__(self, address: str) -> None:
        host, port = address.rsplit(":", 1)
        self._socket = socket.create_connection((host, int(port)))
        self._file = self._socket.makefile("rw", encoding="utf-8")

    def ask(self, message: dict[str, Any]) -> dict[str, Any]:
        """Send ``message``; the world's answer."""
        self._file.write(json.dumps(message) + "\n")
        self._file.flush()
        answer: dict[str, Any] = json.loads(self._file.readline())
        return answer

    def close(self) -> None:
        """Hang up."""
        self._file.close()
        self._socket.close()


class Clock:
    """The process's simulated time (see the module's docstring); thread-safe. Waits of
    threads that run side by side add up: time runs down faster than on AWS, never
    slower."""

    def __init__(self, start: float, world: World, latency: tuple[float, float], seed: int) -> None:
        self.now = start
        self._world = world
        self._latency = latency
        self._rng = random.Random(seed)
        self._told = math.floor(start)
        self._lock = threading.Lock()

    def time(self) -> float:
        """Now."""
        return self.now

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds``: the clock moves on at once."""
        self.advance(seconds)

    def until(self, moment: float) -> None:
        """Move on to ``moment`` (nothing if it is past)."""
        self.advance(moment - self.now)

    def latency(self) -> None:
        """One AWS request's time on the wire."""
        self.advance(self._rng.uniform(*self._latency))

    def advance(self, seconds: float) -> None:
        """Move on ``seconds``, telling the world of each whole second passed."""
        if seconds <= 0:
            return
        with self._lock:
            self.now += seconds
            if self.now >= self._told + 1:
                self._told = math.floor(self.now)
                self._world.ask({"at": self.now})


class Context:
    """Lambda's context: the time left before ``deadline`` on the clock."""

    def __init__(self, clock: Clock, deadline: float, request_id: str) -> None:
        self._clock = clock
        self.deadline = deadline
        self.aws_request_id = request_id
        self.function_name = "tgsync"
        self.memory_limit_in_mb = 256

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left, as Lambda gives them."""
        return max(0, int((self.deadline - self._clock.now) * 1000))


class Requests:
    """Every AWS request the process sends (a botocore handler every session gets): its
    latency on the clock, and how much time its invocation had left."""

    def __init__(self, clock: Clock, near: float) -> None:
        self.clock = clock
        self.near = near
        self.deadline = math.inf
        self.sent = 0
        self.near_deadline = 0
        self.least_left = math.inf
        self._lock = threading.Lock()

    def __call__(self, **_kwargs: Any) -> None:
        left = self.deadline - self.clock.now
        with self._lock:
            self.sent += 1
            self.near_deadline += left < self.near
            self.least_left = min(self.least_left, left)
        self.clock.latency()


def count_clients() -> Counter[str]:
    """The clients botocore creates, whoever asks, by service and region (old tgsync
    has no ``Aws.clients_made()``)."""
    made: Counter[str] = Counter()
    create = botocore.session.Session.create_client

    def counted(
        self: botocore.session.Session, service_name: str, *args: Any, **kwargs: Any
    ) -> Any:
        made[f"{service_name} {kwargs.get('region_name')}"] += 1
        return create(self, service_name, *args, **kwargs)

    botocore.session.Session.create_client = counted  # type: ignore[method-assign]
    return made


def install(clock: Clock, requests: Requests) -> None:
    """Make the clock the process's time, and every AWS request take its latency."""
    time.time = clock.time
    time.monotonic = clock.time
    time.sleep = clock.sleep  # type: ignore[assignment]  # floats are all tgsync passes
    botocore.handlers.BUILTIN_HANDLERS.append(("before-send", requests))


def clients_made(module: Any) -> int | None:
    """``Aws.clients_made()`` of the handler's controller, if this tgsync has it."""
    provider = getattr(getattr(module, "_controller", None), "provider", None)
    made = getattr(getattr(provider, "aws", None), "clients_made", None)
    return made() if callable(made) else None


def run(world: World) -> dict[str, Any]:
    """Every invocation of the world's plan; the figures."""
    plan = world.ask({"hello": True})
    clock = Clock(plan["start"], world, tuple(plan["latency"]), plan["seed"])
    requests = Requests(clock, plan["near"])
    made = count_clients()
    install(clock, requests)
    # Imported on the simulated clock: tgsync's default clocks and sleeps are bound at
    # import.
    import tgsync.lambda_handler as handler  # noqa: PLC0415

    errors: Counter[str] = Counter()
    cycles, invocations, longest = 0, 0, 0.0
    early: dict[str, Any] = {}
    minutes: list[int] = []  # RSS at each scheduled tick
    for at, event in plan["invocations"]:
        clock.until(at)
        if event.get("source") == "tgsync.schedule":
            minutes.append(rss_kb())
        if not early and clock.now >= plan["early"]:
            early = {"rss_kb": rss_kb(), "peak_kb": peak_rss_kb(), "clients": made.total()}
        began = clock.now
        context = Context(clock, began + plan["timeout"], f"bench-{invocations}")
        requests.deadline = context.deadline
        try:
            summary = handler.handler(event, context)
        except Exception as exc:  # a failed invocation is counted, as Lambda counts it
            errors[type(exc).__name__] += 1
            summary = getattr(exc, "summary", None) or {}
        invocations += 1
        if "follow" in summary:
            cycles += 1 + int(summary["follow"]["cycles"])
        longest = max(longest, clock.now - began)
    return {
        "peak_kb": peak_rss_kb(),
        "rss_kb": rss_kb(),
        "early": early,
        "clients": clients_made(handler),
        "clients_counted": made.total(),
        "clients_by_service": dict(made),
        "requests": requests.sent,
        "near_deadline": requests.near_deadline,
        "least_left": requests.least_left,
        "invocations": invocations,
        "cycles": cycles,
        "errors": dict(errors),
        "longest": longest,
        "simulated": clock.now - plan["start"],
        "minutes_kb": minutes,
    }


def main() -> int:
    """Run the plan the world gives; print the JSON result."""
    world = World(os.environ[STEER])
    try:
        result = run(world)
    finally:
        world.close()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
