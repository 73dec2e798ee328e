"""The shared vocabulary: request states and their state machine, roles, methods, value types, domain errors.

Stdlib only: every layer may import this module. It names no provider: a provider is a
plain name from the registry (bot/providers/registry.py), and `ProviderInfo` is how the
transports see one without importing bot.providers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TypeAlias


class Status(StrEnum):
    PENDING = "pending"
    EXECUTING = "executing"  # approved; the provider call is under way (sealed password already stored)
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    UNKNOWN = "unknown"  # the provider may or may not have changed it: someone must verify
    DENIED = "denied"
    EXPIRED = "expired"
    CANCELLED = "cancelled"  # the requester withdrew it while it waited (bot/workflow/requester.py)
    # Ended by an approval that found its requester no longer a requester: nothing sent (bot/workflow/decisions.py).
    WITHDRAWN = "withdrawn"

    @property
    def is_final(self) -> bool:
        """Nothing may follow it (TRANSITIONS has no move out of it)."""
        return not TRANSITIONS.get(self)


# The request's state machine: the statuses each status may move to. None is "not stored yet".
# storage/repository.py checks every status it writes against this table (check_transition).
TRANSITIONS: dict[Status | None, frozenset[Status]] = {
    None: frozenset({Status.PENDING}),
    Status.PENDING: frozenset({Status.EXECUTING, Status.DENIED, Status.EXPIRED, Status.CANCELLED,
                               Status.WITHDRAWN}),
    # EXECUTING → EXECUTING: a live replica takes over the lapsed lease of one that died and runs the
    # call again (bot/workflow/execution.py: recover_executions); FAILED also covers a seal that would
    # not open or a provider no longer enabled, UNKNOWN a recovery that cannot safely retry.
    Status.EXECUTING: frozenset({Status.EXECUTING, Status.SUCCEEDED, Status.FAILED, Status.UNKNOWN}),
}


class RevealState(StrEnum):
    NONE = "none"  # nothing to reveal (not done yet, failed, or an e-mailed link)
    READY = "ready"
    OPENING = "opening"  # claimed by a click; the modal is being opened
    REVEALED = "revealed"
    EXPIRED = "expired"


# The one-time reveal's state machine, checked the same way (check_reveal_transition).
REVEAL_TRANSITIONS: dict[RevealState, frozenset[RevealState]] = {
    RevealState.NONE: frozenset({RevealState.READY}),  # the execution succeeded with a new password
    RevealState.READY: frozenset({RevealState.OPENING, RevealState.EXPIRED}),
    # OPENING → OPENING: a claim whose modal never opened is claimed again; → READY: given back;
    # → EXPIRED: past the TTL, or the sealed password would not open.
    RevealState.OPENING: frozenset({RevealState.OPENING, RevealState.REVEALED, RevealState.READY,
                                    RevealState.EXPIRED}),
}


class Role(StrEnum):
    REQUESTER = "requester"
    APPROVER = "approver"
    ADMIN = "admin"


# "mofh": a provider's registry name, stored with requests, grants and policies. Any name the
# registry lists is one; the domain lists none, so a new provider needs no change here.
ProviderName: TypeAlias = str


class Method(StrEnum):
    SET_PASSWORD = "set_password"  # MyOwnFreeHost passwd
    EMAIL_LINK = "email_link"  # Namecheap users.resetPassword: the owner gets Namecheap's e-mail
    RESET_CODE = "reset_code"  # Namecheap changePassword way 2
    CURRENT_PASSWORD = "current_password"  # Namecheap changePassword way 1

    @property
    def label(self) -> str:
        return METHOD_LABELS[self]

    @property
    def sets_new_password(self) -> bool:
        return self is not Method.EMAIL_LINK

    @property
    def account_from_secret(self) -> bool:
        """The provider changes whichever account the typed secret belongs to, not the one the request names."""
        return self is Method.RESET_CODE


METHOD_LABELS = {
    Method.SET_PASSWORD: "Set a new password",
    Method.EMAIL_LINK: "Email a reset link",
    Method.RESET_CODE: "Reset code",
    Method.CURRENT_PASSWORD: "Current password",
}


class BotOutcome(StrEnum):
    """Outcomes the bot records itself, where no provider answered (beside docs/providers.md §4.2's)."""

    INTERRUPTED = "interrupted"  # the bot stopped during the call and cannot safely retry it
    SEAL_BROKEN = "seal_broken"  # the sealed secret would not open (wrong RESETBOT_SEAL_KEY?): nothing sent
    PROVIDER_DISABLED = "provider_disabled"  # the provider is not configured on the replica that ran it


@dataclass(frozen=True)
class AccountInfo:
    """A provider's Account input as the modal shows it."""

    label: str  # starts with "Account": outside tools find the input by that word
    hint: str
    max_length: int


@dataclass(frozen=True)
class SecretInputInfo:
    """The input for a secret a method needs (a reset code, a current password)."""

    label: str
    hint: str
    max_length: int


@dataclass(frozen=True)
class MethodInfo:
    method: Method
    secret_input: SecretInputInfo | None = None  # None: the method needs nothing typed

    @property
    def label(self) -> str:
        return self.method.label


@dataclass(frozen=True)
class ProviderInfo:
    """What the transports may know of one provider: its words in the modal. Each plugin builds its own."""

    name: ProviderName
    label: str  # "MyOwnFreeHost": what people see
    account: AccountInfo
    methods: tuple[MethodInfo, ...]  # what it offers; the first is the default
    method_hint: str | None = None  # under the Method input

    @property
    def offers_a_choice(self) -> bool:
        """More than one method: the modal asks which (a Method input)."""
        return len(self.methods) > 1

    @property
    def default_method(self) -> MethodInfo:
        return self.methods[0]

    def method(self, chosen: Method | str | None) -> MethodInfo | None:
        """The offered method whose value is `chosen`; None when it offers no such method."""
        return next((m for m in self.methods if m.method.value == chosen), None)


class ProviderCatalog:
    """Every provider the bot knows, in registry order, as ProviderInfo (bot/providers/registry.py: catalog)."""

    def __init__(self, providers: Iterable[ProviderInfo]) -> None:
        self._providers = {info.name: info for info in providers}

    def __iter__(self) -> Iterator[ProviderInfo]:
        return iter(self._providers.values())

    def __len__(self) -> int:
        return len(self._providers)

    def names(self) -> tuple[ProviderName, ...]:
        return tuple(self._providers)

    def get(self, name: ProviderName) -> ProviderInfo | None:
        return self._providers.get(name)

    def label(self, name: ProviderName) -> str:
        """What people see for a provider; a stored name the registry no longer lists is shown as it is."""
        info = self._providers.get(name)
        return info.label if info is not None else name


@dataclass(frozen=True)
class RoleGrant:
    user_id: str  # the subject: a Slack user (U…/W…) or a Slack user group (S…: is_user_group)
    role: Role
    provider: ProviderName | None  # None: every provider

    @property
    def to_group(self) -> bool:
        return is_user_group(self.user_id)


def is_user_group(subject: str) -> bool:
    """A Slack user group ID (S…): a grant to it holds for whoever Slack lists as its members at the click."""
    return subject[:1] == "S"


class RefusalCode(StrEnum):
    """Why something was refused, from a fixed set: the refusal metric's `reason` label (bot/metrics.py), never
    derived from the sentence a person is told."""

    SELF_DECISION = "self_decision"  # the requester deciding their own request
    ALREADY_APPROVED = "already_approved"  # the same approver twice
    GROUPS_UNAVAILABLE = "groups_unavailable"  # Slack could not tell who is in a user group
    NO_ROLE = "no_role"
    REQUESTER_GONE = "requester_gone"  # an approval after the requester lost the role
    ALREADY_DECIDED = "already_decided"
    ALREADY_USED = "already_used"  # revealed or confirmed once already
    EXPIRED = "expired"
    NOT_REQUESTER = "not_requester"  # someone else's request
    HOURLY_CAP = "hourly_cap"
    NOTHING_TO_REVEAL = "nothing_to_reveal"
    TOO_SOON = "too_soon"  # a reminder within 10 minutes of the last
    NOT_POSTED = "not_posted"  # no card (so no thread) yet
    PROPOSER = "proposer"  # the admin who proposed a policy change approving it
    STALE = "stale"  # the policy changed while someone edited it
    OTHER = "other"


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""  # a full sentence for the person, when refused
    code: RefusalCode | None = None  # why, from a fixed set (GET /metrics counts refusals by it), when refused

    @classmethod
    def allow(cls) -> Decision:
        return cls(True)

    @classmethod
    def deny(cls, reason: str, code: RefusalCode) -> Decision:
        return cls(False, reason, code)


@dataclass(frozen=True)
class MessageRef:
    channel: str
    ts: str


@dataclass(frozen=True)
class Approval:
    """One approver's approval of a request, and when it was recorded (on the database's clock)."""

    approver_id: str
    at: datetime


@dataclass(frozen=True)
class RequestView:
    """A read-only snapshot of a reset request, safe to render anywhere (it holds no secret)."""

    id: str
    provider: ProviderName  # the label is the provider's, not the request's: ProviderCatalog.label
    account: str  # what the provider is called with (MOFH account key, Namecheap username/value)
    account_input: str  # what the engineer typed
    method: Method
    reason: str
    ticket: str | None
    requester_id: str
    origin_channel: str | None
    status: Status
    created_at: datetime
    expires_at: datetime
    decided_by: str | None = None
    decided_at: datetime | None = None
    outcome: str | None = None
    outcome_message: str | None = None
    reveal_state: RevealState = RevealState.NONE
    reveal_token: str | None = None
    reveal_expires_at: datetime | None = None
    card: MessageRef | None = None
    dm: MessageRef | None = None
    response_url: str | None = None
    response_url_expires_at: datetime | None = None
    email: str | None = None  # Namecheap: where the reset link went
    customer_informed_at: datetime | None = None  # the engineer confirmed telling the customer
    # The provider policy the request was made under (bot/policy.py: ApprovalPolicy), kept as it was then.
    approvals_needed: int = 1
    remind_at: datetime | None = None  # None: no reminder
    escalate_at: datetime | None = None  # None: no escalation
    escalate_to: str | None = None  # the user group or user escalate_at mentions
    # Who approved it so far, first approval first (request_approvals); the N-th distinct one started the change.
    approvals: tuple[Approval, ...] = ()
    deny_reason: str | None = None  # what the denying approver typed (normalised: bot/forms.py typed_text)
    # The card-thread replies the sweep posts once each (bot/workflow/reminders.py), when they were posted.
    reminded_at: datetime | None = None
    escalated_at: datetime | None = None
    requester_reminded_at: datetime | None = None  # the requester's last Remind approvers (once per 10 min)
    reveal_sent_at: datetime | None = None  # when the requester's DM got its Reveal password button

    @property
    def approvers(self) -> list[str]:
        """The approvers so far, first approval first."""
        return [a.approver_id for a in self.approvals]

    @property
    def error_id(self) -> str:
        """What an engineer quotes to the bot's admin about this request's outcome; the log line carries it too."""
        return hashlib.sha256(self.id.encode()).hexdigest()[:8]


@dataclass(frozen=True)
class AuditRecord:
    id: int
    at: datetime
    actor_id: str | None
    action: str
    request_id: str | None
    provider: str | None
    account: str | None
    detail: dict = field(default_factory=dict)  # with `count` and `last_at` when the refusal was repeated
    seq: int | None = None  # its place in the hash chain, and its hash (storage/audit_chain.py)
    hash: str | None = None


@dataclass(frozen=True)
class AuditChainCheck:
    """What `resetbot audit verify` found: how many events it checked, and the first break (None: intact)."""

    events: int
    problem: str | None = None


class DomainError(Exception):
    """A refusal or conflict to tell the person who acted, in `str(self)`: never a secret."""


class NotAllowed(DomainError):
    pass


class AlreadyTold(NotAllowed):
    """A refusal the person was given moments ago for the same click (bot/workflow/context.py:
    audit_refusal): counted beside the first one's audit event, and not told again."""


class InvalidTransition(DomainError):
    """A state change the state machine does not allow: a bug in the caller, never a race."""


def check_transition(from_: Status | None, to: Status) -> None:
    """The one place a status change is allowed or refused (TRANSITIONS)."""
    if to not in TRANSITIONS.get(from_, frozenset()):
        raise InvalidTransition(f"A reset request cannot go from {from_ or 'nothing'} to {to}.")


def check_reveal_transition(from_: RevealState, to: RevealState) -> None:
    """The one place a reveal state change is allowed or refused (REVEAL_TRANSITIONS)."""
    if to not in REVEAL_TRANSITIONS.get(from_, frozenset()):
        raise InvalidTransition(f"A password reveal cannot go from {from_} to {to}.")


class RequestNotFound(DomainError):
    pass


class InputErrors(DomainError):
    """Form problems keyed by field name (provider, account, reason, ticket, method, secret)."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


class ServiceUnavailable(DomainError):
    """The database did not answer; the person is asked to try again."""


class GroupsUnavailable(NotAllowed):
    """Slack could not say who is in a user group that a role is granted to: the click is refused, never allowed.

    Raised by the workflow's `GroupMembers` port (bot/workflow/context.py; handlers/groups.py asks Slack);
    `detail` is Slack's error code or the kind of failure, never anything typed.
    """

    def __init__(self, group_id: str, detail: str) -> None:
        super().__init__(
            f"Slack could not tell whether you are a member of the user group {group_id}, which holds the role "
            f"this needs ({detail}), so it was refused: group members are checked at every click. Try again in a "
            "minute; if it keeps failing, ask an admin.")
        self.group_id = group_id
        self.detail = detail


class CardRefused(Exception):
    """Slack refused to post an approval card where it must go (the Notifier port raises it): the bot is not in
    the approvals channel, or the channel is archived or does not exist. Only an admin can fix that; until
    then the requester is told so, and the sweep posts the card once Slack accepts it.

    `error` is Slack's error code (not_in_channel, is_archived, channel_not_found); `channel` the channel id.
    """

    def __init__(self, channel: str, error: str) -> None:
        super().__init__(f"Slack refused to post in the approvals channel {channel}: {error}")
        self.channel = channel
        self.error = error
