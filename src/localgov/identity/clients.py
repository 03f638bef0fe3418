"""Integrators' API clients and the OAuth 2.0 client-credentials grant (RFC 6749 §4.4).

A tenant administrator registers a client with scopes taken from the services the LAO has
enabled. The client id is random (128 bits) and the secret (256 bits) is shown once and kept as
an argon2id hash. Rotating the secret makes the old one fail at once; disabling the client makes
its credentials fail at once. Access tokens already issued stay valid until they expire
(``LOCALGOV_ACCESS_TOKEN_TTL_S``): they are verified locally, without a database round trip.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import secrets
import uuid
from collections.abc import Iterable
from typing import Literal
from urllib.parse import unquote_plus

import msgspec
import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.identity.models import ApiClient
from localgov.kernel.audit import Actor, Origin, record_audit
from localgov.kernel.auth.hashing import hash_secret_async, verify_secret_async
from localgov.kernel.auth.revocations import revoke_access, tenant_realm
from localgov.kernel.db import session_tenant_id
from localgov.kernel.errors import DomainError, NotFound
from localgov.kernel.pagination import after_key
from localgov.kernel.plugins import Scope, ServicePlugin
from localgov.kernel.webhooks import SCOPES as KERNEL_SCOPES

log = structlog.get_logger("localgov.identity.clients")

CLIENT_ID_PREFIX = "lgc_"
SECRET_PREFIX = "lgs_"  # noqa: S105 (a prefix, not a secret)
GRANT_TYPE = "client_credentials"
AUTH_METHODS = ("client_secret_basic", "client_secret_post")
_MAX_CLIENT_ID = 64
_MAX_SECRET = 256


class UnknownScope(DomainError):
    code = "unknown_scope"
    status = 422  # a scope of the right form the LAO's enabled services do not offer (a business rule)
    title = "A scope is not offered by this LAO's enabled services"


class ApiClientNotFound(NotFound):
    code = "api_client_not_found"
    title = "No such API client in this LAO"


OAuthErrorCode = Literal[
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
]


class OAuthError(DomainError):
    """An RFC 6749 §5.2 token-endpoint error; ``code`` is the RFC's ``error`` value."""

    status = 400

    def __init__(self, error: OAuthErrorCode, description: str, *, status: int = 400) -> None:
        super().__init__(description, code=error, status=status, title=_OAUTH_TITLES[error])
        self.error: OAuthErrorCode = error
        if error == "invalid_client":
            # RFC 6749 §5.2: a 401 names the authentication scheme the client may use.
            self.headers = {"WWW-Authenticate": 'Basic realm="oauth", charset="UTF-8"'}


_OAUTH_TITLES: dict[str, str] = {
    "invalid_request": "The token request is malformed",
    "invalid_client": "Client authentication failed",
    "invalid_grant": "The grant is not valid",
    "unauthorized_client": "The client may not use this grant type",
    "unsupported_grant_type": "Unsupported grant type",
    "invalid_scope": "The requested scope is not valid",
}


def new_client_id() -> str:
    """A random, unguessable client id (128 bits), URL- and Basic-auth-safe."""
    return CLIENT_ID_PREFIX + secrets.token_urlsafe(16)


def new_client_secret() -> str:
    """A random client secret (256 bits); the prefix lets secret scanners recognise a leak."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def enabled_scopes(plugins: Iterable[ServicePlugin], enabled_services: Iterable[str]) -> dict[str, Scope]:
    """The scopes an API client of a tenant may hold: the kernel's (webhooks) and those of the
    services it has enabled."""
    enabled = set(enabled_services)
    return {**{s.code: s for s in KERNEL_SCOPES}, **{s.code: s for p in plugins if p.slug in enabled for s in p.scopes}}


def _check_scopes(requested: Iterable[str], available: dict[str, Scope]) -> list[str]:
    scopes = sorted(set(requested))
    unknown = [s for s in scopes if s not in available]
    if unknown:
        raise UnknownScope(
            f"Not offered by the services this LAO has enabled: {', '.join(unknown)}.",
            data={"unknown": unknown, "available": sorted(available)},
        )
    return scopes


async def create_client(
    session: AsyncSession,
    *,
    name: str,
    scopes: Iterable[str],
    available: dict[str, Scope],
    actor: Actor,
    origin: Origin,
) -> tuple[ApiClient, str]:
    """Register a client (audited); returns it and its secret (the only time the secret exists in clear)."""
    granted = _check_scopes(scopes, available)
    secret = new_client_secret()
    client = ApiClient(
        client_id=new_client_id(),
        name=name,
        secret_hash=await hash_secret_async(secret),
        scopes=granted,
        status="active",
        created_by=_uuid_or_none(actor.id or ""),
    )
    session.add(client)
    await session.flush()
    await session.refresh(client)
    await record_audit(
        session,
        "api_client.created",
        actor=actor,
        origin=origin,
        target=client.client_id,
        data={"name": client.name, "scopes": sorted(client.scopes)},
    )
    return client, secret


def _uuid_or_none(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


async def list_clients(
    session: AsyncSession, *, after: tuple[dt.datetime, uuid.UUID] | None = None, limit: int = 500
) -> list[ApiClient]:
    """Oldest first, then id (index on (created_at, id)); ``after``: the (created_at, id) of the last
    client of the previous page."""
    query = select(ApiClient).order_by(ApiClient.created_at, ApiClient.id).limit(limit)
    if after is not None:
        query = query.where(after_key([ApiClient.created_at, ApiClient.id], after))
    return list((await session.execute(query)).scalars())


async def get_client(session: AsyncSession, client_id: str, *, for_update: bool = False) -> ApiClient:
    query = select(ApiClient).where(ApiClient.client_id == client_id)
    if for_update:
        query = query.with_for_update()
    client = (await session.execute(query)).scalar_one_or_none()
    if client is None:
        raise ApiClientNotFound(data={"client_id": client_id[:_MAX_CLIENT_ID]})
    return client


async def rotate_secret(
    session: AsyncSession, client_id: str, *, actor: Actor, origin: Origin
) -> tuple[ApiClient, str]:
    """A new secret for an active client (audited); the old one fails from the commit on."""
    client = await get_client(session, client_id, for_update=True)
    if client.status != "active":
        raise DomainError(
            "A disabled client cannot get a new secret.", code="api_client_disabled", status=409, title="Conflict"
        )
    secret = new_client_secret()
    client.secret_hash = await hash_secret_async(secret)
    client.rotated_at = dt.datetime.now(dt.UTC)
    await session.flush()
    await record_audit(session, "api_client.rotated", actor=actor, origin=origin, target=client_id)
    return client, secret


async def disable_client(
    session: AsyncSession, client_id: str, *, actor: Actor, origin: Origin
) -> tuple[ApiClient, bool]:
    """Disable a client (idempotent, audited once); returns it and whether this call changed it."""
    client = await get_client(session, client_id, for_update=True)
    if client.status == "disabled":
        return client, False
    client.status = "disabled"
    await session.flush()
    # Its access tokens in hand are refused at once by every process (kernel.auth.revocations).
    await revoke_access(session, realm=tenant_realm(session_tenant_id(session)), kind="client", subject=client_id)
    await record_audit(session, "api_client.disabled", actor=actor, origin=origin, target=client_id)
    return client, True


async def record_token_issued(
    session: AsyncSession, client: ApiClient, *, scopes: Iterable[str], method: str, origin: Origin
) -> None:
    """Audit an access token granted to ``client`` by the token endpoint."""
    await record_audit(
        session,
        "token.issued",
        actor=Actor("client", client.client_id),
        origin=origin,
        target=client.client_id,
        data={"grant_type": GRANT_TYPE, "scopes": list(scopes), "method": method},
    )


# --- the token endpoint ------------------------------------------------------------------------------


class ClientCredentials(msgspec.Struct, frozen=True):
    client_id: str
    secret: str
    method: str


def client_credentials(authorization: str | None, body_id: str | None, body_secret: str | None) -> ClientCredentials:
    """The client's credentials from HTTP Basic (RFC 6749 §2.3.1) or from the form body.

    Basic credentials are the form-urlencoded id and secret joined by a colon. Using both
    methods in one request is refused, as is a client id without a secret (no public clients).
    """
    basic: ClientCredentials | None = None
    if authorization is not None:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() != "basic":
            raise OAuthError("invalid_client", "Authenticate with HTTP Basic or client_id/client_secret.", status=401)
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise OAuthError("invalid_client", "Malformed Basic credentials.", status=401) from None
        raw_id, colon, raw_secret = decoded.partition(":")
        if not colon:
            raise OAuthError("invalid_client", "Malformed Basic credentials.", status=401)
        basic = ClientCredentials(unquote_plus(raw_id), unquote_plus(raw_secret), "client_secret_basic")
    if basic is not None:
        # A client_id repeated in the body is tolerated; a second secret is a second method.
        if body_secret is not None or (body_id is not None and body_id != basic.client_id):
            raise OAuthError("invalid_request", "Use one client authentication method, not two.")
        return basic
    if not body_id or not body_secret:
        raise OAuthError("invalid_client", "Client authentication is required.", status=401)
    return ClientCredentials(body_id, body_secret, "client_secret_post")


async def authenticate_client(session: AsyncSession, credentials: ClientCredentials) -> tuple[ApiClient | None, str]:
    """The active client these credentials prove, or None and why not.

    Every path costs one argon2 verification (an unknown id verifies against a dummy hash), so
    the response time does not tell whether a client id exists in this LAO.
    """
    client: ApiClient | None = None
    if 0 < len(credentials.client_id) <= _MAX_CLIENT_ID and len(credentials.secret) <= _MAX_SECRET:
        client = (
            await session.execute(select(ApiClient).where(ApiClient.client_id == credentials.client_id))
        ).scalar_one_or_none()
    ok = await verify_secret_async(client.secret_hash if client else None, credentials.secret[:_MAX_SECRET])
    if client is None:
        return None, "unknown_client"
    if not ok:
        return None, "wrong_secret"
    if client.status != "active":
        return None, "disabled"
    return client, "ok"


def granted_scopes(client: ApiClient, available: dict[str, Scope], requested: str | None) -> list[str]:
    """The scopes of the token: the requested subset of the client's (still offered) scopes."""
    held = {s for s in client.scopes if s in available}
    if requested is None or not requested.strip():
        if not held:
            raise OAuthError("invalid_scope", "None of this client's scopes is offered by the LAO any more.")
        return sorted(held)
    wanted = set(requested.split())
    refused = sorted(wanted - held)
    if refused:
        raise OAuthError("invalid_scope", f"Not granted to this client: {' '.join(refused)}.")
    return sorted(wanted)
