"""response_url endpoints: one issued with each interaction, and what the app posts to it applied to the workspace."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass

from devkit.slack.blocks import _truthy
from devkit.slack.records import RecordedCall
from devkit.slack.rendering import for_transcript, render_text

RESPONSE_URL_MAX_USES = 5
RESPONSE_URL_TTL = 30 * 60


@dataclass
class _ResponseUrl:
    token: str
    user: str
    channel: str
    created_at: float
    message_ts: str | None = None  # the message the interaction came from
    ephemeral: bool = False
    uses: int = 0


class ResponseUrls:
    """Issues response_urls and serves `POST /response/<token>` (routed there by web_api.py)."""

    def _init_response_urls(self) -> None:
        self._response_urls: dict[str, _ResponseUrl] = {}

    def _issue_response_url(self, uid: str, channel: str, message_ts: str | None = None,
                            ephemeral: bool = False) -> str:
        token = secrets.token_urlsafe(18)
        with self._lock:
            self._response_urls[token] = _ResponseUrl(token, uid, channel, self.clock(), message_ts, ephemeral)
        return f"{self.base_url}/response/{token}"

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
                shown = for_transcript(render_text(blocks) or text)
                self._say(f"[ephemeral to {self.user_name(ru.user)}] (replaced) {shown}")
                return
            with self._cond:
                m = self._find_message(ru.channel, ru.message_ts)
            if m is not None:
                self._edit_message(m, text, blocks if blocks is not None else [])
                shown = for_transcript(m.visible_text)
                self._say(f"[{self._where(ru.channel)}] {self.bot_name} replaced its message: {shown}")
                return
        if body.get("response_type") == "in_channel":
            m = self._store_bot_message(ru.channel, text, blocks or [], body.get("thread_ts"))
            self._say(f"[{self._where(ru.channel)}] {self.bot_name} posted: {for_transcript(m.visible_text)}")
        else:
            self._add_ephemeral(ru.channel, ru.user, text, blocks or [], "response_url")
