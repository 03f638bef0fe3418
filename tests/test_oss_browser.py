"""The One Stop Service pages in a real browser: the catalogue and a manual on a phone and in
print, a queue slip whose QR (read back from a screenshot) opens the ticket's page, and the
waiting room's display as the queue moves.

Debian's Chromium through Playwright, the application under uvicorn on a loopback port (the
helpers of ``tests/test_signup_browser.py``). Without ``/usr/bin/chromium`` the test is skipped on
a developer's machine and fails in CI, where ``.ci/run`` installs it.
"""

from __future__ import annotations

import datetime as dt
import io
import socket
from pathlib import Path

import zxingcpp
from PIL import Image
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.kernel.audit import Actor, Origin
from localgov.kernel.db import create_engine
from localgov.kernel.tenancy import TenantInfo
from localgov.services.oss import catalogue
from localgov.services.oss.schemas import ServicePublish
from tests.conftest import make_settings
from tests.support.oss import call, issue, oss_db, oss_tenant, point_a
from tests.test_signup_browser import PHONE, chromium, no_horizontal_scroll, serve, server_socket

__all__ = ["chromium", "server_socket"]  # the fixtures, shared with the signup browser test

DESKTOP = {"width": 1280, "height": 800}


async def publish(engine: AsyncEngine, tenant: TenantInfo, *codes: str) -> None:
    async with oss_db(engine, tenant) as session:
        for row in await catalogue.list_services(session, None):
            if row["code"] in codes:
                await catalogue.publish_service(
                    session, row["id"], ServicePublish(version=1), actor=Actor("staff", "x"), origin=Origin()
                )


async def test_catalogue_manual_slip_and_display_in_chromium(
    chromium: str, server_socket: socket.socket, fresh_database_url: str, tmp_path: Path
) -> None:
    from playwright.async_api import async_playwright

    port = int(server_socket.getsockname()[1])
    settings = make_settings(
        fresh_database_url, base_domain="localhost", public_url_scheme="http", public_url_port=port
    )
    engine = create_engine(settings)
    csp_violations: list[str] = []
    try:
        tenant = await oss_tenant(engine)
        await publish(engine, tenant, "building-permit", "elderly-allowance")
        point_id = await point_a(engine, tenant)
        now = dt.datetime.now(dt.UTC)
        tickets = [await issue(engine, tenant, point_id, now) for _ in range(4)]
        await call(engine, tenant, point_id, "1", now)
        origin = f"http://{tenant.slug}.localhost:{port}"

        async with serve(settings, server_socket), async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=chromium, headless=True)
            try:
                phone = await browser.new_context(
                    viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True, locale="th-TH"
                )
                page = await phone.new_page()
                page.on(
                    "console",
                    lambda msg: csp_violations.append(msg.text) if "Content Security Policy" in msg.text else None,
                )

                # The catalogue lists what was published; a manual opens from it.
                response = await page.goto(f"{origin}/v1/oss/pages/services")
                assert response is not None
                assert response.status == 200
                assert await page.get_attribute("html", "lang") == "th"
                links = page.locator("ul.services a")
                assert await links.count() == 2
                await no_horizontal_scroll(page)
                async with page.expect_navigation():
                    await page.get_by_role("link", name="การขออนุญาตก่อสร้าง", exact=False).click()
                assert page.url.endswith("/v1/oss/pages/services/building-permit")
                heading = await page.locator("h1").inner_text()
                assert heading.startswith("คู่มือสำหรับประชาชน: การขออนุญาตก่อสร้าง")
                assert "Permit to construct" in heading
                assert (await page.locator("#total-time").inner_text()).startswith("40 วัน")
                # On a phone the tables are stacked label/value blocks: nothing wider than the screen.
                await no_horizontal_scroll(page)
                first_cell = page.locator("#steps tbody tr").first.locator("td").nth(1)
                label = await first_cell.evaluate("e => getComputedStyle(e, '::before').content")
                assert "ขั้นตอน" in label
                await page.screenshot(path=str(tmp_path / "1-manual-phone.png"), full_page=True)

                # Printed: no skip link, crumbs or print hint; the tables are tables again (A4 is wide).
                await page.emulate_media(media="print")
                assert not await page.locator(".print-hint").is_visible()
                assert not await page.locator(".crumbs").is_visible()
                pdf = await page.pdf(format="A4")
                assert pdf.startswith(b"%PDF")
                await page.emulate_media(media="screen")

                # The slip: its QR, read back from the screen, opens the ticket's page.
                slip_path = f"/v1/oss/pages/queue/{tickets[2]['token']}/slip"
                response = await page.goto(origin + slip_path)
                assert response is not None
                assert response.status == 200
                assert await page.locator("#slip-number").inner_text() == "A003"
                await no_horizontal_scroll(page)
                shot = await page.locator(".slip-qr svg").screenshot()
                found = zxingcpp.read_barcodes(Image.open(io.BytesIO(shot)))
                assert len(found) == 1
                follow_url = found[0].text
                assert follow_url == f"{origin}/v1/oss/pages/queue/{tickets[2]['token']}"
                await page.screenshot(path=str(tmp_path / "2-slip.png"), full_page=True)
                await page.goto(follow_url)
                assert await page.locator("#number").inner_text() == "A003"
                assert await page.locator("#status").inner_text() == "รอเรียกคิว"
                assert await page.locator("#ahead").inner_text() == "1"
                assert await page.locator('meta[http-equiv="refresh"]').get_attribute("content") == "30"
                await no_horizontal_scroll(page)
                await phone.close()

                # The waiting room's display on a wall screen, as the queue moves.
                wall = await browser.new_context(viewport=DESKTOP, locale="th-TH")
                screen = await wall.new_page()
                screen.on(
                    "console",
                    lambda msg: csp_violations.append(msg.text) if "Content Security Policy" in msg.text else None,
                )
                await screen.goto(f"{origin}/v1/oss/pages/points/{point_id}/display")
                assert await screen.locator("#serving tr.latest .number").inner_text() == "A001"
                assert await screen.locator("#next li").all_inner_texts() == ["A002", "A003", "A004"]
                size = await screen.locator("#serving tr.latest .number").evaluate(
                    "e => parseFloat(getComputedStyle(e).fontSize)"
                )
                assert size >= 64  # readable across a waiting room
                await call(engine, tenant, point_id, "2", dt.datetime.now(dt.UTC))
                await screen.reload()  # what its meta refresh does every 10 seconds
                assert await screen.locator("#serving tr.latest").inner_text() == "A002\t2"
                assert await screen.locator("#next li").all_inner_texts() == ["A003", "A004"]
                assert await screen.locator("#waiting").inner_text() == "2"
                await screen.screenshot(path=str(tmp_path / "3-display.png"))
                await wall.close()
            finally:
                await browser.close()
    finally:
        await engine.dispose()
    assert csp_violations == []
