"""Email address helpers every layer may use: one normalisation, one domain, one mask."""

from __future__ import annotations


def normalize_email(email: str) -> str:
    return (email or "").strip().lower()


def email_domain(email: str) -> str:
    return normalize_email(email).rpartition("@")[2]


def mask_email(email: str) -> str:
    """a***@acme.com: enough for a user to recognise, not enough to leak the address."""
    local, _, domain = normalize_email(email).partition("@")
    if not domain:
        return "***"
    return f"{local[:1]}***@{domain}"
