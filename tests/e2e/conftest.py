"""The real app, wired by the composition root, against the sandbox providers and the simulated Slack.

`bot_over_socket` connects it over Socket Mode (the default transport); `bot_over_http`
serves it with resetbot's own WSGI app so Slack's requests are signed and verified.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from bot.app import Runtime, build_runtime
from bot.config import Settings
from bot.domain import Role
from bot.providers import registry
from bot.providers.cpanel import CpanelSettings
from bot.providers.mofh import MofhSettings
from bot.providers.namecheap import NamecheapSettings
from bot.providers.plesk import PleskSettings
from bot.secret import Secret
from bot.server import HttpServer, socket_mode_handler, start_http_server
from devkit.sandbox import Sandbox, default_seed
from devkit.slack import SlackSim

ENGINEER, APPROVER, APPROVER2, OUTSIDER = "U0ENGINEER1", "U0APPROVER1", "U0APPROVER2", "U0OUTSIDER1"
HELPDESK, APPROVALS = "C0HELPDESK", "C0APPROVALS"
REASON = "Customer locked out after an FTP client saved an old password."


@dataclass
class Bot:
    sim: SlackSim
    sandbox: Sandbox
    runtime: Runtime
    database_url: str
    http_server: HttpServer | None = None  # bot_over_http's

    @property
    def db_path(self) -> str:
        return self.database_url.removeprefix("sqlite:///")

    @property
    def workflow(self):
        return self.runtime.workflow

    def request_mofh(self, user=ENGINEER, account="webq7k2m", reason=REASON, channel=HELPDESK):
        acks: list = []
        self.sim.opened_by(user, lambda: acks.append(self.sim.slash_command(user, "/reset-password", f"mofh {account}",
                                                                            channel=channel)), REQUEST_MODAL)
        assert acks[0].ok and not acks[0].timed_out
        self.sim.fill(user, {"Reason": reason, "Ticket": "SUP-1"})
        return self.sim.submit(user)

    def request_namecheap(self, method, secret, account="acmeshop", user=ENGINEER, reason=REASON, channel=HELPDESK):
        """/reset-password for a Namecheap account by "Reset code" or "Current password" (the input of that name)."""
        self.sim.opened_by(user, lambda: self.sim.slash_command(user, "/reset-password", f"namecheap {account}",
                                                                channel=channel), REQUEST_MODAL)
        self.sim.fill(user, {"Method": method})
        self.sim.wait_for(lambda: method in self.sim.current_view(user).labels, message=f"no {method} input")
        self.sim.fill(user, {method: secret, "Reason": reason})
        return self.sim.submit(user)

    def request_cpanel(self, account="acmeshop", user=ENGINEER, reason=REASON, channel=HELPDESK):
        """/reset-password cpanel <account> (a cPanel username or a domain), Reason and Ticket filled, submitted."""
        self.sim.opened_by(user, lambda: self.sim.slash_command(user, "/reset-password", f"cpanel {account}",
                                                                channel=channel), REQUEST_MODAL)
        self.sim.fill(user, {"Reason": reason, "Ticket": "SUP-7"})
        return self.sim.submit(user)

    def request_plesk(self, user=ENGINEER, account="jdoe42", reason=REASON, channel=HELPDESK):
        self.sim.opened_by(user, lambda: self.sim.slash_command(user, "/reset-password", f"plesk {account}",
                                                                channel=channel), REQUEST_MODAL)
        self.sim.fill(user, {"Reason": reason, "Ticket": "SUP-2"})
        return self.sim.submit(user)

    def card(self):
        return self.sim.wait_for(
            lambda: next((m for m in reversed(self.sim.messages(APPROVALS)) if "Approve" in m.buttons), None),
            message="no approval card with buttons")

    def mofh_passwd_calls(self):
        return [c for c in self.sandbox.calls() if c.provider == "mofh" and "passwd" in c.path]

    def cpanel_calls(self, command=None):
        return [c for c in self.sandbox.calls() if c.provider == "cpanel" and command in (None, c.command)]

    def plesk_set_calls(self):
        return [c for c in self.sandbox.calls() if c.provider == "plesk" and c.command == "customer/set"]


REQUEST_MODAL = "Reset hosting password"  # handlers/blocks.py: reset_modal's title
SEAL_KEY = Secret("ZmFrZS1zZWFsLWtleS1mb3ItdGVzdHMtMzItYnl0ZXM=")


def make_settings(sim: SlackSim, sandbox: Sandbox, database_url: str, **overrides) -> Settings:
    """Settings for the sandbox; a provider's name as an override replaces its settings (None: disabled)."""
    providers = {
        "mofh": MofhSettings(sandbox.mofh_url, "sandbox-reseller", Secret("sandbox-mofh-password")),
        "namecheap": NamecheapSettings(sandbox.namecheap_url, "sandboxapi", Secret("sandbox-namecheap-key"),
                                       "127.0.0.1"),
        "cpanel": CpanelSettings(sandbox.cpanel_url, "resellerbot", Secret("sandbox-cpanel-token")),
        "plesk": PleskSettings(sandbox.plesk_url, login="sandbox-plesk-admin",
                               password=Secret("sandbox-plesk-password")),
    }
    for name in [n for n in overrides if n in registry.names()]:
        providers[name] = overrides.pop(name)
    values = dict(
        database_url=database_url,
        seal_key=SEAL_KEY,
        slack_bot_token=Secret("xoxb-test"),
        slack_app_token=Secret("xapp-test"),
        slack_signing_secret=Secret(sim.signing_secret),
        slack_api_url=sim.api_url,
        approvals_channel=APPROVALS,
        providers={name: cfg for name, cfg in providers.items() if cfg is not None},
    )
    values.update(overrides)
    return Settings(**values)


def _world():
    sandbox = Sandbox(seed=default_seed()).start()
    sim = SlackSim()
    sim.add_user(ENGINEER, "sam", channels=[HELPDESK])
    sim.add_user(APPROVER, "dana", channels=[HELPDESK])
    sim.add_user(APPROVER2, "lee", channels=[HELPDESK])
    sim.add_user(OUTSIDER, "max", channels=[HELPDESK])
    sim.add_channel(APPROVALS, "pw-reset-approvals", members=[APPROVER, APPROVER2])
    return sim, sandbox


def _grant(runtime: Runtime) -> None:
    runtime.workflow.admin.grant(ENGINEER, Role.REQUESTER, None, actor="test")
    runtime.workflow.admin.grant(APPROVER, Role.APPROVER, None, actor="test")
    runtime.workflow.admin.grant(APPROVER2, Role.APPROVER, None, actor="test")
    runtime.workflow.admin.import_directory([(a.key, a.vpanel_username, (a.domains or [None])[0])
                                       for a in default_seed().mofh_accounts])


@pytest.fixture
def bot_over_socket(database_url):
    sim, sandbox = _world()
    runtime = build_runtime(make_settings(sim, sandbox, database_url))
    _grant(runtime)
    handler = socket_mode_handler(runtime.app, "xapp-test", runtime.pending_acks)
    handler.connect()
    sim.wait_for_connections(1, timeout=10)
    try:
        yield Bot(sim, sandbox, runtime, database_url)
    finally:
        handler.close()
        sandbox.stop()
        runtime.shutdown(timeout=10)
        sim.stop()


@pytest.fixture
def bot_over_http(database_url):
    sim, sandbox = _world()
    runtime = build_runtime(make_settings(sim, sandbox, database_url), http=True)
    _grant(runtime)
    server = start_http_server(runtime, "127.0.0.1", 0)
    sim.http_url = server.url
    try:
        yield Bot(sim, sandbox, runtime, database_url, server)
    finally:
        server.close()
        sandbox.stop()
        runtime.shutdown(timeout=10)
        sim.stop()
