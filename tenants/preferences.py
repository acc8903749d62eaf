"""A person's own preferences (theme, language, notifications): they flow into the next token.

tenants.selectors.token_claims_for reads `theme` and `language` from here at the next token
generation (a warm trigger may keep the old claims for CLAIMS_CACHE_SECONDS).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from tenants.models import UserProfile, default_preferences

THEMES = ("light", "dark", "system")
NOTIFICATION_KEYS = ("email", "product_updates")


@transaction.atomic
def profile_preferences_update(
    *,
    profile: UserProfile,
    theme: str | None = None,
    language: str | None = None,
    notifications: dict[str, bool] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Merge the given preferences into the stored ones (row locked); return (before, after)."""
    locked = UserProfile.objects.select_for_update().only("pk", "preferences").get(pk=profile.pk)
    before: dict[str, Any] = {**default_preferences(), **(locked.preferences or {})}
    after: dict[str, Any] = {**before, "notifications": dict(before.get("notifications") or {})}
    if theme is not None:
        if theme not in THEMES:
            raise ValueError(f"theme must be one of {', '.join(THEMES)}")
        after["theme"] = theme
    if language is not None:
        after["language"] = language
    for key, value in (notifications or {}).items():
        if key not in NOTIFICATION_KEYS:
            raise ValueError(f"unknown notification setting {key}")
        after["notifications"][key] = bool(value)
    if after != before:
        UserProfile.objects.filter(pk=locked.pk).update(preferences=after, updated_at=timezone.now())
    profile.preferences = after
    return before, after
