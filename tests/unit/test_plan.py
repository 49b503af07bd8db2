"""The planner's decision table, one situation per test."""

from __future__ import annotations

import pytest

from tgsync.model import Target
from tgsync.plan import (
    ANSWER_CAP,
    CONTINUITY_WINDOW_SECONDS,
    LIVE_NODE_MISS_RISK,
    Action,
    Answers,
    MissingSince,
    Ownership,
    Policy,
    apply_policy,
    plan,
    required_absences,
    wait_instead,
)

PORT = 443
NOW = 1_000_000.0
STALE = 180.0


def run(
    wanted,
    targets,
    memory=None,
    now=NOW,
    stale_after=STALE,
    answers=1,
    largest_answer=None,
    **owned,
):
    return plan(
        wanted=None if wanted is None else frozenset(wanted),
        targets=targets,
        port=PORT,
        memory=memory or {},
        now=now,
        stale_after=stale_after,
        answers=Answers(answers, largest_answer),
        **owned,
    )


def t(ip, state="healthy", port=PORT, reason=None):
    return Target(ip, port, state, reason)


def actions(result):
    return {d.ip: d.action for d in result.decisions}


class TestFirstCycle:
    def test_every_answer_is_registered_not_only_the_first(self):
        result = run({"10.0.1.5", "10.0.2.5", "10.0.3.5"}, [])
        assert [d.ip for d in result.register] == ["10.0.1.5", "10.0.2.5", "10.0.3.5"]
        assert all(d.reason == "in DNS, not registered" for d in result.register)

    def test_nothing_to_do_when_group_matches_dns(self):
        result = run({"10.0.1.5"}, [t("10.0.1.5")])
        assert not result.has_changes
        assert actions(result) == {"10.0.1.5": Action.KEEP}


class TestTargetsInDns:
    @pytest.mark.parametrize("state", ["unhealthy", "initial", "unused", "unavailable"])
    def test_a_target_dns_still_returns_is_kept_whatever_its_health(self, state):
        result = run({"10.0.1.5"}, [t("10.0.1.5", state)])
        assert actions(result) == {"10.0.1.5": Action.KEEP}
        assert state in result.decisions[0].reason

    def test_a_draining_target_back_in_dns_is_registered_again(self):
        result = run({"10.0.1.5"}, [t("10.0.1.5", "draining")])
        assert actions(result) == {"10.0.1.5": Action.REGISTER}
        assert result.decisions[0].reason == "in DNS but draining: register again"


class TestTargetsMissingFromDns:
    @pytest.mark.parametrize("state", ["unhealthy", "unused", "unavailable", "unhealthy.draining"])
    def test_a_missing_target_that_is_not_serving_is_retired_at_once(self, state):
        result = run({"10.0.9.9"}, [t("10.0.9.9"), t("10.0.1.5", state, reason="Target.Timeout")])
        assert actions(result)["10.0.1.5"] is Action.DEREGISTER
        assert "Target.Timeout" in result.deregister[0].reason
        assert "10.0.1.5" not in result.memory

    @pytest.mark.parametrize("state", ["healthy", "initial", "something-new"])
    def test_a_missing_serving_target_waits_and_is_remembered(self, state):
        result = run({"10.0.9.9"}, [t("10.0.9.9"), t("10.0.1.5", state)])
        assert actions(result)["10.0.1.5"] is Action.WAIT
        assert result.memory["10.0.1.5"] == MissingSince(NOW, NOW)

    def test_a_healthy_stale_ip_is_retired_after_the_stale_period(self):
        memory = {"10.0.1.5": MissingSince(NOW - STALE, NOW - 60)}
        result = run({"10.0.9.9"}, [t("10.0.9.9"), t("10.0.1.5")], memory)
        (retired,) = result.deregister
        assert (retired.ip, retired.port, retired.in_dns, retired.state) == (
            "10.0.1.5",
            PORT,
            False,
            "healthy",
        )
        assert retired.reason == (
            "not in DNS for 180s (stale after 180s) though healthy: a "
            "freed IP can be reused by another host"
        )
        assert result.memory == {}
        assert result.retiring == {"10.0.1.5": MissingSince(NOW - STALE, NOW, 2)}

    def test_a_healthy_stale_ip_waits_until_just_before_the_period(self):
        memory = {"10.0.1.5": MissingSince(NOW - STALE + 1, NOW - 60)}
        result = run({"10.0.9.9"}, [t("10.0.9.9"), t("10.0.1.5")], memory)
        assert actions(result)["10.0.1.5"] is Action.WAIT
        assert result.memory["10.0.1.5"] == MissingSince(NOW - STALE + 1, NOW, 2)

    def test_a_draining_target_missing_from_dns_is_left_to_drain(self):
        result = run({"10.0.9.9"}, [t("10.0.9.9"), t("10.0.1.5", "draining")])
        assert actions(result)["10.0.1.5"] is Action.KEEP
        assert result.decisions[0].reason == "not in DNS; already draining"

    def test_zero_stale_period_retires_a_missing_healthy_target_at_once(self):
        result = run({"10.0.9.9"}, [t("10.0.9.9"), t("10.0.1.5")], stale_after=0)
        assert actions(result)["10.0.1.5"] is Action.DEREGISTER


class TestMemoryThatCannotBeTrusted:
    """The continuity rule: a record confirmed more than the window ago, or dated in the
    future, restarts the count, whatever the stale period."""

    def test_a_record_not_confirmed_within_the_window_restarts_the_count(self):
        old = MissingSince(NOW - 10_000, NOW - CONTINUITY_WINDOW_SECONDS - 1)
        result = run({"10.0.9.9"}, [t("10.0.9.9"), t("10.0.1.5")], {"10.0.1.5": old})
        assert actions(result)["10.0.1.5"] is Action.WAIT
        assert result.memory["10.0.1.5"] == MissingSince(NOW, NOW)

    def test_a_record_confirmed_exactly_at_the_window_is_trusted(self):
        old = MissingSince(NOW - 10_000, NOW - CONTINUITY_WINDOW_SECONDS)
        result = run({"10.0.9.9"}, [t("10.0.9.9"), t("10.0.1.5")], {"10.0.1.5": old})
        assert actions(result)["10.0.1.5"] is Action.DEREGISTER

    @pytest.mark.parametrize("stale_after", [600.0, 3600.0, 86_400.0])
    def test_a_long_stale_period_does_not_widen_the_window(self, stale_after):
        # Confirmed 55 minutes ago: nobody watched since, so the hour starts again.
        old = MissingSince(NOW - 2 * stale_after, NOW - 55 * 60)
        result = run(
            {"10.0.9.9"}, [t("10.0.9.9"), t("10.0.1.5")], {"10.0.1.5": old}, stale_after=stale_after
        )
        assert actions(result)["10.0.1.5"] is Action.WAIT
        assert result.memory["10.0.1.5"] == MissingSince(NOW, NOW)

    @pytest.mark.parametrize("interval", [60.0, 120.0, 180.0, 240.0])
    def test_every_schedule_the_stack_offers_retires_after_exactly_the_stale_period(self, interval):
        memory: dict = {}
        now = NOW
        for _ in range(int(3600 // interval)):
            result = run(
                {"10.0.9.9"}, [t("10.0.9.9"), t("10.0.1.5")], memory, now=now, stale_after=3600
            )
            assert actions(result)["10.0.1.5"] is Action.WAIT
            memory, now = result.memory, now + interval
        result = run(
            {"10.0.9.9"}, [t("10.0.9.9"), t("10.0.1.5")], memory, now=now, stale_after=3600
        )
        assert actions(result)["10.0.1.5"] is Action.DEREGISTER

    def test_a_stored_record_whose_rounding_put_first_after_last_is_trusted(self):
        rounded = MissingSince(NOW - STALE + 0.5, NOW - STALE)  # first rounds up, last down
        result = run(
            {"10.0.9.9"}, [t("10.0.9.9"), t("10.0.1.5")], {"10.0.1.5": rounded}, now=NOW + 1
        )
        assert actions(result)["10.0.1.5"] is Action.DEREGISTER

    def test_a_record_from_the_future_restarts_the_count(self):
        future = MissingSince(NOW + 3600, NOW + 3600)
        result = run({"10.0.9.9"}, [t("10.0.9.9"), t("10.0.1.5")], {"10.0.1.5": future})
        assert result.memory["10.0.1.5"] == MissingSince(NOW, NOW)

    def test_memory_of_an_ip_back_in_dns_is_forgotten(self):
        result = run({"10.0.1.5"}, [t("10.0.1.5")], {"10.0.1.5": MissingSince(NOW - 60, NOW - 60)})
        assert result.memory == {}

    def test_memory_of_an_ip_no_longer_registered_is_forgotten(self):
        result = run({"10.0.9.9"}, [t("10.0.9.9")], {"10.0.1.5": MissingSince(NOW - 60, NOW - 60)})
        assert result.memory == {}


class TestFailedResolution:
    def test_a_failed_resolution_changes_nothing_and_keeps_memory(self):
        memory = {"10.0.1.5": MissingSince(NOW - 9999, NOW - 60)}
        result = run(None, [t("10.0.1.5", "unhealthy"), t("10.0.2.5")], memory)
        assert not result.has_changes
        assert not result.resolved
        assert result.memory == memory
        assert {(d.action, d.reason) for d in result.decisions} == {
            (Action.KEEP, "DNS resolution failed: changing nothing")
        }


class TestPorts:
    def test_targets_on_other_ports_are_not_ours(self):
        result = run({"10.0.1.5"}, [t("10.0.7.7", "unhealthy", port=9200), t("10.0.1.5")])
        assert set(actions(result)) == {"10.0.1.5"}

    def test_an_ip_registered_only_on_another_port_is_registered_on_ours(self):
        result = run({"10.0.1.5"}, [t("10.0.1.5", port=9200)])
        assert [(d.ip, d.port) for d in result.register] == [("10.0.1.5", PORT)]


class TestPolicy:
    def test_upsert_only_registers_but_never_deregisters(self):
        result = apply_policy(run({"10.0.2.5"}, [t("10.0.1.5", "unhealthy")]), Policy.UPSERT_ONLY)
        assert actions(result) == {"10.0.1.5": Action.KEEP, "10.0.2.5": Action.REGISTER}
        assert "upsert-only" in result.decisions[0].reason

    def test_upsert_only_never_waits_for_a_retirement_that_will_not_come(self):
        result = apply_policy(run({"10.0.2.5"}, [t("10.0.1.5")]), Policy.UPSERT_ONLY)
        assert actions(result)["10.0.1.5"] is Action.KEEP
        assert not result.waiting and result.memory == {}
        assert "upsert-only" in result.decisions[0].reason

    def test_sync_policy_leaves_the_plan_as_it_is(self):
        result = run({"10.0.2.5"}, [t("10.0.1.5", "unhealthy")])
        assert apply_policy(result, Policy.SYNC) is result


def test_decisions_are_sorted_ipv4_numerically_then_ipv6():
    result = run({"10.0.0.10", "10.0.0.9", "fd00::1", "fd00::10", "fd00::9", "9.0.0.1"}, [])
    assert [d.ip for d in result.decisions] == [
        "9.0.0.1",
        "10.0.0.9",
        "10.0.0.10",
        "fd00::1",
        "fd00::9",
        "fd00::10",
    ]


def test_a_failed_resolution_keeps_its_decisions_sorted_and_says_it_did_not_resolve():
    result = run(None, [t("10.0.0.10"), t("10.0.0.9", "draining")])
    assert [(d.ip, d.state, d.in_dns) for d in result.decisions] == [
        ("10.0.0.9", "draining", False),
        ("10.0.0.10", "healthy", False),
    ]
    assert result.resolved is False


class TestContinuityEdges:
    def test_a_record_confirmed_at_this_very_time_is_trusted(self):
        record = MissingSince(NOW - STALE, NOW)
        result = run({"10.0.9.9"}, [t("10.0.9.9"), t("10.0.1.5")], {"10.0.1.5": record})
        assert actions(result)["10.0.1.5"] is Action.DEREGISTER

    def test_required_absences_for_the_smallest_answers(self):
        assert required_absences(1, 2) == 30  # 0.5 ** 30 < 1e-9
        assert required_absences(0, 2) == 1  # no answer size known: complete answers

    def test_two_distinct_answers_in_a_cycle_mean_rotation(self):
        nodes = [f"10.0.0.{i}" for i in range(1, 5)]
        result = run(
            set(nodes[:3]), [t(ip, "unhealthy") for ip in nodes], answers=2, largest_answer=2
        )
        assert not result.deregister  # capped: one cycle is not enough evidence
        assert result.memory[nodes[3]].absent == 2


class TestPolicyEdges:
    def test_upsert_only_keeps_the_memory_of_a_failed_resolution(self):
        memory = {"10.0.1.5": MissingSince(NOW - 60, NOW - 60)}
        result = apply_policy(run(None, [t("10.0.1.5")], memory), Policy.UPSERT_ONLY)
        assert result.memory == memory

    def test_upsert_only_retires_nothing_so_keeps_no_retiring_records(self):
        memory = {"10.0.1.5": MissingSince(NOW - STALE, NOW - 60)}
        result = apply_policy(
            run({"10.0.9.9"}, [t("10.0.9.9"), t("10.0.1.5")], memory), Policy.UPSERT_ONLY
        )
        assert result.retiring == {} and result.memory == {}


class TestCappedAnswers:
    """A resolver handing out 8 of many records: absence from one answer means little."""

    NODES = tuple(f"10.0.{i // 100}.{i % 100}" for i in range(40))

    def group(self):
        return [t(ip) for ip in self.NODES]

    def test_required_absences_follow_the_miss_probability(self):
        assert required_absences(8, 8) == 1
        assert required_absences(8, 40) == 93
        assert (1 - 8 / 40) ** required_absences(8, 40) <= LIVE_NODE_MISS_RISK
        assert (1 - 8 / 40) ** (required_absences(8, 40) - 1) > LIVE_NODE_MISS_RISK

    def test_a_healthy_node_absent_from_a_capped_answer_waits_past_the_stale_period(self):
        seen = frozenset(self.NODES[:8])
        memory = {ip: MissingSince(NOW - 10 * STALE, NOW - 60, 5) for ip in self.NODES[8:]}
        result = run(seen, self.group(), memory, largest_answer=ANSWER_CAP)
        assert not result.deregister
        assert all(d.action is Action.WAIT for d in result.decisions if not d.in_dns)
        assert "answers are capped: 6 of 93" in result.decisions[-1].reason

    def test_an_unhealthy_node_absent_from_a_capped_answer_is_not_retired_at_once(self):
        seen = frozenset(self.NODES[:8])
        targets = [t(ip, "unhealthy") for ip in self.NODES]
        result = run(seen, targets, largest_answer=ANSWER_CAP)
        assert {d.action for d in result.decisions if not d.in_dns} == {Action.WAIT}
        assert result.decisions[-1].reason == (
            "not in DNS and unhealthy; answers are capped: 1 of 93 answers without it"
        )

    def test_a_node_gone_for_enough_answers_and_the_stale_period_is_retired(self):
        seen = frozenset(self.NODES[:8])
        memory = {self.NODES[-1]: MissingSince(NOW - STALE, NOW - 60, 92)}
        result = run(seen, self.group(), memory, largest_answer=ANSWER_CAP)
        assert [d.ip for d in result.deregister] == [self.NODES[-1]]

    def test_rotation_seen_within_a_cycle_counts_each_distinct_answer(self):
        seen = frozenset(self.NODES[:12])
        result = run(seen, self.group(), answers=3, largest_answer=6)
        assert result.memory[self.NODES[-1]].absent == 3

    def test_complete_answers_keep_the_plain_rules(self):
        result = run(
            {"10.0.9.9"},
            [t("10.0.9.9"), t("10.0.1.5", "unhealthy"), t("10.0.1.6")],
            largest_answer=1,
        )
        assert actions(result)["10.0.1.5"] is Action.DEREGISTER
        assert result.decisions[0].reason == "not in DNS and unhealthy"
        assert result.decisions[1].reason == "not in DNS for 0s and healthy; retire after 180s"

    def test_a_small_domain_losing_a_node_is_not_mistaken_for_capped_answers(self):
        nodes = self.NODES[:4]
        result = run(set(nodes[:3]), [t(ip, "unhealthy") for ip in nodes], largest_answer=3)
        assert [d.ip for d in result.deregister] == [nodes[3]]


class TestOwnedMode:
    """retire=owned: the rules apply only to what the mapping alone registered."""

    def owned(self, wanted, targets, mine=(), others=None, memory=None, **view):
        return run(
            wanted,
            targets,
            memory,
            ownership=Ownership(
                frozenset(mine), {ip: frozenset(o) for ip, o in (others or {}).items()}
            ),
            **view,
        )

    @pytest.mark.parametrize(
        "state",
        [
            "healthy",
            "unhealthy",
            "unused",
            "unavailable",
            "initial",
            "draining",
            "unhealthy.draining",
        ],
    )
    def test_a_target_nobody_recorded_is_foreign_and_left_alone_whatever_its_health(self, state):
        memory = {"10.0.7.7": MissingSince(NOW - 10 * STALE, NOW - 1, 99)}
        result = self.owned(
            {"10.0.1.5"},
            [t("10.0.1.5"), t("10.0.7.7", state)],
            mine={"10.0.1.5"},
            memory=memory,
            stale_after=0,
        )
        assert actions(result) == {"10.0.1.5": Action.KEEP, "10.0.7.7": Action.FOREIGN}
        assert result.foreign == ("10.0.7.7",) and not result.has_changes
        assert result.decisions[1].reason == ("not registered by tgsync (retire=owned): left alone")
        assert result.memory == {} and result.owned == {"10.0.1.5"}

    def test_an_ip_a_failing_sharer_may_hold_is_kept_and_stays_recorded(self):
        """Found by the lab's liveness invariant: let go while the other hostname's lookup
        failed, the IP was nobody's once it answered without it, and stayed for good."""
        result = run(
            {"10.0.1.6"},
            [t("10.0.1.5", "unhealthy"), t("10.0.1.6")],
            None,
            ownership=Ownership(
                frozenset({"10.0.1.5", "10.0.1.6"}), unanswered=frozenset({"10.0.1.5"})
            ),
        )
        assert actions(result)["10.0.1.5"] is Action.KEEP and not result.deregister
        assert result.decisions[0].reason == (
            "not in DNS; held: a mapping sharing the port could not be resolved"
        )
        assert result.owned == {"10.0.1.5", "10.0.1.6"}

    def test_another_mappings_target_is_foreign_and_named(self):
        result = self.owned(
            {"10.0.1.5"},
            [t("10.0.1.5"), t("10.0.2.5", "unhealthy")],
            mine={"10.0.1.5"},
            others={"10.0.2.5": {"abcdef01"}},
        )
        assert actions(result)["10.0.2.5"] is Action.FOREIGN
        assert result.decisions[1].reason == (
            "registered by another mapping (abcdef01): left alone"
        )

    def test_a_target_shared_with_another_mapping_is_kept_and_let_go(self):
        result = self.owned(
            {"10.0.1.5"},
            [t("10.0.1.5"), t("10.0.2.5", "unhealthy")],
            mine={"10.0.1.5", "10.0.2.5"},
            others={"10.0.2.5": {"abcdef01"}},
        )
        assert actions(result)["10.0.2.5"] is Action.KEEP
        assert result.decisions[1].reason == "not in DNS; also abcdef01's: left to it"
        assert result.owned == {"10.0.1.5"} and result.foreign == ()

    def test_what_the_mapping_alone_owns_follows_todays_rules(self):
        targets = [t("10.0.1.5"), t("10.0.2.5"), t("10.0.3.5", "unhealthy")]
        result = self.owned({"10.0.1.5"}, targets, mine={"10.0.1.5", "10.0.2.5", "10.0.3.5"})
        assert actions(result) == {
            "10.0.1.5": Action.KEEP,
            "10.0.2.5": Action.WAIT,
            "10.0.3.5": Action.DEREGISTER,
        }
        assert result.owned == {"10.0.1.5", "10.0.2.5"}  # the retired one is let go
        assert result.memory == {"10.0.2.5": MissingSince(NOW, NOW)}

    def test_the_answer_is_adopted_whoever_registered_it(self):
        result = self.owned(
            {"10.0.1.5", "10.0.2.5"}, [t("10.0.1.5")], mine=(), others={"10.0.1.5": {"abcdef01"}}
        )
        assert actions(result) == {"10.0.1.5": Action.KEEP, "10.0.2.5": Action.REGISTER}
        assert result.owned == {"10.0.1.5", "10.0.2.5"}

    def test_a_recorded_ip_neither_registered_nor_in_the_answer_is_dropped(self):
        result = self.owned({"10.0.1.5"}, [t("10.0.1.5")], mine={"10.0.1.5", "10.0.9.9"})
        assert result.owned == {"10.0.1.5"}

    def test_a_failed_resolution_changes_no_ownership(self):
        result = self.owned(None, [t("10.0.7.7", "unhealthy")], mine={"10.0.7.7"})
        assert result.owned is None and actions(result) == {"10.0.7.7": Action.KEEP}

    def test_upsert_only_retires_nothing_and_keeps_owning_what_it_kept(self):
        result = apply_policy(
            self.owned({"10.0.1.5"}, [t("10.0.3.5", "unhealthy")], mine={"10.0.3.5"}),
            Policy.UPSERT_ONLY,
        )
        assert actions(result) == {"10.0.1.5": Action.REGISTER, "10.0.3.5": Action.KEEP}
        assert result.owned == {"10.0.1.5", "10.0.3.5"}

    def test_foreign_targets_do_not_count_in_the_population_of_capped_answers(self):
        foreign = [t(f"10.0.7.{i}") for i in range(1, 20)]
        result = self.owned(
            {f"10.0.1.{i}" for i in range(1, 9)},
            [*foreign, t("10.0.2.1", "unhealthy")],
            mine={"10.0.2.1"},
            answers=2,
            largest_answer=8,
        )
        (waiting,) = [d for d in result.decisions if d.ip == "10.0.2.1"]
        assert waiting.action is Action.WAIT
        assert f"2 of {required_absences(8, 9)} answers without it" in waiting.reason

    def test_without_ownership_given_the_plan_is_todays(self):
        targets = [t("10.0.1.5"), t("10.0.7.7", "unhealthy")]
        assert run({"10.0.1.5"}, targets).owned is None
        assert actions(run({"10.0.1.5"}, targets))["10.0.7.7"] is Action.DEREGISTER


def test_stale_after_zero_retires_a_healthy_target_at_once_and_says_why():
    result = run(frozenset({"10.0.2.5"}), [t("10.0.1.5"), t("10.0.2.5")], stale_after=0)
    (gone,) = result.deregister
    assert gone.ip == "10.0.1.5"
    assert gone.reason == (
        "not in DNS though healthy: a consistent answer no longer holds "
        "it (stale after 0: retired at once)"
    )


class TestWaitInstead:
    """A change held or not done becomes a WAIT that keeps its memory and ownership."""

    def test_a_held_retirement_keeps_counting_and_stays_owned(self):
        target = Target("10.0.1.5", 443, "healthy")
        result = plan(
            wanted=frozenset({"10.0.1.6"}),
            targets=[target],
            port=443,
            memory={},
            now=1000.0,
            stale_after=0,
            ownership=Ownership(frozenset({"10.0.1.5"})),
        )
        assert [d.ip for d in result.deregister] == ["10.0.1.5"]
        held = wait_instead(result, {"10.0.1.5": "held"})
        assert held.deregister == () and held.waiting
        assert held.memory == result.retiring and held.retiring == {}
        assert held.owned is not None and "10.0.1.5" in held.owned

    def test_nothing_to_hold_is_the_same_plan(self):
        result = plan(
            wanted=frozenset({"10.0.1.6"}),
            targets=[],
            port=443,
            memory={},
            now=1000.0,
            stale_after=0,
        )
        assert wait_instead(result, {}) is result
