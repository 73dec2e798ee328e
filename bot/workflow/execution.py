"""Execution: the provider call under a lease, recording its outcome, and recovering lapsed leases.

Crash safety: the password is sealed and the request EXECUTING with a lease *before* the
provider is called (bot/workflow/decisions.py). A replica renews its lease while the call
runs; one that dies leaves a lapsed lease, and a live replica then retries MyOwnFreeHost
with the same sealed password (an identical password counts as success) or marks Namecheap
"outcome unknown". A MyOwnFreeHost answer that failed or could not be read is retried the
same way, up to MAX_EXECUTION_ATTEMPTS within a minute, before it is "outcome unknown". Leases are
measured by the database's clock and fenced by each claim's epoch. No provider call ever
runs inside a transaction.
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from bot import logs, metrics
from bot.domain import BotOutcome, RequestView, RevealState, Status
from bot.providers import AMBIGUOUS, ChangeResult, Outcome
from bot.providers.gateway import ProviderGateway
from bot.sealing import SealBroken, SealKeyMissing
from bot.workflow.context import INPUT, PASSWORD, Context, log_key_missing
from bot.workflow.requester_dm import update_requester_dm
from storage import repository as repo
from storage.db import transaction

log = logging.getLogger(__name__)

# The statuses after which the new password is (or may be) the account's: it is kept for the
# one reveal until RESETBOT_REVEAL_TTL (handlers/blocks.py says "may be set" for UNKNOWN).
MAY_HAVE_SET = frozenset({Status.SUCCEEDED, Status.UNKNOWN})

# What the provider's answer said of the account a reset code changed (detail "user_id_check"):
# these are never a plain success for the approved account.
UNMATCHED = frozenset({"missing", "never_seen", "differs"})
_USER_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")

# Before the n-th same-password retry: MOFH_RETRY_BACKOFF × 3^(n-1), so 5 s, then 15 s. With the sweep every
# 10 s, the last answer comes within a minute of the first that could not be read, and the requester can then
# reveal the password (kept as "may be set" when still unclear) or is told the outcome (CONTRACT.md).
MOFH_RETRY_BACKOFF = timedelta(seconds=5)
MAX_EXECUTION_ATTEMPTS = 3  # a request's provider calls (each up to the client's own 2 tries), takeovers included


class Execution:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._told_key_missing: set[str] = set()

    def execute(self, request_id: str, lease_owner: str, epoch: int = 1) -> RequestView | None:
        """Call the provider for a request this replica holds the lease on, then record the outcome.

        `epoch` is the claim of the lease (the approval's own call is 1, decisions.py; each
        takeover raises it). A claim that no longer holds the lease calls nothing.
        """
        ctx = self.ctx
        with transaction(ctx.sessions) as session:
            request = repo.get_request(session, request_id)
            sealed_password, sealed_input = repo.sealed_values(session, request_id)
            held = request is not None and request.status is Status.EXECUTING and repo.renew_lease(
                session, request_id, owner=lease_owner, epoch=epoch, until=ctx.db_now(session) + ctx.lease)
        if request is None or request.status is not Status.EXECUTING:
            return request
        if not held:  # taken over while this call waited for a worker: the new owner calls
            log.warning("request %s is no longer leased to %s (claim %s); not calling the provider",
                        request_id, lease_owner, epoch)
            return None
        gateway = ctx.providers.get(request.provider)
        try:
            new_password = (ctx.sealer.open(sealed_password, request_id=request.id, purpose=PASSWORD)
                            if sealed_password else None)
            secret_input = (ctx.sealer.open(sealed_input, request_id=request.id, purpose=INPUT)
                            if sealed_input else None)
        except SealKeyMissing as missing:
            # Sealed under a key this replica does not hold (a rolling restart): the call may have been sent by
            # the replica that sealed it, so nothing is recorded; the lease lapses to a replica that holds it.
            log_key_missing(request, missing, "an execution")
            return None
        except SealBroken:
            result = ChangeResult(outcome=Outcome.BAD_REQUEST, attempts=0, reason=BotOutcome.SEAL_BROKEN.value,
                                  message="The sealed secret for this request could not be opened (wrong "
                                          "RESETBOT_SEAL_KEY?), so nothing was sent to the provider.")
        else:
            if gateway is None:
                result = ChangeResult(outcome=Outcome.BAD_REQUEST, attempts=0,
                                      reason=BotOutcome.PROVIDER_DISABLED.value,
                                      message=f"{ctx.label(request.provider)} is not enabled on this replica.")
            else:
                started = time.monotonic()
                with self._lease_kept(request.id, lease_owner, epoch), logs.bound(request_id=request.id):
                    result = gateway.execute(account=request.account, method=request.method,
                                             new_password=new_password, secret_input=secret_input)
                metrics.PROVIDER_SECONDS.labels(request.provider).observe(time.monotonic() - started)
                metrics.PROVIDER_CALLS.labels(request.provider, result.outcome.value).inc()
        return self._record_outcome(request, result, lease_owner, epoch, gateway)

    def recover_executions(self) -> int:
        """Take over executions whose replica died (lapsed lease): retry or mark the outcome unknown.

        Lapsed is judged by the database's clock, so a replica whose own clock runs ahead
        never takes over a lease its owner keeps renewing.
        """
        ctx = self.ctx
        recovered = 0
        with transaction(ctx.sessions) as session:
            now = ctx.db_now(session)
            # Only what this replica can open: one without the key it was sealed under (a rolling restart)
            # leaves it to one that has it, never recording a call that may have been sent as not sent.
            lapsed = [rid for rid in repo.executions_with_lapsed_lease(session, now)
                      if self._can_open(rid, repo.sealed_values(session, rid))]
            claims = [(rid, epoch) for rid in lapsed
                      if (epoch := repo.take_over_lease(session, rid, owner=ctx.replica_id, now=now,
                                                        until=now + ctx.lease)) is not None]
        for request_id, epoch in claims:
            recovered += 1
            with transaction(ctx.sessions) as session:
                request = ctx.get(session, request_id)
                repo.add_audit(session, at=ctx.db_now(session), action="execution_recovered", request=request,
                               detail={"attempt": epoch})
            gateway = ctx.providers.get(request.provider)
            if gateway is not None and gateway.same_password_retry_is_safe and epoch <= MAX_EXECUTION_ATTEMPTS:
                ctx.background.run(self.execute, request_id, ctx.replica_id, epoch)
            else:
                unknown = ChangeResult(
                    outcome=Outcome.UNKNOWN, certainty=AMBIGUOUS, attempts=0, reason=BotOutcome.INTERRUPTED.value,
                    message=f"The bot stopped while calling {ctx.label(request.provider)}, so the outcome is "
                            "unknown — verify by logging in to the account before asking again.",
                )
                self._record_outcome(request, unknown, ctx.replica_id, epoch, None)
        return recovered

    def _can_open(self, request_id: str, sealed: tuple[bytes | None, bytes | None]) -> bool:
        for token in sealed:
            if token is not None and not self.ctx.sealer.can_open(token):
                if request_id not in self._told_key_missing:  # once per request: the sweep asks every 10 s
                    self._told_key_missing.add(request_id)
                    log.error("request %s: its lapsed execution was sealed under a seal key this replica does not "
                              "hold (this replica holds %s); left for a replica that has it (RESETBOT_SEAL_KEY)",
                              request_id, ", ".join(self.ctx.sealer.fingerprints))
                return False
        return True

    @contextmanager
    def _lease_kept(self, request_id: str, owner: str, epoch: int) -> Iterator[None]:
        """Renew the execution lease while the provider call runs (it may take 2 × 60 s), by the database's clock."""
        ctx = self.ctx
        done = threading.Event()

        def renew() -> None:
            interval = ctx.lease.total_seconds() / 3
            while not done.wait(interval):
                try:
                    with transaction(ctx.sessions) as session:
                        until = ctx.db_now(session) + ctx.lease
                        if not repo.renew_lease(session, request_id, owner=owner, epoch=epoch, until=until):
                            return  # taken over: the new owner's claim is not ours to extend
                except Exception:  # the database is away: the next tick tries again
                    log.warning("could not renew the lease of %s", request_id)

        keeper = threading.Thread(target=renew, name=f"lease-{request_id}", daemon=True)
        keeper.start()
        try:
            yield
        finally:
            done.set()

    def _record_outcome(self, request: RequestView, result: ChangeResult, lease_owner: str, epoch: int,
                        gateway: ProviderGateway | None) -> RequestView | None:
        """Record the outcome, fenced: only while `lease_owner`'s claim `epoch` still holds the lease."""
        ctx = self.ctx
        outcome = recorded_outcome(result)
        detail: dict[str, Any] = {"outcome": outcome, "attempts": result.attempts}
        if result.error_numbers:
            detail["error_numbers"] = list(result.error_numbers)
        if result.account_status:
            detail["account_status"] = result.account_status
        with transaction(ctx.sessions) as session:
            now = ctx.db_now(session)
            row = ctx.get(session, request.id)
            retry_later = (
                gateway is not None and gateway.same_password_retry_is_safe and epoch < MAX_EXECUTION_ATTEMPTS
                and (result.retryable or _status_for(result, gateway) is Status.UNKNOWN)
            )
            if retry_later:
                # Same sealed password, later: MyOwnFreeHost answers a repeat as success
                # (Outcome.CHANGED_IDEMPOTENT in bot/providers/mofh/client.py). That holds for a
                # transport failure and as much for an answer that could not be read (garbage,
                # a body cut short): it is retried before it may become "outcome unknown".
                retry_note = f"{result.message} The bot will try again with the same password in a few seconds."
                recorded = repo.renew_lease(session, request.id, owner=lease_owner, epoch=epoch,
                                            until=now + MOFH_RETRY_BACKOFF * 3 ** (epoch - 1), outcome=outcome,
                                            outcome_message=retry_note)
                final = None
            else:
                status = _status_for(result, gateway)
                unmatched = self._match_account(session, request, result, detail, now) if result.ok else None
                if unmatched is not None:  # changed, but maybe not the approved account: never a plain success
                    status, result = Status.UNKNOWN, replace(result, message=unmatched)
                values: dict[str, Any] = dict(
                    outcome=outcome, outcome_message=_outcome_sentence(result, status),
                    sealed_input=None, lease_owner=None, lease_expires_at=None, email=result.email)
                if status in MAY_HAVE_SET and request.method.sets_new_password:
                    # Set, or maybe set (outcome unknown): destroying it unrevealed could lock the
                    # customer out with a password nobody knows, so it stays revealable until the TTL.
                    values.update(reveal_state=RevealState.READY.value, reveal_token="sec_" + secrets.token_urlsafe(18),
                                  reveal_expires_at=now + ctx.reveal_ttl)
                else:
                    values.update(sealed_password=None)
                recorded = repo.transition(session, request.id, from_status=Status.EXECUTING, to_status=status,
                                           now=now, held_by=lease_owner, epoch=epoch, **values)
                detail["status"] = status.value
            if not recorded:
                # Another claim holds the lease now (or finished the request): its outcome stands.
                log.warning("request %s is no longer leased to %s (claim %s); outcome %s not recorded",
                            request.id, lease_owner, epoch, outcome)
                repo.add_audit(session, at=now, action="provider_outcome_not_recorded", request=row,
                               detail={**detail, "claim": epoch})
                return None
            if retry_later:
                repo.add_audit(session, at=now, action="provider_retry_scheduled", request=row, detail=detail)
            else:
                final = repo.get_request(session, request.id)
                repo.add_audit(session, at=now, action="provider_outcome", request=final, detail=detail)
                if detail.get("user_id_check") in UNMATCHED:
                    repo.add_audit(session, at=now, action="user_id_unmatched", request=final, detail=detail)
        _log_outcome(request, result, outcome, retrying=final is None)
        if final is None:
            ctx.notifier.tell_requester(replace(row, outcome=outcome, outcome_message=retry_note))
            update_requester_dm(ctx, replace(row, outcome=outcome, outcome_message=retry_note))
            return row
        ctx.notify_final(final)
        return final

    def _match_account(self, session: Any, request: RequestView, result: ChangeResult, detail: dict[str, Any],
                       now: datetime) -> str | None:
        """Check the account the provider says it changed (its UserId) against the approved one.

        A call that named the account (Namecheap way 1) teaches the bot that account's UserId;
        a reset code changes whichever account the code belongs to, so its answer must carry the
        UserId the bot knows for the approved account. Returns the sentence for people when it
        does not (or the bot cannot tell), else None.
        """
        user_id = _clean_user_id(result.user_id)
        if user_id is not None:
            detail["user_id"] = user_id
        if not request.method.account_from_secret:
            if user_id is not None:
                repo.remember_user_id(session, request.provider, request.account, user_id, now)
            return None
        label, account = self.ctx.label(request.provider), request.account
        advice = (f"Log in as {account} to see which account the reset code belonged to before giving the new "
                  "password to anyone.")
        if user_id is None:
            detail["user_id_check"] = "missing"
            return (f"{label} says it changed a password but not of which account (no UserId), so it could not be "
                    f"matched to the account {account}. {advice}")
        known = repo.known_user_id(session, request.provider, account)
        if known == user_id:
            detail["user_id_check"] = "matches"
            return None
        changed = f"{label} changed the password of UserId {user_id}, which could not be matched to the account"
        if known is None:
            detail["user_id_check"] = "never_seen"
            return f"{changed} {account}: the bot has never seen the UserId of {account}. {advice}"
        detail.update(user_id_check="differs", known_user_id=known)
        others = [name for name in repo.accounts_with_user_id(session, request.provider, user_id) if name != account]
        whose = f" (UserId {user_id} is {', '.join(others)})" if others else ""
        return f"{changed} {account}: {account} is UserId {known}{whose}. {advice}"


def _clean_user_id(value: str | None) -> str | None:
    """A provider's account id as people may be shown it; anything else counts as none given."""
    return value if isinstance(value, str) and _USER_ID.fullmatch(value) else None


def _status_for(result: ChangeResult, gateway: ProviderGateway | None) -> Status:
    if result.ok:
        return Status.SUCCEEDED
    ambiguous = result.certainty == AMBIGUOUS or result.outcome in (Outcome.UNKNOWN,)
    if result.outcome is Outcome.PROVIDER_UNAVAILABLE and result.attempts > 0:
        ambiguous = True
    if ambiguous and result.outcome is not Outcome.ACCOUNT_NOT_FOUND:
        return Status.UNKNOWN
    return Status.FAILED


def recorded_outcome(result: ChangeResult) -> str:
    """The outcome stored with the request: the provider's (docs/providers.md §4.2), or the bot's own where no
    provider answered (bot/domain.py: BotOutcome); handlers/words.py has the words for each."""
    if result.reason in {o.value for o in BotOutcome}:
        return str(result.reason)
    return result.outcome.value


# What an operator may need to act on: logged at WARNING, with the error id the engineer is told.
_OPERATOR_OUTCOMES = frozenset({"auth_failed", "ip_not_allowed", "bad_request", "invalid_password",
                                "provider_unavailable", "provider_error", "unknown", *(o.value for o in BotOutcome)})
_UNPRINTABLE = re.compile(r"[^\x20-\x7e]+")


def excerpt(text: str | None, limit: int = 160) -> str:
    """A provider's text for the log: printable ASCII only (control bytes and stray encodings become `?`), short."""
    flat = _UNPRINTABLE.sub("?", " ".join((text or "").split()))
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _log_outcome(request: RequestView, result: ChangeResult, outcome: str, *, retrying: bool) -> None:
    """The outcome in the operator's words (the client's sentence may name a variable to check) and a printable
    excerpt of the provider's own text; Slack gets neither (handlers/words.py)."""
    level = logging.WARNING if outcome in _OPERATOR_OUTCOMES or retrying else logging.INFO
    said = f"; provider said: {excerpt(result.provider_message)!r}" if result.provider_message else ""
    log.log(level, "request %s (error id %s) at %s: %s%s after %s call(s): %s%s", request.id, request.error_id,
            request.provider, outcome, " (retrying)" if retrying else "", result.attempts, result.message, said)


def _outcome_sentence(result: ChangeResult, status: Status) -> str:
    if status is Status.UNKNOWN and "verify" not in result.message.lower():
        return f"{result.message} Outcome unknown — verify by logging in to the account before asking again."
    return result.message
