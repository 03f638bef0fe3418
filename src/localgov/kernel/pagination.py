"""List endpoints page one way: keyset cursors (``after`` = the id of the last item seen, ``limit``).

A page is asked for with ``?limit=100`` and the next one with ``?after=<id of the last item>``:
stable while rows are added (no item skipped or repeated, unlike an offset), and as fast on page
1,000 as on page 1 when the order has an index. The service orders by its columns and ends with
the id, and :func:`after_key` turns the cursor row's values into the "strictly after" condition.
An unknown cursor is a 404 of the resource listed.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Annotated, Any

from litestar.params import QueryParameter
from sqlalchemy import ColumnElement, tuple_

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
