"""Ownership records: which targets each mapping registered, for ``TGSYNC_RETIRE=owned``.

Pure: the tag codec and the arithmetic of the tag room; :mod:`tgsync.registry` reads
and writes the tags. A mapping is named by its *owner id*, the first 8 hex digits of
the SHA-256 of its hostname (two mappings of one group and port differ by hostname),
and its records are packed like the memory records, several IPs to a tag::

    tgsync:owned:<port>:<n> = <owner-id> <ip> <ip> ...

One owner per value, as many values per owner as its IPs need, ``n`` from 1, at most
256 characters a value (ELB's limit): 21 IPv4 or 6 to 9 IPv6 addresses a tag. Decoding
is strict (ASCII digits, canonical IP spellings, a lower-case hex owner id): a tag under
the prefix that does not read is reported and left alone, never rewritten, and any
address in it counts as someone else's (never retired by us, never "ours only").

**Signed records** (``TGSYNC_RECORD_KEY``): a tag is something anyone with
``elasticloadbalancing:AddTags`` may write, and an owner id is a public function of the
hostname. With a record key, every value tgsync writes ends in a MAC over the group,
the port, the owner and the IPs (:func:`record_message`)::

    tgsync:owned:<port>:<n> = <owner-id> <ip> <ip> ... mac=<base64url HMAC-SHA-256>

and a value whose MAC does not verify is *unverified*: not trusted at all (its IPs
are nobody's: foreign to every mapping, never retired, and it holds nothing back), and
reported. Without a key, a MAC is ignored and every readable value is trusted.
"""

from __future__ import annotations

import hashlib
import ipaddress
import itertools
import re
from collections.abc import Callable, Iterable, Mapping, Set
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tgsync.model import Retire

if TYPE_CHECKING:
    from collections.abc import Sequence

    from tgsync.config import MappingConfig

OWNED_PREFIX = "tgsync:owned:"
#: ``Retire.OWNED``, by its old name (the test lab still reads it).
OWNED = Retire.OWNED
#: How a value's MAC begins, and the room it takes at the end of a value (with its space):
#: ``mac=`` and 43 characters of unpadded base64url (32 bytes of HMAC-SHA-256).
MAC_PREFIX = "mac="
MAC_ROOM = 1 + len(MAC_PREFIX) + 43

#: How :class:`Owned` names the owner of an address found in an unreadable tag.
UNREADABLE = "an unreadable tag"
MAX_VALUE_LENGTH = 256
_OWNER = re.compile(r"^[0-9a-f]{8}$")
_NUMBER = re.compile(r"^[1-9][0-9]*$")  # ASCII only, no leading zero: one spelling


def owner_id(hostname: str) -> str:
    """The short stable id of the mapping that keeps ``hostname`` (case and a trailing
    dot do not matter)."""
    normalized = hostname.strip().rstrip(".").lower()
    return hashlib.sha256(normalized.encode()).hexdigest()[:8]


def owner_of(mapping: MappingConfig) -> str | None:
    """The mapping's owner id when it retires only what it registered (else ``None``)."""
    return owner_id(mapping.hostname) if mapping.retire is Retire.OWNED else None


def owned_key(port: int, slot: int) -> str:
    """The key of the ``slot``-th ownership tag for ``port`` (from 1)."""
    return f"{OWNED_PREFIX}{port}:{slot}"


def _sort_key(ip: str) -> tuple[int, int]:
    address = ipaddress.ip_address(ip)
    return (address.version, int(address))


@dataclass(frozen=True, slots=True)
class Owned:
    """The ownership records of one group and port: IPs by owner id, plus the keys of
    tags that did not read (their addresses are owned by :data:`UNREADABLE`)."""

    by_owner: Mapping[str, frozenset[str]] = field(default_factory=dict)
    unreadable: tuple[str, ...] = ()
    #: Which key holds each owner's values, by owner id.
    keys: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: Keys of values whose MAC did not verify (a record key is set): not trusted.
    unverified: tuple[str, ...] = ()

    def mine(self, owner: str) -> frozenset[str]:
        """The IPs ``owner`` recorded."""
        return self.by_owner.get(owner, frozenset())

    def others(self, owner: str) -> dict[str, frozenset[str]]:
        """Every IP another owner (or an unreadable tag) holds, with those owners."""
        found: dict[str, set[str]] = {}
        for other, ips in self.by_owner.items():
            if other != owner:
                for ip in ips:
                    found.setdefault(ip, set()).add(other)
        return {ip: frozenset(owners) for ip, owners in found.items()}


def _read_value(value: str) -> tuple[str, list[str], str | None]:
    """``<owner> <ip> <ip> ... [mac=<mac>]``, strictly; raises ValueError."""
    owner, *ips = value.split(" ")
    mac = ips.pop()[len(MAC_PREFIX) :] if ips and ips[-1].startswith(MAC_PREFIX) else None
    if not _OWNER.match(owner) or not ips or mac == "":
        raise ValueError(value)
    for ip in ips:
        if str(ipaddress.ip_address(ip)) != ip:  # one spelling: 10.0.0.1, 2001:db8::1
            raise ValueError(value)
    return owner, ips, mac


def record_message(arn: str, port: int, owner: str, ips: Iterable[str]) -> bytes:
    """What a value's MAC covers: the group, the port, the owner and the IPs (in the
    value's order), so that a value copied to another group, port or owner, or with an
    IP more or less, does not verify."""
    return "\n".join(("tgsync:owned/1", arn, str(port), owner, " ".join(ips))).encode()


def _addresses_in(value: str) -> set[str]:
    """Whatever reads as an address in an unreadable value: someone's, we do not know
    whose."""
    found = set()
    for token in value.split():
        try:
            found.add(str(ipaddress.ip_address(token)))
        except ValueError:
            continue
    return found


def decode_owned(
    tags: Mapping[str, str],
    port: int,
    verify: Callable[[str, tuple[str, ...], str | None], bool] | None = None,
) -> Owned:
    """Read every owner's records for ``port`` from a group's tags; with ``verify`` (a
    record key is set), a value whose MAC it rejects is unverified, not trusted."""
    by_owner: dict[str, set[str]] = {}
    keys: dict[str, list[str]] = {}
    unreadable: list[str] = []
    unverified: list[str] = []
    for key, value in tags.items():
        if not key.startswith(OWNED_PREFIX):
            continue
        port_text, _, slot = key[len(OWNED_PREFIX) :].partition(":")
        if not _NUMBER.match(port_text) or not _NUMBER.match(slot):
            unreadable.append(key)
            continue
        if int(port_text) != port:
            continue  # another port's records: other mappings' business
        try:
            owner, ips, mac = _read_value(value)
        except ValueError:
            if verify is not None:  # not even readable: trusted even less
                unverified.append(key)
                continue
            unreadable.append(key)
            by_owner.setdefault(UNREADABLE, set()).update(_addresses_in(value))
            continue
        if verify is not None and not verify(owner, tuple(ips), mac):
            unverified.append(key)
            continue
        by_owner.setdefault(owner, set()).update(ips)
        keys.setdefault(owner, []).append(key)
    return Owned(
        {o: frozenset(ips) for o, ips in by_owner.items() if ips},
        tuple(sorted(unreadable)),
        {o: tuple(sorted(k)) for o, k in keys.items()},
        tuple(sorted(unverified)),
    )


def pack_values(
    owner: str, ips: Iterable[str], first: Set[str] = frozenset(), *, room: int = MAX_VALUE_LENGTH
) -> list[str]:
    """``owner``'s IPs as tag values of at most ``room`` characters; those in ``first``
    (already recorded) come first, so that a lack of room leaves out new records, never
    old ones."""
    ordered = sorted(set(ips), key=lambda ip: (ip not in first, _sort_key(ip)))
    values: list[str] = []
    for ip in ordered:
        if values and len(values[-1]) + 1 + len(ip) <= room:
            values[-1] = f"{values[-1]} {ip}"
        else:
            values.append(f"{owner} {ip}")
    return values


@dataclass(frozen=True, slots=True)
class OwnedChange:
    """What a save of one owner's records writes: keys to remove, tags to add, the
    IPs that did not fit, and the memory tags given up to make room."""

    add: dict[str, str]
    remove: list[str]
    left_out: frozenset[str] = frozenset()
    evicted: tuple[str, ...] = ()


def change_owned(
    tags: Mapping[str, str],
    port: int,
    owner: str,
    ips: Iterable[str],
    *,
    max_tags: int,
    memory_keys: Iterable[str] = (),
    sign: Callable[[str], str] | None = None,
) -> OwnedChange:
    """Turn ``tags`` into ones recording ``ips`` as ``owner``'s on ``port``.

    Only ``owner``'s own tags are rewritten; other owners' and unreadable tags are
    neither touched nor reused. Ownership comes before memory: when the room left by
    every other tag is short, tags in ``memory_keys`` (the newest first) are given up,
    which can only delay a retirement. ``sign`` (a record key is set) appends a value's
    MAC to it; without it a value carries none.
    """
    stored = decode_owned(tags, port)
    mine = list(stored.keys.get(owner, ()))
    values = pack_values(
        owner, ips, stored.mine(owner), room=MAX_VALUE_LENGTH - (MAC_ROOM if sign else 0)
    )
    if sign is not None:
        values = [sign(value) for value in values]
    taken = {k for k in tags if k.startswith(f"{OWNED_PREFIX}{port}:")} - set(mine)
    slots = (k for n in itertools.count(1) if (k := owned_key(port, n)) not in taken)
    # Reuse our own keys first (in slot order), so an unchanged record writes nothing.
    order = sorted(mine, key=lambda k: int(k.rsplit(":", 1)[1]))
    fresh = list(
        itertools.islice((k for k in slots if k not in mine), max(0, len(values) - len(order)))
    )
    keys = (order + fresh)[: len(values)]
    free = max_tags - (len(tags) - len(mine))
    evictable = sorted(
        memory_keys,
        key=lambda k: int(k.rsplit(":", 1)[1]) if _NUMBER.match(k.rsplit(":", 1)[1]) else 0,
        reverse=True,
    )
    evicted: list[str] = []
    while len(values) > free and evictable:
        evicted.append(evictable.pop(0))
        free += 1
    kept = values[: max(free, 0)]
    left_out = frozenset(
        ip
        for value in values[len(kept) :]
        for ip in value.split()[1:]
        if not ip.startswith(MAC_PREFIX)
    )
    wanted = dict(zip(keys, kept, strict=False))
    add = {k: v for k, v in wanted.items() if tags.get(k) != v}
    remove = [k for k in mine if k not in wanted] + evicted
    return OwnedChange(add, remove, left_out, tuple(evicted))


# --------------------------------------------------------------- sharing a group


def may_share(one: MappingConfig, other: MappingConfig) -> bool:
    """True if two mappings may keep one group and port: each retires only what it
    registered, and their hostnames differ."""
    return (
        one.retire is Retire.OWNED
        and other.retire is Retire.OWNED
        and owner_id(one.hostname) != owner_id(other.hostname)
    )


def clashes(
    mappings: Sequence[MappingConfig], group_port: Callable[[str], int | None]
) -> dict[int, str]:
    """Mappings that keep the same target group on the same port, by index, with why.

    Two such mappings would undo each other's work (each treats the other's IPs as
    missing), so every one of them is refused, unless each retires only what it
    registered (``retire=owned``) and their hostnames differ: then they share the
    group. ``group_port`` gives a group's own port, which an unset ``port`` means, or
    ``None`` when it is not known: then only explicit ports are compared.
    """
    by_key: dict[tuple[str, int], list[int]] = {}
    for index, mapping in enumerate(mappings):
        port = mapping.port or group_port(mapping.target_group_arn)
        if port is not None:
            by_key.setdefault((mapping.target_group_arn, port), []).append(index)
    refused: dict[int, str] = {}
    for (_, port), indexes in by_key.items():
        if len(indexes) == 1:
            continue
        name = mappings[indexes[0]].target_group_name
        if all(mappings[i].retire is Retire.OWNED for i in indexes):
            by_host: dict[str, list[int]] = {}
            for i in indexes:
                by_host.setdefault(owner_id(mappings[i].hostname), []).append(i)
            for same in (group for group in by_host.values() if len(group) > 1):
                where = " and ".join(mappings[i].source for i in same)
                for index in same:
                    refused[index] = (
                        f"{where} keep the same hostname in the same target group ({name}) "
                        f"on the same port ({port}): keep one of them"
                    )
            continue
        where = " and ".join(mappings[i].source for i in indexes)
        for index in indexes:
            refused[index] = (
                f"{where} keep the same target group ({name}) on the same port ({port}; an "
                "unset port means the group's own) and would undo each other's work, so "
                "none of them is synced: remove all but one, give each its own port, or "
                "give both retire=owned to share a group"
            )
    return refused
