"""Tenants: companies, their roles, feature flags, members and what staff edit for them.

One module on purpose: the models reference each other (company, role, profile, flag
override) and Django's app holds them together; each class is fields, constraints and
`__str__` only, so its length is declarations, not logic.
"""

from __future__ import annotations

import ipaddress
import re

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower


class SubscriptionTier(models.TextChoices):
    FREE = "free", "Free"
    PRO = "pro", "Pro"
    ENTERPRISE = "enterprise", "Enterprise"


class Status(models.TextChoices):
    ACTIVE = "active", "Active"
    SUSPENDED = "suspended", "Suspended"


DOMAIN_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def validate_domain(value: str) -> None:
    if not DOMAIN_RE.match(value or ""):
        raise ValidationError(
            "%(value)s is not a domain name (lower case, like acme.com).", params={"value": value}
        )


def validate_cidr(value: str) -> None:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError as exc:
        raise ValidationError(
            "%(value)s is not an IP address or CIDR block (like 203.0.113.0/24).",
            params={"value": value},
        ) from exc


def validate_permission(value: str) -> None:
    if value != "*" and not re.fullmatch(r"[a-z][a-z0-9_]*(:[a-z0-9_*]+)*", value):
        raise ValidationError(
            "%(value)s is not a permission: use '*' or lower-case words separated by "
            "colons, like invoices:read.",
            params={"value": value},
        )


class CompanyQuerySet(models.QuerySet["Company"]):
    def active(self) -> CompanyQuerySet:
        return self.filter(status=Status.ACTIVE)


class Company(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    subscription_tier = models.CharField(
        max_length=16, choices=SubscriptionTier.choices, default=SubscriptionTier.FREE
    )
    seat_limit = models.PositiveIntegerField(
        null=True, blank=True, help_text="Members allowed; empty means unlimited."
    )
    project_limit = models.PositiveIntegerField(null=True, blank=True)
    ip_allowlist = ArrayField(
        models.CharField(max_length=64, validators=[validate_cidr]),
        default=list,
        blank=True,
        help_text="Sign-ins allowed only from these CIDR blocks, comma separated. Empty allows all.",
    )
    default_role = models.ForeignKey(
        "tenants.Role",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Role given to users who join through an email domain rule (USER when empty).",
    )
    brand_display_name = models.CharField(max_length=200, blank=True)
    brand_sender_name = models.CharField(max_length=100, blank=True)
    brand_logo_url = models.URLField(blank=True)
    brand_accent_color = models.CharField(max_length=7, default="#2f6fed")
    owner = models.ForeignKey(
        "tenants.UserProfile",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The member who owns the company: never removed or demoted by accident; "
        "transfer ownership to change it.",
    )
    # Kept by tenants.memberships under the company row lock, so the seat check at every
    # sign-up reads one row instead of counting the company's members.
    active_members = models.PositiveIntegerField(default=0, db_default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = CompanyQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "companies"
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(brand_accent_color__regex=r"^#[0-9a-fA-F]{6}$"),
                name="company_accent_color_hex",
            ),
            models.CheckConstraint(condition=Q(status__in=Status.values), name="company_status_valid"),
            models.CheckConstraint(
                condition=Q(subscription_tier__in=SubscriptionTier.values),
                name="company_tier_valid",
            ),
        ]
        # Admin search on company__name uses a trigram index: tenants/migrations/0003.

    def __str__(self) -> str:
        return self.name

    @property
    def is_active(self) -> bool:
        return self.status == Status.ACTIVE

    @property
    def display_name(self) -> str:
        return self.brand_display_name or self.name


class CompanyDomain(models.Model):
    """An email domain that belongs to one company: its users may join, or are auto-confirmed."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="domains")
    domain = models.CharField(max_length=253, validators=[validate_domain])
    allow_join = models.BooleanField(
        default=True,
        help_text="Users with this domain join the company without an invitation, but only once "
        "they have verified their email (the code Cognito mails them); until then they have no "
        "company. Users of an identity provider never join by domain.",
    )
    auto_confirm = models.BooleanField(
        default=False,
        help_text="Sign-ups with this domain skip Cognito's confirmation step. Their email is "
        "NOT verified by this: they join the company only after verifying it in the app, at "
        "their next sign-in.",
    )
    verified_at = models.DateTimeField(
        null=True, blank=True, help_text="When staff verified the company owns this domain."
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("domain"), name="company_domain_unique"),
        ]

    def __str__(self) -> str:
        return self.domain

    def save(self, *args: object, **kwargs: object) -> None:
        self.domain = self.domain.strip().lower()
        super().save(*args, **kwargs)  # type: ignore[arg-type]


class RoleQuerySet(models.QuerySet["Role"]):
    def for_company(self, company: Company | None) -> RoleQuerySet:
        """Roles a member of this company may hold: global ones and the company's own."""
        if company is None:
            return self.filter(company__isnull=True)
        return self.filter(Q(company__isnull=True) | Q(company=company))


class Role(models.Model):
    key = models.CharField(max_length=64, help_text="Upper case, like USER, ADMIN, SUPER_ADMIN.")
    name = models.CharField(max_length=100)
    company = models.ForeignKey(
        Company,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="roles",
        help_text="Empty for a global role every company may use.",
    )
    permissions = ArrayField(
        models.CharField(max_length=100, validators=[validate_permission]),
        default=list,
        blank=True,
        help_text="Permission strings, comma separated; '*' grants everything.",
    )
    cognito_group = models.CharField(
        max_length=128, blank=True, help_text="Cognito group members of this role are put in."
    )
    precedence = models.PositiveIntegerField(
        default=100, help_text="Cognito group precedence: lower wins when a user is in several."
    )

    objects = RoleQuerySet.as_manager()

    class Meta:
        ordering = ["key"]
        # The admin's order: key, then -id for a stable page.
        indexes = [models.Index(fields=["key", "-id"], name="role_order")]
        constraints = [
            models.UniqueConstraint(
                fields=["key"], condition=Q(company__isnull=True), name="role_global_key_unique"
            ),
            models.UniqueConstraint(
                fields=["company", "key"],
                condition=Q(company__isnull=False),
                name="role_company_key_unique",
            ),
            models.CheckConstraint(condition=Q(key__regex=r"^[A-Z][A-Z0-9_]*$"), name="role_key_upper"),
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.company})" if self.company_id else self.key

    @property
    def group_name(self) -> str:
        return self.cognito_group or self.key


class FeatureFlag(models.Model):
    key = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    default_enabled = models.BooleanField(default=False)
    enabled_tiers = ArrayField(
        models.CharField(max_length=16, choices=SubscriptionTier.choices),
        default=list,
        blank=True,
        help_text="Subscription tiers for which the flag is on unless overridden.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.key


class FeatureFlagOverride(models.Model):
    flag = models.ForeignKey(FeatureFlag, on_delete=models.CASCADE, related_name="overrides")
    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="flag_overrides")
    enabled = models.BooleanField()
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["flag", "company"], name="flag_override_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.flag} {'on' if self.enabled else 'off'} for {self.company}"


def default_preferences() -> dict[str, object]:
    return {
        "notifications": {"email": True, "product_updates": False},
        "theme": "light",
        "language": "en",
        "timezone": "UTC",
    }


class OnboardingStep(models.TextChoices):
    NEW = "new", "New"
    PROFILE = "profile", "Complete profile"
    DONE = "done", "Done"


class UserProfileQuerySet(models.QuerySet["UserProfile"]):
    def for_company(self, company: Company) -> UserProfileQuerySet:
        return self.filter(company=company)

    def active(self) -> UserProfileQuerySet:
        return self.filter(status=Status.ACTIVE)


class UserProfile(models.Model):
    """A Cognito user as Gatehouse knows them: the source of their company and role."""

    cognito_sub = models.CharField(max_length=64, unique=True)
    username = models.CharField(max_length=128, db_index=True)
    email = models.EmailField(max_length=254, db_index=True)
    # Whether `email` is proved held by this person (Cognito's email_verified for a native
    # user, seen by a trigger); only a proved address may accept an invitation sent to it.
    email_verified = models.BooleanField(default=False, db_default=False)
    given_name = models.CharField(max_length=100, blank=True)
    family_name = models.CharField(max_length=100, blank=True)
    company = models.ForeignKey(
        Company, null=True, blank=True, on_delete=models.PROTECT, related_name="members"
    )
    role = models.ForeignKey(Role, null=True, blank=True, on_delete=models.PROTECT, related_name="members")
    # The company the next token is about (tenants.memberships.active_company_switch). Only
    # a membership grants anything: this column never does on its own.
    active_company = models.ForeignKey(
        Company, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    preferences = models.JSONField(default=default_preferences, blank=True)
    onboarding_step = models.CharField(
        max_length=16, choices=OnboardingStep.choices, default=OnboardingStep.NEW
    )
    signup_source = models.CharField(max_length=100, blank=True)
    signup_campaign = models.CharField(max_length=100, blank=True)
    signup_referrer = models.CharField(max_length=500, blank=True)
    migrated_from_legacy = models.BooleanField(default=False)
    last_login_at = models.DateTimeField(null=True, blank=True)
    login_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = UserProfileQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=Status.values), name="profile_status_valid"),
            models.CheckConstraint(
                condition=Q(company__isnull=False) | Q(role__isnull=True),
                name="profile_role_needs_company",
            ),
            models.CheckConstraint(condition=Q(email=Lower("email")), name="profile_email_lower"),
        ]
        indexes = [
            models.Index(fields=["company", "status"], name="profile_company_status"),
            # The admin's default order (-created_at, then -id for a stable page).
            models.Index(fields=["created_at", "id"], name="profile_created"),
            # Admin search uses a trigram index made where pg_trgm exists: migrations/0003.
        ]

    def __str__(self) -> str:
        return self.email

    @property
    def full_name(self) -> str:
        return f"{self.given_name} {self.family_name}".strip()

    @property
    def is_active(self) -> bool:
        return self.status == Status.ACTIVE

    @property
    def language(self) -> str:
        return str((self.preferences or {}).get("language") or "en")


class MembershipStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    SUSPENDED = "suspended", "Suspended"
    ENDED = "ended", "Ended (left or removed)"


class MembershipRoute(models.TextChoices):
    """How the person came to be a member: for staff, the audit trail and later SCIM."""

    INVITATION = "invitation", "Invitation"
    DOMAIN = "domain", "Email domain rule"
    LEGACY = "legacy", "Legacy user import"
    IDENTITY_PROVIDER = "idp", "Identity provider"
    STAFF = "staff", "Added by staff"
    DIRECTORY = "directory", "Directory sync"
    MIGRATED = "migrated", "From the single-company schema"


class MembershipQuerySet(models.QuerySet["Membership"]):
    def active(self) -> MembershipQuerySet:
        return self.filter(status=MembershipStatus.ACTIVE)

    def current(self) -> MembershipQuerySet:
        """Active or suspended: a member, whether or not they may act now."""
        return self.exclude(status=MembershipStatus.ENDED)


class Membership(models.Model):
    """One person in one company, with a role and a status. The only thing that grants access.

    A person may belong to several companies; a suspension here is in this company only
    (UserProfile.status suspends the person everywhere). An ended membership stays for the
    record and is reactivated if they join again (one row per person and company).
    """

    profile = models.ForeignKey(UserProfile, on_delete=models.CASCADE, related_name="memberships")
    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="memberships")
    # A role of this company or a global one: enforced by a database trigger (migration 0004),
    # since a CHECK cannot look at the role's row.
    role = models.ForeignKey(
        Role, null=True, blank=True, on_delete=models.PROTECT, related_name="memberships"
    )
    status = models.CharField(
        max_length=16, choices=MembershipStatus.choices, default=MembershipStatus.ACTIVE
    )
    route = models.CharField(max_length=16, choices=MembershipRoute.choices)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    objects = MembershipQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["profile", "company"], name="membership_unique"),
            models.CheckConstraint(
                condition=Q(status__in=MembershipStatus.values), name="membership_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True) | Q(status=MembershipStatus.ENDED),
                name="membership_ended_at_only_when_ended",
            ),
        ]
        indexes = [
            models.Index(fields=["company", "status", "-created_at"], name="membership_company_status"),
        ]

    def __str__(self) -> str:
        return f"{self.profile_id} in {self.company_id} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status == MembershipStatus.ACTIVE


class PersonErasure(models.Model):
    """Who erased whom and when: the record erasure leaves, holding none of the erased data."""

    profile_id = models.PositiveBigIntegerField(db_index=True, help_text="The erased profile's id.")
    erased_by = models.CharField(max_length=200, help_text="The staff user or API caller who erased them.")
    erased_at = models.DateTimeField(auto_now_add=True)
    tables = models.JSONField(default=dict, help_text="Rows changed per table.")

    class Meta:
        ordering = ["-erased_at"]

    def __str__(self) -> str:
        return f"profile {self.profile_id} erased at {self.erased_at:%Y-%m-%d %H:%M}"


class WorkspaceKind(models.TextChoices):
    PERSONAL = "personal", "Personal"
    COMPANY = "company", "Company"


class Workspace(models.Model):
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=WorkspaceKind.choices)
    owner = models.ForeignKey(UserProfile, on_delete=models.CASCADE, related_name="workspaces")
    company = models.ForeignKey(
        Company, null=True, blank=True, on_delete=models.CASCADE, related_name="workspaces"
    )
    settings = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["owner"],
                condition=Q(kind=WorkspaceKind.PERSONAL),
                name="one_personal_workspace_per_owner",
            ),
            models.CheckConstraint(
                condition=Q(kind=WorkspaceKind.PERSONAL, company__isnull=True)
                | Q(kind=WorkspaceKind.COMPANY, company__isnull=False),
                name="workspace_kind_matches_company",
            ),
        ]
        # Admin search uses a trigram index made where pg_trgm exists: migrations/0003.

    def __str__(self) -> str:
        return self.name


class EmailTemplateKey(models.TextChoices):
    WELCOME = "welcome", "Welcome"
    INVITATION = "invitation", "Invitation"
    LOGIN_CODE = "login_code", "Login code (passwordless)"
    SIGN_UP = "cm_sign_up", "Cognito: sign-up verification code"
    RESEND_CODE = "cm_resend_code", "Cognito: resent verification code"
    FORGOT_PASSWORD = "cm_forgot_password", "Cognito: forgotten password code"
    UPDATE_USER_ATTRIBUTE = "cm_update_user_attribute", "Cognito: attribute update code"
    VERIFY_USER_ATTRIBUTE = "cm_verify_user_attribute", "Cognito: attribute verification code"
    ADMIN_CREATE_USER = "cm_admin_create_user", "Cognito: invitation for admin-created user"
    AUTHENTICATION = "cm_authentication", "Cognito: MFA authentication code"


class EmailTemplate(models.Model):
    """A staff edit of one message; the files in templates/emails/ are the defaults."""

    key = models.CharField(max_length=40, choices=EmailTemplateKey.choices)
    language = models.CharField(max_length=10, default="en")
    company = models.ForeignKey(
        Company,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="email_templates",
        help_text="Empty for the template every company uses.",
    )
    subject = models.CharField(max_length=200)
    html_body = models.TextField()
    text_body = models.TextField()
    sms_body = models.CharField(
        max_length=140, blank=True, help_text="SMS text for Cognito messages (140 characters)."
    )
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["key", "language"]
        constraints = [
            models.UniqueConstraint(
                fields=["key", "language"],
                condition=Q(company__isnull=True),
                name="email_template_default_unique",
            ),
            models.UniqueConstraint(
                fields=["key", "language", "company"],
                condition=Q(company__isnull=False),
                name="email_template_company_unique",
            ),
        ]

    def __str__(self) -> str:
        scope = f" for {self.company}" if self.company_id else ""
        return f"{self.get_key_display()} [{self.language}]{scope}"


class AppClient(models.Model):
    """A machine-to-machine Cognito app client (client credentials) and what its tokens carry."""

    client_id = models.CharField(max_length=128, unique=True)
    name = models.CharField(max_length=200)
    company = models.ForeignKey(
        Company, null=True, blank=True, on_delete=models.CASCADE, related_name="app_clients"
    )
    allowed_scopes = ArrayField(models.CharField(max_length=256), default=list, blank=True)
    is_active = models.BooleanField(
        default=True, help_text="The tenant API accepts access tokens of active app clients only."
    )
    # db_default too: bulk loaders (bench/) COPY rows without naming this column.
    id_tokens_allowed = models.BooleanField(
        default=False,
        db_default=False,
        help_text="The tenant API also accepts this client's ID tokens (aud = this client). "
        "Access tokens are the default: an ID token is meant for the app, not for an API.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class ActivityKind(models.TextChoices):
    SIGN_UP = "sign_up", "Sign-up"
    SIGN_IN = "sign_in", "Sign-in"
    NEW_DEVICE = "new_device", "Sign-in from a new device"
    STAFF_ACTION = "staff_action", "Staff action"


class ActivityEvent(models.Model):
    """Analytics: sign-ups and sign-ins, for the dashboard and the company page."""

    kind = models.CharField(max_length=20, choices=ActivityKind.choices)
    profile = models.ForeignKey(
        UserProfile, null=True, blank=True, on_delete=models.SET_NULL, related_name="activity"
    )
    company = models.ForeignKey(
        Company, null=True, blank=True, on_delete=models.SET_NULL, related_name="activity"
    )
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["kind", "created_at"], name="activity_kind_time"),
            models.Index(fields=["company", "created_at"], name="activity_company_time"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} at {self.created_at:%Y-%m-%d %H:%M}"


class KnownDevice(models.Model):
    profile = models.ForeignKey(UserProfile, on_delete=models.CASCADE, related_name="devices")
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of the device identity.")
    description = models.CharField(max_length=200, blank=True)
    first_seen_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["profile", "fingerprint"], name="known_device_unique"),
        ]
        # Admin search uses a trigram index made where pg_trgm exists: migrations/0003.

    def __str__(self) -> str:
        return self.description or self.fingerprint[:12]


class LegacyUser(models.Model):
    """A user of the system Gatehouse replaces, migrated on their first Cognito sign-in."""

    email = models.EmailField(max_length=254)
    given_name = models.CharField(max_length=100, blank=True)
    family_name = models.CharField(max_length=100, blank=True)
    password_hash = models.CharField(
        max_length=512, help_text="In Django's format (algorithm$...), converted on import."
    )
    company = models.ForeignKey(
        Company, null=True, blank=True, on_delete=models.CASCADE, related_name="legacy_users"
    )
    role = models.ForeignKey(
        Role, null=True, blank=True, on_delete=models.PROTECT, related_name="legacy_users"
    )
    imported_at = models.DateTimeField(auto_now_add=True)
    migrated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["email"]
        # The admin's order: email, then -id for a stable page.
        indexes = [models.Index(fields=["email", "-id"], name="legacy_user_order")]
        constraints = [
            models.UniqueConstraint(Lower("email"), name="legacy_user_email_unique"),
            models.CheckConstraint(
                condition=Q(company__isnull=False) | Q(role__isnull=True),
                name="legacy_role_needs_company",
            ),
        ]

    def __str__(self) -> str:
        return self.email

    @property
    def hash_algorithm(self) -> str:
        return self.password_hash.split("$", 1)[0]


class RateLimitCounter(models.Model):
    """A fixed-window counter in Postgres: sign-ups per IP, codes per user, attempts per user."""

    scope = models.CharField(max_length=40)
    key = models.CharField(max_length=128, help_text="Hashed: never an address or email.")
    window_start = models.DateTimeField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["scope", "key", "window_start"], name="rate_limit_window_unique"),
        ]
        # The drain's prune deletes windows by age: without it, a sequential scan of every window.
        indexes = [models.Index(fields=["window_start"], name="rate_limit_window_start")]

    def __str__(self) -> str:
        return f"{self.scope}:{self.key[:8]} {self.count}"


class LegacyHashCost(models.Model):
    """What one check of the slowest hash format among the imported legacy users costs (pk=1).

    Measured by tenants.legacy_import after each import; every user-migration answer is
    padded to at least this, so the time of an answer does not tell whether an email has a
    legacy account, nor in which format (tenants.legacy).
    """

    slowest_format = models.CharField(max_length=64, blank=True)
    seconds = models.FloatField(default=0.0)
    measured_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.slowest_format or 'no legacy hash'}: {self.seconds * 1000:.0f} ms"


class AuditActorKind(models.TextChoices):
    STAFF = "staff", "Staff user"
    MEMBER = "member", "Member (tenant API)"
    APP_CLIENT = "app_client", "App client (tenant API, machine to machine)"
    TRIGGER = "trigger", "Cognito trigger"
    DIRECTORY = "directory", "Directory (SCIM)"
    SYSTEM = "system", "Gatehouse"


class AuditEvent(models.Model):
    """Who changed what in a company, when, and from what to what: one table for every entry point.

    Written by tenants.audit.audit_record only. `before` and `after` hold the changed fields
    (ids and keys, never an email, a name or a code), so erasing a person leaves nothing of
    them here but their profile id.
    """

    actor_kind = models.CharField(max_length=16, choices=AuditActorKind.choices)
    actor_id = models.CharField(max_length=128, help_text="profile:<id>, staff:<id>, the client id.")
    actor_label = models.CharField(max_length=200, blank=True, help_text="A staff username or client name.")
    via_client_id = models.CharField(max_length=128, blank=True, help_text="The app client of the token.")
    company = models.ForeignKey(
        Company, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_events"
    )
    action = models.CharField(max_length=64, help_text="Like membership.suspend, invitation.create.")
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64)
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["company", "-created_at", "-id"], name="audit_company_time"),
            models.Index(fields=["actor_kind", "actor_id"], name="audit_actor"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(actor_kind__in=AuditActorKind.values), name="audit_actor_kind_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.object_type}:{self.object_id} by {self.actor_id}"
