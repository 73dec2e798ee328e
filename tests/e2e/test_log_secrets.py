"""No log record ever carries a secret, with EVERY logger at DEBUG, over HTTP and over Socket Mode.

An operator may turn every logger up to DEBUG (root, slack_bolt, slack_sdk, waitress, urllib3,
SQLAlchemy...), past what bot/logs.py's configure() holds them at. The whole flow then runs through
the real app (the MyOwnFreeHost and Plesk reveals, the Namecheap reset code and current password methods, and
over HTTP forged, stale and malformed requests that carry a reset code), and a handler records the
fully formatted text of every record (message, args, traceback): no reveal password, reset code,
current password, token, signing secret or provider credential may appear in it.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.parse

import pytest

from bot import logs
from devkit.sandbox.namecheap import NamecheapUser
from tests.e2e.conftest import APPROVALS, APPROVER, ENGINEER, SEAL_KEY

CURRENT_PASSWORD = "Curr~Secret2024q"


class Everything(logging.Handler):
    """Keeps every record's fully formatted text (message with its args, and any traceback)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.texts.append(self.format(record))


@pytest.fixture
def every_logger_at_debug():
    """logs.configure() as `resetbot run` does, then every logger (present and future) at DEBUG."""
    manager = logging.Logger.manager
    before = {name: lg.level for name, lg in manager.loggerDict.items() if isinstance(lg, logging.Logger)}
    root_level = logging.root.level
    logs.configure(logging.DEBUG)
    for name in list(manager.loggerDict):
        logger = manager.loggerDict[name]
        if isinstance(logger, logging.Logger):
            logger.setLevel(logging.DEBUG)
    capture = Everything()
    logging.root.addHandler(capture)
    try:
        yield capture
    finally:
        logging.root.removeHandler(capture)
        for name, level in before.items():
            logging.getLogger(name).setLevel(level)
        for name, logger in manager.loggerDict.items():
            if isinstance(logger, logging.Logger) and name not in before:
                logger.setLevel(logging.NOTSET)
        logging.root.setLevel(root_level)


def _reveal(sim) -> str:
    sim.wait_for(lambda: any("Reveal password" in m.buttons for m in sim.dm_messages(ENGINEER)), timeout=10,
                 message="no reveal DM")
    sim.click(ENGINEER, "Reveal password", in_dm=True)
    modal = sim.wait_for(lambda: next((v for v in reversed(sim.views(ENGINEER)) if v.title == "New password"), None),
                         message="no reveal modal")
    sim.wait_for(lambda: "Reveal password" not in sim.dm_messages(ENGINEER)[-1].buttons, message="DM not rewritten")
    sim.close_view(ENGINEER)
    return modal.visible_text


def _namecheap(bot, account: str, method: str, secret: str) -> None:
    assert bot.request_namecheap(method, secret, account=account).errors is None
    bot.card()
    bot.sim.click(APPROVER, "Approve", channel=APPROVALS)


def _whole_flow(bot) -> list[str]:
    """Four reveals (MyOwnFreeHost, Namecheap by reset code, by current password, Plesk); the secrets they used."""
    sim, sandbox = bot.sim, bot.sandbox
    assert bot.request_mofh().ok
    bot.card()
    sim.click(APPROVER, "Approve", channel=APPROVALS)
    shown = _reveal(sim)
    mofh_password = sandbox.mofh_account("webq7k2m").password
    assert mofh_password in shown

    code = sandbox.issue_reset_code("acmeshop")
    _namecheap(bot, "acmeshop", "Reset code", code)
    shown = _reveal(sim)
    by_code = sandbox.namecheap_user("acmeshop").password
    assert by_code in shown

    sandbox.add_namecheap_user(NamecheapUser(username="curpass01", password=CURRENT_PASSWORD,
                                             email="cur@example.org", domains=["cur.example.com"]))
    _namecheap(bot, "curpass01", "Current password", CURRENT_PASSWORD)
    shown = _reveal(sim)
    by_current = sandbox.namecheap_user("curpass01").password
    assert by_current in shown and by_current != CURRENT_PASSWORD

    assert bot.request_plesk().ok
    bot.card()
    sim.click(APPROVER, "Approve", channel=APPROVALS)
    shown = _reveal(sim)
    plesk_password = sandbox.plesk_customer("jdoe42").password
    assert plesk_password in shown
    bot.workflow.background.wait_idle(5)
    return [mofh_password, code, by_code, CURRENT_PASSWORD, by_current, plesk_password]


def _forged_requests_carrying(sim, code: str) -> None:
    """What an attacker (or a misconfigured proxy) sends: a view submission with a reset code in it."""
    payload = {"type": "view_submission", "team": {"id": "T0SUPPORT1"}, "user": {"id": ENGINEER},
               "view": {"callback_id": "reset_password_modal",
                        "state": {"values": {"secret_block": {"secret_input": {"type": "plain_text_input",
                                                                               "value": code}}}}},
               "reset_code": code}
    body = urllib.parse.urlencode({"payload": json.dumps(payload)})
    now = int(time.time())
    assert sim.deliver_raw("interactive", body, transport="http", signature="v0=" + "0" * 64).status == 401
    assert sim.deliver_raw("interactive", body, transport="http", timestamp=str(now - 301)).status == 401
    assert sim.deliver_raw("interactive", body, transport="http", timestamp="soon").status == 401
    assert sim.deliver_raw("interactive", body, transport="http", signature="").status == 401


def _leaks(texts: list[str], secrets: list[str]) -> list[str]:
    return [text for text in texts if any(s in text for s in secrets)]


def _credentials(bot) -> list[str]:
    settings = bot.runtime.settings
    values = [settings.slack_bot_token, settings.slack_app_token, settings.slack_signing_secret, SEAL_KEY]
    values += [getattr(cfg, name) for cfg in settings.providers.values()
               for name in ("api_password", "api_key", "password", "secret_key") if hasattr(cfg, name)]
    revealed = [v.reveal() for v in values if v is not None]
    assert len(revealed) == 7  # bot token, app token, signing secret, seal key, the three providers' credentials
    return revealed


def test_no_record_carries_a_secret_over_http_with_every_logger_at_debug(bot_over_http, every_logger_at_debug):
    bot = bot_over_http
    forged_code = bot.sandbox.issue_reset_code("acmeshop")
    _forged_requests_carrying(bot.sim, forged_code)
    secrets = _whole_flow(bot) + [forged_code] + _credentials(bot)
    texts = every_logger_at_debug.texts
    assert len(texts) > 100  # every logger really was at DEBUG
    assert _leaks(texts, secrets) == []


def test_no_record_carries_a_secret_over_socket_mode_with_every_logger_at_debug(bot_over_socket,
                                                                                  every_logger_at_debug):
    bot = bot_over_socket
    secrets = _whole_flow(bot) + _credentials(bot)
    texts = every_logger_at_debug.texts
    assert len(texts) > 100
    assert _leaks(texts, secrets) == []
