"""Sessions of an LAO's users, staff and citizens alike: refresh-token rotation and logout.

``POST /v1/auth/refresh`` exchanges a refresh token for a new one of the same family and a fresh
access token (staff get their current roles, citizens ``kind="citizen"`` and no roles). A spent
token presented again revokes its whole family; that revocation is committed although the
answer is a 401 (the exchange runs in a transaction of its own). ``POST /v1/auth/logout``
revokes the family of the token it is given.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, post
from litestar.di import NamedDependency
from litestar.params import JSONBody
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from localgov.identity.models import Citizen, RefreshToken, StaffUser
from localgov.identity.refresh import RefreshGrant, ReusedRefreshToken, revoke_family, rotate_refresh_token
from localgov.identity.staff import STAFF_CLIENT_ID, roles_of
from localgov.kernel.audit import Actor, Origin, record_audit
from localgov.kernel.auth.guards import PUBLIC, guarded
from localgov.kernel.auth.hashing import token_digest
from localgov.kernel.auth.tokens import Audience, PrincipalKind, Unauthenticated, issue_access_token
from localgov.kernel.db import tenant_session
from localgov.kernel.errors import DomainError, TenantSuspended, problem_responses
from localgov.kernel.tenancy import TenantInfo
from localgov.settings import Settings

#: ``client_id`` of citizens' access tokens (the citizen login issues the same).
CITIZEN_CLIENT_ID = "localgov-citizen"
_CLIENT_IDS: dict[str, str] = {"staff": STAFF_CLIENT_ID, "citizen": CITIZEN_CLIENT_ID}

RefreshTokenText = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class Tokens(msgspec.Struct, kw_only=True):
    """An access token (RFC 9068 JWT) and the refresh token that renews it (shown once)."""

    access_token: str
    token_type: str
    expires_in: int
    refresh_token: str


class SessionToken(msgspec.Struct, kw_only=True):
    refresh_token: RefreshTokenText


class SessionOutcome(msgspec.Struct, frozen=True, kw_only=True):
    kind: PrincipalKind
    subject_id: uuid.UUID
    roles: frozenset[str]
    refresh: RefreshGrant


def token_response(
    request: Request[Any, Any, Any],
    tenant: TenantInfo,
    *,
    kind: PrincipalKind,
    subject_id: uuid.UUID,
    roles: frozenset[str],
    refresh: RefreshGrant,
) -> Tokens:
    """The answer of a login or a refresh: a fresh access token for this LAO and ``refresh``."""
    settings: Settings = request.app.state.settings
    ttl = settings.access_token_ttl_s
    access = issue_access_token(
        request.app.state.signing_keys,
        Audience.tenant(tenant.slug, tenant.dla_code, settings.base_domain),
        kind=kind,
        subject=str(subject_id),
        client_id=_CLIENT_IDS.get(kind, kind),
        roles=roles if kind == "staff" else frozenset(),
        ttl_s=ttl,
    )
    return Tokens(
        access_token=access,
        token_type="Bearer",  # noqa: S106 (RFC 6750's token type, not a secret)
        expires_in=ttl,
        refresh_token=refresh.token,
    )


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


class SessionController(Controller):
    path = "/v1/auth"
    tags = ["Sessions"]
    opt = {"surface": "tenant"}

    @post(
        "/refresh",
        status_code=200,
        operation_id="refreshSession",
        summary="Exchange a refresh token (staff or citizen) for a new access token and refresh token",
        description=(
            "The refresh token is single use: the answer carries its successor. Presenting a spent "
            "token again revokes every token of its login (401 `refresh_token_reused`); a revoked one "
            "answers 401 `refresh_token_revoked`, an unknown or expired one 401 `invalid_grant`."
        ),
        responses=problem_responses(401, 403, 404, 410),
        allow_suspended=True,  # staff only while the LAO is suspended (checked before the token is spent)
        **guarded(PUBLIC),  # the refresh token in the body is the credential
    )
    async def refresh(
        self,
        request: Request[Any, Any, Any],
        origin: NamedDependency[Origin],
        tenant: NamedDependency[TenantInfo],
        data: JSONBody[SessionToken],
    ) -> Tokens:
        state = request.app.state
        outcome = await refresh_session(
            state.session_factory,
            tenant,
            state.settings,
            data.refresh_token,
            origin,
            staff_only=tenant.status == "suspended",
        )
        return token_response(
            request,
            tenant,
            kind=outcome.kind,
            subject_id=outcome.subject_id,
            roles=outcome.roles,
            refresh=outcome.refresh,
        )

    @post(
        "/logout",
        status_code=204,
        operation_id="logout",
        summary="End a session: revoke the refresh token and every token of its login",
        description="Answers 204 whether or not the token was known, so it can be retried safely.",
        responses=problem_responses(403, 404, 410),
        allow_suspended=True,  # ending a session is always allowed
        **guarded(PUBLIC),  # the refresh token in the body is the credential
    )
    async def logout(
        self, origin: NamedDependency[Origin], data: JSONBody[SessionToken], db_session: NamedDependency[AsyncSession]
    ) -> None:
        row = (
            await db_session.execute(
                select(RefreshToken).where(RefreshToken.token_hash == token_digest(data.refresh_token))
            )
        ).scalar_one_or_none()
        if row is None:
            return
        already = row.revoked_at is not None
        await revoke_family(db_session, RefreshToken, row.family_id)
        if not already:
            await record_audit(
                db_session,
                "logout",
                actor=Actor(row.subject_kind, str(row.subject_id)),
                origin=origin,
                target=f"{row.subject_kind}:{row.subject_id}",
                data={"family_id": str(row.family_id)},
            )
