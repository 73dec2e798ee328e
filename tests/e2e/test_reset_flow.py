"""/reset-password end to end through the real Bolt app, over Socket Mode, with the sandbox providers."""

from __future__ import annotations

import threading

from bot.domain import Status
from tests.e2e.conftest import APPROVALS, APPROVER, APPROVER2, ENGINEER, HELPDESK, OUTSIDER, REASON


def test_whole_flow_request_approve_reveal_once(bot_over_socket):
    bot, sim = bot_over_socket, bot_over_socket.sim
    before = bot.sandbox.mofh_account("webq7k2m").password
    assert bot.request_mofh(account="abcd_40312277").ok
    card = bot.card()
    assert "webq7k2m" in card.visible_text and "<@U0ENGINEER1>" in card.text
    sim.wait_for(lambda: "account active; domains shop.example.net" in sim.messages(APPROVALS)[-1].visible_text,
                 message="approvers were not shown the account's state")
    sim.wait_for(lambda: any("waiting for approval" in e.visible_text for e in sim.ephemerals(ENGINEER)),
                 message="requester not told it waits")
    # The requester's one DM for the request, posted with it; the Reveal button comes into that same DM.
    first = sim.wait_for(lambda: next(iter(sim.dm_messages(ENGINEER)), None), message="no DM for the request")
    assert first.buttons == ["Cancel request", "Remind approvers"]
    sim.click(APPROVER, "Approve", channel=APPROVALS)
    dm = sim.wait_for(lambda: next((m for m in sim.dm_messages(ENGINEER) if "Reveal password" in m.buttons), None),
                      timeout=10, message="no reveal DM")
    assert sim.dm_messages(ENGINEER) == [first] and dm is first
    rewritten = sim.messages(APPROVALS)[-1]
    assert rewritten.buttons == [] and "<@U0APPROVER1>" in rewritten.visible_text
    new_password = bot.sandbox.mofh_account("webq7k2m").password
    assert new_password != before and new_password not in dm.text + dm.visible_text
    sim.click(ENGINEER, "Reveal password", in_dm=True)
    modal = sim.wait_for(lambda: next((v for v in sim.views(ENGINEER) if v.title == "New password"), None),
                         message="no reveal modal")
    assert new_password in modal.visible_text
    sim.wait_for(lambda: sim.dm_messages(ENGINEER)[-1].buttons == ["I told the customer"],
                 message="DM still offers the reveal")
    assert len(bot.mofh_passwd_calls()) == 1
    sim.click(ENGINEER, "I told the customer", in_dm=True)
    sim.wait_for(lambda: "You confirmed telling the customer" in sim.dm_messages(ENGINEER)[-1].visible_text,
                 message="confirmation not recorded in the DM")
    assert sim.dm_messages(ENGINEER)[-1].buttons == []
    assert "customer_informed" in [r.action for r in bot.workflow.admin.audit_trail()]


def test_requester_without_role_is_told_ephemerally(bot_over_socket):
    sim = bot_over_socket.sim
    sim.slash_command(OUTSIDER, "/reset-password", "mofh webq7k2m", channel=HELPDESK)
    sim.wait_for(lambda: any("requester role" in e.visible_text for e in sim.ephemerals(OUTSIDER)),
                 message="no refusal")
    assert sim.current_view(OUTSIDER) is None


def test_invalid_input_keeps_the_modal_open_with_errors_under_the_inputs(bot_over_socket):
    bot, sim = bot_over_socket, bot_over_socket.sim
    ack = bot.request_mofh(account="hname_12345678", reason="short")
    assert ack.errors is not None
    assert "vPanel username" in ack.errors["account_block"]
    assert "10 characters" in ack.errors["reason_block"]
    assert sim.current_view(ENGINEER) is not None
    assert sim.messages(APPROVALS) == [] and bot.sandbox.calls() == []


def test_self_approval_and_outsiders_are_refused_privately(bot_over_socket):
    bot, sim = bot_over_socket, bot_over_socket.sim
    bot.request_mofh()
    bot.card()
    sim.click(ENGINEER, "Approve", channel=APPROVALS)
    sim.wait_for(lambda: any("can't approve" in e.visible_text for e in sim.ephemerals(ENGINEER)),
                 message="self-approval not refused")
    sim.join(OUTSIDER, APPROVALS)
    sim.click(OUTSIDER, "Deny", channel=APPROVALS)
    sim.wait_for(lambda: any("approver role" in e.visible_text for e in sim.ephemerals(OUTSIDER)),
                 message="outsider not refused")
    assert bot.mofh_passwd_calls() == []
    assert "Approve" in sim.messages(APPROVALS)[-1].buttons


def test_deny_rewrites_the_card_and_tells_the_requester(bot_over_socket):
    bot, sim = bot_over_socket, bot_over_socket.sim
    bot.request_mofh()
    bot.card()
    sim.click(APPROVER, "Deny", channel=APPROVALS)  # Deny opens a modal for an optional Reason (CONTRACT.md)
    sim.wait_for(lambda: sim.current_view(APPROVER), message="the Deny modal did not open")
    assert sim.submit(APPROVER).errors is None
    sim.wait_for(lambda: any("denied" in e.visible_text for e in sim.ephemerals(ENGINEER)), message="not told")
    assert "Denied" in sim.messages(APPROVALS)[-1].visible_text and sim.messages(APPROVALS)[-1].buttons == []
    assert bot.mofh_passwd_calls() == []


def test_two_approvers_at_once_and_double_clicks_give_one_provider_call(bot_over_socket):
    bot, sim = bot_over_socket, bot_over_socket.sim
    bot.request_mofh()
    card = bot.card()
    delivered = []
    start = threading.Barrier(4)

    def click(who):
        start.wait()
        try:
            delivered.append(sim.click(who, "Approve", channel=APPROVALS, message_ts=card.ts))
        except AssertionError:
            pass  # the card was already rewritten without buttons: nothing left to click

    threads = [threading.Thread(target=click, args=(who,)) for who in (APPROVER, APPROVER2, APPROVER, APPROVER2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    sim.wait_for(lambda: bot.workflow.lookups.get(bot.workflow.lookups.home_for(ENGINEER).requests[0].id).status
                 is Status.SUCCEEDED, timeout=10, message="request did not finish")
    assert len(bot.mofh_passwd_calls()) == 1
    assert len(delivered) >= 2
    # Every losing click is audited; each person who lost is told once (a repeat within a minute is
    # counted on the first refusal's row and not told again: bot/workflow/context.py, audit_refusal).
    assert bot.runtime.listener_executor.wait_idle(10)
    refused = [r for r in bot.workflow.admin.audit_trail() if r.action == "approve_refused"]
    assert sum(r.detail.get("count", 1) for r in refused) == len(delivered) - 1
    told = [user for user in (APPROVER, APPROVER2) for e in sim.ephemerals(user) if "already decided" in e.visible_text]
    assert sorted(told) == sorted(r.actor_id for r in refused), "every losing person should be told once"


def test_a_stalled_provider_never_delays_a_new_slash_command_ack(bot_over_socket):
    bot, sim = bot_over_socket, bot_over_socket.sim
    bot.sandbox.set_delay("mofh", "webq7k2m", 4.0)
    bot.request_mofh()
    bot.card()
    sim.click(APPROVER, "Approve", channel=APPROVALS)
    assert bot.sandbox.wait_for_pending(1, timeout=5)  # the provider call is now stalled in the sandbox
    ack = sim.slash_command(ENGINEER, "/reset-password", "mofh susp01x", channel=HELPDESK)
    assert ack.ok and not ack.timed_out and ack.latency < 1.0
    assert bot.workflow.lookups.get(bot.workflow.lookups.home_for(ENGINEER).requests[0].id).status is Status.EXECUTING


def test_provider_failure_ends_the_request_visibly(bot_over_socket):
    bot, sim = bot_over_socket, bot_over_socket.sim
    bot.request_mofh(account="susp01x")
    bot.card()
    sim.wait_for(lambda: "account SUSPENDED" in sim.messages(APPROVALS)[-1].visible_text,
                 message="approvers were not warned that the account is suspended")
    sim.click(APPROVER, "Approve", channel=APPROVALS)
    sim.wait_for(lambda: any("failed" in e.visible_text for e in sim.ephemerals(ENGINEER)), timeout=10,
                 message="requester not told of the failure")
    card = sim.messages(APPROVALS)[-1]
    assert "Failed" in card.visible_text and "suspended" in card.visible_text.lower()
    assert sim.dm_messages(ENGINEER) == [] or all("Reveal password" not in m.buttons for m in sim.dm_messages(ENGINEER))


def test_namecheap_reset_code_flow_changes_the_password(bot_over_socket):
    bot, sim = bot_over_socket, bot_over_socket.sim
    code = bot.sandbox.issue_reset_code("acmeshop")
    sim.slash_command(ENGINEER, "/reset-password", "namecheap acmeshop", channel=HELPDESK)
    sim.wait_for(lambda: sim.current_view(ENGINEER), message="modal did not open")
    sim.fill(ENGINEER, {"Method": "Reset code"})
    sim.wait_for(lambda: "Reset code" in sim.current_view(ENGINEER).labels, message="no Reset code input")
    sim.fill(ENGINEER, {"Reset code": code, "Reason": REASON})
    assert sim.submit(ENGINEER).errors is None
    bot.card()
    sim.click(APPROVER, "Approve", channel=APPROVALS)
    sim.wait_for(lambda: any("Reveal password" in m.buttons for m in sim.dm_messages(ENGINEER)), timeout=10,
                 message="no reveal DM")
    sim.click(ENGINEER, "Reveal password", in_dm=True)
    modal = sim.wait_for(lambda: next((v for v in sim.views(ENGINEER) if v.title == "New password"), None),
                         message="no reveal modal")
    assert bot.sandbox.namecheap_user("acmeshop").password in modal.visible_text
    passwd_calls = [c for c in bot.sandbox.calls() if c.provider == "namecheap"]
    assert len(passwd_calls) == 1


def test_app_home_shows_requests_and_what_waits(bot_over_socket):
    bot, sim = bot_over_socket, bot_over_socket.sim
    bot.request_mofh()
    bot.card()
    sim.open_home(ENGINEER)
    home = sim.wait_for(lambda: sim.home(ENGINEER), message="no home for the engineer")
    assert "waiting for approval" in home.visible_text
    sim.open_home(APPROVER)
    home = sim.wait_for(lambda: sim.home(APPROVER), message="no home for the approver")
    assert "Waiting for your approval" in home.visible_text and "Approve" in home.buttons
    sim.click(APPROVER, "Approve", in_home=True)
    sim.wait_for(lambda: any("Reveal password" in m.buttons for m in sim.dm_messages(ENGINEER)), timeout=10,
                 message="approval from the Home tab did not execute")
    sim.wait_for(lambda: "Approve" not in sim.home(APPROVER).buttons, message="Home tab still offers the approval")


def test_an_unexpected_failure_while_submitting_keeps_the_modal_open_with_an_error_id(bot_over_socket, monkeypatch,
                                                                                        caplog):
    bot, sim = bot_over_socket, bot_over_socket.sim

    def broken_submit(*args, **kwargs):
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(bot.workflow.intake, "submit", broken_submit)
    ack = bot.request_mofh()
    assert ack.errors and "error id" in ack.errors["reason_block"]
    assert sim.current_view(ENGINEER) is not None and sim.messages(APPROVALS) == []
    assert any("unhandled RuntimeError" in r.getMessage() for r in caplog.records)
