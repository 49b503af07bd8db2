"""The test lab's Aurora cluster keeps its promises: moto holds the cluster and its roles,
the DNS server answers its endpoints as Aurora does (the reader endpoint one reader per
query, in turn), and a failover flips moto and then DNS, the same way for a seed."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import boto3
import dns.resolver
import pytest

from testlab.aurora import PORT, TTL, WINDOW, Aurora, failover_event
from testlab.peers import LOOPBACK, REGION, DnsPeer, MotoPeer
from tgsync.events import classify
from tgsync.source.rds_endpoint import Role, parse_rds_endpoint


@pytest.fixture
def rds(moto: MotoPeer) -> object:
    """A clean moto and an RDS client on it."""
    moto.reset()
    return boto3.client("rds", region_name=REGION)


@pytest.fixture
def lab(rds: object, dns: DnsPeer) -> Iterator[Aurora]:
    cluster = Aurora.create(rds, dns, members=4)
    yield cluster
    cluster.close()


def ask(peer: DnsPeer, name: str, count: int = 1) -> list[str]:
    """``count`` A answers for ``name``, each asked afresh; each must hold one record."""
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers, resolver.port = [LOOPBACK], peer.port
    resolver.timeout = resolver.lifetime = 2.0
    found = []
    for _ in range(count):
        answer = resolver.resolve(name, "A", search=False)
        assert len(answer) == 1 and answer.rrset.ttl == TTL
        found.append(answer[0].to_text())
    return found


def test_moto_holds_the_cluster_its_writer_and_readers(lab):
    assert parse_rds_endpoint(lab.endpoint).role is Role.WRITER
    assert parse_rds_endpoint(lab.reader_endpoint).role is Role.READER
    assert lab.members() == {
        "orders-1": True,
        "orders-2": False,
        "orders-3": False,
        "orders-4": False,
    }
    described = lab.rds.describe_db_instances()["DBInstances"]
    assert {
        i["DBInstanceIdentifier"]: (i["DBInstanceStatus"], i["Endpoint"]["Port"]) for i in described
    } == {f"orders-{n}": ("available", PORT) for n in range(1, 5)}
    for instance in described:  # every instance endpoint is an RDS instance name
        assert parse_rds_endpoint(instance["Endpoint"]["Address"]).role is Role.INSTANCE


def test_the_lab_s_endpoint_names_are_moto_s_and_parse_as_the_cluster_s(lab):
    """resolve=rds takes a cluster's members only for the name that *is* its endpoint:
    the lab serves the names moto answers, and they parse back to the cluster."""
    found = lab.rds.describe_db_clusters(DBClusterIdentifier="orders")["DBClusters"][0]
    assert (lab.endpoint, lab.reader_endpoint) == (found["Endpoint"], found["ReaderEndpoint"])
    writer, reader = parse_rds_endpoint(lab.endpoint), parse_rds_endpoint(lab.reader_endpoint)
    assert (writer.identifier, reader.identifier) == ("orders", "orders")
    assert writer.hostname == lab.endpoint and writer.region == REGION
    # moto draws the <id> part per cluster (AWS: one per account and region), so a
    # second cluster's names differ there too.
    other = Aurora.create(lab.rds, lab.dns, cluster="billing", members=1)
    assert other.endpoint.split(".")[1] != lab.endpoint.split(".")[1]


def test_the_lab_sets_any_documented_status_and_gives_moto_s_back(lab, moto):
    moto.set_rds_status("orders-2", "backing-up")
    moto.set_rds_status("orders", "stopped", cluster=True)

    def statuses() -> tuple[str, dict[str, str]]:
        cluster = lab.rds.describe_db_clusters(DBClusterIdentifier="orders")["DBClusters"][0]
        return cluster["Status"], {
            i["DBInstanceIdentifier"]: i["DBInstanceStatus"]
            for i in lab.rds.describe_db_instances()["DBInstances"]
        }

    assert statuses() == (
        "stopped",
        {
            "orders-1": "available",
            "orders-2": "backing-up",
            "orders-3": "available",
            "orders-4": "available",
        },
    )
    moto.set_rds_status("orders-2", None)
    moto.set_rds_status("orders", None, cluster=True)
    assert statuses() == ("available", {f"orders-{n}": "available" for n in range(1, 5)})


def test_dns_answers_the_writer_each_instance_and_one_reader_per_query(lab, dns):
    assert ask(dns, lab.endpoint, 3) == [lab.instances["orders-1"].ip] * 3
    for instance in lab.instances.values():
        assert ask(dns, instance.address) == [instance.ip]
    readers = sorted(i.ip for i in lab.readers())
    seen = ask(dns, lab.reader_endpoint, 6)
    # In turn: back-to-back answers differ and every reader comes up within three.
    assert all(a != b for a, b in itertools.pairwise(seen))
    assert sorted(seen[:3]) == readers and seen[3:] == seen[:3]
    assert lab.writer().ip not in seen


def test_failover_flips_moto_at_once_and_dns_after_a_window(lab, dns):
    old, new = lab.failover("orders-3")
    assert (old.identifier, new.identifier) == ("orders-1", "orders-3")
    assert lab.members()["orders-3"] and not lab.members()["orders-1"]
    # During the window each query answers one of the two, and they disagree in turn.
    during = ask(dns, lab.endpoint, 6)
    assert set(during) == {old.ip, new.ip}
    assert all(a != b for a, b in itertools.pairwise(during))
    lab.settle()
    assert lab.flipping is None
    assert ask(dns, lab.endpoint, 3) == [new.ip] * 3
    # The old writer is a reader now; the new one left the reader endpoint.
    assert sorted(set(ask(dns, lab.reader_endpoint, 3))) == sorted(
        lab.instances[i].ip for i in ("orders-1", "orders-2", "orders-4")
    )


def test_a_failover_without_a_target_promotes_a_reader(lab):
    old, new = lab.failover()
    lab.settle()
    assert old.identifier == "orders-1" and new.identifier != "orders-1"
    assert lab.writer() == new


def test_the_flip_is_the_same_for_a_seed(moto, rds, dns):
    def flip(seed: int, dns_seed: int = 0) -> tuple[list[str], float]:
        """A fresh cluster (moto draws its endpoints' names anew) seeded ``seed``: its
        first failover's answers and window."""
        moto.reset()
        dns.reseed(dns_seed)  # the DNS server's own seed does not matter
        lab = Aurora.create(rds, dns, seed=seed)
        window = lab.window()
        lab.failover("orders-2")
        return ask(dns, lab.endpoint, 4), window

    saved = dns.seed
    try:
        first, again = flip(11, dns_seed=1), flip(11, dns_seed=2)
        others = [flip(seed) for seed in range(12)]
    finally:
        dns.reseed(saved)
    assert first == again
    assert WINDOW[0] <= first[1] <= WINDOW[1]
    # Seeds differ in which writer answers first, and in the window's length.
    assert len({answers[0] for answers, _ in others}) == 2
    assert len({window for _, window in others}) > 1


def test_a_settle_timer_ends_the_window_by_itself(lab, dns):
    lab.failover("orders-2", settle_after=0.0)
    assert lab.settled(5)
    assert lab.flipping is None and ask(dns, lab.endpoint) == [lab.instances["orders-2"].ip]


def test_the_failover_event_is_rds_eventbridge_shaped(lab):
    _, new = lab.failover("orders-2")
    event = failover_event(lab, new.identifier)
    assert event["source"] == "aws.rds" and event["detail-type"] == "RDS DB Cluster Event"
    assert event["resources"] == [lab.arn] and event["detail"]["SourceArn"] == lab.arn
    assert event["detail"]["EventID"] == "RDS-EVENT-0073"
    assert event["detail"]["EventCategories"] == ["failover"]
    # Whatever tgsync makes of it, it classifies it without raising.
    assert classify(event).kind in ("ignored", "rds")
