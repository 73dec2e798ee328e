"""`resetbot run` as an operator starts it: Socket Mode, `ready` on stderr, SIGTERM drains in-flight work."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading

import requests

from tests.e2e.conftest import APPROVALS, APPROVER, ENGINEER, REASON, _world


def test_sigterm_lets_an_inflight_provider_call_finish_then_exits_0(tmp_path):
    sim, sandbox = _world()
    database_url = f"sqlite:///{tmp_path / 'resetbot.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "MOFH_", "NAMECHEAP_", "RESETBOT_"))}
    env.update({"SLACK_BOT_TOKEN": "xoxb-run", "SLACK_APP_TOKEN": "xapp-run", "SLACK_API_URL": sim.api_url,
                "DATABASE_URL": database_url, "RESETBOT_APPROVALS_CHANNEL": APPROVALS,
                "RESETBOT_ADMINS": APPROVER, "MOFH_API_URL": sandbox.mofh_url,
                "MOFH_API_USERNAME": "sandbox-reseller", "MOFH_API_PASSWORD": "sandbox-mofh-password"})
    subprocess.run([sys.executable, "-m", "bot.cli", "roles", "grant", ENGINEER, "requester"], env=env, check=True,
                   capture_output=True, timeout=60)
    bot = subprocess.Popen([sys.executable, "-m", "bot.cli", "run"], env=env, text=True, stderr=subprocess.PIPE,
                           stdout=subprocess.DEVNULL)
    lines: list[str] = []
    ready = threading.Event()

    def pump():
        for line in bot.stderr:
            lines.append(line)
            if "ready" in line:
                ready.set()

    threading.Thread(target=pump, daemon=True).start()
    try:
        assert ready.wait(30), "".join(lines)
        sim.wait_for_connections(1, timeout=10)
        sandbox.set_delay("mofh", "webq7k2m", 2.0)
        sim.opened_by(ENGINEER, lambda: sim.slash_command(ENGINEER, "/reset-password", "mofh webq7k2m"))
        sim.fill(ENGINEER, {"Reason": REASON})
        assert sim.submit(ENGINEER).ok
        card = sim.wait_for(lambda: next((m for m in sim.messages(APPROVALS) if "Approve" in m.buttons), None),
                            message="no card")
        sim.click(APPROVER, "Approve", channel=APPROVALS, message_ts=card.ts)  # an admin from RESETBOT_ADMINS
        assert sandbox.wait_for_pending(1, timeout=10)
        bot.send_signal(signal.SIGTERM)
        assert bot.wait(30) == 0
        assert any("Reveal password" in m.buttons for m in sim.dm_messages(ENGINEER)), "".join(lines)
        assert [c.outcome for c in sandbox.calls() if "passwd" in c.path] == ["changed"]
        assert "Traceback" not in "".join(lines)
    finally:
        if bot.poll() is None:
            bot.kill()
        sim.stop()
        sandbox.stop()


def test_run_http_serves_healthz_and_exits_0_on_sigterm(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "MOFH_", "NAMECHEAP_", "RESETBOT_"))}
    env.update({"SLACK_BOT_TOKEN": "xoxb-http", "SLACK_SIGNING_SECRET": "s3cret", "SLACK_API_URL":
                "http://127.0.0.1:9/api/", "DATABASE_URL": f"sqlite:///{tmp_path / 'resetbot.db'}",
                "RESETBOT_APPROVALS_CHANNEL": APPROVALS, "MOFH_API_USERNAME": "r", "MOFH_API_PASSWORD": "p"})
    bot = subprocess.Popen([sys.executable, "-m", "bot.cli", "run", "--http", "--port", "0"], env=env, text=True,
                           stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
    try:
        port = None
        for line in bot.stderr:
            found = re.search(r"ready \(HTTP on http://127\.0\.0\.1:(\d+)/slack/events", line)
            if found:
                port = int(found.group(1))
                break
        assert port, "no ready line"
        answer = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
        assert (answer.status_code, answer.text) == (200, "ok; database up")
        unsigned = requests.post(f"http://127.0.0.1:{port}/slack/events", data={"command": "/reset-password"},
                                 timeout=5)
        assert unsigned.status_code in (400, 401)
        bot.send_signal(signal.SIGTERM)
        assert bot.wait(30) == 0
    finally:
        if bot.poll() is None:
            bot.kill()
