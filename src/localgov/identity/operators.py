"""The platform operator's staff: platform and billing administrators (shared schema).

They log in on the operator host only; their access tokens carry ``Audience.operator`` and are
therefore refused by every tenant host, as tenant tokens are refused here. Failed logins are
rate limited per client address and lock the account for ``LOCALGOV_LOCKOUT_S`` after
``LOCALGOV_LOCKOUT_THRESHOLD`` consecutive failures. Every login, failure, lock, refresh-token
reuse and logout goes to the operator's audit log.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Iterable
from typing import Any

import msgspec
import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from localgov.identity.models import OperatorRefreshToken, OperatorUser
from localgov.identity.refresh import (
    ReusedRefreshToken,
    issue_refresh_token,
    revoke_family,
    rotate_refresh_token,
)
from localgov.identity.staff import AccountDisabled, AccountLocked, InvalidCredentials
from localgov.kernel.audit import Actor, Origin, record_audit
from localgov.kernel.auth.hashing import hash_secret_async, token_digest, verify_secret_async
from localgov.kernel.auth.keys import KeyStore
from localgov.kernel.auth.passwords import account_words, check_password
from localgov.kernel.auth.tokens import Audience, Unauthenticated, issue_access_token
from localgov.kernel.errors import Conflict, DomainError
from localgov.kernel.ratelimit import RateLimited, hit
from localgov.settings import Settings

log = structlog.get_logger("localgov.identity.operators")

OPERATOR_ROLES = ("platform_admin", "billing_admin")
#: The ``client_id`` claim of tokens issued by the operator's own login (first-party, no OAuth client).
OPERATOR_CLIENT_ID = "localgov-operator"


class OperatorSession(msgspec.Struct, frozen=True):
    """What a login or a refresh hands out."""

    access_token: str
    expires_in: int
    refresh_token: str
    refresh_expires_at: dt.datetime
    roles: tuple[str, ...]


def normalise_email(email: str) -> str:
    return email.strip().lower()


def check_roles(roles: Iterable[str]) -> list[str]:
    chosen = sorted(set(roles))
    unknown = [r for r in chosen if r not in OPERATOR_ROLES]
    if unknown or not chosen:
        raise DomainError(
            f"Operator roles are {', '.join(OPERATOR_ROLES)}.", code="unknown_role", data={"unknown": unknown}
        )
    return chosen


async def add_operator(
    session: AsyncSession,
    *,
    email: str,
    full_name: str,
    roles: Iterable[str],
    password: str,
    min_length: int,
    min_score: int,
    operator_words: Iterable[str] = (),
) -> OperatorUser:
    """A new active operator account (``localgov operators add``)."""
    address = normalise_email(email)
    if "@" not in address or len(address) > 254:
        raise DomainError("Not an e-mail address.", code="invalid_email")
    if not full_name.strip():
        raise DomainError("The name is blank.", code="invalid_name")
    # The platform's password policy; the operator's own names (its base domain) count as guessable.
    check_password(
        password,
        min_length=min_length,
        min_score=min_score,
        user_inputs=account_words(full_name, address, *operator_words),
    )
    chosen = check_roles(roles)
    if (await session.execute(select(OperatorUser.id).where(OperatorUser.email == address))).first():
        raise Conflict(f"An operator account for {address} exists already.", code="operator_exists")
    user = OperatorUser(
        email=address,
        full_name=full_name.strip(),
        password_hash=await hash_secret_async(password),
        status="active",
        roles=chosen,
    )
    session.add(user)
    await session.flush()
    return user


def _access_token(keys: KeyStore, settings: Settings, user: OperatorUser) -> str:
    return issue_access_token(
        keys,
        Audience.operator(settings.base_domain),
        kind="operator",
        subject=str(user.id),
        client_id=OPERATOR_CLIENT_ID,
        roles=frozenset(user.roles),
        ttl_s=settings.access_token_ttl_s,
    )


async def login(
    session: AsyncSession,
    *,
    engine: AsyncEngine,
    email: str,
    password: str,
    settings: Settings,
    keys: KeyStore,
    origin: Origin,
) -> OperatorSession:
    """Check the password and open a session, or count the failure (and maybe lock) and refuse.

    The answers follow staff login: 401 ``invalid_credentials`` for a wrong password or an unknown
    e-mail (after the same argon2 time), 423 ``account_locked`` with ``Retry-After`` once
    ``lockout_threshold`` failures locked the account (an unknown address is counted in a shared
    bucket and "locks" the same way, so neither answer tells whether an account exists), and 403
    ``account_disabled`` only to whoever proved the password. A refusal commits the session's
    transaction before raising: the failure count, the lock and the audit rows must outlive the
    failed request.
    """
    address = normalise_email(email)[:254]
    now = dt.datetime.now(dt.UTC)
    user = (
        await session.execute(select(OperatorUser).where(OperatorUser.email == address).with_for_update())
    ).scalar_one_or_none()
    failure: DomainError | None = None
    data: dict[str, Any] = {}
    if user is None:
        failure = await _unknown_address(engine, settings, address, password)
        data["reason"] = "locked" if isinstance(failure, AccountLocked) else "unknown_email"
    elif user.locked_until is not None and user.locked_until > now:
        failure = AccountLocked(math.ceil((user.locked_until - now).total_seconds()))
        data["reason"] = "locked"
    elif not await verify_secret_async(user.password_hash, password):
        failure = InvalidCredentials()
        user.failed_logins += 1  # the row is locked (FOR UPDATE): concurrent guesses all count
        data.update(reason="wrong_password" if user.password_hash else "no_password", failures=user.failed_logins)
        if user.failed_logins >= settings.lockout_threshold:
            user.locked_until = now + dt.timedelta(seconds=settings.lockout_s)
            user.failed_logins = 0
            data["locked_until"] = user.locked_until.isoformat()
    elif user.status != "active":
        failure = AccountDisabled() if user.status == "disabled" else InvalidCredentials()
        data["reason"] = user.status
    if failure is not None or user is None:
        await record_audit(
            session, "login.failed", actor=Actor("anonymous"), origin=origin, target=address, data=data, operator=True
        )
        log.warning("operator_login_failed", reason=data.get("reason"))
        raise (failure or InvalidCredentials()).keeping_changes()  # the failure counts towards the lockout
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    grant = await issue_refresh_token(
        session, OperatorRefreshToken, subject_kind="operator", subject_id=user.id, ttl_s=settings.refresh_token_ttl_s
    )
    await record_audit(
        session,
        "login.succeeded",
        actor=Actor("operator", str(user.id)),
        origin=origin,
        target=address,
        data={"roles": sorted(user.roles), "family_id": str(grant.family_id)},
        operator=True,
    )
    log.info("operator_login", operator=str(user.id))
    return OperatorSession(
        access_token=_access_token(keys, settings, user),
        expires_in=settings.access_token_ttl_s,
        refresh_token=grant.token,
        refresh_expires_at=grant.expires_at,
        roles=tuple(sorted(user.roles)),
    )


async def _unknown_address(engine: AsyncEngine, settings: Settings, address: str, password: str) -> DomainError:
    """What a known account would answer: 401 after the argon2 time, 423 past the threshold."""
    try:
        await hit(
            engine,
            f"login-unknown:operator:{token_digest(address)}",
            limit=settings.lockout_threshold,
            window_s=settings.lockout_s,
            advertise=False,  # a budget of unknown addresses only: its headers would tell them apart
        )
    except RateLimited as exc:
        return AccountLocked(int((exc.data or {}).get("retry_after_s", settings.lockout_s)))
    await verify_secret_async(None, password)
    return InvalidCredentials()


async def refresh(
    session: AsyncSession, *, token: str, settings: Settings, keys: KeyStore, origin: Origin
) -> OperatorSession:
    """Exchange a refresh token for a new pair; a reused one revokes its whole family."""
    try:
        grant = await rotate_refresh_token(session, OperatorRefreshToken, token, ttl_s=settings.refresh_token_ttl_s)
    except ReusedRefreshToken as exc:
        await record_audit(
            session,
            "refresh_token.reused",
            actor=Actor("anonymous"),
            origin=origin,
            data={"family_id": str(exc.family_id)},
            operator=True,
        )
        raise exc.keeping_changes() from None  # the family stays revoked although this request fails
    user = await session.get(OperatorUser, grant.subject_id)
    if user is None or user.status != "active":
        await revoke_family(session, OperatorRefreshToken, grant.family_id)
        raise Unauthenticated("This account may not log in any more.", code="invalid_grant").keeping_changes()
    await record_audit(
        session,
        "token.refreshed",
        actor=Actor("operator", str(user.id)),
        origin=origin,
        data={"family_id": str(grant.family_id)},
        operator=True,
    )
    return OperatorSession(
        access_token=_access_token(keys, settings, user),
        expires_in=settings.access_token_ttl_s,
        refresh_token=grant.token,
        refresh_expires_at=grant.expires_at,
        roles=tuple(sorted(user.roles)),
    )


async def logout(session: AsyncSession, *, token: str, origin: Origin) -> None:
    """Revoke the session (the refresh-token family) of ``token``.

    Idempotent: an unknown or already revoked token changes nothing (and is not audited again).
    """
    row = (
        await session.execute(
            select(OperatorRefreshToken).where(OperatorRefreshToken.token_hash == token_digest(token))
        )
    ).scalar_one_or_none()
    if row is None or row.revoked_at is not None:
        return
    await revoke_family(session, OperatorRefreshToken, row.family_id)
    await record_audit(
        session,
        "logout",
        actor=Actor("operator", str(row.subject_id)),
        origin=origin,
        data={"family_id": str(row.family_id)},
        operator=True,
    )


async def get_operator(session: AsyncSession, subject: str) -> OperatorUser | None:
    try:
        user_id = uuid.UUID(subject)
    except ValueError:
        return None
    return await session.get(OperatorUser, user_id)
