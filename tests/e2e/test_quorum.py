"""N-of-M approvals and Deny with a reason, end to end: the real app over Socket Mode, the simulated Slack, the
sandbox MyOwnFreeHost, and the policy set by the real `resetbot policy set` process on the bot's database."""

from __future__ import annotations

from tests.e2e.conftest import APPROVALS, APPROVER, APPROVER2, ENGINEER
from tests.e2e.test_policy import policy_set

DENY_REASON = "Ticket SUP-1 is for another customer <!channel>\nAsk them to call from the account's e-mail."


def _waiting_card(bot):
    return bot.sim.messages(APPROVALS)[-1]


def _told(sim, user: str, words: str):
    return sim.wait_for(lambda: next((e for e in sim.ephemerals(user) if words in e.visible_text), None),
                        message=f"{user} was not told {words!r}")


def test_2_approvals_set_with_the_cli_need_two_approvers_each_shown_on_the_card_then_one_change(bot_over_socket):
    bot, sim = bot_over_socket, bot_over_socket.sim
    policy_set(bot, "mofh", "--approvals", "2")
    before = bot.sandbox.mofh_account("webq7k2m").password
    assert bot.request_mofh().errors is None
    card = bot.card()
    assert "Approvals: 0 of 2" in card.visible_text

    sim.click(APPROVER, "Approve", channel=APPROVALS)
    shown = sim.wait_for(lambda: _waiting_card(bot) if "Approvals: 1 of 2" in _waiting_card(bot).visible_text
                         else None, message="the card does not show the first approval")
    assert "<@U0APPROVER1> approved " in shown.visible_text and shown.ts == card.ts
    assert shown.buttons == ["Approve", "Deny"]  # it still waits for a second approver
    assert bot.mofh_passwd_calls() == [] and bot.sandbox.mofh_account("webq7k2m").password == before

    sim.click(APPROVER, "Approve", channel=APPROVALS)  # the same person again: counted once, told privately
    _told(sim, APPROVER, "You already approved this request. It needs 1 more approval, from another approver")
    sim.click(ENGINEER, "Approve", channel=APPROVALS)  # the requester never counts
    _told(sim, ENGINEER, "You asked for this reset, so you can't approve it")
    assert bot.mofh_passwd_calls() == []
    assert "Approvals: 1 of 2" in _waiting_card(bot).visible_text

    sim.click(APPROVER2, "Approve", channel=APPROVALS)
    dm = sim.wait_for(lambda: next((m for m in sim.dm_messages(ENGINEER) if "Reveal password" in m.buttons), None),
                      timeout=10, message="no reveal DM after the second approval")
    new_password = bot.sandbox.mofh_account("webq7k2m").password
    assert new_password != before and new_password not in dm.text + dm.visible_text
    decided = _waiting_card(bot)
    assert decided.buttons == [] and "*Approved* by <@U0APPROVER1>" in decided.visible_text
    assert "<@U0APPROVER2>" in decided.visible_text
    assert len(bot.mofh_passwd_calls()) == 1
    sim.click(ENGINEER, "Reveal password", in_dm=True)
    modal = sim.wait_for(lambda: next((v for v in sim.views(ENGINEER) if v.title == "New password"), None),
                         message="no reveal modal")
    assert new_password in modal.visible_text
    approved = [(r.actor_id, r.detail["approvals"]) for r in bot.workflow.admin.audit_trail()
                if r.action == "approved"]
    assert approved == [(APPROVER, "1 of 2"), (APPROVER2, "2 of 2")]


def test_deny_opens_a_modal_and_its_reason_reaches_the_requester_the_card_and_the_audit_trail(bot_over_socket):
    bot, sim = bot_over_socket, bot_over_socket.sim
    policy_set(bot, "mofh", "--approvals", "2")
    assert bot.request_mofh().errors is None
    card = bot.card()
    sim.click(APPROVER, "Approve", channel=APPROVALS)
    sim.wait_for(lambda: "Approvals: 1 of 2" in _waiting_card(bot).visible_text, message="first approval not shown")

    # One Deny ends it, even after an approval.
    modal = sim.opened_by(APPROVER2, lambda: sim.click(APPROVER2, "Deny", channel=APPROVALS))
    assert modal.title == "Deny this reset?" and modal.labels == ["Reason"]
    assert "Deny" in _waiting_card(bot).buttons  # nothing changed while the modal is open
    sim.fill(APPROVER2, {"Reason": DENY_REASON})
    ack = sim.submit(APPROVER2)
    assert ack.ok and ack.errors is None and sim.current_view(APPROVER2) is None

    told = _told(sim, ENGINEER, "was denied by <@U0APPROVER2>")
    assert told.visible_text == ("Your password reset for `webq7k2m` at MyOwnFreeHost was denied by <@U0APPROVER2>:\n"
                                 ">Ticket SUP-1 is for another customer &lt;!channel&gt;\n"
                                 ">Ask them to call from the account's e-mail.")
    denied = sim.wait_for(lambda: _waiting_card(bot) if not _waiting_card(bot).buttons else None,
                          message="the card was not rewritten")
    assert denied.ts == card.ts and "*Denied* by <@U0APPROVER2>" in denied.visible_text
    assert "(after approvals: 1 of 2):\n>Ticket SUP-1 is for another customer &lt;!channel&gt;\n" \
           ">Ask them to call from the account's e-mail." in denied.visible_text
    (audited,) = [r for r in bot.workflow.admin.audit_trail() if r.action == "denied"]
    assert audited.actor_id == APPROVER2 and audited.detail["reason"] == DENY_REASON
    assert bot.mofh_passwd_calls() == []


def test_deny_without_a_reason_ends_the_request_as_before(bot_over_socket):
    bot, sim = bot_over_socket, bot_over_socket.sim
    assert bot.request_mofh().errors is None
    bot.card()
    sim.opened_by(APPROVER, lambda: sim.click(APPROVER, "Deny", channel=APPROVALS), "Deny this reset?")
    assert sim.submit(APPROVER).errors is None
    told = _told(sim, ENGINEER, "was denied")
    assert told.visible_text == "Your password reset for `webq7k2m` at MyOwnFreeHost was denied by <@U0APPROVER1>."
    card = sim.wait_for(lambda: _waiting_card(bot) if not _waiting_card(bot).buttons else None,
                        message="the card was not rewritten")
    assert "*Denied* by <@U0APPROVER1>" in card.visible_text and bot.mofh_passwd_calls() == []
