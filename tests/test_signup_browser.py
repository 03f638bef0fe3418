"""Signup in a real browser, on a phone-sized screen, with real mail.

Debian's Chromium (driven by Playwright, no browser download), the application under uvicorn on a
loopback port, an SMTP server (aiosmtpd) on another: the form is filled and sent, the worker's
outbox delivery sends the verification e-mail over SMTP, and the link read from the captured
message is followed, confirmed, and the status page says the request waits for approval.

Without ``/usr/bin/chromium`` the test is skipped on a developer's machine and fails in CI
(``CI`` set), where ``.ci/run`` installs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from sqlalchemy import text

from localgov.app import create_app
from localgov.kernel.db import create_engine, session_factory, tenant_session
from localgov.kernel.outbox import deliver_batch
from localgov.platform.registry import lookup
from localgov.platform.signup import full_name_th
from localgov.plugins import REGISTRY
from localgov.settings import Settings
from localgov.worker import Worker
from tests.conftest import make_settings
from tests.support.factories import next_dla_code

CHROMIUM = Path("/usr/bin/chromium")
PHONE = {"width": 360, "height": 740}  # a small Android phone, in CSS pixels


def _unavailable(reason: str) -> None:
    """Skip on a developer's machine; in CI a missing browser is a failure, not a skip."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set: .ci/run should have installed it)")
    pytest.skip(reason)


@pytest.fixture
def chromium() -> str:
    if not os.access(CHROMIUM, os.X_OK):
        _unavailable(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium)")
    try:
        import aiosmtpd.controller  # noqa: F401
        import playwright.async_api  # noqa: F401
    except ImportError as exc:
        _unavailable(f"{exc.name} is missing: pip install -e '.[dev]'")
    return str(CHROMIUM)


class Inbox:
    """aiosmtpd handler: keeps every message it is given."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # aiosmtpd's hook name
        message = message_from_bytes(envelope.content, policy=default_policy)
        assert isinstance(message, EmailMessage)
        with self.lock:
            self.messages.append(message)
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server(chromium: str) -> Iterator[tuple[Inbox, int]]:
    from aiosmtpd.controller import Controller

    class BoundController(Controller):
        """aiosmtpd's threaded controller serving a socket bound here. Its own binds ``port``, and
        port 0 does not work (``start`` connects to ``self.port`` to check the server, aiosmtpd
        issue 388): a port picked free, closed and bound later could be another process's by then."""

        def __init__(self, handler: Inbox, sock: socket.socket) -> None:
            super().__init__(handler, hostname="127.0.0.1", port=sock.getsockname()[1])
            self.sock = sock

        def _create_server(self) -> Any:  # aiosmtpd's hook for how the server listens
            return self.loop.create_server(self._factory_invoker, sock=self.sock, ssl=self.ssl_context)

    inbox = Inbox()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        controller = BoundController(inbox, sock)
        controller.start()
        try:
            yield inbox, controller.port
        finally:
            controller.stop()


@pytest.fixture
def server_socket() -> Iterator[socket.socket]:
    """A loopback TCP socket on a port of the system's choosing for :func:`serve`, closed after the
    test even when the test stops before serving on it (a skip, a failure)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock


@contextlib.asynccontextmanager
async def serve(settings: Settings, sock: socket.socket) -> AsyncIterator[None]:
    """The application under uvicorn in this event loop, as ``localgov serve`` runs it."""
    app = create_app(settings, plugins=REGISTRY)
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(30):
            while not server.started:
                if task.done():
                    task.result()  # raises the start-up error
                    raise RuntimeError("uvicorn stopped before it started")
                await asyncio.sleep(0.05)
        yield
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=30)


async def deliver_outbox(settings: Settings) -> int:
    """What ``localgov worker`` does with the outbox: deliver every due entry through its consumers."""
    worker = Worker(settings, REGISTRY)
    engine = create_engine(settings)
    try:
        async with tenant_session(session_factory(engine), None) as session:
            return await deliver_batch(
                session,
                worker.handlers,
                {},
                batch_size=settings.worker_batch_size,
                max_attempts=settings.outbox_max_attempts,
            )
    finally:
        await engine.dispose()


async def signup_status(settings: Settings, dla_code: str) -> str:
    engine = create_engine(settings)
    try:
        async with engine.connect() as conn:
            return str(
                (
                    await conn.execute(
                        text("SELECT status FROM platform.signup_requests WHERE dla_code = :c"), {"c": dla_code}
                    )
                ).scalar_one()
            )
    finally:
        await engine.dispose()


async def no_horizontal_scroll(page: Any) -> None:
    widths = await page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth, window.innerWidth]"
    )
    assert widths[0] <= widths[1] <= PHONE["width"], f"page wider than the phone: {widths} at {page.url}"


async def test_signup_in_a_phone_browser_with_real_mail(
    chromium: str,
    smtp_server: tuple[Inbox, int],
    server_socket: socket.socket,
    fresh_database_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from playwright.async_api import async_playwright, expect

    inbox, smtp_port = smtp_server
    port = int(server_socket.getsockname()[1])
    settings = make_settings(
        fresh_database_url,
        base_domain="localhost",  # Chromium resolves localhost (and *.localhost) to loopback by itself
        public_url_scheme="http",
        public_url_port=port,
        mail_url=f"smtp://127.0.0.1:{smtp_port}",
        mail_from="localgov <no-reply@localhost>",
        log_level="INFO",
    )
    code = next_dla_code()
    entry = lookup(code)
    assert entry is not None
    email = f"it.{code}@example.go.th"
    origin = f"http://localhost:{port}"
    csp_violations: list[str] = []

    async with serve(settings, server_socket), async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium, headless=True)
        try:
            context = await browser.new_context(
                viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True, locale="th-TH"
            )
            page = await context.new_page()
            page.on(
                "console",
                lambda msg: csp_violations.append(msg.text) if "Content Security Policy" in msg.text else None,
            )

            # The form, at phone width: labelled fields, nothing wider than the screen, large targets.
            response = await page.goto(f"{origin}/signup")
            assert response is not None
            assert response.status == 200
            assert await page.get_attribute("html", "lang") == "th"
            await no_horizontal_scroll(page)
            send = page.get_by_role("button", name="ส่งคำขอสมัคร")
            box = await send.bounding_box()
            assert box is not None
            assert box["height"] >= 44
            assert box["width"] >= PHONE["width"] * 0.8  # full width on a phone: the stylesheet applies
            for label in ("รหัส อปท.", "โดเมนย่อย", "อีเมล"):
                field = await page.get_by_label(label, exact=False).first.bounding_box()
                assert field is not None
                assert field["height"] >= 44, label

            await page.get_by_label("รหัส อปท.").fill(code)
            await page.get_by_label("โดเมนย่อย").fill(f"web{code}")
            await page.get_by_label("แผนบริการ").select_option("basic")
            await page.get_by_label("ชื่อ–นามสกุล").fill("นางสาวสมหญิง ใจดี")
            await page.get_by_label("ตำแหน่ง").fill("นักวิชาการคอมพิวเตอร์ปฏิบัติการ")
            await page.get_by_label("อีเมล", exact=False).first.fill(email)
            await page.get_by_label("หมายเลขโทรศัพท์").fill("โทรหาฉัน")  # a mistake first
            await page.get_by_label("ข้าพเจ้ายอมรับข้อตกลงการใช้บริการ", exact=False).check()
            async with page.expect_navigation():
                await send.click()

            # The error comes back next to the field, the rest as typed.
            assert "ข้อผิดพลาด" in await page.title()
            phone = page.get_by_label("หมายเลขโทรศัพท์")
            assert await phone.get_attribute("aria-invalid") == "true"
            # The message is the field's accessible description (what a screen reader reads with it).
            await expect(phone).to_have_accessible_description(
                re.compile("หมายเลขโทรศัพท์ไม่ถูกต้อง.*Not a valid phone number")
            )
            assert await phone.input_value() == "โทรหาฉัน"
            assert await page.get_by_label("รหัส อปท.").input_value() == code
            assert await page.get_by_label("แผนบริการ").input_value() == "basic"
            assert await page.get_by_label("ข้าพเจ้ายอมรับข้อตกลงการใช้บริการ", exact=False).is_checked()
            await no_horizontal_scroll(page)
            await page.screenshot(path=str(tmp_path / "1-form-error.png"), full_page=True)

            await page.get_by_label("หมายเลขโทรศัพท์").fill("053-123456")
            async with page.expect_navigation():
                await page.get_by_role("button", name="ส่งคำขอสมัคร").click()
            assert await page.locator("h1").inner_text() == "ส่งคำขอแล้ว กรุณาตรวจอีเมล\nRequest sent: check your e-mail"
            assert full_name_th(entry) in await page.locator("main").inner_text()
            await no_horizontal_scroll(page)  # the long status link wraps
            await page.screenshot(path=str(tmp_path / "2-submitted.png"), full_page=True)
            shown_status_url = await page.locator("#status-link").get_attribute("href")

            # The worker sends the e-mail over SMTP.
            assert inbox.messages == []
            assert await deliver_outbox(settings) == 1
            assert len(inbox.messages) == 1
            mail = inbox.messages[0]
            assert mail["To"].addresses[0].addr_spec == email
            assert "ยืนยันอีเมล" in mail["Subject"]
            body = mail.get_body(("plain",))
            assert body is not None
            content = body.get_content()
            verify = re.search(rf"{re.escape(origin)}/signup/verify\?token=[A-Za-z0-9_-]+", content)
            status = re.search(rf"{re.escape(origin)}/signup/status\?token=[A-Za-z0-9_-]+", content)
            assert verify is not None
            assert status is not None
            assert status.group(0) == shown_status_url

            # The link opens a page with a button; opening it verifies nothing.
            await page.goto(verify.group(0))
            await no_horizontal_scroll(page)
            assert await signup_status(settings, code) == "pending_verification"
            async with page.expect_navigation():
                await page.get_by_role("button", name="ยืนยันอีเมล").click()
            assert await page.locator("#status").inner_text() == "รอผู้ดูแลระบบอนุมัติ"
            assert await signup_status(settings, code) == "pending_approval"
            await page.screenshot(path=str(tmp_path / "3-verified.png"), full_page=True)

            await page.goto(status.group(0))
            assert await page.locator("#status").inner_text() == "รอผู้ดูแลระบบอนุมัติ"
            assert "Waiting for the operator's approval" in await page.locator("main").inner_text()
            await no_horizontal_scroll(page)
            await page.screenshot(path=str(tmp_path / "4-status.png"), full_page=True)

            # The link again: used.
            await page.goto(verify.group(0))
            async with page.expect_navigation():
                await page.get_by_role("button", name="ยืนยันอีเมล").click()
            assert "ลิงก์ไม่ถูกต้องหรือใช้ไปแล้ว" in await page.locator("h1").inner_text()
            await context.close()
        finally:
            await browser.close()

    assert csp_violations == []
    # Neither token appears in any log line of the server or the worker.
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert any(line.get("event") == "request" and line.get("path") == "/signup/status" for line in lines)
    assert any(line.get("event") == "mail_sent" for line in lines)
    logged = json.dumps(lines)
    for url in (verify.group(0), status.group(0)):
        assert url.rsplit("=", 1)[1] not in logged
