"""The settings of the stack around the function (schedule, memory, log level, log
retention, architecture): not ones the function reads, so apart from its table in
:mod:`tgsync.settings`. The templates' tests, the Terraform module's generator and the
CDK construct's checks read them here.

Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class StackSetting:
    """A setting of the stack around the function (not one the function reads): its
    parameter, CDK keyword, default and bounds (``low``/``high``) or values (``choices``),
    as the templates' tests and the CDK's checks read them."""

    cfn: str
    cdk: str
    help: str
    default: Any
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] | None = None


#: CloudWatch Logs' retention periods, in days (PutRetentionPolicy).
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)
#: The stack's own settings, once.
STACK_SETTINGS: tuple[StackSetting, ...] = (
    StackSetting(
        "ScheduleRate",
        "schedule",
        "minutes between scheduled invocations (at most "
        "4: a missing-since record not confirmed for 5 minutes is not trusted)",
        1,
        low=1,
        high=4,
    ),
    StackSetting(
        "MemorySize", "memory_size", "the function's memory in MB", 256, low=128, high=1024
    ),
    StackSetting(
        "LogLevel",
        "log_level",
        "POWERTOOLS_LOG_LEVEL and the application log level",
        "INFO",
        choices=("DEBUG", "INFO", "WARN", "ERROR"),
    ),
    StackSetting(
        "LogRetentionDays",
        "log_retention",
        "days to keep the function's logs",
        30,
        choices=tuple(str(days) for days in LOG_RETENTION_DAYS),
    ),
    StackSetting(
        "Architecture",
        "architecture",
        "the zip's and the function's architecture",
        "arm64",
        choices=("arm64", "x86_64"),
    ),
)
STACK_BY_CDK: dict[str, StackSetting] = {s.cdk: s for s in STACK_SETTINGS}


def check_stack_setting(keyword: str, value: Any) -> None:
    """``value`` within the bounds or values of the stack setting ``keyword``, or a
    ValueError naming the keyword and the fix."""
    item = STACK_BY_CDK[keyword]
    if item.choices is not None and str(value) not in item.choices:
        raise ValueError(f"{keyword}={value!r}: use one of {', '.join(item.choices)}")
    if (
        item.low is not None
        and item.high is not None
        and not (isinstance(value, int | float) and item.low <= value <= item.high)
    ):
        raise ValueError(
            f"{keyword}={value!r}: give a number from {item.low:g} to {item.high:g} ({item.help})"
        )
