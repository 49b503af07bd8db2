"""The ``tgsync`` command as a user runs it: a subprocess against the local peers."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys

import pytest

from conftest import HOSTNAME, registered

IPS = ["10.0.1.5", "10.0.2.5", "10.0.3.5"]
TGSYNC = shutil.which("tgsync", path=os.path.dirname(sys.executable)) or "tgsync"


@pytest.fixture
def env(moto, dns, target_group):
    base = {k: v for k, v in os.environ.items() if not k.startswith("TGSYNC_")}
    return {**base, **moto.environ(), "TGSYNC_DNS_SERVERS": dns.address}


def tgsync(*args, env, check_code=None):
    done = subprocess.run(
        [TGSYNC, *args], check=False, env=env, capture_output=True, text=True, timeout=60
    )
    if check_code is not None:
        assert done.returncode == check_code, done.stderr
    return done


def test_plan_prints_a_table_and_changes_nothing(env, dns, elbv2, target_group, moto):
    elbv2.register_targets(TargetGroupArn=target_group, Targets=[{"Id": "10.0.9.9", "Port": 443}])
    moto.set_health("10.0.9.9", "unhealthy", "Target.FailedHealthChecks")
    dns.set(HOSTNAME, a=IPS)
    done = tgsync(
        "plan",
        "--hostname",
        f"https://{HOSTNAME}/",
        "--target-group-arn",
        target_group,
        env=env,
        check_code=0,
    )
    lines = done.stdout.splitlines()
    assert lines[0] == f"{HOSTNAME} -> opensearch (port 443)"
    assert lines[2].split() == ["IP", "IN", "DNS", "STATE", "ACTION", "REASON"]
    assert "10.0.1.5  yes     -          REGISTER    in DNS, not registered" in done.stdout
    assert (
        "10.0.9.9  no      unhealthy  DEREGISTER  not in DNS and unhealthy "
        "(Target.FailedHealthChecks)" in done.stdout
    )
    assert set(registered(elbv2, target_group)) == {("10.0.9.9", 443)}


def test_sync_applies_and_reports_json(env, dns, elbv2, target_group):
    dns.set(HOSTNAME, a=IPS)
    env = {**env, "TGSYNC_HOSTNAME": HOSTNAME, "TGSYNC_TARGET_GROUP_ARN": target_group}
    done = tgsync("sync", "--output", "json", "--log-format", "json", env=env, check_code=0)
    summary = json.loads(done.stdout)
    assert summary["ok"] and summary["registered"] == 3
    assert set(registered(elbv2, target_group)) == {(ip, 443) for ip in IPS}
    logged = [json.loads(line) for line in done.stderr.splitlines()]
    assert sorted(line["ip"] for line in logged if line["message"] == "REGISTER") == IPS


def test_a_failed_lookup_exits_1_and_leaves_the_group(env, dns, elbv2, target_group):
    elbv2.register_targets(TargetGroupArn=target_group, Targets=[{"Id": "10.0.1.5", "Port": 443}])
    dns.set(HOSTNAME, a=IPS, mode="nxdomain")
    done = tgsync(
        "sync", "--hostname", HOSTNAME, "--target-group-arn", target_group, env=env, check_code=1
    )
    assert "FAILED: DNS resolution failed, nothing changed: NXDOMAIN" in done.stdout
    assert done.stderr.splitlines()[-1] == (
        f"tgsync: 1 of 1 mapping(s) failed: {HOSTNAME} -> opensearch: DNS resolution failed, "
        f"nothing changed: NXDOMAIN: {HOSTNAME} does not exist"
    )
    assert set(registered(elbv2, target_group)) == {("10.0.1.5", 443)}


def test_a_failed_plan_says_its_error_once_where_the_user_reads(env, dns, elbv2):
    missing = (
        "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/gone/0123456789abcdef"
    )
    done = subprocess.run(
        [TGSYNC, "plan", "--hostname", HOSTNAME, "--target-group-arn", missing],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    # stdout and stderr on one terminal: the mapping, its error, the last line.
    assert done.stdout.count("not found (deleted") == 1, done.stdout
    assert "(no targets, nothing to do)" not in done.stdout
    assert "{" not in done.stdout  # no JSON log line
    assert done.stdout.splitlines() == [
        f"{HOSTNAME} -> gone",
        next(line for line in done.stdout.splitlines() if line.startswith("  FAILED: ")),
        f"tgsync: 1 of 1 mapping(s) failed (see above): {HOSTNAME} -> gone",
    ]


def test_a_failed_plan_with_stderr_apart_ends_it_with_the_cause(env, dns):
    missing = (
        "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/gone/0123456789abcdef"
    )
    done = tgsync(
        "plan", "--hostname", HOSTNAME, "--target-group-arn", missing, env=env, check_code=1
    )
    assert done.stderr.count("not found (deleted") == 1
    assert done.stderr.splitlines() == [next(iter(done.stderr.splitlines()))]
    assert done.stderr.startswith(f"tgsync: 1 of 1 mapping(s) failed: {HOSTNAME} -> gone: ")
    logged = tgsync(
        "plan",
        "--hostname",
        HOSTNAME,
        "--target-group-arn",
        missing,
        "--log-format",
        "json",
        env=env,
        check_code=1,
    )
    lines = logged.stderr.splitlines()
    assert [json.loads(line)["message"] for line in lines[:-1]] == [
        "mapping failed",
        "mapping summary",
    ]


def test_sync_logs_each_action_in_words_naming_its_group(env, dns, elbv2, target_group):
    dns.set(HOSTNAME, a=IPS[:1])
    done = tgsync(
        "sync", "--hostname", HOSTNAME, "--target-group-arn", target_group, env=env, check_code=0
    )
    assert done.stderr.splitlines() == [
        "REGISTER   10.0.1.5:443 in opensearch: in DNS, not registered"
    ]


def test_watch_exits_1_when_a_cycle_failed(env, dns, target_group):
    dns.set(HOSTNAME, a=IPS, mode="servfail")
    done = tgsync(
        "watch",
        "--interval",
        "0.01",
        "--cycles",
        "2",
        "--hostname",
        HOSTNAME,
        "--target-group-arn",
        target_group,
        env=env,
        check_code=1,
    )
    summaries = [line for line in done.stderr.splitlines() if line.startswith("tgsync: ")]
    assert len(summaries) == 2
    assert all(line.startswith("tgsync: 1 of 1 mapping(s) failed") for line in summaries)


def test_a_bad_flag_exits_2_naming_the_flag(env):
    done = tgsync(
        "sync",
        "--hostname",
        HOSTNAME,
        "--target-group-arn",
        "tg-1",
        "--lookups",
        "zero",
        "--port",
        "70000",
        env=env,
        check_code=2,
    )
    assert "--" not in done.stdout
    assert "--target-group-arn: 'tg-1' is not a target group ARN" in done.stderr
    assert "--lookups: 'zero' is not a whole number" in done.stderr
    assert "--port: 70000 is out of range" in done.stderr
    assert "TGSYNC_" not in done.stderr


def test_a_bad_variable_is_named_as_the_variable(env, target_group):
    done = tgsync(
        "sync",
        env={
            **env,
            "TGSYNC_HOSTNAME": HOSTNAME,
            "TGSYNC_PORT": "70000",
            "TGSYNC_TARGET_GROUP_ARN": target_group,
        },
        check_code=2,
    )
    assert "TGSYNC_PORT: 70000 is out of range" in done.stderr


def test_nothing_set_names_the_flags_too(env):
    done = tgsync("plan", env=env, check_code=2)
    assert "--hostname and --target-group-arn, or --mappings" in done.stderr


def test_a_bad_mappings_entry_exits_2_before_any_aws_call(env, moto, dns, proxy, target_group):
    mappings = json.dumps(
        [
            {"hostname": HOSTNAME, "target_group_arn": target_group},
            {"hostname": 5, "target_group_arn": target_group},
        ]
    )
    done = tgsync(
        "sync",
        "--mappings",
        mappings,
        env={**env, "AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2": proxy.endpoint},
        check_code=2,
    )
    assert done.stdout == ""
    assert done.stderr.count("must be a string") == 1
    assert "--mappings[1].hostname: must be a string, not int (5)" in done.stderr
    assert proxy.calls() == []


def test_help_explains_the_settings(env):
    done = tgsync("sync", "--help", env=env, check_code=0)
    for flag in (
        "--hostname",
        "--target-group-arn",
        "--stale-after",
        "--allowed-cidrs",
        "--policy",
        "--dry-run",
        "--mappings",
        "TGSYNC_DNS_SERVERS",
        "--log-format",
    ):
        assert flag in done.stdout


def test_plan_help_names_what_each_flag_takes_and_offers_no_dry_run(env):
    done = tgsync("plan", "--help", env=env, check_code=0)
    assert "VALUE" not in done.stdout
    assert "--dry-run" not in done.stdout  # plan changes nothing anyway
    for shown in (
        "--hostname HOST",
        "--target-group-arn ARN",
        "--stale-after SECONDS",
        "--dns-servers HOST[:PORT],...",
        "--allowed-cidrs CIDR,...",
        "--lookups N",
        "--api-rate CALLS/S",
        "--policy sync|upsert-only",
    ):
        assert shown in done.stdout


def test_mappings_from_a_file(env, dns, elbv2, target_group, tmp_path):
    dns.set(HOSTNAME, a=IPS)
    path = tmp_path / "mappings.json"
    path.write_text(
        json.dumps([{"hostname": HOSTNAME, "target_group_arn": target_group, "port": 9200}])
    )
    tgsync("sync", "--mappings", f"@{path}", env=env, check_code=0)
    assert set(registered(elbv2, target_group)) == {(ip, 9200) for ip in IPS}


def test_watch_runs_cycles_and_stops_cleanly_on_sigterm(env, dns, elbv2, target_group):
    dns.set(HOSTNAME, a=IPS)
    process = subprocess.Popen(
        [
            TGSYNC,
            "watch",
            "--interval",
            "240",
            "--hostname",
            HOSTNAME,
            "--target-group-arn",
            target_group,
            "--log-format",
            "json",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    first = process.stdout.readline()  # the first cycle is done once it is printed
    assert "registered 3, deregistered 0" in first
    process.send_signal(signal.SIGTERM)
    _out, err = process.communicate(timeout=30)
    assert process.returncode == 0
    assert '"message":"stopped"' in err and '"signal":"SIGTERM"' in err


def test_watch_follows_what_moves_between_its_cycles(env, dns, moto, elbv2, target_group):
    moto.update_control(default_state="initial")  # never healthy: followed for the window
    dns.set(HOSTNAME, a=IPS)
    done = tgsync(
        "watch",
        "--interval",
        "30",
        "--cycles",
        "1",
        "--follow-interval",
        "1",
        "--follow-for",
        "1",
        "--hostname",
        HOSTNAME,
        "--target-group-arn",
        target_group,
        "--output",
        "json",
        env=env,
        check_code=0,
    )
    cycles = [json.loads(line) for line in done.stdout.splitlines()]
    assert cycles[0]["registered"] == 3
    assert len(cycles) >= 2  # follow-ups (their count depends on speed: not asserted)
    assert all(c["mappings"][0]["read"] == "read" for c in cycles)


def test_watch_names_a_bad_follow_interval_as_its_flag(env, target_group):
    done = tgsync(
        "watch",
        "--follow-interval",
        "-1",
        "--hostname",
        HOSTNAME,
        "--target-group-arn",
        target_group,
        env=env,
        check_code=2,
    )
    assert "--follow-interval: '-1' is out of range" in done.stderr


def test_watch_refuses_an_interval_that_would_never_retire_a_stale_ip(env, target_group):
    done = tgsync(
        "watch",
        "--interval",
        "301",
        "--hostname",
        HOSTNAME,
        "--target-group-arn",
        target_group,
        env=env,
        check_code=2,
    )
    assert "--interval must be above 0 and at most 240 seconds" in done.stderr


def test_watch_stops_after_the_requested_cycles(env, dns, target_group):
    dns.set(HOSTNAME, a=IPS)
    done = tgsync(
        "watch",
        "--interval",
        "0.01",
        "--cycles",
        "3",
        "--hostname",
        HOSTNAME,
        "--target-group-arn",
        target_group,
        env=env,
        check_code=0,
    )
    lines = done.stdout.splitlines()
    assert len(lines) == 3
    assert "registered 3" in lines[0] and "registered 0" in lines[1]
    assert "unchanged, 3 in DNS" in lines[2] or "registered 0" in lines[2]  # settled


def test_plan_shows_what_discovery_would_adopt_and_where_each_setting_came_from(
    env, dns, elbv2, target_group
):
    elbv2.add_tags(
        ResourceArns=[target_group],
        Tags=[
            {"Key": "tgsync:hostname", "Value": HOSTNAME},
            {"Key": "tgsync:port", "Value": "9200"},
        ],
    )
    dns.set(HOSTNAME, a=IPS)
    done = tgsync(
        "plan",
        "--discover",
        "tags",
        "--discover-prefix",
        "*",
        "--stale-after",
        "60",
        env=env,
        check_code=0,
    )
    assert f"{HOSTNAME} -> opensearch (port 9200)" in done.stdout
    settings = next(line for line in done.stdout.splitlines() if "settings:" in line)
    for origin in (
        "hostname from tag tgsync:hostname",
        "port from tag tgsync:port",
        "stale_after from function default",
        "dns_servers from function default",
    ):
        assert origin in settings
    assert registered(elbv2, target_group) == {}  # plan changes nothing


def test_watch_stops_cleanly_when_its_reader_goes_away(env, dns, target_group):
    dns.set(HOSTNAME, a=IPS)
    process = subprocess.Popen(
        [
            TGSYNC,
            "watch",
            "--interval",
            "0.2",
            "--cycles",
            "50",
            "--hostname",
            HOSTNAME,
            "--target-group-arn",
            target_group,
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    process.stdout.readline()  # the first cycle's line, then the reader goes away
    process.stdout.close()
    _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err[-2000:]  # exited 1 with BrokenPipeError before
    assert "BrokenPipeError" not in err


def test_sync_puts_change_events_on_the_bus_it_is_given_and_plan_puts_none(
    env, dns, elbv2, target_group
):
    from testlab.peers import EventQueue
    from tgsync.changes import DETAIL_TYPE, SOURCE

    queue = EventQueue("tgsync-changes", {"source": [SOURCE], "detail-type": [DETAIL_TYPE]})
    dns.set(HOSTNAME, a=IPS)
    mapping = ["--hostname", HOSTNAME, "--target-group-arn", target_group]
    # plan is a look: the variable set or not, it tells nobody (and takes no flag for it).
    tgsync("plan", *mapping, env={**env, "TGSYNC_EVENT_BUS": "tgsync-changes"}, check_code=0)
    assert queue.events() == []
    assert "--event-bus" not in tgsync("plan", "--help", env=env, check_code=0).stdout
    assert "--event-bus NAME|ARN" in tgsync("sync", "--help", env=env, check_code=0).stdout
    done = tgsync(
        "sync", *mapping, "--event-bus", "tgsync-changes", "--output", "json", env=env, check_code=0
    )
    assert json.loads(done.stdout)["change_events"] == {"sent": 3, "failed": 0}
    assert sorted(e["detail"]["ip"] for e in queue.events()) == IPS
    bad = tgsync("sync", *mapping, "--event-bus", "no such bus", env=env, check_code=2)
    assert "--event-bus: 'no such bus' is not an event bus" in bad.stderr
