"""Hashing of every secret the platform keeps: passwords and client secrets with argon2id,
one-time and refresh tokens (high-entropy, random) with SHA-256.

An argon2 hash takes tens of milliseconds of CPU and 64 MiB: request handlers use the ``*_async``
forms, which run it in a small thread pool (one thread per CPU; argon2-cffi releases the GIL),
so the event loop keeps serving other requests and the memory used at once is bounded.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
from concurrent.futures import ThreadPoolExecutor
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


@cache
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=os.cpu_count() or 2, thread_name_prefix="argon2")


async def hash_secret_async(secret: str) -> str:
    """:func:`hash_secret` off the event loop."""
    return await asyncio.get_running_loop().run_in_executor(_pool(), hash_secret, secret)


async def verify_secret_async(stored_hash: str | None, candidate: str) -> bool:
    """:func:`verify_secret` off the event loop; ``None`` (no such account) verifies against
    :func:`dummy_hash` and fails, at the same cost as a wrong password."""

    def run() -> bool:
        if stored_hash is None:
            verify_secret(dummy_hash(), candidate)
            return False
        return verify_secret(stored_hash, candidate)

    return await asyncio.get_running_loop().run_in_executor(_pool(), run)


def new_token() -> str:
    """A random bearer secret (256 bits) for links and refresh tokens."""
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """What is stored of a random token: its SHA-256 (no salt needed at 256 bits of entropy)."""
    return hashlib.sha256(token.encode()).hexdigest()
