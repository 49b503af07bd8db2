"""The lab's world: target groups in moto, names in the DNS server, an Aurora cluster, the
fault proxy and a simulated clock, and the steps that change them.

Nothing here is tgsync: the world is what the function meets. Its steps are what people,
load balancers, DNS and AWS do between invocations (a step never runs during one); its
observations read moto directly, never through the proxy, so they are never faulted and
never counted against tgsync.
"""

from __future__ import annotations

import bisect
import ipaddress
import math
import random
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import boto3
from botocore.exceptions import ClientError

from testlab.aurora import Aurora
from testlab.faultproxy import Fault, FaultProxy, Hook
from testlab.peers import (
    REGION,
    DnsPeer,
    MotoPeer,
    attach_to_load_balancer,
    create_target_group,
)
from tgsync.ownership import OWNED, decode_owned, owned_key, owner_id, pack_values
from tgsync.provider.errors import error_code

START = 1_700_000_000.0
#: The function's own ranges; a tag may only narrow them.
ALLOWED = "10.0.0.0/16"
PREFIX = "tgs-"
OWNER = "team-a"
STALE_AFTER = 180.0
POOL = [f"10.0.{subnet}.{host}" for subnet in (1, 2) for host in range(10, 16)]
#: Answers a poisoned or misconfigured name adds: outside the function's ranges (the
#: first inside a tag's attempt to widen them; the second publicly routable, which ELB
#: refuses to register, by hand too).
POISON = ["10.9.0.5", "198.51.100.7"]
DNS_FAILURES = ["servfail", "refused", "nxdomain", "empty"]
HEALTH = ["healthy", "unhealthy", "initial", "unused", "unavailable"]
FAULTS = ["throttle", "500", "503", "reset", "denied", "not_found", "slow"]
#: How long a "slow" request takes, in simulated seconds: under the function's 5 s read
#: timeout, so it is answered, late (invocations near their deadline: the last seconds'
#: clients, the calls not made).
SLOW_SECONDS = 4.0
CLOCK_STEPS = [3600.0, -600.0, 300.0, 30.0]
#: A static (on-premises) target registered in the owned groups before tgsync owns them.
STATIC = "10.0.3.99"
#: The Aurora cluster's members (data addresses, apart from the OpenSearch pool).
AURORA_IPS = ["10.0.3.11", "10.0.3.12", "10.0.3.13"]
AURORA_PORT = 5432
#: Another cluster's reader endpoint: the same cluster name, another account's (or a
#: typo's) cluster id. No cluster of the lab's account *is* this endpoint, so its group
#: must stay as it is (issue 29, item 1).
ELSEWHERE_ID = "0therc1uster0"
#: The ``retire=all`` group on which another owner's record may appear (issue 29, item 4).
PLANTED_ON = "plain-alpha"
#: Whose health changes, and what hands register or deregister.
HEALTH_IPS = [*POOL, STATIC, *AURORA_IPS]
HAND_IPS = [*POOL, *POISON, STATIC]
#: Hand edits go to the first groups: every OpenSearch one (the Aurora groups' port differs).
HAND_EDITED = 8

#: ARN -> Id -> (Id, port, zone, state): a group's targets as moto holds them.
Snapshot = dict[str, dict[str, tuple[str, int, str | None, str]]]
#: ARN -> key -> value: the groups' tags.
Tags = dict[str, dict[str, str]]


def hostname(name: str) -> str:
    """An OpenSearch VPC endpoint for domain ``name`` (so events can announce it)."""
    return f"vpc-{name}-abc123.{REGION}.es.amazonaws.com"


def inside(ip: str, networks: Iterable[str]) -> bool:
    """True if ``ip`` is in one of ``networks``."""
    address = ipaddress.ip_address(ip)
    return any(address in ipaddress.ip_network(n) for n in networks)


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
    #: The Aurora endpoint the group serves: "writer", "reader" or "elsewhere" (another
    #: cluster's reader endpoint); "": a domain's.
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
        """Every record the name answers with (a rotation hands out windows of them)."""
        return sorted(self.records) + (POISON if self.poison else [])


class SimClock:
    """The simulated clock every part of the environment reads; it remembers when (in
    real monotonic time) it changed, so a proxy request can be dated in simulated time."""

    def __init__(self, now: float = START) -> None:
        self._lock = threading.Lock()
        self.now = now
        self.epoch = 0  # bumped when the clock steps back: pacing is counted per epoch
        self._monotonic = 0.0
        self._changes: list[tuple[float, float, int]] = [(time.monotonic(), now, 0)]

    def __call__(self) -> float:
        return self.now

    def monotonic(self) -> float:
        """The process's monotonic clock: it moves with the wall clock, but a step back
        (NTP) leaves it where it is, as Linux's CLOCK_MONOTONIC, which tgsync's pacing
        reads (a pacer on a clock going back would owe tokens for as long)."""
        return self._monotonic

    def advance(self, seconds: float) -> None:
        """Move by ``seconds`` (back if negative)."""
        with self._lock:
            self.now += seconds
            self._monotonic += max(seconds, 0.0)
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

    def forget_before(self, monotonic: float) -> None:
        """Drop the changes no request from before real ``monotonic`` time will ask about
        (the last one before it stays: it dates everything up to the next)."""
        with self._lock:
            index = bisect.bisect_right(self._changes, (monotonic, math.inf, math.inf)) - 1
            del self._changes[:max(index, 0)]


def _groups() -> list[Group]:
    return [
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


class World:
    """Everything the function meets, and the steps that change it."""

    def __init__(self, moto: MotoPeer, dns: DnsPeer, proxy: FaultProxy, *, seed: int = 0,
                 elsewhere: bool = True, plant: bool = True) -> None:
        self.moto, self.dns, self.proxy = moto, dns, proxy
        self.rng = random.Random(seed)
        self.clock = SimClock()
        self.truth = boto3.client("elbv2", region_name=REGION, endpoint_url=moto.endpoint)
        ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=moto.endpoint)
        self.vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        self.groups = _groups()
        if elsewhere:  # a resolve=rds mapping naming a cluster that is not the lab's
            self.groups.append(Group("plain-elsewhere", "aurora-elsewhere", kind="explicit",
                                     stale_after=0.0, aurora="elsewhere", port=AURORA_PORT))
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
        self._rds_view: tuple[dict[str, bool], dict[str, str]] | None = None
        #: (group ARN, ip) of the targets tgsync registered (and nobody deregistered).
        self.registered_by_tgsync: set[tuple[str, str]] = set()
        #: Whether another owner's ownership record may appear on :data:`PLANTED_ON`, and
        #: whether it does.
        self.plant = plant
        self.planted = False
        # One client for every group the lab deletes mid-discovery (a client per group
        # would be the lab's own leak).
        self._deleter = boto3.client("elbv2", region_name=REGION, endpoint_url=moto.endpoint)
        #: Groups to delete after the next listing, and the slow answers pending (hooks).
        self._deleting: list[Group] = []
        self._slow: list[Hook] = []

    def hostname_of(self, group: Group, domain: str) -> str:
        """The hostname a mapping of ``group`` keeps for ``domain``."""
        if group.aurora == "writer":
            return str(self.aurora.endpoint)
        if group.aurora == "reader":
            return str(self.aurora.reader_endpoint)
        if group.aurora == "elsewhere":  # the lab's reader endpoint, another cluster id
            name, _, rest = str(self.aurora.reader_endpoint).partition(".")
            kind, _, rest = rest.partition(".")
            return f"{name}.{kind.rsplit('-', 1)[0]}-{ELSEWHERE_ID}.{rest}"
        return hostname(domain)

    def live(self) -> list[Group]:
        """The groups that exist."""
        return [g for g in self.groups if g.kind != "gone"]

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
        tgsync holds it already or a record says it is tgsync's). ELB refuses a publicly
        routable address (the lab's ELB too, see :mod:`testlab.moto_server`): then the
        person's attempt changes nothing."""
        group = self.groups[index % len(self.groups)]
        if group.kind == "gone":
            return
        foreign = False
        if group.retire == OWNED:
            present = self.snapshot([group])[group.arn]
            owned = decode_owned(self.tags([group]).get(group.arn, {}), group.port)
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
            self.registered_by_tgsync.discard((group.arn, ip))

    def plant_record(self, on: bool) -> None:
        """Another owner's ``tgsync:owned`` record appears on a ``retire=all`` group (a
        renamed hostname's leftover, another process's owned mapping), or is cleared."""
        if not self.plant:
            return
        group = next(g for g in self.groups if g.name == PLANTED_ON)
        key = owned_key(group.port, 1)
        if on:
            value = pack_values(owner_id(hostname(f"old-{group.domain}")), [POOL[0]])[0]
            self.truth.add_tags(ResourceArns=[group.arn], Tags=[{"Key": key, "Value": value}])
        else:
            self.truth.remove_tags(ResourceArns=[group.arn], TagKeys=[key])
        self.planted = on

    def aurora_failover(self, target: int | None = None) -> str | None:
        """FailoverDBCluster (to the ``target``-th other member, or moto's choice); the
        writer endpoint's answers disagree for a window of simulated seconds. Returns the
        new writer (``None``: RDS refused the failover)."""
        names = sorted(self.aurora.instances)
        old = self.aurora.writer().identifier
        others = [n for n in names if n != old]
        chosen = None if target is None else others[target % len(others)]
        window = self.aurora.window()
        self._rds_view = None
        try:
            _, new = self.aurora.failover(chosen)
        except ClientError as exc:  # RDS refuses a failover to (or with only) stopped members
            if error_code(exc) not in ("InvalidDBInstanceState", "InvalidDBClusterStateFault"):
                raise
            return None
        self.settle_at = self.clock.now + window
        return new.identifier

    def aurora_reader(self, which: int, stop: bool) -> None:
        """A member is stopped (no longer ``available``: not a reader) or started."""
        instance = sorted(self.aurora.instances)[which % len(self.aurora.instances)]
        status = self.instance_status()
        self._rds_view = None
        if stop and status.get(instance) == "available":
            self.aurora.rds.stop_db_instance(DBInstanceIdentifier=instance)
        elif not stop and status.get(instance) == "stopped":
            self.aurora.rds.start_db_instance(DBInstanceIdentifier=instance)

    def settle(self) -> bool:
        """End the writer endpoint's flip window once its simulated time has come; True
        if it ended now."""
        if self.settle_at is not None and self.clock.now >= self.settle_at:
            self.aurora.settle()
            self.settle_at = None
            return True
        return False

    def fault(self, kind: str, action: str, times: int) -> None:
        """The next ``times`` requests of ``action`` fail as ``kind`` says, or, ``slow``,
        are answered :data:`SLOW_SECONDS` of simulated time later (met by the next
        invocation or check)."""
        if kind != "slow":
            self.proxy.inject(Fault(kind, action, times=times))
            return
        clock = self.clock
        self.proxy.after(action, lambda: clock.advance(SLOW_SECONDS), times=times)
        with self.proxy.lock:
            self._slow.append(self.proxy.hooks[-1])

    def clear_faults(self) -> None:
        """Faults not met stay with their invocation: the next one starts clean."""
        with self.proxy.lock:
            self.proxy.faults.clear()
            self.proxy.hooks[:] = [h for h in self.proxy.hooks
                                   if h.times > 0 and h not in self._slow]
        self._slow.clear()

    def step_clock(self, seconds: float) -> None:
        """The clock jumps (a frozen environment thawed, an NTP step back)."""
        self.clock.advance(seconds)
        self.settle()

    def delete_mid_discovery(self) -> None:
        """A newly tagged group is deleted right after the next listing names it."""
        group = Group(f"tgs-gone-{len(self.groups)}", "alpha", kind="gone")
        group.arn = create_target_group(self.truth, group.name, vpc_id=self.vpc)
        self.truth.add_tags(ResourceArns=[group.arn], Tags=[
            {"Key": "tgsync:hostname", "Value": hostname("alpha")},
            {"Key": "tgsync:owner", "Value": OWNER}])
        self.groups.append(group)
        self._deleting.append(group)
        arn, deleter = group.arn, self._deleter

        def delete() -> None:
            deleter.delete_target_group(TargetGroupArn=arn)
            self._deleting.remove(group)

        self.proxy.after("DescribeTargetGroups", delete)

    def all_clear(self) -> None:
        """The last change before the world holds still: every fault and slow answer
        gone, a group due to vanish after the next listing gone now, every name answering
        whole (its records and poison as they are; no rotation), the writer endpoint's
        flip window over."""
        self.clear_faults()
        with self.proxy.lock:  # a group due to vanish after a listing vanishes now
            self.proxy.hooks.clear()
        for group in self._deleting:
            self._deleter.delete_target_group(TargetGroupArn=group.arn)
        self._deleting.clear()
        for domain, name in self.names.items():
            if name.mode != "answer" or name.rotate:
                name.mode, name.rotate = "answer", False
                self._serve(domain)
        if self.settle_at is not None:
            self.settle_at = self.clock.now
            self.settle()

    # ------------------------------------------------------------------ observation

    def snapshot(self, groups: list[Group] | None = None) -> Snapshot:
        """ARN -> Id -> (Id, port, zone, state) of every target, from moto directly."""
        found: Snapshot = {}
        for group in self.live() if groups is None else groups:
            described = self.truth.describe_target_health(TargetGroupArn=group.arn)
            found[group.arn] = {
                d["Target"]["Id"]: (d["Target"]["Id"], int(d["Target"]["Port"]),
                                    d["Target"].get("AvailabilityZone"),
                                    d["TargetHealth"]["State"])
                for d in described["TargetHealthDescriptions"]}
        return found

    def tags(self, groups: list[Group] | None = None) -> Tags:
        """The tags of ``groups`` (every live group), from moto directly."""
        arns = [g.arn for g in (self.live() if groups is None else groups)]
        described = self.truth.describe_tags(ResourceArns=arns)["TagDescriptions"]
        return {d["ResourceArn"]: {t["Key"]: t.get("Value", "") for t in d["Tags"]}
                for d in described}

    def instance_status(self) -> dict[str, str]:
        """DBInstanceStatus of each member of the cluster."""
        return self._roles()[1]

    def _roles(self) -> tuple[dict[str, bool], dict[str, str]]:
        """The cluster's members (is each the writer) and their status, as moto says;
        read again only after a step that changes them."""
        if self._rds_view is None:
            self._rds_view = (self.aurora.members(), {
                i["DBInstanceIdentifier"]: i["DBInstanceStatus"] for i in
                self.aurora.rds.describe_db_instances()["DBInstances"]})
        return self._rds_view

    def writer_ip(self) -> str:
        """The writer's IP, as moto says."""
        return next(self.aurora.instances[i].ip for i, writes in self._roles()[0].items()
                    if writes)

    def readers(self) -> dict[str, str]:
        """The readers' IPs, as moto says, with their status."""
        members, status = self._roles()
        return {self.aurora.instances[i].ip: status.get(i, "") for i, writes
                in members.items() if not writes}

    def answer(self, group: Group, domain: str | None = None) -> frozenset[str]:
        """Everything the endpoint of ``group`` (or its mapping of ``domain``) stands for
        now, allowed or not: a name's records and poison (nothing while it fails), the
        writer (both during a flip), the readers whatever their state (the writer too
        when none is available), and nothing for another cluster's endpoint."""
        if group.aurora == "elsewhere":
            return frozenset()
        if group.aurora == "reader":
            return frozenset(self.readers()) | (self.allowed(group) or frozenset())
        if group.aurora == "writer":
            return self.allowed(group) or frozenset()
        name = self.names[domain or group.domain]
        return frozenset(name.answers()) if name.mode == "answer" else frozenset()

    def allowed(self, group: Group, domain: str | None = None) -> frozenset[str] | None:
        """What DNS returns for the group (or its mapping of ``domain``) that the guard
        allows; ``None``: the lookup fails (no answer, or none allowed), so nothing may
        change. An Aurora group: what the endpoint stands for, from moto's roles (both
        writers while the writer endpoint's answers disagree)."""
        if group.aurora == "elsewhere":
            return None
        if group.aurora == "writer":
            flipping = self.aurora.flipping
            return frozenset(self.aurora.instances[i].ip for i in flipping) if flipping \
                else frozenset({self.writer_ip()})
        if group.aurora == "reader":
            readers = frozenset(ip for ip, status in self.readers().items()
                                if status == "available")
            return readers or frozenset({self.writer_ip()})
        name = self.names[domain or group.domain]
        if name.mode != "answer":
            return None
        wanted = frozenset(ip for ip in name.answers() if inside(ip, [ALLOWED])
                           and (not group.narrowed or inside(ip, group.narrowed)))
        return wanted or None

    def records(self, group: Group, tags: Tags) -> dict[str, frozenset[str]]:
        """Domain -> the IPs its mapping's ownership records hold in ``tags``."""
        owned = decode_owned(tags.get(group.arn, {}), group.port)
        return {d: owned.mine(owner_id(hostname(d))) for d in group.domains}

    def kept(self, group: Group, tags: Tags) -> tuple[frozenset[str], frozenset[str]] | None:
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
