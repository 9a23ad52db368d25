"""Settings: embedded defaults, then config.toml, then MAILBOT_<SECTION>_<KEY>, then flags.

`load()` builds one frozen `Settings` tree, a dataclass per section, and checks all of it
before any work starts: an unknown section, key or MAILBOT_* variable, a value of the wrong
type or outside what is allowed is one `ConfigError` naming where the value came from (the
file, the variable or the flag), the key and what is allowed. Nothing reads a setting by
name after that; the typed views the code needs (`Rules`, the business calendar) are built
here, once.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import time, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol, Self
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

from mailbot.domain.calendar import WEEKDAYS
from mailbot.domain.records import AnswerBars
from mailbot.domain.status_rules import Rules
from mailbot.domain.vocabulary import HopOutcome

DEFAULTS: dict[str, dict[str, Any]] = {
    "database": {"url": "sqlite:///var/mailbot.sqlite3"},
    "paths": {"sample": "fixtures/emails"},
    "import": {"batch_size": 500},
    # `mailbot serve` (README "Running the service").
    "serve": {
        "poll_interval": 30.0,
        "metrics_listen": "",  # metrics: off until set
        "workers": 1,
        "attempts": 4,  # tries at processing one stored message before it is quarantined
        "retry_after": "1m",  # wait after its first failure; doubled after each further one
    },
    "smtp": {
        "listen": "127.0.0.1:2525",
        "hostname": "",
        "max_size": 25 * 1024 * 1024,
        "timeout": 300.0,
        "shutdown_grace": 30.0,
        "tls_cert": "",
        "tls_key": "",
        "max_sessions": 100,  # open at once; past it a new connection gets 421
        "max_sessions_per_client": 20,  # open at once from one client address; past it 421
        "max_recipients": 100,  # of one message; past it RCPT gets 452
        "spool_threshold": 1024 * 1024,
    },  # bytes of a message's data held in memory, then a temporary file
    "imap": {
        "host": "",
        "port": 993,
        "tls": True,
        "cafile": "",
        "user": "",
        "password": "",
        "password_file": "",
        "password_env": "",
        "folders": ["INBOX"],
        "after": "flag",
        "poll_interval": 60.0,
        "batch_size": 100,
    },
    "ops": {"email": []},  # who gets the daily digest; none until configured (config.toml sets one)
    # The traceback desk (README "The traceback desk").
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
        "status_labels": ["us_origin", "international_origin", "us_poe", HopOutcome.NO_RESPONSE],
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
    # How sure a reply's reading must be to act on it (README "Confirming unsure readings").
    "desk": {
        "apply_at": 0.8,
        "close_at": 0.9,
        "new_provider_at": 0.9,
        "propose_at": 0.5,
        "max_clarifications": 2,  # clarification requests per hop; then it waits for a person
    },
    # Outbound mail (README "Outbound mail"); an empty secret means one generated into secret_file.
    "mail": {
        "domain": "mailbot.localhost",
        "domains": [],  # more domains SMTP intake accepts mail for, beside `domain`
        "from": "Traceback Desk <traceback@mailbot.localhost>",
        "organization": "Traceback Desk",  # who runs the desk: letterhead and signature of every notice
        "contact": "",  # the person carriers may write to, named in every notice; empty: `from`
        "secret": "",
        "secret_file": "var/mail.secret",
        # Sender authentication (README "Security model"): the authserv-id of the MTA whose
        # Authentication-Results headers count (empty: none do), and mailbot's own DKIM check.
        "trusted_authserv_id": "",
        "verify_dkim": False,
        "bounce_limit": 3,  # bounces to a contact's own return paths before it is disabled (one hard one does)
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
# MAILBOT_* variables that are not settings: the config file, the pretend clock, and the
# test suite's own switches (MAILBOT_TEST_PG, MAILBOT_TEST_IMAP_PW, ...).
OTHER_VARIABLES = frozenset({"MAILBOT_CONFIG", "MAILBOT_NOW"})
TEST_VARIABLE_PREFIX = "MAILBOT_TEST_"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$", re.I)
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
# Keys whose default is whole but which are read as numbers: a fraction in the file is fine.
FRACTIONAL_KEYS = frozenset(
    {
        ("outbound", "timeout"),
        ("schedule", "tick_seconds"),
        ("schedule", "reminder_after_hours"),
        ("schedule", "status_window_days"),
        ("schedule", "red_same_campaign_days"),
    }
)
_TYPE_NAMES = {
    bool: "true or false",
    int: "a whole number",
    float: "a number",
    str: "a string",
    list: "a list of strings",
}
# Where a daemon's config lives when neither --config nor MAILBOT_CONFIG names one.
SYSTEM_CONFIG = Path("/etc/mailbot/config.toml")


# Keys whose value is a secret: `mailbot config show` prints them masked (a URL: its password).
SECRET_KEYS = frozenset({("mail", "secret"), ("imap", "password"), ("outbound", "password"), ("database", "url")})
MASK = "********"


class ConfigError(ValueError):
    """A setting that cannot be used; the text names where it came from, the key and what is allowed."""


def parse_duration(value: object) -> timedelta:
    """`2d`, `36h`, `90m`, `45s` or a number of seconds."""
    m = _DURATION.match(str(value))
    if not m:
        raise ValueError(f"not a duration (like 2d, 36h, 90m, 3600): {value!r}")
    return timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2).lower()])


def parse_listen(value: str) -> tuple[str, int]:
    """`host:port` (IPv6 in brackets) -> (host, port)."""
    host, _, port = str(value).rpartition(":")
    if not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"[smtp] listen must be host:port, got {value!r}")
    return host.strip("[]"), int(port)


@dataclass(frozen=True)
class _Section:
    """One section's merged raw values, with what `from_raw` needs to check and resolve them."""

    name: str
    raw: Mapping[str, Any]
    origins: Mapping[str, str]  # key -> where its value came from, for error messages
    base_dir: Path

    def __getitem__(self, key: str) -> Any:
        return self.raw[key]

    def fail(self, key: str, allowed: str) -> ConfigError:
        return ConfigError(f"{self.origins[key]}: [{self.name}] {key} must be {allowed}, not {self.raw[key]!r}")

    def path(self, key: str) -> Path | None:
        """A path key, relative to the config file's directory; None when empty."""
        value = str(self.raw[key])
        if not value:
            return None
        p = Path(value).expanduser()
        return p if p.is_absolute() else self.base_dir / p

    def required_path(self, key: str) -> Path:
        p = self.path(key)
        if p is None:
            raise self.fail(key, "a path")
        return p

    def positive(self, key: str) -> Any:
        if self.raw[key] <= 0:
            raise self.fail(key, "more than 0")
        return self.raw[key]

    def choice(self, key: str, allowed: tuple[str, ...]) -> str:
        value = str(self.raw[key]).lower()
        if value not in allowed:
            raise self.fail(key, " or ".join(f'"{a}"' for a in allowed))
        return value

    def clock_time(self, key: str) -> time:
        try:
            return time.fromisoformat(str(self.raw[key]))
        except ValueError:
            raise self.fail(key, 'a time of day like "09:00"') from None

    def strings(self, key: str) -> tuple[str, ...]:
        return tuple(str(v) for v in self.raw[key])

    def number(self, key: str) -> float:
        return float(self.raw[key])

    def positive_number(self, key: str) -> float:
        return float(self.positive(key))


# How a section's field is read from its raw value: dataclass field metadata naming the
# _Section method (`field(metadata=POSITIVE)`); a field without it takes the value as it is.
# "key" names a key other than the field's name. A new key is a field here, its default in
# DEFAULTS and config.toml, and a line in the README.
PATH: Mapping[str, Any] = {"read": _Section.path}
REQUIRED_PATH: Mapping[str, Any] = {"read": _Section.required_path}
POSITIVE: Mapping[str, Any] = {"read": _Section.positive}
POSITIVE_NUMBER: Mapping[str, Any] = {"read": _Section.positive_number}
NUMBER: Mapping[str, Any] = {"read": _Section.number}
STRINGS: Mapping[str, Any] = {"read": _Section.strings}
CLOCK_TIME: Mapping[str, Any] = {"read": _Section.clock_time}


class _Read:
    """A section whose fields are read as their metadata says; `from_raw` checks what
    spans keys first, then passes what it computed itself (`read(s, listen=...)`)."""

    @classmethod
    def from_raw(cls, s: _Section) -> Self:
        return cls.read(s)

    @classmethod
    def read(cls, s: _Section, **computed: Any) -> Self:
        values = {}
        for f in fields(cls):  # type: ignore[arg-type]  # every subclass is a dataclass
            if f.name in computed:
                values[f.name] = computed[f.name]
            else:
                read = f.metadata.get("read", _Section.__getitem__)
                values[f.name] = read(s, f.metadata.get("key", f.name))
        return cls(**values)


@dataclass(frozen=True)
class DatabaseSection:
    url: str  # a relative SQLite file is resolved against the config file's directory

    @classmethod
    def from_raw(cls, s: _Section) -> DatabaseSection:
        url, prefix = str(s["url"]), "sqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/") and url != "sqlite:///:memory:":
            url = prefix + str(s.base_dir / Path(url[len(prefix) :]).expanduser())
        elif "://" not in url:
            raise s.fail("url", 'a database URL like "sqlite:///var/mailbot.sqlite3" or "postgresql+psycopg://..."')
        return cls(url=url)

    @property
    def sqlite_file(self) -> Path | None:
        prefix = "sqlite:///"
        return (
            Path(self.url[len(prefix) :]) if self.url.startswith(prefix) and self.url != "sqlite:///:memory:" else None
        )


@dataclass(frozen=True)
class PathsSection(_Read):
    sample: Path = field(metadata=REQUIRED_PATH)


@dataclass(frozen=True)
class ImportSection(_Read):
    batch_size: int = field(metadata=POSITIVE)


@dataclass(frozen=True)
class ServeSection(_Read):
    poll_interval: float = field(metadata=POSITIVE_NUMBER)
    workers: int = field(metadata=POSITIVE)  # processing processes beside intake's
    metrics_listen: tuple[str, int] | None  # None: no /healthz and /metrics endpoint
    # processing a stored message raised this many times: it is quarantined
    attempts: int = field(metadata=POSITIVE)
    retry_after: timedelta  # the wait after a first failure, doubled after each further one

    @classmethod
    def from_raw(cls, s: _Section) -> ServeSection:
        metrics = None
        if s["metrics_listen"]:
            try:
                metrics = parse_listen(s["metrics_listen"])
                loopback = metrics[0] == "localhost" or ipaddress.ip_address(metrics[0]).is_loopback
            except ValueError:
                loopback = False
            # Unauthenticated figures about the desk's work: only for this machine (a local
            # Prometheus, or a reverse proxy that adds what access control is wanted).
            if not loopback:
                raise s.fail("metrics_listen", 'a loopback host:port like "127.0.0.1:9108", or "" for none')
        try:
            retry_after = parse_duration(s["retry_after"])
        except ValueError:
            raise s.fail("retry_after", "a duration like 1m, 30s or a number of seconds") from None
        return cls.read(s, metrics_listen=metrics, retry_after=retry_after)


@dataclass(frozen=True)
class SmtpSection(_Read):
    listen: tuple[str, int] | None  # None: no SMTP intake
    hostname: str  # empty: this machine's FQDN
    max_size: int = field(metadata=POSITIVE)
    timeout: float = field(metadata=POSITIVE_NUMBER)
    shutdown_grace: float = field(metadata=NUMBER)
    tls_cert: Path | None = field(metadata=PATH)
    tls_key: Path | None = field(metadata=PATH)
    max_sessions: int = field(metadata=POSITIVE)  # open at once; past it a new connection gets 421
    max_sessions_per_client: int = field(metadata=POSITIVE)  # from one client address; past it 421
    max_recipients: int = field(metadata=POSITIVE)  # of one message; past it RCPT gets 452
    # bytes of a message's data held in memory, then a temporary file
    spool_threshold: int = field(metadata=POSITIVE)

    @classmethod
    def from_raw(cls, s: _Section) -> SmtpSection:
        listen = None
        if s["listen"]:
            try:
                listen = parse_listen(s["listen"])
            except ValueError:
                raise s.fail("listen", 'host:port like "127.0.0.1:2525", or "" for none') from None
        return cls.read(s, listen=listen)


@dataclass(frozen=True)
class ImapSection(_Read):
    host: str  # empty: no IMAP watching
    port: int  # 0: the default for `tls`
    tls: bool
    cafile: Path | None = field(metadata=PATH)
    user: str
    password: str
    password_file: Path | None = field(metadata=PATH)
    password_env: str
    folders: tuple[str, ...] = field(metadata=STRINGS)
    after: str  # "flag", "flag:KEYWORD" or "move:FOLDER"
    poll_interval: float = field(metadata=POSITIVE_NUMBER)
    batch_size: int = field(metadata=POSITIVE)

    @classmethod
    def from_raw(cls, s: _Section) -> ImapSection:
        action, _, arg = str(s["after"]).partition(":")
        if not (action == "flag" or (action == "move" and arg)):
            raise s.fail("after", '"flag", "flag:KEYWORD" or "move:FOLDER"')
        if not 0 <= s["port"] < 65536:
            raise s.fail("port", "a port number (0: the default)")
        return cls.read(s)


@dataclass(frozen=True)
class OpsSection(_Read):
    email: tuple[str, ...] = field(metadata=STRINGS)  # who gets the daily digest


@dataclass(frozen=True)
class ScheduleSection(_Read):
    rules: Rules  # holds the business calendar and every deadline rule
    digest_time: time = field(metadata=CLOCK_TIME)
    tick_seconds: float = field(metadata=POSITIVE_NUMBER)
    enabled: bool

    @classmethod
    def from_raw(cls, s: _Section) -> ScheduleSection:
        try:
            ZoneInfo(s["timezone"])
        except (ZoneInfoNotFoundError, ValueError):
            raise s.fail("timezone", 'an IANA time zone like "America/New_York"') from None
        opens, closes = s.clock_time("business_start"), s.clock_time("business_end")
        if opens >= closes:  # blame the one that was set, not the default it disagrees with
            if s.origins["business_end"] == "default":
                raise s.fail("business_start", f"earlier than business_end ({s['business_end']!r})")
            raise s.fail("business_end", f"later than business_start ({s['business_start']!r})")
        days = s.strings("business_days")
        if not days or any(d.strip().lower()[:3] not in WEEKDAYS for d in days):
            raise s.fail("business_days", "a non-empty list of " + ", ".join(WEEKDAYS))
        if s["holiday_country"] not in holidays.list_supported_countries():
            raise s.fail("holiday_country", 'a country code the holidays library knows, like "US"')
        for key in (
            "reminder_after_hours",
            "no_response_after_days",
            "escalate_after",
            "status_window_days",
            "red_same_campaign_days",
        ):
            s.positive(key)
        return cls.read(s, rules=Rules.from_settings(s.raw))


@dataclass(frozen=True)
class DeskSection(_Read):
    bars: AnswerBars  # apply, propose for confirmation, or ask a person
    max_clarifications: int  # clarification requests per hop; past it the hop waits for a person

    @classmethod
    def from_raw(cls, s: _Section) -> DeskSection:
        if s["max_clarifications"] < 0:
            raise s.fail("max_clarifications", "0 or more")
        for key in ("apply_at", "close_at", "new_provider_at", "propose_at"):
            if not 0 <= s[key] <= 1:
                raise s.fail(key, "a number from 0 to 1")
        for key in ("apply_at", "close_at", "new_provider_at"):
            if s[key] < s["propose_at"]:
                raise s.fail(key, f"at least propose_at ({s['propose_at']!r})")
        bars = AnswerBars(
            apply_at=float(s["apply_at"]),
            close_at=float(s["close_at"]),
            new_provider_at=float(s["new_provider_at"]),
            propose_at=float(s["propose_at"]),
        )
        return cls.read(s, bars=bars)


@dataclass(frozen=True)
class MailSection(_Read):
    domain: str  # of Message-IDs and Reply-To addresses
    domains: tuple[str, ...] = field(metadata=STRINGS)  # more domains SMTP intake accepts
    sender: str = field(metadata={"key": "from"})  # `[mail] from`: the From header of every notice
    organization: str  # letterhead and signature of every notice
    contact: str  # the human contact every notice names (`[mail] contact`, else `from`)
    secret: str  # empty: generated once into secret_file
    secret_file: Path = field(metadata=REQUIRED_PATH)
    trusted_authserv_id: str  # lower-cased; empty: no Authentication-Results header counts
    verify_dkim: bool  # mailbot verifies DKIM signatures itself (dkimpy), beside the MTA's results
    bounce_limit: int = field(metadata=POSITIVE)  # VERP bounces that disable a contact; one hard bounce does at once

    @classmethod
    def from_raw(cls, s: _Section) -> MailSection:
        if not s["domain"]:
            raise s.fail("domain", "a domain name")
        return cls.read(
            s,
            organization=s["organization"].strip() or "Traceback Desk",
            contact=s["contact"].strip() or s["from"],
            trusted_authserv_id=str(s["trusted_authserv_id"]).strip().lower(),
        )


@dataclass(frozen=True)
class OutboundSection(_Read):
    mode: str = field(metadata={"read": lambda s, key: s.choice(key, ("maildir", "smtp"))})
    maildir: Path = field(metadata=REQUIRED_PATH)
    host: str
    port: int
    starttls: bool
    username: str
    password: str
    cafile: Path | None = field(metadata=PATH)
    timeout: float = field(metadata=POSITIVE_NUMBER)
    rate_per_hour: int = field(metadata=POSITIVE)
    retry_for: timedelta

    @classmethod
    def from_raw(cls, s: _Section) -> OutboundSection:
        try:
            retry_for = parse_duration(s["retry_for"])
        except ValueError:
            raise s.fail("retry_for", "a duration like 2d, 36h, 90m or a number of seconds") from None
        return cls.read(s, retry_for=retry_for)


class _FromRaw(Protocol):
    """A section's dataclass: built from its checked table."""

    @classmethod
    def from_raw(cls, s: _Section) -> Self: ...


SECTIONS: dict[str, type[_FromRaw]] = {
    "database": DatabaseSection,
    "paths": PathsSection,
    "import": ImportSection,
    "serve": ServeSection,
    "smtp": SmtpSection,
    "imap": ImapSection,
    "ops": OpsSection,
    "schedule": ScheduleSection,
    "desk": DeskSection,
    "mail": MailSection,
    "outbound": OutboundSection,
}


@dataclass(frozen=True)
class Settings:
    database: DatabaseSection
    paths: PathsSection
    import_: ImportSection  # `[import]`
    serve: ServeSection
    smtp: SmtpSection
    imap: ImapSection
    ops: OpsSection
    schedule: ScheduleSection
    desk: DeskSection
    mail: MailSection
    outbound: OutboundSection
    file: Path | None  # the config file read, if any
    base_dir: Path  # relative paths are relative to this (the file's directory)
    values: Mapping[str, Mapping[str, Any]]  # the merged raw values, as TOML would spell them
    sources: Mapping[tuple[str, str], str]  # (section, key) -> "default", "file", "env" or "flag"

    def origin(self, section: str, key: str) -> str:
        """Where a value came from: "default", "file <path>", "env MAILBOT_<SECTION>_<KEY>" or "flag --db"."""
        source = self.sources[(section, key)]
        detail = {"file": str(self.file), "env": f"MAILBOT_{section}_{key}".upper(), "flag": "--db"}.get(source)
        return f"{source} {detail}" if detail else source

    def shown(self, section: str, key: str) -> Any:
        """The value as `config show` prints it: a secret masked (set or empty is still visible)."""
        value = self.values[section][key]
        if (section, key) not in SECRET_KEYS or not value:
            return value
        parts = urlsplit(str(value))
        if "://" in str(value):  # a URL: only its password is secret
            if not parts.password:
                return value
            return parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@", 1)).geturl()
        return MASK

    @property
    def database_url(self) -> str:
        """The database URL (a SQLite file's directory is made only by a command that creates the database)."""
        return self.database.url


def _coerce(raw: str, like: Any, where: str, section: str, key: str) -> Any:
    """A variable's text as the type of the key's default."""
    if isinstance(like, bool):
        value = raw.strip().lower()
        if value not in ("1", "true", "yes", "on", "0", "false", "no", "off", ""):
            raise ConfigError(f"{where}: [{section}] {key} must be true or false, not {raw!r}")
        return value in ("1", "true", "yes", "on")
    if isinstance(like, list):
        return [item.strip() for item in raw.split(",") if item.strip()]
    if isinstance(like, int | float):
        try:
            return type(like)(raw)
        except ValueError:
            raise ConfigError(f"{where}: [{section}] {key} must be {_TYPE_NAMES[type(like)]}, not {raw!r}") from None
    return raw


def _check_type(value: Any, like: Any, where: str, section: str, key: str) -> None:
    kind = type(like)
    ok = (
        (isinstance(value, kind) and not (kind is int and isinstance(value, bool)))
        or (kind is float and isinstance(value, int) and not isinstance(value, bool))
        or ((section, key) in FRACTIONAL_KEYS and isinstance(value, float))
    )
    if kind is list:
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
    if not ok:
        raise ConfigError(f"{where}: [{section}] {key} must be {_TYPE_NAMES[kind]}, not {value!r}")


def _read_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    for section, keys in data.items():
        if section not in DEFAULTS:
            raise ConfigError(f"{path}: unknown section [{section}]; known: {', '.join(DEFAULTS)}")
        if not isinstance(keys, dict):
            raise ConfigError(f"{path}: {section} must be a [section] table")
        for key in keys:
            if key not in DEFAULTS[section]:
                raise ConfigError(f"{path}: unknown key {key!r} in [{section}]; known: {', '.join(DEFAULTS[section])}")
    return data


def config_places(
    config_file: str | os.PathLike[str] | None, env: Mapping[str, str], checkout: bool = True
) -> list[Path]:
    """Where the config file is looked for, first found wins: --config, else MAILBOT_CONFIG, else
    ./config.toml (only for commands a person runs, e.g. from a checkout) and /etc/mailbot/config.toml.

    An MTA runs `receive` from its own directory (Postfix: the queue directory), so there
    `checkout=False`: a config.toml lying in the working directory must not be picked up.
    """
    chosen = config_file or env.get("MAILBOT_CONFIG")
    if chosen:
        return [Path(chosen)]
    return [Path.cwd() / "config.toml", SYSTEM_CONFIG] if checkout else [SYSTEM_CONFIG]


def find_config_file(
    config_file: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None, checkout: bool = True
) -> Path | None:
    """The config file to read, or None when there is none; a file named explicitly must exist."""
    env = dict(os.environ if environ is None else environ)
    places = config_places(config_file, env, checkout)
    found = next((p for p in places if p.is_file()), None)
    if found is None and (config_file or env.get("MAILBOT_CONFIG")):
        raise FileNotFoundError(f"config file not found: {places[0]}")
    return found


def load(
    config_file: str | os.PathLike[str] | None = None,
    database_url: str | None = None,
    environ: Mapping[str, str] | None = None,
    checkout: bool = True,
) -> Settings:
    """The settings, checked whole; ConfigError (or FileNotFoundError for a named file) if unusable."""
    env = dict(os.environ if environ is None else environ)
    found = find_config_file(config_file, env, checkout)
    values = {section: dict(keys) for section, keys in DEFAULTS.items()}
    origins = {(section, key): "default" for section, keys in DEFAULTS.items() for key in keys}
    where = {(section, key): "default" for section, keys in DEFAULTS.items() for key in keys}
    if found:
        for section, keys in _read_file(found).items():
            for key, value in keys.items():
                _check_type(value, DEFAULTS[section][key], str(found), section, key)
                values[section][key] = value
                origins[(section, key)], where[(section, key)] = "file", str(found)
    variables = {f"MAILBOT_{section}_{key}".upper(): (section, key) for section, key in origins}
    for name, (section, key) in variables.items():
        if name in env:
            values[section][key] = _coerce(env[name], DEFAULTS[section][key], name, section, key)
            origins[(section, key)], where[(section, key)] = "env", name
    if database_url:
        values["database"]["url"] = database_url
        origins[("database", "url")], where[("database", "url")] = "flag", "--db"
    # The IMAP password may sit in a variable of any name, MAILBOT_-prefixed ones included.
    allowed = variables.keys() | OTHER_VARIABLES | {values["imap"]["password_env"]}
    for name in sorted(env):
        if name.startswith("MAILBOT_") and name not in allowed and not name.startswith(TEST_VARIABLE_PREFIX):
            raise ConfigError(
                f"{name}: unknown variable; settings are MAILBOT_<SECTION>_<KEY> for the keys of "
                f"config.toml (like MAILBOT_DATABASE_URL), besides {', '.join(sorted(OTHER_VARIABLES))}"
            )
    base = found.resolve().parent if found else Path.cwd()
    sections: dict[str, Any] = {  # each its section's dataclass, as Settings types them
        name: cls.from_raw(_Section(name, values[name], {k: w for (s, k), w in where.items() if s == name}, base))
        for name, cls in SECTIONS.items()
    }
    return Settings(
        **{("import_" if n == "import" else n): v for n, v in sections.items()},
        file=found,
        base_dir=base,
        sources=MappingProxyType(origins),
        values=MappingProxyType({name: MappingProxyType(keys) for name, keys in values.items()}),
    )
