"""Numbers and registers: 200 letters issued at once get contiguous numbers and register lines;
numbers per issuing unit, circulars ``ว``, orders and announcements ``n/BE-year``; the hash chain
verifier (service and ``localgov saraban verify-registers``) names the first altered line."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov import cli
from localgov.kernel.db import create_engine, session_factory, tenant_session
from localgov.kernel.thai import bangkok_today, be_year
from localgov.services.saraban import issuing, registers
from localgov.services.saraban.models import IssuingUnit, Letter, RegisterEntry
from localgov.settings import Settings
from tests.conftest import make_settings
from tests.support.saraban import ORIGIN, Lao, approved, issued, make_lao


async def approved_in_bulk(lao: Lao, count: int) -> list[uuid.UUID]:
    """``count`` approved letters written directly (the workflow itself is tested elsewhere)."""
    async with lao.db() as session:
        rows = [
            Letter(
                direction="outgoing",
                kind="external",
                status="approved",
                subject=f"หนังสือทดสอบฉบับที่ {i}",
                signer_staff_id=lao.staff["signer"],
            )
            for i in range(count)
        ]
        session.add_all(rows)
        await session.flush()
        return [row.id for row in rows]


async def numbers_of(lao: Lao) -> list[tuple[int | None, str | None]]:
    async with lao.db() as session:
        rows = await session.execute(
            select(Letter.number_value, Letter.number_text)
            .where(Letter.status == "issued")
            .order_by(Letter.number_value)
        )
        return [(row[0], row[1]) for row in rows]


async def test_two_hundred_letters_issued_at_once_are_numbered_without_gaps(
    engine: AsyncEngine, database_url: str
) -> None:
    lao = await make_lao(engine)
    ids = await approved_in_bulk(lao, 200)
    # Twenty connections, 200 transactions at once: they queue on the counter row's lock.
    wide = create_engine(make_settings(database_url, db_pool_size=20, db_max_overflow=0, db_pool_timeout_s=120))
    factory = session_factory(wide)

    async def issue(letter_id: uuid.UUID) -> None:
        async with tenant_session(factory, lao.tenant) as session:
            await issuing.issue_letter(
                session, letter_id, 1, tenant=lao.tenant, viewer=lao.viewer("clerk"), origin=ORIGIN
            )

    try:
        await asyncio.gather(*(issue(letter_id) for letter_id in ids))
    finally:
        await wide.dispose()
    numbers = await numbers_of(lao)
    assert [value for value, _ in numbers] == list(range(1, 201))
    assert numbers[0][1] == "ที่ ขก 51301/1"
    async with lao.db() as session:
        lines = (
            await session.execute(select(RegisterEntry.seq, RegisterEntry.letter_id).order_by(RegisterEntry.seq))
        ).all()
        assert [seq for seq, _ in lines] == list(range(1, 201))
        assert {letter_id for _, letter_id in lines} == set(ids)
        [report] = await registers.verify(session)
        assert (report.register, report.entries, report.ok) == ("send", 200, True)


async def test_number_forms_by_kind_and_issuing_unit(engine: AsyncEngine) -> None:
    lao = await make_lao(engine)
    year = be_year(bangkok_today())
    async with lao.db() as session:
        unit = IssuingUnit(code="ขก 51301.2", name_th="กองช่าง")
        session.add(unit)
        await session.flush()
        unit_id = unit.id
    first = await issued(lao)
    circular = await issued(lao, circular=True)
    order = await issued(lao, kind="directive", subkind="order", recipients=[])
    announcement = await issued(lao, kind="public", subkind="announcement", recipients=[])
    second_order = await issued(lao, kind="directive", subkind="order", recipients=[])
    by_unit = await issued(lao, issuing_unit_id=str(unit_id))
    async with lao.db() as session:
        texts = {
            row.id: row.number_text for row in (await session.execute(select(Letter.id, Letter.number_text))).all()
        }
    assert texts[first] == "ที่ ขก 51301/1"
    assert texts[circular] == "ที่ ขก 51301/ว 1"
    assert texts[order] == f"1/{year}"
    assert texts[announcement] == f"1/{year}"
    assert texts[second_order] == f"2/{year}"
    assert texts[by_unit] == "ที่ ขก 51301.2/1"


async def test_the_verifier_names_the_first_altered_line(
    engine: AsyncEngine, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    lao = await make_lao(engine)
    ids = [await issued(lao) for _ in range(4)]
    async with lao.db() as session:
        assert [r.ok for r in await registers.verify(session)] == [True]
    assert await cli._verify_registers(settings, lao.tenant.slug) == 0
    assert "ok (4 lines)" in capsys.readouterr().out
    # Someone edits line 3 in the database (the subject), line 4 untouched.
    async with lao.db() as session:
        await session.execute(
            update(RegisterEntry).where(RegisterEntry.letter_id == ids[2]).values(subject="เรื่องที่ถูกแก้ไข")
        )
    async with lao.db() as session:
        [report] = await registers.verify(session)
        third = (await session.execute(select(RegisterEntry.id).where(RegisterEntry.letter_id == ids[2]))).scalar_one()
    assert (report.ok, report.first_bad_seq, report.first_bad_id) == (False, 3, third)
    assert report.reason == "the line's content does not match its hash"
    assert await cli._verify_registers(settings, lao.tenant.slug) == 1
    assert f"ALTERED at line 3 (entry {third})" in capsys.readouterr().out
    # A line deleted (and the chain re-hashed after it would be needed to hide it) is found too.
    async with lao.db() as session:
        await session.execute(
            text("UPDATE saraban_register_entries SET subject = :s WHERE letter_id = :id"),
            {"s": "ขอเชิญประชุมคณะกรรมการพัฒนาท้องถิ่น", "id": ids[2]},
        )
        await session.execute(text("DELETE FROM saraban_register_entries WHERE letter_id = :id"), {"id": ids[1]})
    async with lao.db() as session:
        [report] = await registers.verify(session)
    assert (report.ok, report.first_bad_seq) == (False, 2)


async def test_numbers_restart_with_the_calendar_year(engine: AsyncEngine) -> None:
    """Issued on 31 December and on 1 January: each year's register starts at 1."""
    import datetime as dt

    from localgov.kernel.thai import BANGKOK

    lao = await make_lao(engine)
    late = await approved(lao)
    early = await approved(lao)
    async with lao.db() as session:
        await issuing.issue_letter(
            session,
            late,
            3,
            tenant=lao.tenant,
            viewer=lao.viewer("clerk"),
            origin=ORIGIN,
            now=dt.datetime(2026, 12, 31, 23, 59, tzinfo=BANGKOK),
        )
    async with lao.db() as session:
        await issuing.issue_letter(
            session,
            early,
            3,
            tenant=lao.tenant,
            viewer=lao.viewer("clerk"),
            origin=ORIGIN,
            now=dt.datetime(2027, 1, 1, 0, 1, tzinfo=BANGKOK),
        )
    async with lao.db() as session:
        rows = (await session.execute(select(RegisterEntry.year, RegisterEntry.seq).order_by(RegisterEntry.year))).all()
        texts = dict((await session.execute(select(Letter.id, Letter.number_text))).all())
        reports = await registers.verify(session)
    assert [(r[0], r[1]) for r in rows] == [(2569, 1), (2570, 1)]
    assert texts[late] == texts[early] == "ที่ ขก 51301/1"
    assert [r.ok for r in reports] == [True, True]
