"""PAdES signatures on the LAO's documents, with the LAO's own signing certificate (pyHanko).

Each LAO uploads one signing certificate (a PKCS#12 file, or a PEM private key and its chain),
kept in its ``signing_certificates`` table. The private key is stored as PKCS#8 DER encrypted with
AES-256-GCM under a key derived from ``LOCALGOV_SECRET_KEY`` (as the platform's token keys are,
:mod:`localgov.kernel.auth.keys`), bound to the certificate's fingerprint: the database alone
does not reveal it. A new upload replaces the active certificate; the old row stays, retired, so
the register says which certificate signed what and when.

:func:`sign_pdf` adds a PAdES baseline signature (``ETSI.CAdES.detached``, SHA-256, the chain
embedded) as an incremental update, visible (a box with Thai text on the page given) or
invisible; any PDF reader that trusts the LAO's CA verifies it. :func:`verify_pdf` is the check
the tests and the verification tools use: intact (the signed bytes unchanged), valid (the
signature over them is right), trusted (the chain ends at a root given), and whether the
signature covers the whole file.

Signing and verification are CPU work: handlers call them through ``asyncio.to_thread``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import hashlib
import io
import os
import uuid
from collections.abc import Sequence
from typing import Any

import msgspec
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import pkcs12
from pyhanko.pdf_utils.font.opentype import GlyphAccumulator, GlyphAccumulatorFactory
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.text import TextBoxStyle
from pyhanko.pdf_utils.writer import BasePdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko.stamp import TextStampStyle
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore
from sqlalchemy import Boolean, DateTime, Index, LargeBinary, String, Text, func, select, text, update
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from localgov.kernel.audit import Actor, Origin, record_audit
from localgov.kernel.db import TenantBase
from localgov.kernel.documents.pdf import FONT_DIR
from localgov.kernel.errors import DomainError

#: Largest upload accepted (a PKCS#12 file or a PEM chain is a few kilobytes).
MAX_UPLOAD_BYTES = 64 * 1024
_AAD = b"localgov-pdf-signing-key"


class CertificateInvalid(DomainError):
    code = "certificate_invalid"
    status = 422
    title = "ใบรับรองสำหรับลงนามไม่ถูกต้อง (The signing certificate is not usable)"


class NoSigningCertificate(DomainError):
    code = "no_signing_certificate"
    status = 409
    title = "หน่วยงานยังไม่ได้ติดตั้งใบรับรองสำหรับลงนาม (The LAO has no signing certificate)"


class SigningKeyUnreadable(DomainError):
    code = "signing_key_unreadable"
    status = 409
    title = "อ่านกุญแจสำหรับลงนามไม่ได้ ต้องติดตั้งใบรับรองใหม่ (The signing key cannot be read: upload the certificate again)"


class SigningCertificate(TenantBase):
    """One signing certificate of the LAO; ``private_key`` is AES-GCM (nonce ‖ ciphertext) of PKCS#8 DER."""

    __tablename__ = "signing_certificates"
    __table_args__ = (Index("uq_signing_certificates_active", "active", unique=True, postgresql_where=text("active")),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    subject: Mapped[str] = mapped_column(Text)
    issuer: Mapped[str] = mapped_column(Text)
    serial_number: Mapped[str] = mapped_column(String(64))
    fingerprint_sha256: Mapped[str] = mapped_column(String(64))
    not_before: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    not_after: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    #: The signer's certificate first, then its issuers (PEM).
    chain_pem: Mapped[str] = mapped_column(Text)
    private_key: Mapped[bytes] = mapped_column(LargeBinary)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    retired_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class KeyMaterial(msgspec.Struct, frozen=True, kw_only=True):
    """A private key (PKCS#8 DER) and its certificate chain (DER, the signer's first)."""

    key_der: bytes
    chain_der: tuple[bytes, ...]

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_der_x509_certificate(self.chain_der[0])


class CertificateInfo(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    subject: str
    issuer: str
    serial_number: str
    fingerprint_sha256: str
    not_before: dt.datetime
    not_after: dt.datetime
    active: bool


class VisibleSignature(msgspec.Struct, frozen=True, kw_only=True):
    """A visible signature box: ``box`` is (x1, y1, x2, y2) in PDF points from the page's lower left."""

    page: int = 0
    box: tuple[int, int, int, int] = (330, 40, 560, 100)
    #: Lines printed in the box (Thai allowed: Sarabun is embedded); ``%(signer)s`` and ``%(ts)s``
    #: are filled in by pyHanko.
    text: str = "ลงนามอิเล็กทรอนิกส์โดย %(signer)s\nเวลา %(ts)s"


class SignatureReport(msgspec.Struct, frozen=True, kw_only=True):
    field_name: str
    signer_subject: str
    signing_time: dt.datetime | None
    #: The signed bytes are as they were signed.
    intact: bool
    #: The cryptographic signature over them is right.
    valid: bool
    #: The signer's chain ends at one of the trust roots given.
    trusted: bool
    #: The signature covers the whole file (nothing appended after it).
    covers_whole_file: bool
    #: intact, valid and trusted.
    ok: bool


# --- parsing uploads ---------------------------------------------------------------------------


def _invalid(detail: str, reason: str) -> CertificateInvalid:
    return CertificateInvalid(detail, data={"reason": reason})


def from_pkcs12(data: bytes, password: str | None) -> KeyMaterial:
    """The key and chain of a PKCS#12 file (``.p12``/``.pfx``); 422 ``certificate_invalid`` otherwise."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise _invalid("The PKCS#12 file is too large.", "too_large")
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(data, password.encode() if password else None)
    except (ValueError, TypeError) as exc:
        raise _invalid("The PKCS#12 file cannot be opened (wrong password or not PKCS#12).", "unreadable") from exc
    if key is None or cert is None:
        raise _invalid("The PKCS#12 file holds no private key with its certificate.", "incomplete")
    return _material(key, [cert, *extra])


def from_pem(key_pem: str, chain_pem: str, password: str | None) -> KeyMaterial:
    """A PEM private key (PKCS#8 or traditional, maybe encrypted) and its PEM chain, signer first."""
    if len(key_pem) + len(chain_pem) > MAX_UPLOAD_BYTES:
        raise _invalid("The PEM data is too large.", "too_large")
    try:
        key = serialization.load_pem_private_key(key_pem.encode(), password.encode() if password else None)
    except (ValueError, TypeError) as exc:
        raise _invalid("The private key cannot be read (wrong password or not PEM).", "unreadable") from exc
    try:
        chain = x509.load_pem_x509_certificates(chain_pem.encode())
    except ValueError as exc:
        raise _invalid("The certificate chain is not PEM certificates.", "unreadable") from exc
    return _material(key, chain)


def _material(key: object, chain: Sequence[x509.Certificate]) -> KeyMaterial:
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise _invalid("Only RSA and elliptic-curve keys sign PDF documents here.", "key_type")
    if isinstance(key, rsa.RSAPrivateKey) and key.key_size < 2048:
        raise _invalid("An RSA key must have at least 2048 bits.", "key_size")
    if not chain:
        raise _invalid("The certificate is missing.", "incomplete")
    cert = chain[0]
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(serialization.Encoding.DER, public) != cert.public_key().public_bytes(
        serialization.Encoding.DER, public
    ):
        raise _invalid("The private key does not belong to the first certificate of the chain.", "key_mismatch")
    now = dt.datetime.now(dt.UTC)
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise _invalid("The certificate is not valid now (expired or not yet valid).", "expired")
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        usage = None
    if usage is not None and not (usage.digital_signature or usage.content_commitment):
        raise _invalid("The certificate's key usage does not allow signing.", "key_usage")
    key_der = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return KeyMaterial(key_der=key_der, chain_der=tuple(c.public_bytes(serialization.Encoding.DER) for c in chain))


# --- storage -----------------------------------------------------------------------------------


def _cipher(secret_key: str) -> AESGCM:
    return AESGCM(hashlib.sha256(b"localgov pdf signing certificates\x00" + secret_key.encode()).digest())


def encrypt_key(secret_key: str, fingerprint: str, key_der: bytes) -> bytes:
    nonce = os.urandom(12)
    return nonce + _cipher(secret_key).encrypt(nonce, key_der, _AAD + fingerprint.encode())


def decrypt_key(secret_key: str, fingerprint: str, blob: bytes) -> bytes:
    return _cipher(secret_key).decrypt(blob[:12], blob[12:], _AAD + fingerprint.encode())


def _info(row: SigningCertificate) -> CertificateInfo:
    return CertificateInfo(
        id=row.id,
        subject=row.subject,
        issuer=row.issuer,
        serial_number=row.serial_number,
        fingerprint_sha256=row.fingerprint_sha256,
        not_before=row.not_before,
        not_after=row.not_after,
        active=row.active,
    )


async def install_certificate(
    session: AsyncSession, secret_key: str, material: KeyMaterial, *, actor: Actor, origin: Origin
) -> CertificateInfo:
    """Make ``material`` the LAO's signing certificate; the previous one is retired (kept)."""
    if not secret_key:
        raise RuntimeError("LOCALGOV_SECRET_KEY is needed to store a signing key")
    cert = material.certificate
    fingerprint = hashlib.sha256(material.chain_der[0]).hexdigest()
    await session.execute(
        update(SigningCertificate)
        .where(SigningCertificate.active.is_(True))
        .values(active=False, retired_at=func.now())
    )
    row = SigningCertificate(
        id=uuid.uuid4(),
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        serial_number=format(cert.serial_number, "x"),
        fingerprint_sha256=fingerprint,
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        chain_pem="".join(
            x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM).decode()
            for der in material.chain_der
        ),
        private_key=encrypt_key(secret_key, fingerprint, material.key_der),
        active=True,
    )
    session.add(row)
    await session.flush()
    await record_audit(
        session,
        "documents.signing_certificate_installed",
        actor=actor,
        origin=origin,
        target=f"signing_certificate:{row.id}",
        data={"subject": row.subject, "fingerprint_sha256": fingerprint, "not_after": row.not_after.isoformat()},
    )
    return _info(row)


async def active_certificate(session: AsyncSession) -> CertificateInfo | None:
    row = (
        await session.execute(select(SigningCertificate).where(SigningCertificate.active.is_(True)))
    ).scalar_one_or_none()
    return None if row is None else _info(row)


async def active_material(session: AsyncSession, secret_key: str) -> KeyMaterial:
    """The active certificate's key and chain, decrypted; 409 ``no_signing_certificate`` without one."""
    row = (
        await session.execute(select(SigningCertificate).where(SigningCertificate.active.is_(True)))
    ).scalar_one_or_none()
    if row is None:
        raise NoSigningCertificate("Upload the LAO's signing certificate first (PUT /v1/tenant/signing-certificate).")
    try:
        key_der = decrypt_key(secret_key, row.fingerprint_sha256, row.private_key)
    except InvalidTag as exc:
        raise SigningKeyUnreadable(
            "The stored key does not decrypt: LOCALGOV_SECRET_KEY changed since the upload."
        ) from exc
    chain = tuple(
        c.public_bytes(serialization.Encoding.DER) for c in x509.load_pem_x509_certificates(row.chain_pem.encode())
    )
    return KeyMaterial(key_der=key_der, chain_der=chain)


# --- signing and verifying ---------------------------------------------------------------------


def _signer(material: KeyMaterial) -> signers.SimpleSigner:
    certs = [asn1_x509.Certificate.load(der) for der in material.chain_der]
    return signers.SimpleSigner(
        signing_cert=certs[0],
        signing_key=asn1_keys.PrivateKeyInfo.load(material.key_der),
        cert_registry=SimpleCertificateStore.from_certs(certs),  # type: ignore[no-untyped-call]
    )


def _key_usage(cert: x509.Certificate) -> set[str]:
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return set()
    return {"non_repudiation"} if usage.content_commitment else {"digital_signature"}


def _pdf_signer(
    material: KeyMaterial,
    *,
    reason: str | None,
    location: str | None,
    field_name: str,
    visible: VisibleSignature | None,
) -> signers.PdfSigner:
    meta = signers.PdfSignatureMetadata(
        field_name=field_name,
        md_algorithm="sha256",
        subfilter=fields.SigSeedSubFilter.PADES,
        reason=reason,
        location=location,
        signer_key_usage=_key_usage(material.certificate),
    )
    stamp: TextStampStyle | None = None
    if visible is None:
        spec = fields.SigFieldSpec(sig_field_name=field_name)
    else:
        spec = fields.SigFieldSpec(sig_field_name=field_name, on_page=visible.page, box=visible.box)
        stamp = TextStampStyle(
            stamp_text=visible.text,
            timestamp_format="%d/%m/%Y %H:%M:%S %Z",
            text_box_style=_text_box_style(),
            border_width=1,
        )
    return signers.PdfSigner(meta, signer=_signer(material), stamp_style=stamp, new_field_spec=spec)


async def asign_pdf(
    pdf: bytes,
    material: KeyMaterial,
    *,
    reason: str | None = None,
    location: str | None = None,
    field_name: str = "Signature1",
    visible: VisibleSignature | None = None,
) -> bytes:
    """``pdf`` with a PAdES baseline-B signature by ``material``, appended as an incremental update.

    CPU work on the running loop: a request handler calls :func:`sign_pdf` in a thread instead.
    """
    signer = _pdf_signer(material, reason=reason, location=location, field_name=field_name, visible=visible)
    out = io.BytesIO()
    await signer.async_sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False), output=out)
    return out.getvalue()


def sign_pdf(
    pdf: bytes,
    material: KeyMaterial,
    *,
    reason: str | None = None,
    location: str | None = None,
    field_name: str = "Signature1",
    visible: VisibleSignature | None = None,
) -> bytes:
    """:func:`asign_pdf` for a thread without an event loop (``asyncio.to_thread(sign_pdf, …)``)."""
    return asyncio.run(
        asign_pdf(pdf, material, reason=reason, location=location, field_name=field_name, visible=visible)
    )


class _SarabunFactory(GlyphAccumulatorFactory):
    """pyHanko's OpenType font factory, reading Sarabun into memory (its own leaves the file open)."""

    def create_font_engine(self, writer: BasePdfFileWriter, obj_stream: Any = None) -> GlyphAccumulator:
        if obj_stream is None and writer.stream_xrefs and self.create_objstream_if_needed:
            obj_stream = writer.prepare_object_stream()  # type: ignore[no-untyped-call]
        return GlyphAccumulator(
            writer=writer,
            font_handle=io.BytesIO(_sarabun()),
            font_size=self.font_size,
            ot_script_tag=self.ot_script_tag,
            ot_language_tag=self.ot_language_tag,
            writing_direction=self.writing_direction,
            bcp47_lang_code=self.bcp47_lang_code,
            obj_stream=obj_stream,
        )


@functools.cache
def _sarabun() -> bytes:
    return (FONT_DIR / "Sarabun-Regular.ttf").read_bytes()


def _text_box_style() -> TextBoxStyle:
    return TextBoxStyle(
        font=_SarabunFactory(str(FONT_DIR / "Sarabun-Regular.ttf"), ot_script_tag="thai", ot_language_tag="THA "),
        font_size=9,
    )


async def averify_pdf(pdf: bytes, trust_roots: Sequence[bytes]) -> list[SignatureReport]:
    """Every signature of ``pdf``, checked against ``trust_roots`` (DER certificates)."""
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    context = ValidationContext(trust_roots=[asn1_x509.Certificate.load(der) for der in trust_roots])
    out: list[SignatureReport] = []
    for embedded in reader.embedded_signatures:
        status = await async_validate_pdf_signature(embedded, context, skip_diff=True)
        out.append(
            SignatureReport(
                field_name=embedded.field_name,
                signer_subject=status.signing_cert.subject.human_friendly,
                signing_time=status.signer_reported_dt,
                intact=bool(status.intact),
                valid=bool(status.valid),
                trusted=bool(status.trusted),
                covers_whole_file=status.coverage is not None and status.coverage.name == "ENTIRE_FILE",
                ok=bool(status.intact and status.valid and status.trusted),
            )
        )
    return out


def verify_pdf(pdf: bytes, trust_roots: Sequence[bytes]) -> list[SignatureReport]:
    """:func:`averify_pdf` for a thread (``asyncio.to_thread(verify_pdf, …)``) or a script."""
    return asyncio.run(averify_pdf(pdf, trust_roots))
