"""Change events (issue 32, item 2): which events a cycle's report makes, how they are
batched, what the publisher does with EventBridge's answers, and the setting."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tgsync import config
from tgsync.aws import Aws
from tgsync.changes import (
    DETAIL_TYPE,
    MAX_ENTRIES,
    MAX_REASON,
    SOURCE,
    Publisher,
    batches,
    changes_of,
    entry,
    entry_size,
    sightings,
)
from tgsync.guard import Refusal
from tgsync.model import EventBus
from tgsync.plan import Action, Decision
from tgsync.process_state import ProcessState
from tgsync.report import CycleReport, InvocationReport, MappingReport, Published, emit_metrics
from tgsync.settings import setting

ARN = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/search/0123456789abcdef"
HOST = "search.internal.example.com"
BUS_ARN = "arn:aws:events:eu-west-1:123456789012:event-bus/tgsync-changes"


def decision(ip: str, action: Action, reason: str, state: str | None = None) -> Decision:
    return Decision(ip, 443, action, reason, action is not Action.DEREGISTER, state)


def report(**fields: Any) -> MappingReport:
    fields.setdefault("mapping_key", f"{ARN}:443")
    return MappingReport(
        f"{HOST} -> search", HOST, ARN, 443, resolved=True, observed=True, **fields
    )


CYCLE = {
    "decisions": [
        decision("10.0.1.5", Action.REGISTER, "in DNS, not registered"),
        decision("10.0.2.5", Action.DEREGISTER, "unhealthy, not in DNS", "unhealthy"),
        decision("10.0.3.5", Action.WAIT, "not in DNS for 60s and healthy"),
        decision("10.0.4.5", Action.KEEP, "in DNS, healthy"),
    ]
}


# ----------------------------------------------------------------------- which events


def test_a_cycle_s_registrations_and_retirements_each_carry_their_decision_s_reason():
    done = report(**CYCLE, registered_ips=["10.0.1.5"], deregistered_ips=["10.0.2.5"])
    assert [(c.action, c.ip, c.reason) for c in changes_of(done)] == [
        ("REGISTER", "10.0.1.5", "in DNS, not registered"),
        ("DEREGISTER", "10.0.2.5", "unhealthy, not in DNS"),
    ]
    detail = changes_of(done)[0].detail()
    assert detail == {
        "action": "REGISTER",
        "ip": "10.0.1.5",
        "port": 443,
        "target_group_arn": ARN,
        "target_group": "search",
        "hostname": HOST,
        "mapping": f"{HOST} -> search",
        "reason": "in DNS, not registered",
        "dry_run": False,
    }


def test_what_was_not_done_is_no_event():
    """A retirement that failed (the decision stays, nothing was deregistered) says
    nothing; waits and keeps never do."""
    assert changes_of(report(**CYCLE)) == []


def test_a_dry_run_s_events_are_what_it_would_do_and_say_so():
    planned = report(**CYCLE, dry_run=True)
    assert [(c.action, c.ip, c.detail()["dry_run"]) for c in changes_of(planned)] == [
        ("REGISTER", "10.0.1.5", True),
        ("DEREGISTER", "10.0.2.5", True),
    ]


def test_refusals_and_foreign_targets_are_sighted_by_kind():
    seen = sightings(
        report(
            decisions=[decision("10.0.5.5", Action.REGISTER, "in DNS, not registered")],
            error="RegisterTargets refused 10.0.5.5: The IP address '10.0.5.5' is not valid; "
            "another problem",
            refused=[Refusal("203.0.113.9", "outside the allowed ranges")],
            foreign=["10.0.9.9"],
        )
    )
    assert {kind: [(c.action, c.ip, c.reason) for c in found] for kind, found in seen.items()} == {
        "refused answers": [
            ("REFUSED", "203.0.113.9", "refused answer: outside the allowed ranges")
        ],
        "refused registrations": [
            (
                "REFUSED",
                "10.0.5.5",
                "RegisterTargets refused it: The IP address '10.0.5.5' is not valid",
            )
        ],
        "foreign targets": [("FOREIGN", "10.0.9.9", "not registered by this mapping: left alone")],
    }


def test_a_kind_the_cycle_did_not_look_at_is_absent_not_empty():
    """A group not read (settled, deferred, failed) says nothing of its foreign targets:
    forgetting them would tell them again at the next read."""
    unread = MappingReport(f"{HOST} -> search", HOST, ARN, 443, resolved=True)
    assert set(sightings(unread)) == {"refused answers"}
    failed = MappingReport(f"{HOST} -> search", HOST, ARN, 443, lookup_failed=True)
    assert sightings(failed) == {}
    assert "refused registrations" not in sightings(report(dry_run=True))


# ----------------------------------------------------------------------- entries, batches


def test_an_entry_is_tgsync_s_event_on_the_bus_about_the_group():
    (change,) = changes_of(report(**CYCLE, registered_ips=["10.0.1.5"]))
    made = entry(change, BUS_ARN)
    assert (made["Source"], made["DetailType"], made["EventBusName"], made["Resources"]) == (
        SOURCE,
        DETAIL_TYPE,
        BUS_ARN,
        [ARN],
    )
    assert json.loads(made["Detail"]) == change.detail()
    assert (SOURCE, DETAIL_TYPE) == ("tgsync", "tgsync Target Change")


def test_a_long_reason_is_cut_so_no_event_nears_the_request_limit():
    long = report(
        decisions=[decision("10.0.1.5", Action.REGISTER, "x" * 100_000)],
        registered_ips=["10.0.1.5"],
    )
    (change,) = changes_of(long)
    assert len(change.detail()["reason"]) == MAX_REASON
    assert entry_size(entry(change, BUS_ARN)) * MAX_ENTRIES < 256 * 1024


def test_batches_hold_at_most_ten_entries_and_the_byte_limit_in_order():
    items = [{"Source": "tgsync", "DetailType": "d", "Detail": str(n)} for n in range(23)]
    assert [len(b) for b in batches(items)] == [10, 10, 3]
    assert [i for b in batches(items) for i in b] == items
    big = [{"Source": "s", "DetailType": "d", "Detail": "x" * 98} for _ in range(5)]
    assert [len(b) for b in batches(big, limit=250)] == [2, 2, 1]  # 100 bytes each
    assert entry_size({**big[0], "Time": "t", "Resources": [ARN]}) == 100 + 14 + len(ARN)
    assert batches([]) == []


# ----------------------------------------------------------------------- the publisher


class Events:
    """EventBridge's PutEvents, answering from a script of entry error codes."""

    def __init__(self, *answers: list[str | None] | Exception) -> None:
        self.answers = list(answers)
        self.calls: list[list[dict[str, Any]]] = []

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls.append(Entries)
        answer = self.answers.pop(0) if self.answers else [None] * len(Entries)
        if isinstance(answer, Exception):
            raise answer
        return {
            "FailedEntryCount": sum(1 for code in answer if code),
            "Entries": [
                {"ErrorCode": code, "ErrorMessage": "why"} if code else {"EventId": "e"}
                for code in answer
            ],
        }


def publisher(events: Events, state: ProcessState | None = None) -> Publisher:
    aws = Aws(client_for=lambda *_args: events, sleep=lambda _s: None)
    return Publisher(aws, EventBus("tgsync-changes", "eu-west-1"), state or ProcessState())


def cycle(*reports: MappingReport) -> CycleReport:
    return CycleReport(list(reports))


def many(count: int) -> MappingReport:
    ips = [f"10.0.{n}.5" for n in range(count)]
    return report(
        decisions=[decision(ip, Action.REGISTER, "in DNS, not registered") for ip in ips],
        registered_ips=ips,
    )


def test_events_go_out_ten_a_request():
    events = Events()
    assert publisher(events)(cycle(many(12), many(3))) == Published(15, 0)
    assert [len(call) for call in events.calls] == [10, 5]
    assert {e["EventBusName"] for call in events.calls for e in call} == {"tgsync-changes"}


def test_entries_failed_for_a_passing_reason_are_sent_once_more_the_rest_counted(caplog):
    events = Events(
        ["ThrottlingException", None, "AccessDeniedException", "InternalFailure"],
        ["InternalFailure", None],
    )
    assert publisher(events)(cycle(many(4))) == Published(2, 2)
    assert [[json.loads(e["Detail"])["ip"] for e in call] for call in events.calls] == [
        ["10.0.0.5", "10.0.1.5", "10.0.2.5", "10.0.3.5"],
        ["10.0.0.5", "10.0.3.5"],
    ]
    (warning,) = [r for r in caplog.records if r.getMessage() == "change events not sent"]
    assert warning.errors == ["AccessDeniedException: why", "InternalFailure: why"]  # type: ignore[attr-defined]


def test_a_failed_call_is_counted_and_logged_and_never_raises(caplog):
    from botocore.exceptions import ClientError

    denied = ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "PutEvents")
    assert publisher(Events(denied))(cycle(many(3))) == Published(0, 3)
    (warning,) = [r for r in caplog.records if r.getMessage() == "change events not sent"]
    assert "allow events:PutEvents" in warning.errors[0]  # type: ignore[attr-defined]


def test_a_fault_of_the_publisher_itself_never_fails_the_sync(caplog):
    class Broken(ProcessState):
        def first_seen(self, *_args: Any) -> frozenset[str]:
            raise RuntimeError("a bug")

    assert publisher(Events(), Broken())(cycle(many(2))) == Published(0, 1)
    assert any(r.getMessage() == "change events not sent" for r in caplog.records)


def test_refusals_and_foreign_targets_are_told_when_first_seen_and_again_when_back():
    events, state = Events(), ProcessState()
    publish = publisher(events, state)
    foreign = report(foreign=["10.0.9.9"], refused=[Refusal("203.0.113.9", "outside")])
    told = [publish(cycle(foreign)).sent, publish(cycle(foreign)).sent]
    unread = MappingReport(
        f"{HOST} -> search",
        HOST,
        ARN,
        443,
        mapping_key=f"{ARN}:443",
        read_skipped=True,
        resolved=True,
        refused=[Refusal("203.0.113.9", "outside")],
    )
    told.append(publish(cycle(unread)).sent)  # not read: the foreign target is not forgotten
    told.append(publish(cycle(report())).sent)  # both gone
    told.append(publish(cycle(foreign)).sent)  # both back
    told.append(publish(cycle(report(foreign=["10.0.9.9"], dry_run=True))).sent)
    assert told == [2, 0, 0, 0, 2, 1]  # a dry run keeps its own record


def test_the_memory_of_sightings_is_pruned_with_the_mapping():
    state = ProcessState()
    assert state.first_seen(f"{ARN}:443", "foreign targets", ["10.0.9.9"]) == {"10.0.9.9"}
    state.keep_only([], [])
    assert state.first_seen(f"{ARN}:443", "foreign targets", ["10.0.9.9"]) == {"10.0.9.9"}


# ----------------------------------------------------------------------- the report


def test_the_summary_and_the_metrics_count_sent_and_failed_events(capsys):
    first = CycleReport([report()], published=Published(3, 1))
    later = CycleReport([report()], published=Published(2, 0))
    assert InvocationReport([first, later], "nothing moves").to_dict()["change_events"] == {
        "sent": 5,
        "failed": 1,
    }
    assert "change_events" not in CycleReport([report()]).to_dict()  # no bus, no field
    emit_metrics(first)
    (totals,) = [
        json.loads(line)
        for line in capsys.readouterr().out.splitlines()
        if '"_aws"' in line and "TargetGroup" not in line
    ]
    assert (totals["ChangeEvents"], totals["ChangeEventsFailed"]) == ([3.0], [1.0])


# ----------------------------------------------------------------------- the setting


@pytest.mark.parametrize(
    "value",
    [
        "tgsync-changes",
        "default",
        "a/b.c-d_e",
        BUS_ARN,
        BUS_ARN.replace("arn:aws:", "arn:aws-us-gov:"),
    ],
)
def test_a_bus_name_or_arn_is_taken(value):
    assert setting("event_bus").parse(f" {value} ") == value


@pytest.mark.parametrize(
    "value",
    [
        "",
        "tgsync changes",
        "x" * 257,
        "arn:aws:events:eu-west-1:123456789012:rule/x",
        "arn:aws:sns:eu-west-1:123456789012:event-bus/x",
        BUS_ARN.replace("123456789012", "*"),
        5,
    ],
)
def test_anything_else_is_refused_naming_the_forms(value):
    with pytest.raises(ValueError, match="is not an event bus; give its name"):
        setting("event_bus").parse(value)


def test_the_bus_s_region_is_its_arn_s_or_the_process_s_and_a_tag_never_sets_it():
    base = {config.HOSTNAME: HOST, config.TARGET_GROUP_ARN: ARN}
    assert config.load(base).event_bus is None
    named = config.load({**base, config.EVENT_BUS: "tgsync-changes", "AWS_REGION": "us-east-1"})
    assert named.event_bus == EventBus("tgsync-changes", "us-east-1")
    by_arn = config.load({**base, config.EVENT_BUS: BUS_ARN, "AWS_REGION": "us-east-1"})
    assert (by_arn.event_bus.region, by_arn.event_bus.name) == ("eu-west-1", "tgsync-changes")
    with pytest.raises(
        config.ConfigError,
        match="TGSYNC_EVENT_BUS=tgsync-changes needs the region of the bus: set AWS_REGION",
    ):
        config.load({**base, config.EVENT_BUS: "tgsync-changes"})
    with pytest.raises(config.ConfigError, match="TGSYNC_EVENT_BUS: 'no way' is not an event"):
        config.load({**base, config.EVENT_BUS: "no way"})
    assert setting("event_bus").tag is None  # see its help: a tag must not choose the bus
