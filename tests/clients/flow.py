"""An integrator's first hour, with a client generated from the OpenAPI document (CI step).

``python -m tests.clients.flow --client-dir DIR`` (DIR holds the package ``localgov_client`` that
``openapi-python-client`` generated from ``tests/clients/openapi_dump.py``'s document):

1. a database of its own (``LOCALGOV_TEST_DATABASE_URL`` or an embedded server), one LAO with
   payments in sandbox mode, an API client with its scopes;
2. the real application served by uvicorn on 127.0.0.1, the real worker, a webhook receiver on
   127.0.0.1 (``LOCALGOV_EGRESS_ALLOW_LOOPBACK``: the test escape of kernel.egress);
3. with the generated client only: token (client credentials) → payer → bill (Idempotency-Key)
   → webhook subscription → sandbox payment → the ``bill.paid`` webhook arrives and its signature
   verifies with the reference Standard Webhooks library.

Bounded: every wait has a deadline (``--timeout``, default 60 s); exit code 0 only if all held.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import importlib
import json
import socket
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import standardwebhooks
import uvicorn

from localgov.app import create_app
from localgov.identity.clients import create_client, enabled_scopes
from localgov.kernel.audit import Actor, Origin
from localgov.kernel.db import create_engine, session_factory, tenant_session
from localgov.metadata import INSTALLATION
from localgov.platform.installation import install
from localgov.plugins import REGISTRY
from localgov.services.payments.models import PaymentSettings
from localgov.worker import Worker
from tests.conftest import BASE, _migrated_database, make_settings
from tests.support.database import admin_url, drop_database
from tests.support.factories import make_tenant

SCOPES = ["payments.read", "payments.write", "payments.receipts.read", "webhooks.manage"]


class Receiver:
    """Webhook receiver: keeps each request; ``paid`` is set when a ``bill.paid`` arrives."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.paid = asyncio.Event()
        self.port = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        self.requests.append((headers, body))
        writer.write(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()
        if json.loads(body).get("type") == "bill.paid":
            self.paid.set()


@contextlib.asynccontextmanager
async def platform(wait_s: float) -> AsyncIterator[dict[str, Any]]:
    install(INSTALLATION)
    admin = admin_url()
    url = await _migrated_database(admin)
    settings = make_settings(url, egress_allow_loopback=True, worker_poll_s=0.2)
    engine = create_engine(settings)
    tasks: list[asyncio.Task[Any]] = []
    server: uvicorn.Server | None = None
    worker: Worker | None = None
    receiver_server: asyncio.Server | None = None
    sock: socket.socket | None = None
    try:
        tenant = await make_tenant(engine, services=["payments"])
        async with tenant_session(session_factory(engine), tenant) as session:
            session.add(PaymentSettings(id=1, biller_id="099400012345601", receipt_book_size=100, sandbox=True))
            client, secret = await create_client(
                session,
                name="CI integrator",
                scopes=SCOPES,
                available=enabled_scopes(REGISTRY, tenant.enabled_services),
                actor=Actor("system"),
                origin=Origin(),
            )
        # The API's socket is bound here and handed to uvicorn: the port is the server's from the bind
        # on (a port picked free, closed and bound later could be another process's by then).
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(create_app(settings, plugins=REGISTRY), log_level="warning"))
        tasks.append(asyncio.create_task(server.serve(sockets=[sock]), name="api"))
        worker = Worker(settings, REGISTRY)
        tasks.append(asyncio.create_task(worker.run(), name="worker"))
        receiver = Receiver()
        receiver_server = await asyncio.start_server(receiver.handle, "127.0.0.1", 0)
        receiver.port = receiver_server.sockets[0].getsockname()[1]
        deadline = time.monotonic() + wait_s
        while not server.started:  # uvicorn sets it once it listens
            if time.monotonic() > deadline or tasks[0].done():
                raise SystemExit("the API server did not start")
            await asyncio.sleep(0.05)
        yield {
            "base_url": f"http://127.0.0.1:{port}",
            "host": f"{tenant.slug}.{BASE}",
            "client_id": client.client_id,
            "client_secret": secret,
            "receiver": receiver,
        }
    finally:
        if worker is not None:
            worker.stop()
        if server is not None:
            server.should_exit = True
        for task in tasks:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(task, 10)
        if receiver_server is not None:
            receiver_server.close()
        if sock is not None:
            sock.close()
        await engine.dispose()
        await drop_database(admin, url)


def check(condition: bool, what: str, response: Any = None) -> None:
    if not condition:
        detail = f": {response.content[:500]!r}" if response is not None else ""
        raise SystemExit(f"FAILED: {what}{detail}")
    print(f"ok  {what}")


def operation(package: Any, name: str) -> Any:
    """The generated module of an operation (``operationId`` in snake case), whatever tag folder
    the generator put it in (tags are the document's to rename)."""
    found = sorted(Path(package.__file__).parent.glob(f"api/*/{name}.py"))
    if len(found) != 1:
        raise SystemExit(f"FAILED: the generated client has {len(found)} modules for operation {name}")
    return importlib.import_module(f"localgov_client.api.{found[0].parent.name}.{name}")


async def flow(wait_s: float) -> None:
    gen = importlib.import_module("localgov_client")
    Client = gen.Client
    AuthenticatedClient = gen.AuthenticatedClient
    token_api = operation(gen, "request_access_token")
    payer_api = operation(gen, "create_payer")
    bill_api = operation(gen, "create_bill")
    hook_api = operation(gen, "create_webhook_endpoint")
    sandbox_api = operation(gen, "sandbox_pay_bill")
    models = importlib.import_module("localgov_client.models")

    started = time.monotonic()
    async with platform(wait_s) as env:
        headers = {"Host": env["host"]}
        anonymous = Client(base_url=env["base_url"], headers=headers, timeout=10.0)
        token = await token_api.asyncio_detailed(
            client=anonymous,
            body=models.TokenRequest(
                grant_type=models.TokenRequestGrantType.CLIENT_CREDENTIALS,
                client_id=env["client_id"],
                client_secret=env["client_secret"],
            ),
        )
        check(token.status_code == 200, f"token (client credentials): {token.status_code}", token)
        api = AuthenticatedClient(
            base_url=env["base_url"], token=token.parsed.access_token, headers=headers, timeout=10.0
        )

        payer = await payer_api.asyncio_detailed(
            client=api, body=models.PayerCreate(name="บริษัท ทดสอบ จำกัด", house_no="9", subdistrict="แม่เหียะ")
        )
        check(payer.status_code == 201, f"payer created: {payer.status_code}", payer)
        line = models.ManualLine(fee_code="garbage.collection", description_th="ค่าเก็บขยะมูลฝอย", amount="80.00")
        bill = await bill_api.asyncio_detailed(
            client=api,
            body=models.ManualBillCreate(
                payer_id=payer.parsed.id, lines=[line], due_date=dt.date.today() + dt.timedelta(days=30)
            ),
            idempotency_key=str(uuid.uuid4()),
        )
        check(bill.status_code == 201, f"bill created: {bill.status_code}", bill)
        reference = bill.parsed.reference

        receiver: Receiver = env["receiver"]
        hook = await hook_api.asyncio_detailed(
            client=api,
            body=models.WebhookEndpointCreate(
                url=f"http://127.0.0.1:{receiver.port}/localgov", event_types=["bill.paid", "receipt.issued"]
            ),
        )
        check(hook.status_code == 201, f"webhook endpoint subscribed: {hook.status_code}", hook)
        secret = hook.parsed.secret

        paid_at = time.monotonic()
        paid = await sandbox_api.asyncio_detailed(client=api, body=models.SandboxPay(reference=reference))
        check(paid.status_code == 200, f"sandbox payment: {paid.status_code}", paid)
        check(
            str(paid.parsed.status) in ("matched", "NotificationResultStatus.MATCHED"), "the payment matched the bill"
        )

        try:
            await asyncio.wait_for(receiver.paid.wait(), wait_s)
        except TimeoutError:
            raise SystemExit(f"FAILED: no bill.paid webhook within {wait_s:g} s") from None
        latency = time.monotonic() - paid_at
        headers_in, body = next((h, b) for h, b in receiver.requests if json.loads(b)["type"] == "bill.paid")
        event = standardwebhooks.Webhook(secret).verify(body, headers_in)
        check(event["data"]["reference"] == reference, "bill.paid webhook received, signature verified")
        print(f"payment -> webhook: {latency * 1000:.0f} ms; whole flow {time.monotonic() - started:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--client-dir", required=True, help="folder holding the generated localgov_client package")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds any one wait may take")
    args = parser.parse_args()
    sys.path.insert(0, args.client_dir)
    asyncio.run(flow(args.timeout))


if __name__ == "__main__":
    main()
