"""The durable record of every side effect: what must happen once, and whether it has."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.db.models.functions import Now


class SideEffectKind(models.TextChoices):
    SEND_EMAIL = "send_email", "Send email (SES)"
    COGNITO_ADD_TO_GROUP = "cognito_add_to_group", "Add to Cognito group"
    COGNITO_REMOVE_FROM_GROUP = "cognito_remove_from_group", "Remove from Cognito group"
    COGNITO_DISABLE_USER = "cognito_disable_user", "Disable Cognito user and sign out"
    COGNITO_ENABLE_USER = "cognito_enable_user", "Enable Cognito user"
    COGNITO_DELETE_USER = "cognito_delete_user", "Delete Cognito user (erasure)"
    CRM_WEBHOOK = "crm_webhook", "CRM webhook"


class SideEffectStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    # Claimed and committed before the call: if it is still here afterwards, the call may
    # have reached the service (a crash, or the commit after it failed). Never retried
    # automatically; staff decide (the admin shows it as "maybe sent").
    IN_FLIGHT = "in_flight", "In flight (maybe sent)"
    DONE = "done", "Done"
    FAILED = "failed", "Failed (gave up)"


def delivery_label(*, status: str | None, attempts: int = 0) -> str:
    """What staff are told about a message from its row: never "sent" before the service took it.

    None: no row (nothing was queued). A pending row that was tried has been refused or timed
    out at least once and waits for its next try.
    """
    if status is None:
        return "not emailed"
    if status == SideEffectStatus.PENDING:
        return "queued, retrying (not accepted yet)" if attempts else "queued"
    if status == SideEffectStatus.IN_FLIGHT:
        return "maybe sent"
    if status == SideEffectStatus.DONE:
        return "sent"
    return "failed"


class SideEffectQuerySet(models.QuerySet["SideEffect"]):
    def due(self) -> SideEffectQuerySet:
        return self.filter(status=SideEffectStatus.PENDING, next_attempt_at__lte=Now())

    def failing(self) -> SideEffectQuerySet:
        return self.filter(
            Q(status__in=[SideEffectStatus.FAILED, SideEffectStatus.IN_FLIGHT])
            | Q(status=SideEffectStatus.PENDING, attempts__gt=0)
        )

    def expired(self) -> SideEffectQuerySet:
        """Waiting effects whose content is worthless now (a sign-in or invitation code expired)."""
        return self.filter(status=SideEffectStatus.PENDING, expires_at__lte=Now())


class SideEffect(models.Model):
    # The idempotency key: a retried trigger finds the row and does not add another.
    key = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=40, choices=SideEffectKind.choices)
    payload = models.JSONField(default=dict)
    status = models.CharField(
        max_length=16, choices=SideEffectStatus.choices, default=SideEffectStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    # Calls SES or Cognito refused for their rate (they did nothing): not counted as attempts.
    throttles = models.PositiveIntegerField(default=0, db_default=0)
    next_attempt_at = models.DateTimeField(db_default=Now())
    last_error = models.TextField(blank=True)
    # Who the effect is about, as "profile:<id>": a reference the outbox can hold without
    # importing the app that owns people (the admin links it; erasure finds rows by it).
    subject = models.CharField(max_length=64, blank=True, default="", db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    done_at = models.DateTimeField(null=True, blank=True)
    # When the current (or last) attempt was claimed: an in-flight row older than any call
    # can take is one whose outcome nobody knows.
    attempt_started_at = models.DateTimeField(null=True, blank=True)
    # After this the effect is pointless (the code it carries has expired): it is scrubbed
    # and given up instead of sent. Null: no expiry.
    expires_at = models.DateTimeField(null=True, blank=True)

    objects = SideEffectQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status="pending"),
                name="side_effect_due",
            ),
            # The admin's default order (-created_at, then -id for a stable page).
            models.Index(fields=["created_at", "id"], name="side_effect_created"),
            # The drain's scrub of waiting effects whose code expired (side_effects_scrub_expired).
            models.Index(
                fields=["expires_at"],
                condition=Q(status__in=["pending", "in_flight"], expires_at__isnull=False),
                name="side_effect_expiring",
            ),
            # Admin search uses a trigram index made where pg_trgm exists: tenants/migrations/0003.
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=SideEffectStatus.values), name="side_effect_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(done_at__isnull=True) | Q(status="done"),
                name="side_effect_done_at_only_when_done",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} [{self.status}]"

    @property
    def delivery(self) -> str:
        """queued, sent, maybe sent or failed, as staff are told (delivery_label)."""
        return delivery_label(status=self.status, attempts=self.attempts)
