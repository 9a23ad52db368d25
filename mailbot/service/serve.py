"""`mailbot serve`: one process running a list of services on one asyncio loop.

A service is an async function `run(ctx)` that works until its stop event is
set, then finishes what it holds and returns. Intake services (SMTP, IMAP) are
stopped first; work services (processing, outbox, scheduler) after every intake
has returned, so what intake accepted last is still processed before exit.

To add a service, append one line to SERVICES, e.g.
    Service("scheduler", scheduler.service.run, stage="work"),
where `run(ctx)` returns when `ctx.stopping` is set. A `enabled(app)` that
returns False leaves it out (IMAP without a host, outbox without its module).

Start-up is checked before any work: the database is opened, then the intake
services start, and a service with `signals_start` (SMTP: once its port is bound)
sets `ctx.started`. Only when every intake has started do the work services run;
an intake that fails to start stops `serve` with its error, before any tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import signal
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

from mailbot.app import App
from mailbot.intake.pipeline import process_pending
from mailbot.service.metrics import MetricsEndpoint, Probes
from mailbot.store.write_gate import WriteGate

log = logging.getLogger(__name__)


@dataclass
class Context:
    """What a running service gets: the app, its stop signal, and a way to wake processing."""

    app: App
    stopping: asyncio.Event
    wakeup: asyncio.Event
    gate: WriteGate
    probes: Probes = field(default_factory=Probes)  # one per serve, shared by its services
    started: asyncio.Event = field(default_factory=asyncio.Event)
    loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.get_running_loop)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def wake(self) -> None:
        """New mail is stored: run processing now. Safe from any thread."""
        self.loop.call_soon_threadsafe(self.wakeup.set)

    def thread_stop(self) -> threading.Event:
        """A threading.Event that is set with `stopping`, for blocking code run in a thread."""
        event = threading.Event()

        async def mirror() -> None:
            await self.stopping.wait()
            event.set()

        task = self.loop.create_task(mirror())
        self._tasks.add(task)  # keep a reference: the loop holds tasks only weakly
        return event


Run = Callable[[Context], Awaitable[None]]


@dataclass(frozen=True)
class Service:
    name: str
    run: Run
    stage: Literal["intake", "work"] = "intake"
    enabled: Callable[[App], bool] = lambda app: True
    signals_start: bool = False  # sets ctx.started once ready; until then no work service runs


async def _sleep_or(event: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), seconds)


async def smtp_service(ctx: Context) -> None:
    from mailbot.intake.smtp import SMTPIntake

    intake = SMTPIntake(ctx.app, ctx.wake, ctx.gate)
    await intake.start()
    ctx.probes.smtp = intake
    ctx.started.set()
    await ctx.stopping.wait()
    await intake.stop(grace=ctx.app.settings.smtp.shutdown_grace)


async def metrics_service(ctx: Context) -> None:
    endpoint = MetricsEndpoint(ctx.app, ctx.probes)
    endpoint.start()
    ctx.started.set()
    await ctx.stopping.wait()
    endpoint.stop()


async def imap_service(ctx: Context) -> None:
    from mailbot.intake.imap_watch import watch_all

    await asyncio.to_thread(watch_all, ctx.app, ctx.thread_stop(), ctx.wake)


async def processing_service(ctx: Context) -> None:
    """Parse and hand on stored-but-new messages: at start (what a crash left), on wake, and by poll."""
    interval = ctx.app.settings.serve.poll_interval
    backoff = 1.0
    while True:
        ctx.wakeup.clear()
        try:
            done = await asyncio.to_thread(_process_some, ctx)
            backoff = 1.0
        except Exception:
            log.exception("processing failed; retrying in %.0fs", backoff)
            if ctx.stopping.is_set():
                return
            await _sleep_or(ctx.stopping, backoff)
            backoff = min(backoff * 2, 60.0)
            continue
        if done:
            log.debug("processed %d message(s)", done)  # each has its own INFO line
            continue
        if ctx.stopping.is_set():
            return
        waiter = asyncio.ensure_future(ctx.wakeup.wait())
        stopper = asyncio.ensure_future(ctx.stopping.wait())
        await asyncio.wait({waiter, stopper}, timeout=interval, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        stopper.cancel()


def _process_some(ctx: Context, limit: int = 100) -> int:
    """Process up to `limit` messages, one per pass through the gate, so intake can cut in."""
    done = 0
    while done < limit:
        with ctx.gate.work():
            if not process_pending(ctx.app, ctx.app.now(), limit=1):
                break
        done += 1
    return done


def _outbox_deliver() -> Callable[..., object] | None:
    try:
        module = importlib.import_module("mailbot.outbound.outbox")
    except ImportError:
        return None
    return getattr(module, "deliver_pending", None)


async def outbox_service(ctx: Context) -> None:
    """Send what the outbox holds, every `[serve] poll_interval` seconds, and once more at stop."""
    deliver = _outbox_deliver()
    assert deliver is not None
    from mailbot.outbound.transport import transport_from_config

    transport = transport_from_config(ctx.app.settings)
    interval = ctx.app.settings.serve.poll_interval
    while True:
        try:
            await asyncio.to_thread(deliver, ctx.app.engine, transport, ctx.app.now(), mail=ctx.app.mail)
        except Exception:
            log.exception("outbox delivery failed; will retry")
        if ctx.stopping.is_set():
            return
        await _sleep_or(ctx.stopping, interval)


def _imap_configured(app: App) -> bool:
    return bool(app.settings.imap.host)


async def scheduler_service(ctx: Context) -> None:
    from mailbot.scheduler.service import run as run_scheduler

    await run_scheduler(ctx)


SERVICES: list[Service] = [
    Service("smtp", smtp_service, enabled=lambda app: app.settings.smtp.listen is not None, signals_start=True),
    Service("imap", imap_service, enabled=_imap_configured),
    Service(
        "metrics",
        metrics_service,
        enabled=lambda app: app.settings.serve.metrics_listen is not None,
        signals_start=True,
    ),
    Service("processing", processing_service, stage="work"),
    Service("outbox", outbox_service, stage="work", enabled=lambda app: _outbox_deliver() is not None),
    Service("scheduler", scheduler_service, stage="work", enabled=lambda app: app.settings.schedule.enabled),
]


async def serve(app: App, services: list[Service] | None = None) -> None:
    """Run the enabled services until SIGTERM or SIGINT; then stop intake, then work."""
    chosen = [s for s in (SERVICES if services is None else services) if s.enabled(app)]
    stop_intake, stop_work = asyncio.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop_intake.set)
    app.engine  # noqa: B018 - connect and create the schema before accepting anything

    wakeup = asyncio.Event()
    gate = WriteGate(enabled=app.engine.dialect.name == "sqlite")
    probes = Probes()
    tasks: dict[asyncio.Task[None], Service] = {}
    for stage, stopping in (("intake", stop_intake), ("work", stop_work)):
        starting = []
        for s in (s for s in chosen if s.stage == stage):
            ctx = Context(app, stopping, wakeup, gate, probes)
            if not s.signals_start:
                ctx.started.set()
            task = asyncio.create_task(_supervised(s, ctx), name=s.name)
            tasks[task] = s
            starting.append((task, ctx.started))
        if stage == "intake":
            await _until_started(starting, stop_intake)
    log.info("serving: %s", ", ".join(s.name for s in chosen))
    # Run until asked to stop, or until a service fails (then stop the others too).
    stopper = asyncio.create_task(stop_intake.wait())
    await asyncio.wait({stopper, *tasks}, return_when=asyncio.FIRST_COMPLETED)
    stop_intake.set()
    log.info("stopping: intake first, then work")
    await asyncio.wait([t for t, s in tasks.items() if s.stage == "intake"] or [stopper])
    stop_work.set()
    wakeup.set()
    await asyncio.wait(list(tasks))
    failed = [s.name for t, s in tasks.items() if t.exception() is not None]
    if failed:
        raise RuntimeError(f"service(s) failed: {', '.join(failed)}")
    log.info("stopped cleanly")


async def _until_started(starting: list[tuple[asyncio.Task[None], asyncio.Event]], stop: asyncio.Event) -> None:
    """Wait until each task has started; if one fails first, stop the others and raise its error."""
    for task, started in starting:
        waiter = asyncio.ensure_future(started.wait())
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if task.done() and not started.is_set():
            stop.set()
            await asyncio.wait([t for t, _ in starting])
            error = task.exception()
            raise error if error is not None else RuntimeError(f"service {task.get_name()} did not start")


async def _supervised(service: Service, ctx: Context) -> None:
    try:
        await service.run(ctx)
        if not ctx.stopping.is_set():
            raise RuntimeError("returned before it was asked to stop")
    except Exception:
        if ctx.started.is_set():  # a failure to start is raised by serve() and reported there, in one line
            log.exception("service %s failed", service.name)
        raise


def run(app: App) -> None:
    asyncio.run(serve(app))
