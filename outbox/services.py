"""The outbox: side effects stored with the change that causes them, run after commit.

A side effect is a row (`SideEffect`) written in the same transaction as the
domain change, keyed by an idempotency key so that a retried trigger adds
nothing. After commit it is tried once inline, within the trigger's time
budget; whatever fails or does not fit is carried by Django's task framework
(django-tasks-db in Postgres) and retried with exponential backoff. Staff see
and retry the rows in the admin.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import hmac
import json
import logging
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from backoffice.db import existing_or_raise, insert_unless_exists
from outbox.models import SideEffect, SideEffectKind, SideEffectStatus
from tenants.models import Company, UserProfile

logger = logging.getLogger(__name__)

# Monotonic deadline for inline attempts in the current invocation (None: no budget).
_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("side_effect_deadline", default=None)

BACKOFF_BASE_SECONDS = 30
BACKOFF_MAX_SECONDS = 3600


@contextmanager
def inline_budget(seconds: float | None = None) -> Iterator[None]:
    """Inline attempts started inside this block stop once `seconds` have passed."""
    budget = settings.SIDE_EFFECT_INLINE_BUDGET_SECONDS if seconds is None else seconds
    token = _deadline.set(time.monotonic() + budget)
    try:
        yield
    finally:
        _deadline.reset(token)


def _budget_left() -> float | None:
    deadline = _deadline.get()
    return None if deadline is None else deadline - time.monotonic()


def backoff_delay(attempts: int) -> timedelta:
    return timedelta(seconds=min(BACKOFF_BASE_SECONDS * 2 ** max(attempts - 1, 0), BACKOFF_MAX_SECONDS))


def side_effect_enqueue(
    *,
    key: str,
    kind: SideEffectKind | str,
    payload: dict[str, Any],
    profile: UserProfile | None = None,
    run_inline: bool = True,
) -> SideEffect:
    """Store a side effect once per key; it runs after the surrounding transaction commits."""
    key = key[:200]
    side_effect = SideEffect(key=key, kind=kind, payload=payload, profile=profile)
    # One INSERT ... ON CONFLICT (the key is unique): a replay, or a concurrent twin that
    # committed first, inserts nothing and gets the stored row back.
    created = insert_unless_exists(side_effect)
    if not created:
        side_effect = existing_or_raise(SideEffect.objects.filter(key=key).first(), what="side effect")
    if created:
        from outbox.tasks import perform_side_effect

        # With the database backend this row is written in the same transaction: durable.
        perform_side_effect.enqueue(side_effect_id=side_effect.pk)
        if run_inline:
            pk = side_effect.pk
            transaction.on_commit(lambda: side_effect_run_inline(pk))
    return side_effect


def side_effect_run_inline(pk: int) -> str:
    """Try a side effect now if the invocation's budget allows; the queue has it otherwise."""
    left = _budget_left()
    if left is not None and left <= settings.SIDE_EFFECT_TIMEOUT_SECONDS / 2:
        logger.info("side effect left to the queue: budget spent", extra={"side_effect_id": pk})
        return "deferred"
    try:
        return side_effect_attempt(pk)
    except Exception:
        # Never let a failure after commit reach the caller (a trigger must answer).
        logger.exception("side effect inline attempt crashed", extra={"side_effect_id": pk})
        return "error"


def side_effect_attempt(pk: int, *, force: bool = False) -> str:
    """Run one pending side effect once. Returns done, retry, failed, not_due or skipped.

    The row is locked (SKIP LOCKED) for the attempt, so the inline attempt, the task
    worker and the drain command never run the same effect twice at once, and a done
    effect is never run again.
    """
    with transaction.atomic():
        side_effect = (
            SideEffect.objects.select_for_update(skip_locked=True)
            .filter(pk=pk, status=SideEffectStatus.PENDING)
            .first()
        )
        if side_effect is None:
            return "skipped"
        if not force and side_effect.next_attempt_at > timezone.now():
            return "not_due"
        executor = EXECUTORS[side_effect.kind]
        started = time.monotonic()
        try:
            executor(side_effect)
        except Exception as exc:
            side_effect.attempts += 1
            side_effect.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            if side_effect.attempts >= settings.SIDE_EFFECT_MAX_ATTEMPTS:
                side_effect.status = SideEffectStatus.FAILED
                outcome = "failed"
            else:
                side_effect.next_attempt_at = timezone.now() + backoff_delay(side_effect.attempts)
                outcome = "retry"
            side_effect.save(update_fields=["attempts", "last_error", "status", "next_attempt_at"])
            logger.warning(
                "side effect failed",
                extra={
                    "side_effect_id": pk,
                    "kind": side_effect.kind,
                    "attempts": side_effect.attempts,
                    "outcome": outcome,
                    "error_type": type(exc).__name__,
                },
            )
            return outcome
        side_effect.attempts += 1
        side_effect.status = SideEffectStatus.DONE
        side_effect.done_at = timezone.now()
        side_effect.last_error = ""
        side_effect.payload = _scrub(side_effect)
        side_effect.save(update_fields=["attempts", "status", "done_at", "last_error", "payload"])
        logger.info(
            "side effect done",
            extra={
                "side_effect_id": pk,
                "kind": side_effect.kind,
                "duration_ms": round((time.monotonic() - started) * 1000, 1),
            },
        )
        return "done"


def side_effect_retry(*, side_effect: SideEffect) -> bool:
    """Staff retry: make a failed or waiting effect due now and queue it. False if done."""
    updated = SideEffect.objects.filter(
        pk=side_effect.pk, status__in=[SideEffectStatus.PENDING, SideEffectStatus.FAILED]
    ).update(status=SideEffectStatus.PENDING, next_attempt_at=timezone.now(), attempts=0)
    if updated:
        from outbox.tasks import perform_side_effect

        perform_side_effect.enqueue(side_effect_id=side_effect.pk)
    return bool(updated)


def side_effects_drain(*, limit: int = 100, time_budget: float | None = None) -> dict[str, int]:
    """Run every due side effect (the scheduled drain; covers a lost task too)."""
    counts: dict[str, int] = {}
    deadline = None if time_budget is None else time.monotonic() + time_budget
    for pk in SideEffect.objects.due().order_by("next_attempt_at").values_list("pk", flat=True)[:limit]:
        if deadline is not None and time.monotonic() > deadline:
            break
        outcome = side_effect_attempt(pk)
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def _scrub(side_effect: SideEffect) -> dict[str, Any]:
    """Drop message bodies once sent: they may hold codes and personal data."""
    payload = dict(side_effect.payload)
    if side_effect.kind == SideEffectKind.SEND_EMAIL:
        for field in ("html", "text"):
            if field in payload:
                payload[field] = f"[sent, {len(payload[field])} characters]"
    return payload


# --- What each kind does -----------------------------------------------------------


def email_enqueue(
    *,
    key: str,
    template: str,
    to: str,
    company: Company | None,
    language: str,
    context: dict[str, Any],
    profile: UserProfile | None = None,
) -> SideEffect:
    """Render an email template now and queue its sending through SES."""
    from tenants.services import email_render

    rendered = email_render(key=template, language=language, company=company, context=context)
    return side_effect_enqueue(
        key=f"email:{key}",
        kind=SideEffectKind.SEND_EMAIL,
        payload={
            "to": to,
            "from": email_sender(company),
            "subject": rendered.subject,
            "html": rendered.html_body,
            "text": rendered.text_body,
            "template": template,
            "origin": rendered.origin,
        },
        profile=profile,
    )


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


def _send_email(side_effect: SideEffect) -> None:
    from outbox.aws import client

    payload = side_effect.payload
    kwargs: dict[str, Any] = {
        "Source": payload["from"],
        "Destination": {"ToAddresses": [payload["to"]]},
        "Message": {
            "Subject": {"Data": payload["subject"], "Charset": "UTF-8"},
            "Body": {
                "Html": {"Data": payload["html"], "Charset": "UTF-8"},
                "Text": {"Data": payload["text"], "Charset": "UTF-8"},
            },
        },
    }
    if settings.SES_CONFIGURATION_SET:
        kwargs["ConfigurationSetName"] = settings.SES_CONFIGURATION_SET
    client("ses").send_email(**kwargs)


def _cognito_add_to_group(side_effect: SideEffect) -> None:
    from outbox.aws import client

    p = side_effect.payload
    cognito = client("cognito-idp")
    try:
        cognito.admin_add_user_to_group(
            UserPoolId=p["user_pool_id"], Username=p["username"], GroupName=p["group"]
        )
    except cognito.exceptions.ResourceNotFoundException:
        # The group for a role staff created after deploy: create it, then add again.
        with contextlib.suppress(cognito.exceptions.GroupExistsException):
            cognito.create_group(
                UserPoolId=p["user_pool_id"], GroupName=p["group"], Precedence=p.get("precedence", 100)
            )
        cognito.admin_add_user_to_group(
            UserPoolId=p["user_pool_id"], Username=p["username"], GroupName=p["group"]
        )


def _cognito_remove_from_group(side_effect: SideEffect) -> None:
    from outbox.aws import client

    p = side_effect.payload
    client("cognito-idp").admin_remove_user_from_group(
        UserPoolId=p["user_pool_id"], Username=p["username"], GroupName=p["group"]
    )


def _cognito_disable_user(side_effect: SideEffect) -> None:
    from outbox.aws import client

    p = side_effect.payload
    cognito = client("cognito-idp")
    cognito.admin_disable_user(UserPoolId=p["user_pool_id"], Username=p["username"])
    cognito.admin_user_global_sign_out(UserPoolId=p["user_pool_id"], Username=p["username"])


def _cognito_enable_user(side_effect: SideEffect) -> None:
    from outbox.aws import client

    p = side_effect.payload
    client("cognito-idp").admin_enable_user(UserPoolId=p["user_pool_id"], Username=p["username"])


def webhook_signature(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _crm_webhook(side_effect: SideEffect) -> None:
    p = side_effect.payload
    if not str(p["url"]).startswith(("https://", "http://")):
        raise ValueError("CRM webhook URL must be http(s)")
    body = json.dumps(p["body"], sort_keys=True, separators=(",", ":")).encode()
    request = urllib.request.Request(  # noqa: S310 - scheme checked above; URL is staff config
        p["url"],
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "X-Gatehouse-Signature": webhook_signature(body, settings.CRM_WEBHOOK_SECRET),
            # Lets the receiver drop a delivery it has already seen.
            "Idempotency-Key": side_effect.key,
        },
    )
    timeout = settings.SIDE_EFFECT_TIMEOUT_SECONDS
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        if response.status >= 300:
            raise RuntimeError(f"CRM webhook answered HTTP {response.status}")


EXECUTORS: dict[str, Callable[[SideEffect], None]] = {
    SideEffectKind.SEND_EMAIL: _send_email,
    SideEffectKind.COGNITO_ADD_TO_GROUP: _cognito_add_to_group,
    SideEffectKind.COGNITO_REMOVE_FROM_GROUP: _cognito_remove_from_group,
    SideEffectKind.COGNITO_DISABLE_USER: _cognito_disable_user,
    SideEffectKind.COGNITO_ENABLE_USER: _cognito_enable_user,
    SideEffectKind.CRM_WEBHOOK: _crm_webhook,
}
