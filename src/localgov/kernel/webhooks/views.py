"""``/v1/webhooks``: integrators (``webhooks.manage``) and the LAO's administrators manage webhook
endpoints, read the delivery log and replay deliveries (reference: docs/kernel/webhooks.md)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.datastructures import CacheControlHeader
from litestar.di import NamedDependency
from litestar.params import JSONBody, PathParameter, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel import egress
from localgov.kernel.audit import Actor, Origin
from localgov.kernel.auth.guards import client, guarded, staff
from localgov.kernel.auth.tokens import Principal
from localgov.kernel.errors import problem_responses
from localgov.kernel.etags import IfMatch, require_match
from localgov.kernel.idempotency import OptionalIdempotencyKey, idempotent
from localgov.kernel.pagination import NEXT_CURSOR_DOC, Cursor, Limit, cut_page, decode_cursor
from localgov.kernel.reads import ReadConnection
from localgov.kernel.tenancy import TenantInfo
from localgov.kernel.text import ONE_LINE
from localgov.kernel.webhooks import service as svc
from localgov.kernel.webhooks.models import DeliveryStatus, EndpointStatus
from localgov.settings import Settings

TAG = "Webhooks"
TAG_DESCRIPTION = "Outbound webhooks (Standard Webhooks): subscriptions, delivery log, replay"
#: The LAO's administrators, or an API client holding ``webhooks.manage`` (its own endpoints only).
MANAGE = staff("tenant_admin") | client(svc.MANAGE_SCOPE)
NO_STORE = CacheControlHeader(no_store=True)

EndpointId = Annotated[uuid.UUID, PathParameter(description="The webhook endpoint's id")]
DeliveryId = Annotated[uuid.UUID, PathParameter(description="The delivery's id")]
Url = Annotated[
    str,
    msgspec.Meta(
        min_length=8,
        max_length=egress.MAX_URL_LENGTH,
        description="Where to POST: https (http only outside production), a public address, no credentials",
        examples=["https://hooks.example.com/localgov"],
    ),
]
EventName = Annotated[str, msgspec.Meta(min_length=3, max_length=80, pattern=r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")]
Description = Annotated[str, msgspec.Meta(min_length=1, max_length=300, pattern=ONE_LINE)]


class WebhookEndpointCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    url: Url
    event_types: Annotated[
        list[EventName],
        msgspec.Meta(min_length=1, max_length=50, description="Public event names (GET /v1/webhooks/event-types)"),
    ]
    description: Description | None = None


class WebhookEndpointUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    url: Url | None = None
    event_types: Annotated[list[EventName], msgspec.Meta(min_length=1, max_length=50)] | None = None
    description: Description | msgspec.UnsetType | None = msgspec.UNSET
    status: EndpointStatus | None = None


class WebhookSecretRotate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    overlap_s: Annotated[
        int,
        msgspec.Meta(
            ge=0,
            le=7 * 24 * 3600,
            description="How long the current secret keeps signing alongside the new one (seconds; 0: stop now)",
        ),
    ] = int(svc.ROTATION_OVERLAP.total_seconds())


class WebhookEndpointWithSecret(msgspec.Struct, kw_only=True):
    """An endpoint with its signing secret (``whsec_…``): in this response only, never again."""

    endpoint: svc.WebhookEndpointRead
    secret: str


class WebhookEndpointList(msgspec.Struct, kw_only=True):
    items: list[svc.WebhookEndpointRead]
    next_cursor: Annotated[str | None, msgspec.Meta(description=NEXT_CURSOR_DOC)]


class WebhookEventTypeRead(msgspec.Struct, kw_only=True):
    name: str
    service: str
    title_th: str
    title_en: str


class WebhookEventTypeList(msgspec.Struct, kw_only=True):
    items: list[WebhookEventTypeRead]


class WebhookDeliveryList(msgspec.Struct, kw_only=True):
    items: list[svc.WebhookDeliveryRead]
    next_cursor: Annotated[str | None, msgspec.Meta(description=NEXT_CURSOR_DOC)]


def owner_of(principal: Principal) -> svc.Owner:
    """An API client manages its own endpoints; staff here are administrators (the guard)."""
    if principal.kind == "client":
        return svc.Owner(kind="client", id=principal.subject)  # a client token's subject is its client_id
    return svc.Owner(kind="staff", id=principal.subject, admin="tenant_admin" in principal.roles)


class WebhookController(Controller):
    path = "/v1/webhooks"
    tags = [TAG]
    opt = {"surface": "tenant"}

    @get(
        "/event-types",
        operation_id="listWebhookEventTypes",
        summary="The events this LAO publishes to webhooks",
        responses=problem_responses(401, 403, 404, 410),
        **guarded(MANAGE),
    )
    async def event_types(self, tenant: NamedDependency[TenantInfo]) -> WebhookEventTypeList:
        return WebhookEventTypeList(
            items=[
                WebhookEventTypeRead(name=p.name, service=p.service, title_th=p.title_th, title_en=p.title_en)
                for p in svc.public_events(tenant.enabled_services)
            ]
        )

    @post(
        "/endpoints",
        operation_id="createWebhookEndpoint",
        summary="Subscribe an endpoint to events (the signing secret is in this response only)",
        status_code=201,
        cache_control=NO_STORE,
        responses=problem_responses(401, 403, 404, 409, 410, 422),
        **guarded(MANAGE),
    )
    async def create(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[WebhookEndpointCreate],
        db_session: NamedDependency[AsyncSession],
        principal: NamedDependency[Principal],
        tenant: NamedDependency[TenantInfo],
        settings: NamedDependency[Settings],
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        idempotency_key: OptionalIdempotencyKey = None,
    ) -> Response[WebhookEndpointWithSecret]:
        async def produce() -> WebhookEndpointWithSecret:
            endpoint, secret = await svc.create_endpoint(
                db_session,
                url=data.url,
                description=data.description,
                event_types=data.event_types,
                owner=owner_of(principal),
                enabled_services=tenant.enabled_services,
                policy=egress.policy_from_settings(settings),
                secret_key=settings.secret_key,
                actor=actor,
                origin=origin,
            )
            return WebhookEndpointWithSecret(endpoint=endpoint, secret=secret)

        return await idempotent(request, db_session, idempotency_key, produce)

    @get(
        "/endpoints",
        operation_id="listWebhookEndpoints",
        summary="The caller's webhook endpoints (every endpoint of the LAO for its administrators)",
        responses=problem_responses(401, 403, 404, 410),
        **guarded(MANAGE),
    )
    async def list_endpoints(
        self,
        db_read: NamedDependency[ReadConnection],
        principal: NamedDependency[Principal],
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> WebhookEndpointList:
        after = decode_cursor(cursor, tuple[dt.datetime, uuid.UUID])
        rows = await svc.list_endpoints(db_read, owner_of(principal), after=after, limit=limit + 1)
        items, next_cursor = cut_page(rows, limit, key=lambda e: (e.created_at, e.id))
        return WebhookEndpointList(items=items, next_cursor=next_cursor)

    @get(
        "/endpoints/{endpoint_id:uuid}",
        operation_id="getWebhookEndpoint",
        summary="Show a webhook endpoint",
        responses=problem_responses(401, 403, 404, 410),
        **guarded(MANAGE),
    )
    async def get_endpoint(
        self, endpoint_id: EndpointId, db_read: NamedDependency[ReadConnection], principal: NamedDependency[Principal]
    ) -> svc.WebhookEndpointRead:
        return await svc.get_endpoint(db_read, endpoint_id, owner_of(principal))

    @patch(
        "/endpoints/{endpoint_id:uuid}",
        operation_id="updateWebhookEndpoint",
        summary="Change an endpoint's URL, events, description, or disable / enable it",
        responses=problem_responses(401, 403, 404, 410, 422),
        **guarded(MANAGE),
    )
    async def update(
        self,
        endpoint_id: EndpointId,
        data: JSONBody[WebhookEndpointUpdate],
        db_session: NamedDependency[AsyncSession],
        principal: NamedDependency[Principal],
        tenant: NamedDependency[TenantInfo],
        settings: NamedDependency[Settings],
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        if_match: IfMatch = None,
    ) -> svc.WebhookEndpointRead:
        require_match(if_match, await svc.get_endpoint(db_session, endpoint_id, owner_of(principal)))
        return await svc.update_endpoint(
            db_session,
            endpoint_id,
            owner=owner_of(principal),
            url=data.url,
            description=data.description,
            event_types=data.event_types,
            status=data.status,
            enabled_services=tenant.enabled_services,
            policy=egress.policy_from_settings(settings),
            actor=actor,
            origin=origin,
        )

    @delete(
        "/endpoints/{endpoint_id:uuid}",
        operation_id="deleteWebhookEndpoint",
        summary="Delete an endpoint (and its delivery log)",
        status_code=204,
        responses=problem_responses(401, 403, 404, 410),
        **guarded(MANAGE),
    )
    async def delete_endpoint(
        self,
        endpoint_id: EndpointId,
        db_session: NamedDependency[AsyncSession],
        principal: NamedDependency[Principal],
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
    ) -> None:
        await svc.delete_endpoint(db_session, endpoint_id, owner=owner_of(principal), actor=actor, origin=origin)

    @post(
        "/endpoints/{endpoint_id:uuid}/rotate-secret",
        operation_id="rotateWebhookSecret",
        summary="A new signing secret; the current one keeps signing alongside it for the overlap",
        status_code=200,
        cache_control=NO_STORE,
        responses=problem_responses(401, 403, 404, 410),
        **guarded(MANAGE),
    )
    async def rotate(
        self,
        endpoint_id: EndpointId,
        data: JSONBody[WebhookSecretRotate],
        db_session: NamedDependency[AsyncSession],
        principal: NamedDependency[Principal],
        settings: NamedDependency[Settings],
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
    ) -> WebhookEndpointWithSecret:
        endpoint, secret = await svc.rotate_secret(
            db_session,
            endpoint_id,
            owner=owner_of(principal),
            secret_key=settings.secret_key,
            overlap=dt.timedelta(seconds=data.overlap_s),
            actor=actor,
            origin=origin,
        )
        return WebhookEndpointWithSecret(endpoint=endpoint, secret=secret)

    @get(
        "/endpoints/{endpoint_id:uuid}/deliveries",
        operation_id="listWebhookDeliveries",
        summary="An endpoint's deliveries, oldest first",
        responses=problem_responses(401, 403, 404, 410),
        **guarded(MANAGE),
    )
    async def deliveries(
        self,
        endpoint_id: EndpointId,
        db_read: NamedDependency[ReadConnection],
        principal: NamedDependency[Principal],
        status: Annotated[DeliveryStatus | None, QueryParameter(description="Only this state")] = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> WebhookDeliveryList:
        after = decode_cursor(cursor, tuple[dt.datetime, uuid.UUID])
        rows = await svc.list_deliveries(
            db_read, endpoint_id, owner=owner_of(principal), status=status, after=after, limit=limit + 1
        )
        items, next_cursor = cut_page(rows, limit, key=lambda d: (d.created_at, d.id))
        return WebhookDeliveryList(items=items, next_cursor=next_cursor)

    @get(
        "/deliveries/{delivery_id:uuid}",
        operation_id="getWebhookDelivery",
        summary="A delivery with its body and every attempt (status, response excerpt, duration)",
        responses=problem_responses(401, 403, 404, 410),
        **guarded(MANAGE),
    )
    async def delivery(
        self, delivery_id: DeliveryId, db_read: NamedDependency[ReadConnection], principal: NamedDependency[Principal]
    ) -> svc.WebhookDeliveryDetail:
        return await svc.get_delivery(db_read, delivery_id, owner=owner_of(principal))

    @post(
        "/deliveries/{delivery_id:uuid}/replay",
        operation_id="replayWebhookDelivery",
        summary="Send a delivery's message again (same webhook-id), now",
        status_code=202,
        responses=problem_responses(401, 403, 404, 409, 410),
        **guarded(MANAGE),
    )
    async def replay(
        self,
        delivery_id: DeliveryId,
        db_session: NamedDependency[AsyncSession],
        principal: NamedDependency[Principal],
        tenant: NamedDependency[TenantInfo],
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
    ) -> svc.WebhookDeliveryRead:
        return await svc.replay_delivery(
            db_session, delivery_id, owner=owner_of(principal), actor=actor, origin=origin, tenant_id=tenant.id
        )


def webhook_handlers() -> list[Any]:
    return [WebhookController]
