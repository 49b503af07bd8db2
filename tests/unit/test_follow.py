"""Follow mode's rules: what moves, for how long, and whether one more cycle fits."""

from __future__ import annotations

from tgsync.follow import Motion, announce, followed, is_pending, observe, room_for_another
from tgsync.plan import Action, Decision

FOR = 120.0


def decision(action: Action = Action.KEEP, state: str | None = "healthy") -> Decision:
    return Decision("10.0.1.5", 443, action, "why", in_dns=True, state=state)


def test_a_wait_an_initial_or_a_draining_target_or_a_failed_lookup_is_pending():
    assert is_pending([decision(Action.WAIT)], lookup_failed=False)
    assert is_pending([decision(state="initial")], lookup_failed=False)
    assert is_pending([decision(Action.KEEP, state="draining")], lookup_failed=False)
    assert is_pending([], lookup_failed=True)


def test_healthy_unhealthy_and_unused_targets_are_not_pending():
    for state in ("healthy", "unhealthy", "unused", None):
        assert not is_pending([decision(state=state)], lookup_failed=False)


def test_a_change_starts_the_window_and_a_still_cycle_ends_it():
    moving = observe(None, changed=True, pending=False, now=100.0)
    assert moving == Motion(100.0)
    assert followed(moving, 100.0, FOR)  # at once: the cycle that changed it asks
    assert followed(moving, 100.0 + FOR - 1, FOR)
    assert observe(moving, changed=False, pending=False, now=110.0) is None


def test_something_pending_forever_is_followed_only_for_the_window_after_the_last_change():
    motion = observe(None, changed=True, pending=True, now=0.0)
    for now in range(10, 400, 10):
        motion = observe(motion, changed=False, pending=True, now=float(now))
        assert motion == Motion(0.0)  # pending never extends the window
        assert followed(motion, float(now), FOR) == (now < FOR)


def test_pending_first_seen_without_a_change_starts_the_window_then():
    assert observe(None, changed=False, pending=True, now=50.0) == Motion(50.0)


def test_a_new_change_restarts_the_window():
    motion = observe(Motion(0.0), changed=True, pending=True, now=300.0)
    assert followed(motion, 400.0, FOR)


def test_an_announcement_is_followed_while_nothing_moves_until_its_window_ends():
    motion = announce(0.0, FOR)
    assert followed(motion, 0.0, FOR)
    still = observe(motion, changed=False, pending=False, now=60.0)
    assert still == motion
    assert followed(still, 119.0, FOR)
    assert not followed(still, FOR, FOR)
    assert observe(still, changed=False, pending=False, now=FOR) is None


def test_an_announcement_survives_a_change_inside_its_window():
    motion = observe(announce(0.0, FOR), changed=True, pending=False, now=30.0)
    assert motion == Motion(30.0, announced_until=FOR)
    assert observe(motion, changed=False, pending=False, now=100.0) == motion
    # A clock back to the announcement still follows it; before it, nothing.
    assert followed(motion, 0.0, FOR)
    assert not followed(motion, -1.0, FOR)


def test_an_announcement_opens_a_window_for_an_old_pending_record():
    old = Motion(0.0)
    assert not followed(old, 500.0, FOR)
    assert followed(announce(500.0, FOR), 600.0, FOR)


def test_nothing_recorded_is_not_followed_and_a_clock_going_back_is_not_either():
    assert not followed(None, 0.0, FOR)
    assert not followed(Motion(100.0), 50.0, FOR)


def test_one_more_cycle_needs_the_interval_the_cycle_and_the_margin():
    assert room_for_another(None, 10.0, 5.0, 10.0)
    assert room_for_another(25.0, 10.0, 5.0, 10.0)
    assert not room_for_another(24.9, 10.0, 5.0, 10.0)


def test_a_foreign_target_pending_in_someone_elses_hands_keeps_nothing_followed():
    foreign = Decision("10.0.9.9", 443, Action.FOREIGN, "not ours", in_dns=False, state="initial")
    assert not is_pending([foreign, decision(state="healthy")], lookup_failed=False)
