"""Every list pages one way: an opaque ``cursor`` and a ``limit``; the answer carries ``next_cursor``.

A client asks ``GET /v1/things?limit=50``, then passes the page's ``next_cursor`` as ``?cursor=``
until it is ``null``. The cursor is opaque to clients (base64url of the last item's ordering
values, e.g. ``[created_at, id]``): stable while rows are added (no item skipped or repeated,
unlike an offset) and as fast on page 1,000 as on page 1 when the order has an index.

In a service::

    rows = await fetch_all(db_read, LIST, {**params, "limit": limit + 1, **cursor_params})
    items, next_cursor = cut_page(rows, limit, key=lambda r: (r["created_at"], r["id"]))
    return ThingPage(items=[...], next_cursor=next_cursor)

with ``after = decode_cursor(cursor, tuple[dt.datetime, uuid.UUID])`` (``None`` on the first page)
turned into the "strictly after" condition by :func:`after_key`. A cursor the list never gave is
a 404 ``invalid_cursor`` (no such page). The response envelope is a struct of the service's own (never generic, so the
OpenAPI names stay plain): ``items: list[ThingRead]`` and ``next_cursor: str | None``
(:data:`NEXT_CURSOR_DOC`).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from typing import Annotated, Any, TypeVar

import msgspec
from litestar.params import QueryParameter
from sqlalchemy import ColumnElement, tuple_

from localgov.kernel.errors import DomainError

#: The largest page any list answers.
MAX_LIMIT = 500
#: The longest cursor accepted (a few ordering values, base64url).
MAX_CURSOR = 400

#: ``?limit=``: page size, 1 to 500 (each endpoint chooses its default).
Limit = Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT, description="Page size (1-500)")]
#: ``?cursor=``: the previous page's ``next_cursor``; left out for the first page.
Cursor = Annotated[
    str | None,
    QueryParameter(
        min_length=1,
        max_length=MAX_CURSOR,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="Opaque cursor: the `next_cursor` of the previous page (leave out for the first page)",
    ),
]
#: What a page's ``next_cursor`` means (for the docstring of a page struct).
NEXT_CURSOR_DOC = "Pass as `cursor` for the next page; null on the last page."
#: Deprecated (being replaced by :data:`Cursor`): ``?after=`` the id of the last item of the previous page.
After = Annotated[uuid.UUID | None, QueryParameter(description="Cursor: the id of the last item of the previous page")]

T = TypeVar("T")
K = TypeVar("K")


class InvalidCursor(DomainError):
    """A cursor this list never gave: there is no such page (404, as an unknown id is)."""

    code = "invalid_cursor"
    status = 404
    title = "No page at this cursor"


def encode_cursor(values: Sequence[Any]) -> str:
    """An opaque cursor for the ordering values of the last item of a page (UUIDs, datetimes,
    dates, decimals, ints, strings: anything msgspec encodes)."""
    raw = msgspec.json.encode(list(values))
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str | None, type_: type[K]) -> K | None:
    """The values :func:`encode_cursor` packed, typed as ``type_`` (e.g. ``tuple[dt.datetime, uuid.UUID]``);
    ``None`` for no cursor; 400 ``invalid_cursor`` for anything else."""
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return msgspec.json.decode(raw, type=type_)
    except (binascii.Error, ValueError, msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise InvalidCursor(
            "Pass the `next_cursor` of the previous page unchanged.", data={"cursor": cursor[:100]}
        ) from exc


def cut_page(rows: Sequence[T], limit: int, key: Callable[[T], Sequence[Any]]) -> tuple[list[T], str | None]:
    """``rows`` fetched with ``limit + 1``: the page's items and the cursor of the next page (or None)."""
    items = list(rows[:limit])
    if len(rows) <= limit or not items:
        return items, None
    return items, encode_cursor(key(items[-1]))


def after_key(columns: Sequence[Any], values: Sequence[Any]) -> ColumnElement[bool]:
    """``(c1, c2, …) > (v1, v2, …)``: rows strictly after the cursor in the order of ``columns``.

    A row-value comparison: PostgreSQL uses a matching composite index for it. ``values`` are the
    cursor row's values of the same columns (all ascending; the last one unique, usually the id).
    """
    if not columns or len(columns) != len(values):
        raise ValueError("one value per ordering column")
    return tuple_(*columns) > tuple_(*values)


#: ``?updated_since=``: only items changed at or after this instant (RFC 3339 with an offset). A
#: client that syncs keeps the largest ``updated_at`` it has seen and asks again from a little
#: before it (a transaction that commits late carries the time it started).
UpdatedSince = Annotated[
    dt.datetime | None,
    QueryParameter(
        description="Only items changed at or after this instant (RFC 3339 with a UTC offset: 2026-12-07T06:00:00Z)"
    ),
]


class InvalidUpdatedSince(DomainError):
    code = "invalid_updated_since"
    status = 400
    title = "updated_since ต้องระบุเขตเวลา (updated_since needs a UTC offset)"


def aware(moment: dt.datetime | None) -> dt.datetime | None:
    """``moment`` unless it is a naive date-time (which instant it means is unknown): 400."""
    if moment is not None and moment.tzinfo is None:
        raise InvalidUpdatedSince("Give updated_since with a UTC offset: 2026-12-07T06:00:00Z.")
    return moment


def before_key(columns: Sequence[Any], values: Sequence[Any]) -> ColumnElement[bool]:
    """``(c1, c2, …) < (v1, v2, …)``: for lists ordered newest first (all columns descending)."""
    if not columns or len(columns) != len(values):
        raise ValueError("one value per ordering column")
    return tuple_(*columns) < tuple_(*values)


def id_cursor(cursor: str | None) -> uuid.UUID | None:
    """The id a cursor of :func:`next_id_cursor` holds (lists whose service pages "after this id")."""
    decoded = decode_cursor(cursor, tuple[uuid.UUID])
    return decoded[0] if decoded is not None else None


def next_id_cursor(items: Sequence[Any], limit: int, id_of: Callable[[Any], uuid.UUID] | None = None) -> str | None:
    """The cursor after a full page whose service pages by the last item's id (None when short)."""
    if len(items) < limit or not items:
        return None
    last = items[-1]
    return encode_cursor([id_of(last) if id_of is not None else last.id])
