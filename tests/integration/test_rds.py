"""resolve=rds through the real handler against moto's RDS and ELB and the DNS server,
and TGSYNC_STALE_AFTER=0 with resolve=dns through the DNS server (issue 21, items 1, 2);
the cluster that *is* the hostname's, statuses from RDS's tables, and a cluster in
another account read through a role (issue 29, items 1 and 2).

What moto (5.x) models and what it does not, checked first below: clusters with their
members and ``IsClusterWriter``, ``FailoverDBCluster`` (the writer flag moves to the
target instance at once, with no intermediate state), instances with
``Endpoint.Address`` and ``DescribeDBInstances`` filtered by ``db-cluster-id``,
``StopDBInstance`` of a member (real Aurora refuses it; it stands here for a reader
that is not ``available``), STS ``AssumeRole`` of any role ARN, whose credentials act in
the role's account (moto keeps an RDS per account). Any other status is the lab's
(``MotoPeer.set_rds_status``). Not modelled: custom endpoints
(``CreateDBClusterEndpoint`` is not implemented: the unit tests cover them), DNS for
any endpoint (the DNS server answers the instance endpoints), and the reader endpoint's
rotation.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from conftest import HOSTNAME, registered
from testlab.faultproxy import Fault, FaultProxy
from testlab.peers import REGION, create_target_group
from tgsync import config, lambda_handler
from tgsync.deadline import Deadline
from tgsync.errors import SyncFailed
from tgsync.pacing import TokenBucket
from tgsync.source.rds import RdsApi, RdsError
from tgsync.source.rds_endpoint import parse_rds_endpoint
from tgsync.wiring import preflight

MEMBERS = ("orders-0", "orders-1", "orders-2")
IPS = {"orders-0": "10.0.1.10", "orders-1": "10.0.2.10", "orders-2": "10.0.3.10"}


@dataclass
class Aurora:
    rds: Any
    writer: str  # the cluster (writer) endpoint
    reader: str  # the reader endpoint


@pytest.fixture
def aurora(elbv2: Any, dns: Any) -> Aurora:
    """An aurora-postgresql cluster of three instances in a clean moto (orders-0 the
    writer); the DNS server answers each instance endpoint with its IP."""
    rds = boto3.client("rds", region_name=REGION)
    made = rds.create_db_cluster(
        DBClusterIdentifier="orders",
        Engine="aurora-postgresql",
        MasterUsername="app",
        MasterUserPassword="not-a-secret-1",
    )
    for name in MEMBERS:
        instance = rds.create_db_instance(
            DBInstanceIdentifier=name,
            DBClusterIdentifier="orders",
            Engine="aurora-postgresql",
            DBInstanceClass="db.r6g.large",
        )["DBInstance"]
        dns.set(instance["Endpoint"]["Address"], a=[IPS[name]])
    return Aurora(rds, made["DBCluster"]["Endpoint"], made["DBCluster"]["ReaderEndpoint"])


@pytest.fixture
def rds_proxy(proxy_for: Any) -> FaultProxy:
    """The fault proxy in front of moto for RDS calls alone (boto3's standard variable)."""
    proxy: FaultProxy = proxy_for("AWS_ENDPOINT_URL_RDS")
    return proxy


@pytest.fixture
def groups(elbv2: Any) -> tuple[str, str]:
    """A writer group and a reader group (TCP 5432) in one VPC."""
    writer = create_target_group(elbv2, "orders-writer", port=5432, protocol="TCP")
    vpc = elbv2.describe_target_groups(TargetGroupArns=[writer])["TargetGroups"][0]["VpcId"]
    reader = create_target_group(elbv2, "orders-reader", port=5432, protocol="TCP", vpc_id=vpc)
    return writer, reader


@pytest.fixture
def handler(
    aurora: Aurora,
    groups: tuple[str, str],
    dns: Any,
    rds_proxy: FaultProxy,
    monkeypatch: pytest.MonkeyPatch,
) -> Any:
    """The Lambda handler, cold, keeping the writer and the reader group with
    TGSYNC_RESOLVE=rds."""
    writer, reader = groups
    monkeypatch.setenv(
        config.MAPPINGS,
        json.dumps(
            [
                {"hostname": aurora.writer, "target_group_arn": writer},
                {"hostname": aurora.reader, "target_group_arn": reader},
            ]
        ),
    )
    monkeypatch.setenv("TGSYNC_RESOLVE", "rds")
    monkeypatch.setenv(config.DNS_SERVERS, dns.address)
    monkeypatch.setattr(lambda_handler, "_controller", None)
    return lambda_handler.handler


def serving(elbv2: Any, arn: str) -> set[str]:
    """The IPs of the group's targets that are not leaving."""
    return {ip for (ip, _), state in registered(elbv2, arn).items() if state != "draining"}


def rds_calls(proxy: FaultProxy) -> list[str]:
    return [request.action for request in proxy.log]


def test_moto_answers_the_cluster_as_the_source_reads_it(aurora):
    members = aurora.rds.describe_db_clusters(DBClusterIdentifier="orders")["DBClusters"][0][
        "DBClusterMembers"
    ]
    assert {m["DBInstanceIdentifier"]: m["IsClusterWriter"] for m in members} == {
        "orders-0": True,
        "orders-1": False,
        "orders-2": False,
    }
    described = aurora.rds.describe_db_instances(
        Filters=[{"Name": "db-cluster-id", "Values": ["orders"]}]
    )["DBInstances"]
    assert sorted(i["DBInstanceIdentifier"] for i in described) == list(MEMBERS)
    assert all(i["DBInstanceStatus"] == "available" and i["Endpoint"]["Address"] for i in described)
    aurora.rds.failover_db_cluster(
        DBClusterIdentifier="orders", TargetDBInstanceIdentifier="orders-1"
    )
    members = aurora.rds.describe_db_clusters(DBClusterIdentifier="orders")["DBClusters"][0][
        "DBClusterMembers"
    ]
    assert [m["DBInstanceIdentifier"] for m in members if m["IsClusterWriter"]] == ["orders-1"]


def test_the_writer_group_holds_the_writer_and_the_reader_group_the_readers(
    handler, elbv2, groups, rds_proxy
):
    writer, reader = groups
    summary = handler({}, None)
    assert summary["ok"] is True
    assert serving(elbv2, writer) == {IPS["orders-0"]}
    assert serving(elbv2, reader) == {IPS["orders-1"], IPS["orders-2"]}
    # Both mappings of the cluster: one DescribeDBClusters, one DescribeDBInstances.
    assert sorted(rds_calls(rds_proxy)) == ["DescribeDBClusters", "DescribeDBInstances"]


def test_after_a_failover_the_old_writer_is_retired_at_once_though_healthy(
    handler, aurora, elbv2, groups, moto, rds_proxy
):
    writer, reader = groups
    for ip in IPS.values():
        moto.set_health(ip, "healthy")
    handler({}, None)
    rds_proxy.log.clear()
    handler({}, None)  # a steady minute: the same two reads, nothing else from RDS
    assert sorted(rds_calls(rds_proxy)) == ["DescribeDBClusters", "DescribeDBInstances"]
    aurora.rds.failover_db_cluster(
        DBClusterIdentifier="orders", TargetDBInstanceIdentifier="orders-1"
    )
    summary = handler({}, None)
    assert summary["ok"] is True
    assert serving(elbv2, writer) == {IPS["orders-1"]}  # the default stale_after is 180 s
    assert serving(elbv2, reader) == {IPS["orders-0"], IPS["orders-2"]}
    writer_report = summary["mappings"][0]
    assert writer_report["deregistered"] == [IPS["orders-0"]]
    assert writer_report["healthy_targets"] == 1  # read before the change: the old writer


def test_a_cluster_without_an_available_reader_puts_the_writer_in_the_reader_group(
    handler, aurora, elbv2, groups
):
    _, reader = groups
    for name in ("orders-1", "orders-2"):
        aurora.rds.stop_db_instance(DBInstanceIdentifier=name)
    assert handler({}, None)["ok"] is True
    assert serving(elbv2, reader) == {IPS["orders-0"]}  # as RDS's reader endpoint does


def test_a_denied_rds_call_changes_nothing_and_fails_the_invocation_naming_it(
    handler, aurora, elbv2, groups, rds_proxy
):
    writer, reader = groups
    handler({}, None)
    aurora.rds.failover_db_cluster(
        DBClusterIdentifier="orders", TargetDBInstanceIdentifier="orders-1"
    )
    rds_proxy.log.clear()
    rds_proxy.faults.append(Fault("denied", "DescribeDBInstances", times=10))
    with pytest.raises(
        SyncFailed,
        match=r"DescribeDBInstances denied for cluster orders: "
        r"allow rds:DescribeDBInstances in the function's "
        r"IAM role",
    ) as failed:
        handler({}, None)
    assert [m["ok"] for m in failed.value.summary["mappings"]] == [False, False]
    assert serving(elbv2, writer) == {IPS["orders-0"]}
    assert serving(elbv2, reader) == {IPS["orders-1"], IPS["orders-2"]}
    # Denied once for both mappings of the cluster: the read is kept for the cycle.
    assert rds_calls(rds_proxy).count("DescribeDBInstances") == 1


def test_a_throttled_rds_api_changes_nothing(handler, aurora, elbv2, groups, rds_proxy):
    writer, _ = groups
    handler({}, None)
    aurora.rds.failover_db_cluster(
        DBClusterIdentifier="orders", TargetDBInstanceIdentifier="orders-1"
    )
    rds_proxy.faults.append(Fault("throttle", "DescribeDBClusters", times=10))
    with pytest.raises(
        SyncFailed,
        match=r"DescribeDBClusters throttled by RDS after 3 "
        r"attempts \(cluster orders\)",
    ):
        handler({}, None)
    assert serving(elbv2, writer) == {IPS["orders-0"]}
    assert rds_calls(rds_proxy).count("DescribeDBClusters") == 1 + 3  # bounded retries


# --------------------------------------------------------------------------- identity


def another_id(endpoint: str) -> str:
    """The same name with another cluster id (another account's cluster, or a typo)."""
    name, kind, rest = endpoint.split(".", 2)
    return f"{name}.{kind.rsplit('-', 1)[0]}-zz9zz9zz9zz9.{rest}"


def test_a_name_with_another_cluster_id_registers_nothing_and_fails_naming_both(
    aurora, handler, elbv2, groups, monkeypatch
):
    """Issue 29, item 1: orders.cluster-<another id> used to register this account's
    orders writer and report OK."""
    writer, _ = groups
    foreign = another_id(aurora.writer)
    monkeypatch.setenv(
        config.MAPPINGS, json.dumps([{"hostname": foreign, "target_group_arn": writer}])
    )
    with pytest.raises(SyncFailed) as failed:
        handler({}, None)
    error = failed.value.summary["mappings"][0]["error"]
    assert (
        f"{foreign} is not an endpoint of the cluster RDS describes in the function's account"
    ) in error
    assert aurora.writer in error and aurora.reader in error  # the cluster found
    assert "rds_role_arn" in error and "resolve=dns" in error  # what to do
    assert serving(elbv2, writer) == set()


# --------------------------------------------------------------------------- statuses


def test_a_reader_backing_up_stays_and_readers_in_routine_steps_keep_the_writer_out(
    handler, elbv2, groups, moto
):
    """Issue 29, item 2: only available readers counted, so a reader in backing-up was
    retired at once, and with every reader so the group fell back to the writer."""
    _, reader = groups
    handler({}, None)
    moto.set_rds_status("orders-2", "backing-up")
    assert handler({}, None)["ok"] is True
    assert serving(elbv2, reader) == {IPS["orders-1"], IPS["orders-2"]}
    moto.set_rds_status("orders-1", "configuring-log-exports")
    moto.set_rds_status("orders-2", "storage-optimization")
    assert handler({}, None)["ok"] is True
    assert serving(elbv2, reader) == {IPS["orders-1"], IPS["orders-2"]}
    moto.set_rds_status("orders-2", "rebooting")  # down: retired from the readers
    assert handler({}, None)["ok"] is True
    assert serving(elbv2, reader) == {IPS["orders-1"]}


def test_a_stopped_cluster_changes_nothing_and_fails_naming_its_status(
    handler, elbv2, groups, moto
):
    writer, reader = groups
    handler({}, None)
    moto.set_rds_status("orders", "stopped", cluster=True)
    for name in MEMBERS:
        moto.set_rds_status(name, "stopped")
    with pytest.raises(SyncFailed, match="cluster orders is stopped"):
        handler({}, None)
    assert serving(elbv2, writer) == {IPS["orders-0"]}
    assert serving(elbv2, reader) == {IPS["orders-1"], IPS["orders-2"]}


# --------------------------------------------------------------------------- another account


THEIRS = "111122223333"
ROLE = f"arn:aws:iam::{THEIRS}:role/tgsync-rds-read"
THEIR_IPS = {"orders-w": "10.1.1.10", "orders-r": "10.1.2.10"}


@pytest.fixture
def theirs(
    aurora: Aurora, dns: Any, rds_proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch
) -> Aurora:
    """A cluster also named orders in account 111122223333 (made with an assumed role's
    credentials, which moto serves as that account), its instance endpoints in DNS; STS
    calls go through the fault proxy too, to be counted."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", rds_proxy.endpoint)
    sts = boto3.client("sts", region_name=REGION, endpoint_url=rds_proxy.endpoint)
    made = sts.assume_role(RoleArn=f"arn:aws:iam::{THEIRS}:role/lab-admin", RoleSessionName="lab")[
        "Credentials"
    ]
    rds = boto3.session.Session(
        aws_access_key_id=made["AccessKeyId"],
        aws_secret_access_key=made["SecretAccessKey"],
        aws_session_token=made["SessionToken"],
    ).client("rds", region_name=REGION)
    cluster = rds.create_db_cluster(
        DBClusterIdentifier="orders",
        Engine="aurora-postgresql",
        MasterUsername="app",
        MasterUserPassword="not-a-secret-1",
    )
    for name, ip in THEIR_IPS.items():
        instance = rds.create_db_instance(
            DBInstanceIdentifier=name,
            DBClusterIdentifier="orders",
            Engine="aurora-postgresql",
            DBInstanceClass="db.r6g.large",
        )["DBInstance"]
        dns.set(instance["Endpoint"]["Address"], a=[ip])
    rds_proxy.log.clear()
    return Aurora(rds, cluster["DBCluster"]["Endpoint"], cluster["DBCluster"]["ReaderEndpoint"])


def test_a_cluster_in_another_account_is_read_through_its_role_once_per_process(
    theirs, aurora, handler, elbv2, groups, rds_proxy, monkeypatch
):
    writer, reader = groups
    mappings = [
        {"hostname": theirs.writer, "target_group_arn": writer},
        {"hostname": theirs.reader, "target_group_arn": reader},
    ]
    monkeypatch.setenv(config.MAPPINGS, json.dumps(mappings))
    # Without the role, this account's orders is not the name's cluster: nothing moves.
    with pytest.raises(SyncFailed, match="is not an endpoint of the cluster RDS describes"):
        handler({}, None)
    assert serving(elbv2, writer) == serving(elbv2, reader) == set()
    # The role as the function's default (TGSYNC_RDS_ROLE_ARN), then as a mapping key.
    monkeypatch.setenv("TGSYNC_RDS_ROLE_ARN", ROLE)
    monkeypatch.setattr(lambda_handler, "_controller", None)
    rds_proxy.log.clear()
    for _ in range(3):
        assert handler({}, None)["ok"] is True
    assert serving(elbv2, writer) == {THEIR_IPS["orders-w"]}
    assert serving(elbv2, reader) == {THEIR_IPS["orders-r"]}
    calls = rds_calls(rds_proxy)
    assert calls.count("AssumeRole") == 1  # one set of credentials per role and process
    assert calls.count("DescribeDBClusters") == 3
    monkeypatch.delenv("TGSYNC_RDS_ROLE_ARN")
    monkeypatch.setenv(config.MAPPINGS, json.dumps([{**m, "rds_role_arn": ROLE} for m in mappings]))
    monkeypatch.setattr(lambda_handler, "_controller", None)  # a cold start: a new process
    for _ in range(2):
        assert handler({}, None)["ok"] is True
    assert rds_calls(rds_proxy).count("AssumeRole") == 2  # once more, for the new process


def test_a_denied_assume_role_changes_nothing_and_names_the_role(
    theirs, handler, elbv2, groups, rds_proxy, monkeypatch
):
    writer, _ = groups
    monkeypatch.setenv(
        config.MAPPINGS,
        json.dumps([{"hostname": theirs.writer, "target_group_arn": writer, "rds_role_arn": ROLE}]),
    )
    rds_proxy.faults.append(Fault("denied", "AssumeRole", times=10))
    with pytest.raises(
        SyncFailed,
        match=f"sts:AssumeRole of {ROLE} .* was denied: the "
        "function's role needs sts:AssumeRole on it",
    ):
        handler({}, None)
    assert serving(elbv2, writer) == set()


def rds_checks() -> list[Any]:
    """``tgsync check``'s lines about the RDS names, over the real adapters."""
    return [c for c in preflight(config.load(os.environ)) if c.name.startswith("RDS ")]


def test_the_check_reads_the_cluster_and_resolves_each_member(handler):
    lines = [c.line() for c in rds_checks()]
    assert any(
        "DescribeDBClusters, DescribeDBInstances allowed and answered: writer orders-0" in line
        for line in lines
    ), lines
    assert any("serving readers orders-1, orders-2" in line for line in lines), lines
    assert any(line.startswith("OK") and IPS["orders-2"] in line for line in lines), lines
    assert not [line for line in lines if not line.startswith("OK")]


def test_the_check_names_a_denied_rds_call(handler, rds_proxy):
    rds_proxy.faults.append(Fault("denied", "DescribeDBClusters", times=10))
    checks = rds_checks()
    assert len(checks) == 2
    assert all(
        c.status == "FAIL"
        and "DescribeDBClusters denied for cluster orders: allow rds:DescribeDBClusters" in c.detail
        for c in checks
    ), checks


# --------------------------------------------------------------------------- stale_after=0


OLD, NEW = "10.0.1.5", "10.0.2.5"


def test_stale_after_0_keeps_both_while_queries_disagree_then_retires_the_old_at_once(
    cycle, dns, moto, elbv2, target_group
):
    """A writer endpoint flips: while the cycle's queries disagree, the answer is not
    consistent and both stay; the next consistent answer retires the old at once,
    though it is healthy."""
    dns.set(HOSTNAME, a=[OLD])
    controller, _ = cycle(target_group, **{config.STALE_AFTER: 0})
    moto.set_health(OLD, "healthy")
    moto.set_health(NEW, "healthy")
    assert controller.run_once().ok
    assert serving(elbv2, target_group) == {OLD}
    # Mid-flip: each query gets one of the two (a round-robin of one record).
    dns.set(HOSTNAME, a=[OLD, NEW], subset=1)
    report = controller.run_once().mappings[0]
    assert report.dns_queries > 1
    assert serving(elbv2, target_group) == {OLD, NEW}
    assert report.deregistered_ips == []
    dns.set(HOSTNAME, a=[NEW])  # the flip is done: every query agrees
    report = controller.run_once().mappings[0]
    assert report.deregistered_ips == [OLD]
    assert serving(elbv2, target_group) == {NEW}


def test_without_stale_after_0_the_old_healthy_writer_stays(cycle, dns, moto, elbv2, target_group):
    dns.set(HOSTNAME, a=[OLD])
    controller, _ = cycle(target_group)
    moto.set_health(OLD, "healthy")
    controller.run_once()
    dns.set(HOSTNAME, a=[NEW])
    report = controller.run_once().mappings[0]
    assert report.deregistered_ips == []
    assert serving(elbv2, target_group) == {OLD, NEW}


def test_a_hanging_rds_read_ends_within_the_time_that_is_left(aurora, rds_proxy):
    """Near the deadline the read gets a client whose timeouts end in time, and the
    retries stop with the time: not botocore's usual 2 s + 5 s per attempt."""
    api = RdsApi(pacer=TokenBucket(rate=8))
    rds_proxy.faults.append(Fault("delay", "DescribeDBClusters", times=10, seconds=6.0))
    started = time.monotonic()
    with pytest.raises(RdsError, match="DescribeDBClusters failed for cluster orders"):
        api.selection(parse_rds_endpoint(aurora.writer), Deadline.at(time.monotonic() + 3.0))
    assert time.monotonic() - started < 3.5
    rds_proxy.faults.clear()
    # With time enough, the same process reads the cluster.
    assert [
        m
        for m, _ in api.selection(
            parse_rds_endpoint(aurora.writer), Deadline(lambda: 30.0, margin=0)
        ).members
    ] == ["orders-0"]
