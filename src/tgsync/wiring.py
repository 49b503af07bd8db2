"""Wiring: builds a controller from real adapters. Entry points call only this."""

from __future__ import annotations

import functools

from tgsync.config import Config, Nameserver
from tgsync.controller import Controller
from tgsync.pacing import TokenBucket
from tgsync.provider.elbv2 import Elbv2Provider, make_client
from tgsync.registry import TagRegistry
from tgsync.source import Source
from tgsync.source.resolver import DnsSource


@functools.lru_cache(maxsize=64)
def dns_source(nameservers: tuple[Nameserver, ...]) -> Source:
    """One DNS source per distinct nameserver list, kept for the process."""
    return DnsSource(nameservers)


def build_controller(config: Config) -> Controller:
    """A controller over boto3 and dnspython, paced to ``config.api_rate``."""
    pool = max(10, config.concurrency)
    provider = Elbv2Provider(
        client_for_region=lambda region: make_client(region, max_pool_connections=pool),
        pacer=TokenBucket(rate=config.api_rate),
    )
    return Controller(provider, TagRegistry(provider), dns_source)
