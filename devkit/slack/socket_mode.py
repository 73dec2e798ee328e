"""The Socket Mode server: tickets, connections, hello and disconnect frames, envelopes out and acks back."""

from __future__ import annotations

import itertools
import json
import threading
import time
import uuid
from urllib.parse import parse_qs, urlsplit

from devkit.slack.records import Ack
from devkit.slack.web_api import ApiError


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


class SocketMode:
    """A `websockets` server that `apps.connections.open` hands out, one ticket per connection."""

    ack_timeout: float
    ack_wait: float | None

    def _init_socket_mode(self) -> None:
        self._tickets: set[str] = set()
        self._conns: list[_SockConn] = []
        self._conn_seq = itertools.count(0)
        self._socket_ever = False
        self._rr = 0
        self._pinned: int | None = None
        self._pending: dict[str, _Pending] = {}
        self.envelopes: list[dict] = []  # every envelope sent: {"connection", "envelope"}
        self._ws_server = None
        self.ws_port: int | None = None

    def _start_socket_mode(self, ping_interval: float) -> None:
        from websockets.sync.server import serve

        self._ws_server = serve(
            self._ws_handler,
            "127.0.0.1",
            0,
            process_request=self._ws_process_request,
            compression=None,
            # Slack pings its clients too. Frequent pings also make slack_sdk's built-in
            # client close fast: its close() waits for a blocked recv (3 s timeout) otherwise.
            ping_interval=ping_interval,
            ping_timeout=20,
            close_timeout=2,
            max_size=None,
        )
        self.ws_port = self._ws_server.socket.getsockname()[1]
        self._ws_thread = threading.Thread(
            target=self._ws_server.serve_forever, name="slack-sim-socket", daemon=True
        )
        self._ws_thread.start()

    def _stop_socket_mode(self) -> None:
        if self._ws_server is not None:
            self._ws_server.shutdown()
            self._ws_thread.join(timeout=5)

    def _release_pending(self) -> None:
        """Wake every delivery still waiting for an ack (the sim is stopping)."""
        with self._cond:
            for pending in self._pending.values():
                pending.event.set()
            self._bump()

    def connections(self) -> int:
        with self._lock:
            return len(self._live_conns())

    def wait_for_connections(self, n: int = 1, timeout: float = 5.0) -> int:
        return self.wait_for(lambda: self.connections() >= n and self.connections(), timeout,
                             message=f"{n} socket mode connection(s)")

    def _api_apps_connections_open(self, p: dict) -> dict:
        if self._ws_server is None:
            raise ApiError("socket_mode_not_enabled")
        ticket = uuid.uuid4().hex
        with self._lock:
            self._tickets.add(ticket)
        return {"ok": True, "url": f"ws://127.0.0.1:{self.ws_port}/link/?ticket={ticket}&app_id={self.app_id}"}

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
