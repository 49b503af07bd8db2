"""The client-side pacer and the provider's small pure helpers."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tgsync.aws_service import explain
from tgsync.pacing import TokenBucket
from tgsync.provider.elbv2 import ELBV2, chunks
from tgsync.provider.errors import is_zone_error, refused_target


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


#: Every wording of ELB's zone error we know of; each quotes the IP.
ZONE_WORDINGS = [
    "The Availability Zone is required for IP address '172.25.18.11' because it is not in the VPC",
    "You must specify a valid Availability Zone or select 'all' for all enabled Availability "
    "zones, since the IP address '172.25.18.11' is outside the VPC",
    "The Availability Zone must be 'all' for IP address '172.25.18.11' when not within the VPC",
    "The IP address '172.25.18.11' is not within any of the subnets of the target group's VPC",
]


@pytest.mark.parametrize("message", ZONE_WORDINGS)
def test_every_known_zone_wording_names_the_ip_and_is_a_zone_error(message):
    error = client_error("ValidationError", message)
    assert refused_target(error, ["10.0.1.5", "172.25.18.11"]) == "172.25.18.11"
    assert is_zone_error(error)


def test_a_refusal_quoting_an_ip_of_the_batch_names_it_whatever_the_sentence():
    error = client_error("InvalidTarget", "Nope: '10.0.0.2' will never do")
    assert refused_target(error, ["10.0.0.2", "10.0.1.5"]) == "10.0.0.2"
    assert not is_zone_error(error)


def test_an_ip_quoted_in_another_spelling_is_still_recognised():
    error = client_error("ValidationError", "The IP address '2001:0db8::1' is outside the VPC")
    assert refused_target(error, ["2001:db8::1"]) == "2001:db8::1"


def test_errors_that_are_not_about_a_target_of_the_batch_name_none():
    assert (
        refused_target(
            client_error("ValidationError", "The IP address '10.9.9.9' is bad"), ["10.0.1.5"]
        )
        is None
    )
    assert (
        refused_target(client_error("Throttling", "'10.0.1.5' not in the VPC"), ["10.0.1.5"])
        is None
    )


def elb_error(operation, exc):
    return explain(ELBV2, operation, "target group arn", "eu-west-1", exc)


@pytest.mark.parametrize("code", ["Throttling", "ThrottlingException"])
def test_errors_are_explained_with_the_fix(code, monkeypatch):
    assert "TGSYNC_API_RATE" in str(elb_error("DescribeTags", client_error(code)))
    denied = elb_error("AddTags", client_error("AccessDenied", "no"))
    assert "allow elasticloadbalancing:AddTags" in str(denied) and denied.denied
    full = elb_error("AddTags", client_error("TooManyTags"))
    assert "50-tag limit" in str(full)
    for variable in ("AWS_ENDPOINT_URL", ELBV2.endpoint_variable):
        monkeypatch.delenv(variable, raising=False)
    unreachable = elb_error("DescribeTargetHealth", OSError("timed out"))
    assert "VPC interface endpoint" in str(unreachable) and unreachable.unreachable


def test_an_unreachable_endpoint_the_user_set_is_named_with_its_variable(monkeypatch):
    """Issue 33: with AWS_ENDPOINT_URL set, the hint talked of VPC interface endpoints."""
    monkeypatch.delenv(ELBV2.endpoint_variable, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    unreachable = str(elb_error("DescribeTargetHealth", OSError("connection refused")))
    assert "http://127.0.0.1:4566 (from AWS_ENDPOINT_URL)" in unreachable
    assert "VPC interface endpoint" not in unreachable


def test_describe_calls_and_writes_draw_on_budgets_of_their_own():
    from tgsync.provider.elbv2 import READ_OPERATIONS, WRITE_OPERATIONS, Elbv2Provider

    class Counting:
        def __init__(self):
            self.taken = 0

        def acquire(self, within=float("inf")):
            self.taken += 1
            return True

    class Answering:
        def __getattr__(self, _method):
            return lambda **_params: {}

    reads, writes = Counting(), Counting()
    provider = Elbv2Provider(
        client_for_region=lambda region: Answering(), pacer=reads, write_pacer=writes
    )
    arn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/x/0123456789abcdef"
    for operation in (*READ_OPERATIONS, *WRITE_OPERATIONS, "DescribeTags"):
        provider._call(operation, arn)
    assert (reads.taken, writes.taken) == (len(READ_OPERATIONS) + 1, len(WRITE_OPERATIONS))


def test_a_token_that_would_come_after_the_deadline_is_not_waited_for():
    clock = FakeTime()
    bucket = TokenBucket(rate=1.0, burst=1, clock=clock.clock, sleep=clock.sleep)
    assert bucket.acquire(within=10.0)  # the burst: at once
    assert not bucket.acquire(within=0.5)  # the next token comes in 1 s: too late
    assert clock.now == 0.0  # no wait, and no token taken
    assert bucket.acquire(within=1.0) and clock.now == 1.0
