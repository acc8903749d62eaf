"""Serve the trigger dispatcher over the Lambda Invoke API, for cognito-local, LocalStack or a test.

    python manage.py serve_triggers --port 9001

answers POST /2015-03-31/functions/NAME/invocations on 127.0.0.1 the way Lambda does:
the function's return value as the body with HTTP 200; an exception as HTTP 200 with
`X-Amz-Function-Error: Unhandled` and `{"errorMessage", "errorType", "stackTrace"}`,
which Cognito (and cognito-local) turn into "NAME failed with error <errorMessage>.".
Every NAME reaches `triggers.lambda_handler.handler`, which dispatches on triggerSource.
A development tool: it binds to the loopback address by default and has no authentication.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

from django.core.management.base import BaseCommand, CommandParser

logger = logging.getLogger("gatehouse.serve_triggers")

INVOKE_PATH = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations$")
# Lambda's own limit on a synchronous request payload.
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024
# Cognito gives a trigger 5 seconds; what remains is reported to the handler's context.
TIMEOUT_MS = 5000

LambdaHandler = Callable[[Any, Any], Any]


@dataclass
class InvokeContext:
    """The parts of Lambda's context object that Gatehouse reads."""

    function_name: str
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 512
    started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:local:000000000000:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, TIMEOUT_MS - int((time.monotonic() - self.started) * 1000))


@dataclass
class Invocation:
    """One call as the server saw it (kept for tests and debugging)."""

    function_name: str
    event: Any
    result: Any = None
    error_type: str | None = None
    error_message: str | None = None


def _default_handler() -> LambdaHandler:
    # The adapter configures the trigger process when imported: only when the server starts.
    from triggers.lambda_handler import handler

    return handler


class InvokeServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: LambdaHandler | None = None) -> None:
        super().__init__(address, _InvokeRequestHandler)
        self.lambda_handler = handler or _default_handler()
        self.invocations: list[Invocation] = []
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        host, port = cast(tuple[str, int], self.server_address[:2])
        return f"http://{host}:{port}"

    def record(self, invocation: Invocation) -> None:
        with self._lock:
            self.invocations.append(invocation)

    def start_in_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, name="serve-triggers", daemon=True)
        thread.start()
        return thread


def invoke_once(
    handler: LambdaHandler, name: str, payload: bytes
) -> tuple[int, dict[str, str], bytes, Invocation]:
    """Run one invocation as Lambda would; returns status, headers, body and the record."""
    try:
        event = json.loads(payload or b"{}")
    except ValueError:
        body: dict[str, Any] = {"Type": "User", "message": "Could not parse request body into json"}
        return (
            400,
            {"X-Amzn-ErrorType": "InvalidRequestContentException"},
            _json(body),
            Invocation(name, None),
        )
    invocation = Invocation(function_name=name, event=event)
    headers = {"X-Amz-Executed-Version": "$LATEST"}
    try:
        result = handler(event, InvokeContext(function_name=name))
    except Exception as exc:
        # What the Lambda runtime reports for an exception the function did not handle.
        invocation.error_type = type(exc).__name__
        invocation.error_message = str(exc)
        body = {"errorMessage": str(exc), "errorType": type(exc).__name__, "stackTrace": []}
        headers["X-Amz-Function-Error"] = "Unhandled"
        return 200, headers, _json(body), invocation
    invocation.result = result
    return 200, headers, _json(result), invocation


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), default=str).encode()


class _InvokeRequestHandler(BaseHTTPRequestHandler):
    server: InvokeServer
    protocol_version = "HTTP/1.1"
    server_version = "gatehouse-serve-triggers"

    def do_POST(self) -> None:
        match = INVOKE_PATH.match(self.path.split("?", 1)[0])
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_PAYLOAD_BYTES:
            self._send(413, {"X-Amzn-ErrorType": "RequestTooLargeException"}, _json({"message": "too large"}))
            return
        payload = self.rfile.read(length) if length else b""
        if match is None:
            not_found = {"Type": "User", "Message": f"Function not found: {self.path}"}
            self._send(404, {"X-Amzn-ErrorType": "ResourceNotFoundException"}, _json(not_found))
            return
        name = match["name"]
        invocation_type = self.headers.get("X-Amz-Invocation-Type", "RequestResponse")
        if invocation_type == "DryRun":
            self._send(204, {}, b"")
            return
        try:
            status, headers, body, invocation = invoke_once(self.server.lambda_handler, name, payload)
        finally:
            # Each request runs in a thread of its own: give its database connection back.
            from django.db import connections

            connections.close_all()
        if status == 200:
            self.server.record(invocation)
        if invocation_type == "Event":
            # Asynchronous invoke: Lambda accepts it and answers before the function runs.
            self._send(202, {}, b"")
            return
        self._send(status, headers, body)

    def do_GET(self) -> None:
        self._send(404, {"X-Amzn-ErrorType": "ResourceNotFoundException"}, _json({"Message": "not found"}))

    def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status, HTTPStatus(status).phrase)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Amzn-RequestId", str(uuid.uuid4()))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("serve_triggers: " + format, *args)


class Command(BaseCommand):
    help = "Serve the Cognito trigger dispatcher over the Lambda Invoke API (for cognito-local)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="Address to bind (default 127.0.0.1).")
        parser.add_argument("--port", type=int, default=9001, help="Port to bind (default 9001).")

    def handle(self, *args: Any, host: str, port: int, **options: Any) -> None:
        server = InvokeServer((host, port))
        self.stdout.write(
            f"Lambda Invoke API on {server.url}: POST /2015-03-31/functions/NAME/invocations "
            "(every NAME reaches triggers.lambda_handler.handler)"
        )
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
