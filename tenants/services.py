"""Writes and workflows for companies and people, shared by the admin, triggers and commands."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone

from tenants.emails import RenderedEmail, TemplateProblem, default_source, problem_summary, render_source
from tenants.models import Company, RateLimitCounter, UserProfile
from tenants.selectors import company_email_context, email_template_source

logger = logging.getLogger(__name__)


def normalize_email(email: str) -> str:
    return (email or "").strip().lower()


def email_domain(email: str) -> str:
    return normalize_email(email).rpartition("@")[2]


def mask_email(email: str) -> str:
    """a***@acme.com: enough for a user to recognise, not enough to leak the address."""
    local, _, domain = normalize_email(email).partition("@")
    if not domain:
        return "***"
    return f"{local[:1]}***@{domain}"


def stable_hash(value: str) -> str:
    """A keyed hash for rate-limit keys and logs, so no address or email is stored plainly."""
    return hashlib.sha256(f"{settings.SECRET_KEY}:{value}".encode()).hexdigest()


def email_render(
    *,
    key: str,
    language: str = "en",
    company: Company | None = None,
    context: dict[str, Any],
) -> RenderedEmail:
    """Render the most specific template; fall back to the default when staff's edit is broken.

    A broken template must never block a sign-up: the default files are always valid
    (tests render every one), and the reason for the fallback is logged.
    """
    full_context = {
        "company": company_email_context(company),
        "app_url": settings.APP_URL,
        **context,
    }
    source = email_template_source(key=key, language=language, company=company)
    try:
        return render_source(source, full_context)
    except TemplateProblem as problem:
        if source.origin == "default":
            raise
        logger.warning(
            "email template failed, using the default",
            extra={
                "template_key": key,
                "origin": source.origin,
                "problem": "; ".join(problem_summary(problem)),
            },
        )
        return render_source(default_source(key, language), full_context)


def user_email_context(profile: UserProfile | None, **fallback: str) -> dict[str, str]:
    if profile is None:
        return {
            "given_name": fallback.get("given_name", ""),
            "family_name": fallback.get("family_name", ""),
            "email": fallback.get("email", ""),
        }
    return {
        "given_name": profile.given_name,
        "family_name": profile.family_name,
        "email": profile.email,
    }


# One statement, so concurrent hits serialize on the row instead of racing a read.
_RATE_LIMIT_UPSERT = """
    INSERT INTO tenants_ratelimitcounter (scope, key, window_start, count) VALUES (%s, %s, %s, 1)
    ON CONFLICT (scope, key, window_start)
    DO UPDATE SET count = tenants_ratelimitcounter.count + 1
    RETURNING count
"""


def rate_limit_hit(*, scope: str, key: str, limit: int, window_seconds: int) -> bool:
    """Count one hit in a fixed window; True while the count stays within the limit.

    One atomic upsert, so concurrent callers cannot both slip under the limit.
    """
    if limit <= 0:
        return True
    now = timezone.now()
    window_start = datetime.fromtimestamp(now.timestamp() - now.timestamp() % window_seconds, tz=now.tzinfo)
    with connection.cursor() as cursor:
        cursor.execute(_RATE_LIMIT_UPSERT, [scope, stable_hash(key), window_start])
        (count,) = cursor.fetchone()
    return bool(count <= limit)


def rate_limit_prune(*, older_than: timedelta = timedelta(days=2)) -> int:
    deleted, _ = RateLimitCounter.objects.filter(window_start__lt=timezone.now() - older_than).delete()
    return deleted


# --- Staff actions on a user (admin) --------------------------------------------------
# Each changes Gatehouse and queues the matching Cognito call through the outbox in one
# transaction, and leaves a line in the admin history (LogEntry) and the activity log.


class StaffActionError(Exception):
    """A staff action that cannot be done (a role of another company); the message says why."""


def _staff_action_record(*, profile: UserProfile, actor: Any, action: str, message: str) -> int:
    """History for staff (LogEntry) and the company page (ActivityEvent); returns the LogEntry id."""
    # The admin app is not installed in the trigger Lambda: import it only here.
    from django.contrib.admin.models import CHANGE, LogEntry

    from tenants.models import ActivityEvent, ActivityKind

    entry = LogEntry.objects.log_actions(
        user_id=actor.pk,
        queryset=[profile],
        action_flag=CHANGE,
        change_message=message,
        single_object=True,
    )
    ActivityEvent.objects.create(
        kind=ActivityKind.STAFF_ACTION,
        profile=profile,
        company_id=profile.company_id,
        data={"action": action, "staff_user_id": actor.pk},
    )
    return entry.pk


def _cognito_effect(*, kind: str, profile: UserProfile, entry_id: int, **payload: Any) -> bool:
    """Queue one Cognito call for this profile; False when no user pool is configured."""
    from outbox.services import side_effect_enqueue

    if not settings.COGNITO_USER_POOL_ID:
        logger.warning("no COGNITO_USER_POOL_ID: staff action applied in Gatehouse only")
        return False
    side_effect_enqueue(
        # One key per history entry: suspend, reactivate, suspend again are three effects.
        key=f"staff:{kind}:{profile.pk}:{entry_id}",
        kind=kind,
        payload={"user_pool_id": settings.COGNITO_USER_POOL_ID, "username": profile.username, **payload},
        profile=profile,
    )
    return True


def profile_suspend(*, profile: UserProfile, actor: Any, reason: str = "") -> bool:
    """Suspend a user: Gatehouse refuses them, Cognito disables them and signs them out everywhere.

    False (and nothing written) when the profile was already suspended.
    """
    from django.db import transaction

    from outbox.models import SideEffectKind
    from tenants.models import Status

    with transaction.atomic():
        locked = UserProfile.objects.select_for_update().get(pk=profile.pk)
        if locked.status == Status.SUSPENDED:
            return False
        locked.status = Status.SUSPENDED
        locked.save(update_fields=["status", "updated_at"])
        message = "Suspended (disabled in Cognito, signed out everywhere)." + (
            f" Reason: {reason.strip()[:200]}" if reason.strip() else ""
        )
        entry_id = _staff_action_record(profile=locked, actor=actor, action="suspend", message=message)
        _cognito_effect(kind=SideEffectKind.COGNITO_DISABLE_USER, profile=locked, entry_id=entry_id)
    profile.status = locked.status
    return True


def profile_reactivate(*, profile: UserProfile, actor: Any) -> bool:
    """Lift a suspension in Gatehouse and enable the user in Cognito; False if already active."""
    from django.db import transaction

    from outbox.models import SideEffectKind
    from tenants.models import Status

    with transaction.atomic():
        locked = UserProfile.objects.select_for_update().get(pk=profile.pk)
        if locked.status == Status.ACTIVE:
            return False
        locked.status = Status.ACTIVE
        locked.save(update_fields=["status", "updated_at"])
        entry_id = _staff_action_record(
            profile=locked, actor=actor, action="reactivate", message="Reactivated (enabled in Cognito)."
        )
        _cognito_effect(kind=SideEffectKind.COGNITO_ENABLE_USER, profile=locked, entry_id=entry_id)
    profile.status = locked.status
    return True


def profile_change_role(*, profile: UserProfile, role: Any, actor: Any) -> bool:
    """Move a member to another role of their company and move their Cognito group with it.

    False when the profile already has that role. Raises StaffActionError for a profile
    without a company, a role that belongs to another company, or a role the actor may not
    grant or take away (tenants.grants: nobody hands out or removes a permission they do not hold).
    """
    from django.db import transaction

    from outbox.models import SideEffectKind
    from tenants.grants import role_change_refusal
    from tenants.models import Role

    with transaction.atomic():
        locked = UserProfile.objects.select_for_update(of=("self",)).select_related("role").get(pk=profile.pk)
        if locked.company_id is None:
            raise StaffActionError("This user belongs to no company, so they cannot hold a role.")
        if not Role.objects.for_company(locked.company).filter(pk=role.pk).exists():
            raise StaffActionError(f"The role {role.key} belongs to another company.")
        old = locked.role
        refusal = role_change_refusal(old=old, new=role, actor=actor)
        if refusal:
            raise StaffActionError(refusal)
        if old is not None and old.pk == role.pk:
            return False
        locked.role = role
        locked.save(update_fields=["role", "updated_at"])
        entry_id = _staff_action_record(
            profile=locked,
            actor=actor,
            action="change_role",
            message=f"Role changed from {old.key if old else 'none'} to {role.key}.",
        )
        if old is None or old.group_name != role.group_name:
            if old is not None:
                _cognito_effect(
                    kind=SideEffectKind.COGNITO_REMOVE_FROM_GROUP,
                    profile=locked,
                    entry_id=entry_id,
                    group=old.group_name,
                )
            _cognito_effect(
                kind=SideEffectKind.COGNITO_ADD_TO_GROUP,
                profile=locked,
                entry_id=entry_id,
                group=role.group_name,
                precedence=role.precedence,
            )
    profile.role = role
    return True


# --- Onboarding (the sign-up path, issue 3) -------------------------------------------------
# One idempotent service, run by post confirmation and again on a user's first sign-in when
# no profile exists (AdminCreateUser users never reach post confirmation; a post confirmation
# can fail with the database down).

ONBOARDING_TRIGGER_SOURCE = "onboarding"  # SignupRefusal.trigger_source for refusals found here


def profile_onboard(
    *,
    sub: str,
    username: str,
    email: str,
    user_pool_id: str,
    given_name: str = "",
    family_name: str = "",
    invitation_code: str = "",
    source: str = "",
    campaign: str = "",
    referrer: str = "",
) -> UserProfile:
    """Create a Cognito user's profile, membership, workspace and welcome, exactly once per sub.

    Company and role come only from Gatehouse's records, in this order: the invitation
    reserved for this username in pre sign-up, the invitation code given, a pending
    invitation for the email, a legacy user with this email, a company domain that lets
    its users join; otherwise the user gets no company and a personal workspace. An
    invitation or join that fails (seat gone, company suspended) never fails onboarding:
    the user is onboarded without the company and a SignupRefusal tells staff why.
    Side effects (Cognito group, welcome email, CRM webhook) go through the outbox in the
    same transaction, keyed on the sub, so replays add nothing. source, campaign and
    referrer are analytics only.
    """
    from django.db import transaction

    from tenants.models import ActivityEvent, ActivityKind, Workspace, WorkspaceKind

    if not sub:
        raise ValueError("profile_onboard needs the user's Cognito sub")
    email = normalize_email(email)
    source, campaign, referrer = source.strip()[:100], campaign.strip()[:100], referrer.strip()[:500]
    from backoffice.db import existing_or_raise, insert_unless_exists

    with transaction.atomic():
        profile = UserProfile(
            cognito_sub=sub[:64],
            username=username[:128],
            email=email[:254],
            given_name=given_name.strip()[:100],
            family_name=family_name.strip()[:100],
            signup_source=source,
            signup_campaign=campaign,
            signup_referrer=referrer,
        )
        # Unique on cognito_sub, one INSERT ... ON CONFLICT: a concurrent replay waits on the
        # first insert, inserts nothing, then finds that row. Callers call this for a sub
        # with no profile, so the insert (not a SELECT first) is the common case.
        if not insert_unless_exists(profile):
            return existing_or_raise(
                UserProfile.objects.filter(cognito_sub=sub[:64]).first(), what="user profile"
            )
        _onboard_membership(profile=profile, username=username, invitation_code=invitation_code)
        if profile.company_id is None:
            Workspace.objects.create(name="Personal workspace", kind=WorkspaceKind.PERSONAL, owner=profile)
        ActivityEvent.objects.create(
            kind=ActivityKind.SIGN_UP,
            profile=profile,
            company_id=profile.company_id,
            data={"source": source, "campaign": campaign, "referrer": referrer},
        )
        _onboard_side_effects(profile=profile, user_pool_id=user_pool_id)
    return profile


def _onboard_membership(*, profile: UserProfile, username: str, invitation_code: str) -> None:
    from django.db.models.functions import Lower

    from invites.selectors import domain_rule_for, invitation_pending_for_email, invitation_reserved_for
    from invites.services import InvitationError, invitation_accept, invitation_find, refusal_record
    from tenants.models import LegacyUser

    invitation = invitation_reserved_for(username=username)
    if invitation is None and invitation_code:
        invitation = invitation_find(code=invitation_code)
        if invitation is not None and invitation.reserved_for_username not in ("", username):
            # The code is clientMetadata (the client's); pre sign-up bound this invitation to
            # another Cognito user, and a code never moves it (tests/reliability/test_concurrency).
            invitation = None
    if invitation is None:
        invitation = invitation_pending_for_email(email=profile.email)
        if invitation is not None and invitation.reserved_for_username not in ("", username):
            invitation = None  # bound to another Cognito user: one invitation, one user
    if invitation is not None:
        try:
            invitation_accept(invitation=invitation, profile=profile)
        except InvitationError as error:
            refusal_record(
                trigger_source=ONBOARDING_TRIGGER_SOURCE,
                reason=error.reason,
                email=profile.email,
                invitation=invitation,
                detail="The invitation could not be accepted at onboarding; the user was "
                "onboarded without a company.",
            )
        return

    legacy = (
        LegacyUser.objects.select_related("company__default_role", "role")
        .alias(email_lower=Lower("email"))
        .filter(email_lower=profile.email)
        .first()
        if profile.email
        else None
    )
    if legacy is not None:
        profile.migrated_from_legacy = True
        profile.save(update_fields=["migrated_from_legacy", "updated_at"])
        LegacyUser.objects.filter(pk=legacy.pk, migrated_at__isnull=True).update(migrated_at=timezone.now())
        if legacy.company is not None:
            _onboard_join(profile=profile, company=legacy.company, role=legacy.role, why="legacy user")
        return

    rule = domain_rule_for(domain=email_domain(profile.email)) if "@" in profile.email else None
    if rule is not None and rule.allow_join:
        _onboard_join(profile=profile, company=rule.company, role=None, why="email domain rule")


def _onboard_join(*, profile: UserProfile, company: Company, role: Any, why: str) -> None:
    from invites.services import InvitationError, company_join, refusal_record
    from tenants.models import Role

    if role is None:
        role = company.default_role or Role.objects.filter(key="USER", company__isnull=True).first()
    try:
        company_join(company=company, profile=profile, role=role)
    except InvitationError as error:
        refusal_record(
            trigger_source=ONBOARDING_TRIGGER_SOURCE,
            reason=error.reason,
            email=profile.email,
            company=company,
            detail=f"Could not join the company through the {why}; the user was onboarded without one.",
        )


def _onboard_side_effects(*, profile: UserProfile, user_pool_id: str) -> None:
    from outbox.models import SideEffectKind
    from outbox.services import email_enqueue, side_effect_enqueue

    sub = profile.cognito_sub
    role = profile.role
    if role is not None and user_pool_id and profile.username:
        side_effect_enqueue(
            key=f"onboard:group:{sub}",
            kind=SideEffectKind.COGNITO_ADD_TO_GROUP,
            payload={
                "user_pool_id": user_pool_id,
                "username": profile.username,
                "group": role.group_name,
                "precedence": role.precedence,
            },
            profile=profile,
        )
    if "@" in profile.email:
        email_enqueue(
            key=f"welcome:{sub}",
            template="welcome",
            to=profile.email,
            company=profile.company,
            language=profile.language,
            context={
                "user": user_email_context(profile),
                "role": {"key": role.key, "name": role.name} if role is not None else {},
            },
            profile=profile,
        )
    if settings.CRM_WEBHOOK_URL:
        company = profile.company
        side_effect_enqueue(
            key=f"onboard:crm:{sub}",
            kind=SideEffectKind.CRM_WEBHOOK,
            payload={
                "url": settings.CRM_WEBHOOK_URL,
                "body": {
                    "event": "user.signed_up",
                    "sub": sub,
                    "email": profile.email,
                    "given_name": profile.given_name,
                    "family_name": profile.family_name,
                    "company": company.slug if company is not None else None,
                    "role": role.key if role is not None else None,
                    "source": profile.signup_source,
                    "campaign": profile.signup_campaign,
                    "referrer": profile.signup_referrer,
                },
            },
            profile=profile,
        )


# --- Sign-in (pre and post authentication, issue 4) -----------------------------------------


class SignInRefused(Exception):
    """A sign-in rule the user broke. `message` is safe to show; `reason` is a RefusalReason value."""

    def __init__(self, reason: str, message: str, *, company: Company | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.company = company


SIGN_IN_MESSAGES = {
    "user_suspended": "Your account is suspended. Contact your administrator.",
    "company_suspended": "Your company's account is suspended. Contact your administrator.",
    "ip_not_allowed": "Your company does not allow sign-in from this network.",
}


def ip_in_allowlist(*, allowlist: list[str], address: str) -> bool:
    """True when `address` (IPv4 or IPv6, IPv4-mapped IPv6 unwrapped) is inside one of the CIDRs."""
    import ipaddress

    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for block in allowlist:
        try:
            network = ipaddress.ip_network(block.strip(), strict=False)
        except ValueError:
            logger.warning("invalid CIDR in a company allowlist ignored", extra={"cidr": block[:64]})
            continue
        if ip.version == network.version and ip in network:
            return True
    return False


def sign_in_check(*, sub: str, ip_address: str = "") -> None:
    """Raise SignInRefused when this user may not sign in now; return quietly otherwise.

    Read fresh on every sign-in (no cache), so a suspension stops the next sign-in. A sub
    without a profile passes: there is no rule to apply until onboarding (first sign-in's
    post authentication) gives it a company. `ip_address` is whatever the app's backend put
    in validationData/clientMetadata: Cognito does not give this trigger the caller's
    address, so the allowlist is only as good as the app that sets it (docs/tokens.md).
    """
    from invites.models import RefusalReason
    from tenants.selectors import sign_in_subject

    subject = sign_in_subject(sub=sub)
    if subject is None:
        return
    company = subject.company
    if not subject.active:
        reason = RefusalReason.USER_SUSPENDED
        raise SignInRefused(reason, SIGN_IN_MESSAGES[reason], company=company)
    if company is None:
        return
    if not company.is_active:
        reason = RefusalReason.COMPANY_SUSPENDED
        raise SignInRefused(reason, SIGN_IN_MESSAGES[reason], company=company)
    if company.ip_allowlist and not (
        ip_address and ip_in_allowlist(allowlist=company.ip_allowlist, address=ip_address)
    ):
        reason = RefusalReason.IP_NOT_ALLOWED
        raise SignInRefused(reason, SIGN_IN_MESSAGES[reason], company=company)


# One statement tells whether the device is new: xmax is 0 only on a freshly inserted row.
_KNOWN_DEVICE_UPSERT = """
    INSERT INTO tenants_knowndevice (profile_id, fingerprint, description, first_seen_at, last_seen_at)
    VALUES (%s, %s, %s, %s, %s)
    ON CONFLICT (profile_id, fingerprint) DO UPDATE SET last_seen_at = EXCLUDED.last_seen_at
    RETURNING (xmax = 0)
"""


def device_fingerprint(*, device_key: str = "", user_agent: str = "") -> str:
    """A keyed SHA-256 of the device identity: the Cognito device key if the app sent one,
    else its user agent; empty when neither is known. Neither is stored in clear."""
    if device_key:
        return stable_hash(f"device-key:{device_key}")
    if user_agent:
        return stable_hash(f"user-agent:{user_agent}")
    return ""


def profile_record_sign_in(
    *,
    sub: str,
    username: str = "",
    email: str = "",
    user_pool_id: str = "",
    given_name: str = "",
    family_name: str = "",
    client_id: str = "",
    trigger_source: str = "",
    new_device_used: bool = False,
    device_key: str = "",
    user_agent: str = "",
) -> bool:
    """Record a successful sign-in. Best-effort: never raises, logs and returns False on failure.

    Onboards a user who has no profile yet (AdminCreateUser users never reach post
    confirmation; a post confirmation may have failed), then in one transaction: last
    login time and count (a single UPDATE with F()), a sign_in ActivityEvent, the device
    (KnownDevice keyed by device_fingerprint) and a new_device ActivityEvent when the
    device was not known or Cognito says a new device was used.
    """
    from django.db import transaction
    from django.db.models import F

    from tenants.models import ActivityEvent, ActivityKind

    if not sub:
        logger.warning("sign-in not recorded: the event has no sub", extra={"trigger_source": trigger_source})
        return False
    try:
        row: Mapping[str, Any] | None = (
            UserProfile.objects.filter(cognito_sub=sub).values("pk", "company_id").first()
        )
        if row is None:
            profile = profile_onboard(
                sub=sub,
                username=username,
                email=email,
                user_pool_id=user_pool_id,
                given_name=given_name,
                family_name=family_name,
            )
            row = {"pk": profile.pk, "company_id": profile.company_id}
        now = timezone.now()
        fingerprint = device_fingerprint(device_key=device_key, user_agent=user_agent)
        with transaction.atomic():
            UserProfile.objects.filter(pk=row["pk"]).update(
                last_login_at=now, login_count=F("login_count") + 1, updated_at=now
            )
            ActivityEvent.objects.create(
                kind=ActivityKind.SIGN_IN,
                profile_id=row["pk"],
                company_id=row["company_id"],
                data={"client_id": client_id[:128], "trigger_source": trigger_source[:64]},
            )
            first_seen = False
            if fingerprint:
                with connection.cursor() as cursor:
                    description = user_agent[:200] if user_agent else "Cognito remembered device"
                    cursor.execute(_KNOWN_DEVICE_UPSERT, [row["pk"], fingerprint, description, now, now])
                    (first_seen,) = cursor.fetchone()
            if first_seen or new_device_used:
                ActivityEvent.objects.create(
                    kind=ActivityKind.NEW_DEVICE,
                    profile_id=row["pk"],
                    company_id=row["company_id"],
                    data={
                        "client_id": client_id[:128],
                        "fingerprint": fingerprint[:12],
                        "cognito_new_device": new_device_used,
                    },
                )
    except Exception:
        # Post authentication must never block a sign-in that Cognito already accepted.
        logger.exception("sign-in not recorded", extra={"trigger_source": trigger_source})
        return False
    return True
