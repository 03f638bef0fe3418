"""HTTP endpoints of the notices the deadlines send: the LAO's settings, the record of a case's
notices, the result notices flagged late, and staff's own deliveries of a notice."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from litestar import Controller, get, post, put
from litestar.di import NamedDependency
from litestar.params import JSONBody, PathParameter, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from localgov.kernel.audit import Actor, Origin
from localgov.kernel.auth.guards import guarded
from localgov.kernel.errors import problem_responses
from localgov.kernel.pagination import Cursor, Limit, cut_page, decode_cursor, id_cursor, next_id_cursor
from localgov.kernel.reads import ReadConnection
from localgov.services.oss import notices
from localgov.services.oss.notices import (
    HandDeliveryRecord,
    NoticeList,
    NoticeRead,
    NoticeSettingsRead,
    NoticeSettingsUpdate,
)
from localgov.services.oss.params import COUNTER, MANAGE, READ, STAFF_ERRORS

TAG = "OSS: notices"
NoticeId = Annotated[uuid.UUID, PathParameter(description="The notice's id")]
CaseFilter = Annotated[uuid.UUID, QueryParameter(description="The case whose notices are listed")]


class NoticeSettingsController(Controller):
    path = "/notice-settings"
    tags = [TAG]

    @get(
        "/",
        operation_id="getOssNoticeSettings",
        summary="The LAO's settings of delay and result notices (the Act's defaults until saved)",
        responses=problem_responses(*STAFF_ERRORS),
        **guarded(MANAGE),
    )
    async def fetch(self, db_read: NamedDependency[ReadConnection]) -> NoticeSettingsRead:
        return await notices.notice_settings(db_read)

    @put(
        "/",
        operation_id="updateOssNoticeSettings",
        summary="Set where copies for the OPDC go, and the days between delay notices and to notify a result",
        description="Every field at once: `opdc_email` (null: copies recorded for the report only), `opdc_copies`, "
        "`delay_every_days` and `result_within_days` (1-30; the Act: 7). Audited.",
        responses=problem_responses(*STAFF_ERRORS),
        **guarded(MANAGE),
    )
    async def update(
        self,
        data: JSONBody[NoticeSettingsUpdate],
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        db_session: NamedDependency[AsyncSession],
    ) -> NoticeSettingsRead:
        return await notices.update_notice_settings(db_session, data, actor=actor, origin=origin)


class NoticeController(Controller):
    path = "/notices"
    tags = [TAG]

    @get(
        "/",
        operation_id="listOssCaseNotices",
        summary="The notices of a case, oldest first: delay notices and their OPDC copies, the result, escalations",
        responses=problem_responses(*STAFF_ERRORS),
        **guarded(READ),
    )
    async def of_case(
        self,
        case_id: CaseFilter,
        db_read: NamedDependency[ReadConnection],
        cursor: Cursor = None,
        limit: Limit = 50,
    ) -> NoticeList:
        after = decode_cursor(cursor, tuple[dt.datetime, str, str, uuid.UUID])
        rows = await notices.case_notices(db_read, case_id, after=after, limit=limit + 1)
        items, next_cursor = cut_page(rows, limit, key=notices.case_notice_key)
        return NoticeList(items=items, next_cursor=next_cursor)

    @get(
        "/late-results",
        operation_id="listOssLateResultNotices",
        summary="Result notices not notified within the time allowed (flagged by the sweep), latest first",
        responses=problem_responses(*STAFF_ERRORS),
        **guarded(READ),
    )
    async def late(
        self, db_read: NamedDependency[ReadConnection], cursor: Cursor = None, limit: Limit = 50
    ) -> NoticeList:
        items = await notices.late_results(db_read, after=id_cursor(cursor), limit=limit)
        return NoticeList(items=items, next_cursor=next_id_cursor(items, limit))

    @get(
        "/{notice_id:uuid}",
        operation_id="getOssCaseNotice",
        summary="One notice",
        responses=problem_responses(*STAFF_ERRORS),
        **guarded(READ),
    )
    async def fetch(self, notice_id: NoticeId, db_read: NamedDependency[ReadConnection]) -> NoticeRead:
        return await notices.notice(db_read, notice_id)

    @post(
        "/{notice_id:uuid}/hand-delivery",
        status_code=200,
        operation_id="recordOssNoticeHandDelivery",
        summary="Record that the LAO delivered a notice itself (a letter, in person, by phone) on a day",
        description="For a notice without an e-mail address, or one that did not reach the applicant. A result "
        "notice is then notified on that day, or flagged when the day is after the time allowed. 409 "
        "`notice_already_delivered`; 422 `invalid_input` (`on` before the day the notice is about, or after today).",
        responses=problem_responses(*STAFF_ERRORS, 409, 422),
        **guarded(COUNTER),
    )
    async def hand_delivery(
        self,
        notice_id: NoticeId,
        data: JSONBody[HandDeliveryRecord],
        actor: NamedDependency[Actor],
        origin: NamedDependency[Origin],
        db_session: NamedDependency[AsyncSession],
    ) -> NoticeRead:
        return await notices.record_hand_delivery(
            db_session, notice_id, data, actor=actor, origin=origin, now=dt.datetime.now(dt.UTC)
        )
