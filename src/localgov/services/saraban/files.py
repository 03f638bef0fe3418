"""A letter's files (the main document scanned or signed, สิ่งที่ส่งมาด้วย): kernel stored files owned
by ``FileOwner("saraban.letter", <letter id>)``, each with its SHA-256, behind the letter's own
secrecy check (an access to a secret letter's file is audited like a reading)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterable

from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.audit import Origin, record_audit
from localgov.kernel.storage import (
    BlobStore,
    FileOwner,
    OpenedFile,
    StoredFileRead,
    UploadLimits,
    list_files,
    open_file,
    store_upload,
)
from localgov.services.saraban import letters, search_index
from localgov.services.saraban.errors import WrongStatus
from localgov.services.saraban.letters import Viewer

#: PDF, images and office documents, 20 MiB each.
FILE_LIMITS = UploadLimits(max_bytes=20 * 1024 * 1024)
#: Files are added while a letter is drafted, or to a letter received (its scanned copy).
OPEN_STATUSES = ("draft", "in_review", "received")


def owner(letter_id: uuid.UUID) -> FileOwner:
    return FileOwner("saraban.letter", str(letter_id))


async def attach(
    session: AsyncSession,
    store: BlobStore,
    letter_id: uuid.UUID,
    *,
    data: bytes | AsyncIterable[bytes],
    filename: str,
    viewer: Viewer,
    origin: Origin,
) -> StoredFileRead:
    letter = await letters.locked(session, letter_id, viewer, origin, "attach")
    if letter.status not in OPEN_STATUSES:
        raise WrongStatus(data={"status": letter.status, "allowed": list(OPEN_STATUSES)})
    stored = await store_upload(
        session,
        store,
        data=data,
        filename=filename,
        owner=owner(letter_id),
        uploaded_by=viewer.audit,
        limits=FILE_LIMITS,
    )
    await letters.record_event(session, letter_id, "file_added", viewer, stored.filename)
    await search_index.add_attachment_text(session, store, letter_id)  # the text of its PDFs
    await record_audit(
        session,
        "saraban.file_added",
        actor=viewer.audit,
        origin=origin,
        target=f"saraban_letter:{letter_id}",
        data={"file_id": str(stored.id), "sha256": stored.sha256},
    )
    return stored


async def files_of(
    session: AsyncSession,
    letter_id: uuid.UUID,
    viewer: Viewer,
    origin: Origin,
    *,
    after: tuple[dt.datetime, uuid.UUID] | None = None,
    limit: int | None = None,
) -> list[StoredFileRead]:
    """The letter's files in upload order (a page of them with ``limit`` and ``after``)."""
    await letters.letter_view(session, letter_id, viewer, origin, what="files")
    return await list_files(session, owner(letter_id), after=after, limit=limit)


async def opened(
    session: AsyncSession, store: BlobStore, letter_id: uuid.UUID, file_id: uuid.UUID, viewer: Viewer, origin: Origin
) -> OpenedFile:
    await letters.letter_view(session, letter_id, viewer, origin, what=f"file:{file_id}")
    return await open_file(session, store, file_id, owner=owner(letter_id))
