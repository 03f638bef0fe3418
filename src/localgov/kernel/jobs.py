"""Scheduled jobs (timers) run by ``localgov worker``.

Each job has a row in ``platform.scheduled_jobs``; a worker takes a due row with
``FOR UPDATE SKIP LOCKED``, so with several workers a job still runs once per period. A
per-tenant job runs once for each active tenant that enabled its plugin, each tenant in its own
transaction, so one tenant's failure neither stops nor undoes the others.

A job is declared as a :class:`ScheduledJob` (by a plugin in its ``jobs``, or by the core, see
``localgov.worker.core_jobs``). This module imports nothing of the plugin contract: the contract
(:mod:`localgov.kernel.plugins`) is built on top of it, never the other way round.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence

import msgspec
import structlog
from sqlalchemy import DateTime, Integer, String, Text, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from localgov.kernel.db import SharedBase, TenantRef, tenant_session
from localgov.settings import Settings

log = structlog.get_logger("localgov.jobs")


class JobState(SharedBase):
    """When a scheduled job last ran and when it is next due."""

    __tablename__ = "scheduled_jobs"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    next_run_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    run_count: Mapped[int] = mapped_column(Integer, server_default="0")


class JobContext:
    """What a job receives: a session (tenant-bound for per-tenant jobs) and the tenant."""

    def __init__(
        self, session: AsyncSession, tenant: TenantRef | None, now: dt.datetime, settings: Settings | None = None
    ) -> None:
        self.session = session
        self.tenant = tenant
        self.now = now
        #: The worker's settings (None when the caller gave none): links for people in messages.
        self.settings = settings


JobFunc = Callable[[JobContext], Awaitable[None]]


class ScheduledJob(msgspec.Struct, frozen=True):
    """A timer run by ``localgov worker``; ``per_tenant`` runs it once per tenant (for a plugin's
    job: each active tenant that enabled the plugin; for a core job: each active tenant)."""

    name: str
    every: dt.timedelta
    run: JobFunc
    per_tenant: bool = False


async def register_jobs(session: AsyncSession, jobs: Iterable[ScheduledJob]) -> None:
    """Make sure every known job has a state row (new jobs are due at once)."""
    names = [job.name for job in jobs]
    if names:
        await session.execute(
            insert(JobState).values([{"name": n} for n in names]).on_conflict_do_nothing(index_elements=["name"])
        )


async def run_due_jobs(
    factory: async_sessionmaker[AsyncSession],
    jobs: Sequence[ScheduledJob],
    tenants_for_job: Mapping[str, Sequence[TenantRef]],
    *,
    settings: Settings | None = None,
) -> list[str]:
    """Run every job that is due and not being run by another worker; returns the names run."""
    by_name = {job.name: job for job in jobs}
    ran: list[str] = []
    for name in by_name:
        async with tenant_session(factory, None) as session:
            state = (
                await session.execute(
                    select(JobState)
                    .where(JobState.name == name, JobState.next_run_at <= func.now())
                    .with_for_update(skip_locked=True)
                )
            ).scalar_one_or_none()
            if state is None:
                continue
            job = by_name[name]
            now = dt.datetime.now(dt.UTC)
            state.last_started_at = now
            errors = await _run_one(factory, job, tenants_for_job.get(name, ()), now, settings)
            state.last_finished_at = dt.datetime.now(dt.UTC)
            state.next_run_at = now + job.every
            state.run_count += 1
            state.last_error = "; ".join(errors)[:4000] or None
            ran.append(name)
    return ran


async def _run_one(
    factory: async_sessionmaker[AsyncSession],
    job: ScheduledJob,
    tenants: Sequence[TenantRef],
    now: dt.datetime,
    settings: Settings | None = None,
) -> list[str]:
    errors: list[str] = []
    targets: Sequence[TenantRef | None] = tenants if job.per_tenant else [None]
    for tenant in targets:
        try:
            async with tenant_session(factory, tenant) as session:
                await job.run(JobContext(session, tenant, now, settings))
        except Exception as exc:
            where = f"tenant {tenant.schema}" if tenant is not None else "platform"
            log.exception("job_failed", job=job.name, where=where)
            errors.append(f"{where}: {type(exc).__name__}: {exc}")
    return errors
