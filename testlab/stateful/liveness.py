"""Doing the right thing in the end: the right targets (identity) and, once the world holds
still, only them (liveness). Safety (nothing wrong is ever done) is
:mod:`testlab.stateful.invariants`'."""

from __future__ import annotations

from testlab.stateful.invariants import Invariant, Seen
from testlab.stateful.layout import Group, Snapshot, Tags
from testlab.stateful.requests import group_of, ids, passed
from testlab.stateful.world import World
from tgsync.ownership import OWNED, decode_owned
from tgsync.plan import ANSWER_CAP, required_absences

#: The schedule's interval and the function's timeout, in simulated seconds.
TICK = 60.0
TIMEOUT = 55.0
#: TGSYNC_RESYNC_EVERY: the longest a settled group goes unread.
RESYNC_EVERY = 120.0


class RegisteredOnlyWhatWasAnswered(Invariant):
    """Identity: every IP tgsync registers in a group was, at some point, in the answer
    of the endpoint its mapping names: the name's DNS records for a DNS mapping; for
    ``resolve=rds``, a member of the cluster that *is* that endpoint in the role it
    names (a writer for the cluster endpoint, a reader, or the writer standing in, for
    the reader endpoint); nothing for an endpoint no cluster of the account is. Checked
    from the proxy's requests (a group's mappings together) and from each mapping's
    report (the mapping's own hostname). Targets a person registers by hand do not pass
    the proxy and are not tgsync's."""

    number = 10

    def __init__(self, world: World) -> None:
        super().__init__(world)
        #: (group ARN, hostname) -> every IP that endpoint answered so far.
        self.answered: dict[tuple[str, str], set[str]] = {}

    def note(self) -> None:
        """Remember what every endpoint answers now (at each invocation's and check's
        start, and when the writer's flip window ends: the world changes nowhere else)."""
        for group in self.world.groups:
            for domain in group.domains:
                key = (group.arn, self.world.hostname_of(group, domain).lower())
                ever = self.answered.setdefault(key, set())
                if group.served or group.kind == "gone":
                    ever |= self.world.answer(group, domain)

    def before_sync(self, before: Snapshot, tags: Tags) -> None:
        self.note()

    def after_sync(self, seen: Seen) -> None:
        for request in passed(seen.requests, "RegisterTargets"):
            arn = group_of(request)
            ever = set().union(*(ips for (a, _), ips in self.answered.items() if a == arn))
            wrong = sorted(set(ids(request)) - ever)
            if wrong:
                self.fail(
                    seen.where,
                    f"registered {wrong} in {self._name(arn)}, never in the "
                    "answer of any endpoint its mappings name",
                )
        for cycle in seen.cycles:
            for mapping in cycle.mappings:
                ever = self.answered.get(
                    (mapping.target_group_arn, mapping.hostname.lower()), set()
                )
                wrong = sorted(set(mapping.registered_ips) - ever)
                if wrong and mapping.hostname:
                    self.fail(
                        seen.where,
                        f"{mapping.label} registered {wrong}, never in the "
                        f"answer of {mapping.hostname}",
                    )

    def _name(self, arn: str) -> str:
        return next((g.name for g in self.world.groups if g.arn == arn), arn)


class ConvergesOnceQuiet(Invariant):
    """Liveness: once the world stops changing (no DNS, health, hand edits, faults or
    clock steps any more; every name answering whole), every group tgsync serves holds
    exactly its wanted set (what its mappings' answers allow), and every target tgsync
    registered that left the answer is gone, owned or not, healthy or not, within

        ``RESYNC_EVERY + stale_after + capped + 2 * (TICK + TIMEOUT)``

    of simulated time: a settled group is read again at the latest one resync after its
    last read (before the world stopped); a healthy target first seen missing then is
    retired once its stale period is over; an answer of exactly ``ANSWER_CAP`` records
    may be capped, so a target must also be missing from ``required_absences`` answers,
    one a cycle (``capped``: those cycles but one, a ``TICK`` each); and each of the two
    waits ends at the first invocation after it, which starts at most a schedule
    interval plus an invocation later. Exceptions, each what tgsync promises instead:
    a target a person (or another owner) registered in a ``retire=owned`` group may stay;
    what a mapping whose lookup fails recorded stays; a ``retire=all`` group carrying
    another owner's ownership record must still register its answer (its retirements
    wait until the record is cleared); a group whose only lookup fails is left as it
    is."""

    number = 11

    def __init__(self, world: World) -> None:
        super().__init__(world)
        self.started = 0.0
        self.bounds: dict[str, float] = {}
        #: ARN -> simulated time since which the group has been converged.
        self.since: dict[str, float] = {}
        #: The longest any group took to converge, and its bound then (seconds of quiet).
        self.longest = (0.0, 0.0)

    def after_sync(self, seen: Seen) -> None:
        registered = self.world.registered_by_tgsync
        for request in passed(seen.requests, "RegisterTargets"):
            registered |= {(group_of(request), ip) for ip in ids(request)}
        for request in passed(seen.requests, "DeregisterTargets"):
            registered -= {(group_of(request), ip) for ip in ids(request)}

    def start(self) -> None:
        """The world holds still from now on: each group's bound, from what it holds."""
        world = self.world
        self.started, self.since = world.clock.now, {}
        present = world.snapshot()
        self.bounds = {}
        for group in self._served():
            wanted = {ip for d in group.domains for ip in world.allowed(group, d) or ()}
            population = len(wanted | set(present[group.arn]))
            capped = any(
                not group.aurora and len(world.names[d].answers()) == ANSWER_CAP
                for d in group.domains
            )
            absences = required_absences(ANSWER_CAP, population) if capped else 1
            self.bounds[group.arn] = (
                RESYNC_EVERY + group.stale_after + (absences - 1) * TICK + 2 * (TICK + TIMEOUT)
            )

    def progress(self, where: str) -> bool:
        """After a quiet invocation: True once every group has converged and stayed so
        for an invocation; raises if one is past its bound or moved away again."""
        world = self.world
        now = world.clock.now
        present = world.snapshot()
        tags = world.tags()
        done = True
        for group in self._served():
            astray = self._astray(group, present[group.arn], tags)
            if not astray:
                took = self.since.setdefault(group.arn, now) - self.started
                self.longest = max(self.longest, (took, self.bounds[group.arn]))
                done = done and self.since[group.arn] < now
                continue
            done = False
            if group.arn in self.since:
                self.fail(
                    where,
                    f"{group.name} converged at "
                    f"t+{self.since[group.arn] - self.started:.0f}s of quiet, "
                    f"then moved away: {astray}",
                )
            if now - self.started > self.bounds[group.arn]:
                self.fail(
                    where,
                    f"{group.name} not converged {now - self.started:.0f}s "
                    "after the world stopped changing (bound "
                    f"{self.bounds[group.arn]:.0f}s): {astray}",
                )
        return done

    def _served(self) -> list[Group]:
        return [g for g in self.world.live() if g.served]

    def _astray(
        self, group: Group, targets: dict[str, tuple[str, int, str | None, str]], tags: Tags
    ) -> str:
        """How ``group`` differs from what it should hold ("": it does not)."""
        world = self.world
        present = {ip for ip, (_, _, _, state) in targets.items() if state != "draining"}
        answers = {d: world.allowed(group, d) for d in group.domains}
        if len(group.domains) == 1 and answers[group.domain] is None:
            return ""  # its lookup fails: nothing may change
        wanted = {ip for ips in answers.values() for ip in ips or ()}
        missing = wanted - present
        extra = present - wanted
        if group.retire == OWNED:
            records = world.records(group, tags)
            held = {ip for d, ips in records.items() if answers[d] is None for ip in ips}
            extra = {ip for ip in extra - held if (group.arn, ip) in world.registered_by_tgsync}
        elif decode_owned(tags.get(group.arn, {}), group.port).by_owner:
            extra = set()  # another owner's records hold its retirements
        if not missing and not extra:
            return ""
        return f"holds {sorted(present)}, wants {sorted(wanted)}" + (
            f"; tgsync registered {sorted(extra)} and never retired them"
            if group.retire == OWNED and extra
            else ""
        )
