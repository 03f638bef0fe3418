"""Alembic environment of the shared ``platform`` schema (catalog, outbox, usage, jobs)."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection, text

from localgov.kernel.db import SHARED_SCHEMA
from localgov.metadata import shared_metadata

config = context.config


def run_with(connection: Connection) -> None:
    # The version table lives in the shared schema, so the schema must exist before Alembic starts.
    connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{SHARED_SCHEMA}"'))
    context.configure(
        connection=connection,
        target_metadata=shared_metadata(),
        version_table_schema=SHARED_SCHEMA,
        include_schemas=True,
        include_name=lambda name, type_, _parent: type_ != "schema" or name == SHARED_SCHEMA,
        compare_server_default=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_online(url: str) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    from localgov.kernel.db import asyncpg_url

    engine = create_async_engine(asyncpg_url(url))
    async with engine.begin() as conn:
        await conn.run_sync(run_with)
    await engine.dispose()


connection = config.attributes.get("connection")
if connection is not None:
    run_with(connection)
else:
    asyncio.run(run_online(config.get_main_option("sqlalchemy.url") or ""))
