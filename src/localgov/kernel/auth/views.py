"""Public key material and authorization-server metadata."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, get
from litestar.di import NamedDependency

from localgov.kernel.auth.guards import AUTH_OPT, PUBLIC
from localgov.kernel.auth.tokens import Audience
from localgov.kernel.errors import problem_responses
from localgov.kernel.tenancy import TenantInfo
from localgov.settings import Settings


class JsonWebKeySet(msgspec.Struct):
    """RFC 7517 key set: the public keys that verify the platform's tokens."""

    keys: list[dict[str, Any]]


class AuthorizationServerMetadata(msgspec.Struct, omit_defaults=True):
    """RFC 8414 metadata of a tenant host.

    The LAO's token endpoint grants ``client_credentials`` to its API clients (a secret) and the
    authorization code (PKCE with S256 only) and refresh tokens to citizens' apps (public clients:
    ``none``). ``scopes_supported`` are the scopes of the services this LAO has enabled.
    """

    issuer: str
    jwks_uri: str
    access_token_audience: str
    token_endpoint: str
    grant_types_supported: list[str]
    token_endpoint_auth_methods_supported: list[str]
    scopes_supported: list[str]
    response_types_supported: list[str]
    authorization_endpoint: str | None = None
    revocation_endpoint: str | None = None
    code_challenge_methods_supported: list[str] | None = None
    authorization_response_iss_parameter_supported: bool = False


class WellKnownController(Controller):
    path = "/.well-known"
    tags = ["Keys and metadata"]

    @get(
        "/jwks.json",
        operation_id="getJsonWebKeySet",
        summary="Public keys that verify access tokens (every host)",
        opt={"surface": "any", AUTH_OPT: PUBLIC},
        responses=problem_responses(),
    )
    async def jwks(self, request: Request[Any, Any, Any]) -> JsonWebKeySet:
        return JsonWebKeySet(keys=request.app.state.signing_keys.jwks()["keys"])

    @get(
        "/oauth-authorization-server",
        operation_id="getAuthorizationServerMetadata",
        summary="OAuth 2.0 authorization server metadata of this LAO",
        opt={"surface": "tenant", AUTH_OPT: PUBLIC},
        responses=problem_responses(403, 404, 410),
    )
    async def metadata(
        self, request: Request[Any, Any, Any], tenant: NamedDependency[TenantInfo], settings: NamedDependency[Settings]
    ) -> AuthorizationServerMetadata:
        audience = Audience.tenant(tenant.slug, tenant.dla_code, settings.base_domain)
        enabled = tenant.enabled_services
        return AuthorizationServerMetadata(
            issuer=audience.issuer,
            jwks_uri=f"{audience.issuer}/.well-known/jwks.json",
            access_token_audience=audience.audience,
            token_endpoint=f"{audience.issuer}/oauth/token",
            grant_types_supported=["client_credentials", "authorization_code", "refresh_token"],
            token_endpoint_auth_methods_supported=["client_secret_basic", "client_secret_post", "none"],
            scopes_supported=sorted(
                {s.code for s in request.app.state.core_scopes}
                | {s.code for p in request.app.state.plugins if p.slug in enabled for s in p.scopes}
            ),
            response_types_supported=["code"],
            authorization_endpoint=f"{audience.issuer}/oauth/authorize",
            revocation_endpoint=f"{audience.issuer}/oauth/revoke",
            code_challenge_methods_supported=["S256"],
            authorization_response_iss_parameter_supported=True,
        )
