"""Outbound webhooks (Standard Webhooks): integrators and the LAO's administrators subscribe an
HTTPS endpoint to public events; the platform POSTs each event, signed, retried with backoff.

- **Which events.** A plugin marks an :class:`~localgov.kernel.events.EventType` public with its
  ``webhook`` name (``payments.bill_paid`` → ``bill.paid``). Nothing else is needed: the worker's
  fan-out gives every public event a ``webhooks`` copy (:data:`CONSUMER`), whose consumer
  (:func:`event_consumer`) writes one message (``msg_…``, the ``webhook-id``) and one delivery per
  active endpoint of the LAO subscribed to that name, each queued on :data:`DELIVER_TOPIC`.
- **Sending.** :func:`delivery_consumer` signs (``webhook-id``, ``webhook-timestamp``,
  ``webhook-signature: v1,<base64 HMAC-SHA256 of id.timestamp.body>``; during a secret rotation
  with both secrets) and POSTs through :mod:`localgov.kernel.egress`: the destination is checked
  against SSRF when registered **and** at every attempt (no private, loopback, link-local or
  metadata address; the checked address is the one connected to; no redirects). A 2xx succeeds;
  anything else is logged (status, 2 KiB of the body, duration) and retried after 5 s × 4^(n-1)
  until ``LOCALGOV_WEBHOOK_MAX_ATTEMPTS``; a 410 disables the endpoint.
- **Who.** An API client with the ``webhooks.manage`` scope manages its own endpoints and reads
  their delivery log; the LAO's administrators (``tenant_admin``) see and manage all of them.
  Another owner's endpoint or delivery is a 404. Replay re-sends a message (same ``webhook-id``).

docs/kernel/webhooks.md is the reference.
"""

from __future__ import annotations

from localgov.kernel.webhooks.service import (
    CONSUMER,
    DELIVER_TOPIC,
    MANAGE_SCOPE,
    PURGE_JOB,
    SCOPES,
    Owner,
    PublicEvent,
    delivery_consumer,
    event_consumer,
    public_event_codes,
    public_events,
    public_events_of,
    register_public_events,
    retry_delay,
)

__all__ = [
    "CONSUMER",
    "DELIVER_TOPIC",
    "MANAGE_SCOPE",
    "PURGE_JOB",
    "SCOPES",
    "Owner",
    "PublicEvent",
    "delivery_consumer",
    "event_consumer",
    "public_event_codes",
    "public_events",
    "public_events_of",
    "register_public_events",
    "retry_delay",
]
