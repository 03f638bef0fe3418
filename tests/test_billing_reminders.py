"""Overdue reminders e-mailed to the LAO through the outbox, one per invoice per step."""

from __future__ import annotations

import asyncio
import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.kernel.audit import Actor, Origin
from localgov.kernel.db import quote_schema
from localgov.kernel.mail import MAIL_TOPIC
from localgov.kernel.outbox import OutboxEntry
from localgov.platform.billing import reminders
from localgov.platform.billing.models import BillingReminder
from tests.support.billing import shared
from tests.support.factories import make_tenant
from tests.support.lifecycle import add_staff
from tests.test_billing_qr import _finalised_invoice, _settle

ACTOR = Actor(kind="system", id="core.billing_run")
#: The September 2026 invoice is issued on 4 October and due on 3 November.
DUE = dt.date(2026, 11, 3)


@settings(max_examples=80)
@given(days=st.integers(-40, 400))
def test_the_step_is_the_highest_reached(days: int) -> None:
    step = reminders.step_for(days)
    if days < reminders.REMINDER_STEPS[0]:
        assert step is None
    else:
        assert step is not None
        assert step <= days
        assert all(s <= step or s > days for s in reminders.REMINDER_STEPS)


async def _mails(engine: AsyncEngine, tenant_id: int) -> list[dict[str, object]]:
    async with shared(engine) as session:
        query = (
            select(OutboxEntry.payload)
            .where(OutboxEntry.topic == MAIL_TOPIC, OutboxEntry.tenant_id == tenant_id)
            .order_by(OutboxEntry.id)
        )
        return list((await session.execute(query)).scalars())


async def _run(engine: AsyncEngine, today: dt.date) -> list[tuple[int, int]]:
    async with shared(engine) as session:
        return await reminders.mail_reminders(session, today=today, actor=ACTOR, origin=Origin())


async def test_reminders_go_once_per_step_to_the_profile_email(engine: AsyncEngine) -> None:
    tenant = await make_tenant(engine)
    invoice = await _finalised_invoice(engine, tenant)
    assert invoice.due_on == DUE
    assert (invoice.id, 1) not in await _run(engine, DUE)  # not overdue on its due date
    day1 = DUE + dt.timedelta(days=1)
    first, again, racing = await asyncio.gather(_run(engine, day1), _run(engine, day1), _run(engine, day1))
    assert sorted(pair for run in (first, again, racing) for pair in run if pair[0] == invoice.id) == [(invoice.id, 1)]
    await _run(engine, DUE + dt.timedelta(days=5))  # still step 1: nothing new
    mails = await _mails(engine, tenant.id)
    assert len(mails) == 1
    assert mails[0]["to"] == f"contact@{tenant.dla_code}.example"
    assert invoice.number in str(mails[0]["subject"])
    assert "1,070.00" in str(mails[0]["text"])
    # After an outage: 31 days overdue sends the 30-day step only (not 15 as well).
    assert (invoice.id, 30) in await _run(engine, DUE + dt.timedelta(days=31))
    assert len(await _mails(engine, tenant.id)) == 2
    async with shared(engine) as session:
        steps = (
            await session.execute(select(BillingReminder.step).where(BillingReminder.invoice_id == invoice.id))
        ).scalars()
        assert sorted(steps) == [1, 30]
    await _settle(engine, invoice.id)


async def test_without_a_profile_email_the_tenant_admins_are_reminded(engine: AsyncEngine) -> None:
    tenant = await make_tenant(engine)
    await add_staff(engine, tenant, f"admin-{tenant.dla_code}@example.org", "tenant_admin")
    await add_staff(engine, tenant, f"clerk-{tenant.dla_code}@example.org", "oss.clerk")
    async with engine.begin() as conn:
        await conn.execute(text(f"UPDATE {quote_schema(tenant.schema)}.profile SET email = NULL"))
    invoice = await _finalised_invoice(engine, tenant)
    assert (invoice.id, 15) in await _run(engine, DUE + dt.timedelta(days=20))
    assert [m["to"] for m in await _mails(engine, tenant.id)] == [f"admin-{tenant.dla_code}@example.org"]
    await _settle(engine, invoice.id)
