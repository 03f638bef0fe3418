"""The explicit registry of public-service plugins.

Each service (One Stop Service, building permits, food-premises certificates, QR fee payments,
e-Saraban) is added here by the issue that builds it; nothing is discovered implicitly.
"""

from __future__ import annotations

from localgov.kernel.plugins import ServicePlugin
from localgov.services.food import PLUGIN as FOOD
from localgov.services.oss import PLUGIN as OSS
from localgov.services.payments import PLUGIN as PAYMENTS
from localgov.services.permits import PLUGIN as PERMITS
from localgov.services.saraban import PLUGIN as SARABAN

REGISTRY: tuple[ServicePlugin, ...] = (PAYMENTS, OSS, PERMITS, FOOD, SARABAN)
