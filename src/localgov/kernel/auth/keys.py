"""The platform's token-signing keys: ES256, rotated with an overlap, private halves encrypted.

Keys live in ``platform.signing_keys`` so every replica signs and verifies with the same set.
A new key is published (in JWKS and in every process's key store) before it signs anything,
and a superseded key keeps verifying until every token it signed has expired. Private keys are
encrypted with AES-256-GCM under a key derived from ``LOCALGOV_SECRET_KEY``; the database alone
does not reveal them.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import secrets
from typing import Any

import msgspec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from joserfc.jwk import ECKey, KeySet
from sqlalchemy import DateTime, LargeBinary, String, Text, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.orm import Mapped, mapped_column

from localgov.kernel.db import SharedBase

ALGORITHM = "ES256"


class SigningKey(SharedBase):
    """One signing key; ``private_jwk`` is AES-GCM ciphertext (nonce ‖ ciphertext)."""

    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    alg: Mapped[str] = mapped_column(String(16))
    public_jwk: Mapped[str] = mapped_column(Text)
    private_jwk: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    #: Signs from this moment (published in JWKS before it).
    activates_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    #: Verifies until this moment; None while it is the newest key.
    retires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


def _cipher(secret_key: str) -> AESGCM:
    return AESGCM(hashlib.sha256(b"localgov signing keys\x00" + secret_key.encode()).digest())


def encrypt_private(secret_key: str, jwk: dict[str, Any]) -> bytes:
    nonce = os.urandom(12)
    return nonce + _cipher(secret_key).encrypt(nonce, json.dumps(jwk).encode(), b"localgov-jwk")


def decrypt_private(secret_key: str, blob: bytes) -> dict[str, Any]:
    data = _cipher(secret_key).decrypt(blob[:12], blob[12:], b"localgov-jwk")
    out: dict[str, Any] = json.loads(data)
    return out


async def create_key(
    conn: AsyncConnection, secret_key: str, *, activates_at: dt.datetime, retire_previous_at: dt.datetime | None
) -> str:
    """Add a key; the key that is newest now stops verifying at ``retire_previous_at``."""
    kid = base64.urlsafe_b64encode(secrets.token_bytes(12)).decode().rstrip("=")
    key = ECKey.generate_key("P-256", parameters={"kid": kid, "alg": ALGORITHM, "use": "sig"}, private=True)
    if retire_previous_at is not None:
        await conn.execute(
            update(SigningKey).where(SigningKey.retires_at.is_(None)).values(retires_at=retire_previous_at)
        )
    await conn.execute(
        insert(SigningKey).values(
            kid=kid,
            alg=ALGORITHM,
            public_jwk=json.dumps(key.as_dict(private=False)),
            private_jwk=encrypt_private(secret_key, key.as_dict(private=True)),
            activates_at=activates_at,
        )
    )
    return kid


async def ensure_key(engine: AsyncEngine, secret_key: str) -> None:
    """A fresh installation gets its first key, active at once."""
    async with engine.begin() as conn:
        await conn.execute(select(func.pg_advisory_xact_lock(func.hashtext("localgov:signing-keys"))))
        if (await conn.execute(select(func.count()).select_from(SigningKey))).scalar_one() == 0:
            await create_key(conn, secret_key, activates_at=dt.datetime.now(dt.UTC), retire_previous_at=None)


async def rotate_key(engine: AsyncEngine, secret_key: str, *, publish_s: int, overlap_s: int) -> str:
    """A new key that signs after ``publish_s``; the current one verifies ``overlap_s`` longer."""
    now = dt.datetime.now(dt.UTC)
    activates = now + dt.timedelta(seconds=publish_s)
    async with engine.begin() as conn:
        await conn.execute(select(func.pg_advisory_xact_lock(func.hashtext("localgov:signing-keys"))))
        return await create_key(
            conn, secret_key, activates_at=activates, retire_previous_at=activates + dt.timedelta(seconds=overlap_s)
        )


class _KeyRow(msgspec.Struct, frozen=True):
    kid: str
    public_jwk: str
    private_jwk: bytes
    activates_at: dt.datetime
    retires_at: dt.datetime | None


class KeyStore:
    """The keys of this process: the one that signs now, and every key that still verifies."""

    def __init__(self, secret_key: str) -> None:
        self._secret_key = secret_key
        self._rows: list[_KeyRow] = []
        self._private: dict[str, ECKey] = {}
        self.public = KeySet([])

    async def load(self, engine: AsyncEngine) -> None:
        now = dt.datetime.now(dt.UTC)
        table = SigningKey.__table__
        async with engine.connect() as conn:
            result = await conn.execute(
                select(table.c.kid, table.c.public_jwk, table.c.private_jwk, table.c.activates_at, table.c.retires_at)
                .where((table.c.retires_at.is_(None)) | (table.c.retires_at > now))
                .order_by(table.c.activates_at)
            )
            rows = [_KeyRow(*row) for row in result.all()]
        for row in rows:
            if row.kid not in self._private:
                self._private[row.kid] = ECKey.import_key(decrypt_private(self._secret_key, row.private_jwk))
        self._rows = list(rows)
        self.public = KeySet([ECKey.import_key(json.loads(r.public_jwk)) for r in rows])

    def signing_key(self, now: dt.datetime | None = None) -> ECKey:
        now = now or dt.datetime.now(dt.UTC)
        active = [r for r in self._rows if r.activates_at <= now and (r.retires_at is None or r.retires_at > now)]
        if not active:
            raise RuntimeError("no signing key is active; run `localgov migrate` (it creates the first one)")
        return self._private[active[-1].kid]

    def verification_key(self, kid: str, now: dt.datetime | None = None) -> ECKey | None:
        now = now or dt.datetime.now(dt.UTC)
        for row in self._rows:
            if row.kid == kid and (row.retires_at is None or row.retires_at > now):
                return self._private[kid]
        return None

    def jwks(self) -> dict[str, Any]:
        return {"keys": [json.loads(r.public_jwk) for r in self._rows]}
