"""The errors a trigger can end with. Only lambda_handler decides what Cognito sees."""

from __future__ import annotations

from typing import Any


class TriggerError(Exception):
    """Base of our own errors. `public_message` is what the end user may read."""

    public_message = "Request refused"

    def __init__(self, detail: str = "", *, public_message: str | None = None) -> None:
        super().__init__(public_message or self.public_message)
        self.detail = detail
        if public_message:
            self.public_message = public_message

    def __str__(self) -> str:
        return self.public_message


class Rejection(TriggerError):
    """A rule the user broke (no invitation, suspended, rate limited).

    `reason` is the internal code recorded for staff; the message is short and user-safe,
    because Cognito shows it as "<Trigger> failed with error <message>."
    """

    def __init__(
        self, public_message: str, *, reason: str, detail: str = "", record: dict[str, Any] | None = None
    ) -> None:
        super().__init__(detail, public_message=public_message)
        self.reason = reason
        # What to keep for staff (email, invitation, company); None: nothing to record.
        self.record = record


class MalformedEvent(TriggerError):
    """The event does not have the shape Cognito documents."""

    public_message = "Invalid request"


class UnknownTrigger(TriggerError):
    """A triggerSource of a family Gatehouse does not handle: fail closed."""

    public_message = "This sign-in step is not supported"


class TemporaryFailure(TriggerError):
    """Something of ours failed (database down, bug): generic to the user, logged in full."""

    public_message = "Sign-in is temporarily unavailable. Please try again"
