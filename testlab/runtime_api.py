"""A local Lambda Runtime API, so the real runtime client (``awslambdaric``) runs the
handler exactly as Lambda does: handler lookup, init errors, context, error shape.

Start :class:`RuntimeApi`, then run ``python -m awslambdaric tgsync.lambda_handler.handler``
with ``AWS_LAMBDA_RUNTIME_API`` set to :attr:`RuntimeApi.address`. :meth:`invoke` hands
one event to the runtime and returns what it answered.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PREFIX = "/2018-06-01/runtime"
FUNCTION_ARN = "arn:aws:lambda:eu-west-1:123456789012:function:tgsync"


@dataclass
class Outcome:
    """What the runtime answered for one invocation."""

    request_id: str
    ok: bool
    body: Any
    seconds: float


class RuntimeApi:
    """The Runtime API on 127.0.0.1; one invocation at a time, like Lambda."""

    def __init__(self, timeout_seconds: float = 60.0) -> None:
        self.timeout_seconds = timeout_seconds
        self._events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._outcomes: dict[str, Outcome] = {}
        self._answered = threading.Condition()
        self._started: dict[str, float] = {}
        self.init_error: Any = None
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:
                return None

            def do_GET(self) -> None:
                if self.path != f"{PREFIX}/invocation/next":
                    self.send_error(404)
                    return
                request_id, event = api._events.get()
                api._started[request_id] = time.monotonic()
                deadline = int((time.time() + api.timeout_seconds) * 1000)
                body = json.dumps(event).encode()
                self.send_response(200)
                self.send_header("Lambda-Runtime-Aws-Request-Id", request_id)
                self.send_header("Lambda-Runtime-Deadline-Ms", str(deadline))
                self.send_header("Lambda-Runtime-Invoked-Function-Arn", FUNCTION_ARN)
                self.send_header("Lambda-Runtime-Trace-Id", f"Root=1-{uuid.uuid4().hex[:8]}")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                parts = self.path[len(PREFIX) :].strip("/").split("/")
                if parts == ["init", "error"]:
                    api._answer(Outcome("init", False, body, 0.0))
                elif len(parts) == 3 and parts[0] == "invocation":
                    request_id, kind = parts[1], parts[2]
                    started = api._started.pop(request_id, time.monotonic())
                    api._answer(
                        Outcome(request_id, kind == "response", body, time.monotonic() - started)
                    )
                else:
                    self.send_error(404)
                    return
                self.send_response(202)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def address(self) -> str:
        """``127.0.0.1:port``, the value of ``AWS_LAMBDA_RUNTIME_API``."""
        return f"127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> RuntimeApi:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _answer(self, outcome: Outcome) -> None:
        with self._answered:
            if outcome.request_id == "init":
                self.init_error = outcome.body
            self._outcomes[outcome.request_id] = outcome
            self._answered.notify_all()

    def invoke(self, event: Any = None, wait: float = 120.0) -> Outcome:
        """Queue one event and wait for the runtime's answer to it (or an init error)."""
        request_id = str(uuid.uuid4())
        self._events.put((request_id, {} if event is None else event))
        with self._answered:
            answered = self._answered.wait_for(
                lambda: request_id in self._outcomes or "init" in self._outcomes, wait
            )
            if not answered:
                raise TimeoutError(f"no answer to invocation {request_id} in {wait}s")
            return self._outcomes.pop(request_id, None) or self._outcomes.pop("init")


def start_runtime(
    api: RuntimeApi, env: dict[str, str], handler: str, stdout: Any = None, stderr: Any = None
) -> subprocess.Popen[bytes]:
    """Start the real runtime client against ``api`` with ``env`` added."""
    full = dict(os.environ)
    full.update(env)
    full.update(
        {
            "AWS_LAMBDA_RUNTIME_API": api.address,
            "AWS_LAMBDA_FUNCTION_NAME": "tgsync",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/tgsync",
            "AWS_LAMBDA_LOG_STREAM_NAME": "local",
        }
    )
    return subprocess.Popen(
        [sys.executable, "-m", "awslambdaric", handler], env=full, stdout=stdout, stderr=stderr
    )
