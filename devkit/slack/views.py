"""Modals and the Home tab: triggers, the views.* methods, and the view stack each person sees."""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Callable
from typing import Any

from devkit.slack.blocks import _iter_stateful, text_limit_problems
from devkit.slack.records import OpenView
from devkit.slack.rendering import _plain, for_transcript
from devkit.slack.web_api import ApiError

TRIGGER_TTL = 3.0


class Views:
    """Each person's modal stack and Home tab, opened and changed through views.open/push/update/publish."""

    def _init_views(self) -> None:
        self._views: dict[str, list[OpenView]] = {}  # user -> modal stack
        self._homes: dict[str, OpenView] = {}
        self._triggers: dict[str, dict] = {}

    def views(self, user: str) -> list[OpenView]:
        with self._lock:
            return list(self._views.get(self._uid(user), []))

    def current_view(self, user: str) -> OpenView | None:
        with self._lock:
            stack = self._views.get(self._uid(user)) or []
            return stack[-1] if stack else None

    def opened_by(self, user: str, act: Callable[[], Any], title: str | None = None,
                  timeout: float = 10.0) -> OpenView:
        """Do `act` (a command, a click), then wait for the modal it opens: a new current view (with `title`).
        An app opens its modal after the ack, so the view current right after `act` returns may still be an
        older one (a New password modal left open)."""
        before = self.current_view(user)
        act()
        return self.wait_for(
            lambda: (view := self.current_view(user)) is not None and view is not before
            and (title is None or view.title == title) and view,
            timeout=timeout, message=f"no modal{f' {title!r}' if title else ''} opened for {user}")

    def home(self, user: str) -> OpenView | None:
        with self._lock:
            return self._homes.get(self._uid(user))

    def _new_hash(self) -> str:
        return f"{int(self.clock())}.{secrets.token_hex(4)}"

    def _issue_trigger(self, uid: str) -> str:
        trigger = f"{int(self.clock() * 1000)}.{secrets.randbelow(10**10):010d}.{uuid.uuid4().hex}"
        with self._lock:
            self._triggers[trigger] = {"at": self.clock(), "user": uid, "used": False}
        return trigger

    def _consume_trigger(self, trigger_id: str) -> str:
        info = self._triggers.get(trigger_id or "")
        if info is None:
            raise ApiError("invalid_trigger_id")
        if info["used"] or self.clock() - info["at"] > TRIGGER_TTL:
            raise ApiError("expired_trigger_id")
        info["used"] = True
        return info["user"]

    def _build_view(self, raw: Any, *, view_id: str | None = None, root: str | None = None,
                    previous: str | None = None) -> dict:
        if isinstance(raw, str):
            try:
                raw = json.loads(raw)
            except ValueError:
                raise ApiError("invalid_arguments") from None
        if not isinstance(raw, dict):
            raise ApiError("invalid_arguments")
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
        problems += text_limit_problems(blocks, "/view/blocks")
        if len(raw.get("private_metadata") or "") > 3000:
            problems.append("[ERROR] must be less than 3001 characters [json-pointer:/view/private_metadata]")
        if problems:
            raise ApiError("invalid_arguments", response_metadata={"messages": problems})
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
                raise ApiError("invalid_arguments")
            ov = OpenView(view["id"], uid, view)
            self._views[uid] = [ov]
            self._bump()
        self._say(f"[modal for {self.user_name(uid)}] opened {ov.title!r}: "
                  f"{for_transcript(ov.visible_text, side_by_side=True)}")
        return {"ok": True, "view": self._with_state(ov)}

    def _api_views_push(self, p: dict) -> dict:
        with self._cond:
            uid = self._consume_trigger(str(p.get("trigger_id") or ""))
            stack = self._views.get(uid) or []
            if len(stack) >= 3:
                raise ApiError("push_limit_reached")
            prev = stack[-1] if stack else None
            view = self._build_view(p.get("view"), root=prev.view["root_view_id"] if prev else None,
                                    previous=prev.id if prev else None)
            ov = OpenView(view["id"], uid, view)
            self._views[uid] = stack + [ov]
            self._bump()
        self._say(f"[modal for {self.user_name(uid)}] pushed {ov.title!r}: "
                  f"{for_transcript(ov.visible_text, side_by_side=True)}")
        return {"ok": True, "view": self._with_state(ov)}

    def _api_views_update(self, p: dict) -> dict:
        with self._cond:
            ov = self._find_view(p.get("view_id"), p.get("external_id"))
            if ov is None:
                raise ApiError("not_found")
            if p.get("hash") and p["hash"] != ov.hash:
                raise ApiError("hash_conflict")
            self._replace_view_content(ov, p.get("view"))
        where = "home tab" if ov.type == "home" else "modal"
        self._say(f"[{where} for {self.user_name(ov.user)}] updated to {ov.title!r}: "
                  f"{for_transcript(ov.visible_text, side_by_side=True)}")
        return {"ok": True, "view": self._with_state(ov)}

    def _api_views_publish(self, p: dict) -> dict:
        with self._cond:
            uid = str(p.get("user_id") or "")
            if uid not in self._users:
                raise ApiError("user_not_found")
            current = self._homes.get(uid)
            if p.get("hash") and current is not None and p["hash"] != current.hash:
                raise ApiError("hash_conflict")
            raw = p.get("view")
            if isinstance(raw, str):
                raw = json.loads(raw)
            if not isinstance(raw, dict) or raw.get("type") != "home":
                raise ApiError("invalid_arguments")
            if current is None:
                view = self._build_view(raw)
                self._homes[uid] = OpenView(view["id"], uid, view)
            else:
                self._replace_view_content(current, raw)
            ov = self._homes[uid]
            self._bump()
        self._say(f"[home tab for {self.user_name(uid)}] "
                  f"{for_transcript(ov.visible_text, side_by_side=True)}")
        return {"ok": True, "view": self._with_state(ov)}

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
