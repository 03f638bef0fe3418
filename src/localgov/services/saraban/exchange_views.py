"""HTTP endpoints of the exchange with outside agencies: the inbound envelope on the addressed
LAO's host, and the operator's exchange keys (operator host)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, post
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel import egress
from localgov.kernel.audit import Actor, Origin
from localgov.kernel.auth.guards import PUBLIC, guarded
from localgov.kernel.errors import problem_responses
from localgov.kernel.storage import BlobStore
from localgov.services.saraban import exchange
from localgov.services.saraban.params import OPERATOR_POLICY, AgencyId
from localgov.settings import Settings


class ExchangeInboundController(Controller):
    path = "/exchange"
    tags = ["e-Saraban: exchange with outside agencies"]

    @post(
        "/inbound",
        status_code=201,
        operation_id="receiveSarabanEnvelope",
        summary="An outside agency delivers a signed envelope to this LAO (docs/services/saraban.md)",
        description=(
            "Signed with the agency's exchange secret: `X-Saraban-Sender` (its code),"
            " `X-Saraban-Timestamp`, `X-Saraban-Signature: v1=<hex HMAC-SHA256(secret, timestamp.body)>`."
            " 201: the receipt (`receipt_id`: the receive register number). 401 `exchange_unknown_sender`,"
            " `invalid_signature`, `stale_timestamp`, `missing_signature`; 404 `exchange_unknown_addressee`;"
            " 409 `exchange_duplicate` (`data.receipt_id`: the first receipt); 413 `exchange_too_large`;"
            " 422 `exchange_validation` (`data.reason`: schema, json, base64, hash_mismatch, sender)."
        ),
        request_max_body_size=exchange.MAX_ENVELOPE_BYTES,
        responses=problem_responses(401, 404, 409, 410, 413, 422),
        **guarded(PUBLIC),
    )
    async def inbound(
        self,
        request: Request[Any, Any, Any],
        settings: NamedDependency[Settings],
        blob_store: NamedDependency[BlobStore],
        db_session: NamedDependency[AsyncSession],
    ) -> exchange.Receipt:
        body = await request.body()
        headers = {name.lower(): value for name, value in request.headers.items()}
        return await exchange.receive_envelope(db_session, blob_store, settings.secret_key, headers=headers, body=body)


class ExchangeKeyController(Controller):
    """The operator issues (and rotates) the secret an outside agency signs with (operator host)."""

    path = "/v1/outside-agencies"
    tags = ["e-Saraban: outside agencies (operator)"]
    opt = {"surface": "operator"}

    @post(
        "/{agency_id:int}/exchange-key",
        status_code=200,
        operation_id="rotateSarabanExchangeKey",
        summary="A new exchange secret for the agency, shown once (the previous one verifies 7 more days)",
        description="404 `saraban_agency_not_found`; 422 `egress_refused` when its endpoint is not allowed.",
        responses=problem_responses(401, 403, 404, 422),
        **guarded(OPERATOR_POLICY),
    )
    async def rotate(
        self,
        agency_id: AgencyId,
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        settings: NamedDependency[Settings],
        db_session: NamedDependency[AsyncSession],
    ) -> exchange.KeyIssued:
        return await exchange.rotate_key(
            db_session,
            settings.secret_key,
            agency_id,
            policy=egress.policy_from_settings(settings),
            actor=actor,
            origin=origin,
        )
