"""cPanel end to end: /reset-password cpanel through the real app, over Socket Mode, against the sandbox WHM.

Request, approve, reveal once, by username and by domain; what the sandbox refuses; a lost answer retried
with the same sealed password (the sweeper runs on a short interval, as in test_outcomes.py).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.domain import Status
from bot.providers.cpanel.passwords import CPANEL_RULES
from bot.workflow import execution
from devkit.sandbox import password_strength
from tests.e2e.conftest import APPROVALS, APPROVER, ENGINEER


def the_request(bot):
    return bot.workflow.lookups.get(bot.workflow.lookups.home_for(ENGINEER).requests[0].id)


def reveal(bot):
    sim = bot.sim
    dm = sim.wait_for(lambda: next((m for m in sim.dm_messages(ENGINEER) if "Reveal password" in m.buttons), None),
                      timeout=15, message="no Reveal password button in the DM")
    sim.click(ENGINEER, "Reveal password", channel=dm.channel, message_ts=dm.ts)
    return sim.wait_for(lambda: next((v for v in sim.views(ENGINEER) if v.title == "New password"), None),
                        message="no reveal modal")


def approve(bot, account):
    ack = bot.request_cpanel(account)
    assert ack.ok and ack.errors is None, ack.errors
    card = bot.card()
    bot.sim.click(APPROVER, "Approve", channel=APPROVALS)
    return card


def test_a_cpanel_password_is_requested_approved_and_revealed_once(bot_over_socket):
    bot, sim = bot_over_socket, bot_over_socket.sim
    before = bot.sandbox.cpanel_account("acmeshop").password
    card = approve(bot, "acmeshop")
    assert "cPanel" in card.visible_text and "acmeshop" in card.visible_text
    sim.wait_for(lambda: the_request(bot).status is Status.SUCCEEDED, timeout=15,
                 message="the change did not succeed")
    account = bot.sandbox.cpanel_account("acmeshop")
    new_password = account.password
    assert new_password != before and account.mysql_password == "Acme-Start-2024x"  # db_pass_update=0
    assert CPANEL_RULES.check(new_password, account="acmeshop") is None and password_strength(new_password) == 100
    # The card is rewritten after the outcome is stored: wait for it, as a person would.
    rewritten = sim.wait_for(lambda: (m := sim.messages(APPROVALS)[-1]) and "cPanel changed the password."
                             in m.visible_text and m, message="the card was not rewritten with the result")
    assert rewritten.buttons == []
    assert new_password not in rewritten.text + rewritten.visible_text
    modal = reveal(bot)
    assert new_password in modal.visible_text
    sim.wait_for(lambda: sim.dm_messages(ENGINEER)[-1].buttons == ["I told the customer"],
                 message="DM still offers the reveal")
    [call] = bot.cpanel_calls("passwd")
    assert (call.method, call.command, call.outcome) == ("POST", "passwd", "changed")
    assert call.params == {"api.version": "1", "user": "acmeshop", "password": "***", "db_pass_update": "0"}


def test_a_domain_is_resolved_to_its_account_right_before_the_change(bot_over_socket):
    bot, sim = bot_over_socket, bot_over_socket.sim
    before = bot.sandbox.cpanel_account("acmeshop").password
    card = approve(bot, "Acme-Blog.Example")  # an addon domain of acmeshop, typed in any case
    assert "acme-blog.example" in card.visible_text
    sim.wait_for(lambda: the_request(bot).status is Status.SUCCEEDED, timeout=15, message="not changed")
    assert the_request(bot).account == "acme-blog.example"
    assert "owner of acme-blog.example" in the_request(bot).outcome_message
    new_password = bot.sandbox.cpanel_account("acmeshop").password
    assert new_password != before and new_password in reveal(bot).visible_text
    # The card's lookup asks too (getdomainowner, accountsummary); the change asks the owner right before passwd.
    changing = [(c.command, c.outcome) for c in bot.cpanel_calls() if c.command != "accountsummary"][-2:]
    assert changing == [("getdomainowner", "lookup_ok"), ("passwd", "changed")]


def test_a_domain_that_names_no_account_of_the_token_changes_nothing(bot_over_socket):
    bot, sim = bot_over_socket, bot_over_socket.sim
    approve(bot, "other-reseller.example")
    sim.wait_for(lambda: the_request(bot).status is Status.FAILED, timeout=15, message="not refused")
    assert the_request(bot).outcome == "account_not_found"
    assert bot.cpanel_calls("passwd") == []
    assert bot.sandbox.cpanel_account("otherres1").password == "Other-Start-2024x"
    assert not any("Reveal password" in m.buttons for m in sim.dm_messages(ENGINEER))


@pytest.mark.parametrize("typed,shown", [
    ("acmeshop", "cPanel (acmeshop): account active; domains acmeshop.example."),
    ("shop.acmeshop.example", "cPanel (acmeshop): account active; domains acmeshop.example."),  # resolved
    ("oldshop", ":warning: cPanel (oldshop): account SUSPENDED; domains oldshop.example."),
])
def test_the_card_shows_the_resolved_username_main_domain_and_state(bot_over_socket, typed, shown):
    """Issue 23 item 4: approvers see what WHM says of the account before they approve; a domain typed in the
    Account field resolves through getdomainowner."""
    bot, sim = bot_over_socket, bot_over_socket.sim
    ack = bot.request_cpanel(typed)
    assert ack.ok and ack.errors is None, ack.errors
    bot.card()
    card = sim.wait_for(lambda: (m := sim.messages(APPROVALS)[-1]) and shown in m.visible_text and m,
                        message=f"the card does not show {shown!r}: {sim.messages(APPROVALS)[-1].visible_text}")
    assert "Approve" in card.buttons and bot.cpanel_calls("passwd") == []  # read-only until approved


@pytest.mark.parametrize("account,outcome,words", [
    ("oldshop", "account_inactive", "will not change the password of an account that is suspended"),
    ("otherres1", "account_not_found", "has no account"),
])
def test_what_whm_refuses_fails_with_nothing_to_reveal(bot_over_socket, account, outcome, words):
    bot, sim = bot_over_socket, bot_over_socket.sim
    approve(bot, account)
    sim.wait_for(lambda: the_request(bot).status is Status.FAILED, timeout=15, message="not refused")
    assert the_request(bot).outcome == outcome
    sim.wait_for(lambda: words in sim.messages(APPROVALS)[-1].visible_text, message="the card does not say why")
    assert len(bot.cpanel_calls("passwd")) == 1  # refused answers are not retried
    assert not any("Reveal password" in m.buttons for m in sim.dm_messages(ENGINEER))


@pytest.mark.parametrize("typed,words", [("root", "system account"), ("AcmeShop", "lower case"),
                                         ("acme&user=root", "A cPanel username is")])
def test_the_modal_refuses_what_the_client_would_never_send(bot_over_socket, typed, words):
    bot = bot_over_socket
    ack = bot.request_cpanel(typed)
    assert ack.errors is not None and words in ack.errors["account_block"]
    assert bot.sandbox.calls() == []


@pytest.fixture
def sweeping(bot_over_socket, monkeypatch):
    monkeypatch.setattr(execution, "MOFH_RETRY_BACKOFF", timedelta(seconds=0.2))
    bot_over_socket.runtime.start_sweeper(interval=0.1)
    return bot_over_socket


def test_a_lost_answer_is_retried_later_with_the_same_password(sweeping):
    bot, sim = sweeping, sweeping.sim
    ack = bot.request_cpanel("acmeshop")
    assert ack.errors is None
    bot.card()
    sim.wait_for(lambda: "account active" in sim.messages(APPROVALS)[-1].visible_text,
                 message="the card's account lookup did not finish")  # before the failure is armed: it takes one
    bot.sandbox.set_failure("cpanel", "acmeshop", "truncated", times=1)  # changed; the answer is cut short
    sim.click(APPROVER, "Approve", channel=APPROVALS)
    sim.wait_for(lambda: the_request(bot).status is Status.SUCCEEDED, timeout=15,
                 message=f"not resolved by the retry: {the_request(bot).outcome_message}")
    assert [c.outcome for c in bot.cpanel_calls("passwd")] == ["changed+fail:truncated", "changed"]
    assert bot.sandbox.cpanel_account("acmeshop").password in reveal(bot).visible_text
