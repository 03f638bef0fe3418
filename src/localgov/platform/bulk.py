"""Bulk provisioning of LAOs from the DLA registry (pre-registration of the whole country).

Resumable by construction: every LAO is created in its own transaction, and the ones already in
the catalog are skipped, so an interrupted run is finished by running it again. Two runs at once
create each LAO once: the catalog's unique index makes the later insert wait for the earlier commit,
and the later run counts the LAO as skipped. Several LAOs are
provisioned at once on separate connections; the work is DDL on the server, so a few connections
keep it busy.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable, Sequence

import msgspec
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.kernel.plugins import ServicePlugin
from localgov.platform.installation import installed
from localgov.platform.models import Tenant
from localgov.platform.registry import LAO_TYPES, RegistryEntry, registry
from localgov.platform.tenants import TenantSpec, create_tenant

#: Unique constraints that say "this LAO is in the catalog already" (not a failure of ours).
_ALREADY_THERE = ("uq_tenants_dla_code", "uq_tenants_schema_name")


class BulkReport(msgspec.Struct):
    created: int = 0
    #: Already in the catalog: when the run started, or created meanwhile by someone else.
    skipped: int = 0
    #: Of ``skipped``, those created meanwhile (a concurrent run, a signup): each LAO is created once.
    raced: int = 0
    failed: list[str] = msgspec.field(default_factory=list)
    seconds: float = 0.0
    #: Wall time of each tenant's transaction, in seconds.
    per_tenant: list[float] = msgspec.field(default_factory=list)

    def quantile(self, q: float) -> float:
        if not self.per_tenant:
            return 0.0
        if len(self.per_tenant) == 1:
            return self.per_tenant[0]
        return statistics.quantiles(self.per_tenant, n=100, method="inclusive")[round(q * 100) - 1]


def registry_spec(entry: RegistryEntry, services: Sequence[str] = ()) -> TenantSpec:
    """How a pre-registered LAO enters the catalog: slug ``lao-<code>``, an English name from its type."""
    return TenantSpec(
        dla_code=entry.dla_code,
        slug=f"lao-{entry.dla_code}",
        name_en=f"{LAO_TYPES.get(entry.type, entry.type)} {entry.dla_code}, {entry.province_en}",
        enabled_services=list(services),
    )


async def provision_from_registry(
    engine: AsyncEngine,
    *,
    limit: int | None = None,
    concurrency: int = 4,
    progress: Callable[[BulkReport], None] | None = None,
    services: Sequence[str] = (),
    plugins: Sequence[ServicePlugin] | None = None,
) -> BulkReport:
    """Create and provision up to ``limit`` registry LAOs that are not yet in the catalog.

    Each starts with ``services`` enabled: their tables created and seeded in its transaction.
    ``plugins``: the service plugins the platform runs (None: the registry); ``services`` must be
    among them.
    """
    if limit is not None and limit < 0:
        raise ValueError("limit must be >= 0")
    if plugins is None:
        plugins = installed().plugins
    unknown = sorted(set(services) - {p.slug for p in plugins})
    if unknown:
        raise ValueError(f"unknown services: {', '.join(unknown)}")
    started = time.perf_counter()
    report = BulkReport()
    async with engine.connect() as conn:
        known = set((await conn.execute(select(Tenant.dla_code))).scalars())
    pending = [e for code, e in sorted(registry().items()) if code not in known]
    report.skipped = len(registry()) - len(pending)
    if limit is not None:
        pending = pending[:limit]
    queue: asyncio.Queue[RegistryEntry] = asyncio.Queue()
    for entry in pending:
        queue.put_nowait(entry)

    async def worker() -> None:
        while not queue.empty():
            entry = queue.get_nowait()
            t0 = time.perf_counter()
            try:
                async with engine.begin() as conn:
                    await create_tenant(conn, registry_spec(entry, services), source="registry", plugins=plugins)
            except IntegrityError as exc:
                message = str(exc.orig).splitlines()[0]
                if any(name in message for name in _ALREADY_THERE):
                    # Someone else created it meanwhile (a concurrent run, a signup); the unique
                    # index made us wait for their commit, so it is there, provisioned.
                    report.raced += 1
                    report.skipped += 1
                else:  # e.g. its slug is taken by another LAO
                    report.failed.append(f"{entry.dla_code}: {message}")
                continue
            report.per_tenant.append(time.perf_counter() - t0)
            report.created += 1
            if progress is not None and report.created % 500 == 0:
                progress(report)

    await asyncio.gather(*(worker() for _ in range(max(1, concurrency))))
    report.seconds = time.perf_counter() - started
    return report
