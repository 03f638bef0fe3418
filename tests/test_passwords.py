"""The password policy (issue 18): zxcvbn refuses common and pattern passwords and passwords made
of the account's own words, for LAO staff (invitation, reset, change) and operator accounts."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.identity.operators import add_operator
from localgov.kernel.auth.passwords import PasswordTooWeak, account_words, check_password
from localgov.kernel.db import session_factory, tenant_session
from localgov.kernel.errors import DomainError
from localgov.settings import Settings
from tests.conftest import ClientFactory, host, make_settings
from tests.support.factories import make_tenant
from tests.test_staff import PASSWORD, add_staff, admin, deliver_mail, inbox, link_token, login

PASSPHRASE = "ม้าลายกินข้าวเหนียวริมโขง"  # a Thai passphrase of unrelated words


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, mail_url=f"file://{tmp_path / 'mail'}")


@pytest.mark.parametrize(
    "password", ["P@ssw0rd1234", "qwertyuiop123", "iloveyou2024", "aaaaaaaaaaaaaa", "1234567890ab"]
)
def test_common_and_pattern_passwords_are_refused_with_thai_and_english_feedback(password: str) -> None:
    with pytest.raises(PasswordTooWeak) as refused:
        check_password(password, min_length=12, min_score=3)
    data = refused.value.data or {}
    assert (refused.value.code, refused.value.status) == ("password_too_weak", 400)
    assert data["score"] < data["min_score"] == 3
    assert data["feedback_en"]
    assert data["feedback_th"]
    assert all(any("\u0e00" <= c <= "\u0e7f" for c in line) for line in data["feedback_th"])  # Thai, not a copy


@pytest.mark.parametrize("password", ["correct horse battery staple", PASSPHRASE, "Kaeng-som 7 ways in Lampang"])
def test_a_passphrase_is_accepted(password: str) -> None:
    check_password(password, min_length=12, min_score=3)


def test_the_accounts_own_words_make_a_password_weak() -> None:
    slug = f"bangkruai{uuid.uuid4().hex[:4]}"
    password = f"{slug}2567!"
    check_password(password, min_length=12, min_score=3)  # strong for anyone who does not know the LAO
    with pytest.raises(PasswordTooWeak) as refused:
        check_password(password, min_length=12, min_score=3, user_inputs=account_words(slug, "อบต. บางกรวย"))
    assert "รหัสผ่านมีชื่อ อีเมล หรือชื่อ อปท. ของบัญชีนี้" in (refused.value.data or {})["feedback_th"]
    assert account_words("Somchai.J@Example.go.th") == sorted(
        {"somchai.j@example.go.th", "somchai.j", "somchai", "example"}
    )


def test_length_bounds_come_first_and_score_zero_is_length_only() -> None:
    with pytest.raises(DomainError) as short:
        check_password("abc", min_length=12, min_score=3)
    assert short.value.code == "password_too_short"
    with pytest.raises(DomainError) as long_:
        check_password("x" * 1025, min_length=12, min_score=3)
    assert long_.value.code == "password_too_long"
    check_password("aaaaaaaaaaaa", min_length=12, min_score=0)
    check_password("long random text " * 50, min_length=12, min_score=3)  # estimated on its first 100 characters


async def test_staff_passwords_follow_the_policy_on_invitation_and_change(
    engine: AsyncEngine, client_for: ClientFactory, settings: Settings, tmp_path: Path
) -> None:
    tenant = await make_tenant(engine, slug=f"nongbua{uuid.uuid4().hex[:6]}", services=["demo"])
    async with client_for(settings_=settings) as client:
        invited = await client.post(
            "/v1/staff",
            json={"email": "wilai@example.go.th", "full_name": "วิไล Kaewmanee", "roles": ["demo.clerk"]},
            headers=admin(tenant),
        )
        assert invited.status_code == 201, invited.text
        assert await deliver_mail(engine, settings, tenant) == 1
        token = link_token(inbox(tmp_path / "mail", "wilai@example.go.th")[0], tenant, "/staff/invitation")
        accept = "/v1/auth/staff/invitation/accept"
        for weak in ("P@ssw0rd1234", "kaewmanee2567", f"{tenant.slug}-2567"):
            refused = await client.post(accept, json={"token": token, "password": weak}, headers=host(tenant.slug))
            assert refused.status_code == 400, (weak, refused.text)
            body = refused.json()
            assert body["code"] == "password_too_weak", weak
            assert body["title"].startswith("รหัสผ่านเดาได้ง่ายเกินไป")
            assert body["data"]["feedback_th"]
            assert body["data"]["feedback_en"]
        # A refusal rolled back: the link was not used up.
        accepted = await client.post(accept, json={"token": token, "password": PASSPHRASE}, headers=host(tenant.slug))
        assert accepted.status_code == 204, accepted.text
        assert (await login(client, tenant, "wilai@example.go.th", PASSPHRASE)).status_code == 200

        await add_staff(engine, tenant, "staff@example.go.th", roles=["tenant_admin"])
        session = (await login(client, tenant, "staff@example.go.th")).json()
        auth = {**host(tenant.slug), "Authorization": f"Bearer {session['access_token']}"}
        with_slug = await client.post(
            "/v1/me/password", json={"current_password": PASSWORD, "new_password": f"{tenant.slug}!2567"}, headers=auth
        )
        assert (with_slug.status_code, with_slug.json()["code"]) == (400, "password_too_weak")
        assert "รหัสผ่านมีชื่อ อีเมล หรือชื่อ อปท. ของบัญชีนี้" in with_slug.json()["data"]["feedback_th"]
        assert (await login(client, tenant, "staff@example.go.th")).status_code == 200  # unchanged


async def test_operator_accounts_follow_the_policy(engine: AsyncEngine) -> None:
    async with tenant_session(session_factory(engine), None) as session:
        with pytest.raises(PasswordTooWeak):
            await add_operator(
                session,
                email=f"op-{uuid.uuid4().hex[:8]}@operator.example",
                full_name="Somsak Operator",
                roles=["platform_admin"],
                password="somsakoperator1",
                min_length=12,
                min_score=3,
            )
