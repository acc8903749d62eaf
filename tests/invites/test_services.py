import threading
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from invites.models import Invitation, InvitationStatus, RefusalReason
from invites.services import (
    InvitationError,
    invitation_accept,
    invitation_check,
    invitation_code_hash,
    invitation_create,
    invitation_extend,
    invitation_resend,
    invitation_revoke,
)
from tenants.models import Company, Role, UserProfile

pytestmark = pytest.mark.django_db


def make_profile(email, sub=None):
    return UserProfile.objects.create(cognito_sub=sub or email, username=email, email=email)


def test_create_stores_only_a_hash_of_a_high_entropy_code(acme, roles):
    issued = invitation_create(company=acme, email=" Alice@Acme.COM ", role=roles["ADMIN"])

    invitation = Invitation.objects.get()
    assert invitation.email == "alice@acme.com"
    assert len(issued.code) == 19
    assert issued.code.count("-") == 3
    assert invitation.code_hash == invitation_code_hash(issued.code)
    assert issued.code not in str(Invitation.objects.values().get())
    assert invitation.status == InvitationStatus.PENDING


def test_codes_differ_every_time(acme, roles):
    codes = {
        invitation_create(company=acme, email=f"u{i}@acme.com", role=roles["USER"]).code for i in range(50)
    }
    assert len(codes) == 50


def test_one_open_invitation_per_company_and_email(acme, roles):
    invitation_create(company=acme, email="alice@acme.com", role=roles["USER"])
    with pytest.raises(ValidationError, match="already has a pending invitation"):
        invitation_create(company=acme, email="ALICE@acme.com", role=roles["ADMIN"])
    assert Invitation.objects.count() == 1


def test_database_enforces_one_open_invitation_even_bypassing_the_service(acme, roles):
    invitation_create(company=acme, email="alice@acme.com", role=roles["USER"])
    with pytest.raises(IntegrityError, match="one_open_invitation_per_company_email"):
        Invitation.objects.create(
            company=acme,
            email="alice@acme.com",
            role=roles["USER"],
            code_hash="x" * 64,
            expires_at=timezone.now(),
        )


def test_inviting_again_replaces_an_expired_invitation(acme, roles):
    old = invitation_create(
        company=acme,
        email="alice@acme.com",
        role=roles["USER"],
        expires_at=timezone.now() - timedelta(minutes=1),
    ).invitation
    new = invitation_create(company=acme, email="alice@acme.com", role=roles["ADMIN"]).invitation

    old.refresh_from_db()
    assert old.status == InvitationStatus.REVOKED
    assert new.status == InvitationStatus.PENDING


def test_a_role_of_another_company_cannot_be_used(acme):
    other = Company.objects.create(name="Other", slug="other")
    foreign_role = Role.objects.create(key="OWNER", name="Owner", company=other)
    with pytest.raises(ValidationError, match="belongs to another company"):
        invitation_create(company=acme, email="a@acme.com", role=foreign_role)
    assert Invitation.objects.count() == 0


def test_check_accepts_a_pending_invitation_case_insensitively(acme, roles):
    issued = invitation_create(company=acme, email="alice@acme.com", role=roles["ADMIN"])
    assert invitation_check(code=issued.code.lower(), email="ALICE@acme.com") == issued.invitation


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        (lambda inv: None, None),
        (
            lambda inv: Invitation.objects.filter(pk=inv.pk).update(revoked_at=timezone.now()),
            RefusalReason.INVITATION_REVOKED,
        ),
        (
            lambda inv: Invitation.objects.filter(pk=inv.pk).update(
                expires_at=timezone.now() - timedelta(seconds=1)
            ),
            RefusalReason.INVITATION_EXPIRED,
        ),
        (
            lambda inv: Company.objects.filter(pk=inv.company_id).update(status="suspended"),
            RefusalReason.COMPANY_SUSPENDED,
        ),
        (
            lambda inv: Company.objects.filter(pk=inv.company_id).update(seat_limit=0),
            RefusalReason.COMPANY_FULL,
        ),
    ],
)
def test_check_refuses_with_a_distinct_reason(acme, roles, setup, reason):
    issued = invitation_create(company=acme, email="alice@acme.com", role=roles["ADMIN"])
    setup(issued.invitation)
    if reason is None:
        assert invitation_check(code=issued.code, email="alice@acme.com").pk == issued.invitation.pk
        return
    with pytest.raises(InvitationError) as excinfo:
        invitation_check(code=issued.code, email="alice@acme.com")
    assert excinfo.value.reason == reason


def test_check_refuses_unknown_code_and_other_email(acme, roles):
    issued = invitation_create(company=acme, email="alice@acme.com", role=roles["ADMIN"])
    with pytest.raises(InvitationError) as unknown:
        invitation_check(code="AAAA-BBBB-CCCC-DDDD", email="alice@acme.com")
    with pytest.raises(InvitationError) as mismatch:
        invitation_check(code=issued.code, email="mallory@acme.com")
    assert unknown.value.reason == RefusalReason.INVITATION_UNKNOWN
    assert mismatch.value.reason == RefusalReason.INVITATION_EMAIL_MISMATCH
    assert "different email" in mismatch.value.message


def test_accept_sets_company_and_role_once_and_is_idempotent_for_the_same_profile(acme, roles):
    issued = invitation_create(company=acme, email="alice@acme.com", role=roles["ADMIN"])
    alice = make_profile("alice@acme.com")

    invitation_accept(invitation=issued.invitation, profile=alice)
    invitation_accept(invitation=issued.invitation, profile=alice)

    alice.refresh_from_db()
    issued.invitation.refresh_from_db()
    assert (alice.company, alice.role) == (acme, roles["ADMIN"])
    assert issued.invitation.accepted_by == alice
    assert issued.invitation.status == InvitationStatus.ACCEPTED
    with pytest.raises(InvitationError) as excinfo:
        invitation_check(code=issued.code, email="alice@acme.com")
    assert excinfo.value.reason == RefusalReason.INVITATION_USED


def test_resend_voids_the_old_code(acme, roles, aws):
    first = invitation_create(company=acme, email="alice@acme.com", role=roles["ADMIN"])
    second = invitation_resend(invitation=first.invitation)

    with pytest.raises(InvitationError):
        invitation_check(code=first.code, email="alice@acme.com")
    assert invitation_check(code=second.code, email="alice@acme.com").pk == first.invitation.pk
    first.invitation.refresh_from_db()
    assert first.invitation.times_sent == 1


def test_revoke_and_extend_only_touch_open_invitations(acme, roles):
    invitation = invitation_create(company=acme, email="alice@acme.com", role=roles["ADMIN"]).invitation
    assert invitation_extend(invitation=invitation, days=30)
    invitation.refresh_from_db()
    assert invitation.expires_at > timezone.now() + timedelta(days=29)
    assert invitation_revoke(invitation=invitation) is True
    assert invitation_revoke(invitation=invitation) is False
    assert invitation_extend(invitation=invitation) is False


def _run_in_threads(count, target):
    barrier = threading.Barrier(count)
    results = []
    lock = threading.Lock()

    def worker(i):
        try:
            barrier.wait()
            outcome = target(i)
        except Exception as exc:
            outcome = exc
        finally:
            connection.close()
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


@pytest.mark.django_db(transaction=True)
def test_concurrent_acceptances_of_one_invitation_let_exactly_one_through(acme, roles):
    issued = invitation_create(company=acme, email="alice@acme.com", role=roles["ADMIN"])
    # Twenty Cognito users who all claim the same email and code.
    profiles = [make_profile("alice@acme.com", sub=f"sub-{i}") for i in range(20)]

    def accept(i):
        with transaction.atomic():
            return invitation_accept(invitation=issued.invitation, profile=profiles[i])

    results = _run_in_threads(20, accept)

    accepted = [r for r in results if isinstance(r, Invitation)]
    refused = [r for r in results if isinstance(r, InvitationError)]
    assert len(accepted) == 1
    assert len(refused) == 19
    assert {r.reason for r in refused} == {RefusalReason.INVITATION_USED}
    assert UserProfile.objects.filter(company=acme).count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_joins_cannot_exceed_the_seat_limit(acme, roles):
    acme.seat_limit = 1
    acme.save()
    invitations = [
        invitation_create(company=acme, email=f"user{i}@acme.com", role=roles["USER"]).invitation
        for i in range(10)
    ]
    profiles = [make_profile(f"user{i}@acme.com") for i in range(10)]

    results = _run_in_threads(10, lambda i: invitation_accept(invitation=invitations[i], profile=profiles[i]))

    assert sum(isinstance(r, Invitation) for r in results) == 1
    assert {r.reason for r in results if isinstance(r, InvitationError)} == {RefusalReason.COMPANY_FULL}
    assert UserProfile.objects.filter(company=acme).count() == 1


def test_bulk_rows_refuse_a_default_role_of_another_company(acme):
    from invites.bulk import invitation_bulk_create

    other = Company.objects.create(name="Other", slug="other")
    foreign_role = Role.objects.create(key="OWNER", name="Owner", company=other)

    with pytest.raises(ValidationError, match="belongs to another company") as excinfo:
        invitation_bulk_create(
            company=acme, text="ada@acme.com\n", default_role=foreign_role, created_by=None
        )

    assert "default_role" in excinfo.value.message_dict
    assert Invitation.objects.count() == 0
