"""Fees of certificates through the payments service, on the real database: the annual run bills
each active certificate once per year (run twice: no second bill), the payments late surcharge
charges +20 % on a late annual fee, dated waivers apply by the fee's date (bounds included),
reminders go once per bill, the payments events come back."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.kernel.audit import Actor
from localgov.kernel.db import session_factory, tenant_session
from localgov.kernel.jobs import JobContext
from localgov.kernel.notifications import NotificationRecord
from localgov.kernel.outbox import Delivery, OutboxEntry
from localgov.kernel.validation import InvalidInput, ThaiAddress
from localgov.services.food import billing, certificates, fees
from localgov.services.food.models import FeeBill
from localgov.services.food.schemas import AnnualRunRead
from localgov.services.payments import bank, receipts
from localgov.services.payments import bills as payment_bills
from localgov.services.payments.api import BILL_CANCELLED, BILL_PAID, RECEIPT_VOIDED, payer_for
from localgov.services.payments.models import Bill, Payer
from tests.support.food import ORIGIN, OTHER_ID, FoodWorld, at, attach_documents, file_notification, food_world, issued
from tests.support.payments import BILLER_ID, set_biller


@pytest.fixture
async def world(engine: AsyncEngine, tmp_path: Path) -> FoodWorld:
    return await food_world(engine, tmp_path / "files")


async def food_bills(world: FoodWorld) -> list[Bill]:
    async with world.db() as session:
        query = select(Bill).where(Bill.source == "food").order_by(Bill.source_key)
        return list((await session.execute(query)).scalars())


async def run(world: FoodWorld, year: int, today: dt.date) -> AnnualRunRead:
    async with world.db() as session:
        return await billing.run_annual_fees(session, year, today=today)


async def test_the_annual_run_bills_each_active_certificate_once_per_year(world: FoodWorld) -> None:
    small = await issued(world, at(2026, 3, 2), area_m2="12.00")
    large = await issued(world, at(2026, 3, 2), area_m2="150.00")
    gone = await issued(world, at(2026, 3, 2))
    async with world.db() as session:
        await certificates.end(
            session, gone.id, "cancelled", version=1, reason="เลิกกิจการ", actor=world.audit_actor(),
            now=at(2026, 9, 1), origin=ORIGIN,
        )  # fmt: skip
    january = dt.date(2027, 1, 5)
    async with world.db() as session:
        first = await billing.run_annual_fees(session, 2570, today=january)
    async with world.db() as session:
        second = await billing.run_annual_fees(session, 2570, today=january)
    assert (first.certificates, first.bills_created, first.already_billed) == (2, 2, 0)
    assert (second.certificates, second.bills_created, second.already_billed) == (2, 0, 2)
    # Two runs at once (the worker's job and a click): one waits for the other, one bill each.
    together = await asyncio.gather(*(run(world, 2571, dt.date(2028, 1, 4)) for _ in range(2)))
    assert sorted(r.bills_created for r in together) == [0, 2]
    # The issue year is already billed by the first fee: a run for it bills nothing.
    async with world.db() as session:
        same_year = await billing.run_annual_fees(session, 2569, today=dt.date(2026, 12, 1))
    assert (same_year.certificates, same_year.bills_created) == (0, 0)

    annual = {b.source_key: b for b in await food_bills(world) if b.source_key.endswith(":2570")}
    assert set(annual) == {f"food:{small.id}:2570", f"food:{large.id}:2570"}
    assert len([b for b in await food_bills(world) if b.source_key.endswith(":2571")]) == 2
    assert annual[f"food:{small.id}:2570"].total == Decimal("20.00")
    assert annual[f"food:{large.id}:2570"].total == Decimal("100.00")
    for bill in annual.values():
        assert bill.due_date == dt.date(2027, 3, 31)
        assert (bill.late_surcharge_percent, bill.late_surcharge_after_days) == (Decimal("20.00"), 0)
    async with world.db() as session:
        rows = (
            await session.execute(
                select(FeeBill.certificate_id, func.count())
                .where(FeeBill.year == 2570)
                .group_by(FeeBill.certificate_id)
            )
        ).all()
        assert dict(rows) == {small.id: 1, large.id: 1}

        # Late: the payments service's own surcharge job charges the ordinance's +20 %, once.
        on_time = await payment_bills.issue_surcharges(session, today=dt.date(2027, 3, 31))
        late = await payment_bills.issue_surcharges(session, today=dt.date(2027, 4, 1))
        again = await payment_bills.issue_surcharges(session, today=dt.date(2027, 4, 2))
    assert (on_time.created, late.created, again.created) == (0, 2, 0)
    async with world.db() as session:
        surcharges = (
            await session.execute(select(Bill).where(Bill.surcharge_of.in_([b.id for b in annual.values()])))
        ).scalars()
        amounts = sorted(b.total for b in surcharges)
    assert amounts == [fees.surcharge(Decimal(20), Decimal(20)), fees.surcharge(Decimal(100), Decimal(20))]
    assert amounts == [Decimal("4.00"), Decimal("20.00")]


async def test_waivers_apply_by_the_fee_date_bounds_included(world: FoodWorld) -> None:
    async with world.db() as session:
        await billing.add_waiver(
            session, fees.Waiver(starts_on=dt.date(2021, 11, 14), ends_on=dt.date(2022, 11, 13), percent=Decimal(100)),
            "ยกเว้นค่าธรรมเนียมเพื่อบรรเทาผลกระทบจากโควิด-19", actor=world.audit_actor("finance"), origin=ORIGIN,
        )  # fmt: skip
        await billing.add_waiver(
            session, fees.Waiver(starts_on=dt.date(2024, 1, 1), ends_on=dt.date(2024, 1, 1), percent=Decimal(50)),
            "ลดค่าธรรมเนียมครึ่งหนึ่ง", actor=world.audit_actor("finance"), origin=ORIGIN,
        )  # fmt: skip
    last_day = await issued(world, at(2022, 11, 13))
    day_after = await issued(world, at(2022, 11, 14))
    async with world.db() as session:
        fee_of = {
            row.certificate_id: row
            for row in (await session.execute(select(FeeBill).where(FeeBill.year == 2565))).scalars()
        }
    assert (fee_of[last_day.id].status, fee_of[last_day.id].amount, fee_of[last_day.id].bill_id) == (
        "waived",
        Decimal("0.00"),
        None,
    )
    assert fee_of[last_day.id].waived_percent == Decimal(100)
    assert (fee_of[day_after.id].status, fee_of[day_after.id].amount) == ("open", Decimal("100.00"))
    # 2566's fee is dated 1 January 2023: no waiver. 2567's, 1 January 2024: half.
    async with world.db() as session:
        run_2566 = await billing.run_annual_fees(session, 2566, today=dt.date(2023, 1, 3))
        run_2567 = await billing.run_annual_fees(session, 2567, today=dt.date(2024, 1, 3))
    assert (run_2566.bills_created, run_2566.waived) == (2, 0)
    assert (run_2567.bills_created, run_2567.waived) == (2, 0)
    totals = {b.source_key.rsplit(":", 1)[1]: b.total for b in await food_bills(world)}
    assert totals["2566"] == Decimal("100.00")
    assert totals["2567"] == Decimal("50.00")


async def test_reminders_go_once_per_bill_before_it_is_due(world: FoodWorld) -> None:
    certificate = await issued(world, at(2026, 3, 2))
    async with world.db() as session:
        await billing.run_annual_fees(session, 2570, today=dt.date(2027, 1, 5))
    now = at(2027, 3, 20)
    fee_id = (await _fee(world, certificate.id, 2570)).id
    async with world.db() as session:
        assert await billing.send_reminders(session, today=dt.date(2027, 3, 10), now=now) == 0  # not yet
        assert await billing.send_reminders(session, today=dt.date(2027, 3, 20), now=now) == 1
        assert await billing.send_reminders(session, today=dt.date(2027, 3, 21), now=now) == 0
        sent = (await session.execute(select(NotificationRecord))).scalars().all()
    assert len(sent) == 1
    assert (sent[0].address, sent[0].key) == ("somsri@example.com", f"food.fee_reminder:{fee_id}")
    assert "1/2569" in sent[0].subject_th
    fee = await _fee(world, certificate.id, 2570)
    assert fee.reminded_at is not None


async def _fee(world: FoodWorld, certificate_id: object, year: int) -> FeeBill:
    async with world.db() as session:
        query = select(FeeBill).where(FeeBill.certificate_id == certificate_id, FeeBill.year == year)
        return (await session.execute(query)).scalar_one()


async def test_a_cancelled_bill_comes_back_through_the_payments_event(world: FoodWorld) -> None:
    certificate = await issued(world, at(2026, 3, 2))
    fee = await _fee(world, certificate.id, 2569)
    assert fee.bill_id is not None
    factory = session_factory(world.engine)
    async with tenant_session(factory, world.tenant) as session:
        await payment_bills.cancel_bill(
            session, fee.bill_id, reason="ออกซ้ำ", actor=Actor("staff", str(world.staff["finance"])), origin=ORIGIN
        )
    async with tenant_session(factory, world.tenant) as session:
        query = select(OutboxEntry).where(
            OutboxEntry.tenant_id == world.tenant.id, OutboxEntry.topic == BILL_CANCELLED.code
        )
        (entry,) = (await session.execute(query)).scalars()
        delivery = Delivery(entry, session, {world.tenant.id: world.tenant.schema})
        await billing.on_bill_cancelled(delivery)
        await billing.on_bill_cancelled(delivery)  # at least once: idempotent
    assert (await _fee(world, certificate.id, 2569)).status == "cancelled"


async def test_without_the_payments_service_nothing_is_certified(engine: AsyncEngine, tmp_path: Path) -> None:
    world = await food_world(engine, tmp_path / "files", services=("food",))
    notification_id = await file_notification(world, at(2026, 3, 2))
    await attach_documents(world, notification_id)
    async with world.db() as session:
        with pytest.raises(billing.PaymentsNotEnabled):
            await certificates.certify(
                session, notification_id, tenant=world.tenant, actor=world.actor(), version=1, conditions_th=None,
                now=at(2026, 3, 2), origin=ORIGIN,
            )  # fmt: skip


async def deliver(world: FoodWorld, topic: str, handler: Any) -> None:
    """Deliver the LAO's outbox entries of ``topic`` to the food handler (twice: at least once)."""
    async with world.db() as session:
        query = select(OutboxEntry).where(OutboxEntry.tenant_id == world.tenant.id, OutboxEntry.topic == topic)
        for entry in (await session.execute(query.order_by(OutboxEntry.id))).scalars():
            delivery = Delivery(entry, session, {world.tenant.id: world.tenant.schema})
            await handler(delivery)
            await handler(delivery)


async def test_a_paid_fee_and_a_voided_receipt_come_back_through_the_payments_events(world: FoodWorld) -> None:
    certificate = await issued(world, at(2026, 3, 2))
    fee = await _fee(world, certificate.id, 2569)
    async with world.db() as session:
        await set_biller(session)
        bill = (await session.execute(select(Bill).where(Bill.id == fee.bill_id))).scalar_one()
        fields = {
            "transaction_id": "TXNFOOD0001",
            "biller_id": BILLER_ID,
            "ref1": bill.reference,
            "amount": "100.00",
            "paid_at": "2026-03-05T10:00:00+07:00",
        }
        paid = bank.normalise_notice(
            transaction_id=fields["transaction_id"], biller_id=BILLER_ID, ref1=bill.reference, ref2=None,
            amount=Decimal("100.00"), paid_at=dt.datetime.fromisoformat(fields["paid_at"]), raw=fields,
        )  # fmt: skip
        outcome = await bank.record_notice(session, paid, channel="webhook", biller_id=BILLER_ID, book_size=100)
        assert outcome.receipt is not None
    await deliver(world, BILL_PAID.code, billing.on_bill_paid)
    assert (await _fee(world, certificate.id, 2569)).status == "paid"
    async with world.db() as session:
        await receipts.void_receipt(
            session, outcome.receipt.id, reason="รับเงินผิดบัญชี", staff_id=None, actor=Actor("system"), origin=ORIGIN
        )
    await deliver(world, RECEIPT_VOIDED.code, billing.on_receipt_voided)
    assert (await _fee(world, certificate.id, 2569)).status == "open"


async def test_payer_for_finds_or_makes_one_payer_per_id(world: FoodWorld) -> None:
    address = ThaiAddress(house_no="1", subdistrict="ในเมือง", district="เมือง", province="ขอนแก่น")

    async def payer(tax_id: str, name: str = "นายหนึ่ง ใจดี") -> uuid.UUID:
        async with world.db() as session:
            return await payer_for(
                session, kind="person", name=name, tax_id=tax_id, address=address, phone="0812345678"
            )

    made = await asyncio.gather(*(payer("๑๑๐๑๗๐๐๒๐๓๔๕๐") for _ in range(4)))  # Thai digits, four at once
    assert len(set(made)) == 1
    assert await payer("1-1017-00203-45-0", name="ชื่ออื่น") == made[0]  # the same ID: the same payer, unchanged
    assert await payer(OTHER_ID) != made[0]
    async with world.db() as session:
        row = (await session.execute(select(Payer).where(Payer.id == made[0]))).scalar_one()
        assert (row.tax_id, row.name, row.province) == ("1101700203450", "นายหนึ่ง ใจดี", "ขอนแก่น")
    with pytest.raises(InvalidInput):
        await payer("1101700203451")


async def test_the_scheduled_jobs_bill_the_year_and_remind_once(world: FoodWorld) -> None:
    certificate = await issued(world, at(2026, 3, 2))
    jobs = {job.name: job for job in billing.JOBS}
    assert set(jobs) == {"food.annual_fees", "food.fee_reminders"}
    assert all(job.per_tenant for job in jobs.values())
    for now in (at(2027, 1, 5), at(2027, 1, 5, 22)):  # twice in a day: one bill
        async with world.db() as session:
            await jobs["food.annual_fees"].run(JobContext(session, world.tenant, now))
    fee = await _fee(world, certificate.id, 2570)
    assert (fee.kind, fee.status, fee.due_date) == ("annual", "open", dt.date(2027, 3, 31))
    for now in (at(2027, 3, 20), at(2027, 3, 21)):
        async with world.db() as session:
            await jobs["food.fee_reminders"].run(JobContext(session, world.tenant, now))
    async with world.db() as session:
        keys = (await session.execute(select(NotificationRecord.key))).scalars().all()
    assert keys == [f"food.fee_reminder:{fee.id}"]
