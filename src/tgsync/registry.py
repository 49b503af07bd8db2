"""Registry: when each registered IP was first seen missing from DNS.

The memory lives in the target group's own tags, so a fresh or replaced function, a
second region or a crashed run carries on where the last one stopped, with no extra
infrastructure. Records are packed several to a tag, because ELB allows only 50 tags
per group and the user's own count against them::

    tgsync:missing:<port>:<n> = <ip>=<first>/<last>/<absent> <ip>=<first>/<last>/<absent> ...

``n`` counts from 1; a value holds at most 256 characters (ELB's limit), which is six
IPv4 or four IPv6 records, so a blue/green of 30 nodes needs 5 to 8 tags. The older
one-record-per-tag form (``tgsync:missing:<port>:<ip> = <first>/<last>``) is still read
and is replaced on the next write.

Tags are read once per process and then only while something is missing, and written
only when a record must move: a new record, a record gone, or a record whose stored
``last`` is :data:`REFRESH_SECONDS` old (it must be confirmed well inside the planner's
300 s continuity window). So a steady cycle costs nothing here, and waiting out the
stale period (a WAIT only the timer ends, followed every few seconds) writes a group's
tags at most once a minute. A record not refreshed only counts its absence later,
which can only delay a retirement. Tags under our
prefix that cannot be parsed are reported and left alone, never deleted. When the
group has no room left, the oldest records are kept (they are nearest to their
retirement), the rest start counting again next cycle (which can only delay a
retirement), and :class:`TagSpaceExhausted` says which tags are tgsync's.

**Several mappings on one port** (``retire=owned``): the memory records of a port are
shared, so a mapping's save merges: records of IPs outside the set it planned on are
kept as stored, the rest replaced (see :meth:`TagRegistry.save`).

The codec (packing, reading, the change a save writes) is :mod:`tgsync.memory_codec`.

**Ownership** (``retire=owned``, see :mod:`tgsync.ownership`) is kept in
``tgsync:owned:<port>:<n>`` tags. The write order makes a crash safe: ownership of new
IPs is recorded *before* RegisterTargets (a recorded IP that never got registered is
harmless: not on the group, nothing to retire, and dropped next cycle because it is
neither registered nor in the answer), and dropped only *after* a successful
DeregisterTargets (a crash in between leaves a retired IP recorded, dropped the same
way). An IP whose record could not be written is not registered (see
:mod:`tgsync.apply`, which owns the write order), so no target of ours is ever unrecorded.

**The tag room.** Ownership and memory share what the user's tags leave of ELB's 50,
and ownership comes first: a memory tag is given up to make room for an ownership
record (which only delays a retirement), never the other way round. With ``U`` user
tags and ``M`` memory tags in use, ``50 - U - M`` ownership tags fit, each holding one
owner's 15 IPv4 addresses at least (``255.255.255.255`` spellings; 20 of the usual
``10.0.123.45``) or 6 IPv6, so at least ``(50 - U - M) * 15`` IPv4 targets: 10 user
tags leave room for 600 with no memory, and a mapping of 30 nodes needs 2 ownership
tags, plus 5 to 8 memory tags while a blue/green's old nodes wait. Each mapping on a
shared port starts its own tags.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence, Set
from typing import Protocol

from tgsync.deadline import NONE, Deadline
from tgsync.errors import ProviderError
from tgsync.memory_codec import MAX_TAGS, TAG_PREFIX, Recalled, change, decode, must_write, ours
from tgsync.ownership import OWNED_PREFIX, Owned, change_owned, decode_owned
from tgsync.plan import MissingSince
from tgsync.signatures import Signatures


class TagStore(Protocol):
    """The tag operations the registry needs. Errors are ``ProviderError``."""

    def tags(self, arn: str, *, deadline: Deadline = ...) -> dict[str, str]:
        """The group's tags."""
        ...

    def tags_many(
        self, arns: Sequence[str], *, deadline: Deadline = ...
    ) -> dict[str, dict[str, str]]:
        """The tags of many groups, by ARN."""
        ...

    def change_tags(
        self, arn: str, add: Mapping[str, str], remove: Sequence[str], *, deadline: Deadline = ...
    ) -> None:
        """Remove the keys in ``remove``, then add or overwrite ``add``."""
        ...


class TagSpaceExhausted(ProviderError):
    """The group's tags leave too little room for tgsync's memory."""


class OwnershipNotRecorded(TagSpaceExhausted):
    """Some IPs' ownership could not be recorded (``left_out``): they are not registered
    until it is."""

    def __init__(self, message: str, *, left_out: frozenset[str], **fields: str) -> None:
        super().__init__(message, **fields)
        self.left_out = left_out


class TagRegistry:
    """Missing-since memory kept in target group tags, cached for the process."""

    def __init__(self, store: TagStore, signatures: Signatures | None = None) -> None:
        self._store = store
        #: With a record key: every ownership value written is signed, every one read
        #: verified (see :mod:`tgsync.signatures`).
        self.signatures = signatures
        self._tags: dict[str, dict[str, str]] = {}
        self._reads: dict[str, int] = {}
        self._lock = threading.Lock()
        # Two ports of one group save one set of tags: their saves take turns.
        self._saving: dict[str, threading.Lock] = {}
        # Mappings sharing a group and port read, plan and write ownership in turns.
        self._turns: dict[tuple[str, int], threading.Lock] = {}

    def turn(self, arn: str, port: int) -> threading.Lock:
        """The lock that mappings sharing ``arn`` and ``port`` hold from reading their
        ownership to writing it, so two releasing one IP at once cannot leak it."""
        with self._lock:
            return self._turns.setdefault((arn, port), threading.Lock())

    def prefetch(self, arns: Sequence[str], *, deadline: Deadline = NONE) -> None:
        """Read the tags of many groups in batches; best effort (a cold start)."""
        with self._lock:
            unknown = [arn for arn in arns if arn not in self._tags]
        if not unknown:
            return
        try:
            found = self._store.tags_many(unknown, deadline=deadline)
        except ProviderError:
            return  # each mapping reads, and reports, its own tags
        with self._lock:
            self._tags.update({arn: found.get(arn, {}) for arn in unknown})

    def remember(self, tags: Mapping[str, Mapping[str, str]]) -> None:
        """Take tags read elsewhere (a discovery listing) as the groups' current tags."""
        with self._lock:
            self._tags.update({arn: dict(found) for arn, found in tags.items()})

    def keep_only(self, arns: Set[str]) -> None:
        """Forget the tags of groups no longer kept (bounded memory over days)."""
        with self._lock:
            for arn in [a for a in self._tags if a not in arns]:
                del self._tags[arn]
            for arn in [a for a in self._reads if a not in arns]:
                del self._reads[arn]
        if self.signatures is not None:
            self.signatures.keep_only(arns)

    def recall(self, arn: str, port: int, *, fresh: bool, deadline: Deadline = NONE) -> Recalled:
        """The memory, read from tags on first use and whenever ``fresh`` is asked."""
        return decode(self._read(arn, fresh=fresh, deadline=deadline), port)

    def recall_owned(self, arn: str, port: int, *, fresh: bool, deadline: Deadline = NONE) -> Owned:
        """Every owner's records for the port, read like :meth:`recall`; with a record key,
        a value whose MAC does not verify is unverified (raises ``AwsError`` when KMS
        cannot say)."""
        verify = None if self.signatures is None else self.signatures.verifier(arn, port, deadline)
        return decode_owned(self._read(arn, fresh=fresh, deadline=deadline), port, verify)

    def _read(self, arn: str, *, fresh: bool, deadline: Deadline) -> dict[str, str]:
        """The group's tags: cached, or read on first use and whenever ``fresh``."""
        with self._lock:
            cached = self._tags.get(arn)
        if cached is None or fresh:
            cached = self._store.tags(arn, deadline=deadline)
            with self._lock:
                self._tags[arn] = cached
                self._reads[arn] = self._reads.get(arn, 0) + 1
        return cached

    def reads(self, arn: str) -> int:
        """How many times this process read the group's tags: a caller that saw the
        count move since a moment knows the cache is at least that fresh."""
        with self._lock:
            return self._reads.get(arn, 0)

    def cached_owned(self, arn: str, port: int) -> Owned:
        """The ownership records as last read or written (none if never read)."""
        with self._lock:
            return decode_owned(self._tags.get(arn, {}), port)

    def save_owned(
        self, arn: str, port: int, owner: str, ips: Set[str], *, deadline: Deadline = NONE
    ) -> bool:
        """Record ``ips`` as ``owner``'s on the port (nothing: drop its records); return
        True if any tag call was made.

        Raises :class:`OwnershipNotRecorded` after writing what fits (records already
        stored first), naming the IPs left out.
        """
        with self._lock:
            turn = self._saving.setdefault(arn, threading.Lock())
        with turn:
            with self._lock:
                tags = dict(self._tags.get(arn, {}))
            unreadable = set(decode(tags, port).unreadable)
            evictable = [k for k in ours(tags, port) if k not in unreadable]
            sign = None if self.signatures is None else self.signatures.signer(arn, port, deadline)
            todo = change_owned(
                tags, port, owner, ips, max_tags=MAX_TAGS, memory_keys=evictable, sign=sign
            )
            self._write(arn, todo.add, todo.remove, deadline)
        if todo.left_out:
            after = {k: v for k, v in {**tags, **todo.add}.items() if k not in todo.remove}
            left = ", ".join(sorted(todo.left_out))
            raise OwnershipNotRecorded(
                f"target group {arn} has too few free tags (ELB allows {MAX_TAGS}) to record "
                f"{left} as registered by tgsync, so they are not registered until their "
                f"ownership can be recorded. Remove tags you do not need; tgsync's own are "
                f"{OWNED_PREFIX}* and {TAG_PREFIX}* ({_tgsync_keys(after)}).",
                left_out=frozenset(todo.left_out),
                operation="AddTags",
                target_group=arn,
                code="TooManyTags",
            )
        return bool(todo.add or todo.remove)

    def save(
        self,
        arn: str,
        port: int,
        new: Mapping[str, MissingSince],
        *,
        now: float | None = None,
        planned: Set[str] | None = None,
        deadline: Deadline = NONE,
    ) -> bool:
        """Write what must be written (see :func:`~tgsync.memory_codec.must_write`;
        every change when ``now`` is not given); return True if any tag call was made.

        ``planned``: the IPs this mapping planned on, when others share the port; the
        stored records of every other IP are kept (``None``: ``new`` is all there is).
        Raises :class:`TagSpaceExhausted` after writing what fits, when the group's
        other tags leave too little room.
        """
        with self._lock:
            turn = self._saving.setdefault(arn, threading.Lock())
        with turn:
            return self._save(arn, port, new, now=now, planned=planned, deadline=deadline)

    def _save(
        self,
        arn: str,
        port: int,
        new: Mapping[str, MissingSince],
        *,
        now: float | None,
        planned: Set[str] | None,
        deadline: Deadline,
    ) -> bool:
        with self._lock:
            tags = dict(self._tags.get(arn, {}))
        stored = decode(tags, port)
        judged, mapping_new = stored.memory, new
        if planned is not None:
            # Another mapping's records are kept as stored, and are its to refresh: judged
            # here, an old one it cannot refresh (its lookup failing) would make every
            # save write the same tags again.
            theirs = {
                ip: r for ip, r in stored.memory.items() if ip not in planned and ip not in new
            }
            judged = {ip: r for ip, r in stored.memory.items() if ip not in theirs}
            new = {**theirs, **new}
        if now is not None and not must_write(judged, mapping_new, now):
            return False
        todo = change(tags, port, new, stored.unreadable)
        self._write(arn, todo.add, todo.remove, deadline)
        if todo.left_out:
            mine = ", ".join(ours({**tags, **todo.add}, port)) or "none"
            raise TagSpaceExhausted(
                f"target group {arn} has {MAX_TAGS - todo.free} of ELB's {MAX_TAGS} tags in "
                f"use by others, so tgsync's memory of IPs missing from DNS needs "
                f"{todo.needed} tag(s) but has {todo.free}: {todo.left_out} record(s) could "
                "not be kept and their healthy IPs are not retired until tags are freed. "
                f"Remove tags you do not need; tgsync's own are {TAG_PREFIX}* ({mine})"
                + _and_ownership(tags)
                + ".",
                operation="AddTags",
                target_group=arn,
                code="TooManyTags",
            )
        return bool(todo.add or todo.remove)

    def _write(
        self, arn: str, add: Mapping[str, str], remove: Sequence[str], deadline: Deadline
    ) -> None:
        """Change the group's tags and the cache; on failure forget the cache."""
        if not add and not remove:
            return
        try:
            self._store.change_tags(arn, add, remove, deadline=deadline)
        except ProviderError:
            self.forget(arn)  # what was written is unknown: read it next time
            raise
        with self._lock:  # applied to the cache as it is now, not as it was read
            current = self._tags.setdefault(arn, {})
            for gone in remove:
                current.pop(gone, None)
            current.update(add)

    def forget(self, arn: str) -> None:
        """Drop what is cached for a group, e.g. after a failed tag write."""
        with self._lock:
            self._tags.pop(arn, None)


def _tgsync_keys(tags: Mapping[str, str]) -> str:
    """tgsync's tag keys, for an error message."""
    return ", ".join(sorted(k for k in tags if k.startswith((TAG_PREFIX, OWNED_PREFIX)))) or "none"


def _and_ownership(tags: Mapping[str, str]) -> str:
    """The ownership tags too, when there are any (they come before memory)."""
    owned = sorted(k for k in tags if k.startswith(OWNED_PREFIX))
    return (
        f" and, recording what it registered (kept before memory), {OWNED_PREFIX}* "
        f"({', '.join(owned)})"
        if owned
        else ""
    )
