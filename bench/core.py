"""Benchmark of the platform core: tenant provisioning, no-op ``localgov migrate``, host routing.

    .venv/bin/python bench/core.py [--tenants 2000] [--requests N] [--concurrency C] [--database-url URL]

One run creates a database of its own, migrates the shared schema, provisions ``--tenants``
LAOs from the DLA registry (one transaction each, through ``create_tenant``), times the real
``localgov migrate`` / ``migrate --check`` CLI with every schema already at head, starts the real
``localgov serve`` and drives ``GET /v1/tenant`` from a separate load-generator process (all
requests to one tenant, then spread uniformly over all of them), prints a table, writes
``bench/results/core-<timestamp>.json`` and drops its database, also on error or Ctrl-C.
See bench/README.md for what each figure means and the targets.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import ipaddress
import json
import os
import platform
import random
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy.engine import make_url

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
LOADGEN = BENCH / "loadgen.py"
ENV_VAR = "LOCALGOV_BENCH_DATABASE_URL"
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
BASE_DOMAIN = "localhost"

TARGET_PROVISION_DB_MS = 100.0
TARGET_MIGRATE_S = 5.0
TARGET_RATIO = 0.8


class BenchError(RuntimeError):
    """A correctness failure: the figures of this run must not be trusted."""


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (the same definition as bench/loadgen.py)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def summary_ms(seconds: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in seconds]
    return {
        "p50": percentile(ms, 50),
        "p95": percentile(ms, 95),
        "max": max(ms),
        "mean": statistics.fmean(ms),
    }


# --- the database server and the run's own database ----------------------------------------------


def _is_loopback(url: str) -> bool:
    parsed = make_url(url)
    host = parsed.host or ""
    if not host:  # a Unix socket (``?host=/path``) or libpq's default socket
        socket_dir = parsed.query.get("host", "")
        return not socket_dir or str(socket_dir).startswith("/")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def _reachable(url: str) -> str | None:
    """None when a connection succeeds, else the reason."""
    try:
        conn = await asyncpg.connect(url, timeout=5)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        return f"{type(exc).__name__}: {exc}"
    await conn.close()
    return None


def choose_server(explicit: str | None, keep: dict[str, Any]) -> tuple[str, str]:
    """The admin URL to create the run's database from, and where it came from.

    An URL given on the command line or in the environment must be reachable (the figures
    would otherwise silently come from another server); without one, the default local server
    is tried and then an embedded pgserver started in a temporary folder.
    """
    given = explicit or os.environ.get(ENV_VAR)
    if given:
        if not _is_loopback(given):
            raise SystemExit(f"refusing a non-loopback database server: {make_url(given).host}")
        problem = asyncio.run(_reachable(given))
        if problem:
            raise SystemExit(f"cannot connect to the database server given: {problem}")
        return given, "given"
    if asyncio.run(_reachable(DEFAULT_URL)) is None:
        return DEFAULT_URL, "default"
    log("no PostgreSQL at the default URL; starting an embedded pgserver")
    import pgserver

    folder = Path(tempfile.mkdtemp(prefix="localgov-bench-pg-"))
    keep["embedded"] = pgserver.get_server(str(folder), cleanup_mode="delete")
    uri: str = keep["embedded"].get_uri()
    return uri.replace("postgresql://postgres:@", "postgresql://postgres@"), "embedded"


async def create_database(admin: str) -> str:
    name = f"localgov_bench_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(admin)
    try:
        # The name is generated above, never input.
        await conn.execute(
            f"CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8'"
        )
    finally:
        await conn.close()
    return make_url(admin).set(database=name).render_as_string(hide_password=False)


async def drop_database(admin: str, url: str) -> None:
    name = make_url(url).database
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def _parent_pid(pid: int) -> int:
    with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def postmaster_pid(url: str) -> int | None:
    """The pid of the PostgreSQL postmaster when it runs on this machine (the parent of a backend)."""

    async def parent_of_backend() -> int:
        conn = await asyncpg.connect(url)
        try:  # read while the backend is alive
            return _parent_pid(int(await conn.fetchval("SELECT pg_backend_pid()")))
        finally:
            await conn.close()

    with contextlib.suppress(OSError, ValueError, IndexError):
        parent = asyncio.run(parent_of_backend())
        with open(f"/proc/{parent}/comm", encoding="ascii", errors="replace") as f:
            if f.read().strip() in ("postgres", "postmaster"):
                return parent
    return None


async def server_facts(url: str) -> dict[str, Any]:
    conn = await asyncpg.connect(url)
    try:
        facts: dict[str, Any] = {"version": await conn.fetchval("SHOW server_version")}
        for name in ("max_connections", "shared_buffers", "max_locks_per_transaction", "synchronous_commit"):
            facts[name] = await conn.fetchval(f"SHOW {name}")
        return facts
    finally:
        await conn.close()


async def database_stats(url: str) -> dict[str, float]:
    """Cumulative server-side counters of the run's database (pg_stat_database, PostgreSQL 14+).

    A backend flushes its counters when it exits; callers close their own connections first
    and this waits until no other backend of the database is left.
    """
    conn = await asyncpg.connect(url)
    try:
        for _ in range(50):
            others = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            if not others:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.3)
        await conn.execute("SELECT pg_stat_clear_snapshot()")
        row = await conn.fetchrow(
            "SELECT active_time, idle_in_transaction_time, xact_commit, sessions"
            " FROM pg_stat_database WHERE datname = current_database()"
        )
        return {k: float(row[k] or 0) for k in row.keys()}  # noqa: SIM118 (asyncpg Record)
    except asyncpg.UndefinedColumnError:
        return {}
    finally:
        await conn.close()


# --- 1 + 2: shared schema and provisioning ----------------------------------------------------------


async def migrate_shared(url: str) -> float:
    from localgov.kernel.db import create_engine
    from localgov.platform.migrate import upgrade_shared
    from localgov.settings import Settings

    engine = create_engine(Settings(database_url=url, env="test", log_level="WARNING"))
    started = time.perf_counter()
    try:
        await upgrade_shared(engine)
    finally:
        await engine.dispose()
    return time.perf_counter() - started


def pick_codes(count: int, seed: int) -> list[str]:
    from localgov.platform.registry import registry

    codes = sorted(registry())
    if count > len(codes):
        raise SystemExit(f"--tenants {count}: the DLA registry has only {len(codes)} LAOs")
    return sorted(random.Random(seed).sample(codes, count))


def slug_of(code: str) -> str:
    return f"lao{code}"


async def provision(url: str, codes: list[str]) -> dict[str, Any]:
    """Provision every tenant in its own transaction and time each one."""
    import localgov.platform.tenants as tenants_module
    from localgov.kernel.db import create_engine
    from localgov.platform.provisioning import ProfileSeed
    from localgov.platform.tenants import TenantSpec, create_tenant
    from localgov.settings import Settings

    # create_tenant discards provision_schema's return value (the seconds it spent);
    # a pass-through wrapper records it. Nothing else changes.
    original = tenants_module.provision_schema
    schema_seconds: list[float] = []

    async def recording_provision_schema(*args: Any, **kwargs: Any) -> float:
        seconds: float = await original(*args, **kwargs)
        schema_seconds.append(seconds)
        return seconds

    before = await database_stats(url)
    engine = create_engine(Settings(database_url=url, env="test", log_level="WARNING"))
    wall: list[float] = []
    db: list[float] = []
    tenants_module.provision_schema = recording_provision_schema  # type: ignore[assignment]
    started = time.perf_counter()
    try:
        for n, code in enumerate(codes, 1):
            spec = TenantSpec(
                dla_code=code,
                slug=slug_of(code),
                name_en=f"Benchmark LAO {code}",
                contact=ProfileSeed(phone=f"0-{code}", email=f"saraban@{code}.example"),
            )
            cpu0 = time.process_time()
            t0 = time.perf_counter()
            async with engine.begin() as conn:
                await create_tenant(conn, spec, source="signup")
            t1 = time.perf_counter()
            cpu1 = time.process_time()
            wall.append(t1 - t0)
            # This process is single-threaded and does nothing else meanwhile: whatever part of
            # the wall time it did not spend on its own CPU, it spent waiting for PostgreSQL.
            db.append(max(0.0, (t1 - t0) - (cpu1 - cpu0)))
            if n % 500 == 0 or n == len(codes):
                log(f"  provisioned {n}/{len(codes)} (median so far {statistics.median(wall) * 1000:.1f} ms)")
        total = time.perf_counter() - started
    finally:
        tenants_module.provision_schema = original  # type: ignore[assignment]
        await engine.dispose()
    after = await database_stats(url)

    decile = max(1, len(codes) // 10)
    out: dict[str, Any] = {
        "tenants": len(codes),
        "total_s": total,
        "tenants_per_s": len(codes) / total,
        "wall_ms": summary_ms(wall),
        "db_wait_ms": summary_ms(db),
        "client_cpu_ms": summary_ms([w - d for w, d in zip(wall, db, strict=True)]),
        "provision_schema_ms": summary_ms(schema_seconds),
        "drift": {
            "first_decile_wall_p50_ms": percentile(wall[:decile], 50) * 1000,
            "last_decile_wall_p50_ms": percentile(wall[-decile:], 50) * 1000,
            "first_decile_db_p50_ms": percentile(db[:decile], 50) * 1000,
            "last_decile_db_p50_ms": percentile(db[-decile:], 50) * 1000,
        },
    }
    if before and after:
        out["server_side_mean_ms"] = {
            "active": (after["active_time"] - before["active_time"]) / len(codes),
            "idle_in_transaction": (after["idle_in_transaction_time"] - before["idle_in_transaction_time"])
            / len(codes),
            "commits_per_tenant": (after["xact_commit"] - before["xact_commit"]) / len(codes),
        }
    return out


async def catalog_facts(url: str) -> dict[str, Any]:
    conn = await asyncpg.connect(url)
    try:
        return {
            "routable_tenants": await conn.fetchval(
                "SELECT count(*) FROM platform.tenants WHERE schema_revision IS NOT NULL"
            ),
            "tenant_schemas": await conn.fetchval("SELECT count(*) FROM pg_namespace WHERE nspname ~ '^lao_[0-9]{7}$'"),
            "database_mb": await conn.fetchval("SELECT pg_database_size(current_database())") / 2**20,
            "relations": await conn.fetchval("SELECT count(*) FROM pg_class"),
        }
    finally:
        await conn.close()


# --- 3: the migrate CLI -------------------------------------------------------------------------------


def stop_process(proc: subprocess.Popen[bytes], *, grace_s: float = 15) -> None:
    """SIGTERM a child we started, then SIGKILL it if it has not stopped within ``grace_s``."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=15)


def localgov_command() -> list[str]:
    exe = shutil.which("localgov", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "localgov"]


#: A throw-away key for the run's production-mode processes (where the settings require one).
_RUN_SECRET = secrets.token_hex(32)


def cli_env(url: str, **extra: str) -> dict[str, str]:
    """The environment of a ``localgov`` subprocess: ours, minus every other LOCALGOV_* variable.

    (Settings.from_env rejects unknown LOCALGOV_* names, LOCALGOV_BENCH_DATABASE_URL included.)
    """
    from localgov.settings import Settings

    env = {k: v for k, v in os.environ.items() if not k.startswith("LOCALGOV_")}
    env.update(LOCALGOV_DATABASE_URL=url, LOCALGOV_LOG_LEVEL="WARNING", **extra)
    if env.get("LOCALGOV_ENV") == "production" and "secret_key" in Settings.__struct_fields__:
        env["LOCALGOV_SECRET_KEY"] = _RUN_SECRET
    return env


_SECONDS_RE = re.compile(r"\(([0-9.]+) s\)")


def time_cli(args: list[str], url: str, expect: re.Pattern[str]) -> dict[str, Any]:
    started = time.perf_counter()
    proc = subprocess.run(
        [*localgov_command(), *args],
        env=cli_env(url, LOCALGOV_ENV="production"),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    wall = time.perf_counter() - started
    output = (proc.stdout + proc.stderr).strip()
    if proc.returncode != 0 or not expect.search(proc.stdout):
        raise BenchError(f"`localgov {' '.join(args)}` exited {proc.returncode}:\n{output[-2000:]}")
    internal = _SECONDS_RE.search(proc.stdout)
    return {
        "wall_s": wall,
        "reported_s": float(internal.group(1)) if internal else None,
        "output": proc.stdout.strip().splitlines()[-1],
    }


def time_migrate(url: str, tenants: int, runs: int) -> dict[str, Any]:
    at_head = re.compile(rf"^{tenants} tenant schemas: 0 upgraded, 0 failed, {tenants} already at head", re.M)
    none_behind = re.compile(rf"^{tenants} tenant schemas, 0 behind head", re.M)
    migrate = [time_cli(["migrate"], url, at_head) for _ in range(runs)]
    check = [time_cli(["migrate", "--check"], url, none_behind) for _ in range(runs)]
    out: dict[str, Any] = {
        "runs": runs,
        "migrate": migrate,
        "check": check,
        "migrate_wall_s_median": statistics.median(r["wall_s"] for r in migrate),
        "check_wall_s_median": statistics.median(r["wall_s"] for r in check),
    }
    if "--verify" in cli_help(["migrate", "--help"], url):
        # Reads every schema's own alembic_version instead of the catalog's mirror. An extra
        # figure: its failure is reported, not fatal to the run.
        try:
            verify = [time_cli(["migrate", "--check", "--verify"], url, none_behind) for _ in range(runs)]
        except BenchError as exc:
            out["check_verify_error"] = str(exc)[-1500:]
            log(f"`localgov migrate --check --verify` failed:\n{exc}")
        else:
            out["check_verify"] = verify
            out["check_verify_wall_s_median"] = statistics.median(r["wall_s"] for r in verify)
    return out


def cli_help(args: list[str], url: str) -> str:
    proc = subprocess.run(
        [*localgov_command(), *args], env=cli_env(url), capture_output=True, text=True, timeout=60, check=False
    )
    return proc.stdout


# --- 4: the server and the load ----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def running_server(url: str, port: int, log_path: Path, settings: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """``localgov serve`` in production mode, stopped (SIGTERM, then SIGKILL) on the way out."""
    extra = {f"LOCALGOV_{name.upper()}": value for name, value in settings.items()}
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(
            [*localgov_command(), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=cli_env(url, LOCALGOV_ENV="production", LOCALGOV_BASE_DOMAIN=BASE_DOMAIN, **extra),
            cwd=ROOT,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        try:
            yield proc
        finally:
            stop_process(proc)


def wait_until_live(proc: subprocess.Popen[bytes], port: int, log_path: Path, timeout_s: float = 60) -> float:
    started = time.perf_counter()
    deadline = started + timeout_s
    while time.perf_counter() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"the server exited with {proc.returncode}:\n{log_path.read_text()[-2000:]}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"http://127.0.0.1:{port}/health/live", timeout=2).status_code == 200:
                return time.perf_counter() - started
        time.sleep(0.1)
    raise BenchError(f"the server did not answer /health/live within {timeout_s:.0f} s")


def check_server(port: int, tenants: int, first_code: str) -> None:
    """Every tenant is in the server's catalog and a tenant host answers with its own profile."""
    base = f"http://127.0.0.1:{port}"
    metrics = httpx.get(f"{base}/metrics", timeout=10).text
    found = re.search(r"^localgov_tenants ([0-9.e+]+)$", metrics, re.M)
    if not found or int(float(found.group(1))) != tenants:
        raise BenchError(f"the server's catalog holds {found.group(1) if found else '?'} tenants, not {tenants}")
    response = httpx.get(f"{base}/v1/tenant", headers={"Host": f"{slug_of(first_code)}.{BASE_DOMAIN}"}, timeout=10)
    if response.status_code != 200 or response.json().get("dla_code") != first_code:
        raise BenchError(f"GET /v1/tenant answered {response.status_code}: {response.text[:500]}")


def run_load(cfg: dict[str, Any]) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, str(LOADGEN)],
        input=json.dumps(cfg),
        capture_output=True,
        text=True,
        timeout=cfg["deadline_s"] * 2 + 60,
        check=False,
    )
    if proc.returncode != 0:
        raise BenchError(f"the load generator failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def routing(url: str, codes: list[str], args: argparse.Namespace, log_path: Path) -> dict[str, Any]:
    port = args.port or free_port()
    hosts = [f"{slug_of(c)}.{BASE_DOMAIN}" for c in codes]
    warmup = args.warmup if args.warmup is not None else max(500, args.requests // 5)
    pg_pid = postmaster_pid(url)
    with running_server(url, port, log_path, args.server_setting) as proc:
        startup = wait_until_live(proc, port, log_path)
        check_server(port, len(codes), codes[0])
        rounds = []
        for r in range(args.rounds):
            phases: dict[str, Any] = {}
            for name, pick in (("single", "first"), ("spread", "uniform")):
                log(f"  round {r + 1}/{args.rounds}, {name}: {warmup} warm-up + {args.requests} requests")
                phases[name] = run_load(
                    {
                        "port": port,
                        "path": "/v1/tenant",
                        "hosts": hosts,
                        "pick": pick,
                        "requests": args.requests,
                        "warmup": warmup,
                        "concurrency": args.concurrency,
                        "seed": args.seed + r,
                        "server_pid": proc.pid,
                        "postgres_pid": pg_pid,
                        "timeout_s": 30,
                        "deadline_s": 300,
                    }
                )
                if proc.poll() is not None:
                    raise BenchError(f"the server died:\n{log_path.read_text()[-2000:]}")
            phases["ratio"] = phases["spread"]["requests_per_s"] / phases["single"]["requests_per_s"]
            phases["perturbed"] = perturbed(phases)
            rounds.append(phases)
    bad = [
        (i + 1, name, p["statuses"], p["errors"][:3])
        for i, rnd in enumerate(rounds)
        for name in ("single", "spread")
        if (p := rnd[name])["non_200"]
        or p["error_count"]
        or p["warmup"]["error_count"]
        or set(p["warmup"]["statuses"]) - {"200"}
    ]
    return {
        "server_startup_s": startup,
        "requests": args.requests,
        "warmup": warmup,
        "concurrency": args.concurrency,
        "server_settings": args.server_setting,
        "rounds": rounds,
        "ratio_median": statistics.median(r["ratio"] for r in rounds),
        "failures": bad,
    }


# --- 5: report ---------------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISS"


def cpu_line(phase: dict[str, Any]) -> str:
    """CPU ms per request: server, PostgreSQL, load generator, everything else on the machine."""
    cpu = phase["cpu_s"]
    n = phase["completed"]

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value / n * 1000:.2f}"

    other = None
    if None not in (cpu["machine"], cpu["server"], cpu["postgres"]):
        other = cpu["machine"] - cpu["server"] - cpu["postgres"] - cpu["loadgen"]
    return f"{ms(cpu['server'])} / {ms(cpu['postgres'])} / {ms(cpu['loadgen'])} / {ms(other)}"


#: Other processes busier than this many cores during a phase make its figures doubtful.
PERTURBED_CORES = 0.2


def other_cores(phase: dict[str, Any]) -> float | None:
    """Cores used during the phase by processes other than the server, PostgreSQL and loadgen."""
    cpu = phase["cpu_s"]
    if None in (cpu["machine"], cpu["server"], cpu["postgres"]):
        return None
    other: float = cpu["machine"] - cpu["server"] - cpu["postgres"] - cpu["loadgen"]
    return other / phase["elapsed_s"]


def busy_line(phase: dict[str, Any]) -> str:
    server = phase["cpu_s"]["server"]
    other = other_cores(phase)
    text = "-" if server is None else f"{server / phase['elapsed_s']:.2f}"
    return text + " / " + ("-" if other is None else f"{other:.2f}")


def perturbed(rnd: dict[str, Any]) -> bool:
    return any((other_cores(rnd[name]) or 0.0) > PERTURBED_CORES for name in ("single", "spread"))


def runs(items: list[dict[str, Any]]) -> str:
    return " ".join(f"{x['wall_s']:.2f}" for x in items)


def render(results: dict[str, Any]) -> str:
    p = results["provisioning"]
    m = results["migrate"]
    r = results["routing"]
    lines = [
        "",
        f"localgov core benchmark — {results['tenants']} tenants, {results['machine']['cpus']} CPUs, "
        f"PostgreSQL {results['postgres']['version']} ({results['database_server']} server), "
        f"code {results['code']}",
        "",
        f"{'figure':<56}{'value':>24}   target",
        "-" * 100,
    ]

    def row(label: str, value: str, target: str = "", ok: bool | None = None) -> None:
        tail = f"   {target:<10}{verdict(ok)}" if ok is not None else ""
        lines.append(f"{label:<56}{value:>24}{tail}")

    def pair(a: float, b: float, digits: int = 1) -> str:
        return f"{a:.{digits}f} / {b:.{digits}f}"

    row("provisioning: wall per tenant, p50 / p95 (ms)", pair(p["wall_ms"]["p50"], p["wall_ms"]["p95"]))
    row(
        "provisioning: db wait per tenant, p50 / p95 (ms)",
        pair(p["db_wait_ms"]["p50"], p["db_wait_ms"]["p95"]),
        "< 100 ms",
        p["db_wait_ms"]["p95"] < TARGET_PROVISION_DB_MS,
    )
    row(
        "provisioning: client CPU per tenant, p50 / p95 (ms)",
        pair(p["client_cpu_ms"]["p50"], p["client_cpu_ms"]["p95"]),
    )
    row(
        "provisioning: provision_schema() value, p50 / p95 (ms)",
        pair(p["provision_schema_ms"]["p50"], p["provision_schema_ms"]["p95"]),
    )
    if "server_side_mean_ms" in p:
        s = p["server_side_mean_ms"]
        row("provisioning: server active / idle in xact, mean (ms)", pair(s["active"], s["idle_in_transaction"]))
    row("provisioning: total (s) / tenants per s", pair(p["total_s"], p["tenants_per_s"]))
    d = p["drift"]
    row(
        "provisioning: wall p50, first / last 10% of tenants (ms)",
        pair(d["first_decile_wall_p50_ms"], d["last_decile_wall_p50_ms"]),
    )
    row(
        f"localgov migrate (no-op): wall (s), median of {m['runs']}",
        f"{m['migrate_wall_s_median']:.2f}",
        "< 5 s",
        m["migrate_wall_s_median"] < TARGET_MIGRATE_S,
    )
    row("  every run (s)", runs(m["migrate"]))
    row(f"localgov migrate --check: wall (s), median of {m['runs']}", f"{m['check_wall_s_median']:.2f}")
    row("  every run (s)", runs(m["check"]))
    if "check_verify" in m:
        row(
            f"localgov migrate --check --verify: wall (s), median of {m['runs']}",
            f"{m['check_verify_wall_s_median']:.2f}",
        )
        row("  every run (s)", runs(m["check_verify"]))
    elif "check_verify_error" in m:
        last = m["check_verify_error"].strip().splitlines()[-1][:40]
        row("localgov migrate --check --verify", f"FAILED ({last})")
    row("server start to /health/live (s)", f"{r['server_startup_s']:.2f}")
    for i, rnd in enumerate(r["rounds"], 1):
        tag = f"round {i}, " if len(r["rounds"]) > 1 else ""
        for name in ("single", "spread"):
            ph = rnd[name]
            lat = ph["latency_ms"]
            row(
                f"routing {tag}{name} ({ph['distinct_hosts']} hosts): req/s; p50 / p99 ms",
                f"{ph['requests_per_s']:.0f}; {pair(lat['p50'], lat['p99'])}",
            )
            row("  CPU ms/req: server / postgres / loadgen / other", cpu_line(ph))
            row("  busy cores: server process / other processes", busy_line(ph))
        row(
            f"routing {tag}ratio spread / single (req/s)", f"{rnd['ratio']:.2f}", ">= 0.8", rnd["ratio"] >= TARGET_RATIO
        )
        if rnd.get("perturbed"):
            lines[-1] += f"  (perturbed: other processes > {PERTURBED_CORES} cores)"
    busy = [results.get("background_before_run"), results.get("background_before_routing")]
    if busy[0] and busy[1]:
        row("other load: busy cores before run / before routing", pair(busy[0]["busy_cores"], busy[1]["busy_cores"], 2))
    row("non-200 responses (and connection errors)", str(results["non_200"]), "0", results["non_200"] == 0)
    lines += [
        "",
        f"{r['requests']} requests per phase after {r['warmup']} warm-up, concurrency {r['concurrency']}; "
        f"whole run {results['run_seconds']:.0f} s",
    ]
    if r.get("server_settings"):
        lines.append("server settings: " + ", ".join(f"{k}={v}" for k, v in r["server_settings"].items()))
    return "\n".join(lines)


def machine_busy_cores(sample_s: float = 2.0) -> dict[str, float] | None:
    """How busy the machine is before we load it: busy CPU cores over a short sample, load average.

    Other processes on a shared machine perturb every figure; this records how much.
    """
    sys.path.insert(0, str(BENCH))
    from loadgen import _machine_busy_cpu_s

    before = _machine_busy_cpu_s()
    time.sleep(sample_s)
    after = _machine_busy_cpu_s()
    if before is None or after is None:
        return None
    return {"busy_cores": (after - before) / sample_s, "loadavg_1m": os.getloadavg()[0]}


def code_under_test() -> str:
    """Which localgov this run measured: this checkout's commit, or the folder it was imported from."""
    import localgov

    package = Path(localgov.__file__).resolve().parent
    if package.is_relative_to(ROOT):
        return git_commit() or "unknown commit"
    return str(package.parent)


def git_commit() -> str | None:
    """The commit measured, with ``+dirty`` when src/ or migrations/ differ from it (editable install)."""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10, check=False
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src", "migrations"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.strip()
        return (head + ("+dirty" if dirty else "")) or None
    return None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenants", type=int, default=2000, help="tenants to provision (default 2000)")
    parser.add_argument("--requests", type=int, default=10_000, help="measured requests per routing phase")
    parser.add_argument("--concurrency", type=int, default=16, help="open connections of the load generator")
    parser.add_argument("--warmup", type=int, default=None, help="warm-up requests per phase (default requests/5)")
    parser.add_argument("--rounds", type=int, default=2, help="single/spread pairs run on the same server")
    parser.add_argument("--migrate-runs", type=int, default=3, help="runs of each migrate command (median)")
    parser.add_argument("--database-url", default=None, help=f"admin URL of the server (env {ENV_VAR})")
    parser.add_argument("--port", type=int, default=0, help="server port (default: a free one)")
    parser.add_argument("--seed", type=int, default=2026, help="seed of the tenant sample and the spread")
    parser.add_argument(
        "--server-setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra LOCALGOV_<NAME> for the server only, e.g. db_max_tenants_per_connection=100000",
    )
    parser.add_argument("--strict", action="store_true", help="exit 3 when a target is missed")
    args = parser.parse_args(argv)
    settings: dict[str, str] = {}
    for item in args.server_setting:
        name, sep, value = item.partition("=")
        if not sep or not re.fullmatch(r"[a-z0-9_]+", name.lower()) or name.lower() in ("env", "database_url"):
            parser.error(f"--server-setting {item!r}: expected name=value (not env or database_url)")
        settings[name.lower()] = value
    args.server_setting = settings
    for name in ("tenants", "requests", "concurrency", "rounds", "migrate_runs"):
        if not 1 <= getattr(args, name) <= 100_000:
            parser.error(f"--{name.replace('_', '-')} must be between 1 and 100000")
    return args


def main(argv: list[str] | None = None) -> int:
    from localgov.metadata import INSTALLATION
    from localgov.platform.installation import install

    install(INSTALLATION)  # a composition root: the platform provisions the core tables and the registry
    args = parse_args(argv)
    run_started = time.perf_counter()
    stamp = dt.datetime.now(dt.UTC)
    keep: dict[str, Any] = {}
    background = machine_busy_cores()
    admin, source = choose_server(args.database_url, keep)
    url = asyncio.run(create_database(admin))
    log(f"database {make_url(url).database} on {source} server")
    server_log = Path(tempfile.mkstemp(prefix="localgov-bench-serve-", suffix=".log")[1])
    try:
        results: dict[str, Any] = {
            "benchmark": "core",
            "timestamp": stamp.isoformat(timespec="seconds"),
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "git_commit": git_commit(),
            "code": code_under_test(),
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "platform": platform.platform(),
            },
            "database_server": source,
            "postgres": asyncio.run(server_facts(url)),
            "tenants": args.tenants,
            "background_before_run": background,
        }
        log("migrating the shared schema")
        results["shared_migration_s"] = asyncio.run(migrate_shared(url))
        codes = pick_codes(args.tenants, args.seed)
        log(f"provisioning {len(codes)} tenants, one transaction each")
        results["provisioning"] = asyncio.run(provision(url, codes))
        results["catalog"] = facts = asyncio.run(catalog_facts(url))
        if facts["routable_tenants"] != len(codes) or facts["tenant_schemas"] != len(codes):
            raise BenchError(f"expected {len(codes)} provisioned tenants, found {facts}")
        log(f"timing `localgov migrate` and `localgov migrate --check` ({args.migrate_runs} runs each)")
        results["migrate"] = time_migrate(url, len(codes), args.migrate_runs)
        results["background_before_routing"] = machine_busy_cores(1.0)
        log("starting `localgov serve` and driving GET /v1/tenant")
        results["routing"] = routing(url, codes, args, server_log)
        results["non_200"] = sum(
            rnd[name]["non_200"] for rnd in results["routing"]["rounds"] for name in ("single", "spread")
        )
        results["run_seconds"] = time.perf_counter() - run_started
        p = results["provisioning"]
        results["targets"] = {
            "provisioning_db_wait_p95_ms_lt_100": p["db_wait_ms"]["p95"] < TARGET_PROVISION_DB_MS,
            "noop_migrate_s_lt_5": results["migrate"]["migrate_wall_s_median"] < TARGET_MIGRATE_S,
            "routing_ratio_ge_0_8": all(r["ratio"] >= TARGET_RATIO for r in results["routing"]["rounds"]),
        }
        RESULTS.mkdir(exist_ok=True)
        out = RESULTS / f"core-{stamp.strftime('%Y%m%dT%H%M%SZ')}.json"
        out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(render(results))
        print(f"\nresults: {out.relative_to(ROOT)}")
        if results["routing"]["failures"]:
            raise BenchError(f"non-200 responses or connection errors: {results['routing']['failures']}")
        if args.strict and not all(results["targets"].values()):
            return 3
        return 0
    except BenchError as exc:
        print(f"\nBENCHMARK FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        log(f"dropping database {make_url(url).database}")
        asyncio.run(drop_database(admin, url))
        server_log.unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
