"""A fault-injecting HTTP proxy between the AWS SDK and moto, on 127.0.0.1.

ELBv2 and RDS speak the query protocol, so the operation is the ``Action=`` form field;
EventBridge speaks JSON (``X-Amz-Target: AWSEvents.PutEvents``), and its faults are
answered in JSON with EventBridge's own codes (``ThrottlingException``,
``AccessDeniedException``: the PutEvents API reference's errors), as botocore reads
them. Rules say which operation fails how, for how many requests; everything else is
passed to moto untouched. Every request is logged with what happened to it, so
tests count API calls the way AWS would bill and throttle them.

Kinds of fault: ``throttle`` (400 Throttling), ``500``, ``503``, ``reset`` (the
connection is closed with a TCP reset, no response), ``delay`` (the response comes
after ``seconds``: a read timeout for a client that waits less), ``denied`` (403
AccessDenied), ``not_found`` (400 TargetGroupNotFound), ``validation`` (400
ValidationError with ``message``).

Hooks change the world between two calls, as another actor would: :meth:`after` runs a
callable once moto has answered an operation and before the client reads that answer,
so the client's next call already sees the change. :meth:`delete_after` uses it to
delete a target group in moto right after, say, ``DescribeTargetGroups`` listed it, so
that the ``DescribeTags`` which follows asks about a group that no longer exists (ELB
then fails the whole call with ``TargetGroupNotFound``). The deletion goes to moto
directly, so it is not in :attr:`FaultProxy.log`; an error a hook raises (moto refuses
to delete a group a listener uses, as ELB does: ``ResourceInUse``) is kept in
:attr:`FaultProxy.hook_errors` and the client still gets its answer.
"""

from __future__ import annotations

import http.client
import json
import socket
import struct
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import boto3

_ERRORS = {
    "throttle": (400, "Throttling", "Rate exceeded"),
    "500": (500, "InternalFailure", "We encountered an internal error. Please try again."),
    "503": (503, "ServiceUnavailable", "Service is unavailable. Please try again."),
    "denied": (
        403,
        "AccessDenied",
        "User: arn:aws:sts::123456789012:assumed-role/tgsync/fn "
        "is not authorized to perform: elasticloadbalancing:{action} because no "
        "identity-based policy allows the elasticloadbalancing:{action} action",
    ),
    "not_found": (400, "TargetGroupNotFound", "One or more target groups not found"),
    "validation": (400, "ValidationError", "{message}"),
}
#: A JSON protocol's own codes for the faults above, and its IAM prefix, by target prefix.
_JSON_CODES = {
    "AWSEvents": (
        "events",
        {
            "Throttling": "ThrottlingException",
            "AccessDenied": "AccessDeniedException",
            "InternalFailure": "InternalException",
        },
    )
}


@dataclass
class Fault:
    """Fail ``times`` requests of ``action`` (``*``: any) in the way ``kind`` says."""

    kind: str
    action: str = "*"
    times: int = 1
    seconds: float = 0.0
    message: str = ""


@dataclass
class Hook:
    """Run ``then`` after moto answered ``action`` (``*``: any), ``times`` times."""

    action: str
    then: Callable[[], object]
    times: int = 1


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
        self.hooks: list[Hook] = []
        self.hook_errors: list[Exception] = []
        self.log: list[Request] = []
        #: Requests dropped from the front of the log by :meth:`forget`.
        self._forgotten = 0
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

    def after(self, action: str, then: Callable[[], object], times: int = 1) -> None:
        """Run ``then`` right after moto answers the next ``times`` requests of ``action``,
        before that answer is passed on to the client."""
        with self.lock:
            self.hooks.append(Hook(action, then, times))

    def delete_after(self, action: str, arn: str) -> None:
        """Delete target group ``arn`` in moto right after moto answers the next
        ``action``: it vanishes between that call and the client's next one."""
        host, port = self.upstream
        region = arn.split(":")[3]  # moto keeps a backend per region
        # Credentials from the environment: the dummy ones MotoPeer.environ() gives.
        client = boto3.client("elbv2", region_name=region, endpoint_url=f"http://{host}:{port}")
        self.after(action, lambda: client.delete_target_group(TargetGroupArn=arn))

    def clear(self) -> None:
        with self.lock:
            self.faults.clear()
            self.hooks.clear()
            self.hook_errors.clear()
            self.log.clear()
            self._forgotten = 0

    def calls(self, outcome: str | None = None) -> list[str]:
        """Actions requested so far (optionally only those with ``outcome``)."""
        with self.lock:
            return [r.action for r in self.log if outcome is None or r.outcome == outcome]

    def mark(self) -> int:
        """A position in the log, for :meth:`since` (it stays valid across :meth:`forget`)."""
        with self.lock:
            return self._forgotten + len(self.log)

    def since(self, mark: int) -> list[Request]:
        """The requests from ``mark`` on (those still kept)."""
        with self.lock:
            return list(self.log[max(mark - self._forgotten, 0) :])

    def forget(self, mark: int) -> None:
        """Drop the requests before ``mark`` (a long run must not keep every request)."""
        with self.lock:
            dropped = max(min(mark - self._forgotten, len(self.log)), 0)
            del self.log[:dropped]
            self._forgotten += dropped

    def wait_for(self, action: str, timeout: float = 30.0) -> bool:
        """Block until a request for ``action`` has arrived (True) or ``timeout``."""
        with self._arrived:
            return self._arrived.wait_for(
                lambda: any(r.action == action for r in self.log), timeout
            )

    def _hooks_for(self, action: str) -> list[Hook]:
        with self.lock:
            due = [h for h in self.hooks if h.times > 0 and h.action in ("*", action)]
            for hook in due:
                hook.times -= 1
            return due

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
        target = handler.headers.get("X-Amz-Target", "")  # a JSON protocol: Prefix.Operation
        action = target.rpartition(".")[2] if target else params.get("Action", ["?"])[0]
        fault = self._take(action)
        with self._arrived:
            self.log.append(
                Request(action, fault.kind if fault else "passed", params, time.monotonic())
            )
            self._arrived.notify_all()
        if fault is None:
            self._forward(handler, body, action)
        elif fault.kind == "reset":
            sock = handler.connection
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            handler.close_connection = True
            sock.close()
        elif fault.kind == "delay":
            time.sleep(fault.seconds)  # injected latency: the client's read timeout fires
            self._forward(handler, body, action)
        elif target:
            self._reply_json(handler, fault, target.partition(".")[0], action)
        else:
            status, code, message = _ERRORS[fault.kind]
            text = message.format(action=action, message=fault.message)
            payload = (
                '<ErrorResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/'
                f'2015-12-01/"><Error><Type>Sender</Type><Code>{code}</Code>'
                f"<Message>{text}</Message></Error><RequestId>{uuid.uuid4()}</RequestId>"
                "</ErrorResponse>"
            ).encode()
            self._reply(handler, status, payload, "text/xml")

    def _forward(self, handler: BaseHTTPRequestHandler, body: bytes, action: str) -> None:
        connection = http.client.HTTPConnection(*self.upstream, timeout=30)
        headers = {
            k: v
            for k, v in handler.headers.items()
            if k.lower() not in ("host", "content-length", "connection")
        }
        try:
            connection.request(handler.command, handler.path, body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
            content_type = response.getheader("Content-Type", "text/xml")
            self._run_hooks(action)
            self._reply(handler, response.status, payload, content_type)
        except OSError:
            return
        finally:
            connection.close()

    def _run_hooks(self, action: str) -> None:
        for hook in self._hooks_for(action):
            try:
                hook.then()
            except Exception as exc:  # kept for the test; the client still gets its answer
                with self.lock:
                    self.hook_errors.append(exc)

    def _reply_json(
        self, handler: BaseHTTPRequestHandler, fault: Fault, prefix: str, action: str
    ) -> None:
        """A fault in a JSON protocol's words: ``{"__type": code, "message": ...}``."""
        status, code, message = _ERRORS[fault.kind]
        service, codes = _JSON_CODES.get(prefix, ("", {}))
        text = message.format(action=action, message=fault.message).replace(
            "elasticloadbalancing:", f"{service or 'elasticloadbalancing'}:"
        )
        payload = json.dumps({"__type": codes.get(code, code), "message": text}).encode()
        self._reply(handler, status, payload, "application/x-amz-json-1.1")

    @staticmethod
    def _reply(
        handler: BaseHTTPRequestHandler, status: int, payload: bytes, content_type: str
    ) -> None:
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", content_type)
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            handler.wfile.write(payload)
        except OSError:
            return  # the client gave up (read timeout): nothing to answer
