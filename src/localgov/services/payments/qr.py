"""Thai QR Payment for payments: the machinery lives in ``localgov.kernel.thaiqr`` (shared with the
operator billing); this module keeps the payments service's public names."""

from __future__ import annotations

from localgov.kernel.thaiqr import (
    BILL_PAYMENT_AID,
    THB,
    BillPayment,
    QRError,
    build,
    crc16_ccitt_false,
    normalise_biller_id,
    parse,
    parse_tlv,
)

__all__ = [
    "BILL_PAYMENT_AID",
    "THB",
    "BillPayment",
    "QRError",
    "build",
    "crc16_ccitt_false",
    "normalise_biller_id",
    "parse",
    "parse_tlv",
]
