"""The LAO's own rules for building permits (one row, ``permits_settings``): eligibility rules per
area type, the fee table, the time limits and the options; seeded with DOMAIN.md's values for a
new LAO, read on every submission, assessment and issue, replaced as a whole by the LAO.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterable

import msgspec
from sqlalchemy import bindparam, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.audit import Actor, Origin, record_audit
from localgov.kernel.errors import DomainError
from localgov.kernel.reads import Reader, fetch_one
from localgov.kernel.storage import (
    BlobStore,
    FileOwner,
    StoredFileRead,
    UploadLimits,
    list_files,
    open_file,
    store_upload,
)
from localgov.services.permits.deadlines import DeadlineRules
from localgov.services.permits.eligibility import DEFAULT_RULES, AreaRules
from localgov.services.permits.fees import DEFAULT_FEES, FeeTable, table_problems
from localgov.services.permits.models import PermitSettings

_S = PermitSettings.__table__.c
_SETTINGS = select(
    _S.rules,
    _S.fees,
    _S.deadlines,
    _S.default_area_type,
    _S.issue_before_payment,
    _S.validity_days,
    _S.fee_due_days,
    _S.thai_digits,
).where(_S.id == bindparam("id"))

#: What DOMAIN.md marks "verify": defaults an LAO's legal officer confirms, never logic.
VERIFY = [
    "fees.plan_check[*].rate_per_m2 (MR 7: 0.50 / 2.00 / 4.00 baht per m² by height class)",
    "fees.permit_fee (MR 70 B.E. 2564: construct 200, alter 100, demolish 50, move 50, change of use 200;"
    " the residential rate)",
    "deadlines (s.25: 45 days, at most two extensions of 45 days each, counted here as working days)",
    "validity_days (how long a permit อ.1 and each renewal is valid)",
]


class PermitConfig(msgspec.Struct, frozen=True, kw_only=True):
    rules: dict[str, AreaRules]
    fees: FeeTable
    deadlines: DeadlineRules
    default_area_type: str
    issue_before_payment: bool = False
    validity_days: int = 365
    fee_due_days: int = 30
    thai_digits: bool = False


DEFAULT_CONFIG = PermitConfig(
    rules=dict(DEFAULT_RULES), fees=DEFAULT_FEES, deadlines=DeadlineRules(), default_area_type="sao"
)


class SettingsInvalid(DomainError):
    code = "permits_settings_invalid"
    status = 422
    title = "การตั้งค่าไม่ถูกต้อง / The permit settings are not valid"


def _row(config: PermitConfig) -> dict[str, object]:
    return {
        "rules": msgspec.to_builtins({k: v for k, v in config.rules.items()}),
        "fees": msgspec.to_builtins(config.fees),
        "deadlines": msgspec.to_builtins(config.deadlines),
        "default_area_type": config.default_area_type,
        "issue_before_payment": config.issue_before_payment,
        "validity_days": config.validity_days,
        "fee_due_days": config.fee_due_days,
        "thai_digits": config.thai_digits,
    }


async def seed_settings(session: AsyncSession) -> None:
    """The defaults of a new LAO (idempotent: an LAO's own settings are kept)."""
    await session.execute(
        pg_insert(PermitSettings).values(id=1, **_row(DEFAULT_CONFIG)).on_conflict_do_nothing(index_elements=["id"])
    )


async def load_config(reader: Reader) -> PermitConfig:
    """The LAO's settings (the defaults if the row is missing)."""
    row = await fetch_one(reader, _SETTINGS, {"id": 1})
    if row is None:
        return DEFAULT_CONFIG
    return msgspec.convert(dict(row), PermitConfig, strict=False)


def config_problems(config: PermitConfig) -> list[str]:
    problems = table_problems(config.fees)
    if not config.rules:
        problems.append("rules: at least one area type")
    if config.default_area_type not in config.rules:
        problems.append("default_area_type must be one of the rules' area types")
    for code, rules in config.rules.items():
        if rules.max_floor_area_m2 <= 0 or rules.max_floor_area_m2 > 150:
            problems.append(f"rules.{code}.max_floor_area_m2: above 0 and at most 150 (this service's scope)")
        if rules.engineer_min_storeys < 1 or rules.mr56_residence_max_storeys < 1:
            problems.append(f"rules.{code}: storeys are at least 1")
    d = config.deadlines
    if not 1 <= d.decision_days <= 200 or not 1 <= d.extension_days <= 200 or not 0 <= d.max_extensions <= 5:
        problems.append("deadlines: decision_days and extension_days 1-200, max_extensions 0-5")
    return problems


async def save_config(session: AsyncSession, config: PermitConfig, *, actor: Actor, origin: Origin) -> PermitConfig:
    """Replace the LAO's settings (422 ``permits_settings_invalid`` with every problem)."""
    problems = config_problems(config)
    if problems:
        raise SettingsInvalid("; ".join(problems), data={"problems": problems})
    values = _row(config)
    await session.execute(
        pg_insert(PermitSettings)
        .values(id=1, **values)
        .on_conflict_do_update(index_elements=["id"], set_={**values, "updated_at": func.now()})
    )
    await record_audit(session, "permits.settings_changed", actor=actor, origin=origin, target="permits.settings")
    return config


# --- the LAO's emblem on its permits ----------------------------------------------------------------------

#: The emblem printed at the head of the permit (ตราสัญลักษณ์): the newest file of this owner.
EMBLEM_OWNER = FileOwner("permits.emblem", "lao")
EMBLEM_LIMITS = UploadLimits(max_bytes=1024 * 1024, types=("png", "jpeg"))


async def set_emblem(
    session: AsyncSession,
    store: BlobStore,
    data: bytes | AsyncIterable[bytes],
    *,
    filename: str,
    actor: Actor,
    origin: Origin,
    now: dt.datetime | None = None,
) -> StoredFileRead:
    """Keep the LAO's emblem (PNG or JPEG, at most 1 MiB, type by content); the newest is printed."""
    stored = await store_upload(
        session,
        store,
        data=data,
        filename=filename,
        owner=EMBLEM_OWNER,
        uploaded_by=actor,
        limits=EMBLEM_LIMITS,
        now=now,
    )
    await record_audit(
        session,
        "permits.emblem_set",
        actor=actor,
        origin=origin,
        target="permits.settings",
        data={"sha256": stored.sha256},
    )
    return stored


async def emblem(reader: Reader, store: BlobStore) -> bytes | None:
    """The bytes of the LAO's newest emblem (None when it has uploaded none)."""
    files = await list_files(reader, EMBLEM_OWNER)
    if not files:
        return None
    opened = await open_file(reader, store, files[-1].id, owner=EMBLEM_OWNER)
    return await opened.chunks.read_all()
