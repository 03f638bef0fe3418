"""A real ``localgov`` worker in a process of its own, for the kill test of the outbox.

Usage: ``python worker_child.py DATABASE_URL OUT_FILE DELAY_S BATCH_SIZE [STALL_AFTER]``.

The worker carries one test plugin whose consumer of ``killtest.work``

* counts the delivery in ``killtest.seen`` (keyed by the entry id) in the claiming transaction,
  so that write commits exactly when the entry is marked delivered;
* spends ``DELAY_S`` in the database (a slow-ish consumer, so a kill lands inside a batch);
* appends the entry id to ``OUT_FILE``: an effect outside the database, which a killed batch
  repeats after the restart;
* with ``STALL_AFTER``, hangs (inside its batch) after that many deliveries of this process, so
  the test can kill it mid-batch without racing the clock.

SIGTERM (or SIGINT) stops the worker after its current batch.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Sequence

from litestar import Router
from sqlalchemy import text

from localgov.kernel.observability import configure_logging
from localgov.kernel.outbox import Delivery
from localgov.kernel.plugins import ServicePlugin
from localgov.settings import Settings
from localgov.worker import run_worker

TOPIC = "killtest.work"
#: What the test creates before starting the worker.
SETUP_SQL = (
    "CREATE SCHEMA killtest",
    "CREATE TABLE killtest.seen (entry_id bigint PRIMARY KEY, times integer NOT NULL)",
)


def make_plugin(out_fd: int, delay_s: float, stall_after: int | None = None) -> ServicePlugin:
    handled = 0

    async def consume(delivery: Delivery) -> None:
        nonlocal handled
        await delivery.session.execute(
            text(
                "INSERT INTO killtest.seen AS s (entry_id, times) VALUES (:id, 1)"
                " ON CONFLICT (entry_id) DO UPDATE SET times = s.times + 1"
            ),
            {"id": delivery.id},
        )
        await delivery.session.execute(text("SELECT pg_sleep(:s)"), {"s": delay_s})
        # Unbuffered: once written, a SIGKILL cannot take it back.
        os.write(out_fd, f"{delivery.id}\n".encode())
        handled += 1
        if handled == stall_after:
            await asyncio.sleep(3600)  # waiting to be killed

    return ServicePlugin(
        slug="killtest",
        title_th="ทดสอบการหยุดกะทันหัน",
        title_en="Kill test",
        router=Router(path="/v1/killtest", route_handlers=[]),
        handlers={TOPIC: consume},
    )


def main(argv: Sequence[str]) -> int:
    database_url, out_file = argv[1], argv[2]
    delay_s, batch_size = float(argv[3]), int(argv[4])
    stall_after = int(argv[5]) if len(argv) > 5 else None
    settings = Settings(
        database_url=database_url,
        env="test",
        base_domain="localgov.test",
        log_level="INFO",
        worker_poll_s=0.05,
        worker_batch_size=batch_size,
    )
    configure_logging(settings.log_level, json=True)
    out_fd = os.open(out_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        run_worker(settings, [make_plugin(out_fd, delay_s, stall_after)])
    finally:
        os.close(out_fd)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
