"""``Idempotency-Key`` (kernel): replay, refusal of a reused key, in flight, per caller, expiry."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

from litestar.serialization import encode_json
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.kernel.db import session_factory, tenant_session
from localgov.kernel.idempotency import (
    RETENTION,
    IdempotencyRecord,
    KeyedCreate,
    OperatorIdempotencyRecord,
    RequestHasher,
    lock_id,
    purge_expired,
    purge_expired_operator,
)
from localgov.kernel.thai import bangkok_today
from localgov.services.payments import PLUGIN
from localgov.services.payments.models import Bill
from tests.conftest import ClientFactory, host
from tests.support.factories import make_tenant
from tests.support.payments import make_payer, payments_db, payments_tenant
from tests.support.tokens import bearer

URL = "/v1/payments/bills"


def _body(payer_id: uuid.UUID, amount: str = "120.50") -> dict[str, Any]:
    return {
        "payer_id": str(payer_id),
        "due_date": (bangkok_today() + dt.timedelta(days=15)).isoformat(),
        "lines": [{"fee_code": "certificate.food", "description_th": "ค่าธรรมเนียมหนังสือรับรอง", "amount": amount}],
    }


async def _bills(engine: AsyncEngine, tenant: Any) -> int:
    async with payments_db(engine, tenant) as session:
        return int(await session.scalar(select(func.count()).select_from(Bill)) or 0)


async def test_same_key_and_body_replays_the_response(engine: AsyncEngine, client_for: ClientFactory) -> None:
    tenant = await payments_tenant(engine)
    async with payments_db(engine, tenant) as session:
        payer = await make_payer(session)
    headers = {**host(tenant.slug), **bearer(tenant, roles=["payments.finance"]), "Idempotency-Key": "k-1"}
    async with client_for(plugins=[PLUGIN]) as http:
        first = await http.post(URL, json=_body(payer.id), headers=headers)
        second = await http.post(URL, json=_body(payer.id), headers=headers)
        other_body = await http.post(URL, json=_body(payer.id, "99.00"), headers=headers)
        other_path = await http.post(
            f"{URL}/{first.json()['id']}/cancel", json={"reason": "wrong"}, headers=headers
        )  # cancel takes no key: the header is ignored there
        new_key = await http.post(URL, json=_body(payer.id), headers={**headers, "Idempotency-Key": "k-2"})
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    assert second.status_code == 201
    assert second.headers["idempotent-replayed"] == "true"
    assert second.content == first.content
    assert other_body.status_code == 422
    assert other_body.json()["code"] == "idempotency_key_reused"
    assert other_path.status_code == 200
    assert new_key.status_code == 201
    assert new_key.json()["id"] != first.json()["id"]
    assert await _bills(engine, tenant) == 2


async def test_keys_belong_to_one_caller_and_one_lao(engine: AsyncEngine, client_for: ClientFactory) -> None:
    tenant = await payments_tenant(engine)
    other = await payments_tenant(engine)
    async with payments_db(engine, tenant) as session:
        payer = await make_payer(session)
    async with payments_db(engine, other) as session:
        other_payer = await make_payer(session)
    async with client_for(plugins=[PLUGIN]) as http:
        responses = [
            await http.post(
                URL,
                json=_body(payer.id),
                headers={**host(tenant.slug), **bearer(tenant, roles=["payments.finance"], subject=who)}
                | {"Idempotency-Key": "shared"},
            )
            for who in ("alice", "bob")
        ]
        elsewhere = await http.post(
            URL,
            json=_body(other_payer.id),
            headers={**host(other.slug), **bearer(other, roles=["payments.finance"], subject="alice")}
            | {"Idempotency-Key": "shared"},
        )
    assert [r.status_code for r in responses] == [201, 201]
    assert responses[0].json()["id"] != responses[1].json()["id"]
    assert elsewhere.status_code == 201
    async with payments_db(engine, tenant) as session:
        principals = sorted((await session.execute(select(IdempotencyRecord.principal))).scalars())
    assert principals == ["staff:alice", "staff:bob"]


async def test_a_key_in_flight_is_409(engine: AsyncEngine, client_for: ClientFactory) -> None:
    tenant = await payments_tenant(engine)
    async with payments_db(engine, tenant) as session:
        payer = await make_payer(session)
    headers = {**host(tenant.slug), **bearer(tenant, roles=["payments.finance"], subject="u")}
    async with client_for(plugins=[PLUGIN]) as http, engine.connect() as holder:
        # Another transaction is working on this key: it holds the key's advisory lock.
        await holder.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_id(tenant.schema, "staff:u", "busy")})
        busy = await http.post(URL, json=_body(payer.id), headers={**headers, "Idempotency-Key": "busy"})
        assert busy.status_code == 409
        assert busy.json()["code"] == "idempotency_key_in_flight"
        assert busy.headers["retry-after"] == "1"
        await holder.rollback()
        done = await http.post(URL, json=_body(payer.id), headers={**headers, "Idempotency-Key": "busy"})
        assert done.status_code == 201


async def test_concurrent_retries_make_one_bill(engine: AsyncEngine, client_for: ClientFactory) -> None:
    tenant = await payments_tenant(engine)
    async with payments_db(engine, tenant) as session:
        payer = await make_payer(session)
    headers = {**host(tenant.slug), **bearer(tenant, roles=["payments.finance"]), "Idempotency-Key": "storm"}
    async with client_for(plugins=[PLUGIN]) as http:
        responses = await asyncio.gather(*(http.post(URL, json=_body(payer.id), headers=headers) for _ in range(10)))
        after = await http.post(URL, json=_body(payer.id), headers=headers)
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {201, 409}
    assert 201 in statuses
    created = {r.json()["id"] for r in responses if r.status_code == 201}
    assert len(created) == 1
    assert after.json()["id"] in created
    assert await _bills(engine, tenant) == 1


async def test_a_failed_request_stores_nothing(engine: AsyncEngine, client_for: ClientFactory) -> None:
    tenant = await payments_tenant(engine)
    async with payments_db(engine, tenant) as session:
        payer = await make_payer(session)
    headers = {**host(tenant.slug), **bearer(tenant, roles=["payments.finance"]), "Idempotency-Key": "retry-me"}
    async with client_for(plugins=[PLUGIN]) as http:
        refused = await http.post(URL, json=_body(uuid.uuid4()), headers=headers)
        assert refused.status_code == 404
        fixed = await http.post(URL, json=_body(payer.id), headers=headers)
        assert fixed.status_code == 201
        bad_key = await http.post(URL, json=_body(payer.id), headers={**headers, "Idempotency-Key": "has space"})
        assert bad_key.status_code == 400


async def test_keys_expire(engine: AsyncEngine, client_for: ClientFactory) -> None:
    tenant = await payments_tenant(engine)
    async with payments_db(engine, tenant) as session:
        payer = await make_payer(session)
    headers = {**host(tenant.slug), **bearer(tenant, roles=["payments.finance"]), "Idempotency-Key": "old"}
    async with client_for(plugins=[PLUGIN]) as http:
        first = await http.post(URL, json=_body(payer.id), headers=headers)
        async with payments_db(engine, tenant) as session:
            await session.execute(
                text("UPDATE idempotency_keys SET created_at = now() - make_interval(secs => :s)"),
                {"s": RETENTION.total_seconds() + 60},
            )
        reused = await http.post(URL, json=_body(payer.id, "5.00"), headers=headers)
        assert reused.status_code == 201
        assert reused.json()["id"] != first.json()["id"]
    async with payments_db(engine, tenant) as session:
        await session.execute(
            text("UPDATE idempotency_keys SET created_at = now() - make_interval(secs => :s)"),
            {"s": RETENTION.total_seconds() + 60},
        )
        assert await purge_expired(session) == 1
        assert await session.scalar(select(func.count()).select_from(IdempotencyRecord)) == 0


async def test_the_operator_hosts_keys_expire(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO platform.idempotency_keys (principal, key, request_hash, status, created_at) VALUES "
                "('operator:old', 'a', 'h', 'done', now() - make_interval(secs => :s)), "
                "('operator:new', 'b', 'h', 'done', now())"
            ),
            {"s": RETENTION.total_seconds() + 60},
        )
    async with tenant_session(session_factory(engine), None) as session:
        assert await purge_expired_operator(session) == 1
        left = (await session.execute(select(OperatorIdempotencyRecord.principal))).scalars().all()
    assert "operator:new" in left
    assert "operator:old" not in left


async def test_the_record_commits_with_the_work_or_neither_does(engine: AsyncEngine, client_for: ClientFactory) -> None:
    """A create through the middleware (a unit): its record is written in the request's own
    transaction. A commit that fails after the record is written (a deferred trigger refuses it at
    COMMIT) leaves neither the unit nor the record, and the retry with the same key creates the unit
    once; before, the unit was committed first and the record after, in a transaction of its own."""
    tenant = await make_tenant(engine)
    admin = {**host(tenant.slug), **bearer(tenant, roles=["tenant_admin"]), "Idempotency-Key": "unit-x"}
    body = {"code": "FIN", "name_th": "กองคลัง", "kind": "division"}
    schema = tenant.schema

    async def count(table: str) -> int:
        async with engine.connect() as connection:
            return int(await connection.scalar(text(f'SELECT count(*) FROM "{schema}".{table}')) or 0)

    async with engine.begin() as connection:
        await connection.execute(
            text(
                "CREATE FUNCTION public.refuse_at_commit() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'refused at commit'; END $$"
            )
        )
        await connection.execute(
            text(
                f'CREATE CONSTRAINT TRIGGER refuse_at_commit AFTER INSERT ON "{schema}".idempotency_keys '
                "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION public.refuse_at_commit()"
            )
        )
    async with client_for() as http:
        failed = await http.post("/v1/units", json=body, headers=admin)
        assert failed.status_code >= 500, failed.text
        assert (await count("units"), await count("idempotency_keys")) == (0, 0)
        async with engine.begin() as connection:
            await connection.execute(text(f'DROP TRIGGER refuse_at_commit ON "{schema}".idempotency_keys'))
            await connection.execute(text("DROP FUNCTION public.refuse_at_commit()"))
        created = await http.post("/v1/units", json=body, headers=admin)
        assert created.status_code == 201, created.text
        assert (await count("units"), await count("idempotency_keys")) == (1, 1)
        replayed = await http.post("/v1/units", json=body, headers=admin)
        assert (replayed.status_code, replayed.headers["idempotent-replayed"]) == (201, "true")
        assert replayed.json()["id"] == created.json()["id"]
    assert await count("units") == 1


def streamed_hash(path: str, body: bytes) -> str:
    hasher = RequestHasher("POST", path)
    hasher.update(body)
    return hasher.hexdigest()


async def test_a_record_stored_meanwhile_is_replayed_and_the_work_undone(
    engine: AsyncEngine, client_for: ClientFactory
) -> None:
    """The window between the middleware's first look and the key's lock: a record committed there
    (here written before the request by hand, with the request's own hash, as a concurrent request
    would) is found once the lock is held; the handler's work does not run and the record is replayed."""
    tenant = await make_tenant(engine)
    admin = {**host(tenant.slug), **bearer(tenant, roles=["tenant_admin"], subject="ann"), "Idempotency-Key": "w"}
    body = {"code": "FIN", "name_th": "กองคลัง", "kind": "division"}
    original = KeyedCreate.stored
    seen: list[str] = []

    async def first_look_misses(self: KeyedCreate) -> Any:
        if not seen:  # the first look finds nothing: the concurrent request commits right after it
            seen.append("looked")
            async with engine.begin() as connection:
                await connection.execute(
                    text(
                        f'INSERT INTO "{tenant.schema}".idempotency_keys '
                        "(principal, key, request_hash, status, response_status, response_body) "
                        "VALUES ('staff:ann', 'w', :hash, 'done', 201, :body)"
                    ),
                    {"hash": streamed_hash("/v1/units", encode_json(body)), "body": b'{"stored":true}'},
                )
            return None
        return await original(self)

    async with client_for() as http:
        KeyedCreate.stored = first_look_misses  # type: ignore[method-assign]
        try:
            response = await http.post(
                "/v1/units", content=encode_json(body), headers={**admin, "Content-Type": "application/json"}
            )
        finally:
            KeyedCreate.stored = original  # type: ignore[method-assign]
    assert (response.status_code, response.content) == (201, b'{"stored":true}')
    assert response.headers["idempotent-replayed"] == "true"
    async with engine.connect() as connection:
        assert await connection.scalar(text(f'SELECT count(*) FROM "{tenant.schema}".units')) == 0


def test_an_uploads_hash_ignores_its_boundary_and_its_chunks() -> None:
    """The streamed hash of a multipart body: the same parts hash the same under any boundary (a
    client picks a new one for its retry) and however the body is cut into chunks, a delimiter
    straddling two chunks included; other bytes hash otherwise."""
    content = bytes(range(256)) * 40

    def form(boundary: bytes, data: bytes) -> bytes:
        part = b'Content-Disposition: form-data; name="data"; filename="a.pdf"\r\nContent-Type: application/pdf\r\n\r\n'
        return b"--" + boundary + b"\r\n" + part + data + b"\r\n--" + boundary + b"--\r\n"

    def streamed(body: bytes, boundary: bytes, size: int) -> str:
        hasher = RequestHasher("POST", "/v1/files", boundary=boundary)
        for start in range(0, len(body), size):
            hasher.update(body[start : start + size])
        return hasher.hexdigest()

    first = streamed(form(b"a1b2c3", content), b"a1b2c3", 10_000)
    for boundary in (b"a1b2c3", b"f451ad4e60417725173403a48f4c9dfc", b"x"):
        for size in (1, 3, 7, 64, 10_000):
            assert streamed(form(boundary, content), boundary, size) == first, (boundary, size)
    assert streamed(form(b"a1b2c3", content[:-1] + b"!"), b"a1b2c3", 10_000) != first
    assert streamed(form(b"a1b2c3", content), b"zzz", 10_000) != first  # another boundary than the body has
