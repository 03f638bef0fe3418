"""What a tenant switch costs PostgreSQL on a warm connection, and what one prepared statement per
tenant would cost instead (issue 11, the 2,000-tenant spread).

    PYTHONPATH=src .venv/bin/python bench/plan_cache.py [--tenants 150] [--repeats 5] [--database-url URL]

PostgreSQL keeps a prepared statement's plan for the search path it was planned under and
re-analyses and re-plans the statement when a later execution runs under another path. With one
SQL text for every tenant (what ``kernel.reads`` sends), every request whose tenant differs from its
connection's previous one pays that. The other way would be one prepared statement per tenant and
connection (a per-tenant SQL text, or schema-qualified statements): no re-analysis, but a plan
cache per tenant in every backend.

One run creates a database, provisions ``--tenants`` LAOs with payments, and on one connection runs
getBill's statement (``payments.bills.BILL_VIEW``, compiled as ``kernel.reads`` compiles it), each
execution in its own read-only transaction with the tenant's search path, over every tenant in turn,
``--repeats`` times, three ways:

* ``shared``: one SQL text for every tenant (today);
* ``per tenant``: the SQL text tagged with the tenant's schema (a comment), so asyncpg prepares one
  statement per tenant on the connection;
* ``same tenant``: the first tenant every time (nothing to redo: the floor of the figure).

Then four statements (getBill's former one, its present one and the biller row it reads on a cache
miss, and the floor's one-table read), each on a new backend (every tenant met for the first time),
switching tenants on a warm backend, and repeating one tenant.

It reports the **backend's CPU** per transaction (utime + stime of the server process, read from
``/proc``: independent of the client and of the machine's other load) and the backend's plan cache
memory after the run (``pg_backend_memory_contexts``). A benchmark, not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import core  # noqa: E402


async def measure(url: str, tenants: int, repeats: int) -> dict[str, Any]:
    import asyncpg

    from localgov.kernel.db import create_engine
    from localgov.kernel.reads import compiled
    from localgov.platform.bulk import provision_from_registry
    from localgov.services.payments.bills import BILL_VIEW
    from localgov.settings import Settings

    engine = create_engine(Settings(database_url=url, env="test", log_level="WARNING"))
    try:
        await provision_from_registry(engine, limit=tenants, concurrency=2, services=["payments"])
    finally:
        await engine.dispose()
    conn = await asyncpg.connect(
        url.replace("postgresql+asyncpg://", "postgresql://"), statement_cache_size=10 * tenants
    )
    try:
        schemas = [
            r[0] for r in await conn.fetch("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'lao\\_%' ORDER BY 1")
        ]
        query = compiled(BILL_VIEW)
        tagged = {schema: f"{query.sql} /* {schema} */" for schema in schemas}
        pid = conn.get_server_pid()

        def backend_cpu_s() -> float:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / 100  # utime + stime, in clock ticks of 10 ms

        async def one(schema: str, sql: str) -> None:
            await conn.execute(f"BEGIN READ ONLY; SELECT set_config('search_path', '{schema}', true);")
            await conn.fetch(sql, *query.arguments({"bill_id": uuid.uuid4()}))
            await conn.execute("ROLLBACK")

        async def run(way: str) -> float:
            before, count = backend_cpu_s(), 0
            for _ in range(repeats):
                for schema in schemas:
                    if way == "shared":
                        await one(schema, query.sql)
                    elif way == "per_tenant":
                        await one(schema, tagged[schema])
                    else:
                        await one(schemas[0], query.sql)
                    count += 1
            return (backend_cpu_s() - before) / count * 1000

        ways = ("shared", "per_tenant", "same_tenant")
        for way in ways:  # warm: every relation in the backend's cache, every statement prepared
            await run(way)
        rounds = [{way: await run(way) for way in ways} for _ in range(3)]
        memory = await conn.fetchval(
            "SELECT sum(total_bytes) FROM pg_backend_memory_contexts"
            " WHERE name IN ('CachedPlanSource', 'CachedPlanQuery', 'CachedPlan')"
        )
        statements = len(schemas) + 1
    finally:
        await conn.close()
    return {
        "tenants": len(schemas),
        "repeats": repeats,
        "rounds": rounds,
        "plan_cache_bytes": int(memory or 0),
        "prepared_statements": statements,
    }


async def shapes(url: str, repeats: int) -> dict[str, dict[str, float]]:
    """Backend CPU per read of four statements, on a backend new to every tenant, switching tenants on a
    warm backend, and repeating one tenant (what PostgreSQL redoes grows with the relations named)."""
    import asyncpg
    from sqlalchemy import bindparam, select

    from localgov.kernel.reads import compiled, json_rows
    from localgov.services.payments.bills import BILL_VIEW, BILLER
    from localgov.services.payments.models import Bill, BillItem, PaymentSettings

    bills, items, settings = Bill.__table__, BillItem.__table__, PaymentSettings.__table__
    lines = [items.c.fee_code, items.c.description_th, items.c.quantity, items.c.unit_price, items.c.amount]
    former = (
        select(
            *[c for c in bills.c if c.key != "lines"],
            json_rows(lines, where=items.c.bill_id == bills.c.id, order_by=[items.c.period, items.c.fee_code]).label(
                "items"
            ),
            settings.c.biller_id,
            settings.c.merchant_name,
        )
        .select_from(bills.outerjoin(settings, settings.c.id == 1))
        .where(bills.c.id == bindparam("bill_id"))
    )
    floor = select(bills.c.id, bills.c.reference, bills.c.total).where(bills.c.id == bindparam("bill_id"))
    statements = {
        "former getBill: lines by json_agg, biller joined": compiled(former),
        "getBill now: the bill row, lines copied in": compiled(BILL_VIEW),
        "the biller row (a cache miss only)": compiled(BILLER.statement),
        "the floor's read: one table by id": compiled(floor),
    }
    probe = await asyncpg.connect(url)
    try:
        schemas = [
            r[0] for r in await probe.fetch("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'lao\\_%' ORDER BY 1")
        ]
    finally:
        await probe.close()
    out: dict[str, dict[str, float]] = {}
    for name, query in statements.items():
        out[name] = {}
        for phase in ("new backend", "switching", "same tenant"):
            conn = await asyncpg.connect(url, statement_cache_size=16)
            try:
                pid = conn.get_server_pid()

                def backend_cpu_s(pid: int = pid) -> float:
                    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                    return (int(fields[11]) + int(fields[12])) / 100

                async def one(schema: str, conn: Any = conn, query: Any = query) -> None:
                    await conn.execute(f"BEGIN READ ONLY; SELECT set_config('search_path', '{schema}', true);")
                    await conn.fetch(query.sql, *query.arguments({"bill_id": uuid.uuid4()}))
                    await conn.execute("ROLLBACK")

                await one(schemas[0])  # the statement prepared
                if phase != "new backend":
                    for schema in schemas:
                        await one(schema)
                passes = 1 if phase == "new backend" else repeats
                before, count = backend_cpu_s(), 0
                for _ in range(passes):
                    for schema in schemas:
                        await one(schema if phase != "same tenant" else schemas[0])
                        count += 1
                out[name][phase] = (backend_cpu_s() - before) / count * 1000
            finally:
                await conn.close()
    return out


def main(argv: list[str] | None = None) -> int:
    from localgov.metadata import INSTALLATION
    from localgov.platform.installation import install

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenants", type=int, default=150, help="LAOs with payments (default 150)")
    parser.add_argument("--repeats", type=int, default=5, help="passes over every tenant per figure (default 5)")
    parser.add_argument("--database-url", default=None, help=f"admin URL of the server (env {core.ENV_VAR})")
    args = parser.parse_args(argv)
    if not 2 <= args.tenants <= 7849 or args.repeats < 1:
        parser.error("--tenants 2..7849, --repeats ≥ 1")
    install(INSTALLATION)
    keep: dict[str, Any] = {}
    admin, source = core.choose_server(args.database_url, keep)
    url = asyncio.run(core.create_database(admin))
    core.log(f"database {url.rsplit('/', 1)[-1]} on {source} server; provisioning {args.tenants} LAOs")
    try:
        asyncio.run(core.migrate_shared(url))
        out = asyncio.run(measure(url, args.tenants, args.repeats))
        by_shape = asyncio.run(shapes(url, args.repeats))
    finally:
        asyncio.run(core.drop_database(admin, url))
    print(f"getBill's statement over {out['tenants']} tenants, backend CPU per read-only transaction (ms):")
    for n, rnd in enumerate(out["rounds"], 1):
        print(f"  round {n}: " + "; ".join(f"{way} {ms:.3f}" for way, ms in rnd.items()))
    per = out["plan_cache_bytes"] / out["prepared_statements"]
    print(
        f"plan cache of the backend after the run: {out['plan_cache_bytes'] / 2**20:.1f} MiB for"
        f" {out['prepared_statements']} prepared statements ({per / 1024:.0f} KiB each)"
    )
    print(f"backend CPU per read-only transaction by statement over {out['tenants']} tenants (ms):")
    print(f"  {'statement':<52} {'new backend':>12} {'switching':>10} {'same tenant':>12}")
    for name, phases in by_shape.items():
        print(
            f"  {name:<52} {phases['new backend']:>12.3f} {phases['switching']:>10.3f} {phases['same tenant']:>12.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
