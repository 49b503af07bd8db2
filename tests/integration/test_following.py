"""Follow mode through the real adapters: an invocation keeps re-checking what moves,
only that, within its window and its time; events announce a domain's change."""

from __future__ import annotations

import json
from dataclasses import replace

from conftest import HOSTNAME, registered
from testlab.peers import create_target_group
from tgsync import config
from tgsync.events import Domain, Trigger

OLD = ["10.0.1.5", "10.0.2.5"]
NEW = ["10.0.1.9", "10.0.2.9"]
OTHER = "vpc-metrics-def456.eu-west-1.es.amazonaws.com"


class Sleeper:
    """Sleep that moves the fake clock and runs what the world does meanwhile."""

    def __init__(self, clock, *steps):
        self.clock, self.steps, self.slept = clock, list(steps), []

    def __call__(self, seconds):
        self.slept.append(seconds)
        self.clock.now += seconds
        if self.steps:
            self.steps.pop(0)()


def settle_on(controller, cfg, moto, ips):
    """Register ``ips`` and let them become healthy: a steady group, no following."""
    for ip in ips:
        moto.set_health(ip, "healthy")
    quiet = replace(cfg, follow_interval=0.0)
    assert controller.with_config(quiet).run().ok
    assert controller.with_config(quiet).run().cycles[0].mappings[0].registered_ips == []


def test_a_new_node_is_followed_until_healthy_then_following_stops(
    cycle, dns, moto, elbv2, target_group, clock
):
    dns.set(HOSTNAME, a=OLD)
    controller, cfg = cycle(target_group)
    settle_on(controller, cfg, moto, OLD)
    moto.update_control(default_state="initial")  # a real ALB's first state
    dns.set(HOSTNAME, a=OLD + NEW[:1])
    sleeper = Sleeper(clock, lambda: None, lambda: moto.set_health(NEW[0], "healthy"))
    run = controller.run(sleep=sleeper)
    assert run.ok
    assert [c.mappings[0].registered_ips for c in run.cycles] == [NEW[:1], [], []]
    assert run.stopped == "nothing moves"
    assert sleeper.slept == [10.0, 10.0]


def test_a_node_entering_dns_while_following_is_registered_in_the_same_invocation(
    cycle, dns, moto, elbv2, target_group, clock
):
    dns.set(HOSTNAME, a=OLD)
    controller, cfg = cycle(target_group)
    settle_on(controller, cfg, moto, OLD)
    moto.update_control(default_state="initial")
    dns.set(HOSTNAME, a=OLD + NEW[:1])
    sleeper = Sleeper(
        clock,
        lambda: dns.set(HOSTNAME, a=OLD + NEW),
        lambda: moto.update_control(default_state="healthy"),
    )
    run = controller.run(sleep=sleeper)
    assert run.final.mappings[0].registered_ips == NEW
    assert run.to_dict()["registered"] == 2
    assert {ip for ip, _ in registered(elbv2, target_group)} == set(OLD + NEW)


def test_following_re_reads_only_the_mapping_that_moves(
    cycle, dns, moto, elbv2, target_group, clock
):
    steady = create_target_group(elbv2, "steady")
    mappings = [
        {"hostname": HOSTNAME, "target_group_arn": target_group},
        {"hostname": OTHER, "target_group_arn": steady},
    ]
    dns.set(HOSTNAME, a=OLD)
    dns.set(OTHER, a=["10.0.3.7"])
    controller, _ = cycle(target_group)
    cfg = config.load({config.MAPPINGS: json.dumps(mappings), config.DNS_SERVERS: dns.address})
    # The steady group's target is healthy by name: whether its settled group is read
    # again in this run (its first re-read is staggered) must not make it move.
    settle_on(controller, cfg, moto, [*OLD, "10.0.3.7"])
    moto.update_control(default_state="initial")
    dns.set(HOSTNAME, a=OLD + NEW[:1])
    run = controller.with_config(cfg).run(
        sleep=Sleeper(clock, lambda: None, lambda: moto.update_control(default_state="healthy"))
    )
    followed = run.to_dict()["follow"]["followed"]
    assert followed and all(labels == [run.cycles[0].mappings[0].label] for labels in followed)
    assert len(run.final.mappings) == 2


def test_a_target_pending_forever_is_followed_for_the_window_then_not_at_all(
    cycle, dns, moto, elbv2, target_group, clock
):
    moto.update_control(default_state="initial")  # never becomes healthy
    dns.set(HOSTNAME, a=OLD)
    controller, _cfg = cycle(target_group, **{config.FOLLOW_FOR: 45})
    first = controller.run(sleep=Sleeper(clock))
    assert len(first.cycles) == 1 + 5  # follow-ups at 10, 20, 30, 40 s; 50 s is past 45
    assert first.stopped == "nothing moves"
    clock.now += 60
    later = controller.run(sleep=Sleeper(clock))
    assert len(later.cycles) == 1


def test_following_stops_when_the_invocation_has_no_time_for_another_cycle(
    cycle, dns, moto, elbv2, target_group, clock
):
    moto.update_control(default_state="initial")
    dns.set(HOSTNAME, a=OLD)
    controller, _cfg = cycle(target_group)
    deadline = clock.now + 55  # the stack's timeout

    run = controller.run(sleep=Sleeper(clock), time_left=lambda: deadline - clock.now)
    # Cycles at 0, 10, 20, 30 and 40 s; at 40 s 15 s are left, less than 10 s + the margin.
    assert len(run.cycles) == 5
    assert run.stopped.startswith("no time left")


def test_dry_runs_and_interval_zero_do_not_follow(cycle, dns, moto, elbv2, target_group, clock):
    moto.update_control(default_state="initial")
    dns.set(HOSTNAME, a=OLD)
    controller, _cfg = cycle(target_group, **{config.FOLLOW_INTERVAL: 0})
    assert controller.run(sleep=Sleeper(clock)).stopped == "following is off"
    controller, _cfg = cycle(target_group)
    dry = controller.run(dry_run=True, sleep=Sleeper(clock))
    assert (len(dry.cycles), dry.stopped) == (1, "dry run")


def test_an_event_announces_its_domain_and_the_mapping_is_followed_before_dns_moves(
    cycle, dns, moto, elbv2, target_group, clock
):
    dns.set(HOSTNAME, a=OLD)
    controller, cfg = cycle(target_group)
    settle_on(controller, cfg, moto, OLD)
    event = Trigger(
        "opensearch",
        "Amazon OpenSearch Service Software Update Notification",
        (Domain("eu-west-1", "logs"),),
    )
    # DNS moves 20 s after the event: the invocation sees it without waiting for a tick.
    sleeper = Sleeper(clock, lambda: None, lambda: dns.set(HOSTNAME, a=OLD + NEW))
    run = controller.run(trigger=event, sleep=sleeper, time_left=lambda: 55 - sum(sleeper.slept))
    assert run.announced == [run.cycles[0].mappings[0].label]
    assert run.final.mappings[0].registered_ips == NEW
    assert len(run.cycles) > 2


def test_an_event_for_another_domain_announces_nothing(
    cycle, dns, moto, elbv2, target_group, clock
):
    dns.set(HOSTNAME, a=OLD)
    controller, cfg = cycle(target_group)
    settle_on(controller, cfg, moto, OLD)
    event = Trigger("opensearch", "x", (Domain("eu-west-1", "metrics"),))
    run = controller.run(trigger=event, sleep=Sleeper(clock))
    assert (run.announced, len(run.cycles)) == ([], 1)


def test_a_stop_during_the_sleep_starts_no_new_cycle(cycle, dns, moto, elbv2, target_group, clock):
    moto.update_control(default_state="initial")  # pending: it would follow
    dns.set(HOSTNAME, a=OLD)
    controller, _cfg = cycle(target_group)
    sleeper = Sleeper(clock)

    def stopped_while_asleep(seconds):  # as threading.Event.wait: True when stopped
        sleeper(seconds)
        return True

    run = controller.run(sleep=stopped_while_asleep)
    assert (len(run.cycles), run.stopped) == (1, "stopped")
