"""When a settled group may go unread: the pure rules of tgsync.resync."""

from __future__ import annotations

import pytest

from tgsync.model import Target
from tgsync.plan import plan
from tgsync.resync import Settled, is_settled, may_skip, settle, stagger

PORT = 443
IPS = frozenset({"10.0.1.5", "10.0.2.5"})


def settled_for(targets, wanted=IPS):
    result = plan(
        wanted=wanted, targets=targets, port=PORT, memory={}, now=1000.0, stale_after=180.0
    )
    return is_settled(result, [t for t in targets if t.port == PORT])


class TestSettled:
    def test_every_target_in_dns_and_healthy_is_settled(self):
        assert settled_for([Target(ip, PORT, "healthy") for ip in IPS])

    def test_targets_on_another_port_do_not_matter(self):
        assert settled_for(
            [*(Target(ip, PORT, "healthy") for ip in IPS), Target("10.0.9.9", 22, "unhealthy")]
        )

    @pytest.mark.parametrize(
        "state", ["initial", "unhealthy", "draining", "unavailable", "unknown"]
    )
    def test_a_target_that_may_change_by_itself_is_not_settled(self, state):
        assert not settled_for(
            [Target("10.0.1.5", PORT, "healthy"), Target("10.0.2.5", PORT, state)]
        )

    def test_something_to_do_is_not_settled(self):
        assert not settled_for([Target("10.0.1.5", PORT, "healthy")])  # a register
        assert not settled_for(
            [*(Target(ip, PORT, "healthy") for ip in IPS), Target("10.0.9.9", PORT, "healthy")]
        )  # a wait
        assert not settled_for([Target(ip, PORT, "healthy") for ip in IPS], wanted=None)


class TestSkipping:
    def test_the_same_answer_before_the_due_time_skips(self):
        record = Settled(IPS, read_at=100.0, due=400.0)
        assert may_skip(record, IPS, 399.0)
        assert not may_skip(record, IPS, 400.0)  # due: read again
        assert not may_skip(record, IPS | {"10.0.3.5"}, 200.0)  # DNS changed
        assert not may_skip(record, None, 200.0)  # a failed lookup is reported fresh
        assert not may_skip(record, IPS, 99.0)  # the clock went back
        assert not may_skip(None, IPS, 200.0)

    def test_the_first_settle_is_staggered_and_later_ones_wait_the_whole_interval(self):
        first = settle("arn:443", IPS, 1000.0, 300.0, None)
        assert first.due == pytest.approx(1000.0 + 300.0 * stagger("arn:443"))
        assert settle("arn:443", IPS, 1000.0, 300.0, first).due == 1300.0

    def test_stagger_spreads_groups_across_the_interval(self):
        fractions = sorted(
            stagger(f"arn:aws:elasticloadbalancing:eu-west-1:1:targetgroup/tg-{i}/0:443")
            for i in range(3000)
        )
        assert all(0 <= f < 1 for f in fractions)
        per_fifth = [sum(1 for f in fractions if k / 5 <= f < (k + 1) / 5) for k in range(5)]
        assert all(500 < n < 700 for n in per_fifth)  # about 600 in each minute of five


def test_a_first_staggered_re_read_is_never_pulled_a_tick_early_by_the_limit_rule():
    first = settle("arn:443", IPS, 1000.0, 300.0, None)
    assert first.limit == 1300.0 and first.due <= first.limit
    assert first.due == 1000.0 + 300.0 * stagger("arn:443")  # about 1124
    # Before the staggered point the group is trusted, however near the next tick;
    # from it on, read.
    assert may_skip(first, IPS, 1100.0, horizon=60.0)
    assert not may_skip(first, IPS, first.due, horizon=60.0)
    # Never later than the limit: the last tick before it reads.
    assert not may_skip(first, IPS, 1241.0, horizon=60.0)
