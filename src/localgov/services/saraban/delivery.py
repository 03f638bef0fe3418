"""Letters between LAOs on the platform, exactly once.

Issuing a letter to another LAO writes, in the sender's transaction, an outbox entry of topic
``saraban.deliver`` for the **recipient's** tenant carrying the whole envelope (the letter's
fields as issued): the consumer never reads the sender's schema. It runs in the recipient's own
tenant context (``delivery.use_tenant_schema()``), registers the letter in the recipient's
receive register under the key ``lao:<sender tenant>:<recipient row>`` (unique, taken under a
transaction-scoped advisory lock, so a duplicate or concurrent copy finds the first one), and
queues ``saraban.receipt`` for the **sender's** tenant with the receive number. The receipt's
consumer records it on the sender's addressee row once.

Everything a consumer writes commits with the entry's "delivered" mark: a worker killed midway
leaves nothing behind and the entry is claimed again; a copy delivered twice lands once.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import msgspec
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.cases import SYSTEM
from localgov.kernel.outbox import Delivery, enqueue
from localgov.kernel.tenancy import TenantInfo
from localgov.services.saraban import letters, registers, routing, rules
from localgov.services.saraban.letters import DELIVER_TOPIC, RECEIPT_TOPIC
from localgov.services.saraban.models import Letter, Recipient

#: The largest body the envelope carries inline (the column allows 100,000 characters).
_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))")


class Envelope(msgspec.Struct, frozen=True, kw_only=True):
    """What travels from the sender's transaction to the recipient's (the outbox payload)."""

    letter_id: str
    recipient_id: str
    sender_tenant_id: int
    sender_name: str
    sender_code: str
    recipient_name: str
    kind: str
    subkind: str | None
    urgency: str
    secrecy: str
    number_text: str
    letter_date: str
    subject: str
    salutation: str | None
    references: list[str]
    enclosures: list[str]
    body: str
    signer_name: str | None
    signer_position: str | None


class Receipt(msgspec.Struct, frozen=True, kw_only=True):
    """The delivery receipt back to the sender (or, with ``error``, why the letter could not land)."""

    letter_id: str
    recipient_id: str
    recipient_tenant_id: int
    receipt_letter_id: str | None
    receipt_no: str | None
    received_at: str
    error: str | None = None


#: The recipient LAO no longer runs e-Saraban (its tables are not in its schema).
NOT_RUNNING = "recipient_not_running_saraban"
_HAS_TABLES = text("SELECT to_regclass('saraban_letters') IS NOT NULL")


def envelope(letter: Letter, recipient: Recipient, tenant: TenantInfo) -> dict[str, Any]:
    data = Envelope(
        letter_id=str(letter.id),
        recipient_id=str(recipient.id),
        sender_tenant_id=tenant.id,
        sender_name=tenant.name_th,
        sender_code=tenant.dla_code,
        recipient_name=recipient.name_th,
        kind=letter.kind,
        subkind=letter.subkind,
        urgency=letter.urgency,
        secrecy=letter.secrecy,
        number_text=letter.number_text or "-",
        letter_date=(letter.letter_date or dt.date.today()).isoformat(),
        subject=letter.subject,
        salutation=letter.salutation,
        references=list(letter.references),
        enclosures=list(letter.enclosures),
        body=letter.body,
        signer_name=letter.signer_name,
        signer_position=letter.signer_position,
    )
    out: dict[str, Any] = msgspec.to_builtins(data)
    return out


async def send(session: AsyncSession, letter: Letter, recipient: Recipient, tenant: TenantInfo) -> None:
    """Queue the copy for the recipient LAO (in the issuing transaction)."""
    await enqueue(session, DELIVER_TOPIC, envelope(letter, recipient, tenant), tenant_id=recipient.tenant_id)


async def _existing(session: AsyncSession, key: str) -> Letter | None:
    return (await session.execute(select(Letter).where(Letter.source_key == key))).scalar_one_or_none()


async def on_deliver(delivery: Delivery) -> None:
    """The copy lands in the recipient's receive register once; the receipt goes back."""
    data = msgspec.convert(delivery.payload, Envelope)
    await delivery.use_tenant_schema()
    session = delivery.session
    if not (await session.execute(_HAS_TABLES)).scalar_one():
        failed = Receipt(
            letter_id=data.letter_id,
            recipient_id=data.recipient_id,
            recipient_tenant_id=delivery.tenant_id or 0,
            receipt_letter_id=None,
            receipt_no=None,
            received_at=dt.datetime.now(dt.UTC).isoformat(),
            error=NOT_RUNNING,
        )
        await enqueue(session, RECEIPT_TOPIC, msgspec.to_builtins(failed), tenant_id=data.sender_tenant_id)
        return
    key = f"lao:{data.sender_tenant_id}:{data.recipient_id}"
    await session.execute(_LOCK, {"key": key})
    letter = await _existing(session, key)
    now = dt.datetime.now(dt.UTC)
    if letter is None:
        letter, entry = await routing.receive(
            session,
            kind=data.kind,
            subkind=data.subkind,
            subject=data.subject,
            sender_name=data.sender_name,
            sender_code=data.sender_code,
            number_text=data.number_text,
            letter_date=dt.date.fromisoformat(data.letter_date),
            salutation=data.salutation,
            body=data.body,
            urgency=data.urgency,
            secrecy=data.secrecy,
            signer_name=data.signer_name,
            signer_position=data.signer_position,
            named_staff_ids=[],
            to_th=data.recipient_name,
            recorded_by="system:saraban.deliver",
            now=now,
            source_tenant_id=data.sender_tenant_id,
            source_letter_id=uuid.UUID(data.letter_id),
            source_key=key,
            extra={"references": data.references, "enclosures": data.enclosures},
        )
        letter.references = list(data.references)
        letter.enclosures = list(data.enclosures)
        receive_no = rules.register_no(entry["year"], entry["seq"])
        await letters.record_event(session, letter.id, "received", SYSTEM, f"{receive_no} ({data.sender_name})")
        await letters.record_event(session, letter.id, "receipt_sent", SYSTEM, receive_no)
        received_at = now
    else:
        row = await registers.entry_of(session, letter.id, "receive")
        receive_no = rules.register_no(row["year"], row["seq"]) if row is not None else "-"
        received_at = letter.received_at or now
    receipt = Receipt(
        letter_id=data.letter_id,
        recipient_id=data.recipient_id,
        recipient_tenant_id=delivery.tenant_id or 0,
        receipt_letter_id=str(letter.id),
        receipt_no=receive_no,
        received_at=received_at.isoformat(),
    )
    await enqueue(session, RECEIPT_TOPIC, msgspec.to_builtins(receipt), tenant_id=data.sender_tenant_id)


async def on_receipt(delivery: Delivery) -> None:
    """The sender records the receipt on the addressee row (once)."""
    data = msgspec.convert(delivery.payload, Receipt)
    await delivery.use_tenant_schema()
    session = delivery.session
    recipient = (
        await session.execute(
            select(Recipient)
            .where(Recipient.id == uuid.UUID(data.recipient_id), Recipient.letter_id == uuid.UUID(data.letter_id))
            .with_for_update()
        )
    ).scalar_one_or_none()
    if recipient is None or recipient.status in ("delivered", "failed"):
        return
    if data.error is not None or data.receipt_letter_id is None:
        recipient.status = "failed"
        recipient.error = data.error
        await letters.record_event(
            session, recipient.letter_id, "delivery_failed", SYSTEM, f"{recipient.name_th}: {data.error}"
        )
        await session.flush()
        return
    recipient.status = "delivered"
    recipient.receipt_no = data.receipt_no
    recipient.receipt_letter_id = uuid.UUID(data.receipt_letter_id)
    recipient.delivered_at = dt.datetime.fromisoformat(data.received_at)
    await letters.record_event(
        session, recipient.letter_id, "delivered", SYSTEM, f"{recipient.name_th}: {data.receipt_no}"
    )
    await session.flush()


HANDLERS = {DELIVER_TOPIC: on_deliver, RECEIPT_TOPIC: on_receipt}
