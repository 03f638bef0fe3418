"""HTTP endpoints of the LAO's structure: units, positions and where staff sit.

Every member of staff reads them (a clerk picks the unit a letter goes to); changes need the
permission ``staff.structure.write``, which ``tenant_admin`` grants. The rules are those of
:mod:`localgov.identity.units`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, delete, get, patch, post, put
from litestar.di import NamedDependency
from litestar.params import JSONBody, PathParameter, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.identity import staff as staff_svc
from localgov.identity import units as svc
from localgov.identity.models import AccountStatus, StaffPosition
from localgov.kernel.audit import Actor, Origin
from localgov.kernel.auth.guards import guarded, staff
from localgov.kernel.errors import problem_responses
from localgov.kernel.org import UNIT_KINDS, StaffRef
from localgov.kernel.pagination import Cursor, Limit, cut_page, decode_cursor
from localgov.kernel.text import ONE_LINE

#: Reading the structure: any member of staff.
READ = staff()
#: Changing it: a role granting the permission (``tenant_admin``).
WRITE = staff(permission=staff_svc.STRUCTURE_WRITE)

#: The keys of :data:`localgov.kernel.org.UNIT_KINDS` (a test keeps the two equal).
UnitKindCode = Literal["secretary_office", "bureau", "division", "section", "subdivision", "work_unit"]
UnitCode = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=40,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        description="Short and stable; letters, digits, `.`, `_`, `-`; stored lower-case",
        examples=["finance"],
    ),
]
NameTh = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=ONE_LINE, examples=["กองคลัง"])]
NameEn = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=ONE_LINE, examples=["Finance Division"])]
TitleTh = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=ONE_LINE, examples=["ปลัด อบต."])]
TitleEn = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=ONE_LINE)]
Level = Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=ONE_LINE, examples=["ชำนาญการ"])]
UnitId = Annotated[uuid.UUID, PathParameter(description="The unit's id")]
PositionId = Annotated[uuid.UUID, PathParameter(description="The position's id")]


# --- structs ------------------------------------------------------------------------------------


class UnitSupervisor(msgspec.Struct, kw_only=True):
    """The head of a unit (หัวหน้าหน่วยงาน)."""

    id: uuid.UUID
    full_name: str
    status: AccountStatus


class Unit(msgspec.Struct, kw_only=True):
    """A unit of the LAO (ส่วนราชการ): สำนักปลัด, สำนัก, กอง, ส่วน, ฝ่าย or งาน."""

    id: uuid.UUID
    code: str
    name_th: str
    name_en: str | None
    kind: UnitKindCode
    kind_title_th: str
    kind_title_en: str
    parent_id: uuid.UUID | None
    #: 0 for a unit at the top.
    depth: int
    supervisor: UnitSupervisor | None
    active: bool
    created_at: dt.datetime
    updated_at: dt.datetime


class UnitList(msgspec.Struct, kw_only=True):
    #: Depth first: each unit is followed by the units below it (siblings by code).
    items: list[Unit]


class UnitCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    code: UnitCode
    name_th: NameTh
    kind: UnitKindCode
    name_en: NameEn | None = None
    #: The unit it belongs to; null for a unit at the top.
    parent_id: uuid.UUID | None = None


class UnitUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    """The fields to change; a field left out stays as it is (``null`` clears ``name_en``)."""

    code: UnitCode | msgspec.UnsetType = msgspec.UNSET
    name_th: NameTh | msgspec.UnsetType = msgspec.UNSET
    name_en: NameEn | msgspec.UnsetType | None = msgspec.UNSET
    kind: UnitKindCode | msgspec.UnsetType = msgspec.UNSET


class UnitMove(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    #: The new parent; null moves the unit to the top.
    parent_id: uuid.UUID | None


class SupervisorSet(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    staff_id: uuid.UUID


class UnitMember(msgspec.Struct, kw_only=True):
    """A member of staff placed in a unit."""

    id: uuid.UUID
    full_name: str
    status: AccountStatus
    unit_id: uuid.UUID | None
    position_id: uuid.UUID | None
    position_title_th: str | None


class UnitMemberPage(msgspec.Struct, kw_only=True):
    items: list[UnitMember]
    #: Pass as ``cursor`` for the next page; null on the last page.
    next_cursor: str | None


class Position(msgspec.Struct, kw_only=True):
    """A position (ตำแหน่ง) staff hold."""

    id: uuid.UUID
    title_th: str
    title_en: str | None
    level: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


class PositionPage(msgspec.Struct, kw_only=True):
    items: list[Position]
    #: Pass as ``cursor`` for the next page; null on the last page.
    next_cursor: str | None


class PositionCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    title_th: TitleTh
    title_en: TitleEn | None = None
    level: Level | None = None


class PositionUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    """The fields to change; a field left out stays as it is, ``null`` clears it."""

    title_th: TitleTh | msgspec.UnsetType = msgspec.UNSET
    title_en: TitleEn | msgspec.UnsetType | None = msgspec.UNSET
    level: Level | msgspec.UnsetType | None = msgspec.UNSET


def _unit(view: svc.UnitView) -> Unit:
    unit, kind = view.unit, UNIT_KINDS[view.unit.kind]
    supervisor = view.supervisor
    return Unit(
        id=unit.id,
        code=unit.code,
        name_th=unit.name_th,
        name_en=unit.name_en,
        kind=unit.kind,  # type: ignore[arg-type]  # the table's check constraint holds it to UNIT_KINDS
        kind_title_th=kind.title_th,
        kind_title_en=kind.title_en,
        parent_id=unit.parent_id,
        depth=view.depth,
        supervisor=UnitSupervisor(id=supervisor.id, full_name=supervisor.full_name, status=supervisor.status)
        if supervisor
        else None,
        active=unit.active,
        created_at=unit.created_at,
        updated_at=unit.updated_at,
    )


def _member(ref: StaffRef) -> UnitMember:
    return UnitMember(
        id=ref.id,
        full_name=ref.full_name,
        status=ref.status,
        unit_id=ref.unit.id if ref.unit else None,
        position_id=ref.position.id if ref.position else None,
        position_title_th=ref.position.title_th if ref.position else None,
    )


def _position(row: StaffPosition) -> Position:
    return Position(
        id=row.id,
        title_th=row.title_th,
        title_en=row.title_en,
        level=row.level,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _changes(data: msgspec.Struct) -> dict[str, Any]:
    return {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}


# --- units --------------------------------------------------------------------------------------


class UnitController(Controller):
    path = "/v1/units"
    tags = ["Units"]
    opt = {"surface": "tenant"}

    @get(
        "/",
        operation_id="listUnits",
        summary="The LAO's units (ส่วนราชการ) as a tree, depth first",
        responses=problem_responses(401, 403, 404, 410),
        **guarded(READ),
    )
    async def list_units(
        self,
        db_session: NamedDependency[AsyncSession],
        active: Annotated[
            bool | None, QueryParameter(description="Only active (true) or inactive (false) units")
        ] = None,
    ) -> UnitList:
        return UnitList(items=[_unit(v) for v in await svc.list_units(db_session, active=active)])

    @post(
        "/",
        operation_id="createUnit",
        summary="Create a unit under another one (or at the top)",
        description=(
            "409 `unit_code_taken`; 409 `unit_kind_order` when the kind does not rank below the parent's "
            "(a ฝ่าย under a กอง, not the reverse); 409 `unit_inactive` under an inactive parent; "
            "404 `unit_not_found` for an unknown parent."
        ),
        responses=problem_responses(401, 403, 404, 409, 410),
        **guarded(WRITE),
    )
    async def create(
        self,
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        data: JSONBody[UnitCreate],
        db_session: NamedDependency[AsyncSession],
    ) -> Unit:
        view = await svc.create_unit(
            db_session,
            code=data.code,
            name_th=data.name_th,
            name_en=data.name_en,
            kind=data.kind,
            parent_id=data.parent_id,
            actor=actor,
            origin=origin,
        )
        return _unit(view)

    @get(
        "/{unit_id:uuid}",
        operation_id="getUnit",
        summary="One unit",
        responses=problem_responses(401, 403, 404, 410),
        **guarded(READ),
    )
    async def show(self, unit_id: UnitId, db_session: NamedDependency[AsyncSession]) -> Unit:
        return _unit(await svc.unit_view(db_session, await svc.get_unit(db_session, unit_id)))

    @patch(
        "/{unit_id:uuid}",
        operation_id="updateUnit",
        summary="Change a unit's code, names or kind",
        description="409 `unit_code_taken`; 409 `unit_kind_order` when the new kind breaks the order with "
        "the parent or the units below.",
        responses=problem_responses(401, 403, 404, 409, 410),
        **guarded(WRITE),
    )
    async def update(
        self,
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        unit_id: UnitId,
        data: JSONBody[UnitUpdate],
        db_session: NamedDependency[AsyncSession],
    ) -> Unit:
        view = await svc.update_unit(db_session, unit_id, _changes(data), actor=actor, origin=origin)
        return _unit(view)

    @post(
        "/{unit_id:uuid}/move",
        status_code=200,
        operation_id="moveUnit",
        summary="Move a unit (with the units below it) under another unit, or to the top",
        description=(
            "409 `unit_cycle` under itself or a unit below it; 409 `unit_kind_order`; 409 `unit_inactive`. "
            "Supervisors who no longer sit in the unit or above it stop supervising (audited)."
        ),
        responses=problem_responses(401, 403, 404, 409, 410),
        **guarded(WRITE),
    )
    async def move(
        self,
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        unit_id: UnitId,
        data: JSONBody[UnitMove],
        db_session: NamedDependency[AsyncSession],
    ) -> Unit:
        view = await svc.move_unit(db_session, unit_id, data.parent_id, actor=actor, origin=origin)
        return _unit(view)

    @post(
        "/{unit_id:uuid}/deactivate",
        status_code=200,
        operation_id="deactivateUnit",
        summary="Deactivate a unit that is no longer used (it keeps its id for the records)",
        description="409 `unit_has_active_children`; 409 `unit_has_staff` while staff who are not disabled sit in it.",
        responses=problem_responses(401, 403, 404, 409, 410),
        **guarded(WRITE),
    )
    async def deactivate(
        self,
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        unit_id: UnitId,
        db_session: NamedDependency[AsyncSession],
    ) -> Unit:
        view = await svc.set_unit_active(db_session, unit_id, False, actor=actor, origin=origin)
        return _unit(view)

    @post(
        "/{unit_id:uuid}/activate",
        status_code=200,
        operation_id="activateUnit",
        summary="Activate a unit again",
        description="409 `unit_inactive` while its parent is inactive.",
        responses=problem_responses(401, 403, 404, 409, 410),
        **guarded(WRITE),
    )
    async def activate(
        self,
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        unit_id: UnitId,
        db_session: NamedDependency[AsyncSession],
    ) -> Unit:
        view = await svc.set_unit_active(db_session, unit_id, True, actor=actor, origin=origin)
        return _unit(view)

    @delete(
        "/{unit_id:uuid}",
        status_code=204,
        operation_id="deleteUnit",
        summary="Delete a unit created by mistake (deactivate one that was used)",
        description=(
            "409 `unit_has_children` while units sit below it; 409 `unit_has_staff` while staff who are not "
            "disabled sit in it (disabled members are detached)."
        ),
        responses=problem_responses(401, 403, 404, 409, 410),
        **guarded(WRITE),
    )
    async def remove(
        self,
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        unit_id: UnitId,
        db_session: NamedDependency[AsyncSession],
    ) -> None:
        await svc.delete_unit(db_session, unit_id, actor=actor, origin=origin)

    @put(
        "/{unit_id:uuid}/supervisor",
        operation_id="setUnitSupervisor",
        summary="Name the unit's supervisor (หัวหน้าหน่วยงาน)",
        description=(
            "The supervisor is a member of staff, not disabled, who sits in this unit or in a unit above it "
            "(409 `supervisor_not_eligible` otherwise, with `data.reason`); 404 `staff_not_found`."
        ),
        responses=problem_responses(401, 403, 404, 409, 410),
        **guarded(WRITE),
    )
    async def set_supervisor(
        self,
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        unit_id: UnitId,
        data: JSONBody[SupervisorSet],
        db_session: NamedDependency[AsyncSession],
    ) -> Unit:
        view = await svc.set_supervisor(db_session, unit_id, data.staff_id, actor=actor, origin=origin)
        return _unit(view)

    @delete(
        "/{unit_id:uuid}/supervisor",
        status_code=200,
        operation_id="clearUnitSupervisor",
        summary="Leave the unit's supervisor post vacant (services then turn to the unit above)",
        responses=problem_responses(401, 403, 404, 410),
        **guarded(WRITE),
    )
    async def clear_supervisor(
        self,
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        unit_id: UnitId,
        db_session: NamedDependency[AsyncSession],
    ) -> Unit:
        view = await svc.set_supervisor(db_session, unit_id, None, actor=actor, origin=origin)
        return _unit(view)

    @get(
        "/{unit_id:uuid}/members",
        operation_id="listUnitMembers",
        summary="Staff who sit in the unit (and, if asked, in the units below it), by name",
        description="Disabled members are left out.",
        responses=problem_responses(401, 403, 404, 410),
        **guarded(READ),
    )
    async def members(
        self,
        unit_id: UnitId,
        db_session: NamedDependency[AsyncSession],
        include_subunits: Annotated[bool, QueryParameter(description="Also the units below it")] = False,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> UnitMemberPage:
        after = decode_cursor(cursor, tuple[str, uuid.UUID])
        refs = await svc.members(db_session, unit_id, include_subunits=include_subunits, after=after, limit=limit + 1)
        page, next_cursor = cut_page(refs, limit, key=lambda r: (r.full_name, r.id))
        return UnitMemberPage(items=[_member(r) for r in page], next_cursor=next_cursor)


# --- positions ----------------------------------------------------------------------------------


class PositionController(Controller):
    path = "/v1/positions"
    tags = ["Positions"]
    opt = {"surface": "tenant"}

    @get(
        "/",
        operation_id="listPositions",
        summary="The LAO's positions (ตำแหน่ง), by title",
        responses=problem_responses(401, 403, 404, 410),
        **guarded(READ),
    )
    async def list_positions(
        self, db_session: NamedDependency[AsyncSession], limit: Limit = 50, cursor: Cursor = None
    ) -> PositionPage:
        after = decode_cursor(cursor, tuple[str, str, uuid.UUID])
        rows = await svc.list_positions(db_session, after=after, limit=limit + 1)
        page, next_cursor = cut_page(rows, limit, key=lambda p: (p.title_th, p.level or "", p.id))
        return PositionPage(items=[_position(p) for p in page], next_cursor=next_cursor)

    @post(
        "/",
        operation_id="createPosition",
        summary="Create a position",
        description="409 `position_exists` for the same Thai title and level.",
        responses=problem_responses(401, 403, 404, 409, 410),
        **guarded(WRITE),
    )
    async def create(
        self,
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        data: JSONBody[PositionCreate],
        db_session: NamedDependency[AsyncSession],
    ) -> Position:
        row = await svc.create_position(
            db_session,
            title_th=data.title_th,
            title_en=data.title_en,
            level=data.level,
            actor=actor,
            origin=origin,
        )
        return _position(row)

    @get(
        "/{position_id:uuid}",
        operation_id="getPosition",
        summary="One position",
        responses=problem_responses(401, 403, 404, 410),
        **guarded(READ),
    )
    async def show(self, position_id: PositionId, db_session: NamedDependency[AsyncSession]) -> Position:
        return _position(await svc.get_position(db_session, position_id))

    @patch(
        "/{position_id:uuid}",
        operation_id="updatePosition",
        summary="Change a position's titles or level",
        description="409 `position_exists` for the same Thai title and level as another position.",
        responses=problem_responses(401, 403, 404, 409, 410),
        **guarded(WRITE),
    )
    async def update(
        self,
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        position_id: PositionId,
        data: JSONBody[PositionUpdate],
        db_session: NamedDependency[AsyncSession],
    ) -> Position:
        row = await svc.update_position(db_session, position_id, _changes(data), actor=actor, origin=origin)
        return _position(row)

    @delete(
        "/{position_id:uuid}",
        status_code=204,
        operation_id="deletePosition",
        summary="Delete a position nobody holds",
        description="409 `position_in_use` while staff who are not disabled hold it (disabled holders lose it).",
        responses=problem_responses(401, 403, 404, 409, 410),
        **guarded(WRITE),
    )
    async def remove(
        self,
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        position_id: PositionId,
        db_session: NamedDependency[AsyncSession],
    ) -> None:
        await svc.delete_position(db_session, position_id, actor=actor, origin=origin)
