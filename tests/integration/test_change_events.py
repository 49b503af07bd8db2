"""Change events end to end (issue 32, item 2): the Lambda handler against moto, whose
EventBridge routes each event by a rule with tgsync's pattern (the one docs/change-events.md
shows) to an SQS queue, which the test reads."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from conftest import HOSTNAME, registered
from testlab.peers import REGION, EventQueue
from tgsync import lambda_handler
from tgsync.changes import DETAIL_TYPE, SOURCE
from tgsync.errors import SyncFailed

BUS = "tgsync-changes"
#: The rule docs/change-events.md shows, matching tgsync's events and nothing else; and
#: as deploy/example-change-events.yaml writes it by default, leaving dry runs out.
PATTERN = {"source": [SOURCE], "detail-type": [DETAIL_TYPE]}
DONE_ONLY = {**PATTERN, "detail": {"dry_run": [False]}}
IPS = ["10.0.1.5", "10.0.2.5", "10.0.3.5"]
PUBLIC = "203.0.113.9"  # outside the allowed ranges: refused


class Queue(EventQueue):
    """The queue a rule with tgsync's pattern feeds from the bus."""

    def __init__(self, bus: str = BUS, pattern: dict[str, Any] = PATTERN) -> None:
        super().__init__(bus, pattern)
        # An event of another source on the same bus: the rule must leave it out.
        boto3.client("events", region_name=REGION).put_events(
            Entries=[
                {
                    "Source": "someone.else",
                    "DetailType": DETAIL_TYPE,
                    "Detail": "{}",
                    "EventBusName": bus,
                }
            ]
        )

    def details(self) -> set[tuple[str, str, str]]:
        """(action, ip, reason) of each event delivered since the last read."""
        return {
            (e["detail"]["action"], e["detail"]["ip"], e["detail"]["reason"]) for e in self.events()
        }


@pytest.fixture
def handler(moto, dns, target_group, monkeypatch):
    monkeypatch.setenv("TGSYNC_HOSTNAME", HOSTNAME)
    monkeypatch.setenv("TGSYNC_TARGET_GROUP_ARN", target_group)
    monkeypatch.setenv("TGSYNC_DNS_SERVERS", dns.address)
    monkeypatch.setenv("TGSYNC_EVENT_BUS", BUS)
    monkeypatch.setattr(lambda_handler, "_controller", None)  # a cold start each test
    return lambda_handler.handler


@pytest.fixture
def queue(handler) -> Queue:
    return Queue()


def test_every_registration_retirement_and_refusal_is_an_event_on_the_bus(
    handler, queue, dns, elbv2, target_group, monkeypatch
):
    monkeypatch.setenv("TGSYNC_STALE_AFTER", "0")  # a retirement at once
    dns.set(HOSTNAME, a=[*IPS, PUBLIC])
    summary = handler({}, None)
    assert summary["change_events"] == {"sent": 4, "failed": 0}
    events = queue.events()
    assert {(e["source"], e["detail-type"], tuple(e["resources"])) for e in events} == {
        (SOURCE, DETAIL_TYPE, (target_group,))
    }
    details = {e["detail"]["ip"]: e["detail"] for e in events}
    assert details["10.0.1.5"] == {
        "action": "REGISTER",
        "ip": "10.0.1.5",
        "port": 443,
        "target_group_arn": target_group,
        "target_group": "opensearch",
        "hostname": HOSTNAME,
        "mapping": f"{HOSTNAME} -> opensearch",
        "reason": "in DNS, not registered",
        "dry_run": False,
    }
    assert details[PUBLIC]["action"] == "REFUSED"
    assert "outside the allowed ranges" in details[PUBLIC]["reason"]
    # The same answer again: nothing changed, and the refusal was told already.
    assert handler({}, None)["change_events"] == {"sent": 0, "failed": 0}
    assert queue.events() == []
    # An IP leaves DNS: its retirement is an event.
    dns.set(HOSTNAME, a=IPS[:2])
    handler({}, None)
    ((action, ip, reason),) = queue.details()
    assert (action, ip) == ("DEREGISTER", "10.0.3.5") and "not in DNS" in reason
    assert {ip for ip, _ in registered(elbv2, target_group)} == set(IPS[:2])


def test_a_dry_run_s_events_say_so_and_nothing_changes(handler, queue, dns, elbv2, target_group):
    dns.set(HOSTNAME, a=IPS)
    assert handler({"dry_run": True}, None)["change_events"]["sent"] == 3
    assert {(e["detail"]["action"], e["detail"]["dry_run"]) for e in queue.events()} == {
        ("REGISTER", True)
    }
    assert registered(elbv2, target_group) == {}


def test_the_example_s_rule_leaves_a_dry_run_s_events_out(handler, dns):
    queue = Queue(pattern=DONE_ONLY)
    dns.set(HOSTNAME, a=IPS[:1])
    handler({"dry_run": True}, None)
    assert queue.events() == []
    handler({}, None)
    assert queue.details() == {("REGISTER", "10.0.1.5", "in DNS, not registered")}


def test_foreign_targets_and_refused_registrations_are_told_once(
    handler, queue, dns, moto, elbv2, target_group, monkeypatch
):
    monkeypatch.setenv("TGSYNC_RETIRE", "owned")
    elbv2.register_targets(
        TargetGroupArn=target_group, Targets=[{"Id": "10.0.9.9", "Port": 443}]
    )  # by hand
    moto.update_control(refuse={"10.0.4.5": "The IP address '10.0.4.5' is not valid"})
    dns.set(HOSTNAME, a=["10.0.1.5", "10.0.4.5"])
    for told in (
        {
            ("REGISTER", "10.0.1.5", "in DNS, not registered"),
            ("FOREIGN", "10.0.9.9", "not registered by this mapping: left alone"),
            (
                "REFUSED",
                "10.0.4.5",
                "RegisterTargets refused it: The IP address '10.0.4.5' is not valid",
            ),
        },
        set(),
    ):
        with pytest.raises(SyncFailed, match=r"RegisterTargets refused 10\.0\.4\.5"):
            handler({}, None)  # the refusal fails the sync; its event is put anyway
        assert queue.details() == told


def test_a_bus_given_by_its_arn_gets_the_events(handler, dns, monkeypatch):
    queue = Queue("default")
    monkeypatch.setenv(
        "TGSYNC_EVENT_BUS", f"arn:aws:events:{REGION}:123456789012:event-bus/default"
    )
    dns.set(HOSTNAME, a=IPS[:1])
    handler({}, None)
    assert queue.details() == {("REGISTER", "10.0.1.5", "in DNS, not registered")}


def test_a_change_event_sent_back_to_the_function_is_ignored(
    handler, queue, dns, elbv2, target_group
):
    """An event is data for others to read: routed to the function by mistake (or by
    whoever may put events on the bus, source tgsync), it changes nothing."""
    dns.set(HOSTNAME, a=IPS[:1])
    handler({}, None)
    (event,) = queue.events()
    elbv2.deregister_targets(TargetGroupArn=target_group, Targets=[{"Id": IPS[0], "Port": 443}])
    assert handler(event, None) == {
        "ignored": True,
        "event": (
            "EventBridge event 'tgsync Target Change' from 'tgsync' (not one tgsync acts on)"
        ),
    }
    assert registered(elbv2, target_group) == {}
    assert queue.events() == []
