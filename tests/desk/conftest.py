"""The desk's app: a configured desk and two providers on a fresh database of either backend."""

from __future__ import annotations

import pytest
from helpers.desk_mail import NOW
from mailbot.store.db import create_schema, make_engine, session_scope
from sqlalchemy.engine import Engine

from mailbot import config as config_module
from mailbot.app import App, build_app
from mailbot.desk import providers


@pytest.fixture
def desk_app(db_url: str) -> App:
    settings = config_module.load(
        environ={
            "MAILBOT_MAIL_SECRET": "test-secret",
            "MAILBOT_MAIL_DOMAIN": "desk.example",
            "MAILBOT_MAIL_FROM": "Traceback Desk <traceback@desk.example>",
        }
    )
    engine = make_engine(db_url)
    create_schema(engine)
    with session_scope(engine) as s:
        providers.add(
            s, "Smartbiz Telecom", emails=["noc@smartbiz.example"], backups=["backup@smartbiz.example"], now=NOW
        )
        providers.add(s, "Lingo Telecom", emails=["tb@lingo.example"], domains=["lingo.example"], now=NOW)
    return build_app(settings, engine=engine)


@pytest.fixture
def engine(desk_app: App) -> Engine:
    return desk_app.engine
