"""The send and receive registers (ทะเบียนหนังสือส่ง / ทะเบียนหนังสือรับ): lines numbered per calendar
year without gaps (``kernel.numbering``), chained by hash, never updated; the verifier; exports.

Appending takes the register's next number, which locks the year's counter row until the
transaction ends: appends of one register and year are serialised, so the previous line (number
n − 1) is committed and readable when line n is written, and the chain has no fork.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel import documents
from localgov.kernel.csv import write_csv
from localgov.kernel.numbering import next_number
from localgov.kernel.reads import Reader, fetch_all, fetch_one
from localgov.kernel.tenancy import LaoProfile
from localgov.kernel.thai import BANGKOK, thai_date, thai_datetime, to_thai_digits
from localgov.services.saraban import rules
from localgov.services.saraban.models import Register, RegisterEntry, SarabanSettings
from localgov.services.saraban.schemas import ChainReport, RegisterLine

R = RegisterEntry.__table__.c
REGISTER_TH = {"send": "ทะเบียนหนังสือส่ง", "receive": "ทะเบียนหนังสือรับ"}

_PREV = select(R.hash).where(
    R.register == bindparam("register"), R.year == bindparam("year"), R.seq == bindparam("seq")
)
_LINES = (
    select(*R)
    .where(R.register == bindparam("register"), R.year == bindparam("year"), R.seq > bindparam("after"))
    .order_by(R.seq)
    .limit(bindparam("limit"))
)
_CHAIN = select(*R).where(R.register == bindparam("register"), R.year == bindparam("year")).order_by(R.seq)
_YEARS = select(R.register, R.year).distinct().order_by(R.register, R.year)


async def append_entry(
    session: AsyncSession,
    *,
    register: str,
    day: dt.date,
    recorded_at: dt.datetime,
    letter_id: uuid.UUID,
    letter_no: str,
    letter_date: dt.date | None,
    from_th: str,
    to_th: str,
    subject: str,
    action_th: str = "",
    remarks: str = "",
    recorded_by: str | None = None,
) -> dict[str, Any]:
    """Write the next line of ``register`` for the calendar year of ``day``; returns the row."""
    year = rules.year_of(day)
    seq = await next_number(session, f"saraban.register.{register}", str(year))
    prev = (await session.execute(_PREV, {"register": register, "year": year, "seq": seq - 1})).scalar_one_or_none()
    if seq > 1 and prev is None:  # the counter and the lines disagree: never write a forked chain
        raise RuntimeError(f"register {register} {year}: line {seq - 1} is missing")
    row: dict[str, Any] = {
        "id": uuid.uuid4(),
        "register": register,
        "year": year,
        "seq": seq,
        "letter_id": letter_id,
        "letter_no": letter_no[:80],
        "letter_date": letter_date,
        "from_th": from_th,
        "to_th": to_th,
        "subject": subject,
        "action_th": action_th,
        "remarks": remarks,
        # The column keeps microseconds: hash what will be read back.
        "recorded_at": recorded_at.astimezone(dt.UTC),
        "recorded_by": recorded_by,
    }
    prev_hash = prev if prev is not None else rules.GENESIS
    row["prev_hash"] = prev_hash
    row["hash"] = rules.chain_hash(prev_hash, row)
    await session.execute(insert(RegisterEntry).values(**row))
    return row


def line(row: Any) -> RegisterLine:
    return RegisterLine(
        id=row["id"],
        register=row["register"],
        year=row["year"],
        seq=row["seq"],
        register_no=rules.register_no(row["year"], row["seq"]),
        letter_id=row["letter_id"],
        letter_no=row["letter_no"],
        letter_date=row["letter_date"],
        from_th=row["from_th"],
        to_th=row["to_th"],
        subject=row["subject"],
        action_th=row["action_th"],
        remarks=row["remarks"],
        recorded_at=row["recorded_at"],
        hash=bytes(row["hash"]).hex(),
    )


async def lines(reader: Reader, register: str, year: int, *, after: int = 0, limit: int = 100) -> list[RegisterLine]:
    rows = await fetch_all(reader, _LINES, {"register": register, "year": year, "after": after, "limit": limit})
    return [line(row) for row in rows]


def _verify_rows(register: Register, year: int, rows: Sequence[Any]) -> ChainReport:
    prev = rules.GENESIS
    for expected, row in enumerate(rows, start=1):
        data = dict(row)
        reason = None
        if data["seq"] != expected:
            reason = f"line {expected} is missing (found {data['seq']})"
        elif bytes(data["prev_hash"]) != prev:
            reason = "prev_hash does not match the previous line"
        elif rules.chain_hash(prev, data) != bytes(data["hash"]):
            reason = "the line's content does not match its hash"
        if reason is not None:
            return ChainReport(
                register=register,
                year=year,
                entries=len(rows),
                ok=False,
                first_bad_seq=expected,
                first_bad_id=data["id"],
                reason=reason,
            )
        prev = bytes(data["hash"])
    return ChainReport(register=register, year=year, entries=len(rows), ok=True)


async def verify(reader: Reader, register: str | None = None, year: int | None = None) -> list[ChainReport]:
    """Recompute every chain (or one register / year): each report names the first altered line."""
    out: list[ChainReport] = []
    for pair in await fetch_all(reader, _YEARS):
        if (register is not None and pair["register"] != register) or (year is not None and pair["year"] != year):
            continue
        rows = await fetch_all(reader, _CHAIN, {"register": pair["register"], "year": pair["year"]})
        out.append(_verify_rows(pair["register"], pair["year"], rows))
    return out


async def chain_rows(reader: Reader, register: str, year: int) -> Sequence[Any]:
    return await fetch_all(reader, _CHAIN, {"register": register, "year": year})


HEADER = ("เลขทะเบียน", "ที่", "ลงวันที่", "จาก", "ถึง", "เรื่อง", "การปฏิบัติ", "หมายเหตุ")


def csv_bytes(rows: Sequence[Any]) -> bytes:
    """The register's official columns (register no., letter no., date, from, to, subject, action,
    remarks) in CSV; formula cells neutralised by the kernel."""
    return write_csv(
        HEADER,
        (
            (
                rules.register_no(r["year"], r["seq"]),
                r["letter_no"],
                r["letter_date"].isoformat() if r["letter_date"] else "",
                r["from_th"],
                r["to_th"],
                r["subject"],
                r["action_th"],
                r["remarks"],
            )
            for r in rows
        ),
    )


#: The register's columns on a landscape A4 page (millimetres; 261 mm between the margins).
_PDF_COLUMNS = (
    ("เลขทะเบียน", 21.0),
    ("ที่", 33.0),
    ("ลงวันที่", 27.0),
    ("จาก", 38.0),
    ("ถึง", 38.0),
    ("เรื่อง", 60.0),
    ("การปฏิบัติ", 22.0),
    ("หมายเหตุ", 22.0),
)
_LINE_MM = 6.0
_SIZE = 12


class _RegisterPDF(documents.ThaiPDF):
    """Landscape pages, the register's title and column heads repeated on each, a page footer."""

    def __init__(self, title: str, issuer: str, footer: str) -> None:
        super().__init__()
        self._title = title
        self._issuer = issuer
        self._footer_text = footer

    def header(self) -> None:
        width = self.w - self.l_margin - self.r_margin
        self.set_font(documents.FONT, "B", 16)
        self.cell(width, 8, self._issuer, align="C", new_x="LMARGIN", new_y="NEXT")
        self.cell(width, 8, self._title, align="C", new_x="LMARGIN", new_y="NEXT")
        self.ln(2)
        self.set_font(documents.FONT, "B", _SIZE)
        self.set_fill_color(235, 235, 235)
        for title, column_w in _PDF_COLUMNS:
            self.cell(column_w, 8, title, border=1, align="C", fill=True)
        self.ln(8)
        self.set_font(documents.FONT, "", _SIZE)

    def footer(self) -> None:
        self.set_y(-14)
        self.set_font(documents.FONT, "", 9)
        width = self.w - self.l_margin - self.r_margin
        self.cell(width - 25, 5, self._footer_text)
        self.cell(25, 5, f"หน้า {self.page_no()}", align="R")


def _pdf(register: str, year: int, rows: Sequence[Any], lao: LaoProfile, thai_digits: bool) -> bytes:
    def d(text: str) -> str:
        return to_thai_digits(text) if thai_digits else text

    digits: Any = "thai" if thai_digits else "arabic"
    title = f"{REGISTER_TH[register]} ประจำปี {d(str(year))}"
    pdf = _RegisterPDF(title, lao.name_th, f"{REGISTER_TH[register]} {d(str(year))}: {d(str(len(rows)))} รายการ")
    pdf.set_title(title)
    pdf.set_author(lao.name_th)
    pdf.set_auto_page_break(auto=False)
    pdf.add_page(orientation="landscape")
    bottom = pdf.h - 20
    for r in rows:
        remarks = r["remarks"]
        if not remarks and register == "receive":
            remarks = "รับ " + d(thai_datetime(r["recorded_at"].astimezone(BANGKOK)))
        cells = (
            d(rules.register_no(r["year"], r["seq"])),
            d(r["letter_no"]),
            thai_date(r["letter_date"], digits=digits, month="abbr") if r["letter_date"] else "",
            r["from_th"],
            r["to_th"],
            r["subject"],
            r["action_th"],
            remarks,
        )
        wrapped = [pdf.wrap(text, column_w - 2) for text, (_, column_w) in zip(cells, _PDF_COLUMNS, strict=True)]
        height = _LINE_MM * max(len(lines) for lines in wrapped)
        if pdf.get_y() + height > bottom:
            pdf.add_page(orientation="landscape")
        x, y = pdf.l_margin, pdf.get_y()
        for lines, (_, column_w) in zip(wrapped, _PDF_COLUMNS, strict=True):
            pdf.rect(x, y, column_w, height)
            for line_no, text in enumerate(lines):
                pdf.set_xy(x + 1, y + _LINE_MM * line_no)
                pdf.cell(column_w - 2, _LINE_MM, text)
            x += column_w
        pdf.set_xy(pdf.l_margin, y + height)
    return bytes(pdf.output())


async def pdf_bytes(rows: Sequence[Any], *, register: str, year: int, lao: LaoProfile, thai_digits: bool) -> bytes:
    """The register as printed (landscape A4, the official columns); rendered off the event loop."""
    return await asyncio.to_thread(_pdf, register, year, rows, lao, thai_digits)


async def entry_of(reader: Reader, letter_id: uuid.UUID, register: str) -> Any:
    statement = select(*R).where(R.letter_id == letter_id, R.register == register).order_by(R.seq).limit(1)
    return await fetch_one(reader, statement)


_THAI_DIGITS = select(SarabanSettings.__table__.c.thai_digits).where(SarabanSettings.__table__.c.id == 1)


async def thai_digits(reader: Reader) -> bool:
    """Whether the LAO prints Thai digits (the default when its settings row is not written yet)."""
    row = await fetch_one(reader, _THAI_DIGITS)
    return True if row is None else bool(row["thai_digits"])
