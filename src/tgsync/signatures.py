"""Signed ownership records: the record key's MACs, made and checked once per value.

With ``TGSYNC_RECORD_KEY`` (see :mod:`tgsync.ownership` for the value's form and
:mod:`tgsync.provider.kms` for the key), :class:`~tgsync.registry.TagRegistry` signs every
ownership value it writes and verifies every value it reads. A value is verified once
per process, not per cycle: the verdict is kept by group and value (a value copied to
another group or port does not verify there: the group and port are in the message),
and a MAC tgsync made is known good without a call. Both caches are pruned to the
groups still kept. A failed KMS call is not a verdict: it raises, and the cycle changes
nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Set
from typing import Protocol, TypeVar

from tgsync.deadline import NONE, Deadline
from tgsync.ownership import MAC_PREFIX, record_message

K = TypeVar("K")
V = TypeVar("V")

#: Values remembered per group: a group's records hold a few values at a time, and older
#: ones are dropped first (a value seen again is checked again).
PER_GROUP = 64


def _remember(cache: dict[str, dict[K, V]], arn: str, key: K, value: V) -> None:
    """Keep ``key: value`` for ``arn``, the oldest dropped beyond :data:`PER_GROUP`."""
    kept = cache.setdefault(arn, {})
    kept.pop(key, None)
    kept[key] = value
    while len(kept) > PER_GROUP:
        del kept[next(iter(kept))]


class MacKey(Protocol):
    """The record key's two operations. Errors are ``AwsError``."""

    def mac(self, message: bytes, deadline: Deadline = NONE) -> str:
        """The MAC of ``message``, as written in a tag value."""
        ...

    def verify(self, message: bytes, mac: str, deadline: Deadline = NONE) -> bool:
        """True if ``mac`` is the key's MAC of ``message``."""
        ...


class Signatures:
    """MACs of ownership values, made and verified through ``key``; thread-safe."""

    def __init__(self, key: MacKey) -> None:
        self._key = key
        self._lock = threading.Lock()
        #: By group: the MAC of each message signed or verified good, and the verdict on
        #: each value read.
        self._good: dict[str, dict[bytes, str]] = {}
        self._verdicts: dict[str, dict[tuple[int, str], bool]] = {}

    def signer(self, arn: str, port: int, deadline: Deadline = NONE) -> Callable[[str], str]:
        """``value -> value mac=<MAC>`` for ``owner ip ip ...`` values of ``arn``'s
        ``port``."""

        def sign(value: str) -> str:
            owner, *ips = value.split(" ")
            message = record_message(arn, port, owner, ips)
            with self._lock:
                known = self._good.get(arn, {}).get(message)
            mac = known or self._key.mac(message, deadline)
            with self._lock:
                _remember(self._good, arn, message, mac)
            return f"{value} {MAC_PREFIX}{mac}"

        return sign

    def verifier(
        self, arn: str, port: int, deadline: Deadline = NONE
    ) -> Callable[[str, tuple[str, ...], str | None], bool]:
        """``(owner, ips, mac) -> trusted`` for the values of ``arn``'s ``port``: no MAC
        is untrusted; a MAC is checked once per process."""

        def verify(owner: str, ips: tuple[str, ...], mac: str | None) -> bool:
            if mac is None:
                return False
            message = record_message(arn, port, owner, ips)
            value = f"{owner} {' '.join(ips)} {MAC_PREFIX}{mac}"
            with self._lock:
                if self._good.get(arn, {}).get(message) == mac:
                    return True
                known = self._verdicts.get(arn, {}).get((port, value))
            if known is not None:
                return known
            verdict = self._key.verify(message, mac, deadline)
            with self._lock:
                _remember(self._verdicts, arn, (port, value), verdict)
                if verdict:
                    _remember(self._good, arn, message, mac)
            return verdict

        return verify

    def keep_only(self, arns: Set[str]) -> None:
        """Forget what is known of groups no longer kept (bounded memory over days)."""
        with self._lock:
            for cache in (self._good, self._verdicts):
                for arn in [a for a in cache if a not in arns]:
                    del cache[arn]
