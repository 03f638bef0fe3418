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
CORE_METERS: tuple[UsageMeter, ...] = (ACTIVE_DAYS,)
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
