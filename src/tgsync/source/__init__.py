"""Source: where the desired state comes from (the hostname's DNS answers)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = ["Resolution", "Source"]


@dataclass(frozen=True, slots=True)
class Resolution:
    """The union of a cycle's DNS answers, or why there is none.

    ``error`` is set when any lookup failed: then ``answers`` must not be used to
    change anything.
    """

    hostname: str
    record_type: str
    answers: frozenset[str] = frozenset()
    queries: int = 0
    error: str | None = None
    #: Distinct answers among the queries, and the size of the largest: with rotating
    #: or capped answers, what the planner needs to weigh an IP's absence.
    distinct: int = 1
    largest: int = 0

    @property
    def ok(self) -> bool:
        """True when every lookup succeeded with at least one answer."""
        return self.error is None and bool(self.answers)


class Source(Protocol):
    """Resolves a hostname to the addresses a target group should hold."""

    def resolve(self, hostname: str, record_type: str, lookups: int) -> Resolution:
        """Ask ``lookups`` times at most; unite the answers; never raise for DNS faults."""
        ...
