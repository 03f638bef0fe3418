"""Usage metering: billable events written in the same transaction as the action they count."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import BigInteger, DateTime, ForeignKey, Identity, Index, Numeric, String, UniqueConstraint, func
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
    __table_args__ = (
        UniqueConstraint("tenant_id", "key"),
        # The billing module aggregates one tenant's period at a time.
        Index("ix_usage_events_tenant_id_occurred_at", "tenant_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("platform.tenants.id", ondelete="CASCADE"))
    meter: Mapped[str] = mapped_column(String(80))
    quantity: Mapped[Decimal] = mapped_column(Numeric(20, 4))
    key: Mapped[str] = mapped_column(String(200))
    occurred_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), index=True)
    #: When the platform wrote it: an event recorded after its period's invoice was finalised is
    #: billed in the next period (see :mod:`localgov.platform.billing`).
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    #: What ``unique_count`` meters count distinct values of (a user id, a document id).
    subject: Mapped[str | None] = mapped_column(String(200))


async def record_usage(
    session: AsyncSession,
    meter: UsageMeter,
    quantity: Decimal | int,
    key: str,
    *,
    occurred_at: dt.datetime | None = None,
    subject: str | None = None,
) -> bool:
    """Count ``quantity`` of ``meter`` for the session's tenant, once per ``key``.

    Runs in the caller's transaction, so the event exists exactly when the action does.
    Returns False when an event with this key was already recorded (a retry). ``occurred_at``
    (default: now) is when the action happened, for an action reported late (a bank's payment
    time); ``subject`` is what a ``unique_count`` meter counts distinct values of.
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
    if subject is not None and not 0 < len(subject) <= 200:
        raise ValueError("usage subject must have 1 to 200 characters")
    values: dict[str, object] = {"tenant_id": tenant_id, "meter": meter.code, "quantity": amount, "key": key}
    if occurred_at is not None:
        if occurred_at.tzinfo is None:
            raise ValueError("usage occurred_at must be timezone-aware")
        values["occurred_at"] = occurred_at
    if subject is not None:
        values["subject"] = subject
    stmt = (
        insert(UsageEvent)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["tenant_id", "key"])
        .returning(UsageEvent.id)
    )
    return (await session.execute(stmt)).scalar_one_or_none() is not None
