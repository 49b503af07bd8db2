"""A long randomized soak: generated DNS histories, target health and injected faults,
with tgsync's invariants checked after every cycle.

Real peers throughout: the real controller, DNS source and ELB provider, against a real
DNS server and moto's server behind the fault proxy. The clock is simulated (a cycle
is a minute), so thousands of "minutes" pass in minutes. Everything is drawn from one
seed, printed at the start: ``--seed`` replays a run exactly.

Invariants, after every cycle:

1. a cycle that resolved and finished leaves every IP it resolved registered;
2. no IP that the cycle's DNS answers held is ever deregistered;
3. a failed resolution changes nothing: no write reaches the API, the group is as it was;
4. a healthy target is retired only after it has been missing from DNS for the stale
   period (by this run's own count, which tgsync's can only exceed);
5. API requests per cycle, retries included, stay under a fixed bound;
6. after faults stop, one clean cycle registers every IP DNS returns and retires every
   target that is not serving, and a second one a stale period later leaves the group
   holding exactly what DNS returns;
7. big domains (every other stretch of :data:`EPISODE` cycles): 10 to 40 nodes behind
   answers of 8 records, a new subset per query or one per cycle (a caching resolver),
   and no node still in the name's full record set is ever deregistered (churn: zero).
   After faults stop, cycles go on until the group holds exactly the full record set,
   within the bound README states: :func:`tgsync.plan.required_absences` cycles.

Then ``--steps`` steps of :mod:`testlab.stateful`'s lab, drawn from the same seed: every
feature on at once (explicit and discovered groups, shared groups with ``retire=owned``
and foreign targets, an Aurora cluster's writer and ``resolve=rds`` reader groups with
failovers and RDS faults, following, settled groups skipped, OpenSearch and RDS events,
the preflight check beside the syncs, clock steps, cold starts), with its own invariants
checked after every invocation and check, and a quiet phase (the world holds still
until every group converged) every :data:`QUIET_EVERY` steps and at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.retries import standard

from testlab.faultproxy import Fault, FaultProxy
from testlab.peers import REGION, DnsPeer, MotoPeer, create_target_group
from testlab.stateful import InvariantBroken as LabInvariantBroken
from testlab.stateful import Lab, new_lab
from testlab.stateful.known import TOLERATED
from tgsync import config
from tgsync.controller import Controller
from tgsync.model import NOT_SERVING_STATES
from tgsync.plan import required_absences
from tgsync.provider.elbv2 import Elbv2Provider, make_client
from tgsync.provider.errors import TOTAL_MAX_ATTEMPTS
from tgsync.registry import TagRegistry
from tgsync.report import MappingReport, logger
from tgsync.source.resolver import MIN_QUERY_SECONDS, DnsSource

HOSTNAME = "vpc-soak-abc123.eu-west-1.es.amazonaws.com"
POOL = [f"10.0.{subnet}.{host}" for subnet in (1, 2, 3) for host in range(10, 16)]
#: Nodes of a big domain (Route 53 answers 8 of them at a time).
BIG_POOL = [f"10.1.{subnet}.{host}" for subnet in (1, 2, 3) for host in range(10, 30)]
BIG_ANSWER = 8
#: Cycles per stretch: small domains, then a big one, and so on.
EPISODE = 500
OPERATIONS = [
    "DescribeTargetHealth",
    "DescribeTags",
    "RegisterTargets",
    "DeregisterTargets",
    "AddTags",
    "RemoveTags",
]
WRITES = {"RegisterTargets", "DeregisterTargets", "AddTags", "RemoveTags"}
DNS_FAULTS = ["timeout", "servfail", "refused", "nxdomain", "empty"]
STALE_AFTER = 180.0
#: Requests one cycle may make, retries included: every operation, each retried.
MAX_REQUESTS_PER_CYCLE = TOTAL_MAX_ATTEMPTS * (len(OPERATIONS) + 1)
CONVERGE_EVERY = 50
#: Stateful steps between two quiet phases of the lab.
QUIET_EVERY = 100


class InvariantBroken(AssertionError):
    """An invariant did not hold; the message says which, in which cycle, with which seed."""


@dataclass
class World:
    """What DNS serves and how the targets' health checks go."""

    rng: random.Random
    records: set[str] = field(default_factory=lambda: set(POOL[:3]))
    down: set[str] = field(default_factory=set)  # nodes that fail their checks
    mode: str = "answer"
    subset: int | None = None
    poison: bool = False
    big: bool = False
    sticky: bool = False  # big domains: one subset per cycle rather than per query

    def become_big(self) -> None:
        """Start a big-domain stretch: 10 to 40 nodes, answers of 8."""
        self.big = True
        self.sticky = self.rng.random() < 0.5
        self.records = set(self.rng.sample(BIG_POOL, self.rng.randint(10, 40)))

    def become_small(self) -> None:
        self.big = False
        self.records = set(self.rng.sample(POOL, self.rng.randint(1, 4)))

    def evolve_big(self) -> None:
        r = self.rng.random
        if r() < 0.03 and len(self.records) < 40:
            self.records.add(self.rng.choice(BIG_POOL))
        if r() < 0.03 and len(self.records) > 10:
            self.records.discard(self.rng.choice(sorted(self.records)))
        if r() < 0.005:  # blue/green
            self.records = set(self.rng.sample(BIG_POOL, self.rng.randint(10, 40)))
        if r() < 0.05:
            self.down ^= {self.rng.choice(BIG_POOL)}
        self.mode = self.rng.choice(DNS_FAULTS) if r() < 0.05 else "answer"
        self.poison = r() < 0.03

    def evolve(self) -> None:
        if self.big:
            self.evolve_big()
            return
        r = self.rng.random
        # Up to 7: a name answering exactly 8 records may be capped (Route 53's size),
        # which big domains cover.
        if r() < 0.15 and len(self.records) < 7:
            self.records.add(self.rng.choice(POOL))
        if r() < 0.12 and len(self.records) > 1:
            self.records.discard(self.rng.choice(sorted(self.records)))
        if r() < 0.03:  # blue/green: a whole new set
            self.records = set(self.rng.sample(POOL, self.rng.randint(1, 4)))
        if r() < 0.10:  # a node goes down or comes back
            self.down ^= {self.rng.choice(POOL)}
        self.mode = self.rng.choice(DNS_FAULTS) if r() < 0.08 else "answer"
        if r() < 0.05:
            self.mode = "truncate"
        self.subset = self.rng.randint(1, 3) if r() < 0.10 else None
        self.poison = r() < 0.05

    def health(self, ip: str) -> dict[str, Any]:
        if ip in self.down:
            return {"state": "unhealthy", "reason": "Target.FailedHealthChecks"}
        if self.rng.random() < 0.03:
            return {"state": self.rng.choice(["initial", "unused", "unavailable"])}
        return {"state": "healthy"}


@dataclass
class Stats:
    cycles: int = 0
    resolved: int = 0
    failed: int = 0
    registered: int = 0
    deregistered: int = 0
    api_faults: int = 0
    dns_faults: int = 0
    convergences: int = 0
    big_cycles: int = 0
    churn: int = 0  # deregistrations of nodes still in the full record set
    longest_convergence: int = 0  # clean cycles a big domain needed
    requests: Counter[str] = field(default_factory=Counter)


@contextlib.contextmanager
def quick_backoff() -> Iterator[None]:
    """Shrink botocore's retry delays: the soak checks invariants, not backoff timing."""
    config: dict[str, float] = standard.ExponentialBackoff._DEFAULT_BACKOFF_CONFIG  # type: ignore[attr-defined]
    saved = dict(config)
    config.update(throttling_base_scale=0.001, non_throttling_base_scale=0.001)
    try:
        yield
    finally:
        config.update(saved)


@contextlib.contextmanager
def quiet_logs() -> Iterator[None]:
    """Thousands of cycles of INFO lines help nobody; a broken invariant says enough."""
    level = logger.log_level
    logger.setLevel("CRITICAL")
    try:
        yield
    finally:
        logger.setLevel(level)


class Soak:
    """Runs cycles and checks invariants; raises :class:`InvariantBroken` on a breach."""

    def __init__(
        self, moto: MotoPeer, dns: DnsPeer, proxy: FaultProxy, seed: int, episode: int = EPISODE
    ) -> None:
        self.moto, self.dns, self.proxy, self.seed = moto, dns, proxy, seed
        self.episode = episode
        self.rng = random.Random(seed)
        self.world = World(random.Random(seed + 1))
        self.stats = Stats()
        self.now = 1_700_000_000.0
        self.elbv2 = boto3.client(
            "elbv2", region_name=REGION, endpoint_url=moto.endpoint
        )  # ground truth, no faults
        moto.seed(seed)
        self.arn = create_target_group(self.elbv2, "soak")
        self.first_missing: dict[str, float] = {}
        env = {
            config.HOSTNAME: HOSTNAME,
            config.TARGET_GROUP_ARN: self.arn,
            config.DNS_SERVERS: dns.address,
            config.STALE_AFTER: str(STALE_AFTER),
        }
        self.config = config.load(env)
        provider = Elbv2Provider(
            client_for_region=lambda region: make_client(
                region, connect_timeout=0.5, read_timeout=0.5
            )
        )
        self.controller = Controller(
            provider,
            TagRegistry(provider),
            # The shortest lifetime the resolver accepts: a shorter one never asks.
            lambda servers: DnsSource(servers, timeout=0.1, lifetime=MIN_QUERY_SECONDS),
            config=self.config,
            clock=lambda: self.now,
        )

    # ------------------------------------------------------------------ observation

    def group(self) -> dict[str, str]:
        found = self.elbv2.describe_target_health(TargetGroupArn=self.arn)
        return {
            d["Target"]["Id"]: d["TargetHealth"]["State"] for d in found["TargetHealthDescriptions"]
        }

    def fail(self, message: str) -> None:
        raise InvariantBroken(f"cycle {self.stats.cycles}, seed {self.seed}: {message}")

    # ------------------------------------------------------------------ one cycle

    def serve(self, faults: bool) -> dict[str, dict[str, Any]]:
        world = self.world
        answers = sorted(world.records) + (["198.51.100.7"] if world.poison and faults else [])
        if world.big:  # capped answers are how the name is served, not a fault
            self.dns.set(
                HOSTNAME,
                a=answers,
                mode=world.mode if faults else "answer",
                subset=BIG_ANSWER,
                sticky=world.sticky,
            )
        else:
            self.dns.set(
                HOSTNAME,
                a=answers,
                mode=world.mode if faults else "answer",
                subset=world.subset if faults else None,
            )
        health = {
            ip: world.health(ip)
            if faults
            else ({"state": "unhealthy"} if ip in world.down else {"state": "healthy"})
            for ip in POOL + BIG_POOL
        }
        self.moto.update_control(health=health)
        return health

    def inject(self) -> None:
        roll = self.rng.random()
        operation = self.rng.choice(OPERATIONS)
        kind = self.rng.choice(["throttle", "500", "503", "reset"])
        if roll < 0.12:  # transient: retried inside the call
            self.proxy.inject(Fault(kind, operation, times=self.rng.randint(1, 2)))
        elif roll < 0.15:  # persistent: the call fails
            self.proxy.inject(Fault(kind, operation, times=TOTAL_MAX_ATTEMPTS))
        else:
            return
        self.stats.api_faults += 1

    def cycle(self, *, faults: bool = True) -> MappingReport:
        if faults:
            self.world.evolve()
            self.now += self.rng.choice([60.0] * 20 + [55.0, 65.0, 3600.0, -600.0])
        else:
            self.now += 60.0
        health = self.serve(faults)
        if faults:
            self.inject()
        before = self.group()
        mark = self.proxy.mark()
        report = self.controller.run_once().mappings[0]
        requests = self.proxy.since(mark)
        self.proxy.faults.clear()
        after = self.group()
        self.stats.cycles += 1
        self.stats.requests.update(r.action for r in requests)
        self.check(report, requests, before, after, health)
        return report

    def check(
        self,
        report: MappingReport,
        requests: list[Any],
        before: dict[str, str],
        after: dict[str, str],
        health: dict[str, dict[str, Any]],
    ) -> None:
        passed = [r for r in requests if r.outcome == "passed"]
        if len(requests) > MAX_REQUESTS_PER_CYCLE:
            self.fail(
                f"{len(requests)} API requests in one cycle (bound "
                f"{MAX_REQUESTS_PER_CYCLE}): {Counter(r.action for r in requests)}"
            )
        if not report.resolved:
            self._check_nothing_changed(passed, before, after)
            return
        self.stats.resolved += 1
        self.stats.failed += 0 if report.ok else 1
        self.stats.registered += len(report.registered_ips)
        wanted = set(report.wanted)
        retired = {
            ip
            for r in passed
            if r.action == "DeregisterTargets"
            for key, values in r.params.items()
            if key.endswith(".Id")
            for ip in values
        }
        self.stats.deregistered += len(retired)
        if retired & wanted:
            self.fail(f"deregistered {retired & wanted}, which DNS returned")
        if self.world.big:
            self.stats.big_cycles += 1
            churn = retired & self.world.records
            self.stats.churn += len(churn)
            if churn:
                self.fail(
                    f"deregistered {sorted(churn)}, still in the name's full record "
                    f"set of {len(self.world.records)} behind answers of {BIG_ANSWER}"
                )
        serving = {ip for ip, state in after.items() if state != "draining"}
        if report.ok and not wanted <= serving:
            self.fail(f"resolved {wanted} but the group holds {after}")
        self._check_retirements(wanted, retired, before, health)

    def _check_nothing_changed(
        self, passed: list[Any], before: dict[str, str], after: dict[str, str]
    ) -> None:
        self.stats.failed += 1
        self.stats.dns_faults += 1
        writes = [r.action for r in passed if r.action in WRITES]
        if writes:
            self.fail(f"failed resolution, yet {writes} reached the API")
        if set(after) != set(before):
            self.fail(f"failed resolution changed the group {before} -> {after}")

    def _check_retirements(
        self,
        wanted: set[str],
        retired: set[str],
        before: dict[str, str],
        health: dict[str, dict[str, Any]],
    ) -> None:
        """A serving target goes only after the stale period, by this run's own count."""
        # A clock that jumped back puts earlier sightings in the future: count again.
        self.first_missing = {
            ip: min(at, self.now)
            for ip, at in self.first_missing.items()
            if ip not in wanted and ip in before
        }
        for ip in before:
            if ip not in wanted:
                self.first_missing.setdefault(ip, self.now)
        for ip in retired:
            state = health.get(ip, {}).get("state", "healthy")
            missing_for = self.now - self.first_missing.pop(ip, self.now)
            if state not in NOT_SERVING_STATES and missing_for < STALE_AFTER:
                self.fail(f"retired {ip} ({state}) after only {missing_for:.0f}s missing")

    def converge(self) -> None:
        """Faults stop: one clean cycle, then one more after the stale period."""
        self.proxy.clear()
        self.world.mode = "answer"
        if self.world.big:
            self._converge_big()
            return
        report = self.cycle(faults=False)
        records = self.world.records
        group = {ip: s for ip, s in self.group().items() if s != "draining"}
        if not report.ok or not records <= set(group):
            self.fail(f"clean cycle did not register {records}: {group} ({report.error})")
        leftovers = {ip for ip in group if ip not in records and ip in self.world.down}
        if leftovers:
            self.fail(f"clean cycle left unhealthy strays {leftovers}")
        self.now += STALE_AFTER
        self.cycle(faults=False)
        serving = {ip for ip, s in self.group().items() if s != "draining"}
        if serving != records:
            self.fail(
                f"a stale period later the group is {sorted(serving)}, DNS says {sorted(records)}"
            )
        self.stats.convergences += 1

    def _converge_big(self) -> None:
        """Behind capped answers the group converges within the stated bound."""
        records = self.world.records
        known = records | set(self.group())
        bound = required_absences(BIG_ANSWER, len(known)) + int(STALE_AFTER // 60) + 1
        for used in range(1, bound + 1):
            self.cycle(faults=False)
            group = {ip for ip, s in self.group().items() if s != "draining"}
            if group == records:
                self.stats.longest_convergence = max(self.stats.longest_convergence, used)
                self.stats.convergences += 1
                return
        self.fail(
            f"{bound} clean cycles behind answers of {BIG_ANSWER} did not converge: "
            f"group {sorted(group)}, DNS {sorted(records)}"
        )

    def run(self, cycles: int, progress: bool = False) -> Stats:
        started = time.monotonic()
        with quick_backoff(), quiet_logs():
            for number in range(1, cycles + 1):
                if number % self.episode == 0:
                    self.converge()
                    if self.world.big:
                        self.world.become_small()
                    else:
                        self.world.become_big()
                self.cycle()
                if number % CONVERGE_EVERY == 0:
                    self.converge()
                if progress and number % 1000 == 0:
                    print(f"  {number} cycles, {time.monotonic() - started:.0f}s", flush=True)
            self.converge()
        return self.stats


def every_feature(
    moto: MotoPeer,
    dns: DnsPeer,
    proxy: FaultProxy,
    seed: int,
    steps: int,
    *,
    progress: bool = False,
    quiet_every: int = QUIET_EVERY,
    **options: Any,
) -> Lab:
    """The stateful lab (every feature on at once, see :mod:`testlab.stateful`) through
    ``steps`` steps drawn from ``seed``, a quiet phase every ``quiet_every`` steps and
    at the end; raises its ``InvariantBroken`` on a breach. ``options``: the lab's."""
    rng = random.Random(seed)
    started = time.monotonic()
    with quiet_logs():
        lab = new_lab(moto, dns, proxy, seed=seed, **options)
        for number in range(1, steps + 1):
            lab.random_step(rng)
            if number % quiet_every == 0 and number < steps:
                lab.quiet()
            if progress and number % 500 == 0:
                print(
                    f"  {number} steps, {lab.invocations} invocations, {lab.checks} checks, "
                    f"{time.monotonic() - started:.0f}s",
                    flush=True,
                )
        lab.quiet()
    return lab


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make soak", description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=10_000)
    parser.add_argument(
        "--steps",
        type=int,
        default=1_000,
        help="then this many steps of the stateful lab, every feature on at once (0: none)",
    )
    parser.add_argument(
        "--seed", type=int, default=None, help="replay a run (default: a new seed, printed)"
    )
    parser.add_argument(
        "--tolerate",
        default=",".join(sorted(TOLERATED)),
        help="the open bugs of testlab/stateful/known.py the stateful lab "
        "tolerates, comma-separated (default: every one)",
    )
    parser.add_argument(
        "--strict",
        action="store_const",
        const="",
        dest="tolerate",
        help="tolerate none of them (--tolerate '')",
    )
    args = parser.parse_args(argv)
    tolerate = frozenset(b for b in args.tolerate.split(",") if b)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(10**9)
    print(
        f"soak: {args.cycles} cycles and {args.steps} stateful steps, seed {seed} (replay: "
        f"make soak SOAK_ARGS='--seed {seed} --cycles {args.cycles} --steps {args.steps}"
        + ("" if tolerate == TOLERATED else f" --tolerate {','.join(sorted(tolerate))!r}")
        + "')",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="tgsync-soak-") as workdir:
        moto = MotoPeer(Path(workdir)).start()
        dns = DnsPeer(seed=seed).start()
        proxy = FaultProxy(moto.port).start()
        os.environ.update(moto.environ())
        os.environ["AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2"] = proxy.endpoint
        started = time.monotonic()
        try:
            stats = Soak(moto, dns, proxy, seed).run(args.cycles, progress=True)
            lab = (
                every_feature(moto, dns, proxy, seed, args.steps, progress=True, tolerate=tolerate)
                if args.steps
                else None
            )
        except (InvariantBroken, LabInvariantBroken) as exc:
            print(f"FAILED: {exc}", flush=True)
            return 1
        finally:
            proxy.stop()
            dns.stop()
            moto.stop()
    if lab is not None:
        print(
            f"stateful: {args.steps} steps, {lab.invocations} invocations, {lab.checks} "
            f"checks, {lab.quiet_phases} quiet phases (the slowest group converged in "
            f"{lab.liveness.longest[0]:.0f}s of its {lab.liveness.longest[1]:.0f}s), every "
            "feature on at once; at most "
            f"{lab.tag_writes.most} tag writes to a group in a minute by follow-ups that "
            "changed none of its targets; memory samples (MiB) "
            f"{[round(s / 2**20, 1) for s in lab.memory.samples]}; every invariant held",
            flush=True,
        )
    elapsed = time.monotonic() - started
    print(
        f"soak: {stats.cycles} cycles in {elapsed:.0f}s ({stats.resolved} resolved, "
        f"{stats.dns_faults} DNS failures, {stats.api_faults} API faults injected, "
        f"{stats.registered} registered, {stats.deregistered} deregistered, "
        f"{stats.convergences} convergence checks); big domains: {stats.big_cycles} cycles, "
        f"churn {stats.churn}, longest convergence {stats.longest_convergence} cycles; "
        "every invariant held",
        flush=True,
    )
    print(f"API requests: {dict(stats.requests)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
