"""Engine, sessions and migrations.

`hide_parameters=True` keeps bound values (sealed tokens included) out of SQL error
strings and logs (docs/security.md §5). SQLite gets WAL and a busy timeout so the bot's
threads and a CLI command can share the file; the file is created 0600 before SQLite
opens it (SQLite gives its -wal, -shm and -journal files the database file's mode), and
an existing one that group or others may read is narrowed to 0600. `secure_delete` makes a
destroyed sealed value overwritten with zeros rather than left in a free page; `scrub` then
empties the WAL, which otherwise keeps the older copies of the page (docs/guarantees.md "Secrets at rest").
"""

from __future__ import annotations

import logging
import os
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from bot.domain import ServiceUnavailable
from storage.audit_chain import SQLITE_SHA256, sha256_hex

MIGRATIONS = Path(__file__).parent / "migrations"
log = logging.getLogger(__name__)

# The files SQLite keeps beside a database (docs/CONTRACT.md: files the bot creates are 0600).
SIDECARS = ("-wal", "-shm", "-journal")

# SQLite's synchronous levels (https://sqlite.org/pragma.html#pragma_synchronous): every unit of work at
# NORMAL, the ones that must survive a power cut at FULL (transaction(durable=True)).
NORMAL, FULL = 1, 2
DURABLE = "resetbot_durable"  # connection record flag: this connection runs at FULL until it is checked in
# A SQLite file is used through one pooled connection (issue 13). SQLite lets one writer at a time change the
# whole file, and nearly every unit of work writes, so more connections mostly waited for one another; each also
# kept its own page cache, which every other connection's commit made stale, so most statements re-read their
# pages. Under bench/burst.py one connection took 17-19% less CPU and lowered the p99 ack and Approve -> Reveal
# DM, with loopback Slack and with 100 ms Slack answers alike (docs/performance.md). A unit of work waits for it
# as long as SQLite waits for a lock held by another process (a CLI command); past that, ServiceUnavailable.
SQLITE_BUSY_SECONDS = 30
NOT_ANSWERING = "The bot's database is not answering right now, so nothing was changed. Try again in a minute."


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        memory = url in ("sqlite://", "sqlite:///:memory:")
        engine = create_engine(
            url,
            hide_parameters=True,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_SECONDS},
            poolclass=StaticPool if memory else None,
            **({} if memory else {"pool_size": 1, "max_overflow": 0, "pool_timeout": SQLITE_BUSY_SECONDS}),
        )

        path = None if memory else _sqlite_file(url)
        if path is not None:
            @event.listens_for(engine, "do_connect")
            def _private_files(_dialect, _record, _cargs, _cparams):
                make_private(path)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            cursor = dbapi_connection.cursor()
            if not memory:
                cursor.execute("PRAGMA journal_mode=WAL")
                # WAL with NORMAL: a commit is not fsynced (it cannot corrupt the file, but a power cut may lose
                # the last commits); a unit of work that must survive one asks `transaction(durable=True)`.
                cursor.execute(f"PRAGMA synchronous={NORMAL}")
            cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_SECONDS * 1000)}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA secure_delete=ON")
            cursor.close()
            # The audit chain's hash, computed in the statement that appends an event (storage/repository.py).
            dbapi_connection.create_function(SQLITE_SHA256, 1, sha256_hex, deterministic=True)

        @event.listens_for(engine, "checkin")
        def _back_to_normal(dbapi_connection, record):
            if record.info.pop(DURABLE, False):  # transaction(durable=True) raised it for one unit of work
                dbapi_connection.execute(f"PRAGMA synchronous={NORMAL}")

        return engine
    engine = create_engine(url, hide_parameters=True, pool_size=10, max_overflow=10)
    _ping_connections_idle_for(engine, PING_AFTER_IDLE_SECONDS)
    return engine


# A pooled PostgreSQL connection idle longer than this is pinged before use (a server restarted or a connection
# cut while the bot was quiet is replaced before a unit of work meets it); busier ones are not, saving a round
# trip per unit of work (issue 13). A connection that breaks in use makes SQLAlchemy drop every pooled one older
# than it, so after an outage the next unit of work connects afresh.
PING_AFTER_IDLE_SECONDS = 5.0
_IDLE_SINCE = "resetbot_idle_since"  # connection record info: when it went back to the pool


def _ping_connections_idle_for(engine: Engine, seconds: float) -> None:
    @event.listens_for(engine, "checkin")
    def _idle_from(_dbapi_connection, record) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection, record, _proxy) -> None:
        idle_since = record.info.get(_IDLE_SINCE)
        if idle_since is None or time.monotonic() - idle_since < seconds:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:  # the pool retries the checkout on a fresh connection
            raise DisconnectionError("a pooled connection did not answer its ping") from exc


def _sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL; None for memory or a `file:` URI (its options decide)."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def make_private(path: Path) -> None:
    """Create the database file 0600 if it is missing; narrow it and its journal files to 0600 if group or
    others may use them. Runs before every new connection, so a file replaced meanwhile is caught too."""
    # Never open (and close) an existing database file: closing any descriptor of a file drops every POSIX
    # lock this process holds on it, so SQLite's locks of the connections already open would be gone and
    # another process (`resetbot policy set` beside a running bot) could take the file over
    # (https://sqlite.org/howtocorrupt.html §2.2). A missing file is a new one: nobody holds a lock on it.
    if not path.exists():
        try:
            os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:  # created by another process meanwhile: its mode is checked below
            pass
    for candidate in (path, *(Path(f"{path}{suffix}") for suffix in SIDECARS)):
        try:
            mode = stat.S_IMODE(candidate.stat().st_mode)
        except FileNotFoundError:
            continue
        if mode & 0o077:
            os.chmod(candidate, mode & 0o700)
            log.warning("%s was open to group or others (mode %04o); narrowed to %04o", candidate, mode,
                        mode & 0o700)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (what `resetbot run` does on start)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Replicas starting together must not migrate at once.
            connection.exec_driver_sql("SELECT pg_advisory_xact_lock(724613)")
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def schema_revision(engine: Engine) -> str | None:
    """The migration the database is at, or None for an empty one."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def scrub(sessions: sessionmaker[Session]) -> bool:
    """After a sealed value was destroyed: copy the WAL into the database and truncate it (SQLite).

    With `secure_delete` on, the database file then holds zeros where the value was, and no
    WAL frame keeps an older copy. True when the checkpoint completed (or there is nothing to
    do: PostgreSQL, an in-memory database); False when a reader kept it from finishing, in
    which case the next scrub finishes it.
    """
    try:
        with sessions() as session:
            connection = session.connection()
            if connection.dialect.name != "sqlite" or connection.engine.url.database in (None, "", ":memory:"):
                return True
            busy, _log, _done = connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
            return busy == 0
    except (OperationalError, InterfaceError, PoolTimeout):  # locked or away: the next scrub checkpoints the rest
        return False


@contextmanager
def transaction(sessions: sessionmaker[Session], *, durable: bool = False) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on error.

    `durable`: its commit is on disk before this returns (a sealed password stored before the
    provider call, docs/CONTRACT.md "Rules that always hold"). SQLite files run WAL with
    synchronous=NORMAL, whose commits are not fsynced; this unit of work runs at FULL, which
    fsyncs the WAL at its commit (the connection goes back to NORMAL when it returns to the pool).
    PostgreSQL commits are durable already (synchronous_commit is left on).

    A database that does not answer becomes `ServiceUnavailable`, a sentence the person
    can act on, instead of a driver traceback (issue 5: the bot recovers without a restart
    because the pool pings connections that sat idle and reconnects on the next unit of work:
    _ping_connections_idle_for).
    """
    try:
        with sessions.begin() as session:
            if durable:
                _durable_commit(session)
            yield session
    except PoolTimeout:  # every pooled connection stayed busy for pool_timeout: a lock held that long, or an outage
        raise ServiceUnavailable(NOT_ANSWERING) from None
    except (OperationalError, InterfaceError) as exc:
        if getattr(exc, "connection_invalidated", False) or _is_outage(exc):
            raise ServiceUnavailable(NOT_ANSWERING) from None
        raise


def _durable_commit(session: Session) -> None:
    connection = session.connection()
    if connection.dialect.name != "sqlite" or connection.engine.url.database in (None, "", ":memory:"):
        return
    connection.exec_driver_sql(f"PRAGMA synchronous={FULL}")  # before any write: applies to this commit
    connection.connection.info[DURABLE] = True  # the same dict the checkin listener gets as record.info


def _is_outage(exc: Exception) -> bool:
    text = str(getattr(exc, "orig", exc)).lower()
    return any(
        marker in text
        for marker in ("connection", "server closed", "terminating", "could not connect", "database is locked",
                       "timeout", "shutting down", "no such host")
    )
