"""Tenant migration 0014: citizens whose provider subject is a national ID stop keeping it in clear."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.kernel.citizens import national_id_digest
from localgov.platform.migrate import migrate_schema
from tests.support.factories import make_tenant
from tests.support.tokens import TEST_SECRET

NATIONAL_ID = "1101700203450"


async def test_0014_hashes_a_national_id_kept_as_subject(engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    tenant = await make_tenant(engine)
    down = await migrate_schema(engine, tenant.schema, target="0013", down=True)
    assert down.ok, down.error
    async with engine.begin() as conn:
        await conn.execute(
            text(
                f'INSERT INTO "{tenant.schema}".citizens (issuer, subject, name) VALUES '
                "('https://id.example', :nid, 'มีเลขประจำตัว'), ('https://id.example', 'opaque-sub', 'ไม่มี'), "
                "('https://id.example', '1234567890123', 'สิบสามหลักแต่ไม่ใช่เลขประจำตัว')"
            ),
            {"nid": NATIONAL_ID},
        )
    # Without the key the migration stops rather than keep the ID in clear.
    monkeypatch.delenv("LOCALGOV_SECRET_KEY", raising=False)
    refused = await migrate_schema(engine, tenant.schema, target="0014")
    assert not refused.ok
    monkeypatch.setenv("LOCALGOV_SECRET_KEY", TEST_SECRET)
    up = await migrate_schema(engine, tenant.schema, target="0014")
    assert up.ok, up.error
    async with engine.connect() as conn:
        rows = {
            r.name: r
            for r in await conn.execute(
                text(f'SELECT name, subject, national_id_hash, national_id_last4 FROM "{tenant.schema}".citizens')
            )
        }
    digest = national_id_digest(TEST_SECRET, NATIONAL_ID)
    assert tuple(rows["มีเลขประจำตัว"][1:]) == (f"nid:{digest}", digest, "3450")
    assert tuple(rows["ไม่มี"][1:]) == ("opaque-sub", None, None)
    assert rows["สิบสามหลักแต่ไม่ใช่เลขประจำตัว"].subject == "1234567890123"  # no valid check digit
    up = await migrate_schema(engine, tenant.schema)
    assert up.ok, up.error
