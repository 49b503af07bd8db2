"""Provider: reads and changes the target group (actual state)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from tgsync.discovery import Candidate
from tgsync.model import Rejection, Target, TargetGroupFacts

__all__ = ["Provider"]


class Provider(Protocol):
    """The few ELB operations a sync cycle needs. Errors are ``ProviderError``."""

    def discover(self, region: str) -> list[Candidate]:
        """Every target group of ``region`` with its tags (discovery)."""
        ...

    def facts(self, arn: str) -> TargetGroupFacts:
        """Port, protocol, IP type and VPC of the group; cached per process."""
        ...

    def prefetch(self, arns: Sequence[str]) -> None:
        """Warm the facts cache for many groups at once; best effort."""
        ...

    def targets(self, arn: str) -> list[Target]:
        """Every registered target with its health, on every port; IPs canonical."""
        ...

    def register(self, arn: str, ips: Iterable[str], port: int) -> list[Rejection]:
        """Register ``ips`` on ``port``; return the IPs ELB refused, the rest registered."""
        ...

    def deregister(self, arn: str, targets: Sequence[Target]) -> None:
        """Deregister ``targets``, each with its port and the zone ELB reported."""
        ...
