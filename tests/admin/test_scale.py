"""The admin on big tables: flat query counts, indexed search that finds the same rows, cheap counts."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from invites.models import Invitation
from invites.services import invitation_create
from outbox.models import SideEffect
from staff.scale import EstimatedCountPaginator
from tenants.models import ActivityEvent, Company, KnownDevice, LegacyUser, Role, UserProfile, Workspace

pytestmark = pytest.mark.django_db


@pytest.fixture
def acme_role(acme):
    # A company role prints its company (Role.__str__): the N+1 the changelists must not have.
    return Role.objects.create(key="ACME_OPS", name="Acme ops", company=acme)


def _people(acme, role, n, tag):
    for i in range(n):
        profile = UserProfile.objects.create(
            cognito_sub=f"sub-{tag}-{i}",
            username=f"user-{tag}-{i}",
            email=f"{tag}{i}@acme.com",
            company=acme,
            role=role,
        )
        invitation_create(company=acme, email=f"inv-{tag}{i}@acme.com", role=role)
        LegacyUser.objects.create(
            email=f"l-{tag}{i}@acme.com", password_hash="md5$x$y", company=acme, role=role
        )
        ActivityEvent.objects.create(kind="sign_in", profile=profile, company=acme)
        SideEffect.objects.create(
            key=f"email:{tag}:{i}", kind="send_email", payload={}, subject=f"profile:{profile.pk}"
        )


def _queries(client, url):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(ctx)


CHANGELISTS = [
    "admin:tenants_userprofile_changelist",
    "admin:invites_invitation_changelist",
    "admin:tenants_legacyuser_changelist",
    "admin:tenants_activityevent_changelist",
    "admin:outbox_sideeffect_changelist",
]


def test_changelists_with_company_roles_do_not_query_per_row(admin_client, acme, acme_role):
    urls = [reverse(name) for name in CHANGELISTS]
    urls += [f"{url}?q=acme" for url in urls]
    _people(acme, acme_role, 2, "s")
    small = {url: _queries(admin_client, url) for url in urls}
    _people(acme, acme_role, 15, "l")
    large = {url: _queries(admin_client, url) for url in urls}

    assert large == small
    page = admin_client.get(reverse("admin:tenants_userprofile_changelist"))
    assert "ACME_OPS (Acme)" in page.content.decode()


def _found(client, name, q):
    response = client.get(reverse(name), {"q": q})
    assert response.status_code == 200
    return sorted(str(obj) for obj in response.context["cl"].result_list)


def test_search_finds_by_substring_related_name_and_exact_identifier(admin_client, acme, roles):
    globex = Company.objects.create(name="Globex", slug="globex")
    UserProfile.objects.create(
        cognito_sub="3f0c-aaaa", username="ana-user", email="ana@acme.com", given_name="Ana", company=acme
    )
    UserProfile.objects.create(
        cognito_sub="9d1e-bbbb", username="bo", email="bo@globex.com", family_name="Brandt", company=globex
    )
    name = "admin:tenants_userprofile_changelist"

    assert _found(admin_client, name, "NA@ACM") == ["ana@acme.com"]  # case-insensitive substring
    assert _found(admin_client, name, "brand") == ["bo@globex.com"]  # family name
    assert _found(admin_client, name, "globe") == ["bo@globex.com"]  # company__name, through the FK
    assert _found(admin_client, name, "9d1e-bbbb") == ["bo@globex.com"]  # the whole Cognito sub
    assert _found(admin_client, name, "9d1e") == []  # a sub is an identifier, not a substring
    assert _found(admin_client, name, "ana acme") == ["ana@acme.com"]  # every word must match
    assert _found(admin_client, name, "ana globex") == []
    assert _found(admin_client, name, '"ana-user"') == ["ana@acme.com"]  # a quoted phrase


def test_search_through_foreign_keys_on_activity_devices_workspaces_and_outbox(admin_client, acme, roles):
    ana = UserProfile.objects.create(cognito_sub="s1", username="u1", email="ana@acme.com", company=acme)
    other = UserProfile.objects.create(cognito_sub="s2", username="u2", email="zed@else.org")
    ActivityEvent.objects.create(kind="sign_in", profile=ana, company=acme)
    ActivityEvent.objects.create(kind="sign_in", profile=other)
    KnownDevice.objects.create(profile=ana, fingerprint="f1", description="Firefox on Linux")
    KnownDevice.objects.create(profile=other, fingerprint="f2", description="Safari on iOS")
    Workspace.objects.create(name="Ana's", kind="personal", owner=ana)
    Workspace.objects.create(name="Zed's", kind="personal", owner=other)
    SideEffect.objects.create(
        key="email:welcome:1", kind="send_email", payload={}, subject=f"profile:{ana.pk}"
    )
    SideEffect.objects.create(key="crm:zed", kind="crm_webhook", payload={}, subject=f"profile:{other.pk}")

    events = admin_client.get(reverse("admin:tenants_activityevent_changelist"), {"q": "acme"})
    assert [e.profile for e in events.context["cl"].result_list] == [ana]
    assert _found(admin_client, "admin:tenants_knowndevice_changelist", "ana@") == ["Firefox on Linux"]
    assert _found(admin_client, "admin:tenants_knowndevice_changelist", "safari") == ["Safari on iOS"]
    assert _found(admin_client, "admin:tenants_workspace_changelist", "else.org") == ["Zed's"]
    effects = admin_client.get(reverse("admin:outbox_sideeffect_changelist"), {"q": "welcome"})
    assert [e.key for e in effects.context["cl"].result_list] == ["email:welcome:1"]


def test_search_query_uses_the_trigram_index_django_s_expression_matches(admin_client, acme):
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")
        if cursor.fetchone() is None:
            pytest.skip("this Postgres has no pg_trgm (the embedded server): the migration skips the indexes")
    # The index must be on the expression the admin emits, UPPER(email::text). With plain and
    # index scans off (the table is tiny), only a bitmap scan on a matching index can serve it.
    UserProfile.objects.create(cognito_sub="s", username="u", email="ana@acme.com", company=acme)
    response = admin_client.get(reverse("admin:tenants_userprofile_changelist"), {"q": "ana"})
    sql, params = response.context["cl"].queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "profile_search_trgm" in plan
    assert "company_name_trgm" in plan


def test_paginator_counts_an_unfiltered_big_table_from_the_estimate_and_a_filtered_one_exactly(acme, roles):
    for i in range(30):
        invitation_create(company=acme, email=f"p{i}@acme.com", role=roles["USER"])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE invites_invitation")
    # Rows the estimate has not seen yet: an exact count would say 31.
    invitation_create(company=acme, email="late@acme.com", role=roles["USER"])

    class Estimating(EstimatedCountPaginator):
        estimate_from_rows = 1

    with CaptureQueriesContext(connection) as ctx:
        estimated = Estimating(Invitation.objects.all(), 10).count
    assert len(ctx) == 1
    assert "pg_class" in ctx.captured_queries[0]["sql"]
    assert 25 <= estimated <= 40
    # Below the threshold (the default 50,000) the same single query counts exactly.
    assert EstimatedCountPaginator(Invitation.objects.all(), 10).count == 31
    assert Estimating(Invitation.objects.filter(email__startswith="p1"), 10).count == 11


def test_sender_filter_lists_only_staff_who_sent_invitations(admin_client, acme, roles, admin_user):
    quiet = get_user_model().objects.create_user("quiet", "quiet@example.com", is_staff=True)
    invitation_create(company=acme, email="a@acme.com", role=roles["USER"], created_by=admin_user)

    response = admin_client.get(reverse("admin:invites_invitation_changelist"))

    sender_filter = next(
        f for f in response.context["cl"].filter_specs if getattr(f, "field_path", "") == "created_by"
    )
    assert [label for _pk, label in sender_filter.lookup_choices] == [str(admin_user)]
    assert quiet.pk not in [pk for pk, _label in sender_filter.lookup_choices]
