"""boto3 Sessions that act as a role to assume (``rds_role_arn``: a cluster in another
account), one per role ARN per process.

A role's Session gets its credentials from STS ``AssumeRole`` on first use, through
botocore's own refreshing credentials (:class:`AssumeRoleCredentialFetcher` under
:class:`DeferredRefreshableCredentials`): they are kept for the process and refreshed
before they expire (botocore refreshes 15 minutes ahead, and must 10 minutes ahead), so
a warm function calls STS about once an hour per role, not once per cycle. The STS
client is the function's own credentials' (the execution role), in the process's
region (STS's regional endpoint, which the stack's ``sts`` interface endpoint serves;
``AWS_ENDPOINT_URL_STS`` as boto3 reads it), with the timeouts the caller gives.

Without a role, :meth:`RoleSessions.session` is a plain ``boto3.session.Session()``:
the function's own account, as before.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import boto3
import botocore.session
from botocore.config import Config as BotoConfig
from botocore.credentials import (
    AssumeRoleCredentialFetcher,
    CredentialProvider,
    Credentials,
    DeferredRefreshableCredentials,
)

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

    def client(self, service: str, role_arn: str | None, region: str, **kwargs: Any) -> Any:
        """A ``service`` client for ``region`` acting as ``role_arn`` (a Session is not
        thread-safe: clients are made one at a time)."""
        session: Any = self.session(role_arn, region)  # any service, not boto3-stubs' list
        with self._lock:
            return session.client(service, region_name=region, **kwargs)

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


#: The process's sessions: every RDS client acting as a role comes from here.
ROLES = RoleSessions()
