"""A private Postfix instance on a loopback port, configured with the shipped deploy/postfix files.

Its own config_directory and queue_directory in a temporary directory (`postfix -c DIR`),
so the machine's Postfix, if any, is not touched. Debian's package is installed when it
is missing; where apt cannot run, outside CI the tests skip, in CI they fail.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from helpers.mailbot_proc import ROOT, free_port

DEPLOY = ROOT / "deploy"
POSTFIX = "/usr/sbin/postfix"
SHIPPED_MAILBOT = "/opt/mailbot/.venv/bin/mailbot"
SHIPPED_CONFIG = "/etc/mailbot/config.toml"
PIPE_USER = "nobody"  # Postfix runs a pipe as an unprivileged user; the shipped files say `mailbot`

# The daemons a private instance needs (no chroot: the queue directory is a temporary one).
MASTER = """\
{port} inet n - n - - smtpd
pickup unix n - n 60 1 pickup
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
flush unix n - n 1000? 0 flush
proxymap unix - - n - - proxymap
smtp unix - - n - - smtp
relay unix - - n - - smtp
showq unix n - n - - showq
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
postlog unix-dgram n - n - 1 postlogd
"""


def _fail_or_skip(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def ensure_postfix() -> None:
    """Install Debian's postfix if it is missing (once per machine)."""
    if Path(POSTFIX).exists():
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        _fail_or_skip("postfix is not installed and apt-get cannot run here (needs root on Debian)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    with open(Path(tempfile.gettempdir()) / "mailbot-postfix-install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # pytest-xdist workers: one installs, the others then find it
        if Path(POSTFIX).exists():
            return
        for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "postfix"]):
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
            if done.returncode != 0:
                _fail_or_skip(f"{' '.join(command)} failed: {done.stderr.strip()[-500:]}")


def mailbot_for(user: str, workdir: Path) -> str:
    """A `mailbot` executable `user` may run: this venv's, or, when its interpreter is out of
    that user's reach (a Python under /root), a launcher on the system's same-version Python
    reading this venv's packages."""
    venv_mailbot = str(Path(sys.executable).parent / "mailbot")
    if subprocess.run(["runuser", "-u", user, "--", sys.executable, "-c", "pass"], capture_output=True).returncode == 0:
        return venv_mailbot
    system = Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}")
    if not system.exists():
        _fail_or_skip(f"{sys.executable} is not readable by {user} and there is no {system}")
    site = next(p for p in sys.path if p.endswith("site-packages") and p.startswith(sys.prefix))
    launcher = workdir / "mailbot"
    launcher.write_text(f"#!{system}\nimport site\nsite.addsitedir({site!r})\nfrom mailbot.cli import main\nmain()\n")
    launcher.chmod(0o755)
    return str(launcher)


class Postfix:
    """A running private Postfix: SMTP on 127.0.0.1:port, mail for `domain` piped to mailbot."""

    def __init__(self, domain: str, mailbot: str, config: Path) -> None:
        ensure_postfix()
        # World-traversable (tmp_path is not): Postfix's own user works in the queue directory.
        self.base = Path(tempfile.mkdtemp(prefix="mailbot-postfix-"))
        self.base.chmod(0o755)
        self.conf = self.base / "etc"
        self.conf.mkdir()
        self.port = free_port()
        self.log = self.base / "maillog"
        (self.conf / "main.cf").write_text(self._main_cf(domain))
        master = MASTER.format(port=f"127.0.0.1:{self.port}") + self._shipped_master(mailbot, config)
        (self.conf / "master.cf").write_text(master)
        (self.conf / "transport").write_text(self._shipped_transport(domain))
        (self.base / "queue").mkdir()  # postfix creates what is inside, with its owners
        (self.base / "data").mkdir()
        shutil.chown(self.base / "data", "postfix", "postfix")
        self.postfix("check")
        self.postfix("start")

    def _main_cf(self, domain: str) -> str:
        shipped = (DEPLOY / "postfix" / "main.cf").read_text().replace("mailbot.example.net", domain)
        shipped = shipped.replace("hash:/etc/postfix/transport", f"texthash:{self.conf / 'transport'}")
        return (
            "\n".join(
                [
                    "compatibility_level = 3.6",
                    f"queue_directory = {self.base / 'queue'}",
                    f"data_directory = {self.base / 'data'}",
                    f"maillog_file = {self.log}",
                    f"maillog_file_prefixes = {self.base}",
                    "inet_interfaces = 127.0.0.1",
                    "inet_protocols = ipv4",
                    "myhostname = postfix-test.localhost",
                    "mydestination =",
                    "mynetworks = 127.0.0.0/8",
                    "alias_maps =",
                    "alias_database =",
                    "smtputf8_enable = no",
                    # Retry soon: the tests flush the queue (postqueue -f) rather than wait for this.
                    "queue_run_delay = 300s",
                    "minimal_backoff_time = 300s",
                    shipped,
                ]
            )
            + "\n"
        )

    @staticmethod
    def _shipped_master(mailbot: str, config: Path) -> str:
        text = (DEPLOY / "postfix" / "master.cf").read_text()
        assert SHIPPED_MAILBOT in text and SHIPPED_CONFIG in text and "user=mailbot" in text
        return (
            text.replace(SHIPPED_MAILBOT, mailbot)
            .replace(SHIPPED_CONFIG, str(config))
            .replace("user=mailbot", f"user={PIPE_USER}")
        )

    @staticmethod
    def _shipped_transport(domain: str) -> str:
        lines = [
            line
            for line in (DEPLOY / "postfix" / "transport").read_text().splitlines()
            if line.strip() and not line.startswith("#")
        ]
        assert lines == ["mailbot.example.net     mailbot:"], lines
        return lines[0].replace("mailbot.example.net", domain) + "\n"

    def postfix(self, *args: str) -> str:
        done = subprocess.run([POSTFIX, "-c", str(self.conf), *args], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"postfix {' '.join(args)}: {done.stderr}\n{self.maillog()}"
        return done.stdout

    def queue(self) -> list[dict]:
        """The messages Postfix holds (postqueue -j), each with its recipients' delay reasons."""
        done = subprocess.run(["postqueue", "-c", str(self.conf), "-j"], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]

    def flush(self) -> None:
        """Retry every deferred message now."""
        done = subprocess.run(["postqueue", "-c", str(self.conf), "-f"], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr

    def maillog(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def deliveries(self) -> list[str]:
        """The status= of each delivery attempt to the mailbot transport, in order."""
        return re.findall(r"relay=mailbot.*? status=(\w+)", self.maillog())

    def stop(self) -> None:
        subprocess.run([POSTFIX, "-c", str(self.conf), "stop"], capture_output=True, timeout=120)
        shutil.rmtree(self.base, ignore_errors=True)
