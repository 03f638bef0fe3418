"""HTTP endpoints of citizens: login through the OpenID Connect provider, and their own record.

``GET /v1/auth/citizen/login`` sends the browser to the provider; the provider sends it back to
``GET /v1/auth/citizen/callback``, which answers with this LAO's access and refresh tokens.
Both are public on purpose: they are how a citizen gets credentials. ``GET /v1/citizens/me``
needs a citizen's access token and shows that citizen only.
"""

from __future__ import annotations

import datetime as dt
import hmac
import uuid
from typing import Annotated, Any

import msgspec
import structlog
from litestar import Controller, Request, get
from litestar.datastructures import CacheControlHeader, Cookie
from litestar.di import NamedDependency
from litestar.params import QueryParameter
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.identity import citizens as svc
from localgov.kernel.audit import Origin
from localgov.kernel.auth.guards import PUBLIC, citizen, guarded
from localgov.kernel.auth.tokens import Audience, Principal, issue_access_token
from localgov.kernel.errors import DomainError, problem_responses
from localgov.kernel.ratelimit import hit
from localgov.kernel.tenancy import TenantInfo

log = structlog.get_logger("localgov.identity.citizens")

NO_STORE = CacheControlHeader(no_store=True)
#: Ties a login state to the browser that started it (see :func:`localgov.identity.citizens.login_binding`).
BINDING_COOKIE = "localgov_citizen_login"


class CitizenLogin(msgspec.Struct):
    """A citizen's credentials for this LAO, shown in this response only."""

    access_token: str
    token_type: str
    expires_in: int
    refresh_token: str
    #: Where the citizen's app should go now: the relative path given to the login, else ``/``.
    return_to: str


class CitizenOut(msgspec.Struct):
    """A citizen as this LAO knows him: what the identity provider told at the last login."""

    id: uuid.UUID
    name: str | None
    email: str | None
    created_at: dt.datetime
    last_login_at: dt.datetime | None


class CitizenLoginController(Controller):
    path = "/v1/auth/citizen"
    tags = ["Citizen login"]
    opt = {"surface": "tenant"}

    @get(
        "/login",
        operation_id="startCitizenLogin",
        summary="Send the citizen to the identity provider (authorization code flow with PKCE)",
        description=(
            "Answers 302 to the OpenID Connect provider's authorization endpoint. The provider sends the "
            "citizen back to `/v1/auth/citizen/callback` of this LAO. `citizen_login_disabled` (404) when "
            "the platform has no provider; `invalid_return_to` (400) for anything but a relative path; "
            "`provider_error` (502) when the provider cannot be reached."
        ),
        status_code=302,
        cache_control=NO_STORE,
        responses=problem_responses(403, 404, 410, 429, 502),
        **guarded(PUBLIC),  # how a citizen starts to get credentials
    )
    async def login(
        self,
        request: Request[Any, Any, Any],
        origin: NamedDependency[Origin],
        tenant: NamedDependency[TenantInfo],
        db_session: NamedDependency[AsyncSession],
        return_to: Annotated[
            str | None,
            QueryParameter(max_length=500, description="A relative path of the citizens' app to go to afterwards"),
        ] = None,
    ) -> Redirect:
        state = request.app.state
        client = svc.oidc_client(state)
        settings = state.settings
        await hit(
            state.engine,
            f"citizen-login:{tenant.id}:{origin.source_ip}",
            limit=settings.login_rate_limit,
            window_s=settings.login_rate_window_s,
        )
        url, login_state = await svc.start_login(
            session=db_session,
            client=client,
            redirect_uri=svc.callback_url(settings, tenant.slug),
            return_to=return_to,
        )
        return Redirect(
            url,
            status_code=302,
            cookies=[
                Cookie(
                    key=BINDING_COOKIE,
                    value=svc.login_binding(settings.secret_key, tenant.id, login_state),
                    path=CitizenLoginController.path,
                    max_age=svc.LOGIN_STATE_TTL_S,
                    httponly=True,
                    secure=settings.public_url_scheme == "https",
                    samesite="lax",
                )
            ],
        )

    @get(
        "/callback",
        operation_id="completeCitizenLogin",
        summary="The identity provider's answer: this LAO's access and refresh tokens for the citizen",
        description=(
            "The redirect URI registered with the provider. Errors (`application/problem+json`): "
            "`invalid_state`, `state_replayed`, `state_expired`, `login_not_bound` (400: the browser lacks the "
            "cookie the login set), `invalid_callback` (400), `id_token_invalid` "
            "(401), `login_denied` (403, the provider refused), `citizen_login_disabled` (404), "
            "`rate_limited` (429), `provider_error` (502). A state is good for one callback."
        ),
        cache_control=NO_STORE,
        responses=problem_responses(401, 403, 404, 410, 429, 502),
        **guarded(PUBLIC),  # the citizen proves himself with the provider's code, not a bearer token
    )
    async def callback(
        self,
        request: Request[Any, Any, Any],
        origin: NamedDependency[Origin],
        tenant: NamedDependency[TenantInfo],
        db_session: NamedDependency[AsyncSession],
        login_state: Annotated[
            str | None, QueryParameter(name="state", max_length=512, description="The state of the login")
        ] = None,
        code: Annotated[
            str | None, QueryParameter(max_length=2048, description="The provider's authorization code")
        ] = None,
        error: Annotated[
            str | None, QueryParameter(max_length=200, description="The provider's error (RFC 6749 §4.1.2.1)")
        ] = None,
    ) -> CitizenLogin:
        state = request.app.state
        client = svc.oidc_client(state)
        settings = state.settings
        await hit(
            state.engine,
            f"citizen-callback:{tenant.id}:{origin.source_ip}",
            limit=settings.login_rate_limit,
            window_s=settings.login_rate_window_s,
        )
        redirect_uri = svc.callback_url(settings, tenant.slug)
        try:
            if not login_state:
                raise svc.InvalidState("The callback carries no state.")
            spent = await svc.spend_state(state.session_factory, tenant, login_state)
            binding = request.cookies.get(BINDING_COOKIE, "")
            if not hmac.compare_digest(binding, svc.login_binding(settings.secret_key, tenant.id, login_state)):
                raise svc.LoginNotBound("Start the login again from this browser.")
            if error is not None:
                raise svc.provider_denial(error)
            if not code:
                raise svc.InvalidCallback()
            id_token = await client.exchange_code(
                code=code, code_verifier=spent.code_verifier, redirect_uri=redirect_uri
            )
            identity = await client.verify_id_token(id_token, nonce=spent.nonce)
        except DomainError as exc:
            why = {"code": exc.code, **{k: v for k, v in (exc.data or {}).items() if k in ("reason", "error")}}
            log.warning("citizen_login_failed", **why)
            raise exc.audited("login.failed", actor_kind="anonymous", data={"method": "oidc", **why}) from None
        citizen_id, created, refresh = await svc.sign_in(
            db_session, identity, refresh_ttl_s=settings.refresh_token_ttl_s, origin=origin
        )
        log.info("citizen_logged_in", citizen=str(citizen_id), first_login=created)
        ttl = settings.access_token_ttl_s
        access = issue_access_token(
            state.signing_keys,
            Audience.tenant(tenant.slug, tenant.dla_code, settings.base_domain),
            kind="citizen",
            subject=str(citizen_id),
            client_id=svc.CITIZEN_CLIENT_ID,
            ttl_s=ttl,
        )
        return CitizenLogin(
            access_token=access,
            token_type="Bearer",  # noqa: S106 (RFC 6750's token type, not a secret)
            expires_in=ttl,
            refresh_token=refresh.token,
            return_to=spent.return_to or "/",
        )


class CitizenController(Controller):
    path = "/v1/citizens"
    tags = ["Citizens"]
    opt = {"surface": "tenant"}

    @get(
        "/me",
        operation_id="getOwnCitizenRecord",
        summary="The calling citizen's own record in this LAO",
        cache_control=CacheControlHeader(private=True, no_cache=True),
        responses=problem_responses(401, 403, 404, 410),
        **guarded(citizen()),
    )
    async def me(self, principal: NamedDependency[Principal], db_session: NamedDependency[AsyncSession]) -> CitizenOut:
        row = await svc.get_citizen(db_session, principal.subject)
        return CitizenOut(
            id=row.id,
            name=row.name,
            email=row.email,
            created_at=row.created_at,
            last_login_at=row.last_login_at,
        )
