"""Benchmark of the operator's billing: usage aggregation and an invoice run over many LAOs.

    .venv/bin/python bench/billing.py [--tenants 7849] [--events 10000000] [--database-url URL]

One run creates a database of its own (on the server given, else the local one at 127.0.0.1:5432,
else an embedded pgserver), migrates the shared schema and fills it with ``INSERT … SELECT
generate_series``: ``--tenants`` catalog rows (the billing module reads only the shared schema, so
no tenant schema is provisioned), a price version of the ``standard`` plan (a monthly fixed fee
and charges of every model: standard, graduated, package, percentage, free units), one monthly
subscription per tenant from 1 October 2026, and ``--events`` usage events spread over 12 meters
(the 9 meters of the registered services plus 3 unpriced ones) and over October 2026, baht
amounts on ``payments.baht_collected``. Then, in-process with the billing module's functions:

* **usage aggregation** — each tenant's October aggregated per meter (one query per tenant, the
  query the invoice run uses);
* **invoice run: drafts** — ``draft_invoices`` on 1 November: one draft per subscription with its
  lines (fixed fee, priced usage, percentage fees per transaction), in one transaction;
* **invoice run: finalisation** — ``finalise_due`` after the grace period: every draft computed
  again, numbered from the gap-free counter, in one transaction;
* **the run again** — idempotent: nothing drafted, nothing finalised.

For each phase: wall time, time per tenant, and the database time per tenant (the time spent in
``cursor.execute`` as SQLAlchemy sees it, round trips included). It checks that there is one
finalised invoice per tenant, that the numbers run 1..n, and that the invoiced quantity of
``oss.cases_opened`` equals the events of that meter. It prints a table, writes
``bench/results/billing-<timestamp>.json`` and drops its database, also on error or Ctrl-C.
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

EXTRA_METERS = ("bench.extra_a", "bench.extra_b", "bench.extra_c")
BANGKOK_OFFSET = "+07:00"


class DbClock:
    """Sums the time spent in statements (SQLAlchemy cursor events on the engine)."""

    def __init__(self, engine: Any) -> None:
        from sqlalchemy import event

        self.total = 0.0
        self.statements = 0
        sync = engine.sync_engine

        @event.listens_for(sync, "before_cursor_execute")
        def _before(conn: Any, cursor: Any, statement: Any, parameters: Any, context: Any, many: Any) -> None:
            conn.info["bench_started"] = time.perf_counter()

        @event.listens_for(sync, "after_cursor_execute")
        def _after(conn: Any, cursor: Any, statement: Any, parameters: Any, context: Any, many: Any) -> None:
            self.total += time.perf_counter() - conn.info.pop("bench_started", time.perf_counter())
            self.statements += 1

    def reset(self) -> None:
        self.total = 0.0
        self.statements = 0


def charges() -> list[Any]:
    from decimal import Decimal as D

    from localgov.platform.billing.pricing import Charge, Tier

    return [
        Charge(
            meter="oss.cases_opened",
            model="graduated",
            tiers=(Tier(up_to=D(100), unit_price=D(5)), Tier(up_to=None, unit_price=D(2))),
        ),
        Charge(meter="oss.cases_decided", model="standard", unit_price=D(1), free_units=D(50)),
        Charge(meter="permits.application_submitted", model="standard", unit_price=D(20)),
        Charge(meter="permits.permit_issued", model="package", package_size=D(10), package_price=D(100)),
        Charge(meter="food.notification_submitted", model="standard", unit_price=D(3)),
        Charge(meter="food.certificate_issued", model="standard", unit_price=D(5), free_units=D(5)),
        Charge(meter="payments.bills_issued", model="package", package_size=D(100), package_price=D(30)),
        Charge(meter="payments.payments_confirmed", model="standard", unit_price=D("0.50")),
        Charge(meter="payments.baht_collected", model="percentage", rate=D("0.005"), min_fee=D(1), max_fee=D(20)),
    ]


async def fill(engine: Any, tenants: int, events: int, meters: list[str]) -> dict[str, float]:
    from decimal import Decimal

    from sqlalchemy import text

    from localgov.kernel.db import session_factory, session_for
    from localgov.platform.billing import service
    from localgov.platform.billing.meters import meter_registry
    from localgov.plugins import REGISTRY

    timings: dict[str, float] = {}
    started = time.perf_counter()
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO platform.tenants (dla_code, slug, name_th, name_en, lao_type, province_code,"
                " province_th, province_en, district_th, schema_name, plan_code)"
                " SELECT lpad(g::text, 7, '0'), 't' || lpad(g::text, 7, '0'), 'อบต.ทดสอบ ' || g, 'Test LAO ' || g,"
                " 'sao', '50', 'เชียงใหม่', 'Chiang Mai', 'เมือง', 'lao_' || lpad(g::text, 7, '0'), 'standard'"
                " FROM generate_series(1, :n) g"
            ),
            {"n": tenants},
        )
        await conn.execute(
            text(
                "INSERT INTO platform.subscriptions (tenant_id, billing_cycle, starts_on)"
                " SELECT id, 'monthly', DATE '2026-10-01' FROM platform.tenants"
            )
        )
        await conn.execute(
            text(
                "INSERT INTO platform.subscription_phases (subscription_id, plan_code, starts_on)"
                " SELECT id, 'standard', starts_on FROM platform.subscriptions"
            )
        )
    timings["catalog_s"] = time.perf_counter() - started
    async with session_for(session_factory(engine), None) as session, session.begin():
        await service.add_plan_price(
            session,
            "standard",
            effective_from=dt.date(2026, 1, 1),
            fixed_fee=Decimal(1500),
            fixed_interval="monthly",
            charges=charges(),
            meters=meter_registry(REGISTRY),
        )
    started = time.perf_counter()
    async with engine.begin() as conn:
        first = (await conn.execute(text("SELECT min(id) FROM platform.tenants"))).scalar_one()
        # Seeding ten million rows is one statement that outlasts the application's statement
        # timeout (30 s); the measured phases below keep it.
        await conn.execute(text("SET LOCAL statement_timeout = 0"))
        # Tenant ids are consecutive from ``first``; meter and moment are spread evenly, baht amounts
        # pseudo-randomly (deterministic: the same run gives the same invoices).
        await conn.execute(
            text(
                "INSERT INTO platform.usage_events (tenant_id, meter, quantity, key, occurred_at, recorded_at)"
                " SELECT :first + g % :t, (CAST(:meters AS text[]))[1 + (g / :t) % 12],"
                " CASE WHEN (CAST(:meters AS text[]))[1 + (g / :t) % 12] = 'payments.baht_collected'"
                "      THEN round((50 + (hashint4(g) & 65535) / 10.0)::numeric, 2) ELSE 1 END,"
                " 'e' || g,"
                " TIMESTAMPTZ '2026-10-01 00:00:00+07' + ((g::bigint * 104729) % 2678400) * interval '1 second',"
                " TIMESTAMPTZ '2026-10-01 00:00:00+07' + ((g::bigint * 104729) % 2678400) * interval '1 second'"
                " FROM generate_series(0, :n - 1) g"
            ),
            {"first": first, "t": tenants, "n": events, "meters": meters},
        )
    timings["events_s"] = time.perf_counter() - started
    started = time.perf_counter()
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("VACUUM ANALYZE platform.usage_events"))
        await conn.execute(text("ANALYZE platform.tenants"))
    timings["analyze_s"] = time.perf_counter() - started
    return timings


def phase(wall: float, clock: DbClock, tenants: int) -> dict[str, float]:
    return {
        "wall_s": round(wall, 3),
        "per_tenant_ms": round(wall / tenants * 1000, 3),
        "db_s": round(clock.total, 3),
        "db_per_tenant_ms": round(clock.total / tenants * 1000, 3),
        "statements": clock.statements,
    }


async def figures(url: str, tenants: int, events: int) -> dict[str, Any]:
    from sqlalchemy import select, text

    from localgov.kernel.db import create_engine, session_factory, session_for
    from localgov.platform.billing import service
    from localgov.platform.billing.meters import meter_registry
    from localgov.platform.billing.models import OperatorInvoice
    from localgov.plugins import REGISTRY
    from localgov.settings import Settings

    registry = meter_registry(REGISTRY)
    meters = [m.code for p in REGISTRY for m in p.meters]
    meters = (meters + list(EXTRA_METERS))[:12]
    engine = create_engine(Settings(database_url=url, env="test", log_level="WARNING"))
    try:
        results: dict[str, Any] = {"tenants": tenants, "events": events, "meters": meters}
        results["fill"] = await fill(engine, tenants, events, meters)
        clock = DbClock(engine)
        factory = session_factory(engine)
        async with engine.connect() as conn:
            tenant_ids = [r[0] for r in (await conn.execute(text("SELECT id FROM platform.tenants ORDER BY id"))).all()]

        clock.reset()
        started = time.perf_counter()
        condition_for = service.at_midnight
        async with session_for(factory, None) as session, session.begin():
            from localgov.kernel.usage import UsageEvent

            cond = (UsageEvent.occurred_at >= condition_for(dt.date(2026, 10, 1))) & (
                UsageEvent.occurred_at < condition_for(dt.date(2026, 11, 1))
            )
            for tenant_id in tenant_ids:
                await service.aggregate(session, tenant_id, cond)
        results["aggregation"] = phase(time.perf_counter() - started, clock, tenants)

        clock.reset()
        started = time.perf_counter()
        async with session_for(factory, None) as session, session.begin():
            drafted = await service.draft_invoices(
                session,
                today=dt.date(2026, 11, 1),
                now=service.at_midnight(dt.date(2026, 11, 1)) + dt.timedelta(hours=1),
                meters=registry,
            )
        results["drafts"] = phase(time.perf_counter() - started, clock, tenants)

        clock.reset()
        started = time.perf_counter()
        async with session_for(factory, None) as session, session.begin():
            finalised = await service.finalise_due(
                session,
                now=service.at_midnight(dt.date(2026, 11, 4)) + dt.timedelta(hours=1),
                grace=service.DEFAULT_GRACE,
                meters=registry,
            )
        results["finalisation"] = phase(time.perf_counter() - started, clock, tenants)

        clock.reset()
        started = time.perf_counter()
        async with session_for(factory, None) as session, session.begin():
            again = await service.run_invoices(session, now=service.at_midnight(dt.date(2026, 11, 5)), meters=registry)
        results["run_again"] = phase(time.perf_counter() - started, clock, tenants)

        async with session_for(factory, None) as session:
            numbers = sorted(
                int(n.rsplit("-", 1)[1])
                for n in (
                    await session.execute(select(OperatorInvoice.number).where(OperatorInvoice.status == "finalised"))
                ).scalars()
                if n
            )
            invoiced_cases = (
                await session.execute(
                    text(
                        "SELECT coalesce(sum(quantity), 0) FROM platform.operator_invoice_lines"
                        " WHERE meter = 'oss.cases_opened'"
                    )
                )
            ).scalar_one()
            events_cases = (
                await session.execute(
                    text("SELECT count(*) FROM platform.usage_events WHERE meter = 'oss.cases_opened'")
                )
            ).scalar_one()
            total = (await session.execute(select(OperatorInvoice.total))).scalars().all()
            lines = (await session.execute(text("SELECT count(*) FROM platform.operator_invoice_lines"))).scalar_one()
        if len(drafted) != tenants or len(finalised) != tenants:
            raise core.BenchError(f"{len(drafted)} drafts and {len(finalised)} finalised for {tenants} tenants")
        if again.drafted or again.finalised:
            raise core.BenchError("the second run drafted or finalised something")
        if numbers != list(range(1, tenants + 1)):
            raise core.BenchError("invoice numbers are not 1..n")
        if int(invoiced_cases) != int(events_cases):
            raise core.BenchError(f"invoiced {invoiced_cases} cases, {events_cases} events")
        results["check"] = {
            "invoices": len(total),
            "lines": lines,
            "billed_total_baht": str(sum(total)),
            "cases_invoiced": int(invoiced_cases),
        }
        return results
    finally:
        await engine.dispose()


def render(results: dict[str, Any]) -> str:
    f = results["figures"]
    out = [
        f"billing: {f['tenants']:,} tenants × {len(f['meters'])} meters, {f['events']:,} usage events (October 2026)",
        "fill: catalog {catalog_s:.1f} s, events {events_s:.1f} s, analyze {analyze_s:.1f} s".format(**f["fill"]),
        f"{'phase':<28}{'wall s':>10}{'ms/tenant':>12}{'db s':>10}{'db ms/tenant':>14}{'statements':>12}",
    ]
    for key, label in (
        ("aggregation", "usage aggregation"),
        ("drafts", "invoice run: drafts"),
        ("finalisation", "invoice run: finalisation"),
        ("run_again", "the run again (idempotent)"),
    ):
        p = f[key]
        out.append(
            f"{label:<28}{p['wall_s']:>10.2f}{p['per_tenant_ms']:>12.2f}{p['db_s']:>10.2f}"
            f"{p['db_per_tenant_ms']:>14.2f}{p['statements']:>12,}"
        )
    c = f["check"]
    out.append(f"checked: {c['invoices']:,} invoices, {c['lines']:,} lines, billed {c['billed_total_baht']} baht")
    return "\n".join(out)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenants", type=int, default=7849, help="LAOs in the catalog (default 7,849)")
    parser.add_argument("--events", type=int, default=10_000_000, help="usage events in October (default 10 million)")
    parser.add_argument("--database-url", default=None, help=f"admin URL of the server (env {core.ENV_VAR})")
    args = parser.parse_args(argv)
    if not 1 <= args.tenants <= 9_999_999 or args.events < 1:
        parser.error("--tenants 1..9,999,999, --events ≥ 1")
    return args


def main(argv: list[str] | None = None) -> int:
    from localgov.kernel.observability import configure_logging

    configure_logging("WARNING")
    args = parse_args(argv)
    stamp = dt.datetime.now(dt.UTC)
    keep: dict[str, Any] = {}
    admin, source = core.choose_server(args.database_url, keep)
    url = asyncio.run(core.create_database(admin))
    core.log(f"database {url.rsplit('/', 1)[-1]} on {source} server")
    try:
        results: dict[str, Any] = {
            "benchmark": "billing",
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
        core.log(f"{args.tenants} tenants, {args.events} events, then the invoice run")
        results["figures"] = asyncio.run(figures(url, args.tenants, args.events))
        results["background_after_run"] = core.machine_busy_cores()
        core.RESULTS.mkdir(exist_ok=True)
        out = core.RESULTS / f"billing-{stamp.strftime('%Y%m%dT%H%M%SZ')}.json"
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
