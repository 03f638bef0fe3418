"""Factories for test data: tenants from the real registry, provisioned by the real code."""

from __future__ import annotations

import itertools
from collections.abc import Iterable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.kernel.db import tenant_schema_name
from localgov.kernel.tenancy import TenantInfo
from localgov.platform.catalog import Catalog
from localgov.platform.provisioning import ProfileSeed
from localgov.platform.registry import registry
from localgov.platform.tenants import TenantSpec, create_tenant
from tests.support import demo_plugin

DEMO_SLUG = demo_plugin.DEMO.slug

# Every test takes fresh DLA codes, so tenants never collide inside one test database.
_codes = itertools.cycle(sorted(registry()))


def next_dla_code() -> str:
    return next(_codes)


async def make_tenant(
    engine: AsyncEngine,
    *,
    slug: str | None = None,
    services: Iterable[str] = (),
    status: str = "active",
    domains: Iterable[str] = (),
    phone: str | None = None,
    dla_code: str | None = None,
) -> TenantInfo:
    """Create and provision one tenant; returns it as the router will see it."""
    code = dla_code or next_dla_code()
    spec = TenantSpec(
        dla_code=code,
        slug=slug or f"t{code}",
        name_en=f"Test LAO {code}",
        enabled_services=list(services),
        status=status,  # type: ignore[arg-type]
        domains=list(domains),
        contact=ProfileSeed(phone=phone or f"0-{code}", email=f"contact@{code}.example"),
    )
    async with engine.begin() as conn:
        await create_tenant(conn, spec, source="file")
        if DEMO_SLUG in spec.enabled_services:
            # The test-only demo plugin is not in the registry and has no migration history of
            # its own: its table is created here, wherever a test tenant enables it.
            await demo_plugin.create_tables(conn, tenant_schema_name(code))
    catalog = Catalog("localhost")
    await catalog.load(engine)
    tenant = catalog.by_slug(spec.slug)
    assert tenant is not None
    return tenant


async def set_status(engine: AsyncEngine, tenant: TenantInfo, status: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE platform.tenants SET status = :s WHERE id = :i"), {"s": status, "i": tenant.id})
