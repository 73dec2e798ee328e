"""The collaborators the use cases share, and the few helpers every one of them uses.

`BaseContext` is what reading and writing records needs (sessions, clock, the admins from
RESETBOT_ADMINS, the default approval policy, who is in a user group): all the admin and
policies use cases need, so the CLI builds only that. `Context` adds what the reset itself needs (providers, sealer,
notifier, background runners, TTLs,
replica id, lease); the provider plugins it reads from the registry at call time. The
composition root (bot/app.py) builds one `Context` and every use case in bot/workflow/
shares it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from bot import metrics, policy
from bot.domain import (
    AlreadyTold,
    CardRefused,
    GroupsUnavailable,
    MessageRef,
    NotAllowed,
    ProviderCatalog,
    ProviderName,
    RefusalCode,
    RequestNotFound,
    RequestView,
    RevealState,
    Role,
    RoleGrant,
    Status,
    is_user_group,
)
from bot.policy import ApprovalPolicy
from bot.providers import registry
from bot.providers.gateway import ProviderGateway
from bot.providers.plugin import ProviderPlugin
from bot.sealing import Sealer, SealKeyMissing
from storage import repository as repo
from storage.db import scrub, transaction

log = logging.getLogger(__name__)

# What a sealed value is for; sealed inside the token and checked on opening (bot/sealing.py).
PASSWORD = "password"
INPUT = "input"

# The same person refused the same way (action, request, reason) again within this window: the
# refusal is counted beside the first one's audit event and not told again (docs/guarantees.md).
REFUSAL_REPEAT_WINDOW = timedelta(seconds=60)

NO_SUCH_REQUEST = "That reset request does not exist (any more)."

# A click on a replica that does not hold the key its password was sealed under (a rolling restart): the
# password is kept for a replica that does (CONTRACT.md "Rules that always hold").
KEY_MISSING_SENTENCE = ("The bot is being updated and this part of it cannot open your new password yet. Nothing "
                        "is lost and the reveal is not used up: try again in a minute.")


def log_key_missing(request: RequestView, missing: SealKeyMissing, what: str) -> None:
    """The operator's line: which key is missing here, by fingerprint (never the key)."""
    log.error("request %s: %s found a value %s; it is kept for a replica that has that key: give every replica "
              "the same RESETBOT_SEAL_KEY (docs/operations.md \"Rotating the seal key\")", request.id, what, missing)


def utcnow() -> datetime:
    return datetime.now(UTC)


def audit_refusal(session: Any, *, now: datetime, action: str, actor_id: str, why: str, code: RefusalCode | None,
                  request: RequestView | None = None, provider: str | None = None,
                  account: str | None = None) -> bool:
    """Audit a refusal once per minute: True when it repeats one audited in the last REFUSAL_REPEAT_WINDOW.

    A repeat adds no event: it raises the `count` kept beside the first one's, which never changes
    (storage/repository.py: count_repeated_refusal). Raise `refusal(reason, repeated)` afterwards, so a
    repeat is not told again.
    """
    metrics.count_refusal(action, code or RefusalCode.OTHER)
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

    # Raises CardRefused when Slack refuses the approvals channel itself; None for any other failure (retried).
    def post_card(self, request: RequestView) -> MessageRef | None: ...
    def tell_card_refused(self, request: RequestView, refused: CardRefused) -> None: ...
    # `refresh_home`: the App Home tabs showing the request follow (off the caller's thread); a caller holding the
    # database (rewrite_card, under the request's lock) passes False and calls `refresh_home` after its unit of work.
    def update_card(self, request: RequestView, context: str | None = None, *, refresh_home: bool = True) -> None: ...
    def refresh_home(self, request: RequestView) -> None: ...
    def tell_requester(self, request: RequestView) -> None: ...
    # The requester's Reveal button, in their DM for the request (updated in place; posted when there is none).
    def send_reveal(self, request: RequestView) -> MessageRef | None: ...
    def update_reveal(self, request: RequestView) -> None: ...
    def withdraw(self, message: MessageRef) -> None: ...  # delete a card or DM that lost to another one
    # The approvals channel also gets insider-risk alerts, loosening policy changes and the announcement of a change
    # made with the CLI (bot/workflow/alerts.py, policy_changes.py, policy_announcements.py).
    def post_alert(self, alert: policy.RiskAlert) -> MessageRef | None: ...
    def post_policy_change(self, proposal: policy.PolicyProposal) -> MessageRef | None: ...
    def update_policy_change(self, proposal: policy.PolicyProposal) -> None: ...
    def post_policy_announcement(self, announcement: policy.PolicyAnnouncement) -> MessageRef | None: ...
    # The requester's one DM per request (bot/workflow/requester_dm.py), and the card-thread replies
    # (bot/workflow/reminders.py: REMINDER, REQUESTER_REMINDER, ESCALATION) mentioning `mentions`.
    def post_dm(self, request: RequestView) -> MessageRef | None: ...
    def update_dm(self, request: RequestView) -> bool: ...
    def post_thread_reply(self, request: RequestView, kind: str, mentions: Sequence[str]) -> MessageRef | None: ...


class GroupMembers(Protocol):
    """Who Slack lists as a user group's members. Implemented with usergroups.users.list in handlers/groups.py.

    `members` answers at most 60 s old (CONTRACT.md `roles grant`), or raises GroupsUnavailable when
    Slack cannot tell: never an empty or stale answer in place of an unknown one.
    """

    def members(self, group_id: str) -> frozenset[str]: ...


class NoGroupMembers:
    """Where nothing can ask Slack (the operator CLI, tests without groups): every group is unknown."""

    def members(self, group_id: str) -> frozenset[str]:
        raise GroupsUnavailable(group_id, "this bot has no way to ask Slack")


class Background:
    """Runs provider work off the caller's thread and knows when none is left (SIGTERM drain, tests).

    `yield_to_acks`: called before each job starts (bot/pending_acks.py): nothing here is on an ack path, so
    under a burst a job waits for the deliveries still waiting for their acks, briefly.
    """

    def __init__(self, executor: Executor, yield_to_acks: Callable[[], object] | None = None) -> None:
        self.executor = executor
        self.yield_to_acks = yield_to_acks
        self._inflight = 0
        self._inflight_lock = threading.Condition()

    def run(self, fn: Callable[..., object], *args: Any) -> None:
        with self._inflight_lock:
            self._inflight += 1

        def run() -> None:
            try:
                if self.yield_to_acks is not None:
                    self.yield_to_acks()
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
    # Who is in a user group that holds a grant (bot/domain.py: is_user_group); asked by member_groups only.
    group_members: GroupMembers = field(default_factory=NoGroupMembers)

    def db_now(self, session: Any) -> datetime:
        """Now, by the database's clock: for leases, expiries and budget windows."""
        return self.db_clock(session)

    def roles(self, user_id: str, provider: ProviderName, grants: list[RoleGrant],
              groups: Iterable[str] = ()) -> set[Role]:
        """`groups`: what member_groups found, asked before the caller's transaction; without it, grants to
        user groups count for nobody."""
        return policy.roles_for(user_id, provider, grants, self.admins, groups)

    def escalation_members(self, request: RequestView | None, now: datetime,
                           user_id: str) -> tuple[frozenset[str] | None, GroupsUnavailable | None, bool]:
        """(members of the request's escalation group, when Slack was asked; why Slack could not tell; whether
        the escalation reaches `user_id` now). Call it outside any transaction, as member_groups: a click
        checks again inside its own (bot/policy.py: escalation_reaches); the App Home counts "could not tell"
        as not reaching."""
        if request is None or request.escalate_to is None or request.escalate_at is None or now < request.escalate_at:
            return None, None, False
        if not is_user_group(request.escalate_to):
            return None, None, policy.escalation_reaches(user_id, request, now)
        if user_id == request.requester_id:
            return None, None, False
        try:
            members = self.group_members.members(request.escalate_to)
        except GroupsUnavailable as problem:
            return None, problem, False
        return members, None, policy.escalation_reaches(user_id, request, now, members)

    def member_groups(self, user_id: str, needed: Role, providers: Iterable[ProviderName] = (), *,
                      request_id: str | None = None, refused_as: str | None = None,
                      strict: bool = True) -> frozenset[str]:
        """The user groups holding a grant of `needed` that Slack lists `user_id` in now: pass them to `roles`.

        Call it outside any transaction: it may ask Slack (ARCHITECTURE.md "Transactions"); each click
        asks again, so a member removed from a group loses what the group gave at the next click. Only
        the groups that matter are asked: none when the user's own grants or RESETBOT_ADMINS give `needed`
        (policy.groups_to_ask), and no more once one has the user. `providers`: where `needed` is
        needed, or the provider of `request_id`.

        When Slack cannot tell about a group and nothing gives `needed` for any of the providers, the
        click is refused with GroupsUnavailable's sentence (audited as `refused_as`, once a minute as
        every refusal), never let through; `strict=False` (what a view merely shows) counts it as not
        a member instead.
        """
        return self.member_groups_and_grants(user_id, needed, providers, request_id=request_id,
                                             refused_as=refused_as, strict=strict)[0]

    def member_groups_and_grants(self, user_id: str, needed: Role, providers: Iterable[ProviderName] = (), *,
                                 request_id: str | None = None, refused_as: str | None = None,
                                 strict: bool = True,
                                 read: tuple[RequestView | None, list[RoleGrant]] | None = None,
                                 ) -> tuple[frozenset[str], list[RoleGrant]]:
        """member_groups, and the grants it read: a caller that only judges roles needs no second read.
        `read`: the request (of `request_id`) and the user's grants, when the caller just read them."""
        if read is None:
            with transaction(self.sessions) as session:
                request = self.get(session, request_id) if request_id is not None else None
                grants = repo.grants_for(session, user_id)
        else:
            request, grants = read
            if request_id is not None and request is None:
                raise RequestNotFound(NO_SUCH_REQUEST)
        names = [request.provider] if request is not None else list(providers)
        found, unknown = self.groups_holding(user_id, needed, names, grants)
        given = any(needed in policy.roles_for(user_id, p, grants, self.admins, found) for p in names)
        if unknown is None or given or not strict:
            return found, grants
        repeated = False
        if refused_as is not None:
            with transaction(self.sessions) as session:
                repeated = audit_refusal(session, now=self.db_now(session), action=refused_as, actor_id=user_id,
                                         why=str(unknown), code=RefusalCode.GROUPS_UNAVAILABLE, request=request,
                                         provider=names[0] if request is None and len(names) == 1 else None)
        raise refusal(str(unknown), repeated)

    def groups_holding(self, user_id: str, needed: Role, providers: Iterable[ProviderName],
                       grants: list[RoleGrant]) -> tuple[frozenset[str], GroupsUnavailable | None]:
        """(the user groups holding a grant of `needed` that Slack lists `user_id` in, why Slack could not tell
        about one of them, if it could not). Asks only what matters (policy.groups_to_ask); outside any
        transaction."""
        found: set[str] = set()
        unknown: GroupsUnavailable | None = None
        for provider in providers:
            for group in policy.groups_to_ask(user_id, provider, needed, grants, self.admins):
                if group in found:
                    break
                try:
                    members = self.group_members.members(group)
                except GroupsUnavailable as problem:  # unknown is not a member; another group may still tell
                    unknown = unknown or problem
                    continue
                if user_id in members:
                    found.add(group)
                    break
        return frozenset(found), unknown

    def get(self, session: Any, request_id: str) -> RequestView:
        """The request, or RequestNotFound with a sentence for the person who asked."""
        request = repo.get_request(session, request_id) if isinstance(request_id, str) else None
        if request is None:
            raise RequestNotFound(NO_SUCH_REQUEST)
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

    def rewrite_card(self, request_id: str, context: str | None = None) -> None:
        """Rewrite a card with its request's state as of now, compared and edited under the request's lock: the one
        way a card is updated (ARCHITECTURE.md "Transactions").

        A card never goes back a state: a decision recorded meanwhile waits for this edit, then
        rewrites the card after it; one recorded before is what this edit shows (the account
        `context` is only added while the request still waits, so a decided card is left alone).
        The Slack call runs under the lock on purpose: only that orders it before the decision's.
        """
        with transaction(self.sessions) as session:
            locked = repo.lock_request(session, request_id)
            if locked is None or (context is not None and locked.status is not Status.PENDING):
                return
            self.notifier.update_card(locked, context=context, refresh_home=False)
        if context is None:  # after the unit of work: the refresher reads the database (one SQLite connection: db.py)
            self.notifier.refresh_home(locked)

    def notify_final(self, request: RequestView) -> None:
        """Tell everyone a request ended: the card, the requester (ephemerally, and in their DM for it, which gets
        the Reveal button when there is one).

        Ending a request destroyed its typed secret (and any password nobody will reveal): the
        SQLite files are scrubbed of their old copies (storage/db.py: scrub), before anyone is told;
        with a password to reveal, once, after the DM has its button, when send_reveal_dm destroys
        the seal-key copy too (a checkpoint costs a disk flush: one per request, not two).
        """
        to_reveal = request.reveal_state is RevealState.READY
        if not to_reveal:
            scrub(self.sessions)
        self.rewrite_card(request.id)
        self.notifier.tell_requester(request)
        if to_reveal:
            from bot.workflow.reveal import send_reveal_dm  # reveal.py builds on this module

            if send_reveal_dm(self, request) is None:  # the requester's DM, rewritten with the button
                scrub(self.sessions)  # no DM now (the sweep sends it): the typed secret's copies go at once
        else:
            from bot.workflow.requester_dm import update_requester_dm  # as reveal.py, it builds on this module

            update_requester_dm(self, request)
