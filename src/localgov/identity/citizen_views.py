"""HTTP endpoints of citizens: login through the OpenID Connect provider, apps, and their own record.

The login starts on the LAO's host (``GET /v1/auth/citizen/login``, or a citizens' app's ``GET
/oauth/authorize``) and the provider answers on the platform's one registered redirect URI, on the
operator host (``GET /oidc/callback``), which reads the LAO from the signed state and sends the
browser back to that LAO's ``GET /v1/auth/citizen/callback``, where the login completes: the
single-use state spent, the browser binding checked, the code redeemed, the ID token and userinfo
verified. Then either this LAO's tokens as JSON (first-party server use) or, for an app, a
single-use code sent to the app's redirect URI. All of these are public on purpose: they are how a
citizen gets credentials. ``GET /v1/citizens/me`` shows the calling citizen only.
"""

from __future__ import annotations

import datetime as dt
import hmac
import uuid
from typing import Annotated, Any, Literal

import msgspec
import structlog
from litestar import Controller, Request, Response, get, post, put
from litestar.datastructures import CacheControlHeader, Cookie
from litestar.di import NamedDependency
from litestar.exceptions import ValidationException
from litestar.params import JSONBody, PathParameter, QueryParameter, URLEncodedBody
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.identity import citizen_apps as apps
from localgov.identity import citizens as svc
from localgov.identity.client_views import _invalid_request, _oauth_problem
from localgov.identity.clients import OAuthError
from localgov.identity.models import AppKind
from localgov.kernel.audit import Actor, Origin
from localgov.kernel.auth.guards import PUBLIC, citizen, guarded, operator, staff
from localgov.kernel.auth.tokens import Audience, Principal, TokenType, issue_access_token
from localgov.kernel.errors import DomainError, problem_responses
from localgov.kernel.pagination import Cursor, Limit, cut_page, decode_cursor
from localgov.kernel.ratelimit import hit
from localgov.kernel.tenancy import TenantInfo
from localgov.settings import Settings

log = structlog.get_logger("localgov.identity.citizens")

NO_STORE = CacheControlHeader(no_store=True)
#: Ties a login state to the browser that started it (see :func:`localgov.identity.citizens.login_binding`).
BINDING_COOKIE = "localgov_citizen_login"
ADMIN = staff("tenant_admin")
AcrLevel = Annotated[
    str | None, QueryParameter(max_length=20, description="Assurance level asked: low, substantial or high")
]


class CitizenLogin(msgspec.Struct):
    """A citizen's credentials for this LAO, shown in this response only."""

    access_token: str
    token_type: TokenType
    expires_in: int
    refresh_token: str
    #: Where the citizen's app should go now: the relative path given to the login, else ``/``.
    return_to: str
    #: The assurance level the login reached (low, substantial, high; empty when none is configured).
    acr: str


class CitizenOut(msgspec.Struct):
    """A citizen as this LAO knows him: what the identity provider told at the last login.

    The national ID is never shown nor kept: only its last four digits, to recognise one's record.
    """

    id: uuid.UUID
    name: str | None
    name_en: str | None
    email: str | None
    phone: str | None
    national_id_last4: str | None
    created_at: dt.datetime
    last_login_at: dt.datetime | None


def _binding_cookie(settings: Settings, tenant: TenantInfo, login_state: str) -> Cookie:
    return Cookie(
        key=BINDING_COOKIE,
        value=svc.login_binding(settings.secret_key, tenant.id, login_state),
        path=CitizenLoginController.path,
        max_age=svc.LOGIN_STATE_TTL_S,
        httponly=True,
        secure=settings.public_url_scheme == "https",
        samesite="lax",
    )


async def _limit(request: Request[Any, Any, Any], what: str, tenant: TenantInfo, origin: Origin) -> None:
    settings = request.app.state.settings
    await hit(
        request.app.state.engine,
        f"{what}:{tenant.id}:{origin.source_ip}",
        limit=settings.login_rate_limit,
        window_s=settings.login_rate_window_s,
    )


def _level(acr: str | None) -> str | None:
    if acr is not None and acr not in ("low", "substantial", "high"):
        raise svc.UnknownAcr(data={"levels": ["low", "substantial", "high"]})
    return acr or None


class CitizenLoginController(Controller):
    path = "/v1/auth/citizen"
    tags = ["Citizen login"]
    opt = {"surface": "tenant"}

    @get(
        "/login",
        operation_id="startCitizenLogin",
        summary="Send the citizen to the identity provider (authorization code flow with PKCE)",
        description=(
            "Answers 302 to the OpenID Connect provider's authorization endpoint, asking `acr_values` for the "
            "level given (or the platform's `LOCALGOV_OIDC_LOGIN_ACR`). The provider answers on the operator "
            "host's `/oidc/callback`, which sends the citizen back to `/v1/auth/citizen/callback` of this LAO. "
            "`citizen_login_disabled` (404) when the platform has no provider; `invalid_return_to` (400) for "
            "anything but a relative path; `unknown_acr` (400); `provider_error` (502) when the provider cannot "
            "be reached."
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
        acr: AcrLevel = None,
    ) -> Redirect:
        state = request.app.state
        client = svc.oidc_client(state)
        settings = state.settings
        await _limit(request, "citizen-login", tenant, origin)
        url, login_state = await svc.start_login(
            session=db_session,
            client=client,
            secret_key=settings.secret_key,
            tenant_slug=tenant.slug,
            redirect_uri=svc.callback_url(settings),
            return_to=return_to,
            acr=_level(acr),
        )
        return Redirect(url, status_code=302, cookies=[_binding_cookie(settings, tenant, login_state)])

    @get(
        "/callback",
        operation_id="completeCitizenLogin",
        summary="The identity provider's answer, sent back by the operator host: this LAO's tokens for the citizen",
        description=(
            "Completes the login. For a login started at `/v1/auth/citizen/login`: this LAO's access and refresh "
            "tokens as JSON (first-party server use). For a citizens' app (`/oauth/authorize`): 302 to the app's "
            "redirect URI with a single-use `code`, its `state` and `iss`. Errors (`application/problem+json`): "
            "`invalid_state`, `state_replayed`, `state_expired`, `login_not_bound` (400: the browser lacks the "
            "cookie the login set), `issuer_mismatch` (400, RFC 9207), `invalid_callback` (400), `code_refused` "
            "(400, or 401 when the provider refused this platform as a client; `error` is the provider's), "
            "`id_token_invalid` (401), `acr_insufficient` (401), `login_denied` (403, the provider refused), "
            "`citizen_login_disabled` (404), `rate_limited` (429), `provider_error` (502). A state is good for "
            "one callback."
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
        iss: Annotated[
            str | None, QueryParameter(max_length=300, description="The provider's issuer (RFC 9207)")
        ] = None,
        error: Annotated[
            str | None, QueryParameter(max_length=200, description="The provider's error (RFC 6749 §4.1.2.1)")
        ] = None,
    ) -> Response[CitizenLogin]:
        state = request.app.state
        client = svc.oidc_client(state)
        settings = state.settings
        await _limit(request, "citizen-callback", tenant, origin)
        try:
            if not login_state:
                raise svc.InvalidState("The callback carries no state.")
            spent = await svc.spend_state(state.session_factory, tenant, login_state)
            binding = request.cookies.get(BINDING_COOKIE, "")
            if not hmac.compare_digest(binding, svc.login_binding(settings.secret_key, tenant.id, login_state)):
                raise svc.LoginNotBound("Start the login again from this browser.")
            await client.check_response_issuer(iss)
            if error is not None:
                raise svc.provider_denial(error)
            if not code:
                raise svc.InvalidCallback()
            tokens = await client.exchange_code(
                code=code,
                code_verifier=spent.code_verifier,
                redirect_uri=svc.callback_url(settings),
                keys=state.signing_keys,
            )
            id_claims = await client.verify_id_token(tokens.id_token, nonce=spent.nonce)
            userinfo = await client.userinfo(tokens.access_token) if tokens.access_token else {}
            identity = client.identity(id_claims, userinfo, asked_acr=spent.acr)
        except DomainError as exc:
            why = {"code": exc.code, **{k: v for k, v in (exc.data or {}).items() if k in ("reason", "error")}}
            log.warning("citizen_login_failed", **why)
            raise exc.audited("login.failed", actor_kind="anonymous", data={"method": "oidc", **why}) from None
        if spent.app_client_id and spent.app_redirect_uri and spent.app_code_challenge:
            return await self._answer_app(db_session, tenant, settings, spent, identity, origin)
        citizen_id, created, refresh = await svc.sign_in(
            db_session, identity, refresh_ttl_s=settings.refresh_token_ttl_s, origin=origin
        )
        if refresh is None:  # sign_in issues one for the first-party hand-off
            raise svc.InvalidCallback()
        log.info("citizen_logged_in", citizen=str(citizen_id), first_login=created, acr=identity.acr or None)
        ttl = settings.access_token_ttl_s
        access = issue_access_token(
            state.signing_keys,
            Audience.tenant(tenant.slug, tenant.dla_code, settings.base_domain),
            kind="citizen",
            subject=str(citizen_id),
            client_id=svc.CITIZEN_CLIENT_ID,
            ttl_s=ttl,
            acr=identity.acr,
        )
        return Response(
            CitizenLogin(
                access_token=access,
                token_type="Bearer",  # noqa: S106 (RFC 6750's token type, not a secret)
                expires_in=ttl,
                refresh_token=refresh.token,
                return_to=spent.return_to or "/",
                acr=identity.acr,
            )
        )

    async def _answer_app(
        self,
        db_session: AsyncSession,
        tenant: TenantInfo,
        settings: Settings,
        spent: svc.LoginState,
        identity: svc.VerifiedIdentity,
        origin: Origin,
    ) -> Response[CitizenLogin]:
        """An app's login: a single-use code to the app's redirect URI (checked again: the app may
        have been disabled or changed since the authorization request)."""
        app = await apps.find_app(db_session, spent.app_client_id or "")
        if app is None or spent.app_redirect_uri not in app.redirect_uris:
            raise apps.AuthorizationRefused(data={"reason": "unknown_client"})
        citizen_id, _, _ = await svc.sign_in(
            db_session,
            identity,
            refresh_ttl_s=settings.refresh_token_ttl_s,
            origin=origin,
            client_id=app.client_id,
            issue_refresh=False,
        )
        code = await apps.issue_code(
            db_session,
            client_id=app.client_id,
            redirect_uri=app.redirect_uris[app.redirect_uris.index(spent.app_redirect_uri or "")],
            code_challenge=spent.app_code_challenge or "",
            citizen_id=citizen_id,
            acr=identity.acr or None,
        )
        issuer = Audience.tenant(tenant.slug, tenant.dla_code, settings.base_domain).issuer
        target = apps.redirect_with(spent.app_redirect_uri or "", code=code, state=spent.app_state, iss=issuer)
        return Redirect(target, status_code=302)

    @get(
        "/logout",
        operation_id="logoutCitizenAtProvider",
        summary="RP-initiated logout: end the citizen's session at the identity provider too",
        description=(
            "Answers 302 to the provider's `end_session_endpoint` (OpenID Connect RP-Initiated Logout 1.0), which "
            "sends the citizen back through the operator host's `/oidc/logged-out` to `return_to` on this LAO "
            "(a relative path), or to an app's registered `post_logout_redirect_uri` (with `client_id`). Revoke "
            "this platform's tokens first (`POST /v1/auth/logout`, or `POST /oauth/revoke` for an app): this "
            "browser request carries none. `invalid_return_to`, `invalid_redirect_uri` (400); "
            "`provider_error` (502)."
        ),
        status_code=302,
        cache_control=NO_STORE,
        responses=problem_responses(403, 404, 410, 429, 502),
        **guarded(PUBLIC),  # a browser navigation; it ends a session, it grants nothing
    )
    async def logout(
        self,
        request: Request[Any, Any, Any],
        origin: NamedDependency[Origin],
        tenant: NamedDependency[TenantInfo],
        db_session: NamedDependency[AsyncSession],
        return_to: Annotated[str | None, QueryParameter(max_length=500, description="A relative path")] = None,
        client_id: Annotated[str | None, QueryParameter(max_length=64, description="A citizens' app")] = None,
        post_logout_redirect_uri: Annotated[
            str | None, QueryParameter(max_length=500, description="One the app registered")
        ] = None,
    ) -> Redirect:
        state = request.app.state
        client = svc.oidc_client(state)
        settings = state.settings
        await _limit(request, "citizen-logout", tenant, origin)
        if client_id is not None or post_logout_redirect_uri is not None:
            app = await apps.find_app(db_session, client_id or "")
            if app is None or post_logout_redirect_uri not in app.post_logout_redirect_uris:
                raise apps.InvalidRedirectUri(data={"reason": "not_registered"})
            back = post_logout_redirect_uri or ""
        else:
            back = svc.check_return_to(return_to) or "/"
        logout_state = svc.signed_payload(settings.secret_key, tenant.slug, back, purpose="logout")
        url = await client.end_session_url(
            post_logout_redirect_uri=settings.public_url(svc.LOGGED_OUT_PATH), state=logout_state
        )
        if url is None:  # the provider has no end-session endpoint: straight back
            url = svc.logout_target(settings, tenant.slug, back)
        return Redirect(url, status_code=302)


class ProviderCallbackController(Controller):
    """The platform's one redirect URI (and post-logout URI), on the operator host."""

    path = "/oidc"
    tags = ["Citizen login"]
    opt = {"surface": "operator"}
    # The identity provider's browser redirects, not API operations (as the LAO's pages): out of the
    # document, so no client is generated for them and no fuzzer sends them states nobody signed.
    include_in_schema = False

    @get(
        "/callback",
        operation_id="receiveProviderCallback",
        summary="The platform's one redirect URI at the identity provider: back to the LAO the login started on",
        description=(
            "Reads the LAO from the signed `state` and answers 302 to that LAO's `/v1/auth/citizen/callback` "
            "with the provider's `code`, `state`, `iss` and `error`, where the login completes (single use, "
            "bound to the browser). A state this platform did not sign: 400 `invalid_state`."
        ),
        status_code=302,
        cache_control=NO_STORE,
        responses=problem_responses(),
        **guarded(PUBLIC),  # the provider's redirect; it grants nothing by itself
    )
    async def callback(
        self,
        request: Request[Any, Any, Any],
        login_state: Annotated[str | None, QueryParameter(name="state", max_length=512)] = None,
        code: Annotated[str | None, QueryParameter(max_length=2048)] = None,
        iss: Annotated[str | None, QueryParameter(max_length=300)] = None,
        error: Annotated[str | None, QueryParameter(max_length=200)] = None,
    ) -> Redirect:
        settings: Settings = request.app.state.settings
        slug = svc.state_lao(settings.secret_key, login_state or "")
        if slug is None or request.app.state.catalog.resolve(f"{slug}.{settings.base_domain}") is None:
            raise svc.InvalidState("The state was not issued by this platform.")
        target = apps.redirect_with(
            svc.lao_callback_url(settings, slug), code=code, state=login_state, iss=iss, error=error
        )
        return Redirect(target, status_code=302)

    @get(
        "/logged-out",
        operation_id="receiveProviderLogout",
        summary="The platform's post-logout redirect URI: back to the LAO or app the logout started from",
        status_code=302,
        cache_control=NO_STORE,
        responses=problem_responses(),
        **guarded(PUBLIC),  # the provider's redirect after logout; it grants nothing
    )
    async def logged_out(
        self,
        request: Request[Any, Any, Any],
        logout_state: Annotated[str | None, QueryParameter(name="state", max_length=1200)] = None,
    ) -> Redirect:
        settings: Settings = request.app.state.settings
        opened = svc.open_payload(settings.secret_key, logout_state or "", purpose="logout")
        if opened is None:
            raise svc.InvalidState("The state was not issued by this platform.")
        slug, back = opened
        return Redirect(svc.logout_target(settings, slug, back), status_code=302)


class LoginSettingsIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    #: low, substantial or high (one of the platform's levels), or null for none.
    login_acr: Literal["low", "substantial", "high"] | None


class CitizenLoginSettingsController(Controller):
    path = "/v1/citizen-login/settings"
    tags = ["Citizen login"]
    opt = {"surface": "tenant"}

    @get(
        "/",
        operation_id="getCitizenLoginSettings",
        summary="The assurance level every citizen login at this LAO asks at least",
        responses=problem_responses(401, 403, 404, 410),
        **guarded(ADMIN),
    )
    async def show(
        self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]
    ) -> svc.LoginSettingsOut:
        return await svc.login_settings(db_session, svc.oidc_client(request.app.state))

    @put(
        "/",
        operation_id="setCitizenLoginSettings",
        summary="Set (or clear) the assurance level every citizen login at this LAO asks at least",
        description="`unknown_acr` (400) for a level the platform's provider does not map.",
        responses=problem_responses(400, 401, 403, 404, 410),
        **guarded(ADMIN),
    )
    async def update(
        self,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        origin: NamedDependency[Origin],
        db_session: NamedDependency[AsyncSession],
        data: JSONBody[LoginSettingsIn],
    ) -> svc.LoginSettingsOut:
        return await svc.set_login_acr(
            db_session,
            svc.oidc_client(request.app.state),
            data.login_acr,
            actor=Actor("staff", principal.subject),
            origin=origin,
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
            name_en=row.name_en,
            email=row.email,
            phone=row.phone,
            national_id_last4=row.national_id_last4,
            created_at=row.created_at,
            last_login_at=row.last_login_at,
        )


# -- Citizens' apps: registration (LAO administrators) and the authorization server -------------------

#: An absolute URI without spaces or a fragment (400 `invalid_redirect_uri` otherwise); which schemes an
#: app may use depends on its kind (422 `redirect_uri_not_allowed`). The pattern's "no space" is the
#: server's (Python's ``isspace``): JSON Schema's ``\s`` leaves out U+001C-U+001F and U+0085.
RedirectUri = Annotated[
    str,
    msgspec.Meta(
        min_length=1, max_length=500, extra_json_schema={"pattern": r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s#\x1c-\x1f\x85]+$"}
    ),
]
AppIdPath = Annotated[str, PathParameter(min_length=1, max_length=64, description="The app's `client_id`")]


class CitizenAppCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    #: ``web`` (https pages) or ``native`` (mobile: a private-use scheme, a claimed https link, loopback).
    kind: AppKind
    redirect_uris: Annotated[list[RedirectUri], msgspec.Meta(min_length=1, max_length=apps.MAX_REDIRECT_URIS)]
    post_logout_redirect_uris: Annotated[list[RedirectUri], msgspec.Meta(max_length=apps.MAX_REDIRECT_URIS)] = []


class CitizenAppPage(msgspec.Struct, kw_only=True):
    items: list[apps.AppOut]
    #: Pass as ``cursor`` for the next page; null on the last page.
    next_cursor: str | None


async def _app_page(session: AsyncSession, *, platform: bool, limit: int, cursor: str | None) -> CitizenAppPage:
    after = decode_cursor(cursor, tuple[dt.datetime, uuid.UUID])
    rows = await apps.list_apps(session, platform=platform, after=after, limit=limit + 1)
    page, next_cursor = cut_page(rows, limit, key=lambda r: (r.created_at, r.id))
    return CitizenAppPage(items=[apps.app_out(r) for r in page], next_cursor=next_cursor)


class CitizenAppController(Controller):
    path = "/v1/citizen-apps"
    tags = ["Citizens' apps"]
    opt = {"surface": "tenant"}

    @post(
        "/",
        operation_id="registerCitizenApp",
        summary="Register a citizens' app (a public OAuth 2.0 client: authorization code with PKCE)",
        responses=problem_responses(400, 401, 403, 404, 410, 422),
        **guarded(ADMIN),
    )
    async def register(
        self,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        origin: NamedDependency[Origin],
        db_session: NamedDependency[AsyncSession],
        data: JSONBody[CitizenAppCreate],
    ) -> apps.AppOut:
        settings: Settings = request.app.state.settings
        row = await apps.register_app(
            db_session,
            name=data.name,
            kind=data.kind,
            redirect_uris=data.redirect_uris,
            post_logout_redirect_uris=data.post_logout_redirect_uris,
            https_only=settings.env == "production",
            actor=Actor("staff", principal.subject),
            origin=origin,
        )
        return apps.app_out(row)

    @get(
        "/",
        operation_id="listCitizenApps",
        summary="This LAO's citizens' apps, oldest first",
        responses=problem_responses(401, 403, 404, 410),
        **guarded(ADMIN),
    )
    async def list_apps(
        self, db_session: NamedDependency[AsyncSession], limit: Limit = 50, cursor: Cursor = None
    ) -> CitizenAppPage:
        return await _app_page(db_session, platform=False, limit=limit, cursor=cursor)

    @get(
        "/{client_id:str}",
        operation_id="getCitizenApp",
        summary="One citizens' app",
        responses=problem_responses(401, 403, 404, 410),
        **guarded(ADMIN),
    )
    async def get_app(self, client_id: AppIdPath, db_session: NamedDependency[AsyncSession]) -> apps.AppOut:
        return apps.app_out(await apps.get_app(db_session, client_id))

    @post(
        "/{client_id:str}/disable",
        operation_id="disableCitizenApp",
        summary="Disable a citizens' app: its codes and refresh tokens stop working at once",
        status_code=200,
        responses=problem_responses(401, 403, 404, 410),
        **guarded(ADMIN),
    )
    async def disable(
        self,
        client_id: AppIdPath,
        principal: NamedDependency[Principal],
        origin: NamedDependency[Origin],
        db_session: NamedDependency[AsyncSession],
    ) -> apps.AppOut:
        row = await apps.disable_app(db_session, client_id, actor=Actor("staff", principal.subject), origin=origin)
        return apps.app_out(row)


class RevokeRequest(msgspec.Struct, kw_only=True):
    """RFC 7009: ``token`` (a refresh token) and the app's ``client_id``."""

    token: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    token_type_hint: str | None = None
    client_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class AuthorizationController(Controller):
    path = "/oauth"
    tags = ["OAuth 2.0"]
    opt = {"surface": "tenant"}

    @get(
        "/authorize",
        operation_id="authorizeCitizenApp",
        summary="A citizens' app asks for the citizen's tokens: authorization code with PKCE (S256)",
        description=(
            "RFC 6749 §4.1 with RFC 7636 (S256 only) for the LAO's registered apps. The citizen logs in at the "
            "identity provider (302 there); the app gets `code`, `state` and `iss` at its redirect URI, "
            "exchanged at `POST /oauth/token`. An unknown app or an unregistered redirect URI: 400 "
            "`invalid_authorization_request` (never redirected); other errors go to the redirect URI "
            "(`unsupported_response_type`, `invalid_request`). `acr_values`: a level (low, substantial, high)."
        ),
        status_code=302,
        cache_control=NO_STORE,
        responses=problem_responses(403, 404, 410, 429, 502),
        **guarded(PUBLIC),  # how an app starts to get a citizen's credentials
    )
    async def authorize(
        self,
        request: Request[Any, Any, Any],
        origin: NamedDependency[Origin],
        tenant: NamedDependency[TenantInfo],
        db_session: NamedDependency[AsyncSession],
        response_type: Annotated[str | None, QueryParameter(max_length=40)] = None,
        client_id: Annotated[str | None, QueryParameter(max_length=64)] = None,
        redirect_uri: Annotated[str | None, QueryParameter(max_length=500)] = None,
        code_challenge: Annotated[str | None, QueryParameter(max_length=128)] = None,
        code_challenge_method: Annotated[str | None, QueryParameter(max_length=10)] = None,
        app_state: Annotated[str | None, QueryParameter(name="state", max_length=500)] = None,
        requested_scope: Annotated[str | None, QueryParameter(name="scope", max_length=200)] = None,
        acr_values: Annotated[str | None, QueryParameter(max_length=20)] = None,
    ) -> Redirect:
        state = request.app.state
        client = svc.oidc_client(state)
        settings = state.settings
        await _limit(request, "citizen-login", tenant, origin)
        params = apps.AuthorizeParams(
            response_type=response_type,
            client_id=client_id,
            redirect_uri=redirect_uri,
            code_challenge=code_challenge,
            code_challenge_method=code_challenge_method,
            state=app_state,
        )
        back, error = await apps.check_authorization_request(db_session, params)
        if error is None and acr_values is not None and acr_values not in ("low", "substantial", "high"):
            error = "invalid_request"
        if error is not None:
            return Redirect(apps.redirect_with(back, error=error, state=app_state), status_code=302)
        url, login_state = await svc.start_login(
            session=db_session,
            client=client,
            secret_key=settings.secret_key,
            tenant_slug=tenant.slug,
            redirect_uri=svc.callback_url(settings),
            return_to=None,
            acr=acr_values,
            app=svc.AppRequest(
                client_id=client_id or "", redirect_uri=back, state=app_state, code_challenge=code_challenge or ""
            ),
        )
        return Redirect(url, status_code=302, cookies=[_binding_cookie(settings, tenant, login_state)])

    @post(
        "/revoke",
        operation_id="revokeCitizenAppToken",
        summary="RFC 7009: an app ends a citizen's login (its refresh token and every one of that login)",
        status_code=200,
        cache_control=NO_STORE,
        responses=problem_responses(400, 403, 404, 410, 429),
        exception_handlers={OAuthError: _oauth_problem, ValidationException: _invalid_request},
        **guarded(PUBLIC),  # a public client names itself; revoking grants nothing
    )
    async def revoke(
        self,
        request: Request[Any, Any, Any],
        origin: NamedDependency[Origin],
        tenant: NamedDependency[TenantInfo],
        db_session: NamedDependency[AsyncSession],
        data: URLEncodedBody[RevokeRequest],
    ) -> None:
        await _limit(request, "oauth-token", tenant, origin)
        await apps.revoke(db_session, client_id=data.client_id, token=data.token)


OPERATOR_ADMIN = operator("platform_admin")


class OperatorCitizenAppController(Controller):
    """Citizens' apps the operator registers: public clients at every LAO (``lgp_…``)."""

    path = "/v1/operator/citizen-apps"
    tags = ["Citizens' apps"]
    opt = {"surface": "operator"}

    @post(
        "/",
        operation_id="registerPlatformCitizenApp",
        summary="Register a citizens' app for every LAO (a public OAuth 2.0 client: authorization code with PKCE)",
        responses=problem_responses(400, 401, 403, 422),
        **guarded(OPERATOR_ADMIN),
    )
    async def register(
        self,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        origin: NamedDependency[Origin],
        db_session: NamedDependency[AsyncSession],
        data: JSONBody[CitizenAppCreate],
    ) -> apps.AppOut:
        settings: Settings = request.app.state.settings
        row = await apps.register_app(
            db_session,
            name=data.name,
            kind=data.kind,
            redirect_uris=data.redirect_uris,
            post_logout_redirect_uris=data.post_logout_redirect_uris,
            https_only=settings.env == "production",
            actor=Actor("operator", principal.subject),
            origin=origin,
            platform=True,
        )
        return apps.app_out(row)

    @get(
        "/",
        operation_id="listPlatformCitizenApps",
        summary="The operator's citizens' apps, oldest first",
        responses=problem_responses(401, 403, 404),
        **guarded(OPERATOR_ADMIN),
    )
    async def list_apps(
        self, db_session: NamedDependency[AsyncSession], limit: Limit = 50, cursor: Cursor = None
    ) -> CitizenAppPage:
        return await _app_page(db_session, platform=True, limit=limit, cursor=cursor)

    @post(
        "/{client_id:str}/disable",
        operation_id="disablePlatformCitizenApp",
        summary="Disable one of the operator's citizens' apps: its codes and refresh tokens stop working at once",
        status_code=200,
        responses=problem_responses(401, 403, 404),
        **guarded(OPERATOR_ADMIN),
    )
    async def disable(
        self,
        client_id: AppIdPath,
        principal: NamedDependency[Principal],
        origin: NamedDependency[Origin],
        db_session: NamedDependency[AsyncSession],
    ) -> apps.AppOut:
        row = await apps.disable_app(
            db_session, client_id, actor=Actor("operator", principal.subject), origin=origin, platform=True
        )
        return apps.app_out(row)
