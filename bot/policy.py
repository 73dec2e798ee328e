"""Who may request, approve and reveal, and each provider's approval policy: pure functions and values.

Each refusal is a sentence for the person who acted. No I/O here. `ApprovalPolicy` is one
provider's policy (docs/CONTRACT.md "Approval policy"), stored by storage/repository.py and applied
by bot/workflow/policies.py; `weakened` says which changes loosen it (`escalation_widened`: those that
let someone approve who could not before). `PolicyProposal` is a loosening change an admin made in
Slack, waiting for a second admin (bot/workflow/policy_changes.py); `risk_alerts` says when one
engineer's hour looks like insider risk (bot/workflow/alerts.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from enum import StrEnum

from bot.domain import (
    Decision,
    DomainError,
    MessageRef,
    RefusalCode,
    RequestView,
    RevealState,
    Role,
    RoleGrant,
    Status,
    is_user_group,
)


def roles_for(user_id: str, provider: str, grants: Iterable[RoleGrant], admins: Iterable[str],
              groups: Iterable[str] = ()) -> set[Role]:
    """The roles a user holds for one provider; admin implies requester and approver.

    A grant counts when it is the user's own, or a user group's that `groups` lists: the groups
    Slack says the user is a member of now (bot/workflow/context.py: member_groups). A group
    Slack could not tell about is never in `groups`: unknown is not a member.
    """
    member_of = set(groups)
    roles = {g.role for g in grants
             if (g.user_id == user_id or (g.to_group and g.user_id in member_of)) and g.provider in (None, provider)}
    if user_id in set(admins):
        roles.add(Role.ADMIN)
    if Role.ADMIN in roles:
        roles |= {Role.REQUESTER, Role.APPROVER}
    return roles


def groups_to_ask(user_id: str, provider: str, needed: Role, grants: Iterable[RoleGrant],
                  admins: Iterable[str]) -> list[str]:
    """The user groups whose members Slack must be asked about before `user_id` can be given `needed`.

    None when the user's own grants (or RESETBOT_ADMINS) already give it: grants to users never need
    Slack. Otherwise the groups granted `needed`, or admin (which implies it), for this provider.
    """
    grants = list(grants)
    if needed in roles_for(user_id, provider, grants, admins):
        return []
    giving = {needed, Role.ADMIN}
    return sorted({g.user_id for g in grants if g.to_group and g.role in giving and g.provider in (None, provider)})


def can_request(roles: set[Role], provider_label: str) -> Decision:
    if Role.REQUESTER in roles:
        return Decision.allow()
    return Decision.deny(
        f"You don't have the requester role for {provider_label}, so you can't request a password reset. "
        "Ask your bot admin to give you the requester role.", RefusalCode.NO_ROLE
    )


def can_decide(user_id: str, roles: set[Role], request: RequestView, now: datetime, verb: str, *,
               provider_label: str, escalated: bool = False) -> Decision:
    """Approve or deny: an approver for the provider, never the requester, while pending and fresh.

    `escalated`: the request was escalated to this person (escalation_reaches), who may then decide it
    without the approver role."""
    if user_id == request.requester_id:
        return Decision.deny(f"You asked for this reset, so you can't {verb} it: another approver has to.",
                             RefusalCode.SELF_DECISION)
    if Role.APPROVER not in roles and not escalated:
        return Decision.deny(
            f"You don't have the approver role for {provider_label}, so you can't {verb} this request.",
            RefusalCode.NO_ROLE)
    if request.status is not Status.PENDING:
        return Decision.deny(already_decided(request), RefusalCode.ALREADY_DECIDED)
    if now >= request.expires_at:
        return Decision.deny("This request expired before anyone approved it. The requester can ask again.",
                             RefusalCode.EXPIRED)
    return Decision.allow()


def escalation_reaches(user_id: str, request: RequestView, now: datetime,
                       target_members: Iterable[str] | None = None) -> bool:
    """Whether the request's escalation lets `user_id` approve or deny it now, without the approver role.

    From `escalate_at` on (the database's clock), its `escalate_to` may: that user, or whoever Slack
    lists in that user group (`target_members`, asked at the click; None when unknown: nobody). Never
    the requester.
    """
    target = request.escalate_to
    if target is None or request.escalate_at is None or now < request.escalate_at or user_id == request.requester_id:
        return False
    if is_user_group(target):
        return target_members is not None and user_id in set(target_members)
    return user_id == target


def who_can_approve(provider: str, grants: Iterable[RoleGrant], admins: Iterable[str], requester_id: str) -> list[str]:
    """The users and user groups holding the approver role (or admin) for `provider`, the requester left out:
    whom a reminder mentions. Users first, then groups, each sorted."""
    subjects = {g.user_id for g in grants if g.role in (Role.APPROVER, Role.ADMIN) and g.provider in (None, provider)}
    subjects |= set(admins)
    subjects.discard(requester_id)
    return sorted(subjects, key=lambda s: (is_user_group(s), s))


REMIND_INTERVAL_MINUTES = 10  # the requester's Remind approvers, at most once per this per request


def can_act_as_requester(user_id: str, request: RequestView, roles: set[Role], what: str, *,
                         provider_label: str) -> Decision:
    """Cancel request and Remind approvers: the requester only, still a requester for the provider, while pending.

    `what` is the deed in words ("cancel this request")."""
    if user_id != request.requester_id:
        return Decision.deny(f"Only the engineer who asked for this reset can {what}.", RefusalCode.NOT_REQUESTER)
    if Role.REQUESTER not in roles:
        return Decision.deny(f"You no longer have the requester role for {provider_label}, so you can't {what}. "
                             "Ask your bot admin to give you the requester role again.", RefusalCode.NO_ROLE)
    if request.status is not Status.PENDING:
        return Decision.deny(f"{already_decided(request)} You can no longer {what}.", RefusalCode.ALREADY_DECIDED)
    return Decision.allow()


# What became of a request that is no longer waiting, for a click that came too late.
DECIDED_WORDS = {
    Status.EXECUTING: "it was approved and the change is under way",
    Status.SUCCEEDED: "it was approved and the change is done",
    Status.FAILED: "it was approved, but the change failed",
    Status.UNKNOWN: "it was approved, and the outcome of the change is unknown",
    Status.DENIED: "it was denied",
    Status.EXPIRED: "it expired",
}


# An approval counts only while the requester is still a requester for the provider (CONTRACT.md "Rules that
# always hold"); otherwise the request ends, withdrawn, with nothing sent (bot/workflow/decisions.py).
WITHDRAWN_ALREADY = ("This request was already withdrawn: the engineer who asked for it no longer has the requester "
                     "role, so nothing was changed.")


def requester_gone(provider_label: str) -> str:
    """What the approver whose click found the requester without the requester role is told."""
    return (f"The engineer who asked for this reset no longer has the requester role for {provider_label}, so your "
            f"approval was not counted: the request is withdrawn and nothing was sent to {provider_label}.")


def already_decided(request: RequestView) -> str:
    if request.status is Status.CANCELLED:
        return "This request was already cancelled by the engineer who asked for it."
    if request.status is Status.WITHDRAWN:
        return WITHDRAWN_ALREADY
    who = f" by <@{request.decided_by}>" if request.decided_by else ""
    return f"This request was already decided{who}: {DECIDED_WORDS.get(request.status, 'it is no longer waiting')}."


def can_reveal(user_id: str, request: RequestView, now: datetime, *, roles: set[Role] | None = None,
               provider_label: str = "this provider") -> Decision:
    """The requester only, while still a requester for the provider (`roles`: what they hold now), once."""
    if user_id != request.requester_id:
        return Decision.deny("Only the engineer who asked for this reset can reveal the password.",
                             RefusalCode.NOT_REQUESTER)
    if roles is not None and Role.REQUESTER not in roles:
        return Decision.deny(
            f"You no longer have the requester role for {provider_label}, so the password can't be revealed to "
            "you. It is not used up: ask your bot admin to give you the requester role again before the reveal "
            "window ends.", RefusalCode.NO_ROLE)
    if request.reveal_state in (RevealState.REVEALED, RevealState.OPENING):
        return Decision.deny("This password was already revealed; it is shown only once.", RefusalCode.ALREADY_USED)
    if request.reveal_state is RevealState.EXPIRED or (
        request.reveal_expires_at is not None and now >= request.reveal_expires_at
    ):
        return Decision.deny("The reveal window has passed and the password was destroyed. Ask for a new reset.",
                             RefusalCode.EXPIRED)
    if request.reveal_state is not RevealState.READY:
        return Decision.deny("There is no password to reveal for this request.", RefusalCode.NOTHING_TO_REVEAL)
    return Decision.allow()


# --- approval policy (docs/CONTRACT.md "Approval policy") ------------------------------------------------

MAX_APPROVALS = 5
MAX_SECONDS = 2**31 - 1  # what an INTEGER column holds on every database (about 68 years)
MAX_REQUESTS_PER_HOUR = 1_000_000
# A Slack user group (S…), user (U…) or Enterprise Grid user (W…) id.
ESCALATION_TARGET = re.compile(r"[SUW][A-Z0-9]{2,31}")
DURATION = re.compile(r"([0-9]{1,10})([smh])")
# docs/CONTRACT.md's defaults, written once: RESETBOT_REVEAL_TTL, RESETBOT_APPROVAL_TTL (a policy's expire_after) and
# RESETBOT_REQUESTS_PER_HOUR (a policy's requests_per_hour); bot/config.py and bot/workflow/ read them from here.
DEFAULT_REVEAL_TTL = 900
DEFAULT_APPROVAL_TTL = 3600
DEFAULT_REQUESTS_PER_HOUR = 20

UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600}


class InvalidPolicy(DomainError):
    """A policy value out of range; `field` names the offending ApprovalPolicy field."""

    def __init__(self, field: str, sentence: str) -> None:
        super().__init__(sentence)
        self.field = field


@dataclass(frozen=True)
class ApprovalPolicy:
    """One provider's approval policy. Durations are whole seconds; 0 turns a reminder, an escalation or the cap off.

    The defaults are docs/CONTRACT.md's, except that expire_after and requests_per_hour come from
    RESETBOT_APPROVAL_TTL and RESETBOT_REQUESTS_PER_HOUR (bot/workflow/policies.py).
    """

    approvals: int = 1  # distinct approvers needed; the requester never counts
    expire_after: int = DEFAULT_APPROVAL_TTL  # a request without its approvals by then expires; never off
    remind_after: int = 0  # a reminder in the card's thread; 0 = none
    escalate_after: int = 0  # a reply mentioning escalate_to, whose members may then approve; 0 = none
    escalate_to: str | None = None
    requests_per_hour: int = DEFAULT_REQUESTS_PER_HOUR  # per engineer and provider, in any 60 minutes; 0 = no cap

    def __post_init__(self) -> None:
        for name in FIELDS:
            value = getattr(self, name)
            if name != "escalate_to" and (not isinstance(value, int) or isinstance(value, bool)):
                raise InvalidPolicy(name, f"{name} must be a whole number (got {value!r}).")
        if not 1 <= self.approvals <= MAX_APPROVALS:
            raise InvalidPolicy("approvals", f"approvals must be from 1 to {MAX_APPROVALS} (got {self.approvals}).")
        for name in ("expire_after", "remind_after", "escalate_after"):
            value = getattr(self, name)
            if not 0 <= value <= MAX_SECONDS:
                raise InvalidPolicy(name, f"{name} must be from 0 to {MAX_SECONDS} seconds (got {value}).")
        if self.expire_after == 0:
            raise InvalidPolicy("expire_after", "expire_after cannot be 0: a request must expire some time, "
                                                "or it waits for approval forever.")
        if not 0 <= self.requests_per_hour <= MAX_REQUESTS_PER_HOUR:
            raise InvalidPolicy("requests_per_hour", f"requests_per_hour must be from 0 (no cap) to "
                                                     f"{MAX_REQUESTS_PER_HOUR} (got {self.requests_per_hour}).")
        if self.escalate_to is not None and (not isinstance(self.escalate_to, str)
                                             or not ESCALATION_TARGET.fullmatch(self.escalate_to)):
            raise InvalidPolicy("escalate_to", _escalate_to_sentence(self.escalate_to))
        for name in ("remind_after", "escalate_after"):
            value = getattr(self, name)
            if value and value >= self.expire_after:
                raise InvalidPolicy(name, f"{name} ({format_duration(value)}) must be shorter than expire_after "
                                          f"({format_duration(self.expire_after)}): the request would expire first.")
        if self.escalate_after and self.escalate_to is None:
            raise InvalidPolicy("escalate_to", "escalate_after needs escalate_to: the group or user to escalate to.")

    def as_dict(self) -> dict[str, int | str | None]:
        """The fields by name, durations in seconds (`policy show --format json`, the audit trail)."""
        return {name: getattr(self, name) for name in FIELDS}


def _escalate_to_sentence(value: object) -> str:
    return f"escalate_to must be a Slack user group ID (S…) or user ID (U… or W…), such as S0123ABCD (got {value!r})."


FIELDS = tuple(f.name for f in fields(ApprovalPolicy))  # approvals, expire_after, …, requests_per_hour


def parse_duration(text: str, field: str) -> int:
    """`90s`, `15m`, `2h` or `0` (off) as seconds; InvalidPolicy naming `field` otherwise."""
    value = text.strip().lower()
    if value == "0":
        return 0
    match = DURATION.fullmatch(value)
    if match is None:
        raise InvalidPolicy(field, f"{field} must be a duration such as 90s, 15m or 2h, or 0 for off "
                                   f"(got {text!r}).")
    return int(match.group(1)) * UNIT_SECONDS[match.group(2)]


def format_duration(seconds: int) -> str:
    """The shortest exact form parse_duration reads back: 7200 → `2h`, 900 → `15m`, 90 → `90s`, 0 → `off`."""
    if seconds == 0:
        return "off"
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    if seconds % 60 == 0:
        return f"{seconds // 60}m"
    return f"{seconds}s"


def weakened(old: ApprovalPolicy, new: ApprovalPolicy) -> list[str]:
    """How `new` is looser than `old`, one phrase per loosening; empty when it is as strict or stricter.

    docs/CONTRACT.md: fewer approvals, a higher or no cap, a longer expiry, removing a reminder or an
    escalation. Also a later reminder or escalation, which loosens the same way (removing one is the
    limit of postponing it). And any change that lets someone approve who could not before
    (escalation_widened): adding an escalation, an earlier one, or one to a new or different group or
    user. Adding a reminder or an earlier one tightens: it gets a waiting request seen sooner and
    lets nobody new approve. So from Slack every change of an escalation in effect, or that puts one
    in effect, waits for a second admin; changing the kept escalate_to of one that stays off does not.
    """
    found: list[str] = []
    if new.approvals < old.approvals:
        found.append(f"fewer approvals ({old.approvals} → {new.approvals})")
    if old.requests_per_hour and (not new.requests_per_hour or new.requests_per_hour > old.requests_per_hour):
        found.append(f"a higher cap ({_cap(old.requests_per_hour)} → {_cap(new.requests_per_hour)})")
    if new.expire_after > old.expire_after:
        found.append(f"a longer expiry ({format_duration(old.expire_after)} → {format_duration(new.expire_after)})")
    for name, what in (("remind_after", "reminder"), ("escalate_after", "escalation")):
        before, after = getattr(old, name), getattr(new, name)
        if before and not after:
            found.append(f"no {what} (was after {format_duration(before)})")
        elif before and after > before:
            found.append(f"a later {what} ({format_duration(before)} → {format_duration(after)})")
    found += escalation_widened(old, new)
    return found


def escalation_widened(old: ApprovalPolicy, new: ApprovalPolicy) -> list[str]:
    """How `new` lets someone approve who could not under `old`, one phrase each; empty when nobody new may.

    The escalation is the part of a policy that makes approvers: from escalate_after on, its
    escalate_to (that user, or the members of that user group) may approve or deny a waiting request
    without the approver role (escalation_reaches), and counts towards its quorum. So a new escalation,
    an escalation to a different group or user, or an earlier one, gives someone that power, or gives it
    sooner: docs/CONTRACT.md counts each as weakening the policy, whatever else the change tightens.
    An escalation that is off reaches nobody, whatever escalate_to it keeps.
    """
    if not new.escalate_after:
        return []
    if not old.escalate_after:
        return [f"a new escalation (to {new.escalate_to} after {format_duration(new.escalate_after)})"]
    found: list[str] = []
    if new.escalate_to != old.escalate_to:
        found.append(f"a different escalation target ({old.escalate_to} → {new.escalate_to})")
    if new.escalate_after < old.escalate_after:
        found.append(f"an earlier escalation ({format_duration(old.escalate_after)} → "
                     f"{format_duration(new.escalate_after)})")
    return found


def weakens(old: ApprovalPolicy, new: ApprovalPolicy) -> bool:
    """True when the change from `old` to `new` loosens the policy (a second admin must approve it)."""
    return bool(weakened(old, new))


def _cap(requests_per_hour: int) -> str:
    return f"{requests_per_hour}/h" if requests_per_hour else "no cap"


def counted_approvers(approvals: Iterable[str], requester_id: str) -> list[str]:
    """The approvers that count towards a request's quorum, first approval first: never the requester,
    one person once."""
    counted: list[str] = []
    for approver in approvals:
        if approver != requester_id and approver not in counted:
            counted.append(approver)
    return counted


def approvals_still_needed(needed: int, approvals: Iterable[str], requester_id: str) -> int:
    """How many more distinct approvers a request needs; 0 when its quorum is met.

    `needed` is the request's own `approvals_needed` (the policy it was made under), not the
    provider's current policy.
    """
    return max(0, needed - len(counted_approvers(approvals, requester_id)))


def approval_count(request: RequestView) -> int:
    """How many distinct approvers count towards the request's quorum so far."""
    return len(counted_approvers(request.approvers, request.requester_id))


def can_add_approval(user_id: str, request: RequestView) -> Decision:
    """One person counts once: a second Approve by someone who already approved changes nothing."""
    if user_id not in request.approvers:
        return Decision.allow()
    still = approvals_still_needed(request.approvals_needed, request.approvers, request.requester_id)
    more = f"{still} more approval{'' if still == 1 else 's'}"
    return Decision.deny(f"You already approved this request. It needs {more}, from another approver: "
                         "one person counts once.", RefusalCode.ALREADY_APPROVED)


# --- policy changes from Slack (docs/CONTRACT.md "What a person sees in Slack": Policy) ---------------


def changed_fields(old: ApprovalPolicy, new: ApprovalPolicy) -> list[str]:
    """The fields whose value differs, in ApprovalPolicy's order."""
    return [name for name in FIELDS if getattr(old, name) != getattr(new, name)]


def policy_from_texts(texts: Mapping[str, str | None]) -> tuple[ApprovalPolicy | None, dict[str, str]]:
    """A whole policy from what an admin typed, one text per field: (policy, {}) or (None, errors by field).

    Counts are whole numbers, durations as parse_duration reads them (`off` too, as the App Home shows
    an unset one), an empty escalate_to is none. The sentences are InvalidPolicy's.
    """
    errors: dict[str, str] = {}
    values: dict[str, int | str | None] = {}
    for name in FIELDS:
        text = (texts.get(name) or "").strip()
        try:
            if name == "escalate_to":
                if text and not ESCALATION_TARGET.fullmatch(text):
                    raise InvalidPolicy(name, _escalate_to_sentence(text))
                values[name] = text or None
            elif name in ("approvals", "requests_per_hour"):
                if not re.fullmatch(r"[0-9]{1,10}", text):
                    raise InvalidPolicy(name, f"{name} must be a whole number (got {text!r}).")
                values[name] = int(text)
            else:
                values[name] = parse_duration("0" if text.lower() == "off" else text, name)
        except InvalidPolicy as problem:
            errors[name] = str(problem)
    if errors:
        return None, errors
    try:
        return ApprovalPolicy(**values), {}  # type: ignore[arg-type]  # each value was read for its field above
    except InvalidPolicy as problem:
        return None, {problem.field: str(problem)}


class ProposalStatus(StrEnum):
    PENDING = "pending"  # waits for a second admin
    APPLIED = "applied"  # a second admin approved it: in effect
    REJECTED = "rejected"  # an admin rejected it
    WITHDRAWN = "withdrawn"  # its proposer took it back
    STALE = "stale"  # the policy changed after it was proposed: never applied over the newer change


@dataclass(frozen=True)
class PolicyProposal:
    """A change that loosens a provider's policy, made by one admin, in effect only once a second admin approves.

    `old` is the policy it was proposed against: it is applied only while that is still the policy.
    """

    id: str
    provider: str
    proposed_by: str
    proposed_at: datetime
    old: ApprovalPolicy
    new: ApprovalPolicy
    status: ProposalStatus = ProposalStatus.PENDING
    decided_by: str | None = None
    decided_at: datetime | None = None
    card: MessageRef | None = None

    @property
    def changed(self) -> list[str]:
        return changed_fields(self.old, self.new)

    @property
    def weakened(self) -> list[str]:
        return weakened(self.old, self.new)


@dataclass(frozen=True)
class PolicyAnnouncement:
    """A change made outside Slack (`resetbot policy set`), already in effect, that the running bot announces in
    the approvals channel once (bot/workflow/policy_announcements.py). `changed_by` is "cli:" and the OS user."""

    id: int
    provider: str
    changed_by: str | None
    changed_at: datetime
    old: ApprovalPolicy
    new: ApprovalPolicy

    @property
    def changed(self) -> list[str]:
        return changed_fields(self.old, self.new)

    @property
    def weakened(self) -> list[str]:
        return weakened(self.old, self.new)


def can_change_policy(roles: set[Role], provider_label: str) -> Decision:
    """Only an admin for the provider (a grant, or RESETBOT_ADMINS) changes or proposes its policy."""
    if Role.ADMIN in roles:
        return Decision.allow()
    return Decision.deny(f"You don't have the admin role for {provider_label}, so you can't change its approval "
                         "policy. Ask your bot admin for the admin role.", RefusalCode.NO_ROLE)


def can_decide_proposal(user_id: str, roles: set[Role], proposal: PolicyProposal, current: ApprovalPolicy, *,
                        approve: bool, provider_label: str) -> Decision:
    """Approve change: a second admin, never the proposer, while the policy is still the one it was proposed
    against. Reject: any admin, the proposer included (withdrawing it)."""
    if proposal.status is not ProposalStatus.PENDING:
        return Decision.deny(proposal_already_decided(proposal), RefusalCode.ALREADY_DECIDED)
    if approve and user_id == proposal.proposed_by:
        return Decision.deny("You proposed this policy change, so you can't approve it: a second admin has to.",
                             RefusalCode.PROPOSER)
    if Role.ADMIN not in roles:
        verb = "approve" if approve else "reject"
        return Decision.deny(f"You don't have the admin role for {provider_label}, so you can't {verb} changes "
                             "to its approval policy.", RefusalCode.NO_ROLE)
    if approve and current != proposal.old:
        return Decision.deny(stale_sentence(provider_label), RefusalCode.STALE)
    return Decision.allow()


def stale_sentence(provider_label: str) -> str:
    return (f"The approval policy of {provider_label} changed after this was proposed, so it was not applied over "
            "the newer change. Propose it again from the App Home if it is still wanted.")


def proposal_already_decided(proposal: PolicyProposal) -> str:
    who = f" by <@{proposal.decided_by}>" if proposal.decided_by else ""
    words = {ProposalStatus.APPLIED: "approved and is in effect", ProposalStatus.REJECTED: "rejected",
             ProposalStatus.WITHDRAWN: "withdrawn", ProposalStatus.STALE: "overtaken by a newer change",
             ProposalStatus.PENDING: "not decided yet"}[proposal.status]
    return f"This policy change was already decided{who}: it was {words}."


# --- insider-risk signals (docs/CONTRACT.md issue 10 item 5) ---------------------------------------------

RISK_DISTINCT_ACCOUNTS = 10  # more distinct accounts than this, opened by one engineer in an hour, alert
RISK_REFUSALS_WITHOUT_CAP = 20  # the refusal threshold where a provider has no cap (requests_per_hour 0)


class RiskKind(StrEnum):
    REFUSALS = "refusals"  # more refused requests than the provider's hourly cap
    ACCOUNTS = "accounts"  # resets of more than RISK_DISTINCT_ACCOUNTS distinct accounts


@dataclass(frozen=True)
class RiskAlert:
    """One insider-risk signal about one engineer in the last hour; names counts, never an account or a secret."""

    engineer_id: str
    kind: RiskKind
    count: int  # refusals, or distinct accounts
    threshold: int  # the count it went over
    provider: str | None = None  # the provider whose cap the refusals were counted against


def refusal_threshold(requests_per_hour: int) -> int:
    """More refusals than this for one engineer and provider in an hour alert: the provider's cap, or
    RISK_REFUSALS_WITHOUT_CAP where it has none."""
    return requests_per_hour or RISK_REFUSALS_WITHOUT_CAP


def risk_alerts(engineer_id: str, *, refusals: int, requests_per_hour: int, accounts: int,
                provider: str | None = None) -> list[RiskAlert]:
    """What one engineer's last hour signals: `refusals` (for `provider`) over its cap, `accounts` (distinct,
    any provider) over RISK_DISTINCT_ACCOUNTS."""
    found = []
    limit = refusal_threshold(requests_per_hour)
    if refusals > limit:
        found.append(RiskAlert(engineer_id, RiskKind.REFUSALS, refusals, limit, provider))
    if accounts > RISK_DISTINCT_ACCOUNTS:
        found.append(RiskAlert(engineer_id, RiskKind.ACCOUNTS, accounts, RISK_DISTINCT_ACCOUNTS))
    return found
