"""HTTP endpoints of applications for staff: counter intake (drafts, submission), the eligibility
check, attachments, the workflow's steps (document check, plan review, site inspection, fees,
decision) and extensions of the decision time. The permit's own endpoints are in ``permit_views``,
the citizen's in ``citizen_views``.
"""

from __future__ import annotations

import datetime as dt
import uuid

from litestar import Controller, get, post, put
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
from localgov.kernel.reads import ReadConnection, Reader
from localgov.kernel.storage import BlobStore, StoredFileRead, download_response, open_file, upload_chunks
from localgov.kernel.tenancy import TenantInfo
from localgov.services.permits import applications, permits
from localgov.services.permits.config import load_config
from localgov.services.permits.eligibility import BuildingFacts, assess
from localgov.services.permits.params import (
    ELIGIBILITY,
    STAFF_ASSESS,
    STAFF_DECIDE,
    STAFF_ERRORS,
    STAFF_INSPECT,
    STAFF_INTAKE,
    STAFF_READ,
    ActionCode,
    ApplicationId,
    DocumentCode,
    FileId,
)
from localgov.services.permits.reading import application_read, summary_read
from localgov.services.permits.schemas import (
    ApplicationCreate,
    ApplicationForm,
    ApplicationPage,
    ApplicationRead,
    ApplicationUpdate,
    Decision,
    EligibilityCheck,
    EligibilityRead,
    ExtensionCreate,
    ExtensionRead,
    FeeAssessment,
    FileRead,
    InspectionResult,
    InspectionSchedule,
    Versioned,
)
from localgov.settings import Settings

TAG = "Permits: applications"
UPLOAD_DESCRIPTION = (
    "`multipart/form-data` with the file in the part `data`; `?document=` says which document of the checklist it "
    "is (`other` for anything else; `inspection_photo`, images only, while the site is inspected). At most 10 MiB "
    "(413 `file_too_large`); PDF, PNG, JPEG, TIFF or WebP **by content** (415 `file_type_not_allowed`)."
)


async def show(
    reader: Reader,
    application_id: uuid.UUID,
    *,
    settings: Settings,
    tenant: TenantInfo,
    citizen_id: uuid.UUID | None = None,
) -> ApplicationRead:
    row = await applications.get_application(reader, application_id, citizen_id=citizen_id)
    config = await load_config(reader)
    return await application_read(
        reader, row, config=config, settings=settings, tenant=tenant, mine=citizen_id is not None
    )


def file_read(stored: StoredFileRead, application_id: uuid.UUID, code: str, *, mine: bool) -> FileRead:
    base = f"/v1/permits/{'me/applications' if mine else 'applications'}/{application_id}"
    return FileRead(
        id=stored.id,
        document_code=code,
        filename=stored.filename,
        media_type=stored.content_type,
        size=stored.size_bytes,
        sha256=stored.sha256,
        uploaded_at=stored.created_at,
        download_path=f"{base}/files/{stored.id}",
    )


async def check_eligibility(reader: Reader, data: EligibilityCheck) -> EligibilityRead:
    applications.check_figure(data.height_m, "height_m", high=300)
    applications.check_figure(data.floor_area_m2, "floor_area_m2", high=1_000_000)
    config = await load_config(reader)
    form = ApplicationForm(area_type=data.area_type)
    area_type = applications.area_type_of(config, form)
    facts = BuildingFacts(
        kind=data.kind, use=data.use, storeys=data.storeys, height_m=data.height_m, floor_area_m2=data.floor_area_m2
    )
    result = assess(facts, config.rules[area_type])
    return EligibilityRead(
        area_type=area_type,
        eligible=result.eligible,
        simplified=result.simplified,
        engineer_required=result.engineer_required,
        architect_required=result.architect_required,
        reasons=result.reasons,
        documents=result.documents,
        route_th=result.route_th,
        route_en=result.route_en,
    )


class EligibilityController(Controller):
    path = "/eligibility"
    tags = [TAG]

    @post(
        "/",
        status_code=200,
        operation_id="checkPermitEligibility",
        summary="Check a building against this service's rules before applying (reasons in Thai and English)",
        responses=problem_responses(401, 403, 404, 422),
        **guarded(ELIGIBILITY),
    )
    async def check(
        self, data: JSONBody[EligibilityCheck], db_read: NamedDependency[ReadConnection]
    ) -> EligibilityRead:
        return await check_eligibility(db_read, data)


class ApplicationController(Controller):
    path = "/applications"
    tags = [TAG]

    @post(
        "/",
        operation_id="createPermitApplication",
        summary="Start an application ข.1 at the counter (a draft, for a walk-in)",
        responses=problem_responses(*STAFF_ERRORS, 400, 422),
        **guarded(STAFF_INTAKE),
    )
    async def create(
        self,
        data: JSONBody[ApplicationCreate],
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        settings: NamedDependency[Settings],
        tenant: NamedDependency[TenantInfo],
        db_session: NamedDependency[AsyncSession],
    ) -> ApplicationRead:
        app_id = await applications.create_draft(
            db_session, data.form, channel="counter", citizen_id=None, actor=actor, origin=origin
        )
        return await show(db_session, app_id, settings=settings, tenant=tenant)

    @get(
        "/",
        operation_id="listPermitApplications",
        summary="The LAO's applications, newest first",
        responses=problem_responses(*STAFF_ERRORS),
        **guarded(STAFF_READ),
    )
    async def index(
        self, db_read: NamedDependency[ReadConnection], cursor: Cursor = None, limit: Limit = 50
    ) -> ApplicationPage:
        rows = await applications.list_applications(db_read, citizen_id=None, after=id_cursor(cursor), limit=limit)
        items = [summary_read(row) for row in rows]
        return ApplicationPage(items=items, next_cursor=next_id_cursor(items, limit))

    @get(
        "/{application_id:uuid}",
        operation_id="getPermitApplication",
        summary="An application: its form, eligibility, checklist, files, case, deadline, fees and permit",
        responses=problem_responses(*STAFF_ERRORS),
        **guarded(STAFF_READ),
    )
    async def detail(
        self,
        application_id: ApplicationId,
        settings: NamedDependency[Settings],
        tenant: NamedDependency[TenantInfo],
        db_read: NamedDependency[ReadConnection],
    ) -> ApplicationRead:
        return await show(db_read, application_id, settings=settings, tenant=tenant)

    @put(
        "/{application_id:uuid}",
        operation_id="savePermitApplicationDraft",
        summary="Save a draft (the whole form, against the version the caller saw)",
        responses=problem_responses(*STAFF_ERRORS, 400, 409, 422),
        **guarded(STAFF_INTAKE),
    )
    async def save(
        self,
        application_id: ApplicationId,
        data: JSONBody[ApplicationUpdate],
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        settings: NamedDependency[Settings],
        tenant: NamedDependency[TenantInfo],
        db_session: NamedDependency[AsyncSession],
    ) -> ApplicationRead:
        await applications.update_draft(
            db_session, application_id, data.form, version=data.version, citizen_id=None, actor=actor, origin=origin
        )
        return await show(db_session, application_id, settings=settings, tenant=tenant)

    @post(
        "/{application_id:uuid}/submit",
        status_code=200,
        operation_id="submitPermitApplication",
        summary="Submit a draft at the counter: checked against the rules, then a case with a tracking number",
        description=(
            "422 `permits_application_incomplete` (`data.missing`), `permits_not_eligible` (`data.reasons` in Thai "
            "and English, `data.route_th`: the general permit route), `permits_professional_required` "
            "(`data.missing`: engineer / architect); 409 `permits_application_submitted`."
        ),
        responses=problem_responses(*STAFF_ERRORS, 409, 422),
        **guarded(STAFF_INTAKE),
    )
    async def submit(
        self,
        application_id: ApplicationId,
        principal: NamedDependency[Principal],
        permissions: NamedDependency[frozenset[str]],
        origin: NamedDependency[Origin],
        settings: NamedDependency[Settings],
        tenant: NamedDependency[TenantInfo],
        db_session: NamedDependency[AsyncSession],
    ) -> ApplicationRead:
        actor = await engine.caller_actor(db_session, principal, permissions)
        await applications.submit(
            db_session, application_id, tenant=tenant, actor=actor, origin=origin, now=dt.datetime.now(dt.UTC)
        )
        return await show(db_session, application_id, settings=settings, tenant=tenant)

    @post(
        "/{application_id:uuid}/files",
        operation_id="uploadPermitApplicationFile",
        summary="Attach a document of the checklist, or a photo of the site inspection",
        description=UPLOAD_DESCRIPTION,
        request_max_body_size=applications.UPLOAD_LIMITS.request_body_limit(),
        responses=problem_responses(*STAFF_ERRORS, 400, 409, 413, 415, 422, 503),
        **guarded(STAFF_INTAKE | STAFF_INSPECT),
    )
    async def upload(
        self,
        application_id: ApplicationId,
        document: DocumentCode,
        data: MultipartBody[UploadFile],
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        db_session: NamedDependency[AsyncSession],
        blob_store: NamedDependency[BlobStore],
    ) -> FileRead:
        stored = await applications.attach_file(
            db_session,
            blob_store,
            application_id,
            upload_chunks(data),
            filename=data.filename or "",
            document_code=document,
            uploaded_by=actor,
            origin=origin,
        )
        return file_read(stored, application_id, document, mine=False)

    @get(
        "/{application_id:uuid}/files/{file_id:uuid}",
        operation_id="downloadPermitApplicationFile",
        summary="Download an attachment of an application",
        responses=problem_responses(*STAFF_ERRORS, 503),
        **guarded(STAFF_READ),
    )
    async def download(
        self,
        application_id: ApplicationId,
        file_id: FileId,
        db_read: NamedDependency[ReadConnection],
        blob_store: NamedDependency[BlobStore],
    ) -> Stream:
        await applications.get_application(db_read, application_id)
        return download_response(
            await open_file(db_read, blob_store, file_id, owner=applications.file_owner(application_id))
        )

    @post(
        "/{application_id:uuid}/actions/{action:str}",
        status_code=200,
        operation_id="takePermitApplicationAction",
        summary="Take a step of the workflow that needs no more than a comment, against the case's version",
        description=(
            "`accept_documents` (every document of the checklist on file, else 422 `permits_documents_missing`; the "
            "45-working-day time of the decision starts), `request_documents` (comment: what is missing; the clock "
            "stops), `resubmit_at_counter`, `approve_plans`, `withdraw_at_counter`. Steps with their own endpoint: "
            "409 `permits_action_has_own_endpoint`. The engine's refusals: 409 `case_version_conflict`, "
            "`case_action_unavailable`; 403 `case_action_forbidden`; 422 `case_comment_required`."
        ),
        responses=problem_responses(*STAFF_ERRORS, 400, 409, 422),
        **guarded(STAFF_READ),
    )
    async def action(
        self,
        application_id: ApplicationId,
        action: ActionCode,
        data: JSONBody[Versioned],
        principal: NamedDependency[Principal],
        permissions: NamedDependency[frozenset[str]],
        origin: NamedDependency[Origin],
        settings: NamedDependency[Settings],
        tenant: NamedDependency[TenantInfo],
        db_session: NamedDependency[AsyncSession],
    ) -> ApplicationRead:
        actor = await engine.caller_actor(db_session, principal, permissions)
        await applications.take_action(
            db_session, application_id, action, actor=actor, version=data.version, comment=data.comment,
            now=dt.datetime.now(dt.UTC), origin=origin,
        )  # fmt: skip
        return await show(db_session, application_id, settings=settings, tenant=tenant)

    @post(
        "/{application_id:uuid}/inspection",
        status_code=200,
        operation_id="schedulePermitInspection",
        summary="Schedule the site inspection (the applicant is notified of the appointment)",
        responses=problem_responses(*STAFF_ERRORS, 400, 409, 422),
        **guarded(STAFF_INSPECT),
    )
    async def schedule(
        self,
        application_id: ApplicationId,
        data: JSONBody[InspectionSchedule],
        principal: NamedDependency[Principal],
        permissions: NamedDependency[frozenset[str]],
        origin: NamedDependency[Origin],
        settings: NamedDependency[Settings],
        tenant: NamedDependency[TenantInfo],
        db_session: NamedDependency[AsyncSession],
    ) -> ApplicationRead:
        actor = await engine.caller_actor(db_session, principal, permissions)
        await applications.schedule_inspection(
            db_session, application_id, at=data.at, place_th=data.place_th, actor=actor, version=data.version,
            now=dt.datetime.now(dt.UTC), origin=origin,
        )  # fmt: skip
        return await show(db_session, application_id, settings=settings, tenant=tenant)

    @post(
        "/{application_id:uuid}/inspection/result",
        status_code=200,
        operation_id="recordPermitInspection",
        summary="Record the site inspection's result (its photos attached first as `inspection_photo` files)",
        description="409 `permits_inspection_not_scheduled`; 422 `permits_inspection_photos_missing`.",
        responses=problem_responses(*STAFF_ERRORS, 400, 409, 422),
        **guarded(STAFF_INSPECT),
    )
    async def result(
        self,
        application_id: ApplicationId,
        data: JSONBody[InspectionResult],
        principal: NamedDependency[Principal],
        permissions: NamedDependency[frozenset[str]],
        origin: NamedDependency[Origin],
        settings: NamedDependency[Settings],
        tenant: NamedDependency[TenantInfo],
        db_session: NamedDependency[AsyncSession],
    ) -> ApplicationRead:
        actor = await engine.caller_actor(db_session, principal, permissions)
        await applications.record_inspection(
            db_session, application_id, passed=data.passed, note=data.note, actor=actor, version=data.version,
            now=dt.datetime.now(dt.UTC), origin=origin,
        )  # fmt: skip
        return await show(db_session, application_id, settings=settings, tenant=tenant)

    @post(
        "/{application_id:uuid}/fees",
        status_code=200,
        operation_id="assessPermitFees",
        summary="Assess the fees (plan check, MR 7; permit, MR 70) from the LAO's table and bill them",
        description=(
            "One bill through the payments service (`source` `permits`, `source_key` the application's id), "
            "addressed to `payer_id` (404 `unknown_payer`) or, without it, to the applicant's payer record (found by "
            "the 13-digit ID, or made from the application)."
        ),
        responses=problem_responses(*STAFF_ERRORS, 400, 409, 422),
        **guarded(STAFF_ASSESS),
    )
    async def fees(
        self,
        application_id: ApplicationId,
        data: JSONBody[FeeAssessment],
        principal: NamedDependency[Principal],
        permissions: NamedDependency[frozenset[str]],
        origin: NamedDependency[Origin],
        settings: NamedDependency[Settings],
        tenant: NamedDependency[TenantInfo],
        db_session: NamedDependency[AsyncSession],
    ) -> ApplicationRead:
        actor = await engine.caller_actor(db_session, principal, permissions)
        await applications.bill_fees(
            db_session, application_id, payer_id=data.payer_id, tenant=tenant, actor=actor, version=data.version,
            comment=data.comment, now=dt.datetime.now(dt.UTC), origin=origin,
        )  # fmt: skip
        return await show(db_session, application_id, settings=settings, tenant=tenant)

    @post(
        "/{application_id:uuid}/decision",
        status_code=200,
        operation_id="decidePermitApplication",
        summary="The local official's decision: approve (permit อ.1 once paid) or refuse with reasons",
        responses=problem_responses(*STAFF_ERRORS, 400, 409, 422),
        **guarded(STAFF_DECIDE),
    )
    async def decide(
        self,
        application_id: ApplicationId,
        data: JSONBody[Decision],
        principal: NamedDependency[Principal],
        permissions: NamedDependency[frozenset[str]],
        origin: NamedDependency[Origin],
        settings: NamedDependency[Settings],
        tenant: NamedDependency[TenantInfo],
        db_session: NamedDependency[AsyncSession],
    ) -> ApplicationRead:
        actor = await engine.caller_actor(db_session, principal, permissions)
        await permits.decide(
            db_session, application_id, approve=data.approve, reasons_th=data.reasons_th, actor=actor,
            version=data.version, now=dt.datetime.now(dt.UTC), origin=origin,
        )  # fmt: skip
        return await show(db_session, application_id, settings=settings, tenant=tenant)

    @post(
        "/{application_id:uuid}/extensions",
        operation_id="extendPermitDecisionTime",
        summary="Extend the decision time with reasons (at most twice, before the running deadline)",
        description=(
            "409 `permits_extension_refused` (`data.reason`: `deadline_passed`, `no_extensions_left`, "
            "`not_under_consideration`); 422 `permits_extension_invalid` (days above the LAO's limit)."
        ),
        responses=problem_responses(*STAFF_ERRORS, 400, 409, 422),
        **guarded(STAFF_DECIDE),
    )
    async def extend(
        self,
        application_id: ApplicationId,
        data: JSONBody[ExtensionCreate],
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        db_session: NamedDependency[AsyncSession],
    ) -> ExtensionRead:
        extension = await applications.extend_deadline(
            db_session, application_id, days=data.days, reason_th=data.reason_th, actor=actor, origin=origin,
            now=dt.datetime.now(dt.UTC),
        )  # fmt: skip
        return ExtensionRead(
            seq=extension.seq,
            days=extension.days,
            reason_th=extension.reason_th,
            previous_due_on=extension.previous_due_on,
            due_on=extension.due_on,
            granted_at=extension.granted_at,
        )
