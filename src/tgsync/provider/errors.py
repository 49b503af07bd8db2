"""ELB's errors in tgsync's words: which call failed, about what, and the fix.

botocore's failures become :class:`~tgsync.errors.ProviderError` with the operation,
the target group and ELB's code as fields, so nobody searches error text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from botocore.exceptions import (
    ClientError,
    NoCredentialsError,
    NoRegionError,
    ParamValidationError,
)

from tgsync.errors import ProviderError
from tgsync.model import canonical_ip

#: Requests per API call, first try included; retried: throttling, 5xx, resets.
TOTAL_MAX_ATTEMPTS = 3
#: Errors worth another attempt: throttling and ELB's own failures.
_RETRIED_CODES = frozenset({"Throttling", "ThrottlingException", "RequestLimitExceeded",
                            "InternalFailure", "InternalError", "ServiceUnavailable"})

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


def error_code(exc: ClientError) -> str:
    """The AWS error code of a ``ClientError``."""
    return str(exc.response.get("Error", {}).get("Code", ""))


def is_access_denied(exc: ClientError) -> bool:
    """IAM refused the call."""
    return error_code(exc) in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation")


def is_target_group_not_found(exc: ClientError) -> bool:
    """The target group does not exist (wrong ARN, deleted, other region or account)."""
    return error_code(exc) == "TargetGroupNotFound"


def is_throttled(exc: ClientError) -> bool:
    """ELB's throttling buckets are empty, even after botocore's retries."""
    return error_code(exc) in ("Throttling", "ThrottlingException", "RequestLimitExceeded")


def error_message(exc: ClientError) -> str:
    """ELB's own words for a ``ClientError``."""
    return str(exc.response.get("Error", {}).get("Message", ""))


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


def explain(operation: str, arn: str, exc: Exception) -> ProviderError:
    """Turn a botocore failure into an error that says what to do, with its fields."""
    fields = {"operation": operation, "target_group": arn if ":targetgroup/" in arn else ""}
    if isinstance(exc, ClientError):
        code, message = error_code(exc), error_message(exc)
        fields.update(code=code, aws_message=message)
        if is_access_denied(exc):
            return ProviderError(
                f"{operation} denied for {arn}: allow elasticloadbalancing:{operation} "
                f"in the function's IAM role ({message})", **fields)
        if is_target_group_not_found(exc):
            return ProviderError(
                f"{operation}: target group {arn} not found (deleted, or in another account "
                "or region?)", **fields)
        if code == "TooManyTags":
            return ProviderError(
                f"{operation}: target group {arn} has reached ELB's 50-tag limit; tgsync "
                "keeps its memory of IPs missing from DNS in tags named tgsync:missing:*: "
                "remove other tags you no longer need (until then, healthy IPs missing "
                "from DNS are not retired)", **fields)
        if is_throttled(exc):
            return ProviderError(
                f"{operation} throttled by ELB after {TOTAL_MAX_ATTEMPTS} attempts; lower "
                "TGSYNC_API_RATE or TGSYNC_CONCURRENCY, or look for other heavy ELB callers",
                **fields)
        return ProviderError(f"{operation} failed for {arn}: {code}: {message}", **fields)
    return _explain_unanswered(operation, arn, exc, fields)


def _explain_unanswered(operation: str, arn: str, exc: Exception, fields: dict[str, str]
                        ) -> ProviderError:
    """A call ELB never answered: no credentials, no region, or the network."""
    if isinstance(exc, NoCredentialsError):
        return ProviderError(
            f"{operation}: no AWS credentials were found; in Lambda the function's role "
            "gives them, elsewhere set AWS_PROFILE or the AWS_* variables", **fields,
            code="NoCredentials")
    if isinstance(exc, NoRegionError):
        return ProviderError(f"{operation}: no AWS region is set; set AWS_REGION", **fields,
                             code="NoRegion")
    return ProviderError(
        f"{operation} failed for {arn}: {exc}; is the elasticloadbalancing endpoint "
        "reachable (VPC interface endpoint with private DNS, security group on 443)?",
        **fields)


def retried(exc: Exception) -> bool:
    """True if another attempt may succeed: throttling, ELB's failures, the network."""
    if isinstance(exc, ClientError):
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        return error_code(exc) in _RETRIED_CODES or status >= 500  # noqa: PLR2004
    return not isinstance(exc, (ParamValidationError, NoCredentialsError, NoRegionError))
