"""HMAC-SHA256 request signatures with a timestamp, a replay window and secret rotation.

The same scheme serves a partner that calls us (a bank's payment notifications) and calls we make
(outbound webhooks)::

    X-Localgov-Timestamp: <unix seconds>
    X-Localgov-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>." + raw body)>

Several ``v1=`` values may be sent, comma-separated: a sender that signs with the old and the new
secret during a rotation. A request whose timestamp is further than the window (five minutes by
default) from the receiver's clock is refused, so a captured request cannot be replayed later;
within the window the receiver must be idempotent anyway (at-least-once delivery).

Rotation: a new secret becomes *current* at once and the previous one keeps verifying for an
overlap (:func:`secrets_in_force`), the partner's time to switch. Comparison is constant-time and
every (secret, offered value) pair is compared, so timing tells nothing about which came close.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets as _secrets
from collections.abc import Sequence

import msgspec

from localgov.kernel.errors import DomainError

TIMESTAMP_HEADER = "X-Localgov-Timestamp"
SIGNATURE_HEADER = "X-Localgov-Signature"
SCHEME = "v1"
#: How far a timestamp may be from the receiver's clock, either way.
REPLAY_WINDOW = dt.timedelta(minutes=5)
#: At most this many signature values of one header are checked (a header is no work list).
MAX_OFFERED = 4
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class SignatureRefused(DomainError):
    code = "invalid_signature"
    status = 401
    title = "The request is not signed with a valid secret"


class SignatureScheme(msgspec.Struct, frozen=True, kw_only=True):
    """Header names, scheme tag and replay window of one use of the signature."""

    timestamp_header: str = TIMESTAMP_HEADER
    signature_header: str = SIGNATURE_HEADER
    scheme: str = SCHEME
    window: dt.timedelta = REPLAY_WINDOW

    def sign(self, secret: str, timestamp: str, body: bytes) -> str:
        """The signature header's value: ``v1=<hex HMAC-SHA256(secret, timestamp "." body)>``."""
        return f"{self.scheme}={_digest(secret, timestamp, body)}"

    def headers(self, secrets: Sequence[str], body: bytes, now: dt.datetime) -> dict[str, str]:
        """The two headers of an outgoing request, signed with every secret given (rotation)."""
        if not secrets:
            raise ValueError("at least one secret is needed to sign")
        timestamp = str(int(now.timestamp()))
        return {
            self.timestamp_header: timestamp,
            self.signature_header: ",".join(self.sign(secret, timestamp, body) for secret in secrets),
        }

    def verify(
        self,
        secrets: Sequence[str],
        timestamp: str | None,
        signature: str | None,
        body: bytes,
        now: dt.datetime,
    ) -> None:
        """Refuse (401) unless ``signature`` holds an HMAC of ``timestamp.body`` under one of ``secrets``.

        Codes: ``missing_signature``, ``invalid_timestamp``, ``stale_timestamp`` (outside the
        window, ``data.window_s``), ``invalid_signature``. No secret at all refuses everything.
        """
        if not timestamp or not signature:
            raise SignatureRefused(
                f"Both {self.timestamp_header} and {self.signature_header} are required.", code="missing_signature"
            )
        if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
            raise SignatureRefused(f"{self.timestamp_header} must be Unix time in seconds.", code="invalid_timestamp")
        window_s = int(self.window.total_seconds())
        if abs(now.timestamp() - int(timestamp)) > window_s:
            raise SignatureRefused(
                f"The timestamp is outside the {window_s // 60}-minute window (a replay, or a clock that is wrong).",
                code="stale_timestamp",
                data={"window_s": window_s},
            )
        prefix = self.scheme + "="
        offered = [value.strip()[len(prefix) :] for value in signature.split(",") if value.strip().startswith(prefix)]
        offered = [value for value in offered if _HEX64.fullmatch(value)][:MAX_OFFERED]
        ok = False
        for secret in secrets:
            expected = _digest(secret, timestamp, body)
            for value in offered:
                ok |= hmac.compare_digest(expected, value)
        if not ok:
            raise SignatureRefused()


#: The scheme with the platform's header names, ``v1`` and a five-minute window.
DEFAULT_SCHEME = SignatureScheme()


def _digest(secret: str, timestamp: str, body: bytes) -> str:
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def new_secret(prefix: str) -> str:
    """256 random bits, printable, with a prefix that says what the secret is for (``lgwh_…``)."""
    if not re.fullmatch(r"[a-z]{2,10}_", prefix):
        raise ValueError("a secret prefix is 2-10 lower-case letters and '_'")
    return prefix + _secrets.token_urlsafe(32)


def secrets_in_force(
    current: str | None,
    previous: str | None,
    rotated_at: dt.datetime | None,
    now: dt.datetime,
    *,
    overlap: dt.timedelta,
) -> list[str]:
    """The secrets that verify at ``now``: the current one, and the previous one until
    ``rotated_at + overlap``. No current secret: none (every request is refused)."""
    if current is None:
        return []
    out = [current]
    if previous is not None and rotated_at is not None and now < rotated_at + overlap:
        out.append(previous)
    return out
