"""Benchmark of localgov on a Citus cluster (issue 19) against plain PostgreSQL, in the same run.

    PYTHONPATH=src .venv/bin/python bench/citus.py [--tenants 20] [--requests 200] [--concurrency 2]
                                                   [--serial 20] [--database-url URL]

Starts a Citus coordinator and two workers (tests/support/citus.py: Citus from ../shared/citus,
data under a temporary folder, stopped in a ``finally``) and creates a database of its own on the
plain server (``--database-url``, env ``LOCALGOV_BENCH_DATABASE_URL``, else 127.0.0.1:5432;
dropped in a ``finally``). On both, the real ``upgrade_shared`` and then:

1. *provisioning*: ``--tenants`` LAOs from the DLA registry with ``provision_from_registry``
   (``--concurrency`` at once, the CLI's default 2), in blocks of 50 alternating between the two
   databases (both see the same machine load): median and p95 per tenant, tenants per second, and
   the median of each quarter (the cost as the number of tenants grows); then ``--serial`` more
   on each, one at a time (blocks of 10, alternating): the latency of one tenant at the full size.
   The 1-minute load average is sampled between blocks.
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


#: Tenants provisioned on one database before switching to the other.
BLOCK = 50


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


def _quantile(values: list[float], q: float) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


def _ms(value: float) -> float:
    return round(value * 1000, 1)


async def _provision(urls: dict[str, str], tenants: int, concurrency: int, serial: int) -> dict[str, Any]:
    """Provisioning on both databases, alternating blocks of :data:`BLOCK` tenants so that both
    see the same machine load; then ``serial`` more on each one at a time (the latency of one
    tenant at the full size, no provisioning of our own beside it); then the no-op migrate."""
    from localgov.kernel.db import create_engine
    from localgov.platform.bulk import provision_from_registry
    from localgov.platform.migrate import migrate_tenants
    from localgov.settings import Settings

    engines = {
        name: create_engine(Settings(database_url=url, env="test"), pool_size=concurrency + 1, max_overflow=0)
        for name, url in urls.items()
    }
    times: dict[str, list[float]] = {name: [] for name in urls}
    alone: dict[str, list[float]] = {name: [] for name in urls}
    walls: dict[str, float] = dict.fromkeys(urls, 0.0)
    out: dict[str, Any] = {name: {} for name in urls}
    load = [os.getloadavg()[0]]
    try:
        for into, total, block, conc in ((times, tenants, BLOCK, concurrency), (alone, serial, BLOCK // 5, 1)):
            for start in range(0, total, block):
                for name in urls if start // block % 2 == 0 else list(urls)[::-1]:
                    report = await provision_from_registry(
                        engines[name], limit=min(block, total - start), concurrency=conc
                    )
                    if report.failed:
                        raise SystemExit(f"{name}: provisioning failed: {report.failed[:3]}")
                    into[name] += report.per_tenant
                    if into is times:
                        walls[name] += report.seconds
                load.append(os.getloadavg()[0])
        for name, url in urls.items():
            migrated = await migrate_tenants(engines[name], url, processes=1)
            if migrated.behind:
                raise SystemExit(f"{name}: no-op migrate found {len(migrated.behind)} schemas behind")
            values = times[name]
            quarter = max(1, len(values) // 4)
            out[name] = {
                "provisioned": len(values),
                "provision_median_ms": _ms(_quantile(values, 0.5)),
                "provision_p95_ms": _ms(_quantile(values, 0.95)),
                "provision_wall_s": round(walls[name], 2),
                "tenants_per_s": round(len(values) / walls[name], 2) if walls[name] else 0.0,
                # Medians of the first, second, third and last quarter of the tenants provisioned:
                # how the cost moves with the number of tenants already there.
                "provision_quarter_median_ms": [
                    _ms(statistics.median(values[i : i + quarter])) for i in range(0, quarter * 4, quarter)
                ],
                "serial_provisioned": len(alone[name]),
                "serial_median_ms": _ms(_quantile(alone[name], 0.5)),
                "serial_p95_ms": _ms(_quantile(alone[name], 0.95)),
                "noop_migrate_s": round(migrated.seconds, 3),
                "noop_migrate_tenants": migrated.total,
            }
    finally:
        for engine in engines.values():
            await engine.dispose()
    out["load_average"] = {"min": min(load), "max": max(load), "median": round(statistics.median(load), 2)}
    return out


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
        out: dict[str, Any] = {
            "tenants": args.tenants,
            "requests": args.requests,
            "concurrency": args.concurrency,
            "serial": args.serial,
        }
        made = {name: await _setup(url) for name, url in urls.items()}
        out |= await _provision(urls, args.tenants, args.concurrency, args.serial)
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
    parser.add_argument("--serial", type=int, default=20)
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
            f"{name:<6} provisioning {r['provisioned']} tenants ({out['concurrency']} at once):"
            f" median {r['provision_median_ms']} ms, p95 {r['provision_p95_ms']} ms,"
            f" {r['tenants_per_s']} tenants/s; medians by quarter {r['provision_quarter_median_ms']} ms"
        )
        print(
            f"{name:<6} then {r['serial_provisioned']} one at a time: median {r['serial_median_ms']} ms,"
            f" p95 {r['serial_p95_ms']} ms; no-op migrate of {r['noop_migrate_tenants']}: {r['noop_migrate_s']} s"
        )
    print(f"load   1-min load average during provisioning: {out['load_average']}")
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
