"""Metrics: each failure counted under the name that diagnoses it."""

from __future__ import annotations

import json

import pytest

from tgsync.report import CycleReport, MappingReport, emit_metrics, mapping_metrics

ARN = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/opensearch/0123456789abcdef"


def metric(report, name):
    return dict(mapping_metrics(report))[name]


def test_a_failed_lookup_is_a_resolution_failure():
    report = MappingReport("h -> opensearch", "h", ARN, resolved=False, lookup_failed=True).fail(
        "DNS resolution failed, nothing changed: NXDOMAIN"
    )
    assert metric(report, "ResolutionFailures") == 1
    assert metric(report, "MappingFailures") == 1


@pytest.mark.parametrize(
    "error",
    [
        "target group not found",
        "target type 'instance'",
        "invalid configuration: ...",
        "skipped: about to time out",
    ],
)
def test_other_failures_are_mapping_failures_only(error):
    report = MappingReport("h -> opensearch", "h", ARN).fail(error)
    assert metric(report, "ResolutionFailures") == 0
    assert metric(report, "MappingFailures") == 1


def test_an_entry_with_no_group_lands_in_the_totals_once(capsys):
    invalid = MappingReport("TGSYNC_MAPPINGS[1] (?)", "", "").fail("invalid configuration")
    good = MappingReport("h -> opensearch", "h", ARN)
    emit_metrics(CycleReport([good, invalid]))
    blobs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    dimension_sets = [blob["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0] for blob in blobs]
    assert sorted(map(tuple, dimension_sets)) == [("TargetGroup", "service"), ("service",)]
    totals = next(b for b in blobs if "TargetGroup" not in b)
    assert totals["MappingFailures"] == [1.0] and totals["Mappings"] == [2.0]


def test_a_settled_group_that_was_not_read_says_so_rather_than_zero_targets():
    from tgsync.rendering import render_line

    report = MappingReport(
        "h -> opensearch", "h", ARN, resolved=True, wanted=["10.0.1.5"], read_skipped=True
    )
    assert render_line(report, "T") == (
        "T h -> opensearch: unchanged, 1 in DNS as at the last read (settled: not read this cycle)"
    )
    deferred = MappingReport("h -> opensearch", "h", ARN, deferred=True)
    assert render_line(deferred, "T") == (
        "T h -> opensearch: deferred to the next cycle (no time left)"
    )
