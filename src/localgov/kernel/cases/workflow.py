"""A case type's workflow as data (ขั้นตอนการพิจารณา): states, actions, who may take them, deadlines.

A service declares each kind of case it handles as a :class:`CaseType` on its plugin
(``ServicePlugin.case_types``): the states a case goes through, the actions that move it (from
which states, to which state, who may take them, whether a comment is required), the documents a
state requires, and the time allowed in working days, per state and overall. The definition is
checked when it is built: a :class:`CaseType` with an unreachable state, an action nobody may
take, a dead end, an unknown state, a duplicate code or a terminal state with a way out raises
:class:`WorkflowError` listing every problem, so a broken workflow never loads.

Who may take an action (for staff, every rule the action gives must hold):

- ``permissions``: staff holding a role that grants any of them (the plugin's own permissions,
  ``<slug>.<right>``, granted by its roles, as for routes);
- ``within_unit``: staff of the unit the case is assigned to, or of a unit below it. Which unit
  that is, is the LAO's choice (its default assignee per state, or an assignment): units are each
  LAO's own data, so a workflow names none;
- ``applicant``: the citizen who applied (withdraw, answer a deficiency);
- ``system``: the platform's own timers (a deadline passed).
"""

from __future__ import annotations

import re
from collections import deque
from typing import Any

import msgspec

#: A state's or an action's code.
STEP_CODE_RE = re.compile(r"^[a-z][a-z0-9_]{0,59}$")
#: A case type's code: ``<slug>.<name>``.
CASE_TYPE_CODE_RE = re.compile(r"^[a-z][a-z0-9_]{1,30}\.[a-z][a-z0-9_]{0,46}$")
#: A permission: ``<slug>.<right>`` (as :data:`localgov.kernel.plugins.CODE_RE`).
PERMISSION_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
#: A document's code (what a state requires; the service knows which files carry it).
DOCUMENT_CODE_RE = re.compile(r"^[a-z][a-z0-9_.]{0,79}$")
#: The action recorded when a case is opened (no workflow may declare it).
OPEN_ACTION = "open"
#: The most working days one state or a whole case may be given.
MAX_SLA_DAYS = 2600
_THAI = re.compile(r"[\u0e00-\u0e7f]")


class WorkflowError(ValueError):
    """A case type that cannot load, with every reason."""

    def __init__(self, code: str, problems: list[str]) -> None:
        self.code = code
        self.problems = tuple(problems)
        super().__init__(f"case type {code!r} is not a valid workflow: " + "; ".join(problems))


class State(msgspec.Struct, frozen=True, kw_only=True):
    """A state a case can be in (สถานะ)."""

    code: str
    title_th: str
    title_en: str
    #: Working days a case may stay here before it is late (None: no limit of its own).
    sla_days: int | None = None
    #: Documents (codes) that must be on file for a case to enter this state.
    required_documents: tuple[str, ...] = ()
    #: A case here is closed: no action leaves it.
    terminal: bool = False
    #: Entering this state is the decision (อนุญาต / ไม่อนุญาต): the case's ``decided_at``.
    decision: bool = False
    #: The overall time stops while the case waits here (for the applicant's missing documents:
    #: the legal time counts from a complete application); it resumes when the case leaves.
    pauses_clock: bool = False


class Action(msgspec.Struct, frozen=True, kw_only=True):
    """Something someone may do to a case in one of ``from_states``; it moves the case to ``to_state``."""

    code: str
    title_th: str
    title_en: str
    from_states: tuple[str, ...]
    to_state: str
    #: Staff holding a role that grants any of these.
    permissions: tuple[str, ...] = ()
    #: Only staff of the unit the case is assigned to (or of a unit below it).
    within_unit: bool = False
    #: The citizen who applied.
    applicant: bool = False
    #: The platform's timers (``SYSTEM`` actor).
    system: bool = False
    #: A comment (the reason) must be given.
    comment_required: bool = False

    @property
    def staff(self) -> bool:
        """Staff may take it (by permission, by unit, or both)."""
        return bool(self.permissions) or self.within_unit


class CaseType(msgspec.Struct, frozen=True, kw_only=True):
    """A kind of case (งานบริการ) and its workflow; checked when built (:class:`WorkflowError`)."""

    code: str
    title_th: str
    title_en: str
    states: tuple[State, ...]
    actions: tuple[Action, ...]
    #: The state a new case starts in.
    initial: str
    #: Working days from the opening to the decision (None: no overall limit).
    sla_days: int | None = None

    def __post_init__(self) -> None:
        problems = workflow_problems(self)
        if problems:
            raise WorkflowError(self.code, problems)

    def state(self, code: str) -> State:
        """The state ``code`` (KeyError when the workflow has none)."""
        for state in self.states:
            if state.code == code:
                return state
        raise KeyError(code)

    def action(self, code: str) -> Action | None:
        return next((a for a in self.actions if a.code == code), None)

    def actions_from(self, state: str) -> tuple[Action, ...]:
        """The actions a case in ``state`` may take (in declaration order)."""
        return tuple(a for a in self.actions if state in a.from_states)

    @property
    def permissions(self) -> frozenset[str]:
        """Every permission some action asks for."""
        return frozenset(p for a in self.actions for p in a.permissions)


def _titles(kind: str, code: str, item: Any, problems: list[str]) -> None:
    if not _THAI.search(item.title_th):
        problems.append(f"{kind} {code!r}: title_th must be Thai text")
    if not item.title_en.strip():
        problems.append(f"{kind} {code!r}: title_en is empty")


def _sla(kind: str, code: str, days: int | None, problems: list[str]) -> None:
    if days is not None and not 1 <= days <= MAX_SLA_DAYS:
        problems.append(f"{kind} {code!r}: sla_days must be between 1 and {MAX_SLA_DAYS}")


def workflow_problems(case_type: CaseType) -> list[str]:
    """Everything that makes ``case_type`` an invalid workflow (empty when it is valid)."""
    problems: list[str] = []
    if not CASE_TYPE_CODE_RE.fullmatch(case_type.code):
        problems.append(f"code {case_type.code!r} must be <slug>.<name>")
    _titles("case type", case_type.code, case_type, problems)
    _sla("case type", case_type.code, case_type.sla_days, problems)

    state_codes = [s.code for s in case_type.states]
    action_codes = [a.code for a in case_type.actions]
    if not state_codes:
        problems.append("no states")
    problems.extend(f"duplicate state code {c!r}" for c in sorted({c for c in state_codes if state_codes.count(c) > 1}))
    problems.extend(
        f"duplicate action code {c!r}" for c in sorted({c for c in action_codes if action_codes.count(c) > 1})
    )
    states = {s.code: s for s in case_type.states}
    for state in case_type.states:
        if not STEP_CODE_RE.fullmatch(state.code):
            problems.append(f"state code {state.code!r} must match {STEP_CODE_RE.pattern}")
        _titles("state", state.code, state, problems)
        _sla("state", state.code, state.sla_days, problems)
        if state.terminal and state.sla_days is not None:
            problems.append(f"terminal state {state.code!r} has an sla_days (a closed case is never late)")
        if state.terminal and state.pauses_clock:
            problems.append(f"terminal state {state.code!r} cannot pause the clock")
        problems.extend(
            f"state {state.code!r}: document code {d!r} must match {DOCUMENT_CODE_RE.pattern}"
            for d in state.required_documents
            if not DOCUMENT_CODE_RE.fullmatch(d)
        )
    if case_type.initial not in states:
        problems.append(f"initial state {case_type.initial!r} is not a state of the workflow")
    elif states[case_type.initial].terminal:
        problems.append(f"initial state {case_type.initial!r} is terminal")
    if states and not any(s.terminal for s in case_type.states):
        problems.append("no terminal state: a case could never be closed")

    for action in case_type.actions:
        where = f"action {action.code!r}"
        if action.code == OPEN_ACTION:
            problems.append(f"{where}: the code is reserved for opening a case")
        elif not STEP_CODE_RE.fullmatch(action.code):
            problems.append(f"{where}: the code must match {STEP_CODE_RE.pattern}")
        _titles("action", action.code, action, problems)
        if not action.from_states:
            problems.append(f"{where} has no from_states")
        problems.extend(f"{where} starts from unknown state {s!r}" for s in action.from_states if s not in states)
        problems.extend(
            f"{where} leaves terminal state {s!r}" for s in action.from_states if s in states and states[s].terminal
        )
        if action.to_state not in states:
            problems.append(f"{where} leads to unknown state {action.to_state!r}")
        if not (action.staff or action.applicant or action.system):
            problems.append(f"{where} has no role: nobody may take it (permissions, within_unit, applicant or system)")
        problems.extend(
            f"{where}: permission {p!r} must be <slug>.<right>"
            for p in action.permissions
            if not PERMISSION_RE.fullmatch(p)
        )

    if case_type.initial in states:
        problems.extend(_graph_problems(case_type, states))
    return problems


def _graph_problems(case_type: CaseType, states: dict[str, State]) -> list[str]:
    """Unreachable states, dead ends, and states from which no terminal state can be reached."""
    edges: dict[str, set[str]] = {code: set() for code in states}
    for action in case_type.actions:
        if action.to_state in states:
            for source in action.from_states:
                if source in states:
                    edges[source].add(action.to_state)
    reached = _closure([case_type.initial], edges)
    problems = [f"state {code!r} is unreachable from {case_type.initial!r}" for code in states if code not in reached]
    reverse: dict[str, set[str]] = {code: set() for code in states}
    for source, targets in edges.items():
        for target in targets:
            reverse[target].add(source)
    finishing = _closure([code for code, s in states.items() if s.terminal], reverse)
    for code, state in states.items():
        if state.terminal:
            continue
        if not edges[code]:
            problems.append(f"state {code!r} is a dead end: not terminal and no action leaves it")
        elif code not in finishing:
            problems.append(f"state {code!r} never leads to a terminal state")
    return problems


def _closure(starts: list[str], edges: dict[str, set[str]]) -> set[str]:
    seen = set(starts)
    queue = deque(starts)
    while queue:
        for target in edges[queue.popleft()]:
            if target not in seen:
                seen.add(target)
                queue.append(target)
    return seen
