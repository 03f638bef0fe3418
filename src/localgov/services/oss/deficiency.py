"""Deficiency records (บันทึกความบกพร่อง) of One Stop Service requests.

When the officer checking a request finds what cannot be fixed on the spot — a document the
manual requires that is missing or wrong, a criterion not met — he makes a deficiency record:
the items, a note, and a deadline in working days of the LAO's calendar. He signs it by making it
(his name and the time are on the record); the applicant acknowledges it, online (signed in), or
by signing the printed record at the counter (an officer records the signature, with the scan if
kept). The record is registered as an issued document (``kernel.documents``: a QR to the public
verification page is printed on it).

The request waits in ``deficient`` (the engine stops its clock: the legal time counts from a
complete application) until the applicant supplies the items — online or at the counter — and
the check resumes; or the deadline passes and the platform returns the request (the scheduled job
:data:`EXPIRE_JOB`, per LAO). A later refusal may cite only items that were on a record of the
request (``cases.check_refusal``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any, cast

import structlog
from sqlalchemy import DateTime, Integer, Table, Uuid, bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel import cases as engine
from localgov.kernel import documents, org
from localgov.kernel.audit import Actor, Origin, record_audit
from localgov.kernel.calendar import end_of_day, load_calendar
from localgov.kernel.cases import CaseRecord, StaffUnknown
from localgov.kernel.errors import Conflict, NotFound
from localgov.kernel.jobs import JobContext, ScheduledJob
from localgov.kernel.reads import Row, fetch_all, fetch_one
from localgov.kernel.thai import bangkok_today, thai_date
from localgov.kernel.validation import InvalidInput
from localgov.services.oss import cases
from localgov.services.oss.models import CaseFile, DeficiencyItem, DeficiencyRecord
from localgov.services.oss.params import actor_label
from localgov.services.oss.schemas import ApplicantSignature, DeficiencyCreate
from localgov.services.oss.workflow import DEFICIENT

log = structlog.get_logger("localgov.oss")

#: The kind of the records in the register of issued documents.
DOCUMENT_KIND = "oss.deficiency_record"
TITLE_TH = "บันทึกความบกพร่องของคำขอ"
TITLE_EN = "Record of the deficiencies of a request"
#: How many returns one run of the job makes in one LAO (the next run takes the rest).
EXPIRE_BATCH = 500


class DeficiencyRecordNotFound(NotFound):
    code = "deficiency_record_not_found"
    title = "ไม่พบบันทึกความบกพร่องนี้ / No such deficiency record"


class DeficiencyRecordNotOpen(Conflict):
    code = "deficiency_record_not_open"
    title = "บันทึกความบกพร่องนี้ไม่ได้รอการแก้ไขแล้ว / The deficiency record is no longer open"


class AlreadyAcknowledged(Conflict):
    code = "deficiency_already_acknowledged"
    title = "ผู้ยื่นคำขอรับทราบบันทึกนี้แล้ว / The applicant has already acknowledged this record"


_R = cast(Table, DeficiencyRecord.__table__)
_I = cast(Table, DeficiencyItem.__table__)
_C = cast(Table, CaseRecord.__table__)
_F = cast(Table, CaseFile.__table__)

_NEXT_SEQ = select(func.coalesce(func.max(_R.c.seq), 0) + 1).where(_R.c.case_id == bindparam("case_id", type_=Uuid))
_RECORD = select(*_R.c).where(
    _R.c.id == bindparam("record_id", type_=Uuid), _R.c.case_id == bindparam("case_id", type_=Uuid)
)
_RECORD_LOCKED = _RECORD.with_for_update()
_CASE_FILE = select(_F.c.file_id).where(
    _F.c.file_id == bindparam("file_id", type_=Uuid), _F.c.case_id == bindparam("case_id", type_=Uuid)
)
#: Open records whose deadline has passed, of requests still waiting for them.
_DUE = (
    select(_R.c.id, _R.c.case_id, _R.c.deadline, _C.c.version)
    .select_from(_R.join(_C, _C.c.id == _R.c.case_id))
    .where(
        _R.c.status == "open",
        _R.c.deadline_at <= bindparam("now", type_=DateTime(timezone=True)),
        _C.c.state == DEFICIENT,
    )
    .order_by(_R.c.deadline_at, _R.c.id)
    .limit(bindparam("limit", type_=Integer))
)


async def _record(session: AsyncSession, case_id: uuid.UUID, record_id: uuid.UUID, *, lock: bool) -> Row:
    query = _RECORD_LOCKED if lock else _RECORD
    row = (await session.execute(query, {"record_id": record_id, "case_id": case_id})).mappings().one_or_none()
    if row is None:
        raise DeficiencyRecordNotFound(data={"record_id": str(record_id)})
    return dict(row)


def _items(data: cases.RequestData, body: DeficiencyCreate) -> list[dict[str, Any]]:
    """The items as stored: a document of the case's manual by its code, or a criterion in words."""
    documents_by_code = {d.code: d for d in data.documents}
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for n, item in enumerate(body.items):
        field = f"items[{n}]"
        if item.kind == "document":
            if item.document_code is None or item.document_code not in documents_by_code:
                raise InvalidInput(
                    f"{field}.document_code",
                    "not a document this request's manual requires / ไม่ใช่เอกสารตามคู่มือของคำขอนี้",
                    code="unknown_document",
                )
            if item.criterion_th is not None:
                raise InvalidInput(
                    f"{field}.criterion_th", "a document item names no criterion", code="unexpected_field"
                )
            if item.document_code in seen:
                raise InvalidInput(f"{field}.document_code", "the document is listed twice", code="duplicate_item")
            seen.add(item.document_code)
            label = documents_by_code[item.document_code].name_th
        else:
            if item.criterion_th is None:
                raise InvalidInput(
                    f"{field}.criterion_th", "say which criterion is not met / ระบุหลักเกณฑ์ที่ไม่ครบถ้วน", code="required"
                )
            if item.document_code is not None:
                raise InvalidInput(f"{field}.document_code", "a criterion names no document", code="unexpected_field")
            label = item.criterion_th
        out.append(
            {"seq": n + 1, "kind": item.kind, "document_code": item.document_code, "label_th": label,
             "note_th": item.note_th}
        )  # fmt: skip
    return out


async def record_deficiencies(
    session: AsyncSession,
    case_id: uuid.UUID,
    body: DeficiencyCreate,
    *,
    actor: engine.CaseActor,
    now: dt.datetime,
    origin: Origin,
) -> uuid.UUID:
    """Make a deficiency record for a request being checked; the request waits in ``deficient``.

    The officer signs it by making it; with ``applicant_signed`` the walk-in applicant signed the
    printed record at once. Refused: 409 ``case_version_conflict`` / ``case_action_unavailable``
    (not being checked), 403, 422 for items that are not of the request's manual.
    """
    row = await cases.head(session, case_id)
    items = _items(cases.request_data(row), body)
    calendar = await load_calendar(session)
    deadline = calendar.add_working_days(bangkok_today(now), body.deadline_working_days)
    case = await cases.take_action(
        session,
        case_id,
        "record_deficiency",
        actor=actor,
        expected_version=body.version,
        now=now,
        origin=origin,
        comment=f"บันทึกความบกพร่อง {len(items)} รายการ กำหนดแก้ไขภายใน {thai_date(deadline, digits='arabic')}",
    )
    member = await org.staff_ref(session, actor.id) if actor.id is not None else None
    if member is None:  # the engine let a member act: he is one of this LAO
        raise StaffUnknown()
    seq: int = (await session.execute(_NEXT_SEQ, {"case_id": case_id})).scalar_one()
    number = f"{case.tracking_number}/{seq}"
    who = actor_label(actor.audit)
    signed = {"applicant_ack_at": now, "applicant_ack_method": "counter_signature", "applicant_ack_recorded_by": who}
    record_id: uuid.UUID = (
        await session.execute(
            insert(_R)
            .values(
                case_id=case_id,
                seq=seq,
                number=number,
                deadline=deadline,
                deadline_at=end_of_day(deadline),
                status="open",
                note_th=body.note_th,
                created_at=now,
                staff_id=member.id,
                staff_name=member.full_name,
                **(signed if body.applicant_signed else {}),
            )
            .returning(_R.c.id)
        )
    ).scalar_one()
    await session.execute(insert(_I), [{"record_id": record_id, "case_id": case_id, **item} for item in items])
    await documents.issue(
        session,
        kind=DOCUMENT_KIND,
        source_key=str(record_id),
        number=number,
        title_th=TITLE_TH,
        title_en=TITLE_EN,
        holder_name=case.applicant_name,
        issued_at=now,
    )
    await record_audit(
        session,
        "oss.deficiency.recorded",
        actor=actor.audit,
        origin=origin,
        target=f"case:{case_id}",
        data={"record_id": str(record_id), "number": number, "items": len(items), "deadline": deadline.isoformat()},
    )
    return record_id


async def acknowledge(
    session: AsyncSession,
    case_id: uuid.UUID,
    record_id: uuid.UUID,
    citizen_id: uuid.UUID,
    *,
    now: dt.datetime,
    origin: Origin,
) -> None:
    """The applicant, signed in, acknowledges the record (again: nothing changes)."""
    await cases.head(session, case_id, citizen_id=citizen_id)
    record = await _record(session, case_id, record_id, lock=True)
    if record["applicant_ack_at"] is not None:
        return
    if record["status"] != "open":
        raise DeficiencyRecordNotOpen(data={"status": record["status"]})
    who = Actor("citizen", str(citizen_id))
    await _ack(session, record_id, now, "online", actor_label(who))
    await record_audit(
        session, "oss.deficiency.acknowledged", actor=who, origin=origin, target=f"case:{case_id}",
        data={"record_id": str(record_id), "method": "online"},
    )  # fmt: skip


async def _ack(session: AsyncSession, record_id: uuid.UUID, now: dt.datetime, method: str, by: str) -> None:
    await session.execute(
        update(_R)
        .where(_R.c.id == record_id)
        .values(applicant_ack_at=now, applicant_ack_method=method, applicant_ack_recorded_by=by)
    )


async def record_signature(
    session: AsyncSession,
    case_id: uuid.UUID,
    record_id: uuid.UUID,
    body: ApplicantSignature,
    *,
    actor: Actor,
    now: dt.datetime,
    origin: Origin,
) -> None:
    """An officer records that the applicant signed the printed record at the counter."""
    await cases.head(session, case_id)
    record = await _record(session, case_id, record_id, lock=True)
    if record["applicant_ack_at"] is not None:
        raise AlreadyAcknowledged(data={"method": record["applicant_ack_method"]})
    if record["status"] != "open":
        raise DeficiencyRecordNotOpen(data={"status": record["status"]})
    if body.signed_copy_file_id is not None:
        found = await fetch_one(session, _CASE_FILE, {"file_id": body.signed_copy_file_id, "case_id": case_id})
        if found is None:
            raise InvalidInput(
                "signed_copy_file_id", "not an attachment of this request / ไม่ใช่ไฟล์แนบของคำขอนี้", code="unknown_file"
            )
        await session.execute(
            update(_R).where(_R.c.id == record_id).values(signed_copy_file_id=body.signed_copy_file_id)
        )
    await _ack(session, record_id, now, "counter_signature", actor_label(actor))
    await record_audit(
        session, "oss.deficiency.acknowledged", actor=actor, origin=origin, target=f"case:{case_id}",
        data={"record_id": str(record_id), "method": "counter_signature",
              "signed_copy_file_id": str(body.signed_copy_file_id) if body.signed_copy_file_id else None},
    )  # fmt: skip


async def mark_supplied(
    session: AsyncSession,
    case_id: uuid.UUID,
    record_id: uuid.UUID,
    *,
    version: int,
    comment: str | None,
    actor: engine.CaseActor,
    now: dt.datetime,
    origin: Origin,
) -> engine.Case:
    """The applicant supplied the record's items (online: ``supply``, the citizen; at the counter:
    ``supply_at_counter``, staff): the record is closed as supplied and the check resumes.

    A citizen supplying a record he had not acknowledged acknowledges it by doing so.
    """
    citizen_id = actor.id if actor.kind == "citizen" else None
    await cases.head(session, case_id, citizen_id=citizen_id)
    record = await _record(session, case_id, record_id, lock=True)
    if record["status"] != "open":
        raise DeficiencyRecordNotOpen(data={"status": record["status"]})
    action = "supply" if citizen_id is not None else "supply_at_counter"
    case = await cases.take_action(
        session, case_id, action, actor=actor, expected_version=version, now=now, comment=comment, origin=origin
    )
    who = actor_label(actor.audit)
    await session.execute(
        update(_R).where(_R.c.id == record_id).values(status="supplied", resolved_at=now, resolved_by=who)
    )
    if citizen_id is not None and record["applicant_ack_at"] is None:
        await _ack(session, record_id, now, "online", who)
    await record_audit(
        session, "oss.deficiency.supplied", actor=actor.audit, origin=origin, target=f"case:{case_id}",
        data={"record_id": str(record_id), "action": action},
    )  # fmt: skip
    return case


async def return_expired(session: AsyncSession, now: dt.datetime, *, limit: int = EXPIRE_BATCH) -> list[uuid.UUID]:
    """Return the requests whose open deficiency record's deadline passed by ``now`` (the platform
    acts, ``expire``); each in a savepoint, so a request someone changes meanwhile is left for the
    next run and does not undo the others. Returns the ids of the requests returned."""
    returned: list[uuid.UUID] = []
    due: Sequence[Row] = await fetch_all(session, _DUE, {"now": now, "limit": limit})
    for row in due:
        try:
            async with session.begin_nested():
                await cases.take_action(
                    session,
                    row["case_id"],
                    "expire",
                    actor=engine.SYSTEM,
                    expected_version=row["version"],
                    now=now,
                    origin=Origin(),
                    comment=(f"พ้นกำหนดแก้ไขตามบันทึกความบกพร่อง ({thai_date(row['deadline'], digits='arabic')}) จึงคืนคำขอ"),
                )
                await session.execute(
                    update(_R)
                    .where(_R.c.id == row["id"], _R.c.status == "open")
                    .values(status="expired", resolved_at=now, resolved_by="system")
                )
        except (engine.CaseVersionConflict, engine.ActionUnavailable) as busy:
            log.info("oss_return_skipped", case_id=str(row["case_id"]), code=busy.code)
            continue
        returned.append(row["case_id"])
    return returned


async def _expire_job(ctx: JobContext) -> None:
    returned = await return_expired(ctx.session, ctx.now)
    if returned:
        log.info("oss_requests_returned", count=len(returned))


#: Every 10 minutes, in each LAO that enabled the service: requests whose deadline passed are returned.
EXPIRE_JOB = ScheduledJob(
    name="oss.return_expired_requests", every=dt.timedelta(minutes=10), run=_expire_job, per_tenant=True
)
