"""Item 13 of issue 13: the CRM webhook against real local HTTP servers (no mocks)."""

from __future__ import annotations

import json
import socketserver
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from outbox.models import SideEffect, SideEffectKind, SideEffectStatus
from outbox.runner import side_effect_attempt
from outbox.services import side_effect_enqueue

pytestmark = pytest.mark.django_db


class Server:
    def __init__(self, handler: type[socketserver.BaseRequestHandler]) -> None:
        self.requests: list[tuple[str, str]] = []
        handler.server_state = self  # type: ignore[attr-defined]
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _Quiet(BaseHTTPRequestHandler):
    server_state: Server

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _record(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.server_state.requests.append((self.command, self.path))


class Internal(_Quiet):
    def do_GET(self) -> None:
        self._record()
        self.send_response(200)
        self.end_headers()

    do_POST = do_GET


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        server.stop()


def hook(url: str) -> SideEffect:
    return side_effect_enqueue(
        key="onboard:crm:sub-1",
        kind=SideEffectKind.CRM_WEBHOOK,
        payload={"url": url, "body": {"event": "user.signed_up", "sub": "sub-1"}},
        run_inline=False,
    )


def test_a_redirect_is_not_followed_and_is_a_failure(servers, settings):
    settings.CRM_WEBHOOK_SECRET = "s" * 32
    internal = Server(Internal)
    servers.append(internal)

    class Redirect(_Quiet):
        def do_POST(self) -> None:
            self._record()
            self.send_response(302)
            self.send_header("Location", f"{internal.url}/latest/meta-data/")
            self.send_header("Content-Length", "0")
            self.end_headers()

    redirect = Server(Redirect)
    servers.append(redirect)
    effect = hook(f"{redirect.url}/hook")

    assert side_effect_attempt(effect.pk) == "retry"

    effect.refresh_from_db()
    assert redirect.requests == [("POST", "/hook")]
    assert internal.requests == []
    assert effect.status == SideEffectStatus.PENDING
    assert effect.last_error == "WebhookRefused: CRM webhook answered HTTP 302"


def test_a_receiver_dripping_headers_is_cut_at_the_deadline(servers, settings):
    settings.CRM_WEBHOOK_SECRET = "s" * 32
    settings.SIDE_EFFECT_TIMEOUT_SECONDS = 1.0

    class Drip(_Quiet):
        def do_POST(self) -> None:
            self._record()
            self.wfile.write(b"HTTP/1.1 200 OK\r\n")
            for i in range(7):  # one header line every 0.8 s: each read is well inside 1 s
                self.wfile.flush()
                time.sleep(0.8)
                try:
                    self.wfile.write(f"X-Drip-{i}: x\r\n".encode())
                except OSError:
                    return
            self.wfile.write(b"Content-Length: 0\r\n\r\n")

    drip = Server(Drip)
    servers.append(drip)
    effect = hook(f"{drip.url}/hook")

    started = time.perf_counter()
    outcome = side_effect_attempt(effect.pk)
    elapsed = time.perf_counter() - started

    assert outcome == "retry"
    assert elapsed < 1.5, f"the call took {elapsed:.2f}s"
    effect.refresh_from_db()
    assert effect.last_error == "WebhookRefused: no answer within 1s"


def test_only_2xx_is_acceptance_and_the_delivery_id_is_the_outbox_key(servers, settings):
    settings.CRM_WEBHOOK_SECRET = "s" * 32
    seen: list[dict[str, str]] = []

    class Accept(_Quiet):
        def do_POST(self) -> None:
            self._record()
            seen.append(dict(self.headers))
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()

    accept = Server(Accept)
    servers.append(accept)
    effect = hook(f"{accept.url}/hook?x=1")

    assert side_effect_attempt(effect.pk) == "done"
    assert accept.requests == [("POST", "/hook?x=1")]
    assert (seen[0]["X-Gatehouse-Delivery"], seen[0]["Idempotency-Key"]) == ("onboard:crm:sub-1",) * 2


def test_without_a_secret_nothing_is_posted_unsigned(servers, settings):
    settings.CRM_WEBHOOK_SECRET = ""
    internal = Server(Internal)
    servers.append(internal)
    effect = hook(f"{internal.url}/hook")

    assert side_effect_attempt(effect.pk) == "retry"
    assert internal.requests == []


def test_the_onboarding_body_carries_only_what_the_crm_needs(open_policy, settings):
    from tests.triggers.test_post_confirmation import confirm_event, invoke

    settings.CRM_WEBHOOK_URL = "http://127.0.0.1:9/hook"
    settings.CRM_WEBHOOK_SECRET = "s" * 32
    invoke(confirm_event(metadata={"source": "ads"}))

    body = SideEffect.objects.get(kind=SideEffectKind.CRM_WEBHOOK).payload["body"]
    assert sorted(body) == [
        "campaign",
        "company",
        "delivery_id",
        "email",
        "event",
        "referrer",
        "role",
        "source",
        "sub",
    ]
    assert json.dumps(body).count("given_name") == 0
