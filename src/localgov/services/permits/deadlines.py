"""The legal time of a decision, in working days (pure arithmetic over ``kernel.calendar``).

Building Control Act s.25 (DOMAIN.md §2, "verify"): the local official decides within 45 days of
a complete application; the time may be extended at most twice, by at most 45 days each, each
extension notified to the applicant in writing with its reasons **before** the running deadline
expires. This platform counts those days as working days of the LAO's calendar (weekends, the
government's holidays and the LAO's own days off are not counted), from the day the application
was found complete (that day not counted, as the Civil and Commercial Code s.193/3 counts).
The figures are the LAO's settings (``decision_days``, ``extension_days``, ``max_extensions``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import msgspec

from localgov.kernel.calendar import WorkingCalendar
from localgov.kernel.errors import Conflict, DomainError


class DeadlineRules(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    decision_days: int = 45
    extension_days: int = 45
    max_extensions: int = 2


class ExtensionRefused(Conflict):
    code = "permits_extension_refused"
    title = "ขยายระยะเวลาพิจารณาไม่ได้ / The decision time cannot be extended"


class ExtensionInvalid(DomainError):
    code = "permits_extension_invalid"
    status = 422
    title = "จำนวนวันที่ขยายไม่ถูกต้อง / The extension is not valid"


def decision_due(
    calendar: WorkingCalendar, complete_on: dt.date, rules: DeadlineRules, extensions: Sequence[int]
) -> dt.date:
    """The last day of the decision: ``decision_days`` working days after ``complete_on``, plus
    every extension granted (working days, each counted on from the previous deadline)."""
    return calendar.add_working_days(complete_on, rules.decision_days + sum(extensions))


def extend(
    calendar: WorkingCalendar,
    complete_on: dt.date,
    rules: DeadlineRules,
    extensions: Sequence[int],
    days: int,
    today: dt.date,
) -> dt.date:
    """The new deadline after one more extension of ``days`` asked on ``today``; refused when the
    extensions are used up, when ``today`` is after the running deadline, or for a bad ``days``."""
    if not 1 <= days <= rules.extension_days:
        raise ExtensionInvalid(
            f"An extension is 1 to {rules.extension_days} working days.",
            data={"days": days, "max_days": rules.extension_days},
        )
    running = decision_due(calendar, complete_on, rules, extensions)
    if len(extensions) >= rules.max_extensions:
        raise ExtensionRefused(
            f"At most {rules.max_extensions} extensions.",
            data={"reason": "no_extensions_left", "granted": len(extensions), "due_on": running.isoformat()},
        )
    if today > running:
        raise ExtensionRefused(
            "The running deadline has passed: an extension must be notified before it expires.",
            data={"reason": "deadline_passed", "due_on": running.isoformat()},
        )
    return decision_due(calendar, complete_on, rules, [*extensions, days])
