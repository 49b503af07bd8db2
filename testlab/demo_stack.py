"""The demo's stack, all on 127.0.0.1: moto's AWS API, a DNS server, the pretend
OpenSearch nodes and their ALB-style health checker, and the Lambda function under the
real runtime client. :mod:`testlab.demo` tells the story; this module builds, runs and
stops what it plays on (the Aurora demo reuses it)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3

from testlab.nodes import CheckSettings, Fleet, HealthChecker
from testlab.peers import REGION, DnsPeer, MotoPeer, attach_to_load_balancer, create_target_group
from testlab.runtime_api import Outcome, RuntimeApi, start_runtime
from testlab.timeline import Call, Timeline
from tgsync.controller import MIN_CYCLE_SECONDS
from tgsync.rendering import ACTIONS, group_of, render_record
from tgsync.settings import MIN_FOLLOW_INTERVAL

if TYPE_CHECKING:
    from testlab.demo import Demo

HOSTNAME = "vpc-logs-demo123.eu-west-1.es.amazonaws.com"
GROUP = "opensearch-dashboards"
#: Following re-checks every 10 s of a 60 s minute, a sixth of a tick, and tgsync takes
#: no interval under MIN_FOLLOW_INTERVAL: the shortest tick at which it can follow.
FOLLOW_TICK = 6 * MIN_FOLLOW_INTERVAL
#: The function's log lines when it leaves a group to the next invocation, out of time.
DEFERRED = (
    "cut short by the deadline",
    "not every group could be read in this invocation: the next carries on",
)


def build_group(elbv2: Any) -> str:
    """The demo's target group, behind a listener of an internal ALB as in the original
    (HTTP:80 forwarding to it); returns the group's ARN."""
    arn = create_target_group(elbv2, GROUP)
    attach_to_load_balancer(elbv2, arn, name="opensearch-front")
    return arn


#: The stale period in ticks (four minutes of the story).
STALE_TICKS = 4


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
        self.stale_after = STALE_TICKS * tick
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
        self.checker = HealthChecker(
            self.fleet, self._registered, self._publish, self.check, clock=self.demo.now
        ).start()
        self._start_runtime(follow=self.can_follow())
        self.demo.say(
            f"moto on 127.0.0.1:{self.moto.port}, DNS on {self.dns.address}, "
            f"Lambda runtime on {self.api.address}; one tick = "
            f"{self.demo.tick:g}s, stale after {self.stale_after:g}s, health "
            f"checks every {self.check.interval:g}s (2 to pass, 2 to fail), "
            f"following {'on' if self.can_follow() else 'off until chapter 6'}"
        )

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
        self.runtime = start_runtime(
            self.api,
            env,
            "tgsync.lambda_handler.handler",
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
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
        return {
            d["Target"]["Id"]: d["TargetHealth"]["State"] for d in found["TargetHealthDescriptions"]
        }

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
                answer = (
                    None
                    if found is not None and found.mode != "answer"
                    else (frozenset(found.a) if found is not None else frozenset())
                )
            timeline.answered(self.demo.now(), answer)

    def health_changes(self) -> list[tuple[float, str, str]]:
        """The health checker's changes so far: (demo time, ip, state)."""
        return list(self.checker.changes) if self.checker else []

    def first_change(self, ip: str, state: str, since: float) -> float | None:
        """When the checks first found ``ip`` in ``state`` at or after ``since``."""
        return next(
            (
                at
                for at, which, found in self.health_changes()
                if which == ip and found == state and at >= since
            ),
            None,
        )

    def draw_to(self, end: float) -> None:
        """Hand each drawn group's events up to ``end`` to its timeline: the ELB calls as
        moto served them, the health checker's changes."""
        served = self.moto.calls()
        health = self.health_changes()
        for timeline, arn, _ in self.drawn():
            timeline.end, timeline.health = end, health
            timeline.calls = [
                Call(
                    record["at"] - self.demo.wall_started,
                    ip,
                    record["call"] == "RegisterTargets",
                    record.get("draining_seconds", 0.0),
                )
                for record in served
                if record["group"] == arn
                for ip in record["targets"]
            ]

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
        refused = (
            [r["answer"] for m in outcome.body.get("mappings", []) for r in m.get("refused", [])]
            if outcome.ok
            else []
        )
        self.demo.timeline.invoked(started, outcome.ok, refused)
        if not outcome.ok:
            message = outcome.body.get("errorMessage", "") if isinstance(outcome.body, dict) else ""
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
        return {
            line["ip"]: line.get("reason", "")
            for line in self.demo.log_lines
            if line.get("message") == message and line.get("ip") in ips
        }

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
                self.demo.say(
                    f"  DNS FAILED for {group_of(line)}: {line.get('error')}: nothing changed"
                )

    # ------------------------------------------------------------------ --keep

    def keep_up(self) -> None:
        env = self.moto.environ()
        print("\nThe local stack is still up. In another shell:\n", flush=True)
        print("  export " + " ".join(f"{k}={v}" for k, v in env.items()), flush=True)
        for command in ("plan", "check"):
            print(
                f"  .venv/bin/tgsync {command} --hostname {HOSTNAME} --target-group-arn "
                f"{self.arn} --dns-servers {self.dns.address}",
                flush=True,
            )
        print("\nPress Ctrl-C to stop everything.", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            print("\nstopping", flush=True)
