"""ELB's refusals of single targets, read from its error: which IP of a batch it
refused, and whether for its Availability Zone. (Every other failure is explained by the
one AWS call path, :mod:`tgsync.aws`.)"""

from __future__ import annotations

import re
from collections.abc import Iterable

from botocore.exceptions import ClientError

from tgsync.aws_service import TOTAL_MAX_ATTEMPTS, error_code, error_message
from tgsync.model import canonical_ip

__all__ = ["TARGET_ERRORS", "TOTAL_MAX_ATTEMPTS", "error_code", "is_zone_error", "refused_target"]

#: Error codes with which ELB refuses one target of a batch.
TARGET_ERRORS = ("ValidationError", "InvalidTarget")
#: An IP literal in quotes, as ELB quotes the target it refuses.
_QUOTED = re.compile(r"""['"]([0-9A-Fa-f:.]+)['"]""")
#: Words of every known "Availability Zone required / not allowed" wording (all name
#: the VPC or the zone): "... because it is not in the VPC", "... is outside the VPC",
#: "... must be 'all' ... when not within the VPC", "... not within any of the subnets
#: of the target group's VPC", "... is within the VPC, and cannot have its Availability
#: Zone overridden to 'all'".
_ZONE_WORDS = re.compile(r"\bvpc\b|availability zone", re.IGNORECASE)


def refused_target(exc: ClientError, batch: Iterable[str]) -> str | None:
    """The IP of ``batch`` that ELB's error quotes, for errors about one target."""
    if error_code(exc) not in TARGET_ERRORS:
        return None
    members = {canonical_ip(ip) for ip in batch}
    for quoted in _QUOTED.findall(error_message(exc)):
        if canonical_ip(quoted) in members:
            return canonical_ip(quoted)
    return None


def is_zone_error(exc: ClientError) -> bool:
    """ELB's error is about the Availability Zone of an IP inside or outside the VPC."""
    return error_code(exc) == "ValidationError" and bool(_ZONE_WORDS.search(error_message(exc)))
