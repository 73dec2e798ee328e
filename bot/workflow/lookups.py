"""Lookups for the transports: App Home data, one request, database health, open counts, and event dedupe.

Each is one short unit of work; none changes a request.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.domain import RequestView, Role
from bot.workflow.context import Context
from storage import repository as repo
from storage.db import transaction


@dataclass
class HomeData:
    requests: list[RequestView] = field(default_factory=list)
    waiting: list[RequestView] = field(default_factory=list)
    roles: dict[str, set[Role]] = field(default_factory=dict)


class Lookups:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def home_for(self, user_id: str) -> HomeData:
        ctx = self.ctx
        # What the Home tab shows only: a group Slack cannot tell about counts as not a member, and every click
        # checks again (context.py: member_groups).
        groups = {needed: ctx.member_groups(user_id, needed, ctx.enabled_providers(), strict=False)
                  for needed in (Role.REQUESTER, Role.APPROVER)}
        with transaction(ctx.sessions) as session:
            grants = repo.grants_for(session, user_id)
            roles = {p: ctx.roles(user_id, p, grants, groups[Role.REQUESTER] | groups[Role.APPROVER])
                     for p in ctx.enabled_providers()}
            approvable = [p for p, r in roles.items() if Role.APPROVER in r]
            # What waits for this person's approval: not their own request, nor one they already approved.
            waiting = [r for r in repo.pending_requests(session, approvable)
                       if r.requester_id != user_id and user_id not in r.approvers]
            return HomeData(requests=repo.requests_of(session, user_id), waiting=waiting, roles=roles)

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
