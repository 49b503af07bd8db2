"""ELB API faults, injected between the SDK and moto: each one is survived or reported
clearly, and none makes the target group worse than it was."""

from __future__ import annotations

import pytest

from conftest import HOSTNAME, registered
from testlab.faultproxy import Fault
from tgsync.memory_codec import TAG_PREFIX, decode
from tgsync.provider.elbv2 import OPERATIONS
from tgsync.provider.errors import TOTAL_MAX_ATTEMPTS


@pytest.fixture
def busy_group(elbv2, moto, dns, target_group):
    """A group where one cycle needs every operation: a new IP to register, an
    unhealthy stray to retire, a healthy stray to remember, a stale memory to drop."""
    elbv2.register_targets(
        TargetGroupArn=target_group,
        Targets=[{"Id": "10.0.9.9", "Port": 443}, {"Id": "10.0.8.8", "Port": 443}],
    )
    moto.set_health("10.0.9.9", "unhealthy", "Target.FailedHealthChecks")
    elbv2.add_tags(
        ResourceArns=[target_group],  # memory in the older one-IP-per-tag form
        Tags=[{"Key": f"{TAG_PREFIX}443:10.0.7.7", "Value": "1/2"}],
    )
    dns.set(HOSTNAME, a=["10.0.1.5"])
    return target_group


def converged(elbv2, arn):
    return set(registered(elbv2, arn)) == {("10.0.1.5", 443), ("10.0.8.8", 443)}


def test_the_busy_cycle_uses_every_operation_the_role_allows_once(cycle, proxy, elbv2, busy_group):
    controller, _cfg = cycle(busy_group)
    assert controller.run_once().ok
    assert sorted(proxy.calls()) == sorted(OPERATIONS)
    assert converged(elbv2, busy_group)


@pytest.mark.parametrize("kind", ["throttle", "500", "503", "reset"])
@pytest.mark.parametrize("operation", OPERATIONS)
def test_a_transient_fault_on_any_operation_is_retried(
    cycle, proxy, elbv2, busy_group, kind, operation
):
    proxy.inject(Fault(kind, operation, times=TOTAL_MAX_ATTEMPTS - 1))
    controller, _cfg = cycle(busy_group)
    result = controller.run_once()
    assert result.ok, result.mappings[0].error
    assert proxy.calls().count(operation) == TOTAL_MAX_ATTEMPTS
    assert converged(elbv2, busy_group)


@pytest.mark.parametrize("operation", ["DescribeTargetHealth", "RegisterTargets"])
def test_a_read_timeout_is_retried(cycle, proxy, elbv2, busy_group, operation):
    proxy.inject(Fault("delay", operation, times=1, seconds=1.0))
    controller, _cfg = cycle(busy_group)
    assert controller.run_once().ok
    assert converged(elbv2, busy_group)


def test_persistent_throttling_fails_clearly_with_bounded_calls(cycle, proxy, elbv2, busy_group):
    proxy.inject(Fault("throttle", "DescribeTargetHealth", times=1000))
    controller, _cfg = cycle(busy_group)
    report = controller.run_once().mappings[0]
    assert not report.ok
    assert "DescribeTargetHealth throttled by ELB" in report.error
    assert "TGSYNC_API_RATE" in report.error
    assert proxy.calls().count("DescribeTargetHealth") == TOTAL_MAX_ATTEMPTS
    assert proxy.calls().count("RegisterTargets") == 0


@pytest.mark.parametrize("operation", ["RegisterTargets", "DescribeTargetHealth", "AddTags"])
def test_access_denied_names_the_missing_permission_and_is_not_retried(
    cycle, proxy, busy_group, operation
):
    proxy.inject(Fault("denied", operation, times=1000))
    controller, _cfg = cycle(busy_group)
    report = controller.run_once().mappings[0]
    assert f"allow elasticloadbalancing:{operation} in the function's IAM role" in report.error
    assert proxy.calls().count(operation) == 1


def test_a_target_group_deleted_mid_run_is_a_clear_error(cycle, elbv2, dns, target_group):
    dns.set(HOSTNAME, a=["10.0.1.5"])
    controller, _cfg = cycle(target_group)
    assert controller.run_once().ok
    elbv2.delete_target_group(TargetGroupArn=target_group)
    report = controller.run_once().mappings[0]
    assert (
        "not found (deleted, or in another account or region?); check TGSYNC_HOSTNAME"
        in report.error
    )  # the setting the mapping came from


def test_a_failed_tag_write_after_a_register_is_reported_and_then_healed(
    cycle, proxy, elbv2, busy_group, clock
):
    proxy.inject(Fault("500", "AddTags", times=TOTAL_MAX_ATTEMPTS))
    controller, _cfg = cycle(busy_group)
    report = controller.run_once().mappings[0]
    assert not report.ok
    assert "AddTags failed" in report.error
    assert ("10.0.1.5", 443) in registered(elbv2, busy_group)  # the register stands
    clock.now += 60
    again = controller.run_once()
    assert again.ok
    tags = {
        t["Key"]: t["Value"]
        for t in elbv2.describe_tags(ResourceArns=[busy_group])["TagDescriptions"][0]["Tags"]
    }
    assert set(decode(tags, 443).memory) == {"10.0.8.8"}
    assert f"{TAG_PREFIX}443:10.0.7.7" not in tags
    assert converged(elbv2, busy_group)


def test_an_ip_elb_refuses_fails_the_mapping_with_elbs_words_and_the_rest_happens(
    cycle, proxy, elbv2, busy_group
):
    proxy.inject(
        Fault(
            "validation",
            "RegisterTargets",
            times=1,
            message="The IP address '10.0.1.5' is not a valid IPv4 address",
        )
    )
    controller, _cfg = cycle(busy_group)
    report = controller.run_once().mappings[0]
    assert not report.ok
    assert (
        "RegisterTargets refused 10.0.1.5: The IP address '10.0.1.5' is not a valid IPv4 address"
    ) in report.error
    assert proxy.calls().count("RegisterTargets") == 1  # not a zone error: no retry
    assert ("10.0.9.9", 443) not in registered(elbv2, busy_group)  # the unhealthy stray went
    assert proxy.calls().count("AddTags") == 1  # and the memory was saved
