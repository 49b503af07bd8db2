"""The allowed-ranges guard: what may become a target."""

from __future__ import annotations

import pytest

from tgsync.guard import DEFAULT_ALLOWED_CIDRS, parse_networks, screen

DEFAULT = parse_networks(DEFAULT_ALLOWED_CIDRS)


def reasons(answers, allowed=DEFAULT):
    accepted, refused = screen(answers, allowed)
    return accepted, {r.answer: r.reason for r in refused}


@pytest.mark.parametrize(
    "ip", ["10.1.2.3", "172.16.0.1", "172.31.255.254", "192.168.1.1", "100.64.0.1", "fd12:3456::1"]
)
def test_private_ranges_are_allowed_by_default(ip):
    accepted, refused = reasons([ip])
    assert accepted == {ip} and refused == {}


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        ("8.8.8.8", "outside the allowed ranges"),
        ("172.32.0.1", "outside the allowed ranges"),
        ("2600:1f18::1", "outside the allowed ranges"),
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::ffff:10.0.0.1", "IPv4-mapped"),
        ("010.000.000.001", "not an IP address"),
        ("evil.example.com", "not an IP address"),
        ("10.0.0.1 ", "not an IP address"),
        ("fe80::1%eth0", "scope id"),
    ],
)
def test_refused_answers_name_their_reason(answer, why):
    accepted, refused = reasons([answer, "10.9.9.9"])  # a refusal never stops the rest
    assert accepted == {"10.9.9.9"}
    assert why in refused[answer]


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ("8.8.8.8", "outside the allowed ranges (TGSYNC_ALLOWED_CIDRS)"),
        ("127.0.0.1", "loopback address"),
        ("fe80::1", "link-local address"),
        ("224.0.0.1", "multicast address"),
        ("0.0.0.0", "unspecified address"),
        ("::ffff:10.0.0.1", "IPv4-mapped IPv6 address"),
        ("evil.example.com", "not an IP address"),
        ("fe80::1%eth0", "IPv6 address with a scope id"),
    ],
)
def test_the_reasons_read_exactly_as_logged(answer, reason):
    assert reasons([answer])[1] == {answer: reason}


def test_never_allowed_kinds_stay_refused_even_when_every_range_is_allowed():
    everything = parse_networks(["0.0.0.0/0", "::/0"])
    accepted, refused = reasons(
        ["127.0.0.1", "169.254.1.1", "::ffff:10.0.0.1", "8.8.8.8"], everything
    )
    assert accepted == {"8.8.8.8"}
    assert set(refused) == {"127.0.0.1", "169.254.1.1", "::ffff:10.0.0.1"}


def test_equal_addresses_written_differently_are_one_target():
    accepted, _ = reasons(["fd00:0:0::1", "fd00::1", "FD00::1"])
    assert accepted == {"fd00::1"}


def test_mixed_answers_keep_the_allowed_ones():
    accepted, refused = reasons(["10.0.0.5", "8.8.8.8", "10.0.0.6"])
    assert accepted == {"10.0.0.5", "10.0.0.6"} and set(refused) == {"8.8.8.8"}


def test_a_network_with_host_bits_set_is_an_error_with_the_fix():
    with pytest.raises(ValueError, match=r"did you mean 10\.0\.0\.0/8"):
        parse_networks(["10.1.2.3/8"])


def test_a_network_that_is_not_one_is_an_error_with_an_example():
    with pytest.raises(ValueError, match="not a network") as caught:
        parse_networks(["bogus"])
    assert str(caught.value).startswith("'bogus' is not a network (")
    assert str(caught.value).endswith("); write a network such as 10.0.0.0/8 or fd00::/8")


def test_a_tag_narrows_the_allowed_ranges_and_never_widens_them():
    function = parse_networks(["10.0.0.0/8"])
    wider_tag = parse_networks(["0.0.0.0/0"])
    narrower_tag = parse_networks(["10.0.1.0/24"])
    answers = ["10.0.1.5", "10.0.2.5", "198.51.100.7"]
    allowed, _ = screen(answers, function, wider_tag)
    assert allowed == {"10.0.1.5", "10.0.2.5"}  # the public answer stays refused
    allowed, refused = screen(answers, function, narrower_tag)
    assert allowed == {"10.0.1.5"}
    assert any("tgsync:allowed-cidrs" in r.reason for r in refused)
