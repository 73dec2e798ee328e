"""Operating `resetbot run` as a service (issue 11): /metrics, /healthz and /readyz, JSON logs, secrets from files,
seal-key rotation, all through the real process against the simulated Slack and the sandbox."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
import requests
from cryptography.fernet import Fernet
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import APPROVALS, APPROVER, ENGINEER, REASON, _world

BOT_TOKEN = "xoxb-from-a-file-ZZZfiletoken1"
MOFH_PASSWORD = "sandbox-mofh-password"  # what the sandbox accepts: read from a file here
SECRET_WORDS = (BOT_TOKEN, "ZZZfiletoken1", MOFH_PASSWORD, "xapp-ops")


class BotProcess:
    """`python -m bot.cli run …` with its stderr read line by line on a thread."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self.process = subprocess.Popen([sys.executable, "-m", "bot.cli", "run", *args], env=env, text=True,
                                        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()

    def wait_for_line(self, pattern: str, timeout: float = 30) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = next((m for line in self.lines if (m := re.search(pattern, line))), None)
                if found:
                    return found
                left = deadline - time.monotonic()
                if left <= 0 or self.process.poll() is not None:
                    raise AssertionError(f"no line matching {pattern!r}:\n" + "".join(self.lines))
                self._changed.wait(min(left, 0.2))

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(30)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


def _base_env(sim, sandbox, database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "MOFH_", "NAMECHEAP_", "RESETBOT_"))}
    env.update({"SLACK_BOT_TOKEN": "xoxb-ops", "SLACK_APP_TOKEN": "xapp-ops", "SLACK_API_URL": sim.api_url,
                "DATABASE_URL": database_url, "RESETBOT_APPROVALS_CHANNEL": APPROVALS, "RESETBOT_ADMINS": APPROVER,
                "MOFH_API_URL": sandbox.mofh_url, "MOFH_API_USERNAME": "sandbox-reseller",
                "MOFH_API_PASSWORD": "sandbox-mofh-password"})
    return env


def _grant_requester(env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "-m", "bot.cli", "roles", "grant", ENGINEER, "requester"], env=env, check=True,
                   capture_output=True, timeout=60)


def scrape(base: str) -> dict[tuple[str, frozenset], float]:
    answer = requests.get(f"{base}/metrics", timeout=5)
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/plain")
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(answer.text) for sample in family.samples}


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def wait_until(condition, timeout: float = 10, message: str = "condition not met"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(message)


def _ask_and_approve(sim, account: str = "webq7k2m"):
    sim.opened_by(ENGINEER, lambda: sim.slash_command(ENGINEER, "/reset-password", f"mofh {account}"))
    sim.fill(ENGINEER, {"Reason": REASON})
    assert sim.submit(ENGINEER).ok
    card = sim.wait_for(lambda: next((m for m in sim.messages(APPROVALS) if "Approve" in m.buttons), None),
                        message="no card")
    return card


def test_socket_mode_serves_metrics_health_and_readiness_logs_json_and_reads_secrets_from_files(tmp_path):
    sim, sandbox = _world()
    env = _base_env(sim, sandbox, f"sqlite:///{tmp_path / 'resetbot.db'}")
    _grant_requester(env)
    (tmp_path / "bot-token").write_text(BOT_TOKEN + "\n")
    (tmp_path / "mofh-password").write_text(MOFH_PASSWORD + "\n")
    del env["SLACK_BOT_TOKEN"], env["MOFH_API_PASSWORD"]
    env.update({"SLACK_BOT_TOKEN_FILE": str(tmp_path / "bot-token"),
                "MOFH_API_PASSWORD_FILE": str(tmp_path / "mofh-password"),
                "RESETBOT_HEALTH_PORT": "0", "RESETBOT_LOG_FORMAT": "json"})
    sandbox.set_delay("mofh", "webq7k2m", 0)
    bot = BotProcess(env)
    try:
        base = "http://127.0.0.1:" + bot.wait_for_line(r"health and metrics on http://127\.0\.0\.1:(\d+)").group(1)
        assert requests.get(f"{base}/healthz", timeout=5).text == "ok; database up"
        wait_until(lambda: requests.get(f"{base}/readyz", timeout=5).status_code == 200, timeout=30,
                   message="/readyz never 200")
        bot.wait_for_line("ready")
        assert sim.wait_for_connections(1, timeout=10)
        before = scrape(base)
        assert value(before, "resetbot_requests_waiting", provider="mofh") == 0
        # Every labelled counter is there at 0 from start, so a rate alert is never blind (CONTRACT.md).
        for name, labels in (("resetbot_provider_calls_total", {"provider": "mofh", "outcome": "changed"}),
                             ("resetbot_provider_calls_total", {"provider": "mofh", "outcome": "auth_failed"}),
                             ("resetbot_refusals_total", {"action": "approve", "reason": "self_decision"}),
                             ("resetbot_decisions_total", {"provider": "mofh", "decision": "deny"}),
                             ("resetbot_expiries_total", {"provider": "mofh", "what": "reveal"}),
                             ("resetbot_slack_api_errors_total", {"method": "chat.postMessage"})):
            assert (name, frozenset(labels.items())) in before and value(before, name, **labels) == 0, (name, labels)
        assert any(name == "resetbot_build_info" and dict(labels).get("version") for name, labels in before)
        assert ("process_cpu_seconds_total", frozenset()) in before and any(name == "python_info" for name, _ in before)

        card = _ask_and_approve(sim)
        waiting = scrape(base)
        assert value(waiting, "resetbot_requests_waiting", provider="mofh") == 1
        assert value(waiting, "resetbot_requests_total", provider="mofh", method="set_password") == 1
        assert value(waiting, "resetbot_ack_seconds_count", kind="slash_command") >= 1
        assert value(waiting, "resetbot_ack_seconds_count", kind="view_submission") >= 1
        assert value(waiting, "resetbot_slack_api_calls_total", method="chat.postMessage") >= 1
        assert value(waiting, "resetbot_slack_api_calls_total", method="apps.connections.open") >= 1
        assert value(waiting, "resetbot_slack_api_calls_total", method="views.open") == 1  # a listener's own call

        sim.click(ENGINEER, "Approve", channel=APPROVALS, message_ts=card.ts)  # the requester: refused
        sim.click(APPROVER, "Approve", channel=APPROVALS, message_ts=card.ts)
        sim.wait_for(lambda: any("Reveal password" in m.buttons for m in sim.dm_messages(ENGINEER)), timeout=10,
                     message="no reveal DM")
        sim.click(ENGINEER, "Reveal password", in_dm=True)
        modal = sim.wait_for(lambda: next((v for v in sim.views(ENGINEER) if v.title == "New password"), None),
                             message="no reveal modal")
        assert sandbox.mofh_account("webq7k2m").password in modal.visible_text
        done = wait_until(lambda: (s := scrape(base)) and value(s, "resetbot_reveals_total", provider="mofh") and s,
                          message="reveal not counted")
        assert value(done, "resetbot_requests_waiting", provider="mofh") == 0
        assert value(done, "resetbot_requests_executing", provider="mofh") == 0
        assert value(done, "resetbot_decisions_total", provider="mofh", decision="approve") == 1
        assert value(done, "resetbot_refusals_total", action="approve", reason="self_decision") == 1
        assert value(done, "resetbot_provider_calls_total", provider="mofh", outcome="changed") == 1
        assert value(done, "resetbot_provider_call_seconds_count", provider="mofh") == 1
        assert value(done, "resetbot_database_up") == 1
        assert "resetbot_sweep_lag_seconds" in {name for name, _ in done}
        text = requests.get(f"{base}/metrics", timeout=5).text
        for never in (ENGINEER, APPROVER, "webq7k2m", "rr_", "xoxb-", "xapp-", MOFH_PASSWORD,
                      sandbox.mofh_account("webq7k2m").password):
            assert never not in text
        assert all(line.startswith(tuple(f"{head}{family}" for head in ("# HELP ", "# TYPE ", "")
                                         for family in ("resetbot_", "process_", "python_")))
                   for line in text.splitlines() if line)

        # Drain: a slow provider call in flight when SIGTERM comes; /readyz answers 503 until it ends.
        sandbox.set_delay("mofh", "webq7k2m", 3.0)
        card = _ask_and_approve(sim)
        sim.click(APPROVER, "Approve", channel=APPROVALS, message_ts=card.ts)
        assert sandbox.wait_for_pending(1, timeout=10)
        assert value(scrape(base), "resetbot_requests_executing", provider="mofh") == 1
        bot.process.send_signal(signal.SIGTERM)
        answer = wait_until(lambda: (r := requests.get(f"{base}/readyz", timeout=5)).status_code == 503 and [r],
                            message="/readyz not 503 while draining")[0]  # (a 503 Response is falsy)
        assert answer.text == "draining" and bot.process.poll() is None
        assert requests.get(f"{base}/healthz", timeout=5).status_code == 200  # alive, just not ready
        assert bot.process.wait(30) == 0
    finally:
        bot.kill()
        sim.stop()
        sandbox.stop()

    lines = [line for line in bot.lines if line.strip()]
    records = [json.loads(line) for line in lines]  # every stderr line is one JSON object
    assert all({"time", "level", "logger", "message", "replica_id"} <= set(r) for r in records), records
    assert any(r["message"].startswith("resetbot ready") for r in records)
    joined = "".join(bot.lines)
    for secret in SECRET_WORDS:  # read from files (or given), used, and never logged
        assert secret not in joined
    print("sample JSON log line:", lines[-1].strip())


def test_http_mode_serves_readyz_and_metrics_beside_healthz(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "MOFH_", "NAMECHEAP_", "RESETBOT_"))}
    env.update({"SLACK_BOT_TOKEN": "xoxb-http", "SLACK_SIGNING_SECRET": "s3cret", "SLACK_API_URL":
                "http://127.0.0.1:9/api/", "DATABASE_URL": f"sqlite:///{tmp_path / 'resetbot.db'}",
                "RESETBOT_APPROVALS_CHANNEL": APPROVALS, "MOFH_API_USERNAME": "r", "MOFH_API_PASSWORD": "p"})
    bot = BotProcess(env, "--http", "--port", "0")
    try:
        base = "http://127.0.0.1:" + bot.wait_for_line(r"ready \(HTTP on http://127\.0\.0\.1:(\d+)/").group(1)
        ready = requests.get(f"{base}/readyz", timeout=5)
        assert (ready.status_code, ready.text) == (200, "ready")
        samples = scrape(base)
        assert value(samples, "resetbot_requests_waiting", provider="mofh") == 0
        assert bot.stop() == 0
    finally:
        bot.kill()


def test_http_mode_with_a_health_port_keeps_readyz_and_metrics_off_the_events_port(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "MOFH_", "NAMECHEAP_", "RESETBOT_"))}
    env.update({"SLACK_BOT_TOKEN": "xoxb-http", "SLACK_SIGNING_SECRET": "s3cret", "SLACK_API_URL":
                "http://127.0.0.1:9/api/", "DATABASE_URL": f"sqlite:///{tmp_path / 'resetbot.db'}",
                "RESETBOT_APPROVALS_CHANNEL": APPROVALS, "MOFH_API_USERNAME": "r", "MOFH_API_PASSWORD": "p",
                "RESETBOT_HEALTH_PORT": "0", "RESETBOT_HEALTH_HOST": "0.0.0.0"})
    bot = BotProcess(env, "--http", "--port", "0")
    try:
        health = bot.wait_for_line(r"health and metrics on http://0\.0\.0\.0:(\d+)").group(1)
        events = "http://127.0.0.1:" + bot.wait_for_line(r"ready \(HTTP on http://127\.0\.0\.1:(\d+)/").group(1)
        assert requests.get(f"{events}/metrics", timeout=5).status_code == 404  # the events port may be public
        assert requests.get(f"{events}/readyz", timeout=5).status_code == 404
        assert requests.get(f"{events}/healthz", timeout=5).status_code == 200
        # Bound to every address, as RESETBOT_HEALTH_HOST says: reachable on this host's own address too.
        own = socket.gethostbyname(socket.gethostname())
        for host in ("127.0.0.1", own):
            assert requests.get(f"http://{host}:{health}/readyz", timeout=5).status_code == 200
            assert "resetbot_build_info" in requests.get(f"http://{host}:{health}/metrics", timeout=5).text
        assert bot.stop() == 0
    finally:
        bot.kill()


def test_a_health_host_that_is_not_an_address_is_a_configuration_error(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "MOFH_", "NAMECHEAP_", "RESETBOT_"))}
    env.update({"DATABASE_URL": f"sqlite:///{tmp_path / 'resetbot.db'}", "RESETBOT_HEALTH_HOST": "everywhere"})
    check = subprocess.run([sys.executable, "-m", "bot.cli", "check"], env=env, capture_output=True, text=True,
                           timeout=60)
    assert check.returncode == 2 and "RESETBOT_HEALTH_HOST must be an IP address" in check.stderr
    assert "Traceback" not in check.stderr


def test_a_reveal_sealed_under_key_a_is_revealed_after_a_restart_with_b_a(tmp_path):
    sim, sandbox = _world()
    key_a, key_b = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    env = _base_env(sim, sandbox, f"sqlite:///{tmp_path / 'resetbot.db'}")
    env["RESETBOT_SEAL_KEY"] = key_a
    _grant_requester(env)
    first = BotProcess(env)
    second = None
    try:
        first.wait_for_line("ready")
        assert sim.wait_for_connections(1, timeout=10)
        card = _ask_and_approve(sim)
        sim.click(APPROVER, "Approve", channel=APPROVALS, message_ts=card.ts)
        sim.wait_for(lambda: any("Reveal password" in m.buttons for m in sim.dm_messages(ENGINEER)), timeout=10,
                     message="no reveal DM")
        assert first.stop() == 0

        (tmp_path / "keys").write_text(f"{key_b},{key_a}\n")
        rotated = {k: v for k, v in env.items() if k != "RESETBOT_SEAL_KEY"}
        rotated["RESETBOT_SEAL_KEY_FILE"] = str(tmp_path / "keys")
        check = subprocess.run([sys.executable, "-m", "bot.cli", "check"], env=rotated, capture_output=True,
                               text=True, timeout=60)
        assert "seal keys: 2 from RESETBOT_SEAL_KEY" in check.stdout, check.stdout + check.stderr
        assert "sealed values: key 1: 0, key 2: 1" in check.stdout
        assert "1 sealed value is still under a key that is not the first" in check.stdout
        assert "rotation: two rolling restarts: first OLD,NEW on every replica" in check.stdout
        assert "seal key fingerprints: key 1: " in check.stdout and key_b not in check.stdout

        second = BotProcess(rotated)
        second.wait_for_line("ready")
        assert sim.wait_for_connections(1, timeout=10)
        sim.click(ENGINEER, "Reveal password", in_dm=True)
        modal = sim.wait_for(lambda: next((v for v in sim.views(ENGINEER) if v.title == "New password"), None),
                             message="no reveal modal after the restart with B,A")
        assert sandbox.mofh_account("webq7k2m").password in modal.visible_text

        # A new seal is made under B: `check` counts it under key 1, and A alone cannot open it.
        sim.close_view(ENGINEER)
        card = _ask_and_approve(sim)
        sim.click(APPROVER, "Approve", channel=APPROVALS, message_ts=card.ts)
        sim.wait_for(lambda: sum("Reveal password" in m.buttons for m in sim.dm_messages(ENGINEER)) == 1
                     and len(sim.dm_messages(ENGINEER)) >= 2, timeout=10, message="no second reveal DM")
        assert second.stop() == 0
        after = subprocess.run([sys.executable, "-m", "bot.cli", "check"], env=rotated, capture_output=True,
                               text=True, timeout=60)
        assert "sealed values: key 1: 1, key 2: 0" in after.stdout and "note:" not in after.stdout, after.stdout
        only_a = subprocess.run([sys.executable, "-m", "bot.cli", "check"], env=env, capture_output=True,
                                text=True, timeout=60)
        assert "sealed values: key 1: 0, no configured key can tell: 1" in only_a.stdout, only_a.stdout
    finally:
        first.kill()
        if second is not None:
            second.kill()
        sim.stop()
        sandbox.stop()


@pytest.mark.parametrize("name", ["SLACK_BOT_TOKEN", "RESETBOT_SEAL_KEY", "MOFH_API_PASSWORD", "DATABASE_URL"])
def test_a_secret_set_both_ways_or_whose_file_cannot_be_read_stops_run_with_exit_2_naming_it(tmp_path, name):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "MOFH_", "NAMECHEAP_", "RESETBOT_"))}
    env.update({"SLACK_BOT_TOKEN": "xoxb-x", "SLACK_APP_TOKEN": "xapp-x", "DATABASE_URL":
                f"sqlite:///{tmp_path / 'resetbot.db'}", "RESETBOT_APPROVALS_CHANNEL": APPROVALS,
                "RESETBOT_SEAL_KEY": Fernet.generate_key().decode(), "MOFH_API_USERNAME": "r",
                "MOFH_API_PASSWORD": "ZZZfile-secret-value"})
    (tmp_path / "value").write_text("ZZZfile-secret-value\n")
    both = dict(env, **{f"{name}_FILE": str(tmp_path / "value")})
    run = subprocess.run([sys.executable, "-m", "bot.cli", "run"], env=both, capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 2 and f"{name} and {name}_FILE are both set" in run.stderr, run.stderr
    assert "ZZZfile-secret-value" not in run.stderr and "Traceback" not in run.stderr
    missing = dict({k: v for k, v in env.items() if k != name}, **{f"{name}_FILE": str(tmp_path / "absent")})
    run = subprocess.run([sys.executable, "-m", "bot.cli", "run"], env=missing, capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 2 and f"{name}_FILE: cannot read {tmp_path / 'absent'}" in run.stderr, run.stderr


@pytest.mark.parametrize(("variable", "raw"), [("RESETBOT_LOG_FORMAT", "yaml"), ("RESETBOT_HEALTH_PORT", "http"),
                                               ("RESETBOT_HEALTH_PORT", "70000")])
def test_a_bad_log_format_or_health_port_stops_run_with_exit_2_naming_it(tmp_path, variable, raw):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "MOFH_", "NAMECHEAP_", "RESETBOT_"))}
    env.update({"SLACK_BOT_TOKEN": "xoxb-x", "SLACK_APP_TOKEN": "xapp-x", "DATABASE_URL":
                f"sqlite:///{tmp_path / 'resetbot.db'}", "RESETBOT_APPROVALS_CHANNEL": APPROVALS,
                "MOFH_API_USERNAME": "r", "MOFH_API_PASSWORD": "p", variable: raw})
    run = subprocess.run([sys.executable, "-m", "bot.cli", "run"], env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and variable in run.stderr and "Traceback" not in run.stderr, run.stderr


def test_socket_mode_readyz_is_503_until_the_session_opens_while_healthz_is_200(database_url):
    """A replica that has not connected to Slack yet takes no traffic: a load balancer must not count it ready."""
    from bot.app import build_runtime
    from bot.server import socket_mode_handler, start_health_server
    from tests.e2e.conftest import make_settings

    sim, sandbox = _world()
    runtime = build_runtime(make_settings(sim, sandbox, database_url))
    handler = socket_mode_handler(runtime.app, "xapp-test", runtime.pending_acks)
    health = start_health_server(runtime, 0, connected=handler.client.is_connected)
    base = f"http://127.0.0.1:{health.port}"
    try:
        before = requests.get(f"{base}/readyz", timeout=5)
        assert (before.status_code, before.text) == (503, "not connected to Slack")
        assert requests.get(f"{base}/healthz", timeout=5).status_code == 200  # the process and database are fine
        handler.connect()
        wait_until(lambda: requests.get(f"{base}/readyz", timeout=5).status_code == 200,
                   message="/readyz never 200 after the Socket Mode session opened")
    finally:
        health.close()
        handler.close()
        runtime.shutdown(timeout=10)
        sandbox.stop()
        sim.stop()
