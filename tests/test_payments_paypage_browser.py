"""The citizens' pay page in a real browser on a phone: the form at 360 px, the bill with what is
due and its Thai QR (read back from a screenshot of the page), no horizontal scroll, no script.

Debian's Chromium through Playwright, the application under uvicorn on a loopback port (the
helpers of ``tests/test_signup_browser.py``). Without ``/usr/bin/chromium`` the test is skipped on
a developer's machine and fails in CI. Screenshots go to the test's ``tmp_path``
(``pay-1-form.png``, ``pay-2-bill.png``, ``pay-3-paid.png``).
"""

from __future__ import annotations

import io
import json
import socket
from decimal import Decimal
from pathlib import Path

import httpx
import zxingcpp
from PIL import Image

from localgov.kernel.db import create_engine
from localgov.services.payments import qr
from localgov.services.payments.api import BillLine
from localgov.services.payments.pay_pages import PAY_PATH
from tests.conftest import make_settings
from tests.test_payments_bank import NOTIFY, notice, open_bills, setup_lao, signed_headers
from tests.test_signup_browser import PHONE, chromium, no_horizontal_scroll, serve, server_socket

__all__ = ["chromium", "server_socket"]  # the fixtures, shared with the signup browser test


async def test_pay_page_on_a_phone_in_chromium(
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
        lao = await setup_lao(engine)
        lines = [
            BillLine(fee_code="garbage.collection", description_th="ค่าเก็บขยะมูลฝอย", amount=Decimal("40.00")),
            BillLine(fee_code="wastewater", description_th="ค่าบำบัดน้ำเสีย", amount=Decimal("80.50"), period="2026-11"),
        ]
        (bill,) = await open_bills(engine, lao.tenant, lines=lines, payer_name="นายกำนัน ผู้ใหญ่บ้าน")
        origin = f"http://{lao.tenant.slug}.localhost:{port}"
        async with serve(settings, server_socket), async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=chromium, headless=True)
            try:
                phone = await browser.new_context(
                    viewport=PHONE,
                    device_scale_factor=2,
                    is_mobile=True,
                    has_touch=True,
                    locale="th-TH",
                    java_script_enabled=False,  # the page needs none
                )
                page = await phone.new_page()
                page.on(
                    "console",
                    lambda msg: csp_violations.append(msg.text) if "Content Security Policy" in msg.text else None,
                )
                response = await page.goto(f"{origin}{PAY_PATH}")
                assert response is not None
                assert response.status == 200
                assert await page.get_attribute("html", "lang") == "th"
                await no_horizontal_scroll(page)
                send = page.get_by_role("button", name="ดูใบแจ้งหนี้")
                box = await send.bounding_box()
                assert box is not None
                assert box["height"] >= 44
                await page.get_by_label("เลขอ้างอิง").fill(bill.reference)
                await page.get_by_label("รหัสตรวจสอบ").fill(bill.verification_code)
                await page.screenshot(path=str(tmp_path / "pay-1-form.png"), full_page=True)
                async with page.expect_navigation():
                    await send.click()

                assert await page.locator("#amount-due").inner_text() == "120.50"
                assert await page.locator("#payer").inner_text() == "นายกำนัน ผ***"
                assert len(await page.locator("#lines li").all()) == 2
                await no_horizontal_scroll(page)
                qr_box = await page.locator("#qr svg").bounding_box()
                assert qr_box is not None
                assert qr_box["width"] >= 150  # large enough for a banking app's camera
                shot = await page.locator("#qr svg").screenshot()
                found = zxingcpp.read_barcodes(Image.open(io.BytesIO(shot)))
                assert len(found) == 1
                parsed = qr.parse(found[0].text)
                assert (parsed.ref1, parsed.amount, parsed.biller_id) == (
                    bill.reference,
                    Decimal("120.50"),
                    lao.biller_id,
                )
                await page.screenshot(path=str(tmp_path / "pay-2-bill.png"), full_page=True)

                # Paid through the bank: reloading by the printed link shows the receipt's PDF link.
                body = json.dumps(notice(lao, bill.reference, "120.50")).encode()
                headers = {**signed_headers(lao.secret, body), "Host": f"{lao.tenant.slug}.localhost:{port}"}
                async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                    paid = await client.post(NOTIFY, content=body, headers=headers)
                    assert paid.status_code == 200, paid.text
                await page.goto(f"{origin}{PAY_PATH}?ref={bill.reference}&code={bill.verification_code}")
                assert await page.locator("#status").inner_text() == "ชำระแล้ว"
                receipt_link = page.locator("#receipts a")
                assert await receipt_link.count() == 1
                await no_horizontal_scroll(page)
                await page.screenshot(path=str(tmp_path / "pay-3-paid.png"), full_page=True)
                href = await receipt_link.get_attribute("href")
                assert href is not None
                async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                    pdf = await client.get(href, headers={"Host": f"{lao.tenant.slug}.localhost:{port}"})
                assert pdf.status_code == 200
                assert pdf.content.startswith(b"%PDF-")
                await phone.close()
            finally:
                await browser.close()
    finally:
        await engine.dispose()
    assert csp_violations == []
