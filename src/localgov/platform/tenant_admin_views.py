"""HTTP endpoints of an LAO's administrators for their own tenant: contact details, services, domains."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, delete, get, patch, put
from litestar.di import NamedDependency
from litestar.params import JSONBody, PathParameter
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.audit import Actor, Origin
from localgov.kernel.auth.guards import guarded, staff
from localgov.kernel.errors import problem_responses
from localgov.kernel.etags import IfMatch, require_match
from localgov.kernel.tenancy import TenantInfo
from localgov.kernel.web import current_tenant
from localgov.platform import tenant_admin as svc
from localgov.platform.views import Contact
from localgov.settings import Settings

ADMIN = staff("tenant_admin")
ServiceSlug = Annotated[str, PathParameter(max_length=31, description="A service's slug (`payments` …)")]
DomainParam = Annotated[str, PathParameter(max_length=253, description="A host name such as `www.example.go.th`")]


class ContactUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    """The public contact details to change; a field left out stays as it is, ``null`` clears it."""

    address_th: Annotated[str, msgspec.Meta(max_length=500)] | msgspec.UnsetType | None = msgspec.UNSET
    phone: Annotated[str, msgspec.Meta(max_length=40)] | msgspec.UnsetType | None = msgspec.UNSET
    email: Annotated[str, msgspec.Meta(max_length=254)] | msgspec.UnsetType | None = msgspec.UNSET
    website: Annotated[str, msgspec.Meta(max_length=300)] | msgspec.UnsetType | None = msgspec.UNSET
    office_hours_th: Annotated[str, msgspec.Meta(max_length=200)] | msgspec.UnsetType | None = msgspec.UNSET


class CorsOrigins(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Browser origins whose scripts may call this LAO's API (CORS): ``https://host[:port]``."""

    origins: Annotated[
        list[Annotated[str, msgspec.Meta(max_length=300, examples=["https://app.example.org"])]],
        msgspec.Meta(max_length=svc.MAX_CORS_ORIGINS),
    ]


class Plan(msgspec.Struct, kw_only=True):
    code: str
    name_th: str
    name_en: str


class Service(msgspec.Struct, kw_only=True):
    """A service of the platform: whether the LAO's plan includes it and whether the LAO offers it."""

    slug: str
    title_th: str
    title_en: str
    in_plan: bool
    enabled: bool


class ServiceList(msgspec.Struct, kw_only=True):
    plan: Plan
    items: list[Service]


class DomainList(msgspec.Struct, kw_only=True):
    """The LAO's hosts: its sub-domain of the platform and its custom domains."""

    platform_host: str
    domains: list[str]


def _services(request: Request[Any, Any, Any], tenant: Any, plan: Any) -> ServiceList:
    states = svc.service_states(tenant, plan, request.app.state.service_titles)
    return ServiceList(
        plan=Plan(code=plan.code, name_th=plan.name_th, name_en=plan.name_en),
        items=[msgspec.convert(msgspec.structs.asdict(s), Service) for s in states],
    )


async def _domains(request: Request[Any, Any, Any], session: AsyncSession) -> DomainList:
    tenant = current_tenant(request)
    rows = await svc.list_domains(session, tenant.id)
    return DomainList(
        platform_host=f"{tenant.slug}.{request.app.state.settings.base_domain}", domains=[d.domain for d in rows]
    )


class TenantAdminController(Controller):
    path = "/v1/tenant"
    tags = ["Tenant administration"]
    opt = {"surface": "tenant"}

    @patch(
        "/contact",
        operation_id="updateTenantContact",
        summary="Change the LAO's public contact details (shown by `GET /v1/tenant`)",
        description="400 `invalid_profile` with the fields in `errors` (phone, e-mail, http(s) website …).",
        responses=problem_responses(401, 403, 404, 410),
        **guarded(ADMIN),
    )
    async def update_contact(
        self,
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        data: JSONBody[ContactUpdate],
        db_session: NamedDependency[AsyncSession],
    ) -> Contact:
        changes = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
        profile = await svc.update_profile(db_session, changes, actor=actor, origin=origin)
        return Contact(**svc.contact_of(profile))

    @get(
        "/cors",
        operation_id="getTenantCorsOrigins",
        summary="The browser origins allowed to call the LAO's API (CORS)",
        responses=problem_responses(401, 403, 404, 410),
        **guarded(ADMIN),
    )
    async def get_cors(
        self, tenant: NamedDependency[TenantInfo], db_session: NamedDependency[AsyncSession]
    ) -> CorsOrigins:
        return CorsOrigins(origins=await svc.cors_origins(db_session, tenant.id))

    @put(
        "/cors",
        operation_id="setTenantCorsOrigins",
        summary="Set the browser origins allowed to call the LAO's API (CORS); effective within seconds",
        description=(
            "Each origin is `https://host[:port]` (`http://localhost:<port>` for development); no path, no "
            "wildcard. 400 `invalid_origin` with the origins in `errors`. Send `If-Match` with the ETag of "
            "`GET /v1/tenant/cors` to refuse a lost update (412 `etag_mismatch`)."
        ),
        responses=problem_responses(401, 403, 404, 410, 412),
        **guarded(ADMIN),
    )
    async def set_cors(
        self,
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        tenant: NamedDependency[TenantInfo],
        data: JSONBody[CorsOrigins],
        db_session: NamedDependency[AsyncSession],
        if_match: IfMatch = None,
    ) -> CorsOrigins:
        require_match(if_match, CorsOrigins(origins=await svc.cors_origins(db_session, tenant.id)))
        origins = await svc.set_cors_origins(db_session, tenant.id, data.origins, actor=actor, origin=origin)
        return CorsOrigins(origins=origins)

    @get(
        "/services",
        operation_id="listTenantServices",
        summary="The platform's services: which the LAO's plan includes and which the LAO offers",
        responses=problem_responses(401, 403, 404, 410),
        **guarded(ADMIN),
    )
    async def services(
        self,
        request: Request[Any, Any, Any],
        tenant: NamedDependency[TenantInfo],
        db_session: NamedDependency[AsyncSession],
    ) -> ServiceList:
        row, plan = await svc.tenant_plan(db_session, tenant.id)
        return _services(request, row, plan)

    @put(
        "/services/{slug:str}",
        operation_id="enableTenantService",
        summary="Offer a service (idempotent); its routes answer at once",
        description="404 `unknown_service`; 409 `service_not_in_plan` when the LAO's plan does not include it.",
        responses=problem_responses(401, 403, 404, 409, 410),
        **guarded(ADMIN),
    )
    async def enable(
        self,
        request: Request[Any, Any, Any],
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        tenant: NamedDependency[TenantInfo],
        slug: ServiceSlug,
        db_session: NamedDependency[AsyncSession],
    ) -> ServiceList:
        row, plan = await svc.set_service(
            db_session,
            tenant.id,
            slug,
            enabled=True,
            plugins=request.app.state.plugins,
            actor=actor,
            origin=origin,
        )
        return _services(request, row, plan)

    @delete(
        "/services/{slug:str}",
        status_code=200,
        operation_id="disableTenantService",
        summary="Stop offering a service (idempotent); its routes answer 404 `service_not_enabled`, its data is kept",
        responses=problem_responses(401, 403, 404, 410),
        **guarded(ADMIN),
    )
    async def disable(
        self,
        request: Request[Any, Any, Any],
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        tenant: NamedDependency[TenantInfo],
        slug: ServiceSlug,
        db_session: NamedDependency[AsyncSession],
    ) -> ServiceList:
        row, plan = await svc.set_service(
            db_session,
            tenant.id,
            slug,
            enabled=False,
            plugins=request.app.state.plugins,
            actor=actor,
            origin=origin,
        )
        return _services(request, row, plan)

    @get(
        "/domains",
        operation_id="listTenantDomains",
        summary="The LAO's custom domains",
        responses=problem_responses(401, 403, 404, 410),
        **guarded(ADMIN),
    )
    async def domains(self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]) -> DomainList:
        return await _domains(request, db_session)

    @put(
        "/domains/{domain:str}",
        operation_id="addTenantDomain",
        summary="Serve the LAO at a custom domain too (idempotent); point its DNS at the platform",
        description=(
            f"400 `invalid_domain` (not a lower-case host, or under the platform's domain); 409 `domain_taken` "
            f"when another LAO has it; 409 `too_many_domains` beyond {svc.MAX_DOMAINS}."
        ),
        responses=problem_responses(401, 403, 404, 409, 410),
        **guarded(ADMIN),
    )
    async def add_domain(
        self,
        request: Request[Any, Any, Any],
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        tenant: NamedDependency[TenantInfo],
        settings: NamedDependency[Settings],
        domain: DomainParam,
        db_session: NamedDependency[AsyncSession],
    ) -> DomainList:
        await svc.add_domain(
            db_session,
            tenant.id,
            domain,
            base_domain=settings.base_domain,
            actor=actor,
            origin=origin,
        )
        return await _domains(request, db_session)

    @delete(
        "/domains/{domain:str}",
        status_code=200,
        operation_id="removeTenantDomain",
        summary="Stop serving the LAO at a custom domain",
        description="404 `domain_not_found` when the LAO has no such domain.",
        responses=problem_responses(401, 403, 404, 410),
        **guarded(ADMIN),
    )
    async def remove_domain(
        self,
        request: Request[Any, Any, Any],
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        tenant: NamedDependency[TenantInfo],
        domain: DomainParam,
        db_session: NamedDependency[AsyncSession],
    ) -> DomainList:
        await svc.remove_domain(db_session, tenant.id, domain, actor=actor, origin=origin)
        return await _domains(request, db_session)
