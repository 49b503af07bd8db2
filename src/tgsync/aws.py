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
  message that says what to do (:mod:`tgsync.aws_service`, with :class:`Service`).

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

import random
import threading
import time
from collections.abc import Callable, Mapping
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
)

from tgsync.aws_service import TOTAL_MAX_ATTEMPTS, Service, explain, no_time, retried
from tgsync.deadline import NONE, Deadline
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
#: The longest backoff before the next request of a call.
MAX_BACKOFF_SECONDS = 2.0
#: Connections per client: one per thread that may call at once.
DEFAULT_POOL = 10


def boto_config(
    pool: int = DEFAULT_POOL,
    *,
    connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
    read_timeout: float = READ_TIMEOUT_SECONDS,
) -> BotoConfig:
    """The botocore settings of every client: one attempt per request (tgsync retries
    itself, within the deadline), tgsync in the user agent."""
    return BotoConfig(
        retries={"mode": "standard", "total_max_attempts": 1},
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        max_pool_connections=pool,
        user_agent_extra="tgsync",
    )


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
STS_CONFIG = BotoConfig(
    retries={"mode": "standard", "total_max_attempts": 2},
    connect_timeout=2,
    read_timeout=5,
    user_agent_extra="tgsync",
)


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

    def __init__(
        self,
        base: Callable[[], boto3.session.Session] = boto3.session.Session,
        config: BotoConfig = STS_CONFIG,
    ) -> None:
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
                client_creator=sts,
                source_credentials=source,
                role_arn=role_arn,
                extra_args={"RoleSessionName": SESSION_NAME},
            )
            credentials = DeferredRefreshableCredentials(
                refresh_using=fetcher.fetch_credentials, method="assume-role"
            )
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

    def __init__(
        self,
        *,
        pacers: Mapping[str, Pacer] | None = None,
        connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
        read_timeout: float = READ_TIMEOUT_SECONDS,
        pool: int = DEFAULT_POOL,
        client_for: Callable[[str, str, BotoConfig, str | None], Any] | None = None,
        roles: RoleSessions | None = None,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        self._pacers = dict(pacers or {})
        self._timeouts = (connect_timeout, read_timeout)
        self._pool = pool
        self._client_for = client_for
        self._roles = roles or RoleSessions()
        self._sleep = sleep
        self._session: boto3.session.Session | None = None
        self._clients: dict[tuple[str, str, str | None, float], Any] = {}
        self._lock = threading.Lock()

    def client(
        self,
        service: Service,
        region: str,
        attempt: float = ATTEMPT_SECONDS,
        *,
        role: str | None = None,
    ) -> Any:
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
        made = None if self._client_for is None else self._client_for(name, region, config, role)
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

    def call(
        self,
        service: Service,
        operation: str,
        *,
        region: str,
        about: str,
        deadline: Deadline = NONE,
        resource: str = "",
        role: str | None = None,
        **params: Any,
    ) -> Any:
        """One call of ``operation`` with ``params``: paced, retried within ``deadline``,
        its failure an error of the service's family. ``about`` names what the call is
        about in words (``cluster orders``, a target group's ARN); ``resource`` is the
        ARN the error carries in its fields; ``role``: act as this role (its account)."""
        if operation not in service.operations:
            raise ValueError(
                f"{operation} is not one of {service.name}'s operations: the "
                "role would not allow it"
            )
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
                backoff = random.uniform(0, min(MAX_BACKOFF_SECONDS, 0.5 * 2**attempt))  # noqa: S311
                if (
                    attempt == TOTAL_MAX_ATTEMPTS
                    or not retried(exc)
                    or not deadline.allows(backoff + MIN_ATTEMPT_SECONDS)
                ):
                    raise explain(
                        service, operation, about, region, exc, resource=resource, role=role
                    ) from exc
            self._sleep(backoff)  # full jitter, as botocore's standard mode, capped short
        raise AssertionError("unreachable")  # pragma: no cover
