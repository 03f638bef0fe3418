"""A connection pool that sends each tenant to the same few database connections.

Why: every PostgreSQL backend builds its own cache of the relations it has touched (about 0.4 MB
and 1.3 ms of server CPU per tenant schema, measured with the bill read: 2.0 ms for the first
read of a tenant on a backend, 0.74 ms once its relations are cached, 0.25 ms when the search path
did not change either). A plain pool hands any idle connection to any request, so with 2,000
tenants and 32 backends nearly every request lands on a backend that has never seen its tenant,
and every backend ends up caching every tenant (or is recycled by
``db_max_tenants_per_connection`` before it does). See bench/README.md, "tenant-affine pool".

How: every connection of the pool has a slot number, and a tenant has a home slot (a hash of its
schema name). A checkout takes the idle connection whose slot comes first after the tenant's home
(the home itself when it is idle), so a tenant is served by its home connection and, under load,
its next neighbours: each backend caches about ``tenants / pool_size`` schemas, times the spill.
It is only a preference: a checkout never waits while a connection is idle, and a checkout without
a tenant (the operator's routes, the worker's shared work) takes the most recently returned one.
Under saturation (every connection busy) checkouts wait, and a returned connection goes to the
waiter whose home is nearest before its slot (the same distance an idle checkout uses), the oldest
among equals; a waiter passed over :data:`PASS_LIMIT` times takes the next connection whatever its
slot, so none waits for ever. Handing returned connections out in arrival order instead spread
every tenant over every backend at the very load where a backend's first read of a tenant costs
most. Correctness never depends on it; the search path is set by every transaction
(:mod:`localgov.kernel.db`).

The tenant comes from :func:`prefer_tenant` (a context variable, set where a tenant's transaction
is opened: :func:`localgov.kernel.db.session_for`, :func:`localgov.kernel.db.tenant_reader`),
because SQLAlchemy's pool is not told whom a checkout is for.
"""

from __future__ import annotations

import asyncio
import zlib
from collections import deque
from contextvars import ContextVar

from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry
from sqlalchemy.util import await_
from sqlalchemy.util.queue import Empty, Full, QueueCommon

_PREFERRED: ContextVar[int | None] = ContextVar("localgov_pool_preferred", default=None)
_SLOT = "localgov_slot"
#: How many returned connections may go to younger waiters before the oldest takes the next one.
PASS_LIMIT = 8


class _Waiter:
    """A checkout waiting for a connection: for whom (the tenant's key) and how often it was passed over."""

    __slots__ = ("future", "key", "passed")

    def __init__(self, future: asyncio.Future[ConnectionPoolEntry], key: int | None) -> None:
        self.future = future
        self.key = key
        self.passed = 0


def prefer_tenant(schema: str | None) -> None:
    """The next checkouts in this context are for ``schema`` (None: no tenant)."""
    _PREFERRED.set(None if schema is None else zlib.crc32(schema.encode("ascii")))


class TenantAffineQueue(QueueCommon[ConnectionPoolEntry]):
    """The idle connections of a :class:`TenantAffinePool`; same contract as SQLAlchemy's queues."""

    def __init__(self, maxsize: int = 0, use_lifo: bool = False) -> None:
        self.maxsize = maxsize
        self.use_lifo = use_lifo
        self._idle: list[tuple[int, ConnectionPoolEntry]] = []  # (slot, connection)
        self._waiters: deque[_Waiter] = deque()
        self._slots = 0

    def empty(self) -> bool:
        return not self._idle

    def full(self) -> bool:
        return bool(self.maxsize) and len(self._idle) >= self.maxsize

    def qsize(self) -> int:
        return len(self._idle)

    def _slot(self, entry: ConnectionPoolEntry) -> int:
        info = entry.record_info
        if info is None:  # a detached entry; it is never put back (SQLAlchemy closes it)
            return 0
        slot = info.get(_SLOT)
        if not isinstance(slot, int):
            slot = info[_SLOT] = self._slots
            self._slots += 1
        return slot

    def put_nowait(self, item: ConnectionPoolEntry) -> None:
        slot = self._slot(item)
        waiter = self._waiter_for(slot)
        if waiter is not None:
            waiter.future.set_result(item)
            return
        if self.full():
            raise Full()
        self._idle.append((slot, item))

    def _waiter_for(self, slot: int) -> _Waiter | None:
        """The waiter a connection of ``slot`` goes to (None: nobody waits)."""
        while self._waiters and self._waiters[0].future.done():
            self._waiters.popleft()  # gave up (timeout, cancellation)
        if not self._waiters:
            return None
        live = [w for w in self._waiters if not w.future.done()]
        chosen = live[0]
        if chosen.passed < PASS_LIMIT:
            ring = max(self.maxsize, self._slots, 1)
            best = ring
            for waiter in live:  # oldest first: the first at the least distance wins
                distance = 0 if waiter.key is None else (slot - waiter.key % ring) % ring
                if distance < best:
                    chosen, best = waiter, distance
                    if distance == 0:
                        break
        for waiter in live:
            if waiter is chosen:
                break
            waiter.passed += 1
        self._waiters = deque(w for w in live if w is not chosen)
        return chosen

    def put(self, item: ConnectionPoolEntry, block: bool = True, timeout: float | None = None) -> None:
        # The pool returns connections without blocking (there is never more than maxsize of them).
        self.put_nowait(item)

    def get_nowait(self) -> ConnectionPoolEntry:
        if not self._idle:
            raise Empty()
        return self._idle.pop(self._choice())[1]

    def _choice(self) -> int:
        """Index in ``_idle`` of the connection to hand out for the preferred tenant."""
        key = _PREFERRED.get()
        if key is None or len(self._idle) == 1:
            return len(self._idle) - 1  # the most recently returned: its backend is warm
        ring = max(self.maxsize, self._slots, 1)
        home = key % ring
        best, best_distance = 0, ring
        for index, (slot, _) in enumerate(self._idle):
            distance = (slot - home) % ring
            if distance < best_distance:
                best, best_distance = index, distance
                if distance == 0:
                    break
        return best

    def get(self, block: bool = True, timeout: float | None = None) -> ConnectionPoolEntry:
        if self._idle or not block:
            return self.get_nowait()
        waiter: asyncio.Future[ConnectionPoolEntry] = asyncio.get_running_loop().create_future()
        self._waiters.append(_Waiter(waiter, _PREFERRED.get()))
        try:
            result: ConnectionPoolEntry = await_(asyncio.wait_for(asyncio.shield(waiter), timeout))
        except BaseException as exc:
            if waiter.done() and not waiter.cancelled():
                self.put_nowait(waiter.result())  # handed over just as this checkout gave up
            else:
                waiter.cancel()  # put_nowait skips it
            if isinstance(exc, TimeoutError):
                raise Empty() from None
            raise
        return result


class TenantAffinePool(AsyncAdaptedQueuePool):
    """SQLAlchemy's asyncio queue pool with :class:`TenantAffineQueue` as its idle list."""

    _queue_class = TenantAffineQueue
