"""The QR stamp of an issued document, as every service prints it."""

from __future__ import annotations

from localgov.kernel.documents.register import IssuedDocument, verification_code, verification_path
from localgov.kernel.documents.template import QrStamp
from localgov.kernel.tenancy import TenantInfo
from localgov.settings import Settings


def qr_stamp(settings: Settings, tenant: TenantInfo, document: IssuedDocument) -> QrStamp:
    """The stamp printed on ``document``: its code, and its verification page on the LAO's own host."""
    code = verification_code(settings.secret_key, tenant.id, document)
    return QrStamp(url=settings.public_url(verification_path(code), slug=tenant.slug), code=code)
