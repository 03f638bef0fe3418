"""Subscriptions, messages, deliveries and their attempts (see the package's doc)."""

from __future__ import annotations

import datetime as dt
import re
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import msgspec
import structlog
from sqlalchemy import String, Uuid, bindparam, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel import egress
from localgov.kernel.audit import Actor, Origin, record_audit
from localgov.kernel.auth.keys import decrypt_private, encrypt_private
from localgov.kernel.errors import Conflict, DomainError, NotFound
from localgov.kernel.events import EventType
from localgov.kernel.jobs import JobContext, ScheduledJob
from localgov.kernel.outbox import Delivery, DeliveryHandler, enqueue
from localgov.kernel.pagination import after_key
from localgov.kernel.plugins import Scope, ServicePlugin
from localgov.kernel.reads import Reader, fetch_all, fetch_one
from localgov.kernel.webhooks import signature
from localgov.kernel.webhooks.models import (
    DeliveryStatus,
    EndpointStatus,
    OwnerKind,
    Trigger,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookMessage,
)
from localgov.settings import Settings

log = structlog.get_logger("localgov.webhooks")

#: The consumer name of an event's copy for the webhooks (the worker's fan-out always makes it).
CONSUMER = "webhooks"
#: The outbox topic of one delivery attempt (payload ``{"delivery_id", "trigger"}``).
DELIVER_TOPIC = "webhook.deliver"
MANAGE_SCOPE = "webhooks.manage"
#: The scopes the kernel offers every LAO's API clients (whichever services are enabled).
SCOPES = (
    Scope(
        code=MANAGE_SCOPE,
        title_th="จัดการการแจ้งเหตุการณ์ผ่านเว็บฮุก (webhook)",
        title_en="Manage webhook subscriptions and read their delivery log",
    ),
)
#: Endpoints an LAO may have (all owners together).
MAX_ENDPOINTS = 50
#: How long the previous secret keeps signing after a rotation (default).
ROTATION_OVERLAP = dt.timedelta(hours=24)
#: How much of a response body the delivery log keeps.
EXCERPT_BYTES = 2048
USER_AGENT = "localgov-webhooks/1"
_SECRET_KIND = "webhooks.endpoint_secret"  # noqa: S105 (a label, not a secret)
PUBLIC_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")


# --- the public events -------------------------------------------------------------------------------


class PublicEvent(msgspec.Struct, frozen=True, kw_only=True):
    """An event integrators may subscribe to: its public name and the service that publishes it."""

    name: str
    code: str
    service: str
    title_th: str
    title_en: str


_PUBLIC: dict[str, PublicEvent] = {}
_BY_CODE: dict[str, PublicEvent] = {}


def public_events_of(plugins: Iterable[ServicePlugin]) -> dict[str, PublicEvent]:
    """Every event a plugin marked public (``EventType.webhook``), by public name."""
    out: dict[str, PublicEvent] = {}
    for plugin in plugins:
        for event in plugin.events:
            if event.webhook is None:
                continue
            if event.webhook in out:
                raise ValueError(f"webhook event name {event.webhook!r} is declared twice")
            out[event.webhook] = _public(plugin.slug, event)
    return out


def _public(slug: str, event: EventType[Any]) -> PublicEvent:
    assert event.webhook is not None
    return PublicEvent(
        name=event.webhook, code=event.code, service=slug, title_th=event.title_th, title_en=event.title_en
    )


def register_public_events(plugins: Iterable[ServicePlugin]) -> None:
    """Make the plugins' public events known (the composition roots: the app and the worker)."""
    found = public_events_of(plugins)
    _PUBLIC.clear()
    _PUBLIC.update(found)
    _BY_CODE.clear()
    _BY_CODE.update({p.code: p for p in found.values()})


def public_events(enabled_services: Iterable[str]) -> list[PublicEvent]:
    """The public events of the services an LAO enabled, by name."""
    enabled = set(enabled_services)
    return sorted((p for p in _PUBLIC.values() if p.service in enabled), key=lambda p: p.name)


def public_event_codes() -> dict[str, PublicEvent]:
    """Registered public events by their internal code (``payments.bill_paid``)."""
    return dict(_BY_CODE)


# --- errors ------------------------------------------------------------------------------------------


class EndpointNotFound(NotFound):
    code = "webhook_endpoint_not_found"
    title = "ไม่พบปลายทางเว็บฮุก (No such webhook endpoint)"


class DeliveryNotFound(NotFound):
    code = "webhook_delivery_not_found"
    title = "ไม่พบรายการส่งเว็บฮุก (No such webhook delivery)"


class UnknownEventType(DomainError):
    code = "webhook_event_unknown"
    status = 422
    title = "ไม่มีเหตุการณ์นี้ให้สมัครรับ (Not an event this LAO publishes)"


class TooManyEndpoints(Conflict):
    code = "webhook_endpoint_limit"
    title = "ปลายทางเว็บฮุกครบจำนวนแล้ว (Too many webhook endpoints)"


class EndpointDisabled(Conflict):
    code = "webhook_endpoint_disabled"
    title = "ปลายทางเว็บฮุกถูกปิดอยู่ (The webhook endpoint is disabled)"


# --- who manages what ----------------------------------------------------------------------------------


class Owner(msgspec.Struct, frozen=True, kw_only=True):
    """The caller as the webhooks see it: an API client sees its own endpoints only; the LAO's
    administrators (``admin``) see and manage every endpoint of the LAO."""

    kind: OwnerKind
    id: str
    admin: bool = False


_E = WebhookEndpoint.__table__.c
_D = WebhookDelivery.__table__.c
_M = WebhookMessage.__table__.c
_A = WebhookAttempt.__table__.c


def _visible(query: Any, owner: Owner) -> Any:
    if owner.admin:
        return query
    return query.where(_E.owner_kind == owner.kind, _E.owner_id == owner.id)


def _seal(secret_key: str, secret: str) -> bytes:
    return encrypt_private(secret_key, {"kind": _SECRET_KIND, "secret": secret})


def _unseal(secret_key: str, blob: bytes) -> str:
    data = decrypt_private(secret_key, blob)
    if data.get("kind") != _SECRET_KIND or not isinstance(data.get("secret"), str):
        raise ValueError("not a webhook endpoint secret")
    return str(data["secret"])


def signing_secrets(row: Mapping[str, Any], secret_key: str, now: dt.datetime) -> list[str]:
    """The secrets that sign now: the current one, and the previous one until its overlap ends."""
    out = [_unseal(secret_key, row["secret"])]
    if row["previous_secret"] is not None and row["previous_until"] is not None and now < row["previous_until"]:
        out.append(_unseal(secret_key, row["previous_secret"]))
    return out


# --- endpoints -------------------------------------------------------------------------------------------


class WebhookEndpointRead(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    url: str
    description: str | None
    event_types: list[str]
    status: EndpointStatus
    disabled_reason: str | None
    owner_kind: OwnerKind
    owner_id: str
    #: Until when the previous secret still signs (null: no rotation in progress).
    previous_secret_until: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


_ENDPOINT_COLUMNS = (
    _E.id,
    _E.url,
    _E.description,
    _E.event_types,
    _E.status,
    _E.disabled_reason,
    _E.owner_kind,
    _E.owner_id,
    _E.previous_until.label("previous_secret_until"),
    _E.created_at,
    _E.updated_at,
)


def _endpoint_view(row: Mapping[str, Any]) -> WebhookEndpointRead:
    return WebhookEndpointRead(**{k: row[k] for k in WebhookEndpointRead.__struct_fields__})


def _check_event_types(requested: Iterable[str], enabled_services: Iterable[str]) -> list[str]:
    offered = {p.name for p in public_events(enabled_services)}
    wanted = sorted(set(requested))
    unknown = [t for t in wanted if t not in offered]
    if unknown or not wanted:
        raise UnknownEventType(
            f"Not offered by this LAO: {', '.join(unknown) or '(none given)'}.",
            data={"unknown": unknown, "available": sorted(offered)},
        )
    return wanted


async def create_endpoint(
    session: AsyncSession,
    *,
    url: str,
    description: str | None,
    event_types: Iterable[str],
    owner: Owner,
    enabled_services: Iterable[str],
    policy: egress.EgressPolicy,
    secret_key: str,
    actor: Actor,
    origin: Origin,
    resolver: egress.Resolver | None = None,
) -> tuple[WebhookEndpointRead, str]:
    """Subscribe ``url`` to ``event_types`` (checked against SSRF now, and again at every call);
    returns it and its secret (shown once)."""
    types = _check_event_types(event_types, enabled_services)
    await egress.check_destination(url, policy, resolver)
    count = await session.scalar(select(func.count()).select_from(WebhookEndpoint))
    if (count or 0) >= MAX_ENDPOINTS:
        raise TooManyEndpoints(f"An LAO has at most {MAX_ENDPOINTS} webhook endpoints.")
    secret = signature.new_secret()
    new_id = await session.scalar(
        insert(WebhookEndpoint)
        .values(
            url=url,
            description=description,
            event_types=types,
            owner_kind=owner.kind,
            owner_id=owner.id,
            secret=_seal(secret_key, secret),
        )
        .returning(_E.id)
    )
    row = await fetch_one(session, select(*_ENDPOINT_COLUMNS).where(_E.id == new_id))
    assert row is not None
    await record_audit(
        session,
        "webhooks.endpoint_created",
        actor=actor,
        origin=origin,
        target=str(new_id),
        data={"url": url, "event_types": types, "owner": f"{owner.kind}:{owner.id}"},
    )
    return _endpoint_view(row), secret


async def list_endpoints(
    reader: Reader, owner: Owner, *, after: tuple[dt.datetime, uuid.UUID] | None = None, limit: int | None = None
) -> list[WebhookEndpointRead]:
    """Oldest first; ``after`` = the last endpoint's (created_at, id); ``limit`` rows at most (all if None)."""
    query = _visible(select(*_ENDPOINT_COLUMNS), owner)
    if after is not None:
        query = query.where(after_key((_E.created_at, _E.id), after))
    query = query.order_by(_E.created_at, _E.id)
    if limit is not None:
        query = query.limit(limit)
    return [_endpoint_view(r) for r in await fetch_all(reader, query)]


async def get_endpoint(reader: Reader, endpoint_id: uuid.UUID, owner: Owner) -> WebhookEndpointRead:
    row = await fetch_one(reader, _visible(select(*_ENDPOINT_COLUMNS).where(_E.id == endpoint_id), owner))
    if row is None:
        raise EndpointNotFound(data={"endpoint_id": str(endpoint_id)})
    return _endpoint_view(row)


async def _lock_endpoint(session: AsyncSession, endpoint_id: uuid.UUID, owner: Owner) -> WebhookEndpoint:
    query = select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id).with_for_update()
    if not owner.admin:
        query = query.where(WebhookEndpoint.owner_kind == owner.kind, WebhookEndpoint.owner_id == owner.id)
    found = (await session.execute(query)).scalar_one_or_none()
    if found is None:
        raise EndpointNotFound(data={"endpoint_id": str(endpoint_id)})
    return found


async def update_endpoint(
    session: AsyncSession,
    endpoint_id: uuid.UUID,
    *,
    owner: Owner,
    url: str | None,
    description: str | msgspec.UnsetType | None,
    event_types: list[str] | None,
    status: EndpointStatus | None,
    enabled_services: Iterable[str],
    policy: egress.EgressPolicy,
    actor: Actor,
    origin: Origin,
    resolver: egress.Resolver | None = None,
) -> WebhookEndpointRead:
    row = await _lock_endpoint(session, endpoint_id, owner)
    changed: dict[str, Any] = {}
    if url is not None and url != row.url:
        await egress.check_destination(url, policy, resolver)
        row.url = changed["url"] = url
    if not isinstance(description, msgspec.UnsetType) and description != row.description:
        row.description = changed["description"] = description
    if event_types is not None:
        types = _check_event_types(event_types, enabled_services)
        if types != sorted(row.event_types):
            row.event_types = changed["event_types"] = types
    if status is not None and status != row.status:
        row.status = changed["status"] = status
        row.disabled_reason = "manual" if status == "disabled" else None
    if changed:
        await session.flush()
        await record_audit(
            session, "webhooks.endpoint_updated", actor=actor, origin=origin, target=str(endpoint_id), data=changed
        )
    return await get_endpoint(session, endpoint_id, owner)


async def delete_endpoint(
    session: AsyncSession, endpoint_id: uuid.UUID, *, owner: Owner, actor: Actor, origin: Origin
) -> None:
    row = await _lock_endpoint(session, endpoint_id, owner)
    await session.delete(row)
    await session.flush()
    await record_audit(
        session, "webhooks.endpoint_deleted", actor=actor, origin=origin, target=str(endpoint_id), data={"url": row.url}
    )


async def rotate_secret(
    session: AsyncSession,
    endpoint_id: uuid.UUID,
    *,
    owner: Owner,
    secret_key: str,
    overlap: dt.timedelta,
    actor: Actor,
    origin: Origin,
) -> tuple[WebhookEndpointRead, str]:
    """A new secret signs from now on; the current one also signs until ``now + overlap`` (both
    signatures on every request meanwhile). ``overlap`` zero: the old secret stops at once."""
    row = await _lock_endpoint(session, endpoint_id, owner)
    secret = signature.new_secret()
    now = dt.datetime.now(dt.UTC)
    if overlap > dt.timedelta(0):
        row.previous_secret = row.secret
        row.previous_until = now + overlap
    else:
        row.previous_secret = None
        row.previous_until = None
    row.secret = _seal(secret_key, secret)
    await session.flush()
    await record_audit(
        session,
        "webhooks.secret_rotated",
        actor=actor,
        origin=origin,
        target=str(endpoint_id),
        data={"overlap_s": int(overlap.total_seconds())},
    )
    return await get_endpoint(session, endpoint_id, owner), secret


# --- deliveries (read) ---------------------------------------------------------------------------------------


class WebhookAttemptRead(msgspec.Struct, frozen=True, kw_only=True):
    attempt: int
    trigger: Trigger
    started_at: dt.datetime
    duration_ms: int
    response_status: int | None
    response_excerpt: str | None
    error: str | None


class WebhookDeliveryRead(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    endpoint_id: uuid.UUID
    message_id: str
    event_type: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: dt.datetime | None
    last_status: int | None
    created_at: dt.datetime
    updated_at: dt.datetime


class WebhookDeliveryDetail(msgspec.Struct, frozen=True, kw_only=True):
    delivery: WebhookDeliveryRead
    #: The body as sent (the same bytes' JSON in every attempt).
    payload: dict[str, Any]
    attempts: list[WebhookAttemptRead]


_DELIVERY_COLUMNS = (
    _D.id,
    _D.endpoint_id,
    _D.message_id,
    _M.event_type,
    _D.status,
    _D.attempts,
    _D.next_attempt_at,
    _D.last_status,
    _D.created_at,
    _D.updated_at,
)
_DELIVERIES = (
    select(*_DELIVERY_COLUMNS)
    .join(WebhookMessage, _M.id == _D.message_id)
    .join(WebhookEndpoint, _E.id == _D.endpoint_id)
)


def _delivery_view(row: Mapping[str, Any]) -> WebhookDeliveryRead:
    return WebhookDeliveryRead(**{k: row[k] for k in WebhookDeliveryRead.__struct_fields__})


async def list_deliveries(
    reader: Reader,
    endpoint_id: uuid.UUID,
    *,
    owner: Owner,
    status: DeliveryStatus | None,
    after: tuple[dt.datetime, uuid.UUID] | None,
    limit: int,
) -> list[WebhookDeliveryRead]:
    """An endpoint's deliveries, newest last; ``after`` = the last delivery's (created_at, id)."""
    await get_endpoint(reader, endpoint_id, owner)
    query = _DELIVERIES.where(_D.endpoint_id == endpoint_id)
    if status is not None:
        query = query.where(_D.status == status)
    if after is not None:
        query = query.where(after_key((_D.created_at, _D.id), after))
    query = query.order_by(_D.created_at, _D.id).limit(limit)
    return [_delivery_view(r) for r in await fetch_all(reader, query)]


async def get_delivery(reader: Reader, delivery_id: uuid.UUID, *, owner: Owner) -> WebhookDeliveryDetail:
    row = await fetch_one(reader, _visible(_DELIVERIES.add_columns(_M.body).where(_D.id == delivery_id), owner))
    if row is None:
        raise DeliveryNotFound(data={"delivery_id": str(delivery_id)})
    attempts = await fetch_all(
        reader,
        select(_A.attempt, _A.trigger, _A.started_at, _A.duration_ms, _A.response_status, _A.response_excerpt, _A.error)
        .where(_A.delivery_id == delivery_id)
        .order_by(_A.attempt),
    )
    return WebhookDeliveryDetail(
        delivery=_delivery_view(row),
        payload=dict(row["body"]),
        attempts=[WebhookAttemptRead(**dict(a)) for a in attempts],
    )


async def replay_delivery(
    session: AsyncSession, delivery_id: uuid.UUID, *, owner: Owner, actor: Actor, origin: Origin, tenant_id: int
) -> WebhookDeliveryRead:
    """Send the message again (same ``webhook-id``, fresh timestamp and signature): one attempt,
    queued now, whatever the delivery's state."""
    query = select(_D.id, _E.status.label("endpoint_status")).join(WebhookEndpoint, _E.id == _D.endpoint_id)
    row = await fetch_one(session, _visible(query, owner).where(_D.id == delivery_id))
    if row is None:
        raise DeliveryNotFound(data={"delivery_id": str(delivery_id)})
    if row["endpoint_status"] != "active":
        raise EndpointDisabled("Enable the endpoint before replaying its deliveries.")
    await session.execute(
        update(WebhookDelivery).where(_D.id == delivery_id).values(status="pending", next_attempt_at=func.now())
    )
    await enqueue(session, DELIVER_TOPIC, {"delivery_id": str(delivery_id), "trigger": "replay"}, tenant_id=tenant_id)
    await record_audit(session, "webhooks.delivery_replayed", actor=actor, origin=origin, target=str(delivery_id))
    found = await fetch_one(session, _DELIVERIES.where(_D.id == delivery_id))
    assert found is not None
    return _delivery_view(found)


# --- retention ---------------------------------------------------------------------------------------------

#: Messages (with their deliveries and attempts) are kept this long, then purged.
RETENTION = dt.timedelta(days=30)


async def purge_old_messages(session: AsyncSession, now: dt.datetime) -> int:
    """Delete the LAO's messages older than :data:`RETENTION`, except those still being delivered."""
    pending = select(_D.message_id).where(_D.status == "pending")
    result = await session.execute(delete(WebhookMessage).where(_M.created_at < now - RETENTION, _M.id.not_in(pending)))
    return int(getattr(result, "rowcount", 0) or 0)


async def _purge_job(ctx: JobContext) -> None:
    await purge_old_messages(ctx.session, ctx.now)


#: A core per-tenant job (``localgov worker`` runs it for every active LAO).
PURGE_JOB = ScheduledJob(name="core.webhooks_purge", every=dt.timedelta(hours=6), run=_purge_job, per_tenant=True)


# --- the worker: events into messages, messages to endpoints --------------------------------------------------


def retry_delay(attempts: int, base_s: float) -> dt.timedelta:
    """Delay after failed attempt number ``attempts`` (1-based): base × 4^(n-1), at most 12 hours
    (base 5 s: 5 s, 20 s, 80 s, 5 min, 21 min, 85 min, 5.7 h)."""
    return dt.timedelta(seconds=min(base_s * 4 ** max(attempts - 1, 0), 12 * 3600))


_ACTIVE_FOR = select(_E.id).where(
    _E.status == "active", _E.event_types.contains(bindparam("types", type_=ARRAY(String)))
)


def event_consumer() -> DeliveryHandler:
    """The consumer of an event's ``webhooks`` copy: one message, one delivery per subscribed
    active endpoint of the LAO, each queued on :data:`DELIVER_TOPIC`. Idempotent by the copy's
    outbox entry id (a retried copy makes nothing twice)."""

    async def handle(delivery: Delivery) -> None:
        public = _BY_CODE.get(delivery.topic)
        if public is None or delivery.tenant_id is None:
            return
        await delivery.use_tenant_schema()
        session = delivery.session
        endpoints = [r["id"] for r in await fetch_all(session, _ACTIVE_FOR, {"types": [public.name]})]
        if not endpoints:
            return
        msg_id = f"msg_{uuid.uuid4().hex}"
        body = {
            "type": public.name,
            "timestamp": dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z"),
            "data": delivery.payload,
        }
        created = await session.scalar(
            pg_insert(WebhookMessage)
            .values(id=msg_id, event_type=public.name, event_entry_id=delivery.id, body=body)
            .on_conflict_do_nothing(index_elements=[_M.event_entry_id])
            .returning(_M.id)
        )
        if created is None:
            return
        for endpoint_id in endpoints:
            delivery_id = await session.scalar(
                insert(WebhookDelivery)
                .values(endpoint_id=endpoint_id, message_id=msg_id, next_attempt_at=func.now())
                .returning(_D.id)
            )
            await enqueue(
                session,
                DELIVER_TOPIC,
                {"delivery_id": str(delivery_id), "trigger": "automatic"},
                tenant_id=delivery.tenant_id,
            )

    return handle


_FOR_SENDING = (
    select(
        _D.id,
        _D.status,
        _D.attempts,
        _D.message_id,
        _M.body,
        _E.id.label("endpoint_id"),
        _E.url,
        _E.status.label("endpoint_status"),
        _E.secret,
        _E.previous_secret,
        _E.previous_until,
    )
    .join(WebhookMessage, _M.id == _D.message_id)
    .join(WebhookEndpoint, _E.id == _D.endpoint_id)
    .where(_D.id == bindparam("id", type_=Uuid))
    .with_for_update(of=WebhookDelivery)
)


def delivery_consumer(
    settings: Settings,
    *,
    resolver: egress.Resolver | None = None,
    policy: egress.EgressPolicy | None = None,
) -> DeliveryHandler:
    """The consumer of :data:`DELIVER_TOPIC`: one signed POST through :mod:`localgov.kernel.egress`
    (the destination checked again now: DNS rebinding and a changed DNS answer are refused), its
    attempt logged; on failure the next attempt is queued with exponential backoff, up to
    ``LOCALGOV_WEBHOOK_MAX_ATTEMPTS``. A replay is one attempt. A 410 answer disables the endpoint."""
    out_policy = policy or egress.policy_from_settings(settings)

    async def deliver(delivery: Delivery) -> None:
        await delivery.use_tenant_schema()
        session = delivery.session
        trigger: Trigger = "replay" if delivery.payload.get("trigger") == "replay" else "automatic"
        row = await fetch_one(session, _FOR_SENDING, {"id": uuid.UUID(delivery.payload["delivery_id"])})
        if row is None:
            return  # the endpoint was deleted (its deliveries with it)
        if trigger == "automatic" and row["status"] != "pending":
            return  # a replay delivered it meanwhile, or it was given up
        if row["endpoint_status"] != "active":
            await session.execute(
                update(WebhookDelivery).where(_D.id == row["id"]).values(status="failed", next_attempt_at=None)
            )
            return
        now = dt.datetime.now(dt.UTC)
        body = msgspec.json.encode(row["body"])
        headers = signature.sign_headers(
            signing_secrets(row, settings.secret_key, now), row["message_id"], int(now.timestamp()), body
        )
        headers |= {"Content-Type": "application/json", "User-Agent": USER_AGENT}
        started = time.perf_counter()
        status: int | None = None
        excerpt: str | None = None
        error: str | None = None
        address: str | None = None
        try:
            response = await egress.request(
                "POST", row["url"], headers=headers, body=body, policy=out_policy, resolver=resolver
            )
            status = response.status
            excerpt = response.body[:EXCERPT_BYTES].decode("utf-8", "replace")
            address = response.address
        except egress.EgressRefused as refused:
            error = f"egress_refused:{refused.reason}"
        except egress.EgressFailed as failed:
            error = str(failed)[:1000]
        duration_ms = int((time.perf_counter() - started) * 1000)
        attempt = row["attempts"] + 1
        await session.execute(
            insert(WebhookAttempt).values(
                delivery_id=row["id"],
                attempt=attempt,
                trigger=trigger,
                started_at=now,
                duration_ms=duration_ms,
                response_status=status,
                response_excerpt=excerpt,
                error=error,
                address=address,
            )
        )
        values: dict[str, Any] = {"attempts": attempt, "last_status": status}
        if status is not None and 200 <= status < 300:
            values |= {"status": "succeeded", "next_attempt_at": None}
        elif status == 410:
            values |= {"status": "failed", "next_attempt_at": None}
            await session.execute(
                update(WebhookEndpoint)
                .where(_E.id == row["endpoint_id"])
                .values(status="disabled", disabled_reason="gone")
            )
        elif trigger == "replay" or attempt >= settings.webhook_max_attempts:
            values |= {"status": "failed", "next_attempt_at": None}
        else:
            later = now + retry_delay(attempt, settings.webhook_retry_base_s)
            values |= {"status": "pending", "next_attempt_at": later}
            await enqueue(
                session,
                DELIVER_TOPIC,
                {"delivery_id": str(row["id"]), "trigger": "automatic"},
                tenant_id=delivery.tenant_id,
                not_before=later,
            )
        await session.execute(update(WebhookDelivery).where(_D.id == row["id"]).values(**values))
        log.info(
            "webhook_attempt",
            delivery_id=str(row["id"]),
            attempt=attempt,
            trigger=trigger,
            status=status,
            error=error,
            duration_ms=duration_ms,
        )

    return deliver
