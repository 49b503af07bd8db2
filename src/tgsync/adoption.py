"""Discovery over time: reading the region's tagged groups, adopting and letting go.

:mod:`tgsync.discovery` decides, purely, which groups one listing adopts. This module
keeps the last good listing for the process, reads again every
``TGSYNC_DISCOVER_EVERY`` seconds (a failed read keeps the groups found before, and
is reported), and lets go of groups no longer discovered: their targets stay as they
are, tgsync stops acting on them and removes its memory tags. A dry run removes
nothing; the let-go waits for the first real cycle, so the tags are never forgotten.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import replace

from tgsync.config import Discovery, MappingConfig
from tgsync.deadline import NONE, Deadline
from tgsync.discovery import Discovered, adopt
from tgsync.errors import AwsError
from tgsync.model import Retire
from tgsync.ownership import owner_id
from tgsync.provider import Provider
from tgsync.registry import TagRegistry
from tgsync.report import DiscoveryReport, MappingReport, logger


class Adoption:
    """The groups this process adopted by discovery, read again when due."""

    def __init__(
        self,
        provider: Provider,
        registry: TagRegistry,
        discovery: Discovery,
        port_of: Callable[[MappingConfig, Deadline], int],
    ) -> None:
        self._provider = provider
        self._registry = registry
        self._discovery = discovery
        self._port_of = port_of
        self._last: Discovered | None = None
        self._lock = threading.Lock()
        #: Groups let go during dry runs: their memory tags are removed by the next
        #: real cycle.
        self._letting_go: dict[str, MappingConfig] = {}
        #: Groups whose hostname tag changed (old mapping, new): the old hostname's
        #: ownership records pass to the new one in the next real cycle.
        self._handing_over: dict[str, tuple[MappingConfig, MappingConfig]] = {}
        #: Groups whose ``tgsync:port`` tag changed (old mapping, new): the old port is
        #: let go in the next real cycle.
        self._moving: dict[str, tuple[MappingConfig, MappingConfig]] = {}
        self.report: DiscoveryReport | None = None

    def mappings(
        self, now: float, *, dry_run: bool, deadline: Deadline = NONE
    ) -> tuple[Sequence[MappingConfig], list[MappingReport]]:
        """The adopted mappings, and reports for groups refused and for a failed read."""
        failure: MappingReport | None = None
        last = self._last
        if last is None or not 0 <= now - last.at < self._discovery.every:
            try:
                candidates = self._provider.discover(self._discovery.region, deadline=deadline)
                fresh = adopt(candidates, self._discovery, at=now)
                # The listing read every group's tags: the memory needs no read of its own.
                self._registry.remember(
                    {c.arn: dict(c.tags) for c in candidates if c.arn in fresh.arns}
                )
            except AwsError as exc:
                logger.error(
                    "discovery failed: keeping the groups found before", extra={"error": str(exc)}
                )
                failure = MappingReport("discovery", "", "", dry_run=dry_run, aws_failed=True).fail(
                    f"discovery failed, the groups found before are kept: {exc}"
                )
            else:
                self._adopted(last, fresh)
                self._last = last = fresh
        elif self.report is not None:  # the read of an earlier cycle
            self.report = replace(self.report, read=0, new=[], let_go=[])
        if not dry_run:
            self._let_go(deadline)
            self._hand_over(deadline)
            self._move(deadline)
        if last is None:
            return [], [failure] if failure else []
        refused = [
            MappingReport(bad.label, "", bad.target_group_arn, dry_run=dry_run).fail(
                "; ".join(bad.problems)
            )
            for bad in last.refused
        ]
        return last.mappings, [*refused, *([failure] if failure else [])]

    def _adopted(self, before: Discovered | None, after: Discovered) -> None:
        """Log what changed; note the groups let go (their tags are removed later)."""
        old = {m.target_group_arn: m for m in before.mappings} if before else {}
        new = {m.target_group_arn: m for m in after.mappings}
        self.report = DiscoveryReport(
            read=after.read,
            adopted=sorted(new),
            new=sorted(set(new) - set(old)),
            let_go=sorted(set(old) - set(new)),
            refused=[b.label for b in after.refused],
            others=len(after.others),
        )
        logger.info("discovery", extra=self.report.to_dict())
        with self._lock:
            for arn in set(new) & set(self._letting_go):  # adopted again: nothing to remove
                del self._letting_go[arn]
            self._letting_go.update({arn: old[arn] for arn in self.report.let_go})
            self._moving.update(
                {
                    arn: (old[arn], new[arn])
                    for arn in set(old) & set(new)
                    if old[arn].port != new[arn].port
                }
            )
            self._handing_over.update(
                {
                    arn: (old[arn], new[arn])
                    for arn in set(old) & set(new)
                    if owner_id(old[arn].hostname) != owner_id(new[arn].hostname)
                }
            )

    def _let_go(self, deadline: Deadline) -> None:
        """Remove the memory and ownership tags of the groups let go (the mapping's own
        records only: another mapping may share the group); a failure is logged, not retried
        (a deleted group, or a denied call: nothing of ours is left to keep)."""
        with self._lock:
            todo, self._letting_go = self._letting_go, {}
        for arn, mapping in todo.items():
            self._forget(arn, mapping, mapping.port or self._port_of(mapping, deadline), deadline)

    def _forget(self, arn: str, mapping: MappingConfig, port: int, deadline: Deadline) -> None:
        """Remove ``mapping``'s memory and ownership tags of ``port`` on the group."""
        owner = owner_id(mapping.hostname)
        try:
            self._registry.recall(arn, port, fresh=True, deadline=deadline)
            owned = self._registry.cached_owned(arn, port).mine(owner)
            # An owned mapping's memory only: another mapping may share the port.
            self._registry.save(
                arn,
                port,
                {},
                deadline=deadline,
                planned=owned if mapping.retire is Retire.OWNED else None,
            )
            self._registry.save_owned(arn, port, owner, frozenset(), deadline=deadline)
        except AwsError as exc:
            logger.warning(
                "let go, but its tags could not be removed",
                extra={"target_group": arn, "port": port, "error": str(exc)},
            )

    def _move(self, deadline: Deadline) -> None:
        """A group's ``tgsync:port`` tag changed: the old port is let go as an untagged
        group is (tgsync's tags for it removed, its targets left as they are: only the
        operator knows whether something else still serves there), and said loudly."""
        with self._lock:
            todo, self._moving = self._moving, {}
        for arn, (old, new) in todo.items():
            before, after = (m.port or self._port_of(m, deadline) for m in (old, new))
            if before == after:
                continue  # the tag now names the group's own port, or the reverse
            logger.warning(
                "tgsync:port changed: the old port is let go, its targets stay registered",
                extra={
                    "target_group": arn,
                    "old_port": before,
                    "new_port": after,
                    "fix": f"deregister the targets on port {before} if nothing else serves "
                    f"there (aws elbv2 deregister-targets --target-group-arn {arn} "
                    f"--targets Id=IP,Port={before})",
                },
            )
            self._forget(arn, old, before, deadline)

    def _hand_over(self, deadline: Deadline) -> None:
        """A group's ``tgsync:hostname`` tag changed: what tgsync registered for the old
        hostname is the new mapping's to retire (an owned mapping's, recorded as its
        own; a ``retire=all`` one's, no record left to refuse the port for)."""
        with self._lock:
            todo, self._handing_over = self._handing_over, {}
        for arn, (old, new) in todo.items():
            port = new.port or self._port_of(new, deadline)
            before, after = owner_id(old.hostname), owner_id(new.hostname)
            try:
                owned = self._registry.recall_owned(arn, port, fresh=True, deadline=deadline)
                if owned.mine(before) and new.retire is Retire.OWNED:
                    self._registry.save_owned(
                        arn, port, after, owned.mine(after) | owned.mine(before), deadline=deadline
                    )
                self._registry.save_owned(arn, port, before, frozenset(), deadline=deadline)
            except AwsError as exc:
                logger.warning(
                    "hostname changed, but the old hostname's records could not be handed over",
                    extra={"target_group": arn, "error": str(exc)},
                )
