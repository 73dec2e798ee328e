"""Reveal: showing a new password once to its requester, then destroying it; and the customer-informed step.

Response wrapping: the DM carries a Reveal button, never the password. One click claims the
reveal (READY → OPENING), the modal shows the password, and `finish` destroys the sealed
value; a modal that could not be shown gives the reveal back (`abandon`), and so does a
claim left by a replica that died mid-reveal, once it is REVEAL_CLAIM_TIMEOUT old (the
next click or the sweep releases it). Unrevealed passwords are destroyed at
RESETBOT_REVEAL_TTL (`expire_reveal`, also called by the sweep). Every click re-checks the
person's roles: a requester who lost the role is refused, and the reveal is not used up.

Secrets at rest: until the requester's DM has its button the password is sealed under the seal
key only. `send_reveal_dm` seals it again to a fresh button value that only the DM carries
(bot/sealing.py: seal_bound), stores that seal and the button's one-way lookup, rewrites the DM
with the button, then destroys the seal-key copy. From then on the database plus the seal key cannot open it;
after every destroy the SQLite files are scrubbed (storage/db.py: scrub).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from bot import metrics, policy
from bot.domain import (
    Decision,
    MessageRef,
    NotAllowed,
    RefusalCode,
    RequestNotFound,
    RequestView,
    RevealState,
    Role,
)
from bot.sealing import SealBroken, SealKeyMissing, button_lookup, is_button, new_button
from bot.secret import Secret
from bot.workflow.context import KEY_MISSING_SENTENCE, PASSWORD, Context, audit_refusal, log_key_missing, refusal
from storage import repository as repo
from storage.db import scrub, transaction

log = logging.getLogger(__name__)

REVEAL_CLAIM_TIMEOUT = timedelta(seconds=30)

class Reveal:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def begin(self, button: str, user_id: str) -> tuple[RequestView, Secret]:
        """Claim the one reveal; the caller shows the secret, then calls `finish` or `abandon`.

        `button` is the Reveal button's value, as Slack sent it back.
        """
        ctx = self.ctx
        token = stored_token(button)
        expired, repeated = None, False
        with transaction(ctx.sessions) as session:
            clicked = _by_token(session, token)
        groups = requester_groups(ctx, user_id, clicked, "reveal_refused")
        with transaction(ctx.sessions) as session:
            now = ctx.db_now(session)  # the reveal TTL is on the database's clock (context.py)
            # A claim left by a click whose replica died gives the reveal back first (not used up).
            repo.release_stale_reveal_claims(session, now=now, stale_before=now - REVEAL_CLAIM_TIMEOUT, token=token)
            request = _by_token(session, token)
            roles = ctx.roles(user_id, request.provider, repo.grants_for(session, user_id), groups)
            decision = policy.can_reveal(user_id, request, now, roles=roles,
                                         provider_label=ctx.label(request.provider))
            if decision.allowed and not repo.claim_reveal(session, token, now=now,
                                                          stale_before=now - REVEAL_CLAIM_TIMEOUT):
                decision = Decision.deny("This password was already revealed; it is shown only once.",
                                         RefusalCode.ALREADY_USED)
            if not decision.allowed:
                repeated = audit_refusal(session, now=now, action="reveal_refused", actor_id=user_id, request=request,
                                         why=decision.reason, code=decision.code)
                expired = expire_reveal(session, token, now)
            else:
                sealed, _ = repo.sealed_values(session, request.id)
        if expired is not None:
            scrub(ctx.sessions)
            ctx.notifier.update_reveal(expired)
            ctx.rewrite_card(expired.id)  # the card says the password was destroyed unseen, as the sweep's does
        if not decision.allowed:
            raise refusal(decision.reason, repeated)
        try:
            if sealed is None:
                raise SealBroken("nothing is sealed for this reveal")
            if is_button(button):
                return request, ctx.sealer.open_bound(sealed, request_id=request.id, purpose=PASSWORD,
                                                      button=Secret(button))
            return request, ctx.sealer.open(sealed, request_id=request.id, purpose=PASSWORD)
        except SealKeyMissing as missing:  # another replica holds its key (a rolling restart): not used up
            with transaction(ctx.sessions) as session:
                repo.set_reveal_state(session, token, from_state=RevealState.OPENING, to_state=RevealState.READY,
                                      now=now)
            log_key_missing(request, missing, "a Reveal click")
            raise NotAllowed(KEY_MISSING_SENTENCE) from None
        except SealBroken:
            with transaction(ctx.sessions) as session:
                repo.set_reveal_state(session, token, from_state=RevealState.OPENING, to_state=RevealState.EXPIRED,
                                      now=now, sealed_password=None)
            scrub(ctx.sessions)
            raise NotAllowed(
                "The stored password could not be opened, so it was destroyed. Ask for a new reset.") from None

    def finish(self, button: str, user_id: str) -> RequestView:
        ctx = self.ctx
        now = ctx.clock()
        token = stored_token(button)
        with transaction(ctx.sessions) as session:
            repo.set_reveal_state(session, token, from_state=RevealState.OPENING, to_state=RevealState.REVEALED,
                                  now=now, sealed_password=None)
            request = _by_token(session, token)
            repo.add_audit(session, at=now, action="revealed", actor_id=user_id, request=request)
        metrics.REVEALS.labels(request.provider).inc()
        scrub(ctx.sessions)
        ctx.notifier.update_reveal(request)
        return request

    def abandon(self, button: str) -> None:
        """The modal could not be shown: the reveal is not used up."""
        with transaction(self.ctx.sessions) as session:
            repo.set_reveal_state(session, stored_token(button), from_state=RevealState.OPENING,
                                  to_state=RevealState.READY, now=self.ctx.clock())

    def customer_informed(self, request_id: str, user_id: str) -> RequestView:
        """The engineer confirms the customer was told and asked to change the password (ASVS V6.3.6)."""
        ctx = self.ctx
        now = ctx.clock()
        with transaction(ctx.sessions) as session:
            clicked = ctx.get(session, request_id)
        groups = requester_groups(ctx, user_id, clicked, "customer_informed_refused")
        with transaction(ctx.sessions) as session:
            request = ctx.get(session, request_id)
            roles = ctx.roles(user_id, request.provider, repo.grants_for(session, user_id), groups)
            refusal, code = None, RefusalCode.OTHER
            if user_id != request.requester_id:
                refusal = "Only the engineer who asked for this reset can confirm that."
                code = RefusalCode.NOT_REQUESTER
            elif Role.REQUESTER not in roles:
                refusal = (f"You no longer have the requester role for {ctx.label(request.provider)}, so you can't "
                           "confirm this. Ask your bot admin to give you the requester role again.")
                code = RefusalCode.NO_ROLE
            elif not repo.mark_customer_informed(session, request.id, requester_id=user_id, now=now):
                refusal, code = "This was already confirmed.", RefusalCode.ALREADY_USED
            if refusal is not None:
                repo.add_audit(session, at=now, action="customer_informed_refused", actor_id=user_id,
                               request=request, detail={"why": refusal})
            else:
                request = ctx.get(session, request.id)
                repo.add_audit(session, at=now, action="customer_informed", actor_id=user_id, request=request)
        if refusal is not None:
            metrics.count_refusal("customer_informed_refused", code)
            raise NotAllowed(refusal)
        ctx.notifier.update_reveal(request)
        return request


LEGACY_TOKEN_PREFIX = "sec_"  # a Reveal button sent before passwords were bound to it: the stored token itself


def stored_token(button: str) -> str:
    """The reveal token the database keeps for a button value: the lookup of a bound button, or a token
    from before buttons were bound (it is its own lookup). Any other value (a stored lookup sent back
    as if it were a button, say) matches nothing."""
    if is_button(button):
        return button_lookup(Secret(button))
    return button if button.startswith(LEGACY_TOKEN_PREFIX) else "!"


def requester_groups(ctx: Context, user_id: str, request: RequestView, refused_as: str) -> frozenset[str]:
    """The requester groups Slack lists `user_id` in (context.py: member_groups), asked before the click's
    transaction; only the requester's matter, since anyone else is refused whatever roles they hold."""
    if user_id != request.requester_id:
        return frozenset()
    return ctx.member_groups(user_id, Role.REQUESTER, request_id=request.id, refused_as=refused_as)


def _by_token(session: Any, token: str) -> RequestView:
    request = repo.request_by_reveal_token(session, token)
    if request is None:
        raise RequestNotFound("This reveal button no longer matches a reset request. If the bot sent you a newer "
                              "Reveal password message, use that one.")
    return request


def send_reveal_dm(ctx: Context, request: RequestView) -> MessageRef | None:
    """Put the Reveal button, the password sealed to it, in the requester's DM; None when nothing was sent.

    The DM is the request's one DM, rewritten in place (posted when it never was:
    bot/workflow/requester_dm.py). Before that, one compare-and-set makes a fresh button's lookup
    the reveal token and stores the password sealed to that button, keeping the seal-key copy
    (`sealed_until_sent`) in case the DM never gets it; so a click works the moment the button
    appears. Once Slack has it, `reveal_sent_at` is stored and the seal-key copy destroyed (and
    scrubbed from the files). A DM that failed, or whose replica died before storing it, gets a
    new button from the sweep (bot/workflow/sweeper.py); the old button then matches nothing, and
    says so. A sender whose rewrite came back after a newer sender's (so its stale button may be
    the one shown) binds and rewrites once more; a new DM that lost to another one is deleted.
    """
    with transaction(ctx.sessions) as session:
        current = repo.get_request(session, request.id)
        sealed, in_flight = repo.sealed_password_and_copy(session, request.id)
    if current is None or current.reveal_state is not RevealState.READY or current.reveal_sent_at is not None \
            or not current.reveal_token:
        return None
    key_sealed = in_flight if in_flight is not None else sealed  # a copy sealed to no button
    try:
        password = ctx.sealer.open(key_sealed, request_id=current.id, purpose=PASSWORD) if key_sealed else None
    except SealKeyMissing as missing:  # the sweep of a replica that holds the key sends it
        log_key_missing(current, missing, "sending the Reveal button")
        return None
    except SealBroken:
        password = None
    if password is None or key_sealed is None:  # nothing opens: the old button, whose click says so
        dm = ctx.notifier.send_reveal(current)
        if dm is not None:
            with transaction(ctx.sessions) as session:
                repo.reveal_sent(session, current.id, token=current.reveal_token, dm=dm, now=ctx.clock())
        return dm
    for again in (False, True):
        button = new_button()
        token = button_lookup(button)
        bound = ctx.sealer.seal_bound(password, request_id=current.id, purpose=PASSWORD, button=button)
        with transaction(ctx.sessions) as session:
            bound_now = repo.bind_reveal(session, current.id, from_token=current.reveal_token, to_token=token,
                                         sealed_password=bound, until_sent=key_sealed, now=ctx.clock(), again=again)
        if not bound_now:  # another sender (the sweep, a racing replica) has it
            return None
        dm = ctx.notifier.send_reveal(replace(current, reveal_token=button.reveal()))
        if dm is None:
            return None
        with transaction(ctx.sessions) as session:
            stored = repo.reveal_sent(session, current.id, token=token, dm=dm, now=ctx.clock())
            after = repo.get_request(session, current.id)
        if stored or after is None:
            break
        if dm != current.dm or after.reveal_state is not RevealState.READY:
            if dm != current.dm:
                log.warning("a newer Reveal DM replaced the one just posted for %s; it is withdrawn", current.id)
                ctx.notifier.withdraw(dm)
            return None
        # Rewritten in place after a newer sender bound its button: ours may be what the DM shows now.
        log.warning("the Reveal button of %s was rewritten by a newer sender meanwhile; binding it again", current.id)
        current = after
    del password
    if not stored:
        return None
    scrub(ctx.sessions)  # the copy sealed under the seal key alone leaves the files
    if after is not None and after.reveal_state in (RevealState.REVEALED, RevealState.EXPIRED):
        ctx.notifier.update_reveal(after)  # revealed (or expired) before its place was stored
    return dm


def expire_reveal(session: Any, token: str, now: datetime) -> RequestView | None:
    """Destroy an unrevealed password past its reveal TTL (READY or OPENING → EXPIRED).

    The caller scrubs the files after its transaction (storage/db.py: scrub)."""
    request = repo.request_by_reveal_token(session, token)
    if request is None or request.reveal_expires_at is None or now < request.reveal_expires_at:
        return None
    for state in (RevealState.READY, RevealState.OPENING):
        if repo.set_reveal_state(session, token, from_state=state, to_state=RevealState.EXPIRED, now=now,
                                 sealed_password=None):
            expired = repo.request_by_reveal_token(session, token)
            repo.add_audit(session, at=now, action="reveal_expired", request=expired)
            if expired is not None:
                metrics.EXPIRIES.labels(expired.provider, "reveal").inc()
            return expired
    return None
