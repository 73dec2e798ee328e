"""Who may request, approve and reveal: pure functions over grants and request snapshots.

Each refusal is a sentence for the person who acted. No I/O here.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from bot.domain import Decision, RequestView, RevealState, Role, RoleGrant, Status


def roles_for(user_id: str, provider: str, grants: Iterable[RoleGrant], admins: Iterable[str]) -> set[Role]:
    """The roles a user holds for one provider; admin implies requester and approver."""
    roles = {g.role for g in grants if g.user_id == user_id and g.provider in (None, provider)}
    if user_id in set(admins):
        roles.add(Role.ADMIN)
    if Role.ADMIN in roles:
        roles |= {Role.REQUESTER, Role.APPROVER}
    return roles


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


def already_decided(request: RequestView) -> str:
    who = f" by <@{request.decided_by}>" if request.decided_by else ""
    return f"This request was already decided{who}: it is {request.status.value}."


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
