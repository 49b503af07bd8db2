"""One mapping's round: the value every stage of a cycle reads.

A cycle resolves the desired state (:class:`View`), then hands one :class:`Round` (the
mapping, its port, the time, the invocation's deadline, dry run, the view) to planning
(:mod:`tgsync.planning`) and to the apply stage (:mod:`tgsync.apply`). Plain values:
nothing here talks to the world.
"""

from __future__ import annotations

from dataclasses import dataclass

from tgsync.config import MappingConfig
from tgsync.deadline import Deadline
from tgsync.guard import Refusal
from tgsync.ownership import owner_of


@dataclass(frozen=True, slots=True)
class View:
    """One cycle's desired state: the allowed IPs (``None``: resolution failed, and
    ``failure`` says why), how many distinct answers gave them and the largest."""

    wanted: frozenset[str] | None
    failure: str | None = None
    distinct: int = 1
    largest: int | None = None
    #: Not (fully) asked: too little time was left. Not a DNS fault.
    out_of_time: bool = False
    #: Complete and consistent (the RDS API's members): retire what it lacks at once.
    authoritative: bool = False
    record_type: str = "A"
    refused: tuple[Refusal, ...] = ()
    queries: int = 0
    #: The failure was an AWS API call's (``resolve=rds``), not DNS's.
    api_failed: bool = False
    #: Where the answer came from, in words (``DNS``, ``the RDS members``).
    origin: str = "DNS"


@dataclass(frozen=True, slots=True)
class Round:
    """One mapping's cycle as every stage sees it."""

    mapping: MappingConfig
    port: int
    now: float
    deadline: Deadline
    dry_run: bool
    view: View

    @property
    def arn(self) -> str:
        """The target group's ARN."""
        return self.mapping.target_group_arn

    @property
    def owner(self) -> str | None:
        """The mapping's owner id with ``retire=owned`` (``None``: it retires all)."""
        return owner_of(self.mapping)

    @property
    def label(self) -> str:
        """The mapping's label, for logs."""
        return self.mapping.label
