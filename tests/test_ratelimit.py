"""The shared rate limiter: counts across processes in PostgreSQL; stale buckets are purged."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.kernel.db import session_factory, tenant_session
from localgov.kernel.ratelimit import RateLimited, hit, purge_expired


async def test_limit_then_refusal_with_retry_after(engine: AsyncEngine) -> None:
    key = f"test:{dt.datetime.now(dt.UTC).timestamp()}"
    for _ in range(3):
        await hit(engine, key, limit=3, window_s=60)
    with pytest.raises(RateLimited) as refused:
        await hit(engine, key, limit=3, window_s=60)
    assert refused.value.status == 429
    assert refused.value.headers is not None
    assert 1 <= int(refused.value.headers["Retry-After"]) <= 60
    # A new window starts counting from one again.
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE platform.rate_limit_buckets SET window_start = now() - interval '61 seconds' WHERE key = :k"),
            {"k": key},
        )
    await hit(engine, key, limit=3, window_s=60)


async def test_purge_removes_only_stale_buckets(engine: AsyncEngine) -> None:
    stale, fresh = "test:stale-bucket", "test:fresh-bucket"
    await hit(engine, stale, limit=10, window_s=60)
    await hit(engine, fresh, limit=10, window_s=60)
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE platform.rate_limit_buckets SET window_start = now() - interval '2 days' WHERE key = :k"),
            {"k": stale},
        )
    async with tenant_session(session_factory(engine), None) as session:
        assert await purge_expired(session, dt.timedelta(days=1)) >= 1
    async with engine.connect() as conn:
        keys = set((await conn.execute(text("SELECT key FROM platform.rate_limit_buckets"))).scalars())
    assert fresh in keys
    assert stale not in keys
