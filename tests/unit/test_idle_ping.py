"""PostgreSQL connections are pinged before use only after sitting idle (storage/db.py: _ping_connections_idle_for).

A busy pool skips the ping's round trip; a connection that idled past PING_AFTER_IDLE_SECONDS and died
meanwhile (a server restart, a cut connection) is replaced before a unit of work meets it.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy import event

import storage.db as db
from tests.conftest import POSTGRES_URL, fresh_postgres_database

pytestmark = [pytest.mark.postgres,
              pytest.mark.skipif(not POSTGRES_URL, reason="RESETBOT_TEST_POSTGRES_URL is not set")]


@pytest.fixture
def engine():
    url, drop = fresh_postgres_database()
    engine = db.make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()
        drop()


def _pings(engine) -> list[str]:
    seen: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _count(_conn, _cursor, statement, *_args):
        seen.append(statement)

    return seen


def _backend_pid(engine) -> int:
    with engine.connect() as connection:
        return connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()


def test_a_busy_connection_is_not_pinged(engine):
    with engine.connect() as connection:
        connection.exec_driver_sql("SELECT 1")
    statements = _pings(engine)
    with engine.connect() as connection:  # back from the pool at once: no ping first
        connection.exec_driver_sql("SELECT 2")
    assert statements == ["SELECT 2"]


def test_a_connection_that_idled_and_died_is_replaced_before_use(engine, monkeypatch):
    first = _backend_pid(engine)
    with sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT").connect() as admin:
        admin.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": first})  # the pooled one dies
    later = db.time.monotonic() + db.PING_AFTER_IDLE_SECONDS + 1
    monkeypatch.setattr(db.time, "monotonic", lambda: later)  # as if it idled past the threshold
    with engine.connect() as connection:  # the ping fails, the pool connects afresh: no error reaches us
        assert connection.exec_driver_sql("SELECT pg_backend_pid()").scalar() != first
