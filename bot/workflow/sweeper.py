"""Sweeper: what every replica does periodically and on start so nothing waits forever.

It expires requests nobody approved and passwords nobody revealed, gives back reveals a
dead replica claimed, forgets old drafts and event ids, posts approval cards Slack refused
or a dead replica lost track of (one poster at a time: it claims the post in the database
first), resends Reveal buttons a dead replica never sent, posts the reminders and escalations
that are due (bot/workflow/reminders.py), announces policy changes made with the CLI
(bot/workflow/policy_announcements.py), and recovers executions whose lease lapsed
(bot/workflow/execution.py).
"""

from __future__ import annotations

from datetime import timedelta

from bot.domain import CardRefused, RequestView
from bot.workflow.context import Context
from bot.workflow.decisions import expire_if_due
from bot.workflow.execution import Execution
from bot.workflow.intake import new_card_claim, post_approval_card
from bot.workflow.policy_announcements import PolicyAnnouncements
from bot.workflow.reminders import Reminders
from bot.workflow.reveal import REVEAL_CLAIM_TIMEOUT, expire_reveal, send_reveal_dm
from storage import repository as repo
from storage.db import scrub, transaction

CARD_GRACE = timedelta(seconds=15)  # time for the first post of a card before the sweep posts it again


class Sweeper:
    def __init__(self, ctx: Context, execution: Execution) -> None:
        self.ctx = ctx
        self.execution = execution
        self.reminders = Reminders(ctx)
        self.announcements = PolicyAnnouncements(ctx)

    def sweep(self) -> int:
        """Expire what is due and recover executions whose replica died. Returns how many it touched."""
        ctx = self.ctx
        touched: list[RequestView] = []
        reveals: list[RequestView] = []
        with transaction(ctx.sessions) as session:
            now = ctx.db_now(session)  # every expiry is on the database's clock (context.py)
            for request_id in repo.pending_past_expiry(session, now):
                expired = expire_if_due(session, ctx.get(session, request_id), now)
                if expired:
                    touched.append(expired)
        with transaction(ctx.sessions) as session:
            now = ctx.db_now(session)
            for token in repo.reveals_past_expiry(session, now):
                expired = expire_reveal(session, token, now)
                if expired:
                    reveals.append(expired)
            released = repo.release_stale_reveal_claims(session, now=now, stale_before=now - REVEAL_CLAIM_TIMEOUT)
            repo.delete_drafts_before(session, now - timedelta(hours=1))
            repo.forget_events_before(session, now - timedelta(hours=2))
            repo.forget_budget_slots_before(session, now - repo.BUDGET_HORIZON)
        if reveals:
            scrub(ctx.sessions)
        for request in touched:
            ctx.notify_final(request)
        for request in reveals:
            ctx.notifier.update_reveal(request)
            ctx.rewrite_card(request.id)  # the card says the password was destroyed unseen
        return (len(touched) + len(reveals) + released + self.execution.recover_executions()
                + self.repost_missing_cards() + self.resend_missing_reveals() + self.reminders.post_due()
                + self.announcements.post_due())

    def repost_missing_cards(self, grace: timedelta | None = None) -> int:
        """A card Slack refused to post (5xx, outage), or whose place a dead replica never stored, is posted
        again, so no request waits unseen. Each is claimed first (a compare-and-set committed before Slack
        is called), so of several replicas sweeping at once exactly one posts it."""
        ctx = self.ctx
        with transaction(ctx.sessions) as session:
            now = ctx.db_now(session)  # the grace period is on the database's clock (context.py)
            cutoff = now - (CARD_GRACE if grace is None else grace)
            missing = repo.pending_without_card(session, cutoff)
        posted = 0
        for request_id in missing:
            claim = new_card_claim(ctx.replica_id)
            with transaction(ctx.sessions) as session:
                claimed = repo.claim_card_post(session, request_id, claim=claim, now=now, stale_before=cutoff)
                request = ctx.get(session, request_id) if claimed else None
            try:
                if request is not None and post_approval_card(ctx, request, claim) is not None:
                    posted += 1
            except CardRefused:  # logged by the notifier; every other card would be refused too until an admin acts
                break
        return posted

    def resend_missing_reveals(self, grace: timedelta | None = None) -> int:
        """A replica that died between recording success and putting the Reveal button in the requester's DM
        leaves a password nobody can reveal: a live replica rewrites the DM with the button (posts the DM if
        it was never posted), bound to the password as the first one would have been (bot/workflow/reveal.py:
        send_reveal_dm)."""
        ctx = self.ctx
        with transaction(ctx.sessions) as session:
            now = ctx.db_now(session)
            cutoff = now - (CARD_GRACE if grace is None else grace)
            waiting = [ctx.get(session, rid) for rid in repo.reveals_without_dm(session, cutoff, now)]
        return sum(send_reveal_dm(ctx, request) is not None for request in waiting)
