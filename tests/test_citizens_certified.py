"""Citizen login against an OpenID Certified provider (panva's oidc-provider, on loopback).

The test mock (tests/support/oidc.py) shows what our client refuses; this provider shows that a
certified implementation and ours agree: discovery, ``private_key_jwt`` with the kernel's keys,
PKCE, nonce, RFC 9207 ``iss``, profile/e-mail/phone claims at userinfo only, ``acr_values``,
RP-initiated logout; and each refusal of the issue (forged and replayed state and code, a login
started at LAO A finished at LAO B, an ID token for another client, a mismatched ``iss``, a
refused code) with no token issued.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.identity.citizens import (
    CALLBACK_PATH,
    LOGGED_OUT_PATH,
    PROVIDER_CALLBACK_PATH,
    IdTokenInvalid,
    OidcClient,
)
from localgov.kernel.auth.keys import KeyStore
from localgov.kernel.auth.tokens import Audience, verify_access_token
from localgov.kernel.citizens import citizens_with_national_id, national_id_digest
from localgov.kernel.db import create_engine, session_factory, tenant_session
from localgov.kernel.tenancy import TenantInfo
from localgov.settings import Settings
from tests.conftest import BASE, ClientFactory, host, make_settings
from tests.support.certified_oidc import CertifiedProvider, ProviderBrowser, running_certified_provider
from tests.support.factories import make_tenant
from tests.support.tokens import TEST_SECRET, bearer

PLATFORM = "localgov-platform"
OTHER = "another-relying-party"
OTHER_SECRET = "another-relying-party-secret"
ACR = {"low": "urn:test:loa:1", "substantial": "urn:test:loa:2", "high": "urn:test:loa:3"}
PID = "1101700203450"  # a valid national ID (check digit), of a test person
PID_AS_SUB = "3100400123456"
ACCOUNTS: dict[str, dict[str, Any]] = {
    "somchai": {
        "name": "สมชาย ใจดี",
        "name_en": "Somchai Jaidee",
        "email": "Somchai@Example.org",
        "email_verified": True,
        "phone_number": "+66 81 234 5678",
        "pid": PID,
    },
    "unverified": {"name": "สมหญิง", "email": "somying@example.org", "email_verified": False},
    PID_AS_SUB: {"name": "ผู้ใช้ที่ sub เป็นเลขประจำตัว"},
}
REDIRECT = f"http://{BASE}{PROVIDER_CALLBACK_PATH}"
APP_REDIRECT = "th.go.localgov.citizen:/callback"


async def platform_jwks(database_url: str) -> dict[str, Any]:
    """The platform's public keys, as ``/.well-known/jwks.json`` publishes them."""
    engine = create_engine(make_settings(database_url))
    try:
        keys = KeyStore(TEST_SECRET)
        await keys.load(engine)
        return keys.jwks()
    finally:
        await engine.dispose()


def clients(jwks: dict[str, Any], redirect_uris: list[str], logout_uris: list[str]) -> list[dict[str, Any]]:
    return [
        {
            "client_id": PLATFORM,
            "token_endpoint_auth_method": "private_key_jwt",
            "token_endpoint_auth_signing_alg": "ES256",
            "jwks": jwks,  # the provider verifies our client assertions with our published keys
            "redirect_uris": redirect_uris,
            "post_logout_redirect_uris": logout_uris,
        },
        {"client_id": OTHER, "client_secret": OTHER_SECRET, "redirect_uris": redirect_uris},
    ]


@pytest.fixture(scope="module")
def op(database_url: str) -> Iterator[CertifiedProvider]:
    with running_certified_provider(
        clients=clients(asyncio.run(platform_jwks(database_url)), [REDIRECT], [f"http://{BASE}{LOGGED_OUT_PATH}"]),
        accounts=ACCOUNTS,
        acr_values=list(ACR.values()),
    ) as provider:
        yield provider


def certified_settings(database_url: str, issuer: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "oidc_issuer": issuer,
        "oidc_client_id": PLATFORM,
        "oidc_client_auth": "private_key_jwt",
        "oidc_claims": "name_en=name_en,national_id=pid",
        "oidc_acr_levels": ",".join(f"{k}={v}" for k, v in ACR.items()),
        "public_url_scheme": "http",
        "login_rate_limit": 1000,
    }
    values.update(overrides)
    return make_settings(database_url, **values)


@pytest.fixture
def settings(database_url: str, op: CertifiedProvider) -> Settings:
    return certified_settings(database_url, op.issuer)


def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    return body


async def start(
    client: httpx.AsyncClient, tenant: TenantInfo, path: str = "/v1/auth/citizen/login", **params: str
) -> str:
    response = await client.get(path, params=params, headers=host(tenant.slug))
    assert response.status_code == 302, response.text
    return response.headers["location"]


async def bounce(client: httpx.AsyncClient, answer: str, tenant: TenantInfo) -> str:
    """The provider answered on the operator host's one redirect URI: back to the LAO."""
    assert answer.startswith(REDIRECT + "?"), answer
    response = await client.get(answer)
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(f"http://{tenant.slug}.{BASE}{CALLBACK_PATH}?"), location
    return location


async def callback_for(
    client: httpx.AsyncClient, browser: ProviderBrowser, tenant: TenantInfo, account: str, acr: str = "", **params: str
) -> str:
    return await bounce(client, await browser.sign_in(await start(client, tenant, **params), account, acr=acr), tenant)


async def citizen_tokens(engine: AsyncEngine, tenant: TenantInfo) -> int:
    async with engine.connect() as conn:
        return int(
            (
                await conn.execute(
                    text(f"SELECT count(*) FROM \"{tenant.schema}\".refresh_tokens WHERE subject_kind = 'citizen'")
                )
            ).scalar_one()
        )


async def test_login_merges_userinfo_with_private_key_jwt_and_keeps_no_national_id(
    engine: AsyncEngine, op: CertifiedProvider, client_for: ClientFactory, settings: Settings
) -> None:
    tenant = await make_tenant(engine)
    browser = ProviderBrowser(op.issuer)
    async with client_for() as client:
        location = await start(client, tenant, return_to="/bills")
        query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
        assert query["redirect_uri"] == REDIRECT
        assert query["code_challenge_method"] == "S256"
        assert query["acr_values"] == " ".join(ACR.values())  # no level asked: any, so the provider says which
        answer = await browser.sign_in(location, "somchai", acr=ACR["low"])
        assert parse_qs(urlsplit(answer).query)["iss"] == [op.issuer]  # RFC 9207
        response = await client.get(await bounce(client, answer, tenant))
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["return_to"] == "/bills"
        assert body["acr"] == "low"
        me = await client.get(
            "/v1/citizens/me", headers={**host(tenant.slug), "Authorization": f"Bearer {body['access_token']}"}
        )
        assert me.status_code == 200, me.text
        record = me.json()
    await browser.aclose()
    # The certified provider puts these at userinfo only: read there, merged, mapped.
    assert record["name"] == "สมชาย ใจดี"
    assert record["name_en"] == "Somchai Jaidee"
    assert record["email"] == "somchai@example.org"  # verified
    assert record["phone"] == "+66 81 234 5678"
    assert record["national_id_last4"] == PID[-4:]
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                text(f'SELECT row_to_json(c)::text AS j, national_id_hash FROM "{tenant.schema}".citizens c')
            )
        ).one()
        audit = (
            await conn.execute(text(f"SELECT string_agg(data::text, ',') FROM \"{tenant.schema}\".audit_events"))
        ).scalar_one()
    assert PID not in row.j  # never in clear
    assert PID not in audit
    assert row.national_id_hash == national_id_digest(TEST_SECRET, PID)
    async with tenant_session(session_factory(engine), tenant) as session:
        found = await citizens_with_national_id(session, TEST_SECRET, "1-1017-00203-45-0")
    assert [c.id for c in found] == [record["id"]] or [str(c.id) for c in found] == [record["id"]]


async def test_an_unverified_email_is_not_kept_and_a_national_id_subject_is_hashed(
    engine: AsyncEngine, op: CertifiedProvider, client_for: ClientFactory
) -> None:
    tenant = await make_tenant(engine)
    browser = ProviderBrowser(op.issuer)
    async with client_for() as client:
        first = (await client.get(await callback_for(client, browser, tenant, "unverified"))).json()
        me = await client.get(
            "/v1/citizens/me", headers={**host(tenant.slug), "Authorization": f"Bearer {first['access_token']}"}
        )
        assert me.json()["email"] is None  # email_verified: false
        other = ProviderBrowser(op.issuer)
        second = await client.get(await callback_for(client, other, tenant, PID_AS_SUB))
        assert second.status_code == 200, second.text
        await other.aclose()
    await browser.aclose()
    async with engine.connect() as conn:
        subjects = (
            await conn.execute(text(f'SELECT subject, national_id_last4 FROM "{tenant.schema}".citizens'))
        ).all()
    assert (f"nid:{national_id_digest(TEST_SECRET, PID_AS_SUB)}", PID_AS_SUB[-4:]) in [tuple(r) for r in subjects]
    assert all(PID_AS_SUB not in r.subject for r in subjects)


async def test_acr_is_asked_checked_and_a_service_asks_for_a_step_up(
    engine: AsyncEngine, op: CertifiedProvider, client_for: ClientFactory
) -> None:
    tenant = await make_tenant(engine, services=["demo"])
    async with client_for() as client:
        # Reading needs no level; filing an application needs "substantial" (the demo service's guard).
        browser = ProviderBrowser(op.issuer)
        low = (await client.get(await callback_for(client, browser, tenant, "somchai", acr=ACR["low"]))).json()
        await browser.aclose()
        auth = {**host(tenant.slug), "Authorization": f"Bearer {low['access_token']}"}
        refused = await client.post("/v1/demo/applications", headers=auth)
        body = problem(refused, 401, "step_up_required")
        assert body["data"]["acr_values"] == "substantial"
        assert 'error="insufficient_user_authentication"' in refused.headers["www-authenticate"]
        assert 'acr_values="substantial"' in refused.headers["www-authenticate"]

        # The step-up login asks the provider for that level or higher ...
        browser = ProviderBrowser(op.issuer)
        location = await start(client, tenant, acr="substantial")
        assert parse_qs(urlsplit(location).query)["acr_values"] == [f"{ACR['substantial']} {ACR['high']}"]
        # ... and a login that reached less is refused, with no token.
        before = await citizen_tokens(engine, tenant)
        weak = await bounce(client, await browser.sign_in(location, "somchai", acr=ACR["low"]), tenant)
        body = problem(await client.get(weak), 401, "acr_insufficient")
        assert body["data"] == {"asked": "substantial", "got": "low"}
        assert await citizen_tokens(engine, tenant) == before
        await browser.aclose()

        browser = ProviderBrowser(op.issuer)
        stepped = await browser.sign_in(await start(client, tenant, acr="substantial"), "somchai", acr=ACR["high"])
        strong = await client.get(await bounce(client, stepped, tenant))
        await browser.aclose()
        assert strong.status_code == 200, strong.text
        assert strong.json()["acr"] == "high"
        filed = await client.post(
            "/v1/demo/applications",
            headers={**host(tenant.slug), "Authorization": f"Bearer {strong.json()['access_token']}"},
        )
        assert filed.status_code == 200, filed.text
        assert filed.json()["acr"] == "high"
        # A refreshed token keeps the level of its login.
        refreshed = await client.post(
            "/v1/auth/refresh", json={"refresh_token": strong.json()["refresh_token"]}, headers=host(tenant.slug)
        )
        assert refreshed.status_code == 200, refreshed.text
        again = await client.post(
            "/v1/demo/applications",
            headers={**host(tenant.slug), "Authorization": f"Bearer {refreshed.json()['access_token']}"},
        )
        assert again.status_code == 200, again.text
        problem(await client.get("/v1/auth/citizen/login?acr=extreme", headers=host(tenant.slug)), 400, "unknown_acr")

        # The LAO's own minimum: every login there asks at least that level.
        admin = {**host(tenant.slug), **bearer(tenant, roles=["tenant_admin"])}
        bad = await client.put("/v1/citizen-login/settings", json={"login_acr": "extreme"}, headers=admin)
        assert bad.status_code == 400, bad.text
        problem(
            await client.put("/v1/citizen-login/settings", json={"login_acr": "high"}, headers=host(tenant.slug)),
            401,
            "missing_token",
        )
        set_ = await client.put("/v1/citizen-login/settings", json={"login_acr": "substantial"}, headers=admin)
        assert set_.status_code == 200, set_.text
        assert set_.json() == {"login_acr": "substantial", "levels": list(ACR), "platform_login_acr": None}
        location = await start(client, tenant)
        assert parse_qs(urlsplit(location).query)["acr_values"] == [f"{ACR['substantial']} {ACR['high']}"]
        location = await start(client, tenant, acr="high")  # asking more than the LAO's minimum wins
        assert parse_qs(urlsplit(location).query)["acr_values"] == [ACR["high"]]
        cleared = await client.put("/v1/citizen-login/settings", json={"login_acr": None}, headers=admin)
        assert cleared.json()["login_acr"] is None


async def test_rp_initiated_logout_ends_the_provider_session_and_our_tokens(
    engine: AsyncEngine, op: CertifiedProvider, client_for: ClientFactory
) -> None:
    tenant = await make_tenant(engine)
    browser = ProviderBrowser(op.issuer)
    async with client_for() as client:
        tokens = (await client.get(await callback_for(client, browser, tenant, "somchai"))).json()
        # The app revokes this platform's tokens ...
        assert (
            await client.post(
                "/v1/auth/logout", json={"refresh_token": tokens["refresh_token"]}, headers=host(tenant.slug)
            )
        ).status_code == 204
        problem(
            await client.post(
                "/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}, headers=host(tenant.slug)
            ),
            401,
            "refresh_token_revoked",
        )
        # ... then sends the browser to end the provider's session.
        end = await start(client, tenant, path="/v1/auth/citizen/logout", return_to="/goodbye")
        assert end.startswith(op.issuer + "/session/end?")
        query = parse_qs(urlsplit(end).query)
        assert query["client_id"] == [PLATFORM]
        assert query["post_logout_redirect_uri"] == [f"http://{BASE}{LOGGED_OUT_PATH}"]
        back = await browser.confirm_logout(end)
        assert back.startswith(f"http://{BASE}{LOGGED_OUT_PATH}?")
        final = await client.get(back)
        assert final.status_code == 302
        assert final.headers["location"] == f"http://{tenant.slug}.{BASE}/goodbye"
        # The provider's session is over: the next login asks for the password again.
        page = await browser.http.get(await start(client, tenant), follow_redirects=True)
        assert page.status_code == 200
        assert 'name="login"' in page.text
        forged = await client.get(f"http://{BASE}{LOGGED_OUT_PATH}?state={tenant.slug}.L2V2aWw.forged")
        problem(forged, 400, "invalid_state")
    await browser.aclose()


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


async def test_a_public_mobile_app_gets_tokens_with_pkce_and_rotating_refresh_tokens(
    engine: AsyncEngine, op: CertifiedProvider, client_for: ClientFactory
) -> None:
    tenant, other = await make_tenant(engine), await make_tenant(engine)
    admin = {**host(tenant.slug), **bearer(tenant, roles=["tenant_admin"])}
    async with client_for() as client:
        bad = await client.post(
            "/v1/citizen-apps",
            json={"name": "x", "kind": "native", "redirect_uris": ["javascript:alert(1)"]},
            headers=admin,
        )
        problem(bad, 422, "redirect_uri_not_allowed")
        created = await client.post(
            "/v1/citizen-apps",
            json={"name": "แอปประชาชน", "kind": "native", "redirect_uris": [APP_REDIRECT]},
            headers=admin,
        )
        assert created.status_code == 201, created.text
        app_id = created.json()["client_id"]
        assert "client_secret" not in created.json()
        verifier, challenge = _pkce()
        request = {
            "response_type": "code",
            "client_id": app_id,
            "redirect_uri": APP_REDIRECT,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "state": "app-state-1",
        }
        # Refused before any login: an unregistered redirect URI (never redirected to), plain PKCE.
        problem(
            await client.get(
                "/oauth/authorize", params={**request, "redirect_uri": APP_REDIRECT + "x"}, headers=host(tenant.slug)
            ),
            400,
            "invalid_authorization_request",
        )
        plain = await client.get(
            "/oauth/authorize", params={**request, "code_challenge_method": "plain"}, headers=host(tenant.slug)
        )
        assert plain.status_code == 302
        assert plain.headers["location"].startswith(APP_REDIRECT + "?error=invalid_request")

        browser = ProviderBrowser(op.issuer)
        location = await start(client, tenant, path="/oauth/authorize", **request)
        back = await client.get(await bounce(client, await browser.sign_in(location, "somchai"), tenant))
        await browser.aclose()
        assert back.status_code == 302, back.text
        answer = back.headers["location"]
        assert answer.startswith(APP_REDIRECT + "?")
        got = {k: v[0] for k, v in parse_qs(urlsplit(answer).query).items()}
        assert got["state"] == "app-state-1"
        assert got["iss"] == f"https://{tenant.slug}.{BASE}"
        token_form = {
            "grant_type": "authorization_code",
            "client_id": app_id,
            "code": got["code"],
            "redirect_uri": APP_REDIRECT,
        }
        wrong = await client.post(
            "/oauth/token", data={**token_form, "code_verifier": _pkce()[0]}, headers=host(tenant.slug)
        )
        problem(wrong, 400, "invalid_grant")  # and the code is spent
        again = await client.post(
            "/oauth/token", data={**token_form, "code_verifier": verifier}, headers=host(tenant.slug)
        )
        problem(again, 400, "invalid_grant")

        # A second login, done right.
        browser = ProviderBrowser(op.issuer)
        verifier, challenge = _pkce()
        location = await start(client, tenant, path="/oauth/authorize", **{**request, "code_challenge": challenge})
        answer = (await client.get(await bounce(client, await browser.sign_in(location, "somchai"), tenant))).headers[
            "location"
        ]
        await browser.aclose()
        code = parse_qs(urlsplit(answer).query)["code"][0]
        issued = await client.post(
            "/oauth/token", data={**token_form, "code": code, "code_verifier": verifier}, headers=host(tenant.slug)
        )
        assert issued.status_code == 200, issued.text
        tokens = issued.json()
        keys = KeyStore(TEST_SECRET)
        await keys.load(engine)
        principal = verify_access_token(
            tokens["access_token"], keys, Audience.tenant(tenant.slug, tenant.dla_code, BASE)
        )
        assert (principal.kind, principal.client_id) == ("citizen", app_id)
        me = await client.get(
            "/v1/citizens/me", headers={**host(tenant.slug), "Authorization": f"Bearer {tokens['access_token']}"}
        )
        assert me.json()["name"] == "สมชาย ใจดี"
        # A code presented twice: refused, and what it gave is revoked.
        replay = await client.post(
            "/oauth/token", data={**token_form, "code": code, "code_verifier": verifier}, headers=host(tenant.slug)
        )
        problem(replay, 400, "invalid_grant")
        problem(
            await client.post(
                "/oauth/token",
                data={"grant_type": "refresh_token", "client_id": app_id, "refresh_token": tokens["refresh_token"]},
                headers=host(tenant.slug),
            ),
            400,
            "invalid_grant",
        )

        # A third login: rotation, and reuse detection.
        browser = ProviderBrowser(op.issuer)
        verifier, challenge = _pkce()
        location = await start(client, tenant, path="/oauth/authorize", **{**request, "code_challenge": challenge})
        answer = (await client.get(await bounce(client, await browser.sign_in(location, "somchai"), tenant))).headers[
            "location"
        ]
        await browser.aclose()
        code = parse_qs(urlsplit(answer).query)["code"][0]
        first = (
            await client.post(
                "/oauth/token", data={**token_form, "code": code, "code_verifier": verifier}, headers=host(tenant.slug)
            )
        ).json()
        refresh = {"grant_type": "refresh_token", "client_id": app_id}
        second = await client.post(
            "/oauth/token", data={**refresh, "refresh_token": first["refresh_token"]}, headers=host(tenant.slug)
        )
        assert second.status_code == 200, second.text
        assert second.json()["refresh_token"] != first["refresh_token"]
        problem(
            await client.post(
                "/oauth/token",
                data={**refresh, "client_id": "lga_other", "refresh_token": second.json()["refresh_token"]},
                headers=host(tenant.slug),
            ),
            401,
            "invalid_client",
        )
        reused = await client.post(
            "/oauth/token", data={**refresh, "refresh_token": first["refresh_token"]}, headers=host(tenant.slug)
        )
        problem(reused, 400, "invalid_grant")
        latest = await client.post(
            "/oauth/token", data={**refresh, "refresh_token": second.json()["refresh_token"]}, headers=host(tenant.slug)
        )
        problem(latest, 400, "invalid_grant")  # the whole login was revoked on reuse

        # Revocation (RFC 7009) by the app.
        browser = ProviderBrowser(op.issuer)
        verifier, challenge = _pkce()
        location = await start(client, tenant, path="/oauth/authorize", **{**request, "code_challenge": challenge})
        answer = (await client.get(await bounce(client, await browser.sign_in(location, "somchai"), tenant))).headers[
            "location"
        ]
        await browser.aclose()
        code = parse_qs(urlsplit(answer).query)["code"][0]
        fourth = (
            await client.post(
                "/oauth/token", data={**token_form, "code": code, "code_verifier": verifier}, headers=host(tenant.slug)
            )
        ).json()
        # An app's refresh token rotates only at /oauth/token, where the app names itself.
        problem(
            await client.post(
                "/v1/auth/refresh", json={"refresh_token": fourth["refresh_token"]}, headers=host(tenant.slug)
            ),
            401,
            "invalid_grant",
        )
        revoked = await client.post(
            "/oauth/revoke", data={"client_id": app_id, "token": fourth["refresh_token"]}, headers=host(tenant.slug)
        )
        assert revoked.status_code == 200, revoked.text
        problem(
            await client.post(
                "/oauth/token", data={**refresh, "refresh_token": fourth["refresh_token"]}, headers=host(tenant.slug)
            ),
            400,
            "invalid_grant",
        )
        # Another LAO does not know this app.
        problem(
            await client.get("/oauth/authorize", params=request, headers=host(other.slug)),
            400,
            "invalid_authorization_request",
        )
        problem(
            await client.get(
                f"/v1/citizen-apps/{app_id}", headers={**host(other.slug), **bearer(other, roles=["tenant_admin"])}
            ),
            404,
            "citizen_app_not_found",
        )


async def test_every_refusal_issues_no_token(
    engine: AsyncEngine, op: CertifiedProvider, client_for: ClientFactory, database_url: str
) -> None:
    tenant, other = await make_tenant(engine), await make_tenant(engine)
    async with client_for() as client:
        before = await citizen_tokens(engine, tenant)
        # A state this platform did not sign: refused on the operator host.
        problem(await client.get(f"{REDIRECT}?code=x&state={tenant.slug}.forged.forged"), 400, "invalid_state")
        problem(await client.get(f"{REDIRECT}?code=x&state=nonsense"), 400, "invalid_state")
        # Replayed state.
        browser = ProviderBrowser(op.issuer)
        callback = await callback_for(client, browser, tenant, "somchai")
        assert (await client.get(callback)).status_code == 200
        problem(await client.get(callback), 400, "state_replayed")
        before = await citizen_tokens(engine, tenant)
        # Replayed code: with a fresh state of this browser, the provider refuses the spent code: 400.
        code = parse_qs(urlsplit(callback).query)["code"][0]
        fresh = await start(client, tenant)
        state = parse_qs(urlsplit(fresh).query)["state"][0]
        iss = op.issuer
        replay = f"http://{tenant.slug}.{BASE}{CALLBACK_PATH}?{urlencode({'code': code, 'state': state, 'iss': iss})}"
        body = problem(await client.get(replay), 400, "code_refused")
        assert body["data"] == {"error": "invalid_grant"}
        # A forged code: the provider's refusal, not a 502.
        fresh = await start(client, tenant)
        state = parse_qs(urlsplit(fresh).query)["state"][0]
        forged = (
            f"http://{tenant.slug}.{BASE}{CALLBACK_PATH}?{urlencode({'code': 'forged', 'state': state, 'iss': iss})}"
        )
        problem(await client.get(forged), 400, "code_refused")
        # RFC 9207: another issuer named, or none while the provider announces it.
        for bad_iss in ("http://127.0.0.1:1", None):
            callback = await callback_for(client, browser, tenant, "somchai")
            query = {k: v[0] for k, v in parse_qs(urlsplit(callback).query).items()}
            if bad_iss is None:
                query.pop("iss")
            else:
                query["iss"] = bad_iss
            mixed = f"http://{tenant.slug}.{BASE}{CALLBACK_PATH}?{urlencode(query)}"
            problem(await client.get(mixed), 400, "issuer_mismatch")
        # LAO A's login finished at LAO B: the state is A's, unknown to B.
        answer = await browser.sign_in(await start(client, tenant), "somchai")
        at_a = await bounce(client, answer, tenant)
        at_b = at_a.replace(f"http://{tenant.slug}.", f"http://{other.slug}.")
        problem(await client.get(at_b), 400, "invalid_state")
        assert await citizen_tokens(engine, tenant) == before
        assert await citizen_tokens(engine, other) == 0
        await browser.aclose()

    # An ID token the certified provider issued to another client: refused for its audience.
    other_browser = ProviderBrowser(op.issuer)
    verifier, challenge = _pkce()
    nonce = secrets.token_urlsafe(16)
    authorize = f"{op.issuer}/auth?" + urlencode(
        {
            "client_id": OTHER,
            "response_type": "code",
            "scope": "openid",
            "redirect_uri": REDIRECT,
            "state": "s",
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    answer = await other_browser.sign_in(authorize, "somchai")
    code = parse_qs(urlsplit(answer).query)["code"][0]
    token = await other_browser.http.post(
        f"{op.issuer}/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier},
        auth=(OTHER, OTHER_SECRET),
    )
    await other_browser.aclose()
    assert token.status_code == 200, token.text
    ours = OidcClient(certified_settings(database_url, op.issuer))
    with pytest.raises(IdTokenInvalid) as refused:
        await ours.verify_id_token(token.json()["id_token"], nonce=nonce, now=time.time())
    assert refused.value.data == {"reason": "audience"}


async def test_an_app_the_operator_registers_works_at_every_lao(
    engine: AsyncEngine, op: CertifiedProvider, client_for: ClientFactory
) -> None:
    first, second = await make_tenant(engine), await make_tenant(engine)
    operator = {"Host": BASE, **bearer(None, kind="operator", roles=["platform_admin"])}
    async with client_for() as client:
        problem(
            await client.post(
                "/v1/operator/citizen-apps",
                json={"name": "x", "kind": "native", "redirect_uris": ["http://evil.example/cb"]},
                headers={"Host": BASE, **bearer(None, kind="operator", roles=["billing_admin"])},
            ),
            403,
            "forbidden",
        )
        created = await client.post(
            "/v1/operator/citizen-apps",
            json={"name": "แอปท้องถิ่นของแพลตฟอร์ม", "kind": "native", "redirect_uris": [APP_REDIRECT]},
            headers=operator,
        )
        assert created.status_code == 201, created.text
        app_id = created.json()["client_id"]
        assert app_id.startswith("lgp_")
        listed = await client.get("/v1/operator/citizen-apps", headers=operator)
        assert app_id in [a["client_id"] for a in listed.json()["items"]]
        # Not an LAO's own app: its administrators neither see nor disable it.
        lao_admin = {**host(first.slug), **bearer(first, roles=["tenant_admin"])}
        problem(await client.get(f"/v1/citizen-apps/{app_id}", headers=lao_admin), 404, "citizen_app_not_found")
        for tenant in (first, second):
            browser = ProviderBrowser(op.issuer)
            verifier, challenge = _pkce()
            request = {
                "response_type": "code",
                "client_id": app_id,
                "redirect_uri": APP_REDIRECT,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
                "state": tenant.slug,
            }
            location = await start(client, tenant, path="/oauth/authorize", **request)
            back = await client.get(await bounce(client, await browser.sign_in(location, "somchai"), tenant))
            await browser.aclose()
            code = parse_qs(urlsplit(back.headers["location"]).query)["code"][0]
            issued = await client.post(
                "/oauth/token",
                data={
                    "grant_type": "authorization_code",
                    "client_id": app_id,
                    "code": code,
                    "redirect_uri": APP_REDIRECT,
                    "code_verifier": verifier,
                },
                headers=host(tenant.slug),
            )
            assert issued.status_code == 200, issued.text
            me = await client.get(
                "/v1/citizens/me",
                headers={**host(tenant.slug), "Authorization": f"Bearer {issued.json()['access_token']}"},
            )
            assert me.status_code == 200, me.text
            refresh_token = issued.json()["refresh_token"]
        disabled = await client.post(f"/v1/operator/citizen-apps/{app_id}/disable", headers=operator)
        assert disabled.json()["status"] == "disabled"
        problem(
            await client.post(
                "/oauth/token",
                data={"grant_type": "refresh_token", "client_id": app_id, "refresh_token": refresh_token},
                headers=host(second.slug),
            ),
            401,
            "invalid_client",
        )
        problem(
            await client.get("/oauth/authorize", params=request, headers=host(first.slug)),
            400,
            "invalid_authorization_request",
        )
