"""The ownership codec (retire=owned): owner ids, strict decoding, packing within the room."""

from __future__ import annotations

import pytest

from tgsync.ownership import (
    MAX_VALUE_LENGTH,
    UNREADABLE,
    change_owned,
    decode_owned,
    owned_key,
    owner_id,
    pack_values,
)

A, B = owner_id("logs.example.com"), owner_id("search.example.com")


def tags_for(owner, ips, port=443, first_slot=1):
    return {owned_key(port, first_slot + i): v for i, v in enumerate(pack_values(owner, ips))}


class TestOwnerId:
    def test_the_id_is_short_stable_and_ignores_case_and_a_trailing_dot(self):
        assert len(A) == 8 and int(A, 16) >= 0
        assert owner_id("LOGS.example.com.") == A
        assert A != B


class TestRoundTrip:
    def test_every_owners_ips_round_trip_through_packed_tags(self):
        mine = {f"10.0.{i // 200}.{i % 200 + 1}" for i in range(70)} | {"fd00::1", "fd00::2"}
        tags = {**tags_for(A, mine), **tags_for(B, {"10.9.9.9"}, first_slot=10)}
        owned = decode_owned(tags, 443)
        assert owned.mine(A) == mine and owned.mine(B) == {"10.9.9.9"}
        assert owned.others(A) == {"10.9.9.9": frozenset({B})}
        assert owned.unreadable == ()

    def test_values_stay_within_elbs_limit_and_15_of_the_longest_ipv4_fit_in_one(self):
        ips = {f"255.255.255.{i}" for i in range(100, 130)}
        values = pack_values(A, ips)
        assert all(len(v) <= MAX_VALUE_LENGTH for v in values)
        longest = {f"255.255.{i}.255" for i in range(100, 115)}
        assert len(pack_values(A, longest)) == 1
        assert len(pack_values(A, longest | {"255.255.115.255"})) == 2

    def test_another_ports_records_are_not_this_ports(self):
        assert decode_owned(tags_for(A, {"10.0.0.1"}, port=9200), 443).by_owner == {}


class TestStrictDecoding:
    @pytest.mark.parametrize(
        ("key", "value"),
        [
            ("tgsync:owned:443:1", "ABCDEF01 10.0.0.1"),  # upper-case owner
            ("tgsync:owned:443:1", "abcdef0 10.0.0.1"),  # short owner
            ("tgsync:owned:443:1", "abcdef01"),  # no IP
            ("tgsync:owned:443:1", "abcdef01 10.0.0.01"),  # not the canonical spelling
            ("tgsync:owned:443:1", "abcdef01 fd00:0::1"),  # not the canonical spelling
            ("tgsync:owned:443:1", "abcdef01  10.0.0.1"),  # two spaces
            ("tgsync:owned:443:01", "abcdef01 10.0.0.1"),  # a leading zero
            ("tgsync:owned:44٣:1", "abcdef01 10.0.0.1"),  # not an ASCII digit
            ("tgsync:owned:443:x", "abcdef01 10.0.0.1"),
        ],
    )
    def test_a_tag_that_does_not_read_is_reported_and_its_ips_are_someone_elses(self, key, value):
        owned = decode_owned({key: value}, 443)
        assert owned.unreadable == (key,)
        assert owned.mine("abcdef01") == frozenset()
        if "10.0.0.1" in value.split() and key.endswith(":1") and "443" in key:
            assert owned.others("abcdef01") == {"10.0.0.1": frozenset({UNREADABLE})}


class TestChange:
    def test_an_unchanged_record_writes_nothing(self):
        tags = tags_for(A, {"10.0.0.1", "10.0.0.2"})
        todo = change_owned(tags, 443, A, {"10.0.0.1", "10.0.0.2"}, max_tags=50)
        assert todo.add == {} and todo.remove == [] and todo.left_out == frozenset()

    def test_only_the_owners_own_tags_are_rewritten_and_others_are_not_reused(self):
        tags = {
            **tags_for(B, {"10.9.9.9"}),
            "tgsync:owned:443:2": "garbage",
            **tags_for(A, {"10.0.0.1"}, first_slot=3),
        }
        todo = change_owned(tags, 443, A, {"10.0.0.1", "10.0.0.7"}, max_tags=50)
        assert todo.add == {owned_key(443, 3): f"{A} 10.0.0.1 10.0.0.7"} and todo.remove == []
        gone = change_owned(tags, 443, A, set(), max_tags=50)
        assert gone.add == {} and gone.remove == [owned_key(443, 3)]

    def test_with_no_room_new_ips_are_left_out_never_recorded_ones(self):
        old = {f"255.255.{i}.255" for i in range(100, 115)}  # one full value
        tags = {**{f"user-{i}": "x" for i in range(49)}, **tags_for(A, old)}
        todo = change_owned(tags, 443, A, old | {"10.0.0.1"}, max_tags=50)
        assert todo.left_out == {"10.0.0.1"} and todo.add == {} and todo.remove == []

    def test_ownership_takes_the_room_of_memory_tags_newest_first(self):
        tags = {
            **{f"user-{i}": "x" for i in range(47)},
            "tgsync:missing:443:1": "old",
            "tgsync:missing:443:2": "new",
        }
        todo = change_owned(
            tags,
            443,
            A,
            {"10.0.0.1"},
            max_tags=50,
            memory_keys=["tgsync:missing:443:1", "tgsync:missing:443:2"],
        )
        assert todo.add == {owned_key(443, 1): f"{A} 10.0.0.1"} and todo.remove == []
        tags["user-47"] = "x"
        todo = change_owned(
            tags,
            443,
            A,
            {"10.0.0.1"},
            max_tags=50,
            memory_keys=["tgsync:missing:443:1", "tgsync:missing:443:2"],
        )
        assert todo.evicted == ("tgsync:missing:443:2",) and todo.left_out == frozenset()
        assert todo.remove == ["tgsync:missing:443:2"]


class TestSignedRecords:
    """With a record key, a value ends in its MAC and only a value that verifies counts."""

    MAC = "m" * 43

    def sign(self, value):
        return f"{value} mac={self.MAC}"

    def test_signed_values_leave_room_for_the_mac_and_carry_it(self):
        many = {f"10.0.{i // 250}.{i % 250}" for i in range(60)}
        todo = change_owned({}, 443, A, many, max_tags=50, sign=self.sign)
        assert all(
            len(v) <= MAX_VALUE_LENGTH and v.endswith(f" mac={self.MAC}") for v in todo.add.values()
        )
        owned = decode_owned(todo.add, 443)  # without a key: the MAC is set aside, trusted
        assert owned.mine(A) == many and owned.unverified == ()

    def test_an_unchanged_signed_record_writes_nothing(self):
        first = change_owned({}, 443, A, {"10.0.0.1"}, max_tags=50, sign=self.sign).add
        again = change_owned(first, 443, A, {"10.0.0.1"}, max_tags=50, sign=self.sign)
        assert again.add == {} and again.remove == []

    def test_with_a_key_only_values_that_verify_are_trusted(self):
        tags = {
            owned_key(443, 1): f"{A} 10.0.0.1 mac={self.MAC}",
            owned_key(443, 2): f"{B} 10.0.0.2",  # no MAC
            owned_key(443, 3): f"{B} 10.0.0.3 mac={'x' * 43}",  # not the key's
            owned_key(443, 4): "not even readable 10.0.0.4",
        }
        owned = decode_owned(tags, 443, lambda owner, ips, mac: mac == self.MAC)
        assert owned.by_owner == {A: frozenset({"10.0.0.1"})}
        assert owned.unverified == tuple(owned_key(443, n) for n in (2, 3, 4))
        assert owned.unreadable == () and owned.others(A) == {}

    def test_the_message_binds_the_group_the_port_the_owner_and_the_ips(self):
        from tgsync.ownership import record_message

        base = record_message("arn:g", 443, A, ["10.0.0.1"])
        assert (
            len(
                {
                    base,
                    record_message("arn:h", 443, A, ["10.0.0.1"]),
                    record_message("arn:g", 444, A, ["10.0.0.1"]),
                    record_message("arn:g", 443, B, ["10.0.0.1"]),
                    record_message("arn:g", 443, A, ["10.0.0.1", "10.0.0.2"]),
                }
            )
            == 5
        )
