"""Email address helpers every layer may use: one normalisation, one comparison, one domain, one mask.

The rule, the same everywhere (docs/security.md, "Email addresses"): an address is compared
in its NFKC form, stripped and lowercased with str.lower (not casefold, which maps "ß" onto
"ss" and so one real address onto another). An address whose NFKC form differs from what the
user typed (the Kelvin sign U+212A for "K", fullwidth letters, ligatures, the long s, a
decomposed accent) is a look-alike of another address: email_is_lookalike says so, and pre
sign-up refuses it. Non-ASCII local parts and IDN domains are otherwise accepted in their
Unicode form (never punycoded here), so a comparison always sees the same characters.
Cognito's own copy of the address is never rewritten: only Gatehouse's lookups normalise.
"""

from __future__ import annotations

import hmac
import unicodedata


def normalize_email(email: str) -> str:
    return unicodedata.normalize("NFKC", (email or "").strip()).lower()


def email_is_lookalike(email: str) -> bool:
    """True when normalising changes more than case and surrounding space: the address as typed
    would be matched as another address (U+212A KELVIN SIGN becomes "k", for one)."""
    raw = (email or "").strip()
    return unicodedata.normalize("NFKC", raw) != raw or normalize_email(raw) != raw.lower()


def emails_match(stored: str, given: str) -> bool:
    """Whether two addresses are the same after normalize_email, compared in constant time.

    On UTF-8 bytes: hmac.compare_digest refuses str with non-ASCII characters.
    """
    return hmac.compare_digest(normalize_email(stored).encode(), normalize_email(given).encode())


def email_domain(email: str) -> str:
    return normalize_email(email).rpartition("@")[2]


def mask_email(email: str) -> str:
    """a***@acme.com: enough for a user to recognise, not enough to leak the address."""
    local, _, domain = normalize_email(email).partition("@")
    if not domain:
        return "***"
    return f"{local[:1]}***@{domain}"
