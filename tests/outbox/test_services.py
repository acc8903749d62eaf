import pytest
from django.utils import timezone

from outbox.models import SideEffect, SideEffectKind, SideEffectStatus
from outbox.runner import side_effect_attempt, side_effects_drain
from outbox.services import OutgoingEmail, email_enqueue, side_effect_enqueue, side_effect_retry
from tenants.messages import email_queue
from tests.conftest import SENDER

pytestmark = pytest.mark.django_db


def test_an_email_is_sent_through_ses_after_commit_and_its_body_scrubbed(
    acme, aws, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        # A finished message: the outbox sends it as handed over, knowing no template.
        effect = email_enqueue(
            key="welcome:1",
            email=OutgoingEmail(
                to="alice@acme.com",
                sender=f"Gatehouse <{SENDER}>",
                subject="Welcome",
                html="<p>Welcome, Alice</p>",
                text="Welcome, Alice",
                template="welcome",
            ),
            subject="profile:7",
        )

    effect.refresh_from_db()
    assert effect.status == SideEffectStatus.DONE
    sent = aws.ses_messages()
    assert len(sent) == 1
    assert sent[0].destinations["ToAddresses"] == ["alice@acme.com"]
    assert "Welcome, Alice" in sent[0].body
    assert effect.payload["body"] == "dropped: sent"
    assert "sealed" not in effect.payload
    assert (effect.payload["template"], effect.subject) == ("welcome", "profile:7")


def test_the_same_key_is_stored_once(acme):
    first = side_effect_enqueue(
        key="k", kind=SideEffectKind.CRM_WEBHOOK, payload={"url": "http://127.0.0.1:9/", "body": {}}
    )
    again = side_effect_enqueue(
        key="k", kind=SideEffectKind.CRM_WEBHOOK, payload={"url": "http://other/", "body": {}}
    )
    assert first.pk == again.pk
    assert SideEffect.objects.count() == 1


def test_a_failure_is_kept_with_backoff_then_succeeds_on_retry(acme, aws, moto_server, settings):
    # SES refuses an unverified sender: the first attempt fails like a real outage would.
    settings.SES_SENDER = "Gatehouse <unverified@elsewhere.test>"
    effect = email_queue(
        key="w", template="welcome", to="bob@acme.com", company=None, language="en", context={}
    )

    assert side_effect_attempt(effect.pk) == "retry"
    effect.refresh_from_db()
    assert effect.status == SideEffectStatus.PENDING
    assert effect.attempts == 1
    assert effect.next_attempt_at > timezone.now()
    assert "MessageRejected" in effect.last_error
    assert side_effect_attempt(effect.pk) == "not_due"
    assert aws.ses_messages() == []

    from outbox.aws import client

    client("ses").verify_email_identity(EmailAddress="unverified@elsewhere.test")
    assert side_effect_retry(side_effect=effect) is True
    assert side_effects_drain() == {"done": 1}
    assert len(aws.ses_messages()) == 1
    assert side_effects_drain() == {}
    assert side_effect_attempt(effect.pk) == "skipped"
    assert len(aws.ses_messages()) == 1


def test_gives_up_after_max_attempts(settings):
    settings.SIDE_EFFECT_MAX_ATTEMPTS = 2
    settings.SIDE_EFFECT_TIMEOUT_SECONDS = 0.2
    effect = side_effect_enqueue(
        key="hook",
        kind=SideEffectKind.CRM_WEBHOOK,
        payload={"url": "http://127.0.0.1:9/hook", "body": {"a": 1}},
    )
    assert side_effect_attempt(effect.pk, force=True) == "retry"
    assert side_effect_attempt(effect.pk, force=True) == "failed"
    effect.refresh_from_db()
    assert effect.status == SideEffectStatus.FAILED
