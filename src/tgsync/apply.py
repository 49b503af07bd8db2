"""The apply stage: carries a round's plan out, in write-ahead order, and says what it did.

The order is the safety argument, and it lives here only:

1. **Record ownership** (``retire=owned``): the IPs about to be registered are written
   into the mapping's ``tgsync:owned`` records *before* they are registered. A record of
   an IP that never got registered is harmless (nothing to retire; dropped next cycle).
   An IP whose record could not be written is **not registered** (the mapping fails,
   naming the tag problem): no target tgsync registered is ever unrecorded, so none can
   be left behind as someone else's.
2. **Register** what the answer holds and the group lacks.
3. **Deregister** what the plan retires, but never a serving target while nothing could
   be registered in its place (that would empty the group).
4. **Drop records** of what was retired, only after it was deregistered (a crash in
   between leaves a record of an unregistered IP: harmless, as above); a ``retire=all``
   mapping drops the records it kept when it was ``owned``.
5. **Save memory**: the missing-since records of what still waits.

One failed call does not stop the others that are still safe; what could not be done
becomes a WAIT with its memory kept, and every failure is a problem in the result. A dry
run is decided here, once: it plans and logs, and writes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass, field

from tgsync.errors import AwsError
from tgsync.model import Target
from tgsync.ownership import Owned, owner_id
from tgsync.plan import Action, Plan, wait_instead
from tgsync.planning import Planned
from tgsync.provider import Provider
from tgsync.registry import OwnershipNotRecorded, TagRegistry
from tgsync.report import logger
from tgsync.round import Round


@dataclass(frozen=True, slots=True)
class Applied:
    """What the apply stage did: the plan as carried out (a change not done is a WAIT
    with its reason and memory), the IPs registered and deregistered, and what went
    wrong. ``deferred``: cut short by the deadline (the next cycle carries on)."""

    plan: Plan
    registered: tuple[str, ...] = ()
    deregistered: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()
    deferred: bool = False
    aws_failed: bool = False


@dataclass
class _Outcome:
    """What one application gathers as it goes (private to it)."""

    registered: list[str] = field(default_factory=list)
    deregistered: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    deferred: bool = False
    aws_failed: bool = False
    #: The IPs the plan registers, and whether their RegisterTargets call failed.
    attempted: frozenset[str] = frozenset()
    register_failed: bool = False
    #: The round's first write of ownership records failed: write no more of them.
    unrecorded: bool = False

    def failed(self, exc: AwsError, also: str = "") -> None:
        """A failed call: a problem, or, cut short by the deadline, a deferral (what it
        left undone only delays a change)."""
        self.aws_failed = True
        if exc.out_of_time:
            self.deferred = True
        else:
            self.problems.append(f"{exc}{also}")

    def done(self, plan: Plan) -> Applied:
        return Applied(
            plan,
            tuple(self.registered),
            tuple(self.deregistered),
            tuple(self.problems),
            self.deferred,
            self.aws_failed,
        )


class Apply:
    """Carries plans out against the target group (``provider``) and its tags
    (``registry``)."""

    def __init__(self, provider: Provider, registry: TagRegistry) -> None:
        self._provider = provider
        self._registry = registry

    def __call__(self, rnd: Round, planned: Planned, ours: Mapping[str, Target]) -> Applied:
        """Carry ``planned`` out for ``rnd`` (``ours``: the group's targets on the port)."""
        if rnd.dry_run:  # the one place a dry run is decided: log the intent, write nothing
            log_plan(rnd, planned.plan)
            return Applied(planned.plan)
        out = _Outcome(attempted=frozenset(d.ip for d in planned.plan.register))
        recorded = self._record(rnd, planned, out)
        result = self._register(rnd, planned.plan, ours, recorded, out)
        result = self._deregister(rnd, result, ours, out)
        self._drop_records(rnd, result, out)
        self._save_memory(rnd, planned, result, ours, out)
        log_plan(rnd, result)
        return out.done(result)

    # 1. record ------------------------------------------------------------------

    def _record(self, rnd: Round, planned: Planned, out: _Outcome) -> Set[str] | None:
        """Write the ownership records ahead of the registrations; return the IPs
        recorded as the mapping's (``None``: not owned mode, every IP may be registered;
        on a failed write, what the records held as read)."""
        owner, result = rnd.owner, planned.plan
        if owner is None or planned.owned is None or result.owned is None:
            return None
        mine = planned.owned.mine(owner)
        # Retiring IPs stay recorded until they are deregistered (step 4 drops them).
        ips = result.owned | (mine & {d.ip for d in result.deregister})
        try:
            self._registry.save_owned(rnd.arn, rnd.port, owner, ips, deadline=rnd.deadline)
        except OwnershipNotRecorded as exc:
            out.failed(exc)
            out.unrecorded = True
            return frozenset(ips - exc.left_out)
        except AwsError as exc:
            new = ", ".join(sorted(ips - mine))
            out.failed(
                exc,
                f"; tgsync could not record {new} as registered by it, so it did "
                "not register them (it registers an IP only once its record is "
                "written)"
                if new
                else "",
            )
            out.unrecorded = True
            return mine
        return frozenset(ips)

    # 2. register ----------------------------------------------------------------

    def _register(
        self,
        rnd: Round,
        result: Plan,
        ours: Mapping[str, Target],
        recorded: Set[str] | None,
        out: _Outcome,
    ) -> Plan:
        """Register the plan's new IPs (in owned mode, only those recorded)."""
        result = wait_instead(
            result,
            {
                d.ip: "in the answer, not registered: its ownership record could not be "
                "written (see the error)"
                for d in result.register
                if recorded is not None and d.ip not in recorded
            },
        )
        if not result.register:
            return result
        try:
            rejections = self._provider.register(
                rnd.arn, [d.ip for d in result.register], rnd.port, deadline=rnd.deadline
            )
        except AwsError as exc:
            out.failed(exc)
            out.register_failed = True
            return wait_instead(
                result, {d.ip: f"{d.reason}; RegisterTargets failed" for d in result.register}
            )
        refused = {r.ip: r.message for r in rejections}
        out.registered = [d.ip for d in result.register if d.ip not in refused]
        waits = {}
        for ip, message in refused.items():
            target = ours.get(ip)
            if target is not None and target.is_draining:
                waits[ip] = (
                    f"in DNS but draining, and ELB will not take it back yet "
                    f"({message}): registering again next cycle"
                )
            else:
                logger.error(
                    "RegisterTargets refused an IP",
                    extra={"mapping": rnd.label, "ip": ip, "error": message},
                )
                out.problems.append(f"RegisterTargets refused {ip}: {message}")
        return wait_instead(result, waits)

    # 3. deregister --------------------------------------------------------------

    def _deregister(
        self, rnd: Round, result: Plan, ours: Mapping[str, Target], out: _Outcome
    ) -> Plan:
        """Retire what the plan retires; serving targets are held while nothing could
        be registered in their place (the registration failed, or ELB refused every new
        IP and no IP of the answer is registered and serving)."""
        wanted = {d.ip for d in result.decisions if d.in_dns}
        replaced = bool(out.registered) or any(
            t.ip in wanted and not t.is_not_serving for t in ours.values()
        )
        hold = out.register_failed or (bool(out.attempted) and not replaced)
        held = {
            d.ip: f"{d.reason}; not retired while no new IP could be registered in its place"
            for d in result.deregister
            if hold and not ours[d.ip].is_not_serving
        }
        result = wait_instead(result, held)
        if not result.deregister:
            return result
        try:
            self._provider.deregister(
                rnd.arn, [ours[d.ip] for d in result.deregister], deadline=rnd.deadline
            )
        except AwsError as exc:
            out.failed(exc)
            return wait_instead(
                result, {d.ip: f"{d.reason}; DeregisterTargets failed" for d in result.deregister}
            )
        out.deregistered = [d.ip for d in result.deregister]
        return result

    # 4. drop records ------------------------------------------------------------

    def _drop_records(self, rnd: Round, result: Plan, out: _Outcome) -> None:
        """Rewrite the records to what the mapping owns now, its retired IPs dropped
        (unless the round's first write failed); ``retire=all``: drop the records the
        mapping kept when it was ``owned``."""
        owner, own_id = rnd.owner, owner_id(rnd.mapping.hostname)
        try:
            if owner is not None and result.owned is not None and not out.unrecorded:
                self._registry.save_owned(
                    rnd.arn, rnd.port, owner, result.owned, deadline=rnd.deadline
                )
            elif (
                owner is None
                and rnd.view.wanted is not None
                and self._registry.cached_owned(rnd.arn, rnd.port).mine(own_id)
            ):
                self._registry.save_owned(
                    rnd.arn, rnd.port, own_id, frozenset(), deadline=rnd.deadline
                )
        except AwsError as exc:
            out.failed(exc)

    # 5. save memory -------------------------------------------------------------

    def _save_memory(
        self, rnd: Round, planned: Planned, result: Plan, ours: Mapping[str, Target], out: _Outcome
    ) -> None:
        """Write the missing-since records that must move (see :mod:`tgsync.registry`)."""
        wanted = rnd.view.wanted
        if wanted is None:
            return
        try:
            self._registry.save(
                rnd.arn,
                rnd.port,
                result.memory,
                now=rnd.now,
                planned=planned_on(wanted, ours, rnd.owner, planned.owned),
                deadline=rnd.deadline,
            )
        except AwsError as exc:
            out.failed(exc)


def planned_on(
    wanted: frozenset[str], ours: Mapping[str, Target], owner: str | None, owned: Owned | None
) -> frozenset[str] | None:
    """The IPs whose memory records a mapping's save replaces (``None``: every IP's, as
    with ``retire=all``): its answer, what it owns, and registered IPs no other mapping
    owns (records left by ``retire=all``); other mappings' records are kept."""
    if owner is None or owned is None:
        return None
    others = owned.others(owner)
    return wanted | owned.mine(owner) | {ip for ip in ours if ip not in others}


def log_plan(rnd: Round, result: Plan) -> None:
    """One line per change or wait, each naming its group (and the foreign targets)."""
    where = {"mapping": rnd.label, "target_group": rnd.arn, "port": rnd.port}
    for decision in result.decisions:
        if decision.action in (Action.REGISTER, Action.DEREGISTER):
            logger.info(
                decision.action.value,
                extra={
                    **where,
                    "ip": decision.ip,
                    "reason": decision.reason,
                    "dry_run": rnd.dry_run,
                },
            )
        elif decision.action is Action.WAIT:
            logger.info("WAIT", extra={**where, "ip": decision.ip, "reason": decision.reason})
    if result.foreign:
        logger.info(
            "FOREIGN",
            extra={
                **where,
                "ips": list(result.foreign),
                "reason": "not registered by this mapping: left alone",
            },
        )
    if result.resolved and not result.has_changes:
        logger.debug("up to date", extra=where)
