"""Citizens' apps: the platform as an OAuth 2.0 authorization server for an LAO's web and mobile apps.

An LAO's administrator registers an app (a *public* client: an app in a browser or on a phone
cannot keep a secret) with its exact redirect URIs: ``https://`` pages for web apps; for mobile
apps a private-use URI scheme (RFC 8252 §7.1, ``th.go.example.app:/callback``), a claimed
``https://`` link, or a loopback address. The app sends the citizen to ``GET /oauth/authorize``
(authorization code, PKCE with S256 only, RFC 9700); the citizen logs in at the national digital
ID as any citizen does, and comes back to the app's redirect URI with a single-use code (60 s)
that ``POST /oauth/token`` exchanges, with the PKCE verifier, for this LAO's access token and a
refresh token. Refresh tokens rotate on every use and a reused one revokes its whole login; a
code presented twice revokes what it was exchanged for. ``POST /oauth/revoke`` (RFC 7009) ends a
login. Redirect URIs are compared exactly: no wildcard, no prefix, no port left free.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re
import secrets
import uuid
from urllib.parse import urlencode, urlsplit

import msgspec
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.identity.clients import OAuthError
from localgov.identity.models import (
    AppKind,
    CitizenApp,
    CitizenAuthCode,
    ClientStatus,
    PlatformCitizenApp,
    RefreshToken,
)
from localgov.identity.refresh import (
    RefreshGrant,
    ReusedRefreshToken,
    issue_refresh_token,
    revoke_family,
    rotate_refresh_token,
)
from localgov.kernel.audit import Actor, Origin, record_audit
from localgov.kernel.auth.hashing import token_digest
from localgov.kernel.auth.tokens import Unauthenticated
from localgov.kernel.errors import DomainError, NotFound
from localgov.kernel.pagination import after_key

APP_ID_PREFIX = "lga_"
#: The operator's apps (``platform.citizen_apps``), valid at every LAO.
PLATFORM_APP_ID_PREFIX = "lgp_"
AppRow = CitizenApp | PlatformCitizenApp


def is_app_client(client_id: str | None) -> bool:
    """Whether ``client_id`` names a citizens' app (an LAO's or the operator's)."""
    return bool(client_id) and str(client_id).startswith((APP_ID_PREFIX, PLATFORM_APP_ID_PREFIX))


CODE_TTL_S = 60
MAX_REDIRECT_URIS = 10
_CHALLENGE_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")
_VERIFIER_RE = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")
#: RFC 8252 §7.1: a private-use scheme is a reversed domain name (it has a dot).
_PRIVATE_SCHEME_RE = re.compile(r"^[a-z][a-z0-9+-]*(\.[a-z0-9+-]+)+$")
_LOOPBACK = {"127.0.0.1", "[::1]", "localhost"}


class CitizenAppNotFound(NotFound):
    code = "citizen_app_not_found"
    title = "ไม่พบแอปนี้ / No such citizens' app in this LAO"


class InvalidRedirectUri(DomainError):
    code = "invalid_redirect_uri"
    status = 400
    title = "ที่อยู่สำหรับส่งกลับไม่ถูกต้อง / A redirect URI is not allowed"


class RedirectUriNotAllowed(DomainError):
    """A well-formed URI the app's kind may not register (a web app: https, http for loopback or
    outside production; a native app also a private-use scheme, RFC 8252): a rule between two
    members and the platform's setting, so 422, not the document's 400."""

    code = "redirect_uri_not_allowed"
    status = 422
    title = "แอปประเภทนี้ใช้ที่อยู่สำหรับส่งกลับนี้ไม่ได้ / This kind of app may not use this redirect URI"


class AuthorizationRefused(DomainError):
    """An authorization request we cannot redirect back (unknown app, unregistered redirect URI):
    answered here, never sent to a URI nobody registered (RFC 6749 §4.1.2.1)."""

    code = "invalid_authorization_request"
    status = 400
    title = "คำขอสิทธิ์ไม่ถูกต้อง / The authorization request is not valid"


def check_redirect_uri(uri: str, kind: str, *, https_only: bool) -> str:
    """A redirect URI an app of ``kind`` may register (else :class:`InvalidRedirectUri`)."""
    if len(uri) > 500 or any(c.isspace() for c in uri) or "#" in uri:
        raise InvalidRedirectUri(data={"uri": uri[:100], "reason": "malformed"})
    parts = urlsplit(uri)
    scheme, host = parts.scheme.lower(), (parts.hostname or "")
    if scheme == "https" and host:
        return uri
    loopback = scheme == "http" and parts.netloc.split(":")[0] in _LOOPBACK
    if scheme == "http" and (loopback or (not https_only and host)):
        return uri
    if kind == "native" and _PRIVATE_SCHEME_RE.fullmatch(scheme) and not parts.netloc:
        return uri
    raise RedirectUriNotAllowed(data={"uri": uri[:100], "reason": "scheme"})


class AppOut(msgspec.Struct):
    """A citizens' app as its LAO registered it (a public client: it has no secret)."""

    client_id: str
    name: str
    kind: AppKind
    redirect_uris: list[str]
    post_logout_redirect_uris: list[str]
    status: ClientStatus
    created_at: dt.datetime


def app_out(row: AppRow) -> AppOut:
    return AppOut(
        client_id=row.client_id,
        name=row.name,
        kind=row.kind,
        redirect_uris=list(row.redirect_uris),
        post_logout_redirect_uris=list(row.post_logout_redirect_uris),
        status=row.status,
        created_at=row.created_at,
    )


async def register_app(
    session: AsyncSession,
    *,
    name: str,
    kind: str,
    redirect_uris: list[str],
    post_logout_redirect_uris: list[str],
    https_only: bool,
    actor: Actor,
    origin: Origin,
    platform: bool = False,
) -> AppRow:
    """Register an LAO's app (in its schema), or with ``platform`` the operator's (every LAO)."""
    uris = [check_redirect_uri(u, kind, https_only=https_only) for u in redirect_uris]
    logout_uris = [check_redirect_uri(u, kind, https_only=https_only) for u in post_logout_redirect_uris]
    model: type[AppRow] = PlatformCitizenApp if platform else CitizenApp
    row = model(
        client_id=(PLATFORM_APP_ID_PREFIX if platform else APP_ID_PREFIX) + secrets.token_urlsafe(16),
        name=name.strip(),
        kind=kind,
        redirect_uris=sorted(set(uris)),
        post_logout_redirect_uris=sorted(set(logout_uris)),
    )
    session.add(row)
    await session.flush()
    await session.refresh(row)
    await record_audit(
        session,
        "citizen_app.registered",
        actor=actor,
        origin=origin,
        target=f"citizen_app:{row.client_id}",
        data={"kind": kind, "redirect_uris": row.redirect_uris},
        operator=platform,
    )
    return row


async def find_app(session: AsyncSession, client_id: str, *, active: bool = True) -> AppRow | None:
    """An app usable at the session's LAO: its own (``lga_…``) or the operator's (``lgp_…``)."""
    row: AppRow | None
    if client_id.startswith(PLATFORM_APP_ID_PREFIX):
        query = select(PlatformCitizenApp).where(PlatformCitizenApp.client_id == client_id)
        row = (await session.execute(query)).scalar_one_or_none()
    else:
        row = (await session.execute(select(CitizenApp).where(CitizenApp.client_id == client_id))).scalar_one_or_none()
    if row is None or (active and row.status != "active"):
        return None
    return row


async def get_app(session: AsyncSession, client_id: str, *, platform: bool = False) -> AppRow:
    """An LAO's own app (or with ``platform`` the operator's), active or not."""
    if client_id.startswith(PLATFORM_APP_ID_PREFIX) != platform:
        raise CitizenAppNotFound()
    row = await find_app(session, client_id, active=False)
    if row is None:
        raise CitizenAppNotFound()
    return row


async def list_apps(
    session: AsyncSession,
    *,
    platform: bool = False,
    after: tuple[dt.datetime, uuid.UUID] | None = None,
    limit: int = 500,
) -> list[AppRow]:
    """Oldest first, then id (index on (created_at, id)); ``after``: the (created_at, id) of the
    last app of the previous page."""
    if platform:
        shared = select(PlatformCitizenApp).order_by(PlatformCitizenApp.created_at, PlatformCitizenApp.id)
        if after is not None:
            shared = shared.where(after_key([PlatformCitizenApp.created_at, PlatformCitizenApp.id], after))
        return list((await session.execute(shared.limit(limit))).scalars())
    query = select(CitizenApp).order_by(CitizenApp.created_at, CitizenApp.id)
    if after is not None:
        query = query.where(after_key([CitizenApp.created_at, CitizenApp.id], after))
    return list((await session.execute(query.limit(limit))).scalars())


async def disable_app(
    session: AsyncSession, client_id: str, *, actor: Actor, origin: Origin, platform: bool = False
) -> AppRow:
    """Its codes and refresh tokens stop working at once (every grant checks the app is active;
    an LAO's app's refresh tokens are also revoked); access tokens in hand expire."""
    row = await get_app(session, client_id, platform=platform)
    if row.status != "disabled":
        row.status = "disabled"
        now = dt.datetime.now(dt.UTC)
        if not platform:
            await session.execute(
                update(RefreshToken)
                .where(RefreshToken.client_id == client_id, RefreshToken.revoked_at.is_(None))
                .values(revoked_at=now)
            )
        await record_audit(
            session,
            "citizen_app.disabled",
            actor=actor,
            origin=origin,
            target=f"citizen_app:{client_id}",
            operator=platform,
        )
    return row


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).decode().rstrip("=")


class AuthorizeParams(msgspec.Struct, frozen=True, kw_only=True):
    response_type: str | None
    client_id: str | None
    redirect_uri: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    state: str | None


async def check_authorization_request(session: AsyncSession, params: AuthorizeParams) -> tuple[str, str | None]:
    """The app's redirect URI and the error to send it (None: go on to the login).

    An unknown or disabled app, or a redirect URI it did not register, is refused here
    (:class:`AuthorizationRefused`): a request we cannot trust is never redirected.
    """
    app = await find_app(session, params.client_id or "") if params.client_id else None
    if app is None:
        raise AuthorizationRefused(data={"reason": "unknown_client"})
    if not params.redirect_uri or params.redirect_uri not in app.redirect_uris:
        raise AuthorizationRefused(data={"reason": "redirect_uri"})
    if params.response_type != "code":
        return params.redirect_uri, "unsupported_response_type"
    if params.code_challenge_method != "S256" or not _CHALLENGE_RE.fullmatch(params.code_challenge or ""):
        return params.redirect_uri, "invalid_request"  # PKCE with S256 is required (no "plain")
    return params.redirect_uri, None


def redirect_with(uri: str, **params: str | None) -> str:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return f"{uri}{'&' if '?' in uri else '?'}{query}"


async def issue_code(
    session: AsyncSession,
    *,
    client_id: str,
    redirect_uri: str,
    code_challenge: str,
    citizen_id: uuid.UUID,
    acr: str | None,
) -> str:
    code = secrets.token_urlsafe(32)
    session.add(
        CitizenAuthCode(
            code_hash=token_digest(code),
            client_id=client_id,
            redirect_uri=redirect_uri,
            code_challenge=code_challenge,
            citizen_id=citizen_id,
            acr=acr,
            expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=CODE_TTL_S),
        )
    )
    await session.flush()
    return code


class AppTokens(msgspec.Struct, frozen=True):
    citizen_id: uuid.UUID
    acr: str | None
    refresh: RefreshGrant


async def redeem_code(
    session: AsyncSession,
    *,
    client_id: str | None,
    code: str | None,
    redirect_uri: str | None,
    code_verifier: str | None,
    refresh_ttl_s: int,
    origin: Origin,
) -> AppTokens:
    """RFC 6749 §4.1.3 with RFC 7636: the code's app, redirect URI and PKCE verifier must match."""
    if not client_id or not code or not redirect_uri or not code_verifier:
        raise OAuthError("invalid_request", "client_id, code, redirect_uri and code_verifier are required.")
    if await find_app(session, client_id) is None:
        raise OAuthError("invalid_client", "Unknown or disabled app.", status=401)
    now = dt.datetime.now(dt.UTC)
    row = (
        await session.execute(
            select(CitizenAuthCode).where(CitizenAuthCode.code_hash == token_digest(code)).with_for_update()
        )
    ).scalar_one_or_none()
    if row is None or row.client_id != client_id:
        raise OAuthError("invalid_grant", "Unknown authorization code.")
    if row.used_at is not None:
        # RFC 6749 §4.1.2: a code used twice was stolen; what it gave is revoked.
        if row.family_id is not None:
            await revoke_family(session, RefreshToken, row.family_id)
        await record_audit(
            session,
            "token.refused",
            actor=Actor("citizen", str(row.citizen_id)),
            origin=origin,
            target=f"citizen:{row.citizen_id}",
            data={"reason": "code_reused", "client_id": client_id},
        )
        raise OAuthError("invalid_grant", "This authorization code was already used.").keeping_changes()
    row.used_at = now  # spent whatever happens next (the refusals below keep this change)
    if row.expires_at <= now:
        raise OAuthError("invalid_grant", "The authorization code has expired.").keeping_changes()
    if row.redirect_uri != redirect_uri:
        raise OAuthError("invalid_grant", "redirect_uri differs from the authorization request's.").keeping_changes()
    if not _VERIFIER_RE.fullmatch(code_verifier) or not hmac.compare_digest(s256(code_verifier), row.code_challenge):
        raise OAuthError("invalid_grant", "The PKCE code_verifier does not match.").keeping_changes()
    refresh = await issue_refresh_token(
        session,
        RefreshToken,
        subject_kind="citizen",
        subject_id=row.citizen_id,
        ttl_s=refresh_ttl_s,
        client_id=client_id,
        acr=row.acr,
    )
    row.family_id = refresh.family_id
    await record_audit(
        session,
        "token.issued",
        actor=Actor("citizen", str(row.citizen_id)),
        origin=origin,
        target=f"citizen:{row.citizen_id}",
        data={"grant": "authorization_code", "client_id": client_id, "family_id": str(refresh.family_id)},
    )
    return AppTokens(row.citizen_id, row.acr, refresh)


async def refresh_app_tokens(
    session: AsyncSession, *, client_id: str | None, refresh_token: str | None, refresh_ttl_s: int
) -> AppTokens:
    """RFC 6749 §6 for a public client: the token must be this app's; it rotates."""
    if not client_id or not refresh_token:
        raise OAuthError("invalid_request", "client_id and refresh_token are required.")
    if await find_app(session, client_id) is None:
        raise OAuthError("invalid_client", "Unknown or disabled app.", status=401)
    owner = (
        await session.execute(
            select(RefreshToken.client_id).where(RefreshToken.token_hash == token_digest(refresh_token))
        )
    ).scalar_one_or_none()
    if owner != client_id:
        raise OAuthError("invalid_grant", "Unknown refresh token.")
    try:
        grant = await rotate_refresh_token(session, RefreshToken, refresh_token, ttl_s=refresh_ttl_s)
    except ReusedRefreshToken:
        raise OAuthError(
            "invalid_grant", "This refresh token was already used; the whole login is revoked."
        ).keeping_changes() from None
    except Unauthenticated as exc:
        raise OAuthError("invalid_grant", exc.detail or "The refresh token is not valid.") from None
    return AppTokens(grant.subject_id, grant.acr, grant)


async def revoke(session: AsyncSession, *, client_id: str | None, token: str | None) -> None:
    """RFC 7009: revoke the login (refresh-token family) of ``token``; unknown tokens are fine."""
    if not client_id or not token:
        raise OAuthError("invalid_request", "client_id and token are required.")
    row = (
        await session.execute(select(RefreshToken).where(RefreshToken.token_hash == token_digest(token)))
    ).scalar_one_or_none()
    if row is not None and row.client_id == client_id:
        await revoke_family(session, RefreshToken, row.family_id)
