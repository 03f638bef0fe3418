"""The LAO's structure: units in a tree, positions, supervisors, where staff sit; the permission that
guards its changes; the kernel facade services read it through; isolation between two LAOs."""

from __future__ import annotations

import asyncio
import re
import typing
import uuid
from typing import Any

import httpx
import pytest
from litestar import Litestar, Router
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.identity import units as svc
from localgov.identity.staff import CORE_ROLES, STRUCTURE_WRITE, TENANT_ADMIN
from localgov.identity.unit_views import UnitKindCode
from localgov.kernel import org
from localgov.kernel.audit import Actor, Origin
from localgov.kernel.auth.guards import NO_GRANTS, Grants, staff
from localgov.kernel.auth.tokens import Principal
from localgov.kernel.db import TenantBase, session_factory, tenant_session
from localgov.kernel.errors import DomainError
from localgov.kernel.plugins import Role, ServicePlugin, contract_violations
from localgov.platform.catalog import TenantInfo
from localgov.plugins import REGISTRY
from tests.conftest import ClientFactory, host
from tests.support.demo_plugin import DEMO
from tests.support.factories import make_tenant
from tests.support.paging import walk_pages
from tests.support.routes import grants_of, routes_of
from tests.support.tokens import bearer
from tests.test_staff import add_staff, admin, audit

JSON = dict[str, Any]


def member(tenant: TenantInfo, *roles: str) -> dict[str, str]:
    """A member of staff without the structure permission (unless a role grants it)."""
    return {**host(tenant.slug), **bearer(tenant, roles=roles, subject=str(uuid.uuid4()))}


async def ok(response: httpx.Response, status: int = 200) -> JSON:
    assert response.status_code == status, response.text
    body: JSON = response.json() if response.content else {}
    return body


def problem(response: httpx.Response, status: int, code: str) -> JSON:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body: JSON = response.json()
    assert body["code"] == code, body
    return body


async def new_unit(
    client: httpx.AsyncClient, tenant: TenantInfo, code: str, kind: str, parent: str | None = None, **extra: Any
) -> JSON:
    body = {"code": code, "name_th": f"หน่วย {code}", "kind": kind, "parent_id": parent, **extra}
    return await ok(await client.post("/v1/units", json=body, headers=admin(tenant)), 201)


async def assign(
    client: httpx.AsyncClient, tenant: TenantInfo, staff_id: str, unit: str | None, position: str | None = None
) -> httpx.Response:
    return await client.put(
        f"/v1/staff/{staff_id}/assignment", json={"unit_id": unit, "position_id": position}, headers=admin(tenant)
    )


async def set_head(client: httpx.AsyncClient, tenant: TenantInfo, unit: str, staff_id: str) -> httpx.Response:
    return await client.put(f"/v1/units/{unit}/supervisor", json={"staff_id": staff_id}, headers=admin(tenant))


async def unit_of(client: httpx.AsyncClient, tenant: TenantInfo, unit: str) -> JSON:
    return await ok(await client.get(f"/v1/units/{unit}", headers=member(tenant)))


# --- the tree -----------------------------------------------------------------------------------


async def test_units_form_a_tree_listed_depth_first(engine: AsyncEngine, client_for: ClientFactory) -> None:
    tenant = await make_tenant(engine)
    async with client_for() as client:
        palad = await new_unit(client, tenant, "Palad", "secretary_office", name_en="Office of the Permanent Secretary")
        assert palad["code"] == "palad"  # stored lower-case
        assert (palad["kind_title_th"], palad["depth"], palad["supervisor"], palad["active"]) == (
            "สำนักปลัด",
            0,
            None,
            True,
        )
        finance = await new_unit(client, tenant, "finance", "division")
        accounts = await new_unit(client, tenant, "finance.accounts", "subdivision", finance["id"])
        ledger = await new_unit(client, tenant, "finance.ledger", "work_unit", accounts["id"])
        admin_work = await new_unit(client, tenant, "palad.admin", "work_unit", palad["id"])
        assert (accounts["parent_id"], accounts["depth"], ledger["depth"]) == (finance["id"], 1, 2)

        listed = await ok(await client.get("/v1/units", headers=member(tenant)))
        assert [(u["code"], u["depth"]) for u in listed["items"]] == [
            ("finance", 0),
            ("finance.accounts", 1),
            ("finance.ledger", 2),
            ("palad", 0),
            ("palad.admin", 1),
        ]
        shown = await unit_of(client, tenant, ledger["id"])
        assert (shown["code"], shown["depth"], shown["kind_title_en"]) == ("finance.ledger", 2, "Work unit")

        renamed = await ok(
            await client.patch(
                f"/v1/units/{admin_work['id']}",
                json={"name_th": "งานบริหารทั่วไป", "name_en": "General administration", "code": "Palad.General"},
                headers=admin(tenant),
            )
        )
        assert (renamed["code"], renamed["name_th"], renamed["name_en"]) == (
            "palad.general",
            "งานบริหารทั่วไป",
            "General administration",
        )
        cleared = await ok(
            await client.patch(f"/v1/units/{admin_work['id']}", json={"name_en": None}, headers=admin(tenant))
        )
        assert cleared["name_en"] is None
        problem(
            await client.patch(f"/v1/units/{admin_work['id']}", json={"code": "FINANCE"}, headers=admin(tenant)),
            409,
            "unit_code_taken",
        )
        problem(
            await client.post(
                "/v1/units", json={"code": "finance", "name_th": "ซ้ำ", "kind": "division"}, headers=admin(tenant)
            ),
            409,
            "unit_code_taken",
        )
        unknown = str(uuid.uuid4())
        problem(
            await client.post(
                "/v1/units",
                json={"code": "x", "name_th": "x", "kind": "work_unit", "parent_id": unknown},
                headers=admin(tenant),
            ),
            404,
            "unit_not_found",
        )
        problem(await client.get(f"/v1/units/{unknown}", headers=member(tenant)), 404, "unit_not_found")

        only_inactive = await ok(await client.get("/v1/units", params={"active": "false"}, headers=member(tenant)))
        assert only_inactive["items"] == []


async def test_kinds_rank_downwards_and_moves_cannot_loop(engine: AsyncEngine, client_for: ClientFactory) -> None:
    tenant = await make_tenant(engine)
    async with client_for() as client:
        works = await new_unit(client, tenant, "works", "division")
        roads = await new_unit(client, tenant, "works.roads", "subdivision", works["id"])
        crew = await new_unit(client, tenant, "works.crew", "work_unit", roads["id"])
        finance = await new_unit(client, tenant, "finance", "division")

        # A กอง cannot sit under a ฝ่าย, nor a ฝ่าย under another ฝ่าย.
        body = problem(
            await client.post(
                "/v1/units",
                json={"code": "bad", "name_th": "กองผิดที่", "kind": "division", "parent_id": roads["id"]},
                headers=admin(tenant),
            ),
            409,
            "unit_kind_order",
        )
        assert body["data"] == {"kind": "division", "parent_kind": "subdivision"}
        problem(
            await client.post(
                f"/v1/units/{finance['id']}/move", json={"parent_id": works["id"]}, headers=admin(tenant)
            ),
            409,
            "unit_kind_order",
        )
        # A new kind must still rank below the parent and above the units below.
        problem(
            await client.patch(f"/v1/units/{roads['id']}", json={"kind": "work_unit"}, headers=admin(tenant)),
            409,
            "unit_kind_order",
        )
        problem(
            await client.patch(f"/v1/units/{roads['id']}", json={"kind": "division"}, headers=admin(tenant)),
            409,
            "unit_kind_order",
        )
        section = await ok(
            await client.patch(f"/v1/units/{roads['id']}", json={"kind": "section"}, headers=admin(tenant))
        )
        assert section["kind"] == "section"

        # Under itself or below itself: a cycle.
        for target in (works["id"], roads["id"], crew["id"]):
            problem(
                await client.post(f"/v1/units/{works['id']}/move", json={"parent_id": target}, headers=admin(tenant)),
                409,
                "unit_cycle",
            )
        # The subtree moves along.
        moved = await ok(
            await client.post(f"/v1/units/{roads['id']}/move", json={"parent_id": finance["id"]}, headers=admin(tenant))
        )
        assert (moved["parent_id"], moved["depth"]) == (finance["id"], 1)
        assert (await unit_of(client, tenant, crew["id"]))["depth"] == 2
        top = await ok(
            await client.post(f"/v1/units/{crew['id']}/move", json={"parent_id": None}, headers=admin(tenant))
        )
        assert (top["parent_id"], top["depth"]) == (None, 0)
        again = await ok(
            await client.post(f"/v1/units/{crew['id']}/move", json={"parent_id": None}, headers=admin(tenant))
        )
        assert again["updated_at"] == top["updated_at"]  # idempotent

        events = await audit(client, tenant, target=f"unit:{roads['id']}")
        assert [e["action"] for e in events] == ["unit.moved", "unit.updated", "unit.created"]
        assert events[0]["data"] == {"from": works["id"], "to": finance["id"]}
        assert events[1]["data"] == {"changes": {"kind": "section"}}


async def test_concurrent_changes_cannot_break_the_rank_order(engine: AsyncEngine) -> None:
    """A kind change and a move that are each valid alone must not both commit: the second waits
    for the first (a per-tenant lock) and then sees its result."""
    tenant = await make_tenant(engine)
    factory = session_factory(engine)
    actor, origin = Actor("system", "test"), Origin()
    async with tenant_session(factory, tenant) as session:
        a = await svc.create_unit(
            session, code="a", name_th="ก", name_en=None, kind="section", parent_id=None, actor=actor, origin=origin
        )
        b = await svc.create_unit(
            session, code="b", name_th="ข", name_en=None, kind="subdivision", parent_id=None, actor=actor, origin=origin
        )

    async def demote() -> str:
        async with tenant_session(factory, tenant) as session:
            await svc.update_unit(session, a.unit.id, {"kind": "subdivision"}, actor=actor, origin=origin)
            await asyncio.sleep(0.3)  # commit late, holding the lock
        return "demoted"

    async def move() -> str:
        await asyncio.sleep(0.1)  # start while the demotion is uncommitted (a still reads as a section)
        try:
            async with tenant_session(factory, tenant) as session:
                await svc.move_unit(session, b.unit.id, a.unit.id, actor=actor, origin=origin)
        except DomainError as exc:
            return exc.code
        return "moved"

    assert await asyncio.gather(demote(), move()) == ["demoted", "unit_kind_order"]
    async with tenant_session(factory, tenant) as session:
        assert [u.code for u in await org.unit_path(session, b.unit.id)] == ["b"]


async def test_deactivate_delete_and_their_refusals(engine: AsyncEngine, client_for: ClientFactory) -> None:
    tenant = await make_tenant(engine)
    clerk = await add_staff(engine, tenant, "clerk@structure.example")
    gone = await add_staff(engine, tenant, "gone@structure.example", status="disabled")
    async with client_for() as client:
        health = await new_unit(client, tenant, "health", "division")
        clinic = await new_unit(client, tenant, "health.clinic", "subdivision", health["id"])
        await ok(await assign(client, tenant, clerk, clinic["id"]))
        await ok(await assign(client, tenant, gone, clinic["id"]))

        body = problem(
            await client.post(f"/v1/units/{health['id']}/deactivate", headers=admin(tenant)),
            409,
            "unit_has_active_children",
        )
        assert body["data"] == {"units": 1}
        problem(await client.delete(f"/v1/units/{health['id']}", headers=admin(tenant)), 409, "unit_has_children")
        body = problem(
            await client.post(f"/v1/units/{clinic['id']}/deactivate", headers=admin(tenant)), 409, "unit_has_staff"
        )
        assert body["data"] == {"staff": 1}  # the disabled member does not count
        problem(await client.delete(f"/v1/units/{clinic['id']}", headers=admin(tenant)), 409, "unit_has_staff")

        await ok(await assign(client, tenant, clerk, health["id"]))
        inactive = await ok(await client.post(f"/v1/units/{clinic['id']}/deactivate", headers=admin(tenant)))
        assert inactive["active"] is False
        # Nobody joins an inactive unit; nothing is created or moved under it.
        problem(await assign(client, tenant, clerk, clinic["id"]), 409, "unit_inactive")
        problem(
            await client.post(
                "/v1/units",
                json={"code": "x", "name_th": "x", "kind": "work_unit", "parent_id": clinic["id"]},
                headers=admin(tenant),
            ),
            409,
            "unit_inactive",
        )
        listed = await ok(await client.get("/v1/units", params={"active": "false"}, headers=member(tenant)))
        assert [u["code"] for u in listed["items"]] == ["health.clinic"]

        # An inactive unit below does not keep its parent active; activating needs an active parent.
        await ok(await assign(client, tenant, clerk, None))
        await ok(await client.post(f"/v1/units/{health['id']}/deactivate", headers=admin(tenant)))
        problem(await client.post(f"/v1/units/{clinic['id']}/activate", headers=admin(tenant)), 409, "unit_inactive")
        spare = await new_unit(client, tenant, "spare", "bureau")
        await ok(await client.post(f"/v1/units/{spare['id']}/deactivate", headers=admin(tenant)))
        problem(
            await client.post(f"/v1/units/{clinic['id']}/move", json={"parent_id": spare["id"]}, headers=admin(tenant)),
            409,
            "unit_inactive",
        )
        await ok(await client.post(f"/v1/units/{health['id']}/activate", headers=admin(tenant)))
        reactivated = await ok(await client.post(f"/v1/units/{clinic['id']}/activate", headers=admin(tenant)))
        assert reactivated["active"] is True

        # Deleting detaches the disabled member; the unit is gone.
        await ok(await client.delete(f"/v1/units/{clinic['id']}", headers=admin(tenant)), 204)
        problem(await client.get(f"/v1/units/{clinic['id']}", headers=member(tenant)), 404, "unit_not_found")
        detached = await ok(await client.get(f"/v1/staff/{gone}", headers=admin(tenant)))
        assert detached["unit_id"] is None
        [deleted] = await audit(client, tenant, action="unit.deleted")
        assert deleted["data"]["detached_staff"] == [gone]
        actions = [e["action"] for e in await audit(client, tenant, target=f"unit:{clinic['id']}")]
        assert actions == ["unit.deleted", "unit.activated", "unit.deactivated", "unit.created"]


# --- supervisors --------------------------------------------------------------------------------


async def test_a_supervisor_sits_in_the_unit_or_above(engine: AsyncEngine, client_for: ClientFactory) -> None:
    tenant = await make_tenant(engine)
    director = await add_staff(engine, tenant, "director@structure.example")
    head = await add_staff(engine, tenant, "head@structure.example", status="invited")
    clerk = await add_staff(engine, tenant, "clerk@structure.example")
    outsider = await add_staff(engine, tenant, "outsider@structure.example")
    gone = await add_staff(engine, tenant, "gone@structure.example", status="disabled")
    async with client_for() as client:
        finance = await new_unit(client, tenant, "finance", "division")
        accounts = await new_unit(client, tenant, "finance.accounts", "subdivision", finance["id"])
        works = await new_unit(client, tenant, "works", "division")
        for who, where in (
            (director, finance),
            (head, accounts),
            (clerk, accounts),
            (outsider, works),
            (gone, accounts),
        ):
            await ok(await assign(client, tenant, who, where["id"]))

        # A member of the unit (invited members too: the chart is set up before everyone has logged in).
        named = await ok(await set_head(client, tenant, accounts["id"], head))
        assert named["supervisor"] == {"id": head, "full_name": "Staff head@structure.example", "status": "invited"}
        # A member of a unit above it, while the post is vacant.
        named = await ok(await set_head(client, tenant, accounts["id"], director))
        assert named["supervisor"]["id"] == director
        # Not a member of a unit below, of another branch, of no unit; not a disabled member.
        await ok(await set_head(client, tenant, finance["id"], director))
        for who in (clerk, outsider):
            body = problem(await set_head(client, tenant, finance["id"], who), 409, "supervisor_not_eligible")
            assert body["data"] == {"staff_id": who, "reason": "not_in_unit_or_above"}
        body = problem(await set_head(client, tenant, accounts["id"], gone), 409, "supervisor_not_eligible")
        assert body["data"]["reason"] == "disabled"
        problem(await set_head(client, tenant, accounts["id"], str(uuid.uuid4())), 404, "staff_not_found")

        await ok(await set_head(client, tenant, accounts["id"], head))
        vacant = await ok(await client.delete(f"/v1/units/{accounts['id']}/supervisor", headers=admin(tenant)))
        assert vacant["supervisor"] is None
        await ok(await set_head(client, tenant, accounts["id"], head))

        # Moved to another branch: the member stops supervising where the rule no longer holds.
        await ok(await assign(client, tenant, head, works["id"]))
        assert (await unit_of(client, tenant, accounts["id"]))["supervisor"] is None
        released = await audit(client, tenant, action="unit.supervisor_cleared", target=f"unit:{accounts['id']}")
        assert [e["data"] for e in released] == [
            {"staff_id": None, "previous": head, "reason": "staff_reassigned"},
            {"staff_id": None, "previous": head, "reason": "vacated"},
        ]

        # Moved up within the chain: still above the unit, still its supervisor.
        await ok(await set_head(client, tenant, accounts["id"], clerk))
        await ok(await assign(client, tenant, clerk, finance["id"]))
        assert (await unit_of(client, tenant, accounts["id"]))["supervisor"]["id"] == clerk

        # The unit moves away from the supervisor's unit: released.
        await ok(
            await client.post(
                f"/v1/units/{accounts['id']}/move", json={"parent_id": works["id"]}, headers=admin(tenant)
            )
        )
        assert (await unit_of(client, tenant, accounts["id"]))["supervisor"] is None
        assert (await unit_of(client, tenant, finance["id"]))["supervisor"]["id"] == director
        reasons = [e["data"]["reason"] for e in await audit(client, tenant, action="unit.supervisor_cleared")]
        assert reasons == ["unit_moved", "staff_reassigned", "vacated"]

        # Disabled: released everywhere, in the same request.
        await ok(await set_head(client, tenant, works["id"], outsider))
        await ok(await set_head(client, tenant, accounts["id"], outsider))
        await ok(await client.post(f"/v1/staff/{outsider}/disable", headers=admin(tenant)))
        assert (await unit_of(client, tenant, works["id"]))["supervisor"] is None
        assert (await unit_of(client, tenant, accounts["id"]))["supervisor"] is None
        disabled = await audit(client, tenant, action="unit.supervisor_cleared")
        assert sorted(e["target"] for e in disabled[:2]) == sorted([f"unit:{works['id']}", f"unit:{accounts['id']}"])
        assert {e["data"]["reason"] for e in disabled[:2]} == {"staff_disabled"}

        set_events = await audit(client, tenant, action="unit.supervisor_set", target=f"unit:{finance['id']}")
        assert [e["data"]["staff_id"] for e in set_events] == [director]


# --- positions and assignment -------------------------------------------------------------------


async def test_positions_and_where_staff_sit(engine: AsyncEngine, client_for: ClientFactory) -> None:
    tenant = await make_tenant(engine)
    clerk = await add_staff(engine, tenant, "clerk@structure.example")
    gone = await add_staff(engine, tenant, "gone@structure.example", status="disabled")
    async with client_for() as client:
        create = {"title_th": "นักวิชาการเงินและบัญชี", "title_en": "Finance and accounting officer", "level": "ชำนาญการ"}
        senior = await ok(await client.post("/v1/positions", json=create, headers=admin(tenant)), 201)
        junior = await ok(
            await client.post("/v1/positions", json={**create, "level": "ปฏิบัติการ"}, headers=admin(tenant)), 201
        )
        palad = await ok(await client.post("/v1/positions", json={"title_th": "ปลัด อบต."}, headers=admin(tenant)), 201)
        assert (palad["title_en"], palad["level"]) == (None, None)
        problem(await client.post("/v1/positions", json=create, headers=admin(tenant)), 409, "position_exists")
        problem(
            await client.post("/v1/positions", json={"title_th": "ปลัด อบต."}, headers=admin(tenant)),
            409,
            "position_exists",
        )
        problem(
            await client.patch(f"/v1/positions/{junior['id']}", json={"level": "ชำนาญการ"}, headers=admin(tenant)),
            409,
            "position_exists",
        )
        listed = await ok(await client.get("/v1/positions", headers=member(tenant)))
        assert [(p["title_th"], p["level"]) for p in listed["items"]] == [
            ("นักวิชาการเงินและบัญชี", "ชำนาญการ"),
            ("นักวิชาการเงินและบัญชี", "ปฏิบัติการ"),
            ("ปลัด อบต.", None),
        ]
        assert await walk_pages(client, "/v1/positions", member(tenant)) == listed["items"]
        patched = await ok(
            await client.patch(f"/v1/positions/{junior['id']}", json={"title_en": None}, headers=admin(tenant))
        )
        assert (patched["title_en"], patched["level"]) == (None, "ปฏิบัติการ")
        assert (await ok(await client.get(f"/v1/positions/{junior['id']}", headers=member(tenant)))) == patched

        finance = await new_unit(client, tenant, "finance", "division")
        placed = await ok(await assign(client, tenant, clerk, finance["id"], senior["id"]))
        assert (placed["unit_id"], placed["position_id"]) == (finance["id"], senior["id"])
        shown = await ok(await client.get(f"/v1/staff/{clerk}", headers=admin(tenant)))
        assert (shown["unit_id"], shown["position_id"]) == (finance["id"], senior["id"])
        await ok(await assign(client, tenant, clerk, finance["id"], senior["id"]))  # idempotent: not audited again
        await ok(await assign(client, tenant, gone, finance["id"], junior["id"]))

        problem(await assign(client, tenant, clerk, str(uuid.uuid4())), 404, "unit_not_found")
        problem(await assign(client, tenant, clerk, None, str(uuid.uuid4())), 404, "position_not_found")
        problem(await assign(client, tenant, str(uuid.uuid4()), None), 404, "staff_not_found")

        members = await ok(await client.get(f"/v1/units/{finance['id']}/members", headers=member(tenant)))
        assert members["items"] == [
            {
                "id": clerk,
                "full_name": "Staff clerk@structure.example",
                "status": "active",
                "unit_id": finance["id"],
                "position_id": senior["id"],
                "position_title_th": "นักวิชาการเงินและบัญชี",
            }
        ]
        walked = await walk_pages(client, f"/v1/units/{finance['id']}/members", member(tenant))
        assert walked == members["items"]

        body = problem(
            await client.delete(f"/v1/positions/{senior['id']}", headers=admin(tenant)), 409, "position_in_use"
        )
        assert body["data"] == {"staff": 1}
        # Only a disabled member holds the junior position: it goes, and they lose it.
        await ok(await client.delete(f"/v1/positions/{junior['id']}", headers=admin(tenant)), 204)
        assert (await ok(await client.get(f"/v1/staff/{gone}", headers=admin(tenant))))["position_id"] is None
        problem(await client.get(f"/v1/positions/{junior['id']}", headers=member(tenant)), 404, "position_not_found")

        cleared = await ok(await assign(client, tenant, clerk, None, None))
        assert (cleared["unit_id"], cleared["position_id"]) == (None, None)
        assigned = await audit(client, tenant, action="staff.assigned", target=f"staff:{clerk}")
        assert [e["data"] for e in assigned] == [
            {
                "unit_id": None,
                "position_id": None,
                "previous_unit_id": finance["id"],
                "previous_position_id": senior["id"],
            },
            {
                "unit_id": finance["id"],
                "position_id": senior["id"],
                "previous_unit_id": None,
                "previous_position_id": None,
            },
        ]
        actions = [e["action"] for e in await audit(client, tenant, target=f"position:{junior['id']}")]
        assert actions == ["position.deleted", "position.updated", "position.created"]


# --- validation and permission ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/units", {"code": "x", "name_th": "x", "kind": "department"}),
        ("/v1/units", {"code": "has space", "name_th": "x", "kind": "division"}),
        ("/v1/units", {"code": "x" * 41, "name_th": "x", "kind": "division"}),
        ("/v1/units", {"code": "x", "name_th": "   ", "kind": "division"}),
        ("/v1/units", {"code": "x", "name_th": "บรรทัด\nสอง", "kind": "division"}),
        ("/v1/units", {"code": "x", "name_th": "x", "kind": "division", "colour": "red"}),
        ("/v1/units", {"code": "x", "name_th": "x", "kind": "division", "parent_id": "not-a-uuid"}),
        ("/v1/units", {"name_th": "x", "kind": "division"}),
        ("/v1/positions", {"title_th": ""}),
        ("/v1/positions", {"title_th": "x", "level": "x" * 101}),
        ("/v1/positions", {"title_th": "x", "grade": 7}),
    ],
)
async def test_bad_input_is_a_problem(
    engine: AsyncEngine, client_for: ClientFactory, path: str, body: dict[str, Any]
) -> None:
    tenant = await make_tenant(engine)
    async with client_for() as client:
        response = await client.post(path, json=body, headers=admin(tenant))
        problem(response, 400, "validation_error")


async def test_bad_updates_and_moves_are_problems(engine: AsyncEngine, client_for: ClientFactory) -> None:
    tenant = await make_tenant(engine)
    clerk = await add_staff(engine, tenant, "clerk@structure.example")
    async with client_for() as client:
        unit = await new_unit(client, tenant, "u", "division")
        position = await ok(await client.post("/v1/positions", json={"title_th": "ตำแหน่ง"}, headers=admin(tenant)), 201)
        for method, path, body in (
            ("PATCH", f"/v1/units/{unit['id']}", {"kind": None}),
            ("PATCH", f"/v1/units/{unit['id']}", {"parent_id": None}),
            ("POST", f"/v1/units/{unit['id']}/move", {}),
            ("PUT", f"/v1/units/{unit['id']}/supervisor", {"staff_id": None}),
            ("PATCH", f"/v1/positions/{position['id']}", {"title_th": None}),
            ("PUT", f"/v1/staff/{clerk}/assignment", {"unit_id": unit["id"]}),
            ("GET", "/v1/units?active=maybe", None),
        ):
            response = await client.request(method, path, json=body, headers=admin(tenant))
            problem(response, 400, "validation_error")


async def test_changes_need_the_structure_permission_reads_any_staff(
    engine: AsyncEngine, client_for: ClientFactory
) -> None:
    tenant = await make_tenant(engine, services=["demo"])
    async with client_for() as client:
        unit = await new_unit(client, tenant, "u", "division")
        clerk = member(tenant, "demo.clerk")
        for path in ("/v1/units", f"/v1/units/{unit['id']}", f"/v1/units/{unit['id']}/members", "/v1/positions"):
            await ok(await client.get(path, headers=clerk))
            await ok(await client.get(path, headers=member(tenant)))
        body = problem(
            await client.post("/v1/units", json={"code": "v", "name_th": "v", "kind": "division"}, headers=clerk),
            403,
            "forbidden",
        )
        assert body["data"]["required"] == "staff[permission:staff.structure.write]"
        problem(await client.post(f"/v1/units/{unit['id']}/deactivate", headers=clerk), 403, "forbidden")
        citizen = {**host(tenant.slug), **bearer(tenant, kind="citizen")}
        problem(await client.get("/v1/units", headers=citizen), 403, "forbidden")
        problem(await client.get("/v1/units", headers=host(tenant.slug)), 401, "missing_token")
        # The administrator sees what each role grants.
        roles = await ok(await client.get("/v1/staff/roles", headers=admin(tenant)))
        assert {r["code"]: r["permissions"] for r in roles["items"]} == {
            TENANT_ADMIN: [STRUCTURE_WRITE],
            "demo.clerk": ["demo.write"],
        }


def test_grants_come_from_role_declarations() -> None:
    grants = Grants.of(
        [
            *CORE_ROLES,
            Role("demo.clerk", "เสมียน", "Clerk", permissions=("demo.write",)),
            Role("demo.clerk", "เสมียน", "Clerk", permissions=("demo.read",)),
        ]
    )
    assert grants.permissions_of([TENANT_ADMIN]) == {STRUCTURE_WRITE}
    assert grants.permissions_of(["demo.clerk", "unknown"]) == {"demo.read", "demo.write"}
    assert grants.roles_granting(STRUCTURE_WRITE) == {TENANT_ADMIN}
    assert grants.roles_granting("payments.write") == frozenset()

    def principal(*roles: str, kind: Any = "staff") -> Principal:
        return Principal(kind=kind, subject="s", client_id="c", roles=frozenset(roles), token_id="t")

    policy = staff(permission="demo.write")
    assert policy.admits(principal("demo.clerk"), grants)
    assert not policy.admits(principal(TENANT_ADMIN), grants)  # no wildcard for the administrator
    assert not policy.admits(principal("demo.clerk", kind="operator"), grants)
    assert not policy.admits(principal("demo.clerk"))  # without the application's grants: nobody
    assert not policy.admits(principal("demo.clerk"), NO_GRANTS)
    assert policy.describe() == "staff[permission:demo.write]"
    assert staff("a", "b").describe() == "staff[a,b]"  # role rules read as before
    with pytest.raises(ValueError, match="not both"):
        staff("demo.clerk", permission="demo.write")
    with pytest.raises(ValueError, match="empty"):
        staff(permission=" ")


async def test_the_app_gathers_grants_from_core_roles_and_its_plugins(client_for: ClientFactory) -> None:
    async with client_for(plugins=(*REGISTRY, DEMO), listen=False) as http:
        app: Litestar = http._transport.app  # type: ignore[attr-defined]
        grants = grants_of(app)
    assert grants.permissions_of([TENANT_ADMIN]) == {STRUCTURE_WRITE}
    assert grants.permissions_of(["demo.clerk"]) == {"demo.write"}
    assert grants.permissions_of(["payments.cashier"]) == {"payments.read", "payments.collect"}  # the counter


def test_a_plugin_role_grants_only_the_plugins_own_permissions() -> None:
    sneaky = ServicePlugin(
        slug="sneaky",
        title_th="บริการทดสอบ",
        title_en="Sneaky",
        router=Router(path="/v1/sneaky", route_handlers=[]),
        roles=(Role("sneaky.clerk", "เสมียน", "Clerk", permissions=(STRUCTURE_WRITE, "payments.write", "sneaky.read")),),
    )
    problems = contract_violations(sneaky, TenantBase.metadata.tables)
    assert problems == [
        f"permission {STRUCTURE_WRITE!r} of role sneaky.clerk must be sneaky.<name>",
        "permission 'payments.write' of role sneaky.clerk must be sneaky.<name>",
    ]


def test_the_api_and_the_table_know_the_kernels_unit_kinds() -> None:
    assert set(typing.get_args(UnitKindCode)) == set(org.UNIT_KINDS)
    check = next(c for c in TenantBase.metadata.tables["units"].constraints if c.name == "ck_units_kind")
    assert set(re.findall(r"'(\w+)'", str(check.sqltext))) == set(org.UNIT_KINDS)  # type: ignore[attr-defined]


def test_the_facade_reads_columns_identity_defines() -> None:
    """The kernel names identity's tables and columns; a rename in identity must fail here."""
    for lightweight in (org.STAFF, org.UNITS, org.POSITIONS):
        model = TenantBase.metadata.tables[lightweight.name]
        for column in lightweight.columns:
            assert column.name in model.c, (lightweight.name, column.name)
            assert model.c[column.name].type.python_type is column.type.python_type, (lightweight.name, column.name)


# --- isolation ----------------------------------------------------------------------------------

STRUCTURE_ROUTE = re.compile(r"^/v1/(units|positions)(/|$)|^/v1/staff/\{staff_id\}/assignment$")


async def test_another_lao_reaches_none_of_it_through_any_endpoint(
    engine: AsyncEngine, client_for: ClientFactory
) -> None:
    lao_a, lao_b = await make_tenant(engine), await make_tenant(engine)
    staff_a = await add_staff(engine, lao_a, "a@structure.example")
    staff_b = await add_staff(engine, lao_b, "b@structure.example")
    async with client_for() as client:
        unit_a = await new_unit(client, lao_a, "same", "division")
        position_a = await ok(await client.post("/v1/positions", json={"title_th": "ปลัด"}, headers=admin(lao_a)), 201)
        await ok(await assign(client, lao_a, staff_a, unit_a["id"], position_a["id"]))
        await ok(await set_head(client, lao_a, unit_a["id"], staff_a))
        unit_b = await new_unit(client, lao_b, "same", "division")  # codes are per LAO
        await ok(await client.post("/v1/positions", json={"title_th": "ปลัด"}, headers=admin(lao_b)), 201)

        ua, ub, pa = unit_a["id"], unit_b["id"], position_a["id"]
        # (method, template, path, body, code): LAO B's host and administrator, LAO A's ids.
        probes: list[tuple[str, str, str, Any, str]] = [
            ("GET", "/v1/units/{unit_id}", f"/v1/units/{ua}", None, "unit_not_found"),
            ("PATCH", "/v1/units/{unit_id}", f"/v1/units/{ua}", {"name_th": "x"}, "unit_not_found"),
            ("DELETE", "/v1/units/{unit_id}", f"/v1/units/{ua}", None, "unit_not_found"),
            ("POST", "/v1/units/{unit_id}/move", f"/v1/units/{ua}/move", {"parent_id": None}, "unit_not_found"),
            ("POST", "/v1/units/{unit_id}/move", f"/v1/units/{ub}/move", {"parent_id": ua}, "unit_not_found"),
            ("POST", "/v1/units/{unit_id}/deactivate", f"/v1/units/{ua}/deactivate", None, "unit_not_found"),
            ("POST", "/v1/units/{unit_id}/activate", f"/v1/units/{ua}/activate", None, "unit_not_found"),
            (
                "PUT",
                "/v1/units/{unit_id}/supervisor",
                f"/v1/units/{ua}/supervisor",
                {"staff_id": staff_b},
                "unit_not_found",
            ),
            (
                "PUT",
                "/v1/units/{unit_id}/supervisor",
                f"/v1/units/{ub}/supervisor",
                {"staff_id": staff_a},
                "staff_not_found",
            ),
            ("DELETE", "/v1/units/{unit_id}/supervisor", f"/v1/units/{ua}/supervisor", None, "unit_not_found"),
            ("GET", "/v1/units/{unit_id}/members", f"/v1/units/{ua}/members", None, "unit_not_found"),
            (
                "POST",
                "/v1/units",
                "/v1/units",
                {"code": "c", "name_th": "c", "kind": "section", "parent_id": ua},
                "unit_not_found",
            ),
            ("GET", "/v1/positions/{position_id}", f"/v1/positions/{pa}", None, "position_not_found"),
            ("PATCH", "/v1/positions/{position_id}", f"/v1/positions/{pa}", {"level": "x"}, "position_not_found"),
            ("DELETE", "/v1/positions/{position_id}", f"/v1/positions/{pa}", None, "position_not_found"),
            (
                "PUT",
                "/v1/staff/{staff_id}/assignment",
                f"/v1/staff/{staff_a}/assignment",
                {"unit_id": None, "position_id": None},
                "staff_not_found",
            ),
            (
                "PUT",
                "/v1/staff/{staff_id}/assignment",
                f"/v1/staff/{staff_b}/assignment",
                {"unit_id": ua, "position_id": None},
                "unit_not_found",
            ),
            (
                "PUT",
                "/v1/staff/{staff_id}/assignment",
                f"/v1/staff/{staff_b}/assignment",
                {"unit_id": None, "position_id": pa},
                "position_not_found",
            ),
        ]
        for method, _, path, body, code in probes:
            problem(await client.request(method, path, json=body, headers=admin(lao_b)), 404, code)
        listed = await ok(await client.get("/v1/units", headers=member(lao_b)))
        assert [u["id"] for u in listed["items"]] == [ub]
        positions = await ok(await client.get("/v1/positions", headers=member(lao_b)))
        assert pa not in [p["id"] for p in positions["items"]]
        assert (await ok(await client.get(f"/v1/units/{ub}/members", headers=member(lao_b))))["items"] == []
        # ... and LAO A's structure is as it was.
        kept = await unit_of(client, lao_a, ua)
        assert (kept["name_th"], kept["active"], kept["supervisor"]["id"]) == (unit_a["name_th"], True, staff_a)
        assert [
            m["id"] for m in (await ok(await client.get(f"/v1/units/{ua}/members", headers=member(lao_a))))["items"]
        ] == [staff_a]

        # Every endpoint of the structure was probed: those above, the lists (checked above), and the
        # creation of a unit and a position in LAO B with LAO A's code and title (unique per LAO).
        app: Litestar = client._transport.app  # type: ignore[attr-defined]
        served = {(m, t) for m, t, _, _ in routes_of(app) if STRUCTURE_ROUTE.search(t)}
        probed = {(m, t) for m, t, _, _, _ in probes} | {
            ("GET", "/v1/units"),
            ("GET", "/v1/positions"),
            ("POST", "/v1/positions"),
        }
        assert served == probed, served ^ probed


# --- the kernel facade --------------------------------------------------------------------------


async def test_services_read_staff_units_and_supervisors_through_the_kernel(
    engine: AsyncEngine, client_for: ClientFactory
) -> None:
    tenant, other = await make_tenant(engine), await make_tenant(engine)
    director = await add_staff(engine, tenant, "director@structure.example")
    clerk = await add_staff(engine, tenant, "clerk@structure.example")
    newcomer = await add_staff(engine, tenant, "newcomer@structure.example", status="invited")
    gone = await add_staff(engine, tenant, "gone@structure.example")
    async with client_for() as client:
        palad = await new_unit(client, tenant, "palad", "secretary_office")
        finance = await new_unit(client, tenant, "finance", "division", name_en="Finance Division")
        accounts = await new_unit(client, tenant, "finance.accounts", "subdivision", finance["id"])
        ledger = await new_unit(client, tenant, "finance.ledger", "work_unit", accounts["id"])
        position = await ok(
            await client.post(
                "/v1/positions",
                json={"title_th": "นักวิชาการเงินและบัญชี", "title_en": "Accountant", "level": "ชำนาญการ"},
                headers=admin(tenant),
            ),
            201,
        )
        await ok(await assign(client, tenant, director, finance["id"]))
        await ok(await assign(client, tenant, clerk, ledger["id"], position["id"]))
        await ok(await assign(client, tenant, newcomer, accounts["id"]))
        await ok(await assign(client, tenant, gone, accounts["id"]))
        await ok(await set_head(client, tenant, finance["id"], director))
        await ok(await set_head(client, tenant, accounts["id"], gone))
        await ok(await client.post(f"/v1/staff/{gone}/disable", headers=admin(tenant)))

    ids = {name: uuid.UUID(value) for name, value in (("director", director), ("clerk", clerk), ("new", newcomer))}
    unit = {u["code"]: uuid.UUID(u["id"]) for u in (palad, finance, accounts, ledger)}
    factory = session_factory(engine)
    async with tenant_session(factory, tenant) as session:
        ref = await org.staff_ref(session, ids["clerk"])
        assert ref is not None
        assert (ref.full_name, ref.email, ref.status) == (
            "Staff clerk@structure.example",
            "clerk@structure.example",
            "active",
        )
        assert ref.unit == org.UnitRef(
            id=unit["finance.ledger"],
            code="finance.ledger",
            name_th="หน่วย finance.ledger",
            name_en=None,
            kind="work_unit",
            parent_id=unit["finance.accounts"],
            active=True,
        )
        assert ref.position == org.PositionRef(
            id=uuid.UUID(position["id"]), title_th="นักวิชาการเงินและบัญชี", title_en="Accountant", level="ชำนาญการ"
        )
        assert await org.position_ref(session, uuid.UUID(position["id"])) == ref.position
        unplaced = await org.staff_ref(session, uuid.UUID(gone))
        assert unplaced is not None
        assert unplaced.status == "disabled"
        assert await org.staff_ref(session, uuid.uuid4()) is None
        refs = await org.staff_refs(session, [ids["clerk"], ids["director"], uuid.uuid4()])
        assert set(refs) == {ids["clerk"], ids["director"]}
        assert await org.staff_refs(session, []) == {}

        finance_ref = await org.unit_ref(session, unit["finance"])
        assert finance_ref is not None
        assert finance_ref.name_en == "Finance Division"
        assert await org.unit_ref(session, uuid.uuid4()) is None
        assert [u.code for u in await org.unit_path(session, unit["finance.ledger"])] == [
            "finance.ledger",
            "finance.accounts",
            "finance",
        ]
        assert await org.unit_tree_ids(session, unit["finance"]) == [
            unit["finance"],
            unit["finance.accounts"],
            unit["finance.ledger"],
        ]

        # Members: disabled ones only when asked; the units below only when asked.
        assert [m.id for m in await org.unit_members(session, unit["finance.accounts"])] == [ids["new"]]
        everyone = await org.unit_members(session, unit["finance.accounts"], include_disabled=True)
        assert {m.id for m in everyone} == {ids["new"], uuid.UUID(gone)}
        below = await org.unit_members(session, unit["finance"], include_subunits=True)
        assert [m.full_name for m in below] == [
            "Staff clerk@structure.example",
            "Staff director@structure.example",
            "Staff newcomer@structure.example",
        ]

        # The accounts head was disabled (and released); a vacant post answers from the unit above.
        head = await org.supervisor_of(session, unit["finance.ledger"])
        assert head is not None
        assert head.id == ids["director"]
        assert await org.supervisor_of(session, unit["palad"]) is None
        assert await org.supervisor_of(session, uuid.uuid4()) is None
    async with tenant_session(factory, tenant) as session:
        await svc.set_supervisor(
            session, unit["finance.accounts"], ids["new"], actor=Actor("system", "t"), origin=Origin()
        )
        head = await org.supervisor_of(session, unit["finance.ledger"])
        assert head is not None
        assert head.id == ids["new"]
        # A disabled supervisor never answers, even if one were left on a unit.
        await session.execute(
            org.UNITS.update().where(org.UNITS.c.id == unit["finance.accounts"]).values(supervisor_id=uuid.UUID(gone))
        )
        head = await org.supervisor_of(session, unit["finance.ledger"])
        assert head is not None
        assert head.id == ids["director"]
        await session.rollback()

    # Another LAO's session sees none of it.
    async with tenant_session(factory, other) as session:
        assert await org.staff_ref(session, ids["clerk"]) is None
        assert await org.unit_ref(session, unit["finance"]) is None
        assert await org.unit_path(session, unit["finance.ledger"]) == []
        assert await org.unit_members(session, unit["finance"], include_subunits=True) == []
        assert await org.supervisor_of(session, unit["finance.ledger"]) is None
        assert await org.position_ref(session, uuid.UUID(position["id"])) is None
