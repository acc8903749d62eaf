"""Custom message trigger: Cognito's codes and invitations in the templates staff edit.

Every CustomMessage_* source maps to a template key (accounts.custom_messages.CUSTOM_MESSAGE_KEYS);
the message is rendered in the user's language with their company's branding and
checked for Cognito's placeholders and length limits, falling back to the default
template when a staff edit cannot carry it. A source we have no template for gets
null fields, which leaves Cognito's own message in place.
"""

from __future__ import annotations

from typing import Any

from accounts.custom_messages import CUSTOM_MESSAGE_KEYS, custom_message_render
from triggers.errors import MalformedEvent
from triggers.events import CognitoEvent
from triggers.lambda_handler import handler_for


def handle(event: CognitoEvent) -> dict[str, Any]:
    code_parameter = event.request_string("codeParameter")
    username_parameter = event.request_string("usernameParameter")
    if event.trigger_source in CUSTOM_MESSAGE_KEYS and not code_parameter:
        raise MalformedEvent("request.codeParameter is missing")
    if event.trigger_source == "CustomMessage_AdminCreateUser" and not username_parameter:
        raise MalformedEvent("request.usernameParameter is missing for AdminCreateUser")
    attributes = event.user_attributes
    message = custom_message_render(
        trigger_source=event.trigger_source,
        code_parameter=code_parameter,
        username_parameter=username_parameter,
        username=event.user_name,
        sub=attributes.get("sub", ""),
        email=attributes.get("email", ""),
        locale=attributes.get("locale", ""),
        given_name=attributes.get("given_name", ""),
        family_name=attributes.get("family_name", ""),
    )
    if message is None:
        return event.respond(emailSubject=None, emailMessage=None, smsMessage=None)
    return event.respond(
        emailSubject=message.email_subject,
        emailMessage=message.email_message,
        smsMessage=message.sms_message,
    )


handler = handler_for("CustomMessage")
