"""Imports every model module so the two metadata trees are complete (migrations, provisioning)."""

from __future__ import annotations

from sqlalchemy import MetaData


def shared_metadata() -> MetaData:
    import localgov.identity.models
    import localgov.kernel.audit
    import localgov.kernel.auth.keys
    import localgov.kernel.jobs
    import localgov.kernel.outbox
    import localgov.kernel.ratelimit
    import localgov.kernel.usage
    import localgov.platform.models  # noqa: F401
    from localgov.kernel.db import SharedBase

    return SharedBase.metadata


def tenant_metadata() -> MetaData:
    import localgov.identity.models
    import localgov.kernel.audit
    import localgov.kernel.documents.register
    import localgov.kernel.idempotency
    import localgov.kernel.numbering
    import localgov.kernel.tenancy
    import localgov.platform.models
    import localgov.plugins
    import localgov.services.payments.models  # noqa: F401  (plugins define their tenant tables on import)
    from localgov.kernel.db import TenantBase

    return TenantBase.metadata
