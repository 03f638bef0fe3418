"""Database faults under a steady stream of writes (issue 18): only 503s during a fault, the time
to recover, readiness, and no acknowledged write lost or duplicated.

    .venv/bin/python bench/faults.py [--writers 8] [--fault-s 2] [--pool-size 4] [--database-url URL | --own-server]

A benchmark, not a test: it prints figures and writes ``bench/results/faults-<timestamp>.json``; it
exits 1 when the data is wrong (a 500, an acknowledged write missing or recorded twice, no recovery
within 5 s), never because a figure is slow. One run creates a database of its own, migrates the
shared schema, provisions one LAO and serves the real application in-process (``httpx`` over ASGI).
``--writers`` clients send ``PATCH /v1/tenant/contact`` as the LAO's administrator in a closed loop
(each a transaction that updates the profile and writes an audit event carrying its request id),
and a prober reads ``/health/ready`` every 100 ms, while these faults are injected one after the
other, each after a second of steady state:

1. **lock**: another connection holds ``ACCESS EXCLUSIVE`` on the LAO's ``audit_events`` and on
   ``platform.outbox`` for ``--fault-s`` seconds (writes wait ``LOCALGOV_DB_LOCK_TIMEOUT_MS``, set to
   500 ms here, then answer 503);
2. **kill**: every backend of the application is terminated (``pg_terminate_backend``) three
   times, 200 ms apart;
3. **pool**: the application's every pooled connection is held by the benchmark for ``--fault-s``
   seconds (``LOCALGOV_DB_POOL_TIMEOUT_S`` 0.5 s).

With ``--own-server`` the benchmark starts a PostgreSQL server of its own (``tests/support/pgcluster.py``:
Debian's PostgreSQL 15 binaries, else pgserver's; ``max_connections`` = pool + 20) instead of using a
shared one, and three more faults follow:

4. **restart**: ``pg_ctl stop -m fast``, the server down for ``--fault-s`` seconds, then started;
5. **crash**: ``pg_ctl stop -m immediate`` (crash recovery from the WAL at the next start), the same;
6. **connections**: every free connection slot taken by the benchmark, the application's backends
   killed until it has none (it reconnects into a full table: SQLSTATE 53300), for ``--fault-s``.

Figures per fault: answers by status during the fault and after it, the time from the end of the
fault (for a restart: the server accepting connections again) to the first 2xx write (recovery),
readiness answers during the fault. At the end every request id answered 2xx must be in
``audit_events`` exactly once. (The bank notifications of issue 18's stream are in the test,
``tests/test_faults_cluster.py``; the benchmark's stream is the profile writes.)
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import core  # noqa: E402  (bench/core.py: database, statistics and environment helpers)

RECOVERY_LIMIT_S = 5.0
PHASES = ("lock", "kill", "pool", "restart", "crash", "connections")


class Stream:
    """The writers' and the prober's answers, stamped, so each phase can be cut out afterwards."""

    def __init__(self) -> None:
        self.writes: list[tuple[float, int, str]] = []  # (time, status, request id)
        self.ready: list[tuple[float, int]] = []
        self.stop = asyncio.Event()


async def writer(client: Any, stream: Stream, n: int) -> None:
    sequence = 0
    while not stream.stop.is_set():
        sequence += 1
        request_id = f"bench-{n}-{sequence}-{uuid.uuid4().hex[:8]}"
        body = {"office_hours_th": f"จันทร์-ศุกร์ {n}.{sequence}"}
        response = await client.patch("/v1/tenant/contact", json=body, headers={"X-Request-Id": request_id})
        stream.writes.append((time.perf_counter(), response.status_code, request_id))
        if response.status_code >= 300:
            await asyncio.sleep(0.05)  # a client honours Retry-After loosely: a short pause


async def prober(client: Any, stream: Stream) -> None:
    while not stream.stop.is_set():
        response = await client.get("/health/ready")
        stream.ready.append((time.perf_counter(), response.status_code))
        await asyncio.sleep(0.1)


def phase(stream: Stream, start: float, end: float) -> dict[str, Any]:
    during = Counter(str(status) for at, status, _ in stream.writes if start <= at < end)
    after = [(at, status) for at, status, _ in stream.writes if at >= end]
    first_ok = next((at for at, status in sorted(after) if status < 300), None)
    ready = Counter(str(status) for at, status in stream.ready if start <= at < end)
    return {
        "seconds": round(end - start, 2),
        "writes_during": dict(sorted(during.items())),
        "recovery_s": round(first_ok - end, 3) if first_ok is not None else None,
        "ready_during": dict(sorted(ready.items())),
    }


async def _kill_backends(url: str) -> int:
    import asyncpg

    conn = await asyncpg.connect(url, server_settings={"application_name": "localgov-bench"})
    try:
        return int(
            await conn.fetchval(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND application_name = 'localgov'"
                " AND backend_type = 'client backend'"
            )
        )
    finally:
        await conn.close()


async def _fill_connections(url: str) -> tuple[list[Any], int]:
    """Every free slot taken; the application's backends killed until it holds none."""
    import asyncpg

    side = await asyncpg.connect(url, server_settings={"application_name": "localgov-bench"})
    held: list[Any] = []
    killed = 0
    deadline = time.perf_counter() + 15
    try:
        while time.perf_counter() < deadline:
            try:
                held.append(await asyncpg.connect(url, server_settings={"application_name": "bench-filler"}))
                continue
            except asyncpg.TooManyConnectionsError:
                pass
            if not await side.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'localgov'"
                " AND backend_type = 'client backend'"
            ):
                return held, killed
            killed += int(
                await side.fetchval(
                    "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE application_name = 'localgov' AND backend_type = 'client backend'"
                )
            )
            await asyncio.sleep(0.01)
        raise core.BenchError("the connection table could not be filled")
    finally:
        await side.close()


async def faults(url: str, writers: int, fault_s: float, pool_size: int, cluster: Any = None) -> dict[str, Any]:
    import httpx
    from sqlalchemy import text

    from localgov.app import create_app
    from localgov.kernel.auth.keys import KeyStore, ensure_key
    from localgov.kernel.auth.tokens import Audience, issue_access_token
    from localgov.kernel.db import VOID_SCHEMA, TenantConnection, create_engine
    from localgov.platform.bulk import provision_from_registry
    from localgov.platform.catalog import Catalog
    from localgov.settings import Settings

    secret = uuid.uuid4().hex + uuid.uuid4().hex
    app_settings = Settings(
        database_url=url, env="test", log_level="ERROR", base_domain=core.BASE_DOMAIN, secret_key=secret,
        db_pool_size=pool_size, db_pool_timeout_s=0.5, db_lock_timeout_ms=500, ready_write_timeout_ms=500,
        login_rate_limit=1_000_000,
    )  # fmt: skip
    # The benchmark's own connections (locks, kills, checks), named apart so that they are not killed.
    side = create_engine(
        app_settings,
        connect_args={
            "connection_class": TenantConnection,
            "server_settings": {"application_name": "localgov-bench", "search_path": VOID_SCHEMA, "timezone": "UTC"},
        },
    )
    engine = create_engine(app_settings, serving=True)
    try:
        await ensure_key(side, secret)
        report = await provision_from_registry(side, limit=1, concurrency=1)
        if report.created != 1:
            raise core.BenchError(f"provisioning: {report.failed[:1]}")
        catalog = Catalog(core.BASE_DOMAIN)
        await catalog.load(side)
        tenant = catalog.all()[0]
        keys = KeyStore(secret)
        await keys.load(side)
        token = issue_access_token(
            keys,
            Audience.tenant(tenant.slug, tenant.dla_code, core.BASE_DOMAIN),
            kind="staff",
            subject=str(uuid.uuid4()),
            client_id="faults-bench",
            roles=frozenset({"tenant_admin"}),
            ttl_s=3600,
        )
        app = create_app(app_settings, plugins=(), engine=engine, listen_for_catalog_changes=False)
        transport = httpx.ASGITransport(app=app)
        base = f"http://{tenant.slug}.{core.BASE_DOMAIN}"
        stream = Stream()
        phases: dict[str, Any] = {}
        async with app.lifespan(), httpx.AsyncClient(transport=transport, base_url=base, timeout=60) as client:
            client.headers["Authorization"] = f"Bearer {token}"
            tasks = [asyncio.create_task(writer(client, stream, n)) for n in range(writers)]
            tasks.append(asyncio.create_task(prober(client, stream)))
            await asyncio.sleep(1.0)

            core.log(f"fault 1: tables locked for {fault_s} s")
            async with side.connect() as locker:
                start = time.perf_counter()
                await locker.execute(text(f'LOCK TABLE "{tenant.schema}".audit_events IN ACCESS EXCLUSIVE MODE'))
                await locker.execute(text("LOCK TABLE platform.outbox IN ACCESS EXCLUSIVE MODE"))
                await asyncio.sleep(fault_s)
                await locker.rollback()
                end = time.perf_counter()
            await asyncio.sleep(1.0)
            phases["lock"] = (start, end)

            core.log("fault 2: the application's backends killed three times")
            start = time.perf_counter()
            killed = 0
            for _ in range(3):
                async with side.connect() as conn:
                    killed += (
                        await conn.execute(
                            text(
                                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
                                " WHERE datname = current_database() AND application_name = 'localgov'"
                                " AND backend_type = 'client backend'"
                            )
                        )
                    ).scalar_one()
                await asyncio.sleep(0.2)
            end = time.perf_counter()
            await asyncio.sleep(1.0)
            phases["kill"] = (start, end)

            core.log(f"fault 3: the pool ({pool_size}) held for {fault_s} s")
            start = time.perf_counter()
            held = [await engine.connect() for _ in range(pool_size)]
            await asyncio.sleep(fault_s)
            for conn in held:
                await conn.close()
            end = time.perf_counter()
            await asyncio.sleep(1.0)
            phases["pool"] = (start, end)

            loop = asyncio.get_running_loop()
            plain_url = url.replace("postgresql+asyncpg://", "postgresql://")
            for name, mode in (("restart", "fast"), ("crash", "immediate")) if cluster is not None else ():
                core.log(f"fault: server stopped ({mode}) for {fault_s} s, then started")
                start = time.perf_counter()
                await loop.run_in_executor(None, cluster.stop, mode)
                await asyncio.sleep(fault_s)
                end = await loop.run_in_executor(None, cluster.start)
                phases[name] = (start, end)
                await side.dispose()  # its pooled connections died with the server
                await asyncio.sleep(1.0)
            if cluster is not None:
                core.log(f"fault: the connection table full for {fault_s} s")
                start = time.perf_counter()
                fillers, filled_kills = await _fill_connections(plain_url)
                await asyncio.sleep(fault_s)
                for conn in fillers:
                    await conn.close()
                end = time.perf_counter()
                phases["connections"] = (start, end)
                await asyncio.sleep(1.0)

            stream.stop.set()
            await asyncio.gather(*tasks)
        acknowledged = [rid for _, status, rid in stream.writes if status < 300]
        async with side.connect() as conn:
            recorded = Counter(
                (
                    await conn.execute(
                        text(
                            f'SELECT request_id FROM "{tenant.schema}".audit_events'  # noqa: S608 (a validated schema)
                            " WHERE action = 'profile.updated' AND request_id = ANY(:ids)"
                        ),
                        {"ids": acknowledged},
                    )
                ).scalars()
            )
        results: dict[str, Any] = {name: phase(stream, s, e) for name, (s, e) in phases.items()}
        results["kill"]["backends_killed"] = killed
        if "connections" in results:
            results["connections"].update(fillers=len(fillers), backends_killed=filled_kills)
        statuses = Counter(str(status) for _, status, _ in stream.writes)
        results["writes"] = {
            "total": len(stream.writes),
            "by_status": dict(sorted(statuses.items())),
            "acknowledged": len(acknowledged),
            "acknowledged_missing": sum(1 for rid in acknowledged if recorded[rid] == 0),
            "acknowledged_twice": sum(1 for rid in acknowledged if recorded[rid] > 1),
        }
        return results
    finally:
        await engine.dispose()
        await side.dispose()


def check(results: dict[str, Any]) -> list[str]:
    problems = []
    writes = results["writes"]
    bad = {s: n for s, n in writes["by_status"].items() if not (s.startswith("2") or s == "503")}
    if bad:
        problems.append(f"answers other than 2xx and 503: {bad}")
    if writes["acknowledged_missing"] or writes["acknowledged_twice"]:
        problems.append(
            f"acknowledged writes missing {writes['acknowledged_missing']}, twice {writes['acknowledged_twice']}"
        )
    for name in PHASES:
        if name not in results:
            continue
        recovery = results[name]["recovery_s"]
        if recovery is None or recovery > RECOVERY_LIMIT_S:
            problems.append(f"{name}: no recovery within {RECOVERY_LIMIT_S} s ({recovery})")
    return problems


def render(results: dict[str, Any]) -> str:
    lines = []
    for name in (n for n in PHASES if n in results):
        p = results[name]
        lines.append(
            f"  {name:11} {p['seconds']:.2f} s: writes {p['writes_during']}, recovery {p['recovery_s']} s,"
            f" ready {p['ready_during']}"
        )
    w = results["writes"]
    lines.append(
        f"  writes {w['total']} {w['by_status']}: acknowledged {w['acknowledged']},"
        f" missing {w['acknowledged_missing']}, twice {w['acknowledged_twice']}"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from localgov.kernel.observability import configure_logging
    from localgov.metadata import INSTALLATION
    from localgov.platform.installation import install

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--fault-s", type=float, default=2.0)
    parser.add_argument("--pool-size", type=int, default=4)
    parser.add_argument("--database-url")
    parser.add_argument(
        "--own-server", action="store_true", help="start a PostgreSQL server of its own and restart, crash and fill it"
    )
    args = parser.parse_args(argv)
    configure_logging("ERROR")
    install(INSTALLATION)
    stamp = dt.datetime.now(dt.UTC)
    keep: dict[str, Any] = {}
    cluster = None
    if args.own_server:
        sys.path.insert(0, str(core.ROOT))
        from tests.support.pgcluster import PgCluster

        cluster = PgCluster(max_connections=args.pool_size + 20)
        cluster.start()
        admin, source = cluster.admin_url, "own (restarted by the benchmark)"
    else:
        admin, source = core.choose_server(args.database_url, keep)
    url = asyncio.run(core.create_database(admin))
    core.log(f"database {url.rsplit('/', 1)[-1]} on {source} server")
    try:
        asyncio.run(core.migrate_shared(url))
        results: dict[str, Any] = {
            "benchmark": "faults",
            "timestamp": stamp.isoformat(timespec="seconds"),
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "git_commit": core.git_commit(),
            "database_server": source,
            "writers": args.writers,
            "fault_s": args.fault_s,
            "pool_size": args.pool_size,
            **asyncio.run(faults(url, args.writers, args.fault_s, args.pool_size, cluster)),
        }
        core.RESULTS.mkdir(exist_ok=True)
        out = core.RESULTS / f"faults-{stamp.strftime('%Y%m%dT%H%M%SZ')}.json"
        out.write_text(json.dumps(results, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
        print(render(results))
        print(f"\nresults: {out.relative_to(core.ROOT)}")
        problems = check(results)
        if problems:
            raise core.BenchError("; ".join(problems))
        return 0
    except core.BenchError as exc:
        print(f"\nBENCHMARK FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        if cluster is not None:
            cluster.destroy()
        else:
            core.log("dropping the database")
            asyncio.run(core.drop_database(admin, url))


if __name__ == "__main__":
    sys.exit(main())
