"""An Aurora failover behind a load balancer's two groups, on 127.0.0.1: ``make demo-aurora``.

The Lambda handler runs under the real runtime client with two mappings on TCP:5432
target groups: the writer group follows the cluster (writer) endpoint through DNS with
``TGSYNC_STALE_AFTER=0``; the reader group follows the reader endpoint with
``TGSYNC_RESOLVE=rds`` (its members from the RDS API). moto plays RDS and ELB, the lab's
DNS server the endpoints (:mod:`testlab.aurora`). Each instance is a TCP listener on
127.0.0.1 standing for its PostgreSQL port (:class:`testlab.nodes.TcpNode`), and an
NLB-style health checker probes both groups' targets over TCP: what it finds is what
DescribeTargetHealth answers. Every instance passes, and the old writer still does after
the failover (a reader's listener accepts TCP too), which is why the writer group must
not keep it.

Story: the cluster comes up and both groups fill; a failover flips the writer endpoint
(for a moment its answers disagree), the ``aws.rds`` failover event reaches the handler
as EventBridge would deliver it, the writer group switches to the new writer only and the
reader group swaps roles. Where the installed tgsync lacks RDS events or
``TGSYNC_RESOLVE=rds``, the demo says so and skips what depends on it.

Exit status: 0 when every step that ran passed, 1 otherwise, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import boto3

from testlab.aurora import PORT, Aurora, failover_event
from testlab.demo import Demo, play
from testlab.demo_stack import FOLLOW_TICK, Stack
from testlab.nodes import Fleet, HealthChecker, probe
from testlab.peers import REGION, create_target_group
from testlab.timeline import Timeline

WRITER_GROUP, READER_GROUP = "aurora-writer", "aurora-reader"


@dataclass
class AuroraDemo(Demo):
    """The failover story; ``timeline`` is the writer group's, ``readers`` the reader's."""

    readers: Timeline = field(default_factory=Timeline)
    #: seconds from the writer endpoint's flip to the writer group holding only the new one
    switched_after: float | None = None

    def stack(self, workdir: Path) -> Stack:
        return AuroraStack(self, workdir)

    def pictures(self) -> list[tuple[str, str, Timeline]]:
        # One function serves both groups: the same invocations on both pictures.
        self.readers.invocations = self.timeline.invocations
        self.readers.follow_ups = self.timeline.follow_ups
        return [
            ("demo-aurora-writer.svg", f"the writer group {WRITER_GROUP}", self.timeline),
            ("demo-aurora-reader.svg", f"the reader group {READER_GROUP}", self.readers),
        ]

    def story(self, stack: Stack) -> None:
        stack = cast(AuroraStack, stack)  # made by stack() above
        lab = stack.lab
        writer, readers = lab.writer(), lab.readers()

        self.chapter(stack, "1. the cluster is up: a writer and two readers")
        outcome = stack.invoke()
        self.expect(
            "the writer group holds the writer alone",
            outcome.ok and set(stack.states()) == {writer.ip},
            f"{sorted(stack.states())}",
        )
        # A cold start short of time defers a group to the next tick (logged): allowed.
        every = {r.ip for r in readers}
        filled = set(stack.reader_states()) == every or stack.until(
            lambda _: set(stack.reader_states()) == every, 2
        )
        self.expect(
            "the reader group holds every reader (by the next tick)",
            filled,
            f"{sorted(stack.reader_states())}",
        )
        # Initial until the NLB's checks pass: the old writer must be healthy (as in a
        # real cluster) before the failover for the hazard to be there.
        healthy = stack.wait_for(lambda _: stack.all_healthy(), 4)
        self.expect(
            "every instance passes the TCP checks of its listener", healthy, f"{stack.probes()}"
        )

        self.chapter(stack, "2. failover: the writer endpoint flips, the RDS event arrives")
        window = lab.window() * self.tick / 60  # seconds of a minute, scaled to the tick
        old, new = lab.failover(settle_after=window)
        flipped = self.now()
        self.say(
            f"FailoverDBCluster: {new.identifier} ({new.ip}) is the writer now, "
            f"{old.identifier} ({old.ip}) a reader that still passes its checks; the "
            f"writer endpoint answers either for {window:.2f}s"
        )
        accepts, _ = probe(stack.fleet.endpoint(old.ip), stack.check)
        state = stack.states().get(old.ip)
        self.expect(
            "the old writer's listener still accepts TCP: it stays healthy (the hazard)",
            accepts and state == "healthy",
            f"a TCP connect {'succeeds' if accepts else 'fails'}; {state}",
        )
        sent = self.now()
        answer = stack.api.invoke(failover_event(lab, new.identifier))
        self.timeline.invoked(sent, answer.ok)
        self.expect("the RDS event ran a cycle", answer.ok, str(answer.body)[:200])
        lab.settled(window + 5)
        # Within two ticks: the next tick at the latest, not after a stale period.
        switched = set(stack.states()) == {new.ip} or stack.until(lambda s: set(s) == {new.ip}, 2)
        self.switched_after = self.now() - flipped
        self.expect(
            "the writer group switches to the new writer only, within two ticks",
            switched,
            f"after {self.switched_after:.1f}s; one tick is {self.tick:g}s",
        )
        retired = stack.reasons("DEREGISTER", [old.ip]).get(old.ip, "")
        self.expect(
            "the old writer was retired though healthy (stale after 0)", bool(retired), retired
        )

        self.chapter(stack, "3. the reader group follows the swapped roles")
        swapped = {r.ip for r in lab.readers()}
        done = stack.until(lambda _: set(stack.reader_states()) == swapped, 2)
        now_held = sorted(stack.reader_states())
        self.expect(
            "the reader group holds the new readers at once: the old writer in, the new writer out",
            done,
            f"{now_held}",
        )


class AuroraStack(Stack):
    """moto (RDS and ELB), DNS and the Lambda runtime; the Aurora lab, a TCP listener
    per instance; two TCP groups and their health checks."""

    def __init__(self, demo: Demo, workdir: Path) -> None:
        super().__init__(demo, workdir)
        self.reader_arn = ""
        self.lab: Aurora
        # An NLB's TCP check at the demo's scaled interval and thresholds.
        self.check.protocol = "TCP"
        self.fleet.close()
        self.fleet = Fleet("TCP")

    def start(self) -> None:
        self.dns.watchers.append(self._dns_changed)
        self.moto.start()
        self.dns.start()
        self.api.start()
        # What a real NLB reports until its first checks pass.
        self.moto.update_control(default_state="initial")
        os.environ.update(self.moto.environ())
        self.elbv2 = boto3.client("elbv2", region_name=REGION)
        vpc = boto3.client("ec2", region_name=REGION).create_vpc(CidrBlock="10.0.0.0/16")["Vpc"][
            "VpcId"
        ]
        self.arn, self.reader_arn = (
            create_target_group(self.elbv2, name, port=PORT, protocol="TCP", vpc_id=vpc)
            for name in (WRITER_GROUP, READER_GROUP)
        )
        self.lab = Aurora.create(boto3.client("rds", region_name=REGION), self.dns, seed=7)
        for _, _, hostname in self.drawn():  # served before the lab knew its names
            self._dns_changed(hostname.lower())
        for instance in self.lab.instances.values():
            self.fleet.start(instance.ip)
        self.checker = HealthChecker(
            self.fleet, self._probed, self._publish, self.check, clock=self.demo.now
        ).start()
        self._start_runtime(follow=self.can_follow())
        self.demo.say(
            f"moto on 127.0.0.1:{self.moto.port}, DNS on {self.dns.address}, "
            f"Lambda runtime on {self.api.address}; one tick = {self.demo.tick:g}s; "
            f"cluster {self.lab.cluster}: writer endpoint {self.lab.endpoint}, "
            f"reader endpoint {self.lab.reader_endpoint}; each instance a TCP "
            f"listener on 127.0.0.1, checked (TCP connect) every "
            f"{self.check.interval:g}s, {self.check.healthy_threshold} to pass, "
            f"{self.check.unhealthy_threshold} to fail"
        )

    def _start_runtime(self, *, follow: bool) -> None:
        mappings = [
            {"hostname": self.lab.endpoint, "target_group_arn": self.arn, "stale_after": 0},
            {
                "hostname": self.lab.reader_endpoint,
                "target_group_arn": self.reader_arn,
                "resolve": "rds",
                "stale_after": self.stale_after,
            },
        ]
        env = {
            **self.moto.environ(),
            "TGSYNC_MAPPINGS": json.dumps(mappings),
            "TGSYNC_DNS_SERVERS": self.dns.address,
            "TGSYNC_FOLLOW_INTERVAL": str(self.demo.tick / 6 if follow else 0),
            "TGSYNC_FOLLOW_FOR": str(2 * self.demo.tick),
            "PYTHONUNBUFFERED": "1",
        }
        self._launch(env)

    def reader_states(self) -> dict[str, str]:
        """The reader group's targets and their states."""
        return self._states_of(self.reader_arn)

    def _probed(self) -> list[tuple[str, str]]:
        """Both groups' targets for the checker, draining only where no group serves it.
        An NLB checks each group apart; the lab's health is one per IP, which a TCP
        connect to the same IP and port answers alike for both."""
        states: dict[str, str] = {}
        for arn in (self.arn, self.reader_arn):
            for ip, state in self._states_of(arn).items():
                if states.get(ip, "draining") == "draining":
                    states[ip] = state
        return list(states.items())

    def all_healthy(self) -> bool:
        """Whether every target of both groups is healthy (and there are some)."""
        states = self._probed()
        return bool(states) and all(state == "healthy" for _, state in states)

    def probes(self) -> str:
        """Each probed target's state and its checks so far, for the story's lines."""
        checker = self.checker
        rounds = checker.rounds if checker is not None else 0
        return (
            f"{', '.join(f'{ip} {state}' for ip, state in sorted(self._probed()))}; "
            f"{rounds} rounds of {self.check.protocol} probes"
        )

    def drawn(self) -> list[tuple[Timeline, str, str]]:
        # Before the lab exists, its endpoints are not known yet: nothing to draw.
        if getattr(self, "lab", None) is None:
            return []
        readers = cast(AuroraDemo, self.demo).readers
        return [
            (self.demo.timeline, self.arn, self.lab.endpoint),
            (readers, self.reader_arn, self.lab.reader_endpoint),
        ]

    def stop(self) -> None:
        if getattr(self, "lab", None) is not None:
            self.lab.close()
        super().stop()


def main(argv: list[str] | None = None) -> int:
    """``make demo-aurora``: the failover story; exit 0 if every step that ran passed."""
    parser = argparse.ArgumentParser(prog="make demo-aurora", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--tick",
        type=float,
        default=FOLLOW_TICK,
        help=f"seconds per schedule tick, i.e. per 'minute' (default "
        f"{FOLLOW_TICK:g}: following needs at least that)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("out"),
        help="where to write the two timeline pictures (default out/)",
    )
    args = parser.parse_args(argv)
    if not 0.2 <= args.tick <= 60:
        parser.error("--tick must be between 0.2 and 60 seconds")
    return play(AuroraDemo(tick=args.tick, out=args.out, keep=False))


if __name__ == "__main__":
    sys.exit(main())
