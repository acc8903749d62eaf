"""Invitations, the sign-up policy, and the record of refused sign-ups."""

from __future__ import annotations

import re

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Case, Q, Value, When
from django.db.models.functions import Lower, Now
from django.utils import timezone

from tenants.models import Company, Role, UserProfile, validate_domain


class InvitationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    ACCEPTED = "accepted", "Accepted"
    EXPIRED = "expired", "Expired"
    REVOKED = "revoked", "Revoked"


class InvitationQuerySet(models.QuerySet["Invitation"]):
    def open(self) -> InvitationQuerySet:
        """Neither accepted nor revoked (may still be expired)."""
        return self.filter(accepted_at__isnull=True, revoked_at__isnull=True)

    def pending(self) -> InvitationQuerySet:
        return self.open().filter(expires_at__gt=Now())

    def for_company(self, company: Company) -> InvitationQuerySet:
        return self.filter(company=company)

    def with_status(self) -> InvitationQuerySet:
        return self.annotate(
            status_value=Case(
                When(accepted_at__isnull=False, then=Value(InvitationStatus.ACCEPTED)),
                When(revoked_at__isnull=False, then=Value(InvitationStatus.REVOKED)),
                When(expires_at__lte=Now(), then=Value(InvitationStatus.EXPIRED)),
                default=Value(InvitationStatus.PENDING),
                output_field=models.CharField(),
            )
        )


class Invitation(models.Model):
    email = models.EmailField(max_length=254)
    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="invitations")
    role = models.ForeignKey(Role, on_delete=models.PROTECT, related_name="invitations")
    # Only a hash is kept: the code is shown to staff once, at creation.
    code_hash = models.CharField(max_length=64, unique=True, editable=False)
    expires_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="invitations_created",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    accepted_by = models.OneToOneField(
        UserProfile,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="accepted_invitation",
    )
    accepted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    times_sent = models.PositiveIntegerField(default=0)
    last_sent_at = models.DateTimeField(null=True, blank=True)
    # The Cognito userName this invitation was bound to in pre sign-up (or AdminCreateUser),
    # so a second sign-up with the same code is refused before it is even confirmed.
    reserved_for_username = models.CharField(max_length=128, blank=True, default="")

    objects = InvitationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                "company",
                Lower("email"),
                condition=Q(accepted_at__isnull=True, revoked_at__isnull=True),
                name="one_open_invitation_per_company_email",
            ),
            models.CheckConstraint(
                condition=~Q(accepted_at__isnull=False, revoked_at__isnull=False),
                name="invitation_not_accepted_and_revoked",
            ),
            models.CheckConstraint(
                condition=Q(accepted_at__isnull=True) | Q(accepted_by__isnull=False),
                name="invitation_accepted_has_profile",
            ),
            models.CheckConstraint(condition=Q(email=Lower("email")), name="invitation_email_lower"),
        ]
        indexes = [
            models.Index(Lower("email"), name="invitation_email_idx"),
            models.Index(fields=["company", "expires_at"], name="invitation_company_expiry"),
            # The admin's default order (-created_at, then -id for a stable page).
            models.Index(fields=["created_at", "id"], name="invitation_created"),
            # Post confirmation finds the invitation pre sign-up bound to the userName: only
            # bound rows are indexed (most invitations are never reserved).
            models.Index(
                fields=["reserved_for_username", "-created_at"],
                condition=~Q(reserved_for_username=""),
                name="invitation_reserved_for",
            ),
            # Admin search uses a trigram index made where pg_trgm exists: tenants/migrations/0003.
        ]

    def __str__(self) -> str:
        return f"{self.email} → {self.company}"

    @property
    def status(self) -> InvitationStatus:
        if self.accepted_at:
            return InvitationStatus.ACCEPTED
        if self.revoked_at:
            return InvitationStatus.REVOKED
        if self.expires_at is not None and self.expires_at <= timezone.now():
            return InvitationStatus.EXPIRED
        return InvitationStatus.PENDING

    @property
    def is_pending(self) -> bool:
        return self.status == InvitationStatus.PENDING


def validate_regex(value: str) -> None:
    """Refuse a pattern RE2 cannot run: pre sign-up matches with RE2 (accounts.sign_up).

    RE2 refuses exactly the constructs that need backtracking (backreferences, lookaround),
    and runs everything else in linear time, so `([A-Z0-9]+)+-[0-9]{4}` is safe there.
    """
    # Imported here: models load in every trigger's cold start, and only staff saving a
    # pattern (and pre sign-up) needs RE2.
    import re2

    try:
        re.compile(value)
    except re.error as exc:
        raise ValidationError(f"Not a valid regular expression: {exc}") from exc
    try:
        re2.compile(value)
    except re2.error as exc:
        raise ValidationError(
            "This pattern needs backtracking (a backreference or a lookaround), which could "
            f"make every sign-up wait; write it without ({exc})."
        ) from exc


class SignupPolicy(models.Model):
    """The one sign-up policy (a singleton row, pk=1)."""

    invitation_required = models.BooleanField(
        default=True,
        help_text="Self sign-up needs an invitation code, unless the email domain "
        "belongs to a company that lets its domain join.",
    )
    domain_allowlist = ArrayField(
        models.CharField(max_length=253, validators=[validate_domain]),
        default=list,
        blank=True,
        help_text="Only these email domains may sign up (comma separated). Empty allows every "
        "domain; company join domains are always allowed.",
    )
    auto_confirm_domains = ArrayField(
        models.CharField(max_length=253, validators=[validate_domain]),
        default=list,
        blank=True,
        help_text="Sign-ups from these domains skip Cognito's confirmation step; their email stays "
        "unverified (only an invitation code proves it) until the user verifies it in the app.",
    )
    signups_per_ip_per_hour = models.PositiveIntegerField(default=20, help_text="0 turns the limit off.")
    employee_id_pattern = models.CharField(
        max_length=200,
        blank=True,
        validators=[validate_regex],
        help_text="When set, sign-ups must carry custom:employeeId matching this regular "
        "expression (whole value).",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "sign-up policy"
        verbose_name_plural = "sign-up policy"
        constraints = [models.CheckConstraint(condition=Q(pk=1), name="signup_policy_singleton")]

    def __str__(self) -> str:
        return "Sign-up policy"


class RefusalReason(models.TextChoices):
    DOMAIN_NOT_ALLOWED = "domain_not_allowed", "Email domain not allowed"
    INVITATION_REQUIRED = "invitation_required", "Invitation required"
    INVITATION_UNKNOWN = "invitation_unknown", "Invitation code unknown"
    INVITATION_EMAIL_MISMATCH = "invitation_email_mismatch", "Invitation for another email"
    INVITATION_EXPIRED = "invitation_expired", "Invitation expired"
    INVITATION_REVOKED = "invitation_revoked", "Invitation revoked"
    INVITATION_USED = "invitation_used", "Invitation already used"
    COMPANY_FULL = "company_full", "Company has no free seat"
    COMPANY_SUSPENDED = "company_suspended", "Company suspended"
    EMPLOYEE_ID_INVALID = "employee_id_invalid", "Employee ID missing or invalid"
    RATE_LIMITED = "rate_limited", "Too many sign-ups from one address"
    USER_SUSPENDED = "user_suspended", "User suspended"
    IP_NOT_ALLOWED = "ip_not_allowed", "Address not in the company's allowlist"
    INVALID_EVENT = "invalid_event", "Malformed event"
    EMAIL_LOOKALIKE = "email_lookalike", "Email looks like another address"


class SignupRefusal(models.Model):
    """Why someone could not sign up (or sign in): the internal reason staff need."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    trigger_source = models.CharField(max_length=64)
    reason = models.CharField(max_length=40, choices=RefusalReason.choices)
    email = models.EmailField(max_length=254, blank=True)
    detail = models.TextField(blank=True)
    invitation = models.ForeignKey(
        Invitation, null=True, blank=True, on_delete=models.SET_NULL, related_name="refusals"
    )
    company = models.ForeignKey(
        Company, null=True, blank=True, on_delete=models.SET_NULL, related_name="refusals"
    )
    user_pool_id = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["reason", "created_at"], name="refusal_reason_time"),
            # Admin search uses a trigram index made where pg_trgm exists: tenants/migrations/0003.
        ]

    def __str__(self) -> str:
        return f"{self.get_reason_display()} ({self.created_at:%Y-%m-%d %H:%M})"
