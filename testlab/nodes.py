"""Pretend nodes and an ELB-style health checker, all on loopback.

A fleet is HTTPS or TCP. An HTTPS node is a small endpoint on 127.0.0.1 that answers
like an OpenSearch domain behind fine-grained access control (401 to an anonymous
request), probed the way an ALB does (interval, timeout, healthy and unhealthy
thresholds, a 200-401 matcher). A TCP node is a listener that accepts a connection and
closes it, standing for a database's port (PostgreSQL's 5432), probed the way a Network
Load Balancer's TCP health check does: a connect that succeeds passes, whatever the
service behind it would say. What the checker finds is what DescribeTargetHealth
answers. A target's private IP is only a key: the checker maps it to its node's
loopback port and never sends a packet to the private address.
"""

from __future__ import annotations

import datetime
import http.client
import socket
import socketserver
import ssl
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A throw-away certificate for 127.0.0.1 (ALBs do not verify target certificates)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "opensearch-node.local")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "node.crt", directory / "node.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class _NodeHandler(BaseHTTPRequestHandler):
    def log_message(self, *_args: Any) -> None:
        return None

    def do_GET(self) -> None:
        body = b'{"error":"authentication required"}'
        self.send_response(401)  # fine-grained access control, anonymous caller
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


#: A fleet's and a health check's protocol: an ALB's HTTPS check, an NLB's TCP one.
Protocol = Literal["HTTPS", "TCP"]
LOOPBACK = "127.0.0.1"
#: Why an NLB marks a target unhealthy when it cannot connect (DescribeTargetHealth).
FAILED_CHECKS = "Target.FailedHealthChecks"
#: The checker's "state" of a target it stopped probing (see :attr:`HealthChecker.changes`).
FORGOTTEN = "forgotten"


class Listener:
    """A server on 127.0.0.1 answering on a thread of its own until :meth:`stop`."""

    def __init__(self, server: socketserver.TCPServer) -> None:
        self._server = server
        self.port: int = server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.running = True

    def stop(self) -> None:
        """Stop answering: probes now fail with connection refused."""
        if self.running:
            self._server.shutdown()
            self._server.server_close()
            self.running = False


class Node(Listener):
    """One HTTPS endpoint on 127.0.0.1 standing in for an OpenSearch node."""

    def __init__(self, context: ssl.SSLContext) -> None:
        server = ThreadingHTTPServer((LOOPBACK, 0), _NodeHandler)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        super().__init__(server)


class _AcceptAndClose(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        return None  # the server closes the connection once this returns


class _TcpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True


class TcpNode(Listener):
    """One TCP listener on 127.0.0.1 standing in for a database instance's port: it
    accepts and closes, all an NLB's TCP check looks at (a reader passes as a writer)."""

    def __init__(self) -> None:
        super().__init__(_TcpServer((LOOPBACK, 0), _AcceptAndClose))


class Fleet:
    """The nodes of a domain or cluster, keyed by the private IP DNS hands out for them:
    HTTPS endpoints (the default) or, with ``protocol="TCP"``, TCP listeners."""

    def __init__(self, protocol: Protocol = "HTTPS") -> None:
        self.protocol = protocol
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._context: ssl.SSLContext | None = None
        if protocol == "HTTPS":
            self._dir = tempfile.TemporaryDirectory(prefix="tgsync-nodes-")
            cert, key = self_signed(Path(self._dir.name))
            self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self._context.load_cert_chain(cert, key)
        self.nodes: dict[str, Listener] = {}

    def start(self, ip: str) -> Listener:
        """Start a node for ``ip`` (a fresh one, on a new loopback port)."""
        self.nodes[ip] = TcpNode() if self._context is None else Node(self._context)
        return self.nodes[ip]

    def stop(self, ip: str) -> None:
        self.nodes[ip].stop()

    def endpoint(self, ip: str) -> int | None:
        """The loopback port serving ``ip``, or None if no node answers for it."""
        node = self.nodes.get(ip)
        return node.port if node is not None and node.running else None

    def close(self) -> None:
        for node in self.nodes.values():
            node.stop()
        if self._dir is not None:
            self._dir.cleanup()


@dataclass
class CheckSettings:
    """A target group's health check, in seconds: an ALB's HTTPS check by default.

    With ``protocol="TCP"`` it is an NLB's TCP check (no matcher); an NLB's defaults for
    it are these but a 10 s timeout.
    """

    interval: float = 30.0
    timeout: float = 5.0
    healthy_threshold: int = 5
    unhealthy_threshold: int = 2
    matcher: tuple[int, int] = (200, 401)
    protocol: Protocol = "HTTPS"


@dataclass
class _Health:
    state: str = "initial"
    reason: str | None = "Elb.InitialHealthChecking"
    ok: int = 0
    failed: int = 0
    history: list[bool] = field(default_factory=list)


def probe(port: int | None, settings: CheckSettings) -> tuple[bool, str | None]:
    """One health check of a node on loopback, by ``settings.protocol``; (passed,
    failure reason)."""
    if settings.protocol == "TCP":
        return tcp_probe(port, settings.timeout)
    return https_probe(port, settings)


def tcp_probe(port: int | None, timeout: float) -> tuple[bool, str | None]:
    """An NLB's TCP check of a node on loopback: a connect that succeeds passes."""
    if port is None:
        return False, FAILED_CHECKS
    try:
        with socket.create_connection((LOOPBACK, port), timeout=timeout):
            return True, None
    except OSError:  # refused or timed out: NLBs give one reason for both
        return False, FAILED_CHECKS


def https_probe(port: int | None, settings: CheckSettings) -> tuple[bool, str | None]:
    """An ALB's check: one HTTPS GET / to a node on loopback; (passed, failure reason)."""
    if port is None:
        return False, "Target.Timeout"
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # an ALB does not verify target certificates
    connection = http.client.HTTPSConnection(
        LOOPBACK, port, timeout=settings.timeout, context=context
    )
    try:
        connection.request("GET", "/")
        status = connection.getresponse().status
    except OSError:
        return False, "Target.Timeout"
    finally:
        connection.close()
    low, high = settings.matcher
    return (low <= status <= high), (
        None if low <= status <= high else "Target.ResponseCodeMismatch"
    )


class HealthChecker:
    """Probes registered targets like an ALB (or an NLB, by the settings' protocol) and
    publishes the result to moto.

    ``targets`` lists the (ip, state) pairs currently registered; ``publish`` receives
    ``{ip: {"state": ..., "reason": ...}}`` after every round.

    ``changes`` is the checker's own history, for pictures that must not miss a short
    spell: (``clock()`` when it decided, ip, state) each time a target's state changes,
    ``initial`` when it first probes one, and :data:`FORGOTTEN` when it stops probing one
    (deregistered: a new registration starts at ``initial`` again).
    """

    def __init__(
        self,
        fleet: Fleet,
        targets: Callable[[], list[tuple[str, str]]],
        publish: Callable[[dict[str, dict[str, Any]]], None],
        settings: CheckSettings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.fleet = fleet
        self.settings = settings
        self._targets = targets
        self._publish = publish
        self._clock = clock
        self._health: dict[str, _Health] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.rounds = 0
        self.changes: list[tuple[float, str, str]] = []

    def start(self) -> HealthChecker:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def round(self) -> None:
        """One probe of every registered, non-draining target."""
        seen = set()
        for ip, state in self._targets():
            if state == "draining":
                continue
            seen.add(ip)
            if ip not in self._health:
                self._health[ip] = _Health()
                self._changed(ip, "initial")
            health = self._health[ip]
            before = health.state
            passed, reason = probe(self.fleet.endpoint(ip), self.settings)
            health.history.append(passed)
            if passed:
                health.ok, health.failed = health.ok + 1, 0
                if health.state != "healthy" and health.ok >= self.settings.healthy_threshold:
                    health.state, health.reason = "healthy", None
            else:
                health.ok, health.failed = 0, health.failed + 1
                if health.failed >= self.settings.unhealthy_threshold:
                    health.state, health.reason = "unhealthy", reason
            if health.state != before:
                self._changed(ip, health.state)
        for ip in set(self._health) - seen:
            del self._health[ip]  # deregistered: a new registration starts at initial
            self._changed(ip, FORGOTTEN)
        self._publish(
            {ip: {"state": h.state, "reason": h.reason} for ip, h in self._health.items()}
        )
        self.rounds += 1

    def _changed(self, ip: str, state: str) -> None:
        self.changes.append((self._clock(), ip, state))

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.round()
            except Exception as exc:  # a demo checker reports and goes on
                print(f"health checker: {exc}", flush=True)
            self._stop.wait(self.settings.interval)
