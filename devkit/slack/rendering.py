"""What a person reads: the visible text of Block Kit blocks and of mrkdwn, as one-line transcript entries."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable
from typing import Any


def _plain(obj: Any) -> str:
    if obj is None:
        return ""
    if isinstance(obj, str):
        return obj
    if isinstance(obj, dict):
        return str(obj.get("text") or "")
    return str(obj)


def _rich_text(obj: Any) -> str:
    if isinstance(obj, dict):
        if obj.get("type") in ("text", "link") and "text" in obj:
            return str(obj["text"])
        if obj.get("type") == "link":
            return str(obj.get("url", ""))
        if obj.get("type") == "user":
            return f"<@{obj.get('user_id')}>"
        return "".join(_rich_text(e) for e in obj.get("elements", []))
    if isinstance(obj, list):
        return "".join(_rich_text(e) for e in obj)
    return ""


def render_text(blocks: Iterable[dict] | None) -> str:
    """The visible text of Block Kit blocks, one line per block."""
    lines: list[str] = []
    for block in blocks or []:
        kind = block.get("type")
        if kind == "header":
            lines.append(_plain(block.get("text")))
        elif kind == "section":
            parts = []
            if block.get("text"):
                parts.append(_plain(block.get("text")))
            parts.extend(_plain(f) for f in block.get("fields") or [])
            acc = block.get("accessory")
            if isinstance(acc, dict) and acc.get("type") == "button":
                parts.append(f"[{_plain(acc.get('text'))}]")
            lines.append("\n".join(p for p in parts if p))
        elif kind == "context":
            lines.append(" ".join(_plain(e) for e in block.get("elements") or [] if e.get("type") != "image"))
        elif kind == "actions":
            parts = []
            for e in block.get("elements") or []:
                if e.get("type") in ("button", "workflow_button"):
                    parts.append(f"[{_plain(e.get('text'))}]")
                elif e.get("placeholder"):
                    parts.append(f"<{_plain(e.get('placeholder'))}>")
            lines.append(" ".join(parts))
        elif kind == "input":
            lines.append(_plain(block.get("label")))
        elif kind == "rich_text":
            lines.append(_rich_text(block.get("elements")))
        elif kind == "markdown":
            lines.append(str(block.get("text") or ""))
        elif kind == "image":
            title = _plain(block.get("title")) or block.get("alt_text") or ""
            if title:
                lines.append(title)
    return "\n".join(line for line in lines if line)


_DATE = re.compile(r"<!date\^\d+\^[^|>]*\|([^>]*)>")
_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
_SUBTEAM = re.compile(r"<!subteam\^(S[A-Z0-9]+)(?:\|([^>]*))?>")
_SPECIAL = re.compile(r"<!(channel|here|everyone)(?:\|[^>]*)?>")
_CHANNEL = re.compile(r"<#(C[A-Z0-9]+)(?:\|([^>]*))?>")
_LINK = re.compile(r"<((?:https?|mailto):[^|>]+)(?:\|([^>]*))?>")
_BOLD = re.compile(r"\*([^*\n]+)\*")
_ITALIC = re.compile(r"(?<![\w])_([^_\n]+)_(?![\w])")
_STRIKE = re.compile(r"(?<![\w])~([^~\n]+)~(?![\w])")
_EMOJI = re.compile(r":([a-z0-9_+-]+):")
_QUOTE = re.compile(r"^(?:&gt;|>) ?", re.MULTILINE)
_LABEL = re.compile(r"\*([^*\n]{1,40})\*")  # a field's or section's label, alone on its line
# The emoji the bot writes (handlers/blocks.py), as a terminal shows them; any other keeps its :name:.
SYMBOLS = {"white_check_mark": "✓", "x": "✗", "warning": "⚠", "hourglass": "⌛",
           "hourglass_flowing_sand": "⏳", "no_entry": "⛔", "bell": "🔔", "rotating_light": "🚨",
           "leftwards_arrow_with_hook": "↩"}
WIDTH = 98  # the demo indents its lines by two: 100 columns in all


def for_transcript(text: str, *, side_by_side: bool = False) -> str:
    """A message's visible text as transcript lines: a `*Label*` alone on its line joined to its value
    ("Label: value"), short fields side by side, blank lines dropped; nothing cut (lay_out wraps).
    `side_by_side`: every line on one, ` · ` between (a modal's inputs)."""
    raw = [line.strip() for line in str(text).splitlines() if line.strip()]
    if side_by_side:
        return " · ".join(raw)
    lines: list[tuple[str, bool]] = []  # (line, is a short label: value pair)
    i = 0
    while i < len(raw):
        label = _LABEL.fullmatch(raw[i])
        if label and i + 1 < len(raw) and not _LABEL.fullmatch(raw[i + 1]):
            values = [raw[i + 1]]
            i += 2
            while i < len(raw) and _QUOTE.match(raw[i]) and _QUOTE.match(values[-1]):  # a quote's next lines
                values.append(raw[i])
                i += 1
            pair = f"{label.group(1)}: " + " ".join(_QUOTE.sub("", v) for v in values)
            lines.append((pair, len(pair) <= 60))
            continue
        lines.append((raw[i], False))
        i += 1
    joined: list[str] = []
    for line, short in lines:
        if short and joined and joined[-1].endswith("\x00"):
            joined[-1] = joined[-1][:-1] + " · " + line + "\x00"
        else:
            joined.append(line + ("\x00" if short else ""))
    return "\n".join(line.rstrip("\x00") for line in joined)


def lay_out(entry: str, width: int = WIDTH) -> str:
    """A transcript entry as a person reads it in a terminal: its first line, then the rest indented, each
    wrapped at `width` (never cut)."""
    out: list[str] = []
    for n, line in enumerate(entry.split("\n")):
        indent = "" if n == 0 else "    "
        out += textwrap.wrap(line, width=width, initial_indent=indent, subsequent_indent=indent + "  ",
                             break_long_words=False, break_on_hyphens=False) or [indent]
    return "\n".join(out)


def as_seen(text: str, users: dict[str, dict]) -> str:
    """mrkdwn as a person reads it: @names for mentions, dates in their fallback form, links as their
    text, emoji as a symbol, and no marks (*bold*, _italic_, ~strike~, `code`, ```blocks```, > quotes)."""
    text = _DATE.sub(lambda m: m.group(1), text)
    text = _MENTION.sub(lambda m: "@" + users.get(m.group(1), {}).get("name", m.group(1)), text)
    text = _SUBTEAM.sub(lambda m: m.group(2) if m.group(2) else "@" + m.group(1), text)
    text = _SPECIAL.sub(lambda m: "@" + m.group(1), text)
    text = _CHANNEL.sub(lambda m: "#" + (m.group(2) or m.group(1)), text)
    text = _LINK.sub(lambda m: m.group(2) or m.group(1), text)
    text = text.replace("```", "").replace("`", "")
    text = _QUOTE.sub("", text)
    text = _EMOJI.sub(lambda m: SYMBOLS.get(m.group(1), m.group(0)), text)
    text = _STRIKE.sub(lambda m: m.group(1), _ITALIC.sub(lambda m: m.group(1), _BOLD.sub(lambda m: m.group(1), text)))
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
