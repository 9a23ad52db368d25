"""`mailbot config show` (effective values, where each came from, secrets masked) and `config check`."""

from __future__ import annotations

import json
import subprocess
import tomllib
from pathlib import Path

from click.testing import CliRunner
from helpers.mailbot_proc import MAILBOT, mailbot_env

from mailbot.cli import main
from mailbot.config import DEFAULTS


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "mailbot.toml"
    path.write_text(
        '[database]\nurl = "postgresql+psycopg://desk:hunter2@db.example/mailbot"\n'
        '[mail]\nsecret = "s3cr3t-key"\n[outbound]\nrate_per_hour = 12\n'
    )
    return path


def _lines(out: str) -> dict[tuple[str, str], tuple[str, str]]:
    """(section, key) -> (value as printed, source) of `config show`'s lines."""
    found, section = {}, ""
    for line in out.splitlines():
        if line.startswith("["):
            section = line.strip("[]")
        elif " = " in line:
            key, _, rest = line.partition(" = ")
            value, _, source = rest.rpartition("  # ")
            found[section, key] = (value.strip(), source)
    return found


def test_show_names_every_source_and_masks_secrets(tmp_path: Path) -> None:
    path = _config(tmp_path)
    env = {"MAILBOT_IMAP_PASSWORD": "imap-pw", "MAILBOT_SMTP_MAX_SESSIONS": "7"}
    result = CliRunner(env=env).invoke(main, ["--config", str(path), "config", "show"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "hunter2" not in out and "s3cr3t-key" not in out and "imap-pw" not in out
    lines = _lines(out)
    assert lines["database", "url"] == ('"postgresql+psycopg://desk:***@db.example/mailbot"', "file")
    assert lines["mail", "secret"] == ('"********"', "file")
    assert lines["imap", "password"] == ('"********"', "env MAILBOT_IMAP_PASSWORD")
    assert lines["outbound", "password"] == ('""', "default")  # empty: not set, and visibly so
    assert lines["smtp", "max_sessions"] == ("7", "env MAILBOT_SMTP_MAX_SESSIONS")
    assert lines["outbound", "rate_per_hour"] == ("12", "file")
    assert lines["smtp", "max_size"] == (str(DEFAULTS["smtp"]["max_size"]), "default")
    assert f"# config file: {path}" in out
    # What it prints is a config file: every section and key, the values as loaded (secrets masked).
    shown = tomllib.loads(out)
    assert {section: set(keys) for section, keys in shown.items()} == {s: set(k) for s, k in DEFAULTS.items()}
    assert (
        shown["smtp"]["max_sessions"] == 7
        and shown["schedule"]["status_labels"] == DEFAULTS["schedule"]["status_labels"]
    )


def test_show_as_json_and_the_db_flag(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["--config", str(_config(tmp_path)), "--db", "sqlite:///x.sqlite3", "config", "show", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    tree = json.loads(result.stdout)["settings"]
    assert tree["database"]["url"] == {"value": "sqlite:///x.sqlite3", "source": "flag --db"}
    assert tree["mail"]["secret"] == {"value": "********", "source": "file"}
    assert tree["mail"]["secret_file"]["source"] == "default"


def test_check_is_0_for_usable_settings_and_78_naming_the_key_otherwise(tmp_path: Path) -> None:
    path = _config(tmp_path)
    ok = CliRunner().invoke(main, ["--config", str(path), "config", "check"])
    assert ok.exit_code == 0 and ok.output == f"config ok: {path}\n"

    missing = CliRunner(env={"MAILBOT_SMTP_TLS_CERT": str(tmp_path / "cert.pem")}).invoke(
        main, ["--config", str(path), "config", "check"]
    )
    assert missing.exit_code == 78
    assert (
        missing.output
        == f"mailbot: env MAILBOT_SMTP_TLS_CERT: [smtp] tls_cert: {tmp_path / 'cert.pem'} does not exist\n"
    )

    unknown_kind = CliRunner().invoke(main, ["--db", "mysqll://x/y", "config", "check"])
    assert unknown_kind.exit_code == 78 and "unknown kind of database" in unknown_kind.output


def test_check_as_a_process_on_a_bad_file_exits_78_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[smtp]\nlisen = "127.0.0.1:25"\n')
    env = mailbot_env("")
    del env["MAILBOT_DATABASE_URL"]
    done = subprocess.run(
        [*MAILBOT, "--config", str(bad), "config", "check"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 78
    assert done.stderr.strip().splitlines() == [
        f"mailbot: config: {bad}: unknown key 'lisen' in [smtp]; known: {', '.join(DEFAULTS['smtp'])}"
    ]
    assert list(tmp_path.iterdir()) == [bad]  # nothing created
