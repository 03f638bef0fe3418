"""Opening a case, acting on it, assigning it: the writes of the case engine.

Each runs in the caller's transaction (never commits), records what happened in the case's
history (``case_transitions``) and in the LAO's audit log, and recomputes the case's deadlines
with the LAO's working-day calendar and its settings of the case type.

**Optimistic concurrency.** A caller acts on the version of the case it showed the officer
(``expected_version``). The change is one ``UPDATE cases … WHERE id = :id AND version = :v``:
of two officers acting at once on version 3, the first update takes the row and makes it 4; the
second waits for that transaction, then finds no row at version 3 and is refused with 409
``case_version_conflict`` (PostgreSQL re-checks the condition on the committed row), whatever
the two requests read before.

**Deadlines.** A state's deadline is ``sla_days`` working days after the day the case entered it;
the overall deadline is the overall ``sla_days`` after the day it was opened, plus the working
days it spent in states that pause the clock (while it waits in one, it has no overall deadline).
A deadline on day D is stored as the instant D ends in Bangkok (``calendar.end_of_day``): the
case is late from then on. A case opened with its own overall limit (``open_case(...,
sla_days=)``: One Stop Service gives the total time of the manual of the service applied for)
keeps it for its whole life, instead of the case type's or the LAO's setting of it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection, Mapping
from typing import Any, cast

import msgspec
from sqlalchemy import Integer, Table, Uuid, bindparam, func, insert, literal, select, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.audit import Origin, record_audit
from localgov.kernel.calendar import WorkingCalendar, end_of_day, load_calendar
from localgov.kernel.cases.actors import CaseActor, refusal
from localgov.kernel.cases.errors import (
    ActionForbidden,
    ActionUnavailable,
    CaseNotFound,
    CaseVersionConflict,
    CommentRequired,
    DocumentsMissing,
    InvalidCaseInput,
    TrackingNumberTaken,
)
from localgov.kernel.cases.models import CaseRecord, CaseTransitionRecord
from localgov.kernel.cases.overrides import StateSetting, case_type_settings, check_assignee, sla_days
from localgov.kernel.cases.queries import Case, get_case
from localgov.kernel.cases.registry import get_case_type
from localgov.kernel.cases.workflow import MAX_SLA_DAYS, OPEN_ACTION, CaseType
from localgov.kernel.citizens import citizen_ref
from localgov.kernel.reads import fetch_one
from localgov.kernel.text import is_one_line
from localgov.kernel.thai import bangkok_today

#: The longest comment a step keeps.
MAX_COMMENT = 4000
_NO_ORIGIN = Origin()
_C = CaseRecord.__table__.c
_T = CaseTransitionRecord.__table__.c

#: What ``act`` and ``assign`` read before they change a case.
_CURRENT = select(
    _C.case_type,
    _C.state,
    _C.version,
    _C.applicant_citizen_id,
    _C.assigned_unit_id,
    _C.assigned_staff_id,
    _C.opened_at,
    _C.state_entered_at,
    _C.paused_days,
    _C.sla_days,
    _C.decided_at,
    _C.closed_at,
).where(_C.id == bindparam("id", type_=Uuid))

#: The next step of a case's history (its row is locked by the update just made: no race on seq).
_RECORD_STEP = insert(cast(Table, CaseTransitionRecord.__table__)).from_select(
    [_T.case_id, _T.seq, _T.action, _T.from_state, _T.to_state, _T.actor_kind, _T.actor_id, _T.at, _T.comment],
    select(
        bindparam("case_id", type_=Uuid),
        func.coalesce(func.max(_T.seq), 0) + literal(1, Integer),
        bindparam("action"),
        bindparam("from_state"),
        bindparam("to_state"),
        bindparam("actor_kind"),
        bindparam("actor_id", type_=Uuid),
        bindparam("at"),
        bindparam("comment"),
    ).where(_T.case_id == bindparam("case_id", type_=Uuid)),
)


def _comment(comment: str | None, required: bool) -> str | None:
    text_ = (comment or "").strip()
    if not text_:
        if required:
            raise CommentRequired()
        return None
    if len(text_) > MAX_COMMENT or "\x00" in text_:
        raise InvalidCaseInput(f"A comment has at most {MAX_COMMENT} characters.", data={"field": "comment"})
    return text_


def _aware(now: dt.datetime) -> dt.datetime:
    """``now`` must say its time zone: a deadline is a Bangkok date of an exact instant."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be an aware datetime (e.g. datetime.now(UTC))")
    return now


def _json(data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` as the JSON object stored (dates, UUIDs, decimals as their text)."""
    stored: dict[str, Any] = msgspec.json.decode(msgspec.json.encode(dict(data)))
    return stored


def _missing(case_type: CaseType, state: str, documents: Collection[str]) -> None:
    missing = [d for d in case_type.state(state).required_documents if d not in documents]
    if missing:
        raise DocumentsMissing(data={"state": state, "missing": missing})


def _state_due(
    calendar: WorkingCalendar,
    case_type: CaseType,
    settings: Mapping[str, StateSetting],
    state: str,
    entered: dt.datetime,
) -> dt.datetime | None:
    if case_type.state(state).terminal:
        return None
    days = sla_days(case_type, settings, state)
    return None if days is None else end_of_day(calendar.add_working_days(bangkok_today(entered), days))


def _overall_due(
    calendar: WorkingCalendar,
    case_type: CaseType,
    settings: Mapping[str, StateSetting],
    state: str,
    opened: dt.datetime,
    paused_days: int,
    own_days: int | None,
) -> dt.datetime | None:
    if case_type.state(state).pauses_clock:
        return None
    days = own_days if own_days is not None else sla_days(case_type, settings, None)
    return None if days is None else end_of_day(calendar.add_working_days(bangkok_today(opened), days + paused_days))


async def _record(
    session: AsyncSession,
    case_id: uuid.UUID,
    action: str,
    from_state: str | None,
    to_state: str,
    actor: CaseActor,
    at: dt.datetime,
    comment: str | None,
) -> None:
    await session.execute(
        _RECORD_STEP,
        {
            "case_id": case_id,
            "action": action,
            "from_state": from_state,
            "to_state": to_state,
            "actor_kind": actor.kind,
            "actor_id": actor.id,
            "at": at,
            "comment": comment,
        },
    )


async def open_case(
    session: AsyncSession,
    case_type: CaseType,
    *,
    actor: CaseActor,
    now: dt.datetime,
    applicant_name: str,
    applicant_citizen_id: uuid.UUID | None = None,
    tracking_number: str | None = None,
    data: Mapping[str, Any] | None = None,
    documents: Collection[str] = (),
    comment: str | None = None,
    sla_days: int | None = None,
    origin: Origin = _NO_ORIGIN,
) -> Case:
    """Open a case of ``case_type`` in its initial state, for an applicant (a citizen account, or a
    name only for a walk-in), with the type's ``data``; returns it.

    Who may open one is the route's policy (a citizen online, staff at the counter). ``documents``
    are the codes of the documents on file (the initial state's ``required_documents`` must be
    among them); ``tracking_number`` is the service's number for the case (unique in the LAO).
    ``sla_days`` is this case's own overall time limit in working days, when the service knows
    one per case (One Stop Service: the total time of the manual of the service applied for); it
    replaces the case type's overall limit and the LAO's setting of it, for this case only.
    """
    _aware(now)
    if get_case_type(case_type.code) != case_type:
        raise RuntimeError(f"case type {case_type.code} is not the registered one (register_case_types)")
    name = applicant_name.strip()
    if not is_one_line(name) or len(name) > 300:
        raise InvalidCaseInput(
            "The applicant's name is one line of 1 to 300 characters.", data={"field": "applicant_name"}
        )
    if tracking_number is not None and (not is_one_line(tracking_number) or len(tracking_number) > 40):
        raise InvalidCaseInput(
            "A tracking number is one line of at most 40 characters.", data={"field": "tracking_number"}
        )
    if sla_days is not None and not 1 <= sla_days <= MAX_SLA_DAYS:
        raise InvalidCaseInput(f"sla_days is between 1 and {MAX_SLA_DAYS}.", data={"field": "sla_days"})
    if applicant_citizen_id is not None and await citizen_ref(session, applicant_citizen_id) is None:
        raise InvalidCaseInput("No such citizen in this LAO.", data={"field": "applicant_citizen_id"})
    state = case_type.initial
    _missing(case_type, state, documents)
    note = _comment(comment, required=False)
    calendar = await load_calendar(session)
    settings = await case_type_settings(session, case_type)
    setting = settings.get(state)
    values: dict[str, Any] = {
        "case_type": case_type.code,
        "state": state,
        "version": 1,
        "tracking_number": tracking_number,
        "applicant_citizen_id": applicant_citizen_id,
        "applicant_name": name,
        "assigned_unit_id": setting.assignee_unit_id if setting else None,
        "assigned_staff_id": setting.assignee_staff_id if setting else None,
        "opened_at": now,
        "state_entered_at": now,
        "state_due_at": _state_due(calendar, case_type, settings, state, now),
        "due_at": _overall_due(calendar, case_type, settings, state, now, 0, sla_days),
        "sla_days": sla_days,
        "paused_days": 0,
        "data": _json(data or {}),
    }
    inserted = (
        await session.execute(
            pg_insert(cast(Table, CaseRecord.__table__))
            .values(**values)
            .on_conflict_do_nothing(index_elements=[_C.tracking_number])
            .returning(_C.id)
        )
    ).scalar_one_or_none()
    if inserted is None:
        raise TrackingNumberTaken(data={"tracking_number": tracking_number})
    await _record(session, inserted, OPEN_ACTION, None, state, actor, now, note)
    await record_audit(
        session,
        "case.opened",
        actor=actor.audit,
        origin=origin,
        target=f"case:{inserted}",
        data={"case_type": case_type.code, "state": state, "tracking_number": tracking_number},
    )
    return await get_case(session, inserted)


async def _current(session: AsyncSession, case_id: uuid.UUID, expected_version: int) -> Any:
    row = await fetch_one(session, _CURRENT, {"id": case_id})
    if row is None:
        raise CaseNotFound(data={"case_id": str(case_id)})
    if row["version"] != expected_version:
        raise CaseVersionConflict(data={"expected_version": expected_version, "version": row["version"]})
    return row


async def _update(session: AsyncSession, case_id: uuid.UUID, expected_version: int, values: dict[str, Any]) -> int:
    """The conditional update: the new version, or 409 when someone else changed the case first."""
    version: int | None = (
        await session.execute(
            update(CaseRecord)
            .where(_C.id == case_id, _C.version == expected_version)
            .values(version=_C.version + 1, updated_at=func.now(), **values)
            .returning(_C.version)
        )
    ).scalar_one_or_none()
    if version is None:
        current = (await session.execute(select(_C.version).where(_C.id == case_id))).scalar_one_or_none()
        raise CaseVersionConflict(data={"expected_version": expected_version, "version": current})
    return version


async def act(
    session: AsyncSession,
    case_id: uuid.UUID,
    action: str,
    *,
    actor: CaseActor,
    expected_version: int,
    now: dt.datetime,
    comment: str | None = None,
    documents: Collection[str] = (),
    data: Mapping[str, Any] | None = None,
    origin: Origin = _NO_ORIGIN,
) -> Case:
    """Take ``action`` on the case as ``actor``, against the version the caller showed; returns the
    case as it is now.

    Refused: 404 ``case_not_found``; 409 ``case_version_conflict`` (someone changed it since);
    409 ``case_action_unavailable`` (not an action of the case's current state); 403
    ``case_action_forbidden`` (the actor may not take it; ``data.reason`` says why); 422
    ``case_comment_required``; 422 ``case_documents_missing`` (``documents``, the codes on file,
    lack what the next state requires). ``data`` is merged into the case's own data.
    """
    _aware(now)
    row = await _current(session, case_id, expected_version)
    case_type = get_case_type(row["case_type"])
    step = case_type.action(action)
    source = row["state"]
    if step is None or source not in step.from_states:
        raise ActionUnavailable(
            data={"state": source, "action": action, "available": [a.code for a in case_type.actions_from(source)]}
        )
    reason = refusal(
        step, actor, applicant_citizen_id=row["applicant_citizen_id"], assigned_unit_id=row["assigned_unit_id"]
    )
    if reason is not None:
        raise ActionForbidden(data={"action": action, "reason": reason})
    note = _comment(comment, step.comment_required)
    target = step.to_state
    moving = target != source
    if moving:
        _missing(case_type, target, documents)
    calendar = await load_calendar(session)
    settings = await case_type_settings(session, case_type)
    paused_days = row["paused_days"]
    if moving and case_type.state(source).pauses_clock:
        paused_days += calendar.working_days_between(bangkok_today(row["state_entered_at"]), bangkok_today(now))
    entered = now if moving else row["state_entered_at"]
    values: dict[str, Any] = {
        "state": target,
        "state_entered_at": entered,
        "state_due_at": _state_due(calendar, case_type, settings, target, entered),
        "due_at": _overall_due(calendar, case_type, settings, target, row["opened_at"], paused_days, row["sla_days"]),
        "paused_days": paused_days,
    }
    setting = settings.get(target)
    if moving and setting is not None and (setting.assignee_unit_id or setting.assignee_staff_id):
        values["assigned_unit_id"] = setting.assignee_unit_id
        values["assigned_staff_id"] = setting.assignee_staff_id
    if moving and case_type.state(target).decision and row["decided_at"] is None:
        values["decided_at"] = now
    if case_type.state(target).terminal:
        values["closed_at"] = now
    if data:
        values["data"] = _C.data.op("||")(literal(_json(data), JSONB))
    version = await _update(session, case_id, expected_version, values)
    await _record(session, case_id, action, source, target, actor, now, note)
    await record_audit(
        session,
        "case.transition",
        actor=actor.audit,
        origin=origin,
        target=f"case:{case_id}",
        data={"case_type": case_type.code, "action": action, "from": source, "to": target, "version": version},
    )
    return await get_case(session, case_id)


async def assign(
    session: AsyncSession,
    case_id: uuid.UUID,
    *,
    unit_id: uuid.UUID | None,
    staff_id: uuid.UUID | None,
    actor: CaseActor,
    expected_version: int,
    origin: Origin = _NO_ORIGIN,
) -> Case:
    """Assign the open case to a unit and/or a member of staff (None clears); returns the case.

    Who may assign is the route's policy. Refused: 404, 409 ``case_version_conflict``, 409
    ``case_action_unavailable`` (the case is closed), 409 ``case_assignee_invalid``.
    """
    row = await _current(session, case_id, expected_version)
    if row["closed_at"] is not None:
        raise ActionUnavailable("A closed case is not assigned.", data={"state": row["state"], "action": "assign"})
    await check_assignee(session, unit_id, staff_id)
    version = await _update(
        session, case_id, expected_version, {"assigned_unit_id": unit_id, "assigned_staff_id": staff_id}
    )
    await record_audit(
        session,
        "case.assigned",
        actor=actor.audit,
        origin=origin,
        target=f"case:{case_id}",
        data={
            "unit_id": str(unit_id) if unit_id else None,
            "staff_id": str(staff_id) if staff_id else None,
            "previous_unit_id": str(row["assigned_unit_id"]) if row["assigned_unit_id"] else None,
            "previous_staff_id": str(row["assigned_staff_id"]) if row["assigned_staff_id"] else None,
            "version": version,
        },
    )
    return await get_case(session, case_id)
