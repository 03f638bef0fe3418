"""What people see of their requests: a signed-in citizen's own requests (file one online, follow
it, attach files, answer a deficiency record, withdraw, message the office), and the public status
of a request by its tracking number and verification code (the receipt).

The applicant sees his request without staff's identities or internal notes: the steps of its
history with the comments meant for him (``workflow.APPLICANT_COMMENTS``), the messages marked
for him, his files and the deficiency records. Another citizen's request is "not found", as is
another LAO's.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.params import JSONBody, MultipartBody
from litestar.response import Stream
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel import cases as engine
from localgov.kernel.audit import Actor, Origin
from localgov.kernel.auth.guards import PUBLIC, guarded
from localgov.kernel.auth.tokens import Principal
from localgov.kernel.citizens import citizen_ref
from localgov.kernel.documents import mask_name
from localgov.kernel.errors import NotFound, problem_responses
from localgov.kernel.pagination import Cursor, Limit, id_cursor, next_id_cursor
from localgov.kernel.ratelimit import hit
from localgov.kernel.reads import ReadConnection, Reader
from localgov.kernel.storage import BlobStore, download_response, open_file
from localgov.kernel.tenancy import TenantInfo
from localgov.services.oss import cases, deficiency
from localgov.services.oss.case_views import (
    PDF,
    UPLOAD_DESCRIPTION,
    DocumentParam,
    applicant_read,
    comment_read,
    file_read,
    pdf_response,
    receipt_pdf,
    record_read,
    required_documents,
    service_ref,
    steps,
)
from localgov.services.oss.deficiency_views import deficiency_pdf, find_record
from localgov.services.oss.params import (
    CITIZEN,
    ONLINE_INTAKE_LIMIT_PER_CITIZEN,
    TRACK_LIMIT_PER_ADDRESS,
    TRACK_LIMIT_PER_NUMBER,
    CaseId,
    FileId,
    RecordId,
    citizen_uuid,
    receipt_path,
    track_page_path,
)
from localgov.services.oss.schemas import (
    ApplicantCommentCreate,
    CaseFileRead,
    CommentRead,
    DeficiencySupplied,
    MyCaseOpened,
    MyCasePage,
    MyCaseRead,
    MyCaseSummary,
    OnlineCreate,
    PublicCaseStatus,
    PublicDeficiency,
    PublicStep,
    TrackQuery,
    Withdrawal,
)
from localgov.settings import Settings

CITIZEN_ERRORS = (401, 403, 404, 410)
#: What a person following his request is told of each step (the state it led to).
PUBLIC_STEP_TITLES: dict[str, tuple[str, str]] = {
    "open": ("ยื่นคำขอแล้ว", "Request filed"),
    "start_check": ("เจ้าหน้าที่ตรวจสอบคำขอและเอกสาร", "Being checked"),
    "record_deficiency": ("คำขอหรือเอกสารยังไม่ครบถ้วน รอผู้ยื่นคำขอแก้ไข", "Missing items: awaiting the applicant"),
    "supply": ("ผู้ยื่นคำขอแก้ไขแล้ว ตรวจสอบอีกครั้ง", "Items supplied: being checked again"),
    "supply_at_counter": ("ผู้ยื่นคำขอแก้ไขแล้ว ตรวจสอบอีกครั้ง", "Items supplied: being checked again"),
    "expire": ("พ้นกำหนดแก้ไข คืนคำขอแล้ว", "Returned: the deadline passed"),
    "accept": ("รับคำขอไว้พิจารณา", "Accepted for consideration"),
    "approve": ("อนุญาต / ดำเนินการแล้วเสร็จ", "Approved"),
    "refuse": ("ไม่อนุญาต", "Refused"),
    "withdraw": ("ถอนคำขอแล้ว", "Withdrawn"),
    "withdraw_at_counter": ("ถอนคำขอแล้ว", "Withdrawn"),
}


def my_case_read(view: cases.CaseView) -> MyCaseRead:
    state = engine.get_case_type(view.case_type).state(view.state)
    actor = engine.citizen_actor(view.applicant_citizen_id) if view.applicant_citizen_id else None
    actions: list[str] = []
    if actor is not None and view.closed_at is None:
        actions = [a.code for a in engine.get_case_type(view.case_type).actions_from(view.state) if a.applicant]
    return MyCaseRead(
        id=view.id,
        tracking_number=view.tracking_number,
        state=view.state,
        state_title_th=state.title_th,
        state_title_en=state.title_en,
        version=view.version,
        channel=view.channel,
        service=service_ref(view),
        applicant=applicant_read(view),
        details_th=view.data.details_th,
        opened_at=view.opened_at,
        due_at=view.due_at,
        decided_at=view.decided_at,
        closed_at=view.closed_at,
        required_documents=required_documents(view),
        refusal=view.data.refusal,
        history=steps(view, for_applicant=True),
        files=[file_read(f, view.id, mine=True) for f in view.files],
        deficiencies=[record_read(r, view.id, mine=True) for r in view.deficiencies],
        comments=[comment_read(c, mine=True) for c in view.comments],
        actions=actions,
        receipt_path=receipt_path(view.id, mine=True),
    )


async def _mine(reader: Reader, principal: Principal, case_id: uuid.UUID) -> cases.CaseView:
    return await cases.applicant_view(reader, case_id, citizen_uuid(principal))


class MyCasesController(Controller):
    path = "/me/cases"
    tags = ["OSS: my requests"]

    @post(
        "/",
        operation_id="fileMyOssRequest",
        summary="File a request online, as the signed-in citizen: its tracking number and verification code",
        description=(
            "For a published service of the catalogue (422 `service_not_published`). The applicant is the "
            "caller; his name defaults to his account's. The request waits in `received` until an officer starts "
            "checking it. Limited per citizen (429 `rate_limited`)."
        ),
        responses=problem_responses(*CITIZEN_ERRORS, 400, 422, 429),
        **guarded(CITIZEN),
    )
    async def create(
        self,
        request: Request[Any, Any, Any],
        tenant: NamedDependency[TenantInfo],
        settings: NamedDependency[Settings],
        principal: NamedDependency[Principal],
        origin: NamedDependency[Origin],
        data: JSONBody[OnlineCreate],
        db_session: NamedDependency[AsyncSession],
    ) -> MyCaseOpened:
        citizen_id = citizen_uuid(principal)
        limit, window = ONLINE_INTAKE_LIMIT_PER_CITIZEN
        await hit(request.app.state.engine, f"oss.intake:{tenant.id}:{citizen_id}", limit=limit, window_s=window)
        account = await citizen_ref(db_session, citizen_id)
        if account is None:
            raise NotFound("No such citizen in this LAO.", code="citizen_not_found")
        name = data.applicant_name or account.name
        if not name:
            raise engine.InvalidCaseInput(
                "Your account has no name: give applicant_name.", data={"field": "applicant_name"}
            )
        now = dt.datetime.now(dt.UTC)
        case_id, _ = await cases.open_request(
            db_session,
            tenant=tenant,
            service_code=data.service_code,
            applicant=cases.ApplicantInput(
                name=name,
                thai_id=data.applicant_thai_id,
                phone=data.phone,
                email=data.email or account.email,
                address_th=data.address_th,
                details_th=data.details_th,
            ),
            citizen_id=citizen_id,
            channel="online",
            actor=engine.citizen_actor(citizen_id),
            now=now,
            origin=origin,
        )
        view = await cases.applicant_view(db_session, case_id, citizen_id)
        return MyCaseOpened(
            case=my_case_read(view),
            verification_code=cases.verification_code(settings.secret_key, tenant.id, view.id, view.code_salt),
            track_url=settings.public_url(track_page_path(view.tracking_number), slug=tenant.slug),
        )

    @get(
        "/",
        operation_id="listMyOssRequests",
        summary="The calling citizen's requests, newest first (paged by `after`, the last id)",
        responses=problem_responses(*CITIZEN_ERRORS),
        **guarded(CITIZEN),
    )
    async def index(
        self,
        principal: NamedDependency[Principal],
        db_read: NamedDependency[ReadConnection],
        cursor: Cursor = None,
        limit: Limit = 50,
    ) -> MyCasePage:
        rows = await cases.my_cases(db_read, citizen_uuid(principal), after=id_cursor(cursor), limit=limit)
        items = []
        for row in rows:
            state = engine.get_case_type(row["case_type"]).state(row["state"])
            items.append(
                MyCaseSummary(
                    id=row["id"],
                    tracking_number=row["tracking_number"],
                    service_name_th=row["service"]["name_th"],
                    service_name_en=row["service"]["name_en"],
                    state=row["state"],
                    state_title_th=state.title_th,
                    state_title_en=state.title_en,
                    version=row["version"],
                    opened_at=row["opened_at"],
                    due_at=row["due_at"],
                    decided_at=row["decided_at"],
                    closed_at=row["closed_at"],
                )
            )
        return MyCasePage(items=items, next_cursor=next_id_cursor(items, limit))

    @get(
        "/{case_id:uuid}",
        operation_id="getMyOssRequest",
        summary="One of the caller's requests: its state, history, files, deficiency records, messages",
        responses=problem_responses(*CITIZEN_ERRORS),
        **guarded(CITIZEN),
    )
    async def fetch(
        self, case_id: CaseId, principal: NamedDependency[Principal], db_read: NamedDependency[ReadConnection]
    ) -> MyCaseRead:
        return my_case_read(await _mine(db_read, principal, case_id))

    @post(
        "/{case_id:uuid}/withdraw",
        status_code=200,
        operation_id="withdrawMyOssRequest",
        summary="Withdraw the caller's open request (409 `case_version_conflict`, `case_action_unavailable`)",
        responses=problem_responses(*CITIZEN_ERRORS, 409),
        **guarded(CITIZEN),
    )
    async def withdraw(
        self,
        case_id: CaseId,
        principal: NamedDependency[Principal],
        origin: NamedDependency[Origin],
        data: JSONBody[Withdrawal],
        db_session: NamedDependency[AsyncSession],
    ) -> MyCaseRead:
        citizen_id = citizen_uuid(principal)
        await cases.applicant_withdraw(
            db_session, case_id, citizen_id, version=data.version, comment=data.comment,
            now=dt.datetime.now(dt.UTC), origin=origin,
        )  # fmt: skip
        return my_case_read(await cases.applicant_view(db_session, case_id, citizen_id))

    @post(
        "/{case_id:uuid}/comments",
        operation_id="addMyOssRequestComment",
        summary="A message from the applicant on his request (the office reads it)",
        responses=problem_responses(*CITIZEN_ERRORS, 400),
        **guarded(CITIZEN),
    )
    async def comment(
        self,
        case_id: CaseId,
        principal: NamedDependency[Principal],
        origin: NamedDependency[Origin],
        data: JSONBody[ApplicantCommentCreate],
        db_session: NamedDependency[AsyncSession],
    ) -> CommentRead:
        citizen_id = citizen_uuid(principal)
        comment_id = await cases.add_comment(
            db_session,
            case_id,
            body=data.body,
            visible_to_applicant=True,
            author=Actor("citizen", str(citizen_id)),
            now=dt.datetime.now(dt.UTC),
            origin=origin,
            citizen_id=citizen_id,
        )
        view = await cases.applicant_view(db_session, case_id, citizen_id)
        return comment_read(next(c for c in view.comments if c.id == comment_id), mine=True)

    @post(
        "/{case_id:uuid}/files",
        operation_id="uploadMyOssRequestFile",
        summary="Attach a file to the caller's open request (a document of the manual, or a missing item)",
        description=UPLOAD_DESCRIPTION,
        request_max_body_size=cases.UPLOAD_LIMITS.request_body_limit(),
        responses=problem_responses(*CITIZEN_ERRORS, 400, 409, 413, 415, 422, 503),
        **guarded(CITIZEN),
    )
    async def upload(
        self,
        case_id: CaseId,
        principal: NamedDependency[Principal],
        origin: NamedDependency[Origin],
        data: MultipartBody[UploadFile],
        db_session: NamedDependency[AsyncSession],
        blob_store: NamedDependency[BlobStore],
        document: DocumentParam = None,
    ) -> CaseFileRead:
        citizen_id = citizen_uuid(principal)
        stored, code = await cases.attach_file(
            db_session, blob_store, case_id, data, document_code=document,
            uploaded_by=Actor("citizen", str(citizen_id)), now=dt.datetime.now(dt.UTC), origin=origin,
            citizen_id=citizen_id,
        )  # fmt: skip
        row = cases.FileRow.of(stored, code)
        return file_read(row, case_id, mine=True)

    @get(
        "/{case_id:uuid}/files/{file_id:uuid}",
        operation_id="downloadMyOssRequestFile",
        summary="Download an attachment of the caller's request",
        responses=problem_responses(*CITIZEN_ERRORS, 503),
        **guarded(CITIZEN),
    )
    async def download(
        self,
        case_id: CaseId,
        file_id: FileId,
        principal: NamedDependency[Principal],
        db_read: NamedDependency[ReadConnection],
        blob_store: NamedDependency[BlobStore],
    ) -> Stream:
        await cases.head(db_read, case_id, citizen_id=citizen_uuid(principal))
        return download_response(await open_file(db_read, blob_store, file_id, owner=cases.file_owner(case_id)))

    @get(
        "/{case_id:uuid}/receipt",
        operation_id="getMyOssRequestReceipt",
        summary="The receipt of the caller's request as a Thai PDF (tracking number, verification code, QR)",
        media_type=PDF,
        responses=problem_responses(*CITIZEN_ERRORS),
        **guarded(CITIZEN),
    )
    async def receipt(
        self,
        case_id: CaseId,
        principal: NamedDependency[Principal],
        tenant: NamedDependency[TenantInfo],
        settings: NamedDependency[Settings],
        db_read: NamedDependency[ReadConnection],
    ) -> Response[bytes]:
        view = await _mine(db_read, principal, case_id)
        content = await receipt_pdf(db_read, view, settings=settings, tenant=tenant)
        return pdf_response(content, f"receipt-{view.tracking_number}.pdf")

    @post(
        "/{case_id:uuid}/deficiencies/{record_id:uuid}/acknowledge",
        status_code=200,
        operation_id="acknowledgeMyOssDeficiencyRecord",
        summary="Acknowledge a deficiency record of the caller's request (again: nothing changes)",
        responses=problem_responses(*CITIZEN_ERRORS, 409),
        **guarded(CITIZEN),
    )
    async def acknowledge(
        self,
        case_id: CaseId,
        record_id: RecordId,
        principal: NamedDependency[Principal],
        origin: NamedDependency[Origin],
        db_session: NamedDependency[AsyncSession],
    ) -> MyCaseRead:
        citizen_id = citizen_uuid(principal)
        await deficiency.acknowledge(
            db_session, case_id, record_id, citizen_id, now=dt.datetime.now(dt.UTC), origin=origin
        )
        return my_case_read(await cases.applicant_view(db_session, case_id, citizen_id))

    @post(
        "/{case_id:uuid}/deficiencies/{record_id:uuid}/supplied",
        status_code=200,
        operation_id="supplyMyOssDeficiencyItems",
        summary="Say the missing items are supplied (uploaded): the check resumes",
        description="409 `deficiency_record_not_open`; 409 `case_version_conflict`. Acknowledges the record too.",
        responses=problem_responses(*CITIZEN_ERRORS, 409),
        **guarded(CITIZEN),
    )
    async def supplied(
        self,
        case_id: CaseId,
        record_id: RecordId,
        principal: NamedDependency[Principal],
        origin: NamedDependency[Origin],
        data: JSONBody[DeficiencySupplied],
        db_session: NamedDependency[AsyncSession],
    ) -> MyCaseRead:
        citizen_id = citizen_uuid(principal)
        await deficiency.mark_supplied(
            db_session,
            case_id,
            record_id,
            version=data.version,
            comment=data.comment,
            actor=engine.citizen_actor(citizen_id),
            now=dt.datetime.now(dt.UTC),
            origin=origin,
        )
        return my_case_read(await cases.applicant_view(db_session, case_id, citizen_id))

    @get(
        "/{case_id:uuid}/deficiencies/{record_id:uuid}/pdf",
        operation_id="getMyOssDeficiencyRecordPdf",
        summary="A deficiency record of the caller's request as a Thai PDF",
        media_type=PDF,
        responses=problem_responses(*CITIZEN_ERRORS),
        **guarded(CITIZEN),
    )
    async def record_pdf(
        self,
        case_id: CaseId,
        record_id: RecordId,
        principal: NamedDependency[Principal],
        tenant: NamedDependency[TenantInfo],
        settings: NamedDependency[Settings],
        db_session: NamedDependency[AsyncSession],
    ) -> Response[bytes]:
        view = await _mine(db_session, principal, case_id)
        record = find_record(view, record_id)
        content = await deficiency_pdf(db_session, view, record, settings=settings, tenant=tenant)
        return pdf_response(content, f"deficiency-{record.number.replace('/', '-')}.pdf")


# --- the public status -----------------------------------------------------------------------------------


def public_read(row: cases.PublicRow, tenant: TenantInfo) -> PublicCaseStatus:
    state = engine.get_case_type(row.case_type).state(row.state)
    record = row.open_records[0] if row.open_records else None
    return PublicCaseStatus(
        tracking_number=row.tracking_number,
        lao_name_th=tenant.name_th,
        lao_name_en=tenant.name_en,
        service_name_th=row.service.name_th,
        service_name_en=row.service.name_en,
        applicant_masked=mask_name(row.applicant_name),
        state=row.state,
        state_title_th=state.title_th,
        state_title_en=state.title_en,
        received_at=row.opened_at,
        due_at=row.due_at,
        decided_at=row.decided_at,
        closed_at=row.closed_at,
        steps=[
            PublicStep(at=s.at, title_th=title[0], title_en=title[1])
            for s in row.steps
            if (title := PUBLIC_STEP_TITLES.get(s.action)) is not None
        ],
        deficiency=PublicDeficiency(deadline=record.deadline, items_th=[i.label_th for i in record.items])
        if record is not None
        else None,
    )


async def limit_tracking(request: Request[Any, Any, Any], tenant: TenantInfo, origin: Origin, number: str) -> None:
    """Status lookups per client address and per tracking number (each LAO its own budget)."""
    engine_ = request.app.state.engine
    per_address, window = TRACK_LIMIT_PER_ADDRESS
    await hit(engine_, f"oss.track:{tenant.id}:{origin.source_ip or 'unknown'}", limit=per_address, window_s=window)
    per_number, window = TRACK_LIMIT_PER_NUMBER
    key = cases.normalise_tracking_number(number) or "malformed"
    await hit(engine_, f"oss.track-number:{tenant.id}:{key}", limit=per_number, window_s=window)


async def track(
    request: Request[Any, Any, Any],
    tenant: TenantInfo,
    origin: Origin,
    settings: Settings,
    reader: Reader,
    query: TrackQuery,
) -> PublicCaseStatus:
    await limit_tracking(request, tenant, origin, query.tracking_number)
    row = await cases.public_status(
        reader, settings.secret_key, tenant.id, query.tracking_number, query.verification_code
    )
    return public_read(row, tenant)


class TrackController(Controller):
    path = "/track"
    tags = ["OSS: request status"]

    @post(
        "/",
        status_code=200,
        operation_id="trackOssRequest",
        summary="Where a request stands, for whoever holds its receipt: tracking number + verification code",
        description=(
            "Open to anyone on the LAO's host; the applicant's name is masked. An unknown number and a wrong code "
            "get the same 404 `tracking_not_found`. Limited per client address and per tracking number (429 "
            "`rate_limited` with Retry-After). The server-rendered page is `/v1/oss/pages/track`."
        ),
        responses=problem_responses(400, 404, 410, 429),
        **guarded(PUBLIC),  # the verification code printed on the receipt is the credential
    )
    async def lookup(
        self,
        request: Request[Any, Any, Any],
        tenant: NamedDependency[TenantInfo],
        origin: NamedDependency[Origin],
        settings: NamedDependency[Settings],
        data: JSONBody[TrackQuery],
        db_read: NamedDependency[ReadConnection],
    ) -> PublicCaseStatus:
        return await track(request, tenant, origin, settings, db_read, data)
