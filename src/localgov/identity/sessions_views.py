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
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.identity import sessions as svc
from localgov.identity.refresh import RefreshGrant
from localgov.identity.staff import STAFF_CLIENT_ID
from localgov.kernel.audit import Origin
from localgov.kernel.auth.guards import PUBLIC, guarded
from localgov.kernel.auth.tokens import Audience, PrincipalKind, TokenType, issue_access_token
from localgov.kernel.errors import problem_responses
from localgov.kernel.tenancy import TenantInfo
from localgov.settings import Settings

#: ``client_id`` of citizens' access tokens (the citizen login issues the same).
CITIZEN_CLIENT_ID = "localgov-citizen"
_CLIENT_IDS: dict[str, str] = {"staff": STAFF_CLIENT_ID, "citizen": CITIZEN_CLIENT_ID}

RefreshTokenText = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class Tokens(msgspec.Struct, kw_only=True):
    """An access token (RFC 9068 JWT) and the refresh token that renews it (shown once)."""

    access_token: str
    token_type: TokenType
    expires_in: int
    refresh_token: str


class SessionToken(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    refresh_token: RefreshTokenText


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
        client_id=(refresh.client_id if kind == "citizen" and refresh.client_id else _CLIENT_IDS.get(kind, kind)),
        roles=roles if kind == "staff" else frozenset(),
        ttl_s=ttl,
        acr=(refresh.acr or "") if kind == "citizen" else "",
    )
    return Tokens(
        access_token=access,
        token_type="Bearer",  # noqa: S106 (RFC 6750's token type, not a secret)
        expires_in=ttl,
        refresh_token=refresh.token,
    )


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
        outcome = await svc.refresh_session(
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
        await svc.logout(db_session, data.refresh_token, origin)
