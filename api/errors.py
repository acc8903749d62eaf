"""The handlers that turn every exception the API meets into a problem (api.problems)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError

from api.idempotency import Replay, replay_response
from api.problems import PROBLEMS, Problem, problem_response
from api.tokens import TokenRejected
from tenants.access import AccessDenied
from tenants.memberships import MembershipError

if TYPE_CHECKING:
    from ninja import NinjaAPI

logger = logging.getLogger(__name__)


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

    @api.exception_handler(Replay)
    def _replay(request: HttpRequest, exc: Replay) -> HttpResponse:
        return replay_response(exc.record)

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
