"""An OpenID Certified provider for the tests: panva's ``oidc-provider`` (npm) under Node on loopback.

``tests/oidc/`` holds its package.json and lock file and the provider script (``provider.mjs``);
``.ci/run`` installs it with ``npm ci``. Without ``tests/oidc/node_modules`` (or without ``node``)
the tests that need it are skipped on a developer's machine and fail in CI (``CI`` set).

:func:`running_certified_provider` starts one provider process for a configuration (clients,
accounts, acr values) and stops it afterwards; :class:`ProviderBrowser` plays the citizen's
browser at the provider over real HTTP (cookies, the login form, the logout confirmation).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
import pytest

OIDC_DIR = Path(__file__).resolve().parent.parent / "oidc"
START_TIMEOUT_S = 20


def require_certified_provider() -> str:
    """The ``node`` executable; skips (fails in CI) when the provider is not installed."""
    node = shutil.which("node")
    reason = None
    if node is None:
        reason = "node is missing (apt-get install nodejs npm)"
    elif not (OIDC_DIR / "node_modules" / "oidc-provider").is_dir():
        reason = f"oidc-provider is not installed: (cd {OIDC_DIR} && npm ci)"
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI is set: .ci/run should have installed it)")
        pytest.skip(reason)
    assert node is not None
    return node


@dataclass
class CertifiedProvider:
    issuer: str
    process: subprocess.Popen[str]


@contextmanager
def running_certified_provider(
    *, clients: list[dict[str, Any]], accounts: dict[str, dict[str, Any]], acr_values: list[str]
) -> Iterator[CertifiedProvider]:
    node = require_certified_provider()
    # Port 0: the provider listens on a port the system picks and says which (no race for a port
    # between parallel test processes).
    config = {"port": 0, "clients": clients, "accounts": accounts, "acrValues": acr_values}
    process = subprocess.Popen(  # noqa: S603 (our own script, our own arguments)
        [node, str(OIDC_DIR / "provider.mjs"), json.dumps(config)],
        cwd=OIDC_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    started = threading.Event()
    lines: list[str] = []
    ports: list[int] = []

    def watch() -> None:  # the first line says it listens; the rest is drained so the pipe never fills
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if line.startswith("listening "):
                ports.append(int(line.split()[1]))
                started.set()
        started.set()

    def drain() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            if "WARNING" not in line:
                lines.append(line)

    threading.Thread(target=watch, daemon=True).start()
    threading.Thread(target=drain, daemon=True).start()
    try:
        if not started.wait(START_TIMEOUT_S) or process.poll() is not None or not ports:
            raise RuntimeError(f"oidc-provider did not start: {''.join(lines)[-2000:]}")
        yield CertifiedProvider(issuer=f"http://127.0.0.1:{ports[0]}", process=process)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()


_FORM_ACTION_RE = re.compile(r'<form method="post" action="([^"]+)"')


class ProviderBrowser:
    """The citizen's browser at the provider: follows its redirects with its cookies, signs in with
    its form, confirms logout, and stops at the first redirect that leaves the provider."""

    def __init__(self, issuer: str) -> None:
        self.issuer = issuer
        self.http = httpx.AsyncClient(timeout=10)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def _follow(self, response: httpx.Response) -> httpx.Response | str:
        while response.status_code in (302, 303):
            location = urljoin(str(response.url), response.headers["location"])
            if not location.startswith(self.issuer + "/"):
                return location
            response = await self.http.get(location)
        return response

    async def sign_in(self, authorization_url: str, account: str, *, acr: str = "", cancel: bool = False) -> str:
        """Open the authorization URL, sign in as ``account`` reaching ``acr``: where the provider
        sends the browser (the platform's redirect URI with code, state and iss, or an error)."""
        page = await self._follow(await self.http.get(authorization_url))
        if isinstance(page, str):
            return page  # already signed in, or refused at once
        assert page.status_code == 200, page.text
        actions = _FORM_ACTION_RE.findall(page.text)
        action = actions[1] if cancel else actions[0]
        form = {} if cancel else {"login": account, "acr": acr}
        answer = await self._follow(await self.http.post(urljoin(str(page.url), action), data=form))
        assert isinstance(answer, str), answer.text
        return answer

    async def confirm_logout(self, end_session_url: str) -> str:
        """Open the provider's logout page and say yes: where it sends the browser afterwards."""
        page = await self._follow(await self.http.get(end_session_url))
        assert isinstance(page, httpx.Response), page
        assert page.status_code == 200, page.text
        action = re.search(r'<form id="op.logoutForm" method="post" action="([^"]+)"', page.text)
        xsrf = re.search(r'name="xsrf" value="([^"]+)"', page.text)
        assert action, page.text
        assert xsrf, page.text
        answer = await self._follow(
            await self.http.post(urljoin(str(page.url), action.group(1)), data={"xsrf": xsrf.group(1), "logout": "yes"})
        )
        assert isinstance(answer, str), answer.text
        return answer
