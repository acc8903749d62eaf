"""What the admin says about an invitation's emails: what the outbox row says, nothing hoped.

An invitation counts the emails it queued (`times_sent`, part of each email's idempotency key
`email:invitation:<id>:<n>`); whether SES took one is only in that email's outbox row. The
admin shows the emails SES accepted and the state of the latest one (queued, sent, maybe sent,
failed) from those rows, annotated in the same query as the list.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import CharField, Count, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Cast, Coalesce, Concat

from invites.models import Invitation
from invites.services import INVITATION_EMAIL_KEY_PREFIX, invitation_email_key
from outbox.models import SideEffect, SideEffectStatus, delivery_label

# What email_enqueue puts before the key it is given.
EMAIL_KEY_PREFIX = "email:"


def _key_prefix() -> Concat:
    """'email:invitation:<id>:' for the outer invitation, as invitation_email_key builds it."""
    return Concat(
        Value(EMAIL_KEY_PREFIX + INVITATION_EMAIL_KEY_PREFIX),
        Cast(OuterRef("pk"), CharField()),
        Value(":"),
        output_field=CharField(),
    )


def invitations_with_delivery(queryset: QuerySet[Invitation]) -> QuerySet[Invitation]:
    """Annotate emails_accepted (sends SES accepted) and the latest email's status and attempts."""
    accepted = (
        SideEffect.objects.filter(key__startswith=_key_prefix(), status=SideEffectStatus.DONE)
        .order_by()
        .annotate(one=Value(1))
        .values("one")
        .annotate(n=Count("pk"))
        .values("n")
    )
    latest = SideEffect.objects.filter(
        key=Concat(_key_prefix(), Cast(OuterRef("times_sent"), CharField()), output_field=CharField())
    ).order_by()
    return queryset.annotate(
        emails_accepted=Coalesce(Subquery(accepted, output_field=IntegerField()), 0),
        last_email_status=Subquery(latest.values("status")[:1]),
        last_email_attempts=Subquery(latest.values("attempts")[:1]),
    )


def last_email_label(invitation: Invitation) -> str:
    """The latest email's state, of an invitation annotated by invitations_with_delivery."""
    if not invitation.times_sent:
        return "not emailed"
    return delivery_label(
        status=getattr(invitation, "last_email_status", None),
        attempts=getattr(invitation, "last_email_attempts", 0) or 0,
    )


def invitation_deliveries(invitations: Iterable[Invitation]) -> dict[int, str]:
    """The latest email's state of each invitation, in one query."""
    invitations = list(invitations)
    wanted = {
        EMAIL_KEY_PREFIX + invitation_email_key(invitation_id=i.pk, sending=i.times_sent): i.pk
        for i in invitations
        if i.times_sent
    }
    found = {
        wanted[key]: delivery_label(status=status, attempts=attempts)
        for key, status, attempts in SideEffect.objects.filter(key__in=wanted).values_list(
            "key", "status", "attempts"
        )
    }
    return {i.pk: found.get(i.pk, "not emailed") for i in invitations}
