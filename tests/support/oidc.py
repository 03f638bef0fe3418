"""A minimal but real OpenID Connect provider for the tests, served by uvicorn on 127.0.0.1.

It speaks the protocol over real HTTP: discovery, JWKS, an authorization endpoint with a login
form that issues a single-use code bound to the client, the redirect URI, the PKCE challenge
(S256 only, required) and the nonce, and a token endpoint that authenticates the client
(``client_secret_basic`` or ``client_secret_post``), checks the ``code_verifier`` and returns an
RS256 ID token. Redirect URIs must be registered (:meth:`TestProvider.allow_redirect`).

The PyPI package ``oidc-provider-mock`` was tried first. Its releases that run on Python 3.11
(0.3.x; 0.4 needs 3.12) do not check PKCE at all (a wrong ``code_verifier`` still gets tokens),
and with Authlib 1.9 its token endpoint raises deprecation warnings that this suite turns into
errors (a 500). A provider that ignores PKCE cannot show that our client does PKCE right.

For the negative tests the provider can misbehave on purpose (:meth:`TestProvider.misbehaving`):
other claims or header members, another signing key or algorithm, or a token altered after
signing — what a compromised or broken provider, or a man in the middle, would send.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import secrets
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlencode

import httpx
import uvicorn
from joserfc import jwt
from joserfc.jwk import ECKey, Key, RSAKey
from litestar import Litestar, Request, Response, get, post
from litestar.enums import MediaType
from litestar.response import Redirect

#: A claim given this value in :class:`Misbehaviour` is left out of the ID token.
DROP = object()
CODE_TTL_S = 60
ID_TOKEN_TTL_S = 300
_SCOPE_CLAIMS = {
    "profile": ("name", "given_name", "family_name"),
    "email": ("email", "email_verified"),
}
_STANDARD = {claim for claims in _SCOPE_CLAIMS.values() for claim in claims}


@dataclass(frozen=True)
class User:
    sub: str
    password: str
    claims: dict[str, Any] = field(default_factory=dict)


@dataclass
class Misbehaviour:
    """How the next ID tokens differ from a correct one."""

    claims: dict[str, Any] = field(default_factory=dict)
    header: dict[str, Any] = field(default_factory=dict)
    #: Sign with this key (its ``kid`` goes into the header) instead of the provider's current key.
    key: Key | None = None
    #: ``none``: unsigned; ``HS256``: an HMAC keyed with the provider's public key (PEM).
    alg: str | None = None
    #: Applied to the signed token (flip a byte, swap the payload …).
    tamper: Callable[[str], str] | None = None


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    sub: str
    scope: str
    nonce: str | None
    challenge: str
    auth_time: int
    expires_at: float
    used: bool = False


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def s256(verifier: str) -> str:
    return _b64(hashlib.sha256(verifier.encode("ascii")).digest())


def new_rsa_key(kid: str | None = None) -> RSAKey:
    kid = kid or secrets.token_hex(8)
    return RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"}, private=True)


def new_ec_key(kid: str | None = None) -> ECKey:
    kid = kid or secrets.token_hex(8)
    return ECKey.generate_key("P-256", parameters={"kid": kid, "use": "sig", "alg": "ES256"}, private=True)


class TestProvider:
    """One OpenID Provider with one confidential client; start with :func:`running_provider`."""

    __test__ = False  # not a pytest test class

    def __init__(self, *, client_id: str = "localgov-tests") -> None:
        self.client_id = client_id
        self.client_secret = secrets.token_urlsafe(24)
        self.signing_key: Key = new_rsa_key()
        self.published: list[Key] = [self.signing_key]
        self.users: dict[str, User] = {}
        self.redirect_uris: set[str] = set()
        #: Requests served, by path (to see what a client cached).
        self.hits: Counter[str] = Counter()
        self.misbehaviour: Misbehaviour | None = None
        self.issuer = ""
        self._codes: dict[str, _Code] = {}
        self._lock = threading.Lock()

    # -- what the tests arrange -------------------------------------------------------------

    def add_user(self, sub: str, **claims: Any) -> User:
        user = User(sub=sub, password=secrets.token_urlsafe(12), claims=claims)
        self.users[sub] = user
        return user

    def allow_redirect(self, uri: str) -> None:
        self.redirect_uris.add(uri)

    def publish(self, key: Key) -> None:
        self.published.append(key)

    def rotate(self) -> Key:
        """A new signing key, published at once; the old one stays published."""
        self.signing_key = new_rsa_key()
        self.publish(self.signing_key)
        return self.signing_key

    @contextmanager
    def misbehaving(self, **how: Any) -> Iterator[Misbehaviour]:
        self.misbehaviour = Misbehaviour(**how)
        try:
            yield self.misbehaviour
        finally:
            self.misbehaviour = None

    # -- the protocol -----------------------------------------------------------------------

    def _discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256", "ES256"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "scopes_supported": ["openid", "profile", "email"],
        }

    def _jwks(self) -> dict[str, Any]:
        return {"keys": [key.as_dict(private=False) for key in self.published]}

    def _check_authorization_request(self, params: dict[str, str]) -> tuple[str | None, Response[Any] | None]:
        """The redirect URI to answer to, or an error page (never redirect to an unknown URI)."""
        if params.get("client_id") != self.client_id:
            return None, _page("Unknown client", 400)
        redirect_uri = params.get("redirect_uri", "")
        if redirect_uri not in self.redirect_uris:
            return None, _page("Unregistered redirect_uri", 400)
        error = None
        if params.get("response_type") != "code":
            error = "unsupported_response_type"
        elif "openid" not in params.get("scope", "").split():
            error = "invalid_scope"
        elif params.get("code_challenge_method") != "S256" or not params.get("code_challenge"):
            error = "invalid_request"  # PKCE with S256 is required
        if error:
            return redirect_uri, Redirect(_with_query(redirect_uri, error=error, state=params.get("state")))
        return redirect_uri, None

    def _authorize_page(self, params: dict[str, str]) -> Response[Any]:
        _, refusal = self._check_authorization_request(params)
        if refusal is not None:
            return refusal
        return _page(
            '<form method="post"><input name="username"><input name="password" type="password">'
            '<button name="action" value="approve">Log in</button>'
            '<button name="action" value="deny">Cancel</button></form>',
            200,
        )

    def _authorize(self, params: dict[str, str], form: dict[str, str]) -> Response[Any]:
        redirect_uri, refusal = self._check_authorization_request(params)
        if refusal is not None or redirect_uri is None:
            return refusal or _page("Bad request", 400)
        state = params.get("state")
        if form.get("action") == "deny":
            return Redirect(_with_query(redirect_uri, error="access_denied", state=state))
        user = self.users.get(form.get("username", ""))
        if user is None or not hmac.compare_digest(user.password, form.get("password", "")):
            return _page("Wrong user name or password", 401)
        code = secrets.token_urlsafe(32)
        with self._lock:
            self._codes[code] = _Code(
                client_id=self.client_id,
                redirect_uri=redirect_uri,
                sub=user.sub,
                scope=params.get("scope", ""),
                nonce=params.get("nonce"),
                challenge=params["code_challenge"],
                auth_time=int(time.time()),
                expires_at=time.time() + CODE_TTL_S,
            )
        return Redirect(_with_query(redirect_uri, code=code, state=state))

    def _client_auth(self, authorization: str | None, form: dict[str, str]) -> str | None:
        """The authenticated client id, or None (RFC 6749 §2.3.1, Basic or in the form, not both)."""
        if authorization and authorization.lower().startswith("basic "):
            if "client_secret" in form:
                return None
            try:
                decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
            except ValueError:
                return None
            client_id, _, secret = decoded.partition(":")
            client_id, secret = unquote(client_id), unquote(secret)
        else:
            client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        if client_id == self.client_id and hmac.compare_digest(secret, self.client_secret):
            return client_id
        return None

    def _token(self, authorization: str | None, form: dict[str, str]) -> Response[Any]:
        client_id = self._client_auth(authorization, form)
        if client_id is None:
            return _oauth_error("invalid_client", 401)
        if form.get("grant_type") != "authorization_code":
            return _oauth_error("unsupported_grant_type")
        with self._lock:
            grant = self._codes.get(form.get("code", ""))
            spent = grant is None or grant.used
            if grant is not None:
                grant.used = True
        if grant is None or spent or grant.expires_at < time.time() or grant.client_id != client_id:
            return _oauth_error("invalid_grant")
        if form.get("redirect_uri") != grant.redirect_uri:
            return _oauth_error("invalid_grant")
        verifier = form.get("code_verifier", "")
        if not 43 <= len(verifier) <= 128 or not hmac.compare_digest(s256(verifier), grant.challenge):
            return _oauth_error("invalid_grant")  # RFC 7636 §4.6
        return Response(
            {
                "access_token": secrets.token_urlsafe(32),
                "token_type": "Bearer",
                "expires_in": ID_TOKEN_TTL_S,
                "scope": grant.scope,
                "id_token": self._id_token(grant),
            },
            headers={"Cache-Control": "no-store"},
        )

    def _id_token(self, grant: _Code) -> str:
        user = self.users[grant.sub]
        now = int(time.time())
        scopes = grant.scope.split()
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": user.sub,
            "aud": self.client_id,
            "exp": now + ID_TOKEN_TTL_S,
            "iat": now,
            "auth_time": grant.auth_time,
        }
        if grant.nonce is not None:
            claims["nonce"] = grant.nonce
        for name, value in user.claims.items():
            if name not in _STANDARD or any(name in _SCOPE_CLAIMS.get(s, ()) for s in scopes):
                claims[name] = value
        how = self.misbehaviour or Misbehaviour()
        key = how.key or self.signing_key
        alg = how.alg or ("ES256" if isinstance(key, ECKey) else "RS256")
        header: dict[str, Any] = {"alg": alg, "typ": "JWT", "kid": key.kid}
        header.update(how.header)
        for name, value in how.claims.items():
            if value is DROP:
                claims.pop(name, None)
            else:
                claims[name] = value
        if alg == "none":
            token = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}."
        elif alg == "HS256":
            signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
            public_pem = self.signing_key.as_pem(private=False)
            signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
            token = f"{signing_input}.{_b64(signature)}"
        else:
            token = jwt.encode(header, claims, key, algorithms=[alg])
        return how.tamper(token) if how.tamper else token

    def app(self) -> Litestar:
        provider = self

        @get("/.well-known/openid-configuration", sync_to_thread=False)
        def discovery(request: Request[Any, Any, Any]) -> dict[str, Any]:
            provider.hits[request.url.path] += 1
            return provider._discovery()

        @get("/jwks", sync_to_thread=False)
        def jwks(request: Request[Any, Any, Any]) -> dict[str, Any]:
            provider.hits[request.url.path] += 1
            return provider._jwks()

        @get("/authorize", sync_to_thread=False)
        def authorize_page(request: Request[Any, Any, Any]) -> Response[Any]:
            provider.hits[request.url.path] += 1
            return provider._authorize_page(dict(request.query_params))

        @post("/authorize", status_code=200)
        async def authorize(request: Request[Any, Any, Any]) -> Response[Any]:
            provider.hits[request.url.path] += 1
            form = await request.form()
            return provider._authorize(dict(request.query_params), {k: str(v) for k, v in form.items()})

        @post("/token", status_code=200)
        async def token(request: Request[Any, Any, Any]) -> Response[Any]:
            provider.hits[request.url.path] += 1
            form = await request.form()
            return provider._token(request.headers.get("authorization"), {k: str(v) for k, v in form.items()})

        return Litestar(
            route_handlers=[discovery, jwks, authorize_page, authorize, token],
            logging_config=None,
            openapi_config=None,
            debug=False,
        )


def _with_query(uri: str, **params: str | None) -> str:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return f"{uri}{'&' if '?' in uri else '?'}{query}"


def _page(body: str, status: int) -> Response[Any]:
    document = f"<!doctype html><title>Test provider</title>{body if '<' in body else html.escape(body)}"
    return Response(document, status_code=status, media_type=MediaType.HTML)


def _oauth_error(error: str, status: int = 400) -> Response[Any]:
    headers = {"Cache-Control": "no-store"}
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="test-provider"'
    return Response({"error": error}, status_code=status, headers=headers)


@contextmanager
def running_provider(provider: TestProvider | None = None) -> Iterator[TestProvider]:
    """Serve a provider on 127.0.0.1 (a free port) in a thread for the duration of the block."""
    provider = provider or TestProvider()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    provider.issuer = f"http://127.0.0.1:{sock.getsockname()[1]}"
    config = uvicorn.Config(
        provider.app(), log_config=None, log_level="warning", access_log=False, lifespan="off", ws="none", http="h11"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="test-oidc-provider", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test OpenID provider did not start")
        time.sleep(0.01)
    try:
        yield provider
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


async def authorize(authorization_url: str, user: User | None, *, deny: bool = False) -> str:
    """Play the citizen's browser at the provider: open the login page, submit the form, and
    return where the provider redirects (our callback with ``code`` and ``state``, or ``error``)."""
    async with httpx.AsyncClient(timeout=10) as browser:
        page = await browser.get(authorization_url)
        assert page.status_code == 200, page.text
        assert '<form method="post">' in page.text
        form = {"action": "deny"} if deny or user is None else {"username": user.sub, "password": user.password}
        answer = await browser.post(authorization_url, data=form)
        assert answer.status_code in (302, 303), answer.text
        return answer.headers["location"]
