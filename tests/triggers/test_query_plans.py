"""Every query the triggers send reads the growing tables through an index.

Each test runs real trigger invocations, captures the SQL they send, and EXPLAINs every
statement with sequential scans priced out (`SET LOCAL enable_seqscan = off`): on these
small test tables Postgres would happily scan, but with the scan priced out it still
chooses one only where no index matches the query's expression. The big-table timings are
bench/'s; this is the cheap check that the plans exist.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from invites.models import Invitation
from invites.selectors import domain_rule_for, invitation_pending_for_email, invitation_reserved_for
from tenants.memberships import membership_add
from tenants.models import CompanyDomain, Membership, UserProfile
from tenants.selectors import profile_with_company, token_claims_for
from tests.triggers.helpers import make_event
from triggers.lambda_handler import handler

pytestmark = pytest.mark.django_db

# Tables that grow with the number of people, sign-ups and sign-ins. (Policy, flags, roles and
# templates are small, staff-edited tables read whole or by key.)
GROWING = (
    "invites_invitation",
    "invites_signuprefusal",
    "tenants_userprofile",
    "tenants_membership",
    "tenants_companydomain",
    "tenants_ratelimitcounter",
    "tenants_activityevent",
    "tenants_knowndevice",
    "tenants_legacyuser",
    "tenants_workspace",
    "triggers_logincode",
    "outbox_sideeffect",
)
_STATEMENT = re.compile(r"^\s*(SELECT|WITH|UPDATE|DELETE|INSERT)\b", re.IGNORECASE)


def plan(sql: str, params: Any = None) -> str:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        lines = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("SET LOCAL enable_seqscan = on")
    return lines


def sequential_scans(statements: list[str]) -> dict[str, list[str]]:
    """Each statement's sequential scans of a growing table (none is the goal)."""
    found: dict[str, list[str]] = {}
    for sql in statements:
        scanned = [t for t in GROWING if re.search(rf"Seq Scan on {t}\b", plan(sql))]
        if scanned:
            found[sql] = scanned
    return found


@pytest.fixture
def captured() -> Iterator[list[str]]:
    """The SQL statements sent inside the block (as sent: parameters bound client-side)."""
    statements: list[str] = []
    with CaptureQueriesContext(connection) as context:
        yield statements
    statements.extend(q["sql"] for q in context.captured_queries if _STATEMENT.match(q["sql"]))


def test_selectors_use_the_index_built_on_their_expression(
    acme: Any, roles: dict[str, Any], invite: Any
) -> None:
    CompanyDomain.objects.create(company=acme, domain="acme.com")
    issued = invite(acme, "ada@acme.com")
    Invitation.objects.filter(pk=issued.invitation.pk).update(reserved_for_username="ada-user")

    def sql_of(call: Any) -> str:
        with CaptureQueriesContext(connection) as context:
            assert call() is not None
        (query,) = context.captured_queries
        return str(query["sql"])

    assert "invitation_reserved_for" in plan(sql_of(lambda: invitation_reserved_for(username="ada-user")))
    # invitation_email_idx, or on this tiny table the open-invitation unique index (company,
    # Lower(email)): either way the email is an index condition, never a filter over a scan.
    pending = plan(sql_of(lambda: invitation_pending_for_email(email="ada@acme.com")))
    assert "Index Cond: (lower((email)::text) = 'ada@acme.com'::text)" in pending
    assert "company_domain_unique" in plan(sql_of(lambda: domain_rule_for(domain="ACME.com")))
    # What they replaced: email = X and domain = X match no index (a scan with scans priced out).
    assert "Seq Scan on invites_invitation" in plan(
        "SELECT 1 FROM invites_invitation WHERE email = %s", ["ada@acme.com"]
    )
    assert "Seq Scan on tenants_companydomain" in plan(
        "SELECT 1 FROM tenants_companydomain WHERE domain = %s", ["acme.com"]
    )


def _scans_of(node: dict[str, Any], table: str) -> Iterator[dict[str, Any]]:
    if node.get("Relation Name") == table:
        yield node
    for child in node.get("Plans", []):
        yield from _scans_of(child, table)


def test_the_token_claims_and_the_profile_read_the_membership_by_person_not_by_company(
    acme: Any, roles: dict[str, Any]
) -> None:
    person = UserProfile.objects.create(cognito_sub="sub-ada", username="ada", email="ada@acme.com")
    membership_add(profile=person, company=acme, role=roles["ADMIN"])
    # A big company (plain rows: only the plan matters here), so that reading its members by
    # company and filtering on the person would cost what it would in production.
    others = UserProfile.objects.bulk_create(
        UserProfile(cognito_sub=f"sub-{i}", username=f"u{i}", email=f"u{i}@acme.com") for i in range(300)
    )
    Membership.objects.bulk_create(
        Membership(profile=p, company=acme, role=roles["USER"], route="staff") for p in others
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE tenants_membership")
        cursor.execute("ANALYZE tenants_userprofile")

    with CaptureQueriesContext(connection) as context:
        assert token_claims_for(sub="sub-ada").company_id == acme.pk
        assert profile_with_company(sub="sub-ada") is not None
    assert len(context.captured_queries) == 2

    for query in context.captured_queries:
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute(f"EXPLAIN (FORMAT JSON) {query['sql']}")
            (document,) = cursor.fetchone()
            cursor.execute("SET LOCAL enable_seqscan = on")
        scans = [s for top in document for s in _scans_of(top["Plan"], "tenants_membership")]
        assert scans, query["sql"]
        for scan in scans:
            condition = scan.get("Index Cond") or scan.get("Recheck Cond") or ""
            if not condition:
                (inner,) = scan.get("Plans", [{}])
                condition = inner.get("Index Cond", "")
            assert "profile_id" in condition, (scan["Node Type"], scan.get("Index Name"), condition)


def test_the_drain_prunes_and_finds_side_effects_through_indexes(transactional_db: None) -> None:
    from outbox.models import SideEffect
    from triggers.drain import handler as drain

    with CaptureQueriesContext(connection) as context:
        result = drain({}, None)
        list(SideEffect.objects.filter(subject="profile:1"))  # erasure and the admin's link
    assert result["counts"] == {}
    statements = [q["sql"] for q in context.captured_queries if _STATEMENT.match(q["sql"])]
    assert any("rate_limit_window_start" in plan(sql) for sql in statements)
    assert any("outbox_sideeffect_subject" in plan(sql) for sql in statements)
    assert any("login_code_expiry" in plan(sql) for sql in statements)
    assert any("outbox_task_result_finished" in plan(sql) for sql in statements)
    assert sequential_scans(statements) == {}


def test_a_sign_up_by_invitation_then_sign_ins_scan_no_growing_table(
    aws: Any,
    acme: Any,
    roles: dict[str, Any],
    invite: Any,
    open_policy: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    CompanyDomain.objects.create(company=acme, domain="acme.com")
    issued = invite(acme, "ada@acme.com")
    sub = "5b2f0c1e-0000-4000-8000-0000000000ad"
    sign_up = make_event(
        "PreSignUp_SignUp",
        email="ada@acme.com",
        user_name="ada",
        sub=sub,
        metadata={"invitationCode": issued.code},
    )
    confirm = make_event("PostConfirmation_ConfirmSignUp", email="ada@acme.com", user_name="ada", sub=sub)
    confirm["request"]["userAttributes"].update(
        {"cognito:user_status": "CONFIRMED", "email_verified": "true"}
    )

    with CaptureQueriesContext(connection) as context, django_capture_on_commit_callbacks(execute=True):
        handler(sign_up, None)
        handler(confirm, None)
        for source in (
            "PreAuthentication_Authentication",
            "TokenGeneration_Authentication",
            "PostAuthentication_Authentication",
            "CustomMessage_ForgotPassword",
        ):
            event = make_event(source, email="ada@acme.com", user_name="ada", sub=sub)
            if source.startswith("CustomMessage"):
                event["request"].update(codeParameter="{####}", usernameParameter="ada")
            handler(event, None)
        # A second person signing up by the domain rule, and one nobody invited.
        handler(make_event("PreSignUp_SignUp", email="bo@acme.com", user_name="bo"), None)
        handler(make_event("PreSignUp_SignUp", email="eve@else.org", user_name="eve"), None)

    statements = [q["sql"] for q in context.captured_queries if _STATEMENT.match(q["sql"])]
    assert UserProfile.objects.get(cognito_sub=sub).company_id == acme.pk
    assert len(statements) > 20
    assert sequential_scans(statements) == {}


def test_passwordless_sign_in_scans_no_growing_table(aws: Any, acme: Any, roles: dict[str, Any]) -> None:
    sub = "7a1b2c3d-0000-4000-8000-0000000000ad"
    person = UserProfile.objects.create(cognito_sub=sub, username=sub, email="ada@acme.com")
    membership_add(profile=person, company=acme, role=roles["USER"])

    def event(source: str, **request: Any) -> dict[str, Any]:
        built = make_event(source, sub=sub, user_name=sub, email="ada@acme.com")
        built["request"].update(userNotFound=False, **request)
        return built

    with CaptureQueriesContext(connection) as context:
        handler(event("DefineAuthChallenge_Authentication", session=[]), None)
        created = handler(
            event("CreateAuthChallenge_Authentication", challengeName="CUSTOM_CHALLENGE", session=[]), None
        )
        private = created["response"]["privateChallengeParameters"]
        handler(
            event(
                "VerifyAuthChallengeResponse_Authentication",
                privateChallengeParameters=private,
                challengeAnswer="000000",
            ),
            None,
        )

    statements = [q["sql"] for q in context.captured_queries if _STATEMENT.match(q["sql"])]
    assert any("triggers_logincode" in sql for sql in statements)
    assert sequential_scans(statements) == {}
