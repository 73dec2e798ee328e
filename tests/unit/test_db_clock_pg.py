"""PostgreSQL: the first read of a unit of work that reads grants brings now() along (storage/repository.py:
grants_for), so db_now costs no second round trip; the answer is the transaction's now(), as before."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import event, select, text

from bot.domain import Role
from storage import repository as repo
from storage.db import make_engine, make_sessionmaker, migrate
from tests.conftest import POSTGRES_URL, fresh_postgres_database

pytestmark = [pytest.mark.postgres,
              pytest.mark.skipif(not POSTGRES_URL, reason="RESETBOT_TEST_POSTGRES_URL is not set")]


@pytest.fixture
def sessions():
    url, drop = fresh_postgres_database()
    engine = make_engine(url)
    migrate(engine)
    try:
        yield make_sessionmaker(engine), engine
    finally:
        engine.dispose()
        drop()


def _statements(engine) -> list[str]:
    seen: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda _c, _k, statement, *_a: seen.append(statement))
    return seen


@pytest.mark.parametrize("granted", [False, True])
def test_grants_and_the_database_clock_come_in_one_statement(sessions, granted):
    maker, engine = sessions
    now = datetime.now(UTC)
    with maker.begin() as session:
        if granted:
            repo.add_grant(session, user_id="U0ENGINEER1", role=Role.REQUESTER, provider=None, granted_by="t", now=now)
            repo.add_grant(session, user_id="S0LEADS", role=Role.APPROVER, provider="mofh", granted_by="t", now=now)
    seen = _statements(engine)
    with maker.begin() as session:
        grants = repo.grants_for(session, "U0ENGINEER1")
        clock = repo.db_now(session)
        assert len(seen) == 1  # db_now asked nothing more
        assert clock == session.execute(select(text("now()"))).scalar()  # the transaction's start, as now() says
    assert sorted((g.user_id, g.role) for g in grants) == (
        [("S0LEADS", Role.APPROVER), ("U0ENGINEER1", Role.REQUESTER)] if granted else [])
