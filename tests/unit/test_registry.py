"""The tag codec that carries missing-since memory between runs, within ELB's limits."""

from __future__ import annotations

import pytest

from tgsync.errors import ProviderError
from tgsync.memory_codec import (
    MAX_TAGS,
    MAX_VALUE_LENGTH,
    REFRESH_SECONDS,
    TAG_PREFIX,
    change,
    decode,
    encode_record,
    pack,
    tag_key,
)
from tgsync.plan import MissingSince
from tgsync.registry import TagRegistry, TagSpaceExhausted

T0 = 1_700_000_000


def blue_green(count: int, *, ipv6: bool = False) -> dict[str, MissingSince]:
    """``count`` IPs missing at once, in the longest spelling of their kind."""
    ips = (
        [f"fd00:ffff:ffff:ffff:ffff:ffff:ffff:{0x1000 + i:04x}" for i in range(count)]
        if ipv6
        else [f"100.100.{200 + i // 100}.{100 + i % 100}" for i in range(count)]
    )
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

    def test_the_oldest_records_come_first_then_by_ip(self):
        memory = {
            "10.0.1.7": MissingSince(300, 400),
            "10.0.1.9": MissingSince(100, 400),
            "10.0.1.5": MissingSince(300, 500),
        }
        assert pack(443, memory)[tag_key(443, 1)].split() == [
            "10.0.1.9=100/400/1",
            "10.0.1.5=300/500/1",
            "10.0.1.7=300/400/1",
        ]

    def test_a_value_is_filled_to_exactly_256_characters_and_no_further(self):
        memory = {f"10.0.1.{i}": MissingSince(T0, T0) for i in range(1, 8)}  # 32 each
        memory["10.0.2.8"] = MissingSince(T0 + 1, 1, 123)  # 25: 7 * 32 + 7 + 25 == 256
        tags = pack(443, memory)
        assert [len(v) for v in tags.values()] == [256]
        memory["10.0.2.9"] = MissingSince(T0 + 2, 1, 1)
        assert [len(v.split()) for v in pack(443, memory).values()] == [8, 1]

    def test_a_record_that_would_make_257_characters_starts_a_new_tag(self):
        memory = {f"10.0.1.{i}": MissingSince(T0, T0) for i in range(1, 8)}  # 32 each
        memory["10.0.2.8"] = MissingSince(T0 + 1, 1, 1234)  # 26: one too many
        assert [len(v) for v in pack(443, memory).values()] == [230, 26]

    def test_rounding_to_whole_seconds_can_only_delay_a_retirement(self):
        assert encode_record("10.0.1.5", MissingSince(1000.2, 1060.8, 2)) == "10.0.1.5=1001/1060/2"


class TestReading:
    def test_the_older_one_record_per_tag_form_is_still_read(self):
        tags = {f"{TAG_PREFIX}443:10.0.1.5": "1000/1060", f"{TAG_PREFIX}443:fd00::1": "5/6"}
        assert decode(tags, 443).memory == {
            "10.0.1.5": MissingSince(1000, 1060, 1),
            "fd00::1": MissingSince(5, 6, 1),
        }

    def test_other_ports_and_foreign_tags_are_ignored(self):
        tags = {tag_key(9200, 1): "10.0.1.5=1/2/1", "Name": "x", "team": "search"}
        recalled = decode(tags, 443)
        assert recalled.memory == {} and recalled.unreadable == ()

    def test_unreadable_tags_under_our_prefix_are_reported_not_used(self):
        tags = {
            tag_key(443, 1): "yesterday",
            f"{TAG_PREFIX}abc:10.0.1.6": "1/2",
            tag_key(443, 2): "10.0.1.7=1/2/0",
            f"{TAG_PREFIX}443:10.0.1.8": "1/2/3/4",
        }
        recalled = decode(tags, 443)
        assert recalled.memory == {}
        assert set(recalled.unreadable) == set(tags)

    def test_another_ports_tags_do_not_hide_ours(self):
        tags = {tag_key(9200, 1): "10.0.9.9=1/2/1", tag_key(443, 1): "10.0.1.5=1/2/1"}
        assert decode(tags, 443).memory == {"10.0.1.5": MissingSince(1, 2, 1)}

    def test_an_ip_in_both_forms_keeps_its_earliest_sighting(self):
        tags = {tag_key(443, 1): "10.0.1.5=100/200/3", f"{TAG_PREFIX}443:10.0.1.5": "300/400"}
        assert decode(tags, 443).memory == {"10.0.1.5": MissingSince(100, 200, 3)}
        tags = {f"{TAG_PREFIX}443:10.0.1.5": "100/400", tag_key(443, 1): "10.0.1.5=300/400/3"}
        assert decode(tags, 443).memory == {"10.0.1.5": MissingSince(100, 400, 1)}

    def test_ipv6_records_are_read_in_canonical_form(self):
        tags = {tag_key(443, 1): "2001:0db8::1=5/6/1"}
        assert decode(tags, 443).memory == {"2001:db8::1": MissingSince(5, 6, 1)}


class TestChanges:
    def test_a_steady_memory_writes_nothing(self):
        memory = blue_green(8)
        todo = change(pack(443, memory), 443, memory)
        assert todo.add == {} and todo.remove == []

    def test_an_empty_memory_removes_every_tag_of_ours_for_the_port_and_nothing_else(self):
        tags = {
            **pack(443, blue_green(8)),
            **pack(9200, blue_green(2)),
            "team": "search",
            f"{TAG_PREFIX}443:10.0.1.5": "1/2",
        }
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
        memory = blue_green(13)
        todo = change(users, 443, memory)
        assert todo.free == 1 and todo.needed == 3 and todo.left_out == 13 - 6
        kept = decode(todo.add, 443).memory
        assert set(kept) == set(sorted(memory, key=lambda ip: memory[ip].first)[:6])

    def test_memory_that_exactly_fills_the_free_tags_is_all_kept(self):
        users = {f"user-{i}": "x" for i in range(MAX_TAGS - 2)}
        todo = change(users, 443, blue_green(12))
        assert (todo.free, todo.needed, todo.left_out, len(todo.add)) == (2, 2, 0, 2)

    def test_no_free_tag_at_all_writes_nothing_and_keeps_nothing(self):
        users = {f"user-{i}": "x" for i in range(MAX_TAGS)}
        todo = change(users, 443, blue_green(3))
        assert (todo.free, todo.add, todo.left_out) == (0, {}, 3)

    def test_tags_we_cannot_read_are_neither_removed_nor_reused(self):
        tags = {tag_key(443, 1): "garbage"}
        todo = change(tags, 443, {"10.0.1.5": MissingSince(T0, T0)}, [tag_key(443, 1)])
        assert todo.remove == [] and list(todo.add) == [tag_key(443, 2)]


class FakeStore:
    """A TagStore in memory that records every call, and can fail on demand."""

    def __init__(self, tags=None):
        self.groups = {"arn": dict(tags or {})}
        self.calls = []
        self.fail = False

    def tags(self, arn, *, deadline=None):
        self.calls.append(("tags", arn))
        return dict(self.groups.get(arn, {}))

    def tags_many(self, arns, *, deadline=None):
        self.calls.append(("tags_many", tuple(arns)))
        if self.fail:
            raise ProviderError("DescribeTags failed")
        return {arn: dict(self.groups.get(arn, {})) for arn in arns}

    def change_tags(self, arn, add, remove, *, deadline=None):
        self.calls.append(("change_tags", dict(add), list(remove)))
        if self.fail:
            raise ProviderError("AddTags failed")
        group = self.groups[arn]
        for key in remove:
            group.pop(key, None)
        group.update(add)


class TestTagRegistry:
    def test_tags_are_read_once_then_only_when_asked_fresh(self):
        store = FakeStore({tag_key(443, 1): "10.0.1.5=1/2/1"})
        registry = TagRegistry(store)
        assert registry.recall("arn", 443, fresh=False).memory == {
            "10.0.1.5": MissingSince(1, 2, 1)
        }
        registry.recall("arn", 443, fresh=False)
        assert store.calls == [("tags", "arn")]
        registry.recall("arn", 443, fresh=True)
        assert store.calls == [("tags", "arn")] * 2

    def test_a_save_writes_only_what_changed_and_remembers_what_it_wrote(self):
        store = FakeStore({"team": "search"})
        registry = TagRegistry(store)
        registry.recall("arn", 443, fresh=False)
        memory = {"10.0.1.5": MissingSince(1, 2, 1)}
        assert registry.save("arn", 443, memory) is True
        assert registry.save("arn", 443, memory) is False  # the cache knows it is there
        assert registry.recall("arn", 443, fresh=False).memory == memory
        assert store.calls == [
            ("tags", "arn"),
            ("change_tags", {tag_key(443, 1): "10.0.1.5=1/2/1"}, []),
        ]
        assert registry.save("arn", 443, {}) is True
        assert store.groups["arn"] == {"team": "search"}

    def test_a_failed_write_forgets_the_cache_so_the_next_recall_reads_again(self):
        store = FakeStore()
        registry = TagRegistry(store)
        registry.recall("arn", 443, fresh=False)
        store.fail = True
        with pytest.raises(ProviderError):
            registry.save("arn", 443, {"10.0.1.5": MissingSince(1, 2, 1)})
        store.fail = False
        registry.recall("arn", 443, fresh=False)
        assert [c[0] for c in store.calls] == ["tags", "change_tags", "tags"]

    def test_no_room_writes_what_fits_then_says_which_tags_are_tgsyncs(self):
        store = FakeStore({f"user-{i}": "x" for i in range(MAX_TAGS - 1)})
        registry = TagRegistry(store)
        registry.recall("arn", 443, fresh=False)
        with pytest.raises(TagSpaceExhausted) as caught:
            registry.save("arn", 443, blue_green(7))
        message = str(caught.value)
        assert "49 of ELB's 50 tags in use by others" in message
        assert "needs 2 tag(s) but has 1: 1 record(s) could not be kept" in message
        assert f"tgsync's own are tgsync:missing:* ({tag_key(443, 1)})" in message
        assert len(store.groups["arn"]) == MAX_TAGS

    def test_a_save_leaves_a_tag_it_cannot_read_alone(self):
        store = FakeStore({tag_key(443, 1): "not a record"})
        registry = TagRegistry(store)
        registry.recall("arn", 443, fresh=False)
        registry.save("arn", 443, {"10.0.1.5": MissingSince(1, 2, 1)})
        assert store.groups["arn"] == {
            tag_key(443, 1): "not a record",
            tag_key(443, 2): "10.0.1.5=1/2/1",
        }

    def test_the_cache_follows_a_save_that_removed_the_memory(self):
        store = FakeStore({tag_key(443, 1): "10.0.1.5=1/2/1"})
        registry = TagRegistry(store)
        registry.recall("arn", 443, fresh=False)
        registry.save("arn", 443, {})
        assert registry.recall("arn", 443, fresh=False).memory == {}
        assert registry.save("arn", 443, {"10.0.1.5": MissingSince(1, 2, 1)}) is True

    def test_forgetting_an_unknown_group_is_harmless(self):
        TagRegistry(FakeStore()).forget("never-seen")

    def test_prefetch_reads_unknown_groups_in_one_call_and_forgives_a_failure(self):
        store = FakeStore()
        store.groups["other"] = {tag_key(443, 1): "10.0.1.5=1/2/1"}
        registry = TagRegistry(store)
        registry.prefetch(["arn", "other"])
        registry.prefetch(["arn", "other"])  # both known now: no call
        assert registry.recall("other", 443, fresh=False).memory
        assert store.calls == [("tags_many", ("arn", "other"))]
        store.fail = True
        registry.forget("arn")
        registry.prefetch(["arn"])  # failed: each mapping reads its own later
        registry.recall("arn", 443, fresh=False)
        assert store.calls[-2:] == [("tags_many", ("arn",)), ("tags", "arn")]


def test_tags_read_elsewhere_become_the_cache():
    store = FakeStore()
    registry = TagRegistry(store)
    registry.remember({"arn": {tag_key(443, 1): "10.0.1.5=1/2/1"}})
    assert registry.recall("arn", 443, fresh=False).memory == {"10.0.1.5": MissingSince(1, 2, 1)}
    assert store.calls == []


def test_two_ports_of_one_group_saving_at_once_lose_no_update():
    import contextlib
    import threading

    from tgsync.plan import MissingSince
    from tgsync.registry import TagRegistry

    class SlowStore:
        """Tags of one group; a write takes a while, so two saves overlap."""

        def __init__(self):
            self.held: dict[str, str] = {}
            self.entered = threading.Barrier(2, timeout=0.2)

        def tags_many(self, arns, *, deadline=None):
            return {arn: dict(self.held) for arn in arns}

        def tags(self, arn, *, deadline=None):
            return dict(self.held)

        def change_tags(self, arn, add, remove, *, deadline=None):
            # Both saves inside at once, if nothing serialises them.
            with contextlib.suppress(threading.BrokenBarrierError):
                self.entered.wait()
            for key in remove:
                self.held.pop(key, None)
            self.held.update(add)

    store, arn = SlowStore(), "arn:aws:elasticloadbalancing:eu-west-1:1:targetgroup/t/1"
    registry = TagRegistry(store)
    registry.recall(arn, 443, fresh=True)
    saves = [
        threading.Thread(
            target=registry.save, args=(arn, port, {"10.0.1.5": MissingSince(100.0, 100.0, 1)})
        )
        for port in (443, 9200)
    ]
    for save in saves:
        save.start()
    for save in saves:
        save.join()
    # The cache holds both ports' records, as the group does (one update was lost before).
    cached = registry.recall(arn, 443, fresh=False)
    assert cached.memory and registry.recall(arn, 9200, fresh=False).memory
    assert set(store.held) == {"tgsync:missing:443:1", "tgsync:missing:9200:1"}


class TestOwnershipInTheRegistry:
    """retire=owned: records per owner, merged memory saves, ownership before memory."""

    A, B = "aaaaaaaa", "bbbbbbbb"

    def test_ownership_round_trips_and_leaves_other_owners_alone(self):
        store = FakeStore({"tgsync:owned:443:1": f"{self.B} 10.0.9.9"})
        registry = TagRegistry(store)
        registry.recall_owned("arn", 443, fresh=False)
        assert registry.save_owned("arn", 443, self.A, {"10.0.1.5", "10.0.2.5"})
        assert store.groups["arn"] == {
            "tgsync:owned:443:1": f"{self.B} 10.0.9.9",
            "tgsync:owned:443:2": f"{self.A} 10.0.1.5 10.0.2.5",
        }
        owned = registry.recall_owned("arn", 443, fresh=True)
        assert owned.mine(self.A) == {"10.0.1.5", "10.0.2.5"}
        assert not registry.save_owned("arn", 443, self.A, {"10.0.1.5", "10.0.2.5"})
        assert registry.save_owned("arn", 443, self.A, set())
        assert store.groups["arn"] == {"tgsync:owned:443:1": f"{self.B} 10.0.9.9"}

    def test_no_room_for_ownership_records_what_fits_and_names_the_rest(self):
        users = {f"team-{i}": "x" for i in range(MAX_TAGS - 1)}
        store = FakeStore({**users, "tgsync:owned:443:1": f"{self.A} 10.0.1.5"})
        registry = TagRegistry(store)
        registry.recall_owned("arn", 443, fresh=False)
        with pytest.raises(TagSpaceExhausted) as caught:
            registry.save_owned(
                "arn", 443, self.A, {"10.0.1.5"} | {f"255.255.{i}.255" for i in range(100, 116)}
            )
        message = str(caught.value)
        assert "255.255.115.255" in message and "tgsync:owned:443:1" in message
        assert "10.0.1.5," not in message  # already recorded: kept, not left out
        assert store.groups["arn"]["tgsync:owned:443:1"].startswith(f"{self.A} 10.0.1.5 ")

    def test_ownership_takes_the_room_of_memory_never_the_other_way_round(self):
        users = {f"team-{i}": "x" for i in range(MAX_TAGS - 1)}
        store = FakeStore(
            {**users, tag_key(443, 1): encode_record("10.0.7.7", MissingSince(T0, T0))}
        )
        registry = TagRegistry(store)
        registry.recall("arn", 443, fresh=False)
        registry.save_owned("arn", 443, self.A, {"10.0.1.5"})
        assert tag_key(443, 1) not in store.groups["arn"]
        assert store.groups["arn"]["tgsync:owned:443:1"] == f"{self.A} 10.0.1.5"
        with pytest.raises(TagSpaceExhausted) as caught:
            registry.save("arn", 443, {"10.0.7.7": MissingSince(T0, T0)})
        assert "tgsync:owned:* (tgsync:owned:443:1)" in str(caught.value)
        assert store.groups["arn"]["tgsync:owned:443:1"] == f"{self.A} 10.0.1.5"

    def test_a_save_with_a_planned_set_keeps_other_mappings_records(self):
        theirs, mine = MissingSince(T0, T0, 1), MissingSince(T0 + 5, T0 + 5, 1)
        store = FakeStore(pack(443, {"10.0.9.9": theirs, "10.0.1.5": mine}))
        registry = TagRegistry(store)
        registry.recall("arn", 443, fresh=False)
        registry.save("arn", 443, {}, planned={"10.0.1.5", "10.0.2.5"})
        assert decode(store.groups["arn"], 443).memory == {"10.0.9.9": theirs}
        registry.save("arn", 443, {})  # no planned set: the save is all there is
        assert decode(store.groups["arn"], 443).memory == {}

    def test_another_mapping_s_old_record_does_not_make_a_save_write(self):
        """Found by the lab's bounded tag writes (invariant 13): the other mapping's
        record, kept as stored and over a minute old, made every save write the tags."""
        theirs, mine = MissingSince(T0, T0, 1), MissingSince(T0, T0 + 50, 1)
        store = FakeStore(pack(443, {"10.0.9.9": theirs, "10.0.1.5": mine}))
        registry = TagRegistry(store)
        registry.recall("arn", 443, fresh=False)
        for now in (T0 + REFRESH_SECONDS + 10, T0 + REFRESH_SECONDS + 40):  # theirs is old
            assert not registry.save(
                "arn", 443, {"10.0.1.5": MissingSince(T0, now, 1)}, now=now, planned={"10.0.1.5"}
            )
        due = T0 + 50 + REFRESH_SECONDS  # its own record is due: written, theirs kept
        assert registry.save(
            "arn", 443, {"10.0.1.5": MissingSince(T0, due, 2)}, now=due, planned={"10.0.1.5"}
        )
        assert decode(store.groups["arn"], 443).memory["10.0.9.9"] == theirs
