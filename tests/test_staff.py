"""LAO staff: invitation by e-mail, login, refresh rotation, logout, lockout, passwords, staff
administration, the last-administrator rule, the audit log, and isolation between LAOs."""

from __future__ import annotations

import base64
import email
import email.policy
import json
import re
import statistics
import time
import uuid
from collections.abc import Iterable
from email.message import EmailMessage
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.app import create_app
from localgov.identity.models import Citizen, RefreshToken, StaffRole, StaffUser
from localgov.identity.refresh import issue_refresh_token
from localgov.kernel.auth.hashing import hash_secret
from localgov.kernel.db import session_factory, tenant_session
from localgov.kernel.mail import MAIL_TOPIC
from localgov.kernel.outbox import Delivery, OutboxEntry
from localgov.kernel.tenancy import TenantInfo
from localgov.settings import Settings
from localgov.worker import Worker
from tests.conftest import BASE, ClientFactory, host, make_settings
from tests.support.demo_plugin import DEMO
from tests.support.factories import make_tenant
from tests.support.tokens import bearer

PASSWORD = "a long passphrase for tests"
NEW_PASSWORD = "another long passphrase 2"
ADMIN_ID = str(uuid.uuid4())


@cache
def password_hash() -> str:
    """One argon2 hash for every user the tests create directly (hashing is slow on purpose)."""
    return hash_secret(PASSWORD)


@pytest.fixture
def mail_dir(tmp_path: Path) -> Path:
    return tmp_path / "mail"


@pytest.fixture
def settings(database_url: str, mail_dir: Path) -> Settings:
    return make_settings(database_url, mail_url=f"file://{mail_dir}")


async def add_staff(
    engine: AsyncEngine,
    tenant: TenantInfo,
    email_: str,
    *,
    roles: Iterable[str] = (),
    status: str = "active",
    with_password: bool = True,
) -> str:
    """A staff member written directly (the invitation flow has its own tests)."""
    async with tenant_session(session_factory(engine), tenant) as session:
        user = StaffUser(
            email=email_,
            full_name=f"Staff {email_}",
            status=status,
            password_hash=password_hash() if with_password else None,
        )
        session.add(user)
        await session.flush()
        for role in roles:
            session.add(StaffRole(user_id=user.id, role=role))
    return str(user.id)


def admin(tenant: TenantInfo, subject: str = ADMIN_ID) -> dict[str, str]:
    return {**host(tenant.slug), **bearer(tenant, roles=["tenant_admin"], subject=subject)}


async def login(client: httpx.AsyncClient, tenant: TenantInfo, email_: str, password: str = PASSWORD) -> httpx.Response:
    return await client.post(
        "/v1/auth/staff/login", json={"email": email_, "password": password}, headers=host(tenant.slug)
    )


async def refresh(client: httpx.AsyncClient, tenant: TenantInfo, token: str) -> httpx.Response:
    return await client.post("/v1/auth/refresh", json={"refresh_token": token}, headers=host(tenant.slug))


def claims(access_token: str) -> dict[str, Any]:
    payload = access_token.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return decoded


async def deliver_mail(engine: AsyncEngine, settings: Settings, tenant: TenantInfo) -> int:
    """Run the worker's own ``mail.send`` consumer over this tenant's pending mail.

    (``deliver_batch`` would claim every tenant's entries of the shared test database.)"""
    consumer = Worker(settings, []).handlers[MAIL_TOPIC]
    async with tenant_session(session_factory(engine), None) as session:
        entries = (
            (
                await session.execute(
                    select(OutboxEntry)
                    .where(
                        OutboxEntry.tenant_id == tenant.id,
                        OutboxEntry.topic == MAIL_TOPIC,
                        OutboxEntry.status == "pending",
                    )
                    .order_by(OutboxEntry.id)
                    .with_for_update()
                )
            )
            .scalars()
            .all()
        )
        for entry in entries:
            await consumer(Delivery(entry, session, {}))
            entry.status = "delivered"
    return len(entries)


def inbox(mail_dir: Path, to: str) -> list[EmailMessage]:
    out = []
    for path in sorted(mail_dir.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        if message["To"].addresses[0].addr_spec == to:
            out.append(message)
    return out


def link_token(message: EmailMessage, tenant: TenantInfo, path: str) -> str:
    body = message.get_content()
    match = re.search(
        rf"https://{re.escape(tenant.slug)}\.{re.escape(BASE)}{re.escape(path)}#token=([A-Za-z0-9_-]+)", body
    )
    assert match, body
    return match.group(1)


async def audit(client: httpx.AsyncClient, tenant: TenantInfo, **params: Any) -> list[dict[str, Any]]:
    response = await client.get("/v1/audit-events", params={"limit": 200, **params}, headers=admin(tenant))
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def sql(engine: AsyncEngine, tenant: TenantInfo, statement: str, **params: Any) -> Any:
    async with engine.begin() as conn:
        await conn.execute(text("SELECT set_config('search_path', :s, true)"), {"s": tenant.schema})
        result = await conn.execute(text(statement), params)
        return result.all() if result.returns_rows else []


# --- the whole life -----------------------------------------------------------------------------


async def test_invite_accept_login_refresh_logout(
    engine: AsyncEngine, client_for: ClientFactory, settings: Settings, mail_dir: Path
) -> None:
    tenant = await make_tenant(engine, services=["demo"])
    async with client_for(settings_=settings) as client:
        invited = await client.post(
            "/v1/staff",
            json={"email": "Somchai@Example.GO.TH", "full_name": "สมชาย ใจดี", "roles": ["demo.clerk"]},
            headers=admin(tenant),
        )
        assert invited.status_code == 201, invited.text
        member = invited.json()
        assert (member["email"], member["status"], member["roles"]) == (
            "somchai@example.go.th",
            "invited",
            ["demo.clerk"],
        )
        assert await deliver_mail(engine, settings, tenant) == 1
        [mail] = inbox(mail_dir, "somchai@example.go.th")
        assert "คำเชิญ" in mail["Subject"]
        assert "Invitation" in mail["Subject"]
        assert mail["To"].addresses[0].display_name == "สมชาย ใจดี"
        token = link_token(mail, tenant, "/staff/invitation")
        stored = await sql(engine, tenant, "SELECT token_hash, purpose FROM one_time_tokens")
        assert [r.purpose for r in stored] == ["invite"]
        assert token not in stored[0].token_hash  # only the digest is kept

        not_yet = await login(client, tenant, "somchai@example.go.th")
        assert not_yet.status_code == 401
        assert not_yet.json()["code"] == "invalid_credentials"
        short = await client.post(
            "/v1/auth/staff/invitation/accept", json={"token": token, "password": "short"}, headers=host(tenant.slug)
        )
        assert short.status_code == 400
        assert short.json()["code"] == "password_too_short"
        accepted = await client.post(
            "/v1/auth/staff/invitation/accept", json={"token": token, "password": PASSWORD}, headers=host(tenant.slug)
        )
        assert accepted.status_code == 204, accepted.text

        logged_in = await login(client, tenant, "SOMCHAI@example.go.th ")
        assert logged_in.status_code == 200, logged_in.text
        tokens = logged_in.json()
        assert tokens["token_type"] == "Bearer"
        assert tokens["expires_in"] == settings.access_token_ttl_s
        access = claims(tokens["access_token"])
        assert access["lgv_kind"] == "staff"
        assert access["sub"] == member["id"]
        assert access["client_id"] == "localgov-staff"
        assert access["roles"] == ["demo.clerk"]
        assert access["aud"] == f"urn:localgov:lao:{tenant.dla_code}"
        auth = {**host(tenant.slug), "Authorization": f"Bearer {tokens['access_token']}"}
        me = await client.get("/v1/me", headers=auth)
        assert me.status_code == 200
        assert (me.json()["id"], me.json()["status"], me.json()["last_login_at"] is not None) == (
            member["id"],
            "active",
            True,
        )
        # The role really works: the demo service's guarded route accepts the token.
        ping = await client.post("/v1/demo/pings", json={"message": "hi"}, headers={**auth, "Idempotency-Key": "1"})
        assert ping.status_code == 201, ping.text

        renewed = await refresh(client, tenant, tokens["refresh_token"])
        assert renewed.status_code == 200, renewed.text
        second = renewed.json()
        assert second["refresh_token"] != tokens["refresh_token"]
        assert claims(second["access_token"])["roles"] == ["demo.clerk"]
        again = await client.get(
            "/v1/me", headers={**host(tenant.slug), "Authorization": f"Bearer {second['access_token']}"}
        )
        assert again.status_code == 200

        out = await client.post(
            "/v1/auth/logout", json={"refresh_token": second["refresh_token"]}, headers=host(tenant.slug)
        )
        assert out.status_code == 204
        after = await refresh(client, tenant, second["refresh_token"])
        assert after.status_code == 401
        assert after.json()["code"] == "refresh_token_revoked"
        assert (
            await client.post("/v1/auth/logout", json={"refresh_token": "unknown"}, headers=host(tenant.slug))
        ).status_code == 204

        actions = [e["action"] for e in reversed(await audit(client, tenant))]
    assert actions == [
        "invitation.sent",
        "login.failed",
        "invitation.accepted",
        "login.succeeded",
        "token.issued",
        "token.issued",
        "logout",
    ]


# --- login: answers, rate limit, lockout --------------------------------------------------------


async def test_wrong_password_and_unknown_email_are_indistinguishable(
    engine: AsyncEngine, client_for: ClientFactory, settings: Settings
) -> None:
    tenant = await make_tenant(engine)
    await add_staff(engine, tenant, "known@example.go.th")
    await add_staff(engine, tenant, "invited@example.go.th", status="invited", with_password=False)
    loose = make_settings(settings.database_url, login_rate_limit=100, lockout_threshold=100)

    def shape(response: httpx.Response) -> tuple[Any, ...]:
        body = response.json()
        body.pop("request_id")
        headers = {k: v for k, v in response.headers.items() if k not in ("x-request-id", "content-length")}
        # The same rate-limit policies for every address; what is left of them changes with each try.
        headers["ratelimit"] = re.sub(r";r=[0-9]+;t=[0-9]+", "", headers["ratelimit"])
        return response.status_code, body, headers

    timings: dict[str, list[float]] = {"known": [], "unknown": [], "invited": []}
    shapes = set()
    async with client_for(settings_=loose) as client:
        for _ in range(3):
            for who, address in (
                ("known", "known@example.go.th"),
                ("unknown", "nobody@example.go.th"),
                ("invited", "invited@example.go.th"),
            ):
                started = time.perf_counter()
                response = await login(client, tenant, address, "wrong password, long enough")
                timings[who].append(time.perf_counter() - started)
                assert response.status_code == 401
                shapes.add(json.dumps(shape(response), sort_keys=True))
    assert len(shapes) == 1, shapes
    assert json.loads(shapes.pop())[1]["code"] == "invalid_credentials"
    # The unknown address pays the same argon2 verification (without it: ~5 % of the time).
    known = statistics.median(timings["known"])
    assert statistics.median(timings["unknown"]) > 0.5 * known, timings
    assert statistics.median(timings["invited"]) > 0.5 * known, timings


async def test_login_is_rate_limited_per_tenant_and_address(
    engine: AsyncEngine, client_for: ClientFactory, database_url: str, mail_dir: Path
) -> None:
    tenant = await make_tenant(engine)
    other = await make_tenant(engine)
    await add_staff(engine, tenant, "staff@example.go.th")
    await add_staff(engine, other, "staff@example.go.th")
    limited = make_settings(database_url, login_rate_limit=3, login_rate_window_s=60, mail_url=f"file://{mail_dir}")
    async with client_for(settings_=limited) as client:
        for _ in range(3):
            assert (await login(client, tenant, "staff@example.go.th", "wrong password 123")).status_code == 401
        refused = await login(client, tenant, "staff@example.go.th")  # even the right password
        assert refused.status_code == 429
        assert refused.json()["code"] == "rate_limited"
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert (await login(client, other, "staff@example.go.th")).status_code == 200  # per tenant
        reset = await client.post(
            "/v1/auth/staff/password-reset", json={"email": "staff@example.go.th"}, headers=host(tenant.slug)
        )
        assert reset.status_code == 202  # a bucket of its own
    rows = await sql(engine, tenant, "SELECT failed_logins FROM staff_users")
    assert [r.failed_logins for r in rows] == [3]  # refused attempts never reached the password


async def test_lockout_after_consecutive_failures_then_unlock_after_time(
    engine: AsyncEngine, client_for: ClientFactory, database_url: str, mail_dir: Path
) -> None:
    tenant = await make_tenant(engine)
    user_id = await add_staff(engine, tenant, "staff@example.go.th")
    strict = make_settings(
        database_url, login_rate_limit=100, lockout_threshold=3, lockout_s=600, mail_url=f"file://{mail_dir}"
    )
    async with client_for(settings_=strict) as client:
        # Two failures, then a success: the counter starts again.
        for _ in range(2):
            assert (await login(client, tenant, "staff@example.go.th", "wrong password 123")).status_code == 401
        assert (await login(client, tenant, "staff@example.go.th")).status_code == 200
        assert [r.failed_logins for r in await sql(engine, tenant, "SELECT failed_logins FROM staff_users")] == [0]

        answers = [
            (await login(client, tenant, "staff@example.go.th", "wrong password 123")).status_code for _ in range(3)
        ]
        assert answers == [401, 401, 401]
        locked = await login(client, tenant, "staff@example.go.th")  # the right password, too late
        assert locked.status_code == 423
        assert locked.json()["code"] == "account_locked"
        assert 590 <= int(locked.headers["retry-after"]) <= 600
        # The lockout was committed although every one of those requests failed.
        [row] = await sql(
            engine, tenant, "SELECT locked_until > now() + interval '9 minutes' AS locked FROM staff_users"
        )
        assert row.locked
        # An unknown address answers exactly the same sequence (no account enumeration by lockout).
        ghost = [
            (await login(client, tenant, "ghost@example.go.th", "wrong password 123")).status_code for _ in range(4)
        ]
        assert ghost == [401, 401, 401, 423]

        await sql(engine, tenant, "UPDATE staff_users SET locked_until = now() - interval '1 second'")
        unlocked = await login(client, tenant, "staff@example.go.th")
        assert unlocked.status_code == 200, unlocked.text
        [row] = await sql(engine, tenant, "SELECT failed_logins, locked_until FROM staff_users")
        assert (row.failed_logins, row.locked_until) == (0, None)
        failures = await audit(client, tenant, action="login.failed", target=f"staff:{user_id}")
    reasons = [e["data"]["reason"] for e in reversed(failures)]
    assert reasons == ["wrong_password"] * 5 + ["locked"]
    assert "locked_until" in failures[1]["data"]  # the third consecutive failure locked


# --- refresh tokens -----------------------------------------------------------------------------


async def test_refresh_rotation_and_reuse_revokes_the_family_for_good(
    engine: AsyncEngine, client_for: ClientFactory, settings: Settings
) -> None:
    tenant = await make_tenant(engine)
    user_id = await add_staff(engine, tenant, "staff@example.go.th", roles=["tenant_admin"])
    async with client_for(settings_=settings) as client:
        first = (await login(client, tenant, "staff@example.go.th")).json()["refresh_token"]
        elsewhere = (await login(client, tenant, "staff@example.go.th")).json()["refresh_token"]  # another device
        second = (await refresh(client, tenant, first)).json()["refresh_token"]
        third_response = await refresh(client, tenant, second)
        assert third_response.status_code == 200
        assert claims(third_response.json()["access_token"])["roles"] == ["tenant_admin"]
        third = third_response.json()["refresh_token"]

        reused = await refresh(client, tenant, first)  # a copy of a spent token comes back
        assert reused.status_code == 401
        assert reused.json()["code"] == "refresh_token_reused"
        newest = await refresh(client, tenant, third)  # the family stays revoked
        assert newest.status_code == 401
        assert newest.json()["code"] == "refresh_token_revoked"
        # The revocation was committed although the request failed.
        rows = await sql(
            engine,
            tenant,
            "SELECT family_id, count(*) AS n, count(revoked_at) AS revoked FROM refresh_tokens GROUP BY family_id",
        )
        assert sorted((r.n, r.revoked) for r in rows) == [(1, 0), (3, 3)]
        other_device = await refresh(client, tenant, elsewhere)
        assert other_device.status_code == 200  # other logins are untouched
        assert (await refresh(client, tenant, "not-a-token")).json()["code"] == "invalid_grant"
        await sql(engine, tenant, "UPDATE refresh_tokens SET expires_at = now() - interval '1 second'")
        expired = await refresh(client, tenant, other_device.json()["refresh_token"])
        assert (expired.status_code, expired.json()["code"]) == (401, "invalid_grant")
        reused_events = await audit(client, tenant, action="refresh_token.reused")
    assert [e["target"] for e in reused_events] == [f"staff:{user_id}"]


async def test_citizen_refresh_tokens_rotate_to_citizen_access_tokens(
    engine: AsyncEngine, client_for: ClientFactory, settings: Settings
) -> None:
    tenant = await make_tenant(engine)
    async with tenant_session(session_factory(engine), tenant) as session:
        citizen = Citizen(issuer="https://id.example", subject="citizen-1", name="สมหญิง")
        session.add(citizen)
        await session.flush()
        grant = await issue_refresh_token(
            session, RefreshToken, subject_kind="citizen", subject_id=citizen.id, ttl_s=3600
        )
    async with client_for(settings_=settings) as client:
        renewed = await refresh(client, tenant, grant.token)
        assert renewed.status_code == 200, renewed.text
        access = claims(renewed.json()["access_token"])
        assert (access["lgv_kind"], access["sub"], access["roles"], access["client_id"]) == (
            "citizen",
            str(citizen.id),
            [],
            "localgov-citizen",
        )
        staff_only = await client.get(
            "/v1/me", headers={**host(tenant.slug), "Authorization": f"Bearer {renewed.json()['access_token']}"}
        )
        assert staff_only.status_code == 403
        assert (await refresh(client, tenant, grant.token)).json()["code"] == "refresh_token_reused"
        assert (await refresh(client, tenant, renewed.json()["refresh_token"])).status_code == 401

        fresh = await _citizen_grant(engine, tenant, citizen.id)
        out = await client.post("/v1/auth/logout", json={"refresh_token": fresh}, headers=host(tenant.slug))
        assert out.status_code == 204
        assert (await refresh(client, tenant, fresh)).json()["code"] == "refresh_token_revoked"
        events = await audit(client, tenant, target=f"citizen:{citizen.id}")
    assert [e["action"] for e in reversed(events)] == ["token.issued", "refresh_token.reused", "logout"]
    assert events[0]["actor_kind"] == "citizen"


async def _citizen_grant(engine: AsyncEngine, tenant: TenantInfo, citizen_id: uuid.UUID) -> str:
    async with tenant_session(session_factory(engine), tenant) as session:
        grant = await issue_refresh_token(
            session, RefreshToken, subject_kind="citizen", subject_id=citizen_id, ttl_s=3600
        )
    return grant.token


# --- passwords ----------------------------------------------------------------------------------


async def test_password_reset_link_is_single_use_and_expiring(
    engine: AsyncEngine, client_for: ClientFactory, settings: Settings, mail_dir: Path
) -> None:
    tenant = await make_tenant(engine)
    await add_staff(engine, tenant, "staff@example.go.th")
    async with client_for(settings_=settings) as client:
        session_before = (await login(client, tenant, "staff@example.go.th")).json()["refresh_token"]
        answers = [
            await client.post("/v1/auth/staff/password-reset", json={"email": address}, headers=host(tenant.slug))
            for address in ("Staff@example.go.th", "nobody@example.go.th")
        ]
        assert [a.status_code for a in answers] == [202, 202]
        assert answers[0].json() == answers[1].json()  # says nothing about the address
        assert await deliver_mail(engine, settings, tenant) == 1
        assert inbox(mail_dir, "nobody@example.go.th") == []
        [mail] = inbox(mail_dir, "staff@example.go.th")
        token = link_token(mail, tenant, "/staff/password-reset")

        confirm = {"token": token, "new_password": NEW_PASSWORD}
        path = "/v1/auth/staff/password-reset/confirm"
        short = await client.post(path, json={**confirm, "new_password": "short"}, headers=host(tenant.slug))
        assert short.json()["code"] == "password_too_short"
        assert (await client.post(path, json=confirm, headers=host(tenant.slug))).status_code == 204
        used = await client.post(path, json=confirm, headers=host(tenant.slug))
        assert (used.status_code, used.json()["code"]) == (404, "invalid_link")
        assert (await login(client, tenant, "staff@example.go.th")).status_code == 401
        assert (await login(client, tenant, "staff@example.go.th", NEW_PASSWORD)).status_code == 200
        assert (await refresh(client, tenant, session_before)).status_code == 401  # sessions ended

        # A second request: its link expires; and a newer link replaces an older unused one.
        for _ in range(2):
            await client.post(
                "/v1/auth/staff/password-reset", json={"email": "staff@example.go.th"}, headers=host(tenant.slug)
            )
        assert await deliver_mail(engine, settings, tenant) == 2
        older, newer = (
            link_token(m, tenant, "/staff/password-reset") for m in inbox(mail_dir, "staff@example.go.th")[1:]
        )
        replaced = await client.post(path, json={"token": older, "new_password": PASSWORD}, headers=host(tenant.slug))
        assert replaced.json()["code"] == "invalid_link"
        await sql(engine, tenant, "UPDATE one_time_tokens SET expires_at = now() - interval '1 second'")
        expired = await client.post(path, json={"token": newer, "new_password": PASSWORD}, headers=host(tenant.slug))
        assert (expired.status_code, expired.json()["code"]) == (404, "invalid_link")
        assert (await login(client, tenant, "staff@example.go.th", NEW_PASSWORD)).status_code == 200
        events = await audit(client, tenant)
    assert {"password.reset_requested", "password.reset"} <= {e["action"] for e in events}
    requested = [e for e in events if e["action"] == "password.reset_requested"]
    assert [e["data"]["sent"] for e in reversed(requested)] == [True, False, True, True]


async def test_invitation_link_is_single_use_expiring_and_replaced_on_resend(
    engine: AsyncEngine, client_for: ClientFactory, settings: Settings, mail_dir: Path
) -> None:
    tenant = await make_tenant(engine)
    accept = "/v1/auth/staff/invitation/accept"
    async with client_for(settings_=settings) as client:
        member = (
            await client.post(
                "/v1/staff", json={"email": "new@example.go.th", "full_name": "New Member"}, headers=admin(tenant)
            )
        ).json()
        await deliver_mail(engine, settings, tenant)
        first = link_token(inbox(mail_dir, "new@example.go.th")[0], tenant, "/staff/invitation")
        await sql(engine, tenant, "UPDATE one_time_tokens SET expires_at = now() - interval '1 second'")
        expired = await client.post(accept, json={"token": first, "password": PASSWORD}, headers=host(tenant.slug))
        assert (expired.status_code, expired.json()["code"]) == (404, "invalid_link")

        resent = await client.post(f"/v1/staff/{member['id']}/invitation", headers=admin(tenant))
        assert resent.status_code == 200, resent.text
        await deliver_mail(engine, settings, tenant)
        second = link_token(inbox(mail_dir, "new@example.go.th")[1], tenant, "/staff/invitation")
        assert (
            await client.post(accept, json={"token": second, "password": PASSWORD}, headers=host(tenant.slug))
        ).status_code == 204
        twice = await client.post(accept, json={"token": second, "password": NEW_PASSWORD}, headers=host(tenant.slug))
        assert (twice.status_code, twice.json()["code"]) == (404, "invalid_link")
        assert (await login(client, tenant, "new@example.go.th")).status_code == 200  # the first password holds
        not_invited = await client.post(f"/v1/staff/{member['id']}/invitation", headers=admin(tenant))
        assert (not_invited.status_code, not_invited.json()["code"]) == (409, "staff_not_invited")
        # A password-reset link is no invitation.
        await client.post(
            "/v1/auth/staff/password-reset", json={"email": "new@example.go.th"}, headers=host(tenant.slug)
        )
        await deliver_mail(engine, settings, tenant)
        reset_token = link_token(inbox(mail_dir, "new@example.go.th")[2], tenant, "/staff/password-reset")
        wrong_kind = await client.post(
            accept, json={"token": reset_token, "password": NEW_PASSWORD}, headers=host(tenant.slug)
        )
        assert wrong_kind.json()["code"] == "invalid_link"


async def test_password_change_needs_the_current_password_and_ends_other_sessions(
    engine: AsyncEngine, client_for: ClientFactory, settings: Settings
) -> None:
    tenant = await make_tenant(engine)
    await add_staff(engine, tenant, "staff@example.go.th", roles=["tenant_admin"])
    async with client_for(settings_=settings) as client:
        here = (await login(client, tenant, "staff@example.go.th")).json()
        there = (await login(client, tenant, "staff@example.go.th")).json()
        auth = {**host(tenant.slug), "Authorization": f"Bearer {here['access_token']}"}
        wrong = await client.post(
            "/v1/me/password", json={"current_password": "not it at all", "new_password": NEW_PASSWORD}, headers=auth
        )
        assert (wrong.status_code, wrong.json()["code"]) == (400, "wrong_password")
        short = await client.post(
            "/v1/me/password", json={"current_password": PASSWORD, "new_password": "short"}, headers=auth
        )
        assert short.json()["code"] == "password_too_short"
        changed = await client.post(
            "/v1/me/password", json={"current_password": PASSWORD, "new_password": NEW_PASSWORD}, headers=auth
        )
        assert changed.status_code == 200, changed.text
        assert claims(changed.json()["access_token"])["roles"] == ["tenant_admin"]
        assert (await refresh(client, tenant, here["refresh_token"])).status_code == 401
        assert (await refresh(client, tenant, there["refresh_token"])).status_code == 401
        assert (await refresh(client, tenant, changed.json()["refresh_token"])).status_code == 200  # this session
        assert (await login(client, tenant, "staff@example.go.th")).status_code == 401
        assert (await login(client, tenant, "staff@example.go.th", NEW_PASSWORD)).status_code == 200
        not_staff = await client.post(
            "/v1/me/password",
            json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
            headers={**host(tenant.slug), **bearer(tenant, kind="citizen")},
        )
        assert not_staff.status_code == 403


# --- administration -----------------------------------------------------------------------------


async def test_disabled_member_cannot_log_in_or_refresh_until_enabled(
    engine: AsyncEngine, client_for: ClientFactory, settings: Settings
) -> None:
    tenant = await make_tenant(engine)
    user_id = await add_staff(engine, tenant, "staff@example.go.th")
    async with client_for(settings_=settings) as client:
        session = (await login(client, tenant, "staff@example.go.th")).json()
        disabled = await client.post(f"/v1/staff/{user_id}/disable", headers=admin(tenant))
        assert (disabled.status_code, disabled.json()["status"]) == (200, "disabled")
        assert (await refresh(client, tenant, session["refresh_token"])).json()["code"] == "refresh_token_revoked"
        right = await login(client, tenant, "staff@example.go.th")
        assert (right.status_code, right.json()["code"]) == (403, "account_disabled")
        wrong = await login(client, tenant, "staff@example.go.th", "wrong password 123")
        assert (wrong.status_code, wrong.json()["code"]) == (401, "invalid_credentials")
        me = await client.get(
            "/v1/me", headers={**host(tenant.slug), "Authorization": f"Bearer {session['access_token']}"}
        )
        # The access token in hand is refused at once on every route (kernel.auth.revocations).
        assert (me.status_code, me.json()["code"]) == (401, "token_revoked")
        enabled = await client.post(f"/v1/staff/{user_id}/enable", headers=admin(tenant))
        assert enabled.json()["status"] == "active"
        assert (await login(client, tenant, "staff@example.go.th")).status_code == 200


async def test_invitation_validation_and_grantable_roles(
    engine: AsyncEngine, client_for: ClientFactory, settings: Settings
) -> None:
    with_demo = await make_tenant(engine, services=["demo"])
    without = await make_tenant(engine)
    async with client_for(settings_=settings) as client:
        roles = await client.get("/v1/staff/roles", headers=admin(with_demo))
        assert [r["code"] for r in roles.json()["items"]] == ["tenant_admin", "demo.clerk"]
        assert roles.json()["items"][1]["service"] == "demo"
        only_admin = await client.get("/v1/staff/roles", headers=admin(without))
        assert [r["code"] for r in only_admin.json()["items"]] == ["tenant_admin"]
        for bad in ("not-an-address", "a b@example.go.th", "x@y", "a@b.c\r\nBcc: evil@example.com"):
            response = await client.post("/v1/staff", json={"email": bad, "full_name": "X"}, headers=admin(with_demo))
            assert (response.status_code, response.json()["code"]) == (400, "validation_error"), bad
        unnamed = await client.post(
            "/v1/staff", json={"email": "a@example.go.th", "full_name": "  "}, headers=admin(with_demo)
        )
        assert unnamed.json()["code"] == "validation_error"
        foreign_role = await client.post(
            "/v1/staff",
            json={"email": "a@example.go.th", "full_name": "A", "roles": ["demo.clerk"]},
            headers=admin(without),
        )
        assert (foreign_role.status_code, foreign_role.json()["code"]) == (422, "role_not_grantable")
        ok = await client.post(
            "/v1/staff",
            json={"email": "a@example.go.th", "full_name": "A", "roles": ["demo.clerk"]},
            headers=admin(with_demo),
        )
        assert ok.status_code == 201
        taken = await client.post(
            "/v1/staff", json={"email": "A@Example.go.th", "full_name": "A"}, headers=admin(with_demo)
        )
        assert (taken.status_code, taken.json()["code"]) == (409, "email_taken")
        grant = await client.put(f"/v1/staff/{ok.json()['id']}/roles/inspector", headers=admin(with_demo))
        assert grant.json()["code"] == "role_not_grantable"
        missing = await client.get(f"/v1/staff/{uuid.uuid4()}", headers=admin(with_demo))
        assert (missing.status_code, missing.json()["code"]) == (404, "staff_not_found")


def _admin_routes() -> set[str]:
    app = create_app(make_settings("postgresql://unused/x"), plugins=[DEMO])
    out = set()
    for route in app.routes:
        if route.path.startswith(("/v1/staff", "/v1/audit-events", "/v1/me")):
            for method in getattr(route, "methods", ()):
                if method not in ("OPTIONS", "HEAD"):
                    out.add(f"{method} {route.path}")
    return out


async def test_role_matrix_of_every_staff_route(
    engine: AsyncEngine, client_for: ClientFactory, settings: Settings
) -> None:
    tenant = await make_tenant(engine, services=["demo"])
    member = await add_staff(engine, tenant, "member@example.go.th", roles=["demo.clerk"])
    invited = await add_staff(engine, tenant, "invited@example.go.th", status="invited", with_password=False)
    await add_staff(engine, tenant, "boss@example.go.th", roles=["tenant_admin"])
    cases: list[tuple[str, str, str, dict[str, Any] | None, int]] = [
        ("GET", "/v1/staff", "/v1/staff", None, 200),
        ("POST", "/v1/staff", "/v1/staff", {"email": "n{}@example.go.th", "full_name": "N"}, 201),
        ("GET", "/v1/staff/roles", "/v1/staff/roles", None, 200),
        ("GET", "/v1/staff/{staff_id:uuid}", f"/v1/staff/{member}", None, 200),
        ("POST", "/v1/staff/{staff_id:uuid}/invitation", f"/v1/staff/{invited}/invitation", None, 200),
        ("POST", "/v1/staff/{staff_id:uuid}/disable", f"/v1/staff/{member}/disable", None, 200),
        ("POST", "/v1/staff/{staff_id:uuid}/enable", f"/v1/staff/{member}/enable", None, 200),
        ("PUT", "/v1/staff/{staff_id:uuid}/roles/{role:str}", f"/v1/staff/{member}/roles/tenant_admin", None, 200),
        ("DELETE", "/v1/staff/{staff_id:uuid}/roles/{role:str}", f"/v1/staff/{member}/roles/tenant_admin", None, 200),
        (
            "PUT",
            "/v1/staff/{staff_id:uuid}/assignment",
            f"/v1/staff/{member}/assignment",
            {"unit_id": None, "position_id": None},
            200,
        ),
        ("GET", "/v1/audit-events", "/v1/audit-events", None, 200),
    ]
    assert {f"{m} {p}" for m, p, *_ in cases} | {"GET /v1/me", "POST /v1/me/password"} == _admin_routes()
    callers = {
        "no token": host(tenant.slug),
        # Not the member's own token: disabling the member (a case below) revokes that one at once.
        "staff without tenant_admin": {
            **host(tenant.slug),
            **bearer(tenant, roles=["demo.clerk"], subject=str(uuid.uuid4())),
        },
        "citizen": {**host(tenant.slug), **bearer(tenant, kind="citizen")},
        "api client": {**host(tenant.slug), **bearer(tenant, kind="client", scopes=["demo.write"])},
        "operator": {**host(tenant.slug), **bearer(None, kind="operator", roles=["platform_admin"])},
    }
    async with client_for(settings_=settings) as client:
        for n, (method, _, path, body, success) in enumerate(cases):
            payload = {k: v.format(n) if isinstance(v, str) else v for k, v in body.items()} if body else None
            for who, headers in callers.items():
                denied = await client.request(method, path, json=payload, headers=headers)
                expected = 403 if who in ("staff without tenant_admin", "citizen", "api client") else 401
                assert denied.status_code == expected, (method, path, who, denied.text)
            allowed = await client.request(method, path, json=payload, headers=admin(tenant))
            assert allowed.status_code == success, (method, path, allowed.text)
        me_auth = {**host(tenant.slug), **bearer(tenant, roles=["demo.clerk"], subject=member)}
        assert (await client.get("/v1/me", headers=me_auth)).status_code == 200
        for who in ("no token", "citizen", "api client", "operator"):
            assert (await client.get("/v1/me", headers=callers[who])).status_code in (401, 403), who
            change = await client.post(
                "/v1/me/password",
                json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
                headers=callers[who],
            )
            assert change.status_code in (401, 403), who
        changed = await client.post(
            "/v1/me/password", json={"current_password": PASSWORD, "new_password": NEW_PASSWORD}, headers=me_auth
        )
        assert changed.status_code == 200


async def test_the_last_administrator_cannot_be_removed(
    engine: AsyncEngine, client_for: ClientFactory, settings: Settings
) -> None:
    tenant = await make_tenant(engine)
    first = await add_staff(engine, tenant, "first@example.go.th", roles=["tenant_admin"])
    second = await add_staff(engine, tenant, "second@example.go.th", roles=["tenant_admin"])
    await add_staff(
        engine, tenant, "pending@example.go.th", roles=["tenant_admin"], status="invited", with_password=False
    )
    as_first = admin(tenant, first)
    async with client_for(settings_=settings) as client:
        assert (await client.delete(f"/v1/staff/{second}/roles/tenant_admin", headers=as_first)).status_code == 200
        last = await client.delete(f"/v1/staff/{first}/roles/tenant_admin", headers=as_first)
        assert (last.status_code, last.json()["code"]) == (409, "last_admin")  # an invited admin does not count
        disable_last = await client.post(f"/v1/staff/{first}/disable", headers=as_first)
        assert (disable_last.status_code, disable_last.json()["code"]) == (409, "last_admin")
        await client.put(f"/v1/staff/{second}/roles/tenant_admin", headers=as_first)
        await client.post(f"/v1/staff/{second}/disable", headers=as_first)
        still_last = await client.delete(f"/v1/staff/{first}/roles/tenant_admin", headers=as_first)
        assert still_last.json()["code"] == "last_admin"  # a disabled admin does not count either
        await client.post(f"/v1/staff/{second}/enable", headers=as_first)
        stepped_down = await client.delete(f"/v1/staff/{first}/roles/tenant_admin", headers=as_first)
        assert (stepped_down.status_code, stepped_down.json()["roles"]) == (200, [])
        again = await client.delete(f"/v1/staff/{first}/roles/tenant_admin", headers=as_first)
        assert again.status_code == 200  # idempotent
    roles = await sql(engine, tenant, "SELECT u.email FROM staff_roles r JOIN staff_users u ON u.id = r.user_id")
    assert sorted(r.email for r in roles) == ["pending@example.go.th", "second@example.go.th"]


async def test_audit_events_carry_actor_source_ip_and_request_id(
    engine: AsyncEngine, client_for: ClientFactory, settings: Settings
) -> None:
    tenant = await make_tenant(engine, services=["demo"])
    target = await add_staff(engine, tenant, "target@example.go.th")
    await add_staff(engine, tenant, "boss@example.go.th", roles=["tenant_admin"])
    steps: list[tuple[str, str, str, dict[str, Any] | None, str, str | None]] = [
        # (method, path, headers kind, body, expected action, expected actor id: None = anonymous)
        ("PUT", f"/v1/staff/{target}/roles/demo.clerk", "admin", None, "role.granted", ADMIN_ID),
        ("DELETE", f"/v1/staff/{target}/roles/demo.clerk", "admin", None, "role.revoked", ADMIN_ID),
        ("POST", f"/v1/staff/{target}/disable", "admin", None, "staff.disabled", ADMIN_ID),
        ("POST", f"/v1/staff/{target}/enable", "admin", None, "staff.enabled", ADMIN_ID),
        ("POST", "/v1/staff", "admin", {"email": "new@example.go.th", "full_name": "N"}, "invitation.sent", ADMIN_ID),
        (
            "POST",
            "/v1/auth/staff/login",
            "none",
            {"email": "target@example.go.th", "password": "wrong password 1"},
            "login.failed",
            None,
        ),
        (
            "POST",
            "/v1/auth/staff/login",
            "none",
            {"email": "target@example.go.th", "password": PASSWORD},
            "login.succeeded",
            target,
        ),
    ]
    async with client_for(settings_=settings) as client:
        for n, (method, path, kind, body, action, actor) in enumerate(steps):
            request_id = f"audit-test-{n:04d}"
            headers = {**(admin(tenant) if kind == "admin" else host(tenant.slug)), "X-Request-Id": request_id}
            response = await client.request(method, path, json=body, headers=headers)
            assert response.status_code < 500
            events = [e for e in await audit(client, tenant) if e["request_id"] == request_id]
            assert action in [e["action"] for e in events], events
            event = next(e for e in events if e["action"] == action)
            assert event["source_ip"] == "127.0.0.1"
            assert event["actor_id"] == actor
            assert event["actor_kind"] == ("anonymous" if actor is None else "staff")
            assert event["occurred_at"]
        issued = (await audit(client, tenant, action="token.issued"))[0]
        assert (issued["request_id"], issued["actor_id"], issued["data"]["grant"]) == (
            "audit-test-0006",
            target,
            "password",
        )
        tokens = (await login(client, tenant, "target@example.go.th")).json()
        changed = await client.post(
            "/v1/me/password",
            json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
            headers={
                **host(tenant.slug),
                "Authorization": f"Bearer {tokens['access_token']}",
                "X-Request-Id": "pw-change-1",
            },
        )
        assert changed.status_code == 200
        [password_event] = await audit(client, tenant, action="password.changed")
        assert (password_event["actor_id"], password_event["request_id"]) == (target, "pw-change-1")
        # Paging: newest first, then older pages.
        first_page = (await client.get("/v1/audit-events", params={"limit": 2}, headers=admin(tenant))).json()
        assert len(first_page["items"]) == 2
        assert first_page["items"][0]["id"] > first_page["items"][1]["id"]
        older = (
            await client.get(
                "/v1/audit-events",
                params={"limit": 2, "cursor": first_page["next_cursor"]},
                headers=admin(tenant),
            )
        ).json()
        assert older["items"][0]["id"] < first_page["items"][1]["id"]


# --- isolation between LAOs ---------------------------------------------------------------------


async def test_a_staff_token_of_one_lao_is_worthless_at_another(
    engine: AsyncEngine, client_for: ClientFactory, settings: Settings
) -> None:
    a = await make_tenant(engine)
    b = await make_tenant(engine)
    user_a = await add_staff(engine, a, "staff@example.go.th", roles=["tenant_admin"])
    async with client_for(settings_=settings) as client:
        tokens = (await login(client, a, "staff@example.go.th")).json()
        auth = {"Authorization": f"Bearer {tokens['access_token']}"}
        assert (await client.get("/v1/me", headers={**host(a.slug), **auth})).status_code == 200
        on_b = await client.get("/v1/me", headers={**host(b.slug), **auth})
        assert (on_b.status_code, on_b.json()["data"]["reason"]) == (401, "issuer")
        assert (await client.get("/v1/staff", headers={**host(b.slug), **auth})).status_code == 401
        on_operator = await client.get("/v1/me", headers={"Host": BASE, **auth})
        assert on_operator.status_code in (401, 404)
        # B's administrators cannot reach A's staff by id.
        for method, path in (
            ("GET", f"/v1/staff/{user_a}"),
            ("POST", f"/v1/staff/{user_a}/disable"),
            ("POST", f"/v1/staff/{user_a}/enable"),
            ("POST", f"/v1/staff/{user_a}/invitation"),
            ("PUT", f"/v1/staff/{user_a}/roles/tenant_admin"),
            ("DELETE", f"/v1/staff/{user_a}/roles/tenant_admin"),
        ):
            response = await client.request(method, path, headers=admin(b))
            assert (response.status_code, response.json()["code"]) == (404, "staff_not_found"), (method, path)


async def test_staff_of_one_lao_are_invisible_through_every_endpoint_of_another(
    engine: AsyncEngine, client_for: ClientFactory, settings: Settings, mail_dir: Path
) -> None:
    a = await make_tenant(engine)
    b = await make_tenant(engine)
    await add_staff(engine, b, "boss@example.go.th", roles=["tenant_admin"])
    async with client_for(settings_=settings) as client:
        invited = await client.post(
            "/v1/staff", json={"email": "a-staff@example.go.th", "full_name": "A"}, headers=admin(a)
        )
        user_a = invited.json()["id"]
        await deliver_mail(engine, settings, a)
        invite_token = link_token(inbox(mail_dir, "a-staff@example.go.th")[0], a, "/staff/invitation")
        accept_on_b = await client.post(
            "/v1/auth/staff/invitation/accept", json={"token": invite_token, "password": PASSWORD}, headers=host(b.slug)
        )
        assert accept_on_b.json()["code"] == "invalid_link"
        assert (
            await client.post(
                "/v1/auth/staff/invitation/accept",
                json={"token": invite_token, "password": PASSWORD},
                headers=host(a.slug),
            )
        ).status_code == 204  # B's attempt did not spend A's link
        tokens_a = (await login(client, a, "a-staff@example.go.th")).json()

        listed = (await client.get("/v1/staff", headers=admin(b))).json()
        assert [m["email"] for m in listed["items"]] == ["boss@example.go.th"]
        assert (await client.get(f"/v1/staff/{user_a}", headers=admin(b))).status_code == 404
        assert (await login(client, b, "a-staff@example.go.th")).json()["code"] == "invalid_credentials"
        assert (await refresh(client, b, tokens_a["refresh_token"])).json()["code"] == "invalid_grant"
        assert (
            await client.post(
                "/v1/auth/logout", json={"refresh_token": tokens_a["refresh_token"]}, headers=host(b.slug)
            )
        ).status_code == 204
        assert (await refresh(client, a, tokens_a["refresh_token"])).status_code == 200  # B's logout did nothing
        reset_on_b = await client.post(
            "/v1/auth/staff/password-reset", json={"email": "a-staff@example.go.th"}, headers=host(b.slug)
        )
        assert reset_on_b.status_code == 202
        assert await deliver_mail(engine, settings, b) == 0
        assert await deliver_mail(engine, settings, a) == 0
        b_events = await audit(client, b)
        a_events = await audit(client, a)
    assert all(user_a not in json.dumps(e) for e in b_events)
    assert {e["action"] for e in b_events} == {"login.failed", "password.reset_requested"}
    assert all(e["data"].get("sent") is False for e in b_events if e["action"] == "password.reset_requested")
    assert {"invitation.sent", "invitation.accepted", "login.succeeded"} <= {e["action"] for e in a_events}


# --- the command line ---------------------------------------------------------------------------


def test_cli_add_admin_invites_and_prints_the_link(
    database_url: str, mail_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import asyncio

    from localgov.cli import main
    from localgov.kernel.db import create_engine

    async def setup() -> TenantInfo:
        eng = create_engine(make_settings(database_url))
        try:
            return await make_tenant(eng)
        finally:
            await eng.dispose()

    tenant = asyncio.run(setup())
    for name, value in {
        "LOCALGOV_DATABASE_URL": database_url,
        "LOCALGOV_ENV": "test",
        "LOCALGOV_BASE_DOMAIN": BASE,
        "LOCALGOV_SECRET_KEY": make_settings(database_url).secret_key,
        "LOCALGOV_MAIL_URL": f"file://{mail_dir}",
        "LOCALGOV_LOG_LEVEL": "WARNING",
    }.items():
        monkeypatch.setenv(name, value)
    argv = ["tenants", "add-admin", "--tenant", tenant.slug, "--email", "Admin@Example.go.th", "--name", "ผู้ดูแล"]
    assert main(argv) == 0
    first = capsys.readouterr().out
    assert f"https://{tenant.slug}.{BASE}/staff/invitation#token=" in first
    assert main(argv) == 0  # again: the same member, a new link
    second = capsys.readouterr().out
    assert "invitation#token=" in second
    assert second != first
    assert main(["tenants", "add-admin", "--tenant", "no-such-lao", "--email", "a@example.go.th", "--name", "A"]) == 1

    async def check() -> list[Any]:
        eng = create_engine(make_settings(database_url))
        try:
            users = await sql(
                eng,
                tenant,
                "SELECT u.email, u.status, array_agg(r.role) AS roles,"
                " (SELECT count(*) FROM one_time_tokens t WHERE t.user_id = u.id AND t.used_at IS NULL) AS live_links,"
                " (SELECT count(*) FROM platform.outbox o WHERE o.tenant_id = :t AND o.topic = 'mail.send') AS mails"
                " FROM staff_users u JOIN staff_roles r ON r.user_id = u.id GROUP BY u.id",
                t=tenant.id,
            )
            return list(users)
        finally:
            await eng.dispose()

    [user] = asyncio.run(check())
    assert (user.email, user.status, user.roles, user.live_links, user.mails) == (
        "admin@example.go.th",
        "invited",
        ["tenant_admin"],
        1,
        2,
    )
