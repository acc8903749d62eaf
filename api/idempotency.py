"""Idempotency-Key on the API's writes: a retried write answers what the first one answered.

Scoped to the caller (sub and app client) and the route (method and path): the same key on
another route, or from another caller, is another key. The first request claims the key with
one INSERT in its own committed statement before the view runs (so a concurrent duplicate
sees it and answers 409); the middleware stores the answer after the view. A 5xx is not kept
(the retry runs again). The same key with another body is 422. Rows older than
IDEMPOTENCY_TTL_HOURS are replaced; a claim whose request died is taken over after
IDEMPOTENCY_STALE_SECONDS.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from api.models import IdempotencyKey
from api.problems import Problem
from api.tokens import Principal
from core.db import insert_unless_exists
from outbox.crypto import seal, unseal

HEADER = "Idempotency-Key"
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
KEY_RE = re.compile(r"^[\x21-\x7e]{1,255}$")  # visible ASCII, as the IETF draft's examples


class Replay(Exception):
    """The stored answer of an earlier request with this key (api.problems answers it)."""

    def __init__(self, record: IdempotencyKey) -> None:
        super().__init__(record.key)
        self.record = record


def replay_response(record: IdempotencyKey) -> HttpResponse:
    body = unseal(record.sealed_body)["body"] if record.sealed_body else ""
    response = HttpResponse(body, status=record.status_code or 200, content_type=record.content_type)
    response["Idempotent-Replayed"] = "true"
    return response


def idempotency_claim(request: HttpRequest, who: Principal) -> None:
    """Claim the request's key, or raise Replay / a 409 or 422 problem. No header, nothing to do."""
    key = request.headers.get(HEADER)
    if key is None or request.method not in WRITES:
        return
    if not KEY_RE.match(key):
        raise Problem(
            "invalid-request", errors=[{"field": HEADER, "message": "1 to 255 visible ASCII characters."}]
        )
    scope = f"{who.sub}|{who.client_id}|{request.method} {request.path}"[:400]
    digest = hashlib.sha256(request.body).hexdigest()
    now = timezone.now()
    for _attempt in range(2):
        record = IdempotencyKey(scope=scope, key=key, request_hash=digest)
        if insert_unless_exists(record):
            request.idempotency = record  # type: ignore[attr-defined]
            return
        existing = IdempotencyKey.objects.filter(scope=scope, key=key).first()
        if existing is None:
            continue  # deleted meanwhile (expired): claim it again
        if existing.created_at < now - timedelta(hours=settings.IDEMPOTENCY_TTL_HOURS):
            existing.delete()
            continue
        if existing.request_hash != digest:
            raise Problem("idempotency-mismatch", "This Idempotency-Key was used with another request body.")
        if existing.status_code is not None:
            raise Replay(existing)
        stale = now - timedelta(seconds=settings.IDEMPOTENCY_STALE_SECONDS)
        if existing.created_at < stale and IdempotencyKey.objects.filter(
            pk=existing.pk, status_code__isnull=True, created_at__lt=stale
        ).update(created_at=now):
            request.idempotency = existing  # type: ignore[attr-defined]
            return
        raise Problem("idempotency-in-progress", "A request with this Idempotency-Key is still running.")
    raise Problem("idempotency-in-progress", "A request with this Idempotency-Key is still running.")


class IdempotencyMiddleware:
    """After the API answered a claimed write: keep the answer, or free the key after a 5xx."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        record: IdempotencyKey | None = getattr(request, "idempotency", None)
        if record is None:
            return response
        if response.status_code >= 500:
            IdempotencyKey.objects.filter(pk=record.pk).delete()
            return response
        IdempotencyKey.objects.filter(pk=record.pk).update(
            status_code=response.status_code,
            content_type=response.get("Content-Type", ""),
            sealed_body=seal({"body": response.content.decode()}),
        )
        return response
