"""The exchange with outside agencies: the signed envelope sent through kernel.egress to a real
HTTP receiver on loopback (receipt, retry with the same consignment id, typed failures), SSRF
targets refused, and the inbound endpoint (signature, duplicate, unknown addressee, validation,
too large) fed with the very bytes the outbound side sent."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import ipaddress
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import msgspec
import pytest
from sqlalchemy import delete, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.kernel import egress
from localgov.kernel.db import session_factory, tenant_session
from localgov.kernel.outbox import Delivery, OutboxEntry
from localgov.kernel.storage import FileOwner, blob_store, list_files
from localgov.kernel.usage import UsageEvent
from localgov.plugins import REGISTRY
from localgov.services.saraban import exchange, issuing
from localgov.services.saraban.models import Letter, OutsideAgency, Recipient
from localgov.settings import Settings
from tests.conftest import ClientFactory, host
from tests.support.saraban import ORIGIN, Lao, approved, make_lao
from tests.support.tokens import TEST_SECRET

TEST = egress.policy_for("test", allow_loopback=True, timeout_s=5)
PROD = egress.policy_for("production")


@dataclass
class Receiver:
    """An outside agency's exchange endpoint: records each request, answers what it is told."""

    port: int = 0
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    answers: list[tuple[int, dict[str, Any], list[tuple[str, str]]]] = field(default_factory=list)

    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/exchange/in"


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    state = Receiver()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        state.requests.append((headers, body))
        status, answer, extra = state.answers.pop(0) if state.answers else (500, {}, [])
        payload = json.dumps(answer).encode()
        more = "".join(f"{k}: {v}\r\n" for k, v in extra)
        head = f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
        writer.write(f"{head}{more}\r\n".encode() + payload)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    state.port = server.sockets[0].getsockname()[1]
    try:
        yield state
    finally:
        server.close()


def _code() -> str:
    return f"นอก {uuid.uuid4().hex[:8]}"


async def register_agency(engine: AsyncEngine, code: str, endpoint: str | None, secret: str) -> int:
    """An outside agency in the operator's directory with a known exchange secret."""
    async with engine.begin() as conn:
        agency_id = (
            await conn.execute(
                insert(OutsideAgency)
                .values(code=code, name_th=f"หน่วยงาน {code}", endpoint_url=endpoint)
                .returning(OutsideAgency.id)
            )
        ).scalar_one()
        await conn.execute(
            insert(exchange.ExchangeKey).values(
                agency_id=agency_id, secret=exchange._seal(TEST_SECRET, agency_id, secret)
            )
        )
    return int(agency_id)


async def issued_to(lao: Lao, agency_code: str) -> tuple[uuid.UUID, uuid.UUID]:
    """A letter issued to the outside agency; returns (letter id, addressee row id)."""
    letter_id = await approved(
        lao,
        subject="ขอส่งรายงานผลการดำเนินงานประจำปี",
        recipients=[{"kind": "outside", "agency_code": agency_code}],
    )
    async with lao.db() as session:
        await issuing.issue_letter(session, letter_id, 3, tenant=lao.tenant, viewer=lao.viewer("clerk"), origin=ORIGIN)
    async with lao.db() as session:
        recipient = (await session.execute(select(Recipient).where(Recipient.letter_id == letter_id))).scalar_one()
        assert recipient.status == "awaiting_exchange"
        return letter_id, recipient.id


async def run_send(lao: Lao, settings: Settings, recipient_id: uuid.UUID, policy: egress.EgressPolicy = TEST) -> str:
    store = blob_store(settings)
    try:
        async with lao.db() as session:
            return await exchange.send_consignment(
                session,
                lao.tenant.id,
                recipient_id,
                runtime=exchange.Runtime(secret_key=TEST_SECRET, policy=policy, store=store),
            )
    finally:
        await store.aclose()


async def recipient_row(lao: Lao, recipient_id: uuid.UUID) -> Recipient:
    async with lao.db() as session:
        row = await session.get(Recipient, recipient_id)
        assert row is not None
        return row


async def test_the_issue_queues_one_consignment_per_outside_addressee(engine: AsyncEngine) -> None:
    lao = await make_lao(engine)
    code = _code()
    await register_agency(engine, code, "https://agency.example.org/in", "lgsb_secret")
    letter_id, recipient_id = await issued_to(lao, code)
    async with tenant_session(session_factory(engine), None) as session:
        event = (
            await session.execute(
                select(OutboxEntry).where(
                    OutboxEntry.tenant_id == lao.tenant.id, OutboxEntry.topic == "saraban.letter_issued"
                )
            )
        ).scalar_one()
        await exchange.on_letter_issued(Delivery(event, session, {lao.tenant.id: lao.tenant.schema}))
        await session.flush()
        queued = (
            (
                await session.execute(
                    select(OutboxEntry.payload).where(
                        OutboxEntry.tenant_id == lao.tenant.id, OutboxEntry.topic == exchange.SEND_TOPIC
                    )
                )
            )
            .scalars()
            .all()
        )
        await session.rollback()
    assert queued == [{"letter_id": str(letter_id), "recipient_id": str(recipient_id)}]
    # Metered at the issue, once per outside addressee (the operator's "letters sent outside").
    async with tenant_session(session_factory(engine), None) as session:
        metered = (
            await session.execute(
                select(UsageEvent.meter, UsageEvent.quantity).where(UsageEvent.tenant_id == lao.tenant.id)
            )
        ).all()
    assert [(m, int(q)) for m, q in metered] == [("saraban.letters_sent_outside", 1)]


async def test_the_signed_envelope_is_delivered_and_the_receipt_recorded(
    engine: AsyncEngine, settings: Settings, receiver: Receiver
) -> None:
    lao = await make_lao(engine)
    code = _code()
    await register_agency(engine, code, receiver.url(), "lgsb_shared_secret_of_the_agency")
    letter_id, recipient_id = await issued_to(lao, code)
    receiver.answers = [
        (500, {"title": "down"}, []),
        (409, {"code": "exchange_duplicate", "data": {"receipt_id": "รับ 77/2569"}}, []),
    ]
    with pytest.raises(exchange.ExchangeRetry):  # a 5xx: the outbox retries later
        await run_send(lao, settings, recipient_id)
    assert (await recipient_row(lao, recipient_id)).status == "awaiting_exchange"
    # The retry: the receiver had it already (its answer was lost): a duplicate with the first receipt.
    assert await run_send(lao, settings, recipient_id) == "delivered"
    row = await recipient_row(lao, recipient_id)
    assert (row.status, row.receipt_no) == ("delivered", "รับ 77/2569")
    assert await run_send(lao, settings, recipient_id) == "skipped"  # settled: never sent again
    assert len(receiver.requests) == 2

    (first_headers, first), (second_headers, second) = receiver.requests
    assert first_headers[exchange.CONSIGNMENT_HEADER.lower()] == second_headers[exchange.CONSIGNMENT_HEADER.lower()]
    envelope = msgspec.json.decode(second, type=exchange.Envelope)
    assert envelope.consignment_id == exchange.consignment_id(lao.tenant.id, recipient_id)
    assert envelope == msgspec.json.decode(first, type=exchange.Envelope)  # the same envelope each time
    assert envelope.recipient.code == code
    assert envelope.sender.code == "ขก 51301"
    assert envelope.subject == "ขอส่งรายงานผลการดำเนินงานประจำปี"
    assert envelope.number.startswith("ที่ ขก 51301/")
    pdf = exchange.decode_document(envelope.main_document)
    assert pdf.startswith(b"%PDF")
    assert hashlib.sha256(pdf).hexdigest() == envelope.main_document.sha256
    # Signed with the agency's secret, verifiable by the agency with kernel.signing.
    exchange.SCHEME.verify(
        ["lgsb_shared_secret_of_the_agency"],
        second_headers["x-saraban-timestamp"],
        second_headers["x-saraban-signature"],
        second,
        dt.datetime.now(dt.UTC),
    )
    async with lao.db() as session:
        letter = await session.get(Letter, letter_id)
        assert letter is not None


async def test_the_workers_consumer_sends_with_the_workers_settings(
    engine: AsyncEngine, settings: Settings, receiver: Receiver
) -> None:
    """``on_send`` as the worker calls it: the secret key, egress policy and blob store come from
    the settings the worker hands the delivery (here: loopback allowed), not from the environment."""
    lao = await make_lao(engine)
    code = _code()
    await register_agency(engine, code, receiver.url(), "lgsb_worker_secret")
    _, recipient_id = await issued_to(lao, code)
    receiver.answers = [(201, {"receipt_id": "รับ 5/2569"}, [])]
    worker_settings = msgspec.structs.replace(settings, egress_allow_loopback=True)
    async with tenant_session(session_factory(engine), None) as session:
        issued_event = (
            await session.execute(
                select(OutboxEntry).where(
                    OutboxEntry.tenant_id == lao.tenant.id, OutboxEntry.topic == "saraban.letter_issued"
                )
            )
        ).scalar_one()
        schemas = {lao.tenant.id: lao.tenant.schema}
        await exchange.on_letter_issued(Delivery(issued_event, session, schemas, settings=worker_settings))
        await session.flush()
        send = (
            await session.execute(
                select(OutboxEntry).where(
                    OutboxEntry.tenant_id == lao.tenant.id, OutboxEntry.topic == exchange.SEND_TOPIC
                )
            )
        ).scalar_one()
        await exchange.on_send(Delivery(send, session, schemas, settings=worker_settings))
    assert len(receiver.requests) == 1
    row = await recipient_row(lao, recipient_id)
    assert (row.status, row.receipt_no) == ("delivered", "รับ 5/2569")
    headers, body = receiver.requests[0]
    assert msgspec.json.decode(body, type=exchange.Envelope).consignment_id == exchange.consignment_id(
        lao.tenant.id, recipient_id
    )
    exchange.SCHEME.verify(
        ["lgsb_worker_secret"],
        headers["x-saraban-timestamp"],
        headers["x-saraban-signature"],
        body,
        dt.datetime.now(dt.UTC),
    )


@pytest.mark.parametrize(
    ("status", "answer", "reason"),
    [
        (404, {"code": "exchange_unknown_addressee"}, "unknown_addressee"),
        (422, {"code": "exchange_validation"}, "validation"),
        (413, {"code": "exchange_too_large"}, "too_large"),
        (401, {"code": "invalid_signature"}, "signature"),
    ],
)
async def test_typed_failures_are_recorded_on_the_addressee(
    engine: AsyncEngine, settings: Settings, receiver: Receiver, status: int, answer: dict[str, Any], reason: str
) -> None:
    lao = await make_lao(engine)
    code = _code()
    await register_agency(engine, code, receiver.url(), "lgsb_x")
    _, recipient_id = await issued_to(lao, code)
    receiver.answers = [(status, answer, [])]
    assert await run_send(lao, settings, recipient_id) == f"failed:{reason}"
    row = await recipient_row(lao, recipient_id)
    assert row.status == "failed"
    assert row.error is not None
    assert row.error.startswith(reason)
    assert await run_send(lao, settings, recipient_id) == "skipped"


async def test_ssrf_targets_and_redirects_are_refused(
    engine: AsyncEngine, settings: Settings, receiver: Receiver
) -> None:
    lao = await make_lao(engine)
    # A redirect (to the metadata service) is never followed.
    code = _code()
    await register_agency(engine, code, receiver.url(), "lgsb_r")
    _, recipient_id = await issued_to(lao, code)
    receiver.answers = [(302, {}, [("Location", "http://169.254.169.254/latest/meta-data/")])]
    assert await run_send(lao, settings, recipient_id) == "failed:redirect_refused"
    assert len(receiver.requests) == 1
    # Private, loopback, link-local and metadata endpoints: refused before any connection.
    for url in (
        "https://10.0.0.5/in",
        "https://192.168.1.20/in",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/in",
        "https://localhost/in",
        f"http://127.0.0.1:{receiver.port}/exchange/in",
    ):
        code = _code()
        await register_agency(engine, code, url, "lgsb_s")
        _, recipient_id = await issued_to(lao, code)
        assert await run_send(lao, settings, recipient_id, PROD) == "failed:endpoint_refused", url
    assert len(receiver.requests) == 1
    # The operator cannot register a key for an agency whose endpoint is a private address.
    code = _code()
    agency_id = await register_agency(engine, code, "https://internal.example.org/in", "lgsb_t")

    async def private(host: str, port: int) -> list[egress.IPAddress]:
        return [ipaddress.ip_address("10.20.30.40")]

    async with tenant_session(session_factory(engine), None) as session:
        with pytest.raises(egress.EgressRefused) as refused:
            await exchange.rotate_key(
                session, TEST_SECRET, agency_id, policy=PROD, actor=lao.viewer("admin").audit, origin=ORIGIN,
                resolver=private,
            )  # fmt: skip
    assert refused.value.reason == "private_address"


async def test_the_inbound_endpoint_checks_and_registers_the_envelope_once(
    engine: AsyncEngine, settings: Settings, receiver: Receiver, client_for: ClientFactory
) -> None:
    sender = await make_lao(engine, agency_code=f"ขก {uuid.uuid4().hex[:6]}")
    addressee = await make_lao(engine, agency_code=f"ชม {uuid.uuid4().hex[:6]}")
    secret = "lgsb_secret_between_the_two"
    # The addressee LAO is, for the sender, an outside agency at a loopback receiver; the sender's
    # code is, for the addressee, a registered agency with the same secret.
    async with addressee.db() as session:
        addressee_code = (await session.execute(select(exchange.SarabanSettings.agency_code))).scalar_one()
    async with sender.db() as session:
        sender_code = (await session.execute(select(exchange.SarabanSettings.agency_code))).scalar_one()
    await register_agency(engine, addressee_code, receiver.url(), secret)
    await register_agency(engine, sender_code, None, secret)
    _, recipient_id = await issued_to(sender, addressee_code)
    receiver.answers = [(201, {"receipt_id": "x"}, [])]
    await run_send(sender, settings, recipient_id)
    [(headers, body)] = receiver.requests
    sent = {k: v for k, v in headers.items() if k.startswith("x-saraban-")}

    async with client_for(plugins=REGISTRY, listen=False) as http:
        url = "/v1/saraban/exchange/inbound"
        on = host(addressee.tenant.slug)
        ok = await http.post(url, content=body, headers={**on, **sent, "content-type": "application/json"})
        assert ok.status_code == 201, ok.text
        receipt = ok.json()
        assert receipt["consignment_id"] == str(exchange.consignment_id(sender.tenant.id, recipient_id))
        again = await http.post(url, content=body, headers={**on, **sent})
        assert again.status_code == 409
        assert again.json()["code"] == "exchange_duplicate"
        assert again.json()["data"]["receipt_id"] == receipt["receipt_id"]

        def signed(payload: bytes, who: str = sender_code, key: str = secret) -> dict[str, str]:
            return {
                **on,
                **exchange.SCHEME.headers([key], payload, dt.datetime.now(dt.UTC)),
                exchange.SENDER_HEADER: exchange.sender_header(who),
            }

        forged = await http.post(url, content=body, headers=signed(body, key="lgsb_not_the_secret"))
        assert forged.status_code == 401
        assert forged.json()["code"] == "invalid_signature"
        stranger = await http.post(url, content=body, headers=signed(body, who="ไม่มี 999"))
        assert stranger.status_code == 401
        assert stranger.json()["code"] == "exchange_unknown_sender"
        # Delivered to the wrong LAO: the recipient code is not its own.
        wrong = await http.post(url, content=body, headers={**signed(body), **host(sender.tenant.slug)})
        assert wrong.status_code == 404
        assert wrong.json()["code"] == "exchange_unknown_addressee"
        envelope = json.loads(body)
        envelope["consignment_id"] = str(uuid.uuid4())
        envelope["main_document"]["sha256"] = "0" * 64
        tampered = json.dumps(envelope).encode()
        bad_hash = await http.post(url, content=tampered, headers=signed(tampered))
        assert bad_hash.status_code == 422
        assert bad_hash.json()["data"]["reason"] == "hash_mismatch"
        envelope["main_document"] = exchange.msgspec.to_builtins(
            exchange._document("x.pdf", "text/plain", b"plain text")
        )
        wrong_type = json.dumps(envelope).encode()
        refused_type = await http.post(url, content=wrong_type, headers=signed(wrong_type))
        assert refused_type.status_code == 422
        assert refused_type.json()["data"]["reason"] == "document_type"
        junk = await http.post(url, content=b'{"version": 1}', headers=signed(b'{"version": 1}'))
        assert junk.status_code == 422
        assert junk.json()["data"]["reason"] == "schema"

    async with addressee.db() as session:
        letters_in = (
            (
                await session.execute(
                    select(Letter).where(Letter.direction == "incoming", Letter.sender_code == sender_code)
                )
            )
            .scalars()
            .all()
        )
        assert len(letters_in) == 1
        [letter] = letters_in
        assert letter.subject == "ขอส่งรายงานผลการดำเนินงานประจำปี"
        files = await list_files(session, FileOwner("saraban.letter", str(letter.id)))
        assert [f.sha256 for f in files] == [json.loads(body)["main_document"]["sha256"]]


async def test_an_envelope_too_large_is_refused_with_its_type(
    engine: AsyncEngine, client_for: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    lao = await make_lao(engine)
    sender_code = _code()
    await register_agency(engine, sender_code, None, "lgsb_big")
    monkeypatch.setattr(exchange, "MAX_ENVELOPE_BYTES", 1024)
    body = b'{"pad": "' + b"x" * 2048 + b'"}'
    async with client_for(plugins=REGISTRY, listen=False) as http:
        response = await http.post(
            "/v1/saraban/exchange/inbound",
            content=body,
            headers={
                **host(lao.tenant.slug),
                **exchange.SCHEME.headers(["lgsb_big"], body, dt.datetime.now(dt.UTC)),
                exchange.SENDER_HEADER: exchange.sender_header(sender_code),
            },
        )
    assert response.status_code == 413
    assert response.json()["code"] == "exchange_too_large"
    async with engine.begin() as conn:
        await conn.execute(delete(OutsideAgency).where(OutsideAgency.code == sender_code))


async def test_the_operator_issues_and_rotates_an_agencys_exchange_key(
    engine: AsyncEngine, client_for: ClientFactory
) -> None:
    from tests.support.lifecycle import operator_headers

    lao = await make_lao(engine)
    code = _code()
    async with engine.begin() as conn:
        agency_id = (
            await conn.execute(
                insert(OutsideAgency)
                .values(code=code, name_th="กรมทดสอบ", endpoint_url="https://93.184.216.34/exchange")
                .returning(OutsideAgency.id)
            )
        ).scalar_one()
    url = f"/v1/outside-agencies/{agency_id}/exchange-key"
    async with client_for(plugins=REGISTRY, listen=False) as http:
        first = await http.post(url, headers=operator_headers())
        assert first.status_code == 200, first.text
        assert first.json()["secret"].startswith("lgsb_")
        assert first.json()["previous_valid_until"] is None
        second = await http.post(url, headers=operator_headers())
        assert second.status_code == 200
        assert second.json()["previous_valid_until"] is not None
        assert second.json()["secret"] != first.json()["secret"]
        assert (
            await http.post("/v1/outside-agencies/999999999/exchange-key", headers=operator_headers())
        ).status_code == 404
        assert (await http.post(url, headers={**host(lao.tenant.slug), **lao.headers("admin")})).status_code in (
            401,
            403,
            404,
        )
    # Both secrets verify during the overlap; the stored values are not the secrets.
    async with tenant_session(session_factory(engine), None) as session:
        in_force = await exchange.secrets_of(session, TEST_SECRET, agency_id, dt.datetime.now(dt.UTC))
        row = await session.get(exchange.ExchangeKey, agency_id)
        assert row is not None
        assert second.json()["secret"].encode() not in row.secret
    assert in_force == [second.json()["secret"], first.json()["secret"]]
    async with engine.connect() as conn:
        audited = (
            await conn.execute(
                text(
                    "SELECT count(*) FROM platform.operator_audit_events"
                    " WHERE action = 'saraban.exchange_key_rotated' AND target = :t"
                ),
                {"t": f"saraban_outside_agency:{agency_id}"},
            )
        ).scalar_one()
    assert audited == 2
