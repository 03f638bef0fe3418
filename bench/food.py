"""Benchmark of the food service's figure (issue 14): the annual fee run over 10,000 certificates.

    .venv/bin/python bench/food.py [--certificates 10000] [--runs 2] [--database-url URL]

A benchmark, not a test: it prints figures and writes ``bench/results/food-<timestamp>.json``; it
exits 1 only when the data it measured is wrong (a certificate billed twice or not at all), never
because a figure is slow. One run creates a database of its own, migrates the shared schema and:

1. **provisions** one LAO of the DLA registry with the ``payments`` and ``food`` services;
2. **issues one certificate** through the service code, as the counter does (notification filed,
   two documents stored, certified: number, register, first fee billed), dated the previous year;
3. **clones it** to ``--certificates`` certificates in a few ``INSERT … SELECT`` statements (each its
   own case, notification, payer and certificate: the run's work per certificate is what it would
   be for real ones);
4. **the annual fee run** for this year (``billing.run_annual_fees``, in one transaction with its
   commit, as the worker's ``food.annual_fees`` job and ``POST /v1/food/fees/annual-run`` do):
   every certificate gets one bill through ``payments.api.create_bills`` (checked: one bill per
   certificate, with the +20 % late surcharge rule); then the run again ``--runs - 1`` times
   (checked: nothing billed twice) — the steady state of the scheduled job.

See bench/README.md ("Food-premises certificates") for the figures measured.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
import tempfile
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
        report = await provision_from_registry(engine, limit=1, concurrency=1, services=["payments", "food"])
    finally:
        await engine.dispose()
    if report.failed or report.created != 1:
        raise core.BenchError(f"provisioning: {report.created} created, failed {report.failed[:3]}")
    return {"tenants": 1, "seconds": report.seconds}


async def tenant_of(engine: Any) -> Any:
    from localgov.platform.catalog import Catalog

    catalog = Catalog(core.BASE_DOMAIN)
    await catalog.load(engine)
    (tenant,) = [t for t in catalog.all() if "food" in t.enabled_services]
    return tenant


async def issue_template(engine: Any, tenant: Any, issued_at: dt.datetime, blobs: Path) -> Any:
    """One certificate through the service code: filed, two documents, certified."""
    import uuid

    import msgspec

    from localgov.kernel.audit import Origin
    from localgov.kernel.cases import CaseActor
    from localgov.kernel.db import session_factory, tenant_session
    from localgov.kernel.storage import FilesystemBlobStore
    from localgov.services.food import certificates, notifications
    from localgov.services.food.schemas import NotificationCreate
    from localgov.services.food.workflow import INTAKE, READ

    actor = CaseActor(kind="staff", id=uuid.uuid4(), permissions=frozenset({READ, INTAKE}))
    body = {
        "notifier": {
            "name": "นางสมศรี มีสุข",
            "national_id": "1101700203450",
            "address": {"house_no": "12/3", "subdistrict": "ในเมือง", "district": "เมือง", "province": "ขอนแก่น"},
            "phone": "081-234-5678",
        },
        "establishment": {
            "name": "ร้านข้าวแกงป้าศรี",
            "kind": "sale",
            "area_m2": "45.50",
            "address": {"house_no": "99", "subdistrict": "ในเมือง", "district": "เมือง", "province": "ขอนแก่น"},
        },
    }
    factory = session_factory(engine)
    store = FilesystemBlobStore(blobs)
    async with tenant_session(factory, tenant) as session:
        notification_id = await notifications.open_notification(
            session,
            msgspec.convert(body, NotificationCreate),
            tenant=tenant,
            actor=actor,
            now=issued_at,
            origin=Origin(),
        )
        for code in ("id_copy", "site_plan"):
            await notifications.attach(
                session, store, notification_id, document_code=code, data=b"%PDF-1.7\n" + code.encode() * 500,
                filename=f"{code}.pdf", actor=actor, origin=Origin(),
            )  # fmt: skip
    async with tenant_session(factory, tenant) as session:
        return await certificates.certify(
            session, notification_id, tenant=tenant, actor=actor, version=1, conditions_th=None, now=issued_at,
            origin=Origin(),
        )  # fmt: skip


async def clone(engine: Any, tenant: Any, template: Any, count: int) -> dict[str, Any]:
    """``count - 1`` more certificates like the template, each with its own case, notification and
    payer (a handful of ``INSERT … SELECT`` statements)."""
    from sqlalchemy import Integer, String, Table, cast, column, func, insert, literal, select, table, text, true

    from localgov.kernel.cases import CaseRecord
    from localgov.kernel.db import session_factory, tenant_session
    from localgov.services.food.models import Certificate, Notification
    from localgov.services.payments.models import Payer

    seed = table("bench_seed", column("g", Integer), column("case_id"), column("notification_id"),
                 column("certificate_id"), column("payer_id"))  # fmt: skip

    def copy(model: Any, where: Any, overrides: dict[str, Any]) -> Any:
        source: Table = model.__table__
        names = [c.name for c in source.columns if c.identity is None and c.computed is None]
        values = [overrides.get(name, source.c[name]) for name in names]
        return insert(source).from_select(names, select(*values).select_from(source.join(seed, true())).where(where))

    started = time.perf_counter()
    async with tenant_session(session_factory(engine), tenant) as session:
        await session.execute(
            text(
                "CREATE TEMP TABLE bench_seed ON COMMIT DROP AS SELECT g, gen_random_uuid() AS case_id,"
                " gen_random_uuid() AS notification_id, gen_random_uuid() AS certificate_id,"
                " gen_random_uuid() AS payer_id FROM generate_series(2, :count) AS g"
            ),
            {"count": count},
        )
        notification = (
            await session.execute(select(Notification).where(Notification.id == template.notification_id))
        ).scalar_one()
        g = cast(seed.c.g, String)
        await session.execute(
            copy(
                Payer,
                Payer.__table__.c.id == template.payer_id,
                {"id": seed.c.payer_id, "name": literal("ผู้ประกอบการ ") + g},
            )
        )
        await session.execute(
            copy(
                CaseRecord,
                CaseRecord.__table__.c.id == notification.case_id,
                {"id": seed.c.case_id, "tracking_number": literal("BENCH-") + g},
            )
        )
        await session.execute(
            copy(
                Notification,
                Notification.__table__.c.id == template.notification_id,
                {"id": seed.c.notification_id, "case_id": seed.c.case_id, "certificate_id": seed.c.certificate_id},
            )
        )
        year = template.number.split("/")[1]
        await session.execute(
            copy(
                Certificate,
                Certificate.__table__.c.id == template.id,
                {
                    "id": seed.c.certificate_id,
                    "notification_id": seed.c.notification_id,
                    "payer_id": seed.c.payer_id,
                    "number": g + literal(f"/{year}"),
                    "premises_name": literal("ร้านอาหารที่ ") + g,
                    # Areas spread over both default bands (20 m² or less: 20 baht; else 100).
                    "area_m2": cast(func.mod(seed.c.g * 7, 200) + 1, Certificate.__table__.c.area_m2.type),
                },
            )
        )
    return {"certificates": count, "seconds": time.perf_counter() - started}


async def annual_runs(engine: Any, tenant: Any, year_be: int, today: dt.date, runs: int, count: int) -> dict[str, Any]:
    from sqlalchemy import func, select

    from localgov.kernel.db import session_factory, tenant_session
    from localgov.services.food import billing
    from localgov.services.payments.models import Bill

    factory = session_factory(engine)
    out: list[dict[str, Any]] = []
    for n in range(runs):
        started = time.perf_counter()
        async with tenant_session(factory, tenant) as session:
            result = await billing.run_annual_fees(session, year_be, today=today)
        seconds = time.perf_counter() - started
        expected_new = count if n == 0 else 0
        if result.certificates != count or result.bills_created != expected_new:
            raise core.BenchError(f"run {n + 1}: {result} (expected {expected_new} new bills of {count})")
        out.append(
            {
                "run": n + 1,
                "bills_created": result.bills_created,
                "already_billed": result.already_billed,
                "seconds": seconds,
                "bills_per_second": result.bills_created / seconds if result.bills_created else None,
                "certificates_per_second": count / seconds,
            }
        )
        core.log(f"  run {n + 1}: {result.bills_created} bills in {seconds:.2f} s")
    async with tenant_session(factory, tenant) as session:
        billed = (
            await session.execute(
                select(
                    func.count(), func.count(func.distinct(Bill.source_key)), func.count(Bill.late_surcharge_percent)
                ).where(Bill.source == "food", Bill.source_key.like(f"%:{year_be}"))
            )
        ).one()
    if tuple(billed) != (count, count, count):
        raise core.BenchError(f"bills of {year_be}: {tuple(billed)} (expected {count} each)")
    return {"runs": out}


async def figures(url: str, count: int, runs: int) -> dict[str, Any]:
    from localgov.kernel.db import create_engine
    from localgov.kernel.thai import BANGKOK, bangkok_today, be_year

    engine = create_engine(settings(url))
    try:
        tenant = await tenant_of(engine)
        today = bangkok_today()
        last_year = dt.datetime(today.year - 1, 6, 1, 10, tzinfo=BANGKOK)
        with tempfile.TemporaryDirectory(prefix="localgov-bench-food-") as blobs:
            template = await issue_template(engine, tenant, last_year, Path(blobs))
        core.log(f"cloning to {count} certificates")
        seeded = await clone(engine, tenant, template, count)
        core.log(f"annual fee run for {be_year(today)}, {runs} times")
        return {"seed": seeded, "annual": await annual_runs(engine, tenant, be_year(today), today, runs, count)}
    finally:
        await engine.dispose()


def render(results: dict[str, Any]) -> str:
    lines = [f"food: annual fee run over {results['certificates']:,} certificates"]
    for run in results["figures"]["annual"]["runs"]:
        rate = f"{run['bills_per_second']:,.0f} bills/s" if run["bills_per_second"] else "nothing new"
        lines.append(
            f"  run {run['run']}: {run['seconds']:.2f} s, {run['bills_created']:,} bills ({rate});"
            f" {run['certificates_per_second']:,.0f} certificates/s"
        )
    lines.append(f"  seeding (clone) {results['figures']['seed']['seconds']:.1f} s")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--certificates", type=int, default=10_000, help="active certificates (default 10,000)")
    parser.add_argument("--runs", type=int, default=2, help="annual runs of the same year (default 2)")
    parser.add_argument("--database-url", default=None, help=f"admin URL of the server (env {core.ENV_VAR})")
    args = parser.parse_args(argv)
    if not 2 <= args.certificates <= 1_000_000 or args.runs < 1:
        parser.error("--certificates 2..1,000,000, --runs ≥ 1")
    return args


def main(argv: list[str] | None = None) -> int:
    from localgov.kernel.observability import configure_logging
    from localgov.metadata import INSTALLATION
    from localgov.platform.installation import install

    configure_logging("WARNING")
    install(INSTALLATION)  # a composition root: the registry's plugins, their tables and case types
    args = parse_args(argv)
    stamp = dt.datetime.now(dt.UTC)
    keep: dict[str, Any] = {}
    admin, source = core.choose_server(args.database_url, keep)
    url = asyncio.run(core.create_database(admin))
    core.log(f"database {url.rsplit('/', 1)[-1]} on {source} server")
    try:
        results: dict[str, Any] = {
            "benchmark": "food",
            "timestamp": stamp.isoformat(timespec="seconds"),
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "git_commit": core.git_commit(),
            "code": core.code_under_test(),
            "database_server": source,
            "postgres": asyncio.run(core.server_facts(url)),
            "certificates": args.certificates,
            "background_before_run": core.machine_busy_cores(),
        }
        core.log("migrating the shared schema")
        asyncio.run(core.migrate_shared(url))
        core.log("provisioning one LAO with payments and food")
        results["provisioning"] = asyncio.run(provision(url))
        results["figures"] = asyncio.run(figures(url, args.certificates, args.runs))
        results["background_after_run"] = core.machine_busy_cores()
        core.RESULTS.mkdir(exist_ok=True)
        out = core.RESULTS / f"food-{stamp.strftime('%Y%m%dT%H%M%SZ')}.json"
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
