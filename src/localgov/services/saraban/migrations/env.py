"""Alembic environment of the saraban service's tenant history (version table ``alembic_version_saraban``).

For developers who autogenerate a revision against a template schema that has the core tables and
the saraban tables at head (from the folder of this file)::

    alembic -c alembic.ini -x schema=lao_0000000 revision --autogenerate -m "..."
"""

from __future__ import annotations

from localgov.kernel.db import TenantBase
from localgov.kernel.migrations import run_autogenerate_env
from localgov.services.saraban import PLUGIN

run_autogenerate_env(
    metadata=TenantBase.metadata,
    tables=[table.name for table in PLUGIN.tables],
    version_table=f"alembic_version_{PLUGIN.slug}",
)
