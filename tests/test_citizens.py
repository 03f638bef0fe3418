"""Citizen login end to end against a real OpenID Connect provider on loopback.

The provider (tests/support/oidc.py) runs in a thread and speaks real HTTP: the tests follow our
302 to it, log in through its form, come back to our callback with its code, and use the access
token we issue. Every refusal of the ID token goes through the same flow with a provider that
misbehaves in exactly one way.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.app import create_app
from localgov.identity.citizens import (
    CALLBACK_PATH,
    PROVIDER_CALLBACK_PATH,
    PROVIDER_STALE_S,
    OidcClient,
    ProviderError,
    acr_levels,
    claim_mapping,
)
from localgov.kernel.auth.keys import KeyStore
from localgov.kernel.auth.tokens import Audience, verify_access_token
from localgov.kernel.tenancy import TenantInfo
from localgov.settings import Settings
from tests.conftest import BASE, ClientFactory, host, make_settings
from tests.support.factories import make_tenant
from tests.support.oidc import DROP, TestProvider, User, authorize, new_ec_key, new_rsa_key, running_provider
from tests.support.tokens import TEST_SECRET, bearer

LOGIN = "/v1/auth/citizen/login"
ME = "/v1/citizens/me"


@pytest.fixture(scope="module")
def provider() -> Iterator[TestProvider]:
    with running_provider() as running:
        yield running


def oidc_settings(database_url: str, provider: TestProvider, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "oidc_issuer": provider.issuer,
        "oidc_client_id": provider.client_id,
        "oidc_client_secret": provider.client_secret,
        "public_url_scheme": "http",
        "login_rate_limit": 1000,
    }
    values.update(overrides)
    return make_settings(database_url, **values)


@pytest.fixture
def settings(database_url: str, provider: TestProvider) -> Settings:
    return oidc_settings(database_url, provider)


async def lao(engine: AsyncEngine, provider: TestProvider) -> TenantInfo:
    """A fresh LAO (the provider knows the platform's one redirect URI, on the operator host)."""
    tenant = await make_tenant(engine)
    provider.allow_redirect(f"http://{BASE}{PROVIDER_CALLBACK_PATH}")
    return tenant


async def start(client: httpx.AsyncClient, tenant: TenantInfo, **params: str) -> str:
    response = await client.get(LOGIN, params=params, headers=host(tenant.slug))
    assert response.status_code == 302, response.text
    return response.headers["location"]


async def come_back(client: httpx.AsyncClient, tenant: TenantInfo, user: User, **params: str) -> str:
    """Start a login and authorize it at the provider, follow the operator host's bounce: the LAO's
    callback URL with code and state."""
    return await bounce(client, await authorize(await start(client, tenant, **params), user), tenant)


async def bounce(client: httpx.AsyncClient, answer: str, tenant: TenantInfo) -> str:
    """The provider answered on the operator host's one redirect URI: it sends us back to the LAO."""
    assert answer.startswith(f"http://{BASE}{PROVIDER_CALLBACK_PATH}?"), answer
    response = await client.get(answer)
    assert response.status_code == 302, response.text
    callback = response.headers["location"]
    assert callback.startswith(f"http://{tenant.slug}.{BASE}{CALLBACK_PATH}?"), callback
    return callback


async def log_in(client: httpx.AsyncClient, tenant: TenantInfo, user: User, **params: str) -> httpx.Response:
    return await client.get(await come_back(client, tenant, user, **params))


async def rows(engine: AsyncEngine, tenant: TenantInfo, sql: str) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(text(sql.replace("{schema}", f'"{tenant.schema}"')))).all())


def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    return body


async def test_a_citizen_logs_in_through_the_provider_and_reads_his_record(
    engine: AsyncEngine, provider: TestProvider, client_for: ClientFactory
) -> None:
    tenant = await lao(engine, provider)
    user = provider.add_user("sub-somchai", name="สมชาย ใจดี", email="Somchai@Example.org", email_verified=True)
    async with client_for() as client:
        location = await start(client, tenant, return_to="/cases/42?tab=bills")
        sent = urlsplit(location)
        query = {k: v[0] for k, v in parse_qs(sent.query).items()}
        assert f"{sent.scheme}://{sent.netloc}" == provider.issuer
        assert sent.path == "/authorize"
        assert query["response_type"] == "code"
        assert query["client_id"] == provider.client_id
        assert query["redirect_uri"] == f"http://{BASE}{PROVIDER_CALLBACK_PATH}"  # one for every LAO
        assert query["scope"].split() == ["openid", "profile", "email", "phone"]
        assert query["state"].startswith(f"{tenant.slug}.")  # the operator host reads the LAO from it
        assert query["code_challenge_method"] == "S256"
        assert len(query["state"]) >= 43
        assert len(query["nonce"]) >= 43
        assert len(query["code_challenge"]) == 43
        stored = await rows(
            engine,
            tenant,
            "SELECT state_hash, nonce, return_to, expires_at - created_at FROM {schema}.oidc_login_states",
        )
        assert len(stored) == 1
        assert stored[0].state_hash != query["state"]  # only its digest is kept
        assert stored[0].nonce == query["nonce"]
        assert stored[0].return_to == "/cases/42?tab=bills"
        assert 540 <= stored[0][3].total_seconds() <= 660

        callback = await bounce(client, await authorize(location, user), tenant)
        response = await client.get(callback)
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "no-store"
        body = response.json()
        assert body["token_type"] == "Bearer"
        assert body["return_to"] == "/cases/42?tab=bills"
        assert body["expires_in"] == 300
        keys = KeyStore(TEST_SECRET)
        await keys.load(engine)
        principal = verify_access_token(body["access_token"], keys, Audience.tenant(tenant.slug, tenant.dla_code, BASE))
        assert principal.kind == "citizen"
        assert principal.client_id == "localgov-citizen"

        me = await client.get(ME, headers={**host(tenant.slug), "Authorization": f"Bearer {body['access_token']}"})
        assert me.status_code == 200, me.text
        record = me.json()
        assert record["id"] == principal.subject
        assert record["name"] == "สมชาย ใจดี"
        assert record["email"] == "somchai@example.org"

        # The second login finds the same citizen and refreshes what the provider tells.
        provider.users[user.sub].claims["name"] = "สมชาย ใจดีมาก"
        again = await log_in(client, tenant, user)
        assert again.status_code == 200, again.text
        assert again.json()["return_to"] == "/"
        second = verify_access_token(
            again.json()["access_token"], keys, Audience.tenant(tenant.slug, tenant.dla_code, BASE)
        )
        assert second.subject == principal.subject
        assert again.json()["refresh_token"] != body["refresh_token"]

    citizens = await rows(
        engine, tenant, "SELECT id, issuer, subject, name, email, last_login_at FROM {schema}.citizens"
    )
    assert [(str(c.id), c.issuer, c.subject, c.name) for c in citizens] == [
        (principal.subject, provider.issuer, "sub-somchai", "สมชาย ใจดีมาก")
    ]
    refresh = await rows(engine, tenant, "SELECT subject_kind, subject_id FROM {schema}.refresh_tokens")
    assert {(r.subject_kind, str(r.subject_id)) for r in refresh} == {("citizen", principal.subject)}
    audit = await rows(
        engine,
        tenant,
        "SELECT action, actor_kind, actor_id, source_ip, request_id, data FROM {schema}.audit_events ORDER BY id",
    )
    assert [a.action for a in audit] == ["login.succeeded", "token.issued"] * 2
    assert all(a.actor_kind == "citizen" and a.actor_id == principal.subject for a in audit)
    assert all(str(a.source_ip) == "127.0.0.1" and a.request_id for a in audit)
    assert [a.data.get("first_login") for a in audit if a.action == "login.succeeded"] == [True, False]
    spent = await rows(engine, tenant, "SELECT count(*) FROM {schema}.oidc_login_states WHERE used_at IS NOT NULL")
    assert spent[0][0] == 2


async def test_a_callback_opened_in_another_browser_is_refused(
    engine: AsyncEngine, provider: TestProvider, client_for: ClientFactory
) -> None:
    """Login CSRF: an attacker's callback URL (his code, his state) opened by a victim logs nobody in."""
    tenant = await lao(engine, provider)
    attacker = provider.add_user("sub-attacker", name="Attacker")
    async with client_for() as attacker_browser, client_for() as victim_browser:
        started = await attacker_browser.get(LOGIN, headers=host(tenant.slug))
        cookie = started.headers["set-cookie"]
        assert "localgov_citizen_login=" in cookie
        assert "HttpOnly" in cookie
        assert "SameSite=lax" in cookie or "SameSite=Lax" in cookie
        assert "Path=/v1/auth/citizen" in cookie
        callback = await bounce(victim_browser, await authorize(started.headers["location"], attacker), tenant)
        problem(await victim_browser.get(callback), 400, "login_not_bound")
        # The state is spent: the attacker cannot use it afterwards either.
        problem(await attacker_browser.get(callback), 400, "state_replayed")
        # A forged cookie does not help.
        other = await come_back(attacker_browser, tenant, attacker)
        victim_browser.cookies.set("localgov_citizen_login", "0" * 64)
        problem(await victim_browser.get(other), 400, "login_not_bound")
    async with engine.connect() as conn:
        citizens = (
            await conn.execute(text(f'SELECT count(*) FROM "{tenant.schema}".citizens WHERE subject = :s'),
                               {"s": "sub-attacker"})
        ).scalar_one()  # fmt: skip
    assert citizens == 0


async def test_a_state_is_good_for_one_callback(
    engine: AsyncEngine, provider: TestProvider, client_for: ClientFactory
) -> None:
    tenant = await lao(engine, provider)
    user = provider.add_user("sub-replay", name="Replay")
    async with client_for() as client:
        callback = await come_back(client, tenant, user)
        assert (await client.get(callback)).status_code == 200
        replayed = await client.get(callback)
        problem(replayed, 400, "state_replayed")

        # A callback that fails spends its state too: the same state cannot be tried again.
        failing = await come_back(client, tenant, user)
        state = parse_qs(urlsplit(failing).query)["state"][0]
        forged = f"http://{tenant.slug}.{BASE}{CALLBACK_PATH}?code=forged-code&state={state}"
        body = problem(await client.get(forged), 400, "code_refused")  # the provider refused it: not a 502
        assert body["data"] == {"error": "invalid_grant"}
        problem(await client.get(failing), 400, "state_replayed")

        problem(
            await client.get(f"{CALLBACK_PATH}?code=x&state=never-issued", headers=host(tenant.slug)),
            400,
            "invalid_state",
        )
        problem(await client.get(f"{CALLBACK_PATH}?code=x", headers=host(tenant.slug)), 400, "invalid_state")
    audit = await rows(
        engine,
        tenant,
        "SELECT action, actor_kind, data FROM {schema}.audit_events WHERE action = 'login.failed' ORDER BY id",
    )
    assert [a.data["code"] for a in audit] == [
        "state_replayed",
        "code_refused",
        "state_replayed",
        "invalid_state",
        "invalid_state",
    ]
    assert all(a.actor_kind == "anonymous" for a in audit)


async def test_an_expired_state_is_refused(
    engine: AsyncEngine, provider: TestProvider, client_for: ClientFactory
) -> None:
    tenant = await lao(engine, provider)
    user = provider.add_user("sub-slow")
    async with client_for() as client:
        callback = await come_back(client, tenant, user)
        async with engine.begin() as conn:
            await conn.execute(
                text(f"UPDATE \"{tenant.schema}\".oidc_login_states SET expires_at = now() - interval '1 second'")
            )
        problem(await client.get(callback), 400, "state_expired")
        problem(await client.get(callback), 400, "state_replayed")


async def test_the_nonce_must_be_the_one_the_login_sent(
    engine: AsyncEngine, provider: TestProvider, client_for: ClientFactory
) -> None:
    tenant = await lao(engine, provider)
    user = provider.add_user("sub-nonce")
    async with client_for() as client:
        callback = await come_back(client, tenant, user)
        async with engine.begin() as conn:  # the provider signed the login's nonce; we now expect another
            await conn.execute(text(f"UPDATE \"{tenant.schema}\".oidc_login_states SET nonce = 'another-nonce'"))
        body = problem(await client.get(callback), 401, "id_token_invalid")
    assert body["data"] == {"reason": "nonce"}


async def test_pkce_the_provider_checks_the_verifier_we_kept(
    engine: AsyncEngine, provider: TestProvider, client_for: ClientFactory
) -> None:
    tenant = await lao(engine, provider)
    user = provider.add_user("sub-pkce")
    async with client_for() as client:
        callback = await come_back(client, tenant, user)
        async with engine.begin() as conn:
            await conn.execute(
                text(f'UPDATE "{tenant.schema}".oidc_login_states SET code_verifier = :v'), {"v": "x" * 64}
            )
        body = problem(await client.get(callback), 400, "code_refused")
    assert body["data"] == {"error": "invalid_grant"}


def _flip_signature(token: str) -> str:
    head, payload, signature = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[len(raw) // 2] ^= 0x01
    return f"{head}.{payload}.{base64.urlsafe_b64encode(bytes(raw)).decode().rstrip('=')}"


def _swap_claim(token: str) -> str:
    head, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "someone-else"
    swapped = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"{head}.{swapped}.{signature}"


def _bad_id_tokens(provider: TestProvider) -> dict[str, tuple[dict[str, Any], str]]:
    """How the provider misbehaves → the reason we must refuse its ID token for."""
    stranger = new_rsa_key("stranger")
    same_kid = new_rsa_key(provider.signing_key.kid)
    return {
        "signature byte flipped": ({"tamper": _flip_signature}, "signature"),
        "claim changed after signing": ({"tamper": _swap_claim}, "signature"),
        "signed by another key under the provider's kid": ({"key": same_kid}, "signature"),
        "signed by a key the provider never published": ({"key": stranger}, "unknown_key"),
        "alg none": ({"alg": "none"}, "algorithm"),
        "HS256 keyed with the provider's public key": ({"alg": "HS256"}, "algorithm"),
        "jku header": ({"header": {"jku": "https://evil.example/jwks"}}, "forbidden_header"),
        "another audience": ({"claims": {"aud": "someone-else"}}, "audience"),
        "no audience": ({"claims": {"aud": DROP}}, "audience"),
        "several audiences, no azp": ({"claims": {"aud": [provider.client_id, "other"]}}, "authorized_party"),
        "azp of another client": ({"claims": {"azp": "other"}}, "authorized_party"),
        "another issuer": ({"claims": {"iss": "https://evil.example"}}, "issuer"),
        "expired": ({"claims": {"exp": 1_000_000_000, "iat": 999_999_000}}, "expired"),
        "issued in the future": ({"claims": {"iat": 4_000_000_000, "exp": 4_000_000_300}}, "not_yet_valid"),
        "no exp": ({"claims": {"exp": DROP}}, "timestamps"),
        "no nonce": ({"claims": {"nonce": DROP}}, "nonce"),
        "another nonce": ({"claims": {"nonce": "replayed-from-elsewhere"}}, "nonce"),
        "no subject": ({"claims": {"sub": DROP}}, "subject"),
        "not a JWT": ({"tamper": lambda _: "not-a-jwt"}, "malformed"),
    }


async def test_every_bad_id_token_is_refused_and_audited(
    engine: AsyncEngine, provider: TestProvider, client_for: ClientFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    tenant = await lao(engine, provider)
    user = provider.add_user("1101700203451", name="National ID as subject", pid="1101700203451")
    cases = _bad_id_tokens(provider)
    async with client_for() as client:
        ok = await log_in(client, tenant, user)  # the flow works; each case below differs in one way
        assert ok.status_code == 200, ok.text
        for name, (how, reason) in cases.items():
            callback = await come_back(client, tenant, user)
            capsys.readouterr()
            with provider.misbehaving(**how):
                response = await client.get(callback)
            body = problem(response, 401, "id_token_invalid")
            assert body["data"] == {"reason": reason}, name
            logged = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
            assert any(x.get("event") == "id_token_rejected" and x.get("reason") == reason for x in logged), name
            assert "1101700203451" not in json.dumps(logged), name  # never the national ID in the logs
    audit = await rows(
        engine, tenant, "SELECT data FROM {schema}.audit_events WHERE action = 'login.failed' ORDER BY id"
    )
    assert [a.data["reason"] for a in audit] == [reason for _, reason in cases.values()]
    assert all(a.data["code"] == "id_token_invalid" for a in audit)
    citizens = await rows(engine, tenant, "SELECT subject FROM {schema}.citizens")
    assert [c.subject for c in citizens] == ["1101700203451"]  # only the good login made a citizen


async def test_an_es256_id_token_from_a_published_key_is_accepted(
    engine: AsyncEngine, provider: TestProvider, client_for: ClientFactory
) -> None:
    tenant = await lao(engine, provider)
    user = provider.add_user("sub-ec", name="EC")
    ec = new_ec_key()
    provider.publish(ec)
    async with client_for() as client:
        callback = await come_back(client, tenant, user)
        with provider.misbehaving(key=ec):
            response = await client.get(callback)
    assert response.status_code == 200, response.text


async def test_discovery_is_cached_and_a_rotated_key_is_fetched_once(
    engine: AsyncEngine, provider: TestProvider, client_for: ClientFactory
) -> None:
    tenant = await lao(engine, provider)
    user = provider.add_user("sub-rotation")
    async with client_for() as client:
        before = provider.hits.copy()
        for _ in range(3):
            assert (await log_in(client, tenant, user)).status_code == 200
        assert provider.hits["/.well-known/openid-configuration"] - before["/.well-known/openid-configuration"] == 1
        assert provider.hits["/jwks"] - before["/jwks"] == 1
        assert provider.hits["/token"] - before["/token"] == 3

        provider.rotate()  # a kid our cache does not hold: the set is fetched again, once
        assert (await log_in(client, tenant, user)).status_code == 200
        assert (await log_in(client, tenant, user)).status_code == 200
        assert provider.hits["/jwks"] - before["/jwks"] == 2

        callback = await come_back(client, tenant, user)
        with provider.misbehaving(key=new_rsa_key("never-published")):
            problem(await client.get(callback), 401, "id_token_invalid")
        assert provider.hits["/jwks"] - before["/jwks"] == 3  # one more try, no more
        assert provider.hits["/.well-known/openid-configuration"] - before["/.well-known/openid-configuration"] == 1


async def test_discovery_is_refreshed_and_a_stale_document_serves_while_the_provider_is_down(
    database_url: str,
) -> None:
    with running_provider(TestProvider()) as down_later:
        client = OidcClient(oidc_settings(database_url, down_later), cache_ttl_s=0.0)  # every call refreshes
        first = await client.metadata()
        assert (await client.metadata()) == first
        assert down_later.hits["/.well-known/openid-configuration"] == 2  # re-read after its TTL
    # The provider is gone: the last good document keeps serving ...
    assert (await client.metadata()) == first
    # ... for PROVIDER_STALE_S, then the outage shows.
    assert client._metadata is not None
    client._metadata = (client._metadata[0] - PROVIDER_STALE_S - 1, client._metadata[1])
    with pytest.raises(ProviderError):
        await client.metadata()


async def test_the_same_person_is_a_different_citizen_in_each_lao(
    engine: AsyncEngine, provider: TestProvider, client_for: ClientFactory
) -> None:
    a = await lao(engine, provider)
    b = await lao(engine, provider)
    user = provider.add_user("sub-two-laos", name="Two LAOs")
    async with client_for() as client:
        in_a = (await log_in(client, a, user)).json()
        in_b = (await log_in(client, b, user)).json()
        auth_a = {"Authorization": f"Bearer {in_a['access_token']}"}
        auth_b = {"Authorization": f"Bearer {in_b['access_token']}"}
        me_a = await client.get(ME, headers={**host(a.slug), **auth_a})
        me_b = await client.get(ME, headers={**host(b.slug), **auth_b})
        assert me_a.status_code == me_b.status_code == 200
        assert me_a.json()["id"] != me_b.json()["id"]
        problem(await client.get(ME, headers={**host(b.slug), **auth_a}), 401, "invalid_token")
        problem(await client.get(ME, headers={**host(a.slug), **auth_b}), 401, "invalid_token")
        on_operator = await client.get(ME, headers={"Host": BASE, **auth_a})
        assert on_operator.status_code == 404
    for tenant, me in ((a, me_a), (b, me_b)):
        citizens = await rows(engine, tenant, "SELECT id, subject FROM {schema}.citizens")
        assert [(str(c.id), c.subject) for c in citizens] == [(me.json()["id"], "sub-two-laos")]


@pytest.mark.parametrize(
    "return_to",
    [
        "https://evil.example/",
        "//evil.example/path",
        "/\\evil.example",
        "\\\\evil.example",
        "javascript:alert(1)",
        "evil.example/cases",
        "/cases\r\nLocation: https://evil.example",
        "/cases/ x",
        "",
        "/" + "a" * 500,
    ],
)
async def test_return_to_is_a_relative_path_only(
    return_to: str, engine: AsyncEngine, provider: TestProvider, client_for: ClientFactory
) -> None:
    tenant = await lao(engine, provider)
    async with client_for() as client:
        response = await client.get(LOGIN, params={"return_to": return_to}, headers=host(tenant.slug))
    assert response.status_code == 400, response.text
    assert response.json()["code"] in ("invalid_return_to", "validation_error")
    assert "location" not in response.headers
    assert (await rows(engine, tenant, "SELECT count(*) FROM {schema}.oidc_login_states"))[0][0] == 0


async def test_the_provider_refusing_or_failing_is_a_problem(
    engine: AsyncEngine, provider: TestProvider, database_url: str, client_for: ClientFactory
) -> None:
    tenant = await lao(engine, provider)
    user = provider.add_user("sub-deny")
    async with client_for() as client:
        denied = await bounce(client, await authorize(await start(client, tenant), user, deny=True), tenant)
        assert "error=access_denied" in denied
        body = problem(await client.get(denied), 403, "login_denied")
        assert body["data"] == {"error": "access_denied"}
        callback = await come_back(client, tenant, user)
        state = parse_qs(urlsplit(callback).query)["state"][0]
        no_code = f"http://{tenant.slug}.{BASE}{CALLBACK_PATH}?state={state}"
        problem(await client.get(no_code), 400, "invalid_callback")

    wrong_secret = oidc_settings(database_url, provider, oidc_client_secret="not-the-secret")
    async with client_for(settings_=wrong_secret) as client:
        callback = await come_back(client, tenant, user)
        body = problem(await client.get(callback), 401, "code_refused")  # the provider refused us as a client
        assert body["data"] == {"error": "invalid_client"}

    unreachable = oidc_settings(database_url, provider, oidc_issuer="http://127.0.0.1:1")
    async with client_for(settings_=unreachable) as client:
        body = problem(await client.get(LOGIN, headers=host(tenant.slug)), 502, "provider_error")
        assert body["data"] == {"reason": "unreachable"}

    impostor = oidc_settings(database_url, provider, oidc_issuer=provider.issuer + "/")
    async with client_for(settings_=impostor) as client:
        body = problem(await client.get(LOGIN, headers=host(tenant.slug)), 502, "provider_error")
        assert body["data"] == {"reason": "issuer_mismatch"}


async def test_citizen_login_is_a_404_without_a_provider(
    engine: AsyncEngine, database_url: str, client_for: ClientFactory
) -> None:
    tenant = await make_tenant(engine)
    async with client_for(settings_=make_settings(database_url)) as client:
        problem(await client.get(LOGIN, headers=host(tenant.slug)), 404, "citizen_login_disabled")
        problem(
            await client.get(f"{CALLBACK_PATH}?code=c&state=s", headers=host(tenant.slug)),
            404,
            "citizen_login_disabled",
        )


async def test_the_callback_is_rate_limited_per_client_address(
    engine: AsyncEngine, provider: TestProvider, database_url: str, client_for: ClientFactory
) -> None:
    tenant = await lao(engine, provider)
    other = await lao(engine, provider)  # another LAO counts on its own
    limited = oidc_settings(database_url, provider, login_rate_limit=3, login_rate_window_s=60)
    async with client_for(settings_=limited) as client:
        for _ in range(3):
            problem(
                await client.get(f"{CALLBACK_PATH}?code=c&state=s", headers=host(tenant.slug)), 400, "invalid_state"
            )
        refused = problem(
            await client.get(f"{CALLBACK_PATH}?code=c&state=s", headers=host(tenant.slug)), 429, "rate_limited"
        )
        assert refused["data"]["retry_after_s"] >= 1
        problem(await client.get(f"{CALLBACK_PATH}?code=c&state=s", headers=host(other.slug)), 400, "invalid_state")


async def test_a_citizen_record_is_for_its_citizen_only(
    engine: AsyncEngine, provider: TestProvider, client_for: ClientFactory
) -> None:
    tenant = await lao(engine, provider)
    async with client_for() as client:
        problem(await client.get(ME, headers=host(tenant.slug)), 401, "missing_token")
        staff = await client.get(
            ME, headers={**host(tenant.slug), **bearer(tenant, kind="staff", roles=["tenant_admin"])}
        )
        problem(staff, 403, "forbidden")
        for subject in ("00000000-0000-4000-8000-000000000000", "not-a-uuid"):
            ghost = await client.get(
                ME, headers={**host(tenant.slug), **bearer(tenant, kind="citizen", subject=subject)}
            )
            problem(ghost, 404, "citizen_not_found")


async def test_logs_carry_no_secret_of_the_login(
    engine: AsyncEngine,
    provider: TestProvider,
    database_url: str,
    client_for: ClientFactory,
    capsys: pytest.CaptureFixture[str],
) -> None:
    tenant = await lao(engine, provider)
    user = provider.add_user("3100600123456", name="ลับ", email="secret-person@example.org", pid="3100600123456")
    verbose = oidc_settings(database_url, provider, log_level="INFO")
    async with client_for(settings_=verbose) as client:
        capsys.readouterr()
        callback = await come_back(client, tenant, user)
        good = await client.get(callback)
        assert good.status_code == 200
        replay = await client.get(callback)
        assert replay.status_code == 400
        captured = capsys.readouterr().out
    # The application's lines; the tests' own HTTP client (httpx, the "browser") logs its URLs.
    logs = "\n".join(x for x in captured.splitlines() if '"logger": "httpx"' not in x)
    query = parse_qs(urlsplit(callback).query)
    assert "citizen_logged_in" in logs
    assert "citizen_login_failed" in logs
    for secret in (
        query["code"][0],
        query["state"][0],
        good.json()["access_token"],
        good.json()["refresh_token"],
        provider.client_secret,
        "3100600123456",
        "secret-person@example.org",
    ):
        assert secret not in logs


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("oidc_claims", "nickname=nickname"),
        ("oidc_claims", "email"),
        ("oidc_acr_levels", "extreme=urn:x"),
        ("oidc_login_acr", "high"),
    ],
)
def test_a_wrong_claim_mapping_or_acr_setting_stops_the_start(
    database_url: str, provider: TestProvider, setting: str, value: str
) -> None:
    with pytest.raises(ValueError, match="LOCALGOV_OIDC"):
        create_app(oidc_settings(database_url, provider, **{setting: value}))


def test_the_claim_mapping_and_levels_are_read_from_the_settings() -> None:
    assert claim_mapping("name_en=name_en, national_id=pid") == {
        "name_th": "name",
        "name_en": "name_en",
        "email": "email",
        "phone": "phone_number",
        "national_id": "pid",
    }
    assert acr_levels("low=urn:a,high=urn:c") == {"low": "urn:a", "high": "urn:c"}
