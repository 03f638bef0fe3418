"""Benchmark of authentication: what verifying an access token costs a request, and logins per second.

    .venv/bin/python bench/auth.py [--requests 1500] [--concurrency 16] [--rounds 6] [--logins 40]
                                   [--database-url URL]

One run creates a database of its own (on the server given, else the local one at
127.0.0.1:5432, else an embedded pgserver), migrates the shared schema, creates one LAO with 20
API clients and a few operator accounts, starts the API server in a subprocess (uvicorn, one
worker, production settings, loopback only) and drives it from a load-generator subprocess
(``bench/auth.py --loadgen``, keep-alive HTTP/1.1, closed loop, bounded by request counts,
timeouts and a deadline). It prints a table, writes ``bench/results/auth-<timestamp>.json`` and
drops its database, also on error or Ctrl-C.

What is compared, and why that is fair. The issue asks for an authenticated request against the
same request unauthenticated. ``GET /v1/tenant`` is public: its policy never looks at a token,
so a request with an ``Authorization`` header costs only the header's bytes (measured too, as
"tenant profile"). The figure that matters is the cost of *verifying* a token: the ES256
signature, the claims, the policy. So the server mounts a benchmark-only plugin with two twins
of ``GET /v1/api-clients`` that run the same handler code (the same query of the LAO's 20 API
clients and the same response, checked byte for byte before the load starts) and differ only in
their policy: ``public`` (no token sent, none verified) and ``staff("tenant_admin")`` (a valid
staff token sent and checked on every request). The ratio of their requests per second is the
figure (target >= 0.9). A client sends the same token until it expires, and each process
remembers the tokens it verified (``kernel/auth/tokens.py``), so the steady state skips the
signature; the worst case, a token never seen before on every request (the signature verified
each time), is measured too ("a new token every request"), with the same twin. The real
``GET /v1/api-clients`` with the token is measured as well; it lacks the plugin's service check,
so it is not the public twin's exact counterpart. Phases alternate their order from round to
round so that a drift of the machine does not favour either side.

Logins: ``POST /v1/operator/auth/login`` (argon2id verification of the password, deliberately
expensive, plus the refresh token and audit rows) and ``POST /oauth/token`` (client credentials:
the same argon2 cost for the client secret), each with one account per connection; the time of
one argon2 verification in this process is reported next to them.
"""

# No ``from __future__ import annotations``: the plugin's handlers are defined inside a function
# and Litestar resolves their annotations at registration, which needs them evaluated.
import argparse
import asyncio
import base64
import contextlib
import datetime as dt
import ipaddress
import json
import os
import platform
import secrets
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

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
sys.path.insert(0, str(BENCH))

from loadgen import (  # noqa: E402  (bench/ is not a package)
    ResponseError,
    _machine_busy_cpu_s,
    _percentile,
    _proc_cpu_s,
    _read_response,
    _self_cpu_s,
)

ENV_VAR = "LOCALGOV_BENCH_DATABASE_URL"
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
BASE_DOMAIN = "localhost"
SLUG = "benchauth"
PASSWORD = "bench password that is long enough"  # noqa: S105 (a throw-away benchmark account)
API_CLIENTS = 20
TARGET_RATIO = 0.9


class BenchError(RuntimeError):
    """A correctness failure: the figures of this run must not be trusted."""


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- the benchmark-only plugin: two twins of GET /v1/api-clients ----------------------------------


def bench_plugin() -> Any:
    from litestar import Router, get
    from litestar.di import NamedDependency
    from sqlalchemy.ext.asyncio import AsyncSession

    from localgov.identity.client_views import ApiClientPage, api_client_out
    from localgov.identity.clients import list_clients
    from localgov.kernel.auth.guards import PUBLIC, guarded, staff
    from localgov.kernel.errors import problem_responses
    from localgov.kernel.pagination import cut_page
    from localgov.kernel.plugins import Scope, ServicePlugin

    async def body(db_session: AsyncSession) -> ApiClientPage:
        # What ApiClientController.list_clients does for a first page of 50, line for line.
        rows = await list_clients(db_session, after=None, limit=50 + 1)
        page, next_cursor = cut_page(rows, 50, key=lambda r: (r.created_at, r.id))
        return ApiClientPage(items=[api_client_out(r) for r in page], next_cursor=next_cursor)

    @get("/public", operation_id="benchPublic", tags=["Bench"], responses=problem_responses(404), **guarded(PUBLIC))
    async def public(db_session: NamedDependency[AsyncSession]) -> ApiClientPage:
        return await body(db_session)

    @get(
        "/guarded",
        operation_id="benchGuarded",
        tags=["Bench"],
        responses=problem_responses(401, 403, 404),
        **guarded(staff("tenant_admin")),
    )
    async def guarded_twin(db_session: NamedDependency[AsyncSession]) -> ApiClientPage:
        return await body(db_session)

    return ServicePlugin(
        slug=SLUG,
        title_th="ทดสอบสมรรถนะการยืนยันตัวตน",
        title_en="Authentication benchmark",
        router=Router(path=f"/v1/{SLUG}", route_handlers=[public, guarded_twin]),
        scopes=(Scope(code=f"{SLUG}.read", title_th="อ่าน", title_en="Read"),),
    )


def serve(port: int) -> int:
    """The server process: ``localgov serve``'s single-worker uvicorn, plus the bench plugin."""
    import uvicorn

    from localgov.app import create_app
    from localgov.settings import Settings

    app = create_app(Settings.from_env(), plugins=[bench_plugin()])
    uvicorn.run(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    return 0


# --- the load generator (its own process) -----------------------------------------------------------


def raw_request(
    method: str, path: str, host: str, headers: dict[str, str] | None = None, body: bytes | None = None
) -> str:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", "Accept: application/json", "User-Agent: localgov-bench"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    return "\r\n".join(lines) + "\r\n\r\n" + (body or b"").decode("latin-1")


async def _drive(cfg: dict[str, Any]) -> dict[str, Any]:
    """Closed loop over ``concurrency`` keep-alive connections.

    Connection ``i`` sends ``payloads[i % n]``; with ``per_request``, request ``k`` (warm-up first,
    then the timed ones) sends ``payloads[k % n]`` instead, so each can carry a token of its own.
    """
    port, concurrency = int(cfg["port"]), int(cfg["concurrency"])
    timeout, deadline = float(cfg.get("timeout_s", 30)), float(cfg.get("deadline_s", 300))
    payloads = [p.encode("latin-1") for p in cfg["payloads"]]
    per_request = bool(cfg.get("per_request"))
    expect = str(cfg["expect"])

    async def connect() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)

    conns = [await connect() for _ in range(concurrency)]
    statuses: dict[str, int] = {}
    errors: list[str] = []

    async def run(count: int, latencies: list[float], offset: int = 0) -> None:
        work = iter(range(count))

        async def worker(slot: int) -> None:
            reader, writer = conns[slot]
            for i in work:  # shared iterator: each request is sent once
                payload = payloads[(offset + i if per_request else slot) % len(payloads)]
                started = time.perf_counter()
                try:
                    writer.write(payload)
                    status, close = await asyncio.wait_for(_read_response(reader), timeout)
                except (OSError, TimeoutError, asyncio.IncompleteReadError, ResponseError, ValueError) as exc:
                    errors.append(f"{type(exc).__name__}: {exc}"[:200])
                    writer.close()
                    if len(errors) > 50:
                        raise RuntimeError("too many connection errors; giving up") from exc
                    reader, writer = conns[slot] = await connect()
                    continue
                latencies[i] = time.perf_counter() - started
                statuses[str(status)] = statuses.get(str(status), 0) + 1
                if close:
                    writer.close()
                    reader, writer = conns[slot] = await connect()

        await asyncio.wait_for(asyncio.gather(*(worker(s) for s in range(concurrency))), deadline)

    warmup = int(cfg.get("warmup", 0))
    await run(warmup, [0.0] * warmup)
    warm_statuses, warm_errors = dict(statuses), len(errors)
    statuses.clear()
    errors.clear()
    count = int(cfg["requests"])
    latencies = [-1.0] * count
    server_pid = cfg.get("server_pid")
    server0, all0 = _proc_cpu_s(server_pid), _machine_busy_cpu_s()
    self0 = _self_cpu_s()
    started = time.perf_counter()
    await run(count, latencies, offset=warmup)
    elapsed = time.perf_counter() - started
    self1 = _self_cpu_s()
    server1, all1 = _proc_cpu_s(server_pid), _machine_busy_cpu_s()
    for _, writer in conns:
        writer.close()
    done = sorted(x for x in latencies if x >= 0)

    def delta(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None else b - a

    return {
        "requests": count,
        "completed": len(done),
        "elapsed_s": elapsed,
        "requests_per_s": len(done) / elapsed if elapsed > 0 else 0.0,
        "latency_ms": {
            "p50": _percentile(done, 50) * 1000,
            "p90": _percentile(done, 90) * 1000,
            "p99": _percentile(done, 99) * 1000,
            "max": (done[-1] if done else float("nan")) * 1000,
        },
        "statuses": statuses,
        "unexpected": count - statuses.get(expect, 0),
        "errors": errors[:10],
        "error_count": len(errors),
        "warmup": {"requests": warmup, "statuses": warm_statuses, "error_count": warm_errors},
        "cpu_s": {
            "loadgen": self1 - self0,
            "server": delta(server0, server1),
            "machine": delta(all0, all1),
        },
    }


def loadgen_main() -> int:
    json.dump(asyncio.run(_drive(json.load(sys.stdin))), sys.stdout)
    return 0


def run_load(cfg: dict[str, Any]) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--loadgen"],
        input=json.dumps(cfg),
        capture_output=True,
        text=True,
        timeout=float(cfg["deadline_s"]) * 2 + 60,
        check=False,
    )
    if proc.returncode != 0:
        raise BenchError(f"the load generator failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


# --- database ------------------------------------------------------------------------------------------


def _is_loopback(url: str) -> bool:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    host = parsed.host or ""
    if not host:
        socket_dir = str(parsed.query.get("host", ""))
        return not socket_dir or socket_dir.startswith("/")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def _reachable(url: str) -> str | None:
    import asyncpg

    try:
        conn = await asyncpg.connect(url, timeout=5)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        return f"{type(exc).__name__}: {exc}"
    await conn.close()
    return None


def choose_server(explicit: str | None, keep: dict[str, Any]) -> tuple[str, str]:
    given = explicit or os.environ.get(ENV_VAR)
    if given:
        if not _is_loopback(given):
            raise SystemExit("refusing a database server that is not on loopback")
        problem = asyncio.run(_reachable(given))
        if problem:
            raise SystemExit(f"cannot connect to the database server given: {problem}")
        return given, "given"
    if asyncio.run(_reachable(DEFAULT_URL)) is None:
        return DEFAULT_URL, "default"
    log("no PostgreSQL at the default URL; starting an embedded pgserver")
    import pgserver

    keep["embedded"] = pgserver.get_server(tempfile.mkdtemp(prefix="localgov-bench-pg-"), cleanup_mode="delete")
    uri: str = keep["embedded"].get_uri()
    return uri.replace("postgresql://postgres:@", "postgresql://postgres@"), "embedded"


async def create_database(admin: str) -> str:
    import asyncpg
    from sqlalchemy.engine import make_url

    name = f"localgov_bench_{uuid.uuid4().hex[:12]}"  # generated here, never input
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(
            f"CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8'"
        )
    finally:
        await conn.close()
    return make_url(admin).set(database=name).render_as_string(hide_password=False)


async def drop_database(admin: str, url: str) -> None:
    import asyncpg
    from sqlalchemy.engine import make_url

    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')
    finally:
        await conn.close()


async def setup(url: str, secret_key: str, operators: int, fresh_tokens: int) -> dict[str, Any]:
    """Shared schema, the first signing key, one LAO with API clients, operator accounts, a staff token."""
    from localgov.identity.clients import create_client, enabled_scopes
    from localgov.identity.operators import add_operator
    from localgov.kernel.audit import Actor, Origin
    from localgov.kernel.auth.keys import KeyStore, ensure_key
    from localgov.kernel.auth.tokens import Audience, issue_access_token
    from localgov.kernel.db import create_engine, session_factory, tenant_session
    from localgov.platform.catalog import Catalog
    from localgov.platform.migrate import upgrade_shared
    from localgov.platform.provisioning import ProfileSeed
    from localgov.platform.registry import registry
    from localgov.platform.tenants import TenantSpec, create_tenant
    from localgov.settings import Settings

    settings = Settings(database_url=url, env="test", log_level="WARNING", secret_key=secret_key)
    engine = create_engine(settings)
    try:
        await upgrade_shared(engine)
        await ensure_key(engine, secret_key)
        code = sorted(registry())[0]
        async with engine.begin() as conn:
            await create_tenant(
                conn,
                TenantSpec(
                    dla_code=code,
                    slug=SLUG,
                    name_en="Authentication benchmark LAO",
                    enabled_services=[SLUG],
                    contact=ProfileSeed(phone="0-0000-0000", email="bench@example.invalid"),
                ),
                source="file",
            )
        catalog = Catalog(BASE_DOMAIN)
        await catalog.load(engine)
        tenant = catalog.by_slug(SLUG)
        if tenant is None:
            raise BenchError("the benchmark LAO is not in the catalog")
        plugin = bench_plugin()
        available = enabled_scopes([plugin], tenant.enabled_services)
        factory = session_factory(engine)
        clients: list[tuple[str, str]] = []
        async with tenant_session(factory, tenant) as session:
            for i in range(API_CLIENTS):
                row, secret = await create_client(
                    session,
                    name=f"Integration {i:02d}",
                    scopes=list(available),
                    available=available,
                    actor=Actor("system", "bench"),
                    origin=Origin(),
                )
                clients.append((row.client_id, secret))
        emails = [f"operator{i}@bench.example" for i in range(operators)]
        async with tenant_session(factory, None) as session:
            for email in emails:
                await add_operator(
                    session,
                    email=email,
                    full_name="Bench Operator",
                    roles=["platform_admin"],
                    password=PASSWORD,
                    min_length=12,
                    min_score=3,
                )
        keys = KeyStore(secret_key)
        await keys.load(engine)
        audience = Audience.tenant(tenant.slug, tenant.dla_code, BASE_DOMAIN)

        def staff_token() -> str:
            return issue_access_token(
                keys,
                audience,
                kind="staff",
                subject=str(uuid.uuid4()),
                client_id="localgov-bench",
                roles=frozenset({"tenant_admin"}),
                ttl_s=3600,
            )

        token = staff_token()
        fresh = [staff_token() for _ in range(fresh_tokens)]  # distinct: random subject and jti each
    finally:
        await engine.dispose()
    return {"token": token, "fresh": fresh, "clients": clients, "operators": emails}


# --- the server ----------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def running_server(url: str, secret_key: str, port: int, log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOCALGOV_")}
    env.update(
        LOCALGOV_DATABASE_URL=url,
        LOCALGOV_ENV="production",
        LOCALGOV_SECRET_KEY=secret_key,
        LOCALGOV_BASE_DOMAIN=BASE_DOMAIN,
        LOCALGOV_LOG_LEVEL="WARNING",
        # The benchmark measures throughput, not the limits: one client address sends everything.
        LOCALGOV_LOGIN_RATE_LIMIT=str(10**9),
    )
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--serve", str(port)],
            env=env,
            cwd=ROOT,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=15)


def wait_until_live(proc: subprocess.Popen[bytes], port: int, log_path: Path, timeout_s: float = 60) -> float:
    import httpx

    started = time.perf_counter()
    while time.perf_counter() - started < timeout_s:
        if proc.poll() is not None:
            raise BenchError(f"the server exited with {proc.returncode}:\n{log_path.read_text()[-2000:]}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"http://127.0.0.1:{port}/health/live", timeout=2).status_code == 200:
                return time.perf_counter() - started
        time.sleep(0.1)
    raise BenchError(f"the server did not answer /health/live within {timeout_s:.0f} s")


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def check_server(port: int, fixture: dict[str, Any]) -> None:
    """The routes answer what they should before anything is timed."""
    import httpx

    base = f"http://127.0.0.1:{port}"
    tenant = {"Host": f"{SLUG}.{BASE_DOMAIN}"}
    bearer = {"Authorization": f"Bearer {fixture['token']}"}
    public = httpx.get(f"{base}/v1/{SLUG}/public", headers=tenant, timeout=10)
    guarded = httpx.get(f"{base}/v1/{SLUG}/guarded", headers={**tenant, **bearer}, timeout=10)
    real = httpx.get(f"{base}/v1/api-clients", headers={**tenant, **bearer}, timeout=10)
    if not (public.status_code == guarded.status_code == real.status_code == 200):
        raise BenchError(f"twins answered {public.status_code}/{guarded.status_code}/{real.status_code}")
    if not (public.content == guarded.content == real.content) or len(public.json()["items"]) != API_CLIENTS:
        raise BenchError("the twins do not answer the same body")
    for path in (f"/v1/{SLUG}/guarded", "/v1/api-clients"):
        if httpx.get(f"{base}{path}", headers=tenant, timeout=10).status_code != 401:
            raise BenchError(f"{path} answers without a token")
    login = httpx.post(
        f"{base}/v1/operator/auth/login",
        json={"email": fixture["operators"][0], "password": PASSWORD},
        headers={"Host": BASE_DOMAIN},
        timeout=30,
    )
    if login.status_code != 200:
        raise BenchError(f"operator login answered {login.status_code}: {login.text[:300]}")
    client_id, secret = fixture["clients"][0]
    issued = httpx.post(
        f"{base}/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={**tenant, "Authorization": basic(client_id, secret)},
        timeout=30,
    )
    if issued.status_code != 200:
        raise BenchError(f"the token endpoint answered {issued.status_code}: {issued.text[:300]}")


def phases(fixture: dict[str, Any]) -> dict[str, tuple[list[str], int]]:
    """Request templates of each phase (one per connection, or one per request) and the status expected."""
    tenant_host = f"{SLUG}.{BASE_DOMAIN}"
    auth = {"Authorization": f"Bearer {fixture['token']}"}
    json_type = {"Content-Type": "application/json"}
    form_type = {"Content-Type": "application/x-www-form-urlencoded"}
    return {
        "twin, public (no token)": ([raw_request("GET", f"/v1/{SLUG}/public", tenant_host)], 200),
        "twin, guarded (token verified)": ([raw_request("GET", f"/v1/{SLUG}/guarded", tenant_host, auth)], 200),
        FRESH: (
            [
                raw_request("GET", f"/v1/{SLUG}/guarded", tenant_host, {"Authorization": f"Bearer {token}"})
                for token in fixture["fresh"]
            ],
            200,
        ),
        "GET /v1/api-clients (token verified)": ([raw_request("GET", "/v1/api-clients", tenant_host, auth)], 200),
        "GET /v1/tenant, no token": ([raw_request("GET", "/v1/tenant", tenant_host)], 200),
        "GET /v1/tenant, token sent (public: not verified)": (
            [raw_request("GET", "/v1/tenant", tenant_host, auth)],
            200,
        ),
        "operator login": (
            [
                raw_request(
                    "POST",
                    "/v1/operator/auth/login",
                    BASE_DOMAIN,
                    json_type,
                    json.dumps({"email": email, "password": PASSWORD}).encode(),
                )
                for email in fixture["operators"]
            ],
            200,
        ),
        "client credentials token": (
            [
                raw_request(
                    "POST",
                    "/oauth/token",
                    tenant_host,
                    {**form_type, "Authorization": basic(cid, secret)},
                    b"grant_type=client_credentials",
                )
                for cid, secret in fixture["clients"]
            ],
            200,
        ),
    }


FRESH = "twin, guarded, a new token every request"
READS = (
    "twin, public (no token)",
    "twin, guarded (token verified)",
    FRESH,
    "GET /v1/api-clients (token verified)",
    "GET /v1/tenant, no token",
    "GET /v1/tenant, token sent (public: not verified)",
)
LOGINS = ("operator login", "client credentials token")


def argon2_facts() -> dict[str, Any]:
    from localgov.kernel.auth.hashing import _hasher, hash_secret, verify_secret

    hasher = _hasher()
    stored = hash_secret(PASSWORD)
    times = []
    for _ in range(5):
        started = time.perf_counter()
        verify_secret(stored, PASSWORD)
        times.append(time.perf_counter() - started)
    return {
        "type": str(hasher.type.name).lower(),
        "time_cost": hasher.time_cost,
        "memory_kib": hasher.memory_cost,
        "parallelism": hasher.parallelism,
        "verify_ms_median": statistics.median(times) * 1000,
        "verify_ms_min": min(times) * 1000,
    }


def median_or_none(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def cpu_ratio(public: dict[str, Any], guarded: dict[str, Any]) -> float | None:
    """Server CPU per public request over server CPU per guarded request (1.0: no cost)."""
    a, b = public["cpu_s"]["server"], guarded["cpu_s"]["server"]
    if not a or not b:
        return None
    return float((a / public["completed"]) / (b / guarded["completed"]))


def measure(url: str, fixture: dict[str, Any], secret_key: str, args: argparse.Namespace) -> dict[str, Any]:
    port = free_port()
    templates = phases(fixture)
    server_log = Path(tempfile.mkstemp(prefix="localgov-bench-auth-", suffix=".log")[1])
    try:
        with running_server(url, secret_key, port, server_log) as proc:
            startup = wait_until_live(proc, port, server_log)
            check_server(port, fixture)

            def load(name: str, requests: int, warmup: int, concurrency: int) -> dict[str, Any]:
                payloads, expect = templates[name]
                log(f"  {name}: {warmup} warm-up + {requests} requests, concurrency {concurrency}")
                result = run_load(
                    {
                        "port": port,
                        "payloads": payloads,
                        "expect": expect,
                        "requests": requests,
                        "warmup": warmup,
                        "concurrency": concurrency,
                        "server_pid": proc.pid,
                        "per_request": name == FRESH,
                        "timeout_s": 60,
                        "deadline_s": 600,
                    }
                )
                if proc.poll() is not None:
                    raise BenchError(f"the server died:\n{server_log.read_text()[-2000:]}")
                return result

            rounds = []
            for r in range(args.rounds):
                order = READS if r % 2 == 0 else tuple(reversed(READS))
                rnd = {name: load(name, args.requests, args.warmup, args.concurrency) for name in order}
                public = rnd["twin, public (no token)"]["requests_per_s"]
                rnd["ratio"] = rnd["twin, guarded (token verified)"]["requests_per_s"] / public
                rnd["ratio_fresh"] = rnd[FRESH]["requests_per_s"] / public
                # Less sensitive to other load on the machine: the server's own CPU per request.
                rnd["cpu_ratio"] = cpu_ratio(rnd["twin, public (no token)"], rnd["twin, guarded (token verified)"])
                rnd["cpu_ratio_fresh"] = cpu_ratio(rnd["twin, public (no token)"], rnd[FRESH])
                rounds.append(rnd)
            logins = {
                name: load(name, args.logins, max(2, args.logins // 10), args.login_concurrency) for name in LOGINS
            }
    finally:
        server_log.unlink(missing_ok=True)
    failures = [
        (name, p["statuses"], p["errors"][:3])
        for phase_set in [*rounds, logins]
        for name, p in phase_set.items()
        if isinstance(p, dict) and (p["unexpected"] or p["error_count"] or p["warmup"]["error_count"])
    ]
    return {
        "server_startup_s": startup,
        "rounds": rounds,
        "ratio_median": statistics.median(r["ratio"] for r in rounds),
        "ratio_fresh_median": statistics.median(r["ratio_fresh"] for r in rounds),
        "cpu_ratio_median": median_or_none([r["cpu_ratio"] for r in rounds]),
        "cpu_ratio_fresh_median": median_or_none([r["cpu_ratio_fresh"] for r in rounds]),
        "logins": logins,
        "failures": failures,
    }


# --- report --------------------------------------------------------------------------------------------


def cpu_ms(phase: dict[str, Any], key: str) -> str:
    value = phase["cpu_s"][key]
    return "-" if value is None else f"{value / phase['completed'] * 1000:.2f}"


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def render(results: dict[str, Any]) -> str:
    m = results["measured"]
    a = results["argon2"]
    lines = [
        "",
        f"localgov auth benchmark — {results['machine']['cpus']} CPUs, PostgreSQL {results['postgres_version']} "
        f"({results['database_server']} server), code {results['git_commit']}",
        "",
        f"{'phase':<54}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'server CPU ms/req':>19}",
        "-" * 100,
    ]
    for i, rnd in enumerate(m["rounds"], 1):
        for name in READS:
            p = rnd[name]
            lines.append(
                f"{f'round {i}: {name}':<54}{p['requests_per_s']:>9.0f}{p['latency_ms']['p50']:>9.2f}"
                f"{p['latency_ms']['p99']:>9.2f}{cpu_ms(p, 'server'):>19}"
            )
        ok = "ok" if rnd["ratio"] >= TARGET_RATIO else "MISS"
        lines.append(f"{f'round {i}: ratio guarded / public twin':<54}{rnd['ratio']:>9.3f}   target >= 0.9  {ok}")
        lines.append(f"{f'round {i}: ratio guarded, new tokens / public twin':<54}{rnd['ratio_fresh']:>9.3f}")
        if rnd["cpu_ratio"] is not None and rnd["cpu_ratio_fresh"] is not None:
            lines.append(
                f"{f'round {i}: server CPU/req public / guarded (reused; new)':<54}"
                f"{rnd['cpu_ratio']:>9.3f}{rnd['cpu_ratio_fresh']:>9.3f}"
            )
    for name, p in m["logins"].items():
        lines.append(
            f"{name:<54}{p['requests_per_s']:>9.1f}{p['latency_ms']['p50']:>9.0f}"
            f"{p['latency_ms']['p99']:>9.0f}{cpu_ms(p, 'server'):>19}"
        )
    lines += [
        "",
        f"ratio guarded / public twin, median of {len(m['rounds'])} rounds: {m['ratio_median']:.3f} (target >= 0.9); "
        f"with a new token on every request: {m['ratio_fresh_median']:.3f}",
        f"server CPU per request, public / guarded, median: {fmt(m['cpu_ratio_median'])} with the token reused, "
        f"{fmt(m['cpu_ratio_fresh_median'])} with a new token every request",
        f"argon2{a['type']} t={a['time_cost']}, m={a['memory_kib'] // 1024} MiB, p={a['parallelism']}: one "
        f"verification {a['verify_ms_median']:.0f} ms (median of 5, this process); logins use "
        f"{results['args']['login_concurrency']} connections, one account each",
        f"{results['args']['requests']} requests per read phase after {results['args']['warmup']} warm-up, "
        f"concurrency {results['args']['concurrency']}; whole run {results['run_seconds']:.0f} s",
    ]
    if results.get("background"):
        lines.append(
            f"busy CPU cores before the run (other load on the machine): {results['background']['busy_cores']:.2f}"
        )
    return "\n".join(lines)


def machine_busy_cores(sample_s: float = 2.0) -> dict[str, float] | None:
    before = _machine_busy_cpu_s()
    time.sleep(sample_s)
    after = _machine_busy_cpu_s()
    if before is None or after is None:
        return None
    return {"busy_cores": (after - before) / sample_s, "loadavg_1m": os.getloadavg()[0]}


def git_commit() -> str:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10, check=False
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src", "migrations", "bench/auth.py"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.strip()
        return head + ("+dirty" if dirty else "")
    return "unknown"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1500, help="measured requests per read phase")
    parser.add_argument("--warmup", type=int, default=300, help="warm-up requests per read phase")
    parser.add_argument("--concurrency", type=int, default=16, help="connections of the read phases")
    parser.add_argument("--rounds", type=int, default=6, help="rounds of read phases (order alternates)")
    parser.add_argument("--logins", type=int, default=40, help="measured requests per login phase")
    parser.add_argument("--login-concurrency", type=int, default=4, help="connections (and accounts) of logins")
    parser.add_argument("--database-url", default=None, help=f"admin URL of a loopback server (env {ENV_VAR})")
    parser.add_argument("--strict", action="store_true", help="exit 3 when the ratio misses its target")
    parser.add_argument("--serve", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--loadgen", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for name in ("requests", "concurrency", "rounds", "logins", "login_concurrency"):
        if not 1 <= getattr(args, name) <= 100_000:
            parser.error(f"--{name.replace('_', '-')} must be between 1 and 100000")
    if args.login_concurrency > API_CLIENTS:
        parser.error(f"--login-concurrency must be at most {API_CLIENTS}")
    return args


def main(argv: list[str] | None = None) -> int:
    from localgov.metadata import INSTALLATION
    from localgov.platform.installation import install

    install(INSTALLATION)  # a composition root: the platform provisions the core tables and the registry
    args = parse_args(argv)
    if args.loadgen:
        return loadgen_main()
    if args.serve is not None:
        return serve(args.serve)
    started = time.perf_counter()
    stamp = dt.datetime.now(dt.UTC)
    keep: dict[str, Any] = {}
    background = machine_busy_cores()
    admin, source = choose_server(args.database_url, keep)
    url = asyncio.run(create_database(admin))
    secret_key = secrets.token_hex(32)
    try:
        log("migrating the shared schema; one LAO, its API clients and operator accounts")
        fixture = asyncio.run(setup(url, secret_key, args.login_concurrency, args.requests + args.warmup))
        log("argon2 in this process")
        argon2 = argon2_facts()
        log("starting the server and driving it")
        measured = measure(url, fixture, secret_key, args)
        import asyncpg

        async def version() -> str:
            conn = await asyncpg.connect(url)
            try:
                return str(await conn.fetchval("SHOW server_version"))
            finally:
                await conn.close()

        results: dict[str, Any] = {
            "benchmark": "auth",
            "timestamp": stamp.isoformat(timespec="seconds"),
            "git_commit": git_commit(),
            "args": {k: v for k, v in vars(args).items() if k not in ("serve", "loadgen", "database_url")},
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
            "database_server": source,
            "postgres_version": asyncio.run(version()),
            "background": background,
            "argon2": argon2,
            "measured": measured,
            "run_seconds": time.perf_counter() - started,
        }
        RESULTS.mkdir(exist_ok=True)
        out = RESULTS / f"auth-{stamp.strftime('%Y%m%dT%H%M%SZ')}.json"
        out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(render(results))
        print(f"\nresults: {out.relative_to(ROOT)}")
        if measured["failures"]:
            raise BenchError(f"unexpected responses or connection errors: {measured['failures']}")
        if args.strict and measured["ratio_median"] < TARGET_RATIO:
            return 3
        return 0
    except BenchError as exc:
        print(f"\nBENCHMARK FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        log("dropping the database")
        asyncio.run(drop_database(admin, url))


if __name__ == "__main__":
    sys.exit(main())
