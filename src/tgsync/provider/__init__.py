"""Provider: reads and changes the target group (actual state)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from tgsync.model import Target, TargetGroupFacts

__all__ = ["Provider"]


class Provider(Protocol):
    """The few ELB operations a sync cycle needs. Errors are ``ProviderError``."""

    def facts(self, arn: str) -> TargetGroupFacts:
        """Port, protocol, IP type and VPC of the group; cached per process."""
        ...

    def prefetch(self, arns: Sequence[str]) -> None:
        """Warm the facts cache for many groups at once; best effort."""
        ...

    def targets(self, arn: str) -> list[Target]:
        """Every registered target with its health, on every port."""
        ...

    def register(self, arn: str, ips: Iterable[str], port: int) -> None:
        """Register ``ips`` on ``port``."""
        ...

    def deregister(self, arn: str, ips: Iterable[str], port: int) -> None:
        """Deregister ``ips`` from ``port``."""
        ...

    def tags(self, arn: str) -> dict[str, str]:
        """The group's tags."""
        ...

    def tags_many(self, arns: Sequence[str]) -> dict[str, dict[str, str]]:
        """The tags of many groups, by ARN."""
        ...

    def change_tags(self, arn: str, add: Mapping[str, str], remove: Iterable[str]) -> None:
        """Add or overwrite ``add``, then remove the keys in ``remove``."""
        ...
