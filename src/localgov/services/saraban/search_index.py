"""Thai search over the LAO's letters: subject, body and the text of their attachments.

Each letter has one row in ``saraban_letter_search``: its ``tsvector`` (kernel.search: Thai words
by PyThaiNLP, compounds also as their parts; weight A the subject, B the body, C attachments)
behind a GIN index. The row is written in the transaction that changes the letter
(:func:`refresh`, called from :func:`letters.record_event` for the events that change the text,
and :func:`add_attachment_text` after a file is added), so a search never misses a committed
letter.

:func:`search_letters` ranks the newest :data:`CANDIDATES` matches only (ranking every match made a
common word cost as much as it has matches), taken from this table alone in date order or through
the GIN index, as a sample of the newest rows shows cheaper; each of its statements holds the
vector match, the **caller's access filter** (on the search rows' copied ``restricted`` flag, then
``letters.visible_clause`` on the letters: a secret letter only for the members named on it) and
the ranking together, so a secret letter is never returned to others, not even counted. Every
secret letter that is returned is audited (``saraban.secret_access``, ``what: search``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import math
import uuid
from collections.abc import Callable
from typing import Any

import msgspec
import structlog
from sqlalchemy import (
    Boolean,
    ColumnElement,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Select,
    Text,
    bindparam,
    func,
    literal,
    select,
    text,
    true,
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
#: A search ranks at most this many matching letters, the newest the caller may see: ranking every
#: match made a common word cost as much as it has matches (bench/README.md, "e-Saraban search").
CANDIDATES = 500
#: The newest rows every search reads first (in date order), and the share of them matching from
#: which a word is common enough to be looked for that way only (search_letters).
SAMPLE = 2_500
DENSE = 0.06


class LetterSearch(TenantBase):
    """The search vector of one letter (subject A, body B, attachments' text C)."""

    __tablename__ = "saraban_letter_search"
    __table_args__ = (
        Index("ix_saraban_letter_search_vector", "vector", postgresql_using="gin"),
        Index("ix_saraban_letter_search_recent", text("created_at DESC"), text("letter_id DESC")),
    )

    letter_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("saraban_letters.id", ondelete="CASCADE"), primary_key=True
    )
    vector: Mapped[str] = mapped_column(TSVECTOR)
    #: The text taken from the attachments (kept so a revision does not re-read the files).
    attachments_text: Mapped[str] = mapped_column(Text, server_default="")
    #: The letter's ``created_at`` (copied: candidates are taken newest first from this table alone).
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    #: The letter is secret (its ``secrecy`` is not ``normal``) when the row was written; the
    #: letter's own secrecy is checked again in the same statement (:func:`_statement`).
    restricted: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
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
    "INSERT INTO saraban_letter_search (letter_id, vector, attachments_text, created_at, restricted, indexed_at)"
    " VALUES (:letter_id, CAST(:search_vector AS tsvector), :attachments_text, :created_at, :restricted, now())"
    " ON CONFLICT (letter_id) DO UPDATE SET vector = EXCLUDED.vector,"
    " attachments_text = EXCLUDED.attachments_text, created_at = EXCLUDED.created_at,"
    " restricted = EXCLUDED.restricted, indexed_at = now()"
)
_LETTER_TEXT = select(L.subject, L.body, L.number_text, L.created_at, L.secrecy).where(L.id == bindparam("letter_id"))
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
        _UPSERT,
        {
            "letter_id": letter_id,
            "search_vector": vector,
            "attachments_text": attachments_text,
            "created_at": row["created_at"],
            "restricted": row["secrecy"] != "normal",
        },
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


#: Makes the access filter on rows of the search table (the table itself, or the newest rows).
CandidateFilter = Callable[[Any], ColumnElement[bool]]


def _statement(
    visible: ColumnElement[bool], candidate: CandidateFilter, *, mode: str, paged: bool
) -> Select[tuple[object, ...]]:
    """One statement: up to :data:`CANDIDATES` matching rows that ``candidate`` lets through, the
    newest first, taken from the search table alone —

    * ``recent``: among the newest ``budget`` rows, read in ``created_at`` order (the B-tree; no
      GIN scan), stopping at the last candidate needed;
    * ``window``: among the rows created at ``since`` or later (the planner's choice of indexes);
    * ``all``: among every row (the GIN index);

    how many there were (``found``) and how many rows the ``recent`` mode had to look at
    (``scanned``), on every row (one row of nulls but those when no hit is left), and the best
    ``limit`` of them that ``visible`` lets through on the letters themselves, ranked."""
    query = search.query_param()
    before = S.created_at < bindparam("before", type_=DateTime(timezone=True))
    if mode == "recent":
        newest = (
            select(S.letter_id, S.vector, S.restricted, S.created_at)
            .where(before)
            .order_by(S.created_at.desc(), S.letter_id.desc())
            .limit(bindparam("budget"))
            .subquery("newest")
        )
        chosen = select(newest.c.letter_id, newest.c.vector, newest.c.created_at).where(
            search.matches(newest.c.vector, query), candidate(newest)
        )
        order: tuple[Any, ...] = (newest.c.created_at.desc(), newest.c.letter_id.desc())
        budget = (
            select(S.letter_id)
            .where(before)
            .order_by(S.created_at.desc(), S.letter_id.desc())
            .limit(bindparam("budget"))
        )
        scanned: ColumnElement[int] = select(func.count()).select_from(budget.subquery("budget")).scalar_subquery()
    else:
        chosen = select(S.letter_id, S.vector, S.created_at).where(
            search.matches(S.vector, query), candidate(LetterSearch.__table__), before
        )
        if mode == "window":
            chosen = chosen.where(S.created_at >= bindparam("since", type_=DateTime(timezone=True)))
        order = (S.created_at.desc(), S.letter_id.desc())
        scanned = literal(0)  # only the recent mode's reading is counted
    candidates = chosen.order_by(*order).limit(CANDIDATES).cte("candidates")
    found = select(func.count().label("found"), scanned.label("scanned")).select_from(candidates).subquery("found")
    rank = search.rank(candidates.c.vector, query)
    ranked = (
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
            rank.label("rank"),
        )
        .select_from(candidates.join(Letter.__table__, L.id == candidates.c.letter_id))
        .where(visible)
        .order_by(rank.desc(), L.created_at.desc(), L.id.desc())
        .limit(bindparam("limit"))
    )
    if paged:  # strictly after the previous page's last hit (every ordering column descending)
        ranked = ranked.where(
            tuple_(rank, L.created_at, L.id)
            < tuple_(
                bindparam("after_rank", type_=Float),
                bindparam("after_at", type_=DateTime(timezone=True)),
                bindparam("after_id", type_=UUID(as_uuid=True)),
            )
        )
    hits = ranked.subquery("hits")
    return (
        select(found.c.found, found.c.scanned, *hits.c)
        .select_from(found.outerjoin(hits, true()))
        .order_by(hits.c.rank.desc(), hits.c.created_at.desc(), hits.c.id.desc())
    )


_SINCE = (
    select(S.created_at)
    .where(S.created_at < bindparam("before", type_=DateTime(timezone=True)))
    .order_by(S.created_at.desc(), S.letter_id.desc())
    .offset(bindparam("offset"))
    .limit(1)
)
#: ``before`` when the caller sets none: later than any letter.
_NO_BOUND = dt.datetime(9999, 12, 31, tzinfo=dt.UTC)
#: Plan each search for its own words and window (a cached generic plan knows neither).
_CUSTOM_PLANS = select(func.set_config("plan_cache_mode", "force_custom_plan", True))


async def search_letters(
    reader: Reader,
    q: str,
    visible: ColumnElement[bool],
    candidate: CandidateFilter,
    *,
    limit: int,
    after: tuple[float, dt.datetime, uuid.UUID] | None = None,
    before: dt.datetime | None = None,
) -> tuple[list[str], list[SearchHit]]:
    """Letters matching every word of ``q`` that the caller may see, best first among the newest
    :data:`CANDIDATES` matches: ``candidate`` makes the access filter on the search rows
    (``letters.visible_search_rows``), ``visible`` is the same filter on the letters
    (``letters.visible_clause``), both in each statement. ``after`` = the last hit's
    (rank, created_at, id) of the previous page. ``before``: only letters created before it (the
    newest matches before a date: how older matches of a common word are reached).

    Where the newest matches are looked for depends on how common the words are, as seen in the
    newest :data:`SAMPLE` rows (the first pass, read in date order, no GIN scan):

    * they hold :data:`CANDIDATES` matches (a common word): done;
    * at least :data:`DENSE` of them match: the newest ``1.5 × CANDIDATES / share`` rows, the same
      way (a GIN scan would read every match of a common word);
    * fewer, but some: the newest ``2 × CANDIDATES / share`` rows by whichever index the planner
      prefers, then, if they hold too few, every row;
    * none (a rare word, or none at all): every row, by the GIN index.

    So no pass ranks or reads more than about ``1.5 × CANDIDATES / DENSE`` rows in date order, and
    only a word too rare to be in the sample makes the GIN index return every match."""
    parsed = search.parse_query(q)
    if parsed is None:
        return [], []
    params: dict[str, object] = {"search_query": parsed.tsquery, "limit": limit, "before": before or _NO_BOUND}
    if after is not None:
        params |= {"after_rank": after[0], "after_at": after[1], "after_id": after[2]}
    paged = after is not None
    await fetch_all(reader, _CUSTOM_PLANS)
    rows = await fetch_all(
        reader, _statement(visible, candidate, mode="recent", paged=paged), params | {"budget": SAMPLE}
    )
    found, scanned = int(rows[0]["found"]), int(rows[0]["scanned"])
    if found < CANDIDATES and scanned >= SAMPLE:  # not enough in the sample, and there is more
        share = found / SAMPLE
        if share >= DENSE:
            budget = math.ceil(1.5 * CANDIDATES / share)
            statement = _statement(visible, candidate, mode="recent", paged=paged)
            rows = await fetch_all(reader, statement, params | {"budget": budget})
        else:
            rows = []
            if share > 0:
                offset = math.ceil(2 * CANDIDATES / share) - 1
                since = await fetch_one(reader, _SINCE, {"offset": offset, "before": params["before"]})
                if since is not None:
                    statement = _statement(visible, candidate, mode="window", paged=paged)
                    rows = await fetch_all(reader, statement, params | {"since": since["created_at"]})
            if not rows or int(rows[0]["found"]) < CANDIDATES:
                rows = await fetch_all(reader, _statement(visible, candidate, mode="all", paged=paged), params)
    keys = [k for k in SearchHit.__struct_fields__]
    hits = [SearchHit(**{k: row[k] for k in keys}) for row in rows if row["id"] is not None]
    return list(parsed.words), hits
