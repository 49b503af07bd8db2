"""The allowed-ranges guard: which DNS answers may become targets.

A poisoned or misconfigured DNS answer must never send users' traffic elsewhere, so
every answer is checked here before the planner sees it. Pure functions, no I/O.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: RFC 1918, RFC 6598 (carrier-grade NAT, which AWS accepts as targets) and IPv6 ULA.
DEFAULT_ALLOWED_CIDRS: tuple[str, ...] = (
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "fc00::/7",
)


@dataclass(frozen=True, slots=True)
class Refusal:
    """An answer that will not be registered, and why."""

    answer: str
    reason: str


def parse_networks(cidrs: Iterable[str]) -> tuple[IPNetwork, ...]:
    """Parse CIDR strings; raise ``ValueError`` naming the first bad one and the fix."""
    networks = []
    for raw in cidrs:
        text = raw.strip()
        try:
            networks.append(ipaddress.ip_network(text, strict=True))
        except ValueError as exc:
            raise ValueError(f"{text!r} is not a network ({exc}); {_network_hint(text)}") from None
    return tuple(networks)


def _network_hint(text: str) -> str:
    """The network the user probably meant (host bits cleared), or an example."""
    try:
        return f"did you mean {ipaddress.ip_network(text, strict=False)}?"
    except ValueError:
        return "write a network such as 10.0.0.0/8 or fd00::/8"


def _never_allowed(address: IPAddress) -> str | None:
    """Reasons that hold whatever ranges the user allows: ELB rejects these anyway."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return "IPv4-mapped IPv6 address"
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
    )
    for name, hit in checks:
        if hit:
            return f"{name} address"
    return None


def screen(
    answers: Iterable[str],
    allowed: tuple[IPNetwork, ...],
    narrowed: tuple[IPNetwork, ...] = (),
) -> tuple[frozenset[str], tuple[Refusal, ...]]:
    """Split DNS answers into addresses allowed as targets and refusals with reasons.

    An answer must fall in ``allowed`` (the function's ranges) and, when ``narrowed``
    is given (a group's ``tgsync:allowed-cidrs`` tag), in ``narrowed`` too: a tag may
    narrow the deployer's ranges, never widen them.

    Addresses come back in canonical form (``ipaddress``'s ``str``), so the same IP
    written two ways is one target. Anything that is not a strict IP literal (a
    hostname, leading zeros, a scope id) is refused.
    """
    accepted: set[str] = set()
    refused: list[Refusal] = []
    for answer in answers:
        try:
            address = ipaddress.ip_address(answer)
        except ValueError:
            refused.append(Refusal(answer, "not an IP address"))
            continue
        if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
            refused.append(Refusal(answer, "IPv6 address with a scope id"))
            continue
        reason = _never_allowed(address)
        if reason is None and not any(address in net for net in allowed):
            reason = "outside the allowed ranges (TGSYNC_ALLOWED_CIDRS)"
        if reason is None and narrowed and not any(address in net for net in narrowed):
            reason = "outside the ranges the group's tgsync:allowed-cidrs tag allows"
        if reason is None:
            accepted.add(str(address))
        else:
            refused.append(Refusal(answer, reason))
    return frozenset(accepted), tuple(refused)
