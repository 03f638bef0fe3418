"""The signup web pages on the operator host: form, errors, the e-mailed links, headers, limits, logs."""

from __future__ import annotations

import html
import json
import re
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.platform.registry import lookup
from localgov.platform.signup import full_name_th
from localgov.plugins import REGISTRY
from localgov.settings import Settings
from tests.conftest import BASE, ClientFactory, make_settings
from tests.support.factories import make_tenant, next_dla_code

VERIFY_RE = re.compile(r"/signup/verify\?token=([A-Za-z0-9_-]+)")
STATUS_RE = re.compile(r"https://localgov\.test/signup/status\?token=([A-Za-z0-9_-]+)")
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def form(dla_code: str, slug: str | None = None, **overrides: str) -> dict[str, str]:
    values = {
        "dla_code": dla_code,
        "slug": slug or f"p{dla_code}",
        "plan_code": "standard",
        "contact_name": "นางสาวสมหญิง ใจดี",
        "contact_position": "นักวิชาการคอมพิวเตอร์ปฏิบัติการ",
        "contact_email": f"web.{dla_code}@example.go.th",
        "contact_phone": "053-123456",
        "accept_terms": "yes",
    }
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not None}


@pytest.fixture
def page_settings(database_url: str) -> Settings:
    # Every request of the test client comes from 127.0.0.1: the rate limit is tested on its own.
    return make_settings(database_url, signup_rate_limit=100_000, signup_link_rate_limit=100_000)


def assert_page(response: httpx.Response, status: int) -> str:
    """An HTML page in Thai with the security headers; returns its text."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "form-action 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "script-src" not in csp  # falls back to default-src 'none': no script at all
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "no-store" in response.headers["cache-control"]
    body = response.text
    assert '<html lang="th">' in body
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in body
    assert "<script" not in body
    assert " style=" not in body  # no inline style either (the CSP refuses it)
    return body


def input_value(body: str, name: str) -> str | None:
    match = re.search(rf'<input [^>]*name="{name}"[^>]*value="([^"]*)"', body)
    return html.unescape(match.group(1)) if match else None


def input_tag(body: str, name: str) -> str:
    match = re.search(rf'<input [^>]*name="{name}"[^>]*>', body)
    assert match is not None, name
    return match.group(0)


def status_of(body: str) -> str:
    match = re.search(r'<strong class="status [^"]*" id="status">([^<]*)</strong>', body)
    assert match is not None
    return match.group(1)


async def verify_token(engine: AsyncEngine, address: str) -> str:
    async with engine.connect() as conn:
        mails = (
            await conn.execute(
                text(
                    "SELECT payload FROM platform.outbox WHERE topic = 'mail.send' AND payload->>'to' = :a ORDER BY id"
                ),
                {"a": address},
            )
        ).scalars()
        match = VERIFY_RE.search(list(mails)[-1]["text"])
    assert match is not None
    return match.group(1)


async def request_status(engine: AsyncEngine, dla_code: str) -> str:
    async with engine.connect() as conn:
        return str(
            (
                await conn.execute(
                    text("SELECT status FROM platform.signup_requests WHERE dla_code = :c ORDER BY id DESC LIMIT 1"),
                    {"c": dla_code},
                )
            ).scalar_one()
        )


async def test_the_form(client_for: ClientFactory, page_settings: Settings) -> None:
    async with client_for(settings_=page_settings, plugins=REGISTRY) as http:
        body = assert_page(await http.get("/signup"), 200)
        # Every field has its label; the LAO's name, type and province are not asked.
        for name in ("dla_code", "slug", "plan_code", "contact_name", "contact_position", "contact_email"):
            assert f'<label for="f-{name}">' in body
            assert f'id="f-{name}" name="{name}"' in body
        assert '<label for="f-contact_phone">' in body
        assert '<label for="f-accept_terms">' in body
        for absent in ("name_th", "province", "lao_type"):
            assert f'name="{absent}"' not in body
        assert 'type="email"' in body
        assert 'type="tel"' in body
        assert 'inputmode="numeric"' in body
        # The base domain next to the sub-domain; the open plans; the terms' version.
        assert f".{BASE}</span>" in body
        assert '<option value="standard">มาตรฐาน: บริการประชาชนและรับชำระเงิน / Standard' in body
        assert '<option value="basic">' in body
        assert "ฉบับ 2026-11" in body
        assert "version 2026-11" in body
        # Thai first, English alongside.
        assert "สมัครใช้บริการ" in body
        assert "Sign up your local administrative organisation" in body
        assert "รหัส อปท." in body
        assert 'lang="en"' in body
        assert 'method="post" action="/signup"' in body

        css_url = re.search(r'<link rel="stylesheet" href="([^"]+)">', body)
        assert css_url is not None
        css = await http.get(css_url.group(1))
        assert css.status_code == 200
        assert css.headers["content-type"].startswith("text/css")
        assert "@media" in css.text

        # The pages are not API operations.
        paths = (await http.get("/schema/openapi.json")).json()["paths"]
        assert not [p for p in paths if p.startswith(("/signup", "/assets"))]


async def test_pages_are_served_on_the_operator_host_only(
    client_for: ClientFactory, page_settings: Settings, engine: AsyncEngine
) -> None:
    tenant = await make_tenant(engine)
    async with client_for(settings_=page_settings, plugins=REGISTRY) as http:
        for path in ("/signup", "/signup/verify?token=abc", "/signup/status?token=abc"):
            response = await http.get(path, headers={"Host": f"{tenant.slug}.{BASE}"})
            assert response.status_code == 404, path


async def test_errors_re_render_the_form_with_the_values_kept(
    client_for: ClientFactory, page_settings: Settings, engine: AsyncEngine
) -> None:
    async with client_for(settings_=page_settings, plugins=REGISTRY) as http:
        data = form(
            "12345",
            slug="Bad_Slug",
            contact_name='สมหญิง "<b>ใจดี</b>"',
            contact_email="not-an-address",
            contact_phone="call me",
            accept_terms=None,  # type: ignore[arg-type]
        )
        response = await http.post("/signup", data=data)
        body = assert_page(response, 422)
        assert "<title>ข้อผิดพลาด:" in body
        # Every value comes back, escaped.
        assert input_value(body, "dla_code") == "12345"
        assert input_value(body, "slug") == "Bad_Slug"
        assert input_value(body, "contact_name") == 'สมหญิง "<b>ใจดี</b>"'
        assert "<b>ใจดี</b>" not in body
        assert input_value(body, "contact_email") == "not-an-address"
        assert input_value(body, "contact_position") == "นักวิชาการคอมพิวเตอร์ปฏิบัติการ"
        assert '<option value="standard" selected>' in body
        assert "checked" not in input_tag(body, "accept_terms")
        # Each field's message, in Thai and English, tied to its field.
        for field, th, en in (
            ("dla_code", "รหัส อปท. ต้องเป็นตัวเลข 7 หลัก", "The DLA code has 7 digits"),
            ("slug", "โดเมนย่อยใช้ได้เฉพาะ", "lower-case letters"),
            ("contact_email", "อีเมลไม่ถูกต้อง", "Not a valid e-mail address"),
            ("contact_phone", "หมายเลขโทรศัพท์ไม่ถูกต้อง", "Not a valid phone number"),
            ("accept_terms", "กรุณายอมรับข้อตกลงการใช้บริการ", "Accept the terms of service"),
        ):
            message = re.search(rf'<p class="error-message" id="e-{field}">(.*?)</p>', body, re.S)
            assert message is not None, field
            assert th in message.group(1)
            assert en in message.group(1)
            tag = input_tag(body, field) if field != "plan_code" else ""
            assert 'aria-invalid="true"' in tag
            assert re.search(rf'aria-describedby="[^"]*\be-{field}\b', tag), tag
            assert f'<a href="#f-{field}">' in body  # the summary links to the field
        for fine in ("contact_name", "contact_position"):
            assert f'id="e-{fine}"' not in body
            assert "aria-invalid" not in input_tag(body, fine)
        # Nothing was stored.
        async with engine.connect() as conn:
            stored = (
                await conn.execute(text("SELECT count(*) FROM platform.signup_requests WHERE slug = 'bad_slug'"))
            ).scalar_one()
        assert stored == 0

        # No plan chosen, and a form with nothing in it (or not a form at all): messages, not a crash.
        empty = assert_page(await http.post("/signup", data={}), 422)
        assert empty.count('class="error-message"') >= 6
        assert input_value(empty, "dla_code") == ""
        json_body = await http.post("/signup", json={"dla_code": "1"})
        assert_page(json_body, 422)
        no_plan = assert_page(await http.post("/signup", data=form(next_dla_code(), plan_code="gold")), 422)
        assert 'id="e-plan_code"' in no_plan
        assert "ไม่มีแผนบริการนี้" in no_plan
        assert "No such plan" in no_plan


async def test_refusals_from_the_registry_and_the_catalog(
    client_for: ClientFactory, page_settings: Settings, engine: AsyncEngine
) -> None:
    tenant = await make_tenant(engine)
    async with client_for(settings_=page_settings, plugins=REGISTRY) as http:
        cases: list[tuple[dict[str, str], int, str, str, str]] = [
            (form("9999999"), 422, "dla_code", "ไม่พบรหัส อปท. นี้ในทะเบียน", "not in the official registry"),
            (form(next_dla_code(), slug="www"), 422, "slug", "ชื่อโดเมนย่อยนี้สงวนไว้", "This sub-domain is reserved"),
            (form(tenant.dla_code), 409, "dla_code", "อปท. นี้ใช้บริการอยู่แล้ว", "already on the platform"),
            (form(next_dla_code(), slug=tenant.slug), 409, "slug", "มีผู้ใช้แล้ว", "This sub-domain is taken"),
        ]
        code = next_dla_code()
        first = await http.post("/signup", data=form(code, slug=f"first-{code}"))
        assert_page(first, 200)
        cases.append((form(code, slug=f"again-{code}"), 409, "dla_code", "อยู่ระหว่างดำเนินการ", "already in progress"))
        for data, status, field, th, en in cases:
            body = assert_page(await http.post("/signup", data=data), status)
            message = re.search(rf'<p class="error-message" id="e-{field}">(.*?)</p>', body, re.S)
            assert message is not None, (data, body)
            assert th in message.group(1)
            assert en in message.group(1)
            assert input_value(body, "slug") == data["slug"]
            assert input_value(body, "dla_code") == data["dla_code"]
            assert "checked" in input_tag(body, "accept_terms")


async def test_submit_then_the_links_of_the_mail(
    client_for: ClientFactory, page_settings: Settings, engine: AsyncEngine
) -> None:
    async with client_for(settings_=page_settings, plugins=REGISTRY) as http:
        code = next_dla_code()
        entry = lookup(code)
        assert entry is not None
        body = assert_page(await http.post("/signup", data=form(code, contact_email=f" Web.{code}@Example.go.th")), 200)
        assert "กรุณาตรวจอีเมล" in body
        assert "check your e-mail" in body
        assert f"web.{code}@example.go.th" in body
        assert full_name_th(entry) in body
        status_link = STATUS_RE.search(body)
        assert status_link is not None
        status_token = status_link.group(1)
        token = await verify_token(engine, f"web.{code}@example.go.th")

        status = assert_page(await http.get("/signup/status", params={"token": status_token}), 200)
        assert status_of(status) == "รอยืนยันอีเมล"
        assert "Waiting for e-mail verification" in status
        assert full_name_th(entry) in status

        # Opening the link (as a mail scanner would, even twice) verifies nothing: it shows a button.
        for _ in range(2):
            confirm = assert_page(await http.get("/signup/verify", params={"token": token}), 200)
            assert 'method="post" action="/signup/verify"' in confirm
            assert input_value(confirm, "token") == token
            assert "ยืนยันอีเมล" in confirm
            assert "Confirm my e-mail" in confirm
        assert await request_status(engine, code) == "pending_verification"

        verified = assert_page(await http.post("/signup/verify", data={"token": token}), 200)
        assert status_of(verified) == "รอผู้ดูแลระบบอนุมัติ"
        assert "Waiting for the operator's approval" in html.unescape(verified)
        assert await request_status(engine, code) == "pending_approval"

        used = assert_page(await http.post("/signup/verify", data={"token": token}), 404)
        assert "ลิงก์ไม่ถูกต้องหรือใช้ไปแล้ว" in used
        assert "This link is not valid" in used

        status = assert_page(await http.get("/signup/status", params={"token": status_token}), 200)
        assert status_of(status) == "รอผู้ดูแลระบบอนุมัติ"
        assert f"p{code}.{BASE}" in status


async def test_an_expired_link(client_for: ClientFactory, page_settings: Settings, engine: AsyncEngine) -> None:
    async with client_for(settings_=page_settings, plugins=REGISTRY) as http:
        code = next_dla_code()
        assert_page(await http.post("/signup", data=form(code)), 200)
        token = await verify_token(engine, f"web.{code}@example.go.th")
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "UPDATE platform.signup_requests SET verify_expires_at = now() - interval '1 second'"
                    " WHERE dla_code = :c"
                ),
                {"c": code},
            )
        body = assert_page(await http.post("/signup/verify", data={"token": token}), 410)
        assert "ลิงก์หมดอายุแล้ว" in body
        assert "This link has expired" in body
        assert 'href="/signup"' in body
        assert await request_status(engine, code) == "pending_verification"


async def test_invalid_links(client_for: ClientFactory, page_settings: Settings) -> None:
    async with client_for(settings_=page_settings, plugins=REGISTRY) as http:
        for response in (
            await http.get("/signup/verify"),
            await http.get("/signup/verify", params={"token": "x" * 201}),
            await http.post("/signup/verify", data={"token": "nope"}),
            await http.post("/signup/verify", data={}),
            await http.get("/signup/status", params={"token": "nope"}),
            await http.get("/signup/status"),
        ):
            body = assert_page(response, 404)
            assert "ลิงก์ไม่ถูกต้องหรือใช้ไปแล้ว" in body
            assert "This link is not valid" in body


async def test_rate_limits_are_the_apis(client_for: ClientFactory, database_url: str, engine: AsyncEngine) -> None:
    address = "198.51.100.77"  # believed from X-Forwarded-For (the test peer is a trusted proxy): a bucket of its own
    async with engine.begin() as conn:
        await conn.execute(text("DELETE FROM platform.rate_limit_buckets WHERE key LIKE :k"), {"k": f"%{address}"})
    settings = make_settings(database_url, signup_rate_limit=2, signup_link_rate_limit=3, trusted_proxies="127.0.0.1")
    proxied = {"X-Forwarded-For": address}
    async with client_for(settings_=settings, plugins=REGISTRY) as http:
        # The page and the API share one count per address.
        api = await http.post("/v1/signup", json={**form(next_dla_code()), "accept_terms": True}, headers=proxied)
        assert api.status_code == 201, api.text
        assert_page(await http.post("/signup", data=form(next_dla_code()), headers=proxied), 200)
        data = form(next_dla_code())
        limited = await http.post("/signup", data=data, headers=proxied)
        body = assert_page(limited, 429)
        assert int(limited.headers["retry-after"]) > 0
        assert "มากเกินไป" in body
        assert "Too many attempts" in body
        assert input_value(body, "dla_code") == data["dla_code"]  # the form comes back as it was

        links = [
            await http.get("/signup/status", params={"token": "nope"}, headers=proxied),
            await http.post("/signup/verify", data={"token": "nope"}, headers=proxied),
            await http.post("/v1/signup/status", json={"token": "nope"}, headers=proxied),
            await http.post("/signup/verify", data={"token": "nope"}, headers=proxied),
            await http.get("/signup/status", params={"token": "nope"}, headers=proxied),
        ]
        assert [r.status_code for r in links] == [404, 404, 404, 429, 429]
        assert "Too many attempts" in assert_page(links[-1], 429)
        assert int(links[-1].headers["retry-after"]) > 0
        # The confirmation page itself looks nothing up and counts nothing.
        assert_page(await http.get("/signup/verify", params={"token": "nope"}, headers=proxied), 200)
    async with engine.begin() as conn:
        await conn.execute(text("DELETE FROM platform.rate_limit_buckets WHERE key LIKE :k"), {"k": f"%{address}"})


async def test_no_log_line_carries_a_token(
    client_for: ClientFactory, database_url: str, engine: AsyncEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_settings(database_url, log_level="INFO", signup_rate_limit=100_000, signup_link_rate_limit=100_000)
    async with client_for(settings_=settings, plugins=REGISTRY) as http:
        code = next_dla_code()
        submitted = assert_page(await http.post("/signup", data=form(code)), 200)
        match = STATUS_RE.search(submitted)
        assert match is not None
        status_token = match.group(1)
        token = await verify_token(engine, f"web.{code}@example.go.th")
        assert_page(await http.get("/signup/verify", params={"token": token}), 200)
        assert_page(await http.get("/signup/status", params={"token": status_token}), 200)
        assert_page(await http.post("/signup/verify", data={"token": token}), 200)
    # The application's lines (the test's own HTTP client logs the URLs it fetches: not ours).
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    ours = [line for line in lines if line.get("logger") != "httpx"]
    requests: list[dict[str, Any]] = [line for line in ours if line.get("event") == "request"]
    assert {"/signup/verify", "/signup/status"} <= {line["path"] for line in requests}
    logged = json.dumps(ours)
    assert token not in logged
    assert status_token not in logged
