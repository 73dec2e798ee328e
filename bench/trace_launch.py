"""Run `resetbot run` or bench/bare_app.py with per-envelope timing marks on stderr (bench --trace).

    .venv/bin/python bench/trace_launch.py bot    # = `resetbot run`, plus TRACE lines
    .venv/bin/python bench/trace_launch.py bare   # = bench/bare_app.py, plus TRACE lines

Nothing in the app changes: this patches slack_sdk's Socket Mode client and resetbot's Socket
Mode handler class (bot.server.ScreenedSocketModeHandler; in this process only) to print, for
every envelope answered,

    TRACE <envelope_id> <received> <dispatch_started> <ack_send_started> <ack_sent>

as CLOCK_MONOTONIC seconds (comparable with time.monotonic() in the benchmark process):
received = the WebSocket text frame was read and queued; dispatch_started = a Socket Mode
worker thread began Bolt's dispatch; ack_send_started / ack_sent = around the ack frame's write.

For the bot it also prints `TRACE-SUBMIT <ms>`: the time of Intake.submit (the
database transaction that runs before the view_submission is acked).

With BENCH_TCP_NODELAY=1 it also sets TCP_NODELAY on the Socket Mode socket, which slack_sdk's
built-in client sets only on proxied connections (an experiment: is Nagle delaying acks?).
"""

from __future__ import annotations

import json
import os
import runpy
import socket
import sys
import threading
import time
from pathlib import Path

from slack_sdk.socket_mode.client import BaseSocketModeClient

from bot.server import ScreenedSocketModeHandler

_marks: dict[str, list[float]] = {}
_lock = threading.Lock()
_enqueue = BaseSocketModeClient.enqueue_message
_send = BaseSocketModeClient.send_socket_mode_response
_handle = ScreenedSocketModeHandler.handle


def enqueue_message(self, message: str):
    received = time.monotonic()
    start = message.find('"envelope_id"')
    if start >= 0:
        try:
            eid = json.loads(message).get("envelope_id")
        except ValueError:
            eid = None
        if eid:
            with _lock:
                _marks[eid] = [received, 0.0]
    return _enqueue(self, message)


def handle(self, client, req):
    with _lock:
        mark = _marks.get(req.envelope_id)
        if mark is not None:
            mark[1] = time.monotonic()
    return _handle(self, client, req)


def send_socket_mode_response(self, response):
    before = time.monotonic()
    result = _send(self, response)
    after = time.monotonic()
    eid = response.envelope_id if hasattr(response, "envelope_id") else (response or {}).get("envelope_id")
    with _lock:
        mark = _marks.pop(eid, None)
    if mark is not None:
        sys.stderr.write(f"TRACE {eid} {mark[0]:.6f} {mark[1]:.6f} {before:.6f} {after:.6f}\n")
        sys.stderr.flush()
    return result


if os.environ.get("BENCH_TCP_NODELAY") == "1":
    from slack_sdk.socket_mode.builtin import connection as _connection

    _establish = _connection._establish_new_socket_connection

    def _establish_nodelay(*args, **kwargs):
        sock = _establish(*args, **kwargs)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sys.stderr.write("TRACE-NOTE TCP_NODELAY set on the Socket Mode socket\n")
        return sock

    _connection._establish_new_socket_connection = _establish_nodelay

BaseSocketModeClient.enqueue_message = enqueue_message
BaseSocketModeClient.send_socket_mode_response = send_socket_mode_response
ScreenedSocketModeHandler.handle = handle


def main() -> int:
    which = sys.argv[1] if len(sys.argv) > 1 else ""
    if which == "bot":
        from bot.cli import main as resetbot
        from bot.workflow.intake import Intake

        submit = Intake.submit

        def timed_submit(self, *args, **kwargs):  # runs before the view_submission's ack
            start = time.monotonic()
            try:
                return submit(self, *args, **kwargs)
            finally:
                sys.stderr.write(f"TRACE-SUBMIT {(time.monotonic() - start) * 1000:.3f}\n")

        Intake.submit = timed_submit

        return resetbot(["run"])
    if which == "bare":
        path = Path(__file__).with_name("bare_app.py")
        sys.argv = [str(path)]
        try:
            runpy.run_path(str(path), run_name="__main__")
        except SystemExit as done:
            return int(done.code or 0)
        return 0
    print("usage: trace_launch.py bot|bare", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
