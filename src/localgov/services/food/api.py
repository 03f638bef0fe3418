"""What other services may use of the food service: how to recognise its bills and documents.

The food service publishes no events of its own yet; it charges its fees through
``payments.api`` (``source = "food"``, ``source_key = food:<certificate id>:<BE year>``) and
registers its certificates in the kernel's register (kind ``food.certificate``).
"""

from __future__ import annotations

from localgov.services.food.billing import SOURCE
from localgov.services.food.certificates import DOCUMENT_KIND

__all__ = ["DOCUMENT_KIND", "SOURCE"]
