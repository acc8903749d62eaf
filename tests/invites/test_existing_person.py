"""An invitation to someone who already has an account: shown to them, accepted by them only."""

from __future__ import annotations

import pytest

from invites.models import InvitationStatus
from invites.services import (
    InvitationError,
    invitation_accept_by,
    invitation_decline_by,
    invitations_pending_for,
)
from outbox.crypto import SEALED, unseal
from outbox.models import SideEffect
from tenants.memberships import membership_add
from tenants.models import Company, Membership, UserProfile

pytestmark = pytest.mark.django_db


@pytest.fixture
def bob(roles) -> UserProfile:
    """Bob has an account and a company already."""
    globex = Company.objects.create(name="Globex", slug="globex")
    profile = UserProfile.objects.create(
        cognito_sub="bob-sub", username="bob", email="bob@globex.com", email_verified=True
    )
    membership_add(profile=profile, company=globex, role=roles["USER"])
    return profile


def test_the_email_says_sign_in_and_carries_no_code(acme, bob, invite):
    issued = invite(acme, email="bob@globex.com", role="ADMIN", send=True)

    effect = SideEffect.objects.get(key__startswith=f"email:invitation:{issued.invitation.pk}:")
    body = unseal(effect.payload[SEALED])
    assert "sign in" in body["text"]
    assert issued.code not in body["text"]
    assert issued.code not in body["html"]


def test_only_the_invitee_accepts_and_joins_without_losing_the_other_company(acme, bob, invite, roles):
    issued = invite(acme, email="bob@globex.com", role="ADMIN")
    mallory = UserProfile.objects.create(cognito_sub="m", username="m", email="mallory@evil.test")

    assert [i.pk for i in invitations_pending_for(profile=bob)] == [issued.invitation.pk]
    assert invitations_pending_for(profile=mallory) == []
    with pytest.raises(InvitationError) as refused:
        invitation_accept_by(invitation=issued.invitation, profile=mallory)
    assert refused.value.reason == "invitation_email_mismatch"
    assert not Membership.objects.filter(profile=mallory).exists()

    invitation_accept_by(invitation=issued.invitation, profile=bob)

    issued.invitation.refresh_from_db()
    assert (issued.invitation.status, issued.invitation.accepted_by_id) == (InvitationStatus.ACCEPTED, bob.pk)
    assert sorted(
        Membership.objects.active().filter(profile=bob).values_list("company__slug", "role__key")
    ) == [
        ("acme", "ADMIN"),
        ("globex", "USER"),
    ]
    bob.refresh_from_db()
    assert bob.active_company.slug == "globex"  # accepting does not switch: the person decides
    assert invitations_pending_for(profile=bob) == []


def test_an_unproved_address_cannot_accept_an_invitation_sent_to_it(acme, invite):
    # Someone who signed up as carol@acme.com but never verified it (auto-confirmed) holds that
    # address only on paper: the invitation staff sent there is not theirs to take.
    squatter = UserProfile.objects.create(cognito_sub="c", username="c", email="carol@acme.com")
    issued = invite(acme, email="carol@acme.com", role="ADMIN")

    with pytest.raises(InvitationError) as refused:
        invitation_accept_by(invitation=issued.invitation, profile=squatter)

    assert refused.value.reason == "invitation_email_mismatch"
    issued.invitation.refresh_from_db()
    assert issued.invitation.status == InvitationStatus.PENDING
    assert not Membership.objects.filter(profile=squatter).exists()


def test_the_invitee_can_decline(acme, bob, invite):
    issued = invite(acme, email="bob@globex.com")

    assert invitation_decline_by(invitation=issued.invitation, profile=bob) is True

    issued.invitation.refresh_from_db()
    assert issued.invitation.status == InvitationStatus.REVOKED
    assert not Membership.objects.filter(profile=bob, company=acme).exists()
