"""Policy changes from Slack: an admin edits a provider's policy; a loosening change waits for a second admin.

An admin for the provider (a grant, a user group's grant, or RESETBOT_ADMINS; re-checked at
every click) submits the whole policy. A change that only tightens it (bot/policy.py:
weakens) applies at once, audited as "policy_changed". One that loosens it is stored as a
`PolicyProposal`, audited as "policy_change_proposed", and posted to the approvals channel; it
applies only when another admin approves it ("policy_change_approved" and "policy_changed"),
never the admin who proposed it. Every write happens with the provider's policy locked
(storage/repository.py: lock_policy) and ends a proposal with one compare-and-set, so of two
admins approving at once on two replicas exactly one applies it. A proposal, or an edit, made
against a policy that has changed since is refused with a sentence and never applied over the
newer change (a proposal is then marked stale).
"""

from __future__ import annotations

import dataclasses
import secrets
from dataclasses import dataclass
from typing import Any

from bot import policy
from bot.domain import InputErrors, NotAllowed, ProviderName, RefusalCode, RequestNotFound, Role
from bot.policy import ApprovalPolicy, PolicyProposal, ProposalStatus
from bot.workflow.context import Context, audit_refusal, refusal
from bot.workflow.policies import PolicyChange, UnknownProvider, effective_policy
from storage import repository as repo
from storage.db import transaction

REFUSED = "policy_change_refused"


@dataclass(frozen=True)
class PolicyEdit:
    """What a submitted edit did: applied at once (`applied`), waits for a second admin (`proposal`), or neither
    (nothing changed)."""

    provider: ProviderName
    applied: PolicyChange | None = None
    proposal: PolicyProposal | None = None


class PolicyChanges:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def open_editor(self, provider: ProviderName, admin_id: str) -> ApprovalPolicy:
        """The provider's policy as in effect now, for an admin's Edit policy; NotAllowed for anyone else."""
        self._check_known(provider)
        groups = self.ctx.member_groups(admin_id, Role.ADMIN, [provider], refused_as=REFUSED)
        with transaction(self.ctx.sessions) as session:
            refused = self._admin_refusal(session, admin_id, provider, groups)
            current = effective_policy(session, self.ctx, provider)
        if refused is not None:  # raised after the unit of work, which keeps the refusal's audit row
            raise refused
        return current

    def submit(self, provider: ProviderName, texts: dict[str, str | None], admin_id: str,
               edited: ApprovalPolicy | None) -> PolicyEdit:
        """Apply or propose the policy an admin typed (`texts`: one per ApprovalPolicy field).

        `edited`: the policy the editor was opened on; when the policy changed since, the edit is
        refused rather than applied over the newer change. Raises InputErrors (by field) for what
        does not read as a valid policy, NotAllowed for a refusal.
        """
        ctx = self.ctx
        self._check_known(provider)
        groups = ctx.member_groups(admin_id, Role.ADMIN, [provider], refused_as=REFUSED)
        edit = PolicyEdit(provider)
        with transaction(ctx.sessions) as session:
            refused = self._admin_refusal(session, admin_id, provider, groups)
            if refused is None:
                new, errors = policy.policy_from_texts(texts)
                if errors or new is None:
                    raise InputErrors(errors)
                edit, refused = self._apply_or_propose(session, provider, admin_id, edited, new)
        if refused is not None:
            raise refused
        if edit.proposal is not None:
            edit = dataclasses.replace(edit, proposal=self._post(edit.proposal))
        return edit

    def _apply_or_propose(self, session: Any, provider: ProviderName, admin_id: str, edited: ApprovalPolicy | None,
                          new: ApprovalPolicy) -> tuple[PolicyEdit, NotAllowed | None]:
        ctx = self.ctx
        now = ctx.db_now(session)
        current = repo.lock_policy(session, provider) or ctx.default_policy
        if edited is not None and current != edited:
            why = (f"The approval policy of {ctx.label(provider)} changed while you were editing it, so your "
                   "edit was not saved. Open Edit policy again to see the new values.")
            return PolicyEdit(provider), refusal(why, audit_refusal(session, now=now, action=REFUSED,
                                                                    actor_id=admin_id, provider=provider, why=why,
                                                                    code=RefusalCode.STALE))
        change = PolicyChange(provider, current, new)
        if not change.changed:
            return PolicyEdit(provider), None
        detail: dict[str, Any] = {"old": current.as_dict(), "new": new.as_dict(), "changed": change.changed,
                                  "weakened": change.weakened}
        if not change.weakened:  # only tightens: at once
            repo.put_policy(session, provider, new, now=now, updated_by=admin_id)
            repo.add_audit(session, at=now, action="policy_changed", actor_id=admin_id, provider=provider,
                           detail={**detail, "via": "slack"})
            return PolicyEdit(provider, applied=change), None
        proposal = PolicyProposal(id="pp_" + secrets.token_hex(10), provider=provider, proposed_by=admin_id,
                                  proposed_at=now, old=current, new=new)
        repo.add_policy_proposal(session, proposal)
        repo.add_audit(session, at=now, action="policy_change_proposed", actor_id=admin_id, provider=provider,
                       detail={**detail, "proposal": proposal.id})
        return PolicyEdit(provider, proposal=proposal), None

    def _post(self, proposal: PolicyProposal) -> PolicyProposal:
        """The Policy change card in the approvals channel, its place stored (one proposer: one poster)."""
        card = self.ctx.notifier.post_policy_change(proposal)
        if card is None:
            return proposal
        with transaction(self.ctx.sessions) as session:
            repo.store_proposal_card(session, proposal.id, card)
        return dataclasses.replace(proposal, card=card)

    def approve(self, proposal_id: str, admin_id: str) -> PolicyProposal:
        """A second admin's Approve change: the proposal applies, once, while the policy is the one it was
        proposed against."""
        return self._decide(proposal_id, admin_id, approve=True)

    def reject(self, proposal_id: str, admin_id: str) -> PolicyProposal:
        """Reject change: any admin for the provider; the proposer's own click withdraws it."""
        return self._decide(proposal_id, admin_id, approve=False)

    def get(self, proposal_id: str) -> PolicyProposal:
        with transaction(self.ctx.sessions) as session:
            return self._get(session, proposal_id)

    def _decide(self, proposal_id: str, admin_id: str, *, approve: bool) -> PolicyProposal:
        ctx = self.ctx
        provider = self.get(proposal_id).provider
        groups = ctx.member_groups(admin_id, Role.ADMIN, [provider], refused_as=REFUSED)
        ended, repeated = False, False
        with transaction(ctx.sessions) as session:
            # The policy's lock first: every change of this provider's policy waits for this one (repository.py).
            current = repo.lock_policy(session, provider) or ctx.default_policy
            now = ctx.db_now(session)
            proposal = self._get(session, proposal_id)
            label = ctx.label(provider)
            roles = ctx.roles(admin_id, provider, repo.grants_for(session, admin_id), groups)
            decision = policy.can_decide_proposal(admin_id, roles, proposal, current, approve=approve,
                                                  provider_label=label)
            detail: dict[str, Any] = {"proposal": proposal.id, "proposed_by": proposal.proposed_by,
                                      "old": proposal.old.as_dict(), "new": proposal.new.as_dict(),
                                      "changed": proposal.changed, "weakened": proposal.weakened}
            if not decision.allowed:
                if decision.reason == policy.stale_sentence(label):  # never applied over the newer change
                    ended = repo.decide_policy_proposal(session, proposal.id, to_status=ProposalStatus.STALE,
                                                        decided_by=None, now=now)
                    repo.add_audit(session, at=now, action="policy_change_stale", actor_id=admin_id,
                                   provider=provider, detail={**detail, "current": current.as_dict()})
                repeated = audit_refusal(session, now=now, action=REFUSED, actor_id=admin_id, provider=provider,
                                         why=decision.reason, code=decision.code)
            elif approve:
                if not repo.decide_policy_proposal(session, proposal.id, to_status=ProposalStatus.APPLIED,
                                                   decided_by=admin_id, now=now):
                    raise RuntimeError(f"policy proposal {proposal.id} changed under the policy's lock")
                repo.put_policy(session, provider, proposal.new, now=now, updated_by=admin_id)
                repo.add_audit(session, at=now, action="policy_change_approved", actor_id=admin_id,
                               provider=provider, detail=detail)
                repo.add_audit(session, at=now, action="policy_changed", actor_id=admin_id, provider=provider,
                               detail={**detail, "via": "slack"})
                ended = True
            else:
                withdrawn = admin_id == proposal.proposed_by
                status = ProposalStatus.WITHDRAWN if withdrawn else ProposalStatus.REJECTED
                if not repo.decide_policy_proposal(session, proposal.id, to_status=status, decided_by=admin_id,
                                                   now=now):
                    raise RuntimeError(f"policy proposal {proposal.id} changed under the policy's lock")
                repo.add_audit(session, at=now, action=f"policy_change_{status.value}", actor_id=admin_id,
                               provider=provider, detail=detail)
                ended = True
            proposal = self._get(session, proposal.id)
        if ended:
            ctx.notifier.update_policy_change(proposal)
        if not decision.allowed:
            raise refusal(decision.reason, repeated)
        return proposal

    def _admin_refusal(self, session: Any, user_id: str, provider: ProviderName,
                       groups: frozenset[str]) -> NotAllowed | None:
        """The refusal to raise (after the unit of work, which keeps its audit row) when `user_id` is no admin."""
        ctx = self.ctx
        roles = ctx.roles(user_id, provider, repo.grants_for(session, user_id), groups)
        decision = policy.can_change_policy(roles, ctx.label(provider))
        if decision.allowed:
            return None
        return refusal(decision.reason, audit_refusal(session, now=ctx.db_now(session), action=REFUSED,
                                                      actor_id=user_id, provider=provider, why=decision.reason,
                                                      code=decision.code))

    def _get(self, session: Any, proposal_id: str) -> PolicyProposal:
        proposal = repo.get_policy_proposal(session, proposal_id) if isinstance(proposal_id, str) else None
        if proposal is None:
            raise RequestNotFound("That policy change does not exist (any more).")
        return proposal

    def _check_known(self, provider: ProviderName) -> None:
        if self.ctx.plugin(provider) is None:
            raise UnknownProvider(f"There is no provider called {provider!r}.")
