"""Review 2 (adversarial): RDS and Aurora (issue 21) where they meet following, the
capped-answer rule and the stack's role. Each test states a promise and fails while it
is broken."""

from __future__ import annotations

import json
from typing import Any

import pytest
from test_rds import aurora  # noqa: F401  (the fixture: a three-member cluster)

from conftest import registered
from testlab.counting import CountingProvider
from testlab.faultproxy import Fault, FaultProxy
from testlab.peers import REGION, create_target_group
from tgsync import config
from tgsync.controller import Controller
from tgsync.errors import ConfigError
from tgsync.provider.elbv2 import make_client
from tgsync.registry import TagRegistry
from tgsync.source.rds import RdsApi
from tgsync.wiring import Sources

ACCOUNT = "123456789012"
READER_ENDPOINT = "orders.cluster-ro-c1a2b3c4d5e6.eu-west-1.rds.amazonaws.com"
GROUP = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/search/0123456789abcdef"


class Sleeper:
    """Sleep that moves the fake clock."""

    def __init__(self, clock: Any) -> None:
        self.clock, self.slept = clock, []

    def __call__(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.clock.now += seconds


@pytest.fixture
def rds_proxy(moto: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The fault proxy in front of moto for RDS calls alone."""
    server = FaultProxy(moto.port).start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_RDS", server.endpoint)
    yield server
    server.stop()


def test_a_throttled_rds_read_is_not_followed_every_interval(
    aurora,  # noqa: F811
    elbv2,
    dns,
    proxy,
    rds_proxy,
    clock,
):
    """Promise (controller.run, follow.py, issue 21 "calls are paced like ELB's"): "a
    mapping whose cycle failed at AWS (a read or write denied, throttled or unreachable)
    is not followed again in this invocation: retrying a throttled API every few seconds
    would only deepen it". With resolve=rds a throttled DescribeDBClusters is reported as
    a failed *lookup* (``lookup_failed``, not ``aws_failed``), which ``follow.is_pending``
    counts as pending: the mapping is followed, and RDS hammered, every 10 s for the
    whole follow window, even though it was steady before."""
    writer = create_target_group(elbv2, "orders-writer", port=5432, protocol="TCP")
    cfg = config.load(
        {
            config.DNS_SERVERS: dns.address,
            config.MAPPINGS: json.dumps(
                [{"hostname": aurora.writer, "target_group_arn": writer, "resolve": "rds"}]
            ),
        }
    )
    provider = CountingProvider(client_for_region=make_client)
    sources = Sources(provider.aws)
    sources.rds = RdsApi(sleep=lambda _s: None)  # the retries' backoff costs no test time
    controller = Controller(provider, TagRegistry(provider), sources, config=cfg, clock=clock)
    assert controller.run(sleep=Sleeper(clock)).ok  # registered: it moves for a while
    clock.now += 600  # long after: steady, nothing followed
    rds_proxy.log.clear()
    rds_proxy.faults.append(Fault("throttle", "DescribeDBClusters", times=1000))
    run = controller.run(sleep=Sleeper(clock), time_left=lambda: 55.0)
    clusters = [r.action for r in rds_proxy.log].count("DescribeDBClusters")
    assert not run.ok
    assert len(run.cycles) == 1, (
        f"{len(run.cycles)} cycles and {clusters} DescribeDBClusters calls against a "
        "throttled RDS API in one invocation"
    )


def test_a_reader_endpoint_with_stale_after_0_through_dns_is_refused_not_flapped(
    cycle, dns, elbv2, target_group
):
    """Promise (issue 21 item 1): stale_after=0 retires only on a consistent answer. An
    Aurora reader endpoint answers one reader per query; behind the VPC resolver's cache
    every query of a cycle gets the same one, which looks complete: every other healthy
    reader would be retired at once, every TTL. So the pair is refused, pointing to
    resolve=rds, and nothing is registered or retired."""
    readers = ["10.0.2.10", "10.0.3.10", "10.0.4.10"]
    dns.set(READER_ENDPOINT, a=readers, subset=1, sticky=True)
    with pytest.raises(ConfigError) as refused:
        cycle(target_group, **{config.HOSTNAME: READER_ENDPOINT, config.STALE_AFTER: 0})
    assert "TGSYNC_STALE_AFTER" in str(refused.value) and "resolve=rds" in str(refused.value)
    assert registered(elbv2, target_group) == {}
