"""create_bill: the one entry point that makes bills, idempotent by source key."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.kernel.db import session_factory, tenant_session
from localgov.kernel.errors import Conflict
from localgov.services.payments.api import BillLine, InvalidBill, create_bill
from localgov.services.payments.models import Bill, BillItem, Payer
from tests.support.factories import make_tenant


async def test_create_bill_is_idempotent_by_source_key_and_metered(engine: AsyncEngine) -> None:
    tenant = await make_tenant(engine, services=["payments"])
    factory = session_factory(engine)
    due = dt.date.today() + dt.timedelta(days=30)
    lines = [
        BillLine(fee_code="garbage.collection", description_th="ค่าเก็บขยะ", amount=Decimal("40.00")),
        BillLine(fee_code="garbage.disposal", description_th="ค่ากำจัดขยะ", amount=Decimal("40.00")),
    ]
    async with tenant_session(factory, tenant) as session:
        payer = Payer(kind="person", name="นายทดสอบ ใจดี")
        session.add(payer)
        await session.flush()
        first = await create_bill(session, payer_id=payer.id, lines=lines, due_date=due, source="test", source_key="k1")
        again = await create_bill(session, payer_id=payer.id, lines=lines, due_date=due, source="test", source_key="k1")
        assert again.id == first.id
        assert first.total == Decimal("80.00")
        assert first.reference.startswith("B")
        assert len(first.reference) == 10
        assert first.verification_code.isdigit()
        assert len(first.verification_code) == 6
        with pytest.raises(Conflict):
            await create_bill(session, payer_id=payer.id, lines=lines[:1], due_date=due, source="test", source_key="k1")
        assert (await session.execute(select(func.count()).select_from(Bill))).scalar_one() == 1
        assert (await session.execute(select(func.count()).select_from(BillItem))).scalar_one() == 2
    async with engine.connect() as conn:
        events = (
            await conn.execute(
                text(
                    "SELECT count(*) FROM platform.usage_events"
                    " WHERE tenant_id = :t AND meter = 'payments.bills_issued'"
                ),
                {"t": tenant.id},
            )
        ).scalar()
    assert events == 1


@pytest.mark.parametrize("amount", [Decimal("0"), Decimal("-5"), Decimal("1.005"), Decimal("NaN")])
async def test_invalid_lines_are_refused(engine: AsyncEngine, amount: Decimal) -> None:
    tenant = await make_tenant(engine, services=["payments"])
    async with tenant_session(session_factory(engine), tenant) as session:
        payer = Payer(kind="person", name="x")
        session.add(payer)
        await session.flush()
        with pytest.raises(InvalidBill):
            await create_bill(
                session,
                payer_id=payer.id,
                lines=[BillLine(fee_code="f", description_th="ค่า", amount=amount)],
                due_date=dt.date.today() + dt.timedelta(days=1),
                source="test",
                source_key="bad",
            )
