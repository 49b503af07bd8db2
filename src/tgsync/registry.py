"""Registry: when each registered IP was first seen missing from DNS.

The memory lives in the target group's own tags, so a fresh or replaced function, a
second region or a crashed run carries on where the last one stopped, with no extra
infrastructure. One tag per IP and port::

    tgsync:missing:<port>:<ip> = <first-missing epoch>/<last-confirmed epoch>

Tags are read once per process and then only while something is missing, and
written only when the memory changes, so a steady cycle costs nothing here. Tags
under our prefix that cannot be parsed are reported and left alone, never deleted.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from tgsync.plan import Missing
from tgsync.provider import Provider

TAG_PREFIX = "tgsync:missing:"


@dataclass(frozen=True, slots=True)
class Recalled:
    """Memory for one target group and port, plus tags we could not read."""

    memory: Mapping[str, Missing]
    unreadable: tuple[str, ...] = ()


def tag_key(port: int, ip: str) -> str:
    """The tag key holding the memory of ``ip`` on ``port``."""
    return f"{TAG_PREFIX}{port}:{ip}"


def encode(record: Missing) -> str:
    """The tag value of a record, in whole epoch seconds rounded the safe way.

    ``first`` rounds up and ``last`` down: either can only delay a retirement.
    """
    return f"{math.ceil(record.first)}/{math.floor(record.last)}"


def decode(tags: Mapping[str, str], port: int) -> Recalled:
    """Read our records for ``port`` from a target group's tags."""
    memory: dict[str, Missing] = {}
    unreadable: list[str] = []
    prefix = f"{TAG_PREFIX}{port}:"
    for key, value in tags.items():
        if not key.startswith(TAG_PREFIX):
            continue
        port_text, _, ip = key[len(TAG_PREFIX):].partition(":")
        if not port_text.isdigit() or not ip:
            unreadable.append(key)
            continue
        if not key.startswith(prefix):
            continue  # another port's memory: another mapping's business
        first, _, last = value.partition("/")
        try:
            memory[ip] = Missing(first=float(int(first)), last=float(int(last)))
        except ValueError:
            unreadable.append(key)
    return Recalled(memory, tuple(sorted(unreadable)))


def diff(port: int, old: Mapping[str, Missing], new: Mapping[str, Missing]
         ) -> tuple[dict[str, str], list[str]]:
    """The tags to write and the keys to remove to turn ``old`` into ``new``."""
    add = {tag_key(port, ip): encode(rec) for ip, rec in new.items()
           if old.get(ip) is None or encode(old[ip]) != encode(rec)}
    remove = [tag_key(port, ip) for ip in old if ip not in new]
    return add, remove


class TagRegistry:
    """Missing-since memory kept in target group tags, cached for the process."""

    def __init__(self, provider: Provider) -> None:
        self._provider = provider
        self._cache: dict[tuple[str, int], Mapping[str, Missing]] = {}
        self._lock = threading.Lock()

    def recall(self, arn: str, port: int, *, something_missing: bool) -> Recalled:
        """The memory, read from tags on first use and whenever an IP is missing."""
        with self._lock:
            cached = self._cache.get((arn, port))
        if cached is not None and not something_missing:
            return Recalled(cached)
        recalled = decode(self._provider.tags(arn), port)
        with self._lock:
            self._cache[(arn, port)] = recalled.memory
        return recalled

    def save(self, arn: str, port: int, old: Mapping[str, Missing],
             new: Mapping[str, Missing]) -> bool:
        """Write what changed; return True if any tag call was made."""
        add, remove = diff(port, old, new)
        if add or remove:
            self._provider.change_tags(arn, add, remove)
        with self._lock:
            self._cache[(arn, port)] = dict(new)
        return bool(add or remove)

    def forget(self, arn: str) -> None:
        """Drop the cache for a target group, e.g. after a failed tag write."""
        with self._lock:
            for key in [k for k in self._cache if k[0] == arn]:
                del self._cache[key]
