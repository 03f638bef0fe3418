"""A payer's credit pays the bills other services make through ``payments.api.create_bill`` /
``create_bills`` (issue 17, item 4): a building permit's fees and a food certificate's annual fee.

The credit is used when the bill is made, with its own receipt; the issuing service learns of it
from ``payments.bill_paid`` like any payment (delivered after the commit, when it has stored the
bill's id), and a bill the credit covers in part stays open for the rest.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from localgov.kernel.outbox import Delivery, OutboxEntry
from localgov.services.food import billing
from localgov.services.food.models import FeeBill
from localgov.services.payments import credits
from localgov.services.payments.api import BILL_PAID
from localgov.services.payments.bank import COLLECTORS
from localgov.services.payments.models import Bill, Payment, Receipt
from tests.support.food import FoodWorld, food_world, issued
from tests.support.food import at as food_at
from tests.support.permits import (
    application,
    approve,
    at,
    bill_paid_entries,
    deliver,
    make_permit_world,
    submitted,
    to_decision,
)

NOW = at(2026, 12, 4)


async def give_credit(session: AsyncSession, payer_id: uuid.UUID, amount: str) -> None:
    """Money held for the payer, as an over payment that finance applied leaves it."""
    await credits.lock_payer(session, payer_id)
    await credits.add_entry(session, payer_id=payer_id, amount=Decimal(amount), kind="over", note="โอนเกิน")


async def test_a_permits_fee_bill_is_paid_from_credit_and_the_permit_follows(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    world = await make_permit_world(engine, tmp_path / "files")
    async with world.db() as session:
        await give_credit(session, world.payer_id, "1000.00")
    app_id = await submitted(world, NOW)
    await to_decision(world, app_id, NOW)  # the assessor bills the fees: create_bill
    app = await application(world, app_id)
    assert app.bill_id is not None
    assert app.fee_total is not None
    async with world.db() as session:
        bill = await session.get(Bill, app.bill_id)
        assert bill is not None
        assert (bill.source, bill.status, bill.amount_paid) == ("permits", "paid", bill.total)
        receipt = (await session.execute(select(Receipt).where(Receipt.bill_id == bill.id))).scalar_one()
        payment = await session.get(Payment, receipt.payment_id)
        assert payment is not None
        assert payment.channel == "credit"
        assert receipt.collector == COLLECTORS["credit"]
        assert await credits.balance(session, world.payer_id) == Decimal("1000.00") - bill.total
    await approve(world, app_id, NOW)
    (entry,) = await bill_paid_entries(world)
    # The permits handler finds its application by the bill's id (stored in the same transaction).
    await asyncio.gather(deliver(world, entry), deliver(world, entry))
    app = await application(world, app_id)
    assert app.paid_at is not None
    assert app.permit_number is not None
    assert app.receipt_number == f"{receipt.book_no}/{receipt.receipt_no}/{receipt.fiscal_year}"


async def _fee(world: FoodWorld, certificate_id: uuid.UUID, year: int) -> FeeBill:
    async with world.db() as session:
        query = select(FeeBill).where(FeeBill.certificate_id == certificate_id, FeeBill.year == year)
        fee: FeeBill = (await session.execute(query)).scalar_one()
        return fee


async def test_food_annual_fees_use_credit_whole_or_in_part(engine: AsyncEngine, tmp_path: Path) -> None:
    world = await food_world(engine, tmp_path / "files")
    small = await issued(world, food_at(2026, 3, 2), area_m2="12.00")  # 20.00 a year
    async with world.db() as session:
        await give_credit(session, small.payer_id, "50.00")
    paid: list[tuple[str, Decimal]] = []
    for year in (2570, 2571, 2572):  # the annual runs: create_bills
        async with world.db() as session:
            await billing.run_annual_fees(session, year, today=dt.date(year - 543, 1, 5))
        fee = await _fee(world, small.id, year)
        async with world.db() as session:
            bill = await session.get(Bill, fee.bill_id)
            assert bill is not None
            paid.append((bill.status, bill.amount_paid))
    # 50.00 of credit: two years paid whole, the third in part (10.00 of 20.00 still due).
    assert paid == [("paid", Decimal("20.00")), ("paid", Decimal("20.00")), ("open", Decimal("10.00"))]
    async with world.db() as session:
        assert await credits.balance(session, small.payer_id) == Decimal("0.00")
        first = await session.get(Bill, (await _fee(world, small.id, 2569)).bill_id)
        assert first is not None
        assert first.amount_paid == Decimal("0.00")
        query = select(OutboxEntry).where(OutboxEntry.tenant_id == world.tenant.id, OutboxEntry.topic == BILL_PAID.code)
        entries = list((await session.execute(query.order_by(OutboxEntry.id))).scalars())
    assert len(entries) == 2  # the bills the credit paid whole
    async with world.db() as session:
        for entry in entries:
            delivery = Delivery(entry, session, {world.tenant.id: world.tenant.schema})
            await billing.on_bill_paid(delivery)
            await billing.on_bill_paid(delivery)
    statuses = [(await _fee(world, small.id, year)).status for year in (2569, 2570, 2571, 2572)]
    assert statuses == ["open", "paid", "paid", "open"]
