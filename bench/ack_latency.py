"""Ack latency of resetbot while the hosting provider is slow, against a bare Bolt app baseline.

Run it from the repository root (about 20 s of wall time on 2 cores):

    .venv/bin/python bench/ack_latency.py
    .venv/bin/python bench/ack_latency.py --users 50 --approvers 5 --delay 5 --stagger 2.5   # the defaults

Diagnostics (they write bench/results.json too unless --json says otherwise):

    .venv/bin/python bench/ack_latency.py --console-grants   # one `resetbot roles grant` process per grant (+~45 s)
    .venv/bin/python bench/ack_latency.py --trace --json /tmp/trace.json            # where each ack's time went
    .venv/bin/python bench/ack_latency.py --trace --nodelay --json /tmp/nodelay.json  # ... with TCP_NODELAY

--trace starts both apps through bench/trace_launch.py (same code, plus timing marks on
stderr) instead of `resetbot run` / bench/bare_app.py. Both apps now set TCP_NODELAY themselves
(bot.server.socket_mode_handler); --nodelay is kept from the experiment that found the ~40 ms
Nagle wait slack_sdk's built-in client had.

What it does, all on loopback, in one run:

* a sandbox MyOwnFreeHost (devkit/sandbox/) with accounts bench001…bench050, each
  answering `passwd` after a 5-second delay, and one simulated Slack (devkit/slack/):
  engineers U0BENCHE01… in #helpdesk (C0HELPDESK), approvers U0BENCHA1… in
  #pw-reset-approvals (C0APPROVALS);
* phase A, the bot: roles are granted through the CLI (`resetbot roles grant USER
  requester|approver`, same DATABASE_URL: SQLite in a temp dir; by default all 55 grants run
  through the CLI's entry point bot.cli.main in one process, since each console-script start costs
  ~0.8 s, and `resetbot roles list` then checks them), then `resetbot run` starts as
  a subprocess in Socket Mode (SLACK_API_URL = the sim's Web API, MOFH_* = the sandbox). Once
  it logs "ready" and the sim sees its connection, 50 virtual engineers, one thread each,
  started evenly over --stagger seconds, each type `/reset-password mofh benchNNN`, fill
  "Reason", submit the modal, and an approver clicks "Approve" on the card that names
  benchNNN. Every ack latency (the sim's clock: envelope sent -> ack frame received) is
  recorded by kind, with `sandbox.pending()` (provider calls held by the sandbox) read just
  before the envelope is sent and just after the ack arrives. The approvals start 50 provider
  calls of 5 s each, so the acks of later users are measured while earlier calls are in
  flight; the output says how many. Then it waits for all 50 passwd calls and the 50
  "Reveal password" DMs, reads VmHWM (peak RSS) from /proc/<pid>/status, sends SIGTERM and
  times the exit (expected status 0);
* phase B, the baseline: bench/bare_app.py (a Bolt app that only acks, views.open on the
  command, chat.postMessage of an "Approve" card on submit, nothing on the click) is started
  the same way on the SAME sim, after the bot disconnected, and driven by the same pattern.

Output: a table of p50/p95/p99/max ack latency (ms) per kind and overall for both apps
(percentiles interpolate linearly between order statistics; with 50 samples p99 lies between
the two largest), the ratio bot p99 / bare p99, the bot's peak RSS and SIGTERM-to-exit time,
the machine, and PASS/FAIL against the targets (p99 ack <= 1.5 x bare app's p99 and < 100 ms;
peak RSS < 150 MB). The same results go to bench/results.json (overwritten; --json elsewhere).

Exit status: 0 whenever the measurement completed, targets met or not; 1 when the run itself
broke (an app did not start, a flow step never happened, a provider call never finished).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import secrets
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from devkit.sandbox import MofhAccount, Sandbox  # noqa: E402 - importable only once REPO is on sys.path
from devkit.slack import SlackSim  # noqa: E402
from devkit.slack.tls import self_signed  # noqa: E402

HELPDESK, APPROVALS = "C0HELPDESK", "C0APPROVALS"
MOFH_USER, MOFH_PASSWORD = "sandbox-reseller", "sandbox-mofh-password"
NC_USER, NC_KEY = "sandboxapi", "sandbox-namecheap-key"
REASON = "Benchmark: customer locked out after an FTP client saved an old password."
KINDS = ("slash_command", "view_submission", "approve_click")
TARGET_RATIO, TARGET_P99_MS, TARGET_RSS_MB = 1.5, 100.0, 150.0
NODELAY = False  # --nodelay (set in main)
SLACK_TLS: tuple[ssl.SSLContext, Path] | None = None  # --slack-tls: (the sim's server context, its certificate file)


def slack_tls_context() -> ssl.SSLContext | None:
    return SLACK_TLS[0] if SLACK_TLS is not None else None

GRANT_SCRIPT = """
import sys
from bot.cli import main
args = sys.argv[1:]
failed = 0
for user, role in zip(args[0::2], args[1::2]):
    failed += main(["roles", "grant", user, role]) != 0
sys.exit(1 if failed else 0)
"""


class BenchBroken(Exception):
    """The run itself broke (not a missed target)."""


# --------------------------------------------------------------------------------------------
# small helpers


def percentile(values: list[float], q: float) -> float | None:
    """Linear interpolation between order statistics (numpy's default method)."""
    if not values:
        return None
    data = sorted(values)
    pos = (len(data) - 1) * q / 100.0
    low = int(pos)
    high = min(low + 1, len(data) - 1)
    return data[low] + (data[high] - data[low]) * (pos - low)


def summarize(latencies_ms: list[float]) -> dict:
    return {
        "n": len(latencies_ms),
        "p50": percentile(latencies_ms, 50),
        "p95": percentile(latencies_ms, 95),
        "p99": percentile(latencies_ms, 99),
        "max": max(latencies_ms) if latencies_ms else None,
        "mean": statistics.fmean(latencies_ms) if latencies_ms else None,
    }


def poll(predicate, timeout: float, what: str, interval: float = 0.02):
    """Poll without the sim's condition variable (50 waiting threads woken on every change
    would load the sim's process, which also timestamps the acks)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise BenchBroken(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def machine_info() -> dict:
    model = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from importlib.metadata import PackageNotFoundError, version

    try:
        bolt, sdk = version("slack-bolt"), version("slack-sdk")
    except PackageNotFoundError:  # pragma: no cover - metadata missing
        bolt = sdk = None
    try:
        nproc = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        nproc = os.cpu_count()
    return {
        "nproc": nproc,
        "cpu_model": model,
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "slack_bolt": bolt,
        "slack_sdk": sdk,
        "kernel": platform.release(),
    }


def proc_status(pid: int) -> dict[str, int]:
    """VmHWM / VmRSS / Threads of a process, in kB (Threads: count)."""
    out: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmHWM", "VmRSS", "Threads"):
                out[key] = int(value.split()[0])
    except OSError:
        pass
    return out


_EID = re.compile(r'"envelope_id": "([^"]+)"')


class SendClock:
    """--trace: when the simulated Slack wrote each envelope to the socket, by envelope id."""

    def __init__(self) -> None:
        self.sent: dict[str, float] = {}

    def install(self) -> None:
        from devkit.slack import socket_mode

        original = socket_mode._SockConn.send
        sent = self.sent

        def send(conn, data: str) -> None:
            at = time.monotonic()  # _deliver_socket starts its latency clock just before this call
            original(conn, data)
            match = _EID.search(data, 0, 200)
            if match:
                sent[match.group(1)] = at

        socket_mode._SockConn.send = send


def parse_traces(lines: list[str]) -> dict[str, tuple[float, float, float, float]]:
    out = {}
    for line in lines:
        if line.startswith("TRACE "):
            parts = line.split()
            if len(parts) == 6:
                out[parts[1]] = tuple(float(x) for x in parts[2:])
    return out


def breakdown(samples: list, traces: dict, sent: dict) -> dict:
    """Where each ack's time went (ms): to_app = sim write -> app read the frame; queued = read ->
    a Socket Mode worker started Bolt; bolt = Bolt dispatch until the ack frame is written (includes
    middleware, the listener up to ack(), Bolt's 10 ms ack polling); write = the app's write of the ack
    frame (slack_sdk's send lock and socket send); back = ack written -> the sim's delivering thread saw it."""
    parts = ("to_app", "queued", "bolt", "write", "back")
    rows: dict[str, dict[str, list[float]]] = {}
    for s in samples:
        t, start = traces.get(s.envelope_id or ""), sent.get(s.envelope_id or "")
        if t is None or start is None:
            continue
        received, dispatched, ack_start, ack_end = t
        values = {"to_app": received - start, "queued": dispatched - received, "bolt": ack_start - dispatched,
                  "write": ack_end - ack_start, "back": start + s.latency_ms / 1000.0 - ack_end}
        for kind in (s.kind, "overall"):
            bucket = rows.setdefault(kind, {p: [] for p in parts})
            for p in parts:
                bucket[p].append(values[p] * 1000.0)
    return {kind: {p: {"p50": percentile(v, 50), "p95": percentile(v, 95), "max": max(v) if v else None,
                       "n": len(v)} for p, v in bucket.items()} for kind, bucket in rows.items()}


# --------------------------------------------------------------------------------------------
# subprocesses


class AppProcess:
    """A subprocess whose stderr is read line by line; `ready` is set on a line containing "ready"."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str]) -> None:
        self.name = name
        self.lines: list[str] = []
        self.ready = threading.Event()
        self.ready_at: float | None = None
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(cmd, env=env, cwd=str(REPO), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
        self._reader = threading.Thread(target=self._read, name=f"{name}-stderr", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:  # stderr is merged into stdout
            line = line.rstrip("\n")
            self.lines.append(line)
            if "ready" in line and not self.ready.is_set():
                self.ready_at = time.monotonic()
                self.ready.set()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_ready(self, timeout: float) -> float:
        deadline = time.monotonic() + timeout
        while not self.ready.wait(0.05):
            if self.proc.poll() is not None:
                raise BenchBroken(f"{self.name} exited with status {self.proc.returncode} before it was ready:\n  "
                                  + "\n  ".join(self.lines[-15:]))
            if time.monotonic() > deadline:
                raise BenchBroken(f"{self.name} did not log 'ready' within {timeout:.0f} s:\n  "
                                  + "\n  ".join(self.lines[-15:]))
        return self.ready_at - self.started_at

    def terminate(self, timeout: float = 60.0) -> tuple[int | None, float]:
        """SIGTERM; (exit status or None when it had to be killed, seconds from SIGTERM to exit)."""
        if self.proc.poll() is not None:
            return self.proc.returncode, 0.0
        start = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            status = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            status = None
        elapsed = time.monotonic() - start
        self._reader.join(5)
        return status, elapsed

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass

    def problem_lines(self) -> dict[str, int]:
        """Warning/error log lines without their timestamps, with how often each was logged."""
        counts: dict[str, int] = {}
        for line in self.lines:
            if not line.startswith("TRACE") and re.search(r"\b(WARNING|ERROR|CRITICAL|Traceback)\b", line):
                text = re.sub(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ ", "", line)
                counts[text] = counts.get(text, 0) + 1
        return counts


# --------------------------------------------------------------------------------------------
# the people


@dataclass
class Sample:
    phase: str
    kind: str
    user: str
    account: str
    latency_ms: float
    sent_at: float  # seconds since the phase's first user started
    pending_before: int  # provider calls held by the sandbox just before the envelope was sent
    pending_after: int  # ... and just after the ack arrived
    ok: bool
    timed_out: bool
    envelope_id: str | None = None

    @property
    def overlapped(self) -> bool:
        return self.pending_before > 0 and self.pending_after > 0


@dataclass
class World:
    sim: SlackSim
    sandbox: Sandbox
    engineers: list[str]
    approvers: list[str]
    accounts: list[str]


@dataclass
class PhaseResult:
    samples: list[Sample] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    flow_seconds: float = 0.0


def find_card(sim: SlackSim, account: str):
    needle = f" for {account} at "
    for m in sim.messages(APPROVALS):
        if needle in m.text and "Approve" in m.buttons:
            return m
    return None


def drive(world: World, phase: str, stagger: float, step_timeout: float = 20.0) -> PhaseResult:
    """Each engineer (one thread): /reset-password → fill Reason → submit → an approver clicks Approve."""
    sim, sandbox = world.sim, world.sandbox
    result = PhaseResult()
    lock = threading.Lock()
    n = len(world.engineers)
    t0 = time.monotonic() + 0.2

    def timed(kind: str, user: str, account: str, deliver):
        before = sandbox.pending()
        sent = time.monotonic() - t0
        ack = deliver()
        after = sandbox.pending()
        if ack is None:
            raise BenchBroken(f"{kind} of {user} delivered nothing")
        sample = Sample(phase, kind, user, account, ack.latency * 1000.0, sent, before, after, ack.ok, ack.timed_out,
                        ack.envelope_id)
        with lock:
            result.samples.append(sample)
        return ack

    def flow(i: int) -> None:
        user, account = world.engineers[i], world.accounts[i]
        approver = world.approvers[i % len(world.approvers)]
        delay = t0 + stagger * i / n - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        try:
            ack = timed("slash_command", user, account,
                        lambda: sim.slash_command(user, "/reset-password", f"mofh {account}", channel=HELPDESK))
            if ack.status != 200:  # a late ack (timed_out) is a measurement; no ack at all breaks the flow
                raise BenchBroken(f"/reset-password of {user} was not acked (status {ack.status})")
            poll(lambda: sim.current_view(user), step_timeout, f"the modal of {user}")
            sim.fill(user, {"Reason": REASON})
            ack = timed("view_submission", user, account, lambda: sim.submit(user))
            if ack.status != 200 or ack.errors:
                raise BenchBroken(f"submit of {user} failed: status {ack.status}, errors {ack.errors}")
            card = poll(lambda: find_card(sim, account), step_timeout, f"the card naming {account}")
            ack = timed("approve_click", user, account,
                        lambda: sim.click(approver, "Approve", channel=APPROVALS, message_ts=card.ts))
            if ack.status != 200:
                raise BenchBroken(f"Approve click for {account} was not acked (status {ack.status})")
        except (BenchBroken, AssertionError) as exc:
            with lock:
                result.errors.append(f"{phase} {user}: {exc}")
        except Exception as exc:
            with lock:
                result.errors.append(f"{phase} {user}: {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=flow, args=(i,), name=f"{phase}-user{i + 1:02d}", daemon=True)
               for i in range(n)]
    start = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(stagger + 4 * step_timeout + 10)
    result.flow_seconds = time.monotonic() - start
    if any(thread.is_alive() for thread in threads):
        result.errors.append(f"{phase}: some user threads never finished")
    return result


# --------------------------------------------------------------------------------------------
# phases


def base_env() -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items()
            if not k.startswith(("SLACK_", "RESETBOT_", "MOFH_", "NAMECHEAP_", "DATABASE_URL", "SSL_CERT_FILE"))}
    keep["PYTHONUNBUFFERED"] = "1"
    if SLACK_TLS is not None:  # --slack-tls: the apps trust the simulated Slack's certificate
        keep["SSL_CERT_FILE"] = str(SLACK_TLS[1])
    keep.pop("BENCH_TCP_NODELAY", None)
    if NODELAY:
        keep["BENCH_TCP_NODELAY"] = "1"
    return keep


def grant_roles(world: World, env: dict[str, str], resetbot: str, console_grants: bool) -> dict:
    pairs = [(u, "requester") for u in world.engineers] + [(a, "approver") for a in world.approvers]
    start = time.monotonic()
    if console_grants:
        for user, role in pairs:
            done = subprocess.run([resetbot, "roles", "grant", user, role], check=False, env=env, cwd=str(REPO),
                                  capture_output=True, text=True, timeout=60)
            if done.returncode != 0:
                raise BenchBroken(f"resetbot roles grant {user} {role}: {done.stderr.strip()}")
        how = "one `resetbot roles grant` process per grant"
    else:
        args = [x for pair in pairs for x in pair]
        done = subprocess.run([sys.executable, "-c", GRANT_SCRIPT, *args], check=False, env=env, cwd=str(REPO),
                              capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise BenchBroken(f"roles grant through bot.cli.main failed: {done.stderr.strip()[-500:]}")
        how = "bot.cli.main(['roles', 'grant', USER, ROLE]) per grant, in one process"
    listed = subprocess.run([resetbot, "roles", "list"], check=False, env=env, cwd=str(REPO),
                            capture_output=True, text=True, timeout=60)
    rows = [line.split("\t") for line in listed.stdout.splitlines() if line.strip()]
    granted = {(r[0], r[1]) for r in rows if len(r) >= 2}
    missing = [p for p in pairs if p not in granted]
    if listed.returncode != 0 or missing:
        raise BenchBroken(f"`resetbot roles list` does not show {len(missing)} grants: {missing[:5]}")
    return {"grants": len(pairs), "how": how, "seconds": round(time.monotonic() - start, 2)}


def run_bot_phase(world: World, args, tmp: str, resetbot: str) -> dict:
    sim, sandbox = world.sim, world.sandbox
    env = base_env()
    env.update({
        "DATABASE_URL": f"sqlite:///{tmp}/resetbot.db",
        "SLACK_BOT_TOKEN": "xoxb-bench",
        "SLACK_APP_TOKEN": "xapp-bench",
        "SLACK_API_URL": sim.api_url,
        "RESETBOT_APPROVALS_CHANNEL": APPROVALS,
        "MOFH_API_URL": sandbox.mofh_url,
        "MOFH_API_USERNAME": MOFH_USER,
        "MOFH_API_PASSWORD": MOFH_PASSWORD,
        "NAMECHEAP_API_URL": sandbox.namecheap_url,
        "NAMECHEAP_API_USER": NC_USER,
        "NAMECHEAP_API_KEY": NC_KEY,
        "NAMECHEAP_CLIENT_IP": "127.0.0.1",
    })
    grants = grant_roles(world, env, resetbot, args.console_grants)
    print(f"  roles: {grants['grants']} grants in {grants['seconds']} s ({grants['how']}); "
          "`resetbot roles list` shows them all", flush=True)

    calls_before = len(sim.calls)
    cmd = [sys.executable, str(REPO / "bench" / "trace_launch.py"), "bot"] if args.trace else [resetbot, "run"]
    bot = AppProcess("resetbot run", cmd, env)
    try:
        ready_s = bot.wait_ready(60)
        sim.wait_for_connections(1, timeout=15)
        print(f"  resetbot run (pid {bot.pid}) ready after {ready_s:.2f} s, Socket Mode connected", flush=True)
        rss_idle = proc_status(bot.pid)

        phase = drive(world, "bot", args.stagger)
        print(f"  {len(phase.samples)} acks from {len(world.engineers)} users in {phase.flow_seconds:.2f} s",
              flush=True)
        if phase.errors:
            raise BenchBroken("; ".join(phase.errors[:5]) + (f" (+{len(phase.errors) - 5} more)"
                                                             if len(phase.errors) > 5 else ""))
        peak_pending = 0
        done_start = time.monotonic()
        n = len(world.accounts)

        def passwd_calls():
            return [c for c in sandbox.calls() if c.provider == "mofh" and c.command == "passwd"]

        def all_done():
            nonlocal peak_pending
            peak_pending = max(peak_pending, sandbox.pending())
            return len(passwd_calls()) >= n

        poll(all_done, 60 + 2 * args.delay * n / 32, f"{n} passwd calls in the sandbox", interval=0.05)
        passwd_done_s = time.monotonic() - done_start
        poll(lambda: all(any("Reveal password" in m.buttons for m in sim.dm_messages(u)) for u in world.engineers),
             30, "a 'Reveal password' DM for every engineer", interval=0.05)
        all_done_s = time.monotonic() - done_start
        calls = passwd_calls()
        outcomes: dict[str, int] = {}
        for c in calls:
            outcomes[c.outcome] = outcomes.get(c.outcome, 0) + 1
        per_account = {}
        for c in calls:
            per_account[c.account] = per_account.get(c.account, 0) + 1
        if sorted(per_account) != sorted(world.accounts) or any(v != 1 for v in per_account.values()):
            raise BenchBroken(f"expected exactly one passwd call per account, got {per_account}")
        first_call = min(c.at for c in calls)
        last_call = max(c.at for c in calls)

        card_edits: dict[int, int] = {}  # how many times each card was rewritten (expected 2: executing, final)
        for m in sim.messages(APPROVALS):
            card_edits[len(m.edits)] = card_edits.get(len(m.edits), 0) + 1
        status = proc_status(bot.pid)  # just before stopping it
        exit_status, sigterm_s = bot.terminate(60)
        bot_calls = sim.calls[calls_before:]
    except BaseException:
        bot.kill()
        raise

    return {
        "phase": phase,
        "ready_seconds": round(ready_s, 3),
        "grants": grants,
        "rss_idle_mb": round(rss_idle.get("VmRSS", 0) / 1024, 1),
        "peak_rss_mb": round(status.get("VmHWM", 0) / 1024, 1),
        "rss_before_sigterm_mb": round(status.get("VmRSS", 0) / 1024, 1),
        "threads_before_sigterm": status.get("Threads"),
        "sigterm_exit_status": exit_status,
        "sigterm_to_exit_seconds": round(sigterm_s, 3),
        "passwd_calls": len(calls),
        "passwd_outcomes": outcomes,
        "passwd_answered_span_seconds": round(last_call - first_call, 2),
        "wait_after_last_ack_for_passwd_seconds": round(passwd_done_s, 2),
        "wait_after_last_ack_for_reveal_dms_seconds": round(all_done_s, 2),
        "peak_provider_calls_in_flight_seen_after_acks": peak_pending,
        "slack_calls": _count_methods(bot_calls),
        "approval_cards_by_number_of_edits": dict(sorted(card_edits.items())),
        "log_problems": bot.problem_lines(),
        "traces": parse_traces(bot.lines),
        "workflow_submit_ms": summarize([float(line.split()[1]) for line in bot.lines
                                         if line.startswith("TRACE-SUBMIT ")]) if args.trace else None,
    }


def run_bare_phase(world: World, args) -> dict:
    sim = world.sim
    poll(lambda: sim.connections() == 0, 15, "the bot's Socket Mode connection to close")
    env = base_env()
    env.update({"SLACK_BOT_TOKEN": "xoxb-bench", "SLACK_APP_TOKEN": "xapp-bench", "SLACK_API_URL": sim.api_url,
                "RESETBOT_APPROVALS_CHANNEL": APPROVALS})
    calls_before = len(sim.calls)
    cmd = [sys.executable, str(REPO / "bench" / ("trace_launch.py" if args.trace else "bare_app.py"))]
    bare = AppProcess("bare_app", cmd + (["bare"] if args.trace else []), env)
    try:
        ready_s = bare.wait_ready(60)
        sim.wait_for_connections(1, timeout=15)
        print(f"  bench/bare_app.py (pid {bare.pid}) ready after {ready_s:.2f} s, Socket Mode connected", flush=True)
        phase = drive(world, "bare", args.stagger)
        print(f"  {len(phase.samples)} acks from {len(world.engineers)} users in {phase.flow_seconds:.2f} s",
              flush=True)
        if phase.errors:
            raise BenchBroken("; ".join(phase.errors[:5]))
        status = proc_status(bare.pid)
        exit_status, sigterm_s = bare.terminate(30)
    except BaseException:
        bare.kill()
        raise
    return {
        "phase": phase,
        "ready_seconds": round(ready_s, 3),
        "peak_rss_mb": round(status.get("VmHWM", 0) / 1024, 1),
        "sigterm_exit_status": exit_status,
        "sigterm_to_exit_seconds": round(sigterm_s, 3),
        "slack_calls": _count_methods(sim.calls[calls_before:]),
        "log_problems": bare.problem_lines(),
        "traces": parse_traces(bare.lines),
    }


def _count_methods(calls) -> dict[str, int]:
    out: dict[str, int] = {}
    for c in calls:
        out[c.method] = out.get(c.method, 0) + 1
    return dict(sorted(out.items()))


# --------------------------------------------------------------------------------------------
# report


def latency_table(samples: list[Sample]) -> dict:
    table = {kind: summarize([s.latency_ms for s in samples if s.kind == kind]) for kind in KINDS}
    table["overall"] = summarize([s.latency_ms for s in samples])
    table["timed_out"] = sum(s.timed_out for s in samples)
    return table


def overlap_table(samples: list[Sample]) -> dict:
    out = {}
    for kind in (*KINDS, "overall"):
        chosen = [s for s in samples if kind == "overall" or s.kind == kind]
        over = [s for s in chosen if s.overlapped]
        out[kind] = {
            "acks": len(chosen),
            "with_provider_calls_in_flight": len(over),
            "in_flight_median": (statistics.median([min(s.pending_before, s.pending_after) for s in over])
                                 if over else 0),
            "in_flight_max": max((max(s.pending_before, s.pending_after) for s in over), default=0),
            "latency_of_overlapped": summarize([s.latency_ms for s in over]),
            "latency_without_overlap": summarize([s.latency_ms for s in chosen if not s.overlapped]),
        }
    return out


def fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def print_report(results: dict) -> None:
    bot, bare = results["bot"], results["bare"]
    print()
    print("Ack latency (ms), envelope sent -> ack received, measured by the simulated Slack")
    header = f"  {'app':<9}{'kind':<17}{'n':>4}{'p50':>8}{'p95':>8}{'p99':>8}{'max':>8}"
    print(header)
    print("  " + "-" * (len(header) - 2))
    for label, data in (("resetbot", bot), ("bare", bare)):
        for kind in (*KINDS, "overall"):
            row = data["latency_ms"][kind]
            print(f"  {label:<9}{kind:<17}{row['n']:>4}{fmt(row['p50']):>8}{fmt(row['p95']):>8}"
                  f"{fmt(row['p99']):>8}{fmt(row['max']):>8}")
    print()
    ratios = results["ratio_bot_p99_over_bare_p99"]
    print("  bot p99 / bare p99: " + ", ".join(f"{k} {fmt(v, 2)}x" for k, v in ratios.items()))
    print()
    print("Overlap with slow provider calls (resetbot phase; in flight = sandbox.pending() before send and after ack)")
    for kind in (*KINDS, "overall"):
        o = bot["overlap"][kind]
        lo, nl = o["latency_of_overlapped"], o["latency_without_overlap"]
        print(f"  {kind:<17} {o['with_provider_calls_in_flight']:>3}/{o['acks']:<3} acks with >=1 call in flight "
              f"(median {fmt(o['in_flight_median'], 0)}, max {o['in_flight_max']});  p50/p99 of those "
              f"{fmt(lo['p50'])}/{fmt(lo['p99'])} ms, of the rest {fmt(nl['p50'])}/{fmt(nl['p99'])} ms")
    print(f"  passwd calls: {bot['passwd_calls']} {bot['passwd_outcomes']}; answered over "
          f"{bot['passwd_answered_span_seconds']} s; all {bot['passwd_calls']} done "
          f"{bot['wait_after_last_ack_for_passwd_seconds']} s after the last ack, reveal DMs after "
          f"{bot['wait_after_last_ack_for_reveal_dms_seconds']} s")
    print()
    print(f"resetbot process: peak RSS (VmHWM) {bot['peak_rss_mb']} MB (idle after start {bot['rss_idle_mb']} MB, "
          f"{bot['threads_before_sigterm']} threads before SIGTERM); SIGTERM -> exit "
          f"{bot['sigterm_to_exit_seconds']} s, status {bot['sigterm_exit_status']}")
    print(f"bare app process: peak RSS {bare['peak_rss_mb']} MB; SIGTERM -> exit {bare['sigterm_to_exit_seconds']} s, "
          f"status {bare['sigterm_exit_status']}")
    if "breakdown_ms" in bot:
        print("Where the time went (--trace; ms, p50 / p95): to_app = sim write -> app read; queued = read -> "
              "worker starts Bolt;")
        print("  bolt = Bolt dispatch until the ack is written (middleware, listener up to ack(), 10 ms ack polling);")
        print("  write = the app writing the ack frame; back = ack written -> the sim's waiting thread saw it")
        for label, data in (("resetbot", bot), ("bare", bare)):
            for kind in (*KINDS, "overall"):
                row = data["breakdown_ms"].get(kind)
                if not row:
                    continue
                cells = "  ".join(f"{p} {fmt(row[p]['p50'])}/{fmt(row[p]['p95'])}"
                                  for p in ("to_app", "queued", "bolt", "write", "back"))
                print(f"  {label:<9}{kind:<17}{cells}")
        print()
    if bot.get("workflow_submit_ms"):
        w = bot["workflow_submit_ms"]
        print(f"  resetbot's Intake.submit (database work before the view_submission ack): "
              f"p50 {fmt(w['p50'])} / p95 {fmt(w['p95'])} / max {fmt(w['max'])} ms over {w['n']} calls")
        print()
    print(f"Slack calls by resetbot: {bot['slack_calls']}")
    print(f"Slack calls by bare app: {bare['slack_calls']}")
    print(f"resetbot approval cards by number of chat.update edits (2 = 'executing' + final): "
          f"{bot['approval_cards_by_number_of_edits']}")
    for label, data in (("resetbot", bot), ("bare app", bare)):
        if data["log_problems"]:
            print(f"{label} logged {sum(data['log_problems'].values())} warning/error line(s):")
            for line, count in list(data["log_problems"].items())[:8]:
                print(f"    {count:>3} x {line}")
    m = results["machine"]
    print()
    print(f"machine: {m['nproc']} CPUs, {m['cpu_model']}, Python {m['python']}, slack-bolt {m['slack_bolt']}, "
          f"slack-sdk {m['slack_sdk']}, Linux {m['kernel']}")
    print()
    for check in results["targets"]:
        print(f"  {'PASS' if check['pass'] else 'FAIL'}  {check['target']}: {check['measured']}")
    print(f"\nresults written to {results['json_path']}")


def build_results(args, bot: dict, bare: dict, world: World, started: float, clock: SendClock | None) -> dict:
    bot_samples, bare_samples = bot.pop("phase").samples, bare.pop("phase").samples
    bot_traces, bare_traces = bot.pop("traces"), bare.pop("traces")
    if clock is not None:
        bot["breakdown_ms"] = breakdown(bot_samples, bot_traces, clock.sent)
        bare["breakdown_ms"] = breakdown(bare_samples, bare_traces, clock.sent)
    bot["latency_ms"] = latency_table(bot_samples)
    bare["latency_ms"] = latency_table(bare_samples)
    bot["overlap"] = overlap_table(bot_samples)
    ratios = {}
    for kind in (*KINDS, "overall"):
        b, r = bot["latency_ms"][kind]["p99"], bare["latency_ms"][kind]["p99"]
        ratios[kind] = (b / r) if b is not None and r else None
    p99_bot = bot["latency_ms"]["overall"]["p99"]
    p99_bare = bare["latency_ms"]["overall"]["p99"]
    targets = [
        {"target": f"bot p99 ack <= {TARGET_RATIO} x bare app p99 (overall)",
         "measured": f"{p99_bot:.1f} ms vs {p99_bare:.1f} ms = {ratios['overall']:.2f}x",
         "pass": ratios["overall"] <= TARGET_RATIO},
        {"target": f"bot p99 ack < {TARGET_P99_MS:.0f} ms (overall)", "measured": f"{p99_bot:.1f} ms",
         "pass": p99_bot < TARGET_P99_MS},
        {"target": f"bot peak RSS < {TARGET_RSS_MB:.0f} MB", "measured": f"{bot['peak_rss_mb']} MB",
         "pass": bot["peak_rss_mb"] < TARGET_RSS_MB},
        {"target": "bot exits 0 after SIGTERM (informational)",
         "measured": f"status {bot['sigterm_exit_status']} after {bot['sigterm_to_exit_seconds']} s",
         "pass": bot["sigterm_exit_status"] == 0},
    ]
    return {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join([".venv/bin/python bench/ack_latency.py", *sys.argv[1:]]).strip(),
        "parameters": {"users": args.users, "approvers": args.approvers, "provider_delay_seconds": args.delay,
                       "stagger_seconds": args.stagger, "trace": args.trace,
                       "tcp_nodelay_patch": args.nodelay,
                       "accounts": f"{world.accounts[0]}…{world.accounts[-1]}"},
        "machine": machine_info(),
        "bot": bot,
        "bare": bare,
        "ratio_bot_p99_over_bare_p99": ratios,
        "targets": targets,
        "all_targets_pass": all(t["pass"] for t in targets[:3]),
        "wall_seconds": round(time.monotonic() - started, 1),
        "samples": {
            "fields": ["phase", "kind", "user", "account", "latency_ms", "sent_at", "pending_before",
                       "pending_after", "ok", "timed_out"],
            "rows": [[s.phase, s.kind, s.user, s.account, round(s.latency_ms, 2), round(s.sent_at, 3),
                      s.pending_before, s.pending_after, s.ok, s.timed_out] for s in bot_samples + bare_samples],
        },
    }


# --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=50, help="virtual engineers (and accounts), at most 99")
    parser.add_argument("--approvers", type=int, default=5)
    parser.add_argument("--delay", type=float, default=5.0, help="seconds each passwd call is held by the sandbox")
    parser.add_argument("--stagger", type=float, default=2.5, help="seconds over which the users start")
    parser.add_argument("--console-grants", action="store_true",
                        help="grant each role with its own `resetbot roles grant` process (slow: ~0.8 s each)")
    parser.add_argument("--trace", action="store_true",
                        help="run both apps under bench/trace_launch.py and show where each ack's time went")
    parser.add_argument("--nodelay", action="store_true",
                        help="with --trace: set TCP_NODELAY on both apps' Socket Mode sockets (Nagle experiment)")
    parser.add_argument("--json", default=str(REPO / "bench" / "results.json"), help="where to write the results")
    parser.add_argument("--workload", choices=("steady", "burst", "both"), default="both",
                        help="steady: the users one after another (bot vs ack-only); burst: everyone at once, "
                             "three apps (bench/burst.py); both (default)")
    parser.add_argument("--databases", default=None,
                        help="burst: comma-separated sqlite,postgresql (default: sqlite, plus postgresql when "
                             "--postgres or RESETBOT_BENCH_POSTGRES_URL names a server)")
    parser.add_argument("--postgres", default=os.environ.get("RESETBOT_BENCH_POSTGRES_URL"),
                        help="burst: a PostgreSQL server URL (postgresql+psycopg://…); a fresh database per run")
    parser.add_argument("--rounds", type=int, default=1, help="burst: rounds of the three apps per database")
    parser.add_argument("--apps", default="bot,same,bare", help="burst: which of bot,same,bare to run")
    parser.add_argument("--slack-latency", type=float, default=0.0, metavar="MS",
                        help="burst: the simulated Slack holds each Web API and response_url answer this long "
                             "(loopback answers in about 1 ms; Slack across the internet in 50-300)")
    parser.add_argument("--slack-tls", action="store_true",
                        help="the simulated Slack answers the Web API and response_urls over HTTPS, as slack.com does "
                             "(a throwaway certificate the apps trust through SSL_CERT_FILE): a new connection per "
                             "call then costs a TLS handshake")
    parser.add_argument("--profile", default=None, metavar="PREFIX",
                        help="burst: run resetbot under bench/profile_launch.py; its profile goes to PREFIX.<db>.txt")
    args = parser.parse_args(argv)
    args.apps = [a.strip() for a in args.apps.split(",") if a.strip()]
    if args.databases is None:
        args.databases = ["sqlite"] + (["postgresql"] if args.postgres else [])
    else:
        args.databases = [d.strip() for d in args.databases.split(",") if d.strip()]
    if "postgresql" in args.databases and not args.postgres:
        parser.error("--databases postgresql needs --postgres URL or RESETBOT_BENCH_POSTGRES_URL")
    if not 1 <= args.users <= 99 or not 1 <= args.approvers <= 9:
        parser.error("--users must be 1..99 and --approvers 1..9")
    if args.nodelay and not args.trace:
        parser.error("--nodelay needs --trace (it patches the apps through bench/trace_launch.py)")
    global NODELAY, SLACK_TLS
    NODELAY = args.nodelay
    if args.slack_tls:
        SLACK_TLS = self_signed(Path(tempfile.mkdtemp(prefix="resetbot-bench-tls-")))

    started = time.monotonic()
    resetbot = str(Path(sys.executable).with_name("resetbot"))
    if not Path(resetbot).exists():
        resetbot = str(REPO / ".venv" / "bin" / "resetbot")
    engineers = [f"U0BENCHE{i:02d}" for i in range(1, args.users + 1)]
    approvers = [f"U0BENCHA{i}" for i in range(1, args.approvers + 1)]
    accounts = [f"bench{i:03d}" for i in range(1, args.users + 1)]

    sandbox = Sandbox(mofh_api_username=MOFH_USER, mofh_api_password=MOFH_PASSWORD,
                      namecheap_api_user=NC_USER, namecheap_api_key=NC_KEY)
    for key in accounts:
        sandbox.add_mofh_account(MofhAccount(key=key, password="Bench" + secrets.token_hex(6), delay=args.delay))
    sim = None
    clock = None
    if args.trace:
        clock = SendClock()
        clock.install()
    try:
        sandbox.start()
        sim = SlackSim(web_api_tls=slack_tls_context())
        for i, uid in enumerate(engineers, start=1):
            sim.add_user(uid, f"engineer{i:02d}", channels=[HELPDESK])
        for i, uid in enumerate(approvers, start=1):
            sim.add_user(uid, f"approver{i}")
        sim.add_channel(APPROVALS, "pw-reset-approvals", members=approvers)
        world = World(sim, sandbox, engineers, approvers, accounts)
        print(f"sandbox MyOwnFreeHost at {sandbox.mofh_url}: {len(accounts)} accounts "
              f"({accounts[0]}…{accounts[-1]}), passwd held {args.delay:g} s each; simulated Slack at {sim.api_url}; "
              f"{len(engineers)} engineers, {len(approvers)} approvers", flush=True)
        results: dict = {}
        if args.workload in ("steady", "both"):
            with tempfile.TemporaryDirectory(prefix="resetbot-bench-") as tmp:
                print("phase A: resetbot run", flush=True)
                bot = run_bot_phase(world, args, tmp, resetbot)
            print("phase B: bare Bolt app", flush=True)
            bare = run_bare_phase(world, args)
            results = build_results(args, bot, bare, world, started, clock)
        if args.workload in ("burst", "both"):
            sys.modules.setdefault("ack_latency", sys.modules[__name__])  # bench/burst.py imports its helpers
            import burst

            print("burst: every user at once; resetbot, the same-calls app, the ack-only app", flush=True)
            results["burst"] = burst.run_burst(args, sandbox, resetbot)
            results["burst_targets"] = burst.targets(results["burst"])
            results.setdefault("generated_at", datetime.now(UTC).isoformat(timespec="seconds"))
            results.setdefault("machine", machine_info())
            results["burst_parameters"] = {"engineers": burst.ENGINEERS, "extra_commands": burst.EXTRA,
                                           "approvers": burst.APPROVERS, "provider_delay_seconds": args.delay,
                                           "rounds": args.rounds, "databases": args.databases, "apps": args.apps,
                                           "slack_latency_ms": args.slack_latency, "slack_tls": args.slack_tls}
            results["wall_seconds"] = round(time.monotonic() - started, 1)
        results["json_path"] = os.path.relpath(args.json, Path.cwd()) if Path(args.json).is_absolute() else args.json
        Path(args.json).write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
        if "bot" in results:
            print_report(results)
        if "burst" in results:
            burst.print_burst(results["burst"])
            print()
            for check in results["burst_targets"]:
                print(f"  {'PASS' if check['pass'] else 'FAIL'}  {check['target']}: {check['measured']}")
        print(f"wall time {results['wall_seconds']} s")
        return 0
    except BenchBroken as broken:
        print(f"\nBENCHMARK BROKEN: {broken}", file=sys.stderr)
        return 1
    finally:
        if sim is not None:
            sim.stop()
        sandbox.stop()


if __name__ == "__main__":
    raise SystemExit(main())
