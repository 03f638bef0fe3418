"""Applications for a building permit (คำขออนุญาต ข.1): drafts, submission with the eligibility
check, attachments, the steps of the workflow and the legal time of the decision.

Plain functions taking the session (one request, one transaction; nothing here commits). A
submitted application has a case on the kernel's engine (``workflow.BUILDING``); the engine
checks who may take each action and records the history, this module does what the steps mean
for a building permit: the documents checklist, the 45-working-day deadline and its extensions,
the site inspection, the fees (one bill through ``payments.api``) and the notifications.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterable, Sequence
from decimal import Decimal
from typing import Any

import msgspec
from sqlalchemy import DateTime, Uuid, and_, bindparam, func, insert, literal, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel import cases as engine
from localgov.kernel.audit import Actor, Origin, record_audit
from localgov.kernel.calendar import load_calendar
from localgov.kernel.cases import CaseActor, CaseRecord
from localgov.kernel.documents import IssuedDocument
from localgov.kernel.errors import Conflict, DomainError, NotFound
from localgov.kernel.notifications import InvalidNotification, notify
from localgov.kernel.numbering import fiscal_period, next_number
from localgov.kernel.plugins import UsageMeter
from localgov.kernel.reads import Reader, Row, fetch_all, fetch_one, json_rows
from localgov.kernel.storage import (
    BlobStore,
    FileOwner,
    StoredFile,
    StoredFileRead,
    UploadLimits,
    store_upload,
)
from localgov.kernel.tenancy import TenantInfo
from localgov.kernel.text import InvalidEmail, normalise_email
from localgov.kernel.thai import bangkok_today, thai_date, thai_datetime
from localgov.kernel.usage import record_usage
from localgov.kernel.validation import InvalidInput, ThaiAddress, normalise_thai_id
from localgov.services.payments.api import BillLine, create_bill, payer_for
from localgov.services.permits import deadlines
from localgov.services.permits.config import PermitConfig, load_config
from localgov.services.permits.eligibility import KIND_TH, BuildingFacts, Eligibility
from localgov.services.permits.eligibility import assess as assess_eligibility
from localgov.services.permits.fees import assess_fees
from localgov.services.permits.models import PermitApplication, PermitExtension, PermitFile
from localgov.services.permits.schemas import ApplicationForm
from localgov.services.permits.workflow import BUILDING, OWN_ENDPOINT, RUNNING_STATES, SITE_INSPECTION

APPLICATIONS_SUBMITTED = UsageMeter(
    code="permits.application_submitted",
    unit="application",
    title_th="คำขออนุญาตก่อสร้างที่ยื่น",
    title_en="Building permit applications submitted",
)
#: The tracking numbers' running-number series (its period: the BE fiscal year).
TRACKING_SERIES = "permits.application"
#: What the plugin passes to ``payments.api.create_bill`` as ``source``.
BILL_SOURCE = "permits"
#: The code of site-inspection photos among an application's files.
INSPECTION_PHOTO = "inspection_photo"
#: Any other paper the applicant or the office adds.
OTHER_DOCUMENT = "other"
UPLOAD_LIMITS = UploadLimits(max_bytes=10 * 1024 * 1024)
PHOTO_LIMITS = UploadLimits(max_bytes=10 * 1024 * 1024, types=("png", "jpeg", "webp", "heic"))
NOTIFY_CHANNEL = "email"

_A = PermitApplication.__table__.c
_F = PermitFile.__table__.c
_E = PermitExtension.__table__.c
_SF = StoredFile.__table__.c
_D = IssuedDocument.__table__.c
_CR = CaseRecord.__table__.c
#: The register's kind of a permit อ.1.
PERMIT_KIND = "permits.building_permit"


# --- errors ---------------------------------------------------------------------------------------------


class ApplicationNotFound(NotFound):
    code = "permits_application_not_found"
    title = "ไม่พบคำขออนุญาต / No such application"


class ApplicationSubmitted(Conflict):
    code = "permits_application_submitted"
    title = "คำขอนี้ยื่นแล้ว แก้ไขไม่ได้ / The application was submitted: it is no longer a draft"


class ApplicationNotSubmitted(Conflict):
    code = "permits_application_not_submitted"
    title = "คำขอนี้ยังเป็นร่าง / The application is still a draft"


class DraftVersionConflict(Conflict):
    code = "permits_version_conflict"
    title = "คำขอถูกแก้ไขไปแล้ว โปรดโหลดใหม่ / Someone saved the draft since you read it"


class ApplicationIncomplete(DomainError):
    code = "permits_application_incomplete"
    status = 422
    title = "กรอกคำขอไม่ครบถ้วน / The application is not complete"


class NotEligible(DomainError):
    code = "permits_not_eligible"
    status = 422
    title = "คำขอนี้ไม่อยู่ในขอบเขตของบริการ / This service does not take this application"


class ProfessionalRequired(DomainError):
    code = "permits_professional_required"
    status = 422
    title = "ต้องระบุผู้ประกอบวิชาชีพที่ลงนามในแบบ / A licensed professional must sign the plans"


class UnknownAreaType(DomainError):
    code = "permits_area_type_unknown"
    status = 422
    title = "ไม่รู้จักประเภทพื้นที่ / Unknown area type"


class ActionHasOwnEndpoint(Conflict):
    code = "permits_action_has_own_endpoint"
    title = "การดำเนินการนี้มีช่องทางเฉพาะ / This action has an endpoint of its own"


class DocumentsIncomplete(DomainError):
    code = "permits_documents_missing"
    status = 422
    title = "เอกสารตามรายการยังไม่ครบ / Documents of the checklist are missing"


class InspectionNotScheduled(Conflict):
    code = "permits_inspection_not_scheduled"
    title = "ยังไม่ได้นัดตรวจสถานที่ / The site inspection is not scheduled"


class InspectionPhotosMissing(DomainError):
    code = "permits_inspection_photos_missing"
    status = 422
    title = "ต้องแนบภาพถ่ายการตรวจสถานที่ / Attach the inspection's photos first"


class PaymentsNotEnabled(Conflict):
    code = "permits_payments_not_enabled"
    title = "หน่วยงานยังไม่ได้เปิดบริการรับชำระเงิน / The LAO has not enabled the payments service"


class WrongState(Conflict):
    code = "permits_wrong_state"
    title = "ทำรายการนี้ในสถานะปัจจุบันไม่ได้ / Not possible in the application's current state"


# --- the form -------------------------------------------------------------------------------------------


def form_of(answers: dict[str, Any]) -> ApplicationForm:
    return msgspec.convert(answers, ApplicationForm, strict=False)


def _answers(form: ApplicationForm) -> dict[str, Any]:
    out: dict[str, Any] = msgspec.to_builtins(form)
    return out


def check_figure(value: Decimal, field: str, *, high: int, zero: bool = False) -> None:
    """A finite figure with at most 2 decimals, above 0 (or 0 with ``zero``) and at most ``high``."""
    low_ok = value >= 0 if zero else value > 0
    if not value.is_finite() or not low_ok or value > high or value != value.quantize(Decimal("0.01")):
        bound = "0" if zero else "above 0"
        raise InvalidInput(field, f"a number {bound} to {high} with at most 2 decimals / ตัวเลขไม่ถูกต้อง")


def check_figures(form: ApplicationForm) -> None:
    """The form's decimal figures within their bounds (422 ``invalid_input`` naming the field)."""
    if form.land is not None:
        check_figure(form.land.area_sq_wa, "land.area_sq_wa", high=1_000_000)
    b = form.building
    if b is not None:
        check_figure(b.height_m, "building.height_m", high=300)
        check_figure(b.floor_area_m2, "building.floor_area_m2", high=1_000_000)
        check_figure(b.footprint_m2, "building.footprint_m2", high=1_000_000)
        for side in ("front_m", "back_m", "left_m", "right_m"):
            check_figure(getattr(b.setbacks, side), f"building.setbacks.{side}", high=1000, zero=True)


def clean_form(form: ApplicationForm) -> ApplicationForm:
    """The form with its IDs and addresses checked and normalised (422 on a bad one)."""
    check_figures(form)
    if form.applicant is not None:
        form.applicant.id_number = normalise_thai_id(form.applicant.id_number, "applicant.id_number")
        if form.applicant.email is not None:
            try:
                form.applicant.email = normalise_email(form.applicant.email)
            except InvalidEmail:
                raise InvalidInput("applicant.email", "not an e-mail address / อีเมลไม่ถูกต้อง") from None
    if form.landowner is not None and form.landowner.id_number is not None:
        form.landowner.id_number = normalise_thai_id(form.landowner.id_number, "landowner.id_number")
    if form.building is not None and form.building.footprint_m2 > form.building.floor_area_m2:
        raise InvalidInput("building.footprint_m2", "larger than the total floor area / เกินพื้นที่อาคารรวม")
    return form


def form_problems(form: ApplicationForm) -> list[str]:
    """The fields a submission still needs (empty: complete)."""
    missing: list[str] = []
    for name in ("kind", "applicant", "landowner", "land", "building"):
        if getattr(form, name) is None:
            missing.append(name)
    if form.applicant is not None and form.applicant.kind == "juristic" and not form.applicant.representative_th:
        missing.append("applicant.representative_th")
    if form.by_proxy and not form.proxy_name_th:
        missing.append("proxy_name_th")
    owner = form.landowner
    if owner is not None and not owner.is_applicant:
        missing.extend(f"landowner.{f}" for f in ("name_th", "id_number") if getattr(owner, f) is None)
        if not owner.consent:
            missing.append("landowner.consent")
    return missing


def facts_of(form: ApplicationForm) -> BuildingFacts | None:
    if form.kind is None or form.building is None:
        return None
    b = form.building
    return BuildingFacts(
        kind=form.kind,
        use=b.use,
        storeys=b.storeys,
        height_m=b.height_m,
        floor_area_m2=b.floor_area_m2,
        applicant_kind=form.applicant.kind if form.applicant else "person",
        owner_is_applicant=form.landowner.is_applicant if form.landowner else True,
        by_proxy=form.by_proxy,
    )


def area_type_of(config: PermitConfig, form: ApplicationForm) -> str:
    area_type = form.area_type or config.default_area_type
    if area_type not in config.rules:
        raise UnknownAreaType(data={"area_type": area_type, "known": sorted(config.rules)})
    return area_type


def eligibility_of(config: PermitConfig, form: ApplicationForm) -> tuple[str, Eligibility] | None:
    """The area type and the rules' answer for the form (None while the building is not described)."""
    facts = facts_of(form)
    if facts is None:
        return None
    area_type = area_type_of(config, form)
    return area_type, assess_eligibility(facts, config.rules[area_type])


# --- reads ----------------------------------------------------------------------------------------------

_FILES = json_rows(
    [_SF.id, _F.document_code, _SF.filename, _SF.content_type, _SF.size_bytes, _SF.sha256, _SF.created_at],
    where=and_(_F.application_id == _A.id, _SF.id == _F.file_id),
    order_by=[_SF.created_at, _SF.id],
)
_EXTENSIONS = json_rows(
    [_E.seq, _E.days, _E.reason_th, _E.previous_due_on, _E.due_on, _E.granted_at],
    where=_E.application_id == _A.id,
    order_by=[_E.seq],
)
#: One application with its files, extensions and the permit's register entry: one statement.
APPLICATION = (
    select(
        *PermitApplication.__table__.c,
        _FILES.label("files"),
        _EXTENSIONS.label("extensions"),
        _D.serial.label("doc_serial"),
        _D.status.label("doc_status"),
        _D.valid_from.label("doc_valid_from"),
        _D.valid_until.label("doc_valid_until"),
    )
    .select_from(
        PermitApplication.__table__.outerjoin(
            IssuedDocument.__table__, and_(_D.kind == literal(PERMIT_KIND), _D.source_key == _A.document_key)
        )
    )
    .where(_A.id == bindparam("id"))
)
_SUMMARY = (
    _A.id,
    _A.status,
    _A.channel,
    _A.answers["applicant"]["name_th"].astext.label("applicant_name"),
    _A.answers["kind"].astext.label("kind"),
    _A.tracking_number,
    _CR.state,
    _A.permit_number,
    _A.created_at,
)
_LIST_FROM = PermitApplication.__table__.outerjoin(CaseRecord.__table__, _CR.id == _A.case_id)
_CURSOR = select(_A.created_at, _A.id).where(_A.id == bindparam("id"))


def _list(mine: bool) -> Any:
    query = select(*_SUMMARY).select_from(_LIST_FROM)
    if mine:
        query = query.where(_A.citizen_id == bindparam("citizen_id"))
    return query.order_by(_A.created_at.desc(), _A.id.desc()).limit(bindparam("limit"))


def _list_after(mine: bool) -> Any:
    query = select(*_SUMMARY).select_from(_LIST_FROM)
    if mine:
        query = query.where(_A.citizen_id == bindparam("citizen_id"))
    return (
        query.where(
            tuple_(_A.created_at, _A.id)
            < tuple_(bindparam("c_at", type_=DateTime(timezone=True)), bindparam("c_id", type_=Uuid))
        )
        .order_by(_A.created_at.desc(), _A.id.desc())
        .limit(bindparam("limit"))
    )


_LIST_ALL, _LIST_MINE = _list(False), _list(True)
_LIST_ALL_AFTER, _LIST_MINE_AFTER = _list_after(False), _list_after(True)
_ON_FILE = select(_F.document_code).where(_F.application_id == bindparam("id"))
_PHOTOS = (
    select(func.count().label("photos"))
    .select_from(PermitFile.__table__)
    .where(_F.application_id == bindparam("id"), _F.document_code == bindparam("code"))
)
_EXTENSION_DAYS = select(_E.days).where(_E.application_id == bindparam("id")).order_by(_E.seq)


async def get_application(reader: Reader, application_id: uuid.UUID, *, citizen_id: uuid.UUID | None = None) -> Row:
    """The application (404 when the LAO has none with the id, or, for a citizen, it is not his)."""
    row = await fetch_one(reader, APPLICATION, {"id": application_id})
    if row is None or (citizen_id is not None and row["citizen_id"] != citizen_id):
        raise ApplicationNotFound(data={"application_id": str(application_id)})
    return row


async def list_applications(
    reader: Reader, *, citizen_id: uuid.UUID | None, after: uuid.UUID | None, limit: int
) -> Sequence[Row]:
    """Newest first, keyset-paged (``after``: the id of the last item of the previous page)."""
    params: dict[str, Any] = {"limit": limit}
    if citizen_id is not None:
        params["citizen_id"] = citizen_id
    if after is None:
        return await fetch_all(reader, _LIST_MINE if citizen_id else _LIST_ALL, params)
    cursor = await fetch_one(reader, _CURSOR, {"id": after})
    if cursor is None:
        raise ApplicationNotFound(data={"after": str(after)})
    params.update(c_at=cursor["created_at"], c_id=cursor["id"])
    return await fetch_all(reader, _LIST_MINE_AFTER if citizen_id else _LIST_ALL_AFTER, params)


async def documents_on_file(reader: Reader, application_id: uuid.UUID) -> set[str]:
    return {row["document_code"] for row in await fetch_all(reader, _ON_FILE, {"id": application_id})}


async def lock_application(
    session: AsyncSession, application_id: uuid.UUID, citizen_id: uuid.UUID | None = None
) -> PermitApplication:
    app = (
        await session.execute(select(PermitApplication).where(PermitApplication.id == application_id).with_for_update())
    ).scalar_one_or_none()
    if app is None or (citizen_id is not None and app.citizen_id != citizen_id):
        raise ApplicationNotFound(data={"application_id": str(application_id)})
    return app


def case_of(app: PermitApplication) -> uuid.UUID:
    if app.case_id is None:
        raise ApplicationNotSubmitted(data={"application_id": str(app.id)})
    return app.case_id


# --- drafts ---------------------------------------------------------------------------------------------


def label(actor: Actor) -> str:
    return f"{actor.kind}:{actor.id}"[:150]


async def create_draft(
    session: AsyncSession,
    form: ApplicationForm,
    *,
    channel: str,
    citizen_id: uuid.UUID | None,
    actor: Actor,
    origin: Origin,
) -> uuid.UUID:
    """A new draft (online: the citizen's own; at the counter: staff's, for a walk-in)."""
    form = clean_form(form)
    if form.area_type is not None:
        area_type_of(await load_config(session), form)
    app_id: uuid.UUID = (
        await session.execute(
            insert(PermitApplication)
            .values(channel=channel, citizen_id=citizen_id, created_by=label(actor), answers=_answers(form))
            .returning(PermitApplication.id)
        )
    ).scalar_one()
    await record_audit(
        session, "permits.draft_created", actor=actor, origin=origin, target=f"permits.application:{app_id}"
    )
    return app_id


async def update_draft(
    session: AsyncSession,
    application_id: uuid.UUID,
    form: ApplicationForm,
    *,
    version: int,
    citizen_id: uuid.UUID | None,
    actor: Actor,
    origin: Origin,
) -> None:
    """Save the draft as a whole (409 when it was submitted or saved by someone else since)."""
    app = await lock_application(session, application_id, citizen_id)
    if app.status != "draft":
        raise ApplicationSubmitted(data={"tracking_number": app.tracking_number})
    if app.version != version:
        raise DraftVersionConflict(data={"expected_version": version, "version": app.version})
    form = clean_form(form)
    if form.area_type is not None:
        area_type_of(await load_config(session), form)
    app.answers = _answers(form)
    app.version += 1
    app.updated_at = dt.datetime.now(dt.UTC)
    await session.flush()
    await record_audit(
        session, "permits.draft_saved", actor=actor, origin=origin, target=f"permits.application:{application_id}"
    )


# --- files ----------------------------------------------------------------------------------------------


def file_owner(application_id: uuid.UUID) -> FileOwner:
    return FileOwner("permits.application", str(application_id))


async def allowed_codes(session: AsyncSession, app: PermitApplication) -> set[str]:
    config = await load_config(session)
    found = eligibility_of(config, form_of(app.answers))
    codes = {OTHER_DOCUMENT, "form_kh1", "applicant_id", "land_title"}
    if found is not None:
        codes.update(d.code for d in found[1].documents)
    return codes


async def attach_file(
    session: AsyncSession,
    store: BlobStore,
    application_id: uuid.UUID,
    data: bytes | AsyncIterable[bytes],
    *,
    filename: str,
    document_code: str,
    uploaded_by: Actor,
    origin: Origin,
    citizen_id: uuid.UUID | None = None,
    now: dt.datetime | None = None,
) -> StoredFileRead:
    """Keep a file of the application: a document of its checklist (``other`` for anything else),
    or, for staff while the site is inspected, a photo of the inspection (images only)."""
    app = await lock_application(session, application_id, citizen_id)
    limits = UPLOAD_LIMITS
    if document_code == INSPECTION_PHOTO:
        state = await _state(session, app)
        if citizen_id is not None or state != SITE_INSPECTION:
            raise WrongState("Inspection photos are added by staff during the site inspection.", data={"state": state})
        limits = PHOTO_LIMITS
    elif document_code not in await allowed_codes(session, app):
        raise InvalidInput(
            "document",
            "not a document of this application's checklist / ไม่ใช่เอกสารตามรายการ",
            code="permits_unknown_document",
        )
    stored = await store_upload(
        session,
        store,
        data=data,
        filename=filename,
        owner=file_owner(app.id),
        uploaded_by=uploaded_by,
        limits=limits,
        now=now,
    )
    await session.execute(
        insert(PermitFile).values(file_id=stored.id, application_id=app.id, document_code=document_code)
    )
    await record_audit(
        session,
        "permits.file_added",
        actor=uploaded_by,
        origin=origin,
        target=f"permits.application:{app.id}",
        data={"file_id": str(stored.id), "sha256": stored.sha256, "document_code": document_code},
    )
    return stored


# --- notifications --------------------------------------------------------------------------------------


async def tell_applicant(
    session: AsyncSession,
    app: PermitApplication,
    what: str,
    *,
    subject_th: str,
    body_th: str,
    subject_en: str,
    body_en: str,
) -> bool:
    """E-mail the applicant (when the form gives an address) through the kernel's notifications,
    once per application and ``what``; False when there is no usable address."""
    form = form_of(app.answers)
    address = form.applicant.email if form.applicant else None
    if not address:
        return False
    try:
        await notify(
            session,
            key=f"permits:{app.id}:{what}",
            source="permits.application",
            channel=NOTIFY_CHANNEL,
            to=address,
            to_name=form.applicant.name_th if form.applicant else None,
            subject_th=subject_th,
            body_th=body_th,
            subject_en=subject_en,
            body_en=body_en,
        )
    except InvalidNotification as refused:
        if (refused.data or {}).get("field") != "to":
            raise
        return False
    return True


# --- submission -----------------------------------------------------------------------------------------


async def submit(
    session: AsyncSession,
    application_id: uuid.UUID,
    *,
    tenant: TenantInfo,
    actor: CaseActor,
    origin: Origin,
    now: dt.datetime,
    citizen_id: uuid.UUID | None = None,
) -> engine.Case:
    """Submit a draft: the form must be complete and the building within this service's rules
    (422 with every reason otherwise, in Thai and English); opens the case with a tracking number."""
    app = await lock_application(session, application_id, citizen_id)
    if app.status != "draft":
        raise ApplicationSubmitted(data={"tracking_number": app.tracking_number})
    form = form_of(app.answers)
    missing = form_problems(form)
    if missing:
        raise ApplicationIncomplete("Missing: " + ", ".join(missing), data={"missing": missing})
    config = await load_config(session)
    found = eligibility_of(config, form)
    assert found is not None
    assert form.applicant is not None
    assert form.kind is not None
    assert form.building is not None
    area_type, result = found
    reasons = [msgspec.to_builtins(r) for r in result.reasons]
    if not result.eligible:
        raise NotEligible(
            " ".join(r.th for r in result.reasons if r.code == "area_above_limit"),
            data={"reasons": reasons, "route_th": result.route_th, "route_en": result.route_en},
        )
    lacking = [
        name
        for name, needed, given in (
            ("engineer", result.engineer_required, form.engineer),
            ("architect", result.architect_required, form.architect),
        )
        if needed and given is None
    ]
    if lacking:
        raise ProfessionalRequired(
            "Required: " + ", ".join(lacking),
            data={"missing": lacking, "reasons": [r for r in reasons if r["code"].endswith("_required")]},
        )
    today = bangkok_today(now)
    year = fiscal_period(today)
    number = await next_number(session, TRACKING_SERIES, year)
    tracking = f"{tenant.dla_code}-{year}-B{number:05d}"
    case = await engine.open_case(
        session,
        BUILDING,
        actor=actor,
        now=now,
        applicant_name=form.applicant.name_th,
        applicant_citizen_id=app.citizen_id,
        tracking_number=tracking,
        data={
            "application_id": str(app.id),
            "kind": form.kind,
            "use": form.building.use,
            "floor_area_m2": str(form.building.floor_area_m2),
            "area_type": area_type,
            "simplified": result.simplified,
            # Where One Stop Service's delay and result notices write to (``data.applicant.email``).
            **({"applicant": {"email": form.applicant.email}} if form.applicant.email else {}),
        },
        documents=await documents_on_file(session, app.id),
        origin=origin,
    )
    form.area_type = area_type
    app.answers = _answers(form)
    app.status = "submitted"
    app.case_id = case.id
    app.tracking_number = tracking
    app.submitted_at = now
    app.version += 1
    await session.flush()
    await record_usage(session, APPLICATIONS_SUBMITTED, 1, f"application:{app.id}")
    await record_audit(
        session,
        "permits.submitted",
        actor=actor.audit,
        origin=origin,
        target=f"permits.application:{app.id}",
        data={"tracking_number": tracking, "case_id": str(case.id)},
    )
    await tell_applicant(
        session,
        app,
        "submitted",
        subject_th=f"รับคำขออนุญาต{KIND_TH[form.kind]} เลขที่ {tracking}",
        body_th=(
            f"หน่วยงานได้รับคำขออนุญาต{KIND_TH[form.kind]}ของท่านแล้ว เลขที่คำขอ {tracking} "
            f"เมื่อ {thai_datetime(now)} เจ้าหน้าที่จะตรวจสอบเอกสารและแจ้งผลให้ทราบ"
        ),
        subject_en=f"Building permit application {tracking} received",
        body_en=f"Your application {tracking} was received; the office will check its documents and let you know.",
    )
    await session.flush()  # the caller reads the application back with Core
    return case


# --- steps of the workflow ------------------------------------------------------------------------------


async def _state(session: AsyncSession, app: PermitApplication) -> str:
    return (await engine.get_case(session, case_of(app))).state


async def act_on(
    session: AsyncSession,
    app: PermitApplication,
    action: str,
    *,
    actor: CaseActor,
    version: int,
    now: dt.datetime,
    origin: Origin,
    comment: str | None = None,
    data: dict[str, Any] | None = None,
) -> engine.Case:
    return await engine.act(
        session,
        case_of(app),
        action,
        actor=actor,
        expected_version=version,
        now=now,
        comment=comment,
        documents=await documents_on_file(session, app.id),
        data=data,
        origin=origin,
    )


async def take_action(
    session: AsyncSession,
    application_id: uuid.UUID,
    action: str,
    *,
    actor: CaseActor,
    version: int,
    now: dt.datetime,
    origin: Origin,
    comment: str | None = None,
    citizen_id: uuid.UUID | None = None,
) -> engine.Case:
    """A step without more than a comment (the engine checks who may take it). Staff steps with
    their own endpoint are refused here (409, ``data.endpoint``); ``citizen_id`` is the applicant's
    own ``resubmit`` / ``withdraw``."""
    app = await lock_application(session, application_id, citizen_id)
    if citizen_id is None and action in OWN_ENDPOINT:
        raise ActionHasOwnEndpoint(data={"action": action, "endpoint": OWN_ENDPOINT[action]})
    if citizen_id is not None and action not in ("resubmit", "withdraw"):
        raise ActionHasOwnEndpoint(data={"action": action})
    today = bangkok_today(now)
    if action == "accept_documents":
        config = await load_config(session)
        found = eligibility_of(config, form_of(app.answers))
        assert found is not None
        on_file = await documents_on_file(session, app.id)
        lacking = [d.code for d in found[1].documents if d.code not in on_file]
        if lacking:
            raise DocumentsIncomplete(data={"missing": lacking})
    case = await act_on(session, app, action, actor=actor, version=version, now=now, origin=origin, comment=comment)
    tracking = app.tracking_number
    if action == "accept_documents":
        calendar = await load_calendar(session)
        app.complete_on = today
        app.decision_due_on = deadlines.decision_due(calendar, today, config.deadlines, [])
        await tell_applicant(
            session,
            app,
            "complete",
            subject_th=f"คำขอเลขที่ {tracking} มีเอกสารครบถ้วน",
            body_th=(
                f"คำขอเลขที่ {tracking} มีเอกสารครบถ้วนแล้ว เจ้าพนักงานท้องถิ่นจะพิจารณาให้แล้วเสร็จภายในวันที่ "
                f"{thai_date(app.decision_due_on, digits='arabic')}"
            ),
            subject_en=f"Application {tracking}: documents complete",
            body_en=f"Application {tracking} is complete; the decision is due by {app.decision_due_on.isoformat()}.",
        )
    elif action == "request_documents":
        await tell_applicant(
            session,
            app,
            f"deficiency:{case.version}",
            subject_th=f"คำขอเลขที่ {tracking}: โปรดยื่นเอกสารเพิ่มเติม",
            body_th=f"คำขอเลขที่ {tracking} ยังขาดเอกสาร: {comment}",
            subject_en=f"Application {tracking}: documents missing",
            body_en=f"Application {tracking} lacks documents: {comment}",
        )
    await session.flush()  # the caller reads the application back with Core
    return case


async def schedule_inspection(
    session: AsyncSession,
    application_id: uuid.UUID,
    *,
    at: dt.datetime,
    place_th: str | None,
    actor: CaseActor,
    version: int,
    now: dt.datetime,
    origin: Origin,
) -> engine.Case:
    """The appointment of the site inspection (นัดตรวจสถานที่), notified to the applicant."""
    if at.tzinfo is None:
        raise InvalidInput("at", "a time with its offset (e.g. +07:00) / ต้องระบุเขตเวลา")
    if at < now:
        raise InvalidInput("at", "in the past / เป็นเวลาที่ผ่านมาแล้ว")
    app = await lock_application(session, application_id)
    form = form_of(app.answers)
    place = place_th or (form.building.location.address_th if form.building else None)
    case = await act_on(
        session,
        app,
        "schedule_inspection",
        actor=actor,
        version=version,
        now=now,
        origin=origin,
        comment=f"นัดตรวจสถานที่ {thai_datetime(at)}",
        data={"inspection_at": at.isoformat()},
    )
    app.inspection_at = at
    app.inspection_place_th = place
    await tell_applicant(
        session,
        app,
        f"inspection:{case.version}",
        subject_th=f"นัดตรวจสถานที่ คำขอเลขที่ {app.tracking_number}",
        body_th=f"เจ้าหน้าที่จะไปตรวจสถานที่ก่อสร้างตามคำขอเลขที่ {app.tracking_number} วันที่ {thai_datetime(at)} ณ {place}",
        subject_en=f"Site inspection of application {app.tracking_number}",
        body_en=f"The site of application {app.tracking_number} will be inspected on {at.isoformat()}.",
    )
    await session.flush()  # the caller reads the application back with Core
    return case


async def record_inspection(
    session: AsyncSession,
    application_id: uuid.UUID,
    *,
    passed: bool,
    note: str,
    actor: CaseActor,
    version: int,
    now: dt.datetime,
    origin: Origin,
) -> engine.Case:
    """The result of the site inspection, its photos attached first (``inspection_photo`` files).
    Passed: on to the fee assessment; not passed: the result is kept and the case waits (the
    official may refuse, giving the inspection's findings as reasons)."""
    app = await lock_application(session, application_id)
    if app.inspection_at is None:
        raise InspectionNotScheduled()
    photos = (await fetch_one(session, _PHOTOS, {"id": app.id, "code": INSPECTION_PHOTO}) or {}).get("photos", 0)
    if not photos:
        raise InspectionPhotosMissing(data={"document_code": INSPECTION_PHOTO})
    if passed:
        case = await act_on(
            session, app, "record_inspection", actor=actor, version=version, now=now, origin=origin, comment=note
        )
    else:
        case = await engine.get_case(session, case_of(app))
        if case.state != SITE_INSPECTION:
            raise WrongState(data={"state": case.state})
        if case.version != version:
            raise engine.CaseVersionConflict(data={"expected_version": version, "version": case.version})
    app.inspection_passed = passed
    app.inspection_note = note
    app.inspected_at = now
    await record_audit(
        session,
        "permits.inspection_recorded",
        actor=actor.audit,
        origin=origin,
        target=f"permits.application:{app.id}",
        data={"passed": passed, "photos": photos},
    )
    await session.flush()  # the caller reads the application back with Core
    return case


async def bill_fees(
    session: AsyncSession,
    application_id: uuid.UUID,
    *,
    payer_id: uuid.UUID | None,
    tenant: TenantInfo,
    actor: CaseActor,
    version: int,
    now: dt.datetime,
    origin: Origin,
    comment: str | None = None,
) -> engine.Case:
    """The fees from the LAO's table (plan check, MR 7; permit fee, MR 70) and their one bill,
    through ``payments.api.create_bill`` (``source="permits"``, ``source_key``: the application);
    409 ``permits_payments_not_enabled`` when the LAO has not enabled the payments service.

    The bill goes to ``payer_id``, or (None) to the applicant's payer record: the LAO's payer with
    the applicant's 13-digit ID, made from the application when there is none (``payer_for``)."""
    app = await lock_application(session, application_id)
    if "payments" not in tenant.enabled_services:
        raise PaymentsNotEnabled()
    form = form_of(app.answers)
    assert form.kind is not None
    assert form.building is not None
    config = await load_config(session)
    lines = assess_fees(
        config.fees,
        kind=form.kind,
        storeys=form.building.storeys,
        height_m=form.building.height_m,
        floor_area_m2=form.building.floor_area_m2,
    )
    total = sum((line.amount for line in lines), Decimal(0))
    case = await act_on(
        session,
        app,
        "assess_fees",
        actor=actor,
        version=version,
        now=now,
        origin=origin,
        comment=comment,
        data={"fee_total": str(total)},
    )
    app.fee_lines = [msgspec.to_builtins(line) for line in lines]
    app.fee_total = total
    if lines:
        if payer_id is None:
            applicant = form.applicant
            assert applicant is not None  # a submitted application has its applicant
            payer_id = await payer_for(
                session,
                kind=applicant.kind,
                name=applicant.name_th,
                tax_id=applicant.id_number,
                address=ThaiAddress(),  # the form keeps the address as one line; finance may complete it
                phone=applicant.phone,
            )
        today = bangkok_today(now)
        bill = await create_bill(
            session,
            payer_id=payer_id,
            lines=[
                BillLine(fee_code=line.code, description_th=line.description_th, amount=line.amount) for line in lines
            ],
            due_date=today + dt.timedelta(days=config.fee_due_days),
            issue_date=today,
            source=BILL_SOURCE,
            source_key=str(app.id),
        )
        app.bill_id = bill.id
        app.bill_reference = bill.reference
    await session.flush()  # the caller reads the application back with Core
    return case


async def extend_deadline(
    session: AsyncSession,
    application_id: uuid.UUID,
    *,
    days: int,
    reason_th: str,
    actor: Actor,
    origin: Origin,
    now: dt.datetime,
) -> PermitExtension:
    """Extend the decision time (ขยายระยะเวลา) with reasons, notified to the applicant; refused
    (409 ``permits_extension_refused``) after the running deadline or beyond the allowed number."""
    app = await lock_application(session, application_id)
    case = await engine.get_case(session, case_of(app))
    if case.state not in RUNNING_STATES or app.complete_on is None:
        raise deadlines.ExtensionRefused(data={"reason": "not_under_consideration", "state": case.state})
    config = await load_config(session)
    calendar = await load_calendar(session)
    granted = [row["days"] for row in await fetch_all(session, _EXTENSION_DAYS, {"id": app.id})]
    previous = deadlines.decision_due(calendar, app.complete_on, config.deadlines, granted)
    due = deadlines.extend(calendar, app.complete_on, config.deadlines, granted, days, bangkok_today(now))
    extension = PermitExtension(
        application_id=app.id,
        seq=len(granted) + 1,
        days=days,
        reason_th=reason_th,
        previous_due_on=previous,
        due_on=due,
        granted_at=now,
        granted_by=label(actor),
    )
    session.add(extension)
    app.decision_due_on = due
    await session.flush()
    await record_audit(
        session,
        "permits.deadline_extended",
        actor=actor,
        origin=origin,
        target=f"permits.application:{app.id}",
        data={"seq": extension.seq, "days": days, "due_on": due.isoformat()},
    )
    await tell_applicant(
        session,
        app,
        f"extension:{extension.seq}",
        subject_th=f"ขยายระยะเวลาพิจารณาคำขอเลขที่ {app.tracking_number} ครั้งที่ {extension.seq}",
        body_th=(
            f"เจ้าพนักงานท้องถิ่นขยายระยะเวลาพิจารณาคำขอเลขที่ {app.tracking_number} ออกไป {days} วันทำการ "
            f"ถึงวันที่ {thai_date(due, digits='arabic')} เนื่องจาก {reason_th}"
        ),
        subject_en=f"Decision time of application {app.tracking_number} extended ({extension.seq})",
        body_en=(
            f"The decision on application {app.tracking_number} is now due by {due.isoformat()}. Reasons: {reason_th}"
        ),
    )
    return extension
