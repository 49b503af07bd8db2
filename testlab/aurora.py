"""An Aurora PostgreSQL cluster in moto's RDS, and the DNS server answering its endpoints.

moto (server mode) holds the cluster and its instances; the lab's :class:`DnsPeer` answers
the names RDS gives them, the way Aurora's DNS does (Aurora User Guide, "Amazon Aurora
endpoint connections"):

- the cluster (writer) endpoint: the writer's IP;
- the reader endpoint: ONE reader per query. Aurora "balances each connection request
  among the Aurora Replicas", and the writer when there is no replica (Aurora User Guide,
  "Reader endpoints for Amazon Aurora"); each resolution gives one instance IP "chosen
  randomly" (Aurora MySQL Database Administrator's Handbook, "Load balancing with the
  reader endpoint"). The lab rotates through the readers in an order drawn from its seed
  instead: as unpredictable to tgsync, but reproducible, and every reader shows within
  as many queries as there are readers;
- each instance endpoint: that instance's IP.

IPs are data (10.x addresses as the rest of the lab uses), never destinations.

:meth:`Aurora.failover` calls moto's ``FailoverDBCluster`` and then flips DNS as Aurora
does: the writer endpoint moves to the new writer, but for a few seconds queries disagree,
each answering the old or the new writer (a rotation over the two in an order drawn
from the lab's seed, so the same seed gives the same answers). :meth:`Aurora.settle` ends
that window: the writer endpoint holds the new writer only and the reader endpoint the new
readers. Health stands apart: the demo gives each instance a TCP listener on loopback and
probes it as an NLB does (:mod:`testlab.nodes`), tests and benchmarks set it through the
lab's health control (``MotoPeer.set_health``). Either way the old writer stays healthy
after a failover (it is a reader now and still accepts TCP), which is the hazard tgsync
must not be fooled by.

What moto (5.2) models, checked against its answers: DescribeDBClusters with
``DBClusterMembers`` and ``IsClusterWriter``, ``Endpoint`` and ``ReaderEndpoint`` names
(``<cluster>.cluster-<id>.<region>.rds.amazonaws.com`` and ``.cluster-ro-``, as RDS names
them; the lab serves exactly those names, so ``resolve=rds``'s identity check, the name
*is* the cluster's endpoint, holds for them); FailoverDBCluster (with or without a
target) moving ``IsClusterWriter``; DescribeDBInstances with ``Endpoint.Address`` and
``DBInstanceStatus`` (``available``, or ``stopped``/``deleting`` after those calls; any
other documented status through the lab's control file, ``MotoPeer.set_rds_status``).
What it does not model, so the lab plays it or leaves it out:

- DNS: moto names endpoints but answers no queries (the DNS server here does);
- the failover's duration and states: moto's FailoverDBCluster flips the roles at once and
  the cluster stays ``available`` (no ``failing-over``); the DNS window stands for it;
- instance endpoints: moto names them ``<instance>.aaaaaaaaaa.<region>.rds.amazonaws.com``,
  a fixed identifier, where AWS uses the cluster's own per-account identifier; and moto
  draws a cluster's ``<id>`` per cluster, where AWS has one per account and region (so
  two of the lab's clusters differ in it, as two accounts' do on AWS);
- events: moto's RDS emits no EventBridge events; the demo sends the ``aws.rds`` event
  itself (:func:`failover_event`);
- DescribeDBClusterEndpoints is not implemented (moto answers HTTP 500): no custom
  endpoints in the lab.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from typing import Any

from testlab.peers import ACCOUNT, REGION, DnsPeer

ENGINE = "aurora-postgresql"
PORT = 5432
#: Aurora's endpoints answer with a 5 s TTL, so clients see a failover within seconds.
TTL = 5
#: The seconds the writer endpoint's answers disagree after a flip, at least and at most.
WINDOW = (1.0, 4.0)


def member_ips(count: int) -> list[str]:
    """Data addresses for ``count`` instances, one per zone in turn: 10.0.<zone>.<n>."""
    return [f"10.0.{1 + i % 3}.{11 + i}" for i in range(count)]


@dataclass(frozen=True)
class Instance:
    """One DB instance: its identifier, endpoint name and (data) IP."""

    identifier: str
    address: str
    ip: str


class Aurora:
    """An Aurora PostgreSQL cluster in moto, with its endpoints served by ``dns``.

    ``rds`` is a boto3 RDS client on moto's server. Build it with :meth:`create`.
    """

    def __init__(
        self,
        rds: Any,
        dns: DnsPeer,
        *,
        cluster: str,
        endpoint: str,
        reader: str,
        instances: list[Instance],
        seed: int = 0,
    ) -> None:
        self.rds = rds
        self.dns = dns
        self.cluster = cluster
        #: the cluster (writer) endpoint and the reader endpoint
        self.endpoint = endpoint
        self.reader_endpoint = reader
        self.instances = {i.identifier: i for i in instances}
        self.seed = seed
        #: failovers so far (each draws its window from the seed and this count)
        self.failovers = 0
        #: (old writer, new writer) while the writer endpoint's answers disagree
        self.flipping: tuple[str, str] | None = None
        self._timer: threading.Timer | None = None
        self._settled = threading.Event()

    @classmethod
    def create(
        cls,
        rds: Any,
        dns: DnsPeer,
        *,
        cluster: str = "orders",
        members: int = 3,
        ips: list[str] | None = None,
        seed: int = 0,
    ) -> Aurora:
        """Create the cluster and ``members`` instances (the first is the writer) in moto,
        and serve their endpoints in ``dns``."""
        ips = ips or member_ips(members)
        found = rds.create_db_cluster(
            DBClusterIdentifier=cluster,
            Engine=ENGINE,
            Port=PORT,
            MasterUsername="postgres",
            MasterUserPassword="not-a-secret",
        )["DBCluster"]
        instances = []
        for index, ip in enumerate(ips[:members]):
            made = rds.create_db_instance(
                DBInstanceIdentifier=f"{cluster}-{index + 1}",
                DBClusterIdentifier=cluster,
                Engine=ENGINE,
                DBInstanceClass="db.r6g.large",
                AvailabilityZone=f"{REGION}{'abc'[index % 3]}",
            )["DBInstance"]
            instances.append(
                Instance(made["DBInstanceIdentifier"], made["Endpoint"]["Address"], ip)
            )
        lab = cls(
            rds,
            dns,
            cluster=cluster,
            endpoint=found["Endpoint"],
            reader=found["ReaderEndpoint"],
            instances=instances,
            seed=seed,
        )
        lab.publish()
        return lab

    @property
    def arn(self) -> str:
        """The cluster's ARN (what an RDS event's ``resources`` names)."""
        return f"arn:aws:rds:{REGION}:{ACCOUNT}:cluster:{self.cluster}"

    # ------------------------------------------------------------------ roles, from moto

    def members(self) -> dict[str, bool]:
        """``{instance: is the writer}``, as DescribeDBClusters answers."""
        cluster = self.rds.describe_db_clusters(DBClusterIdentifier=self.cluster)
        return {
            m["DBInstanceIdentifier"]: m["IsClusterWriter"]
            for m in cluster["DBClusters"][0]["DBClusterMembers"]
        }

    def writer(self) -> Instance:
        """The writer, as moto says now."""
        return next(self.instances[i] for i, writes in self.members().items() if writes)

    def readers(self) -> list[Instance]:
        """The readers, as moto says now, in identifier order."""
        return [self.instances[i] for i, writes in sorted(self.members().items()) if not writes]

    # ------------------------------------------------------------------ DNS

    def publish(self) -> None:
        """Serve every endpoint from moto's roles now (ends a flip window)."""
        writer, readers = self.writer(), self.readers()
        self.dns.set(self.endpoint, a=[writer.ip], ttl=TTL)
        # subset=1: the DNS server's rotation hands out one reader per query, in turn.
        self._rotate(self.reader_endpoint, [r.ip for r in readers] or [writer.ip], "readers")
        for instance in self.instances.values():
            self.dns.set(instance.address, a=[instance.ip], ttl=TTL)
        self.flipping = None
        self._settled.set()

    def _rotate(self, hostname: str, ips: list[str], what: str) -> None:
        """Serve ``ips`` one per query, in turn, in an order drawn from the lab's seed
        (the DNS server's own order depends on the name, which moto draws at random)."""
        order = sorted(ips)
        random.Random(f"{self.seed}/{self.cluster}/{what}").shuffle(order)
        self.dns.set(hostname, a=ips, subset=1, ttl=TTL)
        with self.dns.lock:  # the DNS server carries on from a rotation it finds
            self.dns.names[hostname.lower()].rotation["A"] = (order, 0)

    def failover(
        self, target: str | None = None, settle_after: float | None = None
    ) -> tuple[Instance, Instance]:
        """FailoverDBCluster (to ``target``, or moto's choice), then the DNS flip: the
        writer endpoint answers the old or the new writer, query by query, until
        :meth:`settle` (called after ``settle_after`` seconds if given). Returns
        (old writer, new writer)."""
        old = self.writer()
        kwargs = {"TargetDBInstanceIdentifier": target} if target else {}
        self.rds.failover_db_cluster(DBClusterIdentifier=self.cluster, **kwargs)
        new = self.writer()
        self.failovers += 1
        self._settled.clear()
        self.flipping = (old.identifier, new.identifier)
        # One answer per query from a rotation over both: back-to-back queries disagree,
        # as clients do during a flip.
        self._rotate(self.endpoint, [old.ip, new.ip], f"flip/{self.failovers}")
        if settle_after is not None:
            self._timer = threading.Timer(settle_after, self.settle)
            self._timer.daemon = True
            self._timer.start()
        return old, new

    def window(self) -> float:
        """How long the next failover's answers disagree, in seconds of a real minute:
        drawn from the lab's seed and the failover's number, so a seed replays it."""
        rng = random.Random(f"{self.seed}/{self.cluster}/{self.failovers + 1}")
        return round(rng.uniform(*WINDOW), 2)

    def settle(self) -> None:
        """End the flip: the endpoints answer the roles moto holds now."""
        if self._timer is not None and threading.current_thread() is not self._timer:
            self._timer.cancel()
        self._timer = None
        self.publish()

    def settled(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the flip window to end; True if it has."""
        return self._settled.wait(timeout)

    def close(self) -> None:
        """Stop a pending settle timer."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def failover_event(
    lab: Aurora, new_writer: str, event_id: str = "RDS-EVENT-0073"
) -> dict[str, Any]:
    """The ``aws.rds`` "RDS DB Cluster Event" EventBridge delivers when a failover starts
    (RDS User Guide, "Amazon RDS event categories and event messages for Aurora":
    RDS-EVENT-0073, category failover, "Started cross AZ failover to DB instance")."""
    return {
        "version": "0",
        "id": f"aurora-lab-{lab.failovers}",
        "detail-type": "RDS DB Cluster Event",
        "source": "aws.rds",
        "account": ACCOUNT,
        "time": "2026-01-01T00:00:00Z",
        "region": REGION,
        "resources": [lab.arn],
        "detail": {
            "EventCategories": ["failover"],
            "SourceType": "CLUSTER",
            "SourceArn": lab.arn,
            "SourceIdentifier": lab.cluster,
            "Date": "2026-01-01T00:00:00Z",
            "Message": f"Started cross AZ failover to DB instance: {new_writer}",
            "EventID": event_id,
        },
    }
