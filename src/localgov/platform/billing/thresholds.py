"""Usage thresholds: a billing administrator sets, per plan, a level of a meter; the first time a
tenant's usage of that meter in a billing period reaches it, ``billing.usage_threshold_crossed`` is
published (kernel events, through the outbox) once per tenant, meter and period.

The key is ``platform.usage_threshold_crossings (tenant_id, meter, period_start)``, claimed with
``INSERT … ON CONFLICT DO NOTHING`` in the transaction that publishes the event, so a rerun or two
racing runs announce a crossing once. The plan is the subscription phase in force today; the
quantity is the meter's aggregation over the period so far (``service.usage_between``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import Decimal

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.errors import DomainError
from localgov.kernel.events import publish
from localgov.kernel.plugins import UsageMeter
from localgov.kernel.thai import BANGKOK
from localgov.platform.billing import pricing, service
from localgov.platform.billing.events import USAGE_THRESHOLD_CROSSED, ThresholdEvent
from localgov.platform.billing.models import Subscription, UsageThreshold, UsageThresholdCrossing
from localgov.platform.models import Plan


class InvalidThreshold(DomainError):
    code = "invalid_threshold"
    status = 422
    title = "เกณฑ์การใช้งานไม่ถูกต้อง / Invalid usage threshold"


async def thresholds_of(session: AsyncSession, plan_code: str) -> list[UsageThreshold]:
    query = select(UsageThreshold).where(UsageThreshold.plan_code == plan_code).order_by(UsageThreshold.meter)
    return list((await session.execute(query)).scalars())


async def set_thresholds(
    session: AsyncSession, plan_code: str, levels: Sequence[tuple[str, Decimal]], meters: Mapping[str, UsageMeter]
) -> list[UsageThreshold]:
    """Replace a plan's thresholds (meter → level); 404 for an unknown plan, 422 for an unknown
    meter, a level not above 0 or a meter named twice."""
    if await session.get(Plan, plan_code) is None:
        raise service.NoSuchPlan(data={"plan_code": plan_code})
    seen: set[str] = set()
    for meter, level in levels:
        if meter not in meters or meter in seen:
            raise InvalidThreshold(f"unknown or repeated meter {meter!r}", data={"meter": meter})
        if not level.is_finite() or level <= 0 or not pricing.sane(level):
            raise InvalidThreshold("a threshold is a positive number", data={"meter": meter})
        seen.add(meter)
    await session.execute(delete(UsageThreshold).where(UsageThreshold.plan_code == plan_code))
    session.add_all(UsageThreshold(plan_code=plan_code, meter=m, threshold=level) for m, level in levels)
    await session.flush()
    return await thresholds_of(session, plan_code)


async def check_thresholds(
    session: AsyncSession, *, now: dt.datetime, meters: Mapping[str, UsageMeter], tenant_id: int | None = None
) -> list[tuple[int, str, dt.date]]:
    """Announce every threshold newly reached this period; returns (tenant, meter, period start)."""
    today = now.astimezone(BANGKOK).date()
    query = select(Subscription).where(
        Subscription.starts_on <= today, (Subscription.ends_on.is_(None)) | (Subscription.ends_on > today)
    )
    if tenant_id is not None:
        query = query.where(Subscription.tenant_id == tenant_id)
    crossed: list[tuple[int, str, dt.date]] = []
    for sub in (await session.execute(query.order_by(Subscription.id))).scalars().all():
        phases = [p for p in await service.phases_of(session, sub.id) if p.starts_on <= today]
        if not phases:
            continue
        plan_code = phases[-1].plan_code
        levels = await thresholds_of(session, plan_code)
        if not levels:
            continue
        start, end = pricing.period_of(today, sub.billing_cycle)
        used = await service.usage_between(session, sub.tenant_id, start, today + dt.timedelta(days=1), meters)
        for level in levels:
            quantity = used.get(level.meter, Decimal(0))
            if quantity < level.threshold:
                continue
            claimed = await session.execute(
                insert(UsageThresholdCrossing)
                .values(
                    tenant_id=sub.tenant_id,
                    meter=level.meter,
                    period_start=start,
                    threshold=level.threshold,
                    quantity=quantity,
                )
                .on_conflict_do_nothing(index_elements=["tenant_id", "meter", "period_start"])
                .returning(UsageThresholdCrossing.tenant_id)
            )
            if claimed.scalar_one_or_none() is None:
                continue
            event = ThresholdEvent(
                tenant_id=sub.tenant_id,
                plan_code=plan_code,
                meter=level.meter,
                period_start=start,
                period_end=end,
                threshold=level.threshold,
                quantity=quantity,
            )
            await publish(session, USAGE_THRESHOLD_CROSSED, event, tenant_id=sub.tenant_id)
            crossed.append((sub.tenant_id, level.meter, start))
    return crossed
