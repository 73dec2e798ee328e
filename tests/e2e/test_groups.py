"""Approver groups end to end (issue 10 item 1): the real app over Socket Mode, the simulated Slack's user groups.

A grant to a user group holds for whoever Slack lists as its members at the click
(usergroups.users.list, at most 60 s old; refreshed at once on subteam_members_changed); a
Slack error while resolving the group refuses the click with a sentence and never approves.
The app runs on a fake clock here, so "60 s later" needs no waiting.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.app import build_runtime
from bot.domain import Role
from bot.server import socket_mode_handler
from tests.e2e.conftest import APPROVALS, APPROVER, OUTSIDER, Bot, _grant, _world, make_settings
from tests.unit.conftest import Clock

GROUP = "S0APPROVERS"
MEMBER = OUTSIDER  # no approver grant of their own: only the group's


@pytest.fixture
def grouped(database_url):
    sim, sandbox = _world()
    clock = Clock()
    clock.now = datetime.now(UTC)  # the app's clock, which the group cache ages by; the database keeps its own
    runtime = build_runtime(make_settings(sim, sandbox, database_url), clock=clock)
    _grant(runtime)
    sim.join(MEMBER, APPROVALS)
    sim.add_usergroup(GROUP, "pw-reset-approvers", [MEMBER])
    runtime.workflow.admin.grant(GROUP, Role.APPROVER, None, actor="cli:ops")
    handler = socket_mode_handler(runtime.app, "xapp-test")
    handler.connect()
    sim.wait_for_connections(1, timeout=10)
    try:
        yield Bot(sim, sandbox, runtime, database_url), clock
    finally:
        handler.close()
        sandbox.stop()
        runtime.shutdown(timeout=10)
        sim.stop()


def approved_by(bot: Bot, user: str) -> None:
    """`user` approves the card with buttons; waits until the card is rewritten and the password changed."""
    card, changes = bot.card(), len(bot.mofh_passwd_calls())
    bot.sim.click(user, "Approve", channel=APPROVALS, message_ts=card.ts)
    bot.sim.wait_for(lambda: len(bot.mofh_passwd_calls()) > changes, timeout=10, message="no password change")
    assert bot.workflow.background.wait_idle(10)
    bot.sim.wait_for(lambda: card.buttons == [] and f"<@{user}>" in card.visible_text, timeout=10,
                     message="the card was not rewritten as approved")


def refused(bot: Bot, user: str, words: str) -> None:
    """`user` clicks Approve on the waiting card and is told `words` privately; the card keeps its buttons."""
    card, told, changes = bot.card(), len(bot.sim.ephemerals(user)), len(bot.mofh_passwd_calls())
    bot.sim.click(user, "Approve", channel=APPROVALS, message_ts=card.ts)
    bot.sim.wait_for(lambda: any(words in e.visible_text for e in bot.sim.ephemerals(user)[told:]),
                     message=f"{user} was not told {words!r}")
    assert "Approve" in card.buttons and len(bot.mofh_passwd_calls()) == changes


def lists(bot: Bot) -> int:
    return len(bot.sim.calls_to("usergroups.users.list"))


def test_a_group_member_approves_and_once_removed_is_refused_at_the_next_click_after_the_event(grouped):
    bot, clock = grouped
    sim = bot.sim
    bot.request_mofh()
    approved_by(bot, MEMBER)
    assert len(bot.mofh_passwd_calls()) == 1 and lists(bot) == 1
    assert sim.wait_for_call("usergroups.users.list").params["usergroup"] == GROUP

    bot.request_mofh()  # the first one is done: the account is free again
    clock.advance(10)  # an event refreshes a group asked about at least 10 s before (handlers/groups.py)
    asked = lists(bot)
    sim.set_usergroup_users(GROUP, [APPROVER])  # Slack sends subteam_members_changed
    sim.wait_for(lambda: lists(bot) > asked, message="the event did not refresh the group")
    refused(bot, MEMBER, "don't have the approver role for MyOwnFreeHost")
    approved_by(bot, APPROVER)
    assert len(bot.mofh_passwd_calls()) == 2


def test_without_the_event_a_removed_member_is_refused_once_the_answer_is_60_seconds_old(grouped):
    bot, clock = grouped
    bot.request_mofh()
    approved_by(bot, MEMBER)
    bot.request_mofh()
    bot.sim.set_usergroup_users(GROUP, [], send_event=False)  # an app that never hears of the change
    clock.advance(61)
    asked = lists(bot)
    refused(bot, MEMBER, "don't have the approver role for MyOwnFreeHost")
    assert lists(bot) == asked + 1  # asked again at the click, the old answer being too old


@pytest.mark.parametrize("fault", ["plan_upgrade_required", "missing_scope"])
def test_a_usergroups_failure_refuses_the_click_with_a_sentence_and_never_approves(grouped, fault):
    bot, _ = grouped
    sim = bot.sim
    bot.request_mofh()
    if fault == "missing_scope":
        sim.scopes.discard("usergroups:read")  # installed from an old manifest
    else:
        sim.fail_until_healed("usergroups.users.list", error=fault)
    refused(bot, MEMBER, f"Slack could not tell whether you are a member of the user group {GROUP}, which holds "
                         f"the role this needs (Slack answered {fault}), so it was refused")
    assert bot.mofh_passwd_calls() == []
    assert [r.actor_id for r in bot.workflow.admin.audit_trail() if r.action == "approve_refused"] == [MEMBER]
    approved_by(bot, APPROVER)  # a grant to a user needs no Slack call, broken or not
    sim.heal("usergroups.users.list")
    sim.scopes.add("usergroups:read")
    bot.request_mofh()
    approved_by(bot, MEMBER)  # Slack answers again: so does the group
    assert len(bot.mofh_passwd_calls()) == 2
