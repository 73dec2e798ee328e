"""The collaborators the use cases share, and the few helpers every one of them uses.

`BaseContext` is what reading and writing records needs (sessions, clock, the admins from
RESETBOT_ADMINS, the default approval policy): all the admin and policies use cases need, so
the CLI builds only that. `Context` adds what the reset itself needs (providers, sealer,
notifier, background runners, TTLs,
replica id, lease); the provider plugins it reads from the registry at call time. The
composition root (bot/app.py) builds one `Context` and every use case in bot/workflow/
shares it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from bot import policy
from bot.domain import (
    AlreadyTold,
    MessageRef,
    NotAllowed,
    ProviderCatalog,
    ProviderName,
    RequestNotFound,
    RequestView,
    RevealState,
    Role,
    RoleGrant,
)
from bot.policy import ApprovalPolicy
from bot.providers import registry
from bot.providers.gateway import ProviderGateway
from bot.providers.plugin import ProviderPlugin
from bot.sealing import Sealer
from storage import repository as repo
from storage.db import scrub

log = logging.getLogger(__name__)

# What a sealed value is for; sealed inside the token and checked on opening (bot/sealing.py).
PASSWORD = "password"
INPUT = "input"

# The same person refused the same way (action, request, reason) again within this window: the
# refusal is counted on the first one's audit row and not told again (README "What the bot guarantees").
REFUSAL_REPEAT_WINDOW = timedelta(seconds=60)


def utcnow() -> datetime:
    return datetime.now(UTC)


def audit_refusal(session: Any, *, now: datetime, action: str, actor_id: str, why: str,
                  request: RequestView | None = None, provider: str | None = None,
                  account: str | None = None) -> bool:
    """Audit a refusal once per minute: True when it repeats one audited in the last REFUSAL_REPEAT_WINDOW.

    A repeat adds no row: it raises the first row's `count` (storage/repository.py:
    count_repeated_refusal). Raise `refusal(reason, repeated)` afterwards, so a repeat is not told again.
    """
    if repo.count_repeated_refusal(session, at=now, since=now - REFUSAL_REPEAT_WINDOW, action=action,
                                   actor_id=actor_id, why=why, request=request, provider=provider, account=account):
        return True
    repo.add_audit(session, at=now, action=action, actor_id=actor_id, request=request, provider=provider,
                   account=account, detail={"why": why})
    return False


def refusal(reason: str, repeated: bool) -> NotAllowed:
    """The refusal to raise after `audit_refusal`: one told moments ago is acknowledged without a word."""
    return AlreadyTold(reason) if repeated else NotAllowed(reason)


class Notifier(Protocol):
    """What the workflow tells people. Implemented with Slack in handlers/notifier.py."""

    def post_card(self, request: RequestView) -> MessageRef | None: ...
    def update_card(self, request: RequestView, context: str | None = None) -> None: ...
    def tell_requester(self, request: RequestView) -> None: ...
    def send_reveal(self, request: RequestView) -> MessageRef | None: ...
    def update_reveal(self, request: RequestView) -> None: ...
    def withdraw(self, message: MessageRef) -> None: ...  # delete a card or DM that lost to another one


class Background:
    """Runs provider work off the caller's thread and knows when none is left (SIGTERM drain, tests)."""

    def __init__(self, executor: Executor) -> None:
        self.executor = executor
        self._inflight = 0
        self._inflight_lock = threading.Condition()

    def run(self, fn: Callable[..., object], *args: Any) -> None:
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
        """Block until no provider call is in flight."""
        with self._inflight_lock:
            return self._inflight_lock.wait_for(lambda: self._inflight == 0, timeout)


@dataclass(frozen=True, kw_only=True)
class BaseContext:
    """What reading and writing records needs; all the admin use case (bot/workflow/admin.py) needs."""

    sessions: Any  # a sessionmaker from storage/db.py: make_sessionmaker (bot/ names no SQL types)
    clock: Callable[[], datetime] = utcnow  # this replica's clock: only what no other replica compares
    admins: frozenset[str] = frozenset()
    # The policy of a provider with none stored: RESETBOT_APPROVAL_TTL and RESETBOT_REQUESTS_PER_HOUR
    # over docs/CONTRACT.md's defaults (bot/workflow/policies.py).
    default_policy: ApprovalPolicy = field(default_factory=ApprovalPolicy)
    # The database server's clock (storage/repository.py: db_now), read inside the caller's
    # transaction: every lease, expiry and budget window is measured by it, never by `clock`,
    # so a replica whose clock runs ahead cannot take over a healthy lease. Tests may stand in.
    db_clock: Callable[[Any], datetime] = repo.db_now

    def db_now(self, session: Any) -> datetime:
        """Now, by the database's clock: for leases, expiries and budget windows."""
        return self.db_clock(session)

    def roles(self, user_id: str, provider: ProviderName, grants: list[RoleGrant]) -> set[Role]:
        return policy.roles_for(user_id, provider, grants, self.admins)

    def get(self, session: Any, request_id: str) -> RequestView:
        """The request, or RequestNotFound with a sentence for the person who asked."""
        request = repo.get_request(session, request_id) if isinstance(request_id, str) else None
        if request is None:
            raise RequestNotFound("That reset request does not exist (any more).")
        return request


@dataclass(frozen=True, kw_only=True)
class Context(BaseContext):
    """Everything the reset use cases share; the composition root builds one (bot/workflow/__init__.py)."""

    providers: Mapping[ProviderName, ProviderGateway]  # the enabled providers' gateways, by registry name
    sealer: Sealer
    notifier: Notifier
    background: Background
    replica_id: str
    approval_ttl: timedelta  # RESETBOT_APPROVAL_TTL
    reveal_ttl: timedelta  # RESETBOT_REVEAL_TTL
    lease: timedelta  # RESETBOT_EXECUTION_LEASE: how long a provider call may go unrenewed
    # Read-only provider lookups (approver context) run here, on their own small pool, so that however many
    # of them wait, an approved change never queues behind them; None: on `background` (tests, one executor).
    lookup_background: Background | None = None

    @property
    def lookup_runner(self) -> Background:
        return self.lookup_background or self.background

    @property
    def catalog(self) -> ProviderCatalog:
        """Every provider the registry lists, as the transports may see it (bot/domain.py: ProviderInfo)."""
        return registry.catalog()

    def plugin(self, name: ProviderName) -> ProviderPlugin | None:
        return registry.by_name(name)

    def label(self, name: ProviderName) -> str:
        return self.catalog.label(name)

    def enabled_providers(self) -> list[ProviderName]:
        """The providers with a gateway here, in registry order."""
        return [name for name in registry.names() if name in self.providers]

    def notify_final(self, request: RequestView) -> None:
        """Tell everyone a request ended: the card, the requester, and the Reveal button when there is one.

        Ending a request destroyed its typed secret (and any password nobody will reveal): the
        SQLite files are scrubbed of their old copies first (storage/db.py: scrub).
        """
        scrub(self.sessions)
        self.notifier.update_card(request)
        self.notifier.tell_requester(request)
        if request.reveal_state is RevealState.READY:
            from bot.workflow.reveal import send_reveal_dm  # reveal.py builds on this module

            send_reveal_dm(self, request)
