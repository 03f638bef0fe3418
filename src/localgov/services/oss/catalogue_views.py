"""HTTP endpoints of the catalogue: staff edit, version and publish manuals; anyone reads the
published ones (JSON here, the pages in ``page_views``)."""

from __future__ import annotations

from typing import Annotated, Literal

from litestar import Controller, delete, get, post, put
from litestar.di import NamedDependency
from litestar.params import JSONBody, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.audit import Actor, Origin
from localgov.kernel.auth.guards import PUBLIC, guarded
from localgov.kernel.errors import problem_responses
from localgov.kernel.pagination import Cursor, Limit, cut_page, decode_cursor
from localgov.kernel.reads import ReadConnection, Row
from localgov.kernel.tenancy import TenantInfo
from localgov.kernel.thai import BANGKOK, thai_date
from localgov.services.oss import catalogue
from localgov.services.oss.params import (
    EDIT,
    PUBLISH,
    READ,
    STAFF_ERRORS,
    ServiceCodePath,
    ServiceId,
    VersionNo,
    service_page_path,
)
from localgov.services.oss.schemas import (
    PublicService,
    PublicServicePage,
    PublicServiceSummary,
    ServiceCreate,
    ServicePage,
    ServicePublish,
    ServiceRead,
    ServiceSummary,
    ServiceUpdate,
    ServiceVersionPage,
    ServiceVersionRead,
    ServiceVersionSummary,
)

StatusFilter = Annotated[
    Literal["draft", "published", "withdrawn"] | None, QueryParameter(description="Only services in this state")
]


def _unpublished(row: Row) -> bool:
    return row["published_version"] is not None and row["published_version"] < row["version"]


def service_read(row: Row) -> ServiceRead:
    manual = catalogue.decode_manual(row["content"])
    return ServiceRead(
        id=row["id"],
        code=row["code"],
        status=row["status"],
        version=row["version"],
        published_version=row["published_version"],
        has_unpublished_changes=_unpublished(row),
        manual=manual,
        total_time=catalogue.total_time(manual),
        legal_time_limit=catalogue.time_limit(manual),
        created_at=row["created_at"],
        created_by=row["created_by"],
        updated_at=row["updated_at"],
        updated_by=row["updated_by"],
        published_at=row["published_at"],
        published_by=row["published_by"],
    )


def public_service(row: Row, tenant: TenantInfo) -> PublicService:
    manual = catalogue.decode_manual(row["content"])
    return PublicService(
        code=row["code"],
        version=row["published_version"],
        published_at=row["published_at"],
        published_date_be=thai_date(row["published_at"].astimezone(BANGKOK).date(), digits="arabic"),
        lao_name_th=tenant.name_th,
        lao_name_en=tenant.name_en,
        manual=manual,
        total_time=catalogue.total_time(manual),
        legal_time_limit=catalogue.time_limit(manual),
        page_path=service_page_path(row["code"]),
    )


def public_summary(row: Row) -> PublicServiceSummary:
    manual = catalogue.decode_manual(row["content"])
    return PublicServiceSummary(
        code=row["code"],
        name_th=manual.name_th,
        name_en=manual.name_en,
        owning_unit_th=manual.owning_unit_th,
        total_time=catalogue.total_time(manual),
        no_fee=manual.no_fee,
        page_path=service_page_path(row["code"]),
    )


class ServiceController(Controller):
    path = "/services"
    tags = ["OSS: catalogue (staff)"]

    @get(
        "/",
        operation_id="listOssServices",
        summary="Every service of the catalogue, drafts included, by Thai name",
        responses=problem_responses(*STAFF_ERRORS),
        **guarded(READ),
    )
    async def index(
        self,
        db_read: NamedDependency[ReadConnection],
        status: StatusFilter = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> ServicePage:
        after = decode_cursor(cursor, tuple[str, str])
        rows, next_cursor = cut_page(
            await catalogue.list_services(db_read, status, after=after, limit=limit + 1),
            limit,
            key=lambda r: (r["name_th"], r["code"]),
        )
        return ServicePage(
            next_cursor=next_cursor,
            items=[
                ServiceSummary(
                    id=r["id"],
                    code=r["code"],
                    name_th=r["name_th"],
                    name_en=r["name_en"],
                    status=r["status"],
                    version=r["version"],
                    published_version=r["published_version"],
                    has_unpublished_changes=_unpublished(r),
                    updated_at=r["updated_at"],
                )
                for r in rows
            ],
        )

    @post(
        "/",
        operation_id="createOssService",
        summary="Add a service and its manual, as a draft (version 1)",
        description=(
            "400 `validation_error` for a malformed field; 422 for a rule between fields (`fees_missing`, "
            "`fees_contradict`, `time_exceeds_legal_limit`, `unknown_unit`, `required`, `document_count`, "
            "`invalid_amount`, with `data.field`); 409 `service_code_taken`."
        ),
        responses=problem_responses(*STAFF_ERRORS, 409, 422),
        **guarded(EDIT),
    )
    async def create(
        self,
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        data: JSONBody[ServiceCreate],
        db_session: NamedDependency[AsyncSession],
    ) -> ServiceRead:
        service_id = await catalogue.create_service(db_session, data, actor=actor, origin=origin)
        return service_read(await catalogue.service_view(db_session, service_id))

    @get(
        "/{service_id:uuid}",
        operation_id="getOssService",
        summary="One service: its current manual, state and computed total time",
        responses=problem_responses(*STAFF_ERRORS),
        **guarded(READ),
    )
    async def fetch(self, service_id: ServiceId, db_read: NamedDependency[ReadConnection]) -> ServiceRead:
        return service_read(await catalogue.service_view(db_read, service_id))

    @put(
        "/{service_id:uuid}",
        operation_id="updateOssService",
        summary="Save a new version of the manual (optimistic: `version` is the one you edited)",
        description=(
            "409 `version_conflict` (with `data.current_version`) when someone saved since; the public keeps "
            "seeing the published version until this one is published. Same 422 rules as creation."
        ),
        responses=problem_responses(*STAFF_ERRORS, 409, 422),
        **guarded(EDIT),
    )
    async def update(
        self,
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        service_id: ServiceId,
        data: JSONBody[ServiceUpdate],
        db_session: NamedDependency[AsyncSession],
    ) -> ServiceRead:
        await catalogue.update_service(db_session, service_id, data, actor=actor, origin=origin)
        return service_read(await catalogue.service_view(db_session, service_id))

    @delete(
        "/{service_id:uuid}",
        operation_id="deleteOssService",
        summary="Delete a service that was never published (409 `service_was_published`: withdraw it instead)",
        responses=problem_responses(*STAFF_ERRORS, 409),
        **guarded(EDIT),
    )
    async def remove(
        self,
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        service_id: ServiceId,
        db_session: NamedDependency[AsyncSession],
    ) -> None:
        await catalogue.delete_service(db_session, service_id, actor=actor, origin=origin)

    @post(
        "/{service_id:uuid}/publish",
        status_code=200,
        operation_id="publishOssService",
        summary="Publish the current version: the public catalogue and page show it",
        description=(
            "`version` must be the current version (409 `version_conflict` otherwise); the manual is checked "
            "again (422 when a unit it names is gone). Publishing the published version again changes nothing."
        ),
        responses=problem_responses(*STAFF_ERRORS, 409, 422),
        **guarded(PUBLISH),
    )
    async def publish(
        self,
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        service_id: ServiceId,
        data: JSONBody[ServicePublish],
        db_session: NamedDependency[AsyncSession],
    ) -> ServiceRead:
        await catalogue.publish_service(db_session, service_id, data, actor=actor, origin=origin)
        return service_read(await catalogue.service_view(db_session, service_id))

    @post(
        "/{service_id:uuid}/unpublish",
        status_code=200,
        operation_id="unpublishOssService",
        summary="Withdraw a published service from the public catalogue (409 `service_not_published`)",
        responses=problem_responses(*STAFF_ERRORS, 409),
        **guarded(PUBLISH),
    )
    async def unpublish(
        self,
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        service_id: ServiceId,
        db_session: NamedDependency[AsyncSession],
    ) -> ServiceRead:
        await catalogue.unpublish_service(db_session, service_id, actor=actor, origin=origin)
        return service_read(await catalogue.service_view(db_session, service_id))

    @get(
        "/{service_id:uuid}/versions",
        operation_id="listOssServiceVersions",
        summary="The edit history of a manual, newest first (who saved each version, when, why)",
        responses=problem_responses(*STAFF_ERRORS),
        **guarded(READ),
    )
    async def versions(
        self,
        service_id: ServiceId,
        db_read: NamedDependency[ReadConnection],
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> ServiceVersionPage:
        before = decode_cursor(cursor, tuple[int])
        row, versions = await catalogue.versions_page(
            db_read, service_id, before=before[0] if before else None, limit=limit + 1
        )
        page, next_cursor = cut_page(versions, limit, key=lambda v: (v.version,))
        return ServiceVersionPage(
            service_id=row["id"],
            code=row["code"],
            next_cursor=next_cursor,
            items=[
                ServiceVersionSummary(
                    version=v.version,
                    created_at=v.created_at,
                    created_by=v.created_by,
                    note=v.note,
                    published=v.version == row["published_version"],
                )
                for v in page
            ],
        )

    @get(
        "/{service_id:uuid}/versions/{version:int}",
        operation_id="getOssServiceVersion",
        summary="One saved version of a manual, as it was saved",
        responses=problem_responses(*STAFF_ERRORS),
        **guarded(READ),
    )
    async def version(
        self, service_id: ServiceId, version: VersionNo, db_read: NamedDependency[ReadConnection]
    ) -> ServiceVersionRead:
        row = await catalogue.version_view(db_read, service_id, version)
        manual = catalogue.decode_manual(row["content"])
        return ServiceVersionRead(
            service_id=row["service_id"],
            version=row["version"],
            created_at=row["created_at"],
            created_by=row["created_by"],
            note=row["note"],
            manual=manual,
            total_time=catalogue.total_time(manual),
        )


class CatalogueController(Controller):
    path = "/catalogue"
    tags = ["OSS: public catalogue"]

    @get(
        "/",
        operation_id="listPublishedOssServices",
        summary="The LAO's published services (public): names, owning unit, total time, whether there is a fee",
        responses=problem_responses(404, 410),
        **guarded(PUBLIC),  # the public manuals are published for everyone, by law
    )
    async def index(
        self,
        tenant: NamedDependency[TenantInfo],
        db_read: NamedDependency[ReadConnection],
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> PublicServicePage:
        after = decode_cursor(cursor, tuple[str, str])
        rows, next_cursor = cut_page(
            await catalogue.published_services(db_read, after=after, limit=limit + 1),
            limit,
            key=lambda r: (r["content"]["name_th"], r["code"]),
        )
        return PublicServicePage(
            lao_name_th=tenant.name_th,
            lao_name_en=tenant.name_en,
            items=[public_summary(r) for r in rows],
            next_cursor=next_cursor,
        )

    @get(
        "/{code:str}",
        operation_id="getPublishedOssService",
        summary="A published manual (public); 404 `service_not_found` for a draft, withdrawn or unknown code",
        responses=problem_responses(404, 410),
        **guarded(PUBLIC),
    )
    async def fetch(
        self, tenant: NamedDependency[TenantInfo], code: ServiceCodePath, db_read: NamedDependency[ReadConnection]
    ) -> PublicService:
        return public_service(await catalogue.published_service(db_read, code), tenant)
