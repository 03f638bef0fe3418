"""Factories for the payments service: payers, accounts, tariffs, bills, the biller setting.

Each writes through the real service code in a tenant-bound session the caller passes
(``async with payments_db(engine, tenant) as session``), so what tests build is what the API
would have built.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import msgspec
from sqlalchemy import delete, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from localgov.kernel.db import session_factory, tenant_session
from localgov.kernel.reads import cached_row_changed
from localgov.kernel.tenancy import TenantInfo
from localgov.services.payments import payers, tariffs
from localgov.services.payments.api import BillLine, create_bill
from localgov.services.payments.models import Bill, FeeAccount, Payer, Tariff
from tests.support.factories import make_tenant

_serial = itertools.count(1)


def thai_id(first12: str) -> str:
    """A valid 13-digit Thai ID starting with ``first12`` (its check digit appended)."""
    total = sum(int(d) * (13 - i) for i, d in enumerate(first12))
    return first12 + str((11 - total % 11) % 10)


def next_thai_id() -> str:
    return thai_id(f"1{next(_serial):011d}")


#: A valid biller ID: a government tax ID (check digit right) and the suffix 01.
BILLER_ID = thai_id("099400015991") + "01"
MERCHANT = "TEST LAO"


async def payments_tenant(engine: AsyncEngine, **kwargs: Any) -> TenantInfo:
    """A tenant with the payments service enabled, without the default tariffs its seed wrote
    (each test sets the tariffs it bills with)."""
    tenant = await make_tenant(engine, services=["payments", *kwargs.pop("services", ())], **kwargs)
    async with payments_db(engine, tenant) as session:
        await session.execute(delete(Tariff))
    return tenant


@asynccontextmanager
async def payments_db(engine: AsyncEngine, tenant: TenantInfo) -> AsyncIterator[AsyncSession]:
    """One committed unit of work in the tenant's schema."""
    async with tenant_session(session_factory(engine), tenant) as session:
        yield session


async def make_payer(session: AsyncSession, **fields: Any) -> Payer:
    values: dict[str, Any] = {
        "kind": "person",
        "name": f"นายทดสอบ ผู้ชำระ{next(_serial)}",
        "house_no": "99/1",
        "moo": "3",
        "subdistrict": "แม่เหียะ",
        "district": "เมืองเชียงใหม่",
        "province": "เชียงใหม่",
        "postal_code": "50100",
        "phone": "081-234-5678",
    }
    values.update(fields)
    return await payers.create_payer(session, msgspec.convert(values, payers.PayerCreate))


async def make_account(
    session: AsyncSession,
    payer: Payer | None = None,
    fee_type: str = "garbage",
    *,
    start_date: dt.date = dt.date(2020, 1, 1),
    **params: Any,
) -> FeeAccount:
    """An account; garbage 15 L/day, wastewater ``household``, fixed ``market_stall`` by default."""
    payer = payer or await make_payer(session)
    defaults = {"garbage": {"litres_per_day": 15}, "wastewater": {"customer_class": "household"}}
    values: dict[str, Any] = {
        "payer_id": str(payer.id),
        "fee_type": fee_type,
        "start_date": start_date.isoformat(),
        **defaults.get(fee_type, {"fee_code": "market_stall"}),
        **params,
    }
    return await payers.create_account(session, msgspec.convert(values, payers.AccountCreate, strict=False))


def garbage_definition(*bands: tuple[int | None, str, str], separate_lines: bool = False) -> dict[str, Any]:
    return {
        "fee_type": "garbage",
        "separate_lines": separate_lines,
        "bands": [{"max_litres": m, "collection": c, "disposal": d} for m, c, d in bands],
    }


async def make_tariff(
    session: AsyncSession,
    fee_type: str = "garbage",
    *,
    effective_from: dt.date = dt.date(2020, 1, 1),
    definition: dict[str, Any] | None = None,
    late_surcharge: dict[str, Any] | None = None,
    due_days: int = 30,
) -> Tariff:
    """A tariff version: by default garbage ≤20 L 50 baht, ≤100 L 80 baht; wastewater 0.8 ×
    household 2.00 / small business 4.00; fixed market_stall 30.00."""
    defaults: dict[str, dict[str, Any]] = {
        "garbage": garbage_definition((20, "50.00", "0.00"), (100, "80.00", "0.00")),
        "wastewater": {
            "fee_type": "wastewater",
            "factor": "0.8",
            "rates": {"household": "2.00", "small_business": "4.00"},
        },
        "fixed": {"fee_type": "fixed", "fees": {"market_stall": {"description_th": "ค่าแผงตลาด", "amount": "30.00"}}},
    }
    data = {
        "effective_from": effective_from.isoformat(),
        "definition": definition or defaults[fee_type],
        "due_days": due_days,
        "late_surcharge": late_surcharge,
    }
    return await tariffs.create_tariff(
        session, msgspec.convert(data, tariffs.TariffCreate, strict=False), created_by=None
    )


async def make_bill(
    session: AsyncSession,
    payer: Payer | None = None,
    *,
    amounts: Iterable[str] = ("100.00",),
    due_date: dt.date | None = None,
    issue_date: dt.date | None = None,
    source: str = "test",
    source_key: str | None = None,
    **kwargs: Any,
) -> Bill:
    """A bill through ``create_bill`` (the one way bills are made)."""
    payer = payer or await make_payer(session)
    issue = issue_date or dt.date.today()
    return await create_bill(
        session,
        payer_id=payer.id,
        lines=[
            BillLine(fee_code=f"test.fee{n}", description_th=f"ค่าธรรมเนียมทดสอบ {n}", amount=Decimal(a))
            for n, a in enumerate(amounts)
        ],
        due_date=due_date or issue + dt.timedelta(days=30),
        issue_date=issue,
        source=source,
        source_key=source_key or f"test:{next(_serial)}",
        **kwargs,
    )


async def set_biller(session: AsyncSession, biller_id: str = BILLER_ID, merchant_name: str | None = MERCHANT) -> None:
    await session.execute(
        text(
            "INSERT INTO payment_settings (id, biller_id, merchant_name) VALUES (1, :b, :m)"
            " ON CONFLICT (id) DO UPDATE SET biller_id = :b, merchant_name = :m"
        ),
        {"b": biller_id, "m": merchant_name},
    )
    await cached_row_changed(session)  # as payments' own write does: served apps drop their copy (BILLER)


async def make_citizen(session: AsyncSession, name: str = "นางสาวพลเมือง ดีมาก") -> str:
    """A citizen row (as identity creates on login); returns the id a citizen token names."""
    row = await session.execute(
        text("INSERT INTO citizens (issuer, subject, name) VALUES ('https://id.example', :s, :n) RETURNING id"),
        {"s": f"sub-{next(_serial)}", "n": name},
    )
    return str(row.scalar_one())
