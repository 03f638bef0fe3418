"""Migrations: the shared history once; in every tenant schema, the core history and the histories
of the services the schema uses.

Histories of a tenant schema: the core (``migrations/tenant``, version table ``alembic_version``)
holds the tables every tenant has; each service plugin ships its own history in its package
(:attr:`ServicePlugin.migrations`, version table ``alembic_version_<slug>``) for its own tables. A
schema *uses* a service once its tables were created there (its version table has a revision):
when the service was enabled, or at provisioning. Disabling a service keeps its tables, so they
keep following its history: every schema that holds a table holds it at the same revision.

Tenant schemas are upgraded one transaction per schema, each under an advisory lock keyed by the
schema, by several worker processes at once (Alembic keeps module-global state and is not
thread-safe). A schema whose migration fails is rolled back to its old revisions and reported by
name; the others go on. Running again resumes: only schemas that are behind are touched. Whether
anything is behind is decided from the catalog's mirror of every schema's revisions
(``platform.tenants.schema_revision`` for the core, ``service_revisions`` for the services), one
query for any number of tenants.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import multiprocessing.util
import os
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from functools import cache
from pathlib import Path
from typing import Any

import msgspec
from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

import localgov
from localgov.kernel.db import COORDINATOR_SETTINGS, asyncpg_url, quote_schema, validate_schema_name
from localgov.platform.citus import (
    CitusError,
    check_kind,
    check_shared_local,
    is_citus,
    prepare_ddl,
    sharding,
    undistribute_shared,
)
from localgov.platform.installation import install, installed

#: Schemas per ``UNION ALL`` of ``--verify``, one transaction each. At 7,849 schemas, batches of
#: 1000 in one transaction ran out of lock table ("out of shared memory": two locks per schema,
#: max_locks_per_transaction 64) and grew the backend to 1.1 GB (plans of 1000-branch queries);
#: batches of 100 committed one by one: 280 MB, and 4x faster.
_STATUS_BATCH = 100


def migrations_root() -> Path:
    """``migrations/`` of a source checkout, or its copy inside an installed wheel."""
    package = Path(localgov.__file__).resolve().parent
    for candidate in (package / "_migrations", package.parent.parent / "migrations"):
        if (candidate / "tenant").is_dir():
            return candidate
    raise RuntimeError("migrations folder not found")


@cache
def script_directory(history: str, location: str | None = None) -> ScriptDirectory:
    cfg = Config()
    cfg.set_main_option("script_location", location or str(migrations_root() / history))
    return ScriptDirectory.from_config(cfg)


def tenant_head(location: str | None = None) -> str:
    """The head of the core tenant history."""
    head = script_directory("tenant", location).get_current_head()
    if head is None:
        raise RuntimeError("the tenant history has no revisions")
    return head


#: The name of the core tenant history among the service histories (which are named by slug).
CORE = "core"
_VERSION_TABLE_RE = re.compile(r"^alembic_version(_[a-z][a-z0-9_]{1,30})?$")
_REVISION_RE = re.compile(r"^[A-Za-z0-9_]{1,32}$")


def version_table(history: str) -> str:
    """The version table of a history in a tenant schema: ``alembic_version[_<slug>]``."""
    name = "alembic_version" if history == CORE else f"alembic_version_{history}"
    if not _VERSION_TABLE_RE.fullmatch(name):
        raise ValueError(f"not a history name: {history!r}")
    return name


def history_locations(location: str | None = None, locations: Mapping[str, str] | None = None) -> dict[str, str]:
    """Script folders of the tenant histories: the core's (``location``) and each registered service's.

    ``locations`` replaces any of them (tests use copies with an extra revision).
    """
    out = {CORE: location or str(migrations_root() / "tenant")}
    for plugin in installed().plugins:
        if plugin.migrations is not None:
            out[plugin.slug] = str(plugin.migrations)
    out.update(locations or {})
    for name in out:
        version_table(name)  # validates the name
    return out


def history_head(location: str) -> str:
    head = script_directory("tenant", location).get_current_head()
    if head is None or not _REVISION_RE.fullmatch(head):
        raise RuntimeError(f"the history at {location} has no usable head")
    return head


def history_heads(locations: Mapping[str, str]) -> dict[str, str]:
    """The head revision of each history."""
    return {name: history_head(location) for name, location in locations.items()}


#: Revisions of the single tenant history from before the services had histories of their own.
#: Such a schema holds the payments tables whatever its services: it converts (once, in its
#: migration transaction) to the core at ``0004_idempotency`` and payments at the same revision
#: id, because revisions 0004 and 0005 moved into the payments history with their ids.
LEGACY_REVISIONS: Mapping[str, tuple[str, Mapping[str, str]]] = {
    "0004": ("0004_idempotency", {"payments": "0004"}),
    "0005": ("0004_idempotency", {"payments": "0005"}),
}


# --- shared schema -----------------------------------------------------------------------------


async def upgrade_shared(engine: AsyncEngine, kind: str = "auto") -> None:
    """Bring the shared schema to head (Alembic's usual env.py path, one transaction).

    On Citus (``kind``: ``LOCALGOV_DATABASE_KIND``) with schema-based sharding off, so that the
    shared schemas stay on the coordinator; one distributed by an earlier run is made local again.
    """
    from alembic import command

    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_root() / "shared"))
    async with engine.begin() as conn:
        # Two processes starting at once must not both create the schema.
        await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('localgov:migrate:shared'))"))
        citus = await check_kind(conn, kind)
        if citus:
            # The shared schemas stay plain schemas of the coordinator: with sharding on, the
            # ``CREATE SCHEMA IF NOT EXISTS`` of the migrations would register them as distributed.
            await sharding(conn, on=False)
            await undistribute_shared(conn)

        def run(sync_conn: Connection) -> None:
            cfg.attributes["connection"] = sync_conn
            command.upgrade(cfg, "head")

        await conn.run_sync(run)
        if citus:
            distributed = await check_shared_local(conn)
            if distributed:
                raise CitusError(f"shared objects distributed by Citus (must stay on the coordinator): {distributed}")


async def shared_is_at_head(conn: AsyncConnection) -> bool:
    head = script_directory("shared").get_current_head()
    exists = (await conn.execute(text("SELECT to_regclass('platform.alembic_version')"))).scalar()
    if exists is None:
        return False
    current = (await conn.execute(text("SELECT version_num FROM platform.alembic_version"))).scalar()
    return bool(current == head)


# --- tenant schemas ----------------------------------------------------------------------------


class SchemaResult(msgspec.Struct, frozen=True):
    schema: str
    ok: bool
    #: The core history's revision before and after (None: at base).
    from_revision: str | None
    to_revision: str | None
    error: str | None = None
    seconds: float = 0.0
    #: The services' revisions before and after (a service absent: its tables are not there).
    from_services: dict[str, str] = msgspec.field(default_factory=dict)
    to_services: dict[str, str] = msgspec.field(default_factory=dict)


class MigrateReport(msgspec.Struct):
    #: Where the migrated history is going (the core head for a normal run).
    head: str
    total: int
    behind: list[str]
    results: list[SchemaResult] = msgspec.field(default_factory=list)
    seconds: float = 0.0
    #: The head of every tenant history (core and services).
    heads: dict[str, str] = msgspec.field(default_factory=dict)

    @property
    def failed(self) -> list[SchemaResult]:
        return [r for r in self.results if not r.ok]


class SchemaState(msgspec.Struct, frozen=True):
    """What the platform knows of one tenant schema: its revisions and its enabled services."""

    #: The core revision (None: at base, or the schema is gone).
    core: str | None
    #: The service histories whose tables the schema holds, and their revisions.
    services: dict[str, str]
    enabled: frozenset[str]

    def revision(self, history: str) -> str | None:
        return self.core if history == CORE else self.services.get(history)

    def uses(self, history: str) -> bool:
        """Whether ``history`` applies to the schema: the core always; a service installed or enabled."""
        return history == CORE or history in self.services or history in self.enabled


def is_behind(state: SchemaState, heads: Mapping[str, str]) -> bool:
    """Not every history the schema uses is at its head (an enabled service without tables is behind)."""
    return any(state.revision(name) != head for name, head in heads.items() if state.uses(name))


async def schema_states(conn: AsyncConnection, *, verify: bool = False) -> dict[str, SchemaState]:
    """Every provisioned tenant schema and its state.

    A closed tenant whose schema the purge dropped on purpose (``schema_dropped_at``) is not
    listed: there is nothing to migrate. A schema gone for any other reason is reported (at base).

    By default the revisions are the catalog's mirror (``platform.tenants.schema_revision`` and
    ``service_revisions``), which provisioning, enabling a service and every migration write in
    the same transaction as the schema's DDL: one query for any number of tenants. ``verify``
    reads each schema's own version tables instead (batched ``UNION ALL``), which costs a relation
    open per table on a cold connection (about 0.2 ms each) and catches a schema changed behind the
    platform's back; it ends the connection's transaction after each batch, so that no
    transaction holds a lock on every schema.
    """
    rows = (
        await conn.execute(
            text(
                "SELECT t.schema_name, t.schema_revision, t.service_revisions, t.enabled_services,"
                " n.oid IS NOT NULL AS present"
                " FROM platform.tenants t LEFT JOIN pg_namespace n ON n.nspname = t.schema_name"
                " WHERE t.schema_dropped_at IS NULL"
                " ORDER BY t.schema_name"
            )
        )
    ).all()
    # A schema absent with no revision was never provisioned: that is provisioning's business.
    out: dict[str, SchemaState] = {
        schema: SchemaState(
            core=revision if present else None,
            services=dict(services or {}) if present else {},
            enabled=frozenset(enabled or ()),
        )
        for schema, revision, services, enabled, present in rows
        if present or revision
    }
    if not verify:
        return out
    tables = (
        await conn.execute(
            text(
                "SELECT t.schema_name, c.relname FROM platform.tenants t"
                " JOIN pg_namespace n ON n.nspname = t.schema_name"
                " JOIN pg_class c ON c.relnamespace = n.oid AND c.relkind = 'r'"
                r" AND c.relname LIKE 'alembic\_version%'"
                " WHERE t.schema_dropped_at IS NULL"
                " ORDER BY t.schema_name, c.relname"
            )
        )
    ).all()
    found: dict[str, list[str]] = {}
    for schema, table in tables:
        if schema in out and _VERSION_TABLE_RE.fullmatch(table):
            found.setdefault(schema, []).append(table)
    read: dict[str, dict[str, str | None]] = {schema: {} for schema in out}
    names = sorted(found)
    for start in range(0, len(names), _STATUS_BATCH):
        # Names come from the catalog and pg_class, validated (schema ^lao_[0-9]{7}$, table
        # ^alembic_version(_<slug>)?$) before they are quoted into the text.
        sql = " UNION ALL ".join(
            f"SELECT '{s}' AS s, '{t}' AS t, (SELECT max(version_num) FROM {quote_schema(s)}.\"{t}\") AS v"  # noqa: S608
            for s in names[start : start + _STATUS_BATCH]
            for t in found[s]
        )
        for schema, table, version in (await conn.execute(text(sql))).all():
            read[schema][table] = version
        await conn.commit()  # read-only: releases the batch's locks
    for schema, state in out.items():
        versions = read[schema]
        services = {
            table.removeprefix("alembic_version_"): version
            for table, version in versions.items()
            if table != "alembic_version" and version is not None
        }
        out[schema] = SchemaState(core=versions.get("alembic_version"), services=services, enabled=state.enabled)
    return out


async def tenant_revisions(conn: AsyncConnection, *, verify: bool = False) -> dict[str, str | None]:
    """Every provisioned tenant schema and its core revision (see :func:`schema_states`)."""
    return {schema: state.core for schema, state in (await schema_states(conn, verify=verify)).items()}


def _alembic_run(sync_conn: Connection, schema: str, history: str, location: str, target: str, down: bool) -> None:
    """Move one history of ``schema`` to ``target`` inside the caller's transaction."""
    script = script_directory("tenant", location)

    def step(rev: Any, _context: Any) -> Any:
        return script._downgrade_revs(target, rev) if down else script._upgrade_revs(target, rev)

    with EnvironmentContext(Config(), script, fn=step, destination_rev=target) as env:
        table = version_table(history)
        env.configure(connection=sync_conn, version_table=table, version_table_schema=schema, transactional_ddl=True)
        _known_version_table(env, sync_conn, schema, table)
        # Already inside the per-schema transaction: Alembic starts none of its own.
        with env.begin_transaction():
            env.run_migrations()


def _known_version_table(env: EnvironmentContext, sync_conn: Connection, schema: str, table: str) -> None:
    """Tell Alembic that ``schema`` has its version table instead of letting it ask the catalog.

    Alembic asks with a ``pg_class JOIN pg_namespace`` query by table name. With 7,849 schemas
    there are 7,849 ``alembic_version`` rows in ``pg_class``, and on catalog statistics older than
    the schemas (no ANALYZE since they were created, e.g. autovacuum off) the planner walks all of
    them: 16 ms per schema, three quarters of the server time of a migration across every schema
    (0.05 ms once ANALYZEd). ``to_regclass`` is a catalog cache lookup whatever the statistics.
    """
    qualified = f'{quote_schema(schema)}."{table}"'
    if sync_conn.execute(text("SELECT to_regclass(:t)"), {"t": qualified}).scalar() is not None:
        context = env.get_context()
        context._has_version_table = lambda: True  # type: ignore[method-assign]


async def read_versions(conn: AsyncConnection, schema: str) -> dict[str, str]:
    """The revision of every history whose version table in ``schema`` holds one (core: ``core``)."""
    tables = (
        (
            await conn.execute(
                text(
                    "SELECT relname FROM pg_class WHERE relnamespace = to_regnamespace(:s) AND relkind = 'r'"
                    r" AND relname LIKE 'alembic\_version%' ORDER BY relname"
                ),
                {"s": schema},
            )
        )
        .scalars()
        .all()
    )
    tables = [t for t in tables if _VERSION_TABLE_RE.fullmatch(t)]
    if not tables:
        return {}
    # Table names are checked against ^alembic_version(_<slug>)?$ and the schema name is validated.
    sql = " UNION ALL ".join(
        f"SELECT '{t}', (SELECT max(version_num) FROM {quote_schema(schema)}.\"{t}\")"  # noqa: S608
        for t in tables
    )
    out: dict[str, str] = {}
    for table, version in (await conn.execute(text(sql))).all():
        if version is not None:
            out[CORE if table == "alembic_version" else table.removeprefix("alembic_version_")] = version
    return out


async def _convert_legacy(conn: AsyncConnection, schema: str, versions: dict[str, str]) -> dict[str, str]:
    """A schema of the single tenant history: stamp the core and its services' histories apart.

    Nothing but version tables changes: the tables are those the split histories would have built.
    """
    legacy = LEGACY_REVISIONS.get(versions.get(CORE, ""))
    if legacy is None or any(name in versions for name in legacy[1]):
        return versions
    core, services = legacy
    await conn.execute(
        text(f"UPDATE {quote_schema(schema)}.alembic_version SET version_num = :v"),  # noqa: S608
        {"v": core},
    )
    for name, revision in services.items():
        table = f'{quote_schema(schema)}."{version_table(name)}"'
        await conn.execute(text(_version_table_ddl(table, version_table(name))))
        await conn.execute(text(f"INSERT INTO {table} (version_num) VALUES (:v)"), {"v": revision})  # noqa: S608
    return {**versions, CORE: core, **services}


def _version_table_ddl(qualified: str, name: str) -> str:
    """The version table exactly as Alembic creates it."""
    return (
        f"CREATE TABLE {qualified} (version_num VARCHAR(32) NOT NULL, CONSTRAINT {name}_pkc PRIMARY KEY (version_num))"
    )


async def migrate_schema(
    engine: AsyncEngine,
    schema: str,
    *,
    location: str | None = None,
    locations: Mapping[str, str] | None = None,
    history: str = CORE,
    target: str = "head",
    down: bool = False,
) -> SchemaResult:
    """Move one history of one tenant schema to ``target``, in one transaction under its locks.

    Upgrading the core to its head (a normal ``migrate``) brings the whole schema to head: a
    schema of the single tenant history is converted first, then every service it uses is
    upgraded along its own history, and an enabled service whose tables are missing is created
    along its history and seeded. ``history`` moves only that history (tests, downgrades).
    """
    schema = validate_schema_name(schema)
    locs = history_locations(location, locations)
    started = time.perf_counter()
    before: dict[str, str] = {}
    try:
        async with engine.begin() as conn:
            # The catalog row first, then the schema's lock: the order enabling a service takes.
            tenant = (
                await conn.execute(
                    text("SELECT id, enabled_services FROM platform.tenants WHERE schema_name = :s FOR UPDATE"),
                    {"s": schema},
                )
            ).one_or_none()
            await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('localgov:migrate:' || :s))"), {"s": schema})
            if not (await conn.execute(text("SELECT to_regnamespace(:s) IS NOT NULL"), {"s": schema})).scalar():
                raise LookupError(f"schema {schema} does not exist")
            await conn.execute(text("SELECT set_config('search_path', :s, true)"), {"s": schema})
            if await is_citus(conn):
                # Alembic sends one statement per round trip already; the schema's DDL goes to its worker.
                await prepare_ddl(conn)
            before = await read_versions(conn, schema)
            versions = await _convert_legacy(conn, schema, before)
            location_ = locs[history]
            await conn.run_sync(_alembic_run, schema, history, location_, target, down)
            whole = history == CORE and not down and _resolve_target(location_, target) == history_head(location_)
            if whole:
                enabled = set(tenant.enabled_services or ()) if tenant is not None else set()
                present = {name for name in versions if name != CORE}
                for name in sorted((present | enabled) & (set(locs) - {CORE})):
                    await conn.run_sync(_alembic_run, schema, name, locs[name], "head", False)
                    if name not in present and tenant is not None:
                        from localgov.platform.provisioning import run_seeds

                        plugins = [p for p in installed().plugins if p.slug == name]
                        await run_seeds(conn, schema, int(tenant.id), plugins)
                        await conn.execute(text("SELECT set_config('search_path', :s, true)"), {"s": schema})
            after = await read_versions(conn, schema)
            await conn.execute(
                text(
                    "UPDATE platform.tenants SET schema_revision = :r, service_revisions = CAST(:v AS jsonb)"
                    " WHERE schema_name = :s"
                ),
                {"r": after.get(CORE), "v": msgspec.json.encode(_services_of(after)).decode(), "s": schema},
            )
    except Exception as exc:
        return SchemaResult(
            schema,
            False,
            before.get(CORE),
            before.get(CORE),
            f"{type(exc).__name__}: {exc}"[:2000],
            time.perf_counter() - started,
            _services_of(before),
            _services_of(before),
        )
    return SchemaResult(
        schema,
        True,
        before.get(CORE),
        after.get(CORE),
        None,
        time.perf_counter() - started,
        _services_of(before),
        _services_of(after),
    )


def _services_of(versions: Mapping[str, str]) -> dict[str, str]:
    return {name: revision for name, revision in sorted(versions.items()) if name != CORE}


# Worker-process state: one event loop and one engine per process, reused across its tasks.
_worker: dict[str, Any] = {}

#: A worker's connection is replaced after migrating this many schemas. Reusing one connection
#: saves a backend start per schema (6 ms of wall and ~10 ms of CPU each on a catalog of 7,849
#: schemas: a migration across all of them took 278-345 s with a connection per schema, 122 s
#: without, bench/scale.py); replacing it bounds the catalog cache the backend keeps of every
#: schema it touched (a migration backend peaks at 40-50 MB).
WORKER_SCHEMAS_PER_CONNECTION = 500


def _worker_init(url: str, installation: str) -> None:
    install(installation)  # a spawned process starts with nothing installed
    loop = asyncio.new_event_loop()
    _worker["loop"] = loop
    _worker["engine"] = create_async_engine(
        asyncpg_url(url), pool_size=1, max_overflow=0, connect_args={"server_settings": dict(COORDINATOR_SETTINGS)}
    )
    _worker["served"] = 0
    # Close the connection when the pool shuts the worker down (it ends with os._exit: no atexit).
    multiprocessing.util.Finalize(None, _worker_close, exitpriority=10)


def _worker_close() -> None:
    _worker["loop"].run_until_complete(_worker["engine"].dispose())


def _worker_run(
    schemas: Sequence[str], locations: dict[str, str], history: str, target: str, down: bool
) -> list[SchemaResult]:
    loop: asyncio.AbstractEventLoop = _worker["loop"]
    engine: AsyncEngine = _worker["engine"]

    async def run() -> list[SchemaResult]:
        results = []
        for schema in schemas:
            if _worker["served"] >= WORKER_SCHEMAS_PER_CONNECTION:
                await engine.dispose()  # the next checkout opens a fresh connection
                _worker["served"] = 0
            results.append(
                await migrate_schema(engine, schema, locations=locations, history=history, target=target, down=down)
            )
            _worker["served"] += 1
        return results

    return loop.run_until_complete(run())


def _resolve_target(location: str, target: str) -> str | None:
    """The revision id ``target`` names ("head", "base", an id or its prefix); None for base.

    Schemas are compared with it, so a symbolic name must not count every schema as behind.
    """
    revision = script_directory("tenant", location).get_revision(target)
    return None if revision is None else str(revision.revision)


def _chunks(items: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


async def migrate_tenants(
    engine: AsyncEngine,
    database_url: str,
    *,
    processes: int = 0,
    location: str | None = None,
    locations: Mapping[str, str] | None = None,
    history: str = CORE,
    target: str | None = None,
    down: bool = False,
    check_only: bool = False,
    verify: bool = False,
) -> MigrateReport:
    """Bring every tenant schema to head along the histories it uses (or move one ``history`` to ``target``).

    A schema is behind when the core or a service it uses (installed or enabled) is not at its
    head; with a ``target`` or another ``history``, when that history of a schema using it is
    not at the target.
    """
    started = time.perf_counter()
    locs = history_locations(location, locations)
    heads = history_heads(locs)
    wanted = _resolve_target(locs[history], target or "head")
    goal = wanted or "base"
    async with engine.connect() as conn:
        states = await schema_states(conn, verify=verify)
    if history == CORE and not down and wanted == heads[CORE]:
        behind = sorted(s for s, state in states.items() if is_behind(state, heads))
    else:
        behind = sorted(s for s, state in states.items() if state.uses(history) and state.revision(history) != wanted)
    report = MigrateReport(head=goal, total=len(states), behind=behind, heads=heads)
    if check_only or not behind:
        report.seconds = time.perf_counter() - started
        return report
    workers = min(processes or os.cpu_count() or 1, len(behind))
    if workers == 1:
        report.results = [
            await migrate_schema(engine, s, locations=locs, history=history, target=goal, down=down) for s in behind
        ]
    else:
        size = max(1, min(50, len(behind) // (workers * 4) or 1))
        loop = asyncio.get_running_loop()
        # spawn, not fork: a forked child would inherit the parent's event loop and open connections.
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(
            workers, ctx, initializer=_worker_init, initargs=(database_url, installed().factory)
        ) as pool:
            futures = [
                loop.run_in_executor(pool, _worker_run, chunk, locs, history, goal, down)
                for chunk in _chunks(behind, size)
            ]
            for chunk_results in await asyncio.gather(*futures):
                report.results.extend(chunk_results)
    report.seconds = time.perf_counter() - started
    return report


def behind_count_sql() -> str:
    """SQL counting the provisioned schemas behind head from the catalog's mirror (one query).

    Parameter ``heads``: a JSON object of every tenant history's head (``core`` and each service).
    The same rule as :func:`is_behind`, evaluated by PostgreSQL for ``/health/ready``.
    """
    return (
        "SELECT count(*) FROM platform.tenants t"
        " WHERE t.schema_revision IS NOT NULL AND t.schema_dropped_at IS NULL AND ("
        " t.schema_revision IS DISTINCT FROM CAST(:heads AS jsonb) ->> 'core'"
        " OR EXISTS (SELECT 1 FROM jsonb_each_text(CAST(:heads AS jsonb)) h"
        "  WHERE h.key <> 'core' AND (t.service_revisions ? h.key OR h.key = ANY (t.enabled_services))"
        "  AND (t.service_revisions ->> h.key) IS DISTINCT FROM h.value))"
    )
