"""The lab's world: target groups in moto, names in the DNS server, an Aurora cluster, the
fault proxy and a simulated clock (what it is made of: :mod:`testlab.stateful.layout`),
and the steps that change them.

Nothing here is tgsync: the world is what the function meets. Its steps are what people,
load balancers, DNS and AWS do between invocations (a step never runs during one); its
observations read moto directly, never through the proxy, so they are never faulted and
never counted against tgsync.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable

import boto3
from botocore.exceptions import ClientError

from testlab.aurora import Aurora
from testlab.faultproxy import Fault, FaultProxy, Hook
from testlab.peers import REGION, DnsPeer, MotoPeer, attach_to_load_balancer, create_target_group
from testlab.stateful.clock import SimClock
from testlab.stateful.layout import (
    ALLOWED,
    AURORA_IPS,
    AURORA_PORT,
    ELSEWHERE_ID,
    OWNER,
    PLANTED_ON,
    POOL,
    SLOW_SECONDS,
    STATIC,
    Group,
    Name,
    Snapshot,
    Tags,
    first_groups,
    hostname,
    inside,
)
from tgsync.ownership import OWNED, decode_owned, owned_key, owner_id, pack_values
from tgsync.provider.errors import error_code


class World:
    """Everything the function meets, and the steps that change it."""

    def __init__(
        self,
        moto: MotoPeer,
        dns: DnsPeer,
        proxy: FaultProxy,
        *,
        seed: int = 0,
        elsewhere: bool = True,
        plant: bool = True,
    ) -> None:
        self.moto, self.dns, self.proxy = moto, dns, proxy
        self.rng = random.Random(seed)
        self.clock = SimClock()
        self.truth = boto3.client("elbv2", region_name=REGION, endpoint_url=moto.endpoint)
        ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=moto.endpoint)
        self.vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        self.groups = first_groups()
        if elsewhere:  # a resolve=rds mapping naming a cluster that is not the lab's
            self.groups.append(
                Group(
                    "plain-elsewhere",
                    "aurora-elsewhere",
                    kind="explicit",
                    stale_after=0.0,
                    aurora="elsewhere",
                    port=AURORA_PORT,
                )
            )
        for group in self.groups:
            group.arn = create_target_group(
                self.truth, group.name, vpc_id=self.vpc, port=group.port
            )
            if group.kind != "explicit":
                tags = {
                    "tgsync:hostname": hostname(group.domain),
                    "tgsync:owner": OWNER,
                    **group.tags,
                }
                self.truth.add_tags(
                    ResourceArns=[group.arn], Tags=[{"Key": k, "Value": v} for k, v in tags.items()]
                )
        # Only the groups tgsync should serve are behind the load balancer: a group it
        # serves without one would have no HealthyHostCount for the alarm.
        attach_to_load_balancer(self.truth, [g.arn for g in self.groups if g.served])
        #: (group ARN, ip) of targets the lab registered and tgsync never did (owned groups).
        self.foreign: set[tuple[str, str]] = set()
        for group in self.owned_groups():  # someone else's, before tgsync owned the group
            self.truth.register_targets(
                TargetGroupArn=group.arn, Targets=[{"Id": STATIC, "Port": group.port}]
            )
            self.foreign.add((group.arn, STATIC))
        self.names: dict[str, Name] = {}
        for domain in sorted({d for g in self.groups if not g.aurora for d in g.domains}):
            # The name behind the widening tag starts poisoned: the guard is tried at once.
            self.names[domain] = Name(
                set(self.rng.sample(POOL, self.rng.randint(1, 3))), poison=domain == "wide"
            )
            self._serve(domain)
        # The two hostnames of the shared group start with an IP in common (a node both
        # names return), so that one of them letting go of it is tried early.
        self.names["delta"].records.add(min(self.names["gamma"].records))
        self._serve("delta")
        rds = boto3.client("rds", region_name=REGION, endpoint_url=moto.endpoint)
        self.aurora = Aurora.create(
            rds, dns, cluster="orders", members=len(AURORA_IPS), ips=AURORA_IPS, seed=seed
        )
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
        self.moto.set_health(
            ip, state, "Target.FailedHealthChecks" if state == "unhealthy" else None
        )

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
            self.truth.register_targets(
                TargetGroupArn=group.arn, Targets=[{"Id": ip, "Port": group.port}]
            )
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
            self.truth.deregister_targets(
                TargetGroupArn=group.arn, Targets=[{"Id": ip, "Port": group.port}]
            )
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
            self.proxy.hooks[:] = [
                h for h in self.proxy.hooks if h.times > 0 and h not in self._slow
            ]
        self._slow.clear()

    def step_clock(self, seconds: float) -> None:
        """The clock jumps (a frozen environment thawed, an NTP step back)."""
        self.clock.advance(seconds)
        self.settle()

    def delete_mid_discovery(self) -> None:
        """A newly tagged group is deleted right after the next listing names it."""
        group = Group(f"tgs-gone-{len(self.groups)}", "alpha", kind="gone")
        group.arn = create_target_group(self.truth, group.name, vpc_id=self.vpc)
        self.truth.add_tags(
            ResourceArns=[group.arn],
            Tags=[
                {"Key": "tgsync:hostname", "Value": hostname("alpha")},
                {"Key": "tgsync:owner", "Value": OWNER},
            ],
        )
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
                d["Target"]["Id"]: (
                    d["Target"]["Id"],
                    int(d["Target"]["Port"]),
                    d["Target"].get("AvailabilityZone"),
                    d["TargetHealth"]["State"],
                )
                for d in described["TargetHealthDescriptions"]
            }
        return found

    def tags(self, groups: list[Group] | None = None) -> Tags:
        """The tags of ``groups`` (every live group), from moto directly."""
        arns = [g.arn for g in (self.live() if groups is None else groups)]
        described = self.truth.describe_tags(ResourceArns=arns)["TagDescriptions"]
        return {
            d["ResourceArn"]: {t["Key"]: t.get("Value", "") for t in d["Tags"]} for d in described
        }

    def instance_status(self) -> dict[str, str]:
        """DBInstanceStatus of each member of the cluster."""
        return self._roles()[1]

    def _roles(self) -> tuple[dict[str, bool], dict[str, str]]:
        """The cluster's members (is each the writer) and their status, as moto says;
        read again only after a step that changes them."""
        if self._rds_view is None:
            self._rds_view = (
                self.aurora.members(),
                {
                    i["DBInstanceIdentifier"]: i["DBInstanceStatus"]
                    for i in self.aurora.rds.describe_db_instances()["DBInstances"]
                },
            )
        return self._rds_view

    def writer_ip(self) -> str:
        """The writer's IP, as moto says."""
        return next(self.aurora.instances[i].ip for i, writes in self._roles()[0].items() if writes)

    def readers(self) -> dict[str, str]:
        """The readers' IPs, as moto says, with their status."""
        members, status = self._roles()
        return {
            self.aurora.instances[i].ip: status.get(i, "")
            for i, writes in members.items()
            if not writes
        }

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
            return (
                frozenset(self.aurora.instances[i].ip for i in flipping)
                if flipping
                else frozenset({self.writer_ip()})
            )
        if group.aurora == "reader":
            readers = frozenset(
                ip for ip, status in self.readers().items() if status == "available"
            )
            return readers or frozenset({self.writer_ip()})
        name = self.names[domain or group.domain]
        if name.mode != "answer":
            return None
        wanted = frozenset(
            ip
            for ip in name.answers()
            if inside(ip, [ALLOWED]) and (not group.narrowed or inside(ip, group.narrowed))
        )
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
