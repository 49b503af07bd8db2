"""The tag codec that carries missing-since memory between runs, within ELB's limits."""

from __future__ import annotations

import pytest

from tgsync.plan import MissingSince
from tgsync.registry import (
    MAX_TAGS,
    MAX_VALUE_LENGTH,
    TAG_PREFIX,
    change,
    decode,
    encode_record,
    pack,
    tag_key,
)

T0 = 1_700_000_000


def blue_green(count: int, *, ipv6: bool = False) -> dict[str, MissingSince]:
    """``count`` IPs missing at once, in the longest spelling of their kind."""
    ips = ([f"fd00:ffff:ffff:ffff:ffff:ffff:ffff:{0x1000 + i:04x}" for i in range(count)] if ipv6
           else [f"100.100.{200 + i // 100}.{100 + i % 100}" for i in range(count)])
    return {ip: MissingSince(T0 + i, T0 + 600, 123) for i, ip in enumerate(ips)}


class TestPacking:
    def test_memory_round_trips_through_packed_tags(self):
        memory = blue_green(13) | blue_green(5, ipv6=True)
        assert decode(pack(443, memory), 443).memory == memory

    @pytest.mark.parametrize("ipv6", [False, True])
    def test_a_30_node_blue_green_fits_beside_40_tags_of_the_users_own(self, ipv6):
        tags = pack(443, blue_green(30, ipv6=ipv6))
        assert len(tags) <= MAX_TAGS - 40
        assert all(len(v) <= MAX_VALUE_LENGTH and len(k) <= 128 for k, v in tags.items())

    def test_keys_and_values_use_only_characters_elb_allows(self):
        allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 +-=._:/@")
        for key, value in pack(443, blue_green(3, ipv6=True)).items():
            assert set(key) <= allowed and set(value) <= allowed

    def test_the_oldest_records_come_first(self):
        memory = {"10.0.1.9": MissingSince(300, 400), "10.0.1.5": MissingSince(100, 400)}
        assert pack(443, memory)[tag_key(443, 1)].startswith("10.0.1.5=")

    def test_rounding_to_whole_seconds_can_only_delay_a_retirement(self):
        assert encode_record("10.0.1.5", MissingSince(1000.2, 1060.8, 2)) == \
            "10.0.1.5=1001/1060/2"


class TestReading:
    def test_the_older_one_record_per_tag_form_is_still_read(self):
        tags = {f"{TAG_PREFIX}443:10.0.1.5": "1000/1060", f"{TAG_PREFIX}443:fd00::1": "5/6"}
        assert decode(tags, 443).memory == {"10.0.1.5": MissingSince(1000, 1060, 1),
                                            "fd00::1": MissingSince(5, 6, 1)}

    def test_other_ports_and_foreign_tags_are_ignored(self):
        tags = {tag_key(9200, 1): "10.0.1.5=1/2/1", "Name": "x", "team": "search"}
        recalled = decode(tags, 443)
        assert recalled.memory == {} and recalled.unreadable == ()

    def test_unreadable_tags_under_our_prefix_are_reported_not_used(self):
        tags = {tag_key(443, 1): "yesterday", f"{TAG_PREFIX}abc:10.0.1.6": "1/2",
                tag_key(443, 2): "10.0.1.7=1/2/0", f"{TAG_PREFIX}443:10.0.1.8": "1/2/3/4"}
        recalled = decode(tags, 443)
        assert recalled.memory == {}
        assert set(recalled.unreadable) == set(tags)

    def test_ipv6_records_are_read_in_canonical_form(self):
        tags = {tag_key(443, 1): "2001:0db8::1=5/6/1"}
        assert decode(tags, 443).memory == {"2001:db8::1": MissingSince(5, 6, 1)}


class TestChanges:
    def test_a_steady_memory_writes_nothing(self):
        memory = blue_green(8)
        todo = change(pack(443, memory), 443, memory)
        assert todo.add == {} and todo.remove == []

    def test_an_empty_memory_removes_every_tag_of_ours_for_the_port_and_nothing_else(self):
        tags = {**pack(443, blue_green(8)), **pack(9200, blue_green(2)), "team": "search",
                f"{TAG_PREFIX}443:10.0.1.5": "1/2"}
        todo = change(tags, 443, {})
        assert sorted(todo.remove) == sorted(k for k in tags if k.startswith(f"{TAG_PREFIX}443:"))
        assert todo.add == {}

    def test_a_full_tag_set_swapping_one_ip_for_another_fits_by_removing_first(self):
        users = {f"user-{i}": "x" for i in range(MAX_TAGS - 1)}
        tags = {**users, **pack(443, {"10.0.1.5": MissingSince(T0, T0)})}
        todo = change(tags, 443, {"10.0.1.6": MissingSince(T0 + 60, T0 + 60)})
        assert todo.left_out == 0
        after = {k: v for k, v in tags.items() if k not in todo.remove} | todo.add
        assert len(after) <= MAX_TAGS
        assert decode(after, 443).memory == {"10.0.1.6": MissingSince(T0 + 60, T0 + 60)}

    def test_when_space_runs_out_the_oldest_records_are_kept_and_the_rest_counted(self):
        users = {f"user-{i}": "x" for i in range(MAX_TAGS - 1)}
        memory = blue_green(12)
        todo = change(users, 443, memory)
        assert todo.free == 1 and todo.needed == 2 and todo.left_out == 12 - 6
        kept = decode(todo.add, 443).memory
        assert set(kept) == set(sorted(memory, key=lambda ip: memory[ip].first)[:6])

    def test_tags_we_cannot_read_are_neither_removed_nor_reused(self):
        tags = {tag_key(443, 1): "garbage"}
        todo = change(tags, 443, {"10.0.1.5": MissingSince(T0, T0)}, [tag_key(443, 1)])
        assert todo.remove == [] and list(todo.add) == [tag_key(443, 2)]
