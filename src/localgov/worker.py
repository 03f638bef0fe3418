"""``localgov worker``: delivers the outbox and runs scheduled jobs until told to stop."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import signal
from collections.abc import Sequence
from typing import Any

import asyncpg
import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from localgov.app import plugin_dsn
from localgov.identity.staff import add_tenant_admin
from localgov.kernel.db import create_engine, session_factory, tenant_session
from localgov.kernel.dns import DnsPythonResolver, parse_nameservers
from localgov.kernel.events import fan_out_handlers
from localgov.kernel.idempotency import OPERATOR_PURGE_JOB as OPERATOR_IDEMPOTENCY_PURGE_JOB
from localgov.kernel.idempotency import PURGE_JOB as IDEMPOTENCY_PURGE_JOB
from localgov.kernel.jobs import JobContext, register_jobs, run_due_jobs
from localgov.kernel.mail import MAIL_TOPIC, mail_consumer
from localgov.kernel.notifications import NOTIFICATION_TOPIC, notification_consumer
from localgov.kernel.outbox import CHANNEL as OUTBOX_CHANNEL
from localgov.kernel.outbox import deliver_batch, purge_delivered
from localgov.kernel.plugins import (
    DeliveryHandler,
    ScheduledJob,
    ServicePlugin,
    declared_events,
    register_plugin_case_types,
    routes,
)
from localgov.kernel.ratelimit import purge_expired
from localgov.kernel.webhooks import CONSUMER as WEBHOOKS_CONSUMER
from localgov.kernel.webhooks import DELIVER_TOPIC as WEBHOOK_DELIVER_TOPIC
from localgov.kernel.webhooks import PURGE_JOB as WEBHOOKS_PURGE_JOB
from localgov.kernel.webhooks import delivery_consumer as webhook_delivery_consumer
from localgov.kernel.webhooks import event_consumer as webhook_event_consumer
from localgov.kernel.webhooks import public_events_of, register_public_events
from localgov.platform.billing.events import EVENT_CODES as BILLING_EVENT_CODES
from localgov.platform.billing.jobs import LEVELS as BILLING_LEVELS
from localgov.platform.billing.jobs import billing_job
from localgov.platform.catalog import Catalog, CatalogListener
from localgov.platform.lifecycle import EXPORT_TOPIC, PURGE_JOB, export_consumer, purge_job
from localgov.platform.signup import PROVISION_TOPIC, expire_unverified, provision_consumer
from localgov.platform.tenant_admin import domain_recheck_job
from localgov.settings import Settings

log = structlog.get_logger("localgov.worker")


async def _purge_outbox(ctx: JobContext) -> None:
    removed = await purge_delivered(ctx.session, dt.timedelta(days=7))
    log.info("outbox_purged", removed=removed)


#: Jobs of the platform itself (plugins bring their own).
async def _purge_rate_limits(ctx: JobContext) -> None:
    # Windows are at most minutes long; a day-old bucket can only be stale.
    removed = await purge_expired(ctx.session, dt.timedelta(days=1))
    log.info("rate_limit_buckets_purged", removed=removed)


async def _expire_signups(ctx: JobContext) -> None:
    expired = await expire_unverified(ctx.session)
    log.info("signup_requests_expired", expired=expired)


#: A per-tenant core job runs for every active tenant (a plugin's, for those that enabled it).
CORE_JOBS: tuple[ScheduledJob, ...] = (
    ScheduledJob(name="core.outbox_purge", every=dt.timedelta(hours=6), run=_purge_outbox),
    ScheduledJob(name="core.rate_limit_purge", every=dt.timedelta(hours=6), run=_purge_rate_limits),
    ScheduledJob(name="core.signup_expiry", every=dt.timedelta(hours=1), run=_expire_signups),
    IDEMPOTENCY_PURGE_JOB,
    OPERATOR_IDEMPOTENCY_PURGE_JOB,
    WEBHOOKS_PURGE_JOB,
)


def core_jobs(settings: Settings, plugins: Sequence[ServicePlugin] = ()) -> tuple[ScheduledJob, ...]:
    """``CORE_JOBS`` and the platform's jobs that need the settings (or the plugins' meters)."""
    # Hourly is plenty for a retention counted in days; each run drops a bounded number of schemas.
    return (
        *CORE_JOBS,
        ScheduledJob(name=PURGE_JOB, every=dt.timedelta(hours=1), run=purge_job(settings)),
        billing_job(plugins, suspend_after_days=settings.billing_suspend_after_days or None),
        BILLING_LEVELS,
        domain_recheck_job(
            DnsPythonResolver(parse_nameservers(settings.dns_nameservers), timeout_s=settings.dns_timeout_s),
            dt.timedelta(hours=settings.domain_recheck_hours),
        ),
    )


#: Topics whose consumers send outside the database (SMTP, SMS, LINE): one entry per transaction.
SENDING_TOPICS = frozenset({MAIL_TOPIC, NOTIFICATION_TOPIC, WEBHOOK_DELIVER_TOPIC})


def core_handlers(settings: Settings, plugins: Sequence[ServicePlugin] = ()) -> dict[str, DeliveryHandler]:
    """Outbox consumers of the platform itself (plugins bring their own): mail, notifications,
    signup provisioning, export archives."""
    return {
        MAIL_TOPIC: mail_consumer(settings),
        NOTIFICATION_TOPIC: notification_consumer(settings),
        PROVISION_TOPIC: provision_consumer(settings, plugins, add_tenant_admin),
        EXPORT_TOPIC: export_consumer(settings),
        WEBHOOK_DELIVER_TOPIC: webhook_delivery_consumer(settings),
    }


class Worker:
    """One worker process. Several may run at once: rows are claimed with SKIP LOCKED."""

    def __init__(self, settings: Settings, plugins: Sequence[ServicePlugin]) -> None:
        self.settings = settings
        self.plugins = plugins
        register_plugin_case_types(plugins)  # timers act on the cases of the plugins run
        register_public_events(plugins)
        topics, self.subscribers = routes(plugins)
        #: Every public event also gets a copy for the webhooks (whatever services subscribe to it).
        public_codes = [p.code for p in public_events_of(plugins).values()]
        for code in public_codes:
            self.subscribers.setdefault(code, {})[WEBHOOKS_CONSUMER] = webhook_event_consumer()
        #: Enabled services by tenant id, refreshed from the catalog at each tick: an event is
        #: copied to the subscribers whose service its tenant enabled.
        self._tenant_services: dict[int, frozenset[str]] = {}
        self.handlers: dict[str, DeliveryHandler] = {
            **core_handlers(settings, plugins),
            **topics,
            **fan_out_handlers(
                self.subscribers,
                [*declared_events(plugins), *BILLING_EVENT_CODES],
                self._tenant_services.get,
                always={code: (WEBHOOKS_CONSUMER,) for code in public_codes},
            ),
        }
        core = core_jobs(settings, plugins)
        self.jobs: list[ScheduledJob] = [*core, *(job for p in plugins for job in p.jobs)]
        #: The service whose enabled tenants run a per-tenant job; None: every active tenant (core).
        self._job_service: dict[str, str | None] = {job.name: None for job in core if job.per_tenant}
        self._job_service.update({job.name: p.slug for p in plugins for job in p.jobs})
        #: Delivered one per transaction: a tenant provisioned is live without waiting for a batch,
        #: and a mail or notification sent is recorded as sent before the next one goes out (a
        #: worker that dies mid-batch would otherwise send every message of the batch again).
        self.solo_topics = frozenset({PROVISION_TOPIC, EXPORT_TOPIC, *SENDING_TOPICS}).union(
            *(p.solo_topics for p in plugins)
        )
        self.stopping = asyncio.Event()
        #: Set by a NOTIFY on the outbox channel (or by stop): ends the pause between polls early.
        self._nudge = asyncio.Event()

    def stop(self) -> None:
        self.stopping.set()
        self._nudge.set()

    async def _listen(self) -> None:
        """Wake the loop when a transaction that wrote the outbox commits (polling stays the safety net)."""
        while not self.stopping.is_set():
            conn: Any = None
            try:
                conn = await asyncpg.connect(
                    plugin_dsn(self.settings), server_settings={"application_name": "localgov-worker-listen"}
                )
                await conn.add_listener(OUTBOX_CHANNEL, lambda *_args: self._nudge.set())
                while not conn.is_closed() and not self.stopping.is_set():
                    with contextlib.suppress(TimeoutError):  # look at the connection every second
                        await asyncio.wait_for(self.stopping.wait(), timeout=1.0)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("outbox_listener_error", exc_info=True)
                await asyncio.sleep(1.0)
            finally:
                if conn is not None and not conn.is_closed():
                    await conn.close()

    async def run(self) -> None:
        engine = create_engine(self.settings, pool_size=2, max_overflow=2)
        factory = session_factory(engine)
        catalog = Catalog(self.settings.base_domain)
        listener = CatalogListener(catalog, engine, plugin_dsn(self.settings), self.settings.catalog_refresh_s)
        await listener.start()
        wake = asyncio.create_task(self._listen(), name="outbox-listener")
        try:
            async with tenant_session(factory, None) as session:
                await register_jobs(session, self.jobs)
            log.info(
                "worker_started",
                handlers=sorted(self.handlers),
                subscriptions={event: sorted(subs) for event, subs in sorted(self.subscribers.items())},
                jobs=[j.name for j in self.jobs],
            )
            failures = 0
            while not self.stopping.is_set():
                try:
                    delivered = await self.tick(factory, catalog)
                    failures = 0
                except Exception:
                    # A database restart or a batch that cannot commit must not end the worker:
                    # log it, back off (up to a minute) and try again.
                    failures += 1
                    log.exception("worker_tick_failed", failures=failures)
                    delivered = 0
                if delivered == 0:
                    pause = min(
                        self.settings.worker_poll_s * 2 ** min(failures, 10), max(60.0, self.settings.worker_poll_s)
                    )
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._nudge.wait(), timeout=pause)
                self._nudge.clear()
        finally:
            wake.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await wake
            await listener.stop()
            await engine.dispose()
            log.info("worker_stopped")

    async def tick(self, factory: async_sessionmaker[AsyncSession], catalog: Catalog) -> int:
        """Deliver one batch and run due jobs; returns how many outbox entries were handled."""
        tenants = catalog.all()
        schemas = {t.id: t.schema for t in tenants}
        by_id = {t.id: t for t in tenants}
        self._tenant_services.clear()
        self._tenant_services.update({t.id: t.enabled_services for t in tenants})
        handled = 0
        for _ in range(self.settings.worker_batch_size):  # long work first, each committed alone
            async with tenant_session(factory, None) as session:
                solo = await deliver_batch(
                    session,
                    self.handlers,
                    schemas,
                    batch_size=1,
                    max_attempts=self.settings.outbox_max_attempts,
                    only=self.solo_topics,
                    subscribers=self.subscribers,
                    settings=self.settings,
                    tenants=by_id,
                )
            handled += solo
            if not solo or self.stopping.is_set():
                break
        async with tenant_session(factory, None) as session:
            handled += await deliver_batch(
                session,
                self.handlers,
                schemas,
                batch_size=self.settings.worker_batch_size,
                max_attempts=self.settings.outbox_max_attempts,
                skip=self.solo_topics,
                subscribers=self.subscribers,
                settings=self.settings,
                tenants=by_id,
            )
        if self.stopping.is_set():
            return handled  # told to stop: no new job run starts
        active = [t for t in catalog.all() if t.status == "active"]
        tenants_for_job = {
            name: [t for t in active if slug is None or slug in t.enabled_services]
            for name, slug in self._job_service.items()
        }
        await run_due_jobs(factory, self.jobs, tenants_for_job, settings=self.settings)
        return handled


def run_worker(settings: Settings, plugins: Sequence[ServicePlugin] | None = None) -> None:
    if plugins is None:
        from localgov.plugins import REGISTRY

        plugins = REGISTRY
    worker = Worker(settings, plugins)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, worker.stop)
        await worker.run()

    asyncio.run(main())
