"""The reset workflow: use cases over one shared set of collaborators, composed once.

request → approval → provider call → one-time reveal, with the audit trail. Each use case
is one module (intake, decisions, execution, reveal, sweeper, reminders, requester, admin, lookups,
policies, policy_changes, alerts) over the
one `Context` (context.py). The workflow owns transactions: every use case opens its
own short unit of work through `storage.db.transaction`, and no provider call ever runs
inside one. Slack is behind the `Notifier` port, and who is in a user group behind
`GroupMembers`; providers behind `ProviderGateway` (bot/providers/gateway.py). Which status
may follow which is the domain's table (bot/domain.py: TRANSITIONS), checked on every write (storage/repository.py).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Executor
from datetime import datetime, timedelta
from typing import Any

from bot.domain import ProviderCatalog, ProviderName
from bot.policy import DEFAULT_APPROVAL_TTL, DEFAULT_REQUESTS_PER_HOUR, DEFAULT_REVEAL_TTL, ApprovalPolicy
from bot.providers.gateway import ProviderGateway
from bot.sealing import Sealer
from bot.workflow.admin import Admin
from bot.workflow.context import Background, BaseContext, Context, GroupMembers, NoGroupMembers, Notifier, utcnow
from bot.workflow.decisions import Decisions
from bot.workflow.execution import Execution
from bot.workflow.intake import Intake
from bot.workflow.lookups import HomeData, Lookups
from bot.workflow.policies import Policies, PolicyChange
from bot.workflow.policy_changes import PolicyChanges, PolicyEdit
from bot.workflow.reminders import Reminders
from bot.workflow.requester import RequesterActions
from bot.workflow.reveal import Reveal
from bot.workflow.sweeper import Sweeper
from storage import repository as repo

# A replica renews its lease every third of this while its provider call runs, so a lapse
# means the replica died; with the sweep interval this keeps recovery under a minute.
DEFAULT_LEASE_SECONDS = 30


class ResetWorkflow:
    """Every use case, as an attribute (`workflow.intake.submit(...)`), over one `Context`."""

    def __init__(
        self,
        *,
        sessions: Any,
        providers: Mapping[ProviderName, ProviderGateway],
        sealer: Sealer,
        notifier: Notifier,
        executor: Executor,
        admins: Iterable[str] = (),
        approval_ttl: int = DEFAULT_APPROVAL_TTL,
        reveal_ttl: int = DEFAULT_REVEAL_TTL,
        requests_per_hour: int = DEFAULT_REQUESTS_PER_HOUR,
        clock: Callable[[], datetime] = utcnow,
        replica_id: str | None = None,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        lookup_executor: Executor | None = None,
        db_clock: Callable[[Any], datetime] | None = None,
        group_members: GroupMembers | None = None,
        yield_to_acks: Callable[[], object] | None = None,
    ) -> None:
        # `yield_to_acks` (bot/pending_acks.py): background jobs let pending acks go first.
        self.background = Background(executor, yield_to_acks)
        # Read-only lookups on their own pool when one is given (bot/app.py does), else on `executor`.
        self.lookup_background = Background(lookup_executor, yield_to_acks) if lookup_executor is not None else None
        self.context = Context(
            sessions=sessions,
            clock=clock,
            db_clock=db_clock or repo.db_now,  # None: the database server's own clock
            admins=frozenset(admins),
            default_policy=ApprovalPolicy(expire_after=approval_ttl, requests_per_hour=requests_per_hour),
            providers=providers,
            sealer=sealer,
            notifier=notifier,
            background=self.background,
            replica_id=replica_id or f"replica-{secrets.token_hex(4)}",
            approval_ttl=timedelta(seconds=approval_ttl),
            reveal_ttl=timedelta(seconds=reveal_ttl),
            lease=timedelta(seconds=lease_seconds),
            lookup_background=self.lookup_background,
            group_members=group_members or NoGroupMembers(),  # None: grants to user groups count for nobody
        )
        self.intake = Intake(self.context)
        self.execution = Execution(self.context)
        self.decisions = Decisions(self.context, self.execution)
        self.reveal = Reveal(self.context)
        self.sweeper = Sweeper(self.context, self.execution)
        self.reminders: Reminders = self.sweeper.reminders
        self.requester = RequesterActions(self.context)
        self.admin = Admin(self.context)
        self.lookups = Lookups(self.context)
        self.policies = Policies(self.context)
        self.policy_changes = PolicyChanges(self.context)  # Edit policy in Slack; a second admin for loosening

    @property
    def catalog(self) -> ProviderCatalog:
        """Every provider's words for the transports (labels, account field, methods), in registry order."""
        return self.context.catalog


__all__ = ["Admin", "Background", "BaseContext", "Context", "Decisions", "Execution", "GroupMembers", "HomeData",
           "Intake", "Lookups", "Notifier", "Policies", "PolicyChange", "PolicyChanges", "PolicyEdit", "Reminders",
           "RequesterActions", "ResetWorkflow", "Reveal", "Sweeper", "utcnow"]
