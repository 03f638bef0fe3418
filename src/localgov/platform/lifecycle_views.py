"""HTTP endpoints of a tenant's life: the operator's actions on the operator host, and what a
(possibly suspended) LAO's staff see on its own host: why, and their data as an archive."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.datastructures import CacheControlHeader
from litestar.di import NamedDependency
from litestar.params import JSONBody, PathParameter
from litestar.response import File
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.audit import Actor, Origin
from localgov.kernel.auth.guards import guarded, operator, staff
from localgov.kernel.errors import problem_responses
from localgov.kernel.ratelimit import hit
from localgov.kernel.tenancy import TenantInfo
from localgov.kernel.text import ONE_LINE
from localgov.platform import lifecycle
from localgov.platform.models import Tenant, TenantArchive, TenantDomain, TenantSource, TenantStatusCode
from localgov.platform.registry import LaoType
from localgov.settings import Settings

ZIP = "application/zip"
NO_STORE = CacheControlHeader(no_store=True)
#: Exports an LAO's administrators may download per hour (each reads the whole schema).
EXPORTS_PER_HOUR = 10
#: One line of text, not blank, without control characters (PostgreSQL refuses NUL in text).
REASON_PATTERN = ONE_LINE
Reason = Annotated[str, msgspec.Meta(min_length=1, max_length=500, pattern=REASON_PATTERN)]
TenantId = Annotated[int, PathParameter(ge=1, description="The tenant's id in the catalog")]
ArchiveId = Annotated[int, PathParameter(ge=1, description="The archive's id")]
PLATFORM_ADMIN = operator("platform_admin")
OPERATOR_READ = operator("platform_admin", "billing_admin")


class StatusChange(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Why the operator suspends or closes the LAO (its staff see this text)."""

    reason: Reason


class Archive(msgspec.Struct, kw_only=True):
    """An export archive of the tenant's data, kept by the platform."""

    id: int
    #: ``close`` (made when the tenant was closed) or ``request`` (asked for by a person).
    reason: str
    file_name: str
    size_bytes: int
    sha256: str
    row_counts: dict[str, int]
    created_by: str | None
    created_at: dt.datetime


class TenantDetail(msgspec.Struct, kw_only=True):
    """One tenant as the operator sees it: catalog entry, status with reason and dates, archives."""

    id: int
    dla_code: str
    slug: str
    name_th: str
    name_en: str
    lao_type: LaoType
    province_code: str
    #: ``active``, ``suspended`` or ``closed``.
    status: TenantStatusCode
    status_reason: str | None
    status_changed_at: dt.datetime | None
    #: A closed tenant's schema is dropped after this moment (once its closing archive exists).
    purge_after: dt.datetime | None
    schema_dropped_at: dt.datetime | None
    plan_code: str
    enabled_services: list[str]
    domains: list[str]
    schema_name: str
    schema_revision: str | None
    source: TenantSource
    created_at: dt.datetime
    archives: list[Archive]


class ExportQueued(msgspec.Struct, kw_only=True):
    """The worker will write the archive; it then appears in the tenant's ``archives``."""

    outbox_id: int
    reason: str


class TenantStatus(msgspec.Struct, kw_only=True):
    """Whether the LAO is served, and if not why and since when (สถานะการใช้บริการ)."""

    status: TenantStatusCode
    reason: str | None
    since: dt.datetime | None
    message_th: str
    message_en: str


_MESSAGES = {
    "active": ("อปท. ใช้บริการได้ตามปกติ", "The LAO's services are available."),
    "suspended": (
        "ผู้ให้บริการแพลตฟอร์มระงับการใช้บริการของ อปท. ชั่วคราว ข้อมูลทั้งหมดยังคงอยู่ ผู้ดูแลระบบของ อปท. ยังเข้าสู่ระบบและส่งออกข้อมูลได้",
        "The platform operator has suspended the LAO's services. All data is kept; the LAO's"
        " administrators can still log in and export it.",
    ),
}


def _archive(a: TenantArchive) -> Archive:
    return Archive(
        id=a.id,
        reason=a.reason,
        file_name=a.file_name,
        size_bytes=a.size_bytes,
        sha256=a.sha256,
        row_counts={k: int(v) for k, v in a.row_counts.items()},
        created_by=a.created_by,
        created_at=a.created_at,
    )


async def _detail(session: AsyncSession, tenant: Tenant) -> TenantDetail:
    routed = select(TenantDomain.domain).where(
        TenantDomain.tenant_id == tenant.id, TenantDomain.verified_at.is_not(None)
    )
    domains = (await session.execute(routed)).scalars().all()
    archives = await lifecycle.list_archives(session, tenant.id)
    return TenantDetail(
        id=tenant.id,
        dla_code=tenant.dla_code,
        slug=tenant.slug,
        name_th=tenant.name_th,
        name_en=tenant.name_en,
        lao_type=tenant.lao_type,
        province_code=tenant.province_code,
        status=tenant.status,
        status_reason=tenant.status_reason,
        status_changed_at=tenant.status_changed_at,
        purge_after=tenant.purge_after,
        schema_dropped_at=tenant.schema_dropped_at,
        plan_code=tenant.plan_code,
        enabled_services=list(tenant.enabled_services),
        domains=sorted(domains),
        schema_name=tenant.schema_name,
        schema_revision=tenant.schema_revision,
        source=tenant.source,
        created_at=tenant.created_at,
        archives=[_archive(a) for a in archives],
    )


def _zip_response(path: Any, download_name: str, sha256: str) -> File:
    return File(
        path=path,
        filename=download_name,
        media_type=ZIP,
        # RFC 9530: the client can check what it received against the archive's recorded digest.
        headers={"Repr-Digest": f"sha-256=:{base64.b64encode(bytes.fromhex(sha256)).decode()}:"},
    )


def download_name(slug: str, dla_code: str, reason: str, created_at: dt.datetime) -> str:
    return f"{slug}-{dla_code}-{reason}-{created_at.strftime('%Y%m%dT%H%M%SZ')}.zip"


class OperatorTenantLifecycleController(Controller):
    path = "/v1/tenants"
    tags = ["Tenants (operator)"]
    opt = {"surface": "operator"}

    @get(
        "/{tenant_id:int}",
        operation_id="getTenant",
        summary="One tenant: catalog entry, status with its reason and dates, export archives",
        responses=problem_responses(401, 403, 404),
        **guarded(OPERATOR_READ),
    )
    async def show(self, tenant_id: TenantId, db_session: NamedDependency[AsyncSession]) -> TenantDetail:
        return await _detail(db_session, await lifecycle.get_tenant(db_session, tenant_id))

    @post(
        "/{tenant_id:int}/suspend",
        status_code=200,
        operation_id="suspendTenant",
        summary="Suspend an active tenant: its routes answer 403 `tenant_suspended`, its data is kept",
        description=(
            "Its staff can still log in, read `/v1/tenant/status` (with this reason) and export their data. "
            "409 `tenant_wrong_state` unless the tenant is active."
        ),
        responses=problem_responses(401, 403, 404, 409),
        **guarded(PLATFORM_ADMIN),
    )
    async def suspend(
        self,
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        tenant_id: TenantId,
        data: JSONBody[StatusChange],
        db_session: NamedDependency[AsyncSession],
    ) -> TenantDetail:
        tenant = await lifecycle.suspend(
            db_session,
            tenant_id,
            reason=data.reason.strip(),
            actor=actor,
            origin=origin,
        )
        return await _detail(db_session, tenant)

    @post(
        "/{tenant_id:int}/reactivate",
        status_code=200,
        operation_id="reactivateTenant",
        summary="Serve a suspended tenant again",
        description="409 `tenant_wrong_state` unless the tenant is suspended (closing is final).",
        responses=problem_responses(401, 403, 404, 409),
        **guarded(PLATFORM_ADMIN),
    )
    async def reactivate(
        self,
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        tenant_id: TenantId,
        db_session: NamedDependency[AsyncSession],
    ) -> TenantDetail:
        tenant = await lifecycle.reactivate(db_session, tenant_id, actor=actor, origin=origin)
        return await _detail(db_session, tenant)

    @post(
        "/{tenant_id:int}/close",
        status_code=200,
        operation_id="closeTenant",
        summary="Close a tenant for good: 410 on its hosts, closing archive, schema dropped after retention",
        description=(
            "The worker writes the closing export archive; the schema is dropped once `purge_after` "
            "(`LOCALGOV_CLOSED_RETENTION_DAYS` from now) has passed and that archive is on disk and intact. "
            "409 `tenant_wrong_state` when already closed."
        ),
        responses=problem_responses(401, 403, 404, 409),
        **guarded(PLATFORM_ADMIN),
    )
    async def close(
        self,
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        settings: NamedDependency[Settings],
        tenant_id: TenantId,
        data: JSONBody[StatusChange],
        db_session: NamedDependency[AsyncSession],
    ) -> TenantDetail:
        tenant = await lifecycle.close(
            db_session,
            tenant_id,
            reason=data.reason.strip(),
            retention_days=settings.closed_retention_days,
            actor=actor,
            origin=origin,
        )
        return await _detail(db_session, tenant)

    @post(
        "/{tenant_id:int}/archives",
        status_code=202,
        operation_id="requestTenantExport",
        summary="Ask the worker for a fresh export archive of the tenant",
        description=(
            "For a closed tenant the archive counts as its closing archive. 409 `tenant_wrong_state` once the "
            "schema was dropped."
        ),
        responses=problem_responses(401, 403, 404, 409),
        **guarded(PLATFORM_ADMIN),
    )
    async def request_export(
        self,
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        tenant_id: TenantId,
        db_session: NamedDependency[AsyncSession],
    ) -> ExportQueued:
        entry = await lifecycle.request_export(db_session, tenant_id, actor=actor, origin=origin)
        return ExportQueued(outbox_id=entry.id, reason=entry.payload["reason"])

    @get(
        "/{tenant_id:int}/archives/{archive_id:int}",
        operation_id="downloadTenantArchive",
        summary="Download an export archive (ZIP)",
        description="404 `archive_not_found` for an archive of another tenant or one whose file is gone.",
        media_type=ZIP,
        cache_control=NO_STORE,
        responses=problem_responses(401, 403, 404),
        **guarded(PLATFORM_ADMIN),
    )
    async def download(
        self,
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        settings: NamedDependency[Settings],
        tenant_id: TenantId,
        archive_id: ArchiveId,
        db_session: NamedDependency[AsyncSession],
    ) -> File:
        tenant, archive, path = await lifecycle.archive_for_download(
            db_session, settings, tenant_id, archive_id, actor=actor, origin=origin
        )
        return _zip_response(
            path, download_name(tenant.slug, tenant.dla_code, archive.reason, archive.created_at), archive.sha256
        )


class TenantStatusController(Controller):
    path = "/v1/tenant"
    tags = ["Tenant status"]
    opt = {"surface": "tenant"}

    @get(
        "/status",
        operation_id="getTenantStatus",
        summary="Whether the LAO is served, and if suspended why and since when (answers while suspended)",
        responses=problem_responses(401, 403, 404, 410),
        allow_suspended=True,
        **guarded(staff()),
    )
    async def status(
        self, tenant: NamedDependency[TenantInfo], db_session: NamedDependency[AsyncSession]
    ) -> TenantStatus:
        info = tenant
        row = (
            await db_session.execute(
                select(Tenant.status, Tenant.status_reason, Tenant.status_changed_at).where(Tenant.id == info.id)
            )
        ).one()
        message_th, message_en = _MESSAGES.get(row.status, _MESSAGES["suspended"])
        return TenantStatus(
            status=row.status,
            reason=row.status_reason,
            since=row.status_changed_at,
            message_th=message_th,
            message_en=message_en,
        )

    @get(
        "/export",
        operation_id="exportTenantData",
        summary="Download all of the LAO's data as a fresh archive (ZIP of CSV files; answers while suspended)",
        description=(
            "One consistent snapshot: a UTF-8 CSV per table, the LAO's rows of the platform's tables, "
            "`manifest.json` and `README.txt`. The archive is kept and listed to the operator. "
            f"At most {EXPORTS_PER_HOUR} per hour per LAO (429 `rate_limited`)."
        ),
        media_type=ZIP,
        cache_control=NO_STORE,
        responses=problem_responses(401, 403, 404, 410, 429),
        allow_suspended=True,
        **guarded(staff("tenant_admin")),
    )
    async def export(
        self,
        request: Request[Any, Any, Any],
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        tenant: NamedDependency[TenantInfo],
        db_session: NamedDependency[AsyncSession],
    ) -> File:
        state = request.app.state
        await hit(state.engine, f"export:{tenant.id}", limit=EXPORTS_PER_HOUR, window_s=3600)
        result, _archive = await lifecycle.export_for_admin(
            state.engine, db_session, state.settings, tenant.id, actor=actor, origin=origin
        )
        return _zip_response(
            result.path,
            download_name(tenant.slug, tenant.dla_code, "export", result.manifest.created_at),
            result.sha256,
        )
