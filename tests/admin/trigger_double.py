"""A trigger handler for the try-a-trigger tests: writes rows and queues a side effect."""

from __future__ import annotations

from typing import Any

from triggers.errors import Rejection
from triggers.events import CognitoEvent


def handle(event: CognitoEvent) -> dict[str, Any]:
    from outbox.services import side_effect_enqueue
    from tenants.models import Company

    if event.client_metadata.get("refuse"):
        raise Rejection("Not today.", reason="domain_not_allowed", detail="test refusal", record={})
    Company.objects.create(name="Written by a try", slug="written-by-a-try")
    side_effect_enqueue(key="try:email", kind="send_email", payload={"to": "x@example.com"})
    return event.respond(
        claimsOverrideDetails={"claimsToAddOrOverride": {"company": "acme", "role": "ADMIN"}}
    )
