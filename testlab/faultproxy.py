"""A fault-injecting HTTP proxy between the AWS SDK and moto, on 127.0.0.1.

ELBv2 speaks the query protocol, so the operation is the ``Action=`` form field.
Rules say which operation fails how, for how many requests; everything else is
passed to moto untouched. Every request is logged with what happened to it, so
tests count API calls the way AWS would bill and throttle them.

Kinds of fault: ``throttle`` (400 Throttling), ``500``, ``503``, ``reset`` (the
connection is closed with a TCP reset, no response), ``delay`` (the response comes
after ``seconds``: a read timeout for a client that waits less), ``denied`` (403
AccessDenied), ``not_found`` (400 TargetGroupNotFound), ``validation`` (400
ValidationError with ``message``).
"""

from __future__ import annotations

import http.client
import socket
import struct
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

_ERRORS = {
    "throttle": (400, "Throttling", "Rate exceeded"),
    "500": (500, "InternalFailure", "We encountered an internal error. Please try again."),
    "503": (503, "ServiceUnavailable", "Service is unavailable. Please try again."),
    "denied": (403, "AccessDenied", "User: arn:aws:sts::123456789012:assumed-role/tgsync/fn "
               "is not authorized to perform: elasticloadbalancing:{action} because no "
               "identity-based policy allows the elasticloadbalancing:{action} action"),
    "not_found": (400, "TargetGroupNotFound", "One or more target groups not found"),
    "validation": (400, "ValidationError", "{message}"),
}


@dataclass
class Fault:
    """Fail ``times`` requests of ``action`` (``*``: any) in the way ``kind`` says."""

    kind: str
    action: str = "*"
    times: int = 1
    seconds: float = 0.0
    message: str = ""


@dataclass(frozen=True)
class Request:
    """One request seen by the proxy and what it got."""

    action: str
    outcome: str  # "passed" or the fault kind
    params: dict[str, list[str]]
    at: float = 0.0  # time.monotonic() when it arrived


class FaultProxy:
    """Forwards to ``upstream`` (host, port) unless a rule says otherwise."""

    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self.faults: list[Fault] = []
        self.log: list[Request] = []
        self.lock = threading.Lock()
        self._arrived = threading.Condition(self.lock)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out as two writes

            def log_message(self, *_args: Any) -> None:
                return None

            def do_POST(self) -> None:
                proxy._handle(self)

            def do_GET(self) -> None:
                proxy._handle(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # ------------------------------------------------------------------ rules

    def inject(self, *faults: Fault) -> None:
        with self.lock:
            self.faults.extend(faults)

    def clear(self) -> None:
        with self.lock:
            self.faults.clear()
            self.log.clear()

    def calls(self, outcome: str | None = None) -> list[str]:
        """Actions requested so far (optionally only those with ``outcome``)."""
        with self.lock:
            return [r.action for r in self.log if outcome is None or r.outcome == outcome]

    def mark(self) -> int:
        """A position in the log, for :meth:`since`."""
        with self.lock:
            return len(self.log)

    def since(self, mark: int) -> list[Request]:
        with self.lock:
            return list(self.log[mark:])

    def wait_for(self, action: str, timeout: float = 30.0) -> bool:
        """Block until a request for ``action`` has arrived (True) or ``timeout``."""
        with self._arrived:
            return self._arrived.wait_for(
                lambda: any(r.action == action for r in self.log), timeout)

    def _take(self, action: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.times > 0 and fault.action in ("*", action):
                    fault.times -= 1
                    return fault
        return None

    # ------------------------------------------------------------------ serving

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        params = parse_qs(body.decode("utf-8", "replace"))
        action = params.get("Action", ["?"])[0]
        fault = self._take(action)
        with self._arrived:
            self.log.append(Request(action, fault.kind if fault else "passed", params,
                                    time.monotonic()))
            self._arrived.notify_all()
        if fault is None:
            self._forward(handler, body)
        elif fault.kind == "reset":
            sock = handler.connection
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            handler.close_connection = True
            sock.close()
        elif fault.kind == "delay":
            time.sleep(fault.seconds)  # injected latency: the client's read timeout fires
            self._forward(handler, body)
        else:
            status, code, message = _ERRORS[fault.kind]
            text = message.format(action=action, message=fault.message)
            payload = (
                '<ErrorResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/'
                f'2015-12-01/"><Error><Type>Sender</Type><Code>{code}</Code>'
                f"<Message>{text}</Message></Error><RequestId>{uuid.uuid4()}</RequestId>"
                "</ErrorResponse>").encode()
            self._reply(handler, status, payload, "text/xml")

    def _forward(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        connection = http.client.HTTPConnection(*self.upstream, timeout=30)
        headers = {k: v for k, v in handler.headers.items()
                   if k.lower() not in ("host", "content-length", "connection")}
        try:
            connection.request(handler.command, handler.path, body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
            content_type = response.getheader("Content-Type", "text/xml")
            self._reply(handler, response.status, payload, content_type)
        except OSError:
            return
        finally:
            connection.close()

    @staticmethod
    def _reply(handler: BaseHTTPRequestHandler, status: int, payload: bytes,
               content_type: str) -> None:
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", content_type)
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            handler.wfile.write(payload)
        except OSError:
            return  # the client gave up (read timeout): nothing to answer
