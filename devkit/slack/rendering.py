"""What a person reads: the visible text of Block Kit blocks and of mrkdwn, as one-line transcript entries."""

from __future__ import annotations

import re
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
_MENTION = re.compile(r"<@([UW][A-Z0-9]+)>")
_BOLD = re.compile(r"\*([^*\n]+)\*")


def _one_line(text: str, limit: int = 400) -> str:
    flat = " | ".join(part.strip() for part in str(text).splitlines() if part.strip())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def as_seen(text: str, users: dict[str, dict]) -> str:
    """mrkdwn as a person reads it: @names for mentions, dates in their fallback form, no *bold* stars."""
    text = _DATE.sub(lambda m: m.group(1), text)
    text = _MENTION.sub(lambda m: "@" + users.get(m.group(1), {}).get("name", m.group(1)), text)
    return _BOLD.sub(lambda m: m.group(1), text)
