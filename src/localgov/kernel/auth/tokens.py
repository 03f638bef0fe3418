"""JWT access tokens in the RFC 9068 profile, verified locally (no database round trip).

Header: ``{"alg": "ES256", "typ": "at+jwt", "kid": …}`` and nothing else: a token carrying
``jku``, ``jwk``, ``x5u`` or any other header is refused, as is any algorithm but ES256 (so
``alg: none`` and HS256-signed-with-the-public-key attacks cannot apply). Claims: ``iss`` (the
host's issuer), ``aud`` (one LAO, or the operator), ``sub``, ``client_id``, ``iat``, ``nbf``,
``exp``, ``jti``, ``scope``, plus ``lgv_kind`` (staff, citizen, client, operator) and ``roles``.

A client presents the same token on every request until it expires, so each process remembers
the tokens it verified (a bounded LRU map keyed by the exact token text and the audience): the
next request with that token skips the ES256 signature (about a tenth of a millisecond of CPU)
but still has its times and its signing key checked. Only tokens that passed every check are
remembered, so a forged or refused token is verified, and logged, every time.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import secrets
from collections import OrderedDict
from typing import Any, Literal

import msgspec
import structlog
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey

from localgov.kernel.auth.keys import ALGORITHM, KeyStore
from localgov.kernel.errors import DomainError

log = structlog.get_logger("localgov.auth")

PrincipalKind = Literal["staff", "citizen", "client", "operator"]
#: The ``token_type`` of every token response: RFC 6750's bearer token, the only kind issued.
TokenType = Literal["Bearer"]
#: Who an audit event says acted: a principal, nobody logged in, or the platform itself (a timer, a job).
AuditActorKind = Literal[PrincipalKind, "anonymous", "system"]
_ALLOWED_HEADERS = {"alg", "typ", "kid"}
_ACCESS_TYPES = {"at+jwt", "application/at+jwt"}
#: Clock skew tolerated between replicas, in seconds.
LEEWAY_S = 30
#: Assurance levels of a citizen's login, lowest first (the eIDAS names; each maps to the identity
#: provider's own ``acr`` value by ``LOCALGOV_OIDC_ACR_LEVELS``). An access token carries the level
#: its login reached in ``acr``; a route may ask for at least a level (``citizen(acr=…)``).
ACR_LEVELS = ("low", "substantial", "high")


def acr_rank(level: str) -> int:
    """The rank of a level (-1 for none or an unknown one)."""
    return ACR_LEVELS.index(level) if level in ACR_LEVELS else -1


class Unauthenticated(DomainError):
    code = "invalid_token"
    status = 401
    title = "Authentication required"
    headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'}


class Forbidden(DomainError):
    code = "forbidden"
    status = 403
    title = "Not allowed"


class StepUpRequired(Unauthenticated):
    """The citizen's login is below the assurance level the route needs (RFC 9470): log in again
    with ``GET /v1/auth/citizen/login?acr=<level>`` (or an app's authorization request with
    ``acr_values=<level>``) and retry with the new token."""

    code = "step_up_required"
    title = "ต้องยืนยันตัวตนในระดับที่สูงขึ้น / A stronger login is needed"

    def __init__(self, level: str) -> None:
        super().__init__(
            f"This service needs a login at assurance level {level!r}; log in again asking for it.",
            data={"acr_values": level, "login": f"/v1/auth/citizen/login?acr={level}"},
        )
        self.headers = {
            "WWW-Authenticate": f'Bearer error="insufficient_user_authentication", acr_values="{level}"',
        }


class Audience(msgspec.Struct, frozen=True):
    """Who a token is for: one LAO (by DLA code) or the operator, and the issuer name of that host."""

    issuer: str
    audience: str

    @classmethod
    def tenant(cls, slug: str, dla_code: str, base_domain: str) -> Audience:
        return cls(issuer=f"https://{slug}.{base_domain}", audience=f"urn:localgov:lao:{dla_code}")

    @classmethod
    def operator(cls, base_domain: str) -> Audience:
        return cls(issuer=f"https://{base_domain}", audience="urn:localgov:operator")


class Principal(msgspec.Struct, frozen=True, kw_only=True):
    """Who is calling, as proven by a verified access token."""

    kind: PrincipalKind
    subject: str
    client_id: str
    roles: frozenset[str] = frozenset()
    scopes: frozenset[str] = frozenset()
    token_id: str
    #: The token's ``iat`` (seconds since the epoch): a revocation refuses tokens issued until then.
    issued_at: float = 0.0
    #: The assurance level of the citizen's login (one of :data:`ACR_LEVELS`, or empty).
    acr: str = ""


def issue_access_token(
    keys: KeyStore,
    audience: Audience,
    *,
    kind: PrincipalKind,
    subject: str,
    client_id: str,
    roles: frozenset[str] = frozenset(),
    scopes: frozenset[str] = frozenset(),
    ttl_s: int,
    acr: str = "",
    now: dt.datetime | None = None,
) -> str:
    now = now or dt.datetime.now(dt.UTC)
    key = keys.signing_key(now)
    iat = int(now.timestamp())
    claims: dict[str, Any] = {
        "iss": audience.issuer,
        "aud": audience.audience,
        "sub": subject,
        "client_id": client_id,
        "iat": iat,
        "nbf": iat,
        "exp": iat + ttl_s,
        "jti": secrets.token_urlsafe(16),
        "lgv_kind": kind,
        "roles": sorted(roles),
        "scope": " ".join(sorted(scopes)),
    }
    if acr:
        claims["acr"] = acr
    header = {"alg": ALGORITHM, "typ": "at+jwt", "kid": key.kid}
    return jwt.encode(header, claims, key, algorithms=[ALGORITHM])


def _b64json(segment: str) -> dict[str, Any]:
    padded = segment + "=" * (-len(segment) % 4)
    value = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


def _reject(reason: str, **data: Any) -> Unauthenticated:
    log.warning("token_rejected", reason=reason, **data)
    return Unauthenticated("The access token is not valid here.", data={"reason": reason})


class _Verified(msgspec.Struct, frozen=True):
    principal: Principal
    kid: str
    #: The key object that verified the signature: a hit must find the very same key still valid.
    key: ECKey
    exp: float
    nbf: float


#: Tokens this process verified, most recently used last (see the module docstring).
_VERIFIED: OrderedDict[tuple[str, str, str], _Verified] = OrderedDict()
#: Above the 7,849 LAOs' worth of concurrent sessions measured in bench/scale.py (4096 was smaller
#: than the spread phase's tokens, so each request re-verified). An entry is ~1-2 kB: ~40 MB at most.
VERIFIED_CACHE_SIZE = 32768


def _remembered(token: str, keys: KeyStore, expected: Audience, now: dt.datetime) -> Principal | None:
    cache_key = (token, expected.issuer, expected.audience)
    hit = _VERIFIED.get(cache_key)
    if hit is None:
        return None
    ts = now.timestamp()
    if hit.exp + LEEWAY_S < ts or hit.nbf - LEEWAY_S > ts or keys.verification_key(hit.kid, now) is not hit.key:
        return None  # verified again in full, which says why it fails
    _VERIFIED.move_to_end(cache_key)
    return hit.principal


def verify_access_token(token: str, keys: KeyStore, expected: Audience, *, now: dt.datetime | None = None) -> Principal:
    """The principal of a valid token for ``expected``; anything else raises :class:`Unauthenticated`."""
    now = now or dt.datetime.now(dt.UTC)
    remembered = _remembered(token, keys, expected, now)
    if remembered is not None:
        return remembered
    parts = token.split(".")
    if len(parts) != 3:
        raise _reject("malformed")
    try:
        header = _b64json(parts[0])
    except (ValueError, UnicodeError, binascii.Error):
        raise _reject("malformed") from None
    if set(header) - _ALLOWED_HEADERS:
        raise _reject("forbidden_header", headers=sorted(set(header) - _ALLOWED_HEADERS))
    if header.get("alg") != ALGORITHM:
        raise _reject("algorithm", alg=str(header.get("alg"))[:20])
    if str(header.get("typ", "")).lower() not in _ACCESS_TYPES:
        raise _reject("not_an_access_token")
    key = keys.verification_key(str(header.get("kid", "")), now)
    if key is None:
        raise _reject("unknown_key")
    try:
        decoded = jwt.decode(token, key, algorithms=[ALGORITHM])
    except (JoseError, ValueError):
        raise _reject("signature") from None
    claims = decoded.claims
    ts = now.timestamp()
    if claims.get("iss") != expected.issuer:
        raise _reject("issuer")
    aud = claims.get("aud")
    if not (aud == expected.audience or (isinstance(aud, list) and expected.audience in aud)):
        raise _reject("audience")
    exp, nbf, iat = claims.get("exp"), claims.get("nbf", claims.get("iat")), claims.get("iat")
    if not (isinstance(exp, int | float) and isinstance(nbf, int | float) and isinstance(iat, int | float)):
        raise _reject("timestamps")
    if exp + LEEWAY_S < ts:
        raise _reject("expired")
    if nbf - LEEWAY_S > ts:
        raise _reject("not_yet_valid")
    kind = claims.get("lgv_kind")
    if kind not in ("staff", "citizen", "client", "operator") or not claims.get("sub") or not claims.get("jti"):
        raise _reject("claims")
    roles, scope, acr = claims.get("roles", []), claims.get("scope", ""), claims.get("acr", "")
    if not isinstance(roles, list) or not isinstance(scope, str) or not isinstance(acr, str):
        raise _reject("claims")
    principal = Principal(
        kind=kind,
        subject=str(claims["sub"]),
        client_id=str(claims.get("client_id", "")),
        roles=frozenset(str(r) for r in roles),
        scopes=frozenset(scope.split()),
        token_id=str(claims["jti"]),
        issued_at=float(iat),
        acr=acr,
    )
    _VERIFIED[(token, expected.issuer, expected.audience)] = _Verified(
        principal, str(header.get("kid", "")), key, float(exp), float(nbf)
    )
    while len(_VERIFIED) > VERIFIED_CACHE_SIZE:
        _VERIFIED.popitem(last=False)
    return principal
