"""Bounded resources over a long run: AWS clients, tag writes, memory."""

from __future__ import annotations

import contextlib
import gc
import os
import threading
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import botocore.session

from testlab.stateful.invariants import Invariant, Seen
from testlab.stateful.requests import group_of, passed
from testlab.stateful.world import World

#: boto3 clients one execution environment (or one check) may create per service and
#: region, however long it runs: the usual one, and one for each of the three deadline
#: tiers (attempts cut to 4, 2 and 1 s in the last seconds before a deadline: tgsync.aws).
#: A client per step of time left (issue 29, item 5, fixed) grows past it; each client
#: holds megabytes for the process's life.
CLIENTS_PER_SERVICE_AND_REGION = 1 + 3
#: Tag writes (AddTags and RemoveTags requests) a group may take per mapping of it in
#: any minute of simulated time from follow-up cycles that change none of its targets:
#: one refresh of the mapping's records (an AddTags, and a RemoveTags if they shrink).
IDLE_TAG_WRITES_PER_MAPPING_AND_MINUTE = 2
#: Memory samples (one per quiet phase) before growth is judged, and the growth allowed
#: from the first half's peak to the second half's: a fraction and a floor.
MEMORY_SAMPLES = 6
MEMORY_GROWTH = 0.10
MEMORY_FLOOR = 16 * 2**20


class ClientCount:
    """Counts ``botocore.session.Session.create_client`` calls (``boto3``'s
    ``Session.client`` and ``boto3.client`` end there) by scope, service and region.

    Installed once per process; only calls inside :meth:`scope` count, so the lab's own
    clients, made outside invocations, do not."""

    _installed = False
    _lock = threading.Lock()
    _scope: Counter[tuple[str, str, str]] | None = None
    _name = ""

    @classmethod
    def install(cls) -> None:
        """Wrap ``create_client`` (once per process)."""
        with cls._lock:
            if cls._installed:
                return
            original = botocore.session.Session.create_client

            def create_client(self: botocore.session.Session, *args: Any, **kwargs: Any) -> Any:
                counter = cls._scope
                if counter is not None:
                    service = args[0] if args else kwargs.get("service_name", "?")
                    region = (
                        kwargs.get("region_name")
                        or (args[1] if len(args) > 1 else None)
                        or self.get_config_variable("region")
                        or "?"
                    )
                    counter[(cls._name, str(service), str(region))] += 1
                return original(self, *args, **kwargs)

            botocore.session.Session.create_client = create_client  # type: ignore[method-assign]
            cls._installed = True

    @classmethod
    @contextlib.contextmanager
    def scope(cls, name: str, into: Counter[tuple[str, str, str]]) -> Iterator[None]:
        """Count the clients created meanwhile into ``into``, as environment ``name``'s."""
        cls._scope, cls._name = into, name
        try:
            yield
        finally:
            cls._scope = None


class FewClients(Invariant):
    """Bounded clients: one execution environment, however many invocations it runs,
    and one check create at most :data:`CLIENTS_PER_SERVICE_AND_REGION` boto3 clients per
    service and region (counted at ``botocore.session.Session.create_client``)."""

    number = 12

    def __init__(self, world: World) -> None:
        super().__init__(world)
        ClientCount.install()
        self.created: Counter[tuple[str, str, str]] = Counter()
        self.bound = CLIENTS_PER_SERVICE_AND_REGION

    def counting(self, function: str) -> contextlib.AbstractContextManager[None]:
        """Count what ``function`` (an environment or a check) creates meanwhile."""
        return ClientCount.scope(function, self.created)

    def after_sync(self, seen: Seen) -> None:
        self._judge(seen)

    def after_check(self, seen: Seen) -> None:
        self._judge(seen)

    def _judge(self, seen: Seen) -> None:
        for (function, service, region), count in self.created.items():
            if function == seen.function and count > self.bound:
                self.fail(
                    seen.where,
                    f"{function} created {count} {service} clients in "
                    f"{region} (bound {self.bound})",
                )
        for key in [k for k in self.created if k[0].startswith("check") and k[0] != seen.function]:
            del self.created[key]  # a check's environment ends with it


class FewTagWrites(Invariant):
    """Bounded tag writes: tgsync writes a group's tags when a record must move (a new
    one, one gone, an ownership change: :mod:`tgsync.registry`) and refreshes what it
    waits on at most once a minute. Between two steps of the world nothing changes, so
    in the follow-up cycles of an invocation a group's tags are written by a cycle that
    registered or retired one of its targets, and otherwise at most
    :data:`IDLE_TAG_WRITES_PER_MAPPING_AND_MINUTE` times per mapping of the group (one
    refresh each) in any minute of simulated time; following a group every second while
    it waits must not write it every second."""

    number = 13

    def __init__(self, world: World) -> None:
        super().__init__(world)
        #: ARN -> simulated (time, epoch) of its recent writes by idle follow-up cycles.
        self.idle: dict[str, list[tuple[float, int]]] = {}
        self.most = 0

    def after_sync(self, seen: Seen) -> None:
        for index in range(1, len(seen.cycles)):
            during = seen.during(index)
            changed = {group_of(r) for r in passed(during, "RegisterTargets", "DeregisterTargets")}
            for request in passed(during, "AddTags", "RemoveTags"):
                arn = group_of(request)
                group = next((g for g in self.world.groups if g.arn == arn), None)
                if arn in changed or group is None:
                    continue
                bound = IDLE_TAG_WRITES_PER_MAPPING_AND_MINUTE * len(group.domains)
                at, epoch = self.world.clock.at(request.at)
                history = [
                    (t, e) for t, e in self.idle.get(arn, []) if e == epoch and at - t < 60.0
                ] + [(at, epoch)]
                self.idle[arn] = history
                self.most = max(self.most, len(history))
                if len(history) > bound:
                    self.fail(
                        seen.where,
                        f"{len(history)} tag writes to {group.name} within a "
                        "minute by follow-up cycles that changed none of its "
                        f"targets (bound {bound})",
                    )


def _rss() -> int:
    """The process's resident set, in bytes (Linux)."""
    pages = int(Path("/proc/self/statm").read_text(encoding="ascii").split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


class MemoryHoldsSteady(Invariant):
    """Bounded memory: sampled at the end of each quiet phase (the world still, tgsync
    converged, after a full garbage collection), the process's memory (traced Python
    allocations while :mod:`tracemalloc` traces, else the resident set) in the second
    half of the samples peaks at most :data:`MEMORY_GROWTH` (and at least
    :data:`MEMORY_FLOOR`) above the first half's peak, once there are
    :data:`MEMORY_SAMPLES`. A leak that grows with the run grows past it; one that
    grows by steps to a fixed size (caches filling) stays within it."""

    number = 14

    def __init__(self, world: World, measure: Callable[[], int] | None = None) -> None:
        super().__init__(world)
        self.measure = measure or self.current
        self.samples: list[int] = []

    @staticmethod
    def current() -> int:
        """Traced bytes if tracing, else the resident set."""
        gc.collect()
        if tracemalloc.is_tracing():
            return tracemalloc.get_traced_memory()[0]
        return _rss()

    def sample(self, where: str) -> None:
        """Take a sample and judge the run so far."""
        self.samples.append(self.measure())
        if len(self.samples) < MEMORY_SAMPLES:
            return
        half = len(self.samples) // 2
        first, second = max(self.samples[:half]), max(self.samples[half:])
        allowed = first + max(first * MEMORY_GROWTH, MEMORY_FLOOR)
        if second > allowed:
            mib = [round(s / 2**20, 1) for s in self.samples]
            self.fail(
                where,
                f"memory grew from a peak of {first / 2**20:.1f} MiB in the "
                f"first half of the run to {second / 2**20:.1f} MiB in the "
                f"second (allowed {allowed / 2**20:.1f}); samples, MiB: {mib}",
            )
