"""N-of-M approvals through the workflow (bot/workflow/decisions.py), on SQLite and PostgreSQL.

A request needs the approvals of the policy it was made under, from distinct approvers: the
requester never counts, one person never twice, and the approval that completes the quorum is
the one that starts the provider call. One Deny by any approver ends the request, with its reason.
"""

from __future__ import annotations

import threading

import pytest

from bot.domain import InputErrors, NotAllowed, Role, Status
from bot.sealing import Sealer, ephemeral_key
from bot.workflow import ResetWorkflow, utcnow
from storage.db import make_sessionmaker
from tests.unit.conftest import APPROVER, ENGINEER, OTHER, InlineExecutor, mofh_form
from tests.unit.test_workflow import submit

THIRD, ADMIN = "U0THIRD0001", "U0ADMIN0001"


@pytest.fixture
def two_of_n(workflow):
    """mofh needs 2 approvals; APPROVER, OTHER and THIRD are approvers."""
    workflow.admin.grant(OTHER, Role.APPROVER, None, actor="test")
    workflow.admin.grant(THIRD, Role.APPROVER, None, actor="test")
    workflow.policies.set("mofh", {"approvals": 2}, actor="test")
    return workflow


def _audit(workflow, action: str):
    return [e for e in workflow.admin.audit_trail() if e.action == action]


def test_2_of_2_the_first_approval_keeps_it_pending_and_the_second_starts_the_call_once(two_of_n, gateways,
                                                                                          notifier, clock):
    workflow = two_of_n
    request = submit(workflow)
    assert request.approvals_needed == 2
    first = workflow.decisions.approve(request.id, APPROVER)
    assert first.status is Status.PENDING and first.approvers == [APPROVER]
    assert first.approvals[0].at == clock.now and first.decided_by is None
    assert gateways["mofh"].calls == []
    # The card shows "Approvals: 1 of 2" and who; then the requester's DM does (posted now: submit posts no DM).
    assert notifier.events[-2:] == [("update_card", first), ("post_dm", first)]
    clock.advance(30)
    second = workflow.decisions.approve(request.id, OTHER)
    done = workflow.lookups.get(request.id)
    assert second.status is Status.EXECUTING and done.status is Status.SUCCEEDED
    assert done.approvers == [APPROVER, OTHER] and done.decided_by == OTHER and done.decided_at == clock.now
    assert len(gateways["mofh"].calls) == 1
    assert [(e.actor_id, e.detail["approvals"]) for e in _audit(workflow, "approved")] == [
        (APPROVER, "1 of 2"), (OTHER, "2 of 2")]
    with pytest.raises(NotAllowed, match="already decided by <@U0OTHER0001>"):
        workflow.decisions.approve(request.id, THIRD)
    assert len(gateways["mofh"].calls) == 1


def test_3_of_3_needs_three_distinct_approvers(two_of_n, gateways):
    workflow = two_of_n
    workflow.policies.set("mofh", {"approvals": 3}, actor="test")
    request = submit(workflow)
    for who in (APPROVER, OTHER):
        assert workflow.decisions.approve(request.id, who).status is Status.PENDING
    assert gateways["mofh"].calls == []
    assert workflow.decisions.approve(request.id, THIRD).status is Status.EXECUTING
    assert len(gateways["mofh"].calls) == 1


def test_the_same_approver_twice_counts_once_and_is_told_privately(two_of_n, gateways, notifier):
    workflow = two_of_n
    request = submit(workflow)
    workflow.decisions.approve(request.id, APPROVER)
    shown = len(notifier.events)
    with pytest.raises(NotAllowed) as refused:
        workflow.decisions.approve(request.id, APPROVER)
    assert str(refused.value) == ("You already approved this request. It needs 1 more approval, from another "
                                  "approver: one person counts once.")
    kept = workflow.lookups.get(request.id)
    assert kept.status is Status.PENDING and kept.approvers == [APPROVER]
    assert len(notifier.events) == shown  # nothing changed, so the card is not rewritten
    assert gateways["mofh"].calls == []
    assert [e.actor_id for e in _audit(workflow, "approved")] == [APPROVER]
    assert [e.actor_id for e in _audit(workflow, "approve_refused")] == [APPROVER]
    assert workflow.decisions.approve(request.id, OTHER).status is Status.EXECUTING


def test_the_requester_never_counts_not_even_as_an_admin(two_of_n, gateways):
    workflow = two_of_n
    workflow.admin.grant(ENGINEER, Role.ADMIN, None, actor="test")
    request = submit(workflow)
    with pytest.raises(NotAllowed, match="You asked for this reset, so you can't approve it"):
        workflow.decisions.approve(request.id, ENGINEER)
    assert workflow.lookups.get(request.id).approvers == []
    workflow.decisions.approve(request.id, APPROVER)
    with pytest.raises(NotAllowed, match="can't approve"):
        workflow.decisions.approve(request.id, ENGINEER)
    assert workflow.lookups.get(request.id).status is Status.PENDING and gateways["mofh"].calls == []


def test_an_admin_who_is_not_the_requester_counts_as_an_approver(two_of_n, gateways):
    workflow = two_of_n
    workflow.admin.grant(ADMIN, Role.ADMIN, None, actor="test")
    request = submit(workflow)
    workflow.decisions.approve(request.id, ADMIN)
    assert workflow.decisions.approve(request.id, APPROVER).status is Status.EXECUTING
    assert len(gateways["mofh"].calls) == 1


def test_someone_without_the_role_never_counts(two_of_n):
    workflow = two_of_n
    request = submit(workflow)
    with pytest.raises(NotAllowed, match="approver role"):
        workflow.decisions.approve(request.id, "U0NOBODY001")
    assert workflow.lookups.get(request.id).approvers == []


def test_a_deny_after_one_approval_ends_it_with_its_reason(two_of_n, gateways, notifier):
    workflow = two_of_n
    request = submit(workflow)
    workflow.decisions.approve(request.id, APPROVER)
    denied = workflow.decisions.deny(request.id, OTHER, reason="  The ticket names\r\nanother customer.  ")
    assert denied.status is Status.DENIED and denied.decided_by == OTHER
    assert denied.deny_reason == "The ticket names\nanother customer."  # normalised as a request's reason is
    assert gateways["mofh"].calls == []
    assert notifier.kinds()[-3:] == ["update_card", "tell_requester", "update_dm"]  # and the requester's DM
    (audited,) = _audit(workflow, "denied")
    assert audited.actor_id == OTHER
    assert audited.detail == {"reason": "The ticket names\nanother customer.", "approvals": "1 of 2"}
    with pytest.raises(NotAllowed, match="already decided"):
        workflow.decisions.approve(request.id, THIRD)
    assert gateways["mofh"].calls == []


def test_the_approver_who_approved_may_still_deny(two_of_n, gateways):
    workflow = two_of_n
    request = submit(workflow)
    workflow.decisions.approve(request.id, APPROVER)
    assert workflow.decisions.deny(request.id, APPROVER).status is Status.DENIED
    assert gateways["mofh"].calls == []


def test_a_deny_reason_too_long_once_normalised_changes_nothing(workflow):
    request = submit(workflow)
    with pytest.raises(InputErrors) as refused:
        workflow.decisions.deny(request.id, APPROVER, reason="\u202e" * 200)  # each shown as [U+202E]
    assert refused.value.errors == {"reason": "Keep the reason under 1000 characters."}
    assert workflow.lookups.get(request.id).status is Status.PENDING
    assert workflow.decisions.deny(request.id, APPROVER, reason="x" * 1000).deny_reason == "x" * 1000


def test_an_empty_deny_reason_is_no_reason(workflow):
    request = submit(workflow)
    assert workflow.decisions.deny(request.id, APPROVER, reason=" \n\t ").deny_reason is None
    assert _audit(workflow, "denied")[0].detail == {"reason": None}


def test_a_request_made_under_approvals_1_keeps_1_after_the_policy_changes_to_2(workflow, gateways):
    workflow.admin.grant(OTHER, Role.APPROVER, None, actor="test")
    before = submit(workflow)
    workflow.policies.set("mofh", {"approvals": 2}, actor="test")
    after = submit(workflow, mofh_form("susp01x"), view_id="V2")
    assert (before.approvals_needed, after.approvals_needed) == (1, 2)
    assert workflow.decisions.approve(before.id, APPROVER).status is Status.EXECUTING
    assert workflow.decisions.approve(after.id, APPROVER).status is Status.PENDING
    assert len(gateways["mofh"].calls) == 1
    assert [e.detail["approvals"] for e in _audit(workflow, "approved")] == ["1 of 1", "1 of 2"]


def test_a_request_made_under_approvals_2_keeps_2_after_the_policy_changes_to_1(two_of_n, gateways):
    workflow = two_of_n
    request = submit(workflow)
    workflow.policies.set("mofh", {"approvals": 1}, actor="test")
    assert workflow.decisions.approve(request.id, APPROVER).status is Status.PENDING
    assert gateways["mofh"].calls == []


def test_a_request_with_one_approval_expires_when_the_second_comes_too_late(two_of_n, clock, gateways):
    workflow = two_of_n
    request = submit(workflow)
    workflow.decisions.approve(request.id, APPROVER)
    clock.advance(3601)
    with pytest.raises(NotAllowed, match="expired"):
        workflow.decisions.approve(request.id, OTHER)
    assert workflow.lookups.get(request.id).status is Status.EXPIRED
    assert gateways["mofh"].calls == []


def test_an_approver_who_approved_no_longer_sees_it_waiting_in_the_home_tab(two_of_n):
    workflow = two_of_n
    request = submit(workflow)
    workflow.decisions.approve(request.id, APPROVER)
    assert workflow.lookups.home_for(APPROVER).waiting == []
    (waiting,) = workflow.lookups.home_for(OTHER).waiting
    assert waiting.id == request.id and waiting.approvers == [APPROVER]


# --- the last approval racing on two replicas ------------------------------------------------------------


def _replicas(engine, gateways, notifier):
    sealer = Sealer(ephemeral_key())
    flows = [ResetWorkflow(sessions=make_sessionmaker(engine), providers=gateways, sealer=sealer, notifier=notifier,
                           executor=InlineExecutor(), clock=utcnow, replica_id=name) for name in ("a", "b")]
    flows[0].admin.grant(ENGINEER, Role.REQUESTER, None, actor="test")
    for who in (APPROVER, OTHER, THIRD):
        flows[0].admin.grant(who, Role.APPROVER, None, actor="test")
    flows[0].policies.set("mofh", {"approvals": 2, "requests_per_hour": 0}, actor="test")
    return flows


def _at_once(calls):
    """Run each (function, args) on its own thread, released together; what each returned or raised."""
    start, outcomes = threading.Barrier(len(calls)), []

    def run(fn, args):
        start.wait()
        try:
            outcomes.append(fn(*args).status)
        except NotAllowed as refused:
            outcomes.append(str(refused))

    threads = [threading.Thread(target=run, args=call) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return outcomes


ROUNDS = 8


def test_two_approvers_clicking_the_last_approval_at_once_on_two_replicas_give_one_provider_call(
        engine, gateways, notifier):
    a, b = _replicas(engine, gateways, notifier)
    for round_ in range(ROUNDS):
        request, _ = a.intake.submit(mofh_form(f"last{round_:04d}"), requester_id=ENGINEER,
                                     source_view_id=f"VL{round_}")
        a.decisions.approve(request.id, APPROVER)  # 1 of 2: OTHER and THIRD race for the 2nd
        outcomes = _at_once([(a.decisions.approve, (request.id, OTHER)), (b.decisions.approve, (request.id, THIRD))])
        won = [o for o in outcomes if o is Status.EXECUTING]
        lost = [o for o in outcomes if isinstance(o, str) and o.startswith("This request was already decided")]
        assert (len(won), len(lost)) == (1, 1), outcomes
        done = a.lookups.get(request.id)
        assert done.status is Status.SUCCEEDED and len(done.approvers) == 2
    assert len(gateways["mofh"].calls) == ROUNDS  # one provider call per request


def test_two_approvers_clicking_at_once_on_a_fresh_2_of_2_request_complete_it_with_one_call(
        engine, gateways, notifier):
    """Neither approval may be lost: the one that comes second, whichever it is, sees the first."""
    a, b = _replicas(engine, gateways, notifier)
    for round_ in range(ROUNDS):
        request, _ = a.intake.submit(mofh_form(f"both{round_:04d}"), requester_id=ENGINEER,
                                     source_view_id=f"VB{round_}")
        outcomes = _at_once([(a.decisions.approve, (request.id, OTHER)), (b.decisions.approve, (request.id, THIRD))])
        assert sorted(outcomes) == sorted([Status.PENDING, Status.EXECUTING]), outcomes
        done = a.lookups.get(request.id)
        assert done.status is Status.SUCCEEDED and sorted(done.approvers) == sorted([OTHER, THIRD])
    assert len(gateways["mofh"].calls) == ROUNDS
