"""An S3-compatible blob store (AWS S3, MinIO, Ceph RGW, Garage …) over httpx, AWS Signature V4.

Objects are addressed path-style (``<endpoint>/<bucket>/<prefix><key>``), which every compatible
server supports and which needs no wildcard DNS. Four operations: ``PUT`` (with the payload's
SHA-256 in ``x-amz-content-sha256``, so the server refuses a body that arrived altered),
``GET`` (streamed), ``HEAD`` and ``DELETE``. Network errors and unexpected answers become
:class:`StorageUnavailable` (503) with the server's error code logged; a missing object is
:class:`BlobMissing`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator, Callable
from typing import Any
from xml.etree import ElementTree

import httpx2
import structlog

from localgov.kernel.db import validate_schema_name
from localgov.kernel.storage.blobs import (
    CHUNK_BYTES,
    BlobMissing,
    BlobStream,
    StagedBlob,
    StorageUnavailable,
    validate_key,
)
from localgov.kernel.storage.sigv4 import EMPTY_SHA256, Credentials, sign, uri_encode

log = structlog.get_logger("localgov.storage")

_ERROR_CODE = re.compile(rb"<Code>([A-Za-z0-9.]{1,80})</Code>")


def _local(tag: str) -> str:
    """An XML tag without its namespace (``{http://s3.amazonaws.com/doc/2006-03-01/}Key`` → ``Key``)."""
    return tag.rsplit("}", 1)[-1]


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class S3BlobStore:
    """Blobs as objects of one bucket of an S3-compatible server."""

    kind = "s3"

    def __init__(
        self,
        *,
        endpoint: str,
        bucket: str,
        credentials: Credentials,
        prefix: str = "",
        timeout_s: float = 30.0,
        transport: httpx2.AsyncBaseTransport | None = None,
        list_page_size: int = 1000,
        clock: Callable[[], dt.datetime] = _utcnow,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.bucket = bucket
        self.prefix = prefix
        self._credentials = credentials
        self._timeout_s = timeout_s
        self._transport = transport
        self._clock = clock
        self._list_page_size = list_page_size
        self._client: httpx2.AsyncClient | None = None

    def url_of(self, key: str) -> str:
        """The object's URL (path-style), its path URI-encoded once as S3 expects."""
        return self._url(f"{self.prefix}{validate_key(key)}")

    def _url(self, object_name: str | None, query: dict[str, str] | None = None) -> str:
        url = f"{self.endpoint}/{uri_encode(self.bucket, keep_slash=False)}"
        if object_name is not None:
            url += "/" + uri_encode(object_name, keep_slash=True)
        if query:
            url += "?" + "&".join(
                f"{uri_encode(k, keep_slash=False)}={uri_encode(v, keep_slash=False)}" for k, v in sorted(query.items())
            )
        return url

    def _http(self) -> httpx2.AsyncClient:
        if self._client is None:
            self._client = httpx2.AsyncClient(
                timeout=self._timeout_s, follow_redirects=False, transport=self._transport
            )
        return self._client

    async def _send(
        self,
        method: str,
        key: str,
        *,
        headers: dict[str, str] | None = None,
        content: AsyncIterator[bytes] | None = None,
        payload_sha256: str = EMPTY_SHA256,
        stream: bool = False,
        url: str | None = None,
    ) -> httpx2.Response:
        url = url or self.url_of(key)
        signed = sign(
            method,
            url,
            {**(headers or {}), "accept-encoding": "identity"},
            payload_sha256=payload_sha256,
            credentials=self._credentials,
            now=self._clock(),
        )
        client = self._http()
        try:
            request = client.build_request(method, url, headers=signed, content=content)
            return await client.send(request, stream=stream)
        except httpx2.HTTPError as exc:
            log.warning("storage_request_failed", method=method, key=key, error=type(exc).__name__)
            raise self._unavailable(method, key, None, error=type(exc).__name__) from None

    def _unavailable(self, method: str, key: str, status: int | None, **data: Any) -> StorageUnavailable:
        return StorageUnavailable(
            f"The file store answered {method} with {status}." if status else "The file store cannot be reached.",
            data={"store": self.kind, **({"status": status} if status else {}), **data},
        )

    async def _refusal(self, response: httpx2.Response, method: str, key: str) -> StorageUnavailable:
        body = await response.aread()
        match = _ERROR_CODE.search(body[:4096])
        code = match.group(1).decode() if match else None
        log.error("storage_refused", method=method, key=key, status=response.status_code, s3_code=code)
        return self._unavailable(method, key, response.status_code, s3_code=code)

    async def exists(self, key: str) -> bool:
        response = await self._send("HEAD", key)
        if response.status_code == 200:
            return True
        if response.status_code == 404:
            return False
        raise await self._refusal(response, "HEAD", key)

    async def put(self, key: str, blob: StagedBlob, *, content_type: str) -> None:
        response = await self._send(
            "PUT",
            key,
            headers={"content-type": content_type, "content-length": str(blob.size)},
            content=blob.chunks(),
            payload_sha256=blob.sha256,
        )
        if response.status_code != 200:
            raise await self._refusal(response, "PUT", key)

    async def open(self, key: str) -> BlobStream:
        response = await self._send("GET", key, stream=True)
        if response.status_code == 404:
            await response.aclose()
            raise BlobMissing(key)
        if response.status_code != 200:
            try:
                raise await self._refusal(response, "GET", key)
            finally:
                await response.aclose()
        length = response.headers.get("content-length")

        async def chunks() -> AsyncIterator[bytes]:
            try:
                async for chunk in response.aiter_raw(CHUNK_BYTES):
                    yield chunk
            except httpx2.HTTPError as exc:
                log.error("storage_read_failed", key=key, error=type(exc).__name__)
                raise self._unavailable("GET", key, None, error=type(exc).__name__) from None

        return BlobStream(chunks(), response.aclose, size=int(length) if length and length.isdigit() else None)

    async def delete(self, key: str) -> None:
        response = await self._send("DELETE", key)
        if response.status_code not in (200, 204, 404):
            raise await self._refusal(response, "DELETE", key)

    async def delete_tenant(self, schema: str) -> int:
        """Delete every object under ``<prefix><schema>/`` (listed with ListObjectsV2, page by page)."""
        prefix = f"{self.prefix}{validate_schema_name(schema)}/"
        deleted = 0
        token: str | None = None
        while True:
            query = {"list-type": "2", "prefix": prefix, "max-keys": str(self._list_page_size)}
            if token:
                query["continuation-token"] = token
            response = await self._send("GET", prefix, url=self._url(None, query))
            if response.status_code != 200:
                raise await self._refusal(response, "GET", prefix)
            # The answer of the operator's own store (configured, not user input).
            listing = ElementTree.fromstring(response.content)  # noqa: S314
            names = [el.text or "" for el in listing.iter() if _local(el.tag) == "Key"]
            for name in names:
                if not name.startswith(prefix):
                    continue
                gone = await self._send("DELETE", name, url=self._url(name))
                if gone.status_code not in (200, 204, 404):
                    raise await self._refusal(gone, "DELETE", name)
                deleted += 1
            truncated = next((el.text for el in listing.iter() if _local(el.tag) == "IsTruncated"), "false")
            token = next((el.text for el in listing.iter() if _local(el.tag) == "NextContinuationToken"), None)
            if truncated != "true" or not token:
                return deleted

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
