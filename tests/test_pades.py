"""PAdES signatures with the LAO's certificate: a CA made here issues the certificate; the signed
PDF verifies against it, an altered byte or another root breaks it; uploads are checked and the
private key is encrypted at rest; the admin endpoints are guarded and per tenant."""

from __future__ import annotations

import base64
import datetime as dt
import uuid

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from localgov.kernel.documents import OfficialDocument, Paragraph, pades, render
from localgov.plugins import REGISTRY
from tests.conftest import ClientFactory, host
from tests.support.ca import CertAuthority, issue_signing_cert, make_ca
from tests.support.factories import make_tenant
from tests.support.tokens import TEST_SECRET, bearer


@pytest.fixture(scope="module")
def ca() -> CertAuthority:
    return make_ca()


def _pdf() -> bytes:
    return render(
        OfficialDocument(
            issuer_th="องค์การบริหารส่วนตำบลทดสอบ",
            title_th="หนังสือทดสอบการลงนาม",
            body=[Paragraph(text="ขอเชิญประชุมคณะกรรมการพัฒนาท้องถิ่น ณ ห้องประชุมองค์การ")],
        )
    )


@pytest.mark.parametrize("visible", [True, False])
async def test_the_signed_pdf_verifies_and_an_altered_byte_breaks_it(ca: CertAuthority, visible: bool) -> None:
    issued = issue_signing_cert(ca)
    material = pades.from_pkcs12(issued.pkcs12("รหัสผ่าน-1"), "รหัสผ่าน-1")
    original = _pdf()
    signed = await pades.asign_pdf(
        original,
        material,
        reason="ลงนามหนังสือราชการ",
        location="อบต.ทดสอบ",
        visible=pades.VisibleSignature() if visible else None,
    )
    assert signed.startswith(original)  # an incremental update: the document's bytes are untouched
    [report] = await pades.averify_pdf(signed, [ca.root_der])
    assert report.ok
    assert report.intact
    assert report.valid
    assert report.trusted
    assert report.covers_whole_file
    assert "อบต.ทดสอบ" in report.signer_subject
    assert report.signing_time is not None
    assert abs(report.signing_time - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=5)

    altered = bytearray(signed)
    altered[len(original) // 2] ^= 0x01  # one bit of the signed document
    [broken] = await pades.averify_pdf(bytes(altered), [ca.root_der])
    assert not broken.intact
    assert not broken.ok

    [untrusted] = await pades.averify_pdf(signed, [make_ca("another root").root_der])
    assert untrusted.intact
    assert not untrusted.trusted
    assert not untrusted.ok


async def test_an_elliptic_curve_key_from_pem_signs_too(ca: CertAuthority) -> None:
    issued = issue_signing_cert(ca, "เทศบาลตำบลทดสอบ", ec_key=True)
    material = pades.from_pem(issued.key_pem(), issued.chain_pem(), None)
    assert len(material.chain_der) == 2
    [report] = await pades.averify_pdf(await pades.asign_pdf(_pdf(), material), [ca.root_der])
    assert report.ok


def test_uploads_that_cannot_sign_are_refused_with_a_reason(ca: CertAuthority) -> None:
    issued = issue_signing_cert(ca)

    def reason(call: object) -> str:
        assert callable(call)
        with pytest.raises(pades.CertificateInvalid) as caught:
            call()
        return str((caught.value.data or {})["reason"])

    assert reason(lambda: pades.from_pkcs12(issued.pkcs12("right"), "wrong")) == "unreadable"
    assert reason(lambda: pades.from_pkcs12(b"not a pkcs12 file", None)) == "unreadable"
    other = issue_signing_cert(ca, "อื่น")
    assert reason(lambda: pades.from_pem(other.key_pem(), issued.chain_pem(), None)) == "key_mismatch"
    assert reason(lambda: pades.from_pem(issued.key_pem(), "garbage", None)) == "unreadable"
    expired = issue_signing_cert(ca, "หมดอายุ", valid_days=-1)
    assert reason(lambda: pades.from_pem(expired.key_pem(), expired.chain_pem(), None)) == "expired"
    no_signing = issue_signing_cert(ca, "เข้ารหัสเท่านั้น", signing=False)
    assert reason(lambda: pades.from_pem(no_signing.key_pem(), no_signing.chain_pem(), None)) == "key_usage"


def test_the_private_key_is_encrypted_under_the_secret_key(ca: CertAuthority) -> None:
    material = pades.from_pkcs12(issue_signing_cert(ca).pkcs12("pw"), "pw")
    blob = pades.encrypt_key("k" * 40, "f" * 64, material.key_der)
    assert material.key_der not in blob
    assert pades.decrypt_key("k" * 40, "f" * 64, blob) == material.key_der
    with pytest.raises(InvalidTag):
        pades.decrypt_key("x" * 40, "f" * 64, blob)
    with pytest.raises(InvalidTag):  # bound to the certificate it belongs to
        pades.decrypt_key("k" * 40, "e" * 64, blob)


async def test_the_admin_installs_the_certificate_per_tenant(
    engine: AsyncEngine, client_for: ClientFactory, ca: CertAuthority
) -> None:
    tenant = await make_tenant(engine)
    other = await make_tenant(engine)
    admin = {**host(tenant.slug), **bearer(tenant, roles=("tenant_admin",), subject=str(uuid.uuid4()))}
    first = issue_signing_cert(ca)
    second = issue_signing_cert(ca, "อบต.ทดสอบ ใบใหม่")
    async with client_for(plugins=REGISTRY, listen=False) as http:
        missing = await http.get("/v1/tenant/signing-certificate", headers=admin)
        assert missing.status_code == 404
        assert missing.json()["code"] == "no_signing_certificate"

        bad = await http.put("/v1/tenant/signing-certificate", json={"pkcs12_base64": "@@@"}, headers=admin)
        assert bad.status_code == 422
        assert bad.headers["content-type"].startswith("application/problem+json")
        assert bad.json()["data"]["reason"] == "format"
        both = await http.put(
            "/v1/tenant/signing-certificate", json={"pkcs12_base64": "AA==", "key_pem": "x"}, headers=admin
        )
        assert both.status_code == 422
        wrong = await http.put(
            "/v1/tenant/signing-certificate",
            json={"pkcs12_base64": base64.b64encode(first.pkcs12("pw")).decode(), "password": "no"},
            headers=admin,
        )
        assert wrong.status_code == 422
        assert wrong.json()["data"]["reason"] == "unreadable"

        clerk = {**host(tenant.slug), **bearer(tenant, roles=("payments.cashier",))}
        pkcs = {"pkcs12_base64": base64.b64encode(first.pkcs12("pw")).decode(), "password": "pw"}
        assert (await http.put("/v1/tenant/signing-certificate", json=pkcs, headers=clerk)).status_code == 403

        installed = await http.put("/v1/tenant/signing-certificate", json=pkcs, headers=admin)
        assert installed.status_code == 200, installed.text
        assert "อบต.ทดสอบ" in installed.json()["subject"]
        replaced = await http.put(
            "/v1/tenant/signing-certificate",
            json={"key_pem": second.key_pem(), "chain_pem": second.chain_pem()},
            headers=admin,
        )
        assert replaced.status_code == 200, replaced.text
        current = (await http.get("/v1/tenant/signing-certificate", headers=admin)).json()
        assert current["fingerprint_sha256"] == replaced.json()["fingerprint_sha256"]

        other_admin = {**host(other.slug), **bearer(other, roles=("tenant_admin",))}
        assert (await http.get("/v1/tenant/signing-certificate", headers=other_admin)).status_code == 404

    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text(f'SELECT active, private_key FROM "{tenant.schema}".signing_certificates ORDER BY created_at')
            )
        ).all()
        audits = (
            await conn.execute(
                text(
                    f'SELECT count(*) FROM "{tenant.schema}".audit_events'
                    " WHERE action = 'documents.signing_certificate_installed'"
                )
            )
        ).scalar_one()
    assert [r.active for r in rows] == [False, True]
    assert audits == 2
    der = second.key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    assert der not in bytes(rows[1].private_key)
    async with engine.begin() as conn:
        await conn.execute(text(f'SET LOCAL search_path TO "{tenant.schema}"'))
        async with AsyncSession(bind=conn) as session:
            material = await pades.active_material(session, TEST_SECRET)
    assert material.key_der == der
    [report] = await pades.averify_pdf(await pades.asign_pdf(_pdf(), material), [ca.root_der])
    assert report.ok
    async with engine.begin() as conn:
        await conn.execute(text(f'SET LOCAL search_path TO "{tenant.schema}"'))
        async with AsyncSession(bind=conn) as session:
            with pytest.raises(pades.SigningKeyUnreadable):  # another LOCALGOV_SECRET_KEY
                await pades.active_material(session, "another-secret-key-of-at-least-32-characters")
