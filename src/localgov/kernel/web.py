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
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.audit import Actor, Origin, record_audit
from localgov.kernel.auth.guards import AUTH_OPT, PUBLIC, AuthPolicy, Grants
from localgov.kernel.auth.tokens import Audience, Forbidden, Principal, Unauthenticated, verify_access_token
from localgov.kernel.db import session_for, tenant_reader, tenant_session
from localgov.kernel.errors import (
    DomainError,
    NotFound,
    RefusalAudit,
    ServiceNotEnabled,
    TenantClosed,
    TenantNotFound,
    TenantSuspended,
)
from localgov.kernel.reads import ReadConnection
from localgov.kernel.storage import BlobStore
from localgov.kernel.tenancy import OperatorHost, TenantInfo
from localgov.settings import Settings

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


class RequestContextMiddleware(ASGIMiddleware):
    """Request id, log context, host → tenant, access log and metrics, for every routed request."""

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        started = time.perf_counter()
        state = scope.setdefault("state", {})
        request_id = state.get("request_id") or request_id_from(scope)
        state["request_id"] = request_id
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        status_holder = [500]

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder[0] = message["status"]
            await send(message)

        app = scope["litestar_app"]
        route = scope.get("path_template") or "unmatched"
        method = scope.get("method", "GET")
        try:
            self._resolve_tenant(scope, app.state)
            await next_app(scope, receive, send_wrapper)
        except DomainError as exc:
            status_holder[0] = exc.status
            raise
        finally:
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
            _authorize(scope, state, policy, Audience.operator(settings.base_domain))
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
        _authorize(scope, state, policy, Audience.tenant(match.slug, match.dla_code, settings.base_domain))


def _bearer_token(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" and token.strip() else ""
    return None


def _authorize(scope: Scope, state: State, policy: AuthPolicy, audience: Audience) -> None:
    """Apply the route's policy: 401 without a valid token for this host, 403 without the right."""
    if policy.public:
        return
    token = _bearer_token(scope)
    if not token:
        raise Unauthenticated("This resource needs a bearer access token.", code="missing_token")
    principal = verify_access_token(token, state.signing_keys, audience)
    structlog.contextvars.bind_contextvars(principal=f"{principal.kind}:{principal.subject}")
    if not policy.admits(principal, state.grants):
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


def request_origin(request: Request[Any, Any, Any]) -> Origin:
    """Source address and request id of a request, for the audit log.

    ``X-Forwarded-For`` is believed only when ``LOCALGOV_TRUST_FORWARDED_FOR`` says a proxy we run
    sets it (its last hop is the client as our proxy saw it); otherwise anyone could forge it.
    """
    ip = request.client.host if request.client else None
    if request.app.state.settings.trust_forwarded_for:
        forwarded = request.headers.get("x-forwarded-for")
        if forwarded:
            ip = forwarded.split(",")[-1].strip() or ip
    try:
        ip = str(ipaddress.ip_address(ip)) if ip else None
    except ValueError:
        ip = None
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
    """
    tenant = request.scope.get("state", {}).get("tenant")
    session = session_for(request.app.state.session_factory, tenant)
    try:
        await session.begin()
        try:
            yield session
        except DomainError as exc:
            await (session.commit() if exc.keep_changes else session.rollback())
            if exc.audit is not None:
                await _record_refusal(request, tenant, exc.audit)
            raise
        except BaseException:
            await session.rollback()
            raise
        await session.commit()
    finally:
        await session.close()


async def provide_db_read(request: Request[Any, Any, Any]) -> AsyncGenerator[ReadConnection, None]:
    """A read-only handler's transaction, in the tenant's schema (``kernel.reads``): nothing to commit."""
    tenant = request.scope.get("state", {}).get("tenant")
    async with tenant_reader(request.app.state.engine, tenant) as connection:
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
