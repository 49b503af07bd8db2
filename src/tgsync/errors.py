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
    """An ELB API call failed; the message names the operation and what to do."""


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
