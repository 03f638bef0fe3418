"""Export archives: the closing archive holds every stored row of every table (loaded back into
PostgreSQL and compared), secrets never leave, the worker's consumer is idempotent, and the purge
drops a closed tenant's schema only with an intact closing archive, after which migrate, its check
and readiness neither fail on nor count that tenant."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov import cli
from localgov.kernel.audit import Actor
from localgov.kernel.db import create_engine, quote_schema, session_factory, tenant_session
from localgov.kernel.jobs import JobContext
from localgov.kernel.storage import FileOwner, StoredFileRead, UploadLimits, blob_key, blob_store, store_upload
from localgov.platform import export
from localgov.platform.lifecycle import PURGE_JOB, write_archive
from localgov.platform.migrate import migrate_tenants, tenant_head, tenant_revisions
from localgov.platform.models import TenantArchive
from localgov.plugins import REGISTRY
from localgov.settings import Settings
from localgov.worker import Worker
from tests.conftest import ClientFactory, host, make_settings
from tests.support.demo_plugin import DEMO
from tests.support.factories import make_tenant
from tests.support.lifecycle import (
    ADDRESS,
    OPERATOR_ID,
    TRICKY_NAME,
    operator_headers,
    refresh_catalog,
    run_exports,
    seed_everything,
)
from tests.support.payments import payments_tenant

PLUGINS = (*REGISTRY, DEMO)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(
        database_url,
        export_dir=str(tmp_path / "exports"),
        storage_dir=str(tmp_path / "files"),
        closed_retention_days=0,
    )


def read_zip(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None
        return {name: archive.read(name) for name in archive.namelist()}


async def schema_tables(engine: AsyncEngine, schema: str) -> list[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = :s ORDER BY tablename"), {"s": schema}
        )
        return list(rows.scalars())


async def differences(engine: AsyncEngine, table: str, columns: list[str], where: str, content: bytes) -> int:
    """Rows that differ between ``table`` (restricted by ``where``) and the CSV loaded back with COPY."""
    assert content.startswith(b"\xef\xbb\xbf"), table
    cols = ", ".join(f'"{c}"' for c in columns)
    async with engine.connect() as conn:
        raw: Any = (await conn.get_raw_connection()).driver_connection
        async with raw.transaction():
            await raw.execute(f"CREATE TEMP TABLE restored ON COMMIT DROP AS SELECT {cols} FROM {table} WITH NO DATA")
            await raw.copy_to_table("restored", source=io.BytesIO(content[3:]), format="csv", header=True)
            extra = await raw.fetchval(
                f"SELECT count(*) FROM (SELECT * FROM restored EXCEPT ALL SELECT {cols} FROM {table} WHERE {where}) x"
            )
            missing = await raw.fetchval(
                f"SELECT count(*) FROM (SELECT {cols} FROM {table} WHERE {where} EXCEPT ALL SELECT * FROM restored) x"
            )
    return int(extra) + int(missing)


async def test_the_closing_archive_holds_every_stored_row(
    engine: AsyncEngine, settings: Settings, client_for: ClientFactory
) -> None:
    tenant = await payments_tenant(engine)
    secrets = await seed_everything(engine, tenant)
    other = await payments_tenant(engine)  # its rows must not appear
    await seed_everything(engine, other)
    async with client_for(plugins=PLUGINS, listen=False) as http:
        closed = await http.post(
            f"/v1/tenants/{tenant.id}/close", json={"reason": "ยุบรวมกับ อบต. ข้างเคียง"}, headers=operator_headers()
        )
        assert closed.status_code == 200, closed.text
        await refresh_catalog(http, engine)
        assert (await http.get("/v1/tenant", headers=host(tenant.slug))).status_code == 410

    [entry_id] = await run_exports(engine, settings, tenant.id)
    async with tenant_session(session_factory(engine), None) as session:
        [archive] = (
            (await session.execute(select(TenantArchive).where(TenantArchive.tenant_id == tenant.id))).scalars().all()
        )
    assert (archive.reason, archive.created_by) == ("close", f"operator:{OPERATOR_ID}")
    path = settings.export_path / archive.file_name
    assert archive.file_name == f"{tenant.schema}-close-o{entry_id}.zip"
    assert path.stat().st_size == archive.size_bytes
    assert hashlib.sha256(path.read_bytes()).hexdigest() == archive.sha256
    assert not [p for p in settings.export_path.iterdir() if p.name.startswith(".")]  # no temporary file left

    files = read_zip(path)
    manifest = json.loads(files["manifest.json"])
    assert (manifest["format"], manifest["format_version"], manifest["reason"]) == (export.FORMAT, 1, "close")
    assert manifest["tenant"]["dla_code"] == tenant.dla_code
    assert manifest["tenant"]["schema_revision"] == tenant_head()
    readme = files["README.txt"].decode()
    assert "ข้อมูลขององค์กรปกครองส่วนท้องถิ่น" in readme
    assert "Data of the Local Administrative Organisation" in readme

    # Every table of the schema, empty ones too, and the tenant's shared rows; nothing else.
    tables = await schema_tables(engine, tenant.schema)
    assert {"bills", "receipts", "payments", "staff_users", "oidc_login_states"} <= set(tables)
    expected = {f"tenant/{t}.csv" for t in tables} | {f"platform/{t}.csv" for t, _ in export.SHARED_TABLES}
    assert set(files) == expected | {"manifest.json", "README.txt"}
    by_path = {f["path"]: f for f in manifest["files"]}
    assert set(by_path) == expected
    assert archive.row_counts == {f["table"]: f["rows"] for f in manifest["files"]}

    empty_tables = 0
    for name, entry in by_path.items():
        content = files[name]
        assert hashlib.sha256(content).hexdigest() == entry["sha256"], name
        assert len(content) == entry["bytes"], name
        columns = [c["name"] for c in entry["columns"]]
        header = next(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
        assert header == columns, name
        assert all(export.is_secret_column(c) for c in entry["omitted_columns"]), name
        schema, table = entry["table"].split(".")
        if schema == "platform":
            where = dict(export.SHARED_TABLES)[table]
            where = (
                where.replace(":id", str(tenant.id))
                .replace(":dla_code", f"'{tenant.dla_code}'")
                .replace(":plan_code", "'standard'")
            )
            if table == "tenant_archives":
                where += f" AND id <> {archive.id}"  # an archive cannot list itself
        else:
            assert schema == tenant.schema
            where = "true"
        qualified = f'{quote_schema(schema) if schema != "platform" else "platform"}."{table}"'
        async with engine.connect() as conn:
            stored = (await conn.execute(text(f"SELECT count(*) FROM {qualified} WHERE {where}"))).scalar_one()
        assert entry["rows"] == stored, name
        empty_tables += stored == 0
        assert await differences(engine, qualified, columns, where, content) == 0, name
    assert empty_tables > 0  # empty tables are exported (with their header) too
    # The comparison sees a changed value (a test that can fail).
    payers_csv = files["tenant/payers.csv"]
    tampered = payers_csv.replace(TRICKY_NAME.encode().replace(b'"', b'""'), "นายอื่น".encode())
    assert tampered != payers_csv
    payer_columns = [c["name"] for c in by_path["tenant/payers.csv"]["columns"]]
    assert await differences(engine, f'{quote_schema(tenant.schema)}."payers"', payer_columns, "true", tampered) == 2
    for table, minimum in (
        ("staff_users", 2),
        ("bills", 2),
        ("payments", 2),
        ("receipts", 1),
        ("payment_exceptions", 1),
    ):
        assert by_path[f"tenant/{table}.csv"]["rows"] >= minimum, table
    assert by_path["platform/tenants.csv"]["rows"] == 1
    assert by_path["platform/tenant_domains.csv"]["rows"] == 1
    assert by_path["platform/usage_events.csv"]["rows"] >= 3

    # Secrets and their digests are left out, by name, and appear nowhere in the archive.
    omitted = {p: by_path[p]["omitted_columns"] for p in by_path if by_path[p]["omitted_columns"]}
    assert omitted == {
        "tenant/api_clients.csv": ["secret_hash"],
        "tenant/citizen_auth_codes.csv": ["code_hash"],
        "tenant/citizens.csv": ["national_id_hash"],  # the keyed hash of a national ID stays home
        "tenant/oidc_login_states.csv": ["state_hash", "nonce", "code_verifier"],
        "tenant/one_time_tokens.csv": ["token_hash"],
        "tenant/payment_settings.csv": ["webhook_secret", "webhook_secret_previous"],
        "tenant/refresh_tokens.csv": ["token_hash"],
        "tenant/staff_users.csv": ["password_hash"],
        # Webhook endpoints' signing secrets (sealed) are secrets too: left out by name.
        "tenant/webhook_endpoints.csv": ["secret", "previous_secret"],
        "platform/signup_requests.csv": ["verify_token_hash", "status_token_hash"],
    }
    everything = b"".join(files.values())
    for secret in secrets.values():
        assert secret.encode() not in everything
    assert b"$argon2" not in everything
    assert "platform.outbox" in {item["what"] for item in manifest["left_out"]}

    # A person opening the file sees the payer's name exactly; the other LAO's rows are not there.
    payers = list(csv.DictReader(io.StringIO(files["tenant/payers.csv"].decode("utf-8-sig"))))
    assert TRICKY_NAME in [p["name"] for p in payers]
    [profile] = list(csv.DictReader(io.StringIO(files["tenant/profile.csv"].decode("utf-8-sig"))))
    assert (profile["address_th"], profile["website"]) == (ADDRESS, "")
    assert other.slug.encode() not in files["platform/tenants.csv"]
    assert f"www.{other.slug}.example".encode() not in everything

    # Delivered again (the "delivered" mark was lost): the same archive, not a second one.
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE platform.outbox SET status = 'pending' WHERE id = :i"), {"i": entry_id})
    assert await run_exports(engine, settings, tenant.id) == [entry_id]
    async with engine.connect() as conn:
        count = (
            await conn.execute(
                text("SELECT count(*) FROM platform.tenant_archives WHERE tenant_id = :t"), {"t": tenant.id}
            )
        ).scalar_one()
    assert count == 1


async def test_the_archive_holds_the_stored_files(engine: AsyncEngine, settings: Settings) -> None:
    """Every stored file's bytes under files/<id>/<name>, listed with its SHA-256; another LAO's
    files are not there; a file whose bytes the store lost is listed as missing, not dropped."""
    tenant, other = await make_tenant(engine), await make_tenant(engine)
    store = blob_store(settings)
    staff = Actor("staff", "22222222-2222-2222-2222-222222222222")
    limits = UploadLimits(max_bytes=1_000_000)
    plan = b"%PDF-1.7\n" + bytes(range(256)) * 400 + b"\n%%EOF\n"
    photo = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(200)
    lost = b"%PDF-1.4\n" + b"lost" * 100
    uploads = (
        (tenant, plan, "แบบแปลน ชั้น ๑.pdf", "case-1"),
        (tenant, photo, "../../รูปถ่าย.png", "case-1"),
        (tenant, plan, "สำเนา.pdf", "case-2"),  # the same bytes for another case: one blob, two files
        (tenant, lost, "หาย.pdf", "case-3"),
        (other, b"%PDF-1.7\nother LAO's file", "ของ อปท. อื่น.pdf", "case-1"),
    )
    stored: list[StoredFileRead] = []
    for owner_tenant, data, name, ref in uploads:
        async with tenant_session(session_factory(engine), owner_tenant) as session:
            stored.append(
                await store_upload(
                    session,
                    store,
                    data=data,
                    filename=name,
                    owner=FileOwner("oss.case", ref),
                    uploaded_by=staff,
                    limits=limits,
                )
            )
    await store.delete(blob_key(tenant.schema, stored[3].sha256))

    result = await write_archive(engine, settings, tenant.id, reason="request", created_by=None, key="files1")
    files = read_zip(result.path)
    with zipfile.ZipFile(result.path) as archive:
        kinds = {info.filename: info.compress_type for info in archive.infolist()}
    manifest = json.loads(files["manifest.json"])
    listed = {entry["file_id"]: entry for entry in manifest["stored_files"]}
    assert list(listed) == [str(f.id) for f in stored[:4]]  # upload order; the other LAO's file is not there
    for file, content in zip(stored[:3], (plan, photo, plan), strict=True):
        entry = listed[str(file.id)]
        assert entry["path"] == f"files/{file.id}/{file.filename}"
        assert (entry["status"], entry["bytes"], entry["sha256"]) == ("included", len(content), file.sha256)
        assert files[entry["path"]] == content
        assert hashlib.sha256(files[entry["path"]]).hexdigest() == file.sha256
        assert kinds[entry["path"]] == zipfile.ZIP_STORED
    assert files[f"files/{stored[1].id}/รูปถ่าย.png"] == photo
    missing = listed[str(stored[3].id)]
    assert (missing["path"], missing["status"], missing["sha256"]) == (None, "missing", stored[3].sha256)
    assert not [name for name in files if name.startswith("files/") and ".." in name]
    assert [name for name in files if name.startswith("files/")] == [listed[str(f.id)]["path"] for f in stored[:3]]
    assert b"other LAO's file" not in b"".join(files.values())
    rows = list(csv.DictReader(io.StringIO(files["tenant/stored_files.csv"].decode("utf-8-sig"))))
    assert sorted(r["id"] for r in rows) == sorted(str(f.id) for f in stored[:4])
    assert {r["sha256"] for r in rows} == {f.sha256 for f in stored[:4]}
    readme = files["README.txt"].decode()
    assert "files/" in readme
    assert "ไฟล์แนบ" in readme


async def test_the_archive_is_one_snapshot(
    engine: AsyncEngine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows written while the export runs are in none of its files (REPEATABLE READ), not in some."""
    tenant = await payments_tenant(engine)
    await seed_everything(engine, tenant)
    schema = quote_schema(tenant.schema)
    async with engine.connect() as conn:
        numbers = (await conn.execute(text(f"SELECT count(*) FROM {schema}.running_numbers"))).scalar_one()
    started = asyncio.Event()
    original = export._copy_table

    async def slow_copy(*args: Any, **kwargs: Any) -> Any:
        result = await original(*args, **kwargs)
        if kwargs["table"] == "api_clients":  # early in the alphabet: the snapshot is taken by now
            started.set()
            await asyncio.sleep(0.3)
        return result

    async def write_meanwhile() -> None:
        await started.wait()
        async with engine.begin() as conn:
            await conn.execute(text(f"INSERT INTO {schema}.running_numbers VALUES ('snapshot-test', '', 1)"))
            await conn.execute(text(f"UPDATE {schema}.staff_users SET full_name = 'changed meanwhile'"))

    monkeypatch.setattr(export, "_copy_table", slow_copy)
    result, _ = await asyncio.gather(
        export.write_archive(
            engine,
            tenant.id,
            reason="request",
            created_by=None,
            export_dir=settings.export_path,
            store=blob_store(settings),
        ),
        write_meanwhile(),
    )
    files = read_zip(result.path)
    assert b"changed meanwhile" not in files["tenant/staff_users.csv"]
    assert b"snapshot-test" not in files["tenant/running_numbers.csv"]
    assert result.row_counts[f"{tenant.schema}.running_numbers"] == numbers


async def close_via_api(settings: Settings, client_for: ClientFactory, tenant_id: int) -> None:
    async with client_for(plugins=PLUGINS, settings_=settings, listen=False) as http:
        response = await http.post(
            f"/v1/tenants/{tenant_id}/close", json={"reason": "ออกจากระบบ"}, headers=operator_headers()
        )
        assert response.status_code == 200, response.text
        assert dt.datetime.fromisoformat(response.json()["purge_after"]) <= dt.datetime.now(dt.UTC)


async def purge(engine: AsyncEngine, settings: Settings) -> None:
    job = next(j for j in Worker(settings, []).jobs if j.name == PURGE_JOB)
    async with tenant_session(session_factory(engine), None) as session:
        await job.run(JobContext(session, None, dt.datetime.now(dt.UTC)))


async def schema_exists(engine: AsyncEngine, schema: str) -> bool:
    async with engine.connect() as conn:
        return bool((await conn.execute(text("SELECT to_regnamespace(:s) IS NOT NULL"), {"s": schema})).scalar())


def test_purge_drops_the_schema_after_the_archive_and_migrate_and_ready_ignore_it(
    fresh_database_url: str,
    tmp_path: Path,
    client_for: ClientFactory,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = make_settings(fresh_database_url, export_dir=str(tmp_path / "exports"), closed_retention_days=0)

    async def scenario() -> tuple[str, str]:
        engine = create_engine(settings)
        try:
            keep = await make_tenant(engine)
            leaving = await payments_tenant(engine)
            await seed_everything(engine, leaving)
            await close_via_api(settings, client_for, leaving.id)

            await purge(engine, settings)  # no closing archive yet: nothing is dropped
            assert await schema_exists(engine, leaving.schema)
            await run_exports(engine, settings, leaving.id)
            await purge(engine, settings)
            assert not await schema_exists(engine, leaving.schema)
            assert await schema_exists(engine, keep.schema)
            async with engine.connect() as conn:
                row = (
                    await conn.execute(
                        text("SELECT status, schema_dropped_at FROM platform.tenants WHERE id = :i"), {"i": leaving.id}
                    )
                ).one()
                assert row.status == "closed"
                assert row.schema_dropped_at is not None
                events = (
                    (
                        await conn.execute(
                            text("SELECT action FROM platform.operator_audit_events WHERE target = :t ORDER BY id"),
                            {"t": f"tenant:{leaving.id}"},
                        )
                    )
                    .scalars()
                    .all()
                )
                assert events == ["tenant.closed", "tenant.archive_written", "tenant.schema_dropped"]
            # The tenant's archive outlives it; the schema would have moved on since it was dropped.
            async with engine.begin() as conn:
                await conn.execute(
                    text("UPDATE platform.tenants SET schema_revision = '0001' WHERE id = :i"), {"i": leaving.id}
                )
            report = await migrate_tenants(engine, fresh_database_url, processes=1)
            assert (report.total, report.behind, report.failed) == (1, [], [])
            async with engine.connect() as conn:
                assert await tenant_revisions(conn, verify=True) == {keep.schema: tenant_head()}
            async with client_for(plugins=PLUGINS, settings_=settings, listen=False) as http:
                ready = await http.get("/health/ready")
                assert ready.status_code == 200, ready.text
                gone = await http.get("/v1/tenant", headers=host(leaving.slug))
                assert (gone.status_code, gone.json()["code"]) == (410, "tenant_closed")
                detail = await http.get(f"/v1/tenants/{leaving.id}", headers=operator_headers())
                assert detail.json()["schema_dropped_at"] is not None
                [archive] = detail.json()["archives"]
                download = await http.get(
                    f"/v1/tenants/{leaving.id}/archives/{archive['id']}", headers=operator_headers()
                )
                assert download.status_code == 200
                assert hashlib.sha256(download.content).hexdigest() == archive["sha256"]
                again = await http.post(f"/v1/tenants/{leaving.id}/archives", headers=operator_headers())
                assert (again.status_code, again.json()["code"]) == (409, "tenant_wrong_state")
            # A live tenant whose schema is missing is still reported, by migrate and by readiness.
            async with engine.begin() as conn:
                await conn.execute(text(f"DROP SCHEMA {quote_schema(keep.schema)} CASCADE"))
            report = await migrate_tenants(engine, fresh_database_url, check_only=True)
            assert report.behind == [keep.schema]
            return keep.schema, leaving.schema
        finally:
            await engine.dispose()

    missing, dropped = asyncio.run(scenario())
    monkeypatch.setenv("LOCALGOV_DATABASE_URL", fresh_database_url)
    assert cli.main(["migrate", "--check"]) == 1
    out = capsys.readouterr().out
    assert f"behind: {missing}" in out
    assert dropped not in out
    assert "1 tenant schemas, 1 behind" in out


async def test_purge_waits_for_an_intact_archive(
    engine: AsyncEngine, settings: Settings, client_for: ClientFactory
) -> None:
    tenant = await make_tenant(engine)
    await close_via_api(settings, client_for, tenant.id)
    await run_exports(engine, settings, tenant.id)
    async with engine.connect() as conn:
        name = (
            await conn.execute(
                text("SELECT file_name FROM platform.tenant_archives WHERE tenant_id = :t"), {"t": tenant.id}
            )
        ).scalar_one()
    path = settings.export_path / name
    original = path.read_bytes()
    path.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))  # same size, one bit flipped
    await purge(engine, settings)
    assert await schema_exists(engine, tenant.schema)
    path.unlink()
    await purge(engine, settings)
    assert await schema_exists(engine, tenant.schema)
    path.write_bytes(original)
    await purge(engine, settings)
    assert not await schema_exists(engine, tenant.schema)


async def test_purge_deletes_the_stored_files_with_the_schema(
    engine: AsyncEngine, settings: Settings, client_for: ClientFactory
) -> None:
    """The closed LAO's files go with its schema (their bytes are in the closing archive); another
    LAO's copy of the same content stays."""
    leaving, staying = await make_tenant(engine), await make_tenant(engine)
    store = blob_store(settings)
    content = b"%PDF-1.7\n" + b"the same document" * 50
    for tenant in (leaving, staying):
        async with tenant_session(session_factory(engine), tenant) as session:
            await store_upload(
                session,
                store,
                data=content,
                filename="เอกสาร.pdf",
                owner=FileOwner("oss.case", "1"),
                uploaded_by=Actor("citizen", "c1"),
                limits=UploadLimits(max_bytes=10_000),
            )
    sha = hashlib.sha256(content).hexdigest()
    await close_via_api(settings, client_for, leaving.id)
    await run_exports(engine, settings, leaving.id)
    await purge(engine, settings)
    assert not await schema_exists(engine, leaving.schema)
    assert not await store.exists(blob_key(leaving.schema, sha))
    assert not (settings.storage_path / leaving.schema).exists()
    assert await store.exists(blob_key(staying.schema, sha))
    async with engine.connect() as conn:
        name = (
            await conn.execute(
                text("SELECT file_name FROM platform.tenant_archives WHERE tenant_id = :t"), {"t": leaving.id}
            )
        ).scalar_one()
    files = read_zip(settings.export_path / name)
    assert [content] == [data for path, data in files.items() if path.startswith("files/")]
