"""Odd input never crashes a cycle and never syncs for real by mistake (each failed on
the code before its fix)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tgsync import config
from tgsync.errors import ConfigError, EventError
from tgsync.events import WHAT_LIMIT, Domain, classify, direct_options
from tgsync.memory_codec import REFRESH_SECONDS, decode, must_write
from tgsync.plan import MissingSince

ARN = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/tg/0123456789abcdef"


class TestMemoryTags:
    @pytest.mark.parametrize(
        "key",
        [
            "tgsync:missing:²:1",
            "tgsync:missing:٤٤٣:1",
            "tgsync:missing:443:\u0661",
            "tgsync:missing:4_43:1",
        ],
    )
    def test_a_key_with_digits_that_are_not_ascii_is_unreadable_and_left_alone(self, key):
        recalled = decode({key: "10.0.1.5=1/2/1"}, 443)
        assert recalled.unreadable == (key,) and recalled.memory == {}

    @pytest.mark.parametrize(
        "value", ["10.0.1.5=1/2/\u0661", "10.0.1.5=1/2/1_0", "10.0.1.5= 1/2/1"]
    )
    def test_a_value_with_odd_numbers_is_unreadable(self, value):
        assert decode({"tgsync:missing:443:1": value}, 443).unreadable == ("tgsync:missing:443:1",)

    def test_a_record_that_only_ages_is_not_rewritten_until_its_refresh_is_due(self):
        stored = {"10.0.1.5": MissingSince(100.0, 100.0, 1)}
        aged = {"10.0.1.5": MissingSince(100.0, 150.0, 4)}
        assert not must_write(stored, aged, now=100.0 + REFRESH_SECONDS - 1)
        assert must_write(stored, aged, now=100.0 + REFRESH_SECONDS)
        assert must_write(stored, {}, now=101.0)  # a record gone: at once
        assert must_write({}, aged, now=101.0)  # a new record: at once


class TestEvents:
    @pytest.mark.parametrize(
        "event",
        [
            {"source": ["aws.es"], "detail-type": "Amazon OpenSearch Service Notification"},
            {"source": "aws.es", "detail-type": ["x"]},
            {
                "source": "aws.es",
                "detail-type": "AWS API Call via CloudTrail",
                "detail": {"eventName": ["UpdateDomainConfig"]},
            },
            {
                "source": "aws.es",
                "detail-type": "AWS API Call via CloudTrail",
                "detail": {
                    "eventName": "UpdateDomainConfig",
                    "requestParameters": {"domainName": ["logs"]},
                    "awsRegion": "eu-west-1",
                },
            },
        ],
    )
    def test_a_list_where_a_string_belongs_is_ignored_or_read_not_raised(self, event):
        classify(event)  # raised TypeError on an unhashable list before

    @given(
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=5),
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(st.text(max_size=12), inner, max_size=4)
            ),
            max_leaves=12,
        )
    )
    def test_no_json_value_makes_classify_raise(self, event):
        classify(event)

    def test_a_huge_detail_type_is_not_logged_whole(self):
        trigger = classify({"source": "x", "detail-type": "y" * 200_000})
        assert trigger.kind == "ignored" and len(trigger.what) <= WHAT_LIMIT

    @pytest.mark.parametrize(
        ("event", "key"), [({"dry_run": "maybe"}, "dry_run"), ({"check": [1]}, "check")]
    )
    def test_a_direct_event_with_a_bad_boolean_names_the_key(self, event, key):
        with pytest.raises(EventError, match=f"'{key}'"):
            direct_options(event)

    def test_an_event_can_ask_for_a_dry_run_and_not_against_one(self):
        assert direct_options({"dry_run": True}) == (False, True)
        assert direct_options({"dry_run": False}) == (False, False)

    def test_a_domain_of_another_account_is_not_a_same_named_domain_here(self):
        host = "vpc-logs-abc123.eu-west-1.es.amazonaws.com"
        here = ARN
        elsewhere = ARN.replace("123456789012", "210987654321")
        domain = Domain("eu-west-1", "logs", "123456789012")
        assert domain.serves(host, here)
        assert not domain.serves(host, elsewhere)


class TestSettings:
    @pytest.mark.parametrize("value", ["0.01", "0.5", "0.99"])
    def test_following_faster_than_a_second_is_refused_with_the_bound(self, value):
        with pytest.raises(ConfigError, match=r"TGSYNC_FOLLOW_INTERVAL.*from 1 to 60 \(0 "):
            config.load(
                {
                    config.HOSTNAME: "a.example.com",
                    config.TARGET_GROUP_ARN: ARN,
                    config.FOLLOW_INTERVAL: value,
                }
            )

    @pytest.mark.parametrize("value", ["0", "1", "60"])
    def test_following_off_or_from_a_second_is_taken(self, value):
        assert config.load(
            {
                config.HOSTNAME: "a.example.com",
                config.TARGET_GROUP_ARN: ARN,
                config.FOLLOW_INTERVAL: value,
            }
        ).follow_interval == float(value)


def test_a_schedule_shaped_event_that_asks_for_a_dry_run_gets_one():
    assert direct_options({"source": "tgsync.schedule", "dry_run": True}) == (False, True)
    with pytest.raises(EventError, match="'check'"):
        direct_options({"source": "tgsync.schedule", "check": "maybe"})


def test_missing_credentials_are_named_as_such_not_as_an_unreachable_endpoint():
    from botocore.exceptions import NoCredentialsError

    from tgsync.aws_service import explain
    from tgsync.provider.elbv2 import ELBV2

    error = explain(ELBV2, "DescribeTargetHealth", ARN, "eu-west-1", NoCredentialsError())
    assert error.code == "NoCredentials" and not error.unreachable
    assert "credentials" in str(error) and "endpoint" not in str(error)


def test_a_lookup_without_the_time_to_ask_is_not_a_dns_fault():
    from tgsync.deadline import Deadline
    from tgsync.source import Nameserver
    from tgsync.source.resolver import DnsSource

    resolution = DnsSource((Nameserver("127.0.0.1", 9),)).resolve(
        "a.example.com", "A", 3, deadline=Deadline(lambda: 0.1, margin=0)
    )
    assert resolution.out_of_time and resolution.queries == 0
