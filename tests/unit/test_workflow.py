"""The reset state machine against a real (in-memory SQLite) database and a fake provider."""

from __future__ import annotations

import json
import threading
import time

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from bot.domain import InputErrors, NotAllowed, RequestNotFound, RevealState, Role, ServiceUnavailable, Status
from bot.forms import RequestForm
from bot.providers import AMBIGUOUS, ChangeResult, Outcome
from bot.sealing import Sealer, ephemeral_key
from bot.secret import Secret
from bot.workflow import ResetWorkflow, utcnow
from storage.db import make_sessionmaker
from tests.unit.conftest import APPROVER, ENGINEER, OTHER, InlineExecutor, mofh_form


def submit(workflow, form=None, view_id="V1", user=ENGINEER):
    request, _created = workflow.intake.submit(form or mofh_form(), requester_id=user, source_view_id=view_id)
    return request


def test_happy_path_changes_once_and_reveals_once(workflow, gateways, notifier):
    request = submit(workflow)
    assert request.status is Status.PENDING
    workflow.intake.announce(request)
    workflow.decisions.approve(request.id, APPROVER)
    done = workflow.lookups.get(request.id)
    assert done.status is Status.SUCCEEDED and done.reveal_state is RevealState.READY
    assert len(gateways["mofh"].calls) == 1
    changed_to = gateways["mofh"].calls[0]["password"]
    assert len(changed_to) == 16
    assert "send_reveal" in notifier.kinds()

    _shown, secret = workflow.reveal.begin(notifier.reveal_button(done.id), ENGINEER)
    assert secret.reveal() == changed_to
    workflow.reveal.finish(notifier.reveal_button(done.id), ENGINEER)
    with pytest.raises(NotAllowed, match="already revealed"):
        workflow.reveal.begin(notifier.reveal_button(done.id), ENGINEER)


def test_requester_cannot_approve_own_request_even_as_admin(workflow, gateways):
    workflow.admin.grant(ENGINEER, Role.ADMIN, None, actor="test")
    request = submit(workflow)
    with pytest.raises(NotAllowed, match="another approver"):
        workflow.decisions.approve(request.id, ENGINEER)
    assert workflow.lookups.get(request.id).status is Status.PENDING
    assert gateways["mofh"].calls == []


def test_user_without_role_is_refused_with_a_sentence(workflow):
    with pytest.raises(NotAllowed, match="requester role"):
        submit(workflow, user=OTHER)
    request = submit(workflow)
    with pytest.raises(NotAllowed, match="approver role"):
        workflow.decisions.approve(request.id, OTHER)


def test_provider_scoped_grant_does_not_cover_the_other_provider(workflow):
    workflow.admin.grant(OTHER, Role.APPROVER, "namecheap", actor="test")
    request = submit(workflow)
    with pytest.raises(NotAllowed, match="approver role for MyOwnFreeHost"):
        workflow.decisions.approve(request.id, OTHER)


def test_second_approval_and_late_deny_are_refused(workflow, gateways):
    request = submit(workflow)
    workflow.admin.grant(OTHER, Role.APPROVER, None, actor="test")
    workflow.decisions.approve(request.id, APPROVER)
    with pytest.raises(NotAllowed, match="already decided"):
        workflow.decisions.approve(request.id, OTHER)
    with pytest.raises(NotAllowed, match="already decided"):
        workflow.decisions.deny(request.id, OTHER)
    assert len(gateways["mofh"].calls) == 1


def test_deny_ends_the_request_and_never_calls_the_provider(workflow, gateways, notifier):
    request = submit(workflow)
    denied = workflow.decisions.deny(request.id, APPROVER)
    assert denied.status is Status.DENIED and denied.decided_by == APPROVER
    assert gateways["mofh"].calls == []
    assert {"update_card", "tell_requester"} <= set(notifier.kinds())


def test_click_after_expiry_expires_the_request(workflow, clock, gateways):
    request = submit(workflow)
    clock.advance(3601)
    with pytest.raises(NotAllowed, match="expired"):
        workflow.decisions.approve(request.id, APPROVER)
    assert workflow.lookups.get(request.id).status is Status.EXPIRED
    assert gateways["mofh"].calls == []


def test_sweep_expires_pending_requests_and_unrevealed_passwords(workflow, clock, notifier):
    waiting = submit(workflow, view_id="V1")
    done = submit(workflow, mofh_form("webq7k2n"), view_id="V2")  # another account: one open request each
    workflow.decisions.approve(done.id, APPROVER)
    clock.advance(3601)
    assert workflow.sweeper.sweep() == 2
    assert workflow.lookups.get(waiting.id).status is Status.EXPIRED
    token = notifier.reveal_button(done.id)
    assert workflow.lookups.get(done.id).reveal_state is RevealState.EXPIRED
    with pytest.raises(NotAllowed):
        workflow.reveal.begin(token, ENGINEER)


def test_only_the_requester_can_reveal_and_a_refusal_does_not_use_it_up(workflow, notifier):
    request = submit(workflow)
    workflow.decisions.approve(request.id, APPROVER)
    token = notifier.reveal_button(request.id)
    with pytest.raises(NotAllowed, match="Only the engineer"):
        workflow.reveal.begin(token, APPROVER)
    _, secret = workflow.reveal.begin(token, ENGINEER)
    assert len(secret) == 16


def test_abandoned_reveal_can_be_retried(workflow, notifier):
    request = submit(workflow)
    workflow.decisions.approve(request.id, APPROVER)
    token = notifier.reveal_button(request.id)
    workflow.reveal.begin(token, ENGINEER)
    workflow.reveal.abandon(token)
    workflow.reveal.begin(token, ENGINEER)


def test_unknown_reveal_token_and_request_id(workflow):
    with pytest.raises(RequestNotFound):
        workflow.reveal.begin("sec_nope", ENGINEER)
    with pytest.raises(RequestNotFound):
        workflow.decisions.approve("rr_nope", APPROVER)


@pytest.mark.parametrize(
    "account, message",
    [
        ("", "Enter the account key"),
        ("abcd_12345678", "vPanel username"),
        ("shop.example.net", "no MyOwnFreeHost account for the domain"),
        ("not valid!", "at most 8 letters and digits"),
    ],
)
def test_mofh_account_input_errors(workflow, account, message):
    with pytest.raises(InputErrors) as caught:
        submit(workflow, mofh_form(account))
    assert message in caught.value.errors["account"]


def test_vpanel_username_and_domain_are_translated_through_the_directory(workflow, gateways):
    workflow.admin.import_directory([("webq7k2m", "abcd_40312277", "shop.example.net")])
    by_vpanel = submit(workflow, mofh_form("abcd_40312277"), view_id="V1")
    workflow.decisions.deny(by_vpanel.id, APPROVER)  # the account takes a second request once the first ended
    by_domain = submit(workflow, mofh_form("SHOP.example.net"), view_id="V2")
    assert by_vpanel.account == by_domain.account == "webq7k2m"
    assert by_vpanel.account_input == "abcd_40312277"


def test_short_reason_and_unknown_provider(workflow):
    with pytest.raises(InputErrors) as caught:
        submit(workflow, RequestForm(provider="aws", account="x", reason="short"))
    assert set(caught.value.errors) == {"provider", "reason"}


def test_same_view_submitted_twice_makes_one_request(workflow):
    first, created = workflow.intake.submit(mofh_form(), requester_id=ENGINEER, source_view_id="V9")
    again, created_again = workflow.intake.submit(mofh_form(), requester_id=ENGINEER, source_view_id="V9")
    assert created and not created_again and first.id == again.id


def test_namecheap_reset_code_is_sealed_then_deleted(workflow, gateways, engine):
    form = RequestForm(provider="namecheap", account="acmeshop", reason="Owner lost access to the account.",
                       method="reset_code", secret_input=Secret("c0ffee9a1b2c3d4e5f60718293a4b5c6d"))
    request = submit(workflow, form)
    with engine.connect() as db:
        sealed = db.execute(text("select sealed_input from reset_requests")).scalar()
    assert sealed and b"c0ffee9a1b2c" not in sealed
    workflow.decisions.approve(request.id, APPROVER)
    assert gateways["namecheap"].calls[0]["input"] == "c0ffee9a1b2c3d4e5f60718293a4b5c6d"
    with engine.connect() as db:
        assert db.execute(text("select sealed_input from reset_requests")).scalar() is None


def test_namecheap_email_link_needs_no_reveal(workflow, gateways, notifier):
    form = RequestForm(provider="namecheap", account="acmeshop", reason="Owner lost access to the account.",
                       method="email_link")
    request = submit(workflow, form)
    workflow.decisions.approve(request.id, APPROVER)
    done = workflow.lookups.get(request.id)
    assert done.status is Status.SUCCEEDED and done.reveal_state is RevealState.NONE
    assert done.email == "owner@example.org"
    assert "send_reveal" not in notifier.kinds()


def test_namecheap_needs_the_matching_secret(workflow):
    form = RequestForm(provider="namecheap", account="acmeshop", reason="Owner lost access to the account.",
                       method="current_password")
    with pytest.raises(InputErrors) as caught:
        submit(workflow, form)
    assert "secret" in caught.value.errors


def test_provider_failure_ends_the_request_and_destroys_the_password(workflow, gateways, engine):
    gateways["mofh"].results.append(ChangeResult(outcome=Outcome.ACCOUNT_INACTIVE, account_status="x",
                                                 message="The account is suspended (x)."))
    request = submit(workflow)
    workflow.decisions.approve(request.id, APPROVER)
    failed = workflow.lookups.get(request.id)
    assert failed.status is Status.FAILED and "suspended" in failed.outcome_message
    with engine.connect() as db:
        assert db.execute(text("select sealed_password from reset_requests")).scalar() is None


def test_namecheap_ambiguous_answer_is_outcome_unknown(workflow, gateways):
    gateways["namecheap"].results.append(ChangeResult(outcome=Outcome.PROVIDER_ERROR, certainty=AMBIGUOUS,
                                                      message="Namecheap reported an unhandled exception."))
    form = RequestForm(provider="namecheap", account="acmeshop", reason="Owner lost access to the account.",
                       method="current_password", secret_input=Secret("old-pass-1"))
    request = submit(workflow, form)
    workflow.decisions.approve(request.id, APPROVER)
    assert workflow.lookups.get(request.id).status is Status.UNKNOWN
    assert "verify" in workflow.lookups.get(request.id).outcome_message


def test_mofh_transport_failure_is_retried_later_with_the_same_password(workflow, gateways, clock):
    gateways["mofh"].results.append(ChangeResult(outcome=Outcome.PROVIDER_UNAVAILABLE, retryable=True, attempts=2,
                                                 message="MyOwnFreeHost did not answer."))
    request = submit(workflow)
    workflow.decisions.approve(request.id, APPROVER)
    assert workflow.lookups.get(request.id).status is Status.EXECUTING
    clock.advance(61)
    workflow.sweeper.sweep()
    assert workflow.lookups.get(request.id).status is Status.SUCCEEDED
    first, second = gateways["mofh"].calls
    assert first["password"] == second["password"]


def test_crashed_execution_is_recovered_by_another_replica(workflow, gateways, clock, engine, notifier):
    """A replica that died after sealing leaves EXECUTING with a lease; the sweep finishes it."""
    request = submit(workflow)
    gateways["mofh"].results.append(None)  # the first replica "dies": its outcome is never recorded

    def dying_execute(request_id, owner):
        raise SystemExit  # simulate the process ending after the CAS, before the call

    workflow.execution.execute, original = dying_execute, workflow.execution.execute
    try:
        with pytest.raises(SystemExit):
            workflow.decisions.approve(request.id, APPROVER) or workflow.execution.execute(request.id, "x")
    except SystemExit:
        pass
    finally:
        workflow.execution.execute = original
    gateways["mofh"].results.clear()
    assert workflow.lookups.get(request.id).status is Status.EXECUTING
    clock.advance(91)
    assert workflow.execution.recover_executions() == 1
    assert workflow.lookups.get(request.id).status is Status.SUCCEEDED
    assert len(gateways["mofh"].calls) == 1


def test_crashed_namecheap_execution_becomes_outcome_unknown(workflow, gateways, clock):
    form = RequestForm(provider="namecheap", account="acmeshop", reason="Owner lost access to the account.",
                       method="current_password", secret_input=Secret("old-pass-1"))
    request = submit(workflow, form)
    workflow.execution.execute, original = (lambda *a: None), workflow.execution.execute
    workflow.decisions.approve(request.id, APPROVER)
    workflow.execution.execute = original
    clock.advance(91)
    workflow.execution.recover_executions()
    final = workflow.lookups.get(request.id)
    assert final.status is Status.UNKNOWN and "verify" in final.outcome_message
    assert gateways["namecheap"].calls == []


def test_audit_trail_records_every_step_and_no_secret(workflow, gateways, notifier):
    request = submit(workflow)
    workflow.decisions.approve(request.id, APPROVER)
    token = notifier.reveal_button(request.id)
    workflow.reveal.begin(token, ENGINEER)
    workflow.reveal.finish(token, ENGINEER)
    actions = [r.action for r in workflow.admin.audit_trail() if r.request_id == request.id]
    assert actions == ["requested", "approved", "provider_outcome", "revealed"]
    dumped = json.dumps([r.detail for r in workflow.admin.audit_trail()])
    assert gateways["mofh"].calls[0]["password"] not in dumped


def test_role_changes_are_audited(workflow):
    workflow.admin.grant(OTHER, Role.APPROVER, "mofh", actor="cli")
    workflow.admin.revoke(OTHER, Role.APPROVER, "mofh", actor="cli")
    actions = [r.action for r in workflow.admin.audit_trail()]
    assert actions.count("role_granted") >= 3 and "role_revoked" in actions


def test_home_lists_own_requests_and_what_waits_for_an_approver(workflow):
    request = submit(workflow)
    assert [r.id for r in workflow.lookups.home_for(ENGINEER).requests] == [request.id]
    assert workflow.lookups.home_for(ENGINEER).waiting == []
    assert [r.id for r in workflow.lookups.home_for(APPROVER).waiting] == [request.id]


def test_a_live_replica_keeps_its_lease_so_no_one_takes_over(engine, gateways, notifier):
    """While a slow provider call runs, the lease is renewed; another replica's sweep leaves it alone."""
    sealer = Sealer(ephemeral_key())

    def replica(name):
        return ResetWorkflow(sessions=make_sessionmaker(engine), providers=gateways, sealer=sealer,
                             notifier=notifier, executor=InlineExecutor(), clock=utcnow, replica_id=name,
                             lease_seconds=1.5)  # renewed every 0.5 s; generous for a loaded CI

    a, b = replica("a"), replica("b")
    a.admin.grant(ENGINEER, Role.REQUESTER, None, actor="t")
    a.admin.grant(APPROVER, Role.APPROVER, None, actor="t")
    request, _ = a.intake.submit(mofh_form(), requester_id=ENGINEER, source_view_id="V1")
    gate = threading.Event()
    gateways["mofh"].gate = gate
    approving = threading.Thread(target=a.decisions.approve, args=(request.id, APPROVER))
    approving.start()

    def lease_until():
        with engine.connect() as db:
            return db.execute(text("select lease_expires_at from reset_requests")).scalar()

    first = None
    deadline = time.monotonic() + 10
    renewed = 0
    while time.monotonic() < deadline and renewed < 2:
        current = lease_until()
        if first is not None and current != first:
            renewed += 1
        first = current
        assert b.execution.recover_executions() == 0
        time.sleep(0.05)
    assert renewed >= 2
    gate.set()
    approving.join(5)
    assert a.lookups.get(request.id).status is Status.SUCCEEDED
    assert len(gateways["mofh"].calls) == 1


def test_a_card_slack_refused_is_posted_by_the_sweep(workflow, notifier, clock):
    refused = []
    notifier.post_card, original = (lambda request: refused.append(request) or None), notifier.post_card
    request = submit(workflow)
    workflow.intake.announce(request)
    assert refused and workflow.lookups.get(request.id).card is None
    notifier.post_card = original
    assert workflow.sweeper.repost_missing_cards() == 0  # still within the grace period of the first post
    clock.advance(16)
    workflow.sweeper.sweep()
    assert workflow.lookups.get(request.id).card is not None


def test_a_reveal_dm_lost_to_a_crash_is_sent_by_the_sweep(workflow, notifier, clock, gateways):
    lost = []  # the DM's button, as Slack may have got it before the replica died
    notifier.send_reveal, original = (lambda request: lost.append(request.reveal_token)), notifier.send_reveal
    request = submit(workflow)
    workflow.decisions.approve(request.id, APPROVER)
    assert workflow.lookups.get(request.id).reveal_sent_at is None  # the DM (posted with the request) lacks it
    notifier.send_reveal = original
    assert workflow.sweeper.resend_missing_reveals() == 0  # not before the grace period
    clock.advance(16)
    workflow.sweeper.sweep()
    done = workflow.lookups.get(request.id)
    assert done.reveal_sent_at is not None and done.reveal_state is RevealState.READY
    assert [kind for kind in notifier.kinds() if kind == "send_reveal"] == ["send_reveal"]
    # The password is bound to the new DM's button; the lost one's matches nothing and destroys nothing.
    with pytest.raises(RequestNotFound, match="newer Reveal password message"):
        workflow.reveal.begin(lost[0], ENGINEER)
    _, secret = workflow.reveal.begin(notifier.reveal_button(request.id), ENGINEER)
    assert secret.reveal() == gateways["mofh"].calls[0]["password"]


def test_an_engineer_can_open_at_most_20_requests_an_hour(workflow, clock):
    for n in range(20):  # 20 accounts: each takes one open request
        submit(workflow, mofh_form(f"acct{n:04d}"), view_id=f"V{n}")
    with pytest.raises(NotAllowed, match="20 reset requests in the last hour"):
        submit(workflow, mofh_form("acct0020"), view_id="V20")
    clock.advance(3601)
    assert submit(workflow, mofh_form("acct0021"), view_id="V21").status is Status.PENDING


def _ask(workflow, form, view_id: str, start: threading.Barrier, outcomes: list) -> None:
    start.wait()
    try:
        outcomes.append(workflow.intake.submit(form, requester_id=ENGINEER, source_view_id=view_id)[1])
    except InputErrors as refused:
        assert set(refused.errors) == {"account"} and "open reset request" in refused.errors["account"]
        outcomes.append("refused")
    except ServiceUnavailable:  # SQLite: the second writer's snapshot is stale ("database is locked")
        outcomes.append("busy")


def test_two_submits_racing_for_one_account_never_store_two_open_requests(workflow):
    """Both pass the first check at once; the database's partial unique index lets one in (item 4)."""
    for round_ in range(8):
        form, start, outcomes = mofh_form(f"race{round_:04d}"), threading.Barrier(2), []
        threads = [threading.Thread(target=_ask, args=(workflow, form, f"V{round_}{side}", start, outcomes))
                   for side in "ab"]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert outcomes.count(True) == 1, outcomes
        assert [r.account for r in workflow.lookups.home_for(ENGINEER).requests].count(form.account) == 1


def test_an_integrity_error_that_is_no_resubmit_is_raised_not_taken_for_one(workflow, monkeypatch):
    """Only a second submit of the same view yields the first request; any other refusal is a bug to report."""
    import bot.workflow.intake as intake

    class SameIds:
        @staticmethod
        def token_hex(n: int) -> str:
            return "ab" * n

    monkeypatch.setattr(intake, "secrets", SameIds)
    submit(workflow, view_id="V1")
    with pytest.raises(IntegrityError):  # the same primary key as the first request's
        submit(workflow, mofh_form("susp01x"), view_id="V2")
    assert [r.account for r in workflow.lookups.home_for(ENGINEER).requests] == ["webq7k2m"]


def test_a_requester_who_lost_the_role_is_refused_the_reveal_which_stays_ready(workflow, notifier):
    request = submit(workflow)
    workflow.decisions.approve(request.id, APPROVER)
    button = notifier.reveal_button(request.id)
    workflow.admin.revoke(ENGINEER, Role.REQUESTER, None, actor="test")
    with pytest.raises(NotAllowed, match="no longer have the requester role for MyOwnFreeHost"):
        workflow.reveal.begin(button, ENGINEER)
    assert workflow.lookups.get(request.id).reveal_state is RevealState.READY
    workflow.admin.grant(ENGINEER, Role.REQUESTER, "mofh", actor="test")
    _, secret = workflow.reveal.begin(button, ENGINEER)
    assert len(secret) == 16


def test_a_stored_reveal_token_sent_back_as_a_button_opens_nothing_and_destroys_nothing(workflow, notifier):
    request = submit(workflow)
    workflow.decisions.approve(request.id, APPROVER)
    stored = workflow.lookups.get(request.id).reveal_token
    assert stored != notifier.reveal_button(request.id)
    with pytest.raises(RequestNotFound):
        workflow.reveal.begin(stored, ENGINEER)
    assert workflow.lookups.get(request.id).reveal_state is RevealState.READY


def test_a_reveal_clicked_after_its_window_rewrites_the_card_as_destroyed_unseen(workflow, notifier, clock):
    request = submit(workflow)
    workflow.decisions.approve(request.id, APPROVER)
    button = notifier.reveal_button(request.id)
    clock.advance(901)  # past RESETBOT_REVEAL_TTL's default, before any sweep expired it
    with pytest.raises(NotAllowed):
        workflow.reveal.begin(button, ENGINEER)
    cards = [shown for kind, shown in notifier.events if kind == "update_card" and shown.id == request.id]
    assert cards[-1].reveal_state is RevealState.EXPIRED  # the card says so, not only the DM
