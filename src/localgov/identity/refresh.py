"""Refresh tokens: opaque, single use, rotated on every use, grouped in families.

Presenting a refresh token that was already exchanged means it was copied: the whole family
(every token descended from the same login) is revoked, so the thief and the victim are both
logged out and must authenticate again (OAuth 2.0 Security BCP, refresh token rotation).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TypeVar

import msgspec
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.identity.models import OperatorRefreshToken, RefreshToken
from localgov.kernel.auth.hashing import new_token, token_digest
from localgov.kernel.auth.tokens import Unauthenticated

#: The tenant's refresh tokens or the operator's: the same columns in two schemas.
T = TypeVar("T", RefreshToken, OperatorRefreshToken)


class RefreshGrant(msgspec.Struct, frozen=True):
    """A refresh token just issued (shown once) and whose it is."""

    token: str
    family_id: uuid.UUID
    subject_kind: str
    subject_id: uuid.UUID
    expires_at: dt.datetime
    #: Citizens: the app the login was for, and the assurance level it reached (kept on rotation).
    client_id: str | None = None
    acr: str | None = None


async def issue_refresh_token(
    session: AsyncSession,
    model: type[T],
    *,
    subject_kind: str,
    subject_id: uuid.UUID,
    ttl_s: int,
    family_id: uuid.UUID | None = None,
    client_id: str | None = None,
    acr: str | None = None,
) -> RefreshGrant:
    """Start a family (a login) or continue one (a rotation)."""
    token = new_token()
    family = family_id or uuid.uuid4()
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=ttl_s)
    row = model(
        family_id=family,
        subject_kind=subject_kind,
        subject_id=subject_id,
        token_hash=token_digest(token),
        expires_at=expires,
    )
    if isinstance(row, RefreshToken):
        row.client_id, row.acr = client_id, acr
    session.add(row)
    await session.flush()
    return RefreshGrant(token, family, subject_kind, subject_id, expires, client_id, acr)


async def rotate_refresh_token(session: AsyncSession, model: type[T], token: str, *, ttl_s: int) -> RefreshGrant:
    """Exchange a refresh token for a new one of the same family (the old one is spent).

    A spent or revoked token revokes its family; this is committed even though the caller's
    request fails, so the caller must commit before raising (see :func:`revoke_family`).
    """
    now = dt.datetime.now(dt.UTC)
    row = (
        await session.execute(select(model).where(model.token_hash == token_digest(token)).with_for_update())
    ).scalar_one_or_none()
    if row is None:
        raise Unauthenticated("Unknown refresh token.", code="invalid_grant")
    if row.used_at is not None or row.revoked_at is not None:
        await revoke_family(session, model, row.family_id)
        raise ReusedRefreshToken(row.family_id)
    if row.expires_at <= now:
        raise Unauthenticated("The refresh token has expired.", code="invalid_grant")
    row.used_at = now
    # The family's lifetime is that of its first login: rotation does not extend it forever.
    remaining = min(ttl_s, int((row.expires_at - now).total_seconds()))
    return await issue_refresh_token(
        session,
        model,
        subject_kind=row.subject_kind,
        subject_id=row.subject_id,
        ttl_s=max(remaining, 1),
        family_id=row.family_id,
        client_id=getattr(row, "client_id", None),
        acr=getattr(row, "acr", None),
    )


class ReusedRefreshToken(Unauthenticated):
    """A spent refresh token came back: its family has been revoked."""

    code = "refresh_token_reused"

    def __init__(self, family_id: uuid.UUID) -> None:
        super().__init__("This refresh token was already used; every session of this login is revoked.")
        self.family_id = family_id


async def revoke_family(session: AsyncSession, model: type[T], family_id: uuid.UUID) -> None:
    await session.execute(
        update(model)
        .where(model.family_id == family_id, model.revoked_at.is_(None))
        .values(revoked_at=dt.datetime.now(dt.UTC))
    )


async def revoke_token(session: AsyncSession, model: type[T], token: str) -> uuid.UUID | None:
    """Logout: revoke the family of this token. Returns its subject, or None if unknown."""
    row = (await session.execute(select(model).where(model.token_hash == token_digest(token)))).scalar_one_or_none()
    if row is None:
        return None
    await revoke_family(session, model, row.family_id)
    subject: uuid.UUID = row.subject_id
    return subject


async def revoke_subject(session: AsyncSession, model: type[T], subject_id: uuid.UUID) -> None:
    """Every session of a user (disabled, password changed)."""
    await session.execute(
        update(model)
        .where(model.subject_id == subject_id, model.revoked_at.is_(None))
        .values(revoked_at=dt.datetime.now(dt.UTC))
    )
