"""A simulated Slack workspace that a real Bolt app talks to over loopback.

The simulator has three faces:

* a fake **Web API** (``POST /api/<method>``) plus **response_url** endpoints
  (``POST /response/<token>``), served by one stdlib ``ThreadingHTTPServer`` on
  ``127.0.0.1:0``; point the app's ``WebClient(base_url=sim.api_url)`` at it;
* **delivery to the app** the way Slack does it: over an open Socket Mode connection (a
  ``websockets`` server that ``apps.connections.open`` hands out), or, when no socket is
  open, as signed HTTP POSTs to ``sim.http_url``;
* the **person side**: people type slash commands, fill modals by label text, press
  buttons by their visible text and open the Home tab. Nothing here knows the bot's
  block ids or action ids.

Payload shapes follow ``tests/fixtures/slack``. Every change to the workspace is
appended to ``sim.transcript`` as a readable line (the demo prints these).

Usage::

    with SlackSim() as sim:
        sim.add_user("U0ENGINEER1", "sam", channels=["C0HELPDESK"])
        app = App(client=WebClient(token="xoxb-sim", base_url=sim.api_url), signing_secret=sim.signing_secret)
        handler = SocketModeHandler(app, "xapp-sim")   # app.client already points at the sim
        handler.connect()
        sim.wait_for_connections(1)
        sim.slash_command("sam", "/reset-password", "mofh webq7k2m")
        ...
        handler.close()
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import re
import secrets
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterable
from urllib.parse import parse_qs, urlencode, urlsplit

__all__ = [
    "Ack",
    "Ephemeral",
    "Message",
    "OpenView",
    "RecordedCall",
    "SlackSim",
    "render_text",
]

SLACK_ACK_TIMEOUT = 3.0
TRIGGER_TTL = 3.0
RESPONSE_URL_MAX_USES = 5
RESPONSE_URL_TTL = 30 * 60

_JSON_PARAMS = {"blocks", "attachments", "view", "metadata"}
_STATEFUL = {
    "plain_text_input", "email_text_input", "url_text_input", "number_input", "rich_text_input",
    "static_select", "external_select", "users_select", "conversations_select", "channels_select",
    "multi_static_select", "multi_external_select", "multi_users_select",
    "multi_conversations_select", "multi_channels_select",
    "radio_buttons", "checkboxes", "datepicker", "timepicker", "datetimepicker", "file_input",
}
_INTERACTIVE = _STATEFUL | {"button", "overflow", "workflow_button"}
_TEXT_INPUTS = {"plain_text_input", "email_text_input", "url_text_input", "number_input"}
_SINGLE_OPTION = {"static_select", "external_select", "radio_buttons"}
_MULTI_OPTION = {"multi_static_select", "multi_external_select", "checkboxes"}


# --------------------------------------------------------------------------------------
# public records
# --------------------------------------------------------------------------------------


@dataclass
class RecordedCall:
    """One request the app made to the fake Web API (or to a response_url)."""

    method: str  # "chat.postMessage", … ; "response_url" for posts to a response_url
    params: dict  # JSON-decoded where the SDK sends JSON strings (blocks, view, …)
    token: str | None
    at: float
    status: int
    response: Any = None  # the JSON (or text) the sim answered

    @property
    def ok(self) -> bool:
        return self.status == 200 and isinstance(self.response, dict) and bool(self.response.get("ok"))

    @property
    def error(self) -> str | None:
        return self.response.get("error") if isinstance(self.response, dict) else None


class _Shown:
    """What a person sees of a message: its blocks' text (or the plain text) and its buttons."""

    text: str
    blocks: list

    @property
    def visible_text(self) -> str:
        return render_text(self.blocks) if self.blocks else (self.text or "")

    @property
    def buttons(self) -> list[str]:
        return [_plain(b.get("text")) for _, b in _iter_buttons(self.blocks)]


@dataclass
class Message(_Shown):
    channel: str
    ts: str
    user: str  # the bot's user id for bot messages, else the person's id
    text: str
    blocks: list = field(default_factory=list)
    thread_ts: str | None = None
    bot_id: str | None = None
    edits: list = field(default_factory=list)  # earlier versions: {"text", "blocks", "replaced_at"}
    deleted: bool = False


@dataclass
class Ephemeral(_Shown):
    channel: str
    user: str
    text: str
    blocks: list = field(default_factory=list)
    ts: str = ""
    source: str = "chat.postEphemeral"  # or "response_url" / "ack"
    deleted: bool = False


@dataclass
class OpenView:
    """A modal in a user's view stack, or a user's Home tab."""

    id: str
    user: str
    view: dict  # the view object as Slack holds it (without state)
    values: dict = field(default_factory=dict)  # user input: block_id -> action_id -> state entry
    errors: dict | None = None  # the last response_action=errors shown under the inputs

    @property
    def type(self) -> str:
        return self.view.get("type", "modal")

    @property
    def hash(self) -> str:
        return self.view.get("hash", "")

    @property
    def callback_id(self) -> str:
        return self.view.get("callback_id", "")

    @property
    def external_id(self) -> str:
        return self.view.get("external_id", "")

    @property
    def private_metadata(self) -> str:
        return self.view.get("private_metadata", "")

    @property
    def title(self) -> str:
        return _plain(self.view.get("title"))

    @property
    def blocks(self) -> list:
        return self.view.get("blocks") or []

    @property
    def visible_text(self) -> str:
        return render_text(self.blocks)

    @property
    def labels(self) -> list[str]:
        return [_plain(b.get("label")) for b in self.blocks if b.get("type") == "input"]

    @property
    def buttons(self) -> list[str]:
        return [_plain(b.get("text")) for _, b in _iter_buttons(self.blocks)]

    def state(self) -> dict:
        """``view.state`` as Slack sends it: every stateful element, set or not."""
        values: dict = {}
        for block, element in _iter_stateful(self.blocks):
            bid, aid = block.get("block_id"), element.get("action_id")
            entry = (self.values.get(bid) or {}).get(aid) or _initial_state(element)
            values.setdefault(bid, {})[aid] = entry
        return {"values": values}

    def payload_view(self) -> dict:
        view = dict(self.view)
        view["state"] = self.state()
        return view


@dataclass
class Ack:
    """What the app answered to one delivery."""

    status: int  # HTTP status; 200 for an acked envelope, 0 when no ack came at all
    body: Any  # dict, str or None (socket mode: the ack's payload)
    latency: float
    timed_out: bool = False  # no ack within Slack's 3 s
    errors: dict | None = None  # response_action=errors of a view_submission
    transport: str = "http"  # "http" or "socket"
    connection: int | None = None  # socket mode: index of the connection used
    envelope_id: str | None = None
    payload: Any = None  # what the sim delivered (the payload, not the envelope)

    @property
    def ok(self) -> bool:
        return self.status == 200 and not self.timed_out


@dataclass
class _ResponseUrl:
    token: str
    user: str
    channel: str
    created_at: float
    message_ts: str | None = None  # the message the interaction came from
    ephemeral: bool = False
    uses: int = 0


@dataclass
class _Channel:
    id: str
    name: str
    members: set = field(default_factory=set)
    bot_member: bool = True


class _SockConn:
    def __init__(self, ws, number: int) -> None:
        self.ws = ws
        self.number = number
        self.send_lock = threading.Lock()
        self.alive = True
        self.draining = False

    def send(self, data: str) -> None:
        with self.send_lock:
            self.ws.send(data)


class _Pending:
    def __init__(self) -> None:
        self.event = threading.Event()
        self.frame: dict | None = None


# --------------------------------------------------------------------------------------
# block helpers
# --------------------------------------------------------------------------------------


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


def _element_children(block: dict) -> list[dict]:
    kind = block.get("type")
    if kind == "actions":
        return list(block.get("elements") or [])
    if kind == "section" and isinstance(block.get("accessory"), dict):
        return [block["accessory"]]
    if kind == "input" and isinstance(block.get("element"), dict):
        return [block["element"]]
    return []


def _iter_buttons(blocks: Iterable[dict] | None):
    for block in blocks or []:
        for element in _element_children(block):
            if element.get("type") in ("button", "workflow_button"):
                yield block, element


def _iter_stateful(blocks: Iterable[dict] | None):
    for block in blocks or []:
        for element in _element_children(block):
            if element.get("type") in _STATEFUL:
                yield block, element


def _initial_state(element: dict) -> dict:
    kind = element.get("type")
    entry: dict = {"type": kind}
    if kind in _TEXT_INPUTS:
        entry["value"] = element.get("initial_value")
    elif kind in _SINGLE_OPTION:
        entry["selected_option"] = element.get("initial_option")
    elif kind in _MULTI_OPTION:
        entry["selected_options"] = element.get("initial_options") or []
    elif kind == "users_select":
        entry["selected_user"] = element.get("initial_user")
    elif kind == "multi_users_select":
        entry["selected_users"] = element.get("initial_users") or []
    elif kind == "conversations_select":
        entry["selected_conversation"] = element.get("initial_conversation")
    elif kind == "multi_conversations_select":
        entry["selected_conversations"] = element.get("initial_conversations") or []
    elif kind == "channels_select":
        entry["selected_channel"] = element.get("initial_channel")
    elif kind == "multi_channels_select":
        entry["selected_channels"] = element.get("initial_channels") or []
    elif kind == "datepicker":
        entry["selected_date"] = element.get("initial_date")
    elif kind == "timepicker":
        entry["selected_time"] = element.get("initial_time")
    elif kind == "datetimepicker":
        entry["selected_date_time"] = element.get("initial_date_time")
    elif kind == "rich_text_input":
        entry["rich_text_value"] = element.get("initial_value")
    return entry


def _all_options(element: dict) -> list[dict]:
    options = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        options.extend(group.get("options") or [])
    return options


def _match_text(candidates: list[tuple[str, Any]], wanted: str, what: str) -> Any:
    """Exact text first, then prefix, then case-insensitive prefix, then substring."""
    wanted_s = str(wanted).strip()
    tests = [
        lambda t: t == wanted_s,
        lambda t: t.startswith(wanted_s),
        lambda t: t.casefold().startswith(wanted_s.casefold()),
        lambda t: wanted_s.casefold() in t.casefold(),
    ]
    for test in tests:
        hits = [item for text, item in candidates if test(text.strip())]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            raise AssertionError(
                f"{what} {wanted_s!r} is ambiguous: {[t for t, _ in candidates if test(t.strip())]}"
            )
    raise AssertionError(f"no {what} {wanted_s!r}; visible: {[t for t, _ in candidates]}")


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)


_DATE = re.compile(r"<!date\^\d+\^[^|>]*\|([^>]*)>")
_MENTION = re.compile(r"<@([UW][A-Z0-9]+)>")
_BOLD = re.compile(r"\*([^*\n]+)\*")


def _one_line(text: str, limit: int = 400) -> str:
    flat = " | ".join(part.strip() for part in str(text).splitlines() if part.strip())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


# --------------------------------------------------------------------------------------
# the simulator
# --------------------------------------------------------------------------------------


class SlackSim:
    """A simulated Slack workspace on loopback. See the module docstring."""

    def __init__(
        self,
        *,
        signing_secret: str = "sim-signing-secret",
        bot_token: str | None = None,
        app_token: str | None = None,
        team_id: str = "T0SUPPORT1",
        team_domain: str = "acme-support",
        app_id: str = "A0RESETBOT",
        bot_user_id: str = "U0RESETBOT",
        bot_id: str = "B0RESETBOT",
        bot_name: str = "resetbot",
        clock: Callable[[], float] | None = None,
        ack_timeout: float = SLACK_ACK_TIMEOUT,
        ack_wait: float | None = None,
        socket_mode: bool = True,
        socket_ping_interval: float = 0.25,
        default_channels: bool = True,
    ) -> None:
        self.signing_secret = signing_secret
        self.bot_token = bot_token  # None: any xoxb-/xoxp- token is accepted
        self.app_token = app_token  # None: any xapp- token is accepted
        self.team_id = team_id
        self.team_domain = team_domain
        self.app_id = app_id
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.bot_name = bot_name
        self.clock: Callable[[], float] = clock or time.time
        self.ack_timeout = ack_timeout
        # how long a delivery waits for the app's answer; Slack itself gives up after 3 s.
        # None: ack_timeout + 1 s over Socket Mode, 10 s over HTTP (Bolt answers after 3 s anyway)
        self.ack_wait = ack_wait
        self.http_url: str | None = None  # the app's /slack/events URL for HTTP mode
        self.transcript_listener: Callable[[str], None] | None = None

        self._lock = threading.RLock()
        self._version = 0
        self._cond = threading.Condition(self._lock)
        self._calls: list[RecordedCall] = []
        self._transcript: list[str] = []
        self._users: dict[str, dict] = {}
        self._channels: dict[str, _Channel] = {}
        self._messages: dict[str, list[Message]] = {}
        self._ephemerals: list[Ephemeral] = []
        self._dm_opened: set[str] = set()  # D ids the bot has opened
        self._dm_owner: dict[str, str] = {}  # D id -> user id
        self._views: dict[str, list[OpenView]] = {}  # user -> modal stack
        self._homes: dict[str, OpenView] = {}
        self._usergroups: dict[str, dict] = {}
        self._triggers: dict[str, dict] = {}
        self._response_urls: dict[str, _ResponseUrl] = {}
        self._faults: dict[str, list[dict]] = {}
        self._ts_seq = itertools.count(1)
        self._id_seq = itertools.count(1)
        self._tickets: set[str] = set()
        self._conns: list[_SockConn] = []
        self._conn_seq = itertools.count(0)
        self._socket_ever = False
        self._rr = 0
        self._pinned: int | None = None
        self._pending: dict[str, _Pending] = {}
        self.envelopes: list[dict] = []  # every envelope sent: {"connection", "envelope"}
        self._stopped = False

        self._users[bot_user_id] = {"id": bot_user_id, "name": bot_name, "is_bot": True}
        if default_channels:
            self.add_channel("C0HELPDESK", "helpdesk")

        # Web API + response_url server
        sim = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):  # noqa: N802
                sim._handle_http(self)

            do_GET = do_POST

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._http_thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), name="slack-sim-api", daemon=True)
        self._http_thread.start()

        # Socket Mode server
        self._ws_server = None
        self.ws_port: int | None = None
        if socket_mode:
            from websockets.sync.server import serve

            self._ws_server = serve(
                self._ws_handler,
                "127.0.0.1",
                0,
                process_request=self._ws_process_request,
                compression=None,
                # Slack pings its clients too. Frequent pings also make slack_sdk's built-in
                # client close fast: its close() waits for a blocked recv (3 s timeout) otherwise.
                ping_interval=socket_ping_interval,
                ping_timeout=20,
                close_timeout=2,
                max_size=None,
            )
            self.ws_port = self._ws_server.socket.getsockname()[1]
            self._ws_thread = threading.Thread(
                target=self._ws_server.serve_forever, name="slack-sim-socket", daemon=True
            )
            self._ws_thread.start()

    # ---------------------------------------------------------------- lifecycle

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/"

    def __enter__(self) -> "SlackSim":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        """Close socket connections, stop both servers. Idempotent.

        Close SocketModeHandlers first, or they try to reconnect to a sim that is gone."""
        if self._stopped:
            return
        self._stopped = True
        if self._ws_server is not None:
            self._ws_server.shutdown()
            self._ws_thread.join(timeout=5)
        self._httpd.shutdown()
        self._httpd.server_close()
        self._http_thread.join(timeout=5)
        with self._cond:
            for pending in self._pending.values():
                pending.event.set()
            self._bump()

    # ---------------------------------------------------------------- workspace state

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

    def add_channel(self, channel_id: str, name: str, *, members: Iterable[str] = (), bot_member: bool = True) -> None:
        with self._cond:
            ch = self._channels.get(channel_id) or _Channel(channel_id, name)
            ch.name = name.lstrip("#")
            ch.members.update(members)
            ch.bot_member = bot_member
            self._channels[channel_id] = ch
            self._messages.setdefault(channel_id, [])

    def join(self, user: str, channel_id: str) -> None:
        with self._cond:
            self._channels[channel_id].members.add(self._uid(user))

    def add_usergroup(self, group_id: str, handle: str, users: Iterable[str]) -> None:
        with self._cond:
            self._usergroups[group_id] = {"id": group_id, "handle": handle, "users": [self._uid(u) for u in users]}

    def set_usergroup_users(self, group_id: str, users: Iterable[str]) -> None:
        with self._cond:
            self._usergroups[group_id]["users"] = [self._uid(u) for u in users]

    def dm_id(self, user: str) -> str:
        """The stable id of the bot's DM with ``user`` (what conversations.open returns)."""
        uid = self._uid(user)
        return "D" + (uid[1:] if uid[:1] in ("U", "W") else uid)

    def user_name(self, user: str) -> str:
        u = self._users.get(user)
        return u["name"] if u else user

    def messages(self, channel: str, *, include_deleted: bool = False) -> list[Message]:
        with self._lock:
            return [m for m in self._messages.get(channel, []) if include_deleted or not m.deleted]

    def dm_messages(self, user: str) -> list[Message]:
        return self.messages(self.dm_id(user))

    def ephemerals(self, user: str, channel: str | None = None) -> list[Ephemeral]:
        uid = self._uid(user)
        with self._lock:
            return [e for e in self._ephemerals
                    if e.user == uid and not e.deleted and (channel is None or e.channel == channel)]

    def views(self, user: str) -> list[OpenView]:
        with self._lock:
            return list(self._views.get(self._uid(user), []))

    def current_view(self, user: str) -> OpenView | None:
        with self._lock:
            stack = self._views.get(self._uid(user)) or []
            return stack[-1] if stack else None

    def home(self, user: str) -> OpenView | None:
        with self._lock:
            return self._homes.get(self._uid(user))

    @property
    def calls(self) -> list[RecordedCall]:
        with self._lock:
            return list(self._calls)

    def calls_to(self, method: str) -> list[RecordedCall]:
        with self._lock:
            return [c for c in self._calls if c.method == method]

    @property
    def transcript(self) -> list[str]:
        with self._lock:
            return list(self._transcript)

    def connections(self) -> int:
        with self._lock:
            return len(self._live_conns())

    # ---------------------------------------------------------------- faults & waiting

    def fail_next(self, method: str, status: int = 429, retry_after: int = 1, count: int = 1,
                  error: str | None = None) -> None:
        """The next ``count`` calls of ``method`` answer ``status`` (429 with Retry-After).

        ``status=200, error="…"`` makes them answer ``{"ok": false, "error": error}``."""
        with self._lock:
            for _ in range(count):
                self._faults.setdefault(method, []).append(
                    {"status": status, "retry_after": retry_after, "error": error}
                )

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

    def wait_for_call(self, method: str, predicate: Callable[[RecordedCall], bool] | None = None,
                      timeout: float = 5.0, start: int = 0) -> RecordedCall:
        """The first call of ``method`` (from index ``start`` of ``calls``) matching ``predicate``."""

        def find():
            for call in self._calls[start:]:
                if call.method == method and (predicate is None or predicate(call)):
                    return call
            return None

        return self.wait_for(find, timeout, message=f"a {method} call")

    def wait_for_connections(self, n: int = 1, timeout: float = 5.0) -> int:
        return self.wait_for(lambda: self.connections() >= n and self.connections(), timeout,
                             message=f"{n} socket mode connection(s)")

    # ---------------------------------------------------------------- internals: ids, records

    def _uid(self, user: str) -> str:
        if user in self._users:
            return user
        for uid, info in self._users.items():
            if info.get("name") == user:
                return uid
        return user

    def _new_ts(self) -> str:
        return f"{int(self.clock())}.{next(self._ts_seq) % 1_000_000:06d}"

    def _new_hash(self) -> str:
        return f"{int(self.clock())}.{secrets.token_hex(4)}"

    def _say(self, line: str) -> None:
        line = self._as_seen(line)
        with self._cond:
            self._transcript.append(line)
            self._bump()
        listener = self.transcript_listener
        if listener is not None:
            try:
                listener(line)
            except Exception:  # a printing problem must not break the simulation
                pass

    def _as_seen(self, text: str) -> str:
        """mrkdwn as a person reads it: @names for mentions, dates in their fallback form, no *bold* stars."""
        text = _DATE.sub(lambda m: m.group(1), text)
        text = _MENTION.sub(lambda m: "@" + self._users.get(m.group(1), {}).get("name", m.group(1)), text)
        return _BOLD.sub(lambda m: m.group(1), text)

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

    def _issue_trigger(self, uid: str) -> str:
        trigger = f"{int(self.clock() * 1000)}.{secrets.randbelow(10**10):010d}.{uuid.uuid4().hex}"
        with self._lock:
            self._triggers[trigger] = {"at": self.clock(), "user": uid, "used": False}
        return trigger

    def _issue_response_url(self, uid: str, channel: str, message_ts: str | None = None,
                            ephemeral: bool = False) -> str:
        token = secrets.token_urlsafe(18)
        with self._lock:
            self._response_urls[token] = _ResponseUrl(token, uid, channel, self.clock(), message_ts, ephemeral)
        return f"{self.base_url}/response/{token}"

    # ---------------------------------------------------------------- HTTP server

    def _handle_http(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        parts = urlsplit(h.path)
        path = parts.path
        if path.startswith("/api/"):
            status, body, headers = self._handle_api(path[len("/api/"):], h.headers, raw, parts.query)
        elif path.startswith("/response/"):
            status, body, headers = self._handle_response_url(path[len("/response/"):], raw)
        else:
            status, body, headers = 404, "not_found", {}
        data = body.encode("utf-8") if isinstance(body, str) else json.dumps(body).encode("utf-8")
        h.send_response(status)
        h.send_header("Content-Type", "text/plain" if isinstance(body, str) else "application/json; charset=utf-8")
        h.send_header("Content-Length", str(len(data)))
        for key, value in headers.items():
            h.send_header(key, value)
        h.end_headers()
        h.wfile.write(data)

    @staticmethod
    def _decode_params(headers, raw: bytes, query: str) -> dict:
        params: dict = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
        ctype = (headers.get("Content-Type") or "").lower()
        text = raw.decode("utf-8", errors="replace")
        if "json" in ctype and text.strip():
            try:
                body = json.loads(text)
                if isinstance(body, dict):
                    params.update(body)
            except ValueError:
                params["_invalid_json"] = text
        elif text:
            params.update({k: v[-1] for k, v in parse_qs(text, keep_blank_values=True).items()})
        for key in _JSON_PARAMS:
            value = params.get(key)
            if isinstance(value, str) and value.strip()[:1] in ("[", "{"):
                try:
                    params[key] = json.loads(value)
                except ValueError:
                    pass
        return params

    def _handle_api(self, method: str, headers, raw: bytes, query: str):
        params = self._decode_params(headers, raw, query)
        auth = headers.get("Authorization") or ""
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else None
        if token is None and isinstance(params.get("token"), str):
            token = params["token"]
        params.pop("token", None)

        status, body, extra = 200, None, {}
        with self._lock:
            faults = self._faults.get(method)
            fault = faults.pop(0) if faults else None
        if fault is not None:
            status = fault["status"]
            if status == 429:
                extra = {"Retry-After": str(fault["retry_after"])}
                body = {"ok": False, "error": "ratelimited"}
            elif status == 200:
                body = {"ok": False, "error": fault["error"] or "fatal_error"}
            else:
                body = {"ok": False, "error": fault["error"] or ("service_unavailable" if status == 503 else "internal_error")}
            self._record(RecordedCall(method, params, token, self.clock(), status, body))
            return status, body, extra
        # The effect (a stored message, an opened view) and its call record appear together:
        # whoever sees one can rely on the other.
        with self._lock:
            handler = getattr(self, "_api_" + method.replace(".", "_"), None)
            if handler is None:
                body = {"ok": False, "error": "unknown_method"}
            else:
                error = self._check_token(method, token)
                if error:
                    body = {"ok": False, "error": error}
                else:
                    try:
                        body = handler(params)
                    except _ApiError as e:
                        body = {"ok": False, "error": e.error, **e.extra}
                    except Exception as e:  # a sim bug must show up, not hang the app
                        status, body = 500, {"ok": False, "error": "internal_error", "detail": repr(e)}
            if isinstance(body, dict) and not body.get("ok") and "warning" not in body:
                body.setdefault("response_metadata", {}).setdefault("messages", [])
            self._record(RecordedCall(method, params, token, self.clock(), status, body))
        return status, body, extra

    def _check_token(self, method: str, token: str | None) -> str | None:
        if not token:
            return "not_authed"
        if method == "apps.connections.open":
            if not token.startswith("xapp-"):
                return "not_allowed_token_type"
            if self.app_token is not None and token != self.app_token:
                return "invalid_auth"
            return None
        if token.startswith("xapp-"):
            return "not_allowed_token_type"
        if not token.startswith(("xoxb-", "xoxp-")):
            return "invalid_auth"
        if self.bot_token is not None and token != self.bot_token:
            return "invalid_auth"
        return None

    def _record(self, call: RecordedCall) -> None:
        with self._cond:
            self._calls.append(call)
            self._bump()

    # ---------------------------------------------------------------- Web API methods

    def _api_auth_test(self, p: dict) -> dict:
        return {
            "ok": True, "url": f"https://{self.team_domain}.slack.com/", "team": "Acme Support",
            "user": self.bot_name, "team_id": self.team_id, "user_id": self.bot_user_id,
            "bot_id": self.bot_id, "is_enterprise_install": False,
        }

    def _api_apps_connections_open(self, p: dict) -> dict:
        if self._ws_server is None:
            raise _ApiError("socket_mode_not_enabled")
        ticket = uuid.uuid4().hex
        with self._lock:
            self._tickets.add(ticket)
        return {"ok": True, "url": f"ws://127.0.0.1:{self.ws_port}/link/?ticket={ticket}&app_id={self.app_id}"}

    def _resolve_post_channel(self, channel: str) -> str:
        if not channel:
            raise _ApiError("channel_not_found")
        if channel[:1] in ("U", "W"):
            if channel not in self._users:
                raise _ApiError("channel_not_found")
            dm = self.dm_id(channel)
            self._dm_opened.add(dm)
            self._dm_owner[dm] = channel
            return dm
        if channel.startswith("#"):
            for ch in self._channels.values():
                if ch.name == channel[1:]:
                    return ch.id
            raise _ApiError("channel_not_found")
        return channel

    def _check_bot_can_post(self, channel: str) -> None:
        if channel.startswith("D"):
            if channel not in self._dm_opened:
                raise _ApiError("channel_not_found")
            return
        ch = self._channels.get(channel)
        if ch is None:
            raise _ApiError("channel_not_found")
        if not ch.bot_member:
            raise _ApiError("not_in_channel")

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

    def _api_chat_postMessage(self, p: dict) -> dict:
        with self._lock:
            channel = self._resolve_post_channel(str(p.get("channel") or ""))
            self._check_bot_can_post(channel)
            text, blocks = p.get("text") or "", self._normalize_blocks(p.get("blocks"))
            if not text and not blocks and not p.get("attachments"):
                raise _ApiError("no_text")
            if len(blocks) > 50:
                raise _ApiError("invalid_blocks", response_metadata={"messages": ["[ERROR] no more than 50 items allowed [json-pointer:/blocks]"]})
            thread_ts = p.get("thread_ts") or None
            m = self._store_bot_message(channel, text, blocks, thread_ts)
        self._say(f"[{self._where(channel)}] {self.bot_name} posted{' in thread' if thread_ts else ''}: "
                  f"{_one_line(m.visible_text)}")
        return {"ok": True, "channel": channel, "ts": m.ts, "message": self._message_dict(m)}

    def _find_message(self, channel: str, ts: str) -> Message | None:
        for m in self._messages.get(channel, []):
            if m.ts == ts and not m.deleted:
                return m
        return None

    def _edit_message(self, m: Message, text: str | None, blocks: list | None) -> None:
        with self._cond:
            m.edits.append({"text": m.text, "blocks": m.blocks, "edited_ts": self._new_ts(), "replaced_at": self.clock()})
            if text is not None:
                m.text = text
            if blocks is not None:
                m.blocks = blocks
            self._bump()

    def _api_chat_update(self, p: dict) -> dict:
        with self._lock:
            channel = str(p.get("channel") or "")
            if channel not in self._channels and channel not in self._dm_owner:
                raise _ApiError("channel_not_found")
            m = self._find_message(channel, str(p.get("ts") or ""))
            if m is None:
                raise _ApiError("message_not_found")
            if m.user != self.bot_user_id:
                raise _ApiError("cant_update_message")
            blocks = self._normalize_blocks(p["blocks"]) if "blocks" in p else None
            text = p.get("text") if "text" in p else None
            if text is None and blocks is None and "attachments" not in p:
                raise _ApiError("no_text")
            self._edit_message(m, text, blocks)
        self._say(f"[{self._where(channel)}] {self.bot_name} edited its message: {_one_line(m.visible_text)}")
        return {"ok": True, "channel": channel, "ts": m.ts, "text": m.text, "message": self._message_dict(m)}

    def _api_chat_delete(self, p: dict) -> dict:
        with self._cond:
            channel = str(p.get("channel") or "")
            m = self._find_message(channel, str(p.get("ts") or ""))
            if m is None:
                raise _ApiError("message_not_found")
            if m.user != self.bot_user_id:
                raise _ApiError("cant_delete_message")
            m.deleted = True
            self._bump()
        self._say(f"[{self._where(channel)}] {self.bot_name} deleted a message")
        return {"ok": True, "channel": channel, "ts": m.ts}

    def _add_ephemeral(self, channel: str, uid: str, text: str, blocks: list, source: str) -> Ephemeral:
        with self._cond:
            e = Ephemeral(channel, uid, text or "", blocks, self._new_ts(), source)
            self._ephemerals.append(e)
            self._bump()
        self._say(f"[ephemeral to {self.user_name(uid)}] {_one_line(e.visible_text)}")
        return e

    def _api_chat_postEphemeral(self, p: dict) -> dict:
        with self._lock:
            channel = str(p.get("channel") or "")
            uid = str(p.get("user") or "")
            if uid not in self._users:
                raise _ApiError("user_not_found")
            if channel.startswith("D"):
                if channel not in self._dm_opened:
                    raise _ApiError("channel_not_found")
                if self._dm_owner.get(channel) != uid:
                    raise _ApiError("user_not_in_channel")
            else:
                ch = self._channels.get(channel)
                if ch is None or not ch.bot_member:
                    raise _ApiError("channel_not_found")
                if uid not in ch.members:
                    raise _ApiError("user_not_in_channel")
            text, blocks = p.get("text") or "", self._normalize_blocks(p.get("blocks"))
            if not text and not blocks and not p.get("attachments"):
                raise _ApiError("no_text")
        e = self._add_ephemeral(channel, uid, text, blocks, "chat.postEphemeral")
        return {"ok": True, "message_ts": e.ts}

    def _api_conversations_open(self, p: dict) -> dict:
        users = [u.strip() for u in str(p.get("users") or "").split(",") if u.strip()]
        if not users and p.get("channel"):
            ch = str(p["channel"])
            if ch in self._dm_owner:
                return {"ok": True, "no_op": True, "already_open": True, "channel": {"id": ch}}
            raise _ApiError("channel_not_found")
        if not users:
            raise _ApiError("users_list_not_supplied")
        if len(users) > 1:
            raise _ApiError("not_supported")  # multi-person DMs are not simulated
        uid = users[0]
        if uid not in self._users or self._users[uid].get("is_bot"):
            raise _ApiError("user_not_found")
        dm = self.dm_id(uid)
        with self._cond:
            already = dm in self._dm_opened
            self._dm_opened.add(dm)
            self._dm_owner[dm] = uid
            self._messages.setdefault(dm, [])
        body: dict = {"ok": True, "channel": {"id": dm}}
        if already:
            body.update({"no_op": True, "already_open": True})
        return body

    def _api_users_info(self, p: dict) -> dict:
        uid = str(p.get("user") or "")
        info = self._users.get(uid)
        if info is None:
            raise _ApiError("user_not_found")
        name = info["name"]
        return {"ok": True, "user": {
            "id": uid, "team_id": self.team_id, "name": name, "real_name": info.get("real_name", name),
            "deleted": info.get("deleted", False), "is_bot": info.get("is_bot", False),
            "is_admin": info.get("is_admin", False), "tz": "UTC",
            "profile": {"real_name": info.get("real_name", name), "display_name": name},
        }}

    def _api_usergroups_users_list(self, p: dict) -> dict:
        group = self._usergroups.get(str(p.get("usergroup") or ""))
        if group is None:
            raise _ApiError("no_such_subteam")
        return {"ok": True, "users": list(group["users"])}

    # views ---------------------------------------------------------------

    def _consume_trigger(self, trigger_id: str) -> str:
        info = self._triggers.get(trigger_id or "")
        if info is None:
            raise _ApiError("invalid_trigger_id")
        if info["used"] or self.clock() - info["at"] > TRIGGER_TTL:
            raise _ApiError("expired_trigger_id")
        info["used"] = True
        return info["user"]

    def _build_view(self, raw: Any, *, view_id: str | None = None, root: str | None = None,
                    previous: str | None = None) -> dict:
        if isinstance(raw, str):
            try:
                raw = json.loads(raw)
            except ValueError:
                raise _ApiError("invalid_arguments")
        if not isinstance(raw, dict):
            raise _ApiError("invalid_arguments")
        problems = []
        kind = raw.get("type")
        blocks = raw.get("blocks") or []
        if kind not in ("modal", "home"):
            problems.append("[ERROR] must be one of: modal, home [json-pointer:/view/type]")
        if kind == "modal":
            if not raw.get("title"):
                problems.append("[ERROR] missing required field: title [json-pointer:/view]")
            for key, limit in (("title", 24), ("submit", 24), ("close", 24)):
                if len(_plain(raw.get(key))) > limit:
                    problems.append(f"[ERROR] must be less than {limit + 1} characters [json-pointer:/view/{key}/text]")
            if any(b.get("type") == "input" for b in blocks) and not raw.get("submit"):
                problems.append("[ERROR] must define `submit` to use input block [json-pointer:/view]")
        if len(blocks) > 100:
            problems.append("[ERROR] no more than 100 items allowed [json-pointer:/view/blocks]")
        if len(raw.get("private_metadata") or "") > 3000:
            problems.append("[ERROR] must be less than 3001 characters [json-pointer:/view/private_metadata]")
        if problems:
            raise _ApiError("invalid_arguments", response_metadata={"messages": problems})
        vid = view_id or f"V0SIM{next(self._id_seq):05d}"
        view = {
            "id": vid, "team_id": self.team_id, "type": kind,
            "blocks": self._normalize_blocks(blocks),
            "private_metadata": raw.get("private_metadata") or "",
            "callback_id": raw.get("callback_id") or "",
            "hash": self._new_hash(),
            "title": raw.get("title"),
            "clear_on_close": bool(raw.get("clear_on_close", False)),
            "notify_on_close": bool(raw.get("notify_on_close", False)),
            "close": raw.get("close"), "submit": raw.get("submit"),
            "previous_view_id": previous, "root_view_id": root or vid,
            "app_id": self.app_id, "external_id": raw.get("external_id") or "",
            "app_installed_team_id": self.team_id, "bot_id": self.bot_id,
        }
        return view

    def _with_state(self, ov: OpenView) -> dict:
        return {**ov.payload_view()}

    def _find_view(self, view_id: str | None, external_id: str | None) -> OpenView | None:
        for ov in [v for stack in self._views.values() for v in stack] + list(self._homes.values()):
            if (view_id and ov.id == view_id) or (external_id and ov.external_id == external_id):
                return ov
        return None

    def _replace_view_content(self, ov: OpenView, raw: Any) -> None:
        new = self._build_view(raw, view_id=ov.id, root=ov.view.get("root_view_id"),
                               previous=ov.view.get("previous_view_id"))
        with self._cond:
            ov.view = new
            keep = {}
            for block, element in _iter_stateful(new["blocks"]):
                bid, aid = block["block_id"], element["action_id"]
                if aid in (ov.values.get(bid) or {}):
                    keep.setdefault(bid, {})[aid] = ov.values[bid][aid]
            ov.values = keep
            ov.errors = None
            self._bump()

    def _api_views_open(self, p: dict) -> dict:
        with self._cond:
            uid = self._consume_trigger(str(p.get("trigger_id") or ""))
            view = self._build_view(p.get("view"))
            if view["type"] != "modal":
                raise _ApiError("invalid_arguments")
            ov = OpenView(view["id"], uid, view)
            self._views[uid] = [ov]
            self._bump()
        self._say(f"[modal for {self.user_name(uid)}] opened {ov.title!r}: {_one_line(ov.visible_text)}")
        return {"ok": True, "view": self._with_state(ov)}

    def _api_views_push(self, p: dict) -> dict:
        with self._cond:
            uid = self._consume_trigger(str(p.get("trigger_id") or ""))
            stack = self._views.get(uid) or []
            if len(stack) >= 3:
                raise _ApiError("push_limit_reached")
            prev = stack[-1] if stack else None
            view = self._build_view(p.get("view"), root=prev.view["root_view_id"] if prev else None,
                                    previous=prev.id if prev else None)
            ov = OpenView(view["id"], uid, view)
            self._views[uid] = stack + [ov]
            self._bump()
        self._say(f"[modal for {self.user_name(uid)}] pushed {ov.title!r}: {_one_line(ov.visible_text)}")
        return {"ok": True, "view": self._with_state(ov)}

    def _api_views_update(self, p: dict) -> dict:
        with self._cond:
            ov = self._find_view(p.get("view_id"), p.get("external_id"))
            if ov is None:
                raise _ApiError("not_found")
            if p.get("hash") and p["hash"] != ov.hash:
                raise _ApiError("hash_conflict")
            self._replace_view_content(ov, p.get("view"))
        where = "home tab" if ov.type == "home" else "modal"
        self._say(f"[{where} for {self.user_name(ov.user)}] updated to {ov.title!r}: {_one_line(ov.visible_text)}")
        return {"ok": True, "view": self._with_state(ov)}

    def _api_views_publish(self, p: dict) -> dict:
        with self._cond:
            uid = str(p.get("user_id") or "")
            if uid not in self._users:
                raise _ApiError("user_not_found")
            current = self._homes.get(uid)
            if p.get("hash") and current is not None and p["hash"] != current.hash:
                raise _ApiError("hash_conflict")
            raw = p.get("view")
            if isinstance(raw, str):
                raw = json.loads(raw)
            if not isinstance(raw, dict) or raw.get("type") != "home":
                raise _ApiError("invalid_arguments")
            if current is None:
                view = self._build_view(raw)
                self._homes[uid] = OpenView(view["id"], uid, view)
            else:
                self._replace_view_content(current, raw)
            ov = self._homes[uid]
            self._bump()
        self._say(f"[home tab for {self.user_name(uid)}] {_one_line(ov.visible_text)}")
        return {"ok": True, "view": self._with_state(ov)}

    # ---------------------------------------------------------------- response_url

    def _handle_response_url(self, token: str, raw: bytes):
        now = self.clock()
        try:
            body = json.loads(raw.decode("utf-8") or "{}")
        except ValueError:
            body = {"_invalid_json": raw.decode("utf-8", "replace")}
        status, answer = 200, "ok"
        with self._lock:
            ru = self._response_urls.get(token)
            if ru is None:
                status, answer = 404, "invalid_url"
            elif now - ru.created_at > RESPONSE_URL_TTL:
                status, answer = 404, "expired_url"
            elif ru.uses >= RESPONSE_URL_MAX_USES:
                status, answer = 404, "used_url"
            elif not isinstance(body, dict) or "_invalid_json" in body:
                status, answer = 400, "invalid_payload"
            else:
                ru.uses += 1
        self._record(RecordedCall("response_url", {**(body if isinstance(body, dict) else {}), "_token": token},
                                  None, now, status, answer))
        if status == 200:
            self._apply_response(ru, body)
        return status, answer, {}

    def _apply_response(self, ru: _ResponseUrl, body: dict) -> None:
        text = body.get("text") or ""
        blocks = self._normalize_blocks(body["blocks"]) if "blocks" in body else None
        if _truthy(body.get("delete_original")):
            if ru.ephemeral:
                for e in self._ephemerals:
                    if e.ts == ru.message_ts and e.user == ru.user:
                        e.deleted = True
            else:
                with self._cond:
                    m = self._find_message(ru.channel, ru.message_ts or "")
                    if m is not None:
                        m.deleted = True
            self._say(f"[{self._where(ru.channel)}] {self.bot_name} deleted the original message")
            with self._cond:
                self._bump()
            return
        if _truthy(body.get("replace_original")) and ru.message_ts:
            if ru.ephemeral:
                with self._cond:
                    for e in self._ephemerals:
                        if e.ts == ru.message_ts and e.user == ru.user:
                            e.text, e.blocks = text, blocks or []
                    self._bump()
                self._say(f"[ephemeral to {self.user_name(ru.user)}] (replaced) {_one_line(render_text(blocks) or text)}")
                return
            with self._cond:
                m = self._find_message(ru.channel, ru.message_ts)
            if m is not None:
                self._edit_message(m, text, blocks if blocks is not None else [])
                self._say(f"[{self._where(ru.channel)}] {self.bot_name} replaced its message: {_one_line(m.visible_text)}")
                return
        if body.get("response_type") == "in_channel":
            m = self._store_bot_message(ru.channel, text, blocks or [], body.get("thread_ts"))
            self._say(f"[{self._where(ru.channel)}] {self.bot_name} posted: {_one_line(m.visible_text)}")
        else:
            self._add_ephemeral(ru.channel, ru.user, text, blocks or [], "response_url")

    # ---------------------------------------------------------------- Socket Mode server

    def _ws_process_request(self, connection, request):
        from http import HTTPStatus

        query = parse_qs(urlsplit(request.path).query)
        ticket = (query.get("ticket") or [""])[0]
        with self._lock:
            if ticket not in self._tickets:
                return connection.respond(HTTPStatus.UNAUTHORIZED, "invalid or used ticket\n")
            self._tickets.discard(ticket)
        return None

    def _ws_handler(self, ws) -> None:
        from websockets.exceptions import ConnectionClosed

        conn = _SockConn(ws, next(self._conn_seq))
        try:
            with self._lock:
                count = len(self._live_conns()) + 1
            conn.send(json.dumps({
                "type": "hello", "num_connections": count,
                "debug_info": {"host": "applink-sim", "build_number": 1, "approximate_connection_time": 18060},
                "connection_info": {"app_id": self.app_id},
            }))
            with self._cond:
                self._conns.append(conn)
                self._socket_ever = True
                self._bump()
            for raw in ws:
                try:
                    frame = json.loads(raw)
                except ValueError:
                    continue
                if not isinstance(frame, dict):
                    continue
                with self._cond:
                    pending = self._pending.get(str(frame.get("envelope_id")))
                    if pending is not None and pending.frame is None:
                        pending.frame = frame
                        pending.event.set()
                    self._bump()
        except ConnectionClosed:
            pass
        finally:
            with self._cond:
                conn.alive = False
                if conn in self._conns:
                    self._conns.remove(conn)
                self._bump()

    def _live_conns(self) -> list[_SockConn]:
        return [c for c in self._conns if c.alive and not c.draining]

    def deliver_to(self, index: int | None) -> None:
        """Send every following envelope to live connection ``index``; None: round-robin again."""
        with self._lock:
            self._pinned = index

    def disconnect_all(self, reason: str = "refresh_requested") -> None:
        """Ask every connected client to reconnect (Slack's ``disconnect`` frame)."""
        frame = json.dumps({"type": "disconnect", "reason": reason, "debug_info": {"host": "applink-sim"}})
        with self._cond:
            conns = list(self._live_conns())
            for c in conns:
                c.draining = True  # no new envelopes go to it
            self._bump()
        for c in conns:
            try:
                c.send(frame)
            except Exception:
                pass
        self._say(f"(slack asked {len(conns)} socket connection(s) to reconnect: {reason})")

    # ---------------------------------------------------------------- delivery to the app

    def _pick_connection(self) -> tuple[int, _SockConn] | None:
        with self._lock:
            live = self._live_conns()
            if not live:
                return None
            if self._pinned is not None:
                index = self._pinned % len(live)
            else:
                index = self._rr % len(live)
                self._rr += 1
            return index, live[index]

    def _deliver(self, kind: str, payload: Any, *, accepts_response_payload: bool = False,
                 retry_attempt: int | None = None, retry_reason: str | None = None) -> Ack:
        picked = self._pick_connection()
        if picked is None and not self.http_url and self._socket_ever:
            # a reconnect is under way (disconnect frame, replica restart): Slack queues meanwhile
            try:
                self.wait_for(lambda: self.connections() > 0, timeout=5.0, message="a socket connection")
            except AssertionError:
                pass
            picked = self._pick_connection()
        if picked is not None:
            ack = self._deliver_socket(picked, kind, payload, accepts_response_payload, retry_attempt, retry_reason)
        elif self.http_url:
            ack = self._deliver_http(kind, payload, retry_attempt=retry_attempt, retry_reason=retry_reason)
        else:
            raise RuntimeError("no app is connected: open a Socket Mode connection or set sim.http_url")
        ack.payload = payload
        return ack

    def _deliver_socket(self, picked, kind, payload, accepts, retry_attempt, retry_reason,
                        envelope: dict | None = None) -> Ack:
        index, conn = picked
        if envelope is None:
            envelope = {"envelope_id": str(uuid.uuid4()), "payload": payload, "type": kind,
                        "accepts_response_payload": accepts}
            if kind == "events_api":
                envelope["retry_attempt"] = retry_attempt if retry_attempt is not None else 0
                envelope["retry_reason"] = retry_reason if retry_reason is not None else ""
        eid = str(envelope.get("envelope_id"))
        pending = _Pending()
        with self._cond:
            self._pending[eid] = pending
            self.envelopes.append({"connection": index, "envelope": envelope})
        start = time.monotonic()
        try:
            conn.send(json.dumps(envelope))
            pending.event.wait(self.ack_wait if self.ack_wait is not None else self.ack_timeout + 1.0)
        except Exception:
            pass
        finally:
            with self._cond:
                self._pending.pop(eid, None)
        latency = time.monotonic() - start
        frame = pending.frame
        if frame is None:
            return Ack(0, None, latency, True, transport="socket", connection=index, envelope_id=eid)
        return Ack(200, frame.get("payload"), latency, latency > self.ack_timeout,
                   transport="socket", connection=index, envelope_id=eid)

    def sign(self, body: bytes, timestamp: str | None = None) -> dict:
        """Slack's signing headers for ``body``."""
        ts = timestamp if timestamp is not None else str(int(time.time()))
        base = b"v0:" + ts.encode() + b":" + body
        sig = "v0=" + hmac.new(self.signing_secret.encode(), base, hashlib.sha256).hexdigest()
        return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig}

    @staticmethod
    def _http_body(kind: str, payload: Any) -> tuple[bytes, str]:
        if isinstance(payload, (bytes, str)):
            raw = payload.encode() if isinstance(payload, str) else payload
            ctype = "application/json" if kind == "events_api" else "application/x-www-form-urlencoded"
            return raw, ctype
        if kind == "slash_commands":
            return urlencode(payload).encode(), "application/x-www-form-urlencoded"
        if kind == "interactive":
            return urlencode({"payload": json.dumps(payload)}).encode(), "application/x-www-form-urlencoded"
        return json.dumps(payload).encode(), "application/json"

    def _deliver_http(self, kind: str, payload: Any, *, retry_attempt=None, retry_reason=None,
                      timestamp: str | None = None, signature: str | None = None,
                      headers: dict | None = None, url: str | None = None) -> Ack:
        raw, ctype = self._http_body(kind, payload)
        hdrs = {"Content-Type": ctype, "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)"}
        hdrs.update(self.sign(raw, timestamp))
        if signature is not None:
            hdrs["X-Slack-Signature"] = signature
        if retry_attempt:
            hdrs["X-Slack-Retry-Num"] = str(retry_attempt)
            hdrs["X-Slack-Retry-Reason"] = retry_reason or "http_timeout"
        hdrs.update(headers or {})
        req = urllib.request.Request(url or self.http_url, data=raw, headers=hdrs, method="POST")
        start = time.monotonic()
        try:
            with urllib.request.urlopen(req, timeout=self.ack_wait if self.ack_wait is not None else 10.0) as resp:
                status, data, rtype = resp.status, resp.read(), resp.headers.get("Content-Type") or ""
        except urllib.error.HTTPError as e:
            status, data, rtype = e.code, e.read(), e.headers.get("Content-Type") or ""
        except (TimeoutError, urllib.error.URLError) as e:
            reason = getattr(e, "reason", e)
            if isinstance(reason, TimeoutError) or isinstance(e, TimeoutError):
                return Ack(0, None, time.monotonic() - start, True, transport="http")
            raise
        latency = time.monotonic() - start
        text = data.decode("utf-8", errors="replace")
        body: Any = None
        if text.strip():
            body = text
            if "json" in rtype.lower():
                try:
                    body = json.loads(text)
                except ValueError:
                    pass
        return Ack(status, body, latency, latency > self.ack_timeout, transport="http")

    def deliver_raw(self, kind: str, payload: Any, *, transport: str | None = None,
                    timestamp: str | None = None, signature: str | None = None,
                    headers: dict | None = None, envelope: dict | None = None,
                    accepts_response_payload: bool = False,
                    retry_attempt: int | None = None, retry_reason: str | None = None) -> Ack:
        """Send any payload, as-is, for hostile/malformed-input tests.

        ``kind``: "slash_commands" | "interactive" | "events_api". ``payload``: a dict (encoded
        like Slack would) or raw bytes/str for HTTP. HTTP overrides: ``timestamp`` (e.g. 301 s
        old), ``signature`` (forged), ``headers``. Socket Mode: ``envelope`` replaces the whole
        frame. ``transport``: "http" / "socket" / None (automatic)."""
        if transport == "http" or (transport is None and self.connections() == 0 and self.http_url):
            return self._deliver_http(kind, payload, retry_attempt=retry_attempt, retry_reason=retry_reason,
                                      timestamp=timestamp, signature=signature, headers=headers)
        picked = self._pick_connection()
        if picked is None:
            raise RuntimeError("no socket mode connection")
        return self._deliver_socket(picked, kind, payload, accepts_response_payload, retry_attempt,
                                    retry_reason, envelope=envelope)

    # ---------------------------------------------------------------- the person side

    def slash_command(self, user: str, command: str, text: str = "", channel: str = "C0HELPDESK") -> Ack:
        uid = self._uid(user)
        if not command.startswith("/"):
            command = "/" + command
        is_dm = channel.startswith("D")
        if is_dm:
            self._dm_owner.setdefault(channel, uid)
        ch = self._channels.get(channel)
        payload = {
            "token": "deprecated-verification-token",
            "team_id": self.team_id,
            "team_domain": self.team_domain,
            "channel_id": channel,
            "channel_name": "directmessage" if is_dm else (ch.name if ch else channel.lower()),
            "user_id": uid,
            "user_name": self.user_name(uid),
            "command": command,
            "text": text,
            "api_app_id": self.app_id,
            "is_enterprise_install": "false",
            "response_url": self._issue_response_url(uid, channel),
            "trigger_id": self._issue_trigger(uid),
        }
        self._say(f"{self.user_name(uid)} typed {command}{' ' + text if text else ''}")
        ack = self._deliver("slash_commands", payload, accepts_response_payload=True)
        if ack.status != 200 or ack.timed_out:
            # what the person sees in Slack when the app does not answer well in time
            error = "operation_timeout" if (ack.timed_out or ack.status == 0) else "dispatch_failed"
            self._add_ephemeral(channel, uid, f'{command} failed with the error "{error}"', [], "slack")
        else:
            body = ack.body
            if isinstance(body, str) and body.strip():
                body = {"text": body}
            if isinstance(body, dict) and (body.get("text") or body.get("blocks")):
                blocks = self._normalize_blocks(body.get("blocks"))
                if body.get("response_type") == "in_channel":
                    m = self._store_bot_message(channel, body.get("text") or "", blocks, None)
                    self._say(f"[{self._where(channel)}] {self.bot_name} replied: {_one_line(m.visible_text)}")
                else:
                    self._add_ephemeral(channel, uid, body.get("text") or "", blocks, "ack")
        return ack

    def _resolve_view(self, uid: str, view_id: str | None) -> OpenView:
        with self._lock:
            stack = self._views.get(uid) or []
            if view_id is None:
                if not stack:
                    raise AssertionError(f"{self.user_name(uid)} has no modal open")
                return stack[-1]
            for ov in stack:
                if ov.id == view_id:
                    return ov
        raise AssertionError(f"{self.user_name(uid)} has no open view {view_id}")

    def _find_input(self, ov: OpenView, label: str) -> tuple[dict, dict]:
        candidates: list[tuple[str, Any]] = []
        for block in ov.blocks:
            kind = block.get("type")
            if kind == "input" and isinstance(block.get("element"), dict):
                candidates.append((_plain(block.get("label")), (block, block["element"])))
            elif kind == "actions":
                for element in block.get("elements") or []:
                    if element.get("type") in _STATEFUL and element.get("placeholder"):
                        candidates.append((_plain(element.get("placeholder")), (block, element)))
            elif kind == "section" and isinstance(block.get("accessory"), dict):
                if block["accessory"].get("type") in _STATEFUL:
                    candidates.append((_plain(block.get("text")), (block, block["accessory"])))
        return _match_text(candidates, label, "input labelled")

    def _state_entry(self, element: dict, value: Any) -> dict:
        kind = element.get("type")
        entry: dict = {"type": kind}
        if kind in _TEXT_INPUTS:
            entry["value"] = None if value is None else str(value)
        elif kind in _SINGLE_OPTION:
            opts = [(_plain(o.get("text")), o) for o in _all_options(element)]
            by_value = [o for o in _all_options(element) if o.get("value") == value]
            entry["selected_option"] = (by_value[0] if by_value and value not in [t for t, _ in opts]
                                        else _match_text(opts, value, "option"))
        elif kind in _MULTI_OPTION:
            opts = [(_plain(o.get("text")), o) for o in _all_options(element)]
            values = [value] if isinstance(value, str) else list(value or [])
            entry["selected_options"] = [_match_text(opts, v, "option") for v in values]
        elif kind == "users_select":
            entry["selected_user"] = self._uid(value) if value else None
        elif kind == "multi_users_select":
            entry["selected_users"] = [self._uid(v) for v in value]
        elif kind == "conversations_select":
            entry["selected_conversation"] = value
        elif kind == "channels_select":
            entry["selected_channel"] = value
        elif kind == "datepicker":
            entry["selected_date"] = value
        elif kind == "timepicker":
            entry["selected_time"] = value
        else:
            entry["value"] = value
        return entry

    def _action_from_entry(self, block: dict, element: dict, entry: dict) -> dict:
        action = {k: v for k, v in entry.items()}
        action.update({"action_id": element.get("action_id"), "block_id": block.get("block_id"),
                       "action_ts": f"{self.clock():.6f}"})
        if element.get("placeholder"):
            action["placeholder"] = element["placeholder"]
        return action

    def _view_action_payload(self, uid: str, ov: OpenView, action: dict) -> dict:
        return {
            "type": "block_actions",
            "user": self._user_obj(uid),
            "api_app_id": self.app_id,
            "token": "deprecated-verification-token",
            "container": {"type": "view", "view_id": ov.id},
            "trigger_id": self._issue_trigger(uid),
            "team": self._team_obj(),
            "enterprise": None,
            "is_enterprise_install": False,
            "view": ov.payload_view(),
            "actions": [action],
        }

    def fill(self, user: str, values: dict[str, Any], view_id: str | None = None) -> Ack | None:
        """Type/select values in the user's current modal, found by label text (prefix).

        Elements that dispatch actions (dispatch_action inputs, selects in actions blocks or
        section accessories) send a block_actions payload; the last such Ack is returned."""
        uid = self._uid(user)
        ov = self._resolve_view(uid, view_id)
        last: Ack | None = None
        for label, value in values.items():
            block, element = self._find_input(ov, label)
            entry = self._state_entry(element, value)
            with self._cond:
                ov.values.setdefault(block["block_id"], {})[element["action_id"]] = entry
                self._bump()
            shown = value if not isinstance(value, (list, tuple)) else ", ".join(map(str, value))
            self._say(f"[modal for {self.user_name(uid)}] {self.user_name(uid)} set {label!r} to {shown!r}")
            dispatches = block.get("type") in ("actions", "section") or (
                block.get("type") == "input" and _truthy(block.get("dispatch_action")))
            if dispatches:
                last = self._deliver("interactive", self._view_action_payload(uid, ov, self._action_from_entry(
                    block, element, entry)))
        return last

    def submit(self, user: str, view_id: str | None = None) -> Ack:
        uid = self._uid(user)
        ov = self._resolve_view(uid, view_id)
        if ov.view.get("submit") is None and any(b.get("type") == "input" for b in ov.blocks):
            raise AssertionError("this modal has no submit button")
        payload = {
            "type": "view_submission",
            "team": self._team_obj(),
            "user": self._user_obj(uid),
            "api_app_id": self.app_id,
            "token": "deprecated-verification-token",
            "trigger_id": self._issue_trigger(uid),
            "view": ov.payload_view(),
            "response_urls": [],
            "is_enterprise_install": False,
            "enterprise": None,
        }
        name = self.user_name(uid)
        self._say(f"[modal for {name}] {name} pressed {_plain(ov.view.get('submit')) or 'Submit'!r}")
        ack = self._deliver("interactive", payload, accepts_response_payload=True)
        if ack.status != 200 or ack.timed_out:
            self._say(f"[modal for {name}] We had some trouble connecting. Try again? (status {ack.status})")
            return ack
        body = ack.body if isinstance(ack.body, dict) else {}
        action = body.get("response_action")
        if action == "errors":
            errors = body.get("errors") or {}
            input_ids = {b.get("block_id") for b in ov.blocks if b.get("type") == "input"}
            unknown = [k for k in errors if k not in input_ids]
            with self._cond:
                ov.errors = errors
                self._bump()
            ack.errors = errors
            self._say(f"[modal for {name}] errors: " + "; ".join(f"{k}: {v}" for k, v in errors.items())
                      + (f" (unknown block_ids {unknown}: Slack rejects this response)" if unknown else ""))
        elif action == "update":
            with self._cond:
                self._replace_view_content(ov, body.get("view"))
            self._say(f"[modal for {name}] now shows {ov.title!r}: {_one_line(ov.visible_text)}")
        elif action == "push":
            with self._cond:
                view = self._build_view(body.get("view"), root=ov.view["root_view_id"], previous=ov.id)
                new = OpenView(view["id"], uid, view)
                self._views.setdefault(uid, []).append(new)
                self._bump()
            self._say(f"[modal for {name}] pushed {new.title!r}: {_one_line(new.visible_text)}")
        elif action == "clear":
            with self._cond:
                self._views[uid] = []
                self._bump()
            self._say(f"[modal for {name}] all modals closed")
        else:
            with self._cond:
                stack = self._views.get(uid) or []
                if ov in stack:
                    stack.remove(ov)
                self._bump()
            self._say(f"[modal for {name}] closed")
        return ack

    def close_view(self, user: str) -> Ack | None:
        """Press Close/Cancel on the current modal (view_closed if notify_on_close)."""
        uid = self._uid(user)
        ov = self._resolve_view(uid, None)
        cleared = bool(ov.view.get("clear_on_close"))
        with self._cond:
            stack = self._views.get(uid) or []
            if cleared:
                self._views[uid] = []
            elif ov in stack:
                stack.remove(ov)
            self._bump()
        self._say(f"[modal for {self.user_name(uid)}] {self.user_name(uid)} closed {ov.title!r}")
        if not ov.view.get("notify_on_close"):
            return None
        payload = {
            "type": "view_closed",
            "team": self._team_obj(),
            "user": self._user_obj(uid),
            "api_app_id": self.app_id,
            "token": "deprecated-verification-token",
            "view": ov.payload_view(),
            "is_cleared": cleared,
            "is_enterprise_install": False,
            "enterprise": None,
        }
        return self._deliver("interactive", payload)

    def _find_button(self, blocks: list, text: str) -> tuple[dict, dict]:
        candidates = [(_plain(b.get("text")), (blk, b)) for blk, b in _iter_buttons(blocks)]
        return _match_text(candidates, text, "button")

    def _latest_with_button(self, messages: list, text: str):
        for m in reversed(messages):
            try:
                return m, self._find_button(m.blocks, text)
            except AssertionError:
                continue
        return None

    def click(self, user: str, button_text: str, *, channel: str | None = None, message_ts: str | None = None,
              in_view: bool = False, in_home: bool = False, in_dm: bool = False, in_ephemeral: bool = False,
              confirm: bool = True) -> Ack | None:
        """Press a button found by its visible text.

        Where: ``in_view`` (current modal), ``in_home`` (Home tab), ``in_ephemeral`` (the
        user's latest ephemeral message with it), else a message: ``message_ts`` in
        ``channel``, or the latest message in ``channel`` (``in_dm``: the user's DM with the
        bot; no channel: any channel) that has the button. A button with a ``confirm``
        dialog and ``confirm=False`` sends nothing and returns None."""
        uid = self._uid(user)
        name = self.user_name(uid)
        if in_view or in_home:
            ov = self.home(uid) if in_home else self._resolve_view(uid, None)
            if ov is None:
                raise AssertionError(f"{name} has no home tab published")
            block, button = self._find_button(ov.blocks, button_text)
            where = "home tab" if in_home else "modal"
            if not self._confirm(name, where, button, confirm):
                return None
            self._say(f"[{where} for {name}] {name} clicked [{_plain(button.get('text'))}]")
            payload = self._view_action_payload(uid, ov, self._button_action(block, button))
            return self._deliver("interactive", payload)

        if in_ephemeral:
            with self._lock:
                ephs = [e for e in self._ephemerals if e.user == uid and not e.deleted
                        and (channel is None or e.channel == channel)]
            found = self._latest_with_button(ephs, button_text)
            if found is None:
                raise AssertionError(f"no ephemeral message for {name} has a button {button_text!r}")
            eph, (block, button) = found
            if not self._confirm(name, f"ephemeral in {self._where(eph.channel)}", button, confirm):
                return None
            self._say(f"[ephemeral to {name}] {name} clicked [{_plain(button.get('text'))}]")
            payload = self._message_action_payload(uid, eph.channel, eph.ts, None, block, button, ephemeral=True)
            return self._deliver("interactive", payload)

        if in_dm and channel is None:
            channel = self.dm_id(uid)
        with self._lock:
            if message_ts is not None:
                if channel is None:
                    raise AssertionError("message_ts needs channel")
                m = self._find_message(channel, message_ts)
                if m is None:
                    raise AssertionError(f"no message {message_ts} in {self._where(channel)}")
                candidates = [m]
            elif channel is not None:
                candidates = self.messages(channel)
            else:
                candidates = sorted((m for ms in self._messages.values() for m in ms if not m.deleted),
                                    key=lambda m: float(m.ts))
        found = self._latest_with_button(candidates, button_text)
        if found is None:
            raise AssertionError(
                f"no message{' in ' + self._where(channel) if channel else ''} has a button {button_text!r}; "
                f"buttons seen: {[b for m in candidates for b in m.buttons]}")
        m, (block, button) = found
        where = self._where(m.channel)
        if not self._confirm(name, where, button, confirm):
            return None
        self._say(f"[{where}] {name} clicked [{_plain(button.get('text'))}]")
        payload = self._message_action_payload(uid, m.channel, m.ts, m, block, button)
        return self._deliver("interactive", payload)

    def _confirm(self, name: str, where: str, button: dict, confirm: bool) -> bool:
        dialog = button.get("confirm")
        if not dialog:
            return True
        title = _plain(dialog.get("title"))
        if confirm:
            self._say(f"[{where}] {name} confirmed {title!r}")
            return True
        self._say(f"[{where}] {name} clicked [{_plain(button.get('text'))}] but cancelled {title!r}")
        return False

    def _button_action(self, block: dict, button: dict) -> dict:
        action = {"action_id": button.get("action_id"), "block_id": block.get("block_id"),
                  "text": button.get("text"), "type": "button", "action_ts": f"{self.clock():.6f}"}
        if "value" in button:
            action["value"] = button["value"]
        if button.get("style"):
            action["style"] = button["style"]
        return action

    def _message_action_payload(self, uid: str, channel: str, ts: str, m: Message | None,
                                block: dict, button: dict, ephemeral: bool = False) -> dict:
        ch = self._channels.get(channel)
        payload: dict = {
            "type": "block_actions",
            "user": self._user_obj(uid),
            "api_app_id": self.app_id,
            "token": "deprecated-verification-token",
            "container": {"type": "message", "message_ts": ts, "channel_id": channel, "is_ephemeral": ephemeral},
            "trigger_id": self._issue_trigger(uid),
            "team": self._team_obj(),
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": channel, "name": "directmessage" if channel.startswith("D") else (ch.name if ch else channel)},
        }
        if m is not None:
            payload["message"] = self._message_dict(m)
        payload["state"] = {"values": {}}
        payload["response_url"] = self._issue_response_url(uid, channel, ts, ephemeral)
        payload["actions"] = [self._button_action(block, button)]
        return payload

    def send_event(self, event: dict, *, event_id: str | None = None, retry_attempt: int | None = None,
                   retry_reason: str | None = None) -> Ack:
        """Deliver an Events API ``event_callback`` wrapping ``event``."""
        now = self.clock()
        payload = {
            "token": "deprecated-verification-token",
            "team_id": self.team_id,
            "api_app_id": self.app_id,
            "event": event,
            "type": "event_callback",
            "event_id": event_id or f"Ev0SIM{next(self._id_seq):06d}",
            "event_time": int(now),
            "authorizations": [{"enterprise_id": None, "team_id": self.team_id, "user_id": self.bot_user_id,
                                "is_bot": True, "is_enterprise_install": False}],
            "is_ext_shared_channel": False,
        }
        return self._deliver("events_api", payload, retry_attempt=retry_attempt, retry_reason=retry_reason)

    def open_home(self, user: str, *, event_id: str | None = None, retry_attempt: int | None = None,
                  retry_reason: str | None = None) -> Ack:
        uid = self._uid(user)
        event: dict = {"type": "app_home_opened", "user": uid, "channel": self.dm_id(uid), "tab": "home",
                       "event_ts": f"{self.clock():.6f}"}
        home = self.home(uid)
        if home is not None:
            event["view"] = home.payload_view()
        self._say(f"{self.user_name(uid)} opened the app's Home tab")
        return self.send_event(event, event_id=event_id, retry_attempt=retry_attempt, retry_reason=retry_reason)


class _ApiError(Exception):
    def __init__(self, error: str, **extra) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra
