"""A citizen as a service may know one: a reference, never the identity records behind it.

Citizens are identity's (``localgov.identity``: OpenID Connect logins, refresh tokens); a service
keeps a citizen's id on its own rows (a payer linked to an account, an applicant) and asks here
whether that id is a citizen of the calling LAO. The kernel reads identity's ``citizens`` table
through a lightweight table clause, not its model, so the import direction stays kernel <- identity;
``tests/test_kernel_facades.py`` fails if identity's table stops having these columns.
"""

from __future__ import annotations

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
