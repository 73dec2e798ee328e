"""Who may request, approve and reveal, and each provider's approval policy: pure functions and values.

Each refusal is a sentence for the person who acted. No I/O here. `ApprovalPolicy` is one
provider's policy (docs/CONTRACT.md "Approval policy"), stored by storage/repository.py and applied
by bot/workflow/policies.py; `weakened` says which changes loosen it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import datetime

from bot.domain import Decision, DomainError, RequestView, RevealState, Role, RoleGrant, Status


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
        "Ask an admin to run `resetbot roles grant` for you."
    )


def can_decide(user_id: str, roles: set[Role], request: RequestView, now: datetime, verb: str, *,
               provider_label: str) -> Decision:
    """Approve or deny: an approver for the provider, never the requester, while pending and fresh."""
    if user_id == request.requester_id:
        return Decision.deny(f"You asked for this reset, so you can't {verb} it: another approver has to.")
    if Role.APPROVER not in roles:
        return Decision.deny(
            f"You don't have the approver role for {provider_label}, so you can't {verb} this request."
        )
    if request.status is not Status.PENDING:
        return Decision.deny(already_decided(request))
    if now >= request.expires_at:
        return Decision.deny("This request expired before anyone approved it. The requester can ask again.")
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


def already_decided(request: RequestView) -> str:
    who = f" by <@{request.decided_by}>" if request.decided_by else ""
    return f"This request was already decided{who}: {DECIDED_WORDS.get(request.status, 'it is no longer waiting')}."


def can_reveal(user_id: str, request: RequestView, now: datetime, *, roles: set[Role] | None = None,
               provider_label: str = "this provider") -> Decision:
    """The requester only, while still a requester for the provider (`roles`: what they hold now), once."""
    if user_id != request.requester_id:
        return Decision.deny("Only the engineer who asked for this reset can reveal the password.")
    if roles is not None and Role.REQUESTER not in roles:
        return Decision.deny(
            f"You no longer have the requester role for {provider_label}, so the password can't be revealed to "
            "you. It is not used up: an admin can grant the role again (`resetbot roles grant`) before the reveal "
            "window ends."
        )
    if request.reveal_state in (RevealState.REVEALED, RevealState.OPENING):
        return Decision.deny("This password was already revealed; it is shown only once.")
    if request.reveal_state is RevealState.EXPIRED or (
        request.reveal_expires_at is not None and now >= request.reveal_expires_at
    ):
        return Decision.deny("The reveal window has passed and the password was destroyed. Ask for a new reset.")
    if request.reveal_state is not RevealState.READY:
        return Decision.deny("There is no password to reveal for this request.")
    return Decision.allow()


# --- approval policy (docs/CONTRACT.md "Approval policy") ------------------------------------------------

MAX_APPROVALS = 5
MAX_SECONDS = 2**31 - 1  # what an INTEGER column holds on every database (about 68 years)
MAX_REQUESTS_PER_HOUR = 1_000_000
# A Slack user group (S…), user (U…) or Enterprise Grid user (W…) id.
ESCALATION_TARGET = re.compile(r"[SUW][A-Z0-9]{2,31}")
DURATION = re.compile(r"([0-9]{1,10})([smh])")
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
    expire_after: int = 3600  # a request without its approvals by then expires; never off
    remind_after: int = 0  # a reminder in the card's thread; 0 = none
    escalate_after: int = 0  # a reply mentioning escalate_to, whose members may then approve; 0 = none
    escalate_to: str | None = None
    requests_per_hour: int = 20  # per engineer and provider, in any 60 minutes; 0 = no cap

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
            raise InvalidPolicy("escalate_to", "escalate_to must be a Slack user group ID (S…) or user ID (U… or "
                                               f"W…), such as S0123ABCD (got {self.escalate_to!r}).")
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
    escalation. Also, because they loosen the same way: a later reminder or escalation (removing one
    is the limit of postponing it), and an escalation to someone new (added, or escalate_to
    changed), since escalate_to's members may approve the requests it is posted for.
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
    if new.escalate_after and (not old.escalate_after or new.escalate_to != old.escalate_to):
        found.append(f"escalation to {new.escalate_to}, whose members may then approve")
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
                         "one person counts once.")
