"""Outcomes through the real app (issue 9, items 1, 2 and 5): the sandbox answers badly, the bot never loses a password.

The bot's own sweeper runs (as `resetbot run` does), on a short interval; the same-password
retry waits a fraction of a second instead of a minute.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.domain import Status
from bot.workflow import execution
from tests.e2e.conftest import APPROVALS, APPROVER, ENGINEER, HELPDESK, REASON


@pytest.fixture
def sweeping(bot_over_socket, monkeypatch):
    monkeypatch.setattr(execution, "MOFH_RETRY_BACKOFF", timedelta(seconds=0.2))
    bot_over_socket.runtime.start_sweeper(interval=0.1)
    return bot_over_socket


def the_request(bot):
    return bot.workflow.lookups.get(bot.workflow.lookups.home_for(ENGINEER).requests[0].id)


def reveal(bot):
    sim = bot.sim
    sim.wait_for(lambda: any("Reveal password" in m.buttons for m in sim.dm_messages(ENGINEER)), timeout=15,
                 message="no Reveal password button in the DM")
    sim.click(ENGINEER, "Reveal password", in_dm=True)
    return sim.wait_for(lambda: next((v for v in sim.views(ENGINEER) if v.title == "New password"), None),
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
    sim = bot.sim
    sim.slash_command(ENGINEER, "/reset-password", f"namecheap {account}", channel=HELPDESK)
    sim.wait_for(lambda: sim.current_view(ENGINEER), message="modal did not open")
    sim.fill(ENGINEER, {"Method": method})
    sim.wait_for(lambda: method in sim.current_view(ENGINEER).labels, message=f"no {method} input")
    sim.fill(ENGINEER, {method: secret, "Reason": REASON})
    assert sim.submit(ENGINEER).errors is None
    bot.card()
    sim.click(APPROVER, "Approve", channel=APPROVALS)


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
