"""A request and its "requested" audit row are stored together or not at all (storage/repository.py: add_request;
on PostgreSQL one statement)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.domain import Status
from storage import repository as repo
from storage.db import make_sessionmaker, transaction


def _fields(request_id: str, view: str, account: str) -> dict:
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    return dict(id=request_id, provider="mofh", account=account, account_input=account, method="set_password",
                reason="Customer locked out of FTP.", ticket=None, requester_id="U0ENGINEER1", source_view_id=view,
                status=Status.PENDING.value, created_at=now, updated_at=now, expires_at=now + timedelta(hours=1),
                approvals_needed=1, execution_attempts=0, reveal_state="none")


def _audit(detail: str) -> dict:
    return {"at": datetime(2026, 12, 1, 12, 0, tzinfo=UTC), "action": "requested", "actor_id": "U0ENGINEER1",
            "detail": {"reason": detail}}


def _requested(sessions) -> list:
    with transaction(sessions) as session:
        return [r for r in repo.audit_events(session) if r.action == "requested"]


def test_the_audit_row_comes_with_the_request_and_not_with_a_refused_one(engine):
    sessions = make_sessionmaker(engine)
    with transaction(sessions) as session:
        stored = repo.add_request(session, audit=_audit("first"), **_fields("rr_first", "V1", "webq7k2m"))
    assert stored is not None and stored.id == "rr_first" and stored.reveal_state.value == "none"
    with transaction(sessions) as session:  # the same view again: a resubmit, nothing stored
        assert repo.add_request(session, audit=_audit("again"), **_fields("rr_again", "V1", "other001")) is None
    with pytest.raises(repo.OpenRequestExists), transaction(sessions) as session:  # the account's open request
        repo.add_request(session, audit=_audit("second"), **_fields("rr_second", "V2", "webq7k2m"))
    rows = _requested(sessions)
    assert [(r.request_id, r.provider, r.account, r.detail) for r in rows] == [
        ("rr_first", "mofh", "webq7k2m", {"reason": "first"})]
