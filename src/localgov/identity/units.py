"""The LAO's structure (โครงสร้างส่วนราชการ): units in a tree, positions, each unit's supervisor, and
where each member of staff sits. Managed by the LAO's administrators; read by every service
through :mod:`localgov.kernel.org`.

Rules:

- A unit's kind ranks below its parent's (:data:`~localgov.kernel.org.UNIT_KINDS`): a ฝ่าย sits
  under a กอง or a ส่วน, never the reverse. A unit never moves under itself or a unit below it.
- A unit's supervisor (หัวหน้าหน่วยงาน) is a member of staff who is not disabled and sits in that
  unit or in a unit above it: the head of a ฝ่าย normally belongs to the ฝ่าย; while the post is
  vacant, the ผู้อำนวยการกอง above may be named. A member who is disabled, or moved (or whose unit
  is moved) to where the rule no longer holds, stops supervising, and the audit log says so.
- A unit that still has staff who are not disabled, or units below it, is not deleted (409);
  members who are disabled are detached from it. A unit that was used is deactivated instead:
  it keeps its id for the records of every service. Nobody joins an inactive unit and no unit
  is created or moved under one.

Every change is audited in the caller's transaction and takes a per-tenant advisory lock, so two
administrators moving units at once cannot build a cycle between them.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

import msgspec
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.identity.models import AccountStatus, OrgUnit, StaffPosition, StaffUser
from localgov.identity.staff import StaffView, get_staff, release_supervision, view_of
from localgov.kernel.audit import Actor, Origin, record_audit
from localgov.kernel.errors import DomainError, NotFound
from localgov.kernel.org import UNIT_KINDS, StaffRef, unit_members, unit_path, unit_tree_ids
from localgov.kernel.pagination import after_key

# --- errors -------------------------------------------------------------------------------------


class UnitNotFound(NotFound):
    code = "unit_not_found"
    title = "ไม่พบหน่วยงาน / No such unit"


class PositionNotFound(NotFound):
    code = "position_not_found"
    title = "ไม่พบตำแหน่ง / No such position"


class UnitCodeTaken(DomainError):
    code = "unit_code_taken"
    status = 409
    title = "รหัสหน่วยงานนี้มีอยู่แล้ว / Another unit has this code"


class UnitKindOrder(DomainError):
    code = "unit_kind_order"
    status = 409
    title = "ประเภทหน่วยงานต้องต่ำกว่าหน่วยงานแม่ / A unit must rank below the unit it belongs to"


class UnitCycle(DomainError):
    code = "unit_cycle"
    status = 409
    title = "ไม่สามารถย้ายหน่วยงานไปอยู่ใต้ตัวเองได้ / A unit cannot move under itself or a unit below it"


class UnitInactive(DomainError):
    code = "unit_inactive"
    status = 409
    title = "หน่วยงานนี้ถูกยกเลิกแล้ว / This unit is inactive"


class UnitHasChildren(DomainError):
    code = "unit_has_children"
    status = 409
    title = "หน่วยงานนี้ยังมีหน่วยงานย่อย / This unit still has units below it"


class UnitHasStaff(DomainError):
    code = "unit_has_staff"
    status = 409
    title = "หน่วยงานนี้ยังมีเจ้าหน้าที่สังกัดอยู่ / Staff still belong to this unit"


class SupervisorNotEligible(DomainError):
    code = "supervisor_not_eligible"
    status = 409
    title = (
        "หัวหน้าหน่วยงานต้องเป็นเจ้าหน้าที่ที่ยังไม่ถูกระงับ สังกัดหน่วยงานนี้หรือหน่วยงานเหนือขึ้นไป / "
        "A supervisor must be staff, not disabled, of this unit or of a unit above it"
    )


class PositionExists(DomainError):
    code = "position_exists"
    status = 409
    title = "มีตำแหน่งนี้อยู่แล้ว / This position already exists"


class PositionInUse(DomainError):
    code = "position_in_use"
    status = 409
    title = "ยังมีเจ้าหน้าที่ดำรงตำแหน่งนี้ / Staff still hold this position"


# --- values -------------------------------------------------------------------------------------


class Supervisor(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    full_name: str
    status: AccountStatus


class UnitView(msgspec.Struct, frozen=True, kw_only=True):
    """A unit, how deep it sits (0 at the top) and its supervisor."""

    unit: OrgUnit
    depth: int
    supervisor: Supervisor | None


UNIT_FIELDS = frozenset({"code", "name_th", "name_en", "kind"})
POSITION_FIELDS = frozenset({"title_th", "title_en", "level"})


def _target(unit_id: uuid.UUID) -> str:
    return f"unit:{unit_id}"


async def _lock_structure(session: AsyncSession) -> None:
    """Serialise changes of the structure within the tenant (a cycle needs two moves at once)."""
    await session.execute(
        select(func.pg_advisory_xact_lock(func.hashtext(func.concat(func.current_schema(), ":org_structure"))))
    )


def _check_rank(kind: str, parent_kind: str | None) -> None:
    if parent_kind is not None and UNIT_KINDS[kind].rank <= UNIT_KINDS[parent_kind].rank:
        raise UnitKindOrder(
            f"A {UNIT_KINDS[kind].title_en.lower()} cannot be placed under a "
            f"{UNIT_KINDS[parent_kind].title_en.lower()}.",
            data={"kind": kind, "parent_kind": parent_kind},
        )


# --- reading ------------------------------------------------------------------------------------


async def get_unit(session: AsyncSession, unit_id: uuid.UUID, *, for_update: bool = False) -> OrgUnit:
    query = select(OrgUnit).where(OrgUnit.id == unit_id)
    if for_update:
        query = query.with_for_update()
    unit = (await session.execute(query)).scalar_one_or_none()
    if unit is None:
        raise UnitNotFound(data={"unit_id": str(unit_id)})
    return unit


async def get_position(session: AsyncSession, position_id: uuid.UUID, *, for_update: bool = False) -> StaffPosition:
    query = select(StaffPosition).where(StaffPosition.id == position_id)
    if for_update:
        query = query.with_for_update()
    position = (await session.execute(query)).scalar_one_or_none()
    if position is None:
        raise PositionNotFound(data={"position_id": str(position_id)})
    return position


async def _supervisors(session: AsyncSession, ids: set[uuid.UUID]) -> dict[uuid.UUID, Supervisor]:
    if not ids:
        return {}
    rows = await session.execute(
        select(StaffUser.id, StaffUser.full_name, StaffUser.status).where(StaffUser.id.in_(ids))
    )
    return {r.id: Supervisor(id=r.id, full_name=r.full_name, status=r.status) for r in rows.all()}


async def unit_view(session: AsyncSession, unit: OrgUnit) -> UnitView:
    depth = len(await unit_path(session, unit.id)) - 1
    supervisors = await _supervisors(session, {unit.supervisor_id} if unit.supervisor_id else set())
    return UnitView(
        unit=unit, depth=depth, supervisor=supervisors.get(unit.supervisor_id) if unit.supervisor_id else None
    )


async def list_units(session: AsyncSession, *, active: bool | None = None) -> list[UnitView]:
    """The whole structure, depth first (siblings by code). An LAO has tens of units, not thousands."""
    units = list((await session.execute(select(OrgUnit).order_by(OrgUnit.code))).scalars().all())
    children: dict[uuid.UUID | None, list[OrgUnit]] = {}
    for unit in units:
        children.setdefault(unit.parent_id, []).append(unit)
    supervisors = await _supervisors(session, {u.supervisor_id for u in units if u.supervisor_id})
    out: list[UnitView] = []

    def walk(parent: uuid.UUID | None, depth: int) -> None:
        for unit in children.get(parent, []):
            if active is None or unit.active == active:
                supervisor = supervisors.get(unit.supervisor_id) if unit.supervisor_id else None
                out.append(UnitView(unit=unit, depth=depth, supervisor=supervisor))
            walk(unit.id, depth + 1)

    walk(None, 0)
    return out


async def members(
    session: AsyncSession,
    unit_id: uuid.UUID,
    *,
    include_subunits: bool,
    after: tuple[str, uuid.UUID] | None = None,
    limit: int | None = None,
) -> list[StaffRef]:
    """Staff of the unit who are not disabled (and of the units below it, if asked), by name, then
    id; ``after``: the (full_name, id) of the last one of the previous page."""
    await get_unit(session, unit_id)
    return await unit_members(session, unit_id, include_subunits=include_subunits, after=after, limit=limit)


#: The order of positions: title, level ('' for none), id.
_POSITION_ORDER = (StaffPosition.title_th, func.coalesce(StaffPosition.level, ""), StaffPosition.id)


async def list_positions(
    session: AsyncSession, *, after: tuple[str, str, uuid.UUID] | None = None, limit: int = 500
) -> list[StaffPosition]:
    """By title, level, then id; ``after``: the (title_th, level or '', id) of the last position of
    the previous page (an LAO has tens of positions)."""
    query = select(StaffPosition).order_by(*_POSITION_ORDER).limit(limit)
    if after is not None:
        query = query.where(after_key(_POSITION_ORDER, after))
    return list((await session.execute(query)).scalars().all())


# --- units --------------------------------------------------------------------------------------


async def _code_taken(session: AsyncSession, code: str, *, other_than: uuid.UUID | None = None) -> None:
    query = select(OrgUnit.id).where(OrgUnit.code == code)
    if other_than is not None:
        query = query.where(OrgUnit.id != other_than)
    if (await session.execute(query)).first() is not None:
        raise UnitCodeTaken(data={"code": code})


async def _parent(session: AsyncSession, parent_id: uuid.UUID | None) -> OrgUnit | None:
    if parent_id is None:
        return None
    parent = await get_unit(session, parent_id)
    if not parent.active:
        raise UnitInactive("The parent unit is inactive.", data={"unit_id": str(parent_id)})
    return parent


async def create_unit(
    session: AsyncSession,
    *,
    code: str,
    name_th: str,
    name_en: str | None,
    kind: str,
    parent_id: uuid.UUID | None,
    actor: Actor,
    origin: Origin,
) -> UnitView:
    await _lock_structure(session)
    code = code.strip().lower()
    await _code_taken(session, code)
    parent = await _parent(session, parent_id)
    _check_rank(kind, parent.kind if parent else None)
    unit = OrgUnit(
        code=code,
        name_th=name_th.strip(),
        name_en=name_en.strip() if name_en else None,
        kind=kind,
        parent_id=parent_id,
    )
    session.add(unit)
    await session.flush()
    await session.refresh(unit)
    await record_audit(
        session,
        "unit.created",
        actor=actor,
        origin=origin,
        target=_target(unit.id),
        data={"code": code, "name_th": unit.name_th, "kind": kind, "parent_id": str(parent_id) if parent_id else None},
    )
    return await unit_view(session, unit)


async def update_unit(
    session: AsyncSession, unit_id: uuid.UUID, changes: Mapping[str, Any], *, actor: Actor, origin: Origin
) -> UnitView:
    """Code, names and kind (a new kind must still rank below the parent and above the children)."""
    unknown = set(changes) - UNIT_FIELDS
    if unknown:
        raise ValueError(f"not unit fields: {sorted(unknown)}")
    await _lock_structure(session)
    unit = await get_unit(session, unit_id, for_update=True)
    values = dict(changes)
    if "code" in values:
        values["code"] = values["code"].strip().lower()
        await _code_taken(session, values["code"], other_than=unit.id)
    if "name_th" in values:
        values["name_th"] = values["name_th"].strip()
    if "name_en" in values:
        values["name_en"] = values["name_en"].strip() if values["name_en"] else None
    if "kind" in values and values["kind"] != unit.kind:
        parent = await get_unit(session, unit.parent_id) if unit.parent_id else None
        _check_rank(values["kind"], parent.kind if parent else None)
        child_kinds = (await session.execute(select(OrgUnit.kind).where(OrgUnit.parent_id == unit.id))).scalars().all()
        for child_kind in set(child_kinds):
            _check_rank(child_kind, values["kind"])
    changed = {k: v for k, v in values.items() if getattr(unit, k) != v}
    if changed:
        for key, value in changed.items():
            setattr(unit, key, value)
        unit.updated_at = dt.datetime.now(dt.UTC)
        await session.flush()
        await record_audit(
            session, "unit.updated", actor=actor, origin=origin, target=_target(unit.id), data={"changes": changed}
        )
    return await unit_view(session, unit)


async def _eligibility(session: AsyncSession, unit_id: uuid.UUID, user: StaffUser) -> str | None:
    """Why ``user`` cannot supervise the unit (None: they can)."""
    if user.status == "disabled":
        return "disabled"
    if user.unit_id is None or user.unit_id not in {u.id for u in await unit_path(session, unit_id)}:
        return "not_in_unit_or_above"
    return None


async def _recheck_supervisors(
    session: AsyncSession, unit_ids: list[uuid.UUID], *, reason: str, actor: Actor, origin: Origin
) -> None:
    """Release the supervisors of ``unit_ids`` who no longer satisfy the rule."""
    rows = (
        await session.execute(
            select(OrgUnit.id, OrgUnit.supervisor_id).where(
                OrgUnit.id.in_(unit_ids), OrgUnit.supervisor_id.is_not(None)
            )
        )
    ).all()
    for unit_id, supervisor_id in rows:
        if supervisor_id is None:
            continue
        if await _eligibility(session, unit_id, await get_staff(session, supervisor_id)) is not None:
            await release_supervision(
                session, supervisor_id, unit_ids=[unit_id], reason=reason, actor=actor, origin=origin
            )


async def move_unit(
    session: AsyncSession, unit_id: uuid.UUID, parent_id: uuid.UUID | None, *, actor: Actor, origin: Origin
) -> UnitView:
    """Under another unit (or to the top, with None); the units below it move along."""
    await _lock_structure(session)
    unit = await get_unit(session, unit_id, for_update=True)
    if unit.parent_id == parent_id:
        return await unit_view(session, unit)
    subtree = await unit_tree_ids(session, unit.id)
    if parent_id is not None and parent_id in subtree:
        raise UnitCycle(data={"unit_id": str(unit.id), "parent_id": str(parent_id)})
    parent = await _parent(session, parent_id)
    _check_rank(unit.kind, parent.kind if parent else None)
    previous = unit.parent_id
    unit.parent_id = parent_id
    unit.updated_at = dt.datetime.now(dt.UTC)
    await session.flush()
    await record_audit(
        session,
        "unit.moved",
        actor=actor,
        origin=origin,
        target=_target(unit.id),
        data={"from": str(previous) if previous else None, "to": str(parent_id) if parent_id else None},
    )
    # A supervisor taken from a unit the subtree has just left is no longer above it.
    await _recheck_supervisors(session, subtree, reason="unit_moved", actor=actor, origin=origin)
    return await unit_view(session, unit)


async def _active_staff_count(session: AsyncSession, column: Any, value: uuid.UUID) -> int:
    query = select(func.count()).select_from(StaffUser).where(column == value, StaffUser.status != "disabled")
    return int((await session.execute(query)).scalar_one())


async def set_unit_active(
    session: AsyncSession, unit_id: uuid.UUID, active: bool, *, actor: Actor, origin: Origin
) -> UnitView:
    """Deactivate (no staff who are not disabled, no active unit below) or activate (parent active)."""
    await _lock_structure(session)
    unit = await get_unit(session, unit_id, for_update=True)
    if unit.active == active:
        return await unit_view(session, unit)
    if active:
        await _parent(session, unit.parent_id)
    else:
        children = (
            await session.execute(
                select(func.count()).select_from(OrgUnit).where(OrgUnit.parent_id == unit.id, OrgUnit.active.is_(True))
            )
        ).scalar_one()
        if children:
            raise UnitHasChildren(
                "Deactivate or move the units below it first.",
                code="unit_has_active_children",
                data={"units": children},
            )
        staff = await _active_staff_count(session, StaffUser.unit_id, unit.id)
        if staff:
            raise UnitHasStaff("Move its staff to another unit first.", data={"staff": staff})
    unit.active = active
    unit.updated_at = dt.datetime.now(dt.UTC)
    await session.flush()
    await record_audit(
        session, "unit.activated" if active else "unit.deactivated", actor=actor, origin=origin, target=_target(unit.id)
    )
    return await unit_view(session, unit)


async def delete_unit(session: AsyncSession, unit_id: uuid.UUID, *, actor: Actor, origin: Origin) -> None:
    """For a unit created by mistake: no unit below it, no staff who are not disabled."""
    await _lock_structure(session)
    unit = await get_unit(session, unit_id, for_update=True)
    children = (
        await session.execute(select(func.count()).select_from(OrgUnit).where(OrgUnit.parent_id == unit.id))
    ).scalar_one()
    if children:
        raise UnitHasChildren("Move or delete the units below it first.", data={"units": children})
    staff = await _active_staff_count(session, StaffUser.unit_id, unit.id)
    if staff:
        raise UnitHasStaff("Move its staff to another unit first, or deactivate it.", data={"staff": staff})
    detached = (
        await session.execute(
            update(StaffUser).where(StaffUser.unit_id == unit.id).values(unit_id=None).returning(StaffUser.id)
        )
    ).all()
    await session.delete(unit)
    await session.flush()
    await record_audit(
        session,
        "unit.deleted",
        actor=actor,
        origin=origin,
        target=_target(unit_id),
        data={"code": unit.code, "name_th": unit.name_th, "detached_staff": [str(r.id) for r in detached]},
    )


async def set_supervisor(
    session: AsyncSession, unit_id: uuid.UUID, staff_id: uuid.UUID | None, *, actor: Actor, origin: Origin
) -> UnitView:
    """Name the unit's supervisor (None: the post is vacant). Idempotent; audited when it changes."""
    await _lock_structure(session)
    unit = await get_unit(session, unit_id, for_update=True)
    if staff_id is not None:
        # Locked as ``disable_staff`` locks it: a member disabled meanwhile is seen disabled here.
        user = await get_staff(session, staff_id, for_update=True)
        reason = await _eligibility(session, unit.id, user)
        if reason is not None:
            raise SupervisorNotEligible(data={"staff_id": str(staff_id), "reason": reason})
    if unit.supervisor_id != staff_id:
        previous = unit.supervisor_id
        unit.supervisor_id = staff_id
        unit.updated_at = dt.datetime.now(dt.UTC)
        await session.flush()
        await record_audit(
            session,
            "unit.supervisor_set" if staff_id else "unit.supervisor_cleared",
            actor=actor,
            origin=origin,
            target=_target(unit.id),
            data={
                "staff_id": str(staff_id) if staff_id else None,
                "previous": str(previous) if previous else None,
                **({} if staff_id else {"reason": "vacated"}),
            },
        )
    return await unit_view(session, unit)


# --- positions ----------------------------------------------------------------------------------


async def _position_taken(
    session: AsyncSession, title_th: str, level: str | None, *, other_than: uuid.UUID | None = None
) -> None:
    query = select(StaffPosition.id).where(
        StaffPosition.title_th == title_th, func.coalesce(StaffPosition.level, "") == (level or "")
    )
    if other_than is not None:
        query = query.where(StaffPosition.id != other_than)
    if (await session.execute(query)).first() is not None:
        raise PositionExists(data={"title_th": title_th, "level": level})


async def create_position(
    session: AsyncSession,
    *,
    title_th: str,
    title_en: str | None,
    level: str | None,
    actor: Actor,
    origin: Origin,
) -> StaffPosition:
    await _lock_structure(session)
    title_th = title_th.strip()
    level = level.strip() if level else None
    await _position_taken(session, title_th, level)
    position = StaffPosition(title_th=title_th, title_en=title_en.strip() if title_en else None, level=level)
    session.add(position)
    await session.flush()
    await session.refresh(position)
    await record_audit(
        session,
        "position.created",
        actor=actor,
        origin=origin,
        target=f"position:{position.id}",
        data={"title_th": title_th, "level": level},
    )
    return position


async def update_position(
    session: AsyncSession, position_id: uuid.UUID, changes: Mapping[str, Any], *, actor: Actor, origin: Origin
) -> StaffPosition:
    unknown = set(changes) - POSITION_FIELDS
    if unknown:
        raise ValueError(f"not position fields: {sorted(unknown)}")
    await _lock_structure(session)
    position = await get_position(session, position_id, for_update=True)
    values = {k: v.strip() if isinstance(v, str) else v for k, v in changes.items()}
    if "title_th" in values or "level" in values:
        title: str = values.get("title_th", position.title_th)
        await _position_taken(session, title, values.get("level", position.level), other_than=position.id)
    changed = {k: v for k, v in values.items() if getattr(position, k) != v}
    if changed:
        for key, value in changed.items():
            setattr(position, key, value)
        position.updated_at = dt.datetime.now(dt.UTC)
        await session.flush()
        await record_audit(
            session,
            "position.updated",
            actor=actor,
            origin=origin,
            target=f"position:{position.id}",
            data={"changes": changed},
        )
    return position


async def delete_position(session: AsyncSession, position_id: uuid.UUID, *, actor: Actor, origin: Origin) -> None:
    """Refused while staff who are not disabled hold it; disabled holders lose it."""
    await _lock_structure(session)
    position = await get_position(session, position_id, for_update=True)
    holders = await _active_staff_count(session, StaffUser.position_id, position.id)
    if holders:
        raise PositionInUse(data={"staff": holders})
    detached = (
        await session.execute(
            update(StaffUser)
            .where(StaffUser.position_id == position.id)
            .values(position_id=None)
            .returning(StaffUser.id)
        )
    ).all()
    await session.delete(position)
    await session.flush()
    await record_audit(
        session,
        "position.deleted",
        actor=actor,
        origin=origin,
        target=f"position:{position_id}",
        data={"title_th": position.title_th, "detached_staff": [str(r.id) for r in detached]},
    )


# --- where staff sit ----------------------------------------------------------------------------


async def assign_staff(
    session: AsyncSession,
    staff_id: uuid.UUID,
    *,
    unit_id: uuid.UUID | None,
    position_id: uuid.UUID | None,
    actor: Actor,
    origin: Origin,
) -> StaffView:
    """Place a member in a unit (active) with a position; None clears either. Idempotent.

    Units the member supervised and may no longer supervise from the new unit lose them as supervisor.
    """
    await _lock_structure(session)
    user = await get_staff(session, staff_id, for_update=True)
    if unit_id is not None and unit_id != user.unit_id:
        unit = await get_unit(session, unit_id)
        if not unit.active:
            raise UnitInactive(data={"unit_id": str(unit_id)})
    if position_id is not None:
        await get_position(session, position_id)
    previous = {"unit_id": user.unit_id, "position_id": user.position_id}
    if previous == {"unit_id": unit_id, "position_id": position_id}:
        return await view_of(session, user)
    user.unit_id = unit_id
    user.position_id = position_id
    user.updated_at = dt.datetime.now(dt.UTC)
    await session.flush()
    await record_audit(
        session,
        "staff.assigned",
        actor=actor,
        origin=origin,
        target=f"staff:{user.id}",
        data={
            "unit_id": str(unit_id) if unit_id else None,
            "position_id": str(position_id) if position_id else None,
            "previous_unit_id": str(previous["unit_id"]) if previous["unit_id"] else None,
            "previous_position_id": str(previous["position_id"]) if previous["position_id"] else None,
        },
    )
    if previous["unit_id"] != unit_id:
        supervised = list(
            (await session.execute(select(OrgUnit.id).where(OrgUnit.supervisor_id == user.id))).scalars().all()
        )
        if supervised:
            await _recheck_supervisors(session, supervised, reason="staff_reassigned", actor=actor, origin=origin)
    return await view_of(session, user)
