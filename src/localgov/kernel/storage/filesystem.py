"""The default blob store: a folder (``LOCALGOV_STORAGE_DIR``, by default ``<data dir>/files``).

Layout: ``<root>/<tenant schema>/<ab>/<cd>/<sha-256>``, the path built from a validated key only.
A blob is written to a temporary file beside its final place (``.<sha>.<random>.tmp``, created
exclusively, mode 0600), flushed to disk, then renamed over its final name and the folder synced:
a reader or a crash never sees half a file under a blob's name. Blocking file work runs in a
thread (``asyncio.to_thread``), never on the event loop.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from localgov.kernel.db import validate_schema_name
from localgov.kernel.storage.blobs import CHUNK_BYTES, BlobMissing, BlobStream, StagedBlob, validate_key


class FilesystemBlobStore:
    """Blobs as files under ``root`` (created on first write, folders 0700, files 0600)."""

    kind = "filesystem"

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_of(self, key: str) -> Path:
        """The file of ``key`` (a key :func:`~localgov.kernel.storage.blobs.blob_key` makes, else ValueError)."""
        return self.root.joinpath(*validate_key(key).split("/"))

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self.path_of(key).is_file)

    async def put(self, key: str, blob: StagedBlob, *, content_type: str) -> None:
        await asyncio.to_thread(self._write, self.path_of(key), blob)

    def _write(self, path: Path, blob: StagedBlob) -> None:
        folder = path.parent
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        temporary = folder / f".{path.name}.{uuid.uuid4().hex}.tmp"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                blob.copy_to(fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(temporary, path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        directory = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    async def open(self, key: str) -> BlobStream:
        path = self.path_of(key)
        try:
            fh = await asyncio.to_thread(path.open, "rb")
        except FileNotFoundError:
            raise BlobMissing(key) from None
        size = os.fstat(fh.fileno()).st_size

        async def chunks() -> AsyncIterator[bytes]:
            while block := await asyncio.to_thread(fh.read, CHUNK_BYTES):
                yield block

        async def close() -> None:
            fh.close()

        return BlobStream(chunks(), close, size=size)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self.path_of(key).unlink, missing_ok=True)

    async def delete_tenant(self, schema: str) -> int:
        return await asyncio.to_thread(self._delete_tree, self.root / validate_schema_name(schema))

    @staticmethod
    def _delete_tree(folder: Path) -> int:
        if not folder.is_dir():
            return 0
        count = sum(1 for path in folder.rglob("*") if path.is_file())
        shutil.rmtree(folder)
        return count

    async def aclose(self) -> None:
        return None
