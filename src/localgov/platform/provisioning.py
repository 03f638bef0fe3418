"""Provisioning: a tenant schema created at head in one transaction, in one round trip of DDL.

The head DDL is rendered once per process from the tenant metadata (the same metadata the
migrations are checked against: a test proves a provisioned schema equals a migrated one), sent
as one multi-statement script, and the schema is stamped at the tenant head revision in the same
transaction. The schema is created in its own statement, as Citus schema-based sharding requires.
"""

from __future__ import annotations

import time
from functools import cache
from typing import Any

import msgspec
from sqlalchemy import MetaData, create_mock_engine, text
from sqlalchemy.ext.asyncio import AsyncConnection

from localgov.kernel.db import quote_schema, validate_schema_name
from localgov.metadata import tenant_metadata
from localgov.platform.migrate import tenant_head

ALEMBIC_VERSION_DDL = (
    "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
    "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
)


def render_ddl(metadata: MetaData) -> str:
    """``metadata`` as one SQL script of unqualified DDL, exactly what ``create_all`` would run.

    Replaying ``create_all`` against a mock engine (rather than compiling each ``CREATE TABLE``)
    also emits what a table needs besides itself: enum types, sequences, indexes, comments,
    foreign keys that close a cycle (``use_alter``) and ``after_create`` DDL such as triggers.
    """
    statements = [ALEMBIC_VERSION_DDL]

    def collect(sql: Any, *_multiparams: Any, **_params: Any) -> None:
        statements.append(str(sql.compile(dialect=engine.dialect)).strip())

    engine = create_mock_engine("postgresql+asyncpg://", collect)
    metadata.create_all(engine, checkfirst=False)
    return ";\n".join(statements) + ";"


@cache
def head_ddl() -> str:
    """The tenant schema at head as one SQL script of unqualified DDL."""
    return render_ddl(tenant_metadata())


class ProfileSeed(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The public contact details a tenant starts with (editable later by its staff)."""

    address_th: str | None = None
    phone: str | None = None
    email: str | None = None
    website: str | None = None
    office_hours_th: str | None = None


async def provision_schema(conn: AsyncConnection, schema: str, seed: ProfileSeed | None = None) -> float:
    """Create ``schema`` at head, stamped and seeded, inside the caller's transaction.

    Returns the seconds spent. The catalog row must already exist; its ``schema_revision`` is
    set here, which is what makes the tenant routable.
    """
    schema = validate_schema_name(schema)
    started = time.perf_counter()
    head = tenant_head()
    await conn.execute(text(f"CREATE SCHEMA {quote_schema(schema)}"))
    await conn.execute(text("SELECT set_config('search_path', :s, true)"), {"s": schema})
    raw: Any = await conn.get_raw_connection()
    # asyncpg runs a parameterless multi-statement script in one round trip (simple protocol).
    await raw.driver_connection.execute(head_ddl())
    seed = seed or ProfileSeed()
    await conn.execute(text("INSERT INTO alembic_version (version_num) VALUES (:v)"), {"v": head})
    await conn.execute(
        text(
            "INSERT INTO profile (id, address_th, phone, email, website, office_hours_th)"
            " VALUES (1, :address_th, :phone, :email, :website, :office_hours_th)"
        ),
        msgspec.structs.asdict(seed),
    )
    await conn.execute(
        text("UPDATE platform.tenants SET schema_revision = :v, updated_at = now() WHERE schema_name = :s"),
        {"v": head, "s": schema},
    )
    await conn.execute(text("SELECT set_config('search_path', 'tenant_void', true)"))
    return time.perf_counter() - started
