"""The local mailbox: every email the embedded SES (moto's server, `make run`) accepted.

Development only: without LOCAL_AWS_URL (which production refuses to start with) the pages
answer 404. moto keeps what SES's API was given; for SendEmail that is the source, the
destinations, the subject and one body (the HTML part when there is one, else the text part:
moto drops the other), so the page shows exactly that and says so. Raw messages are shown
whole (headers, text and HTML parts). Bodies are rendered only inside the sandboxed frame the
template preview uses (staff/pages.py EMAIL_PREVIEW_CSP).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from email import message_from_string, policy
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from staff.pages import EMAIL_PREVIEW_CSP

# moto's state of every backend, as JSON (moto/moto_api/_internal/responses.py).
MOTO_DATA_PATH = "/moto-api/data.json"


@dataclass(frozen=True)
class MailboxMessage:
    id: str
    headers: list[tuple[str, str]]
    subject: str
    to: str
    html: str = ""
    text: str = ""
    # What moto did not keep, said on the page rather than left out silently.
    notes: list[str] = field(default_factory=list)


def _sent(entry: dict[str, Any]) -> MailboxMessage:
    destinations = entry.get("destinations") or {}
    headers = [("From", str(entry.get("source", "")))]
    for name, key in (("To", "ToAddresses"), ("Cc", "CcAddresses"), ("Bcc", "BccAddresses")):
        if destinations.get(key):
            headers.append((name, ", ".join(destinations[key])))
    headers += [("Subject", str(entry.get("subject", ""))), ("Message-Id", str(entry.get("id", "")))]
    body = str(entry.get("body", ""))
    # moto keeps the HTML part when SendEmail had one; a plain-text-only email keeps its text.
    is_html = "<" in body and ">" in body
    return MailboxMessage(
        id=str(entry.get("id", "")),
        headers=headers,
        subject=str(entry.get("subject", "")),
        to=", ".join(destinations.get("ToAddresses", [])),
        html=body if is_html else "",
        text="" if is_html else body,
        notes=[
            "moto keeps one body of a SendEmail call (the HTML part when there is one); "
            "the other part is not recorded."
        ],
    )


def _raw(entry: dict[str, Any]) -> MailboxMessage:
    parsed = message_from_string(str(entry.get("raw_data", "")), policy=policy.default)
    parts = {"text/plain": "", "text/html": ""}
    for part in parsed.walk():
        if part.get_content_type() in parts and not parts[part.get_content_type()]:
            parts[part.get_content_type()] = str(part.get_content())
    return MailboxMessage(
        id=str(entry.get("id", "")),
        headers=[(k, str(v)) for k, v in parsed.items()],
        subject=str(parsed.get("Subject", "")),
        to=str(parsed.get("To", "")),
        html=parts["text/html"],
        text=parts["text/plain"],
    )


def mailbox_messages(base_url: str) -> list[MailboxMessage]:
    """What the local SES accepted, newest first (moto lists them in the order it took them)."""
    with urllib.request.urlopen(base_url.rstrip("/") + MOTO_DATA_PATH, timeout=3) as response:  # noqa: S310 (a local URL from settings)
        data = json.load(response)
    ses = data.get("ses") or {}
    messages = [_sent(e) for e in ses.get("Message", [])] + [_raw(e) for e in ses.get("RawMessage", [])]
    # Sent and raw messages are separate lists in moto: merged, the order within each is kept.
    return list(reversed(messages))


def _mailbox_url() -> str:
    url: str = getattr(settings, "LOCAL_AWS_URL", "")
    if not url or settings.PRODUCTION:
        raise Http404("The mailbox exists only with make run's local SES.")
    return url


def _check(request: HttpRequest) -> str:
    url = _mailbox_url()
    # The bodies hold sign-in and invitation codes: staff who may read the outbox only.
    if not request.user.has_perm("outbox.view_sideeffect"):
        raise PermissionDenied
    return url


def mailbox_view(request: HttpRequest) -> HttpResponse:
    url = _check(request)
    error = ""
    try:
        messages = mailbox_messages(url)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        messages, error = [], f"The local SES at {url} did not answer ({type(exc).__name__})."
    selected = next((m for m in messages if m.id == request.GET.get("id")), messages[0] if messages else None)
    context = {
        **admin.site.each_context(request),
        "title": "Mailbox (local SES)",
        "messages_list": messages,
        "selected": selected,
        "error": error,
        "ses_url": url,
    }
    return TemplateResponse(request, "admin/gatehouse/mailbox.html", context)


def mailbox_frame_view(request: HttpRequest, message_id: str) -> HttpResponse:
    """One message for the sandboxed frame: headers, the HTML (sandboxed again) and the text."""
    url = _check(request)
    message = next((m for m in mailbox_messages(url) if m.id == message_id), None)
    if message is None:
        raise Http404("No such message in the local SES.")
    response = TemplateResponse(request, "admin/gatehouse/mailbox_frame.html", {"message": message})
    response._csp_config = EMAIL_PREVIEW_CSP  # type: ignore[attr-defined]
    response["X-Frame-Options"] = "SAMEORIGIN"
    response["Cache-Control"] = "no-store"
    return response
