"""What one person sees of the simulated workspace, as HTML regions the page swaps in.

A screen is built from the simulated Slack's own records (messages, thread replies, the
person's ephemerals, modal stack and App Home), the way Slack shows them to that person:
channels and the DM with the bot in the sidebar, a conversation with its ephemerals in
place ("Only visible to you"), a thread beside it, the top modal over everything.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from devkit.slack.records import Ephemeral, Message, OpenView
from devkit.slack.rendering import _plain
from devkit.slack.sim import SlackSim
from devkit.web.blocks import Place, blocks_html
from devkit.web.mrkdwn import Names, esc, plain_to_html, to_html

HOME = "home"  # the App Home, in the page's navigation (not a Slack id)


@dataclass(frozen=True)
class Person:
    id: str
    name: str
    role: str  # what the switcher says under the name: "engineer", "approver", …


def names_of(sim: SlackSim) -> Names:
    return Names(users={uid: sim.user_name(uid) for uid in sim.people()} | {sim.bot_user_id: sim.bot_name},
                 groups=sim.usergroups(), channels=sim.channels())


def conversations(sim: SlackSim, uid: str) -> dict[str, str]:
    """What the person can open, by the page's ids: every channel (Slack lets anyone open a public one),
    the DM with the bot and the App Home."""
    return {**{cid: f"#{name}" for cid, name in sim.channels().items()}, sim.dm_id(uid): sim.bot_name,
            HOME: "App Home"}


def activity(sim: SlackSim, uid: str) -> dict[str, int]:
    """A count per conversation that grows whenever something new shows there for this person (a message,
    an edit, a reply, an ephemeral to them): the page marks what grew since the person last looked."""
    counts: dict[str, int] = {}
    for conv in conversations(sim, uid):
        if conv == HOME:
            continue
        messages = sim.messages(conv, include_replies=True)
        counts[conv] = (sum(1 + len(m.edits) for m in messages)
                        + sum(1 for _ in sim.ephemerals(uid, conv)))
    return counts


def screen(sim: SlackSim, people: list[Person], uid: str, open_: str, thread: str | None,
           now: datetime | None = None) -> dict:
    """The regions of the page for person `uid` with `open_` (a channel, their DM or HOME) and maybe a thread."""
    names = names_of(sim)
    convs = conversations(sim, uid)
    if open_ not in convs:
        open_ = next(iter(convs))
    thread_html = _thread(sim, names, uid, open_, thread, now) if thread and open_ != HOME else ""
    return {
        "version": sim.version,
        "person": uid,
        "open": open_,
        "thread": thread if thread_html else None,
        "people": _people(people, uid),
        "activity": {p.id: activity(sim, p.id) for p in people},
        "sidebar": _sidebar(sim, convs, open_),
        "header": _header(sim, uid, open_, convs),
        "conversation": _home(sim, names, uid, now) if open_ == HOME else _conversation(sim, names, uid, open_, now),
        "composer": "" if open_ == HOME else f"Message {convs[open_]}",
        "thread_html": thread_html,
        "modal": _modal(sim, names, uid, now),
    }


def _people(people: list[Person], uid: str) -> str:
    return "".join(
        f'<button type="button" class="person{" active" if p.id == uid else ""}" data-act="person" '
        f'data-person="{esc(p.id)}" aria-pressed="{"true" if p.id == uid else "false"}">'
        f'<span class="avatar avatar-{esc(p.name[:1].lower())}">{esc(p.name[:1].upper())}</span>'
        f'<span class="person-name">{esc(p.name)}</span><span class="person-role">{esc(p.role)}</span></button>'
        for p in people)


def _sidebar(sim: SlackSim, convs: dict[str, str], open_: str) -> str:
    def item(conv: str, glyph: str, label: str) -> str:
        return (f'<button type="button" class="sb-item{" active" if conv == open_ else ""}" data-act="open" '
                f'data-conv="{esc(conv)}"><span class="sb-glyph">{glyph}</span>'
                f'<span class="sb-name">{esc(label)}</span></button>')

    channels = [item(cid, "#", name) for cid, name in sim.channels().items()]
    dm = next(conv for conv in convs if conv.startswith("D"))
    return (f'<div class="sb-team">{esc(sim.team_domain)}</div>'
            '<div class="sb-section">Channels</div>' + "".join(channels)
            + '<div class="sb-section">Apps</div>' + item(HOME, "⌂", "App Home")
            + '<div class="sb-section">Direct messages</div>' + item(dm, "●", sim.bot_name))


def _header(sim: SlackSim, uid: str, open_: str, convs: dict[str, str]) -> str:
    if open_ == HOME or open_.startswith("D"):
        dm = sim.dm_id(uid)
        tabs = "".join(f'<button type="button" class="tab{" active" if conv == open_ else ""}" data-act="open" '
                       f'data-conv="{esc(conv)}">{label}</button>'
                       for conv, label in ((HOME, "Home"), (dm, "Messages")))
        return f'<h1 class="conv-title">{esc(sim.bot_name)} <span class="app-badge">APP</span></h1>' \
               f'<nav class="tabs">{tabs}</nav>'
    return f'<h1 class="conv-title">{esc(convs[open_])}</h1>'


def _time(ts: str) -> str:
    try:
        moment = datetime.fromtimestamp(float(ts)).astimezone()
    except (ValueError, OverflowError, OSError):
        return ""
    return f'<time class="msg-time" datetime="{esc(moment.isoformat())}">{moment.hour % 12 or 12}:{moment:%M} ' \
           f'{"AM" if moment.hour < 12 else "PM"}</time>'


def _message(sim: SlackSim, names: Names, item: Message | Ephemeral, now: datetime | None, *,
             replies: int = 0, in_thread: bool = False) -> str:
    ephemeral = isinstance(item, Ephemeral)
    if ephemeral:
        author = "Slackbot" if item.source == "slack" else sim.bot_name
        is_app = author == sim.bot_name
    else:
        author = sim.user_name(item.user)
        is_app = item.bot_id is not None
    place = Place("ephemeral" if ephemeral else "message", item.channel, item.ts)
    body = blocks_html(item.blocks, names, place, now) if item.blocks else to_html(item.text or "", names, now=now)
    edited = not ephemeral and bool(item.edits)
    meta = (f'<span class="msg-author">{esc(author)}</span>'
            + (' <span class="app-badge">APP</span>' if is_app else "")
            + f" {_time(item.ts)}" + (' <span class="msg-edited">(edited)</span>' if edited else ""))
    foot = ""
    if ephemeral:
        foot = '<div class="ephemeral-note">Only visible to you</div>'
    elif replies and not in_thread:
        foot = (f'<button type="button" class="replies-link" data-act="thread" data-ts="{esc(item.ts)}">'
                f'{replies} {"reply" if replies == 1 else "replies"}</button>')
    return (f'<div class="msg{" msg-ephemeral" if ephemeral else ""}" data-ts="{esc(item.ts)}">'
            f'<div class="avatar avatar-{esc(author[:1].lower())}">{esc(author[:1].upper())}</div>'
            f'<div class="msg-body"><div class="msg-meta">{meta}</div>'
            f'<div class="msg-blocks">{body}</div>{foot}</div></div>')


def _conversation(sim: SlackSim, names: Names, uid: str, channel: str, now: datetime | None) -> str:
    items: list[Message | Ephemeral] = [*sim.messages(channel), *sim.ephemerals(uid, channel)]
    items.sort(key=lambda item: float(item.ts or 0))
    if not items:
        where = "your DM with the bot" if channel.startswith("D") else f"#{sim.channels().get(channel, channel)}"
        return f'<div class="empty">Nothing in {esc(where)} yet.</div>'
    return "".join(_message(sim, names, item, now, replies=len(sim.replies(channel, item.ts))
                            if isinstance(item, Message) else 0) for item in items)


def _thread(sim: SlackSim, names: Names, uid: str, channel: str, ts: str, now: datetime | None) -> str:
    parent = next((m for m in sim.messages(channel) if m.ts == ts), None)
    if parent is None:
        return ""
    replies = sim.replies(channel, ts)
    return ('<div class="thread-head"><h2>Thread</h2>'
            '<button type="button" class="thread-close" data-act="close-thread" aria-label="Close thread">×</button>'
            "</div>" + _message(sim, names, parent, now, in_thread=True)
            + f'<div class="thread-count">{len(replies)} {"reply" if len(replies) == 1 else "replies"}</div>'
            + "".join(_message(sim, names, reply, now, in_thread=True) for reply in replies))


def _home(sim: SlackSim, names: Names, uid: str, now: datetime | None) -> str:
    home = sim.home(uid)
    if home is None:
        return '<div class="empty">Opening the App Home…</div>'
    return f'<div class="home">{blocks_html(home.blocks, names, Place("home"), now)}</div>'


def _modal(sim: SlackSim, names: Names, uid: str, now: datetime | None) -> dict | None:
    stack = sim.views(uid)
    if not stack:
        return None
    ov: OpenView = stack[-1]
    key = json.dumps([ov.id, ov.hash, ov.errors, ov.values, len(stack)], sort_keys=True, default=str)
    title = _plain(ov.view.get("title"))
    close = _plain(ov.view.get("close")) or "Cancel"
    submit = _plain(ov.view.get("submit")) if ov.view.get("submit") else ""
    back = ('<button type="button" class="modal-back" data-act="close" aria-label="Back">‹</button>'
            if len(stack) > 1 else "")
    body = blocks_html(ov.blocks, names, Place("view", values=ov.values, errors=ov.errors or {}), now)
    html = (f'<div class="modal" role="dialog" aria-modal="true" aria-label="{esc(title)}" data-view="{esc(ov.id)}">'
            f'<div class="modal-head">{back}<h2 class="modal-title">{plain_to_html(title)}</h2>'
            '<button type="button" class="modal-x" data-act="close" aria-label="Close">×</button></div>'
            f'<form class="modal-body" data-view="{esc(ov.id)}" novalidate>{body}</form>'
            f'<div class="modal-foot"><button type="button" class="sk-button" data-act="close">{plain_to_html(close)}'
            "</button>"
            + (f'<button type="button" class="sk-button sk-primary" data-act="submit">{plain_to_html(submit)}</button>'
               if submit else "")
            + "</div></div>")
    return {"key": key, "view": ov.id, "html": html}
