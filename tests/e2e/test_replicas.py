"""Two real `resetbot run` processes on one PostgreSQL, one simulated Slack spreading envelopes across both.

Proves: racing approvals on different replicas, 200 requests end to end, and kill -9 of the
replica in the middle of a provider call give exactly one change per approved request and
lose nothing. PostgreSQL only (SQLite is for one process).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest
import sqlalchemy as sa

from bot.domain import Role
from bot.workflow.admin import Admin
from bot.workflow.context import BaseContext
from devkit.sandbox import MofhAccount, Sandbox
from devkit.slack import SlackSim
from storage.db import make_engine, make_sessionmaker
from tests.conftest import POSTGRES_URL, fresh_postgres_database
from tests.e2e.conftest import SEAL_KEY

pytestmark = [pytest.mark.postgres,
              pytest.mark.skipif(not POSTGRES_URL, reason="RESETBOT_TEST_POSTGRES_URL is not set")]

ENGINEERS = [f"U0ENG{n:05d}" for n in range(10)]
APPROVERS = ["U0APPR00001", "U0APPR00002"]
HELPDESK, APPROVALS = "C0HELPDESK", "C0APPROVALS"
REASON = "Customer locked out; identity checked on the phone."


@dataclass
class Replica:
    process: subprocess.Popen
    lines: list[str] = field(default_factory=list)
    ready: threading.Event = field(default_factory=threading.Event)

    @property
    def replica_id(self) -> str:
        return f"{socket.gethostname()}-{self.process.pid}"

    def pump(self) -> None:
        for line in self.process.stderr:
            self.lines.append(line)
            if "ready" in line:
                self.ready.set()


class Cluster:
    def __init__(self, database_url: str, sim: SlackSim, sandbox: Sandbox) -> None:
        self.database_url, self.sim, self.sandbox = database_url, sim, sandbox
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "MOFH_", "NAMECHEAP_", "RESETBOT_"))},
            "SLACK_BOT_TOKEN": "xoxb-replicas", "SLACK_APP_TOKEN": "xapp-replicas", "SLACK_API_URL": sim.api_url,
            "DATABASE_URL": database_url, "RESETBOT_SEAL_KEY": SEAL_KEY.reveal(),
            "RESETBOT_APPROVALS_CHANNEL": APPROVALS, "MOFH_API_URL": sandbox.mofh_url,
            "MOFH_API_USERNAME": "sandbox-reseller", "MOFH_API_PASSWORD": "sandbox-mofh-password",
            "RESETBOT_EXECUTION_LEASE": "3", "RESETBOT_SWEEP_INTERVAL": "1",
        }
        self.replicas: list[Replica] = []

    def resetbot(self, *args: str) -> None:
        subprocess.run([sys.executable, "-m", "bot.cli", *args], env=self.env, check=True, capture_output=True,
                       timeout=60)

    def start(self, count: int) -> None:
        for _ in range(count):
            process = subprocess.Popen([sys.executable, "-m", "bot.cli", "run"], env=self.env, text=True,
                                       stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
            replica = Replica(process)
            threading.Thread(target=replica.pump, daemon=True).start()
            self.replicas.append(replica)
            assert replica.ready.wait(30), "".join(replica.lines)
        self.sim.wait_for_connections(count, timeout=15)

    def log_tail(self) -> str:
        return " | ".join(line.strip() for replica in self.replicas for line in replica.lines[-5:])

    def stop(self) -> list[int]:
        codes = []
        for replica in self.replicas:
            if replica.process.poll() is None:
                replica.process.send_signal(signal.SIGTERM)
            try:
                codes.append(replica.process.wait(30))
            except subprocess.TimeoutExpired:
                replica.process.kill()
                codes.append(replica.process.wait(10))
        return codes

    def statuses(self) -> dict[str, str]:
        engine = sa.create_engine(self.database_url)
        try:
            with engine.connect() as db:
                return dict(db.execute(sa.text("select account, status from reset_requests")).all())
        finally:
            engine.dispose()

    def lease_owner(self, account: str) -> str | None:
        engine = sa.create_engine(self.database_url)
        try:
            with engine.connect() as db:
                return db.execute(sa.text("select lease_owner from reset_requests where account = :a"),
                                  {"a": account}).scalar()
        finally:
            engine.dispose()

    def request(self, engineer: str, account: str) -> None:
        sim = self.sim
        ack = sim.slash_command(engineer, "/reset-password", f"mofh {account}", channel=HELPDESK)
        assert ack.ok and not ack.timed_out, ack
        sim.wait_for(lambda: sim.current_view(engineer), timeout=10,
                     message=f"no modal for {engineer}; told {[e.text for e in sim.ephemerals(engineer)][-3:]}; "
                             f"replica logs: {self.log_tail()}")
        sim.fill(engineer, {"Reason": REASON})
        submitted = sim.submit(engineer)
        assert submitted.ok and not submitted.errors, submitted

    def card_for(self, account: str):
        return self.sim.wait_for(
            lambda: next((m for m in self.sim.messages(APPROVALS)
                          if f"`{account}`" in m.text + m.visible_text and "Approve" in m.buttons), None),
            timeout=15, message=f"no approval card for {account}")

    def passwd_calls(self, account: str | None = None) -> list:
        return [c for c in self.sandbox.calls()
                if c.provider == "mofh" and "passwd" in c.path and (account is None or c.account == account)]


@pytest.fixture
def cluster():
    url, drop = fresh_postgres_database()
    accounts = [MofhAccount(key=f"r{n:04d}", password=f"Start{n:04d}Pass", vpanel_username=f"rrrr_{n:08d}")
                for n in range(210)]
    sandbox = Sandbox()
    for account in accounts:
        sandbox.add_mofh_account(account)
    sandbox.start()
    sim = SlackSim()
    for user in ENGINEERS + APPROVERS:
        sim.add_user(user, user.lower(), channels=[HELPDESK])
    sim.add_channel(APPROVALS, "pw-reset-approvals", members=APPROVERS)
    group = Cluster(url, sim, sandbox)
    group.resetbot("roles", "grant", APPROVERS[0], "approver", "--provider", "mofh")  # the operator path
    engine = make_engine(url)
    roles = Admin(BaseContext(sessions=make_sessionmaker(engine)))
    for user in ENGINEERS:
        roles.grant(user, Role.REQUESTER, None, actor="test")
    roles.grant(APPROVERS[1], Role.APPROVER, "mofh", actor="test")
    engine.dispose()
    try:
        yield group
    finally:
        group.stop()
        sim.stop()
        sandbox.stop()
        drop()


def test_approvals_racing_on_two_replicas_give_one_change(cluster):
    cluster.start(2)
    sim = cluster.sim
    cluster.request(ENGINEERS[0], "r0000")
    card = cluster.card_for("r0000")
    with ThreadPoolExecutor(4) as pool:
        acks = list(pool.map(lambda who: sim.click(who, "Approve", channel=APPROVALS, message_ts=card.ts),
                             APPROVERS * 2))
    assert {ack.connection for ack in acks} == {0, 1}  # both replicas handled clicks
    sim.wait_for(lambda: cluster.statuses().get("r0000") == "succeeded", timeout=20, message="not done")
    assert len(cluster.passwd_calls("r0000")) == 1
    assert cluster.stop() == [0, 0]


def test_200_requests_end_to_end_on_two_replicas(cluster):
    cluster.start(2)
    sim = cluster.sim
    accounts = [f"r{n:04d}" for n in range(1, 201)]

    def engineer_run(index: int) -> None:
        engineer = ENGINEERS[index]
        approver = APPROVERS[index % 2]
        for account in accounts[index::len(ENGINEERS)]:
            cluster.request(engineer, account)
            card = cluster.card_for(account)
            ack = sim.click(approver, "Approve", channel=APPROVALS, message_ts=card.ts)
            assert ack.ok and not ack.timed_out

    with ThreadPoolExecutor(len(ENGINEERS)) as pool:
        list(pool.map(engineer_run, range(len(ENGINEERS))))
    sim.wait_for(lambda: sum(s == "succeeded" for s in cluster.statuses().values()) == 200, timeout=90,
                 message="not every request finished")
    calls = cluster.passwd_calls()
    assert len(calls) == 200 and len({c.account for c in calls}) == 200
    served = {e["connection"] for e in sim.envelopes}
    assert served == {0, 1}
    assert cluster.stop() == [0, 0]


def test_kill_9_mid_call_loses_nothing_and_changes_to_one_password(cluster):
    cluster.start(2)
    sim = cluster.sim
    cluster.sandbox.set_delay("mofh", "r0209", 2.0)
    cluster.request(ENGINEERS[1], "r0209")
    card = cluster.card_for("r0209")
    sim.click(APPROVERS[0], "Approve", channel=APPROVALS, message_ts=card.ts)
    assert cluster.sandbox.wait_for_pending(1, timeout=10)  # the call is in flight at the provider
    owner = cluster.lease_owner("r0209")
    victim = next(r for r in cluster.replicas if r.replica_id == owner)
    victim.process.send_signal(signal.SIGKILL)
    victim.process.wait(10)
    sim.wait_for(lambda: cluster.statuses().get("r0209") == "succeeded", timeout=40,
                 message="the surviving replica did not finish the request")
    outcomes = sorted(c.outcome for c in cluster.passwd_calls("r0209"))
    # The dead replica's call may still land; the retry carries the same sealed password.
    assert outcomes in (["changed"], ["changed", "changed_idempotent"]), outcomes
    dm = sim.wait_for(lambda: next((m for m in sim.dm_messages(ENGINEERS[1]) if "Reveal password" in m.buttons),
                                   None), timeout=10, message="no reveal DM after recovery")
    sim.click(ENGINEERS[1], "Reveal password", channel=dm.channel, message_ts=dm.ts)
    modal = sim.wait_for(lambda: next((v for v in sim.views(ENGINEERS[1]) if v.title == "New password"), None),
                         timeout=10, message="no reveal modal")
    assert cluster.sandbox.mofh_account("r0209").password in modal.visible_text
    survivor = next(r for r in cluster.replicas if r is not victim)
    survivor.process.send_signal(signal.SIGTERM)
    assert survivor.process.wait(30) == 0
