"""The tenant API's own table: the answers it keeps for writes sent with an Idempotency-Key."""

from __future__ import annotations

from django.db import models


class IdempotencyKey(models.Model):
    """One write of one caller on one route, under the key they chose, and what it answered.

    `status_code` is empty while the first request runs (a duplicate then hears 409). The
    answer is sealed (outbox.crypto): an invitation's code is in it, and the code is stored
    nowhere else in the clear. Kept IDEMPOTENCY_TTL_HOURS; an older row is replaced.
    """

    scope = models.CharField(max_length=400, help_text="Caller, app client, method and path.")
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    content_type = models.CharField(max_length=100, blank=True)
    sealed_body = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["scope", "key"], name="idempotency_key_unique")]

    def __str__(self) -> str:
        return f"{self.key} ({self.status_code or 'running'})"
