"""Reads for sign-up: the policy and the domain rule, as frozen data the triggers can hold."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet
from django.db.models.functions import Lower

from invites.models import Invitation, SignupPolicy
from tenants.models import Company, CompanyDomain, Status


@dataclass(frozen=True, slots=True)
class SignupRules:
    """The sign-up policy as a pre sign-up evaluation needs it."""

    invitation_required: bool
    domain_allowlist: frozenset[str]
    auto_confirm_domains: frozenset[str]
    signups_per_ip_per_hour: int
    employee_id_pattern: str


@dataclass(frozen=True, slots=True)
class DomainRule:
    """The company that owns an email domain, and what that ownership grants."""

    domain: str
    company: Company
    allow_join: bool
    auto_confirm: bool


def signup_rules() -> SignupRules:
    """The one policy row (pk=1); created with its defaults the first time it is asked for."""
    policy, _ = SignupPolicy.objects.get_or_create(pk=1)
    return SignupRules(
        invitation_required=policy.invitation_required,
        domain_allowlist=frozenset(d.strip().lower() for d in policy.domain_allowlist),
        auto_confirm_domains=frozenset(d.strip().lower() for d in policy.auto_confirm_domains),
        signups_per_ip_per_hour=policy.signups_per_ip_per_hour,
        employee_id_pattern=policy.employee_id_pattern,
    )


def domain_rule_for(*, domain: str) -> DomainRule | None:
    """The CompanyDomain row for an email domain (stored lower case), with its company."""
    if not domain:
        return None
    # Through Lower(domain): the expression of the unique index (company_domain_unique).
    row = (
        CompanyDomain.objects.select_related("company")
        .alias(domain_lower=Lower("domain"))
        .filter(domain_lower=domain.lower())
        .first()
    )
    if row is None:
        return None
    return DomainRule(
        domain=row.domain, company=row.company, allow_join=row.allow_join, auto_confirm=row.auto_confirm
    )


def invitation_reserved_for(*, username: str) -> Invitation | None:
    """The open invitation pre sign-up bound to this Cognito userName, if any."""
    if not username:
        return None
    return (
        Invitation.objects.open()
        .select_related("company", "role")
        .filter(reserved_for_username=username)
        .order_by("-created_at")
        .first()
    )


def invitation_pending_for_email(*, email: str) -> Invitation | None:
    """The newest pending invitation for an email (already normalised), if any."""
    if not email:
        return None
    return (
        Invitation.objects.pending()
        .select_related("company", "role")
        # Through Lower(email), the expression invitation_email_idx is built on (a CHECK keeps
        # every stored email lower case, so this finds the same rows as email = X).
        .alias(email_lower=Lower("email"))
        .filter(email_lower=email.lower())
        .order_by("-created_at")
        .first()
    )


def invitation_revoked_reserved_for(*, username: str) -> Invitation | None:
    """A revoked invitation pre sign-up had bound to this userName (to tell staff why)."""
    if not username:
        return None
    return (
        Invitation.objects.select_related("company")
        .filter(reserved_for_username=username, revoked_at__isnull=False, accepted_at__isnull=True)
        .order_by("-created_at")
        .first()
    )


def invitations_pending_for_email(*, email: str) -> list[Invitation]:
    """Every pending invitation to this (normalised) email, newest first: the ones a person may accept."""
    if not email:
        return []
    return list(
        Invitation.objects.pending()
        .select_related("company", "role")
        .filter(email=email, company__status=Status.ACTIVE)
        .order_by("-created_at")
    )


def company_invitations(*, company: Company, status: str = "") -> QuerySet[Invitation]:
    """A company's invitations with their status, newest first; `status` filters on it."""
    invitations = Invitation.objects.filter(company=company).with_status().select_related("role")
    if status:
        invitations = invitations.filter(**{"status_value": status})  # annotated by with_status
    return invitations.order_by("-created_at", "-id")
