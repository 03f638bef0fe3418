"""The Alembic environment of a tenant history, for developers who autogenerate a revision.

``localgov migrate`` and provisioning never go through an ``env.py``: the platform's runner drives
Alembic directly. A history's ``env.py`` (the core's in ``migrations/tenant``, each service's in
its package) is one call to :func:`run_autogenerate_env`, against a template schema named with
``-x schema=lao_0000000`` that holds the tables of that history at head.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from typing import Any

from sqlalchemy import Connection, MetaData, text

from localgov.kernel.db import asyncpg_url, validate_schema_name


def run_autogenerate_env(
    *, metadata: MetaData, tables: Collection[str], version_table: str = "alembic_version"
) -> None:
    """Run Alembic's online environment for the history whose tables are ``tables`` (by name)."""
    from alembic import context

    config = context.config
    schema = validate_schema_name(context.get_x_argument(as_dictionary=True).get("schema", "lao_0000000"))
    owned = set(tables)

    def include_object(obj: Any, name: str | None, type_: str, _reflected: bool, _compare_to: Any) -> bool:
        """This history's tables only (and what hangs off them): not the version tables, not other histories'."""
        table = obj if type_ == "table" else getattr(obj, "table", None)
        return getattr(table, "name", name) in owned

    def run_with(connection: Connection) -> None:
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        connection.execute(text("SELECT set_config('search_path', :p, true)"), {"p": schema})
        context.configure(
            connection=connection,
            target_metadata=metadata,
            version_table=version_table,
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
