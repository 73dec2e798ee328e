"""The fake Web API: its HTTP server, token and scope checks, injected faults, call records and the
chat/conversations/users/usergroups methods.

A method `chat.postMessage` is served by a method `_api_chat_postMessage` of the composed
`SlackSim`, wherever it is defined (views.py holds the `views.*` ones). A bot token holds
`sim.scopes` (by default what manifest.yml asks for); a method whose scope it lacks answers
`missing_scope` with `needed` and `provided`, as Slack does.
"""

from __future__ import annotations

import json
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from devkit.slack.blocks import text_limit_problems
from devkit.slack.records import RecordedCall
from devkit.slack.rendering import for_transcript

_JSON_PARAMS = {"blocks", "attachments", "view", "metadata"}

# The bot scope each simulated method needs (Slack's method pages); a method not listed needs none
# (auth.test, views.*) or takes the app-level token (apps.connections.open).
METHOD_SCOPES = {
    "chat.postMessage": "chat:write",
    "chat.update": "chat:write",
    "chat.delete": "chat:write",
    "chat.postEphemeral": "chat:write",
    "conversations.open": "im:write",
    "conversations.info": "channels:read",
    "users.info": "users:read",
    "usergroups.users.list": "usergroups:read",
}
# What the app is installed with unless a test says otherwise: manifest.yml's bot scopes
# (tests/test_manifest.py keeps the two equal).
DEFAULT_SCOPES = frozenset({"commands", "chat:write", "im:write", "usergroups:read", "channels:read"})


class _ApiServer(ThreadingHTTPServer):
    """The Web API's server. Slack accepts every connection a burst opens; the stdlib's accept queue of 5
    refused some (connection resets, 1 s SYN retries in bench/burst.py) and measured the sim, not the app."""

    daemon_threads = True
    request_queue_size = 1024

    def __init__(self, *args, **kwargs) -> None:
        self.connections_accepted = 0
        self.open_connections: set = set()  # the handlers' sockets (TLS-wrapped ones under web_api_tls)
        self.connections_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def process_request(self, request, client_address) -> None:
        with self.connections_lock:
            self.connections_accepted += 1
        super().process_request(request, client_address)

    def handle_error(self, request, client_address) -> None:
        if isinstance(sys.exc_info()[1], (ssl.SSLError, ConnectionError)):  # a client that refused the certificate
            return
        super().handle_error(request, client_address)


class ApiError(Exception):
    def __init__(self, error: str, **extra) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


class WebApi:
    """`POST /api/<method>` (and `/response/<token>`, see response_urls.py) on 127.0.0.1."""

    bot_token: str | None
    app_token: str | None
    scopes: set[str]

    def _init_web_api(self) -> None:
        self._calls: list[RecordedCall] = []
        self._faults: dict[str, list[dict]] = {}
        self._lasting_faults: dict[str, dict] = {}
        # Seconds each Web API and response_url answer is held, as the internet holds Slack's (bench --slack-latency):
        # on loopback an app that calls Slack while it holds a lock or a connection looks free of that cost.
        self.web_api_latency = 0.0

    def _start_web_api(self) -> None:
        sim = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # as devkit/sandbox/server.py: no 40 ms stall for a keep-alive client

            def setup(self):
                if sim.web_api_tls is not None:  # the handshake on this connection's own thread, not the accept loop's
                    self.request = sim.web_api_tls.wrap_socket(self.request, server_side=True)
                with self.server.connections_lock:
                    self.server.open_connections.add(self.request)
                super().setup()

            def finish(self):
                super().finish()
                with self.server.connections_lock:
                    self.server.open_connections.discard(self.request)

            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):
                sim._handle_http(self)

            do_GET = do_POST

        self._httpd = _ApiServer(("127.0.0.1", 0), _Handler)
        self.port = self._httpd.server_address[1]
        self.base_url = f"{'https' if self.web_api_tls else 'http'}://127.0.0.1:{self.port}"
        self._http_thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), name="slack-sim-api",
                                             daemon=True)
        self._http_thread.start()

    def _stop_web_api(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self.drop_connections()  # a kept-alive connection would still reach its handler thread
        self._http_thread.join(timeout=5)

    @property
    def connections_accepted(self) -> int:
        """TCP connections the Web API (and response_url) server accepted: one a call, unless the client keeps them."""
        with self._httpd.connections_lock:
            return self._httpd.connections_accepted

    def drop_connections(self) -> int:
        """Close every connection a client keeps open, as Slack closes idle keep-alive connections; how many."""
        with self._httpd.connections_lock:
            kept = list(self._httpd.open_connections)
        for conn in kept:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        return len(kept)

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/"

    @property
    def calls(self) -> list[RecordedCall]:
        with self._lock:
            return list(self._calls)

    def calls_to(self, method: str) -> list[RecordedCall]:
        with self._lock:
            return [c for c in self._calls if c.method == method]

    def fail_next(self, method: str, status: int = 429, retry_after: int = 1, count: int = 1,
                  error: str | None = None, after_effect: bool = False, channel: str | None = None) -> None:
        """The next ``count`` calls of ``method`` (to ``channel``, when given) answer ``status`` (429 with
        Retry-After).

        ``status=200, error="…"`` makes them answer ``{"ok": false, "error": error}``.
        ``after_effect=True``: the call takes effect first (the message is posted) and only its
        answer is lost, as when Slack times out after posting or the app dies before reading it."""
        with self._lock:
            for _ in range(count):
                self._faults.setdefault(method, []).append(
                    {"status": status, "retry_after": retry_after, "error": error, "after_effect": after_effect,
                     "channel": channel}
                )

    def fail_until_healed(self, method: str, *, error: str = "internal_error", status: int = 200) -> None:
        """Every call of ``method`` fails until ``heal(method)``: ``{"ok": false, "error": error}`` with
        ``status`` (200 as Slack answers most errors; 5xx, or 429 with Retry-After: 1)."""
        with self._lock:
            self._lasting_faults[method] = {"status": status, "retry_after": 1, "error": error,
                                            "after_effect": False}

    def heal(self, method: str) -> None:
        with self._lock:
            self._lasting_faults.pop(method, None)

    def wait_for_call(self, method: str, predicate: Callable[[RecordedCall], bool] | None = None,
                      timeout: float = 5.0, start: int = 0) -> RecordedCall:
        """The first call of ``method`` (from index ``start`` of ``calls``) matching ``predicate``."""

        def find():
            for call in self._calls[start:]:
                if call.method == method and (predicate is None or predicate(call)):
                    return call
            return None

        return self.wait_for(find, timeout, message=f"a {method} call")

    def _handle_http(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        parts = urlsplit(h.path)
        path = parts.path
        if self.web_api_latency > 0 and path.startswith(("/api/", "/response/")):
            time.sleep(self.web_api_latency)
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
            faults = self._faults.get(method) or []
            due = next((f for f in faults if f.get("channel") in (None, params.get("channel"))), None)
            if due is not None:
                faults.remove(due)
            fault = due if due is not None else self._lasting_faults.get(method)
        if fault is not None and fault.get("after_effect"):
            with self._lock:
                handler = getattr(self, "_api_" + method.replace(".", "_"), None)
                if handler is not None and not self._check_token(method, token):
                    try:
                        handler(params)
                    except ApiError:
                        pass
        if fault is not None:
            status = fault["status"]
            if status == 429:
                extra = {"Retry-After": str(fault["retry_after"])}
                body = {"ok": False, "error": "ratelimited"}
            elif status == 200:
                body = {"ok": False, "error": fault["error"] or "fatal_error"}
            else:
                default = "service_unavailable" if status == 503 else "internal_error"
                body = {"ok": False, "error": fault["error"] or default}
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
                needed = METHOD_SCOPES.get(method)
                if error:
                    body = {"ok": False, "error": error}
                elif needed is not None and needed not in self.scopes:
                    body = {"ok": False, "error": "missing_scope", "needed": needed,
                            "provided": ",".join(sorted(self.scopes))}
                else:
                    try:
                        body = handler(params)
                    except ApiError as e:
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

    def _api_auth_test(self, p: dict) -> dict:
        return {
            "ok": True, "url": f"https://{self.team_domain}.slack.com/", "team": "Acme Support",
            "user": self.bot_name, "team_id": self.team_id, "user_id": self.bot_user_id,
            "bot_id": self.bot_id, "is_enterprise_install": False,
        }

    def _resolve_post_channel(self, channel: str) -> str:
        if not channel:
            raise ApiError("channel_not_found")
        if channel[:1] in ("U", "W"):
            if channel not in self._users:
                raise ApiError("channel_not_found")
            dm = self.dm_id(channel)
            self._dm_opened.add(dm)
            self._dm_owner[dm] = channel
            return dm
        if channel.startswith("#"):
            for ch in self._channels.values():
                if ch.name == channel[1:]:
                    return ch.id
            raise ApiError("channel_not_found")
        return channel

    def _check_bot_can_post(self, channel: str) -> None:
        if channel.startswith("D"):
            if channel not in self._dm_opened:
                raise ApiError("channel_not_found")
            return
        ch = self._channels.get(channel)
        if ch is None:
            raise ApiError("channel_not_found")
        if ch.archived:
            raise ApiError("is_archived")
        if not ch.bot_member:
            raise ApiError("not_in_channel")

    def _check_text_limits(self, blocks: list | None) -> None:
        problems = text_limit_problems(blocks, "/blocks")
        if problems:
            raise ApiError("invalid_blocks", response_metadata={"messages": problems})

    def _api_chat_postMessage(self, p: dict) -> dict:
        with self._lock:
            channel = self._resolve_post_channel(str(p.get("channel") or ""))
            self._check_bot_can_post(channel)
            text, blocks = p.get("text") or "", self._normalize_blocks(p.get("blocks"))
            if not text and not blocks and not p.get("attachments"):
                raise ApiError("no_text")
            self._check_text_limits(blocks)
            if len(blocks) > 50:
                too_many = "[ERROR] no more than 50 items allowed [json-pointer:/blocks]"
                raise ApiError("invalid_blocks", response_metadata={"messages": [too_many]})
            thread_ts = p.get("thread_ts") or None
            m = self._store_bot_message(channel, text, blocks, thread_ts)
        self._say(f"[{self._where(channel)}] {self.bot_name} posted{' in thread' if thread_ts else ''}: "
                  f"{for_transcript(m.visible_text)}")
        return {"ok": True, "channel": channel, "ts": m.ts, "message": self._message_dict(m)}

    def _api_chat_update(self, p: dict) -> dict:
        with self._lock:
            channel = str(p.get("channel") or "")
            if channel not in self._channels and channel not in self._dm_owner:
                raise ApiError("channel_not_found")
            m = self._find_message(channel, str(p.get("ts") or ""))
            if m is None:
                raise ApiError("message_not_found")
            if m.user != self.bot_user_id:
                raise ApiError("cant_update_message")
            blocks = self._normalize_blocks(p["blocks"]) if "blocks" in p else None
            self._check_text_limits(blocks)
            text = p.get("text") if "text" in p else None
            if text is None and blocks is None and "attachments" not in p:
                raise ApiError("no_text")
            self._edit_message(m, text, blocks)
        self._say(f"[{self._where(channel)}] {self.bot_name} edited its message: {for_transcript(m.visible_text)}")
        return {"ok": True, "channel": channel, "ts": m.ts, "text": m.text, "message": self._message_dict(m)}

    def _api_chat_delete(self, p: dict) -> dict:
        with self._cond:
            channel = str(p.get("channel") or "")
            m = self._find_message(channel, str(p.get("ts") or ""))
            if m is None:
                raise ApiError("message_not_found")
            if m.user != self.bot_user_id:
                raise ApiError("cant_delete_message")
            m.deleted = True
            self._bump()
        self._say(f"[{self._where(channel)}] {self.bot_name} deleted a message")
        return {"ok": True, "channel": channel, "ts": m.ts}

    def _api_chat_postEphemeral(self, p: dict) -> dict:
        with self._lock:
            channel = str(p.get("channel") or "")
            uid = str(p.get("user") or "")
            if uid not in self._users:
                raise ApiError("user_not_found")
            if channel.startswith("D"):
                if channel not in self._dm_opened:
                    raise ApiError("channel_not_found")
                if self._dm_owner.get(channel) != uid:
                    raise ApiError("user_not_in_channel")
            else:
                ch = self._channels.get(channel)
                if ch is None or not ch.bot_member:
                    raise ApiError("channel_not_found")
                if uid not in ch.members:
                    raise ApiError("user_not_in_channel")
            text, blocks = p.get("text") or "", self._normalize_blocks(p.get("blocks"))
            if not text and not blocks and not p.get("attachments"):
                raise ApiError("no_text")
            self._check_text_limits(blocks)
        e = self._add_ephemeral(channel, uid, text, blocks, "chat.postEphemeral")
        return {"ok": True, "message_ts": e.ts}

    def _api_conversations_open(self, p: dict) -> dict:
        users = [u.strip() for u in str(p.get("users") or "").split(",") if u.strip()]
        if not users and p.get("channel"):
            ch = str(p["channel"])
            if ch in self._dm_owner:
                return {"ok": True, "no_op": True, "already_open": True, "channel": {"id": ch}}
            raise ApiError("channel_not_found")
        if not users:
            raise ApiError("users_list_not_supplied")
        if len(users) > 1:
            raise ApiError("not_supported")  # multi-person DMs are not simulated
        uid = users[0]
        if uid not in self._users or self._users[uid].get("is_bot"):
            raise ApiError("user_not_found")
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

    def _api_conversations_info(self, p: dict) -> dict:
        ch = self._channels.get(str(p.get("channel") or ""))
        if ch is None:
            raise ApiError("channel_not_found")
        return {"ok": True, "channel": {"id": ch.id, "name": ch.name, "is_channel": True, "is_private": False,
                                        "is_archived": ch.archived, "is_member": ch.bot_member,
                                        "num_members": len(ch.members)}}

    def _api_users_info(self, p: dict) -> dict:
        uid = str(p.get("user") or "")
        info = self._users.get(uid)
        if info is None:
            raise ApiError("user_not_found")
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
            raise ApiError("no_such_subteam")
        return {"ok": True, "users": list(group["users"])}
