"""The data-access pattern for reads on a request's hot path (docs/adding-a-service.md).

A read endpoint builds its statement once, at import, with SQLAlchemy Core on the tables (never
ORM entities), fetches everything the response needs in **one** statement (child rows folded in
with :func:`json_rows`), and runs it with :func:`fetch_one` / :func:`fetch_all` on the request's
read-only connection (a handler declares ``db_read: NamedDependency[AsyncConnection]``; no ORM
session at all) or on a session's connection: no ORM compile state, no identity map,
SQLAlchemy's compiled cache and asyncpg's prepared statement both hit on every request (the
search path selects the tenant, the SQL text never changes). Writes keep the ORM.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import (
    JSON,
    ColumnElement,
    Numeric,
    RowMapping,
    String,
    cast,
    func,
    literal,
    literal_column,
    select,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql import Executable
from sqlalchemy.sql.elements import KeyedColumnElement

#: Where a read runs: the request's read-only connection (``db_read``, the fast path of a GET) or
#: a session's connection (inside a unit of work that also writes).
Reader = AsyncSession | AsyncConnection


async def _connection(reader: Reader) -> AsyncConnection:
    return await reader.connection() if isinstance(reader, AsyncSession) else reader


async def fetch_one(
    reader: Reader, statement: Executable, params: Mapping[str, Any] | None = None
) -> RowMapping | None:
    """The statement's only row as a mapping (None without one)."""
    connection = await _connection(reader)
    return (await connection.execute(statement, params)).mappings().one_or_none()


async def fetch_all(
    reader: Reader, statement: Executable, params: Mapping[str, Any] | None = None
) -> Sequence[RowMapping]:
    """Every row of the statement as mappings."""
    connection = await _connection(reader)
    return (await connection.execute(statement, params)).mappings().all()


def json_rows(
    columns: Sequence[KeyedColumnElement[Any]], *, where: ColumnElement[bool], order_by: Sequence[Any] = ()
) -> ColumnElement[Any]:
    """A correlated sub-select folding child rows into one JSON array (``[]`` when there is none).

    Numerics travel as text (JSON numbers would come back as floats): read them back with ``Decimal``.
    """
    pairs: list[Any] = []
    for column in columns:
        pairs.append(literal(column.key))
        pairs.append(cast(column, String) if isinstance(column.type, Numeric) else column)
    row = func.json_build_object(*pairs)
    aggregate = func.json_agg(aggregate_order_by(row, *order_by) if order_by else row)
    folded = select(func.coalesce(aggregate, literal_column("'[]'::json"))).where(where).scalar_subquery()
    return type_coerce(folded, JSON)
