"""The security suite's desk: a real `mailbot serve` reached over SMTP and the MTA pipe.

Everything is observed through the CLI's JSON outputs and the outbox Maildir, so
these tests hold whatever the desk's internals become.
"""

from __future__ import annotations

import email
import email.message
import email.policy
import email.utils
import json
import mailbox
import os
import smtplib
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from helpers.mailbot_proc import MAILBOT, Server, free_port, mailbot_env, wait_for

DOMAIN = "desk.example"
SETTINGS = {
    "mail_domain": DOMAIN,
    "mail_from": f"Traceback Desk <traceback@{DOMAIN}>",
    "mail_secret": "security-secret",
    "schedule_enabled": "false",
}
CARRIER = ("Smartbiz Telecom", "noc@smartbiz.example")
UPSTREAM = ("Lingo Telecom", "tb@lingo.example")
# Waits for what must happen; long only so a broken run cannot hang. What must *not* happen is
# checked once every message is processed (no status `new` left), never by waiting it out.
PATIENCE = 120.0


class LimitedServer(Server):
    """`mailbot serve` started with at most `nofile` open descriptors (its soft limit, set by itself)."""

    def __init__(self, db_url: str, workdir: Path, nofile: int, **settings: str) -> None:
        self.port, self.db_url = free_port(), db_url
        self.log = workdir / f"serve-{self.port}.log"
        env = mailbot_env(db_url, smtp_listen=f"127.0.0.1:{self.port}", **settings)
        code = (
            "import resource; hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]; "
            f"resource.setrlimit(resource.RLIMIT_NOFILE, ({nofile}, hard)); "
            "from mailbot.cli import main; main()"
        )
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", code, "serve"], cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        wait_for(self._listening, f"mailbot serve on port {self.port}")


class KeyedServer(Server):
    """`mailbot serve` whose DKIM key lookups (mailbot.desk.senders.DNS_TXT) answer from `keys`:
    the only mock of the suite, since there is no DNS here."""

    def __init__(self, db_url: str, workdir: Path, keys: dict[str, str], **settings: str) -> None:
        self.port, self.db_url = free_port(), db_url
        self.log = workdir / f"serve-{self.port}.log"
        keyfile = workdir / f"dns-{self.port}.json"
        keyfile.write_text(json.dumps(keys))
        env = mailbot_env(db_url, smtp_listen=f"127.0.0.1:{self.port}", **settings)
        # A sitecustomize on PYTHONPATH sets the hook in every interpreter of this serve: its
        # processing workers are spawned afresh and would not see a hook set in serve's own.
        hook = workdir / f"dns-hook-{self.port}"
        hook.mkdir()
        (hook / "sitecustomize.py").write_text(
            f"import json, mailbot.desk.senders as senders\nkeys = json.load(open({str(keyfile)!r}))\n"
            "senders.DNS_TXT = lambda name, timeout=5: (keys.get(name.decode().rstrip('.')) or '').encode() or None\n"
        )
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(hook), env.get("PYTHONPATH", "")]))
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", "from mailbot.cli import main; main()", "serve"],
                cwd=workdir,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_for(self._listening, f"mailbot serve on port {self.port}")


class Desk:
    """One desk: its settings, its outbox, and the carriers' side of the conversation."""

    def __init__(
        self,
        db_url: str,
        workdir: Path,
        nofile: int | None = None,
        dkim_keys: dict[str, str] | None = None,
        **settings: str,
    ) -> None:
        self.db_url, self.workdir, self.nofile, self.dkim_keys = db_url, workdir, nofile, dkim_keys
        self.outbox = workdir / "outbox"
        self.settings = {**SETTINGS, "outbound_maildir": str(self.outbox), **settings}
        self.env = mailbot_env(db_url, **self.settings)
        self.server: Server | None = None

    # --- the CLI -----------------------------------------------------------------------------

    def run(self, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [*MAILBOT, *args], env=self.env, cwd=self.workdir, input=stdin, capture_output=True, timeout=300
        )

    def cli(self, *args: str) -> str:
        done = self.run(*args)
        assert done.returncode == 0, done.stderr.decode(errors="replace")
        return done.stdout.decode()

    def json(self, *args: str) -> Any:
        return json.loads(self.cli(*args, "--format", "json"))

    def start(self) -> Desk:
        self.cli("providers", "add", CARRIER[0], "--email", CARRIER[1])
        self.cli("providers", "add", UPSTREAM[0], "--email", UPSTREAM[1])
        # Kept before it is listening, so a server that starts too slowly is still stopped.
        if self.dkim_keys is not None:
            self.server = KeyedServer.__new__(KeyedServer)
            KeyedServer.__init__(self.server, self.db_url, self.workdir, self.dkim_keys, **self.settings)
        elif self.nofile is None:
            self.server = Server.__new__(Server)
            Server.__init__(self.server, self.db_url, self.workdir, **self.settings)
        else:
            self.server = LimitedServer.__new__(LimitedServer)
            LimitedServer.__init__(self.server, self.db_url, self.workdir, self.nofile, **self.settings)
        return self

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.port

    def open_traceback(self, provider: str = CARRIER[0]) -> int:
        return int(
            self.cli(
                "traceback",
                "open",
                "--provider",
                provider,
                "--campaign",
                "SSA-Suspended-SSN",
                "--call-time",
                "2026-10-30T14:05:00Z",
                "--called",
                "+12025550143",
                "--caller",
                "+16465550178",
                "--description",
                "Caller claims your SSN is suspended.",
            ).strip()
        )

    def show(self, number: int) -> dict[str, Any]:
        return self.json("traceback", "show", str(number))

    def reviews(self) -> list[dict[str, Any]]:
        return self.json("review", "list", "--all")

    def providers(self) -> list[dict[str, Any]]:
        return self.json("providers", "list")

    def messages(self) -> list[dict[str, Any]]:
        return json.loads(self.cli("export", "messages", "--format", "json"))

    def quarantined(self) -> str:
        return self.cli("quarantine")

    def settled(self, count: int, timeout: float = PATIENCE) -> list[dict[str, Any]]:
        """Wait until `count` messages are stored and none is left unprocessed."""

        def done() -> list[dict[str, Any]] | None:
            time.sleep(0.5)  # each look is a CLI process: look twice a second, not twenty times
            rows = self.messages()
            return rows if len(rows) >= count and all(r["status"] != "new" for r in rows) else None

        return wait_for(done, f"{count} messages processed", timeout)

    # --- the outbox ----------------------------------------------------------------------------

    def received(self, to: str) -> list[email.message.EmailMessage]:
        """Notices delivered to `to`, oldest first."""
        if not (self.outbox / "new").exists():
            return []
        found = [
            email.message_from_bytes(m.as_bytes(), policy=email.policy.default)
            for m in mailbox.Maildir(self.outbox, create=False)
        ]
        return sorted(
            (m for m in found if to.lower() in str(m["To"]).lower()),
            key=lambda m: str(m["Date"]),
        )

    def all_sent(self) -> list[email.message.EmailMessage]:
        return self.received("@")

    def notice(self, to: str, kind: str) -> email.message.EmailMessage:
        def find() -> email.message.EmailMessage | None:
            return next((m for m in self.received(to) if m["X-Mailbot-Notice"] == kind), None)

        return wait_for(find, f"{kind} notice to {to}", PATIENCE)

    # --- the carriers' side ------------------------------------------------------------------

    def send(self, raw: bytes, mail_from: str, rcpt: list[str]) -> None:
        with smtplib.SMTP("127.0.0.1", self.port, timeout=60) as smtp:
            smtp.sendmail(mail_from, rcpt, raw)

    def pipe(self, raw: bytes, *, sender: str | None = None, recipient: str | None = None) -> None:
        args = (
            ["receive"] + (["--sender", sender] if sender else []) + (["--recipient", recipient] if recipient else [])
        )
        done = self.run(*args, stdin=raw)
        assert done.returncode == 0, done.stderr.decode(errors="replace")


def reply_to(notice: email.message.Message) -> str:
    return email.utils.parseaddr(str(notice["Reply-To"]))[1]


def answer(
    notice: email.message.Message,
    words: str,
    *,
    sender: str = CARRIER[1],
    from_header: str | None = None,
    extra: dict[str, str] | None = None,
    subject: str | None = None,
) -> bytes:
    """An answer to `notice`, top-posted, as raw bytes (a From header may carry raw UTF-8)."""
    head = {
        "From": from_header or f"NOC <{sender}>",
        "To": str(notice["Reply-To"]),
        "Subject": subject if subject is not None else "RE: " + str(notice["Subject"]),
        "Message-ID": f"<{uuid.uuid4().hex}@{sender.rpartition('@')[2] or 'x.example'}>",
        "In-Reply-To": str(notice["Message-ID"]),
        "Date": "Mon, 02 Nov 2026 15:00:00 +0000",
        "MIME-Version": "1.0",
        "Content-Type": "text/plain; charset=utf-8",
        "Content-Transfer-Encoding": "8bit",
        **(extra or {}),
    }
    lines = [f"{name}: {value}" for name, value in head.items()]
    return ("\r\n".join(lines) + "\r\n\r\n" + words.replace("\n", "\r\n") + "\r\n").encode("utf-8")
