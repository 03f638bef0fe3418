"""The OPDC's reports on known data: cases by service and state, SLA compliance with the results
notified, time per step in working days (across Makha Bucha), delay notices with their copies;
JSON and CSV (Thai headers with the English, a byte-order mark, formula cells neutralised); the
period validated; the manager's only; another LAO's cases never counted.

The data, in the casework type (10 working days overall; submitted 1, review 5, decision 2):

* E opened Wednesday 25 February, accepted on the 26th, recommended on Monday 2 March, approved on
  Thursday 5 March (decided in the period, opened before it);
* A (building-permit) opened Monday 2 March, accepted at once, recommended on the 5th, approved on
  the 6th: on time;
* B (building-permit) opened 2 March, accepted on the 4th, recommended on the 16th (8 working days
  in review: over its 5), refused on Wednesday 18 March: a day after its deadline (17 March);
* C opened 2 March, withdrawn on the 3rd; D (a walk-in without e-mail) opened Tuesday 10 March,
  still submitted, late from Wednesday 25 March.

Sweeps on 18 March at 09:00 (B's delay notice; A's and E's results, already past their 7 days),
19 March (B's result) and 25 March (D's delay notice).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.kernel.calendar import end_of_day
from localgov.plugins import REGISTRY
from localgov.services.oss import reports
from localgov.services.oss.reports import period
from tests.conftest import ClientFactory, host
from tests.support.oss import staff
from tests.support.oss_deadlines import Office, act, at, office, open_case, sweep

MARCH = {"date_from": "2026-03-01", "date_to": "2026-03-31"}


async def _known_data(engine: AsyncEngine) -> tuple[Office, dict[str, Any]]:
    o = await office(engine, opdc_email="opdc-copies@lao.example")
    e = await open_case(o, at(2026, 2, 25, 10), number="R-E")
    e = await act(o, e, "accept", "clerk", at(2026, 2, 26, 10))
    e = await act(o, e, "recommend", "engineer", at(2026, 3, 2, 10))
    e = await act(o, e, "approve", "chief", at(2026, 3, 5, 10))
    a = await open_case(o, at(2026, 3, 2, 10), number="R-A", service="building-permit")
    b = await open_case(o, at(2026, 3, 2, 10), number="R-B", service="building-permit")
    c = await open_case(o, at(2026, 3, 2, 10), number="R-C")
    c = await act(o, c, "withdraw", "applicant", at(2026, 3, 3, 10))
    a = await act(o, a, "accept", "clerk", at(2026, 3, 2, 11))
    b = await act(o, b, "accept", "clerk", at(2026, 3, 4, 10))
    a = await act(o, a, "recommend", "engineer", at(2026, 3, 5, 10))
    a = await act(o, a, "approve", "chief", at(2026, 3, 6, 10))
    d = await open_case(o, at(2026, 3, 10, 10), number="=HYPERLINK(1)", walk_in="นายมีชัย ยืนยง")
    b = await act(o, b, "recommend", "engineer", at(2026, 3, 16, 10))
    await sweep(o, at(2026, 3, 18))
    b = await act(o, b, "refuse", "chief", at(2026, 3, 18, 10), comment="ไม่เป็นไปตามผังเมือง")
    await sweep(o, at(2026, 3, 19))
    await sweep(o, at(2026, 3, 25))
    return o, {"a": a, "b": b, "c": c, "d": d, "e": e}


def _rows(content: bytes) -> list[list[str]]:
    assert content.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


async def test_the_reports_count_the_known_data(engine: AsyncEngine) -> None:
    o, known = await _known_data(engine)
    # The deadlines the compliance report compares with: E by Thursday 12 March, A and B by
    # Tuesday 17 March (Makha Bucha not counted); B was decided the day after.
    assert [known[k].due_at for k in "eab"] == [end_of_day(dt.date(2026, 3, d)) for d in (12, 17, 17)]
    assert known["b"].decided_at == at(2026, 3, 18, 10)
    assert known["c"].decided_at is None
    march = period(dt.date(2026, 3, 1), dt.date(2026, 3, 31))
    async with o.session() as session:
        by_state = await reports.cases_by_state(session, march)
        compliance = await reports.sla_compliance(session, march)
        steps = await reports.time_per_step(session, march)
        delays = await reports.delay_notices(session, march)

    assert by_state.total == 4
    assert [(i.service_code, i.state, i.state_th, i.cases, i.open) for i in by_state.items] == [
        (None, "submitted", "ยื่นคำขอ", 1, 1),
        (None, "withdrawn", "ถอนคำขอ", 1, 0),
        ("building-permit", "approved", "อนุญาต", 1, 0),
        ("building-permit", "refused", "ไม่อนุญาต", 1, 0),
    ]
    assert {i.case_type_th for i in by_state.items} == {"คำขออนุญาตทดสอบ"}

    assert (compliance.decided, compliance.on_time, compliance.late, compliance.on_time_percent) == (
        3,
        2,
        1,
        Decimal("66.7"),
    )
    assert [
        (
            i.service_code,
            i.decided,
            i.on_time,
            i.late,
            i.no_limit,
            i.on_time_percent,
            i.results_notified_on_time,
            i.results_late,
            i.results_pending,
        )
        for i in compliance.items
    ] == [
        (None, 1, 1, 0, 0, Decimal("100.0"), 0, 1, 0),  # E: its result went out 13 days after the decision
        ("building-permit", 2, 1, 1, 0, Decimal("50.0"), 0, 1, 1),  # A's result late too; B's not yet due
    ]

    assert [
        (i.state, i.visits, i.mean_working_days, i.median_working_days, i.max_working_days, i.sla_days, i.over_limit)
        for i in steps.items
    ] == [
        ("decision", 3, Decimal("1.7"), Decimal("2.0"), 2, 2, 0),  # E 2, A 1, B 2
        ("review", 3, Decimal("4.0"), Decimal("2.0"), 8, 5, 1),  # E 2 (27 Feb, 2 Mar), A 2, B 8
        ("submitted", 3, Decimal("0.3"), Decimal("0.0"), 1, 1, 0),  # A 0, B 1 (3 March a holiday), C 0
    ]

    assert (delays.notices, delays.cases, delays.opdc_copies, delays.opdc_emailed, delays.undelivered) == (
        2,
        2,
        2,
        2,
        1,
    )
    assert [
        (i.tracking_number, i.seq, i.sent_at, i.due_on, i.days_over, i.working_days_over, i.state, i.channel)
        for i in delays.items
    ] == [
        ("R-B", 1, at(2026, 3, 18), dt.date(2026, 3, 17), 1, 1, "decision", "email"),
        ("=HYPERLINK(1)", 1, at(2026, 3, 25), dt.date(2026, 3, 24), 1, 1, "submitted", None),
    ]
    assert [(t.service_code, t.notices, t.cases) for t in delays.by_service] == [
        (None, 1, 1),
        ("building-permit", 1, 1),
    ]

    # A period before anything happened counts nothing.
    january = period(dt.date(2026, 1, 1), dt.date(2026, 1, 31))
    async with o.session() as session:
        assert (await reports.cases_by_state(session, january)).items == []
        assert (await reports.sla_compliance(session, january)).on_time_percent is None
        assert (await reports.time_per_step(session, january)).items == []
        assert (await reports.delay_notices(session, january)).items == []


async def test_the_reports_over_http_json_and_csv(engine: AsyncEngine, client_for: ClientFactory) -> None:
    o, _ = await _known_data(engine)
    other = await office(engine)
    async with client_for(plugins=REGISTRY, listen=False) as http:
        for name in ("cases-by-state", "sla-compliance", "time-per-step", "delay-notices"):
            json_report = await http.get(f"/v1/oss/reports/{name}", params=MARCH, headers=staff(o.tenant))
            assert json_report.status_code == 200, (name, json_report.text)
            assert json_report.json()["date_from"] == "2026-03-01"
            exported = await http.get(f"/v1/oss/reports/{name}.csv", params=MARCH, headers=staff(o.tenant))
            assert exported.status_code == 200
            assert exported.headers["content-type"].startswith("text/csv")
            assert exported.headers["content-disposition"] == (
                f'attachment; filename="oss-{name}-2026-03-01-2026-03-31.csv"'
            )
            # Another LAO's report counts none of these cases.
            theirs = await http.get(f"/v1/oss/reports/{name}", params=MARCH, headers=staff(other.tenant))
            assert theirs.json()["items"] == []
        sla = (await http.get("/v1/oss/reports/sla-compliance", params=MARCH, headers=staff(o.tenant))).json()
        assert (sla["decided"], sla["on_time_percent"]) == (3, "66.7")

        rows = _rows(
            (await http.get("/v1/oss/reports/delay-notices.csv", params=MARCH, headers=staff(o.tenant))).content
        )
        assert rows[0][:6] == [
            "เลขที่คำขอ (tracking_number)",
            "งานบริการ (case_type_th)",
            "รหัสงานบริการ (service_code)",
            "ผู้ยื่นคำขอ (applicant_name)",
            "ครั้งที่ (seq)",
            "วันที่แจ้ง (sent_date)",
        ]
        assert rows[1][:9] == [
            "R-B",
            "คำขออนุญาตทดสอบ",
            "building-permit",
            "นางสาวสมศรี ใจดี",
            "1",
            "2026-03-18",
            "18 มี.ค. 2569",
            "2026-03-17",
            "1",
        ]
        assert rows[1][-5:] == ["email", "queued", "", "ใช่", "ใช่"]
        # A tracking number typed as a formula is written as text.
        assert rows[2][0] == "'=HYPERLINK(1)"
        assert rows[2][11] == "ไม่มีที่อยู่อีเมล"
        steps = _rows(
            (await http.get("/v1/oss/reports/time-per-step.csv", params=MARCH, headers=staff(o.tenant))).content
        )
        assert steps[0][4:6] == ["จำนวนครั้ง (visits)", "เฉลี่ย (วันทำการ) (mean_working_days)"]
        assert steps[2] == ["casework.permit", "คำขออนุญาตทดสอบ", "review", "พิจารณา", "3", "4.0", "2.0", "8", "5", "1"]
        by_state = _rows(
            (await http.get("/v1/oss/reports/cases-by-state.csv", params=MARCH, headers=staff(o.tenant))).content
        )
        assert by_state[1] == ["casework.permit", "คำขออนุญาตทดสอบ", "", "submitted", "ยื่นคำขอ", "1", "1"]


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"date_from": "2026-03-31", "date_to": "2026-03-01"}, 422, "invalid_range"),
        ({"date_from": "2025-01-01", "date_to": "2026-01-02"}, 422, "invalid_range"),  # 367 days: 366 is the most
        ({"date_from": "2026-03-01"}, 400, "validation_error"),
        ({"date_from": "2026-03-01", "date_to": "31/03/2026"}, 400, "validation_error"),
    ],
)
async def test_a_report_period_is_checked(
    engine: AsyncEngine, client_for: ClientFactory, params: dict[str, str], status: int, code: str
) -> None:
    o = await office(engine)
    async with client_for(plugins=REGISTRY, listen=False) as http:
        for name in ("cases-by-state", "sla-compliance.csv", "time-per-step", "delay-notices.csv"):
            refused = await http.get(f"/v1/oss/reports/{name}", params=params, headers=staff(o.tenant))
            assert (refused.status_code, refused.json()["code"]) == (status, code), name
            assert refused.headers["content-type"].startswith("application/problem+json")
        full_year = {"date_from": "2025-01-02", "date_to": "2026-01-02"}
        assert (
            await http.get("/v1/oss/reports/cases-by-state", params=full_year, headers=staff(o.tenant))
        ).status_code == 200


async def test_reports_are_the_managers(engine: AsyncEngine, client_for: ClientFactory) -> None:
    o = await office(engine)
    async with client_for(plugins=REGISTRY, listen=False) as http:
        for name in ("cases-by-state", "sla-compliance.csv"):
            assert (
                await http.get(f"/v1/oss/reports/{name}", params=MARCH, headers=host(o.tenant.slug))
            ).status_code == 401
            officer = await http.get(f"/v1/oss/reports/{name}", params=MARCH, headers=staff(o.tenant, "oss.officer"))
            assert officer.status_code == 403
            manager = await http.get(f"/v1/oss/reports/{name}", params=MARCH, headers=staff(o.tenant, "oss.manager"))
            assert manager.status_code == 200
