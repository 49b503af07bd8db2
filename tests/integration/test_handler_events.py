"""The Lambda handler in-process against moto: what a direct event may and may not do,
and what an RDS event announces (each failed on the code before its fix)."""

from __future__ import annotations

import json

import boto3
import pytest

from conftest import HOSTNAME, registered
from testlab.aurora import Aurora
from testlab.peers import REGION, create_target_group
from tgsync import lambda_handler
from tgsync.errors import EventError


@pytest.fixture
def handler(moto, dns, target_group, monkeypatch):
    monkeypatch.setenv("TGSYNC_HOSTNAME", HOSTNAME)
    monkeypatch.setenv("TGSYNC_TARGET_GROUP_ARN", target_group)
    monkeypatch.setenv("TGSYNC_DNS_SERVERS", dns.address)
    monkeypatch.setattr(lambda_handler, "_controller", None)  # a cold start each test
    return lambda_handler.handler


def test_an_event_cannot_turn_dry_run_off(handler, dns, elbv2, target_group, monkeypatch):
    monkeypatch.setenv("TGSYNC_DRY_RUN", "true")
    dns.set(HOSTNAME, a=["10.0.1.5"])
    summary = handler({"dry_run": False}, None)
    assert summary["dry_run"] is True
    assert registered(elbv2, target_group) == {}


def test_an_event_can_turn_dry_run_on(handler, dns, elbv2, target_group):
    dns.set(HOSTNAME, a=["10.0.1.5"])
    assert handler({"dry_run": True}, None)["dry_run"] is True
    assert registered(elbv2, target_group) == {}


def test_a_dry_run_that_is_not_a_boolean_is_an_error_and_changes_nothing(
    handler, dns, elbv2, target_group
):
    dns.set(HOSTNAME, a=["10.0.1.5"])
    with pytest.raises(EventError, match="'dry_run'"):
        handler({"dry_run": "maybe"}, None)
    assert registered(elbv2, target_group) == {}


# ----------------------------------------------------------------------- RDS events

WRITER = "orders.cluster-c1a2b3c4d5e6.eu-west-1.rds.amazonaws.com"
READER = "orders.cluster-ro-c1a2b3c4d5e6.eu-west-1.rds.amazonaws.com"
BILLING = "billing.cluster-c1a2b3c4d5e6.eu-west-1.rds.amazonaws.com"


def rds_event(kind: str, name: str, category: str, event_id: str, message: str) -> dict:
    """An RDS event as EventBridge delivers it (EventBridge events reference, "Amazon RDS
    events"): ``kind`` is ``cluster`` or ``db``; the detail names its resource only."""
    arn = f"arn:aws:rds:eu-west-1:123456789012:{kind}:{name}"
    detail_type, source_type = (
        ("RDS DB Cluster Event", "CLUSTER")
        if kind == "cluster"
        else ("RDS DB Instance Event", "DB_INSTANCE")
    )
    return {
        "version": "0",
        "id": "9",
        "detail-type": detail_type,
        "source": "aws.rds",
        "account": "123456789012",
        "time": "2026-11-26T03:00:00Z",
        "region": "eu-west-1",
        "resources": [arn],
        "detail": {
            "EventCategories": [category],
            "SourceType": source_type,
            "SourceArn": arn,
            "SourceIdentifier": name,
            "EventID": event_id,
            "Date": "2026-11-26T03:00:00.000Z",
            "Message": message,
        },
    }


def rds_failover(cluster: str) -> dict:
    """An Aurora failover starting (RDS-EVENT-0072, category failover)."""
    return rds_event(
        "cluster",
        cluster,
        "failover",
        "RDS-EVENT-0072",
        f"Started cross AZ failover to DB instance: {cluster}-2",
    )


@pytest.fixture
def aurora(handler, dns, elbv2, monkeypatch):
    """Three mappings: the orders cluster's writer and reader, and another cluster's."""
    groups = {
        name: create_target_group(elbv2, name, port=5432, protocol="TCP")
        for name in ("writer", "reader", "billing")
    }
    monkeypatch.delenv("TGSYNC_HOSTNAME")
    monkeypatch.delenv("TGSYNC_TARGET_GROUP_ARN")
    monkeypatch.setenv(
        "TGSYNC_MAPPINGS",
        json.dumps(
            [
                {"hostname": WRITER, "target_group_arn": groups["writer"], "stale_after": 0},
                {"hostname": READER, "target_group_arn": groups["reader"]},
                {"hostname": BILLING, "target_group_arn": groups["billing"]},
            ]
        ),
    )
    dns.set(WRITER, a=["10.0.1.10"])
    dns.set(READER, a=["10.0.2.20"])
    dns.set(BILLING, a=["10.0.3.30"])
    return groups


def test_an_rds_failover_runs_a_cycle_and_announces_its_clusters_writer_and_reader(
    handler, aurora, elbv2
):
    summary = handler(rds_failover("orders"), None)
    assert summary["follow"]["announced"] == [f"{WRITER} -> writer", f"{READER} -> reader"]
    assert set(registered(elbv2, aurora["writer"])) == {("10.0.1.10", 5432)}
    assert set(registered(elbv2, aurora["reader"])) == {("10.0.2.20", 5432)}


def test_an_rds_event_for_another_cluster_runs_one_cycle_and_announces_nothing(
    handler, aurora, elbv2
):
    summary = handler(rds_failover("inventory"), None)
    assert summary["follow"] == {
        "cycles": 0,
        "stopped": "following is off",
        "announced": [],
        "followed": [],
    }
    assert set(registered(elbv2, aurora["writer"])) == {("10.0.1.10", 5432)}


def test_an_rds_backup_event_is_ignored_and_changes_nothing(handler, aurora, elbv2):
    event = rds_failover("orders")
    event["detail"]["EventCategories"] = ["backup"]
    assert handler(event, None)["ignored"] is True
    assert registered(elbv2, aurora["writer"]) == {}


# ----------------------------------------------------- an instance event, resolve=rds


def rds_instance_event(instance: str) -> dict:
    """A member's restart (RDS-EVENT-0006, category availability): it names the
    instance only."""
    return rds_event("db", instance, "availability", "RDS-EVENT-0006", "DB instance restarted")


@pytest.fixture
def two_clusters(handler, dns, elbv2, monkeypatch):
    """orders and billing in moto's RDS (the Aurora lab), each with a writer group, and
    orders with a reader group, all resolve=rds."""
    rds = boto3.client("rds", region_name=REGION)
    orders = Aurora.create(rds, dns, cluster="orders", members=2, ips=["10.0.1.11", "10.0.2.12"])
    billing = Aurora.create(rds, dns, cluster="billing", members=2, ips=["10.0.1.21", "10.0.2.22"])
    groups = {
        name: create_target_group(elbv2, name, port=5432, protocol="TCP")
        for name in ("orders-w", "orders-r", "billing-w")
    }
    monkeypatch.delenv("TGSYNC_HOSTNAME")
    monkeypatch.delenv("TGSYNC_TARGET_GROUP_ARN")
    monkeypatch.setenv("TGSYNC_RESOLVE", "rds")
    monkeypatch.setenv(
        "TGSYNC_MAPPINGS",
        json.dumps(
            [
                {"hostname": orders.endpoint, "target_group_arn": groups["orders-w"]},
                {"hostname": orders.reader_endpoint, "target_group_arn": groups["orders-r"]},
                {"hostname": billing.endpoint, "target_group_arn": groups["billing-w"]},
            ]
        ),
    )
    return orders, billing


def test_an_instance_event_announces_its_own_cluster_s_mappings_only(handler, two_clusters, moto):
    """Issue 29: one instance event followed every cluster mapping of the region. The
    instance's cluster comes from the cycle's own DescribeDBInstances read (the event
    does not name it), so no RDS call is made for the event."""
    orders, billing = two_clusters
    summary = handler(rds_instance_event("orders-2"), None)
    assert summary["ok"] is True
    assert summary["follow"]["announced"] == [
        f"{orders.endpoint} -> orders-w",
        f"{orders.reader_endpoint} -> orders-r",
    ]
    summary = handler(rds_instance_event("billing-1"), None)
    assert summary["follow"]["announced"] == [f"{billing.endpoint} -> billing-w"]
