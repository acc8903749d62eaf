"""Cognito's custom messages: every CustomMessage_* source rendered from the templates staff edit.

In the user's language and with their company's branding, and checked before Cognito gets
it: a staff template that breaks, drops Cognito's placeholder or is too long falls back to
the default files and the reason is logged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from accounts.recipients import recipient_for
from tenants.messages import UnusableTemplate, render_checked

logger = logging.getLogger(__name__)


CUSTOM_MESSAGE_KEYS = {
    "CustomMessage_SignUp": "cm_sign_up",
    "CustomMessage_ResendCode": "cm_resend_code",
    "CustomMessage_ForgotPassword": "cm_forgot_password",
    "CustomMessage_UpdateUserAttribute": "cm_update_user_attribute",
    "CustomMessage_VerifyUserAttribute": "cm_verify_user_attribute",
    "CustomMessage_AdminCreateUser": "cm_admin_create_user",
    "CustomMessage_Authentication": "cm_authentication",
}


@dataclass(frozen=True, slots=True)
class CustomMessage:
    email_subject: str
    email_message: str
    sms_message: str
    template_key: str
    origin: str  # company, language or default


def custom_message_render(
    *,
    trigger_source: str,
    code_parameter: str,
    username_parameter: str = "",
    username: str = "",
    sub: str = "",
    email: str = "",
    locale: str = "",
    given_name: str = "",
    family_name: str = "",
) -> CustomMessage | None:
    """The message Cognito sends for a CustomMessage_* source; None for a source we have no template for.

    Cognito puts the code where `code_parameter` ({####}) stands, and for AdminCreateUser
    the username where `username_parameter` stands: both must survive the template.
    When even the default cannot carry them (a placeholder Cognito has never sent),
    None tells the caller to leave Cognito's own message in place.
    """
    key = CUSTOM_MESSAGE_KEYS.get(trigger_source)
    if key is None or not code_parameter:
        return None
    required = {"code": code_parameter}
    if key == "cm_admin_create_user":
        required["username"] = username_parameter
    recipient = recipient_for(
        sub=sub,
        username=username,
        email=email,
        locale=locale,
        given_name=given_name,
        family_name=family_name,
        from_invitation=True,
    )
    context = {
        "user": recipient.user_context(),
        "code": code_parameter,
        # Other sources may print a username too; Cognito substitutes only in AdminCreateUser.
        "username": username_parameter or username,
    }
    try:
        rendered = render_checked(
            key=key,
            language=recipient.language,
            company=recipient.company,
            context=context,
            required=required,
            sms=True,
        )
    except UnusableTemplate as exc:
        logger.error("custom message left to Cognito", extra={"template_key": key, "problem": str(exc)})
        return None
    return CustomMessage(
        email_subject=rendered.subject,
        email_message=rendered.html_body,
        sms_message=rendered.sms_body,
        template_key=key,
        origin=rendered.origin,
    )
