"""Events between services: one service says what happened, any other reacts, through the outbox.

A plugin declares the events it publishes (:class:`EventType`: code ``<slug>.<name>``, Thai and
English titles, the msgspec struct of its payload) in its ``events``, and publishes them with
:func:`publish` in the transaction of the change itself: the event exists exactly when the change
was committed (a rolled-back payment publishes nothing). Another plugin subscribes by naming the
event's code in its ``handlers``; its handler reads the payload with :meth:`EventType.decode`.

Delivery is at least once, per subscriber. ``publish`` writes one outbox entry (the event, with no
consumer); the worker that claims it writes one copy per subscriber (``consumer`` = the
subscriber's slug) in the same transaction as the event's "delivered" mark, so each subscriber
retries, dies and succeeds on its own and one failing never holds back another. The fan-out is
done by the worker rather than by ``publish`` because the worker is where the subscribers are
known (the registry of plugins, the tenant's enabled services); the request that publishes needs
neither. A subscriber only receives the events of tenants that enabled its service (when the
event is fanned out; a service enabled later does not receive older events).

Payloads are JSON of the declared struct; :func:`publish` refuses anything else, and checks the
struct's constraints, so a subscriber can rely on the shape it decodes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from typing import Any, Generic, TypeVar

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.db import session_tenant_id
from localgov.kernel.outbox import Delivery, DeliveryHandler, OutboxEntry, add_entry, enqueue

EVENT_CODE_RE = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")

P = TypeVar("P", bound=msgspec.Struct)


class EventType(msgspec.Struct, Generic[P], frozen=True, kw_only=True):
    """Something a service announces (``<slug>.<name>``), with the struct its payload must be."""

    code: str
    title_th: str
    title_en: str
    payload: type[P]
    #: Its public name for integrators' webhooks (``bill.paid``); None: an internal event.
    #: A public event's payload is part of the API: change it only compatibly.
    webhook: str | None = None

    def decode(self, delivery: Delivery) -> P:
        """The payload of a delivered copy of this event, as its struct."""
        if delivery.topic != self.code:
            raise ValueError(f"entry {delivery.id} is a {delivery.topic!r}, not a {self.code!r}")
        return msgspec.convert(delivery.payload, self.payload)


class InvalidEventPayload(ValueError):
    """A payload that is not the declared struct of its event, or breaks its constraints."""


def encode_payload(event: EventType[P], payload: P) -> dict[str, Any]:
    """The JSON object stored for ``payload`` (checked against the event's struct)."""
    if type(payload) is not event.payload:
        raise InvalidEventPayload(f"{event.code} carries a {event.payload.__name__}, not a {type(payload).__name__}")
    data = msgspec.to_builtins(payload)
    try:
        # Constraints (msgspec.Meta) are checked when decoding, not when a struct is built.
        msgspec.convert(data, event.payload)
    except msgspec.ValidationError as exc:
        raise InvalidEventPayload(f"{event.code}: {exc}") from None
    if not isinstance(data, dict):  # pragma: no cover - a struct always encodes as an object
        raise InvalidEventPayload(f"{event.code}: the payload must be a JSON object")
    return data


async def publish(
    session: AsyncSession, event: EventType[P], payload: P, *, tenant_id: int | None = None
) -> OutboxEntry:
    """Announce ``event`` in the caller's transaction (for the session's tenant unless given)."""
    data = encode_payload(event, payload)
    return await enqueue(
        session, event.code, data, tenant_id=tenant_id if tenant_id is not None else session_tenant_id(session)
    )


class UnknownTenant(Exception):
    """The worker does not know the event's tenant yet (its catalog is behind): retried later."""


def fan_out(
    consumers: Collection[str],
    services_of: Callable[[int], Collection[str] | None],
    always: Collection[str] = (),
) -> DeliveryHandler:
    """The worker's handler of one event: a copy for each of ``consumers`` (subscribers' slugs)
    whose service the event's tenant has enabled (``services_of(tenant_id)``; None: unknown), and
    for each of ``always`` (the kernel's own consumers, such as the webhooks)."""
    ordered = sorted(set(consumers) - set(always))
    kernel = sorted(always)

    async def handler(delivery: Delivery) -> None:
        targets = ordered + kernel
        if delivery.tenant_id is not None:
            enabled = services_of(delivery.tenant_id)
            if enabled is None:
                raise UnknownTenant(f"tenant {delivery.tenant_id} is not in the worker's catalog")
            targets = [c for c in ordered if c in enabled] + kernel
        for consumer in targets:
            await add_entry(
                delivery.session, delivery.topic, delivery.payload, tenant_id=delivery.tenant_id, consumer=consumer
            )

    return handler


def fan_out_handlers(
    subscribers: Mapping[str, Mapping[str, DeliveryHandler]],
    event_codes: Collection[str],
    services_of: Callable[[int], Collection[str] | None],
    always: Mapping[str, Collection[str]] | None = None,
) -> dict[str, DeliveryHandler]:
    """One :func:`fan_out` per declared event (an event nobody subscribes to is simply marked
    delivered); ``always[code]``: the kernel consumers that get a copy of that event in any case."""
    kernel = always or {}
    return {code: fan_out(list(subscribers.get(code, {})), services_of, kernel.get(code, ())) for code in event_codes}
