"""Usage thresholds: one event per tenant, meter and period when a plan's threshold is reached."""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.kernel.outbox import OutboxEntry
from localgov.platform.billing import service, thresholds
from localgov.plugins import REGISTRY
from tests.conftest import BASE, ClientFactory
from tests.support.billing import METERS, add_events, bkk, make_plan, shared
from tests.support.factories import make_tenant
from tests.support.tokens import bearer

D = Decimal
METER = "oss.cases_opened"


async def _check(engine: AsyncEngine, now: dt.datetime, tenant_id: int) -> list[tuple[int, str, dt.date]]:
    async with shared(engine) as session:
        return await thresholds.check_thresholds(session, now=now, meters=METERS, tenant_id=tenant_id)


async def _events(engine: AsyncEngine, tenant_id: int) -> list[dict[str, object]]:
    async with shared(engine) as session:
        query = (
            select(OutboxEntry.payload)
            .where(OutboxEntry.topic == "billing.usage_threshold_crossed", OutboxEntry.tenant_id == tenant_id)
            .order_by(OutboxEntry.id)
        )
        return list((await session.execute(query)).scalars())


async def test_a_threshold_is_announced_once_per_tenant_meter_and_period(
    engine: AsyncEngine, client_for: ClientFactory
) -> None:
    a = await make_tenant(engine)
    b = await make_tenant(engine)
    plan = await make_plan(engine, fixed_fee=D(100))
    admin = {"Host": BASE, **bearer(None, kind="operator", roles=["billing_admin"])}
    async with client_for(plugins=REGISTRY) as client:
        url = f"/v1/billing/plans/{plan}/thresholds"
        unknown = await client.put(url, json={"thresholds": [{"meter": "no.such", "threshold": "3"}]}, headers=admin)
        assert (unknown.status_code, unknown.json()["code"]) == (422, "invalid_threshold")
        zero = await client.put(url, json={"thresholds": [{"meter": METER, "threshold": "0"}]}, headers=admin)
        assert (zero.status_code, zero.json()["code"]) == (422, "invalid_threshold")
        missing = await client.put("/v1/billing/plans/no-such-plan/thresholds", json={"thresholds": []}, headers=admin)
        assert (missing.status_code, missing.json()["code"]) == (404, "plan_not_found")
        ok = await client.put(url, json={"thresholds": [{"meter": METER, "threshold": "3"}]}, headers=admin)
        assert ok.status_code == 200
        assert ok.json()["items"] == [{"meter": METER, "threshold": "3"}]
        assert (await client.get(url, headers=admin)).json() == ok.json()
        platform_admin = {"Host": BASE, **bearer(None, kind="operator", roles=["platform_admin"])}
        assert (await client.get(url, headers=platform_admin)).status_code == 403
    for tenant in (a, b):
        async with shared(engine) as session:
            await service.subscribe(session, tenant.id, plan, billing_cycle="monthly", starts_on=dt.date(2026, 10, 1))
    october = bkk(2026, 10, 10, 10)
    await add_events(engine, a.id, METER, [(october, october, D(1))] * 2)
    await add_events(engine, b.id, METER, [(october, october, D(1))] * 2)
    assert await _check(engine, bkk(2026, 10, 11), a.id) == []
    await add_events(engine, a.id, METER, [(october, october, D(1))])
    runs = await asyncio.gather(*(_check(engine, bkk(2026, 10, 12), a.id) for _ in range(3)))
    assert sorted(x for run in runs for x in run) == [(a.id, METER, dt.date(2026, 10, 1))]
    assert await _check(engine, bkk(2026, 10, 20), a.id) == []
    assert await _check(engine, bkk(2026, 10, 20), b.id) == []  # B's 2 are not A's 3
    (event,) = await _events(engine, a.id)
    assert (event["meter"], event["period_start"], event["plan_code"]) == (METER, "2026-10-01", plan)
    assert D(str(event["quantity"])) == D(3)
    assert await _events(engine, b.id) == []
    # A new period starts from nothing: November's own three cases cross again.
    november = bkk(2026, 11, 5, 10)
    await add_events(engine, a.id, METER, [(november, november, D(1))] * 3)
    assert await _check(engine, bkk(2026, 11, 6), a.id) == [(a.id, METER, dt.date(2026, 11, 1))]
    assert len(await _events(engine, a.id)) == 2
