"""Benchmark of citizen login end to end, against an OpenID Certified provider on loopback.

    .venv/bin/python bench/citizen_login.py [--logins 200] [--concurrency 4] [--database-url URL]

One run creates a database of its own (the server given, else 127.0.0.1:5432, else an embedded
pgserver, as ``bench/auth.py`` chooses), migrates it, creates one LAO and the platform's first
signing key, starts panva's ``oidc-provider`` (``tests/oidc``, ``npm ci`` there first) under Node
with one account per login and the platform registered with ``private_key_jwt``, and serves the
application under uvicorn on a loopback port in this process. Each login is what a citizen's
browser does: ``GET /v1/auth/citizen/login`` on the LAO's host, the provider's authorization
endpoint, its sign-in form, the platform's one redirect URI on the operator host, and the LAO's
callback, which spends the state, checks the browser binding, redeems the code (signing a client
assertion), verifies the ID token, reads userinfo and issues this LAO's tokens.

Figures: citizen logins per second end to end (the provider's own work included: it runs on the
same two cores), and the p50/p95 of the LAO's callback alone (the code exchange, the ID token
and the userinfo round trips to the provider are part of it). The loops are bounded by
``--logins`` and per-request timeouts; only loopback addresses are used. The results are printed
and written to ``bench/results/citizen-login-<UTC timestamp>.json`` (git-ignored); the database
is dropped in a ``finally``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import uvicorn

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
OIDC_DIR = ROOT / "tests" / "oidc"
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(ROOT / "src"))

from auth import choose_server, create_database, drop_database  # noqa: E402  (bench/ is not a package)

from localgov.app import create_app  # noqa: E402
from localgov.kernel.auth.keys import KeyStore, ensure_key  # noqa: E402
from localgov.kernel.db import create_engine  # noqa: E402
from localgov.metadata import INSTALLATION  # noqa: E402
from localgov.platform.installation import install  # noqa: E402
from localgov.platform.migrate import upgrade_shared  # noqa: E402
from localgov.platform.provisioning import ProfileSeed  # noqa: E402
from localgov.platform.registry import registry  # noqa: E402
from localgov.platform.tenants import TenantSpec, create_tenant  # noqa: E402
from localgov.settings import Settings  # noqa: E402

SECRET_KEY = "bench-citizen-login-secret-key-0123456789"  # noqa: S105 (a throw-away benchmark key)
CLIENT_ID = "localgov-platform"
TIMEOUT_S = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def start_provider(port: int, app_port: int, jwks: dict[str, Any], logins: int) -> subprocess.Popen[str]:
    node = shutil.which("node")
    if node is None or not (OIDC_DIR / "node_modules" / "oidc-provider").is_dir():
        raise SystemExit(f"needs node and `npm ci` in {OIDC_DIR}")
    config = {
        "port": port,
        "clients": [
            {
                "client_id": CLIENT_ID,
                "token_endpoint_auth_method": "private_key_jwt",
                "token_endpoint_auth_signing_alg": "ES256",
                "jwks": jwks,
                "redirect_uris": [f"http://localhost:{app_port}/oidc/callback"],
            }
        ],
        "accounts": {
            f"citizen-{i}": {"name": f"ประชาชน {i}", "email": f"c{i}@example.org", "email_verified": True}
            for i in range(logins)
        },
        "acrValues": [],
    }
    process = subprocess.Popen(
        [node, str(OIDC_DIR / "provider.mjs"), json.dumps(config)],
        cwd=OIDC_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()  # blocks until it listens (or exits: empty line)
    if not line.startswith("listening "):
        process.kill()
        raise SystemExit("oidc-provider did not start")
    return process


def _local(url: str) -> tuple[str, dict[str, str]]:
    """An absolute URL on *.localhost: the loopback address and the Host header (Python does not
    resolve subdomains of localhost)."""
    parts = urlsplit(url)
    target = f"http://127.0.0.1:{parts.port}{parts.path}" + (f"?{parts.query}" if parts.query else "")
    return target, {"Host": parts.netloc}


async def one_login(slug: str, app_port: int, issuer: str, account: str) -> tuple[float, float]:
    """One citizen's login; returns (total seconds, callback seconds)."""
    began = time.perf_counter()
    async with (  # plain HTTP on loopback: no TLS context to build for each simulated browser
        httpx.AsyncClient(timeout=TIMEOUT_S, verify=False) as app,  # noqa: S501
        httpx.AsyncClient(timeout=TIMEOUT_S, verify=False) as op,  # noqa: S501
    ):
        lao = {"Host": f"{slug}.localhost:{app_port}"}
        start = await app.get(f"http://127.0.0.1:{app_port}/v1/auth/citizen/login", headers=lao)
        assert start.status_code == 302, start.text
        response = await op.get(start.headers["location"])
        while response.status_code in (302, 303):
            response = await op.get(urljoin(str(response.url), response.headers["location"]))
        action = response.text.split('<form method="post" action="', 1)[1].split('"', 1)[0]
        response = await op.post(urljoin(str(response.url), action), data={"login": account, "acr": ""})
        location = response.headers["location"]
        while location.startswith(issuer):
            response = await op.get(location)
            location = urljoin(location, response.headers["location"])
        url, host = _local(location)
        bounced = await app.get(url, headers=host)
        assert bounced.status_code == 302, bounced.text
        url, host = _local(bounced.headers["location"])
        app.cookies.set("localgov_citizen_login", start.cookies["localgov_citizen_login"])
        t0 = time.perf_counter()
        done = await app.get(url, headers=host)
        callback_s = time.perf_counter() - t0
        assert done.status_code == 200, done.text
        assert done.json()["access_token"]
    return time.perf_counter() - began, callback_s


async def run(args: argparse.Namespace, admin: str, source: str) -> dict[str, Any]:
    url = await create_database(admin)
    provider: subprocess.Popen[str] | None = None
    try:
        app_port, op_port = free_port(), free_port()
        settings = Settings(
            database_url=url,
            env="development",
            base_domain="localhost",
            secret_key=SECRET_KEY,
            log_level="WARNING",
            public_url_scheme="http",
            public_url_port=app_port,
            oidc_issuer=f"http://127.0.0.1:{op_port}",
            oidc_client_id=CLIENT_ID,
            oidc_client_auth="private_key_jwt",
            login_rate_limit=1_000_000,
        )
        engine = create_engine(settings)
        try:
            await upgrade_shared(engine)
            await ensure_key(engine, SECRET_KEY)
            code = sorted(registry())[0]
            slug = f"t{code}"
            async with engine.begin() as conn:
                await create_tenant(
                    conn,
                    TenantSpec(
                        dla_code=code,
                        slug=slug,
                        name_en="Bench LAO",
                        enabled_services=[],
                        status="active",
                        domains=[],
                        contact=ProfileSeed(phone="0-0", email="bench@example.org"),
                    ),
                    source="file",
                )
            keys = KeyStore(SECRET_KEY)
            await keys.load(engine)
            jwks = keys.jwks()
        finally:
            await engine.dispose()
        provider = start_provider(op_port, app_port, jwks, args.logins)
        server = uvicorn.Server(uvicorn.Config(create_app(settings), log_config=None, access_log=False, lifespan="on"))
        sock = socket.socket()
        sock.bind(("127.0.0.1", app_port))
        task = asyncio.create_task(server.serve(sockets=[sock]))
        async with asyncio.timeout(60):
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.05)
        try:
            issuer = settings.oidc_issuer
            await one_login(slug, app_port, issuer, "citizen-0")  # warm-up: discovery, keys, connections
            gate = asyncio.Semaphore(args.concurrency)

            async def guarded(i: int) -> tuple[float, float]:
                async with gate:
                    return await one_login(slug, app_port, issuer, f"citizen-{i}")

            began = time.perf_counter()
            async with asyncio.timeout(TIMEOUT_S * args.logins):
                results = await asyncio.gather(*(guarded(i) for i in range(args.logins)))
            wall = time.perf_counter() - began
        finally:
            server.should_exit = True
            await asyncio.wait_for(task, timeout=30)
            sock.close()
        totals, callbacks = [r[0] for r in results], [r[1] for r in results]
        return {
            "logins": args.logins,
            "concurrency": args.concurrency,
            "database": source,
            "logins_per_s": round(args.logins / wall, 1),
            "login_p50_ms": round(statistics.median(totals) * 1000, 1),
            "login_p95_ms": round(percentile(totals, 0.95) * 1000, 1),
            "callback_p50_ms": round(statistics.median(callbacks) * 1000, 1),
            "callback_p95_ms": round(percentile(callbacks, 0.95) * 1000, 1),
            "cpus": os.cpu_count(),
        }
    finally:
        if provider is not None:
            provider.terminate()
            provider.wait(10)
            if provider.stdout is not None:
                provider.stdout.close()
        await drop_database(admin, url)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--logins", type=int, default=200, help="measured logins (one account each)")
    parser.add_argument("--concurrency", type=int, default=4, help="logins in flight at once")
    parser.add_argument("--database-url", default=None, help="admin URL of a loopback PostgreSQL")
    args = parser.parse_args()
    if args.logins < 1 or args.concurrency < 1:
        parser.error("--logins and --concurrency must be positive")
    install(INSTALLATION)  # a composition root: the platform provisions the core tables and the registry
    keep: dict[str, Any] = {}  # an embedded server, if one is started, lives as long as this
    admin, source = choose_server(args.database_url, keep)
    figures = asyncio.run(run(args, admin, source))
    for name, value in figures.items():
        print(f"{name:>18}: {value}")
    RESULTS.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    (RESULTS / f"citizen-login-{stamp}.json").write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
