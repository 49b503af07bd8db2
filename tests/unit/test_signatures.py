"""Signatures: the record key's MACs made and checked once per value (issue 30, item 2)."""

from __future__ import annotations

import pytest

from tgsync.errors import AwsError
from tgsync.ownership import owner_id
from tgsync.signatures import Signatures

ARN = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/g/0123456789abcdef"
A = owner_id("logs.example.com")


class FakeKey:
    """An HMAC key: the MAC is the message reversed; counts calls, fails on demand."""

    def __init__(self):
        self.macs, self.verified, self.fail = 0, 0, False

    def mac(self, message, deadline=None):
        self.macs += 1
        return message[::-1].hex()[:43]

    def verify(self, message, mac, deadline=None):
        self.verified += 1
        if self.fail:
            raise AwsError("VerifyMac failed", service="kms", operation="VerifyMac")
        return mac == message[::-1].hex()[:43]


@pytest.fixture
def key():
    return FakeKey()


def test_a_value_tgsync_signed_verifies_without_a_call(key):
    signatures = Signatures(key)
    signed = signatures.signer(ARN, 443)(f"{A} 10.0.0.1")
    owner, *ips, mac = signed.split(" ")
    assert signatures.verifier(ARN, 443)(owner, tuple(ips), mac.removeprefix("mac="))
    assert (key.macs, key.verified) == (1, 0)


def test_each_distinct_value_is_verified_once_per_process(key):
    other = Signatures(key)
    good = Signatures(key).signer(ARN, 443)(f"{A} 10.0.0.1").split(" ")[-1][4:]
    verify = other.verifier(ARN, 443)
    for _ in range(3):
        assert verify(A, ("10.0.0.1",), good)
        assert not verify(A, ("10.0.0.2",), good)  # the MAC of another value
    assert key.verified == 2


def test_a_value_without_a_mac_is_untrusted_without_a_call(key):
    assert not Signatures(key).verifier(ARN, 443)(A, ("10.0.0.1",), None)
    assert key.verified == 0


def test_a_failed_call_is_no_verdict_and_is_asked_again(key):
    signatures = Signatures(key)
    key.fail = True
    with pytest.raises(AwsError):
        signatures.verifier(ARN, 443)(A, ("10.0.0.1",), "x" * 43)
    key.fail = False
    assert not signatures.verifier(ARN, 443)(A, ("10.0.0.1",), "x" * 43)
    assert key.verified == 2


def test_what_is_known_of_groups_let_go_is_forgotten(key):
    signatures = Signatures(key)
    signatures.verifier(ARN, 443)(A, ("10.0.0.1",), "x" * 43)
    signatures.keep_only(set())
    signatures.verifier(ARN, 443)(A, ("10.0.0.1",), "x" * 43)
    assert key.verified == 2
