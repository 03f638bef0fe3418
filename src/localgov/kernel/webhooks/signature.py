"""Standard Webhooks signatures (https://www.standardwebhooks.com, spec v1).

Every request carries three headers::

    webhook-id: msg_…                      (the same for every attempt and replay of a message)
    webhook-timestamp: <unix seconds>      (when this attempt was signed)
    webhook-signature: v1,<base64 sig> [v1,<base64 sig> …]

``sig = HMAC-SHA256(key, "<webhook-id>.<webhook-timestamp>.<body>")`` where ``key`` is the base64
part of the endpoint's secret ``whsec_<base64 of 32 random bytes>``. During a rotation the request
is signed with the new and the old secret (two space-separated values), so a receiver verifies
with whichever it holds. Any Standard Webhooks library verifies these (``tests/test_webhooks.py``
checks with the ``standardwebhooks`` package itself).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Sequence

SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)
ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
#: A receiver should refuse timestamps further than this from its clock (seconds).
TOLERANCE_S = 300


def new_secret() -> str:
    """``whsec_`` + base64 of 32 random bytes (256 bits)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _key(secret: str) -> bytes:
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("a webhook secret starts with whsec_")
    return base64.b64decode(secret[len(SECRET_PREFIX) :])


def signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,<base64>`` value."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(_key(secret), signed, hashlib.sha256).digest()).decode()


def sign_headers(secrets_: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three headers of one attempt, signed with every secret given (rotation: new first)."""
    if not secrets_:
        raise ValueError("at least one secret is needed to sign")
    return {
        ID_HEADER: msg_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: " ".join(signature(s, msg_id, timestamp, body) for s in secrets_),
    }


def verify(secret: str, headers: dict[str, str], body: bytes, now: int) -> bool:
    """What a receiver does (used by our tests and the CI client flow): the timestamp within
    :data:`TOLERANCE_S` and one ``v1`` value equal, in constant time."""
    lower = {k.lower(): v for k, v in headers.items()}
    msg_id, stamp, offered = lower.get(ID_HEADER), lower.get(TIMESTAMP_HEADER), lower.get(SIGNATURE_HEADER)
    if not msg_id or not stamp or not offered or not stamp.isdigit() or abs(now - int(stamp)) > TOLERANCE_S:
        return False
    expected = signature(secret, msg_id, int(stamp), body)
    ok = False
    for value in offered.split(" ")[:8]:
        ok |= hmac.compare_digest(expected, value)
    return ok
