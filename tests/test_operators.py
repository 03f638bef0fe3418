"""The operator's staff: login on the operator host only, sessions, lockout, rate limit, the CLI."""

from __future__ import annotations

import asyncio
import io
import uuid
from typing import Any

import asyncpg
import httpx
import pytest
from joserfc import jwt
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.cli import main as cli_main
from localgov.identity.operators import add_operator
from localgov.kernel.auth.hashing import verify_secret
from localgov.kernel.db import session_factory, tenant_session
from localgov.settings import Settings
from tests.conftest import BASE, ClientFactory, host, make_settings
from tests.support.factories import make_tenant
from tests.support.tokens import TEST_KEY, TEST_SECRET, bearer

OPERATOR = {"Host": BASE}
PASSWORD = "correct horse battery staple"


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url, login_rate_limit=1000, lockout_threshold=3, lockout_s=600)


@pytest.fixture(autouse=True)
async def _fresh_operator_rate_limits(engine: AsyncEngine) -> None:
    # Every test client comes from 127.0.0.1: start each test with the operator's counts at zero.
    async with engine.begin() as conn:
        await conn.execute(text("DELETE FROM platform.rate_limit_buckets WHERE key LIKE '%:operator:%'"))


async def make_operator(engine: AsyncEngine, *roles: str) -> tuple[str, uuid.UUID]:
    email = f"op-{uuid.uuid4().hex[:12]}@operator.example"
    async with tenant_session(session_factory(engine), None) as session:
        user = await add_operator(
            session,
            email=email,
            full_name="สมชาย ผู้ดูแลระบบ",
            roles=roles or ("platform_admin",),
            password=PASSWORD,
            min_length=12,
            min_score=3,
        )
    return email, user.id


async def login(http: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    return await http.post("/v1/operator/auth/login", json={"email": email, "password": password}, headers=OPERATOR)


def auth(access_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token}"}


async def operator_audit(engine: AsyncEngine, **where: str) -> list[dict[str, Any]]:
    column, value = next(iter(where.items()))
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT action, actor_kind, actor_id, target, host(source_ip) AS ip, request_id, data"
                f" FROM platform.operator_audit_events WHERE {column} = :v ORDER BY id"
            ),
            {"v": value},
        )
        return [dict(r._mapping) for r in rows]


async def test_login_me_refresh_and_logout(engine: AsyncEngine, client_for: ClientFactory) -> None:
    email, user_id = await make_operator(engine, "platform_admin")
    async with client_for() as http:
        response = await login(http, email.upper())  # e-mail addresses are matched case-insensitively
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "no-store"
        session = response.json()
        assert session["token_type"] == "Bearer"
        assert session["expires_in"] == 300
        assert session["roles"] == ["platform_admin"]
        claims = jwt.decode(session["access_token"], TEST_KEY).claims
        assert claims["aud"] == "urn:localgov:operator"
        assert claims["iss"] == f"https://{BASE}"
        assert claims["lgv_kind"] == "operator"
        assert claims["sub"] == str(user_id)
        assert claims["roles"] == ["platform_admin"]

        me = await http.get("/v1/operator/me", headers={**OPERATOR, **auth(session["access_token"])})
        assert me.status_code == 200, me.text
        assert me.json()["email"] == email
        assert me.json()["roles"] == ["platform_admin"]
        assert me.json()["last_login_at"] is not None
        tenants = await http.get("/v1/tenants", headers={**OPERATOR, **auth(session["access_token"])})
        assert tenants.status_code == 200
        assert (await http.get("/v1/operator/me", headers=OPERATOR)).status_code == 401

        refreshed = await http.post(
            "/v1/operator/auth/refresh", json={"refresh_token": session["refresh_token"]}, headers=OPERATOR
        )
        assert refreshed.status_code == 200, refreshed.text
        second = refreshed.json()
        assert second["refresh_token"] != session["refresh_token"]
        assert second["access_token"] != session["access_token"]
        assert (
            await http.get("/v1/operator/me", headers={**OPERATOR, **auth(second["access_token"])})
        ).status_code == 200
        # The first refresh token was spent: presenting it again ends the whole session.
        reused = await http.post(
            "/v1/operator/auth/refresh", json={"refresh_token": session["refresh_token"]}, headers=OPERATOR
        )
        assert reused.status_code == 401
        assert reused.json()["code"] == "refresh_token_reused"
        after_reuse = await http.post(
            "/v1/operator/auth/refresh", json={"refresh_token": second["refresh_token"]}, headers=OPERATOR
        )
        assert after_reuse.status_code == 401
        assert after_reuse.json()["code"] == "refresh_token_reused"

        third = (await login(http, email)).json()
        out = await http.post(
            "/v1/operator/auth/logout", json={"refresh_token": third["refresh_token"]}, headers=OPERATOR
        )
        assert out.status_code == 204
        after_logout = await http.post(
            "/v1/operator/auth/refresh", json={"refresh_token": third["refresh_token"]}, headers=OPERATOR
        )
        assert after_logout.status_code == 401
        again = await http.post(
            "/v1/operator/auth/logout", json={"refresh_token": third["refresh_token"]}, headers=OPERATOR
        )
        assert again.status_code == 204
        unknown = await http.post("/v1/operator/auth/refresh", json={"refresh_token": "nope"}, headers=OPERATOR)
        assert unknown.status_code == 401
        assert unknown.json()["code"] == "invalid_grant"

    events = await operator_audit(engine, actor_id=str(user_id))
    assert [e["action"] for e in events] == ["login.succeeded", "token.refreshed", "login.succeeded", "logout"]
    assert all(e["actor_kind"] == "operator" and e["ip"] == "127.0.0.1" and e["request_id"] for e in events)
    family = events[0]["data"]["family_id"]
    async with engine.connect() as conn:
        reuse = (
            await conn.execute(
                text(
                    "SELECT count(*) FROM platform.operator_audit_events"
                    " WHERE action = 'refresh_token.reused' AND data->>'family_id' = :f"
                ),
                {"f": family},
            )
        ).scalar_one()
        alive = (
            await conn.execute(
                text(
                    "SELECT count(*) FROM platform.operator_refresh_tokens WHERE subject_id = :s AND revoked_at IS NULL"
                ),
                {"s": user_id},
            )
        ).scalar_one()
    assert reuse == 2  # the spent token, then its revoked successor
    assert alive == 0  # the reused family and the logged-out one are both revoked


async def test_roles_come_from_the_account(engine: AsyncEngine, client_for: ClientFactory) -> None:
    email, _ = await make_operator(engine, "billing_admin")
    async with client_for() as http:
        session = (await login(http, email)).json()
        assert session["roles"] == ["billing_admin"]
        headers = {**OPERATOR, **auth(session["access_token"])}
        assert (await http.get("/v1/tenants", headers=headers)).status_code == 200
        assert (await http.get("/v1/operator/me", headers=headers)).json()["roles"] == ["billing_admin"]
        # A token of an operator without either role is not enough for the tenant list.
        other = bearer(None, kind="operator", roles=["support"], subject=str(uuid.uuid4()))
        assert (await http.get("/v1/tenants", headers={**OPERATOR, **other})).status_code == 403


async def test_operator_and_tenant_tokens_are_worthless_on_each_others_hosts(
    engine: AsyncEngine, client_for: ClientFactory
) -> None:
    tenant = await make_tenant(engine, services=["demo"])
    email, _ = await make_operator(engine, "platform_admin")
    async with client_for() as http:
        session = (await login(http, email)).json()
        operator_token = auth(session["access_token"])
        for method, path in [("GET", "/v1/api-clients"), ("POST", "/v1/demo/pings")]:
            response = await http.request(
                method,
                path,
                json={"message": "x"},
                headers={**host(tenant.slug), **operator_token, "Idempotency-Key": "k"},
            )
            assert response.status_code == 401, (method, path)
            assert response.json()["code"] == "invalid_token"
        on_tenant_host = await http.post(
            "/v1/operator/auth/login", json={"email": email, "password": PASSWORD}, headers=host(tenant.slug)
        )
        assert on_tenant_host.status_code == 404

        tenant_admin = bearer(tenant, roles=["tenant_admin"], subject=str(uuid.uuid4()))
        assert (await http.get("/v1/api-clients", headers={**host(tenant.slug), **tenant_admin})).status_code == 200
        for path in ("/v1/operator/me", "/v1/tenants"):
            response = await http.get(path, headers={**OPERATOR, **tenant_admin})
            assert response.status_code == 401, path
            assert response.json()["data"]["reason"] == "issuer"
        # A refresh token of the operator means nothing to a tenant host, and vice versa.
        refresh_on_tenant = await http.post(
            "/v1/operator/auth/refresh", json={"refresh_token": session["refresh_token"]}, headers=host(tenant.slug)
        )
        assert refresh_on_tenant.status_code == 404


async def test_failures_look_alike_and_lock_the_account(engine: AsyncEngine, client_for: ClientFactory) -> None:
    email, user_id = await make_operator(engine, "platform_admin")
    async with client_for() as http:
        unknown = await login(http, f"nobody-{uuid.uuid4().hex}@operator.example")
        wrong = await login(http, email, "wrong password, clearly")
        for response in (unknown, wrong):
            assert response.status_code == 401
            assert response.json()["code"] == "invalid_credentials"
        same = {"title", "status", "code", "detail", "data"}
        assert {k: v for k, v in unknown.json().items() if k in same} == {
            k: v for k, v in wrong.json().items() if k in same
        }

        # Failures below the threshold are forgotten after a successful login.
        assert (await login(http, email, "wrong again, clearly")).status_code == 401
        assert (await login(http, email)).status_code == 200
        for _ in range(2):
            assert (await login(http, email, "still wrong")).status_code == 401
        assert (await login(http, email)).status_code == 200

        for _ in range(3):  # the threshold of this test's settings
            assert (await login(http, email, "guessing")).status_code == 401
        locked = await login(http, email)  # the right password no longer opens it
        assert locked.status_code == 423
        assert locked.json()["code"] == "account_locked"
        assert 590 <= int(locked.headers["retry-after"]) <= 600

        # An unknown address "locks" the same way, so the lock does not reveal who has an account.
        nobody = f"nobody-{uuid.uuid4().hex}@operator.example"
        assert [(await login(http, nobody)).status_code for _ in range(4)] == [401, 401, 401, 423]
        async with engine.begin() as conn:
            until = (
                await conn.execute(
                    text(
                        "SELECT locked_until > now() + interval '500 seconds'"
                        " FROM platform.operator_users WHERE id = :i"
                    ),
                    {"i": user_id},
                )
            ).scalar_one()
            assert until is True
            await conn.execute(
                text("UPDATE platform.operator_users SET locked_until = now() - interval '1 second' WHERE id = :i"),
                {"i": user_id},
            )
        assert (await login(http, email)).status_code == 200
    async with engine.connect() as conn:
        failed = (
            await conn.execute(text("SELECT failed_logins FROM platform.operator_users WHERE id = :i"), {"i": user_id})
        ).scalar_one()
    assert failed == 0
    events = await operator_audit(engine, target=email)
    actions = [e["action"] for e in events]
    assert [e["data"]["failures"] for e in events if "failures" in e["data"]] == [1, 2, 1, 2, 1, 2, 3]
    assert sum("locked_until" in e["data"] for e in events) == 1
    assert [e["data"]["reason"] for e in events if e["action"] == "login.failed"] == [
        "wrong_password",
        "wrong_password",
        "wrong_password",
        "wrong_password",
        "wrong_password",
        "wrong_password",
        "wrong_password",
        "locked",
    ]
    assert actions.count("login.succeeded") == 3


async def test_login_is_rate_limited_per_address(
    engine: AsyncEngine, database_url: str, client_for: ClientFactory
) -> None:
    email, _ = await make_operator(engine, "platform_admin")
    async with client_for(settings_=make_settings(database_url, login_rate_limit=2)) as http:
        for _ in range(2):
            assert (await login(http, email, "wrong password!")).status_code == 401
        limited = await login(http, email)
        assert limited.status_code == 429
        assert limited.json()["code"] == "rate_limited"
        assert int(limited.headers["retry-after"]) >= 1


async def test_a_disabled_operator_loses_every_session(engine: AsyncEngine, client_for: ClientFactory) -> None:
    email, user_id = await make_operator(engine, "platform_admin")
    async with client_for() as http:
        session = (await login(http, email)).json()
        async with engine.begin() as conn:
            await conn.execute(
                text("UPDATE platform.operator_users SET status = 'disabled' WHERE id = :i"), {"i": user_id}
            )
        refused = await http.post(
            "/v1/operator/auth/refresh", json={"refresh_token": session["refresh_token"]}, headers=OPERATOR
        )
        assert refused.status_code == 401
        assert refused.json()["code"] == "invalid_grant"
        assert (await login(http, email, "not the password")).status_code == 401
        disabled = await login(http, email)  # told only to whoever knows the password
        assert disabled.status_code == 403
        assert disabled.json()["code"] == "account_disabled"
    assert [
        e["data"]["reason"] for e in await operator_audit(engine, target=email) if e["action"] == "login.failed"
    ] == ["wrong_password", "disabled"]


def test_cli_adds_an_operator_with_the_password_from_stdin(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("LOCALGOV_DATABASE_URL", "LOCALGOV_SECRET_KEY", "LOCALGOV_ENV"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LOCALGOV_DATABASE_URL", database_url)
    monkeypatch.setenv("LOCALGOV_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("LOCALGOV_ENV", "test")
    email = f"cli-{uuid.uuid4().hex[:10]}@operator.example"
    args = ["operators", "add", "--email", email.upper(), "--name", "Billing Person", "--role", "billing_admin"]

    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert cli_main(args) == 1
    assert "at least 12 characters" in capsys.readouterr().err

    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert cli_main([*args, "--role", "platform_admin"]) == 0
    assert email in capsys.readouterr().out

    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert cli_main(args) == 1
    assert "exists already" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli_main(["operators", "add", "--email", "x@y.example", "--name", "X", "--role", "superuser"])

    async def stored() -> list[Any]:
        conn = await asyncpg.connect(database_url)
        try:
            return list(
                await conn.fetch(
                    "SELECT u.password_hash, u.roles, u.status,"
                    " (SELECT count(*) FROM platform.operator_audit_events a"
                    "  WHERE a.action = 'operator.created' AND a.target = u.email) AS audited"
                    " FROM platform.operator_users u WHERE u.email = $1",
                    email,
                )
            )
        finally:
            await conn.close()

    rows = asyncio.run(stored())
    assert len(rows) == 1
    assert verify_secret(rows[0]["password_hash"], PASSWORD)
    assert sorted(rows[0]["roles"]) == ["billing_admin", "platform_admin"]
    assert rows[0]["status"] == "active"
    assert rows[0]["audited"] == 1
