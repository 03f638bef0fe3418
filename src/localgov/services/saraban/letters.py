"""Letters: drafts and their revisions, review and approval by the signer, issue (number, send
register, deliveries), the letter as read, and who may see it.

Secrecy: a letter whose ``secrecy`` is not ``normal`` is visible only to the members named on it
(``saraban_access``: the author, the signer, members it is routed to, members named by the
author, the LAO's secret-letter officers for a received one). :func:`visible_clause` is the one
condition every list and search applies; a secret letter someone else asks for by id is a 404,
and every access to a secret letter, granted or refused, is in the audit log.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import msgspec
from sqlalchemy import ColumnElement, bindparam, delete, exists, insert, literal, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel import org
from localgov.kernel.audit import Actor, Origin, record_audit
from localgov.kernel.cases import CaseActor
from localgov.kernel.events import EventType
from localgov.kernel.plugins import UsageMeter
from localgov.kernel.reads import Reader, fetch_all, fetch_one, json_rows
from localgov.kernel.tenancy import TenantInfo
from localgov.services.saraban import agencies, rules, search_index
from localgov.services.saraban.errors import (
    InvalidLetter,
    InvalidRecipient,
    IssuingUnitNotFound,
    LetterNotFound,
    NotTheSigner,
    VersionConflict,
    WrongStatus,
)
from localgov.services.saraban.models import (
    Access,
    IssuingUnit,
    Letter,
    LetterEvent,
    LetterRevision,
    LetterStatus,
    Recipient,
    RegisterEntry,
    RetentionRule,
    Route,
    SarabanSettings,
)
from localgov.services.saraban.schemas import (
    EventRead,
    LetterCreate,
    LetterRead,
    LetterSummary,
    LetterUpdate,
    RecipientIn,
    RecipientRead,
)

#: Who reads or acts: a member of staff with his permissions and units (the case engine's actor).
Viewer = CaseActor

L = Letter.__table__.c
A = Access.__table__.c
RC = Recipient.__table__.c
EV = LetterEvent.__table__.c
RV = LetterRevision.__table__.c
RE = RegisterEntry.__table__.c
IU = IssuingUnit.__table__.c

#: The outbox topic of a letter's copy on its way to another LAO (tenant: the recipient).
DELIVER_TOPIC = "saraban.deliver"
#: The delivery receipt on its way back (tenant: the sender).
RECEIPT_TOPIC = "saraban.receipt"

SENT_INTERNAL = UsageMeter(
    code="saraban.letters_sent_internal",
    unit="letter",
    title_th="หนังสือส่งภายในหน่วยงาน",
    title_en="Letters sent inside the LAO",
)
SENT_LAO = UsageMeter(
    code="saraban.letters_sent_lao",
    unit="letter",
    title_th="หนังสือส่งถึง อปท. อื่นบนแพลตฟอร์ม",
    title_en="Letters sent to another LAO on the platform",
)
SENT_OUTSIDE = UsageMeter(
    code="saraban.letters_sent_outside",
    unit="letter",
    title_th="หนังสือส่งถึงหน่วยงานภายนอก",
    title_en="Letters sent to outside agencies",
)
RECEIVED = UsageMeter(
    code="saraban.letters_received",
    unit="letter",
    title_th="หนังสือรับ",
    title_en="Letters received",
)
METERS = (SENT_INTERNAL, SENT_LAO, SENT_OUTSIDE, RECEIVED)


class LetterIssued(msgspec.Struct, frozen=True, kw_only=True):
    """A letter got its number and left (outside addressees wait for the exchange adapter)."""

    letter_id: str
    number_text: str
    kind: str
    secrecy: str
    outside_recipient_ids: list[str]


LETTER_ISSUED = EventType(
    code="saraban.letter_issued",
    title_th="ออกเลขและส่งหนังสือแล้ว",
    title_en="Letter issued",
    payload=LetterIssued,
)


def attachment_owner_kind() -> str:
    return "saraban.letter"


def visible_clause(viewer: Viewer) -> ColumnElement[bool]:
    """The letters ``viewer`` may see: every letter that is not secret, and secret ones naming him."""
    if viewer.id is None:
        return L.secrecy == "normal"
    named = exists().where(A.letter_id == L.id, A.staff_id == literal(viewer.id))
    return or_(L.secrecy == "normal", named)


def visible_search_rows(viewer: Viewer) -> Callable[[Any], ColumnElement[bool]]:
    """:func:`visible_clause` on rows of the search table (or of a sub-select of it with its
    ``letter_id`` and ``restricted``): a search takes its candidates with it and checks
    :func:`visible_clause` on the letters in the same statement."""

    def clause(rows: Any) -> ColumnElement[bool]:
        open_: ColumnElement[bool] = ~rows.c.restricted
        if viewer.id is None:
            return open_
        named = exists().where(A.letter_id == rows.c.letter_id, A.staff_id == literal(viewer.id))
        return or_(open_, named)

    return clause


def label(actor: Actor) -> str:
    """``<kind>:<subject>`` as rows record who did something (``system`` for the platform)."""
    return actor.kind if actor.id is None else f"{actor.kind}:{actor.id}"[:150]


async def audit_secret_access(
    session: AsyncSession, letter_id: uuid.UUID, secrecy: str, viewer: Viewer, origin: Origin, what: str
) -> None:
    """Every access to a secret letter is logged (``saraban.secret_access``)."""
    await record_audit(
        session,
        "saraban.secret_access",
        actor=viewer.audit,
        origin=origin,
        target=f"saraban_letter:{letter_id}",
        data={"secrecy": secrecy, "what": what},
    )


def _refused(letter_id: uuid.UUID, viewer: Viewer, what: str) -> LetterNotFound:
    exc = LetterNotFound(data={"letter_id": str(letter_id)})
    exc.audited(
        "saraban.secret_access_refused",
        actor_kind=viewer.kind,
        actor_id=str(viewer.id) if viewer.id is not None else None,
        target=f"saraban_letter:{letter_id}",
        data={"what": what},
    )
    return exc


_NAMED = select(A.staff_id).where(A.letter_id == bindparam("letter_id"), A.staff_id == bindparam("staff_id"))


async def is_named(reader: Reader, letter_id: uuid.UUID, staff_id: uuid.UUID | None) -> bool:
    if staff_id is None:
        return False
    return await fetch_one(reader, _NAMED, {"letter_id": letter_id, "staff_id": staff_id}) is not None


async def locked(session: AsyncSession, letter_id: uuid.UUID, viewer: Viewer, origin: Origin, what: str) -> Letter:
    """The letter, row-locked for a change, after the secrecy check (404 for those not named)."""
    letter = (
        await session.execute(select(Letter).where(Letter.id == letter_id).with_for_update())
    ).scalar_one_or_none()
    if letter is None:
        raise LetterNotFound(data={"letter_id": str(letter_id)})
    if rules.is_secret(letter.secrecy):
        if not await is_named(session, letter_id, viewer.id):
            raise _refused(letter_id, viewer, what)
        await audit_secret_access(session, letter_id, letter.secrecy, viewer, origin, what)
    return letter


# --- Reading -------------------------------------------------------------------------------------

_RECIPIENT_COLS = (
    RC.id,
    RC.kind,
    RC.name_th,
    RC.code,
    RC.tenant_id,
    RC.unit_id,
    RC.staff_id,
    RC.status,
    RC.receipt_no,
    RC.delivered_at,
)
_EVENT_COLS = (EV.action, EV.note, EV.actor, EV.at)
LETTER_VIEW = select(
    *L,
    json_rows(_RECIPIENT_COLS, where=RC.letter_id == L.id, order_by=(RC.name_th, RC.id)).label("recipient_rows"),
    json_rows(_EVENT_COLS, where=EV.letter_id == L.id, order_by=(EV.id,)).label("event_rows"),
    select(RV.revision)
    .where(RV.letter_id == L.id)
    .order_by(RV.revision.desc())
    .limit(1)
    .scalar_subquery()
    .label("revisions"),
    select(RE.year).where(RE.letter_id == L.id, RE.register == "receive").limit(1).scalar_subquery().label("rx_year"),
    select(RE.seq).where(RE.letter_id == L.id, RE.register == "receive").limit(1).scalar_subquery().label("rx_seq"),
).where(L.id == bindparam("letter_id"))


def _dt(raw: Any) -> dt.datetime | None:
    if raw is None:
        return None
    if isinstance(raw, dt.datetime):
        return raw
    return dt.datetime.fromisoformat(raw)


def _view(row: Any) -> LetterRead:
    recipients = [
        RecipientRead(
            id=uuid.UUID(r["id"]),
            kind=r["kind"],
            name_th=r["name_th"],
            code=r["code"],
            tenant_id=r["tenant_id"],
            unit_id=uuid.UUID(r["unit_id"]) if r["unit_id"] else None,
            staff_id=uuid.UUID(r["staff_id"]) if r["staff_id"] else None,
            status=r["status"],
            receipt_no=r["receipt_no"],
            delivered_at=_dt(r["delivered_at"]),
        )
        for r in row["recipient_rows"]
    ]
    events = [
        EventRead(action=e["action"], note=e["note"], actor=e["actor"], at=_dt(e["at"]) or dt.datetime.now(dt.UTC))
        for e in row["event_rows"]
    ]
    return LetterRead(
        id=row["id"],
        direction=row["direction"],
        kind=row["kind"],
        kind_th=rules.KIND_TH[row["kind"]],
        subkind=row["subkind"],
        circular=row["circular"],
        status=row["status"],
        status_th=rules.STATUS_TH[row["status"]],
        urgency=row["urgency"],
        urgency_th=rules.URGENCY_TH[row["urgency"]],
        secrecy=row["secrecy"],
        secrecy_th=rules.SECRECY_TH[row["secrecy"]],
        issuing_unit_id=row["issuing_unit_id"],
        number_text=row["number_text"],
        letter_date=row["letter_date"],
        subject=row["subject"],
        salutation=row["salutation"],
        references=list(row["references"]),
        enclosures=list(row["enclosures"]),
        body=row["body"],
        signer_staff_id=row["signer_staff_id"],
        signer_name=row["signer_name"],
        signer_position=row["signer_position"],
        sender_name=row["sender_name"],
        sender_code=row["sender_code"],
        retention_years=row["retention_years"],
        version=row["version"],
        revisions=row["revisions"] or 0,
        created_at=row["created_at"],
        issued_at=row["issued_at"],
        received_at=row["received_at"],
        receive_no=rules.register_no(row["rx_year"], row["rx_seq"]) if row["rx_seq"] is not None else None,
        recipients=recipients,
        events=events,
    )


async def letter_view(
    session: AsyncSession, letter_id: uuid.UUID, viewer: Viewer, origin: Origin, *, what: str = "read"
) -> LetterRead:
    """The letter as the API shows it (one statement), after the secrecy check; an access to a
    secret letter is audited. The struct saraban2's PDF and search build on."""
    row = await fetch_one(session, LETTER_VIEW, {"letter_id": letter_id})
    if row is None:
        raise LetterNotFound(data={"letter_id": str(letter_id)})
    if rules.is_secret(row["secrecy"]):
        if not await is_named(session, letter_id, viewer.id):
            raise _refused(letter_id, viewer, what)
        await audit_secret_access(session, letter_id, row["secrecy"], viewer, origin, what)
    return _view(row)


async def letter_data(session: AsyncSession, letter_id: uuid.UUID) -> LetterRead:
    """The letter without any access check (for the platform's own consumers: delivery)."""
    row = await fetch_one(session, LETTER_VIEW, {"letter_id": letter_id})
    if row is None:
        raise LetterNotFound(data={"letter_id": str(letter_id)})
    return _view(row)


_SUMMARY = (
    L.id,
    L.direction,
    L.kind,
    L.status,
    L.urgency,
    L.secrecy,
    L.number_text,
    L.letter_date,
    L.subject,
    L.created_at,
)


async def list_letters(
    reader: Reader,
    viewer: Viewer,
    *,
    direction: str | None,
    status: str | None,
    kind: str | None,
    q: str | None,
    after: uuid.UUID | None,
    limit: int,
) -> tuple[list[LetterSummary], uuid.UUID | None]:
    """Letters newest first, filtered; secret letters only for those named on them."""
    query = select(*_SUMMARY).where(visible_clause(viewer))
    if direction is not None:
        query = query.where(L.direction == direction)
    if status is not None:
        query = query.where(L.status == status)
    if kind is not None:
        query = query.where(L.kind == kind)
    if q:
        pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(or_(L.subject.ilike(pattern), L.number_text.ilike(pattern)))
    if after is not None:
        cursor = await fetch_one(reader, select(L.created_at, L.id).where(L.id == after, visible_clause(viewer)))
        if cursor is None:
            raise LetterNotFound(data={"letter_id": str(after)})
        query = query.where(
            or_(L.created_at < cursor["created_at"], (L.created_at == cursor["created_at"]) & (L.id < cursor["id"]))
        )
    rows = await fetch_all(reader, query.order_by(L.created_at.desc(), L.id.desc()).limit(limit + 1))
    items = [LetterSummary(**dict(row)) for row in rows[:limit]]
    return items, (items[-1].id if len(rows) > limit else None)


# --- Drafting ------------------------------------------------------------------------------------


def check_kind(kind: str, subkind: str | None, circular: bool) -> None:
    forms = rules.SUBKINDS.get(kind)
    if forms is None:
        if subkind is not None:
            raise InvalidLetter(f"{rules.KIND_TH[kind]} has no form", data={"field": "subkind"})
    elif subkind not in forms:
        raise InvalidLetter(
            f"{rules.KIND_TH[kind]}: subkind must be one of {sorted(forms)}",
            data={"field": "subkind", "allowed": sorted(forms)},
        )
    if circular and rules.numbered_by_year(kind):
        raise InvalidLetter("orders and announcements are not circulars", data={"field": "circular"})


async def _check_issuing_unit(session: AsyncSession, unit_id: uuid.UUID | None) -> None:
    if unit_id is not None and await fetch_one(session, select(IU.id).where(IU.id == unit_id, IU.active)) is None:
        raise IssuingUnitNotFound(data={"issuing_unit_id": str(unit_id)})


async def _resolve_recipients(
    session: AsyncSession, tenant: TenantInfo, items: Sequence[RecipientIn]
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        where = {"index": index}
        row: dict[str, Any] = {"kind": item.kind}
        if item.kind == "lao":
            if item.dla_code is None:
                raise InvalidRecipient("an LAO is addressed by its dla_code", data=where)
            lao = await agencies.lao_by_code(session, item.dla_code)
            if lao is None or lao["id"] == tenant.id:
                raise InvalidRecipient(
                    "no other LAO with this code runs e-Saraban", data={**where, "dla_code": item.dla_code}
                )
            row.update(tenant_id=lao["id"], code=lao["dla_code"], name_th=item.name_th or lao["name_th"])
        elif item.kind == "outside":
            if item.agency_code is None:
                raise InvalidRecipient("an outside agency is addressed by its agency_code", data=where)
            agency = await agencies.outside_by_code(session, item.agency_code)
            if agency is None:
                raise InvalidRecipient(
                    "no outside agency with this code", data={**where, "agency_code": item.agency_code}
                )
            row.update(agency_id=agency["id"], code=agency["code"], name_th=item.name_th or agency["name_th"])
        elif item.kind == "unit":
            unit = await org.unit_ref(session, item.unit_id) if item.unit_id is not None else None
            if unit is None:
                raise InvalidRecipient("no such unit", data=where)
            row.update(unit_id=unit.id, name_th=item.name_th or unit.name_th)
        elif item.kind == "staff":
            member = await org.staff_ref(session, item.staff_id) if item.staff_id is not None else None
            if member is None or member.status == "disabled":
                raise InvalidRecipient("no such member", data=where)
            row.update(staff_id=member.id, name_th=item.name_th or member.full_name)
        else:
            if not item.name_th:
                raise InvalidRecipient("a named addressee needs name_th", data=where)
            row.update(name_th=item.name_th)
        out.append(row)
    return out


async def _signer(session: AsyncSession, staff_id: uuid.UUID | None) -> tuple[str | None, str | None]:
    if staff_id is None:
        return None, None
    member = await org.staff_ref(session, staff_id)
    if member is None or member.status == "disabled":
        raise InvalidLetter("the signer is not an active member", data={"field": "signer_staff_id"})
    return member.full_name, member.position.title_th if member.position is not None else None


async def check_named(session: AsyncSession, staff_ids: Iterable[uuid.UUID]) -> None:
    ids = list(dict.fromkeys(staff_ids))
    found = await org.staff_refs(session, ids)
    missing = [str(i) for i in ids if i not in found]
    if missing:
        raise InvalidLetter("named members are unknown", data={"field": "named_staff_ids", "unknown": missing})


async def name_on(session: AsyncSession, letter_id: uuid.UUID, staff_ids: Iterable[uuid.UUID], reason: str) -> None:
    """Name members on a letter (the access list of a secret one); idempotent."""
    rows = [{"letter_id": letter_id, "staff_id": s, "reason": reason} for s in dict.fromkeys(staff_ids) if s]
    if rows:
        await session.execute(pg_insert(Access).values(rows).on_conflict_do_nothing())


def _content(letter: Letter, recipients: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {
        "kind": letter.kind,
        "subkind": letter.subkind,
        "circular": letter.circular,
        "urgency": letter.urgency,
        "secrecy": letter.secrecy,
        "issuing_unit_id": str(letter.issuing_unit_id) if letter.issuing_unit_id else None,
        "subject": letter.subject,
        "salutation": letter.salutation,
        "references": list(letter.references),
        "enclosures": list(letter.enclosures),
        "body": letter.body,
        "signer_staff_id": str(letter.signer_staff_id) if letter.signer_staff_id else None,
        "signer_position": letter.signer_position,
        "retention_years": letter.retention_years,
        "recipients": [{k: (str(v) if isinstance(v, uuid.UUID) else v) for k, v in r.items()} for r in recipients],
    }


async def record_event(
    session: AsyncSession, letter_id: uuid.UUID, action: str, viewer: Viewer, note: str | None = None
) -> None:
    await session.execute(
        insert(LetterEvent).values(
            letter_id=letter_id, action=action, note=note, actor_staff_id=viewer.id, actor=label(viewer.audit)
        )
    )
    if action in search_index.INDEXED_EVENTS:
        await search_index.refresh(session, letter_id)


async def create_draft(
    session: AsyncSession, data: LetterCreate, *, tenant: TenantInfo, viewer: Viewer, origin: Origin
) -> uuid.UUID:
    """A new draft, revision 1."""
    check_kind(data.kind, data.subkind, data.circular)
    await _check_issuing_unit(session, data.issuing_unit_id)
    signer_name, signer_position = await _signer(session, data.signer_staff_id)
    await check_named(session, data.named_staff_ids)
    recipients = await _resolve_recipients(session, tenant, data.recipients)
    letter = Letter(
        direction="outgoing",
        kind=data.kind,
        subkind=data.subkind,
        circular=data.circular,
        urgency=data.urgency,
        secrecy=data.secrecy,
        issuing_unit_id=data.issuing_unit_id,
        subject=data.subject,
        salutation=data.salutation,
        references=list(data.references),
        enclosures=list(data.enclosures),
        body=data.body,
        signer_staff_id=data.signer_staff_id,
        signer_name=signer_name,
        signer_position=data.signer_position or signer_position,
        sender_name=tenant.name_th,
        sender_code=None,
        retention_years=data.retention_years,
        created_by=label(viewer.audit),
        author_staff_id=viewer.id,
    )
    session.add(letter)
    await session.flush()
    if recipients:
        await session.execute(insert(Recipient), [{"letter_id": letter.id, **r} for r in recipients])
    await session.execute(
        insert(LetterRevision).values(
            letter_id=letter.id, revision=1, content=_content(letter, recipients), created_by=label(viewer.audit)
        )
    )
    await name_on(session, letter.id, [viewer.id] if viewer.id else [], "author")
    await name_on(session, letter.id, [data.signer_staff_id] if data.signer_staff_id else [], "signer")
    await name_on(session, letter.id, data.named_staff_ids, "named")
    if rules.is_secret(data.secrecy):
        await name_on(session, letter.id, (await settings_row(session)).secret_officer_ids, "secret_officer")
    await record_event(session, letter.id, "created", viewer)
    await record_audit(
        session,
        "saraban.letter_created",
        actor=viewer.audit,
        origin=origin,
        target=f"saraban_letter:{letter.id}",
        data={"kind": data.kind, "secrecy": data.secrecy},
    )
    return letter.id


def expect(letter: Letter, version: int, *statuses: str) -> None:
    if letter.version != version:
        raise VersionConflict(data={"version": letter.version})
    if letter.status not in statuses:
        raise WrongStatus(data={"status": letter.status, "allowed": list(statuses)})


async def update_draft(
    session: AsyncSession,
    letter_id: uuid.UUID,
    data: LetterUpdate,
    *,
    tenant: TenantInfo,
    viewer: Viewer,
    origin: Origin,
) -> None:
    """A new revision of a draft (only while it is a draft)."""
    letter = await locked(session, letter_id, viewer, origin, "update")
    expect(letter, data.version, "draft")
    for field in (
        "subject",
        "urgency",
        "secrecy",
        "salutation",
        "body",
        "signer_position",
        "retention_years",
        "issuing_unit_id",
    ):
        value = getattr(data, field)
        if value is not None:
            setattr(letter, field, value)
    if data.subkind is not None:
        letter.subkind = data.subkind
    if data.circular is not None:
        letter.circular = data.circular
    if data.references is not None:
        letter.references = list(data.references)
    if data.enclosures is not None:
        letter.enclosures = list(data.enclosures)
    check_kind(letter.kind, letter.subkind, letter.circular)
    await _check_issuing_unit(session, letter.issuing_unit_id)
    if data.signer_staff_id is not None:
        letter.signer_name, position = await _signer(session, data.signer_staff_id)
        letter.signer_staff_id = data.signer_staff_id
        letter.signer_position = data.signer_position or position
        await name_on(session, letter.id, [data.signer_staff_id], "signer")
    if data.named_staff_ids is not None:
        await check_named(session, data.named_staff_ids)
        await name_on(session, letter.id, data.named_staff_ids, "named")
    if data.recipients is not None:
        recipients = await _resolve_recipients(session, tenant, data.recipients)
        await session.execute(delete(Recipient).where(RC.letter_id == letter.id))
        if recipients:
            await session.execute(insert(Recipient), [{"letter_id": letter.id, **r} for r in recipients])
    current = [
        {k: v for k, v in dict(r).items() if k not in ("id", "letter_id")}
        for r in await fetch_all(
            session,
            select(RC.kind, RC.tenant_id, RC.agency_id, RC.unit_id, RC.staff_id, RC.name_th, RC.code).where(
                RC.letter_id == letter.id
            ),
        )
    ]
    last = (
        await session.execute(
            select(RV.revision).where(RV.letter_id == letter.id).order_by(RV.revision.desc()).limit(1)
        )
    ).scalar_one()
    await session.execute(
        insert(LetterRevision).values(
            letter_id=letter.id,
            revision=last + 1,
            content=_content(letter, current),
            note=data.note,
            created_by=label(viewer.audit),
        )
    )
    letter.version += 1
    letter.updated_at = dt.datetime.now(dt.UTC)
    await record_event(session, letter.id, "revised", viewer, data.note)
    await record_audit(
        session,
        "saraban.letter_revised",
        actor=viewer.audit,
        origin=origin,
        target=f"saraban_letter:{letter.id}",
        data={"revision": last + 1},
    )


async def revisions(
    session: AsyncSession, letter_id: uuid.UUID, viewer: Viewer, origin: Origin, *, after: int | None, limit: int
) -> Sequence[Any]:
    """The letter's revisions, oldest first (``after``: the last revision number of the previous page;
    the order is the unique index on (letter_id, revision))."""
    await letter_view(session, letter_id, viewer, origin, what="revisions")
    query = (
        select(RV.revision, RV.note, RV.created_at, RV.created_by, RV.content)
        .where(RV.letter_id == letter_id)
        .order_by(RV.revision)
        .limit(limit)
    )
    if after is not None:
        query = query.where(RV.revision > after)
    return await fetch_all(session, query)


async def _step(
    session: AsyncSession,
    letter_id: uuid.UUID,
    version: int,
    *,
    viewer: Viewer,
    origin: Origin,
    action: str,
    allowed: tuple[str, ...],
    to: LetterStatus,
    note: str | None,
    guard: Callable[[Letter], None] | None = None,
) -> Letter:
    letter = await locked(session, letter_id, viewer, origin, action)
    if guard is not None:
        guard(letter)
    expect(letter, version, *allowed)
    letter.status = to
    letter.version += 1
    letter.updated_at = dt.datetime.now(dt.UTC)
    await record_event(session, letter.id, action, viewer, note)
    await record_audit(
        session,
        f"saraban.letter_{action}",
        actor=viewer.audit,
        origin=origin,
        target=f"saraban_letter:{letter.id}",
        data={"status": to},
    )
    return letter


async def submit(
    session: AsyncSession, letter_id: uuid.UUID, version: int, *, viewer: Viewer, origin: Origin, note: str | None
) -> None:
    """Send the draft for review (เสนอตรวจ): it must name its signer."""
    letter = await _step(
        session,
        letter_id,
        version,
        viewer=viewer,
        origin=origin,
        action="submitted",
        allowed=("draft",),
        to="in_review",
        note=note,
    )
    if letter.signer_staff_id is None:
        raise InvalidLetter("a letter goes for review with its signer named", data={"field": "signer_staff_id"})
    if letter.direction != "outgoing":
        raise WrongStatus(data={"status": letter.status})


async def return_draft(
    session: AsyncSession, letter_id: uuid.UUID, version: int, *, viewer: Viewer, origin: Origin, note: str | None
) -> None:
    """Send back for changes (reviewer or signer), with the remark."""
    if note is None:
        raise InvalidLetter("a returned letter says why", data={"field": "note"})
    await _step(
        session,
        letter_id,
        version,
        viewer=viewer,
        origin=origin,
        action="returned",
        allowed=("in_review", "approved"),
        to="draft",
        note=note,
    )


async def review(
    session: AsyncSession, letter_id: uuid.UUID, version: int, *, viewer: Viewer, origin: Origin, note: str | None
) -> None:
    """A reviewer's initials on the way to the signer (ตรวจทาน): recorded, status unchanged."""
    letter = await locked(session, letter_id, viewer, origin, "review")
    expect(letter, version, "in_review")
    letter.version += 1
    await record_event(session, letter.id, "reviewed", viewer, note)
    await record_audit(
        session, "saraban.letter_reviewed", actor=viewer.audit, origin=origin, target=f"saraban_letter:{letter.id}"
    )


async def approve(
    session: AsyncSession, letter_id: uuid.UUID, version: int, *, viewer: Viewer, origin: Origin, note: str | None
) -> None:
    """The signer named on the letter approves it (the PAdES signature, when added, follows)."""

    def only_the_signer(letter: Letter) -> None:
        if (
            rules.SIGN not in viewer.permissions
            or letter.signer_staff_id is None
            or viewer.id != letter.signer_staff_id
        ):
            signer = str(letter.signer_staff_id) if letter.signer_staff_id else None
            raise NotTheSigner(data={"signer_staff_id": signer})

    await _step(
        session,
        letter_id,
        version,
        viewer=viewer,
        origin=origin,
        action="approved",
        allowed=("in_review",),
        to="approved",
        note=note,
        guard=only_the_signer,
    )


async def cancel(
    session: AsyncSession, letter_id: uuid.UUID, version: int, *, viewer: Viewer, origin: Origin, note: str | None
) -> None:
    await _step(
        session,
        letter_id,
        version,
        viewer=viewer,
        origin=origin,
        action="cancelled",
        allowed=("draft", "in_review", "approved"),
        to="cancelled",
        note=note,
    )


async def settings_row(session: AsyncSession) -> SarabanSettings:
    row = await session.get(SarabanSettings, 1)
    if row is None:
        await session.execute(pg_insert(SarabanSettings).values(id=1).on_conflict_do_nothing())
        row = await session.get(SarabanSettings, 1)
        assert row is not None
    return row


async def retention_of(session: AsyncSession, kind: str) -> int | None:
    row = await fetch_one(
        session, select(RetentionRule.__table__.c.years).where(RetentionRule.__table__.c.kind == kind)
    )
    return row["years"] if row is not None else rules.DEFAULT_RETENTION[kind]


async def add_route(
    session: AsyncSession,
    letter: Letter,
    *,
    to_unit_id: uuid.UUID | None,
    to_staff_id: uuid.UUID | None,
    endorsement: str,
    due_on: dt.date | None,
    viewer: Viewer,
    parent_id: uuid.UUID | None = None,
) -> uuid.UUID:
    """Route the letter to a unit or a member (the inbox); a member it is routed to is named on it
    (a secret letter routed to a unit names its members)."""
    route_id: uuid.UUID = (
        await session.execute(
            insert(Route)
            .values(
                letter_id=letter.id,
                parent_id=parent_id,
                from_staff_id=viewer.id,
                to_unit_id=to_unit_id,
                to_staff_id=to_staff_id,
                endorsement=endorsement,
                due_on=due_on,
            )
            .returning(Route.__table__.c.id)
        )
    ).scalar_one()
    named: list[uuid.UUID] = [to_staff_id] if to_staff_id is not None else []
    if to_unit_id is not None and rules.is_secret(letter.secrecy):
        named += [m.id for m in await org.unit_members(session, to_unit_id)]
    await name_on(session, letter.id, named, "routed")
    return route_id
