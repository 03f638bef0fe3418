"""Outbound webhooks (kernel.webhooks): subscriptions, Standard Webhooks signatures, rotation,
retries with backoff, the delivery log, replay, SSRF at registration and at connect time, isolation.

The tests run a real receiver on 127.0.0.1 (``LOCALGOV_EGRESS_ALLOW_LOOPBACK`` in these settings),
the real worker (``Worker.tick``) on a database of their own, and real bank payments.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import itertools
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import standardwebhooks
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.kernel import egress
from localgov.kernel.audit import Actor, Origin
from localgov.kernel.db import create_engine, session_factory, tenant_session
from localgov.kernel.tenancy import TenantInfo
from localgov.kernel.webhooks import DELIVER_TOPIC, retry_delay, signature
from localgov.kernel.webhooks import service as webhooks
from localgov.plugins import REGISTRY
from localgov.services.payments import bank
from localgov.services.payments.models import PaymentSettings
from localgov.settings import Settings
from tests.conftest import ClientFactory, host, make_settings
from tests.support.factories import make_tenant
from tests.support.tokens import TEST_SECRET, bearer
from tests.test_events import make_due, running
from tests.test_payments_bank import open_bills

ENDPOINTS = "/v1/webhooks/endpoints"
NOTIFY = "/v1/payments/bank/notifications"


@dataclass
class Receiver:
    """An HTTP server on loopback that records each request and answers the next queued status."""

    port: int = 0
    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    default_status: int = 200

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, _, body in self.requests]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    state = Receiver()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        state.requests.append((lines[0], headers, body))
        status = state.statuses.pop(0) if state.statuses else state.default_status
        answer = json.dumps({"received": len(state.requests)}).encode()
        writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: {len(answer)}\r\n\r\n".encode() + answer)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    state.port = server.sockets[0].getsockname()[1]
    try:
        yield state
    finally:
        server.close()


@pytest.fixture
def wh_settings(fresh_database_url: str) -> Settings:
    return make_settings(
        fresh_database_url, egress_allow_loopback=True, webhook_max_attempts=3, webhook_retry_base_s=2.0
    )


@pytest.fixture
async def wh_engine(wh_settings: Settings) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(wh_settings)
    yield eng
    await eng.dispose()


async def payments_lao(engine: AsyncEngine) -> tuple[TenantInfo, str]:
    tenant = await make_tenant(engine, services=["payments"])
    async with tenant_session(session_factory(engine), tenant) as session:
        session.add(PaymentSettings(id=1, biller_id="099400012345601", receipt_book_size=100))
        await session.flush()
        secret, _ = await bank.rotate_webhook_secret(session, TEST_SECRET, actor=Actor("system"), origin=Origin())
    return tenant, secret


def client_headers(
    tenant: TenantInfo, client_id: str = "lgc_integrator", scopes: tuple[str, ...] = ()
) -> dict[str, str]:
    token = bearer(tenant, kind="client", subject=client_id, scopes=scopes or ("webhooks.manage",))
    return {**host(tenant.slug), **token}


def admin_headers(tenant: TenantInfo) -> dict[str, str]:
    return {**host(tenant.slug), **bearer(tenant, roles=["tenant_admin"], subject=str(uuid.uuid4()))}


async def subscribe(
    client: httpx.AsyncClient, tenant: TenantInfo, url: str, types: list[str], headers: dict[str, str] | None = None
) -> tuple[str, str]:
    response = await client.post(
        ENDPOINTS, json={"url": url, "event_types": types}, headers=headers or client_headers(tenant)
    )
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["secret"].startswith("whsec_")
    return body["endpoint"]["id"], body["secret"]


def bank_notice(reference: str, amount: str = "80.00") -> dict[str, Any]:
    return {
        "transaction_id": f"TXN{uuid.uuid4().hex[:16].upper()}",
        "biller_id": "099400012345601",
        "ref1": reference,
        "amount": amount,
        "paid_at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "payer_bank": "014",
    }


async def pay_by_bank(client: httpx.AsyncClient, tenant: TenantInfo, secret: str, reference: str) -> None:
    body = json.dumps(bank_notice(reference)).encode()
    stamp = str(int(dt.datetime.now(dt.UTC).timestamp()))
    headers = {
        **host(tenant.slug),
        "X-Localgov-Timestamp": stamp,
        "X-Localgov-Signature": bank.sign(secret, stamp, body),
        "Content-Type": "application/json",
    }
    response = await client.post(NOTIFY, content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "matched"


def verified(secret: str, request: tuple[str, dict[str, str], bytes]) -> Any:
    """The body, verified by the reference Standard Webhooks implementation (raises otherwise)."""
    _, headers, body = request
    return standardwebhooks.Webhook(secret).verify(body, headers)


async def deliver_topic_entries(engine: AsyncEngine, tenant: TenantInfo) -> list[Any]:
    async with engine.connect() as conn:
        result = await conn.execute(
            text(
                "SELECT id, status, payload, available_at - now() AS due_in FROM platform.outbox"
                " WHERE tenant_id = :t AND topic = :topic ORDER BY id"
            ),
            {"t": tenant.id, "topic": DELIVER_TOPIC},
        )
        return list(result)


# --- signatures ------------------------------------------------------------------------------------


def test_signature_is_the_standard_webhooks_algorithm() -> None:
    secret = signature.new_secret()
    body = b'{"type":"bill.paid","data":{"amount":"80.00"}}'
    now = int(dt.datetime.now(dt.UTC).timestamp())
    headers = signature.sign_headers([secret], "msg_1", now, body)
    assert headers["webhook-signature"].startswith("v1,")
    assert standardwebhooks.Webhook(secret).verify(body, headers) == json.loads(body)
    # The reference implementation signs the same bytes the same way.
    stamp = dt.datetime.fromtimestamp(now, dt.UTC)
    assert standardwebhooks.Webhook(secret).sign("msg_1", stamp, body.decode()) == headers["webhook-signature"]
    assert signature.verify(secret, headers, body, now)
    assert not signature.verify(secret, headers, body + b" ", now)
    assert not signature.verify(secret, headers, body, now + signature.TOLERANCE_S + 1)
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook(signature.new_secret()).verify(body, headers)


def test_retry_delays_grow_exponentially() -> None:
    delays = [retry_delay(n, 5.0).total_seconds() for n in range(1, 9)]
    assert delays[:4] == [5.0, 20.0, 80.0, 320.0]
    assert all(later > earlier for earlier, later in itertools.pairwise(delays))
    assert retry_delay(30, 5.0) == dt.timedelta(hours=12)


# --- the flow: a payment to a signed delivery -------------------------------------------------------


async def test_a_bank_payment_reaches_the_subscribed_endpoint_signed_and_logged(
    wh_settings: Settings, wh_engine: AsyncEngine, client_for: ClientFactory, receiver: Receiver
) -> None:
    tenant, bank_secret = await payments_lao(wh_engine)
    (bill,) = await open_bills(wh_engine, tenant)
    worker = await running(wh_settings, wh_engine, REGISTRY)
    async with client_for(plugins=REGISTRY, settings_=wh_settings) as client:
        types = await client.get("/v1/webhooks/event-types", headers=client_headers(tenant))
        assert types.status_code == 200, types.text
        names = {t["name"] for t in types.json()["items"]}
        assert {"bill.paid", "bill.cancelled", "receipt.issued", "receipt.voided"} <= names

        endpoint_id, secret = await subscribe(client, tenant, receiver.url, ["bill.paid", "receipt.issued"])
        await pay_by_bank(client, tenant, bank_secret, bill.reference)
        await worker.drain()

        assert len(receiver.requests) == 2
        events = {b["type"]: b for b in (verified(secret, r) for r in receiver.requests)}
        assert set(events) == {"bill.paid", "receipt.issued"}
        assert events["bill.paid"]["data"]["reference"] == bill.reference
        assert events["bill.paid"]["data"]["amount"] == "80.00"
        assert events["receipt.issued"]["data"]["bill_id"] == str(bill.id)
        line, headers, _ = receiver.requests[0]
        assert line == "POST /hooks HTTP/1.1"
        assert headers["content-type"] == "application/json"
        assert headers["webhook-id"].startswith("msg_")

        listed = await client.get(f"{ENDPOINTS}/{endpoint_id}/deliveries", headers=client_headers(tenant))
        assert listed.status_code == 200, listed.text
        deliveries = listed.json()["items"]
        assert [d["status"] for d in deliveries] == ["succeeded", "succeeded"]
        assert {d["event_type"] for d in deliveries} == {"bill.paid", "receipt.issued"}
        assert listed.json()["next_cursor"] is None
        first = (
            await client.get(
                f"{ENDPOINTS}/{endpoint_id}/deliveries", params={"limit": 1}, headers=client_headers(tenant)
            )
        ).json()
        second = (
            await client.get(
                f"{ENDPOINTS}/{endpoint_id}/deliveries",
                params={"limit": 1, "cursor": first["next_cursor"]},
                headers=client_headers(tenant),
            )
        ).json()
        assert [d["id"] for d in first["items"] + second["items"]] == [d["id"] for d in deliveries]
        assert second["next_cursor"] is None
        endpoints = await client.get(ENDPOINTS, params={"limit": 1}, headers=client_headers(tenant))
        assert [e["id"] for e in endpoints.json()["items"]] == [endpoint_id]
        assert endpoints.json()["next_cursor"] is None
        detail = await client.get(f"/v1/webhooks/deliveries/{deliveries[0]['id']}", headers=client_headers(tenant))
        assert detail.status_code == 200, detail.text
        (attempt,) = detail.json()["attempts"]
        assert attempt["response_status"] == 200
        assert attempt["trigger"] == "automatic"
        assert json.loads(attempt["response_excerpt"])["received"] in (1, 2)
        assert attempt["duration_ms"] >= 0
        assert detail.json()["payload"]["type"] == deliveries[0]["event_type"]

    # Unsubscribed events (bill.cancelled …) and other endpoints got nothing; nothing is left queued.
    assert all(e.status == "delivered" for e in await deliver_topic_entries(wh_engine, tenant))


async def test_failures_are_retried_with_backoff_then_given_up_and_replayable(
    wh_settings: Settings, wh_engine: AsyncEngine, client_for: ClientFactory, receiver: Receiver
) -> None:
    tenant, bank_secret = await payments_lao(wh_engine)
    (bill,) = await open_bills(wh_engine, tenant)
    worker = await running(wh_settings, wh_engine, REGISTRY)
    receiver.default_status = 503
    async with client_for(plugins=REGISTRY, settings_=wh_settings) as client:
        endpoint_id, secret = await subscribe(client, tenant, receiver.url, ["bill.paid"])
        await pay_by_bank(client, tenant, bank_secret, bill.reference)
        await worker.drain()
        assert len(receiver.requests) == 1
        # The next attempt waits in the outbox: base (2 s) after the first failure.
        pending = [e for e in await deliver_topic_entries(wh_engine, tenant) if e.status == "pending"]
        assert len(pending) == 1
        assert dt.timedelta(seconds=0) < pending[0].due_in <= dt.timedelta(seconds=2)
        await worker.drain()
        assert len(receiver.requests) == 1  # not before it is due

        await make_due(wh_engine)
        await worker.drain()
        assert len(receiver.requests) == 2
        pending = [e for e in await deliver_topic_entries(wh_engine, tenant) if e.status == "pending"]
        assert dt.timedelta(seconds=2) < pending[0].due_in <= dt.timedelta(seconds=8)  # 2 s × 4

        await make_due(wh_engine)
        await worker.drain()
        assert len(receiver.requests) == 3  # LOCALGOV_WEBHOOK_MAX_ATTEMPTS=3: given up
        await make_due(wh_engine)
        await worker.drain()
        assert len(receiver.requests) == 3

        listed = await client.get(f"{ENDPOINTS}/{endpoint_id}/deliveries", headers=client_headers(tenant))
        assert listed.status_code == 200, listed.text
        (delivery,) = listed.json()["items"]
        assert (delivery["status"], delivery["attempts"], delivery["last_status"]) == ("failed", 3, 503)
        # Every attempt is the same message (same webhook-id, same body), freshly signed.
        ids = {headers["webhook-id"] for _, headers, _ in receiver.requests}
        assert ids == {delivery["message_id"]}
        for request in receiver.requests:
            verified(secret, request)

        # The integrator fixed its receiver and replays the delivery.
        receiver.default_status = 204
        replay = await client.post(f"/v1/webhooks/deliveries/{delivery['id']}/replay", headers=client_headers(tenant))
        assert replay.status_code == 202, replay.text
        assert replay.json()["status"] == "pending"
        await worker.drain()
        assert len(receiver.requests) == 4
        assert receiver.requests[-1][1]["webhook-id"] == delivery["message_id"]
        detail = (await client.get(f"/v1/webhooks/deliveries/{delivery['id']}", headers=client_headers(tenant))).json()
        assert detail["delivery"]["status"] == "succeeded"
        assert [(a["attempt"], a["trigger"], a["response_status"]) for a in detail["attempts"]] == [
            (1, "automatic", 503),
            (2, "automatic", 503),
            (3, "automatic", 503),
            (4, "replay", 204),
        ]


async def test_a_410_disables_the_endpoint(
    wh_settings: Settings, wh_engine: AsyncEngine, client_for: ClientFactory, receiver: Receiver
) -> None:
    tenant, bank_secret = await payments_lao(wh_engine)
    bills = await open_bills(wh_engine, tenant, count=2)
    worker = await running(wh_settings, wh_engine, REGISTRY)
    receiver.default_status = 410
    async with client_for(plugins=REGISTRY, settings_=wh_settings) as client:
        endpoint_id, _ = await subscribe(client, tenant, receiver.url, ["bill.paid"])
        await pay_by_bank(client, tenant, bank_secret, bills[0].reference)
        await worker.drain()
        shown = (await client.get(f"{ENDPOINTS}/{endpoint_id}", headers=client_headers(tenant))).json()
        assert (shown["status"], shown["disabled_reason"]) == ("disabled", "gone")
        await pay_by_bank(client, tenant, bank_secret, bills[1].reference)
        await worker.drain()
        assert len(receiver.requests) == 1
        listed = await client.get(f"{ENDPOINTS}/{endpoint_id}/deliveries", headers=client_headers(tenant))
        assert listed.status_code == 200, listed.text
        (delivery,) = listed.json()["items"]
        refused = await client.post(f"/v1/webhooks/deliveries/{delivery['id']}/replay", headers=client_headers(tenant))
        assert refused.status_code == 409
        assert refused.json()["code"] == "webhook_endpoint_disabled"


# --- secrets -----------------------------------------------------------------------------------------------


async def test_rotation_signs_with_both_secrets_during_the_overlap_then_the_new_one(
    wh_settings: Settings, wh_engine: AsyncEngine, client_for: ClientFactory, receiver: Receiver
) -> None:
    tenant, bank_secret = await payments_lao(wh_engine)
    bills = await open_bills(wh_engine, tenant, count=2)
    worker = await running(wh_settings, wh_engine, REGISTRY)
    async with client_for(plugins=REGISTRY, settings_=wh_settings) as client:
        endpoint_id, old = await subscribe(client, tenant, receiver.url, ["bill.paid"])
        rotated = await client.post(
            f"{ENDPOINTS}/{endpoint_id}/rotate-secret", json={"overlap_s": 3600}, headers=client_headers(tenant)
        )
        assert rotated.status_code == 200, rotated.text
        new = rotated.json()["secret"]
        assert new != old
        assert rotated.json()["endpoint"]["previous_secret_until"] is not None
        await pay_by_bank(client, tenant, bank_secret, bills[0].reference)
        await worker.drain()
        request = receiver.requests[-1]
        assert len(request[1]["webhook-signature"].split(" ")) == 2
        verified(old, request)  # a receiver still holding the old secret verifies
        verified(new, request)  # and one that switched already

        ended = await client.post(
            f"{ENDPOINTS}/{endpoint_id}/rotate-secret", json={"overlap_s": 0}, headers=client_headers(tenant)
        )
        newest = ended.json()["secret"]
        await pay_by_bank(client, tenant, bank_secret, bills[1].reference)
        await worker.drain()
        request = receiver.requests[-1]
        assert len(request[1]["webhook-signature"].split(" ")) == 1
        verified(newest, request)
        with pytest.raises(standardwebhooks.WebhookVerificationError):
            verified(new, request)


# --- SSRF ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://169.254.169.254/latest/meta-data/", "metadata_address"),
        ("http://[fd00:ec2::254]/", "metadata_address"),
        ("http://10.0.0.7/hooks", "private_address"),
        ("http://192.168.1.1/hooks", "private_address"),
        ("http://100.64.0.1/hooks", "cgnat_address"),
        ("http://[::ffff:127.0.0.1]/hooks", "loopback_address"),
        ("http://2130706433/hooks", "ambiguous_ip_literal"),
        ("http://0177.0.0.1/hooks", "ambiguous_ip_literal"),
        ("http://user:pw@hooks.example.com/", "credentials_in_url"),
        ("ftp://hooks.example.com/", "scheme_not_allowed"),
        ("http://[fe80::1]/hooks", "link_local_address"),
    ],
)
async def test_registration_refuses_internal_destinations(
    settings: Settings, engine: AsyncEngine, client_for: ClientFactory, url: str, reason: str
) -> None:
    tenant = await make_tenant(engine, services=["payments"])
    async with client_for(plugins=REGISTRY) as client:
        response = await client.post(
            ENDPOINTS, json={"url": url, "event_types": ["bill.paid"]}, headers=client_headers(tenant)
        )
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "egress_refused"
    assert response.json()["data"]["reason"] == reason


async def test_registration_refuses_loopback_unless_the_escape_is_on(
    engine: AsyncEngine, settings: Settings, client_for: ClientFactory
) -> None:
    tenant = await make_tenant(engine, services=["payments"])
    async with client_for(plugins=REGISTRY) as client:  # the default test settings: no escape
        response = await client.post(
            ENDPOINTS,
            json={"url": "http://127.0.0.1:9/x", "event_types": ["bill.paid"]},
            headers=client_headers(tenant),
        )
    assert response.status_code == 422
    assert response.json()["data"]["reason"] == "loopback_address"


async def test_dns_rebinding_after_registration_is_refused_at_connect_time(
    wh_settings: Settings, wh_engine: AsyncEngine, client_for: ClientFactory, receiver: Receiver
) -> None:
    """The name resolved to a public address when registered, to 127.0.0.1 when called."""
    tenant, bank_secret = await payments_lao(wh_engine)
    (bill,) = await open_bills(wh_engine, tenant)
    strict = egress.policy_for("test", timeout_s=3)  # loopback not allowed: the real rule
    answers = iter([["93.184.216.34"], ["127.0.0.1"]])
    asked: list[str] = []

    async def rebinding(host_name: str, port: int) -> list[egress.IPAddress]:
        asked.append(host_name)
        return [ipaddress.ip_address(a) for a in next(answers)]

    url = f"http://hooks.rebind.example:{receiver.port}/hooks"
    webhooks.register_public_events(REGISTRY)  # what the app and the worker do when built
    async with tenant_session(session_factory(wh_engine), tenant) as session:
        endpoint, _ = await webhooks.create_endpoint(
            session,
            url=url,
            description=None,
            event_types=["bill.paid"],
            owner=webhooks.Owner(kind="client", id="lgc_integrator"),
            enabled_services=tenant.enabled_services,
            policy=strict,
            secret_key=TEST_SECRET,
            actor=Actor("client", "lgc_integrator"),
            origin=Origin(),
            resolver=rebinding,
        )
    worker = await running(wh_settings, wh_engine, REGISTRY)
    worker.worker.handlers[DELIVER_TOPIC] = webhooks.delivery_consumer(wh_settings, resolver=rebinding, policy=strict)
    async with client_for(plugins=REGISTRY, settings_=wh_settings) as client:
        await pay_by_bank(client, tenant, bank_secret, bill.reference)
        await worker.drain()
        assert receiver.requests == []  # never connected
        assert asked == ["hooks.rebind.example", "hooks.rebind.example"]
        listed = await client.get(f"{ENDPOINTS}/{endpoint.id}/deliveries", headers=client_headers(tenant))
        assert listed.status_code == 200, listed.text
        (delivery,) = listed.json()["items"]
        detail = (await client.get(f"/v1/webhooks/deliveries/{delivery['id']}", headers=client_headers(tenant))).json()
    (attempt,) = detail["attempts"]
    assert attempt["error"] == "egress_refused:loopback_address"
    assert attempt["response_status"] is None


# --- who sees what --------------------------------------------------------------------------------------------


async def test_subscriptions_and_deliveries_are_isolated_between_laos_and_clients(
    wh_settings: Settings, wh_engine: AsyncEngine, client_for: ClientFactory, receiver: Receiver
) -> None:
    lao_a, secret_a = await payments_lao(wh_engine)
    lao_b, secret_b = await payments_lao(wh_engine)
    (bill_a,) = await open_bills(wh_engine, lao_a)
    (bill_b,) = await open_bills(wh_engine, lao_b)
    worker = await running(wh_settings, wh_engine, REGISTRY)
    async with client_for(plugins=REGISTRY, settings_=wh_settings) as client:
        endpoint_a, _ = await subscribe(client, lao_a, receiver.url + "?lao=a", ["bill.paid"])
        other_client = client_headers(lao_a, client_id="lgc_other")
        endpoint_other, _ = await subscribe(client, lao_a, receiver.url + "?client=other", ["bill.paid"], other_client)
        await pay_by_bank(client, lao_b, secret_b, bill_b.reference)
        await worker.drain()
        assert receiver.requests == []  # LAO B's payment reaches none of LAO A's endpoints
        await pay_by_bank(client, lao_a, secret_a, bill_a.reference)
        await worker.drain()
        assert sorted(line for line, _, _ in receiver.requests) == [
            "POST /hooks?client=other HTTP/1.1",
            "POST /hooks?lao=a HTTP/1.1",
        ]
        (delivery,) = (await client.get(f"{ENDPOINTS}/{endpoint_a}/deliveries", headers=client_headers(lao_a))).json()[
            "items"
        ]
        same_client_in_b = client_headers(lao_b)
        for path in (
            f"{ENDPOINTS}/{endpoint_a}",
            f"{ENDPOINTS}/{endpoint_a}/deliveries",
            f"/v1/webhooks/deliveries/{delivery['id']}",
        ):
            # Another LAO (even with the same client id) and another client of the same LAO: 404.
            for headers in (same_client_in_b, admin_headers(lao_b), other_client):
                response = await client.get(path, headers=headers)
                assert response.status_code == 404, (path, response.text)
        replay = await client.post(f"/v1/webhooks/deliveries/{delivery['id']}/replay", headers=other_client)
        assert replay.status_code == 404
        patched = await client.patch(f"{ENDPOINTS}/{endpoint_a}", json={"status": "disabled"}, headers=other_client)
        assert patched.status_code == 404
        assert (await client.get(ENDPOINTS, headers=same_client_in_b)).json()["items"] == []
        own = (await client.get(ENDPOINTS, headers=client_headers(lao_a))).json()["items"]
        assert [e["id"] for e in own] == [endpoint_a]
        # The LAO's administrators see and manage every endpoint of their LAO.
        every = (await client.get(ENDPOINTS, headers=admin_headers(lao_a))).json()["items"]
        assert {e["id"] for e in every} == {endpoint_a, endpoint_other}
        disabled = await client.patch(
            f"{ENDPOINTS}/{endpoint_other}", json={"status": "disabled"}, headers=admin_headers(lao_a)
        )
        assert disabled.status_code == 200, disabled.text
        assert disabled.json()["disabled_reason"] == "manual"
        gone = await client.delete(f"{ENDPOINTS}/{endpoint_other}", headers=other_client)
        assert gone.status_code == 204
        assert (await client.get(f"{ENDPOINTS}/{endpoint_other}", headers=other_client)).status_code == 404


async def test_webhooks_need_the_manage_scope_or_the_admin_role(engine: AsyncEngine, client_for: ClientFactory) -> None:
    tenant = await make_tenant(engine, services=["payments"])
    async with client_for(plugins=REGISTRY) as client:
        for headers in (
            client_headers(tenant, scopes=("payments.read",)),
            {**host(tenant.slug), **bearer(tenant, roles=["payments.finance"])},
        ):
            response = await client.get(ENDPOINTS, headers=headers)
            assert response.status_code == 403, response.text
        assert (await client.get(ENDPOINTS, headers=host(tenant.slug))).status_code == 401
        assert (await client.get(ENDPOINTS, headers=admin_headers(tenant))).status_code == 200


async def test_subscriptions_are_validated(engine: AsyncEngine, client_for: ClientFactory) -> None:
    tenant = await make_tenant(engine, services=["payments"])
    other = await make_tenant(engine, services=[])
    async with client_for(plugins=REGISTRY) as client:
        cases: list[tuple[dict[str, Any], int, str]] = [
            ({"url": "https://hooks.example.com/x", "event_types": ["bill.exploded"]}, 422, "webhook_event_unknown"),
            ({"url": "https://hooks.example.com/x", "event_types": []}, 400, "validation_error"),
            ({"url": "https://hooks.example.com/x", "event_types": ["bill.paid"], "extra": 1}, 400, "validation_error"),
            ({"url": 7, "event_types": ["bill.paid"]}, 400, "validation_error"),
        ]
        for body, status, code in cases:
            response = await client.post(ENDPOINTS, json=body, headers=client_headers(tenant))
            assert response.status_code == status, (body, response.text)
            assert response.json()["code"] == code
        # An LAO without payments publishes no payment events.
        response = await client.post(
            ENDPOINTS,
            json={"url": "https://hooks.example.com/x", "event_types": ["bill.paid"]},
            headers=client_headers(other),
        )
        assert response.status_code == 422
        assert response.json()["data"]["available"] == []
        assert (await client.get(f"{ENDPOINTS}/{uuid.uuid4()}", headers=client_headers(tenant))).status_code == 404
        assert (await client.get(f"{ENDPOINTS}/not-a-uuid", headers=client_headers(tenant))).status_code in (400, 404)


async def test_old_messages_are_purged_unless_still_being_delivered(engine: AsyncEngine) -> None:
    tenant = await make_tenant(engine, services=["payments"])
    webhooks.register_public_events(REGISTRY)
    factory = session_factory(engine)
    async with tenant_session(factory, tenant) as session:
        endpoint, _ = await webhooks.create_endpoint(
            session,
            url="http://127.0.0.1:9/hooks",
            description=None,
            event_types=["bill.paid"],
            owner=webhooks.Owner(kind="client", id="lgc_integrator"),
            enabled_services=tenant.enabled_services,
            policy=egress.policy_for("test", allow_loopback=True),
            secret_key=TEST_SECRET,
            actor=Actor("system"),
            origin=Origin(),
        )
        for n, (age_days, status) in enumerate([(40, "succeeded"), (40, "pending"), (5, "failed")]):
            await session.execute(
                text(
                    "INSERT INTO webhook_messages (id, event_type, event_entry_id, body, created_at)"
                    " VALUES (:id, 'bill.paid', :n, '{}', now() - make_interval(days => :age))"
                ),
                {"id": f"msg_{n}", "n": -1 - n, "age": age_days},
            )
            await session.execute(
                text("INSERT INTO webhook_deliveries (endpoint_id, message_id, status) VALUES (:e, :m, :s)"),
                {"e": endpoint.id, "m": f"msg_{n}", "s": status},
            )
        assert await webhooks.purge_old_messages(session, dt.datetime.now(dt.UTC)) == 1
        left = (await session.execute(text("SELECT message_id FROM webhook_deliveries ORDER BY 1"))).scalars()
        assert list(left) == ["msg_1", "msg_2"]
