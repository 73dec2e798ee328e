"""Decisions: approvers approve or deny a pending request, and a late click expires it.

A request needs `approvals_needed` distinct approvers (the policy it was made under; the
requester never counts, nor one person twice). Each Approve is recorded (request_approvals)
with the request row locked (storage/repository.py: lock_request), so approvals, denials and
expiry on any replica happen one at a time; the approval that completes the quorum is, in the
same unit of work, the one compare-and-set PENDING → EXECUTING, with the new password already
sealed and a lease taken. It then hands the provider call to the execution use case in the
background (bot/workflow/execution.py), so only that one click ever changes a password. One
Deny by any approver ends the request, with the reason the approver typed, if any. An approval
counts only while the requester is still a requester for the provider: otherwise it ends the
request, withdrawn, with nothing sent. From a
request's escalation on, its `escalate_to` (that user, or the members of that user group) may
approve or deny it too, without the approver role (bot/workflow/reminders.py).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from bot import metrics, passwords, policy
from bot.domain import (
    Decision,
    InputErrors,
    MessageRef,
    NotAllowed,
    RefusalCode,
    RequestView,
    Role,
    Status,
)
from bot.forms import typed_text
from bot.workflow.context import PASSWORD, Context, audit_refusal, refusal
from bot.workflow.execution import Execution
from bot.workflow.requester_dm import update_requester_dm
from storage import repository as repo
from storage.db import transaction

MAX_DENY_REASON = 1000  # characters, after normalisation (bot/forms.py: typed_text), as the request's reason


class Decisions:
    def __init__(self, ctx: Context, execution: Execution) -> None:
        self.ctx = ctx
        self.execution = execution

    def approve(self, request_id: str, approver_id: str, seen_card: MessageRef | None = None) -> RequestView:
        """Record the approval; the one that completes the quorum starts the provider call in the background."""
        ctx = self.ctx
        started = False

        def record_approval(session: Any, request: RequestView, now: datetime) -> Decision:
            nonlocal started
            decision = policy.can_add_approval(approver_id, request)
            if not decision.allowed:
                return decision
            if not repo.add_approval(session, request.id, approver_id, now=now):  # the key: never twice
                return policy.can_add_approval(approver_id, ctx.get(session, request.id))
            counted = policy.counted_approvers([*request.approvers, approver_id], request.requester_id)
            if len(counted) >= request.approvals_needed:
                if not self._start_executing(session, request, approver_id, now):
                    # The row is locked: nothing else can have moved it since it was read.
                    raise RuntimeError(f"request {request.id} changed under its lock")
                started = True
            repo.add_audit(session, at=now, action="approved", actor_id=approver_id, request=request,
                           detail={"approvals": f"{len(counted)} of {request.approvals_needed}"})
            return Decision.allow()

        request = self._decide(request_id, approver_id, "approve", seen_card, record_approval)
        ctx.rewrite_card(request.id)  # under its lock: a racing approval's edit can never be overtaken by this one
        update_requester_dm(ctx, request)  # N of M, or the change under way
        if started:
            # Looked up at call time, so a test can stand in for the execution (tests/unit/test_workflow.py).
            ctx.background.run(self.execution.execute, request.id, ctx.replica_id)
        return request

    def _start_executing(self, session: Any, request: RequestView, approver_id: str, now: datetime) -> bool:
        """The compare-and-set PENDING → EXECUTING, with the new password sealed and stored first."""
        ctx = self.ctx
        gateway = ctx.providers.get(request.provider)
        if gateway is None:
            raise NotAllowed(f"{ctx.label(request.provider)} is no longer enabled on this bot.")
        sealed = None
        if request.method.sets_new_password:  # sealed and stored before the call: a crash can be resumed
            sealed = ctx.sealer.seal(passwords.generate(gateway.rules, account=request.account),
                                     request_id=request.id, purpose=PASSWORD)
        return repo.transition(
            session, request.id, from_status=Status.PENDING, to_status=Status.EXECUTING, now=now,
            decided_by=approver_id, decided_at=now, sealed_password=sealed,
            lease_owner=ctx.replica_id, lease_expires_at=now + ctx.lease, execution_attempts=1,
        )

    def deny(self, request_id: str, approver_id: str, seen_card: MessageRef | None = None, *,
             reason: str | None = None) -> RequestView:
        """End the request; the card, the requester and the audit trail get the reason, if one was typed."""
        request = self.record_deny(request_id, approver_id, seen_card, reason=reason)
        self.announce_end(request)
        return request

    def record_deny(self, request_id: str, approver_id: str, seen_card: MessageRef | None = None, *,
                    reason: str | None = None) -> RequestView:
        """`deny` without telling anyone yet (a modal's submission is acked first; then `announce_end`).

        Raises InputErrors (field "reason") for a reason too long, NotAllowed for a refusal.
        """
        typed = typed_text(reason) or None  # stored as the request's reason is (bot/workflow/intake.py)
        if typed is not None and len(typed) > MAX_DENY_REASON:
            raise InputErrors({"reason": f"Keep the reason under {MAX_DENY_REASON} characters."})

        def end_denied(session: Any, request: RequestView, now: datetime) -> Decision:
            if not repo.transition(session, request.id, from_status=Status.PENDING, to_status=Status.DENIED,
                                   now=now, decided_by=approver_id, decided_at=now, sealed_input=None,
                                   outcome_message="Denied by an approver.", deny_reason=typed):
                raise RuntimeError(f"request {request.id} changed under its lock")
            detail: dict[str, Any] = {"reason": typed}
            if request.approvals_needed > 1:
                detail["approvals"] = f"{policy.approval_count(request)} of {request.approvals_needed}"
            repo.add_audit(session, at=now, action="denied", actor_id=approver_id, request=request, detail=detail)
            return Decision.allow()

        return self._decide(request_id, approver_id, "deny", seen_card, end_denied)

    def announce_end(self, request: RequestView) -> None:
        """Tell the card and the requester that the request ended (after `record_deny`)."""
        self.ctx.notify_final(request)

    def check_deny(self, request_id: str, approver_id: str, seen_card: MessageRef | None = None) -> RequestView:
        """Whether this person may deny the request now (before the Deny modal opens): the request,
        or NotAllowed with the sentence a denial would get, audited the same way. Changes nothing
        about the request but this: a late click expires it, and a click on its card records the card."""
        return self._decide(request_id, approver_id, "deny", seen_card, None)

    def _decide(self, request_id: str, approver_id: str, verb: str, seen_card: MessageRef | None,
                act: Callable[[Any, RequestView, datetime], Decision] | None) -> RequestView:
        """Policy check, then `act` with the request locked (None: the check only); refusals and expiry are
        audited and told."""
        ctx = self.ctx
        ended, repeated = None, False
        # An approval counts only while the requester is still a requester for the provider: else it ends
        # the request, withdrawn, with nothing sent (CONTRACT.md "Rules that always hold").
        approving = verb == "approve" and act is not None
        # The escalation's group members (its escalate_to may decide from escalate_at on), then the approver
        # groups', asked of Slack before the transaction; a group it cannot tell about refuses.
        with transaction(ctx.sessions) as session:  # one read for the questions asked of Slack below
            seen = repo.get_request(session, request_id) if isinstance(request_id, str) else None
            grants = repo.grants_for(session, approver_id)
            requester_grants = repo.grants_for(session, seen.requester_id) if approving and seen else []
            seen_at = ctx.db_now(session)
        target_members, unknown, reached = ctx.escalation_members(seen, seen_at, approver_id)
        groups, grants = ctx.member_groups_and_grants(approver_id, Role.APPROVER, request_id=request_id,
                                                      refused_as=f"{verb}_refused", strict=not reached,
                                                      read=(seen, grants))
        requester_groups, requester_unknown = (
            ctx.groups_holding(seen.requester_id, Role.REQUESTER, [seen.provider], requester_grants)
            if approving and seen else (frozenset(), None))
        # An approval may seal the new password and start the change: its commit is on disk before the
        # provider is called (docs/CONTRACT.md "Rules that always hold"; storage/db.py: transaction).
        with transaction(ctx.sessions, durable=verb == "approve" and act is not None) as session:
            # The lock first: on SQLite it is the first write, which waits for any other writer (storage/repository.py).
            locked = repo.lock_request(session, request_id) if act is not None and isinstance(request_id, str) else None
            now = ctx.db_now(session)  # expiry and the lease are on the database's clock (context.py)
            request = locked or ctx.get(session, request_id)
            roles = ctx.roles(approver_id, request.provider, grants, groups)  # the grants of this click's read
            escalated = policy.escalation_reaches(approver_id, request, now, target_members)
            decision = policy.can_decide(approver_id, roles, request, now, verb,
                                         provider_label=ctx.label(request.provider), escalated=escalated)
            if not decision.allowed and unknown is not None and Role.APPROVER not in roles \
                    and approver_id != request.requester_id:
                # Slack could not say whether the escalation reaches them
                decision = Decision.deny(str(unknown), RefusalCode.GROUPS_UNAVAILABLE)
            if decision.allowed and approving and seen is not None and seen.requester_id == request.requester_id \
                    and Role.REQUESTER not in ctx.roles(request.requester_id, request.provider, requester_grants,
                                                        requester_groups):
                gone = policy.requester_gone(ctx.label(request.provider))
                decision = (Decision.deny(str(requester_unknown), RefusalCode.GROUPS_UNAVAILABLE)
                            if requester_unknown is not None else Decision.deny(gone, RefusalCode.REQUESTER_GONE))
                if requester_unknown is None:  # the requester is not a requester now: the request ends here
                    _adopt_card(session, request, seen_card)
                    ended = _withdraw(session, request, approver_id, now)
            if decision.allowed:
                _adopt_card(session, request, seen_card)
                if act is not None:
                    decision = act(session, request, now)
                request = ctx.get(session, request.id)
            elif ended is None:
                ended = expire_if_due(session, request, now)
            if not decision.allowed:
                repeated = audit_refusal(session, now=now, action=f"{verb}_refused", actor_id=approver_id,
                                         request=request, why=decision.reason, code=decision.code)
        if ended is not None:  # expired by this late click, or withdrawn
            ctx.notify_final(ended)
        if not decision.allowed:
            raise refusal(decision.reason, repeated)
        if act is not None:
            metrics.DECISIONS.labels(request.provider, verb).inc()
        return request



def _adopt_card(session: Any, request: RequestView, seen_card: MessageRef | None) -> None:
    """A card posted before cards were stored first and armed after (bot/workflow/intake.py:
    post_approval_card) may be clicked before its place is stored. `seen_card` is the clicked
    message only when the transport checked that it is this request's card (its buttons' block
    names the request: handlers/actions.py); it is kept only while no card is stored, so a
    click elsewhere can never point the request at another request's card."""
    if request.card is None and seen_card is not None:
        repo.adopt_card(session, request.id, seen_card)


def _withdraw(session: Any, request: RequestView, approver_id: str, now: datetime) -> RequestView:
    """PENDING → WITHDRAWN: an approval found the requester no longer a requester. Nothing is sent; the typed
    secret is destroyed, as at every end."""
    if not repo.transition(session, request.id, from_status=Status.PENDING, to_status=Status.WITHDRAWN, now=now,
                           decided_by=approver_id, decided_at=now, sealed_input=None,
                           outcome_message="Withdrawn: the requester no longer has the requester role."):
        raise RuntimeError(f"request {request.id} changed under its lock")
    withdrawn = repo.get_request(session, request.id)
    if withdrawn is None:  # the row is locked: it cannot have gone
        raise RuntimeError(f"request {request.id} vanished under its lock")
    repo.add_audit(session, at=now, action="withdrawn", actor_id=approver_id, request=withdrawn,
                   detail={"why": "the requester no longer has the requester role"})
    return withdrawn


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
    metrics.EXPIRIES.labels(request.provider, "request").inc()
    return expired
