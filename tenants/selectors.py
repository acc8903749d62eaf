"""Reads about companies and people, returned as plain frozen data where triggers need them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Q

from tenants.emails import TemplateSource, default_source
from tenants.models import (
    Company,
    EmailTemplate,
    FeatureFlag,
    FeatureFlagOverride,
    UserProfile,
)


@dataclass(frozen=True, slots=True)
class FlagDecision:
    key: str
    enabled: bool
    reason: str  # why: "override", "tier", "default"
    description: str = ""


def company_flag_report(*, company: Company | None) -> list[FlagDecision]:
    """Every flag's effective value for a company, and which rule decided it.

    An override wins; otherwise a tier listed on the flag turns it on; otherwise
    the flag's default.
    """
    flags = list(FeatureFlag.objects.order_by("key"))
    overrides: dict[int, bool] = {}
    if company is not None:
        overrides = dict(
            FeatureFlagOverride.objects.filter(company=company).values_list("flag_id", "enabled")
        )
    decisions = []
    for flag in flags:
        if flag.pk in overrides:
            decisions.append(FlagDecision(flag.key, overrides[flag.pk], "override", flag.description))
        elif company is not None and company.subscription_tier in flag.enabled_tiers:
            decisions.append(FlagDecision(flag.key, True, "tier", flag.description))
        else:
            decisions.append(FlagDecision(flag.key, flag.default_enabled, "default", flag.description))
    return decisions


def company_effective_flags(*, company: Company | None) -> dict[str, bool]:
    return {d.key: d.enabled for d in company_flag_report(company=company)}


def profile_permissions(*, profile: UserProfile) -> list[str]:
    """The permissions a profile holds through its role; none when suspended or roleless."""
    if not profile.is_active or profile.role_id is None:
        return []
    role = profile.role
    assert role is not None
    if "*" in role.permissions:
        return ["*"]
    return sorted(set(role.permissions))


def email_template_source(*, key: str, language: str, company: Company | None) -> TemplateSource:
    """The most specific template: company+language, then language, then the default files."""
    language = (language or "en").lower()
    rows = list(
        EmailTemplate.objects.filter(key=key, language=language).filter(
            Q(company__isnull=True) | Q(company=company) if company is not None else Q(company__isnull=True)
        )
    )
    rows.sort(key=lambda row: row.company_id is None)  # company-specific first
    if rows:
        row = rows[0]
        return TemplateSource(
            key=key,
            language=language,
            subject=row.subject,
            html_body=row.html_body,
            text_body=row.text_body,
            sms_body=row.sms_body,
            origin="company" if row.company_id else "language",
        )
    return default_source(key, language)


def company_email_context(company: Company | None) -> dict[str, Any]:
    if company is None:
        return {
            "name": "Gatehouse",
            "display_name": "Gatehouse",
            "logo_url": "",
            "accent_color": "#2f6fed",
            "sender_name": "",
        }
    return {
        "name": company.name,
        "display_name": company.display_name,
        "logo_url": company.brand_logo_url,
        "accent_color": company.brand_accent_color,
        "sender_name": company.brand_sender_name,
    }
