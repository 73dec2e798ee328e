"""`resetbot demo`: the whole flow on this machine, with no credentials and no network.

Embedded SQLite in a temp dir, the sandbox MyOwnFreeHost and Namecheap servers on
127.0.0.1, and a simulated Slack workspace that the real app reaches over Socket Mode.
Two people act through what Slack shows them (labels and button texts), exactly as an
outside test suite would; the transcript is what they saw.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import re
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from bot import logs
from bot.app import build_runtime
from bot.config import Settings
from bot.domain import AuditRecord, Role
from bot.secret import Secret
from bot.server import socket_mode_handler
from devkit.sandbox import Sandbox, default_seed
from devkit.slack import SlackSim

ENGINEER, APPROVER, LEAD = "U0ENGINEER1", "U0APPROVER1", "U0LEAD00001"
HELPDESK, APPROVALS = "C0HELPDESK", "C0APPROVALS"
LEADS = "S0LEADS0001"  # the user group "pw-reset-leads": lee is in it


class DemoFailed(Exception):
    pass


def _printer() -> Callable[[str], None]:
    lock = threading.Lock()  # the simulated Slack reports from several threads

    def out(line: str) -> None:
        with lock:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    return out


def run_demo(out: Callable[[str], None] | None = None) -> int:
    out = out or _printer()
    logs.configure(logging.WARNING)
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="resetbot-demo-") as tmp:
            summary = _run(out, tmp)
    except DemoFailed as failure:
        out(f"DEMO FAILED: {failure}")
        return 1
    except AssertionError as failure:  # the simulated Slack timed out waiting for something
        out(f"DEMO FAILED: {failure}")
        return 1
    out("")
    for line in summary:
        out(f"  ✓ {line}")
    out(f"Demo complete in {time.monotonic() - started:.1f} s: the flow ran end to end.")
    return 0


REQUEST_MODAL = "Reset hosting password"


def check(condition: object, what: str) -> None:
    if not condition:
        raise DemoFailed(what)


def _fill(sim: SlackSim, user: str, fields: dict[str, str]) -> None:
    """Type into the open modal field by field; after a choice the bot answers by rebuilding the modal (Method),
    wait for that, as a person sees the modal change before typing on."""
    for label, value in fields.items():
        view = sim.current_view(user)
        hash_before = view.hash if view is not None else None
        if sim.fill(user, {label: value}) is not None:  # a dispatching choice: the bot's views.update follows
            sim.wait_for(lambda before=hash_before: (v := sim.current_view(user)) is not None and v.hash != before,
                         message=f"the modal was not rebuilt after {label!r}")


ADMIN = "U0ADMIN0001"  # `resetbot demo --web` only: the App Home's Policy section (the scripted story has none)


@dataclasses.dataclass
class World:
    """What `resetbot demo` starts: the sandbox providers, the simulated Slack and the real app connected to it."""

    sandbox: Sandbox
    sim: SlackSim
    runtime: Any


@contextlib.contextmanager
def demo_world(out: Callable[[str], None], tmp: str, *, admin: bool = False) -> Iterator[World]:
    """The demo's people, channels, roles and directory, the real app in Socket Mode; shut down on exit.
    `admin`: alex.admin too, an admin of the bot (`resetbot demo --web`)."""
    with Sandbox(seed=default_seed()) as sandbox, SlackSim() as sim:
        sim.add_user(ENGINEER, "sam.engineer", channels=[HELPDESK])
        sim.add_user(APPROVER, "dana.approver", channels=[HELPDESK])
        sim.add_user(LEAD, "lee.lead")
        if admin:
            sim.add_user(ADMIN, "alex.admin", channels=[HELPDESK])
        sim.add_channel(APPROVALS, "pw-reset-approvals", members=[APPROVER, LEAD] + [ADMIN] * admin)
        sim.add_usergroup(LEADS, "pw-reset-leads", [LEAD])
        sim.transcript_listener = lambda entry: out("\n".join(f"  {line}" for line in entry.split("\n")))
        environments = sandbox.bot_environments()
        # Each plugin reads its own variables (bot/providers/<name>/settings.py), as `resetbot run` would.
        sandboxed = Settings.from_env({name: value for environment in environments.values()
                                       for name, value in environment.variables.items()})
        check(not sandboxed.problems, f"the sandbox settings were refused: {'; '.join(sandboxed.problems)}")
        settings = Settings(
            database_url=f"sqlite:///{tmp}/resetbot.db",
            slack_bot_token=Secret("xoxb-demo"),
            slack_app_token=Secret("xapp-demo"),
            slack_api_url=sim.api_url,
            approvals_channel=APPROVALS,
            providers=sandboxed.providers,
        )
        out(f"resetbot demo: sandbox providers at {' and '.join(e.url for e in environments.values())}; "
            f"simulated Slack at {sim.api_url}")
        runtime = build_runtime(settings, http=False)
        handler = socket_mode_handler(runtime.app, "xapp-demo", runtime.pending_acks)
        try:
            runtime.workflow.admin.grant(ENGINEER, Role.REQUESTER, None, actor="demo")
            runtime.workflow.admin.grant(APPROVER, Role.APPROVER, None, actor="demo")
            runtime.workflow.admin.grant(LEADS, Role.APPROVER, None, actor="demo")  # the group, not lee by name
            if admin:
                runtime.workflow.admin.grant(ADMIN, Role.ADMIN, None, actor="demo")
            runtime.workflow.admin.import_directory([(a.key, a.vpanel_username, a.domains[0] if a.domains else None)
                                                     for a in default_seed().mofh_accounts])
            out("Roles: sam.engineer requests; dana.approver and the group @pw-reset-leads (lee.lead) approve."
                + (" alex.admin is an admin." if admin else ""))
            out("Directory imported.")
            handler.connect()
            sim.wait_for_connections(1, timeout=10)
            out("The bot connected over Socket Mode.\n")
            yield World(sandbox, sim, runtime)
        finally:
            handler.close()
            runtime.shutdown(timeout=10)


def _run(out: Callable[[str], None], tmp: str) -> list[str]:
    summary: list[str] = []
    with demo_world(out, tmp) as world:
        sim, sandbox, runtime = world.sim, world.sandbox, world.runtime
        secrets = [sandbox.mofh_api_password, sandbox.namecheap_api_key, sandbox.cpanel_api_token, "xoxb-demo",
                   "xapp-demo"]
        summary += _mofh_flow(out, sim, sandbox, runtime, secrets)
        summary += _namecheap_flow(out, sim, sandbox, runtime)
        summary += _cpanel_flow(out, sim, sandbox, runtime, secrets)
        summary += _two_approvers_flow(out, sim, sandbox, runtime, secrets)
        summary += _deny_and_cancel_flow(out, sim, runtime)
        summary.append(_audit_holds_no_secret(runtime.workflow.admin.audit_trail(), secrets))
    return summary


def _audit_holds_no_secret(trail: Iterable[AuditRecord], secrets: list[str]) -> str:
    """Read every audit record as `resetbot audit export` writes it and look for each secret the demo used."""
    records = [json.dumps(dataclasses.asdict(record), default=str) for record in trail]
    check(records, "the audit trail is empty")
    for secret in secrets:
        check(len(secret) >= 8, "a secret to look for is too short to be told apart")
        holding = [r for r in records if secret in r]
        check(not holding, f"{len(holding)} audit record(s) hold a secret the demo used")
    # The secrets: the API password and key, the tokens, the old and the new password.
    return (f"{len(records)} audit events recorded, searched for the {len(secrets)} secrets the demo used: "
            "none holds one")


def _mofh_flow(out, sim: SlackSim, sandbox: Sandbox, runtime, secrets: list[str]) -> list[str]:
    out("— 1. MyOwnFreeHost: sam asks by vPanel username; dana approves; sam reveals once —")
    before = sandbox.mofh_account("webq7k2m").password
    secrets.append(before)
    acks: list = []
    sim.opened_by(ENGINEER, lambda: acks.append(sim.slash_command(ENGINEER, "/reset-password", "mofh abcd_40312277",
                                                                  channel=HELPDESK)), REQUEST_MODAL)
    check(acks[0].ok, "the slash command was not acked")
    sim.fill(ENGINEER, {"Reason": "Customer locked out after an FTP client saved an old password.",
                        "Ticket": "SUP-48213"})
    submitted = sim.submit(ENGINEER)
    check(submitted.ok and not submitted.errors, f"the modal refused the request: {submitted.errors}")
    card = sim.wait_for(lambda: next((m for m in sim.messages(APPROVALS) if "Approve" in m.buttons), None),
                        message="no approval card reached #pw-reset-approvals")
    check("webq7k2m" in card.visible_text, "the card does not name the account key")
    sim.wait_for(lambda: any("waiting for approval" in e.visible_text for e in sim.ephemerals(ENGINEER)),
                 message="sam was not told that his request waits for approval")  # he reads it, then clicks
    sim.wait_for(lambda: "account active" in sim.messages(APPROVALS)[-1].visible_text,
                 message="the card never showed what MyOwnFreeHost says of the account")
    _dm_recorded(sim, runtime, "webq7k2m")
    refused = sim.click(ENGINEER, "Approve", channel=APPROVALS)
    check(refused is not None and refused.ok, "the self-approval click was not acked")
    sim.wait_for(lambda: any("can't approve" in e.visible_text for e in sim.ephemerals(ENGINEER)),
                 message="sam was not told that a requester cannot approve")
    sim.click(APPROVER, "Approve", channel=APPROVALS)
    dm = sim.wait_for(lambda: next((m for m in sim.dm_messages(ENGINEER) if "Reveal password" in m.buttons), None),
                      timeout=15, message="no Reveal password DM reached sam")
    check("Reveal password" in dm.buttons, "the DM has no Reveal password button")
    sim.wait_for(lambda: "Approve" not in sim.messages(APPROVALS)[-1].buttons
                 and "done" in sim.messages(APPROVALS)[-1].text,
                 message="the approval card was not rewritten with the result")
    sim.click(APPROVER, "Reveal password", channel=sim.dm_id(ENGINEER))
    sim.wait_for(lambda: any("Only the engineer" in e.visible_text for e in sim.ephemerals(APPROVER)),
                 message="dana was not refused the reveal")
    sim.click(ENGINEER, "Reveal password", in_dm=True)
    modal = sim.wait_for(lambda: next((v for v in sim.views(ENGINEER) if v.title == "New password"), None),
                         message="the reveal modal did not open")
    after = sandbox.mofh_account("webq7k2m").password
    secrets.append(after)
    check(after != before and after in modal.visible_text, "the revealed password is not the one now set")
    sim.wait_for(lambda: "Reveal password" not in sim.dm_messages(ENGINEER)[-1].buttons,
                 message="the DM still offers the reveal")
    sim.click(ENGINEER, "I told the customer", in_dm=True)
    sim.wait_for(lambda: "You confirmed telling the customer" in sim.dm_messages(ENGINEER)[-1].visible_text,
                 message="the confirmation that the customer was told was not recorded")
    out("")
    return ["MyOwnFreeHost: vPanel username translated, self-approval refused, the password changed",
            "the new password was shown once, to the requester only, in a modal; the DM lost its button",
            "sam confirmed telling the customer (audited, ASVS V6.3.6)"]


def _namecheap_flow(out, sim: SlackSim, sandbox: Sandbox, runtime) -> list[str]:
    out("— 2. Namecheap: sam asks Namecheap to e-mail the owner a reset link; dana approves —")
    sim.opened_by(ENGINEER, lambda: sim.slash_command(ENGINEER, "/reset-password", "namecheap acmeshop",
                                                      channel=HELPDESK), REQUEST_MODAL)
    _fill(sim, ENGINEER, {"Method": "Email a reset link", "Reason": "Owner asked for a reset link by phone."})
    submitted = sim.submit(ENGINEER)
    check(submitted.ok and not submitted.errors, f"the modal refused the request: {submitted.errors}")
    sim.wait_for(lambda: any("Approve" in m.buttons for m in sim.messages(APPROVALS)),
                 message="no approval card for the Namecheap request")
    sim.wait_for(lambda: sum("waiting for approval" in e.visible_text for e in sim.ephemerals(ENGINEER)) >= 2,
                 message="sam was not told that his second request waits for approval")
    _dm_recorded(sim, runtime, "acmeshop")
    sim.click(APPROVER, "Approve", channel=APPROVALS)
    sim.wait_for(lambda: any("e-mailed" in e.visible_text for e in sim.ephemerals(ENGINEER)), timeout=15,
                 message="sam was not told that the reset link went out")
    check(any(m["username"] == "acmeshop" for m in sandbox.emails()), "the sandbox sent no reset e-mail")
    sim.wait_for(lambda: any("Done: Namecheap e-mailed" in m.visible_text for m in sim.dm_messages(ENGINEER)),
                 message="sam's DM does not say the reset link went out")
    out("")
    return ["Namecheap: users.resetPassword sent the owner a reset link; the bot never held a password"]


def _cpanel_flow(out, sim: SlackSim, sandbox: Sandbox, runtime, secrets: list[str]) -> list[str]:
    out("— 3. cPanel & WHM: sam asks by a domain; the card shows WHM's account; dana approves —")
    before = sandbox.cpanel_account("acmeshop").password
    secrets.append(before)
    card = _ask(sim, runtime, "cpanel shop.acmeshop.example",
                {"Reason": "Owner locked out of cPanel after a phishing scare.", "Ticket": "SUP-48221"},
                "shop.acmeshop.example")
    sim.wait_for(lambda: "cPanel (acmeshop): account active" in card.visible_text,
                 message="the card never showed the cPanel account the domain belongs to")
    sim.click(APPROVER, "Approve", channel=APPROVALS, message_ts=card.ts)
    sim.wait_for(lambda: sum("Reveal password" in m.buttons for m in sim.dm_messages(ENGINEER)) == 1
                 and "acmeshop" in next(m for m in sim.dm_messages(ENGINEER) if "Reveal password" in m.buttons)
                 .visible_text, timeout=15, message="no Reveal password DM for the cPanel request")
    sim.click(ENGINEER, "Reveal password", in_dm=True)
    modal = sim.wait_for(lambda: next((v for v in reversed(sim.views(ENGINEER)) if v.title == "New password"
                                       and "cPanel" in v.visible_text), None),
                         message="the reveal modal did not open")
    after = sandbox.cpanel_account("acmeshop").password
    secrets.append(after)
    check(after != before and after in modal.visible_text, "the revealed password is not the one WHM now has")
    sim.close_view(ENGINEER)
    out("")
    return ["cPanel & WHM: a domain resolved to its account for the card and the change",
            "the new cPanel password was shown once, to the requester only"]


def _card_for(sim: SlackSim, account: str):
    """The newest card in the approvals channel that names `account`."""
    return next((m for m in reversed(sim.messages(APPROVALS)) if account in m.visible_text), None)


def _waiting_dm(sim: SlackSim, account: str):
    """sam's DM for the waiting request of `account` (the one with Cancel request)."""
    return next((m for m in reversed(sim.dm_messages(ENGINEER))
                 if account in m.visible_text and "Cancel request" in m.buttons), None)


def _ask(sim: SlackSim, runtime, text: str, fields: dict[str, str], account: str):
    """sam asks by /reset-password and the modal; returns the card once it has its buttons and the bot has
    recorded sam's DM (a click on the DM before that is handled too, but shows a withdrawn duplicate)."""
    sim.opened_by(ENGINEER, lambda: sim.slash_command(ENGINEER, "/reset-password", text, channel=HELPDESK),
                  REQUEST_MODAL)
    _fill(sim, ENGINEER, fields)
    submitted = sim.submit(ENGINEER)
    check(submitted.ok and not submitted.errors, f"the modal refused the request: {submitted.errors}")
    card = sim.wait_for(lambda: (c := _card_for(sim, account)) is not None and "Approve" in c.buttons and c,
                        message=f"no approval card for {account}")
    _dm_recorded(sim, runtime, account)
    if text.startswith("mofh"):  # a person reads what MyOwnFreeHost says of the account before deciding
        sim.wait_for(lambda: "account active" in card.visible_text,
                     message="the card never showed what MyOwnFreeHost says of the account")
    return card


def _dm_recorded(sim: SlackSim, runtime, account: str) -> None:
    """Wait until sam's DM for the waiting request of `account` is there and the bot has recorded it: a click
    before that is handled too, but the transcript would show a duplicate DM posted and withdrawn."""
    dm = sim.wait_for(lambda: _waiting_dm(sim, account), message=f"sam's DM for {account} never offered Cancel request")
    request_id = re.search(r"\brr_[0-9a-f]+\b", dm.visible_text)
    check(request_id, "sam's DM does not name the request")
    sim.wait_for(lambda: runtime.workflow.lookups.get(request_id.group(0)).dm is not None,
                 message="the bot never recorded sam's DM")


def _two_approvers_flow(out, sim: SlackSim, sandbox: Sandbox, runtime, secrets: list[str]) -> list[str]:
    out("— 4. A strict policy: two approvers, one from a user group; sam reminds them —")
    runtime.workflow.policies.set("mofh", {"approvals": 2}, actor="demo")
    out("  (an operator ran: resetbot policy set mofh --approvals 2)")
    card = _ask(sim, runtime, "mofh webq7k2m", {"Reason": "Customer's developer left and took the FTP password.",
                                        "Ticket": "SUP-48230"}, "webq7k2m")
    check("Approvals: 0 of 2" in card.visible_text, "the card does not say 2 approvals are needed")
    sim.click(ENGINEER, "Remind approvers", in_dm=True)
    reminder = sim.wait_for(lambda: sim.replies(APPROVALS, card.ts), message="no reminder in the card's thread")
    check(f"<!subteam^{LEADS}>" in reminder[0].text, "the reminder does not mention the approver group")
    sim.wait_for(lambda: "You reminded the approvers" in _waiting_dm(sim, "webq7k2m").visible_text,
                 message="sam's DM does not say he reminded the approvers")
    sim.click(APPROVER, "Approve", channel=APPROVALS, message_ts=card.ts)
    sim.wait_for(lambda: "Approvals: 1 of 2" in card.visible_text, message="the card does not show the first approval")
    check(card.buttons == ["Approve", "Deny"], "the card stopped waiting after one of two approvals")
    sim.wait_for(lambda: "Approvals: 1 of 2" in _waiting_dm(sim, "webq7k2m").visible_text,
                 message="sam's DM does not show the first approval")
    sim.click(LEAD, "Approve", channel=APPROVALS, message_ts=card.ts)  # lee may: @pw-reset-leads approves
    sim.wait_for(lambda: "Approve" not in card.buttons and "changed the password" in card.visible_text, timeout=15,
                 message="the second approval did not change the password")
    dm = sim.wait_for(lambda: next((m for m in sim.dm_messages(ENGINEER)
                                    if "webq7k2m" in m.visible_text and "Reveal password" in m.buttons), None),
                      timeout=15, message="sam's DM for the second request never offered the reveal")
    check(sum("Reveal password" in m.buttons for m in sim.dm_messages(ENGINEER)) == 1 and dm.edits,
          "the Reveal button did not arrive on the request's own DM")
    secrets.append(sandbox.mofh_account("webq7k2m").password)
    runtime.workflow.policies.set("mofh", {"approvals": 1}, actor="demo")
    out("")
    return ["two approvals: dana, then lee as a member of @pw-reset-leads",
            "sam's reminder went to the card's thread, naming who can approve",
            "sam's one DM for the request was updated in place, up to its Reveal button"]


def _deny_and_cancel_flow(out, sim: SlackSim, runtime) -> list[str]:
    out("— 5. dana denies with a reason; sam cancels a request he no longer needs —")
    card = _ask(sim, runtime, "mofh slow01",
                {"Reason": "Caller says they own slow.example.net.", "Ticket": "SUP-48231"}, "slow01")
    sim.opened_by(APPROVER, lambda: sim.click(APPROVER, "Deny", channel=APPROVALS, message_ts=card.ts),
                  "Deny this reset?")
    sim.fill(APPROVER, {"Reason": "The caller is not on the account; ask the owner to call from its e-mail."})
    check(sim.submit(APPROVER).errors is None, "the Deny modal refused its reason")
    sim.wait_for(lambda: "Denied" in card.visible_text and not card.buttons, message="the card was not denied")
    sim.wait_for(lambda: any("was denied" in m.visible_text and "not on the account" in m.visible_text
                             for m in sim.dm_messages(ENGINEER)), message="sam's DM does not give the reason")
    _ask(sim, runtime, "namecheap acmeshop",
         {"Method": "Email a reset link", "Reason": "Owner asked for a second link."}, "acmeshop")
    cancelled = _card_for(sim, "acmeshop")
    sim.click(ENGINEER, "Cancel request", in_dm=True)
    sim.wait_for(lambda: "Cancelled" in cancelled.visible_text and not cancelled.buttons,
                 message="the card was not rewritten as cancelled")
    out("")
    return ["a denial with a reason reached sam's DM, the card and the audit trail",
            "sam cancelled a waiting request from his DM; the card says so"]


def main() -> int:
    return run_demo()


if __name__ == "__main__":
    sys.exit(main())
