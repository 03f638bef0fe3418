"""Per-request plumbing: request id, logging context, tenant resolution, metrics, the DB session.

Host resolution happens once per request from the in-memory catalog. Every route declares the
surface it belongs to in its ``opt``: ``tenant`` (default; needs a tenant host), ``operator``
(the bare base domain only) or ``any`` (health and metrics, which answer on every host).
"""

from __future__ import annotations

import ipaddress
import re
import time
import uuid
from collections.abc import AsyncGenerator
from typing import Any, Literal

import structlog
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.datastructures import MutableScopeHeaders, State
from litestar.di import Provide
from litestar.enums import ScopeType
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Empty, Message, Receive, Scope, Send
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.audit import Actor, Origin, record_audit
from localgov.kernel.auth.guards import AUTH_OPT, PUBLIC, AuthPolicy, Grants
from localgov.kernel.auth.revocations import OPERATOR_REALM, tenant_realm
from localgov.kernel.auth.tokens import (
    Audience,
    Forbidden,
    Principal,
    StepUpRequired,
    Unauthenticated,
    verify_access_token,
)
from localgov.kernel.db import session_for, tenant_reader, tenant_session
from localgov.kernel.errors import (
    CONNECTION_GONE,
    DomainError,
    NotFound,
    RefusalAudit,
    ServiceNotEnabled,
    TenantClosed,
    TenantNotFound,
    TenantSuspended,
    database_fault,
)
from localgov.kernel.etags import PreconditionFailed, etag_of_body
from localgov.kernel.idempotency import KeyedCreate, handles_key_itself, keyed_create
from localgov.kernel.ratelimit import end_request, track_request
from localgov.kernel.ratelimit import response_headers as ratelimit_headers
from localgov.kernel.reads import ReadConnection
from localgov.kernel.storage import BlobStore
from localgov.kernel.tenancy import OperatorHost, TenantInfo
from localgov.settings import IPNetwork, Settings

Surface = Literal["tenant", "operator", "any"]
REQUEST_ID_HEADER = "x-request-id"
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")
log = structlog.get_logger("localgov.http")


def request_id_from(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            if _REQUEST_ID_RE.fullmatch(candidate):
                return candidate
            break
    return uuid.uuid4().hex


def _host_header(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"host":
            return value.decode("latin-1")
    return None


#: Request headers a browser may send cross-origin (CORS preflight answer).
CORS_ALLOW_HEADERS = "Authorization, Content-Type, Idempotency-Key, If-Match, If-None-Match, X-Request-Id"
#: Response headers a cross-origin script may read.
CORS_EXPOSE_HEADERS = (
    "ETag, Location, Retry-After, RateLimit, RateLimit-Policy, X-Request-Id, Idempotent-Replayed, Content-Disposition"
)
#: How long a browser may cache a preflight answer, in seconds.
CORS_MAX_AGE = "600"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


def path_methods(app: Any) -> dict[str, str]:
    """Route path → its ``Allow`` value (every method of every handler of the path; built once)."""
    cached: dict[str, str] | None = getattr(app.state, "allow_by_path", None)
    if cached is None:
        by_path: dict[str, set[str]] = {}
        for route in app.routes:
            methods = by_path.setdefault(route.path_format, set())
            for handler in getattr(route, "route_handlers", ()):
                methods.update(getattr(handler, "http_methods", ()))
        cached = {}
        for path, methods in by_path.items():
            methods.add("OPTIONS")
            cached[path] = ", ".join(sorted(methods))
        app.state.allow_by_path = cached
    return cached


def cors_allowed(tenant: TenantInfo | None, origin: str | None) -> bool:
    """Whether the LAO's administrators allowed ``origin`` (exact ``scheme://host[:port]``)."""
    return tenant is not None and origin is not None and origin in tenant.cors_origins


class _ResponseShaper:
    """Holds a response's start until its body is complete, to add what depends on the body
    (``ETag``; a ``304`` for a matching ``If-None-Match``), the rate-limit state and CORS headers."""

    def __init__(self, scope: Scope, send: Send, status_holder: list[int]) -> None:
        self.scope = scope
        self.send = send
        self.status_holder = status_holder
        method = scope.get("method", "GET")
        self.tag_bodies = method in ("GET", "PUT", "PATCH")
        self.if_none_match = _header(scope, b"if-none-match") if method == "GET" else None
        self.start: Message | None = None
        self.chunks: list[bytes] = []

    def _extra_headers(self, headers: MutableScopeHeaders) -> None:
        for name, value in ratelimit_headers().items():
            headers[name] = value
        tenant = self.scope.get("state", {}).get("tenant")
        origin = _header(self.scope, b"origin")
        if origin is not None and cors_allowed(tenant, origin):
            headers["Access-Control-Allow-Origin"] = origin
            headers["Access-Control-Expose-Headers"] = CORS_EXPOSE_HEADERS
            headers.add("Vary", "Origin")

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status_holder[0] = message["status"]
            self._extra_headers(MutableScopeHeaders.from_message(message))
            if not (self.tag_bodies and message["status"] == 200):
                await self.send(message)
                return
            self.start = message
            return
        if self.start is None or message["type"] != "http.response.body":
            await self.send(message)
            return
        self.chunks.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        start: Any = self.start
        self.start = None
        headers = MutableScopeHeaders.from_message(start)
        body = b"".join(self.chunks)
        content_type = headers.get("content-type") or ""
        if "json" in content_type and "etag" not in headers:
            etag = etag_of_body(body)
            headers["ETag"] = etag
            if self.if_none_match is not None and etag in _etag_list(self.if_none_match):
                start["status"] = 304
                self.status_holder[0] = 304
                for name in ("content-length", "content-type"):
                    if name in headers:
                        del headers[name]
                await self.send(start)
                await self.send({"type": "http.response.body", "body": b"", "more_body": False})
                return
        await self.send(start)
        await self.send({"type": "http.response.body", "body": body, "more_body": False})


async def _idempotent_create(scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> bool:
    """``Idempotency-Key`` on a create (a ``POST`` answering ``201``) whose handler does not take the
    key itself, on a tenant host or the operator host, whatever the body (JSON, an upload): run
    through ``kernel.idempotency.KeyedCreate``; False: not one."""
    key = _header(scope, b"idempotency-key")
    handler = scope["route_handler"]
    if key is None or getattr(handler, "status_code", None) != 201 or handles_key_itself(handler):
        return False
    if handler.opt.get("surface", "tenant") not in ("tenant", "operator"):
        return False
    if not re.fullmatch(r"[!-~]{1,100}", key):
        raise InvalidIdempotencyKey(data={"key": key[:100]})
    app = scope["litestar_app"]
    state = scope["state"]
    principal = state.get("principal")
    if principal is not None:
        label = f"{principal.kind}:{principal.subject}"[:150]
    else:  # a public create (signup): anonymous callers are told apart by their address
        settings: Settings = app.state.settings
        peer = scope.get("client")
        address = client_address(
            peer[0] if peer else None, _header(scope, b"x-forwarded-for"), settings.trusted_proxy_networks
        )
        label = f"anonymous:{address or 'unknown'}"[:150]
    keyed = KeyedCreate(
        app=app,
        key=key,
        principal=label,
        tenant=state.get("tenant"),
        method=str(scope.get("method", "POST")),
        path=scope.get("path", ""),
        boundary=_multipart_boundary(_header(scope, b"content-type")),
        max_body=getattr(handler, "resolve_request_max_body_size", lambda: None)(),
    )
    await keyed.run(scope, receive, send, next_app)
    return True


def _multipart_boundary(content_type: str | None) -> bytes | None:
    """The ``boundary`` of a ``multipart/*`` body (None for any other)."""
    if not content_type or not content_type.lower().startswith("multipart/"):
        return None
    match = re.search(r';\s*boundary="?([^";]{1,200})"?', content_type, re.IGNORECASE)
    return match.group(1).encode("latin-1") if match else None


class InvalidIdempotencyKey(DomainError):
    code = "invalid_idempotency_key"
    status = 400
    title = "An Idempotency-Key is 1-100 printable ASCII characters"


_FORWARDED_TO_READ = frozenset({b"host", b"authorization", b"x-forwarded-for", b"x-forwarded-proto", b"x-request-id"})


async def _check_if_match(scope: Scope, app: Any) -> None:
    """``If-Match`` on any update: the resource's ``GET`` (same path, same caller) is asked for its
    current ``ETag``, and the update is refused with 412 ``etag_mismatch`` when the header names
    another version (or the path has no current representation). A handler that checks it itself,
    under a row lock, does so with ``kernel.etags.require_match`` as well (atomic with the change)."""
    if_match = _header(scope, b"if-match")
    if if_match is None:
        return
    tags = _etag_list(if_match)
    read_scope: dict[str, Any] = {
        key: scope[key]
        for key in ("type", "asgi", "http_version", "scheme", "path", "raw_path", "root_path", "client", "server")
        if key in scope
    }
    read_scope.update(
        method="GET",
        query_string=b"",
        headers=[(k, v) for k, v in scope.get("headers", ()) if k in _FORWARDED_TO_READ],
        state={},
    )
    started: dict[str, Any] = {}

    async def empty_body() -> Any:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def capture(message: Message) -> None:
        if message["type"] == "http.response.start":
            started.update(message)

    await app(read_scope, empty_body, capture)
    current = None
    if started.get("status") == 200:
        for key, value in started.get("headers", ()):
            if key.lower() == b"etag":
                current = value.decode("latin-1")
    if current is not None and ("*" in tags or current in tags):
        return
    raise PreconditionFailed(
        "Another change was saved since this version was read; read it again and retry."
        if current is not None
        else "This resource has no current version to match (If-Match).",
        data={"current_etag": current},
    )


def _etag_list(header: str) -> list[str]:
    return [tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()]


class RequestContextMiddleware(ASGIMiddleware):
    """Request id, log context, host → tenant, access log and metrics, for every routed request;
    ``OPTIONS`` (the ``Allow`` of the path, CORS preflights), ``ETag``, ``RateLimit`` and CORS headers."""

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        started = time.perf_counter()
        state = scope.setdefault("state", {})
        request_id = state.get("request_id") or request_id_from(scope)
        state["request_id"] = request_id
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        status_holder = [500]
        send_wrapper = _ResponseShaper(scope, send, status_holder)

        app = scope["litestar_app"]
        route = scope.get("path_template") or "unmatched"
        method = scope.get("method", "GET")
        limits = track_request()
        try:
            if method == "OPTIONS":
                await self._options(scope, app, send_wrapper)
                return
            self._resolve_tenant(scope, app.state)
            if method in ("PUT", "PATCH"):
                await _check_if_match(scope, app)
            if method == "POST" and await _idempotent_create(scope, receive, send_wrapper, next_app):
                return
            await next_app(scope, receive, send_wrapper)
        except DomainError as exc:
            status_holder[0] = exc.status
            raise
        finally:
            end_request(limits)
            elapsed = time.perf_counter() - started
            metrics = app.state.metrics
            metrics.requests.labels(method, route, str(status_holder[0])).inc()
            metrics.latency.labels(method, route).observe(elapsed)
            if route not in ("/health/live", "/health/ready", "/metrics"):
                log.info(
                    "request",
                    method=method,
                    path=scope.get("path"),
                    status=status_holder[0],
                    duration_ms=round(elapsed * 1000, 2),
                )

    @staticmethod
    async def _options(scope: Scope, app: Any, send: Send) -> None:
        """``OPTIONS``: 204 with the ``Allow`` of the path (all its handlers' methods); a CORS
        preflight from an origin the LAO allowed also gets the ``Access-Control-*`` answer."""
        allow = path_methods(app).get(scope.get("path_template") or "", "OPTIONS")
        headers = [(b"allow", allow.encode()), (b"content-length", b"0")]
        match = app.state.catalog.resolve(_host_header(scope))
        tenant = match if isinstance(match, TenantInfo) else None
        origin = _header(scope, b"origin")
        if _header(scope, b"access-control-request-method") is not None and cors_allowed(tenant, origin):
            assert origin is not None
            headers += [
                (b"access-control-allow-origin", origin.encode("latin-1")),
                (b"access-control-allow-methods", allow.encode()),
                (b"access-control-allow-headers", CORS_ALLOW_HEADERS.encode()),
                (b"access-control-max-age", CORS_MAX_AGE.encode()),
                (b"vary", b"Origin"),
            ]
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    @staticmethod
    def _resolve_tenant(scope: Scope, state: State) -> None:
        handler: BaseRouteHandler = scope["route_handler"]
        surface: Surface = handler.opt.get("surface", "tenant")
        policy: AuthPolicy | None = handler.opt.get(AUTH_OPT)
        if policy is None and set(getattr(handler, "http_methods", ())) == {"OPTIONS"}:
            policy = PUBLIC  # Litestar's automatic OPTIONS answer: the Allow header and nothing else
        if policy is None:  # create_app refuses such routes; never serve one by accident
            raise RuntimeError(f"route {scope.get('path_template')} declares no auth policy")
        if surface == "any":
            if not policy.public:
                raise RuntimeError("routes served on any host must be public")
            return
        match = state.catalog.resolve(_host_header(scope))
        if match is None:
            raise TenantNotFound()
        settings = state.settings
        if isinstance(match, OperatorHost):
            if surface != "operator":
                raise NotFound("This resource is served on a tenant host, not on the operator host.")
            structlog.contextvars.bind_contextvars(tenant="operator")
            _authorize(scope, state, policy, Audience.operator(settings.base_domain), OPERATOR_REALM)
            return
        if surface != "tenant":
            raise NotFound("This resource is served on the operator host only.")
        structlog.contextvars.bind_contextvars(tenant=match.slug)
        if match.status == "suspended" and not handler.opt.get("allow_suspended", False):
            raise TenantSuspended(
                "The platform operator has suspended this LAO; its data is kept.", data={"tenant": match.slug}
            )
        if match.status == "closed":
            raise TenantClosed(data={"tenant": match.slug})
        service = handler.opt.get("service")
        if service is not None and service not in match.enabled_services:
            raise ServiceNotEnabled(data={"service": service})
        scope["state"]["tenant"] = match
        _authorize(
            scope,
            state,
            policy,
            Audience.tenant(match.slug, match.dla_code, settings.base_domain),
            tenant_realm(match.id),
        )


def _bearer_token(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" and token.strip() else ""
    return None


def _authorize(scope: Scope, state: State, policy: AuthPolicy, audience: Audience, realm: str) -> None:
    """Apply the route's policy: 401 without a valid token for this host (or with a token revoked
    since: a disabled account, ``kernel.auth.revocations``), 403 without the right."""
    if policy.public:
        return
    token = _bearer_token(scope)
    if not token:
        raise Unauthenticated("This resource needs a bearer access token.", code="missing_token")
    principal = verify_access_token(token, state.signing_keys, audience)
    if state.revocations.refuses(realm, principal):
        log.warning("token_rejected", reason="revoked", principal=f"{principal.kind}:{principal.subject}")
        raise Unauthenticated(
            "This access token was revoked: the account was disabled.", code="token_revoked", data={"reason": "revoked"}
        )
    structlog.contextvars.bind_contextvars(principal=f"{principal.kind}:{principal.subject}")
    if not policy.admits(principal, state.grants):
        level = policy.step_up_to(principal, state.grants)
        if level is not None:
            raise StepUpRequired(level)
        raise Forbidden(data={"required": policy.describe()})
    scope["state"]["principal"] = principal


async def add_request_id_header(message: Message, scope: Scope) -> None:
    """``before_send``: echo the request id on every response, routed or not."""
    if message["type"] == "http.response.start":
        state = scope.setdefault("state", {})
        request_id = state.get("request_id") or request_id_from(scope)
        state["request_id"] = request_id
        headers = MutableScopeHeaders.from_message(message)
        headers[REQUEST_ID_HEADER] = request_id


#: How deeply a JSON body may nest arrays and objects (ours nest three or four levels at most).
MAX_JSON_DEPTH = 32
_JSON_MEDIA_TYPE_RE = re.compile(r"^application/([a-z0-9.+-]+\+)?json$")
_JSON_STRING_RE = re.compile(rb'"(?:[^"\\]|\\.)*"')
#: Everything but the four brackets, for ``bytes.translate(None, delete=...)``.
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


class UnsupportedMediaType(DomainError):
    code = "unsupported_media_type"
    status = 415
    title = "Unsupported media type"


class JsonTooDeep(DomainError):
    code = "json_too_deep"
    status = 400
    title = "The JSON body nests too deeply"


def json_depth(body: bytes) -> int:
    """How deeply ``body`` nests arrays and objects, brackets inside strings not counted.

    C-speed passes do the bulk (strings dropped by a regular expression, then every byte but the
    four brackets by ``bytes.translate``); only the brackets are walked in Python.
    """
    brackets = _JSON_STRING_RE.sub(b"", body).translate(None, delete=_NOT_BRACKETS)
    depth = deepest = 0
    for byte in brackets:
        if byte in b"[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth = max(depth - 1, 0)
    return deepest


class LocalgovRequest(Request[Any, Any, Any]):
    """The application's request: a JSON body is read only if it is declared JSON and nests sanely.

    Litestar decodes a route's ``data`` with :meth:`json` whatever the ``Content-Type`` says, and a
    body nested thousands deep ends in a ``RecursionError`` inside the decoder (a 500). Here a body
    sent as anything but ``application/json`` (or ``application/<x>+json``) is a 415
    ``unsupported_media_type``, and one nested deeper than :data:`MAX_JSON_DEPTH` a 400
    ``json_too_deep``, both before decoding. The size limit is Litestar's (413 ``payload_too_large``).
    """

    async def json(self) -> Any:
        if self._json is Empty and self._connection_state.json is Empty:
            body = await self.body()
            if body:
                media_type = self.content_type[0].strip().lower()
                if not _JSON_MEDIA_TYPE_RE.fullmatch(media_type):
                    raise UnsupportedMediaType(
                        "This endpoint takes a JSON body (Content-Type: application/json).",
                        data={"content_type": media_type[:100], "expected": "application/json"},
                    )
                if body.count(b"[") + body.count(b"{") > MAX_JSON_DEPTH and json_depth(body) > MAX_JSON_DEPTH:
                    raise JsonTooDeep(
                        f"Arrays and objects may nest {MAX_JSON_DEPTH} levels deep at most.",
                        data={"max_depth": MAX_JSON_DEPTH},
                    )
        return await super().json()


def client_address(peer: str | None, forwarded_for: str | None, trusted: tuple[IPNetwork, ...]) -> str | None:
    """The client's address: the TCP peer, or what trusted proxies say it is.

    ``X-Forwarded-For`` is believed only when the peer is one of ``LOCALGOV_TRUSTED_PROXIES``; it is
    then read from its right end (the hop our proxy appended) past every trusted proxy, and the
    first address that is not one is the client. Anything left of it could be forged by the client.
    A malformed hop ends the walk at the last address proven so far.
    """
    address = _ip(peer)
    if address is None or not trusted or not forwarded_for or not _trusted(address, trusted):
        return str(address) if address is not None else None
    for hop in reversed(forwarded_for.split(",")):
        candidate = _ip(hop.strip())
        if candidate is None:
            break
        address = candidate
        if not _trusted(candidate, trusted):
            break
    return str(address)


def _ip(raw: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not raw:
        return None
    try:
        return ipaddress.ip_address(raw)
    except ValueError:
        return None


def _trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address, trusted: tuple[IPNetwork, ...]) -> bool:
    return any(address in network for network in trusted)


def request_origin(request: Request[Any, Any, Any]) -> Origin:
    """Source address and request id of a request, for the audit log and the rate limits.

    The address is :func:`client_address`: ``X-Forwarded-For`` counts only from a peer listed in
    ``LOCALGOV_TRUSTED_PROXIES`` (empty by default); otherwise anyone could forge it.
    """
    peer = request.client.host if request.client else None
    settings: Settings = request.app.state.settings
    ip = client_address(peer, request.headers.get("x-forwarded-for"), settings.trusted_proxy_networks)
    rid = request.scope.get("state", {}).get("request_id")
    return Origin(source_ip=ip, request_id=rid if isinstance(rid, str) else None)


def current_principal(request: Request[Any, Any, Any]) -> Principal:
    """The verified caller of a guarded route."""
    principal = request.scope.get("state", {}).get("principal")
    if not isinstance(principal, Principal):
        raise Unauthenticated(code="missing_token")
    return principal


def current_actor(request: Request[Any, Any, Any]) -> Actor:
    """The verified caller of a guarded route, as the audit log records it."""
    principal = current_principal(request)
    return Actor(principal.kind, principal.subject)


def current_permissions(request: Request[Any, Any, Any]) -> frozenset[str]:
    """What the caller's roles grant (staff; any other caller: nothing), e.g. to act on a case."""
    principal = current_principal(request)
    if principal.kind != "staff":
        return frozenset()
    grants: Grants = request.app.state.grants
    return grants.permissions_of(principal.roles)


def current_tenant(request: Request[Any, Any, Any]) -> TenantInfo:
    """The tenant resolved for this request (tenant-surface routes only)."""
    tenant = request.scope.get("state", {}).get("tenant")
    if not isinstance(tenant, TenantInfo):
        raise TenantNotFound()
    return tenant


def current_settings(request: Request[Any, Any, Any]) -> Settings:
    """The process's validated settings."""
    settings: Settings = request.app.state.settings
    return settings


def current_blob_store(request: Request[Any, Any, Any]) -> BlobStore:
    """The process's store of uploaded files' bytes (``kernel.storage``)."""
    store: BlobStore = request.app.state.blob_store
    return store


def request_dependencies() -> dict[str, Provide]:
    """What a handler may declare by name (as ``NamedDependency[T]``) instead of reading ``request``.

    ``tenant`` (:class:`TenantInfo`, tenant routes), ``principal`` (:class:`Principal`) and
    ``actor`` (:class:`Actor`, guarded routes), ``permissions`` (what a staff caller's roles
    grant), ``origin`` (:class:`Origin`, for the audit log), ``settings``, ``db_session`` (the
    request's one transaction), ``db_read`` (:class:`ReadConnection`, a read-only transaction for
    handlers that only read: no ORM session, rolled back at the end) and ``blob_store``
    (:class:`~localgov.kernel.storage.BlobStore`, for stored files). Each provider
    runs on the event loop, never in a thread.
    """
    return {
        "tenant": Provide(current_tenant, sync_to_thread=False),
        "principal": Provide(current_principal, sync_to_thread=False),
        "actor": Provide(current_actor, sync_to_thread=False),
        "permissions": Provide(current_permissions, sync_to_thread=False),
        "origin": Provide(request_origin, sync_to_thread=False),
        "settings": Provide(current_settings, sync_to_thread=False),
        "blob_store": Provide(current_blob_store, sync_to_thread=False),
        "db_session": Provide(provide_db_session),
        "db_read": Provide(provide_db_read),
    }


async def provide_db_session(request: Request[Any, Any, Any]) -> AsyncGenerator[AsyncSession, None]:
    """One request, one transaction: committed when the handler succeeds, rolled back otherwise.

    A :class:`DomainError` may ask for its request's writes to be kept (``keeping_changes``) or for
    an audit event that outlives the rollback (``audited``); handlers never commit themselves.

    A create sent with an ``Idempotency-Key`` (``kernel.idempotency.KeyedCreate``) locks its key
    right after ``BEGIN``, and on success its open transaction is handed to the middleware, which
    commits it together with the record of the response once the response is known.
    """
    tenant = request.scope.get("state", {}).get("tenant")
    keyed = keyed_create(request.scope)
    session = session_for(request.app.state.session_factory, tenant)
    handed_over = False
    try:
        await session.begin()
        try:
            if keyed is not None:
                await keyed.begin(session)
            yield session
        except DomainError as exc:
            await (session.commit() if exc.keep_changes else session.rollback())
            if exc.audit is not None:
                await _record_refusal(request, tenant, exc.audit)
            raise
        except BaseException as exc:
            if database_fault(exc) in CONNECTION_GONE:
                await session.invalidate()  # a rollback would fail too; the pool must not keep it
            else:
                await session.rollback()
            raise
        if keyed is not None:
            keyed.adopt(session, after_commit=lambda done: _committed(request, done))
            handed_over = True
            return
        await session.commit()
        _committed(request, session)
    finally:
        if not handed_over:
            await session.close()


def _committed(request: Request[Any, Any, Any], session: AsyncSession) -> None:
    """What this process applies at once after a request's commit (other processes follow on NOTIFY)."""
    request.app.state.revocations.committed(session)  # a disabled account is refused from the next request
    request.app.state.row_cache.committed(session)  # a changed settings row is read afresh from the next request


async def provide_db_read(request: Request[Any, Any, Any]) -> AsyncGenerator[ReadConnection, None]:
    """A read-only handler's transaction, in the tenant's schema (``kernel.reads``): nothing to commit."""
    tenant = request.scope.get("state", {}).get("tenant")
    async with tenant_reader(request.app.state.engine, tenant, cache=request.app.state.row_cache) as connection:
        yield connection


async def _record_refusal(request: Request[Any, Any, Any], tenant: TenantInfo | None, event: RefusalAudit) -> None:
    """Keep the audit event of a refused request, in a transaction of its own."""
    async with tenant_session(request.app.state.session_factory, tenant) as session:
        await record_audit(
            session,
            event.action,
            actor=Actor(event.actor_kind, event.actor_id),
            origin=request_origin(request),
            target=event.target,
            data=event.data,
            operator=tenant is None,
        )


def _generators_last(dependency: Any) -> tuple[bool, str]:
    provide = dependency.provide
    return (provide.has_async_generator_dependency or provide.has_sync_generator_dependency, dependency.key)


def resolve_dependencies_in_order() -> None:
    """Resolve a handler's dependencies one after the other, on the request's own task.

    Litestar resolves each batch of independent dependencies in an anyio task group: a task per
    dependency, on every request that declares two or more (``tenant`` and ``db_read`` already do).
    Ours are a dictionary look-up or a pool checkout; the tasks cost more than the work (about a
    fifth of ``GET /v1/tenant``'s CPU under cProfile, bench/README.md "Peers"). Within a batch the
    providers that hold a resource (generators: ``db_session``, ``db_read``) go last, so a refusal
    by a cheap one (no principal) is raised before a connection is taken. Applied by
    :func:`localgov.app.create_app`; ``tests/test_request_path.py`` checks it still takes effect on
    the installed Litestar.
    """
    from litestar._kwargs.cleanup import DependencyCleanupGroup
    from litestar._kwargs.dependencies import resolve_dependency
    from litestar._kwargs.kwargs_model import KwargsModel

    if getattr(KwargsModel.resolve_dependencies, "localgov_in_order", False):
        return

    async def resolve_dependencies(
        self: KwargsModel, connection: ASGIConnection[Any, Any, Any, Any], kwargs: dict[str, Any]
    ) -> DependencyCleanupGroup:
        cleanup_group = DependencyCleanupGroup()
        for batch in self.dependency_batches:
            for dependency in sorted(batch, key=_generators_last):
                await resolve_dependency(dependency, connection, kwargs, cleanup_group)
        return cleanup_group

    resolve_dependencies.localgov_in_order = True  # type: ignore[attr-defined]
    setattr(KwargsModel, "resolve_dependencies", resolve_dependencies)  # noqa: B010
