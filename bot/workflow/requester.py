"""What the requester may do from their DM while the request waits: Cancel request and Remind approvers.

Only the requester, still holding the requester role for the provider (re-checked at every
click, user groups included), and only while the request is pending. Cancel is the
compare-and-set PENDING → CANCELLED with the request row locked, as approvals and denials are
(bot/workflow/decisions.py), so a click after a decision is refused with a sentence; the card
and the DM are rewritten. Remind approvers posts the reminder the policy's remind_after posts
(bot/workflow/reminders.py), at most once per REMIND_INTERVAL per request on the database's
clock: the click claims the slot first, and gives it back when Slack refused the post.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from bot import policy
from bot.domain import Decision, NotAllowed, RefusalCode, RequestView, Status
from bot.workflow.context import Context, audit_refusal, refusal
from bot.workflow.decisions import expire_if_due
from bot.workflow.reminders import REQUESTER_REMINDER, approver_mentions
from bot.workflow.requester_dm import update_requester_dm
from bot.workflow.reveal import requester_groups
from storage import repository as repo
from storage.db import transaction

REMIND_INTERVAL = timedelta(minutes=policy.REMIND_INTERVAL_MINUTES)
EXPIRED = "This request expired before anyone approved it. Ask again if it is still needed."


class RequesterActions:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def cancel(self, request_id: str, user_id: str) -> RequestView:
        """End a waiting request at its requester's word: the card, the DM and the audit trail say so."""
        ctx = self.ctx
        with transaction(ctx.sessions) as session:
            clicked = ctx.get(session, request_id)
        groups = requester_groups(ctx, user_id, clicked, "cancel_refused")
        cancelled = None
        with transaction(ctx.sessions) as session:
            # Locked: approvals, denials and expiry wait for it (decisions.py).
            now, request, decision, expired = self._check(session, request_id, user_id, groups, "cancel this request")
            if decision.allowed:
                if not repo.transition(session, request.id, from_status=Status.PENDING, to_status=Status.CANCELLED,
                                       now=now, decided_by=user_id, decided_at=now, sealed_input=None,
                                       outcome_message="Cancelled by the requester."):
                    raise RuntimeError(f"request {request.id} changed under its lock")
                cancelled = ctx.get(session, request.id)
                repo.add_audit(session, at=now, action="cancelled", actor_id=user_id, request=cancelled,
                               detail={"approvals": f"{policy.approval_count(request)} of {request.approvals_needed}"})
                repeated = False
            else:
                repeated = audit_refusal(session, now=now, action="cancel_refused", actor_id=user_id, request=request,
                                         why=decision.reason, code=decision.code)
        if expired is not None:
            ctx.notify_final(expired)
        if cancelled is None:
            raise refusal(decision.reason, repeated)
        ctx.notify_final(cancelled)
        return cancelled

    def remind(self, request_id: str, user_id: str) -> RequestView:
        """Post the reminder in the card's thread now, at most once per REMIND_INTERVAL; the DM says when."""
        ctx = self.ctx
        with transaction(ctx.sessions) as session:
            clicked = ctx.get(session, request_id)
        groups = requester_groups(ctx, user_id, clicked, "remind_refused")
        with transaction(ctx.sessions) as session:
            # Locked: one click at a time decides the 10 minutes.
            now, request, decision, expired = self._check(session, request_id, user_id, groups, "remind the approvers")
            if decision.allowed and request.card is None:
                decision = Decision.deny("The approval card is not posted yet, so there is no thread to remind the "
                                         "approvers in. Try again in a minute.", RefusalCode.NOT_POSTED)
            elif decision.allowed and not repo.claim_requester_reminder(session, request.id, now=now,
                                                                        since=now - REMIND_INTERVAL):
                decision = Decision.deny(_too_soon(ctx.get(session, request.id).requester_reminded_at, now),
                                         RefusalCode.TOO_SOON)
            repeated = False
            if not decision.allowed:
                repeated = audit_refusal(session, now=now, action="remind_refused", actor_id=user_id, request=request,
                                         why=decision.reason, code=decision.code)
            else:
                mentions = approver_mentions(ctx, session, request)
        if expired is not None:
            ctx.notify_final(expired)
        if not decision.allowed:
            raise refusal(decision.reason, repeated)
        message = ctx.notifier.post_thread_reply(request, REQUESTER_REMINDER, mentions)
        with transaction(ctx.sessions) as session:
            if message is None:
                repo.release_requester_reminder(session, request.id, claimed_at=now,
                                                previous=request.requester_reminded_at)
            else:
                repo.add_audit(session, at=now, action="reminded", actor_id=user_id, request=request,
                               detail={"mentions": mentions, "thread_ts": message.ts, "by": "requester"})
            current = ctx.get(session, request.id)
        if message is None:
            raise NotAllowed("Slack did not post the reminder, so the approvers were not reminded. Try again in a "
                             "minute.")
        update_requester_dm(ctx, current)
        return current


    def _check(self, session: Any, request_id: str, user_id: str, groups: frozenset[str],
               what: str) -> tuple[datetime, RequestView, Decision, RequestView | None]:
        """Lock the request and decide whether its requester may `what` now: (now, the request, the decision,
        the request as expired when it was due and this click expired it)."""
        ctx = self.ctx
        locked = repo.lock_request(session, request_id)
        now = ctx.db_now(session)
        request = locked or ctx.get(session, request_id)
        roles = ctx.roles(user_id, request.provider, repo.grants_for(session, user_id), groups)
        decision = policy.can_act_as_requester(user_id, request, roles, what,
                                               provider_label=ctx.label(request.provider))
        if decision.allowed and now >= request.expires_at:
            return now, request, Decision.deny(EXPIRED, RefusalCode.EXPIRED), expire_if_due(session, request, now)
        return now, request, decision, None


def _too_soon(last: datetime | None, now: datetime) -> str:
    """The refusal of a second Remind approvers within REMIND_INTERVAL: when the next one may be."""
    minutes = policy.REMIND_INTERVAL_MINUTES
    if last is None:  # claimed by a click that is posting it right now
        return f"The approvers are being reminded right now. You can remind them again in {minutes} min."
    wait = max(1, math.ceil(((last + REMIND_INTERVAL) - now).total_seconds() / 60))
    again = (last + REMIND_INTERVAL).strftime("%H:%M UTC")
    return (f"You reminded the approvers less than {minutes} minutes ago (once per {minutes} minutes). "
            f"You can remind them again in {wait} min, from {again}.")
