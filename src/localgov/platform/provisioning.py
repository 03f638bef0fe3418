"""Provisioning: a tenant schema created at head in one transaction, in one round trip of DDL.

The head DDL of each tenant history is rendered once per process from the tenant metadata (the
core's from the core tables, a service's from its plugin's ``tables``: the same metadata the
histories are checked against, a test proves a provisioned schema equals a migrated one for every
combination of services), sent as one multi-statement script with the version rows, and the
schema is stamped at the heads in the same transaction. On Citus (``localgov.platform.citus``) the
schema is created with schema-based sharding on (a distributed schema, placed on one worker) and
the statements are sent in the fewest texts Citus accepts (``citus_batches``: every ``CREATE
TABLE``/``CREATE INDEX`` of a run in one text, an ``ALTER TABLE`` alone).

A service's tables are created when a tenant starts using it: at provisioning when the tenant
comes with it, or when it is enabled later (:func:`install_services`), in the same transaction
as the catalog change, and the plugin's ``seed`` runs right after. A schema that already holds
them (the service was enabled before, then disabled) keeps them as they are: no second creation,
no second seed.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable, Sequence
from functools import cache
from typing import Any

import msgspec
from sqlalchemy import MetaData, Table, create_mock_engine, text
from sqlalchemy.ext.asyncio import AsyncConnection, async_sessionmaker

from localgov.kernel.db import TenantBoundSession, quote_schema, session_for, validate_schema_name
from localgov.kernel.plugins import ServicePlugin
from localgov.kernel.thai import bangkok_today
from localgov.platform.citus import execute_script, is_citus, prepare_ddl
from localgov.platform.installation import installed
from localgov.platform.migrate import CORE, history_head, tenant_head, version_table


def render_statements(metadata: MetaData, tables: Sequence[Table] | None = None, *, history: str = CORE) -> list[str]:
    """``tables`` of ``metadata`` (all: None) as unqualified DDL statements, exactly what
    ``create_all`` would run, after the version table of ``history``.

    Replaying ``create_all`` against a mock engine (rather than compiling each ``CREATE TABLE``)
    also emits what a table needs besides itself: enum types, sequences, indexes, comments,
    foreign keys that close a cycle (``use_alter``) and ``after_create`` DDL such as triggers.
    """
    name = version_table(history)
    # The version table exactly as Alembic creates it.
    statements = [
        f"CREATE TABLE {name} (version_num VARCHAR(32) NOT NULL, CONSTRAINT {name}_pkc PRIMARY KEY (version_num))"
    ]

    def collect(sql: Any, *_multiparams: Any, **_params: Any) -> None:
        statements.append(str(sql.compile(dialect=engine.dialect)).strip())

    engine = create_mock_engine("postgresql+asyncpg://", collect)
    metadata.create_all(engine, tables=list(tables) if tables is not None else None, checkfirst=False)
    return statements


def render_ddl(metadata: MetaData, tables: Sequence[Table] | None = None, *, history: str = CORE) -> str:
    """:func:`render_statements` as one SQL script."""
    return ";\n".join(render_statements(metadata, tables, history=history)) + ";"


@cache
def head_statements() -> tuple[str, ...]:
    """The core tables of a tenant schema at head, one unqualified DDL statement each."""
    current = installed()
    return tuple(render_statements(current.metadata, current.core_tables))


def head_ddl() -> str:
    """The core tables of a tenant schema at head as one SQL script of unqualified DDL."""
    return ";\n".join(head_statements()) + ";"


def service_statements(plugin: ServicePlugin) -> tuple[str, ...]:
    """A service's tables at the head of its history, one unqualified DDL statement each."""
    return _service_statements(plugin.slug, tuple(plugin.tables))


def service_ddl(plugin: ServicePlugin) -> str:
    """A service's tables at the head of its history, as one SQL script of unqualified DDL."""
    return ";\n".join(service_statements(plugin)) + ";"


@cache
def _service_statements(slug: str, tables: tuple[Table, ...]) -> tuple[str, ...]:
    return tuple(render_statements(installed().metadata, tables, history=slug))


class ProfileSeed(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The public contact details a tenant starts with (editable later by its staff)."""

    address_th: str | None = None
    phone: str | None = None
    email: str | None = None
    website: str | None = None
    office_hours_th: str | None = None


def _with_history(services: Iterable[ServicePlugin]) -> list[ServicePlugin]:
    """The services that have tables of their own (a history), each once, in slug order."""
    return sorted({p.slug: p for p in services if p.migrations is not None}.values(), key=lambda p: p.slug)


def _names(plugin: ServicePlugin) -> list[str]:
    return [table.name for table in plugin.tables]


def _stamp(history: str, revision: str) -> str:
    # Revision ids come from the history files and are checked against ^[A-Za-z0-9_]{1,32}$.
    return f"INSERT INTO {version_table(history)} (version_num) VALUES ('{revision}')"  # noqa: S608


async def provision_schema(
    conn: AsyncConnection,
    schema: str,
    seed: ProfileSeed | None = None,
    *,
    services: Iterable[ServicePlugin] = (),
    tenant_id: int | None = None,
) -> float:
    """Create ``schema`` at head with the tables of ``services``, stamped and seeded, inside the
    caller's transaction.

    Returns the seconds spent. The catalog row must already exist (``tenant_id``: its id, needed
    when a service has a seed); its ``schema_revision`` and ``service_revisions`` are set here,
    which is what makes the tenant routable.
    """
    schema = validate_schema_name(schema)
    started = time.perf_counter()
    head = tenant_head()
    plugins = _with_history(services)
    citus = await is_citus(conn)
    if citus:
        # A distributed schema: Citus places it whole on one worker (docs/operations/citus.md).
        await prepare_ddl(conn, distribute=True)
    await conn.execute(text(f"CREATE SCHEMA {quote_schema(schema)}"))
    await conn.execute(text("SELECT set_config('search_path', :s, true)"), {"s": schema})
    revisions = {p.slug: history_head(str(p.migrations)) for p in plugins}
    script = [*head_statements(), _stamp(CORE, head)]
    for plugin in plugins:
        script += [*service_statements(plugin), _stamp(plugin.slug, revisions[plugin.slug])]
    await execute_script(conn, script, citus=citus)
    seed = seed or ProfileSeed()
    await conn.execute(
        text(
            "INSERT INTO profile (id, address_th, phone, email, website, office_hours_th)"
            " VALUES (1, :address_th, :phone, :email, :website, :office_hours_th)"
        ),
        msgspec.structs.asdict(seed),
    )
    if any(p.seed is not None for p in plugins):
        if tenant_id is None:
            raise ValueError("seeding a service needs the tenant's catalog row (tenant_id)")
        await run_seeds(conn, schema, tenant_id, plugins)
    await conn.execute(
        text(
            "UPDATE platform.tenants SET schema_revision = :v, service_revisions = CAST(:sv AS jsonb),"
            " updated_at = now() WHERE schema_name = :s"
        ),
        {"v": head, "sv": msgspec.json.encode(revisions).decode(), "s": schema},
    )
    await conn.execute(text("SELECT set_config('search_path', 'tenant_void', true)"))
    return time.perf_counter() - started


async def install_services(
    conn: AsyncConnection, schema: str, tenant_id: int, services: Iterable[ServicePlugin]
) -> list[str]:
    """Create the tables of ``services`` in a live tenant's schema at head, stamp their histories
    and seed them, inside the caller's transaction (which holds the tenant's catalog row locked).

    A service whose tables the schema already holds (its version table is there: it was enabled
    before, or the schema was converted from the single history) is left as it is: no second
    creation, no second seed. Returns the slugs installed now. The search path is restored to what
    it was.
    """
    schema = validate_schema_name(schema)
    plugins = _with_history(services)
    if not plugins:
        return []
    present = (
        (
            await conn.execute(
                text(
                    "SELECT relname FROM pg_class WHERE relnamespace = to_regnamespace(:s) AND relkind = 'r'"
                    " AND relname = ANY (:t)"
                ),
                {"s": schema, "t": [name for p in plugins for name in (version_table(p.slug), *_names(p))]},
            )
        )
        .scalars()
        .all()
    )
    # Tables without their version table: a schema of the single history not yet converted by
    # ``localgov migrate`` (which stamps them); creating them again would fail.
    missing = [p for p in plugins if version_table(p.slug) not in present and not set(_names(p)) & set(present)]
    if not missing:
        return []
    path = (await conn.execute(text("SELECT current_setting('search_path')"))).scalar()
    # The same lock a migration of this schema takes: never both at once.
    await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('localgov:migrate:' || :s))"), {"s": schema})
    await conn.execute(text("SELECT set_config('search_path', :s, true)"), {"s": schema})
    revisions = {p.slug: history_head(str(p.migrations)) for p in missing}
    script: list[str] = []
    for plugin in missing:
        script += [*service_statements(plugin), _stamp(plugin.slug, revisions[plugin.slug])]
    citus = await is_citus(conn)
    if citus:
        await prepare_ddl(conn)
    await execute_script(conn, script, citus=citus)
    await run_seeds(conn, schema, tenant_id, missing)
    await conn.execute(
        text(
            "UPDATE platform.tenants SET service_revisions = service_revisions || CAST(:sv AS jsonb)"
            " WHERE schema_name = :s"
        ),
        {"sv": msgspec.json.encode(revisions).decode(), "s": schema},
    )
    await conn.execute(text("SELECT set_config('search_path', :p, true)"), {"p": path})
    return [p.slug for p in missing]


class _Tenant(msgspec.Struct, frozen=True):
    id: int
    schema: str


async def run_seeds(
    conn: AsyncConnection, schema: str, tenant_id: int, services: Iterable[ServicePlugin], today: dt.date | None = None
) -> None:
    """Run each service's ``seed`` in ``schema`` on the caller's connection and transaction.

    The seeds get a tenant-bound session of their own, joined to the caller's transaction through
    a savepoint (released at the end: the caller commits or rolls back everything).
    """
    seeds = [p.seed for p in services if p.seed is not None]
    if not seeds:
        return
    factory = async_sessionmaker(
        bind=conn,
        sync_session_class=TenantBoundSession,
        expire_on_commit=False,
        join_transaction_mode="create_savepoint",
    )
    session = session_for(factory, _Tenant(tenant_id, validate_schema_name(schema)))
    try:
        for seed in seeds:
            await seed(session, today or bangkok_today())
        await session.commit()  # releases the savepoint; the caller's transaction goes on
    finally:
        await session.close()
