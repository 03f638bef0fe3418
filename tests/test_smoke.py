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


def test_values_postgresql_refuses_are_400_problems_and_other_database_errors_stay_500() -> None:
    """The backstop for input that slipped past validation: SQLSTATE class 22 is the caller's."""
    from types import SimpleNamespace

    from sqlalchemy.exc import DBAPIError

    from localgov.kernel.errors import exception_handlers

    handler = exception_handlers()[DBAPIError]
    request = SimpleNamespace(
        scope={"path": "/v1/x", "state": {"request_id": "r-1"}},
        app=SimpleNamespace(state=SimpleNamespace(settings=SimpleNamespace(base_domain="localgov.example"))),
    )

    def error(sqlstate: str) -> DBAPIError:
        orig = Exception("invalid byte sequence for encoding UTF8: 0x00")
        orig.sqlstate = sqlstate  # type: ignore[attr-defined]
        return DBAPIError("INSERT ...", {}, orig)

    refused = handler(request, error("22021"))  # type: ignore[arg-type]
    assert refused.status_code == 400
    assert b'"code":"invalid_input"' in refused.content
    assert b'"type":"https://localgov.example/problems/invalid_input"' in refused.content
    assert b"0x00" not in refused.content  # PostgreSQL's words are logged, not returned
    broken = handler(request, error("42P01"))  # type: ignore[arg-type]
    assert broken.status_code == 500


def test_one_line_text_refuses_nul_control_characters_and_blanks() -> None:
    from localgov.kernel.text import is_one_line

    assert is_one_line("นายสมชาย ใจดี")
    for bad in ("", "   ", "\x00", "a\x00b", "line\nbreak", "tab\there", "\x7f"):
        assert not is_one_line(bad), repr(bad)
