"""What the flows keep between invocations: the passwordless sign-in codes."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models.functions import Now


class LoginCodeQuerySet(models.QuerySet["LoginCode"]):
    def usable(self) -> LoginCodeQuerySet:
        """Not yet used and not expired (the attempt limit is checked by the caller)."""
        return self.filter(used_at__isnull=True, expires_at__gt=Now())


class LoginCode(models.Model):
    """One emailed sign-in code of a CUSTOM_CHALLENGE session.

    Only a keyed hash of the code is stored. Cognito holds the row's id in the session's
    privateChallengeParameters, so the expiry, the attempt count and single use live
    here, in Postgres, not in anything the client can see or replay.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    username = models.CharField(max_length=128, help_text="Cognito userName the code was sent for.")
    cognito_sub = models.CharField(max_length=64, blank=True)
    code_hash = models.CharField(max_length=64, editable=False)
    expires_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)
    used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = LoginCodeQuerySet.as_manager()

    class Meta:
        # The table kept its name when the model moved here from triggers (migration
        # accounts 0001 / triggers 0002 change Django's state only, never the data).
        db_table = "triggers_logincode"
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["expires_at"], name="login_code_expiry")]

    def __str__(self) -> str:
        return f"login code for {self.username[:12]}… ({'used' if self.used_at else 'open'})"
