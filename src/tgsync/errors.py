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


class AwsError(TgsyncError):
    """An AWS API call failed, or was not made; the message names the call and what to do.

    The fields say which call failed so that nobody searches the text: ``service``
    (``elbv2``, ``rds``), ``operation`` (``DescribeTags``), ``resource`` (the ARN the
    call was about, or ``""``), ``code`` (AWS's error code, ``""`` for a network failure,
    :data:`NO_TIME_LEFT` for a call not made) and ``aws_message`` (AWS's own words).
    """

    def __init__(
        self,
        message: str,
        *,
        service: str = "",
        operation: str = "",
        resource: str = "",
        code: str = "",
        aws_message: str = "",
    ) -> None:
        self.service = service
        self.operation = operation
        self.resource = resource
        self.code = code
        self.aws_message = aws_message
        super().__init__(message)

    @property
    def denied(self) -> bool:
        """IAM refused the call."""
        return self.code in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation")

    @property
    def not_found(self) -> bool:
        """What the call was about does not exist (deleted, or in another account or
        region): ``TargetGroupNotFound``, ``DBClusterNotFoundFault``..."""
        return self.code.endswith(("NotFound", "NotFoundFault"))

    @property
    def unreachable(self) -> bool:
        """The endpoint did not answer at all (network, DNS of the endpoint, timeouts)."""
        return self.code == "" and self.operation != "" and not self.out_of_time

    @property
    def out_of_time(self) -> bool:
        """Not called: too little time was left before the invocation's deadline."""
        return self.code == NO_TIME_LEFT


class ProviderError(AwsError):
    """An ELB call about a target group failed (the provider's); ``target_group`` is the
    group's ARN when the call was about one."""

    def __init__(
        self,
        message: str,
        *,
        operation: str = "",
        target_group: str = "",
        code: str = "",
        aws_message: str = "",
        service: str = "elbv2",
        resource: str = "",
    ) -> None:
        super().__init__(
            message,
            service=service,
            operation=operation,
            resource=resource or target_group,
            code=code,
            aws_message=aws_message,
        )

    @property
    def target_group(self) -> str:
        """The target group's ARN, when the call was about one (else ``""``)."""
        return self.resource if ":targetgroup/" in self.resource else ""


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
