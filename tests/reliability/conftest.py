"""Fixtures for the reliability tests: threads on real connections, misbehaving local servers."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.db import connection

from tests.conftest import free_port

THREAD_JOIN_SECONDS = 60


def run_concurrently(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run work(0..count-1) in `count` threads released together; results or exceptions, in order.

    Each thread has its own database connection (Django's are per thread) and closes it, so
    the test database can be dropped afterwards.
    """
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def target(index: int) -> None:
        try:
            barrier.wait(timeout=THREAD_JOIN_SECONDS)
            results[index] = work(index)
        except BaseException as exc:  # collected for the test to assert on
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=target, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=THREAD_JOIN_SECONDS)
    assert not any(thread.is_alive() for thread in threads), "a worker thread hung"
    return results


def closed_port() -> int:
    """A local port nothing listens on: connecting fails at once (service down)."""
    return free_port()


@dataclass
class FakeService:
    """A tiny HTTP server on 127.0.0.1 that is slow, throttles, or answers like the real service.

    mode: "slow" sleeps `delay` seconds before answering 200 (bounded, so threads end);
    "throttle" answers 429 (webhook) or 400 ThrottlingException (AWS query/JSON protocols);
    "ok" answers 200 {}.
    """

    url: str
    mode: str = "ok"
    delay: float = 0.0
    requests: list[dict[str, Any]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def _handler_for(service: FakeService) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            return

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            service.requests.append(
                {"path": self.path, "headers": dict(self.headers), "body": body.decode(errors="replace")}
            )
            if service.mode == "slow":
                time.sleep(min(service.delay, 5.0))
                self._answer(200, b"{}", "application/json")
            elif service.mode == "throttle":
                target = self.headers.get("X-Amz-Target", "")
                if target:  # AWS JSON protocol (Cognito)
                    self._answer(
                        400,
                        json.dumps(
                            {"__type": "TooManyRequestsException", "message": "Rate exceeded"}
                        ).encode(),
                        "application/x-amz-json-1.1",
                    )
                elif self.headers.get("Authorization", "").startswith("AWS4"):  # AWS query (SES)
                    self._answer(
                        400,
                        b'<ErrorResponse xmlns="http://ses.amazonaws.com/doc/2010-12-01/"><Error>'
                        b"<Type>Sender</Type><Code>Throttling</Code><Message>Maximum sending rate "
                        b"exceeded.</Message></Error><RequestId>r-1</RequestId></ErrorResponse>",
                        "text/xml",
                    )
                else:
                    self._answer(429, b'{"error": "slow down"}', "application/json")
            else:
                self._answer(200, b"{}", "application/json")

        def _answer(self, status: int, body: bytes, content_type: str) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout): that is the point of "slow"

    return Handler


@pytest.fixture
def fake_service() -> Iterator[Callable[..., FakeService]]:
    started: list[FakeService] = []

    def start(mode: str = "ok", delay: float = 0.0, port: int = 0) -> FakeService:
        service = FakeService(url="", mode=mode, delay=delay)
        server = ThreadingHTTPServer(("127.0.0.1", port), _handler_for(service))
        server.daemon_threads = True
        service.server = server
        service.url = f"http://127.0.0.1:{server.server_address[1]}"
        threading.Thread(target=server.serve_forever, daemon=True).start()
        started.append(service)
        return service

    yield start
    for service in started:
        service.stop()
