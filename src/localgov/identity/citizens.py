"""Citizens (ประชาชน) log in through an external OpenID Connect provider.

The provider is the national digital ID service or any OpenID Connect provider named by
``LOCALGOV_OIDC_ISSUER``. The flow is the authorization code flow with PKCE (S256), ``state``
and ``nonce``: :func:`start_login` keeps a single-use login state (the SHA-256 of ``state``, the
nonce and the PKCE verifier, ten minutes) and sends the browser to the provider;
:func:`spend_state` spends it when the browser comes back, in a transaction of its own so a
failed callback spends it too; :meth:`OidcClient.exchange_code` redeems the code and
:meth:`OidcClient.verify_id_token` checks the ID token (signature from the provider's JWKS,
issuer, audience, authorized party, expiry, nonce, an allow-listed algorithm). The citizen is
then upserted in this LAO's schema, keyed by (issuer, subject): the same person is a different
record in every LAO.

What is kept of a citizen is what the services need: the provider's subject (the key), a name
and an e-mail address when the provider gives them. Nothing of the ID token is logged: a
provider's subject may be a national ID number.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import re
import secrets
import time
import uuid
from typing import Any

import httpx2
import msgspec
import structlog
from authlib.common.security import generate_token
from authlib.integrations.base_client import OAuthError
from authlib.integrations.httpx_client import AsyncOAuth2Client
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, JWKRegistry, Key, RSAKey
from sqlalchemy import Boolean, delete, func, literal_column, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from localgov.identity.models import Citizen, OidcLoginState, RefreshToken
from localgov.identity.refresh import RefreshGrant, issue_refresh_token
from localgov.kernel.audit import Actor, Origin, record_audit
from localgov.kernel.auth.hashing import token_digest
from localgov.kernel.db import TenantRef, tenant_session
from localgov.kernel.errors import DomainError, NotFound
from localgov.settings import Settings

log = structlog.get_logger("localgov.identity.citizens")

CALLBACK_PATH = "/v1/auth/citizen/callback"
#: How long a citizen has to come back from the provider.
LOGIN_STATE_TTL_S = 600
#: Spent and expired login states are kept this long (a replay is told apart from nonsense).
LOGIN_STATE_RETENTION_S = 24 * 3600
#: ID token signature algorithms accepted; never ``none`` nor an HMAC (the secret is shared).
ID_TOKEN_ALGORITHMS = ("RS256", "ES256")
#: Clock skew tolerated between the provider and us, in seconds.
ID_TOKEN_LEEWAY_S = 60
#: Discovery document and key set are re-read after this long (a new key is also fetched at once).
PROVIDER_CACHE_TTL_S = 3600.0
HTTP_TIMEOUT_S = 10.0
#: The ``client_id`` of the access tokens issued to citizens (the citizens' web and mobile apps).
CITIZEN_CLIENT_ID = "localgov-citizen"

# A relative reference (path, query, fragment) on this host: "/" then no second "/" or "\"
# (which browsers read as another host), no scheme, no white space or control characters.
_RETURN_TO_RE = re.compile(r"^/(?![/\\])[A-Za-z0-9\-._~!$&'()*+,;=:@/%?#]*$")
_MAX_RETURN_TO = 500
_OAUTH_ERROR_RE = re.compile(r"^[a-z_]{1,64}$")
_FORBIDDEN_HEADERS = {"jku", "jwk", "x5u"}  # a token may not name its own verification key


class CitizenLoginDisabled(NotFound):
    code = "citizen_login_disabled"
    title = "Citizen login is not configured on this platform"


class InvalidReturnTo(DomainError):
    code = "invalid_return_to"
    status = 400
    title = "return_to must be a relative path on this host"


class InvalidState(DomainError):
    code = "invalid_state"
    status = 400
    title = "Unknown login state"


class LoginNotBound(InvalidState):
    code = "login_not_bound"
    title = "This login was not started in this browser"


def login_binding(secret_key: str, tenant_id: int, state: str) -> str:
    """The value of the cookie that ties a login state to the browser that started the login.

    Without it, anyone could start a login with his own account, stop at the provider's redirect
    and have a victim open that callback URL: the victim would be logged in as the attacker
    (login CSRF). The cookie is host-only, HttpOnly and SameSite=Lax, so the provider's redirect
    (a top-level GET) carries it back, and only the browser that started the login has it.
    """
    message = f"citizen-login:{tenant_id}:{state}".encode()
    return hmac.new(secret_key.encode(), message, hashlib.sha256).hexdigest()


class StateReplayed(InvalidState):
    code = "state_replayed"
    title = "This login state was already used"


class StateExpired(InvalidState):
    code = "state_expired"
    title = "This login took too long; start again"


class InvalidCallback(DomainError):
    code = "invalid_callback"
    status = 400
    title = "The provider's answer carries neither a code nor an error"


class LoginDenied(DomainError):
    code = "login_denied"
    status = 403
    title = "The identity provider did not authenticate the citizen"


class ProviderError(DomainError):
    code = "provider_error"
    status = 502
    title = "The identity provider could not be used"


class IdTokenInvalid(DomainError):
    code = "id_token_invalid"
    status = 401
    title = "The identity provider's ID token is not valid"


class CitizenNotFound(NotFound):
    code = "citizen_not_found"
    title = "No such citizen in this LAO"


def _provider_error(reason: str, **data: Any) -> ProviderError:
    log.warning("oidc_provider_error", reason=reason, **data)
    return ProviderError("The identity provider did not answer as expected.", data={"reason": reason})


def _invalid_token(reason: str, **data: Any) -> IdTokenInvalid:
    log.warning("id_token_rejected", reason=reason, **data)
    return IdTokenInvalid("The ID token was refused.", data={"reason": reason})


class ProviderMetadata(msgspec.Struct, frozen=True):
    """What this client uses of an OpenID Provider's discovery document."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    token_endpoint_auth_methods_supported: list[str] = msgspec.field(
        default_factory=lambda: ["client_secret_basic"]  # the default of OpenID Connect Discovery 1.0 §3
    )


class VerifiedIdentity(msgspec.Struct, frozen=True, kw_only=True):
    """The citizen as the provider vouched for him in a verified ID token."""

    issuer: str
    subject: str
    name: str | None
    email: str | None


class LoginState(msgspec.Struct, frozen=True, kw_only=True):
    """A spent login state: what the callback needs to finish the login."""

    nonce: str
    code_verifier: str
    return_to: str | None


class OidcClient:
    """The citizens' provider as this process sees it: discovery and keys cached with a TTL.

    One per application (see :func:`oidc_client`). The key set is fetched again at once when an
    ID token names a key it does not hold (the provider rotated its keys), once per token.
    """

    def __init__(self, settings: Settings, *, cache_ttl_s: float = PROVIDER_CACHE_TTL_S) -> None:
        self.issuer = settings.oidc_issuer
        self.client_id = settings.oidc_client_id
        self._client_secret = settings.oidc_client_secret
        self.scope = settings.oidc_scopes
        self._https_only = settings.env == "production"
        self._ttl = cache_ttl_s
        self._metadata: tuple[float, ProviderMetadata] | None = None
        self._keys: tuple[float, dict[str, Key]] | None = None
        self._lock = asyncio.Lock()

    def _http(self) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(timeout=HTTP_TIMEOUT_S, follow_redirects=False)

    def _check_url(self, url: str, what: str) -> None:
        if not url.startswith("https://") and (self._https_only or not url.startswith("http://")):
            raise _provider_error("insecure_endpoint", endpoint=what)

    async def _get_json(self, url: str, what: str) -> bytes:
        try:
            async with self._http() as http:
                response = await http.get(url, headers={"Accept": "application/json"})
        except httpx2.HTTPError as exc:
            raise _provider_error("unreachable", endpoint=what, error=type(exc).__name__) from None
        if response.status_code != 200:
            raise _provider_error("http_status", endpoint=what, status=response.status_code)
        return response.content

    async def metadata(self) -> ProviderMetadata:
        """The discovery document (OpenID Connect Discovery 1.0), re-read after the cache TTL."""
        cached = self._metadata
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        async with self._lock:
            cached = self._metadata
            if cached is not None and cached[0] > time.monotonic():
                return cached[1]
            url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
            self._check_url(url, "discovery")
            body = await self._get_json(url, "discovery")
            try:
                metadata = msgspec.json.decode(body, type=ProviderMetadata)
            except msgspec.ValidationError:
                raise _provider_error("discovery_document") from None
            if metadata.issuer != self.issuer:  # Discovery §4.3: exactly the issuer we asked
                raise _provider_error("issuer_mismatch")
            for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                self._check_url(getattr(metadata, name), name)
            self._metadata = (time.monotonic() + self._ttl, metadata)
            return metadata

    async def _load_keys(self, metadata: ProviderMetadata) -> dict[str, Key]:
        body = await self._get_json(metadata.jwks_uri, "jwks")
        try:
            document = json.loads(body)
            entries = document["keys"]
            if not isinstance(entries, list):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            raise _provider_error("jwks_document") from None
        keys: dict[str, Key] = {}
        for entry in entries:
            if not isinstance(entry, dict) or entry.get("use", "sig") != "sig" or entry.get("kty") not in ("RSA", "EC"):
                continue  # encryption keys and key types this client never verifies with
            try:
                key = JWKRegistry.import_key(entry)
            except (JoseError, ValueError, TypeError):
                continue
            keys[str(entry.get("kid", ""))] = key
        self._keys = (time.monotonic() + self._ttl, keys)
        return keys

    async def signing_key(self, kid: str) -> Key | None:
        """The provider's key named ``kid``; a kid the cached set lacks makes one fetch of the set."""
        cached = self._keys
        if cached is not None and cached[0] > time.monotonic() and kid in cached[1]:
            return cached[1][kid]
        metadata = await self.metadata()
        async with self._lock:
            current = self._keys
            if current is not cached and current is not None:
                return current[1].get(kid)  # another request fetched the set since we looked
            keys = await self._load_keys(metadata)
        return keys.get(kid)

    def _auth_method(self, metadata: ProviderMetadata) -> str:
        for method in ("client_secret_basic", "client_secret_post"):
            if method in metadata.token_endpoint_auth_methods_supported:
                return method
        raise _provider_error("no_supported_client_authentication")

    def _oauth(self, metadata: ProviderMetadata, redirect_uri: str) -> AsyncOAuth2Client:
        return AsyncOAuth2Client(
            client_id=self.client_id,
            client_secret=self._client_secret,
            token_endpoint_auth_method=self._auth_method(metadata),
            scope=self.scope,
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
            timeout=HTTP_TIMEOUT_S,
            follow_redirects=False,
        )

    async def authorization_url(self, *, redirect_uri: str, state: str, nonce: str, code_verifier: str) -> str:
        """Where to send the citizen: the provider's authorization endpoint with PKCE (S256)."""
        metadata = await self.metadata()
        async with self._oauth(metadata, redirect_uri) as oauth:
            url, _ = oauth.create_authorization_url(
                metadata.authorization_endpoint, state=state, nonce=nonce, code_verifier=code_verifier
            )
        return str(url)

    async def exchange_code(self, *, code: str, code_verifier: str, redirect_uri: str) -> str:
        """Redeem an authorization code at the token endpoint; returns the ID token."""
        metadata = await self.metadata()
        try:
            async with self._oauth(metadata, redirect_uri) as oauth:
                token = await oauth.fetch_token(
                    metadata.token_endpoint,
                    grant_type="authorization_code",
                    code=code,
                    code_verifier=code_verifier,
                    redirect_uri=redirect_uri,
                )
        except OAuthError as exc:
            error = str(exc.error) if _OAUTH_ERROR_RE.fullmatch(str(exc.error)) else "invalid"
            raise _provider_error("token_error", error=error) from None
        except (httpx2.HTTPError, ValueError) as exc:
            raise _provider_error("token_endpoint", error=type(exc).__name__) from None
        id_token = token.get("id_token")
        if not isinstance(id_token, str) or not id_token:
            raise _provider_error("no_id_token")
        return id_token

    async def verify_id_token(self, id_token: str, *, nonce: str, now: float | None = None) -> VerifiedIdentity:
        """The identity in a valid ID token (OpenID Connect Core 1.0 §3.1.3.7), else :class:`IdTokenInvalid`."""
        now = time.time() if now is None else now
        header = _header(id_token)
        alg = header.get("alg")
        if alg not in ID_TOKEN_ALGORITHMS:
            raise _invalid_token("algorithm", alg=str(alg)[:20])
        if set(header) & _FORBIDDEN_HEADERS:
            raise _invalid_token("forbidden_header", headers=sorted(set(header) & _FORBIDDEN_HEADERS))
        key = await self.signing_key(str(header.get("kid", "")))
        if key is None:
            raise _invalid_token("unknown_key")
        if not isinstance(key, RSAKey if alg == "RS256" else ECKey):
            raise _invalid_token("key_type")
        try:
            claims = jwt.decode(id_token, key, algorithms=[str(alg)]).claims
        except (JoseError, ValueError):
            raise _invalid_token("signature") from None
        return self._identity(claims, nonce=nonce, now=now)

    def _identity(self, claims: dict[str, Any], *, nonce: str, now: float) -> VerifiedIdentity:
        if claims.get("iss") != self.issuer:
            raise _invalid_token("issuer")
        aud = claims.get("aud")
        audiences = aud if isinstance(aud, list) else [aud]
        if self.client_id not in audiences:
            raise _invalid_token("audience")
        azp = claims.get("azp")
        if (azp is not None and azp != self.client_id) or (azp is None and len(audiences) > 1):
            raise _invalid_token("authorized_party")
        exp, iat = _number(claims.get("exp")), _number(claims.get("iat"))
        nbf = _number(claims.get("nbf", claims.get("iat")))
        if exp is None or iat is None or nbf is None:
            raise _invalid_token("timestamps")
        if exp + ID_TOKEN_LEEWAY_S <= now:
            raise _invalid_token("expired")
        if iat - ID_TOKEN_LEEWAY_S > now or nbf - ID_TOKEN_LEEWAY_S > now:
            raise _invalid_token("not_yet_valid")
        token_nonce = claims.get("nonce")
        if not isinstance(token_nonce, str) or not hmac.compare_digest(token_nonce.encode(), nonce.encode()):
            raise _invalid_token("nonce")
        sub = claims.get("sub")
        if not isinstance(sub, str) or not 0 < len(sub) <= 255:
            raise _invalid_token("subject")
        return VerifiedIdentity(issuer=self.issuer, subject=sub, name=_name(claims), email=_email(claims))


def _header(token: str) -> dict[str, Any]:
    segment = token.split(".", 1)[0]
    try:
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, UnicodeError, binascii.Error):
        raise _invalid_token("malformed") from None
    if not isinstance(header, dict) or token.count(".") != 2:
        raise _invalid_token("malformed")
    return header


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _name(claims: dict[str, Any]) -> str | None:
    name = claims.get("name")
    if not isinstance(name, str) or not name.strip():
        parts = [claims.get(k) for k in ("given_name", "family_name")]
        name = " ".join(p.strip() for p in parts if isinstance(p, str) and p.strip())
    return name.strip()[:300] or None


def _email(claims: dict[str, Any]) -> str | None:
    email = claims.get("email")
    if not isinstance(email, str) or "@" not in email or len(email) > 254:
        return None
    return email.strip().lower()


def oidc_client(state: Any) -> OidcClient:
    """The application's provider client (created on first use; raises when login is off)."""
    settings: Settings = state.settings
    if not settings.oidc_issuer:
        raise CitizenLoginDisabled("Citizen login needs LOCALGOV_OIDC_ISSUER; it is not set.")
    client = state.get("citizen_oidc")
    if not isinstance(client, OidcClient):
        client = OidcClient(settings)
        state.citizen_oidc = client
    return client


def callback_url(settings: Settings, tenant_slug: str) -> str:
    """This LAO's redirect URI, as registered with the provider."""
    return settings.public_url(CALLBACK_PATH, slug=tenant_slug)


def check_return_to(return_to: str | None) -> str | None:
    """A relative path on this host, or None; anything else (another host, a scheme) is refused."""
    if return_to is None:
        return None
    if len(return_to) > _MAX_RETURN_TO or not _RETURN_TO_RE.fullmatch(return_to):
        raise InvalidReturnTo(data={"reason": "not_a_relative_path"})
    return return_to


async def start_login(
    *, session: AsyncSession, client: OidcClient, redirect_uri: str, return_to: str | None
) -> tuple[str, str]:
    """Keep a new login state; return the provider's authorization URL for it, and the state."""
    return_to = check_return_to(return_to)
    state, nonce, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(32), generate_token(64)
    url = await client.authorization_url(redirect_uri=redirect_uri, state=state, nonce=nonce, code_verifier=verifier)
    now = dt.datetime.now(dt.UTC)
    await session.execute(
        delete(OidcLoginState).where(OidcLoginState.expires_at < now - dt.timedelta(seconds=LOGIN_STATE_RETENTION_S))
    )
    session.add(
        OidcLoginState(
            state_hash=token_digest(state),
            nonce=nonce,
            code_verifier=verifier,
            return_to=return_to,
            expires_at=now + dt.timedelta(seconds=LOGIN_STATE_TTL_S),
        )
    )
    await session.flush()
    return url, state


async def spend_state(sessions: async_sessionmaker[AsyncSession], tenant: TenantRef, state: str) -> LoginState:
    """Spend a login state in a transaction of its own: committed before anything else happens,
    so a state is good for one callback whatever that callback's fate."""
    now = dt.datetime.now(dt.UTC)
    digest = token_digest(state)
    async with tenant_session(sessions, tenant) as session:
        row = (
            await session.execute(
                update(OidcLoginState)
                .where(OidcLoginState.state_hash == digest, OidcLoginState.used_at.is_(None))
                .values(used_at=now)
                .returning(
                    OidcLoginState.nonce,
                    OidcLoginState.code_verifier,
                    OidcLoginState.return_to,
                    OidcLoginState.expires_at,
                )
            )
        ).one_or_none()
        known = (
            row is not None
            or (await session.execute(select(literal_column("1")).where(OidcLoginState.state_hash == digest))).first()
            is not None
        )
    if row is None:
        raise (StateReplayed() if known else InvalidState())
    if row.expires_at <= now:
        raise StateExpired(data={"ttl_s": LOGIN_STATE_TTL_S})
    return LoginState(nonce=row.nonce, code_verifier=row.code_verifier, return_to=row.return_to)


def provider_denial(error: str) -> LoginDenied:
    """The provider sent the citizen back with an RFC 6749 §4.1.2.1 error."""
    code = error if _OAUTH_ERROR_RE.fullmatch(error) else "invalid"
    return LoginDenied(data={"error": code})


async def upsert_citizen(session: AsyncSession, identity: VerifiedIdentity) -> tuple[uuid.UUID, bool]:
    """The citizen's id in this LAO, created on first login; and whether he was just created."""
    now = dt.datetime.now(dt.UTC)
    values = insert(Citizen).values(
        issuer=identity.issuer,
        subject=identity.subject,
        name=identity.name,
        email=identity.email,
        last_login_at=now,
    )
    upsert = values.on_conflict_do_update(
        index_elements=[Citizen.issuer, Citizen.subject],
        set_={
            # What the provider tells this time wins; what it did not tell is kept.
            "name": func.coalesce(values.excluded.name, Citizen.name),
            "email": func.coalesce(values.excluded.email, Citizen.email),
            "last_login_at": values.excluded.last_login_at,
        },
    )
    inserted = literal_column("(xmax = 0)", Boolean)  # PostgreSQL: the row was inserted, not updated
    citizen_id, created = (await session.execute(upsert.returning(Citizen.id, inserted))).one()
    return citizen_id, bool(created)


async def get_citizen(session: AsyncSession, subject: str) -> Citizen:
    """The citizen an access token names (in this LAO's schema)."""
    try:
        citizen_id = uuid.UUID(subject)
    except ValueError:
        raise CitizenNotFound() from None
    citizen = await session.get(Citizen, citizen_id)
    if citizen is None:
        raise CitizenNotFound()
    return citizen


async def sign_in(
    session: AsyncSession, identity: VerifiedIdentity, *, refresh_ttl_s: int, origin: Origin
) -> tuple[uuid.UUID, bool, RefreshGrant]:
    """A verified citizen's login: the citizen upserted, a refresh token issued, both audited.

    Returns the citizen's id, whether this was the first login, and the refresh grant.
    """
    citizen_id, created = await upsert_citizen(session, identity)
    refresh = await issue_refresh_token(
        session, RefreshToken, subject_kind="citizen", subject_id=citizen_id, ttl_s=refresh_ttl_s
    )
    actor, target = Actor("citizen", str(citizen_id)), f"citizen:{citizen_id}"
    await record_audit(
        session,
        "login.succeeded",
        actor=actor,
        origin=origin,
        target=target,
        data={"method": "oidc", "first_login": created},
    )
    await record_audit(
        session,
        "token.issued",
        actor=actor,
        origin=origin,
        target=target,
        data={"grant": "authorization_code", "family_id": str(refresh.family_id), "roles": []},
    )
    return citizen_id, created, refresh
