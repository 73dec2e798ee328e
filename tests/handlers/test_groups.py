"""Grants to user groups through app.dispatch: usergroups.users.list at the click, its 60 s cache, the
subteam_members_changed event, and a Slack error refusing the click privately (handlers/groups.py)."""

from __future__ import annotations

import pytest

from bot.domain import GroupsUnavailable, Role, Status
from tests.handlers.conftest import ACTION_URL, TEAM, button_click

GROUP, MEMBER, MEMBER2 = "S0APPROVERS", "U0MEMBER001", "U0MEMBER002"


def members_changed(group: str = GROUP, added=(), removed=(), event_id: str = "Ev0GROUP0001") -> dict:
    return {"token": "x", "team_id": TEAM, "api_app_id": "A0RESETBOT", "type": "event_callback",
            "event": {"type": "subteam_members_changed", "subteam_id": group, "team_id": TEAM,
                      "date_previous_update": 1767225700, "date_update": 1767225800,
                      "added_users": list(added), "added_users_count": str(len(added)),
                      "removed_users": list(removed), "removed_users_count": str(len(removed)),
                      "event_ts": "1767225800.000200"},
            "event_id": event_id, "event_time": 1767225800,
            "authorizations": [{"team_id": TEAM, "user_id": "U0RESETBOT", "is_bot": True}]}


@pytest.fixture
def grouped(slack):
    slack.workflow.admin.grant(GROUP, Role.APPROVER, None, actor="cli:ops")
    slack.client.usergroups[GROUP] = [MEMBER, MEMBER2]
    return slack


def approve(slack, user: str, request) -> None:
    slack.dispatch(button_click(user, "approve_reset", request.id, message_ts=request.card.ts))


def lists(slack) -> list[str]:
    """The groups usergroups.users.list was asked about, in order."""
    return [args["usergroup"] for args in slack.client.to("usergroups.users.list")]


def test_a_group_member_approves_and_the_answer_is_kept_for_60_seconds(grouped):
    first, second, third = (grouped.pending_request(a) for a in ("webq7k2m", "ab12", "cd34"))
    approve(grouped, MEMBER, first)
    assert grouped.workflow.lookups.get(first.id).status is Status.SUCCEEDED
    assert lists(grouped) == [GROUP]
    grouped.clock.advance(59)
    approve(grouped, MEMBER2, second)  # the same answer, 59 s old: Slack is not asked again
    assert grouped.workflow.lookups.get(second.id).status is Status.SUCCEEDED and len(lists(grouped)) == 1
    grouped.clock.advance(2)
    grouped.client.usergroups[GROUP] = [MEMBER2]  # removed, and this app does not get the event
    approve(grouped, MEMBER, third)
    assert len(lists(grouped)) == 2 and grouped.workflow.lookups.get(third.id).status is Status.PENDING
    assert any("don't have the approver role" in t for t in grouped.private_texts(MEMBER))


def test_subteam_members_changed_refreshes_the_group_at_once(grouped):
    first, second = grouped.pending_request("webq7k2m"), grouped.pending_request("ab12")
    approve(grouped, MEMBER, first)
    assert len(lists(grouped)) == 1
    grouped.clock.advance(10)  # an event refreshes a group asked about at least 10 s before
    grouped.client.usergroups[GROUP] = [MEMBER2]
    response = grouped.dispatch(members_changed(removed=[MEMBER]))
    assert response.status == 200
    assert len(lists(grouped)) == 2  # asked again when the event came, not at the next click
    assert grouped.groups.members(GROUP) == frozenset({MEMBER2})
    approve(grouped, MEMBER, second)  # seconds later, well within the 60 s
    assert grouped.workflow.lookups.get(second.id).status is Status.PENDING
    assert any("don't have the approver role for MyOwnFreeHost" in t for t in grouped.private_texts(MEMBER))
    approve(grouped, MEMBER2, second)
    assert grouped.workflow.lookups.get(second.id).status is Status.SUCCEEDED
    assert len(lists(grouped)) == 2


def test_an_event_whose_refresh_fails_leaves_nothing_cached(grouped):
    request = grouped.pending_request()
    grouped.groups.members(GROUP)
    grouped.clock.advance(10)
    grouped.client.fail_next("usergroups.users.list", "ratelimited")
    grouped.dispatch(members_changed(added=[MEMBER]))
    assert len(lists(grouped)) == 2
    approve(grouped, MEMBER, request)  # asked again: Slack answers now
    assert len(lists(grouped)) == 3 and grouped.workflow.lookups.get(request.id).status is Status.SUCCEEDED


@pytest.mark.parametrize("group", ["U0NOTAGROUP", "S" + "X" * 40, None])
def test_an_event_without_a_usable_group_asks_nothing(grouped, group):
    body = members_changed()
    body["event"]["subteam_id"] = group
    assert grouped.dispatch(body).status == 200
    assert lists(grouped) == []


@pytest.mark.parametrize("error", ["missing_scope", "plan_upgrade_required", "no_such_subteam"])
def test_a_slack_error_while_resolving_the_group_refuses_the_click_privately(grouped, error):
    request = grouped.pending_request()
    grouped.client.fail_next("usergroups.users.list", error)
    grouped.client.clear()
    response = grouped.dispatch(button_click(MEMBER, "approve_reset", request.id, message_ts=request.card.ts))
    assert (response.status, response.body) == (200, "")
    assert grouped.workflow.lookups.get(request.id).status is Status.PENDING
    assert grouped.gateways["mofh"].calls == []
    told = grouped.private_texts(MEMBER)
    assert told == [f"Slack could not tell whether you are a member of the user group {GROUP}, which holds the "
                    f"role this needs (Slack answered {error}), so it was refused: group members are checked at "
                    "every click. Try again in a minute; if it keeps failing, ask an admin."]
    assert [url for url, _ in grouped.webhooks.sent] == [ACTION_URL]  # by the click's response_url: only to them
    assert [c for c in grouped.client.methods() if c.startswith("chat.")] == []  # the card is left as it was


def test_a_connection_failure_is_unknown_never_a_member(grouped, monkeypatch):
    def unreachable(**_):
        raise ConnectionRefusedError("slack is unreachable")

    monkeypatch.setattr(grouped.client, "usergroups_users_list", unreachable)
    with pytest.raises(GroupsUnavailable, match=r"\(Slack did not answer: ConnectionRefusedError\)"):
        grouped.groups.members(GROUP)
    request = grouped.pending_request()
    approve(grouped, MEMBER, request)
    assert grouped.workflow.lookups.get(request.id).status is Status.PENDING
    assert any("Slack could not tell" in t for t in grouped.private_texts(MEMBER))


# --- issue 20 item 8: membership events cost a call only for groups that matter, once per 10 s --------------


def test_an_event_for_a_group_that_holds_no_grant_asks_slack_nothing(grouped):
    for n in range(30):  # anyone may toggle the members of their own group, as often as they like
        assert grouped.dispatch(members_changed("S0SOMEGROUP", added=[MEMBER], event_id=f"Ev0OTHER{n:04d}")).status \
            == 200
    assert lists(grouped) == []


def test_a_flood_of_events_for_a_granted_group_asks_once_per_10_seconds(grouped):
    for n in range(50):
        grouped.dispatch(members_changed(added=[MEMBER], event_id=f"Ev0FLOOD{n:04d}"))
        if n % 10 == 9:
            grouped.clock.advance(1)
    assert lists(grouped) == [GROUP]  # 50 events over 5 s: one call
    grouped.clock.advance(5)
    grouped.dispatch(members_changed(added=[MEMBER], event_id="Ev0FLOOD9999"))
    assert lists(grouped) == [GROUP, GROUP]


def test_a_change_inside_the_10_seconds_is_asked_about_at_the_first_click_after_them(grouped):
    first, second = grouped.pending_request("webq7k2m"), grouped.pending_request("ab12")
    approve(grouped, MEMBER, first)
    grouped.client.usergroups[GROUP] = [MEMBER2]
    grouped.dispatch(members_changed(removed=[MEMBER]))
    assert len(lists(grouped)) == 1  # asked moments ago: not again yet
    grouped.clock.advance(10)
    approve(grouped, MEMBER, second)
    assert len(lists(grouped)) == 2 and grouped.workflow.lookups.get(second.id).status is Status.PENDING
    assert any("don't have the approver role" in t for t in grouped.private_texts(MEMBER))


def test_an_escalation_target_group_is_followed_without_a_grant(slack):
    slack.workflow.policies.set("mofh", {"escalate_after": 60, "escalate_to": "S0ONCALL01"}, actor="cli:ops")
    slack.client.usergroups["S0ONCALL01"] = [MEMBER]
    slack.dispatch(members_changed("S0ONCALL01", added=[MEMBER]))
    assert lists(slack) == ["S0ONCALL01"]
