"""``Idempotency-Key`` for POSTs that create money objects: the same key and body replay the
stored response; the same key with another body is refused (422); a key still in flight is 409."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, Integer, LargeBinary, PrimaryKeyConstraint, String, func
from sqlalchemy.orm import Mapped, mapped_column

from localgov.kernel.db import TenantBase


class IdempotencyRecord(TenantBase):
    """A request seen with an ``Idempotency-Key``, per caller, and the response it got."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (PrimaryKeyConstraint("principal", "key"),)

    #: ``<kind>:<subject>`` of the caller: keys of different callers never collide.
    principal: Mapped[str] = mapped_column(String(150))
    key: Mapped[str] = mapped_column(String(100))
    #: SHA-256 of method, path and body.
    request_hash: Mapped[str] = mapped_column(String(64))
    #: ``in_flight`` until the response is stored, then ``done``.
    status: Mapped[str] = mapped_column(String(10))
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
