"""Requests under real concurrency: 100 intakes at once get 100 contiguous tracking numbers (no
gap, no duplicate, failed intakes spend none), numbering restarts with the fiscal year, and of two
officers acting on one request at once one wins and the other gets 409."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.kernel import cases as engine_cases
from localgov.kernel.audit import Origin
from localgov.kernel.numbering import RunningNumber
from localgov.kernel.thai import bangkok_today, fiscal_year
from localgov.plugins import REGISTRY
from localgov.services.oss import cases
from localgov.services.oss.workflow import CASE_INTAKE, CASE_READ
from tests.conftest import ClientFactory, make_settings
from tests.support.oss_cases import THAI_ID, CaseWorld, at, make_case_world, png_bytes, walk_in


async def test_a_hundred_intakes_at_once_get_contiguous_numbers(
    engine: AsyncEngine, client_for: ClientFactory, database_url: str, tmp_path: Path
) -> None:
    w = await make_case_world(engine)
    settings = make_settings(database_url, storage_dir=str(tmp_path / "files"), db_pool_size=10)
    async with client_for(settings_=settings, plugins=REGISTRY, listen=False) as http:

        async def intake(n: int) -> httpx.Response:
            # Every fifth request carries a wrong Thai ID: refused after nothing was numbered.
            body = walk_in(applicant_name=f"ผู้ยื่น {n}", applicant_thai_id=THAI_ID[:-1] + "9" if n % 5 == 0 else THAI_ID)
            return await http.post("/v1/oss/cases", json=body, headers=w.headers("officer" if n % 2 else "officer2"))

        responses = await asyncio.gather(*(intake(n) for n in range(1, 126)))
    refused = [r for r in responses if r.status_code != 201]
    assert {(r.status_code, r.json()["code"]) for r in refused} == {(422, "invalid_tax_id")}
    assert len(refused) == 25
    numbers = [r.json()["case"]["tracking_number"] for r in responses if r.status_code == 201]
    prefix = f"{w.tenant.dla_code}-{fiscal_year(bangkok_today())}-"
    assert all(number.startswith(prefix) for number in numbers)
    assert sorted(int(number.removeprefix(prefix)) for number in numbers) == list(range(1, 101))
    async with w.db() as session:
        last = (
            await session.execute(select(RunningNumber.last_value).where(RunningNumber.series == cases.TRACKING_SERIES))
        ).scalar_one()
    assert last == 100


async def test_numbers_restart_with_the_fiscal_year(engine: AsyncEngine) -> None:
    w = await make_case_world(engine)
    async with w.db() as session:
        actor = await engine_cases.staff_actor(session, w.staff["officer"], {CASE_READ, CASE_INTAKE})

        async def open_at(moment: Any) -> str:
            case_id, _ = await cases.open_request(
                session,
                tenant=w.tenant,
                service_code="test-request",
                applicant=cases.ApplicantInput(name="นายสมชาย ใจดี", thai_id=THAI_ID),
                citizen_id=None,
                channel="counter",
                actor=actor,
                now=moment,
                origin=Origin(),
            )
            return (await cases.staff_view(session, case_id)).tracking_number

        # 30 September 2570 is the last day of FY 2570; 1 October 2570 opens FY 2571 (Bangkok time).
        late = [await open_at(at(2027, 9, 30, 23)), await open_at(at(2027, 9, 30, 23))]
        early = await open_at(at(2027, 10, 1, 0))
    code = w.tenant.dla_code
    assert late == [f"{code}-2570-000001", f"{code}-2570-000002"]
    assert early == f"{code}-2571-000001"
    assert re.fullmatch(r"[0-9]{7}-[0-9]{4}-[0-9]{6}", early)


async def _ready_to_accept(http: httpx.AsyncClient, w: CaseWorld) -> dict[str, Any]:
    opened = await http.post("/v1/oss/cases", json=walk_in(), headers=w.headers("officer"))
    case: dict[str, Any] = opened.json()["case"]
    for document in ("doc.1", "doc.2"):
        uploaded = await http.post(
            f"/v1/oss/cases/{case['id']}/files",
            params={"document": document},
            files={"data": ("scan.png", png_bytes(), "image/png")},
            headers=w.headers("officer"),
        )
        assert uploaded.status_code == 201, uploaded.text
    return case


async def test_two_officers_acting_at_once_one_wins_over_http(
    engine: AsyncEngine, client_for: ClientFactory, database_url: str, tmp_path: Path
) -> None:
    w = await make_case_world(engine)
    settings = make_settings(database_url, storage_dir=str(tmp_path / "files"), db_pool_size=6)
    async with client_for(settings_=settings, plugins=REGISTRY, listen=False) as http:
        for _ in range(5):
            case = await _ready_to_accept(http, w)

            async def take(action: str, who: str, comment: str | None, case: dict[str, Any] = case) -> httpx.Response:
                return await http.post(
                    f"/v1/oss/cases/{case['id']}/actions/{action}",
                    json={"version": case["version"], "comment": comment},
                    headers=w.headers(who),
                )

            first, second = await asyncio.gather(
                take("accept", "officer", None), take("withdraw_at_counter", "officer2", "ผู้ยื่นขอถอนคำขอเป็นหนังสือ")
            )
            statuses = sorted([first.status_code, second.status_code])
            assert statuses == [200, 409], (first.text, second.text)
            loser = first if first.status_code == 409 else second
            winner = second if loser is first else first
            assert loser.json()["code"] == "case_version_conflict"
            assert loser.json()["data"]["expected_version"] == case["version"]
            stored = (await http.get(f"/v1/oss/cases/{case['id']}", headers=w.headers("manager"))).json()
            assert stored["state"] == winner.json()["state"]
            assert stored["version"] == case["version"] + 1
            assert len(stored["history"]) == 3  # open, start_check, and the winner's step only
