"""Grants to Slack user groups (issue 10 item 1): who holds what through a group, and what a Slack failure does.

The pure rules (bot/policy.py: roles_for, groups_to_ask) are table-driven, one row per case.
The workflow's use of them (bot/workflow/context.py: member_groups, asked on every click before
its transaction) runs on a real database with a fake `GroupMembers` port that records what it
was asked.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot import policy
from bot.domain import GroupsUnavailable, Method, NotAllowed, RequestView, RevealState, Role, RoleGrant, Status
from bot.sealing import Sealer, ephemeral_key
from bot.workflow import ResetWorkflow
from storage import repository as repo
from storage.db import make_engine, make_sessionmaker, migrate
from tests.unit.conftest import APPROVER, ENGINEER, OTHER, InlineExecutor, mofh_form

GROUP, LEADS = "S0APPROVERS", "S0LEADS001"
MEMBER = "U0MEMBER001"


def grant(subject: str, role: Role, provider: str | None = None) -> RoleGrant:
    return RoleGrant(subject, role, provider)


@pytest.mark.parametrize("grants, member_of, provider, expected", [
    pytest.param([grant(GROUP, Role.APPROVER)], {GROUP}, "mofh", {Role.APPROVER}, id="a member of the group"),
    pytest.param([grant(GROUP, Role.APPROVER)], set(), "mofh", set(), id="not a member of the group"),
    pytest.param([], {GROUP}, "mofh", set(), id="a member of a group whose grant was revoked"),
    pytest.param([grant(GROUP, Role.APPROVER, "mofh")], {GROUP}, "mofh", {Role.APPROVER},
                 id="group grant scoped to this provider"),
    pytest.param([grant(GROUP, Role.APPROVER, "mofh")], {GROUP}, "namecheap", set(),
                 id="group grant scoped to another provider"),
    pytest.param([grant(GROUP, Role.ADMIN)], {GROUP}, "mofh", {Role.ADMIN, Role.REQUESTER, Role.APPROVER},
                 id="an admin group implies the other roles"),
    pytest.param([grant(GROUP, Role.APPROVER), grant(LEADS, Role.REQUESTER)], {LEADS}, "mofh", {Role.REQUESTER},
                 id="only the groups the user is in count"),
    pytest.param([grant(MEMBER, Role.REQUESTER), grant(GROUP, Role.APPROVER)], set(), "mofh", {Role.REQUESTER},
                 id="own grant without the group"),
    pytest.param([grant(MEMBER, Role.REQUESTER), grant(GROUP, Role.APPROVER)], {GROUP}, "mofh",
                 {Role.REQUESTER, Role.APPROVER}, id="own grant and the group's add up"),
    pytest.param([grant("U0SOMEONE01", Role.APPROVER)], {"U0SOMEONE01"}, "mofh", set(),
                 id="a user id in member_of is not a group"),
])
def test_roles_through_groups(grants, member_of, provider, expected):
    assert policy.roles_for(MEMBER, provider, grants, admins=(), groups=member_of) == expected


@pytest.mark.parametrize("grants, admins, needed, provider, expected", [
    pytest.param([grant(MEMBER, Role.APPROVER), grant(GROUP, Role.APPROVER)], (), Role.APPROVER, "mofh", [],
                 id="own grant: Slack is never asked"),
    pytest.param([grant(GROUP, Role.APPROVER)], (MEMBER,), Role.APPROVER, "mofh", [],
                 id="RESETBOT_ADMINS: Slack is never asked"),
    pytest.param([grant(GROUP, Role.APPROVER)], (), Role.APPROVER, "mofh", [GROUP], id="the approver group"),
    pytest.param([grant(GROUP, Role.APPROVER)], (), Role.REQUESTER, "mofh", [],
                 id="an approver group is not asked about for requesting"),
    pytest.param([grant(GROUP, Role.APPROVER, "namecheap")], (), Role.APPROVER, "mofh", [],
                 id="a group scoped to another provider is not asked"),
    pytest.param([grant(LEADS, Role.ADMIN), grant(GROUP, Role.APPROVER, "mofh")], (), Role.APPROVER, "mofh",
                 [GROUP, LEADS], id="an admin group gives approver too"),
])
def test_which_groups_slack_is_asked_about(grants, admins, needed, provider, expected):
    assert policy.groups_to_ask(MEMBER, provider, needed, grants, admins) == expected


@pytest.mark.parametrize("group_role", [Role.APPROVER, Role.ADMIN])
@pytest.mark.parametrize("verb", ["approve", "deny"])
def test_the_requester_in_an_approver_group_still_never_decides_their_own_request(group_role, verb):
    now = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    request = RequestView(id="rr_1", provider="mofh", account="webq7k2m", account_input="webq7k2m",
                          method=Method.SET_PASSWORD, reason="Locked out of FTP.", ticket=None, requester_id=MEMBER,
                          origin_channel=None, status=Status.PENDING, created_at=now,
                          expires_at=now + timedelta(hours=1), reveal_state=RevealState.NONE)
    roles = policy.roles_for(MEMBER, "mofh", [grant(GROUP, group_role)], (), {GROUP})
    assert Role.APPROVER in roles  # the group makes them an approver, and still:
    decision = policy.can_decide(MEMBER, roles, request, now, verb, provider_label="MyOwnFreeHost")
    assert not decision.allowed and decision.reason.startswith("You asked for this reset")


# --- the workflow: member_groups on every click ------------------------------------------------------


class FakeGroups:
    """`GroupMembers` with set members; a group in `broken` raises as handlers/groups.py does on a Slack error."""

    def __init__(self, **members: list[str]) -> None:
        self.members_of = {group: frozenset(users) for group, users in members.items()}
        self.broken: set[str] = set()
        self.asked: list[str] = []

    def members(self, group_id: str) -> frozenset[str]:
        self.asked.append(group_id)
        if group_id in self.broken:
            raise GroupsUnavailable(group_id, "Slack answered ratelimited")
        return self.members_of.get(group_id, frozenset())


@pytest.fixture
def groups():
    return FakeGroups(**{GROUP: [OTHER]})


@pytest.fixture
def flow(engine, gateways, notifier, clock, groups):
    flow = ResetWorkflow(sessions=make_sessionmaker(engine), providers=gateways, sealer=Sealer(ephemeral_key()),
                         notifier=notifier, executor=InlineExecutor(), clock=clock, approval_ttl=3600,
                         reveal_ttl=900, db_clock=lambda session: clock(), group_members=groups)
    flow.admin.grant(ENGINEER, Role.REQUESTER, None, actor="test")
    flow.admin.grant(APPROVER, Role.APPROVER, None, actor="test")
    flow.admin.grant(GROUP, Role.APPROVER, "mofh", actor="cli:ops")
    return flow


def submit(flow, account: str = "webq7k2m", requester: str = ENGINEER) -> RequestView:
    request, _ = flow.intake.submit(mofh_form(account), requester_id=requester, source_view_id=None)
    return flow.intake.announce(request)


def test_a_member_of_an_approver_group_approves(flow, groups, gateways):
    request = submit(flow)
    decided = flow.decisions.approve(request.id, OTHER)
    assert decided.decided_by == OTHER and len(gateways["mofh"].calls) == 1
    assert groups.asked == [GROUP]


def test_grants_to_users_need_no_slack_call_even_when_slack_fails(flow, groups, gateways):
    groups.broken.add(GROUP)
    request = submit(flow)
    flow.decisions.approve(request.id, APPROVER)
    assert len(gateways["mofh"].calls) == 1
    assert groups.asked == []  # neither the request nor the approval asked Slack


def test_a_user_not_in_the_group_is_refused_as_without_the_role(flow, groups):
    request = submit(flow)
    with pytest.raises(NotAllowed, match="don't have the approver role for MyOwnFreeHost"):
        flow.decisions.approve(request.id, "U0STRANGER1")
    assert groups.asked == [GROUP]


def test_a_member_removed_from_the_group_is_refused_at_the_next_click(flow, groups):
    first, second = submit(flow, "webq7k2m"), submit(flow, "ab12")
    flow.decisions.deny(first.id, OTHER)
    groups.members_of[GROUP] = frozenset()
    with pytest.raises(NotAllowed, match="don't have the approver role"):
        flow.decisions.approve(second.id, OTHER)
    assert flow.lookups.get(second.id).status is Status.PENDING


def test_a_revoked_group_grant_counts_for_nobody(flow, groups):
    request = submit(flow)
    flow.admin.revoke(GROUP, Role.APPROVER, "mofh", actor="cli:ops")
    with pytest.raises(NotAllowed, match="don't have the approver role"):
        flow.decisions.approve(request.id, OTHER)
    assert groups.asked == []


def test_a_group_scoped_to_another_provider_does_not_approve_here(flow, groups, gateways):
    flow.admin.grant(LEADS, Role.APPROVER, "namecheap", actor="cli:ops")
    groups.members_of[LEADS] = frozenset({"U0LEAD00001"})
    request = submit(flow)
    with pytest.raises(NotAllowed, match="don't have the approver role for MyOwnFreeHost"):
        flow.decisions.approve(request.id, "U0LEAD00001")
    assert LEADS not in groups.asked and gateways["mofh"].calls == []


@pytest.mark.parametrize("verb", ["approve", "deny"])
def test_a_slack_error_refuses_the_click_with_a_sentence_and_never_decides(flow, groups, gateways, verb):
    request = submit(flow)
    groups.broken.add(GROUP)
    with pytest.raises(NotAllowed, match=r"Slack could not tell whether you are a member of the user group "
                                         r"S0APPROVERS.*\(Slack answered ratelimited\), so it was refused"):
        getattr(flow.decisions, verb)(request.id, OTHER)
    assert flow.lookups.get(request.id).status is Status.PENDING and gateways["mofh"].calls == []
    refused = [r for r in flow.admin.audit_trail() if r.action == f"{verb}_refused"]
    assert [(r.actor_id, r.request_id) for r in refused] == [(OTHER, request.id)]
    assert "Slack could not tell" in refused[0].detail["why"]
    groups.broken.clear()  # Slack answers again: the same click now works
    getattr(flow.decisions, verb)(request.id, OTHER)


def test_another_group_that_answers_still_gives_the_role_when_one_fails(flow, groups, gateways):
    flow.admin.grant(LEADS, Role.ADMIN, None, actor="cli:ops")
    groups.members_of[LEADS] = frozenset({OTHER})
    groups.broken.add(GROUP)
    request = submit(flow)
    flow.decisions.approve(request.id, OTHER)
    assert len(gateways["mofh"].calls) == 1 and sorted(groups.asked) == [GROUP, LEADS]


def test_the_requester_in_an_approver_group_is_refused_their_own_request(flow, groups):
    flow.admin.grant(GROUP, Role.REQUESTER, None, actor="cli:ops")
    request = submit(flow, requester=OTHER)
    assert request.requester_id == OTHER
    with pytest.raises(NotAllowed, match="You asked for this reset, so you can't approve it"):
        flow.decisions.approve(request.id, OTHER)


def test_requester_groups_request_reveal_and_confirm_and_are_rechecked_each_time(flow, groups, notifier):
    flow.admin.grant(GROUP, Role.REQUESTER, "mofh", actor="cli:ops")
    assert [p.name for p in flow.intake.requestable_providers(OTHER)] == ["mofh"]
    request = submit(flow, requester=OTHER)
    flow.decisions.approve(request.id, APPROVER)
    button = notifier.reveal_button(request.id)

    groups.broken.add(GROUP)
    with pytest.raises(NotAllowed, match="Slack could not tell"):
        flow.reveal.begin(button, OTHER)
    assert flow.lookups.get(request.id).reveal_state is RevealState.READY  # not used up
    groups.broken.clear()
    groups.members_of[GROUP] = frozenset()
    with pytest.raises(NotAllowed, match="no longer have the requester role"):
        flow.reveal.begin(button, OTHER)
    groups.members_of[GROUP] = frozenset({OTHER})
    _, secret = flow.reveal.begin(button, OTHER)
    assert len(secret) == 16
    flow.reveal.finish(button, OTHER)

    groups.members_of[GROUP] = frozenset()
    with pytest.raises(NotAllowed, match="no longer have the requester role"):
        flow.reveal.customer_informed(request.id, OTHER)
    groups.broken.add(GROUP)
    with pytest.raises(NotAllowed, match="Slack could not tell"):
        flow.reveal.customer_informed(request.id, OTHER)
    groups.broken.clear()
    groups.members_of[GROUP] = frozenset({OTHER})
    flow.reveal.customer_informed(request.id, OTHER)

    groups.broken.add(GROUP)
    with pytest.raises(NotAllowed, match="Slack could not tell"):
        submit(flow, "ab12", requester=OTHER)
    assert [r.action for r in flow.admin.audit_trail()].count("request_refused") == 1


def test_anyone_else_clicking_reveal_asks_slack_nothing(flow, groups, notifier):
    request = submit(flow)
    flow.decisions.approve(request.id, APPROVER)
    groups.broken.add(GROUP)
    with pytest.raises(NotAllowed, match="Only the engineer"):
        flow.reveal.begin(notifier.reveal_button(request.id), OTHER)
    assert groups.asked == []


def test_the_home_tab_counts_an_unknown_group_as_not_a_member(flow, groups):
    request = submit(flow)
    assert [r.id for r in flow.lookups.home_for(OTHER).waiting] == [request.id]
    groups.broken.add(GROUP)
    home = flow.lookups.home_for(OTHER)  # no refusal for what is only shown; every click checks again
    assert home.waiting == [] and home.roles["mofh"] == set()


def test_the_grants_read_for_a_click_are_the_users_own_and_every_groups(flow, engine):
    flow.admin.grant(LEADS, Role.REQUESTER, None, actor="cli:ops")
    flow.admin.grant("T0NOTAGROUP", Role.APPROVER, None, actor="cli:ops")  # after "S" in every collation
    flow.admin.grant("R0NOTAGROUP", Role.APPROVER, None, actor="cli:ops")  # before "S"
    with make_sessionmaker(engine).begin() as session:
        subjects = {grant.user_id for grant in repo.grants_for(session, APPROVER)}
    assert subjects == {APPROVER, GROUP, LEADS}


def test_on_sqlite_the_grants_read_searches_the_index_instead_of_reading_every_grant(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'plan.db'}")
    migrate(engine)
    statement = repo._GRANTS_FOR["sqlite"]
    with engine.connect() as connection:
        compiled = statement.compile(connection)
        params = compiled.construct_params({"user_id": "U0ANYONE"})
        plan = [row[-1] for row in connection.exec_driver_sql(
            f"EXPLAIN QUERY PLAN {compiled}", tuple(params[name] for name in compiled.positiontup or ()))]
    assert not any(step.startswith("SCAN role_assignments") for step in plan), plan
    assert any(step.startswith("SEARCH role_assignments USING") for step in plan), plan


REQUESTERS = "S0REQUESTRS"


def test_an_approval_after_the_requester_left_their_requester_group_withdraws_the_request(flow, groups, gateways):
    flow.admin.grant(REQUESTERS, Role.REQUESTER, None, actor="cli:ops")
    groups.members_of[REQUESTERS] = frozenset({MEMBER})
    request = submit(flow, requester=MEMBER)
    groups.members_of[REQUESTERS] = frozenset()
    with pytest.raises(NotAllowed, match=r"no longer has the requester role for MyOwnFreeHost.*nothing was sent"):
        flow.decisions.approve(request.id, APPROVER)
    assert flow.lookups.get(request.id).status is Status.WITHDRAWN and gateways["mofh"].calls == []
    assert [r.actor_id for r in flow.admin.audit_trail() if r.action == "withdrawn"] == [APPROVER]


def test_when_slack_cannot_tell_about_the_requesters_group_the_approval_is_refused_not_withdrawn(flow, groups,
                                                                                                  gateways):
    flow.admin.grant(REQUESTERS, Role.REQUESTER, None, actor="cli:ops")
    groups.members_of[REQUESTERS] = frozenset({MEMBER})
    request = submit(flow, requester=MEMBER)
    groups.broken.add(REQUESTERS)
    with pytest.raises(NotAllowed, match="Slack could not tell"):
        flow.decisions.approve(request.id, APPROVER)
    assert flow.lookups.get(request.id).status is Status.PENDING and gateways["mofh"].calls == []
    groups.broken.clear()
    flow.decisions.approve(request.id, APPROVER)
    assert len(gateways["mofh"].calls) == 1
