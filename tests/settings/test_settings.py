"""Typed settings: checked whole when they load, one clear error naming where, what and what is allowed."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from mailbot.cli import main
from mailbot.config import ConfigError, load


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mailbot.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[outbound]\nmode = "smpt"\n', '[outbound] mode must be "maildir" or "smtp", not \'smpt\''),
        ("[smtp]\nlisten = 2525\n", "[smtp] listen must be a string, not 2525"),
        ('[smtp]\nlisten = "localhost"\n', '[smtp] listen must be host:port like "127.0.0.1:2525"'),
        ('[schedule]\ntimezone = "America/Gotham"\n', "[schedule] timezone must be an IANA time zone"),
        ('[outbound]\nretry_for = "two days"\n', "[outbound] retry_for must be a duration like 2d"),
        ('[schedule]\nbusiness_start = "18:00"\n', "[schedule] business_start must be earlier than business_end"),
        ('[imap]\nafter = "delete"\n', '[imap] after must be "flag", "flag:KEYWORD" or "move:FOLDER"'),
        ("[imap]\ntls = \"yes\"\n", "[imap] tls must be true or false, not 'yes'"),
        ('[smtpd]\nlisten = ""\n', "unknown section [smtpd]"),
        ('[smtp]\nlisen = ""\n', "unknown key 'lisen' in [smtp]"),
    ],
)
def test_a_bad_file_value_names_the_file_the_key_and_what_is_allowed(tmp_path: Path, text: str, expected: str) -> None:
    path = _file(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load(path, environ={})
    assert str(caught.value).startswith(f"{path}: ") and expected in str(caught.value)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"MAILBOT_OUTBOUND_MODE": "smpt"}, "MAILBOT_OUTBOUND_MODE: [outbound] mode must be"),
        ({"MAILBOT_IMAP_PORT": "nine"}, "MAILBOT_IMAP_PORT: [imap] port must be a whole number"),
        ({"MAILBOT_SCHEDULE_ENABLED": "maybe"}, "MAILBOT_SCHEDULE_ENABLED: [schedule] enabled must be true or false"),
        ({"MAILBOT_SMTP_LISTN": "127.0.0.1:25"}, "MAILBOT_SMTP_LISTN: unknown variable"),
    ],
)
def test_a_bad_variable_is_named(tmp_path: Path, env: dict[str, str], expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(_file(tmp_path, ""), environ=env)
    assert str(caught.value).startswith(expected)


def test_variables_that_are_not_settings_are_allowed(tmp_path: Path) -> None:
    env = {
        "MAILBOT_NOW": "2026-03-09T09:00:00",
        "MAILBOT_TEST_ANYTHING": "1",
        "MAILBOT_CONFIG": str(_file(tmp_path, "")),
        "MAILBOT_IMAP_PASSWORD_ENV": "MAILBOT_IMAP_SECRET",
        "MAILBOT_IMAP_SECRET": "pw",
    }
    assert load(environ=env).imap.password_env == "MAILBOT_IMAP_SECRET"


def test_typed_values_paths_and_where_each_came_from(tmp_path: Path) -> None:
    path = _file(tmp_path, '[outbound]\nretry_for = "36h"\nmaildir = "mail/out"\n[smtp]\nlisten = "[::1]:2526"\n')
    settings = load(path, "sqlite:///db/x.sqlite3", environ={"MAILBOT_OUTBOUND_RATE_PER_HOUR": "7"})
    assert settings.outbound.retry_for == timedelta(hours=36) and settings.outbound.rate_per_hour == 7
    assert settings.outbound.maildir == tmp_path / "mail" / "out"  # relative to the file's directory
    assert settings.mail.secret_file == tmp_path / "var" / "mail.secret"
    assert settings.database.url == f"sqlite:///{tmp_path / 'db' / 'x.sqlite3'}"
    assert settings.smtp.listen == ("::1", 2526)
    assert settings.schedule.rules.calendar.zone.key == "America/New_York"
    assert settings.sources[("outbound", "retry_for")] == "file"
    assert settings.sources[("outbound", "rate_per_hour")] == "env"
    assert settings.sources[("database", "url")] == "flag"
    assert settings.sources[("smtp", "timeout")] == "default"


def test_the_cli_shows_a_bad_setting_as_one_line_before_any_work(tmp_path: Path) -> None:
    path = _file(tmp_path, f'[database]\nurl = "sqlite:///{tmp_path}/never.sqlite3"\n[outbound]\nmode = "smpt"\n')
    result = CliRunner().invoke(main, ["--config", str(path), "demo"])
    assert result.exit_code != 0
    assert result.output.strip().splitlines() == [
        f'mailbot: config: {path}: [outbound] mode must be "maildir" or "smtp", not \'smpt\''
    ]
    assert not (tmp_path / "never.sqlite3").exists()
