"""The meter registry: every registered plugin's meters, collected from the contract, plus the
core meters the billing module computes itself."""

from __future__ import annotations

from collections.abc import Iterable

from localgov.kernel.plugins import ServicePlugin, UsageMeter

#: Days of the billing period the tenant was served (not suspended or closed), computed at invoice
#: time from the tenant catalog (``status`` and ``status_changed_at``), never from events.
ACTIVE_DAYS = UsageMeter(
    code="core.active_days", unit="day", title_th="จำนวนวันที่ใช้บริการ", title_en="Active days", aggregation="max"
)
#: Staff accounts with status ``active``, sampled once a day per tenant by the core job
#: ``core.billing_levels``; the period's quantity is the peak.
ACTIVE_STAFF = UsageMeter(
    code="core.active_staff_users",
    unit="user",
    title_th="จำนวนบัญชีเจ้าหน้าที่ที่ใช้งาน",
    title_en="Active staff users",
    aggregation="max",
)
#: Bytes of the tenant's stored files (attachments, uploaded documents: ``stored_files``),
#: sampled once a day per tenant; the period's quantity is the peak.
STORAGE_BYTES = UsageMeter(
    code="core.storage_bytes",
    unit="byte",
    title_th="พื้นที่จัดเก็บไฟล์ (ไบต์)",
    title_en="Storage used (bytes)",
    aggregation="max",
)
CORE_METERS: tuple[UsageMeter, ...] = (ACTIVE_DAYS, ACTIVE_STAFF, STORAGE_BYTES)
#: Meters computed by the billing module rather than aggregated from usage events.
COMPUTED = frozenset(m.code for m in CORE_METERS)


def meter_registry(plugins: Iterable[ServicePlugin]) -> dict[str, UsageMeter]:
    """Every meter a plan may price, by code: the core meters, then each plugin's."""
    registry = {m.code: m for m in CORE_METERS}
    for plugin in plugins:
        for meter in plugin.meters:
            if meter.code in registry:
                raise ValueError(f"meter {meter.code} is declared twice")
            registry[meter.code] = meter
    return registry
