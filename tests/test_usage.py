"""Usage metering: written in the business transaction, once per key and tenant."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.kernel.db import session_factory, session_for, tenant_session
from localgov.kernel.tenancy import TenantInfo
from localgov.kernel.usage import record_usage
from tests.conftest import ClientFactory, host
from tests.support.demo_plugin import PINGS
from tests.support.factories import make_tenant
from tests.support.tokens import bearer


async def usage_of(engine: AsyncEngine, tenant: TenantInfo) -> list[Any]:
    async with engine.connect() as conn:
        result = await conn.execute(
            text("SELECT meter, quantity, key FROM platform.usage_events WHERE tenant_id = :t ORDER BY id"),
            {"t": tenant.id},
        )
        return list(result)


async def outbox_of(engine: AsyncEngine, tenant: TenantInfo) -> list[Any]:
    async with engine.connect() as conn:
        result = await conn.execute(
            text("SELECT id, topic, payload, status FROM platform.outbox WHERE tenant_id = :t ORDER BY id"),
            {"t": tenant.id},
        )
        return list(result)


def ping_headers(tenant: TenantInfo, key: str) -> dict[str, str]:
    return {**host(tenant.slug), **bearer(tenant, roles=["demo.clerk"]), "Idempotency-Key": key}


async def test_ping_writes_one_usage_event_and_one_outbox_row(engine: AsyncEngine, client_for: ClientFactory) -> None:
    tenant = await make_tenant(engine, services=["demo"])
    async with client_for() as client:
        response = await client.post("/v1/demo/pings", json={"message": "hello"}, headers=ping_headers(tenant, "k1"))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["counted"] is True
    assert [tuple(r) for r in await usage_of(engine, tenant)] == [("demo.pings", Decimal(1), "ping:k1")]
    outbox = await outbox_of(engine, tenant)
    assert [(r.id, r.topic, r.payload, r.status) for r in outbox] == [
        (body["outbox_id"], "demo.pinged", {"message": "hello"}, "pending")
    ]


async def test_same_idempotency_key_counts_once(engine: AsyncEngine, client_for: ClientFactory) -> None:
    tenant = await make_tenant(engine, services=["demo"])
    async with client_for() as client:
        first = await client.post("/v1/demo/pings", json={"message": "a"}, headers=ping_headers(tenant, "same"))
        second = await client.post("/v1/demo/pings", json={"message": "a"}, headers=ping_headers(tenant, "same"))
        other = await client.post("/v1/demo/pings", json={"message": "a"}, headers=ping_headers(tenant, "other"))
    assert [r.status_code for r in (first, second, other)] == [201, 201, 201]
    assert [r.json()["counted"] for r in (first, second, other)] == [True, False, True]
    assert [r.key for r in await usage_of(engine, tenant)] == ["ping:same", "ping:other"]


async def test_concurrent_requests_with_one_key_count_once(engine: AsyncEngine, client_for: ClientFactory) -> None:
    tenant = await make_tenant(engine, services=["demo"])
    async with client_for() as client:
        responses = await asyncio.gather(
            *(
                client.post("/v1/demo/pings", json={"message": "race"}, headers=ping_headers(tenant, "race"))
                for _ in range(4)
            )
        )
    assert [r.status_code for r in responses] == [201] * 4
    assert sorted(r.json()["counted"] for r in responses) == [False, False, False, True]
    assert [r.key for r in await usage_of(engine, tenant)] == ["ping:race"]


@pytest.mark.parametrize("first_outcome", ["commit", "rollback"])
async def test_same_key_in_concurrent_transactions(engine: AsyncEngine, first_outcome: str) -> None:
    """The second waits for the first: counted only if the first one's event did not commit."""
    tenant = await make_tenant(engine)
    factory = session_factory(engine)
    first, second = session_for(factory, tenant), session_for(factory, tenant)
    try:
        assert await record_usage(first, PINGS, 1, "race") is True
        pending = asyncio.create_task(record_usage(second, PINGS, 1, "race"))
        await asyncio.sleep(0.2)
        assert not pending.done()
        await (first.commit() if first_outcome == "commit" else first.rollback())
        counted = await asyncio.wait_for(pending, timeout=10)
        await second.commit()
    finally:
        await first.close()
        await second.close()
    assert counted is (first_outcome == "rollback")
    assert [r.key for r in await usage_of(engine, tenant)] == ["race"]


async def test_failed_request_leaves_no_usage_and_no_message(engine: AsyncEngine, client_for: ClientFactory) -> None:
    tenant = await make_tenant(engine, services=["demo"])
    async with client_for() as client:
        failed = await client.post(
            "/v1/demo/pings", json={"message": "fail-after-write"}, headers=ping_headers(tenant, "doomed")
        )
        assert failed.status_code == 409, failed.text
        assert failed.json()["code"] == "demo_failure"
        assert await usage_of(engine, tenant) == []
        assert await outbox_of(engine, tenant) == []
        # The key was not used up: the retry of the same request counts.
        retried = await client.post("/v1/demo/pings", json={"message": "ok"}, headers=ping_headers(tenant, "doomed"))
    assert retried.status_code == 201, retried.text
    assert retried.json()["counted"] is True
    assert [r.key for r in await usage_of(engine, tenant)] == ["ping:doomed"]
    assert [r.payload for r in await outbox_of(engine, tenant)] == [{"message": "ok"}]


async def test_usage_key_is_per_tenant(engine: AsyncEngine, client_for: ClientFactory) -> None:
    one = await make_tenant(engine, services=["demo"])
    two = await make_tenant(engine, services=["demo"])
    async with client_for() as client:
        responses = [
            await client.post("/v1/demo/pings", json={"message": "x"}, headers=ping_headers(t, "shared"))
            for t in (one, two)
        ]
    assert [r.json()["counted"] for r in responses] == [True, True]
    assert [r.key for r in await usage_of(engine, one)] == ["ping:shared"]
    assert [r.key for r in await usage_of(engine, two)] == ["ping:shared"]


async def test_record_usage_in_the_callers_transaction(engine: AsyncEngine) -> None:
    tenant = await make_tenant(engine)
    factory = session_factory(engine)
    async with tenant_session(factory, tenant) as session:
        assert await record_usage(session, PINGS, Decimal("2.5"), "k") is True
        assert await record_usage(session, PINGS, 7, "k") is False  # same key: not counted again
        assert await record_usage(session, PINGS, 0, "zero") is True
        assert await record_usage(session, PINGS, Decimal("0.0001"), "tiny") is True
        assert await record_usage(session, PINGS, 1, "x" * 200) is True
    assert [(r.key, r.quantity) for r in await usage_of(engine, tenant)] == [
        ("k", Decimal("2.5")),
        ("zero", Decimal(0)),
        ("tiny", Decimal("0.0001")),
        ("x" * 200, Decimal(1)),
    ]

    async def fail_after_recording() -> None:
        async with tenant_session(factory, tenant) as session:
            assert await record_usage(session, PINGS, 1, "rolled-back") is True
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError, match="rolled back"):
        await fail_after_recording()
    assert "rolled-back" not in {r.key for r in await usage_of(engine, tenant)}


@pytest.mark.parametrize(
    ("quantity", "key"),
    [
        (-1, "k"),
        (Decimal("-0.0001"), "k"),
        (Decimal("NaN"), "k"),
        (Decimal("sNaN"), "k"),
        (Decimal("Infinity"), "k"),
        (Decimal("-Infinity"), "k"),
        (Decimal("1e16"), "k"),  # beyond numeric(20, 4)
        (Decimal("0.00001"), "k"),  # finer than the column keeps: would be stored as 0
        (1, ""),
        (1, "x" * 201),
    ],
)
async def test_record_usage_rejects_bad_input(engine: AsyncEngine, quantity: Decimal | int, key: str) -> None:
    tenant = await make_tenant(engine)
    factory = session_factory(engine)
    async with tenant_session(factory, tenant) as session:
        with pytest.raises(ValueError, match="usage"):
            await record_usage(session, PINGS, quantity, key)
        # A rejected call leaves the caller's transaction usable.
        assert await record_usage(session, PINGS, 1, f"after-{uuid.uuid4().hex}") is True
    assert len(await usage_of(engine, tenant)) == 1


async def test_record_usage_needs_a_tenant(engine: AsyncEngine) -> None:
    factory = session_factory(engine)
    async with tenant_session(factory, None) as session:
        with pytest.raises(RuntimeError, match="tenant"):
            await record_usage(session, PINGS, 1, "k")
