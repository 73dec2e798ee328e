"""Policies: each provider's approval policy as in effect now, and audited changes to it.

A provider with no stored policy has the defaults (bot/workflow/context.py: default_policy,
from RESETBOT_APPROVAL_TTL and RESETBOT_REQUESTS_PER_HOUR). A change is read, checked
(bot/policy.py: ApprovalPolicy) and written in one unit of work with the provider's policy
locked, and audited as "policy_changed" with the old and the new values. Requests keep the
policy they were made under (bot/workflow/intake.py copies it onto the request), so a change
applies to requests made after it. It needs only the records (BaseContext), so
`resetbot policy` (bot/cli.py) builds no provider, sealer or Slack client.

`resetbot policy` (an operator's command) changes a policy at once, loosening or not; from Slack a
loosening change waits for a second admin (bot/workflow/policy_changes.py, which reuses
`PolicyChange.weakened` and the same lock). A change made here is recorded for the running bot to
announce in the approvals channel (bot/workflow/policy_announcements.py): the CLI has the database,
not Slack.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot import policy
from bot.domain import DomainError, ProviderName
from bot.policy import ApprovalPolicy
from bot.providers import registry
from bot.workflow.context import BaseContext
from storage import repository as repo
from storage.db import transaction


class UnknownProvider(DomainError):
    pass


@dataclass(frozen=True)
class PolicyChange:
    provider: ProviderName
    old: ApprovalPolicy
    new: ApprovalPolicy

    @property
    def changed(self) -> list[str]:
        """The fields whose value changed, in ApprovalPolicy's order."""
        return [name for name in policy.FIELDS if getattr(self.old, name) != getattr(self.new, name)]

    @property
    def weakened(self) -> list[str]:
        """How the change loosens the policy (bot/policy.py: weakened); empty when it does not."""
        return policy.weakened(self.old, self.new)


def effective_policy(session: Any, ctx: BaseContext, provider: ProviderName) -> ApprovalPolicy:
    """The provider's policy in the caller's unit of work: the stored one, or the defaults."""
    return repo.get_policy(session, provider) or ctx.default_policy


class Policies:
    def __init__(self, ctx: BaseContext) -> None:
        self.ctx = ctx

    def known(self) -> list[ProviderName]:
        """Every provider the registry lists, in its order: each has a policy, enabled here or not."""
        return list(registry.names())

    def effective(self, provider: ProviderName) -> ApprovalPolicy:
        self._check_known(provider)
        with transaction(self.ctx.sessions) as session:
            return effective_policy(session, self.ctx, provider)

    def all(self) -> dict[ProviderName, ApprovalPolicy]:
        """Every known provider's policy in effect now, in registry order."""
        with transaction(self.ctx.sessions) as session:
            stored = repo.all_policies(session)
        return {name: stored.get(name, self.ctx.default_policy) for name in self.known()}

    def set(self, provider: ProviderName, changes: Mapping[str, Any], actor: str | None) -> PolicyChange:
        """Change some fields of one provider's policy; the others keep their value.

        Raises InvalidPolicy (naming the field) when the result is not a valid policy, and
        UnknownProvider for a name the registry does not list. Audited, and recorded for the running
        bot to announce, when something changed.
        """
        self._check_known(provider)
        unknown = sorted(set(changes) - set(policy.FIELDS))
        if unknown:
            raise TypeError(f"not policy fields: {', '.join(unknown)}")
        now = self.ctx.clock()
        with transaction(self.ctx.sessions) as session:
            old = repo.lock_policy(session, provider) or self.ctx.default_policy
            change = PolicyChange(provider, old, dataclasses.replace(old, **changes))
            if change.changed:
                repo.put_policy(session, provider, change.new, now=now, updated_by=actor)
                repo.add_audit(session, at=now, action="policy_changed", actor_id=actor, provider=provider,
                               detail={"old": old.as_dict(), "new": change.new.as_dict(),
                                       "changed": change.changed, "weakened": change.weakened})
                # This process may have no Slack (the CLI): the running bot's sweep announces it, once.
                repo.add_policy_announcement(session, provider=provider, changed_by=actor, changed_at=now, old=old,
                                             new=change.new)
        return change

    def _check_known(self, provider: ProviderName) -> None:
        names = self.known()
        if provider not in names:
            raise UnknownProvider(f"There is no provider called {provider!r}; the bot knows {', '.join(names)}.")
