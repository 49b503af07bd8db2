"""Controller: the shape of an invocation. A cycle over every mapping, then follow-ups
for what moves, stopping in time.

The work lives in rooms of its own: one mapping's cycle in :mod:`tgsync.cycle`, the
per-process records in :mod:`tgsync.process_state`, discovery's adoption in
:mod:`tgsync.adoption`, the follow rules in :mod:`tgsync.follow`. Settings reach the
controller once, at construction.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from tgsync.adoption import Adoption
from tgsync.aws import MIN_ATTEMPT_SECONDS
from tgsync.config import Config, InvalidMapping, MappingConfig
from tgsync.cycle import MappingCycle
from tgsync.deadline import MARGIN_SECONDS, Deadline
from tgsync.errors import ProviderError
from tgsync.events import Trigger
from tgsync.follow import room_for_another
from tgsync.model import Resolve, Retire
from tgsync.ownership import clashes, may_share
from tgsync.process_state import ProcessState
from tgsync.provider import Provider
from tgsync.registry import TagRegistry
from tgsync.report import CycleReport, InvocationReport, MappingReport, Published, logger
from tgsync.source import Nameserver, Source, source_of
from tgsync.source.resolver import MIN_QUERY_SECONDS

#: Stop starting new mappings when the invocation has less time left than this.
DEADLINE_MARGIN_SECONDS = MARGIN_SECONDS
#: The least time a follow-up cycle must have, however fast the last one was: a lookup
#: and a read and a write of the shortest attempt. Nothing outlives the deadline in any
#: case: every lookup and every ELB attempt gets the time that is left, no more (see
#: :mod:`tgsync.deadline`), so a follow-up whose calls all hang ends in time, cut short
#: and deferred to the next tick rather than killed mid-write.
MIN_CYCLE_SECONDS = MIN_QUERY_SECONDS + 2 * MIN_ATTEMPT_SECONDS
#: The interval between full cycles assumed before two were seen: the schedule's.
DEFAULT_TICK_SECONDS = 60.0


class Controller:
    """Runs invocations over one configuration. Keep one per process: its adapters and
    its :class:`~tgsync.process_state.ProcessState` cache per cold start."""

    def __init__(
        self,
        provider: Provider,
        registry: TagRegistry,
        source_for: Callable[[tuple[Nameserver, ...]], Source],
        *,
        config: Config,
        clock: Callable[[], float] = time.time,
        state: ProcessState | None = None,
        publish: Callable[[CycleReport, Deadline], Published] | None = None,
    ) -> None:
        self.provider = provider
        self.registry = registry
        self.source_for = source_for
        self.config = config
        self.state = state or ProcessState()
        #: Sees each cycle as it ends, before its deadline: the change events.
        self.publish = publish
        self._clock = clock
        self.cycle = MappingCycle(
            provider, registry, source_for, self.state, clock, resync_every=config.resync_every
        )
        self.adoption = (
            Adoption(provider, registry, config.discovery, self.cycle.port_of)
            if config.discovery is not None
            else None
        )
        self._mappings: Sequence[MappingConfig] = ()
        self._last_full: float | None = None
        self._tick = DEFAULT_TICK_SECONDS

    def with_config(self, config: Config) -> Controller:
        """A controller for ``config`` over the same adapters and records (the same
        process, configured anew)."""
        return Controller(
            self.provider,
            self.registry,
            self.source_for,
            config=config,
            clock=self._clock,
            state=self.state,
            publish=self.publish,
        )

    def sync_mapping(self, mapping: MappingConfig, *, dry_run: bool = False) -> MappingReport:
        """One cycle for one mapping; never raises for DNS or AWS faults."""
        return self.cycle.run(mapping, dry_run=dry_run, horizon=self._tick)

    # ------------------------------------------------------------------ one cycle

    def run_once(
        self,
        *,
        dry_run: bool | None = None,
        time_left: Callable[[], float] | None = None,
        only: frozenset[str] | None = None,
        margin: float = DEADLINE_MARGIN_SECONDS,
    ) -> CycleReport:
        """One cycle over every mapping, ``config.concurrency`` at a time.

        ``time_left`` (seconds) is the invocation's deadline: mappings it could not
        reach are deferred or reported failed, and every lookup and AWS call gets the
        time that is left. ``only`` limits the cycle to the mappings with these keys (a
        follow-up cycle). ``margin``: seconds kept before the deadline for reporting.
        """
        dry = self.config.dry_run or bool(dry_run)
        deadline = Deadline(time_left, margin)
        now = self._clock()
        mappings, found = self._this_cycles(only, now, dry, deadline)
        if len(mappings) > 1:  # a cold start with many groups: batch the one-off reads
            arns = [m.target_group_arn for m in mappings]
            self.provider.prefetch(arns, deadline=deadline)
            self.registry.prefetch(arns, deadline=deadline)
        reports = self._cycle_each(mappings, now, dry, deadline)
        deferred = sum(1 for r in reports if r.deferred)
        if deferred:
            logger.warning(
                "not every group could be read in this invocation: the next carries on",
                extra={"deferred": deferred, "read": len(reports) - deferred},
            )
        if only is None:
            reports.extend(_invalid_report(bad, dry) for bad in self.config.invalid)
            self._prune(mappings)
        reports.extend(found)
        cycle = CycleReport(
            reports, dry_run=dry, discovery=self.adoption.report if self.adoption else None
        )
        if self.publish is not None:
            cycle.published = self.publish(cycle, deadline)
        for report in reports:
            logger.info("mapping summary", extra=report.to_dict())
        return cycle

    def _this_cycles(
        self, only: frozenset[str] | None, now: float, dry: bool, deadline: Deadline
    ) -> tuple[list[MappingConfig], list[MappingReport]]:
        """The mappings of this cycle (a full one: the explicit and discovered ones; a
        follow-up: those of the last full cycle with these keys), and discovery's
        reports."""
        if only is not None:
            return [m for m in self._mappings if self.cycle.known_key(m) in only], []
        mappings: list[MappingConfig] = list(self.config.mappings)
        found: list[MappingReport] = []
        if self.adoption is not None:
            discovered, found = self.adoption.mappings(now, dry_run=dry, deadline=deadline)
            mappings += self._not_explicit(discovered, deadline)
        self._mappings = mappings
        if self._last_full is not None and now > self._last_full:
            self._tick = min(now - self._last_full, max(self.config.resync_every, 1.0))
        self._last_full = now
        return mappings, found

    def _cycle_each(
        self, mappings: Sequence[MappingConfig], now: float, dry: bool, deadline: Deadline
    ) -> list[MappingReport]:
        """Each mapping's cycle, ``config.concurrency`` at a time, the mappings whose last
        turn is oldest first: a cold start spreads its first reads over as many cycles as
        the time allows, and a mapping whose cycle used the time (a slow name, many
        lookups: tags may ask for them) goes to the back, so no group is always last.
        Reports in the mappings' order."""
        # Clashes are judged among every mapping of the full cycle, follow-ups too: a
        # mapping refused there must not run alone in a follow-up and undo the other's.
        why = {
            self._mappings[i]: reason
            for i, reason in self._clashes(self._mappings, deadline).items()
        }
        sharers = self._sharers(self._mappings, deadline)
        order = sorted(
            range(len(mappings)),
            key=lambda i: self.state.turn_at(mappings[i].target_group_arn, mappings[i].hostname),
        )

        def one(index: int) -> MappingReport:
            mapping = mappings[index]
            if mapping in why:
                logger.error(
                    "mappings clash: none of them is synced",
                    extra={"mapping": mapping.label, "error": why[mapping]},
                )
                return MappingReport(
                    mapping.label,
                    mapping.hostname,
                    mapping.target_group_arn,
                    mapping.port,
                    dry_run=dry,
                ).fail(why[mapping])
            if deadline.bounded and not deadline.allows(MIN_CYCLE_SECONDS):
                return self._out_of_time(mapping, now, dry)
            self.state.note_turn(mapping.target_group_arn, mapping.hostname, self._clock())
            return self.cycle.run(
                mapping,
                dry_run=dry,
                horizon=self._tick,
                deadline=deadline,
                sharers=sharers.get(mapping, ()),
            )

        if len(mappings) <= 1 or self.config.concurrency <= 1:
            done = {i: one(i) for i in order}
        else:
            workers = min(self.config.concurrency, len(mappings))
            with ThreadPoolExecutor(max_workers=workers) as pool:
                done = dict(zip(order, pool.map(one, order), strict=True))
        return [done[i] for i in range(len(mappings))]

    def _out_of_time(self, mapping: MappingConfig, now: float, dry: bool) -> MappingReport:
        """The report of a mapping not reached before the deadline: deferred if its group
        was read recently enough, failed (so that the alarm sees it) if not."""
        report = MappingReport(
            mapping.label, mapping.hostname, mapping.target_group_arn, mapping.port, dry_run=dry
        )
        last = self._read_at(mapping)
        if now - last <= max(self.config.resync_every, 0) or last == float("-inf"):
            return replace(report, deferred=True)  # read soon enough: the next one carries on
        return report.fail(
            "skipped: the function was about to time out and this group was "
            f"last read {now - last:.0f}s ago; raise the function's timeout, "
            "TGSYNC_API_RATE or TGSYNC_CONCURRENCY"
        )

    def _read_at(self, mapping: MappingConfig) -> float:
        """When this process last read the mapping's group (``-inf``: never)."""
        known = self.cycle.known_key(mapping)
        return self.state.read_at(known) if known else float("-inf")

    def _not_explicit(
        self, discovered: Sequence[MappingConfig], deadline: Deadline
    ) -> list[MappingConfig]:
        """Discovered mappings that no explicit mapping keeps on the same group and port
        (unless the two may share it: see :func:`ownership.may_share`).

        Ports are compared only where a group is both explicit and discovered: reading
        facts for every explicit mapping here would come before their batched prefetch.
        """
        explicit = self.config.mappings
        both = {m.target_group_arn for m in explicit} & {m.target_group_arn for m in discovered}
        kept: dict[tuple[str, int], list[MappingConfig]] = {}
        for mapping in explicit:
            if mapping.target_group_arn in both:
                kept.setdefault(
                    (mapping.target_group_arn, self.cycle.port_of(mapping, deadline)), []
                ).append(mapping)
        return [
            m
            for m in discovered
            if m.target_group_arn not in both
            or all(
                may_share(e, m)
                for e in kept.get((m.target_group_arn, self.cycle.port_of(m, deadline)), [])
            )
        ]

    def _prune(self, mappings: Sequence[MappingConfig]) -> None:
        """Forget what is cached about groups and mappings no longer kept."""
        arns = {m.target_group_arn for m in mappings}
        self.state.keep_only({k for m in mappings if (k := self.cycle.known_key(m))}, arns)
        self.provider.keep_only(arns)
        self.registry.keep_only(arns)
        self.cycle.keep_only(arns)

    def _sharers(
        self, mappings: Sequence[MappingConfig], deadline: Deadline
    ) -> dict[MappingConfig, tuple[MappingConfig, ...]]:
        """For each owned mapping sharing a group and port, the others on them (facts
        read only for such groups)."""
        owned = [m for m in mappings if m.retire is Retire.OWNED]
        shared = {arn for arn, n in Counter(m.target_group_arn for m in owned).items() if n > 1}
        by_port: dict[tuple[str, int], list[MappingConfig]] = {}
        for mapping in owned:
            if mapping.target_group_arn in shared:
                by_port.setdefault(
                    (mapping.target_group_arn, self.cycle.port_of(mapping, deadline)), []
                ).append(mapping)
        return {
            m: tuple(o for o in group if o is not m) for group in by_port.values() for m in group
        }

    def _clashes(self, mappings: Sequence[MappingConfig], deadline: Deadline) -> dict[int, str]:
        """Mappings that share a target group and its effective port (see
        :func:`tgsync.ownership.clashes`); group facts are read only for shared groups."""
        shared = {arn for arn, n in Counter(m.target_group_arn for m in mappings).items() if n > 1}

        def group_port(arn: str) -> int | None:
            if arn not in shared:
                return None
            try:
                return self.provider.facts(arn, deadline=deadline).port
            except ProviderError:
                return None  # each mapping reports the failure itself

        return clashes(mappings, group_port)

    # ------------------------------------------------------------------ following

    def run(
        self,
        *,
        dry_run: bool | None = None,
        time_left: Callable[[], float] | None = None,
        follow_within: Callable[[], float] | None = None,
        trigger: Trigger | None = None,
        sleep: Callable[[float], object] = time.sleep,
        margin: float = DEADLINE_MARGIN_SECONDS,
        on_cycle: Callable[[CycleReport], object] = lambda _cycle: None,
        follow: bool = True,
    ) -> InvocationReport:
        """One invocation: a cycle over every mapping, then follow-up cycles every
        ``follow_interval`` seconds for the mappings that move (see
        :mod:`tgsync.follow`) while they move and the time allows: ``follow_within()``
        seconds (default ``time_left``, the invocation's deadline; ``None``: no limit but
        the follow window) less ``margin``, with room for the worst case of a cycle.

        ``sleep`` waits between cycles; a true result (as ``threading.Event.wait``
        gives when the event is set) means a stop was asked: no new cycle starts.
        A mapping whose cycle failed at AWS (a read or write denied, throttled or
        unreachable) is not followed again in this invocation: the next tick retries,
        and retrying a throttled API every few seconds would only deepen it.
        ``on_cycle`` sees each cycle as it ends."""
        config = self.config
        limit = follow_within or time_left
        dry = config.dry_run or bool(dry_run)
        started = self._clock()
        cycles = [self.run_once(dry_run=dry, time_left=time_left, margin=margin)]
        seconds = self._clock() - started
        on_cycle(cycles[0])
        halted = self._failed_at_aws(cycles[0])
        announced: list[str] = []
        if trigger is not None and trigger.subjects and not dry:
            announced = self._announce(trigger, Deadline(time_left, margin))
        if dry or config.follow_interval <= 0 or not follow:
            stopped = "dry run" if dry else "following is off"
            return InvocationReport(cycles, stopped, announced)
        while True:
            keys = self._following() - halted
            why = self._why_stop(keys, limit, seconds, margin, sleep)
            if why is not None:
                stopped = why
                break
            logger.info("follow-up cycle", extra={"mappings": len(keys)})
            started = self._clock()
            cycles.append(self.run_once(dry_run=dry, time_left=time_left, only=keys, margin=margin))
            seconds = self._clock() - started
            on_cycle(cycles[-1])
            halted |= self._failed_at_aws(cycles[-1])
        logger.info("following done", extra={"cycles": len(cycles), "stopped": stopped})
        return InvocationReport(cycles, stopped, announced)

    def _why_stop(
        self,
        keys: frozenset[str],
        limit: Callable[[], float] | None,
        seconds: float,
        margin: float,
        sleep: Callable[[float], object],
    ) -> str | None:
        """Why following stops before another cycle of ``keys`` (``None``: it goes on,
        after sleeping ``follow_interval``): nothing moves, no time, or a stop asked."""
        if not keys:
            return "nothing moves"
        if not room_for_another(
            limit() if limit else None,
            self.config.follow_interval,
            max(seconds, MIN_CYCLE_SECONDS),
            margin,
        ):
            return "no time left in this invocation: the next one carries on"
        if sleep(self.config.follow_interval):  # stopped during the sleep: no new cycle
            return "stopped"
        return None

    @staticmethod
    def _failed_at_aws(cycle: CycleReport) -> frozenset[str]:
        """Keys of the mappings whose cycle failed at AWS: not followed any more now."""
        return frozenset(r.mapping_key for r in cycle.mappings if r.aws_failed and r.mapping_key)

    def _following(self) -> frozenset[str]:
        """Keys of the mappings of the last full cycle within their follow window (no
        AWS call: a mapping whose group was never read has no motion anyway)."""
        keys = [k for m in self._mappings if (k := self.cycle.known_key(m))]
        return self.state.moving(keys, self._clock(), self.config.follow_for)

    def _announce(self, trigger: Trigger, deadline: Deadline) -> list[str]:
        """Mark the mappings an event's domain, cluster or instance serves as moving (a
        resource of another account never announces a same-named one's mappings here).
        A ``resolve=rds`` mapping's cluster and members are what its last read found
        (no call is made for the event); its cluster's account is its role's, if any."""
        now = self._clock()
        labels = []
        for mapping in self._mappings:
            rds = mapping.resolve is Resolve.RDS
            read = (
                getattr(
                    source_of(self.source_for, mapping.dns_servers, "rds", mapping.rds_role_arn),
                    "members",
                    None,
                )
                if rds
                else None
            )
            members = read(mapping.hostname) if callable(read) else None
            whose = (mapping.rds_role_arn if rds else None) or mapping.target_group_arn
            if any(
                subject.serves(mapping.hostname, whose, members) for subject in trigger.subjects
            ):
                self.state.announce(
                    self.cycle.key_of(mapping, deadline), now, self.config.follow_for
                )
                labels.append(mapping.label)
        logger.info(
            "event announced a change",
            extra={
                "event": trigger.what,
                "domains": [d.name for d in trigger.domains],
                "rds": [r.name for r in trigger.rds],
                "followed": labels,
            },
        )
        return labels


def _invalid_report(bad: InvalidMapping, dry_run: bool) -> MappingReport:
    logger.error(
        "invalid mapping skipped", extra={"mapping": bad.label, "problems": list(bad.problems)}
    )
    return MappingReport(bad.label, "", bad.target_group_arn, dry_run=dry_run).fail(
        "invalid configuration: " + "; ".join(bad.problems)
    )
