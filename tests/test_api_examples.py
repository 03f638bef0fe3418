"""Every request example of both documents is valid against its own schema and accepted by the server
(issue 21: "valid examples (a test sends every example to the server and expects success)").

Examples are declared per operation (``kernel.examples``); an example naming another object uses a
placeholder (``example_id(kind)``, or a documented constant), which this test swaps for an object it
made first: by a create example sent earlier (:data:`CAPTURES`) or by a factory (:func:`_world`).
Every JSON-body operation has an example or is in :data:`NO_EXAMPLE` with the reason.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from localgov.identity.examples import (
    INVITATION_TOKEN,
    OPERATOR_EMAIL,
    OPERATOR_PASSWORD,
    OPERATOR_REFRESH_TOKEN,
    PARENT_UNIT,
    POSITION,
    REFRESH_TOKEN,
    RESET_TOKEN,
    STAFF,
    STAFF_EMAIL,
    STAFF_PASSWORD,
    UNIT,
    WORK_UNIT,
)
from localgov.identity.models import OrgUnit, StaffUser
from localgov.identity.operators import add_operator
from localgov.kernel.auth.hashing import hash_secret
from localgov.kernel.db import session_factory, tenant_session
from localgov.kernel.examples import EXAMPLE_TODAY, RequestExample, merge_tables
from localgov.kernel.openapi import surface_document
from localgov.kernel.outbox import Delivery, OutboxEntry
from localgov.kernel.thai import bangkok_today
from localgov.kernel.webhooks.examples import ENDPOINT, WEBHOOK_URL
from localgov.platform import examples as platform_examples
from localgov.plugins import REGISTRY
from localgov.services.food import examples as food_examples
from localgov.services.oss import deadlines
from localgov.services.oss import examples as oss_examples
from localgov.services.payments import bank
from localgov.services.payments import examples as payments_examples
from localgov.services.payments.api import BILL_PAID
from localgov.services.permits import examples as permits_examples
from localgov.services.permits import permits as permits_plugin
from localgov.services.saraban import examples as saraban_examples
from localgov.settings import Settings
from tests.conftest import BASE, ClientFactory, host, make_settings
from tests.support.billing import make_plan
from tests.support.ca import issue_signing_cert, make_ca
from tests.support.factories import make_tenant, next_dla_code
from tests.support.food import png_bytes
from tests.support.payments import make_citizen
from tests.support.permits import pdf_bytes
from tests.support.tokens import bearer
from tests.test_api_contract import ALL_ROLES, SERVICES, documents, operations

#: JSON-body operations without an example: what they need cannot be written in a document.
NO_EXAMPLE: dict[str, str] = {}

#: The order the examples are sent in: what makes an object comes before what names it.
ORDER: tuple[str, ...] = (
    # Kernel: the LAO's own tenant, units, positions, staff, API clients, apps, webhooks.
    "updateTenantContact",
    "setTenantCorsOrigins",
    "createUnit",
    "updateUnit",
    "moveUnit",
    "createPosition",
    "updatePosition",
    "inviteStaff",
    "assignStaff",
    "setUnitSupervisor",
    "acceptStaffInvitation",
    "createApiClient",
    "registerCitizenApp",
    "setCitizenLoginSettings",
    "requestStaffPasswordReset",
    "resetStaffPassword",
    "loginStaff",
    "refreshSession",
    "logout",
    "changeMyPassword",
    "createWebhookEndpoint",
    "updateWebhookEndpoint",
    "rotateWebhookSecret",
    # Payments.
    "setPaymentSettings",
    "setPaymentSandbox",
    "setRevenueCode",
    "seedDefaultTariffs",
    "createTariff",
    "replaceTariff",
    "createPayer",
    "updatePayer",
    "createAccount",
    "updateAccount",
    "importPayers",
    "importMeterReadings",
    "createAdvanceBill",
    "runBills",
    "createBackdatedTariffAndRebill",
    "createBill",
    "lookupBill",
    "linkMyPayer",
    "openCashBook",
    "takeCounterPayment",
    "voidReceipt",
    "refundPayerCredit",
    "closeCashBook",
    "receiveBankPaymentNotification",
    "importBankStatement",
    "sandboxPayBill",
    "applyPaymentException",
    "resolvePaymentException",
    "cancelBill",
    "closeDebtorYear",
    # Building permits: an application from draft to decision, the citizen's own, the settings.
    "replacePermitSettings",
    "checkPermitEligibility",
    "createPermitApplication",
    "savePermitApplicationDraft",
    "takePermitApplicationAction",
    "schedulePermitInspection",
    "recordPermitInspection",
    "assessPermitFees",
    "extendPermitDecisionTime",
    "decidePermitApplication",
    "revokePermit",
    "createMyPermitApplication",
    "saveMyPermitApplicationDraft",
    "takeMyPermitApplicationAction",
    # One Stop Service: the catalogue, the queue, a request at the counter and one filed online.
    "setOssCalendarDay",
    "updateOssNoticeSettings",
    "setOssCaseStateSetting",
    "createOssService",
    "updateOssService",
    "publishOssService",
    "createOssServicePoint",
    "updateOssServicePoint",
    "issueOssQueueTicket",
    "callNextOssQueueTicket",
    "openOssWalkInRequest",
    "trackOssRequest",
    "assignOssRequest",
    "addOssRequestComment",
    "takeOssRequestAction",
    "recordOssNoticeHandDelivery",
    "recordOssDeficiencies",
    "recordOssDeficiencySignature",
    "recordOssDeficiencySupplied",
    "fileMyOssRequest",
    "addMyOssRequestComment",
    "supplyMyOssDeficiencyItems",
    "withdrawMyOssRequest",
    # Food premises: a notification to its certificate, the certificate's life, the fees.
    "putFoodSettings",
    "putFoodChecklist",
    "putFoodFeeBands",
    "addFoodFeeWaiver",
    "fileFoodNotification",
    "requestFoodNotificationDocuments",
    "resubmitFoodNotification",
    "certifyFoodNotification",
    "changeFoodCertificate",
    "recordFoodInspection",
    "transferFoodCertificate",
    "runFoodAnnualFees",
    "cancelFoodCertificate",
    "revokeFoodCertificate",
    "refuseFoodNotification",
    "withdrawFoodNotification",
    # e-Saraban: a letter from draft to issue, one cancelled, one received and routed.
    "putSarabanSettings",
    "createSarabanIssuingUnit",
    "putSarabanRetention",
    "createSarabanLetter",
    "updateSarabanLetter",
    "submitSarabanLetter",
    "returnSarabanLetter",
    "reviewSarabanLetter",
    "approveSarabanLetter",
    "issueSarabanLetter",
    "cancelSarabanLetter",
    "receiveSarabanLetter",
    "routeSarabanLetter",
    "prepareSarabanDestructionList",
    "installSigningCertificate",
    # The operator.
    "createSarabanOutsideAgency",
    "updateSarabanOutsideAgency",
    "operatorLogin",
    "operatorRefresh",
    "operatorLogout",
    "registerPlatformCitizenApp",
    "setBillingSettings",
    "addPlanPrice",
    "setUsageThresholds",
    "createSubscription",
    "changeSubscriptionPlan",
    "runInvoices",
    "receiveOperatorBankNotification",
    "recordInvoicePayment",
    "issueCreditNote",
    "voidInvoice",
    "endSubscription",
    "submitSignup",
    "getSignupStatus",
    "verifySignup",
    "rejectSignupRequest",
    "suspendTenant",
    "closeTenant",
)

PAY = payments_examples
OSS = oss_examples
FOOD = food_examples
PERMITS = permits_examples
SARABAN = saraban_examples
#: What each create's answer gives: placeholder → the answer's field (``a.0.b``: in a list), or a
#: ``(path, field)`` read from a ``GET`` of ``path`` formatted with the answer's fields.
CAPTURES: dict[str, dict[str | int, str | tuple[str, str]]] = {
    "createUnit:example1": {UNIT: "id"},
    "createUnit:example2": {WORK_UNIT: "id"},
    "createPosition": {POSITION: "id"},
    "loginStaff": {REFRESH_TOKEN: "refresh_token"},
    "refreshSession": {REFRESH_TOKEN: "refresh_token"},
    "operatorLogin": {OPERATOR_REFRESH_TOKEN: "refresh_token"},
    "operatorRefresh": {OPERATOR_REFRESH_TOKEN: "refresh_token"},
    "inviteStaff": {STAFF: "id"},
    "createWebhookEndpoint": {ENDPOINT: "endpoint.id"},
    "createTariff": {PAY.TARIFF: "id"},
    "createPayer": {PAY.PAYER: "id"},
    "createAccount": {PAY.ACCOUNT: "id"},
    "createBill": {PAY.BILL: "id", PAY.BILL_REFERENCE: "reference", PAY.BILL_CODE: "verification_code"},
    "openCashBook": {PAY.CASH_BOOK: "id"},
    "takeCounterPayment": {PAY.RECEIPT: "receipts.0.receipt_id"},
    "sandboxPayBill:example2": {PAY.EXCEPTION: ("/v1/payments/bank/payments/{payment_id}", "exception_id")},
    "createSubscription": {platform_examples.SUBSCRIPTION_ID: "id"},
    "runInvoices": {platform_examples.INVOICE_ID: "finalised.0", "another invoice": "finalised.1"},
    "submitSignup": {platform_examples.SIGNUP_ID: "request.id"},
    "createOssService": {OSS.SERVICE: "id"},
    "createOssServicePoint": {OSS.POINT: "id"},
    "openOssWalkInRequest": {
        OSS.CASE: "case.id",
        OSS.TRACKING_NUMBER: "case.tracking_number",
        OSS.VERIFICATION_CODE: "verification_code",
    },
    "fileMyOssRequest": {OSS.CASE: "case.id"},
    "recordOssDeficiencies": {OSS.DEFICIENCY: "id"},
    "createPermitApplication": {PERMITS.APPLICATION: "id"},
    "createMyPermitApplication": {PERMITS.APPLICATION: "id"},
    "fileFoodNotification": {FOOD.NOTIFICATION: "id"},
    "certifyFoodNotification": {FOOD.CERTIFICATE: "certificate_id"},
    "createSarabanLetter": {SARABAN.LETTER: "id"},
    "receiveSarabanLetter": {SARABAN.LETTER: "id"},
    "createSarabanOutsideAgency": {SARABAN.OUTSIDE_AGENCY_ID: "id"},
}

#: Examples sent again just before an operation, for objects of its own (``operationId[:exampleN]``):
#: a bill to cancel that nothing paid, an exception of its own to apply and another to resolve.
BEFORE: dict[str, tuple[str, ...]] = {
    "receiveBankPaymentNotification": ("createBill",),
    "importBankStatement": ("createBill",),
    "sandboxPayBill": ("createBill",),
    "applyPaymentException": ("createBill", "sandboxPayBill:example2"),
    "resolvePaymentException": ("createBill", "sandboxPayBill:example2"),
    "cancelBill": ("createBill",),
    # The steps from the start (a request at the counter is being checked at once): one filed online.
    "takeOssRequestAction": ("fileMyOssRequest",),
    # A request of its own, being checked, for the deficiency record.
    "recordOssDeficiencies": ("openOssWalkInRequest",),
    # The citizen's own request found deficient by staff.
    "supplyMyOssDeficiencyItems": ("takeOssRequestAction:example1", "recordOssDeficiencies"),
    # Certificates and notifications of their own to end.
    "cancelFoodCertificate": ("fileFoodNotification", "certifyFoodNotification"),
    "revokeFoodCertificate": ("fileFoodNotification", "certifyFoodNotification"),
    "refuseFoodNotification": ("fileFoodNotification",),
    "withdrawFoodNotification": ("fileFoodNotification",),
    # Returned to its author, the letter is sent for review again.
    "reviewSarabanLetter": ("submitSarabanLetter",),
    "cancelSarabanLetter": ("createSarabanLetter",),
}

_APPLICATION = "/v1/permits/applications/{application_id}"
#: Where the current ``version`` of the object an operation changes is read (the version the caller
#: saw: each step moves it on): the path, or the path and the answer's field.
VERSION_OF: dict[str, str | tuple[str, str]] = {
    "savePermitApplicationDraft": _APPLICATION,
    "saveMyPermitApplicationDraft": "/v1/permits/me/applications/{application_id}",
    "takeMyPermitApplicationAction": ("/v1/permits/me/applications/{application_id}", "case_version"),
    **{
        op: (_APPLICATION, "case_version")
        for op in (
            "takePermitApplicationAction",
            "schedulePermitInspection",
            "recordPermitInspection",
            "assessPermitFees",
            "decidePermitApplication",
        )
    },
    "updateOssService": "/v1/oss/services/{service_id}",
    "publishOssService": "/v1/oss/services/{service_id}",
    "assignOssRequest": "/v1/oss/cases/{case_id}",
    "takeOssRequestAction": "/v1/oss/cases/{case_id}",
    "recordOssDeficiencies": "/v1/oss/cases/{case_id}",
    "recordOssDeficiencySupplied": "/v1/oss/cases/{case_id}",
    "supplyMyOssDeficiencyItems": "/v1/oss/me/cases/{case_id}",
    "withdrawMyOssRequest": "/v1/oss/me/cases/{case_id}",
    "requestFoodNotificationDocuments": "/v1/food/notifications/{notification_id}",
    **{
        f"{step}FoodNotification": "/v1/food/notifications/{notification_id}"
        for step in ("resubmit", "certify", "refuse", "withdraw")
    },
    **{
        f"{step}FoodCertificate": "/v1/food/certificates/{certificate_id}"
        for step in ("change", "transfer", "cancel", "revoke")
    },
    **{
        f"{step}SarabanLetter": "/v1/saraban/letters/{letter_id}"
        for step in ("update", "submit", "return", "review", "approve", "issue", "cancel")
    },
}
#: Placeholders that stand for another object from an operation on: the invoice voided is not the
#: one paid and credited.
REBIND: dict[str, dict[str | int, str]] = {"voidInvoice": {platform_examples.INVOICE_ID: "another invoice"}}

#: Operations whose token an earlier example had e-mailed: (placeholder, address, the link's path).
MAILED: dict[str, tuple[str, str, str]] = {
    "acceptStaffInvitation": (INVITATION_TOKEN, "somchai@example.go.th", "/staff/invitation"),
    "resetStaffPassword": (RESET_TOKEN, "somchai@example.go.th", "/staff/password-reset"),
    "verifySignup": (platform_examples.VERIFY_TOKEN, platform_examples.SIGNUP_EMAIL, "/signup/verify"),
    "getSignupStatus": (platform_examples.STATUS_TOKEN, platform_examples.SIGNUP_EMAIL, "/signup/status"),
}

#: Notifications a bank signs (``X-Localgov-Signature`` over the raw body): where the secret is rotated.
SIGNED: dict[str, tuple[str, str]] = {
    "receiveBankPaymentNotification": ("/v1/payments/bank/webhook-secret/rotate", "staff"),
    "receiveOperatorBankNotification": ("/v1/billing/settings/notification-secret", "operator"),
}

#: Operations a second staff member makes (separation of duties): a cashier cannot void a receipt
#: of money they took.
SECOND_STAFF = frozenset({"voidReceipt"})


def _field(answer: Any, path: str) -> Any:
    for part in path.split("."):
        answer = answer[int(part)] if isinstance(answer, list) else answer[part]
    return answer


_DATE = re.compile(r"^(\d{4})-(\d{2})(-(\d{2}))?(T.*)?$")


def _moved(text: str, today: dt.date) -> str:
    """A date of the examples (written as of ``EXAMPLE_TODAY``) as of ``today``: a period
    (``YYYY-MM``) or the first of a month moves by whole months (a tariff from the first stays on
    the first); any other day or moment moves by days (a due date stays as far from today)."""
    match = _DATE.match(text)
    if match is None:
        return text
    year, month, day, rest = int(match[1]), int(match[2]), match[4], match[5] or ""
    if day is None or int(day) == 1:
        total = year * 12 + month - 1 + (today.year - EXAMPLE_TODAY.year) * 12 + today.month - EXAMPLE_TODAY.month
        moved_year, moved_month = divmod(total, 12)
        return f"{moved_year:04d}-{moved_month + 1:02d}" + ("" if day is None else "-01") + rest
    moved = dt.date(year, month, int(day)) + (today - EXAMPLE_TODAY)
    return moved.isoformat() + rest


def _swap(value: Any, placeholders: Mapping[str | int, Any], keyed: Mapping[str, Mapping[str | int, Any]]) -> Any:
    """``value`` with every placeholder (a whole string, or an integer id) replaced by the real one;
    ``keyed`` ones only as the value of that member (a plan's code, not a charge model's name)."""
    if isinstance(value, dict):
        return {
            k: keyed[k].get(v, v) if k in keyed and isinstance(v, str) else _swap(v, placeholders, keyed)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_swap(v, placeholders, keyed) for v in value]
    if isinstance(value, str | int) and not isinstance(value, bool) and value in placeholders:
        return placeholders[value]
    if isinstance(value, str):
        return _moved(value, bangkok_today())
    return value


def _caller(access: str, headers: Mapping[str, dict[str, str]]) -> dict[str, str]:
    """The headers of the right caller for an operation's policy (``x-localgov-access``)."""
    if access == "public":
        return {}
    for kind in ("staff", "operator", "citizen"):
        if access.startswith(kind) or f" or {kind}" in access:
            return headers[kind]
    raise AssertionError(f"no test caller for {access}")


def _schema_errors(document: dict[str, Any], schema: dict[str, Any], value: Any) -> list[str]:
    root = {**schema, "components": document["components"]}
    validator = jsonschema_rs.Draft202012Validator(root, validate_formats=True)
    return [f"{e.instance_path}: {e.message}" for e in validator.iter_errors(value)]


async def test_every_example_is_valid_and_accepted(
    engine: AsyncEngine, client_for: ClientFactory, settings: Settings, tmp_path: Path
) -> None:
    tenant = await make_tenant(engine, services=SERVICES)
    other = await make_tenant(engine)  # the operator suspends and closes this one
    async with tenant_session(session_factory(engine), tenant) as session:
        palad = OrgUnit(
            code="palad", name_th="สำนักปลัด", name_en="Office of the Permanent Secretary", kind="secretary_office"
        )
        session.add(palad)
        await session.flush()
        me = StaffUser(
            email=STAFF_EMAIL,
            password_hash=hash_secret(STAFF_PASSWORD),
            full_name="นางสาวมาลี รักงาน",
            status="active",
            unit_id=palad.id,
        )
        supervisor = StaffUser(
            email=f"supervisor@{tenant.slug}.example", full_name="นายสมศักดิ์ มั่นคง", status="active", unit_id=palad.id
        )
        session.add_all([me, supervisor])
        await session.flush()
        citizen = await make_citizen(session)
        staff_id, supervisor_id, palad_id = me.id, supervisor.id, palad.id
    plan = await make_plan(engine)
    operator_email = f"op-{uuid.uuid4().hex[:12]}@operator.example.go.th"  # the operators are shared
    async with tenant_session(session_factory(engine), None) as session:
        await add_operator(
            session,
            email=operator_email,
            full_name="นายสมชาย ผู้ดูแลระบบ",
            roles=("platform_admin", "billing_admin"),
            password=OPERATOR_PASSWORD,
            min_length=12,
            min_score=3,
        )
    headers = {
        "staff": {**host(tenant.slug), **bearer(tenant, roles=ALL_ROLES, subject=str(staff_id))},
        "second staff": {**host(tenant.slug), **bearer(tenant, roles=ALL_ROLES, subject=str(supervisor_id))},
        "citizen": {**host(tenant.slug), **bearer(tenant, kind="citizen", subject=citizen, acr="high")},
        "operator": bearer(None, kind="operator", roles=["platform_admin", "billing_admin"]),
    }
    surface_host = {"tenant": host(tenant.slug), "operator": {"Host": BASE}}
    signup_code = next_dla_code()
    today = bangkok_today()
    placeholders: dict[str | int, Any] = {
        PARENT_UNIT: str(palad_id),
        platform_examples.TENANT_ID: other.id,
        "4500103": signup_code,
        "maehia": f"s{signup_code}",
        WEBHOOK_URL: "http://127.0.0.1:9/localgov",
        OPERATOR_EMAIL: operator_email,
        # The LAO's own certificate, issued by a test authority, for the example's cut-short file.
        platform_examples.PKCS12_BASE64: base64.b64encode(
            issue_signing_cert(make_ca(), "เทศบาลเมืองแม่เหียะ").pkcs12(platform_examples.PKCS12_PASSWORD)
        ).decode(),
        platform_examples.SIGNUP_EMAIL: f"palad@{signup_code}.example.go.th",  # the outbox is shared
        SARABAN.SIGNER: str(staff_id),
        # Codes unique in the whole test database: the operator's directory and the LAOs' codes.
        SARABAN.AGENCY_CODE: f"ชม {signup_code}",
        f"{SARABAN.AGENCY_CODE}.2": f"ชม {signup_code}.2",
        SARABAN.OUTSIDE_AGENCY_CODE: f"มท {signup_code}",
    }
    #: The operator's plans are shared by the whole test database: prices, thresholds and the
    #: subscription are a plan of this test's own.
    keyed: dict[str, dict[str | int, Any]] = {"plan_code": {platform_examples.PLAN_CODE: plan}}
    sent: list[str] = []
    # Citizens log in through a national provider (never contacted here): its assurance levels.
    with_login = make_settings(
        settings.database_url,
        oidc_issuer="https://id.example.go.th",
        oidc_client_id="localgov",
        oidc_acr_levels="low=urn:example:loa:1,substantial=urn:example:loa:2,high=urn:example:loa:3",
        egress_allow_loopback=True,
        storage_dir=str(tmp_path / "files"),  # the integrator's receiver: a port of this machine (nothing is sent)
    )
    async with client_for(plugins=REGISTRY, settings_=with_login) as client:
        docs = await documents(client, tenant.slug)
        by_id: dict[str, tuple[str, str, str, dict[str, Any]]] = {}
        for surface, document in docs.items():
            for path, method, op in operations(document):
                if "application/json" in op.get("requestBody", {}).get("content", {}):
                    by_id.setdefault(op["operationId"], (surface, path, method, op))
        exemplified = {
            op_id
            for op_id, (_, _, _, op) in by_id.items()
            if op["requestBody"]["content"]["application/json"].get("examples")
        }
        assert not set(NO_EXAMPLE) & exemplified, "an example and a reason"
        assert set(NO_EXAMPLE) <= set(by_id)
        assert sorted(ORDER) == sorted(exemplified), (set(exemplified) - set(ORDER), set(ORDER) - set(exemplified))

        async def send(operation_id: str, only: str | None = None) -> None:
            await prepare(operation_id)
            surface, path, method, op = by_id[operation_id]
            document = docs[surface]
            content = op["requestBody"]["content"]["application/json"]
            caller = _caller(op.get("x-localgov-access", "public"), headers)
            if operation_id in SECOND_STAFF:
                caller = headers["second staff"]
            for name, example in content["examples"].items():
                if only is not None and name != only:
                    continue
                errors = _schema_errors(document, content["schema"], example["value"])
                assert not errors, (operation_id, name, errors)
                target = path
                values: dict[str, Any] = {}
                for parameter in op.get("parameters", ()):
                    if parameter["in"] == "path":
                        value = parameter["examples"][name]["value"]
                        value = keyed.get(parameter["name"], placeholders).get(value, value)
                        values[parameter["name"]] = _moved(value, today) if isinstance(value, str) else value
                        target = target.replace("{" + parameter["name"] + "}", str(values[parameter["name"]]))
                body = _swap(example["value"], placeholders, keyed)
                if operation_id in VERSION_OF:
                    where = VERSION_OF[operation_id]
                    where, field = where if isinstance(where, tuple) else (where, "version")
                    seen = await client.get(where.format(**values), headers=caller)
                    body["version"] = seen.json()[field]
                request_headers = {**surface_host[surface], **caller, "Idempotency-Key": uuid.uuid4().hex}
                raw = json.dumps(body, ensure_ascii=False).encode()
                if operation_id in SIGNED:  # the bank's secret, rotated by the LAO's finance staff
                    where, who = SIGNED[operation_id]
                    rotated = await client.post(where, headers={**surface_host[surface], **headers[who]})
                    timestamp = str(int(time.time()))
                    request_headers["X-Localgov-Timestamp"] = timestamp
                    request_headers["X-Localgov-Signature"] = bank.sign(rotated.json()["secret"], timestamp, raw)
                request_headers["Content-Type"] = "application/json"
                response = await client.request(method.upper(), target, content=raw, headers=request_headers)
                assert response.status_code < 300, f"{operation_id} {name} {target}: {response.text}"
                captures = {**CAPTURES.get(operation_id, {}), **CAPTURES.get(f"{operation_id}:{name}", {})}
                for placeholder, field in captures.items():
                    answer = response.json()
                    if isinstance(field, tuple):
                        followed = await client.get(field[0].format(**answer), headers=request_headers)
                        answer, field = followed.json(), field[1]
                    try:
                        placeholders[placeholder] = _field(answer, field)
                    except (KeyError, IndexError) as exc:
                        raise AssertionError((operation_id, field, answer)) from exc
                sent.append(f"{operation_id}:{name}")

        async def prepare(operation_id: str) -> None:
            """Objects no example makes: the result notice of a decided request (the deadlines' sweep
            issues it; a request's applicant without an address gets it by hand)."""
            if operation_id == "recordOssNoticeHandDelivery":
                async with tenant_session(session_factory(engine), tenant) as session:
                    case_id = uuid.UUID(placeholders[OSS.CASE])
                    assert await deadlines.issue_result_notice(session, tenant, case_id, now=dt.datetime.now(dt.UTC))
                listed = await client.get(
                    "/v1/oss/notices", params={"case_id": placeholders[OSS.CASE]}, headers=headers["staff"]
                )
                placeholders[OSS.NOTICE] = next(n["id"] for n in listed.json()["items"] if n["kind"] == "result")
            if operation_id in ("takePermitApplicationAction", "takeMyPermitApplicationAction"):
                # The checklist's documents uploaded (multipart), then the application submitted.
                mine = operation_id == "takeMyPermitApplicationAction"
                base = f"/v1/permits/{'me/' if mine else ''}applications/{placeholders[PERMITS.APPLICATION]}"
                who = headers["citizen" if mine else "staff"]
                application = (await client.get(base, headers=who)).json()
                for n, item in enumerate(application["checklist"]):
                    upload = {"data": (f"{item['code']}.pdf", pdf_bytes(n), "application/pdf")}
                    done = await client.post(
                        f"{base}/files", params={"document": item["code"]}, files=upload, headers=who
                    )
                    assert done.status_code == 201, done.text
                submitted = await client.post(f"{base}/submit", headers=who)
                assert submitted.status_code == 200, submitted.text
            if operation_id == "recordPermitInspection":  # the inspector's photo of the site
                base = f"/v1/permits/applications/{placeholders[PERMITS.APPLICATION]}"
                photo = {"data": ("site.png", png_bytes(), "image/png")}
                done = await client.post(
                    f"{base}/files", params={"document": "inspection_photo"}, files=photo, headers=headers["staff"]
                )
                assert done.status_code == 201, done.text
            if operation_id in MAILED:  # the secret of the link e-mailed to the example's address
                placeholder, address, link = MAILED[operation_id]
                async with engine.connect() as conn:
                    mails = await conn.execute(
                        text(
                            "SELECT payload->>'text' FROM platform.outbox WHERE topic = 'mail.send'"
                            " AND payload->>'to' = :a AND tenant_id IS NOT DISTINCT FROM :t ORDER BY id DESC"
                        ),
                        {"a": _swap(address, placeholders, keyed), "t": None if "signup" in link else tenant.id},
                    )
                    texts = [row[0] for row in mails]
                found = [m for t in texts if (m := re.search(re.escape(link) + r"[#?]token=([A-Za-z0-9_-]+)", t))]
                assert found, (operation_id, texts)
                placeholders[placeholder] = found[0].group(1)
            if operation_id == "receiveOperatorBankNotification":  # the invoice's Ref.1: its number
                invoice = f"/v1/billing/invoices/{placeholders[platform_examples.INVOICE_ID]}"
                number = (await client.get(invoice, headers={"Host": BASE, **headers["operator"]})).json()["number"]
                placeholders[platform_examples.INVOICE_REF] = number.replace("-", "")
            if operation_id == "revokePermit":
                # The applicant pays the fees (the sandbox's bank): the worker's consumer issues the permit.
                base = f"/v1/permits/applications/{placeholders[PERMITS.APPLICATION]}"
                reference = (await client.get(base, headers=headers["staff"])).json()["bill_reference"]
                paid = await client.post(
                    "/v1/payments/sandbox/pay", json={"reference": reference}, headers=headers["staff"]
                )
                assert paid.status_code == 200, paid.text
                async with tenant_session(session_factory(engine), None) as session:
                    entries = select(OutboxEntry).where(
                        OutboxEntry.tenant_id == tenant.id, OutboxEntry.topic == BILL_PAID.code
                    )
                    entry = (await session.execute(entries.order_by(OutboxEntry.id.desc()).limit(1))).scalar_one()
                    await permits_plugin.on_bill_paid(Delivery(entry, session, {tenant.id: tenant.schema}))
            if operation_id == "certifyFoodNotification":  # its documents, uploaded (multipart)
                for code in ("id_copy", "site_plan"):
                    uploaded = await client.post(
                        f"/v1/food/notifications/{placeholders[FOOD.NOTIFICATION]}/files",
                        params={"document": code},
                        files={"data": (f"{code}.png", png_bytes() + code.encode(), "image/png")},
                        headers=headers["staff"],
                    )
                    assert uploaded.status_code == 201, uploaded.text

        for operation_id in ORDER:
            for placeholder, saved in REBIND.get(operation_id, {}).items():
                placeholders[placeholder] = placeholders[saved]
            for before in BEFORE.get(operation_id, ()):
                await send(*before.split(":")) if ":" in before else await send(before)
            await send(operation_id)
    assert len(sent) >= len(ORDER)
    # Every JSON body has an example or a reason.
    assert sorted(set(by_id) - exemplified - set(NO_EXAMPLE)) == [], "operations with no example and no reason"


def test_an_example_names_a_json_body_operation_and_all_its_path_parameters() -> None:
    operation = {
        "operationId": "updateThing",
        "parameters": [{"name": "thing_id", "in": "path", "required": True, "schema": {"type": "string"}}],
        "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}},
    }
    document = {"paths": {"/v1/things/{thing_id}": {"patch": operation}}, "components": {"schemas": {}}}
    surfaces = {("/v1/things/{thing_id}", "patch"): ("tenant", None)}
    one = RequestExample("หนึ่ง — one", {"name": "ก"}, path={"thing_id": "t-1"})
    out = surface_document(document, surfaces, "tenant", {}, examples={"updateThing": (one,)})
    applied = out["paths"]["/v1/things/{thing_id}"]["patch"]
    assert applied["requestBody"]["content"]["application/json"]["examples"] == {
        "example1": {"summary": "หนึ่ง — one", "value": {"name": "ก"}}
    }
    assert applied["parameters"][0]["examples"] == {"example1": {"value": "t-1"}}
    with pytest.raises(ValueError, match="do not exist"):
        surface_document(document, surfaces, "tenant", {}, examples={"updateNothing": (one,)})
    with pytest.raises(ValueError, match="path parameters"):
        surface_document(document, surfaces, "tenant", {}, examples={"updateThing": (RequestExample("x", {}),)})
    with pytest.raises(ValueError, match="two example tables"):
        merge_tables({"updateThing": one}, {"updateThing": one})
