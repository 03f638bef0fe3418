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

A hot read touches as few relations as it can: what PostgreSQL redoes when a connection changes
tenant (the statement's analysis and plan, and on a backend that never met the tenant its relations'
cache entries) grows with every table and index in the statement. So child rows that never change
after their parent is written are copied into the parent as JSON when it is written (a bill's lines,
``bills.lines``), and a tenant's small settings row comes from this process's copy
(:class:`CachedRow`, :func:`fetch_cached`), dropped in every process when a transaction that changes
it commits (:func:`cached_row_changed`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
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
    text,
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

    Made by :func:`localgov.kernel.db.tenant_reader` (the ``db_read`` dependency): the connection
    is taken from the pool, and ``BEGIN READ ONLY`` with the search path sent in one round trip, at
    the **first statement** (a handler answered from this process's copies, :func:`fetch_cached`,
    touches no connection at all); ``ROLLBACK`` at the end. Only :func:`fetch_one`,
    :func:`fetch_all` and :func:`fetch_cached` use it.

    ``plan_tag`` (the tenant's schema, when ``db_plans_per_tenant`` is on) is appended to the SQL
    text as a comment, so asyncpg prepares and keeps one statement per tenant on the connection and
    PostgreSQL never re-plans it for another tenant's search path. The tag is a validated schema
    name; the statement's meaning does not change (PostgreSQL still resolves names by the path).
    A connection keeps at most its capacity of such statements, the first it met
    (:meth:`localgov.kernel.db.PlanPerTenantConnection.plan_text`); past it, the shared text.
    """

    __slots__ = ("_cache", "_driver", "_open", "_tag", "_tenant")

    _tag: str | None

    def __init__(
        self,
        driver: asyncpg.Connection | None = None,
        *,
        opener: Callable[[], Awaitable[tuple[asyncpg.Connection, str | None]]] | None = None,
        plan_tag: str | None = None,
        cache: RowCache | None = None,
        tenant: tuple[int, str] | None = None,
    ) -> None:
        if (driver is None) == (opener is None):
            raise TypeError("a ReadConnection has a connection or an opener")
        self._driver = driver
        self._open = opener
        self._tag = plan_tag
        self._cache = cache if tenant is not None else None
        self._tenant = tenant

    @property
    def opened(self) -> bool:
        """Whether a statement was sent (the transaction begun)."""
        return self._driver is not None

    async def fetch(self, statement: Select[Any], params: Mapping[str, Any] | None) -> list[Row]:
        query = compiled(statement)
        driver = self._driver
        if driver is None:
            assert self._open is not None
            driver, tag = await self._open()
            self._driver, self._tag = driver, tag
        sql = query.sql if self._tag is None else _plan_text(driver, query.sql, self._tag)
        records = await driver.fetch(sql, *query.arguments(params or {}))
        return [query.row(record) for record in records]


def _plan_text(driver: asyncpg.Connection, sql: str, tag: str) -> str:
    """``sql`` tagged with the tenant's schema, as far as the connection keeps such statements (a
    connection that keeps none runs the shared text)."""
    plan_text = getattr(driver, "plan_text", None)
    if plan_text is None:
        return sql
    text: str = plan_text(sql, tag)
    return text


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


#: The channel on which a committed change of a cached row is announced (every process drops its copies).
CACHE_CHANNEL = "localgov_cached_rows"
_INFO_CACHE_CHANGED = "localgov_cached_rows_changed"
#: More copies than this are not kept (a copy per tenant and cached row; 7,849 LAOs fit many times).
_CACHE_LIMIT = 200_000


class CachedRow(NamedTuple):
    """A small per-tenant row read on a hot path (a service's settings), kept by each process.

    Declared once at module level next to the statement (one row or none, no parameters)::

        BILLER = CachedRow("payments.biller", select(settings.c.biller_id, ...).where(settings.c.id == 1))

    read with ``await fetch_cached(reader, BILLER)``, and every write of that row calls
    :func:`cached_row_changed` in its transaction.
    """

    name: str
    statement: Select[Any]


class RowCache:
    """This process's copies of :class:`CachedRow` values, per tenant (one per application).

    A follower of the catalog listener (``platform.catalog.CatalogListener``): dropped whole on a
    notification of :data:`CACHE_CHANNEL` and on every reconnection of the listener; dropped at once
    in the process whose request committed the change (:meth:`committed`). A copy read while a
    change was being announced is not kept (the generation moved), so a notification can never be
    overtaken by the stale read it was meant to drop.
    """

    channel = CACHE_CHANNEL
    #: Not emptied by the listener's periodic safety net: PostgreSQL delivers every notification to a
    #: connected listener, and a reconnection empties the copies; emptying them every
    #: ``catalog_refresh_s`` would only make every tenant's next read a miss.
    reload_on_timer = False

    def __init__(self) -> None:
        self._values: dict[tuple[str, int, str], Row | None] = {}
        self._generation = 0

    async def load(self, engine: Any) -> None:
        """Drop every copy (the follower protocol: called on a notification, reconnection, refresh)."""
        self.clear()

    def clear(self) -> None:
        self._generation += 1
        self._values = {}

    def committed(self, session: AsyncSession) -> None:
        """After ``session`` committed: drop the copies at once if it changed a cached row."""
        if session.info.pop(_INFO_CACHE_CHANGED, False):
            self.clear()

    async def row(self, reader: ReadConnection, cached: CachedRow, tenant: tuple[int, str]) -> Row | None:
        key = (cached.name, *tenant)
        try:
            return self._values[key]
        except KeyError:
            pass
        generation = self._generation
        row = await fetch_one(reader, cached.statement)
        if generation == self._generation and len(self._values) < _CACHE_LIMIT:
            self._values[key] = row
        return row


async def fetch_cached(reader: Reader, cached: CachedRow) -> Row | None:
    """``cached``'s row for the reader's tenant: this process's copy on the read fast path (a
    ``db_read`` connection), else read now (inside a unit of work the copy is never used)."""
    if isinstance(reader, ReadConnection) and reader._cache is not None and reader._tenant is not None:
        return await reader._cache.row(reader, cached, reader._tenant)
    return await fetch_one(reader, cached.statement)


_NOTIFY_CACHE_CHANGED = text(f"SELECT pg_notify('{CACHE_CHANNEL}', '')")


async def cached_row_changed(session: AsyncSession) -> None:
    """Call in the transaction that writes a :class:`CachedRow`'s table: at its commit every process
    drops its copies (NOTIFY is transactional: a rolled-back change announces nothing)."""
    await session.execute(_NOTIFY_CACHE_CHANGED)
    session.info[_INFO_CACHE_CHANGED] = True


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
