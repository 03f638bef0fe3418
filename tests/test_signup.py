"""Self-service signup through the API: every state, every refusal, races, and provisioning in the worker.

Provisioning tests run on a database of their own (the worker there delivers every outbox entry);
the rest share the run's database and take fresh DLA codes from the registry.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.app import plugin_dsn
from localgov.kernel.db import create_engine, session_factory, tenant_session
from localgov.kernel.outbox import deliver_batch
from localgov.platform.registry import lookup
from localgov.platform.signup import PROVISION_TOPIC
from localgov.plugins import REGISTRY
from localgov.settings import Settings
from localgov.worker import core_handlers
from tests.conftest import BASE, ClientFactory, host, make_settings
from tests.support.factories import make_tenant, next_dla_code
from tests.support.tokens import TEST_SECRET, bearer

OPERATOR = {"Host": BASE}


def admin() -> dict[str, str]:
    """An operator's headers, minted when a test needs them (never at import: tokens expire)."""
    return {**OPERATOR, **bearer(None, kind="operator", roles=["platform_admin"], subject="op-1")}


VERIFY_RE = re.compile(r"/signup/verify\?token=([A-Za-z0-9_-]+)")


def form(dla_code: str, slug: str | None = None, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "dla_code": dla_code,
        "slug": slug or f"s{dla_code}",
        "plan_code": "standard",
        "contact_name": "นางสาวสมหญิง ใจดี",
        "contact_position": "นักวิชาการคอมพิวเตอร์ปฏิบัติการ",
        "contact_email": f"IT.{dla_code}@Example.go.th",
        "contact_phone": "053-123456",
        "accept_terms": True,
    }
    values.update(overrides)
    return values


async def mails_to(engine: AsyncEngine, address: str) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT payload FROM platform.outbox WHERE topic = 'mail.send' AND payload->>'to' = :a ORDER BY id"),
            {"a": address},
        )
        return [row[0] for row in rows]


async def verify_token(engine: AsyncEngine, address: str) -> str:
    mails = await mails_to(engine, address)
    assert mails, f"no mail to {address}"
    match = VERIFY_RE.search(mails[-1]["text"])
    assert match is not None
    return match.group(1)


def status_token(submitted: dict[str, Any]) -> str:
    url: str = submitted["status_url"]
    assert url.startswith(f"https://{BASE}/signup/status?token=")
    return url.rsplit("=", 1)[1]


async def signup_row(engine: AsyncEngine, signup_id: int) -> dict[str, Any]:
    async with engine.connect() as conn:
        row = (
            (await conn.execute(text("SELECT * FROM platform.signup_requests WHERE id = :i"), {"i": signup_id}))
            .mappings()
            .one()
        )
        return dict(row)


@pytest.fixture
def signup_settings(database_url: str) -> Settings:
    # Every request of the test client comes from 127.0.0.1: the rate limit is tested on its own.
    return make_settings(database_url, signup_rate_limit=100_000, signup_link_rate_limit=100_000)


async def submit(http: httpx.AsyncClient, data: dict[str, Any]) -> httpx.Response:
    return await http.post("/v1/signup", json=data, headers=OPERATOR)


# --- submitting and verifying ----------------------------------------------------------------------


async def test_submit_verify_and_status(
    client_for: ClientFactory, signup_settings: Settings, engine: AsyncEngine
) -> None:
    async with client_for(settings_=signup_settings, plugins=REGISTRY) as http:
        code = next_dla_code()
        response = await submit(http, form(code, contact_email=f"  IT.{code}@Example.go.th "))
        assert response.status_code == 201, response.text
        body = response.json()
        request = body["request"]
        entry = lookup(code)
        assert entry is not None
        # The name, type and province come from the registry; the e-mail is normalised.
        assert (request["status"], request["name_th"], request["lao_type"]) == (
            "pending_verification",
            entry.name_th,
            entry.type,
        )
        assert request["province_en"] == entry.province_en
        assert request["contact_email"] == f"it.{code}@example.go.th"
        row = await signup_row(engine, request["id"])
        assert row["verify_token_hash"] is not None
        assert len(row["verify_token_hash"]) == 32
        assert row["terms_version"] == "2026-11"
        assert row["terms_accepted_at"] is not None

        mails = await mails_to(engine, f"it.{code}@example.go.th")
        assert len(mails) == 1
        assert "ยืนยันอีเมล" in mails[0]["subject"]
        assert "Confirm" in mails[0]["subject"]
        token = await verify_token(engine, f"it.{code}@example.go.th")
        assert token.encode() not in row["verify_token_hash"]

        status = await http.post("/v1/signup/status", json={"token": status_token(body)}, headers=OPERATOR)
        assert status.status_code == 200
        assert status.json()["status"] == "pending_verification"
        assert status.json()["status_th"] == "รอยืนยันอีเมล"

        verified = await http.post("/v1/signup/verify", json={"token": token}, headers=OPERATOR)
        assert verified.status_code == 200, verified.text
        assert verified.json()["status"] == "pending_approval"
        row = await signup_row(engine, request["id"])
        assert row["status"] == "pending_approval"
        assert row["verified_at"] is not None
        assert row["verify_token_hash"] is None

        # The link is single use.
        again = await http.post("/v1/signup/verify", json={"token": token}, headers=OPERATOR)
        assert again.status_code == 404
        assert again.headers["content-type"].startswith("application/problem+json")
        assert again.json()["code"] == "invalid_link"

        listed = await http.get("/v1/signups", params={"status": "pending_approval"}, headers=admin())
        assert listed.status_code == 200
        assert request["id"] in [item["id"] for item in listed.json()["items"]]
        one = await http.get(f"/v1/signups/{request['id']}", headers=admin())
        assert one.status_code == 200
        assert one.json()["verified_at"] is not None
        assert "verify_token_hash" not in one.json()
        assert "status_token_hash" not in one.json()

        async with engine.connect() as conn:
            actions = (
                await conn.execute(
                    text("SELECT action FROM platform.operator_audit_events WHERE target = :t ORDER BY id"),
                    {"t": f"signup:{request['id']}"},
                )
            ).scalars()
            assert list(actions) == ["signup.submitted", "signup.verified"]


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"dla_code": "9999999"}, 422, "unknown_dla_code"),
        ({"dla_code": "12345"}, 422, "signup_invalid"),
        ({"slug": "www"}, 422, "slug_reserved"),
        ({"slug": "admin"}, 422, "slug_reserved"),
        ({"slug": "Has_Underscore"}, 422, "signup_invalid"),
        ({"slug": "ab"}, 422, "signup_invalid"),
        ({"slug": "a--b"}, 422, "signup_invalid"),
        ({"plan_code": "gold"}, 422, "signup_invalid"),
        ({"accept_terms": False}, 422, "signup_invalid"),
        ({"contact_email": "not-an-address"}, 422, "signup_invalid"),
        ({"contact_phone": "call me"}, 422, "signup_invalid"),
        ({"contact_name": "   "}, 422, "signup_invalid"),
    ],
)
async def test_refusals_of_the_form(
    client_for: ClientFactory,
    signup_settings: Settings,
    engine: AsyncEngine,
    change: dict[str, Any],
    status: int,
    code: str,
) -> None:
    async with client_for(settings_=signup_settings, plugins=REGISTRY) as http:
        data = form(next_dla_code())
        data.update(change)
        response = await submit(http, data)
        assert response.status_code == status, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["code"] == code
        if code == "signup_invalid":
            assert {e["key"] for e in response.json()["errors"]} == set(change)
            assert all(e["message_th"] and e["message"] for e in response.json()["errors"])
        async with engine.connect() as conn:
            stored = (
                await conn.execute(
                    text("SELECT count(*) FROM platform.signup_requests WHERE dla_code = :c"), {"c": data["dla_code"]}
                )
            ).scalar_one()
        assert stored == 0


async def test_malformed_bodies_are_problems_not_500(client_for: ClientFactory, signup_settings: Settings) -> None:
    async with client_for(settings_=signup_settings, plugins=REGISTRY) as http:
        for body in (b"", b"{", b"[]", b'{"dla_code": 1}'):
            response = await http.post(
                "/v1/signup", content=body, headers={**OPERATOR, "Content-Type": "application/json"}
            )
            assert response.status_code == 400, (body, response.text)
            assert response.headers["content-type"].startswith("application/problem+json")
        extra = form(next_dla_code(), name_th="ชื่อที่กรอกเอง")  # the name comes from the registry only
        response = await submit(http, extra)
        assert response.status_code == 400


async def test_registered_pending_and_taken(
    client_for: ClientFactory, signup_settings: Settings, engine: AsyncEngine
) -> None:
    async with client_for(settings_=signup_settings, plugins=REGISTRY) as http:
        tenant = await make_tenant(engine)
        registered = await submit(http, form(tenant.dla_code))
        assert (registered.status_code, registered.json()["code"]) == (409, "dla_code_registered")
        taken_by_tenant = await submit(http, form(next_dla_code(), slug=tenant.slug))
        assert (taken_by_tenant.status_code, taken_by_tenant.json()["code"]) == (409, "slug_taken")

        code = next_dla_code()
        first = await submit(http, form(code, slug=f"first-{code}"))
        assert first.status_code == 201
        pending = await submit(http, form(code, slug=f"second-{code}"))
        assert (pending.status_code, pending.json()["code"]) == (409, "dla_code_pending")
        slug_pending = await submit(http, form(next_dla_code(), slug=f"first-{code}"))
        assert (slug_pending.status_code, slug_pending.json()["code"]) == (409, "slug_taken")


async def test_an_expired_link_is_refused_and_frees_the_code(
    client_for: ClientFactory, signup_settings: Settings, engine: AsyncEngine
) -> None:
    async with client_for(settings_=signup_settings, plugins=REGISTRY) as http:
        code = next_dla_code()
        first = await submit(http, form(code))
        assert first.status_code == 201
        token = await verify_token(engine, f"it.{code}@example.go.th")
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "UPDATE platform.signup_requests SET verify_expires_at = now() - interval '1 second' WHERE id = :i"
                ),
                {"i": first.json()["request"]["id"]},
            )
        expired = await http.post("/v1/signup/verify", json={"token": token}, headers=OPERATOR)
        assert (expired.status_code, expired.json()["code"]) == (410, "link_expired")
        assert (await signup_row(engine, first.json()["request"]["id"]))["status"] == "pending_verification"

        # Someone may sign the LAO up again; the stale request lets go of the code and the sub-domain.
        second = await submit(http, form(code))
        assert second.status_code == 201, second.text
        old = await signup_row(engine, first.json()["request"]["id"])
        assert old["status"] == "expired"
        assert old["verify_token_hash"] is None
        gone = await http.post("/v1/signup/verify", json={"token": token}, headers=OPERATOR)
        assert gone.status_code == 404


async def test_thai_digits_are_read_as_arabic(
    client_for: ClientFactory, signup_settings: Settings, engine: AsyncEngine
) -> None:
    async with client_for(settings_=signup_settings, plugins=REGISTRY) as http:
        code = next_dla_code()
        thai = code.translate(str.maketrans("0123456789", "๐๑๒๓๔๕๖๗๘๙"))
        data = {**form(code, contact_phone="๐๕๓-๑๒๓๔๕๖"), "dla_code": thai}
        response = await submit(http, data)
        assert response.status_code == 201, response.text
        row = await signup_row(engine, response.json()["request"]["id"])
        assert (row["dla_code"], row["contact_phone"]) == (code, "053-123456")


async def test_the_status_link_shows_an_expired_request_as_expired(
    client_for: ClientFactory, signup_settings: Settings, engine: AsyncEngine
) -> None:
    async with client_for(settings_=signup_settings, plugins=REGISTRY) as http:
        submitted = (await submit(http, form(next_dla_code()))).json()
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "UPDATE platform.signup_requests SET verify_expires_at = now() - interval '1 second' WHERE id = :i"
                ),
                {"i": submitted["request"]["id"]},
            )
        status = await http.post("/v1/signup/status", json={"token": status_token(submitted)}, headers=OPERATOR)
        assert (status.json()["status"], status.json()["status_en"]) == ("expired", "The verification link expired")


async def test_invalid_tokens(client_for: ClientFactory, signup_settings: Settings) -> None:
    async with client_for(settings_=signup_settings, plugins=REGISTRY) as http:
        for token in ("nope", "x" * 200):
            for path in ("/v1/signup/verify", "/v1/signup/status"):
                response = await http.post(path, json={"token": token}, headers=OPERATOR)
                assert (response.status_code, response.json()["code"]) == (404, "invalid_link")
        too_long = await http.post("/v1/signup/verify", json={"token": "x" * 201}, headers=OPERATOR)
        assert too_long.status_code == 400


async def test_the_operator_decides(client_for: ClientFactory, signup_settings: Settings, engine: AsyncEngine) -> None:
    async with client_for(settings_=signup_settings, plugins=REGISTRY) as http:
        code = next_dla_code()
        submitted = (await submit(http, form(code))).json()
        signup_id = submitted["request"]["id"]
        # Not verified yet: cannot be approved, can be rejected.
        early = await http.post(f"/v1/signups/{signup_id}/approve", headers=admin())
        assert (early.status_code, early.json()["code"]) == (409, "signup_wrong_state")
        await http.post("/v1/signup/verify", json={"token": await verify_token(engine, f"it.{code}@example.go.th")},
                        headers=OPERATOR)  # fmt: skip
        short = await http.post(f"/v1/signups/{signup_id}/reject", json={"reason": "x"}, headers=admin())
        assert short.status_code == 400
        rejected = await http.post(
            f"/v1/signups/{signup_id}/reject", json={"reason": "ผู้ประสานงานไม่ใช่เจ้าหน้าที่ของ อปท."}, headers=admin()
        )
        assert rejected.status_code == 200, rejected.text
        assert rejected.json()["status"] == "rejected"
        assert rejected.json()["decided_by"] == "operator:op-1"
        mails = await mails_to(engine, f"it.{code}@example.go.th")
        assert "ผู้ประสานงานไม่ใช่เจ้าหน้าที่ของ อปท." in mails[-1]["text"]
        status = await http.post("/v1/signup/status", json={"token": status_token(submitted)}, headers=OPERATOR)
        assert status.json()["reason"] == "ผู้ประสานงานไม่ใช่เจ้าหน้าที่ของ อปท."

        for action in ("approve", "retry"):
            refused = await http.post(f"/v1/signups/{signup_id}/{action}", headers=admin())
            assert (refused.status_code, refused.json()["code"]) == (409, "signup_wrong_state"), action
        again = await http.post(f"/v1/signups/{signup_id}/reject", json={"reason": "twice"}, headers=admin())
        assert again.status_code == 409
        # A rejected request frees the code: the LAO may try again.
        assert (await submit(http, form(code))).status_code == 201
        missing = await http.get("/v1/signups/999999999", headers=admin())
        assert (missing.status_code, missing.json()["code"]) == (404, "signup_not_found")


async def test_who_may_decide(client_for: ClientFactory, signup_settings: Settings, engine: AsyncEngine) -> None:
    async with client_for(settings_=signup_settings, plugins=REGISTRY) as http:
        tenant = await make_tenant(engine)
        billing = {**OPERATOR, **bearer(None, kind="operator", roles=["billing_admin"])}
        tenant_admin = {**OPERATOR, **bearer(tenant, roles=["tenant_admin"])}
        on_tenant_host = {**host(tenant.slug), **bearer(None, kind="operator", roles=["platform_admin"])}
        for method, path in (
            ("GET", "/v1/signups"),
            ("GET", "/v1/signups/999999999"),
            ("POST", "/v1/signups/999999999/approve"),
            ("POST", "/v1/signups/999999999/retry"),
        ):
            assert (await http.request(method, path, headers=OPERATOR)).status_code == 401
            assert (await http.request(method, path, headers=billing)).status_code == 403
            assert (await http.request(method, path, headers=tenant_admin)).status_code == 401
            assert (await http.request(method, path, headers=on_tenant_host)).status_code == 404
            allowed = await http.request(method, path, headers=admin())
            assert allowed.status_code == (200 if path == "/v1/signups" else 404)
        # The public signup routes exist on the operator host only.
        assert (await http.post("/v1/signup", json=form(next_dla_code()), headers=host(tenant.slug))).status_code == 404


async def test_rate_limit_per_client_address(client_for: ClientFactory, database_url: str, engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("DELETE FROM platform.rate_limit_buckets WHERE key LIKE 'signup%'"))
    settings = make_settings(database_url, signup_rate_limit=2, signup_link_rate_limit=3)
    async with client_for(settings_=settings, plugins=REGISTRY) as http:
        codes = [r.status_code for r in [await submit(http, form(next_dla_code())) for _ in range(3)]]
        assert codes == [201, 201, 429]
        limited = await submit(http, form(next_dla_code()))
        assert limited.json()["code"] == "rate_limited"
        assert int(limited.headers["retry-after"]) > 0
        links = [
            (await http.post("/v1/signup/verify", json={"token": "nope"}, headers=OPERATOR)).status_code
            for _ in range(4)
        ]
        assert links == [404, 404, 404, 429]
    async with engine.begin() as conn:
        await conn.execute(text("DELETE FROM platform.rate_limit_buckets WHERE key LIKE 'signup%'"))


# --- races -----------------------------------------------------------------------------------------


async def test_concurrent_signups_for_one_code_or_one_subdomain(
    client_for: ClientFactory, signup_settings: Settings
) -> None:
    async with client_for(settings_=signup_settings, plugins=REGISTRY) as http:
        code = next_dla_code()
        same_code = await asyncio.gather(*(submit(http, form(code, slug=f"race{i}-{code}")) for i in range(8)))
        assert sorted(r.status_code for r in same_code) == [201] + [409] * 7
        assert {r.json()["code"] for r in same_code if r.status_code == 409} == {"dla_code_pending"}

        slug = f"race-{next_dla_code()}"
        same_slug = await asyncio.gather(*(submit(http, form(next_dla_code(), slug=slug)) for _ in range(8)))
        assert sorted(r.status_code for r in same_slug) == [201] + [409] * 7
        assert {r.json()["code"] for r in same_slug if r.status_code == 409} == {"slug_taken"}


# --- provisioning in the worker ----------------------------------------------------------------------


@pytest.fixture
def worker_settings(fresh_database_url: str, tmp_path: Path) -> Settings:
    return make_settings(
        fresh_database_url,
        signup_rate_limit=1000,
        signup_link_rate_limit=1000,
        mail_url=f"file://{tmp_path / 'mail'}",
    )


async def deliver_all(settings: Settings) -> int:
    engine = create_engine(settings)
    try:
        async with tenant_session(session_factory(engine), None) as session:
            return await deliver_batch(session, core_handlers(settings, REGISTRY), {}, batch_size=100, max_attempts=3)
    finally:
        await engine.dispose()


async def approved(http: httpx.AsyncClient, engine: AsyncEngine, code: str, **overrides: Any) -> int:
    submitted = await submit(http, form(code, **overrides))
    assert submitted.status_code == 201, submitted.text
    token = await verify_token(engine, overrides.get("contact_email", f"it.{code}@example.go.th").lower().strip())
    assert (await http.post("/v1/signup/verify", json={"token": token}, headers=OPERATOR)).status_code == 200
    signup_id: int = submitted.json()["request"]["id"]
    response = await http.post(f"/v1/signups/{signup_id}/approve", headers=admin())
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "provisioning"
    return signup_id


async def tenant_counts(engine: AsyncEngine, code: str) -> dict[str, Any]:
    schema = f"lao_{code}"
    async with engine.connect() as conn:
        tenants = (
            await conn.execute(text("SELECT count(*) FROM platform.tenants WHERE dla_code = :c"), {"c": code})
        ).scalar_one()
        schemas = (
            await conn.execute(
                text("SELECT count(*) FROM information_schema.schemata WHERE schema_name = :s"), {"s": schema}
            )
        ).scalar_one()
        out: dict[str, Any] = {"tenants": tenants, "schemas": schemas}
        if tenants and schemas:
            out["staff"] = (
                await conn.execute(text(f'SELECT email, status FROM "{schema}".staff_users ORDER BY email'))
            ).all()
            out["roles"] = (await conn.execute(text(f'SELECT role FROM "{schema}".staff_roles'))).scalars().all()
            out["tariffs"] = (await conn.execute(text(f'SELECT count(*) FROM "{schema}".tariffs'))).scalar_one()
        return out


async def test_approval_provisions_through_the_worker(client_for: ClientFactory, worker_settings: Settings) -> None:
    engine = create_engine(worker_settings)
    try:
        async with client_for(settings_=worker_settings, plugins=REGISTRY) as http:
            code = next_dla_code()
            signup_id = await approved(http, engine, code, plan_code="basic", slug=f"new-{code}")
            assert (await http.get("/v1/tenant", headers=host(f"new-{code}"))).status_code == 404
            assert await deliver_all(worker_settings) >= 1

            row = await signup_row(engine, signup_id)
            assert (row["status"], row["attempts"], row["error"]) == ("active", 1, None)
            counts = await tenant_counts(engine, code)
            assert (counts["tenants"], counts["schemas"]) == (1, 1)
            assert counts["staff"] == [(f"it.{code}@example.go.th", "invited")]
            assert counts["roles"] == ["tenant_admin"]
            assert counts["tariffs"] == 3  # the editable defaults of the payments service
            async with engine.connect() as conn:
                tenant = (
                    (await conn.execute(text("SELECT * FROM platform.tenants WHERE dla_code = :c"), {"c": code}))
                    .mappings()
                    .one()
                )
            entry = lookup(code)
            assert entry is not None
            assert (tenant["source"], tenant["plan_code"], tenant["enabled_services"]) == (
                "signup",
                "basic",
                ["payments"],
            )
            assert tenant["name_th"] == entry.name_th
            assert tenant["province_code"] == entry.province_code
            assert row["tenant_id"] == tenant["id"]

            # The catalog follows by NOTIFY: the new host answers.
            for _ in range(100):
                profile = await http.get("/v1/tenant", headers=host(f"new-{code}"))
                if profile.status_code == 200:
                    break
                await asyncio.sleep(0.05)
            assert profile.status_code == 200
            assert profile.json()["dla_code"] == code
            assert [s["slug"] for s in profile.json()["services"]] == ["payments"]

            invitation = await mails_to(engine, f"it.{code}@example.go.th")
            assert any("/staff/invitation#token=" in m["text"] for m in invitation)
            status = await http.get(f"/v1/signups/{signup_id}", headers=admin())
            assert status.json()["provisioned_at"] is not None

            # Delivered twice (at-least-once): nothing is duplicated.
            async with engine.begin() as conn:
                await conn.execute(
                    text("UPDATE platform.outbox SET status = 'pending' WHERE topic = :t"), {"t": PROVISION_TOPIC}
                )
            await deliver_all(worker_settings)
            assert await tenant_counts(engine, code) == counts
    finally:
        await engine.dispose()


async def test_a_failed_provisioning_is_kept_and_retried(client_for: ClientFactory, worker_settings: Settings) -> None:
    engine = create_engine(worker_settings)
    try:
        async with client_for(settings_=worker_settings, plugins=REGISTRY) as http:
            code = next_dla_code()
            # Something is in the way: a schema of that name already exists.
            async with engine.begin() as conn:
                await conn.execute(text(f'CREATE SCHEMA "lao_{code}"'))
            signup_id = await approved(http, engine, code)
            await deliver_all(worker_settings)
            row = await signup_row(engine, signup_id)
            assert row["status"] == "failed"
            assert "already exists" in row["error"]
            assert row["attempts"] == 1
            counts = await tenant_counts(engine, code)
            assert counts["tenants"] == 0
            status = await http.get(f"/v1/signups/{signup_id}", headers=admin())
            assert status.json()["error"] == row["error"]
            # The failed request still holds its code.
            assert (await submit(http, form(code, slug=f"other-{code}"))).json()["code"] == "dla_code_pending"

            async with engine.begin() as conn:
                await conn.execute(text(f'DROP SCHEMA "lao_{code}"'))
            retried = await http.post(f"/v1/signups/{signup_id}/retry", headers=admin())
            assert retried.status_code == 202
            assert retried.json()["status"] == "provisioning"
            await deliver_all(worker_settings)
            row = await signup_row(engine, signup_id)
            assert (row["status"], row["attempts"]) == ("active", 2)
            counts = await tenant_counts(engine, code)
            assert (counts["tenants"], counts["schemas"], counts["roles"]) == (1, 1, ["tenant_admin"])
    finally:
        await engine.dispose()


async def test_auto_approval(client_for: ClientFactory, worker_settings: Settings) -> None:
    settings = worker_settings.__class__(
        **{**{f: getattr(worker_settings, f) for f in worker_settings.__struct_fields__}, "signup_auto_approve": True}
    )
    engine = create_engine(settings)
    try:
        async with client_for(settings_=settings, plugins=REGISTRY) as http:
            code = next_dla_code()
            submitted = await submit(http, form(code))
            token = await verify_token(engine, f"it.{code}@example.go.th")
            verified = await http.post("/v1/signup/verify", json={"token": token}, headers=OPERATOR)
            assert verified.json()["status"] == "provisioning"
            await deliver_all(settings)
            row = await signup_row(engine, submitted.json()["request"]["id"])
            assert (row["status"], row["decided_by"]) == ("active", "system:auto_approve")
    finally:
        await engine.dispose()


def test_a_worker_killed_half_way_leaves_nothing_and_a_retry_finishes(fresh_database_url: str, tmp_path: Path) -> None:
    """SIGKILL the real ``localgov worker`` while its provisioning transaction waits inside; restart it."""
    settings = make_settings(fresh_database_url, signup_rate_limit=1000, mail_url=f"file://{tmp_path}")
    code = next_dla_code()

    async def prepare() -> int:
        engine = create_engine(settings)
        app_settings = settings
        from localgov.app import create_app

        app = create_app(app_settings, plugins=REGISTRY, listen_for_catalog_changes=False)
        transport = httpx.ASGITransport(app=app)
        try:
            async with app.lifespan(), httpx.AsyncClient(transport=transport, base_url=f"http://{BASE}") as http:
                signup_id = await approved(http, engine, code)
            # The verification mail is out already: the provisioning message is the worker's only work.
            async with engine.begin() as conn:
                await conn.execute(text("UPDATE platform.outbox SET status = 'delivered' WHERE topic = 'mail.send'"))
            return signup_id
        finally:
            await engine.dispose()

    signup_id = asyncio.run(prepare())
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LOCALGOV_")},
        "LOCALGOV_DATABASE_URL": fresh_database_url,
        "LOCALGOV_ENV": "test",
        "LOCALGOV_SECRET_KEY": TEST_SECRET,
        "LOCALGOV_BASE_DOMAIN": BASE,
        "LOCALGOV_MAIL_URL": f"file://{tmp_path}",
        "LOCALGOV_WORKER_POLL_S": "0.2",
        "LOCALGOV_LOG_LEVEL": "WARNING",
    }
    dsn = plugin_dsn(settings)

    async def hold_and_kill() -> None:
        blocker = await asyncpg.connect(dsn)
        # pg_stat_activity is read once per transaction: watch from outside the blocker's.
        watcher = await asyncpg.connect(dsn)
        try:
            # Provisioning writes the outbox last (the admin's invitation): hold that table so the
            # worker stops there, its schema and catalog row written but not committed.
            tx = blocker.transaction()
            await tx.start()
            await blocker.execute("LOCK TABLE platform.outbox IN SHARE MODE")
            with (tmp_path / "worker.log").open("w") as log_file:
                child = subprocess.Popen(  # noqa: ASYNC220
                    [sys.executable, "-m", "localgov", "worker"], env=env, stdout=log_file, stderr=subprocess.STDOUT
                )
            try:
                waiting = None
                for _ in range(300):
                    waiting = await watcher.fetchval(
                        "SELECT query FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                        " AND query LIKE 'INSERT INTO platform.outbox%'"
                        " AND datname = current_database()"  # not a parallel test's request on its outbox
                    )
                    if waiting:
                        break
                    await asyncio.sleep(0.05)
                assert waiting, (tmp_path / "worker.log").read_text()[-3000:]
                child.send_signal(signal.SIGKILL)
                child.wait(timeout=10)
            finally:
                if child.poll() is None:
                    child.kill()
                    child.wait(timeout=10)
            await tx.rollback()
            seen = await blocker.fetchrow(
                "SELECT (SELECT count(*) FROM platform.tenants WHERE dla_code = $1) AS tenants,"
                " (SELECT count(*) FROM information_schema.schemata WHERE schema_name = $2) AS schemas,"
                " (SELECT status FROM platform.signup_requests WHERE id = $3) AS status,"
                " (SELECT status FROM platform.outbox WHERE topic = $4) AS entry",
                code,
                f"lao_{code}",
                signup_id,
                PROVISION_TOPIC,
            )
            assert dict(seen) == {"tenants": 0, "schemas": 0, "status": "provisioning", "entry": "pending"}
        finally:
            await blocker.close()
            await watcher.close()

    asyncio.run(hold_and_kill())

    child = subprocess.Popen([sys.executable, "-m", "localgov", "worker"], env=env)
    try:

        async def wait_active() -> dict[str, Any]:
            engine = create_engine(settings)
            try:
                for _ in range(300):
                    row = await signup_row(engine, signup_id)
                    if row["status"] == "active":
                        break
                    await asyncio.sleep(0.1)
                counts = await tenant_counts(engine, code)
                return {"status": row["status"], **counts}
            finally:
                await engine.dispose()

        done = asyncio.run(wait_active())
    finally:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            child.kill()
    assert done["status"] == "active"
    assert (done["tenants"], done["schemas"], done["roles"], done["tariffs"]) == (1, 1, ["tenant_admin"], 3)
    assert len(done["staff"]) == 1


async def test_nul_and_control_characters_are_refused_not_500(
    client_for: ClientFactory, signup_settings: Settings, engine: AsyncEngine
) -> None:
    async with client_for(settings_=signup_settings, plugins=REGISTRY) as http:
        refused = await submit(http, form(next_dla_code(), contact_name="สม\x00ชาย"))
        assert (refused.status_code, refused.json()["code"]) == (422, "signup_invalid")
        code = next_dla_code()
        submitted = (await submit(http, form(code))).json()
        reject = await http.post(
            f"/v1/signups/{submitted['request']['id']}/reject", json={"reason": "bad\x00reason"}, headers=admin()
        )
        assert (reject.status_code, reject.json()["code"]) == (400, "validation_error")
