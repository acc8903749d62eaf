"""The tenant API's one NinjaAPI: authentication in one place, problems for every error.

Mounted at /api/v1/ by backoffice.urls, so it runs wherever the admin runs (runserver, the
admin's Lambda through mangum); the trigger function's URLconf never imports it.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from ninja import NinjaAPI
from ninja.security import HttpBearer

from api import company, errors, invitations, me, members
from api.context import request_id_of
from api.idempotency import idempotency_claim
from api.problems import Problem
from api.schemas import ProblemOut
from api.tokens import Principal, token_verify


class CognitoBearer(HttpBearer):
    """`Authorization: Bearer <Cognito access token>` (api.tokens decides which tokens pass)."""

    openapi_description = "A Cognito access token of an app client staff allowed (ID tokens where enabled)."

    def __call__(self, request: HttpRequest) -> Any:
        request.request_id = request_id_of(request)  # type: ignore[attr-defined]
        # Refused before the body is read: Content-Length is all API Gateway and runserver give.
        length = request.META.get("CONTENT_LENGTH") or "0"
        if not length.isdigit() or int(length) > settings.API_MAX_BODY_BYTES:
            raise Problem("payload-too-large", f"At most {settings.API_MAX_BODY_BYTES} bytes.")
        return super().__call__(request)

    def authenticate(self, request: HttpRequest, token: str) -> Principal:
        who = token_verify(token)
        idempotency_claim(request, who)  # a retried write answers here what it answered first
        return who


PROBLEM_RESPONSE = {"$ref": "#/components/schemas/Problem"}


class TenantApi(NinjaAPI):
    """The NinjaAPI whose document also says every operation may answer a problem (4XX, 5XX)."""

    def get_openapi_schema(self, *, path_prefix: str | None = None, path_params: Any = None) -> Any:
        document = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        document.setdefault("components", {}).setdefault("schemas", {})["Problem"] = (
            ProblemOut.model_json_schema()
        )
        for operations in document["paths"].values():
            for operation in operations.values():
                # Ninja keys responses by int; JSON (and this document's sorted keys) by string.
                operation["responses"] = {
                    str(code): answer for code, answer in operation["responses"].items()
                }
                for status, description in (
                    ("4XX", "A refusal"),
                    ("5XX", "Our fault, or the key set unreachable"),
                ):
                    operation["responses"].setdefault(
                        status,
                        {
                            "description": f"{description}: RFC 9457 problem details (docs/api.md)",
                            "content": {"application/problem+json": {"schema": PROBLEM_RESPONSE}},
                        },
                    )
        return document


api = TenantApi(
    title="Gatehouse tenant API",
    version="1",
    description="The customer's app manages its company: members, invitations, roles, flags, audit.",
    urls_namespace="api-v1",
    auth=CognitoBearer(),
    docs_url=None,  # the document is at openapi.json (docs/openapi.json); no UI loading CDN assets
)
errors.install(api)
api.add_router("", me.router)
api.add_router("", members.router)
api.add_router("", invitations.router)
api.add_router("", company.router)
