"""Export archives (ส่งออกข้อมูล): all of one LAO's data in a ZIP a person can open.

One archive holds one UTF-8 CSV file with a header row per table of the tenant's schema (every
table, empty ones too), the tenant's rows of the shared tables, ``manifest.json`` (what each file
is, its columns, row count and SHA-256) and a bilingual ``README.txt``. Every file is read in one
``REPEATABLE READ READ ONLY`` transaction, so the archive is one consistent snapshot, with
PostgreSQL's own ``COPY (SELECT …) TO STDOUT WITH (FORMAT csv, HEADER)``: the values are exactly
the database's text forms and the files load back with ``COPY … FROM``. One change is made on the
way out: a text value that a spreadsheet would run as a formula (it starts with ``=``, ``+``,
``-``, ``@``, TAB or CR and is not a plain number) is written with a leading apostrophe, the rule of
:mod:`localgov.kernel.csv` applied in SQL; the rule is reversible (``restore``) and the manifest
and the README say how to undo it before loading.

Left out on purpose (listed in the manifest): columns holding secrets or their digests (password
hashes, token digests, client and webhook secrets: useless outside the platform, dangerous in a
file that travels), and shared tables that are not the LAO's records (the outbox's transient mail
payloads carry one-time links; the operator's own audit log, rate-limit counters, job timers, keys).

**Stored files.** The bytes of the LAO's stored files (attachments, ``kernel.storage``) are in the
archive too, one entry per file at ``files/<file id>/<file name>`` (stored, not compressed again:
PDFs and images are compressed already), read from the blob store while the snapshot is open;
``tenant/stored_files.csv`` has their metadata and the manifest lists each with its SHA-256,
checked while it was copied. A file whose bytes the store has lost, or returns altered, is
listed with that status rather than stopping the export: its loss happened before, and the
archive says so.

Archives are written under ``LOCALGOV_EXPORT_DIR`` through a temporary file renamed into place, so
a half-written archive never carries the final name.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import os
import re
import uuid
import zipfile
from pathlib import Path
from typing import IO, Any

import msgspec
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.kernel.csv import neutralise_sql
from localgov.kernel.db import validate_schema_name
from localgov.kernel.errors import DomainError
from localgov.kernel.storage import BlobMissing, BlobStore

log = structlog.get_logger("localgov.export")

FORMAT = "localgov-tenant-export"
FORMAT_VERSION = 1
_BOM = b"\xef\xbb\xbf"
#: Bytes gathered from COPY before they are compressed and written (off the event loop).
_FLUSH_BYTES = 1 << 20

#: Columns whose values are secrets or digests of secrets; never exported (their names are listed).
_SECRET_COLUMN = re.compile(r"(^|_)(hash|digest|secret|nonce|code_verifier|private_jwk)(_previous)?$")
#: Matches the pattern but holds no secret: the digest of a request body, kept for idempotency.
_NOT_SECRET = frozenset({"request_hash"})

#: Shared tables with rows of one tenant: ``(table, condition)``; ``:id`` is the tenant id,
#: ``:dla_code`` its DLA code, ``:plan_code`` its plan (each becomes a query parameter).
SHARED_TABLES: tuple[tuple[str, str], ...] = (
    ("tenants", "id = :id"),
    ("tenant_domains", "tenant_id = :id"),
    ("plans", "code = :plan_code"),
    ("signup_requests", "tenant_id = :id OR dla_code = :dla_code"),
    ("usage_events", "tenant_id = :id"),
    ("tenant_archives", "tenant_id = :id"),
)
_PARAM = re.compile(r":([a-z_]+)")

#: What an archive deliberately does not contain, and why (also written into every manifest).
LEFT_OUT: tuple[tuple[str, str], ...] = (
    (
        "columns holding secrets or their digests (listed per file as omitted_columns)",
        "password hashes, token digests, client and webhook secrets only serve the running platform;"
        " in a file that is downloaded and passed around they would only help an attacker",
    ),
    (
        "platform.outbox",
        "a transient delivery queue: its mail payloads carry one-time links (secrets) and copies of"
        " data that is in the tables anyway; delivered entries are purged after 7 days",
    ),
    ("platform.operator_audit_events", "the operator's own log of its staff's actions, kept by the operator"),
    (
        "platform.rate_limit_buckets, platform.scheduled_jobs, platform.signing_keys, platform.operator_*",
        "state and secrets of the platform itself, not records of the LAO",
    ),
)


class ExportUnavailable(DomainError):
    code = "export_unavailable"
    status = 409
    title = "ส่งออกข้อมูลไม่ได้ / This tenant's data cannot be exported"


class ColumnInfo(msgspec.Struct, frozen=True):
    name: str
    type: str


class ExportedFile(msgspec.Struct, frozen=True, kw_only=True):
    """One CSV file of the archive."""

    path: str
    #: ``<schema>.<table>`` (the tenant's schema or ``platform``).
    table: str
    columns: list[ColumnInfo]
    omitted_columns: list[str]
    rows: int
    bytes: int
    sha256: str


class TenantSummary(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    dla_code: str
    slug: str
    name_th: str
    name_en: str
    status: str
    schema: str
    schema_revision: str | None


class LeftOut(msgspec.Struct, frozen=True):
    what: str
    why: str


class ExportedStoredFile(msgspec.Struct, frozen=True, kw_only=True):
    """One stored file's bytes in the archive (its metadata row is in ``tenant/stored_files.csv``)."""

    #: ``files/<id>/<name>``; None when the bytes could not be included.
    path: str | None
    file_id: str
    filename: str
    content_type: str
    bytes: int
    sha256: str
    #: ``included``; ``missing`` (the store has no bytes for it); ``altered`` (the bytes written
    #: differ from the recorded size or SHA-256: kept in the archive as found).
    status: str


class Manifest(msgspec.Struct, frozen=True, kw_only=True):
    """``manifest.json``: what the archive holds."""

    format: str
    format_version: int
    tenant: TenantSummary
    #: ``close`` (made when the operator closed the tenant) or ``request`` (asked for by a person).
    reason: str
    created_at: dt.datetime
    created_by: str | None
    csv: str
    files: list[ExportedFile]
    left_out: list[LeftOut]
    #: The bytes of the tenant's stored files (``files/``), in upload order.
    stored_files: list[ExportedStoredFile] = msgspec.field(default_factory=list)


class ArchiveResult(msgspec.Struct, frozen=True, kw_only=True):
    file_name: str
    path: Path
    size_bytes: int
    sha256: str
    #: Rows per table, ``{"<schema or platform>.<table>": count}``.
    row_counts: dict[str, int]
    manifest: Manifest


#: Column types whose values are text people typed: the formula rule applies to these. Other types'
#: text forms (numbers, dates, UUIDs, JSON, arrays) cannot start a formula a spreadsheet runs.
_TEXT_TYPE = re.compile(r"^(text|citext|name|character varying(\(\d+\))?|character(\(\d+\))?)$")


def is_text_column(column: ColumnInfo) -> bool:
    return _TEXT_TYPE.fullmatch(column.type) is not None


def _select_item(column: ColumnInfo) -> str:
    name = _ident(column.name)
    return f"{neutralise_sql(name)} AS {name}" if is_text_column(column) else name


def is_secret_column(name: str) -> bool:
    return name not in _NOT_SECRET and _SECRET_COLUMN.search(name) is not None


def archive_file_name(schema: str, reason: str, key: str) -> str:
    """The stored name: derived from the schema and a caller's key only (no request input)."""
    if reason not in ("close", "request") or not re.fullmatch(r"[A-Za-z0-9]{1,40}", key):
        raise ValueError("bad archive name parts")
    return f"{validate_schema_name(schema)}-{reason}-{key}.zip"


def archive_path(export_dir: Path, file_name: str) -> Path:
    """Where a recorded archive lives; refuses anything but a plain file name."""
    if not re.fullmatch(r"lao_[0-9]{7}-(close|request)-[A-Za-z0-9]{1,40}\.zip", file_name):
        raise ValueError(f"not an archive file name: {file_name!r}")
    return export_dir / file_name


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class _EntryWriter:
    """Receives COPY output, counts and hashes it, and writes it into one ZIP entry."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        self.digest = hashlib.sha256()
        self.size = 0
        self._buffer = bytearray(_BOM)

    def _write(self, data: bytes) -> None:
        self.digest.update(data)
        self.size += len(data)
        self.stream.write(data)

    async def __call__(self, chunk: bytes) -> None:
        self._buffer += chunk
        if len(self._buffer) >= _FLUSH_BYTES:
            await self.flush()

    async def flush(self) -> None:
        if self._buffer:
            data = bytes(self._buffer)
            self._buffer.clear()
            # Deflating a megabyte takes milliseconds: not on the event loop of an API process.
            await asyncio.to_thread(self._write, data)


async def _columns(conn: Any, relid: int) -> list[ColumnInfo]:
    rows = await conn.fetch(
        "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute"
        " WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
        relid,
    )
    return [ColumnInfo(r[0], r[1]) for r in rows]


async def _primary_key(conn: Any, relid: int) -> list[str]:
    rows = await conn.fetch(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)"
        " WHERE i.indrelid = $1 AND i.indisprimary ORDER BY array_position(i.indkey::int2[], a.attnum)",
        relid,
    )
    return [r[0] for r in rows]


async def _tables(conn: Any, schema: str) -> list[tuple[int, str]]:
    rows = await conn.fetch(
        "SELECT c.oid, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY c.relname",
        schema,
    )
    return [(int(r[0]), str(r[1])) for r in rows]


async def _copy_table(
    conn: Any,
    archive: zipfile.ZipFile,
    *,
    entry: str,
    schema: str,
    table: str,
    relid: int,
    where: str | None,
    args: tuple[Any, ...],
    moment: dt.datetime,
) -> ExportedFile:
    columns = await _columns(conn, relid)
    kept = [c for c in columns if not is_secret_column(c.name)]
    omitted = [c.name for c in columns if is_secret_column(c.name)]
    order = await _primary_key(conn, relid)
    # Identifiers come from the catalog of our own schemas (validated schema name), never from input.
    query = (
        f"SELECT {', '.join(_select_item(c) for c in kept) or 'NULL'}"  # noqa: S608
        f" FROM {_ident(schema)}.{_ident(table)}"
        + (f" WHERE {where}" if where else "")
        + (f" ORDER BY {', '.join(_ident(c) for c in order)}" if order else "")
    )
    info = zipfile.ZipInfo(entry, date_time=moment.timetuple()[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o600 << 16
    with archive.open(info, "w", force_zip64=True) as stream:
        sink = _EntryWriter(stream)
        status = await conn.copy_from_query(query, *args, output=sink, format="csv", header=True)
        await sink.flush()
    rows = int(str(status).rsplit(" ", 1)[-1])
    return ExportedFile(
        path=entry,
        table=f"{schema}.{table}",
        columns=kept,
        omitted_columns=omitted,
        rows=rows,
        bytes=sink.size,
        sha256=sink.digest.hexdigest(),
    )


#: What an archive entry's name may not carry from a stored file's name (it is cleaned on upload;
#: this is the archive's own guard against a path leaving ``files/<id>/``).
_ENTRY_UNSAFE = re.compile(r"[/\\\x00-\x1f\x7f]")


async def _copy_stored_files(
    conn: Any, archive: zipfile.ZipFile, schema: str, store: BlobStore, moment: dt.datetime
) -> list[ExportedStoredFile]:
    """Every stored file's bytes into ``files/<id>/<name>``, checked against its recorded hash."""
    rows = await conn.fetch(
        "SELECT id, filename, content_type, size_bytes, sha256, storage_key"  # noqa: S608 (validated schema)
        f" FROM {_ident(schema)}.stored_files ORDER BY created_at, id"
    )
    out: list[ExportedStoredFile] = []
    for row in rows:
        file_id = str(row["id"])
        name = _ENTRY_UNSAFE.sub("_", row["filename"]).lstrip(".") or "file"

        def listed(path: str | None, status: str, row: Any = row, file_id: str = file_id) -> ExportedStoredFile:
            return ExportedStoredFile(
                path=path,
                file_id=file_id,
                filename=row["filename"],
                content_type=row["content_type"],
                bytes=row["size_bytes"],
                sha256=row["sha256"],
                status=status,
            )

        try:
            stream = await store.open(row["storage_key"])
        except BlobMissing:
            log.error("export_stored_file_missing", schema=schema, file_id=file_id)
            out.append(listed(None, "missing"))
            continue
        entry = f"files/{file_id}/{name}"
        info = zipfile.ZipInfo(entry, date_time=moment.timetuple()[:6])
        info.compress_type = zipfile.ZIP_STORED
        info.external_attr = 0o600 << 16
        digest = hashlib.sha256()
        size = 0
        with archive.open(info, "w", force_zip64=True) as target:
            buffer = bytearray()
            async for chunk in stream:
                digest.update(chunk)
                size += len(chunk)
                buffer += chunk
                if len(buffer) >= _FLUSH_BYTES:
                    await asyncio.to_thread(target.write, bytes(buffer))
                    buffer.clear()
            if buffer:
                await asyncio.to_thread(target.write, bytes(buffer))
        intact = size == row["size_bytes"] and digest.hexdigest() == row["sha256"]
        if not intact:
            log.error("export_stored_file_altered", schema=schema, file_id=file_id, bytes=size)
        out.append(listed(entry, "included" if intact else "altered"))
    return out


README = """\
ข้อมูลขององค์กรปกครองส่วนท้องถิ่น: {name_th} (รหัส อปท. {dla_code})
Data of the Local Administrative Organisation: {name_en} (DLA code {dla_code})

สร้างเมื่อ / Created: {created_at} (UTC)
เหตุผล / Reason: {reason}

ภาษาไทย
--------
ไฟล์นี้รวบรวมข้อมูลทั้งหมดของ อปท. ในระบบ ณ เวลาเดียวกัน (อ่านในธุรกรรมเดียว):
- โฟลเดอร์ tenant/ : หนึ่งไฟล์ CSV ต่อหนึ่งตารางข้อมูลของ อปท. (ทุกตาราง รวมถึงตารางที่ไม่มีข้อมูล)
- โฟลเดอร์ platform/ : ข้อมูลของ อปท. ในตารางกลางของระบบ (ทะเบียน อปท., โดเมน, แผนบริการ,
  คำขอสมัคร, การใช้งานที่นับค่าบริการ, รายการไฟล์ส่งออก)
- โฟลเดอร์ files/ : ไฟล์แนบที่อัปโหลดเข้าระบบ หนึ่งโฟลเดอร์ต่อหนึ่งไฟล์ (ชื่อโฟลเดอร์คือรหัสไฟล์
  ตามตาราง tenant/stored_files.csv ภายในคือไฟล์ตามชื่อเดิม)
- manifest.json : รายการไฟล์ คอลัมน์ จำนวนแถว และค่า SHA-256 ของแต่ละไฟล์
ไฟล์ CSV เป็น UTF-8 (มี BOM เพื่อให้ Excel แสดงภาษาไทยได้) คั่นด้วยจุลภาค แถวแรกเป็นชื่อคอลัมน์
ช่องว่างที่ไม่มีเครื่องหมายคำพูดคือไม่มีค่า (NULL) ส่วน "" คือข้อความว่าง เวลาทั้งหมดเป็นเวลาสากล (UTC)
ไม่รวมรหัสผ่าน ค่าแฮชของรหัสผ่านหรือโทเค็น และกุญแจลับ (ดูรายการใน manifest.json)
ข้อความที่ขึ้นต้นด้วย = + - @ แท็บ หรือ CR (และไม่ใช่ตัวเลขล้วน) ถูกเติมเครื่องหมาย ' ข้างหน้า
เพื่อไม่ให้โปรแกรมตารางคำนวณเรียกใช้เป็นสูตร ก่อนนำเข้าฐานข้อมูลให้ลบ ' ตัวแรกออกหนึ่งตัว

English
-------
This archive holds all of the LAO's data on the platform as of one moment (one transaction):
- tenant/ : one CSV file per table of the LAO's own data (every table, empty ones too)
- platform/ : the LAO's rows in the platform's shared tables (catalog entry, domains, plan,
  signup requests, metered usage, the list of export archives)
- files/ : the uploaded files (attachments), one folder per file named by its id in
  tenant/stored_files.csv, holding the file under its original name
- manifest.json : every file with its columns, row count and SHA-256 (stored files too)
The CSV files are UTF-8 with a byte-order mark (so spreadsheet programs show Thai), comma-separated,
with a header row. An unquoted empty field is "no value" (NULL); "" is empty text. Times are UTC.
Passwords, password and token digests and secret keys are not included (see manifest.json).
A text value that starts with = + - @, a tab or a CR (and is not a plain number such as -12.50) is
written with one extra leading apostrophe, so that a spreadsheet program shows it instead of running
it as a formula; the rule also covers values that already started with apostrophes, so it can be
undone exactly: in text columns, remove one leading ' from every value matching ^'+[=+\\-@\\t\\r].
To load a file back into PostgreSQL: strip the first 3 bytes (the BOM), undo the apostrophes as
above, then COPY <table> (<columns>) FROM STDIN WITH (FORMAT csv, HEADER).
"""


async def write_archive(
    engine: AsyncEngine,
    tenant_id: int,
    *,
    reason: str,
    created_by: str | None,
    export_dir: Path,
    key: str | None = None,
    store: BlobStore,
) -> ArchiveResult:
    """Write one tenant's archive under ``export_dir`` and return what was written.

    ``key`` makes the file name (a redelivered job passes the same key and rewrites the same
    file); without one a random key is used. ``store`` holds the stored files' bytes.
    """
    await asyncio.to_thread(export_dir.mkdir, parents=True, exist_ok=True)
    moment = dt.datetime.now(dt.UTC).replace(microsecond=0)
    async with engine.connect() as sa_conn:
        raw = await sa_conn.get_raw_connection()
        conn: Any = raw.driver_connection
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            # Stable text forms whatever the server's defaults; a big table may take a while.
            await conn.execute(
                "SET LOCAL timezone = 'UTC'; SET LOCAL datestyle = 'ISO, YMD'; SET LOCAL bytea_output = 'hex';"
                " SET LOCAL intervalstyle = 'iso_8601'; SET LOCAL statement_timeout = '30min'"
            )
            row = await conn.fetchrow(
                "SELECT t.id, t.dla_code, t.slug, t.name_th, t.name_en, t.status, t.schema_name,"
                " t.schema_revision, t.plan_code, t.schema_dropped_at, n.oid IS NOT NULL AS present"
                " FROM platform.tenants t LEFT JOIN pg_namespace n ON n.nspname = t.schema_name WHERE t.id = $1",
                tenant_id,
            )
            if row is None:
                raise ExportUnavailable("No such tenant.", data={"tenant_id": tenant_id})
            if row["schema_dropped_at"] is not None or not row["present"]:
                raise ExportUnavailable("The tenant's schema was dropped; its archives are all there is.")
            schema = validate_schema_name(row["schema_name"])
            file_name = archive_file_name(schema, reason, key or uuid.uuid4().hex[:16])
            final = export_dir / file_name
            temporary = export_dir / f".{file_name}.{uuid.uuid4().hex}.tmp"
            try:
                result = await _write(
                    conn, row, schema, temporary, reason=reason, created_by=created_by, moment=moment, store=store
                )
                await asyncio.to_thread(_publish, temporary, final)
            except BaseException:
                temporary.unlink(missing_ok=True)
                raise
    size = final.stat().st_size
    sha = await asyncio.to_thread(file_sha256, final)
    counts = {f.table: f.rows for f in result.files}
    return ArchiveResult(
        file_name=file_name, path=final, size_bytes=size, sha256=sha, row_counts=counts, manifest=result
    )


def _publish(temporary: Path, final: Path) -> None:
    """Make the finished file durable, then give it its name (atomic on one file system)."""
    with temporary.open("rb+") as fh:
        os.fsync(fh.fileno())
    os.chmod(temporary, 0o600)
    os.replace(temporary, final)
    directory = os.open(final.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


async def _write(
    conn: Any,
    row: Any,
    schema: str,
    target: Path,
    *,
    reason: str,
    created_by: str | None,
    moment: dt.datetime,
    store: BlobStore,
) -> Manifest:
    files: list[ExportedFile] = []
    archive = zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True)
    try:
        tables = await _tables(conn, schema)
        for relid, table in tables:
            files.append(
                await _copy_table(
                    conn,
                    archive,
                    entry=f"tenant/{table}.csv",
                    schema=schema,
                    table=table,
                    relid=relid,
                    where=None,
                    args=(),
                    moment=moment,
                )
            )
        shared = {name: relid for relid, name in await _tables(conn, "platform")}
        values = {"id": row["id"], "dla_code": row["dla_code"], "plan_code": row["plan_code"]}
        for table, condition in SHARED_TABLES:
            args: list[Any] = []

            def positional(match: re.Match[str], args: list[Any] = args) -> str:
                args.append(values[match.group(1)])
                return f"${len(args)}"

            where = _PARAM.sub(positional, condition)
            files.append(
                await _copy_table(
                    conn,
                    archive,
                    entry=f"platform/{table}.csv",
                    schema="platform",
                    table=table,
                    relid=shared[table],
                    where=where,
                    args=tuple(args),
                    moment=moment,
                )
            )
        stored = (
            await _copy_stored_files(conn, archive, schema, store, moment)
            if "stored_files" in {name for _, name in tables}
            else []
        )
        manifest = Manifest(
            format=FORMAT,
            format_version=FORMAT_VERSION,
            tenant=TenantSummary(
                id=row["id"],
                dla_code=row["dla_code"],
                slug=row["slug"],
                name_th=row["name_th"],
                name_en=row["name_en"],
                status=row["status"],
                schema=schema,
                schema_revision=row["schema_revision"],
            ),
            reason=reason,
            created_at=moment,
            created_by=created_by,
            csv=(
                "UTF-8 with BOM; PostgreSQL COPY CSV: comma, double quotes, header row; an unquoted empty"
                ' field is NULL, "" is empty text; PostgreSQL text forms, times in UTC; text values'
                " starting with = + - @ TAB or CR (after any apostrophes) and not a plain number carry one"
                " added leading apostrophe (remove it from values matching ^'+[=+\\-@\\t\\r] to restore)"
            ),
            files=files,
            left_out=[LeftOut(what, why) for what, why in LEFT_OUT],
            stored_files=stored,
        )
        readme = README.format(
            name_th=row["name_th"],
            name_en=row["name_en"],
            dla_code=row["dla_code"],
            created_at=moment.strftime("%Y-%m-%d %H:%M:%S"),
            reason={"close": "ปิดการใช้บริการ / the LAO left the platform"}.get(reason, "คำขอ / on request"),
        )
        for name, data in (
            ("manifest.json", msgspec.json.format(msgspec.json.encode(manifest), indent=2) + b"\n"),
            ("README.txt", readme.encode("utf-8")),
        ):
            info = zipfile.ZipInfo(name, date_time=moment.timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o600 << 16
            await asyncio.to_thread(archive.writestr, info, data)
    finally:
        await asyncio.to_thread(archive.close)
    return manifest
