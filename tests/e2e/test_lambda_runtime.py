"""The handler run by the real Lambda runtime client against a local Runtime API."""

from __future__ import annotations

import json
import subprocess
import threading
import time

import pytest

from conftest import HOSTNAME, registered
from testlab.peers import attach_to_load_balancer as attach
from testlab.runtime_api import RuntimeApi, start_runtime

HANDLER = "tgsync.lambda_handler.handler"
IPS = ["10.0.1.5", "10.0.2.5", "10.0.3.5"]


@pytest.fixture
def runtime(moto, tmp_path):
    """Start the runtime client with the given environment; stop it afterwards."""
    started = []

    def start(env, handler=HANDLER):
        api = RuntimeApi().start()
        log = (tmp_path / "runtime.log").open("wb")
        # Following is off unless a test turns it on: its follow-ups would only add time.
        process = start_runtime(
            api,
            {**moto.environ(), "TGSYNC_FOLLOW_INTERVAL": "0", **env},
            handler,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        started.append((api, process))
        return api

    yield start
    for api, process in started:
        process.kill()
        process.wait()
        api.stop()


def logs(tmp_path):
    return [
        json.loads(line)
        for line in (tmp_path / "runtime.log").read_text().splitlines()
        if line.startswith("{")
    ]


def test_the_handler_syncs_with_the_original_variable_names(
    runtime, dns, elbv2, target_group, tmp_path
):
    dns.set(HOSTNAME, a=IPS)
    api = runtime(
        {
            "DomainEndpoint": f"https://{HOSTNAME}",
            "AlbTargetGroupId": target_group,
            "TGSYNC_DNS_SERVERS": dns.address,
        }
    )
    outcome = api.invoke({"source": "aws.scheduler"})
    assert outcome.ok, outcome.body
    assert outcome.body["registered"] == 3 and outcome.body["ok"]
    assert set(registered(elbv2, target_group)) == {(ip, 443) for ip in IPS}
    lines = logs(tmp_path)
    registers = [line for line in lines if line.get("message") == "REGISTER"]
    assert {r["ip"] for r in registers} == set(IPS)
    assert {r["function_request_id"] for r in registers} == {outcome.request_id}
    assert all(r["cold_start"] is True for r in registers)
    assert all(r["reason"] and r["port"] == 443 for r in registers)
    emf = [line for line in lines if "_aws" in line]
    assert any(line.get("Registrations") == [3.0] for line in emf)


def test_a_warm_invocation_reuses_the_cold_start_cache(runtime, dns, target_group):
    dns.set(HOSTNAME, a=IPS)
    api = runtime(
        {
            "TGSYNC_HOSTNAME": HOSTNAME,
            "TGSYNC_TARGET_GROUP_ARN": target_group,
            "TGSYNC_DNS_SERVERS": dns.address,
        }
    )
    assert api.invoke().ok
    second = api.invoke()
    assert second.ok and second.body["registered"] == 0


def test_a_failed_mapping_raises_so_lambda_counts_an_error(runtime, dns, elbv2, target_group):
    dns.set(HOSTNAME, a=IPS, mode="servfail")
    api = runtime(
        {
            "TGSYNC_HOSTNAME": HOSTNAME,
            "TGSYNC_TARGET_GROUP_ARN": target_group,
            "TGSYNC_DNS_SERVERS": dns.address,
        }
    )
    outcome = api.invoke()
    assert not outcome.ok
    assert outcome.body["errorType"] == "SyncFailed"
    assert outcome.body["errorMessage"] == (
        f"1 of 1 mapping(s) failed: {HOSTNAME} -> opensearch: DNS resolution failed, nothing "
        f"changed: no DNS server could answer for {HOSTNAME} A (All nameservers failed to "
        f"answer the query {HOSTNAME}. IN A: Server Do53:{dns.address.replace(':', '@')} "
        "answered SERVFAIL)"
    )
    assert registered(elbv2, target_group) == {}


def test_a_bad_configuration_is_a_clear_error_and_calls_nothing(runtime, moto, elbv2, proxy):
    api = runtime(
        {
            "TGSYNC_HOSTNAME": "https://",
            "TGSYNC_TARGET_GROUP_ARN": "my-tg",
            "TGSYNC_STALE_AFTER": "soon",
            "AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2": proxy.endpoint,
        }
    )
    outcome = api.invoke()
    assert not outcome.ok and outcome.body["errorType"] == "ConfigError"
    message = outcome.body["errorMessage"]
    for name in ("TGSYNC_HOSTNAME", "TGSYNC_TARGET_GROUP_ARN", "TGSYNC_STALE_AFTER"):
        assert name in message
    assert proxy.calls() == []


def test_a_dry_run_event_changes_nothing(runtime, dns, elbv2, target_group):
    dns.set(HOSTNAME, a=IPS)
    api = runtime(
        {
            "TGSYNC_HOSTNAME": HOSTNAME,
            "TGSYNC_TARGET_GROUP_ARN": target_group,
            "TGSYNC_DNS_SERVERS": dns.address,
        }
    )
    outcome = api.invoke({"dry_run": True})
    assert outcome.ok and outcome.body["dry_run"]
    assert registered(elbv2, target_group) == {}


def test_the_deployed_function_checks_itself(runtime, dns, elbv2, target_group):
    dns.set(HOSTNAME, a=["10.0.1.5"])
    api = runtime(
        {
            "TGSYNC_HOSTNAME": HOSTNAME,
            "TGSYNC_TARGET_GROUP_ARN": target_group,
            "TGSYNC_DNS_SERVERS": dns.address,
        }
    )
    outcome = api.invoke({"check": True})
    assert not outcome.ok and outcome.body["errorType"] == "CheckFailed"
    assert "attach it to a listener rule" in outcome.body["errorMessage"]
    attach(elbv2, target_group)
    outcome = api.invoke({"check": True})
    assert outcome.ok and outcome.body["ok"]
    assert registered(elbv2, target_group) == {}


def wait_until(condition, seconds=30.0):
    """Poll ``condition`` until it holds (a wait for an event, not a timing assertion)."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.05)


def test_one_invocation_follows_a_dns_change_made_while_it_runs(
    runtime, dns, moto, elbv2, target_group
):
    new = ["10.0.1.9", "10.0.2.9"]
    moto.update_control(default_state="initial")  # pending: the invocation keeps following
    dns.set(HOSTNAME, a=IPS)
    api = runtime(
        {
            "TGSYNC_HOSTNAME": HOSTNAME,
            "TGSYNC_TARGET_GROUP_ARN": target_group,
            "TGSYNC_DNS_SERVERS": dns.address,
            "TGSYNC_FOLLOW_INTERVAL": "1",
        }
    )
    outcomes = []
    invocation = threading.Thread(target=lambda: outcomes.append(api.invoke()))
    invocation.start()
    wait_until(lambda: {ip for ip, _ in registered(elbv2, target_group)} == set(IPS))
    dns.set(HOSTNAME, a=IPS + new)  # nodes join while the invocation runs
    wait_until(lambda: {ip for ip, _ in registered(elbv2, target_group)} == set(IPS + new))
    moto.update_control(default_state="healthy")  # all healthy: following ends
    invocation.join(timeout=60)
    (outcome,) = outcomes
    assert outcome.ok, outcome.body
    assert outcome.body["mappings"][0]["registered"] == IPS + new
    assert outcome.body["follow"]["cycles"] >= 1
    assert outcome.body["follow"]["stopped"] == "nothing moves"


OPENSEARCH_EVENTS = [
    {"source": "aws.events", "detail-type": "Scheduled Event", "resources": []},
    {
        "source": "aws.es",
        "detail-type": "Amazon OpenSearch Service Software Update Notification",
        "region": "eu-west-1",
        "resources": ["arn:aws:es:eu-west-1:123456789012:domain/logs"],
        "detail": {"event": "Service Software Update", "status": "Started"},
    },
    {
        "source": "aws.es",
        "detail-type": "Amazon OpenSearch Service Notification",
        "region": "eu-west-1",
        "resources": ["arn:aws:es:eu-west-1:123456789012:domain/logs"],
        "detail": {"event": "Node Retirement", "status": "Started"},
    },
    {
        "source": "aws.es",
        "detail-type": "AWS API Call via CloudTrail",
        "region": "eu-west-1",
        "resources": [],
        "detail": {
            "eventSource": "es.amazonaws.com",
            "eventName": "UpdateDomainConfig",
            "awsRegion": "eu-west-1",
            "requestParameters": {"domainName": "logs"},
        },
    },
]


def test_every_eventbridge_event_kind_runs_a_cycle_and_a_stray_one_is_ignored(
    runtime, dns, elbv2, target_group, tmp_path
):
    api = runtime(
        {
            "TGSYNC_HOSTNAME": HOSTNAME,
            "TGSYNC_TARGET_GROUP_ARN": target_group,
            "TGSYNC_DNS_SERVERS": dns.address,
        }
    )
    for index, event in enumerate(OPENSEARCH_EVENTS):
        dns.set(HOSTNAME, a=[f"10.0.1.{index + 1}"])  # a new answer for each event
        outcome = api.invoke({"version": "0", "id": str(index), "account": "123456789012", **event})
        assert outcome.ok, (event, outcome.body)
        assert outcome.body["mappings"][0]["registered"] == [f"10.0.1.{index + 1}"], event
    announced = [
        line for line in logs(tmp_path) if line.get("message") == "event announced a change"
    ]
    assert [line["followed"] for line in announced] == [[f"{HOSTNAME} -> opensearch"]] * 3
    stray = api.invoke(
        {"source": "aws.ec2", "detail-type": "EC2 Instance State-change Notification", "detail": {}}
    )
    assert stray.ok and stray.body["ignored"]
    assert "aws.ec2" in stray.body["event"]
    assert {ip for ip, _ in registered(elbv2, target_group)} == {
        f"10.0.1.{i + 1}" for i in range(len(OPENSEARCH_EVENTS))
    }
