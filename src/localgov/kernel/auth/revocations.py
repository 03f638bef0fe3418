"""Access tokens revoked before they expire: a disabled staff member or API client is refused at once.

Access tokens are verified locally (:mod:`localgov.kernel.auth.tokens`), so disabling an account
would otherwise only stop its refreshes: the token in hand kept working until it expired. A
revocation is a row of ``platform.access_revocations`` (realm, kind, subject, when) written in the
transaction that disables the account, with ``NOTIFY localgov_revocations``. Every process keeps the
unexpired rows in memory (:class:`Revocations`, reloaded on each notification by the catalog's
listening connection, and every ``catalog_refresh_s`` as a safety net), and the request middleware
refuses a token of that subject issued at or before the revocation (401 ``token_revoked``): one
dictionary look-up per request, no database round trip.

A row outlives every token it can refuse (access tokens live an hour at most, the setting's bound);
re-enabling the account deletes it.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, String, delete, func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from localgov.kernel.auth.tokens import LEEWAY_S, Principal, PrincipalKind
from localgov.kernel.db import SharedBase

#: Every process reloads its revocations when a transaction that wrote one commits.
CHANNEL = "localgov_revocations"
_NOTIFY = text(f"SELECT pg_notify('{CHANNEL}', '')")
#: The longest an access token lives (``LOCALGOV_ACCESS_TOKEN_TTL_S`` is at most 3600), with the skew.
KEEP = dt.timedelta(seconds=3600 + 2 * LEEWAY_S)
OPERATOR_REALM = "operator"


def tenant_realm(tenant_id: int) -> str:
    """The realm of an LAO's principals (a subject is only unique within its LAO)."""
    return f"lao:{tenant_id}"


class AccessRevocation(SharedBase):
    """Tokens of ``subject`` issued at or before ``revoked_at`` are refused until ``expires_at``."""

    __tablename__ = "access_revocations"

    realm: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    subject: Mapped[str] = mapped_column(String(200), primary_key=True)
    revoked_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


async def revoke_access(session: AsyncSession, *, realm: str, kind: PrincipalKind, subject: str) -> None:
    """Refuse every access token of ``subject`` issued until now, from this transaction's commit on."""
    now = dt.datetime.now(dt.UTC)
    await session.execute(delete(AccessRevocation).where(AccessRevocation.expires_at < func.now()))
    statement = insert(AccessRevocation).values(
        realm=realm, kind=kind, subject=subject, revoked_at=now, expires_at=now + KEEP
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[AccessRevocation.realm, AccessRevocation.kind, AccessRevocation.subject],
            set_={"revoked_at": now, "expires_at": now + KEEP},
        )
    )
    await session.execute(_NOTIFY)
    _changes(session).append(((realm, kind, subject), now.timestamp()))


async def lift_revocation(session: AsyncSession, *, realm: str, kind: PrincipalKind, subject: str) -> None:
    """The account is trusted again (re-enabled): its tokens are accepted again from the commit on."""
    result = await session.execute(
        delete(AccessRevocation)
        .where(AccessRevocation.realm == realm, AccessRevocation.kind == kind, AccessRevocation.subject == subject)
        .returning(AccessRevocation.subject)
    )
    if result.first() is not None:
        await session.execute(_NOTIFY)
        _changes(session).append(((realm, kind, subject), None))


_Key = tuple[str, str, str]
_INFO_CHANGES = "localgov_revocation_changes"


def _changes(session: AsyncSession) -> list[tuple[_Key, float | None]]:
    """What this session's transaction revoked (a time) or lifted (None), for :meth:`Revocations.committed`."""
    changes: list[tuple[_Key, float | None]] = session.info.setdefault(_INFO_CHANGES, [])
    return changes


_CURRENT = select(
    AccessRevocation.realm,
    AccessRevocation.kind,
    AccessRevocation.subject,
    func.extract("epoch", AccessRevocation.revoked_at),
).where(AccessRevocation.expires_at > func.now())


class Revocations:
    """This process's copy of the unexpired revocations (swapped whole on each load)."""

    channel = CHANNEL

    def __init__(self) -> None:
        self._cutoffs: dict[tuple[str, str, str], float] = {}

    async def load(self, engine: AsyncEngine) -> None:
        async with engine.connect() as conn:
            rows = (await conn.execute(_CURRENT)).all()
        self._cutoffs = {(realm, kind, subject): float(at) for realm, kind, subject, at in rows}

    def committed(self, session: AsyncSession) -> None:
        """Apply at once what ``session``'s just committed transaction revoked or lifted.

        The request that disables an account is served by this process: its next request must not
        wait for the notification to come back. Other processes follow on the NOTIFY.
        """
        changes = session.info.pop(_INFO_CHANGES, None)
        if not changes:
            return
        cutoffs = dict(self._cutoffs)
        for key, at in changes:
            if at is None:
                cutoffs.pop(key, None)
            else:
                cutoffs[key] = at
        self._cutoffs = cutoffs

    def refuses(self, realm: str, principal: Principal) -> bool:
        """Whether ``principal``'s token was issued at or before a revocation of its subject."""
        if not self._cutoffs:
            return False
        cutoff = self._cutoffs.get((realm, principal.kind, principal.subject))
        # ``iat`` counts whole seconds: a token of the very second of the revocation is refused too.
        return cutoff is not None and principal.issued_at <= cutoff

    def __len__(self) -> int:
        return len(self._cutoffs)
