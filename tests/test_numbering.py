"""Running numbers: contiguous and unique under concurrency, gap-free across rollbacks."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.kernel.db import session_factory, tenant_session
from localgov.kernel.numbering import calendar_period, fiscal_period, next_number
from tests.conftest import make_settings
from tests.support.factories import make_tenant


class _Abort(Exception):
    pass


async def test_concurrent_allocations_are_contiguous_and_rollbacks_leave_no_gap(database_url: str) -> None:
    from localgov.kernel.db import create_engine

    engine = create_engine(make_settings(database_url, db_pool_size=10, db_max_overflow=0, db_pool_timeout_s=60))
    try:
        tenant = await make_tenant(engine)
        factory = session_factory(engine)
        committed: list[int] = []

        async def allocate(i: int) -> None:
            try:
                async with tenant_session(factory, tenant) as session:
                    number = await next_number(session, "test.receipt", "2570")
                    await asyncio.sleep(0.001)
                    if i % 5 == 0:
                        raise _Abort  # this transaction fails: its number must be given back
                    committed.append(number)
            except _Abort:
                pass

        await asyncio.gather(*(allocate(i) for i in range(100)))
        assert sorted(committed) == list(range(1, 81))
    finally:
        await engine.dispose()


async def test_series_and_periods_are_independent_and_per_tenant(engine: AsyncEngine) -> None:
    a = await make_tenant(engine)
    b = await make_tenant(engine)
    factory = session_factory(engine)
    async with tenant_session(factory, a) as session:
        assert [await next_number(session, "s.one", "2569") for _ in range(3)] == [1, 2, 3]
        assert await next_number(session, "s.one", "2570") == 1
        assert await next_number(session, "s.two") == 1
    async with tenant_session(factory, b) as session:
        assert await next_number(session, "s.one", "2569") == 1


def test_periods() -> None:
    assert calendar_period(dt.date(2026, 12, 31)) == "2569"
    assert calendar_period(dt.date(2027, 1, 1)) == "2570"
    assert fiscal_period(dt.date(2026, 9, 30)) == "2569"
    assert fiscal_period(dt.date(2026, 10, 1)) == "2570"


async def test_invalid_series_is_refused(engine: AsyncEngine) -> None:
    tenant = await make_tenant(engine)
    async with tenant_session(session_factory(engine), tenant) as session:
        with pytest.raises(ValueError, match="series"):
            await next_number(session, "")
