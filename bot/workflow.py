"""The reset workflow: request → approval → provider call → one-time reveal, with the audit trail.

The workflow owns transactions (cosmicpython's service layer): every method opens its own
short unit of work through `storage.db.transaction`, and no provider call ever runs inside
one. Slack is behind the `Notifier` port; providers behind `ProviderGateway`.

Crash safety (issue 5): the generated password is sealed and the request marked EXECUTING
with a lease *before* the provider is called. A replica that dies mid-call leaves a lapsed
lease; `sweep()` on any live replica then retries MyOwnFreeHost with the same sealed password
(an identical password counts as success) or marks Namecheap "outcome unknown".
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Protocol

from bot import passwords, policy
from bot.domain import (
    AuditRecord,
    Decision,
    InputErrors,
    InvalidTransition,
    MessageRef,
    Method,
    NotAllowed,
    Provider,
    RequestNotFound,
    RequestView,
    RevealState,
    Role,
    RoleGrant,
    Status,
)
from bot.providers import AMBIGUOUS, ChangeResult, Outcome
from bot.providers.gateway import ProviderGateway
from bot.sealing import SealBroken, Sealer
from bot.secret import Secret
from storage import repository as repo
from storage.db import transaction

log = logging.getLogger(__name__)

PASSWORD = "password"
INPUT = "input"
# A replica renews its lease every third of this while its provider call runs, so a lapse
# means the replica died; with the sweep interval this keeps recovery under a minute.
DEFAULT_LEASE_SECONDS = 30
MOFH_RETRY_BACKOFF = timedelta(seconds=60)
MAX_EXECUTION_ATTEMPTS = 3
RESPONSE_URL_LIFETIME = timedelta(minutes=29)  # Slack keeps it 30 minutes
REVEAL_CLAIM_TIMEOUT = timedelta(seconds=30)
CARD_GRACE = timedelta(seconds=15)  # time for the first post of a card before the sweep posts it again
REQUESTS_PER_HOUR_PER_ENGINEER = 20

MOFH_KEY = re.compile(r"^[A-Za-z0-9]{1,8}$")
VPANEL_USERNAME = re.compile(r"^[a-z0-9]{1,16}_[0-9]{6,10}$", re.IGNORECASE)
DOMAIN = re.compile(r"^(?=.{4,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$", re.IGNORECASE)
NAMECHEAP_USERNAME = re.compile(r"^[A-Za-z0-9._-]{1,20}$")
RESET_CODE = re.compile(r"^[A-Za-z0-9]{1,50}$")


class Notifier(Protocol):
    """What the workflow tells people. Implemented with Slack in handlers/notifier.py."""

    def post_card(self, request: RequestView) -> MessageRef | None: ...
    def update_card(self, request: RequestView, context: str | None = None) -> None: ...
    def tell_requester(self, request: RequestView) -> None: ...
    def send_reveal(self, request: RequestView) -> MessageRef | None: ...
    def update_reveal(self, request: RequestView) -> None: ...


@dataclass(frozen=True)
class RequestForm:
    provider: str | None
    account: str | None
    reason: str | None
    ticket: str | None = None
    method: str | None = None
    secret_input: Secret | None = None  # reset code or current password, sealed at once


@dataclass(frozen=True)
class Draft:
    requester_id: str
    channel_id: str | None
    response_url: str | None


@dataclass
class HomeData:
    requests: list[RequestView] = field(default_factory=list)
    waiting: list[RequestView] = field(default_factory=list)
    roles: dict[str, set[Role]] = field(default_factory=dict)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class ResetWorkflow:
    def __init__(
        self,
        *,
        sessions,
        providers: dict[Provider, ProviderGateway],
        sealer: Sealer,
        notifier: Notifier,
        executor: Executor,
        admins: Iterable[str] = (),
        approval_ttl: int = 3600,
        reveal_ttl: int = 900,
        clock: Callable[[], datetime] = utcnow,
        replica_id: str | None = None,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
    ) -> None:
        self.sessions = sessions
        self.providers = providers
        self.sealer = sealer
        self.notifier = notifier
        self.executor = executor
        self.admins = frozenset(admins)
        self.approval_ttl = timedelta(seconds=approval_ttl)
        self.reveal_ttl = timedelta(seconds=reveal_ttl)
        self.clock = clock
        self.replica_id = replica_id or f"replica-{secrets.token_hex(4)}"
        self.lease = timedelta(seconds=lease_seconds)
        self._inflight = 0
        self._inflight_lock = threading.Condition()

    # --- asking --------------------------------------------------------------------------------

    def enabled_providers(self) -> list[Provider]:
        return [p for p in Provider if p in self.providers]

    def requestable_providers(self, user_id: str) -> list[Provider]:
        with transaction(self.sessions) as session:
            grants = repo.grants_for(session, user_id)
        return [p for p in self.enabled_providers() if Role.REQUESTER in self._roles(user_id, p, grants)]

    def refusal_for_requester(self, user_id: str) -> str | None:
        """Why this person cannot use /reset-password at all, or None."""
        if self.requestable_providers(user_id):
            return None
        labels = " or ".join(p.label for p in self.enabled_providers()) or "any provider"
        return policy.can_request(set(), labels).reason

    def save_draft(self, draft_id: str, draft: Draft) -> None:
        with transaction(self.sessions) as session:
            repo.add_draft(session, draft_id=draft_id, requester_id=draft.requester_id, channel_id=draft.channel_id,
                           response_url=draft.response_url, now=self.clock())

    def submit(self, form: RequestForm, *, requester_id: str, source_view_id: str | None,
               draft_id: str | None = None, origin_channel: str | None = None) -> tuple[RequestView, bool]:
        """Validate and store a request. Returns (request, created); raises InputErrors or NotAllowed.

        A view submitted twice yields the first request again (`created` False), so a
        double submit never posts two cards.
        """
        now = self.clock()
        with transaction(self.sessions) as session:
            if source_view_id:
                existing = repo.request_by_view_id(session, source_view_id)
                if existing is not None:
                    return existing, False
            provider, account, method, errors = self._validate(session, form)
            if errors:
                raise InputErrors(errors)
            grants = repo.grants_for(session, requester_id)
            decision = policy.can_request(self._roles(requester_id, provider, grants), provider.label)
            if not decision.allowed:
                repo.add_audit(session, at=now, action="request_refused", actor_id=requester_id,
                               provider=provider.value, account=account, detail={"why": decision.reason})
                refused = NotAllowed(decision.reason)
            elif wait := repo.take_budget_slot(session, f"requests:{requester_id}",
                                               limit=REQUESTS_PER_HOUR_PER_ENGINEER, window=timedelta(hours=1),
                                               now=now):
                # The same shared, locked budget as Namecheap's: replicas cannot let an extra one in.
                refused = NotAllowed(
                    f"You have made {REQUESTS_PER_HOUR_PER_ENGINEER} reset requests in the last hour, the most "
                    f"the bot allows. Try again in {max(1, round(wait / 60))} min or ask an admin."
                )
                repo.add_audit(session, at=now, action="request_refused", actor_id=requester_id,
                               provider=provider.value, account=account, detail={"why": "hourly cap"})
            else:
                refused = None
            if refused is None:
                draft = repo.get_draft(session, draft_id) if draft_id else None
                if draft is not None and draft.requester_id != requester_id:
                    draft = None
                request_id = "rr_" + secrets.token_hex(10)
                request = repo.add_request(
                    session,
                    id=request_id,
                    provider=provider.value,
                    account=account,
                    account_input=(form.account or "").strip(),
                    method=method.value,
                    reason=(form.reason or "").strip(),
                    ticket=(form.ticket or "").strip() or None,
                    requester_id=requester_id,
                    origin_channel=(draft.channel_id if draft else origin_channel),
                    response_url=draft.response_url if draft else None,
                    response_url_expires_at=(draft.created_at + RESPONSE_URL_LIFETIME) if draft else None,
                    source_view_id=source_view_id,
                    status=Status.PENDING.value,
                    created_at=now,
                    updated_at=now,
                    expires_at=now + self.approval_ttl,
                    execution_attempts=0,
                    reveal_state=RevealState.NONE.value,
                    sealed_input=(
                        self.sealer.seal(form.secret_input, request_id=request_id, purpose=INPUT)
                        if method in (Method.RESET_CODE, Method.CURRENT_PASSWORD) else None
                    ),
                )
                if request is None:  # a concurrent duplicate submit won
                    return repo.request_by_view_id(session, source_view_id), False
                repo.add_audit(session, at=now, action="requested", actor_id=requester_id, request=request,
                               detail={"method": method.value, "ticket": request.ticket,
                                       "account_input": request.account_input})
        if refused is not None:
            raise refused
        return request, True

    def announce(self, request: RequestView) -> RequestView:
        """Post the approval card and tell the requester it waits (after the modal's ack)."""
        card = self.notifier.post_card(request)
        if card is not None:
            with transaction(self.sessions) as session:
                repo.set_fields(session, request.id, card_channel=card.channel, card_ts=card.ts)
                request = repo.get_request(session, request.id)
            self._run_in_background(self._add_account_context, request.id)
        self.notifier.tell_requester(request)
        return request

    def _add_account_context(self, request_id: str) -> None:
        """Show approvers what the provider says of the account (read-only), while the card waits."""
        with transaction(self.sessions) as session:
            request = repo.get_request(session, request_id)
            vpanel = repo.vpanel_for_key(session, request.account) if request else None
        gateway = self.providers.get(request.provider) if request else None
        if gateway is None or vpanel is None:
            return
        result = gateway.lookup(vpanel_username=vpanel)
        if result is None:
            return
        with transaction(self.sessions) as session:
            # Locked while the card is rewritten: a decision taken meanwhile waits, then rewrites it after us;
            # one taken before leaves the request no longer pending, and the context is dropped.
            request = repo.lock_request(session, request_id)
            if request.status is Status.PENDING:
                self.notifier.update_card(request, context=_account_context(request, vpanel, result))

    def _validate(self, session, form: RequestForm) -> tuple[Provider | None, str, Method | None, dict[str, str]]:
        errors: dict[str, str] = {}
        provider = None
        try:
            provider = Provider((form.provider or "").strip())
        except ValueError:
            errors["provider"] = "Choose a provider."
        if provider is not None and provider not in self.providers:
            errors["provider"] = f"{provider.label} is not enabled on this bot."
        reason = (form.reason or "").strip()
        if len(reason) < 10:
            errors["reason"] = "Give a reason of at least 10 characters: it goes to the approvers and the audit trail."
        elif len(reason) > 1000:
            errors["reason"] = "Keep the reason under 1000 characters."
        if form.ticket and len(form.ticket.strip()) > 64:
            errors["ticket"] = "A ticket reference is at most 64 characters."
        raw_account = (form.account or "").strip()
        account, method = raw_account, None
        if provider is Provider.MOFH:
            method = Method.SET_PASSWORD
            account = self._mofh_key(session, raw_account, errors)
        elif provider is Provider.NAMECHEAP:
            try:
                method = Method(form.method or "")
                if method is Method.SET_PASSWORD:
                    raise ValueError
            except ValueError:
                errors["method"] = "Choose how to reset the Namecheap password."
            if not raw_account:
                errors["account"] = "Enter the Namecheap username."
            elif not NAMECHEAP_USERNAME.match(raw_account):
                errors["account"] = "A Namecheap username is at most 20 letters, digits, dots, dashes or underscores."
            secret = form.secret_input.reveal().strip() if form.secret_input else ""
            if method is Method.RESET_CODE and not RESET_CODE.match(secret):
                errors["secret"] = "Paste the reset code from Namecheap's e-mail: up to 50 letters and digits."
            if method is Method.CURRENT_PASSWORD and not (1 <= len(secret) <= 20):
                errors["secret"] = "Enter the account's current password (at most 20 characters)."
        if errors:
            return provider, account, method, errors
        return provider, account, method, {}

    def _mofh_key(self, session, raw: str, errors: dict[str, str]) -> str:
        if not raw:
            errors["account"] = "Enter the account key, vPanel username or domain."
            return raw
        if MOFH_KEY.match(raw):
            return raw
        if VPANEL_USERNAME.match(raw):
            key = repo.key_for_vpanel_username(session, raw)
            if key:
                return key
            errors["account"] = (
                f"{raw} is a vPanel username, and the account directory has no account key for it. "
                "Enter the 8-character account key, or ask an admin to run `resetbot accounts import`."
            )
            return raw
        if DOMAIN.match(raw):
            key = repo.key_for_domain(session, raw)
            if key:
                return key
            errors["account"] = (
                f"The account directory has no MyOwnFreeHost account for the domain {raw}. "
                "Enter the 8-character account key instead."
            )
            return raw
        errors["account"] = (
            "A MyOwnFreeHost account key is at most 8 letters and digits; "
            "you can also enter a vPanel username (abcd_12345678) or a domain."
        )
        return raw

    # --- deciding ------------------------------------------------------------------------------

    def approve(self, request_id: str, approver_id: str, seen_card: MessageRef | None = None) -> RequestView:
        """Win the compare-and-set PENDING → EXECUTING, then run the provider call in the background."""

        def start_executing(session, request: RequestView, now: datetime) -> bool:
            gateway = self.providers.get(request.provider)
            if gateway is None:
                raise NotAllowed(f"{request.provider_label} is no longer enabled on this bot.")
            sealed = None
            if request.method.sets_new_password:  # sealed and stored before the call: a crash can be resumed
                sealed = self.sealer.seal(passwords.generate(gateway.rules), request_id=request.id, purpose=PASSWORD)
            return repo.transition(
                session, request.id, from_status=Status.PENDING, to_status=Status.EXECUTING, now=now,
                decided_by=approver_id, decided_at=now, sealed_password=sealed,
                lease_owner=self.replica_id, lease_expires_at=now + self.lease, execution_attempts=1,
            )

        request = self._decide(request_id, approver_id, "approve", "approved", seen_card, start_executing)
        self.notifier.update_card(request)
        self._run_in_background(self.execute, request.id, self.replica_id)
        return request

    def deny(self, request_id: str, approver_id: str, seen_card: MessageRef | None = None) -> RequestView:
        def end_denied(session, request: RequestView, now: datetime) -> bool:
            return repo.transition(session, request.id, from_status=Status.PENDING, to_status=Status.DENIED,
                                   now=now, decided_by=approver_id, decided_at=now, sealed_input=None,
                                   outcome_message="Denied by an approver.")

        request = self._decide(request_id, approver_id, "deny", "denied", seen_card, end_denied)
        self._notify_final(request)
        return request

    def _decide(self, request_id: str, approver_id: str, verb: str, done: str, seen_card: MessageRef | None,
                move: Callable[..., bool]) -> RequestView:
        """Policy check, then `move` (a compare-and-set); refusals and expiry are audited and told."""
        now = self.clock()
        expired = None
        with transaction(self.sessions) as session:
            request = self._get(session, request_id)
            decision = self._decision(session, approver_id, request, now, verb)
            if decision.allowed:
                self._adopt_card(session, request, seen_card)
                if move(session, request, now):
                    request = repo.get_request(session, request.id)
                    repo.add_audit(session, at=now, action=done, actor_id=approver_id, request=request)
                else:  # another click, approver or replica won the compare-and-set
                    decision = Decision.deny(policy.already_decided(repo.get_request(session, request.id)))
            else:
                expired = self._expire_if_due(session, request, now)
            if not decision.allowed:
                repo.add_audit(session, at=now, action=f"{verb}_refused", actor_id=approver_id, request=request,
                               detail={"why": decision.reason})
        if expired is not None:
            self._notify_final(expired)
        if not decision.allowed:
            raise NotAllowed(decision.reason)
        return request

    def _adopt_card(self, session, request: RequestView, seen_card: MessageRef | None) -> None:
        """An allowed click can arrive before announce() has stored the card it was made on."""
        if request.card is None and seen_card is not None:
            repo.set_fields(session, request.id, card_channel=seen_card.channel, card_ts=seen_card.ts)

    def _decision(self, session, user_id: str, request: RequestView, now: datetime, verb: str) -> Decision:
        roles = self._roles(user_id, request.provider, repo.grants_for(session, user_id))
        return policy.can_decide(user_id, roles, request, now, verb)

    def _expire_if_due(self, session, request: RequestView, now: datetime) -> RequestView | None:
        if request.status is Status.PENDING and now >= request.expires_at:
            if repo.transition(session, request.id, from_status=Status.PENDING, to_status=Status.EXPIRED, now=now,
                               sealed_input=None,
                               outcome_message="Expired: nobody approved it in time. Ask again if it is still needed."):
                expired = repo.get_request(session, request.id)
                repo.add_audit(session, at=now, action="expired", request=expired)
                return expired
        return None

    # --- executing -----------------------------------------------------------------------------

    def execute(self, request_id: str, lease_owner: str) -> RequestView | None:
        """Call the provider for a request this replica holds the lease on, then record the outcome."""
        with transaction(self.sessions) as session:
            request = repo.get_request(session, request_id)
            sealed_password, sealed_input = repo.sealed_values(session, request_id)
        if request is None or request.status is not Status.EXECUTING:
            return request
        gateway = self.providers.get(request.provider)
        try:
            new_password = (self.sealer.open(sealed_password, request_id=request.id, purpose=PASSWORD)
                            if sealed_password else None)
            secret_input = (self.sealer.open(sealed_input, request_id=request.id, purpose=INPUT)
                            if sealed_input else None)
        except SealBroken:
            result = ChangeResult(outcome=Outcome.BAD_REQUEST, attempts=0,
                                  message="The sealed secret for this request could not be opened (wrong "
                                          "RESETBOT_SEAL_KEY?), so nothing was sent to the provider.")
        else:
            if gateway is None:
                result = ChangeResult(outcome=Outcome.BAD_REQUEST, attempts=0,
                                      message=f"{request.provider_label} is not enabled on this replica.")
            else:
                with self._lease_kept(request.id, lease_owner):
                    result = gateway.execute(account=request.account, method=request.method,
                                             new_password=new_password, secret_input=secret_input)
        return self._record_outcome(request, result, lease_owner, gateway)

    @contextmanager
    def _lease_kept(self, request_id: str, owner: str) -> Iterator[None]:
        """Renew the execution lease while the provider call runs (it may take 2 × 60 s)."""
        done = threading.Event()

        def renew() -> None:
            interval = self.lease.total_seconds() / 3
            while not done.wait(interval):
                try:
                    with transaction(self.sessions) as session:
                        now = self.clock()
                        if not repo.renew_lease(session, request_id, owner=owner, until=now + self.lease):
                            return
                except Exception:  # the database is away: the next tick tries again
                    log.warning("could not renew the lease of %s", request_id)

        keeper = threading.Thread(target=renew, name=f"lease-{request_id}", daemon=True)
        keeper.start()
        try:
            yield
        finally:
            done.set()

    def _record_outcome(self, request: RequestView, result: ChangeResult, lease_owner: str,
                        gateway: ProviderGateway | None) -> RequestView | None:
        now = self.clock()
        detail = {"outcome": result.outcome.value, "attempts": result.attempts}
        if result.error_numbers:
            detail["error_numbers"] = list(result.error_numbers)
        if result.account_status:
            detail["account_status"] = result.account_status
        with transaction(self.sessions) as session:
            row = repo.get_request(session, request.id)
            attempts_so_far = repo.execution_attempts(session, request.id)
            retry_later = (
                gateway is not None and gateway.same_password_retry_is_safe and result.retryable
                and attempts_so_far < MAX_EXECUTION_ATTEMPTS
            )
            if retry_later:
                # Same sealed password, later: MyOwnFreeHost treats a repeat as success (§1.6).
                retry_note = f"{result.message} The bot will try again with the same password in a minute."
                repo.set_fields(session, request.id, lease_expires_at=now + MOFH_RETRY_BACKOFF,
                                outcome=result.outcome.value, outcome_message=retry_note)
                repo.add_audit(session, at=now, action="provider_retry_scheduled", request=row, detail=detail)
                final = None
            else:
                status = _status_for(result, gateway)
                values = dict(outcome=result.outcome.value, outcome_message=_outcome_sentence(result, status),
                              sealed_input=None, lease_owner=None, lease_expires_at=None, email=result.email)
                if status is Status.SUCCEEDED and request.method.sets_new_password:
                    values.update(reveal_state=RevealState.READY.value, reveal_token="sec_" + secrets.token_urlsafe(18),
                                  reveal_expires_at=now + self.reveal_ttl)
                else:
                    values.update(sealed_password=None)
                if not repo.transition(session, request.id, from_status=Status.EXECUTING, to_status=status, now=now,
                                       held_by=lease_owner, **values):
                    log.warning("request %s was finished by another replica; outcome %s not recorded",
                                request.id, result.outcome.value)
                    return None
                final = repo.get_request(session, request.id)
                repo.add_audit(session, at=now, action="provider_outcome", request=final,
                               detail={**detail, "status": status.value})
        if final is None:
            self.notifier.tell_requester(replace(row, outcome_message=retry_note))
            return row
        self._notify_final(final)
        return final

    def _notify_final(self, request: RequestView) -> None:
        self.notifier.update_card(request)
        self.notifier.tell_requester(request)
        if request.reveal_state is RevealState.READY:
            dm = self.notifier.send_reveal(request)
            if dm is not None:
                with transaction(self.sessions) as session:
                    repo.set_fields(session, request.id, dm_channel=dm.channel, dm_ts=dm.ts)

    def _run_in_background(self, fn, *args) -> None:
        with self._inflight_lock:
            self._inflight += 1

        def run() -> None:
            try:
                fn(*args)
            except Exception:  # the request stays EXECUTING; the sweep recovers it after the lease
                log.exception("background provider work failed for %s", args[0])
            finally:
                with self._inflight_lock:
                    self._inflight -= 1
                    self._inflight_lock.notify_all()

        self.executor.submit(run)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until no provider call is in flight (SIGTERM drain, tests)."""
        with self._inflight_lock:
            return self._inflight_lock.wait_for(lambda: self._inflight == 0, timeout)

    # --- revealing -----------------------------------------------------------------------------

    def begin_reveal(self, token: str, user_id: str) -> tuple[RequestView, Secret]:
        """Claim the one reveal; the caller shows the secret, then calls finish_reveal or abandon_reveal."""
        now = self.clock()
        expired = None
        with transaction(self.sessions) as session:
            request = repo.request_by_reveal_token(session, token)
            if request is None:
                raise RequestNotFound("This reveal button no longer matches a reset request.")
            decision = policy.can_reveal(user_id, request, now)
            if decision.allowed and not repo.claim_reveal(session, token, now=now,
                                                          stale_before=now - REVEAL_CLAIM_TIMEOUT):
                decision = Decision.deny("This password was already revealed; it is shown only once.")
            if not decision.allowed:
                repo.add_audit(session, at=now, action="reveal_refused", actor_id=user_id, request=request,
                               detail={"why": decision.reason})
                expired = self._expire_reveal(session, token, now)
            else:
                sealed, _ = repo.sealed_values(session, request.id)
        if expired is not None:
            self.notifier.update_reveal(expired)
        if not decision.allowed:
            raise NotAllowed(decision.reason)
        try:
            return request, self.sealer.open(sealed, request_id=request.id, purpose=PASSWORD)
        except (SealBroken, TypeError):
            with transaction(self.sessions) as session:
                repo.set_reveal_state(session, token, from_state=RevealState.OPENING, to_state=RevealState.EXPIRED,
                                      now=now, sealed_password=None)
            raise NotAllowed("The stored password could not be opened, so it was destroyed. Ask for a new reset.")

    def finish_reveal(self, token: str, user_id: str) -> RequestView:
        now = self.clock()
        with transaction(self.sessions) as session:
            repo.set_reveal_state(session, token, from_state=RevealState.OPENING, to_state=RevealState.REVEALED,
                                  now=now, sealed_password=None)
            request = repo.request_by_reveal_token(session, token)
            repo.add_audit(session, at=now, action="revealed", actor_id=user_id, request=request)
        self.notifier.update_reveal(request)
        return request

    def customer_informed(self, request_id: str, user_id: str) -> RequestView:
        """The engineer confirms the customer was told and asked to change the password (ASVS V6.3.6)."""
        now = self.clock()
        with transaction(self.sessions) as session:
            request = self._get(session, request_id)
            if not repo.mark_customer_informed(session, request.id, requester_id=user_id, now=now):
                if user_id != request.requester_id:
                    raise NotAllowed("Only the engineer who asked for this reset can confirm that.")
                raise NotAllowed("This was already confirmed.")
            request = repo.get_request(session, request.id)
            repo.add_audit(session, at=now, action="customer_informed", actor_id=user_id, request=request)
        self.notifier.update_reveal(request)
        return request

    def abandon_reveal(self, token: str) -> None:
        """The modal could not be shown: the reveal is not used up."""
        with transaction(self.sessions) as session:
            repo.set_reveal_state(session, token, from_state=RevealState.OPENING, to_state=RevealState.READY,
                                  now=self.clock())

    def _expire_reveal(self, session, token: str, now: datetime) -> RequestView | None:
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

    # --- sweeping (every replica, periodically and on start) ----------------------------------------

    def sweep(self) -> int:
        """Expire what is due and recover executions whose replica died. Returns how many it touched."""
        now = self.clock()
        touched: list[RequestView] = []
        reveals: list[RequestView] = []
        with transaction(self.sessions) as session:
            for request_id in repo.pending_past_expiry(session, now):
                expired = self._expire_if_due(session, repo.get_request(session, request_id), now)
                if expired:
                    touched.append(expired)
        with transaction(self.sessions) as session:
            for token in repo.reveals_past_expiry(session, now):
                expired = self._expire_reveal(session, token, now)
                if expired:
                    reveals.append(expired)
            repo.delete_drafts_before(session, now - timedelta(hours=1))
            repo.forget_events_before(session, now - timedelta(hours=2))
        for request in touched:
            self._notify_final(request)
        for request in reveals:
            self.notifier.update_reveal(request)
        return (len(touched) + len(reveals) + self.recover_executions() + self.repost_missing_cards()
                + self.resend_missing_reveals())

    def repost_missing_cards(self, grace: timedelta | None = None) -> int:
        """A card Slack refused to post (5xx, outage) is posted again, so no request waits unseen."""
        with transaction(self.sessions) as session:
            cutoff = self.clock() - (CARD_GRACE if grace is None else grace)
            missing = [repo.get_request(session, rid) for rid in repo.pending_without_card(session, cutoff)]
        posted = 0
        for request in missing:
            card = self.notifier.post_card(request)
            if card is not None:
                posted += 1
                with transaction(self.sessions) as session:
                    repo.set_fields(session, request.id, card_channel=card.channel, card_ts=card.ts)
        return posted

    def resend_missing_reveals(self, grace: timedelta | None = None) -> int:
        """A replica that died between recording success and sending the DM leaves a password
        nobody can reveal: a live replica sends the Reveal button (the same one-time token)."""
        now = self.clock()
        with transaction(self.sessions) as session:
            cutoff = now - (CARD_GRACE if grace is None else grace)
            waiting = [repo.get_request(session, rid) for rid in repo.reveals_without_dm(session, cutoff, now)]
        sent = 0
        for request in waiting:
            dm = self.notifier.send_reveal(request)
            if dm is not None:
                sent += 1
                with transaction(self.sessions) as session:
                    repo.set_fields(session, request.id, dm_channel=dm.channel, dm_ts=dm.ts)
        return sent

    def recover_executions(self) -> int:
        now = self.clock()
        recovered = 0
        with transaction(self.sessions) as session:
            lapsed = repo.executions_with_lapsed_lease(session, now)
            claimed = [rid for rid in lapsed
                       if repo.take_over_lease(session, rid, owner=self.replica_id, now=now, until=now + self.lease)]
        for request_id in claimed:
            recovered += 1
            with transaction(self.sessions) as session:
                request = repo.get_request(session, request_id)
                attempts = repo.execution_attempts(session, request_id)
                repo.add_audit(session, at=now, action="execution_recovered", request=request,
                               detail={"attempt": attempts})
            gateway = self.providers.get(request.provider)
            if gateway is not None and gateway.same_password_retry_is_safe and attempts <= MAX_EXECUTION_ATTEMPTS:
                self._run_in_background(self.execute, request_id, self.replica_id)
            else:
                unknown = ChangeResult(
                    outcome=Outcome.UNKNOWN, certainty=AMBIGUOUS, attempts=0,
                    message=f"The bot stopped while calling {request.provider_label}, so the outcome is unknown — "
                            "verify by logging in to the account before asking again.",
                )
                self._record_outcome(request, unknown, self.replica_id, None)
        return recovered

    # --- App Home, roles, directory, audit -------------------------------------------------------

    def home_for(self, user_id: str) -> HomeData:
        with transaction(self.sessions) as session:
            grants = repo.grants_for(session, user_id)
            roles = {p.value: self._roles(user_id, p, grants) for p in self.enabled_providers()}
            approvable = [p for p, r in roles.items() if Role.APPROVER in r]
            waiting = [r for r in repo.pending_requests(session, approvable) if r.requester_id != user_id]
            return HomeData(requests=repo.requests_of(session, user_id), waiting=waiting, roles=roles)

    def ping(self) -> bool:
        """True when the database answers (GET /healthz)."""
        try:
            with transaction(self.sessions) as session:
                repo.ping(session)
            return True
        except Exception:  # any failure means "not healthy"; the reason is in the database's own logs
            return False

    def get(self, request_id: str) -> RequestView:
        with transaction(self.sessions) as session:
            return self._get(session, request_id)

    def first_sighting(self, event_id: str) -> bool:
        with transaction(self.sessions) as session:
            return repo.first_sighting(session, event_id, self.clock())

    def grant(self, user_id: str, role: Role, provider: str | None, actor: str | None) -> bool:
        now = self.clock()
        with transaction(self.sessions) as session:
            added = repo.add_grant(session, user_id=user_id, role=role, provider=provider, granted_by=actor, now=now)
            if added:
                repo.add_audit(session, at=now, action="role_granted", actor_id=actor, provider=provider,
                               detail={"user": user_id, "role": role.value})
        return added

    def revoke(self, user_id: str, role: Role, provider: str | None, actor: str | None) -> bool:
        now = self.clock()
        with transaction(self.sessions) as session:
            removed = repo.remove_grant(session, user_id=user_id, role=role, provider=provider)
            if removed:
                repo.add_audit(session, at=now, action="role_revoked", actor_id=actor, provider=provider,
                               detail={"user": user_id, "role": role.value})
        return removed

    def grants(self) -> list[RoleGrant]:
        with transaction(self.sessions) as session:
            return repo.all_grants(session)

    def import_directory(self, rows: list[tuple[str, str, str | None]], actor: str | None = None) -> None:
        now = self.clock()
        with transaction(self.sessions) as session:
            for key, vpanel, domain in rows:
                repo.put_directory_entry(session, account_key=key, vpanel_username=vpanel, domain=domain)
            repo.add_audit(session, at=now, action="directory_imported", actor_id=actor, provider="mofh",
                           detail={"rows": len(rows)})

    def directory(self) -> list[tuple[str, str, str | None]]:
        with transaction(self.sessions) as session:
            return repo.directory_entries(session)

    def audit_trail(self, since: datetime | None = None) -> Iterator[AuditRecord]:
        with transaction(self.sessions) as session:
            yield from repo.audit_events(session, since)

    def _get(self, session, request_id: str) -> RequestView:
        request = repo.get_request(session, request_id) if isinstance(request_id, str) else None
        if request is None:
            raise RequestNotFound("That reset request does not exist (any more).")
        return request

    def _roles(self, user_id: str, provider: Provider, grants: list[RoleGrant]) -> set[Role]:
        return policy.roles_for(user_id, provider.value, grants, self.admins)


def _account_context(request: RequestView, vpanel: str, result) -> str:
    where = f"{request.provider_label} ({vpanel})"
    domains = ", ".join(result.domains[:5]) + (" …" if len(result.domains) > 5 else "")
    if result.outcome is Outcome.LOOKUP_OK and result.account_state == "ACTIVE":
        return f"{where}: account active; domains {domains}."
    if result.outcome is Outcome.LOOKUP_OK:
        return (f":warning: {where}: account {result.account_state or 'state unknown'}; domains {domains}. "
                "A suspended account refuses password changes.")
    if result.outcome is Outcome.LOOKUP_EMPTY:
        return f":warning: {where} lists no domains for this account."
    return f"Account lookup at {request.provider_label} failed: {result.message}"


def _status_for(result: ChangeResult, gateway: ProviderGateway | None) -> Status:
    if result.ok:
        return Status.SUCCEEDED
    ambiguous = result.certainty == AMBIGUOUS or result.outcome in (Outcome.UNKNOWN,)
    if result.outcome is Outcome.PROVIDER_UNAVAILABLE and result.attempts > 0:
        ambiguous = True
    if ambiguous and result.outcome is not Outcome.ACCOUNT_NOT_FOUND:
        return Status.UNKNOWN
    return Status.FAILED


def _outcome_sentence(result: ChangeResult, status: Status) -> str:
    if status is Status.UNKNOWN and "verify" not in result.message.lower():
        return f"{result.message} Outcome unknown — verify by logging in to the account before asking again."
    return result.message



__all__ = ["Draft", "HomeData", "InvalidTransition", "Notifier", "RequestForm", "ResetWorkflow"]
