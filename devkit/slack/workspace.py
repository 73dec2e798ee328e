"""People and places: users, channels, DMs, usergroups, the messages in them, and the transcript of changes.

The state every other part of the simulated Slack reads and changes lives here, under one
re-entrant lock whose condition wakes `wait_for` on every change (`_bump`).
"""

from __future__ import annotations

import itertools
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from devkit.slack.blocks import _INTERACTIVE, _element_children
from devkit.slack.records import Ack, Ephemeral, Message
from devkit.slack.rendering import as_seen, for_transcript, lay_out

_SUBTEAM = re.compile(r"<!subteam\^(S[A-Z0-9]+)(?:\|[^>]*)?>")  # a user group mention, shown as @handle


@dataclass
class _Channel:
    id: str
    name: str
    members: set = field(default_factory=set)
    bot_member: bool = True
    archived: bool = False


class Workspace:
    """Users, channels, DMs and what was posted in them; `SlackSim` sets the team and bot names."""

    team_id: str
    team_domain: str
    app_id: str
    bot_user_id: str
    bot_id: str
    bot_name: str
    clock: Callable[[], float]
    transcript_listener: Callable[[str], None] | None
    send_event: Callable[..., Ack]  # person.py: an Events API delivery to the app

    def _init_workspace(self, *, default_channels: bool) -> None:
        self._lock = threading.RLock()
        self._version = 0
        self._cond = threading.Condition(self._lock)
        self._transcript: list[str] = []
        self._turn: int | None = None  # the thread whose lines are recorded first (_say)
        self._held: list[str] = []  # the other threads' lines meanwhile
        self._users: dict[str, dict] = {}
        self._channels: dict[str, _Channel] = {}
        self._messages: dict[str, list[Message]] = {}
        self._ephemerals: list[Ephemeral] = []
        self._dm_opened: set[str] = set()  # D ids the bot has opened
        self._dm_owner: dict[str, str] = {}  # D id -> user id
        self._usergroups: dict[str, dict] = {}
        self._ts_seq = itertools.count(1)
        self._id_seq = itertools.count(1)  # view ids and event ids
        self._users[self.bot_user_id] = {"id": self.bot_user_id, "name": self.bot_name, "is_bot": True}
        if default_channels:
            self.add_channel("C0HELPDESK", "helpdesk")

    def add_user(self, user_id: str, name: str, *, channels: Iterable[str] = (), real_name: str | None = None,
                 deleted: bool = False, is_admin: bool = False) -> None:
        with self._cond:
            self._users[user_id] = {
                "id": user_id, "name": name, "real_name": real_name or name, "deleted": deleted,
                "is_bot": False, "is_admin": is_admin,
            }
            for channel in channels:
                if channel not in self._channels:
                    self._channels[channel] = _Channel(channel, channel.lower())
                self._channels[channel].members.add(user_id)
            self._bump()

    def add_channel(self, channel_id: str, name: str, *, members: Iterable[str] = (), bot_member: bool = True,
                    archived: bool = False) -> None:
        with self._cond:
            ch = self._channels.get(channel_id) or _Channel(channel_id, name)
            ch.name = name.lstrip("#")
            ch.members.update(members)
            ch.bot_member = bot_member
            ch.archived = archived
            self._channels[channel_id] = ch
            self._messages.setdefault(channel_id, [])

    def join(self, user: str, channel_id: str) -> None:
        with self._cond:
            self._channels[channel_id].members.add(self._uid(user))

    def add_usergroup(self, group_id: str, handle: str, members: Iterable[str]) -> None:
        """A user group (S…) with its @handle and members (ids or names), as usergroups.users.list lists them."""
        with self._cond:
            self._usergroups[group_id] = {"id": group_id, "handle": handle,
                                          "users": [self._uid(u) for u in members]}
            self._bump()
        self._say(f"user group @{handle} created with {self._names(self._usergroups[group_id]['users'])}")

    def set_usergroup_users(self, group_id: str, members: Iterable[str], *, send_event: bool = True) -> Ack | None:
        """Replace a group's members. Slack then sends `subteam_members_changed` (the added and removed
        users) to an app that subscribes to it: ``send_event=False`` for an app that does not, which
        learns of the change only by asking again. Returns the event's ack, if one was sent."""
        with self._cond:
            group = self._usergroups[group_id]
            before, after = list(group["users"]), [self._uid(u) for u in members]
            group["users"] = after
            self._bump()
        added = [u for u in after if u not in before]
        removed = [u for u in before if u not in after]
        changes = [f"added {self._names(added)}"] * bool(added) + [f"removed {self._names(removed)}"] * bool(removed)
        self._say(f"user group @{group['handle']}: {', '.join(changes) or 'no change'}")
        if not send_event:
            return None
        now = int(self.clock())
        return self.send_event({
            "type": "subteam_members_changed", "subteam_id": group_id, "team_id": self.team_id,
            "date_previous_update": now - 1, "date_update": now,
            "added_users": added, "added_users_count": str(len(added)),
            "removed_users": removed, "removed_users_count": str(len(removed)),
            "event_ts": f"{self.clock():.6f}",
        })

    def _names(self, users: Iterable[str]) -> str:
        return ", ".join(self.user_name(u) for u in users) or "nobody"

    def dm_id(self, user: str) -> str:
        """The stable id of the bot's DM with ``user`` (what conversations.open returns)."""
        uid = self._uid(user)
        return "D" + (uid[1:] if uid[:1] in ("U", "W") else uid)

    def user_name(self, user: str) -> str:
        u = self._users.get(user)
        return u["name"] if u else user

    def messages(self, channel: str, *, include_deleted: bool = False, include_replies: bool = False) -> list[Message]:
        """The channel's messages, as its history lists them: thread replies only with ``include_replies``."""
        with self._lock:
            return [m for m in self._messages.get(channel, []) if (include_deleted or not m.deleted)
                    and (include_replies or m.thread_ts in (None, m.ts))]

    def replies(self, channel: str, thread_ts: str) -> list[Message]:
        """The replies in the thread of message ``thread_ts`` (chat.postMessage with that thread_ts), oldest first."""
        with self._lock:
            return [m for m in self._messages.get(channel, []) if not m.deleted and m.thread_ts == thread_ts
                    and m.ts != thread_ts]

    def dm_messages(self, user: str) -> list[Message]:
        return self.messages(self.dm_id(user))

    def ephemerals(self, user: str, channel: str | None = None) -> list[Ephemeral]:
        uid = self._uid(user)
        with self._lock:
            return [e for e in self._ephemerals
                    if e.user == uid and not e.deleted and (channel is None or e.channel == channel)]

    @property
    def transcript(self) -> list[str]:
        with self._lock:
            return list(self._transcript)

    def _bump(self) -> None:
        """Something changed: wake wait_for()."""
        with self._cond:
            self._version += 1
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 5.0, message: str = "") -> Any:
        """Return ``predicate()`` once truthy; re-checked on every recorded change.

        The predicate runs without the sim's lock held (it may look at the app's DB), and is
        also re-polled every 50 ms for conditions outside the sim."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                seen = self._version
            value = predicate()
            if value:
                return value
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            with self._cond:
                if self._version == seen:
                    self._cond.wait(min(remaining, 0.05))
        with self._lock:
            recent_calls = [f"{c.method} -> {c.status} {c.error or ''}".strip() for c in self._calls[-8:]]
            recent = self._transcript[-8:]
        raise AssertionError(
            f"condition not met within {timeout}s{': ' + message if message else ''}\n"
            f"  last calls: {recent_calls}\n  last transcript lines:\n    " + "\n    ".join(recent)
        )

    @property
    def version(self) -> int:
        """A count that grows at every change of the workspace (what `wait_for` wakes on)."""
        with self._lock:
            return self._version

    def wait_for_change(self, since: int, timeout: float) -> int:
        """Block until the workspace changed after version `since`, at most `timeout` seconds; the version then."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._version <= since:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            return self._version

    def people(self) -> list[str]:
        """The ids of the workspace's people (not the bot), in the order they were added."""
        with self._lock:
            return [uid for uid, info in self._users.items() if not info.get("is_bot")]

    def channels(self) -> dict[str, str]:
        """Each channel's id and name (without #), in the order they were added."""
        with self._lock:
            return {cid: ch.name for cid, ch in self._channels.items()}

    def usergroups(self) -> dict[str, str]:
        """Each user group's id and @handle (without @)."""
        with self._lock:
            return {gid: group["handle"] for gid, group in self._usergroups.items()}

    def _uid(self, user: str) -> str:
        if user in self._users:
            return user
        for uid, info in self._users.items():
            if info.get("name") == user:
                return uid
        return user

    def _new_ts(self) -> str:
        return f"{int(self.clock())}.{next(self._ts_seq) % 1_000_000:06d}"

    def _say(self, line: str) -> None:
        line = lay_out(self._as_seen(line))
        with self._cond:
            # While a submission waits for its ack (the modal closing), what the app did after acking is held
            # back and reported after it: the transcript is in the order a person sees things.
            if self._turn not in (None, threading.get_ident()):
                self._held.append(line)
                return
            self._record_line(line)

    def _record_line(self, line: str) -> None:
        """Under the lock: lines are printed in the order they are recorded."""
        self._transcript.append(line)
        self._bump()
        listener = self.transcript_listener
        if listener is not None:
            try:
                listener(line)
            except Exception:  # a printing problem must not break the simulation
                pass

    def _take_turn(self, owner: int) -> None:
        """Only `owner` (a thread) records transcript lines until `_give_turn`; the others' are held (see _say)."""
        with self._cond:
            self._turn = owner

    def _give_turn(self) -> None:
        with self._cond:
            self._turn = None
            held, self._held = self._held, []
            for line in held:
                self._record_line(line)

    def _as_seen(self, text: str) -> str:
        text = _SUBTEAM.sub(lambda m: "@" + self._usergroups.get(m.group(1), {}).get("handle", m.group(1)), text)
        return as_seen(text, self._users)

    def _where(self, channel: str) -> str:
        if channel in self._dm_owner:
            return f"DM to {self.user_name(self._dm_owner[channel])}"
        ch = self._channels.get(channel)
        return f"#{ch.name}" if ch else channel

    def _normalize_blocks(self, blocks: Any) -> list:
        """Copy blocks and fill in block_id/action_id the way Slack does when they are absent."""
        if not isinstance(blocks, list):
            return []
        out = json.loads(json.dumps(blocks))
        for block in out:
            if isinstance(block, dict):
                block.setdefault("block_id", secrets.token_urlsafe(4))
                for element in _element_children(block):
                    if element.get("type") in _INTERACTIVE:
                        element.setdefault("action_id", secrets.token_urlsafe(4))
        return out

    def _user_obj(self, uid: str) -> dict:
        name = self.user_name(uid)
        return {"id": uid, "username": name, "name": name, "team_id": self.team_id}

    def _team_obj(self) -> dict:
        return {"id": self.team_id, "domain": self.team_domain}

    def _message_dict(self, m: Message) -> dict:
        d: dict = {"type": "message", "text": m.text, "ts": m.ts}
        if m.bot_id:
            d.update({"subtype": "bot_message", "bot_id": m.bot_id, "app_id": self.app_id, "user": m.user})
        else:
            d["user"] = m.user
        if m.blocks:
            d["blocks"] = m.blocks
        if m.thread_ts:
            d["thread_ts"] = m.thread_ts
        if m.edits:
            d["edited"] = {"user": m.user, "ts": m.edits[-1]["edited_ts"]}
        return d

    def _store_bot_message(self, channel: str, text: str, blocks: list, thread_ts: str | None) -> Message:
        with self._cond:
            m = Message(channel, self._new_ts(), self.bot_user_id, text or "", blocks, thread_ts, self.bot_id)
            self._messages.setdefault(channel, []).append(m)
            self._bump()
        return m

    def _find_message(self, channel: str, ts: str) -> Message | None:
        for m in self._messages.get(channel, []):
            if m.ts == ts and not m.deleted:
                return m
        return None

    def _edit_message(self, m: Message, text: str | None, blocks: list | None) -> None:
        with self._cond:
            m.edits.append({"text": m.text, "blocks": m.blocks, "edited_ts": self._new_ts(),
                            "replaced_at": self.clock()})
            if text is not None:
                m.text = text
            if blocks is not None:
                m.blocks = blocks
            self._bump()

    def _add_ephemeral(self, channel: str, uid: str, text: str, blocks: list, source: str) -> Ephemeral:
        with self._cond:
            e = Ephemeral(channel, uid, text or "", blocks, self._new_ts(), source)
            self._ephemerals.append(e)
            self._bump()
        self._say(f"[ephemeral to {self.user_name(uid)}] {for_transcript(e.visible_text)}")
        return e
