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
(the home itself when it is idle). A tenant's checkouts may use only its home and the next ``spread
- 1`` slots (``db_connections_per_tenant``, 2 by default), so a backend caches about ``tenants x
spread / pool_size`` schemas of its process's tenants however long it runs: when those are busy
with other tenants' requests the checkout waits for one of them, even with other connections idle.
The bound is on what others' load can do to a tenant, not on the tenant's own load: once a tenant's
own requests hold ``spread`` connections it takes any idle one (one busy LAO still gets the whole
pool). Slots beyond ``pool_size`` (``db_max_overflow``) are anyone's, and a slot without a
connection (the pool still growing, or a connection lost; the next new connection takes the lowest
free slot) lets its tenants take any, so nobody waits for a connection that does not exist. Nor
does a tenant wait for long while another connection is idle: past ``db_tenant_wait_ms`` (50 by
default) it takes any, so a neighbour's long transaction on its connections delays it that much at
most. ``spread`` 0 makes the home only a preference: under load a tenant then spilled to whichever
connection was idle, and every backend went on meeting new tenants (at 2,000 tenants, 15-28 catalog
rows read per getBill in the steady state, against 1-2 with the bound; bench/README.md, "Bounded
affinity"). A checkout without a tenant (the operator's routes, the worker's shared work) takes the
most recently returned connection. Under saturation (every connection busy) checkouts wait, and a
returned connection goes to the waiter that may take it whose home is nearest before its slot, the
oldest among equals; a waiter passed over :data:`PASS_LIMIT` times takes the next connection it may
take whatever its distance, so none waits for ever. Correctness never depends on any of this; the
search path is set by every transaction (:mod:`localgov.kernel.db`).

The tenant comes from :func:`prefer_tenant` (a context variable, set where a tenant's transaction
is opened: :func:`localgov.kernel.db.session_for`, :func:`localgov.kernel.db.tenant_reader`),
because SQLAlchemy's pool is not told whom a checkout is for.
"""

from __future__ import annotations

import asyncio
import functools
import weakref
import zlib
from collections import deque
from contextvars import ContextVar

from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry
from sqlalchemy.util import await_
from sqlalchemy.util.queue import Empty, Full, QueueCommon

_PREFERRED: ContextVar[int | None] = ContextVar("localgov_pool_preferred", default=None)
_SLOT = "localgov_slot"
_HOLDER = "localgov_holder"  # the tenant key of the checkout holding a connection
#: In a checked-out connection's ``record_info``: whether it is one of its tenant's own (its home or
#: the next ``spread - 1`` slots), not one a busy tenant grew into or one the pool is still making.
HOME = "localgov_home"
#: How many returned connections may go to younger waiters before the oldest takes the next one.
PASS_LIMIT = 8


class _Expired(Exception):
    """A waiting checkout's time ran out (the pool's timeout)."""


def _expire(future: asyncio.Future[ConnectionPoolEntry]) -> None:
    if not future.done():
        future.set_exception(_Expired())


class _Waiter:
    """A checkout waiting for a connection: for whom (the tenant's key), how often it was passed
    over, whether it has waited long enough for its tenant's own connections to take any, and its
    one timer on the loop (the spill, then the pool's timeout)."""

    __slots__ = ("future", "key", "passed", "spilled", "timer")

    def __init__(self, future: asyncio.Future[ConnectionPoolEntry], key: int | None) -> None:
        self.future = future
        self.key = key
        self.passed = 0
        self.spilled = False
        self.timer: asyncio.TimerHandle | None = None


def prefer_tenant(schema: str | None) -> None:
    """The next checkouts in this context are for ``schema`` (None: no tenant)."""
    _PREFERRED.set(None if schema is None else zlib.crc32(schema.encode("ascii")))


class TenantAffineQueue(QueueCommon[ConnectionPoolEntry]):
    """The idle connections of a :class:`TenantAffinePool`; same contract as SQLAlchemy's queues."""

    #: How many connections a tenant's checkouts may use: its home slot and the next ones (0: any,
    #: the home only a preference). Set by :func:`affine_pool_class`.
    spread: int = 0
    #: How long a checkout waits for one of its tenant's own connections before it takes any
    #: (None: as long as the pool's timeout). Set by :func:`affine_pool_class`.
    spill_after_s: float | None = None

    def __init__(self, maxsize: int = 0, use_lifo: bool = False) -> None:
        self.maxsize = maxsize
        self.use_lifo = use_lifo
        self._idle: list[tuple[int, ConnectionPoolEntry]] = []  # (slot, connection)
        self._waiters: deque[_Waiter] = deque()
        self._slots = 0
        #: The connection holding each slot (weakly: a slot whose connection is gone leaves this map, and
        #: the next new connection takes it). A plain map, read on every checkout: C-speed lookups.
        self._owners: dict[int, weakref.ReferenceType[ConnectionPoolEntry]] = {}
        #: Connections each tenant's checkouts hold now (tenant key -> count).
        self._held: dict[int, int] = {}
        #: Whether every slot below ``maxsize`` has a connection (the steady state: no slot to check).
        self._complete = False

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
            # The lowest slot no live connection holds: a pool that lost a connection (SQLAlchemy
            # dropped its record) gives the replacement the same slot, so every home stays served.
            slot = next(n for n in range(self._slots + 1) if n not in self._owners)
            info[_SLOT] = slot
            self._owners[slot] = weakref.ref(entry, functools.partial(self._lost, slot))
            self._slots = max(self._slots, slot + 1)
            self._complete = all(n in self._owners for n in range(self.maxsize))
        return slot

    def _lost(self, slot: int, ref: weakref.ReferenceType[ConnectionPoolEntry]) -> None:
        """The connection of ``slot`` is gone (SQLAlchemy dropped its record): the slot is free."""
        if self._owners.get(slot) is ref:
            del self._owners[slot]
            if slot < self.maxsize:
                self._complete = False

    def _ring(self) -> int:
        return max(self.maxsize, self._slots, 1) if not self._bounded() else self.maxsize

    def _bounded(self) -> bool:
        """Whether a tenant is held to :attr:`spread` slots (a pool of a fixed size larger than that)."""
        return 0 < self.spread < self.maxsize

    def _own(self, key: int, slot: int) -> bool:
        """Whether ``slot`` is one of tenant ``key``'s own: its home or one of the next ``spread - 1``."""
        return slot < self.maxsize and (slot - key) % self.maxsize < self.spread

    def _allowed(self, key: int | None, slot: int) -> bool:
        """Whether a checkout for ``key`` may take the connection of ``slot``."""
        if key is None or not self._bounded():
            return True
        # One of the tenant's, beyond the pool's size (an overflow connection), or any for a tenant free to.
        return slot >= self.maxsize or self._own(key, slot) or self._unbound(key)

    def _unbound(self, key: int) -> bool:
        """Whether tenant ``key`` (bounded) may take any connection now: its own requests fill its
        share (a busy tenant grows into idle connections), or one of its slots has no connection
        (the pool still growing, or a connection lost and not yet replaced: nobody waits for a
        connection that does not exist)."""
        if self._held.get(key, 0) >= self.spread:
            return True
        if self._complete:
            return False
        ring, owners = self.maxsize, self._owners
        home = key % ring
        return any((home + step) % ring not in owners for step in range(self.spread))

    def put_nowait(self, item: ConnectionPoolEntry) -> None:
        slot = self._slot(item)
        info = item.record_info
        if info is not None:
            info.pop(HOME, None)
            self._release(info.pop(_HOLDER, None))
        waiter = self._waiter_for(slot)
        if waiter is not None:
            self._hand(waiter, item)
            if self._bounded():
                self._serve_waiters(waiter.key)
            return
        if self.full():
            raise Full()
        self._idle.append((slot, item))

    def _serve_waiters(self, key: int | None) -> None:
        """Hand idle connections to ``key``'s waiters that may now take them (its share just filled up)."""
        for waiter in list(self._waiters):
            if waiter.key != key or waiter.future.done():
                continue
            choice = self._choice(key)
            if choice is None:
                return
            self._hand(waiter, self._idle.pop(choice)[1])

    def _hand(self, waiter: _Waiter, entry: ConnectionPoolEntry) -> None:
        """Give ``entry`` to ``waiter`` (no longer waiting), held for its tenant."""
        if waiter in self._waiters:
            self._waiters.remove(waiter)
        self._hold(entry, waiter.key)
        waiter.future.set_result(entry)

    def _waiter_for(self, slot: int) -> _Waiter | None:
        """The waiter a connection of ``slot`` goes to, no longer waiting (None: nobody waits)."""
        if not self._waiters:
            return None
        if any(w.future.done() for w in self._waiters):  # some gave up (timeout, cancellation)
            self._waiters = deque(w for w in self._waiters if not w.future.done())
        eligible = [w for w in self._waiters if w.spilled or self._allowed(w.key, slot)]
        if not eligible:
            return None  # it stays idle until a checkout that may take it
        chosen = eligible[0]
        if chosen.passed < PASS_LIMIT:
            ring = self._ring()
            best = ring
            for waiter in eligible:  # oldest first: the first at the least distance wins
                distance = 0 if waiter.key is None else (slot - waiter.key % ring) % ring
                if distance < best:
                    chosen, best = waiter, distance
                    if distance == 0:
                        break
        for waiter in eligible:
            if waiter is chosen:
                break
            waiter.passed += 1
        self._waiters.remove(chosen)
        return chosen

    def put(self, item: ConnectionPoolEntry, block: bool = True, timeout: float | None = None) -> None:
        # The pool returns connections without blocking (there is never more than maxsize of them).
        self.put_nowait(item)

    def get_nowait(self) -> ConnectionPoolEntry:
        key = _PREFERRED.get()
        choice = self._choice(key)
        if choice is None:
            raise Empty()
        return self._take(choice, key)

    def _take(self, index: int, key: int | None) -> ConnectionPoolEntry:
        entry = self._idle.pop(index)[1]
        self._hold(entry, key)
        return entry

    def _hold(self, entry: ConnectionPoolEntry, key: int | None) -> None:
        info = entry.record_info
        if info is None:
            return
        if key is None:
            info[HOME] = False
            return
        info[_HOLDER] = key
        self._held[key] = self._held.get(key, 0) + 1
        slot = info.get(_SLOT)
        # Unbounded, every connection is every tenant's; bounded, its own slots only.
        info[HOME] = not self._bounded() or (isinstance(slot, int) and self._own(key, slot))

    def _release(self, key: object) -> None:
        if isinstance(key, int) and key in self._held:
            if self._held[key] <= 1:
                del self._held[key]
            else:
                self._held[key] -= 1

    def _choice(self, key: int | None) -> int | None:
        """Index in ``_idle`` of the connection to hand out for tenant ``key`` (None: none it may take)."""
        if not self._idle:
            return None
        if key is None:
            return len(self._idle) - 1  # the most recently returned: its backend is warm
        ring = self._ring()
        home = key % ring
        # Bounded, a tenant takes only its own slots (and overflow ones) unless it is free to take any:
        # within its share, its slots are the first ``spread`` distances from its home.
        within = self.spread if self._bounded() and not self._unbound(key) else ring
        best: int | None = None
        best_distance = ring + 1
        for index, (slot, _) in enumerate(self._idle):
            distance = (slot - home) % ring if slot < ring else ring  # an overflow connection: last
            if distance < best_distance and (distance < within or slot >= ring):
                best, best_distance = index, distance
                if distance == 0:
                    break
        return best

    def get(self, block: bool = True, timeout: float | None = None) -> ConnectionPoolEntry:
        key = _PREFERRED.get()
        choice = self._choice(key)
        if choice is not None:
            return self._take(choice, key)
        if not block:
            raise Empty()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[ConnectionPoolEntry] = loop.create_future()
        waiter = _Waiter(future, key)
        self._waiters.append(waiter)
        # One timer on the loop at a time, no task or shield around the future (a checkout that
        # waits costs little: at 2,000 tenants many do): past ``spill_after_s`` it may take any
        # connection (most waits end before), and only then is the pool's ``timeout`` timed.
        spill = self.spill_after_s
        if key is not None and self._bounded() and spill is not None and (timeout is None or spill < timeout):
            rest = None if timeout is None else timeout - spill
            waiter.timer = loop.call_later(spill, self._spill, waiter, rest)
        elif timeout is not None:
            waiter.timer = loop.call_later(timeout, _expire, future)
        try:
            result: ConnectionPoolEntry = await_(future)
        except BaseException as exc:
            if future.done() and not future.cancelled() and future.exception() is None:
                self.put_nowait(future.result())  # handed over just as this checkout gave up (cancelled)
            else:
                future.cancel()  # put_nowait skips it
            if isinstance(exc, _Expired):
                raise Empty() from None
            raise
        finally:
            if waiter.timer is not None:
                waiter.timer.cancel()
        return result

    def _spill(self, waiter: _Waiter, rest: float | None = None) -> None:
        """``waiter`` waited long enough for its tenant's own connections: any idle one now, or the
        next one returned (a long transaction of a neighbour holds a tenant up this long at most).
        Still waiting, it gives up ``rest`` seconds later (None: never, as the pool's timeout)."""
        if waiter.future.done():
            return
        waiter.spilled = True
        choice = self._choice(None)
        if choice is not None:
            self._hand(waiter, self._idle.pop(choice)[1])
        elif rest is not None:
            waiter.timer = asyncio.get_running_loop().call_later(rest, _expire, waiter.future)


class TenantAffinePool(AsyncAdaptedQueuePool):
    """SQLAlchemy's asyncio queue pool with :class:`TenantAffineQueue` as its idle list."""

    _queue_class = TenantAffineQueue

    def dispose(self) -> None:
        # SQLAlchemy closes the idle connections by taking them until the queue says it is empty:
        # taken as nobody's, or a caller whose context last served a tenant would be refused the
        # connections that are not that tenant's, and they would stay open (unclosed sockets).
        token = _PREFERRED.set(None)
        try:
            super().dispose()
        finally:
            _PREFERRED.reset(token)


@functools.cache
def affine_pool_class(spread: int, spill_after_s: float | None = None) -> type[TenantAffinePool]:
    """A :class:`TenantAffinePool` whose tenants each use at most ``spread`` of its connections
    (0: any, the home only a preference) while they wait at most ``spill_after_s`` for one (None:
    the pool's timeout). A class, not arguments: SQLAlchemy re-creates a disposed pool from its
    class and its own arguments."""
    if spread == 0:
        return TenantAffinePool
    attributes = {"spread": spread, "spill_after_s": spill_after_s}
    queue = type(f"TenantAffineQueue{spread}", (TenantAffineQueue,), attributes)
    return type(f"TenantAffinePool{spread}", (TenantAffinePool,), {"_queue_class": queue})
