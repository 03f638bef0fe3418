"""Access tokens for tests, signed by the real key store with one key shared by every test database."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable

from joserfc.jwk import ECKey
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from localgov.kernel.auth.keys import ALGORITHM, KeyStore, SigningKey, encrypt_private
from localgov.kernel.auth.tokens import Audience, PrincipalKind, issue_access_token
from localgov.kernel.tenancy import TenantInfo

TEST_SECRET = "test-secret-key-for-localgov-tests-only-0123456789"
BASE = "localgov.test"
TEST_KEY = ECKey.generate_key("P-256", parameters={"kid": "test-key", "alg": ALGORITHM, "use": "sig"}, private=True)


async def install_test_key(conn: AsyncConnection) -> None:
    await conn.execute(
        insert(SigningKey).values(
            kid="test-key",
            alg=ALGORITHM,
            public_jwk=json.dumps(TEST_KEY.as_dict(private=False)),
            private_jwk=encrypt_private(TEST_SECRET, TEST_KEY.as_dict(private=True)),
            activates_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=1),
        )
    )


class _TestKeys(KeyStore):
    """Signs with the test key that every test database holds (no database needed to mint)."""

    def signing_key(self, now: dt.datetime | None = None) -> ECKey:
        return TEST_KEY


_KEYS = _TestKeys(TEST_SECRET)

#: Set by ``tests/conftest.py`` once collection is over. A token minted while test modules are
#: imported would carry an expiry counted from the start of the run, and the suite must pass
#: however long it takes: :func:`bearer` refuses to mint before then.
COLLECTION_FINISHED = False

#: Test tokens live a day (a test that takes longer has other problems); tests of expiry pass ``ttl_s``.
TEST_TOKEN_TTL_S = 86_400


def bearer(
    tenant: TenantInfo | None,
    *,
    kind: PrincipalKind = "staff",
    roles: Iterable[str] = (),
    scopes: Iterable[str] = (),
    subject: str = "user-1",
    ttl_s: int = TEST_TOKEN_TTL_S,
    now: dt.datetime | None = None,
    acr: str = "",
) -> dict[str, str]:
    """``Authorization`` header for a principal of ``tenant`` (None: the operator)."""
    if not COLLECTION_FINISHED:
        raise RuntimeError("mint test tokens inside a test or fixture, not when a module is imported")
    audience = Audience.operator(BASE) if tenant is None else Audience.tenant(tenant.slug, tenant.dla_code, BASE)
    token = issue_access_token(
        _KEYS,
        audience,
        kind=kind,
        subject=subject,
        client_id="test-client",
        roles=frozenset(roles),
        scopes=frozenset(scopes),
        ttl_s=ttl_s,
        now=now,
        acr=acr,
    )
    return {"Authorization": f"Bearer {token}"}
