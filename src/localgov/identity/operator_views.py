"""HTTP endpoints of the operator's staff, on the operator host (the bare base domain) only.

Login, refresh and logout are public on purpose: their credentials are in the body (a password,
a refresh token). ``/v1/operator/me`` needs an operator access token.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.datastructures import CacheControlHeader
from litestar.di import NamedDependency
from litestar.params import JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.identity import operators as svc
from localgov.identity.models import AccountStatus
from localgov.kernel.audit import Origin
from localgov.kernel.auth.guards import PUBLIC, guarded, operator
from localgov.kernel.auth.tokens import Principal, TokenType
from localgov.kernel.errors import NotFound, problem_responses
from localgov.kernel.ratelimit import hit

NO_STORE = CacheControlHeader(no_store=True)


class OperatorLogin(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    email: Annotated[str, msgspec.Meta(min_length=3, max_length=254)]
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]


class OperatorRefresh(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    refresh_token: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class OperatorTokens(msgspec.Struct):
    """An operator session: a short-lived access token for the operator host and a refresh token
    (single use; each refresh returns a new one)."""

    access_token: str
    token_type: TokenType
    expires_in: int
    refresh_token: str
    refresh_expires_at: dt.datetime
    roles: list[str]


class Operator(msgspec.Struct):
    """A member of the platform operator's staff."""

    id: uuid.UUID
    email: str
    full_name: str
    roles: list[str]
    status: AccountStatus
    last_login_at: dt.datetime | None


def _tokens(session: svc.OperatorSession) -> OperatorTokens:
    return OperatorTokens(
        access_token=session.access_token,
        token_type="Bearer",  # noqa: S106 (the RFC 6750 token type)
        expires_in=session.expires_in,
        refresh_token=session.refresh_token,
        refresh_expires_at=session.refresh_expires_at,
        roles=list(session.roles),
    )


class OperatorAuthController(Controller):
    path = "/v1/operator"
    tags = ["Operator staff"]
    opt = {"surface": "operator"}

    @post(
        "/auth/login",
        operation_id="operatorLogin",
        summary="Log in as the operator's staff (operator host only)",
        status_code=200,
        cache_control=NO_STORE,
        responses=problem_responses(401, 403, 404, 423, 429),
        **guarded(PUBLIC),  # the credentials are the password in the body
    )
    async def login(
        self,
        request: Request[Any, Any, Any],
        origin: NamedDependency[Origin],
        data: JSONBody[OperatorLogin],
        db_session: NamedDependency[AsyncSession],
    ) -> OperatorTokens:
        state = request.app.state
        settings = state.settings
        await hit(
            state.engine,
            f"login:operator:{origin.source_ip}",
            limit=settings.login_rate_limit,
            window_s=settings.login_rate_window_s,
        )
        session = await svc.login(
            db_session,
            engine=state.engine,
            email=data.email,
            password=data.password,
            settings=settings,
            keys=state.signing_keys,
            origin=origin,
        )
        return _tokens(session)

    @post(
        "/auth/refresh",
        operation_id="operatorRefresh",
        summary="Exchange a refresh token for new tokens (a reused refresh token ends the whole session)",
        status_code=200,
        cache_control=NO_STORE,
        responses=problem_responses(401, 404, 429),
        **guarded(PUBLIC),  # the credential is the refresh token in the body
    )
    async def refresh(
        self,
        request: Request[Any, Any, Any],
        origin: NamedDependency[Origin],
        data: JSONBody[OperatorRefresh],
        db_session: NamedDependency[AsyncSession],
    ) -> OperatorTokens:
        state = request.app.state
        settings = state.settings
        await hit(
            state.engine,
            f"refresh:operator:{origin.source_ip}",
            limit=settings.login_rate_limit,
            window_s=settings.login_rate_window_s,
        )
        session = await svc.refresh(
            db_session, token=data.refresh_token, settings=settings, keys=state.signing_keys, origin=origin
        )
        return _tokens(session)

    @post(
        "/auth/logout",
        operation_id="operatorLogout",
        summary="End the session of a refresh token (idempotent; access tokens expire on their own)",
        status_code=204,
        responses=problem_responses(404),
        **guarded(PUBLIC),  # the credential is the refresh token in the body
    )
    async def logout(
        self,
        origin: NamedDependency[Origin],
        data: JSONBody[OperatorRefresh],
        db_session: NamedDependency[AsyncSession],
    ) -> None:
        await svc.logout(db_session, token=data.refresh_token, origin=origin)

    @get(
        "/me",
        operation_id="getOperatorMe",
        summary="The operator staff member of the access token",
        responses=problem_responses(401, 403, 404),
        **guarded(operator()),
    )
    async def me(self, principal: NamedDependency[Principal], db_session: NamedDependency[AsyncSession]) -> Operator:
        user = await svc.get_operator(db_session, principal.subject)
        if user is None:
            raise NotFound("This operator account no longer exists.", code="operator_not_found")
        return Operator(
            id=user.id,
            email=user.email,
            full_name=user.full_name,
            roles=sorted(user.roles),
            status=user.status,
            last_login_at=user.last_login_at,
        )
