from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import ClientFactory, host
from tests.support.factories import make_tenant


async def test_profile_on_tenant_host(engine: AsyncEngine, client_for: ClientFactory) -> None:
    tenant = await make_tenant(engine, phone="053-111-111")
    async with client_for() as client:
        response = await client.get("/v1/tenant", headers=host(tenant.slug))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["dla_code"] == tenant.dla_code
    assert body["contact"]["phone"] == "053-111-111"
