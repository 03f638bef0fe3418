"""A citizen as a service may know one: a reference, never the identity records behind it.

Citizens are identity's (``localgov.identity``: OpenID Connect logins, refresh tokens); a service
keeps a citizen's id on its own rows (a payer linked to an account, an applicant) and asks here
whether that id is a citizen of the calling LAO. The kernel reads identity's ``citizens`` table
through a lightweight table clause, not its model, so the import direction stays kernel <- identity;
``tests/test_kernel_facades.py`` fails if identity's table stops having these columns.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import uuid

import msgspec
from sqlalchemy import Text, Uuid, column, select, table
from sqlalchemy.ext.asyncio import AsyncSession

#: The columns of identity's ``citizens`` table that a service may see.
CITIZENS = table("citizens", column("id", Uuid()), column("name", Text()), column("email", Text()))


class CitizenRef(msgspec.Struct, frozen=True, kw_only=True):
    """A citizen account of the calling LAO (name and e-mail as the identity provider gave them)."""

    id: uuid.UUID
    name: str | None
    email: str | None


async def citizen_ref(session: AsyncSession, citizen_id: uuid.UUID) -> CitizenRef | None:
    """The citizen ``citizen_id`` of the session's tenant, or None when there is none."""
    row = (
        await session.execute(
            select(CITIZENS.c.id, CITIZENS.c.name, CITIZENS.c.email).where(CITIZENS.c.id == citizen_id)
        )
    ).one_or_none()
    return None if row is None else CitizenRef(id=row.id, name=row.name, email=row.email)


# -- The national ID (เลขประจำตัวประชาชน) is never stored in clear -------------------------------------

_NATIONAL_ID_RE = re.compile(r"^[0-9]{13}$")


def is_national_id(value: str) -> bool:
    """A 13-digit Thai national ID with a valid check digit (the mod-11 rule of the Department of
    Provincial Administration)."""
    if not _NATIONAL_ID_RE.fullmatch(value):
        return False
    total = sum(int(value[i]) * (13 - i) for i in range(12))
    return (11 - total % 11) % 10 == int(value[12])


def normalise_national_id(value: str) -> str:
    """The digits of an ID as people write it (``1-2345-67890-12-3``, Thai digits, spaces)."""
    table = str.maketrans("๐๑๒๓๔๕๖๗๘๙", "0123456789", " -")
    return value.translate(table)


def national_id_key(secret_key: str) -> bytes:
    """The HMAC key of national IDs, derived from ``LOCALGOV_SECRET_KEY`` (never the key itself)."""
    return hashlib.sha256(b"localgov national id\x00" + secret_key.encode()).digest()


def national_id_digest(secret_key: str, national_id: str) -> str:
    """What is kept of a national ID to match a citizen to payers and applicants: HMAC-SHA256 under
    :func:`national_id_key`, hex. A plain hash would not do: 10^13 IDs are enumerated in hours."""
    digits = normalise_national_id(national_id)
    return hmac.new(national_id_key(secret_key), digits.encode(), hashlib.sha256).hexdigest()


def national_id_display(national_id: str) -> str:
    """The last four digits, for people to recognise their own record (``x-xxxx-xxxxx-12-3``)."""
    digits = normalise_national_id(national_id)
    return digits[-4:]


async def citizens_with_national_id(session: AsyncSession, secret_key: str, national_id: str) -> list[CitizenRef]:
    """The citizens of the session's tenant who proved this national ID at login (usually one)."""
    digest = national_id_digest(secret_key, national_id)
    hashed = table("citizens", column("id", Uuid()), column("national_id_hash", Text()))
    ids = (await session.execute(select(hashed.c.id).where(hashed.c.national_id_hash == digest))).scalars().all()
    out = [await citizen_ref(session, citizen_id) for citizen_id in ids]
    return [ref for ref in out if ref is not None]
