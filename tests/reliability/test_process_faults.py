"""Process faults: crashes mid-cycle, overlapping and repeated runs, a jumping clock,
a function about to time out, and a bad configuration."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import threading

import pytest

from conftest import HOSTNAME, registered
from testlab.faultproxy import Fault
from testlab.runtime_api import RuntimeApi, start_runtime
from tgsync import lambda_handler
from tgsync.errors import ConfigError
from tgsync.memory_codec import TAG_PREFIX, decode

IPS = ["10.0.1.5", "10.0.2.5", "10.0.3.5"]
TGSYNC = shutil.which("tgsync", path=os.path.dirname(sys.executable)) or "tgsync"


def ips(elbv2, arn):
    return {ip for ip, _port in registered(elbv2, arn)}


def memory_tags(elbv2, arn):
    tags = elbv2.describe_tags(ResourceArns=[arn])["TagDescriptions"][0]["Tags"]
    return {t["Key"]: t["Value"] for t in tags if t["Key"].startswith(TAG_PREFIX)}


def test_a_crash_between_register_and_tag_write_is_healed_by_the_next_cycle(
    proxy, moto, dns, elbv2, target_group, cycle
):
    elbv2.register_targets(TargetGroupArn=target_group, Targets=[{"Id": "10.0.9.9"}])
    dns.set(HOSTNAME, a=IPS)
    proxy.inject(Fault("delay", "AddTags", times=1, seconds=30))
    env = {**os.environ, "AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2": proxy.endpoint}
    process = subprocess.Popen(
        [
            TGSYNC,
            "sync",
            "--hostname",
            HOSTNAME,
            "--target-group-arn",
            target_group,
            "--dns-servers",
            dns.address,
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    assert proxy.wait_for("AddTags")
    process.kill()  # the process dies after RegisterTargets, inside the tag write
    process.wait()
    assert ips(elbv2, target_group) == {*IPS, "10.0.9.9"}
    assert memory_tags(elbv2, target_group) == {}  # the write never landed
    proxy.clear()
    controller, _cfg = cycle(target_group)
    assert controller.run_once().ok
    assert set(decode(memory_tags(elbv2, target_group), 443).memory) == {"10.0.9.9"}


def test_a_lambda_killed_mid_cycle_is_healed_by_the_next_invocation(
    proxy, moto, dns, elbv2, target_group
):
    elbv2.register_targets(TargetGroupArn=target_group, Targets=[{"Id": "10.0.9.9"}])
    moto.set_health("10.0.9.9", "unhealthy", "Target.FailedHealthChecks")
    dns.set(HOSTNAME, a=IPS)
    proxy.inject(Fault("delay", "DeregisterTargets", times=1, seconds=30))
    env = {
        **moto.environ(),
        "AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2": proxy.endpoint,
        "TGSYNC_HOSTNAME": HOSTNAME,
        "TGSYNC_TARGET_GROUP_ARN": target_group,
        "TGSYNC_DNS_SERVERS": dns.address,
    }
    api = RuntimeApi().start()
    try:
        runtime = start_runtime(
            api,
            env,
            "tgsync.lambda_handler.handler",
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

        def invoke_the_doomed_run():
            with contextlib.suppress(TimeoutError):  # the runtime is killed: no answer
                api.invoke(wait=60)

        threading.Thread(target=invoke_the_doomed_run, daemon=True).start()
        assert proxy.wait_for("DeregisterTargets")
        runtime.kill()  # Lambda ends a timed-out sandbox just like this
        runtime.wait()
        assert ips(elbv2, target_group) == {*IPS, "10.0.9.9"}  # half done, nothing lost
        fresh = start_runtime(
            api,
            env,
            "tgsync.lambda_handler.handler",
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        outcome = api.invoke()
        fresh.kill()
        fresh.wait()
    finally:
        api.stop()
    assert outcome.ok
    assert ips(elbv2, target_group) == set(IPS)


def test_two_cycles_at_once_never_retire_what_dns_returns(
    proxy, moto, dns, elbv2, target_group, cycle, clock
):
    first, _ = cycle(target_group, TGSYNC_STALE_AFTER=0)
    second, _ = cycle(target_group, TGSYNC_STALE_AFTER=0)
    for round_number in range(12):
        wanted = IPS[: 1 + round_number % 3]
        dns.set(HOSTNAME, a=wanted)
        mark = proxy.mark()
        threads = [threading.Thread(target=c.run_once) for c in (first, second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        retired = {
            ip
            for r in proxy.since(mark)
            if r.action == "DeregisterTargets"
            for key, values in r.params.items()
            if key.endswith(".Id")
            for ip in values
        }
        assert not retired & set(wanted)
        assert set(wanted) <= ips(elbv2, target_group)
        clock.now += 60


def test_the_same_event_delivered_twice_changes_nothing_the_second_time(
    moto, dns, elbv2, target_group, monkeypatch
):
    dns.set(HOSTNAME, a=IPS)
    for key, value in {
        "TGSYNC_HOSTNAME": HOSTNAME,
        "TGSYNC_TARGET_GROUP_ARN": target_group,
        "TGSYNC_DNS_SERVERS": dns.address,
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(lambda_handler, "_controller", None)
    event = {"id": "same-delivery", "source": "aws.scheduler"}
    first = lambda_handler.handler(event, None)
    second = lambda_handler.handler(event, None)
    assert first["registered"] == 3
    assert second["registered"] == 0
    assert second["deregistered"] == 0
    assert ips(elbv2, target_group) == set(IPS)


def test_a_jumping_clock_never_retires_a_healthy_ip_early(dns, elbv2, target_group, cycle, clock):
    dns.set(HOSTNAME, a=IPS)
    controller, _cfg = cycle(target_group, TGSYNC_STALE_AFTER=180)
    controller.run_once()
    dns.set(HOSTNAME, a=IPS[:2])
    for jump in (60, 86_400, 60, -3_600, 60, 60):  # forward a day, back an hour
        clock.now += jump
        controller.run_once()
        assert IPS[2] in ips(elbv2, target_group)
    clock.now += 60  # 180 s of steady time since the last jump
    controller.run_once()
    assert IPS[2] not in ips(elbv2, target_group)


def test_mappings_that_cannot_start_before_the_timeout_are_deferred_then_failed(
    dns, elbv2, target_group, cycle, clock
):
    dns.set(HOSTNAME, a=IPS)
    controller, cfg = cycle(target_group)
    first = controller.run_once(time_left=lambda: 5.0)
    assert first.ok and first.mappings[0].deferred  # never read: the next one carries on
    assert ips(elbv2, target_group) == set()
    assert controller.run_once().ok
    clock.now += cfg.resync_every + 1  # falling behind: no read for a resync interval
    late = controller.run_once(time_left=lambda: 5.0)
    assert "about to time out and this group was last read 301s ago" in late.mappings[0].error


@pytest.mark.parametrize(
    "env",
    [
        {"TGSYNC_HOSTNAME": "vpc-x.example.com", "TGSYNC_TARGET_GROUP_ARN": "tg"},
        {"TGSYNC_MAPPINGS": "[{]"},
        {
            "TGSYNC_HOSTNAME": "vpc-x.example.com",
            "TGSYNC_LOOKUPS": "-1",
            "TGSYNC_TARGET_GROUP_ARN": "arn:aws:elasticloadbalancing:eu-west-1:123456789012:"
            "targetgroup/x/0123456789abcdef",
        },
    ],
)
def test_a_bad_configuration_calls_nothing_on_aws(proxy, moto, env, monkeypatch):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(lambda_handler, "_controller", None)
    with pytest.raises(ConfigError):
        lambda_handler.handler({}, None)
    done = subprocess.run(
        [TGSYNC, "sync"],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert proxy.calls() == []
