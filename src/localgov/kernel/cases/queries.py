"""Reading cases: one case with its history, the inboxes, the SLA sweep.

Every statement is built once, here (``kernel.reads``): one text for every tenant, run on a
request's read-only connection or a session. Inboxes are keyset-paged (``kernel.pagination``):
oldest arrival in the current state first, ``after`` = the id of the last case of the previous
page; each is served by a partial index on open cases (``models.py``), so a page costs the same
at 100,000 cases as at 100.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import msgspec
from sqlalchemy import ARRAY, DateTime, Integer, String, Uuid, and_, bindparam, func, select, true, tuple_, union_all
from sqlalchemy.sql import Select

from localgov.kernel.cases.actors import ActorKind, CaseActor, refusal
from localgov.kernel.cases.errors import CaseNotFound
from localgov.kernel.cases.models import CaseRecord, CaseTransitionRecord
from localgov.kernel.cases.registry import get_case_type, registered_case_types
from localgov.kernel.cases.workflow import Action
from localgov.kernel.reads import Reader, fetch_all, fetch_one, json_rows

#: A first page starts after this (earlier than any case).
_START = (dt.datetime(1, 1, 1, tzinfo=dt.UTC), uuid.UUID(int=0))


class CaseTransition(msgspec.Struct, frozen=True, kw_only=True):
    """One step of a case's history."""

    seq: int
    action: str
    from_state: str | None
    to_state: str
    actor_kind: ActorKind
    actor_id: uuid.UUID | None
    at: dt.datetime
    comment: str | None


class CaseSummary(msgspec.Struct, frozen=True, kw_only=True):
    """A case as a list shows it."""

    id: uuid.UUID
    case_type: str
    state: str
    version: int
    tracking_number: str | None
    applicant_citizen_id: uuid.UUID | None
    applicant_name: str
    assigned_unit_id: uuid.UUID | None
    assigned_staff_id: uuid.UUID | None
    opened_at: dt.datetime
    state_entered_at: dt.datetime
    state_due_at: dt.datetime | None
    due_at: dt.datetime | None
    decided_at: dt.datetime | None
    closed_at: dt.datetime | None

    @property
    def closed(self) -> bool:
        return self.closed_at is not None

    def overdue(self, now: dt.datetime) -> bool:
        """Late in its state or overall at ``now`` (a closed case never is)."""
        if self.closed:
            return False
        return any(due is not None and due <= now for due in (self.state_due_at, self.due_at))


class Case(CaseSummary, frozen=True, kw_only=True):
    """A case with its own data and its history (oldest step first)."""

    paused_days: int
    #: The case's own overall time limit (working days), when it was opened with one.
    sla_days: int | None
    data: dict[str, Any]
    history: tuple[CaseTransition, ...]


_C = CaseRecord.__table__.c
_T = CaseTransitionRecord.__table__.c
_SUMMARY = tuple(_C[name] for name in CaseSummary.__struct_fields__)
_ORDER = (_C.state_entered_at, _C.id)

_CASE = select(
    *_SUMMARY,
    _C.paused_days,
    _C.sla_days,
    _C.data,
    json_rows(
        [_T.seq, _T.action, _T.from_state, _T.to_state, _T.actor_kind, _T.actor_id, _T.at, _T.comment],
        where=_T.case_id == _C.id,
        order_by=[_T.seq],
    ).label("history"),
).where(_C.id == bindparam("id", type_=Uuid))

_CURSOR = select(_C.state_entered_at, _C.id).where(_C.id == bindparam("id", type_=Uuid))


def _page(where: Any) -> Select[Any]:
    """Open cases matching ``where``, after the cursor, oldest arrival in their state first."""
    return (
        select(*_SUMMARY)
        .where(
            where,
            _C.closed_at.is_(None),
            tuple_(*_ORDER)
            > tuple_(bindparam("after_at", type_=DateTime(timezone=True)), bindparam("after_id", type_=Uuid)),
        )
        .order_by(*_ORDER)
        .limit(bindparam("limit", type_=Integer))
    )


_BY_UNIT = _page(_C.assigned_unit_id == bindparam("unit_id", type_=Uuid))
_BY_STAFF = _page(_C.assigned_staff_id == bindparam("staff_id", type_=Uuid))


def _pairs(types: str, states: str) -> Any:
    arrays = (bindparam(types, type_=ARRAY(String)), bindparam(states, type_=ARRAY(String)))
    return func.unnest(*arrays).table_valued("case_type", "state").render_derived(name=f"{types}_pairs")


def _actionable_anywhere() -> Select[Any]:
    """A page of the open cases of each (case type, state) pair, each pair read in order from
    ``ix_cases_open_state`` with its own LIMIT (a lateral subquery per pair)."""
    pairs = _pairs("any_types", "any_states")
    page = _page(and_(_C.case_type == pairs.c.case_type, _C.state == pairs.c.state)).lateral("any_page")
    return select(page).select_from(pairs).join(page, true())


def _actionable_in_units() -> Select[Any]:
    """A page of the open cases assigned to each of ``unit_ids`` that are in one of the pairs, each
    unit's read in order from ``ix_cases_open_unit`` with its own LIMIT (a lateral subquery per
    unit): a unit's own cases are mostly in the states routed to it, and a unit above the actor's
    has few assigned to it directly."""
    pairs = _pairs("unit_types", "unit_states")
    units = func.unnest(bindparam("unit_ids", type_=ARRAY(Uuid))).table_valued("unit_id").render_derived(name="units")
    in_pairs = tuple_(_C.case_type, _C.state).in_(select(pairs.c.case_type, pairs.c.state))
    page = _page(and_(_C.assigned_unit_id == units.c.unit_id, in_pairs)).lateral("unit_page")
    return select(page).select_from(units).join(page, true())


_EITHER = union_all(_actionable_anywhere(), _actionable_in_units()).subquery("actionable")
_BY_PERMISSION = (
    select(_EITHER).order_by(_EITHER.c.state_entered_at, _EITHER.c.id).limit(bindparam("limit", type_=Integer))
)

_LEAST_DUE = func.least(_C.state_due_at, _C.due_at)
_OVERDUE = (
    select(*_SUMMARY)
    .where(
        _C.closed_at.is_(None),
        bindparam("now", type_=DateTime(timezone=True)) >= _LEAST_DUE,
        tuple_(_LEAST_DUE, _C.id)
        > tuple_(bindparam("after_due", type_=DateTime(timezone=True)), bindparam("after_id", type_=Uuid)),
    )
    .order_by(_LEAST_DUE, _C.id)
    .limit(bindparam("limit", type_=Integer))
)

_OF_APPLICANT = (
    select(*_SUMMARY)
    .where(
        _C.applicant_citizen_id == bindparam("citizen_id", type_=Uuid),
        tuple_(_C.opened_at, _C.id)
        < tuple_(bindparam("before_at", type_=DateTime(timezone=True)), bindparam("before_id", type_=Uuid)),
    )
    .order_by(_C.opened_at.desc(), _C.id.desc())
    .limit(bindparam("limit", type_=Integer))
)
_APPLICANT_CURSOR = select(_C.opened_at, _C.id).where(
    _C.id == bindparam("id", type_=Uuid), _C.applicant_citizen_id == bindparam("citizen_id", type_=Uuid)
)


def _summary(row: Any) -> CaseSummary:
    return CaseSummary(**{name: row[name] for name in CaseSummary.__struct_fields__})


async def get_case(reader: Reader, case_id: uuid.UUID) -> Case:
    """The case with its data and history, in one query (404 ``case_not_found``, also for a case
    of another LAO: the reader's schema has no such row)."""
    row = await fetch_one(reader, _CASE, {"id": case_id})
    if row is None:
        raise CaseNotFound(data={"case_id": str(case_id)})
    values = dict(row)
    values["history"] = msgspec.convert(values["history"], tuple[CaseTransition, ...], strict=False)
    return Case(**values)


async def _cursor(reader: Reader, after: uuid.UUID | None) -> tuple[dt.datetime, uuid.UUID]:
    if after is None:
        return _START
    row = await fetch_one(reader, _CURSOR, {"id": after})
    if row is None:
        raise CaseNotFound("Unknown cursor.", data={"case_id": str(after)})
    return row["state_entered_at"], row["id"]


async def _run(
    reader: Reader, statement: Any, params: dict[str, Any], after: uuid.UUID | None, limit: int
) -> list[CaseSummary]:
    if not 1 <= limit <= 500:
        raise ValueError("limit is between 1 and 500")
    after_at, after_id = await _cursor(reader, after)
    rows = await fetch_all(reader, statement, {**params, "after_at": after_at, "after_id": after_id, "limit": limit})
    return [_summary(row) for row in rows]


async def inbox_by_unit(
    reader: Reader, unit_id: uuid.UUID, *, after: uuid.UUID | None = None, limit: int = 50
) -> list[CaseSummary]:
    """Open cases assigned to the unit (with or without a member), oldest arrival first."""
    return await _run(reader, _BY_UNIT, {"unit_id": unit_id}, after, limit)


async def inbox_by_staff(
    reader: Reader, staff_id: uuid.UUID, *, after: uuid.UUID | None = None, limit: int = 50
) -> list[CaseSummary]:
    """Open cases assigned to the member, oldest arrival first."""
    return await _run(reader, _BY_STAFF, {"staff_id": staff_id}, after, limit)


def actionable_states(actor: CaseActor) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The (case type, state) pairs where ``actor`` (staff) may take some action: on any case, and
    only on cases assigned to the actor's unit or a unit above it (``within_unit`` actions)."""
    anywhere: set[tuple[str, str]] = set()
    in_unit: set[tuple[str, str]] = set()
    for case_type in registered_case_types().values():
        for action in case_type.actions:
            if not action.staff or (action.permissions and not actor.permissions & set(action.permissions)):
                continue
            target = in_unit if action.within_unit else anywhere
            target.update((case_type.code, state) for state in action.from_states)
    return sorted(anywhere), sorted(in_unit - anywhere)


async def inbox_by_permission(
    reader: Reader, actor: CaseActor, *, after: uuid.UUID | None = None, limit: int = 50
) -> list[CaseSummary]:
    """Open cases on which the member may take an action now (by the permissions their roles grant
    and, for ``within_unit`` actions, their unit), of every registered case type."""
    anywhere, in_unit = actionable_states(actor) if actor.kind == "staff" else ([], [])
    params = {
        "any_types": [t for t, _ in anywhere],
        "any_states": [s for _, s in anywhere],
        "unit_types": [t for t, _ in in_unit],
        "unit_states": [s for _, s in in_unit],
        "unit_ids": list(actor.unit_ids),
    }
    return await _run(reader, _BY_PERMISSION, params, after, limit)


async def overdue(
    reader: Reader, now: dt.datetime, *, limit: int = 500, after: CaseSummary | None = None
) -> list[CaseSummary]:
    """Open cases late at ``now`` in their state or overall, the longest late first (SLA sweeps).

    ``after``: the last case of the previous page (keyset on the earlier deadline and the id), for a
    sweep that reads every late case a page at a time.
    """
    if not 1 <= limit <= 10_000:
        raise ValueError("limit is between 1 and 10,000")
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    after_due, after_id = _START
    if after is not None:
        dues = [due for due in (after.state_due_at, after.due_at) if due is not None]
        if not dues:
            raise ValueError("after must be a case with a deadline (one that overdue() returned)")
        after_due, after_id = min(dues), after.id
    rows = await fetch_all(reader, _OVERDUE, {"now": now, "limit": limit, "after_due": after_due, "after_id": after_id})
    return [_summary(row) for row in rows]


async def applicant_cases(
    reader: Reader, citizen_id: uuid.UUID, *, after: uuid.UUID | None = None, limit: int = 50
) -> list[CaseSummary]:
    """The citizen's own cases, open and closed, newest first (``after``: one of them)."""
    if not 1 <= limit <= 500:
        raise ValueError("limit is between 1 and 500")
    before_at, before_id = dt.datetime(9999, 12, 31, tzinfo=dt.UTC), uuid.UUID(int=(1 << 128) - 1)
    if after is not None:
        row = await fetch_one(reader, _APPLICANT_CURSOR, {"id": after, "citizen_id": citizen_id})
        if row is None:
            raise CaseNotFound("Unknown cursor.", data={"case_id": str(after)})
        before_at, before_id = row["opened_at"], row["id"]
    rows = await fetch_all(
        reader,
        _OF_APPLICANT,
        {"citizen_id": citizen_id, "before_at": before_at, "before_id": before_id, "limit": limit},
    )
    return [_summary(row) for row in rows]


def available_actions(case: CaseSummary, actor: CaseActor) -> list[Action]:
    """The actions ``actor`` may take on ``case`` now (what a page offers; ``act`` checks again)."""
    case_type = get_case_type(case.case_type)
    return [
        action
        for action in case_type.actions_from(case.state)
        if refusal(
            action,
            actor,
            applicant_citizen_id=case.applicant_citizen_id,
            assigned_unit_id=case.assigned_unit_id,
        )
        is None
    ]
