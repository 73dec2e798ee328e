"""What the transports hand the workflow as input: the reset form as typed, and the slash command's draft.

Plain values with no behaviour, so handlers/ can build them without importing the workflow.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.secret import Secret


@dataclass(frozen=True)
class RequestForm:
    provider: str | None
    account: str | None
    reason: str | None
    ticket: str | None = None
    method: str | None = None
    secret_input: Secret | None = None  # reset code or current password, sealed at once


@dataclass(frozen=True)
class Draft:
    requester_id: str
    channel_id: str | None
    response_url: str | None
