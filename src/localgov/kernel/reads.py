"""The data-access pattern for reads on a request's hot path (docs/adding-a-service.md).

A read endpoint builds its statement once, at import, with SQLAlchemy Core on the tables (never
ORM entities), fetches everything the response needs in **one** statement (child rows folded in
with :func:`json_rows`), and runs it with :func:`fetch_one` / :func:`fetch_all`, either on the
request's read-only connection (a handler declares ``db_read: NamedDependency[ReadConnection]``)
or on a session's connection inside a unit of work that also writes.

On a :class:`ReadConnection` the statement is compiled once for asyncpg (:func:`compiled`) and
sent straight to the asyncpg connection, whose prepared-statement cache serves every tenant (the
search path selects the schema, the SQL text never changes): no ORM, no SQLAlchemy execution
context, no greenlet hand-off. Measured on getBill, the SQLAlchemy Core path cost about twice the
CPU of this one (bench/README.md, "Peers"). Writes keep the ORM.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import asyncpg
from sqlalchemy import (
    JSON,
    ColumnElement,
    Float,
    Numeric,
    String,
    cast,
    func,
    literal,
    literal_column,
    select,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.exc import MultipleResultsFound
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql import Select
from sqlalchemy.sql.elements import KeyedColumnElement

Row = Mapping[str, Any]
_Processor = Callable[[Any], Any]


class ReadConnection:
    """A read-only transaction in one tenant's schema on a pooled asyncpg connection.

    Made by :func:`localgov.kernel.db.tenant_reader` (the ``db_read`` dependency): ``BEGIN READ
    ONLY`` and the search path in one round trip, ``ROLLBACK`` at the end. Only
    :func:`fetch_one` and :func:`fetch_all` use it.

    ``plan_tag`` (the tenant's schema, when ``db_plans_per_tenant`` is on) is appended to the SQL
    text as a comment, so asyncpg prepares and keeps one statement per tenant on the connection and
    PostgreSQL never re-plans it for another tenant's search path. The tag is a validated schema
    name; the statement's meaning does not change (PostgreSQL still resolves names by the path).
    """

    __slots__ = ("_driver", "_tag")

    def __init__(self, driver: asyncpg.Connection, *, plan_tag: str | None = None) -> None:
        self._driver = driver
        self._tag = f" /* {plan_tag} */" if plan_tag is not None else ""

    async def fetch(self, statement: Select[Any], params: Mapping[str, Any] | None) -> list[Row]:
        query = compiled(statement)
        records = await self._driver.fetch(query.sql + self._tag, *query.arguments(params or {}))
        return [query.row(record) for record in records]


#: Where a read runs: the request's read-only connection (``db_read``, the fast path of a GET), a
#: session (inside a unit of work that also writes) or a connection of the engine.
Reader = ReadConnection | AsyncSession | AsyncConnection

_DIALECT = PGDialect_asyncpg()  # type: ignore[no-untyped-call]
#: PostgreSQL type OIDs given to the numeric result processors (asyncpg returns Decimal or float).
_NUMERIC_OID, _FLOAT8_OID = 1700, 701


class CompiledRead(NamedTuple):
    """A Core select compiled once for asyncpg: its SQL, its parameters in order, its columns."""

    sql: str
    names: tuple[str, ...]
    defaults: Mapping[str, Any]
    binds: tuple[_Processor | None, ...]
    keys: tuple[str, ...]
    results: tuple[_Processor | None, ...]

    def arguments(self, params: Mapping[str, Any]) -> list[Any]:
        out: list[Any] = []
        for name, process in zip(self.names, self.binds, strict=True):
            value = params[name] if name in params else self.defaults[name]
            out.append(process(value) if process is not None and value is not None else value)
        return out

    def row(self, record: asyncpg.Record) -> Row:
        return {
            key: (process(value) if process is not None and value is not None else value)
            for key, process, value in zip(self.keys, self.results, record.values(), strict=True)
        }


_COMPILED: dict[Select[Any], CompiledRead] = {}
#: Statements are module-level constants; a bound keeps a mistake (one built per call) from growing.
_COMPILED_LIMIT = 1024


def compiled(statement: Select[Any]) -> CompiledRead:
    """``statement`` compiled for the read fast path (once per statement object)."""
    hit = _COMPILED.get(statement)
    if hit is not None:
        return hit
    if not isinstance(statement, Select):
        raise TypeError("the read fast path runs SELECT statements only")
    result = statement.compile(dialect=_DIALECT)
    names = tuple(result.positiontup or ())
    defaults: dict[str, Any] = {}
    for name in names:
        bind = result.binds[name]
        if bind.expanding or bind.literal_execute or bind.callable is not None:
            raise TypeError(
                f"parameter {name!r}: IN lists, literal_execute and callables are not supported on the read fast path"
            )
        if not bind.required:
            defaults[name] = bind.value
    binds = tuple(result.binds[name].type.dialect_impl(_DIALECT).bind_processor(_DIALECT) for name in names)
    keys = tuple(statement.selected_columns.keys())
    if len(set(keys)) != len(keys):
        raise TypeError(f"duplicate column keys in a fast-path read: {keys}")
    results: list[_Processor | None] = []
    for column in statement.selected_columns:
        impl = column.type.dialect_impl(_DIALECT)
        oid = None
        if isinstance(column.type, Float):  # not a Numeric in SQLAlchemy 2.1
            oid = _FLOAT8_OID
        elif isinstance(column.type, Numeric):
            oid = _NUMERIC_OID
        results.append(impl.result_processor(_DIALECT, oid))
    query = CompiledRead(str(result), names, defaults, binds, keys, tuple(results))
    if len(_COMPILED) >= _COMPILED_LIMIT:
        _COMPILED.pop(next(iter(_COMPILED)))
    _COMPILED[statement] = query
    return query


async def fetch_all(reader: Reader, statement: Select[Any], params: Mapping[str, Any] | None = None) -> Sequence[Row]:
    """Every row of the statement as mappings (column key -> value)."""
    if isinstance(reader, ReadConnection):
        return await reader.fetch(statement, params)
    connection = await reader.connection() if isinstance(reader, AsyncSession) else reader
    rows: Sequence[Row] = (await connection.execute(statement, params)).mappings().all()
    return rows


async def fetch_one(reader: Reader, statement: Select[Any], params: Mapping[str, Any] | None = None) -> Row | None:
    """The statement's only row as a mapping (None without one; more than one is an error)."""
    rows = await fetch_all(reader, statement, params)
    if len(rows) > 1:
        raise MultipleResultsFound("fetch_one: the statement returned more than one row")
    return rows[0] if rows else None


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
