"""The person side: slash commands, filling and submitting modals, pressing buttons, opening the Home tab.

People find things by what Slack shows them (labels, placeholders, button texts); nothing
here knows the bot's block ids or action ids.
"""

from __future__ import annotations

import threading
from typing import Any

from devkit.slack.blocks import (
    _MULTI_OPTION,
    _SINGLE_OPTION,
    _STATEFUL,
    _TEXT_INPUTS,
    _all_options,
    _iter_buttons,
    _match_text,
    _truthy,
)
from devkit.slack.records import Ack, Message, OpenView
from devkit.slack.rendering import _plain, for_transcript


class Person:
    """What the people of the workspace do; each action becomes a payload delivered to the app."""
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
                    self._say(f"[{self._where(channel)}] {self.bot_name} replied: {for_transcript(m.visible_text)}")
                else:
                    self._add_ephemeral(channel, uid, body.get("text") or "", blocks, "ack")
        return ack

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
            elif (kind == "section" and isinstance(block.get("accessory"), dict)
                  and block["accessory"].get("type") in _STATEFUL):
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
        # What the app does after acking (posting the card) is reported after the modal closes, as a person
        # sees it: the sim holds other transcript lines until this ack is reported (workspace.py: _say).
        self._take_turn(threading.get_ident())
        try:
            ack = self._deliver("interactive", payload, accepts_response_payload=True)
            return self._report_submission(ack, ov, uid, name)
        finally:
            self._give_turn()

    def _report_submission(self, ack: Ack, ov: OpenView, uid: str, name: str) -> Ack:
        """What the person sees once the app acked a submission: errors, the next view, or the modal closing."""
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
            self._say(f"[modal for {name}] now shows {ov.title!r}: "
                  f"{for_transcript(ov.visible_text, side_by_side=True)}")
        elif action == "push":
            with self._cond:
                view = self._build_view(body.get("view"), root=ov.view["root_view_id"], previous=ov.id)
                new = OpenView(view["id"], uid, view)
                self._views.setdefault(uid, []).append(new)
                self._bump()
            self._say(f"[modal for {name}] pushed {new.title!r}: "
                  f"{for_transcript(new.visible_text, side_by_side=True)}")
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

    def _find_button(self, blocks: list, text: str, block_id: str | None = None) -> tuple[dict, dict]:
        candidates = [(_plain(b.get("text")), (blk, b)) for blk, b in _iter_buttons(blocks)
                      if block_id is None or blk.get("block_id") == block_id]
        return _match_text(candidates, text, "button")

    def _latest_with_button(self, messages: list, text: str, block_id: str | None = None):
        for m in reversed(messages):
            try:
                return m, self._find_button(m.blocks, text, block_id)
            except AssertionError:
                continue
        return None

    def click(self, user: str, button_text: str, *, channel: str | None = None, message_ts: str | None = None,
              in_view: bool = False, in_home: bool = False, in_dm: bool = False, in_ephemeral: bool = False,
              confirm: bool = True, block_id: str | None = None) -> Ack | None:
        """Press a button found by its visible text.

        Where: ``in_view`` (current modal), ``in_home`` (Home tab), ``in_ephemeral`` (the
        user's latest ephemeral message with it), else a message: ``message_ts`` in
        ``channel``, or the latest message in ``channel`` (``in_dm``: the user's DM with the
        bot; no channel: any channel) that has the button (``in_ephemeral`` with
        ``message_ts``: that ephemeral). ``block_id``: the button of that block, where two
        show the same words (the App Home's Edit policy per provider). A button with a
        ``confirm`` dialog and ``confirm=False`` sends nothing and returns None."""
        uid = self._uid(user)
        name = self.user_name(uid)
        if in_view or in_home:
            ov = self.home(uid) if in_home else self._resolve_view(uid, None)
            if ov is None:
                raise AssertionError(f"{name} has no home tab published")
            block, button = self._find_button(ov.blocks, button_text, block_id)
            where = "home tab" if in_home else "modal"
            self._say(f"[{where} for {name}] {name} clicked [{_plain(button.get('text'))}]")
            if not self._confirm(name, where, button, confirm):
                return None
            payload = self._view_action_payload(uid, ov, self._button_action(block, button))
            return self._deliver("interactive", payload)

        if in_ephemeral:
            with self._lock:
                ephs = [e for e in self._ephemerals if e.user == uid and not e.deleted
                        and (channel is None or e.channel == channel) and message_ts in (None, e.ts)]
            found = self._latest_with_button(ephs, button_text, block_id)
            if found is None:
                raise AssertionError(f"no ephemeral message for {name} has a button {button_text!r}")
            eph, (block, button) = found
            self._say(f"[ephemeral to {name}] {name} clicked [{_plain(button.get('text'))}]")
            if not self._confirm(name, f"ephemeral in {self._where(eph.channel)}", button, confirm):
                return None
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
        found = self._latest_with_button(candidates, button_text, block_id)
        if found is None:
            raise AssertionError(
                f"no message{' in ' + self._where(channel) if channel else ''} has a button {button_text!r}; "
                f"buttons seen: {[b for m in candidates for b in m.buttons]}")
        m, (block, button) = found
        where = self._where(m.channel)
        self._say(f"[{where}] {name} clicked [{_plain(button.get('text'))}]")  # then Slack shows its confirm
        if not self._confirm(name, where, button, confirm):
            return None
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
        self._say(f"[{where}] {name} cancelled {title!r}")
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
            "channel": {"id": channel,
                        "name": "directmessage" if channel.startswith("D") else (ch.name if ch else channel)},
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
