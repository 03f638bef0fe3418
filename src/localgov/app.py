"""The application factory: ``create_app(settings)`` builds everything; nothing happens at import."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import structlog
from litestar import Litestar, Router
from litestar.datastructures import State
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme, Server, ServerVariable, Tag
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov import __version__
from localgov.identity.citizens import OidcClient
from localgov.identity.examples import EXAMPLES as IDENTITY_EXAMPLES
from localgov.identity.routes import identity_handlers
from localgov.identity.staff import CORE_ROLES
from localgov.kernel.auth.guards import AUTH_OPT, BEARER, PUBLIC, AuthPolicy, Grants
from localgov.kernel.auth.keys import KeyStore
from localgov.kernel.auth.revocations import Revocations
from localgov.kernel.auth.views import WellKnownController
from localgov.kernel.db import create_engine, session_factory
from localgov.kernel.dns import DnsPythonResolver, parse_nameservers
from localgov.kernel.documents.views import document_handlers
from localgov.kernel.errors import exception_handlers
from localgov.kernel.examples import merge_tables
from localgov.kernel.observability import Metrics, configure_logging, tune_gc_for_serving
from localgov.kernel.openapi import SurfaceDocuments, SurfaceJsonRenderPlugin, configure_schema_types
from localgov.kernel.pages import AssetsController, template_config
from localgov.kernel.plugins import ServicePlugin, register_plugin_case_types
from localgov.kernel.problems import ProblemsController
from localgov.kernel.reads import RowCache
from localgov.kernel.reference import ReferenceController
from localgov.kernel.storage import blob_store
from localgov.kernel.web import (
    LocalgovRequest,
    RequestContextMiddleware,
    add_request_id_header,
    request_dependencies,
    resolve_dependencies_in_order,
)
from localgov.kernel.webhooks import SCOPES as WEBHOOK_SCOPES
from localgov.kernel.webhooks import register_public_events
from localgov.kernel.webhooks.examples import EXAMPLES as WEBHOOK_EXAMPLES
from localgov.kernel.webhooks.views import TAG as WEBHOOKS_TAG
from localgov.kernel.webhooks.views import TAG_DESCRIPTION as WEBHOOKS_TAG_DESCRIPTION
from localgov.kernel.webhooks.views import webhook_handlers
from localgov.metadata import INSTALLATION
from localgov.platform.billing.handlers import billing_handlers
from localgov.platform.catalog import Catalog, CatalogListener
from localgov.platform.examples import EXAMPLES as PLATFORM_EXAMPLES
from localgov.platform.installation import install
from localgov.platform.lifecycle_views import OperatorTenantLifecycleController, TenantStatusController
from localgov.platform.signup_pages import signup_page_handlers
from localgov.platform.signup_views import signup_handlers
from localgov.platform.tenant_admin_views import TenantAdminController
from localgov.platform.views import (
    HealthController,
    MetricsController,
    OperatorTenantsController,
    TenantProfileController,
)
from localgov.services.saraban import OPERATOR_HANDLERS as SARABAN_OPERATOR_HANDLERS
from localgov.settings import Settings


def _plugin_router(plugin: ServicePlugin) -> Router:
    """Mount a plugin's router behind the "service enabled for this tenant" check.

    The check is the request middleware's (``opt["service"]``, before the token is looked at), not a
    Litestar guard: a guard costs a copy of the route handler on every request.
    """
    return Router(
        path="/",
        route_handlers=[plugin.router],
        opt={"surface": "tenant", "service": plugin.slug},
    )


def plugin_dsn(settings: Settings) -> str:
    """The database URL in the plain ``postgresql://`` form asyncpg accepts."""
    url = settings.database_url
    for prefix in ("postgresql+asyncpg://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix) :]
    return url


def create_app(
    settings: Settings,
    *,
    plugins: Sequence[ServicePlugin] | None = None,
    engine: AsyncEngine | None = None,
    listen_for_catalog_changes: bool = True,
) -> Litestar:
    """Build the ASGI application. ``plugins`` defaults to the explicit registry."""
    if not settings.database_url:
        raise ValueError("create_app needs a database URL; `localgov serve` starts one in development mode")
    if plugins is None:
        from localgov.plugins import REGISTRY

        plugins = REGISTRY
    install(INSTALLATION)  # what the platform provisions when a tenant enables a service
    register_plugin_case_types(plugins)  # the case engine acts on the cases of the plugins served
    register_public_events(plugins)  # the events integrators may subscribe to (webhooks)
    configure_logging(settings.log_level, settings.log_json)
    if not settings.secret_key:
        raise ValueError("create_app needs LOCALGOV_SECRET_KEY; `localgov serve` makes one in development mode")
    if settings.oidc_issuer:
        # A wrong claim mapping or acr levels stops the start, not a citizen's first login.
        OidcClient(settings)
    catalog = Catalog(settings.base_domain)
    keys = KeyStore(settings.secret_key)
    revocations = Revocations()
    row_cache = RowCache()  # per-tenant settings rows of the hot reads (kernel.reads.fetch_cached)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        own_engine = engine is None
        eng = engine or create_engine(settings, serving=True)
        app.state.engine = eng
        app.state.session_factory = session_factory(eng)
        listener = CatalogListener(
            catalog, eng, plugin_dsn(settings), settings.catalog_refresh_s, followers=[revocations, row_cache]
        )
        if listen_for_catalog_changes:
            await listener.start()
        else:
            await catalog.load(eng)
            await revocations.load(eng)
            await row_cache.load(eng)
        await keys.load(eng)
        key_refresh = asyncio.create_task(_refresh_keys(keys, eng, settings.key_refresh_s), name="key-refresh")
        try:
            yield
        finally:
            key_refresh.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await key_refresh
            await listener.stop()
            await app.state.blob_store.aclose()
            if own_engine:
                await eng.dispose()

    handlers: list[Any] = [
        HealthController,
        MetricsController,
        TenantProfileController,
        WellKnownController,
        OperatorTenantsController,
        OperatorTenantLifecycleController,
        TenantStatusController,
        TenantAdminController,
        # The operator's billing (operator host) and an LAO's own plan, usage and invoices.
        *billing_handlers(),
        # The operator's directory of agencies outside the platform (e-Saraban's addressees).
        *SARABAN_OPERATOR_HANDLERS,
        *identity_handlers(),
        *signup_handlers(),
        # Public verification of issued documents (JSON and the page their QR stamp opens).
        *document_handlers(),
        # Outbound webhooks: integrators' and administrators' subscriptions, delivery log, replay.
        *webhook_handlers(),
        # Server-rendered pages (no JSON): the signup form and its e-mailed links, and their stylesheet.
        *signup_page_handlers(),
        AssetsController,
        # The problem codes (every problem's `type`) and the interactive API reference, on every host.
        ProblemsController,
        ReferenceController,
    ]
    handlers.extend(_plugin_router(p) for p in plugins)
    tags = [
        Tag(name="Tenant profile", description="The LAO served at the request's host"),
        Tag(name="Health", description="Liveness and readiness probes"),
        Tag(name="Keys and metadata", description="JWKS and OAuth 2.0 authorization server metadata"),
        Tag(name="Tenants (operator)", description="The platform's tenant catalog and each tenant's life"),
        Tag(name="Tenant status", description="Whether the LAO is served, and its data as an archive"),
        Tag(name="Document verification", description="Anyone checks an issued document by its printed code"),
        Tag(name="Tenant administration", description="An LAO's administrators: contact details, services, domains"),
        Tag(name="API clients", description="Integrators' OAuth 2.0 clients of an LAO (its administrators)"),
        Tag(name="OAuth 2.0", description="The LAO's token endpoint (client credentials grant)"),
        Tag(name="Operator staff", description="Login and sessions of the platform operator's staff"),
        Tag(name="Staff authentication", description="LAO staff: login, invitations, password reset"),
        Tag(name="Sessions", description="Refresh and logout, for staff and citizens"),
        Tag(name="My account", description="The calling staff member's own account and password"),
        Tag(name="Staff administration", description="An LAO's administrators manage its staff and their roles"),
        Tag(name="Audit", description="The LAO's audit log (บันทึกการตรวจสอบ)"),
        Tag(name="Units", description="The LAO's units (ส่วนราชการ) as a tree, and each unit's supervisor"),
        Tag(name="Positions", description="The positions (ตำแหน่ง) the LAO's staff hold"),
        Tag(name="Citizen login", description="Citizens log in through the national OpenID Connect provider"),
        Tag(name="Citizens", description="The logged-in citizen's own record"),
        Tag(
            name="Citizens' apps",
            description="Apps citizens log in to through the LAO (OpenID Connect: the platform authorizes them)",
        ),
        Tag(name="Signup", description="An LAO asks to join the platform (การสมัครใช้บริการ), operator host"),
        Tag(name="Signup requests (operator)", description="The operator approves or rejects signup requests"),
        Tag(
            name="e-Saraban: outside agencies (operator)",
            description="Agencies outside the platform that LAOs' letters are addressed to (operator host)",
        ),
        Tag(name=WEBHOOKS_TAG, description=WEBHOOKS_TAG_DESCRIPTION),
        Tag(name="Billing (operator)", description="The operator's plans, subscriptions, invoices and usage"),
        Tag(name="Problems", description="The problem codes of the API: the page each problem's `type` points to"),
    ]
    tag_descriptions = {t.name: t.description or t.name for t in tags}
    for plugin in plugins:
        for name, description in plugin.tags.items():
            tag_descriptions.setdefault(name, description)
            if name not in {t.name for t in tags}:
                tags.append(Tag(name=name, description=description))
    configure_schema_types()
    resolve_dependencies_in_order()
    app = Litestar(
        route_handlers=handlers,
        lifespan=[lifespan],
        middleware=[RequestContextMiddleware()],
        request_class=LocalgovRequest,
        before_send=[add_request_id_header],
        exception_handlers=exception_handlers(),
        dependencies=request_dependencies(),
        template_config=template_config(),
        state=State(
            {
                **_initial_state(settings, catalog, plugins),
                "signing_keys": keys,
                "revocations": revocations,
                "row_cache": row_cache,
                # The OpenAPI document of each surface, derived once from Litestar's (kernel.openapi).
                "surface_documents": SurfaceDocuments(
                    tag_descriptions,
                    merge_tables(
                        IDENTITY_EXAMPLES, WEBHOOK_EXAMPLES, PLATFORM_EXAMPLES, *(p.examples for p in plugins)
                    ),
                ),
            }
        ),
        openapi_config=OpenAPIConfig(
            title="localgov API",
            version=__version__,
            description=(
                "บริการสาธารณะดิจิทัลขององค์กรปกครองส่วนท้องถิ่น — digital public services of Thai Local "
                "Administrative Organisations. Each LAO is served at its own host "
                f"(`<slug>.{settings.base_domain}`); the operator API is served at `{settings.base_domain}`. "
                "Every error is an RFC 9457 problem (`application/problem+json`) with a stable `code`."
            ),
            # Served on every host: each host gets the document of its own surface.
            openapi_router=Router(
                path="/schema", route_handlers=[], opt={"surface": "any", AUTH_OPT: PUBLIC}, include_in_schema=False
            ),
            components=Components(
                security_schemes={
                    BEARER: SecurityScheme(
                        type="http",
                        scheme="bearer",
                        bearer_format="JWT",
                        description=(
                            "An RFC 9068 access token issued for this host (ES256, `typ: at+jwt`), sent as "
                            "`Authorization: Bearer <token>`. Staff and citizens get one by logging in; an LAO's "
                            "API clients from the LAO's token endpoint `POST /oauth/token` (OAuth 2.0 client "
                            "credentials grant, HTTP Basic or client_secret_post). An operation's security "
                            "requirements are alternatives: `[]` is any logged-in person its policy "
                            "(`x-localgov-access`) admits, a scope is an API client holding it. Scopes: "
                            + ", ".join(
                                f"`{s.code}`" for s in [*WEBHOOK_SCOPES, *(s for p in plugins for s in p.scopes)]
                            )
                            + "."
                        ),
                    ),
                }
            ),
            # One document per surface (kernel.openapi): the operator's on the base domain, the LAO's on its host.
            render_plugins=[SurfaceJsonRenderPlugin()],
            servers=[
                Server(
                    url=f"https://{{tenant}}.{settings.base_domain}",
                    description="A tenant host (one per LAO)",
                    variables={"tenant": ServerVariable(default="maehia", description="The LAO's slug")},
                ),
                Server(url=f"https://{settings.base_domain}", description="The operator host"),
            ],
            tags=tags,
            use_handler_docstrings=False,
            create_examples=False,
        ),
        # Logging is structlog's (configure_logging); Litestar must not install its own handlers.
        logging_config=None,
        debug=False,
    )
    unguarded = unguarded_routes(app)
    if unguarded:
        raise ValueError(f"routes without an auth policy: {', '.join(unguarded)}")
    return app


def unguarded_routes(app: Litestar) -> list[str]:
    """Every route handler that declares no auth policy (must be empty)."""
    out: list[str] = []
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            if set(getattr(handler, "http_methods", ())) == {"OPTIONS"}:
                continue  # Litestar's automatic OPTIONS answers: only the Allow header, no data
            handler.resolve_opts()  # merge the opt of the layers above (router, controller)
            if not isinstance(handler.opt.get(AUTH_OPT), AuthPolicy):
                out.append(f"{'/'.join(sorted(getattr(handler, 'http_methods', ())))} {route.path}")
    return out


async def _refresh_keys(keys: KeyStore, engine: AsyncEngine, every_s: float) -> None:
    while True:
        await asyncio.sleep(every_s)
        try:
            await keys.load(engine)
        except Exception:
            structlog.get_logger("localgov.auth").exception("key_refresh_failed")


def _initial_state(settings: Settings, catalog: Catalog, plugins: Sequence[ServicePlugin]) -> dict[str, Any]:
    return {
        "settings": settings,
        "catalog": catalog,
        # Uploaded files' bytes (a folder, or an S3-compatible bucket): one client per process.
        "blob_store": blob_store(settings),
        "metrics": Metrics(),
        "plugins": tuple(plugins),
        # Scopes the kernel offers every LAO's API clients, whichever services it enabled.
        "core_scopes": WEBHOOK_SCOPES,
        # What each staff role grants, for routes guarded by a permission (core roles and the plugins').
        "grants": Grants.of([*CORE_ROLES, *(role for p in plugins for role in p.roles)]),
        "service_titles": {p.slug: (p.title_th, p.title_en) for p in plugins},
        # The custom-domain challenges' look-ups (LOCALGOV_DNS_NAMESERVERS).
        "dns_resolver": DnsPythonResolver(
            parse_nameservers(settings.dns_nameservers), timeout_s=settings.dns_timeout_s
        ),
    }


def create_app_from_env() -> Litestar:
    """Factory for ``uvicorn --factory`` (reads ``LOCALGOV_*`` when called, not at import): each
    worker process of ``localgov serve --workers N`` builds its application here."""
    app = create_app(Settings.from_env())
    tune_gc_for_serving()
    return app
