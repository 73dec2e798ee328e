"""SQLite runs WAL at synchronous=NORMAL, except the approval that seals the new password: FULL (docs/CONTRACT.md).

The sealed password must be on disk before the provider is called; every other unit of work may
skip the fsync (storage/db.py: transaction(durable=True)).
"""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, event

from bot.domain import Role, Status
from bot.sealing import Sealer, ephemeral_key
from bot.workflow import ResetWorkflow
from storage.db import make_engine, make_sessionmaker, migrate
from tests.unit.conftest import APPROVER, ENGINEER, FakeGateway, InlineExecutor, RecordingNotifier, mofh_form


@pytest.fixture
def recorded(tmp_path, clock):
    """A workflow on a SQLite file, and per commit: (synchronous level, the statements of that unit of work)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'resetbot.db'}")
    migrate(engine)
    commits: list[tuple[int, list[str]]] = []
    statements: dict[int, list[str]] = {}

    @event.listens_for(engine, "before_cursor_execute")
    def _statement(conn, _cursor, statement, _parameters, _context, _many):
        statements.setdefault(id(conn.connection.dbapi_connection), []).append(statement)

    @event.listens_for(engine, "commit")
    def _commit(conn):
        raw = conn.connection.dbapi_connection
        level = raw.execute("PRAGMA synchronous").fetchone()[0]
        commits.append((level, statements.pop(id(raw), [])))

    calls_saw: list[list[tuple[int, list[str]]]] = []
    gateway = FakeGateway("mofh")
    execute = gateway.execute

    def execute_after_commits(**kwargs):
        calls_saw.append(list(commits))  # what had been committed when the provider was called
        return execute(**kwargs)

    gateway.execute = execute_after_commits  # type: ignore[method-assign]
    flow = ResetWorkflow(sessions=make_sessionmaker(engine), providers={"mofh": gateway},
                         sealer=Sealer(ephemeral_key()), notifier=RecordingNotifier(), executor=InlineExecutor(),
                         clock=clock, approval_ttl=3600, reveal_ttl=900, db_clock=lambda session: clock())
    flow.admin.grant(ENGINEER, Role.REQUESTER, None, actor="test")
    flow.admin.grant(APPROVER, Role.APPROVER, None, actor="test")
    yield flow, commits, calls_saw
    engine.dispose()


def _seals_password(statements: list[str]) -> bool:
    return any(s.startswith("UPDATE reset_requests") and "sealed_password" in s and "decided_by" in s
               for s in statements)


def test_only_the_commit_that_seals_the_password_waits_for_the_disk(recorded):
    flow, commits, calls_saw = recorded
    request, _ = flow.intake.submit(mofh_form(), requester_id=ENGINEER, source_view_id="V1")
    flow.intake.announce(request)
    flow.decisions.approve(request.id, APPROVER)
    assert flow.lookups.get(request.id).status is Status.SUCCEEDED

    sealing = [level for level, statements in commits if _seals_password(statements)]
    assert sealing == [2], "the approval that seals the new password commits at synchronous=FULL"
    others = {level for level, statements in commits if not _seals_password(statements)}
    assert others == {1}, "every other unit of work commits at synchronous=NORMAL"
    # The provider was called once, after that FULL commit.
    assert len(calls_saw) == 1 and any(level == 2 and _seals_password(s) for level, s in calls_saw[0])


def test_a_reset_with_a_password_to_reveal_checkpoints_the_wal_once_after_the_dm_has_its_button(recorded):
    """A checkpoint (storage/db.py: scrub) flushes the database file to disk: the end of a request that leaves a
    password to reveal takes one, after the DM has the button and the seal-key copy is destroyed, not one more
    before it (nothing else was destroyed then that this one does not clear)."""
    flow, _commits, _calls = recorded
    checkpoints: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        if "wal_checkpoint" in statement:
            checkpoints.append(statement)

    event.listen(Engine, "before_cursor_execute", count)
    try:
        request, _ = flow.intake.submit(mofh_form(), requester_id=ENGINEER, source_view_id="V1")
        flow.intake.announce(request)
        flow.decisions.approve(request.id, APPROVER)
    finally:
        event.remove(Engine, "before_cursor_execute", count)
    assert flow.lookups.get(request.id).reveal_sent_at is not None
    assert len(checkpoints) == 1
