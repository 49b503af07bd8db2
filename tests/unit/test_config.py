"""Configuration: every setting, its defaults, and the errors a user gets."""

from __future__ import annotations

import json

import pytest

from tgsync import config
from tgsync.config import ConfigError, load
from tgsync.ownership import clashes
from tgsync.parsers import normalize_hostname
from tgsync.plan import Policy
from tgsync.source import Nameserver

ARN = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/opensearch/0123456789abcdef"
ARN2 = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/other/fedcba9876543210"
HOST = "vpc-logs-abc123.eu-west-1.es.amazonaws.com"


def problems(env):
    with pytest.raises(ConfigError) as caught:
        load(env)
    return caught.value.problems


class TestSingleMapping:
    def test_original_variable_names_keep_working(self):
        cfg = load({"DomainEndpoint": HOST, "AlbTargetGroupId": ARN, "AlbId": "my-alb"})
        (m,) = cfg.mappings
        assert (m.hostname, m.target_group_arn, m.alb_id) == (HOST, ARN, "my-alb")

    def test_defaults(self):
        (m,) = load({config.HOSTNAME: HOST, config.TARGET_GROUP_ARN: ARN}).mappings
        assert m.port is None and m.lookups == 3 and m.stale_after == 180
        assert m.policy is Policy.SYNC and m.dns_servers == ()
        assert m.target_group_name == "opensearch"

    def test_every_setting_is_read(self):
        cfg = load(
            {
                config.HOSTNAME: HOST,
                config.TARGET_GROUP_ARN: ARN,
                config.PORT: "9200",
                config.DNS_SERVERS: "10.0.0.2, 127.0.0.1:5353,[fd00::2]:53,fd00::3",
                config.LOOKUPS: "5",
                config.STALE_AFTER: "90.5",
                config.ALLOWED_CIDRS: "10.0.0.0/16",
                config.POLICY: "upsert-only",
                config.DRY_RUN: "yes",
                config.CONCURRENCY: "8",
                config.API_RATE: "5",
            }
        )
        (m,) = cfg.mappings
        assert m.port == 9200 and m.lookups == 5 and m.stale_after == 90.5
        assert m.dns_servers == (
            Nameserver("10.0.0.2"),
            Nameserver("127.0.0.1", 5353),
            Nameserver("fd00::2"),
            Nameserver("fd00::3"),
        )
        assert [str(n) for n in m.allowed_cidrs] == ["10.0.0.0/16"]
        assert m.policy is Policy.UPSERT_ONLY
        assert cfg.dry_run and cfg.concurrency == 8 and cfg.api_rate == 5

    def test_conflicting_new_and_original_names_are_an_error(self):
        found = problems(
            {
                config.HOSTNAME: HOST,
                "DomainEndpoint": "other.example.com",
                config.TARGET_GROUP_ARN: ARN,
            }
        )
        assert any("both set" in p and "DomainEndpoint" in p for p in found)

    def test_nothing_configured_says_what_to_set(self):
        (only,) = problems({})
        assert "TGSYNC_HOSTNAME" in only and "TGSYNC_MAPPINGS" in only


class TestHostnames:
    @pytest.mark.parametrize(
        "pasted",
        [
            HOST,
            f"https://{HOST}",
            f"https://{HOST}/",
            f"https://{HOST}:443/_dashboards",
            f"{HOST}:443",
            f"{HOST}.",
            f"  {HOST.upper()}  ",
            f"{HOST}/_dashboards",
        ],
    )
    def test_what_users_paste_is_accepted(self, pasted):
        assert normalize_hostname(pasted) == HOST

    @pytest.mark.parametrize(
        ("bad", "hint"),
        [
            ("", "is empty"),
            ("ftp://x.example.com", "scheme"),
            ("10.0.0.1", "IP address"),
            ("a b.example.com", "not a valid hostname"),
            ("-x.example.com", "not a valid"),
            ("x" * 64 + ".example.com", "not a valid"),
            ("exa$mple.com", "not a valid"),
            ("https://", "not a valid"),
        ],
    )
    def test_bad_hostnames_say_why(self, bad, hint):
        with pytest.raises(ValueError, match=hint):
            normalize_hostname(bad)


class TestAllProblemsAtOnce:
    def test_each_bad_setting_is_named_with_its_value_and_fix(self):
        found = problems(
            {
                config.HOSTNAME: HOST,
                config.TARGET_GROUP_ARN: "tg-123",
                config.PORT: "0",
                config.LOOKUPS: "many",
                config.STALE_AFTER: "nan",
                config.ALLOWED_CIDRS: "10.0.0.1/8",
                config.POLICY: "delete-all",
                config.DRY_RUN: "maybe",
                config.DNS_SERVERS: "dns.example.com",
                config.CONCURRENCY: "1000",
                config.API_RATE: "-1",
            }
        )
        text = "\n".join(found)
        for name in (
            "TGSYNC_TARGET_GROUP_ARN",
            "TGSYNC_PORT",
            "TGSYNC_LOOKUPS",
            "TGSYNC_STALE_AFTER",
            "TGSYNC_ALLOWED_CIDRS",
            "TGSYNC_POLICY",
            "TGSYNC_DRY_RUN",
            "TGSYNC_DNS_SERVERS",
            "TGSYNC_CONCURRENCY",
            "TGSYNC_API_RATE",
        ):
            assert name in text
        assert len(found) == 10
        assert "'tg-123'" in text and "did you mean 10.0.0.0/8" in text

    @pytest.mark.parametrize(
        ("name", "value"),
        [
            (config.PORT, "65536"),
            (config.PORT, "-1"),
            (config.PORT, "44 3"),
            (config.LOOKUPS, "0"),
            (config.LOOKUPS, "11"),
            (config.STALE_AFTER, "inf"),
            (config.STALE_AFTER, "1e9"),
            (config.DNS_SERVERS, ","),
            (config.DNS_SERVERS, "[fd00::1]x"),
            (config.DNS_SERVERS, "10.0.0.2:99999"),
            (config.ALLOWED_CIDRS, ","),
            (config.ALLOWED_CIDRS, "$(reboot)"),
            (config.HOSTNAME, "x.example.com; rm -rf /"),
        ],
    )
    def test_out_of_range_and_hostile_values_are_refused(self, name, value):
        env = {config.HOSTNAME: HOST, config.TARGET_GROUP_ARN: ARN, name: value}
        assert any(p.startswith(name) for p in problems(env))


class TestMappings:
    def entry(self, **values):
        return {"hostname": HOST, "target_group_arn": ARN, **values}

    def test_a_list_of_mappings_inherits_global_defaults(self):
        cfg = load(
            {
                config.STALE_AFTER: "60",
                config.MAPPINGS: json.dumps(
                    [
                        self.entry(),
                        {
                            "hostname": "db.internal",
                            "target_group_arn": ARN2,
                            "port": 5432,
                            "stale_after": 30,
                            "dns_servers": ["127.0.0.1:53"],
                        },
                    ]
                ),
            }
        )
        first, second = cfg.mappings
        assert first.stale_after == 60 and second.stale_after == 30
        assert second.port == 5432 and second.target_group_arn == ARN2

    def test_one_bad_mapping_fails_alone(self):
        cfg = load(
            {
                config.MAPPINGS: json.dumps(
                    [
                        self.entry(),
                        {"hostname": "db.internal", "target_group_arn": "nope", "prot": 1},
                    ]
                )
            }
        )
        assert len(cfg.mappings) == 1
        (bad,) = cfg.invalid
        text = " ".join(bad.problems)
        assert "target_group_arn" in text and "unknown key(s) prot" in text

    def test_every_entry_of_a_clash_is_refused_and_named_as_the_user_wrote_it(self):
        cfg = load(
            {
                config.MAPPINGS: json.dumps(
                    [self.entry(), {"hostname": 5}, self.entry(port=443), self.entry(port=8443)]
                )
            }
        )
        refused = clashes(cfg.mappings, lambda arn: 443)
        assert sorted(refused) == [0, 1]
        assert all("TGSYNC_MAPPINGS[0] and TGSYNC_MAPPINGS[2]" in why for why in refused.values())

    def test_an_unset_port_clashes_only_once_the_groups_port_is_known(self):
        cfg = load({config.MAPPINGS: json.dumps([self.entry(), self.entry(port=443)])})
        assert clashes(cfg.mappings, lambda arn: None) == {}
        assert clashes(cfg.mappings, lambda arn: 8443) == {}
        assert sorted(clashes(cfg.mappings, lambda arn: 443)) == [0, 1]

    def test_two_explicit_equal_ports_clash_even_before_the_group_is_read(self):
        cfg = load({config.MAPPINGS: json.dumps([self.entry(port=9200), self.entry(port=9200)])})
        assert sorted(clashes(cfg.mappings, lambda arn: None)) == [0, 1]

    @pytest.mark.parametrize(
        ("raw", "hint"),
        [
            ("[", "not valid JSON"),
            ("{}", "non-empty JSON list"),
            ("[]", "non-empty"),
            ('"x"', "non-empty JSON list"),
        ],
    )
    def test_unreadable_mappings_fail_the_whole_configuration(self, raw, hint):
        (only,) = problems({config.MAPPINGS: raw})
        assert only.startswith("TGSYNC_MAPPINGS") and hint in only

    def test_mappings_and_single_variables_together_are_an_error(self):
        found = problems({config.MAPPINGS: json.dumps([self.entry()]), "DomainEndpoint": HOST})
        assert any("both set" in p for p in found)

    @pytest.mark.parametrize(
        "entry",
        [
            [],
            "x",
            {"hostname": HOST},
            {"hostname": 5, "target_group_arn": ARN},
            {"hostname": HOST, "target_group_arn": ARN, "port": True},
            {"hostname": HOST, "target_group_arn": ARN, "lookups": 2.5},
            {"hostname": HOST, "target_group_arn": ARN, "alb_id": 7},
        ],
    )
    def test_malformed_entries_are_invalid_not_crashes(self, entry):
        cfg = load({config.MAPPINGS: json.dumps([entry])})
        assert cfg.mappings == () and len(cfg.invalid) == 1


class TestDiscoverySettings:
    def test_discovery_alone_is_enough_to_sync(self):
        cfg = load(
            {
                config.DISCOVER: "tags",
                "AWS_REGION": "eu-west-1",
                config.STALE_AFTER: "60",
                config.OWNER: "team-search",
                config.DISCOVER_EVERY: "120",
                config.DISCOVER_PREFIX: "search-",
            }
        )
        assert cfg.mappings == () and cfg.discovery is not None
        assert (
            cfg.discovery.owner,
            cfg.discovery.every,
            cfg.discovery.region,
            cfg.discovery.prefix,
        ) == ("team-search", 120.0, "eu-west-1", "search-")
        assert dict(cfg.discovery.defaults) == {"stale_after": 60.0}

    def test_discovery_without_a_prefix_is_refused_naming_the_setting(self):
        """Issue 30, item 1: a tag alone brought any group of the region in."""
        with pytest.raises(ConfigError) as refused:
            load({config.DISCOVER: "tags", "AWS_REGION": "eu-west-1"})
        (problem,) = refused.value.problems
        assert problem.startswith("TGSYNC_DISCOVER=tags needs TGSYNC_DISCOVER_PREFIX")
        assert "or * to adopt any group" in problem

    def test_every_group_is_an_explicit_choice(self):
        cfg = load(
            {config.DISCOVER: "tags", "AWS_REGION": "eu-west-1", config.DISCOVER_PREFIX: "*"}
        )
        assert cfg.discovery is not None and cfg.discovery.prefix == "*"

    def test_discovery_is_off_unless_asked(self):
        assert load({config.HOSTNAME: HOST, config.TARGET_GROUP_ARN: ARN}).discovery is None
        assert (
            load(
                {config.HOSTNAME: HOST, config.TARGET_GROUP_ARN: ARN, config.DISCOVER: "off"}
            ).discovery
            is None
        )

    @pytest.mark.parametrize(
        ("env", "words"),
        [
            (
                {config.DISCOVER: "tag", "AWS_REGION": "eu-west-1"},
                "TGSYNC_DISCOVER: 'tag' is not a discovery mode; use tags",
            ),
            ({config.DISCOVER: "tags"}, "needs the region to look in: set AWS_REGION"),
            (
                {config.DISCOVER: "tags", "AWS_REGION": "eu-west-1", config.OWNER: "a,b"},
                "TGSYNC_OWNER: 'a,b' cannot be a tag value",
            ),
            (
                {config.HOSTNAME: HOST, config.TARGET_GROUP_ARN: ARN, config.OWNER: "team"},
                "TGSYNC_OWNER is set but TGSYNC_DISCOVER is not",
            ),
        ],
    )
    def test_bad_discovery_settings_say_what_to_do(self, env, words):
        assert any(words in problem for problem in problems(env))


class TestResolveAndStaleAfterZero:
    ARN = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/db/0123456789abcdef"
    READER = "orders.cluster-ro-c9akciq32.eu-west-1.rds.amazonaws.com"

    def mappings(self, **entry):
        return load(
            {
                "TGSYNC_MAPPINGS": json.dumps(
                    [{"hostname": self.READER, "target_group_arn": self.ARN, **entry}]
                )
            }
        )

    @pytest.mark.parametrize("spelling", ["Rds", "rDs", " rds", "RDS"])
    def test_resolve_takes_only_the_exact_lower_case_values_the_stack_recognises(self, spelling):
        (bad,) = self.mappings(resolve=spelling).invalid
        assert "resolve" in bad.problems[0] and "exactly, in lower case" in bad.problems[0]

    def test_a_reader_endpoint_through_dns_with_stale_after_zero_is_refused(self):
        (bad,) = self.mappings(stale_after=0).invalid
        assert bad.problems[0].startswith("TGSYNC_MAPPINGS[0].stale_after: stale_after=0")
        assert "resolve=rds" in bad.problems[0]

    def test_the_same_endpoint_with_resolve_rds_or_a_stale_period_is_fine(self):
        assert self.mappings(stale_after=0, resolve="rds").mappings
        assert self.mappings(stale_after=60).mappings


class TestTheLegacyNames:
    """Every name the original function read comes from the table (issue 31): AlbId too,
    beside its new TGSYNC_ALB_ID."""

    def test_alb_id_has_a_tgsync_name_and_the_old_one_still_works(self):
        for name in ("TGSYNC_ALB_ID", "AlbId"):
            cfg = load({config.HOSTNAME: HOST, config.TARGET_GROUP_ARN: ARN, name: "front"})
            assert cfg.mappings[0].alb_id == "front", name

    def test_both_names_at_odds_are_refused(self):
        with pytest.raises(ConfigError, match="TGSYNC_ALB_ID and AlbId are both set"):
            load(
                {
                    config.HOSTNAME: HOST,
                    config.TARGET_GROUP_ARN: ARN,
                    "TGSYNC_ALB_ID": "front",
                    "AlbId": "back",
                }
            )

    def test_the_legacy_names_are_the_table_s(self):
        from tgsync.settings import legacy_settings

        assert {s.env: s.legacy_env for s in legacy_settings()} == {
            "TGSYNC_HOSTNAME": "DomainEndpoint",
            "TGSYNC_TARGET_GROUP_ARN": "AlbTargetGroupId",
            "TGSYNC_ALB_ID": "AlbId",
        }
