"""``LOCALGOV_DATABASE_KIND`` on plain PostgreSQL: detected as such, a claim of Citus refused.

The Citus mode itself runs against a real cluster in tests/test_citus.py (marker ``citus``).
"""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.platform.citus import CitusError, check_kind, is_citus
from localgov.platform.migrate import upgrade_shared
from localgov.settings import Settings, SettingsError


async def test_plain_postgresql_is_detected_and_a_claim_of_citus_is_refused(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        assert await is_citus(conn) is False
        assert await check_kind(conn, "auto") is False
        assert await check_kind(conn, "postgresql") is False
    with pytest.raises(CitusError, match="no citus extension"):
        await upgrade_shared(engine, "citus")
    await upgrade_shared(engine, "postgresql")  # at head already: nothing to do, no refusal


def test_the_kind_is_one_of_three() -> None:
    assert Settings.from_env({"LOCALGOV_DATABASE_KIND": "citus"}).database_kind == "citus"
    assert Settings.from_env({}).database_kind == "auto"
    with pytest.raises(SettingsError):
        Settings.from_env({"LOCALGOV_DATABASE_KIND": "mysql"})
