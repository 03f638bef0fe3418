"""The citizens' pay page over HTTP: the form, the bill by reference and code (typed or from the
printed link), the same answer for a wrong code and an unknown reference, the rate limit, the
receipt PDF once paid, and another LAO's bill not found."""

from __future__ import annotations

import html
import io
import re
from decimal import Decimal

import zxingcpp
from PIL import Image
from pypdf import PdfReader
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.kernel.pages import CONTENT_SECURITY_POLICY
from localgov.plugins import REGISTRY
from localgov.services.payments import qr
from localgov.services.payments.api import BillLine
from localgov.services.payments.pay_pages import PAY_PATH, pay_link
from tests.conftest import ClientFactory, host, make_settings
from tests.test_payments_bank import deliver, notice, open_bills, setup_lao

LINES = [
    BillLine(fee_code="garbage.collection", description_th="ค่าเก็บขยะมูลฝอย", amount=Decimal("40.00")),
    BillLine(fee_code="wastewater", description_th="ค่าบำบัดน้ำเสีย", amount=Decimal("1250.50"), period="2026-11"),
]
PAYER = "นางสาวน้ำฝน ใจดีมาก"


def svg_payload(page: str) -> str:
    """The Thai QR payload read back from the page's inline SVG: its path (segno's runs of dark
    modules, ``M``/``m`` moves and ``h`` runs) drawn with PIL, then read by zxing-cpp."""
    match = re.search(r'<svg[^>]*width="(\d+)" height="(\d+)"><path transform="scale\((\d+)\)"[^>]* d="([^"]+)"', page)
    assert match, "no inline QR SVG"
    width, scale, path = int(match[1]), int(match[3]), match[4]
    image = Image.new("L", (width, width), 255)
    pixels = image.load()
    assert pixels is not None
    x = y = 0.0
    for op, a, b in re.findall(r"([Mmhv])(-?[\d.]+)(?:\s+(-?[\d.]+))?", path):
        if op == "M":
            x, y = float(a), float(b)
        elif op == "m":
            x, y = x + float(a), y + float(b)
        elif op == "h":
            row = int(y - 0.5)
            for col in range(int(x), int(x + float(a))):
                for dx in range(scale):
                    for dy in range(scale):
                        pixels[col * scale + dx, row * scale + dy] = 0
            x += float(a)
    found = zxingcpp.read_barcodes(image)
    assert len(found) == 1
    return str(found[0].text)


async def test_the_pay_page_shows_the_bill_its_qr_and_once_paid_the_receipt(
    engine: AsyncEngine, client_for: ClientFactory
) -> None:
    lao = await setup_lao(engine)
    other_lao = await setup_lao(engine)
    (bill,) = await open_bills(engine, lao.tenant, lines=LINES, payer_name=PAYER)
    (foreign,) = await open_bills(engine, other_lao.tenant)
    headers = host(lao.tenant.slug)
    async with client_for(plugins=REGISTRY) as client:
        form = await client.get(f"{PAY_PATH}/", headers=headers)
        assert form.status_code == 200
        assert form.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert '<html lang="th">' in form.text
        assert 'name="viewport"' in form.text
        assert "<script" not in form.text
        assert 'name="verification_code"' in form.text

        found = await client.post(
            f"{PAY_PATH}/",
            data={"reference": bill.reference.lower(), "verification_code": bill.verification_code},
            headers=headers,
        )
        assert found.status_code == 200, found.text
        page = found.text
        assert re.search(r'id="amount-due">1,290.50<', page)
        assert "ค่าเก็บขยะมูลฝอย" in page
        assert "ค่าบำบัดน้ำเสีย (2026-11)" in page
        # Nothing about the payer but the masked name.
        assert re.search(r'id="payer">นางสาวน้ำฝน ใจ\*\*\*<', page)
        assert "ใจดีมาก" not in page
        assert "99/1" not in page
        parsed = qr.parse(svg_payload(page))
        assert (parsed.ref1, parsed.amount) == (bill.reference, Decimal("1290.50"))
        assert parsed.biller_id == lao.biller_id
        assert 'id="receipts"' not in page

        # The link printed as a QR on the bill opens the same page.
        link = pay_link(make_settings("postgresql://x/y"), lao.tenant, bill.reference, bill.verification_code)
        assert link.endswith(f"{PAY_PATH}?ref={bill.reference}&code={bill.verification_code}")
        opened = await client.get(
            PAY_PATH, params={"ref": bill.reference, "code": bill.verification_code}, headers=headers
        )
        assert opened.status_code == 200
        assert 'id="amount-due">1,290.50<' in opened.text

        # A wrong code answers exactly as an unknown reference; another LAO's bill is not found.
        wrong_code = "000000" if bill.verification_code != "000000" else "111111"
        wrong = await client.post(
            f"{PAY_PATH}/", data={"reference": bill.reference, "verification_code": wrong_code}, headers=headers
        )
        unknown = await client.post(
            f"{PAY_PATH}/", data={"reference": "BZZZZZZZZZ", "verification_code": "123456"}, headers=headers
        )
        elsewhere = await client.post(
            f"{PAY_PATH}/",
            data={"reference": foreign.reference, "verification_code": foreign.verification_code},
            headers=headers,
        )
        assert wrong.status_code == unknown.status_code == elsewhere.status_code == 404
        error = re.compile(r'<p id="error">(.*?)</p>', re.S)
        assert error.findall(wrong.text) == error.findall(unknown.text) == error.findall(elsewhere.text)
        assert "ไม่พบใบแจ้งหนี้" in wrong.text
        empty = await client.post(f"{PAY_PATH}/", data={"reference": bill.reference}, headers=headers)
        assert empty.status_code == 400

        # Paid by the bank: the page says so and links the receipt's PDF; no QR any more.
        paid = await deliver(client, lao.tenant, lao.secret, notice(lao, bill.reference, "1290.50"))
        assert paid.status_code == 200, paid.text
        receipt_id = paid.json()["receipt"]["id"]
        after = await client.post(
            f"{PAY_PATH}/",
            data={"reference": bill.reference, "verification_code": bill.verification_code},
            headers=headers,
        )
        assert after.status_code == 200
        assert 'id="status" class="status-line">ชำระแล้ว' in after.text
        assert 'id="qr"' not in after.text
        hrefs = re.findall(r'<a href="([^"]+)">ใบเสร็จเลขที่', after.text)
        assert len(hrefs) == 1
        href = html.unescape(hrefs[0])
        assert href.startswith(f"{PAY_PATH}/receipts/{receipt_id}?")
        pdf = await client.get(href, headers=headers)
        assert pdf.status_code == 200
        assert pdf.headers["content-type"] == "application/pdf"
        text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
        assert bill.reference in text
        # The receipt's link with a wrong code, or from another LAO's host, is not found.
        forged = await client.get(href.replace(bill.verification_code, wrong_code), headers=headers)
        assert forged.status_code == 404
        assert "application/pdf" not in forged.headers["content-type"]
        cross = await client.get(href, headers=host(other_lao.tenant.slug))
        assert cross.status_code == 404


async def test_the_pay_page_is_rate_limited_per_reference(engine: AsyncEngine, client_for: ClientFactory) -> None:
    lao = await setup_lao(engine)
    (bill,) = await open_bills(engine, lao.tenant)
    headers = host(lao.tenant.slug)
    async with client_for(plugins=REGISTRY) as client:
        statuses = [
            (
                await client.post(
                    f"{PAY_PATH}/", data={"reference": bill.reference, "verification_code": "999999"}, headers=headers
                )
            ).status_code
            for _ in range(11)
        ]
        assert statuses == [404] * 10 + [429]
        # Past the budget even the right code waits: guessing gains nothing.
        right = await client.post(
            f"{PAY_PATH}/",
            data={"reference": bill.reference, "verification_code": bill.verification_code},
            headers=headers,
        )
        assert right.status_code == 429
        assert int(right.headers["retry-after"]) > 0
        assert "มีการตรวจสอบจากเครื่องนี้มากเกินไป" in right.text
