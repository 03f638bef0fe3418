"""Food-premises notifications and certificates through the service code, on the real database:
same-day certificate, the deficiency path, the 200 m² limit (filing and change of details),
gap-free numbers under concurrency, transfer, cancellation and revocation in the register, the
PDF's text, inspections."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest
from pypdf import PdfReader
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.kernel import cases as engine_cases
from localgov.kernel import documents
from localgov.kernel.tenancy import lao_profile
from localgov.kernel.thai import thai_date
from localgov.kernel.usage import UsageEvent
from localgov.kernel.validation import InvalidInput
from localgov.services.food import billing, certificates, fees, inspections, notifications
from localgov.services.food.certificate_pdf import certificate_layout
from localgov.services.food.models import Certificate, CertificateEvent, FeeBill, Notification
from localgov.services.food.schemas import (
    CertificateUpdate,
    ChecklistItemIn,
    InspectionCreate,
    NotificationCreate,
    Notifier,
    SettingsUpdate,
)
from localgov.services.payments.models import Bill
from tests.conftest import make_settings
from tests.support.food import (
    ORIGIN,
    OTHER_ID,
    FoodWorld,
    at,
    attach_documents,
    certify,
    file_notification,
    food_world,
    issued,
    notification_body,
    notifier,
    png_bytes,
)


@pytest.fixture
async def world(engine: AsyncEngine, tmp_path: Path) -> FoodWorld:
    return await food_world(engine, tmp_path / "files")


async def test_a_complete_notification_is_certified_the_same_day(world: FoodWorld) -> None:
    now = at(2026, 3, 2)
    notification_id = await file_notification(world, now)
    await attach_documents(world, notification_id)
    certificate = await certify(world, notification_id, now)

    assert certificate.number == "1/2569"
    assert certificate.issued_on == dt.date(2026, 3, 2)
    assert certificate.area_m2 == Decimal("45.50")
    assert certificate.annual_fee == Decimal("100.00")
    assert certificate.holder_national_id == "1101700203450"
    async with world.db() as session:
        view = await notifications.notification_view(session, notification_id)
        assert view.state == "certified"
        assert view.certificate_id == certificate.id
        assert [h.action for h in view.history] == ["open", "certify"]
        assert view.tracking_number == "FD-2569-000001"
        case = await engine_cases.get_case(session, view.case_id)
        assert case.decided_at == now  # decided the day it was filed
        # The first fee: billed through payments, for the issue year, once.
        fee = (await session.execute(select(FeeBill).where(FeeBill.certificate_id == certificate.id))).scalar_one()
        assert (fee.kind, fee.year, fee.amount, fee.status) == ("first", 2569, Decimal("100.00"), "open")
        assert fee.due_date == dt.date(2026, 3, 17)
        bill = (await session.execute(select(Bill).where(Bill.id == fee.bill_id))).scalar_one()
        assert (bill.source, bill.source_key, bill.total) == ("food", f"food:{certificate.id}:2569", Decimal("100.00"))
        assert bill.late_surcharge_percent is None  # the surcharge is the annual fee's
        # Registered for public verification.
        document = await documents.get_by_source(session, "food.certificate", str(certificate.id))
        assert (document.number, document.status) == ("1/2569", "valid")
        assert document.title_th == "หนังสือรับรองการแจ้งจัดตั้งสถานที่จำหน่ายอาหาร"
        metered = (
            await session.execute(
                select(UsageEvent.meter, func.count())
                .where(UsageEvent.tenant_id == world.tenant.id, UsageEvent.meter.like("food.%"))
                .group_by(UsageEvent.meter)
            )
        ).all()
        assert dict(metered) == {"food.notification_submitted": 1, "food.certificate_issued": 1}


async def test_missing_documents_follow_the_deficiency_path(world: FoodWorld) -> None:
    now = at(2026, 3, 3)
    notification_id = await file_notification(world, now)
    await attach_documents(world, notification_id, "id_copy")
    with pytest.raises(engine_cases.DocumentsMissing) as missing:
        await certify(world, notification_id, now)
    assert missing.value.data is not None
    assert missing.value.data["missing"] == ["site_plan"]

    async with world.db() as session:
        with pytest.raises(engine_cases.CommentRequired):
            await notifications.step(
                session, notification_id, "request_documents", actor=world.actor(), version=1, comment=None,
                now=now, origin=ORIGIN,
            )  # fmt: skip
    async with world.db() as session:
        case = await notifications.step(
            session, notification_id, "request_documents", actor=world.actor(), version=1,
            comment="ขาดแผนที่ตั้งและแผนผังสถานที่", now=now, origin=ORIGIN,
        )  # fmt: skip
        assert case.state == "awaiting_notifier"
        assert case.due_at is None  # the clock stops while the notifier is away
    later = now + dt.timedelta(days=2)
    await attach_documents(world, notification_id, "site_plan")
    async with world.db() as session:
        case = await notifications.step(
            session, notification_id, "resubmit", actor=world.actor(), version=case.version, comment=None,
            now=later, origin=ORIGIN,
        )  # fmt: skip
        assert case.state == "submitted"
        assert case.paused_days > 0
    certificate = await certify(world, notification_id, later)
    assert certificate.issued_on == later.date()


async def test_over_200_square_metres_is_refused_when_filed_and_when_changed(world: FoodWorld) -> None:
    now = at(2026, 3, 4)
    with pytest.raises(fees.AreaRequiresLicence) as refused:
        await file_notification(world, now, area_m2="200.01")
    assert refused.value.data is not None
    assert refused.value.data["field"] == "establishment.area_m2"
    async with world.db() as session:
        assert (await session.execute(select(func.count()).select_from(Notification))).scalar_one() == 0

    certificate = await issued(world, now, area_m2="200.00")  # the bound itself is notifiable
    assert certificate.area_m2 == Decimal("200.00")
    async with world.db() as session:
        with pytest.raises(fees.AreaRequiresLicence):
            await certificates.change(
                session, certificate.id, CertificateUpdate(version=1, area_m2=Decimal("250")),
                actor=world.audit_actor(), now=now, origin=ORIGIN,
            )  # fmt: skip
    async with world.db() as session:
        kept = (await session.execute(select(Certificate).where(Certificate.id == certificate.id))).scalar_one()
        assert (kept.area_m2, kept.version) == (Decimal("200.00"), 1)
        changed = await certificates.change(
            session, certificate.id, CertificateUpdate(version=1, area_m2=Decimal("18.5"), seats=8),
            actor=world.audit_actor(), now=now, origin=ORIGIN,
        )  # fmt: skip
        assert (changed.area_m2, changed.annual_fee, changed.seats, changed.version) == (
            Decimal("18.5"),
            Decimal("20.00"),
            8,
            2,
        )
    async with world.db() as session:
        with pytest.raises(certificates.CertificateVersionConflict):
            await certificates.change(
                session, certificate.id, CertificateUpdate(version=1, seats=9),
                actor=world.audit_actor(), now=now, origin=ORIGIN,
            )  # fmt: skip


async def test_a_transfer_keeps_the_number_and_the_history(world: FoodWorld) -> None:
    now = at(2026, 4, 1)
    certificate = await issued(world, now)
    buyer = msgspec.convert(notifier(name="บริษัท อร่อยดี จำกัด", kind="juristic", national_id=OTHER_ID), Notifier)
    async with world.db() as session:
        moved = await certificates.transfer(
            session, certificate.id, buyer, version=1, note="ขายกิจการ", actor=world.audit_actor(),
            now=now + dt.timedelta(days=30), origin=ORIGIN,
        )  # fmt: skip
        assert (moved.number, moved.holder_name, moved.holder_kind) == ("1/2569", "บริษัท อร่อยดี จำกัด", "juristic")
        assert moved.payer_id != certificate.payer_id  # the fees to come are the new holder's
        await certificates.change(
            session, certificate.id, CertificateUpdate(version=2, opening_hours="07:00–15:00 น."),
            actor=world.audit_actor(), now=now + dt.timedelta(days=31), origin=ORIGIN,
        )  # fmt: skip
        events = (
            await session.execute(
                select(CertificateEvent.kind, CertificateEvent.data)
                .where(CertificateEvent.certificate_id == certificate.id)
                .order_by(CertificateEvent.seq)
            )
        ).all()
        assert [e.kind for e in events] == ["issued", "transferred", "changed"]
        assert events[1].data["from"]["name"] == "นางสมศรี มีสุข"
        assert events[1].data["to"]["national_id"] == OTHER_ID
        document = await documents.get_by_source(session, "food.certificate", str(certificate.id))
        assert document.number == "1/2569"
        assert document.holder_masked == documents.mask_name("บริษัท อร่อยดี จำกัด")
        # The first year's bill stays the first holder's.
        bills = (await session.execute(select(FeeBill.bill_id).where(FeeBill.certificate_id == certificate.id))).all()
        assert len(bills) == 1


async def test_cancelled_and_revoked_certificates_show_so_in_the_register(world: FoodWorld) -> None:
    now = at(2026, 5, 6)
    first = await issued(world, now)
    second = await issued(world, now)
    async with world.db() as session:
        await certificates.end(
            session, first.id, "cancelled", version=1, reason="เลิกกิจการ", actor=world.audit_actor(), now=now,
            origin=ORIGIN,
        )  # fmt: skip
        await certificates.end(
            session, second.id, "revoked", version=1, reason="ฝ่าฝืนคำสั่งเจ้าพนักงานท้องถิ่น",
            actor=world.audit_actor(), now=now, origin=ORIGIN,
        )  # fmt: skip
    async with world.db() as session:
        cancelled = await documents.get_by_source(session, "food.certificate", str(first.id))
        revoked = await documents.get_by_source(session, "food.certificate", str(second.id))
        assert documents.public_status(cancelled) == "void"
        assert documents.public_status(revoked) == "revoked"
        assert revoked.status_reason == "ฝ่าฝืนคำสั่งเจ้าพนักงานท้องถิ่น"
        with pytest.raises(certificates.CertificateNotActive):
            await certificates.transfer(
                session, first.id, msgspec.convert(notifier(), Notifier), version=2, note=None,
                actor=world.audit_actor(), now=now, origin=ORIGIN,
            )  # fmt: skip


async def certify_then_fail(world: FoodWorld, notification_id: uuid.UUID, now: dt.datetime) -> None:
    async with world.db() as session:
        await certificates.certify(
            session, notification_id, tenant=world.tenant, actor=world.actor(), version=1, conditions_th=None,
            now=now, origin=ORIGIN,
        )  # fmt: skip
        raise RuntimeError("the counter's printer jammed")


async def test_numbers_are_gap_free_per_year_under_concurrency(world: FoodWorld) -> None:
    now = at(2026, 6, 1)
    ids = [await file_notification(world, now) for _ in range(6)]
    for notification_id in ids:
        await attach_documents(world, notification_id)
    # A certification that fails after taking its number takes none (its transaction is rolled back).
    with pytest.raises(RuntimeError, match="printer"):
        await certify_then_fail(world, ids[0], now)
    issued_now = await asyncio.gather(*(certify(world, notification_id, now) for notification_id in ids))
    assert sorted(int(c.number.split("/")[0]) for c in issued_now) == [1, 2, 3, 4, 5, 6]
    assert {c.number.split("/")[1] for c in issued_now} == {"2569"}
    # A new year starts again at 1.
    next_year = await issued(world, at(2027, 1, 4))
    assert next_year.number == "1/2570"


async def test_the_pdf_states_the_certificate_data(world: FoodWorld, database_url: str) -> None:
    now = at(2026, 7, 1)
    certificate = await issued(world, now)
    async with world.db() as session:
        row = await certificates.certificate_row(session, certificate.id)
        lao = await lao_profile(session, world.tenant)
    settings = make_settings(database_url)
    stamp = certificates.stamp_of(settings, world.tenant, row["document_serial"])
    pdf = await asyncio.to_thread(documents.render, certificate_layout(row, lao, stamp))
    text = "".join("".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages).split())
    printed = {
        "number": "1/2569",
        "holder": "นางสมศรี มีสุข",
        "id": "1101700203450",
        "holder address": "12/3 หมู่ 4 ถนนมิตรภาพ ตำบลในเมือง อำเภอเมืองขอนแก่น จังหวัดขอนแก่น 40000",
        "phone": "081-234-5678",
        "premises": "ร้านข้าวแกงป้าศรี",
        "kind": "สถานที่จำหน่ายอาหาร",
        "area": "45.50 ตารางเมตร",
        "address": "99 หมู่ 2 ซอยตลาดเก่า ถนนศรีจันทร์ ตำบลในเมือง อำเภอเมืองขอนแก่น จังหวัดขอนแก่น 40000",
        "fee": "100.00 บาทต่อปี",
        "issue date": thai_date(dt.date(2026, 7, 1)),
        "hours": "06:00–14:00 น. ทุกวัน",
        "conditions": certificates.DEFAULT_CONDITIONS_TH,
        "verification code": stamp.code,
    }
    for what, value in printed.items():
        assert "".join(value.split()) in text, what
    assert thai_date(dt.date(2026, 7, 1)) == "๑ กรกฎาคม ๒๕๖๙"
    # Once cancelled, the paper says so.
    async with world.db() as session:
        await certificates.end(
            session, certificate.id, "cancelled", version=1, reason="เลิกกิจการ", actor=world.audit_actor(),
            now=now, origin=ORIGIN,
        )  # fmt: skip
        ended = await certificates.certificate_row(session, certificate.id)
    pdf = await asyncio.to_thread(documents.render, certificate_layout(ended, lao, stamp))
    assert "ถูกยกเลิกแล้ว" in "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def visit(day: str, answers: list[dict[str, Any]]) -> InspectionCreate:
    return msgspec.convert({"visited_on": day, "answers": answers}, InspectionCreate)


async def test_inspections_record_each_item_and_schedule_a_repeat_visit(world: FoodWorld) -> None:
    certificate = await issued(world, at(2026, 8, 3))
    async with world.db() as session:
        items = await inspections.checklist(session)
        assert len(items) == len(inspections.DEFAULT_CHECKLIST)
        assert items[0].code == "premises_clean"
        answers = [{"code": i.code, "passed": True} for i in items]
        passed = await inspections.record_visit(
            session, certificate.id, visit("2026-08-10", answers),
            actor=world.audit_actor("inspector"), origin=ORIGIN,
        )  # fmt: skip
        answers[2] = {"code": items[2].code, "passed": False, "note": "อาหารไม่มีฝาปิด"}
        failed = await inspections.record_visit(
            session, certificate.id, visit("2026-08-20", answers),
            actor=world.audit_actor("inspector"), origin=ORIGIN,
        )  # fmt: skip
        with pytest.raises(InvalidInput) as incomplete:
            await inspections.record_visit(
                session, certificate.id,
                msgspec.convert({"visited_on": "2026-08-20", "answers": answers[:-1]}, InspectionCreate),
                actor=world.audit_actor("inspector"), origin=ORIGIN,
            )  # fmt: skip
        assert incomplete.value.code == "checklist_incomplete"
        photo = await inspections.add_photo(
            session, world.store, failed, item_code=items[2].code, data=png_bytes(), filename="ฝาปิด.png",
            actor=world.audit_actor("inspector"), origin=ORIGIN,
        )  # fmt: skip
    async with world.db() as session:
        first = await inspections.inspection(session, passed)
        second = await inspections.inspection(session, failed)
        assert (first.result, first.repeat_on) == ("passed", None)
        assert (second.result, second.repeat_on) == ("failed", dt.date(2026, 9, 19))
        assert [p.id for p in second.photos] == [photo.id]
        assert second.photos[0].item_code == items[2].code
        assert second.items[2]["passed"] is False
        assert second.items[2]["note"] == "อาหารไม่มีฝาปิด"
        row = (await session.execute(select(Certificate).where(Certificate.id == certificate.id))).scalar_one()
        assert row.next_visit_on == dt.date(2026, 9, 19)
        # The LAO's own list: items left out are retired; past visits keep what was asked.
        await inspections.put_checklist(
            session,
            [
                ChecklistItemIn(code="safe_water", title_th="น้ำสะอาด"),
                ChecklistItemIn(code="ice", title_th="น้ำแข็งสะอาด"),
            ],
            actor=world.audit_actor("manager"),
            origin=ORIGIN,
        )
        assert [i.code for i in await inspections.checklist(session)] == ["safe_water", "ice"]
        assert len((await inspections.inspection(session, passed)).items) == len(inspections.DEFAULT_CHECKLIST)
        visits = await inspections.inspections_of(session, certificate.id)
        assert [v.id for v in visits] == [failed, passed]


async def test_the_notifier_is_checked(world: FoodWorld) -> None:
    body = notification_body()
    body["notifier"]["national_id"] = "1101700203451"
    with pytest.raises(InvalidInput) as bad_id:
        async with world.db() as session:
            await notifications.open_notification(
                session, msgspec.convert(body, NotificationCreate), tenant=world.tenant, actor=world.actor(),
                now=at(2026, 3, 2), origin=ORIGIN,
            )  # fmt: skip
    assert (bad_id.value.code, bad_id.value.field) == ("invalid_tax_id", "notifier.national_id")


async def test_refusal_needs_the_authority_and_a_reason_withdrawal_closes(world: FoodWorld) -> None:
    now = at(2026, 9, 1)
    refused_id = await file_notification(world, now)
    withdrawn_id = await file_notification(world, now)
    officer = engine_cases.CaseActor(
        kind="staff", id=world.staff["officer"], permissions=frozenset({"food.read", "food.intake"})
    )
    async with world.db() as session:
        with pytest.raises(engine_cases.ActionForbidden):
            await notifications.step(
                session, refused_id, "refuse", actor=officer, version=1, comment="ไม่ครบ", now=now, origin=ORIGIN
            )
    async with world.db() as session:
        with pytest.raises(engine_cases.CommentRequired):
            await notifications.step(
                session, refused_id, "refuse", actor=world.actor(), version=1, comment=None, now=now, origin=ORIGIN
            )
    async with world.db() as session:
        refused = await notifications.step(
            session, refused_id, "refuse", actor=world.actor(), version=1,
            comment="สถานที่ตั้งอยู่ในเขตห้ามจำหน่ายอาหารตามประกาศท้องถิ่น", now=now, origin=ORIGIN,
        )  # fmt: skip
        withdrawn = await notifications.step(
            session, withdrawn_id, "withdraw", actor=officer, version=1, comment=None, now=now, origin=ORIGIN
        )
    assert (refused.state, refused.decided_at is not None, refused.closed_at is not None) == ("refused", True, True)
    assert (withdrawn.state, withdrawn.decided_at) == ("withdrawn", None)
    with pytest.raises(engine_cases.ActionUnavailable):
        await certify(world, refused_id, now)
    async with world.db() as session:
        with pytest.raises(notifications.NotificationClosed):
            await notifications.attach(
                session, world.store, withdrawn_id, document_code="id_copy", data=png_bytes(), filename="x.png",
                actor=world.actor(), origin=ORIGIN,
            )  # fmt: skip
        with pytest.raises(notifications.NotificationNotFound):
            await notifications.notification_view(session, uuid.uuid4())


async def test_the_fee_table_and_settings_are_the_laos_data(world: FoodWorld) -> None:
    async with world.db() as session:
        await billing.put_bands(
            session,
            [
                fees.Band(max_area_m2=Decimal(50), annual_fee=Decimal(50)),
                fees.Band(max_area_m2=Decimal(200), annual_fee=Decimal(300)),
            ],
            actor=world.audit_actor("finance"),
            origin=ORIGIN,
        )
        with pytest.raises(fees.InvalidFeeTable):
            await billing.put_bands(
                session,
                [fees.Band(max_area_m2=Decimal(100), annual_fee=Decimal(1))],
                actor=world.audit_actor(),
                origin=ORIGIN,
            )
        with pytest.raises(fees.InvalidFeeTable):
            await billing.put_settings(
                session, SettingsUpdate(late_surcharge_percent=Decimal(150)), actor=world.audit_actor(), origin=ORIGIN
            )
        update = SettingsUpdate(late_surcharge_percent=Decimal("25.00"), revisit_days=14)
        changed = await billing.put_settings(session, update, actor=world.audit_actor(), origin=ORIGIN)
        assert (changed.late_surcharge_percent, changed.revisit_days, changed.reminder_days) == (Decimal(25), 14, 14)
        waiver = await billing.add_waiver(
            session, fees.Waiver(starts_on=dt.date(2026, 1, 1), ends_on=dt.date(2026, 12, 31), percent=Decimal(10)),
            "ลดร้อยละสิบ", actor=world.audit_actor(), origin=ORIGIN,
        )  # fmt: skip
        await billing.delete_waiver(session, waiver.id, actor=world.audit_actor(), origin=ORIGIN)
        with pytest.raises(billing.WaiverNotFound):
            await billing.delete_waiver(session, waiver.id, actor=world.audit_actor(), origin=ORIGIN)
    certificate = await issued(world, at(2026, 9, 2), area_m2="50.01")
    assert certificate.annual_fee == Decimal("300.00")
