"""Issuing a letter: its number (per issuing unit and calendar year, ``kernel.numbering``), the
send register line, and its way out: a copy to each LAO through the outbox (:mod:`.delivery`),
routes to units and members of this LAO, outside agencies left for the exchange adapter."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.audit import Origin, record_audit
from localgov.kernel.events import publish
from localgov.kernel.numbering import next_number
from localgov.kernel.tenancy import TenantInfo
from localgov.kernel.thai import bangkok_today
from localgov.kernel.usage import record_usage
from localgov.services.saraban import delivery, letters, registers, rules
from localgov.services.saraban.errors import InvalidLetter
from localgov.services.saraban.letters import (
    LETTER_ISSUED,
    SENT_INTERNAL,
    SENT_LAO,
    SENT_OUTSIDE,
    LetterIssued,
    Viewer,
)
from localgov.services.saraban.models import IssuingUnit, Recipient


async def issue_letter(
    session: AsyncSession,
    letter_id: uuid.UUID,
    version: int,
    *,
    tenant: TenantInfo,
    viewer: Viewer,
    origin: Origin,
    now: dt.datetime | None = None,
    seal: Callable[[], Awaitable[object]] | None = None,
) -> None:
    """Give the approved (or signed) letter its number, write the send register line, and send it:
    a copy to each LAO through the outbox (it lands in their receive register with copies of its
    documents, see delivery), routes to units and members of this LAO, outside agencies left for
    the exchange adapter. ``seal`` (the PDF signed with the number) runs before the copies are
    queued, so they carry it. An LAO closed or suspended since the draft is not sent to: its
    addressee row fails at once (``recipient_closed`` / ``recipient_suspended``)."""
    moment = now or dt.datetime.now(dt.UTC)
    day = bangkok_today(moment)
    letter = await letters.locked(session, letter_id, viewer, origin, "issue")
    letters.expect(letter, version, "approved", "signed")
    settings = await letters.settings_row(session)
    code = settings.agency_code
    if letter.issuing_unit_id is not None:
        unit = await session.get(IssuingUnit, letter.issuing_unit_id)
        if unit is not None:
            code = unit.code
    if not code and not rules.numbered_by_year(letter.kind) and letter.kind != "evidence":
        raise InvalidLetter(
            "set the LAO's agency code or the letter's issuing unit first", data={"field": "issuing_unit_id"}
        )
    year = rules.year_of(day)
    if letter.kind == "evidence":
        letter.number_text = None
    else:
        series = rules.number_series(letter.kind, letter.subkind, letter.circular, code or "-")
        value = await next_number(session, series, str(year))
        letter.number_value = value
        letter.number_year = year
        letter.number_text = rules.letter_number(letter.kind, letter.circular, code, value, year)
    letter.letter_date = day
    letter.status = "issued"
    letter.issued_at = moment
    letter.version += 1
    if letter.retention_years is None:
        letter.retention_years = await letters.retention_of(session, letter.kind)
    recipients = (
        (
            await session.execute(
                select(Recipient).where(Recipient.letter_id == letter.id).order_by(Recipient.name_th, Recipient.id)
            )
        )
        .scalars()
        .all()
    )
    to_th = ", ".join(r.name_th for r in recipients)[:2000] or "-"
    await registers.append_entry(
        session,
        register="send",
        day=day,
        recorded_at=moment,
        letter_id=letter.id,
        letter_no=letter.number_text or "-",
        letter_date=day,
        from_th=tenant.name_th,
        to_th=to_th,
        subject=rules.CLASSIFIED_SUBJECT if rules.is_secret(letter.secrecy) else letter.subject,
        action_th="ส่ง",
        recorded_by=letters.label(viewer.audit),
    )
    if seal is not None:
        await session.flush()
        await seal()
    outside: list[str] = []
    documents: list[delivery.DocumentRef] | None = None
    for r in recipients:
        if r.kind == "lao":
            assert r.tenant_id is not None
            row = await delivery.tenant_row(session, r.tenant_id)
            refused = delivery.unavailable(row["status"] if row is not None else None)
            if refused is not None:
                await delivery.fail(session, r, refused, origin=origin)
                continue
            if documents is None:
                documents = await delivery.outgoing_documents(session, letter.id)
            r.status = "queued"
            await delivery.send(session, letter, r, tenant, documents)
            await record_usage(session, SENT_LAO, 1, f"saraban.sent:{r.id}", subject=str(letter.id))
        elif r.kind == "outside":
            r.status = "awaiting_exchange"
            outside.append(str(r.id))
            await record_usage(session, SENT_OUTSIDE, 1, f"saraban.sent:{r.id}", subject=str(letter.id))
        elif r.kind in ("unit", "staff"):
            await letters.add_route(
                session,
                letter,
                to_unit_id=r.unit_id,
                to_staff_id=r.staff_id,
                endorsement="",
                due_on=None,
                viewer=viewer,
            )
            r.status = "delivered"
            r.delivered_at = moment
            await record_usage(session, SENT_INTERNAL, 1, f"saraban.sent:{r.id}", subject=str(letter.id))
        else:
            r.status = "done"
    await letters.record_event(session, letter.id, "issued", viewer, letter.number_text)
    await record_audit(
        session,
        "saraban.letter_issued",
        actor=viewer.audit,
        origin=origin,
        target=f"saraban_letter:{letter.id}",
        data={"number": letter.number_text},
    )
    await publish(
        session,
        LETTER_ISSUED,
        LetterIssued(
            letter_id=str(letter.id),
            number_text=letter.number_text or "",
            kind=letter.kind,
            secrecy=letter.secrecy,
            outside_recipient_ids=outside,
        ),
    )
