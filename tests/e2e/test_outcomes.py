"""Outcomes through the real app (issue 9, items 1, 2 and 5): the sandbox answers badly, the bot never loses a password.

The bot's own sweeper runs (as `resetbot run` does), on a short interval; the same-password
retry waits a fraction of a second instead of a minute.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.domain import Status
from bot.workflow import execution
from devkit.sandbox import NamecheapUser
from tests.e2e.conftest import APPROVALS, APPROVER, ENGINEER


@pytest.fixture
def sweeping(bot_over_socket, monkeypatch):
    monkeypatch.setattr(execution, "MOFH_RETRY_BACKOFF", timedelta(seconds=0.2))
    bot_over_socket.runtime.start_sweeper(interval=0.1)
    return bot_over_socket


def the_request(bot):
    return bot.workflow.lookups.get(bot.workflow.lookups.home_for(ENGINEER).requests[0].id)


def reveal(bot):
    """Click the one Reveal password button the requester's DMs show; the modal that opens."""
    sim = bot.sim
    dm = sim.wait_for(lambda: next((m for m in sim.dm_messages(ENGINEER) if "Reveal password" in m.buttons), None),
                      timeout=15, message="no Reveal password button in the DM")

    def modals():
        return [v for v in sim.views(ENGINEER) if v.title == "New password"]

    opened = len(modals())
    sim.click(ENGINEER, "Reveal password", channel=dm.channel, message_ts=dm.ts)
    return sim.wait_for(lambda: modals()[opened] if len(modals()) > opened else None,
                        message="no reveal modal")


def approve_mofh_failing_once(bot, mode, times=1):
    """Request webq7k2m; once the card shows the account's state (a lookup, not a change), the
    sandbox damages the next `times` answers for that account; then an approver approves."""
    bot.request_mofh()
    bot.card()
    bot.sim.wait_for(lambda: "account active" in bot.sim.messages(APPROVALS)[-1].visible_text,
                     message="the card never showed the account's state")
    bot.sandbox.set_failure("mofh", "webq7k2m", mode, times=times)
    bot.sim.click(APPROVER, "Approve", channel=APPROVALS)


# --- item 1 ---------------------------------------------------------------------------------


@pytest.mark.parametrize("mode, outcomes", [
    ("garbage", ["fail:garbage", "changed"]),  # nothing changed the first time
    ("truncated", ["changed+fail:truncated", "changed_idempotent"]),  # changed, but the answer was cut short
])
def test_an_unreadable_mofh_answer_is_retried_with_the_same_password(sweeping, mode, outcomes):
    bot, sim = sweeping, sweeping.sim
    approve_mofh_failing_once(bot, mode)
    sim.wait_for(lambda: the_request(bot).status is Status.SUCCEEDED, timeout=15,
                 message=f"not resolved by the retry: {the_request(bot).outcome_message}")
    assert [c.outcome for c in bot.mofh_passwd_calls()] == outcomes
    modal = reveal(bot)
    assert bot.sandbox.mofh_account("webq7k2m").password in modal.visible_text
    assert "Outcome unknown" not in sim.messages(APPROVALS)[-1].visible_text


# --- item 2 ---------------------------------------------------------------------------------


def request_namecheap(bot, method, secret, account="acmeshop"):
    assert bot.request_namecheap(method, secret, account=account).errors is None
    bot.card()
    bot.sim.click(APPROVER, "Approve", channel=APPROVALS)


def test_a_namecheap_answer_that_cannot_be_read_keeps_the_password_revealable_as_may_be_set(bot_over_socket):
    bot, sim = bot_over_socket, bot_over_socket.sim
    before = bot.sandbox.namecheap_user("acmeshop").password
    bot.sandbox.set_failure("namecheap", "acmeshop", "truncated", times=1)  # changed; the answer is cut short
    request_namecheap(bot, "Current password", before)
    card = sim.wait_for(lambda: next((m for m in sim.messages(APPROVALS) if "Outcome unknown" in m.visible_text),
                                     None), timeout=15, message="card does not say the outcome is unknown")
    assert "may be set" in card.visible_text
    sim.wait_for(lambda: any("may be set" in e.visible_text for e in sim.ephemerals(ENGINEER)),
                 message="the requester was not told the password may be set")
    dm = sim.wait_for(lambda: next((m for m in sim.dm_messages(ENGINEER) if "Reveal password" in m.buttons), None),
                      timeout=10, message="no Reveal password button")
    assert "may be set" in dm.visible_text
    modal = reveal(bot)
    now_set = bot.sandbox.namecheap_user("acmeshop").password
    assert now_set != before and now_set in modal.visible_text and "may be set" in modal.visible_text
    assert the_request(bot).status is Status.UNKNOWN
    assert len([c for c in bot.sandbox.calls() if c.provider == "namecheap"]) == 1  # never repeated


# --- item 5 ---------------------------------------------------------------------------------


def finish_way_1(bot, account="acmeshop"):
    """A current-password change names the account: the bot learns its UserId from the answer."""
    request_namecheap(bot, "Current password", bot.sandbox.namecheap_user(account).password, account=account)
    bot.sim.wait_for(lambda: the_request(bot).status is Status.SUCCEEDED, timeout=15, message="way 1 not done")
    assert bot.sandbox.namecheap_user(account).password in reveal(bot).visible_text
    bot.sim.wait_for(lambda: all("Reveal password" not in m.buttons for m in bot.sim.dm_messages(ENGINEER)),
                     message="the DM still offers the reveal")


def test_a_reset_code_of_another_account_is_reported_as_that_userid_never_as_the_typed_account(bot_over_socket):
    bot, sim = bot_over_socket, bot_over_socket.sim
    other = NamecheapUser(username="otherco", password="Other~Start2024", email="other@example.org")
    bot.sandbox.add_namecheap_user(other)
    finish_way_1(bot)  # the bot now knows acmeshop's UserId
    acmeshop_password = bot.sandbox.namecheap_user("acmeshop").password
    request_namecheap(bot, "Reset code", bot.sandbox.issue_reset_code("otherco"))  # typed as acmeshop
    card = sim.wait_for(lambda: next((m for m in sim.messages(APPROVALS) if "could not be matched" in m.visible_text),
                                     None), timeout=15, message="the card does not say the UserId was not matched")
    user_id = bot.sandbox.namecheap_user("otherco").user_id
    assert f"UserId {user_id}" in card.visible_text and "acmeshop" in card.visible_text
    assert ":white_check_mark:" not in card.text and "Result" not in card.visible_text
    sim.wait_for(lambda: any(f"UserId {user_id}" in e.visible_text and "could not be matched" in e.visible_text
                             for e in sim.ephemerals(ENGINEER)), message="the requester was not told")
    assert all("Done:" not in e.visible_text for e in sim.ephemerals(ENGINEER)[-1:])
    modal = reveal(bot)  # it WAS set, on otherco: kept for the one reveal, marked "may be set"
    assert bot.sandbox.namecheap_user("otherco").password in modal.visible_text and "may be set" in modal.visible_text
    assert bot.sandbox.namecheap_user("acmeshop").password == acmeshop_password
    assert the_request(bot).status is Status.UNKNOWN
    audited = [r for r in bot.workflow.admin.audit_trail() if r.action == "user_id_unmatched"]
    assert [r.detail["user_id"] for r in audited] == [user_id]


def test_a_reset_code_of_the_typed_account_is_a_success_once_its_userid_is_known(bot_over_socket):
    bot, sim = bot_over_socket, bot_over_socket.sim
    finish_way_1(bot)
    request_namecheap(bot, "Reset code", bot.sandbox.issue_reset_code("acmeshop"))
    sim.wait_for(lambda: the_request(bot).method.value == "reset_code"
                 and the_request(bot).status is Status.SUCCEEDED, timeout=15,
                 message=f"not a success: {the_request(bot).outcome_message}")
    modal = reveal(bot)
    assert bot.sandbox.namecheap_user("acmeshop").password in modal.visible_text
    assert "may be set" not in modal.visible_text
