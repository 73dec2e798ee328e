"""`resetbot demo --web` as a process (CONTRACT.md): the address printed, the page served, a click through the
simulated Slack, and exit 0 on SIGTERM or SIGINT with no traceback. No browser needed: plain HTTP."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest

ADDRESS = re.compile(r"http://127\.0\.0\.1:\d+/")


class Demo:
    """`resetbot demo --web` in a child process, its output read line by line as it comes."""

    def __init__(self, *args: str) -> None:
        environment = {k: v for k, v in os.environ.items()
                       if not k.startswith(("SLACK_", "MOFH_", "NAMECHEAP_", "RESETBOT_", "DATABASE_URL"))}
        self.process = subprocess.Popen([sys.executable, "-m", "bot.cli", "demo", "--web", *args], env=environment,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def line_with(self, pattern: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                assert self.process.poll() is None, f"the demo exited {self.process.returncode}: {self.seen}"
                continue
            self.seen.append(line)
            if pattern in line:
                return line
        raise AssertionError(f"no line with {pattern!r} within {timeout} s: {self.seen}")

    def stop(self, sig: int) -> tuple[int, str]:
        self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout=30)
        finally:
            if self.process.poll() is None:
                self.process.kill()
        assert self.process.stderr is not None
        return code, self.process.stderr.read()


def get(url: str, **headers: str) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def post(url: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_the_page_is_served_at_the_printed_address_until_a_signal_then_exit_0(sig):
    demo = Demo("--port", "0")
    try:
        first = demo.line_with("http://127.0.0.1:")  # the first such line is the page's address (CONTRACT.md)
        url = ADDRESS.search(first).group(0)
        assert "page" in first
        demo.line_with("Ready:")

        status, headers, body = get(url)
        assert status == 200 and b'<script src="/static/app.js">' in body
        assert "script-src 'self'" in headers["Content-Security-Policy"]
        for asset in ("static/app.js", "static/app.css"):
            assert get(url + asset)[0] == 200
        assert b"http" not in get(url)[2].replace(b"http-equiv", b"")  # nothing from elsewhere

        if sig == signal.SIGTERM:  # once is enough: a slash command typed on the page opens the modal
            status, answer = post(url + "api/act", {"as": "U0ENGINEER1", "kind": "command", "channel": "C0HELPDESK",
                                                    "text": "/reset-password mofh abcd_40312277"})
            assert (status, answer) == (200, {"ok": True})
            modal = None
            for _ in range(50):
                screen = json.loads(get(url + "api/screen?as=U0ENGINEER1&open=C0HELPDESK")[2])
                if (modal := screen["modal"]) is not None:
                    break
                time.sleep(0.1)
            assert modal is not None and "Reset hosting password" in modal["html"]
            demo.line_with("opened 'Reset hosting password'")  # the transcript, as the simulated Slack saw it

            refused = post(url + "api/act", {"as": "U0ENGINEER1", "kind": "command", "channel": "C0HELPDESK",
                                             "text": "hello"})
            assert refused[0] == 409 and "slash commands only" in refused[1]["error"]
            assert get(url, Host="evil.example")[0] == 409  # a page elsewhere rebinding its name to 127.0.0.1

        # A page left open holds a long poll: the signal still ends the demo at once, and cleanly.
        version = json.loads(get(url + "api/screen")[2])["version"]
        polled = threading.Event()

        def long_poll() -> None:
            polled.set()
            try:
                get(url + f"api/screen?since={version}")
            except OSError:
                pass  # the demo ended under it, as expected

        threading.Thread(target=long_poll, daemon=True).start()
        polled.wait(5)  # its request is on its way (or held): either way the signal must end the demo cleanly
    finally:
        code, stderr = demo.stop(sig)
    assert code == 0, stderr
    assert "Traceback" not in stderr


def test_a_port_in_use_is_one_line_and_exit_2():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "bot.cli", "demo", "--web", "--port", str(port)],
                                capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and f"--port {port}" in result.stderr and "Traceback" not in result.stderr


def test_port_goes_with_web_and_must_be_a_port():
    alone = subprocess.run([sys.executable, "-m", "bot.cli", "demo", "--port", "8080"], capture_output=True,
                           text=True, timeout=60)
    assert alone.returncode == 2 and "--port goes with --web" in alone.stderr
    bad = subprocess.run([sys.executable, "-m", "bot.cli", "demo", "--web", "--port", "99999"], capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode == 2 and "not a port number" in bad.stderr
