"""Forms of the invitation pages: many at once (paste or CSV), and by creating the Cognito user."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError

from invites.bulk import BULK_INVITATION_MAX_CHARS
from invites.services import invitation_validate
from tenants.grants import role_grant_refusal, role_grantable_by
from tenants.models import Company, Role

BULK_HELP = (
    "One invitation per line: email, role key, optional expiry (2026-12-31). "
    "A header line starting with 'email' is skipped. Example: ana@acme.com,ADMIN,2026-12-31"
)


class BulkInvitationForm(forms.Form):
    company = forms.ModelChoiceField(queryset=Company.objects.active())
    default_role = forms.ModelChoiceField(
        queryset=Role.objects.select_related("company"),
        required=False,
        help_text="For lines that give no role.",
    )
    rows = forms.CharField(
        required=False,
        label="Paste",
        help_text=BULK_HELP,
        widget=forms.Textarea(attrs={"rows": 10, "cols": 80, "class": "gatehouse-code"}),
    )
    csv_file = forms.FileField(required=False, label="or upload a CSV", help_text="UTF-8, same columns.")
    on_bad_rows = forms.ChoiceField(
        choices=[
            ("none", "Create nothing if any row is bad"),
            ("good", "Create the good rows, report the bad ones"),
        ],
        initial="none",
        widget=forms.RadioSelect,
    )
    send_email = forms.BooleanField(
        required=False, initial=True, help_text="Email each invitation with its code now."
    )

    def __init__(self, *args: Any, actor: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The staff member inviting: rows and the default role must be roles they may grant.
        self.actor = actor

    def clean_default_role(self) -> Role | None:
        role: Role | None = self.cleaned_data.get("default_role")
        if role is not None and not role_grantable_by(role=role, actor=self.actor):
            raise ValidationError(role_grant_refusal(role))
        return role

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        upload = cleaned.get("csv_file")
        text = cleaned.get("rows") or ""
        if upload is not None:
            if upload.size > BULK_INVITATION_MAX_CHARS * 4:
                raise ValidationError({"csv_file": "The file is too large; split it."})
            try:
                text = upload.read().decode("utf-8-sig")
            except UnicodeDecodeError as exc:
                raise ValidationError({"csv_file": "The file is not UTF-8 text."}) from exc
        if not text.strip():
            raise ValidationError({"rows": "Paste some rows or upload a CSV file."})
        # What the confirm step posts back, so an uploaded file is not needed twice.
        cleaned["text"] = text
        return cleaned


class InvitationValidationMixin:
    """The single-invitation check staff see on the form: invites.services.invitation_validate.

    `actor` is the staff member inviting (role_grantable_by); the admin sets it per request.
    Left unset it is AnonymousUser, who may grant nothing: a form nobody bound to a person
    refuses every role rather than skipping the check.
    """

    actor: Any = AnonymousUser()

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}  # type: ignore[misc]
        company, role, email = cleaned.get("company"), cleaned.get("role"), cleaned.get("email")
        if company and role and email:
            # Its ValidationError is a field dict already: it lands on email or role.
            cleaned["email"] = invitation_validate(company=company, email=email, role=role, actor=self.actor)
        return cleaned


class CognitoInvitationForm(InvitationValidationMixin, forms.Form):
    def __init__(self, *args: Any, actor: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.actor = actor

    company = forms.ModelChoiceField(queryset=Company.objects.active())
    email = forms.EmailField()
    role = forms.ModelChoiceField(queryset=Role.objects.select_related("company"))
    expires_at = forms.DateTimeField(required=False, help_text="Empty: the default validity from settings.")
