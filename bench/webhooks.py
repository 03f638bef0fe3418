"""Webhook deliveries per second, and the time from a payment to its webhook (p50 / p95 / max).

``python bench/webhooks.py --payments 200`` (run it small on a shared machine: ``--payments 20``):

- a database of its own (``LOCALGOV_TEST_DATABASE_URL`` or an embedded server, as the tests do),
  one LAO with payments, ``--payments`` open bills, ``--endpoints`` webhook endpoints on a
  receiver on 127.0.0.1 (``LOCALGOV_EGRESS_ALLOW_LOOPBACK``), all subscribed to ``bill.paid``;
- the real worker (``localgov.worker.Worker.run``: LISTEN/NOTIFY wake-ups, solo delivery of each
  ``webhook.deliver`` entry, egress checks, signatures);
- every bill paid by the real matching code (``bank.record_notice``), one transaction each, one
  after the other; the commit time of each payment is kept, the receiver keeps the arrival time of
  each ``bill.paid`` (by bill reference and endpoint).

Figures: deliveries per second (deliveries / (last arrival − first payment commit)); latency from
the payment's commit to its webhook's arrival. Every wait is bounded (``--deadline``). The
database is dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import statistics
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from tests.conftest import _migrated_database, make_settings
from tests.support.database import admin_url, drop_database
from tests.support.factories import make_tenant

from localgov.kernel import egress
from localgov.kernel.audit import Actor, Origin
from localgov.kernel.db import create_engine, session_factory, tenant_session
from localgov.kernel.observability import configure_logging
from localgov.kernel.webhooks import service as webhooks
from localgov.metadata import INSTALLATION
from localgov.platform.installation import install
from localgov.plugins import REGISTRY
from localgov.services.payments import bank
from localgov.services.payments.api import BillLine, create_bill
from localgov.services.payments.models import Payer, PaymentSettings
from localgov.worker import Worker

BILLER = "099400012345601"


class Receiver:
    def __init__(self, expected: int) -> None:
        self.arrivals: dict[tuple[str, str], float] = {}
        self.expected = expected
        self.done = asyncio.Event()
        #: The warm-up payment's reference: its webhook says the worker is up (not measured).
        self.warmup = ""
        self.warm = asyncio.Event()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        arrived = time.perf_counter()
        writer.write(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()
        event = json.loads(body)
        if event["type"] == "bill.paid" and event["data"]["reference"] == self.warmup:
            self.warm.set()
        elif event["type"] == "bill.paid":
            self.arrivals.setdefault((event["data"]["reference"], lines[0]), arrived)
            if len(self.arrivals) >= self.expected:
                self.done.set()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


async def run(payments: int, endpoints: int, deadline_s: float) -> dict[str, object]:
    install(INSTALLATION)
    configure_logging("WARNING", False)
    admin = admin_url()
    url = await _migrated_database(admin)
    settings = make_settings(url, egress_allow_loopback=True, worker_batch_size=50, log_level="ERROR")
    engine = create_engine(settings)
    receiver = Receiver(payments * endpoints)
    server = await asyncio.start_server(receiver.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    worker = Worker(settings, REGISTRY)
    task: asyncio.Task[None] | None = None
    try:
        tenant = await make_tenant(engine, services=["payments"])
        webhooks.register_public_events(REGISTRY)
        factory = session_factory(engine)
        async with tenant_session(factory, tenant) as session:
            session.add(PaymentSettings(id=1, biller_id=BILLER, receipt_book_size=1000))
            payer = Payer(kind="person", name="นายทดสอบ ความเร็ว", house_no="1")
            session.add(payer)
            await session.flush()
            references = []
            for _ in range(payments + 1):
                bill = await create_bill(
                    session,
                    payer_id=payer.id,
                    lines=[BillLine(fee_code="garbage.collection", description_th="ค่าขยะ", amount=Decimal("80.00"))],
                    due_date=dt.date.today() + dt.timedelta(days=30),
                    source="bench",
                    source_key=uuid.uuid4().hex,
                )
                references.append(bill.reference)
            for n in range(endpoints):
                await webhooks.create_endpoint(
                    session,
                    url=f"http://127.0.0.1:{port}/hooks/{n}",
                    description=None,
                    event_types=["bill.paid"],
                    owner=webhooks.Owner(kind="client", id="lgc_bench"),
                    enabled_services=tenant.enabled_services,
                    policy=egress.policy_from_settings(settings),
                    secret_key=settings.secret_key,
                    actor=Actor("system"),
                    origin=Origin(),
                )
        task = asyncio.create_task(worker.run(), name="worker")
        receiver.warmup = references.pop(0)
        await pay(factory, tenant, receiver.warmup)
        try:
            await asyncio.wait_for(receiver.warm.wait(), deadline_s)
        except TimeoutError:
            raise SystemExit("the worker delivered nothing (warm-up)") from None
        committed: dict[str, float] = {}
        for reference in references:
            await pay(factory, tenant, reference)
            committed[reference] = time.perf_counter()  # committed when pay() returns
        try:
            await asyncio.wait_for(receiver.done.wait(), deadline_s)
        except TimeoutError:
            raise SystemExit(
                f"only {len(receiver.arrivals)} of {payments * endpoints} webhooks arrived in {deadline_s:g} s"
            ) from None
        latencies = [arrived - committed[ref] for (ref, _line), arrived in receiver.arrivals.items()]
        span = max(receiver.arrivals.values()) - min(committed.values())
        return {
            "payments": payments,
            "endpoints": endpoints,
            "deliveries": len(latencies),
            "deliveries_per_s": round(len(latencies) / span, 1),
            "latency_p50_ms": round(statistics.median(latencies) * 1000, 1),
            "latency_p95_ms": round(percentile(latencies, 95) * 1000, 1),
            "latency_max_ms": round(max(latencies) * 1000, 1),
        }
    finally:
        worker.stop()
        if task is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(task, 10)
        server.close()
        await engine.dispose()
        await drop_database(admin, url)


async def pay(factory: Any, tenant: Any, reference: str) -> None:
    """One bank payment of the bill, in its own transaction (committed on return)."""
    async with tenant_session(factory, tenant) as session:
        notice = bank.normalise_notice(
            transaction_id=f"BENCH{uuid.uuid4().hex[:20].upper()}",
            biller_id=BILLER,
            ref1=reference,
            ref2=None,
            amount=Decimal("80.00"),
            paid_at=dt.datetime.now(dt.UTC),
            raw={},
        )
        await bank.record_notice(session, notice, channel="webhook", biller_id=BILLER, book_size=1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payments", type=int, default=200, help="bills paid (one webhook each per endpoint)")
    parser.add_argument("--endpoints", type=int, default=1, help="endpoints subscribed to bill.paid")
    parser.add_argument("--deadline", type=float, default=300.0, help="seconds the deliveries may take in all")
    args = parser.parse_args()
    if not 1 <= args.payments <= 100_000 or not 1 <= args.endpoints <= 50:
        parser.error("--payments 1-100000, --endpoints 1-50")
    figures = asyncio.run(run(args.payments, args.endpoints, args.deadline))
    for key, value in figures.items():
        print(f"{key:>18}: {value}")


if __name__ == "__main__":
    main()
