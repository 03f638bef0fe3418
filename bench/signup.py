"""Benchmark of self-service signup (issue 4): approval to a live tenant, and signups per minute.

    .venv/bin/python bench/signup.py [--signups 100] [--burst 10] [--concurrency 16] [--duration 30]
                                     [--full-concurrency 8] [--full-duration 60] [--database-url URL]

One run creates a database of its own (the server given, else 127.0.0.1:5432, else an embedded
pgserver; loopback only), migrates it with the real ``localgov migrate``, adds a ``platform_admin``
with the real ``localgov operators add`` (password on standard input), starts the real
``localgov worker`` (mail to ``file://<temporary folder>``) and ``localgov serve`` (production mode,
signup rate limits raised: one client address sends everything), and then:

1. *approval → live*, one signup at a time: ``POST /v1/signup``, the verification link read from the
   ``.eml`` file the worker writes, ``POST /v1/signup/verify``, a check that the new host answers 404,
   ``POST /v1/signups/{id}/approve`` with the operator's bearer token, and from the arrival of that
   202 a poll of ``GET /v1/tenant`` on the new host every ``--poll-ms`` until it answers 200. Where
   the time went comes from the database: the worker's transaction start (``provisioned_at``), the
   ``signup.provisioned`` audit event's ``data.seconds``, the outbox entry's ``delivered_at``, and
   when the tenant's catalog NOTIFY reached a LISTEN connection of this script (the commit).
2. *burst*: ``--burst`` verified requests approved at once (concurrent requests), each polled.
3. *submit throughput*: ``--concurrency`` clients (a subprocess of this script on raw keep-alive
   HTTP/1.1, ``bench/loadgen.py``'s reader) send ``POST /v1/signup`` back to back for
   ``--duration`` seconds, the worker delivering the verification mails meanwhile; then the time
   the worker needs to deliver them all.
4. *full signups*: the server restarted with ``LOCALGOV_SIGNUP_AUTO_APPROVE=true``;
   ``--full-concurrency`` clients each submit, wait for their mail, verify (which approves) and poll
   their tenant (every ``--full-poll-ms``) until it answers 200, then start the next one, for
   ``--full-duration`` seconds: complete signups per minute, bounded by the worker's provisioning.

``--workers N`` starts N worker processes, ``--worker-setting name=value`` passes settings to them.

It prints a table, writes ``bench/results/signup-<UTC timestamp>.json`` and drops its database in a
``finally``. Any unexpected status, a dead outbox entry or a failed provisioning fails the run
(exit 1); ``--strict`` exits 3 when the p95 target (approval → 200 < 1 s) is missed. Not a test.
See bench/README.md, section "Signup".
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import email
import email.policy
import itertools
import json
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy.engine import make_url

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import core  # noqa: E402  (bench/ is not a package; the helpers of bench/core.py)
from core import BASE_DOMAIN, ROOT, BenchError, log, percentile  # noqa: E402
from loadgen import (  # noqa: E402
    ResponseError,
    _machine_busy_cpu_s,
    _proc_cpu_s,
    _process_tree_cpu_s,
    _read_response,
    _self_cpu_s,
)

RESULTS = BENCH / "results"
OPERATOR_HOST = BASE_DOMAIN  # the operator API is served at the bare base domain
OPERATOR_EMAIL = "signup-operator@bench.example"
OPERATOR_PASSWORD = "bench operator password, long enough"  # noqa: S105 (a throw-away account)
PLANS = ("basic", "standard", "premium")
TARGET_P95_S = 1.0
#: The limits are per client address, and one address sends everything here.
RAISED_LIMITS = {"signup_rate_limit": str(10**6), "signup_link_rate_limit": str(10**6)}
VERIFY_RE = re.compile(r"/signup/verify\?token=([A-Za-z0-9_-]+)")
PROVISION_TOPIC = "platform.signup_provision"
MAX_ERRORS = 50


def slug_of(code: str) -> str:
    return f"lao{code}"


def form(code: str) -> dict[str, Any]:
    return {
        "dla_code": code,
        "slug": slug_of(code),
        "plan_code": PLANS[int(code) % len(PLANS)],
        "contact_name": "นางสาวสมหญิง ทดสอบระบบ",
        "contact_position": "นักวิชาการคอมพิวเตอร์ปฏิบัติการ",
        "contact_email": f"it.{code}@bench.example",
        "contact_phone": "053-123456",
        "accept_terms": True,
    }


def stats_ms(seconds: list[float]) -> dict[str, float]:
    if not seconds:
        return {}
    ms = sorted(s * 1000 for s in seconds)
    return {
        "n": len(ms),
        "p50": percentile(ms, 50),
        "p95": percentile(ms, 95),
        "p99": percentile(ms, 99),
        "max": ms[-1],
        "mean": sum(ms) / len(ms),
    }


# --- the mail folder --------------------------------------------------------------------------------


class Mailbox:
    """Verification tokens from the ``.eml`` files the worker writes, by recipient address."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.seen: set[str] = set()
        self.tokens: dict[str, str] = {}
        self.files = 0

    def scan(self) -> None:
        """Read the files written since the last scan (the backend renames finished files into place)."""
        with os.scandir(self.folder) as entries:
            fresh = [e.name for e in entries if e.name.endswith(".eml") and not e.name.startswith(".")]
        for name in fresh:
            if name in self.seen:
                continue
            self.seen.add(name)
            self.files += 1
            message = email.message_from_bytes((self.folder / name).read_bytes(), policy=email.policy.default)
            body = message.get_body(preferencelist=("plain",))
            found = VERIFY_RE.search(body.get_content()) if body is not None else None
            if found:  # invitations to the new tenant go to the same address; only links count
                recipient = message["To"].addresses[0].addr_spec.lower()
                self.tokens[recipient] = found.group(1)

    async def token(self, address: str, timeout_s: float, every_s: float = 0.005) -> str:
        deadline = time.perf_counter() + timeout_s
        while True:
            self.scan()
            if address in self.tokens:
                return self.tokens.pop(address)
            if time.perf_counter() > deadline:
                raise BenchError(f"no verification mail to {address} within {timeout_s:.0f} s")
            await asyncio.sleep(every_s)


# --- processes -------------------------------------------------------------------------------------


def setup_database(url: str) -> dict[str, Any]:
    """The real CLI: ``localgov migrate`` (shared schema, first signing key), ``localgov operators add``."""
    migrate = core.time_cli(["migrate"], url, re.compile(r"^0 tenant schemas: 0 upgraded, 0 failed", re.M))
    proc = subprocess.run(
        [
            *core.localgov_command(),
            *("operators", "add", "--email", OPERATOR_EMAIL, "--name", "Bench Operator", "--role", "platform_admin"),
        ],
        input=OPERATOR_PASSWORD + "\n",
        env=core.cli_env(url, LOCALGOV_ENV="production"),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if proc.returncode != 0:
        raise BenchError(f"`localgov operators add` exited {proc.returncode}:\n{(proc.stdout + proc.stderr)[-2000:]}")
    return {"migrate_s": migrate["wall_s"]}


@contextlib.contextmanager
def running_worker(
    url: str, mail_dir: Path, log_path: Path, settings: dict[str, str]
) -> Iterator[subprocess.Popen[bytes]]:
    """``localgov worker`` in production mode, mail to ``file://mail_dir``; SIGTERM (then SIGKILL) after."""
    extra = {f"LOCALGOV_{name.upper()}": value for name, value in settings.items()}
    env = core.cli_env(
        url,
        LOCALGOV_ENV="production",
        LOCALGOV_BASE_DOMAIN=BASE_DOMAIN,
        LOCALGOV_MAIL_URL=f"file://{mail_dir}",
        **extra,
    )
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(
            [*core.localgov_command(), "worker"], env=env, cwd=ROOT, stdout=log_file, stderr=subprocess.STDOUT
        )
        try:
            yield proc
        finally:
            core.stop_process(proc, grace_s=30)


@contextlib.contextmanager
def running_workers(
    url: str, mail_dir: Path, scratch: Path, tag: str, args: argparse.Namespace
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``--workers`` worker processes (they claim outbox entries with SKIP LOCKED), same mail folder."""
    with contextlib.ExitStack() as stack:
        yield [
            stack.enter_context(running_worker(url, mail_dir, scratch / f"worker-{tag}{i}.log", args.worker_setting))
            for i in range(args.workers)
        ]


async def wait_listening(
    url: str, procs: list[subprocess.Popen[bytes]], catalog: int, outbox: int, timeout_s: float = 60
) -> None:
    """Until ``catalog`` catalog listeners and ``outbox`` workers' outbox listeners are connected (LISTEN)."""
    conn = await asyncpg.connect(url)
    try:
        deadline = time.perf_counter() + timeout_s
        while time.perf_counter() < deadline:
            for proc in procs:
                if proc.poll() is not None:
                    raise BenchError(f"{proc.args!r} exited with {proc.returncode}")
            rows = await conn.fetch(
                "SELECT application_name, count(*) AS n FROM pg_stat_activity"
                " WHERE datname = current_database() GROUP BY 1"
            )
            counts = {r["application_name"]: r["n"] for r in rows}
            if counts.get("localgov-catalog", 0) >= catalog and counts.get("localgov-worker-listen", 0) >= outbox:
                return
            await asyncio.sleep(0.1)
    finally:
        await conn.close()
    raise BenchError(f"the listeners did not connect within {timeout_s:.0f} s")


class CpuWindow:
    """CPU seconds of the server, the worker, PostgreSQL (all backends), this process and the machine.

    ``client`` is the process that samples: the one driving the requests.
    """

    def __init__(self, pids: dict[str, Any]) -> None:
        self.pids: dict[str, list[int]] = {"server": [pids["server"]], "worker": list(pids["worker"])}
        self.postgres: int | None = pids.get("postgres")

    def sample(self) -> dict[str, float | None]:
        out: dict[str, float | None] = {}
        for name, pids in self.pids.items():
            each = [_proc_cpu_s(pid) for pid in pids]
            out[name] = None if None in each else sum(v for v in each if v is not None)
        out["postgres"] = _process_tree_cpu_s(self.postgres)
        out["client"] = _self_cpu_s()
        out["machine"] = _machine_busy_cpu_s()
        out["t"] = time.perf_counter()
        return out

    @staticmethod
    def cores(before: dict[str, float | None], after: dict[str, float | None], units: int) -> dict[str, Any]:
        """Busy cores of each over the window, the others' (``other``), and CPU ms per unit of work."""
        elapsed = float(after["t"] or 0) - float(before["t"] or 0)
        out: dict[str, Any] = {"elapsed_s": elapsed, "units": units}
        seconds: dict[str, float | None] = {}
        for name in ("server", "worker", "postgres", "client", "machine"):
            a, b = before.get(name), after.get(name)
            seconds[name] = None if a is None or b is None else b - a
        if None not in seconds.values():
            own = sum(v for k, v in seconds.items() if k != "machine" and v is not None)
            seconds["other"] = float(seconds["machine"] or 0) - own
        for name, value in seconds.items():
            out[name] = None if value is None or elapsed <= 0 else value / elapsed
            if name != "machine":
                out[f"{name}_ms_per_unit"] = None if value is None or not units else value / units * 1000
        return out


# --- phases 1 and 2: approval to a live tenant (this process, httpx) -----------------------------


class Operator:
    """The operator API at the bare base domain, with a bearer token renewed before it expires."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.token = ""
        self.expires = 0.0

    async def headers(self) -> dict[str, str]:
        if time.monotonic() > self.expires:
            r = await self.client.post(
                "/v1/operator/auth/login",
                json={"email": OPERATOR_EMAIL, "password": OPERATOR_PASSWORD},
                headers={"Host": OPERATOR_HOST},
            )
            expect(r, 200, "operator login")
            self.token = r.json()["access_token"]
            self.expires = time.monotonic() + int(r.json()["expires_in"]) - 60
        return {"Host": OPERATOR_HOST, "Authorization": f"Bearer {self.token}"}


def expect(response: httpx.Response, status: int, what: str) -> None:
    if response.status_code != status:
        raise BenchError(f"{what}: {response.status_code} (expected {status}): {response.text[:500]}")


async def verified_request(client: httpx.AsyncClient, mailbox: Mailbox, code: str) -> dict[str, Any]:
    """Submit and verify one signup (the request then waits for the operator); its timings."""
    body = form(code)
    t0 = time.perf_counter()
    r = await client.post("/v1/signup", json=body, headers={"Host": OPERATOR_HOST})
    expect(r, 201, f"POST /v1/signup {code}")
    t1 = time.perf_counter()
    signup_id = int(r.json()["request"]["id"])
    token = await mailbox.token(body["contact_email"], timeout_s=60)
    t2 = time.perf_counter()
    r = await client.post("/v1/signup/verify", json={"token": token}, headers={"Host": OPERATOR_HOST})
    expect(r, 200, f"POST /v1/signup/verify {code}")
    if r.json()["status"] != "pending_approval":
        raise BenchError(f"verified request {signup_id} is {r.json()['status']}, not pending_approval")
    host = f"{body['slug']}.{BASE_DOMAIN}"
    r = await client.get("/v1/tenant", headers={"Host": host})
    expect(r, 404, f"GET /v1/tenant on {host} before approval")
    return {"code": code, "id": signup_id, "host": host, "submit_s": t1 - t0, "mail_s": t2 - t1}


async def approve_and_poll(
    client: httpx.AsyncClient, operator: Operator, item: dict[str, Any], poll_s: float, timeout_s: float = 120
) -> dict[str, Any]:
    """Approve, then poll the new host from the arrival of the 202 until it answers 200."""
    headers = await operator.headers()
    r = await client.post(f"/v1/signups/{item['id']}/approve", headers=headers)
    expect(r, 202, f"approve {item['id']}")
    t0, wall0 = time.perf_counter(), time.time()
    polls = 0
    while True:
        r = await client.get("/v1/tenant", headers={"Host": item["host"]})
        polls += 1
        if r.status_code == 200:
            break
        expect(r, 404, f"GET /v1/tenant on {item['host']} while provisioning")
        now = time.perf_counter()
        if now - t0 > timeout_s:
            raise BenchError(f"{item['host']} did not answer 200 within {timeout_s:.0f} s of its approval")
        await asyncio.sleep(max(0.0, t0 + polls * poll_s - now))
    live = time.perf_counter() - t0
    if r.json().get("dla_code") != item["code"]:
        raise BenchError(f"{item['host']} answered another tenant: {r.text[:300]}")
    return {**item, "approved_at": wall0, "live_s": live, "polls": polls}


@contextlib.asynccontextmanager
async def catalog_notifications(url: str) -> AsyncIterator[dict[int, float]]:
    """When each tenant's catalog NOTIFY reached a listener of our own (``time.time()``, first one).

    The servers' catalogs react to the same notification, sent when the worker's transaction commits.
    """
    seen: dict[int, float] = {}

    def record(_conn: Any, _pid: int, _channel: str, payload: str) -> None:
        if payload.isdigit():
            seen.setdefault(int(payload), time.time())

    conn = await asyncpg.connect(url)
    try:
        await conn.add_listener("localgov_catalog", record)
        yield seen
    finally:
        await conn.close()


async def latency_phase(
    url: str, port: int, mailbox: Mailbox, codes: list[str], warmup: int, poll_s: float
) -> list[dict[str, Any]]:
    async with (
        catalog_notifications(url) as notified,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client,
    ):
        operator = Operator(client)
        out = []
        for n, code in enumerate(codes):
            item = await verified_request(client, mailbox, code)
            out.append({**await approve_and_poll(client, operator, item, poll_s), "warmup": n < warmup})
            if (n + 1) % 25 == 0:
                log(f"  {n + 1}/{len(codes)} signups approved and live")
        await asyncio.sleep(0.1)
    await breakdown(url, out, notified)
    return out


async def burst_phase(url: str, port: int, mailbox: Mailbox, codes: list[str], poll_s: float) -> dict[str, Any]:
    async with (
        catalog_notifications(url) as notified,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client,
    ):
        operator = Operator(client)
        await operator.headers()
        items = [await verified_request(client, mailbox, code) for code in codes]
        started = time.perf_counter()
        done = list(await asyncio.gather(*(approve_and_poll(client, operator, item, poll_s) for item in items)))
        all_live = time.perf_counter() - started
        await asyncio.sleep(0.1)
    await breakdown(url, done, notified)
    return {"items": done, "all_live_s": all_live}


async def breakdown(url: str, items: list[dict[str, Any]], notified: dict[int, float]) -> None:
    """Where each approval's time went, from the database (same clock: PostgreSQL runs on this machine).

    *to worker*: approve answer → the worker's transaction began (``provisioned_at`` is its ``now()``);
    *provision*: the ``signup.provisioned`` audit event's ``data.seconds`` (create_tenant, the
    plugins' defaults, the admin invitation); *in worker*: transaction start → the outbox entry marked
    delivered (claim, every entry of the batch before it, this one); *to commit*: delivered → the
    tenant's catalog NOTIFY reached our listener (the rest of the batch, its COMMIT); *to 200*: NOTIFY →
    first 200 (the server's catalog reload after its 50 ms coalescing pause, the poll interval).
    """
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            """
            SELECT s.id, s.status, s.tenant_id, extract(epoch FROM s.provisioned_at) AS provisioned_at,
                   (a.data->>'seconds')::float AS seconds, extract(epoch FROM o.delivered_at) AS delivered_at
              FROM platform.signup_requests s
              LEFT JOIN platform.operator_audit_events a
                     ON a.action = 'signup.provisioned' AND a.target = 'signup:' || s.id
              LEFT JOIN platform.outbox o
                     ON o.topic = $2 AND (o.payload->>'signup_id')::bigint = s.id
             WHERE s.id = ANY($1::bigint[])
            """,
            [i["id"] for i in items],
            PROVISION_TOPIC,
        )
    finally:
        await conn.close()
    by_id = {r["id"]: r for r in rows}
    for item in items:
        row = by_id.get(item["id"])
        if row is None or row["status"] != "active" or row["seconds"] is None or row["delivered_at"] is None:
            raise BenchError(f"signup {item['id']} is not active with its audit event and outbox entry: {row}")
        if row["tenant_id"] not in notified:
            raise BenchError(f"no catalog NOTIFY seen for tenant {row['tenant_id']} (signup {item['id']})")
        live_at = item["approved_at"] + item["live_s"]
        item["to_worker_s"] = float(row["provisioned_at"]) - item["approved_at"]
        item["in_worker_s"] = float(row["delivered_at"]) - float(row["provisioned_at"])
        item["provision_s"] = float(row["seconds"])
        item["to_commit_s"] = notified[row["tenant_id"]] - float(row["delivered_at"])
        item["to_200_s"] = live_at - notified[row["tenant_id"]]


def latency_summary(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        name: stats_ms([i[name] for i in items])
        for name in (
            "live_s",
            "to_worker_s",
            "in_worker_s",
            "provision_s",
            "to_commit_s",
            "to_200_s",
            "submit_s",
            "mail_s",
        )
    } | {"polls_mean": sum(i["polls"] for i in items) / len(items)}


# --- phases 3 and 4: the client subprocess (raw keep-alive HTTP/1.1) -------------------------------


def http_request(method: str, path: str, host: str, body: bytes = b"") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: localgov-bench\r\nAccept: application/json\r\n"
    if method == "POST":
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return (head + "\r\n").encode("ascii") + body


class Connection:
    """One keep-alive connection; reopened when the server closes it or a request fails."""

    def __init__(self, port: int, timeout_s: float, errors: list[str]) -> None:
        self.port, self.timeout, self.errors = port, timeout_s, errors
        self.rw: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def request(self, payload: bytes) -> int | None:
        """The response's status, or None after a connection error (recorded)."""
        try:
            if self.rw is None:
                self.rw = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", self.port), self.timeout)
            reader, writer = self.rw
            writer.write(payload)
            status, close = await asyncio.wait_for(_read_response(reader), self.timeout)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ResponseError, ValueError) as exc:
            self.errors.append(f"{type(exc).__name__}: {exc}"[:200])
            self.close()
            if len(self.errors) > MAX_ERRORS:
                raise RuntimeError("too many connection errors; giving up") from exc
            return None
        if close:
            self.close()
        return status

    def close(self) -> None:
        if self.rw is not None:
            self.rw[1].close()
            self.rw = None


async def client_submit(cfg: dict[str, Any]) -> dict[str, Any]:
    """``concurrency`` clients POST /v1/signup back to back: ``warmup`` requests, then ``duration_s``."""
    port, timeout = int(cfg["port"]), float(cfg["timeout_s"])
    payloads = iter([http_request("POST", "/v1/signup", OPERATOR_HOST, json.dumps(f).encode()) for f in cfg["forms"]])
    errors: list[str] = []
    conns = [Connection(port, timeout, errors) for _ in range(int(cfg["concurrency"]))]

    async def drive(work: Iterator[bytes], stop_at: float) -> tuple[list[float], dict[str, int], bool]:
        latencies: list[float] = []
        statuses: dict[str, int] = {}
        exhausted = False

        async def one(conn: Connection) -> None:
            nonlocal exhausted
            while time.perf_counter() < stop_at:
                payload = next(work, None)  # shared iterator: each form is sent once
                if payload is None:
                    exhausted = True
                    return
                started = time.perf_counter()
                status = await conn.request(payload)
                key = str(status) if status is not None else "error"
                statuses[key] = statuses.get(key, 0) + 1
                if status is not None:
                    latencies.append(time.perf_counter() - started)

        await asyncio.wait_for(asyncio.gather(*(one(c) for c in conns)), float(cfg["deadline_s"]))
        return latencies, statuses, exhausted

    _, warm_statuses, _ = await drive(itertools.islice(payloads, int(cfg["warmup"])), float("inf"))
    cpu = CpuWindow(cfg["pids"])
    before = cpu.sample()
    started = time.perf_counter()
    latencies, statuses, exhausted = await drive(payloads, started + float(cfg["duration_s"]))
    elapsed = time.perf_counter() - started
    cores = CpuWindow.cores(before, cpu.sample(), sum(statuses.values()))
    for conn in conns:
        conn.close()
    return {
        "warmup_statuses": warm_statuses,
        "requests": sum(statuses.values()),
        "statuses": statuses,
        "elapsed_s": elapsed,
        "exhausted": exhausted,
        "latency_ms": stats_ms(latencies),
        "errors": errors[:10],
        "error_count": len(errors),
        "cores": cores,
    }


async def client_full(cfg: dict[str, Any]) -> dict[str, Any]:
    """Closed loop of complete signups: submit, mail, verify (auto-approves), poll until 200."""
    port, timeout = int(cfg["port"]), float(cfg["timeout_s"])
    poll_s = float(cfg["poll_ms"]) / 1000
    forms = iter(cfg["forms"])
    mailbox = Mailbox(Path(cfg["mail_dir"]))
    errors: list[str] = []
    failures: list[str] = []
    done: list[dict[str, Any]] = []
    cpu = CpuWindow(cfg["pids"])
    before = cpu.sample()
    started = time.perf_counter()
    stop_at = started + float(cfg["duration_s"])

    async def one(conn: Connection) -> None:
        while time.perf_counter() < stop_at and len(failures) < MAX_ERRORS:
            body = next(forms, None)
            if body is None:
                return
            t0 = time.perf_counter()
            status = await conn.request(http_request("POST", "/v1/signup", OPERATOR_HOST, json.dumps(body).encode()))
            t1 = time.perf_counter()
            if status != 201:
                failures.append(f"submit {body['dla_code']}: {status}")
                continue
            try:
                token = await mailbox.token(body["contact_email"], timeout_s=timeout, every_s=0.02)
            except BenchError as exc:
                failures.append(str(exc))
                continue
            t2 = time.perf_counter()
            verify = json.dumps({"token": token}).encode()
            status = await conn.request(http_request("POST", "/v1/signup/verify", OPERATOR_HOST, verify))
            t3 = time.perf_counter()
            if status != 200:
                failures.append(f"verify {body['dla_code']}: {status}")
                continue
            probe = http_request("GET", "/v1/tenant", f"{body['slug']}.{BASE_DOMAIN}")
            polls = 0
            while True:
                status = await conn.request(probe)
                polls += 1
                now = time.perf_counter()
                if status == 200 or (status not in (404, None)) or now - t3 > timeout:
                    break
                await asyncio.sleep(max(0.0, t3 + polls * poll_s - now))
            if status != 200:
                failures.append(f"tenant {body['dla_code']}: {status} after {now - t3:.1f} s")
                continue
            done.append(
                {
                    "submit_s": t1 - t0,
                    "mail_s": t2 - t1,
                    "verify_s": t3 - t2,
                    "live_s": now - t3,
                    "signup_s": now - t0,
                    "finished_at": now - started,
                }
            )

    conns = [Connection(port, timeout, errors) for _ in range(int(cfg["concurrency"]))]
    await asyncio.wait_for(asyncio.gather(*(one(c) for c in conns)), float(cfg["deadline_s"]))
    cores = CpuWindow.cores(before, cpu.sample(), len(done))
    for conn in conns:
        conn.close()
    window = float(cfg["duration_s"])
    in_window = [d for d in done if d["finished_at"] <= window]
    return {
        "duration_s": window,
        "elapsed_s": time.perf_counter() - started,
        "completed": len(done),
        "completed_in_window": len(in_window),
        "per_minute": len(in_window) / window * 60,
        **{
            name: stats_ms([d[name] for d in done]) for name in ("submit_s", "mail_s", "verify_s", "live_s", "signup_s")
        },
        "failures": failures[:10],
        "failure_count": len(failures),
        "errors": errors[:10],
        "error_count": len(errors),
        "mail_files": mailbox.files,
        "cores": cores,
    }


def client_main() -> int:
    cfg = json.load(sys.stdin)
    runner = client_full if cfg["mode"] == "full" else client_submit
    json.dump(asyncio.run(runner(cfg)), sys.stdout)
    return 0


def run_client(cfg: dict[str, Any]) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--client"],
        input=json.dumps(cfg),
        capture_output=True,
        text=True,
        timeout=float(cfg["deadline_s"]) + 120,
        check=False,
    )
    if proc.returncode != 0:
        raise BenchError(f"the client process failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


# --- the database's side -------------------------------------------------------------------------


async def outbox_drain(url: str, since: float, timeout_s: float = 300) -> dict[str, Any]:
    """Wait until the worker has delivered every outbox entry; how long after ``since`` (perf_counter)."""
    conn = await asyncpg.connect(url)
    try:
        deadline = time.perf_counter() + timeout_s
        while True:
            pending = await conn.fetchval("SELECT count(*) FROM platform.outbox WHERE status = 'pending'")
            if not pending:
                break
            if time.perf_counter() > deadline:
                raise BenchError(f"{pending} outbox entries still pending after {timeout_s:.0f} s")
            await asyncio.sleep(0.2)
        return {"drained_after_s": time.perf_counter() - since}
    finally:
        await conn.close()


async def mail_rate(url: str, after: dt.datetime) -> dict[str, Any]:
    conn = await asyncpg.connect(url)
    try:
        row = await conn.fetchrow(
            "SELECT count(*) AS n, extract(epoch FROM max(delivered_at) - min(created_at)) AS span,"
            " extract(epoch FROM percentile_disc(0.5) WITHIN GROUP (ORDER BY delivered_at - created_at)) AS p50,"
            " extract(epoch FROM max(delivered_at - created_at)) AS worst"
            " FROM platform.outbox WHERE topic = 'mail.send' AND created_at >= $1",
            after,
        )
    finally:
        await conn.close()
    n, span = int(row["n"]), float(row["span"] or 0)
    return {
        "mails": n,
        "per_s": n / span if span else None,
        "queued_p50_s": float(row["p50"] or 0),
        "queued_max_s": float(row["worst"] or 0),
    }


async def provision_facts(url: str, after: dt.datetime) -> dict[str, Any]:
    """Provisionings since ``after``: count, seconds (audit), and how the worker batched them."""
    conn = await asyncpg.connect(url)
    try:
        seconds = [
            float(r[0])
            for r in await conn.fetch(
                "SELECT (data->>'seconds')::float FROM platform.operator_audit_events"
                " WHERE action = 'signup.provisioned' AND occurred_at >= $1",
                after,
            )
        ]
        batches = await conn.fetch(
            "SELECT provisioned_at, count(*) AS n FROM platform.signup_requests"
            " WHERE provisioned_at >= $1 GROUP BY provisioned_at",
            after,
        )
    finally:
        await conn.close()
    sizes = sorted(int(b["n"]) for b in batches)
    return {
        "provisioned": len(seconds),
        "provision_ms": stats_ms(seconds),
        "worker_transactions": len(sizes),
        "per_transaction_max": sizes[-1] if sizes else 0,
        "per_transaction_mean": sum(sizes) / len(sizes) if sizes else 0,
    }


async def health_check(url: str) -> dict[str, Any]:
    """Nothing dead in the outbox, no failed provisioning, every active request's tenant routable."""
    conn = await asyncpg.connect(url)
    try:
        outbox = {
            f"{r['topic']}:{r['status']}": r["n"]
            for r in await conn.fetch("SELECT topic, status, count(*) AS n FROM platform.outbox GROUP BY 1, 2")
        }
        requests = {
            r["status"]: r["n"]
            for r in await conn.fetch("SELECT status, count(*) AS n FROM platform.signup_requests GROUP BY 1")
        }
        tenants = await conn.fetchval("SELECT count(*) FROM platform.tenants WHERE schema_revision IS NOT NULL")
    finally:
        await conn.close()
    out = {"outbox": outbox, "signup_requests": requests, "routable_tenants": tenants}
    if any(key.endswith(":dead") for key in outbox) or requests.get("failed") or requests.get("provisioning"):
        raise BenchError(f"dead outbox entries or failed provisioning: {out}")
    if requests.get("active", 0) != tenants:
        raise BenchError(f"{requests.get('active', 0)} active requests but {tenants} routable tenants: {out}")
    return out


# --- the run ---------------------------------------------------------------------------------------


def pick_codes(seed: int) -> list[str]:
    from localgov.platform.registry import registry

    codes = sorted(registry())
    random.Random(seed).shuffle(codes)
    return codes


def fmt(s: dict[str, Any], keys: tuple[str, ...] = ("p50", "p95", "max"), digits: int = 0) -> str:
    if not s:
        return "-"
    return " / ".join(f"{s[k]:.{digits}f}" for k in keys)


def cores_text(c: dict[str, Any]) -> str:
    def v(name: str) -> str:
        return "-" if c.get(name) is None else f"{c[name]:.2f}"

    return " / ".join(v(n) for n in ("server", "worker", "postgres", "client", "other"))


def per_unit_text(c: dict[str, Any]) -> str:
    def v(name: str) -> str:
        value = c.get(f"{name}_ms_per_unit")
        return "-" if value is None else f"{value:.1f}"

    return " / ".join(v(n) for n in ("server", "worker", "postgres"))


def render(r: dict[str, Any]) -> str:
    lines = [
        "",
        f"localgov signup benchmark — {r['machine']['cpus']} CPUs, PostgreSQL {r['postgres']['version']} "
        f"({r['database_server']} server), code {r['code']}",
        "",
        f"{'figure':<66}{'value':>30}   target",
        "-" * 110,
    ]

    def row(label: str, value: str, target: str = "", ok: bool | None = None) -> None:
        tail = f"   {target:<10}{'ok' if ok else 'MISS'}" if ok is not None else ""
        lines.append(f"{label:<66}{value:>30}{tail}")

    lat = r["latency"]["summary"]
    n = lat["live_s"]["n"]
    row(f"approval → 200, one at a time, n={n}: p50 / p95 / max (ms)", fmt(lat["live_s"]))
    row(
        "  p95 (s)",
        f"{lat['live_s']['p95'] / 1000:.3f}",
        f"< {TARGET_P95_S:g} s",
        lat["live_s"]["p95"] < TARGET_P95_S * 1000,
    )
    row("  to worker: 202 → worker transaction begins (ms)", fmt(lat["to_worker_s"]))
    row("  in worker: transaction begins → entry delivered (ms)", fmt(lat["in_worker_s"]))
    row("    of which provisioning (audit data.seconds) (ms)", fmt(lat["provision_s"]))
    row("  to commit: delivered → catalog NOTIFY received (ms)", fmt(lat["to_commit_s"]))
    row("  to 200: NOTIFY → first 200 (catalog reload, poll interval) (ms)", fmt(lat["to_200_s"]))
    row(f"  polls per signup (every {r['args']['poll_ms']} ms), mean", f"{lat['polls_mean']:.1f}")
    row("  POST /v1/signup, one at a time (ms)", fmt(lat["submit_s"]))
    row("  201 → verification mail file seen (ms)", fmt(lat["mail_s"]))
    row("  busy cores: server / worker / postgres / client / other", cores_text(r["latency"]["cores"]))
    row("  CPU ms per signup (all its requests): server / worker / postgres", per_unit_text(r["latency"]["cores"]))
    if r.get("burst"):
        b = r["burst"]
        row(
            f"burst: {b['summary']['live_s']['n']} approvals at once → 200: p50 / p95 / max (ms)",
            fmt(b["summary"]["live_s"]),
        )
        row(f"  polled every {r['args']['burst_poll_ms']} ms; all live after (ms)", f"{b['all_live_s'] * 1000:.0f}")
        row(
            "  provisioning per tenant (ms); worker transactions",
            f"{fmt(b['provision']['provision_ms'])}; {b['provision']['worker_transactions']}",
        )
        row(
            "  to worker / in worker / to commit / to 200, p50 (ms)",
            " / ".join(
                f"{b['summary'][k]['p50']:.0f}" for k in ("to_worker_s", "in_worker_s", "to_commit_s", "to_200_s")
            ),
        )
    s = r["submit"]
    lat_s = s["latency_ms"]
    row(
        f"POST /v1/signup, c={r['args']['concurrency']}, {s['elapsed_s']:.0f} s: signups/min",
        f"{s['requests'] / s['elapsed_s'] * 60:,.0f} ({s['requests'] / s['elapsed_s']:.1f}/s)",
    )
    if s["exhausted"]:
        lines[-1] += "  (DLA codes ran out: over the time used)"
    row("  latency p50 / p99 / max (ms)", fmt(lat_s, ("p50", "p99", "max"), 1))
    bad = s["requests"] - s["statuses"].get("201", 0)
    row("  non-201 answers and connection errors", f"{bad} ({s['error_count']} errors)", "0", bad == 0)
    row("  busy cores: server / worker / postgres / client / other", cores_text(s["cores"]))
    row("  CPU ms per submit: server / worker / postgres", per_unit_text(s["cores"]))
    m = s["mail"]
    row(
        "  verification mails: delivered, per s, queued p50 / max (s)",
        f"{m['mails']}, {m['per_s'] or 0:.0f}/s, {m['queued_p50_s']:.1f} / {m['queued_max_s']:.1f}",
    )
    row("  outbox empty after the last submit (s)", f"{s['drain']['drained_after_s']:.1f}")
    if r.get("full"):
        f = r["full"]
        row(
            f"full signups (auto-approve), c={r['args']['full_concurrency']}, {f['duration_s']:.0f} s: per min",
            f"{f['per_minute']:.0f} ({f['completed_in_window']} in the window)",
        )
        row("  whole signup, submit → 200 (ms)", fmt(f["signup_s"]))
        row(f"  verify (= approval) → 200, polled every {r['args']['full_poll_ms']} ms (ms)", fmt(f["live_s"]))
        row(
            "  submit / mail / verify p50 (ms)",
            f"{f['submit_s']['p50']:.0f} / {f['mail_s']['p50']:.0f} / {f['verify_s']['p50']:.0f}",
        )
        p = f["provision"]
        row(
            "  provisioning per tenant (ms); tenants per worker transaction",
            f"{fmt(p['provision_ms'])}; {p['per_transaction_mean']:.1f} (max {p['per_transaction_max']})",
        )
        row("  failures", str(f["failure_count"] + f["error_count"]), "0", not (f["failure_count"] + f["error_count"]))
        row("  busy cores: server / worker / postgres / client / other", cores_text(f["cores"]))
        row("  CPU ms per whole signup: server / worker / postgres", per_unit_text(f["cores"]))
    busy = r.get("background_before_run") or {}
    if busy:
        row("other load before the run: busy cores (2 s)", f"{busy['busy_cores']:.2f}")
    lines += [
        "",
        f"whole run {r['run_seconds']:.0f} s; {r['args']['workers']} worker process(es)"
        + "".join(f", worker {k}={v}" for k, v in r["args"]["worker_setting"].items())
        + "; server settings: "
        + ", ".join(f"{k}={v}" for k, v in RAISED_LIMITS.items()),
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--signups", type=int, default=100, help="approvals measured one at a time (default 100)")
    parser.add_argument("--warmup", type=int, default=3, help="signups before them, not counted (default 3)")
    parser.add_argument("--poll-ms", type=float, default=10, help="poll interval after an approval (default 10)")
    parser.add_argument("--burst", type=int, default=10, help="approvals sent at once; 0: skip (default 10)")
    parser.add_argument("--burst-poll-ms", type=float, default=50, help="poll interval per host in the burst")
    parser.add_argument("--concurrency", type=int, default=16, help="clients submitting at once (default 16)")
    parser.add_argument("--duration", type=float, default=30, help="seconds of submitting (default 30)")
    parser.add_argument("--submit-warmup", type=int, default=200, help="submits before the timed part")
    parser.add_argument("--full-concurrency", type=int, default=8, help="clients doing whole signups (default 8)")
    parser.add_argument("--full-duration", type=float, default=60, help="seconds of whole signups; 0: skip")
    parser.add_argument("--full-poll-ms", type=float, default=100, help="poll interval of the whole signups")
    parser.add_argument("--full-codes", type=int, default=1500, help="DLA codes kept for the whole signups")
    parser.add_argument("--workers", type=int, default=1, help="`localgov worker` processes (default 1)")
    parser.add_argument(
        "--worker-setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra LOCALGOV_<NAME> for the workers only (repeatable), e.g. worker_batch_size=1",
    )
    parser.add_argument("--database-url", default=None, help=f"admin URL of the server (env {core.ENV_VAR})")
    parser.add_argument("--seed", type=int, default=2026, help="seed of the order of DLA codes")
    parser.add_argument("--strict", action="store_true", help="exit 3 when the p95 target is missed")
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    settings: dict[str, str] = {}
    for item in args.worker_setting:
        name, sep, value = item.partition("=")
        name = name.lower()
        if (
            not sep
            or not re.fullmatch(r"[a-z0-9_]+", name)
            or name in ("env", "database_url", "mail_url", "base_domain")
        ):
            parser.error(
                f"--worker-setting {item!r}: expected name=value (not env, database_url, mail_url, base_domain)"
            )
        settings[name] = value
    args.worker_setting = settings
    for name in ("signups", "concurrency", "full_concurrency", "workers"):
        if not 1 <= getattr(args, name) <= 1000:
            parser.error(f"--{name.replace('_', '-')} must be between 1 and 1000")
    if not 0 <= args.burst <= 200 or not 0 <= args.warmup <= 100 or args.submit_warmup < 0:
        parser.error("--burst must be 0-200, --warmup 0-100, --submit-warmup >= 0")
    if not 1 <= args.poll_ms <= 1000 or not 1 <= args.burst_poll_ms <= 1000 or not 1 <= args.full_poll_ms <= 1000:
        parser.error("poll intervals must be between 1 and 1000 ms")
    if not 1 <= args.duration <= 600 or not 0 <= args.full_duration <= 600:
        parser.error("--duration must be 1-600 s, --full-duration 0-600 s")
    return args


def main(argv: list[str] | None = None) -> int:
    from localgov.metadata import INSTALLATION
    from localgov.platform.installation import install

    install(INSTALLATION)  # a composition root: the platform provisions the core tables and the registry
    args = parse_args(argv)
    if args.client:
        return client_main()
    run_started = time.perf_counter()
    stamp = dt.datetime.now(dt.UTC)
    keep: dict[str, Any] = {}
    background = core.machine_busy_cores()
    admin, source = core.choose_server(args.database_url, keep)
    url = asyncio.run(core.create_database(admin))
    log(f"database {make_url(url).database} on {source} server")
    scratch = Path(tempfile.mkdtemp(prefix="localgov-bench-signup-"))
    try:
        results: dict[str, Any] = {
            "benchmark": "signup",
            "timestamp": stamp.isoformat(timespec="seconds"),
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "args": {k: v for k, v in vars(args).items() if k not in ("client", "database_url")},
            "git_commit": core.git_commit(),
            "code": core.code_under_test(),
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
            "database_server": source,
            "postgres": asyncio.run(core.server_facts(url)),
            "background_before_run": background,
            "server_settings": RAISED_LIMITS,
        }
        log("`localgov migrate` and `localgov operators add`")
        results["setup"] = setup_database(url)
        codes = pick_codes(args.seed)
        take = iter(codes)
        latency_codes = list(itertools.islice(take, args.warmup + args.signups))
        burst_codes = list(itertools.islice(take, args.burst))
        full_codes = list(itertools.islice(take, args.full_codes if args.full_duration else 0))
        submit_codes = list(take)
        pg_pid = core.postmaster_pid(url)
        port = core.free_port()

        mail_a = scratch / "mail-a"
        mail_a.mkdir()
        with (
            running_workers(url, mail_a, scratch, "a", args) as workers,
            core.running_server(url, port, scratch / "serve-a.log", RAISED_LIMITS) as server,
        ):
            results["server_startup_s"] = core.wait_until_live(server, port, scratch / "serve-a.log")
            asyncio.run(wait_listening(url, [*workers, server], catalog=args.workers + 1, outbox=args.workers))
            pids = {"server": server.pid, "worker": [w.pid for w in workers], "postgres": pg_pid}
            cpu = CpuWindow(pids)
            mailbox = Mailbox(mail_a)

            log(f"approval → 200: {args.warmup} + {args.signups} signups, one at a time")
            before = cpu.sample()
            items = asyncio.run(latency_phase(url, port, mailbox, latency_codes, args.warmup, args.poll_ms / 1000))
            cores = CpuWindow.cores(before, cpu.sample(), len(latency_codes))
            measured = [i for i in items if not i["warmup"]]
            results["latency"] = {
                "summary": latency_summary(measured),
                "warmup": [{k: i[k] for k in ("live_s", "provision_s")} for i in items if i["warmup"]],
                "cores": cores,
                "items": measured,
            }
            log(
                f"  p50 {results['latency']['summary']['live_s']['p50']:.0f} ms, "
                f"p95 {results['latency']['summary']['live_s']['p95']:.0f} ms"
            )

            if burst_codes:
                log(f"burst: {len(burst_codes)} approvals at once")
                asyncio.run(outbox_drain(url, time.perf_counter()))
                since = asyncio.run(db_now(url))
                burst = asyncio.run(burst_phase(url, port, mailbox, burst_codes, args.burst_poll_ms / 1000))
                burst["summary"] = latency_summary(burst["items"])
                burst["provision"] = asyncio.run(provision_facts(url, since))
                results["burst"] = burst

            asyncio.run(outbox_drain(url, time.perf_counter()))
            log(f"POST /v1/signup: {args.concurrency} clients, {args.submit_warmup} warm-up + {args.duration:.0f} s")
            since = asyncio.run(db_now(url))
            submit = run_client(
                {
                    "mode": "submit",
                    "port": port,
                    "forms": [form(c) for c in submit_codes],
                    "concurrency": args.concurrency,
                    "warmup": args.submit_warmup,
                    "duration_s": args.duration,
                    "timeout_s": 30,
                    "deadline_s": args.duration + 300,
                    "pids": pids,
                }
            )
            ended = time.perf_counter()
            submit["drain"] = asyncio.run(outbox_drain(url, ended))
            submit["mail"] = asyncio.run(mail_rate(url, since))
            results["submit"] = submit
            if submit["exhausted"]:
                log("  the DLA codes ran out before the end of the duration (the rate is over the time used)")
            if any(p.poll() is not None for p in (server, *workers)):
                raise BenchError("the server or the worker died")

        if args.full_duration:
            mail_b = scratch / "mail-b"
            mail_b.mkdir()
            settings = {**RAISED_LIMITS, "signup_auto_approve": "true"}
            with (
                running_workers(url, mail_b, scratch, "b", args) as workers,
                core.running_server(url, port, scratch / "serve-b.log", settings) as server,
            ):
                core.wait_until_live(server, port, scratch / "serve-b.log")
                asyncio.run(wait_listening(url, [*workers, server], catalog=args.workers + 1, outbox=args.workers))
                pids = {"server": server.pid, "worker": [w.pid for w in workers], "postgres": pg_pid}
                log(f"full signups with auto-approve: {args.full_concurrency} clients, {args.full_duration:.0f} s")
                since = asyncio.run(db_now(url))
                full = run_client(
                    {
                        "mode": "full",
                        "port": port,
                        "mail_dir": str(mail_b),
                        "forms": [form(c) for c in full_codes],
                        "concurrency": args.full_concurrency,
                        "duration_s": args.full_duration,
                        "poll_ms": args.full_poll_ms,
                        "timeout_s": 120,
                        "deadline_s": args.full_duration + 300,
                        "pids": pids,
                    }
                )
                asyncio.run(outbox_drain(url, time.perf_counter()))
                full["provision"] = asyncio.run(provision_facts(url, since))
                results["full"] = full
                if full["failure_count"] or full["error_count"]:
                    raise BenchError(f"whole signups failed: {full['failures']} {full['errors']}")

        results["health"] = asyncio.run(health_check(url))
        results["run_seconds"] = time.perf_counter() - run_started
        bad = results["submit"]["requests"] - results["submit"]["statuses"].get("201", 0)
        warm_bad = sum(n for k, n in results["submit"]["warmup_statuses"].items() if k != "201")
        results["targets"] = {"approval_to_200_p95_lt_1s": results["latency"]["summary"]["live_s"]["p95"] < 1000}
        RESULTS.mkdir(exist_ok=True)
        out = RESULTS / f"signup-{stamp.strftime('%Y%m%dT%H%M%SZ')}.json"
        out.write_text(json.dumps(results, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
        print(render(results))
        print(f"\nresults: {out.relative_to(ROOT)}")
        if bad or warm_bad:
            raise BenchError(f"non-201 answers to POST /v1/signup: {results['submit']['statuses']}")
        if args.strict and not all(results["targets"].values()):
            return 3
        return 0
    except BenchError as exc:
        print(f"\nBENCHMARK FAILED: {exc}", file=sys.stderr)
        for name in sorted(scratch.glob("*.log")):
            tail = name.read_text(errors="replace")[-1500:]
            if tail.strip():
                print(f"--- {name.name} (tail)\n{tail}", file=sys.stderr)
        return 1
    finally:
        log(f"dropping database {make_url(url).database}")
        asyncio.run(core.drop_database(admin, url))
        shutil.rmtree(scratch, ignore_errors=True)


async def db_now(url: str) -> dt.datetime:
    conn = await asyncpg.connect(url)
    try:
        now: dt.datetime = await conn.fetchval("SELECT clock_timestamp()")
        return now
    finally:
        await conn.close()


if __name__ == "__main__":
    sys.exit(main())
