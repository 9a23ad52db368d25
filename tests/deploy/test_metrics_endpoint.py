"""`[serve] metrics_listen`: /healthz and Prometheus /metrics, scraped over HTTP from real `mailbot serve`s."""

from __future__ import annotations

import smtplib
import socket
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.mailbot_proc import MAILBOT, Server, free_port, mailbot_env, message, stored, wait_for
from helpers.paths import SAMPLE
from prometheus_client.parser import text_string_to_metric_families

from mailbot.app import build_app
from mailbot.config import ConfigError, load
from mailbot.service.metrics import health


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics, parsed by the Prometheus client's own parser: (name, labels) -> value."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        body = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def answering(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


@pytest.fixture
def two_serves(pg_url: str, tmp_path: Path) -> Iterator[tuple[Server, int, Server, int]]:
    """Two `mailbot serve` on one PostgreSQL database, each with its own metrics port."""
    ports = free_port(), free_port()
    servers = []
    try:
        for port in ports:
            servers.append(Server(pg_url, tmp_path, serve_metrics_listen=f"127.0.0.1:{port}", mail_secret="s"))
            wait_for(lambda port=port: answering(port), f"metrics on {port}")
        yield servers[0], ports[0], servers[1], ports[1]
    finally:
        for server in servers:
            server.close()


def test_two_serves_on_one_database_report_the_same_figures_over_http(
    two_serves: tuple[Server, int, Server, int], pg_url: str, tmp_path: Path
) -> None:
    first, first_port, second, second_port = two_serves
    assert get(first_port, "/healthz") == (200, "ok\n")
    with smtplib.SMTP("127.0.0.1", first.port, timeout=60) as client:
        client.sendmail("noc@carrier.example", ["tb+2640@mailbot.localhost"], message(1, "metrics"))
    # A third process writing to the same database: `mailbot receive`, as Postfix's pipe runs it.
    piped = subprocess.run(
        [*MAILBOT, "receive"],
        cwd=tmp_path,
        env=mailbot_env(pg_url, mail_secret="s"),
        input=(SAMPLE / "001.eml").read_bytes(),
        capture_output=True,
        timeout=120,
    )
    assert piped.returncode == 0, piped.stderr
    wait_for(lambda: all(status != "new" for *_, status in stored(pg_url)), "both messages processed")

    one, other = scrape(first_port), scrape(second_port)
    for figures in (one, other):
        assert figures[("mailbot_up", ())] == 1
        assert figures[("mailbot_messages_stored_total", ())] == 2
        assert figures[("mailbot_messages_processed_total", ())] == 2
        assert figures[("mailbot_messages_quarantined", ())] == 0
        assert figures[("mailbot_processing_lag_seconds", ())] == 0
        assert figures[("mailbot_messages", (("status", "new"),))] == 0
        assert ("mailbot_outbox_messages", (("status", "failed"),)) in figures
        assert ("mailbot_reviews_open", ()) in figures
    # The figures from the database agree; the SMTP sessions are each process's own.
    shared = {key: value for key, value in one.items() if not key[0].startswith("mailbot_smtp_")}
    assert shared == {key: value for key, value in other.items() if not key[0].startswith("mailbot_smtp_")}
    # Each had the one connection Server makes to see it listening; the first, our SMTP session too.
    assert one[("mailbot_smtp_sessions_total", ())] == 2 and other[("mailbot_smtp_sessions_total", ())] == 1
    assert one[("mailbot_smtp_sessions_open", ())] == 0
    assert get(first_port, "/nothing-here")[0] == 404
    assert "metrics: http://127.0.0.1" in first.output()
    assert first.terminate() == 0 and second.terminate() == 0


def test_healthz_is_503_when_the_database_cannot_be_reached(tmp_path: Path) -> None:
    dead = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/test?connect_timeout=5"
    app = build_app(load(database_url=dead, environ={}))
    code, body = health(app)
    assert code == 503 and body.startswith("database unavailable: ")


def test_a_taken_metrics_port_stops_serve_before_any_work(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'mailbot.sqlite3'}"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = mailbot_env(url, smtp_listen=f"127.0.0.1:{free_port()}", serve_metrics_listen=f"127.0.0.1:{port}")
        done = subprocess.run([*MAILBOT, "serve"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 69, done.stderr
    assert f"[serve] metrics_listen 127.0.0.1:{port}" in done.stderr and "Traceback" not in done.stderr
    assert "serving:" not in done.stderr


@pytest.mark.parametrize("listen", ["0.0.0.0:9108", "192.0.2.1:9108", "9108"])
def test_metrics_listen_must_be_loopback(listen: str) -> None:
    with pytest.raises(ConfigError, match=r"\[serve\] metrics_listen must be a loopback host:port"):
        load(environ={"MAILBOT_SERVE_METRICS_LISTEN": listen})
