"""Sweeper: what every replica does periodically and on start so nothing waits forever.

It expires requests nobody approved and passwords nobody revealed, forgets old drafts and
event ids, posts approval cards Slack refused, resends Reveal buttons a dead replica never
sent, and recovers executions whose lease lapsed (bot/workflow/execution.py).
"""

from __future__ import annotations

from datetime import timedelta

from bot.domain import RequestView
from bot.workflow.context import Context
from bot.workflow.decisions import expire_if_due
from bot.workflow.execution import Execution
from bot.workflow.reveal import expire_reveal
from storage import repository as repo
from storage.db import transaction

CARD_GRACE = timedelta(seconds=15)  # time for the first post of a card before the sweep posts it again


class Sweeper:
    def __init__(self, ctx: Context, execution: Execution) -> None:
        self.ctx = ctx
        self.execution = execution

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
            repo.delete_drafts_before(session, now - timedelta(hours=1))
            repo.forget_events_before(session, now - timedelta(hours=2))
        for request in touched:
            ctx.notify_final(request)
        for request in reveals:
            ctx.notifier.update_reveal(request)
        return (len(touched) + len(reveals) + self.execution.recover_executions() + self.repost_missing_cards()
                + self.resend_missing_reveals())

    def repost_missing_cards(self, grace: timedelta | None = None) -> int:
        """A card Slack refused to post (5xx, outage) is posted again, so no request waits unseen."""
        ctx = self.ctx
        with transaction(ctx.sessions) as session:
            cutoff = ctx.db_now(session) - (CARD_GRACE if grace is None else grace)
            missing = [ctx.get(session, rid) for rid in repo.pending_without_card(session, cutoff)]
        posted = 0
        for request in missing:
            card = ctx.notifier.post_card(request)
            if card is not None:
                posted += 1
                with transaction(ctx.sessions) as session:
                    repo.set_fields(session, request.id, card_channel=card.channel, card_ts=card.ts)
        return posted

    def resend_missing_reveals(self, grace: timedelta | None = None) -> int:
        """A replica that died between recording success and sending the DM leaves a password
        nobody can reveal: a live replica sends the Reveal button (the same one-time token)."""
        ctx = self.ctx
        with transaction(ctx.sessions) as session:
            now = ctx.db_now(session)
            cutoff = now - (CARD_GRACE if grace is None else grace)
            waiting = [ctx.get(session, rid) for rid in repo.reveals_without_dm(session, cutoff, now)]
        sent = 0
        for request in waiting:
            dm = ctx.notifier.send_reveal(request)
            if dm is not None:
                sent += 1
                with transaction(ctx.sessions) as session:
                    repo.set_fields(session, request.id, dm_channel=dm.channel, dm_ts=dm.ts)
        return sent
