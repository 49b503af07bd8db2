"""The planner's decision table, one situation per test."""

from __future__ import annotations

import pytest

from tgsync.model import Target
from tgsync.plan import (
    CONTINUITY_WINDOW_SECONDS,
    Action,
    Missing,
    Policy,
    apply_policy,
    plan,
)

PORT = 443
NOW = 1_000_000.0
STALE = 180.0


def run(wanted, targets, memory=None, now=NOW, stale_after=STALE):
    return plan(wanted=None if wanted is None else frozenset(wanted), targets=targets,
                port=PORT, memory=memory or {}, now=now, stale_after=stale_after)


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
        assert "draining" in result.decisions[0].reason


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
        assert result.memory["10.0.1.5"] == Missing(NOW, NOW)

    def test_a_healthy_stale_ip_is_retired_after_the_stale_period(self):
        memory = {"10.0.1.5": Missing(NOW - STALE, NOW - 60)}
        result = run({"10.0.9.9"}, [t("10.0.9.9"), t("10.0.1.5")], memory)
        assert actions(result)["10.0.1.5"] is Action.DEREGISTER
        assert "freed IP can be reused" in result.deregister[0].reason
        assert result.memory == {}

    def test_a_healthy_stale_ip_waits_until_just_before_the_period(self):
        memory = {"10.0.1.5": Missing(NOW - STALE + 1, NOW - 60)}
        result = run({"10.0.9.9"}, [t("10.0.9.9"), t("10.0.1.5")], memory)
        assert actions(result)["10.0.1.5"] is Action.WAIT
        assert result.memory["10.0.1.5"] == Missing(NOW - STALE + 1, NOW)

    def test_a_draining_target_missing_from_dns_is_left_to_drain(self):
        result = run({"10.0.9.9"}, [t("10.0.9.9"), t("10.0.1.5", "draining")])
        assert actions(result)["10.0.1.5"] is Action.KEEP

    def test_zero_stale_period_retires_a_missing_healthy_target_at_once(self):
        result = run({"10.0.9.9"}, [t("10.0.9.9"), t("10.0.1.5")], stale_after=0)
        assert actions(result)["10.0.1.5"] is Action.DEREGISTER


class TestMemoryThatCannotBeTrusted:
    def test_a_record_not_confirmed_within_the_window_restarts_the_count(self):
        old = Missing(NOW - 10_000, NOW - CONTINUITY_WINDOW_SECONDS - 1)
        result = run({"10.0.9.9"}, [t("10.0.9.9"), t("10.0.1.5")], {"10.0.1.5": old})
        assert actions(result)["10.0.1.5"] is Action.WAIT
        assert result.memory["10.0.1.5"] == Missing(NOW, NOW)

    def test_a_record_from_the_future_restarts_the_count(self):
        future = Missing(NOW + 3600, NOW + 3600)
        result = run({"10.0.9.9"}, [t("10.0.9.9"), t("10.0.1.5")], {"10.0.1.5": future})
        assert result.memory["10.0.1.5"] == Missing(NOW, NOW)

    def test_memory_of_an_ip_back_in_dns_is_forgotten(self):
        result = run({"10.0.1.5"}, [t("10.0.1.5")], {"10.0.1.5": Missing(NOW - 60, NOW - 60)})
        assert result.memory == {}

    def test_memory_of_an_ip_no_longer_registered_is_forgotten(self):
        result = run({"10.0.9.9"}, [t("10.0.9.9")], {"10.0.1.5": Missing(NOW - 60, NOW - 60)})
        assert result.memory == {}


class TestFailedResolution:
    def test_a_failed_resolution_changes_nothing_and_keeps_memory(self):
        memory = {"10.0.1.5": Missing(NOW - 9999, NOW - 60)}
        result = run(None, [t("10.0.1.5", "unhealthy"), t("10.0.2.5")], memory)
        assert not result.has_changes
        assert not result.resolved
        assert result.memory == memory
        assert all("DNS resolution failed" in d.reason for d in result.decisions)


class TestPorts:
    def test_targets_on_other_ports_are_not_ours(self):
        result = run({"10.0.1.5"}, [t("10.0.7.7", "unhealthy", port=9200), t("10.0.1.5")])
        assert set(actions(result)) == {"10.0.1.5"}

    def test_an_ip_registered_only_on_another_port_is_registered_on_ours(self):
        result = run({"10.0.1.5"}, [t("10.0.1.5", port=9200)])
        assert [(d.ip, d.port) for d in result.register] == [("10.0.1.5", PORT)]


class TestPolicy:
    def test_upsert_only_registers_but_never_deregisters(self):
        result = apply_policy(
            run({"10.0.2.5"}, [t("10.0.1.5", "unhealthy")]), Policy.UPSERT_ONLY)
        assert actions(result) == {"10.0.1.5": Action.KEEP, "10.0.2.5": Action.REGISTER}
        assert "upsert-only" in result.decisions[0].reason

    def test_sync_policy_leaves_the_plan_as_it_is(self):
        result = run({"10.0.2.5"}, [t("10.0.1.5", "unhealthy")])
        assert apply_policy(result, Policy.SYNC) is result


def test_decisions_are_sorted_ipv4_numerically_then_ipv6():
    result = run({"10.0.0.10", "10.0.0.9", "fd00::1"}, [])
    assert [d.ip for d in result.decisions] == ["10.0.0.9", "10.0.0.10", "fd00::1"]
