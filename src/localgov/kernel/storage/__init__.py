"""Stored files for every service: uploads checked by content, bytes in a blob store, downloads
that check ownership, all of it in the tenant's export archive.

- :mod:`.files`: the ``stored_files`` table, :func:`store_upload`, :func:`open_file`,
  :func:`get_file`, :func:`list_files`, the limits and the errors;
- :mod:`.types`: file types recognised by their first bytes (PDF, PNG, JPEG, TIFF, WebP, HEIC);
- :mod:`.blobs`: the :class:`BlobStore` protocol, keys ``<schema>/<ab>/<cd>/<sha-256>``;
- :mod:`.filesystem`: the default store, a folder (``LOCALGOV_STORAGE_DIR``);
- :mod:`.s3`, :mod:`.sigv4`: an S3-compatible store (``LOCALGOV_STORAGE_BACKEND=s3``);
- :mod:`.web`: a multipart ``UploadFile`` read in bounded chunks, a streamed download response.

A service's upload and download, in its views::

    LIMITS = storage.UploadLimits(max_bytes=20 * 1024 * 1024)

    @post("/{case_id:uuid}/files", request_max_body_size=LIMITS.request_body_limit(), **guarded(...))
    async def upload(self, data: Annotated[UploadFile, Body(media_type=RequestEncodingType.MULTI_PART)],
                     db_session: NamedDependency[AsyncSession], blob_store: NamedDependency[BlobStore], ...):
        case = await cases.get_case_for(db_session, case_id, actor)          # the service's access check
        return await storage.store_upload_file(db_session, blob_store, data,
                                               owner=FileOwner("oss.case", str(case.id)),
                                               uploaded_by=actor, limits=LIMITS)

    @get("/{case_id:uuid}/files/{file_id:uuid}", **guarded(...))
    async def download(self, ..., db_read: NamedDependency[ReadConnection], blob_store: ...) -> Stream:
        await cases.check_can_see(db_read, case_id, actor)                    # again, on every download
        opened = await storage.open_file(db_read, blob_store, file_id, owner=FileOwner("oss.case", str(case_id)))
        return storage.download_response(opened)
"""

from __future__ import annotations

from localgov.kernel.storage.blobs import (
    BlobMissing,
    BlobStore,
    BlobStream,
    StagedBlob,
    StorageUnavailable,
    blob_key,
    key_schema,
    validate_key,
)
from localgov.kernel.storage.files import (
    FILE_COLUMNS,
    FileContentMissing,
    FileCopy,
    FileEmpty,
    FileNotFound,
    FileOwner,
    FileTooLarge,
    FileTypeNotAllowed,
    OpenedFile,
    StoredFile,
    StoredFileRead,
    UploadLimits,
    allowed_media_types,
    clean_filename,
    copies_of,
    get_file,
    list_files,
    open_file,
    stage_upload,
    store_copy,
    store_upload,
)
from localgov.kernel.storage.filesystem import FilesystemBlobStore
from localgov.kernel.storage.s3 import S3BlobStore
from localgov.kernel.storage.sigv4 import Credentials
from localgov.kernel.storage.types import DOCUMENT_TYPES, KNOWN_TYPES, FileType, detect
from localgov.kernel.storage.web import (
    content_disposition,
    download_headers,
    download_response,
    store_upload_file,
    upload_chunks,
)
from localgov.settings import Settings


def blob_store(settings: Settings) -> BlobStore:
    """The store the settings name: a folder (default) or an S3-compatible bucket. The caller
    closes it (``await store.aclose()``) when done; the app keeps one for its lifetime."""
    if settings.storage_backend == "s3":
        return S3BlobStore(
            endpoint=settings.storage_s3_endpoint,
            bucket=settings.storage_s3_bucket,
            credentials=Credentials(
                access_key_id=settings.storage_s3_access_key_id,
                secret_access_key=settings.storage_s3_secret_access_key,
                region=settings.storage_s3_region,
            ),
            prefix=settings.storage_s3_prefix,
            timeout_s=settings.storage_s3_timeout_s,
        )
    return FilesystemBlobStore(settings.storage_path)


__all__ = [
    "DOCUMENT_TYPES",
    "FILE_COLUMNS",
    "KNOWN_TYPES",
    "BlobMissing",
    "BlobStore",
    "BlobStream",
    "Credentials",
    "FileContentMissing",
    "FileCopy",
    "FileEmpty",
    "FileNotFound",
    "FileOwner",
    "FileTooLarge",
    "FileType",
    "FileTypeNotAllowed",
    "FilesystemBlobStore",
    "OpenedFile",
    "S3BlobStore",
    "StagedBlob",
    "StorageUnavailable",
    "StoredFile",
    "StoredFileRead",
    "UploadLimits",
    "allowed_media_types",
    "blob_key",
    "blob_store",
    "clean_filename",
    "content_disposition",
    "copies_of",
    "detect",
    "download_headers",
    "download_response",
    "get_file",
    "key_schema",
    "list_files",
    "open_file",
    "stage_upload",
    "store_copy",
    "store_upload",
    "store_upload_file",
    "upload_chunks",
    "validate_key",
]
