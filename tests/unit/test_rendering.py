"""What a person reads: action lines name their group, a failure is said once, every
flag says what it takes."""

from __future__ import annotations

import logging

import pytest

from tgsync.rendering import TextFormatter, render_record, render_table
from tgsync.report import MappingReport
from tgsync.settings import SETTINGS

ARN = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/aurora-writer/0123abcd"


class TestActionLines:
    def test_an_action_names_its_group_from_its_arn(self):
        line = render_record(
            {
                "message": "REGISTER",
                "ip": "10.0.2.12",
                "port": 5432,
                "target_group": ARN,
                "mapping": "w.example.com -> aurora-writer",
                "reason": "in DNS, not registered",
            }
        )
        assert line == "REGISTER   10.0.2.12:5432 in aurora-writer: in DNS, not registered"

    def test_a_retirement_or_a_wait_names_its_group_from_the_mapping(self):
        line = render_record(
            {
                "message": "DEREGISTER",
                "ip": "10.0.2.12",
                "port": 5432,
                "mapping": "r.example.com -> aurora-reader",
                "reason": "not in DNS though healthy",
            }
        )
        assert line == ("DEREGISTER 10.0.2.12:5432 from aurora-reader: not in DNS though healthy")
        wait = render_record(
            {
                "message": "WAIT",
                "ip": "10.0.1.5",
                "port": 443,
                "mapping": "h -> opensearch",
                "reason": "retire after 180s",
            }
        )
        assert wait == "WAIT       10.0.1.5:443 in opensearch: retire after 180s"

    def test_a_log_record_in_text_is_one_line_warnings_saying_so(self):
        record = logging.LogRecord(
            "tgsync",
            logging.WARNING,
            __file__,
            1,
            "target group is not attached to AlbId",
            None,
            None,
        )
        record.mapping, record.alb_id = "h -> opensearch", "front"
        assert TextFormatter().format(record) == (
            "tgsync: warning: target group is not attached to AlbId (h -> opensearch): alb_id=front"
        )


class TestThePlanTable:
    def test_a_mapping_that_failed_before_planning_is_its_error_alone(self):
        report = MappingReport("h -> opensearch", "h", ARN).fail("DescribeTargetGroups denied")
        assert render_table(report) == "h -> opensearch\n  FAILED: DescribeTargetGroups denied"


@pytest.mark.parametrize(
    "item", [s for s in SETTINGS if s.flag and s.key != "dry_run"], ids=lambda s: s.key
)
def test_every_flag_names_what_it_takes(item):
    assert item.metavar and item.metavar != "VALUE"
    assert item.metavar == item.metavar.strip()
