"""The records the simulated Slack hands back: Web API calls, messages, ephemerals, open views and acks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from devkit.slack.blocks import _initial_state, _iter_buttons, _iter_stateful
from devkit.slack.rendering import _plain, render_text


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
