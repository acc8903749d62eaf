"""Errors as RFC 9457 problem details: one stable `type` per error, never a traceback.

Every refusal the API can give is listed in PROBLEMS (docs/api.md shows the table);
api.errors turns the domain's exceptions into them, so views raise or let raise and never
build an error response themselves.
"""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, HttpResponse

CONTENT_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:gatehouse:problem:"

# slug: (status, title)
PROBLEMS: dict[str, tuple[int, str]] = {
    "unauthenticated": (401, "A bearer token is required"),
    "invalid-token": (401, "The bearer token was refused"),
    "keys-unavailable": (503, "The signing keys could not be fetched"),
    "not-configured": (503, "The API is not configured"),
    "forbidden": (403, "Not allowed"),
    "person-suspended": (403, "Your account is suspended"),
    "membership-suspended": (403, "Your membership of this company is suspended"),
    "company-suspended": (403, "This company's account is suspended"),
    "permission-missing": (403, "Your role does not grant this"),
    "role-not-grantable": (403, "You cannot grant or take away this role"),
    "not-found": (404, "Not found"),
    "invalid-request": (422, "The request is not valid"),
    "conflict": (409, "The change is not possible now"),
    "idempotency-in-progress": (409, "A request with this Idempotency-Key is still running"),
    "idempotency-mismatch": (422, "This Idempotency-Key was used with another request"),
    "payload-too-large": (413, "The request body is too large"),
    "rate-limited": (429, "Too many requests"),
    "internal": (500, "Something went wrong on our side"),
}


class Problem(Exception):
    """Raise to answer with the problem `slug` (a key of PROBLEMS)."""

    def __init__(
        self, slug: str, detail: str = "", *, errors: list[dict[str, str]] | None = None, **extra: Any
    ) -> None:
        super().__init__(detail or PROBLEMS[slug][1])
        self.slug = slug
        self.detail = detail
        self.errors = errors
        self.extra = extra


def problem_response(
    request: HttpRequest,
    slug: str,
    detail: str = "",
    *,
    errors: list[dict[str, str]] | None = None,
    status: int | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> HttpResponse:
    code, title = PROBLEMS[slug]
    body: dict[str, Any] = {
        "type": TYPE_PREFIX + slug,
        "title": title,
        "status": status or code,
        "detail": detail or title,
        "instance": request.path,
    }
    if errors is not None:
        body["errors"] = errors
    body.update(extra)
    request_id = getattr(request, "request_id", "")
    if request_id:
        body["request_id"] = request_id
    response = HttpResponse(json.dumps(body), status=status or code, content_type=CONTENT_TYPE)
    for name, value in (headers or {}).items():
        response[name] = value
    return response
