"""Errors as RFC 9457 problem details: one stable `type` per error, never a traceback.

Every refusal the API can give is listed in PROBLEMS (docs/api.md shows the table); the
handlers below turn the domain's exceptions into them, so views raise or let raise and never
build an error response themselves.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError

from api.tokens import TokenRejected
from tenants.access import AccessDenied
from tenants.memberships import MembershipError

if TYPE_CHECKING:
    from ninja import NinjaAPI

logger = logging.getLogger(__name__)

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


_ACCESS = {
    "not_found": "not-found",
    "unknown_person": "forbidden",
    "person_suspended": "person-suspended",
    "membership_suspended": "membership-suspended",
    "company_suspended": "company-suspended",
    "permission_missing": "permission-missing",
}


def _field_errors_from_ninja(exc: NinjaValidationError) -> list[dict[str, str]]:
    errors = []
    for error in exc.errors:
        # loc is ("body", "payload", "email") or ("query", "limit"): drop the wrappers.
        loc = [str(part) for part in error.get("loc", ()) if part not in ("body", "payload", "query", "path")]
        errors.append({"field": ".".join(loc) or "body", "message": str(error.get("msg", "invalid"))})
    return errors


def _field_errors_from_django(exc: DjangoValidationError) -> list[dict[str, str]]:
    if hasattr(exc, "error_dict"):
        return [
            {"field": field if field != "__all__" else "body", "message": message}
            for field, messages in exc.message_dict.items()
            for message in messages
        ]
    return [{"field": "body", "message": message} for message in exc.messages]


def install(api: NinjaAPI) -> None:
    """Register the handlers on the API: every exception ends as a problem."""

    @api.exception_handler(Problem)
    def _problem(request: HttpRequest, exc: Problem) -> HttpResponse:
        return problem_response(request, exc.slug, exc.detail, errors=exc.errors, **exc.extra)

    @api.exception_handler(TokenRejected)
    def _token(request: HttpRequest, exc: TokenRejected) -> HttpResponse:
        slug = {"keys_unavailable": "keys-unavailable", "not_configured": "not-configured"}.get(
            exc.reason, "invalid-token"
        )
        headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'} if exc.status == 401 else {}
        return problem_response(request, slug, exc.message, headers=headers, reason=exc.reason)

    @api.exception_handler(AuthenticationError)
    def _unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
        return problem_response(request, "unauthenticated", headers={"WWW-Authenticate": "Bearer"})

    @api.exception_handler(AccessDenied)
    def _access(request: HttpRequest, exc: AccessDenied) -> HttpResponse:
        slug = _ACCESS.get(exc.reason, "forbidden")
        return problem_response(request, slug, "" if slug == "not-found" else exc.message)

    @api.exception_handler(MembershipError)
    def _membership(request: HttpRequest, exc: MembershipError) -> HttpResponse:
        if exc.reason == "not_member":
            return problem_response(request, "not-found")
        return problem_response(request, "conflict", exc.message, reason=exc.reason)

    @api.exception_handler(NinjaValidationError)
    def _invalid(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
        return problem_response(request, "invalid-request", errors=_field_errors_from_ninja(exc))

    @api.exception_handler(DjangoValidationError)
    def _invalid_domain(request: HttpRequest, exc: DjangoValidationError) -> HttpResponse:
        return problem_response(request, "invalid-request", errors=_field_errors_from_django(exc))

    @api.exception_handler(Http404)
    def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
        return problem_response(request, "not-found")

    @api.exception_handler(HttpError)
    def _http(request: HttpRequest, exc: HttpError) -> HttpResponse:
        slug = next((s for s, (code, _) in PROBLEMS.items() if code == exc.status_code), "internal")
        return problem_response(request, slug, str(exc), status=exc.status_code)

    @api.exception_handler(Exception)
    def _unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
        logger.exception("tenant API error", extra={"path": request.path})
        return problem_response(request, "internal")
