"""Migrations: the shared history once, the tenant history in every tenant schema.

Tenant schemas are upgraded one transaction per schema, each under an advisory lock keyed by the
schema, by several worker processes at once (Alembic keeps module-global state and is not
thread-safe). A schema whose migration fails is rolled back to its old revision and reported by
name; the others go on. Running again resumes: only schemas that are behind are touched. Whether
anything is behind is decided by reading every schema's ``alembic_version`` in a few batched
queries, so a no-op run over thousands of schemas takes a second or two.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import multiprocessing.util
import os
import time
from collections.abc import Iterable, Sequence
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
from localgov.kernel.db import asyncpg_url, quote_schema, validate_schema_name
from localgov.metadata import tenant_metadata

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
    head = script_directory("tenant", location).get_current_head()
    if head is None:
        raise RuntimeError("the tenant history has no revisions")
    return head


# --- shared schema -----------------------------------------------------------------------------


async def upgrade_shared(engine: AsyncEngine) -> None:
    """Bring the shared schema to head (Alembic's usual env.py path, one transaction)."""
    from alembic import command

    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_root() / "shared"))
    async with engine.begin() as conn:
        # Two processes starting at once must not both create the schema.
        await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('localgov:migrate:shared'))"))

        def run(sync_conn: Connection) -> None:
            cfg.attributes["connection"] = sync_conn
            command.upgrade(cfg, "head")

        await conn.run_sync(run)


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
    from_revision: str | None
    to_revision: str | None
    error: str | None = None
    seconds: float = 0.0


class MigrateReport(msgspec.Struct):
    head: str
    total: int
    behind: list[str]
    results: list[SchemaResult] = msgspec.field(default_factory=list)
    seconds: float = 0.0

    @property
    def failed(self) -> list[SchemaResult]:
        return [r for r in self.results if not r.ok]


async def tenant_revisions(conn: AsyncConnection, *, verify: bool = False) -> dict[str, str | None]:
    """Every provisioned tenant schema and its revision (None: at base, or its schema is gone).

    A closed tenant whose schema the purge dropped on purpose (``schema_dropped_at``) is not
    listed: there is nothing to migrate. A schema gone for any other reason is reported.

    By default the revision is the catalog's mirror (``platform.tenants.schema_revision``), which
    provisioning and every migration write in the same transaction as the schema's DDL: one query
    for any number of tenants. ``verify`` reads each schema's own ``alembic_version`` instead
    (batched ``UNION ALL``), which costs a relation open per schema on a cold connection (about
    0.2 ms each) and catches a schema changed behind the platform's back; it ends the connection's
    transaction after each batch, so that no transaction holds a lock on every schema.
    """
    rows = (
        await conn.execute(
            text(
                "SELECT t.schema_name, t.schema_revision, n.oid IS NOT NULL AS present"
                " FROM platform.tenants t LEFT JOIN pg_namespace n ON n.nspname = t.schema_name"
                " WHERE t.schema_dropped_at IS NULL"
                " ORDER BY t.schema_name"
            )
        )
    ).all()
    # A schema absent with no revision was never provisioned: that is provisioning's business.
    out: dict[str, str | None] = {
        schema: (revision if present else None) for schema, revision, present in rows if present or revision
    }
    if not verify:
        return out
    names = (
        (
            await conn.execute(
                text(
                    "SELECT t.schema_name FROM platform.tenants t"
                    " JOIN pg_namespace n ON n.nspname = t.schema_name"
                    " JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = 'alembic_version'"
                    " WHERE t.schema_dropped_at IS NULL"
                    " ORDER BY t.schema_name"
                )
            )
        )
        .scalars()
        .all()
    )
    for schema in out:
        out[schema] = None
    for start in range(0, len(names), _STATUS_BATCH):
        chunk = [validate_schema_name(n) for n in names[start : start + _STATUS_BATCH]]
        # Names come from the catalog and are validated against ^lao_[0-9]{7}$ before quoting.
        sql = " UNION ALL ".join(
            f"SELECT '{n}' AS s, (SELECT max(version_num) FROM {quote_schema(n)}.alembic_version) AS v"  # noqa: S608
            for n in chunk
        )
        for schema, version in (await conn.execute(text(sql))).all():
            out[schema] = version
        await conn.commit()  # read-only: releases the batch's locks
    return out


def _alembic_upgrade(sync_conn: Connection, schema: str, location: str | None, target: str) -> None:
    script = script_directory("tenant", location)

    def upgrade(rev: Any, _context: Any) -> Any:
        return script._upgrade_revs(target, rev)

    cfg = Config()
    with EnvironmentContext(cfg, script, fn=upgrade, destination_rev=target) as env:
        env.configure(
            connection=sync_conn,
            target_metadata=tenant_metadata(),
            version_table_schema=schema,
            transactional_ddl=True,
        )
        _known_version_table(env, sync_conn, schema)
        # Already inside the per-schema transaction: Alembic starts none of its own.
        with env.begin_transaction():
            env.run_migrations()


def _alembic_downgrade(sync_conn: Connection, schema: str, location: str | None, target: str) -> None:
    script = script_directory("tenant", location)

    def downgrade(rev: Any, _context: Any) -> Any:
        return script._downgrade_revs(target, rev)

    cfg = Config()
    with EnvironmentContext(cfg, script, fn=downgrade, destination_rev=target) as env:
        env.configure(connection=sync_conn, version_table_schema=schema, transactional_ddl=True)
        _known_version_table(env, sync_conn, schema)
        with env.begin_transaction():
            env.run_migrations()


def _known_version_table(env: EnvironmentContext, sync_conn: Connection, schema: str) -> None:
    """Tell Alembic that ``schema`` has its version table instead of letting it ask the catalog.

    Alembic asks with a ``pg_class JOIN pg_namespace`` query by table name. With 7,849 schemas
    there are 7,849 ``alembic_version`` rows in ``pg_class``, and on catalog statistics older than
    the schemas (no ANALYZE since they were created, e.g. autovacuum off) the planner walks all of
    them: 16 ms per schema, three quarters of the server time of a migration across every schema
    (0.05 ms once ANALYZEd). ``to_regclass`` is a catalog cache lookup whatever the statistics.
    """
    table = f"{quote_schema(schema)}.alembic_version"
    if sync_conn.execute(text("SELECT to_regclass(:t)"), {"t": table}).scalar() is not None:
        context = env.get_context()
        context._has_version_table = lambda: True  # type: ignore[method-assign]


async def _current_revision(conn: AsyncConnection, schema: str) -> str | None:
    """The revision in ``schema``'s ``alembic_version`` (None: no table yet, or an empty one)."""
    table = f"{quote_schema(schema)}.alembic_version"
    if (await conn.execute(text("SELECT to_regclass(:t)"), {"t": table})).scalar() is None:
        return None
    # ``table`` is built from a validated schema name only.
    revision: str | None = (await conn.execute(text(f"SELECT max(version_num) FROM {table}"))).scalar()  # noqa: S608
    return revision


async def migrate_schema(
    engine: AsyncEngine, schema: str, *, location: str | None = None, target: str = "head", down: bool = False
) -> SchemaResult:
    """Move one tenant schema to ``target`` in one transaction under its advisory lock."""
    schema = validate_schema_name(schema)
    started = time.perf_counter()
    before: str | None = None
    try:
        async with engine.begin() as conn:
            await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('localgov:migrate:' || :s))"), {"s": schema})
            if not (await conn.execute(text("SELECT to_regnamespace(:s) IS NOT NULL"), {"s": schema})).scalar():
                raise LookupError(f"schema {schema} does not exist")
            await conn.execute(text("SELECT set_config('search_path', :s, true)"), {"s": schema})
            before = await _current_revision(conn, schema)
            fn = _alembic_downgrade if down else _alembic_upgrade
            await conn.run_sync(fn, schema, location, target)
            after = await _current_revision(conn, schema)
            await conn.execute(
                text("UPDATE platform.tenants SET schema_revision = :r WHERE schema_name = :s"),
                {"r": after, "s": schema},
            )
    except Exception as exc:
        return SchemaResult(
            schema, False, before, before, f"{type(exc).__name__}: {exc}"[:2000], time.perf_counter() - started
        )
    return SchemaResult(schema, True, before, after, None, time.perf_counter() - started)


# Worker-process state: one event loop and one engine per process, reused across its tasks.
_worker: dict[str, Any] = {}

#: A worker's connection is replaced after migrating this many schemas. Reusing one connection
#: saves a backend start per schema (6 ms of wall and ~10 ms of CPU each on a catalog of 7,849
#: schemas: a migration across all of them took 278-345 s with a connection per schema, 122 s
#: without, bench/scale.py); replacing it bounds the catalog cache the backend keeps of every
#: schema it touched (a migration backend peaks at 40-50 MB).
WORKER_SCHEMAS_PER_CONNECTION = 500


def _worker_init(url: str) -> None:
    loop = asyncio.new_event_loop()
    _worker["loop"] = loop
    _worker["engine"] = create_async_engine(asyncpg_url(url), pool_size=1, max_overflow=0)
    _worker["served"] = 0
    # Close the connection when the pool shuts the worker down (it ends with os._exit: no atexit).
    multiprocessing.util.Finalize(None, _worker_close, exitpriority=10)


def _worker_close() -> None:
    _worker["loop"].run_until_complete(_worker["engine"].dispose())


def _worker_run(schemas: Sequence[str], location: str | None, target: str, down: bool) -> list[SchemaResult]:
    loop: asyncio.AbstractEventLoop = _worker["loop"]
    engine: AsyncEngine = _worker["engine"]

    async def run() -> list[SchemaResult]:
        results = []
        for schema in schemas:
            if _worker["served"] >= WORKER_SCHEMAS_PER_CONNECTION:
                await engine.dispose()  # the next checkout opens a fresh connection
                _worker["served"] = 0
            results.append(await migrate_schema(engine, schema, location=location, target=target, down=down))
            _worker["served"] += 1
        return results

    return loop.run_until_complete(run())


def _resolve_target(location: str | None, target: str) -> str | None:
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
    target: str | None = None,
    down: bool = False,
    check_only: bool = False,
    verify: bool = False,
) -> MigrateReport:
    """Upgrade (or downgrade to ``target``) every tenant schema that is not already there."""
    started = time.perf_counter()
    wanted = _resolve_target(location, target or "head")
    goal = wanted or "base"
    async with engine.connect() as conn:
        revisions = await tenant_revisions(conn, verify=verify)
    behind = sorted(s for s, rev in revisions.items() if rev != wanted)
    report = MigrateReport(head=goal, total=len(revisions), behind=behind)
    if check_only or not behind:
        report.seconds = time.perf_counter() - started
        return report
    workers = min(processes or os.cpu_count() or 1, len(behind))
    if workers == 1:
        report.results = [await migrate_schema(engine, s, location=location, target=goal, down=down) for s in behind]
    else:
        size = max(1, min(50, len(behind) // (workers * 4) or 1))
        loop = asyncio.get_running_loop()
        # spawn, not fork: a forked child would inherit the parent's event loop and open connections.
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, ctx, initializer=_worker_init, initargs=(database_url,)) as pool:
            futures = [
                loop.run_in_executor(pool, _worker_run, chunk, location, goal, down) for chunk in _chunks(behind, size)
            ]
            for chunk_results in await asyncio.gather(*futures):
                report.results.extend(chunk_results)
    report.seconds = time.perf_counter() - started
    return report
