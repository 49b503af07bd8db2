"""Every exception tgsync raises on purpose."""

from __future__ import annotations

from typing import Any


class TgsyncError(Exception):
    """Base class of tgsync's own errors."""


class ConfigError(TgsyncError):
    """The configuration is invalid; ``problems`` lists every problem found."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))


class ProviderError(TgsyncError):
    """An AWS API call failed; the message names the operation and what to do.

    The fields say which call failed so that nobody searches the text: ``operation``
    (``DescribeTags``), ``target_group`` (the ARN the call was about, or ``""``),
    ``code`` (AWS's error code, ``""`` for a network failure or no call at all) and
    ``aws_message`` (AWS's own words).
    """

    def __init__(self, message: str, *, operation: str = "", target_group: str = "",
                 code: str = "", aws_message: str = "") -> None:
        self.operation = operation
        self.target_group = target_group
        self.code = code
        self.aws_message = aws_message
        super().__init__(message)

    @property
    def denied(self) -> bool:
        """IAM refused the call."""
        return self.code in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation")

    @property
    def not_found(self) -> bool:
        """The target group does not exist (deleted, or in another account or region)."""
        return self.code == "TargetGroupNotFound"

    @property
    def unreachable(self) -> bool:
        """The endpoint did not answer at all (network, DNS of the endpoint, timeouts)."""
        return self.code == "" and self.operation != "" and not self.out_of_time

    @property
    def out_of_time(self) -> bool:
        """Not called: too little time was left before the invocation's deadline."""
        return self.code == NO_TIME_LEFT


#: The ``code`` of a call not made because the invocation's deadline was too near.
NO_TIME_LEFT = "NoTimeLeft"


class SyncFailed(TgsyncError):
    """One or more mappings failed in a cycle; ``summary`` holds the whole cycle."""

    def __init__(self, message: str, summary: dict[str, Any]) -> None:
        self.summary = summary
        super().__init__(message)


class CheckFailed(TgsyncError):
    """A preflight check failed; ``summary`` holds every check."""

    def __init__(self, message: str, summary: dict[str, Any]) -> None:
        self.summary = summary
        super().__init__(message)


class EventError(TgsyncError):
    """A direct invocation's event is malformed (a key with a value it cannot take)."""
