"""Benchmark of the service histories: what a schema holds, enabling a service, migrate, provisioning.

    .venv/bin/python bench/services.py [--tenants 400] [--with-payments 0.2] [--enable 50] [--database-url URL]

One run creates a database of its own, migrates the shared schema and provisions ``--tenants``
LAOs of the DLA registry through ``create_tenant`` (one transaction each), a share of them
(``--with-payments``) with the payments service, the others with none. It then reports:

- relations per schema (``pg_class`` rows in the schema: tables, indexes, sequences, TOAST) for a
  schema with no service and one with payments only;
- provisioning time per tenant (wall and time waiting for PostgreSQL), for each kind;
- enabling payments on ``--enable`` live tenants through the tenant administrator's service
  function (``set_service``: tables at head, stamp, seed, catalog change, audit, one transaction
  with its commit), p50/p95/max;
- the real ``localgov migrate`` and ``migrate --check`` CLI with every schema at head (no-op);
- a throw-away payments revision applied by ``migrate_tenants``: only the schemas that use
  payments are behind and upgraded.

It writes ``bench/results/services-<timestamp>.json`` and drops its database, also on error.
See bench/README.md for the figures measured.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import random
import shutil
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import core  # noqa: E402  (bench/core.py: database, CLI and statistics helpers)

TARGET_ENABLE_P95_MS = 1000.0
TARGET_NOOP_MIGRATE_S = 10.0

THROWAWAY = '''
"""Throw-away revision of the benchmark: payers get a note."""

import sqlalchemy as sa
from alembic import op

revision = "9901"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("payers", sa.Column("bench_note", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("payers", "bench_note")
'''


def settings(url: str) -> Any:
    from localgov.settings import Settings

    return Settings(database_url=url, env="test", log_level="WARNING")


async def provision(url: str, codes: list[str], with_payments: set[str]) -> dict[str, Any]:
    """Every tenant in its own transaction; wall time and the part spent waiting for PostgreSQL."""
    from localgov.kernel.db import create_engine
    from localgov.platform.provisioning import ProfileSeed
    from localgov.platform.tenants import TenantSpec, create_tenant

    engine = create_engine(settings(url))
    timings: dict[str, dict[str, list[float]]] = {"none": {"wall": [], "db": []}, "payments": {"wall": [], "db": []}}
    started = time.perf_counter()
    try:
        for n, code in enumerate(codes, 1):
            kind = "payments" if code in with_payments else "none"
            spec = TenantSpec(
                dla_code=code,
                slug=core.slug_of(code),
                name_en=f"Benchmark LAO {code}",
                enabled_services=["payments"] if kind == "payments" else [],
                contact=ProfileSeed(phone=f"0-{code}"),
            )
            cpu0, t0 = time.process_time(), time.perf_counter()
            async with engine.begin() as conn:
                await create_tenant(conn, spec, source="registry")
            t1, cpu1 = time.perf_counter(), time.process_time()
            timings[kind]["wall"].append(t1 - t0)
            # Single-threaded and idle otherwise: wall time not spent on our CPU was spent waiting.
            timings[kind]["db"].append(max(0.0, (t1 - t0) - (cpu1 - cpu0)))
            if n % 100 == 0 or n == len(codes):
                core.log(f"  provisioned {n}/{len(codes)}")
    finally:
        await engine.dispose()
    return {
        "total_s": time.perf_counter() - started,
        **{
            kind: {
                "tenants": len(t["wall"]),
                "wall_ms": core.summary_ms(t["wall"]),
                "db_wait_ms": core.summary_ms(t["db"]),
            }
            for kind, t in timings.items()
            if t["wall"]
        },
    }


async def relations_per_schema(url: str, none_code: str, payments_code: str) -> dict[str, Any]:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        out: dict[str, Any] = {}
        for kind, code in (("no_service", none_code), ("payments_only", payments_code)):
            rows = await conn.fetch(
                "SELECT relkind::text AS kind, count(*) AS n FROM pg_class"
                " WHERE relnamespace = to_regnamespace($1) GROUP BY 1 ORDER BY 1",
                f"lao_{code}",
            )
            by_kind = {r["kind"]: int(r["n"]) for r in rows}
            out[kind] = {"relations": sum(by_kind.values()), "by_relkind": by_kind}
        return out
    finally:
        await conn.close()


async def enable_payments(url: str, codes: list[str]) -> dict[str, Any]:
    """Enable payments on live tenants the way ``PUT /v1/tenant/services/payments`` does, timed with the commit."""
    from sqlalchemy import text

    from localgov.kernel.audit import Actor, Origin
    from localgov.kernel.db import create_engine, session_factory, tenant_session
    from localgov.platform.catalog import Catalog
    from localgov.platform.tenant_admin import set_service
    from localgov.plugins import REGISTRY

    engine = create_engine(settings(url))
    catalog = Catalog(core.BASE_DOMAIN)
    wall: list[float] = []
    try:
        await catalog.load(engine)
        factory = session_factory(engine)
        for code in codes:
            tenant = catalog.by_slug(core.slug_of(code))
            if tenant is None:
                raise core.BenchError(f"tenant {code} is not routable")
            t0 = time.perf_counter()
            async with tenant_session(factory, tenant) as session:
                await set_service(
                    session,
                    tenant.id,
                    "payments",
                    enabled=True,
                    plugins=REGISTRY,
                    actor=Actor("system", "bench"),
                    origin=Origin(),
                )
            wall.append(time.perf_counter() - t0)
        async with engine.connect() as conn:
            seeded = [
                (await conn.execute(text(f'SELECT count(*) FROM "lao_{code}".tariffs'))).scalar_one()  # noqa: S608
                for code in codes
            ]
    finally:
        await engine.dispose()
    if set(seeded) != {3}:
        raise core.BenchError(f"enabling did not seed the default tariffs everywhere: {sorted(set(seeded))}")
    return {"tenants": len(codes), "wall_ms": core.summary_ms(wall)}


async def throwaway_revision(url: str, expected: set[str]) -> dict[str, Any]:
    """A new payments revision: only the schemas that use payments are behind, and upgraded."""
    from localgov.kernel.db import create_engine
    from localgov.platform.migrate import history_head, history_locations, migrate_tenants

    folder = Path(tempfile.mkdtemp(prefix="localgov-bench-payments-"))
    try:
        location = folder / "payments"
        shutil.copytree(history_locations()["payments"], location, ignore=shutil.ignore_patterns("__pycache__"))
        head = history_head(history_locations()["payments"])
        (location / "versions" / "9901_bench_note.py").write_text(
            textwrap.dedent(THROWAWAY).lstrip().replace("{head}", head)
        )
        engine = create_engine(settings(url))
        try:
            report = await migrate_tenants(engine, url, locations={"payments": str(location)})
        finally:
            await engine.dispose()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    upgraded = {r.schema for r in report.results if r.ok}
    if report.failed or set(report.behind) != expected or upgraded != expected:
        raise core.BenchError(
            f"throw-away payments revision: behind {len(report.behind)}, upgraded {len(upgraded)},"
            f" expected {len(expected)}; failed {[(r.schema, r.error) for r in report.failed][:3]}"
        )
    return {
        "schemas": report.total,
        "behind": len(report.behind),
        "seconds": report.seconds,
        "per_schema_ms": core.summary_ms([r.seconds for r in report.results]),
    }


def render(results: dict[str, Any]) -> str:
    rel = results["relations"]
    prov = results["provisioning"]
    enable = results["enable"]["wall_ms"]
    mig = results["migrate"]
    lines = [
        f"services benchmark: {results['tenants']} tenants ({results['with_payments']} with payments)",
        f"  relations per schema     no service {rel['no_service']['relations']}, "
        f"payments only {rel['payments_only']['relations']}",
    ]
    for kind in ("none", "payments"):
        if kind in prov:
            p = prov[kind]
            lines.append(
                f"  provisioning ({kind:8}) median {p['wall_ms']['p50']:.1f} ms wall, "
                f"{p['db_wait_ms']['p50']:.1f} ms db; p95 {p['wall_ms']['p95']:.1f} ms wall ({p['tenants']} tenants)"
            )
    lines += [
        f"  enabling payments        p50 {enable['p50']:.1f} ms, p95 {enable['p95']:.1f} ms, max {enable['max']:.1f} ms"
        f" ({results['enable']['tenants']} tenants) [{core.verdict(enable['p95'] < TARGET_ENABLE_P95_MS)} < 1 s]",
        f"  no-op migrate            {mig['migrate_wall_s_median']:.2f} s; --check {mig['check_wall_s_median']:.2f} s"
        f" (median of {mig['runs']}) [{core.verdict(mig['migrate_wall_s_median'] < TARGET_NOOP_MIGRATE_S)} ≤ 10 s]",
    ]
    if "check_verify_wall_s_median" in mig:
        lines.append(f"  migrate --check --verify {mig['check_verify_wall_s_median']:.2f} s")
    t = results["throwaway_payments_revision"]
    lines.append(
        f"  new payments revision    {t['behind']} of {t['schemas']} schemas behind and upgraded"
        f" in {t['seconds']:.2f} s"
        f" (per schema median {t['per_schema_ms']['p50']:.1f} ms)"
    )
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenants", type=int, default=400, help="tenants to provision (default 400)")
    parser.add_argument("--with-payments", type=float, default=0.2, help="share provisioned with payments")
    parser.add_argument("--enable", type=int, default=50, help="tenants on which payments is enabled later")
    parser.add_argument("--migrate-runs", type=int, default=3, help="runs of each migrate command (median)")
    parser.add_argument("--database-url", default=None, help=f"admin URL of the server (env {core.ENV_VAR})")
    parser.add_argument("--seed", type=int, default=2026, help="seed of the tenant sample")
    args = parser.parse_args(argv)
    if not 2 <= args.tenants <= 100_000 or not 0 < args.with_payments < 1:
        parser.error("--tenants must be 2..100000 and --with-payments strictly between 0 and 1")
    return args


def main(argv: list[str] | None = None) -> int:
    from localgov.metadata import INSTALLATION
    from localgov.platform.installation import install

    install(INSTALLATION)  # a composition root: the platform provisions the core tables and the registry
    args = parse_args(argv)
    stamp = dt.datetime.now(dt.UTC)
    keep: dict[str, Any] = {}
    admin, source = core.choose_server(args.database_url, keep)
    url = asyncio.run(core.create_database(admin))
    core.log(f"database {url.rsplit('/', 1)[-1]} on {source} server")
    try:
        codes = core.pick_codes(args.tenants, args.seed)
        rnd = random.Random(args.seed)
        with_payments = set(rnd.sample(codes, max(1, round(len(codes) * args.with_payments))))
        plain = [c for c in codes if c not in with_payments]
        to_enable = rnd.sample(plain, min(args.enable, len(plain) - 1))
        results: dict[str, Any] = {
            "benchmark": "services",
            "timestamp": stamp.isoformat(timespec="seconds"),
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "git_commit": core.git_commit(),
            "code": core.code_under_test(),
            "database_server": source,
            "postgres": asyncio.run(core.server_facts(url)),
            "tenants": len(codes),
            "with_payments": len(with_payments),
            "background_before_run": core.machine_busy_cores(),
        }
        core.log("migrating the shared schema")
        asyncio.run(core.migrate_shared(url))
        core.log(f"provisioning {len(codes)} tenants ({len(with_payments)} with payments)")
        results["provisioning"] = asyncio.run(provision(url, codes, with_payments))
        untouched = next(c for c in plain if c not in to_enable)
        results["relations"] = asyncio.run(relations_per_schema(url, untouched, sorted(with_payments)[0]))
        core.log(f"enabling payments on {len(to_enable)} live tenants")
        results["enable"] = asyncio.run(enable_payments(url, to_enable))
        core.log(f"timing `localgov migrate` and `--check` ({args.migrate_runs} runs each)")
        results["migrate"] = core.time_migrate(url, len(codes), args.migrate_runs)
        core.log("a throw-away payments revision")
        using = {f"lao_{c}" for c in (*with_payments, *to_enable)}
        results["throwaway_payments_revision"] = asyncio.run(throwaway_revision(url, using))
        results["catalog"] = asyncio.run(core.catalog_facts(url))
        results["targets"] = {
            "enable_p95_ms_lt_1000": results["enable"]["wall_ms"]["p95"] < TARGET_ENABLE_P95_MS,
            "noop_migrate_s_le_10": results["migrate"]["migrate_wall_s_median"] <= TARGET_NOOP_MIGRATE_S,
        }
        core.RESULTS.mkdir(exist_ok=True)
        out = core.RESULTS / f"services-{stamp.strftime('%Y%m%dT%H%M%SZ')}.json"
        out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
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
