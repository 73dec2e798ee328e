"""A provider's policy set with `resetbot policy set` applies to the running bot's next /reset-password, and the
running bot announces it in the approvals channel, once, however many replicas sweep.

The real app over Socket Mode with the simulated Slack; the policy is changed by the real CLI
process on the same database while the bot runs (docs/CONTRACT.md: "A running bot applies it to
requests made after the change"; "it is audited with the OS user and the running bot announces it
in the approvals channel").
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from bot.app import build_runtime
from bot.server import socket_mode_handler
from tests.e2e.conftest import APPROVALS, ENGINEER, HELPDESK, REASON, Bot, _grant, _world, make_settings
from tests.test_cli import resetbot


def policy_set(bot, *args: str) -> None:
    done = resetbot("policy", "set", *args, db=bot.database_url)
    assert done.returncode == 0, done.stderr


def request(bot, provider: str, account: str):
    sim = bot.sim
    acks: list = []
    # A new modal: the refused one before may still be open (its errors shown).
    sim.opened_by(ENGINEER, lambda: acks.append(sim.slash_command(ENGINEER, "/reset-password", f"{provider} {account}",
                                                                   channel=HELPDESK)))
    assert acks[0].ok and not acks[0].timed_out
    sim.fill(ENGINEER, {"Reason": REASON, "Ticket": "SUP-1"})  # Namecheap: its first method, Email a reset link
    return sim.submit(ENGINEER)


def requests_of(bot):
    return bot.workflow.lookups.home_for(ENGINEER).requests


def test_a_cap_of_2_set_with_the_cli_refuses_the_third_request_for_that_provider_with_a_sentence(bot_over_socket):
    bot = bot_over_socket
    policy_set(bot, "mofh", "--requests-per-hour", "2")
    for account in ("webq7k2m", "acct0002"):
        ack = request(bot, "mofh", account)
        assert ack.ok and ack.errors is None, ack.errors
    third = request(bot, "mofh", "acct0003")
    assert third.errors is not None
    (sentence,) = third.errors.values()
    assert sentence.startswith("You have made 2 reset requests in the last hour for MyOwnFreeHost, the most its "
                               "policy allows. Try again in ")
    assert bot.sim.current_view(ENGINEER) is not None  # the modal stays open with the sentence
    assert len(requests_of(bot)) == 2
    # The cap is per provider: the same engineer may still ask for a Namecheap reset.
    namecheap = request(bot, "namecheap", "acmeshop")
    assert namecheap.ok and namecheap.errors is None, namecheap.errors


def test_a_cap_of_0_set_with_the_cli_lets_25_requests_through(bot_over_socket):
    bot = bot_over_socket
    policy_set(bot, "mofh", "--requests-per-hour", "0")
    for n in range(25):
        ack = request(bot, "mofh", f"acct{n:04d}")
        assert ack.ok and ack.errors is None, (n, ack.errors)
    bot.sim.wait_for(lambda: len(requests_of(bot)) >= 10, message="requests not stored")
    assert sum(1 for e in bot.workflow.admin.audit_trail() if e.action == "requested") == 25


def test_an_expiry_of_90s_set_with_the_cli_gives_the_next_request_a_90_s_expiry(bot_over_socket):
    bot = bot_over_socket
    policy_set(bot, "mofh", "--expire-after", "90s")
    assert request(bot, "mofh", "webq7k2m").errors is None
    (made,) = requests_of(bot)
    assert made.expires_at - made.created_at == timedelta(seconds=90)
    policy_set(bot, "mofh", "--expire-after", "2h")  # a later change leaves the request as it was made
    assert bot.workflow.lookups.get(made.id).expires_at - made.created_at == timedelta(seconds=90)
    assert request(bot, "mofh", "acct0002").errors is None
    later = next(r for r in requests_of(bot) if r.id != made.id)
    assert later.expires_at - later.created_at == timedelta(hours=2)


# --- the running bot announces a change made with the CLI -----------------------------------------------


@pytest.fixture
def two_replicas(database_url):
    """Two runtimes on one database, each sweeping as `resetbot run` does (the first connected over Socket Mode)."""
    sim, sandbox = _world()
    first = build_runtime(make_settings(sim, sandbox, database_url), replica_id="replica-a")
    second = build_runtime(make_settings(sim, sandbox, database_url), replica_id="replica-b")
    _grant(first)
    handler = socket_mode_handler(first.app, "xapp-test", first.pending_acks)
    handler.connect()
    sim.wait_for_connections(1, timeout=10)
    try:
        yield Bot(sim, sandbox, first, database_url), second
    finally:
        handler.close()
        sandbox.stop()
        first.shutdown(timeout=10)
        second.shutdown(timeout=10)
        sim.stop()


def sweep_at_once(*runtimes) -> None:
    start = threading.Barrier(len(runtimes))

    def sweep(runtime) -> None:
        start.wait()
        runtime.workflow.sweeper.sweep()

    threads = [threading.Thread(target=sweep, args=(runtime,)) for runtime in runtimes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)


def announcements(sim):
    return [m for m in sim.messages(APPROVALS, include_deleted=True) if "command line" in m.visible_text]


def test_a_policy_set_with_the_cli_applies_at_once_and_two_running_replicas_announce_it_once(two_replicas):
    bot, second = two_replicas
    sim = bot.sim
    for runtime in (bot.runtime, second):
        runtime.start_sweeper(interval=0.05)
    done = resetbot("policy", "set", "mofh", "--approvals", "2", "--escalate-after", "10m", "--escalate-to",
                    "U0NOROLE01", db=bot.database_url, env={"LOGNAME": "opsperson"})
    assert done.returncode == 0, done.stderr
    assert "loosens the policy (a new escalation (to U0NOROLE01 after 10m))" in done.stdout
    assert bot.workflow.policies.effective("mofh").approvals == 2  # at once: no second admin for the CLI
    (changed,) = [e for e in bot.workflow.admin.audit_trail() if e.action == "policy_changed"]
    assert changed.actor_id == "cli:opsperson"

    (message,) = sim.wait_for(lambda: announcements(sim), message="the running bot did not announce the change")
    plain = " ".join(message.visible_text.replace("*", "").replace("`", "").split())  # words, not formatting
    for words in ("Policy changed from the command line for MyOwnFreeHost", "Changed by cli:opsperson",
                  "Approvals: 1 → 2", "Escalate after: off → 10m", "Escalate to: none → U0NOROLE01",
                  "It loosens the policy, with no second admin"):
        assert words in plain, (words, message.visible_text)
    # More sweeps on both replicas, released together: still one message, announced once.
    for _ in range(3):
        sweep_at_once(bot.runtime, second)
    assert len(announcements(sim)) == 1
    assert len([e for e in bot.workflow.admin.audit_trail() if e.action == "policy_change_announced"]) == 1
