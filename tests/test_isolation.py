"""Tenant isolation: each host sees its own rows only, under concurrency and despite leaks."""

from __future__ import annotations

import asyncio
import random

import pytest
from sqlalchemy import text
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.kernel.db import create_engine, session_factory, tenant_session
from localgov.settings import Settings
from tests.conftest import ClientFactory, host, make_settings
from tests.support.factories import make_tenant
from tests.support.tokens import bearer


async def test_same_ids_each_host_reads_its_own_rows(engine: AsyncEngine, client_for: ClientFactory) -> None:
    a = await make_tenant(engine, services=["demo"], phone="A-phone")
    b = await make_tenant(engine, services=["demo"], phone="B-phone")
    async with client_for() as client:
        for tenant, phone in ((a, "A-phone"), (b, "B-phone")):
            profile = await client.get("/v1/tenant", headers=host(tenant.slug))
            assert profile.status_code == 200
            assert profile.json()["dla_code"] == tenant.dla_code
            assert profile.json()["contact"]["phone"] == phone
            who = await client.get("/v1/demo/whoami", headers=host(tenant.slug))
            assert who.json() == {"slug": tenant.slug, "schema": tenant.schema, "phone": phone}


async def test_500_interleaved_requests_over_2_connections(settings: Settings, client_for: ClientFactory) -> None:
    setup = create_engine(settings)
    tenants = [await make_tenant(setup, services=["demo"]) for _ in range(5)]
    await setup.dispose()
    small = make_settings(settings.database_url, db_pool_size=2, db_max_overflow=0, db_pool_timeout_s=30)
    engine = create_engine(small)
    order = [random.choice(tenants) for _ in range(500)]
    try:
        async with client_for(settings_=small, engine=engine) as client:

            async def one(i: int) -> tuple[int, str, dict[str, str]]:
                tenant = order[i]
                path = "/v1/demo/whoami" if i % 2 else "/v1/tenant"
                response = await client.get(path, headers=host(tenant.slug))
                assert response.status_code == 200, response.text
                return i, path, response.json()

            results = await asyncio.gather(*(one(i) for i in range(500)))
        assert engine.sync_engine.pool.size() == 2
    finally:
        await engine.dispose()
    foreign = 0
    for i, path, body in results:
        tenant = order[i]
        if path == "/v1/tenant":
            foreign += body["dla_code"] != tenant.dla_code or body["contact"]["phone"] != f"0-{tenant.dla_code}"
        else:
            foreign += body["schema"] != tenant.schema or body["phone"] != f"0-{tenant.dla_code}"
    assert foreign == 0
    assert len({order[i].slug for i, _, _ in results}) == 5


async def test_leaked_session_search_path_cannot_redirect_a_request(
    settings: Settings, client_for: ClientFactory
) -> None:
    setup = create_engine(settings)
    victim = await make_tenant(setup, services=["demo"], phone="victim")
    other = await make_tenant(setup, services=["demo"], phone="other")
    await setup.dispose()
    one_conn = make_settings(settings.database_url, db_pool_size=1, db_max_overflow=0)
    engine = create_engine(one_conn)
    try:
        # Earlier code left a committed, session-level search_path on the only pooled connection.
        async with engine.connect() as conn:
            await conn.execute(text(f"SET search_path TO {victim.schema}"))
            await conn.commit()
        async with client_for(settings_=one_conn, engine=engine) as client:
            response = await client.get("/v1/demo/whoami", headers=host(other.slug))
            assert response.json()["schema"] == other.schema
            assert response.json()["phone"] == "other"
            # A unit of work without tenant context fails instead of reading the leaked tenant.
            factory = session_factory(engine)
            with pytest.raises(ProgrammingError, match="profile"):
                async with tenant_session(factory, None) as session:
                    await session.execute(text("SELECT phone FROM profile"))
            # The only connection still carries the leak: the request above really ran on it.
            async with engine.connect() as conn:
                assert (await conn.execute(text("SHOW search_path"))).scalar() == victim.schema
    finally:
        await engine.dispose()


async def test_query_without_tenant_context_fails_on_a_fresh_connection(engine: AsyncEngine) -> None:
    await make_tenant(engine)
    async with engine.connect() as conn:
        assert (await conn.execute(text("SHOW search_path"))).scalar() == "tenant_void"
        with pytest.raises(ProgrammingError, match='relation "profile" does not exist'):
            await conn.execute(text("SELECT * FROM profile"))


async def test_request_transaction_rolls_back_on_error(engine: AsyncEngine, client_for: ClientFactory) -> None:
    tenant = await make_tenant(engine, services=["demo"])
    async with client_for() as client:
        response = await client.post(
            "/v1/demo/pings",
            json={"message": "fail-after-write"},
            headers={**host(tenant.slug), **bearer(tenant, roles=["demo.clerk"]), "Idempotency-Key": "k1"},
        )
        assert response.status_code == 409
        assert response.json()["code"] == "demo_failure"
    async with engine.connect() as conn:
        events = (
            await conn.execute(
                text("SELECT count(*) FROM platform.usage_events WHERE tenant_id = :t"), {"t": tenant.id}
            )
        ).scalar()
        outbox = (
            await conn.execute(text("SELECT count(*) FROM platform.outbox WHERE tenant_id = :t"), {"t": tenant.id})
        ).scalar()
    assert (events, outbox) == (0, 0)


async def test_connection_recycled_after_serving_many_tenants(settings: Settings) -> None:
    setup = create_engine(settings)
    tenants = [await make_tenant(setup) for _ in range(3)]
    await setup.dispose()
    engine = create_engine(make_settings(settings.database_url, db_pool_size=1, db_max_tenants_per_connection=2))
    factory = session_factory(engine)
    pids = []
    try:
        for tenant in tenants:
            async with tenant_session(factory, tenant) as session:
                pids.append((await session.execute(text("SELECT pg_backend_pid()"))).scalar())
    finally:
        await engine.dispose()
    # The first connection served two tenants and was replaced before the third.
    assert pids[0] == pids[1] != pids[2]


async def test_a_savepoint_keeps_the_transactions_search_path(engine: AsyncEngine) -> None:
    first = await make_tenant(engine)
    second = await make_tenant(engine)
    factory = session_factory(engine)
    async with tenant_session(factory, first) as session:
        async with session.begin_nested():
            assert (await session.execute(text("SELECT current_schema()"))).scalar() == first.schema
        # A consumer that moved the path on purpose keeps it across its own savepoints.
        await session.execute(text("SELECT set_config('search_path', :p, true)"), {"p": second.schema})
        async with session.begin_nested():
            assert (await session.execute(text("SELECT current_schema()"))).scalar() == second.schema
