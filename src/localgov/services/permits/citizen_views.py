"""HTTP endpoints of a signed-in citizen: his own applications (drafts online, submission, his
files, supplying missing documents, withdrawing) and his permit's PDF. Another citizen's
application, or another LAO's, answers 404."""

from __future__ import annotations

import datetime as dt

from litestar import Controller, Response, get, post, put
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.params import JSONBody, MultipartBody
from litestar.response import Stream
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel import cases as engine
from localgov.kernel.audit import Actor, Origin
from localgov.kernel.auth.guards import guarded
from localgov.kernel.auth.tokens import Principal
from localgov.kernel.errors import problem_responses
from localgov.kernel.pagination import Cursor, Limit, id_cursor, next_id_cursor
from localgov.kernel.reads import ReadConnection
from localgov.kernel.storage import BlobStore, download_response, open_file, upload_chunks
from localgov.kernel.tenancy import TenantInfo
from localgov.services.permits import applications
from localgov.services.permits.application_views import file_read, show
from localgov.services.permits.params import (
    CITIZEN,
    CITIZEN_ERRORS,
    ActionCode,
    ApplicationId,
    DocumentCode,
    FileId,
    citizen_uuid,
)
from localgov.services.permits.permit_views import permit_pdf
from localgov.services.permits.reading import summary_read
from localgov.services.permits.schemas import (
    ApplicationCreate,
    ApplicationPage,
    ApplicationRead,
    ApplicationUpdate,
    FileRead,
    Versioned,
)
from localgov.settings import Settings

TAG = "Permits: my applications"


class MyApplicationController(Controller):
    path = "/me/applications"
    tags = [TAG]

    @post(
        "/",
        operation_id="createMyPermitApplication",
        summary="Start an application ข.1 online (a draft, editable until it is submitted)",
        responses=problem_responses(*CITIZEN_ERRORS, 400, 422),
        **guarded(CITIZEN),
    )
    async def create(
        self,
        data: JSONBody[ApplicationCreate],
        principal: NamedDependency[Principal],
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        settings: NamedDependency[Settings],
        tenant: NamedDependency[TenantInfo],
        db_session: NamedDependency[AsyncSession],
    ) -> ApplicationRead:
        citizen_id = citizen_uuid(principal)
        app_id = await applications.create_draft(
            db_session, data.form, channel="online", citizen_id=citizen_id, actor=actor, origin=origin
        )
        return await show(db_session, app_id, settings=settings, tenant=tenant, citizen_id=citizen_id)

    @get(
        "/",
        operation_id="listMyPermitApplications",
        summary="My applications, newest first",
        responses=problem_responses(*CITIZEN_ERRORS),
        **guarded(CITIZEN),
    )
    async def index(
        self,
        principal: NamedDependency[Principal],
        db_read: NamedDependency[ReadConnection],
        cursor: Cursor = None,
        limit: Limit = 50,
    ) -> ApplicationPage:
        rows = await applications.list_applications(
            db_read, citizen_id=citizen_uuid(principal), after=id_cursor(cursor), limit=limit
        )
        items = [summary_read(row) for row in rows]
        return ApplicationPage(items=items, next_cursor=next_id_cursor(items, limit))

    @get(
        "/{application_id:uuid}",
        operation_id="getMyPermitApplication",
        summary="One of my applications",
        responses=problem_responses(*CITIZEN_ERRORS),
        **guarded(CITIZEN),
    )
    async def detail(
        self,
        application_id: ApplicationId,
        principal: NamedDependency[Principal],
        settings: NamedDependency[Settings],
        tenant: NamedDependency[TenantInfo],
        db_read: NamedDependency[ReadConnection],
    ) -> ApplicationRead:
        return await show(db_read, application_id, settings=settings, tenant=tenant, citizen_id=citizen_uuid(principal))

    @put(
        "/{application_id:uuid}",
        operation_id="saveMyPermitApplicationDraft",
        summary="Save my draft (the whole form, against the version I saw)",
        responses=problem_responses(*CITIZEN_ERRORS, 400, 409, 422),
        **guarded(CITIZEN),
    )
    async def save(
        self,
        application_id: ApplicationId,
        data: JSONBody[ApplicationUpdate],
        principal: NamedDependency[Principal],
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        settings: NamedDependency[Settings],
        tenant: NamedDependency[TenantInfo],
        db_session: NamedDependency[AsyncSession],
    ) -> ApplicationRead:
        citizen_id = citizen_uuid(principal)
        await applications.update_draft(
            db_session,
            application_id,
            data.form,
            version=data.version,
            citizen_id=citizen_id,
            actor=actor,
            origin=origin,
        )
        return await show(db_session, application_id, settings=settings, tenant=tenant, citizen_id=citizen_id)

    @post(
        "/{application_id:uuid}/submit",
        status_code=200,
        operation_id="submitMyPermitApplication",
        summary="Submit my draft: checked against the rules (reasons in Thai and English when refused)",
        responses=problem_responses(*CITIZEN_ERRORS, 409, 422),
        **guarded(CITIZEN),
    )
    async def submit(
        self,
        application_id: ApplicationId,
        principal: NamedDependency[Principal],
        origin: NamedDependency[Origin],
        settings: NamedDependency[Settings],
        tenant: NamedDependency[TenantInfo],
        db_session: NamedDependency[AsyncSession],
    ) -> ApplicationRead:
        citizen_id = citizen_uuid(principal)
        await applications.submit(
            db_session, application_id, tenant=tenant, actor=engine.citizen_actor(citizen_id), origin=origin,
            now=dt.datetime.now(dt.UTC), citizen_id=citizen_id,
        )  # fmt: skip
        return await show(db_session, application_id, settings=settings, tenant=tenant, citizen_id=citizen_id)

    @post(
        "/{application_id:uuid}/files",
        operation_id="uploadMyPermitApplicationFile",
        summary="Attach a document of my application's checklist",
        request_max_body_size=applications.UPLOAD_LIMITS.request_body_limit(),
        responses=problem_responses(*CITIZEN_ERRORS, 400, 409, 413, 415, 422, 503),
        **guarded(CITIZEN),
    )
    async def upload(
        self,
        application_id: ApplicationId,
        document: DocumentCode,
        data: MultipartBody[UploadFile],
        principal: NamedDependency[Principal],
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        db_session: NamedDependency[AsyncSession],
        blob_store: NamedDependency[BlobStore],
    ) -> FileRead:
        stored = await applications.attach_file(
            db_session, blob_store, application_id, upload_chunks(data), filename=data.filename or "",
            document_code=document, uploaded_by=actor, origin=origin, citizen_id=citizen_uuid(principal),
        )  # fmt: skip
        return file_read(stored, application_id, document, mine=True)

    @get(
        "/{application_id:uuid}/files/{file_id:uuid}",
        operation_id="downloadMyPermitApplicationFile",
        summary="Download a file of my application",
        responses=problem_responses(*CITIZEN_ERRORS, 503),
        **guarded(CITIZEN),
    )
    async def download(
        self,
        application_id: ApplicationId,
        file_id: FileId,
        principal: NamedDependency[Principal],
        db_read: NamedDependency[ReadConnection],
        blob_store: NamedDependency[BlobStore],
    ) -> Stream:
        await applications.get_application(db_read, application_id, citizen_id=citizen_uuid(principal))
        return download_response(
            await open_file(db_read, blob_store, file_id, owner=applications.file_owner(application_id))
        )

    @post(
        "/{application_id:uuid}/actions/{action:str}",
        status_code=200,
        operation_id="takeMyPermitApplicationAction",
        summary="`resubmit` (I supplied the missing documents) or `withdraw` my application",
        responses=problem_responses(*CITIZEN_ERRORS, 400, 409, 422),
        **guarded(CITIZEN),
    )
    async def action(
        self,
        application_id: ApplicationId,
        action: ActionCode,
        data: JSONBody[Versioned],
        principal: NamedDependency[Principal],
        origin: NamedDependency[Origin],
        settings: NamedDependency[Settings],
        tenant: NamedDependency[TenantInfo],
        db_session: NamedDependency[AsyncSession],
    ) -> ApplicationRead:
        citizen_id = citizen_uuid(principal)
        await applications.take_action(
            db_session, application_id, action, actor=engine.citizen_actor(citizen_id), version=data.version,
            comment=data.comment, now=dt.datetime.now(dt.UTC), origin=origin, citizen_id=citizen_id,
        )  # fmt: skip
        return await show(db_session, application_id, settings=settings, tenant=tenant, citizen_id=citizen_id)

    @get(
        "/{application_id:uuid}/permit/pdf",
        operation_id="getMyPermitPdf",
        summary="My permit อ.1 as PDF",
        media_type="application/pdf",
        responses=problem_responses(*CITIZEN_ERRORS, 409),
        **guarded(CITIZEN),
    )
    async def pdf(
        self,
        application_id: ApplicationId,
        principal: NamedDependency[Principal],
        settings: NamedDependency[Settings],
        tenant: NamedDependency[TenantInfo],
        db_read: NamedDependency[ReadConnection],
        blob_store: NamedDependency[BlobStore],
    ) -> Response[bytes]:
        return await permit_pdf(
            db_read,
            application_id,
            settings=settings,
            tenant=tenant,
            store=blob_store,
            citizen_id=citizen_uuid(principal),
        )
