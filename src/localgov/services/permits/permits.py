"""The permit อ.1 (ใบอนุญาตก่อสร้าง ดัดแปลง รื้อถอนหรือเคลื่อนย้ายอาคาร): the decision that grants
it, its issue once the fee's bill is paid (``payments.bill_paid``, exactly once however often the
event is delivered), renewal before expiry and revocation, each in the register of issued documents
(``kernel.documents``) so that its QR stamp verifies it, and metered (``permits.permit_issued``).
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel import cases as engine
from localgov.kernel import documents
from localgov.kernel.audit import Actor, Origin, record_audit
from localgov.kernel.cases import CaseActor
from localgov.kernel.errors import Conflict
from localgov.kernel.numbering import fiscal_period, next_number
from localgov.kernel.outbox import Delivery
from localgov.kernel.plugins import UsageMeter
from localgov.kernel.thai import bangkok_today, thai_date
from localgov.kernel.usage import record_usage
from localgov.services.payments.api import BILL_PAID
from localgov.services.permits import applications
from localgov.services.permits.applications import BILL_SOURCE, PERMIT_KIND, form_of
from localgov.services.permits.config import PermitConfig, load_config
from localgov.services.permits.eligibility import KIND_TH, USE_TH
from localgov.services.permits.models import PermitApplication

PERMITS_ISSUED = UsageMeter(
    code="permits.permit_issued", unit="permit", title_th="ใบอนุญาตก่อสร้างที่ออก", title_en="Building permits issued"
)
#: The permits' running-number series (its period: the BE fiscal year): ``12/2570``.
PERMIT_SERIES = "permits.permit"
PERMIT_TITLE_TH = "ใบอนุญาตก่อสร้าง ดัดแปลง รื้อถอนหรือเคลื่อนย้ายอาคาร (แบบ อ.1)"
PERMIT_TITLE_EN = "Building permit (form Or.1)"


class PermitNotIssued(Conflict):
    code = "permits_permit_not_issued"
    title = "ยังไม่ได้ออกใบอนุญาต / No permit was issued for this application"


class PermitNotRenewable(Conflict):
    code = "permits_permit_not_renewable"
    title = "ต่ออายุใบอนุญาตไม่ได้ / The permit cannot be renewed"


class PermitRevoked(Conflict):
    code = "permits_permit_revoked"
    title = "ใบอนุญาตถูกเพิกถอนแล้ว / The permit was revoked"


def building_line_th(app: PermitApplication) -> str:
    """The building in one line, as the public verification page shows it (the register's title)."""
    form = form_of(app.answers)
    assert form.building is not None
    assert form.kind is not None
    b = form.building
    return (
        f"{KIND_TH[form.kind]} {USE_TH[b.use]} {b.storeys} ชั้น สูง {format(b.height_m.normalize(), 'f')} ม. "
        f"พื้นที่ {format(b.floor_area_m2.normalize(), 'f')} ตร.ม."
    )


def _register_title(app: PermitApplication) -> tuple[str, str]:
    form = form_of(app.answers)
    assert form.building is not None
    assert form.kind is not None
    b = form.building
    title_th = f"{PERMIT_TITLE_TH}: {building_line_th(app)}"[:300]
    title_en = (
        f"{PERMIT_TITLE_EN}: {form.kind.replace('_', ' ')} — {b.use.replace('_', ' ')}, {b.storeys} storeys, "
        f"{format(b.floor_area_m2.normalize(), 'f')} m²"
    )[:300]
    return title_th, title_en


async def issue_permit(
    session: AsyncSession, app: PermitApplication, *, config: PermitConfig, now: dt.datetime
) -> bool:
    """Issue the permit of an approved application (the row locked by the caller); False when it
    was issued already (a redelivered payment, an approval after the payment)."""
    if app.permit_number is not None:
        return False
    form = form_of(app.answers)
    assert form.applicant is not None
    today = bangkok_today(now)
    year = fiscal_period(today)
    number = f"{await next_number(session, PERMIT_SERIES, year)}/{year}"
    valid_until = today + dt.timedelta(days=config.validity_days - 1)
    title_th, title_en = _register_title(app)
    await documents.issue(
        session,
        kind=PERMIT_KIND,
        source_key=str(app.id),
        number=f"อ.1 {number}",
        title_th=title_th,
        title_en=title_en,
        holder_name=form.applicant.name_th,
        issued_at=now,
        valid_from=today,
        valid_until=valid_until,
    )
    app.permit_number = number
    app.permit_issued_at = now
    app.valid_from = today
    app.valid_until = valid_until
    app.document_key = str(app.id)
    await session.flush()
    await record_usage(session, PERMITS_ISSUED, 1, f"permit:{app.id}")
    await record_audit(
        session,
        "permits.permit_issued",
        actor=Actor("system"),
        origin=Origin(),
        target=f"permits.application:{app.id}",
        data={"permit_number": number, "valid_until": valid_until.isoformat()},
    )
    await applications.tell_applicant(
        session,
        app,
        "issued",
        subject_th=f"ออกใบอนุญาต (อ.1) เลขที่ {number} แล้ว",
        body_th=(
            f"หน่วยงานออกใบอนุญาตตามคำขอเลขที่ {app.tracking_number} แล้ว ใบอนุญาตเลขที่ {number} "
            f"ใช้ได้ถึงวันที่ {thai_date(valid_until, digits='arabic')}"
        ),
        subject_en=f"Building permit {number} issued",
        body_en=f"Permit {number} (application {app.tracking_number}) is valid until {valid_until.isoformat()}.",
    )
    return True


async def on_bill_paid(delivery: Delivery) -> None:
    """``payments.bill_paid``: record the payment of the permit's fee and issue the permit if the
    application is approved. Idempotent: the row is locked and a permit is issued once."""
    paid = BILL_PAID.decode(delivery)
    if paid.source != BILL_SOURCE:
        return
    await delivery.use_tenant_schema()
    session = delivery.session
    app = (
        await session.execute(
            select(PermitApplication).where(PermitApplication.bill_id == paid.bill_id).with_for_update()
        )
    ).scalar_one_or_none()
    if app is None:
        return
    if app.paid_at is None:
        app.paid_at = paid.paid_at
        app.receipt_number = paid.receipt_number
    if app.approved_at is not None and app.revoked_at is None:
        await issue_permit(session, app, config=await load_config(session), now=dt.datetime.now(dt.UTC))


async def _current_document(session: AsyncSession, app: PermitApplication) -> documents.IssuedDocument:
    if app.permit_number is None or app.document_key is None:
        raise PermitNotIssued(data={"application_id": str(app.id)})
    return await documents.get_by_source(session, PERMIT_KIND, app.document_key)


async def renew(
    session: AsyncSession, application_id: uuid.UUID, *, actor: Actor, origin: Origin, now: dt.datetime
) -> PermitApplication:
    """Renew a valid permit before it expires (ต่ออายุใบอนุญาต): a new register entry valid from
    the day after the current one ends, for the LAO's validity period."""
    app = await applications.lock_application(session, application_id)
    document = await _current_document(session, app)
    today = bangkok_today(now)
    if app.revoked_at is not None or document.status != "valid":
        raise PermitRevoked(data={"status": document.status})
    assert app.valid_until is not None
    assert app.permit_number is not None
    if today > app.valid_until:
        raise PermitNotRenewable(
            "A permit is renewed before it expires.",
            data={"reason": "expired", "valid_until": app.valid_until.isoformat()},
        )
    config = await load_config(session)
    form = form_of(app.answers)
    assert form.applicant is not None
    renewal = app.renewals + 1
    valid_from = app.valid_until + dt.timedelta(days=1)
    valid_until = valid_from + dt.timedelta(days=config.validity_days - 1)
    title_th, title_en = _register_title(app)
    key = f"{app.id}:renewal:{renewal}"
    await documents.issue(
        session,
        kind=PERMIT_KIND,
        source_key=key,
        number=f"อ.1 {app.permit_number} ต่ออายุครั้งที่ {renewal}",
        title_th=title_th,
        title_en=title_en,
        holder_name=form.applicant.name_th,
        issued_at=now,
        valid_from=valid_from,
        valid_until=valid_until,
    )
    app.renewals = renewal
    app.valid_until = valid_until
    app.document_key = key
    await record_audit(
        session,
        "permits.permit_renewed",
        actor=actor,
        origin=origin,
        target=f"permits.application:{app.id}",
        data={"renewal": renewal, "valid_until": valid_until.isoformat()},
    )
    await applications.tell_applicant(
        session,
        app,
        f"renewed:{renewal}",
        subject_th=f"ต่ออายุใบอนุญาตเลขที่ {app.permit_number} แล้ว",
        body_th=f"ใบอนุญาตเลขที่ {app.permit_number} ต่ออายุถึงวันที่ {thai_date(valid_until, digits='arabic')}",
        subject_en=f"Permit {app.permit_number} renewed",
        body_en=f"Permit {app.permit_number} is now valid until {valid_until.isoformat()}.",
    )
    await session.flush()  # the caller reads the application back with Core
    return app


async def revoke(
    session: AsyncSession, application_id: uuid.UUID, *, reason_th: str, actor: Actor, origin: Origin, now: dt.datetime
) -> PermitApplication:
    """Revoke the permit (เพิกถอนใบอนุญาต): every register entry of it that is still valid is
    marked revoked, so each of its QR stamps verifies as revoked."""
    app = await applications.lock_application(session, application_id)
    await _current_document(session, app)
    if app.revoked_at is not None:
        raise PermitRevoked(data={"revoked_at": app.revoked_at.isoformat()})
    keys = [str(app.id), *(f"{app.id}:renewal:{n}" for n in range(1, app.renewals + 1))]
    for key in keys:
        document = await documents.get_by_source(session, PERMIT_KIND, key, for_update=True)
        if document.status == "valid":
            await documents.revoke(session, document, reason=reason_th, at=now)
    app.revoked_at = now
    app.revoke_reason = reason_th
    await record_audit(
        session,
        "permits.permit_revoked",
        actor=actor,
        origin=origin,
        target=f"permits.application:{app.id}",
        data={"permit_number": app.permit_number},
    )
    await applications.tell_applicant(
        session,
        app,
        "revoked",
        subject_th=f"เพิกถอนใบอนุญาตเลขที่ {app.permit_number}",
        body_th=f"เจ้าพนักงานท้องถิ่นเพิกถอนใบอนุญาตเลขที่ {app.permit_number} ด้วยเหตุผล: {reason_th}",
        subject_en=f"Permit {app.permit_number} revoked",
        body_en=f"Permit {app.permit_number} was revoked. Reasons: {reason_th}",
    )
    await session.flush()  # the caller reads the application back with Core
    return app


async def decide(
    session: AsyncSession,
    application_id: uuid.UUID,
    *,
    approve: bool,
    reasons_th: str | None,
    actor: CaseActor,
    version: int,
    now: dt.datetime,
    origin: Origin,
) -> engine.Case:
    """The local official's decision (เจ้าพนักงานท้องถิ่น): approve (the permit อ.1 is issued once
    the fee is paid, or at once when the LAO issues before payment or nothing is due) or refuse
    with reasons; the applicant is told either way."""
    app = await applications.lock_application(session, application_id)
    tracking = app.tracking_number
    if not approve:
        case = await applications.act_on(
            session, app, "refuse", actor=actor, version=version, now=now, origin=origin, comment=reasons_th
        )
        await applications.tell_applicant(
            session,
            app,
            "refused",
            subject_th=f"ผลการพิจารณาคำขอเลขที่ {tracking}: ไม่อนุญาต",
            body_th=f"เจ้าพนักงานท้องถิ่นไม่อนุญาตตามคำขอเลขที่ {tracking} ด้วยเหตุผล: {reasons_th}",
            subject_en=f"Application {tracking} refused",
            body_en=f"Application {tracking} was refused. Reasons: {reasons_th}",
        )
        await session.flush()  # the caller reads the application back with Core
        return case
    case = await applications.act_on(
        session, app, "approve", actor=actor, version=version, now=now, origin=origin, comment=reasons_th
    )
    app.approved_at = now
    config = await load_config(session)
    if app.paid_at is not None or config.issue_before_payment or not app.fee_total:
        await issue_permit(session, app, config=config, now=now)
    else:
        await applications.tell_applicant(
            session,
            app,
            "approved",
            subject_th=f"อนุญาตตามคำขอเลขที่ {tracking} โปรดชำระค่าธรรมเนียม",
            body_th=(
                f"เจ้าพนักงานท้องถิ่นอนุญาตตามคำขอเลขที่ {tracking} แล้ว โปรดชำระค่าธรรมเนียม {app.fee_total} บาท "
                f"(เลขอ้างอิง {app.bill_reference}) ใบอนุญาต (อ.1) จะออกให้เมื่อชำระแล้ว"
            ),
            subject_en=f"Application {tracking} approved: please pay the fee",
            body_en=f"Pay {app.fee_total} baht (reference {app.bill_reference}); the permit is issued once paid.",
        )
    await session.flush()  # the caller reads the application back with Core
    return case
