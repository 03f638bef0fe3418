"""Benchmark of fee payments: a bill run, bank notifications with receipts, QR and receipt renders.

    .venv/bin/python bench/payments.py [--accounts 10000] [--notifications 2000] [--concurrency 16]
                                       [--qr-renders 2000] [--pdf-renders 200] [--pay-pages 1000]
                                       [--counter 500] [--cashiers 4] [--database-url URL]

One run creates a database of its own on a loopback PostgreSQL (``LOCALGOV_BENCH_DATABASE_URL``,
else ``postgresql://postgres@127.0.0.1:5432/postgres``), migrates it, provisions one LAO with the
payments service, its Biller ID and webhook secret, and measures:

1. **bill run**: ``bills.run_bills`` for the garbage fee of one month over ``--accounts`` fee
   accounts (default tariffs), in one transaction, as the scheduled job runs it: bills per second.
2. **notifications**: the real ``localgov serve`` (production mode, one worker) in a subprocess on
   127.0.0.1; this process signs ``--notifications`` payment notifications (one per bill, HMAC as
   the bank does) and posts them with ``--concurrency`` in flight. Each is matched, pays its bill
   and gets its receipt in the request's transaction: notifications per second, latency. The run
   then checks every answer is ``matched`` and the receipt numbers are exactly 1..n.
3. **counter** (issue 17): ``--cashiers`` cashiers open their cash books and take ``--counter``
   cash payments of the bills the notifications left open, one bill per payment, each receipted in
   its own transaction (``payments.counter.pay``, in this process, sessions from one engine): counter
   receipts per second; then the books are closed and their remittances must add up, and the
   receipt numbers must still be 1..n.
4. **pay page** (issue 17): ``--pay-pages`` citizens open the pay page of a bill the notifications
   left open by the link its QR carries, ``--concurrency`` in flight, each from its own address
   (``X-Forwarded-For``; the server trusts it as behind a proxy): pages per second, latency p95.
5. **QR PNG renders** (segno, the bill's real payload) and **receipt PDF renders** (fpdf2) per
   second, single-threaded, in this process.

Prints a table, writes ``bench/results/payments-<timestamp>.json`` and drops its database, also on
error or Ctrl-C. Client and server share the machine's cores, so the notification figure is a
floor for a server with its own cores.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import ipaddress
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy import delete, func, insert, select
from sqlalchemy.engine import make_url

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
ENV_VAR = "LOCALGOV_BENCH_DATABASE_URL"
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
BASE_DOMAIN = "localhost"
DLA_CODE = "2110101"
SLUG = "benchpay"
BILLER_ID = "099400012345601"
SECRET_KEY = secrets.token_hex(32)
#: No phase may run longer than this (the run stops and reports a failure).
PHASE_LIMIT_S = 600.0


class BenchError(RuntimeError):
    """A correctness failure: the figures of this run must not be trusted."""


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def loopback_only(url: str) -> str:
    host = make_url(url).host or "localhost"
    if host != "localhost":
        try:
            if not ipaddress.ip_address(host).is_loopback:
                raise SystemExit(f"refusing a non-loopback database server: {host}")
        except ValueError as exc:
            raise SystemExit(f"refusing a database server by name: {host}") from exc
    return url


async def create_database(admin: str) -> str:
    name = f"localgov_bench_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(
            f"CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8'"
        )
    finally:
        await conn.close()
    return make_url(admin).set(database=name).render_as_string(hide_password=False)


async def drop_database(admin: str, url: str) -> None:
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')
    finally:
        await conn.close()


def settings_for(url: str) -> Any:
    from localgov.settings import Settings

    return Settings(database_url=url, env="production", base_domain=BASE_DOMAIN, secret_key=SECRET_KEY)


# --- 1: set-up and the bill run ---------------------------------------------------------------------


async def prepare(url: str, accounts: int) -> dict[str, Any]:
    """Shared schema, one LAO, default tariffs, ``accounts`` payers with a garbage account, the
    Biller ID and a webhook secret; then the timed bill run."""
    from localgov.kernel.audit import Actor, Origin
    from localgov.kernel.db import create_engine, session_factory, tenant_session
    from localgov.platform.catalog import Catalog
    from localgov.platform.migrate import upgrade_shared
    from localgov.platform.tenants import TenantSpec, create_tenant
    from localgov.services.payments import bank, bills, tariffs
    from localgov.services.payments.models import Bill, FeeAccount, Payer, PaymentSettings, Tariff

    settings = settings_for(url)
    engine = create_engine(settings)
    try:
        await upgrade_shared(engine)
        async with engine.begin() as conn:
            spec = TenantSpec(dla_code=DLA_CODE, slug=SLUG, name_en="Bench LAO", enabled_services=["payments"])
            await create_tenant(conn, spec, source="file")
        catalog = Catalog(BASE_DOMAIN)
        await catalog.load(engine)
        tenant = catalog.by_slug(SLUG)
        if tenant is None:
            raise BenchError("the bench tenant was not provisioned")
        factory = session_factory(engine)
        today = dt.datetime.now(dt.UTC).date()
        period_start = (today.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
        period = period_start.strftime("%Y-%m")
        async with tenant_session(factory, tenant) as session:
            # The service's seed gave the defaults from this month; the run bills last month.
            await session.execute(delete(Tariff))
            await tariffs.seed_defaults(session, period_start.replace(month=1), created_by=None)
            session.add(PaymentSettings(id=1, biller_id=BILLER_ID, merchant_name="BENCH LAO"))
            await session.flush()
            secret, _ = await bank.rotate_webhook_secret(
                session, SECRET_KEY, actor=Actor("system", "bench"), origin=Origin()
            )
            payer_ids = [uuid.uuid4() for _ in range(accounts)]
            await session.execute(
                insert(Payer),
                [{"id": pid, "kind": "person", "name": f"ผู้ชำระ {i:05d}"} for i, pid in enumerate(payer_ids)],
            )
            await session.execute(
                insert(FeeAccount),
                [
                    {
                        "account_no": f"G{i:06d}",
                        "payer_id": pid,
                        "fee_type": "garbage",
                        "params": {"litres_per_day": 15 + i % 300},
                        "start_date": period_start.replace(month=1),
                    }
                    for i, pid in enumerate(payer_ids)
                ],
            )
        log(f"{accounts} accounts ready; bill run for {period}")
        async with tenant_session(factory, tenant) as session:
            started = time.perf_counter()
            result = await asyncio.wait_for(bills.run_bills(session, "garbage", period), PHASE_LIMIT_S)
            run_s = time.perf_counter() - started
        commit_s = time.perf_counter() - started - run_s
        async with tenant_session(factory, tenant) as session:
            billed = int(await session.scalar(select(func.count()).select_from(Bill)) or 0)
            refs = list((await session.execute(select(Bill.reference, Bill.total).order_by(Bill.reference))).all())
            codes = dict((await session.execute(select(Bill.reference, Bill.verification_code))).tuples().all())
        if result.created != accounts or billed != accounts:
            raise BenchError(f"bill run made {result.created} bills ({billed} in the table) for {accounts} accounts")
        async with tenant_session(factory, tenant) as session:
            again = await bills.run_bills(session, "garbage", period)
        if again.created != 0:
            raise BenchError(f"a second run made {again.created} more bills")
        return {
            "secret": secret,
            "codes": codes,
            "bills": [(r, t) for r, t in refs],
            "bill_run": {
                "function": "localgov.services.payments.bills.run_bills",
                "accounts": accounts,
                "period": period,
                "created": result.created,
                "seconds": run_s,
                "commit_seconds": commit_s,
                "bills_per_s": accounts / run_s,
                "second_run_created": again.created,
            },
        }
    finally:
        await engine.dispose()


# --- 2: notifications over HTTP ---------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def localgov_command() -> list[str]:
    exe = shutil.which("localgov", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "localgov"]


@contextlib.contextmanager
def running_server(url: str, port: int, log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOCALGOV_")}
    env.update(
        LOCALGOV_DATABASE_URL=url,
        LOCALGOV_ENV="production",
        LOCALGOV_BASE_DOMAIN=BASE_DOMAIN,
        LOCALGOV_SECRET_KEY=SECRET_KEY,
        LOCALGOV_LOG_LEVEL="WARNING",
        # Behind a proxy as in production (this process is the proxy): the pay-page phase plays many
        # citizens by X-Forwarded-For, believed only from the trusted proxy's address.
        LOCALGOV_TRUSTED_PROXIES="127.0.0.1",
    )
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(
            [*localgov_command(), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=ROOT,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=15)


def wait_until_live(proc: subprocess.Popen[bytes], port: int, log_path: Path, timeout_s: float = 60) -> None:
    deadline = time.perf_counter() + timeout_s
    while time.perf_counter() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"the server exited with {proc.returncode}:\n{log_path.read_text()[-2000:]}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"http://127.0.0.1:{port}/health/live", timeout=2).status_code == 200:
                return
        time.sleep(0.1)
    raise BenchError(f"the server did not answer within {timeout_s:.0f} s")


async def send_notifications(
    port: int, secret: str, bills: list[tuple[str, Decimal]], concurrency: int
) -> dict[str, Any]:
    from localgov.services.payments.bank import sign

    queue: asyncio.Queue[tuple[str, Decimal]] = asyncio.Queue()
    for bill in bills:
        queue.put_nowait(bill)
    latencies: list[float] = []
    failures: list[str] = []

    async def worker(client: httpx.AsyncClient) -> None:
        while True:
            try:
                reference, total = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            body = json.dumps(
                {
                    "transaction_id": f"BENCH{uuid.uuid4().hex[:20].upper()}",
                    "biller_id": BILLER_ID,
                    "ref1": reference,
                    "amount": f"{total:.2f}",
                    "paid_at": dt.datetime.now(dt.UTC).isoformat(),
                }
            ).encode()
            ts = str(int(time.time()))
            headers = {
                "Host": f"{SLUG}.{BASE_DOMAIN}",
                "Content-Type": "application/json",
                "X-Localgov-Timestamp": ts,
                "X-Localgov-Signature": sign(secret, ts, body),
            }
            started = time.perf_counter()
            answer = await client.post("/v1/payments/bank/notifications", content=body, headers=headers)
            latencies.append(time.perf_counter() - started)
            if answer.status_code != 200 or answer.json().get("status") != "matched":
                failures.append(f"{answer.status_code} {answer.text[:200]}")

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=60) as client:
        started = time.perf_counter()
        await asyncio.wait_for(asyncio.gather(*(worker(client) for _ in range(concurrency))), PHASE_LIMIT_S)
        elapsed = time.perf_counter() - started
    if failures:
        raise BenchError(f"{len(failures)} notifications were not matched, e.g. {failures[0]}")
    ms = [x * 1000 for x in latencies]
    return {
        "notifications": len(bills),
        "concurrency": concurrency,
        "seconds": elapsed,
        "per_s": len(bills) / elapsed,
        "latency_ms": {
            "p50": percentile(ms, 50),
            "p95": percentile(ms, 95),
            "max": max(ms),
            "mean": statistics.fmean(ms),
        },
    }


async def pay_pages(port: int, bills: list[tuple[str, str]], concurrency: int) -> dict[str, Any]:
    """The citizens' pay page as the QR printed on a bill opens it (``GET /v1/payments/pay?ref=&code=``:
    the lookup under its rate limits, the bill's lines and the inline Thai QR), each bill once, each
    request from its own client address (``X-Forwarded-For``) so the per-address budget is not what
    is measured."""
    queue: asyncio.Queue[tuple[int, str, str]] = asyncio.Queue()
    for n, (reference, code) in enumerate(bills):
        queue.put_nowait((n, reference, code))
    latencies: list[float] = []
    failures: list[str] = []

    async def worker(client: httpx.AsyncClient) -> None:
        while True:
            try:
                n, reference, code = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            address = f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"
            headers = {"Host": f"{SLUG}.{BASE_DOMAIN}", "X-Forwarded-For": address}
            started = time.perf_counter()
            answer = await client.get("/v1/payments/pay", params={"ref": reference, "code": code}, headers=headers)
            latencies.append(time.perf_counter() - started)
            if answer.status_code != 200 or 'id="amount-due"' not in answer.text or "<svg" not in answer.text:
                failures.append(f"{answer.status_code} {answer.text[:200]}")

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=60) as client:
        started = time.perf_counter()
        await asyncio.wait_for(asyncio.gather(*(worker(client) for _ in range(concurrency))), PHASE_LIMIT_S)
        elapsed = time.perf_counter() - started
    if failures:
        raise BenchError(f"{len(failures)} pay pages did not show the bill and its QR, e.g. {failures[0]}")
    ms = [x * 1000 for x in latencies]
    return {
        "path": "GET /v1/payments/pay?ref=&code=",
        "pages": len(bills),
        "concurrency": concurrency,
        "seconds": elapsed,
        "per_s": len(bills) / elapsed,
        "latency_ms": {
            "p50": percentile(ms, 50),
            "p95": percentile(ms, 95),
            "max": max(ms),
            "mean": statistics.fmean(ms),
        },
    }


async def check_receipts(url: str, expected: int) -> dict[str, Any]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(f"SELECT sequence FROM lao_{DLA_CODE}.receipts ORDER BY sequence")  # noqa: S608 (constant)
        paid = await conn.fetchval(f"SELECT count(*) FROM lao_{DLA_CODE}.bills WHERE status = 'paid'")  # noqa: S608
    finally:
        await conn.close()
    sequences = [r["sequence"] for r in rows]
    if sequences != list(range(1, expected + 1)):
        raise BenchError(f"receipt numbers are not 1..{expected}: {len(sequences)} receipts")
    if paid != expected:
        raise BenchError(f"{paid} bills paid, expected {expected}")
    return {"receipts": len(sequences), "contiguous": True, "bills_paid": paid}


# --- 3: the counter ---------------------------------------------------------------------------------


async def counter_payments(url: str, references: list[str], cashiers: int) -> dict[str, Any]:
    """``cashiers`` books opened, ``references`` paid in cash one per payment, books closed."""
    from localgov.kernel.audit import Actor, Origin
    from localgov.kernel.db import create_engine, session_factory, tenant_session
    from localgov.platform.catalog import Catalog
    from localgov.services.payments import counter
    from localgov.services.payments.models import Bill

    engine = create_engine(settings_for(url))
    try:
        catalog = Catalog(BASE_DOMAIN)
        await catalog.load(engine)
        tenant = catalog.by_slug(SLUG)
        if tenant is None:
            raise BenchError("the bench tenant is gone")
        factory = session_factory(engine)
        async with tenant_session(factory, tenant) as session:
            query = select(Bill.id).where(Bill.reference.in_(references)).order_by(Bill.id)
            ids = list((await session.execute(query)).scalars())
        people = [uuid.uuid4() for _ in range(cashiers)]
        books = {}
        for person in people:
            async with tenant_session(factory, tenant) as session:
                book = await counter.open_book(
                    session, person, counter.CashBookOpen(), actor=Actor("staff", str(person)), origin=Origin()
                )
                books[person] = book.id
        queue: asyncio.Queue[uuid.UUID] = asyncio.Queue()
        for bill_id in ids:
            queue.put_nowait(bill_id)
        latencies: list[float] = []

        async def worker(person: uuid.UUID) -> None:
            while True:
                try:
                    bill_id = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                started = time.perf_counter()
                async with tenant_session(factory, tenant) as session:
                    await counter.pay(
                        session,
                        person,
                        counter.CounterPaymentCreate(bill_ids=[bill_id], method="cash"),
                        actor=Actor("staff", str(person)),
                        origin=Origin(),
                    )
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.wait_for(asyncio.gather(*(worker(p) for p in people)), PHASE_LIMIT_S)
        elapsed = time.perf_counter() - started
        remitted = Decimal(0)
        for person in people:
            async with tenant_session(factory, tenant) as session:
                slip = await counter.close_book(
                    session,
                    books[person],
                    person,
                    counter.CashBookClose(counted_cash=Decimal(0)),
                    actor=Actor("staff", str(person)),
                    origin=Origin(),
                )
                remitted += slip.remitted or Decimal(0)
        async with tenant_session(factory, tenant) as session:
            expected = sum((await session.execute(select(Bill.total).where(Bill.id.in_(ids)))).scalars(), Decimal(0))
        if remitted != expected:
            raise BenchError(f"the books remitted {remitted}, the bills total {expected}")
        ms = [x * 1000 for x in latencies]
        return {
            "function": "localgov.services.payments.counter.pay",
            "payments": len(ids),
            "cashiers": cashiers,
            "seconds": elapsed,
            "receipts_per_s": len(ids) / elapsed,
            "latency_ms": {"p50": percentile(ms, 50), "p95": percentile(ms, 95), "max": max(ms)},
            "remitted": str(remitted),
        }
    finally:
        await engine.dispose()


# --- 4: renders -------------------------------------------------------------------------------------


def qr_renders(bills: list[tuple[str, Decimal]], count: int) -> dict[str, Any]:
    from localgov.services.payments import bills as bill_service
    from localgov.services.payments import qr

    payloads = [
        qr.build(qr.BillPayment(biller_id=BILLER_ID, ref1=ref, amount=total, merchant_name="BENCH LAO"))
        for ref, total in bills[:count]
    ]
    started = time.perf_counter()
    size = 0
    for payload in payloads:
        size += len(bill_service.qr_png(payload))
    elapsed = time.perf_counter() - started
    return {
        "renders": len(payloads),
        "seconds": elapsed,
        "per_s": len(payloads) / elapsed,
        "mean_png_bytes": size // len(payloads),
    }


def pdf_renders(count: int) -> dict[str, Any]:
    from localgov.kernel.thai import baht_text
    from localgov.services.payments.receipt_pdf import ReceiptDocument, ReceiptLine, render_receipt

    now = dt.datetime.now(dt.UTC)
    doc = ReceiptDocument(
        lao_name_th="องค์การบริหารส่วนตำบลทดสอบ",
        lao_address_th="หมู่ 1 ตำบลทดสอบ อำเภอเมือง จังหวัดเชียงใหม่",
        fiscal_year="2570",
        book_no=1,
        receipt_no=1,
        issued_at=now,
        paid_at=now,
        payer_name="นางสาวน้ำฝน ใจดี",
        payer_address="99/1 หมู่ 3",
        lines=[ReceiptLine(description="ค่าเก็บขยะมูลฝอย", amount=Decimal("80.00"), period="2026-10")],
        amount=Decimal("80.00"),
        amount_text_th=baht_text(Decimal("80.00")),
        collector="รับชำระผ่านธนาคาร (Thai QR)",
        bill_reference="B000000000",
        bank_txn_id="BENCH",
    )
    started = time.perf_counter()
    size = 0
    for _ in range(count):
        size += len(render_receipt(doc))
    elapsed = time.perf_counter() - started
    return {"renders": count, "seconds": elapsed, "per_s": count / elapsed, "mean_pdf_bytes": size // count}


# --- main -------------------------------------------------------------------------------------------


def main() -> int:
    from localgov.metadata import INSTALLATION
    from localgov.platform.installation import install

    install(INSTALLATION)  # a composition root: the platform provisions the core tables and the registry
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--notifications", type=int, default=2_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--qr-renders", type=int, default=2_000)
    parser.add_argument("--pdf-renders", type=int, default=200)
    parser.add_argument("--counter", type=int, default=500, help="counter payments (bills left open)")
    parser.add_argument("--cashiers", type=int, default=4)
    parser.add_argument("--pay-pages", type=int, default=1_000, help="pay pages of open bills (0: no phase)")
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    if not (1 <= args.notifications <= args.accounts <= 100_000) or not 1 <= args.concurrency <= 256:
        raise SystemExit("need 1 <= notifications <= accounts <= 100000 and 1 <= concurrency <= 256")
    if args.counter < 0 or args.notifications + args.counter > args.accounts or not 1 <= args.cashiers <= 32:
        raise SystemExit("need notifications + counter <= accounts and 1 <= cashiers <= 32")
    if args.pay_pages < 0 or args.notifications + args.pay_pages > args.accounts:
        raise SystemExit("need notifications + pay-pages <= accounts")
    admin = loopback_only(args.database_url or os.environ.get(ENV_VAR) or DEFAULT_URL)
    url = asyncio.run(create_database(admin))
    log(f"database {make_url(url).database}")
    out: dict[str, Any] = {
        "started_at": dt.datetime.now(dt.UTC).isoformat(),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "args": vars(args) | {"database_url": None},
    }
    try:
        prepared = asyncio.run(prepare(url, args.accounts))
        out["bill_run"] = prepared["bill_run"]
        log(f"bill run: {out['bill_run']['bills_per_s']:.0f} bills/s")
        bills: list[tuple[str, Decimal]] = prepared["bills"]
        port = free_port()
        log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"localgov-bench-payments-{port}.log"  # noqa: S108
        with running_server(url, port, log_path) as proc:
            wait_until_live(proc, port, log_path)
            warm = bills[: min(50, args.notifications)]
            out["warm_up"] = asyncio.run(send_notifications(port, prepared["secret"], warm, 4))
            measured = bills[len(warm) : args.notifications]
            if measured:
                out["notifications"] = asyncio.run(
                    send_notifications(port, prepared["secret"], measured, args.concurrency)
                )
                log(f"notifications: {out['notifications']['per_s']:.0f}/s")
            if args.pay_pages:  # bills the notifications left open (the counter phase comes later)
                codes: dict[str, str] = prepared["codes"]
                still_open = bills[args.notifications : args.notifications + args.pay_pages]
                shown = [(ref, codes[ref]) for ref, _ in still_open]
                out["pay_page"] = asyncio.run(pay_pages(port, shown, args.concurrency))
                log(f"pay page: p95 {out['pay_page']['latency_ms']['p95']:.1f} ms")
        out["receipt_check"] = asyncio.run(check_receipts(url, len(warm) + len(measured)))
        if args.counter:
            at_counter = [ref for ref, _ in bills[args.notifications : args.notifications + args.counter]]
            out["counter"] = asyncio.run(counter_payments(url, at_counter, args.cashiers))
            log(f"counter: {out['counter']['receipts_per_s']:.0f} receipts/s")
            out["receipt_check_after_counter"] = asyncio.run(
                check_receipts(url, len(warm) + len(measured) + args.counter)
            )
        out["qr_png"] = qr_renders(bills, args.qr_renders)
        out["receipt_pdf"] = pdf_renders(args.pdf_renders)
    finally:
        asyncio.run(drop_database(admin, url))
    RESULTS.mkdir(exist_ok=True)
    target = RESULTS / f"payments-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}.json"
    target.write_text(json.dumps(out, indent=2, default=str))
    n = out.get("notifications", {})
    print(f"{'figure':<42}{'value':>14}")
    print(f"{'bill run (bills/s, ' + str(args.accounts) + ' accounts)':<42}{out['bill_run']['bills_per_s']:>14.0f}")
    if n:
        print(f"{'notifications with receipts (/s, c=' + str(args.concurrency) + ')':<42}{n['per_s']:>14.0f}")
        print(f"{'  latency p50 / p95 (ms)':<42}{n['latency_ms']['p50']:>6.1f} / {n['latency_ms']['p95']:<6.1f}")
    if "counter" in out:
        c = out["counter"]
        print(f"{'counter receipts (/s, ' + str(args.cashiers) + ' cashiers)':<42}{c['receipts_per_s']:>14.0f}")
        print(f"{'  latency p50 / p95 (ms)':<42}{c['latency_ms']['p50']:>6.1f} / {c['latency_ms']['p95']:<6.1f}")
    if "pay_page" in out:
        pp = out["pay_page"]
        print(f"{'pay pages (/s, c=' + str(args.concurrency) + ')':<42}{pp['per_s']:>14.0f}")
        print(f"{'  latency p50 / p95 (ms)':<42}{pp['latency_ms']['p50']:>6.1f} / {pp['latency_ms']['p95']:<6.1f}")
    print(f"{'QR PNG renders (/s)':<42}{out['qr_png']['per_s']:>14.0f}")
    print(f"{'receipt PDF renders (/s)':<42}{out['receipt_pdf']['per_s']:>14.1f}")
    print(f"results: {target.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
