"""Every AWS client of the function, and the one way to call AWS.

One :class:`Aws` per process builds every client (ELB, RDS, and any other service the
function calls), from one boto3 session: endpoint and credentials come the standard
boto3 way (``AWS_ENDPOINT_URL``, ``AWS_ENDPOINT_URL_<SERVICE>``, the role), the region
from what the call is about. Each call goes through :meth:`Aws.call`:

- **paced**: a token bucket per service (ELB's Describe calls and writes each their own,
  as ELB throttles them);
- **given the time that is left** before the caller's :class:`~tgsync.deadline.Deadline`:
  an attempt takes at most ``ATTEMPT_SECONDS`` (2 s to connect, 5 s to read) or, with
  less time left, goes through a client whose timeouts end before the deadline; with
  under ``MIN_ATTEMPT_SECONDS`` left the call is not made. Those shorter clients come in
  a few fixed tiers (:data:`TIERS`), so a process holds at most ``len(TIERS) + 1``
  clients per service and region however its deadlines fall (a client per half-second
  of time left once grew memory without bound);
- **retried** on throttling, 5xx and network failures, up to ``TOTAL_MAX_ATTEMPTS``
  requests with full-jitter backoff, within the same deadline (botocore's own retries
  are off: they would not know the deadline);
- **explained**: a failure is an :class:`~tgsync.errors.AwsError` of the service's
  family, with the service, operation, resource, AWS's code and words as fields, and a
  message that says what to do.

A call may act as a role to assume (``rds_role_arn``: a cluster in another account).
A role's session gets its credentials from STS ``AssumeRole`` on first use, through
botocore's own refreshing credentials (:class:`AssumeRoleCredentialFetcher` under
:class:`DeferredRefreshableCredentials`): kept for the process and refreshed before
they expire (botocore refreshes 15 minutes ahead), so a warm function calls STS about
once an hour per role, not once per cycle. The STS client is the function's own
credentials' in the process's region (STS's regional endpoint, which the stack's
``sts`` interface endpoint serves; ``AWS_ENDPOINT_URL_STS`` as boto3 reads it).
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.session
from botocore import xform_name
from botocore.config import Config as BotoConfig
from botocore.credentials import (
    AssumeRoleCredentialFetcher,
    CredentialProvider,
    Credentials,
    DeferredRefreshableCredentials,
)
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    NoRegionError,
    ParamValidationError,
)

from tgsync.deadline import NONE, Deadline
from tgsync.errors import NO_TIME_LEFT, AwsError
from tgsync.pacing import Pacer, unpaced

CONNECT_TIMEOUT_SECONDS = 2.0
READ_TIMEOUT_SECONDS = 5.0
#: The longest one attempt can take.
ATTEMPT_SECONDS = CONNECT_TIMEOUT_SECONDS + READ_TIMEOUT_SECONDS
#: The shortest attempt worth making: with less time left, the call is not made.
MIN_ATTEMPT_SECONDS = 1.0
#: The attempt lengths of the shorter clients used near a deadline (seconds, longest
#: first): an attempt with less than ``ATTEMPT_SECONDS`` left takes the longest that fits.
TIERS = (4.0, 2.0, MIN_ATTEMPT_SECONDS)
#: Requests per call, first try included; the longest backoff before the next.
TOTAL_MAX_ATTEMPTS = 3
MAX_BACKOFF_SECONDS = 2.0
#: Connections per client: one per thread that may call at once.
DEFAULT_POOL = 10
#: Codes worth another attempt: throttling and the services' own failures.
THROTTLING_CODES = frozenset({"Throttling", "ThrottlingException", "RequestLimitExceeded",
                              "TooManyRequestsException"})
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


def boto_config(pool: int = DEFAULT_POOL, *, connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
                read_timeout: float = READ_TIMEOUT_SECONDS) -> BotoConfig:
    """The botocore settings of every client: one attempt per request (tgsync retries
    itself, within the deadline), tgsync in the user agent."""
    return BotoConfig(retries={"mode": "standard", "total_max_attempts": 1},
                      connect_timeout=connect_timeout, read_timeout=read_timeout,
                      max_pool_connections=pool, user_agent_extra="tgsync")


def tier(left: float) -> float | None:
    """The attempt length for ``left`` seconds: ``ATTEMPT_SECONDS`` when it fits, else the
    longest tier that does (``None``: too little time for any)."""
    if left >= ATTEMPT_SECONDS:
        return ATTEMPT_SECONDS
    return next((t for t in TIERS if left >= t), None)


#: The RoleSessionName of every assumption: the workload account's CloudTrail shows it.
SESSION_NAME = "tgsync"
#: STS calls: short timeouts and one retry, as tgsync's other AWS calls (a refresh runs
#: inside an RDS call, whose own retries and deadline cover the rest).
STS_CONFIG = BotoConfig(retries={"mode": "standard", "total_max_attempts": 2},
                        connect_timeout=2, read_timeout=5, user_agent_extra="tgsync")


class _Assumed(CredentialProvider):
    """The first link of a role Session's credential chain: the role's credentials."""

    METHOD = CANONICAL_NAME = "tgsync-assume-role"

    def __init__(self, credentials: Credentials | None) -> None:
        super().__init__()
        self._credentials = credentials

    def load(self) -> Credentials | None:
        return self._credentials


class RoleSessions:
    """One boto3 Session per role ARN, kept for the process (thread-safe)."""

    def __init__(self, base: Callable[[], boto3.session.Session] = boto3.session.Session,
                 config: BotoConfig = STS_CONFIG) -> None:
        self._base = base
        self._config = config
        self._lock = threading.Lock()
        self._sessions: dict[str, boto3.session.Session] = {}

    def session(self, role_arn: str | None, region: str) -> boto3.session.Session:
        """The Session for ``role_arn`` (``None``: a new Session of the function's own
        credentials); ``region`` is STS's when the process has none configured."""
        if role_arn is None:
            return self._base()
        with self._lock:
            if role_arn not in self._sessions:
                self._sessions[role_arn] = self._assume(role_arn, region)
            return self._sessions[role_arn]

    def _assume(self, role_arn: str, region: str) -> boto3.session.Session:
        base: Any = self._base()
        source = base.get_credentials()
        sts_region = base.region_name or region

        def sts(service: str, **kwargs: Any) -> Any:
            return base.client(service, region_name=sts_region, config=self._config, **kwargs)

        credentials = None
        if source is not None:  # none: the first call fails with NoCredentialsError
            fetcher = AssumeRoleCredentialFetcher(
                client_creator=sts, source_credentials=source, role_arn=role_arn,
                extra_args={"RoleSessionName": SESSION_NAME})
            credentials = DeferredRefreshableCredentials(
                refresh_using=fetcher.fetch_credentials, method="assume-role")
        core = botocore.session.Session()
        core.get_component("credential_provider").insert_before("env", _Assumed(credentials))
        return boto3.session.Session(botocore_session=core)


class Aws:
    """The process's AWS clients and calls (see the module's docstring); thread-safe.

    ``pacers`` maps a bucket (``elbv2``, ``elbv2:write``, ``rds``...) to its pacer
    (unpaced when absent). ``client_for`` replaces how a client is made (tests: a fake,
    or a client of their own); it receives the service, region, botocore config and the
    role the client acts as (``None``: the function's own), and returns ``None`` for a
    client made the usual way.
    """

    def __init__(self, *, pacers: Mapping[str, Pacer] | None = None,
                 connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
                 read_timeout: float = READ_TIMEOUT_SECONDS, pool: int = DEFAULT_POOL,
                 client_for: Callable[[str, str, BotoConfig, str | None], Any] | None = None,
                 roles: RoleSessions | None = None,
                 sleep: Callable[[float], object] = time.sleep) -> None:
        self._pacers = dict(pacers or {})
        self._timeouts = (connect_timeout, read_timeout)
        self._pool = pool
        self._client_for = client_for
        self._roles = roles or RoleSessions()
        self._sleep = sleep
        self._session: boto3.session.Session | None = None
        self._clients: dict[tuple[str, str, str | None, float], Any] = {}
        self._lock = threading.Lock()

    def client(self, service: Service, region: str, attempt: float = ATTEMPT_SECONDS, *,
               role: str | None = None) -> Any:
        """The client of ``service`` in ``region`` (acting as ``role``) whose attempts take
        at most ``attempt`` seconds (made once, then kept for the process)."""
        connect, read = self._timeouts
        if attempt < connect + read:  # shorter than usual: a tier of its own
            connect = min(connect, attempt / 3)
            read = attempt - connect
        else:
            attempt = ATTEMPT_SECONDS
        key = (service.name, region, role, attempt)
        with self._lock:  # one boto3 session; creating clients is not thread-safe
            if key not in self._clients:
                config = boto_config(self._pool, connect_timeout=connect, read_timeout=read)
                self._clients[key] = self._make(service.name, region, config, role)
            return self._clients[key]

    def clients_made(self) -> int:
        """How many clients this process holds (a bounded number: see :data:`TIERS`)."""
        with self._lock:
            return len(self._clients)

    def _make(self, name: str, region: str, config: BotoConfig, role: str | None) -> Any:
        made = (None if self._client_for is None
                else self._client_for(name, region, config, role))
        if made is not None:
            return made
        session: Any  # any service, not boto3-stubs' list
        if role is not None:
            session = self._roles.session(role, region)
        else:
            if self._session is None:
                self._session = boto3.session.Session()
            session = self._session
        return session.client(name, region_name=region, config=config)

    def call(self, service: Service, operation: str, *, region: str, about: str,
             deadline: Deadline = NONE, resource: str = "", role: str | None = None,
             **params: Any) -> Any:
        """One call of ``operation`` with ``params``: paced, retried within ``deadline``,
        its failure an error of the service's family. ``about`` names what the call is
        about in words (``cluster orders``, a target group's ARN); ``resource`` is the
        ARN the error carries in its fields; ``role``: act as this role (its account)."""
        if operation not in service.operations:
            raise ValueError(f"{operation} is not one of {service.name}'s operations: the "
                             "role would not allow it")
        pacer = self._pacers.get(service.bucket(operation), unpaced)
        for attempt in range(1, TOTAL_MAX_ATTEMPTS + 1):
            if not pacer.acquire(within=deadline.left() - MIN_ATTEMPT_SECONDS):
                raise no_time(service, operation, about, deadline, resource)
            length = tier(deadline.left())
            if length is None:
                raise no_time(service, operation, about, deadline, resource)
            client = self.client(service, region, length, role=role)
            try:
                return getattr(client, xform_name(operation))(**params)
            except (ClientError, BotoCoreError) as exc:
                backoff = random.uniform(0, min(MAX_BACKOFF_SECONDS, 0.5 * 2 ** attempt))  # noqa: S311
                if (attempt == TOTAL_MAX_ATTEMPTS or not retried(exc)
                        or not deadline.allows(backoff + MIN_ATTEMPT_SECONDS)):
                    raise explain(service, operation, about, region, exc,
                                  resource=resource, role=role) from exc
            self._sleep(backoff)  # full jitter, as botocore's standard mode, capped short
        raise AssertionError("unreachable")  # pragma: no cover


# ------------------------------------------------------------------------- errors


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


def no_time(service: Service, operation: str, about: str, deadline: Deadline,
            resource: str = "") -> AwsError:
    """The error of a call not made: too little time was left before the deadline."""
    return service.error(
        f"{operation} for {about} not attempted: {max(deadline.left(), 0):.1f}s left before "
        "the invocation's deadline; the next invocation carries on (raise the function's "
        "timeout, TGSYNC_API_RATE or lower TGSYNC_CONCURRENCY if this recurs)",
        service=service.name, operation=operation, resource=resource, code=NO_TIME_LEFT)


def explain(service: Service, operation: str, about: str, region: str, exc: Exception, *,
            resource: str = "", role: str | None = None) -> AwsError:
    """A botocore failure in words that say what to do, with its fields (acting as
    ``role``: its AssumeRole may be what failed)."""
    if role is not None and _of_sts(exc):
        return _explain_assume(service, operation, about, exc, role)
    fields: dict[str, str] = {"service": service.name, "operation": operation,
                              "resource": resource}
    if not isinstance(exc, ClientError):
        return _explain_unanswered(service, operation, about, region, exc, fields=fields)
    code, message = error_code(exc), error_message(exc)
    fields.update(code=code, aws_message=message)
    whose = f"role {role}'s policy (in its account)" if role else "the function's IAM role"
    if code in _DENIED_CODES:
        text = (f"{operation} denied for {about}: allow {service.iam}:{operation} in "
                f"{whose} ({message})")
    elif code in service.not_found:
        where = "" if region in about else f" in {region}"
        read = f", read as role {role}" if role else ""
        text = f"{operation}: {about} not found{where}{read} ({service.not_found_hint})"
    elif code == "TooManyTags":
        text = (f"{operation}: {about} has reached ELB's 50-tag limit; tgsync keeps its "
                "memory of IPs missing from DNS in tags named tgsync:missing:*: remove "
                "other tags you no longer need (until then, healthy IPs missing from DNS "
                "are not retired)")
    elif code in THROTTLING_CODES:
        text = (f"{operation} throttled by {service.label} after {TOTAL_MAX_ATTEMPTS} "
                f"attempts ({about}); lower TGSYNC_API_RATE or TGSYNC_CONCURRENCY, or look "
                f"for other heavy {service.label} API callers")
    else:
        text = f"{operation} failed for {about}: {code}: {message}"
    return service.error(text, **fields)


def _explain_unanswered(service: Service, operation: str, about: str, region: str,
                        exc: Exception, *, fields: dict[str, str]) -> AwsError:
    """A call the service never answered: no credentials, no region, or the network."""
    if isinstance(exc, NoCredentialsError):
        return service.error(f"{operation}: no AWS credentials were found; in Lambda the "
                             "function's role gives them, elsewhere set AWS_PROFILE or the "
                             "AWS_* variables", **fields, code="NoCredentials")
    if isinstance(exc, NoRegionError):
        return service.error(f"{operation}: no AWS region is set; set AWS_REGION", **fields,
                             code="NoRegion")
    return service.error(f"{operation} failed for {about}: {exc}; "
                         f"{reachability_hint(service, region)}", **fields)


def _of_sts(exc: Exception) -> bool:
    """The failure was the role's AssumeRole (made inside the call), not the service's."""
    if isinstance(exc, ClientError):
        return exc.operation_name == "AssumeRole"
    return "//sts." in str(getattr(exc, "kwargs", {}).get("endpoint_url", ""))


def _explain_assume(service: Service, operation: str, about: str, exc: Exception,
                    role: str) -> AwsError:
    """A failed AssumeRole of ``role`` in words."""
    why = f"sts:AssumeRole of {role} (to read {about} with {service.iam}:{operation})"
    if not isinstance(exc, ClientError):
        return service.error(
            f"{why} failed: {exc}; is the sts endpoint reachable (VPC interface endpoint "
            "with private DNS, CreateStsEndpoint, security group on 443)?",
            service="sts", operation="AssumeRole")
    code, message = error_code(exc), error_message(exc)
    if code in _DENIED_CODES:
        text = (f"{why} was denied: the function's role needs sts:AssumeRole on it (stack "
                "parameter RdsRoleArn) and the role's trust policy must name the function's "
                f"role ({message})")
    elif code in THROTTLING_CODES:
        text = f"{why} throttled by STS after retries ({message})"
    else:
        text = f"{why} failed: {code}: {message}"
    return service.error(text, service="sts", operation="AssumeRole", code=code,
                         aws_message=message)


def reachability_hint(service: Service, region: str) -> str:
    """What to check when ``service`` did not answer, fitted to where its endpoint came
    from: a variable the user set, or AWS's own (from private subnets, an interface
    endpoint)."""
    for variable in (service.endpoint_variable, "AWS_ENDPOINT_URL"):
        url = os.environ.get(variable)
        if url:
            return f"is {url} (from {variable}) up and reachable from here?"
    return (f"is the {service.iam} endpoint of {region} reachable (from private subnets: a "
            "VPC interface endpoint with private DNS, its security group open on 443)?")
