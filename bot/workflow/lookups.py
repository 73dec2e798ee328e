"""Lookups for the transports: App Home data, one request, database health, open counts, and event dedupe.

Each is one short unit of work; none changes a request. The App Home's viewers are remembered
(`remember_home_viewer`), so that a change can republish the tabs of those who opened theirs
recently and may see it (`home_viewers_for_request`, `home_viewers_for_policy`), whichever replica
made the change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from bot import policy
from bot.domain import ProviderName, RequestView, Role, Status
from bot.policy import ApprovalPolicy, PolicyProposal
from bot.workflow.context import Context
from bot.workflow.policies import effective_policy
from storage import repository as repo
from storage.db import transaction

# Whose tab is republished when something they see changes: those who opened it this recently. An older
# tab is republished when it is next opened (handlers/home.py: handle_app_home_opened).
HOME_RECENT = timedelta(hours=1)
# Approvers see only pending requests: a change from executing to its outcome is the requester's alone.
SEEN_BY_REQUESTER_ONLY = frozenset({Status.SUCCEEDED, Status.FAILED, Status.UNKNOWN})


@dataclass
class HomeData:
    requests: list[RequestView] = field(default_factory=list)
    waiting: list[RequestView] = field(default_factory=list)
    roles: dict[str, set[Role]] = field(default_factory=dict)
    # The policies of the enabled providers this person is an admin for, and the changes waiting for a second admin.
    policies: dict[ProviderName, ApprovalPolicy] = field(default_factory=dict)
    proposals: dict[ProviderName, list[PolicyProposal]] = field(default_factory=dict)


class Lookups:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def home_for(self, user_id: str) -> HomeData:
        ctx = self.ctx
        # What the Home tab shows only: a group Slack cannot tell about counts as not a member, and every click
        # checks again (context.py: member_groups).
        groups = {needed: ctx.member_groups(user_id, needed, ctx.enabled_providers(), strict=False)
                  for needed in (Role.REQUESTER, Role.APPROVER, Role.ADMIN)}
        with transaction(ctx.sessions) as session:
            grants = repo.grants_for(session, user_id)
            member_of = groups[Role.REQUESTER] | groups[Role.APPROVER] | groups[Role.ADMIN]
            roles = {p: ctx.roles(user_id, p, grants, member_of) for p in ctx.enabled_providers()}
            approvable = [p for p, r in roles.items() if Role.APPROVER in r]
            # What waits for this person's approval: not their own request, nor one they already approved.
            waiting = [r for r in repo.pending_requests(session, approvable)
                       if r.requester_id != user_id and user_id not in r.approvers]
            now = ctx.db_now(session)
            # And what was escalated to them (a user, or a user group Slack is asked about below, after this
            # unit of work): they may decide it without the approver role (bot/policy.py: escalation_reaches).
            escalated = [r for r in repo.pending_requests(session, ctx.enabled_providers(), escalated_by=now)
                         if r.provider not in approvable and r.requester_id != user_id and user_id not in r.approvers]
            administered = [p for p, r in roles.items() if Role.ADMIN in r]
            home = HomeData(requests=repo.requests_of(session, user_id), waiting=waiting, roles=roles,
                            policies={p: effective_policy(session, ctx, p) for p in administered},
                            proposals={p: repo.pending_policy_proposals(session, p) for p in administered})
        # [2]: whether the escalation reaches them (Slack asked here, outside the unit of work).
        reached = [r for r in escalated if ctx.escalation_members(r, now, user_id)[2]]
        if reached:
            home.waiting = sorted([*waiting, *reached], key=lambda r: r.created_at)
        return home

    def remember_home_viewer(self, user_id: str) -> None:
        """`user_id` opened the App Home now: their tab is republished when what it shows changes, for a while."""
        with transaction(self.ctx.sessions) as session:
            repo.remember_home_viewer(session, user_id, self.ctx.db_now(session))

    def home_viewers_for_request(self, request: RequestView) -> list[str]:
        """The recent viewers whose tab shows `request`: its requester ("Your recent requests"), and while it
        waits or has just stopped waiting, whoever may approve it ("Waiting for your approval").

        Who may approve is judged by stored grants and RESETBOT_ADMINS; where a user group's grant could make
        a viewer an approver, the viewer counts (Slack is not asked here: publishing the tab asks it).
        """
        ctx = self.ctx
        with transaction(ctx.sessions) as session:
            now = ctx.db_now(session)
            viewers = repo.home_viewers_since(session, now - HOME_RECENT)
            if request.status in SEEN_BY_REQUESTER_ONLY:
                return [v for v in viewers if v == request.requester_id]
            return [v for v in viewers if v == request.requester_id
                    or self._may_hold(session, v, request.provider, Role.APPROVER)
                    # Escalated to them, or to a user group they may be in (publishing the tab asks Slack).
                    or policy.escalation_reaches(v, request, now, target_members={v})]

    def home_viewers_for_policy(self, provider: ProviderName) -> list[str]:
        """The recent viewers whose tab shows the provider's policy: its admins."""
        ctx = self.ctx
        with transaction(ctx.sessions) as session:
            viewers = repo.home_viewers_since(session, ctx.db_now(session) - HOME_RECENT)
            return [v for v in viewers if self._may_hold(session, v, provider, Role.ADMIN)]

    def _may_hold(self, session, user_id: str, provider: ProviderName, role: Role) -> bool:
        grants = repo.grants_for(session, user_id)
        return (role in self.ctx.roles(user_id, provider, grants)
                or bool(policy.groups_to_ask(user_id, provider, role, grants, self.ctx.admins)))

    def watched_groups(self) -> frozenset[str]:
        """The user groups whose members the bot may need: those holding a grant or an escalation's target
        (handlers/groups.py asks Slack about no other)."""
        with transaction(self.ctx.sessions) as session:
            return repo.watched_groups(session)

    def get(self, request_id: str) -> RequestView:
        with transaction(self.ctx.sessions) as session:
            return self.ctx.get(session, request_id)

    def ping(self) -> bool:
        """True when the database answers (GET /healthz)."""
        try:
            with transaction(self.ctx.sessions) as session:
                repo.ping(session)
            return True
        except Exception:  # any failure means "not healthy"; the reason is in the database's own logs
            return False

    def open_counts(self) -> dict[tuple[str, str], int]:
        """(provider, status) → requests pending or executing, read from the database (GET /metrics)."""
        with transaction(self.ctx.sessions) as session:
            return repo.open_request_counts(session)

    def first_sighting(self, event_id: str) -> bool:
        """True the first time any replica sees this Events API event id."""
        with transaction(self.ctx.sessions) as session:
            return repo.first_sighting(session, event_id, self.ctx.clock())
