"""Certificates of notification (หนังสือรับรองการแจ้ง) and their life: issued the day a complete
notification is filed, transferred to a new operator, changed, cancelled by the holder, revoked
by the authority. Each is in the kernel's register of issued documents (kind
``food.certificate``): its QR stamp opens the public verification page, which shows it valid,
cancelled (``void``) or revoked.

Numbers are ``n/BE-year``, gap-free per BE calendar year (``kernel.numbering``: the number is
taken in the transaction that issues the certificate, so a failure takes no number). A transfer
or a change keeps the number; every step is a ``food_certificate_events`` row.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Literal

import msgspec
from sqlalchemy import Integer, String, bindparam, cast, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel import cases as engine
from localgov.kernel import documents
from localgov.kernel.audit import Actor, Origin, record_audit
from localgov.kernel.errors import Conflict, NotFound
from localgov.kernel.numbering import calendar_period, next_number
from localgov.kernel.plugins import UsageMeter
from localgov.kernel.reads import Reader, fetch_all, fetch_one, json_rows
from localgov.kernel.tenancy import TenantInfo
from localgov.kernel.thai import bangkok_today
from localgov.kernel.usage import record_usage
from localgov.kernel.validation import ThaiAddress, address_line_th, normalise_phone
from localgov.services.food import billing, fees
from localgov.services.food.models import Certificate, CertificateEvent, Notification
from localgov.services.food.notifications import (
    check_area,
    documents_on_file,
    head,
    normalise_notifier,
)
from localgov.services.food.schemas import CertificateUpdate, Notifier
from localgov.services.payments.api import payer_for

CERTIFICATE_ISSUED = UsageMeter(
    code="food.certificate_issued",
    unit="certificate",
    title_th="หนังสือรับรองการแจ้งที่ออก",
    title_en="Food-premises certificates issued",
)
DOCUMENT_KIND = "food.certificate"
KIND_TH = {"sale": "สถานที่จำหน่ายอาหาร", "storage": "สถานที่สะสมอาหาร"}
KIND_EN = {"sale": "food sale place", "storage": "food storage place"}
#: Printed when the officer gives none (ordinary conditions of a notification certificate).
DEFAULT_CONDITIONS_TH = (
    "ผู้ได้รับหนังสือรับรองการแจ้งต้องปฏิบัติตามหลักเกณฑ์ด้านสุขลักษณะตามข้อบัญญัติท้องถิ่นและกฎกระทรวง"
    " และแสดงหนังสือรับรองการแจ้งไว้ในที่เปิดเผยเห็นได้ง่าย ณ สถานที่ที่ได้รับหนังสือรับรอง"
)

_CT = Certificate.__table__.c
_EV = CertificateEvent.__table__.c
_DOC = documents.IssuedDocument.__table__.c


class CertificateNotFound(NotFound):
    code = "food_certificate_not_found"
    title = "ไม่พบหนังสือรับรองการแจ้งนี้ / No such certificate"


class CertificateNotActive(Conflict):
    code = "food_certificate_not_active"
    title = "หนังสือรับรองนี้ถูกยกเลิกหรือเพิกถอนแล้ว / The certificate is cancelled or revoked"


class CertificateVersionConflict(Conflict):
    code = "food_certificate_version_conflict"
    title = "หนังสือรับรองถูกแก้ไขโดยผู้อื่นแล้ว / Someone changed the certificate since you read it"


def title_of(kind: str) -> tuple[str, str]:
    return (
        f"หนังสือรับรองการแจ้งจัดตั้ง{KIND_TH[kind]}",
        f"Certificate of notification of a {KIND_EN[kind]}",
    )


def _address_line(parts: dict[str, Any]) -> str:
    return address_line_th(msgspec.convert(parts, ThaiAddress)) or "-"


async def _event(
    session: AsyncSession, certificate_id: uuid.UUID, kind: str, *, at: dt.datetime, actor: Actor, data: dict[str, Any]
) -> None:
    seq = int(
        (
            await session.execute(
                select(func.coalesce(func.max(CertificateEvent.seq), 0)).where(
                    CertificateEvent.certificate_id == certificate_id
                )
            )
        ).scalar_one()
    )
    session.add(
        CertificateEvent(
            certificate_id=certificate_id,
            seq=seq + 1,
            kind=kind,
            at=at,
            actor=f"{actor.kind}:{actor.id}"[:150],
            data=data,
        )
    )
    await session.flush()


async def _payer(session: AsyncSession, holder: dict[str, Any]) -> uuid.UUID:
    return await payer_for(
        session,
        kind=holder["kind"],
        name=holder["name"],
        tax_id=holder["national_id"],
        address=msgspec.convert(holder["address"], ThaiAddress),
        phone=holder["phone"],
    )


async def certify(
    session: AsyncSession,
    notification_id: uuid.UUID,
    *,
    tenant: TenantInfo,
    actor: engine.CaseActor,
    version: int,
    conditions_th: str | None,
    now: dt.datetime,
    origin: Origin,
) -> Certificate:
    """Acknowledge a complete notification: the case becomes ``certified`` (the engine refuses it
    without the required documents, 422 ``case_documents_missing``), and the certificate is issued,
    registered, its first fee billed and the issue metered, all in this transaction."""
    billing.check_billing(tenant)
    row = await head(session, notification_id, for_update=True)
    await engine.act(
        session,
        row["case_id"],
        "certify",
        actor=actor,
        expected_version=version,
        now=now,
        documents=await documents_on_file(session, notification_id),
        origin=origin,
    )
    notifier: dict[str, Any] = row["notifier"]
    establishment: dict[str, Any] = row["establishment"]
    data = await billing.fee_data(session)
    area = Decimal(establishment["area_m2"])
    annual_fee = fees.annual_fee(area, data.bands)
    payer_id = await _payer(session, notifier)
    issued_on = bangkok_today(now)
    year = calendar_period(issued_on)
    # Taken last but one (the register and the bill follow): the row lock on the year's counter is
    # held for as short a time as the transaction allows, and a failure takes no number.
    number = f"{await next_number(session, DOCUMENT_KIND, year)}/{year}"
    certificate = Certificate(
        notification_id=notification_id,
        number=number,
        holder_kind=notifier["kind"],
        holder_name=notifier["name"],
        holder_national_id=notifier["national_id"],
        holder_phone=notifier["phone"],
        holder_email=notifier.get("email"),
        holder_address=notifier["address"],
        payer_id=payer_id,
        premises_name=establishment["name"],
        premises_kind=establishment["kind"],
        area_m2=area,
        premises_address=establishment["address"],
        premises_address_th=_address_line(establishment["address"]),
        latitude=Decimal(establishment["latitude"]) if establishment.get("latitude") else None,
        longitude=Decimal(establishment["longitude"]) if establishment.get("longitude") else None,
        seats=establishment.get("seats"),
        opening_hours=establishment.get("opening_hours"),
        conditions_th=conditions_th or DEFAULT_CONDITIONS_TH,
        annual_fee=annual_fee,
        issued_on=issued_on,
        issued_at=now,
    )
    session.add(certificate)
    await session.flush()
    await session.execute(
        update(Notification).where(Notification.id == notification_id).values(certificate_id=certificate.id)
    )
    await _event(session, certificate.id, "issued", at=now, actor=actor.audit, data={"number": number})
    title_th, title_en = title_of(certificate.premises_kind)
    await documents.issue(
        session,
        kind=DOCUMENT_KIND,
        source_key=str(certificate.id),
        number=number,
        title_th=title_th,
        title_en=title_en,
        holder_name=certificate.holder_name,
        issued_at=now,
        valid_from=issued_on,
    )
    await billing.bill_first_fee(session, certificate, data)
    await record_usage(session, CERTIFICATE_ISSUED, 1, f"food.certificate:{certificate.id}")
    await record_audit(
        session,
        "food.certificate_issued",
        actor=actor.audit,
        origin=origin,
        target=f"food_certificate:{certificate.id}",
        data={"number": number, "notification_id": str(notification_id)},
    )
    return certificate


# --- the life of a certificate ------------------------------------------------------------------


async def _for_change(session: AsyncSession, certificate_id: uuid.UUID, version: int) -> Certificate:
    certificate = (
        await session.execute(select(Certificate).where(Certificate.id == certificate_id).with_for_update())
    ).scalar_one_or_none()
    if certificate is None:
        raise CertificateNotFound(data={"certificate_id": str(certificate_id)})
    if certificate.status != "active":
        raise CertificateNotActive(data={"status": certificate.status})
    if certificate.version != version:
        raise CertificateVersionConflict(data={"expected": version, "current": certificate.version})
    return certificate


async def transfer(
    session: AsyncSession,
    certificate_id: uuid.UUID,
    holder: Notifier,
    *,
    version: int,
    note: str | None,
    actor: Actor,
    now: dt.datetime,
    origin: Origin,
) -> Certificate:
    """A new operator takes over (การโอน): same number, same history, a new holder (and payer for
    the fees to come; bills already issued stay the previous holder's)."""
    certificate = await _for_change(session, certificate_id, version)
    new = normalise_notifier(holder, "holder")
    before = {"name": certificate.holder_name, "national_id": certificate.holder_national_id}
    certificate.holder_kind = new["kind"]
    certificate.holder_name = new["name"]
    certificate.holder_national_id = new["national_id"]
    certificate.holder_phone = new["phone"]
    certificate.holder_email = new["email"]
    certificate.holder_address = new["address"]
    certificate.payer_id = await _payer(session, new)
    certificate.version += 1
    await session.flush()
    document = await documents.get_by_source(session, DOCUMENT_KIND, str(certificate.id), for_update=True)
    document.holder_masked = documents.mask_name(new["name"])[:300]
    await _event(
        session,
        certificate.id,
        "transferred",
        at=now,
        actor=actor,
        data={"from": before, "to": {"name": new["name"], "national_id": new["national_id"]}, "note": note},
    )
    await record_audit(
        session,
        "food.certificate_transferred",
        actor=actor,
        origin=origin,
        target=f"food_certificate:{certificate.id}",
        data={"number": certificate.number},
    )
    return certificate


_CHANGEABLE = (
    "premises_name",
    "premises_kind",
    "area_m2",
    "seats",
    "opening_hours",
    "holder_phone",
    "holder_email",
    "conditions_th",
)


async def change(
    session: AsyncSession,
    certificate_id: uuid.UUID,
    data: CertificateUpdate,
    *,
    actor: Actor,
    now: dt.datetime,
    origin: Origin,
) -> Certificate:
    """Change of details (การแก้ไขรายการ). An area above 200 m² is refused: the premises then need
    a licence (422 ``food_area_requires_licence``) and the certificate stays as it was."""
    certificate = await _for_change(session, certificate_id, data.version)
    changes: dict[str, Any] = {}
    for field in _CHANGEABLE:
        value = getattr(data, field)
        if value is msgspec.UNSET:
            continue
        if field == "area_m2":
            value = check_area(value, "area_m2")
        elif field == "holder_phone":
            value = normalise_phone(value, "holder_phone")
        elif field == "holder_email" and value is not None:
            value = value.strip().lower()
        elif isinstance(value, str):
            value = value.strip()
        if getattr(certificate, field) != value:
            changes[field] = value
    if not changes:
        return certificate
    before = {field: _plain(getattr(certificate, field)) for field in changes}
    if "area_m2" in changes:
        certificate.annual_fee = fees.annual_fee(changes["area_m2"], (await billing.fee_data(session)).bands)
    for field, value in changes.items():
        setattr(certificate, field, value)
    certificate.version += 1
    await session.flush()
    if "premises_kind" in changes:
        document = await documents.get_by_source(session, DOCUMENT_KIND, str(certificate.id), for_update=True)
        document.title_th, document.title_en = title_of(certificate.premises_kind)
    await _event(
        session,
        certificate.id,
        "changed",
        at=now,
        actor=actor,
        data={"before": before, "after": {k: _plain(v) for k, v in changes.items()}},
    )
    await record_audit(
        session,
        "food.certificate_changed",
        actor=actor,
        origin=origin,
        target=f"food_certificate:{certificate.id}",
        data={"fields": sorted(changes)},
    )
    return certificate


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value


async def end(
    session: AsyncSession,
    certificate_id: uuid.UUID,
    how: Literal["cancelled", "revoked"],
    *,
    version: int,
    reason: str,
    actor: Actor,
    now: dt.datetime,
    origin: Origin,
) -> Certificate:
    """``cancelled``: the holder gives up the business (the register shows it cancelled, ``void``);
    ``revoked``: the authority withdraws it, with a reason (shown revoked)."""
    certificate = await _for_change(session, certificate_id, version)
    certificate.status = how
    certificate.ended_at = now
    certificate.end_reason = reason.strip()
    certificate.version += 1
    await session.flush()
    document = await documents.get_by_source(session, DOCUMENT_KIND, str(certificate.id))
    if how == "revoked":
        await documents.revoke(session, document, reason=reason, at=now)
    else:
        await documents.void(session, document, reason=reason, at=now)
    await _event(session, certificate.id, how, at=now, actor=actor, data={"reason": reason.strip()})
    await record_audit(
        session,
        f"food.certificate_{how}",
        actor=actor,
        origin=origin,
        target=f"food_certificate:{certificate.id}",
        data={"number": certificate.number, "reason": reason.strip()},
    )
    return certificate


# --- reading ------------------------------------------------------------------------------------------

_HISTORY = json_rows(
    [_EV.seq, _EV.kind, _EV.at, _EV.actor, _EV["data"]], where=_EV.certificate_id == _CT.id, order_by=[_EV.seq]
).label("history")
VIEW = (
    select(*_CT, _DOC.serial.label("document_serial"), _HISTORY)
    .select_from(
        Certificate.__table__.outerjoin(
            documents.IssuedDocument.__table__,
            (_DOC.kind == DOCUMENT_KIND) & (_DOC.source_key == cast(_CT.id, String)),
        )
    )
    .where(_CT.id == bindparam("id"))
)
_SUMMARY = (
    _CT.id,
    _CT.number,
    _CT.status,
    _CT.holder_name,
    _CT.premises_name,
    _CT.premises_kind,
    _CT.area_m2,
    _CT.issued_on,
)
_LIMIT = bindparam("limit", type_=Integer)
_AFTER = _CT.id > bindparam("after")
FIRST_PAGE = select(*_SUMMARY).order_by(_CT.id).limit(_LIMIT)
NEXT_PAGE = select(*_SUMMARY).where(_AFTER).order_by(_CT.id).limit(_LIMIT)
_REGISTER = (_CT.id, _CT.number, _CT.premises_name, _CT.premises_kind, _CT.premises_address_th, _CT.status)
REGISTER_FIRST = select(*_REGISTER).order_by(_CT.id).limit(_LIMIT)
REGISTER_NEXT = select(*_REGISTER).where(_AFTER).order_by(_CT.id).limit(_LIMIT)


async def certificate_row(reader: Reader, certificate_id: uuid.UUID) -> Any:
    row = await fetch_one(reader, VIEW, {"id": certificate_id})
    if row is None:
        raise CertificateNotFound(data={"certificate_id": str(certificate_id)})
    return row


async def page(reader: Reader, *, after: uuid.UUID | None, limit: int, register: bool = False) -> Sequence[Any]:
    """A keyset page by id (``after`` = the last id of the previous page)."""
    if after is None:
        return await fetch_all(reader, REGISTER_FIRST if register else FIRST_PAGE, {"limit": limit})
    return await fetch_all(reader, REGISTER_NEXT if register else NEXT_PAGE, {"after": after, "limit": limit})


def stamp_of(settings: Any, tenant: TenantInfo, serial: int) -> documents.QrStamp:
    """The QR stamp of a certificate from its register serial (no ORM load on a read path)."""
    return documents.qr_stamp(settings, tenant, documents.IssuedDocument(serial=serial))
