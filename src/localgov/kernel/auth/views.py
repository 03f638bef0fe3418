"""Public key material and authorization-server metadata."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, get

from localgov.kernel.auth.guards import AUTH_OPT, PUBLIC
from localgov.kernel.auth.tokens import Audience
from localgov.kernel.errors import problem_responses
from localgov.kernel.web import current_tenant


class JsonWebKeySet(msgspec.Struct):
    """RFC 7517 key set: the public keys that verify the platform's tokens."""

    keys: list[dict[str, Any]]


class AuthorizationServerMetadata(msgspec.Struct, omit_defaults=True):
    """RFC 8414 metadata of a tenant host."""

    issuer: str
    jwks_uri: str
    access_token_audience: str
    token_endpoint_auth_signing_alg_values_supported: list[str] = msgspec.field(default_factory=lambda: ["ES256"])


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
    async def metadata(self, request: Request[Any, Any, Any]) -> AuthorizationServerMetadata:
        tenant = current_tenant(request)
        audience = Audience.tenant(tenant.slug, tenant.dla_code, request.app.state.settings.base_domain)
        return AuthorizationServerMetadata(
            issuer=audience.issuer,
            jwks_uri=f"{audience.issuer}/.well-known/jwks.json",
            access_token_audience=audience.audience,
        )
