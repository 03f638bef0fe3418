"""The letter as a document: its PDF in the official layout, signed with the LAO's certificate on
issue; the LAO's emblem; the letter's attachments.

* :func:`letter_document` turns a letter (and its LAO, issuing unit, emblem and the LAO's
  choice of digits) into a :class:`~.letter_pdf.LetterDocument`.
* :func:`seal` runs when a letter is issued (in the issuing transaction): the PDF is rendered
  with its number and date, signed (PAdES, kernel.documents.pades) with the LAO's active
  certificate, stored in kernel.storage (owner ``saraban.letter_pdf``) and recorded on the letter
  (``extra.pdf_file_id``, ``extra.pdf_sha256``, ``extra.signed_with``). An LAO without a
  certificate still issues letters (signed on paper): its PDF is rendered when asked, unsigned.
* The emblem is an image the LAO uploads (PNG or JPEG, owner ``saraban.emblem``); the newest
  upload is the one printed.
* A letter's files are kernel.storage files of the owner ``saraban.letter`` (``files.py``); the
  text of PDF files goes into the search index.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import uuid

import msgspec
import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.audit import Actor, Origin, record_audit
from localgov.kernel.documents import pades
from localgov.kernel.reads import Reader, fetch_one
from localgov.kernel.storage import BlobStore, FileOwner, UploadLimits
from localgov.kernel.storage.files import StoredFile, store_upload
from localgov.kernel.tenancy import TenantInfo, lao_profile
from localgov.services.saraban import search_index
from localgov.services.saraban.errors import LetterNotFound
from localgov.services.saraban.letter_pdf import LetterDocument, RenderedLetter, render_letter_layout
from localgov.services.saraban.models import IssuingUnit, Letter, SarabanSettings

log = structlog.get_logger(__name__)

EMBLEM_OWNER = FileOwner("saraban.emblem", "current")
PDF_OWNER_KIND = "saraban.letter_pdf"
EMBLEM_LIMITS = UploadLimits(max_bytes=2 * 1024 * 1024, types=("png", "jpeg"))
#: The signed PDF as kept (a letter is a few pages; its emblem a few hundred kilobytes).
PDF_LIMITS = UploadLimits(max_bytes=30 * 1024 * 1024, types=("pdf",))

_L = Letter.__table__.c
_LETTER = select(
    _L.id,
    _L.kind,
    _L.subkind,
    _L.status,
    _L.urgency,
    _L.secrecy,
    _L.number_text,
    _L.letter_date,
    _L.subject,
    _L.salutation,
    _L.references,
    _L.enclosures,
    _L.body,
    _L.signer_name,
    _L.signer_position,
    _L.issuing_unit_id,
    _L.extra,
    _L.issued_at,
    _L.created_at,
)


def pdf_owner(letter_id: uuid.UUID) -> FileOwner:
    return FileOwner(PDF_OWNER_KIND, str(letter_id))


def attachment_owner(letter_id: uuid.UUID) -> FileOwner:
    return FileOwner(search_index.ATTACHMENT_OWNER, str(letter_id))


class Issuer(msgspec.Struct, frozen=True, kw_only=True):
    """The LAO as its letters print it."""

    name_th: str
    address_th: str | None = None
    phone: str | None = None


async def issuer_of(session: AsyncSession, tenant: TenantInfo) -> Issuer:
    profile = await lao_profile(session, tenant)
    return Issuer(name_th=tenant.name_th, address_th=profile.address_th, phone=profile.phone)


class Sealed(msgspec.Struct, frozen=True, kw_only=True):
    file_id: uuid.UUID
    sha256: str
    certificate_fingerprint: str


async def emblem_bytes(session: AsyncSession, store: BlobStore) -> bytes | None:
    """The newest emblem the LAO uploaded, or None."""
    key = (
        await session.execute(
            select(StoredFile.storage_key)
            .where(StoredFile.owner_kind == EMBLEM_OWNER.kind, StoredFile.owner_ref == EMBLEM_OWNER.ref)
            .order_by(StoredFile.created_at.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    if key is None:
        return None
    stream = await store.open(key)
    try:
        return b"".join([chunk async for chunk in stream])
    finally:
        await stream.aclose()


async def letter_document(
    session: AsyncSession, store: BlobStore, issuer: Issuer, letter_id: uuid.UUID
) -> LetterDocument:
    """The letter as printed (the caller has checked the viewer's access)."""
    row = (await session.execute(_LETTER.where(_L.id == letter_id))).mappings().one_or_none()
    if row is None:
        raise LetterNotFound(data={"letter_id": str(letter_id)})
    settings = await session.get(SarabanSettings, 1)
    unit_name: str | None = None
    if row["issuing_unit_id"] is not None:
        unit = await session.get(IssuingUnit, row["issuing_unit_id"])
        unit_name = unit.name_th if unit is not None else None
    memo = row["kind"] == "internal"
    return LetterDocument(
        kind=row["kind"],
        subkind=row["subkind"],
        number=row["number_text"],
        date=row["letter_date"],
        subject=row["subject"],
        salutation=row["salutation"],
        references=list(row["references"] or []),
        enclosures=list(row["enclosures"] or []),
        body=row["body"] or "",
        signer_name=row["signer_name"],
        signer_position=row["signer_position"],
        issuer_name=(unit_name or issuer.name_th) if memo else issuer.name_th,
        issuer_address=None if memo else issuer.address_th,
        owner_unit=None if memo else unit_name,
        contact=f"โทร. {issuer.phone}" if issuer.phone and not memo else None,
        urgency=row["urgency"],
        secrecy=row["secrecy"],
        emblem=await emblem_bytes(session, store),
        thai_digits=settings.thai_digits if settings is not None else True,
        created_at=row["issued_at"] or row["created_at"],
    )


async def render(session: AsyncSession, store: BlobStore, issuer: Issuer, letter_id: uuid.UUID) -> RenderedLetter:
    doc = await letter_document(session, store, issuer, letter_id)
    return await asyncio.to_thread(render_letter_layout, doc)


async def seal(
    session: AsyncSession,
    store: BlobStore,
    secret_key: str,
    tenant: TenantInfo,
    letter_id: uuid.UUID,
    *,
    actor: Actor,
    origin: Origin,
) -> Sealed | None:
    """Render the issued letter, sign it with the LAO's certificate and keep it; None (and the
    letter stays printable unsigned) when the LAO has no certificate."""
    if await pades.active_certificate(session) is None:
        log.info("saraban_letter_not_signed", letter_id=str(letter_id), reason="no_signing_certificate")
        return None
    material = await pades.active_material(session, secret_key)
    rendered = await render(session, store, await issuer_of(session, tenant), letter_id)
    signed = await asyncio.to_thread(
        pades.sign_pdf,
        rendered.pdf,
        material,
        reason="ลงนามหนังสือราชการ (Official letter signed)",
        location=tenant.name_th,
        visible=pades.VisibleSignature(page=rendered.signature_page, box=rendered.signature_box),
    )
    stored = await store_upload(
        session,
        store,
        data=signed,
        filename=f"letter-{letter_id}.pdf",
        owner=pdf_owner(letter_id),
        uploaded_by=actor,
        limits=PDF_LIMITS,
    )
    fingerprint = hashlib.sha256(material.chain_der[0]).hexdigest()
    letter = await session.get(Letter, letter_id)
    assert letter is not None
    letter.extra = {
        **(letter.extra or {}),
        "pdf_file_id": str(stored.id),
        "pdf_sha256": stored.sha256,
        "signed_with": fingerprint,
        "signed_at": dt.datetime.now(dt.UTC).isoformat(),
    }
    await session.flush()
    await record_audit(
        session,
        "saraban.letter_signed",
        actor=actor,
        origin=origin,
        target=f"saraban_letter:{letter_id}",
        data={"file_id": str(stored.id), "sha256": stored.sha256, "certificate": fingerprint},
    )
    return Sealed(file_id=stored.id, sha256=stored.sha256, certificate_fingerprint=fingerprint)


async def sealed_file_id(reader: Reader, letter_id: uuid.UUID) -> uuid.UUID | None:
    row = await fetch_one(reader, select(_L.extra).where(_L.id == letter_id))
    raw = (row["extra"] or {}).get("pdf_file_id") if row is not None else None
    return uuid.UUID(str(raw)) if raw else None
