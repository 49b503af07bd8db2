"""Change events when EventBridge fails (issue 32, item 2): ``PutEvents`` denied,
throttled or hanging never fails a sync; the failure is logged, counted in the
invocation's summary and in the ``ChangeEventsFailed`` metric, and no attempt outlives
the invocation's deadline. The fault proxy stands between the SDK and moto's EventBridge."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from conftest import HOSTNAME, registered
from testlab.faultproxy import Fault, FaultProxy
from testlab.peers import EventQueue
from tgsync import lambda_handler
from tgsync.aws_service import TOTAL_MAX_ATTEMPTS
from tgsync.changes import DETAIL_TYPE, SOURCE
from tgsync.deadline import MARGIN_SECONDS

BUS = "tgsync-changes"
IPS = ["10.0.1.5", "10.0.2.5", "10.0.3.5"]


class Context:
    """Lambda's context for an invocation that must end ``seconds`` from now."""

    def __init__(self, seconds: float) -> None:
        self.ends = time.monotonic() + seconds
        self.aws_request_id = "r-1"

    def get_remaining_time_in_millis(self) -> int:
        return int((self.ends - time.monotonic()) * 1000)


@pytest.fixture
def events_proxy(proxy_for: Any) -> FaultProxy:
    """The fault proxy in front of moto for EventBridge only (boto3's own variable)."""
    proxy: FaultProxy = proxy_for("AWS_ENDPOINT_URL_EVENTBRIDGE")
    return proxy


@pytest.fixture
def handler(moto, dns, target_group, events_proxy, monkeypatch):
    monkeypatch.setenv("TGSYNC_HOSTNAME", HOSTNAME)
    monkeypatch.setenv("TGSYNC_TARGET_GROUP_ARN", target_group)
    monkeypatch.setenv("TGSYNC_DNS_SERVERS", dns.address)
    monkeypatch.setenv("TGSYNC_EVENT_BUS", BUS)
    monkeypatch.setenv("TGSYNC_FOLLOW_INTERVAL", "0")  # one cycle an invocation
    monkeypatch.setattr(lambda_handler, "_controller", None)  # a cold start each test
    dns.set(HOSTNAME, a=IPS)
    return lambda_handler.handler


@pytest.fixture
def queue(handler: Any) -> EventQueue:
    return EventQueue(BUS, {"source": [SOURCE], "detail-type": [DETAIL_TYPE]})


def outcome(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> tuple[list[str], float]:
    """The errors of the one "change events not sent" warning, and the failures the
    totals' EMF blob counts."""
    (warning,) = [r for r in caplog.records if r.getMessage() == "change events not sent"]
    blobs = [
        json.loads(line)
        for line in capsys.readouterr().out.splitlines()
        if line.startswith('{"_aws"')
    ]
    (totals,) = [blob for blob in blobs if "TargetGroup" not in blob]
    errors: list[str] = warning.errors  # type: ignore[attr-defined]
    return errors, totals["ChangeEventsFailed"][0]


def test_denied_put_events_leaves_the_sync_whole_and_is_logged_and_counted(
    handler, queue, events_proxy, elbv2, target_group, capsys, caplog
):
    events_proxy.inject(Fault("denied", "PutEvents", times=1000))
    summary = handler({}, None)
    assert summary["ok"] and summary["registered"] == 3
    assert set(registered(elbv2, target_group)) == {(ip, 443) for ip in IPS}
    assert summary["change_events"] == {"sent": 0, "failed": 3}
    errors, failed = outcome(capsys, caplog)
    assert failed == 3
    assert "allow events:PutEvents in the function's IAM role" in errors[0]
    assert events_proxy.calls().count("PutEvents") == 1  # a denial is not retried
    assert queue.events() == []


def test_throttled_put_events_are_retried_then_counted_and_the_sync_stands(
    handler, queue, events_proxy, elbv2, target_group, capsys, caplog
):
    events_proxy.inject(Fault("throttle", "PutEvents", times=1000))
    summary = handler({}, None)
    assert summary["ok"] and summary["change_events"] == {"sent": 0, "failed": 3}
    assert events_proxy.calls().count("PutEvents") == TOTAL_MAX_ATTEMPTS
    errors, failed = outcome(capsys, caplog)
    assert failed == 3 and "PutEvents throttled by EventBridge" in errors[0]
    # Throttled twice, then let through: every event reaches the queue.
    events_proxy.clear()
    events_proxy.inject(Fault("throttle", "PutEvents", times=TOTAL_MAX_ATTEMPTS - 1))
    elbv2.deregister_targets(TargetGroupArn=target_group, Targets=[{"Id": IPS[0], "Port": 443}])
    assert handler({}, None)["change_events"] == {"sent": 1, "failed": 0}
    assert [e["detail"]["ip"] for e in queue.events()] == [IPS[0]]


@pytest.mark.parametrize(
    "fault",
    [
        Fault("throttle", "PutEvents", times=1000),
        Fault("delay", "PutEvents", times=1000, seconds=6.0),
    ],
    ids=["throttled", "hanging"],
)
def test_retrying_put_events_ends_before_the_invocation_s_deadline(
    handler, queue, events_proxy, elbv2, target_group, fault
):
    events_proxy.inject(fault)
    work = 3.0  # a cycle needs 2.5 s; PutEvents gets what the cycle left
    started = time.monotonic()
    summary = handler({}, Context(MARGIN_SECONDS + work))
    # Backoffs and attempts (each cut to the time left) stayed within the deadline: not
    # one attempt of 7 s (5 s to read), let alone 3 and the backoffs between them. (The
    # 1.5 s above it is for making clients and reporting on a busy machine.)
    assert time.monotonic() - started < work + 1.5
    assert summary["ok"] and summary["change_events"]["failed"] == 3
    assert 1 <= events_proxy.calls().count("PutEvents") <= TOTAL_MAX_ATTEMPTS
    assert set(registered(elbv2, target_group)) == {(ip, 443) for ip in IPS}
