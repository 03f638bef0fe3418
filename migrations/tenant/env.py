"""Alembic environment of the core tenant history (the tables every tenant schema has).

``localgov migrate`` does not go through this file: its runner drives Alembic directly, one
transaction per tenant schema. This file serves developers who autogenerate a revision against a
single template schema: ``alembic -c migrations/alembic.ini -n tenant -x schema=lao_template revision --autogenerate``.
The tables of the service plugins are left out: each plugin's own history (in its package) has them.
"""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import context
from sqlalchemy import Connection, text

from localgov.kernel.db import validate_schema_name
from localgov.metadata import core_tables, tenant_metadata

config = context.config
schema = validate_schema_name(context.get_x_argument(as_dictionary=True).get("schema", "lao_0000000"))


core = {table.name for table in core_tables()}


def include_object(obj: Any, name: str | None, type_: str, _reflected: bool, _compare_to: Any) -> bool:
    """Core tables only (and what hangs off them): neither version tables nor a service's tables."""
    table = obj if type_ == "table" else getattr(obj, "table", None)
    return table is None or getattr(table, "name", name) in core


def run_with(connection: Connection) -> None:
    connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    connection.execute(text("SELECT set_config('search_path', :p, true)"), {"p": schema})
    context.configure(
        connection=connection,
        target_metadata=tenant_metadata(),
        version_table_schema=schema,
        include_schemas=False,
        include_object=include_object,
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


asyncio.run(run_online(config.get_main_option("sqlalchemy.url") or ""))
