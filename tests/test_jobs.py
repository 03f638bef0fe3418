"""Scheduled jobs: due once per period, per tenant in its own transaction, once across workers."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from localgov.kernel.db import create_engine, session_factory, tenant_session
from localgov.kernel.jobs import JobContext, register_jobs, run_due_jobs
from localgov.kernel.plugins import ScheduledJob
from localgov.kernel.tenancy import TenantInfo
from localgov.platform.catalog import Catalog
from localgov.settings import Settings
from localgov.worker import CORE_JOBS, Worker, core_jobs
from tests.conftest import make_settings
from tests.support.demo_plugin import DEMO
from tests.support.factories import make_tenant


@pytest.fixture
def fresh_settings(fresh_database_url: str) -> Settings:
    return make_settings(fresh_database_url)


@pytest.fixture
async def fresh_engine(fresh_settings: Settings) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(fresh_settings)
    yield eng
    await eng.dispose()


def unique(name: str) -> str:
    """Job names of tests sharing the run's database never collide."""
    return f"t{uuid.uuid4().hex[:8]}.{name}"


async def register(factory: async_sessionmaker[AsyncSession], *jobs: ScheduledJob) -> None:
    async with tenant_session(factory, None) as session:
        await register_jobs(session, jobs)


async def job_state(engine: AsyncEngine, name: str) -> Any:
    async with engine.connect() as conn:
        return (
            await conn.execute(
                text(
                    "SELECT run_count, last_error, next_run_at - now() AS due_in, last_started_at, last_finished_at"
                    " FROM platform.scheduled_jobs WHERE name = :n"
                ),
                {"n": name},
            )
        ).one()


async def make_due(engine: AsyncEngine, name: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE platform.scheduled_jobs SET next_run_at = now() WHERE name = :n"), {"n": name})


async def ticks(engine: AsyncEngine, tenant: TenantInfo) -> int:
    async with engine.connect() as conn:
        value = (
            await conn.execute(text(f"SELECT (extra->>'ticks')::int FROM \"{tenant.schema}\".profile WHERE id = 1"))
        ).scalar_one()
    return int(value or 0)


async def test_worker_runs_a_per_tenant_job_for_active_tenants_that_enabled_it(
    fresh_settings: Settings, fresh_engine: AsyncEngine
) -> None:
    engine = fresh_engine
    enabled = await make_tenant(engine, services=["demo"])
    enabled_too = await make_tenant(engine, services=["demo"])
    not_enabled = await make_tenant(engine)
    suspended = await make_tenant(engine, services=["demo"], status="suspended")
    closed = await make_tenant(engine, services=["demo"], status="closed")
    everyone = [enabled, enabled_too, not_enabled, suspended, closed]

    worker = Worker(fresh_settings, [DEMO])
    factory = session_factory(engine)
    catalog = Catalog(fresh_settings.base_domain)
    await catalog.load(engine)
    await register(factory, *worker.jobs)

    await worker.tick(factory, catalog)
    assert [await ticks(engine, t) for t in everyone] == [1, 1, 0, 0, 0]
    state = await job_state(engine, "demo.tick")
    assert (state.run_count, state.last_error) == (1, None)
    assert dt.timedelta(0) < state.due_in <= dt.timedelta(seconds=1)
    assert state.last_started_at <= state.last_finished_at
    assert (await job_state(engine, "core.outbox_purge")).run_count == 1

    # Not due again before its period (one second) is over.
    await worker.tick(factory, catalog)
    assert [await ticks(engine, t) for t in everyone] == [1, 1, 0, 0, 0]

    await make_due(engine, "demo.tick")
    await worker.tick(factory, catalog)
    assert [await ticks(engine, t) for t in everyone] == [2, 2, 0, 0, 0]
    assert (await job_state(engine, "demo.tick")).run_count == 2
    assert (await job_state(engine, "core.outbox_purge")).run_count == 1


async def test_failing_tenant_does_not_stop_the_others(engine: AsyncEngine) -> None:
    tenants = [await make_tenant(engine) for _ in range(3)]
    bad = tenants[1]
    seen: list[str] = []

    async def run(ctx: JobContext) -> None:
        assert ctx.tenant is not None
        seen.append(ctx.tenant.schema)
        await ctx.session.execute(text("UPDATE profile SET website = 'https://job.example' WHERE id = 1"))
        if ctx.tenant.id == bad.id:
            raise RuntimeError("this tenant fails")

    job = ScheduledJob(name=unique("flaky"), every=dt.timedelta(minutes=5), run=run, per_tenant=True)
    factory = session_factory(engine)
    await register(factory, job)
    assert await run_due_jobs(factory, [job], {job.name: tenants}) == [job.name]

    assert seen == [t.schema for t in tenants]
    async with engine.connect() as conn:
        websites = [
            (await conn.execute(text(f'SELECT website FROM "{t.schema}".profile WHERE id = 1'))).scalar_one()
            for t in tenants
        ]
    # The failing tenant's write is rolled back; the others' are committed.
    assert websites == ["https://job.example", None, "https://job.example"]
    state = await job_state(engine, job.name)
    assert state.run_count == 1
    assert state.last_error == f"tenant {bad.schema}: RuntimeError: this tenant fails"
    assert dt.timedelta(minutes=4) < state.due_in <= dt.timedelta(minutes=5)

    # The next run that succeeds everywhere clears the error.
    await make_due(engine, job.name)
    assert await run_due_jobs(factory, [job], {job.name: [tenants[0], tenants[2]]}) == [job.name]
    state = await job_state(engine, job.name)
    assert (state.run_count, state.last_error) == (2, None)


async def test_platform_job_failure_is_recorded(engine: AsyncEngine) -> None:
    async def run(ctx: JobContext) -> None:
        assert ctx.tenant is None
        raise ValueError("platform job failed")

    job = ScheduledJob(name=unique("broken"), every=dt.timedelta(hours=1), run=run)
    factory = session_factory(engine)
    await register(factory, job)
    assert await run_due_jobs(factory, [job], {}) == [job.name]
    state = await job_state(engine, job.name)
    assert (state.run_count, state.last_error) == (1, "platform: ValueError: platform job failed")
    assert state.due_in > dt.timedelta(minutes=59)


async def test_unregistered_or_not_due_jobs_do_not_run(engine: AsyncEngine) -> None:
    runs: Counter[str] = Counter()

    async def run(ctx: JobContext) -> None:
        runs["x"] += 1

    job = ScheduledJob(name=unique("later"), every=dt.timedelta(hours=1), run=run)
    factory = session_factory(engine)
    assert await run_due_jobs(factory, [job], {}) == []  # no state row yet
    await register(factory, job)
    await register(factory, job)  # registering again changes nothing
    assert await run_due_jobs(factory, [job], {}) == [job.name]
    assert await run_due_jobs(factory, [job], {}) == []
    assert runs["x"] == 1


async def test_concurrent_callers_run_a_due_job_once(engine: AsyncEngine) -> None:
    tenants = [await make_tenant(engine) for _ in range(2)]
    runs: Counter[int] = Counter()
    loop = asyncio.get_running_loop()
    job_done_at: list[float] = []

    async def run(ctx: JobContext) -> None:
        assert ctx.tenant is not None
        runs[ctx.tenant.id] += 1
        await asyncio.sleep(0.2)  # the other callers look while this one holds the job
        job_done_at.append(loop.time())

    job = ScheduledJob(name=unique("once"), every=dt.timedelta(minutes=1), run=run, per_tenant=True)
    factory = session_factory(engine)
    await register(factory, job)

    async def caller() -> tuple[list[str], float]:
        ran = await run_due_jobs(factory, [job], {job.name: tenants})
        return ran, loop.time()

    results = await asyncio.gather(caller(), caller(), caller())
    assert sorted(ran for ran, _ in results) == [[], [], [job.name]]
    assert runs == {t.id: 1 for t in tenants}
    # The others skipped the locked job instead of waiting for it.
    assert all(returned_at < job_done_at[0] for ran, returned_at in results if not ran)
    assert (await job_state(engine, job.name)).run_count == 1


async def test_outbox_purge_deletes_old_delivered_entries_only(
    fresh_settings: Settings, fresh_engine: AsyncEngine
) -> None:
    engine = fresh_engine
    async with engine.begin() as conn:
        result = await conn.execute(
            text(
                "INSERT INTO platform.outbox (topic, payload, status, created_at, delivered_at) VALUES"
                " ('t.old', '{}', 'delivered', now() - interval '9 days', now() - interval '8 days'),"
                " ('t.recent', '{}', 'delivered', now() - interval '9 days', now() - interval '6 days'),"
                " ('t.dead', '{}', 'dead', now() - interval '30 days', NULL),"
                " ('t.pending', '{}', 'pending', now() - interval '30 days', NULL)"
                " RETURNING topic"
            )
        )
        assert len(result.all()) == 4
    factory = session_factory(engine)
    worker = Worker(fresh_settings, [])
    core = [
        "core.outbox_purge",
        "core.rate_limit_purge",
        "core.signup_expiry",
        "core.idempotency_purge",
        "core.operator_idempotency_purge",
        "core.webhooks_purge",
        "core.closed_tenant_purge",
        "core.billing_run",
        "core.billing_levels",
        "core.domain_recheck",
    ]
    assert [j.name for j in worker.jobs] == [j.name for j in core_jobs(fresh_settings)] == core
    # The purge needs the settings (the export folder), the billing run the plugins' meters, the
    # domains' re-check the name servers.
    assert [j.name for j in CORE_JOBS] == core[:-4]
    await register(factory, *worker.jobs)
    assert await run_due_jobs(factory, worker.jobs, {}) == core

    async with engine.connect() as conn:
        left = (await conn.execute(text("SELECT topic FROM platform.outbox ORDER BY id"))).scalars().all()
    assert left == ["t.recent", "t.dead", "t.pending"]
    state = await job_state(engine, "core.outbox_purge")
    assert (state.run_count, state.last_error) == (1, None)
    assert dt.timedelta(hours=5) < state.due_in <= dt.timedelta(hours=6)


async def _keys(engine: AsyncEngine, tenant: TenantInfo) -> list[str]:
    async with engine.connect() as conn:
        result = await conn.execute(text(f'SELECT key FROM "{tenant.schema}".idempotency_keys ORDER BY key'))
        return list(result.scalars())


async def test_idempotency_purge_is_a_core_job_for_every_active_tenant(
    fresh_settings: Settings, fresh_engine: AsyncEngine
) -> None:
    """Keys are a core table: their purge runs for each active tenant, whichever services it uses
    (it used to be a payments job, so LAOs without payments kept their keys for ever)."""
    engine = fresh_engine
    no_service = await make_tenant(engine)
    payments = await make_tenant(engine, services=["payments"])
    suspended = await make_tenant(engine, status="suspended")
    everyone = [no_service, payments, suspended]
    for tenant in everyone:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    f'INSERT INTO "{tenant.schema}".idempotency_keys'
                    " (principal, key, request_hash, status, response_status, response_body, created_at) VALUES"
                    " ('staff:a', 'expired', 'h', 'done', 201, '', now() - interval '25 hours'),"
                    " ('staff:a', 'recent', 'h', 'done', 201, '', now() - interval '23 hours')"
                )
            )

    worker = Worker(fresh_settings, [])  # no plugin at all: the purge is the core's
    assert "core.idempotency_purge" in [j.name for j in worker.jobs]
    factory = session_factory(engine)
    catalog = Catalog(fresh_settings.base_domain)
    await catalog.load(engine)
    await register(factory, *worker.jobs)
    await worker.tick(factory, catalog)

    assert [await _keys(engine, t) for t in everyone] == [["recent"], ["recent"], ["expired", "recent"]]
    state = await job_state(engine, "core.idempotency_purge")
    assert (state.run_count, state.last_error) == (1, None)
    assert dt.timedelta(hours=5) < state.due_in <= dt.timedelta(hours=6)
