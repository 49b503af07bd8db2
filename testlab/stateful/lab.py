"""The function in the lab: one execution environment of tgsync over the world, its
invocations and checks, each followed by every invariant, and the quiet phases."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from typing import Any

import boto3

from testlab.aurora import failover_event
from testlab.faultproxy import FaultProxy
from testlab.peers import ACCOUNT, REGION, DnsPeer, MotoPeer
from testlab.stateful.invariants import (
    RATE,
    CheckWritesNothing,
    Invariant,
    NoFollowAfterAwsFailure,
    NothingInDnsRetired,
    NothingServingRetiredEarly,
    OnlyAllowedTouched,
    PacedWithinBudget,
    RecordsHoldWhileAnswered,
    Seen,
    ServedBehindLoadBalancer,
    WriterAloneAfterFlip,
)
from testlab.stateful.known import OPEN, TOLERATED
from testlab.stateful.layout import (
    ALLOWED,
    AURORA_IPS,
    CLOCK_STEPS,
    DNS_FAILURES,
    FAULTS,
    HAND_EDITED,
    HAND_IPS,
    HEALTH,
    HEALTH_IPS,
    OWNER,
    POOL,
    PREFIX,
    STALE_AFTER,
    START,
    hostname,
)
from testlab.stateful.liveness import (
    RESYNC_EVERY,
    TICK,
    TIMEOUT,
    ConvergesOnceQuiet,
    RegisteredOnlyWhatWasAnswered,
)
from testlab.stateful.resources import FewClients, FewTagWrites, MemoryHoldsSteady
from testlab.stateful.world import World
from tgsync import config, permission_checks, preflight
from tgsync.aws import Aws
from tgsync.config import Config
from tgsync.controller import Controller
from tgsync.events import Trigger, classify
from tgsync.pacing import TokenBucket
from tgsync.provider.elbv2 import OPERATIONS, Elbv2Provider
from tgsync.provider.errors import TOTAL_MAX_ATTEMPTS
from tgsync.registry import TagRegistry
from tgsync.report import InvocationReport
from tgsync.source import Nameserver, Source
from tgsync.source.rds import OPERATIONS as RDS_OPERATIONS
from tgsync.source.rds import RDS, RdsApi, RdsSource
from tgsync.source.resolver import DnsSource
from tgsync.wiring import BUCKETS

OPENSEARCH = "Amazon OpenSearch Service Software Update Notification"
#: A DNS query's timeout and a lookup's lifetime, in real seconds; and the AWS clients'
#: timeouts are tgsync's own. No step of the world hangs a peer, so these only have to
#: be long enough that a busy machine never times out a peer that answers: a run then
#: replays from its seed.
DNS_TIMEOUTS = (1.0, 2.0)


class Lab:
    """One function's execution environment, its world, and the invariants."""

    def __init__(
        self,
        moto: MotoPeer,
        dns: DnsPeer,
        proxy: FaultProxy,
        *,
        seed: int = 0,
        follow_for: float = 10.0,
        dns_timeouts: tuple[float, float] = DNS_TIMEOUTS,
        tolerate: frozenset[str] = TOLERATED,
        memory: MemoryHoldsSteady | None = None,
    ) -> None:
        unknown = tolerate - set(OPEN)
        if unknown:
            raise ValueError(
                f"tolerate names no open bug: {sorted(unknown)} (see testlab.stateful.known)"
            )
        self.world = world = World(moto, dns, proxy, seed=seed)
        self.proxy, self.clock = proxy, world.clock
        #: Cycles run so far (all invocations), and the count when the flip window ended.
        self.cycles_run = 0
        self.settled_after_cycle = 0
        self.config = self._config(follow_for)
        timeout, lifetime = dns_timeouts
        dns_sources: dict[tuple[Nameserver, ...], Source] = {}

        def dns_source(servers: tuple[Nameserver, ...]) -> Source:
            return dns_sources.setdefault(
                servers, DnsSource(servers, timeout=timeout, lifetime=lifetime)
            )

        self.dns_source = dns_source
        self.identity = RegisteredOnlyWhatWasAnswered(world)
        self.liveness = ConvergesOnceQuiet(world)
        self.clients = FewClients(world)
        self.tag_writes = FewTagWrites(world)
        self.memory = memory or MemoryHoldsSteady(world)
        self.invariants: list[Invariant] = [
            NothingInDnsRetired(world),
            NothingServingRetiredEarly(world),
            CheckWritesNothing(world),
            NoFollowAfterAwsFailure(world),
            PacedWithinBudget(world),
            ServedBehindLoadBalancer(world),
            OnlyAllowedTouched(world),
            RecordsHoldWhileAnswered(world),
            WriterAloneAfterFlip(world),
            self.identity,
            self.liveness,
            self.clients,
            self.tag_writes,
        ]
        self.generation = 0
        self.function = ""
        self.controller = self._controller()
        self.invocations = 0
        self.checks = 0
        self.quiet_phases = 0

    # ------------------------------------------------------------------ setup

    def _config(self, follow_for: float) -> Config:
        mappings: list[dict[str, Any]] = []
        for group in (g for g in self.world.groups if g.kind == "explicit"):
            common: dict[str, Any] = {"target_group_arn": group.arn}
            if group.stale_after != STALE_AFTER:
                common["stale_after"] = group.stale_after
            if group.retire != "all":
                common["retire"] = group.retire
            if group.aurora:
                mappings.append(
                    {
                        **common,
                        "hostname": self.world.hostname_of(group, group.domain),
                        **({"resolve": "rds"} if group.aurora != "writer" else {}),
                    }
                )
                continue
            mappings.extend({**common, "hostname": hostname(d)} for d in group.domains)
        return config.load(
            {
                config.MAPPINGS: json.dumps(mappings),
                config.DNS_SERVERS: self.world.dns.address,
                "TGSYNC_ALLOWED_CIDRS": ALLOWED,
                config.STALE_AFTER: str(STALE_AFTER),
                config.DISCOVER: "tags",
                "AWS_REGION": REGION,
                "TGSYNC_OWNER": OWNER,
                "TGSYNC_DISCOVER_PREFIX": PREFIX,
                "TGSYNC_DISCOVER_EVERY": "60",
                config.FOLLOW_INTERVAL: "1",
                config.FOLLOW_FOR: str(follow_for),
                "TGSYNC_RESYNC_EVERY": f"{RESYNC_EVERY:g}",
                "TGSYNC_API_RATE": str(RATE),
                # One at a time: which thread meets an injected fault must not vary, so
                # that a failure replays.
                "TGSYNC_CONCURRENCY": "1",
            }
        )

    def _aws(self) -> Aws:
        """The environment's one AWS call path as :func:`tgsync.wiring.build_aws` makes
        it, over the fault proxy (ELB through ``AWS_ENDPOINT_URL``, RDS given its
        endpoint here), its buckets paced on the simulated clock; backoff takes no time."""
        proxy = self.proxy.endpoint

        def bucket() -> TokenBucket:
            return TokenBucket(RATE, clock=self.clock.monotonic, sleep=self.clock.sleep)

        def client_for(service: str, region: str, config: Any, _role: str | None) -> Any:
            if service != RDS.name:
                return None  # the usual way
            session: Any = boto3.session.Session()  # any service, not boto3-stubs' list
            return session.client(service, region_name=region, endpoint_url=proxy, config=config)

        return Aws(
            pacers={b: bucket() for b in BUCKETS}, client_for=client_for, sleep=lambda _s: None
        )

    def _sources(self, aws: Aws) -> Callable[..., Source]:
        """The function's sources as :class:`tgsync.wiring.Sources` builds them: DNS per
        nameserver list, and for ``resolve=rds`` one :class:`RdsApi` on the same AWS
        call path."""
        api = RdsApi(aws)
        rds_sources: dict[tuple[Nameserver, ...], Source] = {}

        def source_for(servers: tuple[Nameserver, ...], resolve: str = "dns", /) -> Source:
            if resolve != "rds":
                return self.dns_source(servers)
            return rds_sources.setdefault(servers, RdsSource(api, self.dns_source(servers)))

        return source_for

    def _controller(self) -> Controller:
        self.generation += 1
        self.function = f"function #{self.generation}"
        aws = self._aws()
        provider = Elbv2Provider(aws)
        return Controller(
            provider,
            TagRegistry(provider),
            self._sources(aws),
            config=self.config,
            clock=self.clock,
        )

    # ------------------------------------------------------------------ steps of the function

    def tick(self, seconds: float = TICK) -> InvocationReport:
        """The schedule fires ``seconds`` after the last step."""
        self.clock.advance(seconds)
        self._settle()
        return self.invoke(classify({"source": "tgsync.schedule"}))

    def event(self, domain: str, seconds: float = 5.0) -> InvocationReport:
        """An OpenSearch event about ``domain`` arrives."""
        self.clock.advance(seconds)
        return self.invoke(
            classify(
                {
                    "source": "aws.es",
                    "detail-type": OPENSEARCH,
                    "account": ACCOUNT,
                    "resources": [f"arn:aws:es:{REGION}:{ACCOUNT}:domain/{domain}"],
                    "detail": {},
                }
            )
        )

    def aurora_failover(self, target: int | None = None, event: float | None = None) -> None:
        """A failover (see :meth:`World.aurora_failover`); with ``event``, the ``aws.rds``
        failover event arrives that many seconds later."""
        new = self.world.aurora_failover(target)
        if new is not None and event is not None:
            self.clock.advance(event)
            self.invoke(classify(failover_event(self.world.aurora, new)))

    def fault(self, kind: str, action: str, times: int, *, then_tick: bool = False) -> None:
        """The next ``times`` requests of ``action`` fail as ``kind`` says; with
        ``then_tick``, met by the schedule's invocation at once."""
        self.world.fault(kind, action, times)
        if then_tick:
            self.tick()

    def cold_start(self) -> None:
        """A new execution environment: nothing cached, fresh pacing buckets."""
        self.controller = self._controller()

    def _settle(self) -> None:
        if self.world.settle():
            self.settled_after_cycle = self.cycles_run
            self.identity.note()

    def _where(self) -> str:
        return f"invocation {self.invocations}, t={self.clock.now - START:.0f}s"

    def invoke(self, trigger: Trigger) -> InvocationReport:
        """One invocation of the function, then every invariant on what it did."""
        world = self.world
        self._settle()
        before, tags = world.snapshot(), world.tags()
        for invariant in self.invariants:
            invariant.before_sync(before, tags)
        start = self.clock.now
        marks = [self.proxy.mark()]
        cycles_before = self.cycles_run

        def on_cycle(_cycle: object) -> None:
            marks.append(self.proxy.mark())
            self.cycles_run += 1

        def sleep(seconds: float) -> None:  # the flip window may end while following
            self.clock.sleep(seconds)
            self._settle()

        with self.clients.counting(self.function):
            report = self.controller.run(
                trigger=trigger,
                sleep=sleep,
                time_left=lambda: start + TIMEOUT - self.clock.now,
                on_cycle=on_cycle,
            )
        world.clear_faults()
        self.invocations += 1
        seen = Seen(
            self._where(),
            self.function,
            self.proxy.since(marks[0]),
            before,
            tags,
            report,
            marks,
            cycles_before,
            self.settled_after_cycle,
        )
        for invariant in self.invariants:
            invariant.after_sync(seen)
        self._forget()
        return report

    def check(self) -> list[permission_checks.Check]:
        """``{"check": true}``: the preflight checks, beside the syncs."""
        world = self.world
        self._settle()
        self.checks += 1
        before, tags = world.snapshot(), world.tags()
        self.identity.note()
        mark = self.proxy.mark()
        start = self.clock.now
        function = f"check #{self.checks}"
        with self.clients.counting(function):
            aws = self._aws()
            found = preflight.run(
                self.config,
                Elbv2Provider(aws),
                self._sources(aws),
                lambda: start + TIMEOUT - self.clock.now,
            )
        world.clear_faults()
        seen = Seen(self._where(), function, self.proxy.since(mark), before, tags)
        for invariant in self.invariants:
            invariant.after_check(seen)
        self._forget()
        return found

    def _forget(self) -> None:
        """Let go of what no invariant looks at again: the requests and queries seen, the
        clock's past (the lab must not grow over a long run either)."""
        self.proxy.forget(self.proxy.mark())
        self.clock.forget_before(time.monotonic())
        with self.world.dns.lock:
            self.world.dns.queries.clear()

    def quiet(self) -> None:
        """The world stops changing (after :meth:`World.all_clear`): invocations on the
        schedule, nothing else, until every group converged and held (or one is past its
        bound: :class:`ConvergesOnceQuiet`); then a memory sample."""
        self.world.all_clear()
        self.quiet_phases += 1
        self.liveness.start()
        while True:
            self.tick(TICK)
            if self.liveness.progress(self._where() + f", quiet phase {self.quiet_phases}"):
                break
        self.memory.sample(self._where())

    # ------------------------------------------------------------------ a seeded run

    def random_step(self, rng: random.Random) -> str:
        """One step drawn from ``rng`` (the soak's way through the same steps)."""
        world = self.world
        domains = sorted(world.names)
        roll = rng.random()
        if roll < 0.35:
            self.tick(rng.choice([60.0] * 6 + [55.0, 65.0]))
            return "tick"
        step: Callable[[], object] = rng.choice(
            [
                lambda: self.event(rng.choice(domains), rng.uniform(1, 30)),
                self.check,
                lambda: world.dns_add(rng.choice(domains), rng.choice(POOL)),
                lambda: world.dns_remove(rng.choice(domains), rng.randrange(12)),
                lambda: world.dns_replace(rng.choice(domains), rng.sample(POOL, rng.randint(1, 4))),
                lambda: world.dns_rotate(rng.choice(domains), rng.random() < 0.5),
                lambda: world.dns_mode(
                    rng.choice(domains), rng.choice(["answer"] * 8 + DNS_FAILURES)
                ),
                lambda: world.dns_poison(rng.choice(domains), rng.random() < 0.5),
                lambda: world.health(rng.choice(HEALTH_IPS), rng.choice(HEALTH)),
                lambda: world.default_health(rng.choice(["healthy", "healthy", "initial"])),
                lambda: world.hand_register(rng.randrange(HAND_EDITED), rng.choice(HAND_IPS)),
                lambda: world.hand_deregister(rng.randrange(HAND_EDITED), rng.choice(HAND_IPS)),
                lambda: self.fault(
                    rng.choice(FAULTS),
                    rng.choice([*OPERATIONS, *RDS_OPERATIONS[:2], "*", "*"]),
                    rng.randint(1, TOTAL_MAX_ATTEMPTS),
                ),
                lambda: self.aurora_failover(
                    rng.choice([None, 0, 1]), rng.choice([None, rng.uniform(0.5, 5.0)])
                ),
                lambda: world.aurora_reader(rng.randrange(len(AURORA_IPS)), rng.random() < 0.6),
                # A call that fails for good, met by the very next invocation.
                lambda: self.fault(
                    rng.choice(FAULTS),
                    rng.choice(OPERATIONS[1:]),
                    TOTAL_MAX_ATTEMPTS,
                    then_tick=True,
                ),
                lambda: world.step_clock(rng.choice(CLOCK_STEPS)),
                self.cold_start,
                world.delete_mid_discovery,
                lambda: world.plant_record(rng.random() < 0.5),
            ]
        )
        step()
        return "step"


def new_lab(moto: MotoPeer, dns: DnsPeer, proxy: FaultProxy, **options: Any) -> Lab:
    """A lab on clean peers (moto reset, an empty zone, no faults), after the function's
    first invocation: its groups hold what DNS returns, so the first change counts."""
    moto.reset()
    moto.seed(int(options.get("seed", 0)))
    dns.reset()
    proxy.clear()
    lab = Lab(moto, dns, proxy, **options)
    lab.tick(0.0)
    return lab
