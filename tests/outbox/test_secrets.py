"""Item 4 of issue 13: a code waiting in the outbox is readable by no staff member, anywhere."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from outbox.models import SideEffect, SideEffectStatus
from outbox.runner import side_effect_attempt, side_effects_drain, side_effects_scrub_expired
from outbox.services import OutgoingEmail, email_enqueue, side_effect_retry
from tests.conftest import SENDER

pytestmark = pytest.mark.django_db

CODE = "493817"


def login_code_email(
    key: str = "login_code:1", *, expires_in: timedelta = timedelta(minutes=5)
) -> SideEffect:
    return email_enqueue(
        key=key,
        email=OutgoingEmail(
            to="alice@acme.com",
            sender=f"Gatehouse <{SENDER}>",
            subject=f"Your code {CODE}",
            html=f"<p>Your sign-in code is <b>{CODE}</b></p>",
            text=f"Your sign-in code is {CODE}",
            template="login_code",
            expires_at=timezone.now() + expires_in,
        ),
        subject="profile:7",
    )


def stored_row(pk: int) -> str:
    """The row as Postgres holds it: what a database dump or a SQL console shows."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT row_to_json(s)::text FROM outbox_sideeffect s WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def test_a_code_waiting_for_ses_is_encrypted_at_rest_and_shown_to_staff_only_as_a_summary(
    admin_client, aws, settings
):
    # SES refuses (an unverified sender, as in an outage): the email waits with its code.
    settings.SES_SENDER = "Gatehouse <unverified@elsewhere.test>"
    effect = email_enqueue(
        key="login_code:1",
        email=OutgoingEmail(
            to="alice@acme.com",
            sender="Gatehouse <unverified@elsewhere.test>",
            subject=f"Your code {CODE}",
            html=f"<p>Your sign-in code is <b>{CODE}</b></p>",
            text=f"Your sign-in code is {CODE}",
            template="login_code",
        ),
    )
    assert side_effect_attempt(effect.pk) == "retry"

    effect.refresh_from_db()
    assert effect.status == SideEffectStatus.PENDING
    assert CODE not in stored_row(effect.pk)
    assert CODE not in effect.last_error
    change = admin_client.get(reverse("admin:outbox_sideeffect_change", args=[effect.pk]))
    listing = admin_client.get(reverse("admin:outbox_sideeffect_changelist"))
    dashboard = admin_client.get(reverse("admin:index"))
    for page in (change, listing, dashboard):
        assert page.status_code == 200
        assert CODE not in page.content.decode()
    assert "template login_code to a***@acme.com" in change.content.decode()

    # And it is still sent, whole, once SES takes it.
    from outbox.aws import client

    client("ses").verify_email_identity(EmailAddress="unverified@elsewhere.test")
    assert side_effect_retry(side_effect=effect)
    assert side_effect_attempt(effect.pk) == "done"
    (sent,) = aws.ses_messages()
    assert f"Your sign-in code is <b>{CODE}</b>" in sent.body
    assert CODE not in stored_row(effect.pk)


def test_an_email_that_failed_for_good_keeps_no_body(aws, settings):
    settings.SIDE_EFFECT_MAX_ATTEMPTS = 1
    settings.SES_SENDER = "Gatehouse <unverified@elsewhere.test>"
    effect = email_enqueue(
        key="invitation:1:1",
        email=OutgoingEmail(
            to="bob@acme.com",
            sender="Gatehouse <unverified@elsewhere.test>",
            subject="You are invited",
            html=f"<p>Code {CODE}</p>",
            text=f"Code {CODE}",
            template="invitation",
        ),
    )
    assert side_effect_attempt(effect.pk) == "failed"

    effect.refresh_from_db()
    assert effect.status == SideEffectStatus.FAILED
    assert "sealed" not in effect.payload
    assert effect.payload["body"] == "dropped: failed"
    # Nothing left to send: a retry is refused rather than mailing an empty message.
    assert side_effect_retry(side_effect=effect) is False


def test_the_drain_drops_an_email_whose_code_expired_and_never_sends_it(aws, settings):
    effect = login_code_email(expires_in=timedelta(minutes=5))
    fresh = login_code_email("login_code:2", expires_in=timedelta(minutes=5))
    SideEffect.objects.filter(pk=effect.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    # The drain's prune step (triggers/drain.py), then its run of what is due.
    assert side_effects_scrub_expired() == 1
    assert side_effects_drain() == {"done": 1}

    effect.refresh_from_db()
    assert (effect.status, effect.payload["body"]) == (SideEffectStatus.FAILED, "dropped: expired")
    assert "sealed" not in effect.payload
    assert CODE not in stored_row(effect.pk)
    # The fresh one was sent; the expired one never was.
    assert [m.destinations["ToAddresses"] for m in aws.ses_messages()] == [["alice@acme.com"]]
    assert SideEffect.objects.get(pk=fresh.pk).status == SideEffectStatus.DONE


def test_keys_rotate_the_first_encrypts_and_every_key_decrypts(settings):
    from cryptography.fernet import Fernet

    from outbox.crypto import SealBroken, seal, unseal

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.OUTBOX_ENCRYPTION_KEYS = [old]
    sealed_with_old = seal({"text": CODE})

    settings.OUTBOX_ENCRYPTION_KEYS = [new, old]
    assert unseal(sealed_with_old) == {"text": CODE}
    sealed_with_new = seal({"text": CODE})
    assert Fernet(new.encode()).decrypt(sealed_with_new.encode())

    settings.OUTBOX_ENCRYPTION_KEYS = [new]
    assert unseal(sealed_with_new) == {"text": CODE}
    with pytest.raises(SealBroken) as refused:
        unseal(sealed_with_old)
    assert CODE not in str(refused.value)
