"""The scheduler inside `mailbot serve`: APScheduler only triggers `run_due`.

APScheduler 3 cannot share a job store between processes (its FAQ says so), so
its job store here is in memory and holds one job: "every `[schedule]
tick_seconds`, run the due work". What is due, and whether it was done, lives in
the database (`scheduler.jobs`), so several `serve` instances on one PostgreSQL
database, restarts and missed runs all send each notice once.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from mailbot.scheduler import jobs

from mailbot.app import App

if TYPE_CHECKING:  # the service layer sits above the scheduler: its type only
    from mailbot.service.serve import Context

log = logging.getLogger(__name__)
# APScheduler logs every run at INFO: once a minute is noise; our tick logs what it did.
logging.getLogger("apscheduler.executors.default").setLevel(logging.WARNING)


def tick(app: App) -> None:
    try:
        summary = jobs.run_due(app)
    except Exception:
        log.exception("scheduler tick failed; will retry at the next trigger")
        return
    done = {k: v for k, v in summary.as_dict().items() if v}
    if done:
        log.info("scheduler: %s", done)


def make_scheduler(app: App) -> BackgroundScheduler:
    seconds = app.settings.schedule.tick_seconds
    scheduler = BackgroundScheduler(
        jobstores={"default": MemoryJobStore()}, executors={"default": ThreadPoolExecutor(1)}, timezone="UTC"
    )
    # coalesce + one instance: after a stall, one run catches up (run_due itself sends
    # only the latest reminder), never a queue of overlapping runs.
    scheduler.add_job(
        tick,
        "interval",
        args=[app],
        seconds=seconds,
        id="run_due",
        coalesce=True,
        max_instances=1,
        misfire_grace_time=None,
        next_run_time=datetime.now(UTC),
    )  # first run at start
    return scheduler


async def run(ctx: Context) -> None:  # a mailbot.serve service
    scheduler = make_scheduler(ctx.app)
    scheduler.start()
    log.info("scheduler: run_due every %ss", ctx.app.settings.schedule.tick_seconds)
    try:
        await ctx.stopping.wait()
    finally:
        # Let a running tick finish its transaction, without blocking the other services' loop.
        await asyncio.to_thread(scheduler.shutdown, True)
