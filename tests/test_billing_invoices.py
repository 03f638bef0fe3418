"""The invoice run and the invoice life cycle, against the real database."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.kernel.audit import Actor, Origin
from localgov.kernel.db import session_factory, session_for, tenant_session
from localgov.kernel.usage import UsageEvent, record_usage
from localgov.platform.billing import pricing, service
from localgov.platform.billing.models import OperatorInvoice
from localgov.platform.billing.pricing import Charge, Tier
from localgov.platform.models import Tenant
from localgov.services.oss.cases import CASES_OPENED
from localgov.settings import Settings, SettingsError
from tests.support.billing import METERS, add_events, bkk, make_plan, shared
from tests.support.factories import make_tenant

D = Decimal
ACTOR = Actor(kind="operator", id="billing-admin-1")
ORIGIN = Origin(source_ip="127.0.0.1", request_id="test")
TIERS = (
    Tier(up_to=D(100), unit_price=D(2)),
    Tier(up_to=D(1000), unit_price=D("1.50"), flat_fee=D(10)),
    Tier(up_to=None, unit_price=D(1)),
)
CHARGES = (
    Charge(meter="oss.cases_opened", model="graduated", tiers=TIERS),
    Charge(meter="payments.baht_collected", model="percentage", rate=D("0.01"), min_fee=D(2), max_fee=D(25)),
)


async def _subscribe(engine: AsyncEngine, tenant_id: int, plan: str, **kw: object) -> int:
    async with shared(engine) as session:
        sub = await service.subscribe(session, tenant_id, plan, **kw)  # type: ignore[arg-type]
        return sub.id


async def _run(engine: AsyncEngine, now: dt.datetime, tenant_id: int) -> service.RunResult:
    async with shared(engine) as session:
        return await service.run_invoices(session, now=now, meters=METERS, tenant_id=tenant_id)


async def _invoices(engine: AsyncEngine, tenant_id: int) -> list[OperatorInvoice]:
    async with shared(engine) as session:
        query = select(OperatorInvoice).where(OperatorInvoice.tenant_id == tenant_id).order_by(OperatorInvoice.id)
        return list((await session.execute(query)).scalars())


async def _lines(engine: AsyncEngine, invoice_id: int) -> list[tuple[str, str | None, Decimal, Decimal, Decimal]]:
    async with shared(engine) as session:
        return [
            (ln.kind, ln.meter, ln.quantity, ln.amount, ln.vat) for ln in await service.lines_of(session, invoice_id)
        ]


async def test_invoice_run_twice_gives_one_invoice_per_subscription_and_period(engine: AsyncEngine) -> None:
    tenant = await make_tenant(engine)
    plan = await make_plan(engine, fixed_fee=D(3000), charges=CHARGES)
    await _subscribe(engine, tenant.id, plan, billing_cycle="monthly", starts_on=dt.date(2026, 10, 1))
    october = bkk(2026, 10, 15, 10)
    await add_events(engine, tenant.id, "oss.cases_opened", [(october, october, D(1))] * 150)
    await add_events(
        engine, tenant.id, "payments.baht_collected", [(october, october, q) for q in (D(100), D(1234), D(100000))]
    )
    await add_events(
        engine, tenant.id, "oss.cases_opened", [(bkk(2026, 9, 30, 12), bkk(2026, 9, 30, 12), D(1))]
    )  # before

    first = await _run(engine, bkk(2026, 11, 1, 1), tenant.id)
    again = await _run(engine, bkk(2026, 11, 1, 2), tenant.id)
    assert (len(first.drafted), first.finalised) == (1, [])
    assert (again.drafted, again.finalised) == ([], [])
    (draft,) = await _invoices(engine, tenant.id)
    assert (draft.status, draft.number, draft.period_start, draft.period_end) == (
        "draft",
        None,
        dt.date(2026, 10, 1),
        dt.date(2026, 11, 1),
    )
    assert await _lines(engine, draft.id) == [
        ("fixed", None, D(31), D("3000.00"), D("210.00")),
        ("usage", "oss.cases_opened", D(150), D("285.00"), D("19.95")),
        ("usage", "payments.baht_collected", D("101334"), D("39.34"), D("2.75")),
    ]
    assert (draft.subtotal, draft.vat, draft.total) == (D("3324.34"), D("232.70"), D("3557.04"))

    # Concurrent runs after the grace period: still one invoice, finalised once, numbered once.
    results = await asyncio.gather(
        *(_run(engine, bkk(2026, 11, 4, 1), tenant.id) for _ in range(3)), return_exceptions=True
    )
    finalised = [r for r in results if isinstance(r, service.RunResult) and r.finalised]
    assert len(finalised) == 1, results
    (invoice,) = await _invoices(engine, tenant.id)
    assert invoice.status == "finalised"
    assert (invoice.number or "").startswith("INV-2570-")
    assert (invoice.issued_on, invoice.due_on) == (dt.date(2026, 11, 4), dt.date(2026, 12, 4))
    assert (await _run(engine, bkk(2026, 11, 20), tenant.id)).drafted == []


async def test_late_events_inside_the_grace_period_count_and_after_it_go_to_the_next_period(
    engine: AsyncEngine,
) -> None:
    tenant = await make_tenant(engine)
    plan = await make_plan(engine, charges=(Charge(meter="oss.cases_opened", model="standard", unit_price=D(10)),))
    await _subscribe(engine, tenant.id, plan, billing_cycle="monthly", starts_on=dt.date(2026, 10, 1))
    oct_day = bkk(2026, 10, 20, 9)
    await add_events(engine, tenant.id, "oss.cases_opened", [(oct_day, oct_day, D(1))] * 5)
    inside = (bkk(2026, 10, 31, 23), bkk(2026, 11, 2, 8), D(1))  # recorded during the grace period
    outside = (bkk(2026, 10, 31, 23, 30), bkk(2026, 11, 10, 8), D(1))  # recorded after finalisation
    nov_day = bkk(2026, 11, 15, 9)
    await add_events(
        engine, tenant.id, "oss.cases_opened", [inside, outside, (nov_day, nov_day, D(1)), (nov_day, nov_day, D(1))]
    )

    await _run(engine, bkk(2026, 11, 1, 1), tenant.id)
    (draft,) = await _invoices(engine, tenant.id)
    assert draft.subtotal == D("50.00")  # the late events are not recorded yet
    await _run(engine, bkk(2026, 11, 4, 1), tenant.id)
    (october,) = await _invoices(engine, tenant.id)
    assert october.status == "finalised"
    assert await _lines(engine, october.id) == [("usage", "oss.cases_opened", D(6), D("60.00"), D("4.20"))]

    await _run(engine, bkk(2026, 12, 4, 1), tenant.id)
    _, november = await _invoices(engine, tenant.id)
    assert (november.period_start, november.status) == (dt.date(2026, 11, 1), "finalised")
    # Its own two events plus October's event that came after October was finalised.
    assert await _lines(engine, november.id) == [("usage", "oss.cases_opened", D(3), D("30.00"), D("2.10"))]


async def test_plan_change_mid_period_prorates_fees_and_splits_usage(engine: AsyncEngine) -> None:
    tenant = await make_tenant(engine)
    small = await make_plan(
        engine, fixed_fee=D(3100), charges=(Charge(meter="oss.cases_opened", model="standard", unit_price=D(1)),)
    )
    large = await make_plan(
        engine, fixed_fee=D(6200), charges=(Charge(meter="oss.cases_opened", model="standard", unit_price=D(2)),)
    )
    sub_id = await _subscribe(engine, tenant.id, small, billing_cycle="monthly", starts_on=dt.date(2026, 10, 1))
    async with shared(engine) as session:
        await service.change_plan(session, sub_id, large, on=dt.date(2026, 10, 11))
    async with shared(engine) as session:
        with pytest.raises(service.SubscriptionConflict):
            await service.change_plan(session, sub_id, small, on=dt.date(2026, 10, 5))
    await add_events(engine, tenant.id, "oss.cases_opened", [(bkk(2026, 10, 5), bkk(2026, 10, 5), D(3))])
    await add_events(engine, tenant.id, "oss.cases_opened", [(bkk(2026, 10, 20), bkk(2026, 10, 20), D(4))])
    await _run(engine, bkk(2026, 11, 1, 1), tenant.id)
    (invoice,) = await _invoices(engine, tenant.id)
    assert await _lines(engine, invoice.id) == [
        ("fixed", None, D(10), D("1000.00"), D("70.00")),
        ("usage", "oss.cases_opened", D(3), D("3.00"), D("0.21")),
        ("fixed", None, D(21), D("4200.00"), D("294.00")),
        ("usage", "oss.cases_opened", D(4), D("8.00"), D("0.56")),
    ]
    async with shared(engine) as session:
        assert (await session.get(Tenant, tenant.id)).plan_code == large  # type: ignore[union-attr]


async def test_yearly_cycle_follows_the_thai_fiscal_year_with_a_trial(engine: AsyncEngine) -> None:
    tenant = await make_tenant(engine)
    plan = await make_plan(engine, fixed_fee=D(1000), fixed_interval="monthly")
    await _subscribe(engine, tenant.id, plan, billing_cycle="yearly", starts_on=dt.date(2026, 10, 15), trial_days=30)
    assert (await _run(engine, bkk(2027, 9, 30, 12), tenant.id)).drafted == []
    await _run(engine, bkk(2027, 10, 1, 1), tenant.id)
    (invoice,) = await _invoices(engine, tenant.id)
    assert (invoice.period_start, invoice.period_end) == (dt.date(2026, 10, 1), dt.date(2027, 10, 1))
    days = (dt.date(2027, 10, 1) - dt.date(2026, 11, 14)).days  # the trial's 30 days are free
    assert await _lines(engine, invoice.id) == [
        (
            "fixed",
            None,
            D(days),
            pricing.prorate(D(12000), days, 365),
            pricing.vat(pricing.prorate(D(12000), days, 365)),
        )
    ]


async def test_record_usage_with_a_time_of_its_own_and_a_subject(engine: AsyncEngine) -> None:
    tenant = await make_tenant(engine)
    factory = session_factory(engine)
    when = bkk(2026, 10, 31, 23, 59)
    async with tenant_session(factory, tenant) as session:
        assert await record_usage(session, CASES_OPENED, 1, f"k-{uuid.uuid4()}", occurred_at=when, subject="user-7")
    async with shared(engine) as session:
        used = await service.usage_between(session, tenant.id, dt.date(2026, 10, 1), dt.date(2026, 11, 1), METERS)
    assert used == {"oss.cases_opened": D(1)}
    async with tenant_session(factory, tenant) as session:
        with pytest.raises(ValueError, match="timezone"):
            await record_usage(session, CASES_OPENED, 1, "naive", occurred_at=dt.datetime(2026, 10, 1))


async def test_payment_credit_note_void_and_overdue_suspension(engine: AsyncEngine) -> None:
    tenant = await make_tenant(engine)
    plan = await make_plan(engine, fixed_fee=D(1000))
    await _subscribe(engine, tenant.id, plan, billing_cycle="monthly", starts_on=dt.date(2026, 9, 1))
    await _run(engine, bkk(2026, 10, 1, 1), tenant.id)
    await _run(engine, bkk(2026, 10, 4, 1), tenant.id)
    await _run(engine, bkk(2026, 11, 1, 1), tenant.id)
    await _run(engine, bkk(2026, 11, 4, 1), tenant.id)
    september, october = await _invoices(engine, tenant.id)
    # Issued on 4 October 2026, the first day of BE fiscal year 2570: its series restarts there.
    assert (september.number or "").startswith("INV-2570-")
    now = bkk(2026, 11, 5)
    async with shared(engine) as session:
        paid = await service.record_payment(
            session, september.id, reference="KTB 0001", paid_at=now, actor=ACTOR, origin=ORIGIN
        )
        assert paid.status == "paid"
        note = await service.credit_note(
            session, september.id, amount=D(100), reason="ระบบขัดข้อง", now=now, actor=ACTOR, origin=ORIGIN
        )
        assert (note.kind, note.status, note.subtotal, note.vat, note.total) == (
            "credit_note",
            "finalised",
            D("100.00"),
            D("7.00"),
            D("107.00"),
        )
        assert (note.number or "").startswith("CN-2570-")
        with pytest.raises(service.InvalidPrice):
            await service.credit_note(
                session, september.id, amount=D(901), reason="x", now=now, actor=ACTOR, origin=ORIGIN
            )
        with pytest.raises(service.InvoiceWrongState):
            await service.void_invoice(session, september.id, reason="x", now=now, actor=ACTOR, origin=ORIGIN)
        with pytest.raises(service.InvoiceWrongState):
            await service.record_payment(
                session, september.id, reference="again", paid_at=now, actor=ACTOR, origin=ORIGIN
            )
    # October is due on 4 Dec: reminded once, the tenant suspended a week later.
    async with shared(engine) as session:
        assert await service.remind_overdue(
            session, today=dt.date(2026, 12, 3), suspend_after_days=7, actor=ACTOR, origin=ORIGIN
        ) == ([], [])
    async with shared(engine) as session:
        reminded, suspended = await service.remind_overdue(
            session, today=dt.date(2026, 12, 5), suspend_after_days=7, actor=ACTOR, origin=ORIGIN
        )
        assert (october.id in reminded, suspended) == (True, [])
    async with shared(engine) as session:
        reminded, suspended = await service.remind_overdue(
            session, today=dt.date(2026, 12, 11), suspend_after_days=7, actor=ACTOR, origin=ORIGIN
        )
        assert (october.id in reminded, tenant.id in suspended) == (False, True)
        assert (await session.get(Tenant, tenant.id)).status == "suspended"  # type: ignore[union-attr]
    # The events, in the outbox with the invoice (for integrators, once outbound webhooks exist).
    async with shared(engine) as session:
        topics = (
            await session.execute(
                text(
                    "SELECT topic, payload->>'number' FROM platform.outbox"
                    " WHERE tenant_id = :t AND topic LIKE 'billing.%' ORDER BY id"
                ),
                {"t": tenant.id},
            )
        ).all()
    assert [tuple(t) for t in topics] == [
        ("billing.invoice_finalised", september.number),
        ("billing.invoice_finalised", october.number),
        ("billing.invoice_paid", september.number),
        ("billing.invoice_overdue", october.number),
    ]


async def test_invoice_numbers_under_concurrency_have_no_gap(engine: AsyncEngine) -> None:
    series = "T" + uuid.uuid4().hex[:6].upper()
    factory = session_factory(engine)
    day = dt.date(2026, 12, 7)

    async def allocate(keep: bool) -> str | None:
        async with session_for(factory, None) as session:
            await session.begin()
            number = await service.allocate_number(session, series, day)
            await asyncio.sleep(0.01)
            if keep:
                await session.commit()
                return number
            await session.rollback()
            return None

    kept = await asyncio.gather(*(allocate(i % 4 != 3) for i in range(12)))
    numbers = sorted(n for n in kept if n is not None)
    assert numbers == [f"{series}-2570-{i:06d}" for i in range(1, 10)]


async def test_a_plan_price_is_validated(engine: AsyncEngine) -> None:
    plan = await make_plan(engine)
    async with shared(engine) as session:
        with pytest.raises(service.InvalidPrice):
            await service.add_plan_price(
                session,
                plan,
                effective_from=dt.date(2027, 1, 1),
                fixed_fee=D(1),
                fixed_interval="monthly",
                charges=[Charge(meter="nobody.meter", model="standard")],
                meters=METERS,
            )
    async with shared(engine) as session:
        with pytest.raises(service.InvalidPrice):
            await service.add_plan_price(
                session,
                plan,
                effective_from=dt.date(2020, 1, 1),
                fixed_fee=D(1),
                fixed_interval="monthly",
                charges=[],
                meters=METERS,
            )
    async with shared(engine) as session:
        assert (
            await session.scalar(select(func.count()).select_from(OperatorInvoice).where(OperatorInvoice.id < 0)) == 0
        )


async def test_the_worker_job_runs_the_invoice_run_and_reminds(engine: AsyncEngine) -> None:
    from localgov.kernel.jobs import JobContext
    from localgov.platform.billing.jobs import billing_run
    from localgov.plugins import REGISTRY

    tenant = await make_tenant(engine)
    plan = await make_plan(engine, fixed_fee=D(500))
    await _subscribe(engine, tenant.id, plan, billing_cycle="monthly", starts_on=dt.date(2026, 10, 1))
    job = billing_run(REGISTRY)
    for now in (bkk(2026, 11, 1, 1), bkk(2026, 11, 4, 1), bkk(2026, 11, 4, 2)):
        async with shared(engine) as session:
            await job(JobContext(session, None, now))
    (invoice,) = await _invoices(engine, tenant.id)
    assert (invoice.status, invoice.total) == ("finalised", D("535.00"))
    async with shared(engine) as session:
        await job(JobContext(session, None, bkk(2026, 12, 5, 1)))
    october = (await _invoices(engine, tenant.id))[0]
    assert october.reminded_at is not None  # due on 4 December, reminded on the 5th


async def test_the_worker_suspends_an_overdue_lao_only_when_the_setting_says_so(engine: AsyncEngine) -> None:
    from localgov.kernel.jobs import JobContext
    from localgov.plugins import REGISTRY
    from localgov.worker import core_jobs

    def job_of(settings: Settings) -> Any:
        return next(job for job in core_jobs(settings, REGISTRY) if job.name == "core.billing_run").run

    first, second = await make_tenant(engine), await make_tenant(engine)
    plan = await make_plan(engine, fixed_fee=D(500))
    for tenant in (first, second):
        await _subscribe(engine, tenant.id, plan, billing_cycle="monthly", starts_on=dt.date(2026, 10, 1))
    default = job_of(Settings())  # 0: never
    for now in (bkk(2026, 11, 1, 1), bkk(2026, 11, 4, 1), bkk(2026, 12, 20, 1)):  # due 4 Dec, 16 days late
        async with shared(engine) as session:
            await default(JobContext(session, None, now))
    async with shared(engine) as session:
        assert {(await session.get(Tenant, t.id)).status for t in (first, second)} == {"active"}  # type: ignore[union-attr]
    # The operator turns it on: the next hourly run suspends every LAO that many days past due.
    async with shared(engine) as session:
        await job_of(Settings(billing_suspend_after_days=14))(JobContext(session, None, bkk(2026, 12, 20, 2)))
    async with shared(engine) as session:
        assert {(await session.get(Tenant, t.id)).status for t in (first, second)} == {"suspended"}  # type: ignore[union-attr]
    with pytest.raises(SettingsError, match="SUSPEND_AFTER_DAYS"):
        Settings(billing_suspend_after_days=-1)


async def test_the_levels_job_samples_active_staff_and_storage_once_a_day(engine: AsyncEngine) -> None:
    from localgov.kernel.jobs import JobContext
    from localgov.platform.billing.jobs import record_levels

    tenant = await make_tenant(engine)
    factory = session_factory(engine)
    async with tenant_session(factory, tenant) as session:
        for i, status in enumerate(("active", "active", "active", "disabled")):
            await session.execute(
                text("INSERT INTO staff_users (email, full_name, status) VALUES (:e, 'นายทดสอบ ใจดี', :s)"),
                {"e": f"s{i}@{tenant.slug}.example", "s": status},
            )
        for size in (1000, 2500):
            await session.execute(
                text(
                    "INSERT INTO stored_files (owner_kind, owner_ref, filename, content_type, size_bytes, sha256,"
                    " storage_key, uploaded_by) VALUES ('test', 'x', 'a.pdf', 'application/pdf', :n, :h, :k, 'test')"
                ),
                {"n": size, "h": "0" * 64, "k": uuid.uuid4().hex},
            )
    for now in (bkk(2026, 10, 3, 1), bkk(2026, 10, 3, 9)):  # the same day twice: one sample
        async with tenant_session(factory, tenant) as session:
            await record_levels(JobContext(session, tenant, now))
    async with tenant_session(factory, tenant) as session:
        await session.execute(text("UPDATE staff_users SET status = 'disabled' WHERE email LIKE 's0@%'"))
        await record_levels(JobContext(session, tenant, bkk(2026, 10, 4, 1)))
    async with shared(engine) as session:
        used = await service.usage_between(session, tenant.id, dt.date(2026, 10, 1), dt.date(2026, 11, 1), METERS)
        events = await session.scalar(
            select(func.count()).select_from(UsageEvent).where(UsageEvent.tenant_id == tenant.id)
        )
    # The peak of the period: 3 active staff on the 3rd (2 on the 4th), 3,500 bytes stored.
    assert used == {"core.active_staff_users": D(3), "core.storage_bytes": D(3500)}
    assert events == 4


def test_the_worker_knows_the_billing_events(settings: Settings) -> None:
    """No subscriber yet: the worker marks them delivered instead of retrying them for ever."""
    from localgov.plugins import REGISTRY
    from localgov.worker import Worker

    handlers = Worker(settings, REGISTRY).handlers
    assert {"billing.invoice_finalised", "billing.invoice_paid", "billing.invoice_overdue"} <= set(handlers)


async def test_a_late_run_catches_up_every_period_and_an_ended_subscription_stops(engine: AsyncEngine) -> None:
    tenant = await make_tenant(engine)
    plan = await make_plan(engine, fixed_fee=D(3000))
    sub_id = await _subscribe(engine, tenant.id, plan, billing_cycle="monthly", starts_on=dt.date(2026, 8, 16))
    async with shared(engine) as session:
        await service.end_subscription(session, sub_id, on=dt.date(2026, 11, 11))
    async with shared(engine) as session:
        with pytest.raises(service.SubscriptionConflict):
            await service.end_subscription(session, sub_id, on=dt.date(2026, 12, 1))
    result = await _run(engine, bkk(2027, 1, 10), tenant.id)  # the worker was down since August
    assert (len(result.drafted), len(result.finalised)) == (4, 4)
    invoices = await _invoices(engine, tenant.id)
    assert [(i.period_start, i.subtotal) for i in invoices] == [
        (dt.date(2026, 8, 1), D("1548.39")),  # 16/31 days
        (dt.date(2026, 9, 1), D("3000.00")),
        (dt.date(2026, 10, 1), D("3000.00")),
        (dt.date(2026, 11, 1), D("1000.00")),  # ended on 11 November: 10/30 days
    ]
    numbers = [int((i.number or "").rsplit("-", 1)[1]) for i in invoices]
    assert numbers == sorted(numbers)
    assert numbers[-1] - numbers[0] == 3  # consecutive, in period order
    assert (await _run(engine, bkk(2027, 3, 1), tenant.id)).drafted == []
