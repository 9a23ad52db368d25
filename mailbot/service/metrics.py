"""`[serve] metrics_listen`: a loopback HTTP endpoint with `/healthz` and Prometheus `/metrics`.

The figures of the desk's work are read from the database at scrape time (a custom
collector, as the Prometheus client documents for state kept elsewhere), so every process
writing to one database is counted and two `serve`s scraped side by side agree. Only what
exists in this process alone, its SMTP sessions, is read from the running intake.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import text

from mailbot.app import App
from mailbot.store.db import session_scope
from mailbot.store.figures import read_figures

if TYPE_CHECKING:
    from mailbot.intake.smtp import SMTPIntake

log = logging.getLogger(__name__)

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


@dataclass
class Probes:
    """What the running services of one `serve` show the endpoint (set by each as it starts)."""

    smtp: SMTPIntake | None = None


class DatabaseCollector(Collector):
    """The desk's figures, read from the database at each scrape; `mailbot_up` 0 when it cannot be read."""

    def __init__(self, app: App) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("mailbot_up", "1 when the database could be read for this scrape, else 0")
        try:
            with session_scope(self.app.engine) as session:
                figures = read_figures(session)
        except Exception as exc:
            log.warning("metrics: cannot read the database: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield CounterMetricFamily(
            "mailbot_messages_stored", "Messages stored, from every intake and import", value=figures.stored
        )
        yield CounterMetricFamily(
            "mailbot_messages_processed", "Stored messages parsed and handed on", value=figures.processed
        )
        messages = GaugeMetricFamily(
            "mailbot_messages", "Stored messages by status (quarantined: waiting to be fixed)", labels=["status"]
        )
        for status, count in figures.messages.items():
            messages.add_metric([status], count)
        yield messages
        yield GaugeMetricFamily(
            "mailbot_messages_quarantined",
            "Messages quarantined (mailbot quarantine)",
            value=figures.messages["quarantined"],
        )
        outbox = GaugeMetricFamily("mailbot_outbox_messages", "Outbox messages by status", labels=["status"])
        for status, count in figures.outbox.items():
            outbox.add_metric([status], count)
        yield outbox
        yield GaugeMetricFamily("mailbot_reviews_open", "Reviews waiting for a person", value=figures.open_reviews)
        yield GaugeMetricFamily(
            "mailbot_processing_lag_seconds",
            "Age of the oldest stored message not yet processed (0: none waits)",
            value=figures.lag_seconds(self.app.now()),
        )


class SessionCollector(Collector):
    """This process's SMTP sessions: open now, accepted and refused (421) since start."""

    def __init__(self, probes: Probes) -> None:
        self.probes = probes

    def collect(self) -> Iterator[Metric]:
        smtp = self.probes.smtp
        if smtp is None:
            return
        yield GaugeMetricFamily("mailbot_smtp_sessions_open", "SMTP sessions open now", value=len(smtp.sessions))
        yield CounterMetricFamily(
            "mailbot_smtp_sessions", "SMTP sessions accepted since serve started", value=smtp.counts.accepted
        )
        yield CounterMetricFamily(
            "mailbot_smtp_sessions_refused",
            "SMTP connections refused (421, session limits) since serve started",
            value=smtp.counts.refused,
        )


def health(app: App) -> tuple[int, str]:
    """(HTTP status, body) of /healthz: 200 when the database answers, else 503 and why."""
    try:
        with session_scope(app.engine) as session:
            session.execute(text("SELECT 1"))
    except Exception as exc:
        return 503, f"database unavailable: {type(exc).__name__}\n"
    return 200, "ok\n"


def wsgi_app(app: App, probes: Probes) -> WsgiApp:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(app))
    registry.register(SessionCollector(probes))
    metrics = make_wsgi_app(registry)

    def route(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        if path == "/healthz":
            code, body = health(app)
            start_response(f"{code} {'OK' if code == 200 else 'Service Unavailable'}", [("Content-Type", "text/plain")])
            return [body.encode()]
        if path == "/metrics":
            return metrics(environ, start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"/healthz or /metrics\n"]

    return route


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a scrape under way does not hold up stopping


class _Server6(_Server):
    address_family = socket.AF_INET6


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # one line per scrape is noise
        log.debug("metrics: " + format, *args)


class MetricsEndpoint:
    """The HTTP server: bound in `start()` (so a taken port stops serve before any work), served in a thread."""

    def __init__(self, app: App, probes: Probes) -> None:
        assert app.settings.serve.metrics_listen is not None
        self.host, self.port = app.settings.serve.metrics_listen
        self.app, self.probes = app, probes
        self.server: _Server | None = None
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        try:
            self.server = make_server(
                self.host,
                self.port,
                wsgi_app(self.app, self.probes),
                server_class=_Server6 if ":" in self.host else _Server,
                handler_class=_QuietHandler,
            )
        except OSError as exc:  # name the setting: "cannot listen" alone does not say which port
            raise OSError(exc.errno, f"{exc.strerror} ([serve] metrics_listen {self.host}:{self.port})") from exc
        self.port = self.server.server_port  # the one bound, when 0 asked for any
        self.thread = threading.Thread(target=self.server.serve_forever, name="metrics", daemon=True)
        self.thread.start()
        log.info("metrics: http://%s:%d/metrics and /healthz", self.host, self.port)

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
        log.info("metrics: stopped")
