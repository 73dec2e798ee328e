"""Schema changes go through Alembic: an existing database upgrades in place, and migrating twice is a no-op."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from storage.db import MIGRATIONS, make_engine, migrate
from storage.models import Base

HEAD = ScriptDirectory(str(MIGRATIONS)).get_current_head()


def _upgrade_to(engine, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def test_a_database_of_the_first_schema_upgrades_keeping_its_rows(database_url):
    engine = make_engine(database_url)
    try:
        _upgrade_to(engine, "0001")
        with engine.begin() as db:
            db.execute(sa.text("insert into role_assignments (user_id, role, provider_scope, granted_at) "
                               "values ('U0OLD00001', 'approver', '*', CURRENT_TIMESTAMP)"))
        migrate(engine)
        migrate(engine)  # what every `resetbot run` does on start
        with engine.connect() as db:
            assert db.execute(sa.text("select user_id from role_assignments")).scalars().all() == ["U0OLD00001"]
            columns = {c["name"] for c in sa.inspect(db).get_columns("reset_requests")}
            version = db.execute(sa.text("select version_num from alembic_version")).scalar()
        assert "customer_informed_at" in columns and version == HEAD
    finally:
        engine.dispose()


def test_upgrade_from_an_empty_database_builds_every_table_of_the_models(database_url):
    engine = make_engine(database_url)
    try:
        migrate(engine)
        with engine.connect() as db:
            tables = set(sa.inspect(db).get_table_names())
        assert set(Base.metadata.tables) <= tables
    finally:
        engine.dispose()


def test_models_and_migrations_agree(database_url):
    """What `alembic revision --autogenerate` would write after the newest migration: nothing."""
    engine = make_engine(database_url)
    try:
        migrate(engine)
        with engine.connect() as db:
            differences = compare_metadata(MigrationContext.configure(db), Base.metadata)
        assert differences == []
    finally:
        engine.dispose()


def test_the_agreement_check_can_fail(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        _upgrade_to(engine, "0001")  # a schema one migration behind the models
        with engine.connect() as db:
            differences = compare_metadata(MigrationContext.configure(db), Base.metadata)
        assert any(d[0] == "add_column" and d[3].name == "customer_informed_at" for d in differences)
    finally:
        engine.dispose()


def test_every_migration_downgrades_to_an_empty_schema_and_up_again(database_url):
    engine = make_engine(database_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    try:
        migrate(engine)
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "base")
        with engine.connect() as db:
            assert set(sa.inspect(db).get_table_names()) <= {"alembic_version"}
        migrate(engine)
        with engine.connect() as db:
            assert set(Base.metadata.tables) <= set(sa.inspect(db).get_table_names())
    finally:
        engine.dispose()


def test_the_alembic_cli_of_a_checkout_migrates_database_url(tmp_path):
    root = Path(__file__).resolve().parents[2]
    database = tmp_path / "cli.db"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{database}"}
    done = subprocess.run([sys.executable, "-m", "alembic", "-c", str(root / "alembic.ini"), "upgrade", "head"],
                          cwd=root, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    engine = make_engine(f"sqlite:///{database}")
    try:
        with engine.connect() as db:
            assert db.execute(sa.text("select version_num from alembic_version")).scalar() == HEAD
    finally:
        engine.dispose()


def _insert_request(db, request_id: str, account: str, status: str, created: str) -> None:
    db.execute(sa.text(
        "insert into reset_requests (id, provider, account, account_input, method, reason, requester_id, status, "
        "created_at, updated_at, expires_at, execution_attempts, reveal_state) values (:id, 'mofh', :account, "
        ":account, 'set_password', 'a reason of some length', 'U0OLD00001', :status, :created, :created, "
        ":created, 0, 'none')"), {"id": request_id, "account": account, "status": status, "created": created})


def test_the_open_request_index_upgrade_expires_later_waiting_duplicates_and_then_holds(database_url):
    engine = make_engine(database_url)
    try:
        _upgrade_to(engine, "0002")
        with engine.begin() as db:  # what an older version let in: two or three open for one account
            _insert_request(db, "rr_a_first", "webq7k2m", "pending", "2026-01-01 10:00:00")
            _insert_request(db, "rr_a_second", "webq7k2m", "pending", "2026-01-01 10:05:00")
            _insert_request(db, "rr_b_waiting", "susp01x", "pending", "2026-01-01 10:00:00")
            _insert_request(db, "rr_b_changing", "susp01x", "executing", "2026-01-01 10:01:00")
            _insert_request(db, "rr_c_done", "slow01", "succeeded", "2026-01-01 09:00:00")
        migrate(engine)
        with engine.connect() as db:
            statuses = dict(db.execute(sa.text("select id, status from reset_requests")).all())
        assert statuses == {"rr_a_first": "pending", "rr_a_second": "expired", "rr_b_waiting": "expired",
                            "rr_b_changing": "executing", "rr_c_done": "succeeded"}
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as db:
            _insert_request(db, "rr_a_third", "webq7k2m", "pending", "2026-01-01 11:00:00")
        with engine.begin() as db:  # an ended request does not count: the index is partial
            _insert_request(db, "rr_c_again", "slow01", "pending", "2026-01-01 11:00:00")
            _insert_request(db, "rr_a_denied", "webq7k2m", "denied", "2026-01-01 11:00:00")
    finally:
        engine.dispose()


def test_the_open_request_index_upgrade_stops_with_a_sentence_on_two_changes_at_once(database_url):
    engine = make_engine(database_url)
    try:
        _upgrade_to(engine, "0002")
        with engine.begin() as db:
            _insert_request(db, "rr_one", "webq7k2m", "executing", "2026-01-01 10:00:00")
            _insert_request(db, "rr_two", "webq7k2m", "executing", "2026-01-01 10:01:00")
        with pytest.raises(RuntimeError, match="being changed at once; let them finish"):
            migrate(engine)
    finally:
        engine.dispose()


def test_requests_made_before_policies_need_one_approval_and_neither_remind_nor_escalate(database_url):
    from storage import repository as repo
    from storage.db import make_sessionmaker

    engine = make_engine(database_url)
    try:
        _upgrade_to(engine, "0002")
        with engine.begin() as db:
            db.execute(sa.text(
                "insert into reset_requests (id, provider, account, account_input, method, reason, requester_id, "
                "status, created_at, updated_at, expires_at, execution_attempts, reveal_state) values ('rr_old', "
                "'mofh', 'webq7k2m', 'webq7k2m', 'set_password', 'Locked out, verified.', 'U0OLD00001', "
                "'pending', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 0, 'none')"))
        migrate(engine)
        with make_sessionmaker(engine).begin() as session:
            old = repo.get_request(session, "rr_old")
            assert repo.all_policies(session) == {}
        assert old is not None
        assert (old.approvals_needed, old.remind_at, old.escalate_at, old.escalate_to) == (1, None, None, None)
    finally:
        engine.dispose()


def _insert_audit(db, at: str, action: str, detail: dict, request_id: str | None = None) -> None:
    import json

    db.execute(sa.text("insert into audit_events (at, actor_id, action, request_id, provider, account, detail) "
                       "values (:at, 'U0OLD00001', :action, :request_id, 'mofh', 'webq7k2m', :detail)"),
               {"at": at, "action": action, "request_id": request_id, "detail": json.dumps(detail, sort_keys=True)})


def test_the_audit_chain_upgrade_chains_existing_events_and_moves_repeat_counts_out_of_them(database_url):
    """Migration 0006i: events recorded before it are chained in id order and verify; a refusal's count, which older
    versions raised on its event, moves to audit_repeats (a risk alert's own count stays); downgrading puts it back."""
    import json

    from bot.workflow.admin import Admin
    from bot.workflow.context import BaseContext
    from storage import repository as repo
    from storage.db import make_sessionmaker

    engine = make_engine(database_url)
    try:
        _upgrade_to(engine, "0005a")
        with engine.begin() as db:
            _insert_request(db, "rr_old", "webq7k2m", "pending", "2026-01-01 10:00:00")
            _insert_audit(db, "2026-01-01 10:00:00", "requested", {"reason": "Locked out, verified."}, "rr_old")
            _insert_audit(db, "2026-01-01 10:00:05.250000", "approve_refused",
                          {"why": "You can't approve your own request.", "count": 3,
                           "last_at": "2026-01-01T10:00:40.500000+00:00"}, "rr_old")
            _insert_audit(db, "2026-01-01 10:01:00", "risk_alert", {"kind": "refusals", "count": 21})
        migrate(engine)
        sessions = make_sessionmaker(engine)
        check = Admin(BaseContext(sessions=sessions)).verify_audit_trail()
        assert (check.events, check.problem) == (3, None)
        with engine.connect() as db:
            stored = dict(db.execute(sa.text("select action, detail from audit_events")).all())
            head = db.execute(sa.text("select seq, hash from audit_chain_head")).one()
            last = db.execute(sa.text("select seq, hash from audit_events where seq = 3")).one()
        assert json.loads(stored["approve_refused"]) == {"why": "You can't approve your own request."}
        assert json.loads(stored["risk_alert"]) == {"kind": "refusals", "count": 21}
        assert tuple(head) == tuple(last)
        with sessions.begin() as session:
            shown = {r.action: r.detail for r in repo.audit_events(session)}
            since = datetime(2026, 1, 1, 9, tzinfo=UTC)
            assert repo.refusals_since(session, "U0OLD00001", "mofh", since, action="approve_refused") == 3
        assert shown["approve_refused"] == {"why": "You can't approve your own request.", "count": 3,
                                            "last_at": "2026-01-01T10:00:40.500000+00:00"}
        _upgrade_to(engine, "head")  # and an event recorded after the upgrade follows them
        with sessions.begin() as session:
            repo.add_audit(session, at=datetime(2026, 1, 2, tzinfo=UTC), action="role_granted", detail={"n": 1})
        assert Admin(BaseContext(sessions=sessions)).verify_audit_trail().events == 4

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0005a")
        with engine.connect() as db:
            detail = db.execute(sa.text("select detail from audit_events where action = 'approve_refused'")).scalar()
        assert json.loads(detail) == {"why": "You can't approve your own request.", "count": 3,
                                      "last_at": "2026-01-01T10:00:40.500000+00:00"}
    finally:
        engine.dispose()
