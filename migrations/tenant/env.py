"""Alembic environment of the core tenant history (the tables every tenant schema has).

For developers who autogenerate a revision against a single template schema:
``alembic -c migrations/alembic.ini -n tenant -x schema=lao_template revision --autogenerate``.
The tables of the service plugins are left out: each plugin's own history (in its package) has them.
"""

from __future__ import annotations

from localgov.kernel.migrations import run_autogenerate_env
from localgov.metadata import core_tables, tenant_metadata

run_autogenerate_env(metadata=tenant_metadata(), tables=[table.name for table in core_tables()])
