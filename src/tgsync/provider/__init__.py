"""Provider: reads and changes the target group (actual state). Every call takes the
caller's deadline (a call that would outlive it is not made)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from tgsync.deadline import Deadline
from tgsync.model import Candidate, Rejection, Target, TargetGroupFacts

__all__ = ["Provider"]


class Provider(Protocol):
    """The few ELB operations a sync cycle needs. Errors are ``ProviderError``."""

    def keep_only(self, arns: Iterable[str]) -> None:
        """Forget what is cached about groups no longer kept."""
        ...

    def discover(self, region: str, *, deadline: Deadline = ...) -> list[Candidate]:
        """Every target group of ``region`` with its tags (discovery)."""
        ...

    def facts(self, arn: str, *, deadline: Deadline = ...) -> TargetGroupFacts:
        """Port, protocol, IP type and VPC of the group; cached per process."""
        ...

    def prefetch(self, arns: Sequence[str], *, deadline: Deadline = ...) -> None:
        """Warm the facts cache for many groups at once; best effort."""
        ...

    def targets(self, arn: str, *, deadline: Deadline = ...) -> list[Target]:
        """Every registered target with its health, on every port; IPs canonical."""
        ...

    def register(
        self, arn: str, ips: Iterable[str], port: int, *, deadline: Deadline = ...
    ) -> list[Rejection]:
        """Register ``ips`` on ``port``; return the IPs ELB refused, the rest registered."""
        ...

    def deregister(self, arn: str, targets: Sequence[Target], *, deadline: Deadline = ...) -> None:
        """Deregister ``targets``, each with its port and the zone ELB reported."""
        ...

    def register_as_reported(self, arn: str, target: Target, *, deadline: Deadline = ...) -> None:
        """Register one target exactly as ELB reported it (a preflight's probe)."""
        ...

    def tags(self, arn: str, *, deadline: Deadline = ...) -> dict[str, str]:
        """The group's tags."""
        ...

    def tags_many(
        self, arns: Sequence[str], *, deadline: Deadline = ...
    ) -> dict[str, dict[str, str]]:
        """The tags of many groups, by ARN."""
        ...

    def change_tags(
        self, arn: str, add: Mapping[str, str], remove: Sequence[str], *, deadline: Deadline = ...
    ) -> None:
        """Remove the keys in ``remove``, then add or overwrite ``add``."""
        ...
