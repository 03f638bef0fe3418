"""Citizens (ประชาชน) log in through an external OpenID Connect provider (the national digital ID).

The provider is named by ``LOCALGOV_OIDC_ISSUER``. The flow is the authorization code flow with
PKCE (S256), ``state``, ``nonce`` and ``acr_values``. The login starts on the LAO's host:
:func:`start_login` keeps a single-use login state in that LAO's schema (the SHA-256 of
``state``, the nonce, the PKCE verifier, the level asked, an app's request; ten minutes) and sends
the browser to the provider with the platform's one redirect URI, on the operator host
(:data:`PROVIDER_CALLBACK_PATH`). The ``state`` names the LAO and is signed
(:func:`new_state`), so the operator host sends the browser back to the LAO's own callback
(:data:`CALLBACK_PATH`), where :func:`spend_state` spends it in a transaction of its own (a failed
callback spends it too), :meth:`OidcClient.check_response_issuer` checks RFC 9207's ``iss``,
:meth:`OidcClient.exchange_code` redeems the code (``private_key_jwt`` with the kernel's keys, or
a shared secret; a refusal is :class:`CodeRefused`, 4xx), :meth:`OidcClient.verify_id_token`
checks the ID token, :meth:`OidcClient.userinfo` reads the claims a certified provider keeps
there, and :meth:`OidcClient.identity` merges and maps them (``LOCALGOV_OIDC_CLAIMS``), keeps an
e-mail only when verified, checks the assurance level and turns a national ID into its keyed hash
and last four digits (never kept in clear). The citizen is then upserted in this LAO's schema,
keyed by (issuer, subject): the same person is a different record in every LAO.

Nothing of the ID token or userinfo is logged: they may carry a national ID number.
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
import ssl
import time
import uuid
from typing import Any
from urllib.parse import quote, urlencode

import certifi
import httpx2
import msgspec
import structlog
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import AsyncOAuth2Client
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, JWKRegistry, Key, RSAKey
from sqlalchemy import Boolean, delete, func, literal_column, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from localgov.identity.models import Citizen, CitizenLoginSettings, OidcLoginState, RefreshToken
from localgov.identity.refresh import RefreshGrant, issue_refresh_token
from localgov.kernel.audit import Actor, Origin, record_audit
from localgov.kernel.auth.hashing import token_digest
from localgov.kernel.auth.keys import KeyStore
from localgov.kernel.auth.tokens import ACR_LEVELS, acr_rank
from localgov.kernel.citizens import (
    is_national_id,
    national_id_digest,
    national_id_display,
    normalise_national_id,
)
from localgov.kernel.db import TenantRef, tenant_session
from localgov.kernel.errors import DomainError, NotFound
from localgov.settings import Settings

log = structlog.get_logger("localgov.identity.citizens")

#: The LAO host's callback: the operator host sends the browser back here with the provider's answer.
CALLBACK_PATH = "/v1/auth/citizen/callback"
#: The platform's one redirect URI, on the operator host (the base domain).
PROVIDER_CALLBACK_PATH = "/oidc/callback"
#: Where the provider sends the browser back after logout (operator host), then to the LAO.
LOGGED_OUT_PATH = "/oidc/logged-out"
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
#: A discovery document past its TTL keeps serving this long while the provider cannot be reached.
PROVIDER_STALE_S = 24 * 3600.0
HTTP_TIMEOUT_S = 10.0
#: The ``client_id`` of the access tokens issued to citizens (the citizens' web and mobile apps).
CITIZEN_CLIENT_ID = "localgov-citizen"

# A relative reference (path, query, fragment) on this host: "/" then no second "/" or "\"
# (which browsers read as another host), no scheme, no white space or control characters.
_RETURN_TO_RE = re.compile(r"^/(?![/\\])[A-Za-z0-9\-._~!$&'()*+,;=:@/%?#]*$")
_MAX_RETURN_TO = 500
_SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_OAUTH_ERROR_RE = re.compile(r"^[a-z_]{1,64}$")
_PHONE_RE = re.compile(r"^\+?[0-9 ()-]{6,20}$")
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
    title = "ผู้ให้บริการยืนยันตัวตนใช้งานไม่ได้ / The identity provider could not be used"


class CodeRefused(DomainError):
    """The provider's token endpoint refused the code (RFC 6749 §5.2): the login failed, the
    provider works. Its ``error`` is in ``data``; 401 when it refused this platform as a client."""

    code = "code_refused"
    status = 400
    title = "ผู้ให้บริการไม่รับรหัสการเข้าสู่ระบบ / The identity provider refused the authorization code"


class IssuerMismatch(DomainError):
    code = "issuer_mismatch"
    status = 400
    title = "คำตอบมาจากผู้ให้บริการอื่น / The authorization response names another issuer (RFC 9207)"


class AcrInsufficient(DomainError):
    code = "acr_insufficient"
    status = 401
    title = "ระดับการยืนยันตัวตนต่ำกว่าที่ขอ / The login's assurance level is below the one asked"


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


# -- Claim mapping and assurance levels (LOCALGOV_OIDC_CLAIMS, LOCALGOV_OIDC_ACR_LEVELS) ------------

CLAIM_FIELDS = ("name_th", "name_en", "email", "phone", "national_id")
#: Where each field is read by default: OpenID Connect Core §5.1 claims (``name#en``: the English
#: form, §5.2 language tags); no national ID claim unless configured (ThaID: ``pid``).
DEFAULT_CLAIMS: dict[str, str] = {
    "name_th": "name",
    "name_en": "name#en",
    "email": "email",
    "phone": "phone_number",
    "national_id": "",
}
_CLAIM_NAME_RE = re.compile(r"^[A-Za-z0-9_.:#/-]{1,100}$")


def claim_mapping(raw: str) -> dict[str, str]:
    """``LOCALGOV_OIDC_CLAIMS`` (``field=claim`` comma-separated) over :data:`DEFAULT_CLAIMS`."""
    out = dict(DEFAULT_CLAIMS)
    for item in raw.split(","):
        if not item.strip():
            continue
        field, sep, claim = (part.strip() for part in item.partition("="))
        if not sep or field not in CLAIM_FIELDS or (claim and not _CLAIM_NAME_RE.fullmatch(claim)):
            raise ValueError(f"LOCALGOV_OIDC_CLAIMS: {item.strip()!r} is not field=claim (fields: {CLAIM_FIELDS})")
        out[field] = claim
    return out


def acr_levels(raw: str) -> dict[str, str]:
    """``LOCALGOV_OIDC_ACR_LEVELS`` (``level=acr`` comma-separated, levels of :data:`ACR_LEVELS`)."""
    out: dict[str, str] = {}
    for item in raw.split(","):
        if not item.strip():
            continue
        level, sep, value = (part.strip() for part in item.partition("="))
        if not sep or level not in ACR_LEVELS or not value or len(value) > 200:
            raise ValueError(f"LOCALGOV_OIDC_ACR_LEVELS: {item.strip()!r} is not level=acr (levels: {ACR_LEVELS})")
        out[level] = value
    return out


class ProviderMetadata(msgspec.Struct, frozen=True):
    """What this client uses of an OpenID Provider's discovery document."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None = None
    end_session_endpoint: str | None = None
    revocation_endpoint: str | None = None
    #: RFC 9207: the provider puts ``iss`` in every authorization response.
    authorization_response_iss_parameter_supported: bool = False
    token_endpoint_auth_methods_supported: list[str] = msgspec.field(
        default_factory=lambda: ["client_secret_basic"]  # the default of OpenID Connect Discovery 1.0 §3
    )
    token_endpoint_auth_signing_alg_values_supported: list[str] | None = None


class VerifiedIdentity(msgspec.Struct, frozen=True, kw_only=True):
    """The citizen as the provider vouched for him: the verified ID token merged with userinfo.

    ``subject`` is what is stored: the provider's ``sub``, or, when that is a national ID, its
    keyed hash (``nid:<hmac>``). ``email`` is None unless the provider says it is verified.
    """

    issuer: str
    subject: str
    name: str | None
    name_en: str | None = None
    email: str | None
    phone: str | None = None
    national_id_hash: str | None = None
    national_id_last4: str | None = None
    #: The assurance level reached (:data:`ACR_LEVELS`), "" when the provider's ``acr`` maps to none.
    acr: str = ""


class LoginState(msgspec.Struct, frozen=True, kw_only=True):
    """A spent login state: what the callback needs to finish the login."""

    nonce: str
    code_verifier: str
    return_to: str | None
    acr: str | None = None
    app_client_id: str | None = None
    app_redirect_uri: str | None = None
    app_state: str | None = None
    app_code_challenge: str | None = None


class TokenSet(msgspec.Struct, frozen=True):
    """The provider's token response: the ID token, and the access token for its userinfo."""

    id_token: str
    access_token: str | None


class OidcClient:
    """The citizens' provider as this process sees it: discovery and keys cached with a TTL.

    One per application (see :func:`oidc_client`). The key set is fetched again at once when an
    ID token names a key it does not hold (the provider rotated its keys), once per token. The
    discovery document is re-read after the TTL; while the provider cannot be reached, the last
    good document keeps serving for :data:`PROVIDER_STALE_S` more.
    """

    def __init__(self, settings: Settings, *, cache_ttl_s: float = PROVIDER_CACHE_TTL_S) -> None:
        self.issuer = settings.oidc_issuer
        self.client_id = settings.oidc_client_id
        self._client_secret = settings.oidc_client_secret
        self.scope = settings.oidc_scopes
        self.claims = claim_mapping(settings.oidc_claims)
        self.acr_levels = acr_levels(settings.oidc_acr_levels)
        if settings.oidc_login_acr and settings.oidc_login_acr not in self.acr_levels:
            raise ValueError("LOCALGOV_OIDC_LOGIN_ACR must be a level of LOCALGOV_OIDC_ACR_LEVELS")
        self.login_acr = settings.oidc_login_acr
        self.auth_method = settings.oidc_client_auth
        if self.auth_method == "auto":
            self.auth_method = "client_secret_basic" if self._client_secret else "private_key_jwt"
        self._secret_key = settings.secret_key
        self._https_only = settings.env == "production"
        self._ttl = cache_ttl_s
        self._metadata: tuple[float, ProviderMetadata] | None = None
        self._keys: tuple[float, dict[str, Key]] | None = None
        self._lock = asyncio.Lock()
        self._tls: ssl.SSLContext | None = None

    def _http(self) -> httpx2.AsyncClient:
        # One TLS context for the process: building one (the CA bundle) costs tens of milliseconds.
        if self._tls is None:
            self._tls = ssl.create_default_context(cafile=certifi.where())
        return httpx2.AsyncClient(timeout=HTTP_TIMEOUT_S, follow_redirects=False, verify=self._tls)

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
            try:
                metadata = await self._discover()
            except ProviderError:
                if cached is not None and cached[0] + PROVIDER_STALE_S > time.monotonic():
                    log.warning("oidc_discovery_stale", reason="refresh_failed")
                    return cached[1]  # the provider is briefly unreachable: keep the last good document
                raise
            self._metadata = (time.monotonic() + self._ttl, metadata)
            return metadata

    async def _discover(self) -> ProviderMetadata:
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
        for name in ("userinfo_endpoint", "end_session_endpoint", "revocation_endpoint"):
            if getattr(metadata, name):
                self._check_url(getattr(metadata, name), name)
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

    def _check_auth_method(self, metadata: ProviderMetadata) -> str:
        if self.auth_method not in metadata.token_endpoint_auth_methods_supported:
            raise _provider_error("client_authentication_not_supported", method=self.auth_method)
        return self.auth_method

    def login_level(self, asked: str | None, lao_level: str | None) -> str | None:
        """The level a login asks: the highest of what the app or page asked, the LAO's minimum
        and the platform's (``LOCALGOV_OIDC_LOGIN_ACR``); None when nobody asks one."""
        levels = [lvl for lvl in (asked, lao_level, self.login_acr) if lvl]
        return max(levels, key=acr_rank) if levels else None

    def acr_values(self, level: str | None) -> str | None:
        """``acr_values`` for a login asking ``level`` (or the platform's default): that level's
        provider value then those of the levels above it, in order of preference."""
        level = level or self.login_acr
        if not level:
            # No level asked: still ask for any known one, so the provider says which was reached.
            return " ".join(self.acr_levels.values()) or None
        if level not in self.acr_levels:
            raise UnknownAcr(data={"levels": list(self.acr_levels)})
        rank = acr_rank(level)
        return " ".join(v for k, v in self.acr_levels.items() if acr_rank(k) >= rank)

    def level_of(self, acr: Any) -> str:
        """The level the provider's ``acr`` value stands for ("" for none we know)."""
        for level, value in self.acr_levels.items():
            if value == acr:
                return level
        return ""

    async def authorization_url(
        self, *, redirect_uri: str, state: str, nonce: str, code_verifier: str, acr_values: str | None = None
    ) -> str:
        """Where to send the citizen: the provider's authorization endpoint with PKCE (S256)."""
        metadata = await self.metadata()
        extra = {"acr_values": acr_values} if acr_values else {}
        async with AsyncOAuth2Client(
            client_id=self.client_id, scope=self.scope, redirect_uri=redirect_uri, code_challenge_method="S256"
        ) as oauth:
            url, _ = oauth.create_authorization_url(
                metadata.authorization_endpoint, state=state, nonce=nonce, code_verifier=code_verifier, **extra
            )
        return str(url)

    def client_assertion(self, keys: KeyStore, audience: str) -> str:
        """RFC 7523 client authentication (``private_key_jwt``): a short JWT signed with the kernel's
        current key; the provider verifies it with our JWKS (``/.well-known/jwks.json``)."""
        key = keys.signing_key()
        now = int(time.time())
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": audience,
            "jti": secrets.token_urlsafe(16),
            "iat": now,
            "exp": now + 60,
        }
        return jwt.encode({"alg": "ES256", "typ": "JWT", "kid": key.kid}, claims, key, algorithms=["ES256"])

    def _authenticate(self, metadata: ProviderMetadata, form: dict[str, str], keys: KeyStore | None) -> dict[str, str]:
        """Client authentication for a request to the provider: the form gains what the method
        needs; returns the headers."""
        method = self._check_auth_method(metadata)
        if method == "private_key_jwt":
            if keys is None:
                raise _provider_error("no_signing_keys")
            form["client_id"] = self.client_id
            form["client_assertion_type"] = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
            form["client_assertion"] = self.client_assertion(keys, metadata.token_endpoint)
            return {}
        if method == "client_secret_post":
            form["client_id"], form["client_secret"] = self.client_id, self._client_secret
            return {}
        basic = f"{quote(self.client_id, safe='')}:{quote(self._client_secret, safe='')}"
        return {"Authorization": "Basic " + base64.b64encode(basic.encode()).decode()}

    async def exchange_code(
        self, *, code: str, code_verifier: str, redirect_uri: str, keys: KeyStore | None = None
    ) -> TokenSet:
        """Redeem an authorization code at the token endpoint. A refusal (RFC 6749 §5.2) is
        :class:`CodeRefused` with the provider's ``error``; an outage is :class:`ProviderError`."""
        metadata = await self.metadata()
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": code_verifier,
            "redirect_uri": redirect_uri,
        }
        headers = {"Accept": "application/json", **self._authenticate(metadata, form, keys)}
        try:
            async with self._http() as http:
                response = await http.post(metadata.token_endpoint, data=form, headers=headers)
        except httpx2.HTTPError as exc:
            raise _provider_error("token_endpoint", error=type(exc).__name__) from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code in (400, 401) and isinstance(body, dict) and isinstance(body.get("error"), str):
            error = body["error"] if _OAUTH_ERROR_RE.fullmatch(body["error"]) else "invalid"
            log.warning("oidc_code_refused", error=error, status=response.status_code)
            status = 401 if error in ("invalid_client", "unauthorized_client") else 400
            raise CodeRefused(
                "The identity provider refused the authorization code.", status=status, data={"error": error}
            )
        if response.status_code != 200 or not isinstance(body, dict):
            raise _provider_error("token_endpoint", status=response.status_code)
        id_token, access_token = body.get("id_token"), body.get("access_token")
        if not isinstance(id_token, str) or not id_token:
            raise _provider_error("no_id_token")
        return TokenSet(id_token, access_token if isinstance(access_token, str) and access_token else None)

    async def userinfo(self, access_token: str) -> dict[str, Any]:
        """The provider's userinfo (OpenID Connect Core §5.3), as JSON; {} when it has none."""
        metadata = await self.metadata()
        if not metadata.userinfo_endpoint:
            return {}
        try:
            async with self._http() as http:
                response = await http.get(
                    metadata.userinfo_endpoint,
                    headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
                )
        except httpx2.HTTPError as exc:
            raise _provider_error("userinfo_endpoint", error=type(exc).__name__) from None
        if response.status_code != 200:
            raise _provider_error("userinfo_endpoint", status=response.status_code)
        if not response.headers.get("content-type", "").startswith("application/json"):
            raise _provider_error("userinfo_not_json")  # signed or encrypted userinfo is not asked for
        try:
            claims = response.json()
        except ValueError:
            raise _provider_error("userinfo_not_json") from None
        if not isinstance(claims, dict):
            raise _provider_error("userinfo_not_json")
        return claims

    async def end_session_url(self, *, post_logout_redirect_uri: str, state: str) -> str | None:
        """RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): where to send the browser
        so the provider ends its session too; None when the provider has no end-session endpoint."""
        metadata = await self.metadata()
        if not metadata.end_session_endpoint:
            return None
        query = urlencode(
            {"client_id": self.client_id, "post_logout_redirect_uri": post_logout_redirect_uri, "state": state}
        )
        sep = "&" if "?" in metadata.end_session_endpoint else "?"
        return f"{metadata.end_session_endpoint}{sep}{query}"

    async def check_response_issuer(self, iss: str | None) -> None:
        """RFC 9207: an authorization response's ``iss`` must be our provider's; a provider that
        announces the parameter must send it (a mix-up attack otherwise goes unseen)."""
        metadata = await self.metadata()
        if iss is None:
            if metadata.authorization_response_iss_parameter_supported:
                raise IssuerMismatch(data={"reason": "missing"})
            return
        if iss != self.issuer:
            raise IssuerMismatch(data={"reason": "mismatch"})

    async def verify_id_token(self, id_token: str, *, nonce: str, now: float | None = None) -> dict[str, Any]:
        """The claims of a valid ID token (OpenID Connect Core 1.0 §3.1.3.7), else :class:`IdTokenInvalid`."""
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
        self._check_claims(claims, nonce=nonce, now=now)
        return claims

    def _check_claims(self, claims: dict[str, Any], *, nonce: str, now: float) -> None:
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

    def identity(
        self, id_claims: dict[str, Any], userinfo: dict[str, Any], *, asked_acr: str | None
    ) -> VerifiedIdentity:
        """The citizen from a verified ID token and the userinfo (whose ``sub`` must be the ID
        token's, OpenID Connect Core §5.3.2), mapped by :data:`DEFAULT_CLAIMS` and the setting;
        the ID token's values win over userinfo's. Checks the assurance level asked, if any."""
        sub = str(id_claims["sub"])
        if userinfo and userinfo.get("sub") != sub:
            raise _invalid_token("userinfo_subject")
        claims = {**userinfo, **id_claims}
        level = self.level_of(claims.get("acr"))
        if asked_acr and acr_rank(level) < acr_rank(asked_acr):
            log.warning("citizen_login_acr_insufficient", asked=asked_acr, got=level or None)
            raise AcrInsufficient(data={"asked": asked_acr, "got": level or None})
        national_id = self._national_id(claims, sub)
        subject = sub
        nid_hash = nid_last4 = None
        if national_id is not None:
            nid_hash = national_id_digest(self._secret_key, national_id)
            nid_last4 = national_id_display(national_id)
            if is_national_id(sub):
                subject = f"nid:{nid_hash}"  # the provider's subject is the national ID: never kept in clear
        elif is_national_id(sub):
            nid_hash, nid_last4 = national_id_digest(self._secret_key, sub), national_id_display(sub)
            subject = f"nid:{nid_hash}"
        return VerifiedIdentity(
            issuer=self.issuer,
            subject=subject,
            name=_name(claims, self.claims["name_th"]),
            name_en=_text(claims.get(self.claims["name_en"])) if self.claims["name_en"] else None,
            email=_email(claims, self.claims["email"]),
            phone=_phone(claims, self.claims["phone"]),
            national_id_hash=nid_hash,
            national_id_last4=nid_last4,
            acr=level,
        )

    def _national_id(self, claims: dict[str, Any], sub: str) -> str | None:
        name = self.claims["national_id"]
        if not name:
            return None
        value = claims.get(name)
        if not isinstance(value, str | int) or isinstance(value, bool):
            return None
        digits = normalise_national_id(str(value))
        return digits if is_national_id(digits) else None


class UnknownAcr(DomainError):
    code = "unknown_acr"
    status = 400
    title = "ไม่รู้จักระดับการยืนยันตัวตนนี้ / Unknown assurance level"


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


def _text(value: Any, limit: int = 300) -> str | None:
    return value.strip()[:limit] or None if isinstance(value, str) else None


def _name(claims: dict[str, Any], claim: str) -> str | None:
    name = _text(claims.get(claim)) if claim else None
    if name is None and claim == "name":
        parts = [claims.get(k) for k in ("given_name", "family_name")]
        name = _text(" ".join(p.strip() for p in parts if isinstance(p, str) and p.strip()))
    return name


def _verified(value: Any) -> bool:
    return value is True or value == "true"


def _email(claims: dict[str, Any], claim: str) -> str | None:
    """The e-mail address when the provider says it is verified (``email_verified``), else None."""
    email = claims.get(claim) if claim else None
    if not isinstance(email, str) or "@" not in email or len(email) > 254:
        return None
    if not _verified(claims.get("email_verified")):
        return None
    return email.strip().lower()


def _phone(claims: dict[str, Any], claim: str) -> str | None:
    phone = claims.get(claim) if claim else None
    if not isinstance(phone, str) or not _PHONE_RE.fullmatch(phone.strip()):
        return None
    return phone.strip()


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


def callback_url(settings: Settings) -> str:
    """The platform's one redirect URI, on the operator host, as registered with the provider."""
    return settings.public_url(PROVIDER_CALLBACK_PATH)


def lao_callback_url(settings: Settings, tenant_slug: str) -> str:
    """Where the operator host sends the browser back: the LAO's own callback."""
    return settings.public_url(CALLBACK_PATH, slug=tenant_slug)


def check_return_to(return_to: str | None) -> str | None:
    """A relative path on this host, or None; anything else (another host, a scheme) is refused."""
    if return_to is None:
        return None
    if len(return_to) > _MAX_RETURN_TO or not _RETURN_TO_RE.fullmatch(return_to):
        raise InvalidReturnTo(data={"reason": "not_a_relative_path"})
    return return_to


def _state_mac(secret_key: str, purpose: str, slug: str, nonce: str) -> str:
    message = f"citizen-{purpose}:{slug}.{nonce}".encode()
    return hmac.new(secret_key.encode(), message, hashlib.sha256).hexdigest()[:43]


def new_state(secret_key: str, slug: str, purpose: str = "login") -> str:
    """A login's ``state``: ``<LAO slug>.<256 random bits>.<HMAC>``. The operator host's callback
    reads the LAO from it, and only a state this platform signed names one (not an open redirect)."""
    nonce = secrets.token_urlsafe(32)
    return f"{slug}.{nonce}.{_state_mac(secret_key, purpose, slug, nonce)}"


def state_lao(secret_key: str, state: str, purpose: str = "login") -> str | None:
    """The LAO slug a state this platform signed names, or None."""
    parts = state.split(".")
    if len(parts) != 3 or not _SLUG_RE.fullmatch(parts[0]) or len(state) > 1200:
        return None
    slug, nonce, mac = parts
    return slug if hmac.compare_digest(mac, _state_mac(secret_key, purpose, slug, nonce)) else None


def signed_payload(secret_key: str, slug: str, payload: str, *, purpose: str) -> str:
    """A state that carries ``payload`` (a logout's way back) for the LAO ``slug``, signed."""
    body = base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")
    return f"{slug}.{body}.{_state_mac(secret_key, purpose, slug, body)}"


def open_payload(secret_key: str, state: str, *, purpose: str) -> tuple[str, str] | None:
    """The LAO slug and the payload of a :func:`signed_payload`, or None when it is not ours."""
    slug = state_lao(secret_key, state, purpose)
    if slug is None:
        return None
    body = state.split(".")[1]
    try:
        return slug, base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
    except (ValueError, UnicodeError, binascii.Error):
        return None


def logout_target(settings: Settings, slug: str, back: str) -> str:
    """Where a logout ends: a relative path on the LAO's host, or an app's registered URI."""
    return settings.public_url(back, slug=slug) if back.startswith("/") else back


class AppRequest(msgspec.Struct, frozen=True, kw_only=True):
    """A citizens' app's authorization request, carried through the provider's login."""

    client_id: str
    redirect_uri: str
    state: str | None
    code_challenge: str


async def start_login(
    *,
    session: AsyncSession,
    client: OidcClient,
    secret_key: str,
    tenant_slug: str,
    redirect_uri: str,
    return_to: str | None,
    acr: str | None = None,
    app: AppRequest | None = None,
) -> tuple[str, str]:
    """Keep a new login state; return the provider's authorization URL for it, and the state."""
    return_to = check_return_to(return_to)
    lao_level = (await session.execute(select(CitizenLoginSettings.login_acr))).scalar_one_or_none()
    asked = client.login_level(acr, lao_level)
    acr_values = client.acr_values(asked)
    state, nonce, verifier = new_state(secret_key, tenant_slug), secrets.token_urlsafe(32), generate_token(64)
    url = await client.authorization_url(
        redirect_uri=redirect_uri, state=state, nonce=nonce, code_verifier=verifier, acr_values=acr_values
    )
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
            acr=asked,
            app_client_id=app.client_id if app else None,
            app_redirect_uri=app.redirect_uri if app else None,
            app_state=app.state if app else None,
            app_code_challenge=app.code_challenge if app else None,
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
                    OidcLoginState.acr,
                    OidcLoginState.app_client_id,
                    OidcLoginState.app_redirect_uri,
                    OidcLoginState.app_state,
                    OidcLoginState.app_code_challenge,
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
    return LoginState(
        nonce=row.nonce,
        code_verifier=row.code_verifier,
        return_to=row.return_to,
        acr=row.acr,
        app_client_id=row.app_client_id,
        app_redirect_uri=row.app_redirect_uri,
        app_state=row.app_state,
        app_code_challenge=row.app_code_challenge,
    )


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
        name_en=identity.name_en,
        email=identity.email,
        phone=identity.phone,
        national_id_hash=identity.national_id_hash,
        national_id_last4=identity.national_id_last4,
        last_login_at=now,
    )
    upsert = values.on_conflict_do_update(
        index_elements=[Citizen.issuer, Citizen.subject],
        set_={
            # What the provider tells this time wins; what it did not tell is kept.
            name: func.coalesce(getattr(values.excluded, name), getattr(Citizen, name))
            for name in ("name", "name_en", "email", "phone", "national_id_hash", "national_id_last4")
        }
        | {"last_login_at": values.excluded.last_login_at},
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
    session: AsyncSession,
    identity: VerifiedIdentity,
    *,
    refresh_ttl_s: int,
    origin: Origin,
    client_id: str = CITIZEN_CLIENT_ID,
    issue_refresh: bool = True,
) -> tuple[uuid.UUID, bool, RefreshGrant | None]:
    """A verified citizen's login: the citizen upserted, a refresh token issued, both audited.

    Returns the citizen's id, whether this was the first login, and the refresh grant (None for
    an app's login: its tokens come from the token endpoint, for the code issued here).
    """
    citizen_id, created = await upsert_citizen(session, identity)
    actor, target = Actor("citizen", str(citizen_id)), f"citizen:{citizen_id}"
    await record_audit(
        session,
        "login.succeeded",
        actor=actor,
        origin=origin,
        target=target,
        data={"method": "oidc", "first_login": created, "acr": identity.acr or None, "client_id": client_id},
    )
    if not issue_refresh:
        return citizen_id, created, None
    refresh = await issue_refresh_token(
        session,
        RefreshToken,
        subject_kind="citizen",
        subject_id=citizen_id,
        ttl_s=refresh_ttl_s,
        client_id=client_id,
        acr=identity.acr or None,
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


class LoginSettingsOut(msgspec.Struct):
    """The LAO's rule for citizens' logins, and the platform's, for reference."""

    #: Every citizen login at this LAO asks at least this level (low, substantial, high), or null.
    login_acr: str | None
    #: The platform's levels that the provider can reach (``LOCALGOV_OIDC_ACR_LEVELS``).
    levels: list[str]
    #: The platform's own minimum (``LOCALGOV_OIDC_LOGIN_ACR``), or null.
    platform_login_acr: str | None


async def login_settings(session: AsyncSession, client: OidcClient) -> LoginSettingsOut:
    level = (await session.execute(select(CitizenLoginSettings.login_acr))).scalar_one_or_none()
    return LoginSettingsOut(
        login_acr=level, levels=list(client.acr_levels), platform_login_acr=client.login_acr or None
    )


async def set_login_acr(
    session: AsyncSession, client: OidcClient, level: str | None, *, actor: Actor, origin: Origin
) -> LoginSettingsOut:
    """Set the LAO's minimum level (one the provider's levels map), or clear it with None."""
    if level is not None and level not in client.acr_levels:
        raise UnknownAcr(data={"levels": list(client.acr_levels)})
    upsert = insert(CitizenLoginSettings).values(id=1, login_acr=level)
    await session.execute(
        upsert.on_conflict_do_update(
            index_elements=[CitizenLoginSettings.id], set_={"login_acr": level, "updated_at": func.now()}
        )
    )
    await record_audit(session, "citizen_login.settings_changed", actor=actor, origin=origin, data={"login_acr": level})
    return await login_settings(session, client)
