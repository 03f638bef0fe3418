"""The request path in one process: CPU per request of getBill and ``GET /v1/tenant``, and where
it goes (issue 11).

    PYTHONPATH=src .venv/bin/python bench/request_profile.py [--requests 3000] [--in-flight 8]
                                                          [--profile] [--database-url URL]

One run creates a database, provisions one LAO with payments, a payer and a bill, and builds the
real application (``create_app``, production-like settings: WARNING logs, the default pool). Then
it calls the application **as an ASGI callable** in this process (no socket, no HTTP parser, no
client library: what is measured is the application's own work and its database round trips),
``--in-flight`` requests at a time, ``--requests`` of each route after a warm-up:

* ``GET /v1/payments/bills/{id}`` with a staff bearer token (``payments.finance``): getBill;
* ``GET /v1/tenant`` (public): the tenant route with no token and one read;
* ``GET /health/live``: the framework alone.

It reports the process's CPU per request (``time.process_time``; the database server's CPU is not
in it) and the wall time per request, and checks every answer is 200. With ``--profile`` it runs
getBill once more under ``cProfile`` and prints the functions with the most own time. A benchmark,
not a test.

With ``--tenants N`` (N > 1) it sets up what ``bench/peers.py`` sets up instead (N LAOs with
payments, 50 bills each, a staff token each) and compares the application's own CPU per request
on one tenant and spread over N, in the same process, two rounds (1, N, 1, N): where the server's
share of issue 11's spread goes. getBill picks a random bill of the 50 (and a random tenant) per
request, as ``bearer_tenants.lua`` does. With ``--profile`` it profiles getBill and ``GET /v1/tenant``
at 1 and at N and prints, for each, the functions whose own time per request grew the most.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import datetime as dt
import gc
import io
import os
import pstats
import random
import sys
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import core  # noqa: E402
from loadgen import _machine_busy_cpu_s  # noqa: E402

#: The installation key's seal; set LOCALGOV_BENCH_SECRET_KEY to use a database kept by an earlier run.
SECRET = os.environ.get("LOCALGOV_BENCH_SECRET_KEY") or uuid.uuid4().hex + uuid.uuid4().hex


async def prepare(url: str) -> dict[str, Any]:
    from localgov.kernel.auth.keys import KeyStore, ensure_key
    from localgov.kernel.auth.tokens import Audience, issue_access_token
    from localgov.kernel.db import create_engine, session_factory, tenant_session
    from localgov.platform.bulk import provision_from_registry
    from localgov.platform.catalog import Catalog
    from localgov.services.payments.api import BillLine, create_bill
    from localgov.services.payments.models import Payer, PaymentSettings
    from localgov.settings import Settings

    engine = create_engine(Settings(database_url=url, env="test", log_level="WARNING"))
    try:
        await ensure_key(engine, SECRET)
        await provision_from_registry(engine, limit=1, concurrency=1, services=["payments"])
        catalog = Catalog(core.BASE_DOMAIN)
        await catalog.load(engine)
        tenant = catalog.all()[0]
        async with tenant_session(session_factory(engine), tenant) as session:
            session.add(PaymentSettings(id=1, biller_id="099400016650001", merchant_name="BENCH LAO"))
            payer = Payer(kind="person", name="นางทดสอบ วัดเวลา")
            session.add(payer)
            await session.flush()
            bill = await create_bill(
                session,
                payer_id=payer.id,
                lines=[
                    BillLine(fee_code="garbage", description_th="ค่าขยะ", amount=Decimal("40.00"), period="2026-11"),
                    BillLine(fee_code="wastewater", description_th="ค่าบำบัดน้ำเสีย", amount=Decimal("12.50")),
                ],
                due_date=dt.date(2027, 1, 31),
                source="bench",
                source_key="profile-1",
            )
        keys = KeyStore(SECRET)
        await keys.load(engine)
        token = issue_access_token(
            keys,
            Audience.tenant(tenant.slug, tenant.dla_code, core.BASE_DOMAIN),
            kind="staff",
            subject=str(uuid.uuid4()),
            client_id="profile-bench",
            roles=frozenset({"payments.finance"}),
            ttl_s=3600,
            now=dt.datetime.now(dt.UTC),
        )
    finally:
        await engine.dispose()
    return {"host": f"{tenant.slug}.{core.BASE_DOMAIN}", "bill": str(bill.id), "token": token}


def scope(host: str, path: str, token: str | None) -> dict[str, Any]:
    headers = [(b"host", host.encode()), (b"accept", b"application/json")]
    if token:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    return {
        "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
        "method": "GET", "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "headers": headers, "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 8000),
    }  # fmt: skip


async def call(app: Any, request: dict[str, Any]) -> int:
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(dict(request), receive, send)
    return status


async def drive(
    app: Any, request: dict[str, Any] | Callable[[], dict[str, Any]], count: int, in_flight: int
) -> dict[str, float]:
    """``count`` calls, ``in_flight`` at a time, of one request or of what ``request()`` makes per call."""
    statuses: list[int] = []
    make = request if callable(request) else (lambda: request)

    async def worker(n: int) -> None:
        for _ in range(n):
            statuses.append(await call(app, make()))

    collecting: list[float] = []  # the garbage collector's time, from its callbacks
    started: list[float] = []

    def on_gc(phase: str, _info: dict[str, int]) -> None:
        if phase == "start":
            started.append(time.perf_counter())
        elif started:
            collecting.append(time.perf_counter() - started.pop())

    gc.callbacks.append(on_gc)
    cpu0, wall0, machine0 = time.process_time(), time.perf_counter(), _machine_busy_cpu_s()
    try:
        await asyncio.gather(*(worker(count // in_flight) for _ in range(in_flight)))
    finally:
        gc.callbacks.remove(on_gc)
    cpu, wall, machine1 = time.process_time() - cpu0, time.perf_counter() - wall0, _machine_busy_cpu_s()
    bad = [s for s in statuses if s != 200]
    if bad:
        raise core.BenchError(f"{len(bad)} answers were not 200 (first: {bad[0]})")
    done = len(statuses)
    # The rest of the machine's CPU in the meantime: the database server's, on a quiet machine.
    other = None if machine0 is None or machine1 is None else max(0.0, machine1 - machine0 - cpu) / done * 1000
    return {
        "requests": done,
        "cpu_ms_per_request": cpu / done * 1000,
        "wall_ms_per_request": wall / done * 1000,
        "other_cpu_ms_per_request": other,
        "gc_ms_per_request": sum(collecting) / done * 1000,
        "gc_collections": len(collecting),
    }


async def measure(url: str, count: int, in_flight: int, profile: bool) -> dict[str, Any]:
    from localgov.app import create_app
    from localgov.kernel.observability import tune_gc_for_serving
    from localgov.settings import Settings

    ctx = await prepare(url)
    settings = Settings(
        database_url=url, env="production", log_level="WARNING", base_domain=core.BASE_DOMAIN, secret_key=SECRET
    )
    app = create_app(settings, listen_for_catalog_changes=False)
    tune_gc_for_serving()  # as the server does once its application is built
    routes = {
        "getBill": scope(ctx["host"], f"/v1/payments/bills/{ctx['bill']}", ctx["token"]),
        "GET /v1/tenant": scope(ctx["host"], "/v1/tenant", None),
        "GET /health/live": scope(ctx["host"], "/health/live", None),
    }
    out: dict[str, Any] = {}
    async with app.lifespan():
        for name, request in routes.items():
            await drive(app, request, max(in_flight, count // 5), in_flight)  # warm-up
            out[name] = await drive(app, request, count, in_flight)
        if profile:
            profiler = cProfile.Profile()
            profiler.enable()
            await drive(app, routes["getBill"], count, in_flight)
            profiler.disable()
            text = io.StringIO()
            pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(30)
            out["profile"] = text.getvalue()
    return out


def own_time_per_call(profiler: cProfile.Profile, requests: int) -> dict[str, float]:
    """Each function's own time per request (µs), keyed by ``file:line(name)``."""
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    return {
        f"{Path(file).name}:{line}({name})": tottime / requests * 1e6
        for (file, line, name), (_cc, _nc, tottime, _ct, _callers) in stats.items()
    }


def growth_table(one: dict[str, float], many: dict[str, float], rows: int = 25) -> str:
    """The functions whose own time per request grew most from one tenant to many."""
    growth = sorted(((many.get(k, 0.0) - one.get(k, 0.0), k) for k in one.keys() | many.keys()), reverse=True)
    lines = [f"  {'µs/request at 1':>16} {'at N':>8} {'growth':>8}  function"]
    lines += [f"  {one.get(k, 0.0):16.2f} {many.get(k, 0.0):8.2f} {d:+8.2f}  {k}" for d, k in growth[:rows]]
    lines.append(f"  {sum(one.values()):16.2f} {sum(many.values()):8.2f}"
                 f" {sum(many.values()) - sum(one.values()):+8.2f}  all functions (profiled)")  # fmt: skip
    return "\n".join(lines)


async def prepare_many(url: str, tenants: int, seed: int, reused: bool) -> dict[str, Any]:
    """``bench/peers.py``'s set-up: N tenants with payments, 50 bills each, a staff token each (only
    the tokens in a database an earlier run kept: ``reused``)."""
    import peers

    from localgov.kernel.auth.keys import ensure_key
    from localgov.kernel.db import create_engine
    from localgov.settings import Settings

    if not reused:
        engine = create_engine(Settings(database_url=url, env="test", log_level="WARNING"))
        try:
            await ensure_key(engine, SECRET)
        finally:
            await engine.dispose()
    codes = core.pick_codes(tenants, seed)
    if not reused:
        core.log(f"provisioning {tenants} tenants with payments")
        provisioned = await peers.provision(url, codes)
        core.log(f"  {provisioned['seconds']:.0f} s; seeding 50 bills in each")
        await peers.seed_bills(url, codes)
    tokens = await peers.mint_tokens(url, codes, ttl_s=24 * 3600, secret=SECRET)
    return {"hosts": [f"{peers.slug(i)}.{peers.BASE}" for i in range(tenants)], "tokens": tokens}


async def compare_spread(
    url: str, tenants: int, count: int, in_flight: int, profile: bool, seed: int, reused: bool = False
) -> dict[str, Any]:
    """The application's CPU per request at one tenant and spread over ``tenants``, two rounds."""
    import peers

    from localgov.app import create_app
    from localgov.kernel.observability import tune_gc_for_serving
    from localgov.settings import Settings

    ctx = await prepare_many(url, tenants, seed, reused)
    hosts, tokens = ctx["hosts"], ctx["tokens"]
    rng = random.Random(seed)

    def bill(i: int) -> dict[str, Any]:
        path = "/v1/payments/bills/" + peers.BILL_ID.format(rng.randint(1, peers.BILLS))
        return scope(hosts[i], path, tokens[i])

    makers: dict[str, Callable[[], dict[str, Any]]] = {
        "getBill, 1 tenant": lambda: bill(0),
        f"getBill, {tenants} tenants": lambda: bill(rng.randrange(tenants)),
        "GET /v1/tenant, 1 tenant": lambda: scope(hosts[0], "/v1/tenant", None),
        f"GET /v1/tenant, {tenants} tenants": lambda: scope(hosts[rng.randrange(tenants)], "/v1/tenant", None),
    }
    settings = Settings(
        database_url=url, env="production", log_level="WARNING", base_domain=peers.BASE, secret_key=SECRET
    )
    app = create_app(settings, listen_for_catalog_changes=False)
    tune_gc_for_serving()  # as the server does once its application is built
    out: dict[str, Any] = {name: [] for name in makers}
    async with app.lifespan():
        # Every tenant met on its connections before anything is measured (as wrk's warm-up does).
        await drive(app, makers[f"getBill, {tenants} tenants"], max(count, 10 * tenants), in_flight)
        for _round in range(2):
            for name, make in makers.items():
                await drive(app, make, max(in_flight, count // 5), in_flight)
                out[name].append(await drive(app, make, count, in_flight))
        if profile:
            sections = []
            for route in ("getBill", "GET /v1/tenant"):
                per_request: dict[str, dict[str, float]] = {}
                for name in (f"{route}, 1 tenant", f"{route}, {tenants} tenants"):
                    profiler = cProfile.Profile()
                    profiler.enable()
                    await drive(app, makers[name], count, in_flight)
                    profiler.disable()
                    per_request[name] = own_time_per_call(profiler, count)
                sections.append(f"{route}:\n{growth_table(*per_request.values())}")
            out["profile"] = "\n\n".join(sections)
    return out


def main(argv: list[str] | None = None) -> int:
    from localgov.metadata import INSTALLATION
    from localgov.platform.installation import install

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=3000, help="requests per route (default 3000)")
    parser.add_argument("--in-flight", type=int, default=8, help="requests at a time (default 8)")
    parser.add_argument("--profile", action="store_true", help="print cProfile's top functions for getBill")
    parser.add_argument("--database-url", default=None, help=f"admin URL of the server (env {core.ENV_VAR})")
    parser.add_argument("--tenants", type=int, default=1, help="compare 1 tenant with N (default 1: no comparison)")
    parser.add_argument("--seed", type=int, default=7, help="registry sample and request order (default 7)")
    parser.add_argument("--keep-database", action="store_true", help="keep the database (--tenants N): print its URL")
    parser.add_argument(
        "--reuse-database",
        default=None,
        metavar="URL",
        help="measure on a database --keep-database kept (same --tenants and --seed, LOCALGOV_BENCH_SECRET_KEY)",
    )
    args = parser.parse_args(argv)
    if args.requests < 10 or not 1 <= args.in_flight <= 64 or not 1 <= args.tenants <= 7849:
        parser.error("--requests ≥ 10, --in-flight 1..64, --tenants 1..7849")
    if (args.keep_database or args.reuse_database) and args.tenants == 1:
        parser.error("--keep-database and --reuse-database go with --tenants N")
    if (args.keep_database or args.reuse_database) and not os.environ.get("LOCALGOV_BENCH_SECRET_KEY"):
        parser.error("--keep-database and --reuse-database need LOCALGOV_BENCH_SECRET_KEY (the key's seal)")
    install(INSTALLATION)
    keep: dict[str, Any] = {}
    reused = args.reuse_database is not None
    if reused:
        admin, url = "", args.reuse_database
    else:
        admin, source = core.choose_server(args.database_url, keep)
        url = asyncio.run(core.create_database(admin))
        core.log(f"database {url.rsplit('/', 1)[-1]} on {source} server")
    try:
        if not reused:
            asyncio.run(core.migrate_shared(url))
        if args.tenants > 1:
            out = asyncio.run(
                compare_spread(url, args.tenants, args.requests, args.in_flight, args.profile, args.seed, reused)
            )
        else:
            out = asyncio.run(measure(url, args.requests, args.in_flight, args.profile))
    except core.BenchError as exc:
        print(f"\nBENCHMARK FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        if args.keep_database:
            core.log(f"kept: --reuse-database {url}")
        elif not reused:
            asyncio.run(core.drop_database(admin, url))
    print(f"in-process, {args.in_flight} in flight, code {core.code_under_test()}:")
    if args.tenants > 1:
        for name, rounds in out.items():
            if name != "profile":
                cpu = "; ".join(f"{r['cpu_ms_per_request']:.3f}" for r in rounds)
                other = "; ".join(f"{r['other_cpu_ms_per_request'] or float('nan'):.3f}" for r in rounds)
                wall = "; ".join(f"{r['wall_ms_per_request']:.3f}" for r in rounds)
                collector = "; ".join(f"{r['gc_ms_per_request']:.3f}" for r in rounds)
                print(
                    f"  {name:28} {cpu} ms CPU (garbage collector {collector}), rest of the machine {other},"
                    f" {wall} ms wall (rounds 1; 2)"
                )
        if "profile" in out:
            print(f"\nown time per request, profiled (cProfile adds its own overhead):\n{out['profile']}")
        return 0
    for name in ("getBill", "GET /v1/tenant", "GET /health/live"):
        figures = out[name]
        print(
            f"  {name:18} {figures['cpu_ms_per_request']:.3f} ms CPU per request,"
            f" {figures['wall_ms_per_request']:.3f} ms wall ({figures['requests']} requests)"
        )
    if "profile" in out:
        print(out["profile"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
