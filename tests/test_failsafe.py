"""Fail safe under faults and hostile input (issue 18): database faults answer 503 with Retry-After
(never 500) and readiness follows them, X-Forwarded-For counts only from trusted proxies, JSON
bodies are bounded and typed, a disabled account is refused at once, mail is not sent twice."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from email.message import EmailMessage
from typing import Any

import asyncpg
import httpx
import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.app import create_app
from localgov.cli import proxy_options
from localgov.identity.models import StaffRole, StaffUser
from localgov.kernel.db import create_engine, session_factory, tenant_session
from localgov.kernel.errors import database_fault
from localgov.kernel.mail import MAIL_TOPIC, OutgoingMail, delivery_key, mail_consumer, send_mail
from localgov.kernel.tenancy import TenantInfo
from localgov.kernel.web import MAX_JSON_DEPTH, client_address, json_depth
from localgov.platform.catalog import Catalog
from localgov.settings import Settings, trusted_networks
from localgov.worker import Worker
from tests.conftest import BASE, ClientFactory, host, make_settings
from tests.support.demo_plugin import DEMO
from tests.support.factories import make_tenant
from tests.support.tokens import bearer

#: A read on the fast path that queries every time (``GET /v1/tenant`` is answered from the process's
#: copy of the profile once read, so it would not reach the database the faults are put in).
READ = "/v1/demo/phone"


def clerk(tenant: TenantInfo, subject: str = "clerk-1") -> dict[str, str]:
    return {**host(tenant.slug), **bearer(tenant, roles=["demo.clerk"], subject=subject)}


async def ping(http: httpx.AsyncClient, headers: dict[str, str], message: str = "hello") -> httpx.Response:
    return await http.post(
        "/v1/demo/pings", json={"message": message}, headers={**headers, "Idempotency-Key": uuid.uuid4().hex}
    )


def assert_unavailable(response: httpx.Response, reason: str | set[str]) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert int(response.headers["retry-after"]) > 0
    body = response.json()
    assert body["code"] == "database_unavailable"
    assert body["data"]["reason"] in ({reason} if isinstance(reason, str) else reason)


async def assert_stored(engine: AsyncEngine, outbox_ids: list[int]) -> None:
    """Every write answered 2xx is in the database."""
    async with engine.connect() as conn:
        found = (
            await conn.execute(text("SELECT count(*) FROM platform.outbox WHERE id = ANY(:ids)"), {"ids": outbox_ids})
        ).scalar_one()
    assert found == len(outbox_ids)


async def recovered_within(http: httpx.AsyncClient, attempt: Any, limit_s: float = 5.0) -> float:
    """Seconds until ``attempt()`` answers 2xx again (fails past ``limit_s``); only 503s meanwhile."""
    started = time.perf_counter()
    while True:
        response = await attempt()
        if response.status_code < 300:
            return time.perf_counter() - started
        assert response.status_code == 503, response.text
        assert time.perf_counter() - started < limit_s, "no recovery in time"
        await asyncio.sleep(0.05)


# --- database faults → 503 -------------------------------------------------------------------


async def test_a_locked_table_answers_503_and_ready_follows_it(
    engine: AsyncEngine, client_for: ClientFactory, database_url: str
) -> None:
    tenant = await make_tenant(engine, services=["demo"])
    settings = make_settings(database_url, db_lock_timeout_ms=300, ready_write_timeout_ms=300)
    acknowledged: list[int] = []
    async with client_for(settings_=settings) as http:
        first = await http.get("/health/ready")
        assert first.status_code == 200, first.text
        before = await ping(http, clerk(tenant), "before the lock")
        assert before.status_code == 201, before.text
        acknowledged.append(before.json()["outbox_id"])
        async with engine.connect() as locker:
            # The outbox takes the ping's message and the readiness probe's row.
            await locker.execute(text("LOCK TABLE platform.outbox IN ACCESS EXCLUSIVE MODE"))
            assert_unavailable(await ping(http, clerk(tenant), "during the lock"), "lock_timeout")
            ready = await http.get("/health/ready")
            assert ready.status_code == 503
            assert int(ready.headers["retry-after"]) > 0
            assert ready.json()["code"] == "not_ready"
            assert ready.json()["data"]["checks"]["database"] == "ok"
            assert ready.json()["data"]["checks"]["writes"] == "unavailable: lock_timeout"
            # The read path (raw asyncpg) of a table the lock does not touch still answers.
            assert (await http.get(READ, headers=host(tenant.slug))).status_code == 200
            await locker.rollback()
        assert (await http.get("/health/ready")).status_code == 200
        after = await ping(http, clerk(tenant), "after the lock")
        assert after.status_code == 201
        acknowledged.append(after.json()["outbox_id"])
    await assert_stored(engine, acknowledged)


async def test_the_read_fast_path_maps_a_lock_timeout_too(
    engine: AsyncEngine, client_for: ClientFactory, database_url: str
) -> None:
    tenant = await make_tenant(engine, services=["demo"])
    settings = make_settings(database_url, db_lock_timeout_ms=300)
    async with client_for(settings_=settings) as http:
        async with engine.connect() as locker:
            await locker.execute(text(f'LOCK TABLE "{tenant.schema}".profile IN ACCESS EXCLUSIVE MODE'))
            assert_unavailable(await http.get(READ, headers=host(tenant.slug)), "lock_timeout")
            await locker.rollback()
        assert (await http.get(READ, headers=host(tenant.slug))).status_code == 200


async def _terminate_waiting_backend(engine: AsyncEngine) -> int:
    """Kill the backend of the request that waits for a lock (polls until one does)."""
    async with engine.connect() as conn:
        for _ in range(200):
            pid = (
                await conn.execute(
                    text(
                        "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                        " AND application_name = 'localgov' AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
                    )
                )
            ).scalar()
            if pid is not None:
                assert (await conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})).scalar_one()
                return int(pid)
            await conn.rollback()
            await asyncio.sleep(0.02)
    raise AssertionError("no request waited for the lock")


@pytest.mark.parametrize("path", ["write", "read"])
async def test_a_backend_killed_during_a_request_answers_503_and_the_next_succeed(
    engine: AsyncEngine, client_for: ClientFactory, database_url: str, path: str
) -> None:
    tenant = await make_tenant(engine, services=["demo"])
    settings = make_settings(database_url, db_lock_timeout_ms=0, db_statement_timeout_ms=10_000)
    table = "platform.outbox" if path == "write" else f'"{tenant.schema}".profile'
    acknowledged: list[int] = []

    async def attempt() -> httpx.Response:
        if path == "read":
            return await http.get(READ, headers=host(tenant.slug))
        response = await ping(http, clerk(tenant))
        if response.status_code < 300:
            acknowledged.append(response.json()["outbox_id"])
        return response

    async with client_for(settings_=settings) as http:
        async with engine.connect() as locker:
            await locker.execute(text(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"))
            request = asyncio.create_task(attempt())
            await _terminate_waiting_backend(engine)
            assert_unavailable(await request, {"server_shutdown", "connection_lost"})
            await locker.rollback()
        recovery = await recovered_within(http, attempt)
        for _ in range(5):  # the pool kept no dead connection
            assert (await attempt()).status_code < 300
    assert recovery < 5.0
    if path == "write":
        await assert_stored(engine, acknowledged)
        assert len(acknowledged) == 6


async def test_an_exhausted_pool_answers_503_and_ready_follows_it(client_for: ClientFactory, database_url: str) -> None:
    settings = make_settings(database_url, db_pool_size=1, db_pool_timeout_s=0.3, ready_write_timeout_ms=300)
    own = create_engine(settings, serving=True)
    try:
        tenant = await make_tenant(own, services=["demo"])
        async with client_for(settings_=settings, engine=own, listen=False) as http:
            held = await own.connect()  # the pool's only connection
            try:
                assert_unavailable(await http.get(READ, headers=host(tenant.slug)), "pool_exhausted")
                ready = await http.get("/health/ready")
                assert ready.status_code == 503
                assert ready.json()["data"]["checks"]["database"].startswith("unavailable")
            finally:
                await held.close()
            assert (await http.get(READ, headers=host(tenant.slug))).status_code == 200
            assert (await http.get("/health/ready")).status_code == 200
    finally:
        await own.dispose()


class _Pg(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def test_database_faults_are_told_from_the_callers_errors() -> None:
    def wrapped(sqlstate: str) -> DBAPIError:
        return DBAPIError("SELECT 1", None, _Pg(sqlstate))

    assert database_fault(wrapped("57014")) == "statement_timeout"
    assert database_fault(wrapped("55P03")) == "lock_timeout"
    assert database_fault(wrapped("57P01")) == "server_shutdown"
    assert database_fault(wrapped("08006")) == "connection_lost"
    assert database_fault(wrapped("53300")) == "server_busy"
    assert database_fault(_Pg("40001")) == "serialization_failure"  # raw asyncpg, unwrapped
    assert database_fault(PoolTimeout("QueuePool limit reached")) == "pool_exhausted"
    assert database_fault(ConnectionRefusedError()) == "connection_lost"
    assert database_fault(RuntimeError("wrapper")) is None
    assert database_fault(asyncpg.exceptions.ConnectionDoesNotExistError("closed mid-way")) == "connection_lost"
    assert database_fault(asyncpg.InterfaceError("cannot perform operation: another operation is in progress")) is None
    outer = RuntimeError("a helper's error")
    outer.__cause__ = _Pg("57P03")
    assert database_fault(outer) == "server_starting"
    # The caller's input (class 22) and constraint violations (class 23) are not faults.
    assert database_fault(wrapped("22021")) is None
    assert database_fault(wrapped("23505")) is None


# --- trusted proxies -------------------------------------------------------------------------


def test_forwarded_for_counts_only_from_trusted_peers() -> None:
    proxies = trusted_networks("10.0.0.0/8, 192.0.2.7")
    assert client_address("203.0.113.9", "198.51.100.1", ()) == "203.0.113.9"  # none trusted (default)
    assert client_address("203.0.113.9", "198.51.100.1", proxies) == "203.0.113.9"  # an untrusted peer
    assert client_address("10.1.2.3", "198.51.100.1", proxies) == "198.51.100.1"
    # Read from the right past every trusted hop; what the client put on the left is not believed.
    assert client_address("10.1.2.3", "1.1.1.1, 198.51.100.1, 192.0.2.7", proxies) == "198.51.100.1"
    assert client_address("10.1.2.3", "not-an-ip, 10.9.9.9", proxies) == "10.9.9.9"
    assert client_address("10.1.2.3", None, proxies) == "10.1.2.3"
    assert client_address("::ffff:zz", None, proxies) is None
    assert proxy_options(make_settings("postgresql://x/y")) == {"proxy_headers": False, "forwarded_allow_ips": ""}
    listed = proxy_options(make_settings("postgresql://x/y", trusted_proxies="10.0.0.0/8"))
    assert listed == {"proxy_headers": True, "forwarded_allow_ips": ["10.0.0.0/8"]}


@asynccontextmanager
async def client_from(settings: Settings, peer: str) -> AsyncIterator[httpx.AsyncClient]:
    """An app whose TCP peer is ``peer`` (``client_for`` always has 127.0.0.1)."""
    app = create_app(settings, plugins=(DEMO,), listen_for_catalog_changes=False)
    transport = httpx.ASGITransport(app=app, client=(peer, 40_000))
    async with app.lifespan(), httpx.AsyncClient(transport=transport, base_url=f"http://{BASE}") as client:
        yield client


@pytest.mark.parametrize("trusted", [False, True])
async def test_rate_limits_and_audit_believe_forwarded_for_from_trusted_proxies_only(
    engine: AsyncEngine, database_url: str, trusted: bool
) -> None:
    tenant = await make_tenant(engine)
    peer = "203.0.113.9"
    settings = make_settings(database_url, login_rate_limit=2, trusted_proxies="203.0.113.0/24" if trusted else "")
    statuses = []
    async with client_from(settings, peer) as http:
        for n in range(3):
            forged = {**host(tenant.slug), "X-Forwarded-For": f"198.51.100.{n + 1}"}
            body = {"email": f"nobody{n}@example.go.th", "password": "not the password 1"}
            statuses.append((await http.post("/v1/auth/staff/login", json=body, headers=forged)).status_code)
    async with engine.connect() as conn:
        sources = (
            await conn.execute(
                text(
                    f'SELECT host(source_ip) FROM "{tenant.schema}".audit_events'
                    " WHERE action = 'login.failed' ORDER BY occurred_at, id"
                )
            )
        ).scalars()
        recorded = list(sources)
    if trusted:
        assert statuses == [401, 401, 401]  # a bucket per client behind the proxy
        assert recorded == ["198.51.100.1", "198.51.100.2", "198.51.100.3"]
    else:
        assert statuses == [401, 401, 429]  # the forged header made no bucket of its own
        assert recorded == [peer, peer]


# --- request bodies --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "kind"),
    [("/v1/demo/pings", "clerk"), ("/v1/auth/staff/login", "none"), ("/v1/auth/refresh", "none")],
)
async def test_bodies_are_typed_bounded_and_never_a_500(
    engine: AsyncEngine, client_for: ClientFactory, path: str, kind: str
) -> None:
    tenant = await make_tenant(engine, services=["demo"])
    headers = {**(clerk(tenant) if kind == "clerk" else host(tenant.slug)), "Idempotency-Key": uuid.uuid4().hex}
    # Each route's own body (request structs refuse a member they do not know: 400).
    body = json.dumps(
        {
            "/v1/demo/pings": {"message": "x"},
            "/v1/auth/staff/login": {"email": "a@example.go.th", "password": "p"},
            "/v1/auth/refresh": {"refresh_token": "t"},
        }[path]
    )
    async with client_for() as http:
        as_text = await http.post(path, content=body, headers={**headers, "Content-Type": "text/plain"})
        assert (as_text.status_code, as_text.json()["code"]) == (415, "unsupported_media_type")
        assert as_text.headers["content-type"].startswith("application/problem+json")
        untyped = await http.post(path, content=body, headers=headers)  # no Content-Type at all
        assert untyped.status_code == 415
        deep = await http.post(
            path, content=b"[" * 100_000 + b"]" * 100_000, headers={**headers, "Content-Type": "application/json"}
        )
        assert (deep.status_code, deep.json()["code"]) == (400, "json_too_deep")
        nested = '{"message": ' + "[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1) + "}"
        inner = await http.post(path, content=nested, headers={**headers, "Content-Type": "application/json"})
        assert (inner.status_code, inner.json()["code"]) == (400, "json_too_deep")
        huge = await http.post(
            path,
            content=b'{"message": "' + b"x" * (10 * 1024 * 1024) + b'"}',
            headers=headers | {"Content-Type": "application/json"},
        )
        assert (huge.status_code, huge.json()["code"]) == (413, "payload_too_large")
        charset = await http.post(
            path, content=body, headers={**headers, "Content-Type": "application/json; charset=utf-8"}
        )
        assert charset.status_code not in (400, 413, 415, 500), charset.text


def _depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    return 0


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab,:ก'),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(alphabet='[]{}"\\k'), children, max_size=3)
    ),
    max_leaves=20,
)


@hypothesis_settings(max_examples=200)
@given(_JSON)
def test_json_depth_counts_nesting_not_brackets_in_strings(value: Any) -> None:
    assert json_depth(json.dumps(value, ensure_ascii=False).encode()) == _depth(value)


# --- a disabled account is refused at once -------------------------------------------------------


async def _add_member(engine: AsyncEngine, tenant: TenantInfo, email: str, roles: list[str]) -> str:
    async with tenant_session(session_factory(engine), tenant) as session:
        user = StaffUser(email=email, full_name="Member", status="active", password_hash=None)
        session.add(user)
        await session.flush()
        for role in roles:
            session.add(StaffRole(user_id=user.id, role=role))
    return str(user.id)


async def test_a_disabled_member_is_refused_on_every_route_at_once_by_every_process(
    engine: AsyncEngine, client_for: ClientFactory
) -> None:
    tenant = await make_tenant(engine, services=["demo"])
    member = await _add_member(engine, tenant, "member@example.go.th", ["demo.clerk"])
    token = clerk(tenant, member)  # valid for a day
    admin = {**host(tenant.slug), **bearer(tenant, roles=["tenant_admin"], subject=str(uuid.uuid4()))}
    async with client_for() as http, client_for() as other_process:
        assert (await ping(http, token)).status_code == 201
        assert (await ping(other_process, token)).status_code == 201
        disabled = await http.post(f"/v1/staff/{member}/disable", headers=admin)
        assert disabled.status_code == 200, disabled.text
        # The process that disabled the member refuses the very next request.
        refused = await ping(http, token)
        assert (refused.status_code, refused.json()["code"]) == (401, "token_revoked")
        assert refused.headers["www-authenticate"].startswith("Bearer")
        on_read = await http.get("/v1/demo/permits/1", headers=token)
        assert (on_read.status_code, on_read.json()["code"]) == (401, "token_revoked")
        # Another process learns it from the NOTIFY.
        started = time.perf_counter()
        while (await ping(other_process, token)).status_code != 401:
            assert time.perf_counter() - started < 2.0, "the other process still accepts the token"
            await asyncio.sleep(0.02)
        # Someone else's token is untouched; enabling the member again lifts the refusal.
        assert (await ping(http, clerk(tenant, str(uuid.uuid4())))).status_code == 201
        assert (await http.post(f"/v1/staff/{member}/enable", headers=admin)).status_code == 200
        assert (await ping(http, token)).status_code == 201


async def test_a_disabled_api_client_is_refused_at_once(engine: AsyncEngine, client_for: ClientFactory) -> None:
    tenant = await make_tenant(engine, services=["demo"])
    admin = {**host(tenant.slug), **bearer(tenant, roles=["tenant_admin"], subject=str(uuid.uuid4()))}
    async with client_for() as http:
        created = await http.post("/v1/api-clients", json={"name": "ERP", "scopes": ["demo.write"]}, headers=admin)
        assert created.status_code == 201, created.text
        client_id = created.json()["client_id"]
        token = {**host(tenant.slug), **bearer(tenant, kind="client", subject=client_id, scopes=["demo.write"])}
        assert (await ping(http, token)).status_code == 201
        assert (await http.post(f"/v1/api-clients/{client_id}/disable", headers=admin)).status_code == 200
        refused = await ping(http, token)
        assert (refused.status_code, refused.json()["code"]) == (401, "token_revoked")


# --- mail is not sent twice when a worker dies ----------------------------------------------------


class _WorkerDied(BaseException):
    """The process ends in the middle of a batch (not an error a consumer could catch)."""


class _Recording:
    def __init__(self, die_at: int | None = None) -> None:
        self.sent: list[str] = []
        self.die_at = die_at

    async def send(self, message: EmailMessage, key: str) -> None:
        if self.die_at is not None and len(self.sent) == self.die_at:
            raise _WorkerDied()
        self.sent.append(key)


async def test_mail_sent_before_a_worker_died_is_not_sent_again(fresh_database_url: str) -> None:
    settings = make_settings(fresh_database_url)
    engine = create_engine(settings)
    try:
        tenant = await make_tenant(engine)
        factory = session_factory(engine)
        keys = []
        async with tenant_session(factory, tenant) as session:
            for n in range(3):
                entry = await send_mail(
                    session, OutgoingMail(to=f"p{n}@example.go.th", subject="ทดสอบ", text="-"), tenant_id=tenant.id
                )
                await session.flush()
                await session.refresh(entry)
                keys.append(delivery_key(entry))
        catalog = Catalog(settings.base_domain)
        await catalog.load(engine)

        dying = Worker(settings, [])
        first = _Recording(die_at=1)  # sends one message, dies before the second leaves
        dying.handlers[MAIL_TOPIC] = mail_consumer(settings, first)
        with pytest.raises(_WorkerDied):
            await dying.tick(factory, catalog)
        assert first.sent == keys[:1]

        restarted = Worker(settings, [])
        second = _Recording()
        restarted.handlers[MAIL_TOPIC] = mail_consumer(settings, second)
        await restarted.tick(factory, catalog)
        assert second.sent == keys[1:]  # the first message is not sent again
        async with engine.connect() as conn:
            statuses = (
                await conn.execute(text("SELECT status FROM platform.outbox WHERE topic = :t"), {"t": MAIL_TOPIC})
            ).scalars()
            assert list(statuses) == ["delivered"] * 3
    finally:
        await engine.dispose()


# --- custom domains: no IP literal, no special-use or operator's name -------------------------------


async def test_custom_domains_refuse_ip_literals_and_the_operators_names(
    engine: AsyncEngine, client_for: ClientFactory
) -> None:
    declared = f"www.{uuid.uuid4().hex[:8]}.example"
    tenant = await make_tenant(engine, domains=[declared])
    admin = {**host(tenant.slug), **bearer(tenant, roles=["tenant_admin"], subject=str(uuid.uuid4()))}
    refused = ["127.0.0.1", "10.0.0.8", "printer.local", "db.internal", "x.localhost", "1.0.0.127.in-addr.arpa"]
    refused += [BASE, f"www.{BASE}", BASE.split(".", 1)[1] if "." in BASE else BASE]
    async with client_for() as http:
        for bad in refused:
            answer = await http.put(f"/v1/tenant/domains/{bad}", headers=admin)
            assert (answer.status_code, answer.json()["code"]) == (400, "invalid_domain"), bad
        assert (await http.put(f"/v1/tenant/domains/www.{tenant.slug}.go.th", headers=admin)).status_code == 200
    # A row written before the rule (or by hand) routes nothing: requests by address are nobody's.
    async with engine.begin() as conn:
        await conn.execute(
            text("INSERT INTO platform.tenant_domains (domain, tenant_id) VALUES ('192.0.2.1', :t)"), {"t": tenant.id}
        )
    catalog = Catalog(BASE)
    await catalog.load(engine)
    assert catalog.resolve("192.0.2.1") is None
    assert catalog.resolve(declared) == catalog.by_slug(tenant.slug)
    assert catalog.resolve(f"www.{tenant.slug}.go.th") is None  # claimed, pending its DNS challenge
    async with engine.begin() as conn:
        await conn.execute(text("DELETE FROM platform.tenant_domains WHERE domain = '192.0.2.1'"))
