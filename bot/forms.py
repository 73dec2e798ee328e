"""What the transports hand the workflow as input: the reset form as typed, and the slash command's draft.

Plain values with no behaviour, so handlers/ can build them without importing the workflow;
and `typed_text`, the one normalisation of free text a person typed (reason, ticket), applied
when it is stored (bot/workflow/intake.py) and again wherever it is shown (handlers/blocks.py).
"""

from __future__ import annotations

import unicodedata
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


# Bidi_Control characters (U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069) reorder what
# follows them; other invisible format characters (Cf) can hide or smuggle text. Kept visible.
_KEPT_FORMAT = frozenset("\u200c\u200d")  # zero-width (non-)joiner: emoji and scripts need them
_LINE_BREAKS = frozenset("\n\v\f\r\x1c\x1d\x1e\x85\u2028\u2029")  # what str.splitlines() breaks on


def typed_text(raw: str | None, *, multiline: bool = True) -> str:
    """Free text as a person typed it, made safe to store and show.

    NFC (canonical composition only: compatibility forms such as full-width letters stay as
    typed); every line break becomes "\\n" (a space when `multiline` is False); tabs become
    spaces; other control characters are dropped; invisible format characters, the bidi
    overrides and isolates among them, are made visible as `[U+202E]`; a lone surrogate (not
    storable as UTF-8) becomes U+FFFD. Leading and trailing whitespace is stripped. The same
    text in gives the same text out, so applying it twice changes nothing.
    """
    out: list[str] = []
    for ch in (raw or "").replace("\r\n", "\n"):
        if ch in _LINE_BREAKS:
            out.append("\n" if multiline else " ")
        elif ch == "\t":
            out.append(" ")
        else:
            category = unicodedata.category(ch)
            if category == "Cc":
                continue
            if category == "Cs":
                out.append("\ufffd")
            elif category == "Cf" and ch not in _KEPT_FORMAT:
                out.append(f"[U+{ord(ch):04X}]")
            else:
                out.append(ch)
    return unicodedata.normalize("NFC", "".join(out)).strip()
