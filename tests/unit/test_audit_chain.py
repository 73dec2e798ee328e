"""The audit trail is append-only in the database and hash-chained (docs/CONTRACT.md "Rules that always hold",
`resetbot audit verify`, `resetbot audit export --follow`; storage/audit_chain.py, migration 0006i)."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from bot import cli
from bot.domain import NotAllowed, ServiceUnavailable
from bot.workflow.admin import Admin
from bot.workflow.context import BaseContext
from storage import audit_chain
from storage import repository as repo
from storage.db import make_engine, make_sessionmaker, migrate, transaction
from tests.conftest import POSTGRES_URL, fresh_postgres_database
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


def _ids_by_seq(engine) -> dict[int, int]:
    with engine.connect() as db:
        return dict(db.execute(sa.text("SELECT seq, id FROM audit_events")).all())


def _allow_tampering(engine) -> None:
    """What someone with the database's credentials could do first: take the triggers away."""
    with engine.begin() as db:
        if db.dialect.name == "postgresql":
            db.exec_driver_sql("ALTER TABLE audit_events DISABLE TRIGGER USER")
        else:
            for name in ("audit_events_no_update", "audit_events_no_delete"):
                db.exec_driver_sql(f"DROP TRIGGER {name}")


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


@pytest.mark.postgres
@pytest.mark.skipif(not POSTGRES_URL, reason="RESETBOT_TEST_POSTGRES_URL is not set")
def test_an_event_about_a_request_another_unit_of_work_holds_waits_for_it_without_a_deadlock():
    """One unit of work holds a request's row (an approval) and records an event; another records an event about that
    request (a refusal) and commits first. Its event's foreign key waits for the row: it must not hold the chain's
    head meanwhile, or the holder, appending at its commit, waits for the head and PostgreSQL cancels one of them."""
    url, drop = fresh_postgres_database()
    engine = make_engine(url)
    try:
        migrate(engine)
        sessions = make_sessionmaker(engine)
        now = datetime.now(UTC)
        with transaction(sessions) as session:
            repo.add_request(session, audit={"at": now, "action": "requested", "actor_id": "U0E", "detail": {}},
                             id="rr_held", provider="mofh", account="webq7k2m", account_input="webq7k2m",
                             method="set_password", reason="Customer locked out.", ticket=None,
                             requester_id="U0ENGINEER1", source_view_id="V1", status="pending", created_at=now,
                             updated_at=now, expires_at=now + timedelta(hours=1), approvals_needed=1,
                             execution_attempts=0, reveal_state="none")
        failures: list[BaseException] = []
        waiting = threading.Event()

        def refused_meanwhile() -> None:
            try:
                with transaction(sessions) as session:
                    repo.add_audit(session, at=now, action="approve_refused", actor_id="U0OTHER", request_id="rr_held",
                                   provider="mofh", account="webq7k2m", detail={"why": "no role"})
                    waiting.set()
            except BaseException as exc:  # reported below
                failures.append(exc)

        with transaction(sessions) as holder:
            assert repo.lock_request(holder, "rr_held") is not None
            repo.add_audit(holder, at=now, action="approved", actor_id="U0APPROVER1", request_id="rr_held",
                           provider="mofh", account="webq7k2m", detail={"approvals": "1 of 1"})
            other = threading.Thread(target=refused_meanwhile)
            other.start()
            assert waiting.wait(10)
            with engine.connect() as db:  # the other unit of work is committing, waiting for the row
                deadline = time.monotonic() + 10
                while not db.execute(sa.text("SELECT count(*) FROM pg_locks WHERE NOT granted")).scalar():
                    assert time.monotonic() < deadline, "the other commit never waited for the request's row"
                    time.sleep(0.01)
        other.join(30)
        assert failures == []
        check = _verify(engine)
        assert (check.events, check.problem) == (3, None)
    finally:
        engine.dispose()
        drop()


# --- verify ---------------------------------------------------------------------------------------------------


def test_verify_an_intact_chain(engine, workflow, notifier):
    request, _ = workflow.intake.submit(mofh_form(), requester_id="U0ENGINEER1", source_view_id="V1")
    workflow.decisions.approve(request.id, "U0APPROVER1")
    workflow.reveal.begin(notifier.reveal_button(request.id), "U0ENGINEER1")
    with engine.connect() as db:
        events = db.execute(sa.text("SELECT count(*) FROM audit_events")).scalar()
        seqs = db.execute(sa.text("SELECT seq FROM audit_events ORDER BY id")).scalars().all()
    assert events >= 5 and seqs == list(range(1, events + 1))
    assert _verify(engine).events == events and _verify(engine).problem is None


def test_verify_an_empty_trail(engine):
    check = _verify(engine)
    assert (check.events, check.problem) == (0, None)


def _cli(monkeypatch, capsys, database_url, *args) -> tuple[int, str, str]:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("RESETBOT_SEAL_KEY", SEAL_KEY)
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_audit_verify_says_how_many_events_are_intact(database_url, engine, monkeypatch, capsys):
    _record(engine, 3)
    assert _cli(monkeypatch, capsys, database_url, "audit", "verify") == (0, "3 events, chain intact\n", "")


TAMPERING = {
    "changed": (["UPDATE audit_events SET detail = '{\"user\": \"U0INTRUDER\", \"role\": \"admin\"}' WHERE seq = 3"],
                lambda ids: f"event {ids[3]} (seq 3) was changed"),
    "changed after its hash": (["UPDATE audit_events SET at = (SELECT at FROM audit_events WHERE seq = 1) "
                                "WHERE seq = 4"], lambda ids: f"event {ids[4]} (seq 4) was changed"),
    "a middle one removed": (["DELETE FROM audit_events WHERE seq = 3"],
                             lambda ids: f"event seq 3 was removed: the chain goes from event {ids[2]} (seq 2) "
                                         f"to event {ids[4]} (seq 4)"),
    "two removed": (["DELETE FROM audit_events WHERE seq IN (2, 3)"], lambda ids: "events seq 2-3 were removed"),
    "the first removed": (["DELETE FROM audit_events WHERE seq = 1"],
                          lambda ids: "event seq 1 was removed: the chain goes from the start of the chain"),
    "the last removed": (["DELETE FROM audit_events WHERE seq = 5"],
                         lambda ids: f"event seq 5 was removed: the chain's head is at seq 5, its last event is "
                                     f"event {ids[4]} (seq 4)"),
    "two swapped": (["UPDATE audit_events SET seq = -1 WHERE seq = 2", "UPDATE audit_events SET seq = 2 WHERE seq = 3",
                     "UPDATE audit_events SET seq = 3 WHERE seq = -1"],
                    lambda ids: f"event {ids[3]} (seq 2) is out of order: it does not follow event {ids[1]} (seq 1)"),
    "one renumbered after a removal": (["DELETE FROM audit_events WHERE seq = 3",
                                        "UPDATE audit_events SET seq = seq - 1 WHERE seq > 3"],
                                       lambda ids: f"event {ids[4]} (seq 3) is out of order"),
}


@pytest.mark.parametrize("tampering", TAMPERING)
def test_audit_verify_names_the_first_event_changed_removed_or_out_of_order(database_url, engine, monkeypatch,
                                                                           capsys, tampering):
    _record(engine, 5)
    ids = _ids_by_seq(engine)
    _allow_tampering(engine)
    statements, expected = TAMPERING[tampering]
    with engine.begin() as db:
        for statement in statements:
            db.execute(sa.text(statement))
    code, out, err = _cli(monkeypatch, capsys, database_url, "audit", "verify")
    assert (code, out) == (1, "")
    assert err.startswith("resetbot: audit verify: ") and err.count("\n") == 1
    assert expected(ids) in err, err


def test_an_event_changed_and_rehashed_breaks_the_link_to_the_next(engine):
    _record(engine, 4)
    ids = _ids_by_seq(engine)
    _allow_tampering(engine)
    with engine.begin() as db:
        row = db.execute(sa.text("SELECT * FROM audit_events WHERE seq = 3")).one()
        rehashed = audit_chain.chain_hash(row.prev_hash, audit_chain.canonical(
            at=datetime.fromisoformat(str(row.at)).replace(tzinfo=UTC) if isinstance(row.at, str) else row.at,
            actor_id=row.actor_id, action=row.action, request_id=row.request_id, provider=row.provider,
            account="someone-else", detail=json.loads(row.detail)))
        db.execute(sa.text("UPDATE audit_events SET account = 'someone-else', hash = :hash WHERE seq = 3"),
                   {"hash": rehashed})
    assert _verify(engine).problem.startswith(
        f"event {ids[4]} (seq 4) is out of order: it does not follow event {ids[3]} (seq 3) (it was inserted out "
        "of order, or the event before it was removed, or changed and its hash recomputed)")


def test_a_forged_event_appended_past_the_head_is_out_of_order(engine):
    _record(engine, 2)
    with engine.begin() as db:
        if db.dialect.name != "postgresql":
            pytest.skip("SQLite's head follows every insert (a trigger); the forgery then breaks the hash instead")
        db.exec_driver_sql("INSERT INTO audit_events (at, action, detail, seq, prev_hash, hash) "
                           "SELECT at, 'forged', '{}', 3, hash, hash FROM audit_events WHERE seq = 2")
    assert "(seq 3) was inserted out of order: it comes after the chain's head (seq 2)" in _verify(engine).problem


# --- export --follow ------------------------------------------------------------------------------------------


class Follower:
    """`resetbot audit export --follow` in its own process; its output lines, as they come."""

    def __init__(self, database_url: str, *args: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "RESETBOT_", "DATABASE_URL"))}
        env.update(DATABASE_URL=database_url, RESETBOT_SEAL_KEY=SEAL_KEY)
        self.process = subprocess.Popen([sys.executable, "-m", "bot.cli", "audit", "export", "--follow", *args],
                                        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.errors: queue.Queue[str] = queue.Queue()
        for stream, into in ((self.process.stdout, self.lines), (self.process.stderr, self.errors)):
            threading.Thread(target=lambda s=stream, q=into: [q.put(line) for line in s], daemon=True).start()

    def events(self, n: int, timeout: float = 30) -> list[dict]:
        deadline, got = time.monotonic() + timeout, []
        while len(got) < n:
            try:
                got.append(json.loads(self.lines.get(timeout=max(0.01, deadline - time.monotonic()))))
            except queue.Empty:
                raise AssertionError(f"{len(got)} of {n} events came within {timeout} s: {got}") from None
        return got

    def error_line(self, timeout: float = 30) -> str:
        return self.errors.get(timeout=timeout)

    def stop(self) -> tuple[int, str]:
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(30)
        rest = []
        while not self.errors.empty():
            rest.append(self.errors.get())
        return code, "".join(rest)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


def test_export_follow_prints_what_is_there_then_each_new_event(database_url, engine):
    _record(engine, 3)
    follower = Follower(database_url)
    try:
        first = follower.events(3)
        assert [e["seq"] for e in first] == [1, 2, 3]
        assert first[0]["detail"] == {"user": "U0USER0000", "role": "approver", "note": "é ✓ \u202e"}
        _record(engine, 2, first=3)
        assert [e["seq"] for e in follower.events(2)] == [4, 5]
        code, err = follower.stop()
        assert code == 0 and err == ""
        assert follower.lines.empty()
    finally:
        follower.kill()


@pytest.mark.postgres
@pytest.mark.skipif(not POSTGRES_URL, reason="RESETBOT_TEST_POSTGRES_URL is not set")
def test_export_follow_survives_a_database_restart():
    """The database goes away (every connection cut, new ones refused), then comes back."""
    url, drop = fresh_postgres_database()
    database = sa.engine.make_url(url).database
    engine = make_engine(url)
    migrate(engine)
    _record(engine, 2)
    follower = Follower(url)
    server = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        assert [e["seq"] for e in follower.events(2)] == [1, 2]
        with server.connect() as db:
            db.exec_driver_sql(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS false')
            db.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"),
                       {"name": database})
        assert "the database is not answering" in follower.error_line()
        with server.connect() as db:
            db.exec_driver_sql(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS true')
        engine.dispose()  # its connections were cut too
        _record(engine, 2, first=2)
        assert [e["seq"] for e in follower.events(2)] == [3, 4]
        assert "answers again; resuming after seq 2" in follower.error_line()
        code, err = follower.stop()
        assert code == 0 and "Traceback" not in err
    finally:
        follower.kill()
        with server.connect() as db:
            db.exec_driver_sql(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS true')
        server.dispose()
        engine.dispose()
        drop()


def test_export_follow_retries_with_one_line_and_resumes_after_the_last_event(monkeypatch, capsys):
    """The loop itself: a database error is one line on stderr, then tries again and prints nothing twice."""
    from bot.domain import AuditRecord

    monkeypatch.setattr(cli, "FOLLOW_POLL_SECONDS", 0.01)
    asked: list[int] = []

    class Flaky:
        def audit_after(self, seq, *, since=None, limit=500):
            asked.append(seq)
            if len(asked) in (2, 3, 4):
                try:
                    raise OSError("server closed the connection unexpectedly")
                except OSError:
                    raise ServiceUnavailable("The bot's database is not answering right now") from None
            if len(asked) == 6:
                signal.raise_signal(signal.SIGTERM)
            if len(asked) in (1, 5):
                return [AuditRecord(seq + 1, START, None, "role_granted", None, None, None, {}, seq=seq + 1,
                                    hash="ab" * 32)]
            return []

    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        assert cli._follow_audit(Flaky(), None) == 0
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    out, err = capsys.readouterr()
    assert [json.loads(line)["seq"] for line in out.splitlines()] == [1, 2]
    assert asked == [0, 1, 1, 1, 1, 2]
    assert err.splitlines() == [
        "resetbot: audit export --follow: the database is not answering (server closed the connection "
        "unexpectedly); retrying, then resuming after seq 1",
        "resetbot: audit export --follow: the database answers again; resuming after seq 1"]


def test_export_follow_with_csv_is_a_usage_error(monkeypatch, capsys, tmp_path):
    code, out, err = _cli(monkeypatch, capsys, f"sqlite:///{tmp_path / 'x.db'}", "audit", "export", "--follow",
                          "--format", "csv")
    assert code == 2 and out == "" and err.count("\n") == 1 and "--follow" in err and "csv" in err
