"""HTTP endpoints of integrators' API clients: administration and the token endpoint.

``/v1/api-clients`` is for the LAO's administrators (``staff("tenant_admin")``). ``POST
/oauth/token`` is public on purpose (the client authenticates with its own credentials) and
speaks RFC 6749: a form-encoded request, and errors that carry the RFC's ``error`` and
``error_description`` members inside an RFC 9457 problem (extension members, RFC 9457 §3.2).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

import msgspec
import structlog
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import CacheControlHeader
from litestar.di import NamedDependency
from litestar.exceptions import ValidationException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import JSONBody, PathParameter, URLEncodedBody
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.identity import citizen_apps as apps
from localgov.identity import clients as svc
from localgov.identity.models import ApiClient as ApiClientRow
from localgov.identity.models import ClientStatus
from localgov.kernel.audit import Actor, Origin
from localgov.kernel.auth.guards import PUBLIC, guarded, staff
from localgov.kernel.auth.tokens import Audience, TokenType, issue_access_token
from localgov.kernel.errors import PROBLEM_MEDIA_TYPE, ProblemDetails, problem_responses
from localgov.kernel.pagination import Cursor, Limit, cut_page, decode_cursor
from localgov.kernel.ratelimit import hit
from localgov.kernel.tenancy import TenantInfo

log = structlog.get_logger("localgov.identity.clients")

ADMIN = staff("tenant_admin")
ClientIdPath = Annotated[str, PathParameter(min_length=1, max_length=64, description="The client's `client_id`")]
NO_STORE = CacheControlHeader(no_store=True)


class ApiClientRead(msgspec.Struct):
    """An integrator's API client (never its secret)."""

    client_id: str
    name: str
    scopes: list[str]
    status: ClientStatus
    created_at: dt.datetime
    rotated_at: dt.datetime | None


#: A scope's form (``<service>.<what>``, e.g. ``payments.read``); one this LAO does not offer is 422.
SCOPE_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$"


class ApiClientCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: Annotated[
        str, msgspec.Meta(min_length=1, max_length=200, pattern=r"\S", description="What the integration is")
    ]
    scopes: Annotated[
        list[Annotated[str, msgspec.Meta(max_length=80, pattern=SCOPE_PATTERN)]],
        msgspec.Meta(
            min_length=1,
            max_length=100,
            description="Scopes declared by the services this LAO has enabled (see scopes_supported in "
            "/.well-known/oauth-authorization-server)",
        ),
    ]


class ApiClientSecret(msgspec.Struct):
    """A client with its secret: shown in this response only, never again."""

    client_id: str
    client_secret: str
    name: str
    scopes: list[str]
    status: ClientStatus
    created_at: dt.datetime
    rotated_at: dt.datetime | None


class ApiClientPage(msgspec.Struct, kw_only=True):
    items: list[ApiClientRead]
    #: Pass as ``cursor`` for the next page; null on the last page.
    next_cursor: str | None


def api_client_out(row: ApiClientRow) -> ApiClientRead:
    return ApiClientRead(
        client_id=row.client_id,
        name=row.name,
        scopes=sorted(row.scopes),
        status=row.status,
        created_at=row.created_at,
        rotated_at=row.rotated_at,
    )


def _with_secret(row: ApiClientRow, secret: str) -> ApiClientSecret:
    return ApiClientSecret(client_secret=secret, **msgspec.structs.asdict(api_client_out(row)))


class ApiClientController(Controller):
    path = "/v1/api-clients"
    tags = ["API clients"]
    opt = {"surface": "tenant"}

    @post(
        "/",
        operation_id="createApiClient",
        summary="Register an API client (the secret is in this response only)",
        status_code=201,
        cache_control=NO_STORE,
        responses=problem_responses(401, 403, 404, 410),
        **guarded(ADMIN),
    )
    async def create(
        self,
        request: Request[Any, Any, Any],
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        tenant: NamedDependency[TenantInfo],
        data: JSONBody[ApiClientCreate],
        db_session: NamedDependency[AsyncSession],
    ) -> ApiClientSecret:
        name = data.name.strip()
        if not name:
            raise ValidationException("name is blank", extra=[{"key": "name", "message": "must not be blank"}])
        available = svc.enabled_scopes(request.app.state.plugins, tenant.enabled_services)
        row, secret = await svc.create_client(
            db_session, name=name, scopes=data.scopes, available=available, actor=actor, origin=origin
        )
        return _with_secret(row, secret)

    @get(
        "/",
        operation_id="listApiClients",
        summary="List this LAO's API clients, oldest first",
        responses=problem_responses(401, 403, 404, 410),
        **guarded(ADMIN),
    )
    async def list_clients(
        self, db_session: NamedDependency[AsyncSession], limit: Limit = 50, cursor: Cursor = None
    ) -> ApiClientPage:
        after = decode_cursor(cursor, tuple[dt.datetime, uuid.UUID])
        rows = await svc.list_clients(db_session, after=after, limit=limit + 1)
        page, next_cursor = cut_page(rows, limit, key=lambda r: (r.created_at, r.id))
        return ApiClientPage(items=[api_client_out(r) for r in page], next_cursor=next_cursor)

    @get(
        "/{client_id:str}",
        operation_id="getApiClient",
        summary="Show an API client",
        responses=problem_responses(401, 403, 404, 410),
        **guarded(ADMIN),
    )
    async def show(self, client_id: ClientIdPath, db_session: NamedDependency[AsyncSession]) -> ApiClientRead:
        return api_client_out(await svc.get_client(db_session, client_id))

    @post(
        "/{client_id:str}/rotate-secret",
        operation_id="rotateApiClientSecret",
        summary="Replace the secret (the old one stops working at once; the new one is shown once)",
        status_code=200,
        cache_control=NO_STORE,
        responses=problem_responses(401, 403, 404, 409, 410),
        **guarded(ADMIN),
    )
    async def rotate(
        self,
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        client_id: ClientIdPath,
        db_session: NamedDependency[AsyncSession],
    ) -> ApiClientSecret:
        row, secret = await svc.rotate_secret(db_session, client_id, actor=actor, origin=origin)
        return _with_secret(row, secret)

    @post(
        "/{client_id:str}/disable",
        operation_id="disableApiClient",
        summary="Disable an API client (its credentials fail at once; issued tokens expire on their own)",
        status_code=200,
        responses=problem_responses(401, 403, 404, 410),
        **guarded(ADMIN),
    )
    async def disable(
        self,
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        client_id: ClientIdPath,
        db_session: NamedDependency[AsyncSession],
    ) -> ApiClientRead:
        row, _changed = await svc.disable_client(db_session, client_id, actor=actor, origin=origin)
        return api_client_out(row)


# --- POST /oauth/token ----------------------------------------------------------------------------


class OAuthProblemDetails(ProblemDetails, kw_only=True, omit_defaults=True):
    """RFC 9457 problem details that are also an RFC 6749 §5.2 error response.

    ``error`` and ``error_description`` are the OAuth 2.0 members (the RFC's error codes);
    ``code`` repeats ``error`` so clients of the rest of the API can branch on it the same way.
    """

    error: svc.OAuthErrorCode
    error_description: str | None = None


class TokenRequest(msgspec.Struct, kw_only=True):
    """An RFC 6749 §4.4.2 access token request (``application/x-www-form-urlencoded``)."""

    #: Documented as the values this endpoint grants; another is RFC 6749's 400
    #: ``unsupported_grant_type``, none at all its 400 ``invalid_request`` (the framework's check).
    grant_type: Annotated[
        str,
        msgspec.Meta(
            description="`client_credentials`; for citizens' apps `authorization_code` or `refresh_token`",
            extra_json_schema={"enum": ["client_credentials", "authorization_code", "refresh_token"]},
        ),
    ]
    scope: Annotated[
        str | None, msgspec.Meta(description="Space-separated subset of the client's scopes (default: all)")
    ] = None
    client_id: Annotated[str | None, msgspec.Meta(description="With client_secret_post (else HTTP Basic)")] = None
    client_secret: Annotated[str | None, msgspec.Meta(description="With client_secret_post (else HTTP Basic)")] = None
    code: Annotated[str, msgspec.Meta(max_length=200, description="authorization_code: the code")] | None = None
    redirect_uri: Annotated[str, msgspec.Meta(max_length=500, description="authorization_code: as asked")] | None = None
    code_verifier: Annotated[str, msgspec.Meta(max_length=128, description="authorization_code: PKCE")] | None = None
    refresh_token: Annotated[str, msgspec.Meta(max_length=200, description="refresh_token: the token")] | None = None


class TokenResponse(msgspec.Struct, omit_defaults=True):
    """RFC 6749 §5.1: an RFC 9068 JWT access token for this LAO (and, for a citizens' app, a
    refresh token that rotates, and the assurance level of the citizen's login)."""

    access_token: str
    token_type: TokenType
    expires_in: int
    scope: str
    refresh_token: str | None = None
    acr: str | None = None


def _oauth_problem(request: Request[Any, Any, Any], exc: svc.OAuthError) -> Response[bytes]:
    rid = request.scope.get("state", {}).get("request_id")
    problem = OAuthProblemDetails(
        title=exc.title,
        status=exc.status,
        code=exc.code,
        error=exc.error,
        error_description=exc.detail,
        detail=exc.detail,
        instance=request.scope.get("path"),
        request_id=rid if isinstance(rid, str) else None,
    )
    return Response(
        content=msgspec.json.encode(problem),
        status_code=exc.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers={**(exc.headers or {}), "Cache-Control": "no-store", "Pragma": "no-cache"},
    )


def _invalid_request(request: Request[Any, Any, Any], exc: ValidationException) -> Response[bytes]:
    # A form the framework cannot read (a parameter given twice, for example) is RFC 6749's
    # invalid_request, in the same shape as every other error of this endpoint.
    detail = "The token request is malformed (each parameter at most once, form-encoded)."
    return _oauth_problem(request, svc.OAuthError("invalid_request", detail))


def _token_errors() -> dict[int, ResponseSpec]:
    out = problem_responses(403, 404, 410, 429)
    for status, what in ((400, "invalid_request, invalid_scope, unsupported_grant_type"), (401, "invalid_client")):
        out[status] = ResponseSpec(
            data_container=OAuthProblemDetails,
            description=f"RFC 6749 §5.2 error ({what}) as RFC 9457 problem details with `error` members",
            media_type=PROBLEM_MEDIA_TYPE,
            generate_examples=False,
        )
    return out


class TokenController(Controller):
    path = "/oauth"
    tags = ["OAuth 2.0"]
    opt = {"surface": "tenant"}

    @post(
        "/token",
        operation_id="requestAccessToken",
        summary="Client-credentials grant: an access token for an API client of this LAO",
        description=(
            "RFC 6749 §4.4. Authenticate with HTTP Basic (`client_secret_basic`) or with `client_id` and "
            "`client_secret` in the form (`client_secret_post`), not both. Errors are "
            "`application/problem+json` that also carry RFC 6749's `error` and `error_description`: "
            "`invalid_client` (401, with `WWW-Authenticate: Basic`), `invalid_request`, `invalid_scope`, "
            "`unsupported_grant_type` (400). Rate limited per client address (429)."
        ),
        status_code=200,
        cache_control=NO_STORE,
        responses=_token_errors(),
        exception_handlers={svc.OAuthError: _oauth_problem, ValidationException: _invalid_request},
        **guarded(PUBLIC),  # the client proves itself with its own credentials, not a bearer token
    )
    async def token(
        self,
        request: Request[Any, Any, Any],
        origin: NamedDependency[Origin],
        tenant: NamedDependency[TenantInfo],
        db_session: NamedDependency[AsyncSession],
        data: URLEncodedBody[TokenRequest],
    ) -> Response[TokenResponse]:
        state = request.app.state
        settings = state.settings
        await hit(
            state.engine,
            f"oauth-token:{tenant.id}:{origin.source_ip}",
            limit=settings.login_rate_limit,
            window_s=settings.login_rate_window_s,
        )
        if not data.grant_type:
            raise svc.OAuthError("invalid_request", "grant_type is required.")
        if data.grant_type in ("authorization_code", "refresh_token"):
            return await _citizen_app_token(request, tenant, db_session, origin, data)
        if data.grant_type != svc.GRANT_TYPE:
            raise svc.OAuthError(
                "unsupported_grant_type", "grant_type is client_credentials, authorization_code or refresh_token."
            )
        credentials = svc.client_credentials(request.headers.get("authorization"), data.client_id, data.client_secret)
        client, reason = await svc.authenticate_client(db_session, credentials)
        if client is None:
            log.warning("client_authentication_failed", reason=reason, method=credentials.method)
            refused = svc.OAuthError("invalid_client", "Client authentication failed.", status=401)
            if reason != "unknown_client":
                refused.audited(
                    "token.refused", actor_kind="anonymous", target=credentials.client_id, data={"reason": reason}
                )
            raise refused
        available = svc.enabled_scopes(state.plugins, tenant.enabled_services)
        scopes = svc.granted_scopes(client, available, data.scope)
        ttl = settings.access_token_ttl_s
        token = issue_access_token(
            state.signing_keys,
            Audience.tenant(tenant.slug, tenant.dla_code, settings.base_domain),
            kind="client",
            subject=client.client_id,
            client_id=client.client_id,
            scopes=frozenset(scopes),
            ttl_s=ttl,
        )
        await svc.record_token_issued(db_session, client, scopes=scopes, method=credentials.method, origin=origin)
        return Response(
            TokenResponse(
                access_token=token,
                token_type="Bearer",  # noqa: S106 (the RFC 6750 token type)
                expires_in=ttl,
                scope=" ".join(scopes),
            ),
            headers={"Pragma": "no-cache"},
        )


async def _citizen_app_token(
    request: Request[Any, Any, Any],
    tenant: TenantInfo,
    db_session: AsyncSession,
    origin: Origin,
    data: TokenRequest,
) -> Response[TokenResponse]:
    """A citizens' app (public client, no secret) redeems its code or rotates its refresh token."""
    settings = request.app.state.settings
    if data.client_secret is not None or request.headers.get("authorization"):
        raise svc.OAuthError("invalid_client", "Citizens' apps are public clients: no secret.", status=401)
    if data.grant_type == "authorization_code":
        tokens = await apps.redeem_code(
            db_session,
            client_id=data.client_id,
            code=data.code,
            redirect_uri=data.redirect_uri,
            code_verifier=data.code_verifier,
            refresh_ttl_s=settings.refresh_token_ttl_s,
            origin=origin,
        )
    else:
        tokens = await apps.refresh_app_tokens(
            db_session,
            client_id=data.client_id,
            refresh_token=data.refresh_token,
            refresh_ttl_s=settings.refresh_token_ttl_s,
        )
    ttl = settings.access_token_ttl_s
    access = issue_access_token(
        request.app.state.signing_keys,
        Audience.tenant(tenant.slug, tenant.dla_code, settings.base_domain),
        kind="citizen",
        subject=str(tokens.citizen_id),
        client_id=data.client_id or "",
        ttl_s=ttl,
        acr=tokens.acr or "",
    )
    return Response(
        TokenResponse(
            access_token=access,
            token_type="Bearer",  # noqa: S106 (the RFC 6750 token type)
            expires_in=ttl,
            scope="",
            refresh_token=tokens.refresh.token,
            acr=tokens.acr or "",
        ),
        headers={"Pragma": "no-cache"},
    )
