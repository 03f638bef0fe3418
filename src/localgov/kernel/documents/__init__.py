"""Documents for every service: Thai PDF, official layouts, and a register anyone can verify.

- :mod:`.pdf`: :class:`ThaiPDF`, A4 in Sarabun with HarfBuzz shaping and an exact Thai text layer;
- :mod:`.template`: :class:`OfficialDocument`, a layout as data (emblem, title, fields, table,
  signature, footer, watermark, QR stamp) and :func:`render`;
- :mod:`.register`: the ``issued_documents`` register (:func:`issue`, :func:`revoke`,
  :func:`void`) and the verification codes the QR stamp carries;
- :mod:`.views`: the public verification endpoint and page on each tenant's host.

A service issues a document in its own transaction and prints the stamp::

    doc = await documents.issue(session, kind="permits.building", source_key=str(permit.id),
                                number="12/2569", title_th="ใบอนุญาตก่อสร้างอาคาร", holder_name=name)
    pdf = documents.render(OfficialDocument(..., stamp=documents.qr_stamp(settings, tenant, doc)))
"""

from __future__ import annotations

from localgov.kernel.documents.pdf import FONT, ThaiPDF
from localgov.kernel.documents.register import (
    DocumentNotFound,
    DocumentNotValid,
    IssuedDocument,
    PublicStatus,
    find_by_code,
    get_by_source,
    issue,
    mask_name,
    public_status,
    revoke,
    verification_code,
    verification_path,
    void,
)
from localgov.kernel.documents.stamp import qr_stamp
from localgov.kernel.documents.template import (
    Block,
    Column,
    Field,
    Fields,
    Image,
    Notice,
    OfficialDocument,
    Pairs,
    Paragraph,
    QrStamp,
    Signature,
    Space,
    Table,
    Watermark,
    render,
)

__all__ = [
    "FONT",
    "Block",
    "Column",
    "DocumentNotFound",
    "DocumentNotValid",
    "Field",
    "Fields",
    "Image",
    "IssuedDocument",
    "Notice",
    "OfficialDocument",
    "Pairs",
    "Paragraph",
    "PublicStatus",
    "QrStamp",
    "Signature",
    "Space",
    "Table",
    "ThaiPDF",
    "Watermark",
    "find_by_code",
    "get_by_source",
    "issue",
    "mask_name",
    "public_status",
    "qr_stamp",
    "render",
    "revoke",
    "verification_code",
    "verification_path",
    "void",
]
