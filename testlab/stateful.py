"""Every feature on at once: a lab that steps a world and checks tgsync's invariants.

One execution environment of the function (a :class:`~tgsync.controller.Controller`
with its provider and memory) keeps explicit mappings *and* discovered groups, follows
what moves every second (the minimum) with a sleep that moves a simulated clock, skips
settled groups, answers OpenSearch events, and has the preflight check run beside it,
all against moto's server behind the fault proxy and a real DNS server. Between
invocations the world changes: DNS records (added, removed, replaced, rotated, failed,
poisoned), health, hand edits of the groups, injected ELB faults, clock steps, a group
deleted while discovery lists it, a cold start.

The same steps drive both the hypothesis state machine of
``tests/reliability/test_stateful.py`` (a short run in ``make check``) and the seeded
run of ``make soak`` (:meth:`Lab.random_step`). Every invocation and every check is
followed by these invariants; a breach raises :class:`InvariantBroken`:

1. nothing DNS returns (and the guard allows) is retired, and a failed lookup retires
   nothing;
2. nothing serving is retired before its stale period (first-missing times counted
   here, from the world's own view, which tgsync's can only trail);
3. the check writes nothing a sync writes: tags only ``tgsync:missing:check``,
   RegisterTargets only of a target already registered exactly as ELB reported it,
   DeregisterTargets only of ``192.0.2.1``, and every group is as it was;
4. no follow-up cycle, and no call about its group, for a mapping whose cycle failed
   at AWS earlier in the same invocation;
5. ELB requests (retries and refused ones included) within the pacing budget, per
   provider and bucket (Describe calls, writes): at most ``burst + rate * t`` in any
   ``t`` seconds of simulated time up to a minute;
6. every group tgsync serves is behind a load balancer, so ELB publishes its
   HealthyHostCount every minute for the alarm, and tgsync calls nothing but its own
   ELB operations for it;
7. no answer outside ``TGSYNC_ALLOWED_CIDRS`` (or a group's narrowing tag) is ever
   registered, whatever a tag says; no group outside ``TGSYNC_DISCOVER_PREFIX`` (and
   not mapped explicitly) is ever written to;
8. owned mode (``retire=owned``: an explicit group two hostnames share, a discovered
   group): a target tgsync did not register (registered by hand, or before ownership,
   by the lab's own record) is never deregistered, whatever its health and DNS; and an
   IP that a mapping's records hold (the group's tags before the invocation, read from
   moto) is never deregistered while that mapping's answer holds it or its lookup
   fails, by that mapping or another of the group (invariants 1 and 2 hold there for
   the IPs tgsync owns; invariant 3 covers ``tgsync:owned:*``: the check writes none);
9. an Aurora cluster (a writer group, ``stale_after`` 0, and a reader group,
   ``resolve=rds``, through the RDS API behind the fault proxy): once the writer
   endpoint's flip window is over and a writer cycle has run with every request
   answered, the writer group holds the writer alone; a cycle whose RDS read failed
   retires nothing from a ``resolve=rds`` group (and RDS reads keep the pacing budget).
"""

from __future__ import annotations

import bisect
import ipaddress
import json
import math
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.exceptions import ClientError

from testlab.aurora import Aurora, failover_event
from testlab.faultproxy import Fault, FaultProxy, Request
from testlab.peers import (
    ACCOUNT,
    REGION,
    DnsPeer,
    MotoPeer,
    attach_to_load_balancer,
    create_target_group,
)
from tgsync import config, preflight
from tgsync.config import Config
from tgsync.controller import Controller
from tgsync.events import Trigger, classify
from tgsync.model import NOT_SERVING_STATES
from tgsync.ownership import OWNED, decode_owned, owner_id
from tgsync.pacing import DEFAULT_BURST, TokenBucket
from tgsync.provider.elbv2 import (
    OPERATIONS,
    READ_OPERATIONS,
    WRITE_OPERATIONS,
    Elbv2Provider,
    make_client,
)
from tgsync.provider.errors import TOTAL_MAX_ATTEMPTS, error_code
from tgsync.registry import TagRegistry
from tgsync.report import InvocationReport
from tgsync.source import Nameserver, Source
from tgsync.source.rds import OPERATIONS as RDS_OPERATIONS
from tgsync.source.rds import RdsApi, RdsSource
from tgsync.source.rds import boto_config as rds_boto_config
from tgsync.source.resolver import DnsSource

START = 1_700_000_000.0
#: The function's own ranges; a tag may only narrow them.
ALLOWED = "10.0.0.0/16"
PREFIX = "tgs-"
OWNER = "team-a"
RATE = 1.0  # TGSYNC_API_RATE at its minimum: the pacing bites
STALE_AFTER = 180.0
#: The Lambda function's timeout, in simulated seconds.
TIMEOUT = 55.0
POOL = [f"10.0.{subnet}.{host}" for subnet in (1, 2) for host in range(10, 16)]
#: Answers a poisoned or misconfigured name adds: outside the function's ranges (the
#: first inside a tag's attempt to widen them).
POISON = ["10.9.0.5", "198.51.100.7"]
DNS_FAILURES = ["servfail", "refused", "nxdomain", "empty"]
HEALTH = ["healthy", "unhealthy", "initial", "unused", "unavailable"]
FAULTS = ["throttle", "500", "503", "reset", "denied", "not_found"]
CLOCK_STEPS = [3600.0, -600.0, 300.0, 30.0]
OPENSEARCH = "Amazon OpenSearch Service Software Update Notification"
CHECK_TAG_KEYS = {preflight.CHECK_TAG}
#: A static (on-premises) target registered in the owned groups before tgsync owns them.
STATIC = "10.0.3.99"
#: The Aurora cluster's members (data addresses, apart from the OpenSearch pool).
AURORA_IPS = ["10.0.3.11", "10.0.3.12", "10.0.3.13"]
AURORA_PORT = 5432
#: Whose health changes, and what hands register or deregister.
HEALTH_IPS = [*POOL, STATIC, *AURORA_IPS]
HAND_IPS = [*POOL, *POISON, STATIC]
#: Hand edits go to the first groups: every OpenSearch one (the Aurora groups' port differs).
HAND_EDITED = 8


class InvariantBroken(AssertionError):
    """An invariant did not hold; the message says which and where."""


def hostname(name: str) -> str:
    """An OpenSearch VPC endpoint for domain ``name`` (so events can announce it)."""
    return f"vpc-{name}-abc123.{REGION}.es.amazonaws.com"


@dataclass
class Group:
    """A target group of the lab: how tgsync should treat it."""

    name: str
    domain: str
    arn: str = ""
    #: explicit | adopted | theirs (another owner) | outside (outside the prefix) | gone
    kind: str = "adopted"
    stale_after: float = STALE_AFTER
    narrowed: tuple[str, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)
    retire: str = "all"
    #: The domains of the other owned mappings that share the group and port.
    also: tuple[str, ...] = ()
    #: The Aurora endpoint the group serves: "writer" or "reader" ("": a domain's).
    aurora: str = ""
    port: int = 443

    @property
    def served(self) -> bool:
        """True if tgsync should keep this group."""
        return self.kind in ("explicit", "adopted")

    @property
    def domains(self) -> tuple[str, ...]:
        """The domains of every mapping that keeps the group."""
        return (self.domain, *self.also)


@dataclass
class Name:
    """What DNS serves for one domain's endpoint."""

    records: set[str]
    mode: str = "answer"
    poison: bool = False
    rotate: bool = False

    def answers(self) -> list[str]:
        return sorted(self.records) + (POISON if self.poison else [])


class SimClock:
    """The simulated clock every part of the environment reads; it remembers when (in
    real monotonic time) it changed, so a proxy request can be dated in simulated time."""

    def __init__(self, now: float = START) -> None:
        self._lock = threading.Lock()
        self.now = now
        self.epoch = 0  # bumped when the clock steps back: pacing is counted per epoch
        self._changes: list[tuple[float, float, int]] = [(time.monotonic(), now, 0)]

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move by ``seconds`` (back if negative)."""
        with self._lock:
            self.now += seconds
            if seconds < 0:
                self.epoch += 1
            self._changes.append((time.monotonic(), self.now, self.epoch))

    def sleep(self, seconds: float) -> None:
        """A sleep that takes no real time."""
        self.advance(max(seconds, 0.0))

    def at(self, monotonic: float) -> tuple[float, int]:
        """The simulated time and epoch at real ``monotonic`` time."""
        with self._lock:
            index = bisect.bisect_right(self._changes, (monotonic, math.inf, math.inf)) - 1
            _, now, epoch = self._changes[max(index, 0)]
            return now, epoch


def ids(request: Request, what: str = "Targets") -> list[str]:
    """The target Ids (or tag keys, ``what="TagKeys"``/``"Tags"``) a request names."""
    suffix = {"Targets": ".Id", "Tags": ".Key", "TagKeys": ""}[what]
    found = []
    for key, values in sorted(request.params.items()):
        if key.startswith(f"{what}.member.") and key.endswith(suffix) and (
                what != "TagKeys" or key.count(".") == 2):
            found.extend(values)
    return found


def targets_of(request: Request) -> list[tuple[str, int, str | None]]:
    """(Id, Port, AvailabilityZone) of each target a Register/DeregisterTargets names."""
    members: dict[str, dict[str, str]] = {}
    for key, values in request.params.items():
        parts = key.split(".")
        if len(parts) == 3 and parts[0] == "Targets" and parts[1] == "member":
            members.setdefault(parts[2], {})
        if len(parts) == 4 and parts[:2] == ["Targets", "member"]:
            members.setdefault(parts[2], {})[parts[3]] = values[0]
    return [(m.get("Id", ""), int(m.get("Port", "0")), m.get("AvailabilityZone"))
            for _, m in sorted(members.items())]


def group_of(request: Request) -> str:
    """The target group ARN a request is about ("" for a region-wide listing)."""
    for key in ("TargetGroupArn", "ResourceArns.member.1", "TargetGroupArns.member.1"):
        if key in request.params:
            return request.params[key][0]
    return ""


def _inside(ip: str, networks: Iterable[str]) -> bool:
    address = ipaddress.ip_address(ip)
    return any(address in ipaddress.ip_network(n) for n in networks)


class Lab:
    """One function's execution environment, its world, and the invariants."""

    def __init__(self, moto: MotoPeer, dns: DnsPeer, proxy: FaultProxy, *,
                 seed: int = 0, follow_for: float = 10.0,
                 dns_timeouts: tuple[float, float] = (0.2, 0.5)) -> None:
        self.moto, self.dns, self.proxy = moto, dns, proxy
        self.rng = random.Random(seed)
        self.clock = SimClock()
        self.truth = boto3.client("elbv2", region_name=REGION, endpoint_url=moto.endpoint)
        ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=moto.endpoint)
        self.vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        self.groups: list[Group] = [
            Group("plain-alpha", "alpha", kind="explicit"),
            Group("plain-beta", "beta", kind="explicit", stale_after=60.0),
            Group("tgs-logs", "logs", stale_after=120.0,
                  narrowed=("10.0.1.0/24", "10.0.2.0/24"), tags={
                      "tgsync:stale-after": "120",
                      "tgsync:allowed-cidrs": "10.0.1.0/24 10.0.2.0/24"}),
            # A tag that tries to widen the function's ranges: it may only narrow.
            Group("tgs-wide", "wide", narrowed=("0.0.0.0/0",),
                  tags={"tgsync:allowed-cidrs": "0.0.0.0/0"}),
            Group("tgs-theirs", "logs", kind="theirs", tags={"tgsync:owner": "team-b"}),
            Group("outside-logs", "logs", kind="outside"),
            # Shared groups: two owned hostnames in one explicit group, and a discovered
            # group that retires only what tgsync registered.
            Group("plain-shared", "gamma", kind="explicit", retire=OWNED, also=("delta",)),
            Group("tgs-owned", "epsilon", stale_after=120.0, retire=OWNED,
                  tags={"tgsync:retire": OWNED, "tgsync:stale-after": "120"}),
            # An Aurora cluster's writer (a single-answer name: stale_after 0) and readers
            # (the RDS API: authoritative, so retired at once as well).
            Group("plain-writer", "aurora-writer", kind="explicit", stale_after=0.0,
                  aurora="writer", port=AURORA_PORT),
            Group("plain-reader", "aurora-reader", kind="explicit", stale_after=0.0,
                  aurora="reader", port=AURORA_PORT),
        ]
        for group in self.groups:
            group.arn = create_target_group(self.truth, group.name, vpc_id=self.vpc,
                                            port=group.port)
            if group.kind != "explicit":
                tags = {"tgsync:hostname": hostname(group.domain), "tgsync:owner": OWNER,
                        **group.tags}
                self.truth.add_tags(ResourceArns=[group.arn], Tags=[
                    {"Key": k, "Value": v} for k, v in tags.items()])
        # Only the groups tgsync should serve are behind the load balancer: a group it
        # serves without one would have no HealthyHostCount for the alarm.
        attach_to_load_balancer(self.truth, [g.arn for g in self.groups if g.served])
        #: (group ARN, ip) of targets the lab registered and tgsync never did (owned groups).
        self.foreign: set[tuple[str, str]] = set()
        for group in self.owned_groups():  # someone else's, before tgsync owned the group
            self.truth.register_targets(TargetGroupArn=group.arn,
                                        Targets=[{"Id": STATIC, "Port": group.port}])
            self.foreign.add((group.arn, STATIC))
        self.names: dict[str, Name] = {}
        for domain in sorted({d for g in self.groups if not g.aurora for d in g.domains}):
            # The name behind the widening tag starts poisoned: the guard is tried at once.
            self.names[domain] = Name(set(self.rng.sample(POOL, self.rng.randint(1, 3))),
                                      poison=domain == "wide")
            self._serve(domain)
        # The two hostnames of the shared group start with an IP in common (a node both
        # names return), so that one of them letting go of it is tried early.
        self.names["delta"].records.add(min(self.names["gamma"].records))
        self._serve("delta")
        rds = boto3.client("rds", region_name=REGION, endpoint_url=moto.endpoint)
        self.aurora = Aurora.create(rds, dns, cluster="orders", members=len(AURORA_IPS),
                                    ips=AURORA_IPS, seed=seed)
        #: Simulated time at which the writer endpoint's flip window ends.
        self.settle_at: float | None = None
        #: Cycles run so far (all invocations), and the count when the flip window ended.
        self.cycles_run = 0
        self.settled_after_cycle = 0
        mappings: list[dict[str, Any]] = []
        for group in (g for g in self.groups if g.kind == "explicit"):
            common: dict[str, Any] = {"target_group_arn": group.arn}
            if group.stale_after != STALE_AFTER:
                common["stale_after"] = group.stale_after
            if group.retire != "all":
                common["retire"] = group.retire
            if group.aurora:
                mappings.append({**common, "hostname": self.hostname_of(group, group.domain),
                                 **({"resolve": "rds"} if group.aurora == "reader" else {})})
                continue
            mappings.extend({**common, "hostname": hostname(d)} for d in group.domains)
        self.config: Config = config.load({
            config.MAPPINGS: json.dumps(mappings), config.DNS_SERVERS: dns.address,
            "TGSYNC_ALLOWED_CIDRS": ALLOWED, config.STALE_AFTER: str(STALE_AFTER),
            config.DISCOVER: "tags", "AWS_REGION": REGION, "TGSYNC_OWNER": OWNER,
            "TGSYNC_DISCOVER_PREFIX": PREFIX, "TGSYNC_DISCOVER_EVERY": "60",
            config.FOLLOW_INTERVAL: "1", config.FOLLOW_FOR: str(follow_for),
            "TGSYNC_RESYNC_EVERY": "120", "TGSYNC_API_RATE": str(RATE),
            # One at a time: which thread meets an injected fault must not vary, so
            # that a failure replays.
            "TGSYNC_CONCURRENCY": "1",
        })
        timeout, lifetime = dns_timeouts
        dns_sources: dict[tuple[Nameserver, ...], Source] = {}

        def dns_source(servers: tuple[Nameserver, ...]) -> Source:
            return dns_sources.setdefault(servers, DnsSource(servers, timeout=timeout,
                                                             lifetime=lifetime))

        self.dns_source = dns_source
        self.generation = 0
        self.function = ""
        self.controller = self._controller()
        #: Simulated (time, epoch) of each request, by (provider, bucket).
        self.paced: dict[tuple[str, str], list[tuple[float, int]]] = {}
        #: (group ARN, ip) -> when this lab first saw it registered and not wanted.
        self.first_missing: dict[tuple[str, str], float] = {}
        self.invocations = 0
        self.checks = 0

    # ------------------------------------------------------------------ setup

    def _provider(self) -> Elbv2Provider:
        """A provider over the proxy, paced on the simulated clock as the function's
        (wiring's buckets); its backoff takes no time."""
        def bucket() -> TokenBucket:
            return TokenBucket(RATE, clock=self.clock, sleep=self.clock.sleep)

        return Elbv2Provider(
            client_for_region=lambda region: make_client(region, connect_timeout=0.5,
                                                         read_timeout=0.5),
            pacer=bucket(), write_pacer=bucket(), sleep=lambda _s: None)

    def _sources(self, provider: Elbv2Provider) -> Callable[..., Source]:
        """The function's sources as :class:`tgsync.wiring.Sources` builds them: DNS per
        nameserver list, and for ``resolve=rds`` one :class:`RdsApi` (over the fault
        proxy, paced on the simulated clock, its reads kept for the provider's cycle)."""
        proxy = self.proxy.endpoint
        api = RdsApi(client_for_region=lambda region: boto3.session.Session().client(
            "rds", region_name=region, endpoint_url=proxy,
            config=rds_boto_config(connect_timeout=0.5, read_timeout=0.5)),
            pacer=TokenBucket(RATE, clock=self.clock, sleep=self.clock.sleep),
            cycle=lambda: provider.deadline, sleep=lambda _s: None)
        rds_sources: dict[tuple[Nameserver, ...], Source] = {}

        def source_for(servers: tuple[Nameserver, ...], resolve: str = "dns", /) -> Source:
            if resolve != "rds":
                return self.dns_source(servers)
            return rds_sources.setdefault(servers, RdsSource(api, self.dns_source(servers)))

        return source_for

    def _controller(self) -> Controller:
        self.generation += 1
        self.function = f"function #{self.generation}"
        provider = self._provider()
        self.source_for = self._sources(provider)
        return Controller(provider, TagRegistry(provider), self.source_for,
                          config=self.config, clock=self.clock)

    def hostname_of(self, group: Group, domain: str) -> str:
        """The hostname a mapping of ``group`` keeps for ``domain``."""
        if group.aurora == "writer":
            return str(self.aurora.endpoint)
        if group.aurora == "reader":
            return str(self.aurora.reader_endpoint)
        return hostname(domain)

    def owned_groups(self) -> list[Group]:
        """The live groups whose mappings retire only what they registered."""
        return [g for g in self.live() if g.retire == OWNED]

    def _serve(self, domain: str) -> None:
        name = self.names[domain]
        answers = name.answers()
        # Rotating answers: each query a window of the records, three lookups see all.
        subset = max(1, math.ceil(len(answers) / 3)) if name.rotate else None
        self.dns.set(hostname(domain), a=answers, mode=name.mode, subset=subset)

    # ------------------------------------------------------------------ the world's steps

    def dns_add(self, domain: str, ip: str) -> None:
        """A node joins the name."""
        self.names[domain].records.add(ip)
        self._serve(domain)

    def dns_remove(self, domain: str, which: int) -> None:
        """A node leaves the name: the ``which``-th of its records (modulo their number)."""
        records = sorted(self.names[domain].records)
        if records:
            self.names[domain].records.discard(records[which % len(records)])
            self._serve(domain)

    def dns_replace(self, domain: str, ips: Iterable[str]) -> None:
        """A blue/green deployment: a whole new set of nodes."""
        self.names[domain].records = set(ips)
        self._serve(domain)

    def dns_rotate(self, domain: str, on: bool) -> None:
        """Answers become windows of a round-robin rotation (or whole again)."""
        self.names[domain].rotate = on
        self._serve(domain)

    def dns_mode(self, domain: str, mode: str) -> None:
        """The name fails (servfail, refused, nxdomain, empty) or answers again."""
        self.names[domain].mode = mode
        self._serve(domain)

    def dns_poison(self, domain: str, on: bool) -> None:
        """Answers outside the function's ranges appear (or go)."""
        self.names[domain].poison = on
        self._serve(domain)

    def health(self, ip: str, state: str) -> None:
        """What the load balancer's health checks find for ``ip``."""
        self.moto.set_health(ip, state, "Target.FailedHealthChecks"
                             if state == "unhealthy" else None)

    def default_health(self, state: str) -> None:
        """The state of a target not probed yet (``initial`` as a real ALB)."""
        self.moto.update_control(default_state=state)

    def hand_register(self, index: int, ip: str) -> None:
        """Someone registers a target by hand (in an owned group, a foreign one unless
        tgsync holds it already or a records says it is tgsync's). ELB refuses a publicly
        routable address (the lab's ELB too, see :mod:`testlab.moto_server`): then the
        person's attempt changes nothing."""
        group = self.groups[index % len(self.groups)]
        if group.kind == "gone":
            return
        foreign = False
        if group.retire == OWNED:
            present = self.snapshot([group])[group.arn]
            owned = decode_owned(self._tags([group]).get(group.arn, {}), group.port)
            foreign = ip not in present and not any(ip in ips for ips in owned.by_owner.values())
        try:
            self.truth.register_targets(TargetGroupArn=group.arn,
                                        Targets=[{"Id": ip, "Port": group.port}])
        except ClientError as exc:
            if error_code(exc) not in ("ValidationError", "InvalidTarget"):
                raise
            return
        if foreign:
            self.foreign.add((group.arn, ip))

    def hand_deregister(self, index: int, ip: str) -> None:
        """Someone deregisters a target by hand."""
        group = self.groups[index % len(self.groups)]
        if group.kind != "gone":
            self.truth.deregister_targets(TargetGroupArn=group.arn,
                                          Targets=[{"Id": ip, "Port": group.port}])
            self.foreign.discard((group.arn, ip))

    def aurora_failover(self, target: int | None = None, event: float | None = None
                        ) -> None:
        """FailoverDBCluster (to the ``target``-th other member, or moto's choice); the
        writer endpoint's answers disagree for a window of simulated seconds. With
        ``event``: the ``aws.rds`` failover event arrives that many seconds later."""
        names = sorted(self.aurora.instances)
        old = self.aurora.writer().identifier
        others = [n for n in names if n != old]
        chosen = None if target is None else others[target % len(others)]
        window = self.aurora.window()
        try:
            _, new = self.aurora.failover(chosen)
        except ClientError as exc:  # RDS refuses a failover to (or with only) stopped members
            if error_code(exc) not in ("InvalidDBInstanceState", "InvalidDBClusterStateFault"):
                raise
            return
        self.settle_at = self.clock.now + window
        if event is not None:
            self.clock.advance(event)
            self.invoke(classify(failover_event(self.aurora, new.identifier)))

    def aurora_reader(self, which: int, stop: bool) -> None:
        """A member is stopped (no longer ``available``: not a reader) or started."""
        instance = sorted(self.aurora.instances)[which % len(self.aurora.instances)]
        status = {i["DBInstanceIdentifier"]: i["DBInstanceStatus"] for i in
                  self.aurora.rds.describe_db_instances()["DBInstances"]}
        if stop and status.get(instance) == "available":
            self.aurora.rds.stop_db_instance(DBInstanceIdentifier=instance)
        elif not stop and status.get(instance) == "stopped":
            self.aurora.rds.start_db_instance(DBInstanceIdentifier=instance)

    def _settle(self) -> None:
        """End the writer endpoint's flip window once its simulated time has come."""
        if self.settle_at is not None and self.clock.now >= self.settle_at:
            self.aurora.settle()
            self.settle_at = None
            self.settled_after_cycle = self.cycles_run

    def fault(self, kind: str, action: str, times: int, *, then_tick: bool = False) -> None:
        """The next ``times`` requests of ``action`` fail as ``kind`` says (met by the
        next invocation or check; ``then_tick``: the schedule's, at once)."""
        self.proxy.inject(Fault(kind, action, times=times))
        if then_tick:
            self.tick()

    def step_clock(self, seconds: float) -> None:
        """The clock jumps (a frozen environment thawed, an NTP step back)."""
        self.clock.advance(seconds)
        self._settle()

    def cold_start(self) -> None:
        """A new execution environment: nothing cached, fresh pacing buckets."""
        self.controller = self._controller()

    def delete_mid_discovery(self) -> None:
        """A newly tagged group is deleted right after the next listing names it."""
        group = Group(f"tgs-gone-{len(self.groups)}", "alpha", kind="gone")
        group.arn = create_target_group(self.truth, group.name, vpc_id=self.vpc)
        self.truth.add_tags(ResourceArns=[group.arn], Tags=[
            {"Key": "tgsync:hostname", "Value": hostname("alpha")},
            {"Key": "tgsync:owner", "Value": OWNER}])
        self.groups.append(group)
        self.proxy.delete_after("DescribeTargetGroups", group.arn)

    # ------------------------------------------------------------------ invocations

    def tick(self, seconds: float = 60.0) -> InvocationReport:
        """The schedule fires ``seconds`` after the last step."""
        self.clock.advance(seconds)
        self._settle()
        return self.invoke(classify({"source": "tgsync.schedule"}))

    def event(self, domain: str, seconds: float = 5.0) -> InvocationReport:
        """An OpenSearch event about ``domain`` arrives."""
        self.clock.advance(seconds)
        return self.invoke(classify({
            "source": "aws.es", "detail-type": OPENSEARCH, "account": ACCOUNT,
            "resources": [f"arn:aws:es:{REGION}:{ACCOUNT}:domain/{domain}"], "detail": {}}))

    def invoke(self, trigger: Trigger) -> InvocationReport:
        """One invocation of the function, then every invariant on what it did."""
        self._settle()
        before = self.snapshot()
        tags_before = self._tags()
        self._count_missing(before, tags_before)
        start = self.clock.now
        marks = [self.proxy.mark()]
        first_cycle = self.cycles_run

        def on_cycle(_cycle: object) -> None:
            marks.append(self.proxy.mark())
            self.cycles_run += 1

        def sleep(seconds: float) -> None:  # the flip window may end while following
            self.clock.sleep(seconds)
            self._settle()

        report = self.controller.run(
            trigger=trigger, sleep=sleep,
            time_left=lambda: start + TIMEOUT - self.clock.now, on_cycle=on_cycle)
        self._clear_faults()
        requests = self.proxy.since(marks[0])
        self.invocations += 1
        self._pacing(self.function, requests)
        self._retirements(requests, before, tags_before)
        self._owned(requests, tags_before)
        self._aurora(report, marks, first_cycle)
        self._not_followed_after_failure(report, marks)
        self._only_allowed(requests, sync=True)
        self._served_behind_load_balancer(report, requests)
        return report

    def check(self) -> list[preflight.Check]:
        """``{"check": true}``: the preflight checks, beside the syncs."""
        self._settle()
        self.checks += 1
        before = self.snapshot()
        tags_before = self._tags()
        mark = self.proxy.mark()
        start = self.clock.now
        provider = self._provider()
        found = preflight.run(self.config, provider, self._sources(provider),
                              lambda: start + TIMEOUT - self.clock.now)
        self._clear_faults()
        requests = self.proxy.since(mark)
        self._pacing(f"check #{self.checks}", requests)
        self._check_wrote_nothing(requests, before, tags_before)
        self._only_allowed(requests, sync=False)
        return found

    def _clear_faults(self) -> None:
        with self.proxy.lock:  # a fault not met stays with its invocation
            self.proxy.faults.clear()

    # ------------------------------------------------------------------ observation

    def live(self) -> list[Group]:
        return [g for g in self.groups if g.kind != "gone"]

    def snapshot(self, groups: list[Group] | None = None
                 ) -> dict[str, dict[str, tuple[str, int, str | None, str]]]:
        """ARN -> Id -> (Id, port, zone, state) of every target, from moto directly."""
        found: dict[str, dict[str, tuple[str, int, str | None, str]]] = {}
        for group in self.live() if groups is None else groups:
            described = self.truth.describe_target_health(TargetGroupArn=group.arn)
            found[group.arn] = {
                d["Target"]["Id"]: (d["Target"]["Id"], int(d["Target"]["Port"]),
                                    d["Target"].get("AvailabilityZone"),
                                    d["TargetHealth"]["State"])
                for d in described["TargetHealthDescriptions"]}
        return found

    def _tags(self, groups: list[Group] | None = None) -> dict[str, dict[str, str]]:
        arns = [g.arn for g in (self.live() if groups is None else groups)]
        described = self.truth.describe_tags(ResourceArns=arns)["TagDescriptions"]
        return {d["ResourceArn"]: {t["Key"]: t.get("Value", "") for t in d["Tags"]}
                for d in described}

    def allowed(self, group: Group, domain: str | None = None) -> frozenset[str] | None:
        """What DNS returns for the group (or its mapping of ``domain``) that the guard
        allows; ``None``: the lookup fails (no answer, or none allowed), so nothing may
        change. An Aurora group: what the endpoint stands for, from moto's roles (both
        writers while the writer endpoint's answers disagree)."""
        if group.aurora == "writer":
            flipping = self.aurora.flipping
            return frozenset(self.aurora.instances[i].ip for i in flipping) if flipping \
                else frozenset({self.aurora.writer().ip})
        if group.aurora == "reader":
            status = {i["DBInstanceIdentifier"]: i["DBInstanceStatus"] for i in
                      self.aurora.rds.describe_db_instances()["DBInstances"]}
            readers = frozenset(r.ip for r in self.aurora.readers()
                                if status.get(r.identifier) == "available")
            return readers or frozenset({self.aurora.writer().ip})
        name = self.names[domain or group.domain]
        if name.mode != "answer":
            return None
        wanted = frozenset(ip for ip in name.answers() if _inside(ip, [ALLOWED])
                           and (not group.narrowed or _inside(ip, group.narrowed)))
        return wanted or None

    def records(self, group: Group, tags: dict[str, dict[str, str]]
                ) -> dict[str, frozenset[str]]:
        """Domain -> the IPs its mapping's ownership records hold in ``tags``."""
        owned = decode_owned(tags.get(group.arn, {}), group.port)
        return {d: owned.mine(owner_id(hostname(d))) for d in group.domains}

    def kept(self, group: Group, tags: dict[str, dict[str, str]]
             ) -> tuple[frozenset[str], frozenset[str]] | None:
        """(wanted, held) of a group as this lab counts absence: wanted, what tgsync
        must keep; held, IPs whose count neither starts nor ends (a lookup failed with
        them recorded). Shared groups: what each mapping records and its answer holds.
        ``None``: the whole group holds still (its one lookup fails)."""
        if len(group.domains) == 1:
            wanted = self.allowed(group)
            return None if wanted is None else (wanted, frozenset())
        kept: set[str] = set()
        held: set[str] = set()
        for domain, mine in self.records(group, tags).items():
            answer = self.allowed(group, domain)
            if answer is None:
                held |= mine
            else:
                kept |= answer & mine
        return frozenset(kept), frozenset(held)

    def fail(self, invariant: int, message: str) -> None:
        raise InvariantBroken(f"invariant {invariant}, invocation {self.invocations}, "
                              f"t={self.clock.now - START:.0f}s: {message}")

    # ------------------------------------------------------------------ invariants

    def _count_missing(self, before: dict[str, dict[str, tuple[str, int, str | None, str]]],
                       tags: dict[str, dict[str, str]]) -> None:
        """First-missing times as the world sees them, at the invocation's start (DNS
        and health hold still during an invocation): never later than tgsync's own."""
        now = self.clock.now
        for group in self.live():
            if not group.served or (kept := self.kept(group, tags)) is None:
                continue
            wanted, held = kept
            present = before[group.arn]
            for key in [k for k in self.first_missing if k[0] == group.arn]:
                if key[1] in held:
                    continue
                if key[1] in wanted or key[1] not in present:
                    del self.first_missing[key]
                else:  # a clock that jumped back: count from now at the latest
                    self.first_missing[key] = min(self.first_missing[key], now)
            for ip in present:
                if ip not in wanted and ip not in held:
                    self.first_missing.setdefault((group.arn, ip), now)
            # A foreign target an owned mapping's answer now holds is adopted: tgsync's.
            answers = {ip for d in group.domains for ip in self.allowed(group, d) or ()}
            self.foreign -= {(group.arn, ip) for ip in answers | (set(self._ips_of(group))
                                                                  - set(present))}

    def _ips_of(self, group: Group) -> list[str]:
        """The IPs the lab recorded as foreign in ``group``."""
        return [ip for arn, ip in self.foreign if arn == group.arn]

    def _retirements(self, requests: list[Request],
                     before: dict[str, dict[str, tuple[str, int, str | None, str]]],
                     tags: dict[str, dict[str, str]]) -> None:
        """Invariants 1 and 2 (a shared group's invariant 1 is invariant 8's second half:
        which mapping retired an IP the request does not say)."""
        by_arn = {g.arn: g for g in self.live()}
        for request in requests:
            if request.action != "DeregisterTargets" or request.outcome != "passed":
                continue
            group = by_arn.get(group_of(request))
            if group is None:
                continue
            wanted = self.allowed(group) if len(group.domains) == 1 else frozenset()
            at, _ = self.clock.at(request.at)
            for ip in ids(request):
                if wanted is None:
                    self.fail(1, f"{group.name}: retired {ip} while its lookup fails")
                elif ip in wanted:
                    self.fail(1, f"{group.name}: retired {ip}, which DNS returns "
                                 f"({sorted(wanted)})")
                state = before[group.arn].get(ip, (ip, 0, None, "unknown"))[3]
                first = self.first_missing.pop((group.arn, ip), at)
                if state not in NOT_SERVING_STATES and at - first < group.stale_after:
                    self.fail(2, f"{group.name}: retired {ip} ({state}) after {at - first:.0f}s "
                                 f"missing, stale after {group.stale_after:.0f}s")

    def _owned(self, requests: list[Request], tags: dict[str, dict[str, str]]) -> None:
        """Invariant 8."""
        by_arn = {g.arn: g for g in self.owned_groups()}
        for request in requests:
            if request.action != "DeregisterTargets" or request.outcome != "passed":
                continue
            group = by_arn.get(group_of(request))
            if group is None:
                continue
            records = self.records(group, tags)
            for ip in ids(request):
                if (group.arn, ip) in self.foreign:
                    self.fail(8, f"{group.name}: retired {ip}, which tgsync did not register")
                for domain, mine in records.items():
                    answer = self.allowed(group, domain)
                    if ip in mine and (answer is None or ip in answer):
                        self.fail(8, f"{group.name}: retired {ip}, which {hostname(domain)}'s "
                                     "records hold and its answer " + (
                                         "holds" if answer else "failed to give"))

    def _aurora(self, report: InvocationReport, marks: list[int], first_cycle: int) -> None:
        """Invariant 9."""
        writer = next(g for g in self.groups if g.aurora == "writer")
        readers = {g.arn for g in self.groups if g.aurora == "reader"}
        rds_failed = False
        clean_after_flip = False
        for index, cycle in enumerate(report.cycles):
            during = self.proxy.since(marks[index])[:marks[index + 1] - marks[index]]
            last: dict[str, str] = {}
            for request in during:
                if request.action in RDS_OPERATIONS:
                    last[request.action] = request.outcome
            if last:  # no read: the cycle's kept (cached) result, failed or not
                rds_failed = any(outcome != "passed" for outcome in last.values())
            if rds_failed:
                for request in during:
                    if (request.action == "DeregisterTargets" and request.outcome == "passed"
                            and group_of(request) in readers):
                        self.fail(9, f"retired {ids(request)} from a resolve=rds group in a "
                                     "cycle whose RDS read failed")
            number = first_cycle + index + 1
            # Read and synced, not deferred to the next invocation for lack of time.
            synced = any(m.target_group_arn == writer.arn and m.ok and m.resolved
                         and m.observed and not m.deferred for m in cycle.mappings)
            if (synced and number > self.settled_after_cycle
                    and all(r.outcome == "passed" for r in during)):
                clean_after_flip = True
        if clean_after_flip and self.aurora.flipping is None:
            held = {ip for ip, (_, _, _, state) in self.snapshot([writer])[writer.arn].items()
                    if state != "draining"}
            if held != {self.aurora.writer().ip}:
                self.fail(9, f"{writer.name} holds {sorted(held)} after the flip window and a "
                             f"clean cycle; the writer is {self.aurora.writer().ip}")

    def _check_wrote_nothing(self, requests: list[Request],
                             before: dict[str, dict[str, tuple[str, int, str | None, str]]],
                             tags_before: dict[str, dict[str, str]]) -> None:
        """Invariant 3."""
        for request in (r for r in requests if r.action in WRITE_OPERATIONS):
            arn = group_of(request)
            if request.action in ("AddTags", "RemoveTags"):
                keys = set(ids(request, "Tags" if request.action == "AddTags" else "TagKeys"))
                if not keys <= CHECK_TAG_KEYS:
                    self.fail(3, f"the check's {request.action} on {arn} names {sorted(keys)}")
            elif request.action == "DeregisterTargets":
                named = set(ids(request))
                if named != {preflight.NEVER_A_TARGET}:
                    self.fail(3, f"the check deregistered {sorted(named)} from {arn}")
            else:  # RegisterTargets: only an address ELB never takes, never a held target
                named = {target[0] for target in targets_of(request)}
                if named != {preflight.NEVER_A_TARGET}:
                    self.fail(3, f"the check registered {sorted(named)} in {arn}")
        # The check's own tag may stay behind when its removal failed: the check says so.
        def others(tags: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
            return {a: {k: v for k, v in t.items() if k not in CHECK_TAG_KEYS}
                    for a, t in tags.items()}

        after, tags_after = self.snapshot(), others(self._tags())
        for arn, targets in after.items():
            if set(targets) != set(before.get(arn, {})):
                self.fail(3, f"the check changed the targets of {arn}: "
                             f"{sorted(before.get(arn, {}))} -> {sorted(targets)}")
            if tags_after.get(arn) != others(tags_before).get(arn):
                self.fail(3, f"the check changed the tags of {arn}: "
                             f"{others(tags_before).get(arn)} -> {tags_after.get(arn)}")

    def _not_followed_after_failure(self, report: InvocationReport, marks: list[int]) -> None:
        """Invariant 4."""
        halted: set[str] = set()
        for index, cycle in enumerate(report.cycles):
            if index:
                again = {m.mapping_key for m in cycle.mappings if m.mapping_key} & halted
                if again:
                    self.fail(4, f"follow-up cycle {index} ran {sorted(again)} after an AWS "
                                 "failure in this invocation")
                arns = {k.rsplit(":", 1)[0] for k in halted}
                during = self.proxy.since(marks[index])[:marks[index + 1] - marks[index]]
                touched = {group_of(r) for r in during
                           if r.action != "DescribeTargetGroups"} & arns
                if touched:
                    self.fail(4, f"follow-up cycle {index} called ELB about {sorted(touched)} "
                                 "after an AWS failure in this invocation")
            halted |= {k for m in cycle.mappings if m.aws_failed and (k := m.mapping_key)}

    def _pacing(self, provider: str, requests: list[Request]) -> None:
        """Invariant 5: every window of up to a minute holds ``burst + rate * t``."""
        for bucket, operations in (("Describe", READ_OPERATIONS), ("write", WRITE_OPERATIONS),
                                   ("RDS", RDS_OPERATIONS)):
            seen = self.paced.setdefault((provider, bucket), [])
            for request in (r for r in requests if r.action in operations):
                at, epoch = self.clock.at(request.at)
                seen.append((at, epoch))
                for count, (earlier, era) in enumerate(reversed(seen), start=1):
                    if era != epoch or at - earlier >= 60.0:
                        break
                    if count > DEFAULT_BURST + RATE * (at - earlier) + 1e-6:
                        self.fail(5, f"{provider}: {count} {bucket} requests in "
                                     f"{at - earlier:.1f}s of simulated time (budget "
                                     f"{DEFAULT_BURST} + {RATE:g}/s)")
            del seen[:-200]

    def _served_behind_load_balancer(self, report: InvocationReport,
                                     requests: list[Request]) -> None:
        """Invariant 6."""
        unknown = {r.action for r in requests} - set(OPERATIONS) - set(RDS_OPERATIONS)
        if unknown:
            self.fail(6, f"tgsync called {sorted(unknown)}, which the role does not allow")
        served = {m.target_group_arn for c in report.cycles for m in c.mappings
                  if m.hostname and m.target_group_arn}
        live = {g.arn for g in self.live()}
        for arn in sorted(served & live):
            group = self.truth.describe_target_groups(TargetGroupArns=[arn])["TargetGroups"][0]
            if not group.get("LoadBalancerArns"):
                self.fail(6, f"tgsync serves {group['TargetGroupName']}, which no load "
                             "balancer uses: no HealthyHostCount reaches the alarm")

    def _only_allowed(self, requests: list[Request], *, sync: bool) -> None:
        """Invariant 7."""
        by_arn = {g.arn: g for g in self.groups}
        for request in requests:
            if request.action not in WRITE_OPERATIONS:
                continue
            group = by_arn.get(group_of(request))
            if group is None:
                continue
            if group.kind == "outside":
                self.fail(7, f"{request.action} on {group.name}, outside "
                             f"TGSYNC_DISCOVER_PREFIX {PREFIX!r}")
            if sync and request.action == "RegisterTargets":
                for ip in ids(request):
                    if not _inside(ip, [ALLOWED]) or (group.narrowed
                                                      and not _inside(ip, group.narrowed)):
                        self.fail(7, f"registered {ip} in {group.name}, outside "
                                     f"{ALLOWED} and the group's {group.narrowed}")

    # ------------------------------------------------------------------ a seeded run

    def random_step(self, rng: random.Random) -> str:
        """One step drawn from ``rng`` (the soak's way through the same steps)."""
        domains = sorted(self.names)
        roll = rng.random()
        if roll < 0.35:
            self.tick(rng.choice([60.0] * 6 + [55.0, 65.0]))
            return "tick"
        step: Callable[[], object] = rng.choice([
            lambda: self.event(rng.choice(domains), rng.uniform(1, 30)),
            self.check,
            lambda: self.dns_add(rng.choice(domains), rng.choice(POOL)),
            lambda: self.dns_remove(rng.choice(domains), rng.randrange(12)),
            lambda: self.dns_replace(rng.choice(domains),
                                     rng.sample(POOL, rng.randint(1, 4))),
            lambda: self.dns_rotate(rng.choice(domains), rng.random() < 0.5),
            lambda: self.dns_mode(rng.choice(domains),
                                  rng.choice(["answer"] * 8 + DNS_FAILURES)),
            lambda: self.dns_poison(rng.choice(domains), rng.random() < 0.5),
            lambda: self.health(rng.choice(HEALTH_IPS), rng.choice(HEALTH)),
            lambda: self.default_health(rng.choice(["healthy", "healthy", "initial"])),
            lambda: self.hand_register(rng.randrange(HAND_EDITED),
                                       rng.choice(HAND_IPS)),
            lambda: self.hand_deregister(rng.randrange(HAND_EDITED), rng.choice(HAND_IPS)),
            lambda: self.fault(rng.choice(FAULTS), rng.choice(
                [*OPERATIONS, *RDS_OPERATIONS[:2], "*", "*"]), rng.randint(1, TOTAL_MAX_ATTEMPTS)),
            lambda: self.aurora_failover(rng.choice([None, 0, 1]), rng.choice(
                [None, rng.uniform(0.5, 5.0)])),
            lambda: self.aurora_reader(rng.randrange(len(AURORA_IPS)), rng.random() < 0.6),
            # A call that fails for good, met by the very next invocation.
            lambda: self.fault(rng.choice(FAULTS), rng.choice(OPERATIONS[1:]),
                               TOTAL_MAX_ATTEMPTS, then_tick=True),
            lambda: self.step_clock(rng.choice(CLOCK_STEPS)),
            self.cold_start,
            self.delete_mid_discovery,
        ])
        step()
        return "step"


def new_lab(moto: MotoPeer, dns: DnsPeer, proxy: FaultProxy, **options: Any) -> Lab:
    """A lab on clean peers (moto reset, an empty zone, no faults), after the function's
    first invocation: its groups hold what DNS returns, so the first change counts."""
    moto.reset()
    dns.reset()
    proxy.clear()
    lab = Lab(moto, dns, proxy, **options)
    lab.tick(0.0)
    return lab
