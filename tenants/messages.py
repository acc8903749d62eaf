"""Finished messages: a staff template rendered with its fallback, the From header, the queueing.

The outbox below is handed what comes out of here (an OutgoingEmail) and knows nothing of
templates, companies or people; rendering and branding happen in this module.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.conf import settings

from outbox.models import SideEffect
from outbox.services import OutgoingEmail, email_enqueue
from tenants.emails import (
    EMAIL_MAX_CHARS,
    SMS_MAX_CHARS,
    RenderedEmail,
    TemplateProblem,
    default_source,
    problem_summary,
    render_source,
)
from tenants.models import Company, UserProfile
from tenants.selectors import company_email_context, email_template_source

logger = logging.getLogger(__name__)


def profile_subject(profile: UserProfile | None) -> str:
    """How a side effect names the person it is about (outbox.SideEffect.subject)."""
    return f"profile:{profile.pk}" if profile is not None and profile.pk else ""


def email_render(
    *,
    key: str,
    language: str = "en",
    company: Company | None = None,
    context: dict[str, Any],
) -> RenderedEmail:
    """Render the most specific template; fall back to the default when staff's edit is broken.

    A broken template must never block a sign-up: the default files are always valid
    (tests render every one), and the reason for the fallback is logged.
    """
    full_context = {
        "company": company_email_context(company),
        "app_url": settings.APP_URL,
        **context,
    }
    source = email_template_source(key=key, language=language, company=company)
    try:
        return render_source(source, full_context)
    except TemplateProblem as problem:
        if source.origin == "default":
            raise
        logger.warning(
            "email template failed, using the default",
            extra={
                "template_key": key,
                "origin": source.origin,
                "problem": "; ".join(problem_summary(problem)),
            },
        )
        return render_source(default_source(key, language), full_context)


def user_email_context(profile: UserProfile | None, **fallback: str) -> dict[str, str]:
    if profile is None:
        # Cut to the profile's columns: the event's names may be 2048 characters long.
        return {
            "given_name": fallback.get("given_name", "")[:100],
            "family_name": fallback.get("family_name", "")[:100],
            "email": fallback.get("email", "")[:254],
        }
    return {
        "given_name": profile.given_name,
        "family_name": profile.family_name,
        "email": profile.email,
    }


# --- Rendering that must carry a placeholder (custom messages, login codes) ----------------


class UnusableTemplate(Exception):
    """Even the default template cannot carry this message (an unexpected Cognito placeholder)."""


def _problems(
    rendered: RenderedEmail, *, required: dict[str, str], fields: tuple[str, ...], sms: bool
) -> list[str]:
    problems = []
    for label, needed in required.items():
        for name in fields:
            if needed not in getattr(rendered, name):
                problems.append(f"{name} lacks the {label} placeholder")
        if sms and rendered.sms_body and needed not in rendered.sms_body:
            problems.append(f"sms_body lacks the {label} placeholder")
    for name in fields:
        if len(getattr(rendered, name)) > EMAIL_MAX_CHARS:
            problems.append(f"{name} is longer than {EMAIL_MAX_CHARS} characters")
    if sms and len(rendered.sms_body) > SMS_MAX_CHARS:
        problems.append(f"sms_body is longer than {SMS_MAX_CHARS} characters")
    if not rendered.subject:
        problems.append("the subject is empty")
    return problems


def render_checked(
    *,
    key: str,
    language: str,
    company: Company | None,
    context: dict[str, Any],
    required: dict[str, str],
    fields: tuple[str, ...] = ("html_body",),
    sms: bool = False,
    secret: bool = False,
) -> RenderedEmail:
    """Render the most specific template, or the default one when it cannot carry the message.

    `required` strings (name -> text: Cognito's placeholders, a code) must appear in every field in
    `fields`, and in the SMS when `sms`. A staff template with an empty SMS text keeps
    its email and takes the default SMS. `secret`: the context holds a real code, so
    the log names the failing fields only (a render error could quote a value).
    """
    full_context = {"company": company_email_context(company), "app_url": settings.APP_URL, **context}
    source = email_template_source(key=key, language=language, company=company)
    try:
        rendered = render_source(source, full_context)
        problems = _problems(rendered, required=required, fields=fields, sms=sms)
    except TemplateProblem as problem:
        rendered = None
        # problem_summary: a render error quotes the value it choked on (the user's address).
        problems = sorted(problem.message_dict) if secret else problem_summary(problem)
    if rendered is not None and not problems:
        if sms and not rendered.sms_body and source.origin != "default":
            default_sms = render_source(default_source(key, language), full_context).sms_body
            return RenderedEmail(
                rendered.subject, rendered.html_body, rendered.text_body, default_sms, rendered.origin
            )
        return rendered
    if source.origin == "default":
        raise UnusableTemplate(f"default template {key}: {'; '.join(problems)}")
    logger.warning(
        "email template unusable, using the default",
        extra={
            "template_key": key,
            "language": language,
            "origin": source.origin,
            "company_id": company.pk if company is not None else None,
            "problems": problems[:10],
        },
    )
    fallback = render_source(default_source(key, language), full_context)
    problems = _problems(fallback, required=required, fields=fields, sms=sms)
    if problems:
        raise UnusableTemplate(f"default template {key}: {'; '.join(problems)}")
    return fallback


def email_sender(company: Company | None) -> str:
    """The From header: SES_SENDER's address, under the company's sender name when it has one.

    The name is staff input going into a header: quotes, angle brackets, backslashes and
    line breaks are dropped so it cannot end the display name or add a header.
    """
    sender: str = settings.SES_SENDER
    if company is None or not company.brand_sender_name:
        return sender
    address = sender.rpartition("<")[2].rstrip(">") if "<" in sender else sender
    name = "".join(ch for ch in company.brand_sender_name if ch not in '\r\n"<>\\').strip()[:100]
    return f'"{name}" <{address}>' if name else sender


def email_queue(
    *,
    key: str,
    template: str,
    to: str,
    company: Company | None,
    language: str,
    context: dict[str, Any],
    profile: UserProfile | None = None,
    expires_at: datetime | None = None,
) -> SideEffect:
    """Render a staff template now and hand the finished email to the outbox.

    `expires_at`: when what the email carries (a code) stops working; it is not sent after.
    """
    rendered = email_render(key=template, language=language, company=company, context=context)
    return email_queue_rendered(
        key=key,
        rendered=rendered,
        template=template,
        to=to,
        company=company,
        profile=profile,
        expires_at=expires_at,
    )


def email_queue_rendered(
    *,
    key: str,
    rendered: RenderedEmail,
    template: str,
    to: str,
    company: Company | None,
    profile: UserProfile | None = None,
    expires_at: datetime | None = None,
) -> SideEffect:
    """Hand an already rendered email to the outbox, under the company's From header."""
    return email_enqueue(
        key=key,
        email=OutgoingEmail(
            to=to,
            sender=email_sender(company),
            subject=rendered.subject,
            html=rendered.html_body,
            text=rendered.text_body,
            template=template,
            origin=rendered.origin,
            expires_at=expires_at,
        ),
        subject=profile_subject(profile),
    )
