"""``Idempotency-Key`` on every create: the same key and body replay the stored response; the
same key with another body is refused (422); a key still in flight is 409.

**Two ways in, one record.** A money route takes the header itself (:data:`IdempotencyKey`, or
:data:`OptionalIdempotencyKey`) and wraps its work in :func:`idempotent`::

    async def create(self, request, db_session, data, idempotency_key: IdempotencyKey) -> Response[Bill]:
        return await idempotent(request, db_session, idempotency_key, lambda: svc.create(db_session, data))

Every other create (a ``POST`` answering ``201``, JSON body or multipart upload, tenant host or
operator host) gets it from the request middleware (``kernel.web``), through :class:`KeyedCreate`.
Both keep the record in the same transaction as the work: both commit or neither does, so a
process dying between the work and the record cannot let a retry run the work twice, and an error
stores nothing (a retry after a refusal runs again).

**Where the record is.** Keys are per caller (``<kind>:<subject>``; an anonymous caller of a
public create is ``anonymous:<client address>``) and per host: a tenant's requests keep theirs in
the tenant's schema (``idempotency_keys``, a core table), the operator host's in
``platform.idempotency_keys``. Both are kept :data:`RETENTION`, then ignored and purged
(:data:`PURGE_JOB` per tenant, :data:`OPERATOR_PURGE_JOB` for the platform table).

**The request hash** of the middleware's creates is SHA-256 of the method and path (each
length-prefixed) followed by the raw body, computed while the body streams by
(:class:`RequestHasher`): a multipart upload is hashed as Litestar reads it into its spooled
parts, nothing is buffered for the hash, and a body read only to be compared with a stored record
is read in chunks and dropped, up to the route's ``request_max_body_size`` (413 beyond). (The
records of :func:`idempotent`, whose body is in memory anyway, keep :func:`request_hash`.)

**How the middleware's path stays atomic.** The request's session commits in
``kernel.web.provide_db_session``, which Litestar runs as a dependency *before* the response is
sent, so the response bytes are not known there. For a keyed create the provider therefore does not
commit: it takes the key's transaction-level advisory lock right after ``BEGIN`` (another
transaction holding it: 409 ``idempotency_key_in_flight``), checks again for a record committed
meanwhile, and on success *hands the open transaction* to :class:`KeyedCreate`. The middleware holds
the response's messages until the body is complete, then (for a 2xx answer) inserts the record with
that status and body into the handed transaction and commits it; only then is the response sent.
A failed commit is answered as any failed request (the client never saw the success), and a
transaction never committed is rolled back when its session closes. The insert is ``ON CONFLICT``:
a record committed by another request in the window between this request's first look and its lock
rolls this request's work back, and the stored answer is replayed instead.

How a request finds its key:

* a stored record for (caller, key) with the same request hash is replayed byte for byte with its
  status (and ``Idempotent-Replayed: true``); with another hash → 422 ``idempotency_key_reused``;
* the key is locked with ``pg_try_advisory_xact_lock`` without waiting: it ends with the
  transaction, so a crashed request never leaves a key stuck.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from litestar import Request, Response
from litestar.params import HeaderParameter
from litestar.serialization import encode_json
from litestar.utils.scope.state import ScopeState
from sqlalchemy import DateTime, Integer, LargeBinary, PrimaryKeyConstraint, String, delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from localgov.kernel.db import SHARED_SCHEMA, SharedBase, TenantBase
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


class _RecordColumns:
    """The columns of a stored key: the same in a tenant's schema and in the platform schema."""

    #: ``<kind>:<subject>`` of the caller: keys of different callers never collide.
    principal: Mapped[str] = mapped_column(String(150))
    key: Mapped[str] = mapped_column(String(100))
    #: SHA-256 of method, path and body (:func:`request_hash`, :class:`RequestHasher`).
    request_hash: Mapped[str] = mapped_column(String(64))
    #: ``done`` once stored (the response commits with the work; "in flight" is the advisory lock
    #: of the transaction doing it, never a row, so nothing is left behind by a crash).
    status: Mapped[str] = mapped_column(String(10))
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class IdempotencyRecord(_RecordColumns, TenantBase):
    """A request seen with an ``Idempotency-Key`` on a tenant's host, per caller, and its response."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (PrimaryKeyConstraint("principal", "key"),)


class OperatorIdempotencyRecord(_RecordColumns, SharedBase):
    """The same for the operator host (no tenant): ``platform.idempotency_keys``."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (PrimaryKeyConstraint("principal", "key"),)


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


class RequestHasher:
    """SHA-256 of a request, fed with its body chunk by chunk as it streams by: the method and path
    each length-prefixed (so no body can pass for another path), then the raw body.

    A multipart body's ``boundary`` is chosen afresh by most clients for every request, a retry
    included: every ``--<boundary>`` of the body is hashed as one fixed token, so the same parts
    (names, file names, types, bytes) hash the same under any boundary. At most the boundary's
    length is held back between chunks (a delimiter may straddle two)."""

    _TOKEN = b"--\x00boundary\x00"

    def __init__(self, method: str, path: str, *, boundary: bytes | None = None) -> None:
        self._digest = hashlib.sha256()
        for part in (method.upper().encode(), path.encode()):
            self._digest.update(len(part).to_bytes(8, "big"))
            self._digest.update(part)
        self._marker = b"--" + boundary if boundary else b""
        self._pending = b""

    def update(self, chunk: bytes) -> None:
        if not self._marker:
            self._digest.update(chunk)
            return
        data = self._pending + chunk
        marker = self._marker
        position = 0
        found = data.find(marker)
        while found != -1:
            self._digest.update(data[position:found])
            self._digest.update(self._TOKEN)
            position = found + len(marker)
            found = data.find(marker, position)
        keep = min(len(marker) - 1, len(data) - position)
        self._digest.update(data[position : len(data) - keep])
        self._pending = data[len(data) - keep :]

    def hexdigest(self) -> str:
        digest = self._digest.copy()
        digest.update(self._pending)
        return digest.hexdigest()


def request_hash(method: str, path: str, body: bytes) -> str:
    """The hash :func:`idempotent` keeps (a body in memory, length-prefixed like the method and path:
    the format its records have had from the start)."""
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


async def purge_expired_operator(session: AsyncSession, now: dt.datetime | None = None) -> int:
    """Forget the operator host's keys older than :data:`RETENTION`; returns how many."""
    cutoff = (now or dt.datetime.now(dt.UTC)) - RETENTION
    result = await session.execute(
        delete(OperatorIdempotencyRecord).where(OperatorIdempotencyRecord.created_at < cutoff)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def _purge_job(ctx: JobContext) -> None:
    await purge_expired(ctx.session, ctx.now)


async def _purge_operator_job(ctx: JobContext) -> None:
    await purge_expired_operator(ctx.session, ctx.now)


#: Forgets expired keys in each active tenant; a key past :data:`RETENTION` is ignored anyway (see
#: :func:`idempotent`), so the purge only keeps the table small and every 6 hours is plenty.
PURGE_JOB = ScheduledJob(name="core.idempotency_purge", every=dt.timedelta(hours=6), run=_purge_job, per_tenant=True)
#: The same for the operator host's keys (``platform.idempotency_keys``), once per run.
OPERATOR_PURGE_JOB = ScheduledJob(
    name="core.operator_idempotency_purge", every=dt.timedelta(hours=6), run=_purge_operator_job
)


# --- every other create: the request middleware's Idempotency-Key --------------------------------------

#: Where a keyed create's :class:`KeyedCreate` waits in the request's scope state, for
#: ``kernel.web.provide_db_session``.
STATE_KEY = "idempotent_create"


def handles_key_itself(handler: Any) -> bool:
    """Whether a route takes ``Idempotency-Key`` as a parameter (and wraps its work in :func:`idempotent`)."""
    signature = getattr(handler, "parsed_fn_signature", None)
    parameters = getattr(signature, "parameters", {}) if signature is not None else {}
    return "idempotency_key" in parameters


class _AnsweredMeanwhile(DomainError):
    """The key's record was committed by another request between this one's first look and its
    lock: the work must not run; :class:`KeyedCreate` answers with the stored record instead."""

    code = "idempotency_key_in_flight"
    status = 409
    title = "A request with this Idempotency-Key was just completed"


class _Stored:
    __slots__ = ("body", "fingerprint", "status")

    def __init__(self, fingerprint: str, status: int | None, body: bytes | None) -> None:
        self.fingerprint = fingerprint
        self.status = status or 201
        self.body = body or b""


class KeyedCreate:
    """One create with an ``Idempotency-Key`` whose handler does not take the key (the request
    middleware's, see the module doc): hashes the body as it streams by, takes over the request's
    transaction from the session provider, stores the record in it and commits it with the work."""

    def __init__(
        self,
        *,
        app: Any,
        key: str,
        principal: str,
        tenant: Any,
        method: str,
        path: str,
        boundary: bytes | None,
        max_body: int | None,
    ) -> None:
        self.app = app
        self.key = key
        self.principal = principal
        self.tenant = tenant
        self.table: type[_RecordColumns] = IdempotencyRecord if tenant is not None else OperatorIdempotencyRecord
        self.schema: str = tenant.schema if tenant is not None else SHARED_SCHEMA
        self.max_body = max_body
        self._hasher = RequestHasher(method, path, boundary=boundary)
        self._received = 0
        self._body_done = False
        self._session: AsyncSession | None = None
        self._after_commit: Callable[[AsyncSession], None] | None = None
        self._answered_meanwhile = False

    # --- the body ---------------------------------------------------------------------------------

    def _take(self, message: Any) -> None:
        if message["type"] == "http.request":
            chunk = message.get("body", b"")
            self._received += len(chunk)
            self._hasher.update(chunk)
            if not message.get("more_body", False):
                self._body_done = True
        elif message["type"] == "http.disconnect":
            self._body_done = True

    def hashing(self, receive: Any) -> Any:
        """``receive`` that feeds every body chunk the application reads into the hash."""

        async def wrapped() -> Any:
            message = await receive()
            self._take(message)
            return message

        return wrapped

    async def fingerprint(self, receive: Any) -> str:
        """The request's hash, reading (and dropping) what the application left of the body."""
        from litestar.exceptions.http_exceptions import RequestEntityTooLarge

        while not self._body_done:
            self._take(await receive())
            if self.max_body is not None and self._received > self.max_body:
                raise RequestEntityTooLarge
        return self._hasher.hexdigest()

    # --- the record -------------------------------------------------------------------------------

    def _lookup(self) -> Any:
        table = self.table
        return select(table.request_hash, table.response_status, table.response_body).where(
            table.principal == self.principal,
            table.key == self.key,
            table.created_at > func.now() - RETENTION,
        )

    async def stored(self) -> _Stored | None:
        """The record of this key, if one was committed (a short transaction of its own)."""
        from localgov.kernel.db import tenant_session

        async with tenant_session(self.app.state.session_factory, self.tenant) as session:
            row = (await session.execute(self._lookup())).first()
        return None if row is None else _Stored(row[0], row[1], row[2])

    async def begin(self, session: AsyncSession) -> None:
        """Right after the request's ``BEGIN`` (``provide_db_session``): lock the key for this
        transaction (held: 409), and make sure nobody stored it since the middleware looked."""
        locked = await session.scalar(
            select(func.pg_try_advisory_xact_lock(lock_id(self.schema, self.principal, self.key)))
        )
        if not locked:
            raise IdempotencyKeyInFlight(data={"key": self.key})
        if (await session.execute(self._lookup())).first() is not None:
            self._answered_meanwhile = True
            raise _AnsweredMeanwhile(data={"key": self.key})

    def adopt(self, session: AsyncSession, after_commit: Callable[[AsyncSession], None]) -> None:
        """Take over the request's transaction, the handler's work done: :meth:`finish` commits it."""
        self._session = session
        self._after_commit = after_commit

    async def _insert(self, session: AsyncSession, fingerprint: str, status: int, body: bytes) -> bool:
        """Store the answer; False when another request's record is there (an expired one is replaced)."""
        table: Any = self.table
        values = {
            "principal": self.principal,
            "key": self.key,
            "request_hash": fingerprint,
            "status": "done",
            "response_status": status,
            "response_body": body,
            "created_at": func.now(),
        }
        statement = (
            pg_insert(table)
            .values(**values)
            .on_conflict_do_update(
                index_elements=[table.principal, table.key],
                set_={name: value for name, value in values.items() if name not in ("principal", "key")},
                where=table.created_at <= func.now() - RETENTION,
            )
            .returning(table.key)
        )
        return (await session.execute(statement)).first() is not None

    # --- the request ------------------------------------------------------------------------------

    async def _answer_stored(self, stored: _Stored, receive: Any, send: Any) -> None:
        if stored.fingerprint != await self.fingerprint(receive):
            raise IdempotencyKeyReused(
                "The key was first used with another method, path or body; use a new key for a new request.",
                data={"key": self.key},
            )
        await send(
            {
                "type": "http.response.start",
                "status": stored.status,
                "headers": [(b"content-type", b"application/json"), (b"idempotent-replayed", b"true")],
            }
        )
        await send({"type": "http.response.body", "body": stored.body, "more_body": False})

    async def run(self, scope: Any, receive: Any, send: Any, next_app: Any) -> None:
        """Replay the stored answer, or run the request and commit its work with its record."""
        stored = await self.stored()
        if stored is not None:
            await self._answer_stored(stored, receive, send)
            return
        scope.setdefault("state", {})[STATE_KEY] = self
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def hold(message: Any) -> None:
            if message["type"] == "http.response.start":
                start.clear()
                start.update(message)
                chunks.clear()
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        try:
            await next_app(scope, self.hashing(receive), hold)
            # The route's own exception middleware saw the (held) start go by and noted the response
            # as started; it is not, so a failed commit below is still answered as a problem.
            ScopeState.from_scope(scope).response_started = False
            body = b"".join(chunks)
            status = int(start.get("status", 500))
            session = self._session
            if session is not None:
                if 200 <= status < 300 and not await self._insert(
                    session, await self.fingerprint(receive), status, body
                ):
                    await session.rollback()
                    self._answered_meanwhile = True
                else:
                    await session.commit()
                    if self._after_commit is not None:
                        self._after_commit(session)
        finally:
            scope["state"].pop(STATE_KEY, None)
            if self._session is not None:
                await self._session.close()  # rolls back a transaction that was not committed
                self._session = None
        if self._answered_meanwhile:
            stored = await self.stored()
            if stored is None:  # stored, then expired and purged in the meantime: as if in flight
                raise IdempotencyKeyInFlight(data={"key": self.key})
            await self._answer_stored(stored, receive, send)
            return
        await send(start)
        await send({"type": "http.response.body", "body": body, "more_body": False})


def keyed_create(scope: Any) -> KeyedCreate | None:
    """The keyed create a request is (``provide_db_session`` asks), or None."""
    found = scope.get("state", {}).get(STATE_KEY)
    return found if isinstance(found, KeyedCreate) else None
