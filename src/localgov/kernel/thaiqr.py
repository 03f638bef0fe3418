"""Thai QR Payment, bill-payment form (EMVCo merchant-presented QR, tag 30), pure functions.

Shared by the payments service (LAO bills) and the operator billing (DGA invoices); moved here
from services/payments/qr.py so the platform layer may use it (services/payments/qr.py re-exports it).

Each field is TLV: a 2-digit tag, a 2-digit decimal length, the value. The bill-payment
template (tag 30) carries the AID ``A000000677010112``, the biller ID (13-digit tax ID + 2-digit
suffix), Ref1 and optionally Ref2, so every payment names exactly one bill. The CRC (tag 63) is
CRC-16/CCITT-FALSE over the whole payload including the literal ``6304``.
"""

from __future__ import annotations

import functools
import re
from decimal import Decimal

import msgspec

from localgov.kernel.thai import to_arabic_digits
from localgov.kernel.validation import InvalidInput, thai_id_checksum_ok

BILL_PAYMENT_AID = "A000000677010112"
THB = "764"
_REF_RE = re.compile(r"^[A-Z0-9]{1,20}$")
_BILLER_RE = re.compile(r"^[0-9]{15}$")
_ASCII_NAME_RE = re.compile(r"^[\x20-\x7e]{1,25}$")


class QRError(ValueError):
    """A payload that cannot be built or is not a valid Thai QR."""


def normalise_biller_id(value: str) -> str:
    """A Thai QR biller ID: the LAO's 13-digit tax ID (checked) and a 2-digit suffix."""
    digits = re.sub(r"[\s\-]", "", to_arabic_digits(value))
    if len(digits) != 15 or not digits.isascii() or not digits.isdigit():
        raise InvalidInput("biller_id", "must be 15 digits: tax ID + 2-digit suffix", code="invalid_biller_id")
    if not thai_id_checksum_ok(digits[:13]):
        raise InvalidInput("biller_id", "the tax ID part has a wrong check digit", code="invalid_biller_id")
    return digits


def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
        table.append(crc & 0xFFFF)
    return tuple(table)


#: The CRC of every byte value, computed once: a payload's CRC is one look-up per byte (the
#: bit-by-bit loop cost ~0.1 ms per bill read, bench/README.md "Peers").
_CRC_TABLE = _crc_table()


def crc16_ccitt_false(data: bytes) -> int:
    """CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, no final XOR."""
    crc = 0xFFFF
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ _CRC_TABLE[(crc >> 8) ^ byte]
    return crc


def _tlv(tag: str, value: str) -> str:
    if len(value) > 99:
        raise QRError(f"tag {tag}: value longer than 99 characters")
    return f"{tag}{len(value):02d}{value}"


class BillPayment(msgspec.Struct, frozen=True, kw_only=True):
    """What a bill-payment QR says."""

    biller_id: str
    ref1: str
    ref2: str | None = None
    #: None for a static QR (the payer types the amount).
    amount: Decimal | None = None
    merchant_name: str | None = None
    merchant_city: str | None = None


@functools.lru_cache(maxsize=8192)
def build(payment: BillPayment) -> str:
    """The payload string of a bill-payment QR (dynamic when it has an amount).

    A pure function of a frozen struct, remembered for the most recent payments: getBill builds the
    same payload on every read of an open bill (about 6 % of its CPU, bench/README.md "Peers").
    """
    if not _BILLER_RE.fullmatch(payment.biller_id):
        raise QRError("biller ID must be 15 digits (13-digit tax ID + 2-digit suffix)")
    for name, ref in (("ref1", payment.ref1), ("ref2", payment.ref2)):
        if ref is not None and not _REF_RE.fullmatch(ref):
            raise QRError(f"{name} must be 1-20 characters of A-Z and 0-9")
    template = _tlv("00", BILL_PAYMENT_AID) + _tlv("01", payment.biller_id) + _tlv("02", payment.ref1)
    if payment.ref2:
        template += _tlv("03", payment.ref2)
    parts = [_tlv("00", "01"), _tlv("01", "11" if payment.amount is None else "12"), _tlv("30", template)]
    parts.append(_tlv("53", THB))
    if payment.amount is not None:
        amount = payment.amount
        if not amount.is_finite() or amount <= 0 or amount != amount.quantize(Decimal("0.01")):
            raise QRError("amount must be positive with at most two decimals")
        parts.append(_tlv("54", f"{amount:.2f}"))
    parts.append(_tlv("58", "TH"))
    for tag, text in (("59", payment.merchant_name), ("60", payment.merchant_city)):
        if text is not None:
            if not _ASCII_NAME_RE.fullmatch(text):
                raise QRError(f"tag {tag} must be 1-25 printable ASCII characters")
            parts.append(_tlv(tag, text))
    body = "".join(parts) + "6304"
    return body + f"{crc16_ccitt_false(body.encode('ascii')):04X}"


def parse_tlv(payload: str) -> list[tuple[str, str]]:
    """Split TLV fields in order; unknown tags are kept, malformed lengths raise."""
    out: list[tuple[str, str]] = []
    i = 0
    while i < len(payload):
        if i + 4 > len(payload) or not payload[i : i + 4].isdigit():
            raise QRError(f"malformed field at position {i}")
        tag, length = payload[i : i + 2], int(payload[i + 2 : i + 4])
        value = payload[i + 4 : i + 4 + length]
        if len(value) != length:
            raise QRError(f"tag {tag}: value shorter than its length")
        out.append((tag, value))
        i += 4 + length
    return out


def parse(payload: str) -> BillPayment:
    """Read a bill-payment QR, checking its CRC; other templates (banks add some) are ignored."""
    if not payload.isascii() or len(payload) < 8 or payload[-8:-4] != "6304":
        raise QRError("the payload does not end with a CRC field")
    expected = f"{crc16_ccitt_false(payload[:-4].encode('ascii')):04X}"
    if payload[-4:].upper() != expected:
        raise QRError("CRC mismatch")
    fields = dict(parse_tlv(payload))
    if fields.get("00") != "01":
        raise QRError("not an EMVCo payload (tag 00 must be 01)")
    if "30" not in fields:
        raise QRError("not a bill-payment QR (no tag 30)")
    template = dict(parse_tlv(fields["30"]))
    if template.get("00") != BILL_PAYMENT_AID:
        raise QRError("tag 30 is not the Thai bill-payment AID")
    if "01" not in template or "02" not in template:
        raise QRError("bill payment needs a biller ID and Ref1")
    if fields.get("53", THB) != THB:
        raise QRError("currency is not THB")
    amount = Decimal(fields["54"]) if "54" in fields else None
    return BillPayment(
        biller_id=template["01"],
        ref1=template["02"],
        ref2=template.get("03"),
        amount=amount,
        merchant_name=fields.get("59"),
        merchant_city=fields.get("60"),
    )
