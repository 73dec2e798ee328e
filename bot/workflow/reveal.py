"""Reveal: showing a new password once to its requester, then destroying it; and the customer-informed step.

Response wrapping: the DM carries a Reveal button, never the password. One click claims the
reveal (READY → OPENING), the modal shows the password, and `finish` destroys the sealed
value; a modal that could not be shown gives the reveal back (`abandon`). Unrevealed
passwords are destroyed at RESETBOT_REVEAL_TTL (`expire_reveal`, also called by the sweep).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from bot import policy
from bot.domain import Decision, NotAllowed, RequestNotFound, RequestView, RevealState
from bot.sealing import SealBroken
from bot.secret import Secret
from bot.workflow.context import PASSWORD, Context, audit_refusal, refusal
from storage import repository as repo
from storage.db import transaction

REVEAL_CLAIM_TIMEOUT = timedelta(seconds=30)


class Reveal:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def begin(self, token: str, user_id: str) -> tuple[RequestView, Secret]:
        """Claim the one reveal; the caller shows the secret, then calls `finish` or `abandon`."""
        ctx = self.ctx
        expired, repeated = None, False
        with transaction(ctx.sessions) as session:
            now = ctx.db_now(session)  # the reveal TTL is on the database's clock (context.py)
            request = _by_token(session, token)
            decision = policy.can_reveal(user_id, request, now)
            if decision.allowed and not repo.claim_reveal(session, token, now=now,
                                                          stale_before=now - REVEAL_CLAIM_TIMEOUT):
                decision = Decision.deny("This password was already revealed; it is shown only once.")
            if not decision.allowed:
                repeated = audit_refusal(session, now=now, action="reveal_refused", actor_id=user_id, request=request,
                                         why=decision.reason)
                expired = expire_reveal(session, token, now)
            else:
                sealed, _ = repo.sealed_values(session, request.id)
        if expired is not None:
            ctx.notifier.update_reveal(expired)
        if not decision.allowed:
            raise refusal(decision.reason, repeated)
        try:
            if sealed is None:
                raise SealBroken("nothing is sealed for this reveal")
            return request, ctx.sealer.open(sealed, request_id=request.id, purpose=PASSWORD)
        except SealBroken:
            with transaction(ctx.sessions) as session:
                repo.set_reveal_state(session, token, from_state=RevealState.OPENING, to_state=RevealState.EXPIRED,
                                      now=now, sealed_password=None)
            raise NotAllowed(
                "The stored password could not be opened, so it was destroyed. Ask for a new reset.") from None

    def finish(self, token: str, user_id: str) -> RequestView:
        ctx = self.ctx
        now = ctx.clock()
        with transaction(ctx.sessions) as session:
            repo.set_reveal_state(session, token, from_state=RevealState.OPENING, to_state=RevealState.REVEALED,
                                  now=now, sealed_password=None)
            request = _by_token(session, token)
            repo.add_audit(session, at=now, action="revealed", actor_id=user_id, request=request)
        ctx.notifier.update_reveal(request)
        return request

    def abandon(self, token: str) -> None:
        """The modal could not be shown: the reveal is not used up."""
        with transaction(self.ctx.sessions) as session:
            repo.set_reveal_state(session, token, from_state=RevealState.OPENING, to_state=RevealState.READY,
                                  now=self.ctx.clock())

    def customer_informed(self, request_id: str, user_id: str) -> RequestView:
        """The engineer confirms the customer was told and asked to change the password (ASVS V6.3.6)."""
        ctx = self.ctx
        now = ctx.clock()
        with transaction(ctx.sessions) as session:
            request = ctx.get(session, request_id)
            if not repo.mark_customer_informed(session, request.id, requester_id=user_id, now=now):
                if user_id != request.requester_id:
                    raise NotAllowed("Only the engineer who asked for this reset can confirm that.")
                raise NotAllowed("This was already confirmed.")
            request = ctx.get(session, request.id)
            repo.add_audit(session, at=now, action="customer_informed", actor_id=user_id, request=request)
        ctx.notifier.update_reveal(request)
        return request


def _by_token(session: Any, token: str) -> RequestView:
    request = repo.request_by_reveal_token(session, token)
    if request is None:
        raise RequestNotFound("This reveal button no longer matches a reset request.")
    return request


def expire_reveal(session: Any, token: str, now: datetime) -> RequestView | None:
    """Destroy an unrevealed password past its reveal TTL (READY or OPENING → EXPIRED)."""
    request = repo.request_by_reveal_token(session, token)
    if request is None or request.reveal_expires_at is None or now < request.reveal_expires_at:
        return None
    for state in (RevealState.READY, RevealState.OPENING):
        if repo.set_reveal_state(session, token, from_state=state, to_state=RevealState.EXPIRED, now=now,
                                 sealed_password=None):
            expired = repo.request_by_reveal_token(session, token)
            repo.add_audit(session, at=now, action="reveal_expired", request=expired)
            return expired
    return None
