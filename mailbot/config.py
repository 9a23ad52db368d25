"""Settings: embedded defaults, then config.toml, then MAILBOT_<SECTION>_<KEY>, then flags."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULTS: dict[str, dict[str, Any]] = {
    "database": {"url": "sqlite:///var/mailbot.sqlite3"},
    "paths": {"sample": "fixtures/emails"},
    "import": {"batch_size": 500},
    # `mailbot serve` (README "Running the service").
    "serve": {"poll_interval": 30.0},
    "smtp": {"listen": "127.0.0.1:2525", "hostname": "", "max_size": 25 * 1024 * 1024, "timeout": 300.0,
             "shutdown_grace": 30.0, "tls_cert": "", "tls_key": ""},
    "imap": {"host": "", "port": 993, "tls": True, "cafile": "", "user": "", "password": "", "password_file": "",
             "password_env": "", "folders": ["INBOX"], "after": "flag", "poll_interval": 60.0,
             "batch_size": 100},
    "ops": {"email": []},  # who gets the daily digest; none until configured (config.toml sets one)
    # The scheduler's rules; defaults from the ITG process documents (see README "Scheduler").
    "schedule": {
        "timezone": "America/New_York",
        "business_start": "09:00",
        "business_end": "17:00",
        "business_days": ["mon", "tue", "wed", "thu", "fri"],
        "holiday_country": "US",
        "reminder_after_hours": 4,
        "no_response_after_days": 3,
        "escalate_after": 3,
        "status_window_days": 60,
        "red_same_campaign_days": 10,
        "status_labels": ["us_origin", "international_origin", "us_poe", "no_response"],
        "digest_time": "07:00",
        "tick_seconds": 60,
        "enabled": True,  # run the scheduler inside `mailbot serve`
    },
    # Non-Cooperative Voice Service Provider designation (README "Non-cooperative providers").
    "noncooperative": {
        "enabled": True,  # evaluate the rules on every scheduler run
        "consecutive_no_response": 3,  # this many consecutive requests unanswered
        "warning_grace_days": 3,  # business days a final warning to every contact leaves to answer
        "ongoing_days": 10,  # originator / U.S. point of entry for a campaign again this many days later
        "multiple_campaigns": 2,  # ... or for this many different campaigns
        "not_found_percent": 50.0,  # more than this share of answers not_found, unexplained
        "not_found_min_answers": 5,  # ... once it has given at least this many answers
        "window_days": 90,  # evidence older than this is not read
        "clean_days": 30,  # removed after this many days without any of that behaviour
    },
    # Outbound mail (README "Outbound mail"); an empty secret means one generated into secret_file.
    "mail": {
        "domain": "mailbot.localhost",
        "domains": [],  # more domains SMTP intake accepts mail for, beside `domain`
        "from": "Traceback Desk <traceback@mailbot.localhost>",
        "secret": "",
        "secret_file": "var/mail.secret",
    },
    "outbound": {
        "mode": "maildir",
        "maildir": "var/outbox",
        "host": "localhost",
        "port": 587,
        "starttls": True,
        "username": "",
        "password": "",
        "cafile": "",
        "timeout": 30,
        "rate_per_hour": 30,
        "retry_for": "2d",
    },
}
# Keys holding filesystem paths, resolved against the config file's directory.
PATH_KEYS = {("paths", "sample"), ("mail", "secret_file"), ("outbound", "maildir"), ("outbound", "cafile")}


@dataclass
class Config:
    values: dict[str, dict[str, Any]]
    base_dir: Path
    file: Path | None = None
    overrides: dict[str, str] = field(default_factory=dict)

    def get(self, section: str, key: str) -> Any:
        value = self.values.get(section, {}).get(key)
        if (section, key) in PATH_KEYS and value is not None:
            return self.path(str(value))
        return value

    def path(self, value: str) -> Path:
        p = Path(value).expanduser()
        return p if p.is_absolute() else self.base_dir / p

    @property
    def database_url(self) -> str:
        url = str(self.get("database", "url"))
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/") and url != "sqlite:///:memory:":
            db_file = self.path(url[len(prefix):])
            db_file.parent.mkdir(parents=True, exist_ok=True)
            return prefix + str(db_file)
        return url


def _coerce(raw: str, like: Any) -> Any:
    if isinstance(like, bool):
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if isinstance(like, int):
        return int(raw)
    if isinstance(like, float):
        return float(raw)
    if isinstance(like, list):
        return [item.strip() for item in raw.split(",") if item.strip()]
    return raw


def load(config_file: str | os.PathLike[str] | None = None, database_url: str | None = None,
         environ: dict[str, str] | None = None) -> Config:
    env = dict(os.environ if environ is None else environ)
    values = {section: dict(keys) for section, keys in DEFAULTS.items()}
    chosen = config_file or env.get("MAILBOT_CONFIG")
    path = Path(chosen) if chosen else Path.cwd() / "config.toml"
    found = path if path.is_file() else None
    if chosen and not found:
        raise FileNotFoundError(f"config file not found: {path}")
    if found:
        with found.open("rb") as fh:
            for section, keys in tomllib.load(fh).items():
                values.setdefault(section, {}).update(keys)
    for section, keys in values.items():
        for key, current in keys.items():
            name = f"MAILBOT_{section}_{key}".upper()
            if name in env:
                keys[key] = _coerce(env[name], current)
    if database_url:
        values["database"]["url"] = database_url
    base = found.resolve().parent if found else Path.cwd()
    return Config(values=values, base_dir=base, file=found)
