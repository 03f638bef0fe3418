"""Retention and the yearly destruction list: the scheduled job prepares the list of the year that
ended within the 60 days after it, once, with the letters whose retention ran out."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.services.saraban import retention, rules
from localgov.services.saraban.models import DestructionList, Letter, RetentionRule
from tests.support.saraban import make_lao


async def test_the_job_prepares_each_ended_year_once_within_sixty_days(engine: AsyncEngine) -> None:
    lao = await make_lao(engine)
    async with lao.db() as session:
        # The seed wrote the default rules.
        seeded = dict((await session.execute(select(RetentionRule.kind, RetentionRule.years))).all())
        assert seeded == rules.DEFAULT_RETENTION
        letters = [
            # Received in 2558 under the 10-year rule: due by the end of 2568.
            Letter(
                direction="incoming", kind="external", status="received", subject="เก่า", letter_date=dt.date(2015, 6, 1)
            ),
            # Stamped letters are kept 1 year: 2567 + 1 = 2568.
            Letter(
                direction="outgoing",
                kind="stamped",
                status="issued",
                subject="ประทับตรา",
                letter_date=dt.date(2024, 3, 1),
            ),
            # Still kept: 2560 + 10 = 2570.
            Letter(
                direction="incoming",
                kind="external",
                status="received",
                subject="ยังเก็บ",
                letter_date=dt.date(2017, 1, 5),
            ),
            # Orders are kept permanently.
            Letter(
                direction="outgoing",
                kind="directive",
                subkind="order",
                status="issued",
                subject="คำสั่ง",
                letter_date=dt.date(2000, 1, 1),
            ),
            # A draft is not a record.
            Letter(
                direction="outgoing", kind="external", status="draft", subject="ร่าง", letter_date=dt.date(2001, 1, 1)
            ),
        ]
        session.add_all(letters)
        await session.flush()
        due = {letters[0].id, letters[1].id}
    # 31 December 2568: the year is open, nothing prepared.
    async with lao.db() as session:
        await retention.prepare_due_lists(session, dt.date(2025, 12, 31))
        assert (await session.execute(select(DestructionList))).first() is None
    # 15 January 2569: the list of 2568, due 1 March 2569 (60th day).
    async with lao.db() as session:
        await retention.prepare_due_lists(session, dt.date(2026, 1, 15))
    async with lao.db() as session:
        await retention.prepare_due_lists(session, dt.date(2026, 2, 1))  # again: nothing new
        [prepared] = (await session.execute(select(DestructionList))).scalars().all()
    assert (prepared.year, prepared.due_on, prepared.status) == (2568, dt.date(2026, 3, 1), "draft")
    assert set(prepared.letter_ids) == due
    assert prepared.prepared_by == "system"
    # After the 60 days the job no longer prepares a missing list (the LAO does it by hand, late).
    other = await make_lao(engine, agency_code="ขก 51395")
    async with other.db() as session:
        await retention.prepare_due_lists(session, dt.date(2026, 3, 2))
        assert (await session.execute(select(DestructionList))).first() is None


def test_destruction_due_is_the_sixtieth_day_after_the_year() -> None:
    assert rules.destruction_due(2568) == dt.date(2026, 3, 1)
    assert rules.destruction_due(2570) == dt.date(2028, 2, 29)  # a leap year
