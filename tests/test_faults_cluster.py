"""Database faults on a PostgreSQL server the tests start and stop (issue 18), under a steady stream
of writes (``POST /v1/demo/pings``), signed bank payment notifications and readiness probes:

- ``restart``: ``pg_ctl restart -m fast`` (connections closed, then the server is down, then starting);
- ``crash``: ``pg_ctl stop -m immediate`` then start (crash recovery from the WAL);
- ``connections``: every free connection slot taken by others, the application's backends killed
  (it must reconnect into a full table: SQLSTATE 53300);
- ``terminate``: the application's backends killed three times, 200 ms apart;
- ``lock``: ``ACCESS EXCLUSIVE`` on the tables every write needs, for as long as it takes the
  stream to see the fault.

Each fault is held until the stream has seen it (503s of writes, notifications and readiness), not
for a fixed time; every wait polls a condition. Checked: nothing but 2xx and 503 is ever answered;
readiness answers 503 whenever writes cannot complete; the first write succeeds at most 5 s after the
fault ends; and afterwards every acknowledged write and notification is in the database exactly
once; a refused attempt at most once (stored only when its COMMIT reached the server and the
connection died before the answer: an *ambiguous commit*, counted); a bank transaction resent after
a 503 is recorded once whatever became of the earlier attempts. The figures are printed (``pytest -s``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.app import create_app
from localgov.kernel.audit import Actor, Origin
from localgov.kernel.db import create_engine, session_factory, tenant_session
from localgov.kernel.tenancy import TenantInfo
from localgov.plugins import REGISTRY
from localgov.services.payments import bank
from localgov.services.payments.api import BillLine, create_bill
from localgov.services.payments.models import Payer, PaymentSettings
from localgov.settings import Settings
from tests.conftest import _migrated_database, host, make_settings
from tests.support.database import drop_database
from tests.support.demo_plugin import DEMO
from tests.support.factories import make_tenant
from tests.support.pgcluster import PgCluster
from tests.support.tokens import TEST_SECRET, bearer

RECOVERY_LIMIT_S = 5.0
POOL_SIZE = 4
MAX_CONNECTIONS = 24
BILLS = 40
PLUGINS = (DEMO, *(p for p in REGISTRY if p.slug == "payments"))


@pytest.fixture(scope="module")
def cluster() -> Iterator[PgCluster]:
    server = PgCluster(max_connections=MAX_CONNECTIONS)
    server.start()
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture(scope="module")
def cluster_url(cluster: PgCluster) -> Iterator[str]:
    url = asyncio.run(_migrated_database(cluster.admin_url))
    yield url
    if cluster.running():
        asyncio.run(drop_database(cluster.admin_url, url))


def app_settings(url: str) -> Settings:
    return make_settings(
        url,
        db_pool_size=POOL_SIZE,
        db_pool_timeout_s=0.5,
        db_lock_timeout_ms=500,
        ready_write_timeout_ms=500,
        login_rate_limit=1_000_000,
        log_level="ERROR",  # every 503 is logged as a warning
    )


class Lao:
    def __init__(self, tenant: TenantInfo, biller_id: str, secret: str, bills: list[str]) -> None:
        self.tenant, self.biller_id, self.secret, self.bills = tenant, biller_id, secret, bills


async def payments_lao(engine: AsyncEngine) -> Lao:
    tenant = await make_tenant(engine, services=["demo", "payments"])
    biller = f"0994{uuid.uuid4().int % 10**9:09d}01"
    references: list[str] = []
    async with tenant_session(session_factory(engine), tenant) as session:
        session.add(PaymentSettings(id=1, biller_id=biller, receipt_book_size=100))
        await session.flush()
        secret, _ = await bank.rotate_webhook_secret(session, TEST_SECRET, actor=Actor("system"), origin=Origin())
        payer = Payer(kind="person", name="นางสาวน้ำฝน ใจดี", house_no="99/1", moo="3", subdistrict="แม่เหียะ")
        session.add(payer)
        await session.flush()
        line = BillLine(fee_code="garbage.collection", description_th="ค่าเก็บขยะมูลฝอย", amount=Decimal("80.00"))
        for _ in range(BILLS):
            bill = await create_bill(
                session,
                payer_id=payer.id,
                lines=[line],
                due_date=dt.date.today() + dt.timedelta(days=30),
                source="test",
                source_key=uuid.uuid4().hex,
            )
            references.append(bill.reference)
    return Lao(tenant, biller, secret, references)


class Traffic:
    """Every answer, stamped with when it was sent and when it came back."""

    def __init__(self) -> None:
        self.writes: list[tuple[float, float, int, str]] = []  # (sent, answered, status, message)
        self.notices: list[tuple[float, float, int, str]] = []  # (..., bank transaction id)
        self.ready: list[tuple[float, float, int]] = []
        self.others: Counter[str] = Counter()  # answers other than 2xx and 503, by kind and status
        self.stop = asyncio.Event()

    def acked(self, log: list[tuple[float, float, int, str]], after: float = 0.0) -> int:
        return sum(1 for _, answered, status, _ in log if status < 300 and answered >= after)

    def seen_503(self, after: float) -> tuple[int, int, int]:
        return (
            sum(1 for sent, _, s, _ in self.writes if s == 503 and sent >= after),
            sum(1 for sent, _, s, _ in self.notices if s == 503 and sent >= after),
            sum(1 for sent, _, s in self.ready if s == 503 and sent >= after),
        )


async def writer(http: httpx.AsyncClient, lao: Lao, traffic: Traffic, n: int) -> None:
    headers = {**host(lao.tenant.slug), **bearer(lao.tenant, roles=["demo.clerk"], subject=f"writer-{n}")}
    sequence = 0
    while not traffic.stop.is_set():
        sequence += 1
        key, attempt = uuid.uuid4().hex, 0
        while not traffic.stop.is_set():  # resent after a 503, as a client honouring Retry-After would
            # Each attempt is told apart by its message: an attempt answered 503 whose COMMIT had
            # reached the server before its connection died (an ambiguous commit) shows as stored.
            attempt += 1
            message = f"w{n}-{sequence}-{attempt}-{uuid.uuid4().hex[:6]}"
            sent = time.perf_counter()
            response = await http.post(
                "/v1/demo/pings", json={"message": message}, headers={**headers, "Idempotency-Key": key}
            )
            traffic.writes.append((sent, time.perf_counter(), response.status_code, message))
            if response.status_code < 300:
                break
            if response.status_code != 503:
                traffic.others[f"write {response.status_code}"] += 1
                break
            await asyncio.sleep(0.05)


async def notifier(http: httpx.AsyncClient, lao: Lao, traffic: Traffic) -> None:
    sequence = 0
    while not traffic.stop.is_set():
        reference = lao.bills[sequence % len(lao.bills)]  # later rounds: paid bills, recorded as exceptions
        sequence += 1
        payload = {
            "transaction_id": f"TXN{uuid.uuid4().hex[:16].upper()}",
            "biller_id": lao.biller_id,
            "ref1": reference,
            "amount": "80.00",
            "paid_at": dt.datetime.now(dt.UTC).isoformat(),
            "payer_bank": "014",
        }
        body = json.dumps(payload).encode()
        while not traffic.stop.is_set():  # the bank resends the same transaction until it is taken
            stamp = str(int(dt.datetime.now(dt.UTC).timestamp()))
            headers = {
                **host(lao.tenant.slug),
                "Content-Type": "application/json",
                "X-Localgov-Timestamp": stamp,
                "X-Localgov-Signature": bank.sign(lao.secret, stamp, body),
            }
            sent = time.perf_counter()
            response = await http.post("/v1/payments/bank/notifications", content=body, headers=headers)
            traffic.notices.append((sent, time.perf_counter(), response.status_code, payload["transaction_id"]))
            if response.status_code < 300:
                break
            if response.status_code != 503:
                traffic.others[f"notice {response.status_code}"] += 1
                break
            await asyncio.sleep(0.05)


async def prober(http: httpx.AsyncClient, traffic: Traffic) -> None:
    while not traffic.stop.is_set():
        sent = time.perf_counter()
        response = await http.get("/health/ready")
        traffic.ready.append((sent, time.perf_counter(), response.status_code))
        if response.status_code not in (200, 503):
            traffic.others[f"ready {response.status_code}"] += 1
        await asyncio.sleep(0.05)


async def until(condition: Callable[[], bool], limit_s: float, what: str) -> float:
    """Poll ``condition`` every 10 ms; the moment it held (fails after ``limit_s``)."""
    started = time.perf_counter()
    while not condition():
        if time.perf_counter() - started > limit_s:
            raise AssertionError(f"not within {limit_s} s: {what}")
        await asyncio.sleep(0.01)
    return time.perf_counter()


class Fault:
    """Injects one fault; ``outage`` is the interval during which no write can complete."""

    def __init__(self, kind: str, cluster: PgCluster, url: str, lao: Lao) -> None:
        self.kind, self.cluster, self.url, self.lao = kind, cluster, url, lao
        self.outage: tuple[float, float] | None = None
        self._held: list[asyncpg.Connection] = []
        self._side: asyncpg.Connection | None = None
        self.details: dict[str, Any] = {}

    async def _kill_app_backends(self, conn: asyncpg.Connection) -> int:
        return int(
            await conn.fetchval(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND application_name = 'localgov'"
                " AND backend_type = 'client backend'"
            )
        )

    async def begin(self) -> None:
        loop = asyncio.get_running_loop()
        if self.kind in ("restart", "crash"):
            mode = "fast" if self.kind == "restart" else "immediate"
            down = await loop.run_in_executor(None, self.cluster.stop, mode)
            self.outage = (down, down)
        elif self.kind == "connections":
            self._side = await asyncpg.connect(self.url, server_settings={"application_name": "localgov-test"})
            # Take every free slot, kill the application's connections, take the slots they free:
            # until every slot of the table is the test's own. Asking pg_stat_activity whether the
            # application still has a backend is not enough: a backend still starting holds its slot
            # before it shows there with its application_name, and would then serve writes inside
            # the outage. Slots are counted instead (superuser_reserved_connections = 0).
            deadline = time.perf_counter() + 15
            killed = 0
            while time.perf_counter() < deadline:
                try:
                    self._held.append(await asyncpg.connect(self.url, server_settings={"application_name": "filler"}))
                    continue
                except asyncpg.TooManyConnectionsError:
                    pass
                if len(self._held) + 1 >= self.cluster.max_connections:
                    break
                killed += await self._kill_app_backends(self._side)
                await asyncio.sleep(0.01)  # the killed backends exit and free their slots
            else:
                raise AssertionError("the connection table could not be filled")
            self.details.update(fillers=len(self._held), killed=killed)
            self.outage = (time.perf_counter(), time.perf_counter())
        elif self.kind == "terminate":
            self._side = await asyncpg.connect(self.url, server_settings={"application_name": "localgov-test"})
            killed = 0
            for _ in range(3):
                killed += await self._kill_app_backends(self._side)
                await asyncio.sleep(0.2)
            self.details["killed"] = killed
        elif self.kind == "lock":
            self._side = await asyncpg.connect(self.url, server_settings={"application_name": "localgov-test"})
            await self._side.execute("BEGIN")
            await self._side.execute("LOCK TABLE platform.outbox IN ACCESS EXCLUSIVE MODE")
            await self._side.execute(f'LOCK TABLE "{self.lao.tenant.schema}".payments IN ACCESS EXCLUSIVE MODE')
            self.outage = (time.perf_counter(), time.perf_counter())

    async def end(self) -> float:
        """Lift the fault; when it was lifted (the server accepting connections again, for a restart)."""
        loop = asyncio.get_running_loop()
        if self.kind in ("restart", "crash"):
            assert self.outage is not None
            started = time.perf_counter()
            self.outage = (self.outage[0], started)
            back = await loop.run_in_executor(None, self.cluster.start)
            self.details["start_s"] = round(back - started, 3)
            return back
        if self.kind in ("connections", "lock"):
            assert self.outage is not None
            self.outage = (self.outage[0], time.perf_counter())
        if self.kind == "lock" and self._side is not None:
            await self._side.execute("ROLLBACK")
        for conn in self._held:
            await conn.close()
        lifted = time.perf_counter()
        if self._side is not None:
            await self._side.close()
        return lifted


@pytest.mark.parametrize("kind", ["restart", "crash", "connections", "terminate", "lock"])
async def test_a_fault_answers_only_503_recovers_within_5_s_and_loses_nothing(
    cluster: PgCluster, cluster_url: str, kind: str
) -> None:
    settings = app_settings(cluster_url)
    setup = create_engine(settings)
    try:
        lao = await payments_lao(setup)
    finally:
        await setup.dispose()  # the test's own connections do not count against the table
    app = create_app(settings, plugins=PLUGINS, listen_for_catalog_changes=False)
    traffic = Traffic()
    fault = Fault(kind, cluster, cluster_url, lao)
    transport = httpx.ASGITransport(app=app)
    async with app.lifespan(), httpx.AsyncClient(transport=transport, base_url="http://x", timeout=60) as http:
        tasks = [asyncio.create_task(writer(http, lao, traffic, n)) for n in range(4)]
        tasks += [asyncio.create_task(notifier(http, lao, traffic)), asyncio.create_task(prober(http, traffic))]
        try:
            await until(
                lambda: traffic.acked(traffic.writes) >= 8 and traffic.acked(traffic.notices) >= 3,
                20,
                "a steady state",
            )
            began = time.perf_counter()
            await fault.begin()
            if kind != "terminate":  # held until the stream has seen it
                # ... from the moment no write can complete (the server down, the table full, the lock held).
                since = fault.outage[0] if fault.outage is not None else began
                await until(lambda: min(traffic.seen_503(since)) >= 2, 15, "the stream seeing the fault")
            ended = await fault.end()
            first_ok = await until(
                lambda: traffic.acked(traffic.writes, after=ended) >= 1, 15, "a write succeeding after the fault"
            )
            await until(
                lambda: (
                    traffic.acked(traffic.writes, after=first_ok) >= 8
                    and traffic.acked(traffic.notices, after=ended) >= 3
                ),
                20,
                "the stream flowing again",
            )
        finally:
            traffic.stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)

    recovery = min(answered for _, answered, status, _ in traffic.writes if status < 300 and answered >= ended) - ended

    def window(log: list[Any]) -> dict[str, int]:
        return dict(Counter(str(entry[2]) for entry in log if entry[0] >= began and entry[1] <= first_ok))

    figures = {
        "fault": kind,
        "held_s": round(ended - began, 3),
        "writes_during": window(traffic.writes),
        "notices_during": window(traffic.notices),
        "ready_during": window(traffic.ready),
        "recovery_s": round(recovery, 3),
        **fault.details,
    }

    # Only 2xx and 503, everywhere, all along.
    assert not traffic.others, traffic.others
    assert all(s < 300 or s == 503 for _, _, s, _ in traffic.writes + traffic.notices)
    # The fault was seen as 503s (a terminated backend may cost nothing when the pool reconnects first).
    if kind != "terminate":
        assert figures["writes_during"].get("503", 0) >= 1, figures
    # Readiness: 503 for every probe sent and answered while writes could not complete.
    if fault.outage is not None:
        low, high = fault.outage
        inside = [s for sent, answered, s in traffic.ready if sent >= low and answered <= high]
        assert inside, figures
        assert set(inside) == {503}, (inside, figures)
        assert not [w for w in traffic.writes if w[0] >= low and w[1] <= high and w[2] < 300]
    assert recovery <= RECOVERY_LIMIT_S, figures

    # Nothing acknowledged lost or recorded twice; nothing refused recorded at all.
    acked_messages = {m for _, _, s, m in traffic.writes if s < 300}
    acked_txns = {t for _, _, s, t in traffic.notices if s < 300}
    conn = await asyncpg.connect(cluster_url)
    try:
        stored_messages = Counter(
            r["m"]
            for r in await conn.fetch(
                "SELECT payload->>'message' AS m FROM platform.outbox WHERE topic = 'demo.pinged' AND tenant_id = $1",
                lao.tenant.id,
            )
        )
        stored_txns = Counter(
            r["t"] for r in await conn.fetch(f'SELECT bank_txn_id AS t FROM "{lao.tenant.schema}".payments')
        )
    finally:
        await conn.close()
    attempted_messages = {m for *_, m in traffic.writes}
    attempted_txns = {t for *_, t in traffic.notices}
    assert {m: stored_messages[m] for m in acked_messages if stored_messages[m] != 1} == {}
    assert {t: stored_txns[t] for t in acked_txns if stored_txns[t] != 1} == {}
    # A refused attempt is stored at most once: never, but for an ambiguous commit (counted).
    assert max((stored_messages[m] for m in attempted_messages), default=0) <= 1
    ambiguous = sum(1 for m in attempted_messages - acked_messages if stored_messages[m])
    # The bank resends the same transaction: whatever became of an attempt, it is recorded once.
    assert {t: stored_txns[t] for t in attempted_txns if stored_txns[t] > 1} == {}
    assert len(attempted_txns - acked_txns) <= 1  # resent until taken: only the one in flight at the end
    figures.update(
        writes_acked=len(acked_messages),
        notices_acked=len(acked_txns),
        lost=0,
        duplicated=0,
        ambiguous_commits=ambiguous,
    )
    print(f"\nfault figures: {json.dumps(figures, ensure_ascii=False)}")
