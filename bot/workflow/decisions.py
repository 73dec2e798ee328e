"""Decisions: an approver approves or denies a pending request, and a late click expires it.

Approval wins the compare-and-set PENDING → EXECUTING with the new password already sealed
and a lease taken, then hands the provider call to the execution use case in the background
(bot/workflow/execution.py), so only the one winning click ever changes a password.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from bot import passwords, policy
from bot.domain import Decision, MessageRef, NotAllowed, RequestView, Role, Status
from bot.workflow.context import PASSWORD, Context, audit_refusal, refusal
from bot.workflow.execution import Execution
from storage import repository as repo
from storage.db import transaction


class Decisions:
    def __init__(self, ctx: Context, execution: Execution) -> None:
        self.ctx = ctx
        self.execution = execution

    def approve(self, request_id: str, approver_id: str, seen_card: MessageRef | None = None) -> RequestView:
        """Win the compare-and-set PENDING → EXECUTING, then run the provider call in the background."""
        ctx = self.ctx

        def start_executing(session: Any, request: RequestView, now: datetime) -> bool:
            gateway = ctx.providers.get(request.provider)
            if gateway is None:
                raise NotAllowed(f"{ctx.label(request.provider)} is no longer enabled on this bot.")
            sealed = None
            if request.method.sets_new_password:  # sealed and stored before the call: a crash can be resumed
                sealed = ctx.sealer.seal(passwords.generate(gateway.rules), request_id=request.id, purpose=PASSWORD)
            return repo.transition(
                session, request.id, from_status=Status.PENDING, to_status=Status.EXECUTING, now=now,
                decided_by=approver_id, decided_at=now, sealed_password=sealed,
                lease_owner=ctx.replica_id, lease_expires_at=now + ctx.lease, execution_attempts=1,
            )

        request = self._decide(request_id, approver_id, "approve", "approved", seen_card, start_executing)
        ctx.notifier.update_card(request)
        # Looked up at call time, so a test can stand in for the execution (tests/unit/test_workflow.py).
        ctx.background.run(self.execution.execute, request.id, ctx.replica_id)
        return request

    def deny(self, request_id: str, approver_id: str, seen_card: MessageRef | None = None) -> RequestView:
        def end_denied(session: Any, request: RequestView, now: datetime) -> bool:
            return repo.transition(session, request.id, from_status=Status.PENDING, to_status=Status.DENIED,
                                   now=now, decided_by=approver_id, decided_at=now, sealed_input=None,
                                   outcome_message="Denied by an approver.")

        request = self._decide(request_id, approver_id, "deny", "denied", seen_card, end_denied)
        self.ctx.notify_final(request)
        return request

    def _decide(self, request_id: str, approver_id: str, verb: str, done: str, seen_card: MessageRef | None,
                move: Callable[[Any, RequestView, datetime], bool]) -> RequestView:
        """Policy check, then `move` (a compare-and-set); refusals and expiry are audited and told."""
        ctx = self.ctx
        expired, repeated = None, False
        # Approver groups' members, asked of Slack before the transaction; a group it cannot tell about refuses.
        groups = ctx.member_groups(approver_id, Role.APPROVER, request_id=request_id, refused_as=f"{verb}_refused")
        with transaction(ctx.sessions) as session:
            now = ctx.db_now(session)  # expiry and the lease are on the database's clock (context.py)
            request = ctx.get(session, request_id)
            roles = ctx.roles(approver_id, request.provider, repo.grants_for(session, approver_id), groups)
            decision = policy.can_decide(approver_id, roles, request, now, verb,
                                         provider_label=ctx.label(request.provider))
            if decision.allowed:
                _adopt_card(session, request, seen_card)
                if move(session, request, now):
                    request = ctx.get(session, request.id)
                    repo.add_audit(session, at=now, action=done, actor_id=approver_id, request=request)
                else:  # another click, approver or replica won the compare-and-set
                    decision = Decision.deny(policy.already_decided(ctx.get(session, request.id)))
            else:
                expired = expire_if_due(session, request, now)
            if not decision.allowed:
                repeated = audit_refusal(session, now=now, action=f"{verb}_refused", actor_id=approver_id,
                                         request=request, why=decision.reason)
        if expired is not None:
            ctx.notify_final(expired)
        if not decision.allowed:
            raise refusal(decision.reason, repeated)
        return request


def _adopt_card(session: Any, request: RequestView, seen_card: MessageRef | None) -> None:
    """A card posted before cards were stored first and armed after (bot/workflow/intake.py:
    post_approval_card) may be clicked before its place is stored. `seen_card` is the clicked
    message only when the transport checked that it is this request's card (its buttons' block
    names the request: handlers/actions.py); it is kept only while no card is stored, so a
    click elsewhere can never point the request at another request's card."""
    if request.card is None and seen_card is not None:
        repo.adopt_card(session, request.id, seen_card)


def expire_if_due(session: Any, request: RequestView, now: datetime) -> RequestView | None:
    """PENDING → EXPIRED once nobody approved in time (a late click here, or the sweep)."""
    if request.status is not Status.PENDING or now < request.expires_at:
        return None
    if not repo.transition(session, request.id, from_status=Status.PENDING, to_status=Status.EXPIRED, now=now,
                           sealed_input=None,
                           outcome_message="Expired: nobody approved it in time. Ask again if it is still needed."):
        return None
    expired = repo.get_request(session, request.id)
    repo.add_audit(session, at=now, action="expired", request=expired)
    return expired
