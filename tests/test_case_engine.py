"""The case engine: workflows refused with their reasons, who may take each action (roles and
units), optimistic concurrency under real concurrency, history and audit, SLA deadlines across
weekends and holidays with a frozen clock, the LAO's own settings and days, inboxes, isolation."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from litestar import Router
from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql.psycopg2 import PGDialect_psycopg2
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from localgov.identity import units as org_admin
from localgov.identity.models import Citizen, StaffUser
from localgov.kernel import cases
from localgov.kernel.audit import Actor, AuditEvent, Origin
from localgov.kernel.auth.guards import Grants
from localgov.kernel.calendar import end_of_day, set_lao_day
from localgov.kernel.cases import Action, CaseActor, CaseType, State, WorkflowError
from localgov.kernel.cases.queries import actionable_states
from localgov.kernel.db import TenantBase, session_factory, session_for, tenant_session
from localgov.kernel.errors import DomainError
from localgov.kernel.plugins import Role, ServicePlugin, contract_violations, register_plugin_case_types
from localgov.kernel.tenancy import TenantInfo
from localgov.kernel.thai import BANGKOK
from localgov.plugins import REGISTRY
from tests.conftest import ClientFactory, host, make_settings
from tests.support.casework_plugin import CASEWORK, DECIDE, INTAKE, PERMIT, REVIEW
from tests.support.demo_plugin import DEMO
from tests.support.factories import make_tenant
from tests.support.tokens import bearer

ADMIN = Actor("staff", "00000000-0000-0000-0000-00000000a11c")
GRANTS = Grants.of(CASEWORK.roles)
FORM = ("application_form",)
ALL_DOCUMENTS = ("application_form", "site_plan")


@pytest.fixture(autouse=True, scope="module")
def _registered() -> None:
    """The tests are the composition root of the test plugin: its case type is registered."""
    register_plugin_case_types([CASEWORK])


def at(year: int, month: int, day: int, hour: int = 10) -> dt.datetime:
    """A moment in Bangkok (the frozen clock of a test)."""
    return dt.datetime(year, month, day, hour, tzinfo=BANGKOK)


def day_end(year: int, month: int, day: int) -> dt.datetime:
    return end_of_day(dt.date(year, month, day))


# --- invalid workflows ------------------------------------------------------------------------------


def _state(code: str, **extra: Any) -> State:
    return State(code=code, title_th=f"สถานะ {code}", title_en=code.title(), **extra)


def _action(code: str, sources: tuple[str, ...], target: str, **extra: Any) -> Action:
    rules = extra or {"permissions": ("tests.act",)}
    return Action(
        code=code, title_th=f"ทำ {code}", title_en=code.title(), from_states=sources, to_state=target, **rules
    )


def _workflow(states: list[State], actions: list[Action], initial: str = "new", **extra: Any) -> list[str]:
    """The problems of this workflow (building it raises :class:`WorkflowError` with all of them)."""
    with pytest.raises(WorkflowError) as refused:
        CaseType(
            code="tests.thing",
            title_th="เรื่องทดสอบ",
            title_en="Thing",
            states=tuple(states),
            actions=tuple(actions),
            initial=initial,
            **extra,
        )
    assert refused.value.code == "tests.thing"
    assert str(refused.value).startswith("case type 'tests.thing' is not a valid workflow: ")
    return list(refused.value.problems)


DONE = _state("done", terminal=True)


def test_a_valid_workflow_builds() -> None:
    thing = CaseType(
        code="tests.thing",
        title_th="เรื่องทดสอบ",
        title_en="Thing",
        states=(_state("new", sla_days=3), DONE),
        actions=(_action("finish", ("new",), "done"),),
        initial="new",
        sla_days=5,
    )
    assert cases.workflow_problems(thing) == []
    assert [a.code for a in thing.actions_from("new")] == ["finish"]
    assert thing.permissions == {"tests.act"}


def test_unreachable_states_are_refused() -> None:
    problems = _workflow(
        [_state("new"), _state("limbo"), DONE],
        [_action("finish", ("new",), "done"), _action("leave", ("limbo",), "done")],
    )
    assert problems == ["state 'limbo' is unreachable from 'new'"]


def test_actions_without_any_role_are_refused() -> None:
    problems = _workflow([_state("new"), DONE], [_action("finish", ("new",), "done", comment_required=True)])
    assert problems == [
        "action 'finish' has no role: nobody may take it (permissions, within_unit, applicant or system)"
    ]


def test_dead_ends_and_traps_are_refused() -> None:
    problems = _workflow(
        [_state("new"), _state("stuck"), _state("loop_a"), _state("loop_b"), DONE],
        [
            _action("finish", ("new",), "done"),
            _action("park", ("new",), "stuck"),
            _action("spin", ("new",), "loop_a"),
            _action("turn", ("loop_a",), "loop_b"),
            _action("back", ("loop_b",), "loop_a"),
        ],
    )
    assert problems == [
        "state 'stuck' is a dead end: not terminal and no action leaves it",
        "state 'loop_a' never leads to a terminal state",
        "state 'loop_b' never leads to a terminal state",
    ]


def test_unknown_states_in_actions_are_refused() -> None:
    problems = _workflow(
        [_state("new"), DONE],
        [_action("finish", ("new",), "done"), _action("jump", ("nowhere",), "elsewhere")],
    )
    assert "action 'jump' starts from unknown state 'nowhere'" in problems
    assert "action 'jump' leads to unknown state 'elsewhere'" in problems
    assert _workflow([_state("new"), DONE], [_action("finish", ("new",), "done")], initial="start") == [
        "initial state 'start' is not a state of the workflow"
    ]


def test_duplicate_codes_are_refused() -> None:
    problems = _workflow(
        [_state("new"), _state("new"), DONE],
        [_action("finish", ("new",), "done"), _action("finish", ("new",), "done")],
    )
    assert problems == ["duplicate state code 'new'", "duplicate action code 'finish'"]


def test_terminal_states_with_a_way_out_are_refused() -> None:
    problems = _workflow(
        [_state("new"), DONE, _state("archived", terminal=True)],
        [
            _action("finish", ("new",), "done"),
            _action("reopen", ("done",), "new"),
            _action("archive", ("new",), "archived"),
        ],
    )
    assert problems == ["action 'reopen' leaves terminal state 'done'"]


def test_every_problem_is_listed_at_once_with_the_smaller_rules() -> None:
    problems = _workflow(
        [
            State(code="New", title_th="English", title_en=" ", sla_days=0),
            _state("done", terminal=True, sla_days=3, pauses_clock=True, required_documents=("Bad Code",)),
        ],
        [
            Action(code="open", title_th="เปิด", title_en="Open", from_states=(), to_state="done", system=True),
            _action("finish", ("New",), "done", permissions=("nodot",)),
        ],
        initial="New",
        sla_days=9999,
    )
    assert problems == [
        "case type 'tests.thing': sla_days must be between 1 and 2600",
        "state code 'New' must match ^[a-z][a-z0-9_]{0,59}$",
        "state 'New': title_th must be Thai text",
        "state 'New': title_en is empty",
        "state 'New': sla_days must be between 1 and 2600",
        "terminal state 'done' has an sla_days (a closed case is never late)",
        "terminal state 'done' cannot pause the clock",
        "state 'done': document code 'Bad Code' must match ^[a-z][a-z0-9_.]{0,79}$",
        "action 'open': the code is reserved for opening a case",
        "action 'open' has no from_states",
        "action 'finish': permission 'nodot' must be <slug>.<right>",
    ]
    assert _workflow([_state("new"), _state("other")], [_action("go", ("new",), "other")]) == [
        "no terminal state: a case could never be closed",
        "state 'new' never leads to a terminal state",
        "state 'other' is a dead end: not terminal and no action leaves it",
    ]
    assert _workflow([DONE], [], initial="done") == ["initial state 'done' is terminal"]


# --- the plugin contract and the registry -----------------------------------------------------------


def test_the_test_plugin_fulfils_the_contract() -> None:
    plugins = [*REGISTRY, DEMO, CASEWORK]
    assert contract_violations(CASEWORK, TenantBase.metadata.tables, others=plugins) == []


def test_the_contract_checks_case_types() -> None:
    other_slug = CaseType(
        code="permits.building",
        title_th="ใบอนุญาตก่อสร้าง",
        title_en="Building permit",
        states=(_state("new"), DONE),
        actions=(_action("finish", ("new",), "done", permissions=("casework.nobody_has_it",)),),
        initial="new",
    )
    plugin = ServicePlugin(
        slug="casework",
        title_th="งานคำขอทดสอบ",
        title_en="Test casework",
        router=Router(path="/v1/casework", route_handlers=[]),
        roles=(Role(code="casework.clerk", title_th="เจ้าหน้าที่", title_en="Clerk", permissions=(INTAKE,)),),
        case_types=(PERMIT, other_slug, PERMIT),
    )
    copycat = ServicePlugin(
        slug="copycat",
        title_th="ลอกแบบ",
        title_en="Copycat",
        router=Router(path="/v1/copycat", route_handlers=[]),
        case_types=(PERMIT,),
    )
    problems = contract_violations(plugin, TenantBase.metadata.tables, others=[plugin, copycat])
    assert "duplicate case type codes" in problems
    assert "case type 'permits.building' must be casework.<name>" in problems
    assert f"case type casework.permit: permission {REVIEW!r} is granted by no role of the plugin" in problems
    assert f"case type casework.permit: permission {DECIDE!r} is granted by no role of the plugin" in problems
    assert (
        "case type permits.building: permission 'casework.nobody_has_it' is granted by no role of the plugin"
        in problems
    )
    assert "case type 'casework.permit' is also declared by copycat" in problems


def test_the_registry_finds_types_by_code() -> None:
    assert cases.get_case_type("casework.permit") is PERMIT
    assert cases.registered_case_types()["casework.permit"] is PERMIT
    cases.register_case_types([PERMIT])  # again: nothing changes
    impostor = CaseType(
        code="casework.permit",
        title_th="อื่น",
        title_en="Another",
        states=(_state("new"), DONE),
        actions=(_action("finish", ("new",), "done"),),
        initial="new",
    )
    with pytest.raises(ValueError, match="registered already"):
        cases.register_case_types([impostor])
    assert cases.get_case_type("casework.permit") is PERMIT
    with pytest.raises(cases.UnknownCaseType) as unknown:
        cases.get_case_type("casework.nothing")
    assert (unknown.value.code, unknown.value.status) == ("case_type_not_found", 404)


# --- an LAO with staff in units, and citizens -------------------------------------------------------


@dataclass
class World:
    tenant: TenantInfo
    factory: async_sessionmaker[AsyncSession]
    units: dict[str, uuid.UUID]
    staff: dict[str, uuid.UUID]
    citizens: dict[str, uuid.UUID]
    actors: dict[str, CaseActor]

    def session(self) -> Any:
        return tenant_session(self.factory, self.tenant)


#: Who works where, with which role.
PEOPLE: dict[str, tuple[str | None, tuple[str, ...]]] = {
    "clerk": ("counter", ("casework.clerk",)),
    "engineer": ("plans", ("casework.engineer",)),  # in a ฝ่าย under the engineering division
    "outsider": ("finance", ("casework.engineer",)),  # an engineer of another division
    "idle": ("engineering", ()),  # of the division, without a role of the service
    "chief": (None, ("casework.chief",)),
}


async def make_world(engine: AsyncEngine, *, services: tuple[str, ...] = ()) -> World:
    tenant = await make_tenant(engine, services=services)
    factory = session_factory(engine)
    units: dict[str, uuid.UUID] = {}
    staff: dict[str, uuid.UUID] = {}
    citizens: dict[str, uuid.UUID] = {}
    actors: dict[str, CaseActor] = {}
    async with tenant_session(factory, tenant) as session:
        for code, kind, parent in (
            ("counter", "secretary_office", None),
            ("engineering", "division", None),
            ("plans", "subdivision", "engineering"),
            ("finance", "division", None),
        ):
            view = await org_admin.create_unit(
                session,
                code=code,
                name_th=f"หน่วย {code}",
                name_en=None,
                kind=kind,
                parent_id=units[parent] if parent else None,
                actor=ADMIN,
                origin=Origin(),
            )
            units[code] = view.unit.id
        for name, (unit, _) in PEOPLE.items():
            user = StaffUser(
                email=f"{name}@{tenant.slug}.example",
                full_name=f"เจ้าหน้าที่ {name}",
                status="active",
                unit_id=units[unit] if unit else None,
            )
            session.add(user)
            await session.flush()
            staff[name] = user.id
        for name in ("applicant", "stranger"):
            citizen = Citizen(issuer="https://id.example", subject=f"{name}-{tenant.slug}", name=f"นาย {name}")
            session.add(citizen)
            await session.flush()
            citizens[name] = citizen.id
        for name, (_, roles) in PEOPLE.items():
            actors[name] = await cases.staff_actor(session, staff[name], GRANTS.permissions_of(roles))
    actors["applicant"] = cases.citizen_actor(citizens["applicant"])
    actors["stranger"] = cases.citizen_actor(citizens["stranger"])
    actors["system"] = cases.SYSTEM
    return World(tenant, factory, units, staff, citizens, actors)


async def open_permit(w: World, session: AsyncSession, now: dt.datetime, **extra: Any) -> cases.Case:
    values: dict[str, Any] = {
        "actor": w.actors["applicant"],
        "now": now,
        "applicant_name": "นาย applicant",
        "applicant_citizen_id": w.citizens["applicant"],
        "documents": FORM,
    }
    values.update(extra)
    return await cases.open_case(session, PERMIT, **values)


async def route_review_to_engineering(w: World) -> None:
    async with w.session() as session:
        await cases.set_case_type_setting(
            session, PERMIT, "review", assignee_unit_id=w.units["engineering"], actor=ADMIN, origin=Origin()
        )


#: How to bring a new case to each state: (action, actor) steps from ``submitted``.
PATHS: dict[str, list[tuple[str, str]]] = {
    "submitted": [],
    "review": [("accept", "clerk")],
    "decision": [("accept", "clerk"), ("recommend", "engineer")],
    "awaiting_applicant": [("request_documents", "clerk")],
}


async def drive(w: World, session: AsyncSession, case: cases.Case, steps: list[tuple[str, str]]) -> cases.Case:
    for action, who in steps:
        case = await cases.act(
            session,
            case.id,
            action,
            actor=w.actors[who],
            expected_version=case.version,
            now=at(2026, 3, 9),
            comment="เหตุผล",
            documents=ALL_DOCUMENTS,
        )
    return case


# --- who may take each action -------------------------------------------------------------------

#: For each action (from the state it is tried in): who may take it; everyone else is refused
#: with the reason given (the default of the row for anyone not listed).
MATRIX: list[tuple[str, str, set[str], dict[str, str]]] = [
    ("accept", "submitted", {"clerk"}, {"applicant": "not_for_citizens", "system": "not_for_system"}),
    ("request_documents", "submitted", {"clerk"}, {"stranger": "not_for_citizens"}),
    ("resubmit", "awaiting_applicant", {"applicant"}, {"stranger": "not_the_applicant", "clerk": "not_for_staff"}),
    ("expire", "awaiting_applicant", {"system"}, {"clerk": "not_for_staff", "applicant": "not_for_citizens"}),
    (
        "recommend",
        "review",
        {"engineer"},
        {"outsider": "not_of_the_assigned_unit", "idle": "missing_permission", "system": "not_for_system"},
    ),
    ("approve", "decision", {"chief"}, {"engineer": "missing_permission", "applicant": "not_for_citizens"}),
    ("refuse", "decision", {"chief"}, {"clerk": "missing_permission"}),
    ("withdraw", "submitted", {"applicant"}, {"stranger": "not_the_applicant", "chief": "not_for_staff"}),
    ("withdraw", "review", {"applicant"}, {"engineer": "not_for_staff"}),
]
EVERYONE = ("clerk", "engineer", "outsider", "idle", "chief", "applicant", "stranger", "system")


def _default_reason(action: str, who: str) -> str:
    kind = {"applicant": "citizen", "stranger": "citizen", "system": "system"}.get(who, "staff")
    step = PERMIT.action(action)
    assert step is not None
    if kind == "system":
        return "not_for_system"
    if kind == "citizen":
        return "not_for_citizens" if not step.applicant else "not_the_applicant"
    return "not_for_staff" if not step.staff else "missing_permission"


async def test_who_may_take_each_action(engine: AsyncEngine) -> None:
    w = await make_world(engine)
    await route_review_to_engineering(w)
    for action, state, allowed, reasons in MATRIX:
        for who in EVERYONE:
            # Each attempt on a case of its own, in a transaction rolled back afterwards.
            session = session_for(w.factory, w.tenant)
            try:
                case = await drive(w, session, await open_permit(w, session, at(2026, 3, 9)), PATHS[state])
                assert case.state == state
                outcome: tuple[Any, ...]
                try:
                    after = await cases.act(
                        session,
                        case.id,
                        action,
                        actor=w.actors[who],
                        expected_version=case.version,
                        now=at(2026, 3, 10),
                        comment="เหตุผล",
                        documents=ALL_DOCUMENTS,
                    )
                    outcome = ("done", after.state)
                except cases.ActionForbidden as refused:
                    outcome = ("refused", refused.status, refused.data)
                step = PERMIT.action(action)
                assert step is not None
                if who in allowed:
                    assert outcome == ("done", step.to_state), (action, state, who)
                else:
                    reason = reasons.get(who, _default_reason(action, who))
                    assert outcome == ("refused", 403, {"action": action, "reason": reason}), (action, state, who)
            finally:
                await session.rollback()
                await session.close()


async def test_the_unit_rule_follows_the_assignment(engine: AsyncEngine) -> None:
    """``within_unit``: staff of the unit the case is assigned to or of a unit below it; an
    unassigned case, or one assigned elsewhere, cannot be recommended by anyone."""
    w = await make_world(engine)
    async with w.session() as session:
        case = await drive(w, session, await open_permit(w, session, at(2026, 3, 9)), PATHS["review"])
        assert case.assigned_unit_id is None  # no default assignee for review in this LAO
        with pytest.raises(cases.ActionForbidden) as refused:
            await cases.act(
                session,
                case.id,
                "recommend",
                actor=w.actors["engineer"],
                expected_version=case.version,
                now=at(2026, 3, 9),
            )
        assert refused.value.data == {"action": "recommend", "reason": "not_of_the_assigned_unit"}
        case = await cases.assign(
            session,
            case.id,
            unit_id=w.units["finance"],
            staff_id=None,
            actor=w.actors["chief"],
            expected_version=case.version,
        )
        assert cases.available_actions(case, w.actors["outsider"])[0].code == "recommend"
        assert [a.code for a in cases.available_actions(case, w.actors["engineer"])] == []
        assert [a.code for a in cases.available_actions(case, w.actors["applicant"])] == ["withdraw"]
        case = await cases.assign(
            session,
            case.id,
            unit_id=w.units["plans"],
            staff_id=w.staff["engineer"],
            actor=w.actors["chief"],
            expected_version=case.version,
        )
        case = await cases.act(
            session, case.id, "recommend", actor=w.actors["engineer"], expected_version=case.version, now=at(2026, 3, 9)
        )
        assert case.state == "decision"


# --- refusals ---------------------------------------------------------------------------------------


async def test_refusals_have_stable_codes(engine: AsyncEngine) -> None:
    w = await make_world(engine)
    async with w.session() as session:
        case = await open_permit(w, session, at(2026, 3, 9))

        async def attempt(action: str, who: str, **extra: Any) -> DomainError:
            values: dict[str, Any] = {"expected_version": case.version, "now": at(2026, 3, 9)}
            values.update(extra)
            with pytest.raises(DomainError) as refused:
                await cases.act(session, case.id, action, actor=w.actors[who], **values)
            return refused.value

        unavailable = await attempt("approve", "chief")
        assert (unavailable.code, unavailable.status) == ("case_action_unavailable", 409)
        assert unavailable.data == {
            "state": "submitted",
            "action": "approve",
            "available": ["accept", "request_documents", "withdraw"],
        }
        assert (await attempt("fly", "chief")).code == "case_action_unavailable"
        stale = await attempt("accept", "clerk", expected_version=7)
        assert (stale.code, stale.status, stale.data) == (
            "case_version_conflict",
            409,
            {"expected_version": 7, "version": 1},
        )
        needs_comment = await attempt("request_documents", "clerk", comment="   ")
        assert (needs_comment.code, needs_comment.status) == ("case_comment_required", 422)
        too_long = await attempt("request_documents", "clerk", comment="ก" * 4001)
        assert (too_long.code, too_long.status) == ("case_invalid", 400)
        missing = await attempt("accept", "clerk", documents=["application_form"])
        assert (missing.code, missing.status, missing.data) == (
            "case_documents_missing",
            422,
            {"state": "review", "missing": ["site_plan"]},
        )
        with pytest.raises(cases.CaseNotFound) as unknown:
            await cases.act(
                session, uuid.uuid4(), "accept", actor=w.actors["clerk"], expected_version=1, now=at(2026, 3, 9)
            )
        assert (unknown.value.code, unknown.value.status) == ("case_not_found", 404)


async def test_opening_checks_its_input(engine: AsyncEngine) -> None:
    w = await make_world(engine)
    async with w.session() as session:
        for field, value in (("applicant_name", "  "), ("applicant_name", "a\nb"), ("tracking_number", "x" * 41)):
            with pytest.raises(cases.InvalidCaseInput) as refused:
                await open_permit(w, session, at(2026, 3, 9), **{field: value})
            assert refused.value.data == {"field": field}
        with pytest.raises(cases.InvalidCaseInput) as refused:
            await open_permit(w, session, at(2026, 3, 9), applicant_citizen_id=uuid.uuid4())
        assert refused.value.data == {"field": "applicant_citizen_id"}
        with pytest.raises(cases.DocumentsMissing) as missing:
            await open_permit(w, session, at(2026, 3, 9), documents=())
        assert missing.value.data == {"state": "submitted", "missing": ["application_form"]}
        first = await open_permit(w, session, at(2026, 3, 9), tracking_number="OSS-2569-000001")
        assert first.tracking_number == "OSS-2569-000001"
        with pytest.raises(cases.TrackingNumberTaken) as taken:
            await open_permit(w, session, at(2026, 3, 9), tracking_number="OSS-2569-000001")
        assert (taken.value.code, taken.value.status) == ("case_tracking_number_taken", 409)
        # A walk-in: a name, no citizen account; opened by the counter clerk.
        walk_in = await open_permit(
            w, session, at(2026, 3, 9), actor=w.actors["clerk"], applicant_citizen_id=None, applicant_name="นางสมศรี"
        )
        assert (walk_in.applicant_citizen_id, walk_in.applicant_name) == (None, "นางสมศรี")
        assert walk_in.history[0].actor_kind == "staff"
        unregistered = CaseType(
            code="casework.unregistered",
            title_th="ไม่ได้ลงทะเบียน",
            title_en="Unregistered",
            states=(_state("new"), DONE),
            actions=(_action("finish", ("new",), "done"),),
            initial="new",
        )
        with pytest.raises(cases.UnknownCaseType):
            await cases.open_case(session, unregistered, actor=cases.SYSTEM, now=at(2026, 3, 9), applicant_name="x")


# --- history and audit -----------------------------------------------------------------------------


async def test_every_transition_is_recorded_and_audited(engine: AsyncEngine) -> None:
    w = await make_world(engine)
    await route_review_to_engineering(w)
    origin = Origin(source_ip="192.0.2.44", request_id="req-1")
    async with w.session() as session:
        case = await open_permit(w, session, at(2026, 3, 9, 9), data={"area_m2": 120}, origin=origin)
        assert (case.version, case.state, case.data) == (1, "submitted", {"area_m2": 120})
        steps = [
            ("accept", "clerk", None, at(2026, 3, 9, 11)),
            ("recommend", "engineer", "ผ่านการตรวจแบบ", at(2026, 3, 10, 14)),
            ("refuse", "chief", "ที่ดินอยู่ในเขตห้ามก่อสร้าง", at(2026, 3, 11, 16)),
        ]
        for action, who, comment, now in steps:
            case = await cases.act(
                session,
                case.id,
                action,
                actor=w.actors[who],
                expected_version=case.version,
                now=now,
                comment=comment,
                documents=ALL_DOCUMENTS,
                data={"step": action},
                origin=origin,
            )
        audit = (
            await session.execute(
                select(
                    AuditEvent.action, AuditEvent.actor_kind, AuditEvent.actor_id, AuditEvent.target, AuditEvent.data
                )
                .where(AuditEvent.target == f"case:{case.id}")
                .order_by(AuditEvent.id)
            )
        ).all()
    assert (case.state, case.version, case.closed) == ("refused", 4, True)
    assert case.data == {"area_m2": 120, "step": "refuse"}
    assert (case.decided_at, case.closed_at) == (at(2026, 3, 11, 16), at(2026, 3, 11, 16))
    assert case.state_due_at is None
    history = [
        (t.seq, t.action, t.from_state, t.to_state, t.actor_kind, t.actor_id, t.at, t.comment) for t in case.history
    ]
    assert history == [
        (1, "open", None, "submitted", "citizen", w.citizens["applicant"], at(2026, 3, 9, 9), None),
        (2, "accept", "submitted", "review", "staff", w.staff["clerk"], at(2026, 3, 9, 11), None),
        (3, "recommend", "review", "decision", "staff", w.staff["engineer"], at(2026, 3, 10, 14), "ผ่านการตรวจแบบ"),
        (4, "refuse", "decision", "refused", "staff", w.staff["chief"], at(2026, 3, 11, 16), "ที่ดินอยู่ในเขตห้ามก่อสร้าง"),
    ]
    assert [(a.action, a.actor_kind, a.actor_id) for a in audit] == [
        ("case.opened", "citizen", str(w.citizens["applicant"])),
        ("case.transition", "staff", str(w.staff["clerk"])),
        ("case.transition", "staff", str(w.staff["engineer"])),
        ("case.transition", "staff", str(w.staff["chief"])),
    ]
    assert audit[0].data == {"case_type": "casework.permit", "state": "submitted", "tracking_number": None}
    assert audit[-1].data == {
        "case_type": "casework.permit",
        "action": "refuse",
        "from": "decision",
        "to": "refused",
        "version": 4,
    }
    # A closed case takes no more action, and is not assigned.
    async with w.session() as session:
        with pytest.raises(cases.ActionUnavailable):
            await cases.act(
                session, case.id, "approve", actor=w.actors["chief"], expected_version=4, now=at(2026, 3, 12)
            )
        with pytest.raises(cases.ActionUnavailable):
            await cases.assign(
                session, case.id, unit_id=None, staff_id=None, actor=w.actors["chief"], expected_version=4
            )


# --- concurrency -------------------------------------------------------------------------------------


async def test_two_officers_acting_at_once_one_wins(database_url: str) -> None:
    """Two sessions on two connections take the same case's action against the same version at
    the same time: exactly one commits, the other gets 409 ``case_version_conflict``."""
    from localgov.kernel.db import create_engine

    engine = create_engine(make_settings(database_url, db_pool_size=4, db_max_overflow=0))
    try:
        w = await make_world(engine)
        for _ in range(5):
            async with w.session() as session:
                case = await open_permit(w, session, at(2026, 3, 9))

            async def decide(action: str, comment: str | None, case: cases.Case = case) -> str:
                try:
                    async with w.session() as session:
                        after = await cases.act(
                            session,
                            case.id,
                            action,
                            actor=w.actors["clerk"],
                            expected_version=case.version,
                            now=at(2026, 3, 9, 11),
                            comment=comment,
                            documents=ALL_DOCUMENTS,
                        )
                    return after.state
                except cases.CaseVersionConflict as lost:
                    return f"{lost.code} {lost.status}"

            outcome = await asyncio.gather(decide("accept", None), decide("request_documents", "ขาดแบบแปลน"))
            assert sorted(outcome, key=lambda s: s == "case_version_conflict 409") in (
                ["review", "case_version_conflict 409"],
                ["awaiting_applicant", "case_version_conflict 409"],
            )
            async with w.session() as session:
                stored = await cases.get_case(session, case.id)
            assert stored.version == 2
            assert len(stored.history) == 2
            assert stored.state in outcome
    finally:
        await engine.dispose()


async def test_the_loser_is_refused_by_the_conditional_update_itself(database_url: str) -> None:
    """Both read version 1; the second's UPDATE waits for the first's row lock, then finds the row
    at version 2: PostgreSQL re-checks ``version = 1`` on the committed row and updates nothing."""
    from localgov.kernel.db import create_engine

    engine = create_engine(make_settings(database_url, db_pool_size=4, db_max_overflow=0))
    try:
        w = await make_world(engine)
        async with w.session() as session:
            case = await open_permit(w, session, at(2026, 3, 9))
        first, second = session_for(w.factory, w.tenant), session_for(w.factory, w.tenant)
        try:
            await first.begin()
            await second.begin()
            second_pid = (await second.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            # Both see version 1 before either writes.
            for session in (first, second):
                assert (await cases.get_case(session, case.id)).version == 1
            won = await cases.act(
                first,
                case.id,
                "accept",
                actor=w.actors["clerk"],
                expected_version=1,
                now=at(2026, 3, 9, 11),
                documents=ALL_DOCUMENTS,
            )
            losing = asyncio.ensure_future(
                cases.act(
                    second,
                    case.id,
                    "request_documents",
                    actor=w.actors["clerk"],
                    expected_version=1,
                    now=at(2026, 3, 9, 11),
                    comment="ขาดแบบแปลน",
                )
            )
            # Wait (without sleeping) until the second's UPDATE is blocked on the first's row lock.
            async with engine.connect() as watcher:
                for _ in range(10_000):
                    state = (
                        await watcher.execute(
                            text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid"), {"pid": second_pid}
                        )
                    ).scalar_one_or_none()
                    if state == "Lock":
                        break
                    await asyncio.sleep(0)
                else:
                    pytest.fail("the second update never waited for the first")
            await first.commit()
            with pytest.raises(cases.CaseVersionConflict) as lost:
                await losing
            assert lost.value.data == {"expected_version": 1, "version": 2}
            await second.rollback()
        finally:
            await first.close()
            await second.close()
        assert won.version == 2
        async with w.session() as session:
            stored = await cases.get_case(session, case.id)
        assert (stored.state, stored.version, [t.action for t in stored.history]) == ("review", 2, ["open", "accept"])
    finally:
        await engine.dispose()


# --- deadlines --------------------------------------------------------------------------------------


async def test_deadlines_count_working_days_across_weekends_and_holidays(engine: AsyncEngine) -> None:
    w = await make_world(engine)
    async with w.session() as session:
        # Thursday 26 February 2026; Tuesday 3 March is Makha Bucha.
        case = await open_permit(w, session, at(2026, 2, 26, 15))
        assert case.state_due_at == day_end(2026, 2, 27)  # submitted: 1 working day
        assert case.due_at == day_end(2026, 3, 13)  # 10 working days
        # Friday 27 February: documents are missing; the overall clock stops.
        case = await cases.act(
            session,
            case.id,
            "request_documents",
            actor=w.actors["clerk"],
            expected_version=case.version,
            now=at(2026, 2, 27, 9),
            comment="ขาดแผนผังบริเวณ",
        )
        assert case.due_at is None
        assert case.state_due_at == day_end(2026, 3, 11)  # 7 working days for the applicant
        # Tuesday 10 March: the applicant resubmits after 6 working days (2, 4, 5, 6, 9, 10 March).
        case = await cases.act(
            session,
            case.id,
            "resubmit",
            actor=w.actors["applicant"],
            expected_version=case.version,
            now=at(2026, 3, 10, 13),
            documents=ALL_DOCUMENTS,
        )
        assert case.paused_days == 6
        assert case.state_due_at == day_end(2026, 3, 11)
        assert case.due_at == day_end(2026, 3, 23)  # 10 + 6 working days after 26 February
        # Accepted on Friday 10 April: 5 days of review skip Songkran (13-15 April).
        case = await cases.act(
            session,
            case.id,
            "accept",
            actor=w.actors["clerk"],
            expected_version=case.version,
            now=at(2026, 4, 10, 16),
            documents=ALL_DOCUMENTS,
        )
        assert case.state_entered_at == at(2026, 4, 10, 16)
        assert case.state_due_at == day_end(2026, 4, 22)
        assert case.due_at == day_end(2026, 3, 23)
        assert case.overdue(at(2026, 4, 10, 16))


async def test_a_case_opened_with_its_own_time_limit_keeps_it(engine: AsyncEngine) -> None:
    """``open_case(..., sla_days=)`` replaces the type's overall limit and the LAO's setting of it,
    for that case, through every transition (the paused clock moves it as for any case)."""
    w = await make_world(engine)
    async with w.session() as session:
        await cases.set_case_type_setting(session, PERMIT, None, sla_days=20, actor=ADMIN, origin=Origin())
        # Thursday 26 February 2026; Tuesday 3 March is Makha Bucha: 3 working days end on 4 March.
        own = await open_permit(w, session, at(2026, 2, 26, 15), sla_days=3)
        typed = await open_permit(w, session, at(2026, 2, 26, 15))
        assert (own.sla_days, own.due_at) == (3, day_end(2026, 3, 4))
        assert (typed.sla_days, typed.due_at) == (None, day_end(2026, 3, 27))  # the LAO's 20 days
        own = await cases.act(
            session,
            own.id,
            "request_documents",
            actor=w.actors["clerk"],
            expected_version=own.version,
            now=at(2026, 2, 27, 9),
            comment="ขาดแผนผังบริเวณ",
        )
        assert own.due_at is None
        own = await cases.act(
            session,
            own.id,
            "resubmit",
            actor=w.actors["applicant"],
            expected_version=own.version,
            now=at(2026, 3, 10, 13),
            documents=ALL_DOCUMENTS,
        )
        assert own.paused_days == 6
        assert (own.sla_days, own.due_at) == (3, day_end(2026, 3, 12))  # 3 + 6 working days after 26 Feb
        for bad in (0, 2601):
            with pytest.raises(cases.InvalidCaseInput):
                await open_permit(w, session, at(2026, 2, 26), sla_days=bad)


async def test_the_sla_sweep_finds_late_open_cases(engine: AsyncEngine) -> None:
    w = await make_world(engine)
    async with w.session() as session:
        on_time = await open_permit(w, session, at(2026, 2, 26))  # due in its state by the end of 27 Feb
        paused = await drive(w, session, await open_permit(w, session, at(2026, 2, 26)), PATHS["awaiting_applicant"])
        closed = await drive(w, session, await open_permit(w, session, at(2026, 2, 26)), [("withdraw", "applicant")])
        assert closed.closed
        assert await cases.overdue(session, day_end(2026, 2, 27) - dt.timedelta(seconds=1)) == []
        late = await cases.overdue(session, day_end(2026, 2, 27))
        assert [c.id for c in late] == [on_time.id]
        assert late[0].overdue(day_end(2026, 2, 27))
        assert not late[0].overdue(day_end(2026, 2, 27) - dt.timedelta(microseconds=1))
        # The paused case has no overall deadline, but its own: 7 working days from 9 March.
        assert paused.due_at is None
        assert paused.state_due_at == day_end(2026, 3, 18)
        assert [c.id for c in await cases.overdue(session, day_end(2026, 3, 18))] == [on_time.id, paused.id]
        assert [c.id for c in await cases.overdue(session, day_end(2026, 3, 18), limit=1)] == [on_time.id]
        # The platform's timer returns the paused case: closed, it is no longer late.
        await cases.act(
            session, paused.id, "expire", actor=cases.SYSTEM, expected_version=paused.version, now=day_end(2026, 3, 18)
        )
        assert [c.id for c in await cases.overdue(session, day_end(2026, 3, 18))] == [on_time.id]


async def test_an_lao_sets_its_own_time_limits_assignees_and_days_off(engine: AsyncEngine) -> None:
    w = await make_world(engine)
    async with w.session() as session:
        await cases.set_case_type_setting(session, PERMIT, None, sla_days=20, actor=ADMIN, origin=Origin())
        await cases.set_case_type_setting(
            session,
            PERMIT,
            "review",
            sla_days=3,
            assignee_unit_id=w.units["plans"],
            assignee_staff_id=w.staff["engineer"],
            actor=ADMIN,
            origin=Origin(),
        )
        # The LAO's own day off, Friday 27 February.
        await set_lao_day(
            session, dt.date(2026, 2, 27), working=False, note_th="งานประจำปี", actor=ADMIN, origin=Origin()
        )
        settings = await cases.case_type_settings(session, PERMIT)
        assert settings == {
            "": cases.StateSetting(state="", sla_days=20),
            "review": cases.StateSetting(
                state="review", sla_days=3, assignee_unit_id=w.units["plans"], assignee_staff_id=w.staff["engineer"]
            ),
        }
        case = await open_permit(w, session, at(2026, 2, 26))
        assert case.state_due_at == day_end(2026, 3, 2)  # not the 27th: the LAO is closed
        assert case.due_at == day_end(2026, 3, 30)  # 20 working days, without 27 Feb and 3 March
        assert (case.assigned_unit_id, case.assigned_staff_id) == (None, None)
        case = await cases.act(
            session,
            case.id,
            "accept",
            actor=w.actors["clerk"],
            expected_version=case.version,
            now=at(2026, 3, 2),
            documents=ALL_DOCUMENTS,
        )
        assert (case.assigned_unit_id, case.assigned_staff_id) == (w.units["plans"], w.staff["engineer"])
        assert case.state_due_at == day_end(2026, 3, 6)  # 3 working days: 4, 5, 6 March
        # Back to the workflow's own limits: from the next transition on.
        assert await cases.set_case_type_setting(session, PERMIT, None, actor=ADMIN, origin=Origin()) is None
        case = await cases.act(
            session,
            case.id,
            "recommend",
            actor=w.actors["engineer"],
            expected_version=case.version,
            now=at(2026, 3, 4),
        )
        assert case.due_at == day_end(2026, 3, 16)  # 10 working days after 26 Feb, without 27 Feb and 3 March
        assert case.state_due_at == day_end(2026, 3, 6)  # decision: 2 working days
        # The recommendation does not change the assignee (no setting for "decision").
        assert case.assigned_staff_id == w.staff["engineer"]
        audit = (
            await session.execute(
                select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "case_type.setting_changed")
            )
        ).scalar_one()
        assert audit == 3


@pytest.mark.parametrize(
    ("state", "values", "code"),
    [
        ("nowhere", {"sla_days": 3}, "case_invalid"),
        ("approved", {"sla_days": 3}, "case_invalid"),
        (None, {"assignee_staff_id": "engineer"}, "case_invalid"),
        ("review", {"sla_days": 0}, "case_invalid"),
        ("review", {"sla_days": 2601}, "case_invalid"),
        ("review", {"assignee_unit_id": "elsewhere"}, "case_assignee_invalid"),
        ("review", {"assignee_staff_id": "elsewhere"}, "case_assignee_invalid"),
        ("review", {"assignee_unit_id": "finance", "assignee_staff_id": "engineer"}, "case_assignee_invalid"),
    ],
)
async def test_bad_settings_are_refused(
    engine: AsyncEngine, state: str | None, values: dict[str, Any], code: str
) -> None:
    w = await make_world(engine)
    resolved: dict[str, Any] = {}
    for key, value in values.items():
        if key == "assignee_unit_id":
            resolved[key] = uuid.uuid4() if value == "elsewhere" else w.units[value]
        elif key == "assignee_staff_id":
            resolved[key] = uuid.uuid4() if value == "elsewhere" else w.staff[value]
        else:
            resolved[key] = value
    async with w.session() as session:
        with pytest.raises(DomainError) as refused:
            await cases.set_case_type_setting(session, PERMIT, state, actor=ADMIN, origin=Origin(), **resolved)
    assert refused.value.code == code


# --- assignment and inboxes -------------------------------------------------------------------------


async def test_assignment_is_checked_versioned_and_audited(engine: AsyncEngine) -> None:
    w = await make_world(engine)
    async with w.session() as session:
        case = await open_permit(w, session, at(2026, 3, 9))
        case = await cases.assign(
            session,
            case.id,
            unit_id=w.units["engineering"],
            staff_id=w.staff["engineer"],
            actor=w.actors["chief"],
            expected_version=1,
        )
        assert (case.version, case.assigned_unit_id, case.assigned_staff_id) == (
            2,
            w.units["engineering"],
            w.staff["engineer"],
        )
        assert [t.action for t in case.history] == ["open"]  # an assignment is not a step of the workflow
        for unit, member, reason in (
            (w.units["finance"], w.staff["engineer"], "staff_not_in_unit"),
            (uuid.uuid4(), None, "unit_not_found_or_inactive"),
            (None, uuid.uuid4(), "staff_not_found_or_disabled"),
        ):
            with pytest.raises(cases.AssigneeInvalid) as refused:
                await cases.assign(
                    session, case.id, unit_id=unit, staff_id=member, actor=w.actors["chief"], expected_version=2
                )
            assert refused.value.data["reason"] == reason  # type: ignore[index]
        with pytest.raises(cases.CaseVersionConflict):
            await cases.assign(
                session, case.id, unit_id=None, staff_id=None, actor=w.actors["chief"], expected_version=1
            )
        case = await cases.assign(
            session, case.id, unit_id=None, staff_id=None, actor=w.actors["chief"], expected_version=2
        )
        assert (case.version, case.assigned_unit_id, case.assigned_staff_id) == (3, None, None)
        audit = (
            (
                await session.execute(
                    select(AuditEvent.data).where(AuditEvent.action == "case.assigned").order_by(AuditEvent.id)
                )
            )
            .scalars()
            .all()
        )
    assert audit == [
        {
            "unit_id": str(w.units["engineering"]),
            "staff_id": str(w.staff["engineer"]),
            "previous_unit_id": None,
            "previous_staff_id": None,
            "version": 2,
        },
        {
            "unit_id": None,
            "staff_id": None,
            "previous_unit_id": str(w.units["engineering"]),
            "previous_staff_id": str(w.staff["engineer"]),
            "version": 3,
        },
    ]


async def test_inboxes_by_unit_person_and_permission_page_by_keyset(engine: AsyncEngine) -> None:
    w = await make_world(engine)
    await route_review_to_engineering(w)
    async with w.session() as session:
        submitted = [await open_permit(w, session, at(2026, 3, 2, 8 + i)) for i in range(5)]
        in_review = []
        for i in range(4):
            case = await open_permit(w, session, at(2026, 3, 3, 8))
            in_review.append(
                await cases.act(
                    session,
                    case.id,
                    "accept",
                    actor=w.actors["clerk"],
                    expected_version=1,
                    now=at(2026, 3, 4, 8 + i),
                    documents=ALL_DOCUMENTS,
                )
            )
        mine = await cases.assign(
            session,
            in_review[2].id,
            unit_id=w.units["plans"],
            staff_id=w.staff["engineer"],
            actor=w.actors["chief"],
            expected_version=in_review[2].version,
        )
        await drive(w, session, await open_permit(w, session, at(2026, 3, 3)), [("withdraw", "applicant")])

        async def pages(read: Any, *args: Any) -> list[list[uuid.UUID]]:
            out: list[list[uuid.UUID]] = []
            after = None
            while True:
                page = await read(session, *args, after=after, limit=2)
                if not page:
                    return out
                out.append([c.id for c in page])
                after = page[-1].id

        engineering = [c.id for c in in_review if c.id != mine.id]
        assert await pages(cases.inbox_by_unit, w.units["engineering"]) == [engineering[:2], engineering[2:]]
        assert await pages(cases.inbox_by_unit, w.units["plans"]) == [[mine.id]]
        assert await pages(cases.inbox_by_staff, w.staff["engineer"]) == [[mine.id]]
        assert await pages(cases.inbox_by_staff, w.staff["clerk"]) == []
        # By permission: the clerk may act on every submitted case; the engineer on reviews of his
        # unit or of the units above it; the outsider (another division) on none; the chief on none yet.
        clerk_inbox = await pages(cases.inbox_by_permission, w.actors["clerk"])
        assert [i for page in clerk_inbox for i in page] == [c.id for c in submitted]
        assert [len(p) for p in clerk_inbox] == [2, 2, 1]
        engineer_inbox = await pages(cases.inbox_by_permission, w.actors["engineer"])
        assert [i for page in engineer_inbox for i in page] == [c.id for c in in_review]
        assert await pages(cases.inbox_by_permission, w.actors["outsider"]) == []
        assert await pages(cases.inbox_by_permission, w.actors["chief"]) == []
        assert await pages(cases.inbox_by_permission, w.actors["applicant"]) == []
        assert actionable_states(w.actors["engineer"]) == ([], [("casework.permit", "review")])
        assert ("casework.permit", "submitted") in actionable_states(w.actors["clerk"])[0]
        # A citizen's own cases, newest first (closed ones too).
        own = await cases.applicant_cases(session, w.citizens["applicant"], limit=500)
        assert len(own) == 10
        assert [c.opened_at for c in own] == sorted((c.opened_at for c in own), reverse=True)
        second_page = await cases.applicant_cases(session, w.citizens["applicant"], after=own[3].id, limit=3)
        assert [c.id for c in second_page] == [c.id for c in own[4:7]]
        assert await cases.applicant_cases(session, w.citizens["stranger"]) == []
        for read, key in (
            (cases.inbox_by_unit, w.units["engineering"]),
            (cases.inbox_by_staff, w.staff["engineer"]),
        ):
            with pytest.raises(cases.CaseNotFound):
                await read(session, key, after=uuid.uuid4())
        with pytest.raises(cases.CaseNotFound):
            await cases.applicant_cases(session, w.citizens["stranger"], after=own[0].id)


def _sql(statement: Any) -> str:
    """A statement's own SQL for EXPLAIN, its parameters by name (typed by CAST)."""
    compiled = str(statement.compile(dialect=PGDialect_psycopg2()))  # type: ignore[no-untyped-call]
    types = r"VARCHAR\[\]|UUID\[\]|UUID|TIMESTAMP WITH TIME ZONE|INTEGER"
    typed = re.sub(rf"%\((\w+)\)s::({types})", r"CAST(:\1 AS \2)", compiled)
    return re.sub(r"%\((\w+)\)s", r":\1", typed)


async def test_inbox_queries_are_served_by_their_indexes(engine: AsyncEngine) -> None:
    """The inbox statements read the partial indexes in order with their LIMIT, never the table:
    a page costs the same with 100,000 cases as with 100 (bench/ measures it)."""
    from localgov.kernel.cases import queries

    w = await make_world(engine)
    async with w.session() as session:
        await session.execute(text("SET LOCAL enable_seqscan = off"))
        await session.execute(text("SET LOCAL enable_bitmapscan = off"))
        page = {"after_at": at(2026, 1, 1), "after_id": uuid.UUID(int=0), "limit": 50}
        actionable = {
            "any_types": ["casework.permit"],
            "any_states": ["submitted"],
            "unit_types": ["casework.permit"],
            "unit_states": ["review"],
            "unit_ids": [w.units["plans"], w.units["engineering"]],
        }
        for statement, params, indexes in (
            (queries._BY_UNIT, {"unit_id": w.units["plans"]}, ["ix_cases_open_unit"]),
            (queries._BY_STAFF, {"staff_id": w.staff["engineer"]}, ["ix_cases_open_staff"]),
            (queries._BY_PERMISSION, actionable, ["ix_cases_open_state", "ix_cases_open_unit"]),
            (
                queries._OVERDUE,
                {"now": at(2026, 3, 1), "limit": 500, "after_due": at(2026, 1, 1)},
                ["ix_cases_open_due"],
            ),
        ):
            explained = await session.execute(text("EXPLAIN " + _sql(statement)), {**page, **params})
            plan = "\n".join(row[0] for row in explained.all())
            assert "Seq Scan on cases" not in plan, plan
            for index in indexes:
                assert index in plan, plan
            if statement in (queries._BY_UNIT, queries._BY_STAFF):
                assert "Sort" not in plan, plan


# --- isolation ----------------------------------------------------------------------------------------


async def test_a_case_of_one_lao_is_invisible_from_another(engine: AsyncEngine) -> None:
    w = await make_world(engine)
    other = await make_world(engine)
    async with w.session() as session:
        case = await open_permit(w, session, at(2026, 2, 26), tracking_number="T-1")
        case = await cases.assign(
            session, case.id, unit_id=w.units["engineering"], staff_id=None, actor=w.actors["chief"], expected_version=1
        )
    async with other.session() as session:
        with pytest.raises(cases.CaseNotFound):
            await cases.get_case(session, case.id)
        with pytest.raises(cases.CaseNotFound):
            await cases.act(
                session, case.id, "accept", actor=other.actors["clerk"], expected_version=2, now=at(2026, 3, 2)
            )
        with pytest.raises(cases.CaseNotFound):
            await cases.assign(
                session, case.id, unit_id=None, staff_id=None, actor=other.actors["chief"], expected_version=2
            )
        assert await cases.inbox_by_unit(session, w.units["engineering"]) == []
        assert await cases.inbox_by_permission(session, other.actors["clerk"]) == []
        assert await cases.overdue(session, at(2027, 1, 1)) == []
        assert await cases.applicant_cases(session, w.citizens["applicant"]) == []
        with pytest.raises(cases.CaseNotFound):
            await cases.inbox_by_unit(session, other.units["engineering"], after=case.id)
        # Its own case may reuse the tracking number: numbers are unique per LAO.
        mine = await open_permit(other, session, at(2026, 2, 26), tracking_number="T-1")
        # Another LAO's unit, member or citizen is not one of this LAO's.
        with pytest.raises(cases.AssigneeInvalid):
            await cases.assign(
                session,
                mine.id,
                unit_id=w.units["engineering"],
                staff_id=None,
                actor=other.actors["chief"],
                expected_version=1,
            )
        with pytest.raises(cases.InvalidCaseInput):
            await open_permit(other, session, at(2026, 2, 26), applicant_citizen_id=w.citizens["applicant"])
        # The engineer of the first LAO holds the permission but is nobody here.
        outsider = await cases.staff_actor(session, w.staff["engineer"], GRANTS.permissions_of(["casework.engineer"]))
        assert outsider == CaseActor(kind="staff", id=w.staff["engineer"])
    async with w.session() as session:
        assert [c.id for c in await cases.overdue(session, at(2027, 1, 1))] == [case.id]


async def test_a_disabled_member_acts_on_nothing(engine: AsyncEngine) -> None:
    w = await make_world(engine)
    async with w.session() as session:
        user = await session.get(StaffUser, w.staff["clerk"])
        assert user is not None
        user.status = "disabled"
        await session.flush()
        actor = await cases.staff_actor(session, w.staff["clerk"], GRANTS.permissions_of(["casework.clerk"]))
        assert actor.permissions == frozenset()
        assert actor.unit_ids == ()
        engineer = await cases.staff_actor(session, w.staff["engineer"], [REVIEW])
        assert engineer.unit_ids == (w.units["plans"], w.units["engineering"])
        case = await open_permit(w, session, at(2026, 3, 9))
        with pytest.raises(cases.ActionForbidden):
            await cases.act(
                session, case.id, "accept", actor=actor, expected_version=1, now=at(2026, 3, 9), documents=ALL_DOCUMENTS
            )


# --- in a request --------------------------------------------------------------------------------------


async def test_a_view_builds_the_actor_from_the_callers_roles(engine: AsyncEngine, client_for: ClientFactory) -> None:
    """The ``permissions`` dependency gives what the caller's roles grant; the engine adds the
    member's unit: each caller is offered exactly the actions it may take."""
    w = await make_world(engine, services=("casework",))
    other = await make_world(engine, services=("casework",))
    await route_review_to_engineering(w)
    async with w.session() as session:
        submitted = await open_permit(w, session, at(2026, 3, 9))
        in_review = await drive(w, session, await open_permit(w, session, at(2026, 3, 9)), PATHS["review"])

    def caller(name: str, *roles: str, world: World = w) -> dict[str, str]:
        if name in world.citizens:
            token = bearer(world.tenant, kind="citizen", subject=str(world.citizens[name]))
        else:
            token = bearer(world.tenant, roles=roles, subject=str(world.staff[name]))
        return {**host(world.tenant.slug), **token}

    async with client_for(plugins=[CASEWORK]) as client:

        async def offered(case: cases.Case, headers: dict[str, str]) -> Any:
            response = await client.get(f"/v1/casework/cases/{case.id}/actions", headers=headers)
            return response.status_code, response.json()

        assert await offered(submitted, caller("clerk", "casework.clerk")) == (
            200,
            {"state": "submitted", "version": 1, "actions": ["accept", "request_documents"]},
        )
        assert await offered(submitted, caller("clerk")) == (200, {"state": "submitted", "version": 1, "actions": []})
        assert (await offered(submitted, caller("applicant")))[1]["actions"] == ["withdraw"]
        assert (await offered(submitted, caller("stranger")))[1]["actions"] == []
        assert (await offered(in_review, caller("engineer", "casework.engineer")))[1]["actions"] == ["recommend"]
        assert (await offered(in_review, caller("outsider", "casework.engineer")))[1]["actions"] == []
        # Another LAO's case: 404, whoever asks.
        status, body = await offered(submitted, caller("clerk", "casework.clerk", world=other))
        assert (status, body["code"]) == (404, "case_not_found")
