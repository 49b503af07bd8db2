"""Signed ownership records (``TGSYNC_RECORD_KEY``, issue 30, item 2) against moto's KMS
and ELB: a record anyone may write as a tag is trusted only with the key's MAC."""

from __future__ import annotations

import boto3
import pytest

from conftest import HOSTNAME, registered
from testlab.peers import REGION
from tgsync import config, lambda_handler
from tgsync.ownership import MAC_PREFIX, OWNED_PREFIX, owner_id

MINE, FOREIGN, NEW = "10.0.1.5", "10.0.9.9", "10.0.1.6"


@pytest.fixture
def record_key(moto):
    """An HMAC key in moto's KMS, as the stack creates one."""
    kms = boto3.client("kms", region_name=REGION)
    return kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["Arn"]


@pytest.fixture
def handler(dns, target_group, proxy, monkeypatch):
    """The handler keeping the group with retire=owned; a cold start each call of it."""

    def invoke(**env):
        values = {
            "TGSYNC_HOSTNAME": HOSTNAME,
            "TGSYNC_TARGET_GROUP_ARN": target_group,
            "TGSYNC_DNS_SERVERS": dns.address,
            "TGSYNC_RETIRE": "owned",
            "TGSYNC_STALE_AFTER": "0",
            **env,
        }
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setattr(lambda_handler, "_controller", None)
        return lambda_handler.handler({}, None)

    return invoke


def owned_tags(elbv2, arn):
    found = elbv2.describe_tags(ResourceArns=[arn])["TagDescriptions"][0]["Tags"]
    return {t["Key"]: t["Value"] for t in found if t["Key"].startswith(OWNED_PREFIX)}


def plant(elbv2, arn, value, slot=7):
    elbv2.add_tags(ResourceArns=[arn], Tags=[{"Key": f"{OWNED_PREFIX}443:{slot}", "Value": value}])


def ips(elbv2, arn):
    return {ip for ip, _port in registered(elbv2, arn)}


def test_a_forged_record_of_a_healthy_foreign_target_does_not_get_it_deregistered(
    handler, dns, elbv2, target_group, record_key
):
    """The review's repro: with only AddTags, a record naming a healthy foreign target as
    the mapping's own (its owner id is public) made tgsync deregister it after the next
    cold start."""
    elbv2.register_targets(TargetGroupArn=target_group, Targets=[{"Id": FOREIGN}])
    dns.set(HOSTNAME, a=[MINE])
    assert handler(TGSYNC_RECORD_KEY=record_key)["ok"]
    forged = f"{owner_id(HOSTNAME)} {FOREIGN}"
    for value in (forged, f"{forged} {MAC_PREFIX}{'A' * 43}"):  # no MAC, a made-up one
        plant(elbv2, target_group, value)
        summary = handler(TGSYNC_RECORD_KEY=record_key)
        assert ips(elbv2, target_group) == {MINE, FOREIGN}
        (report,) = summary["mappings"]  # reported, and the sync went on
        assert report["ok"] and report["unverified_records"] == [f"{OWNED_PREFIX}443:7"]
        assert report["foreign"] == [FOREIGN]


def test_what_tgsync_signs_it_trusts_and_retires_across_cold_starts(
    handler, dns, elbv2, target_group, record_key
):
    dns.set(HOSTNAME, a=[MINE])
    assert handler(TGSYNC_RECORD_KEY=record_key)["ok"]
    (value,) = owned_tags(elbv2, target_group).values()
    assert value.startswith(f"{owner_id(HOSTNAME)} {MINE} {MAC_PREFIX}")
    dns.set(HOSTNAME, a=[NEW])  # the next cold start trusts its own record: MINE goes
    summary = handler(TGSYNC_RECORD_KEY=record_key)
    assert summary["ok"] and ips(elbv2, target_group) == {NEW}
    (value,) = owned_tags(elbv2, target_group).values()
    assert value.startswith(f"{owner_id(HOSTNAME)} {NEW} {MAC_PREFIX}")


def test_a_planted_record_of_an_invented_owner_never_blocks_a_retire_all_group(
    handler, dns, elbv2, target_group, record_key
):
    """The review's second repro: a planted record of an invented owner stopped a
    retire=all group from syncing (its retirements held as another owner's)."""
    elbv2.register_targets(TargetGroupArn=target_group, Targets=[{"Id": FOREIGN}])
    plant(elbv2, target_group, f"0badc0de {FOREIGN}")
    dns.set(HOSTNAME, a=[MINE])
    summary = handler(TGSYNC_RETIRE="all", TGSYNC_RECORD_KEY=record_key)
    assert summary["ok"] and ips(elbv2, target_group) == {MINE}  # synced all the same
    assert summary["mappings"][0]["unverified_records"] == [f"{OWNED_PREFIX}443:7"]


def test_each_distinct_record_is_verified_once_per_process(
    cycle, dns, elbv2, target_group, record_key, monkeypatch
):
    from tgsync.provider.kms import KmsKey

    calls = []
    real = KmsKey.verify

    def counting(self, message, mac, deadline=None):
        calls.append(message)
        return real(self, message, mac) if deadline is None else real(self, message, mac, deadline)

    monkeypatch.setattr(KmsKey, "verify", counting)
    dns.set(HOSTNAME, a=[MINE])
    first, _ = cycle(
        target_group,
        TGSYNC_RETIRE="owned",
        TGSYNC_RECORD_KEY=record_key,
        **{config.RESYNC_EVERY: 0},
    )
    assert first.run_once().ok
    calls.clear()
    second, _ = cycle(
        target_group,
        TGSYNC_RETIRE="owned",
        TGSYNC_RECORD_KEY=record_key,
        **{config.RESYNC_EVERY: 0},
    )  # a cold start: its own record, read
    for _ in range(3):
        assert second.run_once().ok
    assert len(calls) == 1


def test_the_check_signs_with_the_key_or_says_the_records_are_trusted_as_written(
    dns, target_group, record_key, proxy
):
    from tgsync.wiring import preflight

    dns.set(HOSTNAME, a=[MINE])
    base = {
        config.HOSTNAME: HOSTNAME,
        config.TARGET_GROUP_ARN: target_group,
        config.DNS_SERVERS: dns.address,
        "TGSYNC_RETIRE": "owned",
    }
    (unsigned,) = [c for c in preflight(config.load(base)) if c.name == "ownership records"]
    assert unsigned.status == "WARN" and "SCP" in unsigned.detail
    signed = preflight(config.load({**base, "TGSYNC_RECORD_KEY": record_key}))
    (check,) = [c for c in signed if c.name == "ownership records"]
    assert check.status == "OK" and record_key in check.detail
    plain = preflight(config.load({**base, "TGSYNC_RETIRE": "all"}))
    assert not [c for c in plain if c.name == "ownership records"]  # nothing read: nothing said
