"""Discovery against moto: tagged groups adopted, others' groups untouched, tags that
do not parse refused, groups let go when untagged, many groups paged through."""

from __future__ import annotations

import json

import boto3
import pytest

from conftest import HOSTNAME, registered
from testlab.peers import REGION, create_target_group
from tgsync import config
from tgsync.memory_codec import TAG_PREFIX

OTHER = "db.internal.example.com"


def tag(elbv2, arn, **tags):
    elbv2.add_tags(ResourceArns=[arn], Tags=[{"Key": k, "Value": v} for k, v in tags.items()])


def untag(elbv2, arn, *keys):
    elbv2.remove_tags(ResourceArns=[arn], TagKeys=list(keys))


def ips(elbv2, arn):
    return {ip for ip, _port in registered(elbv2, arn)}


def memory_keys(elbv2, arn):
    found = elbv2.describe_tags(ResourceArns=[arn])["TagDescriptions"][0]["Tags"]
    return {t["Key"] for t in found if t["Key"].startswith(TAG_PREFIX)}


@pytest.fixture
def discover(cycle, dns, monkeypatch):
    """``discover(**env)``: a controller (one execution environment) with discovery on."""

    def build(**env):
        controller, _ = cycle(
            "arn:aws:elasticloadbalancing:eu-west-1:123456789012:"
            "targetgroup/unused/0123456789abcdef"
        )
        values = {
            config.DISCOVER: "tags",
            "AWS_REGION": REGION,
            config.DISCOVER_PREFIX: "*",
            config.DNS_SERVERS: dns.address,
            config.STALE_AFTER: "120",
        }
        values.update({k: str(v) for k, v in env.items()})
        cfg = config.load(values)
        return controller.with_config(cfg), cfg

    return build


@pytest.fixture
def vpc(moto):
    return boto3.client("ec2", region_name=REGION).create_vpc(CidrBlock="10.0.0.0/16")["Vpc"][
        "VpcId"
    ]


def test_tagged_groups_are_adopted_and_the_rest_left_alone(discover, dns, elbv2, vpc):
    logs = create_target_group(elbv2, "logs", vpc_id=vpc)
    db = create_target_group(elbv2, "db", port=5432, protocol="TCP", vpc_id=vpc)
    plain = create_target_group(elbv2, "plain", vpc_id=vpc)
    theirs = create_target_group(elbv2, "theirs", vpc_id=vpc)
    tag(elbv2, logs, **{"tgsync:hostname": HOSTNAME})
    tag(elbv2, db, **{"tgsync:hostname": OTHER, "tgsync:port": "6432"})
    tag(elbv2, theirs, **{"tgsync:hostname": HOSTNAME, "tgsync:owner": "team-b"})
    dns.set(HOSTNAME, a=["10.0.1.5"])
    dns.set(OTHER, a=["10.0.2.5"])
    controller, _cfg = discover()
    cycle = controller.run_once()
    assert cycle.ok, [m.error for m in cycle.failed]
    assert ips(elbv2, logs) == {"10.0.1.5"}
    assert set(registered(elbv2, db)) == {("10.0.2.5", 6432)}
    assert ips(elbv2, plain) == set() and ips(elbv2, theirs) == set()
    summary = cycle.to_dict()["discovery"]
    assert sorted(summary["adopted"]) == ["db", "logs"] and summary["other_owners"] == 1


def test_an_owner_takes_only_its_own_groups(discover, dns, elbv2, vpc):
    mine = create_target_group(elbv2, "mine", vpc_id=vpc)
    unowned = create_target_group(elbv2, "unowned", vpc_id=vpc)
    tag(elbv2, mine, **{"tgsync:hostname": HOSTNAME, "tgsync:owner": "team-a"})
    tag(elbv2, unowned, **{"tgsync:hostname": HOSTNAME})
    dns.set(HOSTNAME, a=["10.0.1.5"])
    controller, _cfg = discover(TGSYNC_OWNER="team-a")
    assert controller.run_once().ok
    assert ips(elbv2, mine) == {"10.0.1.5"} and ips(elbv2, unowned) == set()


def test_a_bad_tag_or_type_fails_that_group_alone(discover, dns, elbv2, vpc):
    good = create_target_group(elbv2, "good", vpc_id=vpc)
    bad = create_target_group(elbv2, "bad", vpc_id=vpc)
    web = elbv2.create_target_group(
        Name="web", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="instance"
    )["TargetGroups"][0]["TargetGroupArn"]
    tag(elbv2, good, **{"tgsync:hostname": HOSTNAME})
    tag(elbv2, bad, **{"tgsync:hostname": HOSTNAME, "tgsync:policy": "maybe"})
    tag(elbv2, web, **{"tgsync:hostname": HOSTNAME})
    dns.set(HOSTNAME, a=["10.0.1.5"])
    controller, _cfg = discover()
    cycle = controller.run_once()
    errors = {m.label: m.error for m in cycle.failed}
    assert set(errors) == {"target group bad (tags)", "target group web (tags)"}
    assert (
        "tag tgsync:policy: 'maybe' is not a policy; use one of"
        in errors["target group bad (tags)"]
    )
    assert ips(elbv2, good) == {"10.0.1.5"}


def test_untagging_lets_go_leaving_the_targets_and_removing_the_memory(
    discover, dns, moto, elbv2, vpc, clock
):
    arn = create_target_group(elbv2, "logs", vpc_id=vpc)
    tag(elbv2, arn, **{"tgsync:hostname": HOSTNAME, "team": "search"})
    dns.set(HOSTNAME, a=["10.0.1.5", "10.0.2.5"])
    controller, _cfg = discover(TGSYNC_DISCOVER_EVERY=300)
    assert controller.run_once().ok
    dns.set(HOSTNAME, a=["10.0.1.5"])  # 10.0.2.5 healthy but gone: remembered
    clock.now += 60
    assert controller.run_once().ok
    assert memory_keys(elbv2, arn)
    untag(elbv2, arn, "tgsync:hostname")
    clock.now += 60  # not yet time to read again: still managed
    assert controller.run_once().to_dict()["discovery"]["let_go"] == []
    clock.now += 300
    cycle = controller.run_once()
    assert cycle.to_dict()["discovery"]["let_go"] == ["logs"]
    assert ips(elbv2, arn) == {"10.0.1.5", "10.0.2.5"}  # exactly as they were
    assert memory_keys(elbv2, arn) == set()
    tags = elbv2.describe_tags(ResourceArns=[arn])["TagDescriptions"][0]["Tags"]
    assert {t["Key"] for t in tags} == {"team"}  # the user's own tags stay
    clock.now += 600
    dns.set(HOSTNAME, a=["10.0.3.5"])
    assert controller.run_once().ok
    assert ips(elbv2, arn) == {"10.0.1.5", "10.0.2.5"}  # no longer acted on


def test_a_newly_tagged_group_is_picked_up_at_the_next_read(discover, dns, elbv2, vpc, clock):
    dns.set(HOSTNAME, a=["10.0.1.5"])
    controller, _cfg = discover(TGSYNC_DISCOVER_EVERY=300)
    assert controller.run_once().ok
    arn = create_target_group(elbv2, "late", vpc_id=vpc)
    tag(elbv2, arn, **{"tgsync:hostname": HOSTNAME})
    clock.now += 299
    controller.run_once()
    assert ips(elbv2, arn) == set()
    clock.now += 1
    cycle = controller.run_once()
    assert ips(elbv2, arn) == {"10.0.1.5"}
    assert cycle.to_dict()["discovery"]["newly_adopted"] == ["late"]


def test_a_group_deleted_mid_run_fails_until_the_next_read_lets_it_go(
    discover, dns, elbv2, vpc, clock
):
    arn = create_target_group(elbv2, "gone", vpc_id=vpc)
    tag(elbv2, arn, **{"tgsync:hostname": HOSTNAME})
    dns.set(HOSTNAME, a=["10.0.1.5"])
    controller, _cfg = discover(TGSYNC_DISCOVER_EVERY=300)
    assert controller.run_once().ok
    elbv2.delete_target_group(TargetGroupArn=arn)
    clock.now += 60
    assert "not found" in controller.run_once().mappings[0].error
    clock.now += 300
    cycle = controller.run_once()
    assert cycle.ok and cycle.to_dict()["discovery"]["let_go"] == ["gone"]


def test_an_explicit_mapping_wins_over_a_tag_for_the_same_group_and_port(discover, dns, elbv2, vpc):
    arn = create_target_group(elbv2, "logs", vpc_id=vpc)
    tag(elbv2, arn, **{"tgsync:hostname": OTHER})
    dns.set(HOSTNAME, a=["10.0.1.5"])
    dns.set(OTHER, a=["10.0.2.5"])
    controller, _cfg = discover(
        TGSYNC_MAPPINGS=json.dumps([{"hostname": HOSTNAME, "target_group_arn": arn}])
    )
    cycle = controller.run_once()
    assert cycle.ok and len(cycle.mappings) == 1
    assert ips(elbv2, arn) == {"10.0.1.5"}


def test_an_explicit_and_a_tagged_mapping_share_a_group_when_both_retire_owned(
    discover, dns, elbv2, vpc
):
    arn = create_target_group(elbv2, "logs", vpc_id=vpc)
    tag(elbv2, arn, **{"tgsync:hostname": OTHER, "tgsync:retire": "owned"})
    dns.set(HOSTNAME, a=["10.0.1.5"])
    dns.set(OTHER, a=["10.0.2.5"])
    controller, _cfg = discover(
        TGSYNC_MAPPINGS=json.dumps(
            [{"hostname": HOSTNAME, "target_group_arn": arn, "retire": "owned"}]
        )
    )
    cycle = controller.run_once()
    assert cycle.ok and len(cycle.mappings) == 2
    assert ips(elbv2, arn) == {"10.0.1.5", "10.0.2.5"}


@pytest.mark.slow
def test_a_thousand_groups_are_paged_through_within_the_budget(discover, dns, elbv2, vpc):
    arns = [create_target_group(elbv2, f"tg-{i}", vpc_id=vpc) for i in range(1000)]
    for arn in arns[::100]:
        tag(elbv2, arn, **{"tgsync:hostname": HOSTNAME})
    dns.set(HOSTNAME, a=["10.0.1.5"])
    controller, _cfg = discover()
    cycle = controller.run_once()
    assert cycle.ok and cycle.to_dict()["discovery"]["groups_read"] == 1000
    assert len(cycle.mappings) == 10
    # 3 pages of 400, 50 DescribeTags of 20; the adopted groups' facts came with the pages
    assert controller.provider.calls["DescribeTargetGroups"] == 3
    assert controller.provider.calls["DescribeTags"] == 50


def test_a_let_go_seen_in_a_dry_run_still_removes_the_memory_at_the_next_real_cycle(
    discover, dns, moto, elbv2, vpc, clock
):
    arn = create_target_group(elbv2, "logs", vpc_id=vpc)
    tag(elbv2, arn, **{"tgsync:hostname": HOSTNAME})
    dns.set(HOSTNAME, a=["10.0.1.5", "10.0.2.5"])
    controller, _cfg = discover(TGSYNC_DISCOVER_EVERY=60)
    assert controller.run_once().ok
    dns.set(HOSTNAME, a=["10.0.1.5"])  # 10.0.2.5 healthy but gone: remembered
    clock.now += 60
    assert controller.run_once().ok and memory_keys(elbv2, arn)
    untag(elbv2, arn, "tgsync:hostname")
    clock.now += 60
    dry = controller.run_once(dry_run=True)  # sees the let-go, changes nothing
    assert dry.to_dict()["discovery"]["let_go"] == ["logs"] and memory_keys(elbv2, arn)
    clock.now += 60
    controller.run_once()  # the first real cycle removes what the dry run left
    assert memory_keys(elbv2, arn) == set()


def test_a_group_let_go_loses_its_ownership_records_too(discover, dns, elbv2, vpc, clock):
    arn = create_target_group(elbv2, "logs", vpc_id=vpc)
    tag(elbv2, arn, **{"tgsync:hostname": HOSTNAME, "tgsync:retire": "owned"})
    dns.set(HOSTNAME, a=["10.0.1.5"])
    controller, _cfg = discover(TGSYNC_DISCOVER_EVERY=60)
    assert controller.run_once().ok

    def owned_keys():
        found = elbv2.describe_tags(ResourceArns=[arn])["TagDescriptions"][0]["Tags"]
        return {t["Key"] for t in found if t["Key"].startswith("tgsync:owned:")}

    assert owned_keys()
    untag(elbv2, arn, "tgsync:hostname")
    clock.now += 60
    controller.run_once()
    assert owned_keys() == set()


def test_a_tag_alone_never_hands_tgsync_a_group_the_deployer_did_not_choose(
    dns, elbv2, vpc, monkeypatch
):
    """Issue 30, item 1, through the handler: with discovery and no prefix, a principal
    with only AddTags tagged a group named payments with a hostname it controls, and
    tgsync replaced that group's targets with the attacker's IP. Discovery without a
    prefix is refused; with one, a group outside it is never written."""
    from tgsync import lambda_handler
    from tgsync.errors import ConfigError, SyncFailed

    payments = create_target_group(elbv2, "payments", vpc_id=vpc)
    elbv2.register_targets(TargetGroupArn=payments, Targets=[{"Id": "10.0.5.5"}])
    tag(elbv2, payments, **{"tgsync:hostname": "evil.example.com"})
    dns.set("evil.example.com", a=["10.0.6.6"])
    for name, value in {
        "TGSYNC_DISCOVER": "tags",
        "AWS_REGION": REGION,
        "TGSYNC_DNS_SERVERS": dns.address,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(lambda_handler, "_controller", None)
    with pytest.raises(ConfigError, match="TGSYNC_DISCOVER=tags needs TGSYNC_DISCOVER_PREFIX"):
        lambda_handler.handler({}, None)
    assert ips(elbv2, payments) == {"10.0.5.5"}
    monkeypatch.setenv("TGSYNC_DISCOVER_PREFIX", "search-")
    with pytest.raises(SyncFailed, match="does not start with 'search-'"):
        lambda_handler.handler({}, None)  # reported: someone tagged a group outside
    assert ips(elbv2, payments) == {"10.0.5.5"}


def test_a_changed_port_tag_lets_the_old_port_go_and_says_so(
    discover, dns, elbv2, vpc, clock, caplog
):
    """Issue 29: a group's tgsync:port changed left the old port's tags behind, silently.
    The old port is let go as an untagged group is: tgsync's tags for it removed, its
    targets left as they are (something else may serve there), and a warning names them."""
    arn = create_target_group(elbv2, "logs", vpc_id=vpc)
    tag(elbv2, arn, **{"tgsync:hostname": HOSTNAME, "tgsync:port": "443"})
    dns.set(HOSTNAME, a=["10.0.1.5", "10.0.2.5"])
    controller, _cfg = discover(TGSYNC_DISCOVER_EVERY=300)
    assert controller.run_once().ok
    dns.set(HOSTNAME, a=["10.0.1.5"])  # 10.0.2.5 healthy but gone: remembered on 443
    clock.now += 60
    assert controller.run_once().ok
    assert {k.split(":")[2] for k in memory_keys(elbv2, arn)} == {"443"}
    tag(elbv2, arn, **{"tgsync:port": "8443"})
    clock.now += 300
    assert controller.run_once().ok
    assert memory_keys(elbv2, arn) == set()  # nothing of the old port's is left
    assert ("10.0.1.5", 8443) in registered(elbv2, arn)
    assert ("10.0.2.5", 443) in registered(elbv2, arn)  # left as it was, never retired
    moved = [r for r in caplog.records if r.getMessage().startswith("tgsync:port changed")]
    assert len(moved) == 1
    assert (moved[0].old_port, moved[0].new_port) == (443, 8443)
    assert "Port=443" in moved[0].fix
