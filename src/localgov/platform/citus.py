"""Citus mode: the same database layout on a Citus cluster with schema-based sharding.

Each tenant schema is a *distributed schema*: Citus places it whole on one worker node, and a
query whose search path is the tenant's schema is routed to that node. Everything else stays on
the coordinator, where the application connects:

- The shared ``platform`` schema and the fail-closed ``tenant_void`` are plain schemas of the
  coordinator, created and migrated with ``citus.enable_schema_based_sharding`` off in the
  migration's own transaction (whatever the database or server default), so neither is ever
  registered as distributed (a later ``CREATE SCHEMA IF NOT EXISTS`` under sharding would do it).
  :func:`check_shared_local` refuses a database where one of them is.
- Every shared table is a *local table of the coordinator*, none a reference table (the decision
  per table is in docs/operations/citus.md): the catalog has the ``NOTIFY`` trigger (refused on
  distributed and reference tables) and the other shared tables have foreign keys to it; the
  outbox, usage, jobs, rate limits and sessions take writes on most requests, which a reference
  table would replicate to every node in a two-phase commit; and no tenant table references a
  shared one, so no worker needs them.
- Advisory locks, ``LISTEN``/``NOTIFY``, the outbox and the catalog are therefore coordinator-side:
  every process connects to the coordinator only.
- Tenant DDL is sent in as few round trips as Citus accepts (:func:`citus_batches`): it deparses
  ``CREATE TABLE`` and ``CREATE INDEX`` of a distributed schema from the catalog, so a run of them
  (and the ``INSERT`` of the version rows) goes in one multi-statement text; an ``ALTER TABLE`` (or
  any other statement) goes alone, because Citus forwards its text to the worker, which refuses a
  multi-statement one.

The mode is the ``citus`` extension in the database: ``LOCALGOV_DATABASE_KIND=auto`` (default)
detects it, ``citus`` requires it and ``postgresql`` requires its absence (:func:`check_kind`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from localgov.kernel.db import SHARED_SCHEMA, VOID_SCHEMA, validate_schema_name

_INFO_KEY = "localgov_citus"
#: Schemas that must never be distributed.
COORDINATOR_SCHEMAS = (SHARED_SCHEMA, VOID_SCHEMA)
#: How ``citus_schema_move`` copies a schema: ``block_writes`` works on any server (writes to the
#: tenant wait during the copy); ``force_logical`` keeps it writable and needs ``wal_level=logical``.
TRANSFER_MODES = ("block_writes", "force_logical", "auto")


class CitusError(RuntimeError):
    """The database is not what the configuration says, or a cluster operation was refused."""


async def is_citus(conn: AsyncConnection) -> bool:
    """Whether the connected database has the Citus extension (remembered per pooled connection)."""
    info = (await conn.get_raw_connection()).info
    known = info.get(_INFO_KEY)
    if known is None:
        known = bool(
            (await conn.execute(text("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus')"))).scalar()
        )
        info[_INFO_KEY] = known
    return bool(known)


async def check_kind(conn: AsyncConnection, kind: str) -> bool:
    """``LOCALGOV_DATABASE_KIND`` against the database; returns whether it is Citus."""
    citus = await is_citus(conn)
    if kind == "citus" and not citus:
        raise CitusError("LOCALGOV_DATABASE_KIND=citus but the database has no citus extension")
    if kind == "postgresql" and citus:
        raise CitusError(
            "LOCALGOV_DATABASE_KIND=postgresql but the database has the citus extension"
            " (set LOCALGOV_DATABASE_KIND=citus or auto)"
        )
    return citus


async def sharding(conn: AsyncConnection, on: bool) -> None:
    """Schema-based sharding on or off for the rest of the caller's transaction (Citus only)."""
    await conn.execute(
        text("SELECT set_config('citus.enable_schema_based_sharding', :v, true)"), {"v": "on" if on else "off"}
    )


async def prepare_ddl(conn: AsyncConnection, *, distribute: bool = False) -> None:
    """Settings of a transaction that creates or alters a tenant schema's tables on Citus, in one
    round trip.

    ``sequential``: the DDL of one schema goes to its one worker over one connection (the
    parallel mode would open several for nothing: a schema is one shard group). ``distribute``:
    schema-based sharding on as well, so that the schema created next is a distributed schema.
    """
    if distribute:
        await conn.execute(
            text(
                "SELECT set_config('citus.multi_shard_modify_mode', 'sequential', true),"
                " set_config('citus.enable_schema_based_sharding', 'on', true)"
            )
        )
    else:
        await conn.execute(text("SELECT set_config('citus.multi_shard_modify_mode', 'sequential', true)"))


#: Statements that Citus accepts inside a multi-statement text in a distributed schema: it builds
#: what it sends to the worker from the catalog (``CREATE TABLE``: the shard's table and its
#: constraints, inline foreign keys included; ``CREATE INDEX``: the shard's index), not from the
#: text, and the ``INSERT`` of a version row is an ordinary routed write. Each is still a
#: top-level statement (the simple protocol runs every statement of a text at top level, which
#: Citus requires to make a new table of a distributed schema distributed; a ``DO`` block is not
#: top level and leaves them local).
_BATCHABLE = re.compile(r"\s*(CREATE\s+TABLE|CREATE\s+(UNIQUE\s+)?INDEX|INSERT\s+INTO)\s", re.IGNORECASE)


def citus_batches(statements: Iterable[str]) -> list[str]:
    """``statements`` as the fewest texts Citus accepts, in order: each run of batchable statements
    (:data:`_BATCHABLE`) joined into one multi-statement text, every other statement alone.

    An ``ALTER TABLE … ADD CONSTRAINT`` must go alone: Citus forwards its text to the worker
    (``worker_apply_inter_shard_ddl_command``), which refuses a text of several statements ("cannot
    execute multiple utility events"; "cannot insert multiple commands into a prepared statement"
    through the extended protocol).
    """
    batches: list[str] = []
    run: list[str] = []
    for statement in statements:
        if _BATCHABLE.match(statement):
            run.append(statement)
            continue
        if run:
            batches.append(";\n".join(run))
            run = []
        batches.append(statement)
    if run:
        batches.append(";\n".join(run))
    return batches


async def execute_script(conn: AsyncConnection, statements: Sequence[str], *, citus: bool) -> None:
    """Run DDL statements in the caller's transaction: one multi-statement round trip on plain
    PostgreSQL, the fewest Citus accepts on Citus (:func:`citus_batches`: ~3 for a tenant schema
    instead of one per statement)."""
    raw: Any = await conn.get_raw_connection()
    driver = raw.driver_connection
    # asyncpg runs a parameterless text in one round trip with the simple protocol (no prepared
    # statement), every statement of it at top level.
    for batch in citus_batches(statements) if citus else [";\n".join(statements)]:
        await driver.execute(batch)


async def check_shared_local(conn: AsyncConnection) -> list[str]:
    """Shared schemas or tables that Citus distributes (should be none): ``schema`` or ``schema.table``."""
    rows = (
        await conn.execute(
            text(
                "SELECT nspname FROM pg_dist_schema JOIN pg_namespace n ON n.oid = schemaid"
                " WHERE nspname = ANY (:s)"
                " UNION ALL SELECT logicalrelid::regclass::text FROM pg_dist_partition p"
                " JOIN pg_class c ON c.oid = p.logicalrelid"
                " WHERE c.relnamespace = ANY (SELECT oid FROM pg_namespace WHERE nspname = ANY (:s))"
            ),
            {"s": list(COORDINATOR_SCHEMAS)},
        )
    ).scalars()
    return sorted(str(r) for r in rows)


async def undistribute_shared(conn: AsyncConnection) -> list[str]:
    """Make a shared schema that an earlier run let Citus distribute local again; returns which."""
    fixed = []
    for schema in COORDINATOR_SCHEMAS:
        registered = (
            await conn.execute(
                text("SELECT EXISTS (SELECT 1 FROM pg_dist_schema WHERE schemaid = to_regnamespace(:s))"),
                {"s": schema},
            )
        ).scalar()
        if registered:
            await conn.execute(text("SELECT citus_schema_undistribute(CAST(:s AS regnamespace))"), {"s": schema})
            fixed.append(schema)
    return fixed


class WorkerNode(msgspec.Struct, frozen=True):
    """A worker of the cluster and the tenant schemas it holds."""

    host: str
    port: int
    schemas: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return f"{self.host}:{self.port}"


async def workers(conn: AsyncConnection) -> list[WorkerNode]:
    """The active primary workers (coordinator excluded), each with its tenant schemas, by name."""
    nodes = (
        await conn.execute(
            text(
                "SELECT nodename, nodeport, groupid FROM pg_dist_node"
                " WHERE isactive AND noderole = 'primary' AND groupid <> 0 ORDER BY nodename, nodeport"
            )
        )
    ).all()
    placed = await schema_placements(conn)
    return [
        WorkerNode(
            host=str(n.nodename),
            port=int(n.nodeport),
            schemas=tuple(sorted(s for s, where in placed.items() if where == (n.nodename, n.nodeport))),
        )
        for n in nodes
    ]


async def schema_placements(conn: AsyncConnection, schemas: Iterable[str] | None = None) -> dict[str, tuple[str, int]]:
    """Distributed schema -> the node (host, port) holding it (schemas without a table: left out)."""
    rows = (
        await conn.execute(
            text(
                "SELECT DISTINCT ON (n.nspname) n.nspname, nd.nodename, nd.nodeport"
                " FROM pg_dist_schema ds JOIN pg_namespace n ON n.oid = ds.schemaid"
                " JOIN pg_dist_partition p ON p.colocationid = ds.colocationid"
                " JOIN pg_dist_shard sh ON sh.logicalrelid = p.logicalrelid"
                " JOIN pg_dist_placement pl ON pl.shardid = sh.shardid"
                " JOIN pg_dist_node nd ON nd.groupid = pl.groupid"
                " WHERE CAST(:all AS boolean) OR n.nspname = ANY (:s)"
                " ORDER BY n.nspname"
            ),
            {"all": schemas is None, "s": list(schemas or ())},
        )
    ).all()
    return {str(r.nspname): (str(r.nodename), int(r.nodeport)) for r in rows}


class ClusterHealth(msgspec.Struct, frozen=True):
    workers: int
    unreachable: tuple[str, ...]


async def cluster_health(conn: AsyncConnection, timeout_ms: int) -> ClusterHealth:
    """Whether the coordinator reaches every active worker (one ``SELECT 1`` on each, bounded)."""
    await conn.execute(text("SELECT set_config('citus.node_connection_timeout', :t, true)"), {"t": str(timeout_ms)})
    rows = (
        await conn.execute(
            text(
                "SELECT n.nodename, n.nodeport, r.success FROM pg_dist_node n"
                " LEFT JOIN run_command_on_workers('SELECT 1') r"
                "  ON r.nodename = n.nodename AND r.nodeport = n.nodeport"
                " WHERE n.isactive AND n.noderole = 'primary' AND n.groupid <> 0"
            )
        )
    ).all()
    down = tuple(sorted(f"{r.nodename}:{r.nodeport}" for r in rows if not r.success))
    return ClusterHealth(workers=len(rows), unreachable=down)


async def move_schema(conn: AsyncConnection, schema: str, host: str, port: int, mode: str = "block_writes") -> None:
    """Move a tenant schema (all its tables) to the worker ``host:port`` with ``citus_schema_move``.

    Runs outside a transaction block (Citus copies the shards and then switches the metadata);
    the caller's connection must be in autocommit mode.
    """
    if mode not in TRANSFER_MODES:
        raise CitusError(f"unknown transfer mode {mode!r} (one of {', '.join(TRANSFER_MODES)})")
    schema = validate_schema_name(schema)
    await conn.execute(
        text("SELECT citus_schema_move(CAST(:s AS regnamespace), :h, :p, CAST(:m AS citus.shard_transfer_mode))"),
        {"s": schema, "h": host, "p": port, "m": mode},
    )


class MoveResult(msgspec.Struct, frozen=True):
    slug: str
    schema: str
    source: str
    target: str
    seconds: float


async def move_tenant(engine: AsyncEngine, slug: str, target: str, mode: str = "block_writes") -> MoveResult:
    """Move tenant ``slug``'s schema to the worker ``target`` (``host:port``), for an LAO that grew.

    Under the schema's migration lock (a migration or a service being enabled waits, and the move
    waits for them); Citus copies the schema's tables to the target and switches its metadata,
    so the coordinator routes the tenant's queries there from then on; the source's copy is
    dropped before returning. The catalog row's
    ``updated_at`` is touched (routers reload it) and the operator's audit log records the move.
    """
    from localgov.kernel.audit import Actor, Origin, record_audit
    from localgov.kernel.db import session_factory, tenant_session

    host, _, port_text = target.rpartition(":")
    if not host or not port_text.isdigit():
        raise CitusError(f"the target worker is host:port, not {target!r}")
    port = int(port_text)
    started = time.perf_counter()
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        if not await is_citus(conn):
            raise CitusError("the database is not a Citus coordinator")
        schema = (
            await conn.execute(
                text("SELECT schema_name FROM platform.tenants WHERE slug = :s AND schema_dropped_at IS NULL"),
                {"s": slug},
            )
        ).scalar()
        if schema is None:
            raise CitusError(f"no tenant {slug!r} with a schema in the catalog")
        nodes = {w.name for w in await workers(conn)}
        if f"{host}:{port}" not in nodes:
            raise CitusError(f"{host}:{port} is not an active worker (workers: {', '.join(sorted(nodes))})")
        placed = (await schema_placements(conn, [schema])).get(schema)
        if placed is None:
            raise CitusError(f"{schema} is not a distributed schema")
        source = f"{placed[0]}:{placed[1]}"
        if source == f"{host}:{port}":
            raise CitusError(f"{slug} ({schema}) is on {source} already")
        key = {"k": f"localgov:migrate:{schema}"}
        await conn.execute(text("SELECT pg_advisory_lock(hashtext(:k))"), key)
        try:
            await move_schema(conn, schema, host, port, mode)
        finally:
            await conn.execute(text("SELECT pg_advisory_unlock(hashtext(:k))"), key)
        # The source's copy is only marked for a deferred drop by Citus: dropped now, so the
        # tenant's rows are on one worker only when the command returns.
        await conn.execute(text("CALL citus_cleanup_orphaned_resources()"))
        await conn.execute(text("UPDATE platform.tenants SET updated_at = now() WHERE schema_name = :s"), {"s": schema})
    seconds = time.perf_counter() - started
    async with tenant_session(session_factory(engine), None) as session:
        await record_audit(
            session,
            "tenant.moved",
            actor=Actor("system", "cli"),
            origin=Origin(),
            target=slug,
            data={"schema": schema, "from": source, "to": f"{host}:{port}", "seconds": round(seconds, 2)},
            operator=True,
        )
    return MoveResult(slug=slug, schema=schema, source=source, target=f"{host}:{port}", seconds=seconds)
