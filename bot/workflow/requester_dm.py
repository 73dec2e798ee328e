"""The requester's DM: one message per request, posted when it is accepted and rewritten in place at every change.

It is posted and stored before the approval card gets its buttons, off the ack path
(bot/workflow/intake.py: announce), so an approval finds it to rewrite. Stored with a
compare-and-set: two posters racing (when Slack refused the first post and two later changes
both post it) keep one, and the other is deleted. Each later change (an approval, the
change under way, the end) rewrites it to show the request as stored then. Once a new password
waits to be revealed, the DM is the reveal's (bot/workflow/reveal.py: send_reveal_dm): only
that path writes it, since only it knows the Reveal button's value.
"""

from __future__ import annotations

import logging

from bot.domain import MessageRef, RequestView, RevealState
from bot.workflow.context import Context
from storage import repository as repo
from storage.db import transaction

log = logging.getLogger(__name__)


def post_requester_dm(ctx: Context, request: RequestView) -> MessageRef | None:
    """Post the requester's DM for a request that has none stored; its place, or None when another one was kept."""
    dm = ctx.notifier.post_dm(request)
    if dm is None:  # Slack refused: the next change posts it
        return None
    with transaction(ctx.sessions) as session:
        stored = repo.store_dm(session, request.id, dm)
        current = ctx.get(session, request.id)
    if stored:
        return dm
    # Two posters raced (the announce and a click's update): expected; the stored DM is kept.
    log.info("another DM for %s was stored first; the one just posted is withdrawn", request.id)
    ctx.notifier.withdraw(dm)
    update_requester_dm(ctx, current)  # the kept one shows what is stored now
    return None


def update_requester_dm(ctx: Context, request: RequestView) -> None:
    """Rewrite the requester's DM to show `request`; post it when it was never posted."""
    if request.reveal_state is RevealState.READY:
        return  # the reveal's own path writes the DM with its button (module docstring)
    if request.dm is None:
        post_requester_dm(ctx, request)
        return
    ctx.notifier.update_dm(request)
