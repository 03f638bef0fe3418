"""A citizen's whole login in a real browser against an OpenID Certified provider.

Debian's Chromium (Playwright, no browser download), the application under uvicorn on a loopback
port (tenant hosts ``<slug>.localhost``, the operator host ``localhost``), panva's oidc-provider
under Node on another: the citizen opens the LAO's login, signs in at the provider, comes back
through the platform's one redirect URI on the operator host to the LAO, and gets this LAO's
tokens; then logs out at the provider (RP-initiated logout) and lands back on the LAO's host.

Skipped on a developer's machine without Chromium or the provider; fails in CI (``CI`` set).
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import httpx

from localgov.identity.citizens import LOGGED_OUT_PATH, PROVIDER_CALLBACK_PATH
from localgov.kernel.db import create_engine
from tests.support.certified_oidc import running_certified_provider
from tests.support.factories import make_tenant
from tests.test_citizens_certified import ACCOUNTS, ACR, certified_settings, clients, platform_jwks
from tests.test_signup_browser import PHONE, serve
from tests.test_signup_browser import chromium as chromium
from tests.test_signup_browser import server_socket as server_socket


async def test_a_citizen_logs_in_and_out_in_chromium(
    chromium: str, server_socket: socket.socket, database_url: str, tmp_path: Path
) -> None:
    from playwright.async_api import async_playwright

    port = int(server_socket.getsockname()[1])
    origin = f"http://localhost:{port}"
    with running_certified_provider(
        clients=clients(
            await platform_jwks(database_url), [f"{origin}{PROVIDER_CALLBACK_PATH}"], [f"{origin}{LOGGED_OUT_PATH}"]
        ),
        accounts=ACCOUNTS,
        acr_values=list(ACR.values()),
    ) as op:
        settings = certified_settings(
            database_url, op.issuer, base_domain="localhost", public_url_port=port, log_level="INFO"
        )
        engine = create_engine(settings)
        try:
            tenant = await make_tenant(engine)
        finally:
            await engine.dispose()
        lao = f"http://{tenant.slug}.localhost:{port}"
        async with serve(settings, server_socket), async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=chromium, headless=True)
            try:
                context = await browser.new_context(viewport=PHONE, is_mobile=True, locale="th-TH")
                page = await context.new_page()
                await page.goto(f"{lao}/v1/auth/citizen/login?return_to=/bills&acr=substantial")
                assert page.url.startswith(f"{op.issuer}/interaction/"), page.url
                await page.fill("input[name=login]", "somchai")
                await page.select_option("select[name=acr]", ACR["substantial"])
                async with page.expect_navigation(url=f"{lao}/v1/auth/citizen/callback**"):
                    await page.click("#sign-in")
                body = json.loads(await page.inner_text("body"))
                assert body["return_to"] == "/bills"
                assert body["acr"] == "substantial"
                await page.screenshot(path=str(tmp_path / "citizen-login.png"))

                async with httpx.AsyncClient(timeout=10) as http:
                    me = await http.get(  # Python does not resolve *.localhost: the address, and the Host
                        f"http://127.0.0.1:{port}/v1/citizens/me",
                        headers={
                            "Host": f"{tenant.slug}.localhost:{port}",
                            "Authorization": f"Bearer {body['access_token']}",
                        },
                    )
                assert me.status_code == 200, me.text
                assert me.json()["name"] == "สมชาย ใจดี"
                assert me.json()["email"] == "somchai@example.org"

                # RP-initiated logout: the provider asks, the citizen confirms, and is back on the LAO.
                await page.goto(f"{lao}/v1/auth/citizen/logout?return_to=/bye")
                assert page.url.startswith(f"{op.issuer}/session/end"), page.url
                async with page.expect_navigation(url=f"{lao}/bye"):
                    await page.click("button[name=logout]")
                # The provider's session is over: a new login shows its sign-in form again.
                await page.goto(f"{lao}/v1/auth/citizen/login")
                assert page.url.startswith(f"{op.issuer}/interaction/"), page.url
                assert await page.locator("input[name=login]").count() == 1
            finally:
                await browser.close()
