"""List endpoints page one way: keyset cursors (``after`` = the id of the last item seen, ``limit``).

A page is asked for with ``?limit=100`` and the next one with ``?after=<id of the last item>``:
stable while rows are added (no item skipped or repeated, unlike an offset), and as fast on page
1,000 as on page 1 when the order has an index. The service orders by its columns and ends with
the id, and :func:`after_key` turns the cursor row's values into the "strictly after" condition.
An unknown cursor is a 404 of the resource listed.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Annotated, Any

from litestar.params import QueryParameter
from sqlalchemy import ColumnElement, tuple_

from localgov.kernel.errors import DomainError

#: The largest page any list answers.
MAX_LIMIT = 500

#: ``?limit=``: page size, 1 to 500 (each endpoint chooses its default).
Limit = Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT, description="Page size")]
#: ``?after=``: the cursor, the id of the last item of the previous page.
After = Annotated[uuid.UUID | None, QueryParameter(description="Cursor: the id of the last item of the previous page")]


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
