"""Intake: who may ask, validating and storing a request, and announcing it to the approvers.

A view submitted twice yields the first request again, so a double submit never posts two
cards. The approval card is posted after the modal's ack; while it waits, approvers get
read-only account context from the provider.
"""

from __future__ import annotations

import re
import secrets
from datetime import timedelta
from typing import Any

from bot import policy
from bot.domain import InputErrors, Method, NotAllowed, Provider, RequestView, RevealState, Role, Status
from bot.forms import Draft, RequestForm
from bot.providers import LookupResult, Outcome
from bot.workflow.context import INPUT, Context
from storage import repository as repo
from storage.db import transaction

RESPONSE_URL_LIFETIME = timedelta(minutes=29)  # Slack keeps it 30 minutes
REQUESTS_PER_HOUR_PER_ENGINEER = 20

MOFH_KEY = re.compile(r"^[A-Za-z0-9]{1,8}$")
VPANEL_USERNAME = re.compile(r"^[a-z0-9]{1,16}_[0-9]{6,10}$", re.IGNORECASE)
DOMAIN = re.compile(r"^(?=.{4,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$", re.IGNORECASE)
NAMECHEAP_USERNAME = re.compile(r"^[A-Za-z0-9._-]{1,20}$")
RESET_CODE = re.compile(r"^[A-Za-z0-9]{1,50}$")


class Intake:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def enabled_providers(self) -> list[Provider]:
        return self.ctx.enabled_providers()

    def requestable_providers(self, user_id: str) -> list[Provider]:
        with transaction(self.ctx.sessions) as session:
            grants = repo.grants_for(session, user_id)
        return [p for p in self.ctx.enabled_providers() if Role.REQUESTER in self.ctx.roles(user_id, p, grants)]

    def refusal_for_requester(self, user_id: str) -> str | None:
        """Why this person cannot use /reset-password at all, or None."""
        if self.requestable_providers(user_id):
            return None
        labels = " or ".join(p.label for p in self.ctx.enabled_providers()) or "any provider"
        return policy.can_request(set(), labels).reason

    def save_draft(self, draft_id: str, draft: Draft) -> None:
        with transaction(self.ctx.sessions) as session:
            repo.add_draft(session, draft_id=draft_id, requester_id=draft.requester_id, channel_id=draft.channel_id,
                           response_url=draft.response_url, now=self.ctx.clock())

    def submit(self, form: RequestForm, *, requester_id: str, source_view_id: str | None,
               draft_id: str | None = None, origin_channel: str | None = None) -> tuple[RequestView, bool]:
        """Validate and store a request. Returns (request, created); raises InputErrors or NotAllowed.

        A view submitted twice yields the first request again (`created` False), so a
        double submit never posts two cards.
        """
        ctx = self.ctx
        now = ctx.clock()
        with transaction(ctx.sessions) as session:
            if source_view_id:
                existing = repo.request_by_view_id(session, source_view_id)
                if existing is not None:
                    return existing, False
            provider, account, method, errors = self._validate(session, form)
            if errors:
                raise InputErrors(errors)
            grants = repo.grants_for(session, requester_id)
            decision = policy.can_request(ctx.roles(requester_id, provider, grants), provider.label)
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
                    expires_at=now + ctx.approval_ttl,
                    execution_attempts=0,
                    reveal_state=RevealState.NONE.value,
                    sealed_input=(
                        ctx.sealer.seal(form.secret_input, request_id=request_id, purpose=INPUT)
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
        ctx = self.ctx
        card = ctx.notifier.post_card(request)
        if card is not None:
            with transaction(ctx.sessions) as session:
                repo.set_fields(session, request.id, card_channel=card.channel, card_ts=card.ts)
                request = repo.get_request(session, request.id)
            ctx.background.run(self._add_account_context, request.id)
        ctx.notifier.tell_requester(request)
        return request

    def _add_account_context(self, request_id: str) -> None:
        """Show approvers what the provider says of the account (read-only), while the card waits."""
        ctx = self.ctx
        with transaction(ctx.sessions) as session:
            request = repo.get_request(session, request_id)
            vpanel = repo.vpanel_for_key(session, request.account) if request else None
        gateway = ctx.providers.get(request.provider) if request else None
        if gateway is None or vpanel is None:
            return
        result = gateway.lookup(vpanel_username=vpanel)
        if result is None:
            return
        with transaction(ctx.sessions) as session:
            # Locked while the card is rewritten: a decision taken meanwhile waits, then rewrites it after us;
            # one taken before leaves the request no longer pending, and the context is dropped.
            request = repo.lock_request(session, request_id)
            if request.status is Status.PENDING:
                ctx.notifier.update_card(request, context=_account_context(request, vpanel, result))

    def _validate(self, session: Any, form: RequestForm) -> tuple[Provider | None, str, Method | None, dict[str, str]]:
        errors: dict[str, str] = {}
        provider = None
        try:
            provider = Provider((form.provider or "").strip())
        except ValueError:
            errors["provider"] = "Choose a provider."
        if provider is not None and provider not in self.ctx.providers:
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

    def _mofh_key(self, session: Any, raw: str, errors: dict[str, str]) -> str:
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


def _account_context(request: RequestView, vpanel: str, result: LookupResult) -> str:
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
