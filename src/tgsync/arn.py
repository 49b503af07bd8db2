"""Amazon Resource Names of target groups and load balancers, parsed in one place."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

_TARGET_GROUP = re.compile(
    r"^arn:(?P<partition>[a-z][a-z0-9-]*):elasticloadbalancing:"
    r"(?P<region>[a-z]{2,}(-[a-z]+)+-\d+):(?P<account>\d{12}):"
    r"targetgroup/(?P<name>[A-Za-z0-9-]{1,32})/(?P<id>[0-9a-f]{1,32})$"
)


@functools.cache
def partitions() -> frozenset[str]:
    """Every AWS partition botocore knows (``aws``, ``aws-cn``, ``aws-eusc``, ...).

    Read from botocore's small ``partitions`` data, not the 1 MB endpoint list.
    """
    # Imported here: the settings' parsers import this module, and the docs' generator
    # imports them in a virtual environment without botocore.
    import botocore.loaders  # noqa: PLC0415

    data = botocore.loaders.Loader().load_data("partitions")
    return frozenset(str(p["id"]) for p in data["partitions"])


@dataclass(frozen=True, slots=True)
class TargetGroupArn:
    """The parts of a target group ARN."""

    partition: str
    region: str
    account: str
    name: str
    id: str

    @classmethod
    def parse(cls, text: str) -> TargetGroupArn:
        """Parse ``text``; raise ``ValueError`` saying what is wrong and the fix."""
        match = _TARGET_GROUP.match(text.strip())
        if not match:
            raise ValueError(
                f"{text!r} is not a target group ARN; copy it from the console or "
                "`aws elbv2 describe-target-groups`: arn:aws:elasticloadbalancing:REGION:"
                "ACCOUNT:targetgroup/NAME/ID"
            )
        if match["partition"] not in partitions():
            known = ", ".join(sorted(partitions()))
            raise ValueError(
                f"{text!r} names partition {match['partition']!r}, which AWS "
                f"does not have; use one of: {known}"
            )
        return cls(
            match["partition"], match["region"], match["account"], match["name"], match["id"]
        )


def region_of(arn: str) -> str:
    """The region field of any ARN (the fourth)."""
    return arn.split(":")[3]


def target_group_name(arn: str) -> str:
    """The group's name from its ARN, or the text itself if it is not one."""
    try:
        return TargetGroupArn.parse(arn).name
    except ValueError:
        return arn


def load_balancer_name(arn: str) -> str:
    """``my-alb`` from ``...:loadbalancer/app/my-alb/0123...``."""
    kind, _, rest = arn.rpartition(":loadbalancer/")
    parts = rest.split("/")  # app | net, the name, the id
    return parts[1] if kind and len(parts) == len(("app", "name", "id")) else arn
