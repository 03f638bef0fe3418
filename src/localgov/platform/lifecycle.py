"""The life of a tenant after it exists (operator side): suspend, reactivate, close, export, purge.

States::

    active --suspend--> suspended --reactivate--> active
      |                     |
      +------close----------+--> closed --(purge_after passed and a close archive exists)--> schema dropped

A suspended LAO keeps all its data; its staff can still log in, see why (``/v1/tenant/status``)
and export. Closing is final: routing answers 410, the worker writes the closing export archive
(an outbox message written in the closing transaction), and once ``purge_after`` has passed
(``LOCALGOV_CLOSED_RETENTION_DAYS`` after closing) and a ``close`` archive is on disk and intact,
the scheduled job ``core.closed_tenant_purge`` drops the schema and deletes the LAO's stored files
from the blob store (their bytes are in the archive). The catalog row, its domains,
usage events and archives stay: billing and the archive outlive the schema.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from localgov.kernel.audit import Actor, Origin, record_audit
from localgov.kernel.db import quote_schema, set_search_path, validate_schema_name
from localgov.kernel.errors import Conflict, NotFound
from localgov.kernel.jobs import JobContext
from localgov.kernel.outbox import Delivery, OutboxEntry, enqueue
from localgov.kernel.plugins import DeliveryHandler, JobFunc
from localgov.kernel.storage import BlobStore, blob_store
from localgov.platform import export
from localgov.platform.models import Tenant, TenantArchive, TenantStatusCode
from localgov.settings import Settings

log = structlog.get_logger("localgov.lifecycle")

#: The outbox topic that makes the worker write an export archive (payload: reason, requested_by).
EXPORT_TOPIC = "platform.tenant_export"
PURGE_JOB = "core.closed_tenant_purge"
#: Schemas dropped per run at most: each drop locks every table of its schema until the commit.
#: A tenant still waiting for its closing archive is not due.
PURGE_BATCH = 10


class NoSuchTenant(NotFound):
    code = "tenant_not_found"
    title = "ไม่พบ อปท. นี้ / No such tenant"


class TenantWrongState(Conflict):
    code = "tenant_wrong_state"
    title = "สถานะของ อปท. ไม่อนุญาตให้ทำรายการนี้ / The tenant's status does not allow this"


class ArchiveNotFound(NotFound):
    code = "archive_not_found"
    title = "ไม่พบไฟล์ส่งออก / No such export archive"


def _wrong_state(tenant: Tenant, action: str, detail: str) -> TenantWrongState:
    return TenantWrongState(detail, data={"tenant_id": tenant.id, "status": tenant.status, "action": action})


async def get_tenant(session: AsyncSession, tenant_id: int, *, for_update: bool = False) -> Tenant:
    query = select(Tenant).where(Tenant.id == tenant_id)
    if for_update:
        query = query.with_for_update()
    tenant = (await session.execute(query)).scalar_one_or_none()
    if tenant is None:
        raise NoSuchTenant(data={"tenant_id": tenant_id})
    return tenant


async def _tenant_audit(
    session: AsyncSession, tenant: Tenant, action: str, *, actor: Actor, origin: Origin, data: dict[str, Any]
) -> None:
    """The same event in the LAO's own audit log, so its administrators see who did what and why."""
    await set_search_path(session, tenant.schema_name)
    await record_audit(session, action, actor=actor, origin=origin, target=f"tenant:{tenant.id}", data=data)
    await set_search_path(session, None)


async def _change_status(
    session: AsyncSession,
    tenant: Tenant,
    status: TenantStatusCode,
    *,
    action: str,
    reason: str | None,
    actor: Actor,
    origin: Origin,
    purge_after: dt.datetime | None = None,
) -> None:
    previous = tenant.status
    now = dt.datetime.now(dt.UTC)
    tenant.status = status
    tenant.status_reason = reason
    tenant.status_changed_at = now
    tenant.purge_after = purge_after
    tenant.updated_at = now
    await session.flush()  # the catalog trigger tells every process at commit
    data: dict[str, Any] = {"slug": tenant.slug, "from": previous, "to": status, "reason": reason}
    if purge_after is not None:
        data["purge_after"] = purge_after.isoformat()
    await record_audit(
        session, action, actor=actor, origin=origin, target=f"tenant:{tenant.id}", data=data, operator=True
    )
    await _tenant_audit(session, tenant, action, actor=actor, origin=origin, data=data)


async def suspend(session: AsyncSession, tenant_id: int, *, reason: str, actor: Actor, origin: Origin) -> Tenant:
    """Active → suspended: every tenant route refuses (403) except what staff need to see why and export."""
    tenant = await get_tenant(session, tenant_id, for_update=True)
    if tenant.status != "active":
        raise _wrong_state(tenant, "suspend", f"Only an active tenant can be suspended; this one is {tenant.status}.")
    await _change_status(
        session, tenant, "suspended", action="tenant.suspended", reason=reason, actor=actor, origin=origin
    )
    return tenant


async def reactivate(session: AsyncSession, tenant_id: int, *, actor: Actor, origin: Origin) -> Tenant:
    """Suspended → active. A closed tenant stays closed (closing is final)."""
    tenant = await get_tenant(session, tenant_id, for_update=True)
    if tenant.status != "suspended":
        raise _wrong_state(
            tenant, "reactivate", f"Only a suspended tenant can be reactivated; this one is {tenant.status}."
        )
    await _change_status(
        session, tenant, "active", action="tenant.reactivated", reason=None, actor=actor, origin=origin
    )
    return tenant


async def close(
    session: AsyncSession, tenant_id: int, *, reason: str, retention_days: int, actor: Actor, origin: Origin
) -> Tenant:
    """Active or suspended → closed; the closing export is queued in the same transaction."""
    tenant = await get_tenant(session, tenant_id, for_update=True)
    if tenant.status == "closed":
        raise _wrong_state(tenant, "close", "This tenant is already closed.")
    purge_after = dt.datetime.now(dt.UTC) + dt.timedelta(days=retention_days)
    await _change_status(
        session,
        tenant,
        "closed",
        action="tenant.closed",
        reason=reason,
        actor=actor,
        origin=origin,
        purge_after=purge_after,
    )
    await enqueue(
        session, EXPORT_TOPIC, {"reason": "close", "requested_by": f"{actor.kind}:{actor.id}"}, tenant_id=tenant.id
    )
    return tenant


async def request_export(session: AsyncSession, tenant_id: int, *, actor: Actor, origin: Origin) -> OutboxEntry:
    """Queue an export for the worker. For a closed tenant it is a ``close`` archive (nothing changes
    any more after closing), which also lets the operator redo a closing export that failed."""
    tenant = await get_tenant(session, tenant_id)
    if tenant.schema_dropped_at is not None:
        raise _wrong_state(tenant, "export", "The tenant's schema was dropped; its archives are all there is.")
    reason = "close" if tenant.status == "closed" else "request"
    entry = await enqueue(
        session, EXPORT_TOPIC, {"reason": reason, "requested_by": f"{actor.kind}:{actor.id}"}, tenant_id=tenant.id
    )
    await record_audit(
        session,
        "tenant.export_requested",
        actor=actor,
        origin=origin,
        target=f"tenant:{tenant.id}",
        data={"slug": tenant.slug, "reason": reason, "outbox_id": entry.id},
        operator=True,
    )
    return entry


async def list_archives(session: AsyncSession, tenant_id: int) -> list[TenantArchive]:
    query = select(TenantArchive).where(TenantArchive.tenant_id == tenant_id).order_by(TenantArchive.id)
    return list((await session.execute(query)).scalars().all())


async def get_archive(session: AsyncSession, tenant_id: int, archive_id: int) -> TenantArchive:
    """An archive of this tenant (another tenant's id is simply not found)."""
    archive = (
        await session.execute(
            select(TenantArchive).where(TenantArchive.id == archive_id, TenantArchive.tenant_id == tenant_id)
        )
    ).scalar_one_or_none()
    if archive is None:
        raise ArchiveNotFound(data={"tenant_id": tenant_id, "archive_id": archive_id})
    return archive


def existing_archive_path(settings: Settings, archive: TenantArchive) -> Path:
    """The file of a recorded archive (404 ``archive_not_found`` when it is no longer on disk)."""
    path = export.archive_path(settings.export_path, archive.file_name)
    if not path.is_file():
        raise ArchiveNotFound(
            "The archive is recorded but its file is not in the export folder.",
            data={"archive_id": archive.id, "file_name": archive.file_name},
        )
    return path


async def record_archive(
    session: AsyncSession, tenant_id: int, result: export.ArchiveResult, *, reason: str, created_by: str | None
) -> TenantArchive:
    archive = TenantArchive(
        tenant_id=tenant_id,
        reason=reason,
        file_name=result.file_name,
        size_bytes=result.size_bytes,
        sha256=result.sha256,
        row_counts=dict(result.row_counts),
        created_by=created_by,
    )
    session.add(archive)
    await session.flush()
    return archive


async def write_archive(
    engine: AsyncEngine, settings: Settings, tenant_id: int, *, reason: str, created_by: str | None, key: str
) -> export.ArchiveResult:
    """:func:`export.write_archive` into the configured export folder, with the stored files' bytes
    read from the configured blob store."""
    store = blob_store(settings)
    try:
        return await export.write_archive(
            engine,
            tenant_id,
            reason=reason,
            created_by=created_by,
            export_dir=settings.export_path,
            key=key,
            store=store,
        )
    finally:
        await store.aclose()


async def export_for_admin(
    engine: AsyncEngine, session: AsyncSession, settings: Settings, tenant_id: int, *, actor: Actor, origin: Origin
) -> tuple[export.ArchiveResult, TenantArchive]:
    """A fresh archive the LAO's administrator asked for: written, recorded and audited in its log."""
    created_by = f"{actor.kind}:{actor.id}"
    result = await write_archive(
        engine, settings, tenant_id, reason="request", created_by=created_by, key=uuid.uuid4().hex[:16]
    )
    archive = await record_archive(session, tenant_id, result, reason="request", created_by=created_by)
    await record_audit(
        session,
        "tenant.exported",
        actor=actor,
        origin=origin,
        target=f"archive:{archive.id}",
        data={"file_name": result.file_name, "bytes": result.size_bytes, "sha256": result.sha256},
    )
    return result, archive


async def archive_for_download(
    session: AsyncSession, settings: Settings, tenant_id: int, archive_id: int, *, actor: Actor, origin: Origin
) -> tuple[Tenant, TenantArchive, Path]:
    """An archive the operator downloads (audited in the operator's log), with its file on disk."""
    tenant = await get_tenant(session, tenant_id)
    archive = await get_archive(session, tenant_id, archive_id)
    path = existing_archive_path(settings, archive)
    await record_audit(
        session,
        "tenant.archive_downloaded",
        actor=actor,
        origin=origin,
        target=f"tenant:{tenant.id}",
        data={"archive_id": archive.id, "file_name": archive.file_name},
        operator=True,
    )
    return tenant, archive, path


def export_consumer(settings: Settings) -> DeliveryHandler:
    """Writes the archive an ``EXPORT_TOPIC`` message asks for; idempotent by the entry id."""

    async def handle(delivery: Delivery) -> None:
        tenant_id = delivery.entry.tenant_id
        if tenant_id is None:
            raise ValueError("an export message needs a tenant")
        reason = delivery.payload.get("reason")
        if reason not in ("close", "request"):
            raise ValueError(f"unknown export reason {reason!r}")
        created_by = delivery.payload.get("requested_by")
        tenant = await get_tenant(delivery.session, tenant_id)
        file_name = export.archive_file_name(tenant.schema_name, reason, f"o{delivery.id}")
        done = (
            await delivery.session.execute(select(TenantArchive.id).where(TenantArchive.file_name == file_name))
        ).first()
        if done is not None:
            return  # delivered before, but the "delivered" mark was lost: the archive is there
        engine = delivery.session.bind
        if not isinstance(engine, AsyncEngine):
            raise RuntimeError("the worker's session must be bound to an engine")
        result = await write_archive(
            engine, settings, tenant_id, reason=reason, created_by=created_by, key=f"o{delivery.id}"
        )
        archive = await record_archive(delivery.session, tenant_id, result, reason=reason, created_by=created_by)
        await record_audit(
            delivery.session,
            "tenant.archive_written",
            actor=Actor("system"),
            origin=Origin(),
            target=f"tenant:{tenant_id}",
            data={
                "archive_id": archive.id,
                "reason": reason,
                "file_name": result.file_name,
                "bytes": result.size_bytes,
            },
            operator=True,
        )
        log.info("tenant_archive_written", tenant_id=tenant_id, reason=reason, file_name=result.file_name)

    return handle


def _intact(path: Path, archive: TenantArchive) -> str | None:
    """Why the archive file cannot be trusted (None: it is there, with its size and digest)."""
    if not path.is_file():
        return "file missing"
    if path.stat().st_size != archive.size_bytes:
        return "size differs"
    if export.file_sha256(path) != archive.sha256:
        return "SHA-256 differs"
    return None


async def purge_closed_tenants(
    session: AsyncSession, *, export_dir: Path, now: dt.datetime, store: BlobStore
) -> list[str]:
    """Drop the schemas of closed tenants past ``purge_after`` that have an intact ``close`` archive,
    and their stored files' bytes in ``store``.

    Each drop runs in a savepoint under the schema's migration lock; returns the schemas dropped.
    A tenant without a usable archive is skipped (and logged): its data is never dropped unsaved.
    The blobs go after the drop (the archive holds their bytes); should the job's transaction then
    fail, the schema is dropped again at the next run and finding no blob left is no error.
    """
    has_archive = (
        select(TenantArchive.id).where(TenantArchive.tenant_id == Tenant.id, TenantArchive.reason == "close").exists()
    )
    due = (
        (
            await session.execute(
                select(Tenant)
                .where(
                    Tenant.status == "closed",
                    Tenant.schema_dropped_at.is_(None),
                    Tenant.purge_after <= now,
                    has_archive,
                )
                .order_by(Tenant.purge_after, Tenant.id)
                .with_for_update(skip_locked=True)
            )
        )
        .scalars()
        .all()
    )
    dropped: list[str] = []
    for tenant in due:
        if len(dropped) >= PURGE_BATCH:
            break  # the others at the next run (one whose archive is unusable never blocks them)
        archive = (
            await session.execute(
                select(TenantArchive)
                .where(TenantArchive.tenant_id == tenant.id, TenantArchive.reason == "close")
                .order_by(TenantArchive.id.desc())
                .limit(1)
            )
        ).scalar_one_or_none()
        if archive is None:  # pragma: no cover - the query asked for one
            continue
        problem = await asyncio.to_thread(_intact, export.archive_path(export_dir, archive.file_name), archive)
        if problem is not None:
            log.error("purge_archive_unusable", tenant_id=tenant.id, archive_id=archive.id, problem=problem)
            continue
        schema = validate_schema_name(tenant.schema_name)
        async with session.begin_nested():
            # The migration runner's lock: a migration of this schema is never half-way through.
            await session.execute(
                text("SELECT pg_advisory_xact_lock(hashtext('localgov:migrate:' || :s))"), {"s": schema}
            )
            await session.execute(text(f"DROP SCHEMA IF EXISTS {quote_schema(schema)} CASCADE"))
            await session.execute(
                update(Tenant).where(Tenant.id == tenant.id).values(schema_dropped_at=now, updated_at=func.now())
            )
            await record_audit(
                session,
                "tenant.schema_dropped",
                actor=Actor("system"),
                origin=Origin(),
                target=f"tenant:{tenant.id}",
                data={"slug": tenant.slug, "schema": schema, "archive_id": archive.id},
                operator=True,
            )
        dropped.append(schema)
        files = await store.delete_tenant(schema)
        log.info("tenant_schema_dropped", tenant_id=tenant.id, schema=schema, archive_id=archive.id, files=files)
    return dropped


def purge_job(settings: Settings) -> JobFunc:
    """The scheduled job ``core.closed_tenant_purge``."""

    async def run(ctx: JobContext) -> None:
        store = blob_store(settings)
        try:
            await purge_closed_tenants(ctx.session, export_dir=settings.export_path, now=ctx.now, store=store)
        finally:
            await store.aclose()

    return run
