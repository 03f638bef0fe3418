"""Stored files (kernel.storage): uploads judged by content, SHA-256, per-tenant blob keys, owner
and tenant checks on every read, streamed downloads with safe headers, the filesystem store that
names nothing after the uploader, the purge of a tenant's blobs, and the S3-compatible store against
a real S3 server (moto's, over HTTP on loopback, checking every signature) and AWS's published
Signature V4 examples."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import io
import os
import re
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Annotated

import httpx
import httpx2
import pytest
from litestar import Litestar, get, post
from litestar.datastructures import UploadFile
from litestar.params import MultipartBody, PathParameter, QueryParameter
from litestar.response import Stream
from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.kernel.audit import Actor
from localgov.kernel.db import session_factory, tenant_reader, tenant_session
from localgov.kernel.errors import exception_handlers
from localgov.kernel.storage import (
    BlobMissing,
    BlobStore,
    Credentials,
    FileContentMissing,
    FileEmpty,
    FileNotFound,
    FileOwner,
    FilesystemBlobStore,
    FileTooLarge,
    FileTypeNotAllowed,
    S3BlobStore,
    StagedBlob,
    StorageUnavailable,
    StoredFile,
    StoredFileRead,
    UploadLimits,
    blob_key,
    blob_store,
    clean_filename,
    content_disposition,
    detect,
    download_response,
    get_file,
    list_files,
    open_file,
    store_upload,
    store_upload_file,
    validate_key,
)
from localgov.kernel.storage import types as filetypes
from localgov.kernel.storage.sigv4 import EMPTY_SHA256, canonical_request, sign
from localgov.kernel.tenancy import TenantInfo
from localgov.settings import Settings, SettingsError
from tests.support.factories import make_tenant

CASE = FileOwner("oss.case", "case-1")
OTHER_CASE = FileOwner("oss.case", "case-2")
STAFF = Actor("staff", "11111111-1111-1111-1111-111111111111")
LIMITS = UploadLimits(max_bytes=4 * 1024 * 1024)
THAI_NAME = "แบบแปลนอาคาร ชั้น ๒.pdf"
HTML = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>\n" * 4


def pdf_bytes(size: int = 20_000, seed: int = 1) -> bytes:
    """A PDF-shaped file of about ``size`` bytes (the header is what the type check reads)."""
    body = hashlib.sha256(str(seed).encode()).digest() * (size // 32 + 1)
    return b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + body[:size] + b"\n%%EOF\n"


def image_bytes(fmt: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(out, format=fmt)
    return out.getvalue()


def heic_bytes() -> bytes:
    """The start of an iPhone photo: an ISO-BMFF ``ftyp`` box with the ``heic`` brand."""
    return b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 200


@pytest.fixture
def store(tmp_path: Path) -> FilesystemBlobStore:
    return FilesystemBlobStore(tmp_path / "files")


async def upload(
    engine: AsyncEngine,
    tenant: TenantInfo,
    store: BlobStore,
    data: bytes | AsyncIterator[bytes],
    *,
    filename: str = THAI_NAME,
    owner: FileOwner = CASE,
    limits: UploadLimits = LIMITS,
) -> StoredFileRead:
    async with tenant_session(session_factory(engine), tenant) as session:
        return await store_upload(
            session, store, data=data, filename=filename, owner=owner, uploaded_by=STAFF, limits=limits
        )


async def read_back(engine: AsyncEngine, tenant: TenantInfo, store: BlobStore, file_id: uuid.UUID) -> bytes:
    async with tenant_reader(engine, tenant) as conn:
        opened = await open_file(conn, store, file_id, owner=CASE)
    return await opened.chunks.read_all()


async def row_count(engine: AsyncEngine, tenant: TenantInfo) -> int:
    async with tenant_session(session_factory(engine), tenant) as session:
        return int((await session.execute(select(func.count()).select_from(StoredFile))).scalar_one())


def stored_paths(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


# --- types by content -------------------------------------------------------------------------------


def test_types_are_detected_by_their_bytes() -> None:
    assert detect(pdf_bytes()) is filetypes.PDF
    assert detect(image_bytes("PNG")) is filetypes.PNG
    assert detect(image_bytes("JPEG")) is filetypes.JPEG
    assert detect(image_bytes("TIFF")) is filetypes.TIFF
    assert detect(image_bytes("WEBP")) is filetypes.WEBP
    assert detect(heic_bytes()) is filetypes.HEIC
    for other in (HTML, b"PK\x03\x04docx", b"MZ\x90\x00", b"GIF89a", b" %PDF-1.7", b"<svg/>", b"\xff\xd8"):
        assert detect(other) is None, other


def test_limits_name_known_types_only() -> None:
    with pytest.raises(ValueError, match="known file types"):
        UploadLimits(max_bytes=10, types=("pdf", "exe"))
    with pytest.raises(ValueError, match="at least 1"):
        UploadLimits(max_bytes=0)
    assert LIMITS.request_body_limit(files=2) == 2 * (LIMITS.max_bytes + 65536)


# --- storing and reading ----------------------------------------------------------------------------


async def test_roundtrip_records_the_content_type_size_and_sha256(
    engine: AsyncEngine, store: FilesystemBlobStore
) -> None:
    tenant = await make_tenant(engine)
    content = pdf_bytes()
    stored = await upload(engine, tenant, store, content)
    assert (stored.filename, stored.content_type, stored.size_bytes) == (THAI_NAME, "application/pdf", len(content))
    assert stored.sha256 == hashlib.sha256(content).hexdigest()
    assert (stored.owner_kind, stored.owner_ref, stored.uploaded_by) == ("oss.case", "case-1", f"staff:{STAFF.id}")
    assert await read_back(engine, tenant, store, stored.id) == content

    async with tenant_reader(engine, tenant) as conn:
        assert await get_file(conn, stored.id, owner=CASE) == stored
        assert await list_files(conn, CASE) == [stored]
        assert await list_files(conn, OTHER_CASE) == []
    [path] = stored_paths(store.root)
    assert path == store.root / tenant.schema / stored.sha256[:2] / stored.sha256[2:4] / stored.sha256
    assert path.read_bytes() == content
    assert path.stat().st_mode & 0o777 == 0o600


async def test_a_large_upload_in_chunks_is_spooled_and_stored_whole(
    engine: AsyncEngine, store: FilesystemBlobStore
) -> None:
    tenant = await make_tenant(engine)
    content = pdf_bytes(3 * 1024 * 1024 + 17)  # past the 1 MiB kept in memory

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(content), 50_000):
            yield content[start : start + 50_000]

    stored = await upload(engine, tenant, store, chunks())
    assert stored.sha256 == hashlib.sha256(content).hexdigest()
    assert await read_back(engine, tenant, store, stored.id) == content


async def test_staged_blob_spills_to_a_temporary_file_and_reads_back() -> None:
    staged = StagedBlob(spool_bytes=1000)
    parts = [bytes([i]) * 300 for i in range(10)]
    for part in parts:
        await staged.write(part)
    await staged.finish()
    assert staged.size == 3000
    assert staged.head == parts[0][:64]
    assert b"".join([c async for c in staged.chunks(size=700)]) == b"".join(parts)
    copied = io.BytesIO()
    staged.copy_to(copied)
    assert copied.getvalue() == b"".join(parts)
    staged.close()


async def test_oversize_is_refused_without_reading_the_rest(engine: AsyncEngine, store: FilesystemBlobStore) -> None:
    tenant = await make_tenant(engine)
    read = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal read
        yield pdf_bytes(1000)
        while True:
            read += 1
            yield b"\x00" * 1000

    limits = UploadLimits(max_bytes=10_000)
    with pytest.raises(FileTooLarge) as refused:
        await upload(engine, tenant, store, endless(), limits=limits)
    assert (refused.value.status, refused.value.code) == (413, "file_too_large")
    assert refused.value.data is not None
    assert refused.value.data["max_bytes"] == 10_000
    assert read == 9  # 1,022 + 9 x 1,000 > 10,000: the chunk that went over the limit was the last one read
    # Exactly at the limit is accepted.
    exact = pdf_bytes(10_000)[:10_000]
    assert (await upload(engine, tenant, store, exact, limits=limits)).size_bytes == 10_000
    assert await row_count(engine, tenant) == 1
    assert len(stored_paths(store.root)) == 1


async def test_wrong_type_by_content_is_refused_whatever_the_name_says(
    engine: AsyncEngine, store: FilesystemBlobStore
) -> None:
    tenant = await make_tenant(engine)
    with pytest.raises(FileTypeNotAllowed) as refused:
        await upload(engine, tenant, store, HTML, filename="permit.pdf")
    assert (refused.value.status, refused.value.code) == (415, "file_type_not_allowed")
    assert refused.value.data is not None
    assert refused.value.data["detected"] is None
    assert "application/pdf" in refused.value.data["allowed"]
    # A known type the service did not allow is named in the refusal.
    with pytest.raises(FileTypeNotAllowed) as heic:
        await upload(engine, tenant, store, heic_bytes(), filename="IMG_0001.jpg")
    assert heic.value.data is not None
    assert heic.value.data["detected"] == "image/heic"
    only_pdf = UploadLimits(max_bytes=LIMITS.max_bytes, types=("pdf",))
    with pytest.raises(FileTypeNotAllowed):
        await upload(engine, tenant, store, image_bytes("PNG"), filename="scan.pdf", limits=only_pdf)

    # The refusal comes as soon as the first bytes are in: the rest is never read.
    read = 0

    async def html_then_more() -> AsyncIterator[bytes]:
        nonlocal read
        while True:
            read += 1
            yield HTML

    with pytest.raises(FileTypeNotAllowed):
        await upload(engine, tenant, store, html_then_more())
    assert read == 1
    assert await row_count(engine, tenant) == 0
    assert stored_paths(store.root) == []


async def test_an_empty_file_is_refused(engine: AsyncEngine, store: FilesystemBlobStore) -> None:
    tenant = await make_tenant(engine)

    async def nothing() -> AsyncIterator[bytes]:
        for _ in range(3):
            yield b""

    for data in (b"", nothing()):
        with pytest.raises(FileEmpty) as refused:
            await upload(engine, tenant, store, data)
        assert (refused.value.status, refused.value.code) == (400, "file_empty")
    assert await row_count(engine, tenant) == 0


async def test_another_tenants_or_owners_file_is_not_found(engine: AsyncEngine, store: FilesystemBlobStore) -> None:
    mine, theirs = await make_tenant(engine), await make_tenant(engine)
    stored = await upload(engine, theirs, store, pdf_bytes())
    async with tenant_reader(engine, mine) as conn:
        with pytest.raises(FileNotFound) as missing:
            await open_file(conn, store, stored.id, owner=CASE)  # same owner kind and ref, another LAO
        assert (missing.value.status, missing.value.code) == (404, "file_not_found")
        with pytest.raises(FileNotFound):
            await get_file(conn, stored.id, owner=CASE)
        assert await list_files(conn, CASE) == []
    async with tenant_reader(engine, theirs) as conn:
        with pytest.raises(FileNotFound):
            await open_file(conn, store, stored.id, owner=OTHER_CASE)  # the right LAO, another case
        with pytest.raises(FileNotFound):
            await open_file(conn, store, uuid.uuid4(), owner=CASE)
        opened = await open_file(conn, store, stored.id, owner=CASE)
        await opened.chunks.aclose()  # opened and not read: closed without reading


async def test_names_cannot_reach_the_file_system(engine: AsyncEngine, store: FilesystemBlobStore) -> None:
    tenant = await make_tenant(engine)
    names = ["../../etc/passwd", "..\\..\\windows\\win.ini", "/etc/shadow", "....//....//x.pdf", "..", ""]
    results = [
        await upload(engine, tenant, store, pdf_bytes(seed=i), filename=name, owner=FileOwner("oss.case", f"n{i}"))
        for i, name in enumerate(names)
    ]
    assert [r.filename for r in results] == ["passwd.pdf", "win.ini.pdf", "shadow.pdf", "x.pdf", "file.pdf", "file.pdf"]
    layout = re.compile(rf"^{tenant.schema}/[0-9a-f]{{2}}/[0-9a-f]{{2}}/[0-9a-f]{{64}}$")
    files = stored_paths(store.root)
    assert len(files) == len(names)
    for path in files:
        assert layout.fullmatch(path.relative_to(store.root).as_posix()), path
    assert not (store.root.parent / "etc").exists()
    # Keys are made by the kernel only; the store refuses anything else.
    for bad in ("../../etc/passwd", f"{tenant.schema}/../x", f"{tenant.schema}/ab/cd/{'ab' * 32}", "lao_1/ab/cd/x"):
        with pytest.raises(ValueError, match="not a blob key"):
            store.path_of(bad)
    sha = "ab" * 32
    assert validate_key(blob_key(tenant.schema, sha)) == f"{tenant.schema}/ab/ab/{sha}"
    with pytest.raises(ValueError, match="not a tenant schema"):
        blob_key("../x", sha)


def test_clean_filename_keeps_thai_and_drops_what_deceives() -> None:
    pdf, jpeg = filetypes.PDF, filetypes.JPEG
    assert clean_filename("สำเนาบัตรประชาชน.pdf", pdf) == "สำเนาบัตรประชาชน.pdf"
    assert clean_filename("C:\\Users\\สมชาย\\โฉนด.PDF", pdf) == "โฉนด.PDF"
    assert clean_filename("invoice\u202efdp.exe", pdf) == "invoicefdp.exe.pdf"  # bidi override removed
    assert clean_filename("a\u200bb\x00c\t.pdf", pdf) == "abc.pdf"
    assert clean_filename('what?<is>:"this"|*.pdf', pdf) == "what__is___this___.pdf"
    assert clean_filename("photo.jpeg", jpeg) == "photo.jpeg"
    assert clean_filename("photo.png", jpeg) == "photo.png.jpg"  # the extension follows the content
    assert clean_filename("scan", pdf) == "scan.pdf"
    assert clean_filename("  .hidden  ", pdf) == "hidden.pdf"
    assert clean_filename("เอกสาร", pdf) == "เอกสาร.pdf"
    long = clean_filename("ที่" * 200 + ".pdf", pdf)
    assert len(long.encode()) <= 204
    assert long.endswith(".pdf")
    assert long.startswith("ที่")


async def test_identical_content_shares_a_blob_within_a_tenant_never_across(
    engine: AsyncEngine, store: FilesystemBlobStore
) -> None:
    first, second = await make_tenant(engine), await make_tenant(engine)
    content = pdf_bytes(seed=7)
    a = await upload(engine, first, store, content, owner=CASE)
    b = await upload(engine, first, store, content, owner=OTHER_CASE, filename="อีกชื่อ.pdf")
    c = await upload(engine, second, store, content, owner=CASE)
    assert a.sha256 == b.sha256 == c.sha256
    assert len({a.id, b.id, c.id}) == 3
    files = stored_paths(store.root)
    assert [p.relative_to(store.root).parts[0] for p in files] == sorted([first.schema, second.schema])
    async with tenant_session(session_factory(engine), first) as session:
        keys = set((await session.execute(select(StoredFile.storage_key))).scalars())
    assert keys == {blob_key(first.schema, a.sha256)}
    assert await store.delete_tenant(second.schema) == 1
    assert await store.delete_tenant(second.schema) == 0
    assert not await store.exists(blob_key(second.schema, c.sha256))
    assert await read_back(engine, first, store, a.id) == content
    with pytest.raises(FileContentMissing):
        await read_back(engine, second, store, c.id)
    await upload(engine, second, store, content)  # uploaded again: stored again
    assert await read_back(engine, second, store, c.id) == content
    # Each tenant reads its own copy: losing one tenant's blob leaves the other's intact.
    (store.root / first.schema).rename(store.root / "gone")
    assert await read_back(engine, second, store, c.id) == content
    with pytest.raises(FileContentMissing) as lost:
        await read_back(engine, first, store, a.id)
    assert (lost.value.status, lost.value.code) == (503, "file_content_missing")
    assert lost.value.data == {"file_id": str(a.id), "reason": "missing"}


async def test_altered_bytes_are_not_served_as_the_file(engine: AsyncEngine, store: FilesystemBlobStore) -> None:
    tenant = await make_tenant(engine)
    content = pdf_bytes()
    stored = await upload(engine, tenant, store, content)
    [path] = stored_paths(store.root)
    path.write_bytes(content[:-1] + b"X")  # same size, one byte changed
    with pytest.raises(FileContentMissing) as altered:
        await read_back(engine, tenant, store, stored.id)
    assert altered.value.data == {"file_id": str(stored.id), "reason": "altered"}
    path.write_bytes(content + b"more")  # another size: refused before any byte
    async with tenant_reader(engine, tenant) as conn:
        with pytest.raises(FileContentMissing):
            await open_file(conn, store, stored.id, owner=CASE)


async def test_the_store_needs_a_tenant_session(engine: AsyncEngine, store: FilesystemBlobStore) -> None:
    async with tenant_session(session_factory(engine), None) as session:
        with pytest.raises(RuntimeError, match="tenant-bound"):
            await store_upload(
                session, store, data=pdf_bytes(), filename="x.pdf", owner=CASE, uploaded_by=STAFF, limits=LIMITS
            )
    with pytest.raises(ValueError, match="owner kind"):
        FileOwner("case", "1")
    with pytest.raises(ValueError, match="owner ref"):
        FileOwner("oss.case", "../1")


# --- over HTTP: a multipart upload and a streamed download ------------------------------------------


def files_app(engine: AsyncEngine, tenant: TenantInfo, store: BlobStore, limits: UploadLimits) -> Litestar:
    """What a service's routes do with the helpers (the oss plugin adds the real ones)."""
    factory = session_factory(engine)

    @post("/files", request_max_body_size=limits.request_body_limit())
    async def upload_route(data: MultipartBody[UploadFile]) -> StoredFileRead:
        async with tenant_session(factory, tenant) as session:
            return await store_upload_file(session, store, data, owner=CASE, uploaded_by=STAFF, limits=limits)

    @get("/files/{file_id:uuid}")
    async def download_route(
        file_id: Annotated[uuid.UUID, PathParameter()],
        inline: Annotated[bool, QueryParameter(description="show, not save")] = False,
    ) -> Stream:
        async with tenant_reader(engine, tenant) as conn:
            opened = await open_file(conn, store, file_id, owner=CASE)
        return download_response(opened, inline=inline)

    return Litestar([upload_route, download_route], exception_handlers=exception_handlers())


async def test_multipart_upload_and_download_over_http(engine: AsyncEngine, store: FilesystemBlobStore) -> None:
    tenant = await make_tenant(engine)
    limits = UploadLimits(max_bytes=100_000)
    app = files_app(engine, tenant, store, limits)
    content = pdf_bytes(50_000)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        # HTML declared as a PDF, named as one: refused by content.
        html = await http.post("/files", files={"data": ("permit.pdf", HTML, "application/pdf")})
        assert (html.status_code, html.headers["content-type"]) == (415, "application/problem+json")
        assert html.json()["code"] == "file_type_not_allowed"
        # A real PDF declared as text: accepted as what it is.
        created = await http.post("/files", files={"data": (THAI_NAME, content, "text/plain")})
        assert created.status_code == 201, created.text
        body = created.json()
        assert (body["content_type"], body["size_bytes"]) == ("application/pdf", len(content))
        assert body["sha256"] == hashlib.sha256(content).hexdigest()
        assert "storage_key" not in body
        # Over the service's limit but within the body limit: the service's 413.
        big = await http.post("/files", files={"data": ("big.pdf", pdf_bytes(100_001), "application/pdf")})
        assert (big.status_code, big.json()["code"]) == (413, "file_too_large")
        # Over the route's body limit: Litestar's 413 before the handler runs.
        huge = await http.post("/files", files={"data": ("huge.pdf", pdf_bytes(200_000), "application/pdf")})
        assert (huge.status_code, huge.json()["code"]) == (413, "payload_too_large")
        empty = await http.post("/files", files={"data": ("empty.pdf", b"", "application/pdf")})
        assert (empty.status_code, empty.json()["code"]) == (400, "file_empty")

        download = await http.get(f"/files/{body['id']}")
        assert download.status_code == 200
        assert download.content == content
        assert download.headers["content-type"] == "application/pdf"
        assert download.headers["content-length"] == str(len(content))
        assert download.headers["x-content-type-options"] == "nosniff"
        assert download.headers["cache-control"] == "private, no-store"
        disposition = download.headers["content-disposition"]
        assert disposition.startswith('attachment; filename="')
        assert disposition.endswith("filename*=UTF-8''" + urllib.parse.quote(THAI_NAME, safe=""))
        encoded = disposition.split("filename*=UTF-8''", 1)[1]
        assert urllib.parse.unquote(encoded) == THAI_NAME
        inline = await http.get(f"/files/{body['id']}", params={"inline": "true"})
        assert inline.headers["content-disposition"].startswith("inline; ")
        missing = await http.get(f"/files/{uuid.uuid4()}")
        assert (missing.status_code, missing.json()["code"]) == (404, "file_not_found")
    assert await row_count(engine, tenant) == 1


def test_content_disposition_has_an_ascii_fallback() -> None:
    assert content_disposition("report.pdf") == "attachment; filename=\"report.pdf\"; filename*=UTF-8''report.pdf"
    thai = content_disposition("ใบอนุญาต.pdf", inline=True)
    assert thai.startswith("inline; filename=\"file.pdf\"; filename*=UTF-8''%E0%B9%83")
    assert content_disposition("Café menu.pdf").startswith('attachment; filename="Cafe menu.pdf"')
    assert content_disposition('a"b\\c.pdf').startswith(
        "attachment; filename=\"a_b_c.pdf\"; filename*=UTF-8''a%22b%5Cc.pdf"
    )


# --- settings ----------------------------------------------------------------------------------------


def test_storage_settings_default_to_a_folder_and_validate_s3(tmp_path: Path) -> None:
    settings = Settings(data_dir=str(tmp_path))
    assert (settings.storage_backend, settings.storage_path) == ("filesystem", tmp_path.resolve() / "files")
    assert isinstance(blob_store(settings), FilesystemBlobStore)
    assert Settings(storage_dir=str(tmp_path / "x")).storage_path == (tmp_path / "x").resolve()
    s3 = Settings.from_env(
        {
            "LOCALGOV_STORAGE_BACKEND": "s3",
            "LOCALGOV_STORAGE_S3_ENDPOINT": "https://s3.ap-southeast-1.amazonaws.com",
            "LOCALGOV_STORAGE_S3_REGION": "ap-southeast-1",
            "LOCALGOV_STORAGE_S3_BUCKET": "lao-files",
            "LOCALGOV_STORAGE_S3_ACCESS_KEY_ID": "AKID",
            "LOCALGOV_STORAGE_S3_SECRET_ACCESS_KEY": "very-secret",
            "LOCALGOV_STORAGE_S3_PREFIX": "localgov/",
        }
    )
    store = blob_store(s3)
    assert isinstance(store, S3BlobStore)
    key = blob_key("lao_1234567", "ab" * 32)
    assert store.url_of(key) == f"https://s3.ap-southeast-1.amazonaws.com/lao-files/localgov/{key}"
    assert s3.redacted()["storage_s3_secret_access_key"] == "***"
    assert "very-secret" not in repr(Credentials(access_key_id="a", secret_access_key="very-secret", region="x"))
    good = {
        "storage_backend": "s3",
        "storage_s3_endpoint": "http://127.0.0.1:9000",
        "storage_s3_bucket": "files",
        "storage_s3_access_key_id": "a",
        "storage_s3_secret_access_key": "b",
    }
    Settings(**good)  # type: ignore[arg-type]
    for change, message in (
        ({"storage_s3_endpoint": ""}, "ENDPOINT"),
        ({"storage_s3_endpoint": "ftp://x"}, "ENDPOINT"),
        ({"storage_s3_endpoint": "https://x/path?q"}, "ENDPOINT"),
        ({"storage_s3_bucket": "Bad_Bucket"}, "BUCKET"),
        ({"storage_s3_secret_access_key": ""}, "ACCESS_KEY"),
        ({"storage_s3_region": "Mars 1"}, "REGION"),
        ({"storage_s3_prefix": "no-slash"}, "PREFIX"),
        ({"storage_s3_prefix": "../"}, "PREFIX"),
    ):
        with pytest.raises(SettingsError, match=message):
            Settings(**{**good, **change})  # type: ignore[arg-type]
    with pytest.raises(SettingsError, match="storage_backend"):
        Settings.from_env({"LOCALGOV_STORAGE_BACKEND": "ftp"})


# --- AWS Signature V4 --------------------------------------------------------------------------------

AWS_EXAMPLE = Credentials(
    access_key_id="AKIAIOSFODNN7EXAMPLE",
    secret_access_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    region="us-east-1",
)
AWS_EXAMPLE_TIME = dt.datetime(2013, 5, 24, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("method", "url", "headers", "payload", "signed", "signature"),
    [
        (  # GET Object
            "GET",
            "https://examplebucket.s3.amazonaws.com/test.txt",
            {"Range": "bytes=0-9"},
            b"",
            "host;range;x-amz-content-sha256;x-amz-date",
            "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
        ),
        (  # PUT Object
            "PUT",
            "https://examplebucket.s3.amazonaws.com/test%24file.text",
            {"Date": "Fri, 24 May 2013 00:00:00 GMT", "x-amz-storage-class": "REDUCED_REDUNDANCY"},
            b"Welcome to Amazon S3.",
            "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
            "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
        ),
        (  # GET Bucket lifecycle (a query parameter without a value)
            "GET",
            "https://examplebucket.s3.amazonaws.com/?lifecycle",
            {},
            b"",
            "host;x-amz-content-sha256;x-amz-date",
            "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543",
        ),
        (  # GET Bucket (list objects: sorted, encoded query)
            "GET",
            "https://examplebucket.s3.amazonaws.com/?max-keys=2&prefix=J",
            {},
            b"",
            "host;x-amz-content-sha256;x-amz-date",
            "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
        ),
    ],
)
def test_sigv4_matches_awss_published_s3_examples(
    method: str, url: str, headers: dict[str, str], payload: bytes, signed: str, signature: str
) -> None:
    """The examples of AWS's "Signature Calculations for the Authorization Header" (S3 API reference)."""
    out = sign(
        method,
        url,
        headers,
        payload_sha256=hashlib.sha256(payload).hexdigest(),
        credentials=AWS_EXAMPLE,
        now=AWS_EXAMPLE_TIME,
    )
    assert out["Authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
        f"SignedHeaders={signed}, Signature={signature}"
    )
    assert out["x-amz-date"] == "20130524T000000Z"


def test_sigv4_agrees_with_botocore_on_other_requests() -> None:
    auth = pytest.importorskip("botocore.auth")
    awsrequest = pytest.importorskip("botocore.awsrequest")
    botocore_credentials = pytest.importorskip("botocore.credentials")
    creds = botocore_credentials.Credentials(AWS_EXAMPLE.access_key_id, AWS_EXAMPLE.secret_access_key)
    key = blob_key("lao_1234567", hashlib.sha256(b"x").hexdigest())
    for method, url, payload in (
        ("PUT", f"http://127.0.0.1:9000/files/localgov/{key}", b"%PDF-1.7 data"),
        ("GET", "http://127.0.0.1:9000/files/a%20b/%E0%B8%81?versionId=3%2F4&acl=", b""),
        ("DELETE", f"https://s3.ap-southeast-1.amazonaws.com/lao-files/{key}", b""),
    ):
        sha = hashlib.sha256(payload).hexdigest()
        ours = sign(
            method,
            url,
            {"content-type": "application/pdf"},
            payload_sha256=sha,
            credentials=AWS_EXAMPLE,
            now=AWS_EXAMPLE_TIME,
        )
        request = awsrequest.AWSRequest(
            method=method, url=url, data=payload, headers={k: v for k, v in ours.items() if k != "Authorization"}
        )
        request.context["timestamp"] = "20130524T000000Z"
        signer = auth.S3SigV4Auth(creds, "s3", "us-east-1")
        theirs = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
        assert ours["Authorization"].endswith(f"Signature={theirs}"), (method, url)
    text, signed = canonical_request(
        "GET", "http://h/b/k?b=2&a=1", {"X-Amz-Date": " a   b ", "Host": "h"}, EMPTY_SHA256
    )
    assert text.split("\n")[2:4] == ["a=1&b=2", "host:h"]
    assert signed == "host;x-amz-date"


# --- the S3-compatible store against a real S3 server -------------------------------------------------


class S3Server:
    def __init__(self, endpoint: str, credentials: Credentials, bucket: str) -> None:
        self.endpoint = endpoint
        self.credentials = credentials
        self.bucket = bucket

    def store(self, credentials: Credentials | None = None, *, prefix: str = "", page_size: int = 1000) -> S3BlobStore:
        return S3BlobStore(
            endpoint=self.endpoint,
            bucket=self.bucket,
            credentials=credentials or self.credentials,
            prefix=prefix,
            list_page_size=page_size,
        )


#: Requests moto serves before it starts checking signatures: the set-up below (user, key, policy, bucket).
_SETUP_REQUESTS = 4


async def _set_up_s3(endpoint: str) -> S3Server:
    """An IAM user with an access key allowed every S3 action, and a bucket (moto's first requests)."""
    anyone = Credentials(access_key_id="AKIDSETUP", secret_access_key="setup", region="us-east-1", service="iam")
    async with httpx2.AsyncClient(timeout=30) as client:

        async def iam(**params: str) -> str:
            body = urllib.parse.urlencode({**params, "Version": "2010-05-08"}).encode()
            headers = sign(
                "POST",
                endpoint + "/",
                {"content-type": "application/x-www-form-urlencoded"},
                payload_sha256=hashlib.sha256(body).hexdigest(),
                credentials=anyone,
                now=dt.datetime.now(dt.UTC),
            )
            response = await client.post(endpoint + "/", content=body, headers=headers)
            assert response.status_code == 200, response.text
            return response.text

        await iam(Action="CreateUser", UserName="localgov")
        created = await iam(Action="CreateAccessKey", UserName="localgov")
        key_id = re.search(r"<AccessKeyId>([^<]+)</AccessKeyId>", created)
        secret = re.search(r"<SecretAccessKey>([^<]+)</SecretAccessKey>", created)
        assert key_id
        assert secret
        policy = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}'
        await iam(Action="PutUserPolicy", UserName="localgov", PolicyName="files", PolicyDocument=policy)
        credentials = Credentials(access_key_id=key_id.group(1), secret_access_key=secret.group(1), region="us-east-1")
        headers = sign(
            "PUT",
            f"{endpoint}/files",
            {},
            payload_sha256=EMPTY_SHA256,
            credentials=credentials,
            now=dt.datetime.now(dt.UTC),
        )
        bucket = await client.put(f"{endpoint}/files", headers=headers)
        assert bucket.status_code == 200, bucket.text
    return S3Server(endpoint, credentials, "files")


@pytest.fixture(scope="module")
def s3_server() -> Iterator[S3Server]:
    """moto's S3 server (its Flask app over HTTP on a free loopback port, in a thread of its own),
    checking the signature of every request after the set-up."""
    try:
        from moto import settings as moto_settings
        from moto.core.authorization import ActionAuthenticatorMixin
        from moto.server import ThreadedMotoServer
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("moto's server is missing: install the dev extras (moto[s3], flask, flask-cors)")
        pytest.skip("moto's server is not installed (dev extras)")
    saved = moto_settings.INITIAL_NO_AUTH_ACTION_COUNT
    moto_settings.INITIAL_NO_AUTH_ACTION_COUNT = _SETUP_REQUESTS
    ActionAuthenticatorMixin.request_count = 0
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield asyncio.run(_set_up_s3(f"http://{host}:{port}"))
    finally:
        server.stop()
        moto_settings.INITIAL_NO_AUTH_ACTION_COUNT = saved


async def test_s3_store_puts_heads_gets_and_deletes(s3_server: S3Server) -> None:
    store = s3_server.store()
    try:
        staged = StagedBlob(spool_bytes=64 * 1024)
        content = pdf_bytes(300_000)
        await staged.write(content)
        await staged.finish()
        key = blob_key("lao_7654321", staged.sha256)
        assert not await store.exists(key)
        with pytest.raises(BlobMissing):
            await store.open(key)
        await store.put(key, staged, content_type="application/pdf")
        staged.close()
        assert await store.exists(key)
        stream = await store.open(key)
        assert stream.size == len(content)
        assert await stream.read_all() == content
        unread = await store.open(key)
        await unread.aclose()
        await store.delete(key)
        assert not await store.exists(key)
        await store.delete(key)  # deleting what is gone is no error
        # A purged tenant's objects, page by page (and nothing of another tenant's).
        paged = s3_server.store(prefix="purge/", page_size=2)
        try:
            keys = {}
            for schema in ("lao_1000001", "lao_1000002"):
                for i in range(5):
                    blob = StagedBlob()
                    await blob.write(pdf_bytes(100, seed=i))
                    await blob.finish()
                    keys[schema, i] = blob_key(schema, blob.sha256)
                    await paged.put(keys[schema, i], blob, content_type="application/pdf")
                    blob.close()
            assert await paged.delete_tenant("lao_1000001") == 5
            assert await paged.delete_tenant("lao_1000001") == 0
            assert [await paged.exists(keys["lao_1000001", i]) for i in range(5)] == [False] * 5
            assert [await paged.exists(keys["lao_1000002", i]) for i in range(5)] == [True] * 5
            assert not await store.exists(keys["lao_1000002", 0])  # another prefix: another place
        finally:
            await paged.aclose()
    finally:
        await store.aclose()


async def test_s3_store_refuses_a_wrong_secret_as_unavailable(s3_server: S3Server) -> None:
    wrong = Credentials(
        access_key_id=s3_server.credentials.access_key_id, secret_access_key="not-the-secret", region="us-east-1"
    )
    store = s3_server.store(wrong)
    staged = StagedBlob()
    await staged.write(pdf_bytes())
    await staged.finish()
    try:
        with pytest.raises(StorageUnavailable) as refused:
            await store.put(blob_key("lao_7654321", staged.sha256), staged, content_type="application/pdf")
        assert refused.value.status == 503
        assert refused.value.data is not None
        assert (refused.value.data["status"], refused.value.data["s3_code"]) == (403, "SignatureDoesNotMatch")
    finally:
        staged.close()
        await store.aclose()
    unreachable = S3BlobStore(endpoint="http://127.0.0.1:9", bucket="files", credentials=s3_server.credentials)
    try:
        with pytest.raises(StorageUnavailable, match="cannot be reached"):
            await unreachable.exists(blob_key("lao_7654321", "ab" * 32))
    finally:
        await unreachable.aclose()


async def test_uploads_through_the_s3_store(engine: AsyncEngine, s3_server: S3Server) -> None:
    first, second = await make_tenant(engine), await make_tenant(engine)
    store = s3_server.store(prefix="localgov/")
    try:
        content = image_bytes("JPEG")
        stored = await upload(engine, first, store, content, filename="รูปถ่ายหน้าร้าน.jpg")
        again = await upload(engine, first, store, content, owner=OTHER_CASE)
        theirs = await upload(engine, second, store, content)
        assert stored.content_type == "image/jpeg"
        assert await read_back(engine, first, store, stored.id) == content
        assert await read_back(engine, second, store, theirs.id) == content
        assert await store.exists(blob_key(first.schema, stored.sha256))
        assert await store.exists(blob_key(second.schema, stored.sha256))
        assert again.sha256 == stored.sha256
        async with tenant_reader(engine, second) as conn:
            with pytest.raises(FileNotFound):
                await open_file(conn, store, stored.id, owner=CASE)
        await store.delete(blob_key(first.schema, stored.sha256))
        with pytest.raises(FileContentMissing):
            await read_back(engine, first, store, stored.id)
        assert await read_back(engine, second, store, theirs.id) == content
    finally:
        await store.aclose()
