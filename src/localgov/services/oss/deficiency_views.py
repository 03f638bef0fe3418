"""HTTP endpoints of deficiency records (บันทึกความบกพร่อง) for staff: make one for a request being
checked, read and print it, record the applicant's signature at the counter, and record that he
supplied the items (the check resumes). The applicant's own endpoints are in ``citizen_views``."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel import documents
from localgov.kernel.audit import Actor, Origin
from localgov.kernel.auth.guards import guarded
from localgov.kernel.auth.tokens import Principal
from localgov.kernel.errors import problem_responses
from localgov.kernel.reads import ReadConnection
from localgov.kernel.tenancy import TenantInfo, lao_profile
from localgov.services.oss import cases, deficiency
from localgov.services.oss.case_pdf import deficiency_layout
from localgov.services.oss.case_views import PDF, actor_of, pdf_response, record_read, staff_read
from localgov.services.oss.params import CASES_INTAKE, CASES_READ, STAFF_ERRORS, CaseId, RecordId
from localgov.services.oss.schemas import (
    ApplicantSignature,
    DeficiencyCreate,
    DeficiencyRecordRead,
    DeficiencySupplied,
    OssCaseRead,
)
from localgov.settings import Settings


def find_record(view: cases.CaseView, record_id: uuid.UUID) -> cases.RecordRow:
    """The record of the request (404 ``deficiency_record_not_found`` for another request's)."""
    record = next((r for r in view.deficiencies if r.id == record_id), None)
    if record is None:
        raise deficiency.DeficiencyRecordNotFound(data={"record_id": str(record_id)})
    return record


async def deficiency_pdf(
    session: AsyncSession, view: cases.CaseView, record: cases.RecordRow, *, settings: Settings, tenant: TenantInfo
) -> bytes:
    """The record as printed, with the QR stamp of its entry in the register of issued documents."""
    entry = await documents.get_by_source(session, deficiency.DOCUMENT_KIND, str(record.id))
    layout = deficiency_layout(
        view, record, await lao_profile(session, tenant), documents.qr_stamp(settings, tenant, entry)
    )
    return await asyncio.to_thread(documents.render, layout)


class DeficiencyController(Controller):
    path = "/cases/{case_id:uuid}/deficiencies"
    tags = ["OSS: deficiency records"]

    @post(
        "/",
        operation_id="recordOssDeficiencies",
        summary="Make a deficiency record for a request being checked: it waits for the items, its clock stopped",
        description=(
            "Items: a document of the request's manual (`document_code`: `doc.1` …; 422 `unknown_document`, "
            "`duplicate_item`) or a criterion in words (`criterion_th`), each with a note. The deadline is "
            "`deadline_working_days` working days from today on the LAO's calendar; when it passes the request is "
            "returned by the platform. The officer signs it by making it; `applicant_signed`: the walk-in applicant "
            "signed the printed record at once. Registered with a QR to the public verification page. 409 "
            "`case_version_conflict`, 409 `case_action_unavailable` (the request is not being checked)."
        ),
        responses=problem_responses(*STAFF_ERRORS, 409, 422),
        **guarded(CASES_INTAKE),
    )
    async def create(
        self,
        case_id: CaseId,
        principal: NamedDependency[Principal],
        permissions: NamedDependency[frozenset[str]],
        origin: NamedDependency[Origin],
        data: JSONBody[DeficiencyCreate],
        db_session: NamedDependency[AsyncSession],
    ) -> DeficiencyRecordRead:
        record_id = await deficiency.record_deficiencies(
            db_session,
            case_id,
            data,
            actor=await actor_of(db_session, principal, permissions),
            now=dt.datetime.now(dt.UTC),
            origin=origin,
        )
        view = await cases.staff_view(db_session, case_id)
        return record_read(find_record(view, record_id), case_id, mine=False)

    @get(
        "/{record_id:uuid}",
        operation_id="getOssDeficiencyRecord",
        summary="A deficiency record of a request: items, deadline, status, acknowledgement",
        responses=problem_responses(*STAFF_ERRORS),
        **guarded(CASES_READ),
    )
    async def fetch(
        self, case_id: CaseId, record_id: RecordId, db_read: NamedDependency[ReadConnection]
    ) -> DeficiencyRecordRead:
        view = await cases.staff_view(db_read, case_id)
        return record_read(find_record(view, record_id), case_id, mine=False)

    @get(
        "/{record_id:uuid}/pdf",
        operation_id="getOssDeficiencyRecordPdf",
        summary="The deficiency record as a Thai PDF, with both signatures and its verification QR",
        media_type=PDF,
        responses=problem_responses(*STAFF_ERRORS),
        **guarded(CASES_READ),
    )
    async def pdf(
        self,
        case_id: CaseId,
        record_id: RecordId,
        tenant: NamedDependency[TenantInfo],
        settings: NamedDependency[Settings],
        db_session: NamedDependency[AsyncSession],
    ) -> Response[bytes]:
        view = await cases.staff_view(db_session, case_id)
        record = find_record(view, record_id)
        content = await deficiency_pdf(db_session, view, record, settings=settings, tenant=tenant)
        return pdf_response(content, f"deficiency-{record.number.replace('/', '-')}.pdf")

    @post(
        "/{record_id:uuid}/applicant-signature",
        status_code=200,
        operation_id="recordOssDeficiencySignature",
        summary="The applicant signed the printed record at the counter (optionally: its scan, an attachment)",
        description=(
            "409 `deficiency_already_acknowledged`; 409 `deficiency_record_not_open`; 422 `unknown_file` when the "
            "scan is not an attachment of this request."
        ),
        responses=problem_responses(*STAFF_ERRORS, 409, 422),
        **guarded(CASES_INTAKE),
    )
    async def signature(
        self,
        case_id: CaseId,
        record_id: RecordId,
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        data: JSONBody[ApplicantSignature],
        db_session: NamedDependency[AsyncSession],
    ) -> DeficiencyRecordRead:
        await deficiency.record_signature(
            db_session, case_id, record_id, data, actor=actor, now=dt.datetime.now(dt.UTC), origin=origin
        )
        view = await cases.staff_view(db_session, case_id)
        return record_read(find_record(view, record_id), case_id, mine=False)

    @post(
        "/{record_id:uuid}/supplied",
        status_code=200,
        operation_id="recordOssDeficiencySupplied",
        summary="The applicant brought the missing items to the counter: the record is closed, the check resumes",
        description="409 `deficiency_record_not_open`; 409 `case_version_conflict`.",
        responses=problem_responses(*STAFF_ERRORS, 409, 422),
        **guarded(CASES_INTAKE),
    )
    async def supplied(
        self,
        case_id: CaseId,
        record_id: RecordId,
        principal: NamedDependency[Principal],
        permissions: NamedDependency[frozenset[str]],
        origin: NamedDependency[Origin],
        data: JSONBody[DeficiencySupplied],
        db_session: NamedDependency[AsyncSession],
    ) -> OssCaseRead:
        now = dt.datetime.now(dt.UTC)
        await deficiency.mark_supplied(
            db_session,
            case_id,
            record_id,
            version=data.version,
            comment=data.comment,
            actor=await actor_of(db_session, principal, permissions),
            now=now,
            origin=origin,
        )
        return staff_read(await cases.staff_view(db_session, case_id), now)
