"""The product side by side with its peers: the same read, the same PostgreSQL, the same load (issue 11).

    .venv/bin/python bench/peers.py [--tenants 2000] [--duration 15] [--rounds 2] [--warmup S]
                                    [--database-url URL] [--strict]

Three servers, started one at a time (only one is ever under load), each with 2 server processes:

* **the floor**: bare Litestar + asyncpg (``../shared/peers/bare.py``, ``uvicorn bare:app --workers 2``),
  ``GET /v1/bills/{id}`` from the schema named by the Host's first label;
* **the peer**: Django 5 + django-tenants (``../shared/peers/django-tenants``, ``gunicorn -w 2``, sync
  workers), the same read;
* **the product**: ``localgov serve --workers 2`` in production mode (it neither migrates nor syncs),
  ``GET /v1/payments/bills/{id}`` (getBill) with each tenant's own staff bearer token
  (``payments.finance``), and ``GET /v1/tenant`` (public).

wrk (2 threads x 32 connections, ``--latency``, ``--duration`` seconds) drives each with the peers'
own Lua scripts (``multi_tenant.lua``, ``bearer_tenants.lua``), all requests on one tenant and then
spread uniformly over ``--tenants``, for ``--rounds`` rounds (the order of the servers is reversed
every other round). The peers' fixtures are run from where they are; nothing of them is copied.

One run creates two databases on one loopback PostgreSQL (``--database-url`` or
``LOCALGOV_BENCH_DATABASE_URL``, default ``postgresql://postgres@127.0.0.1:5432/postgres``): one for
the peers (``manage.py migrate_schemas --shared`` and ``seed.py N``: tenants ``t00000…`` with 50 bills
each) and one for the product (``localgov migrate``, N tenants with the payments service provisioned
with ``create_tenant``, a payer and 50 bills with fixed ids inserted by SQL in each tenant schema, a
staff token per tenant minted with the installation's own signing key). It prints the figures and
the ratios against the targets, writes ``bench/results/peers-<timestamp>.json``, and stops every
server and drops both databases in a ``finally`` (also after an error, Ctrl-C or SIGTERM).

It installs nothing: it checks for wrk, the peers' folder and the peers' virtualenv and says how to
get what is missing (exit 2). See bench/README.md, "Peers".
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import platform
import re
import resource
import shutil
import signal
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
sys.path.insert(0, str(BENCH))

import core  # noqa: E402  (bench/ is not a package)
import scale  # noqa: E402
from loadgen import _machine_busy_cpu_s, _proc_cpu_s, _process_tree_cpu_s  # noqa: E402

ENV_VAR = "LOCALGOV_BENCH_DATABASE_URL"
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_PEERS = ROOT.parent / "shared" / "peers"
DEFAULT_VENV = Path.home() / ".cache" / "peers-venv"
#: Every server is reached as ``t<5 digits>.<BASE>``: the peers' default, the product's base domain.
BASE = "localgov.test"
#: bearer_tenants.lua's default path: bill ids 1..50 of this form.
BILL_ID = "00000000-0000-4000-8000-{:012d}"
BILLS = 50
PAYER_ID = uuid.UUID("00000000-0000-4000-8000-0000000000a1")
STAFF_ID = uuid.UUID("5ca1ab1e-0000-4000-8000-0000000000b1")
BILLER_ID = "099400012345601"
PEER_MODULES = ("django", "django_tenants", "gunicorn", "psycopg2", "litestar", "uvicorn", "asyncpg")

TARGETS = {
    "bill_vs_floor": 0.7,
    "bill_vs_peer": 1.5,
    "bill_p99_ms": 60.0,
    "tenant_vs_floor": 0.8,
    "spread_vs_single": 0.85,
}
#: Other processes busier than this many cores during a phase make its figures doubtful.
PERTURBED_CORES = 0.2

#: name -> (server, what, Lua script, extra environment of wrk)
PHASES: dict[str, tuple[str, str, str, dict[str, str]]] = {
    "floor": ("floor", "GET /v1/bills/{id} (bare Litestar + asyncpg)", "multi_tenant.lua", {}),
    "peer": ("peer", "GET /v1/bills/{id} (Django 5 + django-tenants)", "multi_tenant.lua", {}),
    "bill": ("product", "GET /v1/payments/bills/{id} (staff bearer)", "bearer_tenants.lua", {}),
    "tenant": ("product", "GET /v1/tenant (public)", "multi_tenant.lua", {"PATHFMT": "/v1/tenant"}),
}
SERVERS = {"floor": ("floor",), "peer": ("peer",), "product": ("bill", "tenant")}

#: The default warm-up grows with the tenants: every server is measured in its steady state, not while
#: it meets tenants for the first time. At 2,000 tenants 5 s of getBill (~3,500 requests over two
#: processes) left about 40 % of the tenants new to each product process, which then verified their
#: tokens, read their biller rows and met them on fresh backends inside the measured phase; 25 s sends
#: each tenant about 5 requests per process. The same warm-up is given to every server.
MIN_WARMUP_S = 5.0
TENANTS_PER_WARMUP_S = 80

BenchErrors = (core.BenchError, scale.BenchError)
log = core.log


# --- what must be there ----------------------------------------------------------------------------


def missing_prerequisites(peers: Path, venv: Path) -> list[str]:
    """What this machine lacks to run the benchmark, each with how to get it (nothing is installed)."""
    problems: list[str] = []
    if shutil.which("wrk") is None:
        problems.append("wrk is not on PATH: apt-get install -y wrk")
    needed = [
        peers / "bare.py",
        peers / "multi_tenant.lua",
        peers / "bearer_tenants.lua",
        peers / "django-tenants" / "manage.py",
        peers / "django-tenants" / "seed.py",
    ]
    absent = [str(p) for p in needed if not p.is_file()]
    if absent:
        problems.append(f"the peers' fixtures are not where expected ({', '.join(absent)}); give --peers DIR")
    python = venv / "bin" / "python"
    install = (
        f"python3 -m venv {venv} && {venv}/bin/pip install django django-tenants gunicorn psycopg2-binary "
        "litestar uvicorn asyncpg"
    )
    if not python.exists():
        problems.append(f"no virtualenv for the peers at {venv}: {install}")
    else:
        probe = subprocess.run(
            [str(python), "-c", f"import {', '.join(PEER_MODULES)}"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env=peer_env(),
        )
        tools = [t for t in ("gunicorn", "uvicorn") if not (venv / "bin" / t).exists()]
        if probe.returncode != 0 or tools:
            detail = (probe.stderr.strip().splitlines() or [""])[-1] or f"no {', '.join(tools)}"
            problems.append(f"the peers' virtualenv {venv} is incomplete ({detail}): {install}")
    return problems


def versions(venv: Path) -> dict[str, str]:
    """wrk's, the peers' and the product's main packages' versions (for the record)."""
    out: dict[str, str] = {}
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        first = subprocess.run(["wrk", "-v"], capture_output=True, text=True, timeout=10, check=False)
        out["wrk"] = (first.stdout + first.stderr).strip().splitlines()[0]
    script = "import importlib.metadata as m, json, sys\nprint(json.dumps({n: m.version(n) for n in sys.argv[1:]}))"
    for prefix, python, names in (
        ("peers", str(venv / "bin" / "python"), ["django", "django-tenants", "gunicorn", "psycopg2-binary"]),
        ("both", str(venv / "bin" / "python"), ["litestar", "uvicorn", "asyncpg"]),
        ("product", sys.executable, ["litestar", "uvicorn", "asyncpg", "sqlalchemy"]),
    ):
        with contextlib.suppress(OSError, subprocess.SubprocessError, ValueError):
            env = peer_env() if prefix != "product" else None
            found = subprocess.run(
                [python, "-c", script, *names], capture_output=True, text=True, timeout=30, check=True, env=env
            )
            label = "peers" if prefix == "both" else prefix
            out.update({f"{label} {k}": v for k, v in json.loads(found.stdout).items()})
    return out


def cpu_model() -> str:
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor()


def admin_url(explicit: str | None) -> str:
    """The admin URL of the one database server: loopback TCP only (the peers connect by host and port)."""
    url = explicit or os.environ.get(ENV_VAR) or DEFAULT_URL
    parsed = make_url(url)
    if not parsed.host:
        raise SystemExit("give the database server as a loopback host and port (the peers cannot use a socket)")
    if not scale._is_loopback(url):
        raise SystemExit(f"refusing a non-loopback database server: {parsed.host}")
    problem = asyncio.run(core._reachable(url))
    if problem:
        raise SystemExit(f"cannot connect to the database server: {problem}")
    return url


# --- processes -------------------------------------------------------------------------------------


def peer_env(db: str | None = None, password: str | None = None) -> dict[str, str]:
    """The peers' environment: ours without PYTHONPATH, LOCALGOV_* or Django settings; their database."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("LOCALGOV_") and k not in ("PYTHONPATH", "DJANGO_SETTINGS_MODULE", "VIRTUAL_ENV")
    }
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # the fixtures' folder is read-only and stays untouched
    if db:
        env.update(PEER_DB=db, BARE_DB=db, PEER_BASE=BASE)
    if password:
        env["PGPASSWORD"] = password  # the peers' settings take user, host, port and name only
    return env


@contextlib.contextmanager
def running(
    name: str, cmd: list[str], cwd: Path, env: dict[str, str]
) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """A server in a session of its own; SIGTERM on the way out, then SIGKILL to its process group."""
    log_path = Path(tempfile.mkstemp(prefix=f"localgov-peers-{name}-", suffix=".log")[1])
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield proc, log_path
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=20)
        # Workers left behind by a parent that died: the group is ours (start_new_session).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        log_path.unlink(missing_ok=True)


def tail(path: Path) -> str:
    with contextlib.suppress(OSError):
        return path.read_text(errors="replace")[-2000:]
    return ""


def run_peer_command(args: list[str], cwd: Path, env: dict[str, str], timeout: float) -> str:
    started = time.perf_counter()
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise core.BenchError(
            f"`{' '.join(args[1:])}` exited {proc.returncode}:\n{(proc.stdout + proc.stderr)[-2000:]}"
        )
    shown = " ".join([Path(args[0]).name, *args[1:]])
    log(f"  {shown}: {time.perf_counter() - started:.1f} s")
    return proc.stdout.strip()


# --- set-up: the peers -----------------------------------------------------------------------------


def setup_peers(db: str, password: str | None, peers: Path, venv: Path, tenants: int) -> dict[str, Any]:
    """The peers' own set-up, as their README says: shared schema, then ``seed.py N``."""
    env = peer_env(db, password)
    python = str(venv / "bin" / "python")
    folder = peers / "django-tenants"
    started = time.perf_counter()
    run_peer_command([python, "manage.py", "migrate_schemas", "--shared"], folder, env, 600)
    seeded = run_peer_command([python, "seed.py", str(tenants)], folder, env, 3600)
    return {"seconds": time.perf_counter() - started, "seed_output": seeded.splitlines()[-1:] if seeded else []}


# --- set-up: the product ---------------------------------------------------------------------------


def slug(i: int) -> str:
    return f"t{i:05d}"


async def provision(url: str, codes: list[str], concurrency: int = 2) -> dict[str, Any]:
    """N tenants with the payments service, through ``create_tenant``, each in its own transaction."""
    from localgov.kernel.db import create_engine
    from localgov.platform.tenants import TenantSpec, create_tenant
    from localgov.settings import Settings

    engine = create_engine(Settings(database_url=url, env="test", log_level="WARNING"))
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(len(codes)):
        queue.put_nowait(i)
    wall: list[float] = []

    async def worker() -> None:
        while not queue.empty():
            i = queue.get_nowait()
            spec = TenantSpec(
                dla_code=codes[i], slug=slug(i), name_en=f"Peers benchmark LAO {i}", enabled_services=["payments"]
            )
            t0 = time.perf_counter()
            async with engine.begin() as conn:
                await create_tenant(conn, spec, source="file")
            wall.append(time.perf_counter() - t0)
            if len(wall) % 500 == 0:
                log(f"  provisioned {len(wall)}/{len(codes)}")

    started = time.perf_counter()
    try:
        await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(concurrency))), 3600)
    finally:
        await engine.dispose()
    return {
        "tenants": len(wall),
        "seconds": time.perf_counter() - started,
        "per_tenant_ms_p50": statistics.median(wall) * 1000,
    }


def seed_sql(schema: str) -> str:
    """Biller settings, one payer, 50 open bills with fixed ids and one line each (in ``bill_items`` and
    its copy ``bills.lines``), in one tenant schema."""
    from localgov.kernel.db import quote_schema

    s = quote_schema(schema)  # validated: ^lao_[0-9]{7}$
    return f"""
INSERT INTO {s}.payment_settings (id, biller_id, merchant_name) VALUES (1, '{BILLER_ID}', 'BENCH LAO')
  ON CONFLICT (id) DO UPDATE SET biller_id = EXCLUDED.biller_id, merchant_name = EXCLUDED.merchant_name;
INSERT INTO {s}.payers (id, kind, name, house_no, province)
  VALUES ('{PAYER_ID}', 'person', 'ผู้ชำระ ทดสอบ', '99/1', 'เชียงใหม่');
INSERT INTO {s}.bills
  (id, reference, verification_code, payer_id, source, source_key, period, issue_date, due_date, total, lines)
  SELECT ('00000000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid, 'P' || lpad(g::text, 9, '0'),
         lpad((g * 7919 % 1000000)::text, 6, '0'), '{PAYER_ID}', 'bench.peers', 'bench.peers:' || g, '2026-11',
         current_date, current_date + 30, 100 + g,
         jsonb_build_array(jsonb_build_object('fee_code', 'garbage', 'description_th', 'ค่าเก็บขยะมูลฝอย',
           'quantity', '1.000', 'unit_price', (100 + g)::numeric(12, 2)::text,
           'amount', (100 + g)::numeric(12, 2)::text, 'period', '2026-11'))
  FROM generate_series(1, {BILLS}) g;
INSERT INTO {s}.bill_items (bill_id, fee_code, description_th, unit_price, amount, period)
  SELECT id, 'garbage', 'ค่าเก็บขยะมูลฝอย', total, total, period FROM {s}.bills WHERE source = 'bench.peers';
"""  # noqa: S608 (constants and a validated schema name)


async def seed_bills(url: str, codes: list[str]) -> dict[str, Any]:
    """Bulk SQL, 100 tenant schemas per transaction (not the API: this is set-up, not measured)."""
    from localgov.kernel.db import tenant_schema_name

    started = time.perf_counter()
    conn = await asyncpg.connect(url, timeout=10)
    try:
        for start in range(0, len(codes), 100):
            async with conn.transaction():
                await conn.execute(
                    "\n".join(seed_sql(tenant_schema_name(c)) for c in codes[start : start + 100]), timeout=600
                )
        first, last = tenant_schema_name(codes[0]), tenant_schema_name(codes[-1])
        counts = [
            await conn.fetchval(f'SELECT count(*) FROM "{s}".bills WHERE source = $1', "bench.peers")  # noqa: S608
            for s in (first, last)
        ]
    finally:
        await conn.close()
    if counts != [BILLS, BILLS]:
        raise core.BenchError(f"seeded {counts} bills in the first and last schema, expected {BILLS}")
    return {"seconds": time.perf_counter() - started, "bills_per_tenant": BILLS}


async def mint_tokens(url: str, codes: list[str], ttl_s: int, secret: str | None = None) -> list[str]:
    """A staff access token per tenant (role payments.finance), signed with the installation's own key
    (sealed with ``secret``, by default the one the benchmark's ``localgov migrate`` ran with)."""
    from localgov.kernel.auth.keys import KeyStore
    from localgov.kernel.auth.tokens import Audience, issue_access_token
    from localgov.kernel.db import create_engine
    from localgov.settings import Settings

    engine = create_engine(Settings(database_url=url, env="test", log_level="WARNING"))
    try:
        keys = KeyStore(secret or scale.RUN_SECRET)
        await keys.load(engine)
    finally:
        await engine.dispose()
    now = dt.datetime.now(dt.UTC)
    return [
        issue_access_token(
            keys,
            Audience.tenant(slug(i), code, BASE),
            kind="staff",
            subject=str(STAFF_ID),
            client_id="peers-bench",
            roles=frozenset({"payments.finance"}),
            ttl_s=ttl_s,
            now=now,
        )
        for i, code in enumerate(codes)
    ]


# --- servers -----------------------------------------------------------------------------------------


def server_command(server: str, port: int, workers: int, venv: Path) -> list[str]:
    if server == "floor":
        return [
            str(venv / "bin" / "uvicorn"),
            "bare:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--log-level",
            "warning",
            "--no-access-log",
        ]
    if server == "peer":
        return [str(venv / "bin" / "gunicorn"), "peer.wsgi", "-w", str(workers), "-b", f"127.0.0.1:{port}"]
    return [*scale.localgov_command(), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]


def wait_answering(proc: subprocess.Popen[bytes], port: int, log_path: Path, timeout_s: float = 60) -> float:
    """Until a peer answers a bill of the first tenant."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout_s:
        if proc.poll() is not None:
            raise core.BenchError(f"the server exited with {proc.returncode}:\n{tail(log_path)}")
        with contextlib.suppress(httpx.TransportError):
            answer = httpx.get(f"http://127.0.0.1:{port}/v1/bills/1", headers={"Host": f"{slug(0)}.{BASE}"}, timeout=5)
            if answer.status_code == 200:
                return time.perf_counter() - started
        time.sleep(0.2)
    raise core.BenchError(f"the server did not answer within {timeout_s:.0f} s:\n{tail(log_path)}")


def wait_workers(proc: subprocess.Popen[bytes], workers: int, timeout_s: float = 30) -> list[int]:
    """The server's parent and its workers, once all are there (multiprocessing's resource tracker left out)."""
    deadline = time.perf_counter() + timeout_s
    while True:
        pids = [proc.pid]
        for pid in scale.server_pids(proc)[1:]:
            with contextlib.suppress(OSError), open(f"/proc/{pid}/cmdline", "rb") as f:
                if b"resource_tracker" not in f.read():
                    pids.append(pid)
        if len(pids) >= workers + 1:
            return pids
        if time.perf_counter() > deadline:
            raise core.BenchError(f"{len(pids) - 1} worker processes after {timeout_s:.0f} s, expected {workers}")
        time.sleep(0.2)


def check_peer(port: int, tenants: int) -> None:
    """The first and the last tenant's bills are there, each from its own schema."""
    for i, bill in ((0, 1), (tenants - 1, BILLS)):
        answer = httpx.get(
            f"http://127.0.0.1:{port}/v1/bills/{bill}", headers={"Host": f"{slug(i)}.{BASE}"}, timeout=10
        )
        body = answer.json() if answer.status_code == 200 else {}
        if body.get("id") != bill or body.get("reference") != f"B{slug(i)}-{bill}":
            raise core.BenchError(f"bill {bill} of {slug(i)} answered {answer.status_code}: {answer.text[:300]}")


def check_product(port: int, codes: list[str], tokens: list[str]) -> None:
    """getBill answers each tenant's own bill with its own token, and only with it; /v1/tenant too."""
    base = f"http://127.0.0.1:{port}"

    def get_bill(i: int, bill: int, token: str | None) -> httpx.Response:
        headers = {"Host": f"{slug(i)}.{BASE}"} | ({"Authorization": f"Bearer {token}"} if token else {})
        return httpx.get(f"{base}/v1/payments/bills/{BILL_ID.format(bill)}", headers=headers, timeout=10)

    for i, bill in ((0, 1), (len(codes) - 1, BILLS)):
        answer = get_bill(i, bill, tokens[i])
        body = answer.json() if answer.status_code == 200 else {}
        if body.get("id") != BILL_ID.format(bill) or not body.get("qr_payload") or len(body.get("items", [])) != 1:
            raise core.BenchError(f"getBill {bill} of {slug(i)} answered {answer.status_code}: {answer.text[:300]}")
        profile = httpx.get(f"{base}/v1/tenant", headers={"Host": f"{slug(i)}.{BASE}"}, timeout=10)
        if profile.status_code != 200 or profile.json().get("dla_code") != codes[i]:
            raise core.BenchError(f"GET /v1/tenant of {slug(i)} answered {profile.status_code}: {profile.text[:300]}")
    if get_bill(0, 1, None).status_code != 401:
        raise core.BenchError("getBill answers without a token")
    if len(codes) > 1 and get_bill(1, 1, tokens[0]).status_code != 401:
        raise core.BenchError("getBill accepts another tenant's token")


# --- wrk ---------------------------------------------------------------------------------------------

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}
_LATENCY_RE = re.compile(r"^\s*(50|75|90|99)(?:\.000)?%\s+([0-9.]+)(us|ms|s|m|h)\s*$", re.M)
_TOTAL_RE = re.compile(r"^\s*(\d+) requests in ([0-9.]+)(us|ms|s|m|h), ([0-9.]+)([KMGT]?B) read", re.M)
_RATE_RE = re.compile(r"^Requests/sec:\s+([0-9.]+)", re.M)
_SOCKET_RE = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
_NON2XX_RE = re.compile(r"Non-2xx or 3xx responses: (\d+)")
_BYTES = {"B": 1, "KB": 2**10, "MB": 2**20, "GB": 2**30, "TB": 2**40}


def parse_wrk(output: str) -> dict[str, Any]:
    latencies = {f"p{p}": float(v) * _UNITS[u] for p, v, u in _LATENCY_RE.findall(output)}
    total = _TOTAL_RE.search(output)
    rate = _RATE_RE.search(output)
    if total is None or rate is None or "p99" not in latencies:
        raise core.BenchError(f"cannot read wrk's output:\n{output[-1500:]}")
    sockets = _SOCKET_RE.search(output)
    non2xx = _NON2XX_RE.search(output)
    requests = int(total.group(1))
    return {
        "requests": requests,
        "seconds": float(total.group(2)) * _UNITS[total.group(3)] / 1000,
        "requests_per_s": float(rate.group(1)),
        "latency_ms": latencies,
        "bytes_per_response": float(total.group(4)) * _BYTES[total.group(5)] / max(1, requests),
        "socket_errors": dict(
            zip(
                ("connect", "read", "write", "timeout"),
                map(int, sockets.groups() if sockets else (0,) * 4),
                strict=True,
            )
        ),
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
    }


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def tree_cpu_s(pids: list[int]) -> float | None:
    values = [_proc_cpu_s(pid) for pid in pids]
    return None if any(v is None for v in values) else sum(v for v in values if v is not None)


def wrk(
    port: int,
    script: Path,
    env_extra: dict[str, str],
    seconds: float,
    args: argparse.Namespace,
    pids: list[int],
    pg: int | None,
    db: str | None = None,
) -> dict[str, Any]:
    """One wrk run; CPU of the server processes, PostgreSQL, wrk and the whole machine around it, and
    what the server's database did (``db``: its ``pg_stat_database`` counters, per request)."""
    cmd = [
        "wrk",
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{seconds:g}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        script.name,
        f"http://127.0.0.1:{port}",
    ]
    env = {k: v for k, v in os.environ.items() if k not in ("TENANTS", "TOKENS", "PATHFMT", "PREFIX", "BASE")}
    env.update(PREFIX="t", BASE=BASE, **env_extra)
    stats0 = asyncio.run(database_stats(db)) if db else None
    server0, pg0, wrk0, all0 = tree_cpu_s(pids), _process_tree_cpu_s(pg), children_cpu_s(), _machine_busy_cpu_s()
    started = time.perf_counter()
    proc = subprocess.run(
        cmd, cwd=script.parent, env=env, capture_output=True, text=True, timeout=seconds + 120, check=False
    )
    elapsed = time.perf_counter() - started
    server1, pg1, wrk1, all1 = tree_cpu_s(pids), _process_tree_cpu_s(pg), children_cpu_s(), _machine_busy_cpu_s()
    stats1 = asyncio.run(settled_database_stats(db)) if db else None
    memory = asyncio.run(backends_memory(db)) if db else None
    if proc.returncode != 0:
        raise core.BenchError(f"wrk exited {proc.returncode}:\n{(proc.stdout + proc.stderr)[-1500:]}")
    out = parse_wrk(proc.stdout)

    def delta(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None else b - a

    server, postgres, machine = delta(server0, server1), delta(pg0, pg1), delta(all0, all1)
    cpu = {"server": server, "postgres": postgres, "wrk": wrk1 - wrk0, "machine": machine}
    other = None
    if server is not None and postgres is not None and machine is not None:
        other = max(0.0, machine - server - postgres - (wrk1 - wrk0)) / elapsed
    out.update(
        command=" ".join(f"{k}={v}" for k, v in env_extra.items()) + (" " if env_extra else "") + " ".join(cmd),
        cpu_s=cpu,
        other_cores=other,
        perturbed=other is not None and other > PERTURBED_CORES,
        backends_memory=memory,
        database_per_request=(
            {k: (stats1[k] - stats0[k]) / out["requests"] for k in stats0}
            if stats0 is not None and stats1 is not None and out["requests"]
            else None
        ),
    )
    return out


#: What a server's database did during a phase (``pg_stat_database``): transactions, rows the backends
#: read (catalog rows included: a backend that meets a tenant's tables for the first time, or re-plans a
#: statement for another tenant, reads ``pg_class``, ``pg_attribute``, ``pg_index``, ``pg_statistic``…)
#: and pages found in shared buffers or read from the kernel.
_DATABASE_STATS = (
    "SELECT xact_commit + xact_rollback AS transactions, tup_fetched AS rows_fetched, blks_hit AS pages_hit,"
    " blks_read AS pages_read FROM pg_stat_database WHERE datname = current_database()"
)


async def database_stats(url: str) -> dict[str, float]:
    """The database's cumulative counters as they are now."""
    conn = await asyncpg.connect(url, timeout=10)
    try:
        row = await conn.fetchrow(_DATABASE_STATS)
    finally:
        await conn.close()
    assert row is not None
    return {k: float(v) for k, v in row.items()}


#: PostgreSQL 15 backends flush their statistics at most once a second while busy, and a backend that
#: goes idle with some still pending flushes them 10 s later (``PGSTAT_IDLE_INTERVAL``): without a
#: wait, what the last second of a phase did would be counted in the next phase.
_STATS_IDLE_FLUSH_S = 10.5


def _anon_mib(pid: int) -> float | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    except OSError:
        return None  # another machine's server, or not ours to read
    found = re.search(r"^RssAnon:\s+(\d+) kB", status, re.MULTILINE)
    return int(found.group(1)) / 1024 if found else None


async def backends_memory(url: str) -> dict[str, float] | None:
    """The private memory (``RssAnon``: a backend's caches and plans, not the shared buffers it
    touched) of the database's client backends, the server's connections, at the end of a phase."""
    conn = await asyncpg.connect(url, timeout=10)
    try:
        pids = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND backend_type = 'client backend'"
        )
    finally:
        await conn.close()
    sizes: list[float] = []
    for (pid,) in pids:
        size = _anon_mib(pid)
        if size is None:
            return None
        sizes.append(size)
    if not sizes:
        return None
    return {"backends": len(sizes), "total_mib": sum(sizes), "max_mib": max(sizes)}


async def settled_database_stats(url: str) -> dict[str, float]:
    """The counters once every backend idle since the phase ended has flushed its statistics."""
    await asyncio.sleep(_STATS_IDLE_FLUSH_S)
    return await database_stats(url)


# --- the measurement -------------------------------------------------------------------------------


def measure_server(
    server: str,
    args: argparse.Namespace,
    ctx: dict[str, Any],
    round_no: int,
) -> tuple[dict[str, Any], float]:
    """Start one server, check it, warm it up, run its phases at 1 and N tenants, stop it."""
    port = core.free_port()
    peers: Path = ctx["peers"]
    cmd = server_command(server, port, args.workers, ctx["venv"])
    db = (ctx["product_db"] if server == "product" else ctx["peers_db"]) if args.database_stats else None
    if server == "product":
        extra = {f"LOCALGOV_{k.upper()}": v for k, v in (item.split("=", 1) for item in args.server_setting)}
        env = scale.cli_env(ctx["product_db"], LOCALGOV_BASE_DOMAIN=BASE, **extra)
        cwd = ROOT
    else:
        env = peer_env(ctx["peers_db"], ctx["password"])
        cwd = peers if server == "floor" else peers / "django-tenants"
    phases: dict[str, Any] = {}
    with running(server, cmd, cwd, env) as (proc, log_path):
        if server == "product":
            startup = scale.wait_ready(proc, port, args.tenants, log_path)
            check_product(port, ctx["codes"], ctx["tokens"])
        else:
            startup = wait_answering(proc, port, log_path)
            check_peer(port, args.tenants)
        pids = wait_workers(proc, args.workers)
        for name in SERVERS[server]:
            _, _, script, extra = PHASES[name]
            extra = {**extra, "TOKENS": str(ctx["tokens_file"])} if name == "bill" else dict(extra)
            if args.warmup:
                log(f"  round {round_no}, {name}: warm-up {args.warmup:g} s over {args.tenants} tenants")
                wrk(
                    port,
                    peers / script,
                    {**extra, "TENANTS": str(args.tenants)},
                    args.warmup,
                    args,
                    pids,
                    ctx["pg"],
                    db,
                )
            for count in sorted({1, args.tenants}):
                log(f"  round {round_no}, {name}: {args.duration:g} s at {count} tenant(s)")
                phases[f"{name}@{count}"] = result = wrk(
                    port, peers / script, {**extra, "TENANTS": str(count)}, args.duration, args, pids, ctx["pg"], db
                )
                if proc.poll() is not None:
                    raise core.BenchError(f"{server} died:\n{tail(log_path)}")
                if result["non_2xx"]:
                    raise core.BenchError(f"{server}, {name} at {count} tenant(s): {result['non_2xx']} non-2xx answers")
    return phases, startup


def settle(admin: str) -> dict[str, float]:
    """Write the set-up out before measuring: a set-up of 2,000 tenants leaves gigabytes of dirty
    pages, and their checkpoint and the kernel's writeback ran inside the first phases (0.5-1 core
    of "other" load in every phase of a run, 2026-12-07 16:18 UTC)."""
    started = time.perf_counter()

    async def checkpoint() -> None:
        conn = await asyncpg.connect(admin, timeout=10)
        try:
            await conn.execute("CHECKPOINT")
        finally:
            await conn.close()

    asyncio.run(checkpoint())
    os.sync()
    return {"seconds": time.perf_counter() - started}


def ratios(rnd: dict[str, Any], n: int) -> dict[str, Any]:
    def rps(key: str) -> float:
        return float(rnd["phases"][key]["requests_per_s"])

    out: dict[str, Any] = {}
    for count in sorted({1, n}):
        out[f"bill_vs_floor@{count}"] = rps(f"bill@{count}") / rps(f"floor@{count}")
        out[f"bill_vs_peer@{count}"] = rps(f"bill@{count}") / rps(f"peer@{count}")
        out[f"tenant_vs_floor@{count}"] = rps(f"tenant@{count}") / rps(f"floor@{count}")
        out[f"bill_p99_ms@{count}"] = rnd["phases"][f"bill@{count}"]["latency_ms"]["p99"]
    for name in ("bill", "tenant", "floor", "peer"):
        out[f"{name}_spread_vs_single"] = rps(f"{name}@{n}") / rps(f"{name}@1")
    # Less sensitive to other load on the machine: the floor's server CPU per request over the product's.
    for count in sorted({1, n}):
        floor, bill = server_ms(rnd["phases"][f"floor@{count}"]), server_ms(rnd["phases"][f"bill@{count}"])
        out[f"bill_vs_floor_server_cpu@{count}"] = floor / bill if floor and bill else None
    return out


def server_ms(phase: dict[str, Any]) -> float | None:
    """Server CPU (all its processes) per completed request, in ms."""
    cpu = phase["cpu_s"]["server"]
    return None if cpu is None or not phase["requests"] else float(cpu) / phase["requests"] * 1000


def verdicts(rnd: dict[str, Any], n: int) -> dict[str, bool]:
    r = rnd["ratios"]
    out: dict[str, bool] = {}
    for count in sorted({1, n}):
        out[f"bill_vs_floor@{count}"] = r[f"bill_vs_floor@{count}"] >= TARGETS["bill_vs_floor"]
        out[f"bill_vs_peer@{count}"] = r[f"bill_vs_peer@{count}"] >= TARGETS["bill_vs_peer"]
        out[f"bill_p99_ms@{count}"] = r[f"bill_p99_ms@{count}"] <= TARGETS["bill_p99_ms"]
        out[f"tenant_vs_floor@{count}"] = r[f"tenant_vs_floor@{count}"] >= TARGETS["tenant_vs_floor"]
    for name in ("bill", "tenant"):
        out[f"{name}_spread_vs_single"] = r[f"{name}_spread_vs_single"] >= TARGETS["spread_vs_single"]
    return out


# --- report ------------------------------------------------------------------------------------------


LABEL = 50
BLOCK = 38


def ratio_row(label: str, values: list[float | None], target: str, verdicts: list[bool], digits: int = 2) -> str:
    """A label, one value per tenant count (under its req/s column), the target and the verdict of each."""
    cells = "".join(f"{'' if v is None else f'{v:.{digits}f}':>9}{'':<{BLOCK - 9}}" for v in values)
    return f"{label:<{LABEL}}{cells}{target:<10}{' / '.join('ok' if ok else 'MISS' for ok in verdicts)}"


def render(results: dict[str, Any]) -> str:
    n = results["tenants"]
    counts = sorted({1, n})
    a = results["args"]
    lines = [
        "",
        f"localgov vs peers — {n} tenants, {results['machine']['cpus']} CPUs, PostgreSQL "
        f"{results['postgres']['version']}, code {results['git_commit']}, {results['timestamp']}",
        f"wrk {a['threads']} threads x {a['connections']} connections, {a['duration']:g} s per phase after "
        f"{a['warmup']:g} s warm-up; {a['workers']} server processes each",
    ]
    head = "".join(f"{'':4}{f'{c} tenant' + ('s' if c > 1 else ''):<{BLOCK - 4}}" for c in counts)
    sub = "".join(f"{'req/s':>9}{'p50 ms':>8}{'p99 ms':>8}{'cpu ms':>7}{'other':>6} " for _ in counts)
    for i, rnd in enumerate(results["rounds"], 1):
        lines += [
            "",
            f"round {i} (servers in the order {', '.join(rnd['order'])})",
            f"{'':<{LABEL}}{head}",
            f"{'':<{LABEL}}{sub}",
            "-" * (LABEL + BLOCK * len(counts) + 16),
        ]
        for name, (_, what, _, _) in PHASES.items():
            cells = ""
            for c in counts:
                p = rnd["phases"][f"{name}@{c}"]
                lat = p["latency_ms"]
                other = "-" if p["other_cores"] is None else f"{p['other_cores']:.2f}"
                cpu = server_ms(p)
                cpu_text = "-" if cpu is None else f"{cpu:.2f}"
                mark = "*" if p["perturbed"] else " "
                cells += f"{p['requests_per_s']:>9.0f}{lat['p50']:>8.1f}{lat['p99']:>8.1f}{cpu_text:>7}{other:>6}{mark}"
            lines.append(f"{f'{name:<7}{what}':<{LABEL}}{cells}")
        r, ok = rnd["ratios"], rnd["verdicts"]
        for label, key, target, digits in (
            ("getBill / floor (req/s)", "bill_vs_floor", ">= 0.7", 2),
            ("getBill / django-tenants (req/s)", "bill_vs_peer", ">= 1.5", 2),
            ("getBill p99 (ms)", "bill_p99_ms", "<= 60", 1),
            ("GET /v1/tenant / floor (req/s)", "tenant_vs_floor", ">= 0.8", 2),
        ):
            lines.append(
                ratio_row(label, [r[f"{key}@{c}"] for c in counts], target, [ok[f"{key}@{c}"] for c in counts], digits)
            )
        for name, label in (("bill", "getBill"), ("tenant", "GET /v1/tenant")):
            values: list[float | None] = [None] * (len(counts) - 1) + [r[f"{name}_spread_vs_single"]]
            key = f"{name}_spread_vs_single"
            lines.append(ratio_row(f"{label}: {n} tenants / 1 (req/s)", values, ">= 0.85", [ok[key]]))
        for name in ("floor", "peer"):
            values = [None] * (len(counts) - 1) + [r[f"{name}_spread_vs_single"]]
            lines.append(ratio_row(f"{name}: {n} tenants / 1 (req/s)", values, "", []))
        cpu_ratios = [r[f"bill_vs_floor_server_cpu@{c}"] for c in counts]
        lines.append(ratio_row("server CPU per request, floor / getBill", cpu_ratios, "", []))
        lines += [
            "",
            f"{'PostgreSQL per request':<{LABEL}}"
            + "".join(f"{'cpu ms':>9}{'rows':>8}{'hit':>8}{'read':>7}{'MiB':>7} " for _ in counts),
        ]
        for name, (_, what, _, _) in PHASES.items():
            cells = ""
            for c in counts:
                p = rnd["phases"][f"{name}@{c}"]
                pg_cpu = p["cpu_s"]["postgres"]
                pg_ms = "-" if pg_cpu is None or not p["requests"] else f"{pg_cpu / p['requests'] * 1000:.2f}"
                d = p.get("database_per_request") or {}
                mem = p.get("backends_memory")
                cells += (
                    f"{pg_ms:>9}"
                    + "".join(
                        f"{'-' if k not in d else f'{d[k]:.1f}':>{w}}"
                        for k, w in (("rows_fetched", 8), ("pages_hit", 8), ("pages_read", 7))
                    )
                    + f"{'-' if not mem else format(mem['total_mib'], '.0f'):>7} "
                )
            lines.append(f"{f'{name:<7}{what}':<{LABEL}}{cells}")
    background = results.get("background")
    lines += [
        "",
        "cpu ms: CPU of the server's processes per request; other: cores used during the phase by processes",
        f"other than the server, PostgreSQL and wrk (* more than {PERTURBED_CORES}: the neighbours weigh on it)",
        "PostgreSQL per request: the server's CPU (all its processes; other databases' clients count too) and,",
        "with --database-stats, its database's pg_stat_database counters: rows fetched (catalog rows included),",
        "pages found in shared buffers, pages read from the kernel; MiB: the private memory (RssAnon) of the",
        "server's database backends at the end of the phase, all together (their caches and plans)",
        f"busy cores before the run: {background['busy_cores']:.2f}" if background else "",
        (
            f"busy cores after the set-up was written: {results['background_after_setup']['busy_cores']:.2f}"
            if results.get("background_after_setup")
            else ""
        ),
        "versions: " + ", ".join(f"{k} {v}" for k, v in results["versions"].items() if k != "wrk"),
        results["versions"].get("wrk", ""),
        f"set-up: peers {results['setup']['peers']['seconds']:.0f} s, product provisioning "
        f"{results['setup']['provision']['seconds']:.0f} s, bills {results['setup']['bills']['seconds']:.1f} s; "
        f"whole run {results['run_seconds']:.0f} s",
    ]
    return "\n".join(line.rstrip() for line in lines)


# --- main --------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenants", type=int, default=2000, help="tenants of each side (default 2000)")
    parser.add_argument("--duration", type=float, default=15, help="seconds of each measured wrk run (default 15)")
    parser.add_argument(
        "--warmup",
        type=float,
        default=None,
        help="seconds of wrk over all the tenants per endpoint after each server start, before its phases"
        " (default: one second per 80 tenants, at least 5: 25 s at 2,000)",
    )
    parser.add_argument("--rounds", type=int, default=2, help="rounds of all three servers (default 2)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    parser.add_argument("--workers", type=int, default=2, help="server processes of each server (default 2)")
    parser.add_argument("--database-url", default=None, help=f"admin URL of a loopback server (env {ENV_VAR})")
    parser.add_argument(
        "--peers", type=Path, default=DEFAULT_PEERS, help=f"the peers' folder (default {DEFAULT_PEERS})"
    )
    parser.add_argument(
        "--peers-venv",
        type=Path,
        default=Path(os.environ.get("PEERS_VENV", DEFAULT_VENV)),
        help=f"the peers' virtualenv (env PEERS_VENV, default {DEFAULT_VENV})",
    )
    parser.add_argument("--seed", type=int, default=2026, help="seed of the product's DLA code sample")
    parser.add_argument(
        "--server-setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an extra LOCALGOV_<NAME> for the product's server (repeatable), e.g. db_pool_size=8",
    )
    parser.add_argument(
        "--database-stats",
        action="store_true",
        help="also count what each server's database did per request (pg_stat_database); waits 10.5 s after"
        " every wrk run for the backends' statistics to be flushed (about 4 more minutes at the defaults)",
    )
    parser.add_argument("--strict", action="store_true", help="exit 3 when a target is missed")
    args = parser.parse_args(argv)
    if not 1 <= args.tenants <= 7849:
        parser.error("--tenants must be between 1 and 7849 (the DLA registry)")
    if args.warmup is None:
        args.warmup = max(MIN_WARMUP_S, args.tenants / TENANTS_PER_WARMUP_S)
    if not 1 <= args.duration <= 600 or not 0 <= args.warmup <= 600:
        parser.error("--duration must be between 1 and 600 seconds, --warmup between 0 and 600")
    for name in ("rounds", "threads", "workers"):
        if not 1 <= getattr(args, name) <= 16:
            parser.error(f"--{name} must be between 1 and 16")
    if not args.threads <= args.connections <= 1000:
        parser.error("--connections must be between --threads and 1000")
    args.peers = args.peers.resolve()
    return args


def _terminate(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    from localgov.metadata import INSTALLATION
    from localgov.platform.installation import install

    install(INSTALLATION)  # a composition root: the platform provisions the core tables and the registry
    args = parse_args(argv)
    problems = missing_prerequisites(args.peers, args.peers_venv)
    if problems:
        print("missing (this benchmark installs nothing):\n  " + "\n  ".join(problems), file=sys.stderr)
        return 2
    admin = admin_url(args.database_url)
    signal.signal(signal.SIGTERM, _terminate)
    run_started = time.perf_counter()
    stamp = dt.datetime.now(dt.UTC)
    background = core.machine_busy_cores()
    databases: list[str] = []
    tokens_file = Path(tempfile.mkstemp(prefix="localgov-peers-tokens-", suffix=".txt")[1])
    try:
        peers_db = asyncio.run(core.create_database(admin))
        databases.append(peers_db)
        product_db = asyncio.run(core.create_database(admin))
        databases.append(product_db)
        log(f"databases: peers {make_url(peers_db).database}, product {make_url(product_db).database}")
        facts, pg = asyncio.run(scale.server_facts(product_db))
        results: dict[str, Any] = {
            "benchmark": "peers",
            "timestamp": stamp.isoformat(timespec="seconds"),
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "git_commit": core.git_commit(),
            "code": core.code_under_test(),
            "machine": {
                "cpus": os.cpu_count(),
                "cpu_model": cpu_model(),
                "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
                "python": platform.python_version(),
                "platform": platform.platform(),
                "loadavg_at_start": os.getloadavg(),
            },
            "postgres": facts,
            "versions": versions(args.peers_venv),
            "tenants": args.tenants,
            "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k != "database_url"},
            "targets": TARGETS,
            "background": background,
            "setup": {},
        }
        password = make_url(admin).password
        log(f"peers: shared schema and {args.tenants} tenants (their seed.py)")
        results["setup"]["peers"] = setup_peers(
            peers_db, str(password) if password else None, args.peers, args.peers_venv, args.tenants
        )
        log("product: localgov migrate, then tenants with the payments service")
        migrated = scale.run_cli(["migrate"], product_db)
        if not migrated["ok"]:
            raise core.BenchError(f"localgov migrate failed: {migrated['stderr']}")
        codes = core.pick_codes(args.tenants, args.seed)
        results["setup"]["provision"] = asyncio.run(provision(product_db, codes))
        log("product: a payer and 50 bills in every tenant schema (SQL)")
        results["setup"]["bills"] = asyncio.run(seed_bills(product_db, codes))
        # Valid through the whole measurement, however slow the machine (the bench's own tokens).
        estimate = args.rounds * (8 * (args.duration + args.warmup) + 600)
        tokens = asyncio.run(mint_tokens(product_db, codes, ttl_s=int(max(3600, 3 * estimate))))
        tokens_file.write_text("".join(f"{slug(i)}.{BASE} {t}\n" for i, t in enumerate(tokens)), encoding="ascii")
        log("set-up written: a checkpoint and the kernel's writeback before the first phase")
        results["setup"]["settle"] = settle(admin)
        results["background_after_setup"] = core.machine_busy_cores()
        ctx = {
            "peers": args.peers,
            "venv": args.peers_venv,
            "peers_db": peers_db,
            "product_db": product_db,
            "password": str(password) if password else None,
            "codes": codes,
            "tokens": tokens,
            "tokens_file": tokens_file,
            "pg": pg,
        }
        results["rounds"] = []
        for r in range(args.rounds):
            order = ["floor", "peer", "product"] if r % 2 == 0 else ["product", "peer", "floor"]
            rnd: dict[str, Any] = {"order": order, "phases": {}, "startup_s": {}}
            for server in order:
                log(f"round {r + 1}: {server}")
                phases, rnd["startup_s"][server] = measure_server(server, args, ctx, r + 1)
                rnd["phases"].update(phases)
            rnd["ratios"] = ratios(rnd, args.tenants)
            rnd["verdicts"] = verdicts(rnd, args.tenants)
            results["rounds"].append(rnd)
        results["socket_errors"] = {
            f"round {i + 1} {key}": p["socket_errors"]
            for i, rnd in enumerate(results["rounds"])
            for key, p in rnd["phases"].items()
            if any(p["socket_errors"].values())
        }
        results["all_targets_met"] = all(all(rnd["verdicts"].values()) for rnd in results["rounds"])
        results["run_seconds"] = time.perf_counter() - run_started
        RESULTS.mkdir(exist_ok=True)
        out = RESULTS / f"peers-{stamp.strftime('%Y%m%dT%H%M%SZ')}.json"
        out.write_text(json.dumps(results, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
        print(render(results))
        if results["socket_errors"]:
            print(f"\nsocket errors (wrk): {results['socket_errors']}")
        print(f"\nresults: {out.relative_to(ROOT)}")
        if args.strict and not results["all_targets_met"]:
            return 3
        return 0
    except BenchErrors as exc:
        print(f"\nBENCHMARK FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        tokens_file.unlink(missing_ok=True)
        for db in databases:
            log(f"dropping database {make_url(db).database}")
            asyncio.run(scale.drop_database(admin, db))


if __name__ == "__main__":
    sys.exit(main())
