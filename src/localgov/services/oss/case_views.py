"""HTTP endpoints of requests for staff: walk-in intake, a request and what may be done to it,
actions, assignment, comments, attachments, the receipt; the inboxes; the LAO's settings of the
workflow. The deficiency records' endpoints are in ``deficiency_views``; the citizen's and the
public's in ``citizen_views``.

Reads that need no actor run on ``db_read``; what needs the caller as the engine sees him (his
permissions and his unit: ``kernel.cases.staff_actor`` reads the structure through a session)
runs on ``db_session``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post, put
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.params import JSONBody, MultipartBody, QueryParameter
from litestar.response import Stream
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel import cases as engine
from localgov.kernel.audit import Actor, Origin
from localgov.kernel.auth.guards import guarded
from localgov.kernel.auth.tokens import Principal
from localgov.kernel.documents import render
from localgov.kernel.errors import problem_responses
from localgov.kernel.idempotency import OptionalIdempotencyKey, idempotent
from localgov.kernel.pagination import Cursor, Limit, cut_page, decode_cursor, id_cursor, next_id_cursor
from localgov.kernel.reads import ReadConnection, Reader
from localgov.kernel.storage import BlobStore, download_response, open_file
from localgov.kernel.tenancy import TenantInfo, lao_profile
from localgov.kernel.validation import InvalidInput
from localgov.services.oss import cases
from localgov.services.oss.case_pdf import receipt_layout
from localgov.services.oss.params import (
    CASES_ASSIGN,
    CASES_INTAKE,
    CASES_READ,
    MANAGE,
    STAFF_ERRORS,
    ActionCode,
    CaseId,
    FileId,
    StaffId,
    TrackingNumberPath,
    UnitId,
    file_path,
    receipt_path,
    record_pdf_path,
    staff_uuid,
    track_page_path,
)
from localgov.services.oss.schemas import (
    ActionRead,
    ActionTake,
    ApplicantRead,
    AvailableActions,
    CaseActionDef,
    CaseAssign,
    CaseFilePage,
    CaseFileRead,
    CaseOpened,
    CasePage,
    CaseStateRead,
    CaseStep,
    CaseSummaryRead,
    CaseTypeList,
    CaseTypeRead,
    CommentCreate,
    CommentPage,
    CommentRead,
    DeficiencyItemRead,
    DeficiencyRecordRead,
    OssCaseRead,
    RequiredDocumentRead,
    ServiceRef,
    StateSettingRead,
    StateSettingUpdate,
    VerificationCodeRead,
    WalkInCreate,
)
from localgov.services.oss.workflow import APPLICANT_COMMENTS, CASE_TYPES, OWN_ENDPOINT
from localgov.settings import Settings

PDF = "application/pdf"
TAG = "OSS: requests"
OPEN_TITLES = ("ยื่นคำขอ", "Request filed")
DocumentParam = Annotated[
    str | None,
    QueryParameter(pattern=r"^doc\.[1-9][0-9]{0,2}$", description="Which document of the manual the file is (doc.1 …)"),
]
UPLOAD_DESCRIPTION = (
    "`multipart/form-data` with the file in the part `data`; `?document=doc.N` says which required document of "
    "the manual it is. At most 10 MiB (413 `file_too_large`); PDF, PNG, JPEG, TIFF or WebP **by content** (415 "
    "`file_type_not_allowed`: the name and the declared type do not count); 409 `case_closed`; 422 "
    "`unknown_document`."
)


# --- shaping the answers (shared with the citizen's views) ---------------------------------------------


def step_titles(case_type: engine.CaseType, action: str) -> tuple[str, str]:
    if action == "open":
        return OPEN_TITLES
    found = case_type.action(action)
    return (found.title_th, found.title_en) if found is not None else (action, action)


def steps(view: cases.CaseView, *, for_applicant: bool) -> list[CaseStep]:
    """The history; the applicant sees no member's id and only the comments meant for him."""
    case_type = engine.get_case_type(view.case_type)
    out = []
    for step in view.history:
        title_th, title_en = step_titles(case_type, step.action)
        out.append(
            CaseStep(
                seq=step.seq,
                action=step.action,
                action_title_th=title_th,
                action_title_en=title_en,
                from_state=step.from_state,
                to_state=step.to_state,
                to_state_title_th=case_type.state(step.to_state).title_th,
                actor_kind=step.actor_kind,
                actor_id=None if for_applicant and step.actor_kind == "staff" else step.actor_id,
                at=step.at,
                comment=step.comment if not for_applicant or step.action in APPLICANT_COMMENTS else None,
            )
        )
    return out


def required_documents(view: cases.CaseView) -> list[RequiredDocumentRead]:
    on_file = view.on_file
    return [
        RequiredDocumentRead(
            code=d.code,
            name_th=d.name_th,
            name_en=d.name_en,
            issued_by_th=d.issued_by_th,
            originals=d.originals,
            copies=d.copies,
            on_file=d.code in on_file,
        )
        for d in view.data.documents
    ]


def file_read(row: cases.FileRow, case_id: uuid.UUID, *, mine: bool) -> CaseFileRead:
    uploaded_by = row.uploaded_by.split(":", 1)[0] if mine and row.uploaded_by.startswith("staff") else row.uploaded_by
    return CaseFileRead(
        id=row.id,
        filename=row.filename,
        content_type=row.content_type,
        size_bytes=row.size_bytes,
        sha256=row.sha256,
        uploaded_by=uploaded_by,
        created_at=row.created_at,
        document_code=row.document_code,
        download_path=file_path(case_id, row.id, mine=mine),
    )


def record_read(row: cases.RecordRow, case_id: uuid.UUID, *, mine: bool) -> DeficiencyRecordRead:
    return DeficiencyRecordRead(
        id=row.id,
        seq=row.seq,
        number=row.number,
        status=row.status,
        deadline=row.deadline,
        deadline_at=row.deadline_at,
        note_th=row.note_th,
        created_at=row.created_at,
        staff_name=row.staff_name,
        applicant_ack_at=row.applicant_ack_at,
        applicant_ack_method=row.applicant_ack_method,
        resolved_at=row.resolved_at,
        items=[
            DeficiencyItemRead(
                id=i.id, seq=i.seq, kind=i.kind, document_code=i.document_code, label_th=i.label_th, note_th=i.note_th
            )
            for i in row.items
        ],
        pdf_path=record_pdf_path(case_id, row.id, mine=mine),
    )


def comment_read(row: cases.CommentRow, *, mine: bool) -> CommentRead:
    return CommentRead(
        id=row.id,
        author_kind=row.author_kind,
        author_id=None if mine and row.author_kind == "staff" else row.author_id,
        body=row.body,
        visible_to_applicant=row.visible_to_applicant,
        created_at=row.created_at,
    )


def service_ref(view: cases.CaseView) -> ServiceRef:
    s = view.data.service
    return ServiceRef(id=s.id, code=s.code, version=s.version, name_th=s.name_th, name_en=s.name_en)


def applicant_read(view: cases.CaseView) -> ApplicantRead:
    a = view.data.applicant
    return ApplicantRead(
        name=view.applicant_name,
        citizen_id=view.applicant_citizen_id,
        thai_id=a.thai_id,
        phone=a.phone,
        email=a.email,
        address_th=a.address_th,
    )


def staff_read(view: cases.CaseView, now: dt.datetime) -> OssCaseRead:
    state_th, state_en = _state_titles(view.case_type, view.state)
    return OssCaseRead(
        id=view.id,
        case_type=view.case_type,
        tracking_number=view.tracking_number,
        state=view.state,
        state_title_th=state_th,
        state_title_en=state_en,
        version=view.version,
        channel=view.channel,
        service=service_ref(view),
        applicant=applicant_read(view),
        details_th=view.data.details_th,
        ticket_id=view.ticket_id,
        assigned_unit_id=view.assigned_unit_id,
        assigned_staff_id=view.assigned_staff_id,
        opened_at=view.opened_at,
        state_entered_at=view.state_entered_at,
        state_due_at=view.state_due_at,
        due_at=view.due_at,
        sla_days=view.sla_days,
        paused_days=view.paused_days,
        decided_at=view.decided_at,
        closed_at=view.closed_at,
        overdue=view.overdue(now),
        required_documents=required_documents(view),
        refusal=view.data.refusal,
        history=steps(view, for_applicant=False),
        files=[file_read(f, view.id, mine=False) for f in view.files],
        deficiencies=[record_read(r, view.id, mine=False) for r in view.deficiencies],
        comments=[comment_read(c, mine=False) for c in view.comments],
        receipt_path=receipt_path(view.id),
    )


def _state_titles(case_type: str, state: str) -> tuple[str, str]:
    found = engine.get_case_type(case_type).state(state)
    return found.title_th, found.title_en


def summary_read(case: engine.CaseSummary, now: dt.datetime) -> CaseSummaryRead:
    case_type = engine.get_case_type(case.case_type)
    state = case_type.state(case.state)
    return CaseSummaryRead(
        id=case.id,
        case_type=case.case_type,
        case_type_title_th=case_type.title_th,
        tracking_number=case.tracking_number,
        state=case.state,
        state_title_th=state.title_th,
        state_title_en=state.title_en,
        version=case.version,
        applicant_name=case.applicant_name,
        assigned_unit_id=case.assigned_unit_id,
        assigned_staff_id=case.assigned_staff_id,
        opened_at=case.opened_at,
        state_entered_at=case.state_entered_at,
        state_due_at=case.state_due_at,
        due_at=case.due_at,
        decided_at=case.decided_at,
        closed_at=case.closed_at,
        overdue=case.overdue(now),
    )


def action_read(action: engine.Action) -> ActionRead:
    return ActionRead(
        code=action.code,
        title_th=action.title_th,
        title_en=action.title_en,
        to_state=action.to_state,
        comment_required=action.comment_required,
        endpoint=OWN_ENDPOINT.get(action.code),
    )


def pdf_response(content: bytes, name: str) -> Response[bytes]:
    return Response(
        content,
        media_type=PDF,
        headers={"Content-Disposition": f'inline; filename="{name}"', "Cache-Control": "private, no-store"},
    )


async def receipt_pdf(reader: Reader, view: cases.CaseView, *, settings: Settings, tenant: TenantInfo) -> bytes:
    """The receipt of the request: its number, the verification code and the QR of its status page."""
    code = cases.verification_code(settings.secret_key, tenant.id, view.id, view.code_salt)
    url = settings.public_url(track_page_path(view.tracking_number), slug=tenant.slug)
    layout = receipt_layout(view, await lao_profile(reader, tenant), code=code, track_url=url)
    return await asyncio.to_thread(render, layout)


def opened(view: cases.CaseView, *, settings: Settings, tenant: TenantInfo, now: dt.datetime) -> CaseOpened:
    return CaseOpened(
        case=staff_read(view, now),
        verification_code=cases.verification_code(settings.secret_key, tenant.id, view.id, view.code_salt),
        track_url=settings.public_url(track_page_path(view.tracking_number), slug=tenant.slug),
    )


#: The calling member as the engine checks him: his roles' permissions and his unit (the kernel's).
actor_of = engine.caller_actor


# --- requests ---------------------------------------------------------------------------------------------


class CaseController(Controller):
    path = "/cases"
    tags = [TAG]

    @post(
        "/",
        operation_id="openOssWalkInRequest",
        summary="Receive a request at the counter for a citizen (walk-in): its tracking number and verification code",
        description=(
            "For a published service of the catalogue (422 `service_not_published`). The applicant's Thai ID is "
            "checked (422 `invalid_tax_id`), the phone (422 `invalid_phone`) and e-mail (400 `invalid_email`) too; "
            "`ticket_id` links the visitor's queue ticket (422 `unknown_ticket`). The tracking number is "
            "`<DLA code>-<BE fiscal year>-<6 digits>`, gap-free per fiscal year; the verification code goes on the "
            "receipt (`GET /cases/{id}/receipt`). The check starts at once (state `checking`). An "
            "`Idempotency-Key` makes a retried request return the same request."
        ),
        responses=problem_responses(*STAFF_ERRORS, 409, 422),
        **guarded(CASES_INTAKE),
    )
    async def open_walk_in(
        self,
        request: Request[Any, Any, Any],
        tenant: NamedDependency[TenantInfo],
        settings: NamedDependency[Settings],
        principal: NamedDependency[Principal],
        permissions: NamedDependency[frozenset[str]],
        origin: NamedDependency[Origin],
        data: JSONBody[WalkInCreate],
        db_session: NamedDependency[AsyncSession],
        idempotency_key: OptionalIdempotencyKey = None,
    ) -> Response[CaseOpened]:
        async def work() -> CaseOpened:
            now = dt.datetime.now(dt.UTC)
            case_id, _ = await cases.open_request(
                db_session,
                tenant=tenant,
                service_code=data.service_code,
                applicant=cases.ApplicantInput(
                    name=data.applicant_name,
                    thai_id=data.applicant_thai_id,
                    phone=data.phone,
                    email=data.email,
                    address_th=data.address_th,
                    details_th=data.details_th,
                ),
                citizen_id=None,
                channel="counter",
                actor=await actor_of(db_session, principal, permissions),
                now=now,
                origin=origin,
                ticket_id=data.ticket_id,
                note=data.note,
            )
            return opened(await cases.staff_view(db_session, case_id), settings=settings, tenant=tenant, now=now)

        return await idempotent(request, db_session, idempotency_key, work)

    @get(
        "/{case_id:uuid}",
        operation_id="getOssRequest",
        summary="A request: state, deadlines, the manual's documents, history, files, deficiency records, comments",
        responses=problem_responses(*STAFF_ERRORS),
        **guarded(CASES_READ),
    )
    async def fetch(self, case_id: CaseId, db_read: NamedDependency[ReadConnection]) -> OssCaseRead:
        return staff_read(await cases.staff_view(db_read, case_id), dt.datetime.now(dt.UTC))

    @get(
        "/by-number/{number:str}",
        operation_id="getOssRequestByNumber",
        summary="A request by its tracking number (Thai digits accepted)",
        responses=problem_responses(*STAFF_ERRORS),
        **guarded(CASES_READ),
    )
    async def by_number(self, number: TrackingNumberPath, db_read: NamedDependency[ReadConnection]) -> OssCaseRead:
        case_id = await cases.case_id_by_number(db_read, number)
        return staff_read(await cases.staff_view(db_read, case_id), dt.datetime.now(dt.UTC))

    @get(
        "/{case_id:uuid}/actions",
        operation_id="listOssRequestActions",
        summary="What the caller may do to the request now (by his roles' permissions and his unit)",
        responses=problem_responses(*STAFF_ERRORS),
        **guarded(CASES_READ),
    )
    async def actions(
        self,
        case_id: CaseId,
        principal: NamedDependency[Principal],
        permissions: NamedDependency[frozenset[str]],
        db_session: NamedDependency[AsyncSession],
    ) -> AvailableActions:
        await cases.head(db_session, case_id)
        case = await engine.get_case(db_session, case_id)
        actor = await actor_of(db_session, principal, permissions)
        return AvailableActions(
            case_id=case.id,
            state=case.state,
            version=case.version,
            actions=[action_read(a) for a in engine.available_actions(case, actor)],
        )

    @post(
        "/{case_id:uuid}/actions/{action:str}",
        status_code=200,
        operation_id="takeOssRequestAction",
        summary="Take an action on a request, against the version the caller saw",
        description=(
            "409 `case_version_conflict` when someone changed the request since `version` (two officers at once: "
            "one wins); 409 `case_action_unavailable` (not an action of its state; `data.available`); 403 "
            "`case_action_forbidden` (`data.reason`); 422 `case_comment_required`. `accept` needs a file of every "
            "document of the manual (422 `case_documents_missing`, `data.missing`). `refuse` needs `refusal`: items "
            "of the request's deficiency records and/or a legal ground (422 `refusal_grounds_required`); an item "
            "not on a record of this request is refused (422 `refusal_item_not_recorded`). `record_deficiency` "
            "and `supply_at_counter` are taken at the deficiency records' endpoints (409 "
            "`case_action_has_own_endpoint`)."
        ),
        responses=problem_responses(*STAFF_ERRORS, 409, 422),
        **guarded(CASES_READ),
    )
    async def act(
        self,
        case_id: CaseId,
        action: ActionCode,
        principal: NamedDependency[Principal],
        permissions: NamedDependency[frozenset[str]],
        origin: NamedDependency[Origin],
        data: JSONBody[ActionTake],
        db_session: NamedDependency[AsyncSession],
    ) -> OssCaseRead:
        now = dt.datetime.now(dt.UTC)
        await cases.staff_action(
            db_session,
            case_id,
            action,
            version=data.version,
            comment=data.comment,
            refusal=data.refusal,
            actor=await actor_of(db_session, principal, permissions),
            now=now,
            origin=origin,
        )
        return staff_read(await cases.staff_view(db_session, case_id), now)

    @post(
        "/{case_id:uuid}/assign",
        status_code=200,
        operation_id="assignOssRequest",
        summary="Assign a request to a unit and/or a member of staff (null clears)",
        description=(
            "409 `case_version_conflict`; 409 `case_assignee_invalid` (not an active unit or member of the LAO, or "
            "the member is not of the unit); 409 `case_action_unavailable` for a closed request."
        ),
        responses=problem_responses(*STAFF_ERRORS, 409),
        **guarded(CASES_ASSIGN),
    )
    async def assign(
        self,
        case_id: CaseId,
        principal: NamedDependency[Principal],
        permissions: NamedDependency[frozenset[str]],
        origin: NamedDependency[Origin],
        data: JSONBody[CaseAssign],
        db_session: NamedDependency[AsyncSession],
    ) -> OssCaseRead:
        await cases.assign(
            db_session,
            case_id,
            unit_id=data.unit_id,
            staff_id=data.staff_id,
            version=data.version,
            actor=await actor_of(db_session, principal, permissions),
            origin=origin,
        )
        return staff_read(await cases.staff_view(db_session, case_id), dt.datetime.now(dt.UTC))

    @get(
        "/{case_id:uuid}/comments",
        operation_id="listOssRequestComments",
        summary="The comments on a request, oldest first (internal notes and messages to and from the applicant)",
        responses=problem_responses(*STAFF_ERRORS),
        **guarded(CASES_READ),
    )
    async def comments(
        self, case_id: CaseId, db_read: NamedDependency[ReadConnection], limit: Limit = 50, cursor: Cursor = None
    ) -> CommentPage:
        after = decode_cursor(cursor, tuple[dt.datetime, uuid.UUID])
        await cases.head(db_read, case_id)
        rows = await cases.case_comments(db_read, case_id, after=after, limit=limit + 1)
        page, next_cursor = cut_page(rows, limit, key=lambda c: (c.created_at, c.id))
        return CommentPage(items=[comment_read(c, mine=False) for c in page], next_cursor=next_cursor)

    @post(
        "/{case_id:uuid}/comments",
        operation_id="addOssRequestComment",
        summary="Comment on a request: an internal note, or (`visible_to_applicant`) a message the applicant reads",
        responses=problem_responses(*STAFF_ERRORS, 400),
        **guarded(CASES_READ),
    )
    async def comment(
        self,
        case_id: CaseId,
        principal: NamedDependency[Principal],
        origin: NamedDependency[Origin],
        data: JSONBody[CommentCreate],
        db_session: NamedDependency[AsyncSession],
    ) -> CommentRead:
        comment_id = await cases.add_comment(
            db_session,
            case_id,
            body=data.body,
            visible_to_applicant=data.visible_to_applicant,
            author=Actor("staff", str(staff_uuid(principal))),
            now=dt.datetime.now(dt.UTC),
            origin=origin,
        )
        view = await cases.staff_view(db_session, case_id)
        return comment_read(next(c for c in view.comments if c.id == comment_id), mine=False)

    @get(
        "/{case_id:uuid}/files",
        operation_id="listOssRequestFiles",
        summary="The attachments of a request, in upload order",
        responses=problem_responses(*STAFF_ERRORS),
        **guarded(CASES_READ),
    )
    async def files(
        self, case_id: CaseId, db_read: NamedDependency[ReadConnection], limit: Limit = 50, cursor: Cursor = None
    ) -> CaseFilePage:
        after = decode_cursor(cursor, tuple[dt.datetime, uuid.UUID])
        await cases.head(db_read, case_id)
        rows = await cases.case_files(db_read, case_id, after=after, limit=limit + 1)
        page, next_cursor = cut_page(rows, limit, key=lambda f: (f.created_at, f.id))
        return CaseFilePage(items=[file_read(f, case_id, mine=False) for f in page], next_cursor=next_cursor)

    @post(
        "/{case_id:uuid}/files",
        operation_id="uploadOssRequestFile",
        summary="Attach a file to an open request (a scan of a document the applicant brought)",
        description=UPLOAD_DESCRIPTION,
        request_max_body_size=cases.UPLOAD_LIMITS.request_body_limit(),
        responses=problem_responses(*STAFF_ERRORS, 400, 409, 413, 415, 422, 503),
        **guarded(CASES_INTAKE),
    )
    async def upload(
        self,
        case_id: CaseId,
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        data: MultipartBody[UploadFile],
        db_session: NamedDependency[AsyncSession],
        blob_store: NamedDependency[BlobStore],
        document: DocumentParam = None,
    ) -> CaseFileRead:
        stored, code = await cases.attach_file(
            db_session, blob_store, case_id, data, document_code=document, uploaded_by=actor,
            now=dt.datetime.now(dt.UTC), origin=origin,
        )  # fmt: skip
        row = cases.FileRow.of(stored, code)
        return file_read(row, case_id, mine=False)

    @get(
        "/{case_id:uuid}/files/{file_id:uuid}",
        operation_id="downloadOssRequestFile",
        summary="Download an attachment of a request (access checked again on every download)",
        responses=problem_responses(*STAFF_ERRORS, 503),
        **guarded(CASES_READ),
    )
    async def download(
        self,
        case_id: CaseId,
        file_id: FileId,
        db_read: NamedDependency[ReadConnection],
        blob_store: NamedDependency[BlobStore],
    ) -> Stream:
        await cases.head(db_read, case_id)
        return download_response(await open_file(db_read, blob_store, file_id, owner=cases.file_owner(case_id)))

    @get(
        "/{case_id:uuid}/receipt",
        operation_id="getOssRequestReceipt",
        summary="The receipt (ใบรับคำขอ) as a Thai PDF: tracking number, verification code, QR of the status page",
        media_type=PDF,
        responses=problem_responses(*STAFF_ERRORS),
        **guarded(CASES_READ),
    )
    async def receipt(
        self,
        case_id: CaseId,
        tenant: NamedDependency[TenantInfo],
        settings: NamedDependency[Settings],
        db_read: NamedDependency[ReadConnection],
    ) -> Response[bytes]:
        view = await cases.staff_view(db_read, case_id)
        content = await receipt_pdf(db_read, view, settings=settings, tenant=tenant)
        return pdf_response(content, f"receipt-{view.tracking_number}.pdf")

    @post(
        "/{case_id:uuid}/verification-code",
        status_code=200,
        operation_id="renewOssRequestVerificationCode",
        summary="A new verification code for a request (a lost receipt): the old code stops working",
        responses=problem_responses(*STAFF_ERRORS),
        **guarded(CASES_INTAKE),
    )
    async def renew_code(
        self,
        case_id: CaseId,
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        tenant: NamedDependency[TenantInfo],
        settings: NamedDependency[Settings],
        db_session: NamedDependency[AsyncSession],
    ) -> VerificationCodeRead:
        salt = await cases.new_verification_code(db_session, case_id, actor=actor, origin=origin)
        view = await cases.staff_view(db_session, case_id)
        return VerificationCodeRead(
            tracking_number=view.tracking_number,
            verification_code=cases.verification_code(settings.secret_key, tenant.id, case_id, salt),
            track_url=settings.public_url(track_page_path(view.tracking_number), slug=tenant.slug),
        )


# --- inboxes ----------------------------------------------------------------------------------------------


def _page(items: list[engine.CaseSummary], limit: int) -> CasePage:
    now = dt.datetime.now(dt.UTC)
    return CasePage(items=[summary_read(c, now) for c in items], next_cursor=next_id_cursor(items, limit))


class InboxController(Controller):
    """Open cases, oldest arrival in their state first, keyset-paged (``after``: the last id). Every
    case of the LAO (any service's: the One Stop Service is the front door)."""

    path = "/inbox"
    tags = ["OSS: inboxes"]

    @get(
        "/units/{unit_id:uuid}",
        operation_id="getOssUnitInbox",
        summary="Open cases assigned to a unit (404 `unit_not_found` for a unit the LAO does not have)",
        responses=problem_responses(*STAFF_ERRORS),
        **guarded(CASES_READ),
    )
    async def unit(
        self, unit_id: UnitId, db_read: NamedDependency[ReadConnection], cursor: Cursor = None, limit: Limit = 50
    ) -> CasePage:
        if not await cases.unit_exists(db_read, unit_id):
            raise cases.UnitNotFound(data={"unit_id": str(unit_id)})
        return _page(await engine.inbox_by_unit(db_read, unit_id, after=id_cursor(cursor), limit=limit), limit)

    @get(
        "/staff/{staff_id:uuid}",
        operation_id="getOssStaffInbox",
        summary="Open cases assigned to a member of staff (a supervisor's view)",
        responses=problem_responses(*STAFF_ERRORS),
        **guarded(CASES_ASSIGN),
    )
    async def member(
        self, staff_id: StaffId, db_read: NamedDependency[ReadConnection], cursor: Cursor = None, limit: Limit = 50
    ) -> CasePage:
        if not await cases.member_exists(db_read, staff_id):
            raise cases.StaffNotFound(data={"staff_id": str(staff_id)})
        return _page(await engine.inbox_by_staff(db_read, staff_id, after=id_cursor(cursor), limit=limit), limit)

    @get(
        "/mine",
        operation_id="getMyOssInbox",
        summary="Open cases assigned to the caller",
        responses=problem_responses(*STAFF_ERRORS),
        **guarded(CASES_READ),
    )
    async def mine(
        self,
        principal: NamedDependency[Principal],
        db_read: NamedDependency[ReadConnection],
        cursor: Cursor = None,
        limit: Limit = 50,
    ) -> CasePage:
        return _page(
            await engine.inbox_by_staff(db_read, staff_uuid(principal), after=id_cursor(cursor), limit=limit), limit
        )

    @get(
        "/actionable",
        operation_id="getOssActionableInbox",
        summary="Open cases the caller may act on now (by his roles' permissions and, for unit actions, his unit)",
        responses=problem_responses(*STAFF_ERRORS),
        **guarded(CASES_READ),
    )
    async def actionable(
        self,
        principal: NamedDependency[Principal],
        permissions: NamedDependency[frozenset[str]],
        db_session: NamedDependency[AsyncSession],
        cursor: Cursor = None,
        limit: Limit = 50,
    ) -> CasePage:
        actor = await actor_of(db_session, principal, permissions)
        return _page(await engine.inbox_by_permission(db_session, actor, after=id_cursor(cursor), limit=limit), limit)


# --- the LAO's settings of the workflow --------------------------------------------------------------


def case_type_read(case_type: engine.CaseType, settings: dict[str, engine.StateSetting]) -> CaseTypeRead:
    def setting(state: str) -> StateSettingRead | None:
        found = settings.get(state)
        if found is None:
            return None
        return StateSettingRead(
            sla_days=found.sla_days, assignee_unit_id=found.assignee_unit_id, assignee_staff_id=found.assignee_staff_id
        )

    return CaseTypeRead(
        code=case_type.code,
        title_th=case_type.title_th,
        title_en=case_type.title_en,
        states=[
            CaseStateRead(
                code=s.code,
                title_th=s.title_th,
                title_en=s.title_en,
                sla_days=s.sla_days,
                terminal=s.terminal,
                decision=s.decision,
                pauses_clock=s.pauses_clock,
                setting=setting(s.code),
            )
            for s in case_type.states
        ],
        actions=[
            CaseActionDef(
                code=a.code,
                title_th=a.title_th,
                title_en=a.title_en,
                from_states=list(a.from_states),
                to_state=a.to_state,
                permissions=list(a.permissions),
                applicant=a.applicant,
                system=a.system,
                comment_required=a.comment_required,
            )
            for a in case_type.actions
        ],
    )


class CaseSettingsController(Controller):
    path = "/case-settings"
    tags = ["OSS: requests"]

    @get(
        "/",
        operation_id="listOssCaseTypes",
        summary="The One Stop Service's case types: states, actions, and the LAO's time limits and assignees",
        description=(
            "The overall time of a request is the total time of its service's manual (fixed when it is opened); "
            "each open state's limit and default assignee are the LAO's settings."
        ),
        responses=problem_responses(*STAFF_ERRORS),
        **guarded(CASES_READ),
    )
    async def index(self, db_read: NamedDependency[ReadConnection]) -> CaseTypeList:
        return CaseTypeList(items=[case_type_read(t, await engine.case_type_settings(db_read, t)) for t in CASE_TYPES])

    @put(
        "/",
        operation_id="setOssCaseStateSetting",
        summary="Set the LAO's time limit (working days) and default assignee of an open state; all null removes it",
        description=(
            "A case entering the state goes to the assignee (unit and/or member); the limit applies from each "
            "case's next step. 400 `case_invalid` for a terminal or unknown state; 409 `case_assignee_invalid`."
        ),
        responses=problem_responses(*STAFF_ERRORS, 400, 409, 422),
        **guarded(MANAGE),
    )
    async def update(
        self,
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        data: JSONBody[StateSettingUpdate],
        db_session: NamedDependency[AsyncSession],
    ) -> CaseTypeRead:
        case_type = next((t for t in CASE_TYPES if t.code == data.case_type), None)
        if case_type is None:
            raise InvalidInput("case_type", "not a case type of the One Stop Service", code="unknown_case_type")
        await engine.set_case_type_setting(
            db_session,
            case_type,
            data.state,
            sla_days=data.sla_days,
            assignee_unit_id=data.assignee_unit_id,
            assignee_staff_id=data.assignee_staff_id,
            actor=actor,
            origin=origin,
        )
        return case_type_read(case_type, await engine.case_type_settings(db_session, case_type))
