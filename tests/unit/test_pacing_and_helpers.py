"""The client-side pacer and the provider's small pure helpers."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tgsync.pacing import TokenBucket
from tgsync.provider.elbv2 import chunks, explain, is_throttled, outside_vpc_ip


class FakeTime:
    def __init__(self):
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


class TestTokenBucket:
    def test_a_burst_goes_through_without_waiting(self):
        t = FakeTime()
        bucket = TokenBucket(rate=8, burst=20, clock=t.clock, sleep=t.sleep)
        for _ in range(20):
            bucket.acquire()
        assert t.slept == []

    def test_beyond_the_burst_calls_are_paced_at_the_rate(self):
        t = FakeTime()
        bucket = TokenBucket(rate=8, burst=20, clock=t.clock, sleep=t.sleep)
        for _ in range(36):
            bucket.acquire()
        assert t.now == pytest.approx(16 / 8)

    def test_an_idle_bucket_refills_up_to_the_burst_only(self):
        t = FakeTime()
        bucket = TokenBucket(rate=8, burst=5, clock=t.clock, sleep=t.sleep)
        t.now = 3600
        for _ in range(6):
            bucket.acquire()
        assert t.slept == [pytest.approx(1 / 8)]

    @pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-1, 5), (1, 0)])
    def test_nonsense_settings_are_refused(self, rate, burst):
        with pytest.raises(ValueError, match="rate must be above 0"):
            TokenBucket(rate=rate, burst=burst)


def client_error(code, message=""):
    return ClientError({"Error": {"Code": code, "Message": message}}, "RegisterTargets")


def test_chunks_split_in_order_and_keep_the_remainder():
    assert list(chunks(list(range(5)), 2)) == [[0, 1], [2, 3], [4]]
    assert list(chunks([], 200)) == []


@pytest.mark.parametrize("message", [
    "The Availability Zone is required for IP address '172.25.18.11' because it is not in "
    "the VPC",
    "You must specify a valid Availability Zone or select 'all' for all enabled Availability "
    "zones, since the IP address '172.25.18.11' is outside the VPC",
])
def test_the_outside_vpc_ip_is_read_from_both_known_messages(message):
    assert outside_vpc_ip(client_error("ValidationError", message)) == "172.25.18.11"


def test_other_validation_errors_name_no_outside_ip():
    assert outside_vpc_ip(client_error("ValidationError", "The IP address 'x' is bad")) is None
    assert outside_vpc_ip(client_error("Throttling", "not in the VPC")) is None


def test_errors_are_explained_with_the_fix():
    assert "TGSYNC_API_RATE" in str(explain("DescribeTags", "arn", client_error("Throttling")))
    assert is_throttled(client_error("ThrottlingException"))
    denied = explain("AddTags", "arn", client_error("AccessDenied", "no"))
    assert "allow elasticloadbalancing:AddTags" in str(denied)
    full = explain("AddTags", "arn", client_error("TooManyTags"))
    assert "50-tag limit" in str(full)
    unreachable = explain("DescribeTargetHealth", "arn", OSError("timed out"))
    assert "VPC interface endpoint" in str(unreachable)
