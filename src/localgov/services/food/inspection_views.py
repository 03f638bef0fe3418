"""HTTP endpoints of inspections: the LAO's checklist, visits to a certified place, their photos."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from litestar import Controller, get, post, put
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.params import JSONBody, MultipartBody, QueryParameter
from litestar.response import Stream
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.audit import Actor, Origin
from localgov.kernel.auth.guards import guarded
from localgov.kernel.errors import problem_responses
from localgov.kernel.pagination import Cursor, Limit, cut_page, decode_cursor
from localgov.kernel.reads import ReadConnection
from localgov.kernel.storage import BlobStore, FileOwner, download_response, open_file, upload_chunks
from localgov.services.food import certificates, inspections
from localgov.services.food.params import (
    INSPECT_POLICY,
    MANAGE_POLICY,
    PHOTO_LIMITS,
    READ_POLICY,
    STAFF_ERRORS,
    CertificateId,
    FileId,
    InspectionId,
)
from localgov.services.food.schemas import (
    Checklist,
    ChecklistUpdate,
    InspectionCreate,
    InspectionPage,
    InspectionRead,
    PhotoRead,
)

TAG = "Food premises: inspections"
ItemCode = Annotated[
    str | None, QueryParameter(pattern=r"^[a-z][a-z0-9_]{0,39}$", description="The checklist item the photo shows")
]


class ChecklistController(Controller):
    path = "/checklist"
    tags = [TAG]

    @get(
        "/",
        operation_id="getFoodChecklist",
        summary="The LAO's hygiene checklist (active items, in order)",
        responses=problem_responses(*STAFF_ERRORS),
        **guarded(READ_POLICY),
    )
    async def fetch(self, db_read: NamedDependency[ReadConnection]) -> Checklist:
        return Checklist(items=await inspections.checklist(db_read))

    @put(
        "/",
        operation_id="putFoodChecklist",
        summary="Replace the active checklist (items left out are retired, kept for past visits)",
        responses=problem_responses(*STAFF_ERRORS, 400, 422),
        **guarded(MANAGE_POLICY),
    )
    async def put_(
        self,
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        data: JSONBody[ChecklistUpdate],
        db_session: NamedDependency[AsyncSession],
    ) -> Checklist:
        return Checklist(items=await inspections.put_checklist(db_session, data.items, actor=actor, origin=origin))


class CertificateInspectionController(Controller):
    path = "/certificates/{certificate_id:uuid}/inspections"
    tags = [TAG]

    @get(
        "/",
        operation_id="listFoodInspections",
        summary="The visits to a certified place, newest first",
        responses=problem_responses(*STAFF_ERRORS),
        **guarded(READ_POLICY),
    )
    async def list_(
        self,
        certificate_id: CertificateId,
        db_read: NamedDependency[ReadConnection],
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> InspectionPage:
        before = decode_cursor(cursor, tuple[dt.date, uuid.UUID])
        await certificates.certificate_row(db_read, certificate_id)
        rows = await inspections.inspections_of(db_read, certificate_id, before=before, limit=limit + 1)
        items, next_cursor = cut_page(rows, limit, key=lambda i: (i.visited_on, i.id))
        return InspectionPage(items=items, next_cursor=next_cursor)

    @post(
        "/",
        operation_id="recordFoodInspection",
        summary="Record a visit: every checklist item passed or failed; a failure schedules a repeat visit",
        description=(
            "422 `checklist_incomplete` (every active item, no unknown one), `duplicate_answer`, "
            "`invalid_visit_date`; 409 `food_certificate_not_active`."
        ),
        responses=problem_responses(*STAFF_ERRORS, 400, 409, 422),
        **guarded(INSPECT_POLICY),
    )
    async def record(
        self,
        certificate_id: CertificateId,
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        data: JSONBody[InspectionCreate],
        db_session: NamedDependency[AsyncSession],
    ) -> InspectionRead:
        inspection_id = await inspections.record_visit(db_session, certificate_id, data, actor=actor, origin=origin)
        return await inspections.inspection(db_session, inspection_id)


class InspectionController(Controller):
    path = "/inspections"
    tags = [TAG]

    @get(
        "/{inspection_id:uuid}",
        operation_id="getFoodInspection",
        summary="A visit with its answers and photos",
        responses=problem_responses(*STAFF_ERRORS),
        **guarded(READ_POLICY),
    )
    async def fetch(self, inspection_id: InspectionId, db_read: NamedDependency[ReadConnection]) -> InspectionRead:
        return await inspections.inspection(db_read, inspection_id)

    @post(
        "/{inspection_id:uuid}/photos",
        operation_id="uploadFoodInspectionPhoto",
        summary="Attach a photo to a visit (PNG, JPEG or WebP by content, 10 MiB)",
        request_max_body_size=PHOTO_LIMITS.request_body_limit(),
        responses=problem_responses(*STAFF_ERRORS, 400, 413, 415, 503),
        **guarded(INSPECT_POLICY),
    )
    async def upload(
        self,
        inspection_id: InspectionId,
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        data: MultipartBody[UploadFile],
        db_session: NamedDependency[AsyncSession],
        blob_store: NamedDependency[BlobStore],
        item: ItemCode = None,
    ) -> PhotoRead:
        stored = await inspections.add_photo(
            db_session,
            blob_store,
            inspection_id,
            item_code=item,
            data=upload_chunks(data),
            filename=data.filename or "",
            actor=actor,
            origin=origin,
        )
        read = await inspections.inspection(db_session, inspection_id)
        return next(p for p in read.photos if p.id == stored.id)

    @get(
        "/{inspection_id:uuid}/photos/{file_id:uuid}",
        operation_id="downloadFoodInspectionPhoto",
        summary="Download a photo of a visit",
        responses=problem_responses(*STAFF_ERRORS, 503),
        **guarded(READ_POLICY),
    )
    async def download(
        self,
        inspection_id: InspectionId,
        file_id: FileId,
        db_read: NamedDependency[ReadConnection],
        blob_store: NamedDependency[BlobStore],
    ) -> Stream:
        await inspections.inspection(db_read, inspection_id)
        owner = FileOwner("food.inspection", str(inspection_id))
        return download_response(await open_file(db_read, blob_store, file_id, owner=owner))
