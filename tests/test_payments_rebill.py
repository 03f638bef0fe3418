"""A backdated tariff with the re-billing of the months it reprices (issue 17, finding 2): one audited
call; unpaid bills re-issued, paid ones settled by a difference bill or credit; a closed fiscal year
refused; a bank payment racing the re-billing never loses its money."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.kernel.audit import Actor, AuditEvent, Origin
from localgov.kernel.db import session_factory, tenant_session
from localgov.kernel.thai import bangkok_today
from localgov.kernel.validation import add_months
from localgov.plugins import REGISTRY
from localgov.services.payments import bank, bills, credits, yearend
from localgov.services.payments.models import Bill, FeeAccount, PayerCredit, Payment, PaymentException, Tariff
from localgov.services.payments.receipts import DEFAULT_BOOK_SIZE
from tests.conftest import ClientFactory
from tests.support.payments import make_account, make_tariff
from tests.test_payments_bank import FINANCE, Lao, deliver, notice, setup_lao, staff_headers

API = "/v1/payments"


def flat(price: str) -> dict[str, Any]:
    return {"fee_type": "garbage", "bands": [{"max_litres": None, "collection": price, "disposal": "0"}]}


def month(offset: int) -> dt.date:
    return add_months(bangkok_today().replace(day=1), offset)


def period(offset: int) -> str:
    return month(offset).isoformat()[:7]


async def billed_lao(engine: AsyncEngine, accounts: int) -> tuple[Lao, list[FeeAccount]]:
    """A LAO billing garbage at 50.00 since 2020; ``accounts`` accounts billed for the last two months."""
    lao = await setup_lao(engine)
    async with tenant_session(session_factory(engine), lao.tenant) as session:
        await make_tariff(session, "garbage", effective_from=dt.date(2020, 1, 1))
        made = [await make_account(session, start_date=dt.date(2020, 1, 1)) for _ in range(accounts)]
    for offset in (-2, -1):
        async with tenant_session(session_factory(engine), lao.tenant) as session:
            await bills.run_bills(session, "garbage", period(offset))
    return lao, made


async def run_bill(engine: AsyncEngine, lao: Lao, account: FeeAccount, offset: int) -> Bill:
    async with tenant_session(session_factory(engine), lao.tenant) as session:
        key = bills.run_source_key(account.id, period(offset))
        return (await session.execute(select(Bill).where(Bill.source_key == key))).scalar_one()


async def pay_part(engine: AsyncEngine, lao: Lao, bill: Bill, amount: str) -> None:
    async with tenant_session(session_factory(engine), lao.tenant) as session:
        locked = (await session.execute(select(Bill).where(Bill.id == bill.id).with_for_update())).scalar_one()
        payment = Payment(
            bank_txn_id=f"TXN{uuid.uuid4().hex[:16].upper()}", channel="statement", bill_id=bill.id,
            biller_id=lao.biller_id, ref1=bill.reference, amount=Decimal(amount),
            paid_at=dt.datetime.now(dt.UTC), status="matched",
        )  # fmt: skip
        session.add(payment)
        await session.flush()
        await bank.settle(
            session, locked, payment, Decimal(amount), collector=bank.COLLECTORS["statement"],
            book_size=DEFAULT_BOOK_SIZE, officer=None,
        )  # fmt: skip


def rebill_body(start: dt.date, price: str, reason: str | None = "ข้อบัญญัติประกาศใช้ล่าช้า") -> dict[str, Any]:
    body: dict[str, Any] = {"effective_from": start.isoformat(), "definition": flat(price)}
    if reason is not None:
        body["backdated_reason"] = reason
    return body


async def test_a_higher_backdated_price_reissues_unpaid_bills_and_bills_the_difference_of_paid_ones(
    engine: AsyncEngine, client_for: ClientFactory
) -> None:
    lao, (a, b, c) = await billed_lao(engine, 3)
    b_paid = await run_bill(engine, lao, b, -2)
    c_part = await run_bill(engine, lao, c, -2)
    finance = {**staff_headers(lao.tenant, FINANCE), "Idempotency-Key": uuid.uuid4().hex}
    async with client_for(plugins=REGISTRY) as client:
        paid = await deliver(client, lao.tenant, lao.secret, notice(lao, b_paid.reference, "50.00"))
        assert paid.json()["status"] == "matched"
        await pay_part(engine, lao, c_part, "20.00")

        refused = await client.post(
            f"{API}/tariffs/rebill", json=rebill_body(month(-2), "70.00", None), headers=finance
        )
        assert (refused.status_code, refused.json()["code"]) == (422, "tariff_backdated")
        ahead = await client.post(f"{API}/tariffs/rebill", json=rebill_body(month(1), "70.00"), headers=finance)
        assert (ahead.status_code, ahead.json()["code"]) == (422, "tariff_not_backdated")
        for hostile in ("1e308", "-5", "12345678901234567890123456789012"):
            bad = await client.post(f"{API}/tariffs/rebill", json=rebill_body(month(-2), hostile), headers=finance)
            assert bad.status_code in (400, 422), hostile
        no_key = await client.post(
            f"{API}/tariffs/rebill", json=rebill_body(month(-2), "70.00"), headers=staff_headers(lao.tenant, FINANCE)
        )
        assert no_key.status_code == 400
        cashier = await client.post(
            f"{API}/tariffs/rebill",
            json=rebill_body(month(-2), "70.00"),
            headers={**staff_headers(lao.tenant, ["payments.cashier"]), "Idempotency-Key": "x1"},
        )
        assert cashier.status_code == 403

        done = await client.post(f"{API}/tariffs/rebill", json=rebill_body(month(-2), "70.00"), headers=finance)
        assert done.status_code == 201, done.text
        result = done.json()
        assert result["periods"] == [period(-2), period(-1)]
        assert (result["reissued"], result["difference_bills"], result["credits"]) == (4, 2, 0)
        assert Decimal(result["difference_amount"]) == Decimal("40.00")
        replay = await client.post(f"{API}/tariffs/rebill", json=rebill_body(month(-2), "70.00"), headers=finance)
        assert (replay.status_code, replay.headers.get("Idempotent-Replayed")) == (201, "true")
        assert replay.json() == result
        again = await client.post(
            f"{API}/tariffs/rebill",
            json=rebill_body(month(-2), "70.00"),
            headers={**staff_headers(lao.tenant, FINANCE), "Idempotency-Key": uuid.uuid4().hex},
        )
        assert (again.status_code, again.json()["code"]) == (409, "tariff_exists")

    by_bill = {ch["bill_id"]: ch for ch in result["changes"]}
    assert by_bill[str(b_paid.id)]["action"] == "difference_bill"
    assert by_bill[str(c_part.id)]["action"] == "difference_bill"
    async with tenant_session(session_factory(engine), lao.tenant) as session:
        old_a = await session.get(Bill, (await run_bill(engine, lao, a, -2)).id)
        assert old_a is not None
        assert old_a.status == "cancelled"
        assert old_a.cancel_reason is not None
        assert "ย้อนหลัง" in old_a.cancel_reason
        new_a = await session.get(Bill, uuid.UUID(by_bill[str(old_a.id)]["new_bill_id"]))
        assert new_a is not None
        assert (new_a.total, new_a.status, new_a.period, new_a.source) == (
            Decimal("70.00"),
            "open",
            period(-2),
            bills.RUN_SOURCE,
        )
        kept = await session.get(Bill, c_part.id)
        assert kept is not None
        assert (kept.status, kept.amount_paid, kept.total) == ("open", Decimal("20.00"), Decimal("50.00"))
        diff = await session.get(Bill, uuid.UUID(by_bill[str(b_paid.id)]["new_bill_id"]))
        assert diff is not None
        assert (diff.total, diff.source) == (Decimal("20.00"), "payments.rebill")
        actions = dict(
            (
                await session.execute(
                    select(AuditEvent.action, func.count())
                    .where(
                        AuditEvent.action.in_(
                            ["payments.tariff_rebilled", "payments.tariff_backdated", "bill.cancelled"]
                        )
                    )
                    .group_by(AuditEvent.action)
                )
            ).all()
        )
        assert actions == {"payments.tariff_rebilled": 1, "payments.tariff_backdated": 1, "bill.cancelled": 4}
        # The monthly run does not bill the re-billed months again.
        rerun = await bills.run_bills(session, "garbage", period(-1))
        assert rerun.created == 0


async def test_a_lower_backdated_price_credits_the_paid_difference(
    engine: AsyncEngine, client_for: ClientFactory
) -> None:
    lao, (a, b) = await billed_lao(engine, 2)
    b_bill = await run_bill(engine, lao, b, -1)
    finance = {**staff_headers(lao.tenant, FINANCE), "Idempotency-Key": uuid.uuid4().hex}
    async with client_for(plugins=REGISTRY) as client:
        paid = await deliver(client, lao.tenant, lao.secret, notice(lao, b_bill.reference, "50.00"))
        assert paid.json()["status"] == "matched"
        done = await client.post(f"{API}/tariffs/rebill", json=rebill_body(month(-1), "40.00"), headers=finance)
        assert done.status_code == 201, done.text
    result = done.json()
    assert (result["periods"], result["reissued"], result["credits"], result["credited_amount"]) == (
        [period(-1)],
        1,
        1,
        "10.00",
    )
    async with tenant_session(session_factory(engine), lao.tenant) as session:
        assert await credits.balance(session, b.payer_id) == Decimal("10.00")
        entry = (await session.execute(select(PayerCredit).where(PayerCredit.payer_id == b.payer_id))).scalar_one()
        assert (entry.kind, entry.bill_id) == ("rebill", b_bill.id)
        # The month before the version keeps its price: not touched.
        older = await session.get(Bill, (await run_bill(engine, lao, a, -2)).id)
        assert older is not None
        assert (older.status, older.total) == ("open", Decimal("50.00"))


async def test_a_month_of_a_closed_fiscal_year_is_refused_and_nothing_changes(
    engine: AsyncEngine, client_for: ClientFactory
) -> None:
    lao, _ = await billed_lao(engine, 1)
    today = bangkok_today()
    closed_year = str((today.year + 543) if today.month < 10 else (today.year + 544))
    closed_year = str(int(closed_year) - 1)  # the fiscal year that ended last 30 September
    async with tenant_session(session_factory(engine), lao.tenant) as session:
        await yearend.close_year(session, closed_year, actor=Actor("staff", "f"), origin=Origin())
    start = dt.date(int(closed_year) - 543, 9, 1)  # its last month
    async with tenant_session(session_factory(engine), lao.tenant) as session:
        versions_before = await session.scalar(select(func.count()).select_from(Tariff))
    finance = {**staff_headers(lao.tenant, FINANCE), "Idempotency-Key": uuid.uuid4().hex}
    async with client_for(plugins=REGISTRY) as client:
        refused = await client.post(f"{API}/tariffs/rebill", json=rebill_body(start, "70.00"), headers=finance)
    assert (refused.status_code, refused.json()["code"]) == (409, "period_closed")
    assert refused.json()["data"]["fiscal_years"] == [closed_year]
    async with tenant_session(session_factory(engine), lao.tenant) as session:
        versions = await session.scalar(select(func.count()).select_from(Tariff))
        cancelled = await session.scalar(select(func.count()).select_from(Bill).where(Bill.status == "cancelled"))
    assert (versions, cancelled) == (versions_before, 0)


async def test_a_payment_racing_the_rebilling_is_never_lost(engine: AsyncEngine, client_for: ClientFactory) -> None:
    lao, (a,) = await billed_lao(engine, 1)
    bill = await run_bill(engine, lao, a, -1)
    finance = {**staff_headers(lao.tenant, FINANCE), "Idempotency-Key": uuid.uuid4().hex}
    async with client_for(plugins=REGISTRY) as client:
        rebilled, paid = await asyncio.gather(
            client.post(f"{API}/tariffs/rebill", json=rebill_body(month(-1), "70.00"), headers=finance),
            deliver(client, lao.tenant, lao.secret, notice(lao, bill.reference, "50.00")),
        )
    assert rebilled.status_code == 201, rebilled.text
    assert paid.status_code == 200, paid.text
    (change,) = rebilled.json()["changes"]
    async with tenant_session(session_factory(engine), lao.tenant) as session:
        payment = (await session.execute(select(Payment).where(Payment.ref1 == bill.reference))).scalar_one()
        old = await session.get(Bill, bill.id)
        assert old is not None
        if paid.json()["status"] == "matched":  # the bank came first: the paid bill gets a difference bill
            assert (change["action"], old.status, payment.status) == ("difference_bill", "paid", "matched")
            diff = await session.get(Bill, uuid.UUID(change["new_bill_id"]))
            assert diff is not None
            assert diff.total == Decimal("20.00")
        else:  # the re-billing came first: the money waits in the exceptions queue, never nowhere
            assert (change["action"], old.status, payment.status) == ("reissued", "cancelled", "exception")
            kind = await session.scalar(select(PaymentException.kind).where(PaymentException.payment_id == payment.id))
            assert kind == "bill_not_open"
