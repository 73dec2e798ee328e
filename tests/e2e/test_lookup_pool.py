"""Read-only lookups have their own small pool (issue 9 item 16): however many approver-context lookups wait on a
slow provider, an approved change is sent at once. The real app (bot/app.py builds the executors), the sandbox
MyOwnFreeHost and the simulated Slack."""

from __future__ import annotations

import logging
import time

from bot.domain import Role
from bot.forms import RequestForm
from devkit.sandbox.mofh import MofhAccount
from tests.e2e.conftest import APPROVALS, APPROVER, REASON

SLOW_LOOKUPS = 40
SLOW = 4.0  # seconds the sandbox holds each lookup of a slow account


def test_forty_slow_lookups_do_not_delay_an_approved_change(bot_over_socket):
    bot, sim, workflow = bot_over_socket, bot_over_socket.sim, bot_over_socket.workflow
    engineers = [f"U0BUSY{i}" for i in range(3)]  # the hourly cap is per engineer
    for user in engineers:
        sim.add_user(user, user.lower())
        workflow.admin.grant(user, Role.REQUESTER, None, actor="test")
    slow = [MofhAccount(key=f"slw{i:03d}", password="Slow1234Pass", vpanel_username=f"slow_{40000000 + i}",
                        domains=[f"s{i}.example.net"], delay=SLOW) for i in range(SLOW_LOOKUPS)]
    for account in slow:
        bot.sandbox.add_mofh_account(account)
    workflow.admin.import_directory([(a.key, a.vpanel_username, a.domains[0]) for a in slow], actor="test")

    # 40 requests announced as the modal's submit announces them: each card starts an account lookup.
    for i, account in enumerate(slow):
        request, created = workflow.intake.submit(
            RequestForm(provider="mofh", account=account.key, reason=REASON), requester_id=engineers[i % 3],
            source_view_id=None)
        assert created
        workflow.intake.announce(request)
    assert bot.sandbox.wait_for_pending(4, timeout=10), "the slow lookups did not start"

    # An unrelated request, approved while the lookups wait on the provider.
    assert bot.request_mofh(account="webq7k2m").ok
    card = sim.wait_for(lambda: next((m for m in reversed(sim.messages(APPROVALS))
                                      if "webq7k2m" in m.visible_text and "Approve" in m.buttons), None),
                        timeout=10, message="no card for webq7k2m")
    clicked = time.time()
    sim.click(APPROVER, "Approve", channel=APPROVALS, message_ts=card.ts)
    calls = sim.wait_for(lambda: [c for c in bot.sandbox.calls() if c.command == "passwd" and c.account == "webq7k2m"],
                         timeout=3 * SLOW, message="the approved change was never sent")
    delay = calls[0].at - clicked
    print(f"approved change sent {delay:.2f} s after the click, with {SLOW_LOOKUPS} slow lookups pending")
    assert delay < 1.5, f"the approved change waited {delay:.1f} s behind the lookups"
    assert sum(1 for c in bot.sandbox.calls() if c.command == "passwd") == 1  # lookups never change anything


def test_shutdown_lets_a_lookup_under_way_rewrite_its_card_first(bot_over_socket, caplog):
    """A lookup's last step writes (the card's account context): shutdown waits for the one under way, up to the
    lookup deadline, before the engine goes; it used to return at once and leave it writing afterwards (an ERROR
    in the log once the database was gone)."""
    bot, sim = bot_over_socket, bot_over_socket.sim
    bot.sandbox.set_delay("mofh", "webq7k2m", 1.0)  # holds the account lookup
    assert bot.request_mofh().ok
    bot.card()
    assert bot.sandbox.wait_for_pending(1, timeout=10), "no account lookup under way"
    with caplog.at_level(logging.ERROR):
        bot.runtime.shutdown(timeout=10)
    assert "account active" in sim.messages(APPROVALS)[-1].visible_text  # written before shutdown returned
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_a_drained_executor_counts_what_shutdown_cancelled():
    import threading

    from bot.app import DrainableExecutor

    executor = DrainableExecutor(max_workers=1)
    release = threading.Event()
    executor.submit(release.wait, 10)
    for _ in range(2):  # queued behind it
        executor.submit(time.sleep, 0)
    executor.shutdown(wait=False, cancel_futures=True)
    release.set()
    assert executor.wait_idle(5)  # the two cancelled ones never run, yet are not counted as running
