"""Letters with agencies outside the platform: a signed envelope over HTTPS, both ways.

**The envelope** (JSON, :class:`Envelope`): sender and recipient agency codes, the letter's
number, date, kind, subject, urgency and secrecy, the main document (the signed PDF) and the
attachments, each with its SHA-256 and its bytes in base64, and a **consignment id** that is the
same on every retry (a UUID derived from the tenant and the addressee row), so the receiver
detects a duplicate by it.

**Signature**: HMAC-SHA256 with a timestamp and a five-minute replay window
(:class:`kernel.signing.SignatureScheme`, headers ``X-Saraban-Timestamp`` and
``X-Saraban-Signature``), under a secret the operator generates per agency
(``platform.saraban_exchange_keys``, encrypted under ``LOCALGOV_SECRET_KEY``; after a rotation the
previous secret keeps verifying for :data:`ROTATION_OVERLAP`). ``X-Saraban-Sender`` names the
sending agency's code (percent-encoded UTF-8), ``X-Saraban-Consignment`` the consignment.

**Outbound**: issuing a letter to an outside agency leaves its addressee row
``awaiting_exchange`` and publishes ``saraban.letter_issued``; :func:`on_letter_issued` queues one
``saraban.exchange_send`` entry per addressee; :func:`send_consignment` builds, signs and POSTs
the envelope through ``kernel.egress`` (no private, loopback, link-local or metadata address, no
redirect, bounded time and size) and reads the answer:

* 200/201 with ``receipt_id``: delivered, the receipt on the addressee row;
* 409 ``exchange_duplicate`` with the first ``receipt_id``: delivered already (a retry after a lost
  answer);
* 404 ``exchange_unknown_addressee``, 422 ``exchange_validation``, 413 ``exchange_too_large``,
  401 (signature): a typed, permanent failure on the row (``status failed``, ``error <reason>``);
* a network failure, a timeout, 429 or 5xx: :class:`ExchangeRetry`, and the outbox retries with
  backoff; an endpoint that egress refuses: permanent ``endpoint_refused``; a redirect (never
  followed): permanent ``redirect_refused``.

**Inbound**: ``POST /v1/saraban/exchange/inbound`` on the addressed LAO's host
(:func:`receive_envelope`): the sender must be an active agency with a key, the signature must
verify, the envelope must decode and every SHA-256 match, the recipient code must be the LAO's
agency code. The letter lands in the receive register once per (sender, consignment): a second
copy answers 409 ``exchange_duplicate`` with the first receipt.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import hashlib
import os
import urllib.parse
import uuid
from collections.abc import Sequence
from typing import Annotated, Any, Literal

import msgspec
import structlog
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import BigInteger, DateTime, ForeignKey, LargeBinary, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from localgov.kernel import egress
from localgov.kernel.audit import Actor, Origin, record_audit
from localgov.kernel.cases import SYSTEM
from localgov.kernel.db import SharedBase
from localgov.kernel.errors import DomainError
from localgov.kernel.outbox import Delivery, enqueue
from localgov.kernel.signing import SignatureScheme, new_secret, secrets_in_force
from localgov.kernel.storage import (
    BlobStore,
    FileEmpty,
    FileTooLarge,
    FileTypeNotAllowed,
    list_files,
    open_file,
    store_upload,
)
from localgov.kernel.storage.files import UploadLimits
from localgov.services.saraban import agencies, documents, letters, registers, routing, rules
from localgov.services.saraban.models import (
    Letter,
    LetterKind,
    OutsideAgency,
    Recipient,
    SarabanSettings,
    Secrecy,
    Urgency,
)
from localgov.settings import Settings

log = structlog.get_logger(__name__)

SEND_TOPIC = "saraban.exchange_send"
#: The largest envelope sent or accepted (base64 of the documents included).
MAX_ENVELOPE_BYTES = 25 * 1024 * 1024
#: A previous secret keeps verifying this long after a rotation (the agency's time to switch).
ROTATION_OVERLAP = dt.timedelta(days=7)
SCHEME = SignatureScheme(timestamp_header="X-Saraban-Timestamp", signature_header="X-Saraban-Signature")
SENDER_HEADER = "X-Saraban-Sender"
CONSIGNMENT_HEADER = "X-Saraban-Consignment"
_NAMESPACE = uuid.UUID("6f1d3c52-2b7e-4f0c-9a51-5a4a1e2b7c90")
_AAD = b"localgov-saraban-exchange-secret"
_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))")
INBOUND_LIMITS = UploadLimits(max_bytes=20 * 1024 * 1024)

Code = Annotated[str, msgspec.Meta(min_length=1, max_length=40)]
Sha256 = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{64}$")]


# --- errors (the typed failures, the same on both sides) -------------------------------------------


class ExchangeUnknownAddressee(DomainError):
    code = "exchange_unknown_addressee"
    status = 404
    title = "ไม่พบหน่วยงานผู้รับ (Unknown addressee)"


class ExchangeDuplicate(DomainError):
    code = "exchange_duplicate"
    status = 409
    title = "ได้รับหนังสือฉบับนี้แล้ว (Duplicate consignment)"


class ExchangeValidation(DomainError):
    code = "exchange_validation"
    status = 422
    title = "ซองหนังสือไม่ถูกต้อง (Invalid envelope)"


class ExchangeTooLarge(DomainError):
    code = "exchange_too_large"
    status = 413
    title = "ซองหนังสือมีขนาดใหญ่เกินกำหนด (Envelope too large)"


class ExchangeUnknownSender(DomainError):
    code = "exchange_unknown_sender"
    status = 401
    title = "ผู้ส่งไม่ได้ลงทะเบียน (Unregistered sending agency)"


class AgencyNotFound(DomainError):
    code = "saraban_agency_not_found"
    status = 404
    title = "ไม่พบหน่วยงาน (Agency not found)"


class ExchangeRetry(Exception):
    """A failure worth retrying (network, timeout, 429, 5xx): the outbox tries again later."""


#: What a receiver's problem code means for the sender: the reason stored on the addressee row.
FAILURE_REASONS = {
    ExchangeUnknownAddressee.code: "unknown_addressee",
    ExchangeValidation.code: "validation",
    ExchangeTooLarge.code: "too_large",
    ExchangeUnknownSender.code: "unknown_sender",
    "invalid_signature": "signature",
    "stale_timestamp": "signature",
    "missing_signature": "signature",
}


# --- keys --------------------------------------------------------------------------------------------


class ExchangeKey(SharedBase):
    """The secret shared with one outside agency (AES-GCM ciphertext: nonce ‖ ciphertext)."""

    __tablename__ = "saraban_exchange_keys"

    agency_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("platform.saraban_outside_agencies.id", ondelete="CASCADE"), primary_key=True
    )
    secret: Mapped[bytes] = mapped_column(LargeBinary)
    previous_secret: Mapped[bytes | None] = mapped_column(LargeBinary)
    rotated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


def _cipher(secret_key: str) -> AESGCM:
    return AESGCM(hashlib.sha256(b"localgov saraban exchange\x00" + secret_key.encode()).digest())


def _seal(secret_key: str, agency_id: int, value: str) -> bytes:
    nonce = os.urandom(12)
    return nonce + _cipher(secret_key).encrypt(nonce, value.encode(), _AAD + str(agency_id).encode())


def _open(secret_key: str, agency_id: int, blob: bytes) -> str:
    return _cipher(secret_key).decrypt(blob[:12], blob[12:], _AAD + str(agency_id).encode()).decode()


class KeyIssued(msgspec.Struct, kw_only=True):
    """A new secret, shown once: the agency configures it on its side."""

    agency_id: int
    code: str
    secret: str
    previous_valid_until: dt.datetime | None


async def rotate_key(
    session: AsyncSession,
    secret_key: str,
    agency_id: int,
    *,
    policy: egress.EgressPolicy,
    actor: Actor,
    origin: Origin,
    resolver: egress.Resolver | None = None,
) -> KeyIssued:
    """A new exchange secret for the agency (the previous one verifies for the overlap). The
    agency's endpoint, if any, is checked by egress first (422 ``egress_refused``)."""
    agency = await session.get(OutsideAgency, agency_id)
    if agency is None:
        raise AgencyNotFound(data={"agency_id": agency_id})
    if agency.endpoint_url:
        await egress.check_destination(agency.endpoint_url, policy, resolver)
    secret = new_secret("lgsb_")
    now = dt.datetime.now(dt.UTC)
    row = await session.get(ExchangeKey, agency_id, with_for_update=True)
    previous_until: dt.datetime | None = None
    if row is None:
        session.add(ExchangeKey(agency_id=agency_id, secret=_seal(secret_key, agency_id, secret), rotated_at=now))
    else:
        row.previous_secret = row.secret
        row.secret = _seal(secret_key, agency_id, secret)
        row.rotated_at = now
        previous_until = now + ROTATION_OVERLAP
    await session.flush()
    await record_audit(
        session,
        "saraban.exchange_key_rotated",
        actor=actor,
        origin=origin,
        target=f"saraban_outside_agency:{agency_id}",
        data={"code": agency.code},
        operator=True,
    )
    return KeyIssued(agency_id=agency_id, code=agency.code, secret=secret, previous_valid_until=previous_until)


async def secrets_of(session: AsyncSession, secret_key: str, agency_id: int, now: dt.datetime) -> list[str]:
    """The secrets that verify now (current first); empty when the agency has no key."""
    row = await session.get(ExchangeKey, agency_id)
    if row is None:
        return []
    current = _open(secret_key, agency_id, row.secret)
    previous = _open(secret_key, agency_id, row.previous_secret) if row.previous_secret is not None else None
    return secrets_in_force(current, previous, row.rotated_at, now, overlap=ROTATION_OVERLAP)


# --- the envelope --------------------------------------------------------------------------------------


class Party(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    code: Code
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=300)]


class Document(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    filename: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    content_type: Annotated[str, msgspec.Meta(max_length=100)]
    size: Annotated[int, msgspec.Meta(ge=1)]
    sha256: Sha256
    content_base64: str


class Envelope(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One letter between agencies (version 1)."""

    version: Literal[1] = 1
    consignment_id: uuid.UUID
    sender: Party
    recipient: Party
    kind: LetterKind
    number: Annotated[str, msgspec.Meta(min_length=1, max_length=80)]
    date: dt.date
    subject: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
    salutation: Annotated[str, msgspec.Meta(max_length=300)] | None = None
    body: Annotated[str, msgspec.Meta(max_length=100_000)] = ""
    urgency: Urgency = "normal"
    secrecy: Secrecy = "normal"
    main_document: Document
    attachments: Annotated[list[Document], msgspec.Meta(max_length=50)] = []


class Receipt(msgspec.Struct, kw_only=True):
    """The receiver's answer: its receive number for the letter."""

    consignment_id: uuid.UUID
    receipt_id: str
    received_at: dt.datetime


def sender_header(code: str) -> str:
    """``X-Saraban-Sender``: the agency code, percent-encoded (Thai codes; headers are ASCII)."""
    return urllib.parse.quote(code, safe="")


def consignment_id(tenant_id: int, recipient_id: uuid.UUID) -> uuid.UUID:
    """The same on every retry of the same addressee of the same letter."""
    return uuid.uuid5(_NAMESPACE, f"{tenant_id}:{recipient_id}")


def _document(filename: str, content_type: str, data: bytes) -> Document:
    return Document(
        filename=filename,
        content_type=content_type,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        content_base64=base64.b64encode(data).decode(),
    )


def decode_document(doc: Document) -> bytes:
    """The document's bytes; 422 ``exchange_validation`` unless they are the size and SHA-256 stated."""
    try:
        data = base64.b64decode(doc.content_base64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ExchangeValidation(f"{doc.filename}: not base64", data={"reason": "base64"}) from exc
    if len(data) != doc.size or hashlib.sha256(data).hexdigest() != doc.sha256:
        raise ExchangeValidation(
            f"{doc.filename}: the bytes are not the ones described (size or SHA-256)",
            data={"reason": "hash_mismatch", "filename": doc.filename},
        )
    return data


class Runtime(msgspec.Struct, frozen=True, kw_only=True):
    """What the outbound consumer needs besides the database (the worker's settings)."""

    secret_key: str
    policy: egress.EgressPolicy
    store: BlobStore
    resolver: egress.Resolver | None = None


@functools.lru_cache(maxsize=4)
def runtime_for(settings: Settings) -> Runtime:
    """The outbound consumer's runtime from the worker's settings: one blob store per settings for
    the life of the process (the worker's settings do not change)."""
    from localgov.kernel.storage import blob_store

    return Runtime(
        secret_key=settings.secret_key, policy=egress.policy_from_settings(settings), store=blob_store(settings)
    )


async def on_letter_issued(delivery: Delivery) -> None:
    """One ``saraban.exchange_send`` entry per outside addressee of the issued letter."""
    payload = delivery.payload
    for recipient_id in payload.get("outside_recipient_ids") or []:
        await enqueue(
            delivery.session,
            SEND_TOPIC,
            {"letter_id": payload["letter_id"], "recipient_id": recipient_id},
            tenant_id=delivery.tenant_id,
        )


async def on_send(delivery: Delivery) -> None:
    """The worker's consumer of ``saraban.exchange_send``, with the worker's settings (the secret
    key, the egress policy, the blob store); a caller that passes none gets the environment's."""
    await delivery.use_tenant_schema()
    assert delivery.tenant_id is not None
    settings = delivery.settings if delivery.settings is not None else Settings.from_env()
    await send_consignment(
        delivery.session,
        delivery.tenant_id,
        uuid.UUID(str(delivery.payload["recipient_id"])),
        runtime=runtime_for(settings),
    )


async def _tenant_name(session: AsyncSession, tenant_id: int) -> str:
    row = await agencies.lao_by_id(session, tenant_id)
    return str(row["name_th"]) if row is not None else str(tenant_id)


async def build_envelope(
    session: AsyncSession, store: BlobStore, tenant_id: int, letter: Letter, recipient: Recipient, agency: OutsideAgency
) -> Envelope:
    settings = await session.get(SarabanSettings, 1)
    sender_code = settings.agency_code if settings is not None and settings.agency_code else str(tenant_id)
    main: bytes
    file_id = await documents.sealed_file_id(session, letter.id)
    if file_id is not None:
        opened = await open_file(session, store, file_id, owner=documents.pdf_owner(letter.id))
        main = b"".join([chunk async for chunk in opened.chunks])
    else:
        issuer = documents.Issuer(name_th=await _tenant_name(session, tenant_id))
        main = (await documents.render(session, store, issuer, letter.id)).pdf
    attachments: list[Document] = []
    for file in await list_files(session, documents.attachment_owner(letter.id)):
        opened = await open_file(session, store, file.id, owner=documents.attachment_owner(letter.id))
        data = b"".join([chunk async for chunk in opened.chunks])
        attachments.append(_document(file.filename, file.content_type, data))
    return Envelope(
        consignment_id=consignment_id(tenant_id, recipient.id),
        sender=Party(code=sender_code, name=await _tenant_name(session, tenant_id)),
        recipient=Party(code=agency.code, name=agency.name_th),
        kind=letter.kind,
        number=letter.number_text or "-",
        date=letter.letter_date or dt.date.today(),
        subject=letter.subject,
        salutation=letter.salutation,
        body=letter.body,
        urgency=letter.urgency,
        secrecy=letter.secrecy,
        main_document=_document(f"{letter.number_text or letter.id}.pdf", "application/pdf", main),
        attachments=attachments,
    )


async def _fail(session: AsyncSession, recipient: Recipient, reason: str, detail: str) -> None:
    recipient.status = "failed"
    recipient.error = f"{reason}: {detail}"[:1000]
    await letters.record_event(
        session, recipient.letter_id, "exchange_failed", SYSTEM, f"{recipient.name_th}: {reason}"
    )
    log.warning("saraban_exchange_failed", recipient_id=str(recipient.id), reason=reason)


async def send_consignment(session: AsyncSession, tenant_id: int, recipient_id: uuid.UUID, *, runtime: Runtime) -> str:
    """Send one addressee's envelope (the session in the sender's tenant schema); returns the
    outcome: ``delivered``, ``failed:<reason>``, or ``skipped`` (already settled). Raises
    :class:`ExchangeRetry` for what the outbox should try again."""
    recipient = (
        await session.execute(select(Recipient).where(Recipient.id == recipient_id).with_for_update())
    ).scalar_one_or_none()
    if recipient is None or recipient.kind != "outside" or recipient.status in ("delivered", "failed"):
        return "skipped"
    letter = await session.get(Letter, recipient.letter_id)
    agency = await session.get(OutsideAgency, recipient.agency_id) if recipient.agency_id is not None else None
    if letter is None or agency is None or not agency.active or not agency.endpoint_url:
        await _fail(session, recipient, "unknown_addressee", "the agency has no active exchange endpoint")
        return "failed:unknown_addressee"
    now = dt.datetime.now(dt.UTC)
    secrets = await secrets_of(session, runtime.secret_key, agency.id, now)
    if not secrets:
        await _fail(session, recipient, "no_key", "the operator has issued no exchange key for the agency")
        return "failed:no_key"
    envelope = await build_envelope(session, runtime.store, tenant_id, letter, recipient, agency)
    body = msgspec.json.encode(envelope)
    if len(body) > MAX_ENVELOPE_BYTES:
        await _fail(session, recipient, "too_large", f"{len(body)} bytes")
        return "failed:too_large"
    headers = {
        **SCHEME.headers(secrets[:1], body, now),
        SENDER_HEADER: sender_header(envelope.sender.code),
        CONSIGNMENT_HEADER: str(envelope.consignment_id),
        "Content-Type": "application/json",
        "Accept": "application/json, application/problem+json",
    }
    policy = msgspec.structs.replace(runtime.policy, max_request_bytes=MAX_ENVELOPE_BYTES)
    recipient.status = "queued"
    try:
        response = await egress.request(
            "POST", agency.endpoint_url, headers=headers, body=body, policy=policy, resolver=runtime.resolver
        )
    except egress.EgressRefused as exc:
        await _fail(session, recipient, "endpoint_refused", exc.reason)
        return "failed:endpoint_refused"
    except egress.EgressFailed as exc:
        raise ExchangeRetry(f"{agency.code}: {exc.reason}") from exc
    answer = _json(response.body)
    if response.status in (200, 201) or (response.status == 409 and answer.get("code") == ExchangeDuplicate.code):
        receipt_id = answer.get("receipt_id") or (answer.get("data") or {}).get("receipt_id")
        if not isinstance(receipt_id, str) or not receipt_id:
            raise ExchangeRetry(f"{agency.code}: an answer {response.status} without a receipt_id")
        recipient.status = "delivered"
        recipient.receipt_no = receipt_id[:80]
        recipient.delivered_at = now
        recipient.error = None
        await letters.record_event(session, letter.id, "delivered", SYSTEM, f"{recipient.name_th}: {receipt_id}")
        return "delivered"
    if response.status == 429 or response.status >= 500:
        raise ExchangeRetry(f"{agency.code}: HTTP {response.status}")
    if 300 <= response.status < 400:  # never followed (kernel.egress): a redirect is a refusal
        await _fail(session, recipient, "redirect_refused", f"HTTP {response.status}")
        return "failed:redirect_refused"
    code = str(answer.get("code") or "")
    reason = FAILURE_REASONS.get(code) or {404: "unknown_addressee", 413: "too_large", 401: "signature"}.get(
        response.status, "validation"
    )
    await _fail(session, recipient, reason, f"HTTP {response.status} {code}".strip())
    return f"failed:{reason}"


def _json(body: bytes) -> dict[str, Any]:
    try:
        value = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return {}
    return value if isinstance(value, dict) else {}


# --- inbound -------------------------------------------------------------------------------------------


async def receive_envelope(
    session: AsyncSession,
    store: BlobStore,
    secret_key: str,
    *,
    headers: dict[str, str],
    body: bytes,
    now: dt.datetime | None = None,
) -> Receipt:
    """Check and register an envelope sent to this LAO (the session in its tenant schema)."""
    moment = now or dt.datetime.now(dt.UTC)
    if len(body) > MAX_ENVELOPE_BYTES:
        raise ExchangeTooLarge(data={"max_bytes": MAX_ENVELOPE_BYTES})
    sender_code = urllib.parse.unquote(headers.get(SENDER_HEADER.lower()) or "").strip()
    agency = (
        (
            await session.execute(select(OutsideAgency).where(OutsideAgency.code == sender_code, OutsideAgency.active))
        ).scalar_one_or_none()
        if sender_code
        else None
    )
    secrets = await secrets_of(session, secret_key, agency.id, moment) if agency is not None else []
    if agency is None or not secrets:
        raise ExchangeUnknownSender(data={"sender": sender_code[:40]})
    SCHEME.verify(
        secrets,
        headers.get(SCHEME.timestamp_header.lower()),
        headers.get(SCHEME.signature_header.lower()),
        body,
        moment,
    )
    try:
        envelope = msgspec.json.decode(body, type=Envelope)
    except msgspec.ValidationError as exc:
        raise ExchangeValidation(str(exc), data={"reason": "schema", "error": str(exc)[:300]}) from exc
    except msgspec.DecodeError as exc:
        raise ExchangeValidation("the envelope is not JSON", data={"reason": "json"}) from exc
    if envelope.sender.code != agency.code:
        raise ExchangeValidation("the envelope's sender is not the signing agency", data={"reason": "sender"})
    settings = await session.get(SarabanSettings, 1)
    if settings is None or not settings.agency_code or envelope.recipient.code != settings.agency_code:
        raise ExchangeUnknownAddressee(data={"recipient": envelope.recipient.code})
    key = f"exchange:{agency.code}:{envelope.consignment_id}"
    await session.execute(_LOCK, {"key": key})
    existing = (await session.execute(select(Letter).where(Letter.source_key == key))).scalar_one_or_none()
    if existing is not None:
        entry = await registers.entry_of(session, existing.id, "receive")
        receipt_id = rules.register_no(entry["year"], entry["seq"]) if entry is not None else str(existing.id)
        raise ExchangeDuplicate(
            data={"receipt_id": receipt_id, "consignment_id": str(envelope.consignment_id)}
        ).keeping_changes()
    documents_in = [envelope.main_document, *envelope.attachments]
    contents = [decode_document(doc) for doc in documents_in]
    letter, entry = await routing.receive(
        session,
        kind=envelope.kind,
        subkind=None,
        subject=envelope.subject,
        sender_name=envelope.sender.name,
        sender_code=envelope.sender.code,
        number_text=envelope.number,
        letter_date=envelope.date,
        salutation=envelope.salutation,
        body=envelope.body,
        urgency=envelope.urgency,
        secrecy=envelope.secrecy,
        signer_name=None,
        signer_position=None,
        named_staff_ids=[],
        to_th=envelope.recipient.name,
        recorded_by=f"exchange:{agency.code}"[:150],
        now=moment,
        source_key=key,
        extra={"consignment_id": str(envelope.consignment_id), "sender_agency_id": agency.id},
    )
    for doc, data in zip(documents_in, contents, strict=True):
        try:
            await store_upload(
                session,
                store,
                data=data,
                filename=doc.filename,
                owner=documents.attachment_owner(letter.id),
                uploaded_by=SYSTEM.audit,
                limits=INBOUND_LIMITS,
            )
        except (FileTypeNotAllowed, FileEmpty) as exc:
            raise ExchangeValidation(
                f"{doc.filename}: a document type that is not accepted (PDF or image, judged by content)",
                data={"reason": "document_type", "filename": doc.filename},
            ) from exc
        except FileTooLarge as exc:
            raise ExchangeTooLarge(data={"filename": doc.filename, "max_bytes": INBOUND_LIMITS.max_bytes}) from exc
    receipt_id = rules.register_no(entry["year"], entry["seq"])
    await letters.record_event(session, letter.id, "received", SYSTEM, f"{receipt_id} ({envelope.sender.name})")
    return Receipt(consignment_id=envelope.consignment_id, receipt_id=receipt_id, received_at=moment)


def handlers() -> dict[str, Any]:
    """The plugin's consumers of the exchange."""
    return {"saraban.letter_issued": on_letter_issued, SEND_TOPIC: on_send}


__all__: Sequence[str] = (
    "SEND_TOPIC",
    "Envelope",
    "ExchangeRetry",
    "Receipt",
    "Runtime",
    "receive_envelope",
    "rotate_key",
    "send_consignment",
)
