"""Forms of the admin's custom pages: staff actions on users and the try-a-trigger page."""

from __future__ import annotations

import json
from typing import Any

from django import forms

from core.addresses import normalize_email
from tenants.grants import role_change_refusal
from tenants.models import Role, UserProfile


class SuspendForm(forms.Form):
    reason = forms.CharField(
        required=False,
        max_length=200,
        help_text="Optional; kept in the user's history for other staff.",
        widget=forms.TextInput(attrs={"size": 60}),
    )


class EraseForm(forms.Form):
    confirm = forms.BooleanField(
        required=True,
        label="I understand: names, email and activity are removed everywhere and the Cognito "
        "user is deleted. This cannot be undone.",
    )


class RoleChangeForm(forms.Form):
    role = forms.ModelChoiceField(queryset=Role.objects.none(), empty_label=None)

    def __init__(self, *args: Any, profile: UserProfile, actor: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.profile = profile
        self.actor = actor
        field = self.fields["role"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = Role.objects.for_company(profile.company).select_related("company")
        field.initial = profile.role_id
        field.help_text = "Global roles and the roles of this user's company."

    def clean_role(self) -> Role:
        role: Role = self.cleaned_data["role"]
        # The rule profile_change_role enforces, shown on the field (tenants.grants).
        refusal = role_change_refusal(old=self.profile.role, new=role, actor=self.actor)
        if refusal:
            raise forms.ValidationError(refusal)
        return role


TRIGGER_SOURCES = [
    "PreSignUp_SignUp",
    "PreSignUp_AdminCreateUser",
    "PreSignUp_ExternalProvider",
    "PostConfirmation_ConfirmSignUp",
    "PostConfirmation_ConfirmForgotPassword",
    "PreAuthentication_Authentication",
    "PostAuthentication_Authentication",
    "TokenGeneration_HostedAuth",
    "TokenGeneration_Authentication",
    "TokenGeneration_NewPasswordChallenge",
    "TokenGeneration_AuthenticateDevice",
    "TokenGeneration_RefreshTokens",
    "TokenGeneration_ClientCredentials",
    "CustomMessage_SignUp",
    "CustomMessage_AdminCreateUser",
    "CustomMessage_ResendCode",
    "CustomMessage_ForgotPassword",
    "CustomMessage_UpdateUserAttribute",
    "CustomMessage_VerifyUserAttribute",
    "CustomMessage_Authentication",
    "DefineAuthChallenge_Authentication",
    "CreateAuthChallenge_Authentication",
    "VerifyAuthChallengeResponse_Authentication",
    "UserMigration_Authentication",
    "UserMigration_ForgotPassword",
]

MAX_EVENT_CHARS = 100_000


class TriggerTryForm(forms.Form):
    trigger_source = forms.ChoiceField(choices=[(s, s) for s in TRIGGER_SOURCES], initial="PreSignUp_SignUp")
    version = forms.ChoiceField(
        choices=[("1", "1"), ("2", "2"), ("3", "3")],
        initial="1",
        help_text="Event version; pre token generation answers differently for 1 and 2/3.",
    )
    user = forms.CharField(
        required=False,
        help_text="Email, Cognito username or sub of a user; empty for a made-up new user.",
        widget=forms.TextInput(attrs={"size": 50}),
    )
    event = forms.CharField(
        required=False,
        max_length=MAX_EVENT_CHARS,
        widget=forms.Textarea(attrs={"rows": 14, "cols": 100, "class": "gatehouse-code"}),
        help_text="Paste a whole event (JSON) to run it instead of the one built from the fields above.",
    )

    def clean_user(self) -> UserProfile | None:
        value = self.cleaned_data["user"].strip()
        if not value:
            return None
        profile = (
            UserProfile.objects.select_related("company", "role").filter(email=normalize_email(value)).first()
            or UserProfile.objects.select_related("company", "role").filter(cognito_sub=value).first()
            or UserProfile.objects.select_related("company", "role").filter(username=value).first()
        )
        if profile is None:
            raise forms.ValidationError("No user with this email, username or sub.")
        return profile

    def clean_event(self) -> dict[str, Any] | None:
        text = self.cleaned_data["event"].strip()
        if not text:
            return None
        try:
            event = json.loads(text)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(
                f"Not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}."
            ) from exc
        if not isinstance(event, dict):
            raise forms.ValidationError("An event is a JSON object ({...}).")
        return event
