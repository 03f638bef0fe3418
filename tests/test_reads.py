"""The read fast path (kernel.reads.ReadConnection via kernel.db.tenant_reader) and the tenant-affine pool.

The fast path skips SQLAlchemy's execution machinery, so these tests hold it to the same answers
as the Core path, to read-only transactions, and to never handing a connection back to the pool
inside a transaction (the next user would inherit a tenant's search path).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import uuid
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import ARRAY, Float, any_, bindparam, cast, func, select, text, update
from sqlalchemy.dialects.postgresql import UUID as PgUUID
from sqlalchemy.exc import MultipleResultsFound
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.util import greenlet_spawn
from sqlalchemy.util.queue import Empty

from localgov.app import plugin_dsn
from localgov.kernel.db import create_engine, session_factory, tenant_reader, tenant_session
from localgov.kernel.pool import HOME, PASS_LIMIT, TenantAffineQueue, affine_pool_class, prefer_tenant
from localgov.kernel.reads import CachedRow, RowCache, cached_row_changed, compiled, fetch_all, fetch_cached, fetch_one
from localgov.kernel.tenancy import TenantProfile
from localgov.platform.catalog import Catalog, CatalogListener
from localgov.services.payments.api import BillLine, create_bill
from localgov.services.payments.bills import BILL_VIEW
from localgov.services.payments.models import BillItem, Payer, PaymentSettings
from localgov.settings import Settings
from tests.support.factories import make_tenant

_PROFILE = TenantProfile.__table__


async def _bill(engine: AsyncEngine, tenant: Any) -> uuid.UUID:
    async with tenant_session(session_factory(engine), tenant) as session:
        session.add(PaymentSettings(id=1, biller_id="099400016650001", merchant_name="TEST LAO"))
        payer = Payer(kind="person", name="นางทดสอบ อ่านเร็ว")
        session.add(payer)
        await session.flush()
        bill = await create_bill(
            session,
            payer_id=payer.id,
            lines=[
                BillLine(fee_code="garbage", description_th="ค่าขยะ", amount=Decimal("40.00"), period="2026-11"),
                BillLine(fee_code="wastewater", description_th="ค่าบำบัดน้ำเสีย", amount=Decimal("12.50")),
            ],
            due_date=dt.date(2027, 1, 31),
            source="test",
            source_key=f"reads-{uuid.uuid4()}",
        )
        return bill.id


async def test_the_fast_path_answers_what_the_core_path_answers(engine: AsyncEngine) -> None:
    tenant = await make_tenant(engine, services=["payments"])
    bill_id = await _bill(engine, tenant)
    async with tenant_session(session_factory(engine), tenant) as session:
        core = await fetch_one(session, BILL_VIEW, {"bill_id": bill_id})
    async with tenant_reader(engine, tenant) as reader:
        fast = await fetch_one(reader, BILL_VIEW, {"bill_id": bill_id})
        missing = await fetch_one(reader, BILL_VIEW, {"bill_id": uuid.uuid4()})
    assert core is not None
    assert fast is not None
    assert dict(fast) == dict(core)
    assert fast["total"] == Decimal("52.50")
    assert isinstance(fast["id"], uuid.UUID)
    assert [line["fee_code"] for line in fast["lines"]] == ["garbage", "wastewater"]  # period, none last
    assert fast["lines"][1] == {
        "fee_code": "wastewater",
        "description_th": "ค่าบำบัดน้ำเสีย",
        "quantity": "1.000",
        "unit_price": "12.50",
        "amount": "12.50",
        "period": None,
    }
    assert missing is None
    # A list of ids: an array parameter (an expanding IN list is refused by the fast path).
    items = BillItem.__table__
    by_bills = select(items.c.amount).where(items.c.bill_id == any_(bindparam("ids", type_=ARRAY(PgUUID))))
    async with tenant_reader(engine, tenant) as reader:
        amounts = await fetch_all(reader, by_bills, {"ids": [bill_id, uuid.uuid4()]})
    assert sorted(row["amount"] for row in amounts) == [Decimal("12.50"), Decimal("40.00")]


async def test_the_fast_path_reads_only_the_tenants_own_schema(engine: AsyncEngine) -> None:
    first, second = await make_tenant(engine, phone="0-1111"), await make_tenant(engine, phone="0-2222")
    statement = select(_PROFILE.c.phone).where(_PROFILE.c.id == 1)
    async with tenant_reader(engine, first) as reader:
        assert await fetch_all(reader, statement) == [{"phone": "0-1111"}]
    async with tenant_reader(engine, second) as reader:
        assert await fetch_all(reader, statement) == [{"phone": "0-2222"}]
    async with tenant_reader(engine, None) as reader:  # no tenant: the void schema has no tables
        with pytest.raises(Exception, match="does not exist"):
            await fetch_all(reader, statement)


async def test_the_fast_path_is_read_only(engine: AsyncEngine) -> None:
    tenant = await make_tenant(engine, phone="0-3333")
    changed = update(_PROFILE).values(phone="0-4444").returning(_PROFILE.c.id).cte("changed")
    async with tenant_reader(engine, tenant) as reader:
        with pytest.raises(Exception, match="read-only transaction"):
            await fetch_all(reader, select(changed.c.id))  # an UPDATE inside the SELECT: refused
    async with tenant_reader(engine, tenant) as reader:
        assert await fetch_all(reader, select(_PROFILE.c.phone)) == [{"phone": "0-3333"}]


async def test_a_failed_or_cancelled_read_never_pools_a_connection_in_a_transaction(settings: Settings) -> None:
    engine = create_engine(settings, pool_size=1, max_overflow=0)
    try:
        tenant = await make_tenant(engine)
        path = select(func.current_setting("search_path").label("path"))
        # An error inside the block: the transaction is rolled back, the connection stays usable.
        with pytest.raises(ZeroDivisionError):
            await _fail_inside(engine, tenant)
        # A query cancelled while the server runs it (blocked on a lock another session holds).
        other = create_engine(settings, pool_size=1, max_overflow=0)  # the lock holder's own connection
        try:
            async with other.connect() as holder:
                await holder.execute(text("SELECT pg_advisory_lock(4242)"))
                blocked = asyncio.ensure_future(_read_locked(engine, tenant))
                await _until_waiting_on_lock(holder)
                blocked.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await blocked
                await holder.execute(text("SELECT pg_advisory_unlock(4242)"))
        finally:
            await other.dispose()
        # The one pooled connection comes back outside any transaction, on the void schema.
        async with engine.connect() as conn:
            raw = await conn.get_raw_connection()
            assert not raw.driver_connection.is_in_transaction()  # type: ignore[union-attr]
            assert (await conn.execute(text("SELECT current_setting('search_path')"))).scalar_one() == "tenant_void"
        async with tenant_reader(engine, None) as reader:
            assert await fetch_one(reader, path) == {"path": "tenant_void"}
    finally:
        await engine.dispose()


async def _fail_inside(engine: AsyncEngine, tenant: Any) -> None:
    async with tenant_reader(engine, tenant) as reader:
        assert await fetch_one(reader, select(func.current_setting("search_path").label("p"))) == {"p": tenant.schema}
        raise ZeroDivisionError


async def _read_locked(engine: AsyncEngine, tenant: Any) -> None:
    async with tenant_reader(engine, tenant) as reader:
        await fetch_all(reader, select(func.pg_advisory_lock(4242)))


async def _until_waiting_on_lock(holder: Any) -> None:
    """Until another backend waits on an advisory lock (bounded: a few thousand polls)."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND wait_event = 'advisory'"
        " AND datname = current_database()"  # not another test run's backend on the same server
    )
    for _ in range(5000):
        await holder.execute(text("SELECT pg_stat_clear_snapshot()"))  # else read once per transaction
        if (await holder.execute(query)).scalar_one():
            return
        await asyncio.sleep(0)
    raise AssertionError("the read never reached the lock")


def test_statements_the_fast_path_cannot_run_are_refused_when_compiled() -> None:
    table = BillItem.__table__
    with pytest.raises(TypeError, match="IN lists"):
        compiled(select(table.c.id).where(table.c.bill_id.in_(bindparam("ids", expanding=True))))
    with pytest.raises(TypeError, match="SELECT statements only"):
        compiled(text("SELECT 1"))  # type: ignore[arg-type]
    statement = select(table.c.amount).where(table.c.bill_id == bindparam("bill_id"))
    assert compiled(statement) is compiled(statement)  # compiled once
    assert compiled(select(cast(table.c.amount, Float).label("f"))).keys == ("f",)  # a float column compiles
    assert compiled(statement).names == ("bill_id",)


async def test_fetch_one_refuses_more_than_one_row(engine: AsyncEngine) -> None:
    tenant = await make_tenant(engine)
    async with tenant_reader(engine, tenant) as reader:
        with pytest.raises(MultipleResultsFound):
            await fetch_one(reader, select(func.generate_series(1, 2).label("n")))


class _Entry:
    """What the queue needs of a pooled connection record."""

    def __init__(self) -> None:
        self.record_info: dict[str, Any] = {}


def test_a_tenant_is_handed_its_home_connection_then_the_next_one() -> None:
    queue = TenantAffineQueue(maxsize=4)
    entries = [_Entry() for _ in range(4)]
    for entry in entries:
        queue.put_nowait(entry)  # type: ignore[arg-type]
    assert [entry.record_info["localgov_slot"] for entry in entries] == [0, 1, 2, 3]
    schema = _homed(2, 4)
    prefer_tenant(schema)
    assert queue.get_nowait() is entries[2]  # its home
    assert queue.get_nowait() is entries[3]  # home taken: the next slot
    assert queue.get_nowait() is entries[0]  # and round the ring
    queue.put_nowait(entries[2])  # type: ignore[arg-type]
    assert queue.get_nowait() is entries[2]
    prefer_tenant(None)  # no tenant: the most recently returned
    queue.put_nowait(entries[3])  # type: ignore[arg-type]
    assert queue.get_nowait() is entries[3]
    assert queue.qsize() == 1
    assert queue.get_nowait() is entries[1]
    assert queue.empty()


async def test_a_returned_connection_goes_to_the_waiter_it_is_home_to_and_nobody_waits_for_ever() -> None:
    queue = TenantAffineQueue(maxsize=4)
    entries = [_Entry() for _ in range(4)]
    for entry in entries:
        queue.put_nowait(entry)  # type: ignore[arg-type]
    prefer_tenant(None)
    for _ in range(4):
        queue.get_nowait()  # every connection busy
    homed = {slot: _homed(slot, 4) for slot in (1, 3)}

    older = asyncio.ensure_future(_checkout(queue, homed[1]))
    await _waiting(queue, 1)
    younger = asyncio.ensure_future(_checkout(queue, homed[3]))
    await _waiting(queue, 2)
    queue.put_nowait(entries[3])  # type: ignore[arg-type]
    assert await younger is entries[3]  # its home, though it came second
    assert not older.done()
    for passed in range(PASS_LIMIT - 1):  # the older waiter passed over again and again ...
        rival = asyncio.ensure_future(_checkout(queue, homed[3]))
        await _waiting(queue, 2)
        queue.put_nowait(entries[3])  # type: ignore[arg-type]
        assert await rival is entries[3], passed
    rival = asyncio.ensure_future(_checkout(queue, homed[3]))
    await _waiting(queue, 2)
    queue.put_nowait(entries[3])  # type: ignore[arg-type]
    assert await older is entries[3]  # ... until its turn comes whatever the slot
    queue.put_nowait(entries[1])  # type: ignore[arg-type]
    assert await rival is entries[1]


def _homed(slot: int, size: int, skip: int = 0) -> str:
    """A tenant schema whose home slot in a pool of ``size`` is ``slot`` (the ``skip``-th such)."""
    found = (f"lao_{n:07d}" for n in range(1000, 99999) if _home(f"lao_{n:07d}", size) == slot)
    for _ in range(skip):
        next(found)
    return next(found)


def _bounded_queue(
    maxsize: int, spread: int, connections: int, spill_after_s: float | None = None
) -> tuple[TenantAffineQueue, list[_Entry]]:
    queue = affine_pool_class(spread, spill_after_s)._queue_class(maxsize=maxsize)
    assert isinstance(queue, TenantAffineQueue)
    assert queue.spread == spread
    entries = [_Entry() for _ in range(connections)]
    for entry in entries:
        queue.put_nowait(entry)  # type: ignore[arg-type]
    return queue, entries


async def _waiting(queue: TenantAffineQueue, count: int) -> None:
    for _ in range(10_000):
        if len(queue._waiters) == count:
            return
        await asyncio.sleep(0)
    raise AssertionError("the checkouts never waited")


async def _checkout(queue: TenantAffineQueue, schema: str | None) -> Any:
    prefer_tenant(schema)
    return await greenlet_spawn(queue.get, True, 30)


async def test_a_bounded_tenant_waits_for_its_own_connections_while_others_are_idle() -> None:
    """``db_connections_per_tenant``: a tenant uses its home and the next slot, not an idle stranger's."""
    queue, entries = _bounded_queue(maxsize=4, spread=2, connections=4)
    prefer_tenant(None)
    busy = [queue.get_nowait() for _ in range(4)]  # every connection busy (no tenant)
    assert sorted(e.record_info["localgov_slot"] for e in busy) == [0, 1, 2, 3]
    tenant = _homed(0, 4)
    queue.put_nowait(entries[2])  # type: ignore[arg-type]
    queue.put_nowait(entries[3])  # type: ignore[arg-type]
    prefer_tenant(tenant)
    with pytest.raises(Empty):
        queue.get_nowait()  # slots 2 and 3 are idle, but not the tenant's
    waiting = asyncio.ensure_future(_checkout(queue, tenant))
    await _waiting(queue, 1)
    assert queue.qsize() == 2
    queue.put_nowait(entries[1])  # type: ignore[arg-type]
    assert await waiting is entries[1]  # the next slot after its home
    prefer_tenant(_homed(2, 4))  # another tenant, at home on an idle slot: no wait
    assert queue.get_nowait() is entries[2]
    prefer_tenant(None)  # a checkout without a tenant takes any idle connection
    assert queue.get_nowait() is entries[3]


async def test_a_busy_tenant_grows_into_idle_connections_once_its_own_requests_fill_its_share() -> None:
    queue, entries = _bounded_queue(maxsize=4, spread=2, connections=4)
    tenant = _homed(1, 4)
    prefer_tenant(tenant)
    assert [queue.get_nowait() for _ in range(2)] == [entries[1], entries[2]]  # its share, home first
    assert queue.get_nowait() is entries[3]  # both held by its own requests: the nearest idle one
    assert queue.get_nowait() is entries[0]
    # Its own two are marked so (the fast path keeps per-tenant statements on those only).
    assert [e.record_info[HOME] for e in entries] == [False, True, True, False]
    queue.put_nowait(entries[3])  # type: ignore[arg-type]
    queue.put_nowait(entries[2])  # type: ignore[arg-type]
    queue.put_nowait(entries[1])  # type: ignore[arg-type]  # it holds one connection now (slot 0)
    other = _homed(3, 4)
    prefer_tenant(other)
    assert queue.get_nowait() is entries[3]
    prefer_tenant(tenant)
    assert queue.get_nowait() is entries[1]  # its home again
    assert queue.get_nowait() is entries[2]
    assert queue.empty()
    queue.put_nowait(entries[3])  # type: ignore[arg-type]
    assert queue.get_nowait() is entries[3]  # it holds three: any idle one is its to take
    for entry in entries:
        queue.put_nowait(entry)  # type: ignore[arg-type]
    assert queue._held == {}  # every connection returned: nobody holds any
    assert not any(HOME in e.record_info for e in entries)


async def test_a_tenant_that_waited_long_enough_for_its_own_connections_takes_any() -> None:
    """``db_tenant_wait_ms``: a neighbour's long transaction on a tenant's connections holds it up
    that long at most (here 0: at once)."""
    queue, entries = _bounded_queue(maxsize=4, spread=2, connections=4, spill_after_s=0.0)
    prefer_tenant(None)
    for _ in range(4):
        queue.get_nowait()
    queue.put_nowait(entries[2])  # type: ignore[arg-type]
    tenant = _homed(0, 4)
    assert await _checkout(queue, tenant) is entries[2]  # not its own, but idle
    assert entries[2].record_info[HOME] is False
    waiting = asyncio.ensure_future(_checkout(queue, tenant))  # nothing idle: it waits, spilled
    await _waiting(queue, 1)
    for _ in range(10_000):
        if queue._waiters[0].spilled:
            break
        await asyncio.sleep(0)
    assert queue._waiters[0].spilled
    queue.put_nowait(entries[3])  # type: ignore[arg-type]
    assert await waiting is entries[3]  # the next returned connection, whatever its slot


async def test_a_tenant_takes_any_idle_connection_while_its_slots_are_not_all_held() -> None:
    """A pool still growing (or one whose connection was lost) has no connection at some slots:
    nobody waits for those; and a lost connection's slot goes to the next new one."""
    queue, entries = _bounded_queue(maxsize=4, spread=2, connections=2)  # slots 0 and 1 only
    prefer_tenant(_homed(2, 4))
    assert queue.get_nowait() is entries[0]  # its slots 2 and 3 have no connection yet
    queue.put_nowait(entries[0])  # type: ignore[arg-type]
    newcomers = [_Entry(), _Entry()]
    for entry in newcomers:
        queue.put_nowait(entry)  # type: ignore[arg-type]
    assert [e.record_info["localgov_slot"] for e in newcomers] == [2, 3]
    prefer_tenant(None)
    while not queue.empty():
        queue.get_nowait()
    del newcomers[0]  # SQLAlchemy dropped the record of slot 2
    gc.collect()
    prefer_tenant(_homed(2, 4))
    queue.put_nowait(entries[0])  # type: ignore[arg-type]
    assert queue.get_nowait() is entries[0]  # slot 2 has nobody: any idle connection
    replacement = _Entry()
    queue.put_nowait(replacement)  # type: ignore[arg-type]
    assert replacement.record_info["localgov_slot"] == 2  # the lowest slot without a connection


async def test_an_overflow_connection_is_anyones_and_a_bounded_waiter_is_served_in_turn() -> None:
    queue, entries = _bounded_queue(maxsize=2, spread=1, connections=2)
    prefer_tenant(None)
    queue.get_nowait(), queue.get_nowait()
    extra = _Entry()  # beyond pool_size (``db_max_overflow``)
    tenant = _homed(0, 2)
    waiting = asyncio.ensure_future(_checkout(queue, tenant))
    await _waiting(queue, 1)
    queue.put_nowait(entries[1])  # type: ignore[arg-type]
    assert not waiting.done()  # slot 1 is not its own: it stays idle
    queue.put_nowait(extra)  # type: ignore[arg-type]
    assert extra.record_info["localgov_slot"] == 2
    assert await waiting is extra
    prefer_tenant(None)
    queue.put_nowait(extra)  # type: ignore[arg-type]
    queue.get_nowait(), queue.get_nowait()  # slot 1 and the overflow connection busy again
    later = [asyncio.ensure_future(_checkout(queue, tenant)) for _ in range(2)]
    await _waiting(queue, 2)
    queue.put_nowait(entries[1])  # type: ignore[arg-type]
    assert queue.qsize() == 1  # not theirs: idle
    assert not any(f.done() for f in later)
    queue.put_nowait(entries[0])  # type: ignore[arg-type]
    # Its home goes to the older waiter; the tenant then holds its share (one), so the younger one
    # takes the idle connection of slot 1 at once rather than waiting for another return.
    assert [await f for f in later] == [entries[0], entries[1]]


async def test_a_checkout_that_gives_up_waiting_loses_no_connection() -> None:
    """A waiting checkout ends at the pool's timeout (``Empty``, then SQLAlchemy's TimeoutError),
    and one cancelled just after a connection was handed to it puts that connection back."""
    queue, entries = _bounded_queue(maxsize=2, spread=1, connections=2, spill_after_s=30.0)
    prefer_tenant(None)
    queue.get_nowait(), queue.get_nowait()
    tenant = _homed(0, 2)
    prefer_tenant(tenant)
    with pytest.raises(Empty):
        await greenlet_spawn(queue.get, True, 0.0)  # nothing is returned: the timeout ends the wait
    queue.put_nowait(entries[0])  # type: ignore[arg-type]
    assert queue.qsize() == 1  # idle: the checkout that gave up is not handed it
    assert await _checkout(queue, tenant) is entries[0]

    waiting = asyncio.ensure_future(_checkout(queue, tenant))
    await _waiting(queue, 1)
    queue.put_nowait(entries[0])  # type: ignore[arg-type]  # handed to the waiter ...
    waiting.cancel()  # ... which is cancelled before it runs again
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert queue.qsize() == 1  # the connection is back, idle
    assert not queue._waiters
    prefer_tenant(tenant)
    assert queue.get_nowait() is entries[0]

    # Past db_tenant_wait_ms it may take any connection; with none returned, the pool's timeout
    # still ends its wait.
    spilling, _ = _bounded_queue(maxsize=2, spread=1, connections=0, spill_after_s=0.0)
    prefer_tenant(tenant)
    with pytest.raises(Empty):
        await greenlet_spawn(spilling.get, True, 0.001)
    assert spilling.qsize() == 0


def _home(schema: str, size: int) -> int:
    import zlib

    return zlib.crc32(schema.encode("ascii")) % size


async def test_dispose_closes_every_idle_connection_whatever_tenant_the_context_last_served(
    database_url: str,
) -> None:
    engine = create_engine(
        Settings(database_url=database_url, env="test", db_connections_per_tenant=1), pool_size=3, max_overflow=0
    )
    try:
        tenant = await make_tenant(engine)
        # Three connections at once, so every slot has one; then back in the pool, idle.
        async with tenant_reader(engine, None) as a, tenant_reader(engine, None) as b, tenant_reader(engine, None) as c:
            for reader in (a, b, c):
                await fetch_one(reader, select(func.pg_backend_pid().label("pid")))
        pool = engine.sync_engine.pool
        assert pool.checkedin() == 3
        prefer_tenant(tenant.schema)  # this context last served a tenant: two of the three are not its own
    finally:
        await engine.dispose()
    assert pool.checkedin() == 0  # every idle connection closed, none left to the garbage collector


async def test_affinity_keeps_each_tenant_on_few_backends(settings: Settings) -> None:
    """Sequential reads of 6 tenants on a pool of 3: each tenant always meets the same backend."""
    engine = create_engine(settings, pool_size=3, max_overflow=0)
    try:
        tenants = [await make_tenant(engine) for _ in range(6)]
        backends: dict[str, set[int]] = {}
        pid = select(func.pg_backend_pid().label("pid"))
        # Open all three connections first, so every slot exists.
        async with (
            tenant_reader(engine, tenants[0]),
            tenant_reader(engine, tenants[1]),
            tenant_reader(engine, tenants[2]),
        ):
            pass
        for _ in range(3):
            for tenant in tenants:
                async with tenant_reader(engine, tenant) as reader:
                    row = await fetch_one(reader, pid)
                    assert row is not None
                    backends.setdefault(tenant.schema, set()).add(row["pid"])
        assert all(len(pids) == 1 for pids in backends.values()), backends
    finally:
        await engine.dispose()


async def test_a_checkout_waits_for_a_busy_pool_and_gets_the_returned_connection(settings: Settings) -> None:
    engine = create_engine(settings, pool_size=1, max_overflow=0, pool_timeout=30)
    try:
        first, second = await make_tenant(engine), await make_tenant(engine)
        path = select(func.current_setting("search_path").label("path"))
        release, holding = asyncio.Event(), asyncio.Event()

        async def hold() -> None:
            async with tenant_reader(engine, first) as reader:
                assert await fetch_one(reader, path) == {"path": first.schema}
                holding.set()
                await release.wait()

        holder = asyncio.ensure_future(hold())
        await holding.wait()
        waiter = asyncio.ensure_future(_path_of(engine, second))
        await asyncio.sleep(0)
        assert not waiter.done()
        release.set()
        await holder
        assert await waiter == second.schema
    finally:
        await engine.dispose()


async def _path_of(engine: AsyncEngine, tenant: Any) -> str:
    async with tenant_reader(engine, tenant) as reader:
        row = await fetch_one(reader, select(func.current_setting("search_path").label("path")))
        assert row is not None
        return str(row["path"])


_PREPARED = select(func.count().label("n"), func.array_agg(text("statement")).label("texts")).select_from(
    text("pg_prepared_statements")
)


async def test_plans_per_tenant_prepare_one_statement_per_tenant_and_answer_the_same(database_url: str) -> None:
    """With ``db_plans_per_tenant`` the fast path keeps a prepared statement per tenant on a
    connection (PostgreSQL then never re-plans it for another search path), up to the setting's
    number: the first tenants met keep theirs, the others share one; off, one for all."""
    statement = select(_PROFILE.c.phone).where(_PROFILE.c.id == 1)
    texts: dict[int, list[str]] = {}
    tenants: dict[int, list[Any]] = {}
    for plans in (0, 50, 1):
        engine = create_engine(Settings(database_url=database_url, env="test", db_plans_per_tenant=plans), pool_size=1)
        try:
            tenants[plans] = [await make_tenant(engine, phone=f"0-{plans}-{n}") for n in (1, 2)]
            for _ in range(2):
                for n, tenant in enumerate(tenants[plans], start=1):
                    async with tenant_reader(engine, tenant) as reader:
                        row = await fetch_one(reader, statement)
                    assert row == {"phone": f"0-{plans}-{n}"}  # each tenant reads its own schema, whatever was prepared
            async with tenant_reader(engine, tenants[plans][0]) as reader:
                prepared = await fetch_one(reader, _PREPARED)
            async with engine.connect() as conn:
                driver = (await conn.get_raw_connection()).driver_connection
                # Kept as long as the connection: no expiry (asyncpg's default is 300 s) re-preparing them.
                assert driver is not None
                assert driver._stmt_cache.get_max_lifetime() == 0
        finally:
            await engine.dispose()
        assert prepared is not None
        texts[plans] = sorted(t for t in prepared["texts"] if t.startswith("SELECT profile.phone"))
    assert len(texts[0]) == 1
    assert "/*" not in texts[0][0]
    assert sorted(t.rsplit("/* ", 1)[1] for t in texts[50]) == sorted(f"{t.schema} */" for t in tenants[50])
    # Capacity 1: the first tenant keeps its statement; the second runs the shared text.
    assert len(texts[1]) == 2
    assert texts[1][0] == texts[0][0]
    assert texts[1][1] == f"{texts[0][0]} /* {tenants[1][0].schema} */"


def test_plans_per_tenant_setting_is_bounded() -> None:
    from localgov.settings import SettingsError

    with pytest.raises(SettingsError, match="PLANS_PER_TENANT"):
        Settings(db_plans_per_tenant=-1)
    with pytest.raises(SettingsError, match="CONNECTIONS_PER_TENANT"):
        Settings(db_connections_per_tenant=-1)
    with pytest.raises(SettingsError, match="TENANT_WAIT_MS"):
        Settings(db_tenant_wait_ms=-1)
    assert Settings(db_plans_per_tenant=2000).db_plans_per_tenant == 2000


#: What payments' migration 0014 made of the lines of bills created before it (its UPDATE's expression).
_LINES_AS_MIGRATED = text(
    """
    SELECT coalesce(
        (SELECT jsonb_agg(jsonb_build_object('fee_code', i.fee_code, 'description_th', i.description_th,
                          'quantity', i.quantity::text, 'unit_price', i.unit_price::text,
                          'amount', i.amount::text, 'period', i.period)
                          ORDER BY i.period, i.fee_code COLLATE "C")
           FROM bill_items AS i WHERE i.bill_id = b.id), '[]'::jsonb) AS migrated, b.lines
      FROM bills AS b WHERE b.id = :id
    """
)


async def test_a_bills_copy_of_its_lines_equals_its_items_as_the_migration_copies_them(engine: AsyncEngine) -> None:
    """``bills.lines`` written by create_bills is what migration 0014 computes from ``bill_items`` (order,
    numbers as text), so a bill made before the migration and one made after read the same."""
    tenant = await make_tenant(engine, services=["payments"])
    async with tenant_session(session_factory(engine), tenant) as session:
        payer = Payer(kind="person", name="นายสำเนา รายการ")
        session.add(payer)
        await session.flush()
        bill = await create_bill(
            session,
            payer_id=payer.id,
            lines=[
                BillLine(fee_code="wastewater", description_th="ค่าน้ำเสีย", amount=Decimal("7"), period="2026-12"),
                BillLine(fee_code="garbage", description_th="ค่าขยะ", amount=Decimal("40.5"), period="2026-12"),
                BillLine(fee_code="garbage", description_th="ค่าขยะ", amount=Decimal("40"), period="2026-11"),
                BillLine(fee_code="late_fee", description_th="ค่าปรับ", amount=Decimal("9"), quantity=Decimal("3")),
            ],
            due_date=dt.date(2027, 1, 31),
            source="test",
            source_key=f"lines-{uuid.uuid4()}",
        )
        migrated, written = (await session.execute(_LINES_AS_MIGRATED, {"id": bill.id})).one()
    assert written == migrated
    assert [(line["period"], line["fee_code"]) for line in written] == [
        ("2026-11", "garbage"),
        ("2026-12", "garbage"),
        ("2026-12", "wastewater"),
        (None, "late_fee"),
    ]
    assert written[3]["quantity"] == "3.000"
    assert written[3]["unit_price"] == "3.00"


_BILLER_PHONE = CachedRow("test.profile_phone", select(_PROFILE.c.phone).where(_PROFILE.c.id == 1))


async def test_a_cached_row_is_kept_per_tenant_and_dropped_when_its_change_commits(engine: AsyncEngine) -> None:
    first, second = await make_tenant(engine, phone="0-5555"), await make_tenant(engine, phone="0-6666")
    cache = RowCache()
    phone = update(_PROFILE).values(phone=bindparam("phone"))

    async def cached(tenant: Any) -> Any:
        async with tenant_reader(engine, tenant, cache=cache) as reader:
            return await fetch_cached(reader, _BILLER_PHONE)

    assert await cached(first) == {"phone": "0-5555"}
    assert await cached(second) == {"phone": "0-6666"}  # per tenant: never the other LAO's copy
    async with tenant_reader(engine, first, cache=cache) as reader:
        assert await fetch_cached(reader, _BILLER_PHONE) == {"phone": "0-5555"}
        assert not reader.opened  # answered from the copy: no connection taken, no statement sent
        await fetch_one(reader, select(_PROFILE.c.id))
        assert reader.opened
    async with tenant_session(session_factory(engine), first) as session:
        await session.execute(phone, {"phone": "0-7777"})  # a write that does not announce itself
    assert await cached(first) == {"phone": "0-5555"}  # the copy is what the fast path serves
    async with tenant_session(session_factory(engine), first) as session:  # inside a unit of work: read now
        assert await fetch_cached(session, _BILLER_PHONE) == {"phone": "0-7777"}
    async with tenant_session(session_factory(engine), first) as session:
        await session.execute(phone, {"phone": "0-8888"})
        await cached_row_changed(session)
    cache.committed(session)  # as the request's unit of work does after its commit
    assert await cached(first) == {"phone": "0-8888"}
    assert await cached(second) == {"phone": "0-6666"}
    async with tenant_reader(engine, first) as reader:  # a reader without the cache reads every time
        assert await fetch_cached(reader, _BILLER_PHONE) == {"phone": "0-8888"}


async def test_a_copy_read_while_a_change_is_announced_is_not_kept(engine: AsyncEngine) -> None:
    """The read that started before the drop finishes after it: its value is served once, never kept."""
    tenant = await make_tenant(engine, phone="0-1212")
    cache = RowCache()
    locked = CachedRow(
        "test.locked_phone",
        select(_PROFILE.c.phone, func.pg_advisory_xact_lock_shared(4244).label("lock")).where(_PROFILE.c.id == 1),
    )
    async with engine.connect() as holder:
        await holder.execute(text("SELECT pg_advisory_lock(4244)"))

        async def read() -> Any:
            async with tenant_reader(engine, tenant, cache=cache) as reader:
                return await fetch_cached(reader, locked)

        pending = asyncio.ensure_future(read())
        await _until_waiting_on_lock(holder)
        cache.clear()  # a notification arrives while the read is in flight
        async with tenant_session(session_factory(engine), tenant) as session:
            await session.execute(update(_PROFILE).values(phone="0-3434"))
        await holder.execute(text("SELECT pg_advisory_unlock(4244)"))
        assert (await pending)["phone"] == "0-1212"  # its snapshot came before the change
    assert (await read())["phone"] == "0-3434"  # not kept: read again


async def test_every_process_drops_its_copies_on_the_notification(engine: AsyncEngine, settings: Settings) -> None:
    """Another process's commit reaches this one through the catalog listener (NOTIFY)."""
    tenant = await make_tenant(engine, phone="0-9090")
    dropped = asyncio.Event()

    class Watched(RowCache):
        async def load(self, engine: Any) -> None:
            await super().load(engine)
            dropped.set()

    cache = Watched()
    listener = CatalogListener(Catalog(settings.base_domain), engine, plugin_dsn(settings), 3600.0, followers=[cache])
    await listener.start()  # loads (drops) once, then again once it listens
    try:
        dropped.clear()
        await asyncio.wait_for(dropped.wait(), timeout=60)
        dropped.clear()
        async with tenant_reader(engine, tenant, cache=cache) as reader:
            assert await fetch_cached(reader, _BILLER_PHONE) == {"phone": "0-9090"}
        async with tenant_session(session_factory(engine), tenant) as session:
            await session.execute(update(_PROFILE).values(phone="0-9191"))
            await cached_row_changed(session)
        await asyncio.wait_for(dropped.wait(), timeout=60)
        async with tenant_reader(engine, tenant, cache=cache) as reader:
            assert await fetch_cached(reader, _BILLER_PHONE) == {"phone": "0-9191"}
    finally:
        await listener.stop()


async def test_the_listeners_timer_reloads_small_copies_but_keeps_the_cached_rows(
    engine: AsyncEngine, settings: Settings
) -> None:
    """The periodic safety net reloads a follower that is a whole copy; the copies filled on demand stay."""
    timer_reload, dropped = asyncio.Event(), asyncio.Event()

    class WholeCopy:
        channel = "localgov_test_whole_copy"

        async def load(self, engine: Any) -> None:
            timer_reload.set()

    class Watched(RowCache):
        async def load(self, engine: Any) -> None:
            await super().load(engine)
            dropped.set()

    whole, cache = WholeCopy(), Watched()
    catalog = Catalog(settings.base_domain)
    listener = CatalogListener(catalog, engine, plugin_dsn(settings), 0.05, followers=[whole, cache])
    await listener.start()  # both loaded once, then again once it listens
    try:
        dropped.clear()
        await asyncio.wait_for(dropped.wait(), timeout=60)  # the load on connecting
        dropped.clear()
        for _ in range(3):  # three timer reloads of the whole copy ...
            timer_reload.clear()
            await asyncio.wait_for(timer_reload.wait(), timeout=60)
        assert not dropped.is_set()  # ... none of which dropped the cached rows
    finally:
        await listener.stop()
