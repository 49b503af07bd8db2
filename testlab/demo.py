"""The original's failover story, reproduced on 127.0.0.1: ``make demo``.

Everything is real but the cloud: the Lambda handler runs under the real runtime
client (awslambdaric) and is invoked on a schedule; it talks to the AWS API served
by moto and to a real DNS server; target health comes from real HTTPS probes of
pretend OpenSearch nodes, made by an ALB-style health checker. One "minute" is one
``--tick``; the stale period, health-check interval and draining delay scale with it.
Following re-checks every sixth of a tick (10 s of a minute) and tgsync takes no
interval under 1 s, so the function follows only at a tick of 6 s or more: chapter 6,
which times following, plays at least that tick, whatever ``--tick`` says.

Exit status: 0 when every step of the story happened as expected, 1 otherwise,
130 when interrupted. Everything started is stopped on the way out.
"""

from __future__ import annotations

import argparse
import signal
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from testlab.demo_stack import FOLLOW_TICK, GROUP, HOSTNAME, STALE_TICKS, Stack
from testlab.nodes import FORGOTTEN
from testlab.runtime_api import Outcome
from testlab.timeline import Timeline
from tgsync.settings import MIN_FOLLOW_INTERVAL

BLUE = ["10.0.1.10", "10.0.2.10", "10.0.3.10"]
GREEN = ["10.0.1.20", "10.0.2.20", "10.0.3.20"]
REPLACEMENT = "10.0.2.30"
UNFOLLOWED = ["10.0.1.40", "10.0.2.40", "10.0.3.40"]  # chapter 6, following off
FOLLOWED = ["10.0.1.50", "10.0.2.50", "10.0.3.50"]  # chapter 6, following on
POISON = "198.51.100.7"  # documentation range: a public address DNS should never give
#: One line at a time on stdout: the story and the function's log lines come from two
#: threads.
_SAYING = threading.Lock()


def slower_ticks(tick: float) -> str:
    """Why chapter 6 plays at FOLLOW_TICK when the demo ticks faster."""
    return (
        f"from here on, a tick (one minute of the story) lasts {FOLLOW_TICK:g}s instead "
        f"of {tick:g}s: following re-checks six times a tick, and tgsync re-checks at most "
        f"once every {MIN_FOLLOW_INTERVAL:g}s, so a tick needs {FOLLOW_TICK:g}s or more "
        f"for following to show (the stale period, {STALE_TICKS} ticks, is "
        f"{STALE_TICKS * FOLLOW_TICK:g}s now)"
    )


@dataclass
class Step:
    """One expectation of the story and whether it held."""

    title: str
    passed: bool | None = None
    detail: str = ""


@dataclass
class Demo:
    #: seconds per schedule tick now (chapter 6 raises it to FOLLOW_TICK at least)
    tick: float
    out: Path
    keep: bool
    started: float = field(default_factory=time.monotonic)
    #: the wall clock at ``started``: moto's records of its calls are on the wall clock
    wall_started: float = field(default_factory=time.time)
    steps: list[Step] = field(default_factory=list)
    timeline: Timeline = field(default_factory=Timeline)
    outcomes: list[Outcome] = field(default_factory=list)
    log_lines: list[dict[str, Any]] = field(default_factory=list)
    #: (demo time the line arrived, message, ip) of REGISTER and DEREGISTER lines
    changes: list[tuple[float, str, str]] = field(default_factory=list)

    # ------------------------------------------------------------------ output

    def now(self) -> float:
        return time.monotonic() - self.started

    def say(self, text: str) -> None:
        """One stamped line; whole, though the function's log lines arrive meanwhile."""
        line = f"[{time.strftime('%H:%M:%S')} +{self.now():6.1f}s] {text}\n"
        with _SAYING:
            sys.stdout.write(line)
            sys.stdout.flush()

    def expect(self, title: str, ok: bool, detail: str = "") -> bool:
        self.steps.append(Step(title, ok, detail))
        self.say(f"{'PASS' if ok else 'FAIL'}: {title}" + (f" ({detail})" if detail else ""))
        return ok

    # ------------------------------------------------------------------ the stack

    def run(self) -> int:
        with tempfile.TemporaryDirectory(prefix="tgsync-demo-") as workdir:
            stack = self.stack(Path(workdir))
            try:
                stack.start()
                self.story(stack)
            finally:
                stack.draw_to(self.now())
                self.report()
                if self.keep and not stack.interrupted:
                    stack.keep_up()
                stack.stop()
        return 0 if self.steps and all(s.passed for s in self.steps) else 1

    def stack(self, workdir: Path) -> Stack:
        """The local stack this story plays on."""
        return Stack(self, workdir)

    # ------------------------------------------------------------------ the story

    def story(self, stack: Stack) -> None:
        stale = stack.stale_after

        self.chapter(stack, "1. a three-node domain comes up")
        for ip in BLUE:
            stack.fleet.start(ip)
        stack.dns.set(HOSTNAME, a=BLUE)
        outcome = stack.invoke()
        self.expect(
            "all three IPs are registered in one invocation (the original kept one)",
            outcome.ok and sorted(outcome.body["mappings"][0]["registered"]) == BLUE,
        )
        self.expect(
            "all three turn healthy under real probes",
            stack.until(lambda s: all(s.get(ip) == "healthy" for ip in BLUE), 12),
        )

        self.chapter(stack, "2. blue/green: new nodes join DNS, old ones leave and stop")
        for ip in GREEN:
            stack.fleet.start(ip)
        stack.dns.set(HOSTNAME, a=BLUE + GREEN)
        self.expect(
            "the new nodes are registered while the old ones keep serving",
            stack.until(lambda s: all(ip in s for ip in GREEN + BLUE), 2),
        )
        self.expect(
            "the new nodes turn healthy",
            stack.until(lambda s: all(s.get(ip) == "healthy" for ip in GREEN), 12),
        )
        stack.dns.set(HOSTNAME, a=GREEN)
        for ip in BLUE:
            stack.fleet.stop(ip)
        self.expect(
            "the old nodes fail their checks and are retired",
            stack.until(lambda s: not any(ip in s and s[ip] != "draining" for ip in BLUE), 14),
        )
        reasons = stack.reasons("DEREGISTER", BLUE)
        self.expect(
            "each old node was retired because it was unhealthy and out of DNS",
            len(reasons) == 3 and all("unhealthy" in r for r in reasons.values()),
            "; ".join(f"{ip}: {r}" for ip, r in sorted(reasons.items())),
        )

        self.chapter(
            stack, f"3. a stale IP: leaves DNS but still answers (stale after {stale:.0f}s)"
        )
        stale_ip = GREEN[2]
        stack.dns.set(HOSTNAME, a=GREEN[:2])
        left_dns = self.now()
        gone = stack.until(
            lambda s: stale_ip not in s or s[stale_ip] == "draining", int(stale / self.tick) + 8
        )
        waited = self.now() - left_dns
        retired = self.first_line("DEREGISTER", stale_ip, left_dns) or self.now()
        healthy_until_retired = all(
            state in ("healthy", FORGOTTEN)
            for at, ip, state in stack.health_changes()
            if ip == stale_ip and left_dns <= at < retired
        )
        self.expect(
            "the healthy stale IP is kept through the stale period, then retired",
            gone and waited >= stale and healthy_until_retired,
            f"retired after {waited:.1f}s",
        )
        reason = stack.reasons("DEREGISTER", [stale_ip]).get(stale_ip, "")
        self.expect("its retirement says why", "freed IP can be reused" in reason, reason)

        self.chapter(stack, "4. DNS stops answering; a node fails meanwhile")
        stack.dns.mode(HOSTNAME, "timeout")
        stack.fleet.stop(GREEN[1])
        before = {ip for ip, state in stack.states().items() if state != "draining"}
        failures = 0
        for _ in range(4):
            outcome = stack.invoke()
            failures += 0 if outcome.ok else 1
        during = stack.states()
        self.expect(
            "every invocation during the outage failed loudly",
            failures == 4,
            f"{failures} of 4 raised SyncFailed",
        )
        self.expect(
            "nothing was retired during the outage, not even the failing node",
            before <= set(during) and during.get(GREEN[1]) == "unhealthy",
            f"targets {sorted(during)}; {GREEN[1]} {during.get(GREEN[1])}",
        )
        stack.fleet.start(REPLACEMENT)
        stack.dns.set(HOSTNAME, a=[GREEN[0], REPLACEMENT])
        healed = stack.until(
            lambda s: (
                s.get(GREEN[0]) == "healthy"
                and s.get(REPLACEMENT) == "healthy"
                and s.get(GREEN[1]) in (None, "draining")
            ),
            14,
        )
        self.expect(
            "DNS is back: the replacement joins, the failed node leaves, all healthy", healed
        )

        self.chapter(stack, "5. DNS hands out an address outside the allowed ranges")
        stack.dns.set(HOSTNAME, a=[GREEN[0], REPLACEMENT, POISON])
        outcome = stack.invoke()
        refused = outcome.ok and any(
            r["answer"] == POISON for r in outcome.body["mappings"][0]["refused"]
        )
        self.expect("the answer is refused and logged, the rest still synced", refused)
        stack.invoke()
        self.expect("it is never registered", POISON not in stack.states())

        self.chapter(stack, "6. blue/green, timed: following off, then on")
        if self.tick < FOLLOW_TICK:
            self.say(slower_ticks(self.tick))
            stack.retime(FOLLOW_TICK)
        stack.dns.set(HOSTNAME, a=[GREEN[0], REPLACEMENT])
        off = self.timed_blue_green(stack, [GREEN[0], REPLACEMENT], UNFOLLOWED, follow=False)
        self.timeline.mark(self.now(), "6b", "the same with following on")
        on = self.timed_blue_green(stack, UNFOLLOWED, FOLLOWED, follow=True)
        for name, times in (("off", off), ("on", on)):
            scale = 60 / self.tick  # one tick plays a minute
            self.say(
                f"following {name}: "
                + "; ".join(
                    f"{kind} median {statistics.median(v):.2f}s, worst {max(v):.2f}s (at a "
                    f"one-minute schedule: {statistics.median(v) * scale:.0f}s and "
                    f"{max(v) * scale:.0f}s)"
                    for kind, v in times.items()
                    if v
                )
                + " (the worst is the first node, which waits for the next tick either way)"
            )
        counts = {name: sum(map(len, times.values())) for name, times in (("off", off), ("on", on))}
        self.expect(
            "every node was registered and every failed node retired, both times",
            counts == {"off": 5, "on": 6},
            f"{counts['off']} of 5 off, {counts['on']} of 6 on",
        )
        # The first node waits for a tick either way; each next one joins while its
        # predecessor is still initial, which is when following is meant to help.
        joins = "registered after entering DNS"
        later_off, later_on = off[joins][1:], on[joins][1:]
        if later_off and later_on:
            self.expect(
                "while a blue/green is under way, following registers each new "
                "node sooner than the schedule alone would",
                max(later_on) < min(later_off),
                "the nodes after the first, from entering DNS to registered: "
                f"{', '.join(f'{t:.2f}s' for t in later_on)} with following, "
                f"{', '.join(f'{t:.2f}s' for t in later_off)} without (the first node "
                f"waits for the next tick either way; one tick is {self.tick:g}s)",
            )

    def wait_for_line(self, message: str, ip: str, since: float) -> None:
        """Wait until the function logged ``message`` for ``ip`` after ``since``."""
        deadline = time.monotonic() + 8 * self.tick + 30
        while time.monotonic() < deadline and not any(
            what == message and which == ip and at >= since
            for at, what, which in list(self.changes)
        ):
            time.sleep(self.tick / 50)

    def timed_blue_green(
        self, stack: Stack, old: list[str], new: list[str], *, follow: bool
    ) -> dict[str, list[float]]:
        """Replace ``old`` with ``new`` one node at a time while the schedule ticks;
        the seconds from each node entering DNS to its registration, and from each
        node being out of DNS and failed to its retirement."""
        stack.restart_runtime(follow=follow)
        entered: dict[str, float] = {}
        left: dict[str, float] = {}
        with stack.ticking():
            # The first node lands just after a scheduled invocation started (the worst
            # moment for the schedule alone, which sees it a tick later); each next one
            # just after its predecessor was registered, as nodes join in a blue/green.
            for index, ip in enumerate(new):
                stack.fleet.start(ip)
                if index == 0:
                    stack.after_next_invocation(0.1 * self.tick)
                else:
                    self.wait_for_line("REGISTER", new[index - 1], entered[new[index - 1]])
                    time.sleep(0.1 * self.tick)
                stack.dns.set(HOSTNAME, a=old + new[: index + 1])
                entered[ip] = self.now()
            stack.wait_for(lambda s: all(s.get(ip) == "healthy" for ip in new), 12)
            for index, ip in enumerate(old):
                stack.after_next_invocation(0.1 * self.tick)
                stack.dns.set(HOSTNAME, a=old[index + 1 :] + new)
                stack.fleet.stop(ip)
                left[ip] = self.now()
            stack.wait_for(lambda s: not any(ip in s and s[ip] != "draining" for ip in old), 14)

        joins = [
            at - entered[ip]
            for ip in new
            if (at := self.first_line("REGISTER", ip, entered[ip])) is not None
        ]
        leaves = []
        for ip in old:
            failed = stack.first_change(ip, "unhealthy", left[ip])
            gone = left[ip] if failed is None else max(left[ip], failed)
            at = self.first_line("DEREGISTER", ip, left[ip])
            if at is not None:
                leaves.append(max(at - gone, 0.0))
        return {"registered after entering DNS": joins, "retired after failing": leaves}

    def first_line(self, message: str, ip: str, since: float) -> float | None:
        """When the function first logged ``message`` for ``ip`` at or after ``since``."""
        return next(
            (
                at
                for at, what, which in self.changes
                if what == message and which == ip and at >= since
            ),
            None,
        )

    def chapter(self, stack: Stack, title: str) -> None:
        """Start the chapter ``title`` ("N. what happens"), in the log and the pictures."""
        with _SAYING:
            print(flush=True)
        self.say(f"== {title}")
        number, label = title.split(". ", 1)
        for _, _, timeline in self.pictures():
            timeline.mark(self.now(), number, label)

    # ------------------------------------------------------------------ summary

    def pictures(self) -> list[tuple[str, str, Timeline]]:
        """(file name, what it shows, timeline) of each picture the report draws."""
        return [("demo-timeline.svg", f"the target group {GROUP}", self.timeline)]

    def report(self) -> None:
        print(flush=True)
        self.out.mkdir(parents=True, exist_ok=True)
        for name, title, timeline in self.pictures():
            print(f"Timeline of {title} (one row per IP):", flush=True)
            print(timeline.text(), flush=True)
            picture = self.out / name
            picture.write_text(timeline.svg(f"tgsync demo: {title} over time"), encoding="utf-8")
            print(f"\nPicture: {picture}\n", flush=True)
        passed = sum(1 for s in self.steps if s.passed)
        failed = [s for s in self.steps if not s.passed]
        print(f"\n{passed} passed, {len(failed)} failed", flush=True)
        for step in failed:
            print(f"  FAILED: {step.title} {step.detail}", flush=True)


def _interrupt(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt  # SIGTERM cleans up exactly like Ctrl-C


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--tick",
        type=float,
        default=2.0,
        help="seconds per schedule tick, i.e. per 'minute' (default 2; "
        f"smaller is faster; chapter 6 ticks at {FOLLOW_TICK:g} s at least)",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the local stack up at the end, for tgsync plan/check/sync by hand",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("out"),
        help="where to write demo-timeline.svg (default out/)",
    )
    args = parser.parse_args(argv)
    if not 0.2 <= args.tick <= 60:
        parser.error("--tick must be between 0.2 and 60 seconds")
    return play(Demo(tick=args.tick, out=args.out, keep=args.keep))


def play(demo: Demo) -> int:
    """Run ``demo`` to its exit status; Ctrl-C or SIGTERM stops everything (130)."""
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        return demo.run()
    except KeyboardInterrupt:
        print("\ninterrupted: everything was stopped", file=sys.stderr, flush=True)
        return 130


if __name__ == "__main__":
    sys.exit(main())
