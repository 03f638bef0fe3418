"""AWS Signature Version 4 for requests to an S3-compatible store (header-based signing).

The algorithm of AWS's "Signature Version 4 signing process": a canonical request (method,
URI-encoded path, sorted query, lower-cased sorted headers, the payload's SHA-256), a string to sign
with the credential scope ``<date>/<region>/<service>/aws4_request``, and an HMAC-SHA256 chain from
``"AWS4" + secret`` over date, region, service and ``aws4_request``. For S3 the path is encoded
once (not twice as for other services) and the payload hash is sent as ``x-amz-content-sha256``;
a known hash (rather than ``UNSIGNED-PAYLOAD``) makes the store check the body it received.

Tested against AWS's published S3 example and against botocore's signer (tests/test_storage.py).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Mapping
from urllib.parse import parse_qsl, quote, urlsplit

import msgspec

ALGORITHM = "AWS4-HMAC-SHA256"
#: The SHA-256 of an empty payload (GET, HEAD, DELETE).
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


class Credentials(msgspec.Struct, frozen=True, kw_only=True):
    access_key_id: str
    secret_access_key: str
    region: str
    service: str = "s3"

    def __repr__(self) -> str:  # never print the secret
        return f"Credentials(access_key_id={self.access_key_id!r}, region={self.region!r}, service={self.service!r})"


def uri_encode(value: str, *, keep_slash: bool) -> str:
    """AWS's URI encoding: every byte but ``A-Z a-z 0-9 - _ . ~`` (and ``/`` in a path) as ``%XX``."""
    return quote(value, safe="/" if keep_slash else "")


def amz_date(now: dt.datetime) -> str:
    return now.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def signing_key(secret_access_key: str, date: str, region: str, service: str) -> bytes:
    key = ("AWS4" + secret_access_key).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def _host(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None and (parts.scheme, parts.port) not in (("http", 80), ("https", 443)):
        return f"{host}:{parts.port}"
    return host


def canonical_request(method: str, url: str, headers: Mapping[str, str], payload_sha256: str) -> tuple[str, str]:
    """The canonical request and the signed-headers list, for ``headers`` (all of them are signed).

    ``url``'s path must already be URI-encoded the way it is sent (S3 does not encode it again).
    """
    parts = urlsplit(url)
    path = parts.path or "/"
    pairs = sorted(
        (uri_encode(k, keep_slash=False), uri_encode(v, keep_slash=False))
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
    )
    query = "&".join(f"{k}={v}" for k, v in pairs)
    canonical: dict[str, str] = {}
    for name, value in headers.items():
        canonical[name.strip().lower()] = " ".join(value.strip().split())
    names = sorted(canonical)
    signed = ";".join(names)
    lines = "".join(f"{name}:{canonical[name]}\n" for name in names)
    return "\n".join((method.upper(), path, query, lines, signed, payload_sha256)), signed


def sign(
    method: str,
    url: str,
    headers: Mapping[str, str],
    *,
    payload_sha256: str,
    credentials: Credentials,
    now: dt.datetime,
) -> dict[str, str]:
    """The headers to send: ``headers`` plus ``host``, ``x-amz-date``, ``x-amz-content-sha256`` and
    ``Authorization`` (every header passed is signed)."""
    stamp = amz_date(now)
    date = stamp[:8]
    out = {name: value for name, value in headers.items() if name.lower() != "authorization"}
    lowered = {name.lower() for name in out}
    if "host" not in lowered:
        out["host"] = _host(url)
    if "x-amz-date" not in lowered:
        out["x-amz-date"] = stamp
    if "x-amz-content-sha256" not in lowered:
        out["x-amz-content-sha256"] = payload_sha256
    request, signed = canonical_request(method, url, out, payload_sha256)
    scope = f"{date}/{credentials.region}/{credentials.service}/aws4_request"
    to_sign = "\n".join((ALGORITHM, stamp, scope, hashlib.sha256(request.encode()).hexdigest()))
    key = signing_key(credentials.secret_access_key, date, credentials.region, credentials.service)
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    out["Authorization"] = (
        f"{ALGORITHM} Credential={credentials.access_key_id}/{scope}, SignedHeaders={signed}, Signature={signature}"
    )
    return out
