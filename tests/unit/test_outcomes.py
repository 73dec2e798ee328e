"""Outcomes (issue 9, items 1–3 and 5): the database's clock, fenced leases, retries, "may be set", UserIds.

Against a real database (SQLite, and PostgreSQL when RESETBOT_TEST_POSTGRES_URL is set) and fake gateways.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text, update

from bot.domain import RevealState, Role, Status
from bot.forms import RequestForm
from bot.providers import AMBIGUOUS, ChangeResult, Outcome
from bot.providers.mofh.passwords import MOFH_RULES
from bot.sealing import Sealer, ephemeral_key
from bot.secret import Secret
from bot.workflow import ResetWorkflow, utcnow
from bot.workflow.execution import MAX_EXECUTION_ATTEMPTS
from handlers import blocks
from storage import repository as repo
from storage.budget import DatabaseCallBudget
from storage.db import make_sessionmaker, transaction
from storage.models import ResetRequest
from tests.unit.conftest import APPROVER, ENGINEER, InlineExecutor, mofh_form

SKEW = timedelta(seconds=45)


def replica(engine, gateways, notifier, name, *, ahead=timedelta(0), lease_seconds=30.0, sealer=None):
    """A replica on the database's real clock whose own clock runs `ahead`."""
    return ResetWorkflow(sessions=make_sessionmaker(engine), providers=gateways, sealer=sealer or SEALER,
                         notifier=notifier, executor=InlineExecutor(), clock=lambda: utcnow() + ahead,
                         replica_id=name, lease_seconds=lease_seconds)


SEALER = Sealer(ephemeral_key())


def submit(flow, form=None, view_id="V1"):
    request, _ = flow.intake.submit(form or mofh_form(), requester_id=ENGINEER, source_view_id=view_id)
    return request


def namecheap_form(method="current_password", secret="Old~Pass2024", account="acmeshop"):
    return RequestForm(provider="namecheap", account=account, reason="Owner lost access to the account.",
                       method=method, secret_input=Secret(secret) if secret else None)


def grant(flow):
    flow.admin.grant(ENGINEER, Role.REQUESTER, None, actor="t")
    flow.admin.grant(APPROVER, Role.APPROVER, None, actor="t")


def lease_of(engine):
    with engine.connect() as db:
        return db.execute(text("select lease_owner, lease_expires_at, execution_attempts from reset_requests")).one()


def lapse_lease(engine):
    """The lease ran out (its replica stopped renewing, e.g. cut off from the database): an hour ago."""
    with make_sessionmaker(engine).begin() as session:
        session.execute(update(ResetRequest).values(lease_expires_at=datetime.now(UTC) - timedelta(hours=1)))


# --- item 3: the database's clock and fenced takeovers ----------------------------------------


def test_db_now_is_the_database_servers_clock_and_aware_utc(engine):
    with make_sessionmaker(engine).begin() as session:
        now = repo.db_now(session)
    assert now.tzinfo is not None and now.utcoffset() == timedelta(0)
    assert abs((now - datetime.now(UTC)).total_seconds()) < 5  # the test's database runs on this machine


def test_a_replica_45_s_ahead_does_not_take_over_a_healthy_renewed_lease(engine, gateways, notifier):
    a = replica(engine, gateways, notifier, "a", lease_seconds=3.0)  # renewed every second
    fast = replica(engine, gateways, notifier, "fast", ahead=SKEW, lease_seconds=3.0)
    grant(a)
    request, _ = a.intake.submit(mofh_form(), requester_id=ENGINEER, source_view_id="V1")
    gate = threading.Event()
    gateways["mofh"].gate = gate
    approving = threading.Thread(target=a.decisions.approve, args=(request.id, APPROVER))
    approving.start()
    try:
        seen, deadline = set(), time.monotonic() + 15
        while time.monotonic() < deadline and len(seen) < 3:  # the lease was renewed at least twice
            owner, until, _ = lease_of(engine)
            if owner == "a":
                seen.add(until)
            assert fast.execution.recover_executions() == 0
            time.sleep(0.05)
        assert len(seen) >= 3
        assert lease_of(engine)[0] == "a"
    finally:
        gate.set()
        approving.join(10)
    assert a.lookups.get(request.id).status is Status.SUCCEEDED
    assert len(gateways["mofh"].calls) == 1


def test_a_replica_whose_lease_was_taken_over_cannot_record_its_outcome(engine, notifier):
    """The first owner's late answer comes after a takeover: the new owner's outcome stands, fenced by the claim."""
    first_call, release = threading.Event(), threading.Event()

    class Gateway:
        provider, same_password_retry_is_safe = "mofh", True
        rules = MOFH_RULES
        calls = 0

        def account_context(self, account, known_as=()):
            return None

        def probe(self):
            return None

        def execute(self, **_):
            Gateway.calls += 1
            if Gateway.calls == 1:  # the first owner's call hangs, then its answer is lost
                first_call.set()
                release.wait(10)
                return ChangeResult(outcome=Outcome.PROVIDER_UNAVAILABLE, retryable=True, attempts=2,
                                    message="MyOwnFreeHost did not answer.")
            return ChangeResult(outcome=Outcome.CHANGED_IDEMPOTENT, message="Already had this password.")

    gateways = {"mofh": Gateway()}
    a = replica(engine, gateways, notifier, "a", lease_seconds=60)
    b = replica(engine, gateways, notifier, "b", lease_seconds=60)
    grant(a)
    request, _ = a.intake.submit(mofh_form(), requester_id=ENGINEER, source_view_id="V1")
    approving = threading.Thread(target=a.decisions.approve, args=(request.id, APPROVER))
    approving.start()
    assert first_call.wait(10)
    lapse_lease(engine)
    assert b.execution.recover_executions() == 1
    taken = a.lookups.get(request.id)
    assert taken.status is Status.SUCCEEDED
    release.set()
    approving.join(10)
    final = a.lookups.get(request.id)
    assert final.status is Status.SUCCEEDED and final.outcome == "changed_idempotent"
    assert final.outcome_message == taken.outcome_message  # not "the bot will try again"
    actions = [r.action for r in a.admin.audit_trail() if r.request_id == request.id]
    assert "provider_outcome_not_recorded" in actions and "provider_retry_scheduled" not in actions
    told = [r for kind, r in notifier.events if kind == "tell_requester"]
    assert "try again" not in (told[-1].outcome_message or "")


def test_approval_expiry_is_judged_by_the_database_clock(engine, gateways, notifier):
    a = replica(engine, gateways, notifier, "a")
    late = replica(engine, gateways, notifier, "late", ahead=timedelta(hours=2))  # its clock is past the TTL
    grant(a)
    request, _ = a.intake.submit(mofh_form(), requester_id=ENGINEER, source_view_id="V1")
    assert late.decisions.approve(request.id, APPROVER).status is Status.EXECUTING
    assert late.sweeper.sweep() == 0
    assert a.lookups.get(request.id).status is Status.SUCCEEDED


def test_the_hourly_cap_is_counted_on_the_database_clock(engine, gateways, notifier):
    a = replica(engine, gateways, notifier, "a")
    ahead = replica(engine, gateways, notifier, "ahead", ahead=timedelta(minutes=61))
    grant(a)
    for n in range(20):  # twenty accounts: one account takes one open request (bot/workflow/intake.py)
        a.intake.submit(mofh_form(f"acct{n:04d}"), requester_id=ENGINEER, source_view_id=f"V{n}")
    with pytest.raises(Exception, match="20 reset requests in the last hour"):
        ahead.intake.submit(mofh_form("acct0020"), requester_id=ENGINEER, source_view_id="V20")


def test_the_shared_call_budget_window_is_on_the_database_clock(engine):
    budgets = [DatabaseCallBudget(make_sessionmaker(engine)) for _ in range(2)]
    waits = [budgets[n % 2].try_acquire("namecheap:api", limit=3, window_seconds=60) for n in range(4)]
    assert waits[:3] == [0.0, 0.0, 0.0] and 59 < waits[3] <= 60
    with transaction(make_sessionmaker(engine)) as session:
        assert session.execute(text("select count(*) from call_budget")).scalar() == 3


# --- item 1: an unreadable MyOwnFreeHost answer is retried with the same password -------------


def unreadable(message="MyOwnFreeHost gave an answer that could not be classified; verify account webq7k2m."):
    return ChangeResult(outcome=Outcome.UNKNOWN, certainty=AMBIGUOUS, attempts=1, message=message)


def sealed_password(engine):
    with engine.connect() as db:
        return db.execute(text("select sealed_password from reset_requests")).scalar()


def test_an_unreadable_mofh_answer_is_retried_with_the_same_password(workflow, gateways, clock, engine, notifier):
    gateways["mofh"].results += [unreadable(),
                                 ChangeResult(outcome=Outcome.CHANGED_IDEMPOTENT, message="Already had it.")]
    request = submit(workflow)
    workflow.decisions.approve(request.id, APPROVER)
    waiting = workflow.lookups.get(request.id)
    assert waiting.status is Status.EXECUTING and sealed_password(engine) is not None
    assert "try again with the same password" in waiting.outcome_message
    clock.advance(61)
    workflow.sweeper.sweep()
    done = workflow.lookups.get(request.id)
    assert done.status is Status.SUCCEEDED and done.outcome == "changed_idempotent"
    first, second = gateways["mofh"].calls
    assert first["password"] == second["password"]
    _, secret = workflow.reveal.begin(notifier.reveal_button(done.id), ENGINEER)
    assert secret.reveal() == first["password"]
    actions = [r.action for r in workflow.admin.audit_trail() if r.request_id == request.id]
    assert actions.count("provider_retry_scheduled") == 1


def test_within_a_minute_of_an_unreadable_answer_the_requester_can_reveal_the_password(workflow, gateways, clock,
                                                                                      notifier):
    """Issue 20 item 4: the same-password retries used to be 60 s apart, so nothing could be revealed for two
    minutes. The sweep runs every 10 s (bot/config.py: sweep_interval)."""
    gateways["mofh"].results += [unreadable() for _ in range(MAX_EXECUTION_ATTEMPTS)]
    request = submit(workflow)
    workflow.decisions.approve(request.id, APPROVER)
    answered = clock()
    while workflow.lookups.get(request.id).status is Status.EXECUTING and clock() - answered < timedelta(seconds=60):
        clock.advance(10)
        workflow.sweeper.sweep()
    final = workflow.lookups.get(request.id)
    assert final.status is Status.UNKNOWN and final.reveal_state is RevealState.READY, clock() - answered
    assert clock() - answered <= timedelta(seconds=60)
    _, secret = workflow.reveal.begin(notifier.reveal_button(final.id), ENGINEER)
    assert secret.reveal() == gateways["mofh"].calls[0]["password"]
    assert len(gateways["mofh"].calls) == MAX_EXECUTION_ATTEMPTS


def test_the_same_password_retries_wait_longer_each_time(workflow, gateways, clock):
    gateways["mofh"].results += [unreadable() for _ in range(MAX_EXECUTION_ATTEMPTS)]
    request = submit(workflow)
    workflow.decisions.approve(request.id, APPROVER)
    clock.advance(4)
    workflow.sweeper.sweep()
    assert len(gateways["mofh"].calls) == 1  # not before 5 s
    clock.advance(2)
    workflow.sweeper.sweep()
    assert len(gateways["mofh"].calls) == 2
    clock.advance(14)
    workflow.sweeper.sweep()
    assert len(gateways["mofh"].calls) == 2  # then 15 s
    clock.advance(2)
    workflow.sweeper.sweep()
    assert len(gateways["mofh"].calls) == 3


def test_an_unreadable_answer_is_unknown_only_once_the_attempts_run_out(workflow, gateways, clock):
    gateways["mofh"].results += [unreadable() for _ in range(MAX_EXECUTION_ATTEMPTS)]
    request = submit(workflow)
    workflow.decisions.approve(request.id, APPROVER)
    for _ in range(MAX_EXECUTION_ATTEMPTS - 1):
        assert workflow.lookups.get(request.id).status is Status.EXECUTING
        clock.advance(61)
        workflow.sweeper.sweep()
    final = workflow.lookups.get(request.id)
    assert final.status is Status.UNKNOWN and "verify" in final.outcome_message
    assert len(gateways["mofh"].calls) == MAX_EXECUTION_ATTEMPTS
    assert len({call["password"] for call in gateways["mofh"].calls}) == 1


def test_a_namecheap_unknown_is_never_retried(workflow, gateways, clock):
    gateways["namecheap"].results.append(unreadable("Namecheap's answer was not the expected XML; verify."))
    request = submit(workflow, namecheap_form())
    workflow.decisions.approve(request.id, APPROVER)
    assert workflow.lookups.get(request.id).status is Status.UNKNOWN
    clock.advance(3600)
    workflow.sweeper.sweep()
    assert len(gateways["namecheap"].calls) == 1


# --- item 2: a password that may be set stays revealable, and says so -------------------------


def timed_out_after_sending():
    return ChangeResult(outcome=Outcome.PROVIDER_UNAVAILABLE, certainty=AMBIGUOUS, attempts=1,
                        message="Namecheap could not be reached (timed out waiting for the answer); verify by "
                                "logging in as user acmeshop before trying again.")


def test_a_namecheap_unknown_keeps_the_new_password_revealable(workflow, gateways, engine, notifier):
    gateways["namecheap"].results.append(timed_out_after_sending())
    request = submit(workflow, namecheap_form())
    workflow.decisions.approve(request.id, APPROVER)
    unknown = workflow.lookups.get(request.id)
    assert unknown.status is Status.UNKNOWN and unknown.reveal_state is RevealState.READY
    assert sealed_password(engine) is not None
    assert "send_reveal" in notifier.kinds()
    _, secret = workflow.reveal.begin(notifier.reveal_button(unknown.id), ENGINEER)
    assert secret.reveal() == gateways["namecheap"].calls[0]["password"]
    workflow.reveal.finish(notifier.reveal_button(unknown.id), ENGINEER)
    assert sealed_password(engine) is None
    assert workflow.reveal.customer_informed(request.id, ENGINEER).customer_informed_at is not None


def test_a_namecheap_call_whose_replica_died_keeps_the_password_revealable(workflow, gateways, clock, engine, notifier):
    workflow.execution.execute, original = (lambda *a: None), workflow.execution.execute  # dies mid-call
    request = submit(workflow, namecheap_form())
    workflow.decisions.approve(request.id, APPROVER)
    workflow.execution.execute = original
    clock.advance(91)
    assert workflow.execution.recover_executions() == 1
    unknown = workflow.lookups.get(request.id)
    assert unknown.status is Status.UNKNOWN and unknown.reveal_state is RevealState.READY
    assert gateways["namecheap"].calls == []  # never called twice: a repeat is refused by Namecheap
    _, secret = workflow.reveal.begin(notifier.reveal_button(unknown.id), ENGINEER)
    assert len(secret.reveal()) >= 8


def test_a_may_be_set_password_is_destroyed_when_the_reveal_ttl_ends(workflow, gateways, clock, engine):
    gateways["namecheap"].results.append(timed_out_after_sending())
    request = submit(workflow, namecheap_form())
    workflow.decisions.approve(request.id, APPROVER)
    clock.advance(899)
    workflow.sweeper.sweep()
    assert sealed_password(engine) is not None
    clock.advance(2)
    workflow.sweeper.sweep()
    assert workflow.lookups.get(request.id).reveal_state is RevealState.EXPIRED and sealed_password(engine) is None


def test_an_unknown_mofh_outcome_after_the_retries_keeps_the_password(workflow, gateways, clock, engine, notifier):
    gateways["mofh"].results += [unreadable() for _ in range(MAX_EXECUTION_ATTEMPTS)]
    request = submit(workflow)
    workflow.decisions.approve(request.id, APPROVER)
    for _ in range(MAX_EXECUTION_ATTEMPTS - 1):
        clock.advance(61)
        workflow.sweeper.sweep()
    unknown = workflow.lookups.get(request.id)
    assert unknown.status is Status.UNKNOWN and unknown.reveal_state is RevealState.READY
    _, secret = workflow.reveal.begin(notifier.reveal_button(unknown.id), ENGINEER)
    assert secret.reveal() == gateways["mofh"].calls[0]["password"]


def test_an_unknown_emailed_link_has_no_password_to_keep(workflow, gateways, engine):
    gateways["namecheap"].results.append(timed_out_after_sending())
    request = submit(workflow, namecheap_form(method="email_link", secret=None))
    workflow.decisions.approve(request.id, APPROVER)
    unknown = workflow.lookups.get(request.id)
    assert unknown.status is Status.UNKNOWN and unknown.reveal_state is RevealState.NONE


def shown(surface) -> str:
    return json.dumps(surface, ensure_ascii=False)


def test_the_card_the_requester_the_dm_and_the_modal_say_may_be_set(workflow, gateways):
    gateways["namecheap"].results.append(timed_out_after_sending())
    request = submit(workflow, namecheap_form())
    workflow.decisions.approve(request.id, APPROVER)
    unknown = workflow.lookups.get(request.id)
    catalog = workflow.catalog
    card = shown(blocks.approval_card(unknown, catalog=catalog))
    assert "Outcome unknown — verify" in card and "may be set" in card
    assert "may be set" in blocks.requester_status(unknown, catalog=catalog)
    text, dm = blocks.reveal_dm(unknown, catalog=catalog)
    assert "may be set" in text and "may be set" in shown(dm) and "Reveal password" in shown(dm)
    modal = blocks.reveal_modal(unknown, Secret("Xy9~example00"), catalog=catalog)
    assert "may be set" in shown(modal) and modal["title"]["text"] == "New password"
    _, after = blocks.reveal_dm_after(replace(unknown, reveal_state=RevealState.REVEALED), catalog=catalog)
    assert "may be set" in shown(after) and "I told the customer" in shown(after)
    _, expired = blocks.reveal_dm_after(replace(unknown, reveal_state=RevealState.EXPIRED), catalog=catalog)
    assert "may be set" in shown(expired)


# --- item 5: a reset code is reported for the account Namecheap says it changed ----------------


def changed(user_id):
    return ChangeResult(outcome=Outcome.CHANGED, message="Namecheap changed the password of the account.",
                        user_id=user_id)


def learn_acmeshop(workflow, gateways, account="acmeshop", user_id="48213"):
    """A way-1 change (it names the account) teaches the bot the account's UserId."""
    gateways["namecheap"].results.append(changed(user_id))
    request = submit(workflow, namecheap_form(account=account), view_id=f"V-learn-{account}")
    workflow.decisions.approve(request.id, APPROVER)
    assert workflow.lookups.get(request.id).status is Status.SUCCEEDED


def reset_code_request(workflow, view_id="V-code", account="acmeshop"):
    request = submit(workflow, namecheap_form(method="reset_code", secret="c0ffee9a1b2c3d4e5f60718293a4b5c6d",
                                              account=account), view_id=view_id)
    workflow.decisions.approve(request.id, APPROVER)
    return workflow.lookups.get(request.id)


def test_a_reset_code_that_changed_another_userid_is_never_a_plain_success(workflow, gateways):
    learn_acmeshop(workflow, gateways)
    learn_acmeshop(workflow, gateways, account="otherco", user_id="48215")
    gateways["namecheap"].results.append(changed("48215"))
    done = reset_code_request(workflow)
    assert done.status is Status.UNKNOWN and done.outcome == "changed"
    assert "UserId 48215" in done.outcome_message and "could not be matched to the account acmeshop" in \
        done.outcome_message
    assert "acmeshop is UserId 48213 (UserId 48215 is otherco)" in done.outcome_message
    assert done.reveal_state is RevealState.READY  # it WAS set, on some account: kept, with the sentence
    card = shown(blocks.approval_card(done, catalog=workflow.catalog))
    assert "could not be matched" in card and "Result" not in card and "may be set" in card
    assert "could not be matched" in blocks.requester_status(done, catalog=workflow.catalog)
    unmatched = [r for r in workflow.admin.audit_trail() if r.action == "user_id_unmatched"]
    assert [(r.request_id, r.detail["user_id"], r.detail["known_user_id"], r.detail["user_id_check"])
            for r in unmatched] == [(done.id, "48215", "48213", "differs")]


def test_a_reset_code_for_an_account_whose_userid_was_never_seen_is_unmatched(workflow, gateways):
    gateways["namecheap"].results.append(changed("48213"))
    done = reset_code_request(workflow)
    assert done.status is Status.UNKNOWN
    assert "UserId 48213" in done.outcome_message and "never seen the UserId of acmeshop" in done.outcome_message


def test_a_reset_code_answer_without_a_userid_is_unmatched(workflow, gateways):
    learn_acmeshop(workflow, gateways)
    gateways["namecheap"].results.append(changed(None))
    done = reset_code_request(workflow)
    assert done.status is Status.UNKNOWN and "no UserId" in done.outcome_message


def test_a_reset_code_for_the_known_userid_is_a_success(workflow, gateways):
    learn_acmeshop(workflow, gateways, account="AcmeShop")  # Namecheap ignores the case of usernames
    gateways["namecheap"].results.append(changed("48213"))
    done = reset_code_request(workflow)
    assert done.status is Status.SUCCEEDED and done.reveal_state is RevealState.READY
    assert not [r for r in workflow.admin.audit_trail() if r.action == "user_id_unmatched"]


def test_a_userid_that_is_not_an_id_is_not_shown_or_trusted(workflow, gateways):
    learn_acmeshop(workflow, gateways)
    gateways["namecheap"].results.append(changed("<!channel> 48213"))
    done = reset_code_request(workflow)
    assert done.status is Status.UNKNOWN and "<!channel>" not in done.outcome_message
