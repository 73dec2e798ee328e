"""/reset-password for a Plesk customer end to end: the real app, the simulated Slack, the sandbox Plesk."""

from __future__ import annotations

import string

import pytest

from bot.domain import Status
from bot.providers.plesk.passwords import PLESK_SPECIALS
from tests.e2e.conftest import APPROVALS, APPROVER, ENGINEER


def _strong_for(password: str, login: str) -> bool:
    classes = (string.ascii_uppercase, string.ascii_lowercase, string.digits, PLESK_SPECIALS)
    return (len(password) == 20 and all(sum(ch in cls for ch in password) >= 2 for cls in classes)
            and login.lower() not in password.lower())


def test_request_approve_reveal_for_a_plesk_customer(bot_over_socket):
    bot, sim = bot_over_socket, bot_over_socket.sim
    before = bot.sandbox.plesk_customer("jdoe42").password
    assert bot.request_plesk().ok
    card = bot.card()
    assert "jdoe42" in card.visible_text and "Plesk" in card.visible_text and "<@U0ENGINEER1>" in card.text
    sim.wait_for(lambda: any("waiting for approval" in e.visible_text for e in sim.ephemerals(ENGINEER)),
                 message="requester not told it waits")
    first = sim.wait_for(lambda: next(iter(sim.dm_messages(ENGINEER)), None), message="no DM for the request")

    sim.click(APPROVER, "Approve", channel=APPROVALS)
    dm = sim.wait_for(lambda: next((m for m in sim.dm_messages(ENGINEER) if "Reveal password" in m.buttons), None),
                      timeout=10, message="no reveal DM")
    assert dm is first
    rewritten = sim.messages(APPROVALS)[-1]
    assert rewritten.buttons == [] and "<@U0APPROVER1>" in rewritten.visible_text
    new_password = bot.sandbox.plesk_customer("jdoe42").password
    assert new_password != before and _strong_for(new_password, "jdoe42")  # the sandbox's Very strong policy took it
    assert new_password not in dm.text + dm.visible_text + rewritten.text + rewritten.visible_text

    sim.click(ENGINEER, "Reveal password", in_dm=True)
    modal = sim.wait_for(lambda: next((v for v in sim.views(ENGINEER) if v.title == "New password"), None),
                         message="no reveal modal")
    assert new_password in modal.visible_text
    sim.wait_for(lambda: sim.dm_messages(ENGINEER)[-1].buttons == ["I told the customer"],
                 message="DM still offers the reveal")

    (call,) = bot.plesk_set_calls()
    assert (call.account, call.outcome, call.http_status, call.api_user) == (
        "jdoe42", "changed", 200, "sandbox-plesk-admin")
    request = bot.workflow.lookups.home_for(ENGINEER).requests[0]
    done = bot.workflow.lookups.get(request.id)
    assert (done.provider, done.account, done.status) == ("plesk", "jdoe42", Status.SUCCEEDED)


def test_a_plesk_customer_the_panel_does_not_know_fails_with_nothing_changed(bot_over_socket):
    bot, sim = bot_over_socket, bot_over_socket.sim
    assert bot.request_plesk(account="nobody99").ok
    bot.card()
    sim.click(APPROVER, "Approve", channel=APPROVALS)
    sim.wait_for(lambda: bot.workflow.lookups.get(bot.workflow.lookups.home_for(ENGINEER).requests[0].id).status
                 is Status.FAILED, timeout=10, message="the request did not fail")
    done = bot.workflow.lookups.get(bot.workflow.lookups.home_for(ENGINEER).requests[0].id)
    assert done.outcome == "account_not_found"
    assert [c.outcome for c in bot.plesk_set_calls()] == ["account_not_found"]


def test_an_account_the_plesk_field_refuses_keeps_the_modal_open(bot_over_socket):
    bot, sim = bot_over_socket, bot_over_socket.sim
    ack = bot.request_plesk(account="a<!channel>")
    assert ack.errors is not None and "Plesk customer login" in ack.errors["account_block"]
    assert sim.messages(APPROVALS) == [] and bot.sandbox.calls() == []


@pytest.mark.parametrize("login,shown", [
    ("jdoe42", "Plesk (jdoe42): account active"),
    # disabled by the administrator: shown, but not said to refuse the change (docs/provider-plesk.md §10)
    ("oldshop", ":warning: Plesk (oldshop): account SUSPENDED; domains none the bot could show. Plesk changes its "
                "password all the same."),
])
def test_the_card_shows_the_customers_state_before_approval(bot_over_socket, login, shown):
    """The card's lookup (gateway.account_context) is a read-only customer/get of the login typed."""
    bot, sim = bot_over_socket, bot_over_socket.sim
    assert bot.request_plesk(account=login).ok
    bot.card()
    card = sim.wait_for(lambda: (m := sim.messages(APPROVALS)[-1]) and shown in " ".join(m.visible_text.split())
                        and m, message=f"the card does not show {shown!r}: {sim.messages(APPROVALS)[-1].visible_text}")
    assert "Approve" in card.buttons and bot.plesk_set_calls() == []  # read-only until approved
    assert [(c.command, c.account, c.outcome) for c in bot.sandbox.calls()] == [("customer/get", login, "lookup_ok")]
