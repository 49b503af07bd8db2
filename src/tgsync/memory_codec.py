"""The missing-since memory's tag codec (pure): records packed several to a tag value,
read back (the older one-record-per-tag form too), and the change a save writes within
ELB's limit of tags. :class:`tgsync.registry.TagRegistry` reads and writes the tags.
"""

from __future__ import annotations

import ipaddress
import itertools
import math
import re
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass

from tgsync.ownership import OWNED_PREFIX
from tgsync.plan import MissingSince

TAG_PREFIX = "tgsync:missing:"
#: Every tag key tgsync writes, as IAM patterns: the memory and the ownership records.
OWN_TAG_KEYS = (f"{TAG_PREFIX}*", f"{OWNED_PREFIX}*")
#: ELB's limits: tags per resource and characters per tag value.
MAX_TAGS = 50
MAX_VALUE_LENGTH = 256
#: How old a stored record's ``last`` may grow before it is written again.
REFRESH_SECONDS = 60.0
_DIGITS = re.compile(r"^[0-9]+$")  # ASCII only: "²" and "٣" are digits to str.isdigit


@dataclass(frozen=True, slots=True)
class Recalled:
    """Memory for one target group and port, plus tags we could not read."""

    memory: Mapping[str, MissingSince]
    unreadable: tuple[str, ...] = ()


def tag_key(port: int, slot: int) -> str:
    """The key of the ``slot``-th memory tag for ``port`` (from 1)."""
    return f"{TAG_PREFIX}{port}:{slot}"


def encode_record(ip: str, record: MissingSince) -> str:
    """One record, in whole epoch seconds rounded the safe way.

    ``first`` rounds up and ``last`` down: either can only delay a retirement.
    """
    return f"{ip}={math.ceil(record.first)}/{math.floor(record.last)}/{record.absent}"


def pack(
    port: int, memory: Mapping[str, MissingSince], skip: Set[str] = frozenset()
) -> dict[str, str]:
    """The tags that hold ``memory``: oldest records first, as many per value as fit.

    Keys in ``skip`` (tags under our prefix we could not read) are not reused.
    """
    values: list[str] = []
    for ip, record in sorted(memory.items(), key=lambda item: (item[1].first, item[0])):
        text = encode_record(ip, record)
        if values and len(values[-1]) + 1 + len(text) <= MAX_VALUE_LENGTH:
            values[-1] = f"{values[-1]} {text}"
        else:
            values.append(text)
    keys = (key for slot in itertools.count(1) if (key := tag_key(port, slot)) not in skip)
    return dict(zip(keys, values, strict=False))


def _decode_record(text: str, *, legacy_ip: str | None = None) -> tuple[str, MissingSince]:
    """``ip=first/last/absent`` (or a legacy ``first/last`` with the IP from the key)."""
    if legacy_ip is not None:
        ip, numbers = legacy_ip, text.split("/")
    else:
        ip, sep, rest = text.partition("=")
        numbers = rest.split("/")
        if not sep:
            raise ValueError(text)
    ipaddress.ip_address(ip)
    if legacy_ip is not None:
        numbers.append("1")  # the older form counted no answers: one
    if len(numbers) != 3 or not all(_DIGITS.match(n) for n in numbers):  # noqa: PLR2004
        raise ValueError(text)
    first, last, absent = (int(n, 10) for n in numbers)
    if absent < 1:
        raise ValueError(text)
    return ip, MissingSince(float(first), float(last), absent)


def ours(tags: Mapping[str, str], port: int) -> list[str]:
    """The keys of every memory tag for ``port``, packed or legacy."""
    prefix = f"{TAG_PREFIX}{port}:"
    return sorted(key for key in tags if key.startswith(prefix))


def decode(tags: Mapping[str, str], port: int) -> Recalled:
    """Read our records for ``port`` from a target group's tags."""
    memory: dict[str, MissingSince] = {}
    unreadable: list[str] = []
    for key, value in tags.items():
        if not key.startswith(TAG_PREFIX):
            continue
        port_text, _, suffix = key[len(TAG_PREFIX) :].partition(":")
        if not _DIGITS.match(port_text) or not suffix:
            unreadable.append(key)
            continue
        if int(port_text) != port:
            continue  # another port's memory: another mapping's business
        try:
            if _DIGITS.match(suffix):
                records = [_decode_record(text) for text in value.split()]
            else:
                records = [_decode_record(value, legacy_ip=suffix)]
        except ValueError:
            unreadable.append(key)
            continue
        for ip, record in records:
            canonical = str(ipaddress.ip_address(ip))
            older = memory.get(canonical)
            if older is None or record.first < older.first:
                memory[canonical] = record
    return Recalled(memory, tuple(sorted(unreadable)))


def must_write(
    stored: Mapping[str, MissingSince], new: Mapping[str, MissingSince], now: float
) -> bool:
    """True if ``new`` differs from what the tags hold in a way that must be written:
    an IP added or gone, a record restarted, or a stored ``last`` due for a refresh."""
    if set(stored) != set(new):
        return True
    return any(
        math.ceil(new[ip].first) != stored[ip].first or now - stored[ip].last >= REFRESH_SECONDS
        for ip in new
    )


@dataclass(frozen=True, slots=True)
class TagChange:
    """What a save writes: keys to remove (first), tags to add, records left out."""

    add: dict[str, str]
    remove: list[str]
    left_out: int = 0
    needed: int = 0
    free: int = 0


def change(
    tags: Mapping[str, str],
    port: int,
    new: Mapping[str, MissingSince],
    unreadable: Sequence[str] = (),
) -> TagChange:
    """Turn the group's ``tags`` into ones holding ``new`` for ``port``, within ELB's limit.

    Tags we cannot read are neither removed nor reused, and count against the limit.
    """
    keep_alone = set(unreadable)
    mine = [key for key in ours(tags, port) if key not in keep_alone]
    free = MAX_TAGS - (len(tags) - len(mine))
    wanted = pack(port, new, keep_alone)
    left_out = 0
    if len(wanted) > max(free, 0):
        kept = dict(list(wanted.items())[: max(free, 0)])
        left_out = sum(len(v.split()) for k, v in wanted.items() if k not in kept)
        needed, wanted = len(wanted), kept
    else:
        needed = len(wanted)
    add = {k: v for k, v in wanted.items() if tags.get(k) != v}
    remove = [k for k in mine if k not in wanted]
    return TagChange(add, remove, left_out, needed, max(free, 0))
