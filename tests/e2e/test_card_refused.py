"""When Slack refuses to post the approval card (the bot is not in the approvals channel, or it is archived or
gone), the requester is told at once what an admin must do, never "waiting for approval"; admins see it on the
App Home and in the log; the card is posted as soon as Slack accepts it (CONTRACT.md "What a person sees")."""

from __future__ import annotations

import logging
from datetime import timedelta

from bot.domain import Role
from tests.e2e.conftest import APPROVALS, APPROVER, APPROVER2, ENGINEER

ADMIN = "U0ADMIN0001"


def test_a_card_slack_refuses_is_told_to_the_requester_and_admins_and_posted_once_the_bot_is_invited(
        bot_over_socket, caplog):
    bot, sim = bot_over_socket, bot_over_socket.sim
    sim.add_channel(APPROVALS, "pw-reset-approvals", members=[APPROVER, APPROVER2], bot_member=False)
    sim.add_user(ADMIN, "ari", channels=[APPROVALS])
    bot.workflow.admin.grant(ADMIN, Role.ADMIN, None, actor="cli:ops")

    with caplog.at_level(logging.ERROR):
        assert bot.request_mofh().ok
        told = sim.wait_for(lambda: next((e for e in sim.ephemerals(ENGINEER) if "/invite" in e.visible_text), None),
                            message="the requester was not told the card could not be posted")
    assert "no approver can see it yet" in told.visible_text and APPROVALS in told.visible_text
    assert not any("waiting for approval" in e.visible_text for e in sim.ephemerals(ENGINEER))
    assert any(r.levelno == logging.ERROR and "not_in_channel" in r.getMessage() and "/invite" in r.getMessage()
               for r in caplog.records)

    sim.open_home(ADMIN)
    home = sim.wait_for(lambda: (h := sim.home(ADMIN)) is not None and "cannot be posted" in h.visible_text and h,
                        message="the admin's App Home does not say the cards cannot be posted")
    assert "/invite the bot" in home.visible_text
    sim.open_home(APPROVER)
    approver_home = sim.wait_for(lambda: sim.home(APPROVER), message="no home for the approver")
    assert "cannot be posted" not in approver_home.visible_text  # admins only

    sim.add_channel(APPROVALS, "pw-reset-approvals", bot_member=True)  # an admin /invited the bot
    assert bot.workflow.sweeper.repost_missing_cards(grace=timedelta(0)) == 1
    card = bot.card()
    assert "Approve" in card.buttons and "webq7k2m" in card.visible_text
    sim.open_home(ADMIN)
    sim.wait_for(lambda: "cannot be posted" not in sim.home(ADMIN).visible_text,
                 message="the admin's App Home still warns after the card was posted")
