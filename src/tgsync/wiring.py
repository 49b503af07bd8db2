"""Wiring: builds a controller from real adapters. Entry points call only this."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable

from tgsync.aws import DEFAULT_POOL, Aws
from tgsync.changes import EVENTBRIDGE, Publisher
from tgsync.config import Config
from tgsync.controller import Controller
from tgsync.model import Resolve
from tgsync.pacing import TokenBucket
from tgsync.permission_checks import Check
from tgsync.preflight import LAMBDA, code_signing
from tgsync.preflight import run as run_checks
from tgsync.process_state import ProcessState
from tgsync.provider.elbv2 import ELBV2, Elbv2Provider
from tgsync.provider.kms import KMS, KmsKey
from tgsync.registry import TagRegistry
from tgsync.signatures import Signatures
from tgsync.source import Nameserver, Source
from tgsync.source.rds import RDS, RdsApi, RdsSource
from tgsync.source.resolver import DnsSource


@functools.lru_cache(maxsize=64)
def dns_source(nameservers: tuple[Nameserver, ...]) -> Source:
    """One DNS source per distinct nameserver list, kept for the process."""
    return DnsSource(nameservers)


class Sources:
    """The sources of one process (a :class:`~tgsync.source.SourceFor`): DNS per
    nameserver list, and for ``resolve=rds`` an RDS source over one shared
    :class:`~tgsync.source.rds.RdsApi` (its reads kept for the cycle whose deadline asked)."""

    def __init__(self, aws: Aws) -> None:
        self.rds = RdsApi(aws)
        self._rds_sources: dict[tuple[tuple[Nameserver, ...], str | None], Source] = {}

    def __call__(
        self, servers: tuple[Nameserver, ...], resolve: str = "dns", role_arn: str | None = None, /
    ) -> Source:
        """The source for a mapping's nameservers, ``resolve`` mode and RDS role."""
        if resolve != Resolve.RDS:
            return dns_source(servers)
        if (servers, role_arn) not in self._rds_sources:
            self._rds_sources[(servers, role_arn)] = RdsSource(
                self.rds, dns_source(servers), role_arn
            )
        return self._rds_sources[(servers, role_arn)]


#: The pacing buckets of the process's AWS calls, as the services throttle them: ELB's
#: Describe calls and its writes apart, RDS's reads, KMS's MACs, EventBridge's puts.
BUCKETS = (ELBV2.name, ELBV2.bucket("AddTags"), RDS.name, KMS.name, EVENTBRIDGE.name)


def build_aws(config: Config) -> Aws:
    """The process's AWS clients and calls: ELB's Describe calls and writes, RDS's reads,
    the record key's MACs and the change events, each paced to ``config.api_rate`` in a
    bucket of its own (as the services throttle them); a connection per concurrent
    mapping."""
    return Aws(
        pacers={b: TokenBucket(rate=config.api_rate) for b in BUCKETS},
        pool=max(DEFAULT_POOL, config.concurrency),
    )


def build_provider(config: Config) -> Elbv2Provider:
    """The ELB provider over the process's AWS calls (:func:`build_aws`)."""
    return Elbv2Provider(build_aws(config), outside_vpc=config.outside_vpc)


def record_key(config: Config, provider: Elbv2Provider) -> KmsKey | None:
    """The KMS key ``TGSYNC_RECORD_KEY`` names (in the function's region unless the key's
    ARN names another), or ``None``."""
    if config.record_key is None:
        return None
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or ""
    return KmsKey(provider.aws, config.record_key, region)


def build_registry(config: Config, provider: Elbv2Provider) -> TagRegistry:
    """The tag registry over the provider; with ``TGSYNC_RECORD_KEY``, its ownership
    records signed and verified with that KMS key."""
    key = record_key(config, provider)
    return TagRegistry(provider, None if key is None else Signatures(key))


def build_controller(config: Config, *, publish: bool = True) -> Controller:
    """A controller over boto3 and dnspython; with ``config.event_bus`` (and
    ``publish``), putting each cycle's change events on that bus."""
    provider = build_provider(config)
    state = ProcessState()
    publisher = (
        Publisher(provider.aws, config.event_bus, state)
        if publish and config.event_bus is not None
        else None
    )
    return Controller(
        provider,
        build_registry(config, provider),
        Sources(provider.aws),
        config=config,
        state=state,
        publish=publisher,
    )


def preflight(
    config: Config, time_left: Callable[[], float] | None = None, *, function: str | None = None
) -> list[Check]:
    """Every preflight check (see :mod:`tgsync.preflight`), over the real adapters,
    answered before ``time_left()`` runs out; with ``function`` (a deployed function's
    name or ARN: ``tgsync check --function``, from outside it), whether its code is
    signed when it has a code signing configuration."""
    provider = build_provider(config)
    checks = run_checks(
        config, provider, Sources(provider.aws), time_left, record_key(config, provider)
    )
    if function is not None:
        region = (
            function.split(":")[3]
            if function.startswith("arn:")
            else os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or ""
        )
        checks.append(code_signing(provider.aws.client(LAMBDA, region), function))
    return checks
