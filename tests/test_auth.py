"""Access tokens and route policies: every abuse is a logged 401, every missing right a 403."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import secrets
from typing import Any

import msgspec
import pytest
from cryptography.exceptions import InvalidTag
from joserfc import jwt
from joserfc.jwk import ECKey
from litestar import Router, get
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.app import create_app, unguarded_routes
from localgov.kernel.auth.keys import KeyStore, _KeyRow, rotate_key
from localgov.kernel.auth.tokens import Audience, Unauthenticated, issue_access_token, verify_access_token
from localgov.kernel.plugins import ServicePlugin
from localgov.settings import Settings
from tests.conftest import BASE, ClientFactory, host
from tests.support.demo_plugin import DEMO
from tests.support.factories import make_tenant
from tests.support.tokens import TEST_KEY, TEST_SECRET, bearer


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _claims(audience: Audience, **overrides: Any) -> dict[str, Any]:
    now = int(dt.datetime.now(dt.UTC).timestamp())
    claims = {
        "iss": audience.issuer,
        "aud": audience.audience,
        "sub": "user-1",
        "client_id": "c",
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "jti": secrets.token_hex(8),
        "lgv_kind": "staff",
        "roles": ["demo.clerk"],
        "scope": "",
    }
    claims.update(overrides)
    return claims


def _signed(header: dict[str, Any], claims: dict[str, Any], key: ECKey = TEST_KEY) -> str:
    return jwt.encode(header, claims, key, algorithms=["ES256"])


def _unsigned(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}.{_b64(signature)}"


ATJWT = {"alg": "ES256", "typ": "at+jwt", "kid": "test-key"}


def abuses(a: Audience, b: Audience) -> dict[str, tuple[str, str]]:
    """Token → the reason it must be refused on A's host."""
    good = _claims(a)
    hs_header = _b64(json.dumps({"alg": "HS256", "typ": "at+jwt", "kid": "test-key"}).encode())
    hs_input = f"{hs_header}.{_b64(json.dumps(good).encode())}"
    public_pem = TEST_KEY.as_pem(private=False)
    hs_sig = hmac.new(public_pem, hs_input.encode(), hashlib.sha256).digest()
    other_key = ECKey.generate_key("P-256", parameters={"kid": "test-key"}, private=True)
    stranger = ECKey.generate_key("P-256", parameters={"kid": "stranger"}, private=True)
    hour = 3600
    return {
        "alg none": (_unsigned({"alg": "none", "typ": "at+jwt", "kid": "test-key"}, good), "algorithm"),
        "HS256 with the public key": (f"{hs_input}.{_b64(hs_sig)}", "algorithm"),
        "another LAO's token": (_signed(ATJWT, _claims(b)), "issuer"),
        "another LAO's audience": (_signed(ATJWT, _claims(a, aud=b.audience)), "audience"),
        "wrong issuer": (_signed(ATJWT, _claims(a, iss="https://evil.example")), "issuer"),
        "expired": (
            _signed(ATJWT, _claims(a, iat=good["iat"] - hour, nbf=good["iat"] - hour, exp=good["iat"] - 600)),
            "expired",
        ),
        "not yet valid": (
            _signed(ATJWT, _claims(a, nbf=good["iat"] + hour, exp=good["iat"] + 2 * hour)),
            "not_yet_valid",
        ),
        "unknown kid": (_signed({**ATJWT, "kid": "stranger"}, good, stranger), "unknown_key"),
        "known kid, other key": (_signed(ATJWT, good, other_key), "signature"),
        "jku elsewhere": (_signed({**ATJWT, "jku": "https://evil.example/jwks.json"}, good), "forbidden_header"),
        "embedded jwk": (_signed({**ATJWT, "jwk": TEST_KEY.as_dict(private=False)}, good), "forbidden_header"),
        "an ID token": (
            _signed({"alg": "ES256", "typ": "JWT", "kid": "test-key"}, _claims(a, aud="client-id", nonce="n")),
            "not_an_access_token",
        ),
        "a refresh token": (secrets.token_urlsafe(32), "malformed"),
        "garbage": ("a.b.c", "malformed"),
        "no subject": (_signed(ATJWT, _claims(a, sub="")), "claims"),
    }


async def test_every_token_abuse_is_a_logged_401(
    engine: AsyncEngine, client_for: ClientFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    a = await make_tenant(engine, services=["demo"])
    b = await make_tenant(engine, services=["demo"])
    aud_a = Audience.tenant(a.slug, a.dla_code, BASE)
    aud_b = Audience.tenant(b.slug, b.dla_code, BASE)
    cases = abuses(aud_a, aud_b)
    async with client_for() as client:
        ok = await client.post(
            "/v1/demo/pings",
            json={"message": "hi"},
            headers={
                **host(a.slug),
                "Authorization": f"Bearer {_signed(ATJWT, _claims(aud_a))}",
                "Idempotency-Key": "ok",
            },
        )
        assert ok.status_code == 201, ok.text  # the forged ones below differ from this one in one way each
        for name, (token, reason) in cases.items():
            capsys.readouterr()
            response = await client.post(
                "/v1/demo/pings",
                json={"message": "hi"},
                headers={**host(a.slug), "Authorization": f"Bearer {token}", "Idempotency-Key": name},
            )
            assert response.status_code == 401, name
            assert response.json()["code"] == "invalid_token", name
            assert response.json()["data"]["reason"] == reason, name
            logged = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
            assert any(x.get("event") == "token_rejected" and x.get("reason") == reason for x in logged), name
    async with engine.connect() as conn:
        counted = (
            await conn.execute(text("SELECT count(*) FROM platform.usage_events WHERE tenant_id = :t"), {"t": a.id})
        ).scalar()
    assert counted == 1


async def test_tokens_of_one_host_are_worthless_on_every_other(engine: AsyncEngine, client_for: ClientFactory) -> None:
    a = await make_tenant(engine, services=["demo"])
    b = await make_tenant(engine, services=["demo"])
    tokens = {
        "staff": bearer(a, kind="staff", roles=["demo.clerk"]),
        "citizen": bearer(a, kind="citizen"),
        "client": bearer(a, kind="client", scopes=["demo.write"]),
    }
    operator = bearer(None, kind="operator", roles=["platform_admin"])
    async with client_for(settings_=None) as client:
        for kind, auth in tokens.items():
            on_b = await client.post(
                "/v1/demo/pings", json={"message": "x"}, headers={**host(b.slug), **auth, "Idempotency-Key": kind}
            )
            assert on_b.status_code == 401, kind
            on_operator = await client.get("/v1/tenants", headers={"Host": BASE, **auth})
            assert on_operator.status_code == 401, kind
        on_tenant = await client.post(
            "/v1/demo/pings", json={"message": "x"}, headers={**host(a.slug), **operator, "Idempotency-Key": "op"}
        )
        assert on_tenant.status_code == 401


@pytest.mark.parametrize(
    ("kind", "roles", "scopes", "status"),
    [
        ("staff", ["demo.clerk"], [], 201),
        ("staff", ["tenant_admin"], [], 403),
        ("staff", [], [], 403),
        ("client", [], ["demo.write"], 201),
        ("client", [], ["demo.read"], 403),
        ("citizen", [], [], 403),
    ],
)
async def test_role_matrix_of_a_guarded_route(
    kind: str, roles: list[str], scopes: list[str], status: int, engine: AsyncEngine, client_for: ClientFactory
) -> None:
    tenant = await make_tenant(engine, services=["demo"])
    async with client_for() as client:
        response = await client.post(
            "/v1/demo/pings",
            json={"message": "x"},
            headers={
                **host(tenant.slug),
                **bearer(tenant, kind=kind, roles=roles, scopes=scopes),
                "Idempotency-Key": "k",
            },  # type: ignore[arg-type]
        )
    assert response.status_code == status, response.text
    if status == 403:
        assert response.json()["code"] == "forbidden"
        assert response.json()["data"]["required"] == "staff[demo.clerk] or client[demo.write]"


def test_every_route_of_the_application_declares_who_may_call_it(settings: Settings) -> None:
    app = create_app(settings, plugins=[DEMO])
    assert unguarded_routes(app) == []
    assert len(app.routes) > 5

    @get("/open", operation_id="sloppyOpen", tags=["Demo"])
    async def sloppy() -> dict[str, str]:
        return {}

    careless = ServicePlugin(
        slug="careless", title_th="ไม่ระวัง", title_en="Careless", router=Router("/v1/careless", route_handlers=[sloppy])
    )
    with pytest.raises(ValueError, match="routes without an auth policy: GET /v1/careless/open"):
        create_app(settings, plugins=[careless])


async def test_jwks_and_metadata(engine: AsyncEngine, client_for: ClientFactory) -> None:
    tenant = await make_tenant(engine)
    async with client_for() as client:
        jwks = (await client.get("/.well-known/jwks.json")).json()
        metadata = await client.get("/.well-known/oauth-authorization-server", headers=host(tenant.slug))
        on_operator = await client.get("/.well-known/oauth-authorization-server", headers={"Host": BASE})
    assert [k["kid"] for k in jwks["keys"]] == ["test-key"]
    assert all("d" not in k for k in jwks["keys"])
    assert metadata.json()["issuer"] == f"https://{tenant.slug}.{BASE}"
    assert metadata.json()["jwks_uri"] == f"https://{tenant.slug}.{BASE}/.well-known/jwks.json"
    assert metadata.json()["access_token_audience"] == f"urn:localgov:lao:{tenant.dla_code}"
    assert on_operator.status_code == 404


async def test_key_rotation_publishes_first_then_signs_and_retires_the_old_key(engine: AsyncEngine) -> None:
    audience = Audience.operator(BASE)
    keys = KeyStore(TEST_SECRET)
    await keys.load(engine)
    now = dt.datetime.now(dt.UTC)
    old = issue_access_token(keys, audience, kind="operator", subject="o", client_id="c", ttl_s=300, now=now)
    kid = await rotate_key(engine, TEST_SECRET, publish_s=120, overlap_s=420)
    try:
        await keys.load(engine)
        assert kid in {k["kid"] for k in keys.jwks()["keys"]}  # published at once
        assert keys.signing_key(now).kid == "test-key"  # but not signing yet
        later = now + dt.timedelta(seconds=150)
        assert keys.signing_key(later).kid == kid
        assert verify_access_token(old, keys, audience, now=later).subject == "o"  # overlap
        retired = now + dt.timedelta(seconds=120 + 420 + 1)
        fresh = issue_access_token(keys, audience, kind="operator", subject="n", client_id="c", ttl_s=300, now=later)
        assert verify_access_token(fresh, keys, audience, now=later).subject == "n"
        with pytest.raises(Unauthenticated):
            verify_access_token(old, keys, audience, now=retired)
    finally:
        async with engine.begin() as conn:  # the shared test database keeps its one test key
            await conn.execute(text("DELETE FROM platform.signing_keys WHERE kid = :k"), {"k": kid})
            await conn.execute(text("UPDATE platform.signing_keys SET retires_at = NULL WHERE kid = 'test-key'"))


async def test_private_keys_are_encrypted_at_rest(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        blob = (
            await conn.execute(text("SELECT private_jwk FROM platform.signing_keys WHERE kid = 'test-key'"))
        ).scalar()
    assert isinstance(blob, bytes)
    assert TEST_KEY.as_dict(private=True)["d"].encode() not in blob
    assert b'"kty"' not in blob
    wrong = KeyStore("another-secret-that-is-long-enough-to-be-valid-000")
    with pytest.raises(InvalidTag):
        await wrong.load(engine)


def test_a_verified_token_is_remembered_but_still_checked(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import localgov.kernel.auth.tokens as tokens_module

    decoded: list[str] = []
    real_decode = tokens_module.jwt.decode

    def counting_decode(value: str, key: Any, algorithms: list[str]) -> Any:
        decoded.append(value)
        return real_decode(value, key, algorithms=algorithms)

    monkeypatch.setattr(tokens_module.jwt, "decode", counting_decode)
    keys = KeyStore(TEST_SECRET)
    keys._rows = [  # one key, as KeyStore.load would hold it
        _KeyRow(
            "test-key", json.dumps(TEST_KEY.as_dict(private=False)), b"", dt.datetime(2020, 1, 1, tzinfo=dt.UTC), None
        )
    ]
    keys._private = {"test-key": TEST_KEY}
    a = Audience.tenant("a", "1000001", BASE)
    b = Audience.tenant("b", "1000002", BASE)
    now = dt.datetime.now(dt.UTC)
    token = issue_access_token(keys, a, kind="staff", subject="u", client_id="c", ttl_s=300, now=now)
    first = verify_access_token(token, keys, a, now=now)
    again = verify_access_token(token, keys, a, now=now + dt.timedelta(seconds=10))
    assert again is first
    assert decoded == [token]  # the signature was checked once
    with pytest.raises(Unauthenticated):  # another audience: checked in full, refused
        verify_access_token(token, keys, b, now=now)
    with pytest.raises(Unauthenticated) as expired:  # remembered, but its time is up
        verify_access_token(token, keys, a, now=now + dt.timedelta(seconds=400))
    assert expired.value.data == {"reason": "expired"}
    other_store = KeyStore(TEST_SECRET)  # same kid, another key object: no shortcut
    other_store._rows = keys._rows
    other_store._private = {"test-key": ECKey.generate_key("P-256", parameters={"kid": "test-key"}, private=True)}
    with pytest.raises(Unauthenticated):
        verify_access_token(token, other_store, a, now=now)
    keys._rows = [  # the key retired: remembered tokens go with it
        msgspec.structs.replace(keys._rows[0], retires_at=now + dt.timedelta(seconds=5))
    ]
    with pytest.raises(Unauthenticated) as retired:
        verify_access_token(token, keys, a, now=now + dt.timedelta(seconds=6))
    assert retired.value.data == {"reason": "unknown_key"}
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    capsys.readouterr()
    for _ in range(2):  # a refused token is never remembered: checked and logged every time
        with pytest.raises(Unauthenticated):
            verify_access_token(forged, keys, a, now=now)
    assert capsys.readouterr().out.count("token_rejected") == 2
