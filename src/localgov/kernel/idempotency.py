"""``Idempotency-Key`` for POSTs that create money objects: the same key and body replay the
stored response; the same key with another body is refused (422); a key still in flight is 409.

A controller opts in by taking the header (:data:`IdempotencyKey`, or
:data:`OptionalIdempotencyKey`) and wrapping its work in :func:`idempotent`::

    async def create(self, request, db_session, data, idempotency_key: IdempotencyKey) -> Response[Bill]:
        return await idempotent(request, db_session, idempotency_key, lambda: svc.create(db_session, data))

How it works, inside the request's one transaction:

* the key is locked with a transaction-level advisory lock (``pg_try_advisory_xact_lock``) taken
  without waiting: another transaction holding it is the same key *in flight* → 409
  ``idempotency_key_in_flight`` with ``Retry-After``. The lock ends with that transaction, so a
  crashed request never leaves a key stuck;
* a stored record for (caller, key) with the same request hash is replayed byte for byte with its
  status (and ``Idempotent-Replayed: true``); with another hash → 422 ``idempotency_key_reused``;
* otherwise the work runs and its response is stored in the same transaction as its effects: both
  commit or neither does (an error stores nothing, so a retry after a refusal runs again).

Keys are per caller (``<kind>:<subject>``) and per LAO (the table is in the tenant's schema); they
are kept :data:`RETENTION` and may be reused after that. The table is a core table (every tenant
schema has it, whichever services are enabled), so the purge of expired keys is a core per-tenant
job (:data:`PURGE_JOB`, run by ``localgov worker`` for every active tenant).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from litestar import Request, Response
from litestar.params import HeaderParameter
from litestar.serialization import encode_json
from sqlalchemy import DateTime, Integer, LargeBinary, PrimaryKeyConstraint, String, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from localgov.kernel.db import TenantBase
from localgov.kernel.errors import DomainError
from localgov.kernel.jobs import JobContext, ScheduledJob

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
#: How long a key is remembered.
RETENTION = dt.timedelta(hours=24)
_DESCRIPTION = (
    "A unique key per operation (e.g. a UUID), 1-100 printable ASCII characters. Retrying with the "
    "same key and body replays the first response; the same key with another body is refused (422); "
    "while the first request is still running the answer is 409. Keys are kept 24 hours."
)

IdempotencyKey = Annotated[
    str, HeaderParameter(name=HEADER, min_length=1, max_length=100, pattern=r"^[!-~]+$", description=_DESCRIPTION)
]
OptionalIdempotencyKey = Annotated[
    str | None,
    HeaderParameter(name=HEADER, min_length=1, max_length=100, pattern=r"^[!-~]+$", description=_DESCRIPTION),
]


class IdempotencyRecord(TenantBase):
    """A request seen with an ``Idempotency-Key``, per caller, and the response it got."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (PrimaryKeyConstraint("principal", "key"),)

    #: ``<kind>:<subject>`` of the caller: keys of different callers never collide.
    principal: Mapped[str] = mapped_column(String(150))
    key: Mapped[str] = mapped_column(String(100))
    #: SHA-256 of method, path and body.
    request_hash: Mapped[str] = mapped_column(String(64))
    #: ``done`` once stored (the response commits with the work; "in flight" is the advisory lock
    #: of the transaction doing it, never a row, so nothing is left behind by a crash).
    status: Mapped[str] = mapped_column(String(10))
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class IdempotencyKeyInFlight(DomainError):
    code = "idempotency_key_in_flight"
    status = 409
    title = "A request with this Idempotency-Key is still being processed"
    headers = {"Retry-After": "1"}


class IdempotencyKeyReused(DomainError):
    code = "idempotency_key_reused"
    status = 422
    title = "This Idempotency-Key was used for a different request"


def principal_label(request: Request[Any, Any, Any]) -> str:
    """``<kind>:<subject>`` of the verified caller, ``anonymous`` on a public route."""
    principal = request.scope.get("state", {}).get("principal")
    if principal is None:
        return "anonymous"
    return f"{principal.kind}:{principal.subject}"[:150]


def request_hash(method: str, path: str, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def lock_id(schema: str, principal: str, key: str) -> int:
    """The advisory lock of one key: 64 bits of SHA-256 (advisory locks are database-wide, so the
    tenant's schema is part of it)."""
    raw = hashlib.sha256(f"idempotency\0{schema}\0{principal}\0{key}".encode()).digest()[:8]
    return int.from_bytes(raw, "big", signed=True)


async def _current_schema(session: AsyncSession) -> str:
    return str(await session.scalar(select(func.current_schema())))


async def idempotent(
    request: Request[Any, Any, Any],
    session: AsyncSession,
    key: str | None,
    produce: Callable[[], Awaitable[Any]],
    *,
    status_code: int = 201,
) -> Response[Any]:
    """Run ``produce`` at most once per (caller, key); its result is the JSON response.

    Without a key (an optional header left out) ``produce`` simply runs.
    """
    if key is None:
        return Response(encode_json(await produce()), status_code=status_code, media_type="application/json")
    principal = principal_label(request)
    fingerprint = request_hash(request.method, request.url.path, await request.body())
    schema = await _current_schema(session)
    locked = await session.scalar(select(func.pg_try_advisory_xact_lock(lock_id(schema, principal, key))))
    if not locked:
        raise IdempotencyKeyInFlight(data={"key": key})
    record = (
        await session.execute(
            select(IdempotencyRecord).where(IdempotencyRecord.principal == principal, IdempotencyRecord.key == key)
        )
    ).scalar_one_or_none()
    if record is not None and record.created_at < dt.datetime.now(dt.UTC) - RETENTION:
        await session.delete(record)
        await session.flush()
        record = None
    if record is not None:
        if record.request_hash != fingerprint:
            raise IdempotencyKeyReused(
                "The key was first used with another method, path or body; use a new key for a new request.",
                data={"key": key},
            )
        return Response(
            record.response_body or b"",
            status_code=record.response_status or status_code,
            media_type="application/json",
            headers={REPLAYED_HEADER: "true"},
        )
    body = encode_json(await produce())
    session.add(
        IdempotencyRecord(
            principal=principal,
            key=key,
            request_hash=fingerprint,
            status="done",
            response_status=status_code,
            response_body=body,
        )
    )
    await session.flush()
    return Response(body, status_code=status_code, media_type="application/json")


async def purge_expired(session: AsyncSession, now: dt.datetime | None = None) -> int:
    """Forget the keys older than :data:`RETENTION` (in the session's tenant); returns how many."""
    cutoff = (now or dt.datetime.now(dt.UTC)) - RETENTION
    result = await session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.created_at < cutoff))
    return int(getattr(result, "rowcount", 0) or 0)


async def _purge_job(ctx: JobContext) -> None:
    await purge_expired(ctx.session, ctx.now)


#: Forgets expired keys in each active tenant; a key past :data:`RETENTION` is ignored anyway (see
#: :func:`idempotent`), so the purge only keeps the table small and every 6 hours is plenty.
PURGE_JOB = ScheduledJob(name="core.idempotency_purge", every=dt.timedelta(hours=6), run=_purge_job, per_tenant=True)


# --- every other create: the request middleware's Idempotency-Key --------------------------------------


def handles_key_itself(handler: Any) -> bool:
    """Whether a route takes ``Idempotency-Key`` as a parameter (and wraps its work in :func:`idempotent`)."""
    signature = getattr(handler, "parsed_fn_signature", None)
    parameters = getattr(signature, "parameters", {}) if signature is not None else {}
    return "idempotency_key" in parameters


async def replay_or_run(
    scope: Any, receive: Any, send: Any, next_app: Any, *, key: str, principal: str, tenant: Any
) -> None:
    """``Idempotency-Key`` on a create whose handler does not take it (the request middleware calls
    this for a ``POST`` answering ``201`` on a tenant host).

    The key is held by a session-level advisory lock for the request (a second request with it:
    409 ``idempotency_key_in_flight``); a stored answer for the same method, path and body is replayed
    (``Idempotent-Replayed: true``), another body is 422 ``idempotency_key_reused``; otherwise the
    request runs and a 2xx answer is stored after it, in a transaction of its own. Unlike
    :func:`idempotent` (the answer stored in the work's own transaction), a process that dies between
    the work's commit and the record would let one retry run again: routes that move money use
    :func:`idempotent`.
    """
    from localgov.kernel.db import session_for

    app = scope["litestar_app"]
    chunks: list[bytes] = []
    more = True
    while more:
        message = await receive()
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    body = b"".join(chunks)
    fingerprint = request_hash(scope.get("method", "POST"), scope.get("path", ""), body)
    async with app.state.engine.connect() as lock_conn:
        schema = tenant.schema
        lock = lock_id(schema, principal, key)
        if not await lock_conn.scalar(select(func.pg_try_advisory_lock(lock))):
            raise IdempotencyKeyInFlight(data={"key": key})
        try:
            session = session_for(app.state.session_factory, tenant)
            try:
                async with session.begin():
                    record = (
                        await session.execute(
                            select(IdempotencyRecord).where(
                                IdempotencyRecord.principal == principal,
                                IdempotencyRecord.key == key,
                                IdempotencyRecord.created_at > dt.datetime.now(dt.UTC) - RETENTION,
                            )
                        )
                    ).scalar_one_or_none()
                    stored = (
                        None if record is None else (record.request_hash, record.response_status, record.response_body)
                    )
            finally:
                await session.close()
            if stored is not None:
                if stored[0] != fingerprint:
                    raise IdempotencyKeyReused(
                        "The key was first used with another method, path or body; use a new key for a new request.",
                        data={"key": key},
                    )
                await send(
                    {
                        "type": "http.response.start",
                        "status": stored[1] or 201,
                        "headers": [(b"content-type", b"application/json"), (b"idempotent-replayed", b"true")],
                    }
                )
                await send({"type": "http.response.body", "body": stored[2] or b"", "more_body": False})
                return
            sent = False

            async def replay_body() -> Any:
                nonlocal sent
                if sent:
                    return {"type": "http.disconnect"}
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}

            start: dict[str, Any] = {}
            out: list[bytes] = []

            async def capture(message: Any) -> None:
                if message["type"] == "http.response.start":
                    start.update(message)
                elif message["type"] == "http.response.body":
                    out.append(message.get("body", b""))
                    if not message.get("more_body", False):
                        status = int(start.get("status", 500))
                        if 200 <= status < 300:
                            await _store(app, tenant, principal, key, fingerprint, status, b"".join(out))
                        await send(start)
                        await send({"type": "http.response.body", "body": b"".join(out), "more_body": False})

            await next_app(scope, replay_body, capture)
        finally:
            await lock_conn.scalar(select(func.pg_advisory_unlock(lock)))
            await lock_conn.rollback()


async def _store(app: Any, tenant: Any, principal: str, key: str, fingerprint: str, status: int, body: bytes) -> None:
    from localgov.kernel.db import tenant_session

    async with tenant_session(app.state.session_factory, tenant) as session:
        await session.execute(
            delete(IdempotencyRecord).where(IdempotencyRecord.principal == principal, IdempotencyRecord.key == key)
        )
        session.add(
            IdempotencyRecord(
                principal=principal,
                key=key,
                request_hash=fingerprint,
                status="done",
                response_status=status,
                response_body=body,
            )
        )
