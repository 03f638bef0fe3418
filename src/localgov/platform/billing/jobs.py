"""The worker's billing job: the invoice run and the overdue reminders, hourly (idempotent)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from localgov.kernel.audit import Actor, Origin
from localgov.kernel.jobs import JobContext, ScheduledJob
from localgov.kernel.plugins import JobFunc, ServicePlugin
from localgov.kernel.thai import BANGKOK
from localgov.platform.billing import service
from localgov.platform.billing.meters import meter_registry

BILLING_JOB = "core.billing_run"
SYSTEM = Actor(kind="system", id=BILLING_JOB)


def billing_run(plugins: Iterable[ServicePlugin]) -> JobFunc:
    """Draft the periods that ended, finalise the drafts past their grace period, remind overdue
    invoices once (no automatic suspension: the billing administrator decides that)."""
    meters = meter_registry(plugins)

    async def run(ctx: JobContext) -> None:
        await service.run_invoices(ctx.session, now=ctx.now, meters=meters)
        await service.remind_overdue(
            ctx.session,
            today=ctx.now.astimezone(BANGKOK).date(),
            suspend_after_days=None,
            actor=SYSTEM,
            origin=Origin(),
        )

    return run


def billing_job(plugins: Iterable[ServicePlugin]) -> ScheduledJob:
    return ScheduledJob(name=BILLING_JOB, every=dt.timedelta(hours=1), run=billing_run(plugins))
