"""The worker's billing job: the invoice run and the overdue reminders, hourly (idempotent)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import func, select, text

from localgov.kernel.audit import Actor, Origin
from localgov.kernel.jobs import JobContext, ScheduledJob
from localgov.kernel.plugins import JobFunc, ServicePlugin
from localgov.kernel.storage import StoredFile
from localgov.kernel.thai import BANGKOK
from localgov.kernel.usage import record_usage
from localgov.platform.billing import reminders, service, thresholds
from localgov.platform.billing.meters import ACTIVE_STAFF, STORAGE_BYTES, meter_registry

BILLING_JOB = "core.billing_run"
LEVELS_JOB = "core.billing_levels"
_ACTIVE_STAFF = text("SELECT count(*) FROM staff_users WHERE status = 'active'")
_STORAGE = select(func.coalesce(func.sum(StoredFile.size_bytes), 0))
SYSTEM = Actor(kind="system", id=BILLING_JOB)


def billing_run(plugins: Iterable[ServicePlugin], *, suspend_after_days: int | None = None) -> JobFunc:
    """Draft the periods that ended, finalise the drafts past their grace period, remind overdue
    invoices once and e-mail their reminders by step, announce usage thresholds reached; with
    ``suspend_after_days`` (``LOCALGOV_BILLING_SUSPEND_AFTER_DAYS``), suspend through the lifecycle
    the LAOs whose invoice is that many days past due (off by default: the operator decides)."""
    meters = meter_registry(plugins)

    async def run(ctx: JobContext) -> None:
        await service.run_invoices(ctx.session, now=ctx.now, meters=meters)
        await service.remind_overdue(
            ctx.session,
            today=ctx.now.astimezone(BANGKOK).date(),
            suspend_after_days=suspend_after_days,
            actor=SYSTEM,
            origin=Origin(),
        )
        await thresholds.check_thresholds(ctx.session, now=ctx.now, meters=meters)
        await reminders.mail_reminders(
            ctx.session, today=ctx.now.astimezone(BANGKOK).date(), actor=SYSTEM, origin=Origin()
        )

    return run


def billing_job(plugins: Iterable[ServicePlugin], *, suspend_after_days: int | None = None) -> ScheduledJob:
    run = billing_run(plugins, suspend_after_days=suspend_after_days)
    return ScheduledJob(name=BILLING_JOB, every=dt.timedelta(hours=1), run=run)


async def record_levels(ctx: JobContext) -> None:
    """One tenant's levels of the day: its active staff accounts and the bytes of its stored files,
    as ``latest``-style samples keyed by the Bangkok day (a second run the same day counts nothing)."""
    day = ctx.now.astimezone(BANGKOK).date().isoformat()
    staff = (await ctx.session.execute(_ACTIVE_STAFF)).scalar_one()
    stored = (await ctx.session.execute(_STORAGE)).scalar_one()
    await record_usage(ctx.session, ACTIVE_STAFF, int(staff), f"{ACTIVE_STAFF.code}:{day}", occurred_at=ctx.now)
    await record_usage(ctx.session, STORAGE_BYTES, int(stored), f"{STORAGE_BYTES.code}:{day}", occurred_at=ctx.now)


#: Per tenant (each active one), every 6 hours: a day is sampled by its first run.
LEVELS = ScheduledJob(name=LEVELS_JOB, every=dt.timedelta(hours=6), run=record_levels, per_tenant=True)
