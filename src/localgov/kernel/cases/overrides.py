"""Each LAO's own settings of a case type: time limits and default assignees per state.

The workflow (the service's code) gives the defaults; an LAO shortens or lengthens a state's
time, or the overall time, and routes each state to one of its units or members. Settings apply
from the next transition of each case (deadlines already set are kept until the case moves).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

import msgspec
from sqlalchemy import bindparam, delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel import org
from localgov.kernel.audit import Actor, Origin, record_audit
from localgov.kernel.cases.errors import AssigneeInvalid, InvalidCaseInput
from localgov.kernel.cases.models import CaseTypeSetting
from localgov.kernel.cases.workflow import MAX_SLA_DAYS, CaseType
from localgov.kernel.reads import Reader, fetch_all

#: The ``state`` of the setting of a case type as a whole (its overall time limit).
OVERALL = ""


class StateSetting(msgspec.Struct, frozen=True, kw_only=True):
    """The LAO's setting of one state of a case type (``state == ""``: the case type as a whole)."""

    state: str
    #: Replaces the workflow's time limit (None: the workflow's).
    sla_days: int | None = None
    #: Where a case entering the state goes (None and None: it stays with whoever has it).
    assignee_unit_id: uuid.UUID | None = None
    assignee_staff_id: uuid.UUID | None = None


_S = CaseTypeSetting.__table__.c
_SETTINGS = select(_S.state, _S.sla_days, _S.assignee_unit_id, _S.assignee_staff_id).where(
    _S.case_type == bindparam("case_type")
)


async def case_type_settings(reader: Reader, case_type: CaseType) -> dict[str, StateSetting]:
    """The LAO's settings of ``case_type``, by state code (``""``: overall); one query."""
    rows = await fetch_all(reader, _SETTINGS, {"case_type": case_type.code})
    return {row["state"]: StateSetting(**row) for row in rows}


def sla_days(case_type: CaseType, settings: Mapping[str, StateSetting], state: str | None) -> int | None:
    """The time limit in working days of ``state`` (None: overall), the LAO's setting first."""
    setting = settings.get(OVERALL if state is None else state)
    if setting is not None and setting.sla_days is not None:
        return setting.sla_days
    return case_type.sla_days if state is None else case_type.state(state).sla_days


async def check_assignee(session: AsyncSession, unit_id: uuid.UUID | None, staff_id: uuid.UUID | None) -> None:
    """The unit is an active unit of the LAO, the member an active or invited member of it (of the
    unit or a unit below it when both are given); else 409 ``case_assignee_invalid``."""
    if unit_id is not None:
        unit = await org.unit_ref(session, unit_id)
        if unit is None or not unit.active:
            raise AssigneeInvalid(data={"unit_id": str(unit_id), "reason": "unit_not_found_or_inactive"})
    if staff_id is not None:
        member = await org.staff_ref(session, staff_id)
        if member is None or member.status == "disabled":
            raise AssigneeInvalid(data={"staff_id": str(staff_id), "reason": "staff_not_found_or_disabled"})
        if unit_id is not None:
            path = await org.unit_path(session, member.unit.id) if member.unit is not None else []
            if unit_id not in {u.id for u in path}:
                raise AssigneeInvalid(
                    data={"unit_id": str(unit_id), "staff_id": str(staff_id), "reason": "staff_not_in_unit"}
                )


async def set_case_type_setting(
    session: AsyncSession,
    case_type: CaseType,
    state: str | None,
    *,
    sla_days: int | None = None,
    assignee_unit_id: uuid.UUID | None = None,
    assignee_staff_id: uuid.UUID | None = None,
    actor: Actor,
    origin: Origin,
) -> StateSetting | None:
    """Set the LAO's time limit and default assignee of ``state`` (None: the case type's overall
    time limit); all None removes the setting (the workflow's defaults apply). Returns the setting."""
    key = OVERALL if state is None else state
    if state is not None:
        if state not in {s.code for s in case_type.states}:
            raise InvalidCaseInput(f"{case_type.code} has no state {state!r}.", data={"state": state})
        if case_type.state(state).terminal:
            raise InvalidCaseInput("A terminal state has no time limit and no assignee.", data={"state": state})
    elif assignee_unit_id is not None or assignee_staff_id is not None:
        raise InvalidCaseInput("Assignees are set per state, not for the case type as a whole.")
    if sla_days is not None and not 1 <= sla_days <= MAX_SLA_DAYS:
        raise InvalidCaseInput(f"sla_days is between 1 and {MAX_SLA_DAYS}.", data={"sla_days": sla_days})
    await check_assignee(session, assignee_unit_id, assignee_staff_id)
    values = {"sla_days": sla_days, "assignee_unit_id": assignee_unit_id, "assignee_staff_id": assignee_staff_id}
    removed = all(value is None for value in values.values())
    if removed:
        await session.execute(delete(CaseTypeSetting).where(_S.case_type == case_type.code, _S.state == key))
    else:
        await session.execute(
            insert(CaseTypeSetting)
            .values(case_type=case_type.code, state=key, **values)
            .on_conflict_do_update(index_elements=[_S.case_type, _S.state], set_={**values, "updated_at": func.now()})
        )
    await record_audit(
        session,
        "case_type.setting_changed",
        actor=actor,
        origin=origin,
        target=f"case_type:{case_type.code}",
        data={"state": key, **{k: str(v) if isinstance(v, uuid.UUID) else v for k, v in values.items()}},
    )
    if removed:
        return None
    return StateSetting(
        state=key, sla_days=sla_days, assignee_unit_id=assignee_unit_id, assignee_staff_id=assignee_staff_id
    )
