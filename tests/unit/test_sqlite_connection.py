"""A SQLite file is used through one pooled connection (storage/db.py: SQLITE_BUSY_SECONDS says why).

Units of work from many threads take turns on it; one that cannot have it within the busy
timeout is told the database is not answering, and changes nothing.
"""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import event, text

from bot.domain import ServiceUnavailable
from storage import db


def test_units_of_work_from_many_threads_take_turns_on_one_connection(tmp_path):
    engine = db.make_engine(f"sqlite:///{tmp_path / 'resetbot.db'}")
    sessions = db.make_sessionmaker(engine)
    with db.transaction(sessions) as session:
        session.execute(text("CREATE TABLE t (n INTEGER)"))
    connections: set[int] = set()
    out = {"most": 0, "now": 0}
    lock = threading.Lock()

    @event.listens_for(engine, "checkout")
    def _out(dbapi_connection, _record, _proxy):
        with lock:
            connections.add(id(dbapi_connection))
            out["now"] += 1
            out["most"] = max(out["most"], out["now"])

    @event.listens_for(engine, "checkin")
    def _in(_dbapi_connection, _record):
        with lock:
            out["now"] -= 1

    def work(i: int) -> None:
        for j in range(10):
            with db.transaction(sessions) as session:
                session.execute(text("INSERT INTO t VALUES (:n)"), {"n": i * 10 + j})

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with db.transaction(sessions) as session:
        assert session.execute(text("SELECT count(*) FROM t")).scalar() == 80
    assert len(connections) == 1 and out["most"] == 1
    engine.dispose()


def test_a_unit_of_work_that_cannot_have_the_connection_in_time_is_told_the_database_is_not_answering(
        tmp_path, monkeypatch):
    monkeypatch.setattr(db, "SQLITE_BUSY_SECONDS", 0.2)
    engine = db.make_engine(f"sqlite:///{tmp_path / 'resetbot.db'}")
    sessions = db.make_sessionmaker(engine)
    with db.transaction(sessions) as session:
        session.execute(text("CREATE TABLE t (n INTEGER)"))
    not_answering = pytest.raises(ServiceUnavailable, match="not answering right now, so nothing was changed")
    # The connection held elsewhere (a unit of work stuck behind another process's lock):
    with engine.connect(), not_answering, db.transaction(sessions) as session:
        session.execute(text("INSERT INTO t VALUES (1)"))
    with db.transaction(sessions) as session:
        assert session.execute(text("SELECT count(*) FROM t")).scalar() == 0
    engine.dispose()


def test_a_scrub_that_cannot_have_the_connection_in_time_is_left_to_the_next_one(tmp_path, monkeypatch):
    monkeypatch.setattr(db, "SQLITE_BUSY_SECONDS", 0.2)
    engine = db.make_engine(f"sqlite:///{tmp_path / 'resetbot.db'}")
    sessions = db.make_sessionmaker(engine)
    with engine.connect():
        assert db.scrub(sessions) is False  # not finished, and no traceback: the next scrub checkpoints
    assert db.scrub(sessions) is True
    engine.dispose()
