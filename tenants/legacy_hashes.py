"""Password hashes of the system Gatehouse replaces: detect, check and convert each format.

Hashes are kept in Django's format (algorithm$...). Formats Django reads as they are
(pbkdf2_sha256, argon2, bcrypt_sha256, bcrypt, salted md5) are stored unchanged; raw
bcrypt ($2b$...) and argon2 ($argon2id$...) strings are given Django's prefix; and
unsalted MD5 or SHA-1 hex digests, too weak to keep, are wrapped in salted PBKDF2 on
import (the "password upgrading without requiring a login" recipe in Django's docs),
so the weak digest itself is never stored. Never log a password or a hash.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import cast

from django.contrib.auth.hashers import (
    UNUSABLE_PASSWORD_PREFIX,
    PBKDF2PasswordHasher,
    check_password,
    get_hashers_by_algorithm,
)

# --- Hashers for the weak formats the import wraps ------------------------------------


class _PBKDF2WrappedDigestHasher(PBKDF2PasswordHasher):
    """PBKDF2 over a legacy unsalted hex digest: verify(password) = pbkdf2(digest(password))."""

    inner_digest = "md5"
    # Lower than Django's default (1.5M) so that an import of thousands of rows finishes
    # in minutes; the wrapped value is still salted and slow, unlike the digest it hides.
    iterations = 50_000

    def inner(self, password: str) -> str:
        return hashlib.new(self.inner_digest, password.encode(), usedforsecurity=False).hexdigest()

    def encode_inner(self, inner_hex: str, salt: str, iterations: int | None = None) -> str:
        return super().encode(inner_hex.lower(), salt, iterations)

    def encode(self, password: str, salt: str, iterations: int | None = None) -> str:
        return self.encode_inner(self.inner(password), salt, iterations)

    def matches_inner(self, inner_hex: str, encoded: str) -> bool:
        """Whether `encoded` wraps this digest (a re-import of the same legacy hash)."""
        decoded = self.decode(encoded)
        salt, iterations = cast(str, decoded["salt"]), cast(int, decoded["iterations"])
        return self.encode_inner(inner_hex, salt, iterations) == encoded


class PBKDF2WrappedMD5PasswordHasher(_PBKDF2WrappedDigestHasher):
    algorithm = "pbkdf2_wrapped_md5"
    inner_digest = "md5"


class PBKDF2WrappedSHA1PasswordHasher(_PBKDF2WrappedDigestHasher):
    algorithm = "pbkdf2_wrapped_sha1"
    inner_digest = "sha1"


# Ours are checked here rather than added to settings.PASSWORD_HASHERS, so that staff
# logins to the admin never accept them.
WRAPPED_HASHERS: dict[str, _PBKDF2WrappedDigestHasher] = {
    PBKDF2WrappedMD5PasswordHasher.algorithm: PBKDF2WrappedMD5PasswordHasher(),
    PBKDF2WrappedSHA1PasswordHasher.algorithm: PBKDF2WrappedSHA1PasswordHasher(),
}
# Django formats an import may store unchanged (must also be in settings.PASSWORD_HASHERS).
DJANGO_ALGORITHMS = frozenset(
    {"pbkdf2_sha256", "pbkdf2_sha1", "argon2", "bcrypt_sha256", "bcrypt", "scrypt", "md5"}
)
HASH_FORMATS = ("django", "bcrypt", "argon2", "md5", "sha1")

_HEX32 = re.compile(r"[0-9a-fA-F]{32}")
_HEX40 = re.compile(r"[0-9a-fA-F]{40}")
_RAW_BCRYPT = re.compile(r"\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}")
_RAW_ARGON2 = re.compile(r"\$argon2(id|i|d)\$v=\d+\$m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+")


class HashFormatError(ValueError):
    """The legacy hash cannot be read; the message says why (never the hash)."""


@dataclass(frozen=True, slots=True)
class ConvertedHash:
    encoded: str  # what LegacyUser.password_hash stores
    source_format: str  # django, bcrypt, argon2, md5, sha1
    inner_digest: str = ""  # for wrapped formats: the legacy digest, to detect a re-import


def legacy_hash_detect(raw: str) -> str:
    """Guess the format of a legacy hash from its shape."""
    value = raw.strip()
    if _RAW_BCRYPT.fullmatch(value):
        return "bcrypt"
    if _RAW_ARGON2.fullmatch(value):
        return "argon2"
    if _HEX32.fullmatch(value) or (value.startswith("md5$$") and _HEX32.fullmatch(value[5:])):
        return "md5"
    if _HEX40.fullmatch(value) or (value.startswith("sha1$$") and _HEX40.fullmatch(value[6:])):
        return "sha1"
    return "django"


def legacy_hash_check(raw: str, hash_format: str = "") -> tuple[str, str]:
    """Validate a legacy hash without the cost of wrapping it: (format, digest for wrapped ones)."""
    value = (raw or "").strip()
    if not value:
        raise HashFormatError("the password hash is empty")
    fmt = (hash_format or "").strip().lower() or legacy_hash_detect(value)
    if fmt not in HASH_FORMATS:
        raise HashFormatError(f"unknown hash format {fmt[:20]!r} (use one of {', '.join(HASH_FORMATS)})")
    if fmt == "bcrypt":
        if not _RAW_BCRYPT.fullmatch(value) and not (
            value.startswith("bcrypt$") and _RAW_BCRYPT.fullmatch(value[7:])
        ):
            raise HashFormatError("not a bcrypt hash ($2a$, $2b$ or $2y$, cost and 53 characters)")
        return fmt, ""
    if fmt == "argon2":
        if not _RAW_ARGON2.fullmatch(value) and not (
            value.startswith("argon2$") and _RAW_ARGON2.fullmatch(value[6:])
        ):
            raise HashFormatError("not an argon2 hash ($argon2id$v=19$m=...,t=...,p=...$salt$hash)")
        return fmt, ""
    if fmt in ("md5", "sha1"):
        pattern, prefix = (_HEX32, "md5$$") if fmt == "md5" else (_HEX40, "sha1$$")
        digest = value[len(prefix) :] if value.startswith(prefix) else value
        if not pattern.fullmatch(digest):
            raise HashFormatError(f"not an unsalted {fmt} hex digest")
        return fmt, digest.lower()
    algorithm = value.partition("$")[0]
    if algorithm not in DJANGO_ALGORITHMS and algorithm not in WRAPPED_HASHERS:
        raise HashFormatError(f"unsupported algorithm {algorithm[:30]!r}")
    hasher = WRAPPED_HASHERS.get(algorithm) or get_hashers_by_algorithm().get(algorithm)
    if hasher is None:
        raise HashFormatError(f"the {algorithm} hasher is not installed")
    try:
        decoded = hasher.decode(value)
    except Exception as exc:  # each hasher fails its own way (ValueError, AssertionError)
        raise HashFormatError(f"not a valid {algorithm} hash") from exc
    if algorithm == "md5" and not decoded.get("salt"):
        raise HashFormatError("an md5 hash in Django's format needs a salt")
    return fmt, ""


def legacy_hash_convert(raw: str, hash_format: str = "") -> ConvertedHash:
    """The legacy hash in the Django format LegacyUser stores."""
    fmt, digest = legacy_hash_check(raw, hash_format)
    value = raw.strip()
    if fmt == "bcrypt":
        return ConvertedHash(value if value.startswith("bcrypt$") else f"bcrypt${value}", fmt)
    if fmt == "argon2":
        return ConvertedHash(value if value.startswith("argon2$") else f"argon2{value}", fmt)
    if fmt in ("md5", "sha1"):
        hasher = WRAPPED_HASHERS[f"pbkdf2_wrapped_{fmt}"]
        return ConvertedHash(hasher.encode_inner(digest, hasher.salt()), fmt, inner_digest=digest)
    return ConvertedHash(value, fmt)


def spend_like_a_check(password: str) -> None:
    """Do the work of a password check that cannot succeed, so timing does not tell why it failed."""
    check_password(password or "", UNUSABLE_PASSWORD_PREFIX)


def legacy_password_check(password: str, encoded: str) -> bool:
    """Whether `password` matches a stored legacy hash; any unreadable hash is simply no match."""
    if not password or not encoded:
        spend_like_a_check(password)
        return False
    algorithm = encoded.partition("$")[0]
    try:
        wrapped = WRAPPED_HASHERS.get(algorithm)
        if wrapped is not None:
            return wrapped.verify(password, encoded)
        return check_password(password, encoded)
    except (ValueError, TypeError, AssertionError):
        # bcrypt refuses passwords over 72 bytes; a damaged row must not become a 500.
        return False
