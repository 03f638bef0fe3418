"""What a file *is*, judged by its first bytes (magic numbers), never by its name or declared type.

A browser, a scanner app or an attacker chooses a file's name and its ``Content-Type``; only the
content says what the file is. Each known type has a signature checked at offset 0 (a PDF must
*start* with ``%PDF-``: readers that accept junk before it would also accept an HTML page with a
PDF tail). A stored file is later served with the type detected here, never with the one the
uploader declared, so a file that is not one of the allowed types cannot be stored at all, and
one that is stored cannot be served as something a browser would run.

Office documents (DOCX, XLSX) are ZIP containers that cannot be told from any other ZIP archive
by their first bytes; they are not among the known types.
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec


class FileType(msgspec.Struct, frozen=True, kw_only=True):
    """A kind of file the kernel can recognise by content."""

    code: str
    media_type: str
    #: Extensions a file of this type may carry (the first is the one added when a name has none).
    extensions: tuple[str, ...]
    title_th: str
    title_en: str


def _pdf(head: bytes) -> bool:
    return head.startswith(b"%PDF-")


def _png(head: bytes) -> bool:
    return head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR"


def _jpeg(head: bytes) -> bool:
    # Start of image, then a marker: APPn, DQT, SOFn, DHT or COM.
    return head[:3] == b"\xff\xd8\xff" and len(head) > 3 and (0xC0 <= head[3] <= 0xFE)


def _tiff(head: bytes) -> bool:
    return head[:4] in (b"II*\x00", b"MM\x00*")


def _webp(head: bytes) -> bool:
    return head[:4] == b"RIFF" and head[8:12] == b"WEBP"


_HEIC_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx")


def _heic(head: bytes) -> bool:
    """ISO-BMFF ``ftyp`` box with an HEIF/HEVC brand (major, or compatible after ``mif1``)."""
    if head[4:8] != b"ftyp":
        return False
    if head[8:12] in _HEIC_BRANDS:
        return True
    box = int.from_bytes(head[:4], "big")
    compatible = head[16 : min(box, len(head))]
    return head[8:12] in (b"mif1", b"msf1") and any(
        compatible[i : i + 4] in _HEIC_BRANDS for i in range(0, len(compatible) - 3, 4)
    )


PDF = FileType(code="pdf", media_type="application/pdf", extensions=("pdf",), title_th="PDF", title_en="PDF")
PNG = FileType(code="png", media_type="image/png", extensions=("png",), title_th="ภาพ PNG", title_en="PNG image")
JPEG = FileType(
    code="jpeg",
    media_type="image/jpeg",
    extensions=("jpg", "jpeg", "jpe", "jfif"),
    title_th="ภาพ JPEG",
    title_en="JPEG image",
)
TIFF = FileType(
    code="tiff", media_type="image/tiff", extensions=("tif", "tiff"), title_th="ภาพ TIFF", title_en="TIFF image"
)
WEBP = FileType(code="webp", media_type="image/webp", extensions=("webp",), title_th="ภาพ WebP", title_en="WebP image")
HEIC = FileType(
    code="heic", media_type="image/heic", extensions=("heic", "heif"), title_th="ภาพ HEIC", title_en="HEIC image"
)

_DETECTORS: tuple[tuple[FileType, Callable[[bytes], bool]], ...] = (
    (PDF, _pdf),
    (PNG, _png),
    (JPEG, _jpeg),
    (TIFF, _tiff),
    (WEBP, _webp),
    (HEIC, _heic),
)
#: Every type the kernel recognises, by code.
KNOWN_TYPES: dict[str, FileType] = {file_type.code: file_type for file_type, _ in _DETECTORS}
#: Documents for a permit or a request: scans and photos as most offices and phones make them.
DOCUMENT_TYPES: tuple[str, ...] = ("pdf", "png", "jpeg", "tiff", "webp")
#: The most bytes :func:`detect` looks at.
SNIFF_BYTES = 64


def detect(head: bytes) -> FileType | None:
    """The known type whose signature ``head`` (the first bytes of a file) carries, if any."""
    for file_type, matches in _DETECTORS:
        if matches(head[:SNIFF_BYTES]):
            return file_type
    return None
