"""Sessions of staff and citizens after login: refresh-token rotation and logout (audited here)."""

from __future__ import annotations

import uuid

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from localgov.identity.citizen_apps import is_app_client
from localgov.identity.models import Citizen, RefreshToken, StaffUser
from localgov.identity.refresh import RefreshGrant, ReusedRefreshToken, revoke_family, rotate_refresh_token
from localgov.identity.staff import roles_of
from localgov.kernel.audit import Actor, Origin, record_audit
from localgov.kernel.auth.hashing import token_digest
from localgov.kernel.auth.tokens import PrincipalKind, Unauthenticated
from localgov.kernel.db import tenant_session
from localgov.kernel.errors import DomainError, TenantSuspended
from localgov.kernel.tenancy import TenantInfo
from localgov.settings import Settings

#: ``client_id`` of citizens' access tokens (the citizen login issues the same).


class SessionOutcome(msgspec.Struct, frozen=True, kw_only=True):
    kind: PrincipalKind
    subject_id: uuid.UUID
    roles: frozenset[str]
    refresh: RefreshGrant


def _revoked() -> Unauthenticated:
    return Unauthenticated(
        "This refresh token has been revoked; log in again.",
        code="refresh_token_revoked",
    )


async def refresh_session(
    factory: async_sessionmaker[AsyncSession],
    tenant: TenantInfo,
    settings: Settings,
    token: str,
    origin: Origin,
    *,
    staff_only: bool = False,
) -> SessionOutcome:
    """Rotate ``token``; every refusal is a 401, and a reuse's revocation is committed first.

    ``staff_only`` (a suspended LAO) refuses other sessions with 403 ``tenant_suspended`` before the
    token is spent, so the citizen's session still works once the LAO is served again.
    """
    failure: DomainError | None = None
    outcome: SessionOutcome | None = None
    async with tenant_session(factory, tenant) as session:
        row = (
            await session.execute(select(RefreshToken).where(RefreshToken.token_hash == token_digest(token)))
        ).scalar_one_or_none()
        if staff_only and row is not None and row.subject_kind != "staff":
            failure = TenantSuspended(
                "The platform operator has suspended this LAO; only its staff can sign in.",
                data={"tenant": tenant.slug},
            )
        elif row is not None and row.revoked_at is not None and row.used_at is None:
            failure = _revoked()  # logged out, disabled, password changed, or a family revoked on reuse
        elif row is not None and is_app_client(row.client_id):
            # A citizens' app's token rotates at POST /oauth/token, where the app names itself.
            failure = Unauthenticated("Refresh this app's token at /oauth/token.", code="invalid_grant")
        else:
            try:
                grant = await rotate_refresh_token(session, RefreshToken, token, ttl_s=settings.refresh_token_ttl_s)
            except ReusedRefreshToken as exc:
                failure = exc
                subject = row.subject_id if row is not None else None
                await record_audit(
                    session,
                    "refresh_token.reused",
                    actor=Actor("anonymous"),
                    origin=origin,
                    target=f"{row.subject_kind}:{subject}" if row is not None else None,
                    data={"family_id": str(exc.family_id)},
                )
            except Unauthenticated as exc:
                failure = exc
            else:
                failure, outcome = await _subject_of(session, grant, origin)
    if failure is not None:
        raise failure
    if outcome is None:
        raise RuntimeError("refresh ended without a result")
    return outcome


async def _subject_of(
    session: AsyncSession, grant: RefreshGrant, origin: Origin
) -> tuple[DomainError | None, SessionOutcome | None]:
    """Whether the family's subject may still have sessions, and its current roles."""
    roles: frozenset[str] = frozenset()
    kind: PrincipalKind
    if grant.subject_kind == "staff":
        kind = "staff"
        user = (await session.execute(select(StaffUser).where(StaffUser.id == grant.subject_id))).scalar_one_or_none()
        if user is None or user.status != "active":
            await revoke_family(session, RefreshToken, grant.family_id)
            return _revoked(), None
        roles = frozenset((await roles_of(session, [user.id]))[user.id])
    elif grant.subject_kind == "citizen":
        kind = "citizen"
        known = (await session.execute(select(Citizen.id).where(Citizen.id == grant.subject_id))).first()
        if known is None:
            await revoke_family(session, RefreshToken, grant.family_id)
            return _revoked(), None
    else:
        await revoke_family(session, RefreshToken, grant.family_id)
        return _revoked(), None
    await record_audit(
        session,
        "token.issued",
        actor=Actor(kind, str(grant.subject_id)),
        origin=origin,
        target=f"{kind}:{grant.subject_id}",
        data={"grant": "refresh_token", "family_id": str(grant.family_id), "roles": sorted(roles)},
    )
    return None, SessionOutcome(kind=kind, subject_id=grant.subject_id, roles=roles, refresh=grant)


async def logout(session: AsyncSession, token: str, origin: Origin) -> None:
    """Revoke the login of ``token`` (every token of its family); unknown tokens are ignored."""
    row = (
        await session.execute(select(RefreshToken).where(RefreshToken.token_hash == token_digest(token)))
    ).scalar_one_or_none()
    if row is None:
        return
    already = row.revoked_at is not None
    await revoke_family(session, RefreshToken, row.family_id)
    if not already:
        await record_audit(
            session,
            "logout",
            actor=Actor(row.subject_kind, str(row.subject_id)),
            origin=origin,
            target=f"{row.subject_kind}:{row.subject_id}",
            data={"family_id": str(row.family_id)},
        )
