"""Sealing what an outbox row must not show: email subjects and bodies, encrypted at rest.

Fernet (cryptography) is authenticated encryption (AES-128-CBC with HMAC-SHA256) with a
versioned token, and MultiFernet gives key rotation: the first key in
settings.OUTBOX_ENCRYPTION_KEYS encrypts, every key decrypts. cryptography is imported on the
first seal or open, not with this module, so the trigger import path (token generation
above all) does not pay for it.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from django.conf import settings

if TYPE_CHECKING:
    from cryptography.fernet import MultiFernet

# The payload key that holds the sealed part; the runner drops it once it is not needed.
SEALED = "sealed"


class SealBroken(Exception):
    """A sealed payload no configured key opens (a key removed too soon, or tampering)."""


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    from cryptography.fernet import Fernet, MultiFernet  # here, not at the top: lean trigger import path

    return MultiFernet([Fernet(key.encode()) for key in keys])


def _current() -> MultiFernet:
    return _fernet(tuple(settings.OUTBOX_ENCRYPTION_KEYS))


def seal(data: dict[str, Any]) -> str:
    """Encrypt a JSON-able dict under the first key; the token is ASCII, safe in a JSONField."""
    return _current().encrypt(json.dumps(data, separators=(",", ":")).encode()).decode()


def unseal(token: str) -> dict[str, Any]:
    """Decrypt a sealed dict with any configured key; SealBroken (no detail) if none opens it."""
    from cryptography.fernet import InvalidToken  # here, not at the top: lean trigger import path

    try:
        data: dict[str, Any] = json.loads(_current().decrypt(token.encode()))
    except InvalidToken:
        raise SealBroken("the sealed payload opens with none of OUTBOX_ENCRYPTION_KEYS") from None
    return data
