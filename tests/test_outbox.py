"""The transactional outbox and the worker that delivers it.

Every test that delivers uses a database of its own: ``deliver_batch`` claims every due entry of
its database, whoever enqueued it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from litestar import Router
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from localgov.kernel.db import create_engine, session_binding, session_factory, session_tenant_id, tenant_session
from localgov.kernel.outbox import Delivery, backoff, deliver_batch, enqueue
from localgov.kernel.plugins import DeliveryHandler, ServicePlugin, UsageMeter
from localgov.kernel.usage import record_usage
from localgov.platform.catalog import Catalog
from localgov.worker import Worker
from tests.conftest import make_settings
from tests.support import worker_child
from tests.support.factories import make_tenant

# --- helpers -----------------------------------------------------------------------------------


@pytest.fixture
async def fresh_engine(fresh_database_url: str) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(make_settings(fresh_database_url))
    async with eng.begin() as conn:
        await conn.execute(text("CREATE SCHEMA t_outbox"))
        await conn.execute(text("CREATE TABLE t_outbox.marks (entry_id bigint PRIMARY KEY, note text NOT NULL)"))
    yield eng
    await eng.dispose()


async def enqueue_many(
    factory: async_sessionmaker[AsyncSession], topics: list[str], *, tenant_id: int | None = None
) -> list[int]:
    """One entry per topic, in one transaction (same ``available_at``: delivered in id order)."""
    async with tenant_session(factory, None) as session:
        return [(await enqueue(session, t, {"n": i}, tenant_id=tenant_id)).id for i, t in enumerate(topics)]


async def deliver(
    factory: async_sessionmaker[AsyncSession],
    handlers: Mapping[str, DeliveryHandler],
    *,
    batch_size: int = 50,
    max_attempts: int = 3,
    schemas: Mapping[int, str] | None = None,
) -> int:
    async with tenant_session(factory, None) as session:
        return await deliver_batch(session, handlers, schemas or {}, batch_size=batch_size, max_attempts=max_attempts)


async def rows(engine: AsyncEngine) -> dict[int, Any]:
    async with engine.connect() as conn:
        result = await conn.execute(
            text(
                "SELECT id, status, attempts, last_error, available_at - now() AS due_in, delivered_at"
                " FROM platform.outbox ORDER BY id"
            )
        )
        return {r.id: r for r in result}


async def marks(engine: AsyncEngine) -> dict[int, str]:
    async with engine.connect() as conn:
        result = await conn.execute(text("SELECT entry_id, note FROM t_outbox.marks"))
        return {r.entry_id: r.note for r in result}


async def make_due(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE platform.outbox SET available_at = now() - interval '1 second'"))


async def mark(delivery: Delivery, note: str) -> None:
    await delivery.session.execute(
        text("INSERT INTO t_outbox.marks (entry_id, note) VALUES (:id, :note)"), {"id": delivery.id, "note": note}
    )


# --- retries, backoff, dead letters ------------------------------------------------------------


def test_backoff_doubles_and_is_capped() -> None:
    assert [backoff(n).total_seconds() for n in (1, 2, 3, 4)] == [2, 4, 8, 16]
    assert backoff(12) == dt.timedelta(hours=1)
    assert backoff(1000) == dt.timedelta(hours=1)


async def test_failing_consumer_is_retried_with_backoff_then_dead(fresh_engine: AsyncEngine) -> None:
    factory = session_factory(fresh_engine)
    calls: list[int] = []

    async def failing(delivery: Delivery) -> None:
        calls.append(delivery.id)
        raise RuntimeError(f"boom {len(calls)}")

    (entry_id,) = await enqueue_many(factory, ["t.fail"])
    handlers = {"t.fail": failing}

    assert await deliver(factory, handlers) == 1
    row = (await rows(fresh_engine))[entry_id]
    assert (row.status, row.attempts, row.last_error) == ("pending", 1, "RuntimeError: boom 1")
    assert row.delivered_at is None
    # Retry 1 waits backoff(1) = 2 s (a little less by now).
    assert dt.timedelta(seconds=1) < row.due_in <= dt.timedelta(seconds=2)

    # Not due yet: nothing is claimed, the consumer is not called.
    assert await deliver(factory, handlers) == 0
    assert calls == [entry_id]

    await make_due(fresh_engine)
    assert await deliver(factory, handlers) == 1
    row = (await rows(fresh_engine))[entry_id]
    assert (row.status, row.attempts, row.last_error) == ("pending", 2, "RuntimeError: boom 2")
    assert dt.timedelta(seconds=3) < row.due_in <= dt.timedelta(seconds=4)

    # The third failure is the last attempt (max_attempts=3): dead, with the last error.
    await make_due(fresh_engine)
    assert await deliver(factory, handlers) == 1
    row = (await rows(fresh_engine))[entry_id]
    assert (row.status, row.attempts, row.last_error) == ("dead", 3, "RuntimeError: boom 3")
    assert row.delivered_at is None

    # A dead entry is never claimed again.
    await make_due(fresh_engine)
    assert await deliver(factory, handlers) == 0
    assert calls == [entry_id] * 3


async def test_topic_without_consumer_is_retried_then_dead(fresh_engine: AsyncEngine) -> None:
    factory = session_factory(fresh_engine)
    delivered: list[int] = []

    async def ok(delivery: Delivery) -> None:
        delivered.append(delivery.id)

    orphan, fine = await enqueue_many(factory, ["t.nobody", "t.ok"])
    assert await deliver(factory, {"t.ok": ok}, max_attempts=2) == 2
    state = await rows(fresh_engine)
    assert (state[orphan].status, state[orphan].attempts) == ("pending", 1)
    await make_due(fresh_engine)
    assert await deliver(factory, {"t.ok": ok}, max_attempts=2) == 1
    state = await rows(fresh_engine)
    assert (state[orphan].status, state[orphan].attempts) == ("dead", 2)
    assert "NoConsumer" in state[orphan].last_error
    assert "t.nobody" in state[orphan].last_error
    assert state[fine].status == "delivered"
    assert delivered == [fine]


async def test_failed_attempt_rolls_back_its_own_writes_only(fresh_engine: AsyncEngine) -> None:
    """Each consumer runs in a savepoint: a failure undoes its writes, not the batch's others."""
    factory = session_factory(fresh_engine)
    tenant = await make_tenant(fresh_engine)
    search_paths: dict[int, str] = {}

    async def ok(delivery: Delivery) -> None:
        await mark(delivery, "ok")

    async def write_then_raise(delivery: Delivery) -> None:
        await mark(delivery, "raised")
        raise ValueError("after writing")

    async def write_then_sql_error(delivery: Delivery) -> None:
        await mark(delivery, "sql error")
        await delivery.session.execute(text("SELECT 1 / 0"))

    async def tenant_write_then_raise(delivery: Delivery) -> None:
        await delivery.use_tenant_schema()
        await delivery.session.execute(text("UPDATE profile SET phone = 'changed' WHERE id = 1"))
        raise RuntimeError("tenant write failed")

    async def tenant_write(delivery: Delivery) -> None:
        await delivery.use_tenant_schema()
        await delivery.session.execute(text("UPDATE profile SET email = 'kept@example.org' WHERE id = 1"))

    async def probe(delivery: Delivery) -> None:
        # Every consumer starts in the void schema, whatever the one before it did.
        path = (await delivery.session.execute(text("SELECT current_setting('search_path')"))).scalar_one()
        search_paths[delivery.id] = path
        await mark(delivery, "probe")

    handlers = {
        "t.ok": ok,
        "t.raise": write_then_raise,
        "t.sql": write_then_sql_error,
        "t.tenant_fail": tenant_write_then_raise,
        "t.tenant_ok": tenant_write,
        "t.probe": probe,
    }
    topics = ["t.ok", "t.raise", "t.ok", "t.sql", "t.ok", "t.tenant_fail", "t.probe", "t.tenant_ok", "t.probe"]
    ids = await enqueue_many(factory, topics, tenant_id=tenant.id)
    by_topic = dict(zip(ids, topics, strict=True))

    assert await deliver(factory, handlers, schemas={tenant.id: tenant.schema}) == len(ids)

    state = await rows(fresh_engine)
    failed = {i for i, t in by_topic.items() if t in ("t.raise", "t.sql", "t.tenant_fail")}
    for i in ids:
        expected = ("pending", 1) if i in failed else ("delivered", 1)
        assert (state[i].status, state[i].attempts) == expected, by_topic[i]
    assert state[ids[1]].last_error == "ValueError: after writing"
    assert "DivisionByZero" in state[ids[3]].last_error or "division by zero" in state[ids[3]].last_error
    assert state[ids[5]].last_error == "RuntimeError: tenant write failed"
    assert await marks(fresh_engine) == {
        ids[0]: "ok",
        ids[2]: "ok",
        ids[4]: "ok",
        ids[6]: "probe",
        ids[8]: "probe",
    }
    assert search_paths == {ids[6]: "tenant_void", ids[8]: "tenant_void"}
    async with fresh_engine.connect() as conn:
        profile = (await conn.execute(text(f'SELECT phone, email FROM "{tenant.schema}".profile'))).one()
    assert profile.phone != "changed"
    assert profile.email == "kept@example.org"


async def test_consumer_writes_commit_with_the_delivered_mark(fresh_engine: AsyncEngine) -> None:
    """The batch is one transaction: if it does not commit, neither the writes nor the marks do."""
    factory = session_factory(fresh_engine)
    (entry_id,) = await enqueue_many(factory, ["t.ok"])

    async def ok(delivery: Delivery) -> None:
        await mark(delivery, "ok")

    class Crash(Exception):
        pass

    async def die_before_commit() -> None:
        async with tenant_session(factory, None) as session:
            await deliver_batch(session, {"t.ok": ok}, {}, batch_size=10, max_attempts=3)
            raise Crash  # the worker dies before committing

    with pytest.raises(Crash):
        await die_before_commit()
    assert (await rows(fresh_engine))[entry_id].status == "pending"
    assert await marks(fresh_engine) == {}

    assert await deliver(factory, {"t.ok": ok}) == 1
    assert (await rows(fresh_engine))[entry_id].status == "delivered"
    assert await marks(fresh_engine) == {entry_id: "ok"}


# --- delayed entries ---------------------------------------------------------------------------


async def test_not_before_delays_delivery_until_then(fresh_engine: AsyncEngine) -> None:
    """An entry is never claimed before its ``not_before``; one in the past is simply due."""
    factory = session_factory(fresh_engine)
    delivered: list[int] = []

    async def ok(delivery: Delivery) -> None:
        delivered.append(delivery.id)

    in_an_hour = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    bangkok_yesterday = dt.datetime.now(dt.timezone(dt.timedelta(hours=7))) - dt.timedelta(days=1)
    async with tenant_session(factory, None) as session:
        later = await enqueue(session, "t.ok", {}, tenant_id=None, not_before=in_an_hour)
        past = await enqueue(session, "t.ok", {}, tenant_id=None, not_before=bangkok_yesterday)
        now = await enqueue(session, "t.ok", {}, tenant_id=None)
    state = await rows(fresh_engine)
    assert dt.timedelta(minutes=59) < state[later.id].due_in <= dt.timedelta(hours=1)

    assert await deliver(factory, {"t.ok": ok}) == 2
    assert sorted(delivered) == sorted([past.id, now.id])
    assert (await rows(fresh_engine))[later.id].status == "pending"
    assert await deliver(factory, {"t.ok": ok}) == 0  # still an hour to go

    # The hour passes (the clock is the database's: move the entry instead of waiting).
    await make_due(fresh_engine)
    assert await deliver(factory, {"t.ok": ok}) == 1
    assert delivered[-1] == later.id
    assert (await rows(fresh_engine))[later.id].status == "delivered"


async def test_not_before_must_be_an_aware_datetime(engine: AsyncEngine) -> None:
    factory = session_factory(engine)
    with pytest.raises(ValueError, match="aware datetime"):
        async with tenant_session(factory, None) as session:
            await enqueue(session, "t.ok", {}, tenant_id=None, not_before=dt.datetime(2030, 1, 1))


# --- two workers ------------------------------------------------------------------------------


async def test_two_workers_never_claim_the_same_entry(fresh_engine: AsyncEngine) -> None:
    factory = session_factory(fresh_engine)
    ids = await enqueue_many(factory, ["t.work"] * 20)
    seen: Counter[int] = Counter()
    sessions: set[int] = set()
    both_inside = asyncio.Event()

    async def work(delivery: Delivery) -> None:
        seen[delivery.id] += 1
        sessions.add(id(delivery.session))
        if len(sessions) == 2:
            both_inside.set()
        # Both batches are open at once: with plain FOR UPDATE the second would wait for the
        # first one's locks and this would time out.
        await asyncio.wait_for(both_inside.wait(), timeout=10)
        await mark(delivery, str(id(delivery.session)))

    handlers = {"t.work": work}
    first, second = await asyncio.gather(
        deliver(factory, handlers, batch_size=10), deliver(factory, handlers, batch_size=10)
    )
    assert (first, second) == (10, 10)
    assert seen == dict.fromkeys(ids, 1)
    state = await rows(fresh_engine)
    assert all(state[i].status == "delivered" and state[i].attempts == 1 for i in ids)
    written = await marks(fresh_engine)
    assert sorted(written) == ids
    assert len(set(written.values())) == 2

    # Nothing is left for a third worker.
    assert await deliver(factory, handlers) == 0


# --- the kill test ----------------------------------------------------------------------------

WORKER_CHILD = Path(worker_child.__file__)
N_ENTRIES = 300
BATCH = 20


def _run(coro_fn: Callable[[], Any]) -> Any:
    return asyncio.run(coro_fn())


def _fetch(url: str, query: str) -> list[asyncpg.Record]:
    async def go() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(url)
        try:
            return list(await conn.fetch(query))
        finally:
            await conn.close()

    records: list[asyncpg.Record] = _run(go)
    return records


def _setup_kill_test(url: str) -> list[int]:
    async def go() -> list[int]:
        engine = create_engine(make_settings(url))
        try:
            async with engine.begin() as conn:
                for statement in worker_child.SETUP_SQL:
                    await conn.execute(text(statement))
            return await enqueue_many(session_factory(engine), [worker_child.TOPIC] * N_ENTRIES)
        finally:
            await engine.dispose()

    result: list[int] = _run(go)
    return result


def _start_worker(url: str, out: Path, log: Path, *stall_after: str) -> subprocess.Popen[bytes]:
    with log.open("ab") as log_file:
        return subprocess.Popen(  # noqa: S603 - our own interpreter and script
            [sys.executable, str(WORKER_CHILD), url, str(out), "0.01", str(BATCH), *stall_after],
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )


def _file_ids(out: Path) -> list[int]:
    if not out.exists():
        return []
    return [int(line) for line in out.read_text().splitlines() if line]


def _delivered(url: str) -> set[int]:
    return {r["id"] for r in _fetch(url, "SELECT id FROM platform.outbox WHERE status = 'delivered'")}


def _wait_for(predicate: Callable[[], bool], proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:
            pytest.fail(f"worker exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for the worker:\n{log.read_text()[-4000:]}")
        time.sleep(0.005)


def test_worker_killed_mid_batch_delivers_everything_once(fresh_database_url: str, tmp_path: Path) -> None:
    url = fresh_database_url
    out, log = tmp_path / "effects.txt", tmp_path / "worker.log"
    ids = _setup_kill_test(url)
    all_ids = set(ids)

    # Half-way through its second batch the consumer hangs: kill it there. Some effects happened
    # outside the database, and the batch that caused them was not committed.
    stall_after = BATCH + BATCH // 2
    proc = _start_worker(url, out, log, str(stall_after))
    try:
        _wait_for(lambda: len(_file_ids(out)) >= stall_after, proc, log, timeout=30)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL

    effects_before = set(_file_ids(out))
    delivered_before = _delivered(url)
    assert delivered_before < all_ids, "the kill came too late: everything was delivered"
    assert len(effects_before) == stall_after
    assert len(delivered_before) == BATCH
    killed_batch = effects_before - delivered_before
    assert len(killed_batch) == BATCH // 2
    # The killed batch's database writes died with its transaction.
    seen_before = _fetch(url, "SELECT entry_id, times FROM killtest.seen")
    assert {r["entry_id"] for r in seen_before} == delivered_before

    proc = _start_worker(url, out, log)
    try:
        deadline = time.monotonic() + 60
        while _delivered(url) != all_ids:
            assert proc.poll() is None, log.read_text()[-4000:]
            assert time.monotonic() < deadline, "the restarted worker did not deliver everything"
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, log.read_text()[-4000:]

    outbox = _fetch(url, "SELECT id, status, attempts FROM platform.outbox")
    assert {r["id"] for r in outbox} == all_ids
    assert {r["status"] for r in outbox} == {"delivered"}
    assert {r["attempts"] for r in outbox} == {1}
    # The database write of the consumer happened exactly once per entry …
    seen = _fetch(url, "SELECT entry_id, times FROM killtest.seen")
    assert {r["entry_id"] for r in seen} == all_ids
    assert {r["times"] for r in seen} == {1}
    # … while the effect outside the database happened at least once, twice for the killed batch.
    effects = Counter(_file_ids(out))
    assert set(effects) == all_ids
    assert {i for i, n in effects.items() if n > 1} == killed_batch
    assert max(effects.values()) == 2


# --- the worker loop --------------------------------------------------------------------------


async def test_worker_survives_a_failing_tick_and_stops_when_told(fresh_database_url: str) -> None:
    settings = make_settings(fresh_database_url, worker_poll_s=0.01)
    engine = create_engine(settings)
    try:
        ids = await enqueue_many(session_factory(engine), ["t.ok"] * 3)
    finally:
        await engine.dispose()
    delivered: list[int] = []

    async def ok(delivery: Delivery) -> None:
        delivered.append(delivery.id)

    plugin = ServicePlugin(
        slug="outboxtest",
        title_th="ทดสอบ",
        title_en="Outbox test",
        router=Router(path="/v1/outboxtest", route_handlers=[]),
        handlers={"t.ok": ok},
    )
    worker = Worker(settings, [plugin])
    real_tick = worker.tick
    ticks = 0

    async def tick(factory: async_sessionmaker[AsyncSession], catalog: Catalog) -> int:
        nonlocal ticks
        ticks += 1
        if ticks == 1:
            raise ConnectionError("the database went away")
        handled = await real_tick(factory, catalog)
        if delivered:
            worker.stopping.set()
        return handled

    worker.tick = tick  # type: ignore[method-assign]
    await asyncio.wait_for(worker.run(), timeout=20)
    assert ticks == 2
    assert delivered == ids


async def test_a_commit_that_writes_the_outbox_wakes_an_idle_worker(fresh_database_url: str) -> None:
    """With a 30 s poll, an entry committed while the worker idles is delivered within seconds (NOTIFY)."""
    settings = make_settings(fresh_database_url, worker_poll_s=30.0)
    delivered = asyncio.Event()
    ticks = 0

    async def ok(delivery: Delivery) -> None:
        delivered.set()

    plugin = ServicePlugin(
        slug="outboxwake",
        title_th="ทดสอบ",
        title_en="Outbox wake-up test",
        router=Router(path="/v1/outboxwake", route_handlers=[]),
        handlers={"t.wake": ok},
    )
    worker = Worker(settings, [plugin])
    real_tick = worker.tick

    async def tick(factory: async_sessionmaker[AsyncSession], catalog: Catalog) -> int:
        nonlocal ticks
        ticks += 1
        return await real_tick(factory, catalog)

    worker.tick = tick  # type: ignore[method-assign]
    running = asyncio.create_task(worker.run())
    engine = create_engine(settings)
    try:
        for _ in range(200):  # the first poll found nothing: the worker now idles for 30 s
            if ticks:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # time to LISTEN
        assert ticks == 1
        started = time.perf_counter()
        await enqueue_many(session_factory(engine), ["t.wake"])
        await asyncio.wait_for(delivered.wait(), timeout=10)
        assert time.perf_counter() - started < 5  # a poll would have taken 30 s
        assert ticks == 2
    finally:
        worker.stop()
        await asyncio.wait_for(running, timeout=10)
        await engine.dispose()


async def test_solo_topics_commit_one_entry_per_transaction(fresh_database_url: str) -> None:
    """Long work others wait to see (provisioning) is not held back until a whole batch commits."""
    settings = make_settings(fresh_database_url)
    transactions: dict[str, list[int]] = {"t.solo": [], "t.batch": []}

    async def record(delivery: Delivery) -> None:
        txid = (await delivery.session.execute(text("SELECT txid_current()"))).scalar_one()
        transactions[delivery.entry.topic].append(int(txid))

    plugin = ServicePlugin(
        slug="outboxsolo",
        title_th="ทดสอบ",
        title_en="Solo topics test",
        router=Router(path="/v1/outboxsolo", route_handlers=[]),
        handlers={"t.solo": record, "t.batch": record},
        solo_topics=frozenset({"t.solo"}),
    )
    engine = create_engine(settings)
    try:
        factory = session_factory(engine)
        await enqueue_many(factory, ["t.batch", "t.solo", "t.batch", "t.solo", "t.solo"])
        worker = Worker(settings, [plugin])
        catalog = Catalog(settings.base_domain)
        await catalog.load(engine)
        assert await worker.tick(factory, catalog) == 5
    finally:
        await engine.dispose()
    assert len(set(transactions["t.solo"])) == 3  # one transaction each
    assert len(transactions["t.batch"]) == 2
    assert len(set(transactions["t.batch"])) == 1  # the rest share the batch's
    assert set(transactions["t.batch"]).isdisjoint(transactions["t.solo"])


# --- a tenant's entry: the consumer acts as the tenant, and only while it is delivered ---------------


async def test_a_delivery_that_uses_its_tenant_counts_as_the_tenant_until_it_ends(fresh_engine: AsyncEngine) -> None:
    """A consumer that moves to its entry's tenant may meter usage and queue notifications for it
    (they need a tenant-bound session); the next entry of the batch, and the claiming session once
    the batch is over, are bound to no tenant again, whether the consumer succeeded or failed."""
    a = await make_tenant(fresh_engine)
    b = await make_tenant(fresh_engine)
    factory = session_factory(fresh_engine)
    await enqueue_many(factory, ["t.tenant"], tenant_id=a.id)
    await enqueue_many(factory, ["t.fails"], tenant_id=b.id)
    await enqueue_many(factory, ["t.none"])
    meter = UsageMeter(code="test.delivered", unit="entry", title_th="ส่งแล้ว", title_en="Delivered")
    seen: dict[str, object] = {}

    async def as_tenant(delivery: Delivery) -> None:
        await delivery.use_tenant_schema()
        seen["tenant"] = session_tenant_id(delivery.session)
        await record_usage(delivery.session, meter, 1, f"entry:{delivery.id}")

    async def fails(delivery: Delivery) -> None:
        await delivery.use_tenant_schema()
        raise RuntimeError("after binding")

    async def tenantless(delivery: Delivery) -> None:
        seen["none"] = session_binding(delivery.session)

    schemas = {a.id: a.schema, b.id: b.schema}
    async with tenant_session(factory, None) as session:
        delivered = await deliver_batch(
            session,
            {"t.tenant": as_tenant, "t.fails": fails, "t.none": tenantless},
            schemas,
            batch_size=10,
            max_attempts=3,
        )
        after = session_binding(session)
    assert delivered == 3
    assert seen == {"tenant": a.id, "none": (None, None)}
    assert after == (None, None)
    async with fresh_engine.connect() as conn:
        counted = await conn.execute(text("SELECT tenant_id FROM platform.usage_events WHERE meter = 'test.delivered'"))
        assert list(counted.scalars()) == [a.id]
