"""Which events run a cycle, which announce a domain's change, which are ignored."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tgsync import lambda_handler
from tgsync.events import Domain, RdsSource, classify
from tgsync.source.rds_endpoint import Members

DOMAIN_ARN = "arn:aws:es:eu-west-1:123456789012:domain/logs"
ENDPOINT = "vpc-logs-abc123def456ghi789jkl012mn.eu-west-1.es.amazonaws.com"


def notification(detail_type: str, resources=(DOMAIN_ARN,), source: str = "aws.es") -> dict:
    return {
        "version": "0",
        "id": "1",
        "detail-type": detail_type,
        "source": source,
        "account": "123456789012",
        "time": "2026-11-26T03:00:00Z",
        "region": "eu-west-1",
        "resources": list(resources),
        "detail": {"event": "Service Software Update", "status": "Started"},
    }


def api_call(name: str, domain: str = "logs") -> dict:
    return {
        "version": "0",
        "id": "2",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.es",
        "account": "123456789012",
        "region": "eu-west-1",
        "resources": [],
        "detail": {
            "eventSource": "es.amazonaws.com",
            "eventName": name,
            "awsRegion": "eu-west-1",
            "requestParameters": {"domainName": domain},
        },
    }


@pytest.mark.parametrize(
    "detail_type",
    [
        "Amazon OpenSearch Service Software Update Notification",
        "Amazon OpenSearch Service Auto-Tune Notification",
        "Amazon OpenSearch Service Cluster Status Notification",
        "Amazon OpenSearch Service Domain Update Notification",
        "Amazon OpenSearch Service Notification",
        "Amazon ES Service Software Update Notification",
    ],
)
def test_each_opensearch_notification_names_its_domain(detail_type):
    trigger = classify(notification(detail_type))
    assert trigger.kind == "opensearch"
    assert trigger.what == detail_type
    assert trigger.domains == (Domain("eu-west-1", "logs", "123456789012"),)


@pytest.mark.parametrize(
    "name", ["UpdateDomainConfig", "UpgradeDomain", "StartServiceSoftwareUpdate"]
)
def test_each_api_call_that_starts_a_blue_green_names_its_domain(name):
    trigger = classify(api_call(name))
    assert trigger.kind == "opensearch"
    assert trigger.domains == (Domain("eu-west-1", "logs", "123456789012"),)


def test_other_api_calls_and_other_sources_are_ignored():
    assert classify(api_call("ListDomainNames")).kind == "ignored"
    other = notification("EC2 Instance State-change Notification", source="aws.ec2")
    trigger = classify(other)
    assert trigger.kind == "ignored"
    assert "aws.ec2" in trigger.what
    assert not trigger.runs


@pytest.mark.parametrize(
    "event",
    [
        {"source": "tgsync.schedule"},
        {"source": "aws.scheduler", "id": "x"},
        {"source": "aws.scheduler", "detail-type": "Scheduled Event"},
        {"source": "aws.events", "detail-type": "Scheduled Event", "resources": []},
    ],
)
def test_the_schedule_runs_a_cycle(event):
    assert classify(event).kind == "schedule"


@pytest.mark.parametrize("event", [{}, {"dry_run": True}, {"check": True}])
def test_a_direct_invocation_runs(event):
    assert classify(event).kind == "direct"


@pytest.mark.parametrize("event", [None, [], "sync", {"Records": []}, {"source": "someone.else"}])
def test_anything_else_is_ignored_and_named(event):
    trigger = classify(event)
    assert trigger.kind == "ignored"
    assert trigger.what


def test_a_notification_without_a_domain_arn_runs_but_announces_nothing():
    trigger = classify(
        notification("Amazon OpenSearch Service Notification", resources=["not-an-arn"])
    )
    assert trigger.runs
    assert trigger.domains == ()


def test_a_domain_serves_its_vpc_and_public_endpoints_only():
    logs = Domain("eu-west-1", "logs")
    assert logs.serves(ENDPOINT)
    assert logs.serves(ENDPOINT.replace("vpc-", "search-").upper() + ".")
    assert not logs.serves(ENDPOINT.replace("vpc-logs-", "vpc-logs2-"))
    assert not logs.serves(ENDPOINT.replace("eu-west-1", "us-east-1"))
    assert not logs.serves("search.example.com")


def test_the_handler_ignores_a_stray_event_before_reading_any_configuration(monkeypatch):
    monkeypatch.setenv("TGSYNC_STALE_AFTER", "soon")  # invalid: a cycle would raise
    monkeypatch.delenv("TGSYNC_HOSTNAME", raising=False)
    answer = lambda_handler.handler({"Records": [{"eventSource": "aws:sqs"}]}, None)
    assert answer["ignored"] is True
    assert "Records" in answer["event"]


# ----------------------------------------------------------------------- RDS events

CLUSTER_ARN = "arn:aws:rds:eu-west-1:123456789012:cluster:orders"
INSTANCE_ARN = "arn:aws:rds:eu-west-1:123456789012:db:orders-2"
GROUP = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/w/0123456789abcdef"
WRITER = "orders.cluster-c1a2b3c4d5e6.eu-west-1.rds.amazonaws.com"
READER = "orders.cluster-ro-c1a2b3c4d5e6.eu-west-1.rds.amazonaws.com"
CUSTOM = "analytics.cluster-custom-c1a2b3c4d5e6.eu-west-1.rds.amazonaws.com"
INSTANCE = "orders-2.c1a2b3c4d5e6.eu-west-1.rds.amazonaws.com"
OTHER_WRITER = "billing.cluster-c1a2b3c4d5e6.eu-west-1.rds.amazonaws.com"


def rds_event(
    detail_type: str = "RDS DB Cluster Event",
    arn: str = CLUSTER_ARN,
    categories=("failover",),
    event_id: str = "RDS-EVENT-0072",
) -> dict:
    """The shape EventBridge delivers (EventBridge events reference, Amazon RDS)."""
    kind = "CLUSTER" if detail_type == "RDS DB Cluster Event" else "DB_INSTANCE"
    return {
        "version": "0",
        "id": "3",
        "detail-type": detail_type,
        "source": "aws.rds",
        "account": "123456789012",
        "time": "2026-11-26T03:00:00Z",
        "region": "eu-west-1",
        "resources": [arn],
        "detail": {
            "EventCategories": list(categories),
            "SourceType": kind,
            "SourceArn": arn,
            "Date": "2026-11-26T03:00:00.000Z",
            "Message": "Completed failover to DB instance: orders-2",
            "SourceIdentifier": arn.rsplit(":", 1)[-1],
            "EventID": event_id,
        },
    }


@pytest.mark.parametrize(
    "category",
    ["failover", "failure", "maintenance", "availability", "deletion", "configuration change"],
)
def test_each_rds_category_that_moves_members_runs_and_names_its_cluster(category):
    trigger = classify(rds_event(categories=[category]))
    assert trigger.kind == "rds"
    assert trigger.rds == (RdsSource("cluster", "eu-west-1", "orders", "123456789012"),)
    assert "RDS-EVENT-0072" in trigger.what and category in trigger.what


def test_an_instance_event_names_its_instance():
    trigger = classify(rds_event("RDS DB Instance Event", INSTANCE_ARN))
    assert trigger.rds == (RdsSource("instance", "eu-west-1", "orders-2", "123456789012"),)
    assert trigger.subjects == trigger.rds


@pytest.mark.parametrize("categories", [["backup"], ["notification"], [], ["low storage"]])
def test_rds_events_of_other_categories_are_ignored(categories):
    trigger = classify(rds_event(categories=categories))
    assert trigger.kind == "ignored" and not trigger.runs
    assert "RDS DB Cluster Event" in trigger.what


@pytest.mark.parametrize(
    "event",
    [
        {**rds_event(), "detail": "failover"},
        {**rds_event(), "detail-type": "RDS DB Snapshot Event"},
    ],
)
def test_unknown_rds_shapes_are_ignored(event):
    assert classify(event).kind == "ignored"


def test_an_rds_event_whose_arn_cannot_be_read_runs_but_announces_nothing():
    event = rds_event(arn="orders")
    trigger = classify(event)
    assert (trigger.kind, trigger.subjects) == ("rds", ())
    # An instance ARN in a cluster event is not taken for the cluster.
    assert classify(rds_event(arn=INSTANCE_ARN)).rds == ()


def test_a_cluster_serves_its_writer_and_reader_and_the_regions_custom_endpoints():
    orders = RdsSource("cluster", "eu-west-1", "orders", "123456789012")
    assert orders.serves(WRITER, GROUP)
    assert orders.serves(READER.upper() + ".", GROUP)
    assert orders.serves(CUSTOM, GROUP)  # its cluster is not in the name
    assert not orders.serves(OTHER_WRITER, GROUP)
    assert not orders.serves(INSTANCE, GROUP)  # a cluster's failover does not move it
    assert not orders.serves(WRITER.replace("eu-west-1", "us-east-1"), GROUP)
    assert not orders.serves(ENDPOINT, GROUP)
    assert not orders.serves("db.example.com", GROUP)


def test_an_instance_serves_its_own_endpoint_and_every_cluster_endpoint_of_the_region():
    member = RdsSource("instance", "eu-west-1", "orders-2", "123456789012")
    assert member.serves(INSTANCE, GROUP)
    assert not member.serves(INSTANCE.replace("orders-2", "orders-3"), GROUP)
    for cluster_endpoint in (WRITER, READER, CUSTOM, OTHER_WRITER):
        assert member.serves(cluster_endpoint, GROUP)
    assert not member.serves(WRITER.replace("eu-west-1", "eu-west-2"), GROUP)


def test_once_the_clusters_are_read_an_event_serves_its_own_cluster_s_endpoints_only():
    orders = Members("orders", frozenset({"orders-1", "orders-2"}))
    billing = Members("billing", frozenset({"billing-1"}))
    member = RdsSource("instance", "eu-west-1", "orders-2", "123456789012")
    assert member.serves(WRITER, GROUP, orders) and member.serves(CUSTOM, GROUP, orders)
    assert not member.serves(OTHER_WRITER, GROUP, billing)
    assert not member.serves(CUSTOM, GROUP, billing)
    cluster = RdsSource("cluster", "eu-west-1", "orders", "123456789012")
    assert cluster.serves(CUSTOM, GROUP, orders)  # a custom endpoint read to be orders'
    assert not cluster.serves(CUSTOM, GROUP, billing)
    assert not cluster.serves(OTHER_WRITER, GROUP, orders)  # the name still decides


def test_a_cluster_read_through_a_role_is_in_the_role_s_account():
    theirs = RdsSource("cluster", "eu-west-1", "orders", "111122223333")
    assert theirs.serves(WRITER, "arn:aws:iam::111122223333:role/tgsync-rds-read")
    assert not theirs.serves(WRITER, GROUP)  # not the target group's account


def test_an_rds_resource_of_another_account_serves_nothing_here():
    elsewhere = GROUP.replace("123456789012", "210987654321")
    for source in (
        RdsSource("cluster", "eu-west-1", "orders", "123456789012"),
        RdsSource("instance", "eu-west-1", "orders-2", "123456789012"),
    ):
        assert not source.serves(WRITER, elsewhere)
        assert source.serves(WRITER, GROUP)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=16), inner, max_size=4)
    ),
    max_leaves=10,
)


@given(
    detail_type=st.sampled_from(["RDS DB Cluster Event", "RDS DB Instance Event"]),
    detail=JSON
    | st.fixed_dictionaries(
        {},
        optional={
            "EventCategories": JSON | st.lists(st.sampled_from(["failover", "backup"])),
            "SourceArn": JSON | st.sampled_from([CLUSTER_ARN, INSTANCE_ARN]),
            "EventID": JSON,
        },
    ),
    resources=JSON,
)
def test_no_rds_shaped_json_makes_classify_raise(detail_type, detail, resources):
    trigger = classify(
        {
            "source": "aws.rds",
            "detail-type": detail_type,
            "detail": detail,
            "resources": resources,
            "account": "123456789012",
        }
    )
    assert trigger.kind in {"rds", "ignored"}
    for source in trigger.rds:
        assert source.serves(WRITER, GROUP) in {True, False}
