"""The test lab's TCP nodes and its NLB-style TCP health check: a listener that accepts
passes whatever it serves, one that is gone fails, and a target's private IP is only a
key for a loopback port (never a destination). The rounds are driven by hand: no timing."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from testlab import nodes
from testlab.nodes import FAILED_CHECKS, CheckSettings, Fleet, HealthChecker, probe, tcp_probe

WRITER, READER, GONE = "10.0.1.11", "10.0.2.12", "10.0.3.13"
TCP = CheckSettings(timeout=2.0, healthy_threshold=2, unhealthy_threshold=2, protocol="TCP")


@pytest.fixture
def fleet() -> Iterator[Fleet]:
    made = Fleet("TCP")
    yield made
    made.close()


def test_a_tcp_node_accepts_and_closes_until_stopped(fleet):
    fleet.start(WRITER)
    port = fleet.endpoint(WRITER)
    assert port is not None
    with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
        conn.settimeout(2)
        assert conn.recv(1) == b""  # accepted, then closed: no protocol spoken
    assert tcp_probe(port, 2.0) == (True, None)
    fleet.stop(WRITER)
    assert fleet.endpoint(WRITER) is None
    assert tcp_probe(port, 2.0) == (False, FAILED_CHECKS)  # refused now
    assert tcp_probe(None, 2.0) == (False, FAILED_CHECKS)


def test_a_tcp_check_passes_any_listener_an_https_check_needs_an_answer(fleet):
    https = Fleet()
    try:
        https.start(READER)
        fleet.start(WRITER)
        # An NLB's TCP check only connects: an HTTPS node passes it too.
        assert probe(https.endpoint(READER), TCP) == (True, None)
        # An ALB's HTTPS check of a bare listener fails: no TLS, no status.
        assert probe(fleet.endpoint(WRITER), CheckSettings(timeout=2.0)) == (
            False,
            "Target.Timeout",
        )
        assert probe(https.endpoint(READER), CheckSettings(timeout=2.0)) == (True, None)
    finally:
        https.close()


class Groups:
    """Registered targets and what the checker published, as the demo's moto glue."""

    def __init__(self) -> None:
        self.targets: dict[str, str] = {}
        self.published: list[dict[str, dict[str, Any]]] = []

    def registered(self) -> list[tuple[str, str]]:
        return list(self.targets.items())

    def publish(self, health: dict[str, dict[str, Any]]) -> None:
        self.published.append(health)

    def state(self, ip: str) -> tuple[str, str | None]:
        found = self.published[-1][ip]
        return found["state"], found["reason"]


def test_the_checker_in_tcp_mode_follows_the_listeners(fleet, monkeypatch):
    dialled: list[Any] = []
    real = socket.create_connection

    def recording(address: Any, *args: Any, **kwargs: Any) -> socket.socket:
        dialled.append(address)
        return real(address, *args, **kwargs)

    monkeypatch.setattr(nodes.socket, "create_connection", recording)
    groups = Groups()
    checker = HealthChecker(fleet, groups.registered, groups.publish, TCP)
    for ip in (WRITER, READER):
        fleet.start(ip)
    groups.targets = {WRITER: "initial", READER: "initial", GONE: "initial"}

    checker.round()
    assert groups.state(WRITER) == ("initial", "Elb.InitialHealthChecking")
    checker.round()
    assert groups.state(WRITER) == ("healthy", None)
    assert groups.state(READER) == ("healthy", None)
    assert groups.state(GONE) == ("unhealthy", FAILED_CHECKS)  # no listener for it

    # A failover leaves the old writer's listener up: it keeps passing.
    checker.round()
    assert groups.state(WRITER) == ("healthy", None)

    fleet.stop(READER)
    checker.round()
    assert groups.state(READER) == ("healthy", None)  # one failure is not enough
    checker.round()
    assert groups.state(READER) == ("unhealthy", FAILED_CHECKS)

    # Draining targets are not probed; a deregistered one is forgotten.
    groups.targets = {WRITER: "draining"}
    probes = len(dialled)
    checker.round()
    assert len(dialled) == probes and groups.published[-1] == {}
    assert all(host == "127.0.0.1" for host, _port in dialled)
    assert dialled  # the probes were TCP connects
