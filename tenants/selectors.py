"""Reads about companies and people, returned as plain frozen data where triggers need them.

Longer than most modules because the token claims read (the hottest query) is hand-compiled
once per process here beside the reads it shares columns and row readers with.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Any, cast

from django.contrib.postgres.expressions import ArraySubquery
from django.db import connection
from django.db.models import F, Field, FilteredRelation, ForeignObjectRel, Model, OuterRef, Q, QuerySet
from django.db.models.functions import JSONObject

from tenants.emails import TemplateSource, default_source
from tenants.models import (
    AppClient,
    Company,
    EmailTemplate,
    FeatureFlag,
    FeatureFlagOverride,
    Membership,
    MembershipStatus,
    Status,
    SubscriptionTier,
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


def _column(field: Field[Any, Any] | ForeignObjectRel) -> str:
    # Only concrete fields are passed, and those always have a column.
    return cast(str, cast("Field[Any, Any]", field).column)


@cache
def _email_template_sql() -> str:
    # Written once per process from the model's columns: every email and custom message
    # runs it, and building the queryset cost more than the query (bench/RESULTS.md).
    meta = EmailTemplate._meta
    qn = connection.ops.quote_name
    column = {name: qn(_column(meta.get_field(name))) for name in _TEMPLATE_FIELDS}
    return (
        # Identifiers come from the model's _meta; every value is a parameter.
        f"SELECT {', '.join(column.values())} FROM {qn(meta.db_table)} "  # noqa: S608
        f"WHERE {column['key']} = %s AND {column['language']} = %s "
        f"AND ({column['company']} IS NULL OR {column['company']} = %s) "
        # Company-specific first; the unique constraints allow one row of each kind.
        f"ORDER BY {column['company']} IS NULL LIMIT 1"
    )


_TEMPLATE_FIELDS = ("key", "language", "company", "subject", "html_body", "text_body", "sms_body")


def email_template_source(*, key: str, language: str, company: Company | None) -> TemplateSource:
    """The most specific template: company+language, then language, then the default files."""
    language = (language or "en").lower()
    with connection.cursor() as cursor:
        cursor.execute(_email_template_sql(), [key, language, company.pk if company is not None else None])
        row = cursor.fetchone()
    if row is not None:
        _, _, company_id, subject, html_body, text_body, sms_body = row
        return TemplateSource(
            key=key,
            language=language,
            subject=subject,
            html_body=html_body,
            text_body=text_body,
            sms_body=sms_body,
            origin="company" if company_id else "language",
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


# --- Token claims (pre token generation) ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """What Gatehouse puts in a user's tokens, read from its own records keyed by the Cognito sub.

    `elevated` is False for an unknown sub, a suspended user or a user of a suspended company:
    such a token carries no role, permissions, features or groups.
    """

    sub: str
    found: bool
    elevated: bool = False
    company_id: int | None = None
    company_name: str = ""
    subscription_tier: str = ""
    role: str = ""
    group: str = ""
    permissions: tuple[str, ...] = ()
    features: tuple[str, ...] = ()  # the keys of the flags that are on, sorted
    theme: str = "light"
    language: str = "en"
    # The person's other active memberships: (company id, role key), by company id.
    other_companies: tuple[tuple[int, str], ...] = ()


def _flag_on(*, default: bool, tiers: list[str], override: bool | None, tier: str | None) -> bool:
    # The same rule as company_flag_report: override, then tier, then the flag's default.
    if override is not None:
        return override
    if tier is not None and tier in tiers:
        return True
    return default


# The company and role come from the active company's membership, and only while that
# membership is active: a suspended or ended membership gives the token nothing of it.
_ACTIVE_MEMBERSHIP = FilteredRelation(
    "memberships",
    condition=Q(memberships__company=F("active_company"), memberships__status=MembershipStatus.ACTIVE),
)
# Plain columns of the profile, then the active membership's, under names of our own (values()
# refuses an expression named like a model field).
_TOKEN_CLAIMS_FIELDS = ("status", "preferences")
_TOKEN_CLAIMS_JOINED: dict[str, Any] = {
    "m_company_id": F("active_membership__company_id"),
    "c_name": F("active_company__name"),
    "c_status": F("active_company__status"),
    "c_tier": F("active_company__subscription_tier"),
    "r_key": F("active_membership__role__key"),
    "r_group": F("active_membership__role__cognito_group"),
    "r_permissions": F("active_membership__role__permissions"),
}
_SUB_SENTINEL = "\x00gatehouse-token-claims-sub\x00"


def _token_claims_query(sub: str) -> Any:
    # One statement: the profile joined to company and role, with the (small) flag table and
    # the company's overrides as JSON arrays, so a cache miss costs exactly one round trip.
    # Typed loosely: django-stubs cannot see the "row" each values() call below names.
    flags: QuerySet[Any, Any] = FeatureFlag.objects.order_by().values(
        row=JSONObject(k="key", d="default_enabled", t="enabled_tiers")
    )
    overrides: QuerySet[Any, Any] = (
        FeatureFlagOverride.objects.filter(company=OuterRef("active_company_id"))
        .order_by()
        .values(row=JSONObject(k="flag__key", e="enabled"))
    )
    others: QuerySet[Any, Any] = (
        Membership.objects.active()
        .filter(profile=OuterRef("pk"))
        .exclude(company=OuterRef("active_company_id"))
        .order_by("company_id")
        .values(row=JSONObject(c="company_id", r="role__key"))
    )
    return (
        UserProfile.objects.filter(cognito_sub=sub)
        .annotate(active_membership=_ACTIVE_MEMBERSHIP)
        .order_by()
        .values(
            *_TOKEN_CLAIMS_FIELDS,
            **_TOKEN_CLAIMS_JOINED,
            flag_rows=ArraySubquery(flags.values("row")),
            override_rows=ArraySubquery(overrides.values("row")),
            other_rows=ArraySubquery(others.values("row")),
        )[:1]
    )


@cache
def _token_claims_sql() -> tuple[str, tuple[Any, ...], int, tuple[str, ...]]:
    """The ORM's SQL for _token_claims_query, compiled once per process.

    Building and compiling this queryset costs several times the database round trip it
    describes (measured in bench/triggers_warm.py), and it runs on every cache miss
    of every token; the statement never changes, only the sub.
    """
    query = _token_claims_query(_SUB_SENTINEL).query
    sql, params = query.sql_with_params()
    [position] = [i for i, value in enumerate(params) if value == _SUB_SENTINEL]
    # The order Django's values() reads the columns back in.
    names = (*query.extra_select, *query.values_select, *query.annotation_select)
    return sql, tuple(params), position, names


def _json(value: Any) -> Any:
    # The jsonb values come back as text through Django's connection (JSONField decodes them).
    return json.loads(value) if isinstance(value, str) else value


def _token_claims_row(sub: str) -> dict[str, Any] | None:
    sql, params, position, names = _token_claims_sql()
    bound = list(params)
    bound[position] = sub
    with connection.cursor() as cursor:
        cursor.execute(sql, bound)
        values = cursor.fetchone()
    if values is None:
        return None
    row = dict(zip(names, values, strict=True))
    row["preferences"] = _json(row["preferences"])
    row["flag_rows"] = [_json(item) for item in row["flag_rows"] or ()]
    row["override_rows"] = [_json(item) for item in row["override_rows"] or ()]
    row["other_rows"] = [_json(item) for item in row["other_rows"] or ()]
    return row


def token_claims_for(*, sub: str) -> TokenClaims:
    """The claims for the user with this Cognito sub, in one query; never from user attributes."""
    if not sub:
        return TokenClaims(sub=sub, found=False)
    row = _token_claims_row(sub)
    if row is None:
        return TokenClaims(sub=sub, found=False)
    preferences = row["preferences"] if isinstance(row["preferences"], dict) else {}
    theme = str(preferences.get("theme") or "light")
    language = str(preferences.get("language") or "en")
    company_id = row["m_company_id"]
    tier = row["c_tier"] if company_id is not None else None
    others = tuple((int(o["c"]), str(o["r"] or "")) for o in row["other_rows"])
    company_active = company_id is None or row["c_status"] == Status.ACTIVE
    elevated = row["status"] == Status.ACTIVE and company_active
    base = TokenClaims(
        sub=sub,
        found=True,
        elevated=elevated,
        company_id=company_id,
        company_name=(row["c_name"] or "") if company_id is not None else "",
        subscription_tier=tier or SubscriptionTier.FREE,
        theme=theme,
        language=language,
        other_companies=others if row["status"] == Status.ACTIVE else (),
    )
    if not elevated:
        return base
    overrides = {o["k"]: bool(o["e"]) for o in row["override_rows"] or ()}
    features = sorted(
        f["k"]
        for f in row["flag_rows"] or ()
        if _flag_on(default=bool(f["d"]), tiers=f["t"] or [], override=overrides.get(f["k"]), tier=tier)
    )
    role_key = row["r_key"] or ""
    permissions: tuple[str, ...] = ()
    if role_key:
        granted = row["r_permissions"] or []
        permissions = ("*",) if "*" in granted else tuple(sorted(set(granted)))
    return TokenClaims(
        sub=sub,
        found=True,
        elevated=True,
        company_id=company_id,
        company_name=base.company_name,
        subscription_tier=base.subscription_tier,
        role=role_key,
        group=(row["r_group"] or role_key) if role_key else "",
        permissions=permissions,
        features=tuple(features),
        theme=theme,
        language=language,
        other_companies=base.other_companies,
    )


@dataclass(frozen=True, slots=True)
class ClientClaims:
    """What a machine-to-machine token carries, from the AppClient row staff manage."""

    client_id: str
    company_id: int | None
    company_name: str
    scopes: tuple[str, ...]


def app_client_claims(*, client_id: str) -> ClientClaims | None:
    """Claims for an active app client of an active company (or of none); None for anything else."""
    if not client_id:
        return None
    client = (
        AppClient.objects.filter(client_id=client_id, is_active=True)
        .select_related("company")
        .only("client_id", "allowed_scopes", "company__name", "company__status")
        .first()
    )
    if client is None:
        return None
    if client.company is not None and not client.company.is_active:
        return None
    return ClientClaims(
        client_id=client.client_id,
        company_id=client.company_id,
        company_name=client.company.name if client.company is not None else "",
        scopes=tuple(dict.fromkeys(client.allowed_scopes)),
    )


@dataclass(frozen=True, slots=True)
class SignInSubject:
    """Who is signing in, for the pre-authentication rules (never cached: suspension is immediate)."""

    profile_id: int
    active: bool
    company: Company | None


def sign_in_subject(*, sub: str) -> SignInSubject | None:
    profile = profile_with_company(sub=sub)
    if profile is None:
        return None
    return SignInSubject(profile_id=profile.pk, active=profile.is_active, company=profile.company)


# --- A profile with its company, by sub (custom message, passwordless sign-in) ----------------


@dataclass(frozen=True, slots=True)
class _RowReader:
    """Builds model instances from a slice of a hand-written SELECT, with Django's converters."""

    model: type[Model]
    attnames: tuple[str, ...]
    converters: tuple[tuple[int, tuple[Any, ...], Any], ...]  # (index, converters, column)

    @classmethod
    def of(cls, model: type[Model]) -> _RowReader:
        fields = model._meta.concrete_fields
        converters = []
        for index, field in enumerate(fields):
            column = field.get_col(model._meta.db_table)
            found = (*connection.ops.get_db_converters(column), *column.get_db_converters(connection))
            if found:
                converters.append((index, tuple(found), column))
        return cls(model, tuple(field.attname for field in fields), tuple(converters))

    def columns(self, alias: str) -> list[str]:
        qn = connection.ops.quote_name
        return [f"{alias}.{qn(_column(field))}" for field in self.model._meta.concrete_fields]

    def build(self, values: tuple[Any, ...]) -> Any:
        row = list(values)
        for index, converters, column in self.converters:
            for converter in converters:
                row[index] = converter(row[index], column, connection)
        return self.model.from_db(connection.alias, self.attnames, row)


@cache
def _profile_with_company_sql() -> tuple[str, _RowReader, _RowReader]:
    profile, company = _RowReader.of(UserProfile), _RowReader.of(Company)
    qn = connection.ops.quote_name
    p_meta, c_meta, m_meta = UserProfile._meta, Company._meta, Membership._meta
    # The company is the active company, and only through an active membership there.
    sql = (
        f"SELECT {', '.join(profile.columns('p') + company.columns('c'))} "  # noqa: S608 - _meta names
        f"FROM {qn(p_meta.db_table)} p "
        f"LEFT JOIN {qn(m_meta.db_table)} m "
        f"ON m.{qn(_column(m_meta.get_field('profile')))} = p.{qn(_column(p_meta.pk))} "
        f"AND m.{qn(_column(m_meta.get_field('company')))} "
        f"= p.{qn(_column(p_meta.get_field('active_company')))} "
        f"AND m.{qn(_column(m_meta.get_field('status')))} = %s "
        f"LEFT JOIN {qn(c_meta.db_table)} c "
        f"ON c.{qn(_column(c_meta.pk))} = m.{qn(_column(m_meta.get_field('company')))} "
        f"WHERE p.{qn(_column(p_meta.get_field('cognito_sub')))} = %s LIMIT 1"
    )
    return sql, profile, company


def profile_with_company(*, sub: str) -> UserProfile | None:
    """The profile with this Cognito sub and its active company (loaded, no further query), or None.

    `company` is the active company while the person's membership there is active, else None.

    The same rows as `select_related("company")`, from SQL written once per process: the
    ORM spent longer building that queryset than Postgres spent answering it, on triggers
    that run it on every message and every passwordless step (bench/RESULTS.md).
    """
    if not sub:
        return None
    sql, profile_reader, company_reader = _profile_with_company_sql()
    with connection.cursor() as cursor:
        cursor.execute(sql, [MembershipStatus.ACTIVE, sub])
        values = cursor.fetchone()
    if values is None:
        return None
    split = len(profile_reader.attnames)
    profile: UserProfile = profile_reader.build(values[:split])
    company = company_reader.build(values[split:]) if values[split] is not None else None
    profile.company_id = company.pk if company is not None else None
    UserProfile._meta.get_field("company").set_cached_value(profile, company)
    return profile
