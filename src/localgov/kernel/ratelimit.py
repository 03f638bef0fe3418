"""Fixed-window rate limits kept in PostgreSQL, so every process and replica shares one count.

Litestar's own rate-limit middleware counts per process unless given a shared store; the
platform has PostgreSQL already, and a limit hit must not depend on which replica answered.

Every answer of a rate-limited route says where the caller stands, in the IETF headers of
draft-ietf-httpapi-ratelimit-headers: ``RateLimit-Policy: "login";q=10;w=300`` (the quota ``q`` per
window of ``w`` seconds) and ``RateLimit: "login";r=7;t=120`` (``r`` requests left, the window
ending in ``t`` seconds). :func:`hit` records them for the request being served (a context
variable the request middleware opens, :func:`track_request`); a 429 also carries ``Retry-After``.
The policy's name is the key's first ``:`` part (``login:<tenant>:<address>`` → ``login``).
"""

from __future__ import annotations

import datetime as dt
import re
from contextvars import ContextVar, Token

import msgspec
from sqlalchemy import DateTime, Integer, String, delete, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from localgov.kernel.db import SharedBase
from localgov.kernel.errors import DomainError


class RateLimitBucket(SharedBase):
    """Requests counted for one key in its current window."""

    __tablename__ = "rate_limit_buckets"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    window_start: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    count: Mapped[int] = mapped_column(Integer)


class RateLimited(DomainError):
    code = "rate_limited"
    status = 429
    title = "Too many requests"
    headers = {"Retry-After": "60"}


class LimitState(msgspec.Struct, frozen=True):
    """One policy's standing for the current request."""

    policy: str
    quota: int
    window_s: int
    remaining: int
    reset_s: int


#: The policies counted while serving the current request (None outside a request).
_CURRENT: ContextVar[list[LimitState] | None] = ContextVar("localgov_rate_limits", default=None)
_POLICY_NAME = re.compile(r"[^a-z0-9_.-]")


def track_request() -> Token[list[LimitState] | None]:
    """Start recording the limits counted by this request (the request middleware calls it)."""
    return _CURRENT.set([])


def end_request(token: Token[list[LimitState] | None]) -> None:
    _CURRENT.reset(token)


def policy_name(key: str) -> str:
    return _POLICY_NAME.sub("-", key.split(":", 1)[0].lower())[:40] or "default"


def _record(key: str, limit: int, window_s: int, count: int, reset_s: int) -> None:
    states = _CURRENT.get()
    if states is not None:
        states.append(LimitState(policy_name(key), limit, window_s, max(0, limit - count), max(0, reset_s)))


def response_headers() -> dict[str, str]:
    """``RateLimit`` and ``RateLimit-Policy`` for the limits this request was counted against
    (empty when none): structured-field lists, one item per policy."""
    states = _CURRENT.get()
    if not states:
        return {}
    return {
        "RateLimit-Policy": ", ".join(f'"{s.policy}";q={s.quota};w={s.window_s}' for s in states),
        "RateLimit": ", ".join(f'"{s.policy}";r={s.remaining};t={s.reset_s}' for s in states),
    }


_HIT = text(
    """
    INSERT INTO platform.rate_limit_buckets AS b (key, window_start, count)
    VALUES (:key, now(), 1)
    ON CONFLICT (key) DO UPDATE SET
        window_start = CASE WHEN b.window_start <= now() - make_interval(secs => :window)
                            THEN now() ELSE b.window_start END,
        count = CASE WHEN b.window_start <= now() - make_interval(secs => :window)
                     THEN 1 ELSE b.count + 1 END
    RETURNING count, extract(epoch FROM (b.window_start + make_interval(secs => :window) - now()))
    """
)


async def hit(engine: AsyncEngine, key: str, *, limit: int, window_s: int, advertise: bool = True) -> None:
    """Count one request for ``key``; raise :class:`RateLimited` past ``limit`` in ``window_s``.

    Counted in its own short transaction on purpose: a refused or failed request still counts.
    ``advertise=False`` keeps the budget out of the ``RateLimit`` headers: a budget kept only for
    some callers (unknown login addresses, known accounts' reset mails) must not tell them apart.
    """
    async with engine.begin() as conn:
        count, retry_after = (await conn.execute(_HIT, {"key": key[:200], "window": window_s})).one()
    if advertise:
        _record(key, limit, window_s, int(count), int(retry_after or window_s))
    if count > limit:
        wait = max(1, int(retry_after or window_s))
        error = RateLimited(f"Too many attempts; try again in {wait} s.", data={"retry_after_s": wait})
        error.headers = {"Retry-After": str(wait)}
        raise error


_PEEK = text(
    """
    SELECT count, extract(epoch FROM (window_start + make_interval(secs => :window) - now()))
    FROM platform.rate_limit_buckets
    WHERE key = :key AND window_start > now() - make_interval(secs => :window)
    """
)


async def refuse_if_spent(engine: AsyncEngine, key: str, *, limit: int, window_s: int) -> None:
    """Raise :class:`RateLimited` when ``key`` already reached ``limit`` in ``window_s``; count nothing.

    For budgets of failures (count them with :func:`hit` when they happen): success costs nothing.
    """
    async with engine.connect() as conn:
        row = (await conn.execute(_PEEK, {"key": key[:200], "window": window_s})).one_or_none()
    if row is None:
        _record(key, limit, window_s, 0, window_s)
    else:
        _record(key, limit, window_s, int(row[0]), int(row[1] or window_s))
    if row is not None and row[0] >= limit:
        wait = max(1, int(row[1] or window_s))
        error = RateLimited(f"Too many failed attempts; try again in {wait} s.", data={"retry_after_s": wait})
        error.headers = {"Retry-After": str(wait)}
        raise error


async def purge_expired(session: AsyncSession, older_than: dt.timedelta) -> int:
    """Delete buckets whose window ended more than ``older_than`` ago (they count nothing now)."""
    cutoff = dt.datetime.now(dt.UTC) - older_than
    result = await session.execute(delete(RateLimitBucket).where(RateLimitBucket.window_start < cutoff))
    return int(getattr(result, "rowcount", 0) or 0)
