"""The year-end close of the debtor register (issue 17, item 7): each bill still owed on 30 September
is carried into the next fiscal year with what was left of it that day, once, audited."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.kernel.audit import Actor, AuditEvent, Origin
from localgov.kernel.db import session_factory, tenant_session
from localgov.plugins import REGISTRY
from localgov.services.payments import bank, yearend
from localgov.services.payments import bills as bill_svc
from localgov.services.payments.api import BillLine, create_bill
from localgov.services.payments.models import Bill, CarriedForward, Payer, Payment
from localgov.services.payments.receipts import DEFAULT_BOOK_SIZE
from tests.conftest import ClientFactory
from tests.test_payments_bank import FINANCE, Lao, setup_lao, staff_headers

API = "/v1/payments"
BANGKOK = dt.timezone(dt.timedelta(hours=7))
ACTOR = Actor("staff", str(uuid.uuid4()))


async def bill_of(engine: AsyncEngine, lao: Lao, payer: uuid.UUID, issued: dt.date, amount: str) -> Bill:
    async with tenant_session(session_factory(engine), lao.tenant) as session:
        return await create_bill(
            session,
            payer_id=payer,
            lines=[BillLine(fee_code="garbage", description_th="ค่าเก็บขยะมูลฝอย", amount=Decimal(amount))],
            issue_date=issued,
            due_date=issued + dt.timedelta(days=15),
            source="test",
            source_key=uuid.uuid4().hex,
        )


async def paid_on(engine: AsyncEngine, lao: Lao, bill: Bill, amount: str, moment: dt.datetime) -> None:
    """A statement line of ``amount`` paid at ``moment``, receipted toward ``bill`` (the settle path)."""
    async with tenant_session(session_factory(engine), lao.tenant) as session:
        locked = (await session.execute(select(Bill).where(Bill.id == bill.id).with_for_update())).scalar_one()
        payment = Payment(
            bank_txn_id=f"TXN{uuid.uuid4().hex[:16].upper()}",
            channel="statement",
            bill_id=bill.id,
            biller_id=lao.biller_id,
            ref1=bill.reference,
            amount=Decimal(amount),
            paid_at=moment,
            status="matched",
        )
        session.add(payment)
        await session.flush()
        await bank.settle(
            session,
            locked,
            payment,
            Decimal(amount),
            collector=bank.COLLECTORS["statement"],
            book_size=DEFAULT_BOOK_SIZE,
            officer=None,
        )


async def test_a_year_end_close_carries_what_was_owed_on_30_september_once(
    engine: AsyncEngine, client_for: ClientFactory
) -> None:
    lao = await setup_lao(engine)
    async with tenant_session(session_factory(engine), lao.tenant) as session:
        one, two = Payer(kind="person", name="นายหนึ่ง ค้างจ่าย"), Payer(kind="person", name="นางสอง ค้างจ่าย")
        session.add_all([one, two])
        await session.flush()
    unpaid = await bill_of(engine, lao, one.id, dt.date(2026, 8, 1), "100.00")
    part = await bill_of(engine, lao, one.id, dt.date(2026, 9, 1), "200.00")
    await paid_on(engine, lao, part, "50.00", dt.datetime(2026, 9, 15, 10, tzinfo=BANGKOK))
    await paid_on(engine, lao, part, "30.00", dt.datetime(2026, 10, 5, 10, tzinfo=BANGKOK))  # after the year
    late = await bill_of(engine, lao, two.id, dt.date(2026, 9, 10), "80.00")
    # Paid at 00:10 on 1 October (Bangkok): owed on 30 September, carried whole.
    await paid_on(engine, lao, late, "80.00", dt.datetime(2026, 10, 1, 0, 10, tzinfo=BANGKOK))
    on_time = await bill_of(engine, lao, two.id, dt.date(2026, 9, 10), "60.00")
    await paid_on(engine, lao, on_time, "60.00", dt.datetime(2026, 9, 30, 23, 50, tzinfo=BANGKOK))
    older = await bill_of(engine, lao, two.id, dt.date(2025, 5, 1), "40.00")  # fiscal year 2568, still owed
    cancelled = await bill_of(engine, lao, two.id, dt.date(2026, 7, 1), "25.00")  # cancelled after the year
    async with tenant_session(session_factory(engine), lao.tenant) as session:
        await bill_svc.cancel_bill(session, cancelled.id, reason="ออกผิดราย", actor=ACTOR, origin=Origin())
    new_year = await bill_of(engine, lao, one.id, dt.date(2026, 10, 5), "70.00")  # fiscal year 2570

    finance = staff_headers(lao.tenant, FINANCE)
    other = await setup_lao(engine)  # before the app starts: its catalog knows both hosts
    async with client_for(plugins=REGISTRY) as client:
        early = await client.post(f"{API}/debtors/year-end-close", json={"fiscal_year": "2570"}, headers=finance)
        assert (early.status_code, early.json()["code"]) == (409, "fiscal_year_not_ended")
        for bad in ({"fiscal_year": "2026"}, {"fiscal_year": 2569}, {}, {"fiscal_year": "2569", "x": 1}):
            refused = await client.post(f"{API}/debtors/year-end-close", json=bad, headers=finance)
            assert refused.status_code == 400, bad
        cashier = staff_headers(lao.tenant, ["payments.cashier"])
        forbidden = await client.post(f"{API}/debtors/year-end-close", json={"fiscal_year": "2569"}, headers=cashier)
        assert forbidden.status_code == 403
        before = (await client.get(f"{API}/debtors/carried-forward?fiscal_year=2570", headers=finance)).json()
        assert (before["close"], before["payers"]) == (None, [])

        # Two closes at once: one carries, the other answers the same close.
        answers = await asyncio.gather(
            *(client.post(f"{API}/debtors/year-end-close", json={"fiscal_year": "2569"}, headers=finance) for _ in "ab")
        )
        assert [a.status_code for a in answers] == [200, 200]
        assert sorted(a.json()["already_closed"] for a in answers) == [False, True]
        closed = answers[0].json()
        # 100 unpaid + 150 left of 200 + 80 paid on 1 October + 40 of 2568 + 25 cancelled in December.
        assert (closed["bills"], Decimal(closed["amount"]), closed["carried_into"]) == (5, Decimal("395.00"), "2570")
        again = (
            await client.post(f"{API}/debtors/year-end-close", json={"fiscal_year": "2569"}, headers=finance)
        ).json()
        assert (again["already_closed"], again["bills"], again["amount"]) == (True, 5, closed["amount"])

        carried = (await client.get(f"{API}/debtors/carried-forward?fiscal_year=2570", headers=finance)).json()
        assert carried["close"]["fiscal_year"] == "2569"
        rows = {r["name"]: r for r in carried["payers"]}
        assert (rows["นายหนึ่ง ค้างจ่าย"]["bills"], rows["นายหนึ่ง ค้างจ่าย"]["amount_at_close"]) == (2, "250.00")
        assert rows["นายหนึ่ง ค้างจ่าย"]["still_due"] == "220.00"  # 30.00 came in October
        assert (rows["นางสอง ค้างจ่าย"]["amount_at_close"], rows["นางสอง ค้างจ่าย"]["still_due"]) == ("145.00", "40.00")
        assert carried["still_due"] == "260.00"

        # Another LAO: nothing closed, nothing carried.
        theirs = await client.get(
            f"{API}/debtors/carried-forward?fiscal_year=2570", headers=staff_headers(other.tenant, FINANCE)
        )
        assert theirs.json()["close"] is None

    async with tenant_session(session_factory(engine), lao.tenant) as session:
        carried_ids = set((await session.execute(select(CarriedForward.bill_id))).scalars())
        assert carried_ids == {unpaid.id, part.id, late.id, older.id, cancelled.id}
        assert new_year.id not in carried_ids
        assert on_time.id not in carried_ids
        audits = await session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "payments.year_end_closed")
        )
        assert audits == 1


async def test_the_close_is_per_year_and_uses_the_service_directly(engine: AsyncEngine) -> None:
    lao = await setup_lao(engine)
    async with tenant_session(session_factory(engine), lao.tenant) as session:
        payer = Payer(kind="person", name="นายสาม ค้างจ่าย")
        session.add(payer)
        await session.flush()
    await bill_of(engine, lao, payer.id, dt.date(2025, 3, 1), "10.00")
    async with tenant_session(session_factory(engine), lao.tenant) as session:
        first = await yearend.close_year(session, "2568", actor=ACTOR, origin=Origin(), today=dt.date(2025, 10, 1))
        second = await yearend.close_year(session, "2569", actor=ACTOR, origin=Origin(), today=dt.date(2026, 10, 1))
    # Still owed: carried out of 2568 into 2569, and again out of 2569 into 2570.
    assert (first.bills, first.amount, second.bills, second.amount) == (1, Decimal("10.00"), 1, Decimal("10.00"))
    async with tenant_session(session_factory(engine), lao.tenant) as session:
        view = await yearend.carried_forward(session, "2569", limit=10)
        assert view.close is not None
        assert view.close.fiscal_year == "2568"
        assert view.still_due == Decimal("10.00")
