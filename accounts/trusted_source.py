"""Which caller address Gatehouse believes: only one a trusted backend signed (docs/security.md).

Cognito never tells a trigger the caller's address, and any browser can write
ClientMetadata (the app client is public). So an address counts, for a rate limit or a
company's IP allowlist, only when the app's backend sent it with an HMAC-SHA256 over the
address, the user's email and a timestamp, keyed with TRUSTED_BACKEND_SECRET:

    ipSignature = hex(HMAC-SHA256(secret, "gatehouse-ip-v1\\n" + ipAddress + "\\n"
                                  + lowercase(email) + "\\n" + ipTimestamp))

with ipTimestamp in Unix seconds, valid for SIGNATURE_MAX_AGE_SECONDS. Without a secret,
or with a missing, stale or wrong signature, there is no trusted address.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import time
from collections.abc import Mapping

from django.conf import settings

from core.addresses import normalize_email

ADDRESS_KEY = "ipAddress"
SIGNATURE_KEY = "ipSignature"
TIMESTAMP_KEY = "ipTimestamp"
SIGNATURE_VERSION = "gatehouse-ip-v1"
SIGNATURE_MAX_AGE_SECONDS = 300
CLOCK_SKEW_SECONDS = 30  # a backend clock slightly ahead is not an attack
MIN_SECRET_LENGTH = 32


def address_signature(*, secret: str, address: str, email: str, timestamp: str | int) -> str:
    """The signature a trusted backend sends beside ipAddress (the formula in docs/security.md)."""
    message = "\n".join([SIGNATURE_VERSION, address.strip(), normalize_email(email), str(timestamp)])
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def canonical_address(address: str) -> str:
    """The rate-limit key of an address: IPv4 as is, IPv4-mapped IPv6 unwrapped, other IPv6 by
    its /64 (one subscriber usually holds a whole /64); "" for anything that is not an address."""
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return ""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def trusted_address(*, metadata: Mapping[str, str], email: str, now: float | None = None) -> str:
    """The caller's address when a trusted backend signed it for this email; "" otherwise.

    The address is returned as the backend sent it (stripped); canonical_address names it
    for counting.
    """
    secret = settings.TRUSTED_BACKEND_SECRET
    address = (metadata.get(ADDRESS_KEY) or "").strip()
    signature = (metadata.get(SIGNATURE_KEY) or "").strip()
    timestamp = (metadata.get(TIMESTAMP_KEY) or "").strip()
    if not (secret and address and signature and timestamp.isdigit() and len(timestamp) <= 12):
        return ""
    current = time.time() if now is None else now
    if not -CLOCK_SKEW_SECONDS <= current - int(timestamp) <= SIGNATURE_MAX_AGE_SECONDS:
        return ""
    expected = address_signature(secret=secret, address=address, email=email, timestamp=timestamp)
    # Bytes: compare_digest refuses str holding non-ASCII, and a signature is client input.
    if not hmac.compare_digest(expected.encode(), signature.lower().encode("utf-8", "replace")):
        return ""
    return address if canonical_address(address) else ""
