"""The workflow's side of text from people: the reason and ticket as stored and audited, and repeated refusals.

A refusal repeated by the same person, for the same request (or provider and account), with
the same reason, within 60 seconds of the first, adds no audit row: it raises the `count` the
audit trail shows on the first row (kept beside it, the row never changes: tests/unit/test_audit_chain.py)
and is raised as `AlreadyTold`, which the transport acknowledges without a new message
(handlers/errors.py). After the window the next one is audited and told again.
"""

from __future__ import annotations

import pytest

from bot.domain import AlreadyTold, InputErrors, NotAllowed, Role
from tests.unit.conftest import APPROVER, ENGINEER, OTHER, mofh_form


def _submit(workflow, view_id="V1", user=ENGINEER, **form):
    request, _ = workflow.intake.submit(mofh_form(**form), requester_id=user, source_view_id=view_id)
    return request


def _audit(workflow, action):
    return [r for r in workflow.admin.audit_trail() if r.action == action]


def test_the_requested_row_records_the_reason_and_ticket_as_normalised_and_stored(workflow):
    request = _submit(workflow, reason="Locked out\r\nof FTP \u202eevil\u202c\x00 today", ticket=" SUP-1\n<!here> ")
    assert request.reason == "Locked out\nof FTP [U+202E]evil[U+202C] today"
    assert request.ticket == "SUP-1 <!here>"
    (row,) = _audit(workflow, "requested")
    assert row.detail["reason"] == request.reason and row.detail["ticket"] == request.ticket


def test_a_reason_is_measured_after_normalising_so_control_characters_do_not_count(workflow):
    with pytest.raises(InputErrors) as refused:
        _submit(workflow, reason="\x00" * 10 + "x")
    assert "reason" in refused.value.errors


def test_300_identical_refusals_in_a_minute_are_one_row_with_a_count_and_told_once(workflow, clock):
    request = _submit(workflow)
    with pytest.raises(NotAllowed) as first:
        workflow.decisions.approve(request.id, OTHER)
    assert not isinstance(first.value, AlreadyTold)
    for _ in range(299):
        clock.advance(0.1)
        with pytest.raises(AlreadyTold, match="approver role"):
            workflow.decisions.approve(request.id, OTHER)
    (row,) = _audit(workflow, "approve_refused")
    assert row.detail["count"] == 300 and row.detail["why"] == str(first.value)
    assert row.detail["last_at"] == clock().isoformat()

    clock.advance(61)  # past the first row's minute: audited and told again
    with pytest.raises(NotAllowed) as later:
        workflow.decisions.approve(request.id, OTHER)
    assert not isinstance(later.value, AlreadyTold)
    assert [r.detail.get("count") for r in _audit(workflow, "approve_refused")] == [300, None]


def test_a_different_person_request_or_reason_is_its_own_row_and_message(workflow):
    request = _submit(workflow)
    other_request = _submit(workflow, view_id="V2", account="susp01x")
    refusals = [(request.id, OTHER), (request.id, ENGINEER), (other_request.id, OTHER)]
    for request_id, who in refusals:
        with pytest.raises(NotAllowed) as refused:
            workflow.decisions.deny(request_id, who)
        assert not isinstance(refused.value, AlreadyTold)
    assert len(_audit(workflow, "deny_refused")) == 3
    workflow.admin.grant(OTHER, Role.APPROVER, None, actor="test")  # the same click, now for another reason
    workflow.decisions.deny(request.id, APPROVER)
    with pytest.raises(NotAllowed, match="already decided") as refused:
        workflow.decisions.deny(request.id, OTHER)
    assert not isinstance(refused.value, AlreadyTold)


def test_repeated_reveal_refusals_are_counted_too(workflow, notifier):
    request = _submit(workflow)
    workflow.decisions.approve(request.id, APPROVER)
    token = notifier.reveal_button(request.id)
    with pytest.raises(NotAllowed):
        workflow.reveal.begin(token, OTHER)
    for _ in range(9):
        with pytest.raises(AlreadyTold):
            workflow.reveal.begin(token, OTHER)
    (row,) = _audit(workflow, "reveal_refused")
    assert row.detail["count"] == 10
    _shown, secret = workflow.reveal.begin(token, ENGINEER)  # none of it used up the reveal
    assert secret.reveal()


def test_repeated_request_refusals_are_counted_and_still_refused(workflow):
    for n in range(5):
        with pytest.raises(NotAllowed, match="requester role"):
            _submit(workflow, view_id=f"V{n}", user=OTHER)
    (row,) = _audit(workflow, "request_refused")
    assert row.detail["count"] == 5 and row.account == "webq7k2m"


def test_racing_refusals_lose_no_count_and_tell_only_one(workflow):
    import threading

    request = _submit(workflow)
    told, start = [], threading.Barrier(8)

    def click() -> None:
        start.wait()
        for _ in range(25):
            try:
                workflow.decisions.approve(request.id, OTHER)
            except AlreadyTold:
                pass
            except NotAllowed as refused:
                told.append(refused)

    threads = [threading.Thread(target=click) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    (row,) = _audit(workflow, "approve_refused")
    assert row.detail["count"] == 200 and len(told) == 1
