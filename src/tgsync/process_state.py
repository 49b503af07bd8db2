"""What one process remembers between cycles, behind one lock and one key function.

A Lambda execution environment, or a ``tgsync watch`` process, runs many cycles. Between
them it keeps, per mapping (a target group and port): when the group was last read, the
record of a group found settled (see :mod:`tgsync.resync`), its motion (see
:mod:`tgsync.follow`), what its last look found worth a change event once (foreign
targets, refusals: see :mod:`tgsync.changes`), and which groups' load balancer
attachment was checked. Nothing
here outlives the process: the target group's own tags hold what must (see
:mod:`tgsync.registry`). Every record is pruned to the mappings still kept, so memory
stays bounded over days of discovery adding and letting go of groups.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from tgsync.follow import Motion, announce, followed, observe
from tgsync.resync import Settled, may_skip, settle


def key(arn: str, port: int, owner: str | None = None) -> str:
    """The key of a mapping in every per-process record: its group and port, and with
    ``retire=owned`` (several mappings may share a group and port) its owner id."""
    return f"{arn}:{port}" if owner is None else f"{arn}:{port}:{owner}"


class ProcessState:
    """What this process remembers of every mapping between cycles; thread-safe. (Not
    the missing-since *memory*, which lives in the target groups' tags: see
    :mod:`tgsync.registry`.)"""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._settled: dict[str, Settled] = {}
        self._read: dict[str, float] = {}
        self._motion: dict[str, Motion] = {}
        self._seen: dict[str, dict[str, frozenset[str]]] = {}
        self._alb_checked: set[str] = set()
        self._turns: dict[tuple[str, str], float] = {}

    # ------------------------------------------------------------------ reads

    def read_at(self, mapping_key: str) -> float:
        """When this process last read the mapping's group (``-inf``: never)."""
        with self._lock:
            return self._read.get(mapping_key, float("-inf"))

    def note_read(self, mapping_key: str, now: float) -> None:
        """The mapping's group was read at ``now``."""
        with self._lock:
            self._read[mapping_key] = now

    # ------------------------------------------------------------------ settled groups

    def may_skip(
        self, mapping_key: str, answer: frozenset[str] | None, now: float, horizon: float
    ) -> bool:
        """True if the group need not be read this cycle (see :func:`resync.may_skip`)."""
        with self._lock:
            return may_skip(self._settled.get(mapping_key), answer, now, horizon)

    def note_settled(
        self, mapping_key: str, answer: frozenset[str] | None, now: float, every: float
    ) -> None:
        """Remember a group a fresh read found settled for ``answer`` (``None``: forget)."""
        with self._lock:
            if every > 0 and answer is not None:
                self._settled[mapping_key] = settle(
                    mapping_key, answer, now, every, self._settled.get(mapping_key)
                )
            else:
                self._settled.pop(mapping_key, None)

    def settled(self, mapping_key: str) -> Settled | None:
        """The settled record of a mapping, if any."""
        with self._lock:
            return self._settled.get(mapping_key)

    # ------------------------------------------------------------------ motion

    def note_motion(self, mapping_key: str, *, changed: bool, pending: bool, now: float) -> None:
        """Update the mapping's motion record after a cycle (see :func:`follow.observe`)."""
        with self._lock:
            after = observe(
                self._motion.get(mapping_key), changed=changed, pending=pending, now=now
            )
            if after is None:
                self._motion.pop(mapping_key, None)
            else:
                self._motion[mapping_key] = after

    def announce(self, mapping_key: str, now: float, follow_for: float) -> None:
        """An event says the mapping's name is about to move: follow it from now."""
        with self._lock:
            self._motion[mapping_key] = announce(now, follow_for)

    def moving(self, keys: Iterable[str], now: float, follow_for: float) -> frozenset[str]:
        """Those of ``keys`` within their follow window."""
        with self._lock:
            return frozenset(k for k in keys if followed(self._motion.get(k), now, follow_for))

    # ------------------------------------------------------------------ turns

    def turn_at(self, arn: str, hostname: str) -> float:
        """When the mapping of ``hostname`` on ``arn`` last started a cycle (``-inf``:
        never): the invocations take the mappings in this order, so that one whose cycle
        always runs out of time (a slow name, many lookups) cannot keep the others last."""
        with self._lock:
            return self._turns.get((arn, hostname), float("-inf"))

    def note_turn(self, arn: str, hostname: str, now: float) -> None:
        """The mapping of ``hostname`` on ``arn`` starts a cycle at ``now``."""
        with self._lock:
            self._turns[(arn, hostname)] = now

    # ------------------------------------------------------------------ seen once

    def first_seen(self, mapping_key: str, kind: str, seen: Iterable[str]) -> frozenset[str]:
        """Those of ``seen`` (things of ``kind`` a cycle of the mapping just looked at)
        that its last look at ``kind`` did not see; remember ``seen`` in their place (so
        what leaves and comes back is new again)."""
        now = frozenset(seen)
        with self._lock:
            records = self._seen.setdefault(mapping_key, {})
            before = records.get(kind, frozenset())
            records[kind] = now
        return now - before

    # ------------------------------------------------------------------ the rest

    def first_check_of(self, arn: str) -> bool:
        """True the first time a group's load balancer attachment is asked about."""
        with self._lock:
            if arn in self._alb_checked:
                return False
            self._alb_checked.add(arn)
            return True

    def keep_only(self, keys: Iterable[str], arns: Iterable[str]) -> None:
        """Forget every record of mappings and groups no longer kept."""
        kept, groups = set(keys), set(arns)
        with self._lock:
            for records in (self._settled, self._read, self._motion, self._seen):
                for stale in [k for k in records if k not in kept]:
                    del records[stale]
            self._alb_checked &= groups
            for turn in [t for t in self._turns if t[0] not in groups]:
                del self._turns[turn]
