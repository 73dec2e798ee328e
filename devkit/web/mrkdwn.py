"""Slack's mrkdwn as HTML, the way Slack shows it, with every character of the text escaped.

Slack's text arrives with `&`, `<` and `>` escaped as `&amp;`, `&lt;` and `&gt;`; a raw `<…>` is
markup (a link, a mention, a date). So the order is: cut out code and the `<…>` markup first,
turn the three entities back into characters exactly once, escape the result for HTML, then
apply the marks (*bold*, _italic_, ~strike~) and put the markup back as HTML built from escaped
parts. Nothing a person typed can become an element or an attribute.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

# The emoji the bot writes (handlers/blocks.py) and a few common ones; any other keeps its :name:, as a
# custom emoji Slack cannot find does.
EMOJI = {
    "white_check_mark": "✅", "heavy_check_mark": "✔️", "x": "❌", "warning": "⚠️", "hourglass": "⌛",
    "hourglass_flowing_sand": "⏳", "no_entry": "⛔", "no_entry_sign": "🚫", "bell": "🔔",
    "rotating_light": "🚨", "leftwards_arrow_with_hook": "↩️", "lock": "🔒", "key": "🔑", "eyes": "👀",
    "information_source": "ℹ️", "question": "❓", "tada": "🎉", "wave": "👋", "memo": "📝",
}


@dataclass
class Names:
    """Who and what the workspace's ids stand for: `<@U…>`, `<!subteam^S…>` and `<#C…>` are shown by name."""

    users: dict[str, str] = field(default_factory=dict)  # U… -> name
    groups: dict[str, str] = field(default_factory=dict)  # S… -> handle (without @)
    channels: dict[str, str] = field(default_factory=dict)  # C… -> name (without #)


_CODE_BLOCK = re.compile(r"```(.*?)```", re.DOTALL)
_INLINE = re.compile(r"`([^`\n]+)`|<([^<>\n]*)>")
_ENTITY = re.compile(r"&(lt|gt|amp);")
_MARKS = (
    # A mark opens after the start, a space or punctuation and closes before the end, a space or
    # punctuation, with no space just inside, as Slack's: a_b_c and 2*3*4 are left alone.
    (re.compile(r"(?<![\w*])\*(?=[^\s*])([^*\n]*?[^\s*])\*(?![\w*])"), "b"),
    (re.compile(r"(?<![\w_])_(?=[^\s_])([^_\n]*?[^\s_])_(?![\w_])"), "i"),
    (re.compile(r"(?<![\w~])~(?=[^\s~])([^~\n]*?[^\s~])~(?![\w~])"), "s"),
)
_EMOJI = re.compile(r":([a-z0-9_+-]+):")
_QUOTE = re.compile(r"^(?:>|&gt;) ?")
_BULLET = re.compile(r"^(\s*)(?:[•◦▪‣]|-) +(.*)$")
_NUMBERED = re.compile(r"^(\s*)(\d{1,3})\. +(.*)$")
_LINK_SCHEMES = ("http://", "https://", "mailto:")
_HOLE = "\x00"  # never in the text: removed from it first


def unescape(text: str) -> str:
    """Slack's three entities back to characters, exactly once (`&amp;lt;` is the text `&lt;`)."""
    return _ENTITY.sub(lambda m: {"lt": "<", "gt": ">", "amp": "&"}[m.group(1)], text)


def esc(text: str) -> str:
    return html.escape(text, quote=True)


def plain_to_html(text: str) -> str:
    """A plain_text object's text: no marks, no markup; entities are shown as they are (Slack does)."""
    return esc(str(text).replace(_HOLE, "")).replace("\n", "<br>")


def to_html(text: str, names: Names, *, now: datetime | None = None) -> str:
    """mrkdwn text as an HTML fragment: paragraphs, quotes, lists and code blocks, then the inline marks."""
    text = str(text).replace(_HOLE, "")
    out: list[str] = []
    last = 0
    for block in _CODE_BLOCK.finditer(text):
        out.append(_lines(text[last:block.start()], names, now))
        out.append(f'<pre class="md-pre">{esc(unescape(block.group(1).strip(chr(10))))}</pre>')
        last = block.end()
    out.append(_lines(text[last:], names, now))
    return "".join(part for part in out if part)


def _lines(text: str, names: Names, now: datetime | None) -> str:
    """Lines grouped as Slack groups them: a run of `>` lines is one quote, a run of list lines one list."""
    if not text.strip("\n"):
        return ""
    groups: list[tuple[str, list[str]]] = []  # (kind, lines): "p", "quote", "ul", "ol"
    for line in text.strip("\n").split("\n"):
        kind = "quote" if _QUOTE.match(line) else "ul" if _BULLET.match(line) else "ol" if _NUMBERED.match(line) \
            else "p"
        if kind == "quote":
            line = _QUOTE.sub("", line, count=1)
        if groups and groups[-1][0] == kind:
            groups[-1][1].append(line)
        else:
            groups.append((kind, [line]))
    html_parts: list[str] = []
    for kind, lines in groups:
        if kind == "quote":
            html_parts.append('<blockquote class="md-quote">'
                              + "<br>".join(inline(line, names, now) for line in lines) + "</blockquote>")
        elif kind == "ul":
            items = []
            for line in lines:
                found = _BULLET.match(line)
                assert found is not None
                depth = min(len(found.group(1).expandtabs(4)) // 4, 3)
                items.append(f'<li class="md-depth-{depth}">{inline(found.group(2), names, now)}</li>')
            html_parts.append('<ul class="md-list">' + "".join(items) + "</ul>")
        elif kind == "ol":
            first = _NUMBERED.match(lines[0])
            assert first is not None
            items = []
            for line in lines:
                found = _NUMBERED.match(line)
                assert found is not None
                items.append(f"<li>{inline(found.group(3), names, now)}</li>")
            html_parts.append(f'<ol class="md-list" start="{int(first.group(2))}">' + "".join(items) + "</ol>")
        else:
            html_parts.append('<div class="md-p">' + "<br>".join(inline(line, names, now) for line in lines)
                              + "</div>")
    return "".join(html_parts)


def inline(text: str, names: Names, now: datetime | None = None) -> str:
    """One line: code spans and `<…>` markup become holes, the rest is unescaped once, escaped for HTML
    and marked up; then the holes are filled with HTML built from escaped parts."""
    holes: list[str] = []

    def hole(found: re.Match) -> str:
        code, markup = found.group(1), found.group(2)
        holes.append(f'<code class="md-code">{esc(unescape(code))}</code>' if code is not None
                     else _markup(markup, names, now))
        return f"{_HOLE}{len(holes) - 1}{_HOLE}"

    text = esc(unescape(_INLINE.sub(hole, text)))
    for pattern, tag in _MARKS:
        text = pattern.sub(lambda m, tag=tag: f"<{tag}>{m.group(1)}</{tag}>", text)
    text = _EMOJI.sub(lambda m: f'<span class="emoji" title=":{m.group(1)}:">{EMOJI[m.group(1)]}</span>'
                      if m.group(1) in EMOJI else m.group(0), text)
    return re.sub(f"{_HOLE}(\\d+){_HOLE}", lambda m: holes[int(m.group(1))], text)


def _markup(inner: str, names: Names, now: datetime | None) -> str:
    """`<@U…>`, `<!subteam^S…>`, `<#C…>`, `<!here>`, `<!date^…>` and links, as Slack shows them."""
    target, _, label = inner.partition("|")
    label = unescape(label)
    if target.startswith("@"):
        uid = target[1:]
        return f'<span class="mention">@{esc(names.users.get(uid) or label or uid)}</span>'
    if target.startswith("!subteam^"):
        gid = target[len("!subteam^"):]
        handle = names.groups.get(gid) or label.lstrip("@") or gid
        return f'<span class="mention">@{esc(handle)}</span>'
    if target.startswith("#"):
        cid = target[1:]
        return f'<span class="mention">#{esc(names.channels.get(cid) or label or cid)}</span>'
    if target in ("!here", "!channel", "!everyone"):
        return f'<span class="mention">@{target[1:]}</span>'
    if target.startswith("!date^"):
        return _date(target, label, now)
    if target.startswith(_LINK_SCHEMES):
        url = unescape(target)
        return (f'<a class="md-link" href="{esc(url)}" target="_blank" rel="noopener noreferrer">'
                f"{esc(label or url.removeprefix('mailto:'))}</a>")
    return esc(unescape(f"<{inner}>"))  # not markup Slack knows: shown as it is


def _date(target: str, fallback: str, now: datetime | None) -> str:
    """`<!date^EPOCH^FORMAT^LINK|fallback>` in the viewer's time zone (the machine running the demo)."""
    parts = target.split("^")
    try:
        moment = datetime.fromtimestamp(int(parts[1])).astimezone()
        template = parts[2]
    except (IndexError, ValueError, OverflowError, OSError):
        return esc(fallback)
    shown = re.sub(r"\{(\w+)\}", lambda m: _date_token(m.group(1), moment, now, m.group(0)), template)
    return f'<time class="md-date" datetime="{esc(moment.isoformat())}" title="{esc(fallback)}">{esc(shown)}</time>'


def _ordinal(day: int) -> str:
    suffix = "th" if 11 <= day % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def _date_token(token: str, moment: datetime, now: datetime | None, raw: str) -> str:
    today = (now or datetime.now().astimezone()).astimezone(moment.tzinfo).date()
    long_date = f"{moment:%B} {_ordinal(moment.day)}, {moment.year}"
    short_date = f"{moment:%b} {moment.day}, {moment.year}"
    full_date = f"{moment:%A}, {long_date}"

    def pretty(otherwise: str) -> str:
        days = {today: "today", today - timedelta(days=1): "yesterday", today + timedelta(days=1): "tomorrow"}
        return days.get(moment.date(), otherwise)

    hour = moment.hour % 12 or 12
    ampm = "AM" if moment.hour < 12 else "PM"
    return {
        "date_num": f"{moment:%Y-%m-%d}",
        "date": long_date, "date_short": short_date, "date_long": full_date,
        "date_pretty": pretty(long_date), "date_short_pretty": pretty(short_date),
        "date_long_pretty": pretty(full_date),
        "time": f"{hour}:{moment:%M} {ampm}", "time_secs": f"{hour}:{moment:%M:%S} {ampm}",
    }.get(token, raw)
