"""Reminders and escalation: thread replies on a waiting request's approval card, each posted once.

The policy a request was made under sets when (bot/workflow/intake.py copies remind_at,
escalate_at and escalate_to). The sweep, on whichever replica runs it, posts a reminder that
mentions who can approve, then an escalation that mentions `escalate_to`, whose members may
approve or deny that request from then on (bot/policy.py: escalation_reaches). Each is claimed
first, a compare-and-set committed before Slack is called, so of several replicas sweeping at
once one posts it; it is marked posted after Slack took it, and released when Slack refused,
so a later sweep tries again. A claim whose replica died is taken over after REPLY_CLAIM_TIMEOUT;
a post whose claim was taken over meanwhile is deleted. The requester's Remind approvers
(bot/workflow/requester.py) posts the same reminder.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from bot import policy
from bot.domain import RequestView
from bot.workflow.context import Context
from bot.workflow.intake import new_card_claim
from storage import repository as repo
from storage.db import transaction

log = logging.getLogger(__name__)

# What a thread reply says (handlers/blocks.py: thread_reply): the policy's reminder, the requester's, the escalation.
REMINDER, REQUESTER_REMINDER, ESCALATION = "reminder", "requester_reminder", "escalation"
# A claim older than this is its poster's that died: longer than any Slack call with its retries.
REPLY_CLAIM_TIMEOUT = timedelta(minutes=2)
# The stored kind of each reply (storage/repository.py: THREAD_REPLIES), what it says, and its audit action.
SCHEDULED = (("remind", REMINDER, "reminded"), ("escalate", ESCALATION, "escalated"))


def approver_mentions(ctx: Context, session: Any, request: RequestView) -> list[str]:
    """Who can approve the request (users and user groups with the role for its provider): what a reminder mentions."""
    return policy.who_can_approve(request.provider, repo.all_grants(session), ctx.admins, request.requester_id)


class Reminders:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def post_due(self) -> int:
        """Post every reminder and escalation that is due and not posted yet. Returns how many were posted."""
        ctx = self.ctx
        posted = 0
        for kind, says, action in SCHEDULED:
            with transaction(ctx.sessions) as session:
                now = ctx.db_now(session)  # remind_at and escalate_at are on the database's clock (context.py)
                due = repo.thread_replies_due(session, kind, now=now, stale_before=now - REPLY_CLAIM_TIMEOUT)
            for request_id in due:
                posted += self._post(request_id, kind, says, action)
        return posted

    def _post(self, request_id: str, kind: str, says: str, action: str) -> int:
        ctx = self.ctx
        claim = new_card_claim(ctx.replica_id)
        with transaction(ctx.sessions) as session:
            now = ctx.db_now(session)
            if not repo.claim_thread_reply(session, request_id, kind, claim=claim, now=now,
                                           stale_before=now - REPLY_CLAIM_TIMEOUT):
                return 0  # another replica has it, or it was posted or decided meanwhile
            request = ctx.get(session, request_id)
            mentions = approver_mentions(ctx, session, request) if kind == "remind" else [request.escalate_to or ""]
        message = ctx.notifier.post_thread_reply(request, says, mentions)
        with transaction(ctx.sessions) as session:
            now = ctx.db_now(session)
            if message is None:  # Slack refused: a later sweep tries again
                repo.release_thread_reply(session, request_id, kind, claim=claim)
                return 0
            done = repo.thread_reply_posted(session, request_id, kind, claim=claim, now=now)
            if done:
                repo.add_audit(session, at=now, action=action, request=request,
                               detail={"mentions": mentions, "thread_ts": message.ts})
        if not done:
            log.warning("the %s claim of %s was taken over; the reply just posted is withdrawn", kind, request_id)
            ctx.notifier.withdraw(message)
            return 0
        if kind == "escalate":  # its members may decide it now: their open App Home tabs list it
            ctx.notifier.refresh_home(request)
        return 1
