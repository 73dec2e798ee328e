"""The audit trail is append-only in the database and hash-chained (docs/CONTRACT.md "Rules that always hold",
`resetbot audit verify`, `resetbot audit export --follow`; storage/audit_chain.py, migration 0006i)."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from bot.domain import NotAllowed
from bot.workflow.admin import Admin
from bot.workflow.context import BaseContext
from storage import repository as repo
from storage.db import make_engine, make_sessionmaker, migrate, transaction
from tests.unit.conftest import OTHER, mofh_form

SEAL_KEY = "ZmFrZS1zZWFsLWtleS1mb3ItdGVzdHMtMzItYnl0ZXM="
START = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def _record(engine, n: int, *, first: int = 0) -> None:
    sessions = make_sessionmaker(engine)
    for i in range(first, first + n):
        with transaction(sessions) as session:
            repo.add_audit(session, at=START + timedelta(seconds=i, microseconds=i * 7), action="role_granted",
                           actor_id="cli:ops", provider="mofh" if i % 2 else None,
                           detail={"user": f"U0USER{i:04d}", "role": "approver", "note": "é ✓ \u202e"})


def _verify(engine):
    return Admin(BaseContext(sessions=make_sessionmaker(engine))).verify_audit_trail()


# --- append-only -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("statement", [
    "UPDATE audit_events SET detail = '{}'",
    "UPDATE audit_events SET action = 'nothing' WHERE seq = 1",
    "DELETE FROM audit_events",
    "DELETE FROM audit_events WHERE seq = 2",
    "DELETE FROM audit_chain_head",
])
def test_an_update_or_delete_of_an_audit_event_is_refused_by_the_database(engine, statement):
    _record(engine, 2)
    with engine.connect() as db:
        before = db.execute(sa.text("SELECT * FROM audit_events ORDER BY seq")).all()
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as db:
        db.execute(sa.text(statement))
    with engine.connect() as db:
        assert db.execute(sa.text("SELECT * FROM audit_events ORDER BY seq")).all() == before
    assert _verify(engine).problem is None


def test_truncate_and_replace_cannot_remove_an_event_either(engine):
    _record(engine, 2)
    with engine.begin() as db:
        dialect = db.dialect.name
    if dialect == "postgresql":
        for table in ("audit_events", "audit_chain_head", "audit_repeats"):
            with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as db:
                db.exec_driver_sql(f"TRUNCATE {table} CASCADE")
    else:  # INSERT OR REPLACE deletes the row it replaces without firing a DELETE trigger
        for statement in ("INSERT OR REPLACE INTO audit_events (id, at, action, detail, seq, prev_hash, hash) "
                          "SELECT id, at, 'forged', '{}', 99, prev_hash, hash FROM audit_events WHERE seq = 1",
                          "INSERT OR REPLACE INTO audit_events (at, action, detail, seq, prev_hash, hash) "
                          "SELECT at, 'forged', '{}', seq, prev_hash, hash FROM audit_events WHERE seq = 1"):
            with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as db:
                db.exec_driver_sql(statement)
    assert _verify(engine).events == 2 and _verify(engine).problem is None


def test_a_repeat_count_only_grows_and_is_never_deleted(workflow, engine):
    for n in range(2):
        with pytest.raises(NotAllowed):
            workflow.intake.submit(mofh_form(), requester_id=OTHER, source_view_id=f"V{n}")
    for statement in ("UPDATE audit_repeats SET count = 1", "DELETE FROM audit_repeats"):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as db:
            db.execute(sa.text(statement))


# --- repeated refusals --------------------------------------------------------------------------------------------


def test_a_repeated_refusal_leaves_its_event_untouched_and_the_count_is_kept_beside_it(workflow, engine, clock):
    with pytest.raises(NotAllowed):
        workflow.intake.submit(mofh_form(), requester_id=OTHER, source_view_id="V0")
    with engine.connect() as db:
        first = db.execute(sa.text("SELECT * FROM audit_events WHERE action = 'request_refused'")).one()
    for n in range(1, 5):
        clock.advance(1)
        with pytest.raises(NotAllowed):
            workflow.intake.submit(mofh_form(), requester_id=OTHER, source_view_id=f"V{n}")
    with engine.connect() as db:
        rows = db.execute(sa.text("SELECT * FROM audit_events WHERE action = 'request_refused'")).all()
        repeats = db.execute(sa.text("SELECT event_id, count FROM audit_repeats")).all()
    assert rows == [first] and "count" not in json.loads(first.detail)
    assert repeats == [(first.id, 5)]
    with transaction(make_sessionmaker(engine)) as session:
        assert repo.refusals_since(session, OTHER, "mofh", clock() - timedelta(hours=1)) == 5
    (shown,) = [r for r in workflow.admin.audit_trail() if r.action == "request_refused"]
    assert shown.detail["count"] == 5 and shown.detail["last_at"] == clock().isoformat()
    assert shown.seq == first.seq and shown.hash == first.hash
    assert _verify(engine).problem is None


# --- several writers at once --------------------------------------------------------------------------------------


def test_concurrent_appends_from_several_connections_keep_one_valid_chain(database_url):
    """8 threads × 50 events on their own connections (PostgreSQL: replicas), some with a request in the same
    statement (storage/repository.py: add_request) and some two to a unit of work."""
    engine = make_engine(database_url)
    repo_fields = dict(provider="mofh", account_input="x", method="set_password", reason="Customer locked out.",
                       ticket=None, requester_id="U0ENGINEER1", status="pending", approvals_needed=1,
                       execution_attempts=0, reveal_state="none")
    try:
        migrate(engine)
        sessions = make_sessionmaker(engine)
        start, failures = threading.Barrier(8), []

        def write(thread: int) -> None:
            try:
                start.wait()
                for i in range(50):
                    now = datetime.now(UTC)
                    with transaction(sessions) as session:
                        if i % 10 == 0:
                            key = f"t{thread}n{i}"
                            repo.add_request(session, audit={"at": now, "action": "requested", "actor_id": "U0E",
                                                             "detail": {"n": i}},
                                             id=f"rr_{key}", account=key, source_view_id=key, created_at=now,
                                             updated_at=now, expires_at=now + timedelta(hours=1), **repo_fields)
                        elif i % 10 == 1:
                            repo.add_audit(session, at=now, action="pair", actor_id=f"U{thread}", detail={"i": i})
                            repo.add_audit(session, at=now, action="pair", actor_id=f"U{thread}", detail={"i": -i})
                        else:
                            repo.add_audit(session, at=now, action="one", actor_id=f"U{thread}", detail={"i": i})
            except Exception as exc:  # pragma: no cover - reported below
                failures.append(exc)

        threads = [threading.Thread(target=write, args=(t,)) for t in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert failures == []
        check = _verify(engine)
        assert (check.events, check.problem) == (8 * 55, None)
        with engine.connect() as db:
            rows = db.execute(sa.text("SELECT seq, id FROM audit_events ORDER BY seq")).all()
            requested = db.execute(sa.text("SELECT count(*) FROM audit_events WHERE action = 'requested'")).scalar()
        assert [seq for seq, _ in rows] == list(range(1, 8 * 55 + 1))
        assert [i for _, i in rows] == sorted(i for _, i in rows) and requested == 8 * 5
    finally:
        engine.dispose()
