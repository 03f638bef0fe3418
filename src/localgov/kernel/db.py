"""The database kernel: one shared engine, tenant-bound sessions, the two metadata trees.

Every transaction selects its tenant with ``set_config('search_path', $1, true)`` issued on
begin (SQLAlchemy ``after_begin``): a transaction-local setting, so it can neither leak to the
next user of a pooled connection nor be dropped by a mid-request commit, and one prepared
statement text serves every tenant. Sessions without a tenant get the empty ``tenant_void``
schema, so an unqualified query outside tenant context fails instead of reading someone's rows.
"""

from __future__ import annotations

import functools
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Protocol

import asyncpg
from sqlalchemy import MetaData, event, exc, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Session, SessionTransaction

from localgov.kernel.pool import HOME, affine_pool_class, prefer_tenant
from localgov.kernel.reads import ReadConnection, RowCache
from localgov.settings import Settings

#: The shared schema: catalog, outbox, usage. Always referenced schema-qualified.
SHARED_SCHEMA = "platform"
#: Default ``search_path`` of the application: a schema that never holds a table.
VOID_SCHEMA = "tenant_void"
#: The only shape a tenant schema name may have. It is derived from the DLA code, never from input.
TENANT_SCHEMA_RE = re.compile(r"^lao_[0-9]{7}$")

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: Session settings of every connection to a Citus coordinator (plain PostgreSQL stores an unknown
#: ``citus.*`` setting and ignores it). Citus hides shard tables from ``pg_class`` with a per-row function call, and
#: asyncpg's type introspection (an enum or array type on first use per connection) then took
#: 17-29 s on a coordinator; the application connects to the coordinator only, which holds no shards.
COORDINATOR_SETTINGS = {"citus.override_table_visibility": "off"}

_SET_SEARCH_PATH = text("SELECT set_config('search_path', :path, true)")
_INFO_TENANTS = "localgov_tenants_served"
_INFO_SCHEMA = "tenant_schema"
_INFO_TENANT_ID = "tenant_id"


class SharedBase(DeclarativeBase):
    """Tables of the shared ``platform`` schema."""

    metadata = MetaData(schema=SHARED_SCHEMA, naming_convention=NAMING_CONVENTION)


class TenantBase(DeclarativeBase):
    """Tables that every tenant schema has. Unqualified: the search path picks the schema."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def tenant_schema_name(dla_code: str) -> str:
    """The schema of the LAO with this DLA code (``lao_<7 digits>``)."""
    return validate_schema_name(f"lao_{dla_code}")


def validate_schema_name(name: str) -> str:
    if not TENANT_SCHEMA_RE.fullmatch(name):
        raise ValueError(f"not a tenant schema name: {name!r}")
    return name


def quote_schema(name: str) -> str:
    """The schema name validated and double-quoted for DDL (the only place names enter SQL text)."""
    return '"' + validate_schema_name(name) + '"'


class TenantConnection(asyncpg.Connection):  # type: ignore[misc]  # asyncpg ships no type hints
    """An asyncpg connection that sends a session's ``BEGIN`` and its search path in one round trip.

    A session's transaction used to cost two round trips before its first query: ``BEGIN`` (sent
    by SQLAlchemy's driver adapter right before the first statement) and ``SELECT set_config(...)``.
    :func:`_bind_search_path` now only notes the schema here; the adapter's ``BEGIN`` goes out as
    one simple-protocol script ``BEGIN; SELECT set_config('search_path', '<schema>', true);``. The
    schema is a validated ``lao_<7 digits>`` (or the void schema), and the simple protocol prepares
    nothing, so no statement per tenant is cached. The note is cleared when the connection goes
    back to the pool, so a ``BEGIN`` outside a session never picks up another session's schema.
    """

    _localgov_begin_path: str | None = None
    plans_per_tenant = False

    async def execute(self, query: str, *args: Any, timeout: float | None = None) -> str:  # noqa: ASYNC109 (asyncpg's signature)
        path = self._localgov_begin_path
        if path is not None and not args and query.startswith("BEGIN"):
            self._localgov_begin_path = None
            query = f"{query.rstrip().rstrip(';')}; SELECT set_config('search_path', '{path}', true);"
        result: str = await super().execute(query, *args, timeout=timeout)
        return result


class PlanPerTenantConnection(TenantConnection):
    """A :class:`TenantConnection` whose fast-path reads prepare one statement per tenant
    (``db_plans_per_tenant``): :func:`tenant_reader` tags their SQL with the tenant's schema.

    It keeps at most :attr:`plan_capacity` tagged statements: the first ones it meets, never
    evicted (an evicted statement is prepared again at its next use, which costs more than the
    re-plan it saves: a connection cycling through more tenants than it keeps did worse than one
    keeping none, bench/README.md "Peers"). Past the capacity a read runs the shared text. With the
    bounded affinity (:mod:`localgov.kernel.pool`) a connection meets the same few tenants, so the
    first ones it keeps are the ones it serves. Its asyncpg statement cache holds the capacity plus
    asyncpg's usual 100, so the kept statements are never pushed out by the shared ones.

    Told apart by this attribute, not ``isinstance``: asyncpg's connection metaclass answers
    ``isinstance`` for any of its subclasses with any connection."""

    plans_per_tenant = True
    plan_capacity = 0
    _localgov_plans: set[str] | None = None

    def plan_text(self, sql: str, tag: str) -> str:
        """``sql`` tagged with ``tag`` if this connection keeps (or has room for) that statement."""
        tagged = f"{sql} /* {tag} */"
        kept = self._localgov_plans
        if kept is None:
            kept = self._localgov_plans = set()
        if tagged in kept:
            return tagged
        if len(kept) < self.plan_capacity:
            kept.add(tagged)
            return tagged
        return sql


#: asyncpg's own statement cache size, kept beside the per-tenant statements.
SHARED_STATEMENTS = 100


@functools.cache
def plan_per_tenant_class(capacity: int) -> type[PlanPerTenantConnection]:
    """The connection class keeping up to ``capacity`` per-tenant statements."""
    return type(f"PlanPerTenantConnection{capacity}", (PlanPerTenantConnection,), {"plan_capacity": capacity})


def _driver(connection: Connection) -> TenantConnection | None:
    driver = getattr(connection.connection.dbapi_connection, "driver_connection", None)
    return driver if isinstance(driver, TenantConnection) else None


class TenantBoundSession(Session):
    """A session whose transactions run inside ``info['tenant_schema']`` (or the void schema)."""


@event.listens_for(TenantBoundSession, "after_begin")
def _bind_search_path(session: Session, transaction: SessionTransaction, connection: Connection) -> None:
    if transaction.nested:
        # A savepoint lives inside a transaction whose search path is already set (and a consumer
        # may have moved it on purpose); resetting it here would silently undo that.
        return
    schema = session.info.get(_INFO_SCHEMA)
    path = validate_schema_name(schema) if schema else VOID_SCHEMA
    driver = _driver(connection)
    if driver is not None and not driver.is_in_transaction():
        driver._localgov_begin_path = path  # sent with the BEGIN before the first statement
    else:
        connection.execute(_SET_SEARCH_PATH, {"path": path})
    if schema:
        served: set[str] = connection.info.setdefault(_INFO_TENANTS, set())
        served.add(schema)


async def set_search_path(session: AsyncSession | AsyncConnection, schema: str | None) -> None:
    """Point the current transaction at ``schema`` (validated), or at the void schema (None)."""
    path = validate_schema_name(schema) if schema is not None else VOID_SCHEMA
    await session.execute(_SET_SEARCH_PATH, {"path": path})


def asyncpg_url(database_url: str) -> URL:
    url = make_url(database_url)
    return url.set(drivername="postgresql+asyncpg")


def create_engine(
    settings: Settings, database_url: str | None = None, *, serving: bool = False, **overrides: Any
) -> AsyncEngine:
    """The one engine of a process. Connections are recycled by age and by tenants served.

    ``serving``: the engine of the HTTP application, whose transactions also wait at most
    ``db_lock_timeout_ms`` for a lock (a request stuck behind a table lock answers 503 rather than
    holding its client and its connection; the worker and migrations wait as long as they must).
    """
    url = asyncpg_url(database_url or settings.database_url)
    server_settings = {
        "search_path": VOID_SCHEMA,
        "application_name": "localgov",
        "statement_timeout": str(settings.db_statement_timeout_ms),
        "timezone": "UTC",
        **COORDINATOR_SETTINGS,
    }
    if serving and settings.db_lock_timeout_ms:
        server_settings["lock_timeout"] = str(settings.db_lock_timeout_ms)
    plans = settings.db_plans_per_tenant
    options: dict[str, Any] = {
        "pool_size": settings.db_pool_size,
        "max_overflow": settings.db_max_overflow,
        "pool_timeout": settings.db_pool_timeout_s,
        "pool_recycle": settings.db_connection_lifetime_s,
        "pool_pre_ping": False,
        "connect_args": {
            "connection_class": plan_per_tenant_class(plans) if plans else TenantConnection,
            "server_settings": server_settings,
            # A cached statement lives as long as its connection (``db_connection_lifetime_s``), not
            # asyncpg's 300 s: its expiry re-prepared the statements a connection keeps for its
            # tenants, and each one held a timer in the event loop's heap (5,600 of them per process
            # at 2,000 tenants, every timer operation of the loop paying for the heap's depth).
            "max_cached_statement_lifetime": 0,
        },
    }
    if plans:
        options["connect_args"]["statement_cache_size"] = plans + SHARED_STATEMENTS
    if settings.db_tenant_affinity:
        wait = settings.db_tenant_wait_ms / 1000 if settings.db_tenant_wait_ms else None
        options["poolclass"] = affine_pool_class(settings.db_connections_per_tenant, wait)
    options.update(overrides)
    engine = create_async_engine(url, **options)
    limit = settings.db_max_tenants_per_connection

    @event.listens_for(engine.sync_engine.pool, "checkout")
    def _recycle_busy_connections(dbapi_conn: Any, record: Any, proxy: Any) -> None:
        # Each backend caches the catalog of every schema it touched (~0.5 MB per tenant):
        # a connection that has served many tenants is replaced before it grows without bound.
        if len(record.info.get(_INFO_TENANTS, ())) >= limit:
            raise exc.DisconnectionError("connection served its share of tenants; recycling")
        _forget_begin_path(dbapi_conn)

    @event.listens_for(engine.sync_engine.pool, "checkin")
    def _forget_on_checkin(dbapi_conn: Any, record: Any) -> None:
        _forget_begin_path(dbapi_conn)

    return engine


def _forget_begin_path(dbapi_conn: Any) -> None:
    """A session that began but ran no statement leaves its schema noted: drop it."""
    driver = getattr(dbapi_conn, "driver_connection", None)
    if isinstance(driver, TenantConnection):
        driver._localgov_begin_path = None


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, sync_session_class=TenantBoundSession, expire_on_commit=False)


class TenantRef(Protocol):
    """What a session needs to know of a tenant."""

    @property
    def id(self) -> int: ...

    @property
    def schema(self) -> str: ...


def session_for(factory: async_sessionmaker[AsyncSession], tenant: TenantRef | None) -> AsyncSession:
    """A session bound to ``tenant`` (None: no tenant, the void schema); the caller ends it."""
    info: dict[str, Any] = {_INFO_SCHEMA: None, _INFO_TENANT_ID: None}
    if tenant is not None:
        info = {_INFO_SCHEMA: validate_schema_name(tenant.schema), _INFO_TENANT_ID: tenant.id}
    prefer_tenant(info[_INFO_SCHEMA])  # its connection, once checked out, from the tenant's few (kernel.pool)
    return factory(info=info)


@asynccontextmanager
async def tenant_reader(
    engine: AsyncEngine, tenant: TenantRef | None, *, cache: RowCache | None = None
) -> AsyncIterator[ReadConnection]:
    """A read-only transaction in ``tenant``'s schema (None: the void schema) on a pooled connection.

    The fast read path of :mod:`localgov.kernel.reads`: at the first statement the raw asyncpg
    connection is taken from the engine's pool (no SQLAlchemy connection or session around it),
    ``BEGIN READ ONLY`` and the search path go out in one round trip, and ``ROLLBACK`` ends it; a
    block that sends no statement takes no connection. A connection that cannot be
    rolled back (an error or a cancellation in the middle) is invalidated, never pooled again in a
    transaction: the next user would otherwise inherit this tenant's search path. ``cache``: the
    application's copies of per-tenant rows (:func:`localgov.kernel.reads.fetch_cached`).
    """
    path = validate_schema_name(tenant.schema) if tenant is not None else VOID_SCHEMA
    held: list[Any] = []  # the pooled connection, once the first statement asks for it
    begun: list[asyncpg.Connection] = []  # its driver, once BEGIN went through

    async def open_transaction() -> tuple[asyncpg.Connection, str | None]:
        prefer_tenant(tenant.schema if tenant is not None else None)
        pooled = await engine.raw_connection()
        held.append(pooled)
        driver = pooled.driver_connection
        if not isinstance(driver, asyncpg.Connection) or driver.is_in_transaction():
            raise RuntimeError("a pooled connection was handed out inside a transaction")
        if isinstance(driver, TenantConnection):
            driver._localgov_begin_path = None  # cleared at checkout too; this BEGIN carries its own path
        await driver.execute(f"BEGIN READ ONLY; SELECT set_config('search_path', '{path}', true);")
        begun.append(driver)
        if tenant is not None:
            served: set[str] = pooled.info.setdefault(_INFO_TENANTS, set())
            served.add(path)
        # A statement of its own only on one of the tenant's own connections (kernel.pool): the
        # ones it meets again and again, not one it borrowed under its own load or a new one.
        own = pooled.record_info.get(HOME, False) if pooled.record_info is not None else False
        return driver, path if own and getattr(driver, "plans_per_tenant", False) else None

    try:
        yield ReadConnection(
            opener=open_transaction, cache=cache, tenant=(tenant.id, path) if tenant is not None else None
        )
    finally:
        if held:
            clean = False
            try:
                if begun:
                    await begun[0].execute("ROLLBACK")
                    clean = True
            finally:
                if not clean:
                    held[0].invalidate()
                held[0].close()


@asynccontextmanager
async def tenant_session(
    factory: async_sessionmaker[AsyncSession], tenant: TenantRef | None
) -> AsyncIterator[AsyncSession]:
    """One unit of work: committed when the block ends normally, rolled back on any error."""
    session = session_for(factory, tenant)
    try:
        async with session.begin():
            yield session
    finally:
        await session.close()


def session_tenant_id(session: AsyncSession) -> int:
    """The id of the tenant a session is bound to; an error outside tenant context."""
    tenant_id = session.info.get(_INFO_TENANT_ID)
    if not isinstance(tenant_id, int):
        raise RuntimeError("this operation needs a tenant-bound session")
    return tenant_id


def session_binding(session: AsyncSession) -> tuple[int | None, str | None]:
    """The tenant id and schema a session is bound to (None, None: no tenant)."""
    return session.info.get(_INFO_TENANT_ID), session.info.get(_INFO_SCHEMA)


def bind_session(session: AsyncSession, tenant_id: int | None, schema: str | None) -> None:
    """Make ``session`` count as ``tenant_id``'s (usage events, notifications, outbox entries) until
    bound again; its search path is set apart (:func:`set_search_path`). For the outbox's delivery
    of a tenant's entry in the worker's claiming session, which is bound to no tenant: the caller
    restores the previous binding when the delivery ends, or the session's next transaction would
    begin in that tenant's schema."""
    session.info[_INFO_TENANT_ID] = tenant_id
    session.info[_INFO_SCHEMA] = validate_schema_name(schema) if schema is not None else None


def session_tenant_schema(session: AsyncSession) -> str:
    """The schema of the tenant a session is bound to; an error outside tenant context."""
    schema = session.info.get(_INFO_SCHEMA)
    if not isinstance(schema, str):
        raise RuntimeError("this operation needs a tenant-bound session")
    return validate_schema_name(schema)
