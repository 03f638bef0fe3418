"""The transactional outbox: messages written with the business change, delivered at least once.

``enqueue`` adds a row in the caller's transaction, so a message exists exactly when the change
that caused it was committed. The worker claims due rows with ``FOR UPDATE SKIP LOCKED`` (many
workers never take the same row), runs the consumer of the topic inside a savepoint of the
claiming transaction, and marks the row delivered, or schedules a retry with exponential
backoff, or after the last attempt moves it to the ``dead`` state with the last error.

A consumer's own database writes commit atomically with the "delivered" mark. Effects outside
the database may repeat if a worker dies after them: every consumer must be idempotent (the
entry id is the natural deduplication key).

An entry is routed by its topic, and for events (:mod:`localgov.kernel.events`) also by its
``consumer``: an entry without a consumer goes to the one handler of its topic; an entry with a
consumer goes to that subscriber's handler of the event. ``enqueue(..., not_before=)`` delays an
entry: it is never claimed before that moment.

This module imports nothing of the plugin contract (:mod:`localgov.kernel.plugins` is built on
top of it).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any

import structlog
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Text,
    delete,
    func,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from localgov.kernel.db import SharedBase, bind_session, session_binding, set_search_path
from localgov.kernel.tenancy import TenantInfo
from localgov.settings import Settings

log = structlog.get_logger("localgov.outbox")


class OutboxEntry(SharedBase):
    """A message to deliver after its transaction commits."""

    __tablename__ = "outbox"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'delivered', 'dead')", name="status"),
        Index("ix_outbox_due", "available_at", "id", postgresql_where=text("status = 'pending'")),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    tenant_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("platform.tenants.id", ondelete="CASCADE"), index=True
    )
    topic: Mapped[str] = mapped_column(String(100))
    #: The subscriber (a plugin's slug) an event's copy is for; None: the topic's one handler.
    consumer: Mapped[str | None] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(16), server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    available_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    delivered_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


#: Workers LISTEN here; a commit that wrote the outbox wakes them at once instead of at their next poll.
CHANNEL = "localgov_outbox"
_NOTIFY = text(f"SELECT pg_notify('{CHANNEL}', '')")


async def enqueue(
    session: AsyncSession,
    topic: str,
    payload: dict[str, Any],
    *,
    tenant_id: int | None,
    not_before: dt.datetime | None = None,
) -> OutboxEntry:
    """Write a message in the caller's transaction (listening workers are notified at its commit).

    ``not_before`` (an aware datetime) delays it: no worker claims it before that moment.
    """
    return await add_entry(session, topic, payload, tenant_id=tenant_id, not_before=not_before)


async def add_entry(
    session: AsyncSession,
    topic: str,
    payload: dict[str, Any],
    *,
    tenant_id: int | None,
    consumer: str | None = None,
    not_before: dt.datetime | None = None,
) -> OutboxEntry:
    """:func:`enqueue` with a consumer (used for the copies of an event, one per subscriber)."""
    entry = OutboxEntry(topic=topic, payload=payload, tenant_id=tenant_id, consumer=consumer)
    if not_before is not None:
        if not_before.tzinfo is None or not_before.utcoffset() is None:
            raise ValueError("not_before must be an aware datetime (with a time zone)")
        entry.available_at = not_before
    session.add(entry)
    await session.flush()
    if not_before is None or not_before <= dt.datetime.now(dt.UTC):
        # PostgreSQL folds identical notifications of one transaction into one, sent only on
        # commit. A delayed entry wakes nobody: the poll finds it when it is due.
        await session.execute(_NOTIFY)
    return entry


class Delivery:
    """What a consumer receives: the entry, and the claiming transaction to write in."""

    def __init__(
        self,
        entry: OutboxEntry,
        session: AsyncSession,
        tenant_schemas: Mapping[int, str],
        *,
        settings: Settings | None = None,
        tenants: Mapping[int, TenantInfo] | None = None,
    ) -> None:
        self.entry = entry
        self.session = session
        self._tenant_schemas = tenant_schemas
        #: The worker's settings (None when the caller gave none): what a consumer needs to build a
        #: link for people (``settings.public_url(path, slug=delivery.tenant.slug)``).
        self.settings = settings
        self._tenants = tenants or {}

    @property
    def tenant(self) -> TenantInfo | None:
        """The entry's tenant as the catalog knows it (None: no tenant, or the caller gave no catalog)."""
        return None if self.entry.tenant_id is None else self._tenants.get(self.entry.tenant_id)

    @property
    def id(self) -> int:
        return self.entry.id

    @property
    def topic(self) -> str:
        return self.entry.topic

    @property
    def consumer(self) -> str | None:
        return self.entry.consumer

    @property
    def tenant_id(self) -> int | None:
        return self.entry.tenant_id

    @property
    def payload(self) -> dict[str, Any]:
        return self.entry.payload

    async def use_tenant_schema(self) -> None:
        """Point this transaction at the entry's tenant schema (for consumers that write tenant rows);
        until the delivery ends the session also counts as the tenant's, so a consumer may meter
        usage and queue notifications (:func:`deliver_batch` restores the binding after it)."""
        if self.entry.tenant_id is None:
            raise RuntimeError("this outbox entry has no tenant")
        schema = self._tenant_schemas[self.entry.tenant_id]
        await set_search_path(self.session, schema)
        bind_session(self.session, self.entry.tenant_id, schema)


#: An outbox consumer. It must be idempotent (the entry id is its natural deduplication key).
DeliveryHandler = Callable[[Delivery], Awaitable[None]]


class NoConsumer(Exception):
    """No plugin consumes this topic (or the entry's subscriber has no handler for it)."""


def backoff(attempts: int) -> dt.timedelta:
    """Delay before retry number ``attempts`` (1-based): 2 s, 4 s, 8 s … capped at one hour."""
    return dt.timedelta(seconds=min(2**attempts, 3600))


async def deliver_batch(
    session: AsyncSession,
    handlers: Mapping[str, DeliveryHandler],
    tenant_schemas: Mapping[int, str],
    *,
    batch_size: int,
    max_attempts: int,
    only: Collection[str] | None = None,
    skip: Collection[str] = (),
    subscribers: Mapping[str, Mapping[str, DeliveryHandler]] | None = None,
    settings: Settings | None = None,
    tenants: Mapping[int, TenantInfo] | None = None,
) -> int:
    """Claim and deliver up to ``batch_size`` due entries in the session's transaction.

    ``handlers`` serve entries without a consumer, by topic; ``subscribers`` (event code ->
    consumer -> handler) serve the copies of events. ``only`` limits the claim to those topics,
    ``skip`` leaves those topics to another call. ``settings`` and ``tenants`` (the catalog by id)
    are handed to each :class:`Delivery` (links for people in a consumer's messages).
    """
    by_event = subscribers or {}
    query = select(OutboxEntry).where(OutboxEntry.status == "pending", OutboxEntry.available_at <= func.now())
    if only is not None:
        query = query.where(OutboxEntry.topic.in_(sorted(only)))
    if skip:
        query = query.where(OutboxEntry.topic.not_in(sorted(skip)))
    rows = (
        (
            await session.execute(
                query.order_by(OutboxEntry.available_at, OutboxEntry.id)
                .limit(batch_size)
                .with_for_update(skip_locked=True)
            )
        )
        .scalars()
        .all()
    )
    for entry in rows:
        if entry.consumer is None:
            handler = handlers.get(entry.topic)
        else:
            handler = by_event.get(entry.topic, {}).get(entry.consumer)
        binding = session_binding(session)
        try:
            async with session.begin_nested():
                if handler is None:
                    whose = f" of subscriber {entry.consumer!r}" if entry.consumer is not None else ""
                    raise NoConsumer(f"no consumer{whose} for topic {entry.topic!r}")
                await handler(Delivery(entry, session, tenant_schemas, settings=settings, tenants=tenants))
        except Exception as exc:
            bind_session(session, *binding)
            entry.attempts += 1
            entry.last_error = f"{type(exc).__name__}: {exc}"[:4000]
            # No consumer is retried like any failure: during a rolling deploy an old worker may
            # claim a topic that only the new code consumes.
            if entry.attempts >= max_attempts:
                entry.status = "dead"
                log.error(
                    "outbox_dead",
                    entry_id=entry.id,
                    topic=entry.topic,
                    consumer=entry.consumer,
                    error=entry.last_error,
                )
            else:
                entry.available_at = dt.datetime.now(dt.UTC) + backoff(entry.attempts)
                log.warning(
                    "outbox_retry",
                    entry_id=entry.id,
                    topic=entry.topic,
                    consumer=entry.consumer,
                    attempts=entry.attempts,
                )
            # A consumer may have moved the search path; the next one starts from the void schema.
            await set_search_path(session, None)
            continue
        bind_session(session, *binding)
        await set_search_path(session, None)
        entry.status = "delivered"
        entry.attempts += 1
        entry.delivered_at = dt.datetime.now(dt.UTC)
    await session.flush()
    return len(rows)


async def purge_delivered(session: AsyncSession, older_than: dt.timedelta) -> int:
    """Delete delivered entries older than ``older_than``; dead ones are kept for inspection."""
    cutoff = dt.datetime.now(dt.UTC) - older_than
    result = await session.execute(
        delete(OutboxEntry).where(OutboxEntry.status == "delivered", OutboxEntry.delivered_at < cutoff)
    )
    return int(getattr(result, "rowcount", 0) or 0)
