"""kernel/csv: one reader with row-by-row errors, one writer that neutralises formula cells everywhere."""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
import re
import zipfile
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.kernel import csv as kcsv
from localgov.kernel.db import quote_schema, session_factory, tenant_session
from localgov.kernel.storage import FilesystemBlobStore
from localgov.kernel.thai import BANGKOK
from localgov.platform import export
from localgov.plugins import REGISTRY
from localgov.services.payments import reports
from tests.conftest import ClientFactory
from tests.support.factories import make_tenant
from tests.test_payments_bank import deliver, notice, open_bills, setup_lao

SRC = Path(__file__).resolve().parent.parent / "src" / "localgov"

NEUTRALISED = {
    "=1+2": "'=1+2",
    '=HYPERLINK("http://x","y")': '\'=HYPERLINK("http://x","y")',
    "+cmd": "'+cmd",
    "-2+3": "'-2+3",
    "@SUM(A1)": "'@SUM(A1)",
    "\t=1": "'\t=1",
    "\rx": "'\rx",
    "-": "'-",
    "+": "'+",
    "'=1": "''=1",
    "''@x": "'''@x",
    "-1e5": "'-1e5",
    "+66 81 234 5678": "'+66 81 234 5678",
    "-12.50\n": "'-12.50\n",
}
UNCHANGED = (
    "",
    "abc",
    "นายสมชาย",
    "-12.50",
    "+66812345678",
    "0",
    "-0.5",
    "12.50",
    "1e5",
    "'",
    "'abc",
    "'5",
    "a=b",
    " =1",
)


def test_the_formula_rule() -> None:
    for cell, expected in NEUTRALISED.items():
        assert kcsv.neutralise(cell) == expected, cell
        assert kcsv.restore(expected) == cell, cell
    for cell in UNCHANGED:
        assert kcsv.neutralise(cell) == cell, cell
        assert kcsv.restore(cell) == cell, cell


def _fuzz(count: int) -> list[str]:
    alphabet = "'=+-@\t\r\n.0123456789a ก"
    rng = random.Random(20261206)
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6))) for _ in range(count)]


def test_the_rule_is_reversible_and_safe() -> None:
    for cell in _fuzz(5000):
        safe = kcsv.neutralise(cell)
        assert kcsv.restore(safe) == cell, repr(cell)
        bare = safe.lstrip("'")
        # What a spreadsheet sees: text behind an apostrophe, a plain number, or no trigger at all.
        assert (
            safe.startswith("'") or not bare[:1] or bare[0] not in kcsv.FORMULA_TRIGGERS or kcsv.is_plain_number(safe)
        )


async def test_the_sql_form_agrees_with_the_python_form(engine: AsyncEngine) -> None:
    cells = [*NEUTRALISED, *UNCHANGED, *_fuzz(2000)]
    query = text(
        f"SELECT {kcsv.neutralise_sql('v')} FROM unnest(CAST(:cells AS text[])) WITH ORDINALITY AS t(v, n) ORDER BY n"
    )
    async with engine.connect() as conn:
        out = list((await conn.execute(query, {"cells": cells})).scalars())
        assert (await conn.execute(text(f"SELECT {kcsv.neutralise_sql('NULL::text')}"))).scalar() is None
    assert out == [kcsv.neutralise(c) for c in cells]


def test_the_writer() -> None:
    content = kcsv.write_csv(
        ["ชื่อ (name)", "amount", "note"],
        [["=1+2", Decimal("-12.50"), None], ["a,b", 3, 'say "hi"\nnow'], ["@x", dt.date(2026, 12, 6), "-"]],
    )
    assert content.startswith("\ufeff".encode())
    body = content.decode("utf-8-sig")
    assert body.endswith("\r\n")
    assert "\r\n" in body
    rows = list(csv.reader(io.StringIO(body, newline="")))
    assert rows == [
        ["ชื่อ (name)", "amount", "note"],
        ["'=1+2", "-12.50", ""],
        ["a,b", "3", 'say "hi"\nnow'],
        ["'@x", "2026-12-06", "'-"],
    ]
    assert not kcsv.write_csv(["a"], [], bom=False).startswith("\ufeff".encode())


def test_the_reader_numbers_rows_and_collects_problems() -> None:
    content = (
        "\ufeff Name ,Amount,Note\r\n"
        "a,1,x\r\n"
        ",,\r\n"  # blank: skipped
        '"b",2,"two\nlines"\r\n'
        "c,3,x,extra\r\n"
    ).encode()
    table = kcsv.read_csv(content, required=["name", "amount"], lower_header=True)
    assert table.header == ["name", "amount", "note"]
    assert [(r.line, r.values.get("name"), r.extra) for r in table.rows] == [
        (2, "a", False),
        (5, "b", False),
        (6, "c", True),
    ]
    assert table.rows[1].get("note") == "two\nlines"

    errors = kcsv.RowErrors()
    for row in table.rows:
        if row.extra:
            errors.add(row.line, None, "too_many_fields", "more fields than the header")
        if not row.get("amount").isdigit() or int(row.get("amount")) > 1:
            errors.add(row.line, "amount", "too_large", "at most 1")
    assert len(errors) == 3
    assert bool(errors)
    assert [(e["line"], e["column"], e["code"]) for e in errors.as_data()] == [
        (5, "amount", "too_large"),
        (6, None, "too_many_fields"),
        (6, "amount", "too_large"),
    ]


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"\xff\xfename\n", "not_utf8"),
        (b"other\nx\n", "missing_column"),
        (b"name,amount\n", "empty"),
        (b"name,amount\n,\n", "empty"),
        (b"name,amount\na,1\nb,2\nc,3\n", "too_many_rows"),
    ],
)
def test_the_reader_refuses_a_file_it_cannot_read(content: bytes, code: str) -> None:
    with pytest.raises(kcsv.CsvRejected) as refused:
        kcsv.read_csv(content, required=["name", "amount"], max_rows=2)
    assert refused.value.status == 422
    assert code in {e.code for e in refused.value.errors or []}
    if code == "missing_column":
        assert (refused.value.data or {})["missing"] == ["name", "amount"]


def test_no_csv_is_read_or_written_outside_the_kernel() -> None:
    """Every CSV of the platform goes through kernel/csv (or, for archives, its SQL form)."""
    offenders = []
    csv_module = re.compile(r"^\s*(import csv\b|from csv import)|\bcsv\.(writer|DictWriter|reader|DictReader)\(", re.M)
    copy_out = re.compile(r"copy_from_query|copy_from_table|TO STDOUT", re.I)
    for path in SRC.rglob("*.py"):
        relative = path.relative_to(SRC).as_posix()
        source = path.read_text(encoding="utf-8")
        if relative != "kernel/csv.py" and csv_module.search(source):
            offenders.append(relative)
        if relative not in ("platform/export.py", "kernel/csv.py") and copy_out.search(source):
            offenders.append(f"{relative} (COPY out)")
    assert offenders == []


async def test_payments_reports_neutralise_formula_cells(engine: AsyncEngine, client_for: ClientFactory) -> None:
    lao = await setup_lao(engine)
    (bill,) = await open_bills(engine, lao.tenant, payer_name='=HYPERLINK("http://evil.example","x")')
    async with client_for(plugins=REGISTRY) as client:
        await deliver(client, lao.tenant, lao.secret, notice(lao, bill.reference, "80.00"))
    today = dt.datetime.now(dt.UTC).astimezone(BANGKOK).date()
    async with tenant_session(session_factory(engine), lao.tenant) as session:
        content = await reports.receipts_csv(session, today, today)
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"), newline="")))
    header, row = rows[0], rows[1]
    assert row[header.index("ผู้ชำระเงิน (payer_name)")] == '\'=HYPERLINK("http://evil.example","x")'
    assert "80.00" in row  # amounts stay numbers


async def test_export_archives_neutralise_formula_cells(engine: AsyncEngine, tmp_path: Path) -> None:
    tenant = await make_tenant(engine)
    values = {"address_th": "=1+2", "phone": "-5", "website": "@cmd", "office_hours_th": "'=x"}
    async with engine.begin() as conn:
        await conn.execute(
            text(
                f"UPDATE {quote_schema(tenant.schema)}.profile SET address_th = :address_th, phone = :phone,"
                " website = :website, office_hours_th = :office_hours_th WHERE id = 1"
            ),
            values,
        )
    result = await export.write_archive(
        engine,
        tenant.id,
        reason="request",
        created_by=None,
        export_dir=tmp_path,
        store=FilesystemBlobStore(tmp_path / "files"),
    )
    with zipfile.ZipFile(result.path) as archive:
        content = archive.read("tenant/profile.csv").decode("utf-8-sig")
        manifest = archive.read("manifest.json").decode()
    rows = list(csv.reader(io.StringIO(content, newline="")))
    cells = dict(zip(rows[0], rows[1], strict=True))
    assert cells["address_th"] == "'=1+2"
    assert cells["phone"] == "-5"  # a plain number stays as it is
    assert cells["website"] == "'@cmd"
    assert cells["office_hours_th"] == "''=x"
    assert {name: kcsv.restore(cells[name]) for name in values} == values
    assert "apostrophe" in manifest
