"""Item 14 of issue 13: an email SES took is never sent again by itself when the commit after fails."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import DatabaseError, connection
from django.urls import reverse

from outbox.models import SideEffect, SideEffectStatus
from outbox.runner import side_effect_attempt, side_effects_drain
from outbox.services import OutgoingEmail, email_enqueue, side_effect_retry
from tests.conftest import SENDER

pytestmark = pytest.mark.django_db


@pytest.fixture
def commit_after_the_call_fails():
    """A real database fault: Postgres refuses to record any side effect as done."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            CREATE FUNCTION test_refuse_done() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'disk full (test)'; END $$;
            CREATE TRIGGER test_refuse_done BEFORE UPDATE ON outbox_sideeffect
            FOR EACH ROW WHEN (NEW.status = 'done') EXECUTE FUNCTION test_refuse_done();
            """
        )
    yield
    with connection.cursor() as cursor:
        cursor.execute(
            "DROP TRIGGER test_refuse_done ON outbox_sideeffect; DROP FUNCTION test_refuse_done();"
        )


def welcome() -> SideEffect:
    return email_enqueue(
        key="welcome:1",
        email=OutgoingEmail(
            to="alice@acme.com",
            sender=f"Gatehouse <{SENDER}>",
            subject="Welcome",
            html="<p>Welcome</p>",
            text="Welcome",
            template="welcome",
        ),
    )


def test_an_attempt_whose_outcome_was_lost_is_maybe_sent_and_never_retried_by_itself(
    aws, admin_client, commit_after_the_call_fails
):
    effect = welcome()

    with pytest.raises(DatabaseError):
        side_effect_attempt(effect.pk)

    assert len(aws.ses_messages()) == 1  # SES took it before the commit failed
    effect.refresh_from_db()
    assert effect.status == SideEffectStatus.IN_FLIGHT
    # Nothing automatic sends it again: not the drain, not the task's attempt, not a retry.
    assert side_effects_drain() == {}
    assert side_effect_attempt(effect.pk) == "skipped"
    assert side_effect_retry(side_effect=effect) is False
    assert len(aws.ses_messages()) == 1
    page = admin_client.get(reverse("admin:outbox_sideeffect_changelist"))
    assert "maybe sent" in page.content.decode()


def test_staff_may_send_a_maybe_sent_email_again_once_it_has_settled(aws, admin_client):
    effect = welcome()
    SideEffect.objects.filter(pk=effect.pk).update(status=SideEffectStatus.IN_FLIGHT)
    url = reverse("admin:outbox_sideeffect_changelist")
    action = {"action": "send_again_selected", "_selected_action": [effect.pk]}

    # Claimed just now: it may still be running, so staff cannot start a second one yet.
    SideEffect.objects.filter(pk=effect.pk).update(attempt_started_at=effect.created_at)
    admin_client.post(url, action)
    assert SideEffect.objects.get(pk=effect.pk).status == SideEffectStatus.IN_FLIGHT

    SideEffect.objects.filter(pk=effect.pk).update(attempt_started_at=effect.created_at - timedelta(hours=1))
    admin_client.post(url, action)
    assert SideEffect.objects.get(pk=effect.pk).status == SideEffectStatus.PENDING
    assert side_effects_drain() == {"done": 1}
    assert len(aws.ses_messages()) == 1
