"""HTTP endpoints of the tenancy core: public tenant profile, operator tenant list, health, metrics."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal, cast

import msgspec
from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.auth.guards import AUTH_OPT, BEARER, PUBLIC, operator
from localgov.kernel.errors import RETRY_AFTER_S, Unavailable, database_fault, problem_responses
from localgov.kernel.pagination import Cursor, decode_cursor, encode_cursor
from localgov.kernel.reads import ReadConnection
from localgov.kernel.tenancy import TenantInfo, lao_profile
from localgov.platform.citus import check_shared_local, cluster_health, is_citus
from localgov.platform.models import Tenant, TenantDomain, TenantSource, TenantStatusCode
from localgov.platform.registry import LAO_TYPES, LaoType, lookup
from localgov.settings import Settings


class ServiceSummary(msgspec.Struct):
    slug: str
    title_th: str
    title_en: str


class Province(msgspec.Struct):
    code: str
    name_th: str
    name_en: str


class Contact(msgspec.Struct):
    address_th: str | None
    phone: str | None
    email: str | None
    website: str | None
    office_hours_th: str | None


class TenantProfileOut(msgspec.Struct):
    """The public profile of an LAO (ข้อมูลองค์กรปกครองส่วนท้องถิ่น)."""

    dla_code: str
    slug: str
    name_th: str
    name_en: str
    lao_type: LaoType
    lao_type_th: str
    lao_type_en: str
    province: Province
    district_th: str
    hosts: list[str]
    services: list[ServiceSummary]
    contact: Contact


class TenantSummary(msgspec.Struct):
    id: int
    dla_code: str
    slug: str
    name_th: str
    name_en: str
    lao_type: LaoType
    province_code: str
    status: TenantStatusCode
    plan_code: str
    enabled_services: list[str]
    domains: list[str]
    schema_name: str
    schema_revision: str | None
    source: TenantSource


class TenantPage(msgspec.Struct):
    items: list[TenantSummary]
    #: Pass as ``cursor`` for the next page; null on the last page.
    next_cursor: str | None


class HealthOut(msgspec.Struct):
    status: Literal["ok"]
    checks: dict[str, str] = msgspec.field(default_factory=dict)


class TenantProfileController(Controller):
    path = "/v1/tenant"
    tags = ["Tenant profile"]
    opt = {"surface": "tenant", AUTH_OPT: PUBLIC}  # the public profile, by design

    @get(
        "/",
        operation_id="getTenantProfile",
        summary="Public profile of the LAO served at this host",
        responses=problem_responses(403, 404, 410),
    )
    async def get_profile(
        self,
        request: Request[Any, Any, Any],
        tenant: NamedDependency[TenantInfo],
        settings: NamedDependency[Settings],
        db_read: NamedDependency[ReadConnection],
    ) -> TenantProfileOut:
        profile = await lao_profile(db_read, tenant)
        titles = request.app.state.service_titles
        entry = lookup(tenant.dla_code)
        base = settings.base_domain
        lao_type = cast(LaoType, tenant.lao_type)  # the catalog's copy of the registry's type
        return TenantProfileOut(
            dla_code=tenant.dla_code,
            slug=tenant.slug,
            name_th=tenant.name_th,
            name_en=tenant.name_en,
            lao_type=lao_type,
            lao_type_th=entry.type_th if entry else "",
            lao_type_en=LAO_TYPES.get(lao_type, lao_type),
            province=Province(tenant.province_code, tenant.province_th, tenant.province_en),
            district_th=tenant.district_th,
            hosts=[f"{tenant.slug}.{base}", *tenant.domains],
            services=[ServiceSummary(s, *titles[s]) for s in sorted(tenant.enabled_services) if s in titles],
            contact=Contact(
                address_th=profile.address_th,
                phone=profile.phone,
                email=profile.email,
                website=profile.website,
                office_hours_th=profile.office_hours_th,
            ),
        )


class OperatorTenantsController(Controller):
    path = "/v1/tenants"
    tags = ["Tenants (operator)"]
    opt = {"surface": "operator", AUTH_OPT: operator("platform_admin", "billing_admin")}
    security = [{BEARER: []}]

    @get(
        "/",
        operation_id="listTenants",
        summary="List tenants in the catalog (operator host)",
        responses=problem_responses(401, 403, 404),
    )
    async def list_tenants(
        self,
        db_session: NamedDependency[AsyncSession],
        limit: Annotated[int, QueryParameter(ge=1, le=500, description="Page size")] = 100,
        cursor: Cursor = None,
        status: Annotated[TenantStatusCode | None, QueryParameter(description="Only this status")] = None,
        province_code: Annotated[
            str | None, QueryParameter(pattern="^[0-9]{2}$", description="DOPA province code")
        ] = None,
    ) -> TenantPage:
        after = decode_cursor(cursor, tuple[int])
        query = select(Tenant).where(Tenant.id > (after[0] if after else 0)).order_by(Tenant.id).limit(limit + 1)
        if status is not None:
            query = query.where(Tenant.status == status)
        if province_code is not None:
            query = query.where(Tenant.province_code == province_code)
        tenants = (await db_session.execute(query)).scalars().all()
        page, more = tenants[:limit], len(tenants) > limit
        domains: dict[int, list[str]] = {}
        if page:
            rows = await db_session.execute(
                select(TenantDomain.tenant_id, func.array_agg(TenantDomain.domain))
                .where(TenantDomain.tenant_id.in_([t.id for t in page]), TenantDomain.verified_at.is_not(None))
                .group_by(TenantDomain.tenant_id)
            )
            domains = {tid: sorted(ds) for tid, ds in rows.all()}
        return TenantPage(
            items=[
                TenantSummary(
                    id=t.id,
                    dla_code=t.dla_code,
                    slug=t.slug,
                    name_th=t.name_th,
                    name_en=t.name_en,
                    lao_type=t.lao_type,
                    province_code=t.province_code,
                    status=t.status,
                    plan_code=t.plan_code,
                    enabled_services=list(t.enabled_services),
                    domains=domains.get(t.id, []),
                    schema_name=t.schema_name,
                    schema_revision=t.schema_revision,
                    source=t.source,
                )
                for t in page
            ],
            next_cursor=encode_cursor([page[-1].id]) if more and page else None,
        )


class HealthController(Controller):
    path = "/health"
    tags = ["Health"]
    opt = {"surface": "any", AUTH_OPT: PUBLIC}  # probes carry no credentials

    @get("/live", operation_id="getLiveness", summary="The process is up", responses=problem_responses())
    async def live(self) -> HealthOut:
        return HealthOut(status="ok")

    @get(
        "/ready",
        operation_id="getReadiness",
        summary="The database takes a write in time and every tenant schema is at head (Citus: every worker reachable)",
        responses=problem_responses(503),
    )
    async def ready(self, request: Request[Any, Any, Any]) -> HealthOut:
        from localgov.platform.migrate import behind_count_sql, history_heads, history_locations

        settings: Settings = request.app.state.settings
        bound_ms = settings.ready_write_timeout_ms
        checks: dict[str, str] = {}
        try:
            # The checkout too is bounded: a process whose pool is exhausted cannot serve writes.
            async with asyncio.timeout(bound_ms / 1000):
                conn = await request.app.state.engine.connect()
            try:
                await conn.execute(_PROBE_LIMITS, {"lock": f"{bound_ms}ms", "statement": f"{2 * bound_ms}ms"})
                await conn.execute(text("SELECT 1"))
                checks["database"] = "ok"
                # A write as requests make them (the outbox takes most requests' messages), rolled
                # back: a lock, a full disk or a read-only server that stalls writes fails it in time.
                await conn.execute(_PROBE_WRITE)
                checks["writes"] = "ok"
                await conn.rollback()  # the probe's row and its bounds end here
                # From the catalog's mirror: the core and every service a schema uses at its head
                # (a closed tenant's schema dropped by the purge has nothing to migrate).
                heads = msgspec.json.encode(history_heads(history_locations())).decode()
                behind = (await conn.execute(text(behind_count_sql()), {"heads": heads})).scalar_one()
                checks["tenant_schemas"] = "ok" if behind == 0 else f"{behind} behind head"
                await conn.rollback()
                if await is_citus(conn):
                    # Citus mode: the coordinator reaches every worker, and the shared schemas are its own.
                    health = await cluster_health(conn, bound_ms)
                    distributed = await check_shared_local(conn)
                    if health.unreachable:
                        checks["cluster"] = f"workers unreachable: {', '.join(health.unreachable)}"
                    elif distributed:
                        checks["cluster"] = f"shared objects distributed: {', '.join(distributed)}"
                    else:
                        checks["cluster"] = "ok" if health.workers else "no active worker"
                    await conn.rollback()
            finally:
                await conn.close()
        except Exception as exc:
            reason = database_fault(exc) or type(exc).__name__
            failed = next(c for c in ("database", "writes", "tenant_schemas", "cluster") if c not in checks)
            checks[failed] = f"unavailable: {reason}"
        if not (all(v == "ok" for v in checks.values()) and "tenant_schemas" in checks):
            refusal = Unavailable("Not ready to serve traffic.", code="not_ready", data={"checks": checks})
            refusal.headers = {"Retry-After": str(RETRY_AFTER_S)}
            raise refusal
        return HealthOut(status="ok", checks=checks)


#: The probe's own bounds, for its transaction only (a lock not granted in time is named as such).
_PROBE_LIMITS = text(
    "SELECT set_config('lock_timeout', :lock, true), set_config('statement_timeout', :statement, true)"
)
_PROBE_WRITE = text(
    "INSERT INTO platform.outbox (topic, payload, status) VALUES ('health.ready_probe', '{}'::jsonb, 'delivered')"
)


class MetricsController(Controller):
    path = "/metrics"
    tags = ["Health"]
    # Aggregates without tenant labels; restrict it at the load balancer in production.
    opt = {"surface": "any", AUTH_OPT: PUBLIC}
    include_in_schema = False

    @get("/", operation_id="getMetrics", media_type=CONTENT_TYPE_LATEST)
    async def metrics(self, request: Request[Any, Any, Any]) -> Response[bytes]:
        state = request.app.state
        state.metrics.tenants.set(len(state.catalog))
        state.metrics.catalog_version.set(state.catalog.version)
        pool = state.engine.sync_engine.pool
        state.metrics.pool_in_use.set(pool.checkedout() if hasattr(pool, "checkedout") else 0)
        return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
