"""Benchmark of localgov on a Citus cluster (issue 19) against plain PostgreSQL, in the same run.

    PYTHONPATH=src .venv/bin/python bench/citus.py [--tenants 20] [--requests 200] [--concurrency 2]
                                                   [--database-url URL]

Starts a Citus coordinator and two workers (tests/support/citus.py: Citus from ../shared/citus,
data under a temporary folder, stopped in a ``finally``) and creates a database of its own on the
plain server (``--database-url``, env ``LOCALGOV_BENCH_DATABASE_URL``, else 127.0.0.1:5432;
dropped in a ``finally``). On both, the real ``upgrade_shared`` and then:

1. *provisioning*: ``--tenants`` LAOs from the DLA registry with ``provision_from_registry``
   (``--concurrency`` at once, the CLI's default 2): median and p95 per tenant.
2. *no-op migrate*: ``migrate_tenants`` over every tenant schema (nothing behind: the catalog mirror).
3. *reads*: one payments tenant with a bill on each; ``--requests`` sequential requests of
   ``GET /v1/tenant`` and of the authenticated ``GET /v1/payments/bills/{id}`` through the app
   (in process, ASGI: the HTTP server is not measured), alternating the two databases request by
   request so both see the same machine load; medians and the Citus/plain ratio.
4. *move*: one tenant moved to the other worker with ``localgov cluster move`` (seconds).

Small sizes only on the shared 2-core machine. Prints a table and writes
``bench/results/citus-<UTC timestamp>.json``. Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))


def _median_ms(values: list[float]) -> float:
    return round(statistics.median(values) * 1000, 2)


async def _setup(url: str) -> tuple[Any, Any]:
    """The shared schema at head, the tests' signing key, and a payments tenant with one bill
    (before the registry's tenants: the test factories take registry codes)."""
    from tests.support.tokens import install_test_key
    from tests.test_payments_bank import open_bills, setup_lao

    from localgov.kernel.db import create_engine
    from localgov.platform.migrate import upgrade_shared
    from localgov.settings import Settings

    engine = create_engine(Settings(database_url=url, env="test"))
    try:
        await upgrade_shared(engine)
        async with engine.begin() as conn:
            await install_test_key(conn)
        lao = await setup_lao(engine)
        (bill,) = await open_bills(engine, lao.tenant)
    finally:
        await engine.dispose()
    return lao, bill


async def _provision(url: str, tenants: int, concurrency: int) -> dict[str, Any]:
    from localgov.kernel.db import create_engine
    from localgov.platform.bulk import provision_from_registry
    from localgov.platform.migrate import migrate_tenants
    from localgov.settings import Settings

    engine = create_engine(Settings(database_url=url, env="test"), pool_size=concurrency + 1, max_overflow=0)
    try:
        report = await provision_from_registry(engine, limit=tenants, concurrency=concurrency)
        if report.failed:
            raise SystemExit(f"provisioning failed: {report.failed[:3]}")
        migrated = await migrate_tenants(engine, url, processes=1)
        if migrated.behind:
            raise SystemExit(f"no-op migrate found {len(migrated.behind)} schemas behind")
    finally:
        await engine.dispose()
    return {
        "provisioned": report.created,
        "provision_median_ms": round(report.quantile(0.5) * 1000, 1),
        "provision_p95_ms": round(report.quantile(0.95) * 1000, 1),
        "provision_wall_s": round(report.seconds, 2),
        "noop_migrate_s": round(migrated.seconds, 3),
        "noop_migrate_tenants": migrated.total,
    }


async def _reads(urls: dict[str, str], made: dict[str, tuple[Any, Any]], requests: int) -> dict[str, Any]:
    import httpx
    from tests.conftest import BASE, host, make_settings
    from tests.test_payments_bank import FINANCE, staff_headers

    from localgov.app import create_app
    from localgov.kernel.db import create_engine
    from localgov.plugins import REGISTRY

    targets: dict[str, Any] = {}
    timings: dict[str, dict[str, list[float]]] = {n: {"tenant": [], "bill": []} for n in urls}
    async with contextlib.AsyncExitStack() as stack:
        for name, url in urls.items():
            settings = make_settings(url, db_pool_size=2)
            engine = create_engine(settings)
            stack.push_async_callback(engine.dispose)
            app = create_app(settings, plugins=REGISTRY, engine=engine, listen_for_catalog_changes=False)
            await stack.enter_async_context(app.lifespan())
            transport = httpx.ASGITransport(app=app)
            client = await stack.enter_async_context(httpx.AsyncClient(transport=transport, base_url=f"http://{BASE}"))
            lao, bill = made[name]
            targets[name] = (client, lao, bill)
        for i in range(requests + requests // 5):
            for name in urls if i % 2 == 0 else list(urls)[::-1]:
                client, lao, bill = targets[name]
                for kind, path, headers in (
                    ("tenant", "/v1/tenant", host(lao.tenant.slug)),
                    ("bill", f"/v1/payments/bills/{bill.id}", staff_headers(lao.tenant, FINANCE)),
                ):
                    started = time.perf_counter()
                    answer = await client.get(path, headers=headers)
                    took = time.perf_counter() - started
                    if answer.status_code != 200:
                        raise SystemExit(f"{name} {path}: {answer.status_code} {answer.text[:200]}")
                    if i >= requests // 5:  # the first fifth warms the pools and plan caches
                        timings[name][kind].append(took)
    out: dict[str, Any] = {}
    for kind in ("tenant", "bill"):
        citus_ms, plain_ms = _median_ms(timings["citus"][kind]), _median_ms(timings["plain"][kind])
        out[kind] = {
            "citus_median_ms": citus_ms,
            "plain_median_ms": plain_ms,
            "plain_over_citus": round(plain_ms / citus_ms, 2),
        }
    return out


async def _move(url: str) -> dict[str, Any]:
    from sqlalchemy import text

    from localgov.kernel.db import create_engine
    from localgov.platform import citus
    from localgov.settings import Settings

    engine = create_engine(Settings(database_url=url, env="test"))
    try:
        async with engine.connect() as conn:
            nodes = await citus.workers(conn)
        source = max(nodes, key=lambda n: len(n.schemas))
        target = next(n for n in nodes if n != source)
        async with engine.connect() as conn:
            slug = (
                await conn.execute(
                    text("SELECT slug FROM platform.tenants WHERE schema_name = :s"), {"s": source.schemas[0]}
                )
            ).scalar_one()
        result = await citus.move_tenant(engine, slug, target.name)
    finally:
        await engine.dispose()
    return {"moved": slug, "from": result.source, "to": result.target, "move_s": round(result.seconds, 2)}


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    from tests.support.citus import start_cluster
    from tests.support.database import create_database, drop_database

    admin = (
        args.database_url
        or os.environ.get("LOCALGOV_BENCH_DATABASE_URL")
        or "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    plain = await create_database(admin)
    cluster = await asyncio.to_thread(start_cluster, 2)
    try:
        await cluster.setup()
        urls = {"citus": cluster.coordinator_url, "plain": plain}
        out: dict[str, Any] = {"tenants": args.tenants, "requests": args.requests, "concurrency": args.concurrency}
        made = {}
        for name, url in urls.items():
            made[name] = await _setup(url)
            out[name] = await _provision(url, args.tenants, args.concurrency)
        out["reads"] = await _reads(urls, made, args.requests)
        out["move"] = await _move(cluster.coordinator_url)
        return out
    finally:
        await asyncio.to_thread(cluster.stop)
        await drop_database(admin, plain)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenants", type=int, default=20)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    from localgov.metadata import INSTALLATION
    from localgov.platform.installation import install

    install(INSTALLATION)
    import tests.support.tokens as tokens

    tokens.COLLECTION_FINISHED = True  # tokens may be minted (the test suite's guard)
    out = asyncio.run(_run(args))
    for name in ("citus", "plain"):
        r = out[name]
        print(
            f"{name:<6} provisioning {r['provisioned']} tenants: median {r['provision_median_ms']} ms,"
            f" p95 {r['provision_p95_ms']} ms; no-op migrate of {r['noop_migrate_tenants']}: {r['noop_migrate_s']} s"
        )
    for kind, r in out["reads"].items():
        print(f"{kind:<6} citus {r['citus_median_ms']} ms, plain {r['plain_median_ms']} ms: {r['plain_over_citus']}x")
    print(f"move   {out['move']['moved']} {out['move']['from']} -> {out['move']['to']}: {out['move']['move_s']} s")
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    (results / f"citus-{stamp}.json").write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
