"""The operator's billing module (DGA): meters, prices, subscriptions and invoices to the LAOs.

* ``pricing.py``: the pricing engine (pure functions over Decimal) and billing periods;
* ``meters.py``: the meter registry (every plugin's meters plus the core meters);
* ``models.py``: shared-schema tables; ``service.py``: usage aggregation, subscriptions, the
  invoice run, finalisation, numbering, payments, credit notes, reminders;
* ``views.py``: the billing administrators' API (operator host) and the LAO's own view.
"""
