"""`resetbot demo --web [--port N]`: what `resetbot demo` starts, without its story, and the page, until a signal."""

from __future__ import annotations

import logging
import signal
import sys
import tempfile
import threading
from collections.abc import Callable

from bot import logs
from bot.server import wait_for_signal
from devkit.demo import ADMIN, APPROVER, ENGINEER, LEAD, DemoFailed, _printer, demo_world
from devkit.web.screens import Person
from devkit.web.server import WebDemo

PEOPLE = [
    Person(ENGINEER, "sam.engineer", "engineer"),
    Person(APPROVER, "dana.approver", "approver"),
    Person(LEAD, "lee.lead", "approver (@pw-reset-leads)"),
    Person(ADMIN, "alex.admin", "admin"),
]


def run_web(port: int = 0, out: Callable[[str], None] | None = None) -> int:
    out = out or _printer()
    logs.configure(logging.WARNING)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        web = WebDemo(port)
    except OSError as problem:
        print(f"resetbot demo: --port {port}: cannot listen on 127.0.0.1:{port} ({problem.strerror or problem})",
              file=sys.stderr)
        return 2
    try:
        # The page's address first: the first line holding http://127.0.0.1: is the page (CONTRACT.md).
        out(f"resetbot demo --web: the page is at {web.url} (starting the workspace…)")
        with tempfile.TemporaryDirectory(prefix="resetbot-demo-") as tmp, \
                demo_world(out, tmp, admin=True) as world:
            web.serve(world.sim, PEOPLE)
            out(f"Ready: open {web.url} in a browser, pick a person, and type "
                "/reset-password mofh abcd_40312277 in #helpdesk. Ctrl-C stops the demo.\n")
            wait_for_signal(stop)
            out("Stopping…")
            web.stop()  # no more clicks before the app and the simulated Slack shut down
    except DemoFailed as failure:
        out(f"DEMO FAILED: {failure}")
        return 1
    finally:
        web.stop()
    return 0
