"""Hashing of every secret the platform keeps: passwords and client secrets with argon2id,
one-time and refresh tokens (high-entropy, random) with SHA-256."""

from __future__ import annotations

import hashlib
import secrets
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError


@cache
def _hasher() -> PasswordHasher:
    # argon2id, RFC 9106 "second recommended" profile: 64 MiB, 3 passes. The cost is deliberate.
    return PasswordHasher()


def hash_secret(secret: str) -> str:
    return _hasher().hash(secret)


def verify_secret(stored_hash: str, candidate: str) -> bool:
    try:
        return _hasher().verify(stored_hash, candidate)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


#: A valid hash of nothing anyone knows: verified against when the user does not exist, so a
#: login for an unknown e-mail takes as long as one for a known e-mail.
def dummy_hash() -> str:
    return _dummy()


@cache
def _dummy() -> str:
    return hash_secret(secrets.token_urlsafe(32))


def new_token() -> str:
    """A random bearer secret (256 bits) for links and refresh tokens."""
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """What is stored of a random token: its SHA-256 (no salt needed at 256 bits of entropy)."""
    return hashlib.sha256(token.encode()).hexdigest()
