"""Source: where the desired state comes from (the hostname's DNS answers)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = ["Nameserver", "Resolution", "Source"]


@dataclass(frozen=True, slots=True)
class Nameserver:
    """A DNS server to ask: an IP literal and a port."""

    address: str
    port: int = 53

    def __str__(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class Resolution:
    """The union of a cycle's DNS answers, or why there is none.

    ``error`` is set when any lookup failed: then ``answers`` must not be used to
    change anything.
    """

    answers: frozenset[str] = frozenset()
    queries: int = 0
    error: str | None = None
    #: Distinct answers among the queries, and the size of the largest: with rotating
    #: or capped answers, what the planner needs to weigh an IP's absence.
    distinct: int = 1
    largest: int = 0
    #: Not (fully) asked: too little time was left before the deadline. Not a DNS fault.
    out_of_time: bool = False


class Source(Protocol):
    """Resolves a hostname to the addresses a target group should hold."""

    def resolve(self, hostname: str, record_type: str, lookups: int, *,
                time_left: float = float("inf")) -> Resolution:
        """Ask ``lookups`` times at most, within ``time_left`` seconds; unite the
        answers; never raise for DNS faults."""
        ...
