"""Benchmark of e-Saraban between LAOs (issue 15): letters delivered from one LAO to another per second.

    .venv/bin/python bench/saraban.py [--letters 2000] [--batch 100] [--database-url URL]

A benchmark, not a test: it prints figures and writes ``bench/results/saraban-<timestamp>.json``;
it exits 1 only when the data it measured is wrong (a letter lost, landed twice, a receipt
missing, a register chain broken), never because a figure is slow. One run creates a database of
its own, migrates the shared schema and:

1. **provisions** two LAOs of the DLA registry with the ``saraban`` service (its seed: settings,
   retention rules) and one member of staff each;
2. **writes** ``--letters`` approved letters at the sender, each addressed to the other LAO;
3. **issues** them one transaction each through ``issuing.issue_letter`` (number, send register
   line with its hash, the outbox copy for the recipient, metering) — timed: letters issued/s;
4. **delivers** them with the worker's own loop (``kernel.outbox.deliver_batch`` over the
   plugin's ``saraban.deliver`` and ``saraban.receipt`` consumers, ``--batch`` entries per
   transaction) until nothing is pending — timed: letters delivered/s end to end (each landed in
   the recipient's receive register in the recipient's own tenant context, and its receipt
   recorded on the sender's side);
5. **checks**: one received letter per sent letter, receive numbers 1..n without a gap, every
   addressee row delivered with its receipt number, both LAOs' register chains verified.

See bench/README.md ("e-Saraban") for the figures measured.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import core  # noqa: E402  (bench/core.py: database, statistics and environment helpers)


def settings(url: str) -> Any:
    from localgov.settings import Settings

    return Settings(database_url=url, env="test", log_level="WARNING")


async def provision(url: str) -> dict[str, Any]:
    from localgov.kernel.db import create_engine
    from localgov.platform.bulk import provision_from_registry

    engine = create_engine(settings(url))
    try:
        report = await provision_from_registry(engine, limit=2, concurrency=1, services=["saraban"])
    finally:
        await engine.dispose()
    if report.failed or report.created != 2:
        raise core.BenchError(f"provisioning: {report.created} created, failed {report.failed[:3]}")
    return {"tenants": 2, "seconds": report.seconds}


async def figures(url: str, count: int, batch: int) -> dict[str, Any]:
    from sqlalchemy import func, select

    from localgov.identity.models import StaffUser
    from localgov.kernel.audit import Origin
    from localgov.kernel.cases import CaseActor
    from localgov.kernel.db import create_engine, session_factory, tenant_session
    from localgov.kernel.outbox import deliver_batch
    from localgov.platform.catalog import Catalog
    from localgov.services.saraban import issuing, letters, registers
    from localgov.services.saraban.delivery import HANDLERS
    from localgov.services.saraban.models import Letter, Recipient, RegisterEntry
    from localgov.services.saraban.rules import REGISTRY

    engine = create_engine(settings(url))
    try:
        catalog = Catalog(core.BASE_DOMAIN)
        await catalog.load(engine)
        sender, recipient = sorted((t for t in catalog.all() if "saraban" in t.enabled_services), key=lambda t: t.id)
        factory = session_factory(engine)
        async with tenant_session(factory, sender) as session:
            clerk = StaffUser(email="clerk@bench.example", full_name="นายสารบรรณ ทดสอบ", status="active")
            session.add(clerk)
            await session.flush()
            (await letters.settings_row(session)).agency_code = "ขก 51301"
            letters_out = [
                Letter(
                    direction="outgoing",
                    kind="external",
                    status="approved",
                    subject=f"หนังสือทดสอบการส่งระหว่าง อปท. ฉบับที่ {i}",
                    body="ด้วย" + "ข้อความ" * 40,
                    signer_staff_id=clerk.id,
                )
                for i in range(count)
            ]
            session.add_all(letters_out)
            await session.flush()
            session.add_all(
                Recipient(letter_id=letter.id, kind="lao", tenant_id=recipient.id, name_th=recipient.name_th)
                for letter in letters_out
            )
            ids = [letter.id for letter in letters_out]
            clerk_id = clerk.id
        viewer = CaseActor(kind="staff", id=clerk_id, permissions=frozenset({REGISTRY}))
        started = time.perf_counter()
        for letter_id in ids:
            async with tenant_session(factory, sender) as session:
                await issuing.issue_letter(session, letter_id, 1, tenant=sender, viewer=viewer, origin=Origin())
        issue_s = time.perf_counter() - started
        core.log(f"issued {count:,} letters in {issue_s:.1f} s")

        schemas = {t.id: t.schema for t in (sender, recipient)}
        started = time.perf_counter()
        rounds = 0
        while True:
            async with tenant_session(factory, None) as session:
                done = await deliver_batch(
                    session, HANDLERS, schemas, batch_size=batch, max_attempts=5, only=set(HANDLERS)
                )
            rounds += 1
            if done == 0:
                break
        deliver_s = time.perf_counter() - started
        core.log(f"delivered {count:,} letters in {deliver_s:.1f} s ({rounds} batches)")

        async with tenant_session(factory, recipient) as session:
            received = (await session.execute(select(func.count()).select_from(Letter))).scalar_one()
            seqs = list(
                (
                    await session.execute(
                        select(RegisterEntry.seq).where(RegisterEntry.register == "receive").order_by(RegisterEntry.seq)
                    )
                ).scalars()
            )
            recipient_chains = await registers.verify(session)
        async with tenant_session(factory, sender) as session:
            delivered = (
                await session.execute(
                    select(func.count()).where(Recipient.status == "delivered", Recipient.receipt_no.is_not(None))
                )
            ).scalar_one()
            sender_chains = await registers.verify(session)
        if received != count or seqs != list(range(1, count + 1)) or delivered != count:
            raise core.BenchError(
                f"received {received}, receive numbers ok {seqs == list(range(1, count + 1))}, "
                f"receipts {delivered} of {count}"
            )
        if not all(r.ok for r in [*recipient_chains, *sender_chains]):
            raise core.BenchError("a register chain does not verify")
        return {
            "letters": count,
            "batch": batch,
            "issue": {"seconds": round(issue_s, 3), "letters_per_second": round(count / issue_s, 1)},
            "delivery": {
                "seconds": round(deliver_s, 3),
                "letters_per_second": round(count / deliver_s, 1),
                "batches": rounds,
            },
            "checked": {"received": received, "receipts": delivered, "chains_ok": True},
        }
    finally:
        await engine.dispose()


def render(results: dict[str, Any]) -> str:
    f = results["figures"]
    return "\n".join(
        [
            f"e-Saraban between two LAOs, {f['letters']:,} letters (batch {f['batch']}):",
            f"  issued (number, send register, outbox copy): {f['issue']['letters_per_second']:,.1f} letters/s",
            f"  delivered end to end (receive register + receipt back): "
            f"{f['delivery']['letters_per_second']:,.1f} letters/s in {f['delivery']['seconds']:.1f} s",
            f"  checked: {f['checked']['received']:,} received once, {f['checked']['receipts']:,} receipts, chains ok",
        ]
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--letters", type=int, default=2000, help="letters sent (default 2,000)")
    parser.add_argument("--batch", type=int, default=100, help="outbox entries per worker transaction (default 100)")
    parser.add_argument("--database-url", default=None, help=f"admin URL of the server (env {core.ENV_VAR})")
    args = parser.parse_args(argv)
    if not 1 <= args.letters <= 1_000_000 or not 1 <= args.batch <= 1000:
        parser.error("--letters 1..1,000,000, --batch 1..1000")
    return args


def main(argv: list[str] | None = None) -> int:
    from localgov.kernel.observability import configure_logging
    from localgov.metadata import INSTALLATION
    from localgov.platform.installation import install

    configure_logging("WARNING")
    install(INSTALLATION)
    args = parse_args(argv)
    stamp = dt.datetime.now(dt.UTC)
    keep: dict[str, Any] = {}
    admin, source = core.choose_server(args.database_url, keep)
    url = asyncio.run(core.create_database(admin))
    core.log(f"database {url.rsplit('/', 1)[-1]} on {source} server")
    try:
        results: dict[str, Any] = {
            "benchmark": "saraban",
            "timestamp": stamp.isoformat(timespec="seconds"),
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "git_commit": core.git_commit(),
            "code": core.code_under_test(),
            "database_server": source,
            "postgres": asyncio.run(core.server_facts(url)),
            "background_before_run": core.machine_busy_cores(),
        }
        core.log("migrating the shared schema")
        asyncio.run(core.migrate_shared(url))
        core.log("provisioning two LAOs with saraban")
        results["provisioning"] = asyncio.run(provision(url))
        results["figures"] = asyncio.run(figures(url, args.letters, args.batch))
        results["background_after_run"] = core.machine_busy_cores()
        core.RESULTS.mkdir(exist_ok=True)
        out = core.RESULTS / f"saraban-{stamp.strftime('%Y%m%dT%H%M%SZ')}.json"
        out.write_text(json.dumps(results, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
        print(render(results))
        print(f"\nresults: {out.relative_to(core.ROOT)}")
        return 0
    except core.BenchError as exc:
        print(f"\nBENCHMARK FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        core.log("dropping the database")
        asyncio.run(core.drop_database(admin, url))


if __name__ == "__main__":
    sys.exit(main())
