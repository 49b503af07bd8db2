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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tgsync.errors import ProviderError
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
        self._tags: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()

    def prefetch(self, arns: Sequence[str]) -> None:
        """Read the tags of many groups in batches; best effort (a cold start)."""
        with self._lock:
            unknown = [arn for arn in arns if arn not in self._tags]
        if not unknown:
            return
        try:
            found = self._provider.tags_many(unknown)
        except ProviderError:
            return  # each mapping reads, and reports, its own tags
        with self._lock:
            self._tags.update({arn: found.get(arn, {}) for arn in unknown})

    def recall(self, arn: str, port: int, *, something_missing: bool) -> Recalled:
        """The memory, read from tags on first use and whenever an IP is missing."""
        with self._lock:
            cached = self._tags.get(arn)
        if cached is None or something_missing:
            cached = self._provider.tags(arn)
            with self._lock:
                self._tags[arn] = cached
        return decode(cached, port)

    def save(self, arn: str, port: int, old: Mapping[str, Missing],
             new: Mapping[str, Missing]) -> bool:
        """Write what changed; return True if any tag call was made."""
        add, remove = diff(port, old, new)
        if not (add or remove):
            return False
        self._provider.change_tags(arn, add, remove)
        with self._lock:
            tags = {k: v for k, v in self._tags.get(arn, {}).items() if k not in remove}
            self._tags[arn] = {**tags, **add}
        return True

    def forget(self, arn: str) -> None:
        """Drop what is cached for a group, e.g. after a failed tag write."""
        with self._lock:
            self._tags.pop(arn, None)
