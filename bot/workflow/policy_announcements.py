"""Policy announcements: a change made with `resetbot policy set`, announced in the approvals channel, once.

The CLI applies a change at once (it needs the database's credentials) but has no Slack: it records
the change with the policy, in the same unit of work (bot/workflow/policies.py: Policies.set). The
sweep, on whichever replica runs it, posts one message saying who (`cli:<OS user>`), which provider,
and each changed value old → new. As reminders are (bot/workflow/reminders.py), each is claimed first,
a compare-and-set committed before Slack is called, so of several replicas sweeping at once one posts
it; it is marked posted (audited "policy_change_announced") after Slack took it, and released when
Slack refused, so a later sweep tries again. A claim whose replica died is taken over after
ANNOUNCE_CLAIM_TIMEOUT; a post whose claim was taken over meanwhile is deleted. Changes made in Slack
are not announced again: a loosening one is its Policy change card, a tightening one its admin's.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from bot.workflow.context import Context
from bot.workflow.intake import new_card_claim
from storage import repository as repo
from storage.db import transaction

log = logging.getLogger(__name__)

# A claim older than this is its poster's that died: longer than any Slack call with its retries.
ANNOUNCE_CLAIM_TIMEOUT = timedelta(minutes=2)


class PolicyAnnouncements:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def post_due(self) -> int:
        """Announce every change not announced yet and not claimed by a live replica. Returns how many were posted."""
        ctx = self.ctx
        with transaction(ctx.sessions) as session:
            now = ctx.db_now(session)  # claims age on the database's clock (context.py)
            due = repo.policy_announcements_due(session, stale_before=now - ANNOUNCE_CLAIM_TIMEOUT)
        return sum(self._post(announcement_id) for announcement_id in due)

    def _post(self, announcement_id: int) -> int:
        ctx = self.ctx
        claim = new_card_claim(ctx.replica_id)
        with transaction(ctx.sessions) as session:
            now = ctx.db_now(session)
            if not repo.claim_policy_announcement(session, announcement_id, claim=claim, now=now,
                                                  stale_before=now - ANNOUNCE_CLAIM_TIMEOUT):
                return 0  # another replica has it, or posted it meanwhile
            announcement = repo.get_policy_announcement(session, announcement_id)
        if announcement is None:
            return 0
        message = ctx.notifier.post_policy_announcement(announcement)
        with transaction(ctx.sessions) as session:
            now = ctx.db_now(session)
            if message is None:  # Slack refused: a later sweep tries again
                repo.release_policy_announcement(session, announcement_id, claim=claim)
                return 0
            done = repo.policy_announcement_posted(session, announcement_id, claim=claim, now=now)
            if done:
                repo.add_audit(session, at=now, action="policy_change_announced", provider=announcement.provider,
                               detail={"announcement": announcement.id, "changed_by": announcement.changed_by,
                                       "changed": announcement.changed, "ts": message.ts})
        if not done:
            log.warning("the claim of policy announcement %s was taken over; the message just posted is withdrawn",
                        announcement_id)
            ctx.notifier.withdraw(message)
            return 0
        return 1
