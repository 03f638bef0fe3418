"""Blobs: the bytes of stored files, kept by a :class:`BlobStore` under keys the kernel makes.

A key is ``<tenant schema>/<sha[0:2]>/<sha[2:4]>/<sha-256 hex>``: derived from the tenant's
validated schema name and the content's SHA-256, never from anything a user sent (a file name
such as ``../../etc/passwd`` never reaches a path or an object key). One tenant's identical
uploads share one blob; two tenants never share one (the schema is part of the key), so deleting
or exporting one tenant's files never touches another's.

Uploads are *staged* first (:class:`StagedBlob`: up to 1 MiB in memory, the rest in an unnamed
temporary file) while they are counted, hashed and their type is checked; only an accepted
upload reaches the store, under its final key.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import IO, Protocol, runtime_checkable

from localgov.kernel.db import validate_schema_name
from localgov.kernel.errors import DomainError

#: An upload up to this size stays in memory while it is checked; beyond it, a temporary file.
SPOOL_BYTES = 1 << 20
#: Size of the pieces blobs are read and streamed in.
CHUNK_BYTES = 256 * 1024
_KEY_RE = re.compile(r"^(lao_[0-9]{7})/([0-9a-f]{2})/([0-9a-f]{2})/([0-9a-f]{64})$")
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")


class StorageUnavailable(DomainError):
    """The store did not answer as it should (network, permissions, a full disk): try again later."""

    code = "storage_unavailable"
    status = 503
    title = "ที่เก็บไฟล์ไม่พร้อมให้บริการ / The file store is unavailable"


class BlobMissing(Exception):
    """The store has no blob under this key."""

    def __init__(self, key: str) -> None:
        super().__init__(f"no blob under {key}")
        self.key = key


def blob_key(schema: str, sha256: str) -> str:
    """The key of a tenant's content: ``lao_1234567/ab/cd/abcd…`` (schema validated, hash checked)."""
    if not _SHA_RE.fullmatch(sha256):
        raise ValueError("a blob key needs a lower-case hex SHA-256")
    return f"{validate_schema_name(schema)}/{sha256[:2]}/{sha256[2:4]}/{sha256}"


def validate_key(key: str) -> str:
    """``key`` if it is one :func:`blob_key` makes (a store refuses any other)."""
    match = _KEY_RE.fullmatch(key)
    if match is None or match.group(4)[:2] != match.group(2) or match.group(4)[2:4] != match.group(3):
        raise ValueError(f"not a blob key: {key!r}")
    return key


def key_schema(key: str) -> str:
    """The tenant schema a key belongs to."""
    return validate_key(key).split("/", 1)[0]


class StagedBlob:
    """An upload held while it is checked: counted, hashed, its first bytes kept for sniffing.

    The first :data:`SPOOL_BYTES` stay in memory; past that the bytes go to an unnamed temporary
    file (written in batches, off the event loop). :meth:`close` releases it.
    """

    #: Bytes kept for type detection.
    HEAD_BYTES = 64

    def __init__(self, *, spool_bytes: int = SPOOL_BYTES) -> None:
        self._spool_bytes = spool_bytes
        self._memory = bytearray()
        self._file: IO[bytes] | None = None
        self._digest = hashlib.sha256()
        self.size = 0
        self.head = b""

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()

    async def write(self, chunk: bytes) -> None:
        if not chunk:
            return
        self._digest.update(chunk)
        self.size += len(chunk)
        if len(self.head) < self.HEAD_BYTES:
            self.head += chunk[: self.HEAD_BYTES - len(self.head)]
        self._memory += chunk
        if len(self._memory) > self._spool_bytes:
            await self._spill()

    async def _spill(self) -> None:
        if self._file is None:
            self._file = await asyncio.to_thread(tempfile.TemporaryFile)
        data = bytes(self._memory)
        self._memory.clear()
        await asyncio.to_thread(self._file.write, data)

    async def finish(self) -> None:
        """Everything received is readable (call once the upload has ended)."""
        if self._file is not None and self._memory:
            await self._spill()

    def copy_to(self, target: IO[bytes]) -> None:
        """Write the whole content into ``target`` (blocking: call it in a thread)."""
        if self._file is None:
            target.write(self._memory)
            return
        self._file.seek(0)
        shutil.copyfileobj(self._file, target, CHUNK_BYTES)

    async def chunks(self, size: int = CHUNK_BYTES) -> AsyncIterator[bytes]:
        """The content from the start, in pieces of ``size`` bytes."""
        if self._file is None:
            view = bytes(self._memory)
            for start in range(0, len(view), size):
                yield view[start : start + size]
            return
        file = self._file
        await asyncio.to_thread(file.seek, 0)
        while block := await asyncio.to_thread(file.read, size):
            yield block

    def close(self) -> None:
        self._memory.clear()
        if self._file is not None:
            self._file.close()
            self._file = None


class BlobStream:
    """The bytes of one blob as they are read. Iterate it to the end, or :meth:`aclose` it.

    ``size`` is what the store reported, when it did.
    """

    def __init__(
        self, chunks: AsyncIterator[bytes], close: Callable[[], Awaitable[None]], *, size: int | None = None
    ) -> None:
        self._chunks = chunks
        self._close = close
        self._closed = False
        self.size = size

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._chunks:
                yield chunk
        finally:
            await self.aclose()

    async def read_all(self) -> bytes:
        """The whole blob in memory (small blobs, tests)."""
        return b"".join([chunk async for chunk in self])

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            await self._close()


@runtime_checkable
class BlobStore(Protocol):
    """Where the bytes of stored files live. Keys come from :func:`blob_key` only.

    Runtime-checkable: a handler declares ``blob_store: NamedDependency[BlobStore]`` and Litestar
    checks the injected value against the type (an ``isinstance`` a plain protocol refuses).

    Blobs are immutable: a key names one content (its SHA-256), so writing a key again writes the
    same bytes, and a reader never sees half a blob.
    """

    #: ``filesystem`` or ``s3`` (logs, the export manifest).
    kind: str

    async def exists(self, key: str) -> bool:
        """Whether a blob is stored under ``key``."""
        ...

    async def put(self, key: str, blob: StagedBlob, *, content_type: str) -> None:
        """Store ``blob`` under ``key``, atomically (all of it or nothing under that key)."""
        ...

    async def open(self, key: str) -> BlobStream:
        """The blob's bytes; raises :class:`BlobMissing` (before any byte) when there is none."""
        ...

    async def delete(self, key: str) -> None:
        """Remove the blob (nothing happens when there is none)."""
        ...

    async def delete_tenant(self, schema: str) -> int:
        """Remove every blob of a tenant whose schema was dropped (orphans of rolled-back uploads
        too); returns how many. Only the platform's purge calls this."""
        ...

    async def aclose(self) -> None:
        """Release connections (the end of the process or of a worker's job)."""
        ...
