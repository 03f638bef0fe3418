"""Every LAO of Thailand on one PostgreSQL: the tenancy core at 7,849 tenants (issue 6).

    .venv/bin/python bench/scale.py [--tenants N] [--provision-concurrency C] [--processes P]
                                    [--requests N] [--concurrency C] [--variant NAME=VALUE,...]
                                    [--database-url URL] [--existing-database URL] [--phases LIST]

On a database of its own (created on the server of ``--database-url`` or
``LOCALGOV_BENCH_DATABASE_URL``, default ``postgresql://postgres@127.0.0.1:5432/postgres``, loopback
only, and dropped at the end, also on error or Ctrl-C) one run:

1. ``provision``: ``localgov tenants provision --from-registry`` as operators run it (a subprocess):
   total time, per-tenant median and p95, throughput per 500 tenants;
2. ``facts``: relations per tenant schema (``pg_class``: tables, indexes, sequences, and the TOAST
   tables with their indexes) and database size per empty tenant;
3. ``migrate``: ``localgov migrate``, ``migrate --check`` and ``migrate --check --verify`` with every
   schema at head (wall time of the command, median of ``--migrate-runs``);
4. ``throwaway``: a throw-away tenant revision (a nullable column and an index on ``profile``) in a
   temporary copy of ``migrations/tenant``, applied to every schema by the real runner
   (``bench/scale_migrate.py``) and rolled back: wall time and per-schema p95 of each;
5. ``load``: the real ``localgov serve`` (production mode, ``--workers``) driven by
   ``bench/scale_load.py`` in a process of its own: ``GET /v1/tenant`` and an authenticated
   ``GET /v1/me`` (a staff member with a token per tenant), each all on one tenant and then spread
   uniformly over every tenant: requests/s, p50/p99, the ratio; then again for each ``--variant``
   (by default: connections recycled after 1000 tenants instead of 200; two server processes).

A sampler reads the private memory of every PostgreSQL backend of the run's database twice a second
(``/proc/<pid>/smaps_rollup``) through all phases and reports the largest, per phase. Figures go
to stdout as a table and to ``bench/results/scale-<timestamp>.json``. See bench/README.md, "Scale".
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
import re
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
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
ENV_VAR = "LOCALGOV_BENCH_DATABASE_URL"
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
BASE_DOMAIN = "localhost"
PHASES = ("provision", "facts", "migrate", "throwaway", "load")
#: The load phase runs with the defaults, then once per variant (see --variant).
DEFAULT_VARIANTS = ("", "db_max_tenants_per_connection=1000", "servers=2")
REGISTRY_SIZE = 7849

TARGETS = {
    "provision_median_ms": 100.0,
    "provision_total_s": 15 * 60.0,
    "noop_migrate_s": 10.0,
    "throwaway_s": 5 * 60.0,
    "ratio": 0.8,
    "p99_ms": 100.0,
    "backend_mb": 1024.0,
    "relations_per_schema": 150,
}

#: The secret key of the run's production-mode processes: a throw-away one, unless the database
#: exists already (``--existing-database``), whose signing keys are encrypted with its own.
RUN_SECRET = os.environ.get("LOCALGOV_BENCH_SECRET_KEY") or secrets.token_hex(32)
#: The staff member the authenticated read is made as (the same id in every tenant schema).
BENCH_STAFF_ID = uuid.UUID("5ca1ab1e-0000-4000-8000-000000000001")

THROWAWAY_REVISION = '''
"""Throw-away revision of bench/scale.py: a nullable column and an index on one table."""

import sqlalchemy as sa
from alembic import op

revision = "{revision}"
down_revision = "{down}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("profile", sa.Column("scale_probe", sa.Text(), nullable=True))
    op.create_index("ix_profile_scale_probe", "profile", ["scale_probe"])


def downgrade() -> None:
    op.drop_index("ix_profile_scale_probe", table_name="profile")
    op.drop_column("profile", "scale_probe")
'''


class BenchError(RuntimeError):
    """A correctness failure: the figures of this run must not be trusted."""


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


# --- /proc: CPU and memory ---------------------------------------------------------------------------


def _stat_fields(pid: int | str) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _cpu_ticks(fields: list[str]) -> int:
    return int(fields[11]) + int(fields[12])


def machine_busy_cpu_s() -> float:
    with open("/proc/stat", encoding="ascii") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _smaps_rollup_kb(pid: int) -> dict[str, int] | None:
    out: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii", errors="replace") as f:
            for line in f:
                name, _, rest = line.partition(":")
                parts = rest.split()
                if len(parts) == 2 and parts[1] == "kB":
                    out[name] = int(parts[0])
    except OSError:
        return None
    return out


class PhaseStats:
    """What the sampler saw of the run's backends during one phase."""

    def __init__(self) -> None:
        self.samples = 0
        self.max_backends = 0
        self.largest: dict[str, Any] = {"private_kb": 0}
        self.max_pss_kb = 0
        self.max_anon_kb = 0
        self.max_total_private_kb = 0
        self.cpu_first: dict[int, int] = {}
        self.cpu_last: dict[int, int] = {}
        self.server_pids: set[int] = set()
        self.backends_seen: set[int] = set()
        self.started = time.perf_counter()
        self.machine0 = machine_busy_cpu_s()
        self.children0 = children_cpu_s()
        self.ended: float | None = None
        self.machine1: float | None = None
        self.children1: float | None = None

    def close(self) -> None:
        self.ended = time.perf_counter()
        self.machine1 = machine_busy_cpu_s()
        self.children1 = children_cpu_s()

    def summary(self, extra_own_cpu_s: float = 0.0) -> dict[str, Any]:
        elapsed = (self.ended or time.perf_counter()) - self.started
        tick = os.sysconf("SC_CLK_TCK")
        spent = {p: (self.cpu_last[p] - self.cpu_first.get(p, 0)) / tick for p in self.cpu_last}
        backends_cpu = sum(v for p, v in spent.items() if p not in self.server_pids)
        server_cpu = sum(v for p, v in spent.items() if p in self.server_pids)
        machine = (self.machine1 or machine_busy_cpu_s()) - self.machine0
        children = (self.children1 or children_cpu_s()) - self.children0
        own = backends_cpu + server_cpu + children + extra_own_cpu_s
        return {
            "elapsed_s": elapsed,
            "samples": self.samples,
            "max_backends": self.max_backends,
            # Distinct backends during the phase: connections opened (recycling) show here.
            "backends_seen": len(self.backends_seen),
            "largest_backend_private_mb": self.largest["private_kb"] / 1024,
            "largest_backend": self.largest,
            "max_backend_pss_mb": self.max_pss_kb / 1024,
            "max_backend_anonymous_mb": self.max_anon_kb / 1024,
            "max_total_private_mb": self.max_total_private_kb / 1024,
            "cpu_s": {"machine": machine, "our_backends": backends_cpu, "server": server_cpu, "our_children": children},
            # Everything else on the machine: other people's tests and benchmarks.
            "other_cores": max(0.0, machine - own) / elapsed if elapsed > 0 else 0.0,
        }


class MemorySampler(threading.Thread):
    """Twice a second: every backend of the run's database (a child of the postmaster whose title
    names the database), its private memory (smaps_rollup Private_Clean + Private_Dirty, Pss,
    Anonymous) and CPU, attributed to the current phase. Bounded by ``stop()``."""

    def __init__(self, postmaster: int, database: str, interval_s: float = 0.5) -> None:
        super().__init__(daemon=True, name="memory-sampler")
        self.postmaster = postmaster
        self.needle = f" {database} "
        self.interval_s = interval_s
        self.phases: dict[str, PhaseStats] = {}
        self.current: PhaseStats | None = None
        #: Other processes of ours whose CPU counts as ours (the server, during the load).
        self.extra_pids: list[int] = []
        self._stop_event = threading.Event()
        self._lock = threading.Lock()

    def backends(self) -> list[int]:
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            fields = _stat_fields(entry)
            if fields is None or fields[1] != str(self.postmaster):
                continue
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    title = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
            except OSError:
                continue
            if self.needle in title + " ":
                found.append(int(entry))
        return found

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[PhaseStats]:
        stats = PhaseStats()
        with self._lock:
            self.phases[name] = self.current = stats
        try:
            self.sample()
            yield stats
        finally:
            self.sample()
            with self._lock:
                stats.close()
                self.current = None

    def sample(self) -> None:
        with self._lock:
            stats = self.current
            if stats is None:
                return
            pids = self.backends()
            stats.server_pids.update(self.extra_pids)
            stats.backends_seen.update(pids)
            for pid in [*pids, *self.extra_pids]:
                fields = _stat_fields(pid)
                if fields is None:
                    continue
                ticks = _cpu_ticks(fields)
                if pid not in stats.cpu_first:
                    # Seen first after the phase's first sample: born during the phase, all its CPU counts.
                    stats.cpu_first[pid] = 0 if stats.samples > 0 else ticks
                stats.cpu_last[pid] = ticks
            total = 0
            for pid in pids:
                mem = _smaps_rollup_kb(pid)
                if mem is None:
                    continue
                private = mem.get("Private_Clean", 0) + mem.get("Private_Dirty", 0)
                total += private
                if private > stats.largest["private_kb"]:
                    stats.largest = {
                        "pid": pid,
                        "private_kb": private,
                        "pss_kb": mem.get("Pss", 0),
                        "rss_kb": mem.get("Rss", 0),
                        "anonymous_kb": mem.get("Anonymous", 0),
                    }
                stats.max_pss_kb = max(stats.max_pss_kb, mem.get("Pss", 0))
                stats.max_anon_kb = max(stats.max_anon_kb, mem.get("Anonymous", 0))
            stats.samples += 1
            stats.max_backends = max(stats.max_backends, len(pids))
            stats.max_total_private_kb = max(stats.max_total_private_kb, total)

    def run(self) -> None:
        while not self._stop_event.wait(self.interval_s):
            self.sample()

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=10)


# --- the database server and the run's own database ----------------------------------------------


def _is_loopback(url: str) -> bool:
    parsed = make_url(url)
    host = parsed.host or ""
    if not host:
        socket_dir = parsed.query.get("host", "")
        return not socket_dir or str(socket_dir).startswith("/")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def create_database(admin: str) -> str:
    name = f"localgov_scale_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(admin, timeout=10)
    try:  # the name is generated above, never input
        await conn.execute(
            f"CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8'"
        )
    finally:
        await conn.close()
    return make_url(admin).set(database=name).render_as_string(hide_password=False)


async def drop_database(admin: str, url: str) -> None:
    name = make_url(url).database
    conn = await asyncpg.connect(admin, timeout=10)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', timeout=1800)
    finally:
        await conn.close()


async def server_facts(url: str) -> tuple[dict[str, Any], int | None]:
    """Server settings, and the postmaster's pid when it runs on this machine."""
    conn = await asyncpg.connect(url, timeout=10)
    try:
        facts: dict[str, Any] = {"version": await conn.fetchval("SHOW server_version")}
        for name in (
            "max_connections",
            "shared_buffers",
            "max_locks_per_transaction",
            "synchronous_commit",
            "fsync",
            "autovacuum",
        ):
            facts[name] = await conn.fetchval(f"SHOW {name}")
        backend = int(await conn.fetchval("SELECT pg_backend_pid()"))
        fields = _stat_fields(backend)
    finally:
        await conn.close()
    return facts, _postmaster(int(fields[1])) if fields else None


def _postmaster(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/comm", encoding="ascii") as f:
            return pid if f.read().strip() in ("postgres", "postmaster") else None
    except OSError:
        return None


# --- the localgov command ------------------------------------------------------------------------


def localgov_command() -> list[str]:
    exe = shutil.which("localgov", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "localgov"]


def cli_env(url: str, **extra: str) -> dict[str, str]:
    """A ``localgov`` process's environment: ours without any other LOCALGOV_* variable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOCALGOV_")}
    env.update(
        LOCALGOV_DATABASE_URL=url,
        LOCALGOV_ENV="production",
        LOCALGOV_SECRET_KEY=RUN_SECRET,
        LOCALGOV_LOG_LEVEL="WARNING",
        LOCALGOV_BASE_DOMAIN=BASE_DOMAIN,
    )
    env.update(extra)
    return env


def run_cli(
    args: list[str], url: str, *, expect: re.Pattern[str] | None = None, timeout: float = 600
) -> dict[str, Any]:
    started = time.perf_counter()
    proc = subprocess.run(
        [*localgov_command(), *args],
        env=cli_env(url),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    wall = time.perf_counter() - started
    out = proc.stdout.strip()
    ok = proc.returncode == 0 and (expect is None or bool(expect.search(out)))
    return {
        "command": "localgov " + " ".join(args),
        "wall_s": wall,
        "exit": proc.returncode,
        "ok": ok,
        "output": (out.splitlines() or [""])[-1][:300],
        "stderr": proc.stderr.strip()[-1500:],
    }


# --- 1: provisioning ---------------------------------------------------------------------------------

_PROVISION_RE = re.compile(
    r"registry: (\d+) provisioned, (\d+) already in the catalog, (\d+) failed in ([0-9.]+) s; "
    r"per tenant median ([0-9.]+) ms, p95 ([0-9.]+) ms"
)
_PROGRESS_RE = re.compile(r"^\s*(\d+) provisioned \(([0-9.]+) s\)")


def provision(url: str, tenants: int, concurrency: int, timeout_s: float) -> dict[str, Any]:
    args = ["tenants", "provision", "--from-registry", "--concurrency", str(concurrency)]
    if tenants < REGISTRY_SIZE:
        args += ["--limit", str(tenants)]
    log("  $ localgov " + " ".join(args))
    started = time.perf_counter()
    lines: list[str] = []
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(
            [*localgov_command(), *args],
            env=cli_env(url),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
        timer = threading.Timer(timeout_s, proc.kill)
        timer.start()
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.append(line.rstrip())
                progress = _PROGRESS_RE.match(line)
                if progress and int(progress.group(1)) % 1000 == 0:
                    log("  " + line.strip())
            proc.wait()
        finally:
            timer.cancel()
        err.seek(0)
        stderr = err.read()[-3000:]
    wall = time.perf_counter() - started
    final = next((m for m in map(_PROVISION_RE.search, reversed(lines)) if m), None)
    if proc.returncode != 0 or final is None:
        raise BenchError(f"`localgov {' '.join(args)}` exited {proc.returncode}:\n" + "\n".join(lines[-10:]) + stderr)
    created, skipped, failed, seconds, median, p95 = final.groups()
    progress = [(int(m.group(1)), float(m.group(2))) for m in map(_PROGRESS_RE.match, lines) if m]
    chunks = []
    previous = (0, 0.0)
    for count, at in progress:
        chunks.append((count - previous[0]) / (at - previous[1]) if at > previous[1] else float("nan"))
        previous = (count, at)
    return {
        "command": "localgov " + " ".join(args),
        "created": int(created),
        "skipped": int(skipped),
        "failed": int(failed),
        "reported_s": float(seconds),
        "wall_s": wall,
        "median_ms": float(median),
        "p95_ms": float(p95),
        "tenants_per_s": int(created) / float(seconds) if float(seconds) else 0.0,
        # Throughput of each block of 500 tenants, in order: does it slow down as the catalog grows?
        "tenants_per_s_by_500": [round(x, 2) for x in chunks],
    }


# --- 2: facts ------------------------------------------------------------------------------------------

_RELATIONS_SQL = """
WITH s AS (SELECT oid FROM pg_namespace WHERE nspname ~ '^lao_[0-9]{7}$'),
own AS (SELECT c.relnamespace AS ns, count(*) AS n,
               count(*) FILTER (WHERE c.relkind = 'r') AS tables,
               count(*) FILTER (WHERE c.relkind = 'i') AS indexes,
               count(*) FILTER (WHERE c.relkind = 'S') AS sequences,
               count(t.oid) AS toast_tables,
               sum((SELECT count(*) FROM pg_index i WHERE i.indrelid = t.oid)) AS toast_indexes
        FROM pg_class c JOIN s ON c.relnamespace = s.oid
        LEFT JOIN pg_class t ON t.oid = c.reltoastrelid
        GROUP BY c.relnamespace)
SELECT min(n + toast_tables + toast_indexes) AS min_total, max(n + toast_tables + toast_indexes) AS max_total,
       min(tables) AS tables, min(indexes) AS indexes, min(sequences) AS sequences,
       min(toast_tables) AS toast_tables, min(toast_indexes) AS toast_indexes, count(*) AS schemas
FROM own
"""


async def database_size(url: str) -> int:
    conn = await asyncpg.connect(url, timeout=10)
    try:
        return int(await conn.fetchval("SELECT pg_database_size(current_database())"))
    finally:
        await conn.close()


async def facts(url: str, size_before: int | None) -> dict[str, Any]:
    conn = await asyncpg.connect(url, timeout=10)
    try:
        rel = dict(await conn.fetchrow(_RELATIONS_SQL, timeout=600))
        size = int(await conn.fetchval("SELECT pg_database_size(current_database())"))
        tenants = int(await conn.fetchval("SELECT count(*) FROM platform.tenants WHERE schema_revision IS NOT NULL"))
        catalog = {
            "pg_class": await conn.fetchval("SELECT count(*) FROM pg_class"),
            "pg_attribute": await conn.fetchval("SELECT count(*) FROM pg_attribute"),
            "pg_class_mb": await conn.fetchval("SELECT pg_total_relation_size('pg_class') / 1048576.0"),
            "pg_attribute_mb": await conn.fetchval("SELECT pg_total_relation_size('pg_attribute') / 1048576.0"),
        }
    finally:
        await conn.close()
    return {
        "routable_tenants": tenants,
        "schemas": rel["schemas"],
        "relations_per_schema": {k: int(v or 0) for k, v in rel.items() if k != "schemas"},
        "database_mb": size / 2**20,
        "database_mb_before_tenants": None if size_before is None else size_before / 2**20,
        "kb_per_tenant": (size - size_before) / max(1, tenants) / 1024 if size_before is not None else None,
        "catalog": {k: float(v) for k, v in catalog.items()},
    }


# --- 3: no-op migrate -------------------------------------------------------------------------------


def noop_migrate(url: str, tenants: int, runs: int) -> dict[str, Any]:
    at_head = re.compile(rf"^{tenants} tenant schemas: 0 upgraded, 0 failed, {tenants} already at head", re.M)
    none_behind = re.compile(rf"^{tenants} tenant schemas, 0 behind head", re.M)
    out: dict[str, Any] = {"runs": runs}
    for name, args, expect in (
        ("migrate", ["migrate"], at_head),
        ("check", ["migrate", "--check"], none_behind),
        ("check_verify", ["migrate", "--check", "--verify"], none_behind),
    ):
        results = [run_cli(args, url, expect=expect) for _ in range(runs)]
        out[name] = results
        good = [r["wall_s"] for r in results if r["ok"]]
        out[f"{name}_wall_s_median"] = statistics.median(good) if good else None
        if len(good) < len(results):
            bad = next(r for r in results if not r["ok"])
            log(f"  `{bad['command']}` FAILED (exit {bad['exit']}): {bad['output']} {bad['stderr'][-600:]}")
    return out


# --- 4: a throw-away migration ---------------------------------------------------------------------


def throwaway_history(folder: Path) -> tuple[str, str]:
    """A copy of migrations/tenant with one more revision; returns (old head, new head)."""
    from localgov.platform.migrate import migrations_root, tenant_head

    old = tenant_head()
    shutil.copytree(migrations_root() / "tenant", folder, ignore=shutil.ignore_patterns("__pycache__"))
    new = "9900scale"
    (folder / "versions" / f"{new}_throwaway.py").write_text(
        THROWAWAY_REVISION.lstrip().replace("{revision}", new).replace("{down}", old), encoding="utf-8"
    )
    return old, new


def run_migrate_script(url: str, location: Path, processes: int, target: str | None, down: bool) -> dict[str, Any]:
    args = [sys.executable, str(BENCH / "scale_migrate.py"), "--database-url", url, "--location", str(location)]
    args += ["--processes", str(processes)]
    if target:
        args += ["--target", target]
    if down:
        args.append("--down")
    started = time.perf_counter()
    proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=3600, check=False)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise BenchError(f"bench/scale_migrate.py exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout)
    result["wall_s"] = wall
    return result


async def probe_counts(url: str) -> tuple[int, int]:
    """Schemas whose profile has the throw-away column, and those with its index."""
    conn = await asyncpg.connect(url, timeout=10)
    try:
        columns = await conn.fetchval(
            "SELECT count(*) FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
            " WHERE c.relname = 'profile' AND a.attname = 'scale_probe' AND NOT a.attisdropped",
            timeout=600,
        )
        indexes = await conn.fetchval("SELECT count(*) FROM pg_class WHERE relname = 'ix_profile_scale_probe'")
        return int(columns), int(indexes)
    finally:
        await conn.close()


def throwaway(url: str, tenants: int, processes: int, sampler: MemorySampler | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="localgov-scale-history-") as tmp:
        location = Path(tmp) / "tenant"
        old, new = throwaway_history(location)
        log(f"  upgrade {old} -> {new} in every schema")
        with maybe_phase(sampler, "throwaway_up"):
            up = run_migrate_script(url, location, processes, None, False)
        up["probe_columns"], up["probe_indexes"] = asyncio.run(probe_counts(url))
        log(f"  downgrade {new} -> {old} in every schema")
        with maybe_phase(sampler, "throwaway_down"):
            down = run_migrate_script(url, location, processes, old, True)
        down["probe_columns"], down["probe_indexes"] = asyncio.run(probe_counts(url))
    check = run_cli(["migrate", "--check"], url, expect=re.compile(rf"^{tenants} tenant schemas, 0 behind head", re.M))
    problems = []
    if up["failed"] or (up["probe_columns"], up["probe_indexes"]) != (tenants, tenants):
        problems.append(
            f"upgrade: {up['failed']} failed, column in {up['probe_columns']}, index in {up['probe_indexes']}"
        )
    if down["failed"] or (down["probe_columns"], down["probe_indexes"]) != (0, 0):
        problems.append(f"downgrade: {down['failed']} failed, column in {down['probe_columns']}")
    if not check["ok"]:
        problems.append(f"after the rollback `localgov migrate --check` says: {check['output']}")
    return {"from": old, "to": new, "up": up, "down": down, "check_after": check, "problems": problems}


@contextlib.contextmanager
def maybe_phase(sampler: MemorySampler | None, name: str) -> Iterator[None]:
    if sampler is None:
        yield
        return
    with sampler.phase(name):
        yield


# --- 5: load -------------------------------------------------------------------------------------------


def slug_of(code: str) -> str:
    return f"lao-{code}"


async def tenant_codes(url: str) -> list[str]:
    conn = await asyncpg.connect(url, timeout=10)
    try:
        rows = await conn.fetch(
            "SELECT dla_code FROM platform.tenants WHERE schema_revision IS NOT NULL AND slug = 'lao-' || dla_code"
            " ORDER BY dla_code"
        )
        return [r["dla_code"] for r in rows]
    finally:
        await conn.close()


async def seed_staff(url: str, codes: list[str]) -> dict[str, Any]:
    """One active ``tenant_admin`` (the same id) in every tenant schema, 500 schemas per transaction."""
    from localgov.kernel.db import quote_schema, tenant_schema_name

    started = time.perf_counter()
    conn = await asyncpg.connect(url, timeout=10)
    try:
        if await conn.fetchval("SELECT to_regclass($1)", f"{tenant_schema_name(codes[0])}.staff_users") is None:
            return {"skipped": "no staff_users table in the tenant schema"}
        for start in range(0, len(codes), 500):
            sql = []
            for code in codes[start : start + 500]:
                schema = quote_schema(tenant_schema_name(code))  # validated: ^lao_[0-9]{7}$
                sql.append(
                    f"INSERT INTO {schema}.staff_users (id, email, full_name, status) VALUES"  # noqa: S608
                    f" ('{BENCH_STAFF_ID}', 'scale-bench@example.invalid', 'Scale Bench', 'active')"
                    " ON CONFLICT DO NOTHING;"
                    f" INSERT INTO {schema}.staff_roles (user_id, role) VALUES ('{BENCH_STAFF_ID}', 'tenant_admin')"
                    " ON CONFLICT DO NOTHING;"
                )
            async with conn.transaction():
                await conn.execute("\n".join(sql), timeout=600)
    finally:
        await conn.close()
    return {"seconds": time.perf_counter() - started}


async def mint_tokens(url: str, codes: list[str]) -> list[str]:
    """A staff access token per tenant, signed with the installation's own key (as login would)."""
    from localgov.kernel.auth.keys import KeyStore
    from localgov.kernel.auth.tokens import Audience, issue_access_token
    from localgov.kernel.db import create_engine
    from localgov.settings import Settings

    engine = create_engine(Settings(database_url=url, env="test", log_level="WARNING"))
    try:
        keys = KeyStore(RUN_SECRET)
        await keys.load(engine)
    finally:
        await engine.dispose()
    now = dt.datetime.now(dt.UTC)
    return [
        issue_access_token(
            keys,
            Audience.tenant(slug_of(code), code, BASE_DOMAIN),
            kind="staff",
            subject=str(BENCH_STAFF_ID),
            client_id="scale-bench",
            roles=frozenset({"tenant_admin"}),
            ttl_s=3600,
            now=now,
        )
        for code in codes
    ]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def running_server(
    url: str, port: int, workers: int, log_path: Path, settings: dict[str, str]
) -> Iterator[subprocess.Popen[bytes]]:
    extra = {f"LOCALGOV_{k.upper()}": v for k, v in settings.items()}
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(
            [*localgov_command(), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)],
            env=cli_env(url, **extra),
            cwd=ROOT,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=20)


def server_pids(proc: subprocess.Popen[bytes]) -> list[int]:
    """The server process and its direct children (uvicorn's workers)."""
    pids = [proc.pid]
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(entry)
            if fields is not None and fields[1] == str(proc.pid):
                pids.append(int(entry))
    return pids


def wait_ready(proc: subprocess.Popen[bytes], port: int, tenants: int, log_path: Path, timeout_s: float = 120) -> float:
    """Until /health/live answers and every worker's catalog holds every tenant."""
    started = time.perf_counter()
    deadline = started + timeout_s
    seen = 0
    while time.perf_counter() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"the server exited with {proc.returncode}:\n{log_path.read_text()[-2000:]}")
        with contextlib.suppress(httpx.TransportError):
            metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
            found = re.search(r"^localgov_tenants ([0-9.e+]+)$", metrics, re.M)
            seen = seen + 1 if found and int(float(found.group(1))) == tenants else 0
            if seen >= 6:  # several answers in a row (each worker answers some)
                return time.perf_counter() - started
        time.sleep(0.2)
    raise BenchError(f"the server did not route {tenants} tenants within {timeout_s:.0f} s")


def drive(cfg: dict[str, Any]) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, str(BENCH / "scale_load.py")],
        input=json.dumps(cfg),
        capture_output=True,
        text=True,
        timeout=float(cfg["deadline_s"]) * 2 + 60,
        check=False,
    )
    if proc.returncode != 0:
        raise BenchError(f"the load generator failed:\n{proc.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def _keep_log_tail(out: dict[str, Any], log_path: Path) -> None:
    with contextlib.suppress(OSError):
        out.setdefault("server_log_tails", []).append(log_path.read_text(errors="replace")[-1500:])


Endpoint = tuple[str, str, list[dict[str, str]]]


def prepare_endpoints(url: str, codes: list[str]) -> tuple[list[Endpoint], dict[str, Any]]:
    """``GET /v1/tenant`` (public), and ``GET /v1/me`` with a staff token per tenant when it can."""
    notes: dict[str, Any] = {}
    endpoints: list[Endpoint] = [("tenant", "/v1/tenant", [{} for _ in codes])]
    seeded = asyncio.run(seed_staff(url, codes))
    notes["staff_seed"] = seeded
    if "skipped" in seeded:
        notes["me_skipped"] = seeded["skipped"]
        return endpoints, notes
    try:
        tokens = asyncio.run(mint_tokens(url, codes))
    except Exception as exc:  # the auth API moves under active development: note it, go on
        notes["me_skipped"] = f"cannot mint tokens: {type(exc).__name__}: {exc}"
    else:
        endpoints.append(("me", "/v1/me", [{"Authorization": f"Bearer {t}"} for t in tokens]))
    return endpoints, notes


def parse_variant(text: str) -> tuple[int, dict[str, str]]:
    """``servers=2,db_max_tenants_per_connection=1000`` → (servers, extra server settings)."""
    servers = 1
    settings: dict[str, str] = {}
    for item in filter(None, (x.strip() for x in text.split(","))):
        name, sep, value = item.partition("=")
        name = name.strip().lower()
        if not sep or not re.fullmatch(r"[a-z0-9_]+", name) or name in ("env", "database_url"):
            raise ValueError(f"{item!r}: expected name=value (not env or database_url)")
        if name == "servers":
            servers = int(value)
            if not 1 <= servers <= 8:
                raise ValueError("servers must be between 1 and 8")
        else:
            settings[name] = value.strip()
    return servers, settings


def load(
    url: str,
    codes: list[str],
    endpoints: list[Endpoint],
    args: argparse.Namespace,
    variant: str,
    sampler: MemorySampler | None,
) -> dict[str, Any]:
    servers_n, settings = parse_variant(variant)
    out: dict[str, Any] = {
        "variant": variant or "default",
        "servers": servers_n,
        "workers": args.workers,
        "server_settings": settings,
        "concurrency": args.concurrency,
        "requests": args.requests,
        "warmup": args.warmup,
    }
    tag = "load" if not variant else f"load[{variant}]"
    hosts = [f"{slug_of(c)}.{BASE_DOMAIN}" for c in codes]
    with contextlib.ExitStack() as stack:
        servers: list[tuple[subprocess.Popen[bytes], int, Path]] = []
        for _ in range(servers_n):
            port = free_port()
            log_path = Path(tempfile.mkstemp(prefix="localgov-scale-serve-", suffix=".log")[1])
            stack.callback(log_path.unlink, missing_ok=True)
            stack.callback(_keep_log_tail, out, log_path)
            proc = stack.enter_context(running_server(url, port, args.workers, log_path, settings))
            servers.append((proc, port, log_path))
        out["server_startup_s"] = max(wait_ready(proc, port, len(codes), log) for proc, port, log in servers)
        pids = [pid for proc, _, _ in servers for pid in server_pids(proc)]
        ports = [port for _, port, _ in servers]
        out["server_processes"] = len(pids)
        if sampler is not None:
            sampler.extra_pids = pids
        skipped: set[str] = set()
        for name, path, headers in endpoints:
            first = httpx.get(
                f"http://127.0.0.1:{ports[0]}{path}", headers={"Host": hosts[0], **headers[0]}, timeout=10
            )
            if first.status_code != 200:
                out[f"{name}_skipped"] = f"GET {path} answered {first.status_code}: {first.text[:300]}"
                skipped.add(name)
                log(f"  {out[f'{name}_skipped']}")
        rounds = []
        for r in range(args.rounds):
            phases: dict[str, Any] = {}
            for name, path, headers in endpoints:
                if name in skipped:
                    continue
                targets = [[h, x] for h, x in zip(hosts, headers, strict=True)]
                for pick, label in (("first", "single"), ("uniform", "spread")):
                    key = f"{name}_{label}"
                    log(f"  {tag} round {r + 1}: GET {path}, {label}")
                    with maybe_phase(sampler, f"{tag}_r{r + 1}_{key}"):
                        phases[key] = drive(
                            {
                                "ports": ports,
                                "path": path,
                                "targets": targets,
                                "pick": pick,
                                "requests": args.requests,
                                "warmup": args.warmup,
                                "concurrency": args.concurrency,
                                "seed": args.seed + r,
                                "server_pids": pids,
                                "timeout_s": 30,
                                "deadline_s": 600,
                            }
                        )
                    for proc, _, log_path in servers:
                        if proc.poll() is not None:
                            raise BenchError(f"a server died:\n{log_path.read_text()[-2000:]}")
                phases[f"{name}_ratio"] = (
                    phases[f"{name}_spread"]["requests_per_s"] / phases[f"{name}_single"]["requests_per_s"]
                )
            rounds.append(phases)
        out["rounds"] = rounds
        if sampler is not None:
            sampler.extra_pids = []
    out["failures"] = [
        (i + 1, key, p["statuses"], p["errors"][:3])
        for i, rnd in enumerate(out["rounds"])
        for key, p in rnd.items()
        if isinstance(p, dict) and (p["non_200"] or p["error_count"] or p["warmup"]["error_count"])
    ]
    return out


# --- report --------------------------------------------------------------------------------------------


def verdict(ok: bool | None) -> str:
    return "" if ok is None else ("ok" if ok else "MISS")


def render(results: dict[str, Any]) -> str:
    lines = [
        "",
        f"localgov scale benchmark — {results['tenants']} tenants, {results['machine']['cpus']} CPUs, "
        f"PostgreSQL {results['postgres']['version']}, code {results['git_commit']}, {results['timestamp']}",
        "",
        f"{'figure':<64}{'value':>22}   {'target':<11}{'':<6}other load",
        "-" * 118,
    ]

    def row(label: str, value: str, target: str = "", ok: bool | None = None, other: str = "") -> None:
        lines.append(f"{label:<64}{value:>22}   {target:<11}{verdict(ok):<6}{other}".rstrip())

    def busy(phase: str) -> str:
        """Cores used meanwhile by processes other than ours (other people's tests, say)."""
        mem = results.get("memory", {}).get(phase)
        return f"{mem['other_cores']:.1f} cores" if mem else ""

    p = results.get("provision")
    if p:
        row(
            "provision: per tenant median (ms)",
            f"{p['median_ms']:.1f}",
            "<= 100",
            p["median_ms"] <= TARGETS["provision_median_ms"],
        )
        row("provision: per tenant p95 (ms)", f"{p['p95_ms']:.1f}")
        row(
            f"provision: {p['created']} tenants, total (s)",
            f"{p['wall_s']:.0f}",
            "<= 900",
            p["wall_s"] <= TARGETS["provision_total_s"] * p["created"] / REGISTRY_SIZE,
            busy("provision"),
        )
        by = p["tenants_per_s_by_500"]
        if by:
            row("provision: tenants/s, first / last 500", f"{by[0]:.1f} / {by[-1]:.1f}")
    f = results.get("facts")
    if f:
        rel = f["relations_per_schema"]
        row(
            "relations per tenant schema (incl. TOAST + indexes)",
            f"{rel['min_total']}" + (f"-{rel['max_total']}" if rel["max_total"] != rel["min_total"] else ""),
            "<= 150",
            rel["max_total"] <= TARGETS["relations_per_schema"],
        )
        row(
            "  tables / indexes / sequences / TOAST tables / TOAST indexes",
            f"{rel['tables']}/{rel['indexes']}/{rel['sequences']}/{rel['toast_tables']}/{rel['toast_indexes']}",
        )
        per = f["kb_per_tenant"]
        row("database size per empty tenant (kB)", "n/a (existing database)" if per is None else f"{per:.0f}")
        row("database size (MB), pg_class rows", f"{f['database_mb']:.0f}, {f['catalog']['pg_class']:.0f}")
    m = results.get("migrate")
    if m:
        for name, label, target in (
            ("migrate", "localgov migrate (all at head), wall (s)", True),
            ("check", "localgov migrate --check, wall (s)", False),
            ("check_verify", "localgov migrate --check --verify, wall (s)", False),
        ):
            value = m.get(f"{name}_wall_s_median")
            runs = " ".join(f"{r['wall_s']:.1f}" + ("" if r["ok"] else "!") for r in m[name])
            if value is None:
                row(label, "FAILED " + m[name][0]["output"][:20], "<= 10" if target else "", False if target else None)
            else:
                row(
                    f"{label} [{runs}]",
                    f"{value:.2f}",
                    "<= 10" if target else "",
                    value <= TARGETS["noop_migrate_s"] if target else None,
                )
    t = results.get("throwaway")
    if t:
        for key, label in (("up", "apply"), ("down", "roll back")):
            x = t[key]
            row(
                f"throw-away migration, {label}: wall (s)",
                f"{x['wall_s']:.0f}",
                "<= 300",
                x["wall_s"] <= TARGETS["throwaway_s"] and not x["failed"],
                busy("throwaway_" + key),
            )
            row(
                f"  per schema p50 / p95 (ms), {x['migrated']} ok, {x['failed']} failed",
                f"{x['per_schema_ms']['p50']:.1f} / {x['per_schema_ms']['p95']:.1f}",
            )
        for problem in t["problems"]:
            row(f"  PROBLEM: {problem}"[:88], "")
    for lo in results.get("load", []):
        tag = "load" if lo["variant"] == "default" else f"load[{lo['variant']}]"
        lines.append(
            f"{tag}: {lo['servers']} server process(es) x {lo['workers']} worker(s), "
            f"concurrency {lo['concurrency']}, {lo['requests']} requests per phase after {lo['warmup']} warm-up"
        )
        for i, rnd in enumerate(lo["rounds"], 1):
            for name in ("tenant", "me"):
                if f"{name}_ratio" not in rnd:
                    continue
                path = "/v1/tenant" if name == "tenant" else "/v1/me"
                for label in ("single", "spread"):
                    ph = rnd[f"{name}_{label}"]
                    lat = ph["latency_ms"]
                    row(
                        f"  r{i} {path} {label} ({ph['distinct_targets']} tenants): req/s, p50 / p99 ms",
                        f"{ph['requests_per_s']:.0f}, {lat['p50']:.1f} / {lat['p99']:.1f}",
                        "p99 <= 100",
                        lat["p99"] <= TARGETS["p99_ms"],
                        busy(f"{tag}_r{i}_{name}_{label}"),
                    )
                row(
                    f"  r{i} {path} ratio spread / single",
                    f"{rnd[f'{name}_ratio']:.2f}",
                    ">= 0.8",
                    rnd[f"{name}_ratio"] >= TARGETS["ratio"],
                )
        for key in ("tenant_skipped", "me_skipped"):
            if key in lo:
                row(f"  {key}: {lo[key]}"[:100], "")
    if "me_skipped" in results.get("load_notes", {}):
        row(f"  /v1/me skipped: {results['load_notes']['me_skipped']}"[:100], "")
    mem = results.get("memory")
    if mem:
        largest = max(mem.values(), key=lambda s: s["largest_backend_private_mb"])
        phase = next(k for k, v in mem.items() if v is largest)
        row(
            f"largest backend, private MB (in {phase})",
            f"{largest['largest_backend_private_mb']:.0f}",
            "< 1024",
            largest["largest_backend_private_mb"] < TARGETS["backend_mb"],
        )
        groups: dict[str, list[dict[str, Any]]] = {}
        for name, stats in mem.items():
            groups.setdefault(name.split("_r", 1)[0] if name.startswith("load") else name, []).append(stats)
        for name, group in groups.items():
            row(
                f"  {name[:46]}: private / Pss MB; backends",
                f"{max(g['largest_backend_private_mb'] for g in group):.0f} / "
                f"{max(g['max_backend_pss_mb'] for g in group):.0f}; {max(g['max_backends'] for g in group)}",
            )
    lines.append("")
    lines.append(f"whole run {results.get('run_seconds', 0):.0f} s; command: {results['command']}")
    return "\n".join(lines)


def git_commit() -> str | None:
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
    parser.add_argument("--tenants", type=int, default=REGISTRY_SIZE, help="LAOs to provision (default: all 7849)")
    parser.add_argument("--provision-concurrency", type=int, default=2, help="--concurrency of the provision command")
    parser.add_argument("--processes", type=int, default=0, help="migration worker processes (0: one per CPU)")
    parser.add_argument("--migrate-runs", type=int, default=3, help="runs of each no-op migrate command (median)")
    parser.add_argument("--requests", type=int, default=10_000, help="measured requests per load phase")
    parser.add_argument("--warmup", type=int, default=None, help="warm-up requests per phase (default requests/5)")
    parser.add_argument("--concurrency", type=int, default=16, help="connections of the load generator")
    parser.add_argument("--workers", type=int, default=1, help="`localgov serve --workers` of each server")
    parser.add_argument(
        "--variant",
        action="append",
        default=None,
        metavar="NAME=VALUE[,...]",
        help="run the load phase again with these changes (repeatable): servers=N (server processes, each on its "
        "own port, connections balanced by the client) and LOCALGOV_<NAME> settings of the servers. "
        f"Default: {' and '.join(DEFAULT_VARIANTS[1:])}; --variant '' for none",
    )
    parser.add_argument("--rounds", type=int, default=2, help="single/spread pairs per endpoint")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--database-url", default=None, help=f"admin URL of the server (env {ENV_VAR})")
    parser.add_argument(
        "--existing-database",
        default=None,
        help="measure an already provisioned database instead (not created, not dropped; development)",
    )
    parser.add_argument("--phases", default=",".join(PHASES), help=f"comma-separated subset of {','.join(PHASES)}")
    args = parser.parse_args(argv)
    args.phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    if set(args.phases) - set(PHASES):
        parser.error(f"--phases: unknown {sorted(set(args.phases) - set(PHASES))}")
    if not 1 <= args.tenants <= REGISTRY_SIZE:
        parser.error(f"--tenants must be between 1 and {REGISTRY_SIZE}")
    for name in ("requests", "concurrency", "rounds", "migrate_runs", "provision_concurrency", "workers"):
        if not 1 <= getattr(args, name) <= 100_000:
            parser.error(f"--{name.replace('_', '-')} must be between 1 and 100000")
    if args.warmup is None:
        args.warmup = args.requests // 5
    # The first variant is the base run (no change) unless --variant is given.
    args.variant = ["", *(v for v in (args.variant if args.variant is not None else DEFAULT_VARIANTS[1:]) if v)]
    for variant in args.variant:
        try:
            parse_variant(variant)
        except ValueError as exc:
            parser.error(f"--variant {variant!r}: {exc}")
    return args


def _terminate(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    from localgov.metadata import INSTALLATION
    from localgov.platform.installation import install

    install(INSTALLATION)  # a composition root: the platform provisions the core tables and the registry
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    run_started = time.perf_counter()
    stamp = dt.datetime.now(dt.UTC)
    admin = args.existing_database or args.database_url or os.environ.get(ENV_VAR) or DEFAULT_URL
    if not _is_loopback(admin):
        raise SystemExit(f"refusing a non-loopback database server: {make_url(admin).host}")
    url = args.existing_database or asyncio.run(create_database(admin))
    log(f"database {make_url(url).database}")
    sampler: MemorySampler | None = None
    results: dict[str, Any] = {
        "benchmark": "scale",
        "timestamp": stamp.isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "git_commit": git_commit(),
        "machine": {
            "cpus": os.cpu_count(),
            "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "loadavg_at_start": os.getloadavg(),
        },
        "tenants": args.tenants,
        "targets": TARGETS,
    }
    code = 0
    try:
        results["postgres"], postmaster = asyncio.run(server_facts(url))
        if postmaster is not None:
            sampler = MemorySampler(postmaster, str(make_url(url).database))
            sampler.start()
        else:
            results["memory_note"] = "PostgreSQL does not run on this machine: backend memory not sampled"
        if not args.existing_database:
            log("localgov migrate (shared schema, signing key) on the empty database")
            results["setup"] = run_cli(["migrate"], url)
            if not results["setup"]["ok"]:
                raise BenchError(f"localgov migrate failed: {results['setup']['stderr']}")
        size_before = None if args.existing_database else asyncio.run(database_size(url))
        if "provision" in args.phases:
            log(f"provisioning {args.tenants} LAOs from the registry")
            with maybe_phase(sampler, "provision"):
                results["provision"] = provision(url, args.tenants, args.provision_concurrency, timeout_s=3600)
        codes = asyncio.run(tenant_codes(url))
        tenants = len(codes)
        results["tenants"] = tenants
        if "facts" in args.phases:
            log("relations per schema, database size")
            results["facts"] = asyncio.run(facts(url, size_before))
        if "migrate" in args.phases:
            log(f"no-op localgov migrate / --check / --check --verify ({args.migrate_runs} runs each)")
            with maybe_phase(sampler, "noop_migrate"):
                results["migrate"] = noop_migrate(url, tenants, args.migrate_runs)
        if "throwaway" in args.phases:
            log("throw-away tenant migration")
            results["throwaway"] = throwaway(url, tenants, args.processes, sampler)
        if "load" in args.phases:
            log("load: a staff member and a token per tenant, then localgov serve + bench/scale_load.py")
            endpoints, results["load_notes"] = prepare_endpoints(url, codes)
            results["load"] = []
            for variant in args.variant:
                results["load"].append(load(url, codes, endpoints, args, variant, sampler))
        results["run_seconds"] = time.perf_counter() - run_started
        if sampler is not None:
            sampler.stop()
            results["memory"] = {name: s.summary() for name, s in sampler.phases.items()}
        problems = list(results.get("throwaway", {}).get("problems", [])) + [
            str(f) for lo in results.get("load", []) for f in lo["failures"]
        ]
        results["problems"] = problems
        RESULTS.mkdir(exist_ok=True)
        out = RESULTS / f"scale-{stamp.strftime('%Y%m%dT%H%M%SZ')}.json"
        out.write_text(json.dumps(results, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
        print(render(results))
        print(f"\nresults: {out.relative_to(ROOT)}")
        if problems:
            print("\nPROBLEMS:\n" + "\n".join(problems), file=sys.stderr)
            code = 1
    except BenchError as exc:
        print(f"\nBENCHMARK FAILED: {exc}", file=sys.stderr)
        code = 1
    finally:
        if sampler is not None:
            sampler.stop()
        if not args.existing_database:
            log(f"dropping database {make_url(url).database}")
            asyncio.run(drop_database(admin, url))
    return code


if __name__ == "__main__":
    sys.exit(main())
