"""The register of issued documents (ทะเบียนเอกสารที่ออก) and their public verification codes.

Every official document a service issues (a receipt, a permit, a certificate, a letter) is
registered here in the issuing transaction: its kind and number, its title, its holder's name
*masked* (``สมชาย ใ***``: a verification page shows whom a document concerns without publishing
the name), its validity and its status: ``valid``, ``revoked`` (withdrawn after it was issued) or
``void`` (cancelled as a mistake), with the time of the change. Whoever holds the paper can check it
at the tenant's public verification page by its code (the QR stamp on the paper links there).

**Verification codes.** A code is ``<serial>-<mac>``: the document's serial number in the
tenant's register (Crockford base 32) and 16 characters (80 bits) of an HMAC-SHA256 over the
tenant's id and the serial, under a key derived from ``LOCALGOV_SECRET_KEY``. Nothing of the code
is stored: the database keeps neither the code nor a digest of it, so a copy of the database
cannot produce one, and a reprint years later prints the same code (a code stored only as a digest
could not be printed again). Checking a code reads the row by its serial and compares the MAC in
constant time. The tenant is part of the MAC, so a code is worth nothing on another tenant's host.
Like the encrypted signing keys, codes depend on ``LOCALGOV_SECRET_KEY`` staying the same.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import uuid
from typing import Literal, get_args

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    Identity,
    Index,
    String,
    Text,
    func,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from localgov.kernel.db import TenantBase
from localgov.kernel.errors import Conflict, NotFound
from localgov.kernel.thai import bangkok_today

DocumentStatus = Literal["valid", "revoked", "void"]
STATUSES: tuple[DocumentStatus, ...] = get_args(DocumentStatus)
#: What the public register says of a document: its status, or for a valid one out of its dates
#: ``expired`` / ``not_yet_valid``.
PublicStatus = Literal["valid", "expired", "not_yet_valid", "revoked", "void"]
_KIND_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}\.[a-z][a-z0-9_.]{0,58}$")
#: Crockford's base 32: no I, L, O, U (nothing to misread when a code is typed from paper).
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_MAC_CHARS = 16
_CODE_RE = re.compile(rf"^([{_ALPHABET}]{{1,13}})-([{_ALPHABET}]{{{_MAC_CHARS}}})$")
_KEY_LABEL = b"localgov.documents.verification.v1"


class IssuedDocument(TenantBase):
    """One issued document as the public may verify it."""

    __tablename__ = "issued_documents"
    __table_args__ = (
        CheckConstraint("status IN ('valid', 'revoked', 'void')", name="status"),
        CheckConstraint("valid_until IS NULL OR valid_from IS NULL OR valid_until >= valid_from", name="validity"),
        CheckConstraint("(status = 'valid') = (status_changed_at IS NULL)", name="status_changed_at"),
        Index("uq_issued_documents_serial", "serial", unique=True),
        Index("uq_issued_documents_kind_source_key", "kind", "source_key", unique=True),
    )
    #: The serial comes back in the INSERT's RETURNING (no second round trip in the caller's transaction).
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    #: The n-th document of the tenant's register: the first part of its verification code.
    serial: Mapped[int] = mapped_column(BigInteger, Identity(always=True))
    #: The issuing service's slug (``payments``).
    service: Mapped[str] = mapped_column(String(40))
    #: ``<service>.<kind>`` (``payments.receipt``, ``permits.building_permit``).
    kind: Mapped[str] = mapped_column(String(100))
    #: The issuing service's own id of the document (a receipt's id): one register entry each.
    source_key: Mapped[str] = mapped_column(String(200))
    #: The number printed on the document (``3/17/2570``, ``อ.1 12/2569``).
    number: Mapped[str] = mapped_column(String(100))
    title_th: Mapped[str] = mapped_column(String(300))
    title_en: Mapped[str | None] = mapped_column(String(300))
    #: The holder's name as the public page shows it (masked when it was registered).
    holder_masked: Mapped[str | None] = mapped_column(String(300))
    issued_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    valid_from: Mapped[dt.date | None] = mapped_column(Date)
    valid_until: Mapped[dt.date | None] = mapped_column(Date)
    status: Mapped[DocumentStatus] = mapped_column(String(10), server_default="valid")
    #: Why it was revoked or voided (for staff; the public page shows the status and date only).
    status_reason: Mapped[str | None] = mapped_column(Text)
    status_changed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class DocumentNotFound(NotFound):
    code = "document_not_found"
    title = "ไม่พบเอกสารที่มีรหัสตรวจสอบนี้ / No document has this verification code"


class DocumentNotValid(Conflict):
    code = "document_not_valid"
    title = "เอกสารนี้ถูกเพิกถอนหรือยกเลิกแล้ว / The document is already revoked or void"


# --- masking ----------------------------------------------------------------------------------------


def mask_name(name: str) -> str:
    """``นายสมชาย ใจดี`` → ``นายสมชาย ใ***``: the first word whole, of every other word its first
    letter and ``***`` (a one-letter word is kept)."""
    words = name.split()
    if not words:
        return ""
    masked = [words[0]]
    for word in words[1:]:
        masked.append(word if len(word) == 1 else _first_letter(word) + "***")
    return " ".join(masked)


def _first_letter(word: str) -> str:
    """The first letter with the vowel written before it (เ แ โ ใ ไ lead a Thai syllable)."""
    return word[:2] if word[0] in "เแโใไ" and len(word) > 1 else word[0]


# --- codes ------------------------------------------------------------------------------------------


def _key(secret_key: str) -> bytes:
    if not secret_key:
        raise RuntimeError("verification codes need LOCALGOV_SECRET_KEY")
    return hmac.new(secret_key.encode(), _KEY_LABEL, hashlib.sha256).digest()


def _base32(number: int) -> str:
    out = ""
    while True:
        number, digit = divmod(number, 32)
        out = _ALPHABET[digit] + out
        if number == 0:
            return out


def _mac(secret_key: str, tenant_id: int, serial: int) -> str:
    digest = hmac.new(_key(secret_key), f"{tenant_id}:{serial}".encode(), hashlib.sha256).digest()
    value = int.from_bytes(digest[:10], "big")  # 80 bits = 16 base-32 characters
    return "".join(_ALPHABET[(value >> (5 * i)) & 31] for i in reversed(range(_MAC_CHARS)))


def verification_code(secret_key: str, tenant_id: int, document: IssuedDocument) -> str:
    """The code printed on ``document`` (the same every time it is printed)."""
    return f"{_base32(document.serial)}-{_mac(secret_key, tenant_id, document.serial)}"


def verification_path(code: str) -> str:
    """The public page of a code on the tenant's host (the QR stamp's link)."""
    return f"/documents/verify/{code}"


def _parse(code: str) -> tuple[int, str] | None:
    match = _CODE_RE.fullmatch(code.strip().upper())
    if match is None:
        return None
    serial = 0
    for char in match.group(1):
        serial = serial * 32 + _ALPHABET.index(char)
    return serial, match.group(2)


# --- the register -----------------------------------------------------------------------------------


async def issue(
    session: AsyncSession,
    *,
    kind: str,
    source_key: str,
    number: str,
    title_th: str,
    title_en: str | None = None,
    holder_name: str | None = None,
    issued_at: dt.datetime | None = None,
    valid_from: dt.date | None = None,
    valid_until: dt.date | None = None,
) -> IssuedDocument:
    """Register a document in the caller's transaction; its code: :func:`verification_code`."""
    if not _KIND_RE.fullmatch(kind):
        raise ValueError(f"a document kind is '<service>.<kind>': {kind!r}")
    if not source_key or len(source_key) > 200 or not number or len(number) > 100:
        raise ValueError("source_key needs 1-200 characters and number 1-100")
    document = IssuedDocument(
        service=kind.split(".", 1)[0],
        kind=kind,
        source_key=source_key,
        number=number,
        title_th=title_th,
        title_en=title_en,
        holder_masked=mask_name(holder_name)[:300] if holder_name else None,
        issued_at=issued_at or dt.datetime.now(dt.UTC),
        valid_from=valid_from,
        valid_until=valid_until,
    )
    session.add(document)
    await session.flush()
    return document


async def get_by_source(
    session: AsyncSession, kind: str, source_key: str, *, for_update: bool = False
) -> IssuedDocument:
    """The register entry of a service's document (404 ``document_not_found``)."""
    query = select(IssuedDocument).where(IssuedDocument.kind == kind, IssuedDocument.source_key == source_key)
    if for_update:
        query = query.with_for_update()
    document = (await session.execute(query)).scalar_one_or_none()
    if document is None:
        raise DocumentNotFound(data={"kind": kind})
    return document


async def _end(
    session: AsyncSession, document: IssuedDocument, status: DocumentStatus, reason: str, at: dt.datetime | None
) -> IssuedDocument:
    await session.refresh(document, with_for_update=True)
    if document.status != "valid":
        raise DocumentNotValid(data={"status": document.status})
    document.status = status
    document.status_reason = reason
    document.status_changed_at = at or dt.datetime.now(dt.UTC)
    await session.flush()
    return document


async def revoke(
    session: AsyncSession, document: IssuedDocument, *, reason: str, at: dt.datetime | None = None
) -> IssuedDocument:
    """Withdraw a valid document (เพิกถอน): it stays in the register, shown as revoked."""
    return await _end(session, document, "revoked", reason, at)


async def void(
    session: AsyncSession, document: IssuedDocument, *, reason: str, at: dt.datetime | None = None
) -> IssuedDocument:
    """Cancel a document issued by mistake (ยกเลิก): it stays in the register, shown as void."""
    return await _end(session, document, "void", reason, at)


async def find_by_code(session: AsyncSession, secret_key: str, tenant_id: int, code: str) -> IssuedDocument:
    """The document of a verification code on this tenant; one 404 for malformed, unknown, forged."""
    parsed = _parse(code)
    document: IssuedDocument | None = None
    if parsed is not None:
        serial, offered = parsed
        document = (
            await session.execute(select(IssuedDocument).where(IssuedDocument.serial == serial))
        ).scalar_one_or_none()
        expected = _mac(secret_key, tenant_id, serial)
        if not hmac.compare_digest(expected, offered):
            document = None
    if document is None:
        raise DocumentNotFound()
    return document


def public_status(document: IssuedDocument, today: dt.date | None = None) -> PublicStatus:
    """``valid``, ``revoked``, ``void``, or for a valid one out of its dates ``expired`` /
    ``not_yet_valid`` (judged on the Bangkok calendar)."""
    if document.status != "valid":
        return document.status
    day = today or bangkok_today()
    if document.valid_until is not None and day > document.valid_until:
        return "expired"
    if document.valid_from is not None and day < document.valid_from:
        return "not_yet_valid"
    return "valid"
