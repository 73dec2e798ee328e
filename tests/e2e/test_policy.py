"""A provider's policy set with `resetbot policy set` applies to the running bot's next /reset-password.

The real app over Socket Mode with the simulated Slack; the policy is changed by the real CLI
process on the same database while the bot runs (docs/CONTRACT.md: "A running bot applies it to
requests made after the change").
"""

from __future__ import annotations

from datetime import timedelta

from tests.e2e.conftest import ENGINEER, HELPDESK, REASON
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
