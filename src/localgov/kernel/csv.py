"""CSV in and out for every service: one reader, one writer, one rule against formula injection.

**Reading.** :func:`read_csv` takes the bytes of an upload: UTF-8 (a byte-order mark is accepted),
a header line (names trimmed, optionally lower-cased), required columns checked, blank rows
skipped, every row numbered by its line in the file. What is wrong with the *file* (not UTF-8,
columns missing, no rows, too many rows) raises :class:`CsvRejected`; what is wrong with a *row*
is the caller's to judge, and :class:`RowErrors` collects those problems by line and column so a
person sees every one of them at once instead of the first only.

**Imports, as CSV or JSON.** An import route reads its body with an :class:`ImportBody`: the
file as ``text/csv``, or the same rows as ``application/json`` (``{"rows": [{...}, ...]}``, each
row a struct whose members are the CSV's columns, unknown members refused), chosen by
``Content-Type`` (anything else: 415). Generated clients skip ``text/csv`` bodies; the JSON form
is what they send. Both forms end as one :class:`CsvTable` (a JSON row's ``line`` is its index,
counting from 1, and the table's ``source`` is ``body``), so the service's import logic and its
row errors are the same for both. ``ImportBody.operation`` is the route's ``operation_class``: it
documents both media types, JSON first (the one generators pick).

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
import datetime as dt
import hashlib
import io
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any

import msgspec
from litestar import Request
from litestar.openapi.spec import (
    OpenAPIFormat,
    OpenAPIMediaType,
    OpenAPIType,
    Operation,
    Reference,
    RequestBody,
    Schema,
)

from localgov.kernel.errors import DomainError, FieldError, FieldSource

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
    #: ``csv`` for a file, ``body`` for the rows of a JSON body (:class:`ImportBody`): the
    #: ``source`` of the row errors.
    source: FieldSource = "csv"
    #: SHA-256 (hex) of the bytes the rows were read from (the file, or the JSON body).
    digest: str = ""


def row_errors(errors: Iterable[CsvRowError], *, source: FieldSource = "csv") -> list[FieldError]:
    """A file's problems as the problem's ``errors`` (``key`` = the column, ``row`` for a whole line;
    ``source`` = the table's: ``csv``, or ``body`` with ``line`` the index of a JSON row)."""
    return [
        FieldError(key=e.column or "row", message=e.message, code=e.code, line=e.line, source=source) for e in errors
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
    return CsvTable(header=header, rows=rows, digest=hashlib.sha256(content).hexdigest())


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


# --- imports as CSV or JSON -------------------------------------------------------------------------

#: ``Content-Type`` values read as a CSV file (a request without one too, as before JSON was taken).
CSV_MEDIA_TYPES = frozenset({"text/csv", "application/csv", "text/plain"})
#: ``kernel.openapi.DECIMAL_PATTERN`` (not imported: the OpenAPI module depends on the auth modules,
#: which depend on this one; ``tests/test_csv.py`` checks the two agree).
DECIMAL_PATTERN = r"^-?[0-9]{1,15}(\.[0-9]{1,6})?$"
_CSV_DESCRIPTION = "UTF-8 CSV (a byte-order mark is accepted) with a header line."
_OPENAPI_KEYS = {
    "anyOf": "any_of",
    "oneOf": "one_of",
    "allOf": "all_of",
    "maxLength": "max_length",
    "minLength": "min_length",
    "maxItems": "max_items",
    "minItems": "min_items",
    "exclusiveMinimum": "exclusive_minimum",
    "exclusiveMaximum": "exclusive_maximum",
}
_SCHEMA_KEYS = frozenset(
    {"title", "description", "pattern", "enum", "const", "minimum", "maximum", "required", "examples", "default"}
)


#: The OpenAPI components of every :class:`ImportBody` made so far: its body and its row, by name.
_COMPONENTS: dict[str, Schema] = {}


def _register(name: str, schema: Schema) -> None:
    known = _COMPONENTS.get(name)
    if known is not None and known != schema:
        raise ValueError(f"two import bodies or rows are named {name!r}")
    _COMPONENTS[name] = schema


def import_schemas() -> dict[str, Schema]:
    """The JSON bodies of the imports (:class:`ImportBody`) and their rows, as OpenAPI component
    schemas: ``kernel.openapi`` adds them to each surface's document (Litestar builds its
    components from the types of handlers' signatures only)."""
    return dict(_COMPONENTS)


class InvalidImportRows(DomainError):
    """A JSON import body its schema refuses: the same problem as any invalid JSON body."""

    code = "validation_error"
    status = 400
    title = "The request is not valid"


class UnsupportedImportType(DomainError):
    code = "unsupported_media_type"
    status = 415
    title = "Unsupported media type"


def _inline(schema: Mapping[str, Any], defs: Mapping[str, Any]) -> Schema:
    """msgspec's JSON schema of a body as Litestar's OpenAPI schema, every ``$ref`` inlined and
    every object closed (``additionalProperties: false``: the structs forbid unknown fields)."""
    ref = schema.get("$ref")
    if isinstance(ref, str):
        return _inline(defs[ref.rsplit("/", 1)[-1]], defs)
    out: dict[str, Any] = {key: value for key, value in schema.items() if key in _SCHEMA_KEYS}
    kind = schema.get("type")
    if isinstance(kind, str):
        out["type"] = OpenAPIType(kind)
    fmt = schema.get("format")
    if fmt == "decimal":  # as every decimal of the API: text with a pattern (kernel.openapi)
        out.setdefault("pattern", DECIMAL_PATTERN)
    elif isinstance(fmt, str) and fmt in {f.value for f in OpenAPIFormat}:
        out["format"] = OpenAPIFormat(fmt)
    for key, name in _OPENAPI_KEYS.items():
        if key in schema:
            value = schema[key]
            out[name] = [_inline(v, defs) for v in value] if isinstance(value, list) else value
    if "items" in schema:
        out["items"] = _inline(schema["items"], defs)
    if "properties" in schema:
        out["properties"] = {name: _inline(value, defs) for name, value in schema["properties"].items()}
        out["additional_properties"] = False
    return Schema(**out)


def _cell_text(value: object) -> str:
    """A typed JSON value as the CSV cell it stands for (trimmed, as :func:`read_csv` trims)."""
    if value is None or value is msgspec.UNSET:
        return ""
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip()


_ERROR_PATH = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
_ROW_PATH = re.compile(r"^\.rows\[(?P<index>[0-9]+)\](?:\.(?P<column>\w+))?")


class ImportBody:
    """The body of an import route: a CSV file (``text/csv``) or the same rows as JSON.

    ``row`` is a struct (``forbid_unknown_fields=True``) whose fields are the CSV's columns, typed
    and constrained; ``name`` names the JSON body in the OpenAPI document (the component ``<name>``,
    an object with ``rows``: 1 to ``max_rows`` rows, the file's limit too; each row the component
    named as the struct). ``required``, ``lower_header``
    and ``max_rows`` are :func:`read_csv`'s; ``refuse`` turns a file that cannot be read into the
    service's own problem (default: :class:`CsvRejected`). :attr:`operation` is the route's ``operation_class``;
    :meth:`read` the handler's one call::

        PAYER_IMPORT = ImportBody(PayerImportRow, name="PayerImport", required=("name",), max_rows=50_000)

        @post("/import", operation_class=PAYER_IMPORT.operation, ...)
        async def import_rows(self, request: Request, db_session: ...) -> Result:
            return await svc.import_payers(db_session, await PAYER_IMPORT.read(request))
    """

    def __init__(
        self,
        row: type[msgspec.Struct],
        *,
        name: str,
        max_rows: int,
        required: Sequence[str] = (),
        lower_header: bool = False,
        refuse: Callable[[CsvRejected], DomainError] | None = None,
    ) -> None:
        self.row = row
        self.refuse = refuse
        self.columns: tuple[str, ...] = row.__struct_fields__
        self.required = tuple(required)
        self.lower_header = lower_header
        self.max_rows = max_rows
        self.body: type[msgspec.Struct] = msgspec.defstruct(
            name,
            [("rows", Annotated[list[row], msgspec.Meta(min_length=1, max_length=max_rows)])],  # type: ignore[valid-type]
            kw_only=True,
            forbid_unknown_fields=True,
        )
        self._decoder = msgspec.json.Decoder(self.body)
        (root,), defs = msgspec.json.schema_components([row], ref_template="#/$defs/{name}")
        row_name = row.__name__
        body_schema = Schema(
            type=OpenAPIType.OBJECT,
            title=name,
            description=f"The rows of the file as JSON: one object per row, its members the columns (1-{max_rows}).",
            properties={
                "rows": Schema(
                    type=OpenAPIType.ARRAY,
                    items=Reference(ref=f"#/components/schemas/{row_name}"),
                    min_items=1,
                    max_items=max_rows,
                )
            },
            required=["rows"],
            additional_properties=False,
        )
        _register(name, body_schema)
        _register(row_name, _inline(root, defs))
        columns = ", ".join(f"`{c}`" for c in self.columns)
        media = {
            "application/json": OpenAPIMediaType(schema=Reference(ref=f"#/components/schemas/{name}")),
            "text/csv": OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING, description=_CSV_DESCRIPTION)),
        }

        @dataclass
        class ImportOperation(Operation):
            def __post_init__(self) -> None:
                self.request_body = RequestBody(
                    content=media,
                    description=(
                        "The rows as JSON (`application/json`), or the file itself (`text/csv`: UTF-8, a byte-order "
                        f"mark accepted, a header line naming the columns). Columns: {columns}."
                    ),
                    required=True,
                )

        ImportOperation.__name__ = f"{name}Operation"
        self.operation: type[Operation] = ImportOperation

    async def read(self, request: Request[Any, Any, Any]) -> CsvTable:
        """The rows of the request, as CSV or JSON by its ``Content-Type``.

        A file that cannot be read raises :class:`CsvRejected` (or what ``refuse`` makes of it); a
        JSON body that is not valid is a 400 ``validation_error`` whose one field error
        names the row (``line``, from 1) and its member (``key``); another media type is 415.
        """
        media_type = request.content_type[0].strip().lower()
        if media_type == "application/json":
            return self._from_json(await request.body())
        if media_type and media_type not in CSV_MEDIA_TYPES:
            raise UnsupportedImportType(
                "This import takes the rows as `application/json` or the file as `text/csv`.",
                data={"content_type": media_type[:100], "expected": ["application/json", "text/csv"]},
            )
        try:
            return read_csv(
                await request.body(), required=self.required, lower_header=self.lower_header, max_rows=self.max_rows
            )
        except CsvRejected as exc:
            if self.refuse is None:
                raise
            raise self.refuse(exc) from None

    def _from_json(self, content: bytes) -> CsvTable:
        try:
            body = self._decoder.decode(content)
        except msgspec.ValidationError as exc:
            raise InvalidImportRows("The rows are not valid.", errors=[self._field_error(str(exc))]) from None
        except msgspec.DecodeError as exc:
            raise InvalidImportRows(
                "The body is not valid JSON.", errors=[FieldError(key="body", message=str(exc), source="body")]
            ) from None
        rows = [
            CsvRow(line=index, values={column: _cell_text(getattr(row, column)) for column in self.columns})
            for index, row in enumerate(body.rows, start=1)  # type: ignore[attr-defined]
        ]
        return CsvTable(header=list(self.columns), rows=rows, source="body", digest=hashlib.sha256(content).hexdigest())

    @staticmethod
    def _field_error(text: str) -> FieldError:
        """msgspec's message (``Expected `str`, got `int` - at `$.rows[2].name```) as the row error
        a CSV line would get: ``key`` the column (an unknown member: its name), ``line`` the row."""
        match = _ERROR_PATH.match(text)
        message = match.group("message") if match else text
        path = (match.group("path") if match else None) or ""
        row = _ROW_PATH.match(path)
        unknown = re.search(r"unknown field `([^`]+)`", message)
        code = "unknown_column" if unknown else "invalid_value"
        if row is None:
            return FieldError(key=path.lstrip(".") or "body", message=message, code=code, source="body")
        key = row.group("column") or (unknown.group(1) if unknown else "row")
        return FieldError(key=key, message=message, code=code, line=int(row.group("index")) + 1, source="body")
