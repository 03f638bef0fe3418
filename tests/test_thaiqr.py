"""Thai QR bill payment: the standard check value, round trips, an independent CRC."""

from __future__ import annotations

from decimal import Decimal

import pytest
from crccheck.crc import Crc16CcittFalse
from hypothesis import given
from hypothesis import strategies as st

from localgov.services.payments.qr import BillPayment, QRError, build, crc16_ccitt_false, parse, parse_tlv


def test_crc_check_value() -> None:
    assert f"{crc16_ccitt_false(b'123456789'):04X}" == "29B1"


@given(st.binary(max_size=300))
def test_crc_matches_an_independent_implementation(data: bytes) -> None:
    assert crc16_ccitt_false(data) == Crc16CcittFalse.calc(data)


refs = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=1, max_size=15)
amounts = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("9999999.99"), places=2)


@given(
    biller=st.from_regex(r"\A[0-9]{15}\Z"),
    ref1=refs,
    ref2=st.none() | refs,
    amount=st.none() | amounts,
)
def test_build_parse_round_trip(biller: str, ref1: str, ref2: str | None, amount: Decimal | None) -> None:
    payment = BillPayment(biller_id=biller, ref1=ref1, ref2=ref2, amount=amount)
    payload = build(payment)
    assert parse(payload) == payment
    assert payload[-8:-4] == "6304"
    assert ("010212" in payload) == (amount is not None)


def test_known_layout() -> None:
    payload = build(BillPayment(biller_id="099400016550100", ref1="BILL0001", ref2="X7K2", amount=Decimal("120.50")))
    assert payload.startswith("000201010212")
    fields = dict(parse_tlv(payload))
    assert fields["30"] == "0016A000000677010112" + "0115099400016550100" + "0208BILL0001" + "0304X7K2"
    assert fields["53"] == "764"
    assert fields["54"] == "120.50"
    assert fields["58"] == "TH"
    assert len(fields["63"]) == 4


def test_parser_tolerates_unknown_tags_and_rejects_a_bad_crc() -> None:
    base = build(BillPayment(biller_id="099400016550100", ref1="ABC", amount=Decimal("80")))
    body = base[:-8]
    extra = body + "62070703A01" + "6304"  # an additional-data template a bank might add
    with_extra = extra + f"{crc16_ccitt_false(extra.encode()):04X}"
    assert parse(with_extra).ref1 == "ABC"
    tampered = base[:-1] + ("0" if base[-1] != "0" else "1")
    with pytest.raises(QRError, match="CRC"):
        parse(tampered)


@pytest.mark.parametrize(
    ("payment", "message"),
    [
        (BillPayment(biller_id="123", ref1="A"), "biller ID"),
        (BillPayment(biller_id="099400016550100", ref1="lower"), "ref1"),
        (BillPayment(biller_id="099400016550100", ref1="A", amount=Decimal("-1")), "amount"),
        (BillPayment(biller_id="099400016550100", ref1="A", amount=Decimal("1.005")), "amount"),
        (BillPayment(biller_id="099400016550100", ref1="A", merchant_name="เทศบาล"), "ASCII"),
    ],
)
def test_invalid_payments_are_refused(payment: BillPayment, message: str) -> None:
    with pytest.raises(QRError, match=message):
        build(payment)


def test_promptpay_transfer_is_not_a_bill() -> None:
    body = "000201010211" + "29370016A000000677010111011300669999999995802TH5303764" + "6304"
    with pytest.raises(QRError, match="tag 30"):
        parse(body + f"{crc16_ccitt_false(body.encode()):04X}")
