"""The page's server: the static page, each person's screen as JSON, and what people do, through the simulated Slack.

The standard library's ThreadingHTTPServer on 127.0.0.1; no web framework: the page needs three
routes, and the dev kit's simulated Slack serves its Web API the same way (devkit/slack/web_api.py).
Updates reach the page by long polling (`GET /api/screen?since=N` answers when the workspace
changed after version N, or after 20 s), which needs nothing beyond plain `fetch`.

What people do (`POST /api/act`) calls the simulated Slack's person-level operations, the ones
the tests and `resetbot demo` use: `slash_command`, `click` (a button by its words), `fill` and
`submit` (a modal's inputs by their labels), `close_view`, `open_home`. Each becomes the payload
Slack would send, delivered to the real app over Socket Mode; the page never calls the app.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

from devkit.slack.records import OpenView
from devkit.slack.sim import SlackSim
from devkit.web.screens import HOME, Person, screen

# The slash commands the app's manifest declares (manifest.yml: features.slash_commands); Slack sends no other.
COMMANDS = ("/reset-password",)
LONG_POLL = 20.0
MAX_BODY = 64 * 1024
STATIC = {"/": ("index.html", "text/html; charset=utf-8"),
          "/static/app.js": ("app.js", "text/javascript; charset=utf-8"),
          "/static/app.css": ("app.css", "text/css; charset=utf-8")}
SECURITY_HEADERS = {
    # Only this server's own script and style; no inline script, nothing from elsewhere.
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class Refused(Exception):
    """A request the page should not have made, or an action the workspace refused: told to the person."""


class WebDemo:
    """Binds 127.0.0.1:`port` at once (0: any free port); `serve(sim, people)` puts the workspace behind it.
    Before that the page says the workspace is starting."""

    def __init__(self, port: int = 0, host: str = "127.0.0.1") -> None:
        self.sim: SlackSim | None = None
        self.people: list[Person] = []
        self._stopped = False
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="web-demo", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/"

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def serve(self, sim: SlackSim, people: list[Person]) -> None:
        self.people = list(people)
        self.sim = sim

    def stop(self) -> None:
        """Stop answering (idempotent); a long poll under way is left to end with the process."""
        if self._stopped:
            return
        self._stopped = True
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # --- requests ------------------------------------------------------------------------------------

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        demo = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "resetbot-demo"
            sys_version = ""

            def log_message(self, *args) -> None:  # the terminal shows the transcript, not every request
                pass

            def do_GET(self) -> None:
                demo._answer(self, "GET")

            def do_POST(self) -> None:
                demo._answer(self, "POST")

        return Handler

    def _answer(self, h: BaseHTTPRequestHandler, verb: str) -> None:
        try:
            if not self._host_allowed(h.headers.get("Host", "")):
                raise Refused("this page answers only at 127.0.0.1 or localhost")
            url = urlsplit(h.path)
            if verb == "GET" and url.path in STATIC:
                name, content_type = STATIC[url.path]
                self._send(h, 200, (resources.files("devkit.web") / "static" / name).read_bytes(), content_type)
            elif verb == "GET" and url.path == "/api/screen":
                self._send_json(h, 200, self._screen({k: v[-1] for k, v in parse_qs(url.query).items()}))
            elif verb == "POST" and url.path == "/api/act":
                self._send_json(h, 200, self._act(self._json_body(h)))
            else:
                self._send_json(h, 404, {"ok": False, "error": "not found"})
        except Refused as refused:
            self._send_json(h, 409, {"ok": False, "error": str(refused)})
        except AssertionError as refused:  # the simulated Slack's person could not do it (no such button, …)
            self._send_json(h, 409, {"ok": False, "error": str(refused).split("\n")[0]})
        except (BrokenPipeError, ConnectionResetError):
            pass  # the page went away (a reload aborts its long poll)
        except Exception as exc:  # a fault of this page's server: told to the page in one line, not a traceback
            try:
                self._send_json(h, 500, {"ok": False, "error": f"the demo's page failed: {type(exc).__name__}: {exc}"})
            except OSError:
                pass

    def _host_allowed(self, host: str) -> bool:
        """A page elsewhere that rebinds its name to 127.0.0.1 still sends its own Host: refused."""
        return host in (f"127.0.0.1:{self.port}", f"localhost:{self.port}")

    def _send(self, h: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str) -> None:
        h.send_response(status)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(len(body)))
        for name, value in SECURITY_HEADERS.items():
            h.send_header(name, value)
        h.end_headers()
        h.wfile.write(body)

    def _send_json(self, h: BaseHTTPRequestHandler, status: int, body: Any) -> None:
        self._send(h, status, json.dumps(body).encode(), "application/json")

    def _json_body(self, h: BaseHTTPRequestHandler) -> dict:
        if h.headers.get("Content-Type", "").split(";")[0].strip() != "application/json":
            raise Refused("expected a JSON body")  # a plain form from another site cannot send JSON without asking
        try:
            length = int(h.headers.get("Content-Length", "0"))
        except ValueError:
            raise Refused("bad Content-Length") from None
        if not 0 <= length <= MAX_BODY:
            raise Refused("the request is too large")
        try:
            body = json.loads(h.rfile.read(length) or b"{}")
        except ValueError:
            raise Refused("the body is not JSON") from None
        if not isinstance(body, dict):
            raise Refused("the body is not a JSON object")
        return body

    # --- screens -------------------------------------------------------------------------------------

    def _screen(self, query: dict[str, str]) -> dict:
        sim = self.sim
        if sim is None:
            return {"starting": True}
        try:
            since = int(query.get("since", "-1"))
        except ValueError:
            since = -1
        if since >= sim.version:
            sim.wait_for_change(since, LONG_POLL)
        uid = self._person(query.get("as"))
        return screen(sim, self.people, uid, query.get("open") or "", query.get("thread") or None)

    def _person(self, uid: Any) -> str:
        if not self.people:
            raise Refused("the workspace is still starting")
        ids = [p.id for p in self.people]
        if uid in (None, ""):
            return ids[0]
        if uid not in ids:
            raise Refused(f"no person {uid!r} in this workspace")
        return str(uid)

    # --- actions -------------------------------------------------------------------------------------

    def _act(self, body: dict) -> dict:
        sim = self.sim
        if sim is None:
            raise Refused("the workspace is still starting")
        uid = self._person(body.get("as"))
        kind = body.get("kind")
        if kind == "command":
            return self._command(sim, uid, str(body.get("text") or ""), str(body.get("channel") or ""))
        if kind == "click":
            return self._click(sim, uid, body)
        if kind == "home":
            ack = sim.open_home(uid)
            return {"ok": ack.ok}
        if kind in ("fill", "submit", "close"):
            view = self._open_view(sim, uid, str(body.get("view") or ""))
            if kind == "close":
                sim.close_view(uid)
                return {"ok": True}
            self._fill(sim, uid, view, body.get("fields"))
            if kind == "fill":
                return {"ok": True}
            ack = sim.submit(uid, view.id)
            return {"ok": ack.ok, "errors": ack.errors}
        raise Refused(f"unknown action {kind!r}")

    def _command(self, sim: SlackSim, uid: str, text: str, channel: str) -> dict:
        text = text.strip()
        if not text.startswith("/"):
            raise Refused("This page sends slash commands only: type /reset-password, e.g. "
                          "/reset-password mofh abcd_40312277")
        command, _, argument = text.partition(" ")
        if command not in COMMANDS:
            raise Refused(f"{command} is not a valid command. This workspace has {', '.join(COMMANDS)}.")
        if channel == HOME or (channel not in sim.channels() and channel != sim.dm_id(uid)):
            raise Refused("open a channel or the DM with the bot to type a command")
        ack = sim.slash_command(uid, command, argument.strip(), channel=channel)
        return {"ok": ack.ok}

    def _click(self, sim: SlackSim, uid: str, body: dict) -> dict:
        text, where = str(body.get("text") or ""), body.get("where")
        confirm = body.get("confirm", True) is not False
        channel = str(body.get("channel") or "") or None
        ts = str(body.get("ts") or "") or None
        block_id = str(body.get("block") or "") or None
        if where == "message":
            ack = sim.click(uid, text, channel=channel, message_ts=ts, confirm=confirm, block_id=block_id)
        elif where == "ephemeral":
            ack = sim.click(uid, text, channel=channel, message_ts=ts, in_ephemeral=True, confirm=confirm,
                            block_id=block_id)
        elif where == "view":
            self._open_view(sim, uid, str(body.get("view") or ""))
            ack = sim.click(uid, text, in_view=True, confirm=confirm, block_id=block_id)
        elif where == "home":
            ack = sim.click(uid, text, in_home=True, confirm=confirm, block_id=block_id)
        else:
            raise Refused(f"unknown place {where!r}")
        return {"ok": ack is None or ack.ok}

    @staticmethod
    def _open_view(sim: SlackSim, uid: str, view_id: str) -> OpenView:
        current = sim.current_view(uid)
        if view_id and (current is None or current.id != view_id):
            raise Refused("that modal is no longer open")
        if current is None:
            raise Refused("no modal is open")
        return current

    @staticmethod
    def _fill(sim: SlackSim, uid: str, view: OpenView, fields: Any) -> None:
        """Type what the page's inputs hold, label by label, in the page's order, skipping what the simulated
        Slack already holds: a choice that dispatches is sent once, when it changes (the page puts it last)."""
        if not isinstance(fields, list):
            return
        state = view.state()["values"]
        changed: dict[str, Any] = {}
        for field in fields:
            if not (isinstance(field, list) and len(field) == 2 and isinstance(field[0], str)):
                raise Refused("fields are [label, value] pairs")
            label, value = field
            if value == "" or value == []:
                value = None
            block, element = sim._find_input(view, label)
            held = (state.get(block.get("block_id")) or {}).get(element.get("action_id")) or {}
            if value is None and not _comparable(held):
                continue  # nothing typed, nothing held
            if value is None and "value" not in held:
                continue  # a choice cannot be taken back in Slack, only changed
            if value is not None and _comparable(sim._state_entry(element, value)) == _comparable(held):
                continue
            changed[label] = value
        if changed:
            sim.fill(uid, changed, view.id)


def _comparable(entry: dict) -> Any:
    """A state entry reduced to what a person chose: a text, an option's value, a set of values."""
    if "value" in entry:
        return entry.get("value") or None
    if "selected_option" in entry:
        return (entry.get("selected_option") or {}).get("value")
    if "selected_options" in entry:
        return sorted(str(o.get("value")) for o in entry.get("selected_options") or []) or None
    return {k: v for k, v in entry.items() if k != "type" and v} or None
