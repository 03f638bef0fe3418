"""Running numbers (เลขที่) without gaps: receipts, registers, certificates, orders.

The counter row is incremented in the caller's transaction and stays locked until it commits:
concurrent allocations of the same series queue up, and a transaction that rolls back gives its
number back, so the numbers that exist are exactly 1..n with no gap and no duplicate. Periods
make a series restart: the calendar year for correspondence registers, the fiscal year for
receipts.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, PrimaryKeyConstraint, String, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from localgov.kernel.db import TenantBase
from localgov.kernel.thai import be_year, fiscal_year


class RunningNumber(TenantBase):
    """The last number given in a series and period."""

    __tablename__ = "running_numbers"
    __table_args__ = (PrimaryKeyConstraint("series", "period"),)

    series: Mapped[str] = mapped_column(String(80))
    #: ``""`` for a series that never restarts, else the BE year it belongs to.
    period: Mapped[str] = mapped_column(String(20))
    last_value: Mapped[int] = mapped_column(BigInteger)


_NEXT = text(
    """
    INSERT INTO running_numbers (series, period, last_value) VALUES (:series, :period, 1)
    ON CONFLICT (series, period) DO UPDATE SET last_value = running_numbers.last_value + 1
    RETURNING last_value
    """
)


async def next_number(session: AsyncSession, series: str, period: str = "") -> int:
    """The next number of ``series`` in ``period`` (1 for a new period), in the caller's transaction."""
    if not series or len(series) > 80 or len(period) > 20:
        raise ValueError("series must have 1-80 characters and period at most 20")
    value: int = (await session.execute(_NEXT, {"series": series, "period": period})).scalar_one()
    return value


def calendar_period(day: dt.date) -> str:
    """The BE calendar year (registers restart on 1 January)."""
    return str(be_year(day))


def fiscal_period(day: dt.date) -> str:
    """The BE fiscal year (receipts restart on 1 October)."""
    return str(fiscal_year(day))
