"""An AWS service as the function knows it (:class:`Service`: its operations, the role's
grants, pacing bucket, endpoint variable) and its failures in words that say what to do
(:func:`explain`). :mod:`tgsync.aws` makes the clients and the calls.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from botocore.exceptions import (
    ClientError,
    NoCredentialsError,
    NoRegionError,
    ParamValidationError,
)

from tgsync.deadline import Deadline
from tgsync.errors import NO_TIME_LEFT, AwsError

#: Requests per call, first try included.
TOTAL_MAX_ATTEMPTS = 3
#: Codes worth another attempt: throttling and the services' own failures.
THROTTLING_CODES = frozenset(
    {"Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException"}
)
_RETRIED_CODES = THROTTLING_CODES | {"InternalFailure", "InternalError", "ServiceUnavailable"}
_DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"})


@dataclass(frozen=True, slots=True)
class Service:
    """An AWS service the function calls: its boto3 name, IAM prefix, the name people
    know it by, the operations the role allows (the role grants exactly these), those
    paced in a bucket of their own, and the codes that mean "not found"."""

    name: str
    iam: str
    label: str
    operations: tuple[str, ...]
    #: Operations paced apart from the rest (ELB throttles its writes separately).
    writes: frozenset[str] = frozenset()
    not_found: frozenset[str] = frozenset()
    #: The error class of this service's failures.
    error: type[AwsError] = AwsError
    #: What a ``not found`` error adds for people (where to look).
    not_found_hint: str = "deleted, or in another account or region?"

    def bucket(self, operation: str) -> str:
        """The pacing bucket of ``operation``: ``<service>`` or ``<service>:write``."""
        return f"{self.name}:write" if operation in self.writes else self.name

    @property
    def endpoint_variable(self) -> str:
        """The service's own endpoint variable of boto3 (``AWS_ENDPOINT_URL_RDS``)."""
        return "AWS_ENDPOINT_URL_" + _SERVICE_IDS.get(self.name, self.name.upper())


#: boto3's service ids, as its endpoint variables spell them.
_SERVICE_IDS = {"elbv2": "ELASTIC_LOAD_BALANCING_V2", "events": "EVENTBRIDGE"}


def error_code(exc: ClientError) -> str:
    """The AWS error code of a ``ClientError``."""
    return str(exc.response.get("Error", {}).get("Code", ""))


def error_message(exc: ClientError) -> str:
    """AWS's own words for a ``ClientError``."""
    return str(exc.response.get("Error", {}).get("Message", ""))


def retried(exc: Exception) -> bool:
    """True if another attempt may succeed: throttling, the service's failures, the
    network (not a bad parameter, no credentials or no region)."""
    if isinstance(exc, ClientError):
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        return error_code(exc) in _RETRIED_CODES or status >= 500  # noqa: PLR2004
    return not isinstance(exc, (ParamValidationError, NoCredentialsError, NoRegionError))


def no_time(
    service: Service, operation: str, about: str, deadline: Deadline, resource: str = ""
) -> AwsError:
    """The error of a call not made: too little time was left before the deadline."""
    return service.error(
        f"{operation} for {about} not attempted: {max(deadline.left(), 0):.1f}s left before "
        "the invocation's deadline; the next invocation carries on (raise the function's "
        "timeout, TGSYNC_API_RATE or lower TGSYNC_CONCURRENCY if this recurs)",
        service=service.name,
        operation=operation,
        resource=resource,
        code=NO_TIME_LEFT,
    )


def explain(
    service: Service,
    operation: str,
    about: str,
    region: str,
    exc: Exception,
    *,
    resource: str = "",
    role: str | None = None,
) -> AwsError:
    """A botocore failure in words that say what to do, with its fields (acting as
    ``role``: its AssumeRole may be what failed)."""
    if role is not None and _of_sts(exc):
        return _explain_assume(service, operation, about, exc, role)
    fields: dict[str, str] = {"service": service.name, "operation": operation, "resource": resource}
    if not isinstance(exc, ClientError):
        return _explain_unanswered(service, operation, about, region, exc, fields=fields)
    code, message = error_code(exc), error_message(exc)
    fields.update(code=code, aws_message=message)
    whose = f"role {role}'s policy (in its account)" if role else "the function's IAM role"
    if code in _DENIED_CODES:
        text = (
            f"{operation} denied for {about}: allow {service.iam}:{operation} in "
            f"{whose} ({message})"
        )
    elif code in service.not_found:
        where = "" if region in about else f" in {region}"
        read = f", read as role {role}" if role else ""
        text = f"{operation}: {about} not found{where}{read} ({service.not_found_hint})"
    elif code == "TooManyTags":
        text = (
            f"{operation}: {about} has reached ELB's 50-tag limit; tgsync keeps its "
            "memory of IPs missing from DNS in tags named tgsync:missing:*: remove "
            "other tags you no longer need (until then, healthy IPs missing from DNS "
            "are not retired)"
        )
    elif code in THROTTLING_CODES:
        text = (
            f"{operation} throttled by {service.label} after {TOTAL_MAX_ATTEMPTS} "
            f"attempts ({about}); lower TGSYNC_API_RATE or TGSYNC_CONCURRENCY, or look "
            f"for other heavy {service.label} API callers"
        )
    else:
        text = f"{operation} failed for {about}: {code}: {message}"
    return service.error(text, **fields)


def _explain_unanswered(
    service: Service,
    operation: str,
    about: str,
    region: str,
    exc: Exception,
    *,
    fields: dict[str, str],
) -> AwsError:
    """A call the service never answered: no credentials, no region, or the network."""
    if isinstance(exc, NoCredentialsError):
        return service.error(
            f"{operation}: no AWS credentials were found; in Lambda the "
            "function's role gives them, elsewhere set AWS_PROFILE or the "
            "AWS_* variables",
            **fields,
            code="NoCredentials",
        )
    if isinstance(exc, NoRegionError):
        return service.error(
            f"{operation}: no AWS region is set; set AWS_REGION", **fields, code="NoRegion"
        )
    return service.error(
        f"{operation} failed for {about}: {exc}; {reachability_hint(service, region)}", **fields
    )


def _of_sts(exc: Exception) -> bool:
    """The failure was the role's AssumeRole (made inside the call), not the service's."""
    if isinstance(exc, ClientError):
        return exc.operation_name == "AssumeRole"
    return "//sts." in str(getattr(exc, "kwargs", {}).get("endpoint_url", ""))


def _explain_assume(
    service: Service, operation: str, about: str, exc: Exception, role: str
) -> AwsError:
    """A failed AssumeRole of ``role`` in words."""
    why = f"sts:AssumeRole of {role} (to read {about} with {service.iam}:{operation})"
    if not isinstance(exc, ClientError):
        return service.error(
            f"{why} failed: {exc}; is the sts endpoint reachable (VPC interface endpoint "
            "with private DNS, CreateStsEndpoint, security group on 443)?",
            service="sts",
            operation="AssumeRole",
        )
    code, message = error_code(exc), error_message(exc)
    if code in _DENIED_CODES:
        text = (
            f"{why} was denied: the function's role needs sts:AssumeRole on it (stack "
            "parameter RdsRoleArn) and the role's trust policy must name the function's "
            f"role ({message})"
        )
    elif code in THROTTLING_CODES:
        text = f"{why} throttled by STS after retries ({message})"
    else:
        text = f"{why} failed: {code}: {message}"
    return service.error(
        text, service="sts", operation="AssumeRole", code=code, aws_message=message
    )


def reachability_hint(service: Service, region: str) -> str:
    """What to check when ``service`` did not answer, fitted to where its endpoint came
    from: a variable the user set, or AWS's own (from private subnets, an interface
    endpoint)."""
    for variable in (service.endpoint_variable, "AWS_ENDPOINT_URL"):
        url = os.environ.get(variable)
        if url:
            return f"is {url} (from {variable}) up and reachable from here?"
    return (
        f"is the {service.iam} endpoint of {region} reachable (from private subnets: a "
        "VPC interface endpoint with private DNS, its security group open on 443)?"
    )
