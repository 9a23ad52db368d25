"""The desk's engine: a configured desk and two providers on a fresh database of either backend."""

from __future__ import annotations

import pytest
from helpers.desk_mail import NOW
from sqlalchemy.engine import Engine

from mailbot import config as config_module
from mailbot.desk import inbound, providers, workflow  # noqa: F401 - inbound registers the desk handler
from mailbot.store.db import create_schema, make_engine, session_scope


@pytest.fixture
def engine(db_url: str) -> Engine:
    workflow.configure(config_module.load(environ={"MAILBOT_MAIL_SECRET": "test-secret",
                                               "MAILBOT_MAIL_DOMAIN": "desk.example",
                                               "MAILBOT_MAIL_FROM": "Traceback Desk <traceback@desk.example>"}))
    engine = make_engine(db_url)
    create_schema(engine)
    with session_scope(engine) as s:
        providers.add(s, "Smartbiz Telecom", emails=["noc@smartbiz.example"], backups=["backup@smartbiz.example"],
                      now=NOW)
        providers.add(s, "Lingo Telecom", emails=["tb@lingo.example"], domains=["lingo.example"], now=NOW)
    return engine
