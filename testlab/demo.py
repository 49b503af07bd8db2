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
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from testlab.nodes import FORGOTTEN, CheckSettings, Fleet, HealthChecker
from testlab.peers import REGION, DnsPeer, MotoPeer, attach_to_load_balancer, create_target_group
from testlab.runtime_api import Outcome, RuntimeApi, start_runtime
from testlab.timeline import Call, Timeline
from tgsync.controller import MIN_CYCLE_SECONDS
from tgsync.report import ACTIONS, group_of, render_record
from tgsync.settings import MIN_FOLLOW_INTERVAL

HOSTNAME = "vpc-logs-demo123.eu-west-1.es.amazonaws.com"
BLUE = ["10.0.1.10", "10.0.2.10", "10.0.3.10"]
GREEN = ["10.0.1.20", "10.0.2.20", "10.0.3.20"]
REPLACEMENT = "10.0.2.30"
UNFOLLOWED = ["10.0.1.40", "10.0.2.40", "10.0.3.40"]  # chapter 6, following off
FOLLOWED = ["10.0.1.50", "10.0.2.50", "10.0.3.50"]  # chapter 6, following on
POISON = "198.51.100.7"  # documentation range: a public address DNS should never give
GROUP = "opensearch-dashboards"
#: Following re-checks every 10 s of a 60 s minute, a sixth of a tick, and tgsync takes
#: no interval under MIN_FOLLOW_INTERVAL: the shortest tick at which it can follow.
FOLLOW_TICK = 6 * MIN_FOLLOW_INTERVAL
#: One line at a time on stdout: the story and the function's log lines come from two
#: threads.
_SAYING = threading.Lock()
#: The function's log lines when it leaves a group to the next invocation, out of time.
DEFERRED = ("cut short by the deadline",
            "not every group could be read in this invocation: the next carries on")


def slower_ticks(tick: float) -> str:
    """Why chapter 6 plays at FOLLOW_TICK when the demo ticks faster."""
    return (f"from here on, a tick (one minute of the story) lasts {FOLLOW_TICK:g}s instead "
            f"of {tick:g}s: following re-checks six times a tick, and tgsync re-checks at most "
            f"once every {MIN_FOLLOW_INTERVAL:g}s, so a tick needs {FOLLOW_TICK:g}s or more "
            "for following to show")


def build_group(elbv2: Any) -> str:
    """The demo's target group, behind a listener of an internal ALB as in the original
    (HTTP:80 forwarding to it); returns the group's ARN."""
    arn = create_target_group(elbv2, GROUP)
    attach_to_load_balancer(elbv2, arn, name="opensearch-front")
    return arn


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
        self.expect("all three IPs are registered in one invocation (the original kept one)",
                    outcome.ok and sorted(outcome.body["mappings"][0]["registered"]) == BLUE)
        self.expect("all three turn healthy under real probes",
                    stack.until(lambda s: all(s.get(ip) == "healthy" for ip in BLUE), 12))

        self.chapter(stack, "2. blue/green: new nodes join DNS, old ones leave and stop")
        for ip in GREEN:
            stack.fleet.start(ip)
        stack.dns.set(HOSTNAME, a=BLUE + GREEN)
        self.expect("the new nodes are registered while the old ones keep serving",
                    stack.until(lambda s: all(ip in s for ip in GREEN + BLUE), 2))
        self.expect("the new nodes turn healthy",
                    stack.until(lambda s: all(s.get(ip) == "healthy" for ip in GREEN), 12))
        stack.dns.set(HOSTNAME, a=GREEN)
        for ip in BLUE:
            stack.fleet.stop(ip)
        self.expect("the old nodes fail their checks and are retired",
                    stack.until(lambda s: not any(ip in s and s[ip] != "draining"
                                                  for ip in BLUE), 14))
        reasons = stack.reasons("DEREGISTER", BLUE)
        self.expect("each old node was retired because it was unhealthy and out of DNS",
                    len(reasons) == 3 and all("unhealthy" in r for r in reasons.values()),
                    "; ".join(f"{ip}: {r}" for ip, r in sorted(reasons.items())))

        self.chapter(stack, f"3. a stale IP: leaves DNS but still answers (stale after "
                            f"{stale:.0f}s)")
        stale_ip = GREEN[2]
        stack.dns.set(HOSTNAME, a=GREEN[:2])
        left_dns = self.now()
        gone = stack.until(lambda s: stale_ip not in s or s[stale_ip] == "draining",
                           int(stale / self.tick) + 8)
        waited = self.now() - left_dns
        retired = self.first_line("DEREGISTER", stale_ip, left_dns) or self.now()
        healthy_until_retired = all(state in ("healthy", FORGOTTEN)
                                    for at, ip, state in stack.health_changes()
                                    if ip == stale_ip and left_dns <= at < retired)
        self.expect("the healthy stale IP is kept through the stale period, then retired",
                    gone and waited >= stale and healthy_until_retired,
                    f"retired after {waited:.1f}s")
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
        self.expect("every invocation during the outage failed loudly", failures == 4,
                    f"{failures} of 4 raised SyncFailed")
        self.expect("nothing was retired during the outage, not even the failing node",
                    before <= set(during) and during.get(GREEN[1]) == "unhealthy",
                    f"targets {sorted(during)}; {GREEN[1]} {during.get(GREEN[1])}")
        stack.fleet.start(REPLACEMENT)
        stack.dns.set(HOSTNAME, a=[GREEN[0], REPLACEMENT])
        healed = stack.until(lambda s: s.get(GREEN[0]) == "healthy"
                             and s.get(REPLACEMENT) == "healthy"
                             and s.get(GREEN[1]) in (None, "draining"), 14)
        self.expect("DNS is back: the replacement joins, the failed node leaves, all healthy",
                    healed)

        self.chapter(stack, "5. DNS hands out an address outside the allowed ranges")
        stack.dns.set(HOSTNAME, a=[GREEN[0], REPLACEMENT, POISON])
        outcome = stack.invoke()
        refused = outcome.ok and any(r["answer"] == POISON
                                     for r in outcome.body["mappings"][0]["refused"])
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
            self.say(f"following {name}: " + "; ".join(
                f"{kind} median {statistics.median(v):.2f}s, worst {max(v):.2f}s (at a "
                f"one-minute schedule: {statistics.median(v) * scale:.0f}s and "
                f"{max(v) * scale:.0f}s)" for kind, v in times.items() if v))
        counts = {name: sum(map(len, times.values())) for name, times in (("off", off),
                                                                          ("on", on))}
        self.expect("every node was registered and every failed node retired, both times",
                    counts == {"off": 5, "on": 6}, f"{counts['off']} of 5 off, {counts['on']} "
                                                   "of 6 on")
        # The first node waits for a tick either way; each next one joins while its
        # predecessor is still initial, which is when following is meant to help.
        joins = "registered after entering DNS"
        later_off, later_on = off[joins][1:], on[joins][1:]
        if later_off and later_on:
            self.expect("while a blue/green is under way, following registers each new "
                        "node sooner than the schedule alone would",
                        max(later_on) < min(later_off),
                        f"{', '.join(f'{t:.2f}s' for t in later_on)} with following, "
                        f"{', '.join(f'{t:.2f}s' for t in later_off)} without; one tick is "
                        f"{self.tick:g}s")

    def wait_for_line(self, message: str, ip: str, since: float) -> None:
        """Wait until the function logged ``message`` for ``ip`` after ``since``."""
        deadline = time.monotonic() + 8 * self.tick + 30
        while time.monotonic() < deadline and not any(
                what == message and which == ip and at >= since
                for at, what, which in list(self.changes)):
            time.sleep(self.tick / 50)

    def timed_blue_green(self, stack: Stack, old: list[str], new: list[str], *,
                         follow: bool) -> dict[str, list[float]]:
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
                stack.dns.set(HOSTNAME, a=old + new[:index + 1])
                entered[ip] = self.now()
            stack.wait_for(lambda s: all(s.get(ip) == "healthy" for ip in new), 12)
            for index, ip in enumerate(old):
                stack.after_next_invocation(0.1 * self.tick)
                stack.dns.set(HOSTNAME, a=old[index + 1:] + new)
                stack.fleet.stop(ip)
                left[ip] = self.now()
            stack.wait_for(lambda s: not any(ip in s and s[ip] != "draining" for ip in old),
                           14)

        joins = [at - entered[ip] for ip in new
                 if (at := self.first_line("REGISTER", ip, entered[ip])) is not None]
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
        return next((at for at, what, which in self.changes
                     if what == message and which == ip and at >= since), None)

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
            picture.write_text(timeline.svg(f"tgsync demo: {title} over time"),
                               encoding="utf-8")
            print(f"\nPicture: {picture}\n", flush=True)
        passed = sum(1 for s in self.steps if s.passed)
        failed = [s for s in self.steps if not s.passed]
        print(f"\n{passed} passed, {len(failed)} failed", flush=True)
        for step in failed:
            print(f"  FAILED: {step.title} {step.detail}", flush=True)


class Stack:
    """moto, DNS, nodes, health checker and the Lambda runtime, all on 127.0.0.1."""

    def __init__(self, demo: Demo, workdir: Path) -> None:
        self.demo = demo
        self.workdir = workdir
        self.stale_after = 0.0
        self.check = CheckSettings(healthy_threshold=2, unhealthy_threshold=2)
        self.api_timeout = 0.0
        self.moto = MotoPeer(workdir, record_calls=True)
        self.dns = DnsPeer(seed=7)
        self.fleet = Fleet()
        self.retime(demo.tick)
        self.api = RuntimeApi(timeout_seconds=self.api_timeout)
        self.runtime: subprocess.Popen[bytes] | None = None
        self.checker: HealthChecker | None = None
        self.arn = ""
        self.interrupted = False
        self._last_invoke = 0.0
        self._control_lock = threading.Lock()
        self._invoked = threading.Condition()
        self._invocations = 0

    def retime(self, tick: float) -> None:
        """Play one minute in ``tick`` seconds from now on; the stale period, health
        checks, draining, the function's timeout and following scale with it (a
        redeploy, :meth:`restart_runtime`, brings the function's settings along)."""
        self.demo.tick = tick
        self.stale_after = 4 * tick
        self.check.interval = tick / 2
        # A generous probe timeout: a busy machine must not fail a healthy node.
        self.check.timeout = max(0.5, min(2.0, tick / 2))
        # The function's timeout, after its fixed 10 s margin, leaves most of a tick for
        # following (45 s of 60 on AWS). A demo cycle does not shrink with the tick, so
        # the demo leaves 9/10 of one: 3/4 would leave room for fewer follow-ups, and a
        # join just after them would wait for the next tick.
        # Never under the least a cycle needs past the margin (a lookup and two ELB
        # attempts: tgsync.controller.MIN_CYCLE_SECONDS), or short ticks would defer
        # every cycle; the demo's cycles take milliseconds, so this costs no time.
        self.api_timeout = 10 + max(0.9 * tick, MIN_CYCLE_SECONDS + 0.5)
        if self.moto.port:
            self.moto.update_control(draining_seconds=2 * tick)

    def can_follow(self) -> bool:
        """Whether following's interval, a sixth of a tick, is one tgsync takes."""
        return self.demo.tick >= FOLLOW_TICK

    def start(self) -> None:
        self.dns.watchers.append(self._dns_changed)
        self.moto.start()
        self.dns.start()
        self.api.start()
        self.moto.update_control(draining_seconds=2 * self.demo.tick, default_state="initial")
        os.environ.update(self.moto.environ())
        self.elbv2 = boto3.client("elbv2", region_name=REGION)
        self.arn = build_group(self.elbv2)
        self.checker = HealthChecker(self.fleet, self._registered, self._publish,
                                     self.check, clock=self.demo.now).start()
        self._start_runtime(follow=self.can_follow())
        self.demo.say(f"moto on 127.0.0.1:{self.moto.port}, DNS on {self.dns.address}, "
                      f"Lambda runtime on {self.api.address}; one tick = "
                      f"{self.demo.tick:g}s, stale after {self.stale_after:g}s, health "
                      f"checks every {self.check.interval:g}s (2 to pass, 2 to fail), "
                      f"following {'on' if self.can_follow() else 'off until chapter 6'}")

    def _start_runtime(self, *, follow: bool) -> None:
        env = {
            **self.moto.environ(),
            "DomainEndpoint": f"https://{HOSTNAME}",  # the original's variable names
            "AlbTargetGroupId": self.arn,
            "TGSYNC_DNS_SERVERS": self.dns.address,
            "TGSYNC_STALE_AFTER": str(self.stale_after),
            # 10 s and 120 s of a 60 s minute, scaled to the tick.
            "TGSYNC_FOLLOW_INTERVAL": str(self.demo.tick / 6 if follow else 0),
            "TGSYNC_FOLLOW_FOR": str(2 * self.demo.tick),
            "PYTHONUNBUFFERED": "1",
        }
        self._launch(env)

    def _launch(self, env: dict[str, str]) -> None:
        """Start the runtime client with ``env``, its log lines followed."""
        self.runtime = start_runtime(self.api, env, "tgsync.lambda_handler.handler",
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        threading.Thread(target=self._follow_logs, args=(self.runtime,), daemon=True).start()

    def restart_runtime(self, *, follow: bool) -> None:
        """A new execution environment with following on or off (a redeploy)."""
        if self.runtime:
            self.runtime.kill()
            self.runtime.wait()
        # A fresh Runtime API too: the old process may have taken the next event with it.
        self.api.stop()
        self.api = RuntimeApi(timeout_seconds=self.api_timeout).start()
        self._start_runtime(follow=follow)
        self.demo.say(f"function redeployed with following {'on' if follow else 'off'}")

    def after_next_invocation(self, delay: float) -> None:
        """Return ``delay`` seconds after the next scheduled invocation starts."""
        with self._invoked:
            seen = self._invocations
            self._invoked.wait_for(lambda: self._invocations > seen, 4 * self.demo.tick + 30)
        time.sleep(delay)

    @contextlib.contextmanager
    def ticking(self) -> Iterator[None]:
        """The schedule in the background: one invocation per tick until the block ends."""
        done = threading.Event()

        def tick() -> None:
            while not done.is_set():
                self.invoke()

        thread = threading.Thread(target=tick, daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()

    def wait_for(self, condition: Callable[[dict[str, str]], bool], ticks: int) -> bool:
        """Watch the group (no invocation) until ``condition`` holds, at most ``ticks``."""
        deadline = time.monotonic() + ticks * self.demo.tick
        while time.monotonic() < deadline:
            if condition(self.states()):
                return True
            time.sleep(self.demo.tick / 20)
        return False

    def stop(self) -> None:
        if self.checker:
            self.checker.stop()
        if self.runtime:
            self.runtime.kill()
            self.runtime.wait()
        self.api.stop()
        self.fleet.close()
        self.dns.stop()
        self.moto.stop()

    # ------------------------------------------------------------------ moto glue

    def _registered(self) -> list[tuple[str, str]]:
        return list(self._states_of(self.arn).items())

    def _states_of(self, arn: str) -> dict[str, str]:
        """``{ip: state}`` of the targets of the group ``arn``."""
        found = self.elbv2.describe_target_health(TargetGroupArn=arn)
        return {d["Target"]["Id"]: d["TargetHealth"]["State"]
                for d in found["TargetHealthDescriptions"]}

    def _publish(self, health: dict[str, dict[str, Any]]) -> None:
        with self._control_lock:
            self.moto.update_control(health=health)

    def states(self) -> dict[str, str]:
        return dict(self._registered())

    # ------------------------------------------------------------------ the pictures

    def drawn(self) -> list[tuple[Timeline, str, str]]:
        """(timeline, target group ARN, hostname) of each group the pictures draw."""
        return [(self.demo.timeline, self.arn, HOSTNAME)]

    def _dns_changed(self, hostname: str) -> None:
        """Note what DNS answers for a drawn group's hostname, now that it changed."""
        for timeline, _, name in self.drawn():
            if name.lower() != hostname:
                continue
            with self.dns.lock:
                found = self.dns.names.get(hostname)
                answer = None if found is not None and found.mode != "answer" else (
                    frozenset(found.a) if found is not None else frozenset())
            timeline.answered(self.demo.now(), answer)

    def health_changes(self) -> list[tuple[float, str, str]]:
        """The health checker's changes so far: (demo time, ip, state)."""
        return list(self.checker.changes) if self.checker else []

    def first_change(self, ip: str, state: str, since: float) -> float | None:
        """When the checks first found ``ip`` in ``state`` at or after ``since``."""
        return next((at for at, which, found in self.health_changes()
                     if which == ip and found == state and at >= since), None)

    def draw_to(self, end: float) -> None:
        """Hand each drawn group's events up to ``end`` to its timeline: the ELB calls as
        moto served them, the health checker's changes."""
        served = self.moto.calls()
        health = self.health_changes()
        for timeline, arn, _ in self.drawn():
            timeline.end, timeline.health = end, health
            timeline.calls = [
                Call(record["at"] - self.demo.wall_started, ip,
                     record["call"] == "RegisterTargets", record.get("draining_seconds", 0.0))
                for record in served if record["group"] == arn for ip in record["targets"]]

    # ------------------------------------------------------------------ schedule

    def invoke(self) -> Outcome:
        """Wait for the next tick, invoke the function once."""
        wait = self._last_invoke + self.demo.tick - time.monotonic()
        if wait > 0:
            time.sleep(wait)  # the schedule: one invocation per tick, like EventBridge
        self._last_invoke = time.monotonic()
        with self._invoked:
            self._invocations += 1
            self._invoked.notify_all()
        started = self.demo.now()
        outcome = self.api.invoke({"source": "aws.scheduler", "detail-type": "Scheduled Event"})
        self.demo.outcomes.append(outcome)
        refused = [r["answer"] for m in outcome.body.get("mappings", [])
                   for r in m.get("refused", [])] if outcome.ok else []
        self.demo.timeline.invoked(started, outcome.ok, refused)
        if not outcome.ok:
            message = outcome.body.get("errorMessage", "") if isinstance(outcome.body,
                                                                         dict) else ""
            self.demo.say(f"invocation failed: {message.splitlines()[0] if message else '?'}")
        return outcome

    def until(self, condition: Callable[[dict[str, str]], bool], ticks: int) -> bool:
        """Invoke on schedule until ``condition`` holds for the group, at most ``ticks``."""
        for _ in range(ticks):
            self.invoke()
            if condition(self.states()):
                return True
        return False

    def reasons(self, message: str, ips: list[str]) -> dict[str, str]:
        return {line["ip"]: line.get("reason", "") for line in self.demo.log_lines
                if line.get("message") == message and line.get("ip") in ips}

    def _follow_logs(self, runtime: subprocess.Popen[bytes]) -> None:
        if runtime.stdout is None:
            return
        for raw in runtime.stdout:
            text = raw if isinstance(raw, str) else raw.decode()
            try:
                line = json.loads(text)
            except ValueError:
                continue
            if not isinstance(line, dict):
                continue
            self.demo.log_lines.append(line)
            message = line.get("message")
            if message in ("REGISTER", "DEREGISTER"):
                self.demo.changes.append((self.demo.now(), message, str(line.get("ip"))))
            if message == "follow-up cycle":
                self.demo.timeline.followed(self.demo.now())
            if message in (*ACTIONS, "REFUSED", *DEFERRED):
                self.demo.say(f"  {render_record(line)}")
            elif message == "DNS resolution failed: nothing changed":
                self.demo.say(f"  DNS FAILED for {group_of(line)}: {line.get('error')}: "
                              "nothing changed")

    # ------------------------------------------------------------------ --keep

    def keep_up(self) -> None:
        env = self.moto.environ()
        print("\nThe local stack is still up. In another shell:\n", flush=True)
        print("  export " + " ".join(f"{k}={v}" for k, v in env.items()), flush=True)
        for command in ("plan", "check"):
            print(f"  .venv/bin/tgsync {command} --hostname {HOSTNAME} --target-group-arn "
                  f"{self.arn} --dns-servers {self.dns.address}", flush=True)
        print("\nPress Ctrl-C to stop everything.", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            print("\nstopping", flush=True)


def _interrupt(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt  # SIGTERM cleans up exactly like Ctrl-C


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__.splitlines()[0])
    parser.add_argument("--tick", type=float, default=2.0,
                        help="seconds per schedule tick, i.e. per 'minute' (default 2; "
                             f"smaller is faster; chapter 6 ticks at {FOLLOW_TICK:g} s at least)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the local stack up at the end, for tgsync plan/check/sync "
                             "by hand")
    parser.add_argument("--out", type=Path, default=Path("out"),
                        help="where to write demo-timeline.svg (default out/)")
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
