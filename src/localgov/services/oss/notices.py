"""Notices about cases (หนังสือแจ้ง): what the deadlines send, to whom, and the record of it.

Three kinds, each recorded in ``oss_case_notices`` and sent through the kernel's notifications
(:mod:`localgov.kernel.notifications`: the outbox, e-mail today):

* **delay** (หนังสือแจ้งเหตุแห่งความล่าช้า): once a case is past the manual's time and until it is
  decided, to the applicant every 7 days (the LAO's setting), each with a copy for the OPDC (ก.พ.ร.)
  recorded for its report and e-mailed when the LAO gave an address (Licensing Facilitation Act
  B.E. 2558, s.10);
* **result** (แจ้งผลการพิจารณา): the decision, to the applicant; it must be notified within 7 days of
  the decision, and one that is not is flagged;
* **escalation**: a case late in its state, to the supervisor of the unit it is assigned to, once
  per entry into the state.

:mod:`localgov.services.oss.deadlines` decides what is due (its sweep); this module words the
letters (Thai first, English alongside), records them once (one row per case, kind, recipient,
anchor and cycle, so a sweep that runs twice sends once), and serves the LAO's settings, the
record, and staff's own deliveries (a letter, in person, by phone) of notices that had no address.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

import msgspec
from sqlalchemy import (
    ARRAY,
    DateTime,
    Integer,
    String,
    Uuid,
    any_,
    bindparam,
    func,
    literal,
    literal_column,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.audit import Actor, Origin, record_audit
from localgov.kernel.cases import (
    CaseNotFound,
    CaseRecord,
    CaseStateCode,
    CaseSummary,
    CaseTypeCode,
    UnknownCaseType,
    get_case_type,
)
from localgov.kernel.citizens import citizen_ref
from localgov.kernel.errors import Conflict, NotFound
from localgov.kernel.notifications import InvalidNotification, NotificationRecord, NotificationStatus, notify
from localgov.kernel.pagination import after_key
from localgov.kernel.reads import Reader, Row, fetch_all, fetch_one
from localgov.kernel.tenancy import LaoProfile
from localgov.kernel.text import EMAIL_PATTERN
from localgov.kernel.thai import bangkok_today, thai_date
from localgov.kernel.validation import InvalidInput
from localgov.services.oss.models import CaseNotice, NoticeSettings
from localgov.services.oss.params import actor_label

NoticeKind = Literal["delay", "result", "escalation"]
RecipientKind = Literal["applicant", "opdc", "supervisor"]
HandDelivery = Literal["letter", "in_person", "phone"]

OPDC_TH = "สำนักงานคณะกรรมการพัฒนาระบบราชการ (ก.พ.ร.)"
OPDC_EN = "Office of the Public Sector Development Commission (OPDC)"
ACT_TH = "มาตรา 10 แห่งพระราชบัญญัติการอำนวยความสะดวกในการพิจารณาอนุญาตของทางราชการ พ.ศ. 2558"
ACT_EN = "section 10 of the Licensing Facilitation Act B.E. 2558 (2015)"
#: Where a case keeps the applicant's e-mail in its own data (``data.applicant.email``, as One Stop
#: Service's requests do: the address given at intake, a walk-in's too); without one, an applicant
#: with a citizen account is written to at the account's address.
APPLICANT_EMAIL_PATH = ("applicant", "email")
#: The channel notices go by (the only one built; an SMS or LINE provider adds its own).
CHANNEL = "email"


class NoticeNotFound(NotFound):
    code = "notice_not_found"
    title = "ไม่พบหนังสือแจ้งนี้ / No such notice"


class NoticeAlreadyDelivered(Conflict):
    code = "notice_already_delivered"
    title = "บันทึกการส่งหนังสือแจ้งนี้ไว้แล้ว / The notice's delivery is recorded already"


# --- the LAO's settings ---------------------------------------------------------------------------------

Days = Annotated[int, msgspec.Meta(ge=1, le=30)]
Email = Annotated[str, msgspec.Meta(max_length=254, pattern=EMAIL_PATTERN, examples=["opdc-copies@lao.go.th"])]


class NoticeSettingsRead(msgspec.Struct, kw_only=True):
    """The LAO's settings of the notices (the defaults until staff save them)."""

    #: Where copies of delay notices are e-mailed (None: recorded for the OPDC report only).
    opdc_email: str | None
    #: Record (and e-mail) a copy of every delay notice for the OPDC.
    opdc_copies: bool
    #: Days between delay notices once the manual's time is exceeded.
    delay_every_days: int
    #: Days after the decision by which the applicant must have been notified of the result.
    result_within_days: int
    updated_at: dt.datetime | None = None
    updated_by: str | None = None


class NoticeSettingsUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Every setting at once (what is not sent is refused, not defaulted)."""

    opdc_email: Email | None
    opdc_copies: bool
    delay_every_days: Days
    result_within_days: Days


DEFAULT_SETTINGS = NoticeSettingsRead(opdc_email=None, opdc_copies=True, delay_every_days=7, result_within_days=7)

_S = NoticeSettings.__table__.c
_SETTINGS = select(
    _S.opdc_email, _S.opdc_copies, _S.delay_every_days, _S.result_within_days, _S.updated_at, _S.updated_by
).where(_S.id == 1)


async def notice_settings(reader: Reader) -> NoticeSettingsRead:
    row = await fetch_one(reader, _SETTINGS)
    return DEFAULT_SETTINGS if row is None else NoticeSettingsRead(**row)


async def update_notice_settings(
    session: AsyncSession, data: NoticeSettingsUpdate, *, actor: Actor, origin: Origin
) -> NoticeSettingsRead:
    values: dict[str, Any] = msgspec.structs.asdict(data)
    values["opdc_email"] = data.opdc_email.strip() if data.opdc_email else None
    await session.execute(
        insert(NoticeSettings)
        .values(id=1, updated_by=actor_label(actor), **values)
        .on_conflict_do_update(
            index_elements=[_S.id], set_={**values, "updated_at": func.now(), "updated_by": actor_label(actor)}
        )
    )
    await record_audit(session, "oss.notice_settings.updated", actor=actor, origin=origin, data=values)
    return await notice_settings(session)


# --- the letters ------------------------------------------------------------------------------------------


class Letter(msgspec.Struct, frozen=True, kw_only=True):
    subject_th: str
    body_th: str
    subject_en: str
    body_en: str


def reference(case: CaseSummary) -> str:
    """What a letter calls the case: its tracking number (or the start of its id without one)."""
    return case.tracking_number or f"#{str(case.id)[:8]}"


def titles(case_type: str, state: str | None = None) -> tuple[str, str]:
    """Thai and English titles of a case type (or of one of its states); the codes when the type
    is not installed in this process."""
    try:
        kind = get_case_type(case_type)
    except UnknownCaseType:
        return (state or case_type, state or case_type)
    if state is None:
        return kind.title_th, kind.title_en
    try:
        found = kind.state(state)
    except KeyError:
        return state, state
    return found.title_th, found.title_en


def _th(day: dt.date) -> str:
    return thai_date(day, digits="arabic")


def _en(day: dt.date) -> str:
    return f"{day.day} {day:%B %Y}"


def _contact(lao: LaoProfile) -> tuple[str, str]:
    if lao.phone:
        return f"สอบถามได้ที่ {lao.name_th} โทร. {lao.phone}\n", f"Enquiries: {lao.name_en}, phone {lao.phone}\n"
    return "", ""


def delay_letter(
    lao: LaoProfile,
    case: CaseSummary,
    *,
    seq: int,
    due_on: dt.date,
    days_over: int,
    working_days_over: int,
    every: int,
    opdc_copy: bool,
) -> Letter:
    """The delay notice to the applicant (หนังสือแจ้งเหตุแห่งความล่าช้า)."""
    ref = reference(case)
    type_th, type_en = titles(case.case_type)
    state_th, state_en = titles(case.case_type, case.state)
    opened = bangkok_today(case.opened_at)
    contact_th, contact_en = _contact(lao)
    copy_th = f" และได้ส่งสำเนาหนังสือนี้ให้{OPDC_TH}ทราบ" if opdc_copy else ""
    copy_en = f", and has sent a copy of this notice to the {OPDC_EN}" if opdc_copy else ""
    body_th = (
        f"เรียน {case.applicant_name}\n\n"
        f"ตามที่ท่านได้ยื่นคำขอ{type_th} เลขที่ {ref} ต่อ{lao.name_th} เมื่อวันที่ {_th(opened)} "
        f"ซึ่งตามคู่มือสำหรับประชาชนจะพิจารณาแล้วเสร็จภายในวันที่ {_th(due_on)} นั้น\n\n"
        f"บัดนี้ได้พ้นกำหนดเวลาดังกล่าวมาแล้ว {days_over} วัน ({working_days_over} วันทำการ) "
        f'และการพิจารณายังไม่แล้วเสร็จ เหตุแห่งความล่าช้า: คำขออยู่ระหว่างขั้นตอน "{state_th}"\n\n'
        f"{lao.name_th}จะแจ้งความคืบหน้าให้ท่านทราบทุก {every} วันจนกว่าจะพิจารณาแล้วเสร็จ{copy_th} "
        f"ตาม{ACT_TH}\n\n"
        f"{contact_th}{lao.name_th}"
    )
    body_en = (
        f"Dear {case.applicant_name},\n\n"
        f"Your application for {type_en} no. {ref}, made to {lao.name_en} on {_en(opened)}, was to be "
        f"decided by {_en(due_on)} under the public service manual.\n\n"
        f"That time was exceeded {days_over} day(s) ago ({working_days_over} working day(s)) and the application "
        f'has not been decided yet. Reason for the delay: the application is at the step "{state_en}".\n\n'
        f"{lao.name_en} will inform you of its progress every {every} days until it is decided{copy_en}, "
        f"as {ACT_EN} requires.\n\n"
        f"{contact_en}{lao.name_en}"
    )
    return Letter(
        subject_th=f"แจ้งเหตุแห่งความล่าช้าในการพิจารณาคำขอ เลขที่ {ref} (ครั้งที่ {seq})",
        body_th=body_th,
        subject_en=f"Delay notice: application {ref} (notice {seq})",
        body_en=body_en,
    )


def opdc_letter(lao: LaoProfile, case: CaseSummary, applicant: Letter, *, seq: int) -> Letter:
    """The copy of a delay notice for the OPDC (สำเนาหนังสือแจ้งเหตุแห่งความล่าช้า)."""
    ref = reference(case)
    return Letter(
        subject_th=f"สำเนาหนังสือแจ้งเหตุแห่งความล่าช้า {lao.name_th} คำขอเลขที่ {ref} (ครั้งที่ {seq})",
        body_th=(
            f"เรียน เลขาธิการ ก.พ.ร.\n\n"
            f"{lao.name_th} (รหัส อปท. {lao.dla_code} จังหวัด{lao.province_th}) ขอส่งสำเนาหนังสือแจ้งเหตุแห่งความล่าช้า"
            f"ที่แจ้งผู้ยื่นคำขอ ตาม{ACT_TH} ดังนี้\n\n"
            f"เรื่อง {applicant.subject_th}\n\n{applicant.body_th}"
        ),
        subject_en=f"Copy of a delay notice: {lao.name_en}, application {ref} (notice {seq})",
        body_en=(
            f"To the Secretary-General of the OPDC,\n\n"
            f"{lao.name_en} (LAO code {lao.dla_code}) sends a copy of the delay notice it sent to an applicant, "
            f"as {ACT_EN} requires:\n\n"
            f"Subject: {applicant.subject_en}\n\n{applicant.body_en}"
        ),
    )


def result_letter(
    lao: LaoProfile, case: CaseSummary, *, decision: str, decided_at: dt.datetime, comment: str | None
) -> Letter:
    """The result notified to the applicant (หนังสือแจ้งผลการพิจารณา)."""
    ref = reference(case)
    type_th, type_en = titles(case.case_type)
    decision_th, decision_en = titles(case.case_type, decision)
    opened, decided = bangkok_today(case.opened_at), bangkok_today(decided_at)
    contact_th, contact_en = _contact(lao)
    reason_th = f"\nเหตุผล: {comment}" if comment else ""
    reason_en = f"\nReasons (in Thai): {comment}" if comment else ""
    return Letter(
        subject_th=f"แจ้งผลการพิจารณาคำขอ เลขที่ {ref}: {decision_th}",
        body_th=(
            f"เรียน {case.applicant_name}\n\n"
            f"ตามที่ท่านได้ยื่นคำขอ{type_th} เลขที่ {ref} ต่อ{lao.name_th} เมื่อวันที่ {_th(opened)} นั้น\n\n"
            f"{lao.name_th}ได้พิจารณาคำขอของท่านแล้วเสร็จเมื่อวันที่ {_th(decided)} "
            f"ผลการพิจารณา: {decision_th}{reason_th}\n\n"
            f"{contact_th}{lao.name_th}"
        ),
        subject_en=f"Decision on application {ref}: {decision_en}",
        body_en=(
            f"Dear {case.applicant_name},\n\n"
            f"{lao.name_en} decided your application for {type_en} no. {ref} (made on {_en(opened)}) "
            f"on {_en(decided)}. Decision: {decision_en}.{reason_en}\n\n"
            f"{contact_en}{lao.name_en}"
        ),
    )


def escalation_letter(
    lao: LaoProfile,
    case: CaseSummary,
    *,
    supervisor: str,
    unit_th: str | None,
    officer: str | None,
    due_on: dt.date,
    days_over: int,
    working_days_over: int,
) -> Letter:
    """A case late in its state, to the supervisor of the unit it is assigned to."""
    ref = reference(case)
    type_th, type_en = titles(case.case_type)
    state_th, state_en = titles(case.case_type, case.state)
    entered = bangkok_today(case.state_entered_at)
    return Letter(
        subject_th=f'คำขอเลขที่ {ref} เกินกำหนดเวลาในขั้นตอน "{state_th}"',
        body_th=(
            f"เรียน {supervisor}\n\n"
            f'คำขอ{type_th} เลขที่ {ref} ของ {case.applicant_name} อยู่ในขั้นตอน "{state_th}" '
            f"ตั้งแต่วันที่ {_th(entered)} ซึ่งต้องดำเนินการให้แล้วเสร็จภายในวันที่ {_th(due_on)} "
            f"บัดนี้เกินกำหนดมาแล้ว {days_over} วัน ({working_days_over} วันทำการ)\n"
            f"หน่วยงานที่รับผิดชอบ: {unit_th or 'ยังไม่ได้มอบหมาย'}\n"
            f"ผู้รับผิดชอบ: {officer or 'ยังไม่ได้มอบหมาย'}\n\n"
            f"โปรดเร่งรัดการดำเนินการ\n\n{lao.name_th}"
        ),
        subject_en=f'Application {ref} is overdue at the step "{state_en}"',
        body_en=(
            f"Dear {supervisor},\n\n"
            f'Application {ref} ({type_en}) of {case.applicant_name} has been at the step "{state_en}" since '
            f"{_en(entered)}; it was due by {_en(due_on)} and is now {days_over} day(s) late "
            f"({working_days_over} working day(s)).\n"
            f"Responsible unit: {unit_th or 'not assigned'}\nOfficer: {officer or 'not assigned'}\n\n"
            f"Please see that it is dealt with.\n\n{lao.name_en}"
        ),
    )


# --- recording and sending --------------------------------------------------------------------------------


class NoticeDraft(msgspec.Struct, frozen=True, kw_only=True):
    """A notice the sweep decided to send (recorded once by its key)."""

    case_id: uuid.UUID
    kind: NoticeKind
    recipient_kind: RecipientKind
    anchor: dt.datetime
    cycle: int = 1
    state: str
    due_on: dt.date
    days_over: int | None = None
    working_days_over: int | None = None
    recipient_id: uuid.UUID | None = None
    recipient_name: str | None = None
    #: None: no address known (the LAO delivers it itself).
    address: str | None = None
    for_opdc: bool = False

    @property
    def key(self) -> str:
        """The notification's key (the same facts as the notice's unique index)."""
        anchor = self.anchor.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
        return f"oss.{self.kind}:{self.case_id}:{self.recipient_kind}:{anchor}:{self.cycle}"


_N = CaseNotice.__table__.c
_KEY = [_N.case_id, _N.kind, _N.recipient_kind, _N.anchor, _N.cycle]


def _next_seq(draft: NoticeDraft) -> Any:
    return (
        select(func.coalesce(func.max(_N.seq), 0) + literal(1))
        .where(_N.case_id == draft.case_id, _N.kind == draft.kind, _N.recipient_kind == draft.recipient_kind)
        .scalar_subquery()
    )


async def next_seq(session: AsyncSession, draft: NoticeDraft) -> int:
    """The number the draft will have among the case's notices of its kind to its recipient."""
    seq: int = (await session.execute(select(_next_seq(draft)))).scalar_one()
    return seq


async def issue(session: AsyncSession, draft: NoticeDraft, letter: Letter, *, now: dt.datetime) -> uuid.UUID | None:
    """Record ``draft`` and send ``letter`` to its address (the kernel's notification, through the
    outbox); None when the notice was recorded already (nothing sent again).

    An address the channel refuses (a citizen's account with a malformed e-mail) is recorded as no
    address: the LAO then delivers the notice itself.
    """
    address, channel, notification = draft.address, None, None
    if address is not None:
        try:
            queued = await notify(
                session,
                key=draft.key,
                source=f"oss.{draft.kind}_notice",
                channel=CHANNEL,
                to=address,
                to_name=draft.recipient_name,
                subject_th=letter.subject_th,
                body_th=letter.body_th,
                subject_en=letter.subject_en,
                body_en=letter.body_en,
            )
        except InvalidNotification as refused:
            if (refused.data or {}).get("field") != "to":
                raise
            address = None
        else:
            channel, notification = CHANNEL, queued.id
    values = msgspec.structs.asdict(draft)
    values.update(address=address, channel=channel, notification_id=notification, sent_at=now, seq=_next_seq(draft))
    notice_id: uuid.UUID | None = (
        await session.execute(
            insert(CaseNotice).values(**values).on_conflict_do_nothing(index_elements=_KEY).returning(_N.id)
        )
    ).scalar_one_or_none()
    return notice_id


# --- reading the record -----------------------------------------------------------------------------------

_C = CaseRecord.__table__.c
_NOTIFIED = NotificationRecord.__table__.c

_NOTICE_COLUMNS = (
    _N.id,
    _N.case_id,
    _C.tracking_number,
    _C.case_type,
    _N.kind,
    _N.recipient_kind,
    _N.seq,
    _N.cycle,
    _N.state,
    _N.sent_at,
    _N.due_on,
    _N.days_over,
    _N.working_days_over,
    _N.recipient_name,
    _N.address,
    _N.channel,
    _N.for_opdc,
    _NOTIFIED.status.label("delivery_status"),
    _NOTIFIED.sent_at.label("delivered_at"),
    _N.hand_delivery,
    _N.hand_delivered_on,
    _N.notified_on,
    _N.flagged_at,
)
_NOTICE_FROM = CaseNotice.__table__.join(CaseRecord.__table__, _C.id == _N.case_id).outerjoin(
    NotificationRecord.__table__, _NOTIFIED.id == _N.notification_id
)
#: The notices of one case, oldest first (a case has a few dozen at most).
CASE_NOTICES = (
    select(*_NOTICE_COLUMNS)
    .select_from(_NOTICE_FROM)
    .where(_N.case_id == bindparam("case_id", type_=Uuid))
    .order_by(_N.sent_at, _N.kind, _N.recipient_kind, _N.id)
    .limit(500)
)
NOTICE = select(*_NOTICE_COLUMNS).select_from(_NOTICE_FROM).where(_N.id == bindparam("notice_id", type_=Uuid))
#: Result notices flagged late (not notified within the time allowed), the latest flagged first.
LATE_RESULTS = (
    select(*_NOTICE_COLUMNS)
    .select_from(_NOTICE_FROM)
    .where(
        _N.kind == "result",
        _N.flagged_at.is_not(None),
        tuple_(_N.flagged_at, _N.id)
        < tuple_(bindparam("before_at", type_=DateTime(timezone=True)), bindparam("before_id", type_=Uuid)),
    )
    .order_by(_N.flagged_at.desc(), _N.id.desc())
    .limit(bindparam("limit", type_=Integer))
)
_LATE_CURSOR = select(_N.flagged_at, _N.id).where(
    _N.id == bindparam("notice_id", type_=Uuid), _N.kind == "result", _N.flagged_at.is_not(None)
)
#: The case a notice list is asked for exists in this LAO.
_CASE_EXISTS = select(_C.id).where(_C.id == bindparam("case_id", type_=Uuid))


class NoticeRead(msgspec.Struct, kw_only=True):
    """A notice as the record shows it."""

    id: uuid.UUID
    case_id: uuid.UUID
    tracking_number: str | None
    case_type: CaseTypeCode
    kind: NoticeKind
    recipient_kind: RecipientKind
    #: ครั้งที่: the case's n-th notice of this kind to this recipient.
    seq: int
    cycle: int
    state: CaseStateCode
    sent_at: dt.datetime
    due_on: dt.date
    days_over: int | None
    working_days_over: int | None
    recipient_name: str | None
    address: str | None
    #: ``email`` …; None: no address was known (the LAO delivers it itself).
    channel: str | None
    for_opdc: bool
    #: The notification's state: ``queued`` until the channel accepted it, then ``sent``.
    delivery_status: NotificationStatus | None
    delivered_at: dt.datetime | None
    hand_delivery: HandDelivery | None
    hand_delivered_on: dt.date | None
    notified_on: dt.date | None
    flagged_at: dt.datetime | None


class NoticeList(msgspec.Struct, kw_only=True):
    items: list[NoticeRead]
    #: Pass as ``cursor`` for the next page; null on the last page.
    next_cursor: str | None = None


def notice_read(row: Row) -> NoticeRead:
    return NoticeRead(**row)


#: Where a page of a case's notices ends: (sent_at, kind, recipient_kind, id) of its last notice.
CaseNoticeKey = tuple[dt.datetime, str, str, uuid.UUID]


def case_notice_key(notice: NoticeRead) -> CaseNoticeKey:
    return (notice.sent_at, notice.kind, notice.recipient_kind, notice.id)


async def case_notices(
    reader: Reader, case_id: uuid.UUID, *, after: CaseNoticeKey | None = None, limit: int = 500
) -> list[NoticeRead]:
    """The case's notices, oldest first (404 ``case_not_found`` for a case the LAO does not have);
    ``after``: the :func:`case_notice_key` of the last notice of the previous page."""
    if await fetch_one(reader, _CASE_EXISTS, {"case_id": case_id}) is None:
        raise CaseNotFound(data={"case_id": str(case_id)})
    query = CASE_NOTICES.limit(limit)
    if after is not None:
        query = query.where(after_key([_N.sent_at, _N.kind, _N.recipient_kind, _N.id], after))
    return [notice_read(row) for row in await fetch_all(reader, query, {"case_id": case_id})]


async def late_results(reader: Reader, *, after: uuid.UUID | None, limit: int) -> list[NoticeRead]:
    """Result notices flagged late, the latest flagged first (``after``: the last one of a page)."""
    before_at, before_id = dt.datetime(9999, 12, 31, tzinfo=dt.UTC), uuid.UUID(int=(1 << 128) - 1)
    if after is not None:
        cursor = await fetch_one(reader, _LATE_CURSOR, {"notice_id": after})
        if cursor is None:
            raise NoticeNotFound("Unknown cursor.", data={"notice_id": str(after)})
        before_at, before_id = cursor["flagged_at"], cursor["id"]
    rows = await fetch_all(reader, LATE_RESULTS, {"before_at": before_at, "before_id": before_id, "limit": limit})
    return [notice_read(row) for row in rows]


async def notice(reader: Reader, notice_id: uuid.UUID) -> NoticeRead:
    row = await fetch_one(reader, NOTICE, {"notice_id": notice_id})
    if row is None:
        raise NoticeNotFound(data={"notice_id": str(notice_id)})
    return notice_read(row)


# --- delivered by the LAO itself ---------------------------------------------------------------------------


class HandDeliveryRecord(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A notice the LAO delivered itself: how and on which day (Bangkok)."""

    how: HandDelivery
    on: dt.date


async def record_hand_delivery(
    session: AsyncSession,
    notice_id: uuid.UUID,
    data: HandDeliveryRecord,
    *,
    actor: Actor,
    origin: Origin,
    now: dt.datetime,
) -> NoticeRead:
    """Record that the LAO delivered the notice itself (a letter, in person, by phone): a notice
    without an address, or one whose e-mail did not reach the applicant. A result notice is then
    settled: notified on that day, or flagged when that day is after the time allowed.

    Refused: 404 ``notice_not_found``; 409 ``notice_already_delivered``; 422 ``invalid_input``
    (``on`` before the notice's anchor day or after today).
    """
    row = (
        await session.execute(
            select(_N.kind, _N.anchor, _N.due_on, _N.hand_delivery, _N.notified_on, _N.flagged_at)
            .where(_N.id == notice_id)
            .with_for_update()
        )
    ).one_or_none()
    if row is None:
        raise NoticeNotFound(data={"notice_id": str(notice_id)})
    if row.hand_delivery is not None:
        raise NoticeAlreadyDelivered(data={"notice_id": str(notice_id), "how": row.hand_delivery})
    today = bangkok_today(now)
    if not bangkok_today(row.anchor) <= data.on <= today:
        raise InvalidInput("on", "between the day the notice is about and today", code="invalid_input")
    values: dict[str, Any] = {
        "hand_delivery": data.how,
        "hand_delivered_on": data.on,
        "hand_recorded_by": actor_label(actor),
    }
    if row.kind == "result" and row.notified_on is None and row.flagged_at is None:
        values["notified_on"] = data.on
        if data.on > row.due_on:
            values["flagged_at"] = now
    await session.execute(update(CaseNotice).where(_N.id == notice_id).values(**values))
    await record_audit(
        session,
        "oss.notice.hand_delivered",
        actor=actor,
        origin=origin,
        target=f"oss.notice:{notice_id}",
        data={"how": data.how, "on": data.on.isoformat(), "kind": row.kind},
    )
    return await notice(session, notice_id)


# --- for the sweep --------------------------------------------------------------------------------------------

#: The delay and escalation notices already recorded for a page of late cases.
RECORDED = select(*_KEY).where(_N.case_id == any_(bindparam("case_ids", type_=ARRAY(Uuid))), _N.kind != "result")
#: Cases decided since ``since`` (up to ``now``) without a result notice to the applicant.
UNNOTIFIED_DECISIONS = (
    select(_C.id)
    .where(
        _C.decided_at.is_not(None),
        _C.decided_at >= bindparam("since", type_=DateTime(timezone=True)),
        _C.decided_at <= bindparam("now", type_=DateTime(timezone=True)),
        ~select(_N.id).where(_N.case_id == _C.id, _N.kind == "result", _N.recipient_kind == "applicant").exists(),
    )
    .order_by(_C.decided_at, _C.id)
    .limit(bindparam("limit", type_=Integer))
)
#: Result notices not yet settled (notified in time, or flagged), with their notification's state.
PENDING_RESULTS = (
    select(
        _N.id,
        _N.sent_at,
        _N.due_on,
        _N.channel,
        _N.hand_delivered_on,
        _NOTIFIED.status.label("delivery_status"),
    )
    .select_from(CaseNotice.__table__.outerjoin(NotificationRecord.__table__, _NOTIFIED.id == _N.notification_id))
    .where(_N.kind == "result", _N.notified_on.is_(None), _N.flagged_at.is_(None))
    .order_by(_N.anchor)
    .limit(bindparam("limit", type_=Integer))
)
#: A case's e-mail for a walk-in applicant, kept in its own data.
APPLICANT_EMAIL = select(
    _C.data.op("#>>", return_type=String)(literal_column("'{" + ",".join(APPLICANT_EMAIL_PATH) + "}'")).label("email")
).where(_C.id == bindparam("case_id", type_=Uuid))


async def applicant_address(session: AsyncSession, case: CaseSummary) -> tuple[str | None, uuid.UUID | None]:
    """Where the applicant is written to: the e-mail the case keeps (``data.applicant.email``, given
    at intake), else their citizen account's; and the citizen's id."""
    row = await fetch_one(session, APPLICANT_EMAIL, {"case_id": case.id})
    email = row["email"].strip() if row is not None and isinstance(row["email"], str) else ""
    if email:
        return email, case.applicant_citizen_id
    if case.applicant_citizen_id is not None:
        citizen = await citizen_ref(session, case.applicant_citizen_id)
        if citizen is not None and citizen.email:
            return citizen.email, citizen.id
    return None, case.applicant_citizen_id


async def settle_result(session: AsyncSession, row: Row, *, now: dt.datetime) -> Literal["notified", "flagged"] | None:
    """Settle a pending result notice: notified (its e-mail was sent, or the LAO delivered it) on a
    day within the time allowed, or flagged (late, or the time is over without it). None: wait."""
    today = bangkok_today(now)
    delivered_on: dt.date | None = None
    if row["hand_delivered_on"] is not None:
        delivered_on = row["hand_delivered_on"]
    elif row["channel"] is not None and row["delivery_status"] == "sent":
        delivered_on = bangkok_today(row["sent_at"])
    values: dict[str, Any]
    if delivered_on is not None:
        values = {"notified_on": delivered_on}
        if delivered_on > row["due_on"]:
            values["flagged_at"] = now
    elif today > row["due_on"]:
        values = {"flagged_at": now}
    else:
        return None
    await session.execute(update(CaseNotice).where(_N.id == row["id"]).values(**values))
    return "flagged" if "flagged_at" in values else "notified"
