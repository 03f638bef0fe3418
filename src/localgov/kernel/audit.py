"""The audit log (บันทึกการตรวจสอบ) of each tenant: who did what, when, from where."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
from sqlalchemy import BigInteger, DateTime, Identity, Index, String, func, insert
from sqlalchemy.dialects.postgresql import INET, JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from localgov.kernel.db import SharedBase, TenantBase


class _AuditColumns:
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    occurred_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    #: ``staff``, ``citizen``, ``client``, ``operator``, ``system`` or ``anonymous``.
    actor_kind: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str | None] = mapped_column(String(100))
    #: A stable verb: ``login.succeeded``, ``token.issued``, ``role.granted`` …
    action: Mapped[str] = mapped_column(String(60))
    target: Mapped[str | None] = mapped_column(String(200))
    source_ip: Mapped[str | None] = mapped_column(INET)
    request_id: Mapped[str | None] = mapped_column(String(128))
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")


class AuditEvent(_AuditColumns, TenantBase):
    """One audited action in a tenant."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_occurred_at", "occurred_at"),)


class OperatorAuditEvent(_AuditColumns, SharedBase):
    """One audited action of the platform operator's staff (shared schema)."""

    __tablename__ = "operator_audit_events"
    __table_args__ = (Index("ix_operator_audit_events_occurred_at", "occurred_at"),)


class Actor(msgspec.Struct, frozen=True):
    """Who acted: a principal kind and its id (None for anonymous or system)."""

    #: One of :data:`localgov.kernel.auth.tokens.AuditActorKind`.
    kind: str
    id: str | None = None


class Origin(msgspec.Struct, frozen=True):
    """Where a request came from."""

    source_ip: str | None = None
    request_id: str | None = None


async def record_audit(
    session: AsyncSession,
    action: str,
    *,
    actor: Actor,
    origin: Origin,
    target: str | None = None,
    data: dict[str, Any] | None = None,
    operator: bool = False,
) -> None:
    """Write one audit event in the caller's transaction (the tenant's log, or the operator's)."""
    table = OperatorAuditEvent if operator else AuditEvent
    await session.execute(
        insert(table).values(
            actor_kind=actor.kind,
            actor_id=actor.id,
            action=action,
            target=target,
            source_ip=origin.source_ip,
            request_id=origin.request_id,
            data=data or {},
        )
    )
