"""An approval counts only while the requester still holds the requester role (CONTRACT.md "Rules that always
hold"): otherwise the approver is told, and the request ends, withdrawn, with nothing sent to the provider."""

from __future__ import annotations

from bot.domain import Role, Status
from tests.e2e.conftest import APPROVALS, APPROVER, ENGINEER


def test_an_approval_after_the_requester_lost_the_role_withdraws_the_request(bot_over_socket):
    bot, sim = bot_over_socket, bot_over_socket.sim
    before = bot.sandbox.mofh_account("webq7k2m").password
    assert bot.request_mofh().ok
    bot.card()
    request_id = next(r.request_id for r in bot.workflow.admin.audit_trail() if r.action == "requested")
    bot.workflow.admin.revoke(ENGINEER, Role.REQUESTER, None, actor="test")

    sim.click(APPROVER, "Approve", channel=APPROVALS)

    told = sim.wait_for(lambda: next((e for e in sim.ephemerals(APPROVER) if "no longer has the requester role"
                                      in e.visible_text), None), message="the approver was not told")
    assert "nothing was sent" in told.visible_text
    sim.wait_for(lambda: "Withdrawn" in sim.messages(APPROVALS)[-1].visible_text,
                 message="the card was not rewritten as withdrawn")
    assert sim.messages(APPROVALS)[-1].buttons == []
    sim.wait_for(lambda: "was withdrawn" in sim.dm_messages(ENGINEER)[-1].visible_text,
                 message="the requester's DM does not say it was withdrawn")
    assert sim.dm_messages(ENGINEER)[-1].buttons == []
    assert bot.workflow.lookups.get(request_id).status is Status.WITHDRAWN
    assert bot.mofh_passwd_calls() == [] and bot.sandbox.mofh_account("webq7k2m").password == before
    actions = [r.action for r in bot.workflow.admin.audit_trail() if r.request_id == request_id]
    assert "withdrawn" in actions and "approved" not in actions
