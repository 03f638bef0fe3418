"""Thai search over the LAO's letters: subject, body and the text of their attachments.

Each letter has one row in ``saraban_letter_search``: its ``tsvector`` (kernel.search: Thai words
by PyThaiNLP, compounds also as their parts; weight A the subject, B the body, C attachments)
behind a GIN index. The row is written in the transaction that changes the letter
(:func:`refresh`, called from :func:`letters.record_event` for the events that change the text,
and :func:`add_attachment_text` after a file is added), so a search never misses a committed
letter.

:func:`search` is one statement: the vector match, the **caller's access filter**
(``letters.visible_clause``: a secret letter only for the members named on it) and the ranking
together, so a secret letter is never returned to others, not even counted. Every secret letter
that is returned is audited (``saraban.secret_access``, ``what: search``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import uuid

import msgspec
import structlog
from sqlalchemy import (
    ColumnElement,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Select,
    Text,
    bindparam,
    func,
    select,
    text,
    tuple_,
)
from sqlalchemy.dialects.postgresql import TSVECTOR, UUID
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from localgov.kernel import search
from localgov.kernel.db import TenantBase
from localgov.kernel.reads import Reader, fetch_all, fetch_one
from localgov.kernel.storage import BlobStore, FileOwner
from localgov.kernel.storage.files import StoredFile
from localgov.services.saraban.models import Direction, Letter, LetterKind, LetterStatus, Secrecy, Urgency

log = structlog.get_logger(__name__)

#: The owner kind of a letter's attachments in kernel.storage (``api.ATTACHMENT_OWNER``).
ATTACHMENT_OWNER = "saraban.letter"
#: Text taken from one attachment for the index (characters).
MAX_ATTACHMENT_TEXT = 200_000
#: The letter events after which the letter's text is indexed again.
INDEXED_EVENTS = frozenset({"created", "revised", "received", "issued"})


class LetterSearch(TenantBase):
    """The search vector of one letter (subject A, body B, attachments' text C)."""

    __tablename__ = "saraban_letter_search"
    __table_args__ = (Index("ix_saraban_letter_search_vector", "vector", postgresql_using="gin"),)

    letter_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("saraban_letters.id", ondelete="CASCADE"), primary_key=True
    )
    vector: Mapped[str] = mapped_column(TSVECTOR)
    #: The text taken from the attachments (kept so a revision does not re-read the files).
    attachments_text: Mapped[str] = mapped_column(Text, server_default="")
    indexed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


S = LetterSearch.__table__.c
L = Letter.__table__.c


class SearchHit(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    direction: Direction
    kind: LetterKind
    status: LetterStatus
    urgency: Urgency
    secrecy: Secrecy
    number_text: str | None
    letter_date: dt.date | None
    subject: str
    created_at: dt.datetime
    rank: float


class SearchResult(msgspec.Struct, kw_only=True):
    q: str
    #: The words the query was cut into (PyThaiNLP): what was searched for.
    words: list[str]
    items: list[SearchHit]
    #: Pass as ``cursor`` for the next page; null on the last page.
    next_cursor: str | None = None


_UPSERT = text(
    "INSERT INTO saraban_letter_search (letter_id, vector, attachments_text, indexed_at)"
    " VALUES (:letter_id, CAST(:search_vector AS tsvector), :attachments_text, now())"
    " ON CONFLICT (letter_id) DO UPDATE SET vector = EXCLUDED.vector,"
    " attachments_text = EXCLUDED.attachments_text, indexed_at = now()"
)
_LETTER_TEXT = select(L.subject, L.body, L.number_text).where(L.id == bindparam("letter_id"))
_KEPT_TEXT = select(S.attachments_text).where(S.letter_id == bindparam("letter_id"))


def attachment_text(content_type: str, data: bytes) -> str:
    """The text of an attachment: a PDF's text layer (pypdf), else nothing (images are not read)."""
    if content_type != "application/pdf":
        return ""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        parts: list[str] = []
        size = 0
        for page in reader.pages:
            piece = page.extract_text() or ""
            parts.append(piece)
            size += len(piece)
            if size >= MAX_ATTACHMENT_TEXT:
                break
        return "\n".join(parts)[:MAX_ATTACHMENT_TEXT]
    except (PdfReadError, ValueError, KeyError, TypeError) as exc:
        log.info("attachment_text_unreadable", error=str(exc)[:200])
        return ""


async def refresh(session: AsyncSession, letter_id: uuid.UUID, *, attachments_text: str | None = None) -> None:
    """Write the letter's vector from its subject, number, body and attachments' text (the text
    already extracted, unless ``attachments_text`` replaces it)."""
    row = await fetch_one(session, _LETTER_TEXT, {"letter_id": letter_id})
    if row is None:
        return
    if attachments_text is None:
        kept = await fetch_one(session, _KEPT_TEXT, {"letter_id": letter_id})
        attachments_text = str(kept["attachments_text"]) if kept is not None else ""
    title = " ".join(part for part in (row["number_text"], row["subject"]) if part)
    body = str(row["body"] or "")
    if len(body) + len(attachments_text) > 20_000:
        vector = await asyncio.to_thread(
            search.document_vector, title=title, body=body, attachments=(attachments_text,)
        )
    else:
        vector = search.document_vector(title=title, body=body, attachments=(attachments_text,))
    await session.execute(
        _UPSERT, {"letter_id": letter_id, "search_vector": vector, "attachments_text": attachments_text}
    )


async def add_attachment_text(session: AsyncSession, store: BlobStore, letter_id: uuid.UUID) -> None:
    """Re-read the text of every attachment of the letter and index it again."""
    owner = FileOwner(ATTACHMENT_OWNER, str(letter_id))
    files = (
        await session.execute(
            select(StoredFile.id, StoredFile.content_type, StoredFile.storage_key)
            .where(StoredFile.owner_kind == owner.kind, StoredFile.owner_ref == owner.ref)
            .order_by(StoredFile.created_at)
        )
    ).all()
    texts: list[str] = []
    for _file_id, content_type, key in files:
        if content_type != "application/pdf":
            continue
        stream = await store.open(key)
        try:
            data = b"".join([chunk async for chunk in stream])
        finally:
            await stream.aclose()
        texts.append(await asyncio.to_thread(attachment_text, content_type, data))
    await refresh(session, letter_id, attachments_text="\n".join(texts))


def _statement(visible: ColumnElement[bool], *, paged: bool = False) -> Select[tuple[object, ...]]:
    vector = S.vector
    query = search.query_param()
    statement = (
        select(
            L.id,
            L.direction,
            L.kind,
            L.status,
            L.urgency,
            L.secrecy,
            L.number_text,
            L.letter_date,
            L.subject,
            L.created_at,
            search.rank(vector, query).label("rank"),
        )
        .select_from(LetterSearch.__table__.join(Letter.__table__, L.id == S.letter_id))
        .where(search.matches(vector, query), visible)
        .order_by(text("rank DESC"), L.created_at.desc(), L.id.desc())
        .limit(bindparam("limit"))
    )
    if paged:  # strictly after the previous page's last hit (every ordering column descending)
        statement = statement.where(
            tuple_(search.rank(vector, query), L.created_at, L.id)
            < tuple_(
                bindparam("after_rank", type_=Float),
                bindparam("after_at", type_=DateTime(timezone=True)),
                bindparam("after_id", type_=UUID(as_uuid=True)),
            )
        )
    return statement


async def search_letters(
    reader: Reader,
    q: str,
    visible: ColumnElement[bool],
    *,
    limit: int,
    after: tuple[float, dt.datetime, uuid.UUID] | None = None,
) -> tuple[list[str], list[SearchHit]]:
    """Letters matching every word of ``q`` that ``visible`` (the caller's access filter, SQL)
    lets through, best first; ``after`` = the last hit's (rank, created_at, id) of the previous page."""
    parsed = search.parse_query(q)
    if parsed is None:
        return [], []
    params: dict[str, object] = {"search_query": parsed.tsquery, "limit": limit}
    if after is not None:
        params |= {"after_rank": after[0], "after_at": after[1], "after_id": after[2]}
    rows = await fetch_all(reader, _statement(visible, paged=after is not None), params)
    return list(parsed.words), [SearchHit(**dict(row)) for row in rows]
