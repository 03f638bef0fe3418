"""Usage equals the actions of a scripted scenario across the registered services (One Stop Service,
food, payments, building permits), and prices so."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.kernel.audit import Actor, Origin
from localgov.kernel.db import session_factory, tenant_session
from localgov.kernel.thai import BANGKOK, bangkok_today
from localgov.platform.billing import service
from localgov.platform.billing.pricing import Charge
from localgov.plugins import REGISTRY
from localgov.services.payments import bank
from localgov.services.saraban import PLUGIN as SARABAN
from tests.conftest import ClientFactory
from tests.support.billing import METERS, make_plan, shared
from tests.support.food import at, file_notification, food_world, issued
from tests.support.oss_cases import make_case_world, walk_in
from tests.support.payments import BILLER_ID, make_bill, set_biller
from tests.support.permits import approve, bill_paid_entries, deliver, make_permit_world, pay, submitted, to_decision

D = Decimal


async def _usage(engine: AsyncEngine, tenant_id: int) -> dict[str, Decimal]:
    today = bangkok_today()
    async with shared(engine) as session:
        return await service.usage_between(
            session, tenant_id, today - dt.timedelta(days=400), today + dt.timedelta(days=2), METERS
        )


async def test_usage_equals_the_scripted_actions_of_every_service(
    engine: AsyncEngine, client_for: ClientFactory, tmp_path: Path
) -> None:
    # One Stop Service: two requests opened at the counter.
    oss = await make_case_world(engine)
    async with client_for(plugins=REGISTRY) as http:
        for _ in range(2):
            response = await http.post("/v1/oss/cases", json=walk_in(), headers=oss.headers("officer"))
            assert response.status_code == 201, response.text

    # Food and payments: three notifications (one certified), two bills paid from the bank statement.
    food = await food_world(engine, tmp_path / "files")
    now = at(2026, 10, 5)
    await file_notification(food, now)
    await file_notification(food, now)
    await issued(food, now)
    async with food.db() as session:
        await set_biller(session)
        bills = [await make_bill(session, amounts=(amount,)) for amount in ("80.00", "1250.50")]
    paid_at = dt.datetime.now(BANGKOK).replace(microsecond=0)
    rows = ["transaction_id,paid_at,biller_id,ref1,ref2,amount,narrative"] + [
        f"TX{i},{paid_at.isoformat()},{BILLER_ID},{bill.reference},,{bill.total},QR" for i, bill in enumerate(bills)
    ]
    statement = ("\r\n".join(rows) + "\r\n").encode()
    async with tenant_session(session_factory(engine), food.tenant) as session:
        report = await bank.import_statement(session, statement, actor=Actor("staff", "finance"), origin=Origin())
        assert report.matched == 2
    async with tenant_session(session_factory(engine), food.tenant) as session:
        bills_issued = (await session.execute(text("SELECT count(*) FROM bills"))).scalar_one()

    assert await _usage(engine, oss.tenant.id) == {"oss.cases_opened": D(2)}
    food_usage = await _usage(engine, food.tenant.id)
    assert food_usage == {
        "food.notification_submitted": D(3),
        "food.certificate_issued": D(1),
        "payments.bills_issued": D(bills_issued),
        "payments.payments_confirmed": D(2),
        "payments.baht_collected": D("1330.50"),
    }
    assert bills_issued >= 2

    # Building permits: two applications submitted, one taken to its paid, issued permit (the bank's
    # notification delivered twice: one permit, one event).
    permits = await make_permit_world(engine, tmp_path / "permit-files")
    first = await submitted(permits, now)
    await submitted(permits, now)
    await to_decision(permits, first, now)
    await approve(permits, first, now)
    await pay(permits, first)
    (paid_entry,) = await bill_paid_entries(permits)
    await deliver(permits, paid_entry)
    await deliver(permits, paid_entry)
    assert await _usage(engine, permits.tenant.id) == {
        "permits.application_submitted": D(2),
        "permits.permit_issued": D(1),
        "payments.bills_issued": D(1),
        "payments.payments_confirmed": D(1),
        "payments.baht_collected": D("260.00"),
    }
    # Every meter of every registered service was exercised by the scenario, but a One Stop Service
    # decision (its metering is checked where the decision is: test_oss_cases) and e-Saraban's
    # letters (test_saraban_http: sent inside, to another LAO, received; test_saraban_exchange:
    # sent outside).
    exercised = {*await _usage(engine, oss.tenant.id), *food_usage, *await _usage(engine, permits.tenant.id)}
    elsewhere = {"oss.cases_decided"} | {meter.code for meter in SARABAN.meters}
    assert {meter.code for plugin in REGISTRY for meter in plugin.meters} - exercised <= elsewhere

    # And it prices: one unit price per meter, 1 % of each payment (minimum 5 baht).
    plan = await make_plan(
        engine,
        charges=[
            Charge(meter="food.notification_submitted", model="standard", unit_price=D(10)),
            Charge(meter="food.certificate_issued", model="standard", unit_price=D(20)),
            Charge(meter="payments.baht_collected", model="percentage", rate=D("0.01"), min_fee=D(5)),
        ],
    )
    today = bangkok_today()
    async with shared(engine) as session:
        sub = await service.subscribe(
            session, food.tenant.id, plan, billing_cycle="monthly", starts_on=today.replace(day=1)
        )
        start, end = service.pricing.period_of(today, "monthly")
        lines = await service.compute_lines(session, sub, start, end, now=dt.datetime.now(dt.UTC), meters=METERS)
    priced = {line.meter: line.amount for line in lines if line.kind == "usage"}
    # Every event was recorded just now, in this period: 3 × 10, 1 × 20, and 80.00 → 0.80 raised to
    # the minimum 5.00 plus 1,250.50 → 12.505 → 12.51.
    assert priced == {
        "food.notification_submitted": D("30.00"),
        "food.certificate_issued": D("20.00"),
        "payments.baht_collected": D("17.51"),
    }
