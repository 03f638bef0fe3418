"""Usage metering: billable events written in the same transaction as the action they count."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import BigInteger, DateTime, ForeignKey, Identity, Numeric, String, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from localgov.kernel.db import SharedBase, session_tenant_id
from localgov.kernel.plugins import UsageMeter

#: ``quantity`` is ``numeric(20, 4)``: at most 16 digits before the point and 4 after it.
_MAX_QUANTITY = Decimal(10) ** 16
_QUANTUM_EXPONENT = -4


class UsageEvent(SharedBase):
    """One metered event of one tenant; ``key`` makes a retried request count once."""

    __tablename__ = "usage_events"
    __table_args__ = (UniqueConstraint("tenant_id", "key"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("platform.tenants.id", ondelete="CASCADE"))
    meter: Mapped[str] = mapped_column(String(80))
    quantity: Mapped[Decimal] = mapped_column(Numeric(20, 4))
    key: Mapped[str] = mapped_column(String(200))
    occurred_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), index=True)


async def record_usage(session: AsyncSession, meter: UsageMeter, quantity: Decimal | int, key: str) -> bool:
    """Count ``quantity`` of ``meter`` for the session's tenant, once per ``key``.

    Runs in the caller's transaction, so the event exists exactly when the action does.
    Returns False when an event with this key was already recorded (a retry).
    """
    tenant_id = session_tenant_id(session)
    amount = Decimal(quantity)
    if not amount.is_finite() or amount < 0:
        raise ValueError("usage quantity must be a finite, non-negative number")
    if amount >= _MAX_QUANTITY:
        raise ValueError("usage quantity must be below 10**16")
    exponent = amount.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < _QUANTUM_EXPONENT:
        # The column would round it silently (0.00001 would be stored as 0).
        raise ValueError("usage quantity must have at most 4 decimal places")
    if not key or len(key) > 200:
        raise ValueError("usage key must have 1 to 200 characters")
    stmt = (
        insert(UsageEvent)
        .values(tenant_id=tenant_id, meter=meter.code, quantity=amount, key=key)
        .on_conflict_do_nothing(index_elements=["tenant_id", "key"])
        .returning(UsageEvent.id)
    )
    return (await session.execute(stmt)).scalar_one_or_none() is not None
