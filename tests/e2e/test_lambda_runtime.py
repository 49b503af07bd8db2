"""The handler run by the real Lambda runtime client against a local Runtime API."""

from __future__ import annotations

import json
import subprocess

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
        process = start_runtime(api, {**moto.environ(), **env}, handler,
                                stdout=log, stderr=subprocess.STDOUT)
        started.append((api, process))
        return api
    yield start
    for api, process in started:
        process.kill()
        process.wait()
        api.stop()


def logs(tmp_path):
    return [json.loads(line) for line in (tmp_path / "runtime.log").read_text().splitlines()
            if line.startswith("{")]


def test_the_handler_syncs_with_the_original_variable_names(
        runtime, dns, elbv2, target_group, tmp_path):
    dns.set(HOSTNAME, a=IPS)
    api = runtime({"DomainEndpoint": f"https://{HOSTNAME}", "AlbTargetGroupId": target_group,
                   "TGSYNC_DNS_SERVERS": dns.address})
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
    api = runtime({"TGSYNC_HOSTNAME": HOSTNAME, "TGSYNC_TARGET_GROUP_ARN": target_group,
                   "TGSYNC_DNS_SERVERS": dns.address})
    assert api.invoke().ok
    second = api.invoke()
    assert second.ok and second.body["registered"] == 0


def test_a_failed_mapping_raises_so_lambda_counts_an_error(runtime, dns, elbv2, target_group):
    dns.set(HOSTNAME, a=IPS, mode="servfail")
    api = runtime({"TGSYNC_HOSTNAME": HOSTNAME, "TGSYNC_TARGET_GROUP_ARN": target_group,
                   "TGSYNC_DNS_SERVERS": dns.address})
    outcome = api.invoke()
    assert not outcome.ok
    assert outcome.body["errorType"] == "SyncFailed"
    assert outcome.body["errorMessage"] == (
        f"1 of 1 mapping(s) failed: {HOSTNAME} -> opensearch: DNS resolution failed, nothing "
        f"changed: no DNS server could answer for {HOSTNAME} A (All nameservers failed to "
        f"answer the query {HOSTNAME}. IN A: Server Do53:{dns.address.replace(':', '@')} "
        "answered SERVFAIL)")
    assert registered(elbv2, target_group) == {}


def test_a_bad_configuration_is_a_clear_error_and_calls_nothing(runtime, moto, elbv2, proxy):
    api = runtime({"TGSYNC_HOSTNAME": "https://", "TGSYNC_TARGET_GROUP_ARN": "my-tg",
                   "TGSYNC_STALE_AFTER": "soon",
                   "AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2": proxy.endpoint})
    outcome = api.invoke()
    assert not outcome.ok and outcome.body["errorType"] == "ConfigError"
    message = outcome.body["errorMessage"]
    for name in ("TGSYNC_HOSTNAME", "TGSYNC_TARGET_GROUP_ARN", "TGSYNC_STALE_AFTER"):
        assert name in message
    assert proxy.calls() == []


def test_a_dry_run_event_changes_nothing(runtime, dns, elbv2, target_group):
    dns.set(HOSTNAME, a=IPS)
    api = runtime({"TGSYNC_HOSTNAME": HOSTNAME, "TGSYNC_TARGET_GROUP_ARN": target_group,
                   "TGSYNC_DNS_SERVERS": dns.address})
    outcome = api.invoke({"dry_run": True})
    assert outcome.ok and outcome.body["dry_run"]
    assert registered(elbv2, target_group) == {}


def test_the_deployed_function_checks_itself(runtime, dns, elbv2, target_group):
    dns.set(HOSTNAME, a=["10.0.1.5"])
    api = runtime({"TGSYNC_HOSTNAME": HOSTNAME, "TGSYNC_TARGET_GROUP_ARN": target_group,
                   "TGSYNC_DNS_SERVERS": dns.address})
    outcome = api.invoke({"check": True})
    assert not outcome.ok and outcome.body["errorType"] == "CheckFailed"
    assert "attach it to a listener rule" in outcome.body["errorMessage"]
    attach(elbv2, target_group)
    outcome = api.invoke({"check": True})
    assert outcome.ok and outcome.body["ok"]
    assert registered(elbv2, target_group) == {}
