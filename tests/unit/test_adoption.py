"""Which tagged target groups a function adopts, with which settings, and why not."""

from __future__ import annotations

import pytest

from tgsync.config import DEFAULT_STALE_AFTER, Discovery, MappingConfig
from tgsync.discovery import TAG_HOSTNAME, TAG_OWNER, Candidate, adopt
from tgsync.plan import Policy

HOST = "vpc-logs-abc123.eu-west-1.es.amazonaws.com"


def group(name, target_type="ip", **tags):
    arn = f"arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/{name}/0123456789abcdef"
    return Candidate(
        arn,
        name,
        target_type,
        {k.replace("_", "-").replace("tgsync-", "tgsync:"): v for k, v in tags.items()},
    )


def tagged(name, owner=None, target_type="ip", **more):
    tags = {"tgsync_hostname": HOST, **more}
    if owner is not None:
        tags["tgsync_owner"] = owner
    return group(name, target_type, **tags)


class TestOwnership:
    @pytest.mark.parametrize(
        ("function_owner", "group_owner", "managed"),
        [
            (None, None, True),
            (None, "team-a", False),
            ("team-a", "team-a", True),
            ("team-a", None, False),
            ("team-a", "team-b", False),
        ],
    )
    def test_the_ownership_table(self, function_owner, group_owner, managed):
        found = adopt([tagged("logs", group_owner)], Discovery(owner=function_owner))
        assert bool(found.mappings) is managed
        assert len(found.others) == (0 if managed else 1)

    def test_groups_without_the_hostname_tag_are_not_looked_at(self):
        found = adopt([group("plain"), group("owned", tgsync_owner="x")], Discovery())
        assert (found.mappings, found.refused, found.others, found.read) == ((), (), (), 2)


class TestSettingsFromTags:
    def test_tags_override_the_function_defaults_and_say_so(self):
        discovery = Discovery(defaults=(("lookups", 5), ("stale_after", 60.0)))
        (mapping,) = adopt(
            [
                tagged(
                    "logs",
                    tgsync_port="9200",
                    tgsync_policy="upsert-only",
                    tgsync_allowed_cidrs="10.0.0.0/16 fd00::/8",
                )
            ],
            discovery,
        ).mappings
        assert (
            mapping.hostname,
            mapping.port,
            mapping.policy,
            mapping.lookups,
            mapping.stale_after,
        ) == (HOST, 9200, Policy.UPSERT_ONLY, 5, 60.0)
        assert [str(n) for n in mapping.narrowed_cidrs] == ["10.0.0.0/16", "fd00::/8"]
        assert mapping.allowed_cidrs == MappingConfig("h", "a").allowed_cidrs  # not widened
        assert dict(mapping.origins) == {
            "hostname": "tag tgsync:hostname",
            "port": "tag tgsync:port",
            "policy": "tag tgsync:policy",
            "allowed_cidrs": "tag tgsync:allowed-cidrs",
            "lookups": "function default",
            "stale_after": "function default",
        }
        assert mapping.source == "target group logs (tags)"

    def test_with_no_tag_and_no_default_the_tools_defaults_apply(self):
        (mapping,) = adopt(
            [tagged("logs", tgsync_hostname=f"https://{HOST}/")], Discovery()
        ).mappings
        assert mapping.hostname == HOST and mapping.stale_after == DEFAULT_STALE_AFTER
        assert mapping.port is None

    @pytest.mark.parametrize(
        ("tag", "value", "words"),
        [
            ("tgsync_port", "http", "tag tgsync:port: 'http' is not a whole number"),
            ("tgsync_policy", "sometimes", "tag tgsync:policy: 'sometimes' is not a policy"),
            ("tgsync_hostname", "not a host", "tag tgsync:hostname: 'not a host' is not a valid"),
            ("tgsync_allowed_cidrs", "10.1.2.3/8", "did you mean 10.0.0.0/8"),
            ("tgsync_stale_after", "-1", "tag tgsync:stale-after"),
        ],
    )
    def test_a_bad_tag_refuses_that_group_alone_naming_group_tag_and_fix(self, tag, value, words):
        found = adopt([tagged("bad", **{tag: value}), tagged("good")], Discovery())
        assert [m.target_group_name for m in found.mappings] == ["good"]
        (refused,) = found.refused
        assert refused.label == "target group bad (tags)"
        assert words in refused.problems[0] and refused.problems[0].startswith(
            "target group bad (tags): "
        )
        assert refused.target_group_arn.endswith("targetgroup/bad/0123456789abcdef")

    def test_a_group_of_another_type_is_refused_with_the_fix(self):
        (refused,) = adopt([tagged("web", target_type="instance")], Discovery()).refused
        assert "target type 'instance'" in refused.problems[0]
        assert f"remove the {TAG_HOSTNAME} tag" in refused.problems[0]


def test_owner_tag_name_is_the_documented_one():
    assert TAG_OWNER == "tgsync:owner"


class TestPrefix:
    def test_a_tagged_group_outside_the_prefix_is_refused_never_adopted(self):
        found = adopt([tagged("tgsync-logs"), tagged("payments")], Discovery(prefix="tgsync-"))
        assert [m.target_group_name for m in found.mappings] == ["tgsync-logs"]
        (refused,) = found.refused
        assert refused.label == "target group payments (tags)"
        assert "TGSYNC_DISCOVER_PREFIX" in refused.problems[0]

    def test_without_a_prefix_every_name_is_taken_as_before(self):
        found = adopt([tagged("tgsync-logs"), tagged("payments")], Discovery())
        assert sorted(m.target_group_name for m in found.mappings) == ["payments", "tgsync-logs"]


class TestResolveTag:
    def test_a_resolve_rds_tag_on_a_name_that_is_no_cluster_endpoint_is_refused(self):
        found = adopt([tagged("search", tgsync_resolve="rds")], Discovery())
        (refused,) = found.refused
        assert "tag tgsync:resolve: resolve=rds takes a cluster's members" in refused.problems[0]
        assert found.mappings == ()

    def test_a_resolve_rds_tag_on_a_cluster_endpoint_is_adopted(self):
        writer = "orders.cluster-c9akciq32.eu-west-1.rds.amazonaws.com"
        found = adopt([group("orders", tgsync_hostname=writer, tgsync_resolve="rds")], Discovery())
        (mapping,) = found.mappings
        assert (mapping.hostname, mapping.resolve) == (writer, "rds")
