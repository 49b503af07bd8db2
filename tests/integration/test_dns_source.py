"""The DNS source against a real DNS server on 127.0.0.1."""

from __future__ import annotations

import pytest

from tgsync.source import Nameserver
from tgsync.source.resolver import DnsSource

NAME = "vpc-logs-abc123.eu-west-1.es.amazonaws.com"


def source(dns, *extra, timeout=0.3, lifetime=0.8):
    servers = [*extra, Nameserver("127.0.0.1", dns.port)]
    return DnsSource(servers, timeout=timeout, lifetime=lifetime)


def test_every_a_record_is_returned(dns):
    dns.set(NAME, a=["10.0.1.5", "10.0.2.5", "10.0.3.5"])
    result = source(dns).resolve(NAME, "A", lookups=3)
    assert result.error is None and result.answers == {"10.0.1.5", "10.0.2.5", "10.0.3.5"}


def test_aaaa_records_for_an_ipv6_group(dns):
    dns.set(NAME, a=["10.0.1.5"], aaaa=["fd00::5", "fd00::6"])
    assert source(dns).resolve(NAME, "AAAA", lookups=1).answers == {"fd00::5", "fd00::6"}


def test_lookups_stop_once_an_answer_repeats_everything_seen(dns):
    dns.set(NAME, a=["10.0.1.5", "10.0.2.5"])
    result = source(dns).resolve(NAME, "A", lookups=5)
    assert result.queries == 2
    assert len([q for q in dns.queries if q[0] == NAME]) == 2
    assert (result.distinct, result.largest) == (1, 2)


def test_a_subset_that_adds_nothing_new_does_not_stop_the_lookups(dns):
    # 8 of 10 per query: the second answer is almost surely inside the union of the
    # first two, which used to stop the loop with nodes unseen.
    every = [f"10.0.{i}.5" for i in range(1, 11)]
    dns.set(NAME, a=every, subset=8)
    result = source(dns).resolve(NAME, "A", lookups=6)
    assert result.queries == 6
    assert result.largest == 8 and result.distinct > 1


def test_a_caching_resolvers_one_subset_per_cycle_is_seen_as_one_answer(dns):
    dns.set(NAME, a=[f"10.0.{i}.5" for i in range(1, 11)], subset=8, sticky=True)
    result = source(dns).resolve(NAME, "A", lookups=3)
    assert (result.queries, result.distinct, result.largest) == (2, 1, 8)


def test_round_robin_subsets_are_united_over_lookups(dns):
    every = [f"10.0.{i}.5" for i in range(1, 7)]
    dns.set(NAME, a=every, subset=3)
    result = source(dns).resolve(NAME, "A", lookups=10)
    assert result.error is None and result.answers <= set(every)
    assert len(result.answers) > 3  # more than any single answer holds


@pytest.mark.parametrize(
    ("mode", "words"),
    [
        ("nxdomain", "NXDOMAIN"),
        ("servfail", "no DNS server could answer"),
        ("refused", "no DNS server could answer"),
        ("timeout", "timed out"),
        ("empty", "empty answer"),
    ],
)
def test_failures_are_reported_not_raised(dns, mode, words):
    dns.set(NAME, a=["10.0.1.5"], mode=mode)
    result = source(dns).resolve(NAME, "A", lookups=3)
    assert result.error is not None and words in result.error


def test_an_unknown_name_is_nxdomain(dns):
    result = source(dns).resolve("nope.example.internal", "A", lookups=1)
    assert "NXDOMAIN" in result.error


def test_a_truncated_udp_answer_is_retried_over_tcp(dns):
    dns.set(NAME, a=["10.0.1.5"], mode="truncate")
    result = source(dns).resolve(NAME, "A", lookups=1)
    assert result.answers == {"10.0.1.5"}
    assert [q[2] for q in dns.queries] == ["udp", "tcp"]


def test_a_dead_first_nameserver_falls_over_to_the_live_second(dns):
    dns.set(NAME, a=["10.0.1.5"])
    # Port 9 on loopback: nothing listens there, the query is refused or times out.
    result = source(dns, Nameserver("127.0.0.1", 9), timeout=0.2, lifetime=2).resolve(
        NAME, "A", lookups=1
    )
    assert result.answers == {"10.0.1.5"}


def test_a_failure_in_a_later_lookup_fails_the_whole_resolution(dns):
    dns.set(NAME, a=["10.0.1.5", "10.0.2.5", "10.0.3.5"], subset=1)
    src = source(dns)
    first = src.resolve(NAME, "A", lookups=1)
    assert first.error is None
    dns.mode(NAME, "servfail")
    assert src.resolve(NAME, "A", lookups=3).error is not None
