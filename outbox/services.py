"""The outbox: side effects stored with the change that causes them, run after commit.

A side effect is a row (`SideEffect`) written in the same transaction as the
domain change, keyed by an idempotency key so that a retried trigger adds
nothing. After commit it is tried once inline, within the trigger's time
budget; whatever fails or does not fit is carried by Django's task framework
(django-tasks-db in Postgres) and retried with exponential backoff. Staff see
and retry the rows in the admin.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core.db import existing_or_raise, insert_unless_exists
from outbox.crypto import SEALED, seal
from outbox.models import SideEffect, SideEffectKind, SideEffectStatus
from outbox.runner import side_effect_after_commit, side_effect_dispatch
from outbox.tasks import perform_side_effect


def side_effect_enqueue(
    *,
    key: str,
    kind: SideEffectKind | str,
    payload: dict[str, Any],
    subject: str = "",
    run_inline: bool = True,
    expires_at: datetime | None = None,
) -> SideEffect:
    """Store a side effect once per key; it runs after the surrounding transaction commits.

    `subject` names who the effect is about ("profile:<id>") without importing the app
    that owns them: the admin links it, and erasure finds a person's rows by it.
    `expires_at`: after it the effect is pointless and is scrubbed instead of run.
    """
    key = key[:200]
    side_effect = SideEffect(key=key, kind=kind, payload=payload, subject=subject[:64], expires_at=expires_at)
    # One INSERT ... ON CONFLICT (the key is unique): a replay, or a concurrent twin that
    # committed first, inserts nothing and gets the stored row back.
    created = insert_unless_exists(side_effect)
    if not created:
        side_effect = existing_or_raise(SideEffect.objects.filter(key=key).first(), what="side effect")
    if created:
        _task_enqueue(side_effect.pk)
        if run_inline or settings.SIDE_EFFECT_QUEUE_URL:
            pk = side_effect.pk
            transaction.on_commit(lambda: side_effect_after_commit(pk, run_inline=run_inline))
    return side_effect


def _task_enqueue(pk: int) -> None:
    """A task row for `make worker`, where one runs (SIDE_EFFECT_TASKS; off on Lambda).

    With the database backend the row is written in the caller's transaction: durable.
    Without it the outbox row alone is the record, found by the drain or sent to SQS.
    """
    if settings.SIDE_EFFECT_TASKS:
        perform_side_effect.enqueue(side_effect_id=pk)


# An email whose body was scrubbed (sent, failed for good, expired) has nothing left to send.
_SCRUBBED_EMAIL = Q(kind=SideEffectKind.SEND_EMAIL) & ~Q(payload__has_key=SEALED)


def side_effect_retry(*, side_effect: SideEffect) -> bool:
    """Staff retry: make a failed or waiting effect due now and queue it.

    False if done, in flight (see side_effect_send_again), or an email whose body was
    scrubbed (failed for good or expired: what it carried is gone; send a new one).
    """
    updated = (
        SideEffect.objects.filter(
            pk=side_effect.pk, status__in=[SideEffectStatus.PENDING, SideEffectStatus.FAILED]
        )
        .exclude(_SCRUBBED_EMAIL)
        .update(status=SideEffectStatus.PENDING, next_attempt_at=timezone.now(), attempts=0)
    )
    if updated:
        _task_enqueue(side_effect.pk)
        if settings.SIDE_EFFECT_QUEUE_URL:
            pk = side_effect.pk
            transaction.on_commit(lambda: side_effect_dispatch(pk))
    return bool(updated)


# An attempt claimed longer ago than this has ended one way or another: no call takes so long
# (each is bounded by SIDE_EFFECT_TIMEOUT_SECONDS; a Lambda by its 15-minute maximum).
IN_FLIGHT_SETTLED_AFTER = timedelta(minutes=15)


def side_effect_send_again(*, side_effect: SideEffect) -> bool:
    """Staff decision on a "maybe sent" effect: run it again, accepting a possible duplicate.

    Only an in-flight row whose attempt began long enough ago that it cannot still be
    running; never called automatically (SES has no idempotency token, docs/security.md).
    """
    updated = (
        SideEffect.objects.filter(
            pk=side_effect.pk,
            status=SideEffectStatus.IN_FLIGHT,
            attempt_started_at__lte=timezone.now() - IN_FLIGHT_SETTLED_AFTER,
        )
        .exclude(_SCRUBBED_EMAIL)
        .update(status=SideEffectStatus.PENDING, next_attempt_at=timezone.now(), attempts=0)
    )
    if updated:
        _task_enqueue(side_effect.pk)
        if settings.SIDE_EFFECT_QUEUE_URL:
            pk = side_effect.pk
            transaction.on_commit(lambda: side_effect_dispatch(pk))
    return bool(updated)


# --- What each kind does -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OutgoingEmail:
    """A finished message: the outbox sends it as it is and knows nothing of templates."""

    to: str
    sender: str  # the From header, already built (tenants.messages.email_sender)
    subject: str
    html: str
    text: str
    template: str = ""  # which template made it, for staff; never rendered here
    origin: str = ""  # company, language or default
    # When what it carries stops working (a sign-in or invitation code): not sent after that.
    expires_at: datetime | None = None


def email_enqueue(*, key: str, email: OutgoingEmail, subject: str = "") -> SideEffect:
    """Queue a finished email for SES; `subject` names who it is about (see side_effect_enqueue).

    Every email's subject and bodies are sealed (outbox.crypto), not only those known to hold
    a code: a staff-edited template can put a code or personal data anywhere, and a flag a
    caller must remember is one a future caller forgets. Only the recipient, sender and
    template key stay readable, for sending and for staff.
    """
    return side_effect_enqueue(
        key=f"email:{key}",
        kind=SideEffectKind.SEND_EMAIL,
        payload={
            "to": email.to,
            "from": email.sender,
            "template": email.template,
            "origin": email.origin,
            SEALED: seal({"subject": email.subject, "html": email.html, "text": email.text}),
        },
        subject=subject,
        expires_at=email.expires_at,
    )
