"""The kernel's narrow views of platform and identity data, as a service plugin uses them."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.identity.models import Citizen
from localgov.kernel.citizens import CITIZENS, citizen_ref
from localgov.kernel.db import session_factory, tenant_session
from localgov.kernel.tenancy import lao_profile
from tests.support.factories import make_tenant
from tests.support.payments import make_citizen


def test_the_citizen_facade_reads_columns_identity_owns() -> None:
    """The kernel reads ``citizens`` without importing identity: renaming a column must fail here."""
    model = Citizen.__table__.columns
    for column in CITIZENS.columns:
        assert column.name in model, column.name
        assert column.type.python_type is model[column.name].type.python_type, column.name


async def test_citizen_ref_finds_the_tenants_own_citizens_only(engine: AsyncEngine) -> None:
    first = await make_tenant(engine)
    second = await make_tenant(engine)
    factory = session_factory(engine)
    async with tenant_session(factory, first) as session:
        citizen_id = uuid.UUID(await make_citizen(session, name="นายสมชาย ใจดี"))
    async with tenant_session(factory, first) as session:
        ref = await citizen_ref(session, citizen_id)
        assert ref is not None
        assert (ref.id, ref.name, ref.email) == (citizen_id, "นายสมชาย ใจดี", None)
        assert await citizen_ref(session, uuid.uuid4()) is None
    async with tenant_session(factory, second) as session:
        assert await citizen_ref(session, citizen_id) is None


async def test_lao_profile_joins_catalog_names_and_the_profile_row(engine: AsyncEngine) -> None:
    tenant = await make_tenant(engine, phone="053-123456")
    other = await make_tenant(engine, phone="02-9999999")
    factory = session_factory(engine)
    async with tenant_session(factory, tenant) as session:
        profile = await lao_profile(session, tenant)
    assert (profile.name_th, profile.dla_code, profile.province_th) == (
        tenant.name_th,
        tenant.dla_code,
        tenant.province_th,
    )
    assert (profile.phone, profile.email) == ("053-123456", f"contact@{tenant.dla_code}.example")
    async with tenant_session(factory, other) as session:
        assert (await lao_profile(session, other)).phone == "02-9999999"
