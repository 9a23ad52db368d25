"""A real Dovecot IMAP server on a loopback port, with a throwaway config and mail directory.

Dovecot comes from Debian's `dovecot-imapd`, installed here when missing (we are
root in CI). Any user name logs in with PASSWORD; each test takes its own user,
so its mailbox starts empty. `stop()` and `start()` cut every client connection,
as a server restart does.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

PASSWORD = "secret"
CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <{root}/cert.pem
ssl_key = <{root}/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{root}/mail/%u
mail_uid = {uid}
mail_gid = {gid}
first_valid_uid = {uid}
first_valid_gid = {gid}
default_internal_user = {user}
default_login_user = {user}
mailbox_idle_check_interval = 1 secs
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
  }}
}}
service stats {{
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
passdb {{
  driver = static
  args = password={password}
}}
userdb {{
  driver = static
  args = home={root}/home/%u
}}
"""


def _binary() -> str:
    found = shutil.which("dovecot") or (os.path.exists("/usr/sbin/dovecot") and "/usr/sbin/dovecot")
    if found:
        return found
    if os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-q", "dovecot-imapd"], env=env, capture_output=True)
        found = shutil.which("dovecot") or (os.path.exists("/usr/sbin/dovecot") and "/usr/sbin/dovecot")
        if found:
            return found
    if os.environ.get("CI"):
        raise RuntimeError("dovecot is not installed and could not be installed (apt-get install dovecot-imapd)")
    pytest.skip("dovecot-imapd is not installed and we are not root to install it")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Dovecot:
    def __init__(self, root: Path) -> None:
        self.binary = _binary()
        self.root = root
        self.port = _free_port()
        self.tls_port = _free_port()
        # A throwaway certificate for 127.0.0.1; clients trust it through `cafile`.
        self.cafile = root / "cert.pem"
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
                "-keyout",
                str(root / "key.pem"),
                "-out",
                str(self.cafile),
            ],
            check=True,
            capture_output=True,
        )
        self.host = "127.0.0.1"
        # Dovecot refuses mail access as root: mail files belong to an unprivileged user.
        user = "nobody"
        entry = pwd.getpwnam(user)
        for sub in ("run", "state", "mail", "home"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        for sub in ("mail", "home"):
            os.chown(root / sub, entry.pw_uid, entry.pw_gid)
        self.config = root / "dovecot.conf"
        self.config.write_text(
            CONFIG.format(
                root=root,
                port=self.port,
                tls_port=self.tls_port,
                password=PASSWORD,
                uid=entry.pw_uid,
                gid=entry.pw_gid,
                user=user,
            )
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.binary, "-F", "-c", str(self.config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"dovecot exited: {self.proc.stderr.read().decode() if self.proc.stderr else ''}\n{self.log()}"
                )
            try:
                with socket.create_connection((self.host, self.port), timeout=1) as s:
                    if s.recv(100).startswith(b"* OK"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"dovecot did not start on port {self.port}:\n{self.log()}")

    def stop(self) -> None:
        """Shut the server down: every open IMAP connection is cut."""
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(30)
        self.proc = None
        # The master waits for its children; make sure the port is really free again.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection((self.host, self.port), timeout=1).close()
                time.sleep(0.05)
            except OSError:
                return

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""
