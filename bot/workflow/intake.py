"""Intake: who may ask, validating and storing a request, and announcing it to the approvers.

The provider's part of the form (method, account, typed secret) is checked by its plugin
(bot/providers/plugin.py: read_request), with the account directory bound to this unit of
work; intake checks the rest. A view submitted twice yields the first request again, so a
double submit never posts two cards. A provider and account with an open request (waiting
or being changed) take no second one: an input error under Account that names it, also
when two submits race on two replicas (a partial unique index decides: storage/models.py).

The approval card is posted after the modal's ack, by whoever claims it (storage/repository.py:
claim_card_post): first without buttons, then, once its place is stored, with them
(`post_approval_card`), so there is never more than one card with buttons for a request.
While it waits, approvers get read-only account context from the provider.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta
from typing import Any

from bot import metrics, policy
from bot.domain import (
    CardRefused,
    InputErrors,
    MessageRef,
    Method,
    NotAllowed,
    ProviderInfo,
    ProviderName,
    RefusalCode,
    RequestView,
    RevealState,
    Role,
    RoleGrant,
    Status,
)
from bot.forms import Draft, RequestForm, typed_text
from bot.providers import LookupResult, Outcome
from bot.secret import Secret
from bot.workflow.alerts import watch_soon
from bot.workflow.context import INPUT, Context, Notifier, audit_refusal, refusal
from bot.workflow.policies import effective_policy
from bot.workflow.requester_dm import post_requester_dm
from storage import repository as repo
from storage.db import transaction

RESPONSE_URL_LIFETIME = timedelta(minutes=29)  # Slack keeps it 30 minutes

log = logging.getLogger(__name__)


class SessionDirectory:
    """The account directory as a plugin asks it (bot/providers/plugin.py: AccountDirectory), in one unit of work."""

    def __init__(self, session: Any) -> None:
        self.session = session

    def key_for_vpanel_username(self, vpanel_username: str) -> str | None:
        return repo.key_for_vpanel_username(self.session, vpanel_username)

    def key_for_domain(self, domain: str) -> str | None:
        return repo.key_for_domain(self.session, domain)

    def names_for(self, account: str) -> tuple[str, ...]:
        """What the directory calls an account besides its key (a vPanel username), for the provider's lookups."""
        name = repo.vpanel_for_key(self.session, account)
        return (name,) if name else ()


class Intake:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def enabled_providers(self) -> list[ProviderInfo]:
        """The providers enabled here, in registry order, as the modal shows them."""
        return self._described(self.ctx.enabled_providers())

    def requestable_providers(self, user_id: str) -> list[ProviderInfo]:
        """The enabled providers this person may request for: what the modal offers them."""
        enabled = self.ctx.enabled_providers()
        # Requester groups' members, from Slack: refused with its sentence only when it cannot tell and nothing else
        # lets this person request (context.py: member_groups).
        groups, grants = self.ctx.member_groups_and_grants(user_id, Role.REQUESTER, enabled)
        return self._described([p for p in enabled if Role.REQUESTER in self.ctx.roles(user_id, p, grants, groups)])

    def refusal_for_requester(self, user_id: str) -> str | None:
        """Why this person cannot use /reset-password at all, or None."""
        if self.requestable_providers(user_id):
            return None
        labels = " or ".join(p.label for p in self.enabled_providers()) or "any provider"
        return policy.can_request(set(), labels).reason

    def _described(self, names: list[ProviderName]) -> list[ProviderInfo]:
        catalog = self.ctx.catalog
        return [info for info in (catalog.get(name) for name in names) if info is not None]

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
        chosen = (form.provider or "").strip()
        where = [chosen] if chosen in ctx.providers else []
        groups: frozenset[str] | None = None  # not asked of Slack: the grants read below say whether it must be
        while True:
            try:
                with _open_request_is_an_input_error(), transaction(ctx.sessions) as session:
                    # The grants judge the request in the unit of work that stores it; only grants to user groups
                    # that could give the role send the submit to Slack first, outside any transaction.
                    grants = repo.grants_for(session, requester_id)
                    if groups is None and any(policy.groups_to_ask(requester_id, p, Role.REQUESTER, grants, ctx.admins)
                                              for p in where):
                        raise _AskSlackFirst
                    request, created, refused, provider = self._store(
                        session, form, requester_id=requester_id, source_view_id=source_view_id, draft_id=draft_id,
                        origin_channel=origin_channel, grants=grants, groups=groups or frozenset())
                break
            except _AskSlackFirst:  # nothing was written: ask, then store with what Slack said
                groups = ctx.member_groups(requester_id, Role.REQUESTER, where, refused_as="request_refused")
        if not created and refused is None:
            assert request is not None
            return request, False
        watch_soon(ctx, requester_id, provider)  # insider-risk signals, checked off the ack path (alerts.py)
        if refused is not None:
            raise refused
        assert request is not None  # stored above: a refusal raised instead
        metrics.REQUESTS.labels(request.provider, request.method.value).inc()
        return request, True

    def _store(self, session: Any, form: RequestForm, *, requester_id: str, source_view_id: str | None,
               draft_id: str | None, origin_channel: str | None, grants: list[RoleGrant],
               groups: frozenset[str]) -> tuple[RequestView | None, bool, NotAllowed | None, ProviderName]:
        """submit's unit of work: (the request, whether it is new, the refusal to raise after the commit, the
        provider); raises InputErrors."""
        ctx = self.ctx
        request: RequestView | None = None
        now = ctx.db_now(session)  # expiry and the hourly window are on the database's clock (context.py)
        if source_view_id:
            existing = repo.request_by_view_id(session, source_view_id)
            if existing is not None:
                return existing, False, None, existing.provider
        provider, account, method, to_seal, errors = self._validate(session, form)
        if errors:
            raise InputErrors(errors)
        assert method is not None  # no errors: the plugin chose one
        rules = effective_policy(session, ctx, provider)  # the provider's approval policy, as of now
        decision = policy.can_request(ctx.roles(requester_id, provider, grants, groups), ctx.label(provider))
        if not decision.allowed:
            refused = refusal(decision.reason, audit_refusal(
                session, now=now, action="request_refused", actor_id=requester_id, provider=provider,
                account=account, why=decision.reason, code=decision.code))
        elif (open_request := repo.open_request_for(session, provider, account)) is not None:
            raise InputErrors({"account": open_request_sentence(open_request)})
        elif rules.requests_per_hour and (
                wait := repo.take_budget_slot(session, f"requests:{requester_id}:{provider}",
                                              limit=rules.requests_per_hour, window=timedelta(hours=1), now=now)):
            # The same shared, locked budget as Namecheap's, per engineer and provider: replicas cannot let an
            # extra one in. A refusal takes no slot; 0 = no cap takes none either.
            refused = NotAllowed(
                f"You have made {rules.requests_per_hour} reset requests in the last hour for "
                f"{ctx.label(provider)}, the most its policy allows. Try again in {max(1, round(wait / 60))} "
                "min."
            )
            audit_refusal(session, now=now, action="request_refused", actor_id=requester_id, provider=provider,
                          account=account, why="hourly cap", code=RefusalCode.HOURLY_CAP)
        else:
            refused = None
        if refused is None:
            draft = repo.get_draft(session, draft_id) if draft_id else None
            if draft is not None and draft.requester_id != requester_id:
                draft = None
            request_id = "rr_" + secrets.token_hex(10)
            reason = typed_text(form.reason)  # normalised as _validate checked it (bot/forms.py)
            ticket = typed_text(form.ticket, multiline=False) or None
            account_input = (form.account or "").strip()
            request = repo.add_request(
                session,
                # Stored with the request, only when it is (one statement on PostgreSQL).
                audit={"at": now, "action": "requested", "actor_id": requester_id,
                       "detail": {"method": method.value, "reason": reason, "ticket": ticket,
                                  "account_input": account_input}},
                id=request_id,
                provider=provider,
                account=account,
                account_input=account_input,
                method=method.value,
                reason=reason,
                ticket=ticket,
                requester_id=requester_id,
                origin_channel=(draft.channel_id if draft else origin_channel),
                response_url=draft.response_url if draft else None,
                response_url_expires_at=(draft.created_at + RESPONSE_URL_LIFETIME) if draft else None,
                source_view_id=source_view_id,
                status=Status.PENDING.value,
                created_at=now,
                updated_at=now,
                expires_at=now + timedelta(seconds=rules.expire_after),
                # The request keeps the policy it was made under (bot/workflow/policies.py).
                approvals_needed=rules.approvals,
                remind_at=now + timedelta(seconds=rules.remind_after) if rules.remind_after else None,
                escalate_at=now + timedelta(seconds=rules.escalate_after) if rules.escalate_after else None,
                escalate_to=rules.escalate_to if rules.escalate_after else None,
                execution_attempts=0,
                reveal_state=RevealState.NONE.value,
                sealed_input=(
                    ctx.sealer.seal(to_seal, request_id=request_id, purpose=INPUT)
                    if to_seal is not None else None
                ),
            )
            if request is None:  # a concurrent duplicate submit of the same view won
                winner = repo.request_by_view_id(session, source_view_id or "")
                if winner is None:  # add_request says None only for a stored view id: never here
                    raise RuntimeError("a request insert was refused as a resubmit of no stored view")
                return winner, False, None, winner.provider
        return request, refused is None, refused, provider

    def announce(self, request: RequestView) -> RequestView:
        """Post the requester's DM for the request, then the approval card, and tell the requester it waits
        (after the modal's ack).

        The DM goes first and is stored before the card can have buttons: an approval then always finds
        the DM to rewrite, and never posts a second one that loses the race and is deleted
        (bot/workflow/requester_dm.py).
        """
        ctx = self.ctx
        if request.dm is None:  # the requester's one DM for it, updated at every change (requester_dm.py)
            dm = post_requester_dm(ctx, request)
            request = replace(request, dm=dm) if dm is not None else request
        claim = new_card_claim(ctx.replica_id)
        with transaction(ctx.sessions) as session:
            claimed = repo.claim_card_post(session, request.id, claim=claim, now=ctx.db_now(session))
        try:
            card = post_approval_card(ctx, request, claim) if claimed else None
        except CardRefused as refused:  # only an admin can fix it: say so now, never "waiting"; the sweep posts it
            ctx.notifier.tell_card_refused(request, refused)
            return request
        if card is not None:
            with transaction(ctx.sessions) as session:
                request = repo.get_request(session, request.id) or request
            ctx.lookup_runner.run(self._add_account_context, request.id)
        ctx.notifier.tell_requester(request)
        return request

    def _add_account_context(self, request_id: str) -> None:
        """Show approvers what the provider says of the account (read-only), while the card waits."""
        ctx = self.ctx
        with transaction(ctx.sessions) as session:
            request = repo.get_request(session, request_id)
            plugin = ctx.plugin(request.provider) if request else None
            known_as = SessionDirectory(session).names_for(request.account) \
                if request and plugin and plugin.uses_directory else ()
        gateway = ctx.providers.get(request.provider) if request else None
        if request is None or gateway is None:
            return
        result = gateway.account_context(request.account, known_as)
        if result is None:
            return
        if not result.ok:
            log.info("account lookup for request %s at %s: %s (%s)", request_id, request.provider,
                     result.outcome.value, result.message)
        shown_as = result.username or (known_as[0] if known_as else request.account)
        refuses = plugin.suspended_refuses_change if plugin else True
        ctx.rewrite_card(request_id, context=_account_context(ctx.label(request.provider), shown_as, result,
                                                              suspended_refuses_change=refuses))

    def _validate(self, session: Any,
                  form: RequestForm) -> tuple[ProviderName, str, Method | None, Secret | None, dict[str, str]]:
        """(provider, account, method, the typed secret to seal when the method takes one, errors by input)."""
        errors: dict[str, str] = {}
        provider = (form.provider or "").strip()
        plugin = self.ctx.plugin(provider)
        if plugin is None:
            errors["provider"] = "Choose a provider."
        elif provider not in self.ctx.providers:
            errors["provider"] = f"{plugin.label} is not enabled on this bot."
        reason = typed_text(form.reason)
        if len(reason) < 10:
            errors["reason"] = "Give a reason of at least 10 characters: it goes to the approvers and the audit trail."
        elif len(reason) > 1000:
            errors["reason"] = "Keep the reason under 1000 characters."
        if len(typed_text(form.ticket, multiline=False)) > 64:
            errors["ticket"] = "A ticket reference is at most 64 characters."
        if plugin is None:
            return provider, (form.account or "").strip(), None, None, errors
        fields = plugin.read_request(account=form.account, method=form.method,
                                     secret=form.secret_input.reveal() if form.secret_input else None,
                                     directory=SessionDirectory(session))
        errors.update(fields.errors)
        to_seal = form.secret_input if plugin.secret_input_for(fields.method) is not None else None
        return provider, fields.account, fields.method, to_seal, errors


class _AskSlackFirst(Exception):
    """The grants name user groups that could give the role: Slack is asked about them outside the transaction."""


@contextmanager
def _open_request_is_an_input_error() -> Iterator[None]:
    """Another replica stored a request for this account after our check (the index refused ours)."""
    try:
        yield
    except repo.OpenRequestExists as race:
        raise InputErrors({"account": open_request_sentence(race.request)}) from None


def open_request_sentence(request: RequestView) -> str:
    """The input error for a second request while `request` is open (CONTRACT "What a person sees")."""
    state = "waiting for approval" if request.status is Status.PENDING else "being changed"
    return (f"This account already has an open reset request, {request.id} ({state}). Wait for it to end, "
            "or ask an approver to deny it, before asking again.")


def new_card_claim(replica_id: str) -> str:
    return f"{replica_id[:60]}:{secrets.token_hex(6)}"


def post_approval_card(ctx: Context, request: RequestView, claim: str) -> MessageRef | None:
    """Post the card of a request whose posting `claim` holds; its place, or None when it was not kept.
    Raises CardRefused when Slack refuses the approvals channel itself (an admin must act).

    Two steps, so that only a card whose place is stored ever has buttons: Slack gets the
    card without them, the place is stored (a compare-and-set on the claim), then the card
    is rewritten with them (or with the decision, if one came meanwhile from the App Home).
    A replica killed between Slack's answer and the store leaves a card without buttons;
    the sweep posts the card again. A post that lost its claim meanwhile (a sweep took over
    a poster that was too slow) is deleted.
    """
    notifier: Notifier = ctx.notifier
    card = notifier.post_card(request)
    if card is None:
        return None
    with transaction(ctx.sessions) as session:
        stored = repo.store_card(session, request.id, claim=claim, card=card)
        current = ctx.get(session, request.id)
    if not stored:
        if current.card != card:
            notifier.withdraw(card)
        return None
    ctx.rewrite_card(request.id)  # its buttons, or the decision that came meanwhile (from the App Home)
    return card


_HOSTNAME = re.compile(r"(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9-]{1,63})+")


def _account_context(label: str, shown_as: str, result: LookupResult, *, suspended_refuses_change: bool = True) -> str:
    """What approvers are told of the account: the bot's words, and only domain names that look like ones (the
    provider's other text goes to the log). `shown_as`: the account as the provider resolved it;
    `suspended_refuses_change`: whether the provider refuses to change a suspended account's password."""
    where = f"{label} ({shown_as})"
    names = [d for d in result.domains if isinstance(d, str) and _HOSTNAME.fullmatch(d)]
    domains = ", ".join(names[:5]) + (" …" if len(names) > 5 else "") or "none the bot could show"
    if result.outcome is Outcome.LOOKUP_OK and result.account_state == "ACTIVE":
        return f"{where}: account active; domains {domains}."
    if result.outcome is Outcome.LOOKUP_OK:
        then = ("A suspended account refuses password changes." if suspended_refuses_change
                else f"{label} changes its password all the same.")
        return f":warning: {where}: account {result.account_state or 'state unknown'}; domains {domains}. {then}"
    if result.outcome is Outcome.LOOKUP_EMPTY:
        return f":warning: {where} lists no domains for this account."
    return f"{label} could not say what state this account is in (the account lookup failed)."
