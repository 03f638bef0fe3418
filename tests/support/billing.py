"""Factories for the operator-billing tests: plans with prices, subscriptions, usage events."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from localgov.kernel.db import session_factory, session_for
from localgov.kernel.thai import BANGKOK
from localgov.platform.billing import service
from localgov.platform.billing.meters import meter_registry
from localgov.platform.billing.pricing import Charge
from localgov.plugins import REGISTRY

METERS = meter_registry(REGISTRY)
_seq = itertools.count(1)


def bkk(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=BANGKOK)


@asynccontextmanager
async def shared(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """A committed transaction on the shared schema."""
    async with session_for(session_factory(engine), None) as session, session.begin():
        yield session


async def make_plan(
    engine: AsyncEngine,
    *,
    fixed_fee: Decimal = Decimal(0),
    fixed_interval: str = "monthly",
    charges: Sequence[Charge] = (),
    effective_from: dt.date = dt.date(2020, 1, 1),
) -> str:
    code = f"bill{next(_seq)}-{uuid.uuid4().hex[:8]}"
    async with engine.begin() as conn:
        await conn.execute(
            text("INSERT INTO platform.plans (code, name_th, name_en, services) VALUES (:c, :th, :en, '{}')"),
            {"c": code, "th": f"แผนทดสอบ {code}", "en": f"Test plan {code}"},
        )
    async with shared(engine) as session:
        await service.add_plan_price(
            session,
            code,
            effective_from=effective_from,
            fixed_fee=fixed_fee,
            fixed_interval=fixed_interval,
            charges=charges,
            meters=METERS,
        )
    return code


async def add_events(
    engine: AsyncEngine,
    tenant_id: int,
    meter: str,
    rows: Sequence[tuple[dt.datetime, dt.datetime, Decimal]],
) -> None:
    """Usage events as they would be written: ``(occurred_at, recorded_at, quantity)`` each."""
    async with engine.begin() as conn:
        for occurred, recorded, quantity in rows:
            await conn.execute(
                text(
                    "INSERT INTO platform.usage_events (tenant_id, meter, quantity, key, occurred_at, recorded_at)"
                    " VALUES (:t, :m, :q, :k, :o, :r)"
                ),
                {"t": tenant_id, "m": meter, "q": quantity, "k": uuid.uuid4().hex, "o": occurred, "r": recorded},
            )
