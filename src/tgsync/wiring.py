"""Wiring: builds a controller from real adapters. Entry points call only this."""

from __future__ import annotations

import functools
from collections.abc import Callable

from tgsync.config import Config
from tgsync.controller import Controller
from tgsync.pacing import TokenBucket
from tgsync.preflight import Check
from tgsync.preflight import run as run_checks
from tgsync.provider.elbv2 import Elbv2Provider, make_client
from tgsync.registry import TagRegistry
from tgsync.source import Nameserver, Source
from tgsync.source.rds import RdsApi, RdsSource
from tgsync.source.resolver import DnsSource


@functools.lru_cache(maxsize=64)
def dns_source(nameservers: tuple[Nameserver, ...]) -> Source:
    """One DNS source per distinct nameserver list, kept for the process."""
    return DnsSource(nameservers)


class Sources:
    """The sources of one process (a :class:`~tgsync.source.SourceFor`): DNS per
    nameserver list, and for ``resolve=rds`` an RDS source over one shared
    :class:`~tgsync.source.rds.RdsApi` (paced to ``api_rate``, its reads kept for the
    cycle that ``provider``'s current deadline names)."""

    def __init__(self, provider: Elbv2Provider, api_rate: float) -> None:
        self.rds = RdsApi(pacer=TokenBucket(rate=api_rate), cycle=lambda: provider.deadline)
        self._rds_sources: dict[tuple[tuple[Nameserver, ...], str | None], Source] = {}

    def __call__(self, servers: tuple[Nameserver, ...], resolve: str = "dns",
                 role_arn: str | None = None, /) -> Source:
        """The source for a mapping's nameservers, ``resolve`` mode and RDS role."""
        if resolve != "rds":
            return dns_source(servers)
        if (servers, role_arn) not in self._rds_sources:
            self._rds_sources[(servers, role_arn)] = RdsSource(self.rds, dns_source(servers),
                                                               role_arn)
        return self._rds_sources[(servers, role_arn)]


def build_provider(config: Config) -> Elbv2Provider:
    """The ELB provider over boto3; Describe calls and writes each paced to
    ``config.api_rate`` in buckets of their own, as ELB throttles them."""
    pool = max(10, config.concurrency)
    return Elbv2Provider(
        client_for_region=lambda region: make_client(region, max_pool_connections=pool),
        pacer=TokenBucket(rate=config.api_rate),
        write_pacer=TokenBucket(rate=config.api_rate),
        outside_vpc=config.outside_vpc,
    )


def build_controller(config: Config) -> Controller:
    """A controller over boto3 and dnspython."""
    provider = build_provider(config)
    return Controller(provider, TagRegistry(provider), Sources(provider, config.api_rate),
                      config=config)


def preflight(config: Config, time_left: Callable[[], float] | None = None) -> list[Check]:
    """Every preflight check (see :mod:`tgsync.preflight`), over the real adapters,
    answered before ``time_left()`` runs out."""
    provider = build_provider(config)
    return run_checks(config, provider, Sources(provider, config.api_rate), time_left)
