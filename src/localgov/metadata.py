"""Imports every model module so the two metadata trees are complete (migrations, provisioning),
and tells the core tenant tables from the tables of the services."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from sqlalchemy import MetaData, Table

if TYPE_CHECKING:
    from localgov.kernel.plugins import ServicePlugin
    from localgov.platform.installation import Installation


def shared_metadata() -> MetaData:
    import localgov.identity.models
    import localgov.kernel.audit
    import localgov.kernel.auth.keys
    import localgov.kernel.auth.revocations
    import localgov.kernel.idempotency
    import localgov.kernel.jobs
    import localgov.kernel.outbox
    import localgov.kernel.ratelimit
    import localgov.kernel.usage
    import localgov.platform.billing.models
    import localgov.platform.models
    import localgov.services.saraban.exchange
    import localgov.services.saraban.models  # noqa: F401  (the operator's directory of outside agencies, exchange keys)
    from localgov.kernel.db import SharedBase

    return SharedBase.metadata


def tenant_metadata() -> MetaData:
    import localgov.identity.models
    import localgov.kernel.audit
    import localgov.kernel.calendar
    import localgov.kernel.cases.models
    import localgov.kernel.documents.pades
    import localgov.kernel.documents.register
    import localgov.kernel.idempotency
    import localgov.kernel.notifications
    import localgov.kernel.numbering
    import localgov.kernel.storage
    import localgov.kernel.tenancy
    import localgov.kernel.webhooks.models
    import localgov.platform.models
    import localgov.plugins
    import localgov.services.oss.models
    import localgov.services.payments.models  # noqa: F401  (plugins define their tenant tables on import)
    from localgov.kernel.db import TenantBase

    return TenantBase.metadata


def service_plugins() -> tuple[ServicePlugin, ...]:
    """The registry's service plugins: whose tables and tenant histories the platform knows."""
    from localgov.plugins import REGISTRY

    return REGISTRY


def core_tables(plugins: Iterable[ServicePlugin] = ()) -> list[Table]:
    """The tables every tenant schema has: the tenant metadata minus the tables of every service.

    A service's tables are created only in the schemas of tenants that enabled it (by its own
    history, :attr:`ServicePlugin.migrations`). ``plugins`` adds services outside the registry
    (tests) whose tables are on the tenant metadata too.
    """
    metadata = tenant_metadata()
    owned = {table.name for plugin in (*service_plugins(), *plugins) for table in plugin.tables}
    return [table for table in metadata.sorted_tables if table.name not in owned]


#: What the composition roots (cli, app, tests) pass to ``localgov.platform.installation.install``.
INSTALLATION = "localgov.metadata:installation"


def installation(factory: str = INSTALLATION) -> Installation:
    """The core tenant tables and the registry's service plugins, for the platform."""
    from localgov.platform.installation import Installation

    return Installation(
        metadata=tenant_metadata(), core_tables=tuple(core_tables()), plugins=service_plugins(), factory=factory
    )
