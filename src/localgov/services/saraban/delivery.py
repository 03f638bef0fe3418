"""Letters between LAOs on the platform, exactly once.

Issuing a letter to another LAO writes, in the sender's transaction, an outbox entry of topic
``saraban.deliver`` for the **recipient's** tenant carrying the whole envelope (the letter's
fields as issued): the consumer never reads the sender's schema. It runs in the recipient's own
tenant context (``delivery.use_tenant_schema()``), registers the letter in the recipient's
receive register under the key ``lao:<sender tenant>:<recipient row>`` (unique, taken under a
transaction-scoped advisory lock, so a duplicate or concurrent copy finds the first one), and
queues ``saraban.receipt`` for the **sender's** tenant with the receive number. The receipt's
consumer records it on the sender's addressee row once.

**Documents** (the signed PDF and the letter's files): the issuing transaction lists them in
the envelope as :class:`~localgov.kernel.storage.FileCopy` (name, type, size, SHA-256 and the
blob's key, read in the sender's own schema); the consumer copies each into the recipient's
storage (``kernel.storage.store_copy``: the key must be the sender's key of that SHA-256, the
bytes are checked as they are read) in the transaction that lands the letter, so the copies exist
exactly when the received letter does. At most :data:`MAX_DOCUMENTS` documents and
:data:`MAX_DOCUMENT_BYTES` in all (422 at issue otherwise).

**A recipient that cannot receive**: closed or suspended on the platform (the catalog's status,
read when the copy is taken and when it is issued), or no longer running the service, gets no
letter: the sender's addressee row becomes ``failed`` with a typed reason
(:data:`RECIPIENT_CLOSED`, :data:`RECIPIENT_SUSPENDED`, :data:`NOT_RUNNING`,
:data:`DOCUMENTS_UNAVAILABLE`), the letter's event ``delivery_failed`` and the audit event
``saraban.delivery_failed`` on the sender's side.

Everything a consumer writes commits with the entry's "delivered" mark: a worker killed midway
leaves nothing behind and the entry is claimed again; a copy delivered twice lands once.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import msgspec
import structlog
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.audit import Origin, record_audit
from localgov.kernel.cases import SYSTEM
from localgov.kernel.outbox import Delivery, enqueue
from localgov.kernel.storage import BlobStore, FileCopy, copies_of, store_copy
from localgov.kernel.tenancy import TenantInfo
from localgov.services.saraban import agencies, documents, files, letters, registers, routing, rules, search_index
from localgov.services.saraban.errors import InvalidLetter
from localgov.services.saraban.letters import DELIVER_TOPIC, RECEIPT_TOPIC
from localgov.services.saraban.models import Letter, Recipient
from localgov.settings import Settings

log = structlog.get_logger(__name__)

_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))")
#: Documents one letter carries to another LAO, and their bytes in all.
MAX_DOCUMENTS = 50
MAX_DOCUMENT_BYTES = 100 * 1024 * 1024


class DocumentRef(msgspec.Struct, frozen=True, kw_only=True):
    """A document travelling with the letter: ``main`` (the PDF signed on issue) or ``attachment``
    (a file of the letter), described by the sender's transaction."""

    role: str
    file: FileCopy


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
    #: The documents to copy (absent in copies queued before documents travelled: none).
    documents: list[DocumentRef] = []


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
#: The recipient LAO was closed on the platform (closing is final).
RECIPIENT_CLOSED = "recipient_closed"
#: The recipient LAO is suspended on the platform (send the letter again once it is reactivated).
RECIPIENT_SUSPENDED = "recipient_suspended"
#: A document's bytes are no longer in the sender's storage (the sender's data was purged).
DOCUMENTS_UNAVAILABLE = "documents_unavailable"
_HAS_TABLES = text("SELECT to_regclass('saraban_letters') IS NOT NULL")
_T = agencies.TENANTS.c


async def tenant_row(session: AsyncSession, tenant_id: int) -> Any:
    """The catalog's row of a tenant (``platform.tenants``: status and schema; never its schema)."""
    return (await session.execute(select(_T.status, _T.schema_name).where(_T.id == tenant_id))).mappings().first()


def unavailable(status: str | None) -> str | None:
    """Why an LAO of this catalog status cannot receive a letter (None: it can)."""
    if status == "active":
        return None
    return RECIPIENT_SUSPENDED if status == "suspended" else RECIPIENT_CLOSED


async def outgoing_documents(session: AsyncSession, letter_id: uuid.UUID) -> list[DocumentRef]:
    """The signed PDF (if the letter has one) and the letter's files, in the sender's schema; 422
    ``saraban_invalid_letter`` beyond :data:`MAX_DOCUMENTS` or :data:`MAX_DOCUMENT_BYTES`."""
    refs = [DocumentRef(role="main", file=f) for f in await copies_of(session, documents.pdf_owner(letter_id))]
    refs += [DocumentRef(role="attachment", file=f) for f in await copies_of(session, files.owner(letter_id))]
    total = sum(ref.file.size_bytes for ref in refs)
    if len(refs) > MAX_DOCUMENTS or total > MAX_DOCUMENT_BYTES:
        raise InvalidLetter(
            "the letter's files are too many or too large to send to another LAO",
            data={
                "reason": "documents_too_large",
                "documents": len(refs),
                "bytes": total,
                "max_documents": MAX_DOCUMENTS,
                "max_bytes": MAX_DOCUMENT_BYTES,
            },
        )
    return refs


def envelope(
    letter: Letter, recipient: Recipient, tenant: TenantInfo, documents_out: list[DocumentRef] | None = None
) -> dict[str, Any]:
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
        documents=list(documents_out or []),
    )
    out: dict[str, Any] = msgspec.to_builtins(data)
    return out


async def send(
    session: AsyncSession,
    letter: Letter,
    recipient: Recipient,
    tenant: TenantInfo,
    documents_out: list[DocumentRef] | None = None,
) -> None:
    """Queue the copy for the recipient LAO (in the issuing transaction), with its documents."""
    await enqueue(
        session, DELIVER_TOPIC, envelope(letter, recipient, tenant, documents_out), tenant_id=recipient.tenant_id
    )


async def fail(session: AsyncSession, recipient: Recipient, error: str, *, origin: Origin | None = None) -> None:
    """The sender's side of a letter that cannot land: the addressee row ``failed`` with the
    reason, the letter's event ``delivery_failed``, the audit event ``saraban.delivery_failed``."""
    recipient.status = "failed"
    recipient.error = error
    await letters.record_event(session, recipient.letter_id, "delivery_failed", SYSTEM, f"{recipient.name_th}: {error}")
    await record_audit(
        session,
        "saraban.delivery_failed",
        actor=SYSTEM.audit,
        origin=origin or Origin(),
        target=f"saraban_letter:{recipient.letter_id}",
        data={"recipient_id": str(recipient.id), "recipient_tenant_id": recipient.tenant_id, "error": error},
    )
    log.warning("saraban_delivery_failed", recipient_id=str(recipient.id), error=error)
    await session.flush()


def _store(delivery: Delivery) -> BlobStore:
    from localgov.services.saraban.exchange import runtime_for

    settings = delivery.settings if delivery.settings is not None else Settings.from_env()
    return runtime_for(settings).store


async def _all_there(store: BlobStore, refs: list[DocumentRef]) -> bool:
    """Whether the store still holds every document's bytes (the sender's data was not purged)."""
    for ref in refs:
        if not await store.exists(ref.file.storage_key):
            return False
    return True


async def _copy_documents(
    session: AsyncSession, store: BlobStore, letter_id: uuid.UUID, refs: list[DocumentRef], source_schema: str
) -> None:
    for ref in refs:
        limits = documents.PDF_LIMITS if ref.role == "main" else files.FILE_LIMITS
        await store_copy(
            session,
            store,
            ref.file,
            source_schema=source_schema,
            owner=documents.attachment_owner(letter_id),
            uploaded_by=SYSTEM.audit,
            limits=limits,
        )
    await search_index.add_attachment_text(session, store, letter_id)


async def _existing(session: AsyncSession, key: str) -> Letter | None:
    return (await session.execute(select(Letter).where(Letter.source_key == key))).scalar_one_or_none()


async def _refuse(delivery: Delivery, data: Envelope, error: str) -> None:
    failed = Receipt(
        letter_id=data.letter_id,
        recipient_id=data.recipient_id,
        recipient_tenant_id=delivery.tenant_id or 0,
        receipt_letter_id=None,
        receipt_no=None,
        received_at=dt.datetime.now(dt.UTC).isoformat(),
        error=error,
    )
    await enqueue(delivery.session, RECEIPT_TOPIC, msgspec.to_builtins(failed), tenant_id=data.sender_tenant_id)


async def on_deliver(delivery: Delivery) -> None:
    """The copy lands in the recipient's receive register once, with copies of its documents;
    the receipt goes back. A recipient closed or suspended since, or no longer running the
    service, gets nothing and the sender a failed receipt."""
    data = msgspec.convert(delivery.payload, Envelope)
    session = delivery.session
    assert delivery.tenant_id is not None
    row = await tenant_row(session, delivery.tenant_id)
    refused = unavailable(row["status"] if row is not None else None)
    if refused is not None:
        await _refuse(delivery, data, refused)
        return
    await delivery.use_tenant_schema()
    if not (await session.execute(_HAS_TABLES)).scalar_one():
        await _refuse(delivery, data, NOT_RUNNING)
        return
    key = f"lao:{data.sender_tenant_id}:{data.recipient_id}"
    await session.execute(_LOCK, {"key": key})
    letter = await _existing(session, key)
    now = dt.datetime.now(dt.UTC)
    if letter is None:
        store: BlobStore | None = None
        source_schema = ""
        if data.documents:
            store = _store(delivery)
            sender = await tenant_row(session, data.sender_tenant_id)
            source_schema = str(sender["schema_name"]) if sender is not None else ""
            if not source_schema or not await _all_there(store, data.documents):
                await _refuse(delivery, data, DOCUMENTS_UNAVAILABLE)
                return
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
        if store is not None:
            await _copy_documents(session, store, letter.id, data.documents, source_schema)
        receive_no = rules.register_no(entry["year"], entry["seq"])
        await letters.record_event(session, letter.id, "received", SYSTEM, f"{receive_no} ({data.sender_name})")
        await letters.record_event(session, letter.id, "receipt_sent", SYSTEM, receive_no)
        received_at = now
    else:
        entry_row = await registers.entry_of(session, letter.id, "receive")
        receive_no = rules.register_no(entry_row["year"], entry_row["seq"]) if entry_row is not None else "-"
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
        await fail(session, recipient, data.error or NOT_RUNNING)
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
