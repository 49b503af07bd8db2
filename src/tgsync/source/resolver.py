"""DNS source: resolves A or AAAA records with dnspython.

Answers are united over several queries because a resolver may hand out a rotating
subset of a large record set. The loop stops early only when a query repeats the
union of all earlier answers exactly (a stable name, or a caching resolver's subset):
a subset that happens to add nothing new does not stop it. Any failed query fails the
whole resolution: a partial view must not retire targets.
"""

from __future__ import annotations

from collections.abc import Sequence

import dns.exception
import dns.nameserver
import dns.rdatatype
import dns.resolver

from tgsync.deadline import NONE, Deadline
from tgsync.source import Nameserver, Resolution

#: Seconds to wait for one server's answer, and for one whole query (all servers,
#: retries included). Both end far inside the function's own timeout.
QUERY_TIMEOUT_SECONDS = 2.0
QUERY_LIFETIME_SECONDS = 4.0
#: A query with less time than this left is not sent: it could not be answered.
MIN_QUERY_SECONDS = 0.5


class DnsSource:
    """A :class:`~tgsync.source.Source` backed by a DNS resolver.

    With no ``nameservers`` the system resolver (``/etc/resolv.conf``; the VPC
    resolver inside Lambda) is used.
    """

    def __init__(
        self,
        nameservers: Sequence[Nameserver] = (),
        *,
        timeout: float = QUERY_TIMEOUT_SECONDS,
        lifetime: float = QUERY_LIFETIME_SECONDS,
    ) -> None:
        if nameservers:
            resolver = dns.resolver.Resolver(configure=False)
            resolver.nameservers = [
                dns.nameserver.Do53Nameserver(ns.address, ns.port) for ns in nameservers
            ]
        else:
            resolver = dns.resolver.Resolver()
        resolver.cache = None  # every lookup must reach the server to see rotation
        resolver.timeout = timeout
        resolver.lifetime = lifetime
        self._resolver = resolver

    def resolve(
        self, hostname: str, record_type: str, lookups: int, *, deadline: Deadline = NONE
    ) -> Resolution:
        """Query up to ``lookups`` times and unite the answers; every query gets the
        time that is left before ``deadline``, at most its usual lifetime."""
        union: set[str] = set()
        seen: set[frozenset[str]] = set()
        largest = 0
        queries = 0
        for _ in range(max(1, lookups)):
            lifetime = min(self._resolver.lifetime, deadline.left())
            if lifetime < MIN_QUERY_SECONDS:
                return Resolution(
                    frozenset(union),
                    queries,
                    f"not resolved: "
                    f"{max(deadline.left(), 0):.1f}s were left before the "
                    "invocation's deadline",
                    out_of_time=True,
                )
            queries += 1
            try:
                answer = self._resolver.resolve(
                    hostname, record_type, search=False, raise_on_no_answer=False, lifetime=lifetime
                )
            except dns.exception.DNSException as exc:
                return Resolution(
                    frozenset(union), queries, describe_failure(exc, hostname, record_type)
                )
            found = frozenset(
                rdata.to_text()
                for rdata in answer.rrset or ()
                if rdata.rdtype == dns.rdatatype.from_text(record_type)
            )
            if not found:
                return Resolution(
                    frozenset(union),
                    queries,
                    f"no {record_type} records for {hostname} (empty answer)",
                )
            largest = max(largest, len(found))
            seen.add(found)
            if found == union:
                break
            union |= found
        return Resolution(frozenset(union), queries, distinct=len(seen), largest=largest)


def describe_failure(exc: dns.exception.DNSException, hostname: str, record_type: str) -> str:
    """A one-line, operator-readable cause for a failed DNS query."""
    if isinstance(exc, dns.resolver.NXDOMAIN):
        return f"NXDOMAIN: {hostname} does not exist"
    if isinstance(exc, dns.resolver.LifetimeTimeout):
        return f"timed out resolving {hostname} {record_type}: no DNS server answered in time"
    if isinstance(exc, dns.resolver.NoNameservers):
        return f"no DNS server could answer for {hostname} {record_type} ({exc})"
    if isinstance(exc, dns.resolver.YXDOMAIN):
        return f"{hostname} is too long after DNAME substitution"
    return f"DNS lookup of {hostname} {record_type} failed: {exc}"
