"""Invitations in bulk (dry run, all-or-none, good rows only), export, and by creating the Cognito user."""

from __future__ import annotations

import csv
import io
import re
import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from invites.bulk import invitation_bulk_create, invitation_rows_parse
from invites.cognito_users import invitation_create_cognito_user
from invites.models import Invitation, InvitationStatus
from invites.services import CODE_ALPHABET, invitation_check, invitation_code_hash, invitation_create
from outbox.aws import client
from outbox.crypto import unseal
from outbox.models import SideEffect
from tenants.models import UserProfile

pytestmark = pytest.mark.django_db

NEXT_YEAR = timezone.now().year + 1
BAD_PASTE = f"""email,role,expires
ana@acme.com,ADMIN,{NEXT_YEAR}-06-30
not-an-email,USER
bob@acme.com,NOPE
ana@acme.com,USER
cy@acme.com,USER,2001-01-01
dee@acme.com
"""


def test_dry_run_reports_every_bad_row_with_its_line_and_reason(acme, roles):
    rows = invitation_rows_parse(company=acme, text=BAD_PASTE)

    assert [(r.line, r.email, r.error) for r in rows] == [
        (2, "ana@acme.com", ""),
        (3, "not-an-email", "'not-an-email' is not an email address"),
        (4, "bob@acme.com", "no role 'NOPE' for Acme"),
        (5, "ana@acme.com", "same email as line 2"),
        (6, "cy@acme.com", "expiry 2001-01-01 is in the past"),
        (7, "dee@acme.com", "no role given"),
    ]
    assert rows[0].expires_at == datetime(NEXT_YEAR, 6, 30, 23, 59, 59, tzinfo=UTC)
    assert Invitation.objects.count() == 0


def test_default_role_and_existing_invitations_and_members(acme, roles):
    invitation_create(company=acme, email="pending@acme.com", role=roles["USER"])
    UserProfile.objects.create(cognito_sub="s", username="u", email="member@acme.com", company=acme)

    rows = invitation_rows_parse(
        company=acme,
        text="pending@acme.com\nmember@acme.com\nNew@Acme.com;admin",
        default_role=roles["USER"],
    )

    assert [(r.email, r.role_key, r.error) for r in rows] == [
        ("pending@acme.com", "USER", "already has a pending invitation"),
        ("member@acme.com", "USER", "already a member"),
        ("new@acme.com", "ADMIN", ""),
    ]


def test_all_or_none_writes_nothing_when_a_row_is_bad(acme, roles):
    result = invitation_bulk_create(company=acme, text=BAD_PASTE, all_or_none=True, send=True)

    assert result.written is False
    assert result.issued == []
    assert len(result.bad_rows) == 5
    assert Invitation.objects.count() == 0
    assert SideEffect.objects.count() == 0


def test_good_rows_only_creates_them_and_reports_the_rest(acme, roles, admin_user):
    result = invitation_bulk_create(
        company=acme, text=BAD_PASTE, all_or_none=False, created_by=admin_user, send=True
    )

    assert result.written is True
    assert [i.invitation.email for i in result.issued] == ["ana@acme.com"]
    assert [r.line for r in result.bad_rows] == [3, 4, 5, 6, 7]
    invitation = Invitation.objects.get()
    assert (invitation.email, invitation.role.key, invitation.created_by, invitation.times_sent) == (
        "ana@acme.com",
        "ADMIN",
        admin_user,
        1,
    )
    assert SideEffect.objects.get().payload["to"] == "ana@acme.com"


def _rival_invites(email, acme, roles):
    """An execute wrapper: just before the import's INSERT, another connection commits `email`."""

    def run_rival():
        try:
            invitation_create(company=acme, email=email, role=roles["USER"])
        finally:
            connections.close_all()

    fired = []

    def wrapper(execute, sql, params, many, context):
        if sql.startswith('INSERT INTO "invites_invitation"') and not fired:
            fired.append(sql)
            rival = threading.Thread(target=run_rival)
            rival.start()
            rival.join()
        return execute(sql, params, many, context)

    return wrapper


@pytest.mark.django_db(transaction=True)
def test_a_row_that_went_stale_after_the_dry_run_rolls_back_everything(acme, roles):
    # Another staff member invites the second person between the check and the insert: the
    # unique constraint catches it, and the import reports it instead of half-writing.
    with connection.execute_wrapper(_rival_invites("b@acme.com", acme, roles)):
        result = invitation_bulk_create(
            company=acme, text="a@acme.com,USER\nb@acme.com,USER", all_or_none=True, send=True
        )

    assert result.written is False
    assert result.issued == []
    assert [(r.line, r.error) for r in result.rows] == [(1, ""), (2, "already has a pending invitation")]
    # Only the rival's invitation exists, and no email was queued for ours.
    assert list(Invitation.objects.values_list("email", flat=True)) == ["b@acme.com"]
    assert SideEffect.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_row_that_went_stale_is_skipped_when_good_rows_are_wanted(acme, roles):
    with connection.execute_wrapper(_rival_invites("b@acme.com", acme, roles)):
        result = invitation_bulk_create(
            company=acme, text="a@acme.com,USER\nb@acme.com,USER\nc@acme.com,USER", all_or_none=False
        )

    assert result.written is True
    assert [i.invitation.email for i in result.issued] == ["a@acme.com", "c@acme.com"]
    assert [(r.line, r.error) for r in result.bad_rows] == [(2, "already has a pending invitation")]
    assert sorted(Invitation.objects.values_list("email", flat=True)) == [
        "a@acme.com",
        "b@acme.com",
        "c@acme.com",
    ]


def test_too_many_rows_is_one_clear_error(acme, roles):
    from django.core.exceptions import ValidationError

    text = "\n".join(f"u{i}@a.co,USER" for i in range(20_001))
    with pytest.raises(ValidationError, match="20001 rows; at most 20000"):
        invitation_rows_parse(company=acme, text=text)
    assert Invitation.objects.count() == 0


def _bulk_statements(acme, prefix, n):
    text = "email,role\n" + "\n".join(f"{prefix}{i}@acme.com,USER" for i in range(n))
    with CaptureQueriesContext(connection) as ctx:
        result = invitation_bulk_create(company=acme, text=text)
    assert (result.written, len(result.issued)) == (True, n)
    return [query["sql"].split(" ")[0] for query in ctx.captured_queries]


def test_bulk_import_statements_do_not_grow_with_rows(acme, roles):
    small = _bulk_statements(acme, "s", 5)
    large = _bulk_statements(acme, "l", 1500)

    # The transaction (a savepoint inside the test's); roles, pending invitations, members;
    # the insert's savepoint; void the expired; one INSERT.
    expected = [
        "SAVEPOINT",
        "SELECT",
        "SELECT",
        "SELECT",
        "SAVEPOINT",
        "UPDATE",
        "INSERT",
        "RELEASE",
        "RELEASE",
    ]
    assert small == large == expected
    assert Invitation.objects.count() == 1505


def test_bulk_import_codes_work_once_and_only_their_hash_is_stored(acme, roles, admin_user):
    result = invitation_bulk_create(
        company=acme, text="p@acme.com,USER\nq@acme.com,ADMIN", created_by=admin_user
    )

    assert len({item.code for item in result.issued}) == 2
    for item in result.issued:
        # The same shape as a single invitation's code: 4 groups of 4 of the 32 symbols.
        assert re.fullmatch(rf"[{CODE_ALPHABET}]{{4}}(-[{CODE_ALPHABET}]{{4}}){{3}}", item.code)
        stored = Invitation.objects.get(pk=item.invitation.pk)
        assert stored.code_hash == invitation_code_hash(item.code) != item.code
        assert invitation_check(code=item.code, email=stored.email) == stored
        assert (stored.created_by, stored.times_sent, stored.status) == (
            admin_user,
            0,
            InvitationStatus.PENDING,
        )


def test_bulk_import_replaces_an_expired_open_invitation(acme, roles):
    old = invitation_create(company=acme, email="x@acme.com", role=roles["USER"]).invitation
    Invitation.objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(days=1))

    result = invitation_bulk_create(company=acme, text="x@acme.com,ADMIN")

    old.refresh_from_db()
    assert old.status == InvitationStatus.REVOKED
    new = Invitation.objects.get(revoked_at__isnull=True)
    assert (new.pk, new.email, new.role.key, new.status) == (
        result.issued[0].invitation.pk,
        "x@acme.com",
        "ADMIN",
        InvitationStatus.PENDING,
    )


def test_bulk_import_with_send_queues_one_email_per_invitation_with_its_code(acme, roles):
    result = invitation_bulk_create(company=acme, text="m@acme.com,USER\nn@acme.com,USER", send=True)

    by_email = {item.invitation.email: item for item in result.issued}
    effects = {effect.payload["to"]: effect for effect in SideEffect.objects.all()}
    assert sorted(effects) == ["m@acme.com", "n@acme.com"]
    for email, effect in effects.items():
        item = by_email[email]
        assert effect.key == f"email:invitation:{item.invitation.pk}:1"
        assert item.code in unseal(effect.payload["sealed"])["text"]
    assert list(Invitation.objects.values_list("times_sent", flat=True)) == [1, 1]
    assert Invitation.objects.filter(last_sent_at__isnull=True).count() == 0


def test_bulk_page_dry_run_then_create_shows_codes_once(admin_client, acme, roles):
    url = reverse("admin:invites_invitation_bulk")
    upload = SimpleUploadedFile("people.csv", b"\xef\xbb\xbfemail,role\nx@acme.com,USER\ny@acme.com,ADMIN\n")
    dry = admin_client.post(
        url, {"company": acme.pk, "csv_file": upload, "on_bad_rows": "none", "_preview": "1"}
    )
    assert dry.status_code == 200
    assert [r.email for r in dry.context["rows"]] == ["x@acme.com", "y@acme.com"]
    assert Invitation.objects.count() == 0

    created = admin_client.post(
        url,
        {"company": acme.pk, "rows": dry.context["text"], "on_bad_rows": "none", "_create": "1"},
    )

    assert created.status_code == 200
    assert "no-store" in created["Cache-Control"]
    codes = [item.code for item in created.context["issued"]]
    assert len(codes) == 2
    for code in codes:
        assert code in created.content.decode()
    assert sorted(Invitation.objects.values_list("email", flat=True)) == ["x@acme.com", "y@acme.com"]
    assert SideEffect.objects.count() == 0  # send_email not ticked


def test_bulk_page_with_a_bad_row_and_all_or_none_creates_nothing(admin_client, acme, roles):
    response = admin_client.post(
        reverse("admin:invites_invitation_bulk"),
        {"company": acme.pk, "rows": "ok@acme.com,USER\nbad,USER", "on_bad_rows": "none", "_create": "1"},
    )
    assert response.status_code == 200
    assert "Nothing was created" in response.content.decode()
    assert [r.error for r in response.context["rows"]] == ["", "'bad' is not an email address"]
    assert Invitation.objects.count() == 0


def test_export_has_no_codes_and_defuses_formulas(admin_client, acme, roles, admin_user):
    issued = invitation_create(company=acme, email="x@acme.com", role=roles["USER"], created_by=admin_user)
    invitation_create(company=acme, email="=cmd@acme.com", role=roles["USER"])

    response = admin_client.post(
        reverse("admin:invites_invitation_changelist"),
        {
            "action": "export_selected",
            "_selected_action": list(Invitation.objects.values_list("pk", flat=True)),
        },
    )

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    body = b"".join(response.streaming_content).decode()
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[0] == [
        "email",
        "company",
        "role",
        "status",
        "created_at",
        "created_by",
        "expires_at",
        "times_sent",
        "last_sent_at",
        "accepted_at",
        "revoked_at",
    ]
    assert [[*r[:4], r[5]] for r in rows[1:]] == [
        ["x@acme.com", "acme", "USER", "pending", "admin"],
        ["'=cmd@acme.com", "acme", "USER", "pending", ""],
    ]
    assert issued.code not in body
    assert issued.invitation.code_hash not in body


def test_invitation_list_filters_by_sender_and_status(admin_client, acme, roles, admin_user):
    invitation_create(company=acme, email="a@acme.com", role=roles["USER"], created_by=admin_user)
    revoked = invitation_create(company=acme, email="b@acme.com", role=roles["USER"]).invitation
    Invitation.objects.filter(pk=revoked.pk).update(revoked_at=timezone.now())
    url = reverse("admin:invites_invitation_changelist")

    by_sender = admin_client.get(url, {"created_by__id__exact": admin_user.pk})
    assert [i.email for i in by_sender.context["cl"].result_list] == ["a@acme.com"]
    by_status = admin_client.get(url, {"status": "revoked"})
    assert [i.email for i in by_status.context["cl"].result_list] == ["b@acme.com"]


def test_create_cognito_user_binds_the_profile_at_once(
    cognito_pool, acme, roles, admin_user, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        issued = invitation_create_cognito_user(
            company=acme, email="New.Person@Acme.com", role=roles["ADMIN"], created_by=admin_user
        )

    cognito = client("cognito-idp")
    user = cognito.admin_get_user(UserPoolId=cognito_pool, Username="new.person@acme.com")
    attributes = {a["Name"]: a["Value"] for a in user["UserAttributes"]}
    assert attributes["email"] == "new.person@acme.com"
    assert attributes["email_verified"] == "true"
    assert user["UserStatus"] == "FORCE_CHANGE_PASSWORD"
    profile = UserProfile.objects.get()
    assert (profile.cognito_sub, profile.company, profile.role) == (attributes["sub"], acme, roles["ADMIN"])
    invitation = Invitation.objects.get()
    assert (invitation.accepted_by, invitation.reserved_for_username) == (profile, "new.person@acme.com")
    assert issued.invitation.pk == invitation.pk
    groups = cognito.admin_list_groups_for_user(UserPoolId=cognito_pool, Username="new.person@acme.com")
    assert [g["GroupName"] for g in groups["Groups"]] == ["ADMIN"]


def test_create_cognito_user_that_exists_revokes_the_invitation(cognito_pool, acme, roles):
    from django.core.exceptions import ValidationError

    client("cognito-idp").admin_create_user(
        UserPoolId=cognito_pool, Username="taken@acme.com", MessageAction="SUPPRESS"
    )

    with pytest.raises(ValidationError) as error:
        invitation_create_cognito_user(company=acme, email="taken@acme.com", role=roles["USER"])

    assert error.value.message_dict == {"email": ["taken@acme.com already has a Cognito account."]}
    assert Invitation.objects.get().revoked_at is not None
    assert UserProfile.objects.count() == 0


def test_cognito_page_creates_the_user_and_opens_the_profile(cognito_pool, admin_client, acme, roles):
    response = admin_client.post(
        reverse("admin:invites_invitation_cognito"),
        {"company": acme.pk, "email": "page@acme.com", "role": roles["USER"].pk},
    )
    profile = UserProfile.objects.get(email="page@acme.com")
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:tenants_userprofile_change", args=[profile.pk])


def test_expiry_given_as_a_datetime(acme, roles):
    when = (timezone.now() + timedelta(days=3)).replace(microsecond=0)
    rows = invitation_rows_parse(company=acme, text=f"a@acme.com,USER,{when.isoformat()}")
    assert rows[0].expires_at == when
