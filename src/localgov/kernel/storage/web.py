"""Litestar edges of stored files: reading a multipart upload, answering a download.

**Uploads.** Litestar receives a multipart body before the handler runs: it refuses a body over
the route's ``request_max_body_size`` with 413 while reading it (Litestar's default for the app is
10,000,000 bytes, checked against ``Content-Length`` first and then against the bytes received;
our problem code ``payload_too_large``), and spools each file part to an ``UploadFile`` (1 MiB in
memory, the rest in a temporary file). A route that accepts larger files sets
``request_max_body_size=limits.request_body_limit(files=n)``. :func:`upload_chunks` then reads the
part in bounded pieces, and :func:`store_upload_file` stops reading as soon as the file is over
the service's limit or its first bytes show a type that is not allowed: the file is never held
in memory whole.

**Downloads.** :func:`download_response` streams an :class:`OpenedFile` with its detected type,
its exact length, ``Content-Disposition`` carrying the Thai name as RFC 5987 ``filename*``
(and an ASCII fallback), ``X-Content-Type-Options: nosniff``, ``Cache-Control: private,
no-store`` (files are personal documents) and ``Cross-Origin-Resource-Policy: same-origin``.
The request's transaction has ended before the bytes are sent (Litestar closes the handler's
dependencies first), so a slow download holds no database connection.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import AsyncIterator
from urllib.parse import quote

from litestar.datastructures import UploadFile
from litestar.response import Stream
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.audit import Actor
from localgov.kernel.storage.blobs import CHUNK_BYTES, BlobStore
from localgov.kernel.storage.files import FileOwner, OpenedFile, StoredFileRead, UploadLimits, store_upload

_ASCII_SAFE = re.compile(r"[^A-Za-z0-9._ -]")


async def upload_chunks(upload: UploadFile, *, chunk_size: int = CHUNK_BYTES) -> AsyncIterator[bytes]:
    """The bytes of a multipart file part, ``chunk_size`` at a time (Litestar closes the part
    after the response)."""
    await upload.seek(0)
    while chunk := await upload.read(chunk_size):
        yield chunk


async def store_upload_file(
    session: AsyncSession,
    store: BlobStore,
    upload: UploadFile,
    *,
    owner: FileOwner,
    uploaded_by: Actor,
    limits: UploadLimits,
    now: dt.datetime | None = None,
) -> StoredFileRead:
    """:func:`~localgov.kernel.storage.files.store_upload` for a Litestar ``UploadFile``: its
    name is kept (cleaned); its declared ``Content-Type`` is ignored, the content decides."""
    return await store_upload(
        session,
        store,
        data=upload_chunks(upload),
        filename=upload.filename or "",
        owner=owner,
        uploaded_by=uploaded_by,
        limits=limits,
        now=now,
    )


def ascii_filename(filename: str) -> str:
    """The fallback ``filename=`` for clients without RFC 5987: accents dropped, anything else
    outside ``A-Za-z0-9._ -`` replaced; ``file.<ext>`` when nothing readable is left."""
    stem, dot, extension = filename.rpartition(".")
    if not dot:
        stem, extension = filename, ""
    plain = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    plain = _ASCII_SAFE.sub("_", plain).strip(" ._")
    if not re.search(r"[A-Za-z0-9]", plain):
        plain = "file"
    extension = _ASCII_SAFE.sub("_", extension)
    return f"{plain}.{extension}" if extension else plain


def content_disposition(filename: str, *, inline: bool = False) -> str:
    """``attachment; filename="…"; filename*=UTF-8''…`` (RFC 6266 with RFC 5987 encoding)."""
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{ascii_filename(filename)}\"; filename*=UTF-8''{quote(filename, safe='')}"


def download_headers(file: StoredFileRead, *, inline: bool = False) -> dict[str, str]:
    return {
        "Content-Disposition": content_disposition(file.filename, inline=inline),
        "Content-Length": str(file.size_bytes),
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, no-store",
        "Cross-Origin-Resource-Policy": "same-origin",
    }


def download_response(opened: OpenedFile, *, inline: bool = False) -> Stream:
    """The file as a streamed response (``inline``: shown by the browser, else saved)."""
    return Stream(
        opened.chunks,
        media_type=opened.file.content_type,
        headers=download_headers(opened.file, inline=inline),
    )
