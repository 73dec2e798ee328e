"""The burst workload of bench/ack_latency.py: every virtual user at once, resetbot against two baselines.

Three apps, one after another on the same machine, each on a fresh simulated Slack, in
rounds (bot, same-calls, ack-only, then again), so their ratios are comparable however
loaded the machine is:

* `resetbot run` (Socket Mode) on a fresh database: SQLite in a temp dir, or a fresh
  PostgreSQL database made for the run on the server RESETBOT_BENCH_POSTGRES_URL names
  (or --postgres) and dropped after it;
* bench/same_calls_app.py: the same Slack and provider calls, no database, no sealing, no checks;
* bench/bare_app.py: ack only.

The burst (all 50 engineers, then all approvers, released together by a barrier at each step):

1. 50 engineers type `/reset-password` (no text) and the modal opens;
2. they pick the Provider *MyOwnFreeHost* (a block_actions delivery; the app answers with views.update);
3. they type Account and Reason and submit;
4. once every card is posted, 50 approvers click Approve together while 50 more engineers
   type `/reset-password`;
5. the sandbox holds each `passwd` for --delay seconds (5); the run waits for every passwd
   call and every "Reveal password" DM. CPU per envelope = the app process's user+system CPU
   from step 1 to the end of step 5, over the envelopes delivered (250).

Then the same burst again (steps 1–4, without the 50 extra commands), with accounts whose
`passwd` answers at once: the end-to-end time from each Approve click (sent) to the Web API
call that posts (or updates to) the requester's DM with the "Reveal password" button.
Peak RSS (VmHWM) is read before SIGTERM.
"""

from __future__ import annotations

import json
import secrets
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import ack_latency as al  # bench/ack_latency.py registers itself under this name before importing us

from devkit.sandbox import MofhAccount
from devkit.slack import SlackSim

ENGINEERS, EXTRA, APPROVERS = 50, 50, 50
BURST_KINDS = ("slash_command", "provider_choice", "view_submission", "approve_click")
APPS = ("bot", "same", "bare")
APP_LABELS = {"bot": "resetbot", "same": "same-calls Bolt app", "bare": "ack-only Bolt app"}
TARGET_BURST_RATIO, TARGET_CPU_MS = 1.3, 1.5


@dataclass
class BurstSample:
    kind: str
    user: str
    latency_ms: float
    ok: bool
    timed_out: bool


@dataclass
class BurstPhase:
    samples: list[BurstSample] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    clicks: dict[str, float] = field(default_factory=dict)  # account -> wall time the Approve click was sent


def clock_ticks() -> float:
    import os

    return float(os.sysconf("SC_CLK_TCK"))


def cpu_split(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of a process so far (its threads included), from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / clock_ticks(), int(fields[12]) / clock_ticks()


def new_sim(engineers: list[str], approvers: list[str]) -> SlackSim:
    sim = SlackSim(web_api_tls=al.slack_tls_context())
    for i, uid in enumerate(engineers, start=1):
        sim.add_user(uid, f"engineer{i:03d}", channels=[al.HELPDESK])
    for i, uid in enumerate(approvers, start=1):
        sim.add_user(uid, f"approver{i:02d}")
    sim.add_channel(al.APPROVALS, "pw-reset-approvals", members=approvers)
    return sim


def _together(n: int, work, name: str, timeout: float) -> list[str]:
    """Run work(i) for i < n on n threads released at once by a barrier; the errors, as sentences."""
    barrier = threading.Barrier(n)
    errors: list[str] = []
    lock = threading.Lock()

    def run(i: int) -> None:
        try:
            barrier.wait(timeout)
            work(i)
        except Exception as exc:
            with lock:
                errors.append(f"{name} {i}: {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=run, args=(i,), name=f"{name}-{i}", daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout + 30)
    if any(t.is_alive() for t in threads):
        errors.append(f"{name}: threads never finished")
    return errors


def drive_burst(sim: SlackSim, engineers: list[str], extra: list[str], approvers: list[str], accounts: list[str],
                app: str, step_timeout: float = 30.0) -> BurstPhase:
    phase = BurstPhase()
    lock = threading.Lock()
    n = len(accounts)

    def record(kind: str, user: str, ack) -> None:
        if ack is None:
            raise al.BenchBroken(f"{kind} of {user} delivered nothing")
        with lock:
            phase.samples.append(BurstSample(kind, user, ack.latency * 1000.0, ack.ok, ack.timed_out))
        if ack.status != 200:
            raise al.BenchBroken(f"{kind} of {user} was not acked (status {ack.status})")

    def command(user: str) -> None:
        record("slash_command", user, sim.slash_command(user, "/reset-password", "", channel=al.HELPDESK))

    def open_modal(i: int) -> None:
        command(engineers[i])
        al.poll(lambda: sim.current_view(engineers[i]), step_timeout, f"the modal of {engineers[i]}")

    def choose(i: int) -> None:
        record("provider_choice", engineers[i], sim.fill(engineers[i], {"Provider": "MyOwnFreeHost"}))

    def submit(i: int) -> None:
        user = engineers[i]
        sim.fill(user, {"Account": accounts[i], "Reason": al.REASON})
        ack = sim.submit(user)
        record("view_submission", user, ack)
        if ack.errors:
            raise al.BenchBroken(f"submit of {user} refused: {ack.errors}")

    def updates() -> int:
        return sum(1 for c in sim.calls if c.method == "views.update")

    updates_before = updates()  # the second burst's engineers had their modals updated in the first one

    for step, work in (("open", open_modal), ("choose", choose)):
        phase.errors += _together(n, work, step, step_timeout)
        if phase.errors:
            return phase
    if app != "bare":  # the ack-only app does not rebuild the modal
        al.poll(lambda: updates() - updates_before >= n, step_timeout, f"{n} views.update calls")
    phase.errors += _together(n, submit, "submit", step_timeout)
    if phase.errors:
        return phase
    cards = al.poll(lambda: (found if all(found := [al.find_card(sim, a) for a in accounts]) else None),
                    step_timeout, f"{n} approval cards with buttons")

    def approve_or_command(i: int) -> None:
        if i < n:
            phase.clicks[accounts[i]] = time.time()  # the sim's clock for Web API calls is time.time()
            record("approve_click", approvers[i % len(approvers)],
                   sim.click(approvers[i % len(approvers)], "Approve", channel=al.APPROVALS, message_ts=cards[i].ts))
        else:
            command(extra[i - n])

    phase.errors += _together(n + len(extra), approve_or_command, "approve", step_timeout)
    return phase


class RevealCalls:
    """The Web API calls that put a "Reveal password" button in a message, scanned once each as they come."""

    def __init__(self, sim: SlackSim) -> None:
        self.sim = sim
        self.seen = 0
        self.found: list[tuple[float, str]] = []  # (when the sim answered it, its text)

    def scan(self) -> list[tuple[float, str]]:
        calls = self.sim.calls[self.seen:]
        self.seen += len(calls)
        for call in calls:
            if call.method in ("chat.postMessage", "chat.update") and "Reveal password" in json.dumps(
                    call.params.get("blocks") or []):
                self.found.append((call.at, f" {call.params.get('text') or ''} "))
        return self.found

    def count(self, accounts: list[str]) -> int:
        found = self.scan()
        return sum(1 for a in accounts if any(f" {a} " in text for _, text in found))

    def times(self, clicks: dict[str, float]) -> dict[str, float]:
        """Per account: seconds from its Approve click to the first call that showed its Reveal button."""
        out: dict[str, float] = {}
        for at, text in self.scan():
            for account, clicked in clicks.items():
                if account not in out and f" {account} " in text and at >= clicked:
                    out[account] = at - clicked
        return out


# --------------------------------------------------------------------------------------------


class Postgres:
    """A fresh database per app run on the server `url` names (dropped afterwards)."""

    def __init__(self, url: str) -> None:
        from sqlalchemy import create_engine, make_url

        self.base = make_url(url)
        self.admin = create_engine(self.base, isolation_level="AUTOCOMMIT")

    def fresh(self) -> str:
        name = "resetbot_bench_" + secrets.token_hex(4)
        with self.admin.connect() as c:
            c.exec_driver_sql(f'CREATE DATABASE "{name}"')
        return self.base.set(database=name).render_as_string(hide_password=False)

    def drop(self, url: str) -> None:
        from sqlalchemy import make_url

        name = make_url(url).database
        with self.admin.connect() as c:
            c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_app(app: str, sandbox, db: str, database_url: str | None, args, resetbot: str) -> dict:
    engineers = [f"U0BURSTE{i:03d}" for i in range(1, ENGINEERS + 1)]
    extra = [f"U0BURSTE{i:03d}" for i in range(ENGINEERS + 1, ENGINEERS + EXTRA + 1)]
    approvers = [f"U0BURSTA{i:02d}" for i in range(1, APPROVERS + 1)]
    slow = [f"burst{i:03d}" for i in range(1, ENGINEERS + 1)]
    fast = [f"fast{i:03d}" for i in range(1, ENGINEERS + 1)]
    sim = new_sim(engineers + extra, approvers)
    sim.web_api_latency = args.slack_latency / 1000.0
    env = al.base_env()
    env.update({"SLACK_BOT_TOKEN": "xoxb-bench", "SLACK_APP_TOKEN": "xapp-bench", "SLACK_API_URL": sim.api_url,
                "RESETBOT_APPROVALS_CHANNEL": al.APPROVALS, "MOFH_API_URL": sandbox.mofh_url,
                "MOFH_API_USERNAME": al.MOFH_USER, "MOFH_API_PASSWORD": al.MOFH_PASSWORD})
    grants = None
    if app == "bot":
        from cryptography.fernet import Fernet

        env.update({"DATABASE_URL": database_url or "", "RESETBOT_SEAL_KEY": Fernet.generate_key().decode(),
                    "NAMECHEAP_API_URL": sandbox.namecheap_url, "NAMECHEAP_API_USER": al.NC_USER,
                    "NAMECHEAP_API_KEY": al.NC_KEY, "NAMECHEAP_CLIENT_IP": "127.0.0.1"})
        world = al.World(sim, sandbox, engineers + extra, approvers, slow)
        grants = al.grant_roles(world, env, resetbot, False)
        cmd = [resetbot, "run"]
        if args.profile:  # bench/profile_launch.py: resetbot run with a sampling profiler
            env["BENCH_PROFILE_OUT"] = f"{args.profile}.{db}.txt"
            cmd = [sys.executable, str(al.REPO / "bench" / "profile_launch.py")]
    else:
        cmd = [sys.executable, str(al.REPO / "bench" / ("same_calls_app.py" if app == "same" else "bare_app.py"))]
    proc = al.AppProcess(APP_LABELS[app], cmd, env)
    try:
        ready_s = proc.wait_ready(60)
        sim.wait_for_connections(1, timeout=15)
        rss_idle = al.proc_status(proc.pid).get("VmRSS", 0)
        passwd_before = len(sandbox.calls())
        reveals = RevealCalls(sim)
        (user0, system0), wall0 = cpu_split(proc.pid), time.monotonic()
        cpu0 = user0 + system0
        burst = drive_burst(sim, engineers, extra, approvers, slow, app)
        if burst.errors:
            raise al.BenchBroken(f"{APP_LABELS[app]} on {db}: " + "; ".join(burst.errors[:5]))
        acked_s = time.monotonic() - wall0
        if app != "bare":
            al.poll(lambda: sum(1 for c in sandbox.calls()[passwd_before:] if c.command == "passwd") >= len(slow),
                    60 + 2 * args.delay * len(slow) / 32, f"{len(slow)} passwd calls", interval=0.05)
            al.poll(lambda: reveals.count(slow) >= len(slow), 60, f"{len(slow)} Reveal DMs", interval=0.1)
        (user1, system1), wall1 = cpu_split(proc.pid), time.monotonic()
        cpu1 = user1 + system1
        envelopes = len(burst.samples)
        calls_burst = al._count_methods(sim.calls)
        passwd_burst = sum(1 for c in sandbox.calls()[passwd_before:] if c.command == "passwd")

        e2e = None
        if app != "bare":
            done = drive_burst(sim, engineers, [], approvers, fast, app)
            if done.errors:
                raise al.BenchBroken(f"{APP_LABELS[app]} on {db} (instant provider): " + "; ".join(done.errors[:5]))
            al.poll(lambda: reveals.count(fast) >= len(fast), 60, f"{len(fast)} Reveal DMs (instant provider)",
                    interval=0.05)
            times = reveals.times(done.clicks)
            e2e = al.summarize([v * 1000.0 for v in times.values()])
        status = al.proc_status(proc.pid)
        exit_status, sigterm_s = proc.terminate(60)
    except BaseException:
        proc.kill()
        raise
    finally:
        sim.stop()
    return {
        "app": app,
        "database": db if app == "bot" else None,
        "ready_seconds": round(ready_s, 3),
        "grants": grants,
        "latency_ms": {**{k: al.summarize([s.latency_ms for s in burst.samples if s.kind == k]) for k in BURST_KINDS},
                       "overall": al.summarize([s.latency_ms for s in burst.samples]),
                       "timed_out": sum(s.timed_out for s in burst.samples)},
        "envelopes": envelopes,
        "cpu_seconds": round(cpu1 - cpu0, 3),
        "cpu_ms_per_envelope": round((cpu1 - cpu0) * 1000.0 / envelopes, 3),
        "cpu_system_share": round((system1 - system0) / (cpu1 - cpu0), 3) if cpu1 > cpu0 else None,
        "burst_wall_seconds": round(wall1 - wall0, 2),
        "acks_wall_seconds": round(acked_s, 2),
        "passwd_calls": passwd_burst,
        "slack_calls_in_burst": calls_burst,
        "approve_to_reveal_dm_ms": e2e,
        "rss_idle_mb": round(rss_idle / 1024, 1),
        "peak_rss_mb": round(status.get("VmHWM", 0) / 1024, 1),
        "sigterm_exit_status": exit_status,
        "sigterm_to_exit_seconds": round(sigterm_s, 3),
        "log_problems": proc.problem_lines(),
    }


def run_burst(args, sandbox, resetbot: str) -> dict:
    """Every database asked for, `args.rounds` rounds of the three apps each; the results by database."""
    for key in [f"burst{i:03d}" for i in range(1, ENGINEERS + 1)]:
        sandbox.add_mofh_account(MofhAccount(key=key, password="Bench" + secrets.token_hex(6), delay=args.delay))
    for key in [f"fast{i:03d}" for i in range(1, ENGINEERS + 1)]:
        sandbox.add_mofh_account(MofhAccount(key=key, password="Bench" + secrets.token_hex(6), delay=0.0))
    out: dict[str, dict] = {}
    apps = [a for a in APPS if a in args.apps]
    for db in args.databases:
        pg = Postgres(args.postgres) if db == "postgresql" else None
        rounds = []
        for r in range(args.rounds):
            row: dict[str, dict] = {}
            for app in apps:
                import tempfile

                url = None
                with tempfile.TemporaryDirectory(prefix="resetbot-burst-") as tmp:
                    if app == "bot":
                        url = pg.fresh() if pg else f"sqlite:///{tmp}/resetbot.db"
                    print(f"burst {db} round {r + 1}: {APP_LABELS[app]}", flush=True)
                    try:
                        row[app] = run_app(app, sandbox, db, url, args, resetbot)
                    finally:
                        if pg and url:
                            pg.drop(url)
                lat = row[app]["latency_ms"]["overall"]
                print(f"  p50 {al.fmt(lat['p50'])} p95 {al.fmt(lat['p95'])} p99 {al.fmt(lat['p99'])} ms; "
                      f"CPU {row[app]['cpu_ms_per_envelope']:.2f} ms/envelope", flush=True)
            rounds.append({"apps": row, "ratios": ratios(row)})
        out[db] = {"rounds": rounds, "spread": spread(rounds)}
        if pg:
            pg.admin.dispose()
    return out


def ratios(row: dict) -> dict:
    out: dict = {}
    for base in ("same", "bare"):
        if "bot" not in row or base not in row:
            continue
        out[f"bot_p99_over_{base}_p99"] = {
            k: _div(row["bot"]["latency_ms"][k]["p99"], row[base]["latency_ms"][k]["p99"])
            for k in (*BURST_KINDS, "overall")}
    if "bot" in row and "same" in row:
        # The CPU target is absolute; this says how much of it the calls themselves take on this machine.
        out["bot_cpu_over_same_cpu"] = _div(row["bot"]["cpu_ms_per_envelope"], row["same"]["cpu_ms_per_envelope"])
        out["bot_own_cpu_ms_per_envelope"] = round(row["bot"]["cpu_ms_per_envelope"]
                                                   - row["same"]["cpu_ms_per_envelope"], 3)
    if "same" in row and "bare" in row:
        out["same_p99_over_bare_p99"] = _div(row["same"]["latency_ms"]["overall"]["p99"],
                                             row["bare"]["latency_ms"]["overall"]["p99"])
    return out


def _div(a, b):
    return round(a / b, 3) if a is not None and b else None


def spread(rounds: list[dict]) -> dict:
    def span(values):
        values = [v for v in values if v is not None]
        return {"min": min(values), "max": max(values), "median": statistics.median(values)} if values else None

    out = {"ratio_p99_bot_over_same": span([r["ratios"].get("bot_p99_over_same_p99", {}).get("overall")
                                            for r in rounds])}
    for app in APPS:
        out[f"cpu_ms_per_envelope_{app}"] = span([r["apps"][app]["cpu_ms_per_envelope"] for r in rounds
                                                  if app in r["apps"]])
        out[f"p99_ms_{app}"] = span([r["apps"][app]["latency_ms"]["overall"]["p99"] for r in rounds
                                     if app in r["apps"]])
    return out


def targets(burst: dict) -> list[dict]:
    checks = []
    for db, data in burst.items():
        for i, r in enumerate(data["rounds"], start=1):
            ratio = r["ratios"].get("bot_p99_over_same_p99", {}).get("overall")
            bot = r["apps"].get("bot")
            if ratio is not None:
                checks.append({"target": f"{db} round {i}: bot p99 <= {TARGET_BURST_RATIO} x same-calls p99 (burst)",
                               "measured": f"{ratio:.2f}x", "pass": ratio <= TARGET_BURST_RATIO})
            if bot:
                cpu = bot["cpu_ms_per_envelope"]
                checks.append({"target": f"{db} round {i}: bot CPU <= {TARGET_CPU_MS} ms per envelope (burst)",
                               "measured": f"{cpu:.2f} ms", "pass": cpu <= TARGET_CPU_MS})
    return checks


def print_burst(burst: dict) -> None:
    print()
    print("Burst: ack latency (ms) per envelope kind, CPU per envelope, Approve -> Reveal DM (instant provider)")
    for db, data in burst.items():
        for i, r in enumerate(data["rounds"], start=1):
            print(f"  {db}, round {i}")
            head = f"    {'app':<21}{'kind':<17}{'n':>4}{'p50':>8}{'p95':>8}{'p99':>8}{'max':>8}"
            print(head)
            for app, res in r["apps"].items():
                for kind in (*BURST_KINDS, "overall"):
                    row = res["latency_ms"][kind]
                    print(f"    {APP_LABELS[app]:<21}{kind:<17}{row['n']:>4}{al.fmt(row['p50']):>8}"
                          f"{al.fmt(row['p95']):>8}{al.fmt(row['p99']):>8}{al.fmt(row['max']):>8}")
            for app, res in r["apps"].items():
                e2e = res["approve_to_reveal_dm_ms"]
                e2e_text = f"Approve -> Reveal DM p50 {al.fmt(e2e['p50'])} / p99 {al.fmt(e2e['p99'])} ms" if e2e else ""
                share = res.get("cpu_system_share")
                print(f"    {APP_LABELS[app]:<21}CPU {res['cpu_ms_per_envelope']:.2f} ms/envelope "
                      f"({res['cpu_seconds']} s / {res['envelopes']}"
                      f"{f', {share:.0%} in the kernel' if share is not None else ''}); "
                      f"peak RSS {res['peak_rss_mb']} MB; {e2e_text}")
            rat = r["ratios"]
            if "bot_p99_over_same_p99" in rat:
                print("    p99 resetbot / same-calls: " + ", ".join(
                    f"{k} {al.fmt(v, 2)}x" for k, v in rat["bot_p99_over_same_p99"].items()))
            if "bot_p99_over_bare_p99" in rat:
                print("    p99 resetbot / ack-only:   " + ", ".join(
                    f"{k} {al.fmt(v, 2)}x" for k, v in rat["bot_p99_over_bare_p99"].items()))
            if "bot_cpu_over_same_cpu" in rat:
                print(f"    CPU per envelope resetbot / same-calls: {al.fmt(rat['bot_cpu_over_same_cpu'], 2)}x "
                      f"(the bot's own work: {rat['bot_own_cpu_ms_per_envelope']:.2f} ms per envelope)")
            for app, res in r["apps"].items():
                print(f"    Slack calls, {APP_LABELS[app]}: {res['slack_calls_in_burst']}")
                if res["log_problems"]:
                    for line, count in list(res["log_problems"].items())[:5]:
                        print(f"      {count:>3} x {line}")
        s = data["spread"]["ratio_p99_bot_over_same"]
        if s and len(data["rounds"]) > 1:
            print(f"  {db}: p99 ratio resetbot / same-calls over {len(data['rounds'])} rounds: "
                  f"{s['min']:.2f}x .. {s['max']:.2f}x (median {s['median']:.2f}x)")
