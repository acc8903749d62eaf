"""Who a message or a code is for: the profile, else what the event and an invitation say."""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.addresses import normalize_email
from invites.selectors import invitation_pending_for_email, invitation_reserved_for
from tenants.messages import user_email_context
from tenants.models import Company, UserProfile
from tenants.selectors import profile_with_company


@dataclass(frozen=True, slots=True)
class Recipient:
    profile: UserProfile | None
    company: Company | None
    language: str
    given_name: str
    family_name: str
    email: str

    def user_context(self) -> dict[str, str]:
        """What {{ user }} holds in every email template (tenants.messages.user_email_context)."""
        return user_email_context(
            self.profile, given_name=self.given_name, family_name=self.family_name, email=self.email
        )


def language_for(*, profile: UserProfile | None, locale: str = "") -> str:
    """The profile's language, else the primary subtag of the `locale` attribute, else en."""
    if profile is not None:
        return profile.language.strip().lower()[:10] or "en"
    primary = re.split(r"[-_]", (locale or "").strip().lower(), maxsplit=1)[0]
    return primary if re.fullmatch(r"[a-z]{2,3}", primary) else "en"


def recipient_for(
    *,
    sub: str,
    username: str,
    email: str,
    locale: str,
    given_name: str = "",
    family_name: str = "",
    from_invitation: bool = False,
) -> Recipient:
    profile = profile_with_company(sub=sub)
    company = profile.company if profile is not None else None
    if profile is None and from_invitation:
        # A user not yet onboarded (AdminCreateUser, a sign-up in progress): the company
        # that invited them. Never a company named by the client.
        invitation = invitation_reserved_for(username=username) or invitation_pending_for_email(
            email=normalize_email(email)
        )
        company = invitation.company if invitation is not None else None
    return Recipient(
        profile=profile,
        company=company,
        language=language_for(profile=profile, locale=locale),
        given_name=profile.given_name if profile is not None else given_name,
        family_name=profile.family_name if profile is not None else family_name,
        email=profile.email if profile is not None else normalize_email(email),
    )
