"""The tag codec that carries missing-since memory between runs."""

from __future__ import annotations

from tgsync.plan import Missing
from tgsync.registry import decode, diff, encode, tag_key


def test_a_record_round_trips_through_a_tag():
    tags = {tag_key(443, "10.0.1.5"): encode(Missing(1000, 1060))}
    assert decode(tags, 443).memory == {"10.0.1.5": Missing(1000, 1060)}


def test_ipv6_keys_keep_their_colons():
    tags = {tag_key(443, "fd00::1"): "5/6"}
    assert decode(tags, 443).memory == {"fd00::1": Missing(5, 6)}


def test_other_ports_and_foreign_tags_are_ignored():
    tags = {tag_key(9200, "10.0.1.5"): "1/2", "Name": "x", "team": "search"}
    recalled = decode(tags, 443)
    assert recalled.memory == {} and recalled.unreadable == ()


def test_unreadable_tags_under_our_prefix_are_reported_not_used():
    tags = {tag_key(443, "10.0.1.5"): "yesterday", "tgsync:missing:abc:10.0.1.6": "1/2"}
    recalled = decode(tags, 443)
    assert recalled.memory == {}
    assert set(recalled.unreadable) == set(tags)


def test_diff_writes_new_and_changed_records_and_removes_dropped_ones():
    old = {"10.0.1.5": Missing(1, 2), "10.0.1.6": Missing(1, 2), "10.0.1.7": Missing(1, 2)}
    new = {"10.0.1.5": Missing(1, 2), "10.0.1.6": Missing(1, 3), "10.0.1.8": Missing(3, 3)}
    add, remove = diff(443, old, new)
    assert add == {tag_key(443, "10.0.1.6"): "1/3", tag_key(443, "10.0.1.8"): "3/3"}
    assert remove == [tag_key(443, "10.0.1.7")]


def test_diff_of_equal_memory_is_empty():
    assert diff(443, {"10.0.1.5": Missing(1, 2)}, {"10.0.1.5": Missing(1, 2)}) == ({}, [])


def test_rounding_to_whole_seconds_can_only_delay_a_retirement():
    assert encode(Missing(1000.2, 1060.8)) == "1001/1060"
