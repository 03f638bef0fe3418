"""CSV in and out for every service: one reader, one writer, one rule against formula injection.

**Reading.** :func:`read_csv` takes the bytes of an upload: UTF-8 (a byte-order mark is accepted),
a header line (names trimmed, optionally lower-cased), required columns checked, blank rows
skipped, every row numbered by its line in the file. What is wrong with the *file* (not UTF-8,
columns missing, no rows, too many rows) raises :class:`CsvRejected`; what is wrong with a *row*
is the caller's to judge, and :class:`RowErrors` collects those problems by line and column so a
person sees every one of them at once instead of the first only.

**Writing.** :func:`write_csv` (and :class:`CsvWriter` for a file built piece by piece) writes
CRLF lines, quoting where needed, optionally after a byte-order mark so spreadsheet programs read
Thai. Every text cell passes through :func:`neutralise`.

**Formula cells.** A spreadsheet program runs a cell that starts with ``=``, ``+``, ``-``, ``@``,
TAB or CR as a formula (``=HYPERLINK(…)``, ``@SUM(…)``, DDE payloads): a payer's name or a bank's
reference typed that way would run on the finance officer's machine. Such a cell is written with a
leading apostrophe, which spreadsheets take as "this is text". Two refinements:

- a *plain number* (``-12.50``, ``+66812345678``: an optional sign, digits, an optional decimal
  part) is left alone. It is what amounts and phone numbers look like, it cannot call anything,
  and an apostrophe would turn every negative amount of a report into text;
- the rule looks past apostrophes already there (``'=1`` is neutralised to ``''=1``), so it is a
  bijection: :func:`restore` undoes it exactly, and an archive can be loaded back unchanged.

The same rule in SQL (:func:`neutralise_sql`) serves the export archives, which stream
PostgreSQL's ``COPY … TO STDOUT`` instead of passing rows through Python; a test proves the two
forms agree.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema

from localgov.kernel.errors import DomainError, FieldError

#: The characters that make a spreadsheet read a cell as a formula.
FORMULA_TRIGGERS = frozenset("=+-@\t\r")
BOM = "\ufeff"
_PLAIN_NUMBER = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")
_NEUTRALISED = re.compile(r"'+[=+\-@\t\r]")
#: The largest file :func:`read_csv` decodes (a guard: the HTTP layer caps bodies earlier).
MAX_BYTES = 64 * 1024 * 1024


# --- the formula rule -------------------------------------------------------------------------------


def is_plain_number(cell: str) -> bool:
    """An optional sign, ASCII digits, an optional decimal part: nothing a spreadsheet can run."""
    return _PLAIN_NUMBER.fullmatch(cell) is not None


def neutralise(cell: str) -> str:
    """``cell`` made safe to open in a spreadsheet (see the module doc); most cells are unchanged."""
    bare = cell.lstrip("'")
    if bare and bare[0] in FORMULA_TRIGGERS and not is_plain_number(cell):
        return "'" + cell
    return cell


def restore(cell: str) -> str:
    """The inverse of :func:`neutralise`: what was stored before it was written."""
    return cell[1:] if _NEUTRALISED.match(cell) else cell


def neutralise_sql(expression: str) -> str:
    """:func:`neutralise` as a SQL expression over a text ``expression`` (NULL stays NULL).

    ``expression`` is SQL text (a quoted column name): never pass request input.
    """
    return (
        f"CASE WHEN left(ltrim({expression}, ''''), 1) IN ('=', '+', '-', '@', chr(9), chr(13))"
        f" AND {expression} !~ '^[+-]?[0-9]+(\\.[0-9]+)?$'"
        f" THEN '''' || {expression} ELSE {expression} END"
    )


# --- writing ----------------------------------------------------------------------------------------


def _cell(value: object) -> str:
    if value is None:
        return ""
    return neutralise(value if isinstance(value, str) else str(value))


class CsvWriter:
    """Rows written one by one into text: CRLF, minimal quoting, every cell neutralised."""

    def __init__(self, *, bom: bool = True) -> None:
        self._out = io.StringIO(newline="")
        if bom:
            self._out.write(BOM)
        self._writer = csv.writer(self._out, lineterminator="\r\n")

    def row(self, values: Iterable[object]) -> None:
        """One row; ``None`` is an empty cell, numbers and dates their ``str``."""
        self._writer.writerow([_cell(value) for value in values])

    def rows(self, rows: Iterable[Iterable[object]]) -> None:
        for values in rows:
            self.row(values)

    def text(self) -> str:
        return self._out.getvalue()

    def encode(self) -> bytes:
        return self.text().encode("utf-8")


def write_csv(header: Sequence[str], rows: Iterable[Iterable[object]], *, bom: bool = True) -> bytes:
    """A whole CSV file as UTF-8 bytes: the header line, then the rows."""
    writer = CsvWriter(bom=bom)
    writer.row(header)
    writer.rows(rows)
    return writer.encode()


# --- reading ----------------------------------------------------------------------------------------


class CsvRowError(msgspec.Struct, kw_only=True):
    """One problem of a file: its line (1 = the header), column and what is wrong."""

    line: int
    column: str | None
    code: str
    message: str


class CsvRejected(DomainError):
    """The file as a whole cannot be read; ``errors`` says why (line 1 is the header)."""

    code = "csv_rejected"
    status = 422
    title = "The CSV file cannot be read; nothing was imported"


class CsvRow(msgspec.Struct, kw_only=True):
    """One data row: its line in the file, its cells by column (trimmed), and whether it had more
    fields than the header (those are dropped; the caller decides whether that is an error)."""

    line: int
    values: dict[str, str]
    extra: bool = False

    def get(self, column: str, default: str = "") -> str:
        return self.values.get(column, default)


class CsvTable(msgspec.Struct, kw_only=True):
    header: list[str]
    rows: list[CsvRow]


def row_errors(errors: Iterable[CsvRowError]) -> list[FieldError]:
    """A file's problems as the problem's ``errors`` (``key`` = the column, ``row`` for a whole line)."""
    return [
        FieldError(key=e.column or "row", message=e.message, code=e.code, line=e.line, source="csv") for e in errors
    ]


def _reject(detail: str, *errors: CsvRowError, **data: Any) -> CsvRejected:
    return CsvRejected(detail, data=data or None, errors=row_errors(errors))


def read_csv(
    content: bytes,
    *,
    required: Sequence[str] = (),
    lower_header: bool = False,
    max_rows: int | None = None,
) -> CsvTable:
    """Every non-blank row of a UTF-8 CSV file with a header line.

    Raises :class:`CsvRejected` when the file is not UTF-8 (``not_utf8``), lacks a required
    column (``missing_column``, one error per column, and ``data.missing``), has no data row
    (``empty``) or more than ``max_rows`` (``too_many_rows``).
    """
    if len(content) > MAX_BYTES:
        raise _reject(
            "The file is too large.", CsvRowError(line=1, column=None, code="too_large", message=f"> {MAX_BYTES} bytes")
        )
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _reject(
            "The file is not UTF-8 text.", CsvRowError(line=1, column=None, code="not_utf8", message=str(exc))
        ) from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [name.strip().lower() if lower_header else name.strip() for name in reader.fieldnames or ()]
    missing = [name for name in required if name not in header]
    if missing:
        raise _reject(
            f"Missing columns: {', '.join(missing)}.",
            *(CsvRowError(line=1, column=name, code="missing_column", message="required") for name in missing),
            missing=missing,
        )
    reader.fieldnames = header
    rows: list[CsvRow] = []
    for record in reader:
        values = {k: (v or "").strip() for k, v in record.items() if isinstance(k, str)}
        extra = None in record
        if not extra and not any(values.values()):
            continue
        if max_rows is not None and len(rows) >= max_rows:
            raise _reject(
                f"At most {max_rows} rows per file.",
                CsvRowError(line=reader.line_num, column=None, code="too_many_rows", message=f"> {max_rows}"),
            )
        rows.append(CsvRow(line=reader.line_num, values=values, extra=extra))
    if not rows:
        raise _reject("The file has no rows.", CsvRowError(line=1, column=None, code="empty", message="no rows"))
    return CsvTable(header=header, rows=rows)


class RowErrors:
    """Problems of a file's rows, collected so that all of them are reported together."""

    def __init__(self) -> None:
        self.items: list[CsvRowError] = []

    def add(self, line: int, column: str | None, code: str, message: str) -> None:
        self.items.append(CsvRowError(line=line, column=column, code=code, message=message))

    def __bool__(self) -> bool:
        return bool(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def sorted(self) -> list[CsvRowError]:
        """By line, then column (the order a person reads the file in)."""
        return sorted(self.items, key=lambda e: (e.line, e.column or ""))

    def as_data(self, *, limit: int = 1000) -> list[dict[str, Any]]:
        """The first ``limit`` problems in reading order, for ``DomainError.data``."""
        return [msgspec.to_builtins(e) for e in self.sorted()[:limit]]


@dataclass
class CsvUpload(Operation):
    """``operation_class`` of a route whose request body is a CSV file, sent as ``text/csv`` and read
    raw (``RawBody``), then parsed with :func:`read_csv`; the route's own ``description`` names the
    columns."""

    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            content={"text/csv": OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING))},
            description="UTF-8 CSV (a byte-order mark is accepted) with a header line.",
            required=True,
        )
