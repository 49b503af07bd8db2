"""Shared fixtures: moto's server, a real DNS server and a fault proxy, on 127.0.0.1."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from testlab.counting import CountingProvider
from testlab.faultproxy import FaultProxy
from testlab.peers import REGION, DnsPeer, MotoPeer, create_target_group
from tgsync import config
from tgsync.controller import Controller
from tgsync.provider.elbv2 import make_client
from tgsync.source.resolver import DnsSource
from tgsync.wiring import build_registry

HOSTNAME = "vpc-logs-abc123.eu-west-1.es.amazonaws.com"


# --------------------------------------------------------------------------- workers

#: The longest tests, slowest first (measured with --durations; minutes of real time,
#: mostly waiting): under pytest-xdist (make test) they are handed out first, one to each
#: worker as it comes free, so that none starts late and runs alone at the end. The other
#: tests marked slow come next; then the rest in collection order.
LONGEST = (
    "tests/e2e/test_demo.py::test_the_demo_tells_the_whole_story",
    "tests/reliability/test_soak.py::test_every_invariant_holds",
    "tests/reliability/test_soak.py::test_every_feature_at_once",
    "tests/reliability/test_stateful.py",
    "tests/e2e/test_benchmarks.py",
    "tests/cdk/test_construct.py::test_the_example_app_synthesises",
    "tests/integration/test_discovery.py::test_a_thousand_groups",
    "tests/e2e/test_demo_aurora.py",
)


def _rank(item: pytest.Item) -> int | None:
    """Where ``item`` goes in the hand-out order (``None``: the rest, as collected)."""
    for rank, prefix in enumerate(LONGEST):
        if item.nodeid.startswith(prefix):
            return rank
    return len(LONGEST) if item.get_closest_marker("slow") else None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under pytest-xdist: the long tests first, each followed by one of the last tests
    collected (quick unit tests). xdist's load scheduling with --maxschedchunk 1 keeps two
    tests queued per worker, so a worker that takes a long test queues a quick one behind
    it, never another long one; the next long test goes to the next free worker. Every
    worker computes the same order (xdist requires it)."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return  # one process: the order costs nothing, keep pytest's
    ranked = sorted(
        (rank, index) for index, item in enumerate(items) if (rank := _rank(item)) is not None
    )
    long = [items[index] for _, index in ranked]
    rest = [item for item in items if _rank(item) is None]
    fillers = rest[len(rest) - len(long) :] if len(long) <= len(rest) else rest
    rest = rest[: len(rest) - len(fillers)]
    ordered: list[pytest.Item] = []
    for index, item in enumerate(long):
        ordered.append(item)
        if index < len(fillers):
            ordered.append(fillers[index])
    items[:] = ordered + rest


@pytest.fixture(scope="session")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoPeer]:
    """moto's server for the whole session; the AWS variables point boto3 at it."""
    peer = MotoPeer(tmp_path_factory.mktemp("moto")).start()
    saved = {k: os.environ.get(k) for k in peer.environ()}
    os.environ.update(peer.environ())
    # Warm the ELB and EC2 backends once: their first call loads them lazily.
    boto3.client("elbv2", region_name=REGION).describe_target_groups()
    boto3.client("ec2", region_name=REGION).describe_vpcs()
    yield peer
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    peer.stop()


@pytest.fixture
def elbv2(moto: MotoPeer) -> Any:
    """A clean moto and an ELBv2 client on it."""
    moto.reset()
    return boto3.client("elbv2", region_name=REGION)


@pytest.fixture
def target_group(elbv2: Any) -> str:
    """The ARN of a fresh HTTPS:443 ip target group."""
    return create_target_group(elbv2)


@pytest.fixture(scope="session")
def dns_server() -> Iterator[DnsPeer]:
    peer = DnsPeer().start()
    yield peer
    peer.stop()


@pytest.fixture
def dns(dns_server: DnsPeer) -> DnsPeer:
    """The DNS server with an empty zone."""
    dns_server.reset()
    return dns_server


def registered(elbv2: Any, arn: str) -> dict[tuple[str, int], str]:
    """(ip, port) -> state of every target in the group."""
    found = elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
    return {(d["Target"]["Id"], d["Target"]["Port"]): d["TargetHealth"]["State"] for d in found}


# --------------------------------------------------------------------------- faults

#: Short timeouts so that injected delays and dead servers cost little test time.
FAST = {"connect_timeout": 0.5, "read_timeout": 0.5}


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def proxy_for(moto, monkeypatch):
    """``proxy_for(variable)``: a fault proxy in front of moto for the calls of the
    service whose endpoint variable (boto3's standard one) that is."""
    started: list[FaultProxy] = []

    def start(variable: str) -> FaultProxy:
        server = FaultProxy(moto.port).start()
        started.append(server)
        monkeypatch.setenv(variable, server.endpoint)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def proxy(proxy_for):
    """The fault proxy in front of moto; ELB calls go through it (standard variable)."""
    return proxy_for("AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2")


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def cycle(elbv2, dns, proxy, clock):
    """``cycle(arn, **settings)``: a controller (one execution environment) and config."""

    def build(arn, servers=None, **env):
        values = {
            config.HOSTNAME: HOSTNAME,
            config.TARGET_GROUP_ARN: arn,
            config.DNS_SERVERS: servers or dns.address,
        }
        values.update({k: str(v) for k, v in env.items()})
        cfg = config.load(values)
        # The retries' backoff is tgsync's (full jitter, up to 2 s a retry): how many
        # attempts and what they do is what the tests assert, the wait costs no test time.
        provider = CountingProvider(
            client_for_region=lambda region: make_client(region, **FAST),
            outside_vpc=cfg.outside_vpc,
            sleep=lambda _s: None,
        )
        source = lambda servers: DnsSource(servers, timeout=0.2, lifetime=0.5)  # noqa: E731
        return Controller(
            provider, build_registry(cfg, provider), source, config=cfg, clock=clock
        ), cfg

    return build
