"""Start and drive the local peers: moto's server and a real DNS server, on 127.0.0.1."""

from __future__ import annotations

import ipaddress
import json
import os
import random
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from dnslib import AAAA, QTYPE, RCODE, RR, A, DNSRecord
from dnslib.server import BaseResolver, DNSError, DNSLogger, DNSServer

REGION = "eu-west-1"
LOOPBACK = "127.0.0.1"
#: Placeholder account moto uses; not a real account.
ACCOUNT = "123456789012"
#: Ports tried for the DNS server's shared UDP and TCP port.
BIND_ATTEMPTS = 20


# --------------------------------------------------------------------------- DNS


@dataclass
class Name:
    """What the DNS server answers for one name."""

    a: list[str] = field(default_factory=list)
    aaaa: list[str] = field(default_factory=list)
    #: answer | servfail | refused | nxdomain | timeout | empty | truncate
    mode: str = "answer"
    #: if set, each answer is a subset of this size (round-robin subsets): the next
    #: ``subset`` records of a rotation through the name's records, so that back-to-back
    #: answers always differ (see :meth:`DnsPeer.set`)
    subset: int | None = None
    #: with ``subset``: one random subset until :meth:`DnsPeer.reshuffle`, as a caching
    #: resolver repeats one answer for its TTL, instead of the rotation
    sticky: bool = False
    ttl: int = 60
    #: seconds the server takes to answer (a slow name: the query is answered late)
    delay: float = 0.0
    current: list[str] | None = None
    #: the rotation per record type: (the records in a seeded order, the next start)
    rotation: dict[str, tuple[list[str], int]] = field(default_factory=dict)


class _Resolver(BaseResolver):  # type: ignore[misc]  # dnslib is untyped
    def __init__(self, peer: DnsPeer) -> None:
        self.peer = peer

    def resolve(self, request: DNSRecord, handler: Any) -> DNSRecord:
        qname = str(request.q.qname).rstrip(".").lower()
        qtype = QTYPE[request.q.qtype]
        reply = request.reply()
        with self.peer.lock:
            self.peer.queries.append((qname, qtype, handler.protocol))
            name = self.peer.names.get(qname)
            if name is None:
                reply.header.rcode = RCODE.NXDOMAIN
                return reply
            mode, delay = name.mode, name.delay
            values = list(name.a if qtype == "A" else name.aaaa if qtype == "AAAA" else [])
            subset, ttl = name.subset, name.ttl
            rng = self.peer.rng
            if subset is not None and len(values) > subset:
                if name.sticky and qtype == "A":
                    name.current = name.current or rng.sample(values, subset)
                    values = list(name.current)
                else:
                    values = self.peer.rotate(qname, name, qtype, values, subset)
            rng.shuffle(values)
        if delay:
            time.sleep(delay)  # dnslib answers each query in a thread of its own
        if mode == "timeout":
            raise DNSError("simulated timeout: no reply sent")
        if mode in ("servfail", "refused", "nxdomain"):
            reply.header.rcode = getattr(RCODE, mode.upper())
            return reply
        if mode == "empty":
            return reply
        if mode == "truncate" and handler.protocol == "udp":
            reply.header.tc = 1
            return reply
        for value in values:
            rdata = A(value) if qtype == "A" else AAAA(value)
            reply.add_answer(RR(request.q.qname, request.q.qtype, rdata=rdata, ttl=ttl))
        return reply


class DnsPeer:
    """A real DNS server (UDP and TCP) on 127.0.0.1 serving a zone the test controls."""

    def __init__(self, seed: int = 0) -> None:
        self.names: dict[str, Name] = {}
        self.queries: list[tuple[str, str, str]] = []
        #: called with the name after each :meth:`set` or :meth:`mode` (pictures draw
        #: DNS from them)
        self.watchers: list[Callable[[str], None]] = []
        self.lock = threading.Lock()
        self.seed = seed
        self.rng = random.Random(seed)
        quiet = DNSLogger(
            log="-send,-recv,-request,-reply,-truncated,-error", prefix=False, logf=lambda _s: None
        )
        resolver = _Resolver(self)
        # UDP and TCP must share a port, which the OS picks for UDP; another process
        # may hold it for TCP already, so try again with a fresh one.
        for attempt in range(BIND_ATTEMPTS):
            self._udp = DNSServer(resolver, address=LOOPBACK, port=0, logger=quiet)
            self.port = self._udp.server.server_address[1]
            try:
                self._tcp = DNSServer(
                    resolver, address=LOOPBACK, port=self.port, tcp=True, logger=quiet
                )
                break
            except OSError:
                self._udp.server.server_close()
                if attempt == BIND_ATTEMPTS - 1:
                    raise

    def start(self) -> DnsPeer:
        self._udp.start_thread()
        self._tcp.start_thread()
        return self

    def stop(self) -> None:
        self._udp.stop()
        self._tcp.stop()

    @property
    def address(self) -> str:
        """``127.0.0.1:port``, as TGSYNC_DNS_SERVERS takes it."""
        return f"{LOOPBACK}:{self.port}"

    def set(
        self, hostname: str, a: Iterable[str] = (), aaaa: Iterable[str] = (), **options: Any
    ) -> None:
        """Serve ``hostname`` with these records and options (see :class:`Name`).

        With ``subset`` (and not ``sticky``), the answers rotate through the records as
        a round-robin server does (BIND's ``rrset-order cyclic``): the records in an
        order drawn from the peer's seed and the name, then each answer the next
        ``subset`` of them, wrapping around. So two answers in a row are never the same
        subset (a window of ``subset`` < n records is set by where it starts), the
        sequence is the same for a seed whatever ran before, and every record is
        handed out within ceil(n / subset) answers. Setting the name again with the same
        records carries the rotation on (a server republishing its zone does not restart
        its rotation); new records start a new one.
        """
        with self.lock:
            fresh = Name(list(a), list(aaaa), **options)
            before = self.names.get(hostname.lower())
            if before is not None:
                fresh.rotation = before.rotation  # rotate() restarts it if records changed
            self.names[hostname.lower()] = fresh
        self._changed(hostname)

    def _changed(self, hostname: str) -> None:
        for watch in self.watchers:
            watch(hostname.lower())

    def rotate(
        self, hostname: str, name: Name, qtype: str, values: list[str], size: int
    ) -> list[str]:
        """The next ``size`` of ``values`` in ``name``'s rotation (the lock is held)."""
        records = sorted(set(values))
        if len(records) <= size:
            return records
        order, start = name.rotation.get(qtype, ([], 0))
        if sorted(order) != records:  # the first query, or the records changed
            order = records
            seeded = random.Random(f"{self.seed}/{hostname}/{qtype}")
            seeded.shuffle(order)
            start = seeded.randrange(len(order))
        window = [order[(start + i) % len(order)] for i in range(size)]
        name.rotation[qtype] = (order, (start + size) % len(order))
        return window

    def reseed(self, seed: int) -> None:
        """Draw rotations and answer orders from ``seed`` from now on (names set after
        this, or whose records change, rotate in the order this seed gives)."""
        with self.lock:
            self.seed = seed
            self.rng = random.Random(seed)
            for name in self.names.values():
                name.rotation.clear()

    def mode(self, hostname: str, mode: str) -> None:
        """Switch how ``hostname`` is answered (answer, servfail, timeout, ...)."""
        with self.lock:
            self.names[hostname.lower()].mode = mode
        self._changed(hostname)

    def reshuffle(self, hostname: str) -> None:
        """Let a sticky subset change at the next query (the resolver's TTL ran out)."""
        with self.lock:
            self.names[hostname.lower()].current = None

    def reset(self) -> None:
        with self.lock:
            self.names.clear()
            self.queries.clear()


# --------------------------------------------------------------------------- moto


class MotoPeer:
    """moto's server with ELB-like health (see :mod:`testlab.moto_server`); with
    ``record_calls``, the targets it registers and deregisters (see :meth:`calls`)."""

    def __init__(self, workdir: Path, *, record_calls: bool = False) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.control_path = workdir / "moto-control.json"
        self.control_path.write_text("{}", encoding="utf-8")
        self.calls_path = workdir / "moto-calls.jsonl" if record_calls else None
        self._process: subprocess.Popen[str] | None = None
        self.port = 0

    def start(self) -> MotoPeer:
        repo_root = str(Path(__file__).resolve().parent.parent)
        env = dict(
            os.environ,
            PYTHONPATH=os.pathsep.join([repo_root, *filter(None, [os.environ.get("PYTHONPATH")])]),
        )
        calls = ["--calls", str(self.calls_path)] if self.calls_path else []
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "testlab.moto_server",
                "--control",
                str(self.control_path),
                *calls,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        line = self._process.stdout.readline() if self._process.stdout else ""
        if not line.startswith("PORT "):
            self.stop()
            raise RuntimeError(f"moto server did not start: {line!r}")
        self.port = int(line.split()[1])
        return self

    def stop(self) -> None:
        if self._process is not None:
            if self._process.stdin:
                self._process.stdin.close()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None

    @property
    def endpoint(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def environ(self) -> dict[str, str]:
        """Standard AWS variables pointing boto3 at this server, with dummy credentials."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
        }

    def calls(self) -> list[dict[str, Any]]:
        """The RegisterTargets and DeregisterTargets calls served so far, in order, as
        :mod:`testlab.moto_server` records them (``record_calls`` on)."""
        if self.calls_path is None or not self.calls_path.exists():
            return []
        lines = self.calls_path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def reset(self) -> None:
        """Clear every resource and the control file."""
        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()
        self.write_control({})

    def seed(self, seed: int) -> None:
        """Draw moto's random identifiers (ARN suffixes, endpoint ids) from ``seed`` from
        now on, so a run that creates the same resources replays exactly (tgsync reads
        ARNs: its staggered re-reads hash them)."""
        request = urllib.request.Request(f"{self.endpoint}/moto-api/seed?a={seed}", method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()

    def write_control(self, data: dict[str, Any]) -> None:
        tmp = self.control_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        tmp.replace(self.control_path)

    def read_control(self) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(self.control_path.read_text(encoding="utf-8") or "{}")
        return found

    def set_health(self, ip: str, state: str, reason: str | None = None) -> None:
        """What the ALB's health checks find for ``ip``."""
        data = self.read_control()
        data.setdefault("health", {})[ip] = {"state": state, "reason": reason}
        self.write_control(data)

    def set_rds_status(self, identifier: str, status: str | None, *, cluster: bool = False) -> None:
        """The status RDS answers for a DB instance (or, with ``cluster``, a DB cluster);
        ``None`` gives it back the one it had (see :mod:`testlab.moto_server`)."""
        key = "rds_cluster_status" if cluster else "rds_status"
        data = self.read_control()
        statuses = dict(data.get(key, {}))
        if status is None:
            statuses.pop(identifier, None)
        else:
            statuses[identifier] = status
        data[key] = statuses
        self.write_control(data)

    def update_control(self, **values: Any) -> None:
        data = self.read_control()
        data.update(values)
        self.write_control(data)


def create_target_group(
    client: Any,
    name: str = "opensearch",
    *,
    port: int = 443,
    ip_type: str = "ipv4",
    protocol: str = "HTTPS",
    vpc_cidr: str = "10.0.0.0/16",
    vpc_id: str | None = None,
) -> str:
    """An ``ip`` target group in moto (in a new VPC unless given one); returns its ARN."""
    vpc = vpc_id
    if vpc is None:
        ec2 = boto3.client("ec2", region_name=client.meta.region_name)
        vpc = ec2.create_vpc(CidrBlock=vpc_cidr)["Vpc"]["VpcId"]
    kwargs: dict[str, Any] = {
        "Name": name,
        "Protocol": protocol,
        "Port": port,
        "VpcId": vpc,
        "TargetType": "ip",
    }
    if ip_type == "ipv6":
        kwargs["IpAddressType"] = "ipv6"
    arn: str = client.create_target_group(**kwargs)["TargetGroups"][0]["TargetGroupArn"]
    return arn


def attach_to_load_balancer(client: Any, arns: str | Sequence[str], name: str = "front") -> str:
    """Put each group of ``arns`` behind a listener of a new internal ALB in the first
    group's VPC (ports 80, 10001, 10002, ...); returns the ALB's ARN."""
    groups = [arns] if isinstance(arns, str) else list(arns)
    vpc = client.describe_target_groups(TargetGroupArns=[groups[0]])["TargetGroups"][0]["VpcId"]
    ec2 = boto3.client("ec2", region_name=client.meta.region_name)
    cidr = ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"][0]["CidrBlock"]
    taken = {
        s["CidrBlock"]
        for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]
    }
    free = [
        str(n)
        for n in reversed(list(ipaddress.ip_network(cidr).subnets(new_prefix=24)))
        if str(n) not in taken
    ]
    subnets = [
        ec2.create_subnet(
            VpcId=vpc, CidrBlock=free[i], AvailabilityZone=f"{client.meta.region_name}{zone}"
        )["Subnet"]["SubnetId"]
        for i, zone in enumerate("ab")
    ]
    alb = client.create_load_balancer(
        Name=name, Subnets=subnets, Scheme="internal", Type="application"
    )
    alb_arn: str = alb["LoadBalancers"][0]["LoadBalancerArn"]
    for index, group in enumerate(groups):
        client.create_listener(
            LoadBalancerArn=alb_arn,
            Protocol="HTTP",
            Port=80 if index == 0 else 10000 + index,
            DefaultActions=[{"Type": "forward", "TargetGroupArn": group}],
        )
    return alb_arn


# --------------------------------------------------------------------------- EventBridge


class EventQueue:
    """An SQS queue in moto that a rule on an EventBridge bus feeds (moto delivers the
    events a rule matches to its SQS targets, as EventBridge does): what a subscriber to
    tgsync's change events would receive. ``pattern`` is the rule's event pattern."""

    def __init__(self, bus: str, pattern: dict[str, Any], region: str = REGION) -> None:
        events = boto3.client("events", region_name=region)
        self.sqs = boto3.client("sqs", region_name=region)
        if bus != "default":  # every account and region has the default bus
            events.create_event_bus(Name=bus)
        self.url = self.sqs.create_queue(QueueName=f"{bus}-events")["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        events.put_rule(Name=f"{bus}-to-queue", EventBusName=bus, EventPattern=json.dumps(pattern))
        events.put_targets(
            Rule=f"{bus}-to-queue", EventBusName=bus, Targets=[{"Id": "queue", "Arn": arn}]
        )

    def events(self) -> list[dict[str, Any]]:
        """The events delivered since the last read, as EventBridge delivers them."""
        found = []
        while messages := self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10).get(
            "Messages", []
        ):
            for message in messages:
                found.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])
        return found
