"""The LAO's organisation as services see it (โครงสร้างส่วนราชการ): staff, units, positions, supervisors.

A read-only facade for plugins, which may import only the kernel: e-Saraban routes a letter to a
unit and prints the signer's position; One Stop Service assigns a case to a responsible unit and
escalates it to the unit's supervisor. Identity owns the data and its administration
(:mod:`localgov.identity.units`); this module only reads it, in the caller's tenant-bound session.

Why Core SQL on identity's table names rather than a provider identity registers at start-up:
the facade must work the same in a request, a worker job, an outbox consumer, a seed and a test,
and each of those starts differently. A registered provider is process-global state that one of
those paths would one day forget to set (and the failure would show only there); these queries
need nothing but the session. The price is that the kernel names three of identity's tables and a
few of their columns: they are all declared below, in one place, and
``tests/test_staff_structure.py`` fails if identity's models stop matching them. The kernel
imports nothing from identity, so the import direction (kernel ← identity ← services) holds.

Each statement has one text for every tenant (the search path selects the schema).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any, Literal

import msgspec
from sqlalchemy import Boolean, Integer, String, and_, column, literal, select, table
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.pagination import after_key


class UnitKind(msgspec.Struct, frozen=True):
    """A kind of unit and its rank: a child unit always ranks below its parent (a higher number)."""

    code: str
    rank: int
    title_th: str
    title_en: str


#: The kinds of unit of a Thai LAO, by stable code. สำนักปลัด, สำนัก and กอง sit directly under the
#: executive; ส่วน, ฝ่าย and งาน divide them, in that order.
UNIT_KINDS: dict[str, UnitKind] = {
    k.code: k
    for k in (
        UnitKind("secretary_office", 1, "สำนักปลัด", "Office of the Permanent Secretary"),
        UnitKind("bureau", 1, "สำนัก", "Bureau"),
        UnitKind("division", 1, "กอง", "Division"),
        UnitKind("section", 2, "ส่วน", "Section"),
        UnitKind("subdivision", 3, "ฝ่าย", "Subdivision"),
        UnitKind("work_unit", 4, "งาน", "Work unit"),
    )
}

StaffStatus = Literal["invited", "active", "disabled"]


class UnitRef(msgspec.Struct, frozen=True, kw_only=True):
    """A unit of the LAO (ส่วนราชการ)."""

    id: uuid.UUID
    code: str
    name_th: str
    name_en: str | None
    #: A key of :data:`UNIT_KINDS`.
    kind: str
    parent_id: uuid.UUID | None
    active: bool


class PositionRef(msgspec.Struct, frozen=True, kw_only=True):
    """A position (ตำแหน่ง), such as ปลัด อบต. or นักวิชาการเงินและบัญชี ชำนาญการ."""

    id: uuid.UUID
    title_th: str
    title_en: str | None
    level: str | None


class StaffRef(msgspec.Struct, frozen=True, kw_only=True):
    """A member of staff as another service refers to them: who, where, in which position."""

    id: uuid.UUID
    full_name: str
    email: str
    #: ``invited`` (has not set a password yet), ``active`` or ``disabled`` (left; keep for history).
    status: StaffStatus
    unit: UnitRef | None
    position: PositionRef | None


# The columns this facade reads, by name (identity's models define them; a test keeps them equal).
STAFF = table(
    "staff_users",
    column("id", UUID(as_uuid=True)),
    column("full_name", String),
    column("email", String),
    column("status", String),
    column("unit_id", UUID(as_uuid=True)),
    column("position_id", UUID(as_uuid=True)),
)
UNITS = table(
    "units",
    column("id", UUID(as_uuid=True)),
    column("code", String),
    column("name_th", String),
    column("name_en", String),
    column("kind", String),
    column("parent_id", UUID(as_uuid=True)),
    column("supervisor_id", UUID(as_uuid=True)),
    column("active", Boolean),
)
POSITIONS = table(
    "positions",
    column("id", UUID(as_uuid=True)),
    column("title_th", String),
    column("title_en", String),
    column("level", String),
)

_UNIT_COLUMNS = (
    UNITS.c.id,
    UNITS.c.code,
    UNITS.c.name_th,
    UNITS.c.name_en,
    UNITS.c.kind,
    UNITS.c.parent_id,
    UNITS.c.active,
)


def _unit(row: Any) -> UnitRef:
    return UnitRef(
        id=row.id,
        code=row.code,
        name_th=row.name_th,
        name_en=row.name_en,
        kind=row.kind,
        parent_id=row.parent_id,
        active=row.active,
    )


async def unit_ref(session: AsyncSession, unit_id: uuid.UUID) -> UnitRef | None:
    """The unit, or None when the LAO has no such unit (deleted, or another LAO's id)."""
    row = (await session.execute(select(*_UNIT_COLUMNS).where(UNITS.c.id == unit_id))).first()
    return _unit(row) if row is not None else None


async def unit_path(session: AsyncSession, unit_id: uuid.UUID) -> list[UnitRef]:
    """The unit and the units above it, nearest first, up to the top (empty for an unknown unit)."""
    up = (
        select(*_UNIT_COLUMNS, UNITS.c.supervisor_id, literal(0, Integer).label("depth"))
        .where(UNITS.c.id == unit_id)
        .cte("up", recursive=True)
    )
    parent = UNITS.alias("parent")
    up = up.union_all(
        select(
            parent.c.id,
            parent.c.code,
            parent.c.name_th,
            parent.c.name_en,
            parent.c.kind,
            parent.c.parent_id,
            parent.c.active,
            parent.c.supervisor_id,
            (up.c.depth + 1).label("depth"),
        )
        # The tree has no cycle (ranks strictly increase downwards); the depth bound is a backstop.
        .where(parent.c.id == up.c.parent_id, up.c.depth < 32)
    )
    rows = (await session.execute(select(up).order_by(up.c.depth))).all()
    return [_unit(row) for row in rows]


async def unit_tree_ids(session: AsyncSession, unit_id: uuid.UUID) -> list[uuid.UUID]:
    """The unit and every unit below it (empty for an unknown unit)."""
    down = (
        select(UNITS.c.id, literal(0, Integer).label("depth")).where(UNITS.c.id == unit_id).cte("down", recursive=True)
    )
    child = UNITS.alias("child")
    down = down.union_all(
        select(child.c.id, (down.c.depth + 1).label("depth")).where(child.c.parent_id == down.c.id, down.c.depth < 32)
    )
    return list((await session.execute(select(down.c.id).order_by(down.c.depth))).scalars().all())


def _staff_query() -> Any:
    return (
        select(
            STAFF.c.id,
            STAFF.c.full_name,
            STAFF.c.email,
            STAFF.c.status,
            *(c.label(f"unit_{c.name}") for c in _UNIT_COLUMNS),
            POSITIONS.c.id.label("position_id"),
            POSITIONS.c.title_th,
            POSITIONS.c.title_en,
            POSITIONS.c.level,
        )
        .select_from(STAFF)
        .outerjoin(UNITS, UNITS.c.id == STAFF.c.unit_id)
        .outerjoin(POSITIONS, POSITIONS.c.id == STAFF.c.position_id)
    )


def _staff(row: Any) -> StaffRef:
    unit = None
    if row.unit_id is not None:
        unit = UnitRef(
            id=row.unit_id,
            code=row.unit_code,
            name_th=row.unit_name_th,
            name_en=row.unit_name_en,
            kind=row.unit_kind,
            parent_id=row.unit_parent_id,
            active=row.unit_active,
        )
    position = None
    if row.position_id is not None:
        position = PositionRef(id=row.position_id, title_th=row.title_th, title_en=row.title_en, level=row.level)
    return StaffRef(
        id=row.id, full_name=row.full_name, email=row.email, status=row.status, unit=unit, position=position
    )


async def staff_ref(session: AsyncSession, staff_id: uuid.UUID) -> StaffRef | None:
    """The member of staff, or None when the LAO has no such member."""
    row = (await session.execute(_staff_query().where(STAFF.c.id == staff_id))).first()
    return _staff(row) if row is not None else None


async def staff_refs(session: AsyncSession, staff_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, StaffRef]:
    """Several members at once (ids the LAO does not have are left out): one query for a list page."""
    wanted = list(set(staff_ids))
    if not wanted:
        return {}
    rows = (await session.execute(_staff_query().where(STAFF.c.id.in_(wanted)))).all()
    return {row.id: _staff(row) for row in rows}


async def unit_members(
    session: AsyncSession,
    unit_id: uuid.UUID,
    *,
    include_subunits: bool = False,
    include_disabled: bool = False,
    after: tuple[str, uuid.UUID] | None = None,
    limit: int | None = None,
) -> list[StaffRef]:
    """The staff placed in the unit (and in the units below it, if asked), by name, then id; a page
    of them with ``limit`` and ``after`` (the (full_name, id) of the last one of the previous page)."""
    units: Sequence[uuid.UUID] = await unit_tree_ids(session, unit_id) if include_subunits else [unit_id]
    query = _staff_query().where(STAFF.c.unit_id.in_(units))
    if not include_disabled:
        query = query.where(STAFF.c.status != "disabled")
    if after is not None:
        query = query.where(after_key([STAFF.c.full_name, STAFF.c.id], after))
    rows = (await session.execute(query.order_by(STAFF.c.full_name, STAFF.c.id).limit(limit))).all()
    return [_staff(row) for row in rows]


async def supervisor_of(session: AsyncSession, unit_id: uuid.UUID) -> StaffRef | None:
    """Who answers for the unit: its supervisor or, while that post is vacant, the nearest unit
    above that has one (a disabled member never answers). None when no unit up to the top has one.

    To escalate beyond, ask again for the parent of the unit the answer came from.
    """
    up = (
        select(UNITS.c.id, UNITS.c.parent_id, UNITS.c.supervisor_id, literal(0, Integer).label("depth"))
        .where(UNITS.c.id == unit_id)
        .cte("up", recursive=True)
    )
    parent = UNITS.alias("parent")
    up = up.union_all(
        select(parent.c.id, parent.c.parent_id, parent.c.supervisor_id, (up.c.depth + 1).label("depth")).where(
            parent.c.id == up.c.parent_id, up.c.depth < 32
        )
    )
    head = (
        await session.execute(
            select(STAFF.c.id)
            .select_from(up.join(STAFF, and_(STAFF.c.id == up.c.supervisor_id, STAFF.c.status != "disabled")))
            .order_by(up.c.depth)
            .limit(1)
        )
    ).scalar_one_or_none()
    return await staff_ref(session, head) if head is not None else None


async def position_ref(session: AsyncSession, position_id: uuid.UUID) -> PositionRef | None:
    """The position, or None when the LAO has no such position."""
    row = (
        await session.execute(
            select(POSITIONS.c.id, POSITIONS.c.title_th, POSITIONS.c.title_en, POSITIONS.c.level).where(
                POSITIONS.c.id == position_id
            )
        )
    ).first()
    return PositionRef(id=row.id, title_th=row.title_th, title_en=row.title_en, level=row.level) if row else None
