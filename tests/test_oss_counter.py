"""The counter: service points, tickets numbered per point and day, call-next under concurrency,
served / no-show, the public queue, the waiting room's display, statistics."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import uuid

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.kernel.audit import Origin
from localgov.kernel.db import create_engine
from localgov.kernel.pagination import encode_cursor
from localgov.kernel.thai import BANGKOK
from localgov.plugins import REGISTRY
from localgov.services.oss import counter
from localgov.services.oss.schemas import ServicePointCreate
from localgov.settings import Settings
from tests.conftest import ClientFactory, host, make_settings
from tests.support.oss import STAFF, call, finish, issue, oss_db, oss_tenant, point_a, staff
from tests.support.paging import walk_pages
from tests.support.tokens import bearer

#: 09:00 in Bangkok on a fixed day (02:00 UTC).
NINE = dt.datetime(2026, 3, 2, 9, 0, tzinfo=BANGKOK)


def at(minutes: float, base: dt.datetime = NINE) -> dt.datetime:
    return base + dt.timedelta(minutes=minutes)


def problem(response: httpx.Response) -> tuple[int, str]:
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    return response.status_code, response.json()["code"]


async def test_service_points_are_managed_and_validated(engine: AsyncEngine, client_for: ClientFactory) -> None:
    tenant = await oss_tenant(engine)
    async with client_for(plugins=REGISTRY, listen=False) as http:
        seeded = (await http.get("/v1/oss/points", headers=staff(tenant, "oss.officer"))).json()["items"]
        assert [(p["code"], p["name_th"], p["active"]) for p in seeded] == [("A", "ศูนย์บริการร่วม", True)]
        created = await http.post(
            "/v1/oss/points",
            json={"code": "B", "name_th": "งานทะเบียนพาณิชย์", "location_th": "ชั้น 2"},
            headers=staff(tenant, "oss.manager"),
        )
        assert created.status_code == 201, created.text
        point = created.json()
        walked = await walk_pages(http, "/v1/oss/points", staff(tenant, "oss.officer"))
        assert [p["code"] for p in walked] == ["A", "B"]
        assert point["display_path"] == f"/v1/oss/pages/points/{point['id']}/display"
        assert problem(
            await http.post("/v1/oss/points", json={"code": "B", "name_th": "ซ้ำ"}, headers=staff(tenant))
        ) == (409, "point_code_taken")
        for body in (
            {"code": "b", "name_th": "x"},
            {"code": "ABC", "name_th": "x"},
            {"code": "C"},
            {"code": "C", "name_th": ""},
        ):
            assert problem(await http.post("/v1/oss/points", json=body, headers=staff(tenant))) == (
                400,
                "validation_error",
            )
        assert problem(
            await http.post("/v1/oss/points", json={"code": "C", "name_th": "x"}, headers=staff(tenant, "oss.officer"))
        ) == (403, "forbidden")
        closed = await http.patch(
            f"/v1/oss/points/{point['id']}",
            json={"active": False, "name_en": "Commercial registration"},
            headers=staff(tenant),
        )
        assert (closed.json()["active"], closed.json()["name_en"]) == (False, "Commercial registration")
        refused = await http.post(f"/v1/oss/points/{point['id']}/tickets", json={}, headers=staff(tenant))
        assert problem(refused) == (409, "point_inactive")
        assert problem(
            await http.patch(f"/v1/oss/points/{point['id']}", json={"active": "no"}, headers=staff(tenant))
        ) == (
            400,
            "validation_error",
        )


async def test_numbers_run_per_point_and_restart_each_bangkok_day(engine: AsyncEngine) -> None:
    tenant = await oss_tenant(engine)
    point_id = await point_a(engine, tenant)
    late = dt.datetime(2026, 3, 2, 23, 58, tzinfo=BANGKOK)
    numbers = [(await issue(engine, tenant, point_id, at(m, late)))["number"] for m in (0, 1)]
    # 00:00 in Bangkok is 17:00 UTC the day before: the day is Bangkok's.
    after_midnight = [(await issue(engine, tenant, point_id, at(m, late)))["number"] for m in (2, 3)]
    assert numbers == ["A001", "A002"]
    assert after_midnight == ["A001", "A002"]
    async with oss_db(engine, tenant) as session:
        await counter.create_point(
            session, ServicePointCreate(code="B", name_th="จุดบริการ B"), actor=STAFF, origin=Origin()
        )
        b = next(p["id"] for p in await counter.list_points(session) if p["code"] == "B")
    assert (await issue(engine, tenant, b, at(4, late)))["number"] == "B001"


async def test_call_next_serves_in_order_one_ticket_per_desk(engine: AsyncEngine) -> None:
    tenant = await oss_tenant(engine)
    point_id = await point_a(engine, tenant)
    tickets = [await issue(engine, tenant, point_id, at(m)) for m in range(3)]
    first = await call(engine, tenant, point_id, "1", at(5))
    assert (first["number"], first["status"], first["desk"]) == ("A001", "called", "1")
    with pytest.raises(counter.DeskBusy) as busy:
        await call(engine, tenant, point_id, "1", at(6))
    assert busy.value.data == {"desk": "1", "number": "A001"}
    second = await call(engine, tenant, point_id, "2", at(6))
    assert second["number"] == "A002"
    served = await finish(engine, tenant, first["id"], "served", at(10))
    assert (served["status"], served["finished_at"]) == ("served", at(10))
    with pytest.raises(counter.TicketNotCalled):
        await finish(engine, tenant, first["id"], "no_show", at(11))
    with pytest.raises(counter.TicketNotWaiting):
        await finish(engine, tenant, second["id"], "cancelled", at(11))
    third = await call(engine, tenant, point_id, "1", at(11))
    assert third["id"] == tickets[2]["id"]
    await finish(engine, tenant, third["id"], "no_show", at(15))
    with pytest.raises(counter.QueueEmpty):
        await call(engine, tenant, point_id, "1", at(16))
    # Yesterday's waiting tickets are not called today.
    await issue(engine, tenant, point_id, at(-24 * 60))
    with pytest.raises(counter.QueueEmpty):
        await call(engine, tenant, point_id, "1", at(17))


async def test_two_desks_calling_at_once_get_different_tickets_without_waiting(engine: AsyncEngine) -> None:
    """The first desk's transaction still holds its ticket; the second desk takes the next one at once."""
    tenant = await oss_tenant(engine)
    point_id = await point_a(engine, tenant)
    for m in range(2):
        await issue(engine, tenant, point_id, at(m))
    async with oss_db(engine, tenant) as first, oss_db(engine, tenant) as second:
        one = await counter.call_next(first, point_id, "1", actor=STAFF, now=at(5))
        # Not committed yet: a plain FOR UPDATE would block here until the first transaction ends.
        two = await asyncio.wait_for(counter.call_next(second, point_id, "2", actor=STAFF, now=at(5)), timeout=5)
        assert (one["number"], two["number"]) == ("A001", "A002")


async def waiting_on_a_lock(engine: AsyncEngine) -> None:
    """Until another backend of this database waits on a lock (at most 5 s)."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    async with asyncio.timeout(5):
        while True:
            async with engine.connect() as conn:
                if (await conn.execute(query)).scalar_one():
                    return
            await asyncio.sleep(0.01)  # polling for a condition, not waiting for time to pass


async def test_one_desk_calling_twice_at_once_gets_one_ticket(engine: AsyncEngine) -> None:
    """Both calls pass the "desk busy" check before either commits: the partial unique index
    makes the second wait for the first and then refuses it (409 ``desk_busy``)."""
    tenant = await oss_tenant(engine)
    point_id = await point_a(engine, tenant)
    for m in range(2):
        await issue(engine, tenant, point_id, at(m))
    async with oss_db(engine, tenant) as first:
        one = await counter.call_next(first, point_id, "1", actor=STAFF, now=at(5))

        async def again() -> None:
            async with oss_db(engine, tenant) as second:
                await counter.call_next(second, point_id, "1", actor=STAFF, now=at(5))

        racing = asyncio.create_task(again())
        await waiting_on_a_lock(engine)  # the second call waits on the desk's unique index entry
        await first.commit()
        with pytest.raises(counter.DeskBusy):
            await racing
    assert one["number"] == "A001"
    async with oss_db(engine, tenant) as session:
        rows = await counter.day_tickets(session, point_id, NINE.date(), status=None, after=None, limit=10)
    assert [(r["number"], r["status"]) for r in rows] == [("A001", "called"), ("A002", "waiting")]


async def test_many_desks_calling_concurrently_over_http_never_share_a_ticket(
    settings: Settings, client_for: ClientFactory
) -> None:
    pooled = make_settings(settings.database_url, db_pool_size=8, db_max_overflow=0, db_pool_timeout_s=30)
    engine = create_engine(pooled)
    try:
        tenant = await oss_tenant(engine)
        point_id = await point_a(engine, tenant)
        async with client_for(settings_=pooled, engine=engine, plugins=REGISTRY, listen=False) as http:
            headers = staff(tenant, "oss.officer")
            issued = await asyncio.gather(
                *(http.post(f"/v1/oss/points/{point_id}/tickets", json={}, headers=headers) for _ in range(24))
            )
            assert sorted(r.json()["number"] for r in issued) == [f"A{n:03d}" for n in range(1, 25)]
            calls = await asyncio.gather(
                *(
                    http.post(f"/v1/oss/points/{point_id}/call-next", json={"desk": f"{desk}"}, headers=headers)
                    for desk in range(1, 31)
                )
            )
        called = [r.json()["number"] for r in calls if r.status_code == 200]
        refused = [problem(r) for r in calls if r.status_code != 200]
        assert sorted(called) == [f"A{n:03d}" for n in range(1, 25)]  # every ticket once, none twice
        assert refused == [(409, "queue_empty")] * 6
    finally:
        await engine.dispose()


async def test_statistics_of_waiting_and_service_times(engine: AsyncEngine, client_for: ClientFactory) -> None:
    tenant = await oss_tenant(engine)
    point_id = await point_a(engine, tenant)
    t = [await issue(engine, tenant, point_id, at(m)) for m in range(4)]
    one = await call(engine, tenant, point_id, "1", at(5))  # waited 300 s
    two = await call(engine, tenant, point_id, "2", at(6))  # waited 300 s
    await finish(engine, tenant, two["id"], "served", at(10))  # served in 240 s
    await finish(engine, tenant, one["id"], "served", at(15))  # served in 600 s
    three = await call(engine, tenant, point_id, "1", at(16))  # waited 840 s
    await finish(engine, tenant, three["id"], "no_show", at(20))
    await finish(engine, tenant, t[3]["id"], "cancelled", at(30))
    await issue(engine, tenant, point_id, at(24 * 60))  # the next day: one still waiting
    async with oss_db(engine, tenant) as session:
        rows = await counter.queue_stats(session, NINE.date(), NINE.date() + dt.timedelta(days=1), None)
    async with client_for(plugins=REGISTRY, listen=False) as http:
        response = await http.get(
            "/v1/oss/queue-stats",
            params={"date_from": "2026-03-02", "date_to": "2026-03-03", "point_id": str(point_id)},
            headers=staff(tenant, "oss.manager"),
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert problem(
            await http.get(
                "/v1/oss/queue-stats",
                params={"date_from": "2026-03-02", "date_to": "2026-03-01"},
                headers=staff(tenant),
            )
        ) == (422, "invalid_range")
        assert problem(
            await http.get(
                "/v1/oss/queue-stats",
                params={"date_from": "2026-01-01", "date_to": "2026-06-01"},
                headers=staff(tenant),
            )
        ) == (422, "invalid_range")
        assert problem(
            await http.get(
                "/v1/oss/queue-stats",
                params={"date_from": "2026-03-02", "date_to": "2026-03-02"},
                headers=staff(tenant, "oss.officer"),
            )
        ) == (403, "forbidden")
    assert len(rows) == 2
    day, next_day = body["items"]
    assert {k: day[k] for k in ("point_code", "day", "issued", "served", "no_show", "cancelled", "open")} == {
        "point_code": "A",
        "day": "2026-03-02",
        "issued": 4,
        "served": 2,
        "no_show": 1,
        "cancelled": 1,
        "open": 0,
    }
    # Waits 300, 300, 840: mean 480, median 300, p90 300 + 0.8 × 540 (linear interpolation).
    assert day["wait_seconds"] == {"mean": 480.0, "p50": 300.0, "p90": 732.0}
    # Services 240 and 600: mean and median 420, p90 240 + 0.9 × 360.
    assert day["service_seconds"] == {"mean": 420.0, "p50": 420.0, "p90": 564.0}
    assert (next_day["day"], next_day["issued"], next_day["open"]) == ("2026-03-03", 1, 1)
    assert next_day["wait_seconds"] == {"mean": None, "p50": None, "p90": None}


async def test_the_estimated_wait_learns_from_served_tickets(engine: AsyncEngine) -> None:
    tenant = await oss_tenant(engine)
    point_id = await point_a(engine, tenant)
    tickets = [await issue(engine, tenant, point_id, at(m)) for m in range(5)]
    async with oss_db(engine, tenant) as session:
        row, estimate = await counter.public_ticket(session, tickets[0]["token"], at(0.5))
    # Nobody served yet, one desk assumed: 5 minutes a visit.
    assert (row["ahead"], estimate) == (0, 5)
    first = await call(engine, tenant, point_id, "1", at(1))
    await finish(engine, tenant, first["id"], "served", at(11))  # 600 s
    await call(engine, tenant, point_id, "2", at(12))
    async with oss_db(engine, tenant) as session:
        row, estimate = await counter.public_ticket(session, tickets[4]["token"], at(13))
        called, none = await counter.public_ticket(session, tickets[1]["token"], at(13))
    # Two tickets ahead (A003, A004), 600 s a visit, two desks called in the last hour.
    assert (row["ahead"], estimate) == (2, 15)
    assert (called["status"], called["desk"], none) == ("called", "2", None)
    async with oss_db(engine, tenant) as session:
        _, tomorrow = await counter.public_ticket(session, tickets[4]["token"], at(24 * 60))
    assert tomorrow is None  # a ticket of a day gone by is not called any more


async def test_tickets_over_http_kiosk_idempotency_and_the_public_queue(
    engine: AsyncEngine, client_for: ClientFactory
) -> None:
    tenant = await oss_tenant(engine)
    point_id = await point_a(engine, tenant)
    public = host(tenant.slug)
    async with client_for(plugins=REGISTRY, listen=False) as http:
        services = (await http.get("/v1/oss/services", headers=staff(tenant))).json()["items"]
        kiosk = {**public, **bearer(tenant, kind="client", scopes=["oss.queue"], subject="kiosk-1")}
        first = await http.post(
            f"/v1/oss/points/{point_id}/tickets",
            json={"service_id": services[0]["id"]},
            headers={**kiosk, "Idempotency-Key": "press-1"},
        )
        assert first.status_code == 201, first.text
        ticket = first.json()
        assert (ticket["number"], ticket["status"], ticket["service_id"]) == ("A001", "waiting", services[0]["id"])
        token = ticket["follow_path"].rsplit("/", 1)[1]
        assert ticket["slip_path"] == f"/v1/oss/pages/queue/{token}/slip"
        assert ticket["follow_url"] == f"https://{tenant.slug}.localgov.test/v1/oss/pages/queue/{token}"
        replay = await http.post(
            f"/v1/oss/points/{point_id}/tickets",
            json={"service_id": services[0]["id"]},
            headers={**kiosk, "Idempotency-Key": "press-1"},
        )
        assert (replay.json()["id"], replay.headers.get("idempotent-replayed")) == (ticket["id"], "true")
        unknown = await http.post(
            f"/v1/oss/points/{point_id}/tickets", json={"service_id": str(uuid.uuid4())}, headers=staff(tenant)
        )
        assert problem(unknown) == (422, "unknown_service")
        assert problem(
            await http.post(f"/v1/oss/points/{point_id}/tickets", json={"desk": 1}, headers=staff(tenant))
        ) == (
            400,
            "validation_error",
        )
        second = (await http.post(f"/v1/oss/points/{point_id}/tickets", json={}, headers=staff(tenant))).json()
        assert second["number"] == "A002"

        followed = await http.get(f"/v1/oss/queue/{token}", headers=public)
        assert followed.status_code == 200
        assert {k: followed.json()[k] for k in ("number", "status", "ahead", "estimated_wait_minutes", "desk")} == {
            "number": "A001",
            "status": "waiting",
            "ahead": 0,
            "estimated_wait_minutes": 5,
            "desk": None,
        }
        assert followed.json()["point"] == {
            "code": "A",
            "name_th": "ศูนย์บริการร่วม",
            "name_en": "One Stop Service counter",
        }
        assert problem(await http.get("/v1/oss/queue/not-a-ticket", headers=public)) == (404, "ticket_not_found")

        officer = staff(tenant, "oss.officer")
        assert problem(await http.post(f"/v1/oss/points/{point_id}/call-next", json={}, headers=officer)) == (
            400,
            "validation_error",
        )
        assert problem(
            await http.post(
                f"/v1/oss/points/{point_id}/call-next", json={"desk": "1"}, headers=staff(tenant, "oss.editor")
            )
        ) == (
            403,
            "forbidden",
        )
        called = await http.post(f"/v1/oss/points/{point_id}/call-next", json={"desk": "3"}, headers=officer)
        assert (called.json()["number"], called.json()["desk"]) == ("A001", "3")
        busy = await http.post(f"/v1/oss/points/{point_id}/call-next", json={"desk": "3"}, headers=officer)
        assert problem(busy) == (409, "desk_busy")
        assert busy.json()["data"] == {"desk": "3", "number": "A001"}

        board = (await http.get(f"/v1/oss/points/{point_id}/board", headers=public)).json()
        assert [(s["desk"], s["number"]) for s in board["serving"]] == [("3", "A001")]
        assert (board["next"], board["waiting"]) == (["A002"], 1)
        now_called = (await http.get(f"/v1/oss/queue/{token}", headers=public)).json()
        assert (now_called["status"], now_called["desk"], now_called["ahead"]) == ("called", "3", None)

        listed = await http.get(f"/v1/oss/points/{point_id}/tickets", params={"status": "waiting"}, headers=officer)
        assert [t["number"] for t in listed.json()["items"]] == ["A002"]
        page = await http.get(
            f"/v1/oss/points/{point_id}/tickets",
            params={"cursor": encode_cursor([ticket["id"]]), "limit": 1},
            headers=officer,
        )
        assert [t["number"] for t in page.json()["items"]] == ["A002"]
        served = await http.post(f"/v1/oss/tickets/{ticket['id']}/served", headers=officer)
        assert served.json()["status"] == "served"
        assert problem(await http.post(f"/v1/oss/tickets/{ticket['id']}/no-show", headers=officer)) == (
            409,
            "ticket_not_called",
        )
        cancelled = await http.post(f"/v1/oss/tickets/{second['id']}/cancel", headers=officer)
        assert cancelled.json()["status"] == "cancelled"
        fetched = (await http.get(f"/v1/oss/tickets/{second['id']}", headers=officer)).json()
        assert (fetched["status"], fetched["finished_at"] is not None) == ("cancelled", True)
        assert problem(await http.get(f"/v1/oss/tickets/{uuid.uuid4()}", headers=officer)) == (404, "ticket_not_found")


def assert_page(response: httpx.Response, status: int = 200) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert "no-store" in response.headers["cache-control"]
    body = response.text
    assert '<html lang="th">' in body
    assert "<script" not in body
    assert " style=" not in body
    return body


async def test_the_slip_the_ticket_page_and_the_display(engine: AsyncEngine, client_for: ClientFactory) -> None:
    tenant = await oss_tenant(engine)
    point_id = await point_a(engine, tenant)
    public = host(tenant.slug)
    async with client_for(plugins=REGISTRY, listen=False) as http:
        issued = [
            (await http.post(f"/v1/oss/points/{point_id}/tickets", json={}, headers=staff(tenant))).json()
            for _ in range(3)
        ]
        token = issued[2]["follow_path"].rsplit("/", 1)[1]
        slip = assert_page(await http.get(issued[2]["slip_path"], headers=public))
        assert '<h1 id="slip-number" class="slip-number">A003</h1>' in slip
        assert "คิวก่อนหน้า 2 คิว" in slip
        assert re.search(r'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 \d+ \d+" class="qr">', slip)
        assert issued[2]["follow_url"] in slip
        assert tenant.name_th in slip

        page = assert_page(await http.get(f"/v1/oss/pages/queue/{token}", headers=public))
        assert '<meta http-equiv="refresh" content="30">' in page
        assert "รอเรียกคิว" in page
        assert '<dd id="ahead">2</dd>' in page

        display_path = f"/v1/oss/pages/points/{point_id}/display"
        idle = assert_page(await http.get(display_path, headers=public))
        assert '<meta http-equiv="refresh" content="10">' in idle
        assert "ยังไม่มีการเรียกคิว" in idle
        await http.post(f"/v1/oss/points/{point_id}/call-next", json={"desk": "2"}, headers=staff(tenant))
        shown = assert_page(await http.get(display_path, headers=public))
        assert '<tr class="latest"><td class="number">A001</td><td class="desk">2</td></tr>' in shown
        assert '<ol id="next"><li>A002</li><li>A003</li></ol>' in shown
        assert '<strong id="waiting">2</strong>' in shown

        await http.post(f"/v1/oss/points/{point_id}/call-next", json={"desk": "1"}, headers=staff(tenant))
        first_token = issued[0]["follow_path"].rsplit("/", 1)[1]
        assert "ถึงคิวของท่านแล้ว เชิญที่ช่องบริการ 2" in assert_page(
            await http.get(f"/v1/oss/pages/queue/{first_token}", headers=public)
        )

        assert "ไม่พบบัตรคิวนี้" in assert_page(await http.get("/v1/oss/pages/queue/nothing", headers=public), 404)
        assert "ไม่พบบัตรคิวนี้" in assert_page(await http.get("/v1/oss/pages/queue/nothing/slip", headers=public), 404)
        missing = await http.get(f"/v1/oss/pages/points/{uuid.uuid4()}/display", headers=public)
        assert "ไม่พบจุดบริการนี้" in assert_page(missing, 404)


async def test_public_queue_reads_are_rate_limited_per_address(
    engine: AsyncEngine, client_for: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = await oss_tenant(engine)
    point_id = await point_a(engine, tenant)
    monkeypatch.setattr("localgov.services.oss.counter_views.PUBLIC_LIMIT_PER_ADDRESS", (2, 300))
    async with client_for(plugins=REGISTRY, listen=False) as http:
        for _ in range(2):
            assert (await http.get(f"/v1/oss/points/{point_id}/board", headers=host(tenant.slug))).status_code == 200
        limited = await http.get(f"/v1/oss/points/{point_id}/board", headers=host(tenant.slug))
        assert problem(limited) == (429, "rate_limited")
        page = await http.get(f"/v1/oss/pages/points/{point_id}/display", headers=host(tenant.slug))
        assert page.status_code == 429
        assert "มีการเรียกดูจากเครื่องนี้มากเกินไป" in page.text
