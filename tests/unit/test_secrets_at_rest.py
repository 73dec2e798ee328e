"""SQLite keeps no copy of a destroyed sealed value: secure_delete zeroes it, `scrub` empties the WAL (item 14)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text

from storage.db import make_engine, make_sessionmaker, migrate, scrub, transaction

PIECE = b"sealed-value-marker-"
MARKER = b"gAAAAA" + PIECE * 10  # as long as a sealed password


def _files(tmp_path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(tmp_path.iterdir()) if p.name.startswith("bot.db"))


def test_a_destroyed_value_leaves_neither_the_database_file_nor_the_wal(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'bot.db'}")
    try:
        migrate(engine)
        sessions = make_sessionmaker(engine)
        now = datetime.now(UTC).isoformat(sep=" ")
        with transaction(sessions) as session:  # its row among others, as in a real table
            for n in range(5):
                session.execute(text(
                    "insert into reset_requests (id, provider, account, account_input, method, reason, "
                    "requester_id, status, created_at, updated_at, expires_at, execution_attempts, reveal_state, "
                    "sealed_password) values (:id, 'mofh', 'webq7k2m', 'webq7k2m', 'set_password', "
                    "'a reason of some length', 'U0ENGINEER1', 'succeeded', :now, :now, :now, 1, 'ready', :sealed)"),
                    {"id": f"rr_{n}", "now": now, "sealed": MARKER if n == 2 else None})
        with sessions() as session:  # a checkpoint: the value is in the database file itself now
            session.connection().exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        assert MARKER in _files(tmp_path)
        with transaction(sessions) as session:
            session.execute(text("update reset_requests set sealed_password = NULL where id = 'rr_2'"))
        assert MARKER in _files(tmp_path)  # the WAL still holds the page as it was
        assert scrub(sessions) is True
        assert PIECE not in _files(tmp_path)  # not even a fragment in a free part of the page
    finally:
        engine.dispose()


def test_scrub_is_a_no_op_for_an_in_memory_database():
    engine = make_engine("sqlite://")
    try:
        migrate(engine)
        assert scrub(make_sessionmaker(engine)) is True
    finally:
        engine.dispose()


def test_every_sqlite_connection_overwrites_what_it_deletes(tmp_path):
    """secure_delete: a freed cell or page is zeroed, not left in the file for whoever copies it."""
    engine = make_engine(f"sqlite:///{tmp_path / 'bot.db'}")
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA secure_delete").scalar() == 1
    finally:
        engine.dispose()


def test_a_new_connection_never_opens_the_database_file_the_open_ones_hold_locks_on(tmp_path, monkeypatch):
    """Closing any descriptor of a file drops this process's POSIX locks on it, SQLite's included
    (https://sqlite.org/howtocorrupt.html §2.2): the 0600 check of a new connection must not open the file."""
    import os

    from storage import db

    url = f"sqlite:///{tmp_path}/resetbot.db"
    engine = db.make_engine(url)
    with engine.connect() as first:
        first.exec_driver_sql("CREATE TABLE t (x INTEGER)")
        first.commit()
        opened: list[str] = []
        real_open = os.open
        monkeypatch.setattr(db.os, "open", lambda path, *a, **k: opened.append(str(path)) or real_open(path, *a, **k))
        # A second connection while the first is open: another engine of this process (a SQLite file's own pool
        # keeps one connection, storage/db.py), whose new connection runs the same check.
        other = db.make_engine(url)
        with other.connect() as second:
            second.exec_driver_sql("SELECT count(*) FROM t").scalar()
        other.dispose()
    assert f"{tmp_path}/resetbot.db" not in opened
    assert os.stat(tmp_path / "resetbot.db").st_mode & 0o777 == 0o600
    engine.dispose()
