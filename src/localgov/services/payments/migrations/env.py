"""Alembic environment of the payments service's tenant history (version table ``alembic_version_payments``).

``localgov migrate`` and provisioning do not go through this file: the platform's runner drives
Alembic directly. It serves developers who autogenerate a revision against a template schema that
has the core tables and the payments tables at head (from the folder of this file)::

    alembic -c alembic.ini -x schema=lao_0000000 revision --autogenerate -m "..."
"""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import context
from sqlalchemy import Connection, text

from localgov.kernel.db import TenantBase, asyncpg_url, validate_schema_name
from localgov.services.payments import PLUGIN

config = context.config
schema = validate_schema_name(context.get_x_argument(as_dictionary=True).get("schema", "lao_0000000"))
owned = {table.name for table in PLUGIN.tables}


def include_object(obj: Any, name: str | None, type_: str, _reflected: bool, _compare_to: Any) -> bool:
    """Only the payments tables (and what hangs off them) belong to this history."""
    table = obj if type_ == "table" else getattr(obj, "table", None)
    return getattr(table, "name", name) in owned


def run_with(connection: Connection) -> None:
    connection.execute(text("SELECT set_config('search_path', :p, true)"), {"p": schema})
    context.configure(
        connection=connection,
        target_metadata=TenantBase.metadata,
        version_table=f"alembic_version_{PLUGIN.slug}",
        version_table_schema=schema,
        include_schemas=False,
        include_object=include_object,
        compare_server_default=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_online(url: str) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(asyncpg_url(url))
    async with engine.begin() as conn:
        await conn.run_sync(run_with)
    await engine.dispose()


asyncio.run(run_online(config.get_main_option("sqlalchemy.url") or ""))
