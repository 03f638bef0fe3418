"""The billing console in a real browser (Debian's Chromium through Playwright): SVG charts drawn on
the server, Thai first, no script, nothing wider than a laptop screen, no CSP violation."""

from __future__ import annotations

import datetime as dt
import socket
from decimal import Decimal

from localgov.kernel.db import create_engine
from localgov.kernel.thai import bangkok_today
from localgov.platform.billing import service
from localgov.platform.billing.console import months_back
from localgov.platform.billing.pricing import Charge
from tests.conftest import BASE, make_settings
from tests.support.billing import METERS, add_events, make_plan, shared
from tests.support.factories import make_tenant
from tests.support.tokens import bearer
from tests.test_signup_browser import chromium, serve, server_socket  # noqa: F401  (the fixtures, the server)

D = Decimal


async def test_the_console_draws_its_charts_without_script(
    chromium: str,  # noqa: F811
    server_socket: socket.socket,  # noqa: F811
    fresh_database_url: str,
) -> None:
    from playwright.async_api import async_playwright, expect

    port = int(server_socket.getsockname()[1])
    settings = make_settings(fresh_database_url, public_url_scheme="http", public_url_port=port)
    engine = create_engine(settings)
    try:
        tenant = await make_tenant(engine)
        plan = await make_plan(
            engine, fixed_fee=D(900), charges=(Charge(meter="oss.cases_opened", model="standard", unit_price=D(10)),)
        )
        last_month = months_back(bangkok_today(), 2)[0]
        this_month = months_back(bangkok_today(), 1)[0]
        async with shared(engine) as session:
            await service.subscribe(session, tenant.id, plan, billing_cycle="monthly", starts_on=last_month)
        moment = service.at_midnight(last_month) + dt.timedelta(days=3)
        await add_events(engine, tenant.id, "oss.cases_opened", [(moment, moment, D(1))] * 7)
        for hours in (1, 24 * 4):
            async with shared(engine) as session:
                await service.run_invoices(
                    session,
                    now=service.at_midnight(this_month) + dt.timedelta(hours=hours),
                    meters=METERS,
                    tenant_id=tenant.id,
                )
    finally:
        await engine.dispose()
    csp_violations: list[str] = []
    async with serve(settings, server_socket), async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=chromium, headless=True, args=[f"--host-resolver-rules=MAP {BASE} 127.0.0.1"]
        )
        try:
            context = await browser.new_context(
                viewport={"width": 1280, "height": 900},
                locale="th-TH",
                java_script_enabled=False,
                extra_http_headers=bearer(None, kind="operator", roles=["billing_admin"]),
            )
            page = await context.new_page()
            page.on(
                "console",
                lambda msg: csp_violations.append(msg.text) if "Content Security Policy" in msg.text else None,
            )
            response = await page.goto(f"http://{BASE}:{port}/billing/console")
            assert response is not None
            assert response.status == 200
            await expect(page.get_by_role("heading", level=1)).to_contain_text("คอนโซลค่าบริการแพลตฟอร์ม")
            for heading in ("รายได้", "การใช้งานตามมาตรวัด", "อปท. ที่ใช้บริการมากที่สุด", "ใบแจ้งหนี้ตามสถานะ"):
                await expect(page.get_by_role("heading", level=2, name=heading)).to_be_visible()
            charts = page.locator("svg[role=img]")
            assert await charts.count() == 4  # revenue, one meter, the top LAOs, the states
            # Revenue: last month's 970.00 baht is the tallest bar, with its value written above it.
            await expect(charts.nth(0).locator("text").filter(has_text="970")).to_have_count(1)
            await expect(page.locator("figure").nth(2)).to_contain_text(tenant.dla_code)
            await expect(page.locator("figure").nth(3)).to_contain_text("ออกแล้ว รอชำระ")
            heights = await charts.nth(0).locator("rect").evaluate_all("rs => rs.map(r => r.getBBox().height)")
            assert len(heights) == 12
            assert heights[-2] == max(heights) > 100  # last month, the only month with revenue
            widths = await page.evaluate(
                "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
            )
            assert widths[0] <= widths[1]
            assert csp_violations == []
            anonymous = await (await browser.new_context(java_script_enabled=False)).new_page()
            denied = await anonymous.goto(f"http://{BASE}:{port}/billing/console")
            assert denied is not None
            assert denied.status == 401
        finally:
            await browser.close()
