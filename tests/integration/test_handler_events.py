"""The Lambda handler in-process against moto: what a direct event may and may not do
(each failed on the code before its fix)."""

from __future__ import annotations

import pytest

from conftest import HOSTNAME, registered
from tgsync import lambda_handler
from tgsync.errors import EventError


@pytest.fixture
def handler(moto, dns, target_group, monkeypatch):
    monkeypatch.setenv("TGSYNC_HOSTNAME", HOSTNAME)
    monkeypatch.setenv("TGSYNC_TARGET_GROUP_ARN", target_group)
    monkeypatch.setenv("TGSYNC_DNS_SERVERS", dns.address)
    monkeypatch.setattr(lambda_handler, "_controller", None)  # a cold start each test
    return lambda_handler.handler


def test_an_event_cannot_turn_dry_run_off(handler, dns, elbv2, target_group, monkeypatch):
    monkeypatch.setenv("TGSYNC_DRY_RUN", "true")
    dns.set(HOSTNAME, a=["10.0.1.5"])
    summary = handler({"dry_run": False}, None)
    assert summary["dry_run"] is True
    assert registered(elbv2, target_group) == {}


def test_an_event_can_turn_dry_run_on(handler, dns, elbv2, target_group):
    dns.set(HOSTNAME, a=["10.0.1.5"])
    assert handler({"dry_run": True}, None)["dry_run"] is True
    assert registered(elbv2, target_group) == {}


def test_a_dry_run_that_is_not_a_boolean_is_an_error_and_changes_nothing(
        handler, dns, elbv2, target_group):
    dns.set(HOSTNAME, a=["10.0.1.5"])
    with pytest.raises(EventError, match="'dry_run'"):
        handler({"dry_run": "maybe"}, None)
    assert registered(elbv2, target_group) == {}
