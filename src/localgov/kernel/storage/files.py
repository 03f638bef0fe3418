"""Stored files (ไฟล์แนบ): the tenant table ``stored_files`` and the two calls services make.

:func:`store_upload` takes an upload's bytes (or its chunks, read as they come), refuses it when
it is empty, larger than the service's limit or not one of the allowed types *by content*
(:mod:`.types`), records its SHA-256, writes its bytes to the blob store under a key made from the
tenant's schema and the hash (:mod:`.blobs`), and adds a ``stored_files`` row in the caller's
transaction (:func:`store_copy`: the same from a file another tenant described in its own
transaction, see :class:`FileCopy`). :func:`open_file` gives a file's metadata and its bytes back
only when the file belongs to the owner the service names, in the tenant of the session: an id of
another owner or of another LAO is "not found", whatever the id. The service checks first that the caller may see
the owner (the case); this module checks that the file is the owner's.

**Owners.** A file belongs to ``FileOwner(kind, ref)``: the service's kind of record
(``oss.case``) and its id. The kernel does not know the service's tables; the service keeps
the link and decides who may see what.

**Bytes and rows.** The blob is written before the row, so a row never names bytes that are not
there. A transaction that rolls back after the blob was written leaves an unreferenced blob under
its hash (the same upload retried reuses it); nothing ever lists blobs to serve them, so such a
blob is never reachable.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import unicodedata
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Sequence

import msgspec
import structlog
from sqlalchemy import BigInteger, CheckConstraint, DateTime, Index, String, bindparam, func, select, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from localgov.kernel.audit import Actor
from localgov.kernel.db import TenantBase, session_tenant_schema
from localgov.kernel.errors import DomainError, NotFound
from localgov.kernel.pagination import after_key
from localgov.kernel.reads import Reader, Row, fetch_all, fetch_one
from localgov.kernel.storage.blobs import BlobMissing, BlobStore, BlobStream, StagedBlob, blob_key
from localgov.kernel.storage.types import DOCUMENT_TYPES, KNOWN_TYPES, SNIFF_BYTES, FileType, detect

log = structlog.get_logger("localgov.storage")

_OWNER_KIND_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}\.[a-z][a-z0-9_.]{0,58}$")
_OWNER_REF_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,200}$")
#: Characters no file name keeps (path separators, Windows' reserved punctuation).
_FORBIDDEN = re.compile(r'[<>:"/\\|?*]')
#: A stored name's stem is cut to this many UTF-8 bytes (file systems allow 255 per name; a Thai
#: letter takes 3), leaving room for the extension.
MAX_STEM_BYTES = 200


class StoredFile(TenantBase):
    """One uploaded file of the LAO: who owns it, what it is (by content), its hash and its blob."""

    __tablename__ = "stored_files"
    __table_args__ = (
        CheckConstraint("size_bytes > 0", name="size_positive"),
        CheckConstraint("sha256 ~ '^[0-9a-f]{64}$'", name="sha256_hex"),
        Index("ix_stored_files_owner", "owner_kind", "owner_ref", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    #: ``<service>.<kind of record>`` (``oss.case``).
    owner_kind: Mapped[str] = mapped_column(String(100))
    #: The owning record's id, as the service writes it.
    owner_ref: Mapped[str] = mapped_column(String(200))
    #: The uploader's file name, cleaned (:func:`clean_filename`); Thai is kept.
    filename: Mapped[str] = mapped_column(String(255))
    #: The media type detected from the content (never the one the uploader declared).
    content_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    #: The blob's key in the store (``<schema>/<ab>/<cd>/<sha256>``).
    storage_key: Mapped[str] = mapped_column(String(300))
    #: ``<actor kind>:<id>`` (``staff:<uuid>``, ``citizen:<uuid>``).
    uploaded_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


_TABLE = StoredFile.__table__
#: The columns a service may show (``kernel.reads.json_rows(FILE_COLUMNS, where=...)`` folds a
#: record's files into its own read); the storage key stays inside the kernel.
FILE_COLUMNS = (
    _TABLE.c.id,
    _TABLE.c.owner_kind,
    _TABLE.c.owner_ref,
    _TABLE.c.filename,
    _TABLE.c.content_type,
    _TABLE.c.size_bytes,
    _TABLE.c.sha256,
    _TABLE.c.uploaded_by,
    _TABLE.c.created_at,
)
_OWNED = (_TABLE.c.owner_kind == bindparam("owner_kind")) & (_TABLE.c.owner_ref == bindparam("owner_ref"))
_FILE = select(*FILE_COLUMNS, _TABLE.c.storage_key).where(_TABLE.c.id == bindparam("id"), _OWNED)
_FILES = select(*FILE_COLUMNS).where(_OWNED).order_by(_TABLE.c.created_at, _TABLE.c.id)


# --- errors -----------------------------------------------------------------------------------------


class FileEmpty(DomainError):
    code = "file_empty"
    status = 400
    title = "ไฟล์ว่างเปล่า / The file is empty"


class FileTooLarge(DomainError):
    code = "file_too_large"
    status = 413
    title = "ไฟล์มีขนาดเกินกำหนด / The file is larger than allowed"


class FileTypeNotAllowed(DomainError):
    code = "file_type_not_allowed"
    status = 415
    title = "ไม่รับไฟล์ประเภทนี้ / This type of file is not accepted"


class FileNotFound(NotFound):
    code = "file_not_found"
    title = "ไม่พบไฟล์ / No such file"


class FileContentMissing(DomainError):
    """The row is there but its bytes are not, or not as stored (restore the store from backup)."""

    code = "file_content_missing"
    status = 503
    title = "เนื้อหาของไฟล์ไม่พร้อมใช้งาน / The file's content is not available"


# --- what services pass and get ---------------------------------------------------------------------


class FileOwner(msgspec.Struct, frozen=True):
    """The record a file belongs to: ``FileOwner("oss.case", str(case.id))``."""

    kind: str
    ref: str

    def __post_init__(self) -> None:
        if not _OWNER_KIND_RE.fullmatch(self.kind):
            raise ValueError(f"an owner kind is '<service>.<record>': {self.kind!r}")
        if not _OWNER_REF_RE.fullmatch(self.ref):
            raise ValueError(f"an owner ref is 1-200 characters of [A-Za-z0-9_.:-]: {self.ref!r}")

    @property
    def params(self) -> dict[str, str]:
        return {"owner_kind": self.kind, "owner_ref": self.ref}


class UploadLimits(msgspec.Struct, frozen=True, kw_only=True):
    """What a service accepts: at most ``max_bytes`` per file, of the ``types`` (codes of
    :data:`~localgov.kernel.storage.types.KNOWN_TYPES`) detected by content."""

    max_bytes: int
    types: tuple[str, ...] = DOCUMENT_TYPES

    def __post_init__(self) -> None:
        if self.max_bytes < 1:
            raise ValueError("max_bytes must be at least 1")
        unknown = [code for code in self.types if code not in KNOWN_TYPES]
        if not self.types or unknown:
            raise ValueError(f"types must name known file types ({', '.join(KNOWN_TYPES)}): {unknown}")

    @property
    def allowed(self) -> tuple[FileType, ...]:
        return tuple(KNOWN_TYPES[code] for code in self.types)

    def request_body_limit(self, files: int = 1) -> int:
        """A route's ``request_max_body_size`` for ``files`` such files in one multipart request
        (each with 64 KiB for its part headers and the other form fields)."""
        return files * (self.max_bytes + 64 * 1024)

    def problem_data(self) -> dict[str, object]:
        return {"max_bytes": self.max_bytes, "allowed": [KNOWN_TYPES[code].media_type for code in self.types]}


class StoredFileRead(msgspec.Struct, frozen=True, kw_only=True):
    """A stored file as services show it."""

    id: uuid.UUID
    owner_kind: str
    owner_ref: str
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    uploaded_by: str
    created_at: dt.datetime


class OpenedFile(msgspec.Struct, frozen=True, kw_only=True):
    """A file's metadata and its bytes (iterate ``chunks`` to the end, or ``await chunks.aclose()``).

    The bytes are checked as they are read: when they end, their length and SHA-256 must be the
    recorded ones, else the stream fails with :class:`FileContentMissing` (a download is cut off
    rather than completed with altered content).
    """

    file: StoredFileRead
    chunks: BlobStream


# --- names ------------------------------------------------------------------------------------------


def clean_filename(name: str, file_type: FileType) -> str:
    """The name a stored file keeps: the last path segment of what the uploader sent, NFC, without
    control and format characters (bidi overrides, zero-width spaces), reserved punctuation
    replaced by ``_``, no leading or trailing dots and spaces, at most 200 UTF-8 bytes before an
    extension that fits the detected type (added when the name has none that fits). Thai is kept."""
    name = unicodedata.normalize("NFC", name)
    name = re.split(r"[/\\]", name)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = " ".join(_FORBIDDEN.sub("_", name).split()).strip(" .")
    stem, dot, extension = name.rpartition(".")
    if not dot or extension.lower() not in file_type.extensions:
        stem, extension = name, file_type.extensions[0]
    stem = stem.encode()[:MAX_STEM_BYTES].decode("utf-8", "ignore").strip(" .")
    # A cut may leave a combining mark (a Thai vowel or tone mark) without its letter: drop it.
    while stem and unicodedata.combining(stem[0]):
        stem = stem[1:]
    return f"{stem or 'file'}.{extension}"


def actor_ref(actor: Actor) -> str:
    return f"{actor.kind}:{actor.id}" if actor.id else actor.kind


# --- storing ----------------------------------------------------------------------------------------


async def _pieces(data: bytes | AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    if isinstance(data, bytes | bytearray | memoryview):
        yield bytes(data)
        return
    async for chunk in data:
        yield chunk


def _check_type(head: bytes, limits: UploadLimits) -> FileType:
    found = detect(head)
    if found is None or found.code not in limits.types:
        raise FileTypeNotAllowed(
            "The content of the file is not one of the accepted types (its name and declared type do not count).",
            data={**limits.problem_data(), "detected": found.media_type if found else None},
        )
    return found


async def stage_upload(data: bytes | AsyncIterable[bytes], limits: UploadLimits) -> tuple[StagedBlob, FileType]:
    """Read an upload into a :class:`StagedBlob`, refusing it as early as its bytes allow: past
    ``max_bytes`` (the rest is not read), or once its first bytes show a type not allowed.
    The caller closes the blob."""
    staged = StagedBlob()
    found: FileType | None = None
    try:
        async for chunk in _pieces(data):
            if staged.size + len(chunk) > limits.max_bytes:
                raise FileTooLarge(
                    f"At most {limits.max_bytes} bytes per file.", data={**limits.problem_data(), "received_more": True}
                )
            await staged.write(chunk)
            if found is None and len(staged.head) >= SNIFF_BYTES:
                found = _check_type(staged.head, limits)
        if staged.size == 0:
            raise FileEmpty(data=limits.problem_data())
        if found is None:
            found = _check_type(staged.head, limits)
        await staged.finish()
    except BaseException:
        staged.close()
        raise
    return staged, found


async def store_upload(
    session: AsyncSession,
    store: BlobStore,
    *,
    data: bytes | AsyncIterable[bytes],
    filename: str,
    owner: FileOwner,
    uploaded_by: Actor,
    limits: UploadLimits,
    now: dt.datetime | None = None,
) -> StoredFileRead:
    """Check and keep one uploaded file for ``owner`` in the session's tenant; returns its record.

    Raises :class:`FileEmpty` (400), :class:`FileTooLarge` (413), :class:`FileTypeNotAllowed`
    (415, judged by content only), :class:`~localgov.kernel.storage.blobs.StorageUnavailable` (503).
    The service audits its own action (the file's id and SHA-256 are in the result).
    """
    schema = session_tenant_schema(session)
    staged, file_type = await stage_upload(data, limits)
    try:
        key = blob_key(schema, staged.sha256)
        if not await store.exists(key):
            await store.put(key, staged, content_type=file_type.media_type)
        row = StoredFile(
            owner_kind=owner.kind,
            owner_ref=owner.ref,
            filename=clean_filename(filename, file_type),
            content_type=file_type.media_type,
            size_bytes=staged.size,
            sha256=staged.sha256,
            storage_key=key,
            uploaded_by=actor_ref(uploaded_by)[:120],
            created_at=now or dt.datetime.now(dt.UTC),
        )
    finally:
        staged.close()
    session.add(row)
    await session.flush()
    log.info("file_stored", file_id=str(row.id), owner_kind=owner.kind, bytes=row.size_bytes, type=file_type.code)
    return StoredFileRead(
        id=row.id,
        owner_kind=row.owner_kind,
        owner_ref=row.owner_ref,
        filename=row.filename,
        content_type=row.content_type,
        size_bytes=row.size_bytes,
        sha256=row.sha256,
        uploaded_by=row.uploaded_by,
        created_at=row.created_at,
    )


# --- reading ----------------------------------------------------------------------------------------


def _read(row: Row) -> StoredFileRead:
    return StoredFileRead(**{column.key: row[column.key] for column in FILE_COLUMNS})


async def list_files(
    reader: Reader,
    owner: FileOwner,
    *,
    after: tuple[dt.datetime, uuid.UUID] | None = None,
    limit: int | None = None,
) -> list[StoredFileRead]:
    """The owner's files in upload order (one statement); a page of them with ``limit`` and
    ``after`` (the (created_at, id) of the last file of the previous page)."""
    query = _FILES
    if after is not None:
        query = query.where(after_key([_TABLE.c.created_at, _TABLE.c.id], after))
    if limit is not None:
        query = query.limit(limit)
    return [_read(row) for row in await fetch_all(reader, query, owner.params)]


async def get_file(reader: Reader, file_id: uuid.UUID, *, owner: FileOwner) -> StoredFileRead:
    """One file's metadata when it is ``owner``'s in this tenant (else 404 ``file_not_found``)."""
    row = await fetch_one(reader, _FILE, {"id": file_id, **owner.params})
    if row is None:
        raise FileNotFound(data={"file_id": str(file_id)})
    return _read(row)


async def _verified(stream: BlobStream, file: StoredFileRead, key: str) -> AsyncIterator[bytes]:
    digest = hashlib.sha256()
    size = 0
    async for chunk in stream:
        digest.update(chunk)
        size += len(chunk)
        if size > file.size_bytes:
            break
        yield chunk
    if size != file.size_bytes or digest.hexdigest() != file.sha256:
        log.error("stored_file_altered", file_id=str(file.id), key=key, bytes=size, expected_bytes=file.size_bytes)
        raise FileContentMissing(data={"file_id": str(file.id), "reason": "altered"})


async def open_file(reader: Reader, store: BlobStore, file_id: uuid.UUID, *, owner: FileOwner) -> OpenedFile:
    """A file's metadata and bytes when it is ``owner``'s in this tenant (else 404 ``file_not_found``).

    Raises :class:`FileContentMissing` (503) when the store has lost the bytes.
    """
    row = await fetch_one(reader, _FILE, {"id": file_id, **owner.params})
    if row is None:
        raise FileNotFound(data={"file_id": str(file_id)})
    file = _read(row)
    key = str(row["storage_key"])
    try:
        stream = await store.open(key)
    except BlobMissing:
        log.error("stored_file_missing", file_id=str(file.id), key=key, store=store.kind)
        raise FileContentMissing(data={"file_id": str(file.id), "reason": "missing"}) from None
    if stream.size is not None and stream.size != file.size_bytes:
        await stream.aclose()
        log.error("stored_file_altered", file_id=str(file.id), key=key, bytes=stream.size)
        raise FileContentMissing(data={"file_id": str(file.id), "reason": "altered"})
    return OpenedFile(file=file, chunks=BlobStream(_verified(stream, file, key), stream.aclose, size=file.size_bytes))


# --- copying into another tenant ----------------------------------------------------------------------


class FileCopy(msgspec.Struct, frozen=True, kw_only=True):
    """What another tenant's consumer needs to copy a stored file: written by the *owning* tenant's
    transaction (an outbox payload), read by the receiving one (:func:`store_copy`), so the
    receiver never queries the owner's schema."""

    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    storage_key: str


_COPIES = select(
    _TABLE.c.filename, _TABLE.c.content_type, _TABLE.c.size_bytes, _TABLE.c.sha256, _TABLE.c.storage_key
).where(_OWNED)


async def copies_of(reader: Reader, owner: FileOwner) -> list[FileCopy]:
    """The owner's files in upload order, as :class:`FileCopy` (one statement, the owner's tenant)."""
    rows = await fetch_all(reader, _COPIES.order_by(_TABLE.c.created_at, _TABLE.c.id), owner.params)
    return [FileCopy(**dict(row)) for row in rows]


async def _checked(stream: BlobStream, source: FileCopy) -> AsyncIterator[bytes]:
    digest = hashlib.sha256()
    size = 0
    try:
        async for chunk in stream:
            digest.update(chunk)
            size += len(chunk)
            if size > source.size_bytes:
                break
            yield chunk
    finally:
        await stream.aclose()
    if size != source.size_bytes or digest.hexdigest() != source.sha256:
        log.error("stored_file_copy_altered", key=source.storage_key, bytes=size, expected_bytes=source.size_bytes)
        raise FileContentMissing(data={"sha256": source.sha256, "reason": "altered"})


async def store_copy(
    session: AsyncSession,
    store: BlobStore,
    source: FileCopy,
    *,
    source_schema: str,
    owner: FileOwner,
    uploaded_by: Actor,
    limits: UploadLimits,
    now: dt.datetime | None = None,
) -> StoredFileRead:
    """Copy a file of the tenant ``source_schema`` (as its own transaction described it) into the
    session's tenant for ``owner``: the same bytes under this tenant's key, the same name, SHA-256
    and type. The source key must be ``source_schema``'s key of ``source.sha256``; the bytes are
    checked (size, SHA-256) as they are read, and again by :func:`store_upload` (limits, type by
    content). Raises :class:`FileContentMissing` (the bytes are gone or altered),
    :class:`FileTooLarge`, :class:`FileTypeNotAllowed`, :class:`~.blobs.StorageUnavailable`."""
    if source.storage_key != blob_key(source_schema, source.sha256):
        raise ValueError(f"not {source_schema}'s key of its content: {source.storage_key!r}")
    if source.size_bytes > limits.max_bytes:
        raise FileTooLarge(f"At most {limits.max_bytes} bytes per file.", data=limits.problem_data())
    try:
        stream = await store.open(source.storage_key)
    except BlobMissing:
        log.error("stored_file_copy_missing", key=source.storage_key, store=store.kind)
        raise FileContentMissing(data={"sha256": source.sha256, "reason": "missing"}) from None
    copied = await store_upload(
        session,
        store,
        data=_checked(stream, source),
        filename=source.filename,
        owner=owner,
        uploaded_by=uploaded_by,
        limits=limits,
        now=now,
    )
    if copied.sha256 != source.sha256:  # _checked has refused anything else; kept as the invariant
        raise FileContentMissing(data={"sha256": source.sha256, "reason": "altered"})
    return copied


def allowed_media_types(limits: UploadLimits) -> Sequence[str]:
    """The media types ``limits`` accepts (for a form's ``accept`` attribute or documentation)."""
    return [file_type.media_type for file_type in limits.allowed]
