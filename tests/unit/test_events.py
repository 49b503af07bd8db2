"""Which events run a cycle, which announce a domain's change, which are ignored."""

from __future__ import annotations

import pytest

from tgsync import lambda_handler
from tgsync.events import Domain, classify

DOMAIN_ARN = "arn:aws:es:eu-west-1:123456789012:domain/logs"
ENDPOINT = "vpc-logs-abc123def456ghi789jkl012mn.eu-west-1.es.amazonaws.com"


def notification(detail_type: str, resources=(DOMAIN_ARN,), source: str = "aws.es") -> dict:
    return {"version": "0", "id": "1", "detail-type": detail_type, "source": source,
            "account": "123456789012", "time": "2026-11-26T03:00:00Z",
            "region": "eu-west-1", "resources": list(resources),
            "detail": {"event": "Service Software Update", "status": "Started"}}


def api_call(name: str, domain: str = "logs") -> dict:
    return {"version": "0", "id": "2", "detail-type": "AWS API Call via CloudTrail",
            "source": "aws.es", "account": "123456789012", "region": "eu-west-1",
            "resources": [], "detail": {"eventSource": "es.amazonaws.com", "eventName": name,
                                        "awsRegion": "eu-west-1",
                                        "requestParameters": {"domainName": domain}}}


@pytest.mark.parametrize("detail_type", [
    "Amazon OpenSearch Service Software Update Notification",
    "Amazon OpenSearch Service Auto-Tune Notification",
    "Amazon OpenSearch Service Cluster Status Notification",
    "Amazon OpenSearch Service Domain Update Notification",
    "Amazon OpenSearch Service Notification",
    "Amazon ES Service Software Update Notification",
])
def test_each_opensearch_notification_names_its_domain(detail_type):
    trigger = classify(notification(detail_type))
    assert trigger.kind == "opensearch"
    assert trigger.what == detail_type
    assert trigger.domains == (Domain("eu-west-1", "logs", "123456789012"),)


@pytest.mark.parametrize("name", ["UpdateDomainConfig", "UpgradeDomain",
                                  "StartServiceSoftwareUpdate"])
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


@pytest.mark.parametrize("event", [
    {"source": "tgsync.schedule"}, {"source": "aws.scheduler", "id": "x"},
    {"source": "aws.scheduler", "detail-type": "Scheduled Event"},
    {"source": "aws.events", "detail-type": "Scheduled Event", "resources": []},
])
def test_the_schedule_runs_a_cycle(event):
    assert classify(event).kind == "schedule"


@pytest.mark.parametrize("event", [{}, {"dry_run": True}, {"check": True}])
def test_a_direct_invocation_runs(event):
    assert classify(event).kind == "direct"


@pytest.mark.parametrize("event", [None, [], "sync", {"Records": []},
                                   {"source": "someone.else"}])
def test_anything_else_is_ignored_and_named(event):
    trigger = classify(event)
    assert trigger.kind == "ignored"
    assert trigger.what


def test_a_notification_without_a_domain_arn_runs_but_announces_nothing():
    trigger = classify(notification("Amazon OpenSearch Service Notification",
                                    resources=["not-an-arn"]))
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
